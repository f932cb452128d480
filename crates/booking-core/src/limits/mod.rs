//! Anti-abuse limits: rate limits, blacklists, bot scoring and a captcha
//! port, run before a request touches the inventory.
//!
//! - **Rate limits** ([`RateLimiter`] over a [`RateLimitStore`]): GCRA
//!   (the generic cell rate algorithm) per account, per IP network
//!   ([`IpGrouping`]: IPv4 by a configurable prefix, IPv6 by /64 by
//!   default) and per payment fingerprint. The arithmetic is one pure
//!   function, [`gcra_step`], in integer microseconds; every store runs
//!   exactly that function atomically (in process, as a Redis Lua script,
//!   as one PostgreSQL `INSERT ... ON CONFLICT DO UPDATE`), so a limit is
//!   shared by every server of a deployment. An answer says whether the
//!   request may go, when to retry ([`RateDecision::retry_after`], for a
//!   `Retry-After` header) and how much burst is left.
//! - **Blacklists** ([`BlacklistStore`]): accounts, IP addresses and CIDR
//!   ranges (v4 and v6), payment fingerprints, for good or until an
//!   expiry; a check answers which entry matched.
//! - **The guard** ([`AbuseGuard`]): blacklist first, then bot scoring
//!   (a block refuses, a challenge asks for a captcha), then rate limits,
//!   so that a blacklisted or blocked identity is refused before it
//!   reaches the inventory (and spends no rate budget).
//! - **Bot scoring** ([`BotPolicy::assess`]): request signals into
//!   allow / challenge / block, with each signal's contribution. Pure,
//!   deterministic, integer arithmetic.
//! - **Captcha** ([`CaptchaVerifier`]): a port shaped like Cloudflare
//!   Turnstile's and hCaptcha's `siteverify`, with a test verifier
//!   ([`TestCaptcha`]); no HTTP client here.
//!
//! Every store decides by one clock (the store's own in production, an
//! injected one in tests), as the inventory does (docs/design.md, I8).

mod blacklist;
mod bot;
mod captcha;
mod gcra;
mod guard;
mod identity;
mod rate;

pub use blacklist::{
    BlacklistEntry, BlacklistRecord, BlacklistStore, MAX_REASON_BYTES, check_reason, expiry_millis, first_match,
};
pub use bot::{BotAssessment, BotPolicy, BotSignals, BotVerdict, Contribution, Signal};
pub use captcha::{
    CaptchaError, CaptchaErrorCode, CaptchaRequest, CaptchaSecret, CaptchaVerdict, CaptchaVerifier, TestCaptcha,
};
pub use gcra::{
    Acquire, GcraStep, MAX_NOW_MICROS, MAX_SPAN, Quota, QuotaProblem, RateDecision, gcra_step, micros_from_millis,
};
pub use guard::{AbuseGuard, Cleared, Evidence, Refused};
pub use identity::{IpGrouping, IpNetwork, LimitKey, PaymentFingerprint, RequestIdentity};
pub use rate::{RateLimitStore, RateLimiter, RateVerdict, Scope, ScopeDecision};

use thiserror::Error;

/// Why a limits request was refused, or a store failed.
///
/// Every refusal of bad input (`InvalidQuota` to `ClockOutOfRange`) is
/// decided before the store is touched: it changes nothing.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum LimitError {
    /// The quota cannot be enforced: fix its rate or burst.
    #[error("invalid quota: {0}")]
    InvalidQuota(QuotaProblem),
    /// A request's cost is zero, or larger than the quota's burst (it could
    /// never be allowed).
    #[error("a request costs 1 to {burst} cells under this quota, not {cost}")]
    InvalidCost {
        /// The cost asked for.
        cost: u32,
        /// The quota's burst: the most one request may cost.
        burst: u32,
    },
    /// A rate-limit key is empty, longer than [`LimitKey::MAX_BYTES`], or
    /// holds a character outside printable ASCII (or a brace).
    #[error("invalid rate-limit key: {0}")]
    InvalidKey(&'static str),
    /// A rate limiter's name is empty, longer than 32 bytes, or not made of
    /// `a-z`, `0-9`, `-` and `_`.
    #[error("invalid rate limiter name {0:?}: 1 to 32 of a-z, 0-9, '-', '_'")]
    InvalidName(String),
    /// An IP network or prefix length cannot be read (or has host bits set).
    #[error("invalid IP network: {0}")]
    InvalidNetwork(String),
    /// A payment fingerprint is empty, longer than
    /// [`PaymentFingerprint::MAX_BYTES`], or holds a character outside
    /// printable ASCII (or a brace).
    #[error("invalid payment fingerprint: {0}")]
    InvalidFingerprint(&'static str),
    /// A blacklist reason is longer than [`MAX_REASON_BYTES`].
    #[error("a blacklist reason is at most {MAX_REASON_BYTES} bytes")]
    InvalidReason,
    /// A blacklist expiry before 1970 or past about 2250 (Unix ms given).
    #[error("a blacklist expiry of {0} ms is outside the range limits can count")]
    InvalidExpiry(i64),
    /// Bot-scoring thresholds that cannot be ordered (challenge above
    /// block, say).
    #[error("invalid bot policy: {0}")]
    InvalidPolicy(&'static str),
    /// The decision clock reads a time outside what the stores can count
    /// exactly (before 1970, or after about 2250).
    #[error("the clock reads {0} ms, outside the range limits can count")]
    ClockOutOfRange(i64),
    /// The store failed; nothing is known about whether the request was
    /// counted.
    #[error("limits store: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl LimitError {
    /// A backend error from any error value.
    pub fn backend(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        LimitError::Backend(e.into())
    }
}
