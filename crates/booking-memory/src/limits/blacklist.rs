//! Blacklist entries in an ordered map by field.

use async_trait::async_trait;
use booking_core::clock::millis_to_datetime;
use booking_core::limits::{
    BlacklistEntry, BlacklistRecord, BlacklistStore, LimitError, RequestIdentity, check_reason, expiry_millis,
};
use booking_core::{Clock, SystemClock};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::sync::{Arc, RwLock};

#[derive(Debug, Default)]
struct Entries {
    /// Every stored entry by field, lapsed ones included until pruned.
    by_field: BTreeMap<String, BlacklistRecord>,
    /// `(expiry ms, field)` of the entries that expire, for pruning.
    expiring: BTreeSet<(i64, String)>,
}

impl Entries {
    fn insert(&mut self, field: String, record: BlacklistRecord) {
        self.remove(&field);
        if let Some(t) = record.expires_at {
            self.expiring.insert((t.timestamp_millis(), field.clone()));
        }
        self.by_field.insert(field, record);
    }

    fn remove(&mut self, field: &str) -> Option<BlacklistRecord> {
        let old = self.by_field.remove(field)?;
        if let Some(t) = old.expires_at {
            self.expiring.remove(&(t.timestamp_millis(), field.to_owned()));
        }
        Some(old)
    }

    /// Forgets the entries lapsed at `now` (Unix ms).
    fn prune(&mut self, now: i64) {
        while let Some((t, _)) = self.expiring.first()
            && *t <= now
        {
            if let Some((_, field)) = self.expiring.pop_first() {
                self.remove(&field);
            }
        }
    }
}

/// Blacklist entries in process, keyed by their field
/// ([`BlacklistEntry::field`]); a check looks up the identity's candidate
/// fields. Entries that expire are also indexed by expiry, and an `add`
/// forgets those lapsed by then. Nothing is persisted.
#[derive(Debug)]
pub struct MemoryBlacklist {
    clock: Arc<dyn Clock>,
    entries: RwLock<Entries>,
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

    /// An empty blacklist deciding (stamps and expiries) by `clock`.
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        MemoryBlacklist { clock, entries: RwLock::new(Entries::default()) }
    }
}

#[async_trait]
impl BlacklistStore for MemoryBlacklist {
    async fn add(
        &self,
        entry: &BlacklistEntry,
        reason: &str,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<BlacklistRecord, LimitError> {
        check_reason(reason)?;
        let expires = expiry_millis(expires_at)?;
        let now = self.clock.now_millis();
        let record = BlacklistRecord {
            entry: entry.clone(),
            reason: reason.to_owned(),
            added_at: millis_to_datetime(now),
            expires_at: expires.map(millis_to_datetime),
        };
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        entries.insert(entry.field(), record.clone());
        entries.prune(now);
        Ok(record)
    }

    async fn remove(&self, entry: &BlacklistEntry) -> Result<bool, LimitError> {
        let now = self.clock.now_millis();
        let removed = self.entries.write().unwrap_or_else(|e| e.into_inner()).remove(&entry.field());
        Ok(removed.is_some_and(|r| r.live_at(now)))
    }

    async fn check(&self, who: &RequestIdentity) -> Result<Option<BlacklistRecord>, LimitError> {
        let now = self.clock.now_millis();
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        Ok(BlacklistEntry::candidates(who)
            .iter()
            .find_map(|f| entries.by_field.get(f).filter(|r| r.live_at(now)).cloned()))
    }

    async fn list(&self, after: Option<&BlacklistEntry>, limit: usize) -> Result<Vec<BlacklistRecord>, LimitError> {
        let now = self.clock.now_millis();
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        let start = after.map_or(Bound::Unbounded, |a| Bound::Excluded(a.field()));
        Ok(entries
            .by_field
            .range((start, Bound::Unbounded))
            .filter(|(_, r)| r.live_at(now))
            .take(limit)
            .map(|(_, r)| r.clone())
            .collect())
    }
}
