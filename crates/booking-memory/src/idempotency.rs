//! Idempotency keys in process.

use async_trait::async_trait;
use booking_core::clock::{millis_to_datetime, saturating_millis};
use booking_core::idempotency::{
    Begin, IdempotencyError, IdempotencyKey, IdempotencyStore, KeyRecord, LeaseId, Started, StoredResponse,
};
use booking_core::{Clock, OwnerId, SystemClock};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

#[derive(Debug, Clone)]
struct Entry {
    record: KeyRecord,
    lease: Option<LeaseId>,
}

/// Idempotency keys in a map, leases and retention by the store's clock.
#[derive(Debug)]
pub struct MemoryIdempotencyStore {
    keys: Mutex<HashMap<(OwnerId, IdempotencyKey), Entry>>,
    clock: Arc<dyn Clock>,
}

impl Default for MemoryIdempotencyStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryIdempotencyStore {
    /// An empty store on the system clock.
    pub fn new() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }

    /// An empty store whose leases and retention are decided by `clock`.
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        MemoryIdempotencyStore { keys: Mutex::new(HashMap::new()), clock }
    }

    fn keys(&self) -> MutexGuard<'_, HashMap<(OwnerId, IdempotencyKey), Entry>> {
        self.keys.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn lease_until(now: i64, lease: Duration) -> chrono::DateTime<chrono::Utc> {
    millis_to_datetime(now.saturating_add(saturating_millis(lease)))
}

#[async_trait]
impl IdempotencyStore for MemoryIdempotencyStore {
    async fn begin(&self, req: &Begin) -> Result<Started, IdempotencyError> {
        req.key.validate()?;
        let now = self.clock.now_millis();
        let lease = LeaseId(uuid::Uuid::now_v7().as_u128());
        let mut keys = self.keys();
        let entry = keys.entry((req.principal, req.key.clone())).or_insert_with(|| Entry {
            record: KeyRecord {
                fingerprint: req.fingerprint,
                response: None,
                created_at: millis_to_datetime(now),
                leased_until: None,
            },
            lease: None,
        });
        if entry.record.fingerprint != req.fingerprint {
            return Err(IdempotencyError::Mismatch);
        }
        if let Some(response) = &entry.record.response {
            return Ok(Started::Replay(response.clone()));
        }
        if let Some(until) = entry.record.leased_until
            && until.timestamp_millis() > now
        {
            let left = (until.timestamp_millis() - now).max(1) as u64;
            return Err(IdempotencyError::InProgress { retry_after: Duration::from_millis(left.min(1_000)) });
        }
        let resumed = entry.lease.is_some();
        entry.lease = Some(lease);
        entry.record.leased_until = Some(lease_until(now, req.lease));
        Ok(Started::Run { resumed, lease })
    }

    async fn finish(
        &self,
        principal: OwnerId,
        key: &IdempotencyKey,
        lease: LeaseId,
        response: &StoredResponse,
    ) -> Result<(), IdempotencyError> {
        let mut keys = self.keys();
        match keys.get_mut(&(principal, key.clone())) {
            Some(e) if e.lease == Some(lease) && e.record.response.is_none() => {
                e.record.response = Some(response.clone());
                e.record.leased_until = None;
                Ok(())
            }
            _ => Err(IdempotencyError::NotHeld),
        }
    }

    async fn release(&self, principal: OwnerId, key: &IdempotencyKey, lease: LeaseId) -> Result<(), IdempotencyError> {
        let mut keys = self.keys();
        match keys.get_mut(&(principal, key.clone())) {
            Some(e) if e.lease == Some(lease) && e.record.response.is_none() => {
                e.record.leased_until = None;
                Ok(())
            }
            _ => Err(IdempotencyError::NotHeld),
        }
    }

    async fn get(&self, principal: OwnerId, key: &IdempotencyKey) -> Result<Option<KeyRecord>, IdempotencyError> {
        Ok(self.keys().get(&(principal, key.clone())).map(|e| e.record.clone()))
    }

    async fn reap(&self, retention: Duration) -> Result<u64, IdempotencyError> {
        let cutoff = self.clock.now_millis().saturating_sub(saturating_millis(retention));
        let mut keys = self.keys();
        let before = keys.len();
        keys.retain(|_, e| e.record.created_at.timestamp_millis() > cutoff);
        Ok((before - keys.len()) as u64)
    }
}
