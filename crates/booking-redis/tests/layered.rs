//! The Redis seat lock in front of an inventory
//! (`booking_core::layered::LockedInventory`): the whole conformance suite
//! and the state-machine test on the composition, and booking-core's lock
//! fault scenarios (`booking_core::testkit::faults`: a lock deleted
//! mid-hold and throughout a race, a holder paused past the lock's TTL, the
//! lock store killed and restarted during a run), the lock on a
//! `redis-server` of its own (`booking_redis::testkit::lock_fault_fixture`).
//!
//! The inner inventory here is the Redis inventory itself (a backend crate
//! depends on no other backend crate); its versioned checks are the
//! fencing, as the database's are when PostgreSQL sits behind the lock
//! (crates/booking-layered-tests runs the same scenarios there).

mod common;

use booking_core::layered::LockedInventory;
use booking_core::testkit::faults::LockFaultFixture;
use booking_core::testkit::{Fixture, StateMachine, StateMachineBackend};
use booking_core::{ManualClock, TimeSource};
use booking_redis::{RedisInventory, RedisSeatLock};
use common::{inventory, redis_url, test_prefix};
use std::time::Duration;

type Layered = LockedInventory<RedisSeatLock, RedisInventory>;

const LOCK_TTL: Duration = Duration::from_secs(2);

async fn fixture() -> Fixture<Layered> {
    let clock = ManualClock::fixed();
    let lock = RedisSeatLock::builder(&redis_url())
        .expect("url")
        .prefix(test_prefix())
        .time_source(TimeSource::Injected(clock.shared()))
        .build()
        .await
        .expect("lock");
    Fixture::new(LockedInventory::new(lock, inventory(&clock).await, LOCK_TTL), clock)
}

booking_core::conformance_suite!(fixture);

struct LayeredRedis;

impl StateMachineBackend for LayeredRedis {
    const SHEDS_CONTENTION: bool = true;

    async fn fixture() -> Fixture {
        fixture().await.into_dyn()
    }
}

proptest_state_machine::prop_state_machine! {
    #![proptest_config(booking_core::testkit::config(64))]
    #[test]
    fn layered_state_machine_matches_the_model(sequential 1..60 => StateMachine<LayeredRedis>);
}

/// The lock fault scenarios, Redis lock x Redis inventory.
mod faults {
    use super::*;

    async fn fixture() -> LockFaultFixture<RedisSeatLock, RedisInventory> {
        let clock = ManualClock::fixed();
        booking_redis::testkit::lock_fault_fixture(inventory(&clock).await, clock).await
    }

    booking_core::lock_fault_suite!(fixture);
}
