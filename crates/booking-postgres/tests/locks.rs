//! Requests that wait for row locks decide by the time they got them, and
//! a coalesced batch decides its requests in order of arrival.
//!
//! The database clock (`booking.clock_ms()`) is made settable in each
//! test's own database (see `common::settable_database_clock`): a request
//! is left waiting behind a row lock another connection holds, the clock is
//! moved past a hold's expiry, the lock is let go, and the answer must
//! follow the time after the wait.

mod common;

use booking_core::testkit::{create, ids, test_policy};
use booking_core::{
    HoldAction, HoldId, HoldPool, HoldSeats, InventoryError, OrderId, OwnerId, PaymentRef, PoolId, SeatInventory,
    SeatStatus, Sell,
};
use booking_postgres::PgInventory;
use sqlx::{Executor, PgConnection, Row};
use std::future::Future;

/// An inventory on the (settable) database clock, its admin connection and
/// the clock's time.
async fn setup(db: &str) -> (PgInventory, PgConnection, i64) {
    let mut admin = common::connect(db).await;
    let start = common::settable_database_clock(&mut admin).await;
    (PgInventory::new(common::pool(db, 4).await), admin, start)
}

/// Locks `sql`'s rows from a connection of its own and returns it, its
/// transaction open.
async fn lock(db: &str, sql: &str, show: uuid::Uuid) -> PgConnection {
    let mut locker = common::connect(db).await;
    locker.execute("BEGIN").await.expect("begin");
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned())).bind(show).fetch_all(&mut locker).await.expect("lock");
    locker
}

/// Runs `request` while `locker` holds its row locks: once the request
/// waits for them, the clock moves to `later` and the locker's transaction
/// ends (`end`: COMMIT or ROLLBACK).
async fn after_a_wait<T: Send + 'static>(
    db: &str,
    admin: &mut PgConnection,
    (mut locker, end): (PgConnection, &str),
    later: i64,
    request: impl Future<Output = T> + Send + 'static,
) -> T {
    let task = tokio::spawn(request);
    common::until("the request waits for the lock", async || common::lock_waiters(admin, db).await > 0).await;
    common::set_database_clock(admin, later).await;
    locker.execute(sqlx::AssertSqlSafe(end.to_owned())).await.expect("end the locker");
    task.await.expect("request task")
}

const SEAT_0: &str = "SELECT 1 FROM booking.seats WHERE show = $1 AND seat = 0 FOR UPDATE";

/// Extend, release and sell of a hold that expired while they waited for
/// its rows: `HoldExpired`, and nothing changed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seat_requests_that_waited_see_the_hold_expire() {
    let db = common::create_database().await;
    let (inv, mut admin, start) = setup(&db).await;
    let spec = create(&inv, 1, 1, 4, 0, test_policy()).await;
    let ttl = spec.policy.ttl_millis();
    for (round, op) in ["extend", "release", "sell"].into_iter().enumerate() {
        let now = start + round as i64 * 10 * ttl;
        common::set_database_clock(&mut admin, now).await;
        let owner = OwnerId::new();
        let h = inv.hold_seats(&HoldSeats { show: spec.id, owner, seats: ids(&[0]) }).await.expect("hold");
        let locker = lock(&db, SEAT_0, spec.id.0).await;
        let (inv2, token) = (inv.clone(), h.token.clone());
        let got = after_a_wait(&db, &mut admin, (locker, "ROLLBACK"), now + ttl + 1, async move {
            let action = HoldAction { owner, token: token.clone() };
            match op {
                "extend" => inv2.extend(&action).await.map(|_| ()),
                "release" => inv2.release(&action).await,
                _ => inv2
                    .sell(&Sell { owner, token, order: OrderId::new(), payment: PaymentRef("cap".into()), payer: None })
                    .await
                    .map(|_| ()),
            }
        })
        .await;
        assert!(
            matches!(got, Err(InventoryError::HoldExpired { hold }) if hold == h.token.hold),
            "{op} after the hold expired during the wait: {got:?}"
        );
        let snap = inv.snapshot(spec.id).await.expect("snapshot");
        assert_eq!(
            (snap.seats[0].status, snap.seats[0].version),
            (SeatStatus::Available, h.token.version),
            "{op} changed nothing (the expired hold shows as available)"
        );
    }
}

/// A block that waited for a seat while another transaction held it, and
/// got the row once that hold had expired, blocks it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_that_waited_sees_the_hold_expire() {
    let db = common::create_database().await;
    let (inv, mut admin, start) = setup(&db).await;
    let spec = create(&inv, 1, 1, 4, 0, test_policy()).await;
    // A hold of seat 0 (on the database clock), not committed yet.
    let mut locker = common::connect(&db).await;
    locker.execute("BEGIN").await.expect("begin");
    let answer: String =
        sqlx::query("SELECT coalesce(refusal, follow_up, 'DONE') FROM booking.hold_seats($1, $2, $3, ARRAY[0], NULL)")
            .bind(spec.id.0)
            .bind(OwnerId::new().0)
            .bind(HoldId::new().0)
            .fetch_one(&mut locker)
            .await
            .expect("hold")
            .get(0);
    assert_eq!(answer, "DONE");
    let (inv2, show) = (inv.clone(), spec.id);
    let later = start + spec.policy.ttl_millis() + 1;
    let got =
        after_a_wait(&db, &mut admin, (locker, "COMMIT"), later, async move { inv2.block(show, &ids(&[0])).await })
            .await;
    assert!(got.is_ok(), "the hold had expired when the block got the row: {got:?}");
    assert_eq!(inv.snapshot(spec.id).await.expect("snapshot").seats[0].status, SeatStatus::Blocked);
}

/// A pool hold that waited for the pool's row takes the units of a hold
/// that expired meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_hold_that_waited_sees_a_hold_expire() {
    let db = common::create_database().await;
    let (inv, mut admin, start) = setup(&db).await;
    let spec = create(&inv, 1, 1, 1, 2, test_policy()).await;
    let pool = |quantity| HoldPool { show: spec.id, owner: OwnerId::new(), pool: PoolId(0), quantity };
    inv.hold_pool(&pool(2)).await.expect("the whole pool");
    let locker = lock(&db, "SELECT 1 FROM booking.pools WHERE show = $1 FOR UPDATE", spec.id.0).await;
    let (inv2, req) = (inv.clone(), pool(1));
    let later = start + spec.policy.ttl_millis() + 1;
    let got =
        after_a_wait(&db, &mut admin, (locker, "ROLLBACK"), later, async move { inv2.hold_pool(&req).await }).await;
    assert!(got.is_ok(), "the first hold had expired when the second got the pool: {got:?}");
}

/// The batch functions read the clock once the rows are locked: a batch
/// release of a hold that expired during the wait releases nothing, and a
/// batch hold takes a seat whose hold expired during the wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_read_the_clock_after_locking() {
    let db = common::create_database().await;
    let (inv, mut admin, start) = setup(&db).await;
    let spec = create(&inv, 1, 1, 4, 0, test_policy()).await;
    let ttl = spec.policy.ttl_millis();
    let show = spec.id.0;
    let owner = OwnerId::new();
    let h = inv.hold_seats(&HoldSeats { show: spec.id, owner, seats: ids(&[0]) }).await.expect("hold");

    let pool = common::pool(&db, 2).await;
    let release = {
        let pool = pool.clone();
        let (hold, version) = (h.token.hold.0, h.token.version as i64);
        async move {
            sqlx::query("SELECT coalesce(refusal, follow_up, 'DONE') FROM booking.release_seats_batch($1, $2, $3, $4, $5, $6, $7)")
                .bind(vec![show])
                .bind(vec![owner.0])
                .bind(vec![hold])
                .bind(vec![version])
                .bind(vec![1i32])
                .bind(vec![0i32])
                .bind(vec![None::<i64>])
                .fetch_one(&pool)
                .await
                .expect("release batch")
                .get::<String, _>(0)
        }
    };
    let locker = lock(&db, SEAT_0, show).await;
    let code = after_a_wait(&db, &mut admin, (locker, "ROLLBACK"), start + ttl + 1, release).await;
    assert_eq!(code, "READ_SEATS", "expired during the wait: not released");

    let locker = lock(&db, SEAT_0, show).await;
    common::set_database_clock(&mut admin, start + ttl).await;
    let code = after_a_wait(&db, &mut admin, (locker, "ROLLBACK"), start + ttl + 1, hold_seat_0(pool, show)).await;
    assert_eq!(code, "DONE", "the hold on seat 0 had expired when the batch got the row");
}

/// A coalesced batch of one request for seat 0, answering its refusal or
/// follow-up code, or `DONE`.
async fn hold_seat_0(pool: sqlx::PgPool, show: uuid::Uuid) -> String {
    sqlx::query("SELECT coalesce(refusal, follow_up, 'DONE') FROM booking.hold_seats_batch($1, $2, $3, $4, $5, $6)")
        .bind(vec![show])
        .bind(vec![OwnerId::new().0])
        .bind(vec![HoldId::new().0])
        .bind(vec![1i32])
        .bind(vec![0i32])
        .bind(vec![None::<i64>])
        .fetch_one(&pool)
        .await
        .expect("hold batch")
        .get::<String, _>(0)
}

/// A batch of one-seat requests is decided by one `UPDATE`, which reads
/// the clock as it meets each row: a row that changed while the batch
/// waited for it is decided by the clock after the wait. Here a hold that
/// had just expired is moved one millisecond on by the locker, and that
/// too has passed when the batch gets the row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_decides_a_row_changed_during_its_wait_by_the_clock_after_it() {
    let db = common::create_database().await;
    let (inv, mut admin, start) = setup(&db).await;
    let spec = create(&inv, 1, 1, 4, 0, test_policy()).await;
    let (ttl, show) = (spec.policy.ttl_millis(), spec.id.0);
    let h = inv.hold_seats(&HoldSeats { show: spec.id, owner: OwnerId::new(), seats: ids(&[0]) }).await.expect("hold");
    assert_eq!(h.held_until.timestamp_millis(), start + ttl, "held on the database clock");
    common::set_database_clock(&mut admin, start + ttl).await;
    let moved = "UPDATE booking.seats SET held_until = held_until + 1 WHERE show = $1 AND seat = 0 RETURNING 1";
    let locker = lock(&db, moved, show).await;
    let pool = common::pool(&db, 2).await;
    let code = after_a_wait(&db, &mut admin, (locker, "COMMIT"), start + ttl + 1, hold_seat_0(pool, show)).await;
    assert_eq!(code, "DONE", "the moved hold had expired when the batch got the row");
}

/// Coalesced holds queued while a batch is in flight are decided in the
/// order they arrived: a request for seat 5 that came first gets it, though
/// a later request for seats 1 and 5 starts with a lower seat.
#[test]
fn a_batch_decides_in_order_of_arrival() {
    // One thread: spawned tasks run, up to their first wait, in the order
    // they were spawned, so the two holds are queued in that order.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let db = common::create_database().await;
        let clock = booking_core::ManualClock::fixed();
        let inv = PgInventory::builder(common::pool(&db, 4).await)
            .time_source(booking_core::TimeSource::Injected(clock.shared()))
            .coalesce(booking_core::Coalescing { max_batch: 64, max_in_flight: 2 })
            .build();
        let spec = create(&inv, 1, 1, 10, 0, test_policy()).await;
        let show = spec.id;
        let hold = |seats: &[u32]| {
            let (inv, seats) = (inv.clone(), ids(seats));
            tokio::spawn(async move { inv.hold_seats(&HoldSeats { show, owner: OwnerId::new(), seats }).await })
        };
        // Seats 8 and 9 locked elsewhere: holds of 9 and of 8 take the two
        // call slots (`max_in_flight`), go straight to the database and
        // wait. Holds coming now are queued and go together as one batch
        // when a call returns.
        let mut admin = common::connect(&db).await;
        let locker =
            lock(&db, "SELECT 1 FROM booking.seats WHERE show = $1 AND seat IN (8, 9) FOR UPDATE", show.0).await;
        let direct = hold(&[9]);
        common::until("the direct hold waits", async || common::lock_waiters(&mut admin, &db).await == 1).await;
        let batched = hold(&[8]);
        common::until("the second call waits", async || common::lock_waiters(&mut admin, &db).await == 2).await;
        let first = hold(&[5]);
        let second = hold(&[1, 5]);
        tokio::task::yield_now().await;
        let mut locker = locker;
        locker.execute("ROLLBACK").await.expect("let go");
        assert!(direct.await.expect("task").is_ok());
        assert!(batched.await.expect("task").is_ok());
        let first = first.await.expect("task");
        let second = second.await.expect("task");
        assert!(first.is_ok(), "the first to arrive gets seat 5: {first:?}");
        assert!(
            matches!(&second, Err(InventoryError::SeatsTaken { seats }) if *seats == ids(&[5])),
            "the second finds seat 5 taken: {second:?}"
        );
    });
}
