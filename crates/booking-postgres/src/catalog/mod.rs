//! The events catalog on PostgreSQL ([`PgCatalog`]): venues, events and
//! shows in tables of the `booking` schema created by
//! [`migrations`](crate::migrations), listed by filters and found by
//! ranked full-text search.
//!
//! How search works (the migration `*_catalog.sql` holds the SQL side):
//!
//! - every show has a weighted `tsvector` of its event's title (A),
//!   performers (B), categories (C) and description (D) and its venue's
//!   name and city (C), under a GIN index; each text is indexed by English
//!   stems and by whole words, without accents (`unaccent`);
//! - every query word must match: exactly (its English stem or the whole
//!   word), or, for the last word, as a prefix of a whole word
//!   (`'word':*`, search as you type), or, for a word of 5 letters or
//!   more, with a typo: the catalog's vocabulary is searched by trigram
//!   similarity (`pg_trgm`, GIN index) and candidates within one edit (two
//!   from 9 letters) count;
//! - the words' queries are combined into one `tsquery`, so that one GIN
//!   index scan finds the candidates; the score sums, per word,
//!   `ts_rank_cd` of how it matched: an exact match at full weight, a
//!   prefix at half, a typo at a quarter;
//! - filters and availability read columns of the show, its event and its
//!   venue, and the stored availability summary: no seat is read.
//!
//! Every decision about time (a listing's availability, the availability
//! filter) is taken against one clock: `booking.clock_ms()` (the
//! database's `clock_timestamp()`) by default, or an injected clock
//! ([`TimeSource::Injected`]) whose time is sent with each statement.

mod query;
mod words;

use async_trait::async_trait;
use booking_core::TimeSource;
use booking_core::backend::failure::StoreFailure;
use booking_core::catalog::{
    AvailabilitySummary, Catalog, CatalogError, CatalogResult, Event, ListShows, Listing, Page, RecordKind, SalesLevel,
    SearchHit, SearchQuery, Show, Update, Venue, Versioned,
};
use booking_core::ids::{EventId, ShowId, VenueId};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::QueryScalar;
use sqlx::types::Json;
use sqlx::{PgPool, Postgres, Row, Transaction};
use std::fmt;
use uuid::Uuid;

/// The events catalog on PostgreSQL.
///
/// Records are rows keyed by id, each kept whole as `jsonb` (read back
/// exactly as written) beside the columns queries use; updates are
/// compare-and-set on the row's version under a row lock. A write to an
/// event or venue rewrites its shows' search documents in the same
/// transaction, so a search right after it sees it. Such writes take one
/// transaction-level advisory lock ([`TEXT_WRITE_LOCK`]) so that two of
/// them never rebuild one show's document from each other's old text;
/// shows lock their event and venue (`FOR SHARE`) before themselves.
///
/// Searches and listings are single statements (see the module docs for
/// how they match and rank). Dates are stored as `timestamptz`, to the
/// microsecond: filters and the sale window compare at that resolution,
/// while records read back with their full precision.
#[derive(Clone, Debug)]
pub struct PgCatalog {
    pool: PgPool,
    time: TimeSource,
}

/// The key of the transaction-level advisory lock taken by writes that
/// rewrite search documents of many shows (event and venue updates):
/// `pg_advisory_xact_lock(TEXT_WRITE_LOCK)`. An application using
/// advisory locks of its own should keep clear of this key.
pub const TEXT_WRITE_LOCK: i64 = 0x626f_6f6b_6361_7401;

impl PgCatalog {
    /// A catalog on `pool` whose listings read the database clock. The
    /// schema must be migrated ([`crate::migrations`]).
    pub fn new(pool: PgPool) -> Self {
        Self::with_time_source(pool, TimeSource::Store)
    }

    /// A catalog on `pool` whose listings read `time` (an injected clock in
    /// tests).
    pub fn with_time_source(pool: PgPool, time: TimeSource) -> Self {
        PgCatalog { pool, time }
    }

    /// The injected time for a statement, or `None` for the database clock.
    fn now(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        match &self.time {
            TimeSource::Store => None,
            TimeSource::Injected(clock) => Some(clock.now()),
        }
    }
}

/// A `map_err` for sqlx errors of `operation`: `Unavailable` when a retry
/// may succeed (the server unreachable, overloaded or shutting down, a
/// deadlock or serialization failure); otherwise `Backend`, carrying a
/// [`StoreFailure`] naming the store and the operation (downcast it to
/// read them or the sqlx error).
fn db(operation: &'static str) -> impl FnOnce(sqlx::Error) -> CatalogError {
    move |source| {
        if crate::db::transient(&source) {
            CatalogError::Unavailable(format!("{operation}: {source}"))
        } else {
            CatalogError::Backend(Box::new(StoreFailure::new(crate::outcome::STORE, operation, Box::new(source))))
        }
    }
}

/// A stored value that cannot be read back (corrupt, or written by an
/// incompatible version), as a backend error of `operation`.
fn corrupt(operation: &'static str, what: impl fmt::Display) -> CatalogError {
    db(operation)(sqlx::Error::Decode(what.to_string().into()))
}

/// `version`, `archived` and `record` of a row, as a [`Versioned`].
fn versioned<T: DeserializeOwned>(row: &PgRow, operation: &'static str) -> CatalogResult<Versioned<T>> {
    let version: i64 = row.try_get("version").map_err(db(operation))?;
    let archived: bool = row.try_get("archived").map_err(db(operation))?;
    let Json(value) = row.try_get::<Json<T>, _>("record").map_err(db(operation))?;
    let version = u64::try_from(version).map_err(|_| corrupt(operation, format!("version {version}")))?;
    Ok(Versioned { value, version, archived })
}

fn fresh<T: Clone>(value: &T) -> Versioned<T> {
    Versioned { value: value.clone(), version: 1, archived: false }
}

/// Runs `update` (a statement answering the new version) in `tx`,
/// commits, and answers `value` as stored.
async fn commit_update<T: Clone>(
    mut tx: Transaction<'static, Postgres>,
    update: QueryScalar<'_, Postgres, i64, PgArguments>,
    value: &T,
    operation: &'static str,
) -> CatalogResult<Versioned<T>> {
    let version = update.fetch_one(&mut *tx).await.map_err(db(operation))?;
    tx.commit().await.map_err(db(operation))?;
    let version = u64::try_from(version).map_err(|_| corrupt(operation, format!("version {version}")))?;
    Ok(Versioned { value: value.clone(), version, archived: false })
}

/// One kind of record: its table's statements and its errors.
trait Kind: Serialize + DeserializeOwned + Clone + Send + Sync + Unpin + 'static {
    const KIND: RecordKind;
    /// `version, archived, record` by `id = $1`.
    const READ: &'static str;
    /// `version, archived` by `id = $1`, locked for update.
    const LOCK: &'static str;
    /// Archives `id = $1` unless archived; returns `version, archived, record`.
    const ARCHIVE: &'static str;
    /// The error for an unknown id.
    fn unknown(id: Uuid) -> CatalogError;
}

macro_rules! kind {
    ($ty:ty, $kind:ident, $table:literal, $unknown:ident, $id:ident) => {
        impl Kind for $ty {
            const KIND: RecordKind = RecordKind::$kind;
            const READ: &'static str = concat!("SELECT version, archived, record FROM ", $table, " WHERE id = $1");
            const LOCK: &'static str = concat!("SELECT version, archived FROM ", $table, " WHERE id = $1 FOR UPDATE");
            const ARCHIVE: &'static str = concat!(
                "UPDATE ",
                $table,
                " SET archived = true, version = version + 1 WHERE id = $1 AND NOT archived ",
                "RETURNING version, archived, record"
            );
            fn unknown(id: Uuid) -> CatalogError {
                CatalogError::$unknown($id::from(id))
            }
        }
    };
}

kind!(Venue, Venue, "booking.catalog_venues", UnknownVenue, VenueId);
kind!(Event, Event, "booking.catalog_events", UnknownEvent, EventId);
kind!(Show, Show, "booking.catalog_shows", UnknownShow, ShowId);

impl PgCatalog {
    async fn read<T: Kind>(&self, id: Uuid) -> CatalogResult<Versioned<T>> {
        const OP: &str = "read record";
        let row = sqlx::query(T::READ).bind(id).fetch_optional(&self.pool).await.map_err(db(OP))?;
        match row {
            Some(row) => versioned(&row, OP),
            None => Err(T::unknown(id)),
        }
    }

    async fn archive<T: Kind>(&self, id: Uuid) -> CatalogResult<Versioned<T>> {
        const OP: &str = "archive record";
        let row = sqlx::query(T::ARCHIVE).bind(id).fetch_optional(&self.pool).await.map_err(db(OP))?;
        match row {
            Some(row) => versioned(&row, OP),
            // Archived already (a fresh read sees it so), or unknown.
            None => self.read(id).await,
        }
    }

    /// Runs `insert` (a statement answering how many rows it created, 0
    /// when the id is in use) and answers `value` as stored.
    async fn insert<T: Kind>(
        &self,
        insert: QueryScalar<'_, Postgres, i64, PgArguments>,
        value: &T,
        id: Uuid,
        operation: &'static str,
    ) -> CatalogResult<Versioned<T>> {
        let created = insert.fetch_one(&self.pool).await.map_err(db(operation))?;
        if created == 0 {
            return Err(CatalogError::Exists { kind: T::KIND, id });
        }
        Ok(fresh(value))
    }

    /// Opens a transaction; with `text_lock`, takes [`TEXT_WRITE_LOCK`].
    async fn begin(&self, text_lock: bool, operation: &'static str) -> CatalogResult<Transaction<'static, Postgres>> {
        let mut tx = self.pool.begin().await.map_err(db(operation))?;
        if text_lock {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(TEXT_WRITE_LOCK)
                .execute(&mut *tx)
                .await
                .map_err(db(operation))?;
        }
        Ok(tx)
    }
}

/// Locks the record `update` replaces and checks it may: known, not
/// archived, at the version the caller read (in that order).
async fn check_update<T: Kind>(
    tx: &mut Transaction<'static, Postgres>,
    id: Uuid,
    update: &Update<T>,
    operation: &'static str,
) -> CatalogResult<()> {
    let row = sqlx::query(T::LOCK).bind(id).fetch_optional(&mut **tx).await.map_err(db(operation))?;
    let Some(row) = row else { return Err(T::unknown(id)) };
    let version: i64 = row.try_get("version").map_err(db(operation))?;
    let archived: bool = row.try_get("archived").map_err(db(operation))?;
    if archived {
        return Err(CatalogError::Archived { kind: T::KIND, id });
    }
    // A version the caller could not have read (negative when stored, or
    // beyond i64) never equals the stored one.
    if u64::try_from(version).ok() != Some(update.version) {
        let current = u64::try_from(version).map_err(|_| corrupt(operation, format!("version {version}")))?;
        return Err(CatalogError::Conflict { kind: T::KIND, id, current });
    }
    Ok(())
}

/// Locks a show's event and venue (`FOR SHARE`, event first) and checks
/// both exist and neither is archived: unknown event, unknown venue, then
/// archived event, archived venue.
async fn lock_parents(
    tx: &mut Transaction<'static, Postgres>,
    show: &Show,
    operation: &'static str,
) -> CatalogResult<impl FnOnce() -> CatalogResult<()> + use<>> {
    let row = sqlx::query(
        "SELECT (SELECT archived FROM booking.catalog_events WHERE id = $1 FOR SHARE) AS event, \
                (SELECT archived FROM booking.catalog_venues WHERE id = $2 FOR SHARE) AS venue",
    )
    .bind(show.event.as_uuid())
    .bind(show.venue.as_uuid())
    .fetch_one(&mut **tx)
    .await
    .map_err(db(operation))?;
    let event: Option<bool> = row.try_get("event").map_err(db(operation))?;
    let venue: Option<bool> = row.try_get("venue").map_err(db(operation))?;
    let (event_id, venue_id) = (show.event, show.venue);
    // Returned as a check to run after the show's own, so that errors come
    // in the port's order while locks are taken parents first.
    Ok(move || match (event, venue) {
        (None, _) => Err(CatalogError::UnknownEvent(event_id)),
        (_, None) => Err(CatalogError::UnknownVenue(venue_id)),
        (Some(true), _) => Err(CatalogError::Archived { kind: RecordKind::Event, id: event_id.as_uuid() }),
        (_, Some(true)) => Err(CatalogError::Archived { kind: RecordKind::Venue, id: venue_id.as_uuid() }),
        (Some(false), Some(false)) => Ok(()),
    })
}

/// The vocabulary takes every word of the document just written (`doc`,
/// a CTE with a `document` column), in order, so that concurrent writers
/// wait for each other instead of deadlocking.
macro_rules! vocabulary_from {
    ($cte:literal) => {
        concat!(
            "w AS (INSERT INTO booking.catalog_vocabulary (word) SELECT DISTINCT unnest(tsvector_to_array(document)) FROM ",
            $cte,
            " ORDER BY 1 ON CONFLICT DO NOTHING) "
        )
    };
}

/// An event's document, from its texts split into words (`$4`..`$7`).
macro_rules! event_document {
    () => {
        "booking.catalog_event_document($4, $5, $6, $7)"
    };
}

fn event_texts(e: &Event) -> [String; 4] {
    [
        words::joined([e.title.as_str()]),
        words::joined(e.performers.iter().map(String::as_str)),
        words::joined(e.categories.iter().map(String::as_str)),
        words::joined([e.description.as_str()]),
    ]
}

fn category_keys(e: &Event) -> Vec<String> {
    e.categories.iter().map(|c| words::key(c)).collect()
}

fn venue_text(v: &Venue) -> String {
    words::joined([v.name.as_str(), v.city.as_str()])
}

/// The code of a summary's level in `catalog_shows.summary_level`.
fn level_code(level: SalesLevel) -> i16 {
    match level {
        SalesLevel::Available => 1,
        SalesLevel::SellingFast => 2,
        SalesLevel::SoldOut => 3,
    }
}

#[async_trait]
impl Catalog for PgCatalog {
    async fn create_venue(&self, venue: &Venue) -> CatalogResult<Versioned<Venue>> {
        const OP: &str = "create venue";
        venue.validate()?;
        let insert = sqlx::query_scalar(concat!(
            "WITH v AS (INSERT INTO booking.catalog_venues (id, version, record, city_key, document) ",
            "VALUES ($1, 1, $2, $3, booking.catalog_venue_document($4)) ON CONFLICT (id) DO NOTHING RETURNING document), ",
            vocabulary_from!("v"),
            "SELECT count(*) FROM v"
        ))
        .bind(venue.id.as_uuid())
        .bind(Json(venue))
        .bind(words::key(&venue.city))
        .bind(venue_text(venue));
        self.insert(insert, venue, venue.id.as_uuid(), OP).await
    }

    async fn update_venue(&self, update: &Update<Venue>) -> CatalogResult<Versioned<Venue>> {
        const OP: &str = "update venue";
        let venue = &update.value;
        venue.validate()?;
        let id = venue.id.as_uuid();
        let mut tx = self.begin(true, OP).await?;
        check_update(&mut tx, id, update, OP).await?;
        let update = sqlx::query_scalar(concat!(
            "WITH v AS (UPDATE booking.catalog_venues SET version = version + 1, record = $2, city_key = $3, ",
            "document = booking.catalog_venue_document($4) WHERE id = $1 RETURNING id, version, document), ",
            "s AS (UPDATE booking.catalog_shows s SET document = e.document || v.document ",
            "FROM v, booking.catalog_events e WHERE s.venue_id = v.id AND e.id = s.event_id), ",
            vocabulary_from!("v"),
            "SELECT version FROM v"
        ))
        .bind(id)
        .bind(Json(venue))
        .bind(words::key(&venue.city))
        .bind(venue_text(venue));
        commit_update(tx, update, venue, OP).await
    }

    async fn archive_venue(&self, id: VenueId) -> CatalogResult<Versioned<Venue>> {
        self.archive(id.as_uuid()).await
    }

    async fn venue(&self, id: VenueId) -> CatalogResult<Versioned<Venue>> {
        self.read(id.as_uuid()).await
    }

    async fn create_event(&self, event: &Event) -> CatalogResult<Versioned<Event>> {
        const OP: &str = "create event";
        event.validate()?;
        let [title, performers, categories, description] = event_texts(event);
        let insert = sqlx::query_scalar(concat!(
            "WITH e AS (INSERT INTO booking.catalog_events (id, version, record, category_keys, document) ",
            "VALUES ($1, 1, $2, $3, ",
            event_document!(),
            ") ON CONFLICT (id) DO NOTHING RETURNING document), ",
            vocabulary_from!("e"),
            "SELECT count(*) FROM e"
        ))
        .bind(event.id.as_uuid())
        .bind(Json(event))
        .bind(category_keys(event))
        .bind(title)
        .bind(performers)
        .bind(categories)
        .bind(description);
        self.insert(insert, event, event.id.as_uuid(), OP).await
    }

    async fn update_event(&self, update: &Update<Event>) -> CatalogResult<Versioned<Event>> {
        const OP: &str = "update event";
        let event = &update.value;
        event.validate()?;
        let id = event.id.as_uuid();
        let [title, performers, categories, description] = event_texts(event);
        let mut tx = self.begin(true, OP).await?;
        check_update(&mut tx, id, update, OP).await?;
        let update = sqlx::query_scalar(concat!(
            "WITH e AS (UPDATE booking.catalog_events SET version = version + 1, record = $2, category_keys = $3, ",
            "document = ",
            event_document!(),
            " WHERE id = $1 RETURNING id, version, document), ",
            "s AS (UPDATE booking.catalog_shows s SET document = e.document || v.document ",
            "FROM e, booking.catalog_venues v WHERE s.event_id = e.id AND v.id = s.venue_id), ",
            vocabulary_from!("e"),
            "SELECT version FROM e"
        ))
        .bind(id)
        .bind(Json(event))
        .bind(category_keys(event))
        .bind(title)
        .bind(performers)
        .bind(categories)
        .bind(description);
        commit_update(tx, update, event, OP).await
    }

    async fn archive_event(&self, id: EventId) -> CatalogResult<Versioned<Event>> {
        self.archive(id.as_uuid()).await
    }

    async fn event(&self, id: EventId) -> CatalogResult<Versioned<Event>> {
        self.read(id.as_uuid()).await
    }

    async fn create_show(&self, show: &Show) -> CatalogResult<Versioned<Show>> {
        const OP: &str = "create show";
        show.validate()?;
        let id = show.id.as_uuid();
        let mut tx = self.begin(false, OP).await?;
        let parents = lock_parents(&mut tx, show, OP).await?;
        let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM booking.catalog_shows WHERE id = $1)")
            .bind(id)
            .fetch_one(&mut *tx)
            .await
            .map_err(db(OP))?;
        if exists {
            return Err(CatalogError::Exists { kind: RecordKind::Show, id });
        }
        parents()?;
        let created = sqlx::query(
            "INSERT INTO booking.catalog_shows \
             (id, version, record, event_id, venue_id, starts_at, on_sale_at, sales_end, document) \
             SELECT $1, 1, $2, e.id, v.id, $5, $6, $7, e.document || v.document \
             FROM booking.catalog_events e, booking.catalog_venues v WHERE e.id = $3 AND v.id = $4 \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(Json(show))
        .bind(show.event.as_uuid())
        .bind(show.venue.as_uuid())
        .bind(show.starts_at)
        .bind(show.on_sale_at)
        .bind(show.sales_end())
        .execute(&mut *tx)
        .await
        .map_err(db(OP))?
        .rows_affected();
        if created == 0 {
            // Created by a concurrent request since the check above.
            return Err(CatalogError::Exists { kind: RecordKind::Show, id });
        }
        tx.commit().await.map_err(db(OP))?;
        Ok(fresh(show))
    }

    async fn update_show(&self, update: &Update<Show>) -> CatalogResult<Versioned<Show>> {
        const OP: &str = "update show";
        let show = &update.value;
        show.validate()?;
        let id = show.id.as_uuid();
        let mut tx = self.begin(false, OP).await?;
        let parents = lock_parents(&mut tx, show, OP).await?;
        check_update(&mut tx, id, update, OP).await?;
        parents()?;
        let update = sqlx::query_scalar(
            "UPDATE booking.catalog_shows s SET version = s.version + 1, record = $2, event_id = e.id, \
             venue_id = v.id, starts_at = $5, on_sale_at = $6, sales_end = $7, document = e.document || v.document \
             FROM booking.catalog_events e, booking.catalog_venues v WHERE s.id = $1 AND e.id = $3 AND v.id = $4 \
             RETURNING s.version",
        )
        .bind(id)
        .bind(Json(show))
        .bind(show.event.as_uuid())
        .bind(show.venue.as_uuid())
        .bind(show.starts_at)
        .bind(show.on_sale_at)
        .bind(show.sales_end());
        commit_update(tx, update, show, OP).await
    }

    async fn archive_show(&self, id: ShowId) -> CatalogResult<Versioned<Show>> {
        self.archive(id.as_uuid()).await
    }

    async fn show(&self, id: ShowId) -> CatalogResult<Versioned<Show>> {
        self.read(id.as_uuid()).await
    }

    async fn listing(&self, id: ShowId) -> CatalogResult<Listing> {
        query::listing(&self.pool, self.now(), id).await
    }

    async fn set_availability(&self, show: ShowId, summary: &AvailabilitySummary) -> CatalogResult<bool> {
        const OP: &str = "set availability";
        let row = sqlx::query(
            "WITH u AS (UPDATE booking.catalog_shows SET summary = $2, summary_level = $3, observed_at = $4 \
             WHERE id = $1 AND (observed_at IS NULL OR observed_at <= $4) RETURNING 1) \
             SELECT EXISTS (SELECT 1 FROM u) AS stored, \
                    EXISTS (SELECT 1 FROM booking.catalog_shows WHERE id = $1) AS known",
        )
        .bind(show.as_uuid())
        .bind(Json(summary))
        .bind(level_code(summary.level))
        .bind(summary.observed_at)
        .fetch_one(&self.pool)
        .await
        .map_err(db(OP))?;
        let stored: bool = row.try_get("stored").map_err(db(OP))?;
        let known: bool = row.try_get("known").map_err(db(OP))?;
        if stored || known { Ok(stored) } else { Err(CatalogError::UnknownShow(show)) }
    }

    async fn list(&self, req: &ListShows) -> CatalogResult<Page<Listing>> {
        req.validate()?;
        let page = query::list(&self.pool, self.now(), req).await?;
        Ok(Page { items: page.items.into_iter().map(|(listing, _)| listing).collect(), total: page.total })
    }

    async fn search(&self, req: &SearchQuery) -> CatalogResult<Page<SearchHit>> {
        req.validate()?;
        let page = query::search(&self.pool, self.now(), req).await?;
        Ok(Page {
            items: page.items.into_iter().map(|(listing, score)| SearchHit { listing, score }).collect(),
            total: page.total,
        })
    }
}
