//! Graceful shutdown: a checkout whose payment is still being authorized
//! when the server shuts down completes with its order, and the workers
//! stop after it.
#![allow(clippy::unwrap_used)]

mod common;

use axum::body::Body;
use axum::http::Request;
use booking_core::checkout::OrderStatus;
use booking_core::testkit::payments::{CallKind, Fault};
use booking_ticketing_server::Backend;
use common::TestApp;
use http_body_util::BodyExt;
use serde_json::json;
use std::time::Duration;
use tower::ServiceExt;

#[tokio::test]
async fn shutdown_waits_for_a_slow_checkout_in_flight_then_stops_the_workers() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(Backend::Memory, dir.path());
    config.workers = true;
    let t = TestApp::with(config, dir).await;
    t.state.start_workers().await;
    let alice = t.alice().await;
    let owner = t.state.accounts.session(&alice).unwrap().owner();
    let show = t.show("comedy");
    let hold = t.hold(&alice, &show, &[7], None).await.json();
    // The provider answers the authorization only after a while.
    t.state.provider.inject(CallKind::Authorize, Fault::Slow(Duration::from_millis(1500)), 1);

    let req = Request::post("/api/checkout")
        .header("authorization", format!("Bearer {alice}"))
        .header("idempotency-key", "slow-1")
        .header("content-type", "application/json")
        .body(Body::from(json!({"hold_id": hold["hold_id"], "payment": {"card": "4242424242424242"}}).to_string()))
        .unwrap();
    let request = tokio::spawn(t.app.clone().oneshot(req));
    // Wait (on a condition) until the payment is being authorized.
    for _ in 0..500 {
        if t.state.provider.calls().iter().any(|c| c.kind == CallKind::Authorize) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(t.state.provider.calls().iter().any(|c| c.kind == CallKind::Authorize), "the checkout started");
    let orders = t.state.stores.saga_log.by_buyer(owner).await.unwrap();
    assert!(orders.iter().all(|o| o.status != OrderStatus::Completed), "still in flight: {orders:?}");

    t.state.shut_down().await;

    // When shut_down returns, the order is complete and paid ...
    let orders = t.state.stores.saga_log.by_buyer(owner).await.unwrap();
    assert_eq!(orders.len(), 1, "{orders:?}");
    assert_eq!(orders[0].status, OrderStatus::Completed, "{:?}", orders[0]);
    assert!(t.state.provider.calls().iter().any(|c| c.kind == CallKind::Capture), "the payment was captured");
    // ... the workers are stopped ...
    assert!(t.state.workers.lock().unwrap().is_empty(), "the workers were stopped");
    // ... and the client got its order with its ticket.
    let res = request.await.unwrap().unwrap();
    assert_eq!(res.status().as_u16(), 201);
    let body: serde_json::Value = serde_json::from_slice(&res.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(body["order_id"], orders[0].id.0.to_string());
    assert_eq!(body["tickets"].as_array().unwrap().len(), 1, "{body}");
}
