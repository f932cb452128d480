//! The generic cell rate algorithm as one pure function.
//!
//! A key's whole state is its *theoretical arrival time* (TAT): the
//! instant at which its budget would be full again. A quota of `burst`
//! cells refilled one per emission interval `T` allows a request costing
//! `n` cells at `now` when
//!
//! ```text
//! max(TAT, now) + n*T - now <= burst*T
//! ```
//!
//! and then moves the TAT to `max(TAT, now) + n*T`; a refused request
//! leaves it alone. That is [`gcra_step`]: additions, a maximum and a
//! comparison, nothing else, so that the Redis Lua script and the
//! PostgreSQL statement run the very same steps. Divisions (the emission
//! interval, the burst left) happen here, in Rust, before and after the
//! store's step.
//!
//! Units are integer microseconds. Redis runs Lua, whose numbers are
//! doubles: integers are exact below 2^53, and Unix microseconds stay
//! below that until about 2250 ([`MAX_NOW_MICROS`]); spans are capped at
//! [`MAX_SPAN`], so no sum a store computes leaves the exact range.
//! Nanoseconds would not fit; milliseconds would round a rate of 3 per
//! second to 333 ms and let it run 0.1% fast. The emission interval is
//! rounded up, so a rate is never exceeded.

use super::LimitError;
use super::identity::LimitKey;
use std::fmt;
use std::time::Duration;

/// The longest a quota's full burst may take to refill (366 days), and the
/// longest period of a rate.
pub const MAX_SPAN: Duration = Duration::from_secs(366 * 24 * 3600);

const MAX_SPAN_MICROS: i64 = 366 * 24 * 3600 * 1_000_000;

/// The latest decision time (Unix microseconds) the stores count exactly:
/// 2^53 (the exact integers of a double, as Lua counts) minus room for a
/// TAT two spans ahead. About the year 2250.
pub const MAX_NOW_MICROS: i64 = (1i64 << 53) - 2 * MAX_SPAN_MICROS - 1;

/// Converts a clock's Unix milliseconds to the microseconds GCRA counts
/// in, refusing times the stores cannot count exactly.
pub fn micros_from_millis(ms: i64) -> Result<i64, LimitError> {
    match ms.checked_mul(1_000) {
        Some(us) if (0..=MAX_NOW_MICROS).contains(&us) => Ok(us),
        _ => Err(LimitError::ClockOutOfRange(ms)),
    }
}

/// What is wrong with a quota.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum QuotaProblem {
    /// A rate of zero requests.
    ZeroCount,
    /// A rate over a zero (or sub-microsecond) period.
    ZeroPeriod,
    /// A burst of zero: nothing could ever pass.
    ZeroBurst,
    /// More than one request per microsecond.
    TooFast,
    /// A period longer than [`MAX_SPAN`].
    PeriodTooLong,
    /// A burst that takes longer than [`MAX_SPAN`] to refill.
    BurstTooLong,
}

impl fmt::Display for QuotaProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            QuotaProblem::ZeroCount => "a rate allows at least one request",
            QuotaProblem::ZeroPeriod => "a rate's period is at least one microsecond",
            QuotaProblem::ZeroBurst => "a burst is at least one request",
            QuotaProblem::TooFast => "a rate allows at most one request per microsecond",
            QuotaProblem::PeriodTooLong => "a rate's period is at most 366 days",
            QuotaProblem::BurstTooLong => "a full burst refills in at most 366 days",
        })
    }
}

/// A rate limit: `count` requests per `per`, with bursts of up to `burst`
/// requests at once. Built only through [`Quota::new`], which checks it,
/// so every `Quota` can be enforced exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Quota {
    emission_us: i64,
    burst: u32,
}

impl Quota {
    /// `count` requests per `per` on average, `burst` at once.
    ///
    /// Errors: `InvalidQuota` for a zero count, period or burst, more than
    /// one request per microsecond, or a period or full burst longer than
    /// [`MAX_SPAN`].
    pub fn new(count: u32, per: Duration, burst: u32) -> Result<Self, LimitError> {
        let bad = |p| Err(LimitError::InvalidQuota(p));
        if count == 0 {
            return bad(QuotaProblem::ZeroCount);
        }
        if burst == 0 {
            return bad(QuotaProblem::ZeroBurst);
        }
        if per > MAX_SPAN {
            return bad(QuotaProblem::PeriodTooLong);
        }
        // At most MAX_SPAN_MICROS: fits an i64.
        let per_us = per.as_micros() as i64;
        if per_us == 0 {
            return bad(QuotaProblem::ZeroPeriod);
        }
        if i64::from(count) > per_us {
            return bad(QuotaProblem::TooFast);
        }
        // Rounded up: the rate is never exceeded.
        let emission_us = (per_us + i64::from(count) - 1) / i64::from(count);
        if emission_us.saturating_mul(i64::from(burst)) > MAX_SPAN_MICROS {
            return bad(QuotaProblem::BurstTooLong);
        }
        Ok(Quota { emission_us, burst })
    }

    /// `count` requests per second, `burst` at once.
    pub fn per_second(count: u32, burst: u32) -> Result<Self, LimitError> {
        Self::new(count, Duration::from_secs(1), burst)
    }

    /// `count` requests per minute, `burst` at once.
    pub fn per_minute(count: u32, burst: u32) -> Result<Self, LimitError> {
        Self::new(count, Duration::from_secs(60), burst)
    }

    /// The time one cell takes to come back (the period divided by the
    /// count, rounded up to the microsecond).
    pub fn emission_interval(&self) -> Duration {
        Duration::from_micros(self.emission_us as u64)
    }

    /// The emission interval in microseconds.
    pub fn emission_micros(&self) -> i64 {
        self.emission_us
    }

    /// The most cells a key may spend at once.
    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// The time a full burst takes to refill, in microseconds: the most a
    /// key's TAT may run ahead of now.
    pub fn span_micros(&self) -> i64 {
        self.emission_us * i64::from(self.burst)
    }

    /// What a request of `cost` cells adds to the TAT, in microseconds.
    ///
    /// Errors: `InvalidCost` for a zero cost or one above the burst.
    pub fn increment_micros(&self, cost: u32) -> Result<i64, LimitError> {
        if cost == 0 || cost > self.burst {
            return Err(LimitError::InvalidCost { cost, burst: self.burst });
        }
        Ok(self.emission_us * i64::from(cost))
    }
}

/// The outcome of one [`gcra_step`]: whether the request passes, and the
/// key's TAT after it (what the store keeps).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GcraStep {
    /// The request may go.
    pub allowed: bool,
    /// The TAT after the step (Unix µs): moved on when allowed; when
    /// refused, the stored TAT or `now`, whichever is later.
    pub tat: i64,
}

/// One GCRA decision: a request adding `increment` µs to a key whose TAT
/// is `stored` (none: a key never seen, or forgotten), at `now`, under a
/// quota whose full burst spans `span` µs. Saturating; only additions, a
/// maximum and a comparison, which every store mirrors exactly.
pub fn gcra_step(stored: Option<i64>, now: i64, increment: i64, span: i64) -> GcraStep {
    let base = stored.map_or(now, |tat| tat.max(now));
    let next = base.saturating_add(increment);
    if next.saturating_sub(now) <= span {
        GcraStep { allowed: true, tat: next }
    } else {
        GcraStep { allowed: false, tat: base }
    }
}

/// Take `cost` cells from `key`'s budget under `quota`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acquire {
    /// Whose budget.
    pub key: LimitKey,
    /// The limit.
    pub quota: Quota,
    /// How many cells the request costs (1 for most requests).
    pub cost: u32,
}

impl Acquire {
    /// A request of one cell.
    pub fn one(key: LimitKey, quota: Quota) -> Self {
        Acquire { key, quota, cost: 1 }
    }

    /// Checks the key and the cost; returns the increment in µs.
    ///
    /// Errors: `InvalidKey`, `InvalidCost`.
    pub fn validate(&self) -> Result<i64, LimitError> {
        self.key.validate()?;
        self.quota.increment_micros(self.cost)
    }
}

/// A rate limit's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateDecision {
    /// The request may go (its cells are spent).
    pub allowed: bool,
    /// When refused: how long until the same request would pass (for a
    /// `Retry-After` header; zero when allowed). Exact to the microsecond.
    pub retry_after: Duration,
    /// How many more one-cell requests would pass right now.
    pub remaining: u32,
    /// How long until the whole burst is back.
    pub reset_after: Duration,
    /// The quota's burst.
    pub limit: u32,
}

impl RateDecision {
    /// The answer for a store's step: `increment` µs asked at `now` under
    /// `quota`, `step` what [`gcra_step`] (or the store's copy of it) did.
    pub fn from_step(quota: &Quota, increment: i64, now: i64, step: GcraStep) -> Self {
        let ahead = step.tat.saturating_sub(now).max(0);
        let span = quota.span_micros();
        let micros = |us: i64| Duration::from_micros(us.max(0) as u64);
        let remaining = (span.saturating_sub(ahead).max(0) / quota.emission_us).min(i64::from(quota.burst)) as u32;
        let retry_after = if step.allowed {
            Duration::ZERO
        } else {
            micros(step.tat.saturating_add(increment).saturating_sub(now).saturating_sub(span))
        };
        RateDecision { allowed: step.allowed, retry_after, remaining, reset_after: micros(ahead), limit: quota.burst }
    }

    /// The pure decision for a request on a key whose TAT is `stored`, and
    /// the TAT to keep: what the in-process store does under its lock.
    pub fn decide(req: &Acquire, stored: Option<i64>, now: i64) -> Result<(Self, GcraStep), LimitError> {
        let increment = req.validate()?;
        let step = gcra_step(stored, now, increment, req.quota.span_micros());
        Ok((Self::from_step(&req.quota, increment, now, step), step))
    }
}

#[cfg(test)]
mod tests;
