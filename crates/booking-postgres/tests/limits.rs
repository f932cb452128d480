//! Limits on PostgreSQL: booking-core's limits suite, each test in a fresh
//! database deciding by a manual clock; and the database's own clock
//! deciding when no clock is injected.

mod common;

use booking_core::limits::{Acquire, LimitKey, Quota, RateLimitStore};
use booking_core::testkit::limits::LimitsFixture;
use booking_core::{ManualClock, TimeSource};
use booking_postgres::limits::{PgBlacklist, PgRateLimitStore};
use common::{connect, create_database, pool, set_database_clock, settable_database_clock};
use std::sync::Arc;
use std::time::Duration;

async fn fixture() -> LimitsFixture {
    let clock = ManualClock::fixed();
    let pool = pool(&create_database().await, 16).await;
    let time = TimeSource::Injected(clock.shared());
    LimitsFixture::new(
        Arc::new(PgRateLimitStore::with_time_source(pool.clone(), time.clone())),
        Arc::new(PgBlacklist::with_time_source(pool, time)),
        clock,
    )
}

booking_core::limits_suite!(fixture);

/// With no clock injected, the database clock (`booking.clock_ms()`)
/// decides: the burst passes, the retry-after is counted from the
/// database's time, and moving that time lets the next request through.
#[tokio::test]
async fn the_database_clock_decides_by_default() {
    let name = create_database().await;
    let mut admin = connect(&name).await;
    let start = settable_database_clock(&mut admin).await;
    let store = PgRateLimitStore::new(pool(&name, 2).await);
    let q = Quota::per_second(2, 2).expect("quota");
    let req = Acquire::one(LimitKey("db-clock".into()), q);
    assert!(store.acquire(&req).await.expect("acquire").allowed);
    assert!(store.acquire(&req).await.expect("acquire").allowed);
    let d = store.acquire(&req).await.expect("acquire");
    assert_eq!((d.allowed, d.retry_after), (false, Duration::from_millis(500)));
    set_database_clock(&mut admin, start + 499).await;
    assert!(!store.acquire(&req).await.expect("acquire").allowed);
    set_database_clock(&mut admin, start + 500).await;
    assert!(store.acquire(&req).await.expect("acquire").allowed);
    set_database_clock(&mut admin, start + 5_000).await;
    assert_eq!(store.purge().await.expect("purge"), 1);
}
