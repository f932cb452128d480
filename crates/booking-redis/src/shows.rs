//! Shows as a whole: creating, listing, reading back and archiving them;
//! blocking seats; snapshots, sweeps, audits and the change feed.

use crate::codec::{self, bad, bytes, hex_id, int};
use crate::conn::{Conn, Target};
use crate::error::{Effect, from_redis};
use crate::feed;
use crate::inventory::{Args, RedisInventory};
use crate::keys;
use crate::scripts;
use crate::show::ShowInfo;
use booking_core::backend::fsm::SeatStatus;
use booking_core::backend::refusal::Context;
use booking_core::backend::validate;
use booking_core::{
    Audit, ChangeStream, ExpiredHold, HoldId, HoldItems, InvalidRequest, InventoryError, OwnerId, PoolId, PoolView,
    Result, SeatId, SeatView, ShowId, ShowSpec, Snapshot,
};
use redis::{AsyncConnectionConfig, Value};
use std::collections::HashMap;

/// `create_show`: one script writes the show's keys; the show is then
/// listed in the prefix's index.
pub(crate) async fn create_show(inv: &RedisInventory, show: &ShowSpec) -> Result<()> {
    show.validate()?;
    let json = serde_json::to_string(show).map_err(|e| bad(format!("show spec: {e}")))?;
    let k = inv.keys(show.id);
    let mut args = Args::with_capacity(2 + show.pools.len());
    args.push(json).push(show.layout.seat_count());
    for p in &show.pools {
        args.push(p.capacity);
    }
    let r = inv.run(&scripts::LOADED.CREATE, &[&k.meta, &k.pools, &k.seats, &k.free], args, Effect::Write).await?;
    match r.status() {
        b"OK" => {}
        // A show created before whose listing did not happen (the
        // index is written after the show's keys, see `list`): list
        // it now, so that a retried create ends listed.
        b"EXISTS" if r.int(1)? == 0 => {
            inv.list(show.id, true).await?;
            return Err(InventoryError::ShowExists(show.id));
        }
        b"EXISTS" => return Err(InventoryError::ShowExists(show.id)),
        _ => return Err(inv.refused(&r, &Context { show: Some(show.id), ..Context::default() })),
    }
    inv.remember(show.clone());
    inv.list(show.id, true).await
}

/// `list_shows`: the shows in the prefix's index ([`keys::show_index`]),
/// read with one `ZRANGE`: never a scan of the keyspace.
pub(crate) async fn list_shows(inv: &RedisInventory) -> Result<Vec<ShowId>> {
    let mut conn = inv.inner.conn.clone();
    let members: Vec<Vec<u8>> = redis::cmd("ZRANGE")
        .arg(keys::show_index(&inv.inner.prefix))
        .arg(0)
        .arg(-1)
        .query_async(&mut conn)
        .await
        .map_err(|e| from_redis(e, Effect::Read))?;
    members.iter().map(|m| keys::parse_hex(m).map(ShowId::from_u128).ok_or_else(|| bad("listed show id"))).collect()
}

/// `archive_show`: marks the show archived in its `meta` hash (one script
/// on the show's slot), then removes it from the prefix's index. An error
/// after the first step leaves the show archived but listed; archiving
/// again (idempotent) removes it.
pub(crate) async fn archive_show(inv: &RedisInventory, show: ShowId) -> Result<()> {
    let k = inv.keys(show);
    let r = inv.run(&scripts::LOADED.ARCHIVE, &[&k.meta], Args::with_capacity(0), Effect::Write).await?;
    if r.status() != b"OK" {
        return Err(inv.refused(&r, &Context { show: Some(show), ..Context::default() }));
    }
    inv.list(show, false).await
}

/// `block` (`block` true) or `unblock`: one script.
pub(crate) async fn block_or_unblock(inv: &RedisInventory, show: ShowId, seats: &[SeatId], block: bool) -> Result<()> {
    let info = inv.show(show).await?;
    // Blocking is an operator action: the per-request maximum does not apply.
    let seats = validate::seats(show, seats, info.seat_count(), u32::MAX)?;
    let k = &info.keys;
    let mut args = Args::with_capacity(3 + seats.len());
    args.push(inv.time_arg()).push(if block { "B" } else { "U" }).push(inv.inner.feed_max_len);
    for s in &seats {
        args.push(s.0);
    }
    let keys = [&*k.meta, &k.seats, &k.seat_expiry, &k.feed, &k.free];
    let r = inv.run(&scripts::LOADED.BLOCK, &keys, args, Effect::Write).await?;
    if r.status() != b"OK" {
        return Err(inv.refused(&r, &info.context()));
    }
    Ok(())
}

/// `snapshot`: the snapshot script's state, per seat and pool.
pub(crate) async fn snapshot(inv: &RedisInventory, show: ShowId) -> Result<Snapshot> {
    let info = inv.show(show).await?;
    let state = read(inv, &info, true).await?;
    let seats = state
        .seats
        .iter()
        .enumerate()
        .map(|(i, &(version, status))| SeatView { seat: SeatId(i as u32), status, version })
        .collect();
    Ok(Snapshot::new(show, &info.spec.layout, seats, state.pools))
}

/// `sweep_expired`: one script frees up to `limit` expired seats and pool
/// holds, grouped per hold.
pub(crate) async fn sweep_expired(inv: &RedisInventory, show: ShowId, limit: usize) -> Result<Vec<ExpiredHold>> {
    let info = inv.show(show).await?;
    if limit == 0 {
        return Err(InvalidRequest::ZeroLimit.into());
    }
    let k = &info.keys;
    let mut args = Args::with_capacity(3);
    args.push(inv.time_arg()).push(limit.min(u32::MAX as usize)).push(inv.inner.feed_max_len);
    let keys = [&*k.meta, &k.seats, &k.seat_expiry, &k.pools, &k.pool_holds, &k.pool_expiry, &k.feed, &k.free];
    let r = inv.run(&scripts::LOADED.SWEEP, &keys, args, Effect::Write).await?;
    if r.status() != b"OK" {
        return Err(inv.refused(&r, &info.context()));
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

/// `audit`: one read-only script reads everything the show records.
pub(crate) async fn audit(inv: &RedisInventory, show: ShowId) -> Result<Audit> {
    let info = inv.show(show).await?;
    let k = &info.keys;
    let mut args = Args::with_capacity(1);
    args.push(inv.time_arg());
    let keys = [&*k.meta, &k.seats, &k.pools, &k.pool_holds, &k.pool_sales, &k.orders];
    let r = inv.run(&scripts::LOADED.AUDIT, &keys, args, Effect::Read).await?;
    if r.status() != b"OK" {
        return Err(inv.refused(&r, &info.context()));
    }
    codec::decode_audit(&info.spec, &r)
}

/// `subscribe`: tails the show's stream on a connection of its own.
pub(crate) async fn subscribe(inv: &RedisInventory, show: ShowId) -> Result<ChangeStream> {
    let info = inv.show(show).await?;
    // A connection of its own: XREAD BLOCK would stall every request
    // pipelined behind it on the shared connection (on a Cluster: on
    // the shared connection to the show's master).
    let timeout = inv.inner.feed_block + inv.inner.response_timeout;
    let conn = match &inv.inner.target {
        Target::Server(client) => {
            let config = AsyncConnectionConfig::new()
                .set_response_timeout(Some(timeout))
                .set_connection_timeout(Some(inv.inner.response_timeout));
            let conn = client
                .get_multiplexed_async_connection_with_config(&config)
                .await
                .map_err(|e| from_redis(e, Effect::Read))?;
            Conn::Dedicated(conn)
        }
        Target::Cluster(nodes) => {
            let client = Target::cluster_client(nodes, timeout, inv.inner.response_timeout)?;
            Conn::Cluster(client.get_async_connection().await.map_err(|e| from_redis(e, Effect::Read))?)
        }
    };
    let tail = feed::Tail::start(conn, info.keys.feed.clone(), show, inv.inner.feed_block).await?;
    Ok(tail.into_stream())
}

/// Reads the show's state through the snapshot script.
async fn read(inv: &RedisInventory, info: &ShowInfo, pools: bool) -> Result<RawState> {
    let k = &info.keys;
    let mut args = Args::with_capacity(2);
    args.push(inv.time_arg()).push(u8::from(pools));
    let keys = [&*k.meta, &k.seats, &k.pools, &k.pool_holds, &k.pool_expiry];
    let r = inv.run(&scripts::LOADED.SNAPSHOT, &keys, args, Effect::Read).await?;
    if r.status() != b"OK" {
        return Err(inv.refused(&r, &info.context()));
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

/// A show's state as read by the snapshot script.
struct RawState {
    /// Each seat's version and status, by seat id.
    seats: Vec<(u64, SeatStatus)>,
    pools: Vec<PoolView>,
}
