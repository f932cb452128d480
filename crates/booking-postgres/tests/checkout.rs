//! Checkout on PostgreSQL: booking-core's idempotency-key store, saga-log
//! and outbox suites, and the saga tests (declines, lost holds, replays,
//! compensations, racing completers, a crash at every step boundary and
//! after every provider call) with every store on PostgreSQL: the
//! inventory, the saga log, the outbox and the idempotency keys, in one
//! fresh database per test, all on one manual clock.

mod common;

use booking_core::testkit::checkout::StoreFixture;
use booking_core::testkit::saga::CheckoutStores;
use booking_core::{ManualClock, TimeSource};
use booking_postgres::PgInventory;
use booking_postgres::checkout::{PgIdempotencyStore, PgOutbox, PgSagaLog};
use common::{create_database, pool};
use sqlx::PgPool;
use std::sync::Arc;

/// A fresh, migrated database and a pool of at most `max` connections on it.
async fn database(max: u32) -> (String, PgPool) {
    let name = create_database().await;
    let pool = pool(&name, max).await;
    (name, pool)
}

fn injected(clock: &ManualClock) -> TimeSource {
    TimeSource::Injected(clock.shared())
}

async fn stores() -> CheckoutStores {
    let clock = ManualClock::fixed();
    let (name, stores_pool) = database(8).await;
    let inventory = PgInventory::with_clock(pool(&name, 8).await, clock.shared());
    CheckoutStores {
        inventory: Arc::new(inventory),
        log: Arc::new(PgSagaLog::with_time_source(stores_pool.clone(), injected(&clock))),
        outbox: Arc::new(PgOutbox::with_time_source(stores_pool.clone(), injected(&clock))),
        keys: Arc::new(PgIdempotencyStore::with_time_source(stores_pool, injected(&clock))),
        clock,
    }
}

mod idempotency {
    use super::*;
    async fn fixture() -> StoreFixture<PgIdempotencyStore> {
        let clock = ManualClock::fixed();
        let (_, pool) = database(16).await;
        StoreFixture::new(Arc::new(PgIdempotencyStore::with_time_source(pool, injected(&clock))), clock)
    }
    booking_core::idempotency_suite!(fixture);
}

mod saga_log {
    use super::*;
    async fn fixture() -> StoreFixture<PgSagaLog> {
        let clock = ManualClock::fixed();
        let (_, pool) = database(4).await;
        StoreFixture::new(Arc::new(PgSagaLog::with_time_source(pool, injected(&clock))), clock)
    }
    booking_core::saga_log_suite!(fixture);
}

mod outbox {
    use super::*;
    async fn fixture() -> StoreFixture<PgOutbox> {
        let clock = ManualClock::fixed();
        let (_, pool) = database(4).await;
        StoreFixture::new(Arc::new(PgOutbox::with_time_source(pool, injected(&clock))), clock)
    }
    booking_core::outbox_suite!(fixture);
}

mod saga {
    booking_core::checkout_suite!(super::stores);
}
