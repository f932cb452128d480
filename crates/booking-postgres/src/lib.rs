#![doc = include_str!("../README.md")]

mod best;
mod coalesce;
mod db;
mod feed;
mod migrate;
#[cfg(feature = "testkit")]
pub mod testkit;

use async_trait::async_trait;
use booking_core::backend::best::{PickRequest, pick_best};
use booking_core::backend::fsm::{self, Seat, SeatOp, SeatState};
use booking_core::backend::validate;
use booking_core::clock::millis_to_datetime;
use booking_core::layout::{HoldPolicy, LayoutIndex};
use booking_core::{
    Audit, ChangeStream, Clock, Coalescing, ExpiredHold, Hold, HoldAction, HoldBest, HoldId, HoldItems, HoldPool,
    HoldSeats, HoldToken, InvalidRequest, InventoryError, Limit, OrderId, OwnerId, PaymentRef, PoolAudit, PoolId,
    PoolView, Refund, Result, Sale, SaleRecord, SeatId, SeatInventory, SeatStatus, SeatView, Sell, ShowId, ShowSpec,
    Snapshot, TimeSource,
};
use db::{Backoff, Conns, Fail, Stmt};
use sqlx::postgres::{PgPoolOptions, PgRow};
use sqlx::{PgPool, Row};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

pub use migrate::{MIGRATIONS_TABLE, adopt_legacy_history, migrate, migrations};

/// The PostgreSQL driver crate this one is built on, re-exported because
/// its types are part of this crate's API: the builders take a
/// `sqlx::PgPool` ([`PgInventory::new`], [`PgInventory::builder`]),
/// [`pool_options`] returns `sqlx::postgres::PgPoolOptions`, and
/// [`migrations`] is a `sqlx::migrate::Migrator`. Using this re-export keeps
/// an application on the very version of sqlx these types come from (as
/// booking-redis re-exports `redis`).
pub use sqlx;

/// Pool options this crate recommends: no ping before each acquire (the
/// inventory closes connections that fail at the connection level itself).
pub fn pool_options() -> PgPoolOptions {
    PgPoolOptions::new().test_before_acquire(false).max_connections(16)
}

/// How a [`PgInventory`] is set up; see [`PgInventory::builder`].
pub struct PgInventoryBuilder {
    pool: PgPool,
    time: TimeSource,
    feed_poll: Duration,
    feed_capacity: usize,
    backoff: Backoff,
    coalesce: Option<Coalescing>,
}

impl PgInventoryBuilder {
    /// Which clock decides expiry (docs/design.md, "Time"). The default,
    /// [`TimeSource::Store`], is the database's `clock_timestamp()`, read
    /// inside each function after its row locks: every process of a
    /// deployment agrees, whatever their own clocks say.
    /// [`TimeSource::Injected`] sends the injected clock's Unix-ms time with
    /// every request instead: for tests, which move a
    /// [`booking_core::ManualClock`] rather than sleep.
    pub fn time_source(mut self, time: TimeSource) -> Self {
        self.time = time;
        self
    }

    /// How often the change-feed reader looks for changes made by other
    /// processes while someone is subscribed (default 50 ms). Changes made
    /// through this inventory wake it at once.
    pub fn feed_poll_interval(mut self, every: Duration) -> Self {
        self.feed_poll = every.max(Duration::from_millis(1));
        self
    }

    /// How many changes a subscriber may fall behind before it gets
    /// [`InventoryError::FeedLagged`] (default 4096).
    pub fn feed_capacity(mut self, changes: usize) -> Self {
        self.feed_capacity = changes.max(1);
        self
    }

    /// How often a statement that hit a serialization failure or a deadlock
    /// is retried (default 8), with exponential backoff from 2 ms capped at
    /// 100 ms, jittered.
    pub fn retries(mut self, retries: u32) -> Self {
        self.backoff.retries = retries;
        self
    }

    /// Combines concurrent seat holds and seat releases into one statement
    /// and one commit each. Every caller still gets its own all-or-nothing
    /// answer, decided in arrival order. Off by default; see BENCHMARKS.md
    /// for when it pays.
    ///
    /// When a request waits is [`Coalescing`]'s one meaning, shared with
    /// `booking-redis`: per show and kind (seat holds, seat releases), a
    /// request is sent at once, as the single function call, while fewer
    /// than `max_in_flight` calls (single requests or batches) are in
    /// flight; beyond that it waits, and the waiting requests go together as
    /// one batch of at most `max_batch` when a call returns. Both are at
    /// least 1.
    pub fn coalesce(mut self, settings: Coalescing) -> Self {
        self.coalesce =
            Some(Coalescing { max_batch: settings.max_batch.max(1), max_in_flight: settings.max_in_flight.max(1) });
        self
    }

    /// Builds the inventory. The schema must exist (see [`migrations`]).
    pub fn build(self) -> PgInventory {
        let conns = Arc::new(Conns::new(self.pool));
        let feed = feed::Feed::new(conns.clone(), self.backoff, self.feed_poll, self.feed_capacity);
        PgInventory {
            inner: Arc::new(Inner {
                conns,
                time: self.time,
                backoff: self.backoff,
                shows: RwLock::new(HashMap::new()),
                feed,
                coalesce: self.coalesce,
                lanes: Mutex::new(HashMap::new()),
            }),
        }
    }
}

/// The seat inventory on PostgreSQL: see the crate docs.
///
/// Cheap to clone; clones share the pool, the show cache and the feed.
#[derive(Clone)]
pub struct PgInventory {
    inner: Arc<Inner>,
}

struct Inner {
    conns: Arc<Conns>,
    time: TimeSource,
    backoff: Backoff,
    shows: RwLock<HashMap<ShowId, Arc<ShowMeta>>>,
    feed: feed::Feed,
    coalesce: Option<Coalescing>,
    /// The coalescing lanes of each show, started on first use.
    lanes: Mutex<HashMap<ShowId, Arc<coalesce::Coalescer>>>,
}

impl fmt::Debug for PgInventory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgInventory")
            .field("pool", self.inner.conns.pool())
            .field("time", &self.inner.time)
            .field("backoff", &self.inner.backoff)
            .field("coalesce", &self.inner.coalesce)
            .finish_non_exhaustive()
    }
}

/// What a client needs to know of a show; shows never change once created.
/// The layout is kept as a compact [`LayoutIndex`] (rows and category runs),
/// not per seat.
#[derive(Debug)]
struct ShowMeta {
    id: ShowId,
    policy: HoldPolicy,
    pools: usize,
    seat_count: usize,
    index: LayoutIndex,
}

impl ShowMeta {
    fn new(spec: &ShowSpec) -> Self {
        let index = LayoutIndex::new(&spec.layout);
        ShowMeta {
            id: spec.id,
            policy: spec.policy.clone(),
            pools: spec.pools.len(),
            seat_count: index.seat_count(),
            index,
        }
    }

    fn id(&self) -> ShowId {
        self.id
    }

    fn max_per_request(&self) -> u32 {
        self.policy.max_per_request
    }

    fn seats(&self, seats: &[SeatId]) -> Result<Vec<SeatId>> {
        validate::seats(self.id(), seats, self.seat_count, self.max_per_request())
    }

    fn pool(&self, pool: PoolId) -> Result<()> {
        if (pool.0 as usize) < self.pools { Ok(()) } else { Err(InventoryError::UnknownPool { show: self.id(), pool }) }
    }

    /// The model's `check_items`: sorted seats, or the pool checked.
    fn items(&self, items: &HoldItems) -> Result<Option<Vec<SeatId>>> {
        match items {
            HoldItems::Seats(seats) => Ok(Some(self.seats(seats)?)),
            HoldItems::Pool { pool, quantity } => {
                validate::quantity(*quantity, self.max_per_request())?;
                self.pool(*pool)?;
                Ok(None)
            }
        }
    }

    fn limit(&self, would_hold: i64) -> InventoryError {
        InventoryError::LimitExceeded(Limit::HeldPerOwner {
            would_hold: would_hold.clamp(0, u32::MAX as i64) as u32,
            max: self.policy.max_held_per_owner.unwrap_or(u32::MAX),
        })
    }
}

/// The row every inventory function returns (`booking.outcome`).
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    code: i32,
    version: Option<i64>,
    held_until: Option<i64>,
    renewals: Option<i32>,
    n: Option<i64>,
    seats: Option<Vec<i32>>,
}

impl Outcome {
    pub(crate) fn decode(row: &PgRow) -> Result<Self> {
        let e = db::backend;
        Ok(Outcome {
            code: row.try_get("code").map_err(e)?,
            version: row.try_get("version").map_err(e)?,
            held_until: row.try_get("held_until").map_err(e)?,
            renewals: row.try_get("renewals").map_err(e)?,
            n: row.try_get("n").map_err(e)?,
            seats: row.try_get("seats").map_err(e)?,
        })
    }

    fn version(&self) -> u64 {
        self.version.unwrap_or(0).max(0) as u64
    }

    fn seat_ids(&self) -> Vec<SeatId> {
        self.seats.iter().flatten().map(|&s| SeatId(s as u32)).collect()
    }

    /// Maps the codes shared by the hold and pool functions to errors.
    fn error(&self, meta: &ShowMeta, hold: HoldId, presented: u64) -> InventoryError {
        match self.code {
            1 => InventoryError::UnknownShow(meta.id()),
            2 => meta.limit(self.n.unwrap_or(0)),
            3 => InventoryError::SeatsTaken { seats: self.seat_ids() },
            4 => InventoryError::InsufficientCapacity {
                pool: PoolId(0),
                requested: 0,
                available: self.n.unwrap_or(0).clamp(0, u32::MAX as i64) as u32,
            },
            5 => InvalidRequest::TokenMismatch.into(),
            6 => InventoryError::HoldExpired { hold },
            7 => InventoryError::NotOwner { hold },
            8 => InventoryError::StaleToken { hold, presented, current: self.version() },
            9 => InventoryError::LimitExceeded(Limit::Renewals { max: meta.policy.max_renewals }),
            10 => InventoryError::LimitExceeded(Limit::HoldLifetime),
            11 => InventoryError::NotSold { order: OrderId(uuid::Uuid::nil()) },
            12 => InventoryError::WrongState { seats: self.seat_ids() },
            other => InventoryError::Backend(format!("unexpected outcome code {other}").into()),
        }
    }
}

fn to_i32(seats: &[SeatId]) -> Vec<i32> {
    seats.iter().map(|s| s.0 as i32).collect()
}

/// The result of one attempt at a seat hold.
enum Attempt {
    Held(Hold),
    /// Some seats were taken by another request.
    Taken(Vec<SeatId>),
}

/// The result of holding a best-available pick.
enum Picked {
    Held(Hold),
    /// The seats the pick depended on changed: the region's free seats now.
    Changed(Vec<u32>),
}

/// A seat-group change that may need its failure explained.
enum SeatCall {
    Extend,
    Release,
    /// A sale, with the token's seats as presented (the order's record
    /// keeps them so).
    Sell {
        order: OrderId,
        payment: String,
        presented: Vec<i32>,
    },
}

impl PgInventory {
    /// Connects to `url` with [`pool_options`], applies the [`migrations`]
    /// (through [`migrate`], adopting history left in `_sqlx_migrations` by
    /// earlier versions) and returns an inventory on the database clock.
    pub async fn connect(url: &str) -> Result<Self> {
        let pool = pool_options().connect(url).await.map_err(db::unavailable)?;
        migrate(&pool).await.map_err(|e| InventoryError::Backend(Box::new(e)))?;
        Ok(Self::new(pool))
    }

    /// An inventory on `pool`, deciding expiry by the database clock.
    pub fn new(pool: PgPool) -> Self {
        Self::builder(pool).build()
    }

    /// An inventory on `pool`, deciding expiry by `clock` (tests).
    pub fn with_clock(pool: PgPool, clock: Arc<dyn Clock>) -> Self {
        Self::builder(pool).time_source(TimeSource::Injected(clock)).build()
    }

    /// A builder for the less common settings.
    pub fn builder(pool: PgPool) -> PgInventoryBuilder {
        PgInventoryBuilder {
            pool,
            time: TimeSource::Store,
            feed_poll: Duration::from_millis(50),
            feed_capacity: 4096,
            backoff: Backoff { retries: 8, base: Duration::from_millis(2), cap: Duration::from_millis(100) },
            coalesce: None,
        }
    }

    /// The connection pool.
    pub fn pool(&self) -> &PgPool {
        self.inner.conns.pool()
    }

    /// Deletes change-feed rows older than `age`; returns how many. Run it
    /// now and then (for example beside the sweeper): subscribers only ever
    /// read recent changes. A reader (of any process) that had not read the
    /// deleted rows yet tells its subscribers with
    /// [`InventoryError::FeedLagged`] instead of skipping them silently.
    pub async fn prune_changes(&self, age: Duration) -> Result<u64> {
        let secs = age.as_secs_f64();
        let row = self.one(true, move || sqlx::query("SELECT booking.prune_changes($1)").bind(secs)).await?;
        Ok(row.try_get::<i64, _>(0).map_err(db::backend)?.max(0) as u64)
    }

    /// How many change-feed reader tasks this inventory runs: 1 while
    /// someone is subscribed, else 0 (once the reader noticed). For tests.
    #[cfg(feature = "testkit")]
    pub fn feed_reader_tasks(&self) -> usize {
        self.inner.feed.readers()
    }

    /// The injected clock's time, or `None` for the database clock.
    fn now(&self) -> Option<i64> {
        self.inner.time.injected_millis()
    }

    /// The show's coalescing lanes, started on first use, when enabled.
    fn lanes(&self, show: ShowId) -> Option<Arc<coalesce::Coalescer>> {
        let settings = self.inner.coalesce?;
        let mut lanes = self.inner.lanes.lock().unwrap_or_else(|p| p.into_inner());
        Some(
            lanes
                .entry(show)
                .or_insert_with(|| {
                    Arc::new(coalesce::Coalescer::start(self.inner.conns.clone(), self.inner.backoff, settings))
                })
                .clone(),
        )
    }

    async fn one(&self, changes: bool, make: impl Fn() -> Stmt) -> Result<PgRow> {
        db::fetch_one(&self.inner.conns, &self.inner.backoff, changes, make).await.map_err(InventoryError::from)
    }

    async fn all(&self, changes: bool, make: impl Fn() -> Stmt) -> Result<Vec<PgRow>> {
        db::fetch_all(&self.inner.conns, &self.inner.backoff, changes, make).await.map_err(InventoryError::from)
    }

    /// Calls an inventory function that changes data and returns its outcome.
    async fn call(&self, make: impl Fn() -> Stmt) -> Result<Outcome, Fail> {
        let row = db::fetch_one(&self.inner.conns, &self.inner.backoff, true, make).await?;
        let out = Outcome::decode(&row).map_err(Fail::Error)?;
        if out.code == 0 {
            self.inner.feed.poke();
        }
        Ok(out)
    }

    /// The show's metadata, from the cache or the database.
    async fn meta(&self, show: ShowId) -> Result<Arc<ShowMeta>> {
        if let Some(m) = self.inner.shows.read().unwrap_or_else(|p| p.into_inner()).get(&show) {
            return Ok(m.clone());
        }
        let rows =
            self.all(false, move || sqlx::query("SELECT spec FROM booking.shows WHERE show = $1").bind(show.0)).await?;
        let Some(row) = rows.first() else { return Err(InventoryError::UnknownShow(show)) };
        let spec: sqlx::types::Json<ShowSpec> = row.try_get("spec").map_err(db::backend)?;
        let meta = Arc::new(ShowMeta::new(&spec.0));
        self.inner.shows.write().unwrap_or_else(|p| p.into_inner()).insert(show, meta.clone());
        Ok(meta)
    }

    /// One attempt at holding `seats` (sorted, validated).
    async fn try_hold(&self, meta: &ShowMeta, owner: OwnerId, seats: &[SeatId], now: Option<i64>) -> Result<Attempt> {
        let (show, hold, list) = (meta.id(), HoldId::new(), to_i32(seats));
        let sql = "SELECT code, version, held_until, renewals, n, seats \
                   FROM booking.hold_seats($1, $2, $3, $4, $5)";
        let lanes = self.lanes(show);
        let slot = lanes.as_ref().and_then(|l| l.holds.enter());
        let res = match &lanes {
            Some(lanes) if slot.is_none() => {
                let job = |reply| coalesce::SeatJob {
                    show: show.0,
                    owner: owner.0,
                    hold: hold.0,
                    version: 0,
                    seats: list.clone(),
                    now,
                    reply,
                };
                let res = lanes.holds.send(job).await;
                if matches!(&res, Ok(out) if out.code == 0) {
                    self.inner.feed.poke();
                }
                res
            }
            _ => {
                self.call(|| sqlx::query(sql).bind(show.0).bind(owner.0).bind(hold.0).bind(list.clone()).bind(now))
                    .await
            }
        };
        let out = match res {
            Ok(out) => out,
            Err(Fail::Raised { code, detail }) if code == "BK409" => {
                return Ok(Attempt::Taken(db::parse_seats(detail.as_deref())));
            }
            Err(Fail::Lost(e)) => {
                return self.resolve_hold(show, hold, HoldItems::Seats(seats.to_vec()), e).await.map(Attempt::Held);
            }
            Err(e) => return Err(e.into()),
        };
        match out.code {
            0 => Ok(Attempt::Held(Hold {
                token: HoldToken { show, hold, version: out.version(), items: HoldItems::Seats(seats.to_vec()) },
                owner,
                held_until: millis_to_datetime(out.held_until.unwrap_or(0)),
                renewals: 0,
            })),
            3 => Ok(Attempt::Taken(out.seat_ids())),
            _ => Err(out.error(meta, hold, 0)),
        }
    }

    /// Holds a best-available pick if the seats of `region` are as the pick
    /// saw them (`booking.hold_best_seats`).
    async fn hold_picked(
        &self,
        meta: &ShowMeta,
        owner: OwnerId,
        seats: &[SeatId],
        now: Option<i64>,
        region: &best::Region,
    ) -> Result<Picked> {
        let (show, hold, list) = (meta.id(), HoldId::new(), to_i32(seats));
        let res = self
            .call(|| {
                sqlx::query(
                    "SELECT code, version, held_until, renewals, n, seats \
                     FROM booking.hold_best_seats($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(show.0)
                .bind(owner.0)
                .bind(hold.0)
                .bind(list.clone())
                .bind(now)
                .bind(region.first as i32)
                .bind(region.last as i32)
                .bind(region.lock.clone())
                .bind(region.free.clone())
            })
            .await;
        let out = match res {
            Ok(out) => out,
            Err(Fail::Lost(e)) => {
                return self.resolve_hold(show, hold, HoldItems::Seats(seats.to_vec()), e).await.map(Picked::Held);
            }
            Err(e) => return Err(e.into()),
        };
        match out.code {
            0 => Ok(Picked::Held(Hold {
                token: HoldToken { show, hold, version: out.version(), items: HoldItems::Seats(seats.to_vec()) },
                owner,
                held_until: millis_to_datetime(out.held_until.unwrap_or(0)),
                renewals: 0,
            })),
            17 => Ok(Picked::Changed(out.seat_ids().into_iter().map(|s| s.0).collect())),
            _ => Err(out.error(meta, hold, 0)),
        }
    }

    /// After a connection loss during a hold: the hold is known to exist if
    /// its row is there; otherwise the outcome is unknown.
    async fn resolve_hold(
        &self,
        show: ShowId,
        hold: HoldId,
        items: HoldItems,
        lost: Box<dyn std::error::Error + Send + Sync>,
    ) -> Result<Hold> {
        let found = self
            .all(false, move || {
                sqlx::query(
                    "SELECT owner, held_until, renewals, version FROM booking.holds WHERE show = $1 AND hold = $2",
                )
                .bind(show.0)
                .bind(hold.0)
            })
            .await;
        if let Ok(rows) = found
            && let Some(row) = rows.first()
        {
            let get = || -> std::result::Result<Hold, sqlx::Error> {
                Ok(Hold {
                    token: HoldToken { show, hold, version: row.try_get::<i64, _>("version")? as u64, items },
                    owner: OwnerId(row.try_get("owner")?),
                    held_until: millis_to_datetime(row.try_get("held_until")?),
                    renewals: row.try_get::<i32, _>("renewals")? as u32,
                })
            };
            if let Ok(h) = get() {
                return Ok(h);
            }
        }
        Err(InventoryError::OutcomeUnknown(lost))
    }

    /// Reads seats as the state machine sees them, with the time to judge
    /// them by and, for a sale of `order`, whether the order has a sale
    /// record: all from one snapshot, so that the answer is the one the
    /// request would get at that instant.
    async fn read_seats(
        &self,
        show: ShowId,
        seats: &[SeatId],
        now: Option<i64>,
        order: Option<OrderId>,
    ) -> Result<(Vec<Seat>, i64, bool)> {
        let list = to_i32(seats);
        let rows = self
            .all(false, move || {
                sqlx::query(
                    "SELECT seat, state, owner, hold, order_id, held_until, deadline, renewals, version, size, \
                     coalesce($3::bigint, booking.clock_ms()) AS now, \
                     EXISTS (SELECT 1 FROM booking.sales r WHERE r.show = $1 AND r.order_id = $4) AS recorded \
                     FROM booking.seats WHERE show = $1 AND seat = ANY($2) ORDER BY seat",
                )
                .bind(show.0)
                .bind(list.clone())
                .bind(now)
                .bind(order.map(|o| o.0))
            })
            .await?;
        if rows.len() != seats.len() {
            return Err(InventoryError::Backend("seat rows missing".into()));
        }
        let mut out = Vec::with_capacity(rows.len());
        let (mut clock, mut recorded) = (now.unwrap_or(0), false);
        for row in &rows {
            out.push(seat_from_row(row).map_err(db::backend)?);
            clock = row.try_get("now").map_err(db::backend)?;
            recorded = row.try_get("recorded").map_err(db::backend)?;
        }
        Ok((out, clock, recorded))
    }

    /// Extends, releases or sells a seat hold. The compare-and-set in SQL
    /// decides; when it matches nothing, the rows are read and the pure state
    /// machine names the error the model would.
    async fn seat_call(&self, meta: &ShowMeta, req: &HoldAction, seats: &[SeatId], call: SeatCall) -> Result<Outcome> {
        let t = &req.token;
        let (show, owner, hold, version, list) = (meta.id(), req.owner, t.hold, t.version as i64, to_i32(seats));
        let now = self.now();
        for _ in 0..4 {
            let res = match &call {
                SeatCall::Extend => {
                    self.call(|| {
                        sqlx::query(
                            "SELECT code, version, held_until, renewals, n, seats \
                             FROM booking.extend_seats($1, $2, $3, $4, $5, $6)",
                        )
                        .bind(show.0)
                        .bind(owner.0)
                        .bind(hold.0)
                        .bind(version)
                        .bind(list.clone())
                        .bind(now)
                    })
                    .await
                }
                SeatCall::Release => {
                    self.call(|| {
                        sqlx::query(
                            "SELECT code, version, held_until, renewals, n, seats \
                             FROM booking.finish_seats($1, $2, $3, $4, $5, $6, NULL, NULL)",
                        )
                        .bind(show.0)
                        .bind(owner.0)
                        .bind(hold.0)
                        .bind(version)
                        .bind(list.clone())
                        .bind(now)
                    })
                    .await
                }
                SeatCall::Sell { order, payment, presented } => {
                    self.call(|| {
                        sqlx::query(
                            "SELECT code, version, held_until, renewals, n, seats \
                             FROM booking.sell_seats($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                        )
                        .bind(show.0)
                        .bind(owner.0)
                        .bind(hold.0)
                        .bind(version)
                        .bind(list.clone())
                        .bind(presented.clone())
                        .bind(now)
                        .bind(order.0)
                        .bind(payment.clone())
                    })
                    .await
                }
            };
            match res {
                // 16: the order of a sale has a record; the caller answers from it.
                Ok(out) if out.code == 0 || out.code == 16 => return Ok(out),
                Ok(out) if out.code != 13 => return Err(out.error(meta, hold, t.version)),
                Ok(_) => {}
                Err(Fail::Raised { code, .. }) if code == "BK412" => {}
                Err(e) => return Err(e.into()),
            }
            let op = match &call {
                SeatCall::Extend => SeatOp::Extend {
                    owner,
                    hold,
                    version: t.version,
                    ttl: meta.policy.ttl_millis(),
                    max_renewals: meta.policy.max_renewals,
                },
                SeatCall::Release => SeatOp::Release { owner, hold, version: t.version },
                SeatCall::Sell { order, .. } => SeatOp::Sell { owner, hold, version: t.version, order: *order },
            };
            let order = match &call {
                SeatCall::Sell { order, .. } => Some(*order),
                _ => None,
            };
            let (rows, at, recorded) = self.read_seats(show, seats, now, order).await?;
            if recorded {
                // Sold to this order meanwhile: the record answers first.
                return Ok(Outcome { code: 16, ..Outcome::default() });
            }
            fsm::check(rows.iter(), seats, &op, at)?;
            // The rows allow it now: the state changed under us; try again.
        }
        Err(InventoryError::Backend("seat hold kept changing; gave up".into()))
    }

    /// Extends (1), verifies (3), releases (2) or sells (4) a pool hold.
    #[allow(clippy::too_many_arguments)]
    async fn pool_call(
        &self,
        meta: &ShowMeta,
        op: i32,
        req: &HoldAction,
        pool: PoolId,
        quantity: u32,
        order: Option<OrderId>,
        payment: Option<String>,
    ) -> Result<Outcome> {
        let t = &req.token;
        let (show, owner, hold, version, now) = (meta.id(), req.owner, t.hold, t.version as i64, self.now());
        let out = self
            .call(|| {
                sqlx::query(
                    "SELECT code, version, held_until, renewals, n, seats \
                     FROM booking.pool_op($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(show.0)
                .bind(op)
                .bind(owner.0)
                .bind(hold.0)
                .bind(version)
                .bind(pool.0 as i32)
                .bind(quantity as i32)
                .bind(now)
                .bind(order.map(|o| o.0))
                .bind(payment.clone())
            })
            .await
            .map_err(InventoryError::from)?;
        match out.code {
            0 | 16 => Ok(out),
            _ => Err(out.error(meta, hold, t.version)),
        }
    }

    /// Refunds (5), blocks (6) or unblocks (7) a group of seats.
    async fn regroup(&self, meta: &ShowMeta, kind: i32, seats: &[SeatId], order: Option<OrderId>) -> Result<()> {
        let (show, list, now) = (meta.id(), to_i32(seats), self.now());
        let res = self
            .call(|| {
                sqlx::query(
                    "SELECT code, version, held_until, renewals, n, seats \
                     FROM booking.regroup_seats($1, $2, $3, $4, $5)",
                )
                .bind(show.0)
                .bind(kind)
                .bind(list.clone())
                .bind(order.map(|o| o.0))
                .bind(now)
            })
            .await;
        let not_sold = || InventoryError::NotSold { order: order.unwrap_or(OrderId(uuid::Uuid::nil())) };
        match res {
            Ok(out) if out.code == 0 => Ok(()),
            Ok(out) if out.code == 11 => Err(not_sold()),
            Ok(out) => Err(out.error(meta, HoldId(uuid::Uuid::nil()), 0)),
            Err(Fail::Raised { code, .. }) if code == "BK404" => Err(not_sold()),
            Err(Fail::Raised { code, detail }) if code == "BK422" => {
                Err(InventoryError::WrongState { seats: db::parse_seats(detail.as_deref()) })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The sale record of `order` in `show` (one exists: a sell answered 16).
    async fn sale_record(&self, show: ShowId, order: OrderId) -> Result<SaleRecord> {
        let rows = self
            .all(false, move || {
                sqlx::query(
                    "SELECT owner, hold, token_version, token_seats, token_pool, token_quantity, payment, version \
                     FROM booking.sales WHERE show = $1 AND order_id = $2",
                )
                .bind(show.0)
                .bind(order.0)
            })
            .await?;
        let Some(row) = rows.first() else {
            return Err(InventoryError::Backend(format!("order {order} has no sale record").into()));
        };
        let e = db::backend;
        Ok(sale_record(RecordRow {
            show,
            order,
            owner: row.try_get("owner").map_err(e)?,
            hold: row.try_get("hold").map_err(e)?,
            token_version: row.try_get("token_version").map_err(e)?,
            seats: row.try_get("token_seats").map_err(e)?,
            pool: row.try_get("token_pool").map_err(e)?,
            quantity: row.try_get("token_quantity").map_err(e)?,
            payment: row.try_get("payment").map_err(e)?,
            version: row.try_get("version").map_err(e)?,
        }))
    }

    /// Seats plus pool units `owner` holds live now.
    async fn held_by(&self, show: ShowId, owner: OwnerId, now: Option<i64>) -> Result<i64> {
        let row = self
            .one(false, move || {
                sqlx::query("SELECT booking.held_by($1, $2, coalesce($3::bigint, booking.clock_ms()))::bigint")
                    .bind(show.0)
                    .bind(owner.0)
                    .bind(now)
            })
            .await?;
        row.try_get::<i64, _>(0).map_err(db::backend)
    }

    /// The free seats of `show` within the seat ids `lo..=hi` (a range of
    /// the primary key: only those rows are read) and, for `owner`, the
    /// seats and units it holds live, read in the same snapshot.
    async fn free_seats(
        &self,
        show: ShowId,
        (lo, hi): (u32, u32),
        now: Option<i64>,
        owner: Option<OwnerId>,
    ) -> Result<(Vec<u32>, Option<i64>)> {
        let row = self
            .one(false, move || {
                sqlx::query(
                    "WITH n AS MATERIALIZED (SELECT coalesce($4::bigint, booking.clock_ms()) AS now) \
                     SELECT (SELECT array_agg(t.seat ORDER BY t.seat) FROM booking.seats t \
                             WHERE t.show = $1 AND t.seat BETWEEN $2 AND $3 \
                               AND (t.state = 0 OR (t.state = 1 AND t.held_until <= n.now))) AS free, \
                            CASE WHEN $5::uuid IS NOT NULL THEN booking.held_by($1, $5, n.now)::bigint END AS held \
                     FROM n",
                )
                .bind(show.0)
                .bind(lo as i32)
                .bind(hi as i32)
                .bind(now)
                .bind(owner.map(|o| o.0))
            })
            .await?;
        let seats: Option<Vec<i32>> = row.try_get("free").map_err(db::backend)?;
        let held: Option<i64> = row.try_get("held").map_err(db::backend)?;
        Ok((seats.unwrap_or_default().into_iter().map(|s| s as u32).collect(), held))
    }
}

fn seat_from_row(row: &PgRow) -> std::result::Result<Seat, sqlx::Error> {
    let state: i16 = row.try_get("state")?;
    let version = row.try_get::<i64, _>("version")?.max(0) as u64;
    let missing = || sqlx::Error::Decode("seat row misses a column its state needs".into());
    let state = match state {
        0 => SeatState::Available,
        1 => SeatState::Held {
            owner: OwnerId(row.try_get::<Option<uuid::Uuid>, _>("owner")?.ok_or_else(missing)?),
            hold: HoldId(row.try_get::<Option<uuid::Uuid>, _>("hold")?.ok_or_else(missing)?),
            until: row.try_get::<Option<i64>, _>("held_until")?.ok_or_else(missing)?,
            deadline: row.try_get::<Option<i64>, _>("deadline")?.ok_or_else(missing)?,
            renewals: row.try_get::<i32, _>("renewals")?.max(0) as u32,
            size: row.try_get::<Option<i32>, _>("size")?.unwrap_or(0).clamp(0, u16::MAX as i32) as u16,
        },
        2 => SeatState::Sold {
            owner: OwnerId(row.try_get::<Option<uuid::Uuid>, _>("owner")?.ok_or_else(missing)?),
            order: OrderId(row.try_get::<Option<uuid::Uuid>, _>("order_id")?.ok_or_else(missing)?),
        },
        _ => SeatState::Blocked,
    };
    Ok(Seat { state, version })
}

/// A row of `booking.sales`.
struct RecordRow {
    show: ShowId,
    order: OrderId,
    owner: uuid::Uuid,
    hold: uuid::Uuid,
    token_version: i64,
    seats: Option<Vec<i32>>,
    pool: Option<i32>,
    quantity: Option<i32>,
    payment: String,
    version: i64,
}

/// The sale record a row of `booking.sales` holds: the sale answered with
/// the token's items, as the first sell did.
fn sale_record(r: RecordRow) -> SaleRecord {
    let items = match r.pool {
        Some(pool) => HoldItems::Pool { pool: PoolId(pool as u32), quantity: r.quantity.unwrap_or(0).max(0) as u32 },
        None => HoldItems::Seats(r.seats.unwrap_or_default().into_iter().map(|s| SeatId(s as u32)).collect()),
    };
    let token = HoldToken { show: r.show, hold: HoldId(r.hold), version: r.token_version as u64, items };
    SaleRecord {
        sale: Sale {
            show: r.show,
            order: r.order,
            owner: OwnerId(r.owner),
            items: token.items.clone(),
            version: r.version.max(0) as u64,
        },
        token,
        payment: PaymentRef(r.payment),
    }
}

/// The model's token show check.
fn same_show(meta: &ShowMeta, token: &HoldToken) -> Result<()> {
    if token.show == meta.id() { Ok(()) } else { Err(InventoryError::UnknownShow(token.show)) }
}

#[async_trait]
impl SeatInventory for PgInventory {
    async fn create_show(&self, spec: &ShowSpec) -> Result<()> {
        spec.validate()?;
        let show = spec.id;
        let json = sqlx::types::Json(spec.clone());
        let seat_count = spec.layout.seat_count() as i32;
        let capacities: Vec<i64> = spec.pools.iter().map(|p| p.capacity as i64).collect();
        let p = &spec.policy;
        let (ttl, max_hold, renewals, max_held, per_request) = (
            p.ttl_millis(),
            p.max_hold_millis(),
            p.max_renewals.min(i32::MAX as u32) as i32,
            p.max_held_per_owner.map(|m| m.min(i32::MAX as u32) as i32),
            p.max_per_request as i32,
        );
        let row = self
            .one(true, || {
                sqlx::query("SELECT booking.create_show($1, $2, $3, $4, $5, $6, $7, $8, $9)")
                    .bind(show.0)
                    .bind(json.clone())
                    .bind(seat_count)
                    .bind(capacities.clone())
                    .bind(ttl)
                    .bind(max_hold)
                    .bind(renewals)
                    .bind(max_held)
                    .bind(per_request)
            })
            .await?;
        if !row.try_get::<bool, _>(0).map_err(db::backend)? {
            return Err(InventoryError::ShowExists(show));
        }
        let meta = Arc::new(ShowMeta::new(spec));
        self.inner.shows.write().unwrap_or_else(|p| p.into_inner()).insert(show, meta);
        Ok(())
    }

    async fn hold_seats(&self, req: &HoldSeats) -> Result<Hold> {
        let meta = self.meta(req.show).await?;
        let seats = meta.seats(&req.seats)?;
        match self.try_hold(&meta, req.owner, &seats, self.now()).await? {
            Attempt::Held(h) => Ok(h),
            Attempt::Taken(seats) => Err(InventoryError::SeatsTaken { seats }),
        }
    }

    async fn hold_best(&self, req: &HoldBest) -> Result<Hold> {
        let meta = self.meta(req.show).await?;
        validate::quantity(req.quantity, meta.max_per_request())?;
        let now = self.now();
        let pick = PickRequest { quantity: req.quantity, section: req.section, category: req.category };
        // The rows are read a chunk at a time, only as far as the pick needs
        // (see `best`), never the whole show up front.
        let mut prefix = best::Prefix::new(&meta.index.rows, req.section, req.quantity);
        let mut last_taken: Vec<SeatId> = Vec::new();
        let mut attempts = 0;
        // The model checks the per-owner limit before it picks: the owner's
        // count is read in the same snapshot as the first seats read, so the
        // limit and the pick judge one state. (A hold checks it again.)
        let max = meta.policy.max_held_per_owner.map(i64::from);
        let mut limit_unchecked = max.is_some();
        let over = |held: i64| {
            let would_hold = held + req.quantity as i64;
            if max.is_some_and(|m| would_hold > m) { Err(meta.limit(would_hold)) } else { Ok(()) }
        };
        while attempts < 16 {
            let chosen = pick_best(&meta.index.rows, &pick, |s| meta.index.category(s), |s| prefix.is_free(s.0));
            let Some(seats) = chosen else {
                if limit_unchecked {
                    over(self.held_by(meta.id(), req.owner, now).await?)?;
                }
                return Err(InventoryError::NoSeatsAvailable { requested: req.quantity });
            };
            if !prefix.covers(&seats) {
                let Some(chunk) = prefix.next_chunk() else {
                    return Err(InventoryError::Backend("best available picked a seat outside the show".into()));
                };
                let owner = limit_unchecked.then_some(req.owner);
                let (free, held) = self.free_seats(meta.id(), chunk, now, owner).await?;
                if let Some(held) = held {
                    over(held)?;
                    limit_unchecked = false;
                }
                prefix.fill(chunk.1, &free);
                continue;
            }
            // Held only if the seats the pick depended on are still as read
            // (checked under their locks); else read again and pick again.
            attempts += 1;
            let region = prefix.region(&seats);
            match self.hold_picked(&meta, req.owner, &seats, now, &region).await? {
                Picked::Held(h) => return Ok(h),
                Picked::Changed(free) => {
                    prefix.refresh(region.first, region.last, &free);
                    last_taken = seats;
                }
            }
        }
        Err(InventoryError::SeatsTaken { seats: last_taken })
    }

    async fn hold_pool(&self, req: &HoldPool) -> Result<Hold> {
        let meta = self.meta(req.show).await?;
        validate::quantity(req.quantity, meta.max_per_request())?;
        meta.pool(req.pool)?;
        let (show, owner, hold, pool, quantity, now) =
            (meta.id(), req.owner, HoldId::new(), req.pool, req.quantity, self.now());
        let items = HoldItems::Pool { pool, quantity };
        let res = self
            .call(|| {
                sqlx::query(
                    "SELECT code, version, held_until, renewals, n, seats \
                     FROM booking.hold_pool($1, $2, $3, $4, $5, $6)",
                )
                .bind(show.0)
                .bind(owner.0)
                .bind(hold.0)
                .bind(pool.0 as i32)
                .bind(quantity as i32)
                .bind(now)
            })
            .await;
        let out = match res {
            Ok(out) => out,
            Err(Fail::Lost(e)) => return self.resolve_hold(show, hold, items, e).await,
            Err(e) => return Err(e.into()),
        };
        match out.code {
            0 => Ok(Hold {
                token: HoldToken { show, hold, version: out.version(), items },
                owner,
                held_until: millis_to_datetime(out.held_until.unwrap_or(0)),
                renewals: 0,
            }),
            4 => Err(InventoryError::InsufficientCapacity {
                pool,
                requested: quantity,
                available: out.n.unwrap_or(0).clamp(0, u32::MAX as i64) as u32,
            }),
            15 => Err(InventoryError::UnknownPool { show, pool }),
            _ => Err(out.error(&meta, hold, 0)),
        }
    }

    async fn extend(&self, req: &HoldAction) -> Result<Hold> {
        let t = &req.token;
        let meta = self.meta(t.show).await?;
        same_show(&meta, t)?;
        let out = match meta.items(&t.items)? {
            Some(seats) => {
                let out = self.seat_call(&meta, req, &seats, SeatCall::Extend).await?;
                let token =
                    HoldToken { show: t.show, hold: t.hold, version: out.version(), items: HoldItems::Seats(seats) };
                return Ok(Hold {
                    token,
                    owner: req.owner,
                    held_until: millis_to_datetime(out.held_until.unwrap_or(0)),
                    renewals: out.renewals.unwrap_or(0).max(0) as u32,
                });
            }
            None => {
                let HoldItems::Pool { pool, quantity } = t.items else {
                    return Err(InvalidRequest::TokenMismatch.into());
                };
                self.pool_call(&meta, 1, req, pool, quantity, None, None).await?
            }
        };
        Ok(Hold {
            token: HoldToken { show: t.show, hold: t.hold, version: out.version(), items: t.items.clone() },
            owner: req.owner,
            held_until: millis_to_datetime(out.held_until.unwrap_or(0)),
            renewals: out.renewals.unwrap_or(0).max(0) as u32,
        })
    }

    async fn release(&self, req: &HoldAction) -> Result<()> {
        let t = &req.token;
        let meta = self.meta(t.show).await?;
        same_show(&meta, t)?;
        match meta.items(&t.items)? {
            Some(seats) => {
                let lanes = self.lanes(t.show);
                let slot = lanes.as_ref().and_then(|l| l.releases.enter());
                if let Some(lanes) = &lanes
                    && slot.is_none()
                {
                    let job = |reply| coalesce::SeatJob {
                        show: t.show.0,
                        owner: req.owner.0,
                        hold: t.hold.0,
                        version: t.version as i64,
                        seats: to_i32(&seats),
                        now: self.now(),
                        reply,
                    };
                    match lanes.releases.send(job).await {
                        Ok(out) if out.code == 0 => {
                            self.inner.feed.poke();
                            return Ok(());
                        }
                        // Code 13: not released; ask alone to learn why.
                        Ok(_) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                self.seat_call(&meta, req, &seats, SeatCall::Release).await.map(|_| ())
            }
            None => {
                let HoldItems::Pool { pool, quantity } = t.items else {
                    return Err(InvalidRequest::TokenMismatch.into());
                };
                self.pool_call(&meta, 2, req, pool, quantity, None, None).await.map(|_| ())
            }
        }
    }

    async fn sell(&self, req: &Sell) -> Result<Sale> {
        // In the model's order: the show, the payment, the token's items,
        // then (in SQL, under the order's lock) the order's sale record,
        // then the hold.
        let t = &req.token;
        let meta = self.meta(t.show).await?;
        same_show(&meta, t)?;
        validate::payment(&req.payment)?;
        let action = HoldAction { owner: req.owner, token: t.clone() };
        let out = match meta.items(&t.items)? {
            Some(seats) => {
                let presented = match &t.items {
                    HoldItems::Seats(list) => to_i32(list),
                    HoldItems::Pool { .. } => to_i32(&seats),
                };
                let call = SeatCall::Sell { order: req.order, payment: req.payment.0.clone(), presented };
                self.seat_call(&meta, &action, &seats, call).await?
            }
            None => {
                let HoldItems::Pool { pool, quantity } = t.items else {
                    return Err(InvalidRequest::TokenMismatch.into());
                };
                self.pool_call(&meta, 4, &action, pool, quantity, Some(req.order), Some(req.payment.0.clone())).await?
            }
        };
        if out.code == 16 {
            return self.sale_record(meta.id(), req.order).await?.replay(req);
        }
        Ok(Sale { show: t.show, order: req.order, owner: req.owner, items: t.items.clone(), version: out.version() })
    }

    async fn verify(&self, req: &HoldAction) -> Result<Hold> {
        let t = &req.token;
        let meta = self.meta(t.show).await?;
        same_show(&meta, t)?;
        match meta.items(&t.items)? {
            Some(seats) => {
                // A read: the checks release makes, on the rows as they are.
                let (rows, at, _) = self.read_seats(meta.id(), &seats, self.now(), None).await?;
                let op = SeatOp::Release { owner: req.owner, hold: t.hold, version: t.version };
                fsm::check(rows.iter(), &seats, &op, at)?;
                match rows.first().map(|s| s.state) {
                    Some(SeatState::Held { until, renewals, .. }) => {
                        Ok(Hold::from_parts(t.show, req.owner, t.hold, t.version, t.items.clone(), until, renewals))
                    }
                    _ => Err(InventoryError::HoldExpired { hold: t.hold }),
                }
            }
            None => {
                let HoldItems::Pool { pool, quantity } = t.items else {
                    return Err(InvalidRequest::TokenMismatch.into());
                };
                let out = self.pool_call(&meta, 3, req, pool, quantity, None, None).await?;
                Ok(Hold {
                    token: HoldToken { show: t.show, hold: t.hold, version: out.version(), items: t.items.clone() },
                    owner: req.owner,
                    held_until: millis_to_datetime(out.held_until.unwrap_or(0)),
                    renewals: out.renewals.unwrap_or(0).max(0) as u32,
                })
            }
        }
    }

    async fn refund(&self, req: &Refund) -> Result<()> {
        let meta = self.meta(req.show).await?;
        match meta.items(&req.items)? {
            Some(seats) => self.regroup(&meta, 5, &seats, Some(req.order)).await,
            None => {
                let HoldItems::Pool { pool, quantity } = req.items else {
                    return Err(InvalidRequest::TokenMismatch.into());
                };
                let (show, order) = (meta.id(), req.order);
                let out = self
                    .call(|| {
                        sqlx::query(
                            "SELECT code, version, held_until, renewals, n, seats \
                             FROM booking.refund_pool($1, $2, $3, $4)",
                        )
                        .bind(show.0)
                        .bind(order.0)
                        .bind(pool.0 as i32)
                        .bind(quantity as i32)
                    })
                    .await
                    .map_err(InventoryError::from)?;
                match out.code {
                    0 => Ok(()),
                    11 => Err(InventoryError::NotSold { order }),
                    15 => Err(InventoryError::UnknownPool { show, pool }),
                    _ => Err(out.error(&meta, HoldId(uuid::Uuid::nil()), 0)),
                }
            }
        }
    }

    async fn block(&self, show: ShowId, seats: &[SeatId]) -> Result<()> {
        let meta = self.meta(show).await?;
        // Blocking is an operator action: the per-request maximum does not apply.
        let seats = validate::seats(show, seats, meta.seat_count, u32::MAX)?;
        self.regroup(&meta, 6, &seats, None).await
    }

    async fn unblock(&self, show: ShowId, seats: &[SeatId]) -> Result<()> {
        let meta = self.meta(show).await?;
        let seats = validate::seats(show, seats, meta.seat_count, u32::MAX)?;
        self.regroup(&meta, 7, &seats, None).await
    }

    async fn snapshot(&self, show: ShowId) -> Result<Snapshot> {
        let meta = self.meta(show).await?;
        let now = self.now();
        let row = self
            .one(false, move || {
                sqlx::query(
                    "WITH n AS MATERIALIZED (SELECT coalesce($2::bigint, booking.clock_ms()) AS now), \
                     s AS (SELECT array_agg(CASE WHEN t.state = 1 AND t.held_until <= n.now THEN 0::smallint ELSE t.state END \
                                            ORDER BY t.seat) AS st, \
                                  array_agg(t.version ORDER BY t.seat) AS ver \
                           FROM booking.seats t, n WHERE t.show = $1), \
                     p AS (SELECT array_agg(p.capacity ORDER BY p.pool) AS cap, array_agg(p.sold ORDER BY p.pool) AS sold, \
                                  array_agg(p.held - coalesce((SELECT sum(h.quantity) FROM booking.holds h \
                                      WHERE h.show = $1 AND h.pool = p.pool AND h.held_until <= n.now), 0) \
                                      ORDER BY p.pool) AS held \
                           FROM booking.pools p, n WHERE p.show = $1) \
                     SELECT s.st, s.ver, p.cap, p.sold, p.held::bigint[] AS held FROM s, p",
                )
                .bind(show.0)
                .bind(now)
            })
            .await?;
        let e = db::backend;
        let st: Vec<i16> = row.try_get::<Option<Vec<i16>>, _>("st").map_err(e)?.unwrap_or_default();
        let ver: Vec<i64> = row.try_get::<Option<Vec<i64>>, _>("ver").map_err(e)?.unwrap_or_default();
        let cap: Vec<i64> = row.try_get::<Option<Vec<i64>>, _>("cap").map_err(e)?.unwrap_or_default();
        let sold: Vec<i64> = row.try_get::<Option<Vec<i64>>, _>("sold").map_err(e)?.unwrap_or_default();
        let held: Vec<i64> = row.try_get::<Option<Vec<i64>>, _>("held").map_err(e)?.unwrap_or_default();
        let seats = st
            .iter()
            .zip(&ver)
            .enumerate()
            .map(|(i, (&s, &v))| SeatView {
                seat: SeatId(i as u32),
                status: match s {
                    0 => SeatStatus::Available,
                    1 => SeatStatus::Held,
                    2 => SeatStatus::Sold,
                    _ => SeatStatus::Blocked,
                },
                version: v.max(0) as u64,
            })
            .collect();
        let u = |v: i64| v.clamp(0, u32::MAX as i64) as u32;
        let pools = cap
            .iter()
            .zip(&sold)
            .zip(&held)
            .enumerate()
            .map(|(i, ((&c, &s), &h))| PoolView {
                pool: PoolId(i as u32),
                capacity: u(c),
                held: u(h),
                sold: u(s),
                available: u(c).saturating_sub(u(s)).saturating_sub(u(h)),
            })
            .collect();
        Ok(Snapshot::from_index(show, &meta.index, seats, pools))
    }

    async fn sweep_expired(&self, show: ShowId, limit: usize) -> Result<Vec<ExpiredHold>> {
        let meta = self.meta(show).await?;
        if limit == 0 {
            return Err(InvalidRequest::ZeroLimit.into());
        }
        let (limit, now) = (limit.min(i32::MAX as usize) as i32, self.now());
        let rows = self
            .all(true, move || {
                sqlx::query("SELECT hold, owner, pool, seats, quantity FROM booking.sweep($1, $2, $3)")
                    .bind(show.0)
                    .bind(limit)
                    .bind(now)
            })
            .await?;
        if !rows.is_empty() {
            self.inner.feed.poke();
        }
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let e = db::backend;
            let pool: Option<i32> = row.try_get("pool").map_err(e)?;
            let quantity: i32 = row.try_get("quantity").map_err(e)?;
            let items = match pool {
                Some(p) => HoldItems::Pool { pool: PoolId(p as u32), quantity: quantity as u32 },
                None => {
                    let seats: Option<Vec<i32>> = row.try_get("seats").map_err(e)?;
                    HoldItems::Seats(seats.unwrap_or_default().into_iter().map(|s| SeatId(s as u32)).collect())
                }
            };
            out.push(ExpiredHold {
                show: meta.id(),
                hold: HoldId(row.try_get("hold").map_err(e)?),
                owner: OwnerId(row.try_get("owner").map_err(e)?),
                items,
            });
        }
        Ok(out)
    }

    async fn audit(&self, show: ShowId) -> Result<Audit> {
        let meta = self.meta(show).await?;
        let now = self.now();
        let rows = self
            .all(false, move || {
                sqlx::query("SELECT kind, id, a, b, c, x1, x2, x3, x4, x5, x6, list, note FROM booking.audit($1, $2)")
                    .bind(show.0)
                    .bind(now)
            })
            .await?;
        let e = db::backend;
        let mut clock = 0i64;
        let mut seats = Vec::with_capacity(meta.seat_count);
        let mut pools: Vec<PoolAudit> = Vec::with_capacity(meta.pools);
        let (mut holds, mut pool_sales, mut sales) = (Vec::new(), Vec::new(), Vec::new());
        for row in &rows {
            let kind: i16 = row.try_get("kind").map_err(e)?;
            let id = || -> Result<i32> { row.try_get::<Option<i32>, _>("id").map_err(e).map(|v| v.unwrap_or(0)) };
            let uuid = |c: &str| -> Result<Option<uuid::Uuid>> { row.try_get(c).map_err(e) };
            let num = |c: &str| -> Result<i64> { row.try_get::<Option<i64>, _>(c).map_err(e).map(|v| v.unwrap_or(0)) };
            let need =
                |v: Option<uuid::Uuid>| v.ok_or_else(|| InventoryError::Backend("audit row misses an id".into()));
            let u32_of = |v: i64| v.clamp(0, u32::MAX as i64) as u32;
            match kind {
                0 => clock = num("x1")?,
                1 => {
                    let state = match num("x1")? {
                        0 => SeatState::Available,
                        1 => SeatState::Held {
                            owner: OwnerId(need(uuid("a")?)?),
                            hold: HoldId(need(uuid("b")?)?),
                            until: num("x2")?,
                            deadline: num("x3")?,
                            renewals: u32_of(num("x4")?),
                            size: num("x6")?.clamp(0, u16::MAX as i64) as u16,
                        },
                        2 => SeatState::Sold { owner: OwnerId(need(uuid("a")?)?), order: OrderId(need(uuid("c")?)?) },
                        _ => SeatState::Blocked,
                    };
                    seats.push(Seat { state, version: num("x5")?.max(0) as u64 });
                }
                2 => pools.push(PoolAudit {
                    pool: PoolId(id()? as u32),
                    capacity: u32_of(num("x1")?),
                    sold: u32_of(num("x2")?),
                    version: num("x3")?.max(0) as u64,
                    holds: Vec::new(),
                    sales: Vec::new(),
                }),
                3 => holds.push((
                    id()?,
                    fsm::PoolHold {
                        hold: HoldId(need(uuid("a")?)?),
                        owner: OwnerId(need(uuid("b")?)?),
                        quantity: u32_of(num("x1")?),
                        until: num("x2")?,
                        deadline: num("x3")?,
                        renewals: u32_of(num("x4")?),
                        version: num("x5")?.max(0) as u64,
                    },
                )),
                4 => pool_sales.push((
                    id()?,
                    fsm::PoolSale {
                        order: OrderId(need(uuid("a")?)?),
                        owner: OwnerId(need(uuid("b")?)?),
                        hold: HoldId(need(uuid("c")?)?),
                        quantity: u32_of(num("x1")?),
                    },
                )),
                _ => sales.push(sale_record(RecordRow {
                    show,
                    order: OrderId(need(uuid("a")?)?),
                    owner: need(uuid("b")?)?,
                    hold: need(uuid("c")?)?,
                    token_version: num("x1")?,
                    seats: row.try_get("list").map_err(e)?,
                    pool: row.try_get("id").map_err(e)?,
                    quantity: row.try_get::<Option<i64>, _>("x3").map_err(e)?.map(|q| q as i32),
                    payment: row.try_get::<Option<String>, _>("note").map_err(e)?.unwrap_or_default(),
                    version: num("x2")?,
                })),
            }
        }
        for (pool, h) in holds {
            if let Some(p) = pools.get_mut(pool as usize) {
                p.holds.push(h);
            }
        }
        for (pool, sale) in pool_sales {
            if let Some(p) = pools.get_mut(pool as usize) {
                p.sales.push(sale);
            }
        }
        for p in &mut pools {
            p.holds.sort_by_key(|h| h.hold);
            p.sales.sort_by_key(|s| (s.order, s.hold));
        }
        sales.sort_by_key(|r| r.sale.order);
        Ok(Audit { show, now: millis_to_datetime(clock), seats, pools, sales })
    }

    async fn list_shows(&self) -> Result<Vec<ShowId>> {
        let rows = self
            .all(false, || sqlx::query("SELECT show FROM booking.shows WHERE archived_at IS NULL ORDER BY show"))
            .await?;
        rows.iter().map(|r| r.try_get::<uuid::Uuid, _>(0).map(ShowId).map_err(db::backend)).collect()
    }

    async fn show_spec(&self, show: ShowId) -> Result<ShowSpec> {
        let rows =
            self.all(false, move || sqlx::query("SELECT spec FROM booking.shows WHERE show = $1").bind(show.0)).await?;
        let row = rows.first().ok_or(InventoryError::UnknownShow(show))?;
        let spec: sqlx::types::Json<ShowSpec> = row.try_get(0).map_err(db::backend)?;
        Ok(spec.0)
    }

    async fn archive_show(&self, show: ShowId) -> Result<()> {
        let sql = "UPDATE booking.shows SET archived_at = coalesce(archived_at, now()) WHERE show = $1 RETURNING show";
        let rows = self.all(false, move || sqlx::query(sql).bind(show.0)).await?;
        if rows.is_empty() { Err(InventoryError::UnknownShow(show)) } else { Ok(()) }
    }

    async fn prune_feed(&self, older_than: Duration) -> Result<u64> {
        self.prune_changes(older_than).await
    }

    async fn subscribe(&self, show: ShowId) -> Result<ChangeStream> {
        self.meta(show).await?;
        self.inner.feed.subscribe(show).await
    }
}
