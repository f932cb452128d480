//! Caching of public reads: an ETag over what is sent, a short `max-age`,
//! and `304 Not Modified` when the client already has it, so an edge cache
//! in front of the server can absorb a herd reading the same catalog pages
//! and seat maps.

use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// How long a client or an edge cache may reuse a public read unasked.
pub const PUBLIC_CACHE: &str = "public, max-age=5";

/// The most a cached read's body may be (catalog pages are far smaller).
const MAX_BODY: usize = 8 << 20;

/// Whether the request's `If-None-Match` names `tag` (or `*`). The
/// comparison is the weak one `If-None-Match` calls for (RFC 9110, 13.1.2):
/// `W/"x"` matches `"x"`.
pub fn not_modified(headers: &HeaderMap, tag: &str) -> bool {
    let tag = tag.trim_start_matches("W/");
    headers.get_all(header::IF_NONE_MATCH).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(|t| {
        let t = t.trim();
        t == "*" || t.trim_start_matches("W/") == tag
    })
}

/// A body with its ETag `tag` and `Cache-Control: cache`, or `304 Not
/// Modified` with no body when the request's `If-None-Match` names `tag`.
pub fn cached(
    headers: &HeaderMap,
    tag: &str,
    cache: &'static str,
    content_type: &'static str,
    body: Vec<u8>,
) -> Response {
    let mut res = if not_modified(headers, tag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = body.into_response();
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        r
    };
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(tag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    res
}

/// A strong ETag over `body`: the first 16 bytes of its SHA-256, in hex.
pub fn etag_of(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// Middleware for public JSON reads: a `200` answer gets an ETag over its
/// body and [`PUBLIC_CACHE`]; when the request's `If-None-Match` names that
/// ETag, the answer is `304` with no body. Other answers pass unchanged.
pub async fn public_reads(req: Request, next: Next) -> Response {
    let asked = req.headers().clone();
    let res = next.run(req).await;
    if res.status() != StatusCode::OK {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_BODY).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let tag = etag_of(&bytes);
    if let Ok(v) = HeaderValue::from_str(&tag) {
        parts.headers.insert(header::ETAG, v);
    }
    parts.headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(PUBLIC_CACHE));
    if not_modified(&asked, &tag) {
        parts.status = StatusCode::NOT_MODIFIED;
        parts.headers.remove(header::CONTENT_TYPE);
        parts.headers.remove(header::CONTENT_LENGTH);
        return Response::from_parts(parts, Body::empty());
    }
    Response::from_parts(parts, Body::from(bytes))
}
