//! Reading a visitor as it stands: its record, its position (the waiting
//! visitors ahead of it, plus a pre-queue not drawn yet) or the pre-queue's
//! size, in one statement at one clock reading.

use booking_core::admission::{AdmissionError, AdmissionResult, SessionId, Visitor, VisitorId, VisitorState};
use booking_core::clock::millis_to_datetime;
use sqlx::Row;
use sqlx::postgres::PgRow;
use uuid::Uuid;

macro_rules! view_sql {
    ($filter:literal) => {
        concat!(
            "WITH t AS (SELECT coalesce($2::bigint, booking.clock_ms()) AS now) \
             SELECT v.visitor, v.session, v.joined_at, v.state, v.until, t.now, \
               CASE v.state \
                 WHEN 'pre' THEN (SELECT count(*) FROM booking.admission_visitors p \
                                  WHERE p.room = v.room AND p.state = 'pre') \
                 WHEN 'wait' THEN 1 \
                   + (SELECT count(*) FROM booking.admission_visitors w \
                      WHERE w.room = v.room AND w.state = 'wait' AND (w.place, w.visitor) < (v.place, v.visitor)) \
                   + CASE WHEN r.drawn_at IS NULL THEN (SELECT count(*) FROM booking.admission_visitors p \
                                                        WHERE p.room = v.room AND p.state = 'pre') ELSE 0 END \
                 ELSE 0 END AS n \
             FROM booking.admission_visitors v JOIN booking.admission_rooms r ON r.id = v.room, t \
             WHERE v.room = $1 AND ",
            $filter
        )
    };
}

/// A visitor by session: `$1` room, `$2` injected time or NULL, `$3` session.
pub(super) const BY_SESSION: &str = view_sql!("v.session = $3");
/// A visitor by id: `$1` room, `$2` injected time or NULL, `$3` visitor.
pub(super) const BY_VISITOR: &str = view_sql!("v.visitor = $3");

/// The visitor of a row of [`BY_SESSION`] or [`BY_VISITOR`].
pub(super) fn visitor_from_row(row: &PgRow, operation: &'static str) -> AdmissionResult<Visitor> {
    let get = |e: sqlx::Error| AdmissionError::Backend(format!("{operation}: {e}"));
    let id: Uuid = row.try_get("visitor").map_err(get)?;
    let session: String = row.try_get("session").map_err(get)?;
    let joined: i64 = row.try_get("joined_at").map_err(get)?;
    let state: String = row.try_get("state").map_err(get)?;
    let until: Option<i64> = row.try_get("until").map_err(get)?;
    let now: i64 = row.try_get("now").map_err(get)?;
    let n: i64 = row.try_get("n").map_err(get)?;
    let n = u64::try_from(n).unwrap_or(0);
    let state = match state.as_str() {
        "pre" => VisitorState::PreQueue { arrivals: n },
        "wait" => VisitorState::Waiting { position: n },
        "adm" => match until {
            Some(u) if u > now => VisitorState::Admitted { until: millis_to_datetime(u) },
            _ => VisitorState::Expired,
        },
        "exp" => VisitorState::Expired,
        "left" => VisitorState::Left,
        "rev" => VisitorState::Revoked,
        other => return Err(AdmissionError::Backend(format!("{operation}: stored state {other:?}"))),
    };
    Ok(Visitor { id: VisitorId(id), session: SessionId(session), joined_at: millis_to_datetime(joined), state })
}
