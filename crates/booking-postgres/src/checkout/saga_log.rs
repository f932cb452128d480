//! The saga log in `booking.orders`: each order as jsonb, plus the columns
//! its queries filter on (buyer, status, retry time, claim, creation time,
//! version).

use super::{backend, limit, millis, now};
use async_trait::async_trait;
use booking_core::checkout::{Order, SagaLog, StoreError, WorkerId};
use booking_core::{OrderId, OwnerId, TimeSource};
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::{PgPool, Row};
use std::time::Duration;
use uuid::Uuid;

/// The saga log on PostgreSQL.
///
/// `update` is a compare-and-set on the version column (`UPDATE ... WHERE
/// id = $1 AND version = $2`); `claim_unfinished` is one statement that
/// picks due, unclaimed, unfinished orders with `FOR UPDATE SKIP LOCKED`
/// and stamps its claim on them, so racing completers get disjoint sets.
#[derive(Clone, Debug)]
pub struct PgSagaLog {
    pool: PgPool,
    time: TimeSource,
}

impl PgSagaLog {
    /// A saga log on `pool` deciding retry times and claims by the
    /// database clock. The schema must be migrated ([`crate::migrations`]).
    pub fn new(pool: PgPool) -> Self {
        Self::with_time_source(pool, TimeSource::Store)
    }

    /// A saga log on `pool` deciding retry times and claims by `time` (an
    /// injected clock in tests).
    pub fn with_time_source(pool: PgPool, time: TimeSource) -> Self {
        PgSagaLog { pool, time }
    }
}

/// The order in a row's `body` column.
fn order(row: &PgRow, operation: &'static str) -> Result<Order, StoreError> {
    let Json(order): Json<Order> = row.try_get("body").map_err(backend(operation))?;
    Ok(order)
}

fn orders(rows: &[PgRow], operation: &'static str) -> Result<Vec<Order>, StoreError> {
    rows.iter().map(|r| order(r, operation)).collect()
}

#[async_trait]
impl SagaLog for PgSagaLog {
    async fn create(&self, order: &Order) -> Result<Order, StoreError> {
        const OP: &str = "saga log create";
        let first = Order { version: 1, ..order.clone() };
        let inserted = sqlx::query(
            "INSERT INTO booking.orders (id, buyer, status, final, retry_at, version, created_at, body) \
             VALUES ($1, $2, $3, $4, $5, 1, $6, $7) ON CONFLICT (id) DO NOTHING",
        )
        .bind(first.id.as_uuid())
        .bind(first.buyer.as_uuid())
        .bind(format!("{:?}", first.status))
        .bind(first.status.is_final())
        .bind(first.retry_at.map(|t| t.timestamp_millis()))
        .bind(first.created_at)
        .bind(Json(&first))
        .execute(&self.pool)
        .await
        .map_err(backend(OP))?
        .rows_affected();
        if inserted == 1 {
            return Ok(first);
        }
        // Recorded before (a conflicting insert has committed by now).
        self.get(order.id).await?.ok_or(StoreError::NotFound)
    }

    async fn get(&self, id: OrderId) -> Result<Option<Order>, StoreError> {
        const OP: &str = "saga log get";
        let row = sqlx::query("SELECT body FROM booking.orders WHERE id = $1")
            .bind(id.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend(OP))?;
        row.map(|r| order(&r, OP)).transpose()
    }

    async fn update(&self, order: &Order) -> Result<(), StoreError> {
        const OP: &str = "saga log update";
        // A version no stored order can have (0, or beyond a bigint) can
        // only conflict.
        let versions = order.version.checked_sub(1).map(|p| (i64::try_from(p), i64::try_from(order.version)));
        let Some((Ok(previous), Ok(next))) = versions else {
            return Err(StoreError::Conflict);
        };
        let row = sqlx::query(
            "WITH u AS ( \
               UPDATE booking.orders SET status = $3, final = $4, retry_at = $5, version = $6, body = $7 \
               WHERE id = $1 AND version = $2 RETURNING 1) \
             SELECT (SELECT count(*) FROM u) AS updated, \
                    EXISTS (SELECT 1 FROM booking.orders WHERE id = $1) AS found",
        )
        .bind(order.id.as_uuid())
        .bind(previous)
        .bind(format!("{:?}", order.status))
        .bind(order.status.is_final())
        .bind(order.retry_at.map(|t| t.timestamp_millis()))
        .bind(next)
        .bind(Json(order))
        .fetch_one(&self.pool)
        .await
        .map_err(backend(OP))?;
        let updated: i64 = row.try_get("updated").map_err(backend(OP))?;
        let found: bool = row.try_get("found").map_err(backend(OP))?;
        match (updated, found) {
            (1, _) => Ok(()),
            (_, true) => Err(StoreError::Conflict),
            (_, false) => Err(StoreError::NotFound),
        }
    }

    async fn by_buyer(&self, buyer: OwnerId) -> Result<Vec<Order>, StoreError> {
        const OP: &str = "saga log by buyer";
        let rows = sqlx::query("SELECT body FROM booking.orders WHERE buyer = $1 ORDER BY created_at, id")
            .bind(buyer.as_uuid())
            .fetch_all(&self.pool)
            .await
            .map_err(backend(OP))?;
        orders(&rows, OP)
    }

    async fn claim_unfinished(&self, worker: WorkerId, lease: Duration, max: usize) -> Result<Vec<Order>, StoreError> {
        const OP: &str = "saga log claim";
        let rows = sqlx::query(
            "WITH n AS MATERIALIZED (SELECT coalesce($1::bigint, booking.clock_ms()) AS now) \
             UPDATE booking.orders o SET claim_worker = $2, claimed_until = n.now + $3 \
             FROM n \
             WHERE o.id IN ( \
               SELECT c.id FROM booking.orders c, n \
               WHERE NOT c.final \
                 AND (c.retry_at IS NULL OR c.retry_at <= n.now) \
                 AND (c.claimed_until IS NULL OR c.claimed_until <= n.now) \
               ORDER BY c.id LIMIT $4 \
               FOR UPDATE OF c SKIP LOCKED) \
             RETURNING o.body",
        )
        .bind(now(&self.time))
        .bind(Uuid::from_u128(worker.0))
        .bind(millis(lease))
        .bind(limit(max))
        .fetch_all(&self.pool)
        .await
        .map_err(backend(OP))?;
        let mut claimed = orders(&rows, OP)?;
        claimed.sort_by_key(|o| o.id);
        Ok(claimed)
    }

    async fn list(&self, after: Option<OrderId>, max: usize) -> Result<Vec<Order>, StoreError> {
        const OP: &str = "saga log list";
        let rows =
            sqlx::query("SELECT body FROM booking.orders WHERE ($1::uuid IS NULL OR id > $1) ORDER BY id LIMIT $2")
                .bind(after.map(|a| a.as_uuid()))
                .bind(limit(max))
                .fetch_all(&self.pool)
                .await
                .map_err(backend(OP))?;
        orders(&rows, OP)
    }
}
