//! Per-seat advisory locks on Redis: the lock layer of
//! [`LockedInventory`](booking_core::layered::LockedInventory), a lock per
//! seat with a TTL in front of a strongly consistent store
//! (docs/design.md, "Seat lock in front of an inventory").
//!
//! A lock is one key per seat (`<prefix>{<show>}:lock:<seat>`, the show's
//! hash tag, so a multi-seat lock is one script on one Cluster slot)
//! holding the locker's random token. Taking the locks of several seats is
//! all or none; releasing only deletes locks that still hold the
//! releaser's token. Expiry follows the lock's [`TimeSource`]: with the
//! store's clock (the default) a lock key expires by itself (`PX`); with
//! an injected clock the key records its expiry and the lock script
//! decides against the injected now, so tests move the clock past a lock's
//! TTL instead of waiting for it.
//!
//! The lock store is one Redis server ([`RedisSeatLock::builder`]) or a
//! Redis Cluster ([`RedisSeatLock::cluster_builder`]); on a Cluster, a
//! show's locks live on the master that owns the show's slot.

use crate::coalesce::time_arg;
use crate::codec::{Reply, bad};
use crate::conn::{Conn, Target};
use crate::error::{Effect, from_redis, in_operation};
use crate::keys::{ShowKeys, hex};
use crate::{client_for, scripts};
use async_trait::async_trait;
use booking_core::layered::{LockOutcome, LockToken, SeatLock};
use booking_core::{HoldId, InvalidRequest, InventoryError, Result, SeatId, ShowId, TimeSource};
use redis::IntoConnectionInfo;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterConfig;
use std::fmt;
use std::time::Duration;

/// Seat locks on a Redis server or a Redis Cluster (which may be another
/// than the inventory's). Cheap to clone.
#[derive(Clone)]
pub struct RedisSeatLock {
    conn: Conn,
    prefix: String,
    time: TimeSource,
}

impl fmt::Debug for RedisSeatLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cluster = matches!(self.conn, Conn::Cluster(_));
        f.debug_struct("RedisSeatLock")
            .field("prefix", &self.prefix)
            .field("cluster", &cluster)
            .field("time", &self.time)
            .finish_non_exhaustive()
    }
}

/// Configures and connects a [`RedisSeatLock`].
#[must_use = "call build() to connect"]
pub struct RedisSeatLockBuilder {
    target: Target,
    prefix: String,
    time: TimeSource,
    response_timeout: Duration,
    connection_timeout: Duration,
}

impl RedisSeatLockBuilder {
    /// Prefixes every key (default [`crate::DEFAULT_PREFIX`]); no braces.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Which clock decides when a lock expires (docs/design.md, I8). The
    /// default, [`TimeSource::Store`], lets each lock key expire by itself
    /// (`PX`, the Redis server's clock). [`TimeSource::Injected`] sends the
    /// injected clock's time with every request and the lock script
    /// decides expiry against it: for tests, which move a
    /// [`booking_core::ManualClock`] past a lock's TTL instead of waiting.
    pub fn time_source(mut self, time: TimeSource) -> Self {
        self.time = time;
        self
    }

    /// How long a lock request may wait for Redis (default 250 ms). The
    /// lock is on the hot path and optional: a slow lock store should be
    /// passed by quickly, so keep this short.
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// How long connecting (and reconnecting) may take (default 250 ms).
    pub fn connection_timeout(mut self, timeout: Duration) -> Self {
        self.connection_timeout = timeout;
        self
    }

    /// Creates the lock. It connects lazily (on a Cluster: in the
    /// background): a lock store that is down at start only means requests
    /// go without locks until it is back.
    ///
    /// Errors: `InvalidRequest` for a prefix with braces.
    pub async fn build(self) -> Result<RedisSeatLock> {
        self.connect().await.map_err(in_operation("connect"))
    }

    async fn connect(self) -> Result<RedisSeatLock> {
        if self.prefix.contains(['{', '}']) {
            return Err(InvalidRequest::InvalidShow("the key prefix must not contain '{' or '}'".into()).into());
        }
        let conn = match self.target {
            Target::Server(client) => {
                let config = ConnectionManagerConfig::new()
                    .set_response_timeout(Some(self.response_timeout))
                    .set_connection_timeout(Some(self.connection_timeout))
                    .set_number_of_retries(0);
                let conn = ConnectionManager::new_lazy_with_config(client, config)
                    .map_err(|e| InventoryError::Unavailable(Box::new(e)))?;
                Conn::Managed(conn)
            }
            Target::Cluster(nodes) => {
                let client = Target::cluster_client(&nodes, self.response_timeout, self.connection_timeout)?;
                let config = ClusterConfig::new()
                    .set_response_timeout(self.response_timeout)
                    .set_connection_timeout(self.connection_timeout);
                Conn::Cluster(client.get_pending_async_connection_with_config(config))
            }
        };
        Ok(RedisSeatLock { conn, prefix: self.prefix, time: self.time })
    }
}

impl RedisSeatLock {
    /// A builder for the lock store at `url`.
    ///
    /// Errors: `InvalidRequest` for a malformed URL.
    pub fn builder(url: &str) -> Result<RedisSeatLockBuilder> {
        Ok(Self::builder_to(Target::Server(client_for(url)?)))
    }

    /// The lock store at `url` with the defaults.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::builder(url)?.build().await
    }

    /// A builder for a lock store on a Redis Cluster, discovered from the
    /// seed `nodes` (as [`crate::RedisInventory::cluster_builder`], with the
    /// same routing and resending). A multi-seat lock is one script on the
    /// show's slot; a lock request that fails is only a lock not taken.
    ///
    /// Errors: `InvalidRequest` for a malformed URL, no seed at all, or
    /// seeds that disagree on credentials.
    pub fn cluster_builder<T: IntoConnectionInfo>(nodes: impl IntoIterator<Item = T>) -> Result<RedisSeatLockBuilder> {
        Ok(Self::builder_to(Target::cluster(nodes)?))
    }

    /// The lock store on the Redis Cluster with seed `nodes`, with the
    /// defaults.
    pub async fn connect_cluster<T: IntoConnectionInfo>(nodes: impl IntoIterator<Item = T>) -> Result<Self> {
        Self::cluster_builder(nodes)?.build().await
    }

    fn builder_to(target: Target) -> RedisSeatLockBuilder {
        RedisSeatLockBuilder {
            target,
            prefix: crate::DEFAULT_PREFIX.to_owned(),
            time: TimeSource::Store,
            response_timeout: Duration::from_millis(250),
            connection_timeout: Duration::from_millis(250),
        }
    }

    fn lock_keys(&self, show: ShowId, seats: &[SeatId]) -> Vec<String> {
        let keys = ShowKeys::new(&self.prefix, show);
        seats.iter().map(|s| keys.seat_lock(*s)).collect()
    }
}

#[async_trait]
impl SeatLock for RedisSeatLock {
    async fn try_lock(&self, show: ShowId, seats: &[SeatId], ttl: Duration) -> Result<LockOutcome> {
        self.lock(show, seats, ttl).await.map_err(in_operation("try_lock"))
    }

    async fn unlock(&self, show: ShowId, seats: &[SeatId], token: &LockToken) -> Result<()> {
        self.release(show, seats, token).await.map_err(in_operation("unlock"))
    }
}

impl RedisSeatLock {
    async fn lock(&self, show: ShowId, seats: &[SeatId], ttl: Duration) -> Result<LockOutcome> {
        let token = HoldId::new().as_u128();
        if seats.is_empty() {
            return Ok(LockOutcome::Locked(LockToken(token)));
        }
        let mut inv = scripts::LOADED.LOCK.prepare_invoke();
        for k in self.lock_keys(show, seats) {
            inv.key(k);
        }
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        inv.arg(hex(token)).arg(ttl_ms).arg(time_arg(self.time.injected_millis()));
        for s in seats {
            inv.arg(s.0);
        }
        let v = inv.invoke_async(&mut self.conn.clone()).await.map_err(|e| from_redis(e, Effect::Write))?;
        let r = Reply::new(v)?;
        match r.status() {
            b"OK" => Ok(LockOutcome::Locked(LockToken(token))),
            b"BUSY" => Ok(LockOutcome::Busy(r.seats(1)?)),
            other => Err(bad(format!("lock status {}", String::from_utf8_lossy(other)))),
        }
    }

    async fn release(&self, show: ShowId, seats: &[SeatId], token: &LockToken) -> Result<()> {
        if seats.is_empty() {
            return Ok(());
        }
        let mut inv = scripts::LOADED.UNLOCK.prepare_invoke();
        for k in self.lock_keys(show, seats) {
            inv.key(k);
        }
        inv.arg(hex(token.0));
        let v = inv.invoke_async(&mut self.conn.clone()).await.map_err(|e| from_redis(e, Effect::Write))?;
        Reply::new(v).map(|_| ())
    }
}
