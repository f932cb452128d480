//! The waiting room on Redis: booking-core's admission suite on
//! [`RedisWaitingRoomStore`] under a key prefix of its own per test, with a
//! [`booking_redis::RedisInventory`] on the same manual clock feeding the
//! inlet.

mod common;

use booking_core::testkit::admission::AdmissionFixture;
use booking_core::{ManualClock, TimeSource};
use booking_redis::admission::RedisWaitingRoomStore;
use common::{inventory, redis_url, test_prefix};
use std::sync::Arc;

async fn fixture() -> AdmissionFixture<RedisWaitingRoomStore> {
    let clock = ManualClock::fixed();
    let store = RedisWaitingRoomStore::builder(&redis_url())
        .expect("REDIS_URL")
        .prefix(test_prefix())
        .time_source(TimeSource::Injected(clock.shared()))
        .build()
        .await
        .unwrap_or_else(|e| panic!("cannot reach Redis at {}: {e}", redis_url()));
    let inventory = Arc::new(inventory(&clock).await);
    AdmissionFixture::new(store, inventory, clock)
}

booking_core::admission_suite!(fixture);
