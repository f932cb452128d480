//! Events and shows: search, an event with its shows, a show's details.

use super::{Json, Path, Query};
use crate::problem::{ApiError, ApiResult, Problem};
use crate::state::AppState;
use axum::extract::State;
use booking_core::admission::{Mode, RoomId};
use booking_core::catalog::{Availability, ListShows, Listing, MAX_LIMIT, MAX_OFFSET, SearchQuery, ShowFilter};
use booking_core::ids::EventId;
use booking_core::{Money, ShowId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// An amount of money.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct MoneyView {
    /// Minor units (cents).
    pub minor: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// For people: `EUR 45.00`.
    pub formatted: String,
}

impl From<Money> for MoneyView {
    fn from(m: Money) -> Self {
        MoneyView { minor: m.minor, currency: m.currency.to_string(), formatted: m.to_string() }
    }
}

/// A listing's availability as a word.
pub fn availability_word(a: Availability) -> &'static str {
    match a {
        Availability::Upcoming => "upcoming",
        Availability::OnSale => "on_sale",
        Availability::SellingFast => "selling_fast",
        Availability::SoldOut => "sold_out",
        Availability::SalesEnded => "sales_ended",
    }
}

/// A show in search results.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ShowSummary {
    /// The show.
    #[schema(value_type = String, format = Uuid)]
    pub show_id: Uuid,
    /// When it starts.
    pub starts_at: DateTime<Utc>,
    /// The venue's name.
    pub venue: String,
    /// The venue's city.
    pub city: String,
    /// `upcoming`, `on_sale`, `selling_fast`, `sold_out`, `sales_ended`.
    pub availability: String,
    /// Seats and places free to hold at the last availability refresh.
    pub available: Option<u32>,
    /// The lowest price with something left.
    pub from_price: Option<MoneyView>,
}

/// An event with its matching shows.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct EventSummary {
    /// The event.
    #[schema(value_type = String, format = Uuid)]
    pub event_id: Uuid,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Categories ("music", "comedy").
    pub categories: Vec<String>,
    /// Performers.
    pub performers: Vec<String>,
    /// The venue of its first show listed.
    pub venue: String,
    /// The city of its first show listed.
    pub city: String,
    /// Its shows, soonest or best match first.
    pub shows: Vec<ShowSummary>,
}

/// Search results.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SearchResponse {
    /// Events, best first, each with its matching shows on this page.
    pub results: Vec<EventSummary>,
    /// Shows matching, on every page.
    pub total: u64,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

/// Search parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Words to search for (title, performers, categories, venue,
    /// description); empty lists shows soonest first.
    pub q: Option<String>,
    /// Only this event category.
    pub category: Option<String>,
    /// Only this city.
    pub city: Option<String>,
    /// Only shows starting at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Only shows starting before this instant (after `from` when both
    /// are given; otherwise 422).
    pub to: Option<DateTime<Utc>>,
    /// Shows per page (1 to 100, default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// From a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

fn summary(l: &Listing) -> ShowSummary {
    ShowSummary {
        show_id: l.show.id.0,
        starts_at: l.show.starts_at,
        venue: l.venue.name.clone(),
        city: l.venue.city.clone(),
        availability: availability_word(l.availability).to_owned(),
        available: l.summary.as_ref().map(|s| s.available),
        from_price: l.from_price().map(MoneyView::from),
    }
}

/// Groups listings by event, keeping the order of each event's first.
fn group(listings: &[Listing]) -> Vec<EventSummary> {
    let mut out: Vec<EventSummary> = Vec::new();
    for l in listings {
        match out.iter_mut().find(|e| e.event_id == l.event.id.0) {
            Some(e) => e.shows.push(summary(l)),
            None => out.push(EventSummary {
                event_id: l.event.id.0,
                title: l.event.title.clone(),
                description: l.event.description.clone(),
                categories: l.event.categories.clone(),
                performers: l.event.performers.clone(),
                venue: l.venue.name.clone(),
                city: l.venue.city.clone(),
                shows: vec![summary(l)],
            }),
        }
    }
    out
}

/// Searches events and shows.
#[utoipa::path(get, path = "/api/events", tag = "catalog", params(SearchParams),
    responses((status = 200, body = SearchResponse, headers(("ETag" = String), ("Cache-Control" = String))),
        (status = 304, description = "Not modified (If-None-Match)"), (status = 400, body = Problem), (status = 422, body = Problem)))]
pub async fn search_events(
    State(state): State<AppState>,
    Query(p): Query<SearchParams>,
) -> ApiResult<Json<SearchResponse>> {
    let limit = p.limit.unwrap_or(20);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid(format!("limit must be 1 to {MAX_LIMIT}")));
    }
    let offset = match p.cursor.as_deref() {
        None | Some("") => 0,
        Some(c) => c.parse::<u32>().ok().filter(|o| *o <= MAX_OFFSET).ok_or_else(|| ApiError::invalid("bad cursor"))?,
    };
    let filter = ShowFilter {
        starts_from: p.from,
        starts_before: p.to,
        city: p.city.filter(|c| !c.trim().is_empty()),
        category: p.category.filter(|c| !c.trim().is_empty()),
        ..ShowFilter::default()
    };
    let text = p.q.unwrap_or_default();
    let (listings, total) = if text.trim().is_empty() {
        let page = state.stores.catalog.list(&ListShows { filter, limit, offset }).await?;
        (page.items, page.total)
    } else {
        let query = SearchQuery { text, filter, limit, offset };
        let page = state.stores.catalog.search(&query).await?;
        (page.items.into_iter().map(|h| h.listing).collect::<Vec<_>>(), page.total)
    };
    let next = u64::from(offset) + listings.len() as u64;
    let next_cursor = (next < total && next <= u64::from(MAX_OFFSET) && !listings.is_empty()).then(|| next.to_string());
    Ok(Json(SearchResponse { results: group(&listings), total, next_cursor }))
}

/// An event and its shows on sale or upcoming.
#[utoipa::path(get, path = "/api/events/{event_id}", tag = "catalog",
    params(("event_id" = String, Path, format = Uuid, description = "The event")),
    responses((status = 200, body = EventSummary, headers(("ETag" = String), ("Cache-Control" = String))),
        (status = 304, description = "Not modified (If-None-Match)"), (status = 404, body = Problem)))]
pub async fn get_event(State(state): State<AppState>, Path(id): Path<Uuid>) -> ApiResult<Json<EventSummary>> {
    let event = state.stores.catalog.event(EventId(id)).await?;
    if event.archived {
        return Err(ApiError::not_found("event"));
    }
    let filter = ShowFilter { event: Some(EventId(id)), ..ShowFilter::default() };
    let page = state.stores.catalog.list(&ListShows { filter, limit: MAX_LIMIT, offset: 0 }).await?;
    let mut found = group(&page.items);
    Ok(Json(found.pop().unwrap_or(EventSummary {
        event_id: id,
        title: event.value.title,
        description: event.value.description,
        categories: event.value.categories,
        performers: event.value.performers,
        venue: String::new(),
        city: String::new(),
        shows: Vec::new(),
    })))
}

/// A venue.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct VenueView {
    /// The venue.
    #[schema(value_type = String, format = Uuid)]
    pub venue_id: Uuid,
    /// Name.
    pub name: String,
    /// City.
    pub city: String,
    /// Street address.
    pub address: String,
}

/// A price level.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PriceView {
    /// The price category (the seat map's category id).
    pub category: u16,
    /// Its name.
    pub name: String,
    /// Price of one seat or place.
    pub price: MoneyView,
}

/// A general-admission area.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AreaView {
    /// The pool id to hold from.
    pub pool_id: u32,
    /// Name.
    pub name: String,
    /// Places for sale.
    pub capacity: u32,
    /// Price category.
    pub category: u16,
}

/// A show's waiting room.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct WaitingRoomView {
    /// Holds need an admission token (`X-Admission-Token`).
    pub enabled: bool,
    /// `queue`, `pass_through`, `closed`, or `none`.
    pub mode: String,
}

/// A show.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ShowDetail {
    /// The show.
    #[schema(value_type = String, format = Uuid)]
    pub show_id: Uuid,
    /// Its event.
    #[schema(value_type = String, format = Uuid)]
    pub event_id: Uuid,
    /// The event's title.
    pub title: String,
    /// The event's description.
    pub description: String,
    /// The venue.
    pub venue: VenueView,
    /// Start.
    pub starts_at: DateTime<Utc>,
    /// Sales open.
    pub on_sale_at: DateTime<Utc>,
    /// Sales close (else at the start).
    pub off_sale_at: Option<DateTime<Utc>>,
    /// `upcoming`, `on_sale`, `selling_fast`, `sold_out`, `sales_ended`.
    pub availability: String,
    /// Tickets can be bought now.
    pub on_sale: bool,
    /// Prices per category.
    pub prices: Vec<PriceView>,
    /// How long a hold lasts, in seconds.
    pub hold_ttl_secs: u64,
    /// Most seats in one hold.
    pub max_per_request: u32,
    /// Reserved seats.
    pub seats: u32,
    /// General-admission areas.
    pub areas: Vec<AreaView>,
    /// The waiting room.
    pub waiting_room: WaitingRoomView,
}

/// A show's details as the API shows them.
pub async fn show_detail(state: &AppState, id: ShowId) -> ApiResult<ShowDetail> {
    let listing = state.stores.catalog.listing(id).await?;
    let spec = state.stores.inventory.show_spec(id).await?;
    let now = state.clock.now();
    let availability = Availability::at(now, &listing.show, listing.summary.as_ref());
    let mode = match state.stores.rooms.room(RoomId::for_show(id)).await {
        Ok(r) => Some(r.config.mode),
        Err(booking_core::admission::AdmissionError::UnknownRoom(_)) => None,
        Err(e) => return Err(e.into()),
    };
    let l = listing;
    Ok(ShowDetail {
        show_id: id.0,
        event_id: l.event.id.0,
        title: l.event.title.clone(),
        description: l.event.description.clone(),
        venue: VenueView {
            venue_id: l.venue.id.0,
            name: l.venue.name.clone(),
            city: l.venue.city.clone(),
            address: l.venue.address.clone(),
        },
        starts_at: l.show.starts_at,
        on_sale_at: l.show.on_sale_at,
        off_sale_at: l.show.off_sale_at,
        availability: availability_word(availability).to_owned(),
        on_sale: availability.is_buyable() || availability == Availability::SoldOut,
        prices: l
            .show
            .prices
            .iter()
            .map(|p| PriceView { category: p.category.0, name: p.name.clone(), price: p.price.into() })
            .collect(),
        hold_ttl_secs: spec.policy.hold_ttl.as_secs(),
        max_per_request: spec.policy.max_per_request,
        seats: spec.layout.seat_count() as u32,
        areas: spec
            .pools
            .iter()
            .enumerate()
            .map(|(i, p)| AreaView {
                pool_id: i as u32,
                name: p.name.clone(),
                capacity: p.capacity,
                category: p.category.0,
            })
            .collect(),
        waiting_room: WaitingRoomView {
            enabled: matches!(mode, Some(Mode::Queue | Mode::Closed)),
            mode: mode
                .map_or("none", |m| match m {
                    Mode::Queue => "queue",
                    Mode::PassThrough => "pass_through",
                    Mode::Closed => "closed",
                })
                .to_owned(),
        },
    })
}

/// A show: venue, prices per category, on-sale state, hold TTL.
#[utoipa::path(get, path = "/api/shows/{show_id}", tag = "catalog",
    params(("show_id" = String, Path, format = Uuid, description = "The show")),
    responses((status = 200, body = ShowDetail, headers(("ETag" = String), ("Cache-Control" = String))),
        (status = 304, description = "Not modified (If-None-Match)"), (status = 404, body = Problem)))]
pub async fn get_show(State(state): State<AppState>, Path(id): Path<Uuid>) -> ApiResult<Json<ShowDetail>> {
    Ok(Json(show_detail(&state, ShowId(id)).await?))
}
