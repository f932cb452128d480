//! Login, logout, the current user.

use super::{Auth, Json, client_ip};
use crate::auth::User;
use crate::problem::{ApiError, ApiResult, Problem};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::request::Parts;
use booking_core::limits::RequestIdentity;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Credentials.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Email address.
    pub email: String,
    /// Password.
    pub password: String,
}

/// A new session.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LoginResponse {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    /// Who signed in.
    pub user: User,
}

/// The client address, for handlers without a session.
pub struct ClientIp(pub std::net::IpAddr);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(client_ip(parts)))
    }
}

/// Signs in.
#[utoipa::path(post, path = "/api/login", tag = "session", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = Problem), (status = 429, body = Problem)))]
pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(req): Json<LoginRequest>,
) -> ApiResult<Json<LoginResponse>> {
    // Per address: no account to name before the password is checked.
    let who = RequestIdentity::default().with_ip(ip);
    state.guards.login.admit(&who).await?;
    if req.email.len() > 254 || req.password.len() > 1024 {
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "invalid_credentials", "wrong email or password"));
    }
    let accounts = state.clone();
    let (token, user) = tokio::task::spawn_blocking(move || accounts.accounts.login(&req.email, &req.password))
        .await
        .map_err(ApiError::unavailable)??;
    Ok(Json(LoginResponse { token, user }))
}

/// Signs out: the token stops working.
#[utoipa::path(post, path = "/api/logout", tag = "session", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem)))]
pub async fn logout(State(state): State<AppState>, auth: Auth) -> StatusCode {
    state.accounts.logout(&auth.token);
    StatusCode::NO_CONTENT
}

/// The signed-in user.
#[utoipa::path(get, path = "/api/me", tag = "session", security(("bearer" = [])),
    responses((status = 200, body = User), (status = 401, body = Problem)))]
pub async fn me(auth: Auth) -> Json<User> {
    Json(auth.user)
}
