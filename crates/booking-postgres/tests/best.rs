//! Best available on PostgreSQL beyond the conformance suite: on a large
//! show it reads the rows it needs, not the show; it holds the pick the
//! show's state gives when the hold is made, and a lock on its seats given
//! back unchanged does not make it settle for worse seats.

mod common;

use booking_core::testkit::{create, ids, test_policy};
use booking_core::{HoldBest, HoldPolicy, ManualClock, OwnerId, PriceCategory, SeatInventory, ShowSpec, VenueLayout};
use booking_postgres::PgInventory;
use sqlx::{Executor, PgConnection, Row};

/// Seat rows the server has read from the `booking.seats` partitions since
/// the statistics were reset, once every other session of database `db`
/// has ended (a session hands its counts over when it ends).
async fn seat_rows_read(admin: &mut PgConnection, db: &str) -> i64 {
    common::until("the inventory's sessions ended", async || {
        let n: i64 =
            sqlx::query("SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()")
                .bind(db)
                .fetch_one(&mut *admin)
                .await
                .expect("pg_stat_activity")
                .get(0);
        n == 0
    })
    .await;
    sqlx::query(
        "SELECT coalesce(sum(seq_tup_read + coalesce(idx_tup_fetch, 0)), 0)::bigint FROM pg_stat_user_tables \
         WHERE schemaname = 'booking' AND relname LIKE 'seats\\_p%'",
    )
    .fetch_one(&mut *admin)
    .await
    .expect("pg_stat_user_tables")
    .get(0)
}

/// An inventory on its own pool; `done` closes both.
async fn inventory(db: &str) -> (PgInventory, sqlx::PgPool) {
    let pool = common::pool(db, 2).await;
    (PgInventory::new(pool.clone()), pool)
}

async fn done((inv, pool): (PgInventory, sqlx::PgPool)) {
    drop(inv);
    pool.close().await;
}

/// `hold_best` on a 50,000-seat show reads the rows up to the one it picks
/// from, not all 50,000: to pick (in chunks that double, so up to about
/// twice the rows needed) and once more to hold (the pick's region, checked
/// under locks). A few rows on the empty show; about 16,400 + 10,100 seats
/// once its first 100 rows (10,000 seats) are gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hold_best_on_a_large_show_reads_a_few_rows() {
    let db = common::create_database().await;
    let mut admin = common::connect(&db).await;
    let policy = HoldPolicy { max_held_per_owner: None, max_per_request: 100, ..HoldPolicy::default() };
    let spec = ShowSpec::new("arena", VenueLayout::grid(1, 500, 100, PriceCategory(1))).with_policy(policy);
    let show = spec.id;
    let setup = inventory(&db).await;
    setup.0.create_show(&spec).await.expect("create show");
    done(setup).await;

    for (round, taken_rows) in [0u32, 100].into_iter().enumerate() {
        if taken_rows > 0 {
            // Every seat of the first rows taken out of sale (the hold of the
            // first round stays).
            let fill = inventory(&db).await;
            let seats: Vec<u32> = (0..taken_rows * 100).filter(|s| ![49, 50].contains(s)).collect();
            fill.0.block(show, &ids(&seats)).await.expect("block the first rows");
            done(fill).await;
        }
        seat_rows_read(&mut admin, &db).await;
        sqlx::query("SELECT pg_stat_reset()").execute(&mut admin).await.expect("reset statistics");

        let best = inventory(&db).await;
        let h = best
            .0
            .hold_best(&HoldBest { show, owner: OwnerId::new(), quantity: 2, section: None, category: None })
            .await
            .expect("hold_best");
        let first = taken_rows * 100;
        assert_eq!(h.token.items, booking_core::HoldItems::Seats(ids(&[first + 49, first + 50])), "round {round}");
        done(best).await;
        let read = seat_rows_read(&mut admin, &db).await;
        let bound = [1_000, 30_000][round];
        assert!(read < bound, "round {round}: hold_best read {read} seat rows of a 50,000-seat show");
    }
}

/// A best-available pick whose seats another transaction holds locked, and
/// then lets go without changing them, still gets those seats: the lock
/// was no answer, so the pick waits for it instead of settling for worse
/// seats.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_best_pick_waits_for_a_lock_given_back() {
    let db = common::create_database().await;
    let clock = ManualClock::fixed();
    let inv = PgInventory::with_clock(common::pool(&db, 4).await, clock.shared());
    let spec = create(&inv, 1, 2, 9, 0, test_policy()).await;
    let show = spec.id;
    // The best pair of an empty show: the middle of the first row.
    let mut locker = common::connect(&db).await;
    locker.execute("BEGIN").await.expect("begin");
    sqlx::query("SELECT 1 FROM booking.seats WHERE show = $1 AND seat IN (3, 4, 5) FOR UPDATE")
        .bind(show.0)
        .fetch_all(&mut locker)
        .await
        .expect("lock");
    let task = {
        let inv = inv.clone();
        tokio::spawn(async move {
            inv.hold_best(&HoldBest { show, owner: OwnerId::new(), quantity: 2, section: None, category: None }).await
        })
    };
    let mut admin = common::connect(&db).await;
    common::until("the pick waits or answers", async || {
        task.is_finished() || common::lock_waiters(&mut admin, &db).await > 0
    })
    .await;
    locker.execute("ROLLBACK").await.expect("let go");
    let h = task.await.expect("task").expect("hold_best");
    assert_eq!(h.token.items, booking_core::HoldItems::Seats(ids(&[3, 4])), "the best seats, after the wait");
}

/// A pick made before a concurrent hold changed its row, and held after
/// it: the seats held are the pick of the row as it is when the hold is
/// made. (The middle seat of a free row of five is the best single seat;
/// once the end seat is taken, the middle one would strand its neighbour,
/// and the second seat is the best.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pick_is_held_as_the_row_is_at_the_hold() {
    let db = common::create_database().await;
    let clock = ManualClock::fixed();
    let inv = PgInventory::with_clock(common::pool(&db, 4).await, clock.shared());
    let spec = create(&inv, 1, 1, 5, 0, test_policy()).await;
    let show = spec.id;
    // Seat 2 locked elsewhere, so that the pick (made from a read that
    // takes no lock) waits to be held.
    let mut locker = common::connect(&db).await;
    locker.execute("BEGIN").await.expect("begin");
    sqlx::query("SELECT 1 FROM booking.seats WHERE show = $1 AND seat = 2 FOR UPDATE")
        .bind(show.0)
        .fetch_all(&mut locker)
        .await
        .expect("lock");
    let task = {
        let inv = inv.clone();
        tokio::spawn(async move {
            inv.hold_best(&HoldBest { show, owner: OwnerId::new(), quantity: 1, section: None, category: None }).await
        })
    };
    let mut admin = common::connect(&db).await;
    common::until("the pick waits to be held", async || common::lock_waiters(&mut admin, &db).await > 0).await;
    inv.hold_seats(&booking_core::HoldSeats { show, owner: OwnerId::new(), seats: ids(&[4]) })
        .await
        .expect("another hold takes the end seat meanwhile");
    locker.execute("ROLLBACK").await.expect("let go");
    let h = task.await.expect("task").expect("hold_best");
    assert_eq!(h.token.items, booking_core::HoldItems::Seats(ids(&[1])), "the pick of the row with seat 4 taken");
}
