//! The Redis seat lock in front of an inventory
//! (`booking_core::layered::LockedInventory`): the whole conformance suite
//! and the state-machine test on the composition, and the faults the lock
//! must survive without a seat being held or sold twice: a lock deleted
//! mid-operation, a holder paused past the lock's TTL, and the lock store
//! killed and restarted during a run.
//!
//! The inner inventory here is the Redis inventory itself (a backend crate
//! depends on no other backend crate); its versioned checks are the
//! fencing, as the database's are when PostgreSQL sits behind the lock.

mod common;

use booking_core::layered::{LockOutcome, LockedInventory, SeatLock};
use booking_core::testkit::faults::BuyOut;
use booking_core::testkit::{Fixture, StateMachine, StateMachineBackend, action, create, ids, sell_req, test_policy};
use booking_core::{
    HoldItems, HoldPolicy, HoldSeats, InventoryError, ManualClock, OrderId, OwnerId, SeatId, SeatInventory, SeatStatus,
};
use booking_redis::testkit::RedisServer;
use booking_redis::{RedisInventory, RedisSeatLock};
use chrono::Duration;
use common::{redis_url, test_prefix};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration as StdDuration;

type Layered = LockedInventory<RedisSeatLock, RedisInventory>;

const LOCK_TTL: StdDuration = StdDuration::from_secs(2);

async fn layered_on(lock_url: &str, clock: &ManualClock) -> Layered {
    let prefix = test_prefix();
    let inner = RedisInventory::builder(&redis_url())
        .expect("url")
        .prefix(prefix.clone())
        .clock(clock.shared())
        .build()
        .await
        .expect("connect");
    let lock = RedisSeatLock::builder(lock_url).expect("url").prefix(prefix).build().await.expect("lock");
    LockedInventory::new(lock, inner, LOCK_TTL)
}

async fn fixture() -> Fixture<Layered> {
    let clock = ManualClock::fixed();
    Fixture::new(layered_on(&redis_url(), &clock).await, clock)
}

booking_core::conformance_suite!(fixture);

struct LayeredRedis;

impl StateMachineBackend for LayeredRedis {
    const SHEDS_CONTENTION: bool = true;

    async fn fixture() -> Fixture {
        fixture().await.into_dyn()
    }
}

proptest_state_machine::prop_state_machine! {
    #![proptest_config(booking_core::testkit::config(64))]
    #[test]
    fn layered_state_machine_matches_the_model(sequential 1..60 => StateMachine<LayeredRedis>);
}

async fn lock_exists(inv: &Layered, show: booking_core::ShowId, seat: u32) -> bool {
    let mut c = redis::Client::open(redis_url()).expect("client").get_multiplexed_async_connection().await.expect("c");
    let key = inv.inner().keys(show).seat_lock(SeatId(seat));
    redis::cmd("EXISTS").arg(key).query_async::<i64>(&mut c).await.expect("exists") == 1
}

async fn delete_lock(inv: &Layered, show: booking_core::ShowId, seat: u32) {
    let mut c = redis::Client::open(redis_url()).expect("client").get_multiplexed_async_connection().await.expect("c");
    let key = inv.inner().keys(show).seat_lock(SeatId(seat));
    let _: () = redis::cmd("DEL").arg(key).query_async(&mut c).await.expect("del");
}

/// Request A locked seat 3 and is deciding; its lock vanishes (deleted, or
/// evicted); request B locks and holds the seat; A's hold then reaches the
/// store, which refuses it. A's unlock leaves a later locker's lock alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_deleted_mid_operation_cannot_cause_a_double_hold() {
    let clock = ManualClock::fixed();
    let inv = layered_on(&redis_url(), &clock).await;
    let spec = create(&inv, 1, 1, 6, 0, test_policy()).await;
    let show = spec.id;
    let (a, b) = (OwnerId::new(), OwnerId::new());

    // A takes the lock, as the composition does before calling the store.
    let LockOutcome::Locked(a_token) = inv.lock().try_lock(show, &ids(&[3]), LOCK_TTL).await.expect("lock") else {
        panic!("seat 3 was free")
    };
    let shed = inv.hold_seats(&HoldSeats { show, owner: b, seats: ids(&[3]) }).await;
    assert!(matches!(shed, Err(InventoryError::SeatsTaken { ref seats }) if seats == &ids(&[3])), "{shed:?}");
    assert_eq!(inv.snapshot(show).await.expect("snapshot").seats[3].status, SeatStatus::Available, "shed, not held");

    delete_lock(&inv, show, 3).await;
    let hb = inv.hold_seats(&HoldSeats { show, owner: b, seats: ids(&[3]) }).await.expect("B holds");
    assert!(!lock_exists(&inv, show, 3).await, "B released its lock once decided");

    // A resumes: its write reaches the store, which decides.
    let ha = inv.inner().hold_seats(&HoldSeats { show, owner: a, seats: ids(&[3]) }).await;
    assert!(matches!(ha, Err(InventoryError::SeatsTaken { .. })), "{ha:?}");

    // C locks the seat now; A's late unlock must not free C's lock.
    let LockOutcome::Locked(_c_token) = inv.lock().try_lock(show, &ids(&[3]), LOCK_TTL).await.expect("lock") else {
        panic!("seat 3 lock was free")
    };
    inv.lock().unlock(show, &ids(&[3]), &a_token).await.expect("unlock");
    assert!(lock_exists(&inv, show, 3).await, "a stale token unlocks nothing");
    delete_lock(&inv, show, 3).await;

    let sale = inv.sell(&sell_req(&hb, OrderId::new())).await.expect("B buys");
    assert_eq!(sale.items, HoldItems::Seats(ids(&[3])));
    let s = inv.snapshot(show).await.expect("snapshot");
    assert_eq!(s.totals().sold, 1);
}

/// A holder pauses past its lock's TTL (and, in a second round, past its
/// hold's TTL) while another buys the seat: the paused holder's writes
/// change nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_paused_past_the_ttl_changes_nothing() {
    let clock = ManualClock::fixed();
    let inv = layered_on(&redis_url(), &clock).await;
    let spec = create(&inv, 1, 1, 6, 0, test_policy()).await;
    let show = spec.id;
    let (a, b) = (OwnerId::new(), OwnerId::new());

    // Round 1: A locks for 50 ms and stalls before reaching the store.
    let LockOutcome::Locked(a_token) =
        inv.lock().try_lock(show, &ids(&[1]), StdDuration::from_millis(50)).await.expect("lock")
    else {
        panic!("seat 1 was free")
    };
    // The lock expires by the Redis server's own clock: wait for it.
    let mut expired = false;
    for _ in 0..200 {
        if !lock_exists(&inv, show, 1).await {
            expired = true;
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(10)).await;
    }
    assert!(expired, "the lock outlived its TTL");
    let hb = inv.hold_seats(&HoldSeats { show, owner: b, seats: ids(&[1]) }).await.expect("B holds");
    inv.sell(&sell_req(&hb, OrderId::new())).await.expect("B buys");
    let late = inv.inner().hold_seats(&HoldSeats { show, owner: a, seats: ids(&[1]) }).await;
    assert!(matches!(late, Err(InventoryError::SeatsTaken { .. })), "{late:?}");
    inv.lock().unlock(show, &ids(&[1]), &a_token).await.expect("late unlock");

    // Round 2: A holds seat 2, then stalls past its hold's TTL before paying.
    let ha = inv.hold_seats(&HoldSeats { show, owner: a, seats: ids(&[2]) }).await.expect("A holds");
    clock.advance(Duration::milliseconds(spec.policy.ttl_millis()));
    let hb = inv.hold_seats(&HoldSeats { show, owner: b, seats: ids(&[2]) }).await.expect("B holds after expiry");
    let b_order = OrderId::new();
    inv.sell(&sell_req(&hb, b_order)).await.expect("B buys");
    for e in [
        inv.sell(&sell_req(&ha, OrderId::new())).await.map(|_| ()),
        inv.extend(&action(&ha)).await.map(|_| ()),
        inv.release(&action(&ha)).await,
    ] {
        assert!(matches!(e, Err(InventoryError::HoldExpired { .. })), "{e:?}");
    }
    let s = inv.snapshot(show).await.expect("snapshot");
    assert_eq!((s.seats[1].status, s.seats[2].status), (SeatStatus::Sold, SeatStatus::Sold));
    assert_eq!(s.totals().sold, 2);
}

/// Buyers race through the composition while the lock store is killed and
/// later restarted: requests go to the inventory without locks meanwhile,
/// and every seat is still sold exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lock_store_killed_and_restarted_mid_run_sells_no_seat_twice() {
    const SEATS: u32 = 400;
    let mut server = RedisServer::start().await;
    let clock = ManualClock::fixed();
    let inv = Arc::new(layered_on(&server.url(), &clock).await);
    let policy = HoldPolicy { max_held_per_owner: None, ..test_policy() };
    let spec = create(&*inv, 1, 1, SEATS, 0, policy).await;
    let buyers = BuyOut::new(spec.id, SEATS);
    let race = tokio::spawn(buyers.clone().run(inv.clone()));
    let within = StdDuration::from_secs(20);
    buyers.wait_for(SEATS / 4, within).await;
    server.kill();
    let down_at = buyers.sold.load(Ordering::SeqCst);
    buyers.wait_for(SEATS / 2, within).await;
    let up_at = buyers.sold.load(Ordering::SeqCst);
    server.restart().await;
    let sales = race.await.expect("buyers");
    buyers.assert_sold_once(&sales);
    assert!(up_at > down_at, "sales went on while the lock store was down ({down_at} -> {up_at})");
    assert_eq!(inv.snapshot(spec.id).await.expect("snapshot").totals().sold, SEATS);
}
