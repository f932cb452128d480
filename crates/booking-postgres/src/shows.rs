//! Shows as the port sees them: creating, blocking and unblocking seats,
//! snapshots, the sweeper, audits, listing and archiving.

use crate::rows::{RecordRow, Regroup, sale_record};
use crate::{PgInventory, db};

use booking_core::backend::fsm::{self, Seat, SeatState};
use booking_core::backend::validate;
use booking_core::clock::millis_to_datetime;
use booking_core::{
    Audit, ExpiredHold, HoldId, HoldItems, InvalidRequest, InventoryError, OrderId, OwnerId, PoolAudit, PoolId,
    PoolView, Result, SeatId, SeatStatus, SeatView, ShowId, ShowSpec, Snapshot,
};
use sqlx::Row;

pub(crate) async fn create_show(inv: &PgInventory, spec: &ShowSpec) -> Result<()> {
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
    let row = inv
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
    // The show's metadata is read back on first use, with its partition.
    Ok(())
}

pub(crate) async fn block(inv: &PgInventory, show: ShowId, seats: &[SeatId]) -> Result<()> {
    let meta = inv.meta(show).await?;
    // Blocking is an operator action: the per-request maximum does not apply.
    let seats = validate::seats(show, seats, meta.seat_count, u32::MAX)?;
    inv.regroup(&meta, Regroup::Block, &seats, None).await
}

pub(crate) async fn unblock(inv: &PgInventory, show: ShowId, seats: &[SeatId]) -> Result<()> {
    let meta = inv.meta(show).await?;
    let seats = validate::seats(show, seats, meta.seat_count, u32::MAX)?;
    inv.regroup(&meta, Regroup::Unblock, &seats, None).await
}

pub(crate) async fn snapshot(inv: &PgInventory, show: ShowId) -> Result<Snapshot> {
    let meta = inv.meta(show).await?;
    let now = inv.now();
    let row = inv
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

pub(crate) async fn sweep_expired(inv: &PgInventory, show: ShowId, limit: usize) -> Result<Vec<ExpiredHold>> {
    let meta = inv.meta(show).await?;
    if limit == 0 {
        return Err(InvalidRequest::ZeroLimit.into());
    }
    let (limit, now) = (limit.min(i32::MAX as usize) as i32, inv.now());
    let rows = inv
        .all(true, move || {
            sqlx::query("SELECT hold, owner, pool, seats, quantity FROM booking.sweep($1, $2, $3)")
                .bind(show.0)
                .bind(limit)
                .bind(now)
        })
        .await?;
    if !rows.is_empty() {
        inv.inner.feed.poke();
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

pub(crate) async fn audit(inv: &PgInventory, show: ShowId) -> Result<Audit> {
    let meta = inv.meta(show).await?;
    let now = inv.now();
    let rows = inv
        .all(false, move || {
            sqlx::query(
                "SELECT kind, id, a, b, c, x1, x2, x3, x4, x5, x6, list, note, payer FROM booking.audit($1, $2)",
            )
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
        let need = |v: Option<uuid::Uuid>| v.ok_or_else(|| InventoryError::Backend("audit row misses an id".into()));
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
                payer: row.try_get("payer").map_err(e)?,
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

pub(crate) async fn list_shows(inv: &PgInventory) -> Result<Vec<ShowId>> {
    let rows = inv
        .all(false, || sqlx::query("SELECT show FROM booking.shows WHERE archived_at IS NULL ORDER BY show"))
        .await?;
    rows.iter().map(|r| r.try_get::<uuid::Uuid, _>(0).map(ShowId).map_err(db::backend)).collect()
}

pub(crate) async fn show_spec(inv: &PgInventory, show: ShowId) -> Result<ShowSpec> {
    let rows =
        inv.all(false, move || sqlx::query("SELECT spec FROM booking.shows WHERE show = $1").bind(show.0)).await?;
    let row = rows.first().ok_or(InventoryError::UnknownShow(show))?;
    let spec: sqlx::types::Json<ShowSpec> = row.try_get(0).map_err(db::backend)?;
    Ok(spec.0)
}

pub(crate) async fn archive_show(inv: &PgInventory, show: ShowId) -> Result<()> {
    let sql = "UPDATE booking.shows SET archived_at = coalesce(archived_at, now()) WHERE show = $1 RETURNING show";
    let rows = inv.all(false, move || sqlx::query(sql).bind(show.0)).await?;
    if rows.is_empty() { Err(InventoryError::UnknownShow(show)) } else { Ok(()) }
}
