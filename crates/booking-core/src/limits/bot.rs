//! Bot scoring: request signals into allow / challenge / block, with each
//! signal's contribution, so that a decision can be explained (to the
//! operator, in a log line) and tuned.
//!
//! Pure and deterministic: the same signals and policy give the same
//! assessment on every server. Integer arithmetic only; the regularity of
//! a client's timing is the coefficient of variation of its request gaps
//! (standard deviation over mean: people are irregular, scripts are not),
//! computed exactly in `u128` and reported in thousandths.

use super::LimitError;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Longest gap counted, in ms (a day): keeps every sum exact in `u128`.
const MAX_GAP_MS: u64 = 86_400_000;
/// Most recent gaps counted.
const MAX_SAMPLES: usize = 1_000;

/// What is known about a request's client.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BotSignals {
    /// How old the account is (`None`: not signed in).
    pub account_age: Option<Duration>,
    /// How many orders the account has completed.
    pub completed_orders: u32,
    /// Gaps between the client's recent requests, in ms, oldest first (the
    /// last 1,000 are used; gaps over a day count as a day).
    pub request_gaps_ms: Vec<u64>,
    /// How many distinct accounts have used this request's payment
    /// fingerprint recently (this one included; 0 when unknown).
    pub accounts_on_fingerprint: u32,
    /// How many captchas this client failed recently.
    pub failed_captchas: u32,
}

/// A signal that can add to a score.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Signal {
    /// No account is signed in.
    NoAccount,
    /// The account is younger than [`BotPolicy::new_account`].
    NewAccount,
    /// The account never completed an order.
    NoHistory,
    /// Requests arrive at nearly constant intervals.
    RegularTiming,
    /// Requests arrive faster than a person clicks.
    RapidRequests,
    /// One payment fingerprint is used by many accounts.
    SharedFingerprint,
    /// The client failed captchas.
    FailedCaptchas,
}

impl Signal {
    /// The signal's name as it is serialized (`new_account`, ...).
    pub fn as_str(&self) -> &'static str {
        match self {
            Signal::NoAccount => "no_account",
            Signal::NewAccount => "new_account",
            Signal::NoHistory => "no_history",
            Signal::RegularTiming => "regular_timing",
            Signal::RapidRequests => "rapid_requests",
            Signal::SharedFingerprint => "shared_fingerprint",
            Signal::FailedCaptchas => "failed_captchas",
        }
    }
}

/// One signal's part in a score.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contribution {
    /// The signal.
    pub signal: Signal,
    /// The points it added.
    pub points: u32,
    /// What was measured, for people (e.g. `"gap CV 0.012 over 20 gaps"`).
    pub detail: String,
}

/// What to do with the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BotVerdict {
    /// Let it through.
    Allow,
    /// Ask for a captcha first.
    Challenge,
    /// Refuse it.
    Block,
}

/// A score and how it was reached.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BotAssessment {
    /// The sum of the contributions (saturating).
    pub score: u32,
    /// The verdict the policy's thresholds give the score.
    pub verdict: BotVerdict,
    /// Every signal that added points, in [`Signal`] order.
    pub contributions: Vec<Contribution>,
}

/// Thresholds and weights. The defaults challenge a young account with no
/// history whose requests tick like a metronome, and block it when it
/// also clicks faster than people do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BotPolicy {
    /// Scores from here challenge (default 400).
    pub challenge_at: u32,
    /// Scores from here block (default 700); at least `challenge_at`.
    pub block_at: u32,
    /// Points when no account is signed in (default 100).
    pub no_account_points: u32,
    /// Accounts younger than this are new (default 24 h).
    pub new_account: Duration,
    /// Points for a new account (default 150).
    pub new_account_points: u32,
    /// Points for an account with no completed order (default 100).
    pub no_history_points: u32,
    /// Gaps needed before timing counts (default 8; at least 2).
    pub min_gaps: usize,
    /// A coefficient of variation of the gaps below this, in thousandths,
    /// is machine-regular (default 100, i.e. 0.1).
    pub regular_cv_permille: u32,
    /// Points for machine-regular timing (default 300).
    pub regular_points: u32,
    /// A mean gap below this, in ms, is faster than people click (default
    /// 250).
    pub rapid_gap_ms: u64,
    /// Points for rapid requests (default 200).
    pub rapid_points: u32,
    /// More accounts than this on one fingerprint is suspicious (default 3).
    pub shared_fingerprint_accounts: u32,
    /// Points per account over that (default 100) ...
    pub shared_fingerprint_points: u32,
    /// ... up to this many (default 400).
    pub shared_fingerprint_max: u32,
    /// Points per failed captcha (default 150) ...
    pub failed_captcha_points: u32,
    /// ... up to this many (default 450).
    pub failed_captcha_max: u32,
}

impl Default for BotPolicy {
    fn default() -> Self {
        BotPolicy {
            challenge_at: 400,
            block_at: 700,
            no_account_points: 100,
            new_account: Duration::from_secs(24 * 3600),
            new_account_points: 150,
            no_history_points: 100,
            min_gaps: 8,
            regular_cv_permille: 100,
            regular_points: 300,
            rapid_gap_ms: 250,
            rapid_points: 200,
            shared_fingerprint_accounts: 3,
            shared_fingerprint_points: 100,
            shared_fingerprint_max: 400,
            failed_captcha_points: 150,
            failed_captcha_max: 450,
        }
    }
}

/// The coefficient of variation of `gaps` in thousandths (floor), and the
/// mean gap in ms (floor). All-zero gaps have a CV of 0 (perfectly
/// regular).
pub(crate) fn gap_stats(gaps: &[u64]) -> (u64, u64) {
    let n = gaps.len() as u128;
    if n == 0 {
        return (0, 0);
    }
    let (mut sum, mut squares) = (0u128, 0u128);
    for &g in gaps {
        let g = u128::from(g.min(MAX_GAP_MS));
        sum += g;
        squares += g * g;
    }
    let mean = (sum / n) as u64;
    if sum == 0 {
        return (0, mean);
    }
    // cv^2 = (n*Q - S^2) / S^2, exactly; n*Q >= S^2 (Cauchy-Schwarz).
    let spread = n * squares - sum * sum;
    let cv2_millionths = spread.saturating_mul(1_000_000) / (sum * sum);
    (cv2_millionths.isqrt().min(u128::from(u64::MAX)) as u64, mean)
}

impl BotPolicy {
    /// Checks the thresholds: `challenge_at <= block_at`, `min_gaps >= 2`.
    ///
    /// Errors: `InvalidPolicy`.
    pub fn validate(&self) -> Result<(), LimitError> {
        if self.challenge_at > self.block_at {
            return Err(LimitError::InvalidPolicy("challenge_at is above block_at"));
        }
        if self.min_gaps < 2 {
            return Err(LimitError::InvalidPolicy("timing needs at least 2 gaps"));
        }
        Ok(())
    }

    /// Scores `signals`.
    ///
    /// Errors: `InvalidPolicy` (see [`Self::validate`]).
    pub fn assess(&self, signals: &BotSignals) -> Result<BotAssessment, LimitError> {
        self.validate()?;
        let mut parts = Vec::new();
        let mut add = |signal, points: u32, detail: String| {
            if points > 0 {
                parts.push(Contribution { signal, points, detail });
            }
        };
        match signals.account_age {
            None => add(Signal::NoAccount, self.no_account_points, "not signed in".into()),
            Some(age) => {
                if age < self.new_account {
                    add(Signal::NewAccount, self.new_account_points, format!("account {} s old", age.as_secs()));
                }
                if signals.completed_orders == 0 {
                    add(Signal::NoHistory, self.no_history_points, "no completed order".into());
                }
            }
        }
        let gaps = &signals.request_gaps_ms[signals.request_gaps_ms.len().saturating_sub(MAX_SAMPLES)..];
        if gaps.len() >= self.min_gaps {
            let (cv, mean) = gap_stats(gaps);
            if cv < u64::from(self.regular_cv_permille) {
                let detail = format!("gap CV {}.{:03} over {} gaps", cv / 1000, cv % 1000, gaps.len());
                add(Signal::RegularTiming, self.regular_points, detail);
            }
            if mean < self.rapid_gap_ms {
                add(Signal::RapidRequests, self.rapid_points, format!("mean gap {mean} ms over {} gaps", gaps.len()));
            }
        }
        let extra = signals.accounts_on_fingerprint.saturating_sub(self.shared_fingerprint_accounts);
        if extra > 0 {
            let points = extra.saturating_mul(self.shared_fingerprint_points).min(self.shared_fingerprint_max);
            add(
                Signal::SharedFingerprint,
                points,
                format!("{} accounts on one fingerprint", signals.accounts_on_fingerprint),
            );
        }
        if signals.failed_captchas > 0 {
            let points =
                signals.failed_captchas.saturating_mul(self.failed_captcha_points).min(self.failed_captcha_max);
            add(Signal::FailedCaptchas, points, format!("{} failed captchas", signals.failed_captchas));
        }
        let score = parts.iter().fold(0u32, |s, c| s.saturating_add(c.points));
        let verdict = if score >= self.block_at {
            BotVerdict::Block
        } else if score >= self.challenge_at {
            BotVerdict::Challenge
        } else {
            BotVerdict::Allow
        };
        Ok(BotAssessment { score, verdict, contributions: parts })
    }
}

#[cfg(test)]
mod tests;
