//! Blacklist entries on Redis: a hash of entries and a sorted set of their
//! fields, on one slot.

use super::{failed, script, time_arg};
use crate::conn::Conn;
use crate::error::{Effect, from_redis};
use crate::scripts;
use async_trait::async_trait;
use booking_core::TimeSource;
use booking_core::clock::millis_to_datetime;
use booking_core::limits::{
    BlacklistEntry, BlacklistRecord, BlacklistStore, LimitError, RequestIdentity, check_reason, first_match,
};
use std::fmt;

/// The blacklist on Redis (see the module docs). Cheap to clone. Built by
/// [`super::RedisLimits`].
#[derive(Clone)]
pub struct RedisBlacklist {
    conn: Conn,
    time: TimeSource,
    entries: String,
    order: String,
}

impl fmt::Debug for RedisBlacklist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBlacklist")
            .field("entries", &self.entries)
            .field("time", &self.time)
            .finish_non_exhaustive()
    }
}

/// A stored entry: `<added at, Unix ms>|<reason>`.
fn decode(operation: &'static str, field: &str, raw: &[u8]) -> Result<BlacklistRecord, LimitError> {
    let bad = |what: &str| LimitError::backend(format!("{operation}: entry {field:?}: {what}"));
    let entry = BlacklistEntry::from_field(field).map_err(|e| bad(&e.to_string()))?;
    let raw = std::str::from_utf8(raw).map_err(|_| bad("not UTF-8"))?;
    let (added, reason) = raw.split_once('|').ok_or_else(|| bad("no time"))?;
    let added: i64 = added.parse().map_err(|_| bad("time"))?;
    Ok(BlacklistRecord { entry, reason: reason.to_owned(), added_at: millis_to_datetime(added) })
}

impl RedisBlacklist {
    pub(super) fn new(conn: Conn, time: TimeSource, entries: String, order: String) -> Self {
        RedisBlacklist { conn, time, entries, order }
    }

    /// `HMGET` of `fields`: each field's stored value, if any.
    async fn get(&self, operation: &'static str, fields: &[String]) -> Result<Vec<Option<Vec<u8>>>, LimitError> {
        if fields.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.conn.clone();
        redis::cmd("HMGET")
            .arg(&self.entries)
            .arg(fields)
            .query_async(&mut conn)
            .await
            .map_err(|e| failed(operation)(from_redis(e, Effect::Read)))
    }
}

#[async_trait]
impl BlacklistStore for RedisBlacklist {
    async fn add(&self, entry: &BlacklistEntry, reason: &str) -> Result<BlacklistRecord, LimitError> {
        const OP: &str = "blacklist add";
        check_reason(reason)?;
        let (now, field) = (time_arg(&self.time)?, entry.field());
        let args: [&[u8]; 3] = [now.as_bytes(), field.as_bytes(), reason.as_bytes()];
        let keys = [self.entries.as_str(), self.order.as_str()];
        let r = script(&self.conn, OP, &scripts::LOADED.BLACKLIST_ADD, &keys, &args).await?;
        let added = r.int(0).map_err(failed(OP))?;
        Ok(BlacklistRecord { entry: entry.clone(), reason: reason.to_owned(), added_at: millis_to_datetime(added) })
    }

    async fn remove(&self, entry: &BlacklistEntry) -> Result<bool, LimitError> {
        const OP: &str = "blacklist remove";
        let field = entry.field();
        let keys = [self.entries.as_str(), self.order.as_str()];
        let r = script(&self.conn, OP, &scripts::LOADED.BLACKLIST_REMOVE, &keys, &[field.as_bytes()]).await?;
        Ok(r.int(0).map_err(failed(OP))? == 1)
    }

    async fn check(&self, who: &RequestIdentity) -> Result<Option<BlacklistRecord>, LimitError> {
        const OP: &str = "blacklist check";
        let candidates = BlacklistEntry::candidates(who);
        let values = self.get(OP, &candidates).await?;
        let mut found = Vec::new();
        for (field, value) in candidates.iter().zip(values) {
            if let Some(raw) = value {
                found.push((field.clone(), decode(OP, field, &raw)?));
            }
        }
        Ok(first_match(&candidates, found))
    }

    async fn list(&self, after: Option<&BlacklistEntry>, limit: usize) -> Result<Vec<BlacklistRecord>, LimitError> {
        const OP: &str = "blacklist list";
        if limit == 0 {
            return Ok(Vec::new());
        }
        let after = after.map(BlacklistEntry::field);
        let fields = self
            .conn
            .lex_page(&self.order, after.as_deref(), limit)
            .await
            .map_err(|e| failed(OP)(from_redis(e, Effect::Read)))?;
        let fields: Vec<String> = fields.into_iter().map(|b| String::from_utf8_lossy(&b).into_owned()).collect();
        let values = self.get(OP, &fields).await?;
        let mut records = Vec::with_capacity(fields.len());
        for (field, value) in fields.iter().zip(values) {
            // Removed since the fields were read: skipped.
            if let Some(raw) = value {
                records.push(decode(OP, field, &raw)?);
            }
        }
        Ok(records)
    }
}
