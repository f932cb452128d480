//! Limits on the memory backend: booking-core's limits suite, and the
//! guard in front of a real inventory (a blacklisted, bot-blocked or
//! challenged identity never reaches it).

use async_trait::async_trait;
use booking_core::limits::{
    AbuseGuard, BlacklistEntry, BlacklistStore, BotPolicy, BotSignals, CaptchaSecret, Evidence, Quota, RateLimiter,
    Refused, RequestIdentity, TestCaptcha,
};
use booking_core::testkit::limits::LimitsFixture;
use booking_core::{
    Audit, ChangeStream, ExpiredHold, Hold, HoldAction, HoldBest, HoldPool, HoldSeats, ManualClock, OwnerId,
    PriceCategory, Refund, Result, Sale, SeatId, SeatInventory, Sell, ShowId, ShowSpec, Snapshot, VenueLayout,
};
use booking_memory::{MemoryBlacklist, MemoryInventory, MemoryRateLimitStore};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

async fn fixture() -> LimitsFixture {
    let clock = ManualClock::fixed();
    LimitsFixture::new(
        Arc::new(MemoryRateLimitStore::with_clock(clock.shared())),
        Arc::new(MemoryBlacklist::with_clock(clock.shared())),
        clock,
    )
}

booking_core::limits_suite!(fixture);

/// A memory inventory that counts every call made to it.
#[derive(Debug)]
struct Counted {
    inner: MemoryInventory,
    calls: AtomicU32,
}

impl Counted {
    fn tick(&self) {
        self.calls.fetch_add(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl SeatInventory for Counted {
    async fn create_show(&self, show: &ShowSpec) -> Result<()> {
        self.tick();
        self.inner.create_show(show).await
    }
    async fn hold_seats(&self, req: &HoldSeats) -> Result<Hold> {
        self.tick();
        self.inner.hold_seats(req).await
    }
    async fn hold_best(&self, req: &HoldBest) -> Result<Hold> {
        self.tick();
        self.inner.hold_best(req).await
    }
    async fn hold_pool(&self, req: &HoldPool) -> Result<Hold> {
        self.tick();
        self.inner.hold_pool(req).await
    }
    async fn extend(&self, req: &HoldAction) -> Result<Hold> {
        self.tick();
        self.inner.extend(req).await
    }
    async fn verify(&self, req: &HoldAction) -> Result<Hold> {
        self.tick();
        self.inner.verify(req).await
    }
    async fn release(&self, req: &HoldAction) -> Result<()> {
        self.tick();
        self.inner.release(req).await
    }
    async fn sell(&self, req: &Sell) -> Result<Sale> {
        self.tick();
        self.inner.sell(req).await
    }
    async fn refund(&self, req: &Refund) -> Result<()> {
        self.tick();
        self.inner.refund(req).await
    }
    async fn block(&self, show: ShowId, seats: &[SeatId]) -> Result<()> {
        self.tick();
        self.inner.block(show, seats).await
    }
    async fn unblock(&self, show: ShowId, seats: &[SeatId]) -> Result<()> {
        self.tick();
        self.inner.unblock(show, seats).await
    }
    async fn snapshot(&self, show: ShowId) -> Result<Snapshot> {
        self.tick();
        self.inner.snapshot(show).await
    }
    async fn sweep_expired(&self, show: ShowId, limit: usize) -> Result<Vec<ExpiredHold>> {
        self.tick();
        self.inner.sweep_expired(show, limit).await
    }
    async fn audit(&self, show: ShowId) -> Result<Audit> {
        self.tick();
        self.inner.audit(show).await
    }
    async fn list_shows(&self) -> Result<Vec<ShowId>> {
        self.tick();
        self.inner.list_shows().await
    }
    async fn show_spec(&self, show: ShowId) -> Result<ShowSpec> {
        self.tick();
        self.inner.show_spec(show).await
    }
    async fn archive_show(&self, show: ShowId) -> Result<()> {
        self.tick();
        self.inner.archive_show(show).await
    }
    async fn prune_feed(&self, older_than: std::time::Duration) -> Result<u64> {
        self.tick();
        self.inner.prune_feed(older_than).await
    }
    async fn subscribe(&self, show: ShowId) -> Result<ChangeStream> {
        self.tick();
        self.inner.subscribe(show).await
    }
}

/// Blacklisted identities (by account, by range, by card) are refused by
/// the guard and never reach the inventory, however often they try; a
/// clean identity reaches it and holds a seat, until its rate limit.
#[tokio::test]
async fn a_blacklisted_identity_never_reaches_the_inventory() {
    let clock = ManualClock::fixed();
    let inventory = Arc::new(Counted { inner: MemoryInventory::with_clock(clock.shared()), calls: AtomicU32::new(0) });
    let show = ShowSpec::new("guarded", VenueLayout::grid(1, 1, 10, PriceCategory(1)));
    inventory.create_show(&show).await.expect("show");
    let blacklist = Arc::new(MemoryBlacklist::with_clock(clock.shared()));
    let rates = Arc::new(MemoryRateLimitStore::with_clock(clock.shared()));
    let limiter = RateLimiter::new(rates, "hold").expect("name").per_account(Quota::per_minute(2, 2).expect("quota"));
    let guard = AbuseGuard::new(blacklist.clone()).with_limits(limiter);
    let (bot, farm, carder, fan) = (OwnerId::new(), OwnerId::new(), OwnerId::new(), OwnerId::new());
    blacklist.add(&BlacklistEntry::Account(bot), "bot", None).await.expect("add");
    blacklist.add(&BlacklistEntry::Network("203.0.113.0/24".parse().expect("net")), "farm", None).await.expect("add");
    let stolen = booking_core::limits::PaymentFingerprint::new("fp_stolen").expect("fp");
    blacklist.add(&BlacklistEntry::Fingerprint(stolen.clone()), "stolen card", None).await.expect("add");
    let before = inventory.calls.load(Ordering::SeqCst);
    let refused = [
        RequestIdentity::account(bot),
        RequestIdentity::account(farm).with_ip("203.0.113.9".parse().expect("ip")),
        RequestIdentity::account(carder).with_fingerprint(stolen),
    ];
    for who in &refused {
        for seat in 0..10 {
            let req = HoldSeats { show: show.id, owner: who.account.expect("account"), seats: vec![SeatId(seat)] };
            let r = guard.run(who, || inventory.hold_seats(&req)).await;
            assert!(matches!(r, Err(Refused::Blacklisted(_))), "{r:?}");
        }
    }
    assert_eq!(inventory.calls.load(Ordering::SeqCst), before, "no blacklisted request reached the inventory");
    let snapshot = inventory.inner.snapshot(show.id).await.expect("snapshot");
    let fan_req = RequestIdentity::account(fan).with_ip("198.51.100.1".parse().expect("ip"));
    for seat in [0, 1] {
        let req = HoldSeats { show: show.id, owner: fan, seats: vec![SeatId(seat)] };
        guard.run(&fan_req, || inventory.hold_seats(&req)).await.expect("admitted").expect("held");
    }
    let req = HoldSeats { show: show.id, owner: fan, seats: vec![SeatId(2)] };
    let r = guard.run(&fan_req, || inventory.hold_seats(&req)).await;
    assert!(matches!(r, Err(Refused::RateLimited { .. })), "{r:?}");
    assert_eq!(inventory.calls.load(Ordering::SeqCst), before + 2, "only the fan's two admitted holds ran");
    assert_ne!(inventory.inner.snapshot(show.id).await.expect("snapshot"), snapshot);
}

/// With bot scoring on, blocked and challenged requests never reach the
/// inventory, however often they try; a challenged client that solves the
/// captcha reaches it once per token.
#[tokio::test]
async fn a_bot_blocked_or_challenged_request_never_reaches_the_inventory() {
    let clock = ManualClock::fixed();
    let inventory = Arc::new(Counted { inner: MemoryInventory::with_clock(clock.shared()), calls: AtomicU32::new(0) });
    let show = ShowSpec::new("scored", VenueLayout::grid(1, 1, 40, PriceCategory(1)));
    inventory.create_show(&show).await.expect("show");
    let captcha = TestCaptcha::new("secret", clock.shared());
    let guard = AbuseGuard::new(Arc::new(MemoryBlacklist::with_clock(clock.shared())))
        .with_bot_policy(BotPolicy::default(), Arc::new(captcha.clone()), CaptchaSecret("secret".into()))
        .expect("policy");
    let young = BotSignals {
        account_age: Some(std::time::Duration::from_secs(60)),
        request_gaps_ms: vec![500; 12],
        accounts_on_fingerprint: 1,
        ..BotSignals::default()
    };
    let fast = BotSignals { request_gaps_ms: vec![50; 12], ..young.clone() };
    let before = inventory.calls.load(Ordering::SeqCst);
    let owner = OwnerId::new();
    let who = RequestIdentity::account(owner);
    for seat in 0..20 {
        let req = HoldSeats { show: show.id, owner, seats: vec![SeatId(seat)] };
        let blocked = guard.run_with(&who, &Evidence::signals(fast.clone()), || inventory.hold_seats(&req)).await;
        assert!(matches!(blocked, Err(Refused::Bot(_))), "{blocked:?}");
        let asked = guard.run_with(&who, &Evidence::signals(young.clone()), || inventory.hold_seats(&req)).await;
        assert!(matches!(asked, Err(Refused::Challenge { .. })), "{asked:?}");
        let bad = Evidence::signals(young.clone()).with_captcha(format!("test.{seat}"));
        let r = guard.run_with(&who, &bad, || inventory.hold_seats(&req)).await;
        assert!(matches!(r, Err(Refused::Challenge { captcha: Some(_), .. })), "{r:?}");
    }
    assert_eq!(inventory.calls.load(Ordering::SeqCst), before, "no refused request reached the inventory");
    let token = captcha.solve("tickets.example", None);
    let solved = Evidence::signals(young.clone()).with_captcha(token);
    let req = HoldSeats { show: show.id, owner, seats: vec![SeatId(0)] };
    guard.run_with(&who, &solved, || inventory.hold_seats(&req)).await.expect("admitted").expect("held");
    let r = guard.run_with(&who, &solved, || inventory.hold_seats(&req)).await;
    assert!(matches!(r, Err(Refused::Challenge { .. })), "the token is spent: {r:?}");
    assert_eq!(inventory.calls.load(Ordering::SeqCst), before + 1);
}
