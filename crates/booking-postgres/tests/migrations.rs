//! The library's migrations and a host application's sqlx migrations in
//! one database: each keeps its own history, in either order, and a
//! database migrated by earlier versions (the library's history in
//! `_sqlx_migrations`) is adopted.

mod common;

use common::{create_empty_database, pool};
use sqlx::PgPool;
use sqlx::migrate::Migrator;

fn host() -> Migrator {
    sqlx::migrate!("./tests/host_migrations")
}

/// (version, installed_on) of every row of `table`, in version order.
async fn history(pool: &PgPool, table: &str) -> Vec<(i64, String)> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT version, installed_on::text FROM {table} WHERE success ORDER BY version"
    )))
    .fetch_all(pool)
    .await
    .unwrap_or_else(|e| panic!("read {table}: {e}"))
}

fn versions(m: &Migrator) -> Vec<i64> {
    m.iter().map(|m| m.version).collect()
}

/// Runs both migrators again and checks neither applies anything.
async fn again_is_a_no_op(pool: &PgPool) {
    let (host_before, lib_before) =
        (history(pool, "_sqlx_migrations").await, history(pool, booking_postgres::MIGRATIONS_TABLE).await);
    host().run(pool).await.expect("host migrations again");
    booking_postgres::migrate(pool).await.expect("library migrations again");
    booking_postgres::migrations().run(pool).await.expect("library migrator again");
    assert_eq!(history(pool, "_sqlx_migrations").await, host_before);
    assert_eq!(history(pool, booking_postgres::MIGRATIONS_TABLE).await, lib_before);
}

async fn check_histories(pool: &PgPool) {
    let host_rows: Vec<i64> = history(pool, "_sqlx_migrations").await.into_iter().map(|r| r.0).collect();
    let lib_rows: Vec<i64> = history(pool, booking_postgres::MIGRATIONS_TABLE).await.into_iter().map(|r| r.0).collect();
    assert_eq!(host_rows, versions(&host()), "the host's history holds exactly the host's migrations");
    assert_eq!(lib_rows, versions(&booking_postgres::migrations()), "the library's history holds exactly its own");
    // Both schemas are there.
    sqlx::query("INSERT INTO host_orders (note) VALUES ('x')").execute(pool).await.expect("host table");
    sqlx::query("SELECT count(*) FROM booking.shows").fetch_one(pool).await.expect("library table");
}

#[tokio::test]
async fn host_first_then_library() {
    let pool = pool(&create_empty_database().await, 2).await;
    host().run(&pool).await.expect("host migrations");
    booking_postgres::migrations().run(&pool).await.expect("library migrations after the host's");
    check_histories(&pool).await;
    again_is_a_no_op(&pool).await;
}

#[tokio::test]
async fn library_first_then_host() {
    let pool = pool(&create_empty_database().await, 2).await;
    booking_postgres::migrations().run(&pool).await.expect("library migrations");
    host().run(&pool).await.expect("host migrations after the library's");
    check_histories(&pool).await;
    again_is_a_no_op(&pool).await;
}

/// A database migrated by an earlier version of the crate: the library's
/// rows sit in `_sqlx_migrations`. `migrate` moves them to the library's
/// table without running anything again, and the host's migrator then runs.
#[tokio::test]
async fn history_left_in_sqlx_migrations_is_adopted() {
    let pool = pool(&create_empty_database().await, 2).await;
    let mut legacy = booking_postgres::migrations();
    legacy.dangerous_set_table_name("_sqlx_migrations");
    legacy.run(&pool).await.expect("the library's migrations, recorded the old way");
    let before = history(&pool, "_sqlx_migrations").await;
    assert_eq!(before.len(), versions(&legacy).len());

    booking_postgres::migrate(&pool).await.expect("adopt and migrate");
    assert_eq!(history(&pool, booking_postgres::MIGRATIONS_TABLE).await, before, "moved as they were, not re-run");
    assert!(history(&pool, "_sqlx_migrations").await.is_empty());

    host().run(&pool).await.expect("the host's migrations after the adoption");
    check_histories(&pool).await;
    again_is_a_no_op(&pool).await;
}

/// `connect` adopts too, and an inventory works on the adopted schema.
#[tokio::test]
async fn connect_adopts_the_old_history() {
    let name = create_empty_database().await;
    let pool = pool(&name, 2).await;
    let mut legacy = booking_postgres::migrations();
    legacy.dangerous_set_table_name("_sqlx_migrations");
    legacy.run(&pool).await.expect("the library's migrations, recorded the old way");
    host().set_ignore_missing(true).run(&pool).await.expect("a host that tolerated them");

    let mut url = booking_postgres::testkit::database_url();
    let at = url.rfind('/').expect("a database in DATABASE_URL");
    url.replace_range(at + 1.., &name);
    booking_postgres::PgInventory::connect(&url).await.expect("connect adopts the history");
    host().run(&pool).await.expect("the host's strict migrator now");
    check_histories(&pool).await;
}

/// `hold_seats` has one signature, without the unused `p_skip_locked`.
#[tokio::test]
async fn hold_seats_has_no_skip_locked_parameter() {
    let pool = pool(&common::create_database().await, 2).await;
    let args: Vec<String> = sqlx::query_scalar(
        "SELECT pg_get_function_identity_arguments(p.oid) FROM pg_proc p \
         JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'booking' AND p.proname = 'hold_seats'",
    )
    .fetch_all(&pool)
    .await
    .expect("pg_proc");
    assert_eq!(args.len(), 1, "one hold_seats: {args:?}");
    assert!(!args[0].contains("skip"), "{args:?}");
}
