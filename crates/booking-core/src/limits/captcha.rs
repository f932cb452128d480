//! The captcha verifier port, shaped like the `siteverify` endpoints of
//! Cloudflare Turnstile and hCaptcha: the server sends its secret, the
//! token the widget gave the client, optionally the client's IP and an
//! idempotency key; the answer says whether the token is good, when and
//! where it was solved, and why not.
//!
//! [`CaptchaVerdict`] deserializes from either service's JSON answer as it
//! comes (`error-codes`, `challenge_ts`), so an implementation is a POST
//! and a `serde_json::from_slice`; this crate has no HTTP client.
//! [`TestCaptcha`] is a verifier for tests and development that issues its
//! own tokens.

use crate::clock::Clock;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt::{self, Debug};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use thiserror::Error;

/// The site's secret key. Its `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct CaptchaSecret(pub String);

impl Debug for CaptchaSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CaptchaSecret(..)")
    }
}

/// A `siteverify` request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaptchaRequest {
    /// The site's secret key.
    pub secret: CaptchaSecret,
    /// The token the widget gave the client (`cf-turnstile-response`,
    /// `h-captcha-response`).
    pub response: String,
    /// The client's IP address, when known.
    pub remote_ip: Option<IpAddr>,
    /// Makes a retried verification answer as the first did (Turnstile's
    /// `idempotency_key`), instead of `timeout-or-duplicate`.
    pub idempotency_key: Option<String>,
}

/// Why a token was not accepted, as the services name it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum CaptchaErrorCode {
    /// `missing-input-secret`.
    MissingInputSecret,
    /// `invalid-input-secret`.
    InvalidInputSecret,
    /// `missing-input-response`.
    MissingInputResponse,
    /// `invalid-input-response`: malformed, edited or unknown token.
    InvalidInputResponse,
    /// `bad-request`.
    BadRequest,
    /// `timeout-or-duplicate`: expired, or already verified.
    TimeoutOrDuplicate,
    /// `internal-error`: the service failed; retry.
    InternalError,
    /// A code this version does not know, as sent.
    Other(String),
}

impl CaptchaErrorCode {
    /// The code as the services spell it.
    pub fn as_str(&self) -> &str {
        match self {
            CaptchaErrorCode::MissingInputSecret => "missing-input-secret",
            CaptchaErrorCode::InvalidInputSecret => "invalid-input-secret",
            CaptchaErrorCode::MissingInputResponse => "missing-input-response",
            CaptchaErrorCode::InvalidInputResponse => "invalid-input-response",
            CaptchaErrorCode::BadRequest => "bad-request",
            CaptchaErrorCode::TimeoutOrDuplicate => "timeout-or-duplicate",
            CaptchaErrorCode::InternalError => "internal-error",
            CaptchaErrorCode::Other(s) => s,
        }
    }
}

impl From<String> for CaptchaErrorCode {
    fn from(s: String) -> Self {
        match s.as_str() {
            "missing-input-secret" => CaptchaErrorCode::MissingInputSecret,
            "invalid-input-secret" => CaptchaErrorCode::InvalidInputSecret,
            "missing-input-response" => CaptchaErrorCode::MissingInputResponse,
            "invalid-input-response" => CaptchaErrorCode::InvalidInputResponse,
            "bad-request" => CaptchaErrorCode::BadRequest,
            "timeout-or-duplicate" => CaptchaErrorCode::TimeoutOrDuplicate,
            "internal-error" => CaptchaErrorCode::InternalError,
            _ => CaptchaErrorCode::Other(s),
        }
    }
}

impl From<CaptchaErrorCode> for String {
    fn from(c: CaptchaErrorCode) -> String {
        c.as_str().to_owned()
    }
}

/// A `siteverify` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptchaVerdict {
    /// The token is good (and now spent).
    pub success: bool,
    /// When the challenge was solved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge_ts: Option<DateTime<Utc>>,
    /// The site's hostname the challenge was solved on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Why not, when not.
    #[serde(rename = "error-codes", default)]
    pub error_codes: Vec<CaptchaErrorCode>,
    /// The widget's action label (Turnstile), to check against the page's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

impl CaptchaVerdict {
    /// A refusal with one error code.
    pub fn refused(code: CaptchaErrorCode) -> Self {
        CaptchaVerdict { success: false, challenge_ts: None, hostname: None, error_codes: vec![code], action: None }
    }
}

/// Why a verification could not be made at all (a refused token is a
/// verdict, not an error).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CaptchaError {
    /// The service could not be reached, or answered something unreadable.
    /// Retry with the same idempotency key.
    #[error("captcha service: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Verifies captcha tokens with the service.
#[async_trait]
pub trait CaptchaVerifier: Send + Sync + Debug {
    /// Verifies `req.response`. A token verifies once: a second attempt
    /// answers `timeout-or-duplicate`, unless it carries the first one's
    /// idempotency key, which replays the first answer.
    ///
    /// Errors: `Unavailable`.
    async fn verify(&self, req: &CaptchaRequest) -> Result<CaptchaVerdict, CaptchaError>;
}

#[derive(Debug)]
struct Issued {
    hostname: String,
    action: Option<String>,
    solved_at: DateTime<Utc>,
    spent: bool,
}

#[derive(Debug, Default)]
struct TestState {
    next: u64,
    tokens: HashMap<String, Issued>,
    replies: HashMap<String, (String, CaptchaVerdict)>,
}

/// A verifier for tests and development that issues its own tokens and
/// answers as the services do: a wrong secret, an unknown or edited
/// token, a token past its lifetime (300 s, as Turnstile's) or already
/// verified is refused with the services' error codes; an idempotency key
/// replays its first answer (for the same token).
#[derive(Clone, Debug)]
pub struct TestCaptcha {
    secret: CaptchaSecret,
    clock: Arc<dyn Clock>,
    state: Arc<Mutex<TestState>>,
}

impl TestCaptcha {
    /// How long an issued token stays good, in seconds.
    pub const TOKEN_LIFETIME_SECS: i64 = 300;

    /// A verifier accepting `secret`, reading `clock` for token lifetimes.
    pub fn new(secret: &str, clock: Arc<dyn Clock>) -> Self {
        TestCaptcha { secret: CaptchaSecret(secret.to_owned()), clock, state: Arc::default() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TestState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A token as a widget on `hostname` (with `action`) would give a
    /// client that solved the challenge now.
    pub fn solve(&self, hostname: &str, action: Option<&str>) -> String {
        let mut s = self.lock();
        s.next += 1;
        let token = format!("test.{:016x}.{:08x}", s.next, s.next.wrapping_mul(0x9e37_79b9) as u32);
        let issued = Issued {
            hostname: hostname.to_owned(),
            action: action.map(str::to_owned),
            solved_at: self.clock.now(),
            spent: false,
        };
        s.tokens.insert(token.clone(), issued);
        token
    }

    fn decide(&self, s: &mut TestState, req: &CaptchaRequest) -> CaptchaVerdict {
        if req.secret.0.is_empty() {
            return CaptchaVerdict::refused(CaptchaErrorCode::MissingInputSecret);
        }
        if req.secret != self.secret {
            return CaptchaVerdict::refused(CaptchaErrorCode::InvalidInputSecret);
        }
        if req.response.is_empty() {
            return CaptchaVerdict::refused(CaptchaErrorCode::MissingInputResponse);
        }
        let now = self.clock.now();
        let Some(issued) = s.tokens.get_mut(&req.response) else {
            return CaptchaVerdict::refused(CaptchaErrorCode::InvalidInputResponse);
        };
        if issued.spent || now - issued.solved_at > chrono::Duration::seconds(Self::TOKEN_LIFETIME_SECS) {
            return CaptchaVerdict::refused(CaptchaErrorCode::TimeoutOrDuplicate);
        }
        issued.spent = true;
        CaptchaVerdict {
            success: true,
            challenge_ts: Some(issued.solved_at),
            hostname: Some(issued.hostname.clone()),
            error_codes: Vec::new(),
            action: issued.action.clone(),
        }
    }
}

#[async_trait]
impl CaptchaVerifier for TestCaptcha {
    async fn verify(&self, req: &CaptchaRequest) -> Result<CaptchaVerdict, CaptchaError> {
        let mut s = self.lock();
        if let Some(key) = &req.idempotency_key
            && let Some((token, reply)) = s.replies.get(key)
        {
            if *token == req.response {
                return Ok(reply.clone());
            }
            return Ok(CaptchaVerdict::refused(CaptchaErrorCode::BadRequest));
        }
        let verdict = self.decide(&mut s, req);
        if let Some(key) = &req.idempotency_key {
            s.replies.insert(key.clone(), (req.response.clone(), verdict.clone()));
        }
        Ok(verdict)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn req(secret: &str, token: &str, key: Option<&str>) -> CaptchaRequest {
        CaptchaRequest {
            secret: CaptchaSecret(secret.into()),
            response: token.into(),
            remote_ip: Some("192.0.2.7".parse().expect("ip")),
            idempotency_key: key.map(str::to_owned),
        }
    }

    fn codes(v: &CaptchaVerdict) -> Vec<&str> {
        v.error_codes.iter().map(|c| c.as_str()).collect()
    }

    #[tokio::test]
    async fn tokens_verify_once_and_refusals_name_the_reason() {
        let clock = ManualClock::fixed();
        let c = TestCaptcha::new("s3cret", clock.shared());
        let t = c.solve("tickets.example", Some("checkout"));
        let ok = c.verify(&req("s3cret", &t, None)).await.expect("verify");
        assert!(ok.success && ok.error_codes.is_empty());
        assert_eq!((ok.hostname.as_deref(), ok.action.as_deref()), (Some("tickets.example"), Some("checkout")));
        assert_eq!(ok.challenge_ts, Some(clock.now()));
        let again = c.verify(&req("s3cret", &t, None)).await.expect("verify");
        assert_eq!((again.success, codes(&again)), (false, vec!["timeout-or-duplicate"]));
        let t2 = c.solve("tickets.example", None);
        let mut edited = t2.clone();
        edited.pop();
        edited.push('x');
        for (r, code) in [
            (req("", &t2, None), "missing-input-secret"),
            (req("wrong", &t2, None), "invalid-input-secret"),
            (req("s3cret", "", None), "missing-input-response"),
            (req("s3cret", &edited, None), "invalid-input-response"),
            (req("s3cret", &t2[..t2.len() - 1], None), "invalid-input-response"),
        ] {
            assert_eq!(codes(&c.verify(&r).await.expect("verify")), vec![code]);
        }
        assert!(c.verify(&req("s3cret", &t2, None)).await.expect("verify").success, "refusals spent nothing");
        let late = c.solve("tickets.example", None);
        clock.advance(chrono::Duration::seconds(TestCaptcha::TOKEN_LIFETIME_SECS + 1));
        assert_eq!(codes(&c.verify(&req("s3cret", &late, None)).await.expect("verify")), vec!["timeout-or-duplicate"]);
    }

    #[tokio::test]
    async fn an_idempotency_key_replays_the_first_answer() {
        let c = TestCaptcha::new("s", ManualClock::fixed().shared());
        let t = c.solve("h", None);
        let first = c.verify(&req("s", &t, Some("k1"))).await.expect("verify");
        assert!(first.success);
        assert_eq!(c.verify(&req("s", &t, Some("k1"))).await.expect("verify"), first, "a retry replays");
        let other = c.solve("h", None);
        let mismatch = c.verify(&req("s", &other, Some("k1"))).await.expect("verify");
        assert_eq!(codes(&mismatch), vec!["bad-request"], "one key, another token");
        assert!(c.verify(&req("s", &other, None)).await.expect("verify").success, "the other token is unspent");
    }

    #[test]
    fn verdicts_read_the_services_json() {
        let turnstile = br#"{"success":false,"error-codes":["invalid-input-response","x-new-code"],"messages":[]}"#;
        let v: CaptchaVerdict = serde_json::from_slice(turnstile).expect("turnstile");
        assert_eq!(
            v.error_codes,
            vec![CaptchaErrorCode::InvalidInputResponse, CaptchaErrorCode::Other("x-new-code".into())]
        );
        let hcaptcha =
            br#"{"success":true,"challenge_ts":"2026-11-30T12:00:00Z","hostname":"a.example","credit":false}"#;
        let v: CaptchaVerdict = serde_json::from_slice(hcaptcha).expect("hcaptcha");
        assert!(v.success && v.error_codes.is_empty());
        assert_eq!(v.hostname.as_deref(), Some("a.example"));
        assert_eq!(format!("{:?}", CaptchaSecret("hide me".into())), "CaptchaSecret(..)");
    }
}
