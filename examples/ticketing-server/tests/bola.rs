//! Broken object-level authorization: every route naming an object (a
//! hold, an order, a ticket) answers another user 404 and changes nothing;
//! admin and scanner routes refuse other roles. Each refusal is checked by
//! reading the state back.
#![allow(clippy::unwrap_used)]

mod common;

use axum::http::{Method, StatusCode};
use booking_core::backend::fsm::SeatState;
use booking_core::{HoldId, SeatStatus, ShowId};
use common::TestApp;
use serde_json::json;

#[tokio::test]
async fn another_users_objects_are_not_found_and_unchanged() {
    let t = TestApp::memory().await;
    let (alice, bob) = (t.alice().await, t.bob().await);
    let show = t.show("comedy");
    // Alice: one live hold, one paid order with two tickets.
    let live = t.hold(&alice, &show, &[40, 41], None).await.json();
    let live_id = live["hold_id"].as_str().unwrap().to_owned();
    let paid = t.hold(&alice, &show, &[50, 51], None).await.json();
    let paid_id = paid["hold_id"].as_str().unwrap().to_owned();
    let order = t.checkout(&alice, "alice-1", &paid_id, "4242424242424242").await.json();
    let order_id = order["order_id"].as_str().unwrap().to_owned();
    let ticket_id = order["tickets"][0]["ticket_id"].as_str().unwrap().to_owned();
    let code = order["tickets"][0]["qr_text"].as_str().unwrap().to_owned();
    t.state.tick().await;

    let entry = |id: &str| t.state.holds.lock().unwrap().get(&HoldId(id.parse().unwrap())).cloned().unwrap();
    let before = entry(&live_id);
    let seats_before = t.seats(&show).await;
    let ledger_before = t.state.provider.ledger().len();

    // Bob, on each of Alice's objects.
    t.post(&format!("/api/holds/{live_id}/extend"), Some(&bob), json!(null)).await.problem(404, "not_found");
    t.call(Method::DELETE, &format!("/api/holds/{live_id}"), Some(&bob), None, &[]).await.problem(404, "not_found");
    t.checkout(&bob, "bob-1", &live_id, "4242424242424242").await.problem(404, "not_found");
    t.get(&format!("/api/orders/{order_id}"), Some(&bob)).await.problem(404, "not_found");
    t.get(&format!("/api/tickets/{ticket_id}"), Some(&bob)).await.problem(404, "not_found");
    t.get(&format!("/api/tickets/{ticket_id}/qr.svg"), Some(&bob)).await.problem(404, "not_found");
    assert_eq!(t.get("/api/orders", Some(&bob)).await.json(), json!([]));

    // Read back: the hold is Alice's, as it was; nothing sold, nothing paid.
    let after = entry(&live_id);
    assert_eq!(after.token, before.token, "the hold's token did not move");
    assert_eq!(after.held_until, before.held_until, "the hold was not extended");
    assert_eq!(t.seats(&show).await, seats_before);
    let audit = t.state.stores.inventory.audit(ShowId(show.parse().unwrap())).await.unwrap();
    let alice_id = booking_core::OwnerId(uuid_of(&t, "alice@example.com"));
    for s in [40usize, 41] {
        assert_eq!(audit.seats[s].status(audit.now.timestamp_millis()), SeatStatus::Held);
        assert!(
            matches!(audit.seats[s].state, SeatState::Held { owner, .. } if owner == alice_id),
            "{:?}",
            audit.seats[s]
        );
    }
    assert_eq!(t.state.provider.ledger().len(), ledger_before, "no payment call for Bob's attempt");
    assert!(
        t.state
            .stores
            .saga_log
            .by_buyer(booking_core::OwnerId(uuid_of(&t, "bob@example.com")))
            .await
            .unwrap()
            .is_empty()
    );

    // Alice still can do all of it herself.
    assert_eq!(t.post(&format!("/api/holds/{live_id}/extend"), Some(&alice), json!(null)).await.status, StatusCode::OK);
    assert_eq!(t.get(&format!("/api/tickets/{ticket_id}"), Some(&alice)).await.status, StatusCode::OK);

    // Without a session: 401 on every one of them.
    for (m, uri) in [
        (Method::POST, format!("/api/holds/{live_id}/extend")),
        (Method::DELETE, format!("/api/holds/{live_id}")),
        (Method::GET, format!("/api/orders/{order_id}")),
        (Method::GET, format!("/api/tickets/{ticket_id}")),
        (Method::GET, "/api/orders".to_owned()),
    ] {
        t.call(m, &uri, None, None, &[]).await.problem(401, "unauthorized");
    }

    // Roles: a buyer may not scan nor administer; refused requests change nothing.
    t.post("/api/scan", Some(&bob), json!({"code": code})).await.problem(403, "forbidden");
    let admin_calls = [
        (Method::POST, "/api/admin/venues".to_owned(), json!({"name": "X", "city": "Y", "sample": "theatre"})),
        (Method::POST, "/api/admin/events".to_owned(), json!({"title": "X"})),
        (Method::POST, format!("/api/admin/shows/{show}/block"), json!({"seats": [60]})),
        (Method::PUT, format!("/api/admin/shows/{show}/onsale"), json!({"open": false})),
    ];
    for (m, uri, body) in admin_calls {
        t.call(m.clone(), &uri, Some(&bob), Some(body.clone()), &[]).await.problem(403, "forbidden");
        let scanner = t.login("scanner@example.com", "scanner-demo").await;
        t.call(m, &uri, Some(&scanner), Some(body), &[]).await.problem(403, "forbidden");
    }
    assert_eq!(t.seats(&show).await.as_bytes()[60], b'a', "not blocked");
    assert_eq!(t.get(&format!("/api/shows/{show}"), None).await.json()["on_sale"], true, "sales not closed");
    assert_eq!(t.get("/api/events", None).await.json()["total"], 5, "no show created");
    // The ticket was not checked in by Bob's scan: the scanner's first scan admits.
    let scanner = t.login("scanner@example.com", "scanner-demo").await;
    assert_eq!(t.post("/api/scan", Some(&scanner), json!({"code": code})).await.json()["admitted"], true);
}

fn uuid_of(_: &TestApp, email: &str) -> uuid::Uuid {
    booking_ticketing_server::auth::user_id(email)
}

#[tokio::test]
async fn a_waiting_room_place_and_token_belong_to_their_user() {
    let t = TestApp::memory().await;
    let (alice, bob) = (t.alice().await, t.bob().await);
    let show = t.show("orchestra-1");
    let token = t.admitted(&alice, &show).await;
    // Bob has no place; Alice's token does not let him hold.
    t.get(&format!("/api/shows/{show}/queue"), Some(&bob)).await.problem(404, "not_in_queue");
    t.hold(&bob, &show, &[7], Some(&token)).await.problem(403, "admission_required");
    assert_eq!(t.seats(&show).await.as_bytes()[7], b'a');
}
