//! The seat map: the SVG drawing, the compact live states, the live feed.

use super::cache::{PUBLIC_CACHE, cached};
use super::{Path, Query};
use crate::live::Live;
use crate::problem::{ApiResult, Problem};
use crate::state::AppState;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::response::sse::{Event, KeepAlive, Sse};
use booking_core::ShowId;
use booking_core::seatmap::{LiveState, etag, render_svg};
use futures_util::stream::{self, Stream, StreamExt};
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use std::time::Duration;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// The seat map as SVG with every seat's state now. Each seat is a `<use>`
/// carrying `data-seat="<seat_id>"`; its `href` names its state's symbol
/// (`#a` available, `#h` held, `#s` sold, `#b` blocked).
#[utoipa::path(get, path = "/api/shows/{show_id}/seatmap.svg", tag = "seats",
    params(("show_id" = String, Path, format = Uuid, description = "The show")),
    responses((status = 200, content_type = "image/svg+xml", body = String,
        headers(("ETag" = String), ("Cache-Control" = String))),
        (status = 304, description = "Not modified (If-None-Match)"), (status = 404, body = Problem)))]
pub async fn seatmap_svg(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let show = ShowId(id);
    let snapshot = state.stores.inventory.snapshot(show).await?;
    let map = state.show_map(show).await?;
    let live = LiveState::from_snapshot(&snapshot, &[]);
    let svg = render_svg(&map, &live).map_err(crate::problem::ApiError::unavailable)?;
    let tag = etag(&svg);
    Ok(cached(&headers, &tag, PUBLIC_CACHE, "image/svg+xml", svg.into_bytes()))
}

/// A general-admission area's places.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AreaState {
    /// Places free to hold.
    pub available: u32,
    /// Places for sale.
    pub capacity: u32,
}

/// Every seat's state, compactly.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SeatStates {
    /// The live feed's event id at this reading: resume `/live` from it
    /// (`Last-Event-ID` header or `after` parameter) to miss nothing.
    pub cursor: String,
    /// One character per seat, seat id 0 first: `a` available, `h` held,
    /// `s` sold, `b` blocked.
    pub seats: String,
    /// Each general-admission area, by pool id.
    pub areas: Vec<AreaState>,
}

/// Every seat's state now, one character per seat (see `SeatStates`).
#[utoipa::path(get, path = "/api/shows/{show_id}/seats", tag = "seats",
    params(("show_id" = String, Path, format = Uuid, description = "The show")),
    responses((status = 200, body = SeatStates, headers(("ETag" = String))),
        (status = 304, description = "Not modified (If-None-Match)"), (status = 404, body = Problem)))]
pub async fn seat_states(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let show = ShowId(id);
    // The cursor is read before the snapshot: events after it may already
    // be in the snapshot, and replaying them changes nothing.
    let cursor = state.hubs.cursor(show).await?;
    let snapshot = state.stores.inventory.snapshot(show).await?;
    let live = LiveState::from_snapshot(&snapshot, &[]);
    let body = SeatStates {
        cursor,
        seats: live.encode(),
        areas: live.areas.iter().map(|a| AreaState { available: a.available, capacity: a.capacity }).collect(),
    };
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let tag = etag(&format!("{}{}", body.seats, serde_json::to_string(&body.areas).unwrap_or_default()));
    // States change every moment: revalidate, do not reuse.
    Ok(cached(&headers, &tag, "no-cache", "application/json", bytes))
}

/// Where to resume the live feed.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LiveParams {
    /// An event id to resume after (as `Last-Event-ID`, for clients that
    /// cannot set headers); usually `/seats`'s `cursor`.
    pub after: Option<String>,
}

/// One `seat` event's data.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SeatEventData {
    /// The seat.
    pub seat_id: u32,
    /// Its state: `a`, `h`, `s` or `b`.
    pub status: String,
}

/// Live seat changes as server-sent events: `seat` events (data
/// `{seat_id, status}`) with ids to resume from, `reset` when events were
/// missed (re-read `/seats`). Ends when the server shuts down.
#[utoipa::path(get, path = "/api/shows/{show_id}/live", tag = "seats",
    params(("show_id" = String, Path, format = Uuid, description = "The show"), LiveParams,
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event")),
    responses((status = 200, content_type = "text/event-stream", body = SeatEventData), (status = 404, body = Problem)))]
pub async fn live(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Query(p): Query<LiveParams>,
    headers: HeaderMap,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let show = ShowId(id);
    state.stores.inventory.show_spec(show).await?;
    let last = headers.get("last-event-id").and_then(|v| v.to_str().ok()).map(str::to_owned).or(p.after);
    let sub = state.hubs.subscribe(show, last.as_deref()).await?;
    let hub = sub.hub.clone();
    let mut seen = 0u64;
    let backlog = stream::iter(sub.backlog);
    let live = tokio_stream::wrappers::BroadcastStream::new(sub.rx).map(|r| r.unwrap_or(Live::Reset));
    let mut stop = state.shutdown.subscribe();
    let stopped = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    let events = backlog.chain(live).take_until(stopped).filter_map(move |item| {
        let out = match item {
            Live::Seat(e) if e.seq > seen => {
                seen = e.seq;
                let data = serde_json::json!({ "seat_id": e.seat, "status": e.status.to_string() });
                Some(Ok(Event::default().event("seat").id(format!("{hub}-{}", e.seq)).data(data.to_string())))
            }
            Live::Seat(_) => None,
            Live::Reset => Some(Ok(Event::default().event("reset").data("{}"))),
        };
        std::future::ready(out)
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
