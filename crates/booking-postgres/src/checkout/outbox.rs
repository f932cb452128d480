//! The outbox in `booking.outbox`: messages in enqueue order, claimed
//! under leases.

use super::{backend, corrupt, limit, millis, now};
use async_trait::async_trait;
use booking_core::TimeSource;
use booking_core::checkout::{Outbox, OutboxMessage, StoreError, WorkerId};
use sqlx::{PgPool, Row};
use std::time::Duration;
use uuid::Uuid;

/// The outbox on PostgreSQL.
///
/// `claim` is one statement that picks undelivered, unclaimed messages in
/// enqueue order with `FOR UPDATE SKIP LOCKED`, stamps its claim and
/// counts the attempt, so racing relays get disjoint sets.
#[derive(Clone, Debug)]
pub struct PgOutbox {
    pool: PgPool,
    time: TimeSource,
}

impl PgOutbox {
    /// An outbox on `pool` deciding claims by the database clock. The
    /// schema must be migrated ([`crate::migrations`]).
    pub fn new(pool: PgPool) -> Self {
        Self::with_time_source(pool, TimeSource::Store)
    }

    /// An outbox on `pool` deciding claims by `time` (an injected clock in
    /// tests).
    pub fn with_time_source(pool: PgPool, time: TimeSource) -> Self {
        PgOutbox { pool, time }
    }
}

#[async_trait]
impl Outbox for PgOutbox {
    async fn enqueue(&self, msg: &OutboxMessage) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO booking.outbox (id, topic, payload) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING")
            .bind(&msg.id)
            .bind(&msg.topic)
            .bind(&msg.payload)
            .execute(&self.pool)
            .await
            .map_err(backend("outbox enqueue"))?;
        Ok(())
    }

    async fn claim(&self, worker: WorkerId, lease: Duration, max: usize) -> Result<Vec<OutboxMessage>, StoreError> {
        const OP: &str = "outbox claim";
        let rows = sqlx::query(
            "WITH n AS MATERIALIZED (SELECT coalesce($1::bigint, booking.clock_ms()) AS now) \
             UPDATE booking.outbox o \
             SET claim_worker = $2, claimed_until = n.now + $3, attempts = o.attempts + 1 \
             FROM n \
             WHERE o.id IN ( \
               SELECT c.id FROM booking.outbox c, n \
               WHERE NOT c.delivered AND (c.claimed_until IS NULL OR c.claimed_until <= n.now) \
               ORDER BY c.seq LIMIT $4 \
               FOR UPDATE OF c SKIP LOCKED) \
             RETURNING o.id, o.topic, o.payload, o.attempts, o.seq",
        )
        .bind(now(&self.time))
        .bind(Uuid::from_u128(worker.0))
        .bind(millis(lease))
        .bind(limit(max))
        .fetch_all(&self.pool)
        .await
        .map_err(backend(OP))?;
        let mut claimed = Vec::with_capacity(rows.len());
        for row in rows {
            let seq: i64 = row.try_get("seq").map_err(backend(OP))?;
            let attempts: i32 = row.try_get("attempts").map_err(backend(OP))?;
            let msg = OutboxMessage {
                id: row.try_get("id").map_err(backend(OP))?,
                topic: row.try_get("topic").map_err(backend(OP))?,
                payload: row.try_get("payload").map_err(backend(OP))?,
                attempts: u32::try_from(attempts).map_err(|_| corrupt(OP, format!("attempts {attempts}")))?,
            };
            claimed.push((seq, msg));
        }
        claimed.sort_by_key(|(seq, _)| *seq);
        Ok(claimed.into_iter().map(|(_, m)| m).collect())
    }

    async fn ack(&self, id: &str) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE booking.outbox SET delivered = true, claim_worker = NULL, claimed_until = NULL WHERE id = $1",
        )
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(backend("outbox ack"))?
        .rows_affected();
        if done == 1 { Ok(()) } else { Err(StoreError::NotFound) }
    }

    async fn pending(&self) -> Result<usize, StoreError> {
        const OP: &str = "outbox pending";
        let row = sqlx::query("SELECT count(*) AS n FROM booking.outbox WHERE NOT delivered")
            .fetch_one(&self.pool)
            .await
            .map_err(backend(OP))?;
        let n: i64 = row.try_get("n").map_err(backend(OP))?;
        usize::try_from(n).map_err(|_| corrupt(OP, format!("count {n}")))
    }
}
