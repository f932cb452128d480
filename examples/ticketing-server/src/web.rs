//! The web front end: pages and static assets served beside the API.

use axum::Router;

/// The routes of the web front end (pages and fingerprinted assets).
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
}
