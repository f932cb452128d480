//! The conformance suite of the limits stores: what every
//! [`RateLimitStore`] and [`BlacklistStore`] must do, and the guard over
//! them.
//!
//! Each behaviour is a `pub async fn` taking a [`LimitsFixture`]: both
//! stores on one backend, deciding by the fixture's [`ManualClock`], so
//! rates are checked to the microsecond without sleeping. Run it with
//! [`limits_suite!`](crate::limits_suite):
//!
//! ```ignore
//! // tests/limits.rs of a backend crate
//! async fn fixture() -> booking_core::testkit::limits::LimitsFixture {
//!     let clock = booking_core::ManualClock::fixed();
//!     LimitsFixture::new(Arc::new(MyRates::with_clock(..)), Arc::new(MyBlacklist::with_clock(..)), clock)
//! }
//! booking_core::limits_suite!(fixture);
//! ```

use crate::clock::{Clock, ManualClock};
use crate::ids::OwnerId;
use crate::limits::{
    Acquire, BlacklistStore, IpGrouping, LimitError, LimitKey, PaymentFingerprint, Quota, RateDecision, RateLimitStore,
    RateLimiter, RequestIdentity, Scope, micros_from_millis,
};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// Both limits stores of one backend and the clock they decide by.
pub struct LimitsFixture {
    /// The rate-limit store under test.
    pub rates: Arc<dyn RateLimitStore>,
    /// The blacklist under test.
    pub blacklist: Arc<dyn BlacklistStore>,
    /// The clock both read; tests move it.
    pub clock: ManualClock,
}

impl LimitsFixture {
    /// A fixture over two stores, which must read `clock`.
    pub fn new(rates: Arc<dyn RateLimitStore>, blacklist: Arc<dyn BlacklistStore>, clock: ManualClock) -> Self {
        LimitsFixture { rates, blacklist, clock }
    }
}

pub(super) fn advance(clock: &ManualClock, d: Duration) {
    clock.advance(chrono::Duration::from_std(d).expect("duration"));
}

/// A key no other behaviour uses.
fn fresh_key(what: &str) -> LimitKey {
    LimitKey(format!("t:{what}:{}", uuid::Uuid::now_v7().simple()))
}

/// A rate limiter name no other behaviour uses.
pub(super) fn fresh_name() -> String {
    let id = uuid::Uuid::now_v7().simple().to_string();
    format!("t{}", &id[id.len() - 20..])
}

pub(super) async fn take(fx: &LimitsFixture, key: &LimitKey, quota: Quota, cost: u32) -> RateDecision {
    fx.rates.acquire(&Acquire { key: key.clone(), quota, cost }).await.expect("acquire")
}

pub(super) fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A burst passes at once, then the steady rate, never faster: the
/// retry-after of a refusal is exact (a request at retry-after less a
/// millisecond is refused, at retry-after it passes), and over 3 s of
/// requests every 10 ms exactly one in ten passes.
pub async fn rate_burst_then_steady_rate(fx: &LimitsFixture) {
    let q = Quota::per_second(10, 5).expect("quota");
    let key = fresh_key("burst");
    for left in (0..5).rev() {
        let d = take(fx, &key, q, 1).await;
        assert!(d.allowed, "the burst passes");
        assert_eq!((d.remaining, d.limit, d.retry_after), (left, 5, Duration::ZERO));
    }
    let d = take(fx, &key, q, 1).await;
    assert!(!d.allowed);
    assert_eq!((d.retry_after, d.remaining, d.reset_after), (ms(100), 0, ms(500)));
    advance(&fx.clock, ms(99));
    let d = take(fx, &key, q, 1).await;
    assert_eq!((d.allowed, d.retry_after), (false, ms(1)), "refusals spend nothing");
    advance(&fx.clock, ms(1));
    assert!(take(fx, &key, q, 1).await.allowed, "at retry-after it passes");
    let mut passed = 0;
    for _ in 0..300 {
        advance(&fx.clock, ms(10));
        let d = take(fx, &key, q, 1).await;
        if d.allowed {
            passed += 1;
            assert_eq!(d.remaining, 0);
        } else {
            assert!(d.retry_after > Duration::ZERO && d.retry_after <= ms(100));
        }
    }
    assert_eq!(passed, 30, "10 per second, not one more");
    // A cost of several cells waits for all of them.
    advance(&fx.clock, ms(200));
    let d = take(fx, &key, q, 4).await;
    assert_eq!((d.allowed, d.retry_after, d.remaining), (false, ms(200), 2));
    advance(&fx.clock, ms(200));
    assert!(take(fx, &key, q, 4).await.allowed);
}

/// Over a long pseudo-random sequence of request times, costs and quotas
/// (a key's quota may change between requests), the store answers exactly
/// as booking-core's pure function.
pub async fn rate_store_runs_the_pure_function(fx: &LimitsFixture) {
    let quotas = [
        Quota::per_second(3, 4).expect("quota"),
        Quota::new(7, Duration::from_millis(1_300), 2).expect("quota"),
        Quota::per_minute(100, 20).expect("quota"),
        Quota::new(1, Duration::from_millis(1), 1).expect("quota"),
    ];
    let key = fresh_key("model");
    let mut tat: Option<i64> = None;
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    for i in 0..200 {
        advance(&fx.clock, ms(next(700)));
        let quota = quotas[(i / 50) % quotas.len()];
        let cost = 1 + next(u64::from(quota.burst())) as u32;
        let req = Acquire { key: key.clone(), quota, cost };
        let now = micros_from_millis(fx.clock.now_millis()).expect("now");
        let (want, step) = RateDecision::decide(&req, tat, now).expect("valid");
        let got = fx.rates.acquire(&req).await.expect("acquire");
        assert_eq!(got, want, "request {i}: cost {cost} under {quota:?}");
        if step.allowed {
            tat = Some(step.tat);
        }
    }
}

/// 64 callers at once on one key with a burst of 10 (and no refill to
/// speak of): exactly 10 pass, each told a different number of cells left.
pub async fn rate_limits_hold_under_64_concurrent_callers(fx: &LimitsFixture) {
    let q = Quota::per_minute(1, 10).expect("quota");
    let key = fresh_key("race");
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let (rates, key) = (fx.rates.clone(), key.clone());
        tasks.push(tokio::spawn(async move { rates.acquire(&Acquire::one(key, q)).await }));
    }
    let mut left = Vec::new();
    for t in tasks {
        let d = t.await.expect("task").expect("acquire");
        if d.allowed {
            left.push(d.remaining);
        } else {
            assert!(d.retry_after > Duration::from_secs(50), "{d:?}");
        }
    }
    left.sort_unstable();
    assert_eq!(left, (0..10).collect::<Vec<_>>(), "exactly the burst passes, one at a time");
}

/// Keys have their own budgets; `reset` gives a key its whole burst back;
/// `purge` forgets only keys whose budget is full again.
pub async fn rate_keys_are_independent_reset_and_purged(fx: &LimitsFixture) {
    let q = Quota::per_second(1, 2).expect("quota");
    let (a, b) = (fresh_key("a"), fresh_key("b"));
    assert!(take(fx, &a, q, 2).await.allowed);
    assert!(!take(fx, &a, q, 1).await.allowed);
    assert_eq!(take(fx, &b, q, 1).await.remaining, 1, "b is untouched by a");
    fx.rates.reset(&a).await.expect("reset");
    assert_eq!(take(fx, &a, q, 1).await.remaining, 1, "a reset key has its burst back");
    fx.rates.reset(&fresh_key("never")).await.expect("resetting an unknown key is fine");
    // a: 1 cell spent (full again after 1 s); b: 1 cell spent too.
    assert!(take(fx, &b, q, 1).await.allowed, "b: 2 cells spent, full after 2 s");
    advance(&fx.clock, Duration::from_secs(1));
    assert_eq!(fx.rates.purge().await.expect("purge"), 1, "a is full again, b is not");
    assert_eq!(take(fx, &b, q, 1).await.remaining, 0, "b was not full: its state survives a purge");
    advance(&fx.clock, Duration::from_secs(5));
    assert_eq!(fx.rates.purge().await.expect("purge"), 1, "b is full again");
    assert_eq!(fx.rates.purge().await.expect("purge"), 0, "purged once");
    assert_eq!(take(fx, &a, q, 2).await.remaining, 0, "a purged key starts with its full burst");
}

/// Bad requests are refused with typed errors and change nothing: empty,
/// huge, braced or non-ASCII keys; a cost of zero or above the burst; a
/// clock outside the range the stores count exactly.
pub async fn rate_refuses_bad_input_changing_nothing(fx: &LimitsFixture) {
    let q = Quota::per_minute(1, 3).expect("quota");
    let key = fresh_key("bad");
    for bad in [String::new(), "k".repeat(257), "x".repeat(1 << 20), "a{b}c".into(), "tab\tkey".into(), "é".into()] {
        let r = fx.rates.acquire(&Acquire::one(LimitKey(bad.clone()), q)).await;
        assert!(matches!(r, Err(LimitError::InvalidKey(_))), "{:?}: {r:?}", &bad[..bad.len().min(8)]);
        assert!(matches!(fx.rates.reset(&LimitKey(bad)).await, Err(LimitError::InvalidKey(_))));
    }
    for cost in [0, 4, u32::MAX] {
        let r = fx.rates.acquire(&Acquire { key: key.clone(), quota: q, cost }).await;
        assert!(matches!(r, Err(LimitError::InvalidCost { burst: 3, .. })), "cost {cost}: {r:?}");
    }
    let now = fx.clock.now();
    for absurd in [chrono::DateTime::UNIX_EPOCH - chrono::Duration::days(1), chrono::DateTime::<chrono::Utc>::MAX_UTC] {
        fx.clock.set(absurd);
        let r = fx.rates.acquire(&Acquire::one(key.clone(), q)).await;
        assert!(matches!(r, Err(LimitError::ClockOutOfRange(_))), "{absurd}: {r:?}");
    }
    fx.clock.set(now);
    let d = take(fx, &key, q, 3).await;
    assert!(d.allowed, "nothing was spent by the refused requests");
    assert!(!take(fx, &key, q, 1).await.allowed);
    for (count, burst) in [(0, 1), (1, 0), (u32::MAX, 1)] {
        assert!(matches!(Quota::per_second(count, burst), Err(LimitError::InvalidQuota(_))));
    }
}

/// A limiter spends per account, per IP network and per fingerprint; two
/// addresses of one /24 share a budget when IPv4 is grouped by /24, and not
/// by default (/32); IPv6 addresses of one /64 share by default.
pub async fn rate_limiter_groups_ips_and_scopes(fx: &LimitsFixture) {
    let q = Quota::per_minute(1, 2).expect("quota");
    let grouped = RateLimiter::new(fx.rates.clone(), &fresh_name())
        .expect("name")
        .per_ip(q)
        .ip_grouping(IpGrouping::new(24, 64).expect("grouping"));
    let from = |s: &str| RequestIdentity { ip: Some(ip(s)), ..RequestIdentity::default() };
    assert!(grouped.check(&from("198.51.100.1")).await.expect("check").allowed());
    assert!(grouped.check(&from("198.51.100.254")).await.expect("check").allowed());
    let v = grouped.check(&from("198.51.100.77")).await.expect("check");
    assert!(!v.allowed(), "three addresses of one /24 share a burst of 2");
    assert!(v.retry_after() > Duration::from_secs(25));
    assert!(v.refused_by().is_some_and(|d| d.scope == Scope::Ip && d.key.0.ends_with(":ip:198.51.100.0/24")));
    assert!(grouped.check(&from("198.51.101.1")).await.expect("check").allowed(), "another /24");
    assert!(grouped.check(&from("2001:db8:1:2::1")).await.expect("check").allowed());
    assert!(grouped.check(&from("2001:db8:1:2:ffff::9")).await.expect("check").allowed());
    assert!(!grouped.check(&from("2001:db8:1:2:a::")).await.expect("check").allowed(), "one /64");
    assert!(grouped.check(&from("2001:db8:1:3::1")).await.expect("check").allowed(), "another /64");
    let single = RateLimiter::new(fx.rates.clone(), &fresh_name()).expect("name").per_ip(q);
    for host in ["198.51.100.1", "198.51.100.2", "198.51.100.3"] {
        assert!(single.check(&from(host)).await.expect("check").allowed(), "/32 by default: {host}");
    }
    let scoped = RateLimiter::new(fx.rates.clone(), &fresh_name())
        .expect("name")
        .per_account(q)
        .per_ip(Quota::per_minute(1, 100).expect("quota"))
        .per_fingerprint(q);
    let fp = PaymentFingerprint::new("fp_same_card").expect("fp");
    let (alice, bob) = (OwnerId::new(), OwnerId::new());
    let alice_req = RequestIdentity::account(alice).with_ip(ip("192.0.2.1")).with_fingerprint(fp.clone());
    let v = scoped.check(&alice_req).await.expect("check");
    let scopes: Vec<Scope> = v.decisions.iter().map(|d| d.scope).collect();
    assert_eq!(scopes, vec![Scope::Account, Scope::Ip, Scope::Fingerprint]);
    assert_eq!(v.remaining(), Some(1));
    let bob_req = RequestIdentity::account(bob).with_ip(ip("192.0.2.2")).with_fingerprint(fp.clone());
    assert!(scoped.check(&bob_req).await.expect("check").allowed());
    let v = scoped.check(&bob_req).await.expect("check");
    assert_eq!(v.refused_by().map(|d| d.scope), Some(Scope::Fingerprint), "one card across accounts");
    assert!(matches!(scoped.check_cost(&alice_req, 3).await, Err(LimitError::InvalidCost { .. })));
    assert!(matches!(RateLimiter::new(fx.rates.clone(), "Bad Name"), Err(LimitError::InvalidName(_))));
}

mod blacklist;
mod guard;
pub use blacklist::*;
pub use guard::*;

/// The one list of the limits suite's behaviours: [`crate::limits_suite!`]
/// runs each of them, and a test of this crate checks that every
/// behaviour defined in this file is on it.
#[doc(hidden)]
#[macro_export]
macro_rules! __limits_behaviours {
    ($mac:ident!($($args:tt)*)) => {
        $crate::$mac! { $($args)*
            rate_burst_then_steady_rate,
            rate_store_runs_the_pure_function,
            rate_limits_hold_under_64_concurrent_callers,
            rate_keys_are_independent_reset_and_purged,
            rate_refuses_bad_input_changing_nothing,
            rate_limiter_groups_ips_and_scopes,
            blacklist_matches_and_removes,
            blacklist_matches_ipv6_ranges,
            blacklist_refuses_bad_input_and_lists_in_pages,
            blacklist_entries_expire_by_the_store_clock,
            blacklist_many_lapsed_entries_stay_gone,
            guard_refuses_before_the_request_runs,
            guard_scores_bots_between_blacklist_and_rate_limits,
        }
    };
}

/// Expands to one `#[tokio::test]` per behaviour of the limits suite, each
/// calling `$factory().await` for a fresh [`LimitsFixture`].
///
/// The calling crate needs `tokio` with the `macros` and `rt-multi-thread`
/// features among its dev-dependencies.
#[macro_export]
macro_rules! limits_suite {
    ($factory:path) => {
        $crate::__limits_behaviours!(limits_suite!(@each $factory;));
    };
    (@each $factory:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let fixture = $factory().await;
                $crate::testkit::limits::$name(&fixture).await;
            }
        )*
    };
    (@names $($name:ident),* $(,)?) => {
        &[$(stringify!($name)),*]
    };
}

/// Every behaviour of the limits suite, by name, as
/// [`limits_suite!`](crate::limits_suite) runs them.
pub const BEHAVIOURS: &[&str] = crate::__limits_behaviours!(limits_suite!(@names));

#[cfg(test)]
mod tests {
    /// Every `pub async fn` of this file taking a `LimitsFixture` is a
    /// behaviour, and every behaviour is on the list.
    #[test]
    fn every_behaviour_is_on_the_list() {
        let sources = crate::testkit::sources_in(concat!(env!("CARGO_MANIFEST_DIR"), "/src/testkit/limits"));
        let sources = sources.iter().map(String::as_str);
        crate::testkit::assert_all_listed("limits", sources, "fx: &LimitsFixture", super::BEHAVIOURS);
        assert_eq!(super::BEHAVIOURS.len(), 13);
    }
}
