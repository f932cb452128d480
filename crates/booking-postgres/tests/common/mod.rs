//! Test databases: one fresh, migrated database per test (the crate's
//! `testkit`), and the inventories the tests run on them.

#![allow(dead_code, unused_imports)]

use booking_core::ManualClock;
use booking_core::testkit::Fixture;
use booking_postgres::PgInventory;
pub use booking_postgres::testkit::{create_database, options, pool};

/// A fresh database with an inventory on a manual clock.
pub async fn fixture() -> Fixture<PgInventory> {
    let name = create_database().await;
    let clock = ManualClock::fixed();
    Fixture::new(PgInventory::with_clock(pool(&name, 8).await, clock.shared()), clock)
}

/// As [`fixture`], with request coalescing on.
pub async fn fixture_coalesced() -> Fixture<PgInventory> {
    let name = create_database().await;
    let clock = ManualClock::fixed();
    let inv = PgInventory::builder(pool(&name, 8).await).clock(clock.shared()).coalesce(64, 4).build();
    Fixture::new(inv, clock)
}
