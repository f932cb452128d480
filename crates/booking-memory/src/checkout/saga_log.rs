//! The saga log in a map: orders by id, compare-and-set on their version.

use async_trait::async_trait;
use booking_core::checkout::{Order, SagaLog, StoreError, WorkerId};
use booking_core::{Clock, OrderId, OwnerId, SystemClock};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

#[derive(Debug, Default)]
struct State {
    orders: BTreeMap<OrderId, Order>,
    /// Claims: order -> (worker, until ms).
    claims: BTreeMap<OrderId, (WorkerId, i64)>,
}

/// Orders and their sagas in process.
#[derive(Debug)]
pub struct MemorySagaLog {
    state: Mutex<State>,
    clock: Arc<dyn Clock>,
}

impl Default for MemorySagaLog {
    fn default() -> Self {
        Self::new()
    }
}

impl MemorySagaLog {
    /// An empty log; claims expire by the system clock.
    pub fn new() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }

    /// An empty log whose claims and retry times are decided by `clock`.
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        MemorySagaLog { state: Mutex::new(State::default()), clock }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl SagaLog for MemorySagaLog {
    async fn create(&self, order: &Order) -> Result<Order, StoreError> {
        let mut s = self.state();
        Ok(s.orders.entry(order.id).or_insert_with(|| Order { version: 1, ..order.clone() }).clone())
    }

    async fn get(&self, id: OrderId) -> Result<Option<Order>, StoreError> {
        Ok(self.state().orders.get(&id).cloned())
    }

    async fn update(&self, order: &Order) -> Result<(), StoreError> {
        let mut s = self.state();
        let stored = s.orders.get_mut(&order.id).ok_or(StoreError::NotFound)?;
        if stored.version.checked_add(1) != Some(order.version) {
            return Err(StoreError::Conflict);
        }
        *stored = order.clone();
        Ok(())
    }

    async fn by_buyer(&self, buyer: OwnerId) -> Result<Vec<Order>, StoreError> {
        let s = self.state();
        let mut v: Vec<Order> = s.orders.values().filter(|o| o.buyer == buyer).cloned().collect();
        v.sort_by_key(|o| (o.created_at, o.id));
        Ok(v)
    }

    async fn claim_unfinished(
        &self,
        worker: WorkerId,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Order>, StoreError> {
        let now = self.clock.now_millis();
        let mut s = self.state();
        let State { orders, claims } = &mut *s;
        let mut out = Vec::new();
        for o in orders.values() {
            if out.len() == limit {
                break;
            }
            let due = o.retry_at.is_none_or(|t| t.timestamp_millis() <= now);
            let free = claims.get(&o.id).is_none_or(|(_, until)| *until <= now);
            if !o.status.is_final() && due && free {
                claims.insert(o.id, (worker, now.saturating_add(booking_core::clock::saturating_millis(lease))));
                out.push(o.clone());
            }
        }
        Ok(out)
    }

    async fn list(&self, after: Option<OrderId>, limit: usize) -> Result<Vec<Order>, StoreError> {
        let s = self.state();
        let range = match after {
            Some(a) => s.orders.range((std::ops::Bound::Excluded(a), std::ops::Bound::Unbounded)),
            None => s.orders.range(..),
        };
        Ok(range.take(limit).map(|(_, o)| o.clone()).collect())
    }
}
