#![doc = include_str!("../README.md")]

mod coalesce;
mod codec;
mod conn;
mod durability;
mod error;
mod feed;
pub mod keys;
mod lock;
pub mod scripts;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use coalesce::CoalesceStats;
pub use durability::SaleDurability;
pub use error::StoreError;
pub use keys::{ShowKeys, key_slot};
pub use lock::{RedisSeatLock, RedisSeatLockBuilder};
pub use redis;

use async_trait::async_trait;
use booking_core::clock::millis_to_datetime;
use booking_core::fsm::SeatStatus;
use booking_core::layout::RowRange;
use booking_core::{
    Audit, ChangeStream, Clock, ExpiredHold, Hold, HoldAction, HoldBest, HoldId, HoldItems, HoldPool, HoldSeats,
    HoldToken, InvalidRequest, InventoryError, Limit, OrderId, OwnerId, PoolId, PoolView, PriceCategory, Refund,
    Result, Sale, SaleRecord, SeatId, SeatInventory, SeatView, SectionId, Sell, ShowId, ShowSpec, Snapshot, validate,
};
use codec::{Reply, bad, bytes, hex_id, int};
use conn::{Conn, Target};
use error::{Effect, from_redis};
use keys::hex;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncConnectionConfig, Client, IntoConnectionInfo, Script, Value};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

/// The key prefix used when none is configured.
pub const DEFAULT_PREFIX: &str = "booking:";
/// How many change-feed entries a show's stream keeps (about; trimming is
/// approximate) when not configured.
pub const DEFAULT_FEED_MAX_LEN: u64 = 100_000;

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
    inner: Arc<Inner>,
}

struct Inner {
    conn: Conn,
    target: Target,
    prefix: String,
    clock: Option<Arc<dyn Clock>>,
    feed_max_len: u64,
    feed_block: Duration,
    response_timeout: Duration,
    shows: RwLock<HashMap<ShowId, Arc<ShowInfo>>>,
    coalesce: Option<coalesce::Settings>,
    lanes: OnceLock<coalesce::Coalescer>,
    durability: Option<SaleDurability>,
}

impl fmt::Debug for RedisInventory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisInventory")
            .field("target", &self.inner.target)
            .field("prefix", &self.inner.prefix)
            .field("clock", &self.inner.clock)
            .field("feed_max_len", &self.inner.feed_max_len)
            .field("coalesce", &self.inner.coalesce)
            .finish_non_exhaustive()
    }
}

/// What the library keeps in process about a show: its specification never
/// changes once created, so it is read from Redis once per process.
struct ShowInfo {
    spec: ShowSpec,
    categories: Vec<PriceCategory>,
    keys: ShowKeys,
    /// The rows best-available picks from, as `lua/best.lua` reads them:
    /// all of them (`None`) and per section.
    row_specs: HashMap<Option<SectionId>, String>,
    /// Per price category asked for, its seats as a bitmap (made on first
    /// use).
    category_masks: Mutex<HashMap<PriceCategory, Arc<Vec<u8>>>>,
}

impl ShowInfo {
    fn new(prefix: &str, spec: ShowSpec) -> Self {
        let rows = spec.layout.rows();
        let mut row_specs = HashMap::new();
        row_specs.insert(None, row_spec(rows.iter()));
        for r in &rows {
            row_specs
                .entry(Some(r.section))
                .or_insert_with(|| row_spec(rows.iter().filter(|x| x.section == r.section)));
        }
        ShowInfo {
            categories: spec.layout.seats().into_iter().map(|s| s.category).collect(),
            keys: ShowKeys::new(prefix, spec.id),
            row_specs,
            category_masks: Mutex::new(HashMap::new()),
            spec,
        }
    }

    /// The seats of `category` as a bitmap (bit = seat id, most significant
    /// bit first, as Redis numbers bits).
    fn category_mask(&self, category: PriceCategory) -> Arc<Vec<u8>> {
        let mut masks = self.category_masks.lock().unwrap_or_else(|e| e.into_inner());
        masks
            .entry(category)
            .or_insert_with(|| {
                let mut mask = vec![0u8; self.categories.len().div_ceil(8)];
                for (i, c) in self.categories.iter().enumerate() {
                    if *c == category {
                        mask[i / 8] |= 0x80 >> (i % 8);
                    }
                }
                Arc::new(mask)
            })
            .clone()
    }

    fn seat_count(&self) -> usize {
        self.categories.len()
    }

    fn max_per_owner(&self) -> i64 {
        self.spec.policy.max_held_per_owner.map_or(-1, i64::from)
    }

    fn validate_seats(&self, seats: &[SeatId]) -> Result<Vec<SeatId>> {
        validate::seats(self.spec.id, seats, self.seat_count(), self.spec.policy.max_per_request)
    }

    fn check_pool(&self, pool: PoolId) -> Result<()> {
        if (pool.0 as usize) < self.spec.pools.len() {
            Ok(())
        } else {
            Err(InventoryError::UnknownPool { show: self.spec.id, pool })
        }
    }

    /// Checks a token's (or refund's) items; returns the sorted seats of a
    /// seat hold, `None` for a pool.
    fn check_items(&self, items: &HoldItems) -> Result<Option<Vec<SeatId>>> {
        match items {
            HoldItems::Seats(seats) => Ok(Some(self.validate_seats(seats)?)),
            HoldItems::Pool { pool, quantity } => {
                validate::quantity(*quantity, self.spec.policy.max_per_request)?;
                self.check_pool(*pool)?;
                Ok(None)
            }
        }
    }
}

/// Configures and connects a [`RedisInventory`].
#[must_use = "call build() to connect"]
pub struct RedisInventoryBuilder {
    target: Target,
    prefix: String,
    clock: Option<Arc<dyn Clock>>,
    feed_max_len: u64,
    feed_block: Duration,
    response_timeout: Duration,
    connection_timeout: Duration,
    coalesce: Option<coalesce::Settings>,
    check_eviction: bool,
    durability: Option<SaleDurability>,
}

impl RedisInventoryBuilder {
    /// Prefixes every key (default [`DEFAULT_PREFIX`]). Distinct prefixes
    /// keep inventories apart on one server. It must not contain `{` or
    /// `}`: the hash tag after it is what keeps a show on one Cluster slot.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Decides expiry by `clock` instead of the Redis server's clock: its
    /// Unix-ms time is sent with every request. For tests
    /// ([`booking_core::ManualClock`]); in production leave it unset, so
    /// that one clock (the server's `TIME`) decides every expiry (DESIGN I9).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// How many entries each show's change feed keeps, about (default
    /// [`DEFAULT_FEED_MAX_LEN`], at least 1). A subscriber further behind
    /// than this gets `FeedLagged`.
    pub fn feed_max_len(mut self, entries: u64) -> Self {
        self.feed_max_len = entries.max(1);
        self
    }

    /// How long a request waits for Redis to answer before it fails with
    /// `OutcomeUnknown` (writes) or `Unavailable` (reads). Default 5 s.
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// How long connecting may take. Default 2 s.
    pub fn connection_timeout(mut self, timeout: Duration) -> Self {
        self.connection_timeout = timeout;
        self
    }

    /// How long one blocking read of a change-feed subscriber waits before
    /// it asks again. Default 2 s.
    pub fn feed_block(mut self, block: Duration) -> Self {
        self.feed_block = block.max(Duration::from_millis(1));
        self
    }

    /// Combines concurrent seat holds ([`SeatInventory::hold_seats`], and
    /// the holds of [`SeatInventory::hold_best`]) and concurrent releases of
    /// seat holds on the same show into one call of a batch script each
    /// (`lua/hold_batch.lua`, `lua/release_batch.lua`). The batch script
    /// decides its requests in order, exactly as the single scripts would
    /// one after the other, and every caller still gets its own
    /// all-or-nothing answer; a batch that fails on the way gives each
    /// caller the error its own request would have got (`OutcomeUnknown` /
    /// `Unavailable`), and no request is sent twice.
    ///
    /// A request is sent on its own, as the single script, while fewer
    /// than `alone` requests of its kind on the same show are in flight
    /// (at least 1); beyond that it queues, and the queued requests go as
    /// one batch of at most `max_batch` (clamped to 1..=1000) as soon as
    /// the previous batch of their kind has been answered. So a lone
    /// request, or a few concurrent ones, pay nothing. Unlike
    /// `booking-postgres`'s `coalesce(max_batch, in_flight)`, which bounds
    /// the batches in flight, `alone` counts requests: on Redis a request
    /// that waits for a batch while the server still keeps up only comes
    /// later.
    ///
    /// Off by default; it pays when many callers hold and release on the
    /// same show at once and the Redis thread is the bottleneck: with 50
    /// callers on one show, `coalesce(64, 8)` doubled the single-seat
    /// hold+release throughput against unpipelined clients (see
    /// BENCHMARKS.md).
    ///
    /// The batches are sent by one task per kind of request, spawned on the
    /// tokio runtime of the first request that needs it; that runtime must
    /// outlive the inventory's use (a request queued when it stops gets
    /// `OutcomeUnknown`).
    pub fn coalesce(mut self, max_batch: usize, alone: usize) -> Self {
        self.coalesce =
            Some(coalesce::Settings { max_batch: max_batch.clamp(1, coalesce::MAX_BATCH), alone: alone.max(1) });
        self
    }

    /// Skips the check that the server (every Cluster master) has
    /// `maxmemory-policy noeviction`, for servers that do not let clients
    /// read their configuration (`CONFIG GET` disabled, as on some managed
    /// services). Only when the operator has made sure the policy is
    /// `noeviction`: under any other policy Redis may evict a show's seats
    /// (sold seats would be sold again) or an owner's index (the per-owner
    /// limit would be reset).
    pub fn assume_noeviction(mut self) -> Self {
        self.check_eviction = false;
        self
    }

    /// Makes `sell` (and [`RedisInventory::restore_sale`]) wait until the
    /// sale reached the show's master's append-only file and/or the given
    /// number of replicas, before answering. Off by default: Redis
    /// acknowledges a script once it ran in memory (see the crate docs,
    /// "Durability", for what each persistence setting then keeps).
    ///
    /// - [`SaleDurability::local_aof`]: `WAITAOF 1 <replicas>`: the sale
    ///   is fsynced to the master's append-only file (and that of the
    ///   replicas asked for). Needs Redis 7.2 or newer with `appendonly
    ///   yes` on every master, checked by [`build`](Self::build)
    ///   ([`StoreError::DurabilityUnsupported`] otherwise).
    /// - [`SaleDurability::replicas`]: `WAIT <replicas>`: that many
    ///   replicas received the sale (in memory), so a failover to one of
    ///   them keeps it. Any Redis version.
    ///
    /// When the server does not confirm within the timeout, the call fails
    /// with `OutcomeUnknown` carrying [`StoreError::DurabilityNotConfirmed`]:
    /// the sale was applied, but may not survive a crash; retrying the
    /// `sell` with the same order is a replay that waits again. Only sales
    /// wait: a lost hold only frees its seats.
    pub fn sale_durability(mut self, durability: SaleDurability) -> Self {
        self.durability = Some(durability);
        self
    }

    /// Connects and checks the server answers (on a Cluster: discovers the
    /// nodes and slots from the seeds, connects to every master and checks
    /// each answers), that it cannot evict keys (`maxmemory-policy
    /// noeviction` on every master, unless
    /// [`assume_noeviction`](Self::assume_noeviction)), and that it
    /// supports the [`sale_durability`](Self::sale_durability) asked for.
    ///
    /// Errors: `InvalidRequest` for a prefix with braces, `Unavailable`
    /// when the server (a Cluster node) cannot be reached, `Backend` with a
    /// [`StoreError`] (`EvictionPolicy`, `PolicyUnknown`,
    /// `DurabilityUnsupported`) when a check fails.
    pub async fn build(self) -> Result<RedisInventory> {
        if self.prefix.contains(['{', '}']) {
            return Err(InvalidRequest::InvalidShow("the key prefix must not contain '{' or '}'".into()).into());
        }
        let mut conn = match &self.target {
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
                let conn = client.get_async_connection().await.map_err(|e| InventoryError::Unavailable(Box::new(e)))?;
                Conn::Cluster(conn)
            }
        };
        // On a Cluster, PING goes to every node and succeeds only if all answer.
        let _: Value = redis::cmd("PING").query_async(&mut conn).await.map_err(|e| from_redis(e, Effect::Read))?;
        let server = self.target.addrs().join(",");
        if self.check_eviction {
            durability::check_eviction(&mut conn, &server).await?;
        }
        if let Some(d) = &self.durability {
            durability::check_durability(&mut conn, &server, d).await?;
        }
        Ok(RedisInventory {
            inner: Arc::new(Inner {
                conn,
                target: self.target,
                prefix: self.prefix,
                clock: self.clock,
                feed_max_len: self.feed_max_len,
                feed_block: self.feed_block,
                response_timeout: self.response_timeout,
                shows: RwLock::new(HashMap::new()),
                coalesce: self.coalesce,
                lanes: OnceLock::new(),
                durability: self.durability.filter(SaleDurability::waits),
            }),
        })
    }
}

impl RedisInventory {
    /// A builder for the server at `url` (`redis://host:port/db`), with
    /// `TCP_NODELAY` on.
    ///
    /// Errors: `InvalidRequest` for a malformed URL.
    pub fn builder(url: &str) -> Result<RedisInventoryBuilder> {
        let client = client_for(url)?;
        Ok(Self::builder_for(client))
    }

    /// A builder for an existing client.
    pub fn builder_for(client: Client) -> RedisInventoryBuilder {
        Self::builder_to(Target::Server(client))
    }

    /// A builder for a Redis Cluster, discovered from `nodes` (seed node
    /// URLs, `redis://host:port`, or anything else
    /// `redis::IntoConnectionInfo` accepts, as for
    /// `redis::cluster::ClusterClient::new`; one reachable seed is enough,
    /// the client learns the other nodes and the slot map from it), with
    /// `TCP_NODELAY` on.
    ///
    /// Each operation goes to the master that owns the show's slot; shows
    /// spread over the masters by their id. A request whose connection
    /// broke or timed out after it was sent is never sent again: it gives
    /// `OutcomeUnknown`, as on one server. Answers proving a request did not
    /// run (`MOVED`, `ASK`, `TRYAGAIN`, `CLUSTERDOWN`) are sent again a few
    /// times over about 150 ms (on `MOVED` the client refreshes its slot
    /// map, so a show moved by a resharding keeps working), then give
    /// `Unavailable`. See the crate docs, "Redis Cluster".
    ///
    /// ```rust,no_run
    /// # async fn demo() -> booking_core::Result<()> {
    /// use booking_redis::RedisInventory;
    ///
    /// let inventory = RedisInventory::cluster_builder(["redis://10.0.0.1:7000", "redis://10.0.0.2:7000"])?
    ///     .prefix("tickets:")
    ///     .build()
    ///     .await?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// Errors: `InvalidRequest` for a malformed URL, no seed at all, or
    /// seeds that disagree on credentials.
    pub fn cluster_builder<T: IntoConnectionInfo>(nodes: impl IntoIterator<Item = T>) -> Result<RedisInventoryBuilder> {
        Ok(Self::builder_to(Target::cluster(nodes)?))
    }

    /// Connects to the Redis Cluster with seed `nodes` with the defaults
    /// (see [`RedisInventory::cluster_builder`]).
    pub async fn connect_cluster<T: IntoConnectionInfo>(nodes: impl IntoIterator<Item = T>) -> Result<Self> {
        Self::cluster_builder(nodes)?.build().await
    }

    /// Whether this inventory is on a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self.inner.target, Target::Cluster(_))
    }

    fn builder_to(target: Target) -> RedisInventoryBuilder {
        RedisInventoryBuilder {
            target,
            prefix: DEFAULT_PREFIX.to_owned(),
            clock: None,
            feed_max_len: DEFAULT_FEED_MAX_LEN,
            feed_block: Duration::from_secs(2),
            response_timeout: Duration::from_secs(5),
            connection_timeout: Duration::from_secs(2),
            coalesce: None,
            check_eviction: true,
            durability: None,
        }
    }

    /// Connects to `url` with the defaults: prefix [`DEFAULT_PREFIX`], the
    /// server's clock.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::builder(url)?.build().await
    }

    /// Puts a sale back from the application's durable order log, after
    /// Redis lost it (a crash under `appendfsync everysec`, a failover to a
    /// replica that had not received it; see the crate docs,
    /// "Durability"). Idempotent and keyed by the order: replaying a whole
    /// order log after a loss restores what was lost and leaves the rest.
    ///
    /// `record` is the order's [`SaleRecord`] as the application logged it
    /// (what `sell` answered, with the token and payment it was sold with);
    /// it is written back as the order's sale record, so replays of the
    /// sell are answered as before the loss.
    ///
    /// Seats: each seat of `record.sale.items` that is already sold to
    /// `record.sale.order` is left alone; each one available, held under an
    /// expired hold, or held under the sale's own hold (`record.token.hold`:
    /// the hold survived the loss, its sale did not) is sold to the order,
    /// at a new version (1 + the highest of theirs), with a `Sold` change
    /// on the feed. A seat in any other state (sold to another order,
    /// blocked, held live by another hold) refuses the whole restore with
    /// `SeatsTaken` naming those seats: someone else got it after the loss,
    /// and only the application can settle that.
    ///
    /// Pool units: a sale from the same hold already recorded for the order
    /// is left alone; a surviving record of the sale's own hold becomes the
    /// sale; otherwise the units are sold if the pool has that many free
    /// (`InsufficientCapacity` if not).
    ///
    /// Pass each order's items as the log has them now: a seat refunded
    /// after the sale is available again, and restoring the original items
    /// would sell it again. Waits for [`RedisInventoryBuilder::sale_durability`]
    /// as `sell` does.
    ///
    /// Errors: `UnknownShow`, `InvalidRequest(TokenMismatch)` (the token
    /// is for another show or other items than the sale),
    /// `InvalidRequest(BadPaymentRef)`, `UnknownSeat`/`UnknownPool`,
    /// `SeatsTaken`, `InsufficientCapacity`, `SaleConflict` (Redis has
    /// another sale record for the order), [`StoreError::DataLost`].
    pub async fn restore_sale(&self, record: &SaleRecord) -> Result<Restored> {
        let (sale, t) = (&record.sale, &record.token);
        let info = self.show(sale.show).await?;
        if t.show != sale.show || t.items != sale.items {
            return Err(InvalidRequest::TokenMismatch.into());
        }
        validate::payment(&record.payment)?;
        let k = &info.keys;
        let mut args = Args::with_capacity(8);
        args.push(self.now_arg())
            .push(hex(sale.owner.as_u128()))
            .push(hex(t.hold.as_u128()))
            .push(hex(sale.order.as_u128()))
            .push(codec::encode_record(record)?)
            .push(self.inner.feed_max_len);
        let ctx = Ctx { order: Some(sale.order), ..Ctx::new(sale.show) };
        let (r, ctx) = match info.check_items(&sale.items)? {
            Some(seats) => {
                for s in &seats {
                    args.push(s.0);
                }
                let keys = [&*k.meta, &k.seats, &k.seat_expiry, &k.orders, &k.feed, &k.free];
                (self.run_sale(&scripts::LOADED.RESTORE, &keys, args).await?, ctx)
            }
            None => {
                let HoldItems::Pool { pool, quantity } = sale.items else { return Err(bad("pool sale expected")) };
                args.push(pool.0).push(quantity);
                let keys = [&*k.meta, &k.pools, &k.pool_holds, &k.pool_expiry, &k.pool_sales, &k.orders, &k.feed];
                (self.run_sale(&scripts::LOADED.RESTORE_POOL, &keys, args).await?, Ctx { pool, ..ctx })
            }
        };
        match r.status() {
            b"OK" => Ok(Restored::Applied { version: r.int(1)? as u64 }),
            b"ALREADY" => Ok(Restored::AlreadySold),
            _ => Err(self.refused(&r, ctx)),
        }
    }

    /// Runs a script that may sell (`sell`, `restore_sale`) and, when the
    /// builder asked for [`SaleDurability`], waits for the sale to reach the
    /// append-only file or the replicas before answering.
    ///
    /// On one server the wait is sent in one pipeline with the script, on
    /// the same connection: `WAIT`/`WAITAOF` wait for the connection's own
    /// latest write, which a reconnection between the two would lose. On a
    /// Cluster the wait goes, after the script's answer, to the master of
    /// the show's slot.
    async fn run_sale(&self, script: &Script, keys: &[&str], args: Args) -> Result<Reply> {
        let Some(d) = self.inner.durability else { return self.run(script, keys, args, Effect::Write).await };
        let applied = |r: &Reply| matches!(r.status(), b"OK" | b"ALREADY" | b"RECORD");
        let unconfirmed = |e: redis::RedisError| InventoryError::OutcomeUnknown(Box::new(e));
        let mut conn = self.inner.conn.clone();
        if let Conn::Cluster(_) = conn {
            let r = self.run(script, keys, args, Effect::Write).await?;
            if applied(&r) {
                let slot = key_slot(keys[0].as_bytes());
                let answer = conn.on_slot(d.command(), slot).await.map_err(unconfirmed)?;
                d.confirmed(&answer)?;
            }
            return Ok(r);
        }
        let mut eval = redis::cmd("EVALSHA");
        eval.arg(script.get_hash()).arg(keys.len());
        for key in keys {
            eval.arg(*key);
        }
        for a in &args.0 {
            eval.arg(&a[..]);
        }
        let mut pipe = redis::pipe();
        pipe.add_command(eval).add_command(d.command()).ignore_errors();
        let mut loaded = false;
        loop {
            let answers: Vec<Value> = pipe.query_async(&mut conn).await.map_err(|e| from_redis(e, Effect::Write))?;
            let [ran, waited]: [Value; 2] =
                answers.try_into().map_err(|a| bad(format!("sale pipeline answered {a:?}")))?;
            let ran = match ran {
                Value::ServerError(e) => {
                    let e = redis::RedisError::from(e);
                    if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) && !loaded {
                        // Nothing ran: load the script and send both again.
                        script.prepare_invoke().load_async(&mut conn).await.map_err(|e| from_redis(e, Effect::Read))?;
                        loaded = true;
                        continue;
                    }
                    return Err(from_redis(e, Effect::Write));
                }
                v => Reply::new(v)?,
            };
            if applied(&ran) {
                match waited {
                    Value::ServerError(e) => return Err(unconfirmed(e.into())),
                    answer => d.confirmed(&answer)?,
                }
            }
            return Ok(ran);
        }
    }

    /// The coalescing lanes, started on first use, when enabled.
    fn lanes(&self) -> Option<&coalesce::Coalescer> {
        let settings = self.inner.coalesce?;
        Some(self.inner.lanes.get_or_init(|| {
            let config =
                coalesce::Config { feed_max_len: self.inner.feed_max_len, injected_clock: self.inner.clock.is_some() };
            coalesce::Coalescer::start(self.inner.conn.clone(), config, settings)
        }))
    }

    /// What request coalescing ([`RedisInventoryBuilder::coalesce`]) has
    /// sent so far: batch script calls, the requests they carried, the
    /// largest batch. All zero when coalescing is off or no request had to
    /// wait for a batch.
    pub fn coalesce_stats(&self) -> CoalesceStats {
        self.inner.lanes.get().map(coalesce::Coalescer::stats).unwrap_or_default()
    }

    /// The keys of `show` under this inventory's prefix.
    pub fn keys(&self, show: ShowId) -> ShowKeys {
        ShowKeys::new(&self.inner.prefix, show)
    }

    /// The time argument of a script: the injected clock's, or empty for
    /// the server's `TIME`.
    fn now_arg(&self) -> String {
        self.now_millis().map(|ms| ms.to_string()).unwrap_or_default()
    }

    /// The injected clock's time, or `None` for the server's `TIME`.
    fn now_millis(&self) -> Option<i64> {
        self.inner.clock.as_ref().map(|c| c.now_millis())
    }

    async fn run(&self, script: &Script, keys: &[&str], args: Args, effect: Effect) -> Result<Reply> {
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

    /// The show's cached info, loading it from Redis the first time.
    async fn show(&self, show: ShowId) -> Result<Arc<ShowInfo>> {
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
        let info = Arc::new(ShowInfo::new(&self.inner.prefix, spec));
        self.inner.shows.write().unwrap_or_else(|e| e.into_inner()).insert(show, info.clone());
        Ok(info)
    }

    fn forget(&self, show: ShowId) {
        self.inner.shows.write().unwrap_or_else(|e| e.into_inner()).remove(&show);
    }

    /// How long an owner's index key lives after the owner's latest hold:
    /// the show's maximum hold time, by which every hold of that owner has
    /// ended. Only when the server's clock decides: an injected clock need
    /// not move with the server's, so the index is then kept.
    fn owner_index_ttl(&self, info: &ShowInfo) -> i64 {
        if self.inner.clock.is_some() { 0 } else { info.spec.policy.max_hold_millis() }
    }

    /// Turns a script's refusal into the port's error.
    fn refused(&self, r: &Reply, ctx: Ctx) -> InventoryError {
        match r.status() {
            b"NOSHOW" => {
                self.forget(ctx.show);
                InventoryError::UnknownShow(ctx.show)
            }
            b"LOST" => StoreError::DataLost { show: ctx.show }.into_inventory(),
            b"EXISTS" => InventoryError::ShowExists(ctx.show),
            b"EXPIRED" => InventoryError::HoldExpired { hold: ctx.hold() },
            b"NOTOWNER" => InventoryError::NotOwner { hold: ctx.hold() },
            b"STALE" => match r.int(1) {
                Ok(current) => {
                    InventoryError::StaleToken { hold: ctx.hold(), presented: ctx.version, current: current as u64 }
                }
                Err(e) => e,
            },
            b"RENEWALS" => InventoryError::LimitExceeded(Limit::Renewals { max: ctx.max_renewals }),
            b"LIFETIME" => InventoryError::LimitExceeded(Limit::HoldLifetime),
            b"MISMATCH" => InvalidRequest::TokenMismatch.into(),
            b"LIMIT" => match (r.int(1), r.int(2)) {
                (Ok(would_hold), Ok(max)) => InventoryError::LimitExceeded(Limit::HeldPerOwner {
                    would_hold: would_hold as u32,
                    max: max as u32,
                }),
                (Err(e), _) | (_, Err(e)) => e,
            },
            b"TAKEN" => match r.seats(1) {
                Ok(seats) => InventoryError::SeatsTaken { seats },
                Err(e) => e,
            },
            b"WRONG" => match r.seats(1) {
                Ok(seats) => InventoryError::WrongState { seats },
                Err(e) => e,
            },
            b"CAPACITY" => match (r.int(1), r.int(2)) {
                (Ok(requested), Ok(available)) => InventoryError::InsufficientCapacity {
                    pool: ctx.pool,
                    requested: requested as u32,
                    available: available as u32,
                },
                (Err(e), _) | (_, Err(e)) => e,
            },
            b"NOTSOLD" => InventoryError::NotSold { order: ctx.order.unwrap_or(OrderId::from_u128(0)) },
            b"CONFLICT" => InventoryError::SaleConflict { order: ctx.order.unwrap_or(OrderId::from_u128(0)) },
            other => bad(format!("script status {}", String::from_utf8_lossy(other))),
        }
    }

    /// Holds validated (sorted, unique, known) seats.
    async fn hold_validated(&self, info: &Arc<ShowInfo>, owner: OwnerId, seats: Vec<SeatId>) -> Result<Hold> {
        let hold = HoldId::new();
        let k = &info.keys;
        let policy = &info.spec.policy;
        let lanes = self.lanes();
        let active = lanes.map(|l| l.holds.enter(info.spec.id));
        let r = match (lanes, &active) {
            (Some(lanes), Some((_, true))) => {
                let job = |reply| coalesce::Job {
                    info: info.clone(),
                    now: self.now_millis(),
                    owner,
                    hold,
                    version: 0,
                    seats: seats.clone(),
                    reply,
                };
                lanes.holds.send(job).await?
            }
            _ => {
                let mut args = Args::with_capacity(8 + seats.len());
                args.push(self.now_arg())
                    .push(hex(owner.as_u128()))
                    .push(hex(hold.as_u128()))
                    .push(policy.ttl_millis())
                    .push(policy.max_hold_millis())
                    .push(info.max_per_owner())
                    .push(self.inner.feed_max_len)
                    .push(self.owner_index_ttl(info));
                for s in &seats {
                    args.push(s.0);
                }
                let owner_key = k.owner(owner);
                let keys = [&*k.meta, &k.seats, &k.seat_expiry, &owner_key, &k.pool_holds, &k.feed, &k.free];
                self.run(&scripts::LOADED.HOLD, &keys, args, Effect::Write).await?
            }
        };
        drop(active);
        if r.status() != b"OK" {
            return Err(self.refused(&r, Ctx::new(info.spec.id)));
        }
        Ok(Hold {
            token: HoldToken { show: info.spec.id, hold, version: r.int(1)? as u64, items: HoldItems::Seats(seats) },
            owner,
            held_until: millis_to_datetime(r.int(2)?),
            renewals: 0,
        })
    }

    /// Reads the show's state through the snapshot script.
    async fn read(&self, info: &ShowInfo, pools: bool) -> Result<RawState> {
        let k = &info.keys;
        let mut args = Args::with_capacity(2);
        args.push(self.now_arg()).push(u8::from(pools));
        let keys = [&*k.meta, &k.seats, &k.pools, &k.pool_holds, &k.pool_expiry];
        let r = self.run(&scripts::LOADED.SNAPSHOT, &keys, args, Effect::Read).await?;
        if r.status() != b"OK" {
            return Err(self.refused(&r, Ctx::new(info.spec.id)));
        }
        let now = r.int(1)?;
        let mut seats = vec![(0u64, SeatStatus::Available); info.seat_count()];
        for pair in r.list(3)?.chunks(2) {
            let [field, value] = pair else { return Err(bad("seat hash")) };
            if bytes(field) == Some(b"#") {
                continue;
            }
            let id = int(field).ok_or_else(|| bad("seat field"))? as usize;
            let state = bytes(value).and_then(|v| codec::seat_status(v, now)).ok_or_else(|| bad("seat state"))?;
            if let Some(slot) = seats.get_mut(id) {
                *slot = state;
            }
        }
        let mut pool_fields: HashMap<Vec<u8>, i64> = HashMap::new();
        for pair in r.list(4)?.chunks(2) {
            if let [f, v] = pair {
                pool_fields.insert(bytes(f).unwrap_or_default().to_vec(), int(v).unwrap_or(0));
            }
        }
        // The counters' held units are as of the pools' time: less the
        // holds expired since, plus those live again (an injected clock set
        // back).
        let mut expired = vec![0i64; info.spec.pools.len()];
        for (i, sign) in [(5, 1), (6, -1)] {
            for raw in r.list(i)? {
                let (pool, qty) = bytes(raw).and_then(codec::pool_hold_units).ok_or_else(|| bad("pool hold"))?;
                if let Some(e) = expired.get_mut(pool as usize) {
                    *e += sign * i64::from(qty);
                }
            }
        }
        let pools = if pools {
            (0..info.spec.pools.len())
                .map(|i| {
                    let get = |f: &str| pool_fields.get(format!("{f}:{i}").as_bytes()).copied().unwrap_or(0);
                    let capacity = get("c").max(0) as u32;
                    let sold = get("s").max(0) as u32;
                    let held = (get("h") - expired[i]).max(0) as u32;
                    PoolView {
                        pool: PoolId(i as u32),
                        capacity,
                        held,
                        sold,
                        available: capacity.saturating_sub(sold).saturating_sub(held),
                    }
                })
                .collect()
        } else {
            Vec::new()
        };
        Ok(RawState { seats, pools })
    }

    async fn seat_hold_action(
        &self,
        info: &Arc<ShowInfo>,
        req: &HoldAction,
        seats: Vec<SeatId>,
        extend: bool,
    ) -> Result<Reply> {
        let k = &info.keys;
        let t = &req.token;
        let policy = &info.spec.policy;
        let lanes = if extend { None } else { self.lanes() };
        let active = lanes.map(|l| l.releases.enter(info.spec.id));
        if let (Some(lanes), Some((_, true))) = (lanes, &active) {
            let job = |reply| coalesce::Job {
                info: info.clone(),
                now: self.now_millis(),
                owner: req.owner,
                hold: t.hold,
                version: t.version,
                seats,
                reply,
            };
            let r = lanes.releases.send(job).await?;
            if r.status() != b"OK" {
                return Err(self.refused(&r, Ctx::for_token(t, policy.max_renewals)));
            }
            return Ok(r);
        }
        let mut args = Args::with_capacity(8 + seats.len());
        args.push(self.now_arg()).push(hex(req.owner.as_u128())).push(hex(t.hold.as_u128())).push(t.version);
        let (script, keys) = if extend {
            args.push(policy.ttl_millis()).push(policy.max_renewals).push(self.inner.feed_max_len);
            (&scripts::LOADED.EXTEND, [&*k.meta, &k.seats, &k.seat_expiry, &k.feed, &k.free])
        } else {
            args.push(self.inner.feed_max_len);
            (&scripts::LOADED.RELEASE, [&*k.meta, &k.seats, &k.seat_expiry, &k.feed, &k.free])
        };
        for s in &seats {
            args.push(s.0);
        }
        let r = self.run(script, &keys, args, Effect::Write).await?;
        if r.status() != b"OK" {
            return Err(self.refused(&r, Ctx::for_token(t, policy.max_renewals)));
        }
        Ok(r)
    }

    async fn pool_hold_action(&self, info: &ShowInfo, req: &HoldAction, extend: bool) -> Result<Reply> {
        let k = &info.keys;
        let t = &req.token;
        let HoldItems::Pool { pool, quantity } = t.items else { return Err(bad("pool token expected")) };
        let policy = &info.spec.policy;
        let mut args = Args::with_capacity(9);
        args.push(self.now_arg()).push(hex(req.owner.as_u128())).push(hex(t.hold.as_u128())).push(t.version);
        let script = if extend {
            args.push(policy.ttl_millis()).push(policy.max_renewals).push(self.inner.feed_max_len);
            &scripts::LOADED.EXTEND_POOL
        } else {
            args.push(self.inner.feed_max_len);
            &scripts::LOADED.RELEASE_POOL
        };
        args.push(pool.0).push(quantity);
        let keys = [&*k.meta, &k.pools, &k.pool_holds, &k.pool_expiry, &k.feed];
        let r = self.run(script, &keys, args, Effect::Write).await?;
        if r.status() != b"OK" {
            return Err(self.refused(&r, Ctx::for_token(t, policy.max_renewals)));
        }
        Ok(r)
    }

    async fn block_or_unblock(&self, show: ShowId, seats: &[SeatId], block: bool) -> Result<()> {
        let info = self.show(show).await?;
        // Blocking is an operator action: the per-request maximum does not apply.
        let seats = validate::seats(show, seats, info.seat_count(), u32::MAX)?;
        let k = &info.keys;
        let mut args = Args::with_capacity(3 + seats.len());
        args.push(self.now_arg()).push(if block { "B" } else { "U" }).push(self.inner.feed_max_len);
        for s in &seats {
            args.push(s.0);
        }
        let keys = [&*k.meta, &k.seats, &k.seat_expiry, &k.feed, &k.free];
        let r = self.run(&scripts::LOADED.BLOCK, &keys, args, Effect::Write).await?;
        if r.status() != b"OK" {
            return Err(self.refused(&r, Ctx::new(show)));
        }
        Ok(())
    }
}

/// Rows as `lua/best.lua` reads them: `first:len:count` per run of
/// consecutive rows of one length, comma-separated, best first.
fn row_spec<'a>(rows: impl Iterator<Item = &'a RowRange>) -> String {
    let mut runs: Vec<(u32, u32, u32)> = Vec::new();
    for r in rows {
        match runs.last_mut() {
            Some((first, len, count)) if *len == r.len && *first + *len * *count == r.first.0 => *count += 1,
            _ => runs.push((r.first.0, r.len, 1)),
        }
    }
    runs.iter().map(|(first, len, count)| format!("{first}:{len}:{count}")).collect::<Vec<_>>().join(",")
}

/// A client for `url`, with `TCP_NODELAY` set: requests are small and
/// latency-bound, and a multiplexed connection writes many of them back to
/// back.
pub(crate) fn client_for(url: &str) -> Result<Client> {
    let bad_url = |e: redis::RedisError| InventoryError::InvalidRequest(InvalidRequest::InvalidShow(e.to_string()));
    let info = url.into_connection_info().map_err(bad_url)?.set_tcp_settings(conn::nodelay());
    Client::open(info).map_err(bad_url)
}

/// What [`RedisInventory::restore_sale`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Restored {
    /// The sale (or the part of it Redis had lost) was put back; its seats
    /// (or its pool) are now at this version.
    Applied {
        /// The seats' (or pool's) version after the restore.
        version: u64,
    },
    /// Redis still had the whole sale: nothing changed.
    AlreadySold,
}

/// A show's state as read by the snapshot script.
struct RawState {
    /// Each seat's version and status, by seat id.
    seats: Vec<(u64, SeatStatus)>,
    pools: Vec<PoolView>,
}

/// Script arguments.
struct Args(Vec<Vec<u8>>);

impl Args {
    fn with_capacity(n: usize) -> Self {
        Args(Vec::with_capacity(n))
    }

    fn push(&mut self, v: impl ToString) -> &mut Self {
        self.0.push(v.to_string().into_bytes());
        self
    }

    fn push_bytes(&mut self, v: Vec<u8>) -> &mut Self {
        self.0.push(v);
        self
    }
}

/// What a refusal's error needs to name.
#[derive(Clone, Copy)]
struct Ctx {
    show: ShowId,
    hold: Option<HoldId>,
    version: u64,
    max_renewals: u32,
    pool: PoolId,
    order: Option<OrderId>,
}

impl Ctx {
    fn new(show: ShowId) -> Self {
        Ctx { show, hold: None, version: 0, max_renewals: 0, pool: PoolId(0), order: None }
    }

    fn for_token(t: &HoldToken, max_renewals: u32) -> Self {
        Ctx { hold: Some(t.hold), version: t.version, max_renewals, ..Ctx::new(t.show) }
    }

    fn hold(&self) -> HoldId {
        self.hold.unwrap_or(HoldId::from_u128(0))
    }
}

#[async_trait]
impl SeatInventory for RedisInventory {
    async fn create_show(&self, show: &ShowSpec) -> Result<()> {
        show.validate()?;
        let json = serde_json::to_string(show).map_err(|e| bad(format!("show spec: {e}")))?;
        let k = self.keys(show.id);
        let mut args = Args::with_capacity(2 + show.pools.len());
        args.push(json).push(show.layout.seat_count());
        for p in &show.pools {
            args.push(p.capacity);
        }
        let r = self.run(&scripts::LOADED.CREATE, &[&k.meta, &k.pools, &k.seats, &k.free], args, Effect::Write).await?;
        if r.status() != b"OK" {
            return Err(self.refused(&r, Ctx::new(show.id)));
        }
        let info = Arc::new(ShowInfo::new(&self.inner.prefix, show.clone()));
        self.inner.shows.write().unwrap_or_else(|e| e.into_inner()).insert(show.id, info);
        Ok(())
    }

    async fn hold_seats(&self, req: &HoldSeats) -> Result<Hold> {
        let info = self.show(req.show).await?;
        let seats = info.validate_seats(&req.seats)?;
        self.hold_validated(&info, req.owner, seats).await
    }

    async fn hold_best(&self, req: &HoldBest) -> Result<Hold> {
        let info = self.show(req.show).await?;
        validate::quantity(req.quantity, info.spec.policy.max_per_request)?;
        // A section the show does not have: no row, no seat matches (after
        // the owner limit, checked first).
        let rows = info.row_specs.get(&req.section).map_or("", String::as_str);
        let hold = HoldId::new();
        let k = &info.keys;
        let policy = &info.spec.policy;
        let mut args = Args::with_capacity(11);
        args.push(self.now_arg())
            .push(hex(req.owner.as_u128()))
            .push(hex(hold.as_u128()))
            .push(policy.ttl_millis())
            .push(policy.max_hold_millis())
            .push(info.max_per_owner())
            .push(self.inner.feed_max_len)
            .push(self.owner_index_ttl(&info))
            .push(req.quantity)
            .push(rows);
        match req.category {
            Some(c) => args.push_bytes(info.category_mask(c).to_vec()),
            None => args.push(""),
        };
        let owner_key = k.owner(req.owner);
        let keys = [&*k.meta, &k.seats, &k.seat_expiry, &owner_key, &k.pool_holds, &k.feed, &k.free];
        let r = self.run(&scripts::LOADED.BEST, &keys, args, Effect::Write).await?;
        match r.status() {
            b"OK" => {}
            b"NOSEATS" => {
                // The model checks the owner limit first; the script did.
                return Err(InventoryError::NoSeatsAvailable { requested: req.quantity });
            }
            _ => return Err(self.refused(&r, Ctx::new(req.show))),
        }
        let mut seats = r.seats(3)?;
        seats.sort_unstable();
        Ok(Hold {
            token: HoldToken { show: req.show, hold, version: r.int(1)? as u64, items: HoldItems::Seats(seats) },
            owner: req.owner,
            held_until: millis_to_datetime(r.int(2)?),
            renewals: 0,
        })
    }

    async fn hold_pool(&self, req: &HoldPool) -> Result<Hold> {
        let info = self.show(req.show).await?;
        validate::quantity(req.quantity, info.spec.policy.max_per_request)?;
        info.check_pool(req.pool)?;
        let hold = HoldId::new();
        let k = &info.keys;
        let policy = &info.spec.policy;
        let mut args = Args::with_capacity(9);
        args.push(self.now_arg())
            .push(hex(req.owner.as_u128()))
            .push(hex(hold.as_u128()))
            .push(policy.ttl_millis())
            .push(policy.max_hold_millis())
            .push(info.max_per_owner())
            .push(self.inner.feed_max_len)
            .push(req.pool.0)
            .push(req.quantity)
            .push(self.owner_index_ttl(&info));
        let owner_key = k.owner(req.owner);
        let keys = [&*k.meta, &k.pools, &k.pool_holds, &k.pool_expiry, &owner_key, &k.seats, &k.feed];
        let r = self.run(&scripts::LOADED.HOLD_POOL, &keys, args, Effect::Write).await?;
        if r.status() != b"OK" {
            return Err(self.refused(&r, Ctx { pool: req.pool, ..Ctx::new(req.show) }));
        }
        Ok(Hold {
            token: HoldToken {
                show: req.show,
                hold,
                version: r.int(1)? as u64,
                items: HoldItems::Pool { pool: req.pool, quantity: req.quantity },
            },
            owner: req.owner,
            held_until: millis_to_datetime(r.int(2)?),
            renewals: 0,
        })
    }

    async fn extend(&self, req: &HoldAction) -> Result<Hold> {
        let t = &req.token;
        let info = self.show(t.show).await?;
        let (r, items) = match info.check_items(&t.items)? {
            Some(seats) => {
                let r = self.seat_hold_action(&info, req, seats.clone(), true).await?;
                (r, HoldItems::Seats(seats))
            }
            None => (self.pool_hold_action(&info, req, true).await?, t.items.clone()),
        };
        Ok(Hold {
            token: HoldToken { show: t.show, hold: t.hold, version: r.int(1)? as u64, items },
            owner: req.owner,
            held_until: millis_to_datetime(r.int(2)?),
            renewals: r.int(3)? as u32,
        })
    }

    async fn release(&self, req: &HoldAction) -> Result<()> {
        let info = self.show(req.token.show).await?;
        match info.check_items(&req.token.items)? {
            Some(seats) => self.seat_hold_action(&info, req, seats, false).await?,
            None => self.pool_hold_action(&info, req, false).await?,
        };
        Ok(())
    }

    async fn sell(&self, req: &Sell) -> Result<Sale> {
        let t = &req.token;
        let info = self.show(t.show).await?;
        validate::payment(&req.payment)?;
        let k = &info.keys;
        let mut args = Args::with_capacity(9);
        args.push(self.now_arg())
            .push(hex(req.owner.as_u128()))
            .push(hex(t.hold.as_u128()))
            .push(t.version)
            .push(hex(req.order.as_u128()))
            .push(codec::record_parts(req.owner, t, &req.payment)?)
            .push(self.inner.feed_max_len);
        let r = match info.check_items(&t.items)? {
            Some(seats) => {
                for s in &seats {
                    args.push(s.0);
                }
                let keys = [&*k.meta, &k.seats, &k.seat_expiry, &k.orders, &k.feed, &k.free];
                self.run_sale(&scripts::LOADED.SELL, &keys, args).await?
            }
            None => {
                let HoldItems::Pool { pool, quantity } = t.items else { return Err(bad("pool token expected")) };
                args.push(pool.0).push(quantity);
                let keys = [&*k.meta, &k.pools, &k.pool_holds, &k.pool_expiry, &k.pool_sales, &k.orders, &k.feed];
                self.run_sale(&scripts::LOADED.SELL_POOL, &keys, args).await?
            }
        };
        match r.status() {
            b"OK" => Ok(Sale {
                show: t.show,
                order: req.order,
                owner: req.owner,
                items: t.items.clone(),
                version: r.int(1)? as u64,
            }),
            // The order was sold before: the record answers.
            b"RECORD" => codec::decode_record(t.show, req.order, r.bytes(1)?)?.replay(req),
            _ => Err(self.refused(&r, Ctx::for_token(t, 0))),
        }
    }

    async fn verify(&self, req: &HoldAction) -> Result<Hold> {
        let t = &req.token;
        let info = self.show(t.show).await?;
        let k = &info.keys;
        let mut args = Args::with_capacity(8);
        args.push(self.now_arg()).push(hex(req.owner.as_u128())).push(hex(t.hold.as_u128())).push(t.version);
        let ctx = Ctx::for_token(t, info.spec.policy.max_renewals);
        match info.check_items(&t.items)? {
            Some(seats) => {
                for s in &seats {
                    args.push(s.0);
                }
                let r = self.run(&scripts::LOADED.VERIFY, &[&k.meta, &k.seats], args, Effect::Read).await?;
                if r.status() != b"OK" {
                    return Err(self.refused(&r, ctx));
                }
                Ok(Hold::from_parts(t.show, req.owner, t.hold, t.version, t.items.clone(), r.int(1)?, r.int(2)? as u32))
            }
            None => {
                let HoldItems::Pool { pool, quantity } = t.items else { return Err(bad("pool token expected")) };
                args.push(pool.0).push(quantity);
                let keys = [&*k.meta, &k.pools, &k.pool_holds];
                let r = self.run(&scripts::LOADED.VERIFY_POOL, &keys, args, Effect::Read).await?;
                if r.status() != b"OK" {
                    return Err(self.refused(&r, ctx));
                }
                let version = r.int(1)? as u64;
                Ok(Hold::from_parts(t.show, req.owner, t.hold, version, t.items.clone(), r.int(2)?, r.int(3)? as u32))
            }
        }
    }

    async fn refund(&self, req: &Refund) -> Result<()> {
        let info = self.show(req.show).await?;
        let k = &info.keys;
        let mut args = Args::with_capacity(4);
        args.push(hex(req.order.as_u128())).push(self.inner.feed_max_len);
        let r = match info.check_items(&req.items)? {
            Some(seats) => {
                for s in &seats {
                    args.push(s.0);
                }
                self.run(&scripts::LOADED.REFUND, &[&k.meta, &k.seats, &k.feed, &k.free], args, Effect::Write).await?
            }
            None => {
                let HoldItems::Pool { pool, quantity } = req.items else { return Err(bad("pool refund expected")) };
                args.push(pool.0).push(quantity);
                let keys = [&*k.meta, &k.pools, &k.pool_sales, &k.feed];
                self.run(&scripts::LOADED.REFUND_POOL, &keys, args, Effect::Write).await?
            }
        };
        if r.status() != b"OK" {
            return Err(self.refused(&r, Ctx { order: Some(req.order), ..Ctx::new(req.show) }));
        }
        Ok(())
    }

    async fn block(&self, show: ShowId, seats: &[SeatId]) -> Result<()> {
        self.block_or_unblock(show, seats, true).await
    }

    async fn unblock(&self, show: ShowId, seats: &[SeatId]) -> Result<()> {
        self.block_or_unblock(show, seats, false).await
    }

    async fn snapshot(&self, show: ShowId) -> Result<Snapshot> {
        let info = self.show(show).await?;
        let state = self.read(&info, true).await?;
        let seats = state
            .seats
            .iter()
            .enumerate()
            .map(|(i, &(version, status))| SeatView { seat: SeatId(i as u32), status, version })
            .collect();
        Ok(Snapshot::new(show, &info.spec.layout, seats, state.pools))
    }

    async fn sweep_expired(&self, show: ShowId, limit: usize) -> Result<Vec<ExpiredHold>> {
        let info = self.show(show).await?;
        if limit == 0 {
            return Err(InvalidRequest::ZeroLimit.into());
        }
        let k = &info.keys;
        let mut args = Args::with_capacity(3);
        args.push(self.now_arg()).push(limit.min(u32::MAX as usize)).push(self.inner.feed_max_len);
        let keys = [&*k.meta, &k.seats, &k.seat_expiry, &k.pools, &k.pool_holds, &k.pool_expiry, &k.feed, &k.free];
        let r = self.run(&scripts::LOADED.SWEEP, &keys, args, Effect::Write).await?;
        if r.status() != b"OK" {
            return Err(self.refused(&r, Ctx::new(show)));
        }
        let mut out = Vec::new();
        for group in r.list(1)? {
            let Value::Array(g) = group else { return Err(bad("sweep group")) };
            let kind = g.first().and_then(bytes).ok_or_else(|| bad("sweep group kind"))?;
            let (Some(hold), Some(owner)) = (g.get(1), g.get(2)) else { return Err(bad("sweep group ids")) };
            let (hold, owner) = (HoldId::from_u128(hex_id(hold)?), OwnerId::from_u128(hex_id(owner)?));
            let items = match (kind, g.get(3), g.get(4)) {
                (b"s", Some(Value::Array(seats)), _) => {
                    let mut seats = seats
                        .iter()
                        .map(|v| int(v).map(|n| SeatId(n as u32)).ok_or_else(|| bad("swept seat")))
                        .collect::<Result<Vec<_>>>()?;
                    seats.sort_unstable();
                    HoldItems::Seats(seats)
                }
                (b"p", Some(pool), Some(qty)) => HoldItems::Pool {
                    pool: PoolId(int(pool).ok_or_else(|| bad("swept pool"))? as u32),
                    quantity: int(qty).ok_or_else(|| bad("swept quantity"))? as u32,
                },
                _ => return Err(bad("sweep group items")),
            };
            out.push(ExpiredHold { show, hold, owner, items });
        }
        Ok(out)
    }

    async fn audit(&self, show: ShowId) -> Result<Audit> {
        let info = self.show(show).await?;
        let k = &info.keys;
        let mut args = Args::with_capacity(1);
        args.push(self.now_arg());
        let keys = [&*k.meta, &k.seats, &k.pools, &k.pool_holds, &k.pool_sales, &k.orders];
        let r = self.run(&scripts::LOADED.AUDIT, &keys, args, Effect::Read).await?;
        if r.status() != b"OK" {
            return Err(self.refused(&r, Ctx::new(show)));
        }
        codec::decode_audit(&info.spec, &r)
    }

    async fn subscribe(&self, show: ShowId) -> Result<ChangeStream> {
        let info = self.show(show).await?;
        // A connection of its own: XREAD BLOCK would stall every request
        // pipelined behind it on the shared connection (on a Cluster: on
        // the shared connection to the show's master).
        let timeout = self.inner.feed_block + self.inner.response_timeout;
        let conn = match &self.inner.target {
            Target::Server(client) => {
                let config = AsyncConnectionConfig::new()
                    .set_response_timeout(Some(timeout))
                    .set_connection_timeout(Some(self.inner.response_timeout));
                let conn = client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await
                    .map_err(|e| from_redis(e, Effect::Read))?;
                Conn::Dedicated(conn)
            }
            Target::Cluster(nodes) => {
                let client = Target::cluster_client(nodes, timeout, self.inner.response_timeout)?;
                Conn::Cluster(client.get_async_connection().await.map_err(|e| from_redis(e, Effect::Read))?)
            }
        };
        let tail = feed::Tail::start(conn, info.keys.feed.clone(), show, self.inner.feed_block).await?;
        Ok(tail.into_stream())
    }
}
