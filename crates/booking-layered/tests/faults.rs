//! The faults the Redis seat lock in front of PostgreSQL must survive
//! without a seat being held or sold twice (docs/design.md, "Seat lock in front of an inventory"): lock keys
//! deleted while holds are in flight, a holder paused past the lock's TTL
//! (and past its hold's TTL) while another buys the seat, and the lock's
//! redis-server killed and restarted in the middle of a run.
//!
//! The lock only sheds contention; the database's compare-and-set on the
//! seat version (the fencing token) decides. Besides the answers, every test
//! reads the database itself: the seat rows, and the change outbox
//! (`booking.changes`, written in the transaction of each change, in commit
//! order per seat) to prove no seat was ever under two holds at once.

mod common;

use booking_core::layered::LockedInventory;
use booking_core::testkit::faults::{BuyOut, CountingLock, PausingLock};
use booking_core::testkit::{action, create, ids, sell_req, test_policy};
use booking_core::{
    HoldPolicy, HoldSeats, InventoryError, ManualClock, OrderId, OwnerId, Result, SeatId, SeatInventory, SeatStatus,
    ShowId,
};
use booking_postgres::PgInventory;
use booking_redis::testkit::RedisServer;
use booking_redis::{RedisSeatLock, ShowKeys};
use common::{Layered, layered_with, redis_url};
use sqlx::{PgPool, Row};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use uuid::Uuid;

async fn redis() -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis_url()).expect("REDIS_URL").get_multiplexed_async_connection().await.expect("redis")
}

async fn lock_exists(prefix: &str, show: ShowId, seat: u32) -> bool {
    let key = ShowKeys::new(prefix, show).seat_lock(SeatId(seat));
    redis::cmd("EXISTS").arg(key).query_async::<i64>(&mut redis().await).await.expect("EXISTS") == 1
}

async fn delete_lock(prefix: &str, show: ShowId, seat: u32) {
    let key = ShowKeys::new(prefix, show).seat_lock(SeatId(seat));
    let _: () = redis::cmd("DEL").arg(key).query_async(&mut redis().await).await.expect("DEL");
}

/// A seat's row: (state, owner, order, version). States: 0 available,
/// 1 held, 2 sold, 3 blocked.
async fn seat_row(pool: &PgPool, show: ShowId, seat: u32) -> (i16, Option<Uuid>, Option<Uuid>, i64) {
    let row = sqlx::query("SELECT state, owner, order_id, version FROM booking.seats WHERE show = $1 AND seat = $2")
        .bind(show.0)
        .bind(seat as i32)
        .fetch_one(pool)
        .await
        .expect("seat row");
    (row.get(0), row.get(1), row.get(2), row.get(3))
}

/// Change kinds in `booking.changes`.
const HELD: i16 = 0;
const RELEASED: i16 = 2;
const SOLD: i16 = 4;

/// Per seat, the kinds of its changes in commit order.
async fn histories(pool: &PgPool, show: ShowId) -> HashMap<i32, Vec<i16>> {
    let rows = sqlx::query(
        "SELECT s.seat, c.kind FROM booking.changes c CROSS JOIN LATERAL unnest(c.seats) AS s(seat) \
         WHERE c.show = $1 ORDER BY c.stamp",
    )
    .bind(show.0)
    .fetch_all(pool)
    .await
    .expect("changes");
    let mut by_seat: HashMap<i32, Vec<i16>> = HashMap::new();
    for row in rows {
        by_seat.entry(row.get(0)).or_default().push(row.get(1));
    }
    by_seat
}

/// Asserts that, with the clock standing still (no hold expires), no seat
/// was ever held while held or sold, and none sold twice: every seat's
/// history is (held, released)* followed by at most one (held, sold).
fn assert_never_held_twice(histories: &HashMap<i32, Vec<i16>>) {
    for (seat, kinds) in histories {
        let mut state = SeatStatus::Available;
        for &kind in kinds {
            state = match (state, kind) {
                (SeatStatus::Available, HELD) => SeatStatus::Held,
                (SeatStatus::Held, RELEASED) => SeatStatus::Available,
                (SeatStatus::Held, SOLD) => SeatStatus::Sold,
                _ => panic!("seat {seat}: change {kind} while {state:?}; history {kinds:?}"),
            };
        }
    }
}

/// A fingerprint of every inventory row of a show.
async fn fingerprint(pool: &PgPool, show: ShowId) -> String {
    sqlx::query(
        "SELECT md5(string_agg(x, '|' ORDER BY x)) FROM ( \
           SELECT 'seat' || t::text AS x FROM booking.seats t WHERE show = $1 UNION ALL \
           SELECT 'hold' || t::text FROM booking.holds t WHERE show = $1 UNION ALL \
           SELECT 'change' || t::text FROM booking.changes t WHERE show = $1) q",
    )
    .bind(show.0)
    .fetch_one(pool)
    .await
    .expect("fingerprint")
    .get(0)
}

fn taken(r: &Result<impl std::fmt::Debug>, seats: &[u32]) -> bool {
    matches!(r, Err(InventoryError::SeatsTaken { seats: s }) if s == &ids(seats))
}

/// Request A has taken seat 3's lock and is on its way to the database when
/// the lock key is deleted (flushed, evicted, a failover that lost it).
/// Request B, shed while the lock stood, now gets the lock and holds the
/// seat; A's hold then reaches the database, whose compare-and-set refuses
/// it. B buys the seat; the seat row and its history show B alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_deleted_while_a_hold_is_in_flight_cannot_cause_a_double_hold() {
    let db = common::create_database().await;
    let clock = ManualClock::fixed();
    let (lock, prefix) = common::redis_lock(&redis_url()).await;
    let inv = Arc::new(layered_with(PausingLock::new(lock), &db, 4, &clock).await);
    let pool = inv.inner().pool().clone();
    let spec = create(&*inv, 1, 1, 6, 0, test_policy()).await;
    let show = spec.id;
    let (a, b) = (OwnerId::new(), OwnerId::new());

    let (locked, resume) = inv.lock().arm();
    let a_hold = {
        let inv = inv.clone();
        tokio::spawn(async move { inv.hold_seats(&HoldSeats { show, owner: a, seats: ids(&[3]) }).await })
    };
    locked.await.expect("A takes the lock");
    assert!(lock_exists(&prefix, show, 3).await);

    let shed = inv.hold_seats(&HoldSeats { show, owner: b, seats: ids(&[3]) }).await;
    assert!(taken(&shed, &[3]), "B is shed while A decides: {shed:?}");
    assert_eq!(seat_row(&pool, show, 3).await, (0, None, None, 0), "shedding touched nothing");

    delete_lock(&prefix, show, 3).await;
    let hb = inv.hold_seats(&HoldSeats { show, owner: b, seats: ids(&[3]) }).await.expect("B holds");
    assert!(!lock_exists(&prefix, show, 3).await, "B released its lock once decided");

    resume.send(()).expect("A resumes");
    let ha = a_hold.await.expect("A");
    assert!(taken(&ha, &[3]), "the database refuses A: {ha:?}");

    let b_order = OrderId::new();
    let sale = inv.sell(&sell_req(&hb, b_order)).await.expect("B buys");
    assert_eq!(seat_row(&pool, show, 3).await, (2, Some(b.0), Some(b_order.0), sale.version as i64));
    assert_eq!(sale.version, 2, "one hold and one sale ever changed the seat");
    assert_eq!(histories(&pool, show).await[&3], vec![HELD, SOLD]);
    let holds: i64 = sqlx::query("SELECT count(*) FROM booking.holds WHERE show = $1")
        .bind(show.0)
        .fetch_one(&pool)
        .await
        .expect("holds")
        .get(0);
    assert_eq!(holds, 0, "A left no hold behind");
}

/// Buyers race for few seats while the seat locks are deleted as fast as
/// they appear: the lock sheds little, the database decides every race.
/// Every seat is sold exactly once and no seat was ever held twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_keys_deleted_throughout_a_race_sell_no_seat_twice() {
    const SEATS: u32 = 40;
    let db = common::create_database().await;
    let clock = ManualClock::fixed();
    let (lock, prefix) = common::redis_lock(&redis_url()).await;
    let inv = Arc::new(layered_with(lock, &db, 8, &clock).await);
    let pool = inv.inner().pool().clone();
    let policy = HoldPolicy { max_held_per_owner: None, ..test_policy() };
    let spec = create(&*inv, 1, 1, SEATS, 0, policy).await;
    let show = spec.id;

    let done = Arc::new(AtomicBool::new(false));
    let deleter = {
        let done = done.clone();
        let keys: Vec<String> = (0..SEATS).map(|s| ShowKeys::new(&prefix, show).seat_lock(SeatId(s))).collect();
        tokio::spawn(async move {
            let mut c = redis().await;
            let mut deleted = 0u64;
            while !done.load(Ordering::SeqCst) {
                deleted += redis::cmd("DEL").arg(&keys).query_async::<u64>(&mut c).await.expect("DEL");
                tokio::task::yield_now().await;
            }
            deleted
        })
    };

    let buyers = BuyOut { release_one_in: 4, attempts: 20_000, ..BuyOut::new(show, SEATS) };
    let sales = buyers.clone().run(inv.clone()).await;
    done.store(true, Ordering::SeqCst);
    let deleted = deleter.await.expect("deleter");
    assert!(deleted > 0, "the race ran with its locks deleted");

    buyers.assert_sold_once(&sales);
    for (seat, sale) in &sales {
        let (state, owner, order, version) = seat_row(&pool, show, *seat).await;
        assert_eq!((state, owner, order), (2, Some(sale.owner.0), Some(sale.order.0)), "seat {seat}");
        assert_eq!(version, sale.version as i64, "seat {seat}: nothing wrote after the sale");
    }
    assert_never_held_twice(&histories(&pool, show).await);
    assert_eq!(inv.snapshot(show).await.expect("snapshot").totals().sold, SEATS);
}

/// A holder paused past the lock's TTL, then past its hold's TTL, while
/// another buys the seat: the paused holder's writes change nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_paused_past_the_ttl_changes_nothing() {
    let db = common::create_database().await;
    let clock = ManualClock::fixed();
    let (lock, prefix) = common::redis_lock(&redis_url()).await;
    let pg = PgInventory::with_clock(common::pool(&db, 4).await, clock.shared());
    let pool = pg.pool().clone();
    // Short-lived locks: A's lock lapses while A is paused.
    let inv = Arc::new(LockedInventory::new(PausingLock::new(lock), pg, Duration::from_millis(50)));
    let spec = create(&*inv, 1, 1, 6, 0, test_policy()).await;
    let show = spec.id;
    let (a, b) = (OwnerId::new(), OwnerId::new());

    // Round 1: A takes seat 1's lock and stalls before the database.
    let (locked, resume) = inv.lock().arm();
    let a_hold = {
        let inv = inv.clone();
        tokio::spawn(async move { inv.hold_seats(&HoldSeats { show, owner: a, seats: ids(&[1]) }).await })
    };
    locked.await.expect("A takes the lock");
    // The lock expires by the Redis server's clock, which no test controls.
    let mut lapsed = false;
    for _ in 0..500 {
        if !lock_exists(&prefix, show, 1).await {
            lapsed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(lapsed, "A's lock outlived its TTL");
    let hb = inv.hold_seats(&HoldSeats { show, owner: b, seats: ids(&[1]) }).await.expect("B holds");
    let b_order = OrderId::new();
    let b_sale = inv.sell(&sell_req(&hb, b_order)).await.expect("B buys");
    let before = fingerprint(&pool, show).await;
    resume.send(()).expect("A resumes");
    let late = a_hold.await.expect("A");
    assert!(taken(&late, &[1]), "the database refuses A: {late:?}");
    assert_eq!(fingerprint(&pool, show).await, before, "A's late hold changed nothing");
    assert_eq!(seat_row(&pool, show, 1).await, (2, Some(b.0), Some(b_order.0), b_sale.version as i64));

    // Round 2: A holds seat 2 (version 1), then stalls past its hold's TTL
    // before paying; B holds the seat (version 2) and buys it (version 3).
    let ha = inv.hold_seats(&HoldSeats { show, owner: a, seats: ids(&[2]) }).await.expect("A holds");
    clock.advance(chrono::Duration::milliseconds(spec.policy.ttl_millis()));
    let hb = inv.hold_seats(&HoldSeats { show, owner: b, seats: ids(&[2]) }).await.expect("B holds after expiry");
    let b_order = OrderId::new();
    let b_sale = inv.sell(&sell_req(&hb, b_order)).await.expect("B buys");
    assert_eq!((ha.token.version, hb.token.version, b_sale.version), (1, 2, 3), "versions fence A out");

    let before = fingerprint(&pool, show).await;
    let a_order = OrderId::new();
    for e in [
        inv.sell(&sell_req(&ha, a_order)).await.map(|_| ()),
        inv.extend(&action(&ha)).await.map(|_| ()),
        inv.release(&action(&ha)).await,
    ] {
        assert!(matches!(e, Err(InventoryError::HoldExpired { .. })), "{e:?}");
    }
    assert_eq!(fingerprint(&pool, show).await, before, "A's stale writes changed nothing");
    assert_eq!(seat_row(&pool, show, 2).await, (2, Some(b.0), Some(b_order.0), 3));
    let h = histories(&pool, show).await;
    assert_eq!((&h[&1], &h[&2]), (&vec![HELD, SOLD], &vec![HELD, HELD, SOLD]), "B's hold superseded A's lapsed one");
    let s = inv.snapshot(show).await.expect("snapshot");
    assert_eq!((s.seats[1].status, s.seats[2].status, s.totals().sold), (SeatStatus::Sold, SeatStatus::Sold, 2));
}

/// Buyers race holds, releases and sales through the composition while the
/// lock's redis-server is killed (SIGKILL) and later restarted empty:
/// meanwhile requests go to the database without locks; afterwards the
/// locks work again. Every seat is sold once, and the snapshot, the seat
/// rows and the change history agree with the sales.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lock_store_killed_and_restarted_mid_run_sells_no_seat_twice() {
    const SEATS: u32 = 300;
    let mut server = RedisServer::start().await;
    let db = common::create_database().await;
    let clock = ManualClock::fixed();
    let lock =
        RedisSeatLock::builder(&server.url()).expect("url").prefix(common::test_prefix()).build().await.expect("lock");
    let inv: Arc<Layered<CountingLock<RedisSeatLock>>> =
        Arc::new(layered_with(CountingLock::new(lock), &db, 8, &clock).await);
    let pool = inv.inner().pool().clone();
    let policy = HoldPolicy { max_held_per_owner: None, ..test_policy() };
    let spec = create(&*inv, 1, 1, SEATS, 0, policy).await;
    let show = spec.id;
    let buyers = BuyOut::new(show, SEATS);
    let race = tokio::spawn(buyers.clone().run(inv.clone()));
    let within = Duration::from_secs(20);
    buyers.wait_for(SEATS / 4, within).await;
    let at_kill = inv.lock().counts();
    server.kill();
    let down_at = buyers.sold.load(Ordering::SeqCst);
    buyers.wait_for(SEATS / 2, within).await;
    let up_at = buyers.sold.load(Ordering::SeqCst);
    let at_restart = inv.lock().counts();
    server.restart().await;
    let sales = race.await.expect("buyers");
    let at_end = inv.lock().counts();

    assert!(at_kill.locked > 0, "the locks worked before the kill: {at_kill:?}");
    assert!(at_restart.failed > at_kill.failed, "lock requests failed while the server was down: {at_restart:?}");
    assert!(up_at > down_at, "sales went on while the lock store was down ({down_at} -> {up_at})");
    assert!(
        at_end.locked > at_restart.locked,
        "the locks worked again after the restart: {at_restart:?} -> {at_end:?}"
    );

    buyers.assert_sold_once(&sales);
    for (seat, sale) in &sales {
        let (state, owner, order, version) = seat_row(&pool, show, *seat).await;
        assert_eq!((state, owner, order), (2, Some(sale.owner.0), Some(sale.order.0)), "seat {seat}");
        assert_eq!(version, sale.version as i64, "seat {seat}: nothing wrote after the sale");
    }
    assert_never_held_twice(&histories(&pool, show).await);
    let snap = inv.snapshot(show).await.expect("snapshot");
    assert_eq!(snap.totals().sold, SEATS);
    for (seat, sale) in &sales {
        assert_eq!(snap.seats[*seat as usize].version, sale.version, "seat {seat}");
    }
}
