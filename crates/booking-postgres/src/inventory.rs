//! The inventory's handle and the calls its port methods are built from:
//! one function call per request, retries, the show cache, the coalescing
//! lanes.

use crate::db::{Backoff, Conns, Fail, Stmt};
use crate::outcome::{FollowUp, Outcome, STORE, routed};
use crate::rows::{
    Picked, PoolOp, RecordRow, Regroup, SaleProbe, SeatCall, SeatRead, ShowMeta, sale_record, seat_from_row, to_i32,
};
use crate::{PgInventoryBuilder, best, coalesce, db, feed, migrate, pool_options};

use booking_core::backend::failure::in_operation;
use booking_core::backend::fsm::{self, SeatOp};
use booking_core::backend::refusal::Context;
use booking_core::clock::millis_to_datetime;
use booking_core::{
    Clock, Coalescing, Hold, HoldAction, HoldId, HoldItems, HoldToken, InventoryError, Limit, OrderId, OwnerId, PoolId,
    Result, SaleRecord, SeatId, ShowId, ShowSpec, TimeSource,
};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// The seat inventory on PostgreSQL: see the crate docs.
///
/// Cheap to clone; clones share the pool, the show cache and the feed.
#[derive(Clone)]
pub struct PgInventory {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) conns: Arc<Conns>,
    pub(crate) time: TimeSource,
    pub(crate) backoff: Backoff,
    pub(crate) shows: RwLock<HashMap<ShowId, Arc<ShowMeta>>>,
    pub(crate) feed: feed::Feed,
    pub(crate) coalesce: Option<Coalescing>,
    /// The coalescing lanes of each show, started on first use.
    pub(crate) lanes: Mutex<HashMap<ShowId, Arc<coalesce::Coalescer>>>,
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

impl PgInventory {
    /// Connects to `url` with [`pool_options`], applies the [`migrations`](crate::migrations)
    /// (through [`migrate`], adopting history left in `_sqlx_migrations` by
    /// earlier versions) and returns an inventory on the database clock.
    pub async fn connect(url: &str) -> Result<Self> {
        let op = in_operation(STORE, "connect");
        let pool = pool_options().connect(url).await.map_err(db::unavailable).map_err(&op)?;
        migrate(&pool).await.map_err(|e| op(InventoryError::Backend(Box::new(e))))?;
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
            coalesce: Some(crate::DEFAULT_COALESCING),
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
        let op = in_operation(STORE, "prune_changes");
        let row =
            self.one(true, move || sqlx::query("SELECT booking.prune_changes($1)").bind(secs)).await.map_err(&op)?;
        Ok(row.try_get::<i64, _>(0).map_err(db::backend).map_err(op)?.max(0) as u64)
    }

    /// How many change-feed reader tasks this inventory runs: 1 while
    /// someone is subscribed, else 0 (once the reader noticed). For tests.
    #[cfg(feature = "testkit")]
    pub fn feed_reader_tasks(&self) -> usize {
        self.inner.feed.readers()
    }

    /// The injected clock's time, or `None` for the database clock.
    pub(crate) fn now(&self) -> Option<i64> {
        self.inner.time.injected_millis()
    }

    /// The show's coalescing lanes, made on first use, when enabled.
    pub(crate) fn lanes(&self, meta: &ShowMeta) -> Option<Arc<coalesce::Coalescer>> {
        let settings = self.inner.coalesce?;
        let mut lanes = self.inner.lanes.lock().unwrap_or_else(|p| p.into_inner());
        Some(
            lanes
                .entry(meta.id())
                .or_insert_with(|| {
                    let conns = self.inner.conns.clone();
                    Arc::new(coalesce::Coalescer::new(conns, self.inner.backoff, settings, meta.part))
                })
                .clone(),
        )
    }

    pub(crate) async fn one(&self, changes: bool, make: impl Fn() -> Stmt) -> Result<PgRow> {
        db::fetch_one(&self.inner.conns, &self.inner.backoff, changes, make).await.map_err(InventoryError::from)
    }

    pub(crate) async fn all(&self, changes: bool, make: impl Fn() -> Stmt) -> Result<Vec<PgRow>> {
        db::fetch_all(&self.inner.conns, &self.inner.backoff, changes, make).await.map_err(InventoryError::from)
    }

    /// Calls an inventory function that changes data and reads its
    /// outcome; a refusal, returned or raised, is [`Fail::Refused`].
    pub(crate) async fn call(&self, make: impl Fn() -> Stmt) -> Result<Outcome, Fail> {
        let out = Outcome::call(&self.inner.conns, &self.inner.backoff, make).await?;
        if out.follow_up.is_none() {
            self.inner.feed.poke();
        }
        Ok(out)
    }

    /// The show's metadata, from the cache or the database.
    pub(crate) async fn meta(&self, show: ShowId) -> Result<Arc<ShowMeta>> {
        if let Some(m) = self.inner.shows.read().unwrap_or_else(|p| p.into_inner()).get(&show) {
            return Ok(m.clone());
        }
        let rows = self
            .all(false, move || {
                sqlx::query("SELECT spec, booking.show_partition(show) AS part FROM booking.shows WHERE show = $1")
                    .bind(show.0)
            })
            .await?;
        let Some(row) = rows.first() else { return Err(InventoryError::UnknownShow(show)) };
        let spec: sqlx::types::Json<ShowSpec> = row.try_get("spec").map_err(db::backend)?;
        let part: Option<i32> = row.try_get("part").map_err(db::backend)?;
        let meta = Arc::new(ShowMeta::new(&spec.0, part));
        self.inner.shows.write().unwrap_or_else(|p| p.into_inner()).insert(show, meta.clone());
        Ok(meta)
    }

    /// Holds `seats` (sorted, validated), alone or in a coalesced batch.
    pub(crate) async fn try_hold(
        &self,
        meta: &ShowMeta,
        owner: OwnerId,
        seats: &[SeatId],
        now: Option<i64>,
    ) -> Result<Hold> {
        let (show, hold, list) = (meta.id(), HoldId::new(), to_i32(seats));
        let lanes = self.lanes(meta);
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
                if matches!(&res, Ok(out) if out.follow_up.is_none()) {
                    self.inner.feed.poke();
                }
                res
            }
            _ => {
                self.call(|| {
                    sqlx::query(routed!("hold_seats", "($1, $2, $3, $4, $5)").on(meta.part))
                        .bind(show.0)
                        .bind(owner.0)
                        .bind(hold.0)
                        .bind(list.clone())
                        .bind(now)
                })
                .await
            }
        };
        let out = match res {
            Ok(out) => out,
            Err(Fail::Lost(e)) => {
                return crate::holds::resolve_hold(self, show, hold, HoldItems::Seats(seats.to_vec()), e).await;
            }
            Err(f) => return Err(f.into_error(&Context { requested: seats.len() as u32, ..meta.context() })),
        };
        if let Some(f) = out.follow_up {
            return Err(f.unexpected());
        }
        Ok(Hold {
            token: HoldToken { show, hold, version: out.version(), items: HoldItems::Seats(seats.to_vec()) },
            owner,
            held_until: millis_to_datetime(out.held_until()),
            renewals: 0,
        })
    }

    /// Holds a best-available pick if the seats of `region` are as the pick
    /// saw them (`booking.hold_best_seats`).
    pub(crate) async fn hold_picked(
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
                sqlx::query(routed!("hold_best_seats", "($1, $2, $3, $4, $5, $6, $7, $8, $9)").on(meta.part))
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
                return crate::holds::resolve_hold(self, show, hold, HoldItems::Seats(seats.to_vec()), e)
                    .await
                    .map(Picked::Held);
            }
            Err(f) => return Err(f.into_error(&Context { requested: seats.len() as u32, ..meta.context() })),
        };
        match out.follow_up {
            None => Ok(Picked::Held(Hold {
                token: HoldToken { show, hold, version: out.version(), items: HoldItems::Seats(seats.to_vec()) },
                owner,
                held_until: millis_to_datetime(out.held_until()),
                renewals: 0,
            })),
            Some(FollowUp::PickAgain) => Ok(Picked::Changed(out.seat_ids().into_iter().map(|s| s.0).collect())),
            Some(f) => Err(f.unexpected()),
        }
    }

    /// Reads seats as the state machine sees them, with the time to judge
    /// them by and, for a sale ([`SaleProbe`]), whether the order has a
    /// sale record and what its payer has bought: all from one snapshot, so
    /// that the answer is the one the request would get at that instant.
    pub(crate) async fn read_seats(
        &self,
        show: ShowId,
        seats: &[SeatId],
        now: Option<i64>,
        sale: Option<SaleProbe<'_>>,
    ) -> Result<SeatRead> {
        let list = to_i32(seats);
        let order = sale.map(|s| s.order.0);
        let payer = sale.and_then(|s| s.payer.map(str::to_owned));
        let rows = self
            .all(false, move || {
                sqlx::query(
                    "SELECT seat, state, owner, hold, order_id, held_until, deadline, renewals, version, size, \
                     coalesce($3::bigint, booking.clock_ms()) AS now, \
                     EXISTS (SELECT 1 FROM booking.sales r WHERE r.show = $1 AND r.order_id = $4) AS recorded, \
                     (SELECT p.sold FROM booking.payer_sold p WHERE p.show = $1 AND p.payer = $5)::bigint AS paid \
                     FROM booking.seats WHERE show = $1 AND seat = ANY($2) ORDER BY seat",
                )
                .bind(show.0)
                .bind(list.clone())
                .bind(now)
                .bind(order)
                .bind(payer.clone())
            })
            .await?;
        if rows.len() != seats.len() {
            return Err(InventoryError::Backend("seat rows missing".into()));
        }
        let mut read =
            SeatRead { rows: Vec::with_capacity(rows.len()), at: now.unwrap_or(0), recorded: false, paid: 0 };
        for row in &rows {
            read.rows.push(seat_from_row(row).map_err(db::backend)?);
            read.at = row.try_get("now").map_err(db::backend)?;
            read.recorded = row.try_get("recorded").map_err(db::backend)?;
            let paid: Option<i64> = row.try_get("paid").map_err(db::backend)?;
            read.paid = paid.map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX));
        }
        Ok(read)
    }

    /// Extends, releases or sells a seat hold. The compare-and-set in SQL
    /// decides; when it matches nothing, the rows are read and the pure state
    /// machine names the error the model would.
    pub(crate) async fn seat_call(
        &self,
        meta: &ShowMeta,
        req: &HoldAction,
        seats: &[SeatId],
        call: SeatCall,
    ) -> Result<Outcome> {
        let t = &req.token;
        let (show, owner, hold, version, list) = (meta.id(), req.owner, t.hold, t.version as i64, to_i32(seats));
        let now = self.now();
        // What a sale's follow-up read also asks (nothing for the others).
        let probe = match &call {
            SeatCall::Sell { order, payer, .. } => Some(SaleProbe { order: *order, payer: payer.as_deref() }),
            _ => None,
        };
        let order = probe.map(|p| p.order);
        let ctx = Context { order, ..meta.token_context(t) };
        for _ in 0..4 {
            let res = match &call {
                SeatCall::Extend | SeatCall::Release => {
                    let sql = match call {
                        SeatCall::Extend => routed!("extend_seats", "($1, $2, $3, $4, $5, $6)"),
                        _ => routed!("finish_seats", "($1, $2, $3, $4, $5, $6, NULL, NULL)"),
                    };
                    self.call(|| {
                        sqlx::query(sql.on(meta.part))
                            .bind(show.0)
                            .bind(owner.0)
                            .bind(hold.0)
                            .bind(version)
                            .bind(list.clone())
                            .bind(now)
                    })
                    .await
                }
                SeatCall::Sell { order, payment, presented, payer } => {
                    self.call(|| {
                        sqlx::query(
                            routed!("sell_seats_paid", "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)").on(meta.part),
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
                        .bind(payer.clone())
                    })
                    .await
                }
            };
            match res.map(|out| (out.follow_up, out)) {
                Ok((None, out)) => return Ok(out),
                // The order of a sale has a record; the caller answers from it.
                Ok((Some(FollowUp::ReadRecord), out)) if order.is_some() => return Ok(out),
                Ok((Some(FollowUp::ReadSeats), _)) => {}
                Ok((Some(f), _)) => return Err(f.unexpected()),
                Err(f) => return Err(f.into_error(&ctx)),
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
            let read = self.read_seats(show, seats, now, probe).await?;
            if read.recorded {
                // Sold to this order meanwhile: the record answers first.
                return Ok(Outcome::follow(FollowUp::ReadRecord));
            }
            // Then, as at the sale, the payer's cap: another sale to the
            // payer may have been counted since the call checked it.
            if let (Some(SaleProbe { payer: Some(_), .. }), Some(max)) = (probe, meta.policy.max_tickets_per_payment) {
                let would_have = read.paid.saturating_add(t.items.count());
                if would_have > max {
                    return Err(InventoryError::LimitExceeded(Limit::TicketsPerPayment { would_have, max }));
                }
            }
            fsm::check(read.rows.iter(), seats, &op, read.at)?;
            // The rows allow it now: the state changed under us; try again.
        }
        Err(InventoryError::Backend("seat hold kept changing; gave up".into()))
    }

    /// Extends, verifies, releases or sells a pool hold.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn pool_call(
        &self,
        meta: &ShowMeta,
        op: PoolOp,
        req: &HoldAction,
        pool: PoolId,
        quantity: u32,
        order: Option<OrderId>,
        payment: Option<String>,
        payer: Option<String>,
    ) -> Result<Outcome> {
        let t = &req.token;
        let (show, owner, hold, version, now) = (meta.id(), req.owner, t.hold, t.version as i64, self.now());
        let res = self
            .call(|| {
                sqlx::query(routed!("pool_op_paid", "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)").on(meta.part))
                    .bind(show.0)
                    .bind(op as i32)
                    .bind(owner.0)
                    .bind(hold.0)
                    .bind(version)
                    .bind(pool.0 as i32)
                    .bind(quantity as i32)
                    .bind(now)
                    .bind(order.map(|o| o.0))
                    .bind(payment.clone())
                    .bind(payer.clone())
            })
            .await;
        let out = res.map_err(|f| f.into_error(&Context { order, pool: Some(pool), ..meta.token_context(t) }))?;
        match out.follow_up {
            None => Ok(out),
            Some(FollowUp::ReadRecord) if op == PoolOp::Sell => Ok(out),
            Some(f) => Err(f.unexpected()),
        }
    }

    /// Refunds, blocks or unblocks a group of seats.
    pub(crate) async fn regroup(
        &self,
        meta: &ShowMeta,
        kind: Regroup,
        seats: &[SeatId],
        order: Option<OrderId>,
    ) -> Result<()> {
        let (show, list, now) = (meta.id(), to_i32(seats), self.now());
        let res = self
            .call(|| {
                sqlx::query(routed!("regroup_seats", "($1, $2, $3, $4, $5)").on(meta.part))
                    .bind(show.0)
                    .bind(kind as i32)
                    .bind(list.clone())
                    .bind(order.map(|o| o.0))
                    .bind(now)
            })
            .await;
        match res {
            Ok(Outcome { follow_up: None, .. }) => Ok(()),
            Ok(Outcome { follow_up: Some(f), .. }) => Err(f.unexpected()),
            Err(f) => Err(f.into_error(&Context { order, requested: seats.len() as u32, ..meta.context() })),
        }
    }

    /// The sale record of `order` in `show` (one exists: a sell answered
    /// [`FollowUp::ReadRecord`]).
    pub(crate) async fn sale_record(&self, show: ShowId, order: OrderId) -> Result<SaleRecord> {
        let rows = self
            .all(false, move || {
                sqlx::query(
                    "SELECT owner, hold, token_version, token_seats, token_pool, token_quantity, payment, payer, version \
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
            payer: row.try_get("payer").map_err(e)?,
            version: row.try_get("version").map_err(e)?,
        }))
    }

    /// Seats plus pool units `owner` holds live now.
    pub(crate) async fn held_by(&self, show: ShowId, owner: OwnerId, now: Option<i64>) -> Result<(i64, i64)> {
        let row = self
            .one(false, move || {
                sqlx::query(
                    "SELECT booking.held_by($1, $2, coalesce($3::bigint, booking.clock_ms()))::bigint, \
                            booking.sold_to($1, $2)::bigint",
                )
                .bind(show.0)
                .bind(owner.0)
                .bind(now)
            })
            .await?;
        Ok((row.try_get::<i64, _>(0).map_err(db::backend)?, row.try_get::<i64, _>(1).map_err(db::backend)?))
    }

    /// The free seats of `show` within the seat ids `lo..=hi` (a range of
    /// the primary key: only those rows are read) and, for `owner`, the
    /// seats and units it holds live, read in the same snapshot.
    pub(crate) async fn free_seats(
        &self,
        show: ShowId,
        (lo, hi): (u32, u32),
        now: Option<i64>,
        owner: Option<OwnerId>,
    ) -> Result<(Vec<u32>, Option<(i64, i64)>)> {
        let row = self
            .one(false, move || {
                sqlx::query(
                    "WITH n AS MATERIALIZED (SELECT coalesce($4::bigint, booking.clock_ms()) AS now) \
                     SELECT (SELECT array_agg(t.seat ORDER BY t.seat) FROM booking.seats t \
                             WHERE t.show = $1 AND t.seat BETWEEN $2 AND $3 \
                               AND (t.state = 0 OR (t.state = 1 AND t.held_until <= n.now))) AS free, \
                            CASE WHEN $5::uuid IS NOT NULL THEN booking.held_by($1, $5, n.now)::bigint END AS held, \
                            CASE WHEN $5::uuid IS NOT NULL THEN booking.sold_to($1, $5)::bigint END AS sold \
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
        let sold: Option<i64> = row.try_get("sold").map_err(db::backend)?;
        Ok((seats.unwrap_or_default().into_iter().map(|s| s as u32).collect(), held.zip(sold)))
    }
}
