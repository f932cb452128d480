//! [`SeatInventory`] for [`PgInventory`].

use crate::db::Fail;
use crate::rows::*;
use crate::{PgInventory, best, coalesce, db};

use async_trait::async_trait;
use booking_core::backend::best::{PickRequest, pick_best};
use booking_core::backend::fsm::{self, Seat, SeatOp, SeatState};
use booking_core::backend::validate;
use booking_core::clock::millis_to_datetime;
use booking_core::{
    Audit, ChangeStream, ExpiredHold, Hold, HoldAction, HoldBest, HoldId, HoldItems, HoldPool, HoldSeats, HoldToken,
    InvalidRequest, InventoryError, OrderId, OwnerId, PoolAudit, PoolId, PoolView, Refund, Result, Sale, SeatId,
    SeatInventory, SeatStatus, SeatView, Sell, ShowId, ShowSpec, Snapshot,
};
use sqlx::Row;
use std::sync::Arc;
use std::time::Duration;

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
