//! Conversion to and from the inventory's [`VenueLayout`] and pools.
//!
//! A map becomes a layout (sections, rows, seats with labels, coordinates
//! and categories, in map order) plus one pool per area. Back from a
//! layout, rows of evenly spaced, consecutively numbered seats of one
//! category become runs; what a layout does not hold (category names and
//! colours, seat flags, explicit seat ids, area shapes, the stage) comes
//! back as defaults.

use super::{Area, CategoryDef, Rect, Row, Seat, SeatMap, SeatMapError, SeatRun, Section};
use crate::ids::PriceCategory;
use crate::layout::{PoolSpec, RowSpec, SeatSpec, SectionSpec, ShowSpec, VenueLayout};

/// Colours given to categories a layout names, in turn.
const PALETTE: [&str; 8] = ["#1565c0", "#2e7d32", "#c62828", "#6a1b9a", "#ef6c00", "#00838f", "#ad1457", "#4e342e"];

impl SeatMap {
    /// The inventory's layout: every seat in map order (its
    /// [`SeatId`](crate::SeatId) is its index), with its label,
    /// coordinates and category.
    pub fn to_layout(&self) -> VenueLayout {
        let mut seats = self.seats().into_iter();
        VenueLayout {
            sections: self
                .sections
                .iter()
                .map(|s| SectionSpec {
                    name: s.name.clone(),
                    rows: s
                        .rows
                        .iter()
                        .map(|r| RowSpec {
                            name: r.name.clone(),
                            seats: seats.by_ref().take(r.seat_count()).map(seat_spec).collect(),
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    /// One pool per area, in area order (its [`PoolId`](crate::PoolId) is
    /// its index).
    pub fn pools(&self) -> Vec<PoolSpec> {
        self.areas
            .iter()
            .map(|a| PoolSpec { name: a.name.clone(), capacity: a.capacity, category: PriceCategory(a.category) })
            .collect()
    }

    /// The inventory's show for this map, after validating it: its layout
    /// and pools, a fresh id and the default hold policy.
    ///
    /// Errors: the map's issues ([`SeatMap::validate`]), then the show's
    /// ([`ShowSpec::validate`]).
    pub fn to_show_spec(&self, name: impl Into<String>) -> Result<ShowSpec, SeatMapError> {
        self.validate()?;
        let mut spec = ShowSpec::new(name, self.to_layout());
        spec.pools = self.pools();
        spec.validate().map_err(SeatMapError::Show)?;
        Ok(spec)
    }

    /// A map of an inventory layout and its pools. Categories get names
    /// ("Category 3") and colours of a fixed palette; areas are laid out in
    /// a row below the seats; the seat size is the smallest distance
    /// between neighbours in a row (at least 1), so a layout whose rows are
    /// at least that far apart gives a valid map.
    pub fn from_layout(name: impl Into<String>, layout: &VenueLayout, pools: &[PoolSpec]) -> SeatMap {
        let mut map = SeatMap::new(name, seat_size(layout));
        let mut categories: Vec<u16> = layout
            .sections
            .iter()
            .flat_map(|s| &s.rows)
            .flat_map(|r| &r.seats)
            .map(|s| s.category.0)
            .chain(pools.iter().map(|p| p.category.0))
            .collect();
        categories.sort_unstable();
        categories.dedup();
        map.categories = categories
            .iter()
            .enumerate()
            .map(|(i, &id)| CategoryDef {
                id,
                name: format!("Category {id}"),
                color: PALETTE[i % PALETTE.len()].to_owned(),
            })
            .collect();
        map.sections = layout
            .sections
            .iter()
            .enumerate()
            .map(|(i, s)| Section {
                id: format!("s{}", i + 1),
                name: s.name.clone(),
                rows: s.rows.iter().map(row_of).collect(),
            })
            .collect();
        let bottom =
            layout.sections.iter().flat_map(|s| &s.rows).flat_map(|r| &r.seats).map(|s| s.y).max().unwrap_or(0);
        let size = map.seat_size as i32;
        let (width, height) = (size.saturating_mul(10).max(1), size.saturating_mul(5).max(1));
        map.areas = pools
            .iter()
            .enumerate()
            .map(|(i, p)| Area {
                id: format!("a{}", i + 1),
                name: p.name.clone(),
                capacity: p.capacity,
                category: p.category.0,
                rect: Rect {
                    x: (i as i32).saturating_mul(width.saturating_add(size)),
                    y: bottom.saturating_add(size.saturating_mul(2)),
                    width: width as u32,
                    height: height as u32,
                },
                accessible: false,
            })
            .collect();
        map
    }
}

/// The smallest distance (the larger of |dx| and |dy|) between neighbours
/// in a row, at least 1 and at most the largest seat size.
fn seat_size(layout: &VenueLayout) -> u32 {
    let mut size = u32::MAX;
    for row in layout.sections.iter().flat_map(|s| &s.rows) {
        for w in row.seats.windows(2) {
            let d = (i64::from(w[1].x) - i64::from(w[0].x)).abs().max((i64::from(w[1].y) - i64::from(w[0].y)).abs());
            size = size.min(u32::try_from(d).unwrap_or(u32::MAX));
        }
    }
    if size == u32::MAX { 10 } else { size.clamp(1, super::MAX_SEAT_SIZE) }
}

/// A layout row as a run when its seats are evenly spaced, numbered from
/// 0 or more by a constant step and of one category; else seat by seat.
fn row_of(row: &RowSpec) -> Row {
    Row { name: row.name.clone(), run: run_of(&row.seats), seats: Vec::new() }.or_seats(&row.seats)
}

impl Row {
    fn or_seats(mut self, seats: &[SeatSpec]) -> Row {
        if self.run.is_none() {
            self.seats = seats
                .iter()
                .map(|s| Seat {
                    id: None,
                    label: s.label.clone(),
                    x: s.x,
                    y: s.y,
                    category: s.category.0,
                    accessible: false,
                    obstructed: false,
                })
                .collect();
        }
        self
    }
}

fn run_of(seats: &[SeatSpec]) -> Option<SeatRun> {
    let first = seats.first()?;
    let numbers: Vec<u32> = seats.iter().map(|s| canonical_number(&s.label)).collect::<Option<_>>()?;
    let step = match seats.get(1) {
        Some(_) => numbers[1].checked_sub(numbers[0]).filter(|&s| s >= 1)?,
        None => 1,
    };
    let (dx, dy) = match seats.get(1) {
        Some(second) => (second.x.checked_sub(first.x)?, second.y.checked_sub(first.y)?),
        None => (0, 0),
    };
    let even = seats.iter().enumerate().all(|(i, s)| {
        let i = i as i64;
        s.category == first.category
            && i64::from(s.x) == i64::from(first.x) + i * i64::from(dx)
            && i64::from(s.y) == i64::from(first.y) + i * i64::from(dy)
            && i64::from(numbers[i as usize]) == i64::from(numbers[0]) + i * i64::from(step)
    });
    (even && seats.len() <= super::MAX_RUN as usize).then(|| SeatRun {
        count: seats.len() as u32,
        first: numbers[0],
        step,
        x: first.x,
        y: first.y,
        dx,
        dy,
        category: first.category.0,
        accessible: Vec::new(),
        obstructed: Vec::new(),
    })
}

/// The label as a number, when it is one written the usual way ("12",
/// not "012" or "+12"), so that the run's labels read back the same.
fn canonical_number(label: &str) -> Option<u32> {
    let n: u32 = label.parse().ok()?;
    (n.to_string() == label).then_some(n)
}

fn seat_spec(p: super::PlacedSeat) -> SeatSpec {
    let clamp = |v: i64| v.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
    SeatSpec { label: p.label, x: clamp(p.x), y: clamp(p.y), category: p.category }
}
