//! What is particular to the Redis backend: Cluster-slot discipline of the
//! scripts, the server clock, script reloading, feed trimming, the show
//! cache shared through Redis, and how connection failures are reported.

mod common;

use booking_core::Coalescing;
use booking_core::TimeSource;
use booking_core::testkit::{action, create, ids, next_change, sell_req, test_policy};
use booking_core::{
    ChangeKind, Clock, HoldBest, HoldItems, HoldPolicy, HoldPool, HoldSeats, InventoryError, ManualClock, OrderId,
    OwnerId, PoolId, Refund, SeatInventory, SeatStatus, SystemClock,
};
use booking_redis::{RedisFailure, RedisInventory, RedisInventoryBuilder, ShowKeys, StoreError, key_slot, show_index};
use chrono::Duration;
use common::{inventory, redis_url, test_prefix};
use std::future::poll_fn;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration as StdDuration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

fn redis_addr() -> String {
    let url = redis_url();
    let rest = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
    let host_port = rest.split('/').next().unwrap_or(rest);
    let host_port = host_port.rsplit_once('@').map_or(host_port, |(_, h)| h);
    if host_port.contains(':') { host_port.to_owned() } else { format!("{host_port}:6379") }
}

/// Splits a MONITOR line into its quoted arguments, undoing Redis' escapes.
fn monitor_args(line: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut chars = line.bytes().peekable();
    while let Some(c) = chars.next() {
        if c != b'"' {
            continue;
        }
        let mut arg = Vec::new();
        while let Some(c) = chars.next() {
            match c {
                b'"' => break,
                b'\\' => match chars.next() {
                    Some(b'x') => {
                        let hi = chars.next().unwrap_or(b'0');
                        let lo = chars.next().unwrap_or(b'0');
                        let hex = [hi, lo];
                        let s = std::str::from_utf8(&hex).unwrap_or("00");
                        arg.push(u8::from_str_radix(s, 16).unwrap_or(0));
                    }
                    Some(b'n') => arg.push(b'\n'),
                    Some(b'r') => arg.push(b'\r'),
                    Some(b't') => arg.push(b'\t'),
                    Some(b'a') => arg.push(7),
                    Some(b'b') => arg.push(8),
                    Some(other) => arg.push(other),
                    None => break,
                },
                other => arg.push(other),
            }
        }
        out.push(arg);
    }
    out
}

/// Watches every command the server runs (MONITOR) while every operation of
/// the port runs on one show, then checks that each script touched only
/// keys it was given in KEYS, and that all of them hash to the show's slot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_touch_only_declared_keys_on_the_show_slot() {
    let mut monitor = BufReader::new(TcpStream::connect(redis_addr()).await.expect("connect for MONITOR"));
    monitor.get_mut().write_all(b"MONITOR\r\n").await.expect("MONITOR");
    let mut ok = String::new();
    monitor.read_line(&mut ok).await.expect("MONITOR reply");
    assert_eq!(ok.trim_end(), "+OK");

    let clock = ManualClock::fixed();
    let prefix = test_prefix();
    let inv = RedisInventory::builder(&redis_url())
        .expect("url")
        .prefix(prefix.clone())
        .time_source(TimeSource::Injected(clock.shared()))
        .build()
        .await
        .expect("connect");
    let policy = HoldPolicy { max_held_per_owner: Some(8), ..test_policy() };
    let spec = create(&inv, 1, 2, 6, 10, policy).await;
    let show = spec.id;
    let mut feed = inv.subscribe(show).await.expect("subscribe");
    let owner = OwnerId::new();
    let h = inv.hold_seats(&HoldSeats { show, owner, seats: ids(&[0, 1]) }).await.expect("hold");
    let h = inv.extend(&action(&h)).await.expect("extend");
    let order = OrderId::new();
    inv.sell(&sell_req(&h, order)).await.expect("sell");
    inv.sell(&sell_req(&h, order)).await.expect("replay");
    inv.refund(&Refund { show, order, items: h.token.items.clone() }).await.expect("refund");
    let best = HoldBest { show, owner, quantity: 2, section: None, category: None };
    let b = inv.hold_best(&best).await.expect("best");
    inv.release(&action(&b)).await.expect("release");
    let g = inv.hold_pool(&HoldPool { show, owner, pool: PoolId(0), quantity: 3 }).await.expect("pool");
    let g = inv.extend(&action(&g)).await.expect("extend pool");
    let pool_order = OrderId::new();
    inv.sell(&sell_req(&g, pool_order)).await.expect("sell pool");
    inv.refund(&Refund { show, order: pool_order, items: HoldItems::Pool { pool: PoolId(0), quantity: 1 } })
        .await
        .expect("refund pool");
    let g2 = inv.hold_pool(&HoldPool { show, owner, pool: PoolId(0), quantity: 2 }).await.expect("pool");
    inv.release(&action(&g2)).await.expect("release pool");
    inv.block(show, &ids(&[5])).await.expect("block");
    inv.unblock(show, &ids(&[5])).await.expect("unblock");
    inv.hold_seats(&HoldSeats { show, owner, seats: ids(&[7]) }).await.expect("hold");
    inv.hold_pool(&HoldPool { show, owner, pool: PoolId(0), quantity: 1 }).await.expect("pool");
    clock.advance(Duration::hours(1));
    assert_eq!(inv.sweep_expired(show, 10).await.expect("sweep").len(), 2);
    inv.hold_pool(&HoldPool { show, owner, pool: PoolId(0), quantity: 1 }).await.expect("pool after expiry");
    inv.snapshot(show).await.expect("snapshot");
    assert_eq!(next_change(&mut feed).await.kind, ChangeKind::Held);
    assert!(matches!(inv.create_show(&spec).await, Err(InventoryError::ShowExists(_))));
    assert_eq!(inv.show_spec(show).await.expect("spec"), spec);
    assert!(inv.list_shows().await.expect("list").contains(&show));
    inv.archive_show(show).await.expect("archive");
    assert!(!inv.list_shows().await.expect("list").contains(&show));

    // The batch scripts of request coalescing: many callers at once through
    // a coalescing inventory on the same keys, and each batch script called
    // once directly, so that both surely ran.
    let batching = RedisInventory::builder(&redis_url())
        .expect("url")
        .prefix(prefix.clone())
        .time_source(TimeSource::Injected(clock.shared()))
        .coalesce(Coalescing { max_batch: 64, max_in_flight: 1 })
        .build()
        .await
        .expect("connect");
    for _ in 0..3 {
        let holds = futures_util::future::join_all((0..12).map(|seat| {
            let batching = batching.clone();
            async move { batching.hold_seats(&HoldSeats { show, owner: OwnerId::new(), seats: ids(&[seat]) }).await }
        }))
        .await;
        futures_util::future::join_all(holds.into_iter().map(|h| {
            let batching = batching.clone();
            async move { batching.release(&action(&h.expect("hold"))).await.expect("release") }
        }))
        .await;
    }
    let (a, b) = (OwnerId::new(), OwnerId::new());
    let now = clock.now_millis().to_string();
    let hold_batch = redis::Script::new(booking_redis::scripts::HOLD_BATCH);
    let mut call = hold_batch.prepare_invoke();
    let k = ShowKeys::new(&prefix, show);
    call.key(&k.meta).key(&k.seats).key(&k.seat_expiry).key(&k.pool_holds).key(&k.feed).key(&k.free);
    call.key(&k.owner_sold).key(k.owner(a)).key(k.owner(b));
    call.arg(60_000).arg(120_000).arg("8,4").arg(1000).arg(0).arg(2);
    let (ha, hb) = (format!("{:032x}", 1u128), format!("{:032x}", 2u128));
    call.arg(&now).arg(format!("{:032x}", a.as_u128())).arg(&ha).arg(1).arg(3);
    call.arg(&now).arg(format!("{:032x}", b.as_u128())).arg(&hb).arg(1).arg(4);
    let mut c = redis::Client::open(redis_url()).expect("client").get_multiplexed_async_connection().await.expect("c");
    let granted: redis::Value = call.invoke_async(&mut c).await.expect("hold batch");
    // Each {'OK', version, until}: the versions to release with.
    let versions: Vec<i64> = match granted {
        redis::Value::Array(replies) => replies
            .iter()
            .map(|r| match r {
                redis::Value::Array(r) if r.len() == 3 => match r[1] {
                    redis::Value::Int(v) => v,
                    _ => panic!("hold batch reply {r:?}"),
                },
                other => panic!("hold batch reply {other:?}"),
            })
            .collect(),
        other => panic!("hold batch reply {other:?}"),
    };
    let release_batch = redis::Script::new(booking_redis::scripts::RELEASE_BATCH);
    let mut call = release_batch.prepare_invoke();
    call.key(&k.meta).key(&k.seats).key(&k.seat_expiry).key(&k.feed).key(&k.free).arg(1000).arg(2);
    call.arg(&now).arg(format!("{:032x}", a.as_u128())).arg(&ha).arg(versions[0]).arg(1).arg(3);
    call.arg(&now).arg(format!("{:032x}", b.as_u128())).arg(&hb).arg(versions[1]).arg(1).arg(4);
    let released: redis::Value = call.invoke_async(&mut c).await.expect("release batch");
    assert!(format!("{released:?}").matches("OK").count() == 2, "{released:?}");

    // A marker on another connection ends the watch.
    let marker = format!("{prefix}done");
    let _: String = redis::cmd("ECHO").arg(&marker).query_async(&mut c).await.expect("echo");

    let keys = ShowKeys::new(&prefix, show);
    let slot = key_slot(keys.meta.as_bytes());
    let ours = |arg: &[u8]| arg.starts_with(prefix.as_bytes());
    let index = show_index(&prefix);
    let batch_shas = [hold_batch.get_hash().as_bytes().to_vec(), release_batch.get_hash().as_bytes().to_vec()];
    let mut batches_seen = [false; 2];
    let (mut scripts, mut touched) = (0usize, 0usize);
    let mut declared: Option<Vec<Vec<u8>>> = None;
    let mut line = String::new();
    loop {
        line.clear();
        let read = tokio::time::timeout(StdDuration::from_secs(10), monitor.read_line(&mut line)).await;
        assert!(matches!(read, Ok(Ok(n)) if n > 0), "MONITOR ended before the marker");
        if line.contains(&marker) {
            break;
        }
        let args = monitor_args(&line);
        let Some(cmd) = args.first().map(|c| c.to_ascii_uppercase()) else { continue };
        if line.contains(" lua] ") {
            // A command a script ran: every key it names must be one the
            // script was given, on the show's slot.
            let Some(declared) = &declared else { continue };
            for arg in args.iter().skip(1).filter(|a| ours(a)) {
                touched += 1;
                assert!(declared.contains(arg), "a script touched an undeclared key: {line}");
                assert_eq!(key_slot(arg), slot, "{line}");
            }
        } else if cmd == b"EVALSHA" || cmd == b"EVAL" {
            let n: usize = std::str::from_utf8(&args[2]).ok().and_then(|s| s.parse().ok()).unwrap_or(0);
            let keys: Vec<Vec<u8>> = args[3..3 + n].to_vec();
            if keys.iter().any(|k| ours(k)) {
                scripts += 1;
                assert!(keys.iter().all(|k| key_slot(k) == slot), "KEYS span slots: {line}");
                for (seen, sha) in batches_seen.iter_mut().zip(&batch_shas) {
                    *seen |= args[1].eq_ignore_ascii_case(sha);
                }
                declared = Some(keys);
            } else {
                declared = None;
            }
        } else {
            declared = None;
            // The one key of the prefix off the show's slot: the show
            // index, written by plain commands after the show's scripts.
            for arg in args.iter().skip(1).filter(|a| ours(a) && **a != index.as_bytes()) {
                assert_eq!(key_slot(arg), slot, "{line}");
            }
        }
    }
    assert!(scripts >= 20, "saw {scripts} script calls");
    assert_eq!(batches_seen, [true, true], "the batch scripts ran");
    assert!(touched >= 50, "saw {touched} key accesses from scripts");
    let all: Vec<&str> = keys.all().to_vec();
    assert!(all.iter().all(|k| key_slot(k.as_bytes()) == slot));
}

/// A subscriber that falls behind a trimmed stream is told how many events
/// it missed, then goes on with the oldest event still kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_behind_the_trimmed_feed_gets_feed_lagged() {
    let clock = ManualClock::fixed();
    let inv = RedisInventory::builder(&redis_url())
        .expect("url")
        .prefix(test_prefix())
        .time_source(TimeSource::Injected(clock.shared()))
        .feed_max_len(10)
        .build()
        .await
        .expect("connect");
    let spec = create(&inv, 1, 1, 4, 0, HoldPolicy { max_held_per_owner: None, ..test_policy() }).await;
    let mut feed = inv.subscribe(spec.id).await.expect("subscribe");
    for _ in 0..300 {
        let h =
            inv.hold_seats(&HoldSeats { show: spec.id, owner: OwnerId::new(), seats: ids(&[1]) }).await.expect("hold");
        inv.release(&action(&h)).await.expect("release");
    }
    let first = poll_fn(|cx| feed.as_mut().poll_next(cx)).await;
    let missed = match first {
        Some(Err(InventoryError::FeedLagged { missed })) => missed,
        other => panic!("expected FeedLagged, got {other:?}"),
    };
    assert!(missed > 0 && missed < 600, "{missed}");
    let mut seen = 0u64;
    loop {
        let c = next_change(&mut feed).await;
        seen += 1;
        if missed + seen == 600 {
            assert_eq!(c.kind, ChangeKind::Released, "the last event");
            break;
        }
    }
}

/// Without an injected clock, the Redis server's clock decides: a hold lasts
/// its TTL from the server's now, and expires by it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_clock_decides_without_an_injected_clock() {
    let inv = RedisInventory::builder(&redis_url()).expect("url").prefix(test_prefix()).build().await.expect("connect");
    let policy = HoldPolicy {
        hold_ttl: StdDuration::from_millis(300),
        max_hold_time: StdDuration::from_secs(60),
        ..test_policy()
    };
    let spec = create(&inv, 1, 1, 4, 4, policy).await;
    let before = SystemClock.now();
    let owner = OwnerId::new();
    let h = inv.hold_seats(&HoldSeats { show: spec.id, owner, seats: ids(&[0, 1]) }).await.expect("hold");
    let after = SystemClock.now();
    let ttl = Duration::milliseconds(300);
    // The server and this process share the machine's clock, give or take.
    let slack = Duration::seconds(2);
    assert!(h.held_until >= before + ttl - slack && h.held_until <= after + ttl + slack, "{h:?}");
    let g = inv
        .hold_pool(&HoldPool { show: spec.id, owner: OwnerId::new(), pool: PoolId(0), quantity: 2 })
        .await
        .expect("pool");
    // The owner's index expires by itself once no hold of the owner can be live.
    let mut c = redis::Client::open(redis_url()).expect("client").get_multiplexed_async_connection().await.expect("c");
    let pttl: i64 = redis::cmd("PTTL").arg(inv.keys(spec.id).owner(owner)).query_async(&mut c).await.expect("pttl");
    assert!(pttl > 0 && pttl <= 60_000, "{pttl}");
    let s = inv.snapshot(spec.id).await.expect("snapshot");
    assert_eq!(s.seats[0].status, SeatStatus::Held);
    assert_eq!(s.pools[0].held, 2);
    let h = inv.extend(&action(&h)).await.expect("extend");
    inv.release(&action(&g)).await.expect("release");
    // Real time has to pass here: poll the sweeper until the hold expires.
    let mut swept = Vec::new();
    for _ in 0..200 {
        swept = inv.sweep_expired(spec.id, 10).await.expect("sweep");
        if !swept.is_empty() {
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(10)).await;
    }
    assert_eq!(swept.len(), 1, "the hold expired by the server's clock");
    assert_eq!(swept[0].hold, h.token.hold);
    let e = inv.sell(&sell_req(&h, OrderId::new())).await;
    assert!(matches!(e, Err(InventoryError::HoldExpired { .. })), "{e:?}");
}

/// After `SCRIPT FLUSH` (as after a server restart) the scripts are loaded
/// again on first use.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_are_reloaded_after_a_flush() {
    let clock = ManualClock::fixed();
    let inv = inventory(&clock).await;
    let spec = create(&inv, 1, 1, 4, 0, test_policy()).await;
    let mut c = redis::Client::open(redis_url()).expect("client").get_multiplexed_async_connection().await.expect("c");
    let _: () = redis::cmd("SCRIPT").arg("FLUSH").query_async(&mut c).await.expect("flush");
    inv.hold_seats(&HoldSeats { show: spec.id, owner: OwnerId::new(), seats: ids(&[2]) }).await.expect("hold");
}

/// Another process (another inventory on the same prefix) finds the show in
/// Redis; a show removed from Redis behind the library's back is unknown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shows_are_shared_through_redis() {
    let clock = ManualClock::fixed();
    let prefix = test_prefix();
    let open = || async {
        RedisInventory::builder(&redis_url())
            .expect("url")
            .prefix(prefix.clone())
            .time_source(TimeSource::Injected(clock.shared()))
            .build()
            .await
            .expect("connect")
    };
    let (a, b) = (open().await, open().await);
    let spec = create(&a, 1, 1, 4, 2, test_policy()).await;
    let h = b.hold_seats(&HoldSeats { show: spec.id, owner: OwnerId::new(), seats: ids(&[3]) }).await.expect("hold");
    assert_eq!(a.snapshot(spec.id).await.expect("snapshot").seats[3].status, SeatStatus::Held);
    a.sell(&sell_req(&h, OrderId::new())).await.expect("sell through the other process");

    let other = RedisInventory::builder(&redis_url()).expect("url").prefix(test_prefix()).build().await.expect("c");
    assert!(matches!(other.snapshot(spec.id).await, Err(InventoryError::UnknownShow(_))), "prefixes keep apart");

    let mut c = redis::Client::open(redis_url()).expect("client").get_multiplexed_async_connection().await.expect("c");
    let keys = a.keys(spec.id);
    let _: () = redis::cmd("DEL").arg(&keys.all()[..]).query_async(&mut c).await.expect("del");
    let e = a.hold_seats(&HoldSeats { show: spec.id, owner: OwnerId::new(), seats: ids(&[0]) }).await;
    assert!(matches!(e, Err(InventoryError::UnknownShow(_))), "{e:?}");
    assert!(matches!(a.snapshot(spec.id).await, Err(InventoryError::UnknownShow(_))));
}

/// A show's specification (labels, names, pools, policy) and its listing
/// live in Redis: another inventory on the prefix (a restarted process)
/// reads them back as created. A listing lost between the show's script
/// and the index write is put back by the retried create; an archived
/// show is not listed again by it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn specs_and_listing_survive_a_restart_and_a_lost_index_write() {
    let prefix = test_prefix();
    let open = || async {
        RedisInventory::builder(&redis_url()).expect("url").prefix(prefix.clone()).build().await.expect("connect")
    };
    let mut layout = booking_core::VenueLayout::grid(2, 2, 3, booking_core::PriceCategory(1));
    layout.sections[1].rows[0].seats[2].label = "K 12".into();
    layout.sections[0].rows[1].name = "Loge".into();
    let spec = booking_core::ShowSpec::new("restart", layout)
        .with_pool("floor", 7, booking_core::PriceCategory(3))
        .with_policy(test_policy());
    let other =
        booking_core::ShowSpec::new("other", booking_core::VenueLayout::grid(1, 1, 2, booking_core::PriceCategory(1)));
    {
        let first = open().await;
        first.create_show(&spec).await.expect("create");
        first.create_show(&other).await.expect("create");
    }
    let restarted = open().await;
    assert_eq!(restarted.show_spec(spec.id).await.expect("spec after a restart"), spec);
    let mut both = vec![spec.id, other.id];
    both.sort();
    assert_eq!(restarted.list_shows().await.expect("list"), both, "only this prefix's shows, by id");

    // The index write of a create was lost.
    let mut c = redis::Client::open(redis_url()).expect("client").get_multiplexed_async_connection().await.expect("c");
    let _: i64 = redis::cmd("ZREM")
        .arg(show_index(&prefix))
        .arg(format!("{:032x}", spec.id.as_u128()))
        .query_async(&mut c)
        .await
        .expect("zrem");
    assert_eq!(restarted.list_shows().await.expect("list"), vec![other.id]);
    assert!(matches!(restarted.create_show(&spec).await, Err(InventoryError::ShowExists(_))));
    assert_eq!(restarted.list_shows().await.expect("list"), both, "the retried create listed it");

    restarted.archive_show(other.id).await.expect("archive");
    assert!(matches!(restarted.create_show(&other).await, Err(InventoryError::ShowExists(_))));
    assert_eq!(restarted.list_shows().await.expect("list"), vec![spec.id], "an archived show stays unlisted");
    assert_eq!(restarted.prune_feed(StdDuration::ZERO).await.expect("prune"), 0, "capped streams: nothing to prune");
}

/// A failure of the store names the store and the operation: a server
/// that cannot be reached, data the library did not write, data lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_name_the_store_and_the_operation() {
    let port = TcpListener::bind("127.0.0.1:0").await.expect("bind").local_addr().expect("addr").port();
    let e = RedisInventory::connect(&format!("redis://127.0.0.1:{port}")).await.expect_err("nothing listens");
    assert!(matches!(e, InventoryError::Unavailable(_)), "{e:?}");
    assert_eq!(RedisFailure::of(&e).map(|f| f.operation), Some("connect"));
    assert!(e.to_string().starts_with("store unavailable: Redis, connect: "), "{e}");

    let clock = ManualClock::fixed();
    let inv = inventory(&clock).await;
    let spec = create(&inv, 1, 1, 4, 0, test_policy()).await;
    let keys = inv.keys(spec.id);
    let mut c = redis::Client::open(redis_url()).expect("client").get_multiplexed_async_connection().await.expect("c");
    let _: () = redis::cmd("HSET").arg(&keys.seats).arg("2").arg("garbage").query_async(&mut c).await.expect("hset");
    let e = inv.snapshot(spec.id).await.expect_err("a seat this library did not write");
    assert!(matches!(e, InventoryError::Backend(_)), "{e:?}");
    assert_eq!(RedisFailure::of(&e).map(|f| f.operation), Some("snapshot"));
    assert!(e.to_string().starts_with("backend error: Redis, snapshot: "), "{e}");

    let _: () = redis::cmd("DEL").arg(&keys.seats).query_async(&mut c).await.expect("del");
    let e = inv.hold_seats(&HoldSeats { show: spec.id, owner: OwnerId::new(), seats: ids(&[0]) }).await;
    let e = e.expect_err("the seat hash is gone");
    assert_eq!(RedisFailure::of(&e).map(|f| f.operation), Some("hold_seats"));
    assert_eq!(StoreError::of(&e), Some(&StoreError::DataLost { show: spec.id }), "{e:?}");
}

#[tokio::test]
async fn a_prefix_with_braces_is_refused() {
    let b = RedisInventory::builder(&redis_url()).expect("url").prefix("a{b}:");
    assert!(matches!(b.build().await, Err(InventoryError::InvalidRequest(_))));
    assert!(matches!(RedisInventory::builder("not a url"), Err(InventoryError::InvalidRequest(_))));
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable() {
    let port = TcpListener::bind("127.0.0.1:0").await.expect("bind").local_addr().expect("addr").port();
    let e = RedisInventory::connect(&format!("redis://127.0.0.1:{port}")).await;
    assert!(matches!(e, Err(InventoryError::Unavailable(_))), "{e:?}");
}

const PASS: u8 = 0;
const DROP_REQUESTS: u8 = 1;
const DROP_REPLIES: u8 = 2;

/// A TCP proxy in front of Redis that can drop requests or replies, then
/// cut the connection.
async fn proxy(mode: Arc<AtomicU8>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = TcpStream::connect(redis_addr()).await else { continue };
            let mode = mode.clone();
            tokio::spawn(async move {
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let up_mode = mode.clone();
                let up = tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    while let Ok(n) = cr.read(&mut buf).await {
                        if n == 0 || up_mode.load(Ordering::SeqCst) == DROP_REQUESTS {
                            break;
                        }
                        if sw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n) = sr.read(&mut buf).await {
                    if n == 0 || mode.load(Ordering::SeqCst) == DROP_REPLIES {
                        break;
                    }
                    if cw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                up.abort();
            });
        }
    });
    port
}

/// An inventory reaching Redis through the proxy on `port`, configured
/// further by `config`.
async fn through_proxy(
    port: u16,
    clock: &ManualClock,
    config: impl FnOnce(RedisInventoryBuilder) -> RedisInventoryBuilder,
) -> RedisInventory {
    let builder = RedisInventory::builder(&format!("redis://127.0.0.1:{port}"))
        .expect("url")
        .prefix(test_prefix())
        .time_source(TimeSource::Injected(clock.shared()))
        .response_timeout(StdDuration::from_secs(2));
    config(builder).build().await.expect("connect")
}

/// A connection lost before the request reached Redis, or after Redis ran
/// it but before the reply arrived, is `OutcomeUnknown` for a write (the
/// library cannot tell the two apart) and `Unavailable` for a read; the
/// inventory reconnects by itself afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_connections_are_reported_as_unknown_or_unavailable() {
    let mode = Arc::new(AtomicU8::new(PASS));
    let port = proxy(mode.clone()).await;
    let clock = ManualClock::fixed();
    let inv = through_proxy(port, &clock, |b| b).await;
    let spec = create(&inv, 1, 1, 4, 0, test_policy()).await;
    let show = spec.id;

    mode.store(DROP_REQUESTS, Ordering::SeqCst);
    let e = inv.hold_seats(&HoldSeats { show, owner: OwnerId::new(), seats: ids(&[0]) }).await;
    assert!(matches!(e, Err(InventoryError::OutcomeUnknown(_))), "{e:?}");
    assert_eq!(e.as_ref().err().and_then(RedisFailure::of).map(|f| f.operation), Some("hold_seats"));
    let e = inv.snapshot(show).await;
    assert!(matches!(e, Err(InventoryError::Unavailable(_))), "{e:?}");
    assert_eq!(e.as_ref().err().and_then(RedisFailure::of).map(|f| f.operation), Some("snapshot"));

    mode.store(PASS, Ordering::SeqCst);
    let snap = recover(&inv, show).await;
    assert_eq!(snap.seats[0].status, SeatStatus::Available, "the dropped request never ran");

    mode.store(DROP_REPLIES, Ordering::SeqCst);
    let e = inv.hold_seats(&HoldSeats { show, owner: OwnerId::new(), seats: ids(&[1]) }).await;
    assert!(matches!(e, Err(InventoryError::OutcomeUnknown(_))), "{e:?}");
    mode.store(PASS, Ordering::SeqCst);
    let snap = recover(&inv, show).await;
    assert_eq!(snap.seats[1].status, SeatStatus::Held, "the request ran; only its reply was lost");
}

/// With request coalescing on, a batch whose connection is lost after it
/// was sent gives each of its callers `OutcomeUnknown`, as a single
/// request would, and no request ran twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_batch_is_outcome_unknown_for_each_caller() {
    let mode = Arc::new(AtomicU8::new(PASS));
    let port = proxy(mode.clone()).await;
    let clock = ManualClock::fixed();
    let inv = through_proxy(port, &clock, |b| b.coalesce(Coalescing { max_batch: 64, max_in_flight: 1 })).await;
    let spec = create(&inv, 1, 1, 16, 0, HoldPolicy { max_held_per_owner: None, ..test_policy() }).await;
    let show = spec.id;

    mode.store(DROP_REPLIES, Ordering::SeqCst);
    let results = futures_util::future::join_all((0..16).map(|seat| {
        let inv = inv.clone();
        async move { inv.hold_seats(&HoldSeats { show, owner: OwnerId::new(), seats: ids(&[seat]) }).await }
    }))
    .await;
    for r in &results {
        assert!(matches!(r, Err(InventoryError::OutcomeUnknown(_))), "{r:?}");
    }
    mode.store(PASS, Ordering::SeqCst);
    let snap = recover(&inv, show).await;
    // Each hold ran at most once (those sent after the cut never reached
    // the server): a seat is held at version 1 or untouched, and there is
    // one feed event per held seat (a batch writes its events in one entry:
    // its `c` counts them).
    let held = snap.seats.iter().filter(|s| s.status == SeatStatus::Held).count();
    assert!(
        snap.seats.iter().all(|s| (s.status == SeatStatus::Held && s.version == 1)
            || (s.status == SeatStatus::Available && s.version == 0)),
        "{snap:?}"
    );
    let keys = inv.keys(show);
    let mut c = redis::Client::open(redis_url()).expect("client").get_multiplexed_async_connection().await.expect("c");
    let entries: Vec<std::collections::HashMap<String, redis::Value>> = {
        let r: redis::streams::StreamRangeReply =
            redis::cmd("XRANGE").arg(&keys.feed).arg("-").arg("+").query_async(&mut c).await.expect("XRANGE");
        r.ids.into_iter().map(|e| e.map).collect()
    };
    let events: usize =
        entries.iter().map(|e| e.get("c").map_or(1, |c| redis::from_redis_value::<usize>(c.clone()).expect("c"))).sum();
    assert_eq!(events, held);
    let seq: usize = redis::cmd("HGET").arg(&keys.meta).arg("seq").query_async(&mut c).await.expect("seq");
    assert_eq!(seq, held);
    assert!(inv.coalesce_stats().requests > 0, "{:?}", inv.coalesce_stats());
}

async fn recover(inv: &RedisInventory, show: booking_core::ShowId) -> booking_core::Snapshot {
    for _ in 0..100 {
        match inv.snapshot(show).await {
            Ok(s) => return s,
            Err(InventoryError::Unavailable(_)) => tokio::time::sleep(StdDuration::from_millis(20)).await,
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    panic!("the inventory did not reconnect");
}

/// A fresh inventory that reads the injected clock is what the suite uses;
/// check the builder wires the clock through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_injected_clock_decides_when_given() {
    let clock = ManualClock::fixed();
    let inv = inventory(&clock).await;
    let spec = create(&inv, 1, 1, 2, 0, test_policy()).await;
    let h = inv.hold_seats(&HoldSeats { show: spec.id, owner: OwnerId::new(), seats: ids(&[0]) }).await.expect("hold");
    assert_eq!(h.held_until, clock.now() + Duration::milliseconds(spec.policy.ttl_millis()));
    assert!(format!("{inv:?}").contains("RedisInventory"));
}
