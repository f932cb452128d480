//! Drives the app in process (`tower::ServiceExt::oneshot`), no socket.
#![allow(dead_code, clippy::unwrap_used)]

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use booking_ticketing_server::config::{Backend, Config, Limits};
use booking_ticketing_server::seed::Demo;
use booking_ticketing_server::{AppState, app, build};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

/// An answer.
pub struct Res {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Res {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    /// Asserts a problem document with `status` and `code`.
    pub fn problem(&self, status: u16, code: &str) -> Value {
        assert_eq!(self.status.as_u16(), status, "{}", self.text());
        assert_eq!(self.header("content-type"), Some("application/problem+json"), "{}", self.text());
        let p = self.json();
        assert_eq!(p["code"], code, "{p}");
        assert_eq!(p["status"], status, "{p}");
        assert!(p["type"].is_string() && p["title"].is_string() && p["detail"].is_string(), "{p}");
        p
    }
}

pub struct TestApp {
    pub app: Router,
    pub state: AppState,
    pub demo: Demo,
    _dir: tempfile::TempDir,
}

/// Settings for tests: no background workers (tests call `tick`), generous
/// limits, a scratch data directory.
pub fn config(backend: Backend, dir: &std::path::Path) -> Config {
    Config {
        backend,
        data_dir: dir.to_path_buf(),
        workers: false,
        limits: Limits {
            holds_per_minute: 10_000,
            holds_burst: 1_000,
            checkouts_per_minute: 10_000,
            checkouts_burst: 1_000,
            queue_per_minute: 10_000,
            queue_burst: 1_000,
            logins_per_minute: 10_000,
            logins_burst: 1_000,
        },
        secret: Some("test secret".into()),
        ..Config::default()
    }
}

impl TestApp {
    pub async fn memory() -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self::with(config(Backend::Memory, dir.path()), dir).await
    }

    pub async fn with(config: Config, dir: tempfile::TempDir) -> Self {
        let (state, demo) = build(config).await.unwrap();
        TestApp { app: app(state.clone()), state, demo, _dir: dir }
    }

    pub async fn call(
        &self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Res {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = match body {
            Some(b) => req.header("content-type", "application/json").body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        }
        .unwrap();
        let res = self.app.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let body = res.into_body().collect().await.unwrap().to_bytes().to_vec();
        Res { status, headers, body }
    }

    pub async fn get(&self, uri: &str, token: Option<&str>) -> Res {
        self.call(Method::GET, uri, token, None, &[]).await
    }

    pub async fn post(&self, uri: &str, token: Option<&str>, body: Value) -> Res {
        self.call(Method::POST, uri, token, Some(body), &[]).await
    }

    pub async fn login(&self, email: &str, password: &str) -> String {
        let r = self.post("/api/login", None, json!({"email": email, "password": password})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        r.json()["token"].as_str().unwrap().to_owned()
    }

    pub async fn alice(&self) -> String {
        self.login("alice@example.com", "alice-demo").await
    }

    pub async fn bob(&self) -> String {
        self.login("bob@example.com", "bob-demo").await
    }

    pub async fn admin(&self) -> String {
        self.login("admin@example.com", "admin-demo").await
    }

    pub fn show(&self, name: &str) -> String {
        self.demo.show(name).unwrap().0.to_string()
    }

    /// Joins the show's queue, lets a wave through, and returns the
    /// admission token.
    pub async fn admitted(&self, token: &str, show: &str) -> String {
        let r = self.post(&format!("/api/shows/{show}/queue"), Some(token), json!({})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        self.state.tick().await;
        let r = self.get(&format!("/api/shows/{show}/queue"), Some(token)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let s = r.json();
        assert_eq!(s["admitted"], true, "{s}");
        s["admission_token"].as_str().unwrap().to_owned()
    }

    /// Holds `seats` on a show without a waiting room.
    pub async fn hold(&self, token: &str, show: &str, seats: &[u32], admission: Option<&str>) -> Res {
        let mut h = vec![];
        if let Some(a) = admission {
            h.push(("x-admission-token", a));
        }
        self.call(Method::POST, &format!("/api/shows/{show}/holds"), Some(token), Some(json!({"seats": seats})), &h)
            .await
    }

    pub async fn checkout(&self, token: &str, key: &str, hold_id: &str, card: &str) -> Res {
        self.call(
            Method::POST,
            "/api/checkout",
            Some(token),
            Some(json!({"hold_id": hold_id, "payment": {"card": card}})),
            &[("idempotency-key", key)],
        )
        .await
    }

    /// The show's compact seat states.
    pub async fn seats(&self, show: &str) -> String {
        let r = self.get(&format!("/api/shows/{show}/seats"), None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        r.json()["seats"].as_str().unwrap().to_owned()
    }
}
