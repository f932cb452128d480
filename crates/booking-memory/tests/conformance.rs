//! The conformance suite and the state-machine test on the memory backend,
//! both directly and through `Arc<dyn SeatInventory>`.

use booking_core::ManualClock;
use booking_core::testkit::{Fixture, StateMachine, StateMachineBackend};
use booking_memory::MemoryInventory;
use proptest_state_machine::prop_state_machine;

fn memory() -> Fixture<MemoryInventory> {
    let clock = ManualClock::fixed();
    Fixture::new(MemoryInventory::with_clock(clock.shared()), clock)
}

mod direct {
    async fn fixture() -> booking_core::testkit::Fixture<booking_memory::MemoryInventory> {
        super::memory()
    }
    booking_core::conformance_suite!(fixture);
}

mod as_dyn {
    async fn fixture() -> booking_core::testkit::Fixture {
        super::memory().into_dyn()
    }
    booking_core::conformance_suite!(fixture);
}

/// The memory inventory behind the in-process seat lock.
mod layered {
    use booking_core::layered::LockedInventory;
    use booking_memory::{MemoryInventory, MemorySeatLock};
    use std::time::Duration;

    async fn fixture() -> booking_core::testkit::Fixture<LockedInventory<MemorySeatLock, MemoryInventory>> {
        let clock = booking_core::ManualClock::fixed();
        let inner = MemoryInventory::with_clock(clock.shared());
        booking_core::testkit::Fixture::new(
            LockedInventory::new(MemorySeatLock::new(), inner, Duration::from_secs(2)),
            clock,
        )
    }
    booking_core::conformance_suite!(fixture);
}

struct Memory;

impl StateMachineBackend for Memory {
    async fn fixture() -> Fixture {
        memory().into_dyn()
    }
}

struct LayeredMemory;

impl StateMachineBackend for LayeredMemory {
    const SHEDS_CONTENTION: bool = true;

    async fn fixture() -> Fixture {
        let clock = ManualClock::fixed();
        let inner = MemoryInventory::with_clock(clock.shared());
        let locked = booking_core::layered::LockedInventory::new(
            booking_memory::MemorySeatLock::new(),
            inner,
            std::time::Duration::from_secs(2),
        );
        Fixture::new(locked, clock).into_dyn()
    }
}

prop_state_machine! {
    #![proptest_config(booking_core::testkit::config(256))]
    #[test]
    fn memory_matches_the_reference_model(sequential 1..60 => StateMachine<Memory>);

    #[test]
    fn layered_memory_matches_the_reference_model(sequential 1..60 => StateMachine<LayeredMemory>);
}
