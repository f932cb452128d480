//! The JSON API: extractors shared by the handlers, and the routes.

pub mod admin;
pub mod cache;
pub mod catalog;
pub mod holds;
pub mod orders;
pub mod queue;
pub mod seats;
pub mod session;
pub mod wallet;

use crate::auth::{Role, User};
use crate::problem::ApiError;
use crate::state::AppState;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use booking_core::limits::RequestIdentity;
use serde::Serialize;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// A JSON body (or response); a body that does not parse, or has fields
/// the request does not know, is a problem document.
#[derive(Debug, Clone, Copy, Default, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Json<T>(pub T);

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// Query parameters; bad ones are a 400 problem.
#[derive(Debug, Clone, Copy, Default, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

/// Path parameters; ones that do not parse are a 404 problem.
#[derive(Debug, Clone, Copy, Default, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

/// The signed-in user (`Authorization: Bearer <token>`); 401 otherwise.
#[derive(Clone, Debug)]
pub struct Auth {
    /// The user.
    pub user: User,
    /// The session token.
    pub token: String,
    /// The client's address.
    pub ip: IpAddr,
}

impl Auth {
    /// The identity the rate limits and blacklist see.
    pub fn identity(&self) -> RequestIdentity {
        RequestIdentity::account(self.user.owner()).with_ip(self.ip)
    }

    /// 403 unless the user has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.contains(&self.user.role) { Ok(()) } else { Err(ApiError::forbidden("your role may not do this")) }
    }
}

/// The client's address: the connection's peer, or loopback when the app
/// is driven in process.
pub fn client_ip(parts: &Parts) -> IpAddr {
    parts.extensions.get::<ConnectInfo<SocketAddr>>().map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |c| c.0.ip())
}

/// The bearer token of a request, if any.
pub fn bearer(parts: &Parts) -> Option<&str> {
    parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ").map(str::trim)
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts).ok_or_else(ApiError::unauthorized)?;
        let user = state.accounts.session(token).ok_or_else(ApiError::unauthorized)?;
        Ok(Auth { user, token: token.to_owned(), ip: client_ip(parts) })
    }
}

/// The API's routes, with their OpenAPI descriptions.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(session::login))
        .routes(routes!(session::logout))
        .routes(routes!(session::me))
        .merge(
            OpenApiRouter::new()
                .routes(routes!(catalog::search_events))
                .routes(routes!(catalog::get_event))
                .routes(routes!(catalog::get_show))
                .layer(axum::middleware::from_fn(cache::public_reads)),
        )
        .routes(routes!(seats::seatmap_svg))
        .routes(routes!(seats::seat_states))
        .routes(routes!(seats::live))
        .routes(routes!(queue::join, queue::status))
        .routes(routes!(holds::create_hold))
        .routes(routes!(holds::extend_hold))
        .routes(routes!(holds::release_hold))
        .routes(routes!(orders::checkout))
        .routes(routes!(orders::list_orders))
        .routes(routes!(orders::get_order))
        .routes(routes!(orders::get_ticket))
        .routes(routes!(orders::ticket_qr))
        .routes(routes!(wallet::apple_wallet_pass))
        .routes(routes!(orders::scan))
        .routes(routes!(admin::create_venue))
        .routes(routes!(admin::create_event))
        .routes(routes!(admin::create_show))
        .routes(routes!(admin::block_seats))
        .routes(routes!(admin::set_onsale))
}
