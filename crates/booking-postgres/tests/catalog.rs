//! The catalog conformance suite on PostgreSQL, ranking cases included:
//! each test on its own fresh, migrated database, the catalog and a
//! PostgreSQL inventory (for the availability behaviours) on one manual
//! clock.

mod common;

use booking_core::testkit::catalog::CatalogFixture;
use booking_core::{ManualClock, TimeSource};
use booking_postgres::PgInventory;
use booking_postgres::catalog::PgCatalog;
use common::{create_database, pool};
use std::sync::Arc;

async fn fixture() -> CatalogFixture<PgCatalog> {
    let name = create_database().await;
    let clock = ManualClock::fixed();
    let inventory = Arc::new(PgInventory::with_clock(pool(&name, 4).await, clock.shared()));
    let catalog = PgCatalog::with_time_source(pool(&name, 4).await, TimeSource::Injected(clock.shared()));
    CatalogFixture::new(catalog, inventory, clock)
}

booking_core::catalog_suite!(fixture);
