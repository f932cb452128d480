//! The same purchase, end to end through the API, on every backend: real
//! PostgreSQL (`DATABASE_URL`, a scratch database per test) and Redis
//! (`REDIS_URL`, a random key prefix per test).
#![allow(clippy::unwrap_used)]

mod common;

use axum::http::StatusCode;
use booking_ticketing_server::Backend;
use common::TestApp;
use serde_json::json;

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

async fn scratch_database() -> String {
    let name = booking_postgres::testkit::create_database().await;
    let admin = booking_postgres::testkit::database_url();
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b).to_owned();
    format!("{base}/{name}")
}

async fn app(backend: Backend) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(backend, dir.path());
    if matches!(backend, Backend::Postgres | Backend::RedisPostgres) {
        config.database_url = Some(scratch_database().await);
    }
    if matches!(backend, Backend::Redis | Backend::RedisPostgres) {
        config.redis_url = Some(redis_url());
        config.redis_prefix = format!("t{:016x}:", rand::random::<u64>());
    }
    TestApp::with(config, dir).await
}

/// Search, queue, hold, pay (and replay), see the ticket, scan it twice.
async fn purchase(t: &TestApp) {
    assert_eq!(t.get("/readyz", None).await.json()["backend"], t.state.stores.backend.name());
    let alice = t.alice().await;
    let found = t.get("/api/events?q=orchestra", None).await.json();
    let show = found["results"][0]["shows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["show_id"].as_str().unwrap().to_owned())
        .find(|s| *s == t.show("orchestra-1"))
        .expect("the queued show is found");
    let svg = t.get(&format!("/api/shows/{show}/seatmap.svg"), None).await;
    assert_eq!(svg.status, StatusCode::OK);
    let admission = t.admitted(&alice, &show).await;
    let hold = t.hold(&alice, &show, &[3, 4], Some(&admission)).await;
    assert_eq!(hold.status, StatusCode::CREATED, "{}", hold.text());
    let hold_id = hold.json()["hold_id"].as_str().unwrap().to_owned();
    assert_eq!(&t.seats(&show).await[3..5], "hh");
    let bob = t.bob().await;
    let bob_admission = t.admitted(&bob, &show).await;
    t.hold(&bob, &show, &[4], Some(&bob_admission)).await.problem(409, "seats_taken");
    let paid = t.checkout(&alice, "order-1", &hold_id, "4242424242424242").await;
    assert_eq!(paid.status, StatusCode::CREATED, "{}", paid.text());
    let order = paid.json();
    assert_eq!(order["status"], "completed");
    let replay = t.checkout(&alice, "order-1", &hold_id, "4242424242424242").await;
    assert_eq!(replay.body, paid.body, "a replay gets the same bytes");
    t.checkout(&alice, "order-1", &hold_id, "4000000000000002").await.problem(422, "idempotency_key_reused");
    assert_eq!(&t.seats(&show).await[3..5], "ss");
    t.state.tick().await;
    let orders = t.get("/api/orders", Some(&alice)).await.json();
    assert_eq!(orders.as_array().unwrap().len(), 1);
    assert_eq!(orders[0]["order_id"], order["order_id"]);
    let ticket = &order["tickets"][0];
    let tv = t.get(&format!("/api/tickets/{}", ticket["ticket_id"].as_str().unwrap()), Some(&alice)).await;
    assert_eq!(tv.status, StatusCode::OK);
    let scanner = t.login("scanner@example.com", "scanner-demo").await;
    let code = ticket["qr_text"].as_str().unwrap();
    assert_eq!(t.post("/api/scan", Some(&scanner), json!({"code": code})).await.json()["admitted"], true);
    let again = t.post("/api/scan", Some(&scanner), json!({"code": code})).await.json();
    assert_eq!(again["reason"], "already_checked_in");
}

#[tokio::test]
async fn purchase_on_memory() {
    purchase(&app(Backend::Memory).await).await;
}

#[tokio::test]
async fn purchase_on_postgres() {
    purchase(&app(Backend::Postgres).await).await;
}

#[tokio::test]
async fn purchase_on_redis() {
    purchase(&app(Backend::Redis).await).await;
}

#[tokio::test]
async fn purchase_on_redis_in_front_of_postgres() {
    purchase(&app(Backend::RedisPostgres).await).await;
}
