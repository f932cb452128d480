//! The web front end: pages and static assets served beside the API.
//!
//! Everything is embedded in the binary; there is no build chain. The
//! pages are one HTML shell (`web/shell.html`) rendered per page with its
//! title and page name; the script (`web/js/*.js`, concatenated here in a
//! fixed order into one `app.js`) draws the page from the API. Assets are
//! fingerprinted: `/static/app.<hash>.js`, the hash taken from the content
//! once, at first use, and served with `Cache-Control: public,
//! max-age=31536000, immutable`. Pages are `no-cache` (revalidated by
//! ETag), so a new binary's pages name its new assets at once.
//!
//! | path | page |
//! |---|---|
//! | `/`, `/events` | events, with search |
//! | `/login` | sign in |
//! | `/shows/{show_id}` | a show: waiting room, live seat map, hold, checkout |
//! | `/orders` | my orders |
//! | `/orders/{order_id}` | an order (the confirmation) |
//! | `/tickets/{ticket_id}` | a ticket: QR code and wallet links |
//! | `/scan` | the door scanner |
//! | `/static/{file}` | assets, by fingerprinted name (or plain name, `no-cache`) |

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

use crate::api::cache::cached;

/// The script: the files of `web/js/` in dependency order, in one strict
/// function scope.
const APP_JS: &str = concat!(
    "(() => {\n\"use strict\";\n",
    include_str!("../web/js/core.js"),
    include_str!("../web/js/auth.js"),
    include_str!("../web/js/events.js"),
    include_str!("../web/js/seatmap.js"),
    include_str!("../web/js/show.js"),
    include_str!("../web/js/orders.js"),
    include_str!("../web/js/scan.js"),
    include_str!("../web/js/main.js"),
    "})();\n"
);

/// The HTML shell every page is rendered from.
const SHELL: &str = include_str!("../web/shell.html");

/// The assets: plain name, content type, content.
const ASSETS: [(&str, &str, &[u8]); 3] = [
    ("app.js", "text/javascript; charset=utf-8", APP_JS.as_bytes()),
    ("app.css", "text/css; charset=utf-8", include_bytes!("../web/app.css")),
    ("icon.svg", "image/svg+xml", include_bytes!("../web/icon.svg")),
];

/// The pages: the name the script dispatches on, and the title.
const PAGES: [(&str, &str); 7] = [
    ("events", "Events"),
    ("login", "Sign in"),
    ("show", "Show"),
    ("orders", "My orders"),
    ("order", "Order"),
    ("ticket", "Ticket"),
    ("scan", "Scanner"),
];

/// Headers on every page: what the page may load, and no framing.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                   img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
                   form-action 'self'; frame-ancestors 'none'";

/// Cache policy of fingerprinted assets: their content never changes.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// An asset ready to serve.
struct Asset {
    /// The plain name (`app.js`).
    name: &'static str,
    /// The fingerprinted name (`app.0123456789ab.js`).
    hashed: String,
    content_type: &'static str,
    body: &'static [u8],
    etag: String,
}

/// A page ready to serve.
struct Page {
    name: &'static str,
    html: String,
    etag: String,
}

/// The assets and pages, built once.
struct Site {
    assets: Vec<Asset>,
    pages: Vec<Page>,
}

/// The first 12 hex digits of the content's SHA-256.
fn fingerprint(body: &[u8]) -> String {
    Sha256::digest(body).iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// `name` with `hash` before its extension: `app.js` -> `app.<hash>.js`.
fn hashed_name(name: &str, hash: &str) -> String {
    match name.rsplit_once('.') {
        Some((stem, ext)) => format!("{stem}.{hash}.{ext}"),
        None => format!("{name}.{hash}"),
    }
}

/// `s` escaped for HTML text.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn site() -> &'static Site {
    static SITE: OnceLock<Site> = OnceLock::new();
    SITE.get_or_init(|| {
        let assets: Vec<Asset> = ASSETS
            .iter()
            .map(|&(name, content_type, body)| {
                let hash = fingerprint(body);
                Asset { name, hashed: hashed_name(name, &hash), content_type, body, etag: format!("\"{hash}\"") }
            })
            .collect();
        let mut shell = SHELL.to_owned();
        for a in &assets {
            shell = shell.replace(&format!("{{{{{}}}}}", a.name), &format!("/static/{}", a.hashed));
        }
        let pages = PAGES
            .iter()
            .map(|&(name, title)| {
                let html = shell.replace("{{title}}", &esc(title)).replace("{{page}}", name);
                let etag = format!("\"{}\"", fingerprint(html.as_bytes()));
                Page { name, html, etag }
            })
            .collect();
        Site { assets, pages }
    })
}

/// The page named `name` (one of [`PAGES`]).
fn page(name: &'static str, headers: &HeaderMap) -> Response {
    let Some(p) = site().pages.iter().find(|p| p.name == name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut res = cached(headers, &p.etag, "no-cache", "text/html; charset=utf-8", p.html.clone().into_bytes());
    let h = res.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    res
}

/// An asset by fingerprinted name (immutable) or plain name (`no-cache`).
async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    let site = site();
    if let Some(a) = site.assets.iter().find(|a| a.hashed == file) {
        return cached(&headers, &a.etag, IMMUTABLE, a.content_type, a.body.to_vec());
    }
    if let Some(a) = site.assets.iter().find(|a| a.name == file) {
        return cached(&headers, &a.etag, "no-cache", a.content_type, a.body.to_vec());
    }
    (StatusCode::NOT_FOUND, "no such asset\n").into_response()
}

/// The routes of the web front end (pages and fingerprinted assets).
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|h: HeaderMap| async move { page("events", &h) }))
        .route("/events", get(|h: HeaderMap| async move { page("events", &h) }))
        .route("/login", get(|h: HeaderMap| async move { page("login", &h) }))
        .route("/shows/{show_id}", get(|h: HeaderMap| async move { page("show", &h) }))
        .route("/orders", get(|h: HeaderMap| async move { page("orders", &h) }))
        .route("/orders/{order_id}", get(|h: HeaderMap| async move { page("order", &h) }))
        .route("/tickets/{ticket_id}", get(|h: HeaderMap| async move { page("ticket", &h) }))
        .route("/scan", get(|h: HeaderMap| async move { page("scan", &h) }))
        .route("/static/{file}", get(asset))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    async fn get(path: &str, if_none_match: Option<&str>) -> (StatusCode, HeaderMap, String) {
        let mut req = Request::get(path);
        if let Some(tag) = if_none_match {
            req = req.header(header::IF_NONE_MATCH, tag);
        }
        let res = router::<()>().oneshot(req.body(Body::empty()).expect("request")).await.expect("infallible");
        let (parts, body) = res.into_parts();
        let bytes = body.collect().await.expect("body").to_bytes();
        (parts.status, parts.headers, String::from_utf8_lossy(&bytes).into_owned())
    }

    fn header_of(h: &HeaderMap, name: header::HeaderName) -> &str {
        h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    /// The `/static/...` paths a page links, each once.
    fn linked_assets(html: &str) -> Vec<String> {
        let mut paths: Vec<String> = html.split('"').filter(|s| s.starts_with("/static/")).map(str::to_owned).collect();
        paths.sort();
        paths.dedup();
        paths
    }

    #[tokio::test]
    async fn every_page_is_the_shell_with_its_name_no_cache_and_a_policy() {
        for (path, page) in [
            ("/", "events"),
            ("/events", "events"),
            ("/login", "login"),
            ("/shows/0192", "show"),
            ("/orders", "orders"),
            ("/orders/0192", "order"),
            ("/tickets/0192", "ticket"),
            ("/scan", "scan"),
        ] {
            let (status, h, body) = get(path, None).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            assert_eq!(header_of(&h, header::CONTENT_TYPE), "text/html; charset=utf-8", "{path}");
            assert_eq!(header_of(&h, header::CACHE_CONTROL), "no-cache", "{path}");
            assert!(header_of(&h, header::CONTENT_SECURITY_POLICY).contains("script-src 'self'"), "{path}");
            assert!(body.contains(&format!("data-page=\"{page}\"")), "{path}");
            assert!(!body.contains("{{"), "{path}: a placeholder is left");
        }
    }

    #[tokio::test]
    async fn assets_are_fingerprinted_immutable_and_match_their_content() {
        let (_, _, html) = get("/login", None).await;
        let assets = linked_assets(&html);
        assert_eq!(assets.len(), ASSETS.len(), "{assets:?}");
        for path in assets {
            let (status, h, body) = get(&path, None).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            assert_eq!(header_of(&h, header::CACHE_CONTROL), IMMUTABLE, "{path}");
            let name = path.trim_start_matches("/static/");
            let (stem, rest) = name.split_once('.').expect("a dotted name");
            let (hash, ext) = rest.split_once('.').expect("name.hash.ext");
            assert_eq!(hash, fingerprint(body.as_bytes()), "{path}: the name's hash is not the content's");
            let plain = format!("/static/{stem}.{ext}");
            let (status, h, same) = get(&plain, None).await;
            assert_eq!(status, StatusCode::OK, "{plain}");
            assert_eq!(header_of(&h, header::CACHE_CONTROL), "no-cache", "{plain}");
            assert_eq!(same, body, "{plain}");
        }
    }

    #[tokio::test]
    async fn a_known_etag_gets_304_without_a_body() {
        let (_, h, _) = get("/events", None).await;
        let tag = header_of(&h, header::ETAG).to_owned();
        assert!(tag.starts_with('"') && tag.len() > 2, "{tag}");
        let (status, h, body) = get("/events", Some(&tag)).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED);
        assert!(body.is_empty());
        assert_eq!(header_of(&h, header::ETAG), tag);
        let (status, _, _) = get("/events", Some("\"something-else\"")).await;
        assert_eq!(status, StatusCode::OK);
    }

    #[tokio::test]
    async fn unknown_or_stale_assets_are_404() {
        for path in ["/static/app.000000000000.js", "/static/nope.js", "/static/..%2Fweb.rs"] {
            let (status, _, _) = get(path, None).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        }
    }

    #[test]
    fn the_script_names_every_page_the_server_serves() {
        for (name, _) in PAGES {
            assert!(APP_JS.contains(&format!("  {name}: page")), "app.js does not draw page {name}");
        }
    }
}
