//! The holds of the port: seat, best-available and pool holds, and
//! extending, releasing and verifying them.

use crate::db::Fail;
use crate::outcome::routed;
use crate::rows::{Picked, PoolOp, SeatCall, same_show, to_i32};
use crate::{PgInventory, best, coalesce};

use booking_core::backend::best::{PickRequest, pick_best};
use booking_core::backend::fsm::{self, SeatOp, SeatState};
use booking_core::backend::refusal::Context;
use booking_core::backend::validate;
use booking_core::clock::millis_to_datetime;
use booking_core::{
    Hold, HoldAction, HoldBest, HoldId, HoldItems, HoldPool, HoldSeats, HoldToken, InvalidRequest, InventoryError,
    OwnerId, Result, SeatId, ShowId,
};
use sqlx::Row;

pub(crate) async fn hold_seats(inv: &PgInventory, req: &HoldSeats) -> Result<Hold> {
    let meta = inv.meta(req.show).await?;
    let seats = meta.seats(&req.seats)?;
    inv.try_hold(&meta, req.owner, &seats, inv.now()).await
}

pub(crate) async fn hold_best(inv: &PgInventory, req: &HoldBest) -> Result<Hold> {
    let meta = inv.meta(req.show).await?;
    validate::quantity(req.quantity, meta.max_per_request())?;
    let now = inv.now();
    let pick = PickRequest { quantity: req.quantity, section: req.section, category: req.category };
    // The rows are read a chunk at a time, only as far as the pick needs
    // (see `best`), never the whole show up front.
    let mut prefix = best::Prefix::new(&meta.index.rows, req.section, req.quantity);
    let mut last_taken: Vec<SeatId> = Vec::new();
    let mut attempts = 0;
    // The model checks the per-owner limit before it picks: the owner's
    // count is read in the same snapshot as the first seats read, so the
    // limit and the pick judge one state. (A hold checks it again.)
    // The ticket cap (held and sold) likewise, after the held limit.
    let max = meta.policy.max_held_per_owner.map(i64::from);
    let tickets = meta.policy.max_tickets_per_owner.map(i64::from);
    let mut limit_unchecked = max.is_some() || tickets.is_some();
    let over = |(held, sold): (i64, i64)| {
        let would_hold = held + req.quantity as i64;
        if max.is_some_and(|m| would_hold > m) {
            return Err(meta.limit(would_hold));
        }
        let would_have = would_hold + sold;
        if tickets.is_some_and(|m| would_have > m) { Err(meta.tickets_limit(would_have)) } else { Ok(()) }
    };
    while attempts < 16 {
        let chosen = pick_best(&meta.index.rows, &pick, |s| meta.index.category(s), |s| prefix.is_free(s.0));
        let Some(seats) = chosen else {
            if limit_unchecked {
                over(inv.held_by(meta.id(), req.owner, now).await?)?;
            }
            return Err(InventoryError::NoSeatsAvailable { requested: req.quantity });
        };
        if !prefix.covers(&seats) {
            let Some(chunk) = prefix.next_chunk() else {
                return Err(InventoryError::Backend("best available picked a seat outside the show".into()));
            };
            let owner = limit_unchecked.then_some(req.owner);
            let (free, held) = inv.free_seats(meta.id(), chunk, now, owner).await?;
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
        match inv.hold_picked(&meta, req.owner, &seats, now, &region).await? {
            Picked::Held(h) => return Ok(h),
            Picked::Changed(free) => {
                prefix.refresh(region.first, region.last, &free);
                last_taken = seats;
            }
        }
    }
    Err(InventoryError::SeatsTaken { seats: last_taken })
}

pub(crate) async fn hold_pool(inv: &PgInventory, req: &HoldPool) -> Result<Hold> {
    let meta = inv.meta(req.show).await?;
    validate::quantity(req.quantity, meta.max_per_request())?;
    meta.pool(req.pool)?;
    let (show, owner, hold, pool, quantity, now) =
        (meta.id(), req.owner, HoldId::new(), req.pool, req.quantity, inv.now());
    let items = HoldItems::Pool { pool, quantity };
    let res = inv
        .call(|| {
            sqlx::query(routed!("hold_pool", "($1, $2, $3, $4, $5, $6)").on(meta.part))
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
        Err(Fail::Lost(e)) => return resolve_hold(inv, show, hold, items, e).await,
        Err(f) => return Err(f.into_error(&Context { pool: Some(pool), requested: quantity, ..meta.context() })),
    };
    if let Some(f) = out.follow_up {
        return Err(f.unexpected());
    }
    Ok(Hold {
        token: HoldToken { show, hold, version: out.version(), items },
        owner,
        held_until: millis_to_datetime(out.held_until()),
        renewals: 0,
    })
}

pub(crate) async fn extend(inv: &PgInventory, req: &HoldAction) -> Result<Hold> {
    let t = &req.token;
    let meta = inv.meta(t.show).await?;
    same_show(&meta, t)?;
    let out = match meta.items(&t.items)? {
        Some(seats) => {
            let out = inv.seat_call(&meta, req, &seats, SeatCall::Extend).await?;
            let token =
                HoldToken { show: t.show, hold: t.hold, version: out.version(), items: HoldItems::Seats(seats) };
            return Ok(Hold {
                token,
                owner: req.owner,
                held_until: millis_to_datetime(out.held_until()),
                renewals: out.renewals(),
            });
        }
        None => {
            let HoldItems::Pool { pool, quantity } = t.items else {
                return Err(InvalidRequest::TokenMismatch.into());
            };
            inv.pool_call(&meta, PoolOp::Extend, req, pool, quantity, None, None, None).await?
        }
    };
    Ok(Hold {
        token: HoldToken { show: t.show, hold: t.hold, version: out.version(), items: t.items.clone() },
        owner: req.owner,
        held_until: millis_to_datetime(out.held_until()),
        renewals: out.renewals(),
    })
}

pub(crate) async fn release(inv: &PgInventory, req: &HoldAction) -> Result<()> {
    let t = &req.token;
    let meta = inv.meta(t.show).await?;
    same_show(&meta, t)?;
    match meta.items(&t.items)? {
        Some(seats) => {
            let lanes = inv.lanes(&meta);
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
                    now: inv.now(),
                    reply,
                };
                match lanes.releases.send(job).await {
                    Ok(out) if out.follow_up.is_none() => {
                        inv.inner.feed.poke();
                        return Ok(());
                    }
                    // Not released: ask alone to learn why.
                    Ok(_) => {}
                    Err(f) => return Err(f.into_error(&meta.token_context(t))),
                }
            }
            inv.seat_call(&meta, req, &seats, SeatCall::Release).await.map(|_| ())
        }
        None => {
            let HoldItems::Pool { pool, quantity } = t.items else {
                return Err(InvalidRequest::TokenMismatch.into());
            };
            inv.pool_call(&meta, PoolOp::Release, req, pool, quantity, None, None, None).await.map(|_| ())
        }
    }
}

pub(crate) async fn verify(inv: &PgInventory, req: &HoldAction) -> Result<Hold> {
    let t = &req.token;
    let meta = inv.meta(t.show).await?;
    same_show(&meta, t)?;
    match meta.items(&t.items)? {
        Some(seats) => {
            // A read: the checks release makes, on the rows as they are.
            let read = inv.read_seats(meta.id(), &seats, inv.now(), None).await?;
            let op = SeatOp::Release { owner: req.owner, hold: t.hold, version: t.version };
            fsm::check(read.rows.iter(), &seats, &op, read.at)?;
            match read.rows.first().map(|s| s.state) {
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
            let out = inv.pool_call(&meta, PoolOp::Verify, req, pool, quantity, None, None, None).await?;
            Ok(Hold {
                token: HoldToken { show: t.show, hold: t.hold, version: out.version(), items: t.items.clone() },
                owner: req.owner,
                held_until: millis_to_datetime(out.held_until()),
                renewals: out.renewals(),
            })
        }
    }
}

/// After a connection loss during a hold: the hold is known to exist if
/// its rows are there (every seat of a seat hold held under it, or the
/// pool hold's row); otherwise the outcome is unknown.
pub(crate) async fn resolve_hold(
    inv: &PgInventory,
    show: ShowId,
    hold: HoldId,
    items: HoldItems,
    lost: Box<dyn std::error::Error + Send + Sync>,
) -> Result<Hold> {
    let seats: Option<Vec<i32>> = match &items {
        HoldItems::Seats(seats) => Some(to_i32(seats)),
        HoldItems::Pool { .. } => None,
    };
    let found = inv
        .all(false, move || {
            sqlx::query(
                "SELECT owner, held_until, renewals, version FROM booking.holds \
                 WHERE $3::integer[] IS NULL AND show = $1 AND hold = $2 \
                 UNION ALL \
                 SELECT (array_agg(owner))[1], max(held_until), max(renewals), max(version) FROM booking.seats \
                 WHERE $3::integer[] IS NOT NULL AND show = $1 AND seat = ANY ($3) AND hold = $2 AND state = 1 \
                   AND size = cardinality($3) \
                 HAVING count(*) = cardinality($3)",
            )
            .bind(show.0)
            .bind(hold.0)
            .bind(seats.clone())
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
