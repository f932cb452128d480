//! Shared test setup: one fresh, migrated PostgreSQL database per test,
//! created through an admin connection to `DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`) and dropped by a later run once
//! the process that made it has exited; one random key prefix per test on the
//! Redis server at `REDIS_URL` (default `redis://127.0.0.1:6379`).
//!
//! The databases come from booking-postgres's `testkit`.

#![allow(dead_code, unused_imports)]

use booking_core::layered::{LockedInventory, SeatLock};
use booking_core::testkit::Fixture;
use booking_core::{ManualClock, TimeSource};
use booking_postgres::PgInventory;
pub use booking_postgres::testkit::{create_database, options, pool};
use booking_redis::RedisSeatLock;
use std::time::Duration;

/// The composition under test.
pub type Layered<L = RedisSeatLock> = LockedInventory<L, PgInventory>;

/// How long a seat lock lives unless released (it is released as soon as
/// the hold is decided).
pub const LOCK_TTL: Duration = Duration::from_secs(2);

/// The Redis server the locks live on.
pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A key prefix no other test uses.
pub fn test_prefix() -> String {
    format!("booking-layered-tests:{}:", uuid::Uuid::now_v7().simple())
}

/// A Redis seat lock under a fresh key prefix on the server at `url`,
/// deciding expiry by `clock`; returns it with its prefix.
pub async fn redis_lock(url: &str, clock: &ManualClock) -> (RedisSeatLock, String) {
    let prefix = test_prefix();
    let lock = RedisSeatLock::builder(url)
        .expect("REDIS_URL")
        .prefix(prefix.clone())
        .time_source(TimeSource::Injected(clock.shared()))
        .build()
        .await
        .expect("lock");
    (lock, prefix)
}

/// `lock` in front of a PostgreSQL inventory on database `db` (a pool of at
/// most `max` connections) that decides expiry by `clock`.
pub async fn layered_with<L: SeatLock>(lock: L, db: &str, max: u32, clock: &ManualClock) -> Layered<L> {
    LockedInventory::new(lock, PgInventory::with_clock(pool(db, max).await, clock.shared()), LOCK_TTL)
}

/// A conformance fixture: the composition on a fresh database and a fresh
/// key prefix, with the manual clock the database inventory reads.
pub async fn fixture() -> Fixture<Layered> {
    let db = create_database().await;
    let clock = ManualClock::fixed();
    let (lock, _) = redis_lock(&redis_url(), &clock).await;
    Fixture::new(layered_with(lock, &db, 8, &clock).await, clock)
}
