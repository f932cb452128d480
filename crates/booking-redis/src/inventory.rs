//! The inventory handle: what its clones share, how a script is run, the
//! cache of show specifications, and how a script's refusal becomes the
//! port's error.

use crate::coalesce::{self, CoalesceStats};
use crate::codec::{Reply, bad};
use crate::conn::{Conn, Target};
use crate::durability::SaleDurability;
use crate::error::{Effect, StoreError, from_redis};
use crate::keys::{self, ShowKeys, hex};
use crate::show::ShowInfo;
use booking_core::backend::refusal::{Context, Refusal, Refused};
use booking_core::{InventoryError, Result, ShowId, ShowSpec, TimeSource};
use redis::{Script, Value};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Seat inventory on Redis: every operation on a show is one Lua script on
/// the show's Cluster slot. See the crate docs for the key layout, the
/// durability it offers and its capabilities.
///
/// Connects to one server ([`RedisInventory::builder`]) or to a Redis
/// Cluster ([`RedisInventory::cluster_builder`]); the behaviour is the same.
///
/// Cheap to clone: clones share one multiplexed connection (on a Cluster,
/// one per master; concurrent callers are pipelined on it) and one cache of
/// show layouts.
#[derive(Clone)]
pub struct RedisInventory {
    pub(crate) inner: Arc<Inner>,
}

/// What the clones of an inventory share.
pub(crate) struct Inner {
    pub(crate) conn: Conn,
    pub(crate) target: Target,
    pub(crate) prefix: String,
    pub(crate) time: TimeSource,
    pub(crate) feed_max_len: u64,
    pub(crate) feed_block: Duration,
    pub(crate) response_timeout: Duration,
    pub(crate) shows: RwLock<HashMap<ShowId, Arc<ShowInfo>>>,
    pub(crate) lanes: Option<coalesce::Coalescer>,
    pub(crate) durability: Option<SaleDurability>,
}

impl fmt::Debug for RedisInventory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisInventory")
            .field("target", &self.inner.target)
            .field("prefix", &self.inner.prefix)
            .field("time", &self.inner.time)
            .field("feed_max_len", &self.inner.feed_max_len)
            .field("coalesce", &self.inner.lanes.as_ref().map(coalesce::Coalescer::settings))
            .finish_non_exhaustive()
    }
}

impl RedisInventory {
    /// Whether this inventory is on a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self.inner.target, Target::Cluster(_))
    }

    /// The keys of `show` under this inventory's prefix.
    pub fn keys(&self, show: ShowId) -> ShowKeys {
        ShowKeys::new(&self.inner.prefix, show)
    }

    /// What request coalescing ([`crate::RedisInventoryBuilder::coalesce`])
    /// has sent so far: batch script calls, the requests they carried, the
    /// largest batch, the most calls in flight on one show. All zero when
    /// coalescing is off or no request had to wait for a batch.
    pub fn coalesce_stats(&self) -> CoalesceStats {
        self.inner.lanes.as_ref().map(coalesce::Coalescer::stats).unwrap_or_default()
    }

    /// The coalescing lanes, when coalescing is on.
    pub(crate) fn lanes(&self) -> Option<&coalesce::Coalescer> {
        self.inner.lanes.as_ref()
    }

    /// The time argument of a script, as the time source names it: `store`
    /// for the server's `TIME`, else the injected clock's Unix ms.
    pub(crate) fn time_arg(&self) -> String {
        coalesce::time_arg(self.inner.time.injected_millis())
    }

    /// The injected clock's time, or `None` for the store's clock.
    pub(crate) fn injected_now(&self) -> Option<i64> {
        self.inner.time.injected_millis()
    }

    /// How long an owner's index key lives after the owner's latest hold:
    /// the show's maximum hold time, by which every hold of that owner has
    /// ended. Only when the server's clock decides: an injected clock need
    /// not move with the server's, so the index is then kept (0).
    pub(crate) fn owner_index_ttl(&self, info: &ShowInfo) -> i64 {
        match self.inner.time {
            TimeSource::Store => info.spec.policy.max_hold_millis(),
            TimeSource::Injected(_) => 0,
        }
    }

    /// Runs a script by `EVALSHA` (loading it on `NOSCRIPT`).
    pub(crate) async fn run(&self, script: &Script, keys: &[&str], args: Args, effect: Effect) -> Result<Reply> {
        let mut inv = script.prepare_invoke();
        for k in keys {
            inv.key(*k);
        }
        for a in args.0 {
            inv.arg(a);
        }
        let mut conn = self.inner.conn.clone();
        let v: Value = inv.invoke_async(&mut conn).await.map_err(|e| from_redis(e, effect))?;
        Reply::new(v)
    }

    /// The show's cached info, loading its specification from Redis the
    /// first time.
    pub(crate) async fn show(&self, show: ShowId) -> Result<Arc<ShowInfo>> {
        if let Some(info) = self.inner.shows.read().unwrap_or_else(|e| e.into_inner()).get(&show) {
            return Ok(info.clone());
        }
        let keys = self.keys(show);
        let mut conn = self.inner.conn.clone();
        let raw: Option<Vec<u8>> = redis::cmd("HGET")
            .arg(&keys.meta)
            .arg("spec")
            .query_async(&mut conn)
            .await
            .map_err(|e| from_redis(e, Effect::Read))?;
        let raw = raw.ok_or(InventoryError::UnknownShow(show))?;
        let spec: ShowSpec = serde_json::from_slice(&raw).map_err(|e| bad(format!("show spec: {e}")))?;
        if spec.id != show {
            return Err(bad("show spec of another show"));
        }
        Ok(self.remember(spec))
    }

    /// Caches a show's info.
    pub(crate) fn remember(&self, spec: ShowSpec) -> Arc<ShowInfo> {
        let id = spec.id;
        let info = Arc::new(ShowInfo::new(&self.inner.prefix, spec));
        self.inner.shows.write().unwrap_or_else(|e| e.into_inner()).insert(id, info.clone());
        info
    }

    fn forget(&self, show: ShowId) {
        self.inner.shows.write().unwrap_or_else(|e| e.into_inner()).remove(&show);
    }

    /// Adds `show` to the prefix's show index (`listed`), or removes it.
    /// Idempotent. A separate command after the show's own script: on a
    /// Cluster the index is on another slot than the show.
    pub(crate) async fn list(&self, show: ShowId, listed: bool) -> Result<()> {
        let index = keys::show_index(&self.inner.prefix);
        let mut cmd = if listed { redis::cmd("ZADD") } else { redis::cmd("ZREM") };
        cmd.arg(&index);
        if listed {
            cmd.arg(0);
        }
        cmd.arg(hex(show.as_u128()));
        let mut conn = self.inner.conn.clone();
        cmd.query_async::<i64>(&mut conn).await.map_err(|e| from_redis(e, Effect::Write))?;
        Ok(())
    }

    /// Turns a script's refusal into the port's error: the refusal codes
    /// of `booking_core::backend::refusal` through
    /// [`Refused::into_error`], which fills in what the request said
    /// (`ctx`); `LOST` (part of the show's data is gone) into
    /// [`StoreError::DataLost`]. A show the store does not know is dropped
    /// from the cache.
    pub(crate) fn refused(&self, r: &Reply, ctx: &Context) -> InventoryError {
        if r.status() == b"LOST" {
            return match ctx.show {
                Some(show) => StoreError::DataLost { show }.into_inventory(),
                None => bad("a data-loss answer for no show"),
            };
        }
        let Ok(code) = std::str::from_utf8(r.status()) else { return bad("a script status that is not text") };
        let (seats, number) = match r.refusal_data() {
            Ok(data) => data,
            Err(e) => return e,
        };
        match Refused::from_code(code, seats, number) {
            Ok(refused) => {
                if refused.refusal == Refusal::UnknownShow
                    && let Some(show) = ctx.show
                {
                    self.forget(show);
                }
                refused.into_error(ctx)
            }
            Err(unreadable) => InventoryError::Backend(Box::new(unreadable)),
        }
    }
}

/// Script arguments.
pub(crate) struct Args(pub(crate) Vec<Vec<u8>>);

impl Args {
    pub(crate) fn with_capacity(n: usize) -> Self {
        Args(Vec::with_capacity(n))
    }

    pub(crate) fn push(&mut self, v: impl ToString) -> &mut Self {
        self.0.push(v.to_string().into_bytes());
        self
    }

    pub(crate) fn push_bytes(&mut self, v: Vec<u8>) -> &mut Self {
        self.0.push(v);
        self
    }
}
