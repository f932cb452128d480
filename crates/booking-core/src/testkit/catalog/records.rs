//! Records: created once, updated by compare-and-set, validated, archived.

use super::{CatalogFixture, add_event, add_show, found, listed, own_venue, search_at};
use crate::catalog::{Catalog, CatalogError, Event, Problem, RecordKind, Show, ShowFilter, Update, Venue};
use crate::clock::Clock;
use crate::ids::{EventId, PriceCategory, ShowId, VenueId};
use crate::money::{Currency, Money};
use chrono::Duration;

/// Records read back as created at version 1; an update at the read
/// version replaces the record and moves it to the next; an update from a
/// stale read is a `Conflict` naming the stored version; an id in use is
/// `Exists`; unknown ids are refused by kind.
pub async fn catalog_records_round_trip<C: Catalog + ?Sized>(fx: &CatalogFixture<C>) {
    let c = &*fx.catalog;
    let now = fx.clock.now();
    let mut venue = own_venue(c, "Round Trip Hall").await;
    venue.address = "1 Main Street".into();
    let stored = c.create_venue(&Venue { id: VenueId::new(), ..venue.clone() }).await.expect("second venue");
    assert_eq!((stored.version, stored.archived), (1, false));
    let v = c.update_venue(&Update { value: venue.clone(), version: 1 }).await.expect("update venue");
    assert_eq!((v.version, &v.value), (2, &venue));
    assert_eq!(c.venue(venue.id).await.expect("venue").value.address, "1 Main Street");
    let stale = c.update_venue(&Update { value: venue.clone(), version: 1 }).await;
    assert!(matches!(stale, Err(CatalogError::Conflict { kind: RecordKind::Venue, current: 2, .. })), "{stale:?}");
    let again = c.create_venue(&venue).await;
    assert!(matches!(again, Err(CatalogError::Exists { kind: RecordKind::Venue, .. })), "{again:?}");

    let event = Event::new("Round Trip Revue")
        .with_description("A revue.")
        .with_performer("The Roundabouts")
        .with_category("Comedy");
    let e = c.create_event(&event).await.expect("create_event");
    assert_eq!((&e.value, e.version, e.archived), (&event, 1, false));
    assert_eq!(c.event(event.id).await.expect("event"), e);

    let show = Show::new(event.id, venue.id, now + Duration::days(30), now - Duration::days(1))
        .with_off_sale(now + Duration::days(29))
        .with_price(PriceCategory(1), "Stalls", Money::new(4500, Currency::GBP))
        .with_price(PriceCategory(2), "Circle", Money::new(2500, Currency::GBP));
    let s = c.create_show(&show).await.expect("create_show");
    assert_eq!((&s.value, s.version), (&show, 1));
    assert_eq!(c.show(show.id).await.expect("show"), s);
    let listing = c.listing(show.id).await.expect("listing");
    assert_eq!((&listing.show, &listing.event, &listing.venue), (&show, &event, &venue));
    assert_eq!(listing.from_price(), Some(Money::new(2500, Currency::GBP)));
    let later = Show { starts_at: now + Duration::days(31), ..show.clone() };
    let s2 = c.update_show(&Update { value: later.clone(), version: 1 }).await.expect("update_show");
    assert_eq!((s2.version, s2.value.starts_at), (2, later.starts_at));
    let stale = c.update_show(&Update { value: show.clone(), version: 1 }).await;
    assert!(matches!(stale, Err(CatalogError::Conflict { kind: RecordKind::Show, current: 2, .. })), "{stale:?}");
    let again = c.create_show(&show).await;
    assert!(matches!(again, Err(CatalogError::Exists { kind: RecordKind::Show, .. })), "{again:?}");

    let (uv, ue, us) = (VenueId::new(), EventId::new(), ShowId::new());
    assert!(matches!(c.venue(uv).await, Err(CatalogError::UnknownVenue(id)) if id == uv));
    assert!(matches!(c.event(ue).await, Err(CatalogError::UnknownEvent(id)) if id == ue));
    assert!(matches!(c.show(us).await, Err(CatalogError::UnknownShow(id)) if id == us));
    assert!(matches!(c.listing(us).await, Err(CatalogError::UnknownShow(_))));
    assert!(matches!(c.archive_show(us).await, Err(CatalogError::UnknownShow(_))));
    let ghost = Update { value: Event { id: ue, ..event.clone() }, version: 1 };
    assert!(matches!(c.update_event(&ghost).await, Err(CatalogError::UnknownEvent(_))));
}

/// Bad records are refused with the field at fault and store nothing; a
/// show needs an existing event and venue.
pub async fn catalog_rejects_bad_records<C: Catalog + ?Sized>(fx: &CatalogFixture<C>) {
    let c = &*fx.catalog;
    let now = fx.clock.now();
    let blank = Venue::new("  ", "Paris");
    assert_eq!(invalid(c.create_venue(&blank).await), Some(("/name".into(), Problem::Empty)));
    assert!(matches!(c.venue(blank.id).await, Err(CatalogError::UnknownVenue(_))), "nothing stored");
    let nul = Venue::new("Hall", "Pa\0ris");
    assert_eq!(invalid(c.create_venue(&nul).await), Some(("/city".into(), Problem::ControlCharacter)));
    let long = Event::new("t".repeat(crate::catalog::MAX_NAME_CHARS + 1));
    assert!(matches!(invalid(c.create_event(&long).await), Some((f, Problem::TooLong { .. })) if f == "/title"));
    let dup = Event::new("Twice").with_performer("Ana").with_performer("ANA");
    assert_eq!(invalid(c.create_event(&dup).await), Some(("/performers/1".into(), Problem::Duplicate)));
    assert!(matches!(c.event(dup.id).await, Err(CatalogError::UnknownEvent(_))), "nothing stored");

    let venue = own_venue(c, "Validation Hall").await;
    let event = add_event(c, Event::new("Validation Night")).await;
    let eur = |m| Money::new(m, Currency::EUR);
    let base = Show::new(event.id, venue.id, now + Duration::days(3), now);
    let mixed = base.clone().with_price(PriceCategory(1), "A", eur(100)).with_price(
        PriceCategory(2),
        "B",
        Money::new(100, Currency::USD),
    );
    assert_eq!(invalid(c.create_show(&mixed).await), Some(("/prices/1/price".into(), Problem::MixedCurrencies)));
    let negative = base.clone().with_price(PriceCategory(1), "A", eur(-1));
    assert_eq!(invalid(c.create_show(&negative).await), Some(("/prices/0/price".into(), Problem::Negative)));
    let backwards = Show { on_sale_at: now + Duration::days(4), ..base.clone() };
    assert_eq!(
        invalid(c.create_show(&backwards).await),
        Some(("/on_sale_at".into(), Problem::NotBefore { other: "starts_at" }))
    );
    assert!(matches!(c.show(base.id).await, Err(CatalogError::UnknownShow(_))), "nothing stored");
    let orphan = Show { event: EventId::new(), ..base.clone() };
    assert!(matches!(c.create_show(&orphan).await, Err(CatalogError::UnknownEvent(_))));
    let homeless = Show { venue: VenueId::new(), ..base.clone() };
    assert!(matches!(c.create_show(&homeless).await, Err(CatalogError::UnknownVenue(_))));
    assert!(matches!(c.show(base.id).await, Err(CatalogError::UnknownShow(_))), "nothing stored");
    c.create_show(&base).await.expect("the good show");
    let bad_update = Update { value: Show { prices: negative.prices.clone(), ..base.clone() }, version: 1 };
    assert!(matches!(c.update_show(&bad_update).await, Err(CatalogError::Invalid(_))));
    assert_eq!(c.show(base.id).await.expect("show").version, 1, "a refused update changes nothing");
}

/// Archived shows, and shows of archived events or venues, are neither
/// listed nor found, yet read by id, marked archived; archiving twice
/// changes nothing; archived records take no updates and no new shows.
pub async fn catalog_archived_records_are_hidden<C: Catalog + ?Sized>(fx: &CatalogFixture<C>) {
    let c = &*fx.catalog;
    let now = fx.clock.now();
    let venue = own_venue(c, "Archive Hall").await;
    let here = ShowFilter { venue: Some(venue.id), ..ShowFilter::default() };
    let kept = add_event(c, Event::new("Lighthouse Symphony")).await;
    let dropped = add_event(c, Event::new("Lighthouse Requiem")).await;
    let k1 = add_show(c, &kept, &venue, now, 1).await;
    let k2 = add_show(c, &kept, &venue, now, 2).await;
    let d1 = add_show(c, &dropped, &venue, now, 3).await;
    assert_eq!(found(c, &search_at(&venue, "lighthouse")).await.len(), 3);

    let archived = c.archive_show(k2.id).await.expect("archive show");
    assert_eq!((archived.version, archived.archived), (2, true));
    assert_eq!(c.archive_show(k2.id).await.expect("archive again").version, 2, "archiving twice changes nothing");
    assert_eq!(listed(c, here.clone()).await, vec![k1.id, d1.id]);
    assert!(!found(c, &search_at(&venue, "lighthouse symphony")).await.contains(&k2.id));
    assert!(c.show(k2.id).await.expect("read by id").archived);
    assert!(c.listing(k2.id).await.is_ok(), "an archived show's listing is read by id");

    c.archive_event(dropped.id).await.expect("archive event");
    assert!(c.event(dropped.id).await.expect("read by id").archived);
    assert_eq!(found(c, &search_at(&venue, "lighthouse")).await, vec![k1.id]);
    assert!(found(c, &search_at(&venue, "requiem")).await.is_empty(), "an archived event is hidden");
    assert_eq!(listed(c, here.clone()).await, vec![k1.id]);
    let update = Update { value: dropped.clone(), version: 2 };
    assert!(matches!(c.update_event(&update).await, Err(CatalogError::Archived { kind: RecordKind::Event, .. })));
    let late = Show::new(dropped.id, venue.id, now + Duration::days(9), now);
    assert!(matches!(c.create_show(&late).await, Err(CatalogError::Archived { kind: RecordKind::Event, .. })));
    let stale = Update { value: k2.clone(), version: 2 };
    assert!(matches!(c.update_show(&stale).await, Err(CatalogError::Archived { kind: RecordKind::Show, .. })));

    c.archive_venue(venue.id).await.expect("archive venue");
    assert!(found(c, &search_at(&venue, "lighthouse")).await.is_empty(), "an archived venue hides its shows");
    assert!(listed(c, here).await.is_empty());
    let moved = Show::new(kept.id, venue.id, now + Duration::days(9), now);
    assert!(matches!(c.create_show(&moved).await, Err(CatalogError::Archived { kind: RecordKind::Venue, .. })));
}

/// An update is searched and filtered by its new values at once: a
/// renamed event is found by its new title only, a venue moved to another
/// city is filtered by the new one, a rescheduled show by its new date.
pub async fn catalog_updates_are_searched_at_once<C: Catalog + ?Sized>(fx: &CatalogFixture<C>) {
    let c = &*fx.catalog;
    let now = fx.clock.now();
    let venue = own_venue(c, "Update Hall").await;
    let event = add_event(c, Event::new("Orchard Quartet")).await;
    let show = add_show(c, &event, &venue, now, 5).await;
    assert_eq!(found(c, &search_at(&venue, "orchard")).await, vec![show.id]);
    let renamed = Event { title: "Meadow Quartet".into(), ..event.clone() };
    c.update_event(&Update { value: renamed, version: 1 }).await.expect("update_event");
    assert!(found(c, &search_at(&venue, "orchard")).await.is_empty(), "the old title is gone");
    assert_eq!(found(c, &search_at(&venue, "meadow")).await, vec![show.id]);

    let city = format!("{} Nord", venue.city);
    let moved = Venue { city: city.clone(), ..venue.clone() };
    c.update_venue(&Update { value: moved, version: 1 }).await.expect("update_venue");
    let in_city = |city: &str| ShowFilter { city: Some(city.to_uppercase()), ..ShowFilter::default() };
    assert_eq!(listed(c, in_city(&city)).await, vec![show.id], "cities compare without regard to case");
    assert!(listed(c, in_city(&venue.city)).await.is_empty());

    let window =
        ShowFilter { venue: Some(venue.id), starts_from: Some(now + Duration::days(10)), ..ShowFilter::default() };
    assert!(listed(c, window.clone()).await.is_empty());
    let later = Show { starts_at: now + Duration::days(12), ..show.clone() };
    c.update_show(&Update { value: later, version: 1 }).await.expect("update_show");
    assert_eq!(listed(c, window).await, vec![show.id]);
}

/// The field and problem of an `Invalid` answer.
fn invalid<T>(r: Result<T, CatalogError>) -> Option<(String, Problem)> {
    match r {
        Err(CatalogError::Invalid(f)) => Some((f.field, f.problem)),
        _ => None,
    }
}
