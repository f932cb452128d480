//! Holds: take seats (named, best available, or general-admission places),
//! extend, release. Only the holder sees or changes a hold; anyone else
//! gets 404.

use super::catalog::MoneyView;
use super::queue::check_admission;
use super::{Auth, Json, Path};
use crate::problem::{ApiError, ApiResult, Problem};
use crate::state::{AppState, HoldEntry, seat_label};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine as _;
use booking_core::catalog::Availability;
use booking_core::checkout::Pricing;
use booking_core::{
    Hold, HoldAction, HoldBest, HoldId, HoldItems, HoldPool, HoldSeats, PoolId, SeatId, SectionId, ShowId,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Best available seats.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BestRequest {
    /// How many seats.
    pub quantity: u32,
    /// Only in this section: its name, or its index in the seat map.
    pub section: Option<String>,
}

/// Places in a general-admission area.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PoolRequest {
    /// The area's pool id (see the show's `areas`).
    pub pool_id: u32,
    /// How many places.
    pub quantity: u32,
}

/// What to hold: exactly one of `seats`, `best`, `pool`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldRequest {
    /// These seats (ids from the seat map's `data-seat`), all or none.
    pub seats: Option<Vec<u32>>,
    /// The best available seats.
    pub best: Option<BestRequest>,
    /// General-admission places.
    pub pool: Option<PoolRequest>,
}

/// A held seat.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct HeldSeat {
    /// The seat.
    pub seat_id: u32,
    /// "Section, row R, seat N".
    pub label: String,
}

/// A hold.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct HoldView {
    /// The hold.
    #[schema(value_type = String, format = Uuid)]
    pub hold_id: Uuid,
    /// The hold's proof (opaque); the server keeps it too, so clients
    /// need not send it back.
    pub token: String,
    /// The show.
    #[schema(value_type = String, format = Uuid)]
    pub show_id: Uuid,
    /// The seats held (empty for places in an area).
    pub seats: Vec<HeldSeat>,
    /// Seats or places held.
    pub quantity: u32,
    /// Held until this instant, unless extended.
    pub held_until: DateTime<Utc>,
    /// Extensions used.
    pub renewals: u32,
    /// What checking out will cost, fees included.
    pub total: Option<MoneyView>,
}

fn view(state: &AppState, spec: &booking_core::ShowSpec, hold: &Hold) -> HoldView {
    let seats = match &hold.token.items {
        HoldItems::Seats(s) => s.iter().map(|id| HeldSeat { seat_id: id.0, label: seat_label(spec, *id) }).collect(),
        HoldItems::Pool { .. } => Vec::new(),
    };
    let token = serde_json::to_vec(&hold.token).unwrap_or_default();
    HoldView {
        hold_id: hold.token.hold.0,
        token: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token),
        show_id: hold.token.show.0,
        seats,
        quantity: hold.token.items.count(),
        held_until: hold.held_until,
        renewals: hold.renewals,
        total: state.prices.price(hold.token.show, &hold.token.items).ok().map(|p| p.total.into()),
    }
}

/// 409 `not_on_sale` unless the show sells now.
async fn check_on_sale(state: &AppState, show: ShowId) -> ApiResult<()> {
    let listing = state.stores.catalog.listing(show).await?;
    let now = state.clock.now();
    match Availability::at(now, &listing.show, None) {
        Availability::Upcoming => Err(ApiError::new(StatusCode::CONFLICT, "not_on_sale", "sales have not opened yet")),
        Availability::SalesEnded => Err(ApiError::new(StatusCode::CONFLICT, "not_on_sale", "sales have closed")),
        _ => Ok(()),
    }
}

/// Holds seats for the caller.
#[utoipa::path(post, path = "/api/shows/{show_id}/holds", tag = "holds", security(("bearer" = [])),
    params(("show_id" = String, Path, format = Uuid, description = "The show"),
        ("X-Admission-Token" = Option<String>, Header, description = "From the queue, when the show has a waiting room")),
    request_body = HoldRequest,
    responses((status = 201, body = HoldView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem),
        (status = 429, body = Problem)))]
pub async fn create_hold(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Json(req): Json<HoldRequest>,
) -> ApiResult<(StatusCode, Json<HoldView>)> {
    let show = ShowId(id);
    let spec = state.spec(show).await?;
    let owner = auth.user.owner();
    // Check the request's shape before spending anything on it.
    let which = match (&req.seats, &req.best, &req.pool) {
        (Some(_), None, None) => 0,
        (None, Some(_), None) => 1,
        (None, None, Some(_)) => 2,
        _ => return Err(ApiError::invalid("send exactly one of seats, best, pool")),
    };
    let section = match req.best.as_ref().and_then(|b| b.section.as_deref()) {
        None => None,
        Some(name) => {
            let sections = &spec.layout.sections;
            let found = sections
                .iter()
                .position(|s| s.name.eq_ignore_ascii_case(name))
                .or_else(|| name.parse::<usize>().ok().filter(|i| *i < sections.len()));
            Some(SectionId(found.ok_or_else(|| ApiError::invalid(format!("no section {name:?}")))? as u32))
        }
    };
    check_on_sale(&state, show).await?;
    check_admission(&state, &auth, show, &headers).await?;
    state.guards.holds.admit(&auth.identity()).await?;
    let inv = &state.stores.inventory;
    let hold = match which {
        0 => {
            let seats = req.seats.unwrap_or_default().into_iter().map(SeatId).collect();
            inv.hold_seats(&HoldSeats { show, owner, seats }).await?
        }
        1 => {
            let quantity = req.best.map_or(0, |b| b.quantity);
            inv.hold_best(&HoldBest { show, owner, quantity, section, category: None }).await?
        }
        _ => {
            let p = req.pool.ok_or_else(|| ApiError::invalid("pool"))?;
            inv.hold_pool(&HoldPool { show, owner, pool: PoolId(p.pool_id), quantity: p.quantity }).await?
        }
    };
    metrics::counter!("booking_holds_total", "outcome" => "held").increment(1);
    state
        .holds
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(hold.token.hold, HoldEntry { owner, token: hold.token.clone(), held_until: hold.held_until });
    Ok((StatusCode::CREATED, Json(view(&state, &spec, &hold))))
}

/// The caller's hold entry, or 404 (also for another user's hold).
pub fn own_hold(state: &AppState, auth: &Auth, id: Uuid) -> ApiResult<HoldEntry> {
    let holds = state.holds.lock().unwrap_or_else(|e| e.into_inner());
    match holds.get(&HoldId(id)) {
        Some(h) if h.owner == auth.user.owner() => Ok(h.clone()),
        _ => Err(ApiError::not_found("hold")),
    }
}

/// Extends a hold by the show's hold time (a few times at most).
#[utoipa::path(post, path = "/api/holds/{hold_id}/extend", tag = "holds", security(("bearer" = [])),
    params(("hold_id" = String, Path, format = Uuid, description = "The hold")),
    responses((status = 200, body = HoldView), (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 410, body = Problem), (status = 429, body = Problem)))]
pub async fn extend_hold(State(state): State<AppState>, auth: Auth, Path(id): Path<Uuid>) -> ApiResult<Json<HoldView>> {
    let entry = own_hold(&state, &auth, id)?;
    state.guards.holds.admit(&auth.identity()).await?;
    // The caller, not the entry, is the owner the inventory checks too.
    let hold =
        state.stores.inventory.extend(&HoldAction { owner: auth.user.owner(), token: entry.token.clone() }).await?;
    let spec = state.spec(hold.token.show).await?;
    if let Some(e) = state.holds.lock().unwrap_or_else(|e| e.into_inner()).get_mut(&HoldId(id)) {
        e.token = hold.token.clone();
        e.held_until = hold.held_until;
    }
    Ok(Json(view(&state, &spec, &hold)))
}

/// Releases a hold: its seats are free again at once.
#[utoipa::path(delete, path = "/api/holds/{hold_id}", tag = "holds", security(("bearer" = [])),
    params(("hold_id" = String, Path, format = Uuid, description = "The hold")),
    responses((status = 204), (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 410, body = Problem), (status = 429, body = Problem)))]
pub async fn release_hold(State(state): State<AppState>, auth: Auth, Path(id): Path<Uuid>) -> ApiResult<StatusCode> {
    let entry = own_hold(&state, &auth, id)?;
    state.guards.holds.admit(&auth.identity()).await?;
    state.stores.inventory.release(&HoldAction { owner: auth.user.owner(), token: entry.token }).await?;
    state.holds.lock().unwrap_or_else(|e| e.into_inner()).remove(&HoldId(id));
    metrics::counter!("booking_holds_total", "outcome" => "released").increment(1);
    Ok(StatusCode::NO_CONTENT)
}
