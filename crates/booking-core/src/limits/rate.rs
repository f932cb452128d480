//! The rate-limit store port and the limiter that applies per-account,
//! per-network and per-fingerprint quotas through it.

use super::LimitError;
use super::gcra::{Acquire, Quota, RateDecision};
use super::identity::{IpGrouping, LimitKey, RequestIdentity};
use async_trait::async_trait;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

/// Where GCRA state lives: one TAT per key, moved by
/// [`gcra_step`](super::gcra_step) atomically. Decisions use the store's
/// clock (the injected one in tests).
#[async_trait]
pub trait RateLimitStore: Send + Sync + Debug {
    /// Takes `req.cost` cells from `req.key`'s budget if the quota allows,
    /// atomically: concurrent requests on one key are decided one after
    /// the other, so a burst of `b` passes exactly `b` of them.
    ///
    /// Errors: `InvalidKey`, `InvalidCost` (nothing is changed),
    /// `ClockOutOfRange`, `Backend`.
    async fn acquire(&self, req: &Acquire) -> Result<RateDecision, LimitError>;

    /// Forgets `key`'s state: its next request finds the full burst.
    ///
    /// Errors: `InvalidKey`, `Backend`.
    async fn reset(&self, key: &LimitKey) -> Result<(), LimitError>;

    /// Deletes state that no longer affects any decision (keys whose
    /// budget is full again); returns how many. A store whose entries
    /// expire by themselves may find nothing to do.
    async fn purge(&self) -> Result<u64, LimitError>;
}

/// Which part of a request's identity a limit counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// The signed-in account.
    Account,
    /// The client's IP network (see [`IpGrouping`]).
    Ip,
    /// The payment method's fingerprint.
    Fingerprint,
}

impl Scope {
    fn tag(self) -> &'static str {
        match self {
            Scope::Account => "a",
            Scope::Ip => "ip",
            Scope::Fingerprint => "fp",
        }
    }
}

/// One limit's answer within a [`RateVerdict`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScopeDecision {
    /// What was counted.
    pub scope: Scope,
    /// The budget spent (e.g. `hold:ip:203.0.113.0/24`).
    pub key: LimitKey,
    /// Its answer.
    pub decision: RateDecision,
}

/// The answer of every limit that applied to a request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RateVerdict {
    /// One entry per limit that applied, in scope order (account, IP,
    /// fingerprint).
    pub decisions: Vec<ScopeDecision>,
}

impl RateVerdict {
    /// Every limit allowed the request (true when none applied).
    pub fn allowed(&self) -> bool {
        self.decisions.iter().all(|d| d.decision.allowed)
    }

    /// How long until every refusing limit would allow the same request
    /// (zero when allowed): the `Retry-After` to send.
    pub fn retry_after(&self) -> Duration {
        self.decisions.iter().map(|d| d.decision.retry_after).max().unwrap_or(Duration::ZERO)
    }

    /// The first limit that refused, if any.
    pub fn refused_by(&self) -> Option<&ScopeDecision> {
        self.decisions.iter().find(|d| !d.decision.allowed)
    }

    /// The smallest burst left over the limits that applied (`None` when
    /// none did): the `RateLimit-Remaining` to send.
    pub fn remaining(&self) -> Option<u32> {
        self.decisions.iter().map(|d| d.decision.remaining).min()
    }
}

/// Rate limits for one kind of request (say `hold` or `checkout`): a
/// quota per account, per IP network and per payment fingerprint, each
/// optional, enforced through a [`RateLimitStore`].
///
/// Each limit that applies to a request (the identity has that part, and
/// a quota is set for it) spends from its own budget; the request passes
/// when all of them allow it. A refused request still spends from the
/// limits that allowed it: a client hammering one limit pays for it in
/// the others, and no second round trip is needed to give cells back.
#[derive(Clone, Debug)]
pub struct RateLimiter {
    store: Arc<dyn RateLimitStore>,
    name: String,
    account: Option<Quota>,
    ip: Option<Quota>,
    fingerprint: Option<Quota>,
    grouping: IpGrouping,
}

impl RateLimiter {
    /// A limiter named `name` (1 to 32 of `a-z`, `0-9`, `-`, `_`; it
    /// prefixes its keys, so limiters of different names never share a
    /// budget), with no limit set yet.
    ///
    /// Errors: `InvalidName`.
    pub fn new(store: Arc<dyn RateLimitStore>, name: &str) -> Result<Self, LimitError> {
        let ok = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_';
        if name.is_empty() || name.len() > 32 || !name.bytes().all(ok) {
            return Err(LimitError::InvalidName(name.chars().take(40).collect()));
        }
        Ok(RateLimiter {
            store,
            name: name.to_owned(),
            account: None,
            ip: None,
            fingerprint: None,
            grouping: IpGrouping::default(),
        })
    }

    /// Limits each account to `quota`.
    pub fn per_account(mut self, quota: Quota) -> Self {
        self.account = Some(quota);
        self
    }

    /// Limits each IP network (grouped by [`Self::ip_grouping`]) to `quota`.
    pub fn per_ip(mut self, quota: Quota) -> Self {
        self.ip = Some(quota);
        self
    }

    /// Limits each payment fingerprint to `quota`.
    pub fn per_fingerprint(mut self, quota: Quota) -> Self {
        self.fingerprint = Some(quota);
        self
    }

    /// How IP addresses share budgets (default: IPv4 /32, IPv6 /64).
    pub fn ip_grouping(mut self, grouping: IpGrouping) -> Self {
        self.grouping = grouping;
        self
    }

    /// The keys and quotas that apply to `who`, in scope order.
    pub fn keys(&self, who: &RequestIdentity) -> Vec<(Scope, LimitKey, Quota)> {
        let key = |scope: Scope, id: String| LimitKey(format!("{}:{}:{id}", self.name, scope.tag()));
        let mut keys = Vec::with_capacity(3);
        if let (Some(q), Some(a)) = (self.account, who.account) {
            keys.push((Scope::Account, key(Scope::Account, a.as_uuid().simple().to_string()), q));
        }
        if let (Some(q), Some(ip)) = (self.ip, who.ip) {
            keys.push((Scope::Ip, key(Scope::Ip, self.grouping.group(ip).to_string()), q));
        }
        if let (Some(q), Some(fp)) = (self.fingerprint, &who.fingerprint) {
            keys.push((Scope::Fingerprint, key(Scope::Fingerprint, fp.as_str().to_owned()), q));
        }
        keys
    }

    /// Spends one cell from every limit that applies to `who`.
    ///
    /// Errors: the store's.
    pub async fn check(&self, who: &RequestIdentity) -> Result<RateVerdict, LimitError> {
        self.check_cost(who, 1).await
    }

    /// Spends `cost` cells from every limit that applies to `who`.
    ///
    /// Errors: `InvalidCost` (checked against every quota before any is
    /// spent), and the store's.
    pub async fn check_cost(&self, who: &RequestIdentity, cost: u32) -> Result<RateVerdict, LimitError> {
        let keys = self.keys(who);
        for (_, _, quota) in &keys {
            quota.increment_micros(cost)?;
        }
        let mut decisions = Vec::with_capacity(keys.len());
        for (scope, key, quota) in keys {
            let decision = self.store.acquire(&Acquire { key: key.clone(), quota, cost }).await?;
            decisions.push(ScopeDecision { scope, key, decision });
        }
        Ok(RateVerdict { decisions })
    }
}
