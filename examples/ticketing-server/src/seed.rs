//! The demo data: the two sample venues, four events, five shows (most on
//! sale, two behind a waiting room that admits within a second or two).

use crate::api::admin::{
    NewEvent, NewPrice, NewShow, NewVenue, Sample, WaitingRoomSettings, add_event, add_show, add_venue,
};
use crate::problem::ApiError;
use crate::state::AppState;
use booking_core::catalog::ListShows;
use booking_core::checkout::FeePolicy;
use booking_core::{Money, ShowId};
use chrono::{DurationRound, TimeDelta, Utc};
use std::collections::BTreeMap;
use uuid::Uuid;

/// The shows the demo made, by a short name.
#[derive(Clone, Debug, Default)]
pub struct Demo {
    /// (name, show) pairs: `orchestra-1` (waiting room), `orchestra-2`,
    /// `comedy`, `stadium` (waiting room), `jazz` (not on sale yet).
    pub shows: Vec<(&'static str, ShowId)>,
}

impl Demo {
    /// The show called `name`.
    pub fn show(&self, name: &str) -> Option<ShowId> {
        self.shows.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
    }
}

fn prices(list: &[(u16, &str, i64)]) -> Vec<NewPrice> {
    list.iter().map(|(c, n, m)| NewPrice { category: *c, name: (*n).to_owned(), minor: *m }).collect()
}

fn queue() -> Option<WaitingRoomSettings> {
    Some(WaitingRoomSettings {
        enabled: true,
        per_minute: Some(600),
        max_active: Some(1_000),
        session_ttl_secs: Some(900),
    })
}

/// Creates the demo data when the catalog lists no show.
///
/// Errors: a store refused (none should).
pub async fn demo(state: &AppState) -> Result<Demo, ApiError> {
    if state.stores.catalog.list(&ListShows::new(Default::default())).await?.total > 0 {
        return Ok(Demo::default());
    }
    let theatre = add_venue(
        state,
        NewVenue {
            name: "Grand Theatre".into(),
            city: "Lyon".into(),
            address: "1 Place de la Comédie".into(),
            seatmap: None,
            sample: Some(Sample::Theatre),
        },
    )
    .await?
    .venue_id;
    let stadium = add_venue(
        state,
        NewVenue {
            name: "City Stadium".into(),
            city: "Manchester".into(),
            address: "Stadium Way".into(),
            seatmap: None,
            sample: Some(Sample::Stadium),
        },
    )
    .await?
    .venue_id;
    let event = |title: &str, description: &str, performer: &str, categories: &[&str]| NewEvent {
        title: title.into(),
        description: description.into(),
        performers: vec![performer.into()],
        categories: categories.iter().map(|c| (*c).to_owned()).collect(),
    };
    let orchestra = add_event(
        state,
        event(
            "The Midnight Orchestra",
            "Film scores by candlelight, played by a sixty-piece orchestra.",
            "The Midnight Orchestra",
            &["music", "classical"],
        ),
    )
    .await?
    .event_id;
    let comedy = add_event(
        state,
        event("Stand-up Spectacular", "Five comedians, one night, no safety net.", "Nadia Laughs", &["comedy"]),
    )
    .await?
    .event_id;
    let tour = add_event(
        state,
        event(
            "Galaxy Tour",
            "The stadium tour of the year, with standing floor areas.",
            "Nova and the Comets",
            &["music", "pop"],
        ),
    )
    .await?
    .event_id;
    let jazz = add_event(
        state,
        event("Winter Jazz Night", "Late-night jazz in the stalls.", "The Blue Notes", &["music", "jazz"]),
    )
    .await?
    .event_id;

    let today = Utc::now().duration_trunc(TimeDelta::hours(1)).unwrap_or_else(|_| Utc::now());
    let theatre_prices = prices(&[
        (1, "Premium stalls", 8_500),
        (2, "Stalls", 6_500),
        (3, "Dress circle", 5_000),
        (4, "Balcony", 3_500),
        (5, "Box", 12_000),
    ]);
    let stadium_prices = prices(&[
        (1, "Floor standing", 7_000),
        (2, "Lower sideline", 9_500),
        (3, "Lower end", 6_000),
        (4, "Upper sideline", 5_500),
        (5, "Upper end", 4_000),
    ]);
    let show =
        |event: Uuid, venue: Uuid, days: i64, prices: Vec<NewPrice>, room: Option<WaitingRoomSettings>| NewShow {
            event_id: event,
            venue_id: venue,
            starts_at: today + TimeDelta::days(days) + TimeDelta::hours(20),
            on_sale_at: None,
            off_sale_at: None,
            currency: "EUR".into(),
            prices,
            fee_per_ticket: 250,
            fee_per_order: 0,
            hold_ttl_secs: Some(300),
            waiting_room: room,
        };
    let mut demo = Demo::default();
    demo.shows
        .push(("orchestra-1", add_show(state, show(orchestra, theatre, 7, theatre_prices.clone(), queue())).await?));
    demo.shows.push(("orchestra-2", add_show(state, show(orchestra, theatre, 8, theatre_prices.clone(), None)).await?));
    demo.shows.push(("comedy", add_show(state, show(comedy, theatre, 14, theatre_prices.clone(), None)).await?));
    demo.shows.push(("stadium", add_show(state, show(tour, stadium, 30, stadium_prices, queue())).await?));
    let mut later = show(jazz, theatre, 40, theatre_prices, None);
    later.on_sale_at = Some(today + TimeDelta::days(2));
    demo.shows.push(("jazz", add_show(state, later).await?));
    Ok(demo)
}

/// Loads the prices of shows created before this start (a persistent
/// backend) from their catalog listings, with the demo's fees.
pub async fn load_prices(state: &AppState) {
    let Ok(shows) = state.stores.inventory.list_shows().await else { return };
    for id in shows {
        let (Ok(show), Ok(spec)) = (state.stores.catalog.show(id).await, state.spec(id).await) else { continue };
        let table: BTreeMap<_, Money> = show.value.prices.iter().map(|p| (p.category, p.price)).collect();
        let _ = state.prices.set_show(&spec, table, FeePolicy { per_ticket: 250, per_order: 0 });
    }
}
