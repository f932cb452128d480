//! The guard a request passes before it touches the inventory: the
//! blacklist, then bot scoring (with a captcha for a challenged request),
//! then the rate limits.

use super::LimitError;
use super::blacklist::{BlacklistRecord, BlacklistStore};
use super::bot::{BotAssessment, BotPolicy, BotSignals, BotVerdict};
use super::captcha::{CaptchaError, CaptchaRequest, CaptchaSecret, CaptchaVerdict, CaptchaVerifier};
use super::identity::RequestIdentity;
use super::rate::{RateLimiter, RateVerdict};
use std::fmt::Write as _;
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
    /// Bot scoring blocked the request; the assessment names every signal
    /// that counted. Answer 403; no captcha can pass it, and no rate
    /// budget was spent.
    #[error("refused as a bot ({})", reasons(.0))]
    Bot(Box<BotAssessment>),
    /// Bot scoring asks for a captcha: send the request again with a
    /// token from the captcha widget ([`Evidence::captcha`]). `captcha` is
    /// the verifier's answer when a token came and was refused (its error
    /// codes say why), `None` when none came. Answer 403 (or 429) with the
    /// challenge; no rate budget was spent.
    #[error("captcha required ({}){}", reasons(.assessment), captcha_failure(.captcha.as_ref()))]
    Challenge {
        /// The score that asked for the captcha, with its reasons.
        assessment: Box<BotAssessment>,
        /// The refused token's verdict, if a token came.
        captcha: Option<CaptchaVerdict>,
    },
    /// A rate limit refused. Answer 429 with `Retry-After`.
    #[error("rate limited; retry in {retry_after:?}")]
    RateLimited {
        /// How long until every refusing limit would allow the request.
        retry_after: Duration,
        /// Every limit's answer.
        verdict: RateVerdict,
    },
    /// The captcha service could not verify a token. The guard fails
    /// closed: the request is refused (retry).
    #[error(transparent)]
    Captcha(#[from] CaptchaError),
    /// A store failed. The guard fails closed: the request is refused.
    #[error(transparent)]
    Store(#[from] LimitError),
}

/// `score 850: new_account (+150), regular_timing (+300), ...`.
fn reasons(a: &BotAssessment) -> String {
    let mut s = format!("score {}", a.score);
    for (i, c) in a.contributions.iter().enumerate() {
        let sep = if i == 0 { ": " } else { ", " };
        let _ = write!(s, "{sep}{} (+{}; {})", c.signal.as_str(), c.points, c.detail);
    }
    s
}

fn captcha_failure(v: Option<&CaptchaVerdict>) -> String {
    match v {
        None => String::new(),
        Some(v) => {
            let codes: Vec<&str> = v.error_codes.iter().map(|c| c.as_str()).collect();
            format!("; the captcha was refused: {}", codes.join(", "))
        }
    }
}

/// What a request brings besides its identity, for bot scoring: the
/// signals known about its client and, after a challenge, the captcha
/// token the widget gave it. The default brings nothing (the request is
/// not scored).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Evidence {
    /// The client's signals; `None`: not scored.
    pub signals: Option<BotSignals>,
    /// A captcha token (`cf-turnstile-response`, `h-captcha-response`).
    pub captcha: Option<String>,
}

impl Evidence {
    /// Evidence of `signals`, with no captcha token.
    pub fn signals(signals: BotSignals) -> Self {
        Evidence { signals: Some(signals), captcha: None }
    }

    /// The same evidence with a captcha token.
    pub fn with_captcha(mut self, token: impl Into<String>) -> Self {
        self.captcha = Some(token.into());
        self
    }
}

/// What the guard found of a request it let through.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cleared {
    /// The bot score, when the request was scored.
    pub bot: Option<BotAssessment>,
    /// A captcha token was verified (the score asked for one).
    pub captcha_passed: bool,
    /// Every rate limit's answer.
    pub rates: RateVerdict,
}

#[derive(Clone, Debug)]
struct BotCheck {
    policy: BotPolicy,
    captcha: Arc<dyn CaptchaVerifier>,
    secret: CaptchaSecret,
}

/// Runs a request through the blacklist, then bot scoring, then the rate
/// limits, before the request reaches the inventory. A request refused at
/// any step is not run; one refused by the blacklist or by bot scoring
/// spends no rate budget.
///
/// ```ignore
/// let guard = AbuseGuard::new(blacklist)
///     .with_bot_policy(BotPolicy::default(), captcha, CaptchaSecret(secret))?
///     .with_limits(holds);
/// let evidence = Evidence::signals(signals).with_captcha(token);
/// let hold = guard.run_with(&who, &evidence, || inventory.hold_seats(&req)).await??;
/// ```
#[derive(Clone, Debug)]
pub struct AbuseGuard {
    blacklist: Arc<dyn BlacklistStore>,
    bots: Option<BotCheck>,
    limits: Vec<RateLimiter>,
}

impl AbuseGuard {
    /// A guard over `blacklist`, with no bot scoring and no rate limit yet.
    pub fn new(blacklist: Arc<dyn BlacklistStore>) -> Self {
        AbuseGuard { blacklist, bots: None, limits: Vec::new() }
    }

    /// Also applies `limiter` (after the blacklist and bot scoring, and
    /// after the limiters added before it).
    pub fn with_limits(mut self, limiter: RateLimiter) -> Self {
        self.limits.push(limiter);
        self
    }

    /// Also scores requests that bring signals by `policy` (after the
    /// blacklist, before the rate limits): a block refuses the request, a
    /// challenge refuses it unless it brings a captcha token that `captcha`
    /// verifies with `secret` (a token verifies once).
    ///
    /// Errors: `InvalidPolicy` (see [`BotPolicy::validate`]).
    pub fn with_bot_policy(
        mut self,
        policy: BotPolicy,
        captcha: Arc<dyn CaptchaVerifier>,
        secret: CaptchaSecret,
    ) -> Result<Self, LimitError> {
        policy.validate()?;
        self.bots = Some(BotCheck { policy, captcha, secret });
        Ok(self)
    }

    /// Decides on `who`, bringing no bot evidence: `Ok` with the rate
    /// limits' answers when the request may go on.
    ///
    /// Errors: as [`Self::admit_with`].
    pub async fn admit(&self, who: &RequestIdentity) -> Result<RateVerdict, Refused> {
        Ok(self.admit_with(who, &Evidence::default()).await?.rates)
    }

    /// Decides on `who` bringing `evidence`: the blacklist, then (when the
    /// guard has a bot policy and the evidence has signals) the bot score
    /// and the captcha, then the rate limits.
    ///
    /// Errors: `Blacklisted`, `Bot`, `Challenge`, `RateLimited`; `Captcha`
    /// or `Store` when a service or store failed (the request is refused).
    pub async fn admit_with(&self, who: &RequestIdentity, evidence: &Evidence) -> Result<Cleared, Refused> {
        if let Some(record) = self.blacklist.check(who).await? {
            return Err(Refused::Blacklisted(Box::new(record)));
        }
        let mut cleared = Cleared::default();
        if let (Some(bots), Some(signals)) = (&self.bots, &evidence.signals) {
            let assessment = bots.policy.assess(signals)?;
            match assessment.verdict {
                BotVerdict::Allow => {}
                BotVerdict::Block => return Err(Refused::Bot(Box::new(assessment))),
                BotVerdict::Challenge => {
                    let Some(token) = &evidence.captcha else {
                        return Err(Refused::Challenge { assessment: Box::new(assessment), captcha: None });
                    };
                    let req = CaptchaRequest {
                        secret: bots.secret.clone(),
                        response: token.clone(),
                        remote_ip: who.ip,
                        idempotency_key: None,
                    };
                    let verdict = bots.captcha.verify(&req).await?;
                    if !verdict.success {
                        return Err(Refused::Challenge { assessment: Box::new(assessment), captcha: Some(verdict) });
                    }
                    cleared.captcha_passed = true;
                }
            }
            cleared.bot = Some(assessment);
        }
        for limiter in &self.limits {
            cleared.rates.decisions.extend(limiter.check(who).await?.decisions);
        }
        if cleared.rates.allowed() {
            Ok(cleared)
        } else {
            Err(Refused::RateLimited { retry_after: cleared.rates.retry_after(), verdict: cleared.rates })
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
        self.run_with(who, &Evidence::default(), request).await
    }

    /// Runs `request` only if [`Self::admit_with`] lets `who` through with
    /// `evidence`, and returns its output.
    ///
    /// Errors: as [`Self::admit_with`]; `request` is not called then.
    pub async fn run_with<T, F, Fut>(
        &self,
        who: &RequestIdentity,
        evidence: &Evidence,
        request: F,
    ) -> Result<T, Refused>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        self.admit_with(who, evidence).await?;
        Ok(request().await)
    }
}
