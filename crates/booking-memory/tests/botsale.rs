//! A bot on-sale on the memory backend (`booking_core::testkit::botsale`):
//! 2,000 identities, 30% of them bots sending ten times people's request
//! rate, for 500 seats, through the waiting room, the abuse guard and the
//! per-identity cap, on virtual time. No identity gets over its cap, no
//! seat is sold twice, and bots get no more tickets per identity than
//! people; without the guard they get more (so the fairness assertion can
//! fail); a run replays from its seed.

use booking_core::ManualClock;
use booking_core::testkit::botsale::{BotSaleConfig, BotSaleReport, BotSaleStores, CAP, run_bot_sale};
use booking_memory::admission::MemoryWaitingRoomStore;
use booking_memory::{MemoryBlacklist, MemoryInventory, MemoryRateLimitStore};
use std::sync::Arc;

fn stores() -> BotSaleStores {
    let clock = ManualClock::fixed();
    BotSaleStores {
        inventory: Arc::new(MemoryInventory::with_clock(clock.shared())),
        rates: Arc::new(MemoryRateLimitStore::with_clock(clock.shared())),
        blacklist: Arc::new(MemoryBlacklist::with_clock(clock.shared())),
        room: Arc::new(MemoryWaitingRoomStore::with_clock(clock.shared())),
        clock,
    }
}

async fn run(cfg: BotSaleConfig) -> BotSaleReport {
    let report = run_bot_sale(stores(), cfg).await;
    println!("{report}");
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bots_get_no_more_tickets_per_identity_than_people() {
    let r = run(BotSaleConfig::default()).await;
    assert_eq!(r.violations(), Vec::<String>::new());
    assert_eq!((r.identities, r.bots, r.seats), (2_000, 600, 500));
    assert_eq!(r.sold_audited, 500, "demand far above supply sells out");
    assert!(r.max_tickets_per_identity <= CAP && r.max_sold_per_owner_audited <= CAP);
    assert!(r.tickets_per_bot() <= r.tickets_per_human(), "{} > {}", r.tickets_per_bot(), r.tickets_per_human());
    assert!(r.human_tickets > r.bot_tickets, "people get most of the seats");
    let f = &r.refused;
    for (what, n) in [
        ("blacklist", f.blacklist),
        ("bot block", f.bot_block),
        ("challenge", f.challenge),
        ("rate limit", f.rate_limit),
        ("cap", f.cap),
        ("sold out", f.sold_out),
    ] {
        assert!(n > 0, "no request was refused by {what}: the run does not exercise it");
    }
    assert!(r.requests > 10_000, "bots hammer: {} requests", r.requests);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_guard_bots_out_buy_people() {
    let r = run(BotSaleConfig { guard: false, ..BotSaleConfig::default() }).await;
    assert_eq!(r.violations(), Vec::<String>::new(), "caps and the audit hold without the guard too");
    assert!(r.tickets_per_bot() > r.tickets_per_human(), "{} <= {}", r.tickets_per_bot(), r.tickets_per_human());
    let f = &r.refused;
    assert_eq!((f.blacklist, f.bot_block, f.challenge, f.rate_limit), (0, 0, 0, 0));
}

/// Another seed, run twice: the same figures both times, and the same
/// checks hold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_replays_from_its_seed() {
    let cfg = BotSaleConfig { seed: 42, ..BotSaleConfig::default() };
    let a = run(cfg.clone()).await;
    let b = run(cfg).await;
    assert_eq!(a, b);
    assert_eq!(a.violations(), Vec::<String>::new());
}
