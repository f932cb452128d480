//! The waiting room in process: booking-core's admission suite on
//! [`MemoryWaitingRoomStore`], with a [`MemoryInventory`] on the same
//! manual clock feeding the inlet.

use booking_core::ManualClock;
use booking_core::testkit::admission::AdmissionFixture;
use booking_memory::MemoryInventory;
use booking_memory::admission::MemoryWaitingRoomStore;
use std::sync::Arc;

async fn fixture() -> AdmissionFixture<MemoryWaitingRoomStore> {
    let clock = ManualClock::fixed();
    let inventory = Arc::new(MemoryInventory::with_clock(clock.shared()));
    AdmissionFixture::new(MemoryWaitingRoomStore::with_clock(clock.shared()), inventory, clock)
}

booking_core::admission_suite!(fixture);
