//! Blacklist entries in `booking.blacklist`, one row per field.

use super::backend;
use async_trait::async_trait;
use booking_core::TimeSource;
use booking_core::clock::millis_to_datetime;
use booking_core::limits::{
    BlacklistEntry, BlacklistRecord, BlacklistStore, LimitError, RequestIdentity, check_reason, expiry_millis,
    first_match,
};
use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};

/// The blacklist on PostgreSQL. A check is one primary-key lookup of the
/// identity's candidate fields (`field = ANY($1)`: its account, its
/// fingerprint, every network containing its address), skipping lapsed
/// entries; an add also deletes the entries lapsed by then.
#[derive(Clone, Debug)]
pub struct PgBlacklist {
    pool: PgPool,
    time: TimeSource,
}

impl PgBlacklist {
    /// A blacklist on `pool` deciding (stamps and expiries) by the
    /// database clock. The schema must be migrated ([`crate::migrations`]).
    pub fn new(pool: PgPool) -> Self {
        Self::with_time_source(pool, TimeSource::Store)
    }

    /// A blacklist on `pool` deciding by `time`.
    pub fn with_time_source(pool: PgPool, time: TimeSource) -> Self {
        PgBlacklist { pool, time }
    }
}

fn record(row: &PgRow, operation: &'static str) -> Result<(String, BlacklistRecord), LimitError> {
    let field: String = row.try_get("field").map_err(backend(operation))?;
    let entry = BlacklistEntry::from_field(&field).map_err(|e| LimitError::backend(format!("{operation}: {e}")))?;
    let added_at: i64 = row.try_get("added_at").map_err(backend(operation))?;
    let expires_at: Option<i64> = row.try_get("expires_at").map_err(backend(operation))?;
    let reason = row.try_get("reason").map_err(backend(operation))?;
    let record = BlacklistRecord {
        entry,
        reason,
        added_at: millis_to_datetime(added_at),
        expires_at: expires_at.map(millis_to_datetime),
    };
    Ok((field, record))
}

/// An entry is live at `$2` (the injected time, Unix ms), or by the
/// database clock when that is NULL.
macro_rules! live {
    () => {
        "(expires_at IS NULL OR expires_at > coalesce($2::bigint, booking.clock_ms()))"
    };
}

#[async_trait]
impl BlacklistStore for PgBlacklist {
    async fn add(
        &self,
        entry: &BlacklistEntry,
        reason: &str,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<BlacklistRecord, LimitError> {
        const OP: &str = "blacklist add";
        check_reason(reason)?;
        let expires = expiry_millis(expires_at)?;
        let row = sqlx::query(
            "WITH t AS (SELECT coalesce($3::bigint, booking.clock_ms()) AS now), \
             lapsed AS (DELETE FROM booking.blacklist b USING t \
                        WHERE b.expires_at IS NOT NULL AND b.expires_at <= t.now AND b.field <> $1) \
             INSERT INTO booking.blacklist (field, reason, added_at, expires_at) \
             SELECT $1, $2, t.now, $4 FROM t \
             ON CONFLICT (field) DO UPDATE SET reason = EXCLUDED.reason, added_at = EXCLUDED.added_at, \
                                               expires_at = EXCLUDED.expires_at \
             RETURNING field, reason, added_at, expires_at",
        )
        .bind(entry.field())
        .bind(reason)
        .bind(self.time.injected_millis())
        .bind(expires)
        .fetch_one(&self.pool)
        .await
        .map_err(backend(OP))?;
        Ok(record(&row, OP)?.1)
    }

    async fn remove(&self, entry: &BlacklistEntry) -> Result<bool, LimitError> {
        let live: Option<bool> =
            sqlx::query_scalar(concat!("DELETE FROM booking.blacklist WHERE field = $1 RETURNING ", live!()))
                .bind(entry.field())
                .bind(self.time.injected_millis())
                .fetch_optional(&self.pool)
                .await
                .map_err(backend("blacklist remove"))?;
        Ok(live == Some(true))
    }

    async fn check(&self, who: &RequestIdentity) -> Result<Option<BlacklistRecord>, LimitError> {
        const OP: &str = "blacklist check";
        let candidates = BlacklistEntry::candidates(who);
        if candidates.is_empty() {
            return Ok(None);
        }
        let rows = sqlx::query(concat!(
            "SELECT field, reason, added_at, expires_at FROM booking.blacklist WHERE field = ANY($1) AND ",
            live!()
        ))
        .bind(&candidates)
        .bind(self.time.injected_millis())
        .fetch_all(&self.pool)
        .await
        .map_err(backend(OP))?;
        let found = rows.iter().map(|r| record(r, OP)).collect::<Result<Vec<_>, _>>()?;
        Ok(first_match(&candidates, found))
    }

    async fn list(&self, after: Option<&BlacklistEntry>, limit: usize) -> Result<Vec<BlacklistRecord>, LimitError> {
        const OP: &str = "blacklist list";
        let rows = sqlx::query(concat!(
            "SELECT field, reason, added_at, expires_at FROM booking.blacklist \
             WHERE ($1::text IS NULL OR field > $1) AND ",
            live!(),
            " ORDER BY field LIMIT $3"
        ))
        .bind(after.map(BlacklistEntry::field))
        .bind(self.time.injected_millis())
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(backend(OP))?;
        rows.iter().map(|r| record(r, OP).map(|(_, rec)| rec)).collect()
    }
}
