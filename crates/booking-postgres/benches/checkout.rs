//! Checkouts per second with every store on PostgreSQL (inventory, saga
//! log, outbox, idempotency keys; the simulated provider answering at
//! once), beside the inventory's bare hold+sell on the same database in
//! the same run; medians of 5 rounds of 1,000 buyers, at 1 and 8
//! concurrent callers, each round on a fresh database.
//!
//! `DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo bench -p booking-postgres --bench checkout`
#![allow(missing_docs)]

use booking_core::testkit::saga::CheckoutStores;
use booking_core::testkit::throughput::checkout_throughput;
use booking_core::{ManualClock, TimeSource};
use booking_postgres::PgInventory;
use booking_postgres::checkout::{PgIdempotencyStore, PgOutbox, PgSagaLog};
use booking_postgres::testkit::{create_database, pool};
use std::sync::Arc;

async fn stores() -> CheckoutStores {
    // The database's own clock, as in production.
    let name = create_database().await;
    let stores = pool(&name, 16).await;
    CheckoutStores {
        inventory: Arc::new(PgInventory::new(pool(&name, 16).await)),
        log: Arc::new(PgSagaLog::with_time_source(stores.clone(), TimeSource::Store)),
        outbox: Arc::new(PgOutbox::with_time_source(stores.clone(), TimeSource::Store)),
        keys: Arc::new(PgIdempotencyStore::with_time_source(stores, TimeSource::Store)),
        clock: ManualClock::fixed(),
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    for callers in [1, 8] {
        let t = rt.block_on(checkout_throughput(stores, 5, 1_000, callers));
        println!(
            "postgres, {callers} callers: checkout {:.0}/s, bare hold+sell {:.0}/s, checkout / bare {:.3}",
            t.checkouts,
            t.bare_hold_sell,
            t.ratio()
        );
    }
}
