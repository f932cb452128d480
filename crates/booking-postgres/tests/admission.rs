//! The waiting room on PostgreSQL: booking-core's admission suite on
//! [`PgWaitingRoomStore`], each test in a fresh database, with a
//! [`PgInventory`] in the same database on the same manual clock feeding
//! the inlet.

mod common;

use booking_core::testkit::admission::AdmissionFixture;
use booking_core::{ManualClock, TimeSource};
use booking_postgres::PgInventory;
use booking_postgres::admission::PgWaitingRoomStore;
use common::{create_database, pool};
use std::sync::Arc;

async fn fixture() -> AdmissionFixture<PgWaitingRoomStore> {
    let clock = ManualClock::fixed();
    let name = create_database().await;
    let inventory = Arc::new(PgInventory::with_clock(pool(&name, 4).await, clock.shared()));
    let store = PgWaitingRoomStore::with_time_source(pool(&name, 16).await, TimeSource::Injected(clock.shared()));
    AdmissionFixture::new(store, inventory, clock)
}

booking_core::admission_suite!(fixture);
