//! The API on the memory backend, in process: sessions, catalog, seat
//! maps, the waiting room, holds, checkout with replays, orders, tickets,
//! scanning, administration, and the error contract.
#![allow(clippy::unwrap_used)]

mod common;

use axum::http::{Method, StatusCode};
use common::TestApp;
use serde_json::json;

#[tokio::test]
async fn login_me_logout_and_bad_credentials() {
    let t = TestApp::memory().await;
    let r = t.post("/api/login", None, json!({"email": "alice@example.com", "password": "alice-demo"})).await;
    assert_eq!(r.status, StatusCode::OK);
    let body = r.json();
    assert_eq!(body["user"]["email"], "alice@example.com");
    assert_eq!(body["user"]["role"], "buyer");
    let token = body["token"].as_str().unwrap().to_owned();
    let me = t.get("/api/me", Some(&token)).await;
    assert_eq!(me.json()["name"], "Alice");
    assert_eq!(t.call(Method::POST, "/api/logout", Some(&token), None, &[]).await.status, StatusCode::NO_CONTENT);
    t.get("/api/me", Some(&token)).await.problem(401, "unauthorized");
    t.get("/api/me", None).await.problem(401, "unauthorized");
    t.post("/api/login", None, json!({"email": "alice@example.com", "password": "wrong"}))
        .await
        .problem(401, "invalid_credentials");
    t.post("/api/login", None, json!({"email": "nobody@example.com", "password": "x"}))
        .await
        .problem(401, "invalid_credentials");
    let admin = t.admin().await;
    assert_eq!(t.get("/api/me", Some(&admin)).await.json()["role"], "admin");
}

#[tokio::test]
async fn errors_are_problem_documents_and_unknown_fields_are_refused() {
    let t = TestApp::memory().await;
    t.post("/api/login", None, json!({"email": "a", "password": "b", "remember": true}))
        .await
        .problem(422, "invalid_body");
    let r = t.call(Method::POST, "/api/login", None, None, &[("content-type", "application/json")]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["code"], "malformed_json");
    t.get("/api/nothing-here", None).await.problem(404, "not_found");
    t.get("/api/shows/not-a-uuid", None).await.problem(404, "not_found");
    t.get(&format!("/api/shows/{}", uuid::Uuid::nil()), None).await.problem(404, "not_found");
    t.call(Method::DELETE, "/api/events", None, None, &[]).await.problem(405, "method_not_allowed");
    let alice = t.alice().await;
    let show = t.show("comedy");
    let r = t
        .call(
            Method::POST,
            &format!("/api/shows/{show}/holds"),
            Some(&alice),
            Some(json!({"seats": [1], "colour": "red"})),
            &[],
        )
        .await;
    r.problem(422, "invalid_body");
    // Nothing was held by the refused request.
    assert!(!t.seats(&show).await.contains('h'));
    t.get("/api/events?limit=0", None).await.problem(422, "invalid_request");
    t.get("/api/events?limit=abc", None).await.problem(400, "invalid_query");
    // A body over the limit.
    let big = "x".repeat(2 << 20);
    let r = t.post("/api/login", None, json!({"email": big, "password": "x"})).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text());
}

#[tokio::test]
async fn search_lists_and_finds_events_with_their_shows() {
    let t = TestApp::memory().await;
    let all = t.get("/api/events", None).await.json();
    assert_eq!(all["total"], 5);
    let titles: Vec<_> =
        all["results"].as_array().unwrap().iter().map(|e| e["title"].as_str().unwrap().to_owned()).collect();
    assert!(titles.contains(&"The Midnight Orchestra".to_owned()), "{titles:?}");
    let found = t.get("/api/events?q=orchestra", None).await.json();
    assert_eq!(found["results"].as_array().unwrap().len(), 1, "{found}");
    let event = &found["results"][0];
    assert_eq!(event["title"], "The Midnight Orchestra");
    assert_eq!(event["shows"].as_array().unwrap().len(), 2);
    assert_eq!(event["city"], "Lyon");
    assert_eq!(event["shows"][0]["availability"], "on_sale");
    let comedy = t.get("/api/events?category=comedy", None).await.json();
    assert_eq!(comedy["results"].as_array().unwrap().len(), 1);
    assert_eq!(comedy["results"][0]["title"], "Stand-up Spectacular");
    let manchester = t.get("/api/events?city=Manchester", None).await.json();
    assert_eq!(manchester["results"][0]["title"], "Galaxy Tour");
    // Paging by cursor.
    let first = t.get("/api/events?limit=2", None).await.json();
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let second = t.get(&format!("/api/events?limit=2&cursor={cursor}"), None).await.json();
    assert_ne!(first["results"][0]["shows"][0]["show_id"], second["results"][0]["shows"][0]["show_id"]);
    // An event and a show.
    let id = event["event_id"].as_str().unwrap();
    let e = t.get(&format!("/api/events/{id}"), None).await.json();
    assert_eq!(e["shows"].as_array().unwrap().len(), 2);
    let show = t.get(&format!("/api/shows/{}", t.show("orchestra-1")), None).await.json();
    assert_eq!(show["venue"]["name"], "Grand Theatre");
    assert_eq!(show["on_sale"], true);
    assert_eq!(show["hold_ttl_secs"], 300);
    assert_eq!(show["waiting_room"]["enabled"], true);
    assert_eq!(show["prices"].as_array().unwrap().len(), 5);
    assert_eq!(show["seats"], 2000);
    let jazz = t.get(&format!("/api/shows/{}", t.show("jazz")), None).await.json();
    assert_eq!(jazz["availability"], "upcoming");
    assert_eq!(jazz["on_sale"], false);
}

#[tokio::test]
async fn catalog_reads_carry_etags_and_revalidate() {
    let t = TestApp::memory().await;
    let show = t.show("comedy");
    for uri in ["/api/events?q=orchestra".to_owned(), format!("/api/shows/{show}")] {
        let r = t.get(&uri, None).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}");
        assert_eq!(r.header("cache-control"), Some("public, max-age=5"), "{uri}");
        let tag = r.header("etag").unwrap_or_else(|| panic!("{uri}: no ETag")).to_owned();
        let again = t.call(Method::GET, &uri, None, None, &[("if-none-match", &tag)]).await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED, "{uri}");
        assert!(again.body.is_empty(), "{uri}");
        assert_eq!(again.header("etag"), Some(tag.as_str()), "{uri}");
        // If-None-Match compares weakly: the weak form of the tag matches too.
        let weak = t.call(Method::GET, &uri, None, None, &[("if-none-match", &format!("W/{tag}"))]).await;
        assert_eq!(weak.status, StatusCode::NOT_MODIFIED, "{uri}");
        let other = t.call(Method::GET, &uri, None, None, &[("if-none-match", "\"stale\"")]).await;
        assert_eq!(other.status, StatusCode::OK, "{uri}");
        assert_eq!(other.body, r.body, "{uri}");
    }
    // Another query is another body, so another tag; a refusal is not cached.
    let a = t.get("/api/events?q=orchestra", None).await;
    let b = t.get("/api/events?q=comedy", None).await;
    assert_ne!(a.header("etag"), b.header("etag"));
    let missing = t.get(&format!("/api/shows/{}", uuid::Uuid::now_v7()), None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.header("etag"), None);
}

#[tokio::test]
async fn seat_map_svg_has_seat_ids_and_revalidates_by_etag() {
    let t = TestApp::memory().await;
    let show = t.show("comedy");
    let uri = format!("/api/shows/{show}/seatmap.svg");
    let r = t.get(&uri, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), Some("image/svg+xml"));
    assert_eq!(r.header("cache-control"), Some("public, max-age=5"));
    let svg = r.text();
    assert!(svg.contains("data-seat=\"0\"") && svg.contains("data-seat=\"1999\""));
    let etag = r.header("etag").unwrap().to_owned();
    let again = t.call(Method::GET, &uri, None, None, &[("if-none-match", &etag)]).await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.body.is_empty());
    assert_eq!(again.header("cache-control"), Some("public, max-age=5"));
    let weak = t.call(Method::GET, &uri, None, None, &[("if-none-match", &format!("W/{etag}"))]).await;
    assert_eq!(weak.status, StatusCode::NOT_MODIFIED);
    // A hold changes the map: the old tag no longer matches.
    let alice = t.alice().await;
    assert_eq!(t.hold(&alice, &show, &[5], None).await.status, StatusCode::CREATED);
    let changed = t.call(Method::GET, &uri, None, None, &[("if-none-match", &etag)]).await;
    assert_eq!(changed.status, StatusCode::OK);
    assert_ne!(changed.header("etag").unwrap(), etag);
    // The compact states: one character per seat, seat 5 held.
    let r = t.get(&format!("/api/shows/{show}/seats"), None).await;
    let states = r.json();
    let seats = states["seats"].as_str().unwrap();
    assert_eq!(seats.len(), 2000);
    assert_eq!(seats.as_bytes()[5], b'h');
    assert_eq!(seats.chars().filter(|c| *c == 'a').count(), 1999);
    let tag = r.header("etag").unwrap().to_owned();
    let same = t.call(Method::GET, &format!("/api/shows/{show}/seats"), None, None, &[("if-none-match", &tag)]).await;
    assert_eq!(same.status, StatusCode::NOT_MODIFIED);
    assert_eq!(same.header("cache-control"), Some("no-cache"));
}

#[tokio::test]
async fn the_waiting_room_admits_and_holds_need_its_token() {
    let t = TestApp::memory().await;
    let alice = t.alice().await;
    let show = t.show("orchestra-1");
    // No token: refused, nothing held.
    t.hold(&alice, &show, &[1], None).await.problem(403, "admission_required");
    t.hold(&alice, &show, &[1], Some("wr1.forged")).await.problem(403, "admission_required");
    assert!(!t.seats(&show).await.contains('h'));
    // Status before joining.
    t.get(&format!("/api/shows/{show}/queue"), Some(&alice)).await.problem(404, "not_in_queue");
    let joined = t.post(&format!("/api/shows/{show}/queue"), Some(&alice), json!({})).await.json();
    assert_eq!(joined["state"], "waiting");
    assert_eq!(joined["position"], 1);
    assert_eq!(joined["admitted"], false);
    assert!(joined["admission_token"].is_null());
    let again = t.post(&format!("/api/shows/{show}/queue"), Some(&alice), json!({})).await.json();
    assert_eq!(again["visitor_id"], joined["visitor_id"], "joining again keeps the place");
    let token = t.admitted(&alice, &show).await;
    // Another user's token is bound to its session: refused for Bob.
    let bob = t.bob().await;
    t.hold(&bob, &show, &[2], Some(&token)).await.problem(403, "admission_required");
    let r = t.hold(&alice, &show, &[1, 2], Some(&token)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(&t.seats(&show).await[..3], "ahh");
    // A show without a waiting room needs no token.
    assert_eq!(t.hold(&bob, &t.show("comedy"), &[2], None).await.status, StatusCode::CREATED);
}

#[tokio::test]
async fn holds_extend_release_and_conflict() {
    let t = TestApp::memory().await;
    let (alice, bob) = (t.alice().await, t.bob().await);
    let show = t.show("comedy");
    let r = t.hold(&alice, &show, &[10, 11], None).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let hold = r.json();
    assert_eq!(hold["seats"][0]["seat_id"], 10);
    assert!(hold["seats"][0]["label"].as_str().unwrap().contains("row"), "{hold}");
    assert_eq!(hold["quantity"], 2);
    assert!(hold["total"]["minor"].as_i64().unwrap() > 0);
    let id = hold["hold_id"].as_str().unwrap().to_owned();
    // Bob cannot take a held seat.
    t.hold(&bob, &show, &[11, 12], None).await.problem(409, "seats_taken");
    assert_eq!(t.seats(&show).await.as_bytes()[12], b'a', "all or nothing");
    // Extend moves the expiry on.
    let ext = t.post(&format!("/api/holds/{id}/extend"), Some(&alice), json!(null)).await;
    assert_eq!(ext.status, StatusCode::OK, "{}", ext.text());
    assert!(ext.json()["held_until"].as_str().unwrap() >= hold["held_until"].as_str().unwrap());
    assert_eq!(ext.json()["renewals"], 1);
    // Release frees the seats at once.
    let del = t.call(Method::DELETE, &format!("/api/holds/{id}"), Some(&alice), None, &[]).await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    assert_eq!(&t.seats(&show).await[10..12], "aa");
    t.call(Method::DELETE, &format!("/api/holds/{id}"), Some(&alice), None, &[]).await.problem(404, "not_found");
    // Best available, and a pool on the stadium.
    let best = t.post(&format!("/api/shows/{show}/holds"), Some(&bob), json!({"best": {"quantity": 3}})).await;
    assert_eq!(best.status, StatusCode::CREATED, "{}", best.text());
    assert_eq!(best.json()["seats"].as_array().unwrap().len(), 3);
    let two =
        t.post(&format!("/api/shows/{show}/holds"), Some(&bob), json!({"seats": [1], "best": {"quantity": 1}})).await;
    two.problem(422, "invalid_request");
    let jazz = t.show("jazz");
    t.hold(&alice, &jazz, &[1], None).await.problem(409, "not_on_sale");
}

#[tokio::test]
async fn checkout_replays_refuses_a_changed_body_and_issues_tickets_scanned_once() {
    let t = TestApp::memory().await;
    let alice = t.alice().await;
    let show = t.show("comedy");
    let hold = t.hold(&alice, &show, &[20, 21], None).await.json();
    let id = hold["hold_id"].as_str().unwrap().to_owned();
    t.call(
        Method::POST,
        "/api/checkout",
        Some(&alice),
        Some(json!({"hold_id": id, "payment": {"card": "4242424242424242"}})),
        &[],
    )
    .await
    .problem(400, "bad_request");
    let first = t.checkout(&alice, "key-1", &id, "4242424242424242").await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text());
    let order = first.json();
    assert_eq!(order["status"], "completed");
    assert_eq!(order["total"]["minor"], hold["total"]["minor"]);
    assert_eq!(order["tickets"].as_array().unwrap().len(), 2);
    assert_eq!(&t.seats(&show).await[20..22], "ss");
    let charged = t.state.provider.ledger().len();
    assert!(charged > 0);
    // The same request again: the same answer, byte for byte.
    let replay = t.checkout(&alice, "key-1", &id, "4242424242424242").await;
    assert_eq!(replay.status, StatusCode::CREATED);
    assert_eq!(replay.body, first.body);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    // The same key with another body: refused, nothing charged again.
    t.checkout(&alice, "key-1", &id, "4000000000000002").await.problem(422, "idempotency_key_reused");
    assert_eq!(t.state.provider.ledger().len(), charged, "no provider call for a replay or a refused key");
    // Orders and the ticket.
    let orders = t.get("/api/orders", Some(&alice)).await.json();
    assert_eq!(orders.as_array().unwrap().len(), 1);
    let order_id = order["order_id"].as_str().unwrap();
    let one = t.get(&format!("/api/orders/{order_id}"), Some(&alice)).await.json();
    assert_eq!(one["status"], "completed");
    assert_eq!(one["tickets"], order["tickets"]);
    let ticket = &order["tickets"][0];
    let tid = ticket["ticket_id"].as_str().unwrap();
    let tv = t.get(&format!("/api/tickets/{tid}"), Some(&alice)).await.json();
    assert_eq!(tv["qr_text"], ticket["qr_text"]);
    assert!(tv["seat"].as_str().unwrap().contains("row"));
    let qr = t.get(&format!("/api/tickets/{tid}/qr.svg"), Some(&alice)).await;
    assert_eq!(qr.status, StatusCode::OK);
    assert!(qr.text().contains("<svg"));
    // Fulfilment registers the tickets and mails them.
    t.state.tick().await;
    let mails = std::fs::read_dir(t.state.config.data_dir.join("mail")).unwrap().count();
    assert_eq!(mails, 2, "one email per ticket");
    // Scanning: buyers may not; the scanner admits once, then refuses.
    let code = ticket["qr_text"].as_str().unwrap();
    t.post("/api/scan", Some(&alice), json!({"code": code})).await.problem(403, "forbidden");
    let scanner = t.login("scanner@example.com", "scanner-demo").await;
    let ok = t.post("/api/scan", Some(&scanner), json!({"code": code})).await.json();
    assert_eq!(ok["admitted"], true, "{ok}");
    let again = t.post("/api/scan", Some(&scanner), json!({"code": code})).await.json();
    assert_eq!(again["admitted"], false);
    assert_eq!(again["reason"], "already_checked_in");
    let mut forged = code.to_owned();
    forged.replace_range(100..101, if &code[100..101] == "A" { "B" } else { "A" });
    let bad = t.post("/api/scan", Some(&scanner), json!({"code": forged})).await.json();
    assert_eq!(bad["admitted"], false);
    assert!(["bad_signature", "not_a_ticket"].contains(&bad["reason"].as_str().unwrap()), "{bad}");
    let junk = t.post("/api/scan", Some(&scanner), json!({"code": "hello"})).await.json();
    assert_eq!(junk["reason"], "not_a_ticket");
}

#[tokio::test]
async fn a_declined_card_sells_nothing_and_frees_the_seats() {
    let t = TestApp::memory().await;
    let alice = t.alice().await;
    let show = t.show("comedy");
    let id = t.hold(&alice, &show, &[30], None).await.json()["hold_id"].as_str().unwrap().to_owned();
    let r = t.checkout(&alice, "declined-1", &id, "4000000000000002").await;
    assert_eq!(r.status, StatusCode::PAYMENT_REQUIRED, "{}", r.text());
    let order = r.json();
    assert_eq!(order["status"], "declined");
    assert!(order["tickets"].as_array().unwrap().is_empty());
    assert_eq!(t.seats(&show).await.as_bytes()[30], b'a');
    t.checkout(&alice, "declined-2", &id, "1234").await.problem(422, "invalid_card");
}

#[tokio::test]
async fn admin_creates_venue_event_show_blocks_and_closes_sales() {
    let t = TestApp::memory().await;
    let admin = t.admin().await;
    let alice = t.alice().await;
    t.post("/api/admin/events", Some(&alice), json!({"title": "Nope"})).await.problem(403, "forbidden");
    let venue =
        t.post("/api/admin/venues", Some(&admin), json!({"name": "Hall", "city": "Paris", "sample": "theatre"})).await;
    assert_eq!(venue.status, StatusCode::CREATED, "{}", venue.text());
    let venue_id = venue.json()["venue_id"].as_str().unwrap().to_owned();
    t.post("/api/admin/venues", Some(&admin), json!({"name": "Hall", "city": "Paris", "seatmap": {"format": "nope"}}))
        .await
        .problem(422, "invalid_request");
    let event = t.post("/api/admin/events", Some(&admin), json!({"title": "Test Night", "categories": ["test"]})).await;
    let event_id = event.json()["event_id"].as_str().unwrap().to_owned();
    let starts = (chrono::Utc::now() + chrono::TimeDelta::days(3)).to_rfc3339();
    let prices = json!([{"category": 1, "name": "A", "minor": 100}, {"category": 2, "name": "B", "minor": 100},
        {"category": 3, "name": "C", "minor": 100}, {"category": 4, "name": "D", "minor": 100}, {"category": 5, "name": "E", "minor": 100}]);
    let missing = json!([{"category": 1, "name": "A", "minor": 100}]);
    let body = |prices| json!({"event_id": event_id, "venue_id": venue_id, "starts_at": starts, "currency": "EUR", "prices": prices});
    t.post("/api/admin/shows", Some(&admin), body(missing)).await.problem(422, "invalid_request");
    let show = t.post("/api/admin/shows", Some(&admin), body(prices)).await;
    assert_eq!(show.status, StatusCode::CREATED, "{}", show.text());
    let show_id = show.json()["show_id"].as_str().unwrap().to_owned();
    let found = t.get("/api/events?category=test", None).await.json();
    assert_eq!(found["results"][0]["shows"][0]["show_id"], show_id.as_str());
    // Block two seats: they show as blocked and cannot be held.
    let b = t.post(&format!("/api/admin/shows/{show_id}/block"), Some(&admin), json!({"seats": [0, 1]})).await;
    assert_eq!(b.json()["blocked"], 2);
    assert_eq!(&t.seats(&show_id).await[..3], "bba");
    t.hold(&alice, &show_id, &[1], None).await.problem(409, "seats_taken");
    // Close sales: holds refused. Open with a waiting room: tokens needed.
    let onsale = format!("/api/admin/shows/{show_id}/onsale");
    let put = |body| t.call(Method::PUT, &onsale, Some(&admin), Some(body), &[]);
    let closed = put(json!({"open": false})).await;
    assert_eq!(closed.json()["on_sale"], false, "{}", closed.text());
    t.hold(&alice, &show_id, &[5], None).await.problem(409, "not_on_sale");
    let open = put(json!({"open": true, "waiting_room": {"enabled": true}})).await.json();
    assert_eq!(open["on_sale"], true);
    assert_eq!(open["waiting_room"]["enabled"], true);
    t.hold(&alice, &show_id, &[5], None).await.problem(403, "admission_required");
    let token = t.admitted(&alice, &show_id).await;
    assert_eq!(t.hold(&alice, &show_id, &[5], Some(&token)).await.status, StatusCode::CREATED);
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(booking_ticketing_server::Backend::Memory, dir.path());
    config.limits.holds_per_minute = 2;
    config.limits.holds_burst = 2;
    let t = TestApp::with(config, dir).await;
    let alice = t.alice().await;
    let show = t.show("comedy");
    assert_eq!(t.hold(&alice, &show, &[1], None).await.status, StatusCode::CREATED);
    assert_eq!(t.hold(&alice, &show, &[2], None).await.status, StatusCode::CREATED);
    let r = t.hold(&alice, &show, &[3], None).await;
    r.problem(429, "rate_limited");
    let after: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&after), "{after}");
    assert_eq!(t.seats(&show).await.as_bytes()[3], b'a', "a refused request holds nothing");
    // Limits are per account: Bob is not limited by Alice's requests.
    let bob = t.bob().await;
    assert_eq!(t.hold(&bob, &show, &[3], None).await.status, StatusCode::CREATED);
}

#[tokio::test]
async fn operations_endpoints_answer() {
    let t = TestApp::memory().await;
    assert_eq!(t.get("/healthz", None).await.json()["status"], "ok");
    let ready = t.get("/readyz", None).await.json();
    assert_eq!(ready["backend"], "memory");
    let spec = t.get("/openapi.json", None).await.json();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"), "{}", spec["openapi"]);
    for path in
        ["/api/login", "/api/events", "/api/shows/{show_id}/holds", "/api/checkout", "/api/scan", "/api/admin/shows"]
    {
        assert!(spec["paths"][path].is_object(), "{path} missing from the OpenAPI document");
    }
    assert!(spec["components"]["schemas"]["Problem"].is_object());
    // Problems are documented as the media type they are sent as; bodies
    // that are not JSON are documented answers; query parameters are in
    // the query.
    let login = &spec["paths"]["/api/login"]["post"]["responses"];
    assert!(login["401"]["content"]["application/problem+json"].is_object(), "{login}");
    assert!(login["401"]["content"]["application/json"].is_null());
    assert!(login["415"].is_object() && login["400"].is_object() && login["422"].is_object(), "{login}");
    let params = spec["paths"]["/api/events"]["get"]["parameters"].as_array().unwrap();
    assert!(params.iter().all(|p| p["in"] == "query" && p["required"] != true), "{params:?}");
    // What the server checks is stated: bounds, lengths, patterns, the
    // seat map's required fields, the venue rule of a new show.
    let limit = params.iter().find(|p| p["name"] == "limit").unwrap();
    assert_eq!((limit["schema"]["minimum"].as_u64(), limit["schema"]["maximum"].as_u64()), (Some(1), Some(100)));
    let schemas = &spec["components"]["schemas"];
    let event = &schemas["NewEvent"]["properties"];
    assert_eq!(event["title"]["minLength"], 1, "{event}");
    assert_eq!(event["performers"]["items"]["minLength"], 1, "{event}");
    assert_eq!(event["categories"]["maxItems"], booking_core::catalog::MAX_CATEGORIES, "{event}");
    assert!(schemas["PaymentRequest"]["properties"]["card"]["pattern"].is_string());
    let seatmap = &schemas["SeatMapDocument"];
    let required: Vec<&str> = seatmap["required"].as_array().unwrap().iter().filter_map(|v| v.as_str()).collect();
    assert!(required.contains(&"format") && required.contains(&"name"), "{seatmap}");
    let show = spec["paths"]["/api/admin/shows"]["post"]["description"].as_str().unwrap_or_default();
    assert!(show.contains("seat map"), "{show}");
    let r = t.get("/healthz", None).await;
    assert!(r.header("x-request-id").is_some(), "request ids are propagated");
    let metrics = t.get("/metrics", None).await;
    assert_eq!(metrics.status, StatusCode::OK);
    assert!(metrics.text().contains("http_requests_total"), "{}", metrics.text());
    t.state.shut_down().await;
    t.get("/readyz", None).await.problem(503, "stopping");
}
