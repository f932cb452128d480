#![doc = include_str!("../README.md")]

pub mod api;
pub mod auth;
pub mod config;
mod errors;
pub mod live;
pub mod ops;
pub mod payments;
pub mod problem;
pub mod seed;
pub mod state;
pub mod stores;
pub mod web;

pub use config::{Backend, Config};
pub use state::AppState;
pub use stores::Stores;

use axum::Router;
use axum::http::{HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use problem::ApiError;
use std::sync::Arc;
use std::time::Duration;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::openapi::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

/// The OpenAPI document of the API, as served at `/openapi.json`.
pub fn openapi() -> serde_json::Value {
    let (_, api) = api::router().split_for_parts();
    document(api)
}

/// Problem responses as `application/problem+json`; the 400 (bad JSON),
/// 415 (not JSON) and 422 (wrong shape) answers of every operation that
/// takes a body; the bounds of `Idempotency-Key`.
fn problems(doc: &mut serde_json::Value) {
    use serde_json::{Value, json};
    let problem = json!({"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}});
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else { return };
    for item in paths.values_mut().filter_map(Value::as_object_mut) {
        for op in item.values_mut().filter_map(Value::as_object_mut) {
            let has_body = op.contains_key("requestBody");
            for p in op.get_mut("parameters").and_then(Value::as_array_mut).into_iter().flatten() {
                if p["name"] == "Idempotency-Key" {
                    p["schema"] = json!({"type": "string", "minLength": 1, "maxLength": 255});
                }
            }
            let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else { continue };
            for res in responses.values_mut() {
                let Some(content) = res.get_mut("content").and_then(Value::as_object_mut) else { continue };
                let is_problem = content
                    .get("application/json")
                    .and_then(|c| c.pointer("/schema/$ref"))
                    .and_then(Value::as_str)
                    .is_some_and(|r| r.ends_with("/Problem"));
                if is_problem && let Some(c) = content.remove("application/json") {
                    content.insert("application/problem+json".into(), c);
                }
            }
            if has_body {
                for (status, what) in [
                    ("400", "The body is not JSON"),
                    ("415", "The body is not sent as application/json"),
                    ("422", "The body is JSON of another shape, or its values are refused"),
                ] {
                    responses.entry(status).or_insert_with(|| json!({"description": what, "content": problem.clone()}));
                }
            }
        }
    }
}

/// A single-line text the catalog accepts: a character other than a space,
/// and no control characters.
const NON_BLANK_LINE: &str =
    "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$";

/// The catalog's rules for a new event's texts, which the derived schema
/// cannot state: a non-blank title, performers and categories of limited
/// length and number, each once.
fn event_constraints(doc: &mut serde_json::Value) {
    use booking_core::catalog::{MAX_CATEGORIES, MAX_CATEGORY_CHARS, MAX_NAME_CHARS, MAX_PERFORMERS};
    use serde_json::json;
    let name = |max: usize| json!({"type": "string", "minLength": 1, "maxLength": max, "pattern": NON_BLANK_LINE});
    let Some(props) = doc.pointer_mut("/components/schemas/NewEvent/properties") else { return };
    props["title"]["maxLength"] = json!(MAX_NAME_CHARS);
    props["title"]["pattern"] = json!(NON_BLANK_LINE);
    for (field, items, max_chars) in
        [("performers", MAX_PERFORMERS, MAX_NAME_CHARS), ("categories", MAX_CATEGORIES, MAX_CATEGORY_CHARS)]
    {
        props[field]["items"] = name(max_chars);
        props[field]["maxItems"] = json!(items);
        props[field]["uniqueItems"] = json!(true);
    }
}

fn document(mut api: OpenApi) -> serde_json::Value {
    api.info.title = "booking ticketing server".into();
    api.info.description = Some(
        "Tickets for high-demand events: catalog, live seat maps, waiting rooms, holds, \
         an idempotent checkout, tickets and scanning. Errors are RFC 9457 problem documents \
         (application/problem+json) with a stable `code`."
            .into(),
    );
    let components = api.components.get_or_insert_with(Default::default);
    components
        .add_security_scheme("bearer", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
    let mut doc = serde_json::to_value(&api).unwrap_or_default();
    problems(&mut doc);
    event_constraints(&mut doc);
    doc
}

fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the server failed on this request").into_response()
}

/// The whole HTTP application over `state`: the API, `/openapi.json`,
/// `/healthz`, `/readyz`, `/metrics` and the web pages, with request ids,
/// tracing, metrics, a body limit, a timeout and panics turned into 500
/// problems.
pub fn app(state: AppState) -> Router {
    ops::prometheus();
    let (api_routes, api) = api::router().split_for_parts();
    let spec = Arc::new(document(api).to_string());
    let request_id = HeaderName::from_static("x-request-id");
    let timeout = Duration::from_secs(state.config.request_timeout_secs.max(1));
    let body_limit = state.config.body_limit_bytes;
    Router::new()
        .merge(api_routes)
        .route(
            "/openapi.json",
            get(move || {
                let spec = spec.clone();
                async move { ([(axum::http::header::CONTENT_TYPE, "application/json")], spec.as_str().to_owned()) }
            }),
        )
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics_text))
        .merge(web::router())
        .fallback(|| async { ApiError::not_found("route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this route does not take this method")
        })
        .layer(axum::middleware::from_fn(ops::track))
        .layer(axum::extract::DefaultBodyLimit::max(body_limit))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, timeout))
        .layer(CatchPanicLayer::custom(panicked))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<axum::body::Body>| {
            let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", method = %req.method(), uri = %req.uri(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}

/// Connects the stores `config` names, builds the state, loads the prices
/// of existing shows, and creates the demo data when asked and the catalog
/// is empty. Workers are not started.
///
/// Errors: a store cannot be reached, the demo data was refused.
pub async fn build(config: Config) -> Result<(AppState, seed::Demo), String> {
    let stores = Stores::connect(&config).await?;
    let demo_wanted = config.demo;
    let state = AppState::new(config, stores)?;
    seed::load_prices(&state).await;
    let demo = if demo_wanted {
        seed::demo(&state).await.map_err(|e| format!("demo data: {}", e.detail))?
    } else {
        seed::Demo::default()
    };
    Ok((state, demo))
}
