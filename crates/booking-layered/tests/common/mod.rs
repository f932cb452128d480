//! Shared test setup: one fresh, migrated PostgreSQL database per test,
//! created through an admin connection to `DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`) and dropped by a later run once
//! the process that made it has exited; one random key prefix per test on the
//! Redis server at `REDIS_URL` (default `redis://127.0.0.1:6379`).
//!
//! The database setup is booking-postgres's own (`tests/common`), with the
//! same `booking_t_<pid>_<n>` names, so either crate's tests clean up the
//! other's leftovers.

#![allow(dead_code)]

use booking_core::ManualClock;
use booking_core::layered::{LockedInventory, SeatLock};
use booking_core::testkit::Fixture;
use booking_postgres::PgInventory;
use booking_redis::RedisSeatLock;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, Executor, PgConnection, PgPool, Row};
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio::sync::OnceCell;

/// The composition under test.
pub type Layered<L = RedisSeatLock> = LockedInventory<L, PgInventory>;

/// How long a seat lock lives unless released (it is released as soon as
/// the hold is decided).
pub const LOCK_TTL: Duration = Duration::from_secs(2);

/// The admin URL of the PostgreSQL server.
pub fn database_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// The Redis server the locks live on.
pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A key prefix no other test uses.
pub fn test_prefix() -> String {
    format!("booking-layered-test:{}:", uuid::Uuid::now_v7().simple())
}

/// Connect options for database `name` on the admin URL's server.
pub fn options(name: &str) -> PgConnectOptions {
    PgConnectOptions::from_str(&database_url()).expect("DATABASE_URL").database(name)
}

static CLEANED: OnceCell<()> = OnceCell::const_new();
static NEXT: AtomicU32 = AtomicU32::new(0);

/// Drops test databases left by processes that have exited.
async fn clean_stale(admin: &mut PgConnection) {
    let rows = sqlx::query("SELECT datname FROM pg_database WHERE datname LIKE 'booking\\_t\\_%'")
        .fetch_all(&mut *admin)
        .await
        .expect("list databases");
    for row in rows {
        let name: String = row.get(0);
        let pid = name.split('_').nth(2).and_then(|p| p.parse::<u32>().ok());
        let alive = pid.is_some_and(|p| std::path::Path::new(&format!("/proc/{p}")).exists());
        if pid.is_some() && !alive && std::path::Path::new("/proc/self").exists() {
            let _ =
                admin.execute(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))).await;
        }
    }
}

/// Creates a fresh, migrated database and returns its name.
pub async fn create_database() -> String {
    let mut admin = PgConnection::connect(&database_url())
        .await
        .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {}: {e}", database_url()));
    CLEANED.get_or_init(|| clean_stale(&mut admin)).await;
    let name = format!("booking_t_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst));
    admin.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\""))).await.expect("create database");
    let _ = admin.close().await;
    let pool = pool(&name, 2).await;
    booking_postgres::migrations().run(&pool).await.expect("migrate");
    pool.close().await;
    name
}

/// A pool of at most `max` connections on database `name`.
pub async fn pool(name: &str, max: u32) -> PgPool {
    booking_postgres::pool_options().max_connections(max).connect_with(options(name)).await.expect("connect")
}

/// A Redis seat lock under a fresh key prefix on the server at `url`;
/// returns it with its prefix.
pub async fn redis_lock(url: &str) -> (RedisSeatLock, String) {
    let prefix = test_prefix();
    let lock = RedisSeatLock::builder(url).expect("REDIS_URL").prefix(prefix.clone()).build().await.expect("lock");
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
    let (lock, _) = redis_lock(&redis_url()).await;
    Fixture::new(layered_with(lock, &db, 8, &clock).await, clock)
}
