//! Catalog search on the memory backend: searches per second over a
//! generated catalog of 10,000 shows (booking-core's
//! `testkit::catalog::generate_catalog`, the same catalog and queries as
//! booking-postgres's `catalog_search` bench), at 1 and 2 concurrent
//! callers. The queries mix title words, surnames, a word and a city,
//! words typed halfway, misspelled surnames and category filters.
//!
//! `cargo bench -p booking-memory --bench catalog_search`
//!
//! `CATALOG_BENCH_SECS` (default 10) is the time per measurement and
//! `CATALOG_BENCH_SHOWS` (default 10000) the catalog's size;
//! `CATALOG_BENCH_SECS=0.5` makes a short run.
#![allow(missing_docs)]

use booking_core::testkit::catalog::{generate_catalog, generate_queries, load_catalog, search_rate};
use booking_core::{Clock, ManualClock};
use booking_memory::MemoryCatalog;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let secs = Duration::from_secs_f64(env("CATALOG_BENCH_SECS", 10.0f64).max(0.0));
    let shows: usize = env("CATALOG_BENCH_SHOWS", 10_000);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let clock = ManualClock::fixed();
    let data = generate_catalog(shows, 1, clock.now());
    let queries = generate_queries(&data, 600, 1);
    let catalog = Arc::new(MemoryCatalog::with_clock(clock.shared()));
    let t = Instant::now();
    rt.block_on(load_catalog(&*catalog, &data)).expect("load the catalog");
    println!(
        "memory: loaded {} venues, {} events, {} shows in {:.2} s",
        data.venues.len(),
        data.events.len(),
        data.shows.len(),
        t.elapsed().as_secs_f64()
    );
    for callers in [1, 2] {
        let rate = rt.block_on(search_rate(catalog.clone(), &queries, callers, secs));
        println!(
            "memory, {callers} callers: MemoryCatalog search {:.0}/s ({:.1} results per search)",
            rate.per_second, rate.hits_per_search
        );
    }
}
