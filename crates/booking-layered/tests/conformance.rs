//! The whole conformance suite and the reference-model state-machine test
//! of booking-core on the Redis seat lock in front of the PostgreSQL
//! inventory (`LockedInventory<RedisSeatLock, PgInventory>`), with the same
//! suite code as every backend. See `common` for `DATABASE_URL` and
//! `REDIS_URL`.

mod common;

use booking_core::ManualClock;
use booking_core::testkit::{Fixture, StateMachine, StateMachineBackend};
use proptest::prelude::ProptestConfig;
use tokio::sync::OnceCell;

booking_core::conformance_suite!(common::fixture);

/// One database for every state-machine case (each case makes its own
/// show); each case gets its own pool, key prefix and clock.
static SHARED: OnceCell<String> = OnceCell::const_new();

struct LayeredPg;

impl StateMachineBackend for LayeredPg {
    const SHEDS_CONTENTION: bool = true;

    async fn fixture() -> Fixture {
        let db = SHARED.get_or_init(common::create_database).await;
        let clock = ManualClock::fixed();
        let (lock, _) = common::redis_lock(&common::redis_url()).await;
        Fixture::new(common::layered_with(lock, db, 2, &clock).await, clock).into_dyn()
    }
}

proptest_state_machine::prop_state_machine! {
    #![proptest_config(ProptestConfig { cases: 128, max_shrink_iters: 2_000, ..ProptestConfig::default() })]
    #[test]
    fn state_machine(sequential 1..40 => StateMachine<LayeredPg>);
}
