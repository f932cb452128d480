use super::*;
use proptest::prelude::*;

const T0: i64 = 1_893_456_000_000_000;

fn key() -> LimitKey {
    LimitKey("k".into())
}

/// A token bucket with the same parameters, counted in microseconds of
/// credit: full at `burst * T`, refilled one µs per µs, a request of `n`
/// cells takes `n * T`. The obvious model GCRA must agree with.
struct Bucket {
    capacity: i64,
    level: i64,
    last: Option<i64>,
}

impl Bucket {
    fn new(q: &Quota) -> Self {
        Bucket { capacity: q.span_micros(), level: q.span_micros(), last: None }
    }

    fn take(&mut self, q: &Quota, now: i64, cost: u32) -> RateDecision {
        if let Some(last) = self.last {
            self.level = (self.level + (now - last)).min(self.capacity);
        }
        self.last = Some(now);
        let need = q.emission_micros() * i64::from(cost);
        let allowed = self.level >= need;
        let retry = if allowed {
            self.level -= need;
            0
        } else {
            need - self.level
        };
        RateDecision {
            allowed,
            retry_after: Duration::from_micros(retry as u64),
            remaining: (self.level / q.emission_micros()) as u32,
            reset_after: Duration::from_micros((self.capacity - self.level) as u64),
            limit: q.burst(),
        }
    }
}

proptest! {
    /// Over random request times and costs, GCRA answers exactly as the
    /// token bucket: allowed or not, retry-after, remaining, reset.
    #[test]
    fn gcra_agrees_with_a_token_bucket(
        count in 1u32..1_000,
        per_ms in 1u64..120_000,
        burst in 1u32..50,
        steps in prop::collection::vec((0i64..5_000_000, 1u32..50), 1..200),
    ) {
        let Ok(q) = Quota::new(count, Duration::from_millis(per_ms), burst) else { return Ok(()) };
        let mut bucket = Bucket::new(&q);
        let (mut tat, mut now) = (None, T0);
        for (gap, cost) in steps {
            now += gap;
            let req = Acquire { key: key(), quota: q, cost: cost.min(burst) };
            let (got, step) = RateDecision::decide(&req, tat, now).expect("valid");
            let want = bucket.take(&q, now, req.cost);
            prop_assert_eq!(got, want, "at {} cost {}", now - T0, req.cost);
            tat = Some(step.tat);
        }
    }

    /// Retrying after `retry_after` passes; a microsecond earlier does not.
    #[test]
    fn retry_after_is_exact(
        count in 1u32..100,
        per_ms in 1u64..10_000,
        burst in 1u32..20,
        spent in 0u32..40,
        cost in 1u32..20,
    ) {
        let Ok(q) = Quota::new(count, Duration::from_millis(per_ms), burst) else { return Ok(()) };
        let mut tat = None;
        for _ in 0..spent {
            tat = Some(RateDecision::decide(&Acquire::one(key(), q), tat, T0).expect("valid").1.tat);
        }
        let req = Acquire { key: key(), quota: q, cost: cost.min(burst) };
        let (d, _) = RateDecision::decide(&req, tat, T0).expect("valid");
        if !d.allowed {
            let wait = d.retry_after.as_micros() as i64;
            prop_assert!(wait > 0);
            prop_assert!(RateDecision::decide(&req, tat, T0 + wait).expect("valid").0.allowed);
            prop_assert!(!RateDecision::decide(&req, tat, T0 + wait - 1).expect("valid").0.allowed);
        }
    }
}

#[test]
fn burst_then_steady_rate() {
    let q = Quota::per_second(10, 5).expect("quota");
    let mut tat = None;
    for i in 0..5 {
        let (d, s) = RateDecision::decide(&Acquire::one(key(), q), tat, T0).expect("valid");
        assert!(d.allowed);
        assert_eq!(d.remaining, 4 - i);
        tat = Some(s.tat);
    }
    let (d, _) = RateDecision::decide(&Acquire::one(key(), q), tat, T0).expect("valid");
    assert!(!d.allowed);
    assert_eq!(d.retry_after, Duration::from_millis(100));
    assert_eq!(d.reset_after, Duration::from_millis(500));
}

#[test]
fn quotas_refuse_absurd_numbers() {
    let p = |r: Result<Quota, LimitError>| match r {
        Err(LimitError::InvalidQuota(p)) => Some(p),
        _ => None,
    };
    assert_eq!(p(Quota::new(0, Duration::from_secs(1), 1)), Some(QuotaProblem::ZeroCount));
    assert_eq!(p(Quota::new(1, Duration::ZERO, 1)), Some(QuotaProblem::ZeroPeriod));
    assert_eq!(p(Quota::new(1, Duration::from_nanos(999), 1)), Some(QuotaProblem::ZeroPeriod));
    assert_eq!(p(Quota::new(1, Duration::from_secs(1), 0)), Some(QuotaProblem::ZeroBurst));
    assert_eq!(p(Quota::new(u32::MAX, Duration::from_secs(1), 1)), Some(QuotaProblem::TooFast));
    assert_eq!(p(Quota::new(1, Duration::MAX, 1)), Some(QuotaProblem::PeriodTooLong));
    assert_eq!(p(Quota::new(1, Duration::from_secs(3600), u32::MAX)), Some(QuotaProblem::BurstTooLong));
    assert!(Quota::new(1_000_000, Duration::from_secs(1), 1).is_ok());
    let q = Quota::new(3, Duration::from_secs(1), 1).expect("quota");
    assert_eq!(q.emission_micros(), 333_334, "rounded up: never faster than asked");
    assert!(matches!(q.increment_micros(0), Err(LimitError::InvalidCost { cost: 0, burst: 1 })));
    assert!(matches!(q.increment_micros(2), Err(LimitError::InvalidCost { cost: 2, burst: 1 })));
}

#[test]
fn steps_saturate_and_times_are_checked() {
    let s = gcra_step(Some(i64::MAX), 0, i64::MAX, 10);
    assert_eq!(s, GcraStep { allowed: false, tat: i64::MAX });
    assert!(micros_from_millis(-1).is_err());
    assert!(micros_from_millis(i64::MAX).is_err());
    assert!(micros_from_millis(MAX_NOW_MICROS / 1000).is_ok());
    assert!(micros_from_millis(MAX_NOW_MICROS / 1000 + 1).is_err());
}
