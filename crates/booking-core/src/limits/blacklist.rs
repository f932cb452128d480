//! Blacklists: accounts, IP addresses and ranges, payment fingerprints,
//! refused before they reach the inventory.
//!
//! Every entry has one *field*, a short string that names it in a store
//! (`a:<account>`, `n:<network>`, `f:<fingerprint>`). A check turns a
//! request's identity into the fields that would match it
//! ([`BlacklistEntry::candidates`]: its account, its fingerprint, then every
//! network containing its address, narrowest first) and asks the store for
//! those: one lookup by primary key on every backend, whatever the number
//! of ranges, and the same answer everywhere ([`first_match`]).

use super::LimitError;
use super::identity::{IpNetwork, PaymentFingerprint, RequestIdentity};
use crate::ids::OwnerId;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt::{self, Debug};

/// The longest reason an entry keeps, in bytes.
pub const MAX_REASON_BYTES: usize = 500;

/// What a blacklist entry refuses.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlacklistEntry {
    /// Every request of an account.
    Account(OwnerId),
    /// Every request from an address (a /32 or /128 network) or a range.
    Network(IpNetwork),
    /// Every request paying with this fingerprint.
    Fingerprint(PaymentFingerprint),
}

impl BlacklistEntry {
    /// The entry's field: its name in a store.
    pub fn field(&self) -> String {
        match self {
            BlacklistEntry::Account(a) => format!("a:{a}"),
            BlacklistEntry::Network(n) => format!("n:{n}"),
            BlacklistEntry::Fingerprint(f) => format!("f:{f}"),
        }
    }

    /// The entry a field names, as [`Self::field`] wrote it.
    ///
    /// Errors: `InvalidNetwork`, `InvalidFingerprint`, or `InvalidKey` for a
    /// field of no known kind.
    pub fn from_field(field: &str) -> Result<Self, LimitError> {
        match field.split_once(':') {
            Some(("a", id)) => id
                .parse::<uuid::Uuid>()
                .map(|u| BlacklistEntry::Account(OwnerId(u)))
                .map_err(|_| LimitError::InvalidKey("a blacklist field names no account")),
            Some(("n", net)) => net.parse().map(BlacklistEntry::Network),
            Some(("f", fp)) => PaymentFingerprint::new(fp).map(BlacklistEntry::Fingerprint),
            _ => Err(LimitError::InvalidKey("not a blacklist field")),
        }
    }

    /// The fields that would refuse `who`, in the order a match is
    /// reported: account, fingerprint, then the networks containing its
    /// address from the narrowest (the address itself) to `/0`.
    pub fn candidates(who: &RequestIdentity) -> Vec<String> {
        let mut fields = Vec::with_capacity(131);
        if let Some(a) = who.account {
            fields.push(BlacklistEntry::Account(a).field());
        }
        if let Some(fp) = &who.fingerprint {
            fields.push(BlacklistEntry::Fingerprint(fp.clone()).field());
        }
        if let Some(ip) = who.ip {
            fields.extend(IpNetwork::all_containing(ip).map(|n| BlacklistEntry::Network(n).field()));
        }
        fields
    }
}

impl fmt::Display for BlacklistEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlacklistEntry::Account(a) => write!(f, "account {a}"),
            BlacklistEntry::Network(n) => write!(f, "network {n}"),
            BlacklistEntry::Fingerprint(fp) => write!(f, "payment fingerprint {fp}"),
        }
    }
}

/// A blacklist entry as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlacklistRecord {
    /// What it refuses.
    pub entry: BlacklistEntry,
    /// Why (for the operator; not shown to the client).
    pub reason: String,
    /// When it was added (by the store's clock), or last re-added.
    pub added_at: DateTime<Utc>,
    /// When it stops refusing (to the millisecond, by the store's clock):
    /// from this instant on it matches nothing and is not listed. `None`:
    /// until removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

impl BlacklistRecord {
    /// Whether the entry still refuses at `now_ms` (Unix ms): it has no
    /// expiry, or its expiry is later.
    pub fn live_at(&self, now_ms: i64) -> bool {
        self.expires_at.is_none_or(|t| t.timestamp_millis() > now_ms)
    }
}

/// An expiry in Unix ms, as stores keep it (sub-millisecond parts are
/// dropped).
///
/// Errors: `InvalidExpiry` before 1970 or past what limits count (about
/// 2250, [`MAX_NOW_MICROS`](super::MAX_NOW_MICROS)).
pub fn expiry_millis(expires_at: Option<DateTime<Utc>>) -> Result<Option<i64>, LimitError> {
    let Some(t) = expires_at else { return Ok(None) };
    let ms = t.timestamp_millis();
    if !(0..=super::MAX_NOW_MICROS / 1000).contains(&ms) {
        return Err(LimitError::InvalidExpiry(ms));
    }
    Ok(Some(ms))
}

/// Checks a reason's length: at most [`MAX_REASON_BYTES`].
///
/// Errors: `InvalidReason`.
pub fn check_reason(reason: &str) -> Result<(), LimitError> {
    if reason.len() > MAX_REASON_BYTES { Err(LimitError::InvalidReason) } else { Ok(()) }
}

/// Of the records a store found for `candidates`, the one to report: the
/// first in candidate order (see [`BlacklistEntry::candidates`]). `found`
/// pairs a field with its record; fields absent from `candidates` are
/// ignored.
pub fn first_match(candidates: &[String], found: Vec<(String, BlacklistRecord)>) -> Option<BlacklistRecord> {
    let rank = |field: &str| candidates.iter().position(|c| c == field);
    found.into_iter().filter_map(|(f, r)| rank(&f).map(|i| (i, r))).min_by_key(|(i, _)| *i).map(|(_, r)| r)
}

/// Where blacklist entries live.
#[async_trait]
pub trait BlacklistStore: Send + Sync + Debug {
    /// Adds an entry, or replaces the reason and expiry of one already
    /// there; returns the record as stored. With `expires_at`, the entry
    /// refuses until then (by the store's clock) and then lapses by itself:
    /// it matches nothing and is not listed, as if removed. An expiry not
    /// later than now lifts the entry at once. `None`: until removed.
    ///
    /// Errors: `InvalidReason`, `InvalidExpiry` (nothing is changed),
    /// `ClockOutOfRange`, `Backend`.
    async fn add(
        &self,
        entry: &BlacklistEntry,
        reason: &str,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<BlacklistRecord, LimitError>;

    /// Removes an entry; returns whether it was there (a lapsed entry was
    /// not).
    async fn remove(&self, entry: &BlacklistEntry) -> Result<bool, LimitError>;

    /// The entry that refuses `who`, if any: its account's, its
    /// fingerprint's, or the narrowest network containing its address, in
    /// that order; lapsed entries are skipped. An identity with no part is
    /// refused by nothing.
    async fn check(&self, who: &RequestIdentity) -> Result<Option<BlacklistRecord>, LimitError>;

    /// Up to `limit` entries that have not lapsed, in field order,
    /// starting after the entry `after` (for paging).
    async fn list(&self, after: Option<&BlacklistEntry>, limit: usize) -> Result<Vec<BlacklistRecord>, LimitError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip() {
        let entries = [
            BlacklistEntry::Account(OwnerId::new()),
            BlacklistEntry::Network("2001:db8::/32".parse().expect("net")),
            BlacklistEntry::Network("192.0.2.1".parse().expect("host")),
            BlacklistEntry::Fingerprint(PaymentFingerprint::new("fp_1:x").expect("fp")),
        ];
        for e in entries {
            assert_eq!(BlacklistEntry::from_field(&e.field()).expect("parse"), e);
        }
        for bad in ["", "a:", "a:nope", "n:10.0.0.1/8", "f:", "x:y", "nothing"] {
            assert!(BlacklistEntry::from_field(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_first_candidate_wins() {
        let who = RequestIdentity::account(OwnerId::new()).with_ip("10.1.2.3".parse().expect("ip"));
        let c = BlacklistEntry::candidates(&who);
        assert_eq!(c.len(), 1 + 33);
        let rec = |field: &str| {
            let entry = BlacklistEntry::from_field(field).expect("field");
            (
                field.to_owned(),
                BlacklistRecord { entry, reason: String::new(), added_at: DateTime::UNIX_EPOCH, expires_at: None },
            )
        };
        let wide = rec("n:10.0.0.0/8");
        let narrow = rec("n:10.1.0.0/16");
        let got = first_match(&c, vec![wide.clone(), narrow.clone(), rec("n:11.0.0.0/8")]);
        assert_eq!(got.map(|r| r.entry), Some(narrow.1.entry));
        assert_eq!(first_match(&c, vec![rec("n:11.0.0.0/8")]), None);
        assert!(BlacklistEntry::candidates(&RequestIdentity::default()).is_empty());
    }
}
