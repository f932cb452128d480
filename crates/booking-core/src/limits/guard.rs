//! The guard a request passes before it touches the inventory.

use super::LimitError;
use super::blacklist::{BlacklistRecord, BlacklistStore};
use super::identity::RequestIdentity;
use super::rate::{RateLimiter, RateVerdict};
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;

/// Why the guard refused a request.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Refused {
    /// A blacklist entry matched (which one is in the record). Answer 403;
    /// the request spent no rate budget.
    #[error("refused by the blacklist ({})", .0.entry)]
    Blacklisted(Box<BlacklistRecord>),
    /// A rate limit refused. Answer 429 with `Retry-After`.
    #[error("rate limited; retry in {retry_after:?}")]
    RateLimited {
        /// How long until every refusing limit would allow the request.
        retry_after: Duration,
        /// Every limit's answer.
        verdict: RateVerdict,
    },
    /// A store failed. The guard fails closed: the request is refused.
    #[error(transparent)]
    Store(#[from] LimitError),
}

/// Runs a request's identity through the blacklist, then the rate limits,
/// before the request reaches the inventory: a blacklisted identity is
/// refused without touching the inventory or spending rate budget.
///
/// ```ignore
/// let hold = guard.run(&who, || inventory.hold_seats(&req)).await??;
/// ```
#[derive(Clone, Debug)]
pub struct AbuseGuard {
    blacklist: Arc<dyn BlacklistStore>,
    limits: Vec<RateLimiter>,
}

impl AbuseGuard {
    /// A guard over `blacklist`, with no rate limit yet.
    pub fn new(blacklist: Arc<dyn BlacklistStore>) -> Self {
        AbuseGuard { blacklist, limits: Vec::new() }
    }

    /// Also applies `limiter` (after the blacklist, and after the limiters
    /// added before it).
    pub fn with_limits(mut self, limiter: RateLimiter) -> Self {
        self.limits.push(limiter);
        self
    }

    /// Decides on `who`: `Ok` with the rate limits' answers when the
    /// request may go on.
    ///
    /// Errors: `Blacklisted`, `RateLimited`, or `Store` when a store
    /// failed (the request is refused).
    pub async fn admit(&self, who: &RequestIdentity) -> Result<RateVerdict, Refused> {
        if let Some(record) = self.blacklist.check(who).await? {
            return Err(Refused::Blacklisted(Box::new(record)));
        }
        let mut verdict = RateVerdict::default();
        for limiter in &self.limits {
            verdict.decisions.extend(limiter.check(who).await?.decisions);
        }
        if verdict.allowed() {
            Ok(verdict)
        } else {
            Err(Refused::RateLimited { retry_after: verdict.retry_after(), verdict })
        }
    }

    /// Runs `request` only if [`Self::admit`] lets `who` through, and
    /// returns its output.
    ///
    /// Errors: as [`Self::admit`]; `request` is not called then.
    pub async fn run<T, F, Fut>(&self, who: &RequestIdentity, request: F) -> Result<T, Refused>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        self.admit(who).await?;
        Ok(request().await)
    }
}
