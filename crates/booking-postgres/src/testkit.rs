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
    let name = create_empty_database().await;
    let pool = pool(&name, 2).await;
    if let Err(e) = crate::migrations().run(&pool).await {
        panic!("migrate {name}: {e}");
    }
    pool.close().await;
    name
}

/// Creates a fresh database without running any migration (for tests of
/// the migrations themselves) and returns its name.
///
/// Panics when the server cannot be reached or refuses.
pub async fn create_empty_database() -> String {
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

/// Drops database `name` if it exists (disconnecting its sessions),
/// creates it afresh, runs [`migrations`](crate::migrations) and returns a
/// pool of at most `max` connections on it: a benchmark's own database.
///
/// Panics when the server cannot be reached or refuses.
pub async fn recreate_database(name: &str, max: u32) -> PgPool {
    let mut admin = match PgConnection::connect(&database_url()).await {
        Ok(admin) => admin,
        Err(e) => panic!("cannot reach PostgreSQL at {}: {e}", database_url()),
    };
    for sql in [format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"), format!("CREATE DATABASE \"{name}\"")] {
        if let Err(e) = admin.execute(sqlx::AssertSqlSafe(sql.clone())).await {
            panic!("{sql}: {e}");
        }
    }
    let _ = admin.close().await;
    let pool = pool(name, max).await;
    if let Err(e) = crate::migrations().run(&pool).await {
        panic!("migrate {name}: {e}");
    }
    pool
}

/// What a `pgbench` run printed.
#[derive(Debug)]
pub struct PgbenchOutput {
    /// Standard output: pgbench's report.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl PgbenchOutput {
    /// The first number after `prefix` at the start of a report line, such
    /// as `"tps = "`.
    pub fn field(&self, prefix: &str) -> Option<f64> {
        self.stdout
            .lines()
            .find_map(|l| l.strip_prefix(prefix).and_then(|r| r.split_whitespace().next()?.parse::<f64>().ok()))
    }
}

/// Runs `pgbench -n -M prepared` on database `name` of the admin URL's
/// server for `secs` seconds over `callers` connections (at most 2
/// threads), with the custom `script` and the variable `show` set to
/// `show`.
///
/// Panics when the script cannot be written or `pgbench` cannot be run
/// (install postgresql-client).
pub fn pgbench(name: &str, script: &str, show: uuid::Uuid, callers: u32, secs: u64) -> PgbenchOutput {
    static RUN: AtomicU32 = AtomicU32::new(0);
    let path = std::env::temp_dir().join(format!(
        "booking_pgbench_{}_{}.sql",
        std::process::id(),
        RUN.fetch_add(1, Ordering::SeqCst)
    ));
    if let Err(e) = std::fs::write(&path, script) {
        panic!("write {}: {e}", path.display());
    }
    let opts = options(name);
    let out = std::process::Command::new("pgbench")
        .args(["-n", "-M", "prepared", "-h", opts.get_host(), "-p", &opts.get_port().to_string()])
        .args(["-U", opts.get_username(), "-c", &callers.to_string(), "-j", &callers.min(2).to_string()])
        .args(["-T", &secs.to_string(), "-D", &format!("show={show}"), "-f"])
        .arg(&path)
        .arg(name)
        .output();
    let _ = std::fs::remove_file(&path);
    match out {
        Ok(out) => PgbenchOutput {
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        },
        Err(e) => panic!("run pgbench (install postgresql-client): {e}"),
    }
}
