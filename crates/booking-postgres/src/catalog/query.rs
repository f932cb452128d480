//! Reading listings: one show by id, shows by filters, shows by text.
//!
//! Every statement starts with the `clock` CTE (`$1`: the injected time,
//! or NULL for `booking.clock_ms()`); its time decides the availability
//! both of the filter (a `CASE` over the show's columns) and of the
//! listings returned ([`Availability::at`] over the same time, here).

use super::{corrupt, db, words};
use booking_core::catalog::{
    Availability, AvailabilitySummary, CatalogError, CatalogResult, Event, ListShows, Listing, SearchQuery, Show,
    ShowFilter, Venue,
};
use booking_core::ids::ShowId;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::Query;
use sqlx::types::Json;
use sqlx::{PgPool, Postgres, Row};

/// The statement's time, as `clock.now`.
macro_rules! clock {
    () => {
        "clock AS MATERIALIZED (SELECT coalesce($1::timestamptz, \
         'epoch'::timestamptz + booking.clock_ms() * interval '1 millisecond') AS now) "
    };
}

/// The listed shows (neither they nor their event or venue archived)
/// passing `f`, as `s`, `e`, `v`, with the clock as `c`; ends inside the
/// `WHERE`. Only the conditions `f` sets are written, over the parameters
/// `$2`..`$8` that [`bind_filter`] binds in every case: each combination
/// is its own prepared statement, whose generic plan is as good as a
/// custom one (a condition written `($6 IS NULL OR s.venue_id = $6)`
/// gives PostgreSQL's generic plans a loop over every venue). The
/// availability codes are those of [`code`], and a stored summary's level
/// codes (`summary_level`) are the same numbers.
fn filtered_shows(f: &ShowFilter) -> String {
    let mut sql = String::from(
        "booking.catalog_shows s \
         JOIN booking.catalog_events e ON e.id = s.event_id \
         JOIN booking.catalog_venues v ON v.id = s.venue_id \
         CROSS JOIN clock c \
         WHERE NOT s.archived AND NOT e.archived AND NOT v.archived ",
    );
    let conditions = [
        (f.starts_from.is_some(), "AND s.starts_at >= $2 "),
        (f.starts_before.is_some(), "AND s.starts_at < $3 "),
        (f.city.is_some(), "AND v.city_key = $4 "),
        (f.category.is_some(), "AND $5 = ANY (e.category_keys) "),
        (f.venue.is_some(), "AND s.venue_id = $6 "),
        (f.event.is_some(), "AND s.event_id = $7 "),
        (
            !f.availability.is_empty(),
            "AND (CASE WHEN c.now < s.on_sale_at THEN 0 WHEN c.now >= s.sales_end THEN 4 \
             ELSE coalesce(s.summary_level, 1) END) = ANY ($8) ",
        ),
    ];
    for (set, condition) in conditions {
        if set {
            sql.push_str(condition);
        }
    }
    sql
}

/// The page (`$9` results from `$10`) of `hits` (id, starts_at, score),
/// best first, then soonest, then by id; with the count of all hits and
/// the clock's time on every row, and one row of NULLs when the page is
/// empty.
macro_rules! page {
    () => {
        "SELECT (SELECT count(*) FROM hits) AS total, (SELECT now FROM clock) AS now, p.score, \
                s.record AS show, e.record AS event, v.record AS venue, s.summary \
         FROM (SELECT 1) one \
         LEFT JOIN LATERAL (SELECT id, starts_at, score FROM hits \
                            ORDER BY score DESC, starts_at, id LIMIT $9 OFFSET $10) p ON true \
         LEFT JOIN booking.catalog_shows s ON s.id = p.id \
         LEFT JOIN booking.catalog_events e ON e.id = s.event_id \
         LEFT JOIN booking.catalog_venues v ON v.id = s.venue_id \
         ORDER BY p.score DESC, p.starts_at, p.id"
    };
}

/// Field weights of `ts_rank_cd`, in its order {D, C, B, A}: description,
/// categories and venue, performers, title.
macro_rules! weights {
    () => {
        "'{0.1, 0.3, 0.8, 1.0}'::float4[]"
    };
}

/// Listing statement for `f`.
fn list_sql(f: &ShowFilter) -> String {
    format!(
        "WITH {} , hits AS MATERIALIZED (SELECT s.id, s.starts_at, 0::float8 AS score FROM {}) {}",
        clock!(),
        filtered_shows(f),
        page!()
    )
}

/// Search statement for `f`; `$11` is the query's words. Each word's
/// tsqueries (`q`: exact, prefix for the last word, typo) are combined
/// into one (`m`: the words ANDed, each the OR of its three), which the
/// GIN index answers; a hit's score sums, per word, the rank of its best
/// kind of match, exact at full weight, prefix at half, typo at a quarter.
fn search_sql(f: &ShowFilter) -> String {
    format!(
        "WITH {}, {SEARCH_WORDS} \
         hits AS MATERIALIZED (SELECT s.id, s.starts_at, {SCORE} AS score \
         FROM {} AND s.document @@ (SELECT query FROM m)) {}",
        clock!(),
        filtered_shows(f),
        page!()
    )
}

/// The query words' tsqueries (`q`) and their combination (`m`).
const SEARCH_WORDS: &str = "q AS MATERIALIZED (SELECT t.i, x.exact, x.prefix, x.typo \
       FROM unnest($11::text[]) WITH ORDINALITY AS t(w, i), \
       LATERAL booking.catalog_word_query(t.w, t.i = cardinality($11::text[])) x), \
     m AS MATERIALIZED (SELECT string_agg('(' || concat_ws(' | ', exact::text, prefix::text, typo::text) || ')', ' & ') \
       ::tsquery AS query FROM q WHERE coalesce(exact, prefix, typo) IS NOT NULL),";

/// A hit's score.
const SCORE: &str = concat!(
    "(SELECT sum(CASE \
        WHEN s.document @@ q.exact THEN ts_rank_cd(",
    weights!(),
    ", s.document, q.exact) \
        WHEN s.document @@ q.prefix THEN 0.5 * ts_rank_cd(",
    weights!(),
    ", s.document, q.prefix) \
        WHEN s.document @@ q.typo THEN 0.25 * ts_rank_cd(",
    weights!(),
    ", s.document, q.typo) \
        ELSE 0 END) FROM q)::float8"
);

const LISTING: &str = concat!(
    "WITH ",
    clock!(),
    "SELECT (SELECT now FROM clock) AS now, s.record AS show, e.record AS event, v.record AS venue, s.summary \
     FROM booking.catalog_shows s \
     JOIN booking.catalog_events e ON e.id = s.event_id \
     JOIN booking.catalog_venues v ON v.id = s.venue_id \
     WHERE s.id = $2"
);

/// The code of an availability in the filter's `CASE`.
fn code(a: Availability) -> i16 {
    match a {
        Availability::Upcoming => 0,
        Availability::OnSale => 1,
        Availability::SellingFast => 2,
        Availability::SoldOut => 3,
        Availability::SalesEnded => 4,
    }
}

/// Binds `$1` (the time) and `$2`..`$8` (the filter), all of them
/// whichever the statement uses (their types are sent with them).
fn bind_filter<'q>(
    query: Query<'q, Postgres, PgArguments>,
    now: Option<DateTime<Utc>>,
    f: &ShowFilter,
) -> Query<'q, Postgres, PgArguments> {
    query
        .bind(now)
        .bind(f.starts_from)
        .bind(f.starts_before)
        .bind(f.city.as_deref().map(words::key))
        .bind(f.category.as_deref().map(words::key))
        .bind(f.venue.map(|v| v.as_uuid()))
        .bind(f.event.map(|e| e.as_uuid()))
        .bind(f.availability.iter().map(|&a| code(a)).collect::<Vec<i16>>())
}

/// A page of listings with their scores, and how many there are in all.
pub(super) struct Scored {
    pub items: Vec<(Listing, f64)>,
    pub total: u64,
}

/// The listing in `row` (columns `now`, `show`, `event`, `venue`,
/// `summary`), or `None` when its show is NULL (an empty page).
fn listing_of(row: &PgRow, operation: &'static str) -> CatalogResult<Option<Listing>> {
    let Some(Json(show)) = row.try_get::<Option<Json<Show>>, _>("show").map_err(db(operation))? else {
        return Ok(None);
    };
    let now: DateTime<Utc> = row.try_get("now").map_err(db(operation))?;
    let event = row.try_get::<Option<Json<Event>>, _>("event").map_err(db(operation))?;
    let venue = row.try_get::<Option<Json<Venue>>, _>("venue").map_err(db(operation))?;
    let (Some(Json(event)), Some(Json(venue))) = (event, venue) else {
        return Err(corrupt(operation, format!("show {} without its event or venue", show.id)));
    };
    let summary = row.try_get::<Option<Json<AvailabilitySummary>>, _>("summary").map_err(db(operation))?.map(|j| j.0);
    Ok(Some(Listing { availability: Availability::at(now, &show, summary.as_ref()), show, event, venue, summary }))
}

fn scored(rows: Vec<PgRow>, operation: &'static str) -> CatalogResult<Scored> {
    let mut total = 0;
    let mut items = Vec::with_capacity(rows.len());
    for row in rows {
        let all: i64 = row.try_get("total").map_err(db(operation))?;
        total = u64::try_from(all).map_err(|_| corrupt(operation, format!("count {all}")))?;
        if let Some(listing) = listing_of(&row, operation)? {
            let score: Option<f64> = row.try_get("score").map_err(db(operation))?;
            items.push((listing, score.unwrap_or(0.0)));
        }
    }
    Ok(Scored { items, total })
}

/// One show's listing, archived or not.
pub(super) async fn listing(pool: &PgPool, now: Option<DateTime<Utc>>, id: ShowId) -> CatalogResult<Listing> {
    const OP: &str = "read listing";
    let row = sqlx::query(LISTING).bind(now).bind(id.as_uuid()).fetch_optional(pool).await.map_err(db(OP))?;
    match row {
        Some(row) => listing_of(&row, OP)?.ok_or(CatalogError::UnknownShow(id)),
        None => Err(CatalogError::UnknownShow(id)),
    }
}

/// The listed shows passing the filter, soonest first (scores 0).
pub(super) async fn list(pool: &PgPool, now: Option<DateTime<Utc>>, req: &ListShows) -> CatalogResult<Scored> {
    const OP: &str = "list shows";
    let rows = bind_filter(sqlx::query(sqlx::AssertSqlSafe(list_sql(&req.filter))), now, &req.filter)
        .bind(i64::from(req.limit))
        .bind(i64::from(req.offset))
        .fetch_all(pool)
        .await
        .map_err(db(OP))?;
    scored(rows, OP)
}

/// The listed shows matching the text and passing the filter, best first.
pub(super) async fn search(pool: &PgPool, now: Option<DateTime<Utc>>, req: &SearchQuery) -> CatalogResult<Scored> {
    const OP: &str = "search shows";
    let rows = bind_filter(sqlx::query(sqlx::AssertSqlSafe(search_sql(&req.filter))), now, &req.filter)
        .bind(i64::from(req.limit))
        .bind(i64::from(req.offset))
        .bind(words::split(&req.text))
        .fetch_all(pool)
        .await
        .map_err(db(OP))?;
    scored(rows, OP)
}
