//! Checkout on the memory backend: the saga-log, outbox and
//! idempotency-key store suites, and the saga tests over all of them.

use booking_core::ManualClock;
use booking_core::testkit::checkout::StoreFixture;
use booking_core::testkit::saga::CheckoutStores;
use booking_memory::checkout::{MemoryOutbox, MemorySagaLog};
use booking_memory::{MemoryIdempotencyStore, MemoryInventory};
use std::sync::Arc;

async fn stores() -> CheckoutStores {
    let clock = ManualClock::fixed();
    CheckoutStores {
        inventory: Arc::new(MemoryInventory::with_clock(clock.shared())),
        log: Arc::new(MemorySagaLog::with_clock(clock.shared())),
        outbox: Arc::new(MemoryOutbox::with_clock(clock.shared())),
        keys: Arc::new(MemoryIdempotencyStore::with_clock(clock.shared())),
        clock,
    }
}

mod idempotency {
    use super::*;
    async fn fixture() -> StoreFixture<MemoryIdempotencyStore> {
        let clock = ManualClock::fixed();
        StoreFixture::new(Arc::new(MemoryIdempotencyStore::with_clock(clock.shared())), clock)
    }
    booking_core::idempotency_suite!(fixture);
}

mod saga_log {
    use super::*;
    async fn fixture() -> StoreFixture<MemorySagaLog> {
        let clock = ManualClock::fixed();
        StoreFixture::new(Arc::new(MemorySagaLog::with_clock(clock.shared())), clock)
    }
    booking_core::saga_log_suite!(fixture);
}

mod outbox {
    use super::*;
    async fn fixture() -> StoreFixture<MemoryOutbox> {
        let clock = ManualClock::fixed();
        StoreFixture::new(Arc::new(MemoryOutbox::with_clock(clock.shared())), clock)
    }
    booking_core::outbox_suite!(fixture);
}

mod saga {
    booking_core::checkout_suite!(super::stores);
}

/// The reaper worker removes keys past their retention.
#[tokio::test]
async fn the_reaper_removes_keys_past_retention() {
    use booking_core::OwnerId;
    use booking_core::idempotency::{
        Begin, DEFAULT_RETENTION, Fingerprint, IdempotencyKey, IdempotencyStore, Started, StoredResponse, spawn_reaper,
    };
    use std::time::Duration;
    let clock = ManualClock::fixed();
    let store = Arc::new(MemoryIdempotencyStore::with_clock(clock.shared()));
    let who = OwnerId::new();
    let key = IdempotencyKey("old".into());
    let begin =
        Begin { principal: who, key: key.clone(), fingerprint: Fingerprint([1; 32]), lease: Duration::from_secs(5) };
    let Started::Run { lease, .. } = store.begin(&begin).await.expect("begin") else { panic!("a new key runs") };
    store.finish(who, &key, lease, &StoredResponse { status: 201, body: vec![1] }).await.expect("finish");
    clock.advance(chrono::Duration::hours(25));
    let worker = spawn_reaper(store.clone(), DEFAULT_RETENTION, Duration::from_millis(5));
    let mut gone = false;
    for _ in 0..400 {
        if store.get(who, &key).await.expect("get").is_none() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let reaped = worker.stats().items();
    worker.stop().await;
    assert!(gone, "the key is reaped");
    assert!(reaped >= 1);
}
