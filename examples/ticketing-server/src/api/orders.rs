//! Checkout, orders, tickets and scanning.

use super::catalog::MoneyView;
use super::holds::own_hold;
use super::{Auth, Json, Path};
use crate::auth::Role;
use crate::payments::method_for_card;
use crate::problem::{ApiError, ApiResult, Problem};
use crate::state::{AppState, seat_label};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use booking_core::checkout::{CheckoutRequest, Order, OrderStatus, Receipt, Refusal};
use booking_core::delivery::wallet::google_save_link;
use booking_core::delivery::{HolderContacts, TicketNotice, WalletLinks};
use booking_core::idempotency::IdempotencyKey;
use booking_core::tickets::{
    CheckIn, CheckInError, DeviceId, GateId, IssuedTicket, RotationPolicy, ScanRefusal, ScannerSync, TicketClaims,
    TicketItem,
};
use booking_core::{OrderId, Sale, ShowId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A test card.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentRequest {
    /// A test card number: `4242424242424242` pays, `4000000000000002`
    /// is declined; 12 to 19 digits (spaces and dashes ignored) passing
    /// the Luhn check, 422 otherwise.
    #[schema(pattern = "^[0-9 -]{12,30}$")]
    pub card: String,
}

/// Pay for a hold.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutBody {
    /// The caller's hold.
    #[schema(value_type = String, format = Uuid)]
    pub hold_id: Uuid,
    /// How to pay.
    pub payment: PaymentRequest,
}

/// Wallet links of a ticket.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct WalletView {
    /// Apple Wallet pass (`/api/tickets/{ticket_id}/wallet.pkpass`);
    /// absent unless a pass-signing certificate is configured
    /// (`apple_wallet` in the configuration file).
    pub apple_url: Option<String>,
    /// Google Wallet save link; absent unless a Google Wallet issuer is
    /// configured (`google_wallet` in the configuration file).
    pub google_url: Option<String>,
}

/// A ticket.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TicketView {
    /// The ticket.
    #[schema(value_type = String, format = Uuid)]
    pub ticket_id: Uuid,
    /// Its order.
    #[schema(value_type = String, format = Uuid)]
    pub order_id: Uuid,
    /// The show.
    #[schema(value_type = String, format = Uuid)]
    pub show_id: Uuid,
    /// The seat, for a reserved seat.
    pub seat_id: Option<u32>,
    /// "Section, row R, seat N", or the area's name.
    pub seat: String,
    /// The QR code's text (what a scanner reads).
    pub qr_text: String,
    /// The QR code as SVG.
    pub qr_svg_url: String,
    /// Wallet passes.
    pub wallet: WalletView,
}

/// An order.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct OrderView {
    /// The order.
    #[schema(value_type = String, format = Uuid)]
    pub order_id: Uuid,
    /// `completed`, `declined`, `refunded`, `needs_attention`, or a step
    /// in progress (`created`, `authorized`, `captured`, `sold`, ...).
    pub status: String,
    /// The total (charged when completed).
    pub total: MoneyView,
    /// The show.
    #[schema(value_type = String, format = Uuid)]
    pub show_id: Option<Uuid>,
    /// Why it was declined or refunded.
    pub reason: Option<String>,
    /// When it was created (absent in a checkout's answer).
    pub created_at: Option<DateTime<Utc>>,
    /// The tickets, once completed.
    pub tickets: Vec<TicketView>,
}

/// An order status as a word.
pub fn status_word(s: OrderStatus) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .map_or_else(|| format!("{s:?}"), |w| to_snake(&w))
}

fn to_snake(s: &str) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The tickets of a sale: issued again on demand (ids and signatures are
/// deterministic, so these are the tickets fulfilment sent), with wallet
/// links when a wallet issuer is configured.
async fn tickets_of(state: &AppState, sale: &Sale) -> ApiResult<Vec<TicketView>> {
    let issued = state.issuer.issue_for(sale, None).map_err(ApiError::unavailable)?;
    let spec = state.spec(sale.show).await?;
    let mut views: Vec<TicketView> = issued.iter().map(|t| ticket_view(&spec, t)).collect();
    if state.apple_wallet.is_some() {
        for view in &mut views {
            view.wallet.apple_url = Some(format!("/api/tickets/{}/wallet.pkpass", view.ticket_id));
        }
    }
    if let Some(google) = &state.google_wallet
        && let Some(notices) = ticket_notices(state, sale, &views).await?
    {
        for (view, notice) in views.iter_mut().zip(&notices) {
            view.wallet.google_url = Some(google_save_link(notice, google).map_err(ApiError::unavailable)?);
        }
    }
    Ok(views)
}

/// What a wallet pass shows of each of `views` (tickets of `sale`); `None`
/// when the buyer has no contact to put on them.
pub(super) async fn ticket_notices(
    state: &AppState,
    sale: &Sale,
    views: &[TicketView],
) -> ApiResult<Option<Vec<TicketNotice>>> {
    let listing = state.stores.catalog.listing(sale.show).await?;
    let contact = state.contacts.contact_of(sale.owner).await.map_err(ApiError::unavailable)?;
    let Some(contact) = contact else { return Ok(None) };
    let mut notices = Vec::with_capacity(views.len());
    for view in views {
        let png = booking_core::tickets::qr::png(&view.qr_text, 4).map_err(ApiError::unavailable)?;
        notices.push(TicketNotice {
            ticket_id: view.ticket_id.to_string(),
            order: sale.order,
            show: sale.show,
            holder: sale.owner,
            contact: contact.clone(),
            holder_name: None,
            show_title: listing.event.title.clone(),
            venue: listing.venue.name.clone(),
            starts_at: listing.show.starts_at,
            ends_at: listing.show.starts_at + booking_core::fulfilment::DEFAULT_SHOW_DURATION,
            seat: view.seat.clone(),
            barcode: view.qr_text.clone(),
            qr_png: png,
            wallet: WalletLinks::default(),
            issued_at: listing.show.on_sale_at,
        });
    }
    Ok(Some(notices))
}

fn ticket_view(spec: &booking_core::ShowSpec, t: &IssuedTicket) -> TicketView {
    let c = &t.claims;
    let (seat_id, seat) = match c.item {
        TicketItem::Seat(s) => (Some(s.0), seat_label(spec, s)),
        TicketItem::Pool(p) => (None, spec.pool(p).map_or_else(|| format!("area {}", p.0), |p| p.name.clone())),
    };
    TicketView {
        ticket_id: c.ticket.0,
        order_id: c.order.0,
        show_id: c.show.0,
        seat_id,
        seat,
        qr_text: t.qr_text(&RotationPolicy::default(), 0),
        qr_svg_url: format!("/api/tickets/{}/qr.svg", c.ticket.0),
        wallet: WalletView { apple_url: None, google_url: None },
    }
}

async fn receipt_view(state: &AppState, r: &Receipt, created_at: Option<DateTime<Utc>>) -> ApiResult<OrderView> {
    let tickets = match (&r.sale, r.status) {
        (Some(sale), OrderStatus::Completed) => tickets_of(state, sale).await?,
        _ => Vec::new(),
    };
    Ok(OrderView {
        order_id: r.order.0,
        status: status_word(r.status),
        total: r.total.into(),
        show_id: r.sale.as_ref().map(|s| s.show.0),
        reason: r.reason.clone(),
        created_at,
        tickets,
    })
}

async fn order_view(state: &AppState, o: &Order) -> ApiResult<OrderView> {
    let receipt = Receipt {
        order: o.id,
        status: o.status,
        total: o.priced.total,
        sale: o.sale.clone(),
        reason: o.reason.clone(),
    };
    let mut v = receipt_view(state, &receipt, Some(o.created_at)).await?;
    v.show_id = Some(o.show.0);
    Ok(v)
}

/// Pays for a hold with a test card: the checkout saga, once per
/// `Idempotency-Key`. The same request again gets the same answer; the
/// same key with another request is refused (422).
#[utoipa::path(post, path = "/api/checkout", tag = "orders", security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header, description = "1 to 255 bytes, new for each purchase")),
    request_body = CheckoutBody,
    responses((status = 201, description = "Paid: the order with its tickets", body = OrderView),
        (status = 402, description = "Declined: the order, without tickets", body = OrderView),
        (status = 202, body = Problem), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem),
        (status = 429, body = Problem)))]
pub async fn checkout(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    Json(body): Json<CheckoutBody>,
) -> ApiResult<Response> {
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .filter(|k| !k.is_empty() && k.len() <= 255)
        .ok_or_else(|| ApiError::bad_request("send an Idempotency-Key header (1 to 255 bytes)"))?
        .to_owned();
    let method = method_for_card(&body.payment.card)
        .ok_or_else(|| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_card", "not a card number"))?;
    let hold = own_hold(&state, &auth, body.hold_id)?;
    state.guards.checkout.admit(&auth.identity()).await?;
    let req = CheckoutRequest { buyer: auth.user.owner(), key: IdempotencyKey(key), hold: hold.token, method };
    // The saga runs to its end even if the client goes away; shutdown
    // waits for it.
    let running = state.checkout_started();
    let worker = state.clone();
    let reply = tokio::spawn(async move {
        let r = worker.checkout.checkout(&req).await;
        drop(running);
        r
    })
    .await
    .map_err(ApiError::unavailable)??;
    let status = StatusCode::from_u16(reply.response.status).unwrap_or(StatusCode::OK);
    let mut res = if let Ok(receipt) = serde_json::from_slice::<Receipt>(&reply.response.body) {
        metrics::counter!("booking_checkouts_total", "status" => status_word(receipt.status)).increment(1);
        (status, Json(receipt_view(&state, &receipt, None).await?)).into_response()
    } else {
        let refusal: Refusal = serde_json::from_slice(&reply.response.body)
            .unwrap_or(Refusal { error: "the checkout was refused".into() });
        let code = if status == StatusCode::CONFLICT { "hold_invalid" } else { "checkout_refused" };
        ApiError::new(status, code, refusal.error).into_response()
    };
    if reply.replay {
        res.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(res)
}

/// The caller's orders, newest first.
#[utoipa::path(get, path = "/api/orders", tag = "orders", security(("bearer" = [])),
    responses((status = 200, body = [OrderView]), (status = 401, body = Problem)))]
pub async fn list_orders(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Vec<OrderView>>> {
    let mut orders = state.stores.saga_log.by_buyer(auth.user.owner()).await?;
    orders.sort_by_key(|o| std::cmp::Reverse(o.created_at));
    let mut out = Vec::with_capacity(orders.len());
    for o in &orders {
        out.push(order_view(&state, o).await?);
    }
    Ok(Json(out))
}

async fn own_order(state: &AppState, auth: &Auth, id: Uuid) -> ApiResult<Order> {
    match state.stores.saga_log.get(OrderId(id)).await? {
        Some(o) if o.buyer == auth.user.owner() => Ok(o),
        _ => Err(ApiError::not_found("order")),
    }
}

/// One of the caller's orders.
#[utoipa::path(get, path = "/api/orders/{order_id}", tag = "orders", security(("bearer" = [])),
    params(("order_id" = String, Path, format = Uuid, description = "The order")),
    responses((status = 200, body = OrderView), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn get_order(State(state): State<AppState>, auth: Auth, Path(id): Path<Uuid>) -> ApiResult<Json<OrderView>> {
    let order = own_order(&state, &auth, id).await?;
    Ok(Json(order_view(&state, &order).await?))
}

/// One of the caller's tickets, found among their completed orders.
async fn own_ticket(state: &AppState, auth: &Auth, id: Uuid) -> ApiResult<TicketView> {
    Ok(own_ticket_and_sale(state, auth, id).await?.0)
}

/// One of the caller's tickets with the sale it is part of; 404 for a
/// ticket of someone else.
pub(super) async fn own_ticket_and_sale(state: &AppState, auth: &Auth, id: Uuid) -> ApiResult<(TicketView, Sale)> {
    for o in state.stores.saga_log.by_buyer(auth.user.owner()).await? {
        if let (Some(sale), OrderStatus::Completed) = (&o.sale, o.status)
            && let Some(t) = tickets_of(state, sale).await?.into_iter().find(|t| t.ticket_id == id)
        {
            return Ok((t, sale.clone()));
        }
    }
    Err(ApiError::not_found("ticket"))
}

/// One of the caller's tickets, with its QR text and links.
#[utoipa::path(get, path = "/api/tickets/{ticket_id}", tag = "orders", security(("bearer" = [])),
    params(("ticket_id" = String, Path, format = Uuid, description = "The ticket")),
    responses((status = 200, body = TicketView), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn get_ticket(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<TicketView>> {
    Ok(Json(own_ticket(&state, &auth, id).await?))
}

/// A ticket's QR code as SVG.
#[utoipa::path(get, path = "/api/tickets/{ticket_id}/qr.svg", tag = "orders", security(("bearer" = [])),
    params(("ticket_id" = String, Path, format = Uuid, description = "The ticket")),
    responses((status = 200, content_type = "image/svg+xml", body = String), (status = 401, body = Problem),
        (status = 404, body = Problem)))]
pub async fn ticket_qr(State(state): State<AppState>, auth: Auth, Path(id): Path<Uuid>) -> ApiResult<Response> {
    let t = own_ticket(&state, &auth, id).await?;
    let svg = booking_core::tickets::qr::svg(&t.qr_text, 256).map_err(ApiError::unavailable)?;
    let mut res = svg.into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("image/svg+xml"));
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=3600"));
    Ok(res)
}

/// A scanned code.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScanRequest {
    /// The QR code's text.
    pub code: String,
}

/// A gate's decision.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ScanResult {
    /// Let in.
    pub admitted: bool,
    /// Why not: `not_a_ticket`, `bad_signature`, `unknown_ticket`,
    /// `superseded`, `already_checked_in`, ...
    pub reason: Option<String>,
    /// For people.
    pub detail: Option<String>,
    /// The ticket, when the code verified.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub ticket_id: Option<Uuid>,
    /// The show, when the code verified.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub show_id: Option<Uuid>,
    /// The seat, when the code verified.
    pub seat: Option<String>,
}

fn refused(reason: &str, detail: String, claims: Option<&TicketClaims>) -> ScanResult {
    ScanResult {
        admitted: false,
        reason: Some(reason.to_owned()),
        detail: Some(detail),
        ticket_id: claims.map(|c| c.ticket.0),
        show_id: claims.map(|c| c.show.0),
        seat: None,
    }
}

/// Scans a ticket at the gate (scanner or admin role): verifies the
/// signature, then checks it in; a second scan is refused.
#[utoipa::path(post, path = "/api/scan", tag = "orders", security(("bearer" = [])), request_body = ScanRequest,
    responses((status = 200, body = ScanResult), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 422, body = Problem)))]
pub async fn scan(
    State(state): State<AppState>,
    auth: Auth,
    Json(req): Json<ScanRequest>,
) -> ApiResult<Json<ScanResult>> {
    auth.require(&[Role::Scanner, Role::Admin])?;
    let code = req.code.trim();
    let claims = match booking_core::tickets::codec::parse_text(code).and_then(|p| TicketClaims::decode_body(&p.body)) {
        Ok(c) => c,
        Err(e) => return Ok(Json(refused("not_a_ticket", e.to_string(), None))),
    };
    let show: ShowId = claims.show;
    let revocations = state.stores.checkins.revocations(show).await.map_err(ApiError::unavailable)?;
    let sync = ScannerSync {
        show,
        keys: state.issuer.keys().public(),
        revocations,
        rotation: None,
        policy: RotationPolicy::default(),
    };
    let verified = match booking_core::tickets::scanner::verify_with(&sync, code, state.clock.now_millis()) {
        Ok(v) => v,
        Err(e) => {
            let reason = match e {
                ScanRefusal::BadSignature => "bad_signature",
                ScanRefusal::UnknownKey(_) => "unknown_key",
                ScanRefusal::Revoked { .. } => "superseded",
                _ => "not_a_ticket",
            };
            return Ok(Json(refused(reason, e.to_string(), Some(&claims))));
        }
    };
    let device = DeviceId::new("web-scanner").map_err(ApiError::unavailable)?;
    let gate = GateId::new("main").map_err(ApiError::unavailable)?;
    let c = verified.claims;
    match state.stores.checkins.check_in(&CheckIn::new(&c, device, gate)).await {
        Ok(_) => {
            let spec = state.spec(c.show).await?;
            let seat = match c.item {
                TicketItem::Seat(s) => seat_label(&spec, s),
                TicketItem::Pool(p) => spec.pool(p).map_or_else(String::new, |p| p.name.clone()),
            };
            metrics::counter!("booking_scans_total", "outcome" => "admitted").increment(1);
            Ok(Json(ScanResult {
                admitted: true,
                reason: None,
                detail: None,
                ticket_id: Some(c.ticket.0),
                show_id: Some(c.show.0),
                seat: Some(seat),
            }))
        }
        Err(e) => {
            let reason = match &e {
                CheckInError::AlreadyCheckedIn(_) => "already_checked_in",
                CheckInError::UnknownTicket { .. } => "unknown_ticket",
                CheckInError::Superseded { .. } => "superseded",
                CheckInError::NotHolder { .. } => "not_holder",
                CheckInError::UnknownVersion { .. } => "unknown_version",
                CheckInError::Backend(_) => return Err(ApiError::unavailable(e)),
                _ => "refused",
            };
            metrics::counter!("booking_scans_total", "outcome" => "refused").increment(1);
            Ok(Json(refused(reason, e.to_string(), Some(&c))))
        }
    }
}
