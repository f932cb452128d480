//! Holds: taking seats or pool units (named, best available, from a pool),
//! and acting on a hold with its token (extend, verify, release). Seat
//! holds and seat releases go through request coalescing when it is on.

use crate::coalesce::{self, Admission};
use crate::codec::{Reply, bad};
use crate::error::Effect;
use crate::inventory::{Args, RedisInventory};
use crate::keys::hex;
use crate::scripts;
use crate::show::ShowInfo;
use booking_core::backend::refusal::Context;
use booking_core::backend::validate;
use booking_core::clock::millis_to_datetime;
use booking_core::{
    Hold, HoldAction, HoldBest, HoldId, HoldItems, HoldPool, HoldSeats, HoldToken, OwnerId, Result, SeatId,
};
use std::sync::Arc;

/// `hold_seats`: validates, then holds through [`hold_validated`].
pub(crate) async fn hold_seats(inv: &RedisInventory, req: &HoldSeats) -> Result<Hold> {
    let info = inv.show(req.show).await?;
    let seats = info.validate_seats(&req.seats)?;
    hold_validated(inv, &info, req.owner, seats).await
}

/// Holds validated (sorted, unique, known) seats: as the single script, or
/// in a batch when coalescing makes the request wait.
async fn hold_validated(
    inv: &RedisInventory,
    info: &Arc<ShowInfo>,
    owner: OwnerId,
    seats: Vec<SeatId>,
) -> Result<Hold> {
    let hold = HoldId::new();
    let k = &info.keys;
    let policy = &info.spec.policy;
    let admission = inv.lanes().map(|lanes| {
        lanes.holds.admit(info.spec.id, |reply| coalesce::Job {
            info: info.clone(),
            now: inv.injected_now(),
            owner,
            hold,
            version: 0,
            seats: seats.clone(),
            reply,
        })
    });
    let r = match admission {
        Some(Admission::Wait(answer)) => coalesce::answer(answer).await?,
        direct => {
            let mut args = Args::with_capacity(8 + seats.len());
            args.push(inv.time_arg())
                .push(hex(owner.as_u128()))
                .push(hex(hold.as_u128()))
                .push(policy.ttl_millis())
                .push(policy.max_hold_millis())
                .push(info.max_per_owner_arg())
                .push(inv.inner.feed_max_len)
                .push(inv.owner_index_ttl(info));
            for s in &seats {
                args.push(s.0);
            }
            let owner_key = k.owner(owner);
            let keys = [&*k.meta, &k.seats, &k.seat_expiry, &owner_key, &k.pool_holds, &k.feed, &k.free, &k.owner_sold];
            let r = inv.run(&scripts::LOADED.HOLD, &keys, args, Effect::Write).await;
            drop(direct);
            r?
        }
    };
    if r.status() != b"OK" {
        return Err(inv.refused(&r, &Context { requested: seats.len() as u32, ..info.context() }));
    }
    Ok(Hold {
        token: HoldToken { show: info.spec.id, hold, version: r.int(1)? as u64, items: HoldItems::Seats(seats) },
        owner,
        held_until: millis_to_datetime(r.int(2)?),
        renewals: 0,
    })
}

/// `hold_best`: one script picks and holds.
pub(crate) async fn hold_best(inv: &RedisInventory, req: &HoldBest) -> Result<Hold> {
    let info = inv.show(req.show).await?;
    validate::quantity(req.quantity, info.spec.policy.max_per_request)?;
    // A section the show does not have: no row, no seat matches (after
    // the owner limit, checked first).
    let rows = info.row_specs.get(&req.section).map_or("", String::as_str);
    let hold = HoldId::new();
    let k = &info.keys;
    let policy = &info.spec.policy;
    let mut args = Args::with_capacity(11);
    args.push(inv.time_arg())
        .push(hex(req.owner.as_u128()))
        .push(hex(hold.as_u128()))
        .push(policy.ttl_millis())
        .push(policy.max_hold_millis())
        .push(info.max_per_owner_arg())
        .push(inv.inner.feed_max_len)
        .push(inv.owner_index_ttl(&info))
        .push(req.quantity)
        .push(rows);
    match req.category {
        Some(c) => args.push_bytes(info.category_mask(c).to_vec()),
        None => args.push(""),
    };
    let owner_key = k.owner(req.owner);
    let keys = [&*k.meta, &k.seats, &k.seat_expiry, &owner_key, &k.pool_holds, &k.feed, &k.free, &k.owner_sold];
    let r = inv.run(&scripts::LOADED.BEST, &keys, args, Effect::Write).await?;
    if r.status() != b"OK" {
        return Err(inv.refused(&r, &Context { requested: req.quantity, ..info.context() }));
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

/// `hold_pool`: one script takes the units.
pub(crate) async fn hold_pool(inv: &RedisInventory, req: &HoldPool) -> Result<Hold> {
    let info = inv.show(req.show).await?;
    validate::quantity(req.quantity, info.spec.policy.max_per_request)?;
    info.check_pool(req.pool)?;
    let hold = HoldId::new();
    let k = &info.keys;
    let policy = &info.spec.policy;
    let mut args = Args::with_capacity(9);
    args.push(inv.time_arg())
        .push(hex(req.owner.as_u128()))
        .push(hex(hold.as_u128()))
        .push(policy.ttl_millis())
        .push(policy.max_hold_millis())
        .push(info.max_per_owner_arg())
        .push(inv.inner.feed_max_len)
        .push(req.pool.0)
        .push(req.quantity)
        .push(inv.owner_index_ttl(&info));
    let owner_key = k.owner(req.owner);
    let keys = [&*k.meta, &k.pools, &k.pool_holds, &k.pool_expiry, &owner_key, &k.seats, &k.feed, &k.owner_sold];
    let r = inv.run(&scripts::LOADED.HOLD_POOL, &keys, args, Effect::Write).await?;
    if r.status() != b"OK" {
        let ctx = Context { pool: Some(req.pool), requested: req.quantity, ..info.context() };
        return Err(inv.refused(&r, &ctx));
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

/// `extend`: the seat or pool script, by the token's items.
pub(crate) async fn extend(inv: &RedisInventory, req: &HoldAction) -> Result<Hold> {
    let t = &req.token;
    let info = inv.show(t.show).await?;
    let (r, items) = match info.check_items(&t.items)? {
        Some(seats) => {
            let r = seat_hold_action(inv, &info, req, seats.clone(), true).await?;
            (r, HoldItems::Seats(seats))
        }
        None => (pool_hold_action(inv, &info, req, true).await?, t.items.clone()),
    };
    Ok(Hold {
        token: HoldToken { show: t.show, hold: t.hold, version: r.int(1)? as u64, items },
        owner: req.owner,
        held_until: millis_to_datetime(r.int(2)?),
        renewals: r.int(3)? as u32,
    })
}

/// `release`: the seat or pool script, by the token's items.
pub(crate) async fn release(inv: &RedisInventory, req: &HoldAction) -> Result<()> {
    let info = inv.show(req.token.show).await?;
    match info.check_items(&req.token.items)? {
        Some(seats) => seat_hold_action(inv, &info, req, seats, false).await?,
        None => pool_hold_action(inv, &info, req, false).await?,
    };
    Ok(())
}

/// `verify`: a read-only script checks the hold as release would.
pub(crate) async fn verify(inv: &RedisInventory, req: &HoldAction) -> Result<Hold> {
    let t = &req.token;
    let info = inv.show(t.show).await?;
    let k = &info.keys;
    let mut args = Args::with_capacity(8);
    args.push(inv.time_arg()).push(hex(req.owner.as_u128())).push(hex(t.hold.as_u128())).push(t.version);
    let ctx = token_context(&info, t);
    match info.check_items(&t.items)? {
        Some(seats) => {
            for s in &seats {
                args.push(s.0);
            }
            let r = inv.run(&scripts::LOADED.VERIFY, &[&k.meta, &k.seats], args, Effect::Read).await?;
            if r.status() != b"OK" {
                return Err(inv.refused(&r, &ctx));
            }
            Ok(Hold::from_parts(t.show, req.owner, t.hold, t.version, t.items.clone(), r.int(1)?, r.int(2)? as u32))
        }
        None => {
            let HoldItems::Pool { pool, quantity } = t.items else { return Err(bad("pool token expected")) };
            args.push(pool.0).push(quantity);
            let keys = [&*k.meta, &k.pools, &k.pool_holds];
            let r = inv.run(&scripts::LOADED.VERIFY_POOL, &keys, args, Effect::Read).await?;
            if r.status() != b"OK" {
                return Err(inv.refused(&r, &Context { pool: Some(pool), requested: quantity, ..ctx }));
            }
            let version = r.int(1)? as u64;
            Ok(Hold::from_parts(t.show, req.owner, t.hold, version, t.items.clone(), r.int(2)?, r.int(3)? as u32))
        }
    }
}

/// What a refusal of a request presenting token `t` names.
pub(crate) fn token_context(info: &ShowInfo, t: &HoldToken) -> Context {
    Context { hold: Some(t.hold), presented: Some(t.version), requested: t.items.count(), ..info.context() }
}

/// Extends or releases a seat hold; a release waits for a batch when
/// coalescing says so.
async fn seat_hold_action(
    inv: &RedisInventory,
    info: &Arc<ShowInfo>,
    req: &HoldAction,
    seats: Vec<SeatId>,
    extend: bool,
) -> Result<Reply> {
    let k = &info.keys;
    let t = &req.token;
    let policy = &info.spec.policy;
    let admission = match inv.lanes() {
        Some(lanes) if !extend => Some(lanes.releases.admit(info.spec.id, |reply| coalesce::Job {
            info: info.clone(),
            now: inv.injected_now(),
            owner: req.owner,
            hold: t.hold,
            version: t.version,
            seats: seats.clone(),
            reply,
        })),
        _ => None,
    };
    let r = match admission {
        Some(Admission::Wait(answer)) => coalesce::answer(answer).await?,
        direct => {
            let mut args = Args::with_capacity(8 + seats.len());
            args.push(inv.time_arg()).push(hex(req.owner.as_u128())).push(hex(t.hold.as_u128())).push(t.version);
            let (script, keys) = if extend {
                args.push(policy.ttl_millis()).push(policy.max_renewals).push(inv.inner.feed_max_len);
                (&scripts::LOADED.EXTEND, [&*k.meta, &k.seats, &k.seat_expiry, &k.feed, &k.free])
            } else {
                args.push(inv.inner.feed_max_len);
                (&scripts::LOADED.RELEASE, [&*k.meta, &k.seats, &k.seat_expiry, &k.feed, &k.free])
            };
            for s in &seats {
                args.push(s.0);
            }
            let r = inv.run(script, &keys, args, Effect::Write).await;
            drop(direct);
            r?
        }
    };
    if r.status() != b"OK" {
        return Err(inv.refused(&r, &token_context(info, t)));
    }
    Ok(r)
}

/// Extends or releases a pool hold.
async fn pool_hold_action(inv: &RedisInventory, info: &ShowInfo, req: &HoldAction, extend: bool) -> Result<Reply> {
    let k = &info.keys;
    let t = &req.token;
    let HoldItems::Pool { pool, quantity } = t.items else { return Err(bad("pool token expected")) };
    let policy = &info.spec.policy;
    let mut args = Args::with_capacity(9);
    args.push(inv.time_arg()).push(hex(req.owner.as_u128())).push(hex(t.hold.as_u128())).push(t.version);
    let script = if extend {
        args.push(policy.ttl_millis()).push(policy.max_renewals).push(inv.inner.feed_max_len);
        &scripts::LOADED.EXTEND_POOL
    } else {
        args.push(inv.inner.feed_max_len);
        &scripts::LOADED.RELEASE_POOL
    };
    args.push(pool.0).push(quantity);
    let keys = [&*k.meta, &k.pools, &k.pool_holds, &k.pool_expiry, &k.feed];
    let r = inv.run(script, &keys, args, Effect::Write).await?;
    if r.status() != b"OK" {
        return Err(inv.refused(&r, &Context { pool: Some(pool), ..token_context(info, t) }));
    }
    Ok(r)
}
