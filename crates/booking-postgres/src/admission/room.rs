//! The room's row lock and the small conversions every statement shares.

use booking_core::admission::{AdmissionError, AdmissionResult, RoomId, VisitorId};
use booking_core::backend::failure::StoreFailure;
use sqlx::postgres::PgRow;
use sqlx::{Postgres, Row, Transaction};
use uuid::Uuid;

/// A `map_err` for sqlx errors of `operation`: `Unavailable` when a retry
/// may succeed, anything else `Backend`, both naming the store and the
/// operation.
pub(super) fn failed(operation: &'static str) -> impl FnOnce(sqlx::Error) -> AdmissionError {
    move |e| {
        let transient = crate::db::transient(&e);
        let text = StoreFailure::new(crate::outcome::STORE, operation, Box::new(e)).to_string();
        if transient { AdmissionError::Unavailable(text) } else { AdmissionError::Backend(text) }
    }
}

/// A stored value this library could not have written.
pub(super) fn corrupt(operation: &'static str, what: &str) -> AdmissionError {
    AdmissionError::Backend(format!("{operation}: stored {what} cannot be read"))
}

/// A count as the port's `u64`.
pub(super) fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// A setting as a SQL bigint (validated settings fit).
pub(super) fn big(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The room's row, locked, and the decision time read after the lock.
pub(super) struct Locked {
    pub(super) opens_at: i64,
    pub(super) mode: String,
    pub(super) late_order: String,
    pub(super) per_minute: i64,
    pub(super) max_active: i64,
    pub(super) ttl: i64,
    pub(super) inlet: bool,
    pub(super) credits: i64,
    pub(super) next_seq: i64,
    pub(super) drawn: bool,
    pub(super) now: i64,
}

/// Locks `room`'s row in `tx`, then reads the clock.
pub(super) async fn lock(
    tx: &mut Transaction<'static, Postgres>,
    room: RoomId,
    now: Option<i64>,
    operation: &'static str,
) -> AdmissionResult<Locked> {
    let row = sqlx::query(
        "WITH r AS MATERIALIZED ( \
           SELECT opens_at, mode, late_order, per_minute, max_active, session_ttl_ms, inlet, credits, \
                  next_seq, drawn_at IS NOT NULL AS drawn \
           FROM booking.admission_rooms WHERE id = $1 FOR UPDATE) \
         SELECT r.*, coalesce($2::bigint, booking.clock_ms()) AS now FROM r",
    )
    .bind(room.as_uuid())
    .bind(now)
    .fetch_optional(&mut **tx)
    .await
    .map_err(failed(operation))?
    .ok_or(AdmissionError::UnknownRoom(room))?;
    let get = |e| failed(operation)(e);
    Ok(Locked {
        opens_at: row.try_get("opens_at").map_err(get)?,
        mode: row.try_get("mode").map_err(get)?,
        late_order: row.try_get("late_order").map_err(get)?,
        per_minute: row.try_get("per_minute").map_err(get)?,
        max_active: row.try_get("max_active").map_err(get)?,
        ttl: row.try_get("session_ttl_ms").map_err(get)?,
        inlet: row.try_get::<Option<i64>, _>("inlet").map_err(get)?.is_some(),
        credits: row.try_get("credits").map_err(get)?,
        next_seq: row.try_get("next_seq").map_err(get)?,
        drawn: row.try_get("drawn").map_err(get)?,
        now: row.try_get("now").map_err(get)?,
    })
}

pub(super) fn uuids(row: &PgRow, column: &str, operation: &'static str) -> AdmissionResult<Vec<VisitorId>> {
    let ids: Option<Vec<Uuid>> = row.try_get(column).map_err(failed(operation))?;
    Ok(ids.unwrap_or_default().into_iter().map(VisitorId).collect())
}
