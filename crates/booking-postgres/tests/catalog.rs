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

/// What the suite does not cover: hostile text reaching the text-search
/// functions, absurd versions, writes racing each other, the database
/// clock, extensions installed in another schema, and errors that name
/// the failed operation.
mod edges {
    use super::*;
    use booking_core::Clock;
    use booking_core::backend::failure::StoreFailure;
    use booking_core::catalog::{
        Availability, Catalog, CatalogError, Event, RecordKind, SearchQuery, Show, ShowFilter, Update, Venue,
    };
    use booking_core::testkit::catalog::{add_event, add_show, found, own_venue, search_at};
    use chrono::{DateTime, Duration, Utc};
    use common::{connect, create_empty_database, set_database_clock, settable_database_clock};
    use sqlx::Executor;

    async fn catalog() -> (String, PgCatalog, ManualClock) {
        let name = create_database().await;
        let clock = ManualClock::fixed();
        let catalog = PgCatalog::with_time_source(pool(&name, 8).await, TimeSource::Injected(clock.shared()));
        (name, catalog, clock)
    }

    /// Text-search syntax, quotes, backslashes and odd scripts in records
    /// and queries are only words: nothing fails, every word must match.
    #[tokio::test]
    async fn query_syntax_in_text_is_only_words() {
        let (_, c, clock) = catalog().await;
        let venue = own_venue(&c, "O'Brien's \\ Hall").await;
        let hostile = Event::new("Rock 'n' Roll <-> Night: (A & B) | !C")
            .with_performer("Ana \\ 'Quoted' :* Band")
            .with_description("'; DROP TABLE booking.catalog_shows; -- 東京 ☃ x² مرحبا");
        let e = add_event(&c, hostile).await;
        let s = add_show(&c, &e, &venue, clock.now(), 1).await;
        for q in [
            "rock n roll",
            "'rock' & 'night'",
            "rock:* | roll",
            "!!night ((a))",
            "\\quoted\\ ana",
            "brien hall rock",
            "drop table 東京",
            "x² rock",
            "rock'; DELETE FROM booking.catalog_shows; --",
        ] {
            let hits = found(&c, &search_at(&venue, q)).await;
            if q.contains("DELETE") {
                assert!(hits.is_empty(), "{q:?}: 'delete' is not in the text: {hits:?}");
            } else {
                assert_eq!(hits, vec![s.id], "{q:?}");
            }
        }
        assert!(found(&c, &search_at(&venue, "²")).await.is_empty(), "a word with no letter the index keeps");
        assert_eq!(c.show(s.id).await.expect("still there").version, 1);
    }

    /// A word longer than 40 characters is cut to 40, in records and
    /// queries alike; a 10,000-character description of one word is taken.
    #[tokio::test]
    async fn absurdly_long_words_are_cut() {
        let (_, c, clock) = catalog().await;
        let venue = own_venue(&c, "Long Hall").await;
        let word = "Supercalifragilisticexpialidocious".repeat(5);
        let e = add_event(&c, Event::new(format!("The {word} Show")).with_description("y".repeat(10_000))).await;
        let s = add_show(&c, &e, &venue, clock.now(), 1).await;
        assert_eq!(found(&c, &search_at(&venue, &word)).await, vec![s.id]);
        assert_eq!(found(&c, &search_at(&venue, &format!("{}zzzz show", &word[..40]))).await, vec![s.id]);
        assert_eq!(found(&c, &search_at(&venue, &"y".repeat(50))).await, vec![s.id]);
    }

    /// Versions no read could have given (0, u64::MAX, beyond i64) are
    /// conflicts naming the stored version, and change nothing.
    #[tokio::test]
    async fn absurd_versions_are_conflicts() {
        let (_, c, _) = catalog().await;
        let venue = own_venue(&c, "Version Hall").await;
        for version in [0, 2, i64::MAX as u64, i64::MAX as u64 + 1, u64::MAX] {
            let moved = Venue { city: "Elsewhere".into(), ..venue.clone() };
            let r = c.update_venue(&Update { value: moved, version }).await;
            assert!(matches!(r, Err(CatalogError::Conflict { kind: RecordKind::Venue, current: 1, .. })), "{r:?}");
        }
        assert_eq!(c.venue(venue.id).await.expect("venue"), Versioned1::of(venue));
    }

    struct Versioned1;
    impl Versioned1 {
        fn of<T>(value: T) -> booking_core::catalog::Versioned<T> {
            booking_core::catalog::Versioned { value, version: 1, archived: false }
        }
    }

    /// Eight updates from one read race: exactly one wins, the others get
    /// `Conflict` at version 2. Eight creations of one id race: one wins,
    /// the others get `Exists`. A show created twice at once (a request
    /// racing its own retry) is created once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn racing_writes_have_one_winner() {
        let (_, c, clock) = catalog().await;
        let c = Arc::new(c);
        let venue = own_venue(&*c, "Race Hall").await;
        let event = add_event(&*c, Event::new("Race Night")).await;
        let mut tasks = Vec::new();
        for i in 0..8 {
            let (c, event) = (c.clone(), event.clone());
            tasks.push(tokio::spawn(async move {
                let renamed = Event { title: format!("Race Night {i}"), ..event };
                c.update_event(&Update { value: renamed, version: 1 }).await
            }));
        }
        let (mut won, mut conflicts) = (0, 0);
        for t in tasks {
            match t.await.expect("task") {
                Ok(v) => {
                    assert_eq!(v.version, 2);
                    won += 1;
                }
                Err(CatalogError::Conflict { current: 2, .. }) => conflicts += 1,
                Err(e) => panic!("unexpected {e:?}"),
            }
        }
        assert_eq!((won, conflicts), (1, 7));

        let fresh = Venue::new("Twin Hall", "Race City");
        let show = Show::new(event.id, venue.id, clock.now() + Duration::days(3), clock.now());
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (c, fresh, show) = (c.clone(), fresh.clone(), show.clone());
            tasks.push(tokio::spawn(async move { (c.create_venue(&fresh).await.is_ok(), c.create_show(&show).await) }));
        }
        let (mut venues, mut shows) = (0, 0);
        for t in tasks {
            let (venue_ok, show) = t.await.expect("task");
            venues += usize::from(venue_ok);
            match show {
                Ok(_) => shows += 1,
                Err(CatalogError::Exists { kind: RecordKind::Show, .. }) => {}
                Err(e) => panic!("unexpected {e:?}"),
            }
        }
        assert_eq!((venues, shows), (1, 1));
    }

    /// An event's and its venue's updates racing each other leave every
    /// show found by the latest title and venue name: no show's document
    /// is rebuilt from the other write's old text, and nothing deadlocks.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn racing_event_and_venue_updates_keep_documents_current() {
        let (_, c, clock) = catalog().await;
        let c = Arc::new(c);
        let venue = own_venue(&*c, "Alpha Hall").await;
        let event = add_event(&*c, Event::new("Alpha Tour")).await;
        let mut ids = Vec::new();
        for day in 1..=20 {
            ids.push(add_show(&*c, &event, &venue, clock.now(), day).await.id);
        }
        let names = ["Bravo", "Charlie", "Delta", "Echo", "Foxtrot"];
        let (ec, ev) = (c.clone(), event.clone());
        let events = tokio::spawn(async move {
            for (i, n) in names.iter().enumerate() {
                let value = Event { title: format!("{n} Tour"), ..ev.clone() };
                ec.update_event(&Update { value, version: i as u64 + 1 }).await.expect("update event");
            }
        });
        let (vc, vv) = (c.clone(), venue.clone());
        let venues = tokio::spawn(async move {
            for (i, n) in names.iter().rev().enumerate() {
                let value = Venue { name: format!("{n} Hall"), ..vv.clone() };
                vc.update_venue(&Update { value, version: i as u64 + 1 }).await.expect("update venue");
            }
        });
        events.await.expect("events");
        venues.await.expect("venues");
        let mut q = search_at(&venue, "foxtrot tour bravo hall");
        q.limit = 100;
        let mut hits = found(&*c, &q).await;
        hits.sort();
        ids.sort();
        assert_eq!(hits, ids);
        assert!(found(&*c, &search_at(&venue, "alpha")).await.is_empty());
    }

    /// A show moved to another event and venue is found by their text
    /// only, while updates of the old and the new event race the move.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_moved_show_is_found_by_its_new_event_and_venue() {
        let (_, c, clock) = catalog().await;
        let c = Arc::new(c);
        let here = own_venue(&*c, "Kestrel Hall").await;
        let there = own_venue(&*c, "Osprey Hall").await;
        let old = add_event(&*c, Event::new("Granite Opera")).await;
        let new = add_event(&*c, Event::new("Marble Ballet")).await;
        let show = add_show(&*c, &old, &here, clock.now(), 3).await;
        let moved = Show { event: new.id, venue: there.id, ..show.clone() };
        let mut tasks = Vec::new();
        for (event, title) in [(old.clone(), "Granite Opera Revival"), (new.clone(), "Marble Ballet Gala")] {
            let c = c.clone();
            tasks.push(tokio::spawn(async move {
                let value = Event { title: title.into(), ..event };
                c.update_event(&Update { value, version: 1 }).await.map(|_| ())
            }));
        }
        let mover = c.clone();
        tasks.push(tokio::spawn(
            async move { mover.update_show(&Update { value: moved, version: 1 }).await.map(|_| ()) },
        ));
        for t in tasks {
            t.await.expect("task").expect("no write fails");
        }
        let anywhere = |text: &str| SearchQuery::new(text);
        assert_eq!(found(&*c, &anywhere("marble ballet gala osprey")).await, vec![show.id]);
        assert!(found(&*c, &anywhere("granite")).await.is_empty());
        assert!(found(&*c, &anywhere("kestrel")).await.is_empty());
        assert_eq!(c.listing(show.id).await.expect("listing").event.title, "Marble Ballet Gala");
    }

    /// Without an injected clock, listings read the database's clock
    /// (`booking.clock_ms()`), as the inventory does.
    #[tokio::test]
    async fn listings_run_on_the_database_clock() {
        let name = create_database().await;
        let mut admin = connect(&name).await;
        let start = settable_database_clock(&mut admin).await;
        let c = PgCatalog::new(pool(&name, 2).await);
        let t0 = DateTime::<Utc>::from_timestamp_millis(start).expect("start");
        let venue = own_venue(&c, "Clock Hall").await;
        let event = add_event(&c, Event::new("Clock Show")).await;
        let show = Show::new(event.id, venue.id, t0 + Duration::days(2), t0 + Duration::hours(1));
        c.create_show(&show).await.expect("create_show");
        let upcoming =
            ShowFilter { venue: Some(venue.id), availability: vec![Availability::Upcoming], ..ShowFilter::default() };
        assert_eq!(c.listing(show.id).await.expect("listing").availability, Availability::Upcoming);
        assert_eq!(found(&c, &SearchQuery::new("clock").with_filter(upcoming.clone())).await, vec![show.id]);
        set_database_clock(&mut admin, start + 3_600_000).await;
        assert_eq!(c.listing(show.id).await.expect("listing").availability, Availability::OnSale);
        assert!(found(&c, &SearchQuery::new("clock").with_filter(upcoming)).await.is_empty());
    }

    /// unaccent and pg_trgm installed beforehand in a schema of their own,
    /// off the connections' search path: the migration finds them there,
    /// and accents and typos are still forgiven.
    #[tokio::test]
    async fn extensions_in_another_schema_are_found() {
        let name = create_empty_database().await;
        let mut admin = connect(&name).await;
        admin
            .execute(
                "CREATE SCHEMA ext; CREATE EXTENSION unaccent SCHEMA ext; CREATE EXTENSION pg_trgm SCHEMA ext; \
                 REVOKE ALL ON SCHEMA ext FROM PUBLIC",
            )
            .await
            .expect("extensions in ext");
        let p = pool(&name, 2).await;
        booking_postgres::migrations().run(&p).await.expect("migrations");
        let clock = ManualClock::fixed();
        let c = PgCatalog::with_time_source(p, TimeSource::Injected(clock.shared()));
        let venue = own_venue(&c, "Ext Hall").await;
        let e = add_event(&c, Event::new("Café Concert").with_performer("Luciano Pavarotti")).await;
        let s = add_show(&c, &e, &venue, clock.now(), 1).await;
        for q in ["cafe", "pavaroti", "CAFÉ pavarotti"] {
            assert_eq!(found(&c, &search_at(&venue, q)).await, vec![s.id], "{q:?}");
        }
    }

    /// A closed pool is `Unavailable`; a failing statement is `Backend`,
    /// naming the operation.
    #[tokio::test]
    async fn errors_name_the_operation() {
        let (name, c, _) = catalog().await;
        let mut admin = connect(&name).await;
        admin.execute("DROP TABLE booking.catalog_vocabulary CASCADE").await.expect("drop vocabulary");
        match c.create_event(&Event::new("Broken")).await {
            Err(CatalogError::Backend(e)) => {
                let db = e.downcast_ref::<StoreFailure>().expect("a StoreFailure");
                assert_eq!(db.store, "postgres");
                assert_eq!(db.operation, "create event");
            }
            other => panic!("expected Backend, got {other:?}"),
        }
        let closed = PgCatalog::new(pool(&name, 1).await);
        let id = booking_core::ids::VenueId::new();
        let p = pool(&name, 1).await;
        p.close().await;
        let closed_pool = PgCatalog::new(p);
        assert!(matches!(closed.venue(id).await, Err(CatalogError::UnknownVenue(_))));
        assert!(matches!(closed_pool.venue(id).await, Err(CatalogError::Unavailable(_))));
    }
}
