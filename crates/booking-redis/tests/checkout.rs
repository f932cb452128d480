//! Checkout on Redis: booking-core's saga-log, outbox and idempotency-key
//! store suites, and the saga tests (declines, lost holds, replays,
//! compensations, racing completers, a crash at every step boundary and
//! after every provider call) with every store on Redis: the inventory,
//! the saga log, the outbox and the idempotency keys, one injected clock.

mod common;

use booking_core::testkit::checkout::StoreFixture;
use booking_core::testkit::saga::CheckoutStores;
use booking_core::{ManualClock, TimeSource};
use booking_redis::{RedisCheckoutStores, RedisIdempotencyStore, RedisOutbox, RedisSagaLog};
use common::{inventory, redis_url, test_prefix};
use std::sync::Arc;

async fn checkout_stores(clock: &ManualClock) -> RedisCheckoutStores {
    RedisCheckoutStores::builder(&redis_url())
        .expect("url")
        .prefix(test_prefix())
        .time_source(TimeSource::Injected(clock.shared()))
        .build()
        .await
        .expect("connect")
}

async fn stores() -> CheckoutStores {
    let clock = ManualClock::fixed();
    let checkout = checkout_stores(&clock).await;
    let keys = RedisIdempotencyStore::builder(&redis_url())
        .expect("url")
        .prefix(test_prefix())
        .time_source(TimeSource::Injected(clock.shared()))
        .build()
        .await
        .expect("connect");
    CheckoutStores {
        inventory: Arc::new(inventory(&clock).await),
        log: Arc::new(checkout.saga_log),
        outbox: Arc::new(checkout.outbox),
        keys: Arc::new(keys),
        clock,
    }
}

mod saga_log {
    use super::*;
    async fn fixture() -> StoreFixture<RedisSagaLog> {
        let clock = ManualClock::fixed();
        StoreFixture::new(Arc::new(checkout_stores(&clock).await.saga_log), clock)
    }
    booking_core::saga_log_suite!(fixture);
}

mod outbox {
    use super::*;
    async fn fixture() -> StoreFixture<RedisOutbox> {
        let clock = ManualClock::fixed();
        StoreFixture::new(Arc::new(checkout_stores(&clock).await.outbox), clock)
    }
    booking_core::outbox_suite!(fixture);
}

mod saga {
    booking_core::checkout_suite!(super::stores);
}
