//! The waiting room: join a show's queue, read where you stand, get the
//! admission token that holds need.

use super::{Auth, Json, Path};
use crate::problem::{ApiError, ApiResult, Problem};
use crate::state::AppState;
use axum::extract::State;
use axum::http::HeaderMap;
use booking_core::ShowId;
use booking_core::admission::{AdmissionError, AdmissionToken, Mode, RoomId, SessionId, Status, VisitorState};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// The header carrying an admission token.
pub const ADMISSION_HEADER: &str = "x-admission-token";

/// Where the caller stands in a show's queue.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct QueueStatus {
    /// The caller's place in this room (random: it reveals no order).
    #[schema(value_type = String, format = Uuid)]
    pub visitor_id: Uuid,
    /// `pre_queue`, `waiting`, `admitted`, `expired`, `left` or `revoked`.
    pub state: String,
    /// 1 for the next to be admitted; while waiting.
    pub position: Option<u64>,
    /// About how long until admission, in seconds; while waiting.
    pub estimated_wait_secs: Option<u64>,
    /// May buy now.
    pub admitted: bool,
    /// Until when, when admitted.
    pub admitted_until: Option<DateTime<Utc>>,
    /// Send as `X-Admission-Token` with holds, when admitted.
    pub admission_token: Option<String>,
}

/// The waiting-room session of a user: one place per user and room.
pub fn session_of(auth: &Auth) -> SessionId {
    SessionId::new(format!("user:{}", auth.user.id))
}

async fn answer(state: &AppState, room: RoomId, auth: &Auth, status: Status) -> ApiResult<QueueStatus> {
    let (word, position, admitted_until) = match status.visitor.state {
        VisitorState::PreQueue { .. } => ("pre_queue", None, None),
        VisitorState::Waiting { position } => ("waiting", Some(position), None),
        VisitorState::Admitted { until } => ("admitted", None, Some(until)),
        VisitorState::Expired => ("expired", None, None),
        VisitorState::Left => ("left", None, None),
        VisitorState::Revoked => ("revoked", None, None),
    };
    let admission_token = match admitted_until {
        Some(_) => Some(state.rooms.token(room, &session_of(auth)).await?.0),
        None => None,
    };
    Ok(QueueStatus {
        visitor_id: status.visitor.id.0,
        state: word.to_owned(),
        position,
        estimated_wait_secs: status.estimated_wait.map(|d| d.as_secs()),
        admitted: admitted_until.is_some(),
        admitted_until,
        admission_token,
    })
}

/// Joins the show's queue (again: keeps the first place).
#[utoipa::path(post, path = "/api/shows/{show_id}/queue", tag = "queue", security(("bearer" = [])),
    params(("show_id" = String, Path, format = Uuid, description = "The show")),
    responses((status = 200, body = QueueStatus), (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 429, body = Problem)))]
pub async fn join(State(state): State<AppState>, auth: Auth, Path(id): Path<Uuid>) -> ApiResult<Json<QueueStatus>> {
    state.guards.queue.admit(&auth.identity()).await?;
    let room = RoomId::for_show(ShowId(id));
    let status = state.rooms.join(room, &session_of(&auth)).await?;
    Ok(Json(answer(&state, room, &auth, status).await?))
}

/// Where the caller stands (with the admission token once admitted).
#[utoipa::path(get, path = "/api/shows/{show_id}/queue", tag = "queue", security(("bearer" = [])),
    params(("show_id" = String, Path, format = Uuid, description = "The show")),
    responses((status = 200, body = QueueStatus), (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 429, body = Problem)))]
pub async fn status(State(state): State<AppState>, auth: Auth, Path(id): Path<Uuid>) -> ApiResult<Json<QueueStatus>> {
    state.guards.queue.admit(&auth.identity()).await?;
    let room = RoomId::for_show(ShowId(id));
    let status = state.rooms.status(room, &session_of(&auth)).await?;
    Ok(Json(answer(&state, room, &auth, status).await?))
}

/// Checks that the caller may buy for `show`: when the show's waiting
/// room queues, a valid admission token of this user for this room.
///
/// Errors: 403 `admission_required`.
pub async fn check_admission(state: &AppState, auth: &Auth, show: ShowId, headers: &HeaderMap) -> ApiResult<()> {
    let room = RoomId::for_show(show);
    match state.stores.rooms.room(room).await {
        Err(AdmissionError::UnknownRoom(_)) => return Ok(()),
        Err(e) => return Err(e.into()),
        Ok(r) if r.config.mode == Mode::PassThrough => return Ok(()),
        Ok(_) => {}
    }
    let token = headers.get(ADMISSION_HEADER).and_then(|v| v.to_str().ok()).ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "admission_required",
            "this show has a waiting room: join the queue and send its X-Admission-Token",
        )
    })?;
    state.verifier.verify(&AdmissionToken(token.to_owned()), room, &session_of(auth)).await?;
    Ok(())
}
