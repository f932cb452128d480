//! Listing and search requests, and what they answer.

use super::{Availability, AvailabilitySummary, Event, InvalidField, Problem, Show, Venue};
use crate::ids::{EventId, VenueId};
use crate::money::Money;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The most results one page may hold.
pub const MAX_LIMIT: u32 = 100;
/// The furthest a page may start.
pub const MAX_OFFSET: u32 = 10_000;
/// The longest search text, in characters.
pub const MAX_QUERY_CHARS: usize = 200;
/// The most words a search text may have.
pub const MAX_QUERY_WORDS: usize = 10;

/// Which shows a listing or a search may return. Every set field must
/// hold; an empty filter lets every listed show through.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShowFilter {
    /// Shows starting at or after this instant.
    pub starts_from: Option<DateTime<Utc>>,
    /// Shows starting before this instant.
    pub starts_before: Option<DateTime<Utc>>,
    /// Shows at a venue in this city (compared without regard to case).
    pub city: Option<String>,
    /// Shows of an event in this category (compared without regard to
    /// case).
    pub category: Option<String>,
    /// Shows at this venue.
    pub venue: Option<VenueId>,
    /// Shows of this event.
    pub event: Option<EventId>,
    /// Shows whose availability is one of these; empty for any.
    pub availability: Vec<Availability>,
}

impl ShowFilter {
    /// Checks the filter: a non-empty date range, names a store can hold.
    pub fn validate(&self) -> Result<(), InvalidField> {
        if let (Some(from), Some(before)) = (self.starts_from, self.starts_before)
            && before <= from
        {
            return Err(InvalidField::new("/filter/starts_from", Problem::NotBefore { other: "starts_before" }));
        }
        for (field, v) in [("/filter/city", &self.city), ("/filter/category", &self.category)] {
            if let Some(v) = v {
                if v.trim().is_empty() {
                    return Err(InvalidField::new(field, Problem::Empty));
                }
                if v.chars().count() > super::MAX_NAME_CHARS {
                    return Err(InvalidField::new(field, Problem::TooLong { max: super::MAX_NAME_CHARS }));
                }
                if v.chars().any(char::is_control) {
                    return Err(InvalidField::new(field, Problem::ControlCharacter));
                }
            }
        }
        Ok(())
    }

    /// Whether a show, with its event, venue and availability, passes the
    /// filter. The rule every backend follows; a SQL store says the same in
    /// its `WHERE`.
    pub fn accepts(&self, show: &Show, event: &Event, venue: &Venue, availability: Availability) -> bool {
        self.starts_from.is_none_or(|t| show.starts_at >= t)
            && self.starts_before.is_none_or(|t| show.starts_at < t)
            && self.city.as_ref().is_none_or(|c| same_text(c, &venue.city))
            && self.category.as_ref().is_none_or(|c| event.categories.iter().any(|e| same_text(c, e)))
            && self.venue.is_none_or(|v| show.venue == v)
            && self.event.is_none_or(|e| show.event == e)
            && (self.availability.is_empty() || self.availability.contains(&availability))
    }
}

/// Equal without regard to case (Unicode lower case).
pub fn same_text(a: &str, b: &str) -> bool {
    a == b || a.to_lowercase() == b.to_lowercase()
}

fn page(limit: u32, offset: u32) -> Result<(), InvalidField> {
    if limit == 0 || limit > MAX_LIMIT {
        return Err(InvalidField::new("/limit", Problem::OutOfRange));
    }
    if offset > MAX_OFFSET {
        return Err(InvalidField::new("/offset", Problem::OutOfRange));
    }
    Ok(())
}

/// List shows, soonest first (then by show id).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListShows {
    /// Which shows.
    pub filter: ShowFilter,
    /// At most this many (1 to [`MAX_LIMIT`]).
    pub limit: u32,
    /// Skip this many first (at most [`MAX_OFFSET`]).
    pub offset: u32,
}

impl ListShows {
    /// The first 20 shows passing `filter`.
    pub fn new(filter: ShowFilter) -> Self {
        ListShows { filter, limit: 20, offset: 0 }
    }

    /// Checks the filter and the page.
    pub fn validate(&self) -> Result<(), InvalidField> {
        self.filter.validate()?;
        page(self.limit, self.offset)
    }
}

/// Search shows by text, best match first.
///
/// What matches: the text is split into words (letters and digits;
/// case and common accents do not matter). A show matches when **every**
/// word matches a word of its event's title, performers, categories or
/// description, or of its venue's name or city:
///
/// - the same word (a backend may also match other forms of it, as a
///   stemming full-text engine does);
/// - for the **last** word only, as a prefix (search as you type:
///   "moonl" finds "Moonlight");
/// - with a typo: a word of 5 or more letters within one edit of it
///   (a trigram-similarity engine accepts at least these).
///
/// How it ranks: a match in the title or a performer counts more than one
/// in the categories or the venue, which counts more than one in the
/// description; an exact word more than a prefix, a prefix more than a
/// typo; rarer words more. Equal scores come soonest first, then by show
/// id. Scores are comparable within one answer only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchQuery {
    /// What the user typed.
    pub text: String,
    /// Which shows may be returned.
    pub filter: ShowFilter,
    /// At most this many (1 to [`MAX_LIMIT`]).
    pub limit: u32,
    /// Skip this many first (at most [`MAX_OFFSET`]).
    pub offset: u32,
}

impl SearchQuery {
    /// The first 20 shows matching `text`.
    pub fn new(text: impl Into<String>) -> Self {
        SearchQuery { text: text.into(), filter: ShowFilter::default(), limit: 20, offset: 0 }
    }

    /// Restricts the search to `filter`.
    pub fn with_filter(mut self, filter: ShowFilter) -> Self {
        self.filter = filter;
        self
    }

    /// Checks the text (a letter or digit, at most [`MAX_QUERY_CHARS`]
    /// characters and [`MAX_QUERY_WORDS`] words, no control characters),
    /// the filter and the page.
    pub fn validate(&self) -> Result<(), InvalidField> {
        if !self.text.chars().any(char::is_alphanumeric) {
            return Err(InvalidField::new("/text", Problem::Empty));
        }
        if self.text.chars().count() > MAX_QUERY_CHARS {
            return Err(InvalidField::new("/text", Problem::TooLong { max: MAX_QUERY_CHARS }));
        }
        if self.text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).count() > MAX_QUERY_WORDS {
            return Err(InvalidField::new("/text", Problem::TooMany { max: MAX_QUERY_WORDS }));
        }
        if self.text.chars().any(char::is_control) {
            return Err(InvalidField::new("/text", Problem::ControlCharacter));
        }
        self.filter.validate()?;
        page(self.limit, self.offset)
    }
}

/// A show as a listing or search shows it: with its event, its venue and
/// its availability.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listing {
    /// The show.
    pub show: Show,
    /// Its event.
    pub event: Event,
    /// Its venue.
    pub venue: Venue,
    /// Its availability at the store's clock ([`Availability::at`]).
    pub availability: Availability,
    /// The last availability summary stored, if any.
    pub summary: Option<AvailabilitySummary>,
}

impl Listing {
    /// The lowest price of a category with something left, or, before any
    /// summary was stored, of any category. `None` when the show prices
    /// nothing or nothing priced is left.
    pub fn from_price(&self) -> Option<Money> {
        let left = |c| self.summary.as_ref().is_none_or(|s| s.categories.contains(&c));
        self.show.prices.iter().filter(|p| left(p.category)).map(|p| p.price).min_by_key(|m| m.minor)
    }
}

/// One search result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchHit {
    /// The show found.
    pub listing: Listing,
    /// Its relevance: higher is better; comparable within one answer only.
    pub score: f64,
}

/// One page of results.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    /// The results on this page.
    pub items: Vec<T>,
    /// How many results there are in all, on every page.
    pub total: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn queries_are_checked() {
        let bad = |q: SearchQuery| q.validate().err().map(|e| e.field);
        assert_eq!(bad(SearchQuery::new(" -- ")), Some("/text".into()));
        assert_eq!(bad(SearchQuery::new("a".repeat(MAX_QUERY_CHARS + 1))), Some("/text".into()));
        assert_eq!(bad(SearchQuery::new("a b c d e f g h i j k")), Some("/text".into()));
        assert_eq!(bad(SearchQuery { limit: 0, ..SearchQuery::new("x") }), Some("/limit".into()));
        assert_eq!(bad(SearchQuery { offset: MAX_OFFSET + 1, ..SearchQuery::new("x") }), Some("/offset".into()));
        let now = Utc::now();
        let backwards = ShowFilter {
            starts_from: Some(now),
            starts_before: Some(now - Duration::days(1)),
            ..ShowFilter::default()
        };
        assert_eq!(bad(SearchQuery::new("x").with_filter(backwards)), Some("/filter/starts_from".into()));
        let blank = ShowFilter { city: Some(" ".into()), ..ShowFilter::default() };
        assert_eq!(bad(SearchQuery::new("x").with_filter(blank)), Some("/filter/city".into()));
        assert!(SearchQuery::new("Beyoncé tour 2030").validate().is_ok());
    }
}
