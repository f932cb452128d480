//! Checkouts per second on the memory backend (hold, then the whole saga
//! with the simulated provider answering at once), beside the inventory's
//! bare hold+sell on the same backend, in the same run; medians of 7
//! rounds of 5,000 buyers, at 1 and 8 concurrent callers.
//!
//! `cargo bench -p booking-memory --bench checkout`
#![allow(missing_docs)]

use booking_core::ManualClock;
use booking_core::testkit::saga::CheckoutStores;
use booking_core::testkit::throughput::checkout_throughput;
use booking_memory::checkout::{MemoryOutbox, MemorySagaLog};
use booking_memory::{MemoryIdempotencyStore, MemoryInventory};
use std::sync::Arc;

async fn stores() -> CheckoutStores {
    let clock = ManualClock::fixed();
    CheckoutStores {
        inventory: Arc::new(MemoryInventory::with_clock(clock.shared())),
        log: Arc::new(MemorySagaLog::with_clock(clock.shared())),
        outbox: Arc::new(MemoryOutbox::with_clock(clock.shared())),
        keys: Arc::new(MemoryIdempotencyStore::with_clock(clock.shared())),
        clock,
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    for callers in [1, 8] {
        let t = rt.block_on(checkout_throughput(stores, 7, 5_000, callers));
        println!(
            "memory, {callers} callers: checkout {:.0}/s, bare hold+sell {:.0}/s, checkout / bare {:.3}",
            t.checkouts,
            t.bare_hold_sell,
            t.ratio()
        );
    }
}
