//! The seat-lock decorator over the memory inventory with the in-process
//! lock, on a single-threaded runtime.

use booking_core::layered::{LockOutcome, LockedInventory, SeatLock};
use booking_core::{HoldSeats, InventoryError, OwnerId, PriceCategory, SeatId, SeatInventory, ShowSpec, VenueLayout};
use booking_memory::{MemoryInventory, MemorySeatLock};
use std::sync::Arc;
use std::time::Duration;

/// A caller that retries a refused hold at once, without yielding itself,
/// must still let the task holding the seat's lock run and release it: the
/// in-process lock answers without waiting, so the decorator has to give
/// way on a refusal.
#[tokio::test(flavor = "current_thread")]
async fn a_caller_retrying_at_once_lets_the_lock_holder_finish() {
    let inv = Arc::new(LockedInventory::new(MemorySeatLock::new(), MemoryInventory::new(), Duration::from_secs(60)));
    let spec = ShowSpec::new("one row", VenueLayout::grid(1, 1, 4, PriceCategory(1)));
    inv.create_show(&spec).await.unwrap();
    let seats = [SeatId(1)];

    // Another request is deciding seat 1: its lock is taken, and the task
    // that will release it has not run yet.
    let LockOutcome::Locked(token) = inv.lock().try_lock(spec.id, &seats, Duration::from_secs(60)).await.unwrap()
    else {
        panic!("the lock of a fresh seat is free");
    };
    let holder = {
        let inv = Arc::clone(&inv);
        tokio::spawn(async move { inv.lock().unlock(spec.id, &seats, &token).await })
    };

    let req = HoldSeats { show: spec.id, owner: OwnerId::new(), seats: seats.to_vec() };
    let mut refused = 0;
    let hold = loop {
        match inv.hold_seats(&req).await {
            Ok(hold) => break hold,
            Err(InventoryError::SeatsTaken { seats: taken }) => {
                assert_eq!(taken, seats);
                refused += 1;
                assert!(refused < 1_000, "the lock holder never ran: the refusal did not yield");
            }
            Err(e) => panic!("unexpected answer: {e:?}"),
        }
    };
    holder.await.unwrap().unwrap();
    assert!(refused >= 1, "the first attempt met the lock");
    assert_eq!(hold.token.items, booking_core::HoldItems::Seats(seats.to_vec()));
}

/// The seat-lock conformance suite on the in-process lock.
mod suite {
    async fn fixture() -> booking_core::testkit::LockFixture<booking_memory::MemorySeatLock> {
        let clock = booking_core::ManualClock::fixed();
        booking_core::testkit::LockFixture::new(booking_memory::MemorySeatLock::with_clock(clock.shared()), clock)
    }
    booking_core::seat_lock_suite!(fixture);
}
