//! Best available on a large show reads the rows it needs, not the show.

mod common;

use booking_core::testkit::ids;
use booking_core::{HoldBest, HoldPolicy, OwnerId, PriceCategory, SeatInventory, ShowSpec, VenueLayout};
use booking_postgres::PgInventory;
use sqlx::{PgConnection, Row};

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
/// from (about twice as many at most, as it reads more rows at a time the
/// further it goes), not all 50,000: a few rows on the empty show, and about
/// 16,000 seats once its first 100 rows (10,000 seats) are gone.
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
        let bound = [1_000, 25_000][round];
        assert!(read < bound, "round {round}: hold_best read {read} seat rows of a 50,000-seat show");
    }
}
