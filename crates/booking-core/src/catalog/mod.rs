//! The events catalog: venues, events and shows, listed by filters and
//! found by ranked full-text search, each listing with its availability.
//!
//! The parts, as for every capability of the library (docs/design.md,
//! "Catalog and seat maps"):
//!
//! - the port, [`Catalog`]: records created, updated by compare-and-set on
//!   their version, archived, read by id; shows listed by filters
//!   ([`ListShows`]) and searched by text ([`SearchQuery`], whose docs
//!   define what matches and how it ranks);
//! - the records ([`Venue`], [`Event`], [`Show`] with its [`PriceLevel`]s
//!   in [`Money`](crate::Money)) and the one error type, [`CatalogError`];
//! - availability: the catalog stores an [`AvailabilitySummary`] per show,
//!   computed from the inventory's snapshot counts and kept fresh by
//!   [`AvailabilitySync`] (a service generic over both ports); a listing
//!   combines it with the show's sale window ([`Availability::at`]), so no
//!   seat is read per result;
//! - the conformance suite, `booking_core::testkit::catalog` (feature
//!   `testkit`), run by every backend through `catalog_suite!`.
//!
//! A catalog show and an inventory show share their [`ShowId`]: create the
//! inventory's [`ShowSpec`](crate::ShowSpec) (from a seat map, say, with
//! [`crate::seatmap`]) and the catalog's [`Show`] with the same id.

mod availability;
mod query;
mod records;
mod sync;

pub use availability::{Availability, AvailabilityPolicy, AvailabilitySummary, SalesLevel};
pub use query::{
    ListShows, Listing, MAX_LIMIT, MAX_OFFSET, MAX_QUERY_CHARS, MAX_QUERY_WORDS, Page, SearchHit, SearchQuery,
    ShowFilter, same_text,
};
pub use records::{
    Event, MAX_ADDRESS_CHARS, MAX_CATEGORIES, MAX_CATEGORY_CHARS, MAX_DESCRIPTION_CHARS, MAX_NAME_CHARS,
    MAX_PERFORMERS, MAX_PRICE_LEVELS, MAX_YEAR, MIN_YEAR, PriceLevel, Show, Update, Venue, Versioned,
};
pub use sync::{AvailabilitySync, SyncError, SyncRound};

use crate::ids::{EventId, ShowId, VenueId};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::fmt::{self, Debug};
use thiserror::Error;
use uuid::Uuid;

/// Shorthand for results of the catalog port.
pub type CatalogResult<T> = std::result::Result<T, CatalogError>;

/// Which kind of record an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RecordKind {
    /// A [`Venue`].
    Venue,
    /// An [`Event`].
    Event,
    /// A [`Show`].
    Show,
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RecordKind::Venue => "venue",
            RecordKind::Event => "event",
            RecordKind::Show => "show",
        })
    }
}

/// What is wrong with a field.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Problem {
    /// Blank.
    #[error("must not be empty")]
    Empty,
    /// Longer than allowed.
    #[error("longer than {max} characters")]
    TooLong {
        /// The most characters allowed.
        max: usize,
    },
    /// More entries than allowed.
    #[error("more than {max} entries")]
    TooMany {
        /// The most entries allowed.
        max: usize,
    },
    /// Contains a control character (other than line breaks and tabs in a
    /// description).
    #[error("contains a control character")]
    ControlCharacter,
    /// The same entry twice.
    #[error("duplicate entry")]
    Duplicate,
    /// A negative amount.
    #[error("must not be negative")]
    Negative,
    /// Prices in more than one currency.
    #[error("prices of one show must share one currency")]
    MixedCurrencies,
    /// A date that must come before another does not.
    #[error("must come before {other}")]
    NotBefore {
        /// The field it must come before.
        other: &'static str,
    },
    /// A number or date outside what is allowed.
    #[error("out of range")]
    OutOfRange,
}

/// A field of a request that is not acceptable, and why.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("{field}: {problem}")]
pub struct InvalidField {
    /// Where, as a JSON pointer into the request ("/prices/2/price").
    pub field: String,
    /// What is wrong.
    pub problem: Problem,
}

impl InvalidField {
    /// `field` has `problem`.
    pub fn new(field: impl Into<String>, problem: Problem) -> Self {
        InvalidField { field: field.into(), problem }
    }
}

/// Why a catalog request failed.
///
/// Every variant but [`CatalogError::Unavailable`] and
/// [`CatalogError::Backend`] is a decision: the request changed nothing.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CatalogError {
    /// The request is malformed; nothing was changed. Fix the field named.
    #[error("invalid request: {0}")]
    Invalid(#[from] InvalidField),
    /// No venue with this id.
    #[error("unknown venue {0}")]
    UnknownVenue(VenueId),
    /// No event with this id.
    #[error("unknown event {0}")]
    UnknownEvent(EventId),
    /// No show with this id.
    #[error("unknown show {0}")]
    UnknownShow(ShowId),
    /// A record with this id exists already.
    #[error("{kind} {id} exists already")]
    Exists {
        /// The record's kind.
        kind: RecordKind,
        /// Its id.
        id: Uuid,
    },
    /// The record's version moved on since the caller read it: read it
    /// again and decide again.
    #[error("{kind} {id} changed: it is at version {current}")]
    Conflict {
        /// The record's kind.
        kind: RecordKind,
        /// Its id.
        id: Uuid,
        /// Its stored version.
        current: u64,
    },
    /// The record (or, for a show, its event or venue) is archived: it
    /// cannot be updated, nor a show created under it.
    #[error("{kind} {id} is archived")]
    Archived {
        /// The archived record's kind.
        kind: RecordKind,
        /// Its id.
        id: Uuid,
    },
    /// The store is unreachable or overloaded; the request may be retried.
    #[error("catalog store unavailable: {0}")]
    Unavailable(String),
    /// The store failed in a way the library does not classify.
    #[error("catalog store: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The events catalog: the port every catalog backend implements.
///
/// Records are created once (an id in use is `Exists`), replaced by
/// compare-and-set on their version ([`Update`]), and archived rather than
/// deleted: an archived record is still read by id (marked archived) but is
/// never listed nor found, and neither is a show whose event or venue is
/// archived. Listings carry their [`Availability`] at the store's clock
/// (an injected `ManualClock` in tests).
///
/// Errors that decide a request leave the catalog unchanged. A write
/// checks, in this order, so that every backend answers a bad request
/// alike: the fields (`Invalid`), the record (`Exists`; or unknown,
/// `Archived`, `Conflict`), then a show's event and venue (unknown, then
/// `Archived`).
#[async_trait]
pub trait Catalog: Send + Sync + Debug {
    /// Stores a new venue at version 1.
    ///
    /// Errors: `Invalid`, `Exists`.
    async fn create_venue(&self, venue: &Venue) -> CatalogResult<Versioned<Venue>>;

    /// Replaces a venue at `update.version`; its shows' listings change
    /// with it.
    ///
    /// Errors: `Invalid`, `UnknownVenue`, `Conflict`, `Archived`.
    async fn update_venue(&self, update: &Update<Venue>) -> CatalogResult<Versioned<Venue>>;

    /// Archives a venue, hiding its shows. Archiving again changes nothing.
    ///
    /// Errors: `UnknownVenue`.
    async fn archive_venue(&self, id: VenueId) -> CatalogResult<Versioned<Venue>>;

    /// A venue, archived or not.
    ///
    /// Errors: `UnknownVenue`.
    async fn venue(&self, id: VenueId) -> CatalogResult<Versioned<Venue>>;

    /// Stores a new event at version 1.
    ///
    /// Errors: `Invalid`, `Exists`.
    async fn create_event(&self, event: &Event) -> CatalogResult<Versioned<Event>>;

    /// Replaces an event at `update.version`; its shows are found by the
    /// new text at once.
    ///
    /// Errors: `Invalid`, `UnknownEvent`, `Conflict`, `Archived`.
    async fn update_event(&self, update: &Update<Event>) -> CatalogResult<Versioned<Event>>;

    /// Archives an event, hiding its shows. Archiving again changes
    /// nothing.
    ///
    /// Errors: `UnknownEvent`.
    async fn archive_event(&self, id: EventId) -> CatalogResult<Versioned<Event>>;

    /// An event, archived or not.
    ///
    /// Errors: `UnknownEvent`.
    async fn event(&self, id: EventId) -> CatalogResult<Versioned<Event>>;

    /// Stores a new show at version 1, of an existing event at an existing
    /// venue, neither archived.
    ///
    /// Errors: `Invalid`, `Exists`, `UnknownEvent`, `UnknownVenue`,
    /// `Archived`.
    async fn create_show(&self, show: &Show) -> CatalogResult<Versioned<Show>>;

    /// Replaces a show at `update.version` (its event and venue as for
    /// `create_show`). Its availability summary stays.
    ///
    /// Errors: `Invalid`, `UnknownShow`, `UnknownEvent`, `UnknownVenue`,
    /// `Conflict`, `Archived`.
    async fn update_show(&self, update: &Update<Show>) -> CatalogResult<Versioned<Show>>;

    /// Archives a show, hiding it. Archiving again changes nothing.
    ///
    /// Errors: `UnknownShow`.
    async fn archive_show(&self, id: ShowId) -> CatalogResult<Versioned<Show>>;

    /// A show, archived or not.
    ///
    /// Errors: `UnknownShow`.
    async fn show(&self, id: ShowId) -> CatalogResult<Versioned<Show>>;

    /// A show's listing (archived or not), with its availability now.
    ///
    /// Errors: `UnknownShow`.
    async fn listing(&self, id: ShowId) -> CatalogResult<Listing>;

    /// Stores a show's availability summary unless the stored one was
    /// observed later (`observed_at`); returns whether it was stored. Does
    /// not change the show's version. Archived shows take summaries too.
    ///
    /// Errors: `UnknownShow`.
    async fn set_availability(&self, show: ShowId, summary: &AvailabilitySummary) -> CatalogResult<bool>;

    /// The listed shows passing the filter, soonest first, then by id.
    ///
    /// Errors: `Invalid`.
    async fn list(&self, req: &ListShows) -> CatalogResult<Page<Listing>>;

    /// The listed shows matching the text and passing the filter, best
    /// first (see [`SearchQuery`] for what matches and how it ranks).
    ///
    /// Errors: `Invalid`.
    async fn search(&self, req: &SearchQuery) -> CatalogResult<Page<SearchHit>>;
}
