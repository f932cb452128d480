//! Availability on listings: the sale window, stored summaries, and the
//! refresh from a real inventory.

use super::{CatalogFixture, add_event, listed, own_venue};
use crate::catalog::{
    Availability, AvailabilityPolicy, AvailabilitySummary, AvailabilitySync, Catalog, CatalogError, Event, SalesLevel,
    Show, ShowFilter,
};
use crate::clock::Clock;
use crate::ids::{OrderId, OwnerId, PoolId, PriceCategory, ShowId};
use crate::inventory::HoldPool;
use crate::layout::{HoldPolicy, ShowSpec, VenueLayout};
use crate::money::{Currency, Money};
use crate::testkit::{hold, sell_req};
use chrono::{DateTime, Duration, Utc};
use std::sync::Arc;

fn summary(available: u32, capacity: u32, observed_at: DateTime<Utc>) -> AvailabilitySummary {
    AvailabilitySummary {
        level: AvailabilityPolicy::default().level(available, capacity),
        capacity,
        available,
        held: 0,
        sold: capacity - available,
        categories: vec![PriceCategory(1)],
        observed_at,
    }
}

/// Before sales open a show is `Upcoming`, then its summary's level (on
/// sale until a summary says otherwise), and `SalesEnded` from when sales
/// close, whatever is left; the availability filter follows the clock.
pub async fn availability_follows_the_sale_window<C: Catalog + ?Sized>(fx: &CatalogFixture<C>) {
    let c = &*fx.catalog;
    let now = fx.clock.now();
    let venue = own_venue(c, "Window Hall").await;
    let event = add_event(c, Event::new("Window Show")).await;
    let show = Show::new(event.id, venue.id, now + Duration::days(2), now + Duration::hours(1))
        .with_off_sale(now + Duration::days(1));
    c.create_show(&show).await.expect("create_show");
    let at = |a: Availability| ShowFilter { venue: Some(venue.id), availability: vec![a], ..ShowFilter::default() };
    let availability = || async { c.listing(show.id).await.expect("listing").availability };
    assert_eq!(availability().await, Availability::Upcoming);
    assert_eq!(listed(c, at(Availability::Upcoming)).await, vec![show.id]);
    assert!(listed(c, at(Availability::OnSale)).await.is_empty());
    fx.clock.advance(Duration::hours(1));
    assert_eq!(availability().await, Availability::OnSale, "sales open at on_sale_at");
    assert_eq!(listed(c, at(Availability::OnSale)).await, vec![show.id]);
    c.set_availability(show.id, &summary(0, 50, fx.clock.now())).await.expect("set");
    assert_eq!(availability().await, Availability::SoldOut);
    fx.clock.advance(Duration::hours(23) - Duration::milliseconds(1));
    assert_eq!(availability().await, Availability::SoldOut);
    fx.clock.advance(Duration::milliseconds(1));
    assert_eq!(availability().await, Availability::SalesEnded, "sales close at off_sale_at");
    assert_eq!(listed(c, at(Availability::SalesEnded)).await, vec![show.id]);
    assert!(listed(c, at(Availability::SoldOut)).await.is_empty());
}

/// The catalog keeps the summary observed last: an older one is refused
/// (`false`), one observed at the same instant or later replaces it;
/// summaries do not move the show's version; unknown shows are refused.
pub async fn availability_keeps_the_newest_summary<C: Catalog + ?Sized>(fx: &CatalogFixture<C>) {
    let c = &*fx.catalog;
    let now = fx.clock.now();
    let venue = own_venue(c, "Summary Hall").await;
    let event = add_event(c, Event::new("Summary Show")).await;
    let show = Show::new(event.id, venue.id, now + Duration::days(2), now - Duration::hours(1));
    c.create_show(&show).await.expect("create_show");
    let stored = || async { c.listing(show.id).await.expect("listing").summary };
    assert_eq!(stored().await, None);
    let first = summary(40, 50, now);
    assert!(c.set_availability(show.id, &first).await.expect("set"));
    assert_eq!(stored().await, Some(first.clone()));
    let older = summary(10, 50, now - Duration::seconds(1));
    assert!(!c.set_availability(show.id, &older).await.expect("set older"), "an older reading is refused");
    assert_eq!(stored().await, Some(first));
    let same_instant = summary(30, 50, now);
    assert!(c.set_availability(show.id, &same_instant).await.expect("set again"));
    let newer = summary(5, 50, now + Duration::seconds(1));
    assert!(c.set_availability(show.id, &newer).await.expect("set newer"));
    let listing = c.listing(show.id).await.expect("listing");
    assert_eq!((listing.summary, listing.availability), (Some(newer.clone()), Availability::SellingFast));
    assert_eq!(c.show(show.id).await.expect("show").version, 1);
    let unknown = c.set_availability(ShowId::new(), &newer).await;
    assert!(matches!(unknown, Err(CatalogError::UnknownShow(_))), "{unknown:?}");
}

/// Creates an inventory show of 10 seats (category 1) and a pool of 10
/// units (category 2), and its catalog show pricing both.
async fn sold_show<C: Catalog + ?Sized>(fx: &CatalogFixture<C>, name: &str) -> (ShowSpec, Show) {
    let c = &*fx.catalog;
    let now = fx.clock.now();
    let policy = HoldPolicy { max_held_per_owner: None, max_per_request: 100, ..HoldPolicy::default() };
    let spec = ShowSpec::new(name, VenueLayout::grid(1, 1, 10, PriceCategory(1)))
        .with_pool("Standing", 10, PriceCategory(2))
        .with_policy(policy);
    fx.inventory.create_show(&spec).await.expect("inventory create_show");
    let venue = own_venue(c, &format!("{name} Hall")).await;
    let event = add_event(c, Event::new(name)).await;
    let show = Show::new(event.id, venue.id, now + Duration::days(7), now - Duration::days(1))
        .with_id(spec.id)
        .with_price(PriceCategory(1), "Seated", Money::new(6000, Currency::EUR))
        .with_price(PriceCategory(2), "Standing", Money::new(3000, Currency::EUR));
    c.create_show(&show).await.expect("catalog create_show");
    (spec, show)
}

/// [`AvailabilitySync`] sums the inventory's snapshot into the listing:
/// seats and pool units, the level by the policy, the cheapest price left;
/// a round over the inventory's shows stores the ones the catalog knows
/// and counts the others.
pub async fn availability_sync_reads_the_inventory<C: Catalog + ?Sized + 'static>(fx: &CatalogFixture<C>) {
    let c = &*fx.catalog;
    let (spec, show) = sold_show(fx, "Sync Show").await;
    let sync = AvailabilitySync::new(fx.catalog.clone(), fx.inventory.clone(), fx.clock.shared());
    let (s, stored) = sync.refresh(show.id).await.expect("refresh");
    assert!(stored);
    assert_eq!((s.capacity, s.available, s.level), (20, 20, SalesLevel::Available));
    let listing = c.listing(show.id).await.expect("listing");
    assert_eq!(
        (listing.availability, listing.from_price()),
        (Availability::OnSale, Some(Money::new(3000, Currency::EUR)))
    );

    let inv = &*fx.inventory;
    let fan = OwnerId::new();
    let units = inv.hold_pool(&HoldPool { show: spec.id, owner: fan, pool: PoolId(0), quantity: 10 }).await;
    inv.sell(&sell_req(&units.expect("hold pool"), OrderId::new())).await.expect("sell pool");
    let (s, _) = sync.refresh(show.id).await.expect("refresh");
    assert_eq!((s.available, s.sold, s.categories.clone()), (10, 10, vec![PriceCategory(1)]));
    let listing = c.listing(show.id).await.expect("listing");
    assert_eq!(
        (listing.availability, listing.from_price()),
        (Availability::OnSale, Some(Money::new(6000, Currency::EUR)))
    );

    hold(inv, spec.id, OwnerId::new(), &[0, 1, 2, 3, 4, 5, 6, 7]).await;
    let (s, _) = sync.refresh(show.id).await.expect("refresh");
    assert_eq!((s.available, s.held, s.level), (2, 8, SalesLevel::SellingFast));
    assert_eq!(c.listing(show.id).await.expect("listing").availability, Availability::SellingFast);

    hold(inv, spec.id, OwnerId::new(), &[8, 9]).await;
    let (s, _) = sync.refresh(show.id).await.expect("refresh");
    assert_eq!((s.available, s.level, s.categories.len()), (0, SalesLevel::SoldOut, 0));
    let listing = c.listing(show.id).await.expect("listing");
    assert_eq!((listing.availability, listing.from_price()), (Availability::SoldOut, None));
    let sold_out =
        ShowFilter { venue: Some(show.venue), availability: vec![Availability::SoldOut], ..ShowFilter::default() };
    assert_eq!(listed(c, sold_out).await, vec![show.id]);

    // An inventory show the catalog does not list is counted, not stored.
    let stray = ShowSpec::new("stray", VenueLayout::grid(1, 1, 2, PriceCategory(1)));
    fx.inventory.create_show(&stray).await.expect("stray show");
    let round = sync.refresh_listed().await.expect("round");
    assert!(round.stored >= 1 && round.unknown >= 1 && round.errors == 0, "{round:?}");
    let missing = sync.refresh(ShowId::new()).await;
    assert!(missing.is_err(), "a show neither store knows is an error");
}

/// [`AvailabilitySync::follow`] refreshes a listing after the inventory
/// changes, by the show's change feed.
pub async fn availability_follow_refreshes_after_changes<C: Catalog + ?Sized + 'static>(fx: &CatalogFixture<C>) {
    let (spec, show) = sold_show(fx, "Follow Show").await;
    let sync = Arc::new(AvailabilitySync::new(fx.catalog.clone(), fx.inventory.clone(), fx.clock.shared()));
    let follower = {
        let sync = sync.clone();
        tokio::spawn(async move { sync.follow(show.id, std::time::Duration::from_millis(5)).await })
    };
    let available = |n: u32| {
        let c = fx.catalog.clone();
        async move {
            for _ in 0..2_000 {
                if c.listing(show.id).await.expect("listing").summary.is_some_and(|s| s.available == n) {
                    return true;
                }
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            false
        }
    };
    assert!(available(20).await, "the follower refreshes once at the start");
    hold(&*fx.inventory, spec.id, OwnerId::new(), &[3, 4, 5]).await;
    assert!(available(17).await, "and again after a change");
    follower.abort();
}
