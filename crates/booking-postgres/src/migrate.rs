//! The library's migrations and their history table.
//!
//! The library keeps its migration history in `booking._migrations`, apart
//! from the host application's `_sqlx_migrations`, so that the host's sqlx
//! migrator and the library's run in one database, in either order, without
//! either seeing the other's versions.
//!
//! Databases migrated by earlier versions of this crate have the library's
//! rows in `_sqlx_migrations`. [`migrate`] adopts them: it moves the rows
//! whose version and checksum are the library's into `booking._migrations`
//! before running, in one transaction holding sqlx's migration lock, so a
//! host migrator running at the same time waits and then sees only its own.

use sqlx::migrate::{MigrateError, Migrator};
use sqlx::{Connection, PgPool};

/// The table that holds the library's migration history.
pub const MIGRATIONS_TABLE: &str = "booking._migrations";

/// The migrations that create and update the inventory's schema
/// (`booking.*` tables and functions), with their history kept in
/// [`MIGRATIONS_TABLE`] rather than the host's `_sqlx_migrations`.
///
/// A host that runs its own sqlx migrations runs both, in either order; each
/// migrator sees only its own history:
///
/// ```no_run
/// # async fn f(pool: sqlx::PgPool) -> Result<(), sqlx::migrate::MigrateError> {
/// booking_postgres::migrations().run(&pool).await?;
/// // sqlx::migrate!("./migrations").run(&pool).await?; // the host's own
/// # Ok(()) }
/// ```
///
/// On a database migrated by an earlier version of this crate (the
/// library's rows in `_sqlx_migrations`), run [`migrate`] instead, once:
/// it adopts those rows first. [`PgInventory::connect`](crate::PgInventory::connect)
/// does so.
pub fn migrations() -> Migrator {
    let mut migrator = sqlx::migrate!("./migrations");
    migrator.create_schema("booking");
    migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
    migrator
}

/// Adopts the library's rows left in `_sqlx_migrations` by earlier versions
/// of this crate (see [`migrations`]), then runs [`migrations`].
pub async fn migrate(pool: &PgPool) -> Result<(), MigrateError> {
    let migrator = migrations();
    adopt_legacy_history(pool, &migrator).await?;
    migrator.run(pool).await
}

/// Moves the rows of `_sqlx_migrations` whose version and checksum are one
/// of `migrator`'s into [`MIGRATIONS_TABLE`]; returns how many. Nothing to
/// do (0) when `_sqlx_migrations` does not exist or holds none of them.
pub async fn adopt_legacy_history(pool: &PgPool, migrator: &Migrator) -> Result<u64, MigrateError> {
    let versions: Vec<i64> = migrator.iter().map(|m| m.version).collect();
    let checksums: Vec<Vec<u8>> = migrator.iter().map(|m| m.checksum.to_vec()).collect();
    let mut conn = pool.acquire().await?;
    let mut tx = conn.begin().await?;
    // The same lock sqlx's migrators take, so that a migrator running now
    // sees the history either before or after the move.
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(sqlx_lock_id(&sqlx::query_scalar::<_, String>("SELECT current_database()").fetch_one(&mut *tx).await?))
        .execute(&mut *tx)
        .await?;
    let legacy: Option<String> =
        sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations')::text").fetch_one(&mut *tx).await?;
    let Some(legacy) = legacy else {
        return Ok(0);
    };
    sqlx::query("CREATE SCHEMA IF NOT EXISTS booking").execute(&mut *tx).await?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS booking._migrations (
            version BIGINT PRIMARY KEY,
            description TEXT NOT NULL,
            installed_on TIMESTAMPTZ NOT NULL DEFAULT now(),
            success BOOLEAN NOT NULL,
            checksum BYTEA NOT NULL,
            execution_time BIGINT NOT NULL
        )",
    )
    .execute(&mut *tx)
    .await?;
    let moved = sqlx::query(sqlx::AssertSqlSafe(format!(
        "WITH ours AS (
            DELETE FROM {legacy} m
            USING unnest($1::bigint[], $2::bytea[]) AS lib(version, checksum)
            WHERE m.version = lib.version AND m.checksum = lib.checksum
            RETURNING m.version, m.description, m.installed_on, m.success, m.checksum, m.execution_time
        )
        INSERT INTO booking._migrations (version, description, installed_on, success, checksum, execution_time)
        SELECT * FROM ours
        ON CONFLICT (version) DO NOTHING"
    )))
    .bind(&versions)
    .bind(&checksums)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(moved)
}

/// The advisory lock id sqlx's PostgreSQL migrator takes for database
/// `name` (sqlx-postgres `generate_lock_id`: CRC-32/ISO-HDLC of the name
/// times 0x3d32ad9e).
fn sqlx_lock_id(name: &str) -> i64 {
    let mut crc = 0xffff_ffffu32;
    for &byte in name.as_bytes() {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    0x3d32_ad9e_i64.wrapping_mul(i64::from(!crc))
}

#[cfg(test)]
mod tests {
    #[test]
    fn lock_id_matches_sqlx() {
        // CRC-32/ISO-HDLC("123456789") = 0xcbf43926, the standard check value.
        assert_eq!(super::sqlx_lock_id("123456789"), 0x3d32_ad9e * 0xcbf4_3926_i64);
    }
}
