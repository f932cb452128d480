//! Blacklist entries in an ordered map by field, networks also by
//! network with a count per prefix length.

use async_trait::async_trait;
use booking_core::clock::millis_to_datetime;
use booking_core::limits::{
    BlacklistEntry, BlacklistRecord, BlacklistStore, IpNetwork, LimitError, RequestIdentity, check_reason,
    expiry_millis,
};
use booking_core::{Clock, SystemClock};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::ops::Bound;
use std::sync::{Arc, RwLock};

#[derive(Debug)]
struct Entries {
    /// Every stored entry by field, lapsed ones included until pruned.
    by_field: BTreeMap<String, BlacklistRecord>,
    /// The network entries again, by network: a check masks the address
    /// once per prefix length in use instead of formatting a field for
    /// each of the 33 (or 129) networks containing it.
    networks: HashMap<IpNetwork, BlacklistRecord>,
    /// How many network entries have each prefix length: IPv4 `/0` to
    /// `/32` at 0..=32, IPv6 `/0` to `/128` at 33..=161.
    prefixes: Vec<u32>,
    /// `(expiry ms, field)` of the entries that expire, for pruning.
    expiring: BTreeSet<(i64, String)>,
}

impl Default for Entries {
    fn default() -> Self {
        Entries {
            by_field: BTreeMap::new(),
            networks: HashMap::new(),
            prefixes: vec![0; 33 + 129],
            expiring: BTreeSet::new(),
        }
    }
}

/// Where a network's prefix length is counted in [`Entries::prefixes`].
fn prefix_slot(n: &IpNetwork) -> usize {
    usize::from(n.prefix()) + if n.addr().is_ipv4() { 0 } else { 33 }
}

impl Entries {
    fn insert(&mut self, field: String, record: BlacklistRecord) {
        self.remove(&field);
        if let Some(t) = record.expires_at {
            self.expiring.insert((t.timestamp_millis(), field.clone()));
        }
        if let BlacklistEntry::Network(n) = &record.entry {
            self.prefixes[prefix_slot(n)] += 1;
            self.networks.insert(*n, record.clone());
        }
        self.by_field.insert(field, record);
    }

    fn remove(&mut self, field: &str) -> Option<BlacklistRecord> {
        let old = self.by_field.remove(field)?;
        if let Some(t) = old.expires_at {
            self.expiring.remove(&(t.timestamp_millis(), field.to_owned()));
        }
        if let BlacklistEntry::Network(n) = &old.entry {
            self.prefixes[prefix_slot(n)] -= 1;
            self.networks.remove(n);
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

    /// The narrowest live network entry containing `ip`: one lookup per
    /// prefix length in use, longest first.
    fn network_match(&self, ip: IpAddr, now: i64) -> Option<&BlacklistRecord> {
        let ip = ip.to_canonical();
        let (base, max) = if ip.is_ipv4() { (0, 32u8) } else { (33, 128u8) };
        (0..=max).rev().filter(|p| self.prefixes[base + usize::from(*p)] > 0).find_map(|p| {
            let net = IpNetwork::containing(ip, p).ok()?;
            self.networks.get(&net).filter(|r| r.live_at(now))
        })
    }
}

/// Blacklist entries in process, keyed by their field
/// ([`BlacklistEntry::field`]), networks also by network with a count of
/// entries per prefix length: a check looks up the account's and the
/// card's fields, then masks the address once per prefix length in use,
/// narrowest first, which answers as a lookup of every candidate field
/// ([`BlacklistEntry::candidates`]) would. Entries that expire are also
/// indexed by expiry, and an `add` forgets those lapsed by then. Nothing
/// is persisted.
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
        let live = |entry: BlacklistEntry| entries.by_field.get(&entry.field()).filter(|r| r.live_at(now));
        let found = who
            .account
            .and_then(|a| live(BlacklistEntry::Account(a)))
            .or_else(|| who.fingerprint.clone().and_then(|f| live(BlacklistEntry::Fingerprint(f))))
            .or_else(|| who.ip.and_then(|ip| entries.network_match(ip, now)));
        Ok(found.cloned())
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
