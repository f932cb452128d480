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
