//! Administration (admin role): venues with seat maps, events, shows with
//! prices and waiting rooms, blocking seats, opening and closing sales.

use super::catalog::{ShowDetail, show_detail};
use super::{Auth, Json, Path};
use crate::auth::Role;
use crate::problem::{ApiError, ApiResult, Problem};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use booking_core::admission::{AdmissionError, Mode, RoomConfig, RoomId};
use booking_core::catalog::{Event, Show, Update, Venue};
use booking_core::checkout::FeePolicy;
use booking_core::ids::{EventId, VenueId};
use booking_core::seatmap::SeatMap;
use booking_core::{Currency, Money, PriceCategory, SeatId, ShowId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use utoipa::ToSchema;
use uuid::Uuid;

/// The sample theatre (about 2,000 seats).
pub const THEATRE: &str = include_str!("../../../../crates/booking-core/venues/theatre.json");
/// The sample stadium (about 50,000 seats and standing areas).
pub const STADIUM: &str = include_str!("../../../../crates/booking-core/venues/stadium.json");

/// A new venue.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewVenue {
    /// Name.
    pub name: String,
    /// City.
    pub city: String,
    /// Street address.
    #[serde(default)]
    pub address: String,
    /// Its seat map (`booking-seatmap/1` JSON).
    #[schema(value_type = Option<SeatMapDocument>)]
    pub seatmap: Option<serde_json::Value>,
    /// Or a sample map. Send exactly one of `seatmap` and `sample`.
    pub sample: Option<Sample>,
}

/// A seat map in the `booking-seatmap/1` format, as `POST /api/admin/venues`
/// takes it (only described here: the server reads it as the library's
/// seat map, which refuses unknown fields and checks the layout: at least
/// one seat or area, coordinates in range, seats that do not overlap; a
/// map it refuses is a 422 listing the problems).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct SeatMapDocument {
    /// Always `booking-seatmap/1`.
    #[schema(pattern = "^booking-seatmap/1$")]
    format: String,
    /// The venue's (or layout's) name.
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    name: String,
    /// A seat's width and height, in map units.
    #[schema(minimum = 1)]
    seat_size: u32,
    /// The price categories.
    categories: Vec<SeatMapCategory>,
    /// The stage, drawn for orientation.
    stage: Option<SeatMapStage>,
    /// General-admission areas.
    #[schema(value_type = Option<Vec<Object>>)]
    areas: Option<Vec<serde_json::Value>>,
    /// Reserved seating: sections of rows of seats.
    #[schema(value_type = Option<Vec<Object>>)]
    sections: Option<Vec<serde_json::Value>>,
}

/// A price category of a seat map.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct SeatMapCategory {
    /// The category's number (each once in the map).
    id: u16,
    /// Display name ("Stalls").
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    name: String,
    /// Fill colour, `#rrggbb`.
    #[schema(pattern = "^#[0-9A-Fa-f]{6}$")]
    color: String,
}

/// The stage of a seat map.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct SeatMapStage {
    /// Its label ("Stage").
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    label: String,
    /// Where it is.
    rect: SeatMapRect,
}

/// A rectangle in map units.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct SeatMapRect {
    /// Left edge.
    #[schema(minimum = -1_000_000, maximum = 1_000_000)]
    x: i32,
    /// Top edge.
    #[schema(minimum = -1_000_000, maximum = 1_000_000)]
    y: i32,
    /// Width.
    #[schema(minimum = 1, maximum = 2_000_000)]
    width: u32,
    /// Height.
    #[schema(minimum = 1, maximum = 2_000_000)]
    height: u32,
}

/// The sample seat maps.
#[derive(Clone, Copy, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Sample {
    /// A 2,000-seat theatre.
    Theatre,
    /// A 50,000-seat stadium with standing areas.
    Stadium,
}

/// A venue created.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VenueCreated {
    /// The venue.
    #[schema(value_type = String, format = Uuid)]
    pub venue_id: Uuid,
    /// Reserved seats in its map.
    pub seats: u32,
    /// Price categories of its map.
    pub categories: Vec<CategoryView>,
}

/// A price category of a seat map.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CategoryView {
    /// Its id (what prices name).
    pub id: u16,
    /// Its name.
    pub name: String,
}

/// Creates a venue and its seat map.
pub async fn add_venue(state: &AppState, v: NewVenue) -> ApiResult<VenueCreated> {
    let map = match (v.seatmap, v.sample) {
        (Some(json), None) => SeatMap::from_json(&json.to_string()).map_err(|e| ApiError::invalid(e.to_string()))?,
        (None, Some(Sample::Theatre)) => SeatMap::from_json(THEATRE).map_err(ApiError::unavailable)?,
        (None, Some(Sample::Stadium)) => SeatMap::from_json(STADIUM).map_err(ApiError::unavailable)?,
        _ => return Err(ApiError::invalid("send a seatmap, or sample: theatre | stadium")),
    };
    map.validate().map_err(|e| ApiError::invalid(e.to_string()))?;
    let mut venue = Venue::new(v.name, v.city);
    venue.address = v.address;
    let created = state.stores.catalog.create_venue(&venue).await?.value;
    let out = VenueCreated {
        venue_id: created.id.0,
        seats: map.seat_count() as u32,
        categories: map.categories.iter().map(|c| CategoryView { id: c.id, name: c.name.clone() }).collect(),
    };
    state.venue_maps.write().unwrap_or_else(|e| e.into_inner()).insert(created.id, Arc::new(map));
    Ok(out)
}

/// Creates a venue from a seat map (or a sample map).
#[utoipa::path(post, path = "/api/admin/venues", tag = "admin", security(("bearer" = [])), request_body = NewVenue,
    responses((status = 201, body = VenueCreated), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 422, body = Problem)))]
pub async fn create_venue(
    State(state): State<AppState>,
    auth: Auth,
    Json(v): Json<NewVenue>,
) -> ApiResult<(StatusCode, Json<VenueCreated>)> {
    auth.require(&[Role::Admin])?;
    Ok((StatusCode::CREATED, Json(add_venue(&state, v).await?)))
}

/// A new event.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEvent {
    /// Title.
    #[schema(min_length = 1)]
    pub title: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Performers.
    #[serde(default)]
    pub performers: Vec<String>,
    /// Categories ("music", "comedy").
    #[serde(default)]
    pub categories: Vec<String>,
}

/// An event created.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EventCreated {
    /// The event.
    #[schema(value_type = String, format = Uuid)]
    pub event_id: Uuid,
}

/// Creates an event.
pub async fn add_event(state: &AppState, e: NewEvent) -> ApiResult<EventCreated> {
    let mut event = Event::new(e.title).with_description(e.description);
    for p in e.performers {
        event = event.with_performer(p);
    }
    for c in e.categories {
        event = event.with_category(c);
    }
    let created = state.stores.catalog.create_event(&event).await?.value;
    Ok(EventCreated { event_id: created.id.0 })
}

/// Creates an event.
#[utoipa::path(post, path = "/api/admin/events", tag = "admin", security(("bearer" = [])), request_body = NewEvent,
    responses((status = 201, body = EventCreated), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 422, body = Problem)))]
pub async fn create_event(
    State(state): State<AppState>,
    auth: Auth,
    Json(e): Json<NewEvent>,
) -> ApiResult<(StatusCode, Json<EventCreated>)> {
    auth.require(&[Role::Admin])?;
    Ok((StatusCode::CREATED, Json(add_event(&state, e).await?)))
}

/// A price for one category.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPrice {
    /// The seat map's category id.
    pub category: u16,
    /// Its name on the ticket.
    pub name: String,
    /// Minor units (cents).
    pub minor: i64,
}

/// Waiting-room settings. They apply when the room is created; later
/// calls switch it on (queue) or off (pass-through) only.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WaitingRoomSettings {
    /// Holds need an admission token.
    pub enabled: bool,
    /// Admissions per minute (default 600).
    pub per_minute: Option<u64>,
    /// Most admitted buyers at once (default 1,000).
    pub max_active: Option<u64>,
    /// How long an admission lasts, in seconds (default 900).
    pub session_ttl_secs: Option<u64>,
}

/// A new show.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewShow {
    /// The event.
    #[schema(value_type = String, format = Uuid)]
    pub event_id: Uuid,
    /// The venue (its seat map is the show's).
    #[schema(value_type = String, format = Uuid)]
    pub venue_id: Uuid,
    /// Start.
    pub starts_at: DateTime<Utc>,
    /// Sales open (default now).
    pub on_sale_at: Option<DateTime<Utc>>,
    /// Sales close (default at the start).
    pub off_sale_at: Option<DateTime<Utc>>,
    /// ISO 4217 currency of every price.
    pub currency: String,
    /// One price per category the map uses.
    pub prices: Vec<NewPrice>,
    /// Fee per ticket, minor units.
    #[serde(default)]
    pub fee_per_ticket: i64,
    /// Fee per order, minor units.
    #[serde(default)]
    pub fee_per_order: i64,
    /// Hold time in seconds (default 480).
    pub hold_ttl_secs: Option<u64>,
    /// The waiting room, if any.
    pub waiting_room: Option<WaitingRoomSettings>,
}

/// Creates a show: its inventory from the venue's map, its listing, its
/// prices and waiting room.
pub async fn add_show(state: &AppState, s: NewShow) -> ApiResult<ShowId> {
    let venue_id = VenueId(s.venue_id);
    let map = state.venue_maps.read().unwrap_or_else(|e| e.into_inner()).get(&venue_id).cloned();
    let map = map.ok_or_else(|| ApiError::invalid("this venue has no seat map on this server"))?;
    let event = state.stores.catalog.event(EventId(s.event_id)).await?.value;
    let venue = state.stores.catalog.venue(venue_id).await?.value;
    let mut spec =
        map.to_show_spec(format!("{} at {}", event.title, venue.name)).map_err(|e| ApiError::invalid(e.to_string()))?;
    if let Some(ttl) = s.hold_ttl_secs {
        if !(10..=3600).contains(&ttl) {
            return Err(ApiError::invalid("hold_ttl_secs must be 10 to 3600"));
        }
        spec.policy.hold_ttl = Duration::from_secs(ttl);
        spec.policy.max_hold_time = spec.policy.max_hold_time.max(spec.policy.hold_ttl * 3);
    }
    let currency = Currency::new(&s.currency).map_err(|e| ApiError::invalid(e.to_string()))?;
    let now = state.clock.now();
    let mut show =
        Show::new(event.id, venue.id, s.starts_at, s.on_sale_at.unwrap_or(now).min(s.starts_at)).with_id(spec.id);
    show.off_sale_at = s.off_sale_at;
    let mut table = BTreeMap::new();
    for p in &s.prices {
        let price = Money::new(p.minor, currency);
        show = show.with_price(PriceCategory(p.category), p.name.clone(), price);
        table.insert(PriceCategory(p.category), price);
    }
    show.validate().map_err(|e| ApiError::invalid(e.to_string()))?;
    let fees = FeePolicy { per_ticket: s.fee_per_ticket, per_order: s.fee_per_order };
    // Prices first: a show whose categories are not all priced is refused
    // before anything is created.
    state.prices.set_show(&spec, table, fees).map_err(|e| ApiError::invalid(e.to_string()))?;
    state.stores.inventory.create_show(&spec).await?;
    if let Err(e) = state.stores.catalog.create_show(&show).await {
        let _ = state.stores.inventory.archive_show(spec.id).await;
        return Err(e.into());
    }
    state.show_maps.write().unwrap_or_else(|e| e.into_inner()).insert(spec.id, map);
    if let Some(room) = s.waiting_room {
        apply_room(state, spec.id, &room).await?;
    }
    Ok(spec.id)
}

/// Switches `show`'s waiting room on (creating it) or off.
pub async fn apply_room(state: &AppState, show: ShowId, w: &WaitingRoomSettings) -> ApiResult<()> {
    let room = RoomId::for_show(show);
    let exists = match state.stores.rooms.room(room).await {
        Ok(_) => true,
        Err(AdmissionError::UnknownRoom(_)) => false,
        Err(e) => return Err(e.into()),
    };
    if w.enabled && !exists {
        let now_ms = state.clock.now_millis();
        let opens_at = booking_core::clock::millis_to_datetime(now_ms);
        let mut config = RoomConfig::new(room, opens_at, w.per_minute.unwrap_or(600), w.max_active.unwrap_or(1_000));
        config.session_ttl = Duration::from_secs(w.session_ttl_secs.unwrap_or(900));
        state.rooms.create_room(&config).await?;
        state.start_waves(show);
    } else if exists {
        let mode = if w.enabled { Mode::Queue } else { Mode::PassThrough };
        state.stores.rooms.set_mode(room, mode).await?;
        state.start_waves(show);
    }
    Ok(())
}

/// Creates a show.
///
/// Its venue must have a seat map on this server: a venue
/// created by `POST /api/admin/venues` since the server started (with a
/// `seatmap` or a `sample`), or a demo venue; for any other venue the
/// request is refused with 422 (`invalid_request`).
#[utoipa::path(post, path = "/api/admin/shows", tag = "admin", security(("bearer" = [])), request_body = NewShow,
    responses((status = 201, body = ShowDetail), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn create_show(
    State(state): State<AppState>,
    auth: Auth,
    Json(s): Json<NewShow>,
) -> ApiResult<(StatusCode, Json<ShowDetail>)> {
    auth.require(&[Role::Admin])?;
    let id = add_show(&state, s).await?;
    Ok((StatusCode::CREATED, Json(show_detail(&state, id).await?)))
}

/// Seats to take out of sale.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockRequest {
    /// Seat ids; each must be available.
    pub seats: Vec<u32>,
}

/// Seats blocked.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BlockResult {
    /// How many.
    pub blocked: u32,
}

/// Takes available seats out of sale (all or none).
#[utoipa::path(post, path = "/api/admin/shows/{show_id}/block", tag = "admin", security(("bearer" = [])),
    params(("show_id" = String, Path, format = Uuid, description = "The show")), request_body = BlockRequest,
    responses((status = 200, body = BlockResult), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn block_seats(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<Uuid>,
    Json(b): Json<BlockRequest>,
) -> ApiResult<Json<BlockResult>> {
    auth.require(&[Role::Admin])?;
    let seats: Vec<SeatId> = b.seats.into_iter().map(SeatId).collect();
    state.stores.inventory.block(ShowId(id), &seats).await?;
    Ok(Json(BlockResult { blocked: seats.len() as u32 }))
}

/// Opens or closes sales, and switches the waiting room.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OnSaleRequest {
    /// Open sales now, or close them now.
    pub open: bool,
    /// The waiting room.
    pub waiting_room: Option<WaitingRoomSettings>,
}

/// Opens or closes a show's sales now; switches its waiting room.
#[utoipa::path(put, path = "/api/admin/shows/{show_id}/onsale", tag = "admin", security(("bearer" = [])),
    params(("show_id" = String, Path, format = Uuid, description = "The show")), request_body = OnSaleRequest,
    responses((status = 200, body = ShowDetail), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn set_onsale(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<Uuid>,
    Json(req): Json<OnSaleRequest>,
) -> ApiResult<Json<ShowDetail>> {
    auth.require(&[Role::Admin])?;
    let show = ShowId(id);
    let current = state.stores.catalog.show(show).await?;
    let now = booking_core::clock::millis_to_datetime(state.clock.now_millis());
    let mut value = current.value.clone();
    if req.open {
        if now >= value.starts_at {
            return Err(ApiError::new(StatusCode::CONFLICT, "show_started", "the show has started"));
        }
        value.on_sale_at = value.on_sale_at.min(now);
        value.off_sale_at = None;
    } else {
        value.on_sale_at = value.on_sale_at.min(now - chrono::TimeDelta::seconds(1));
        value.off_sale_at = Some(now);
    }
    if value != current.value {
        state.stores.catalog.update_show(&Update { value, version: current.version }).await?;
    }
    if let Some(room) = &req.waiting_room {
        apply_room(&state, show, room).await?;
    }
    Ok(Json(show_detail(&state, show).await?))
}
