//! A generated catalog for benchmarks: venues in real cities, events with
//! realistic titles, performers, categories and descriptions, and their
//! shows, the same for a given size and seed on every run and backend;
//! the queries a user would type against it (titles, performers, cities,
//! prefixes as typed, typos); and search throughput over any [`Catalog`].

use crate::catalog::{Catalog, CatalogResult, Event, SearchQuery, Show, ShowFilter, Venue};
use crate::ids::{EventId, PriceCategory, ShowId, VenueId};
use crate::money::{Currency, Money};
use chrono::{DateTime, Duration, Utc};
use std::time::Instant;

const CITIES: &[&str] = &[
    "London",
    "Paris",
    "Berlin",
    "Madrid",
    "Rome",
    "Vienna",
    "Prague",
    "Amsterdam",
    "Brussels",
    "Lisbon",
    "Dublin",
    "Copenhagen",
    "Stockholm",
    "Oslo",
    "Helsinki",
    "Warsaw",
    "Budapest",
    "Zürich",
    "Milan",
    "Barcelona",
    "München",
    "Hamburg",
    "Lyon",
    "Marseille",
    "Kraków",
    "Athens",
    "Istanbul",
    "New York",
    "Chicago",
    "Los Angeles",
    "Toronto",
    "Montréal",
    "São Paulo",
    "Buenos Aires",
    "Mexico City",
    "Tokyo",
    "Seoul",
    "Sydney",
    "Melbourne",
    "Cape Town",
];

const VENUE_KINDS: &[&str] = &[
    "Arena",
    "Stadium",
    "Concert Hall",
    "Opera House",
    "Theatre",
    "Playhouse",
    "Philharmonie",
    "Jazz Club",
    "Forum",
    "Palladium",
    "Apollo",
    "Coliseum",
    "Ballroom",
    "Music Hall",
    "Amphitheatre",
];

const VENUE_NAMES: &[&str] = &[
    "Royal",
    "Grand",
    "National",
    "Olympia",
    "Victoria",
    "Crystal",
    "Riverside",
    "Union",
    "Liberty",
    "Empire",
    "Majestic",
    "Lyric",
    "Orpheum",
    "Paramount",
    "Harbour",
    "Garden",
];

const FIRST: &[&str] = &[
    "Luciano",
    "Placido",
    "Maria",
    "Hélène",
    "Yo-Yo",
    "Martha",
    "Daniel",
    "Anne-Sophie",
    "Lang",
    "Yuja",
    "Cecilia",
    "Jonas",
    "Anna",
    "Renée",
    "Bryn",
    "Joyce",
    "Kiri",
    "Andrea",
    "Gustavo",
    "Simon",
    "Herbert",
    "Zoë",
    "Björn",
    "Beyoncé",
    "Adele",
    "Taylor",
    "Billie",
    "Harry",
    "Ed",
    "Elton",
    "Bruce",
    "Dua",
    "Rosalía",
    "Stromae",
    "Ólafur",
    "Nils",
    "Max",
    "Hania",
    "Esperanza",
    "Kamasi",
    "Wynton",
    "Diana",
    "Norah",
    "Gregory",
    "Cécile",
    "Jacob",
];

const LAST: &[&str] = &[
    "Pavarotti",
    "Domingo",
    "Callas",
    "Grimaud",
    "Ma",
    "Argerich",
    "Barenboim",
    "Mutter",
    "Wang",
    "Bartoli",
    "Kaufmann",
    "Netrebko",
    "Fleming",
    "Terfel",
    "DiDonato",
    "Te Kanawa",
    "Bocelli",
    "Dudamel",
    "Rattle",
    "Karajan",
    "Björk",
    "Ulvaeus",
    "Knowles",
    "Adkins",
    "Swift",
    "Eilish",
    "Styles",
    "Sheeran",
    "John",
    "Springsteen",
    "Lipa",
    "Vila",
    "Van Haver",
    "Arnalds",
    "Frahm",
    "Richter",
    "Rani",
    "Spalding",
    "Washington",
    "Marsalis",
    "Krall",
    "Jones",
    "Porter",
    "McLorin Salvant",
    "Collier",
    "Müller",
];

const BANDS: &[&str] = &[
    "The Midnight Owls",
    "Electric Harbour",
    "Velvet Thunder",
    "The Paper Kites",
    "Neon Orchard",
    "Silver Lanterns",
    "The Glass Animals",
    "Crimson Tide Orchestra",
    "Blue Meridian",
    "The Wandering Strings",
    "Northern Lights Choir",
    "Golden Hour Quartet",
    "The Brass Foundry",
    "Lunar Echo",
    "Wild Honey",
    "The Copper Canyons",
];

const TITLE_A: &[&str] = &[
    "Moonlight",
    "Midnight",
    "Summer",
    "Winter",
    "Electric",
    "Golden",
    "Silver",
    "Crimson",
    "Velvet",
    "Northern",
    "Starlight",
    "Eternal",
    "Wild",
    "Secret",
    "Endless",
    "Neon",
    "Classical",
    "Royal",
    "Grand",
    "Harbour",
];

const TITLE_B: &[&str] = &[
    "Sonata",
    "Symphony",
    "Serenade",
    "Nights",
    "Dreams",
    "Gala",
    "Festival",
    "Tour",
    "Sessions",
    "Requiem",
    "Rhapsody",
    "Live",
    "Concerto",
    "Overture",
    "Ballads",
    "Nocturnes",
    "Anthems",
    "Revue",
    "Showcase",
    "Odyssey",
];

const WORKS: &[&str] = &[
    "La Traviata",
    "Carmen",
    "Tosca",
    "Swan Lake",
    "The Nutcracker",
    "Hamlet",
    "Macbeth",
    "Les Misérables",
    "The Magic Flute",
    "Don Giovanni",
    "Madama Butterfly",
    "La Bohème",
    "Giselle",
    "Romeo and Juliet",
    "Aida",
    "The Barber of Seville",
    "Cats",
    "Chicago",
    "Cabaret",
    "Rigoletto",
];

const TEAMS: &[&str] = &[
    "Lions",
    "Tigers",
    "Eagles",
    "Wolves",
    "Bears",
    "Rovers",
    "United",
    "City",
    "Athletic",
    "Rangers",
    "Wanderers",
    "Falcons",
    "Sharks",
    "Titans",
    "Comets",
    "Royals",
];

const CATEGORIES: &[(&str, &[&str])] = &[
    ("concert", &["pop", "rock", "indie", "electronic"]),
    ("classical", &["orchestra", "piano", "chamber music"]),
    ("opera", &["classical"]),
    ("jazz", &["concert", "blues"]),
    ("theatre", &["drama", "musical"]),
    ("ballet", &["dance", "classical"]),
    ("comedy", &["stand-up"]),
    ("sports", &["football", "basketball", "tennis"]),
];

const PHRASES: &[&str] = &[
    "An unforgettable evening",
    "featuring favourites old and new",
    "with a full symphony orchestra",
    "closing with a candlelit encore",
    "in a new production by an award-winning director",
    "after a sold-out world tour",
    "with special guests to be announced",
    "in the intimate setting of the main hall",
    "celebrating twenty years on stage",
    "with songs from the new album",
    "performed in the original language with subtitles",
    "a family-friendly afternoon for all ages",
];

/// splitmix64: a deterministic stream of numbers from a seed.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number below `n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    /// A fresh-looking but deterministic id.
    fn id(&mut self) -> uuid::Uuid {
        let bytes = (u128::from(self.next()) << 64 | u128::from(self.next())).to_be_bytes();
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }
}

/// Venues, events and shows to load into a catalog, in that order.
#[derive(Clone, Debug)]
pub struct GeneratedCatalog {
    /// The venues.
    pub venues: Vec<Venue>,
    /// The events (tours, works, matches), each shown one or more times.
    pub events: Vec<Event>,
    /// The shows: exactly as many as asked for.
    pub shows: Vec<Show>,
}

/// A catalog of `shows` shows, the same for the same `shows`, `seed` and
/// `now` (shows start within a year after `now`; sales opened before it).
/// About one event per four shows and one venue per fifty.
pub fn generate_catalog(shows: usize, seed: u64, now: DateTime<Utc>) -> GeneratedCatalog {
    let mut r = Mix(seed);
    let venues: Vec<Venue> = (0..shows.div_ceil(50).max(1))
        .map(|_| {
            let city = r.pick(CITIES);
            let name = format!("{} {}", r.pick(VENUE_NAMES), r.pick(VENUE_KINDS));
            let mut v = Venue::new(name, city);
            v.id = VenueId::from(r.id());
            v.address = format!("{} {} Street", 1 + r.below(200), r.pick(VENUE_NAMES));
            v
        })
        .collect();
    let mut events = Vec::new();
    let mut out = Vec::with_capacity(shows);
    while out.len() < shows {
        let event = generate_event(&mut r);
        let runs = (1 + r.below(7)).min(shows - out.len());
        for _ in 0..runs {
            let venue = &venues[r.below(venues.len())];
            let starts = now + Duration::hours(1 + r.below(365 * 24) as i64);
            let on_sale = now - Duration::days(r.below(60) as i64) + Duration::days(r.below(10) as i64);
            let mut show = Show::new(event.id, venue.id, starts, on_sale.min(starts)).with_id(ShowId::from(r.id()));
            let base = 1_500 + 500 * r.below(30) as i64;
            for (i, name) in ["Stalls", "Circle", "Balcony"].into_iter().enumerate().take(1 + r.below(3)) {
                let price = Money::new(base / (i as i64 + 1), Currency::EUR);
                show = show.with_price(PriceCategory(i as u16 + 1), name, price);
            }
            out.push(show);
        }
        events.push(event);
    }
    GeneratedCatalog { venues, events, shows: out }
}

fn generate_event(r: &mut Mix) -> Event {
    let (category, subs) = CATEGORIES[r.below(CATEGORIES.len())];
    let person = |r: &mut Mix| format!("{} {}", r.pick(FIRST), r.pick(LAST));
    let (title, performers): (String, Vec<String>) = match category {
        "opera" | "ballet" | "theatre" => (r.pick(WORKS).to_owned(), (0..1 + r.below(3)).map(|_| person(r)).collect()),
        "sports" => (format!("{} {} v {} {}", r.pick(CITIES), r.pick(TEAMS), r.pick(CITIES), r.pick(TEAMS)), vec![]),
        "concert" | "jazz" if r.below(2) == 0 => {
            let band = r.pick(BANDS);
            (format!("{band}: {} {}", r.pick(TITLE_A), r.pick(TITLE_B)), vec![band.to_owned()])
        }
        _ => {
            let who = person(r);
            (format!("{} {} with {who}", r.pick(TITLE_A), r.pick(TITLE_B)), vec![who])
        }
    };
    let mut event = Event::new(title).with_category(category);
    event.id = EventId::from(r.id());
    for p in performers {
        if !event.performers.iter().any(|q| q.to_lowercase() == p.to_lowercase()) {
            event.performers.push(p);
        }
    }
    let sub = r.pick(subs);
    if sub != category {
        event.categories.push(sub.to_owned());
    }
    let sentences = 1 + r.below(3);
    let description: Vec<&str> = (0..sentences).map(|_| r.pick(PHRASES)).collect();
    event.with_description(format!("{}.", description.join(", ")))
}

/// Loads `data` into `catalog`: venues, events, then shows.
pub async fn load_catalog<C: Catalog + ?Sized>(catalog: &C, data: &GeneratedCatalog) -> CatalogResult<()> {
    for v in &data.venues {
        catalog.create_venue(v).await?;
    }
    for e in &data.events {
        catalog.create_event(e).await?;
    }
    for s in &data.shows {
        catalog.create_show(s).await?;
    }
    Ok(())
}

/// `n` queries a user would type against `data`, the same on every run: a
/// title word, a performer's surname, a title and a city, a word typed
/// halfway (the last word a prefix), a misspelled surname, a word and a
/// category filter; cycled in that order.
pub fn generate_queries(data: &GeneratedCatalog, n: usize, seed: u64) -> Vec<SearchQuery> {
    let mut r = Mix(seed ^ 0x5EA2_C4ED);
    let mut out = Vec::with_capacity(n);
    let words = |s: &str| s.split(|c: char| !c.is_alphanumeric()).filter(|w| w.len() > 3).map(str::to_owned).collect();
    while out.len() < n && !data.events.is_empty() {
        let event = &data.events[r.below(data.events.len())];
        let title: Vec<String> = words(&event.title);
        let word = title.get(r.below(title.len().max(1))).cloned().unwrap_or_else(|| event.title.clone());
        let surname = event.performers.first().and_then(|p| p.split(' ').next_back()).unwrap_or(&word).to_owned();
        let text = match out.len() % 6 {
            0 => word.clone(),
            1 => surname,
            2 => format!("{word} {}", r.pick(CITIES)),
            3 => word.chars().take(word.chars().count().div_ceil(2).max(3)).collect(),
            4 => typo(&surname, &mut r),
            _ => word.clone(),
        };
        let mut query = SearchQuery::new(text);
        if out.len() % 6 == 5 {
            let category = event.categories.first().cloned();
            query = query.with_filter(ShowFilter { category, ..ShowFilter::default() });
        }
        out.push(query);
    }
    out
}

/// `word` with one letter past the first replaced (5 letters and up;
/// shorter words come back as they are).
fn typo(word: &str, r: &mut Mix) -> String {
    let chars: Vec<char> = word.chars().collect();
    if chars.len() < 5 {
        return word.to_owned();
    }
    let at = 1 + r.below(chars.len() - 1);
    let swap = if chars[at] == 'e' { 'a' } else { 'e' };
    chars.iter().enumerate().map(|(i, &c)| if i == at { swap } else { c }).collect()
}

/// What a search throughput run measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SearchRate {
    /// Searches answered per second, over all callers.
    pub per_second: f64,
    /// Results returned per search, on average (pages of `limit`).
    pub hits_per_search: f64,
}

/// Runs `queries` round and round against `catalog` from `callers`
/// concurrent tasks for `duration`, and measures searches per second.
///
/// Panics when a search fails: it is meant for benchmarks.
pub async fn search_rate<C: Catalog + ?Sized + 'static>(
    catalog: std::sync::Arc<C>,
    queries: &[SearchQuery],
    callers: usize,
    duration: std::time::Duration,
) -> SearchRate {
    let queries: std::sync::Arc<[SearchQuery]> = queries.into();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for caller in 0..callers.max(1) {
        let (catalog, queries) = (catalog.clone(), queries.clone());
        tasks.push(tokio::spawn(async move {
            let (mut done, mut hits) = (0u64, 0u64);
            let mut i = caller;
            while start.elapsed() < duration {
                let q = &queries[i % queries.len()];
                let page = catalog.search(q).await.unwrap_or_else(|e| panic!("search {:?}: {e}", q.text));
                hits += page.items.len() as u64;
                done += 1;
                i += callers;
            }
            (done, hits)
        }));
    }
    let (mut done, mut hits) = (0u64, 0u64);
    for t in tasks {
        let (d, h) = t.await.unwrap_or_else(|e| panic!("search task: {e}"));
        done += d;
        hits += h;
    }
    let secs = start.elapsed().as_secs_f64();
    SearchRate { per_second: done as f64 / secs, hits_per_search: hits as f64 / done.max(1) as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic_and_valid() {
        let now = DateTime::<Utc>::from_timestamp_millis(1_893_456_000_000).expect("now");
        let a = generate_catalog(500, 7, now);
        let b = generate_catalog(500, 7, now);
        assert_eq!((a.shows.len(), a.venues.len()), (500, 10));
        assert_eq!(a.shows, b.shows);
        assert_eq!(a.events, b.events);
        assert!(a.venues.iter().all(|v| v.validate().is_ok()));
        assert!(a.events.iter().all(|e| e.validate().is_ok()), "{:?}", a.events.iter().find(|e| e.validate().is_err()));
        assert!(a.shows.iter().all(|s| s.validate().is_ok()));
        let queries = generate_queries(&a, 60, 1);
        assert_eq!(queries, generate_queries(&a, 60, 1));
        assert!(queries.iter().all(|q| q.validate().is_ok()), "{queries:?}");
        assert_ne!(generate_catalog(500, 8, now).shows, a.shows);
    }
}
