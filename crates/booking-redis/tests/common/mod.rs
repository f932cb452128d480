//! Shared test setup: a fresh inventory under a random key prefix, on the
//! server at `REDIS_URL` (default `redis://127.0.0.1:6379`).

#![allow(dead_code)]

use booking_core::ManualClock;
use booking_core::testkit::Fixture;
use booking_redis::RedisInventory;

/// The server the tests use.
pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A key prefix no other test uses.
pub fn test_prefix() -> String {
    format!("booking-test:{}:", uuid::Uuid::now_v7().simple())
}

/// An inventory with its own key prefix, deciding expiry by `clock`.
pub async fn inventory(clock: &ManualClock) -> RedisInventory {
    RedisInventory::builder(&redis_url())
        .expect("REDIS_URL")
        .prefix(test_prefix())
        .clock(clock.shared())
        .build()
        .await
        .unwrap_or_else(|e| panic!("cannot reach Redis at {}: {e}", redis_url()))
}

/// A conformance fixture: a fresh inventory and the manual clock it reads.
pub async fn fixture() -> Fixture<RedisInventory> {
    let clock = ManualClock::fixed();
    Fixture::new(inventory(&clock).await, clock)
}
