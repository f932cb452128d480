//! Checkouts per second with every store on Redis (inventory, saga log,
//! outbox, idempotency keys; the simulated provider answering at once),
//! beside the inventory's bare hold+sell on the same server in the same
//! run; medians of 5 rounds of 2,000 buyers, at 1 and 8 concurrent callers.
//!
//! `REDIS_URL=redis://127.0.0.1:6379 cargo bench -p booking-redis --bench checkout`
#![allow(missing_docs)]

use booking_core::ManualClock;
use booking_core::testkit::saga::CheckoutStores;
use booking_core::testkit::throughput::checkout_throughput;
use booking_redis::{RedisCheckoutStores, RedisIdempotencyStore, RedisInventory};
use std::sync::Arc;

fn url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

async fn stores() -> CheckoutStores {
    // The store's own clock, as in production; a fresh prefix per round.
    let prefix = format!("bench-{}:", uuid::Uuid::now_v7().simple());
    let inventory = RedisInventory::builder(&url()).expect("url").prefix(prefix.clone()).build().await.expect("redis");
    let checkout =
        RedisCheckoutStores::builder(&url()).expect("url").prefix(prefix.clone()).build().await.expect("redis");
    let keys = RedisIdempotencyStore::builder(&url()).expect("url").prefix(prefix).build().await.expect("redis");
    CheckoutStores {
        inventory: Arc::new(inventory),
        log: Arc::new(checkout.saga_log),
        outbox: Arc::new(checkout.outbox),
        keys: Arc::new(keys),
        clock: ManualClock::fixed(),
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    for callers in [1, 8] {
        let t = rt.block_on(checkout_throughput(stores, 5, 2_000, callers));
        println!(
            "redis, {callers} callers: checkout {:.0}/s, bare hold+sell {:.0}/s, checkout / bare {:.3}",
            t.checkouts,
            t.bare_hold_sell,
            t.ratio()
        );
    }
}
