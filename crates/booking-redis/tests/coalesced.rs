//! The conformance suite and the state-machine test again, with request
//! coalescing on (batching must not change any answer), plus what is
//! particular to it: a batch script decides its requests as if one by one,
//! and concurrent requests on one show really are batched without ever
//! holding a seat twice. Each test uses its own random key prefix.

mod common;

use booking_core::Coalescing;
use booking_core::TimeSource;
use booking_core::testkit::{Fixture, StateMachine, StateMachineBackend, action, create, ids, test_policy};
use booking_core::{
    Clock, HoldId, HoldPolicy, HoldSeats, InventoryError, Limit, ManualClock, OwnerId, SeatInventory, SeatStatus,
};
use booking_redis::{RedisInventory, ShowKeys, scripts};
use common::{coalesced_inventory, redis_url};
use futures_util::StreamExt;
use std::collections::BTreeSet;

booking_core::conformance_suite!(common::fixture_coalesced);

struct RedisCoalesced;

impl StateMachineBackend for RedisCoalesced {
    async fn fixture() -> Fixture {
        common::fixture_coalesced().await.into_dyn()
    }
}

proptest_state_machine::prop_state_machine! {
    #![proptest_config(booking_core::testkit::config(64))]
    #[test]
    fn state_machine_coalesced(sequential 1..60 => StateMachine<RedisCoalesced>);
}

fn hex(v: u128) -> String {
    format!("{v:032x}")
}

/// The prefix an inventory was built with, from its keys.
fn prefix_of(inv: &RedisInventory, show: booking_core::ShowId) -> String {
    let meta = inv.keys(show).meta;
    meta[..meta.find('{').expect("hash tag")].to_owned()
}

/// One batch decides its requests as if they ran one after another: a
/// request sees the seats and the per-owner count left by the requests
/// before it, and a refused request changes nothing. Releases likewise,
/// with each refusal as the single script gives it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_answers_as_one_by_one() {
    let clock = ManualClock::fixed();
    let inv = coalesced_inventory(&clock, 64, 2).await;
    let spec = create(&inv, 1, 1, 10, 0, HoldPolicy { max_held_per_owner: Some(3), ..test_policy() }).await;
    let keys = ShowKeys::new(&prefix_of(&inv, spec.id), spec.id);
    let mut feed = inv.subscribe(spec.id).await.expect("subscribe");
    let (a, b) = (OwnerId::new(), OwnerId::new());
    let now = clock.now_millis().to_string();
    // (owner, seats): a takes 1-2; b wants 2-3 (2 is taken); a wants 4-5
    // (would hold 4 > 3); b takes 3; a takes 6; a wants 7 (would hold 4).
    let requests: [(OwnerId, &[u32]); 6] = [(a, &[1, 2]), (b, &[2, 3]), (a, &[4, 5]), (b, &[3]), (a, &[6]), (a, &[7])];
    let holds: Vec<HoldId> = requests.iter().map(|_| HoldId::new()).collect();
    let script = redis::Script::new(scripts::HOLD_BATCH);
    let mut call = script.prepare_invoke();
    call.key(&keys.meta).key(&keys.seats).key(&keys.seat_expiry).key(&keys.pool_holds).key(&keys.feed).key(&keys.free);
    call.key(&keys.owner_sold);
    for (owner, _) in &requests {
        call.key(keys.owner(*owner));
    }
    let policy = &spec.policy;
    call.arg(policy.ttl_millis()).arg(policy.max_hold_millis()).arg("3,none").arg(1000).arg(0).arg(requests.len());
    for ((owner, seats), hold) in requests.iter().zip(&holds) {
        call.arg(&now).arg(hex(owner.as_u128())).arg(hex(hold.as_u128())).arg(seats.len());
        for s in *seats {
            call.arg(*s);
        }
    }
    let mut c = redis::Client::open(redis_url()).expect("url").get_multiplexed_async_connection().await.expect("c");
    let got: redis::Value = call.invoke_async(&mut c).await.expect("hold batch");
    let until = clock.now_millis() + policy.ttl_millis();
    use redis::Value::{Array, BulkString, Int};
    let s = |t: &str| BulkString(t.as_bytes().to_vec());
    let ok = |v: i64| Array(vec![s("OK"), Int(v), Int(until)]);
    let limit = Array(vec![s("HELD_PER_OWNER"), Int(4)]);
    assert_eq!(
        got,
        Array(vec![ok(1), Array(vec![s("SEATS_TAKEN"), Array(vec![s("2")])]), limit.clone(), ok(1), ok(1), limit])
    );
    let snap = inv.snapshot(spec.id).await.expect("snapshot");
    let held: Vec<u32> = snap.seats.iter().filter(|s| s.status == SeatStatus::Held).map(|s| s.seat.0).collect();
    assert_eq!(held, vec![1, 2, 3, 6]);

    // Releases: a's first hold; the same again (gone); b's hold by a (not
    // the owner); a's seat 6 with a wrong version (stale); b's hold.
    let script = redis::Script::new(scripts::RELEASE_BATCH);
    let mut call = script.prepare_invoke();
    call.key(&keys.meta).key(&keys.seats).key(&keys.seat_expiry).key(&keys.feed).key(&keys.free).arg(1000).arg(5);
    let releases: [(OwnerId, usize, u64, &[u32]); 5] =
        [(a, 0, 1, &[1, 2]), (a, 0, 1, &[1, 2]), (a, 3, 1, &[3]), (a, 4, 7, &[6]), (b, 3, 1, &[3])];
    for (owner, hold, version, seats) in releases {
        call.arg(&now).arg(hex(owner.as_u128())).arg(hex(holds[hold].as_u128())).arg(version).arg(seats.len());
        for s in seats {
            call.arg(*s);
        }
    }
    let got: redis::Value = call.invoke_async(&mut c).await.expect("release batch");
    assert_eq!(
        got,
        Array(vec![
            Array(vec![s("OK"), Int(2)]),
            Array(vec![s("HOLD_EXPIRED")]),
            Array(vec![s("NOT_OWNER")]),
            Array(vec![s("STALE_TOKEN"), s("1")]),
            Array(vec![s("OK"), Int(2)]),
        ])
    );
    let snap = inv.snapshot(spec.id).await.expect("snapshot");
    let held: Vec<u32> = snap.seats.iter().filter(|s| s.status == SeatStatus::Held).map(|s| s.seat.0).collect();
    assert_eq!(held, vec![6]);
    assert_eq!(snap.seats[1].version, 2);
    // One feed event per change (3 holds, 2 releases), numbered in order,
    // in one stream entry per batch.
    let len: usize = redis::cmd("XLEN").arg(&keys.feed).query_async(&mut c).await.expect("XLEN");
    let seq: i64 = redis::cmd("HGET").arg(&keys.meta).arg("seq").query_async(&mut c).await.expect("seq");
    assert_eq!((len, seq), (2, 5));
    // A subscriber reads each event on its own, in order.
    let mut events = Vec::new();
    for _ in 0..5 {
        let e = tokio::time::timeout(std::time::Duration::from_secs(5), feed.next())
            .await
            .expect("an event in time")
            .expect("an event")
            .expect("a change");
        let seats = match e.items {
            booking_core::HoldItems::Seats(s) => s.iter().map(|s| s.0).collect::<Vec<u32>>(),
            other => panic!("{other:?}"),
        };
        events.push((e.kind, e.hold, seats, e.version));
    }
    use booking_core::ChangeKind::{Held, Released};
    assert_eq!(
        events,
        vec![
            (Held, Some(holds[0]), vec![1, 2], 1),
            (Held, Some(holds[3]), vec![3], 1),
            (Held, Some(holds[4]), vec![6], 1),
            (Released, Some(holds[0]), vec![1, 2], 2),
            (Released, Some(holds[3]), vec![3], 2),
        ]
    );
}

/// Many callers on one show: requests are batched (a batch carried more
/// than one request), every seat is held by at most one hold at a time, and
/// every caller gets its own answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_holds_are_batched_and_exclusive() {
    let clock = ManualClock::fixed();
    let inv = coalesced_inventory(&clock, 64, 1).await;
    let spec = create(&inv, 1, 1, 48, 0, HoldPolicy { max_held_per_owner: Some(4), ..test_policy() }).await;
    let show = spec.id;
    for round in 0..12u64 {
        // 64 callers each want 2 of 48 seats, overlapping.
        let mut tasks = Vec::new();
        for caller in 0..64u64 {
            let inv = inv.clone();
            tasks.push(tokio::spawn(async move {
                let owner = OwnerId::new();
                let x = (caller * 7919 + round * 104_729) % 47;
                let seats = ids(&[x as u32, x as u32 + 1]);
                match inv.hold_seats(&HoldSeats { show, owner, seats }).await {
                    Ok(h) => Some(h),
                    Err(InventoryError::SeatsTaken { .. }) => None,
                    Err(e) => panic!("hold: {e:?}"),
                }
            }));
        }
        let mut holds = Vec::new();
        for t in tasks {
            holds.extend(t.await.expect("task"));
        }
        let mut seen = BTreeSet::new();
        for h in &holds {
            let booking_core::HoldItems::Seats(seats) = &h.token.items else { panic!("seat hold") };
            for s in seats {
                assert!(seen.insert(s.0), "seat {} held twice in round {round}", s.0);
            }
        }
        assert!(!holds.is_empty());
        let snap = inv.snapshot(show).await.expect("snapshot");
        let held: BTreeSet<u32> =
            snap.seats.iter().filter(|s| s.status == SeatStatus::Held).map(|s| s.seat.0).collect();
        assert_eq!(held, seen);
        let mut tasks = Vec::new();
        for h in holds {
            let inv = inv.clone();
            tasks.push(tokio::spawn(async move { inv.release(&action(&h)).await }));
        }
        for t in tasks {
            t.await.expect("task").expect("release");
        }
        let snap = inv.snapshot(show).await.expect("snapshot");
        assert!(snap.seats.iter().all(|s| s.status == SeatStatus::Available));
    }
    let stats = inv.coalesce_stats();
    assert!(stats.largest > 1 && stats.requests > stats.batches, "{stats:?}");
}

/// One owner on many callers at once, with a per-owner limit: batches count
/// the holds granted earlier in the same batch, so exactly the limit is
/// granted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_limit_holds_across_a_batch() {
    let clock = ManualClock::fixed();
    let inv = coalesced_inventory(&clock, 64, 1).await;
    for _ in 0..8 {
        let spec = create(&inv, 1, 1, 40, 0, HoldPolicy { max_held_per_owner: Some(4), ..test_policy() }).await;
        let owner = OwnerId::new();
        let mut tasks = Vec::new();
        for seat in 0..32u32 {
            let inv = inv.clone();
            tasks.push(tokio::spawn(async move {
                inv.hold_seats(&HoldSeats { show: spec.id, owner, seats: ids(&[seat]) }).await
            }));
        }
        let (mut granted, mut refused) = (0, 0);
        for t in tasks {
            match t.await.expect("task") {
                Ok(_) => granted += 1,
                Err(InventoryError::LimitExceeded(Limit::HeldPerOwner { would_hold: 5, max: 4 })) => refused += 1,
                Err(e) => panic!("hold: {e:?}"),
            }
        }
        assert_eq!((granted, refused), (4, 28));
        let snap = inv.snapshot(spec.id).await.expect("snapshot");
        assert_eq!(snap.seats.iter().filter(|s| s.status == SeatStatus::Held).count(), 4);
    }
    assert!(inv.coalesce_stats().requests > inv.coalesce_stats().batches, "{:?}", inv.coalesce_stats());
}

/// A batch answered `NOSCRIPT` (after `SCRIPT FLUSH`) did not run: the
/// batch script is loaded and the batch sent again, once. On a server of
/// its own, since flushing the scripts of the shared one would race the
/// other tests' reloads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_scripts_are_reloaded_after_a_flush() {
    let server = booking_redis::testkit::RedisServer::start().await;
    let clock = ManualClock::fixed();
    let inv = RedisInventory::builder(&server.url())
        .expect("url")
        .prefix(common::test_prefix())
        .time_source(TimeSource::Injected(clock.shared()))
        .coalesce(Coalescing { max_batch: 64, max_in_flight: 1 })
        .build()
        .await
        .expect("connect");
    let spec = create(&inv, 1, 1, 16, 0, HoldPolicy { max_held_per_owner: None, ..test_policy() }).await;
    let mut c = redis::Client::open(server.url()).expect("url").get_multiplexed_async_connection().await.expect("c");
    for _ in 0..3 {
        let _: () = redis::cmd("SCRIPT").arg("FLUSH").query_async(&mut c).await.expect("flush");
        let holds =
            futures_util::future::join_all(
                (0..16).map(|seat| {
                    let inv = inv.clone();
                    async move {
                        inv.hold_seats(&HoldSeats { show: spec.id, owner: OwnerId::new(), seats: ids(&[seat]) }).await
                    }
                }),
            )
            .await;
        let _: () = redis::cmd("SCRIPT").arg("FLUSH").query_async(&mut c).await.expect("flush");
        futures_util::future::join_all(holds.into_iter().map(|h| {
            let inv = inv.clone();
            async move { inv.release(&action(&h.expect("hold"))).await.expect("release") }
        }))
        .await;
    }
    assert!(inv.coalesce_stats().batches > 0, "{:?}", inv.coalesce_stats());
}

/// On a Redis Cluster, with shows on several masters: one take of queued
/// requests is split by show, each show's batch goes to its own master
/// (its keys on the show's slot), and every request is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_are_per_show_on_a_cluster() {
    let clock = ManualClock::fixed();
    let inv = RedisInventory::cluster_builder(common::cluster_urls())
        .expect("REDIS_CLUSTER_URLS")
        .prefix(common::test_prefix())
        .time_source(TimeSource::Injected(clock.shared()))
        .coalesce(Coalescing { max_batch: 64, max_in_flight: 1 })
        .build()
        .await
        .expect("cluster");
    let mut shows = Vec::new();
    for _ in 0..6 {
        shows.push(create(&inv, 1, 1, 16, 0, HoldPolicy { max_held_per_owner: Some(2), ..test_policy() }).await.id);
    }
    for _ in 0..3 {
        let holds = futures_util::future::join_all(
            shows.iter().flat_map(|&show| (0..16).map(move |seat| (show, seat))).map(|(show, seat)| {
                let inv = inv.clone();
                async move { inv.hold_seats(&HoldSeats { show, owner: OwnerId::new(), seats: ids(&[seat]) }).await }
            }),
        )
        .await;
        for &show in &shows {
            let snap = inv.snapshot(show).await.expect("snapshot");
            assert!(snap.seats.iter().all(|s| s.status == SeatStatus::Held));
        }
        futures_util::future::join_all(holds.into_iter().map(|h| {
            let inv = inv.clone();
            async move { inv.release(&action(&h.expect("hold"))).await.expect("release") }
        }))
        .await;
        for &show in &shows {
            let snap = inv.snapshot(show).await.expect("snapshot");
            assert!(snap.seats.iter().all(|s| s.status == SeatStatus::Available));
        }
    }
    let stats = inv.coalesce_stats();
    assert!(stats.largest > 1, "{stats:?}");
}

/// `Coalescing`'s meaning: per show and kind, a request goes at once while
/// fewer than `max_in_flight` calls are in flight, so as many concurrent
/// requests as that never wait for a batch; beyond it they wait, and the
/// calls in flight on one show never exceed `max_in_flight`, whichever
/// calls (single or batch) they are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_in_flight_per_show_stay_within_max_in_flight() {
    let clock = ManualClock::fixed();
    let policy = HoldPolicy { max_held_per_owner: None, ..test_policy() };
    let burst = |inv: RedisInventory, show: booking_core::ShowId, n: u32| async move {
        let holds = futures_util::future::join_all((0..n).map(|seat| {
            let inv = inv.clone();
            async move { inv.hold_seats(&HoldSeats { show, owner: OwnerId::new(), seats: ids(&[seat]) }).await }
        }))
        .await;
        futures_util::future::join_all(holds.into_iter().map(|h| {
            let inv = inv.clone();
            async move { inv.release(&action(&h.expect("hold"))).await.expect("release") }
        }))
        .await;
    };

    // Four at a time on one show, with four allowed in flight: all go at once.
    let inv = coalesced_inventory(&clock, 64, 4).await;
    let spec = create(&inv, 1, 1, 200, 0, policy.clone()).await;
    for _ in 0..20 {
        burst(inv.clone(), spec.id, 4).await;
    }
    let stats = inv.coalesce_stats();
    assert_eq!((stats.batches, stats.requests), (0, 0), "nobody waited: {stats:?}");
    assert!(stats.peak_in_flight <= 4, "{stats:?}");

    // Bursts of 200: the rest wait and go in batches, never more than
    // `max_in_flight` calls at once.
    for max_in_flight in [1, 3] {
        let inv = coalesced_inventory(&clock, 16, max_in_flight).await;
        let spec = create(&inv, 1, 1, 200, 0, policy.clone()).await;
        for _ in 0..5 {
            burst(inv.clone(), spec.id, 200).await;
        }
        let stats = inv.coalesce_stats();
        assert!(stats.batches > 0 && stats.largest <= 16, "{stats:?}");
        assert!(stats.peak_in_flight <= max_in_flight as u64, "max_in_flight {max_in_flight}: {stats:?}");
        if max_in_flight > 1 {
            assert!(stats.peak_in_flight > 1, "several calls did run at once: {stats:?}");
        }
        let snap = inv.snapshot(spec.id).await.expect("snapshot");
        assert!(snap.seats.iter().all(|s| s.status == SeatStatus::Available));
    }
}

/// Coalescing is on by default: concurrent callers of an inventory built
/// with the defaults are batched, and each gets its own answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coalescing_is_on_by_default() {
    let clock = ManualClock::fixed();
    let inv = RedisInventory::builder(&redis_url())
        .expect("REDIS_URL")
        .prefix(common::test_prefix())
        .time_source(TimeSource::Injected(clock.shared()))
        .build()
        .await
        .expect("connect");
    let show = create(&inv, 1, 1, 64, 0, test_policy()).await.id;
    for round in 0..4u32 {
        // 64 callers at once, each on a seat of its own, then 32 on seats
        // already taken: every answer is the caller's own.
        let holds = futures_util::future::join_all((0..96u32).map(|i| {
            let inv = inv.clone();
            async move { inv.hold_seats(&HoldSeats { show, owner: OwnerId::new(), seats: ids(&[i % 64]) }).await }
        }))
        .await;
        let (granted, refused): (Vec<_>, Vec<_>) = holds.into_iter().partition(Result::is_ok);
        assert_eq!(granted.len(), 64, "round {round}");
        assert!(refused.iter().all(|r| matches!(r, Err(InventoryError::SeatsTaken { .. }))), "{refused:?}");
        let actions: Vec<_> = granted.iter().map(|h| action(h.as_ref().expect("hold"))).collect();
        let releases = futures_util::future::join_all(actions.iter().map(|a| inv.release(a))).await;
        assert!(releases.iter().all(Result::is_ok), "{releases:?}");
    }
    let snap = inv.snapshot(show).await.expect("snapshot");
    assert!(snap.seats.iter().all(|s| s.status == SeatStatus::Available));
    let stats = inv.coalesce_stats();
    assert!(stats.batches > 0 && stats.requests > stats.batches, "{stats:?}");
    assert!(stats.peak_in_flight <= booking_redis::DEFAULT_COALESCING.max_in_flight as u64, "{stats:?}");
}
