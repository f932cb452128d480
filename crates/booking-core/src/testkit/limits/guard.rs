//! The guard's behaviours: the blacklist, bot scoring with its captcha,
//! and the rate limits, in that order, before the request runs.

use super::blacklist::{account, network};
use super::{LimitsFixture, fresh_name, ip, take};
use crate::ids::OwnerId;
use crate::limits::{
    AbuseGuard, BotPolicy, BotSignals, BotVerdict, CaptchaErrorCode, CaptchaSecret, Evidence, LimitError, Quota,
    RateLimiter, Refused, RequestIdentity, Scope, Signal, TestCaptcha,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

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
    fx.blacklist.add(&account(bad), "bot", None).await.expect("add");
    fx.blacklist.add(&network("198.18.0.0/15"), "bench range", None).await.expect("add");
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

/// Signals of a person: an old account with orders, irregular timing.
fn person() -> BotSignals {
    BotSignals {
        account_age: Some(Duration::from_secs(400 * 86_400)),
        completed_orders: 3,
        request_gaps_ms: vec![900, 4_000, 1_700, 12_000, 2_500, 800, 6_100, 3_300, 1_200],
        accounts_on_fingerprint: 1,
        failed_captchas: 0,
    }
}

/// Signals the default policy challenges: a new account with no orders,
/// ticking like a metronome at a person's pace (score 550).
fn metronome() -> BotSignals {
    BotSignals {
        account_age: Some(Duration::from_secs(600)),
        completed_orders: 0,
        request_gaps_ms: vec![1_000; 10],
        accounts_on_fingerprint: 1,
        failed_captchas: 0,
    }
}

/// Signals the default policy blocks: the metronome, faster than people
/// click (score 750).
fn script() -> BotSignals {
    BotSignals { request_gaps_ms: vec![100; 10], ..metronome() }
}

/// With a bot policy, the guard checks the blacklist first, then the bot
/// score, then the rate limits: a block is refused naming its reasons, a
/// challenge asks for a captcha and passes with a verified token (once:
/// the token is spent), a refused token says why; neither a bot refusal
/// nor a challenge runs the request or spends rate budget; a request with
/// no signals is not scored.
pub async fn guard_scores_bots_between_blacklist_and_rate_limits(fx: &LimitsFixture) {
    let q = Quota::per_minute(1, 3).expect("quota");
    let limiter = RateLimiter::new(fx.rates.clone(), &fresh_name()).expect("name").per_account(q);
    let captcha = TestCaptcha::new("site-secret", fx.clock.shared());
    let guard = AbuseGuard::new(fx.blacklist.clone())
        .with_bot_policy(BotPolicy::default(), Arc::new(captcha.clone()), CaptchaSecret("site-secret".into()))
        .expect("policy")
        .with_limits(limiter.clone());
    let bad_policy = BotPolicy { challenge_at: 800, block_at: 700, ..BotPolicy::default() };
    let r = AbuseGuard::new(fx.blacklist.clone()).with_bot_policy(
        bad_policy,
        Arc::new(captcha.clone()),
        CaptchaSecret("x".into()),
    );
    assert!(matches!(r, Err(LimitError::InvalidPolicy(_))));
    let runs = AtomicU32::new(0);
    let request = || async {
        runs.fetch_add(1, Ordering::SeqCst);
        "held"
    };
    let who = RequestIdentity::account(OwnerId::new()).with_ip(ip("192.0.2.10"));

    let r = guard.run_with(&who, &Evidence::signals(script()), request).await;
    match &r {
        Err(Refused::Bot(a)) => {
            assert_eq!((a.score, a.verdict), (750, BotVerdict::Block));
            let signals: Vec<Signal> = a.contributions.iter().map(|c| c.signal).collect();
            let want = [Signal::NewAccount, Signal::NoHistory, Signal::RegularTiming, Signal::RapidRequests];
            assert_eq!(signals, want);
            let text = r.as_ref().err().map(ToString::to_string).unwrap_or_default();
            assert!(text.contains("regular_timing") && text.contains("rapid_requests"), "{text}");
        }
        other => panic!("expected a bot refusal, got {other:?}"),
    }
    let solved = captcha.solve("tickets.example", None);
    let r = guard.run_with(&who, &Evidence::signals(script()).with_captcha(solved.clone()), request).await;
    assert!(matches!(r, Err(Refused::Bot(_))), "no captcha passes a block: {r:?}");

    let r = guard.run_with(&who, &Evidence::signals(metronome()), request).await;
    assert!(matches!(&r, Err(Refused::Challenge { captcha: None, assessment }) if assessment.score == 550), "{r:?}");
    let forged = Evidence::signals(metronome()).with_captcha("test.forged");
    match guard.run_with(&who, &forged, request).await {
        Err(Refused::Challenge { captcha: Some(v), .. }) => {
            assert!(!v.success);
            assert_eq!(v.error_codes, vec![CaptchaErrorCode::InvalidInputResponse]);
        }
        other => panic!("expected a refused captcha, got {other:?}"),
    }
    assert_eq!(runs.load(Ordering::SeqCst), 0, "no bot-refused or challenged request ran");
    for (scope, key, quota) in limiter.keys(&who) {
        assert_eq!(take(fx, &key, quota, 1).await.remaining, 2, "{scope:?}: no budget was spent");
    }

    let with_token = Evidence::signals(metronome()).with_captcha(solved);
    let cleared = guard.admit_with(&who, &with_token).await.expect("a verified captcha passes");
    assert!(cleared.captcha_passed);
    assert_eq!(cleared.bot.map(|a| a.verdict), Some(BotVerdict::Challenge));
    assert_eq!(cleared.rates.remaining(), Some(1), "then the rate limits spend");
    match guard.run_with(&who, &with_token, request).await {
        Err(Refused::Challenge { captcha: Some(v), .. }) => {
            assert_eq!(v.error_codes, vec![CaptchaErrorCode::TimeoutOrDuplicate], "a token verifies once");
        }
        other => panic!("expected a spent token, got {other:?}"),
    }
    let cleared = guard.admit_with(&who, &Evidence::signals(person())).await.expect("a person passes");
    assert_eq!(cleared.bot.map(|a| (a.score, a.verdict)), Some((0, BotVerdict::Allow)));
    assert!(!cleared.captcha_passed);
    let r = guard.run_with(&who, &Evidence::signals(person()), request).await;
    assert!(matches!(r, Err(Refused::RateLimited { .. })), "the rate limit comes after scoring: {r:?}");
    let unscored = RequestIdentity::account(OwnerId::new());
    assert_eq!(guard.run(&unscored, request).await.expect("no signals: not scored"), "held");

    let listed = RequestIdentity::account(OwnerId::new());
    fx.blacklist.add(&account(listed.account.expect("account")), "known bot", None).await.expect("add");
    let r = guard.run_with(&listed, &Evidence::signals(script()), request).await;
    assert!(matches!(r, Err(Refused::Blacklisted(_))), "the blacklist first: {r:?}");
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}
