//! What keeps Redis from selling a seat twice when it loses data: the
//! eviction-policy check at build, the seat and pool hashes' markers (a
//! lost hash is refused, never read as free seats), `restore_sale` (the
//! application's order log repairs a loss), and the optional wait for a
//! sale to reach the append-only file or the replicas.
//!
//! The crash test runs a throwaway `redis-server` with `appendonly yes`,
//! `appendfsync everysec`, kills it with SIGKILL and starts it again from
//! its append-only file.

mod common;

use booking_core::TimeSource;
use booking_core::testkit::{action, create, hold, ids, sell_req, test_policy};
use booking_core::{
    HoldItems, HoldPolicy, HoldPool, HoldSeats, InvalidRequest, InventoryError, ManualClock, OrderId, OwnerId,
    PaymentRef, PoolId, Sale, SeatId, SeatInventory, SeatStatus, ShowId,
};
use booking_redis::testkit::RedisServer;
use booking_redis::{RedisInventory, Restored, SaleDurability, StoreError};
use chrono::Duration;
use common::{inventory, redis_url, test_prefix};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration as StdDuration;

async fn build_on(url: &str, clock: &ManualClock, prefix: &str) -> booking_core::Result<RedisInventory> {
    RedisInventory::builder(url)
        .expect("url")
        .prefix(prefix)
        .time_source(TimeSource::Injected(clock.shared()))
        .build()
        .await
}

fn store_error(r: &booking_core::Result<impl std::fmt::Debug>) -> Option<&StoreError> {
    r.as_ref().err().and_then(StoreError::of)
}

/// A server whose `maxmemory-policy` may evict keys is refused with a
/// typed error naming the server and the policy; `noeviction` is accepted,
/// and `assume_noeviction` lets an operator vouch for a server whose
/// configuration cannot be read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_may_evict_keys_is_refused() {
    let clock = ManualClock::fixed();
    for policy in ["allkeys-lru", "volatile-lru", "allkeys-random", "volatile-ttl"] {
        let server = RedisServer::start_with(&["--maxmemory-policy", policy]).await;
        let built = build_on(&server.url(), &clock, "t:").await;
        match store_error(&built) {
            Some(StoreError::EvictionPolicy { node, policy: p }) => {
                assert_eq!(p, policy);
                assert!(server.url().ends_with(node.as_str()), "{node}");
            }
            other => panic!("{policy}: expected EvictionPolicy, got {other:?} from {built:?}"),
        }
        assert!(matches!(built, Err(InventoryError::Backend(_))));
        let vouched = RedisInventory::builder(&server.url()).expect("url").assume_noeviction().build().await;
        assert!(vouched.is_ok(), "{vouched:?}");
    }
    let server = RedisServer::start_with(&["--maxmemory-policy", "noeviction"]).await;
    build_on(&server.url(), &clock, "t:").await.expect("noeviction is accepted");
}

/// Deletes a key of a show behind the library's back, as an eviction would.
async fn delete(key: &str) {
    let mut c = redis::Client::open(redis_url()).expect("client").get_multiplexed_async_connection().await.expect("c");
    let n: u32 = redis::cmd("DEL").arg(key).query_async(&mut c).await.expect("DEL");
    assert_eq!(n, 1, "{key} existed");
}

fn lost(r: &booking_core::Result<impl std::fmt::Debug>, show: ShowId) {
    assert!(matches!(store_error(r), Some(StoreError::DataLost { show: s }) if *s == show), "{r:?}");
}

/// With the seat hash gone (evicted or deleted) while the show's meta is
/// there, a sold seat must not read as available: every operation that
/// reads seats refuses with `DataLost` instead of selling it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_seat_hash_is_refused_not_read_as_free_seats() {
    let clock = ManualClock::fixed();
    let inv = inventory(&clock).await;
    let policy = HoldPolicy { max_held_per_owner: Some(8), ..test_policy() };
    let spec = create(&inv, 1, 2, 5, 4, policy).await;
    let show = spec.id;
    let owner = OwnerId::new();
    let sold = hold(&inv, show, owner, &[0, 1]).await;
    inv.sell(&sell_req(&sold, OrderId::new())).await.expect("sell");
    let held = hold(&inv, show, owner, &[2]).await;

    delete(&inv.keys(show).seats).await;

    let other = OwnerId::new();
    lost(&inv.hold_seats(&HoldSeats { show, owner: other, seats: ids(&[0]) }).await, show);
    let best = booking_core::HoldBest { show, owner: other, quantity: 2, section: None, category: None };
    lost(&inv.hold_best(&best).await, show);
    lost(&inv.snapshot(show).await, show);
    lost(&inv.release(&action(&held)).await, show);
    lost(&inv.extend(&action(&held)).await, show);
    lost(&inv.sell(&sell_req(&held, OrderId::new())).await, show);
    lost(&inv.block(show, &ids(&[5])).await, show);
    lost(&inv.sweep_expired(show, 10).await, show);
    assert!(matches!(inv.create_show(&spec).await, Err(InventoryError::ShowExists(_))));
}

/// The same for the pools hash: capacity that is gone is not read as zero
/// sold, and holds of the pool refuse.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_pool_hash_is_refused() {
    let clock = ManualClock::fixed();
    let inv = inventory(&clock).await;
    let spec = create(&inv, 1, 1, 4, 4, test_policy()).await;
    let show = spec.id;
    let g = inv.hold_pool(&HoldPool { show, owner: OwnerId::new(), pool: PoolId(0), quantity: 4 }).await.expect("pool");
    inv.sell(&sell_req(&g, OrderId::new())).await.expect("sell");
    delete(&inv.keys(show).pools).await;
    lost(&inv.hold_pool(&HoldPool { show, owner: OwnerId::new(), pool: PoolId(0), quantity: 1 }).await, show);
    lost(&inv.snapshot(show).await, show);
    // With the meta gone as well, creating the show again is refused: its
    // seats are still there.
    delete(&inv.keys(show).meta).await;
    let again = RedisInventory::builder(&redis_url())
        .expect("url")
        .prefix(inv.keys(show).meta.split('{').next().expect("prefix"))
        .time_source(TimeSource::Injected(clock.shared()))
        .build()
        .await
        .expect("connect");
    lost(&again.create_show(&spec).await, show);
}

/// An entry of the application's order log for a sale `sell` answered.
fn entry(hold: &booking_core::Hold, sale: Sale) -> booking_core::SaleRecord {
    booking_core::SaleRecord {
        token: hold.token.clone(),
        payment: PaymentRef(format!("cap_{}", sale.order)),
        payer: None,
        sale,
    }
}

/// A sale the log has, for a hold that Redis kept but whose sale it lost.
fn unsold_entry(hold: &booking_core::Hold, order: OrderId) -> booking_core::SaleRecord {
    let sale = Sale {
        show: hold.token.show,
        order,
        owner: hold.owner,
        items: hold.token.items.clone(),
        version: hold.token.version + 1,
    };
    entry(hold, sale)
}

/// `restore_sale` is keyed by the order and idempotent: it sells a seat
/// that is available, under an expired hold or under the sale's own hold;
/// it leaves a seat already sold to the order alone; it refuses, changing
/// nothing, a seat sold to another order, blocked, or held live by someone
/// else. Pools alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_sale_repairs_only_what_is_free_for_the_order() {
    let clock = ManualClock::fixed();
    let inv = inventory(&clock).await;
    let spec = create(&inv, 1, 2, 6, 5, HoldPolicy { max_held_per_owner: None, ..test_policy() }).await;
    let show = spec.id;
    let (a, b) = (OwnerId::new(), OwnerId::new());

    // Still sold: nothing to do.
    let h = hold(&inv, show, a, &[0, 1]).await;
    let kept = entry(&h, inv.sell(&sell_req(&h, OrderId::new())).await.expect("sell"));
    assert_eq!(inv.restore_sale(&kept).await.expect("restore"), Restored::AlreadySold);

    // Lost (here: the seats were freed behind the order's back): sold again
    // to the same order and owner, at a new version, once.
    let h = hold(&inv, show, a, &[2, 3]).await;
    let gone = entry(&h, inv.sell(&sell_req(&h, OrderId::new())).await.expect("sell"));
    inv.refund(&booking_core::Refund { show, order: gone.sale.order, items: gone.sale.items.clone() })
        .await
        .expect("refund");
    let Restored::Applied { version } = inv.restore_sale(&gone).await.expect("restore") else { panic!("applied") };
    assert!(version > gone.sale.version);
    assert_eq!(inv.restore_sale(&gone).await.expect("again"), Restored::AlreadySold);
    let snap = inv.snapshot(show).await.expect("snapshot");
    assert_eq!(snap.seats[2].status, SeatStatus::Sold);
    assert_eq!(snap.seats[3].version, version);
    // The restored order refunds as any other.
    inv.refund(&booking_core::Refund { show, order: gone.sale.order, items: HoldItems::Seats(ids(&[3])) })
        .await
        .expect("refund of a restored sale");

    // The sale's own hold survived: it becomes the sale.
    let h = hold(&inv, show, a, &[4]).await;
    assert!(matches!(inv.restore_sale(&unsold_entry(&h, OrderId::new())).await, Ok(Restored::Applied { .. })));
    assert!(matches!(inv.release(&action(&h)).await, Err(InventoryError::HoldExpired { .. })));

    // Someone else's live hold, another order's sale, a blocked seat: refused.
    let mine = hold(&inv, show, a, &[5]).await;
    let theirs = hold(&inv, show, b, &[6]).await;
    let other_sale = hold(&inv, show, b, &[7]).await;
    inv.sell(&sell_req(&other_sale, OrderId::new())).await.expect("sell");
    inv.block(show, &ids(&[8])).await.expect("block");
    let mut forged = unsold_entry(&mine, OrderId::new());
    let items = HoldItems::Seats(ids(&[5, 6, 7, 8]));
    forged.sale.items = items.clone();
    forged.token.items = items;
    let before = inv.snapshot(show).await.expect("snapshot");
    let r = inv.restore_sale(&forged).await;
    assert!(matches!(&r, Err(InventoryError::SeatsTaken { seats }) if seats == &ids(&[6, 7, 8])), "{r:?}");
    assert_eq!(inv.snapshot(show).await.expect("snapshot"), before, "a refused restore changes nothing");

    // ... but an expired hold of someone else does not stand in the way.
    clock.advance(Duration::hours(1));
    let late = unsold_entry(&theirs, OrderId::new());
    assert!(matches!(inv.restore_sale(&late).await, Ok(Restored::Applied { .. })));

    // A token that does not match the sale is refused.
    let mut bad = unsold_entry(&mine, OrderId::new());
    bad.token.items = HoldItems::Seats(ids(&[9]));
    let r = inv.restore_sale(&bad).await;
    assert!(matches!(r, Err(InventoryError::InvalidRequest(InvalidRequest::TokenMismatch))), "{r:?}");

    // Pools: still sold, lost, own hold kept, and no capacity left.
    let g = inv.hold_pool(&HoldPool { show, owner: a, pool: PoolId(0), quantity: 2 }).await.expect("pool");
    let pool_sale = entry(&g, inv.sell(&sell_req(&g, OrderId::new())).await.expect("sell"));
    assert_eq!(inv.restore_sale(&pool_sale).await.expect("restore"), Restored::AlreadySold);
    let g2 = inv.hold_pool(&HoldPool { show, owner: a, pool: PoolId(0), quantity: 2 }).await.expect("pool");
    assert!(matches!(inv.restore_sale(&unsold_entry(&g2, OrderId::new())).await, Ok(Restored::Applied { .. })));
    assert_eq!(inv.snapshot(show).await.expect("snapshot").pools[0].sold, 4);
    let g3 = inv.hold_pool(&HoldPool { show, owner: b, pool: PoolId(0), quantity: 1 }).await.expect("pool");
    let mut too_many = unsold_entry(&g3, OrderId::new());
    too_many.token.hold = booking_core::HoldId::new();
    let r = inv.restore_sale(&too_many).await;
    assert!(matches!(r, Err(InventoryError::InsufficientCapacity { available: 0, requested: 1, .. })), "{r:?}");
}

/// Asking to wait for the local append-only file is refused at build when
/// the server cannot confirm it (`appendonly no`, or a Redis older than
/// 7.2, which has no `WAITAOF`); with `appendonly yes` on 7.2 or newer,
/// sales wait for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_for_the_aof_needs_a_server_that_can_confirm_it() {
    let clock = ManualClock::fixed();
    let server = RedisServer::start().await;
    let built = RedisInventory::builder(&server.url())
        .expect("url")
        .sale_durability(SaleDurability::local_aof(StdDuration::from_secs(1)))
        .build()
        .await;
    assert!(matches!(store_error(&built), Some(StoreError::DurabilityUnsupported { .. })), "{built:?}");

    let server = RedisServer::start_persistent(&["--appendonly", "yes"]).await;
    let mut c = redis::Client::open(server.url()).expect("c").get_multiplexed_async_connection().await.expect("c");
    let info: String = redis::cmd("INFO").arg("server").query_async(&mut c).await.expect("INFO");
    let version = info.lines().find_map(|l| l.strip_prefix("redis_version:")).expect("version").trim().to_owned();
    let mut parts = version.split('.').map(|p| p.parse::<u32>().expect("number"));
    let waitaof = (parts.next().expect("major"), parts.next().expect("minor")) >= (7, 2);
    let built = RedisInventory::builder(&server.url())
        .expect("url")
        .time_source(TimeSource::Injected(clock.shared()))
        .sale_durability(SaleDurability::local_aof(StdDuration::from_secs(5)))
        .build()
        .await;
    if waitaof {
        let inv = built.expect("7.2+ with appendonly yes");
        let spec = create(&inv, 1, 1, 4, 0, test_policy()).await;
        let h = hold(&inv, spec.id, OwnerId::new(), &[1]).await;
        inv.sell(&sell_req(&h, OrderId::new())).await.expect("sold and fsynced");
    } else {
        let e = store_error(&built);
        assert!(
            matches!(e, Some(StoreError::DurabilityUnsupported { reason, .. }) if reason.contains("7.2")),
            "Redis {version}: {built:?}"
        );
    }
}

/// Waiting for a replica: without one, the sale is applied but reported as
/// `OutcomeUnknown` with `DurabilityNotConfirmed` (the replay waits again);
/// once a replica follows the server, the replay is confirmed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sales_wait_for_replicas_when_asked() {
    let clock = ManualClock::fixed();
    let master = RedisServer::start_with(&["--repl-diskless-sync-delay", "0"]).await;
    let inv = RedisInventory::builder(&master.url())
        .expect("url")
        .time_source(TimeSource::Injected(clock.shared()))
        // Long enough for a replica on a machine busy with other tests to
        // acknowledge (200 ms was not, once); without a replica the first
        // sell waits it out.
        .sale_durability(SaleDurability::replicas(1, StdDuration::from_millis(1500)))
        .build()
        .await
        .expect("connect");
    let spec = create(&inv, 1, 1, 4, 4, test_policy()).await;
    let show = spec.id;
    let h = hold(&inv, show, OwnerId::new(), &[1]).await;
    let sell = sell_req(&h, OrderId::new());
    let r = inv.sell(&sell).await;
    assert!(matches!(r, Err(InventoryError::OutcomeUnknown(_))), "{r:?}");
    assert!(
        matches!(store_error(&r), Some(StoreError::DurabilityNotConfirmed { wanted_replicas: 1, replicas: 0, .. })),
        "{r:?}"
    );
    assert_eq!(inv.snapshot(show).await.expect("snapshot").seats[1].status, SeatStatus::Sold, "applied");
    // A refused sell waits for nothing.
    let refused = inv.sell(&sell_req(&h, OrderId::new())).await;
    assert!(matches!(refused, Err(InventoryError::HoldExpired { .. })), "{refused:?}");

    let port = master.url().rsplit(':').next().expect("port").to_owned();
    let _replica = RedisServer::start_with(&["--replicaof", "127.0.0.1", &port]).await;
    let mut c = redis::Client::open(master.url()).expect("c").get_multiplexed_async_connection().await.expect("c");
    // Waiting for the replica to finish its first sync is real time.
    let mut online = false;
    for _ in 0..500 {
        let info: String = redis::cmd("INFO").arg("replication").query_async(&mut c).await.expect("INFO");
        online = info.contains("state=online");
        if online {
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    }
    assert!(online, "the replica did not come online");
    let sale = inv.sell(&sell).await.expect("the replay is confirmed by the replica");
    assert_eq!(sale.order, sell.order);
    let g = inv.hold_pool(&HoldPool { show, owner: OwnerId::new(), pool: PoolId(0), quantity: 2 }).await.expect("pool");
    inv.sell(&sell_req(&g, OrderId::new())).await.expect("a pool sale waits for the replica too");
}

/// The seats as Redis stores them: seat id -> the order it is sold to.
async fn sold_seats(url: &str, inv: &RedisInventory, show: ShowId) -> BTreeMap<u32, String> {
    let mut c = redis::Client::open(url).expect("c").get_multiplexed_async_connection().await.expect("c");
    let all: HashMap<String, String> =
        redis::cmd("HGETALL").arg(inv.keys(show).seats).query_async(&mut c).await.expect("HGETALL");
    all.into_iter()
        .filter(|(seat, _)| seat != "#")
        .filter_map(|(seat, state)| {
            let parts: Vec<&str> = state.split('|').collect();
            (parts.get(1) == Some(&"S")).then(|| (seat.parse().expect("seat id"), parts[3].to_owned()))
        })
        .collect()
}

/// The append-only file Redis appends to: the `incr` part of the newest
/// manifest entry in `appendonlydir/`.
fn incr_aof(dir: &Path) -> PathBuf {
    let aof = dir.join("appendonlydir");
    let manifest = std::fs::read_dir(&aof)
        .expect("appendonlydir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.to_string_lossy().ends_with(".manifest"))
        .expect("manifest");
    let text = std::fs::read_to_string(manifest).expect("read manifest");
    let name = text
        .lines()
        .filter(|l| l.contains("type i"))
        .filter_map(|l| l.split_whitespace().nth(1))
        .next_back()
        .expect("an incr file");
    aof.join(name)
}

/// Sells N orders under `appendonly yes`, `appendfsync everysec`, kills
/// the server with SIGKILL and starts it again from its append-only file.
/// SIGKILL alone loses only what the kernel had not received, which is
/// usually nothing; a machine crash also loses what was written but not
/// yet fsynced, up to about a second: that is simulated by cutting the
/// file's tail (mid-command, as a crash would) back to about half of the
/// sales. Then the application's ledger (the sales it got back) repairs
/// Redis with `restore_sale`, and the audit finds every sale restored,
/// no seat sold twice and nothing else sold; a second repair changes
/// nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_under_everysec_is_repaired_from_the_ledger() {
    let clock = ManualClock::fixed();
    let mut server = RedisServer::start_persistent(&["--appendonly", "yes", "--appendfsync", "everysec"]).await;
    let dir = server.dir().expect("persistent").to_owned();
    let prefix = test_prefix();
    let inv = build_on(&server.url(), &clock, &prefix).await.expect("connect");
    let spec = create(&inv, 1, 9, 10, 0, HoldPolicy { max_held_per_owner: None, ..test_policy() }).await;
    let show = spec.id;
    let aof = incr_aof(&dir);
    let after_create = std::fs::metadata(&aof).expect("aof").len();

    const N: u32 = 40;
    let mut ledger = Vec::new();
    for i in 0..N {
        let h = hold(&inv, show, OwnerId::new(), &[2 * i, 2 * i + 1]).await;
        let sale = inv.sell(&sell_req(&h, OrderId::new())).await.expect("sell");
        ledger.push(entry(&h, sale));
    }
    let after_sales = std::fs::metadata(&aof).expect("aof").len();
    assert!(after_sales > after_create);

    server.kill();
    let cut = after_create + (after_sales - after_create) / 2 + 7;
    std::fs::OpenOptions::new().write(true).open(&aof).expect("open aof").set_len(cut).expect("truncate");
    server.restart().await;

    let inv = build_on(&server.url(), &clock, &prefix).await.expect("reconnect");
    let survived = sold_seats(&server.url(), &inv, show).await;
    let lost = ledger
        .iter()
        .filter(|e| {
            let HoldItems::Seats(seats) = &e.sale.items else { unreachable!() };
            seats.iter().any(|s| survived.get(&s.0) != Some(&format!("{:032x}", e.sale.order.as_u128())))
        })
        .count();
    assert!(lost > 0 && lost < N as usize, "the cut lost {lost} of {N} sales");

    let mut applied = 0;
    for e in &ledger {
        if let Restored::Applied { .. } = inv.restore_sale(e).await.expect("restore") {
            applied += 1;
        }
    }
    assert_eq!(applied, lost, "exactly the lost sales were put back");

    // The audit: each ledger seat sold to its order, every sold seat in
    // the ledger (so none sold twice, none sold to anyone else).
    let audit = sold_seats(&server.url(), &inv, show).await;
    let mut expected = BTreeMap::new();
    for e in &ledger {
        let HoldItems::Seats(seats) = &e.sale.items else { unreachable!() };
        for s in seats {
            let previous = expected.insert(s.0, format!("{:032x}", e.sale.order.as_u128()));
            assert!(previous.is_none(), "seat {s} twice in the ledger");
        }
    }
    assert_eq!(audit, expected);
    let snap = inv.snapshot(show).await.expect("snapshot");
    assert_eq!(snap.totals().sold, 2 * N);

    // The sale records came back too: a replay of each sell answers the
    // first sale, byte for byte.
    for e in &ledger {
        let replay = booking_core::Sell {
            owner: e.sale.owner,
            token: e.token.clone(),
            order: e.sale.order,
            payment: e.payment.clone(),
            payer: e.payer.clone(),
        };
        assert_eq!(inv.sell(&replay).await.expect("replay"), e.sale);
    }
    let audited = inv.audit(show).await.expect("audit");
    assert_eq!(audited.sales.len(), N as usize);
    assert!(ledger.iter().all(|e| audited.sales.contains(e)), "every sale record restored");

    // Repairs are idempotent.
    for e in &ledger {
        assert_eq!(inv.restore_sale(e).await.expect("restore again"), Restored::AlreadySold);
    }
    assert_eq!(inv.snapshot(show).await.expect("snapshot"), snap);
    assert_eq!(inv.audit(show).await.expect("audit").sales, audited.sales);
    // And the show goes on.
    let next = inv.hold_seats(&HoldSeats { show, owner: OwnerId::new(), seats: vec![SeatId(2 * N)] }).await;
    assert!(next.is_ok(), "{next:?}");
    let taken = inv.hold_seats(&HoldSeats { show, owner: OwnerId::new(), seats: vec![SeatId(0)] }).await;
    assert!(matches!(taken, Err(InventoryError::SeatsTaken { .. })), "{taken:?}");
}

/// A restored sale counts under the show's per-payment cap again (a
/// restore that finds the sale still there counts nothing), and its refund
/// frees the payer as any other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_sale_counts_for_its_payer_once() {
    let clock = ManualClock::fixed();
    let inv = inventory(&clock).await;
    let policy = HoldPolicy { max_held_per_owner: None, max_tickets_per_payment: Some(3), ..test_policy() };
    let spec = create(&inv, 1, 1, 8, 0, policy).await;
    let (show, card) = (spec.id, booking_core::PayerKey::new("fp_card-1").expect("key"));
    let paid = |h: &booking_core::Hold| booking_core::Sell { payer: Some(card.clone()), ..sell_req(h, OrderId::new()) };
    let h = hold(&inv, show, OwnerId::new(), &[0, 1]).await;
    let req = paid(&h);
    let sale = inv.sell(&req).await.expect("sell");
    let logged = booking_core::SaleRecord::new(&req, sale);
    assert_eq!(inv.restore_sale(&logged).await.expect("restore"), Restored::AlreadySold);
    // Lost (here: refunded behind the order's back), then restored.
    let refund = booking_core::Refund { show, order: logged.sale.order, items: logged.sale.items.clone() };
    inv.refund(&refund).await.expect("refund");
    assert!(matches!(inv.restore_sale(&logged).await, Ok(Restored::Applied { .. })));
    assert_eq!(inv.restore_sale(&logged).await.expect("again"), Restored::AlreadySold);
    let one = hold(&inv, show, OwnerId::new(), &[2]).await;
    inv.sell(&paid(&one)).await.expect("2 restored + 1: 3 of 3");
    let more = hold(&inv, show, OwnerId::new(), &[3]).await;
    let r = inv.sell(&paid(&more)).await;
    assert!(
        matches!(
            r,
            Err(InventoryError::LimitExceeded(booking_core::Limit::TicketsPerPayment { would_have: 4, max: 3 }))
        ),
        "{r:?}"
    );
    inv.refund(&refund).await.expect("the restored sale refunds");
    inv.sell(&paid(&more)).await.expect("freed by the refund");
}
