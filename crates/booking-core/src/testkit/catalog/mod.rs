//! The catalog's conformance suite: what every [`Catalog`] backend must do,
//! ranking included.
//!
//! Each behaviour is a `pub async fn` taking a [`CatalogFixture`]: a
//! catalog and an inventory that both read the fixture's
//! [`ManualClock`]. Behaviours create their own venue (fresh ids, a city of
//! their own) and search within it, so one store may serve many tests at
//! once and hold other data. Ranking cases compare the order of results,
//! never scores, so that an engine with other scores (PostgreSQL's
//! `ts_rank_cd`, say) passes them as well as BM25.
//!
//! ```ignore
//! // tests/catalog.rs of a backend crate
//! async fn fixture() -> booking_core::testkit::catalog::CatalogFixture<MyCatalog> {
//!     let clock = booking_core::ManualClock::fixed();
//!     let inventory = std::sync::Arc::new(MyInventory::with_clock(clock.shared()));
//!     CatalogFixture::new(MyCatalog::with_clock(clock.shared()), inventory, clock)
//! }
//! booking_core::catalog_suite!(fixture);
//! ```

mod availability;
mod generate;
mod records;
mod search;

pub use availability::*;
pub use generate::*;
pub use records::*;
pub use search::*;

use crate::catalog::{Catalog, Event, ListShows, SearchQuery, Show, ShowFilter, Venue};
use crate::clock::ManualClock;
use crate::ids::{PriceCategory, ShowId};
use crate::inventory::SeatInventory;
use crate::money::{Currency, Money};
use chrono::{DateTime, Duration, Utc};
use std::sync::Arc;

/// A catalog, an inventory and the clock both read.
pub struct CatalogFixture<C: ?Sized = dyn Catalog> {
    /// The catalog under test.
    pub catalog: Arc<C>,
    /// An inventory for the availability behaviours.
    pub inventory: Arc<dyn SeatInventory>,
    /// The clock the catalog (and the inventory) read; tests move it.
    pub clock: ManualClock,
}

impl<C: Catalog + 'static> CatalogFixture<C> {
    /// A fixture over `catalog` and `inventory`, which must read `clock`.
    pub fn new(catalog: C, inventory: Arc<dyn SeatInventory>, clock: ManualClock) -> Self {
        CatalogFixture { catalog: Arc::new(catalog), inventory, clock }
    }
}

/// A venue of a behaviour's own: a fresh id and a city nobody else uses.
pub async fn own_venue<C: Catalog + ?Sized>(catalog: &C, name: &str) -> Venue {
    let nonce = uuid::Uuid::now_v7().simple().to_string();
    let venue = Venue::new(name, format!("Testcity {}", &nonce[nonce.len() - 12..]));
    catalog.create_venue(&venue).await.expect("create_venue");
    venue
}

/// Creates `event`, expecting success.
pub async fn add_event<C: Catalog + ?Sized>(catalog: &C, event: Event) -> Event {
    catalog.create_event(&event).await.expect("create_event");
    event
}

/// Creates a show of `event` at `venue`, on sale since a day before `now`,
/// starting `days` days after `now`, with one price level of 50 EUR.
pub async fn add_show<C: Catalog + ?Sized>(
    catalog: &C,
    event: &Event,
    venue: &Venue,
    now: DateTime<Utc>,
    days: i64,
) -> Show {
    let show = Show::new(event.id, venue.id, now + Duration::days(days), now - Duration::days(1)).with_price(
        PriceCategory(1),
        "Standard",
        Money::new(5000, Currency::EUR),
    );
    catalog.create_show(&show).await.expect("create_show");
    show
}

/// A search limited to `venue`'s shows.
pub fn search_at(venue: &Venue, text: &str) -> SearchQuery {
    SearchQuery::new(text).with_filter(ShowFilter { venue: Some(venue.id), ..ShowFilter::default() })
}

/// The shows found by `query`, best first.
pub async fn found<C: Catalog + ?Sized>(catalog: &C, query: &SearchQuery) -> Vec<ShowId> {
    let page = catalog.search(query).await.unwrap_or_else(|e| panic!("search {:?} failed: {e:?}", query.text));
    page.items.into_iter().map(|h| h.listing.show.id).collect()
}

/// The shows listed by `filter`, soonest first.
pub async fn listed<C: Catalog + ?Sized>(catalog: &C, filter: ShowFilter) -> Vec<ShowId> {
    let page = catalog.list(&ListShows { limit: 100, ..ListShows::new(filter) }).await.expect("list");
    page.items.into_iter().map(|l| l.show.id).collect()
}

/// The one list of the catalog suite's behaviours: [`crate::catalog_suite!`]
/// runs each of them, and a test of this crate checks that every behaviour
/// defined in `testkit/catalog/` is on it.
#[doc(hidden)]
#[macro_export]
macro_rules! __catalog_behaviours {
    ($mac:ident!($($args:tt)*)) => {
        $crate::$mac! { $($args)*
    catalog_records_round_trip,
    catalog_rejects_bad_records,
    catalog_archived_records_are_hidden,
    catalog_updates_are_searched_at_once,
    search_ranks_exact_title_above_description,
    search_finds_a_misspelled_performer,
    search_ranks_exact_words_above_typos,
    search_matches_prefixes_as_you_type,
    search_requires_every_word,
    search_ignores_case_and_accents,
    search_orders_ties_by_date_and_pages,
    search_and_list_apply_filters,
    search_refuses_bad_queries,
    availability_follows_the_sale_window,
    availability_keeps_the_newest_summary,
    availability_sync_reads_the_inventory,
    availability_follow_refreshes_after_changes,
        }
    };
}

/// Expands to one `#[tokio::test]` per behaviour of the catalog suite, each
/// calling `$factory().await` for a fresh [`CatalogFixture`].
///
/// The calling crate needs `tokio` with the `macros` and `rt-multi-thread`
/// features among its dev-dependencies.
#[macro_export]
macro_rules! catalog_suite {
    ($factory:path) => {
        $crate::__catalog_behaviours!(catalog_suite!(@each $factory;));
    };
    (@each $factory:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let fixture = $factory().await;
                $crate::testkit::catalog::$name(&fixture).await;
            }
        )*
    };
    (@names $($name:ident),* $(,)?) => {
        &[$(stringify!($name)),*]
    };
}

/// Every behaviour of the catalog suite, by name, as
/// [`crate::catalog_suite!`] runs them.
pub const BEHAVIOURS: &[&str] = crate::__catalog_behaviours!(catalog_suite!(@names));

#[cfg(test)]
mod tests {
    /// Every `pub async fn` taking a `CatalogFixture` in `testkit/catalog/`
    /// is a behaviour, and every behaviour is on the list.
    #[test]
    fn every_catalog_behaviour_is_on_the_list() {
        let sources = crate::testkit::sources_in(concat!(env!("CARGO_MANIFEST_DIR"), "/src/testkit/catalog"));
        let sources = sources.iter().map(String::as_str);
        crate::testkit::assert_all_listed("catalog", sources, "fx: &CatalogFixture<C>", super::BEHAVIOURS);
    }
}
