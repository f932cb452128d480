//! GCRA state in a sharded map.

use async_trait::async_trait;
use booking_core::limits::{Acquire, LimitError, LimitKey, RateDecision, RateLimitStore, micros_from_millis};
use booking_core::{Clock, SystemClock};
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex, MutexGuard};

/// Shards of the key map: requests on different keys rarely wait on each
/// other.
const SHARDS: usize = 16;

/// Rate-limit state in process: one TAT per key, in a sharded map, decided
/// by the store's clock. Cheap to share (`Arc<dyn RateLimitStore>`).
/// Nothing is persisted, and nothing is shared with other processes: use
/// the Redis or PostgreSQL store for a limit across servers.
#[derive(Debug)]
pub struct MemoryRateLimitStore {
    clock: Arc<dyn Clock>,
    hasher: RandomState,
    shards: Box<[Mutex<HashMap<LimitKey, i64>>]>,
}

impl Default for MemoryRateLimitStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryRateLimitStore {
    /// An empty store on the system clock.
    pub fn new() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }

    /// An empty store deciding by `clock` (a
    /// [`ManualClock`](booking_core::ManualClock) in tests).
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        MemoryRateLimitStore {
            clock,
            hasher: RandomState::new(),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    fn shard(&self, key: &LimitKey) -> MutexGuard<'_, HashMap<LimitKey, i64>> {
        let i = (self.hasher.hash_one(key) % SHARDS as u64) as usize;
        self.shards[i].lock().unwrap_or_else(|e| e.into_inner())
    }

    fn now(&self) -> Result<i64, LimitError> {
        micros_from_millis(self.clock.now_millis())
    }
}

#[async_trait]
impl RateLimitStore for MemoryRateLimitStore {
    async fn acquire(&self, req: &Acquire) -> Result<RateDecision, LimitError> {
        let now = self.now()?;
        let mut shard = self.shard(&req.key);
        // `decide` validates the request before anything is kept; a known
        // key is updated in place, so only a new key is copied.
        match shard.get_mut(&req.key) {
            Some(tat) => {
                let (decision, step) = RateDecision::decide(req, Some(*tat), now)?;
                if step.allowed {
                    *tat = step.tat;
                }
                Ok(decision)
            }
            None => {
                let (decision, step) = RateDecision::decide(req, None, now)?;
                if step.allowed {
                    shard.insert(req.key.clone(), step.tat);
                }
                Ok(decision)
            }
        }
    }

    async fn reset(&self, key: &LimitKey) -> Result<(), LimitError> {
        key.validate()?;
        self.shard(key).remove(key);
        Ok(())
    }

    async fn purge(&self) -> Result<u64, LimitError> {
        let now = self.now()?;
        let mut purged = 0u64;
        for shard in self.shards.iter() {
            let mut map = shard.lock().unwrap_or_else(|e| e.into_inner());
            let before = map.len();
            map.retain(|_, tat| *tat > now);
            purged += (before - map.len()) as u64;
        }
        Ok(purged)
    }
}
