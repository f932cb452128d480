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

/// What the suites do not cover: the database clock, absurd inputs, and
/// errors that name the failed operation.
mod edges {
    use super::*;
    use booking_core::backend::failure::StoreFailure;
    use booking_core::checkout::{OrderStatus, Outbox, OutboxMessage, SagaLog, StoreError, WorkerId};
    use booking_core::idempotency::{Begin, Fingerprint, IdempotencyKey, IdempotencyStore, Started, StoredResponse};
    use booking_core::testkit::checkout::sample_order;
    use booking_core::{Clock, OwnerId};
    use common::create_empty_database;
    use std::time::Duration;

    #[tokio::test]
    async fn stores_run_on_the_database_clock() {
        let (_, pool) = database(4).await;
        let keys = PgIdempotencyStore::new(pool.clone());
        let who = OwnerId::new();
        let req = Begin {
            principal: who,
            key: IdempotencyKey("db-clock".into()),
            fingerprint: Fingerprint([1; 32]),
            lease: Duration::from_secs(30),
        };
        let Started::Run { lease, .. } = keys.begin(&req).await.expect("begin") else { panic!("expected to run") };
        let record = keys.get(who, &req.key).await.expect("get").expect("record");
        let now = chrono::Utc::now();
        assert!((record.created_at - now).num_seconds().abs() < 60, "created by the database's clock");
        let response = StoredResponse { status: 200, body: b"ok".to_vec() };
        keys.finish(who, &req.key, lease, &response).await.expect("finish");
        assert_eq!(keys.begin(&req).await.expect("replay"), Started::Replay(response));
        assert_eq!(keys.reap(Duration::from_secs(3600)).await.expect("reap"), 0);

        let log = PgSagaLog::new(pool.clone());
        let order = log.create(&sample_order(who, OrderStatus::Created, now)).await.expect("create");
        let claimed = log.claim_unfinished(WorkerId(1), Duration::from_secs(60), 10).await.expect("claim");
        assert_eq!(claimed.iter().map(|o| o.id).collect::<Vec<_>>(), vec![order.id]);
        assert!(log.claim_unfinished(WorkerId(2), Duration::from_secs(60), 10).await.expect("claim").is_empty());

        let outbox = PgOutbox::new(pool);
        let msg = OutboxMessage { id: "m".into(), topic: "t".into(), payload: "{}".into(), attempts: 0 };
        outbox.enqueue(&msg).await.expect("enqueue");
        assert_eq!(outbox.claim(WorkerId(1), Duration::from_secs(60), 10).await.expect("claim").len(), 1);
        assert_eq!(outbox.pending().await.expect("pending"), 1);
    }

    #[tokio::test]
    async fn absurd_inputs_are_answered_without_panics() {
        let clock = ManualClock::fixed();
        let (_, pool) = database(4).await;
        let keys = PgIdempotencyStore::with_time_source(pool.clone(), injected(&clock));
        let req = Begin {
            principal: OwnerId::new(),
            key: IdempotencyKey("forever".into()),
            fingerprint: Fingerprint([2; 32]),
            lease: Duration::MAX,
        };
        assert!(matches!(keys.begin(&req).await, Ok(Started::Run { .. })));
        assert_eq!(keys.reap(Duration::MAX).await.expect("reap"), 0);
        let log = PgSagaLog::with_time_source(pool.clone(), injected(&clock));
        assert!(log.claim_unfinished(WorkerId(u128::MAX), Duration::MAX, usize::MAX).await.expect("claim").is_empty());
        let order = sample_order(OwnerId::new(), OrderStatus::Created, clock.now());
        log.create(&order).await.expect("create");
        for version in [0, u64::MAX] {
            assert!(matches!(log.update(&Order { version, ..order.clone() }).await, Err(StoreError::Conflict)));
        }
        assert!(log.list(None, 0).await.expect("list").is_empty());
        let outbox = PgOutbox::with_time_source(pool, injected(&clock));
        assert!(outbox.claim(WorkerId(0), Duration::MAX, usize::MAX).await.expect("claim").is_empty());
    }

    #[tokio::test]
    async fn errors_name_the_operation() {
        let name = create_empty_database().await;
        let pool = common::pool(&name, 2).await;
        let err = PgSagaLog::new(pool.clone()).get(booking_core::OrderId::new()).await.expect_err("no schema");
        let StoreError::Backend(cause) = &err else { panic!("{err:?}") };
        let failure = cause.downcast_ref::<StoreFailure>().expect("a failure naming the store");
        assert_eq!((failure.store, failure.operation), ("postgres", "saga log get"));
        assert!(err.to_string().contains("postgres, saga log get: "), "{err}");
        let err = PgOutbox::new(pool.clone()).pending().await.expect_err("no schema");
        assert!(err.to_string().contains("postgres, outbox pending: "), "{err}");
        let err = PgIdempotencyStore::new(pool).reap(Duration::from_secs(1)).await.expect_err("no schema");
        assert!(err.to_string().contains("postgres, idempotency reap: "), "{err}");
    }

    use booking_core::checkout::Order;
}
