//! Apple Wallet passes of tickets.

use super::orders::{own_ticket_and_sale, ticket_notices};
use super::{Auth, Path};
use crate::problem::{ApiError, ApiResult, Problem};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use booking_core::delivery::wallet::{APPLE_PASS_MEDIA_TYPE, PassFile, apple_pass};
use std::time::SystemTime;
use uuid::Uuid;

/// One of the caller's tickets as a signed Apple Wallet pass (when a
/// pass-signing certificate is configured; 404 otherwise).
#[utoipa::path(get, path = "/api/tickets/{ticket_id}/wallet.pkpass", tag = "orders", security(("bearer" = [])),
    params(("ticket_id" = String, Path, format = Uuid, description = "The ticket")),
    responses((status = 200, content_type = "application/vnd.apple.pkpass", body = Vec<u8>,
        description = "The pass: a zip archive with pass.json, manifest.json, signature and icon.png"),
        (status = 401, body = Problem), (status = 404, body = Problem), (status = 503, body = Problem)))]
pub async fn apple_wallet_pass(State(state): State<AppState>, auth: Auth, Path(id): Path<Uuid>) -> ApiResult<Response> {
    let Some(apple) = &state.apple_wallet else { return Err(ApiError::not_found("ticket")) };
    let (ticket, sale) = own_ticket_and_sale(&state, &auth, id).await?;
    let notices = ticket_notices(&state, &sale, std::slice::from_ref(&ticket)).await?;
    let Some(notice) = notices.and_then(|n| n.into_iter().next()) else {
        return Err(ApiError::not_found("ticket"));
    };
    let icon = apple.icon_png.clone().unwrap_or_else(|| notice.qr_png.clone());
    let files = [PassFile::new("icon.png", icon)];
    let pass = apple_pass(&notice, &apple.settings, &files, &apple.signer, SystemTime::now())
        .map_err(ApiError::unavailable)?;
    let mut res = pass.into_response();
    let headers = res.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(APPLE_PASS_MEDIA_TYPE));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    headers.insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=\"ticket.pkpass\""));
    Ok(res)
}
