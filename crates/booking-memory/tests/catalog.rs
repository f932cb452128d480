//! The catalog conformance suite on the memory backend, ranking cases
//! included, with a memory inventory for the availability behaviours.

use booking_core::ManualClock;
use booking_core::testkit::catalog::CatalogFixture;
use booking_memory::{MemoryCatalog, MemoryInventory};
use std::sync::Arc;

async fn fixture() -> CatalogFixture<MemoryCatalog> {
    let clock = ManualClock::fixed();
    let inventory = Arc::new(MemoryInventory::with_clock(clock.shared()));
    CatalogFixture::new(MemoryCatalog::with_clock(clock.shared()), inventory, clock)
}

booking_core::catalog_suite!(fixture);
