//! Test databases: one fresh database per test, created through an admin
//! connection to `DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`), migrated, and dropped by a
//! later run once the process that made it has exited.

#![allow(dead_code)]

use booking_core::ManualClock;
use booking_core::testkit::Fixture;
use booking_postgres::PgInventory;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, Executor, PgConnection, PgPool, Row};
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use tokio::sync::OnceCell;

/// The admin URL.
pub fn database_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
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
    let mut admin = PgConnection::connect(&database_url()).await.expect("connect to DATABASE_URL");
    CLEANED.get_or_init(|| clean_stale(&mut admin)).await;
    let name = format!("booking_t_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst));
    admin.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\""))).await.expect("create database");
    let _ = admin.close().await;
    let pool = pool(&name, 2).await;
    booking_postgres::migrations().run(&pool).await.expect("migrate");
    pool.close().await;
    name
}

/// A pool on database `name`.
pub async fn pool(name: &str, max: u32) -> PgPool {
    booking_postgres::pool_options().max_connections(max).connect_with(options(name)).await.expect("connect")
}

/// A fresh database with an inventory on a manual clock.
pub async fn fixture() -> Fixture<PgInventory> {
    let name = create_database().await;
    let clock = ManualClock::fixed();
    Fixture::new(PgInventory::with_clock(pool(&name, 8).await, clock.shared()), clock)
}

/// As [`fixture`], with request coalescing on.
pub async fn fixture_coalesced() -> Fixture<PgInventory> {
    let name = create_database().await;
    let clock = ManualClock::fixed();
    let inv = PgInventory::builder(pool(&name, 8).await).clock(clock.shared()).coalesce(64, 4).build();
    Fixture::new(inv, clock)
}
