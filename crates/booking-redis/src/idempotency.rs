//! Idempotency keys on Redis (`booking_core::idempotency`, Stripe's
//! semantics): a key's record is one hash, taken, handed over and finished
//! by Lua scripts, so that every decision is atomic on the key's Cluster
//! slot.
//!
//! - **Take.** The first request with a key creates its record (the
//!   request's fingerprint, a lease id and the lease's end): a `SET NX PX`
//!   in spirit, written as a script because the record also keeps the
//!   fingerprint and, later, the response. A request with another
//!   fingerprint gets `Mismatch`; one that finds a live lease gets
//!   `InProgress` with the time left; one that finds a finished key gets
//!   the stored response back, byte for byte.
//! - **Hand-over.** A lease that ran out (the holder crashed) or was
//!   released is taken over by the next request, which is told it resumes;
//!   the old holder can then neither finish nor release.
//! - **Retention.** Under the store's clock a record expires by itself: its
//!   TTL is the retention ([`RedisIdempotencyStoreBuilder::retention`],
//!   24 h by default), set when the key is first used. Under an injected
//!   clock the record keeps no TTL, reads as absent once past its retention
//!   by the injected time, and is deleted by the next request that finds it
//!   or by `reap`.
//! - **Reap.** Records are spread over [`crate::keys::IDEMPOTENCY_BUCKETS`]
//!   buckets (hash tags); each bucket keeps an index of its records by
//!   creation time, so `reap` reads the index rather than scanning the
//!   keyspace. Under the store's clock the records are gone by themselves
//!   once past the configured retention, so `reap` usually finds nothing
//!   and answers 0; it deletes what is older than the retention it is
//!   given, when that is shorter.

use crate::coalesce::time_arg;
use crate::codec::{Reply, int};
use crate::conn::{Conn, Target};
use crate::error::{Effect, failure, from_redis, in_operation};
use crate::keys::{IDEMPOTENCY_BUCKETS, hex, idempotency_index, idempotency_record, key_slot};
use crate::{client_for, scripts};
use async_trait::async_trait;
use booking_core::clock::millis_to_datetime;
use booking_core::idempotency::{
    Begin, Fingerprint, IdempotencyError, IdempotencyKey, IdempotencyStore, KeyRecord, LeaseId, Started, StoredResponse,
};
use booking_core::{InvalidRequest, InventoryError, OwnerId, TimeSource};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{IntoConnectionInfo, Script, Value};
use std::fmt;
use std::time::Duration;

/// How long idempotency keys are kept when not configured: 24 hours.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(24 * 3600);

/// Records read per round trip while reaping.
const REAP_PAGE: usize = 500;

/// Idempotency keys on a Redis server or a Redis Cluster. Cheap to clone.
#[derive(Clone)]
pub struct RedisIdempotencyStore {
    conn: Conn,
    prefix: String,
    time: TimeSource,
    retention: Duration,
}

impl fmt::Debug for RedisIdempotencyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisIdempotencyStore")
            .field("prefix", &self.prefix)
            .field("time", &self.time)
            .field("retention", &self.retention)
            .finish_non_exhaustive()
    }
}

/// Configures and connects a [`RedisIdempotencyStore`].
#[must_use = "call build() to connect"]
pub struct RedisIdempotencyStoreBuilder {
    target: Target,
    prefix: String,
    time: TimeSource,
    retention: Duration,
    response_timeout: Duration,
    connection_timeout: Duration,
}

impl RedisIdempotencyStoreBuilder {
    /// Prefixes every key (default [`crate::DEFAULT_PREFIX`]); no braces.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Which clock decides leases and retention (docs/design.md, I8): the
    /// Redis server's `TIME` ([`TimeSource::Store`], the default), or an
    /// injected clock whose time is sent with each request (tests).
    pub fn time_source(mut self, time: TimeSource) -> Self {
        self.time = time;
        self
    }

    /// How long a key is kept after its first use (default
    /// [`DEFAULT_RETENTION`], at least 1 ms): the records' TTL under the
    /// store's clock, and the age past which a record reads as absent.
    pub fn retention(mut self, retention: Duration) -> Self {
        self.retention = retention.max(Duration::from_millis(1));
        self
    }

    /// How long a request waits for Redis (default 5 s).
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// How long connecting may take (default 2 s).
    pub fn connection_timeout(mut self, timeout: Duration) -> Self {
        self.connection_timeout = timeout;
        self
    }

    /// Connects (on a Cluster: discovers the nodes from the seeds).
    ///
    /// Errors: `InvalidRequest` for a prefix with braces, `Unavailable` when
    /// the server cannot be reached.
    pub async fn build(self) -> booking_core::Result<RedisIdempotencyStore> {
        self.connect().await.map_err(in_operation("connect"))
    }

    async fn connect(self) -> booking_core::Result<RedisIdempotencyStore> {
        if self.prefix.contains(['{', '}']) {
            return Err(InvalidRequest::InvalidShow("the key prefix must not contain '{' or '}'".into()).into());
        }
        let conn = match &self.target {
            Target::Server(client) => {
                let config = ConnectionManagerConfig::new()
                    .set_response_timeout(Some(self.response_timeout))
                    .set_connection_timeout(Some(self.connection_timeout))
                    .set_number_of_retries(3);
                let conn = ConnectionManager::new_with_config(client.clone(), config)
                    .await
                    .map_err(|e| InventoryError::Unavailable(Box::new(e)))?;
                Conn::Managed(conn)
            }
            Target::Cluster(nodes) => {
                let client = Target::cluster_client(nodes, self.response_timeout, self.connection_timeout)?;
                Conn::Cluster(
                    client.get_async_connection().await.map_err(|e| InventoryError::Unavailable(Box::new(e)))?,
                )
            }
        };
        Ok(RedisIdempotencyStore { conn, prefix: self.prefix, time: self.time, retention: self.retention })
    }
}

impl RedisIdempotencyStore {
    /// A builder for the server at `url`.
    ///
    /// Errors: `InvalidRequest` for a malformed URL.
    pub fn builder(url: &str) -> booking_core::Result<RedisIdempotencyStoreBuilder> {
        Ok(Self::builder_to(Target::Server(client_for(url)?)))
    }

    /// A builder for a Redis Cluster with seed `nodes` (as
    /// [`crate::RedisInventory::cluster_builder`]).
    ///
    /// Errors: `InvalidRequest` for a malformed URL, no seed at all, or
    /// seeds that disagree on credentials.
    pub fn cluster_builder<T: IntoConnectionInfo>(
        nodes: impl IntoIterator<Item = T>,
    ) -> booking_core::Result<RedisIdempotencyStoreBuilder> {
        Ok(Self::builder_to(Target::cluster(nodes)?))
    }

    /// The store at `url` with the defaults.
    pub async fn connect(url: &str) -> booking_core::Result<Self> {
        Self::builder(url)?.build().await
    }

    fn builder_to(target: Target) -> RedisIdempotencyStoreBuilder {
        RedisIdempotencyStoreBuilder {
            target,
            prefix: crate::DEFAULT_PREFIX.to_owned(),
            time: TimeSource::Store,
            retention: DEFAULT_RETENTION,
            response_timeout: Duration::from_secs(5),
            connection_timeout: Duration::from_secs(2),
        }
    }

    fn record_key(&self, principal: OwnerId, key: &IdempotencyKey) -> String {
        idempotency_record(&self.prefix, principal, &key.0)
    }

    fn retention_ms(&self, retention: Duration) -> u64 {
        u64::try_from(retention.as_millis()).unwrap_or(u64::MAX).max(1)
    }

    async fn run(&self, script: &Script, keys: &[&str], args: &[&[u8]]) -> Result<Reply, InventoryError> {
        let mut inv = script.prepare_invoke();
        for k in keys {
            inv.key(*k);
        }
        for a in args {
            inv.arg(*a);
        }
        let v: Value = inv.invoke_async(&mut self.conn.clone()).await.map_err(|e| from_redis(e, Effect::Write))?;
        Reply::new(v)
    }

    async fn begin_key(&self, req: &Begin) -> Result<Started, IdempotencyError> {
        req.key.validate()?;
        let record = self.record_key(req.principal, &req.key);
        let index = record_index(&self.prefix, &record);
        let lease = LeaseId(uuid_v7());
        let (now, fp, id) = (time_arg(self.time.injected_millis()), hex_bytes(&req.fingerprint.0), hex(lease.0));
        let lease_ms = u64::try_from(req.lease.as_millis()).unwrap_or(u64::MAX).to_string();
        let retention = self.retention_ms(self.retention).to_string();
        let args: [&[u8]; 5] =
            [now.as_bytes(), fp.as_bytes(), id.as_bytes(), lease_ms.as_bytes(), retention.as_bytes()];
        let r = self.run(&scripts::LOADED.IDEM_BEGIN, &[&record, &index], &args).await.map_err(failed("begin"))?;
        match r.status() {
            b"RUN" => Ok(Started::Run { resumed: r.int(1).map_err(failed("begin"))? == 1, lease }),
            b"REPLAY" => {
                let status =
                    u16::try_from(r.int(1).map_err(failed("begin"))?).map_err(|_| unreadable("begin", "status"))?;
                Ok(Started::Replay(StoredResponse { status, body: r.bytes(2).map_err(failed("begin"))?.to_vec() }))
            }
            b"MISMATCH" => Err(IdempotencyError::Mismatch),
            b"IN_PROGRESS" => {
                let left = r.int(1).map_err(failed("begin"))?.clamp(1, 1_000) as u64;
                Err(IdempotencyError::InProgress { retry_after: Duration::from_millis(left) })
            }
            other => Err(unreadable("begin", &String::from_utf8_lossy(other))),
        }
    }

    async fn end(
        &self,
        operation: &'static str,
        principal: OwnerId,
        key: &IdempotencyKey,
        lease: LeaseId,
        response: Option<&StoredResponse>,
    ) -> Result<(), IdempotencyError> {
        let record = self.record_key(principal, key);
        let (now, id) = (time_arg(self.time.injected_millis()), hex(lease.0));
        let retention = self.retention_ms(self.retention).to_string();
        let status = response.map(|r| r.status.to_string()).unwrap_or_default();
        let body: &[u8] = response.map_or(&[], |r| &r.body);
        let what: &[u8] = if response.is_some() { b"finish" } else { b"release" };
        let args: [&[u8]; 6] = [now.as_bytes(), id.as_bytes(), retention.as_bytes(), what, status.as_bytes(), body];
        let r = self.run(&scripts::LOADED.IDEM_END, &[&record], &args).await.map_err(failed(operation))?;
        match r.status() {
            b"OK" => Ok(()),
            b"NOT_HELD" => Err(IdempotencyError::NotHeld),
            other => Err(unreadable(operation, &String::from_utf8_lossy(other))),
        }
    }

    async fn read(&self, principal: OwnerId, key: &IdempotencyKey) -> Result<Option<KeyRecord>, IdempotencyError> {
        let record = self.record_key(principal, key);
        let now = time_arg(self.time.injected_millis());
        let retention = self.retention_ms(self.retention).to_string();
        let args: [&[u8]; 2] = [now.as_bytes(), retention.as_bytes()];
        let r = self.run(&scripts::LOADED.IDEM_GET, &[&record], &args).await.map_err(failed("get"))?;
        match r.status() {
            b"NONE" => Ok(None),
            b"RECORD" => {
                let field = |i| r.bytes(i).map_err(failed("get"));
                let fingerprint = parse_fingerprint(field(1)?).ok_or_else(|| unreadable("get", "fingerprint"))?;
                let number = |b: &[u8]| std::str::from_utf8(b).ok().and_then(|s| s.parse::<i64>().ok());
                let created = number(field(2)?).ok_or_else(|| unreadable("get", "created"))?;
                let until = field(3)?;
                let leased_until = if until.is_empty() {
                    None
                } else {
                    Some(millis_to_datetime(number(until).ok_or_else(|| unreadable("get", "until"))?))
                };
                let status = field(4)?;
                let response = if status.is_empty() {
                    None
                } else {
                    let status = number(status).and_then(|s| u16::try_from(s).ok());
                    Some(StoredResponse {
                        status: status.ok_or_else(|| unreadable("get", "status"))?,
                        body: field(5)?.to_vec(),
                    })
                };
                Ok(Some(KeyRecord { fingerprint, response, created_at: millis_to_datetime(created), leased_until }))
            }
            other => Err(unreadable("get", &String::from_utf8_lossy(other))),
        }
    }

    /// The decision time of a bucket: the injected clock's, or the `TIME`
    /// of the master that serves the bucket.
    async fn now_for(&self, index: &str) -> Result<i64, InventoryError> {
        if let Some(ms) = self.time.injected_millis() {
            return Ok(ms);
        }
        let mut conn = self.conn.clone();
        let t = conn
            .on_slot(redis::cmd("TIME"), key_slot(index.as_bytes()))
            .await
            .map_err(|e| from_redis(e, Effect::Read))?;
        match t {
            Value::Array(v) if v.len() == 2 => {
                let (s, us) = (v.first().and_then(int), v.get(1).and_then(int));
                match (s, us) {
                    (Some(s), Some(us)) => Ok(s * 1000 + us / 1000),
                    _ => Err(crate::codec::bad("TIME answer")),
                }
            }
            other => Err(crate::codec::bad(format!("TIME answered {other:?}"))),
        }
    }

    async fn reap_older(&self, retention: Duration) -> Result<u64, InventoryError> {
        let mut deleted = 0u64;
        for bucket in 0..IDEMPOTENCY_BUCKETS {
            let index = idempotency_index(&self.prefix, bucket);
            let cutoff = self.now_for(&index).await?.saturating_sub(self.retention_ms(retention) as i64);
            loop {
                let mut conn = self.conn.clone();
                let candidates: Vec<Vec<u8>> = redis::cmd("ZRANGEBYSCORE")
                    .arg(&index)
                    .arg("-inf")
                    .arg(cutoff)
                    .arg("LIMIT")
                    .arg(0)
                    .arg(REAP_PAGE)
                    .query_async(&mut conn)
                    .await
                    .map_err(|e| from_redis(e, Effect::Read))?;
                if candidates.is_empty() {
                    break;
                }
                let mut inv = scripts::LOADED.IDEM_REAP.prepare_invoke();
                inv.key(&index);
                for c in &candidates {
                    inv.key(&c[..]);
                }
                inv.arg(cutoff);
                let v: Value = inv.invoke_async(&mut conn).await.map_err(|e| from_redis(e, Effect::Write))?;
                deleted += Reply::new(v)?.int(1)?.max(0) as u64;
                if candidates.len() < REAP_PAGE {
                    break;
                }
            }
        }
        Ok(deleted)
    }
}

#[async_trait]
impl IdempotencyStore for RedisIdempotencyStore {
    async fn begin(&self, req: &Begin) -> Result<Started, IdempotencyError> {
        self.begin_key(req).await
    }

    async fn finish(
        &self,
        principal: OwnerId,
        key: &IdempotencyKey,
        lease: LeaseId,
        response: &StoredResponse,
    ) -> Result<(), IdempotencyError> {
        self.end("finish", principal, key, lease, Some(response)).await
    }

    async fn release(&self, principal: OwnerId, key: &IdempotencyKey, lease: LeaseId) -> Result<(), IdempotencyError> {
        self.end("release", principal, key, lease, None).await
    }

    async fn get(&self, principal: OwnerId, key: &IdempotencyKey) -> Result<Option<KeyRecord>, IdempotencyError> {
        self.read(principal, key).await
    }

    /// Deletes the records created more than `retention` ago, bucket by
    /// bucket through the buckets' indexes; returns how many. Under the
    /// store's clock records expire by themselves at the configured
    /// retention, so this usually finds nothing left and answers 0.
    async fn reap(&self, retention: Duration) -> Result<u64, IdempotencyError> {
        self.reap_older(retention).await.map_err(failed("reap"))
    }
}

/// The bucket index of a record key (the same hash tag).
fn record_index(prefix: &str, record: &str) -> String {
    let tag = &record[prefix.len()..];
    let end = tag.find("}:").map_or(tag.len(), |i| i + 2);
    format!("{prefix}{}index", &tag[..end])
}

fn hex_bytes(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn parse_fingerprint(hex: &[u8]) -> Option<Fingerprint> {
    let s = std::str::from_utf8(hex).ok()?;
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(Fingerprint(out))
}

/// A fresh lease id (time-ordered and random, as every id of the library).
fn uuid_v7() -> u128 {
    booking_core::HoldId::new().as_u128()
}

/// A failure of the store in `operation`, as the port's error: the text of
/// a [`crate::RedisFailure`] ("Redis, begin: ...").
fn failed(operation: &'static str) -> impl Fn(InventoryError) -> IdempotencyError {
    move |e| {
        let cause: Box<dyn std::error::Error + Send + Sync> = match e {
            InventoryError::Backend(c) | InventoryError::Unavailable(c) | InventoryError::OutcomeUnknown(c) => c,
            other => Box::new(other),
        };
        IdempotencyError::Backend(failure(operation, cause).to_string())
    }
}

fn unreadable(operation: &'static str, what: &str) -> IdempotencyError {
    failed(operation)(crate::codec::bad(format!("idempotency record: {what}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_names_its_bucket_index() {
        let record = idempotency_record("p:", OwnerId::new(), "k:{x}");
        let index = record_index("p:", &record);
        assert_eq!(key_slot(index.as_bytes()), key_slot(record.as_bytes()));
        assert!((0..IDEMPOTENCY_BUCKETS).any(|b| idempotency_index("p:", b) == index), "{index}");
    }

    #[test]
    fn fingerprints_round_trip_as_hex() {
        let fp = Fingerprint(std::array::from_fn(|i| (i * 37) as u8));
        assert_eq!(parse_fingerprint(hex_bytes(&fp.0).as_bytes()), Some(fp));
        assert_eq!(parse_fingerprint(b"zz"), None);
    }
}
