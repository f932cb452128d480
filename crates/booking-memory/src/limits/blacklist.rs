//! Blacklist entries in an ordered map by field.

use async_trait::async_trait;
use booking_core::clock::millis_to_datetime;
use booking_core::limits::{
    BlacklistEntry, BlacklistRecord, BlacklistStore, LimitError, RequestIdentity, check_reason,
};
use booking_core::{Clock, SystemClock};
use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Arc, RwLock};

/// Blacklist entries in process, keyed by their field
/// ([`BlacklistEntry::field`]); a check looks up the identity's candidate
/// fields. Nothing is persisted.
#[derive(Debug)]
pub struct MemoryBlacklist {
    clock: Arc<dyn Clock>,
    entries: RwLock<BTreeMap<String, BlacklistRecord>>,
}

impl Default for MemoryBlacklist {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryBlacklist {
    /// An empty blacklist on the system clock.
    pub fn new() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }

    /// An empty blacklist stamping entries by `clock`.
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        MemoryBlacklist { clock, entries: RwLock::new(BTreeMap::new()) }
    }
}

#[async_trait]
impl BlacklistStore for MemoryBlacklist {
    async fn add(&self, entry: &BlacklistEntry, reason: &str) -> Result<BlacklistRecord, LimitError> {
        check_reason(reason)?;
        let record = BlacklistRecord {
            entry: entry.clone(),
            reason: reason.to_owned(),
            added_at: millis_to_datetime(self.clock.now_millis()),
        };
        self.entries.write().unwrap_or_else(|e| e.into_inner()).insert(entry.field(), record.clone());
        Ok(record)
    }

    async fn remove(&self, entry: &BlacklistEntry) -> Result<bool, LimitError> {
        Ok(self.entries.write().unwrap_or_else(|e| e.into_inner()).remove(&entry.field()).is_some())
    }

    async fn check(&self, who: &RequestIdentity) -> Result<Option<BlacklistRecord>, LimitError> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        Ok(BlacklistEntry::candidates(who).iter().find_map(|f| entries.get(f).cloned()))
    }

    async fn list(&self, after: Option<&BlacklistEntry>, limit: usize) -> Result<Vec<BlacklistRecord>, LimitError> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        let start = after.map_or(Bound::Unbounded, |a| Bound::Excluded(a.field()));
        Ok(entries.range((start, Bound::Unbounded)).take(limit).map(|(_, r)| r.clone()).collect())
    }
}
