//! GCRA state on Redis, one string per key.

use super::{failed, script, time_arg};
use crate::codec::bytes;
use crate::conn::Conn;
use crate::error::{Effect, from_redis};
use crate::scripts;
use async_trait::async_trait;
use booking_core::TimeSource;
use booking_core::limits::{Acquire, GcraStep, LimitError, LimitKey, RateDecision, RateLimitStore};
use redis::Value;
use std::fmt;

/// Rate limits on Redis, shared by every server on it (see the module
/// docs). Cheap to clone. Built by [`super::RedisLimits`].
#[derive(Clone)]
pub struct RedisRateLimitStore {
    conn: Conn,
    time: TimeSource,
    prefix: String,
}

impl fmt::Debug for RedisRateLimitStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisRateLimitStore")
            .field("prefix", &self.prefix)
            .field("time", &self.time)
            .finish_non_exhaustive()
    }
}

/// Escapes `KEYS`/`SCAN` pattern characters.
fn glob_escape(s: &str) -> String {
    s.chars().flat_map(|c| if matches!(c, '*' | '?' | '[' | ']' | '\\') { vec!['\\', c] } else { vec![c] }).collect()
}

impl RedisRateLimitStore {
    pub(super) fn new(conn: Conn, time: TimeSource, prefix: String) -> Self {
        RedisRateLimitStore { conn, time, prefix }
    }

    /// The Redis key of a rate-limit key: its own hash tag.
    pub fn redis_key(&self, key: &LimitKey) -> String {
        format!("{{{}rl:{}}}", self.prefix, key.0)
    }
}

#[async_trait]
impl RateLimitStore for RedisRateLimitStore {
    async fn acquire(&self, req: &Acquire) -> Result<RateDecision, LimitError> {
        const OP: &str = "rate limit acquire";
        let increment = req.validate()?;
        let key = self.redis_key(&req.key);
        let (now, inc, span) = (time_arg(&self.time)?, increment.to_string(), req.quota.span_micros().to_string());
        let expire: &[u8] = if self.time.injected_millis().is_none() { b"1" } else { b"0" };
        let args: [&[u8]; 4] = [now.as_bytes(), inc.as_bytes(), span.as_bytes(), expire];
        let r = script(&self.conn, OP, &scripts::LOADED.RATE_ACQUIRE, &[&key], &args).await?;
        let int = |i| r.int(i).map_err(failed(OP));
        let step = GcraStep { allowed: int(0)? == 1, tat: int(1)? };
        Ok(RateDecision::from_step(&req.quota, increment, int(2)?, step))
    }

    async fn reset(&self, key: &LimitKey) -> Result<(), LimitError> {
        key.validate()?;
        let mut conn = self.conn.clone();
        redis::cmd("DEL")
            .arg(self.redis_key(key))
            .query_async::<Value>(&mut conn)
            .await
            .map_err(|e| failed("rate limit reset")(from_redis(e, Effect::Write)))?;
        Ok(())
    }

    /// Under the store's clock keys expire by themselves once their burst
    /// is full again: nothing to do, 0. Under an injected clock (tests),
    /// lists this store's keys on every master (`KEYS`, which blocks the
    /// server while it walks the keyspace: fine for a test server) and
    /// deletes those whose burst is full at the injected time.
    async fn purge(&self) -> Result<u64, LimitError> {
        const OP: &str = "rate limit purge";
        if self.time.injected_millis().is_none() {
            return Ok(0);
        }
        let pattern = format!("{{{}rl:*", glob_escape(&self.prefix));
        let mut conn = self.conn.clone();
        let answers = conn
            .on_every_master(redis::cmd("KEYS").arg(&pattern), "server")
            .await
            .map_err(|e| failed(OP)(from_redis(e, Effect::Read)))?;
        let mut purged = 0u64;
        for (node, answer) in answers {
            let keys = match answer {
                Ok(Value::Array(keys)) => keys,
                other => return Err(LimitError::backend(format!("{OP}: {node} answered {other:?}"))),
            };
            for key in keys.iter().filter_map(bytes) {
                let key = String::from_utf8_lossy(key);
                let now = time_arg(&self.time)?;
                let r = script(&self.conn, OP, &scripts::LOADED.RATE_PURGE, &[&key], &[now.as_bytes()]).await?;
                purged += r.int(0).map_err(failed(OP))?.max(0) as u64;
            }
        }
        Ok(purged)
    }
}
