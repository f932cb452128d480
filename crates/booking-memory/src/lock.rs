//! An in-process [`SeatLock`]: the lock layer of
//! [`LockedInventory`](booking_core::layered::LockedInventory) for a single
//! server, or for testing the composition without a lock store.

use crate::sync::{Mutex, lock};
use async_trait::async_trait;
use booking_core::layered::{LockOutcome, LockToken, SeatLock};
use booking_core::{Clock, Result, SeatId, ShowId, SystemClock};
use std::collections::HashMap;
use std::time::Duration;

/// Seat locks in a map, expiring after their TTL by the lock's clock.
#[derive(Debug)]
pub struct MemorySeatLock {
    /// (show, seat) -> (token, expiry in Unix ms).
    locks: Mutex<HashMap<(ShowId, SeatId), (u128, i64)>>,
    // Always `std`'s Arc: the clock is outside the model-checked core.
    clock: std::sync::Arc<dyn Clock>,
}

impl Default for MemorySeatLock {
    fn default() -> Self {
        Self::new()
    }
}

impl MemorySeatLock {
    /// No locks taken; expiry by the system clock.
    pub fn new() -> Self {
        Self::with_clock(std::sync::Arc::new(SystemClock))
    }

    /// No locks taken; expiry decided by `clock` (tests pass a
    /// [`ManualClock`](booking_core::ManualClock) and move it).
    pub fn with_clock(clock: std::sync::Arc<dyn Clock>) -> Self {
        MemorySeatLock { locks: Mutex::new(HashMap::new()), clock }
    }
}

#[async_trait]
impl SeatLock for MemorySeatLock {
    async fn try_lock(&self, show: ShowId, seats: &[SeatId], ttl: Duration) -> Result<LockOutcome> {
        let now = self.clock.now_millis();
        let mut map = lock(&self.locks);
        let busy: Vec<SeatId> =
            seats.iter().copied().filter(|s| map.get(&(show, *s)).is_some_and(|(_, until)| *until > now)).collect();
        if !busy.is_empty() {
            return Ok(LockOutcome::Busy(busy));
        }
        let token = crate::ids::hold_id(0).as_u128();
        // An absurd TTL saturates rather than overflowing.
        let until = now.saturating_add(booking_core::clock::saturating_millis(ttl));
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
