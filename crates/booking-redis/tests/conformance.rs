//! The shared conformance suite and the model-based state-machine test of
//! `booking-core`, run against a real Redis (`REDIS_URL`, default
//! `redis://127.0.0.1:6379`). Each test uses its own random key prefix, so
//! tests run in parallel on one server.

mod common;

use booking_core::testkit::{Fixture, StateMachine, StateMachineBackend};

booking_core::conformance_suite!(common::fixture);

struct Redis;

impl StateMachineBackend for Redis {
    async fn fixture() -> Fixture {
        common::fixture().await.into_dyn()
    }
}

proptest_state_machine::prop_state_machine! {
    #![proptest_config(booking_core::testkit::config(64))]
    #[test]
    fn state_machine_matches_the_model(sequential 1..60 => StateMachine<Redis>);
}
