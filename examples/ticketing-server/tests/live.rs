//! The live seat feed (server-sent events): changes arrive as `seat`
//! events, a reader resumes from `/seats`'s cursor without missing one, an
//! unknown resume point gets `reset`, and shutdown ends the stream.
#![allow(clippy::unwrap_used)]

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::TestApp;
use http_body_util::BodyExt;
use std::time::Duration;
use tower::ServiceExt;

/// Reads the stream until `want` appears in it (or it ends), at most 10 s.
async fn read_until(body: &mut Body, want: &str) -> String {
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !seen.contains(want) {
        match tokio::time::timeout_at(deadline, body.frame()).await {
            Ok(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    seen.push_str(&String::from_utf8_lossy(data));
                }
            }
            _ => break,
        }
    }
    seen
}

async fn open(t: &TestApp, uri: &str, last_event_id: Option<&str>) -> Body {
    let mut req = Request::get(uri);
    if let Some(id) = last_event_id {
        req = req.header("last-event-id", id);
    }
    let res = t.app.clone().oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    res.into_body()
}

#[tokio::test]
async fn changes_arrive_as_seat_events_and_readers_resume_from_the_cursor() {
    let t = TestApp::memory().await;
    let alice = t.alice().await;
    let show = t.show("comedy");
    let live = format!("/api/shows/{show}/live");
    let mut body = open(&t, &live, None).await;
    assert_eq!(t.hold(&alice, &show, &[8], None).await.status, StatusCode::CREATED);
    let seen = read_until(&mut body, "\"seat_id\":8").await;
    assert!(seen.contains("event: seat"), "{seen}");
    assert!(seen.contains(r#""status":"h""#), "{seen}");
    let id = seen.lines().find_map(|l| l.strip_prefix("id: ")).unwrap().to_owned();

    // A reader that read /seats before a change resumes from its cursor
    // and gets the change it missed.
    let cursor = t.get(&format!("/api/shows/{show}/seats"), None).await.json()["cursor"].as_str().unwrap().to_owned();
    assert_eq!(cursor, id, "the cursor is the last event");
    assert_eq!(t.hold(&alice, &show, &[9], None).await.status, StatusCode::CREATED);
    let mut resumed = open(&t, &format!("{live}?after={cursor}"), None).await;
    let missed = read_until(&mut resumed, "\"seat_id\":9").await;
    assert!(missed.contains("\"seat_id\":9") && !missed.contains("\"seat_id\":8,"), "{missed}");
    // So does one sending Last-Event-ID.
    let mut by_header = open(&t, &live, Some(&cursor)).await;
    assert!(read_until(&mut by_header, "\"seat_id\":9").await.contains("\"seat_id\":9"));

    // An id from elsewhere: reset, re-read the states.
    let mut unknown = open(&t, &live, Some("deadbeef-3")).await;
    assert!(read_until(&mut unknown, "event: reset").await.contains("event: reset"));

    // Shutdown ends the streams.
    t.state.shut_down().await;
    let rest = read_until(&mut body, "never sent").await;
    assert!(!rest.contains("never sent"));
    assert!(body.frame().await.is_none(), "the stream ended");
}
