//! Idempotency keys in `booking.idempotency_keys`: one row per
//! (principal, key), with Stripe's semantics (see
//! [`booking_core::idempotency`]).

use crate::outcome::STORE;
use async_trait::async_trait;
use booking_core::backend::failure::StoreFailure;
use booking_core::clock::millis_to_datetime;
use booking_core::idempotency::{
    Begin, Fingerprint, IdempotencyError, IdempotencyKey, IdempotencyStore, KeyRecord, LeaseId, Started, StoredResponse,
};
use booking_core::{OwnerId, TimeSource};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};
use std::time::Duration;
use uuid::Uuid;

/// The longest a duplicate is told to wait before asking again.
const MAX_RETRY_AFTER_MS: i64 = 1_000;

/// The idempotency-key store on PostgreSQL.
///
/// `begin` is one short transaction: an `INSERT ... ON CONFLICT DO
/// NOTHING` takes a new key; an existing key is locked (`SELECT ... FOR
/// UPDATE`) and decided on (replay, mismatch, in progress, or take-over of
/// a lease that ran out) with the time read after the lock. `finish` and
/// `release` are single conditional `UPDATE`s on the holder's lease id;
/// `reap` deletes by `created_at`.
#[derive(Clone, Debug)]
pub struct PgIdempotencyStore {
    pool: PgPool,
    time: TimeSource,
}

impl PgIdempotencyStore {
    /// A store on `pool` deciding leases and retention by the database
    /// clock. The schema must be migrated ([`crate::migrations`]).
    pub fn new(pool: PgPool) -> Self {
        Self::with_time_source(pool, TimeSource::Store)
    }

    /// A store on `pool` deciding leases and retention by `time` (an
    /// injected clock in tests).
    pub fn with_time_source(pool: PgPool, time: TimeSource) -> Self {
        PgIdempotencyStore { pool, time }
    }
}

/// A failure of the store in `operation`, as text naming the store and the
/// operation ("postgres, idempotency begin: ...").
fn failed(operation: &'static str, cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> IdempotencyError {
    IdempotencyError::Backend(StoreFailure::new(STORE, operation, cause.into()).to_string())
}

fn backend(operation: &'static str) -> impl FnOnce(sqlx::Error) -> IdempotencyError {
    move |e| failed(operation, e)
}

fn uuid(lease: LeaseId) -> Uuid {
    Uuid::from_u128(lease.0)
}

fn fingerprint(row: &PgRow, operation: &'static str) -> Result<Fingerprint, IdempotencyError> {
    let bytes: Vec<u8> = row.try_get("fingerprint").map_err(backend(operation))?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map(Fingerprint)
        .map_err(|_| failed(operation, "stored fingerprint is not 32 bytes"))
}

fn response(row: &PgRow, operation: &'static str) -> Result<Option<StoredResponse>, IdempotencyError> {
    let status: Option<i32> = row.try_get("status").map_err(backend(operation))?;
    let body: Option<Vec<u8>> = row.try_get("body").map_err(backend(operation))?;
    match (status, body) {
        (Some(status), Some(body)) => u16::try_from(status)
            .map(|status| Some(StoredResponse { status, body }))
            .map_err(|_| failed(operation, format!("stored status {status} out of range"))),
        _ => Ok(None),
    }
}

#[async_trait]
impl IdempotencyStore for PgIdempotencyStore {
    async fn begin(&self, req: &Begin) -> Result<Started, IdempotencyError> {
        const OP: &str = "idempotency begin";
        req.key.validate()?;
        let lease = LeaseId(Uuid::now_v7().as_u128());
        let lease_ms = super::millis(req.lease);
        let now = super::now(&self.time);
        let mut tx = self.pool.begin().await.map_err(backend(OP))?;
        let inserted = sqlx::query(
            "INSERT INTO booking.idempotency_keys \
               (principal, key, fingerprint, created_at, lease, leased_until) \
             SELECT $1, $2, $3, n.now, $4, n.now + $5 \
             FROM (SELECT coalesce($6::bigint, booking.clock_ms()) AS now) n \
             ON CONFLICT (principal, key) DO NOTHING",
        )
        .bind(req.principal.as_uuid())
        .bind(&req.key.0)
        .bind(&req.fingerprint.0[..])
        .bind(uuid(lease))
        .bind(lease_ms)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(backend(OP))?
        .rows_affected();
        if inserted == 1 {
            tx.commit().await.map_err(backend(OP))?;
            return Ok(Started::Run { resumed: false, lease });
        }
        // The row exists (a concurrent insert has committed by now): lock
        // it, then read the clock.
        let row = sqlx::query(
            "WITH k AS MATERIALIZED ( \
               SELECT fingerprint, status, body, leased_until FROM booking.idempotency_keys \
               WHERE principal = $1 AND key = $2 FOR UPDATE) \
             SELECT k.*, coalesce($3::bigint, booking.clock_ms()) AS now FROM k",
        )
        .bind(req.principal.as_uuid())
        .bind(&req.key.0)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend(OP))?;
        let Some(row) = row else {
            // Reaped between the two statements: the caller may try again.
            return Err(IdempotencyError::InProgress { retry_after: Duration::from_millis(1) });
        };
        if fingerprint(&row, OP)? != req.fingerprint {
            return Err(IdempotencyError::Mismatch);
        }
        if let Some(stored) = response(&row, OP)? {
            return Ok(Started::Replay(stored));
        }
        let db_now: i64 = row.try_get("now").map_err(backend(OP))?;
        let until: Option<i64> = row.try_get("leased_until").map_err(backend(OP))?;
        if let Some(until) = until
            && until > db_now
        {
            let left = until.saturating_sub(db_now).clamp(1, MAX_RETRY_AFTER_MS);
            return Err(IdempotencyError::InProgress { retry_after: Duration::from_millis(left as u64) });
        }
        sqlx::query(
            "UPDATE booking.idempotency_keys SET lease = $3, leased_until = $4 + $5 \
             WHERE principal = $1 AND key = $2",
        )
        .bind(req.principal.as_uuid())
        .bind(&req.key.0)
        .bind(uuid(lease))
        .bind(db_now)
        .bind(lease_ms)
        .execute(&mut *tx)
        .await
        .map_err(backend(OP))?;
        tx.commit().await.map_err(backend(OP))?;
        Ok(Started::Run { resumed: true, lease })
    }

    async fn finish(
        &self,
        principal: OwnerId,
        key: &IdempotencyKey,
        lease: LeaseId,
        response: &StoredResponse,
    ) -> Result<(), IdempotencyError> {
        let done = sqlx::query(
            "UPDATE booking.idempotency_keys SET status = $4, body = $5, leased_until = NULL \
             WHERE principal = $1 AND key = $2 AND lease = $3 AND status IS NULL",
        )
        .bind(principal.as_uuid())
        .bind(&key.0)
        .bind(uuid(lease))
        .bind(i32::from(response.status))
        .bind(&response.body)
        .execute(&self.pool)
        .await
        .map_err(backend("idempotency finish"))?
        .rows_affected();
        if done == 1 { Ok(()) } else { Err(IdempotencyError::NotHeld) }
    }

    async fn release(&self, principal: OwnerId, key: &IdempotencyKey, lease: LeaseId) -> Result<(), IdempotencyError> {
        let done = sqlx::query(
            "UPDATE booking.idempotency_keys SET leased_until = NULL \
             WHERE principal = $1 AND key = $2 AND lease = $3 AND status IS NULL",
        )
        .bind(principal.as_uuid())
        .bind(&key.0)
        .bind(uuid(lease))
        .execute(&self.pool)
        .await
        .map_err(backend("idempotency release"))?
        .rows_affected();
        if done == 1 { Ok(()) } else { Err(IdempotencyError::NotHeld) }
    }

    async fn get(&self, principal: OwnerId, key: &IdempotencyKey) -> Result<Option<KeyRecord>, IdempotencyError> {
        const OP: &str = "idempotency get";
        let row = sqlx::query(
            "SELECT fingerprint, status, body, created_at, leased_until FROM booking.idempotency_keys \
             WHERE principal = $1 AND key = $2",
        )
        .bind(principal.as_uuid())
        .bind(&key.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend(OP))?;
        let Some(row) = row else { return Ok(None) };
        let created_at: i64 = row.try_get("created_at").map_err(backend(OP))?;
        let leased_until: Option<i64> = row.try_get("leased_until").map_err(backend(OP))?;
        Ok(Some(KeyRecord {
            fingerprint: fingerprint(&row, OP)?,
            response: response(&row, OP)?,
            created_at: millis_to_datetime(created_at),
            leased_until: leased_until.map(millis_to_datetime),
        }))
    }

    async fn reap(&self, retention: Duration) -> Result<u64, IdempotencyError> {
        let reaped = sqlx::query(
            "DELETE FROM booking.idempotency_keys \
             WHERE created_at <= coalesce($1::bigint, booking.clock_ms()) - $2",
        )
        .bind(super::now(&self.time))
        .bind(super::millis(retention))
        .execute(&self.pool)
        .await
        .map_err(backend("idempotency reap"))?
        .rows_affected();
        Ok(reaped)
    }
}
