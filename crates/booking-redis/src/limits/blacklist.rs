//! Blacklist entries on Redis: a hash of entries, a sorted set of their
//! fields and one of their expiries, on one slot.

use super::{failed, script, time_arg};
use crate::codec::Reply;
use crate::conn::Conn;
use crate::scripts;
use async_trait::async_trait;
use booking_core::TimeSource;
use booking_core::clock::millis_to_datetime;
use booking_core::limits::{
    BlacklistEntry, BlacklistRecord, BlacklistStore, LimitError, RequestIdentity, check_reason, expiry_millis,
    first_match,
};
use chrono::{DateTime, Utc};
use std::fmt;

/// The blacklist on Redis (see the module docs). Cheap to clone. Built by
/// [`super::RedisLimits`].
#[derive(Clone)]
pub struct RedisBlacklist {
    conn: Conn,
    time: TimeSource,
    entries: String,
    order: String,
    expiring: String,
}

impl fmt::Debug for RedisBlacklist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBlacklist")
            .field("entries", &self.entries)
            .field("time", &self.time)
            .finish_non_exhaustive()
    }
}

/// A stored entry: `<added ms>|<reason>`, or `<added ms>;<expires
/// ms>|<reason>` for one that expires.
fn decode(operation: &'static str, field: &str, raw: &[u8]) -> Result<BlacklistRecord, LimitError> {
    let bad = |what: &str| LimitError::backend(format!("{operation}: entry {field:?}: {what}"));
    let entry = BlacklistEntry::from_field(field).map_err(|e| bad(&e.to_string()))?;
    let raw = std::str::from_utf8(raw).map_err(|_| bad("not UTF-8"))?;
    let (head, reason) = raw.split_once('|').ok_or_else(|| bad("no time"))?;
    let (added, expires) = match head.split_once(';') {
        Some((added, expires)) => (added, Some(expires.parse::<i64>().map_err(|_| bad("expiry"))?)),
        None => (head, None),
    };
    let added: i64 = added.parse().map_err(|_| bad("time"))?;
    Ok(BlacklistRecord {
        entry,
        reason: reason.to_owned(),
        added_at: millis_to_datetime(added),
        expires_at: expires.map(millis_to_datetime),
    })
}

/// A check's or a listing's reply, `{n, field, value, ...}`, decoded.
fn decode_found(operation: &'static str, r: &Reply) -> Result<Vec<(String, BlacklistRecord)>, LimitError> {
    let n = usize::try_from(r.int(0).map_err(failed(operation))?).unwrap_or(0);
    let mut found = Vec::with_capacity(n);
    for i in 0..n {
        let field = String::from_utf8_lossy(r.bytes(1 + 2 * i).map_err(failed(operation))?).into_owned();
        let record = decode(operation, &field, r.bytes(2 + 2 * i).map_err(failed(operation))?)?;
        found.push((field, record));
    }
    Ok(found)
}

impl RedisBlacklist {
    pub(super) fn new(conn: Conn, time: TimeSource, entries: String, order: String, expiring: String) -> Self {
        RedisBlacklist { conn, time, entries, order, expiring }
    }

    fn keys(&self) -> [&str; 3] {
        [self.entries.as_str(), self.order.as_str(), self.expiring.as_str()]
    }
}

#[async_trait]
impl BlacklistStore for RedisBlacklist {
    async fn add(
        &self,
        entry: &BlacklistEntry,
        reason: &str,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<BlacklistRecord, LimitError> {
        const OP: &str = "blacklist add";
        check_reason(reason)?;
        let expires = expiry_millis(expires_at)?;
        let (now, field) = (time_arg(&self.time)?, entry.field());
        let expires_arg = expires.map(|ms| ms.to_string()).unwrap_or_default();
        let args: [&[u8]; 4] = [now.as_bytes(), field.as_bytes(), reason.as_bytes(), expires_arg.as_bytes()];
        let r = script(&self.conn, OP, &scripts::LOADED.BLACKLIST_ADD, &self.keys(), &args).await?;
        let added = r.int(0).map_err(failed(OP))?;
        Ok(BlacklistRecord {
            entry: entry.clone(),
            reason: reason.to_owned(),
            added_at: millis_to_datetime(added),
            expires_at: expires.map(millis_to_datetime),
        })
    }

    async fn remove(&self, entry: &BlacklistEntry) -> Result<bool, LimitError> {
        const OP: &str = "blacklist remove";
        let (now, field) = (time_arg(&self.time)?, entry.field());
        let args: [&[u8]; 2] = [now.as_bytes(), field.as_bytes()];
        let r = script(&self.conn, OP, &scripts::LOADED.BLACKLIST_REMOVE, &self.keys(), &args).await?;
        Ok(r.int(0).map_err(failed(OP))? == 1)
    }

    async fn check(&self, who: &RequestIdentity) -> Result<Option<BlacklistRecord>, LimitError> {
        const OP: &str = "blacklist check";
        let candidates = BlacklistEntry::candidates(who);
        if candidates.is_empty() {
            return Ok(None);
        }
        let now = time_arg(&self.time)?;
        let mut args: Vec<&[u8]> = Vec::with_capacity(candidates.len() + 1);
        args.push(now.as_bytes());
        args.extend(candidates.iter().map(|c| c.as_bytes()));
        let r = script(&self.conn, OP, &scripts::LOADED.BLACKLIST_CHECK, &[self.entries.as_str()], &args).await?;
        Ok(first_match(&candidates, decode_found(OP, &r)?))
    }

    async fn list(&self, after: Option<&BlacklistEntry>, limit: usize) -> Result<Vec<BlacklistRecord>, LimitError> {
        const OP: &str = "blacklist list";
        if limit == 0 {
            return Ok(Vec::new());
        }
        let now = time_arg(&self.time)?;
        let from = after.map_or_else(|| "-".to_owned(), |a| format!("({}", a.field()));
        let limit = limit.min(10_000).to_string();
        let args: [&[u8]; 3] = [now.as_bytes(), from.as_bytes(), limit.as_bytes()];
        let keys = [self.entries.as_str(), self.order.as_str()];
        let r = script(&self.conn, OP, &scripts::LOADED.BLACKLIST_LIST, &keys, &args).await?;
        Ok(decode_found(OP, &r)?.into_iter().map(|(_, rec)| rec).collect())
    }
}
