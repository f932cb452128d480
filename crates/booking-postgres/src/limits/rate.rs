//! GCRA state in `booking.rate_limits`, moved by `booking.gcra_acquire`.

use super::{backend, now_micros};
use async_trait::async_trait;
use booking_core::TimeSource;
use booking_core::limits::{Acquire, GcraStep, LimitError, LimitKey, RateDecision, RateLimitStore};
use sqlx::{PgPool, Row};

/// Rate limits on PostgreSQL, shared by every server on the database.
///
/// `acquire` is one statement: `booking.gcra_acquire`, an
/// `INSERT ... ON CONFLICT DO UPDATE` that runs booking-core's
/// [`gcra_step`](booking_core::limits::gcra_step) under the key's row
/// lock and returns the answer, so concurrent requests on one key are
/// decided one after the other. A refused request rewrites its row too
/// (with the TAT unchanged): the price of deciding in one statement.
/// `purge` deletes keys whose burst is full again.
#[derive(Clone, Debug)]
pub struct PgRateLimitStore {
    pool: PgPool,
    time: TimeSource,
}

impl PgRateLimitStore {
    /// A store on `pool` deciding by the database clock. The schema must
    /// be migrated ([`crate::migrations`]).
    pub fn new(pool: PgPool) -> Self {
        Self::with_time_source(pool, TimeSource::Store)
    }

    /// A store on `pool` deciding by `time` (an injected clock in tests).
    pub fn with_time_source(pool: PgPool, time: TimeSource) -> Self {
        PgRateLimitStore { pool, time }
    }
}

#[async_trait]
impl RateLimitStore for PgRateLimitStore {
    async fn acquire(&self, req: &Acquire) -> Result<RateDecision, LimitError> {
        const OP: &str = "rate limit acquire";
        let increment = req.validate()?;
        let row = sqlx::query("SELECT allowed, tat, now FROM booking.gcra_acquire($1, $2, $3, $4)")
            .bind(&req.key.0)
            .bind(now_micros(&self.time)?)
            .bind(increment)
            .bind(req.quota.span_micros())
            .fetch_one(&self.pool)
            .await
            .map_err(backend(OP))?;
        let step = GcraStep {
            allowed: row.try_get("allowed").map_err(backend(OP))?,
            tat: row.try_get("tat").map_err(backend(OP))?,
        };
        let now: i64 = row.try_get("now").map_err(backend(OP))?;
        Ok(RateDecision::from_step(&req.quota, increment, now, step))
    }

    async fn reset(&self, key: &LimitKey) -> Result<(), LimitError> {
        key.validate()?;
        sqlx::query("DELETE FROM booking.rate_limits WHERE key = $1")
            .bind(&key.0)
            .execute(&self.pool)
            .await
            .map_err(backend("rate limit reset"))?;
        Ok(())
    }

    async fn purge(&self) -> Result<u64, LimitError> {
        let purged =
            sqlx::query("DELETE FROM booking.rate_limits WHERE tat <= coalesce($1::bigint, booking.clock_ms() * 1000)")
                .bind(now_micros(&self.time)?)
                .execute(&self.pool)
                .await
                .map_err(backend("rate limit purge"))?
                .rows_affected();
        Ok(purged)
    }
}
