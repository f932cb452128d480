//! Test databases: one fresh, migrated database per test (the crate's
//! `testkit`), and the inventories the tests run on them.

#![allow(dead_code, unused_imports)]

use booking_core::ManualClock;
use booking_core::testkit::Fixture;
use booking_postgres::PgInventory;
pub use booking_postgres::testkit::{create_database, create_empty_database, options, pool};

/// A fresh database with an inventory on a manual clock, sending every
/// request as its own call (coalescing off: the coalesced fixture tests the
/// batches).
pub async fn fixture() -> Fixture<PgInventory> {
    let name = create_database().await;
    let clock = ManualClock::fixed();
    Fixture::new(uncoalesced(pool(&name, 8).await, &clock), clock)
}

/// An inventory on `pool` deciding expiry by `clock`, with coalescing off.
pub fn uncoalesced(pool: sqlx::PgPool, clock: &ManualClock) -> PgInventory {
    PgInventory::builder(pool)
        .time_source(booking_core::TimeSource::Injected(clock.shared()))
        .without_coalescing()
        .build()
}

/// As [`fixture`], with request coalescing on.
pub async fn fixture_coalesced() -> Fixture<PgInventory> {
    let name = create_database().await;
    let clock = ManualClock::fixed();
    let inv = PgInventory::builder(pool(&name, 8).await)
        .time_source(booking_core::TimeSource::Injected(clock.shared()))
        .coalesce(booking_core::Coalescing { max_batch: 64, max_in_flight: 4 })
        .build();
    Fixture::new(inv, clock)
}

/// A connection to database `name`.
pub async fn connect(name: &str) -> sqlx::PgConnection {
    use sqlx::Connection;
    sqlx::PgConnection::connect_with(&options(name)).await.expect("connect")
}

/// Waits (polling, up to 10 s) until `cond` holds: for something another
/// connection or task does, not for time to pass.
pub async fn until<F: AsyncFnMut() -> bool>(what: &str, mut cond: F) {
    for _ in 0..2_000 {
        if cond().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    panic!("{what}: not reached in 10 s");
}

/// How many backends of database `db` wait on a lock.
pub async fn lock_waiters(admin: &mut sqlx::PgConnection, db: &str) -> i64 {
    use sqlx::Row;
    sqlx::query("SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'")
        .bind(db)
        .fetch_one(&mut *admin)
        .await
        .expect("pg_stat_activity")
        .get(0)
}

/// Makes `booking.clock_ms()` (the database clock the inventory reads when
/// no clock is injected) read a value this test sets, in this test's own
/// database, so that a test moves the database's time without sleeping.
/// Returns the clock's starting time (Unix ms).
pub async fn settable_database_clock(admin: &mut sqlx::PgConnection) -> i64 {
    use sqlx::Executor;
    let start = 1_767_225_600_000i64;
    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "CREATE TABLE public.test_clock (ms bigint NOT NULL); \
             INSERT INTO public.test_clock VALUES ({start}); \
             CREATE OR REPLACE FUNCTION booking.clock_ms() RETURNS bigint LANGUAGE sql VOLATILE AS \
             $$ SELECT ms FROM public.test_clock $$"
        )))
        .await
        .expect("settable clock");
    start
}

/// Moves the clock of [`settable_database_clock`] to `ms`.
pub async fn set_database_clock(admin: &mut sqlx::PgConnection, ms: i64) {
    sqlx::query("UPDATE public.test_clock SET ms = $1").bind(ms).execute(&mut *admin).await.expect("set clock");
}
