//! The events catalog in process: records in maps, shows found through a
//! small inverted index (`index.rs`) with BM25F ranking, prefix matching and
//! typo tolerance.

mod index;
mod text;

use crate::hash::IdHash;
use async_trait::async_trait;
use booking_core::catalog::{
    Availability, AvailabilitySummary, Catalog, CatalogError, CatalogResult, Event, ListShows, Listing, Page,
    RecordKind, SearchHit, SearchQuery, Show, Update, Venue, Versioned,
};
use booking_core::ids::{EventId, VenueId};
use booking_core::{Clock, ShowId, SystemClock};
use chrono::{DateTime, Utc};
use index::{CATEGORIES, DESCRIPTION, FIELDS, Index, PERFORMERS, TITLE, VENUE};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

#[derive(Debug)]
struct ShowEntry {
    record: Versioned<Show>,
    summary: Option<AvailabilitySummary>,
    /// The show's document in the index, while it is listed.
    doc: Option<u32>,
}

#[derive(Debug, Default)]
struct State {
    venues: HashMap<VenueId, Versioned<Venue>, IdHash>,
    events: HashMap<EventId, Versioned<Event>, IdHash>,
    shows: HashMap<ShowId, ShowEntry, IdHash>,
    by_venue: HashMap<VenueId, BTreeSet<ShowId>, IdHash>,
    by_event: HashMap<EventId, BTreeSet<ShowId>, IdHash>,
    index: Index,
    /// The show of each document number.
    doc_shows: Vec<Option<ShowId>>,
}

/// The events catalog in process memory.
///
/// One lock over the whole catalog: searches and listings share it, writes
/// (rare) take it alone. A write re-indexes the shows it changes before it
/// returns, so a search right after it sees it. Nothing is persisted.
///
/// Search: the text is split into words; every word must match (the last
/// one also as a prefix, words of 5 letters or more also with one typo, of
/// 9 or more with two); ranking is BM25F over the event's title,
/// performers, categories and description and the venue's name and city.
#[derive(Debug)]
pub struct MemoryCatalog {
    clock: Arc<dyn Clock>,
    state: RwLock<State>,
}

impl Default for MemoryCatalog {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryCatalog {
    /// An empty catalog whose listings read the system clock.
    pub fn new() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }

    /// An empty catalog whose listings read `clock` (availability depends
    /// on the sale window); tests pass a [`booking_core::ManualClock`].
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        MemoryCatalog { clock, state: RwLock::new(State::default()) }
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }
}

impl State {
    /// The show's event and venue, if both exist and neither is archived.
    fn parents(&self, show: &Show) -> CatalogResult<()> {
        let event = self.events.get(&show.event).ok_or(CatalogError::UnknownEvent(show.event))?;
        let venue = self.venues.get(&show.venue).ok_or(CatalogError::UnknownVenue(show.venue))?;
        if event.archived {
            return Err(CatalogError::Archived { kind: RecordKind::Event, id: show.event.as_uuid() });
        }
        if venue.archived {
            return Err(CatalogError::Archived { kind: RecordKind::Venue, id: show.venue.as_uuid() });
        }
        Ok(())
    }

    /// Takes the show out of the index and puts it back if it is listed:
    /// neither it nor its event nor its venue archived.
    fn reindex(&mut self, id: ShowId) {
        let Some(entry) = self.shows.get_mut(&id) else { return };
        if let Some(doc) = entry.doc.take() {
            self.index.remove(doc);
            if let Some(slot) = self.doc_shows.get_mut(doc as usize) {
                *slot = None;
            }
        }
        let show = &entry.record;
        let (Some(event), Some(venue)) = (self.events.get(&show.value.event), self.venues.get(&show.value.venue))
        else {
            return;
        };
        if show.archived || event.archived || venue.archived {
            return;
        }
        let (e, v) = (&event.value, &venue.value);
        let mut fields = [""; FIELDS];
        let performers = e.performers.join(" \n ");
        let categories = e.categories.join(" \n ");
        let place = format!("{} \n {}", v.name, v.city);
        fields[TITLE] = &e.title;
        fields[PERFORMERS] = &performers;
        fields[CATEGORIES] = &categories;
        fields[VENUE] = &place;
        fields[DESCRIPTION] = &e.description;
        let doc = self.index.add(fields);
        if self.doc_shows.len() <= doc as usize {
            self.doc_shows.resize(doc as usize + 1, None);
        }
        self.doc_shows[doc as usize] = Some(id);
        entry.doc = Some(doc);
    }

    fn reindex_all(&mut self, shows: Vec<ShowId>) {
        for s in shows {
            self.reindex(s);
        }
    }

    /// The listing of a show, with its availability at `now`.
    fn listing(&self, entry: &ShowEntry, now: DateTime<Utc>) -> Option<Listing> {
        let show = &entry.record.value;
        let event = &self.events.get(&show.event)?.value;
        let venue = &self.venues.get(&show.venue)?.value;
        Some(Listing {
            availability: Availability::at(now, show, entry.summary.as_ref()),
            show: show.clone(),
            event: event.clone(),
            venue: venue.clone(),
            summary: entry.summary.clone(),
        })
    }

    /// Whether a listed show passes `filter` at `now`.
    fn passes(&self, entry: &ShowEntry, filter: &booking_core::catalog::ShowFilter, now: DateTime<Utc>) -> bool {
        let show = &entry.record.value;
        let (Some(event), Some(venue)) = (self.events.get(&show.event), self.venues.get(&show.venue)) else {
            return false;
        };
        entry.doc.is_some()
            && filter.accepts(show, &event.value, &venue.value, Availability::at(now, show, entry.summary.as_ref()))
    }
}

fn conflict(kind: RecordKind, id: uuid::Uuid, current: u64) -> CatalogError {
    CatalogError::Conflict { kind, id, current }
}

/// Whether `update` may replace `stored`: not archived, same version.
fn check<T>(stored: &Versioned<T>, update: &Update<T>, kind: RecordKind, id: uuid::Uuid) -> CatalogResult<()> {
    if stored.archived {
        return Err(CatalogError::Archived { kind, id });
    }
    if stored.version != update.version {
        return Err(conflict(kind, id, stored.version));
    }
    Ok(())
}

/// Replaces `stored` by `update` after [`check`].
fn replace<T: Clone>(
    stored: &mut Versioned<T>,
    update: &Update<T>,
    kind: RecordKind,
    id: uuid::Uuid,
) -> CatalogResult<()> {
    check(stored, update, kind, id)?;
    stored.value = update.value.clone();
    stored.version += 1;
    Ok(())
}

fn archive<T>(stored: &mut Versioned<T>) -> bool {
    if stored.archived {
        return false;
    }
    stored.archived = true;
    stored.version += 1;
    true
}

fn fresh<T: Clone>(value: &T) -> Versioned<T> {
    Versioned { value: value.clone(), version: 1, archived: false }
}

/// Orders results: higher score, then sooner, then by id.
fn order(a: &Found, b: &Found) -> std::cmp::Ordering {
    b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2))
}

type Found = (f64, DateTime<Utc>, ShowId);

/// The page of `all` from `offset`, in [`order`], and how many there are:
/// the page's results are selected first, so only they are sorted.
fn page(mut all: Vec<Found>, offset: u32, limit: u32) -> (Vec<Found>, u64) {
    let total = all.len() as u64;
    let want = (offset as usize).saturating_add(limit as usize);
    if want < all.len() {
        all.select_nth_unstable_by(want, order);
        all.truncate(want);
    }
    all.sort_unstable_by(order);
    let start = (offset as usize).min(all.len());
    (all.split_off(start), total)
}

#[async_trait]
impl Catalog for MemoryCatalog {
    async fn create_venue(&self, venue: &Venue) -> CatalogResult<Versioned<Venue>> {
        venue.validate()?;
        let mut st = self.write();
        if st.venues.contains_key(&venue.id) {
            return Err(CatalogError::Exists { kind: RecordKind::Venue, id: venue.id.as_uuid() });
        }
        let v = fresh(venue);
        st.venues.insert(venue.id, v.clone());
        Ok(v)
    }

    async fn update_venue(&self, update: &Update<Venue>) -> CatalogResult<Versioned<Venue>> {
        update.value.validate()?;
        let id = update.value.id;
        let mut st = self.write();
        let stored = st.venues.get_mut(&id).ok_or(CatalogError::UnknownVenue(id))?;
        replace(stored, update, RecordKind::Venue, id.as_uuid())?;
        let out = stored.clone();
        let shows = st.by_venue.get(&id).map(|s| s.iter().copied().collect()).unwrap_or_default();
        st.reindex_all(shows);
        Ok(out)
    }

    async fn archive_venue(&self, id: VenueId) -> CatalogResult<Versioned<Venue>> {
        let mut st = self.write();
        let stored = st.venues.get_mut(&id).ok_or(CatalogError::UnknownVenue(id))?;
        let changed = archive(stored);
        let out = stored.clone();
        if changed {
            let shows = st.by_venue.get(&id).map(|s| s.iter().copied().collect()).unwrap_or_default();
            st.reindex_all(shows);
        }
        Ok(out)
    }

    async fn venue(&self, id: VenueId) -> CatalogResult<Versioned<Venue>> {
        self.read().venues.get(&id).cloned().ok_or(CatalogError::UnknownVenue(id))
    }

    async fn create_event(&self, event: &Event) -> CatalogResult<Versioned<Event>> {
        event.validate()?;
        let mut st = self.write();
        if st.events.contains_key(&event.id) {
            return Err(CatalogError::Exists { kind: RecordKind::Event, id: event.id.as_uuid() });
        }
        let e = fresh(event);
        st.events.insert(event.id, e.clone());
        Ok(e)
    }

    async fn update_event(&self, update: &Update<Event>) -> CatalogResult<Versioned<Event>> {
        update.value.validate()?;
        let id = update.value.id;
        let mut st = self.write();
        let stored = st.events.get_mut(&id).ok_or(CatalogError::UnknownEvent(id))?;
        replace(stored, update, RecordKind::Event, id.as_uuid())?;
        let out = stored.clone();
        let shows = st.by_event.get(&id).map(|s| s.iter().copied().collect()).unwrap_or_default();
        st.reindex_all(shows);
        Ok(out)
    }

    async fn archive_event(&self, id: EventId) -> CatalogResult<Versioned<Event>> {
        let mut st = self.write();
        let stored = st.events.get_mut(&id).ok_or(CatalogError::UnknownEvent(id))?;
        let changed = archive(stored);
        let out = stored.clone();
        if changed {
            let shows = st.by_event.get(&id).map(|s| s.iter().copied().collect()).unwrap_or_default();
            st.reindex_all(shows);
        }
        Ok(out)
    }

    async fn event(&self, id: EventId) -> CatalogResult<Versioned<Event>> {
        self.read().events.get(&id).cloned().ok_or(CatalogError::UnknownEvent(id))
    }

    async fn create_show(&self, show: &Show) -> CatalogResult<Versioned<Show>> {
        show.validate()?;
        let mut st = self.write();
        if st.shows.contains_key(&show.id) {
            return Err(CatalogError::Exists { kind: RecordKind::Show, id: show.id.as_uuid() });
        }
        st.parents(show)?;
        let record = fresh(show);
        st.shows.insert(show.id, ShowEntry { record: record.clone(), summary: None, doc: None });
        st.by_event.entry(show.event).or_default().insert(show.id);
        st.by_venue.entry(show.venue).or_default().insert(show.id);
        st.reindex(show.id);
        Ok(record)
    }

    async fn update_show(&self, update: &Update<Show>) -> CatalogResult<Versioned<Show>> {
        let new = &update.value;
        new.validate()?;
        let mut st = self.write();
        let stored = &st.shows.get(&new.id).ok_or(CatalogError::UnknownShow(new.id))?.record;
        check(stored, update, RecordKind::Show, new.id.as_uuid())?;
        let old = stored.value.clone();
        st.parents(new)?;
        let entry = st.shows.get_mut(&new.id).ok_or(CatalogError::UnknownShow(new.id))?;
        replace(&mut entry.record, update, RecordKind::Show, new.id.as_uuid())?;
        let out = entry.record.clone();
        if let Some(s) = st.by_event.get_mut(&old.event) {
            s.remove(&new.id);
        }
        if let Some(s) = st.by_venue.get_mut(&old.venue) {
            s.remove(&new.id);
        }
        st.by_event.entry(new.event).or_default().insert(new.id);
        st.by_venue.entry(new.venue).or_default().insert(new.id);
        st.reindex(new.id);
        Ok(out)
    }

    async fn archive_show(&self, id: ShowId) -> CatalogResult<Versioned<Show>> {
        let mut st = self.write();
        let entry = st.shows.get_mut(&id).ok_or(CatalogError::UnknownShow(id))?;
        let changed = archive(&mut entry.record);
        let out = entry.record.clone();
        if changed {
            st.reindex(id);
        }
        Ok(out)
    }

    async fn show(&self, id: ShowId) -> CatalogResult<Versioned<Show>> {
        self.read().shows.get(&id).map(|e| e.record.clone()).ok_or(CatalogError::UnknownShow(id))
    }

    async fn listing(&self, id: ShowId) -> CatalogResult<Listing> {
        let now = self.clock.now();
        let st = self.read();
        let entry = st.shows.get(&id).ok_or(CatalogError::UnknownShow(id))?;
        st.listing(entry, now).ok_or(CatalogError::UnknownShow(id))
    }

    async fn set_availability(&self, show: ShowId, summary: &AvailabilitySummary) -> CatalogResult<bool> {
        let mut st = self.write();
        let entry = st.shows.get_mut(&show).ok_or(CatalogError::UnknownShow(show))?;
        if entry.summary.as_ref().is_some_and(|s| s.observed_at > summary.observed_at) {
            return Ok(false);
        }
        entry.summary = Some(summary.clone());
        Ok(true)
    }

    async fn list(&self, req: &ListShows) -> CatalogResult<Page<Listing>> {
        req.validate()?;
        let now = self.clock.now();
        let st = self.read();
        let found: Vec<Found> = st
            .shows
            .iter()
            .filter(|(_, e)| st.passes(e, &req.filter, now))
            .map(|(id, e)| (0.0, e.record.value.starts_at, *id))
            .collect();
        let (items, total) = page(found, req.offset, req.limit);
        let items = items.into_iter().filter_map(|(_, _, id)| st.listing(st.shows.get(&id)?, now)).collect();
        Ok(Page { items, total })
    }

    async fn search(&self, req: &SearchQuery) -> CatalogResult<Page<SearchHit>> {
        req.validate()?;
        let words = text::words(&req.text);
        let now = self.clock.now();
        let st = self.read();
        let found: Vec<Found> = st
            .index
            .search(&words)
            .into_iter()
            .filter_map(|(doc, score)| {
                let id = (*st.doc_shows.get(doc as usize)?)?;
                let entry = st.shows.get(&id)?;
                st.passes(entry, &req.filter, now).then_some((score, entry.record.value.starts_at, id))
            })
            .collect();
        let (items, total) = page(found, req.offset, req.limit);
        let items = items
            .into_iter()
            .filter_map(|(score, _, id)| Some(SearchHit { listing: st.listing(st.shows.get(&id)?, now)?, score }))
            .collect();
        Ok(Page { items, total })
    }
}
