//! Throwaway test databases (feature `testkit`, not API-stable): one fresh,
//! migrated database per test on the server at `DATABASE_URL`, so that
//! tests run in parallel without seeing each other's rows.
//!
//! Databases are named `booking_t_<pid>_<n>`. They are not dropped when a
//! test ends (a failed test's rows stay there to look at); the first
//! database a process creates drops those of processes that have exited.
//!
//! Every function panics when the server cannot be reached or refuses: it
//! is meant for tests.

use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, Executor, PgConnection, PgPool, Row};
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use tokio::sync::OnceCell;

/// The server's admin URL: `DATABASE_URL`, by default
/// `postgres://postgres@127.0.0.1:5432/test`.
pub fn database_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// Connect options for database `name` on the admin URL's server.
///
/// Panics on a malformed `DATABASE_URL`.
pub fn options(name: &str) -> PgConnectOptions {
    match PgConnectOptions::from_str(&database_url()) {
        Ok(options) => options.database(name),
        Err(e) => panic!("DATABASE_URL {}: {e}", database_url()),
    }
}

static CLEANED: OnceCell<()> = OnceCell::const_new();
static NEXT: AtomicU32 = AtomicU32::new(0);

/// Drops test databases left by processes that have exited.
async fn clean_stale(admin: &mut PgConnection) {
    let rows = match sqlx::query("SELECT datname FROM pg_database WHERE datname LIKE 'booking\\_t\\_%'")
        .fetch_all(&mut *admin)
        .await
    {
        Ok(rows) => rows,
        Err(e) => panic!("list test databases: {e}"),
    };
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

/// Creates a fresh database, runs [`migrations`](crate::migrations) on it
/// and returns its name.
///
/// Panics when the server cannot be reached or refuses.
pub async fn create_database() -> String {
    let mut admin = match PgConnection::connect(&database_url()).await {
        Ok(admin) => admin,
        Err(e) => panic!("cannot reach PostgreSQL at {}: {e}", database_url()),
    };
    CLEANED.get_or_init(|| clean_stale(&mut admin)).await;
    let name = format!("booking_t_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst));
    if let Err(e) = admin.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\""))).await {
        panic!("create database {name}: {e}");
    }
    let _ = admin.close().await;
    let pool = pool(&name, 2).await;
    if let Err(e) = crate::migrations().run(&pool).await {
        panic!("migrate {name}: {e}");
    }
    pool.close().await;
    name
}

/// A pool of at most `max` connections on database `name`, with the
/// library's [`pool_options`](crate::pool_options).
///
/// Panics when the database cannot be reached.
pub async fn pool(name: &str, max: u32) -> PgPool {
    match crate::pool_options().max_connections(max).connect_with(options(name)).await {
        Ok(pool) => pool,
        Err(e) => panic!("connect to database {name}: {e}"),
    }
}
