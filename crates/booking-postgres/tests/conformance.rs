//! The whole conformance suite and the reference-model state-machine test
//! of booking-core, on a real PostgreSQL (see `common` for `DATABASE_URL`).

mod common;

use booking_core::ManualClock;
use booking_core::testkit::{Fixture, StateMachine, StateMachineBackend};
use tokio::sync::OnceCell;

booking_core::conformance_suite!(common::fixture);

/// One database for every state-machine case: each case makes its own show.
static SHARED: OnceCell<String> = OnceCell::const_new();

struct Pg;

impl StateMachineBackend for Pg {
    async fn fixture() -> Fixture {
        let name = SHARED.get_or_init(common::create_database).await;
        let clock = ManualClock::fixed();
        Fixture::new(common::uncoalesced(common::pool(name, 2).await, &clock), clock).into_dyn()
    }
}

proptest_state_machine::prop_state_machine! {
    #![proptest_config(booking_core::testkit::config(128))]
    #[test]
    fn state_machine(sequential 1..60 => StateMachine<Pg>);
}
