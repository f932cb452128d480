//! The outbox in a map: messages by id, claimed under leases.

use async_trait::async_trait;
use booking_core::checkout::{Outbox, OutboxMessage, StoreError, WorkerId};
use booking_core::{Clock, SystemClock};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

#[derive(Debug)]
struct Entry {
    msg: OutboxMessage,
    seq: u64,
    delivered: bool,
    claim: Option<(WorkerId, i64)>,
}

#[derive(Debug, Default)]
struct State {
    entries: BTreeMap<String, Entry>,
    next: u64,
}

/// Messages waiting for delivery, in process.
#[derive(Debug)]
pub struct MemoryOutbox {
    state: Mutex<State>,
    clock: Arc<dyn Clock>,
}

impl Default for MemoryOutbox {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryOutbox {
    /// An empty outbox; claims expire by the system clock.
    pub fn new() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }

    /// An empty outbox whose claims expire by `clock`.
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        MemoryOutbox { state: Mutex::new(State::default()), clock }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl Outbox for MemoryOutbox {
    async fn enqueue(&self, msg: &OutboxMessage) -> Result<(), StoreError> {
        let mut s = self.state();
        let seq = s.next;
        if !s.entries.contains_key(&msg.id) {
            s.next += 1;
            let entry = Entry { msg: OutboxMessage { attempts: 0, ..msg.clone() }, seq, delivered: false, claim: None };
            s.entries.insert(msg.id.clone(), entry);
        }
        Ok(())
    }

    async fn claim(&self, worker: WorkerId, lease: Duration, limit: usize) -> Result<Vec<OutboxMessage>, StoreError> {
        let now = self.clock.now_millis();
        let mut s = self.state();
        let mut due: Vec<&mut Entry> =
            s.entries.values_mut().filter(|e| !e.delivered && e.claim.is_none_or(|(_, until)| until <= now)).collect();
        due.sort_by_key(|e| e.seq);
        Ok(due
            .into_iter()
            .take(limit)
            .map(|e| {
                e.claim = Some((worker, now.saturating_add(booking_core::clock::saturating_millis(lease))));
                e.msg.attempts += 1;
                e.msg.clone()
            })
            .collect())
    }

    async fn ack(&self, id: &str) -> Result<(), StoreError> {
        let mut s = self.state();
        let e = s.entries.get_mut(id).ok_or(StoreError::NotFound)?;
        e.delivered = true;
        e.claim = None;
        Ok(())
    }

    async fn pending(&self) -> Result<usize, StoreError> {
        Ok(self.state().entries.values().filter(|e| !e.delivered).count())
    }
}
