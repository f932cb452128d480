//! Shows, venue layouts, general-admission pools and hold policies.

use crate::error::InvalidRequest;
use crate::ids::{PoolId, PriceCategory, SeatId, SectionId, ShowId};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The most seats one show may have.
pub const MAX_SEATS_PER_SHOW: usize = 2_000_000;
/// The most general-admission pools one show may have.
pub const MAX_POOLS_PER_SHOW: usize = 1_000;

/// Everything a backend needs to create a show's inventory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShowSpec {
    /// The show's id.
    pub id: ShowId,
    /// A display name.
    pub name: String,
    /// Reserved seating.
    pub layout: VenueLayout,
    /// General-admission pools.
    pub pools: Vec<PoolSpec>,
    /// Hold limits.
    pub policy: HoldPolicy,
}

impl ShowSpec {
    /// A show with a fresh id, the given layout, no pools and the default policy.
    pub fn new(name: impl Into<String>, layout: VenueLayout) -> Self {
        ShowSpec { id: ShowId::new(), name: name.into(), layout, pools: Vec::new(), policy: HoldPolicy::default() }
    }

    /// Adds a general-admission pool.
    pub fn with_pool(mut self, name: impl Into<String>, capacity: u32, category: PriceCategory) -> Self {
        self.pools.push(PoolSpec { name: name.into(), capacity, category });
        self
    }

    /// Replaces the hold policy.
    pub fn with_policy(mut self, policy: HoldPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Checks that the show can be built: seats and pools within limits,
    /// pools with capacity, a sane policy.
    pub fn validate(&self) -> Result<(), InvalidRequest> {
        let bad = |m: &str| Err(InvalidRequest::InvalidShow(m.to_owned()));
        let seats = self.layout.seat_count();
        if seats > MAX_SEATS_PER_SHOW {
            return bad("too many seats");
        }
        if seats == 0 && self.pools.is_empty() {
            return bad("a show needs seats or a pool");
        }
        if let Some(i) = self.layout.sections.iter().position(|s| s.rows.is_empty()) {
            return Err(InvalidRequest::InvalidShow(format!("section {i} has no rows")));
        }
        for (i, section) in self.layout.sections.iter().enumerate() {
            if let Some(j) = section.rows.iter().position(|r| r.seats.is_empty()) {
                return Err(InvalidRequest::InvalidShow(format!("section {i}, row {j} has no seats")));
            }
        }
        if self.pools.len() > MAX_POOLS_PER_SHOW {
            return bad("too many pools");
        }
        if self.pools.iter().any(|p| p.capacity == 0) {
            return bad("a pool needs capacity");
        }
        self.policy.validate()
    }

    /// The pool with this id.
    pub fn pool(&self, pool: PoolId) -> Option<&PoolSpec> {
        self.pools.get(pool.0 as usize)
    }
}

/// Reserved seating: sections of rows of seats. Order matters: sections
/// and rows listed first are the better ones, and seats next to each other
/// in a row's list are adjacent in the venue.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VenueLayout {
    /// The sections, best first.
    pub sections: Vec<SectionSpec>,
}

/// A section of the venue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SectionSpec {
    /// Display name ("Floor A").
    pub name: String,
    /// Rows, best first.
    pub rows: Vec<RowSpec>,
}

/// A row of seats; adjacent entries are adjacent seats.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowSpec {
    /// Display name ("12").
    pub name: String,
    /// Seats, left to right.
    pub seats: Vec<SeatSpec>,
}

/// One seat as drawn on the seat map.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatSpec {
    /// Display label ("12").
    pub label: String,
    /// Seat-map x coordinate.
    pub x: i32,
    /// Seat-map y coordinate.
    pub y: i32,
    /// Price category.
    pub category: PriceCategory,
}

/// A seat with its place in the layout, as flattened by [`VenueLayout::seats`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatInfo {
    /// The seat's id (its index in layout order).
    pub id: SeatId,
    /// The section.
    pub section: SectionId,
    /// Row index within the section (0 is the best row).
    pub row: u32,
    /// Position within the row (0 is the leftmost seat).
    pub position: u32,
    /// Price category.
    pub category: PriceCategory,
}

impl VenueLayout {
    /// A rectangular layout: `sections` sections of `rows` rows of
    /// `seats_per_row` seats, every seat in `category`. Handy for tests and
    /// benchmarks.
    pub fn grid(sections: u32, rows: u32, seats_per_row: u32, category: PriceCategory) -> Self {
        VenueLayout {
            sections: (0..sections)
                .map(|s| SectionSpec {
                    name: format!("S{}", s + 1),
                    rows: (0..rows)
                        .map(|r| RowSpec {
                            name: format!("{}", r + 1),
                            seats: (0..seats_per_row)
                                .map(|n| SeatSpec {
                                    label: format!("{}", n + 1),
                                    x: n as i32,
                                    y: (s * rows + r) as i32,
                                    category,
                                })
                                .collect(),
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    /// How many seats the layout has.
    pub fn seat_count(&self) -> usize {
        self.sections.iter().flat_map(|s| &s.rows).map(|r| r.seats.len()).sum()
    }

    /// Every seat in id order.
    pub fn seats(&self) -> Vec<SeatInfo> {
        let mut out = Vec::with_capacity(self.seat_count());
        for (si, section) in self.sections.iter().enumerate() {
            for (ri, row) in section.rows.iter().enumerate() {
                for (pi, seat) in row.seats.iter().enumerate() {
                    out.push(SeatInfo {
                        id: SeatId(out.len() as u32),
                        section: SectionId(si as u32),
                        row: ri as u32,
                        position: pi as u32,
                        category: seat.category,
                    });
                }
            }
        }
        out
    }

    /// Rows in preference order, each as the contiguous range of seat ids it
    /// covers, with its section.
    pub fn rows(&self) -> Vec<RowRange> {
        let mut out = Vec::new();
        let mut next = 0u32;
        for (si, section) in self.sections.iter().enumerate() {
            for row in &section.rows {
                let len = row.seats.len() as u32;
                out.push(RowRange { section: SectionId(si as u32), first: SeatId(next), len });
                next += len;
            }
        }
        out
    }
}

/// A compact index of a layout: rows as seat ranges and price categories as
/// runs, a few bytes per row rather than per seat. What backends keep in
/// memory instead of the whole [`VenueLayout`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayoutIndex {
    /// Rows best first.
    pub rows: Vec<RowRange>,
    /// (first seat, category) at each change of price category, ascending.
    runs: Vec<(u32, PriceCategory)>,
    seat_count: u32,
}

impl LayoutIndex {
    /// Indexes `layout`.
    pub fn new(layout: &VenueLayout) -> Self {
        let mut runs: Vec<(u32, PriceCategory)> = Vec::new();
        let mut next = 0u32;
        for seat in layout.sections.iter().flat_map(|s| &s.rows).flat_map(|r| &r.seats) {
            if runs.last().is_none_or(|(_, c)| *c != seat.category) {
                runs.push((next, seat.category));
            }
            next += 1;
        }
        LayoutIndex { rows: layout.rows(), runs, seat_count: next }
    }

    /// Number of seats.
    pub fn seat_count(&self) -> usize {
        self.seat_count as usize
    }

    /// The price category of a seat of the layout.
    pub fn category(&self, seat: SeatId) -> PriceCategory {
        let i = self.runs.partition_point(|(first, _)| *first <= seat.0);
        self.runs.get(i.wrapping_sub(1)).map_or(PriceCategory(0), |r| r.1)
    }
}

/// A row as a range of seat ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RowRange {
    /// The row's section.
    pub section: SectionId,
    /// The leftmost seat.
    pub first: SeatId,
    /// Number of seats.
    pub len: u32,
}

/// A general-admission pool: `capacity` interchangeable units.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolSpec {
    /// Display name ("Standing").
    pub name: String,
    /// Units for sale.
    pub capacity: u32,
    /// Price category.
    pub category: PriceCategory,
}

/// How long holds last and how much one owner may hold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldPolicy {
    /// How long a hold (or an extension) lasts. Default 8 minutes.
    pub hold_ttl: Duration,
    /// How many times one hold may be extended. Default 2.
    pub max_renewals: u32,
    /// The longest a hold may live, counted from when it was taken, however
    /// often it is extended. Default 15 minutes.
    pub max_hold_time: Duration,
    /// The most seats plus pool units one owner may hold at once in one
    /// show; `None` for no limit. Default 8.
    pub max_held_per_owner: Option<u32>,
    /// The most seats or units one request may take. Default 10.
    pub max_per_request: u32,
    /// The most seats plus pool units one owner may have in one show,
    /// counting live holds and sold, not refunded, items alike; `None` (the
    /// default) for no limit. Decided with every hold, atomically with it:
    /// a sale moves the owner's units from held to sold, a refund frees
    /// them, an expired or released hold frees only what it held. Shows
    /// stored before this field existed load with `None`.
    #[serde(default)]
    pub max_tickets_per_owner: Option<u32>,
    /// The most seats plus pool units sold, not refunded, to one payer (a
    /// [`PayerKey`](crate::PayerKey): one payment method, whoever holds it)
    /// in one show; `None` (the default) for no limit. Decided with the
    /// sale, atomically with it: a sale that would take the payer past it
    /// is refused and changes nothing, a refund frees what it returned, a
    /// replayed sale counts once, a sale without a payer is not counted.
    /// Shows stored before this field existed load with `None`.
    #[serde(default)]
    pub max_tickets_per_payment: Option<u32>,
}

impl Default for HoldPolicy {
    fn default() -> Self {
        HoldPolicy {
            hold_ttl: Duration::from_secs(8 * 60),
            max_renewals: 2,
            max_hold_time: Duration::from_secs(15 * 60),
            max_held_per_owner: Some(8),
            max_per_request: 10,
            max_tickets_per_owner: None,
            max_tickets_per_payment: None,
        }
    }
}

impl HoldPolicy {
    /// Checks the policy is usable.
    pub fn validate(&self) -> Result<(), InvalidRequest> {
        let bad = |m: &str| Err(InvalidRequest::InvalidShow(m.to_owned()));
        if self.hold_ttl.as_millis() == 0 || self.hold_ttl > Duration::from_secs(24 * 3600) {
            return bad("hold_ttl must be between 1 ms and 24 h");
        }
        if self.max_hold_time < self.hold_ttl || self.max_hold_time > Duration::from_secs(7 * 24 * 3600) {
            return bad("max_hold_time must be between hold_ttl and 7 days");
        }
        if self.max_per_request == 0 || self.max_per_request > 10_000 {
            return bad("max_per_request must be 1..=10000");
        }
        if self.max_held_per_owner == Some(0) {
            return bad("max_held_per_owner must be at least 1");
        }
        if self.max_tickets_per_owner == Some(0) {
            return bad("max_tickets_per_owner must be at least 1");
        }
        if self.max_tickets_per_payment == Some(0) {
            return bad("max_tickets_per_payment must be at least 1");
        }
        Ok(())
    }

    /// `hold_ttl` in milliseconds.
    pub fn ttl_millis(&self) -> i64 {
        self.hold_ttl.as_millis() as i64
    }

    /// `max_hold_time` in milliseconds.
    pub fn max_hold_millis(&self) -> i64 {
        self.max_hold_time.as_millis() as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_numbers_seats_in_layout_order() {
        let l = VenueLayout::grid(2, 3, 4, PriceCategory(1));
        let seats = l.seats();
        assert_eq!(seats.len(), 24);
        assert_eq!(seats[13].section, SectionId(1));
        assert_eq!(seats[13].row, 0);
        assert_eq!(seats[13].position, 1);
        let rows = l.rows();
        assert_eq!(rows.len(), 6);
        assert_eq!(rows[4].first, SeatId(16));
    }

    #[test]
    fn validation_rejects_empty_and_bad_policies() {
        let empty = ShowSpec::new("x", VenueLayout::default());
        assert!(empty.validate().is_err());
        let ok = ShowSpec::new("x", VenueLayout::grid(1, 1, 1, PriceCategory(0)));
        assert!(ok.validate().is_ok());
        let zero_pool = ok.clone().with_pool("ga", 0, PriceCategory(0));
        assert!(zero_pool.validate().is_err());
        let p = HoldPolicy { max_hold_time: Duration::from_secs(1), ..HoldPolicy::default() };
        assert!(ok.clone().with_policy(p).validate().is_err());
        let p = HoldPolicy { max_tickets_per_owner: Some(0), ..HoldPolicy::default() };
        assert!(ok.clone().with_policy(p).validate().is_err());
        let p = HoldPolicy { max_tickets_per_owner: Some(1), ..HoldPolicy::default() };
        assert!(ok.clone().with_policy(p).validate().is_ok());
        let p = HoldPolicy { max_tickets_per_payment: Some(0), ..HoldPolicy::default() };
        assert!(ok.clone().with_policy(p).validate().is_err());
        let p = HoldPolicy { max_tickets_per_payment: Some(1), ..HoldPolicy::default() };
        assert!(ok.with_policy(p).validate().is_ok());
    }

    #[test]
    fn policies_stored_without_the_ticket_cap_still_load() {
        let mut v = serde_json::to_value(HoldPolicy::default()).expect("to json");
        v.as_object_mut().expect("object").remove("max_tickets_per_owner");
        v.as_object_mut().expect("object").remove("max_tickets_per_payment");
        let p: HoldPolicy = serde_json::from_value(v).expect("loads");
        assert_eq!(p, HoldPolicy::default());
    }
}
