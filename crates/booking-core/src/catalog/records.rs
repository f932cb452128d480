//! Venues, events and shows as the catalog stores them, and the checks a
//! record passes before any store accepts it.

use super::{InvalidField, Problem};
use crate::ids::{EventId, PriceCategory, ShowId, VenueId};
use crate::money::Money;
use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};

/// The longest name, title, city or price-level name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// The longest address, in characters.
pub const MAX_ADDRESS_CHARS: usize = 500;
/// The longest event description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 10_000;
/// The most performers one event may name.
pub const MAX_PERFORMERS: usize = 50;
/// The most categories one event may have.
pub const MAX_CATEGORIES: usize = 20;
/// The longest category, in characters.
pub const MAX_CATEGORY_CHARS: usize = 50;
/// The most price levels one show may have.
pub const MAX_PRICE_LEVELS: usize = 100;
/// The earliest year a date may fall in.
pub const MIN_YEAR: i32 = 1970;
/// The latest year a date may fall in (every store can hold it).
pub const MAX_YEAR: i32 = 9999;

/// A place where shows take place.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Venue {
    /// The venue's id.
    pub id: VenueId,
    /// Display name ("Royal Albert Hall"); searched.
    pub name: String,
    /// The city; searched, and the `city` filter compares it without
    /// regard to case.
    pub city: String,
    /// Postal address, free text (may be empty); not searched.
    pub address: String,
}

impl Venue {
    /// A venue with a fresh id and no address.
    pub fn new(name: impl Into<String>, city: impl Into<String>) -> Self {
        Venue { id: VenueId::new(), name: name.into(), city: city.into(), address: String::new() }
    }

    /// Checks the venue's fields.
    pub fn validate(&self) -> Result<(), InvalidField> {
        name("/name", &self.name, MAX_NAME_CHARS)?;
        name("/city", &self.city, MAX_NAME_CHARS)?;
        text("/address", &self.address, MAX_ADDRESS_CHARS)
    }
}

/// What is performed: a concert tour, a play, a match. Shown by one or more
/// [`Show`]s.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// The event's id.
    pub id: EventId,
    /// Title ("Moonlight Sonata"); searched, weighted highest.
    pub title: String,
    /// Free text (may be empty); searched, weighted lowest.
    pub description: String,
    /// Performers, each once; searched, weighted next to the title.
    pub performers: Vec<String>,
    /// Categories ("concert", "opera"), each once regardless of case;
    /// searched, and the `category` filter compares them without regard to
    /// case.
    pub categories: Vec<String>,
}

impl Event {
    /// An event with a fresh id, the given title and nothing else.
    pub fn new(title: impl Into<String>) -> Self {
        Event {
            id: EventId::new(),
            title: title.into(),
            description: String::new(),
            performers: Vec::new(),
            categories: Vec::new(),
        }
    }

    /// Sets the description.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// Adds a performer.
    pub fn with_performer(mut self, performer: impl Into<String>) -> Self {
        self.performers.push(performer.into());
        self
    }

    /// Adds a category.
    pub fn with_category(mut self, category: impl Into<String>) -> Self {
        self.categories.push(category.into());
        self
    }

    /// Checks the event's fields.
    pub fn validate(&self) -> Result<(), InvalidField> {
        name("/title", &self.title, MAX_NAME_CHARS)?;
        if self.description.chars().count() > MAX_DESCRIPTION_CHARS {
            return Err(InvalidField::new("/description", Problem::TooLong { max: MAX_DESCRIPTION_CHARS }));
        }
        if self.description.chars().any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r') {
            return Err(InvalidField::new("/description", Problem::ControlCharacter));
        }
        list("/performers", &self.performers, MAX_PERFORMERS, MAX_NAME_CHARS)?;
        list("/categories", &self.categories, MAX_CATEGORIES, MAX_CATEGORY_CHARS)
    }
}

/// One price level of a show: the price of a seat-map price category.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceLevel {
    /// The price category of the show's seats (and pools) it prices.
    pub category: PriceCategory,
    /// Display name ("Stalls", "Floor standing").
    pub name: String,
    /// Price per seat or unit; never negative.
    pub price: Money,
}

/// One performance of an event at a venue. Its id is the inventory's
/// [`ShowId`]: the catalog's show and the inventory's show are one show.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Show {
    /// The show's id, shared with the inventory.
    pub id: ShowId,
    /// What is performed.
    pub event: EventId,
    /// Where.
    pub venue: VenueId,
    /// When the performance starts.
    pub starts_at: DateTime<Utc>,
    /// When sales open; before it the show is `Upcoming`.
    pub on_sale_at: DateTime<Utc>,
    /// When sales close; `None` for `starts_at`. From it on the show is
    /// `SalesEnded`.
    pub off_sale_at: Option<DateTime<Utc>>,
    /// Prices, one per price category, each category once, one currency.
    pub prices: Vec<PriceLevel>,
}

impl Show {
    /// A show with a fresh id and no prices.
    pub fn new(event: EventId, venue: VenueId, starts_at: DateTime<Utc>, on_sale_at: DateTime<Utc>) -> Self {
        Show { id: ShowId::new(), event, venue, starts_at, on_sale_at, off_sale_at: None, prices: Vec::new() }
    }

    /// Uses `id`: the id of the inventory show this listing sells.
    pub fn with_id(mut self, id: ShowId) -> Self {
        self.id = id;
        self
    }

    /// Adds a price level.
    pub fn with_price(mut self, category: PriceCategory, name: impl Into<String>, price: Money) -> Self {
        self.prices.push(PriceLevel { category, name: name.into(), price });
        self
    }

    /// Sets when sales close.
    pub fn with_off_sale(mut self, off_sale_at: DateTime<Utc>) -> Self {
        self.off_sale_at = Some(off_sale_at);
        self
    }

    /// When sales close: `off_sale_at`, else `starts_at`.
    pub fn sales_end(&self) -> DateTime<Utc> {
        self.off_sale_at.unwrap_or(self.starts_at)
    }

    /// The price of a category, if the show prices it.
    pub fn price_of(&self, category: PriceCategory) -> Option<Money> {
        self.prices.iter().find(|p| p.category == category).map(|p| p.price)
    }

    /// Checks dates and prices. Whether the event and venue exist is the
    /// store's check.
    pub fn validate(&self) -> Result<(), InvalidField> {
        date("/starts_at", self.starts_at)?;
        date("/on_sale_at", self.on_sale_at)?;
        if self.on_sale_at > self.starts_at {
            return Err(InvalidField::new("/on_sale_at", Problem::NotBefore { other: "starts_at" }));
        }
        if let Some(off) = self.off_sale_at {
            date("/off_sale_at", off)?;
            if off <= self.on_sale_at {
                return Err(InvalidField::new("/on_sale_at", Problem::NotBefore { other: "off_sale_at" }));
            }
        }
        if self.prices.len() > MAX_PRICE_LEVELS {
            return Err(InvalidField::new("/prices", Problem::TooMany { max: MAX_PRICE_LEVELS }));
        }
        for (i, level) in self.prices.iter().enumerate() {
            name(&format!("/prices/{i}/name"), &level.name, MAX_NAME_CHARS)?;
            if level.price.minor < 0 {
                return Err(InvalidField::new(format!("/prices/{i}/price"), Problem::Negative));
            }
            if level.price.currency != self.prices[0].price.currency {
                return Err(InvalidField::new(format!("/prices/{i}/price"), Problem::MixedCurrencies));
            }
            if self.prices[..i].iter().any(|p| p.category == level.category) {
                return Err(InvalidField::new(format!("/prices/{i}/category"), Problem::Duplicate));
            }
        }
        Ok(())
    }
}

/// A record as stored: its value, its version and whether it is archived.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Versioned<T> {
    /// The record.
    pub value: T,
    /// 1 when created; every update or archiving adds 1.
    pub version: u64,
    /// Archived records are read by id but never listed or found.
    pub archived: bool,
}

/// Replace a record, if it is still at `version` (compare-and-set): an
/// update made from a stale read gets [`super::CatalogError::Conflict`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Update<T> {
    /// The new value; its id names the record.
    pub value: T,
    /// The version the caller read.
    pub version: u64,
}

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

/// A required single-line text: not blank, at most `max` characters, no
/// control characters.
fn name(field: &str, s: &str, max: usize) -> Result<(), InvalidField> {
    if s.trim().is_empty() {
        return Err(InvalidField::new(field, Problem::Empty));
    }
    text(field, s, max)
}

/// An optional single-line text.
fn text(field: &str, s: &str, max: usize) -> Result<(), InvalidField> {
    if s.chars().count() > max {
        return Err(InvalidField::new(field, Problem::TooLong { max }));
    }
    if has_control(s) {
        return Err(InvalidField::new(field, Problem::ControlCharacter));
    }
    Ok(())
}

/// A list of names, each once regardless of case.
fn list(field: &str, items: &[String], max_items: usize, max_chars: usize) -> Result<(), InvalidField> {
    if items.len() > max_items {
        return Err(InvalidField::new(field, Problem::TooMany { max: max_items }));
    }
    for (i, item) in items.iter().enumerate() {
        let path = format!("{field}/{i}");
        name(&path, item, max_chars)?;
        let lower = item.to_lowercase();
        if items[..i].iter().any(|o| o.to_lowercase() == lower) {
            return Err(InvalidField::new(path, Problem::Duplicate));
        }
    }
    Ok(())
}

fn date(field: &str, d: DateTime<Utc>) -> Result<(), InvalidField> {
    if (MIN_YEAR..=MAX_YEAR).contains(&d.year()) { Ok(()) } else { Err(InvalidField::new(field, Problem::OutOfRange)) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;
    use chrono::TimeZone;

    fn at(y: i32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, 6, 1, 20, 0, 0).single().expect("date")
    }

    #[test]
    fn records_point_at_the_bad_field() {
        let field = |r: Result<(), InvalidField>| r.err().map(|e| (e.field, e.problem));
        assert_eq!(field(Venue::new(" ", "Paris").validate()), Some(("/name".into(), Problem::Empty)));
        assert_eq!(field(Venue::new("Hall", "Par\0is").validate()), Some(("/city".into(), Problem::ControlCharacter)));
        let e = Event::new("Tour").with_category("Rock").with_category("rock");
        assert_eq!(field(e.validate()), Some(("/categories/1".into(), Problem::Duplicate)));
        let e = Event::new("x".repeat(MAX_NAME_CHARS + 1));
        assert_eq!(field(e.validate()), Some(("/title".into(), Problem::TooLong { max: MAX_NAME_CHARS })));
        assert!(Event::new("Tour").with_description("line one\nline two").validate().is_ok());

        let (ev, ve) = (EventId::new(), VenueId::new());
        let show = Show::new(ev, ve, at(2030), at(2029));
        assert!(show.validate().is_ok());
        assert_eq!(
            field(Show::new(ev, ve, at(2029), at(2030)).validate()),
            Some(("/on_sale_at".into(), Problem::NotBefore { other: "starts_at" }))
        );
        assert_eq!(
            field(Show::new(ev, ve, at(10_000), at(2029)).validate()),
            Some(("/starts_at".into(), Problem::OutOfRange))
        );
        let eur = |m| Money::new(m, Currency::EUR);
        let priced = show.clone().with_price(PriceCategory(1), "Stalls", eur(5000));
        assert!(priced.validate().is_ok());
        let mixed = priced.clone().with_price(PriceCategory(2), "Circle", Money::new(1, Currency::USD));
        assert_eq!(field(mixed.validate()), Some(("/prices/1/price".into(), Problem::MixedCurrencies)));
        let dup = priced.clone().with_price(PriceCategory(1), "Again", eur(1));
        assert_eq!(field(dup.validate()), Some(("/prices/1/category".into(), Problem::Duplicate)));
        let negative = show.with_price(PriceCategory(1), "Refund", eur(-1));
        assert_eq!(field(negative.validate()), Some(("/prices/0/price".into(), Problem::Negative)));
    }
}
