//! Search: what matches and in which order, filters, paging, bad queries.
//! Orders are compared, never scores.

use super::{CatalogFixture, add_event, add_show, found, listed, own_venue, search_at};
use crate::catalog::{
    Availability, AvailabilityPolicy, AvailabilitySummary, Catalog, CatalogError, Event, ListShows, SearchQuery,
    ShowFilter,
};
use crate::clock::Clock;
use crate::ids::PriceCategory;
use chrono::Duration;

/// A show whose title is the query ranks above one whose description
/// mentions it; a show not mentioning it is not found.
pub async fn search_ranks_exact_title_above_description<C: Catalog + ?Sized>(fx: &CatalogFixture<C>) {
    let c = &*fx.catalog;
    let now = fx.clock.now();
    let venue = own_venue(c, "Recital Hall").await;
    // Created first and sooner, so that neither creation order nor date
    // could explain the title's win.
    let described = add_event(
        c,
        Event::new("Late Night Piano")
            .with_description("Favourites old and new, closing with the Moonlight Sonata by candlelight."),
    )
    .await;
    let titled = add_event(c, Event::new("Moonlight Sonata").with_description("An evening of piano music.")).await;
    let other = add_event(c, Event::new("Jazz Brunch").with_description("Coffee, croissants and jazz.")).await;
    let d = add_show(c, &described, &venue, now, 1).await;
    let t = add_show(c, &titled, &venue, now, 2).await;
    let _o = add_show(c, &other, &venue, now, 3).await;
    assert_eq!(found(c, &search_at(&venue, "moonlight")).await, vec![t.id, d.id]);
    assert_eq!(found(c, &search_at(&venue, "Moonlight Sonata")).await, vec![t.id, d.id]);
    assert_eq!(found(c, &search_at(&venue, "piano")).await, vec![d.id, t.id], "and the other way round");
}

/// A performer's name with a typo still finds their show, first.
pub async fn search_finds_a_misspelled_performer<C: Catalog + ?Sized>(fx: &CatalogFixture<C>) {
    let c = &*fx.catalog;
    let now = fx.clock.now();
    let venue = own_venue(c, "Opera House").await;
    let gala = add_event(c, Event::new("Summer Gala").with_performer("Luciano Pavarotti")).await;
    let other = add_event(c, Event::new("Opera Classics").with_performer("Placido Domingo")).await;
    let g = add_show(c, &gala, &venue, now, 2).await;
    let _o = add_show(c, &other, &venue, now, 1).await;
    for typo in ["pavarotty", "Pavaroti", "pavarotti"] {
        let hits = found(c, &search_at(&venue, typo)).await;
        assert_eq!(hits.first(), Some(&g.id), "{typo:?} finds the gala first: {hits:?}");
    }
    let hits = found(c, &search_at(&venue, "luciano pavarotty gala")).await;
    assert_eq!(hits, vec![g.id], "a typo among exact words");
    let hits = found(c, &search_at(&venue, "domigno")).await;
    assert!(hits.is_empty() || hits[0] != g.id, "a typo finds the right performer or nothing: {hits:?}");
}

/// A word matched exactly ranks above a word matched through a typo.
pub async fn search_ranks_exact_words_above_typos<C: Catalog + ?Sized>(fx: &CatalogFixture<C>) {
    let c = &*fx.catalog;
    let now = fx.clock.now();
    let venue = own_venue(c, "Typo Hall").await;
    let near = add_event(c, Event::new("Carmel Valley Songs")).await;
    let exact = add_event(c, Event::new("Carmen Valley Songs")).await;
    let n = add_show(c, &near, &venue, now, 1).await;
    let e = add_show(c, &exact, &venue, now, 2).await;
    let hits = found(c, &search_at(&venue, "carmen")).await;
    assert_eq!(hits.first(), Some(&e.id), "{hits:?}");
    assert!(!hits.contains(&n.id) || hits == vec![e.id, n.id], "the typo match after the exact one: {hits:?}");
    let hits = found(c, &search_at(&venue, "carmel")).await;
    assert_eq!(hits.first(), Some(&n.id), "{hits:?}");
}

/// Search as you type: the last word matches as a prefix.
pub async fn search_matches_prefixes_as_you_type<C: Catalog + ?Sized>(fx: &CatalogFixture<C>) {
    let c = &*fx.catalog;
    let now = fx.clock.now();
    let venue = own_venue(c, "Prefix Hall").await;
    let sonata = add_event(c, Event::new("Moonlight Sonata").with_performer("Hélène Grimaud")).await;
    let other = add_event(c, Event::new("Sunrise Serenade")).await;
    let s = add_show(c, &sonata, &venue, now, 1).await;
    let o = add_show(c, &other, &venue, now, 2).await;
    for typed in ["moo", "moonl", "moonlight", "moonlight so", "moonlight sonat", "sonata moon", "gri", "helene grim"] {
        assert_eq!(found(c, &search_at(&venue, typed)).await, vec![s.id], "{typed:?}");
    }
    assert_eq!(found(c, &search_at(&venue, "sunr")).await, vec![o.id]);
}

/// Every word of the query must match.
pub async fn search_requires_every_word<C: Catalog + ?Sized>(fx: &CatalogFixture<C>) {
    let c = &*fx.catalog;
    let now = fx.clock.now();
    let venue = own_venue(c, "Quayside Hall").await;
    let a = add_event(c, Event::new("Harbour Lights").with_category("jazz")).await;
    let b = add_event(c, Event::new("Harbour Voices").with_category("choir")).await;
    let sa = add_show(c, &a, &venue, now, 1).await;
    let sb = add_show(c, &b, &venue, now, 2).await;
    assert_eq!(found(c, &search_at(&venue, "harbour")).await, vec![sa.id, sb.id]);
    assert_eq!(found(c, &search_at(&venue, "harbour jazz")).await, vec![sa.id]);
    assert_eq!(found(c, &search_at(&venue, "choir harbour")).await, vec![sb.id]);
    assert!(found(c, &search_at(&venue, "harbour zebra")).await.is_empty());
    // The venue's name and city are searched too.
    assert_eq!(found(c, &search_at(&venue, "quayside hall harbour voices")).await, vec![sb.id]);
    let city_word = venue.city.split(' ').next_back().unwrap_or_default().to_owned();
    assert_eq!(found(c, &search_at(&venue, &format!("{city_word} lights"))).await, vec![sa.id]);
}

/// Case and common accents do not matter, in the text or the query (in
/// words too short for a typo to excuse them).
pub async fn search_ignores_case_and_accents<C: Catalog + ?Sized>(fx: &CatalogFixture<C>) {
    let c = &*fx.catalog;
    let now = fx.clock.now();
    let venue = own_venue(c, "Accent Hall").await;
    let e = add_event(c, Event::new("Café Müller").with_performer("Zoë Björk")).await;
    let s = add_show(c, &e, &venue, now, 1).await;
    for q in ["cafe", "CAFÉ", "Cafe MULLER", "zoe", "ZOË björk", "muller zoe"] {
        assert_eq!(found(c, &search_at(&venue, q)).await, vec![s.id], "{q:?}");
    }
}

/// Shows scoring alike come soonest first, then by id; pages cut that
/// order, and `total` counts every match.
pub async fn search_orders_ties_by_date_and_pages<C: Catalog + ?Sized>(fx: &CatalogFixture<C>) {
    let c = &*fx.catalog;
    let now = fx.clock.now();
    let venue = own_venue(c, "Tour Hall").await;
    let tour = add_event(c, Event::new("Glacier Tour")).await;
    let mut shows = Vec::new();
    for day in [5, 1, 4, 2, 3] {
        shows.push(add_show(c, &tour, &venue, now, day).await);
    }
    shows.sort_by_key(|s| s.starts_at);
    let ids: Vec<_> = shows.iter().map(|s| s.id).collect();
    assert_eq!(found(c, &search_at(&venue, "glacier")).await, ids);
    let mut q = search_at(&venue, "glacier");
    q.limit = 2;
    q.offset = 1;
    let page = c.search(&q).await.expect("search");
    assert_eq!(page.total, 5);
    assert_eq!(page.items.iter().map(|h| h.listing.show.id).collect::<Vec<_>>(), ids[1..3]);
    assert!(page.items.windows(2).all(|w| w[0].score >= w[1].score));
    q.offset = 5;
    let empty = c.search(&q).await.expect("search past the end");
    assert_eq!((empty.items.len(), empty.total), (0, 5));
    let list = ListShows {
        limit: 3,
        offset: 3,
        ..ListShows::new(ShowFilter { venue: Some(venue.id), ..ShowFilter::default() })
    };
    let page = c.list(&list).await.expect("list");
    assert_eq!((page.total, page.items.iter().map(|l| l.show.id).collect::<Vec<_>>()), (5, ids[3..].to_vec()));
}

/// Date range, city, category, venue, event and availability filters, on
/// search and list alike.
pub async fn search_and_list_apply_filters<C: Catalog + ?Sized>(fx: &CatalogFixture<C>) {
    let c = &*fx.catalog;
    let now = fx.clock.now();
    let venue = own_venue(c, "Filter Hall").await;
    let elsewhere = own_venue(c, "Filter Annex").await;
    let rock = add_event(c, Event::new("Thunder Rock Night").with_category("Rock")).await;
    let folk = add_event(c, Event::new("Thunder Folk Evening").with_category("Folk").with_category("Acoustic")).await;
    let r1 = add_show(c, &rock, &venue, now, 1).await;
    let r2 = add_show(c, &rock, &elsewhere, now, 10).await;
    let f1 = add_show(c, &folk, &venue, now, 5).await;
    let both = |f: ShowFilter| async move {
        let l = listed(c, f.clone()).await;
        let s = found(c, &SearchQuery::new("thunder").with_filter(f)).await;
        (l, s)
    };
    let mine = ShowFilter { city: Some(venue.city.clone()), ..ShowFilter::default() };
    assert_eq!(both(mine.clone()).await, (vec![r1.id, f1.id], vec![r1.id, f1.id]));
    let annex = ShowFilter { city: Some(elsewhere.city.to_lowercase()), ..ShowFilter::default() };
    assert_eq!(both(annex.clone()).await, (vec![r2.id], vec![r2.id]));
    let acoustic = ShowFilter { category: Some("ACOUSTIC".into()), ..mine.clone() };
    assert_eq!(both(acoustic).await, (vec![f1.id], vec![f1.id]));
    let week = ShowFilter {
        starts_from: Some(now + Duration::days(1)),
        starts_before: Some(now + Duration::days(5)),
        ..mine.clone()
    };
    assert_eq!(both(week).await, (vec![r1.id], vec![r1.id]), "from inclusive, before exclusive");
    let at_venue = ShowFilter { venue: Some(venue.id), event: Some(rock.id), ..ShowFilter::default() };
    assert_eq!(both(at_venue).await, (vec![r1.id], vec![r1.id]));

    let summary = |available: u32| AvailabilitySummary {
        level: AvailabilityPolicy::default().level(available, 100),
        capacity: 100,
        available,
        held: 0,
        sold: 100 - available,
        categories: if available > 0 { vec![PriceCategory(1)] } else { Vec::new() },
        observed_at: now,
    };
    assert!(c.set_availability(r1.id, &summary(0)).await.expect("set"));
    assert!(c.set_availability(f1.id, &summary(10)).await.expect("set"));
    let sold_out = ShowFilter { availability: vec![Availability::SoldOut], ..mine.clone() };
    assert_eq!(both(sold_out).await, (vec![r1.id], vec![r1.id]));
    let buyable =
        ShowFilter { availability: vec![Availability::OnSale, Availability::SellingFast], ..ShowFilter::default() };
    let buyable_here = ShowFilter { city: mine.city.clone(), ..buyable.clone() };
    assert_eq!(both(buyable_here).await, (vec![f1.id], vec![f1.id]));
    let annex_buyable = ShowFilter { city: annex.city.clone(), ..buyable };
    assert_eq!(both(annex_buyable).await, (vec![r2.id], vec![r2.id]), "no summary yet reads as on sale");
}

/// Malformed queries are refused with the field at fault.
pub async fn search_refuses_bad_queries<C: Catalog + ?Sized>(fx: &CatalogFixture<C>) {
    let c = &*fx.catalog;
    let now = fx.clock.now();
    assert_eq!(field(c.search(&SearchQuery::new("  !? ")).await), Some("/text".into()));
    assert_eq!(field(c.search(&SearchQuery::new("x".repeat(500))).await), Some("/text".into()));
    assert_eq!(field(c.search(&SearchQuery::new("a\u{0}b")).await), Some("/text".into()));
    assert_eq!(field(c.search(&SearchQuery { limit: 0, ..SearchQuery::new("x") }).await), Some("/limit".into()));
    assert_eq!(field(c.search(&SearchQuery { limit: 101, ..SearchQuery::new("x") }).await), Some("/limit".into()));
    assert_eq!(field(c.search(&SearchQuery { offset: 10_001, ..SearchQuery::new("x") }).await), Some("/offset".into()));
    let backwards = ShowFilter { starts_from: Some(now), starts_before: Some(now), ..ShowFilter::default() };
    assert_eq!(field(c.list(&ListShows::new(backwards)).await), Some("/filter/starts_from".into()));
    let blank = ShowFilter { category: Some(String::new()), ..ShowFilter::default() };
    assert_eq!(field(c.search(&SearchQuery::new("x").with_filter(blank)).await), Some("/filter/category".into()));
}

/// The field of an `Invalid` answer.
fn field<T>(r: Result<T, CatalogError>) -> Option<String> {
    match r {
        Err(CatalogError::Invalid(f)) => Some(f.field),
        _ => None,
    }
}
