//! An in-process [`SeatLock`]: the lock layer of
//! [`LockedInventory`](booking_core::layered::LockedInventory) for a single
//! server, or for testing the composition without a lock store.

use crate::sync::{Mutex, lock};
use async_trait::async_trait;
use booking_core::layered::{LockOutcome, LockToken, SeatLock};
use booking_core::{Result, SeatId, ShowId};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Seat locks in a map, expiring after their TTL.
#[derive(Debug, Default)]
pub struct MemorySeatLock {
    locks: Mutex<HashMap<(ShowId, SeatId), (u128, Instant)>>,
}

impl MemorySeatLock {
    /// No locks taken.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl SeatLock for MemorySeatLock {
    async fn try_lock(&self, show: ShowId, seats: &[SeatId], ttl: Duration) -> Result<LockOutcome> {
        let now = Instant::now();
        let mut map = lock(&self.locks);
        let busy: Vec<SeatId> =
            seats.iter().copied().filter(|s| map.get(&(show, *s)).is_some_and(|(_, until)| *until > now)).collect();
        if !busy.is_empty() {
            return Ok(LockOutcome::Busy(busy));
        }
        let token = crate::ids::hold_id(0).as_u128();
        // An absurd TTL locks for a century rather than overflowing.
        let until = now.checked_add(ttl).unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 86_400));
        for s in seats {
            map.insert((show, *s), (token, until));
        }
        Ok(LockOutcome::Locked(LockToken(token)))
    }

    async fn unlock(&self, show: ShowId, seats: &[SeatId], token: &LockToken) -> Result<()> {
        let mut map = lock(&self.locks);
        for s in seats {
            if map.get(&(show, *s)).is_some_and(|(t, _)| *t == token.0) {
                map.remove(&(show, *s));
            }
        }
        Ok(())
    }
}
