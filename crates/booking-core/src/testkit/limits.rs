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
    AbuseGuard, Acquire, BlacklistEntry, BlacklistStore, IpGrouping, LimitError, LimitKey, MAX_REASON_BYTES,
    PaymentFingerprint, Quota, RateDecision, RateLimitStore, RateLimiter, Refused, RequestIdentity, Scope,
    micros_from_millis,
};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
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

fn advance(clock: &ManualClock, d: Duration) {
    clock.advance(chrono::Duration::from_std(d).expect("duration"));
}

/// A key no other behaviour uses.
fn fresh_key(what: &str) -> LimitKey {
    LimitKey(format!("t:{what}:{}", uuid::Uuid::now_v7().simple()))
}

/// A rate limiter name no other behaviour uses.
fn fresh_name() -> String {
    let id = uuid::Uuid::now_v7().simple().to_string();
    format!("t{}", &id[id.len() - 20..])
}

async fn take(fx: &LimitsFixture, key: &LimitKey, quota: Quota, cost: u32) -> RateDecision {
    fx.rates.acquire(&Acquire { key: key.clone(), quota, cost }).await.expect("acquire")
}

fn ip(s: &str) -> IpAddr {
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

fn account(a: OwnerId) -> BlacklistEntry {
    BlacklistEntry::Account(a)
}

fn network(s: &str) -> BlacklistEntry {
    BlacklistEntry::Network(s.parse().expect("network"))
}

fn fingerprint(s: &str) -> BlacklistEntry {
    BlacklistEntry::Fingerprint(PaymentFingerprint::new(s).expect("fingerprint"))
}

async fn matched(fx: &LimitsFixture, who: &RequestIdentity) -> Option<BlacklistEntry> {
    fx.blacklist.check(who).await.expect("check").map(|r| r.entry)
}

/// Entries by account, address, IPv4 range and fingerprint are matched,
/// reported (the account's first, then the fingerprint's, then the
/// narrowest range), and gone once removed.
pub async fn blacklist_matches_and_removes(fx: &LimitsFixture) {
    let bl = &*fx.blacklist;
    let (mallory, alice) = (OwnerId::new(), OwnerId::new());
    let rec = bl.add(&account(mallory), "chargebacks").await.expect("add");
    assert_eq!((rec.reason.as_str(), rec.added_at), ("chargebacks", fx.clock.now()));
    bl.add(&network("203.0.113.0/24"), "scalper farm").await.expect("add");
    bl.add(&network("203.0.113.64/26"), "the worst part of it").await.expect("add");
    bl.add(&network("192.0.2.9"), "one address").await.expect("add");
    bl.add(&fingerprint("fp_stolen"), "stolen card").await.expect("add");
    let clean = RequestIdentity::account(alice).with_ip(ip("198.51.100.1"));
    assert_eq!(matched(fx, &clean).await, None);
    assert_eq!(matched(fx, &RequestIdentity::default()).await, None, "an identity of nothing");
    assert_eq!(matched(fx, &RequestIdentity::account(mallory)).await, Some(account(mallory)));
    let r = bl.check(&RequestIdentity::account(alice).with_ip(ip("203.0.113.7"))).await.expect("check");
    assert_eq!(r.map(|r| (r.entry, r.reason)), Some((network("203.0.113.0/24"), "scalper farm".into())));
    let r = matched(fx, &RequestIdentity::account(alice).with_ip(ip("203.0.113.100"))).await;
    assert_eq!(r, Some(network("203.0.113.64/26")), "the narrowest range is reported");
    assert_eq!(matched(fx, &RequestIdentity::account(alice).with_ip(ip("203.0.114.1"))).await, None);
    assert_eq!(matched(fx, &clean.clone().with_ip(ip("192.0.2.9"))).await, Some(network("192.0.2.9/32")));
    assert_eq!(matched(fx, &clean.clone().with_ip(ip("192.0.2.10"))).await, None);
    let paying = clean.clone().with_fingerprint(PaymentFingerprint::new("fp_stolen").expect("fp"));
    assert_eq!(matched(fx, &paying).await, Some(fingerprint("fp_stolen")));
    let everything = RequestIdentity::account(mallory)
        .with_ip(ip("203.0.113.100"))
        .with_fingerprint(PaymentFingerprint::new("fp_stolen").expect("fp"));
    assert_eq!(matched(fx, &everything).await, Some(account(mallory)), "the account's entry first");
    assert!(bl.remove(&account(mallory)).await.expect("remove"));
    assert!(!bl.remove(&account(mallory)).await.expect("remove"), "removed once");
    assert_eq!(matched(fx, &everything).await, Some(fingerprint("fp_stolen")), "then the fingerprint's");
    assert!(bl.remove(&fingerprint("fp_stolen")).await.expect("remove"));
    assert_eq!(matched(fx, &everything).await, Some(network("203.0.113.64/26")));
    assert!(bl.remove(&network("203.0.113.64/26")).await.expect("remove"));
    assert_eq!(matched(fx, &everything).await, Some(network("203.0.113.0/24")));
    assert!(bl.remove(&network("203.0.113.0/24")).await.expect("remove"));
    assert_eq!(matched(fx, &everything).await, None);
    // Adding again replaces the reason.
    advance(&fx.clock, Duration::from_secs(60));
    bl.add(&network("192.0.2.9"), "still bad").await.expect("add again");
    let r = bl.check(&clean.with_ip(ip("192.0.2.9"))).await.expect("check").expect("match");
    assert_eq!((r.reason.as_str(), r.added_at), ("still bad", fx.clock.now()));
}

/// IPv6 addresses and ranges; an IPv4-mapped IPv6 address is its IPv4
/// address; an IPv4 range never matches an IPv6 address.
pub async fn blacklist_matches_ipv6_ranges(fx: &LimitsFixture) {
    let bl = &*fx.blacklist;
    bl.add(&network("2001:db8:abcd::/48"), "hosting range").await.expect("add");
    bl.add(&network("2001:db8:ffff::1"), "one host").await.expect("add");
    bl.add(&network("100.64.0.0/10"), "carrier NAT").await.expect("add");
    let from = |s: &str| RequestIdentity { ip: Some(ip(s)), ..RequestIdentity::default() };
    assert_eq!(matched(fx, &from("2001:db8:abcd:12::5")).await, Some(network("2001:db8:abcd::/48")));
    assert_eq!(matched(fx, &from("2001:db8:abce::5")).await, None);
    assert_eq!(matched(fx, &from("2001:db8:ffff::1")).await, Some(network("2001:db8:ffff::1/128")));
    assert_eq!(matched(fx, &from("2001:db8:ffff::2")).await, None);
    assert_eq!(matched(fx, &from("::ffff:100.100.1.1")).await, Some(network("100.64.0.0/10")));
    assert_eq!(matched(fx, &from("::6440:101")).await, None, "an IPv6 address with the same bits");
    bl.add(&network("::/0"), "every IPv6 client").await.expect("add");
    assert_eq!(matched(fx, &from("2001:db8:abce::5")).await, Some(network("::/0")));
    assert_eq!(matched(fx, &from("2001:db8:abcd::1")).await, Some(network("2001:db8:abcd::/48")));
    assert_eq!(matched(fx, &from("198.51.100.1")).await, None);
}

/// A reason too long is refused and stores nothing; entries list in pages.
pub async fn blacklist_refuses_bad_input_and_lists_in_pages(fx: &LimitsFixture) {
    let bl = &*fx.blacklist;
    let victim = OwnerId::new();
    let r = bl.add(&account(victim), &"x".repeat(MAX_REASON_BYTES + 1)).await;
    assert!(matches!(r, Err(LimitError::InvalidReason)), "{r:?}");
    assert_eq!(matched(fx, &RequestIdentity::account(victim)).await, None, "nothing was stored");
    assert!(bl.list(None, 10).await.expect("list").is_empty());
    let mut added =
        vec![account(victim), network("10.0.0.0/8"), network("fe80::/10"), fingerprint("fp_a"), fingerprint("fp_b")];
    for e in &added {
        bl.add(e, "").await.expect("add");
    }
    added.sort_by_key(|e| e.field());
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = bl.list(after.as_ref(), 2).await.expect("list");
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        after = Some(last.entry.clone());
        seen.extend(page.into_iter().map(|r| r.entry));
    }
    assert_eq!(seen, added, "every entry once, in field order");
    assert!(bl.list(None, 0).await.expect("list").is_empty());
}

/// The guard refuses a blacklisted identity before the request runs and
/// without spending its rate budget; a rate-limited identity is refused
/// with a retry-after; an admitted one runs once.
pub async fn guard_refuses_before_the_request_runs(fx: &LimitsFixture) {
    let q = Quota::per_minute(1, 2).expect("quota");
    let limiter = RateLimiter::new(fx.rates.clone(), &fresh_name()).expect("name").per_account(q).per_ip(q);
    let guard = AbuseGuard::new(fx.blacklist.clone()).with_limits(limiter.clone());
    let runs = AtomicU32::new(0);
    let request = || async {
        runs.fetch_add(1, Ordering::SeqCst);
        "held"
    };
    let (bad, good) = (OwnerId::new(), OwnerId::new());
    fx.blacklist.add(&account(bad), "bot").await.expect("add");
    fx.blacklist.add(&network("198.18.0.0/15"), "bench range").await.expect("add");
    let bad_req = RequestIdentity::account(bad).with_ip(ip("192.0.2.1"));
    for _ in 0..5 {
        let r = guard.run(&bad_req, request).await;
        assert!(matches!(&r, Err(Refused::Blacklisted(rec)) if rec.entry == account(bad)), "{r:?}");
    }
    let ranged = RequestIdentity::account(good).with_ip(ip("198.19.255.255"));
    let r = guard.run(&ranged, request).await;
    assert!(matches!(&r, Err(Refused::Blacklisted(rec)) if rec.entry == network("198.18.0.0/15")), "{r:?}");
    assert_eq!(runs.load(Ordering::SeqCst), 0, "no blacklisted request ran");
    for (scope, key, quota) in limiter.keys(&bad_req) {
        assert_eq!(take(fx, &key, quota, 1).await.remaining, 1, "{scope:?}: no budget was spent");
    }
    let good_req = RequestIdentity::account(good).with_ip(ip("192.0.2.200"));
    assert_eq!(guard.run(&good_req, request).await.expect("admitted"), "held");
    assert_eq!(guard.run(&good_req, request).await.expect("admitted"), "held");
    match guard.run(&good_req, request).await {
        Err(Refused::RateLimited { retry_after, verdict }) => {
            assert_eq!(retry_after, Duration::from_secs(60));
            assert_eq!(verdict.refused_by().map(|d| d.scope), Some(Scope::Account));
        }
        other => panic!("expected a rate limit, got {other:?}"),
    }
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

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
            guard_refuses_before_the_request_runs,
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
        crate::testkit::assert_all_listed(
            "limits",
            [include_str!("limits.rs")],
            "fx: &LimitsFixture",
            super::BEHAVIOURS,
        );
        assert_eq!(super::BEHAVIOURS.len(), 10);
    }
}
