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

/// Every key of a room shares the room's hash tag, so one Cluster slot;
/// rooms spread over slots.
#[test]
fn a_rooms_keys_share_one_slot() {
    use booking_core::admission::RoomId;
    use booking_redis::admission::RoomKeys;
    use booking_redis::key_slot;
    let mut slots = std::collections::HashSet::new();
    for _ in 0..50 {
        let keys = RoomKeys::new("booking:", RoomId::new());
        let slot = key_slot(keys.0[0].as_bytes());
        assert!(keys.0.iter().all(|k| key_slot(k.as_bytes()) == slot), "{keys:?}");
        slots.insert(slot);
    }
    assert!(slots.len() > 40, "50 rooms on {} slots", slots.len());
}

/// The whole suite on a Redis Cluster (`REDIS_CLUSTER_URLS`, or a
/// throwaway 3-master cluster): every script finds its room's keys on one
/// slot.
mod cluster {
    use super::*;
    use common::{cluster_inventory, cluster_urls};

    async fn fixture() -> AdmissionFixture<RedisWaitingRoomStore> {
        let clock = ManualClock::fixed();
        let urls = tokio::task::spawn_blocking(cluster_urls).await.expect("cluster");
        let store = RedisWaitingRoomStore::cluster_builder(urls)
            .expect("seeds")
            .prefix(test_prefix())
            .time_source(TimeSource::Injected(clock.shared()))
            .build()
            .await
            .unwrap_or_else(|e| panic!("cannot reach the Redis Cluster: {e}"));
        let inventory = Arc::new(cluster_inventory(&clock).await);
        AdmissionFixture::new(store, inventory, clock)
    }

    booking_core::admission_suite!(fixture);
}
