//! Show specifications and venue layouts from untrusted input.
//!
//! The first byte of an input chooses how the rest becomes a show:
//!
//! - 0: JSON for a whole `ShowSpec` (policy, pools, layout);
//! - 1: JSON for a `VenueLayout`, in a show with the default policy;
//! - 2: `VenueLayout::grid` with arbitrary section, row and seat numbers
//!   (skipped past [`MAX_SEATS`] seats, rows or sections, to keep each run
//!   small), arbitrary pools and an arbitrary policy;
//! - 3: sections of rows of arbitrary lengths and price categories.
//!
//! Nothing may panic. Every show must survive a JSON round trip unchanged.
//! [`ShowSpec::validate`], `MemoryInventory::create_show` and
//! `ShowModel::new` must agree: all three accept, or all three refuse with
//! the same error. An accepted show must be read back as created and give
//! the backend and the model the same snapshot and audit, a snapshot that
//! counts every seat of the layout once, and the same answers to a
//! best-available hold in each section.

use super::{ready, same};
use arbitrary::{Arbitrary, Unstructured};
use booking_core::testkit::model::ShowModel;
use booking_core::{
    HoldBest, HoldPolicy, InventoryError, LayoutIndex, ManualClock, OwnerId, PriceCategory, RowSpec, SeatId,
    SeatInventory, SeatSpec, SectionId, SectionSpec, ShowSpec, VenueLayout,
};
use booking_memory::MemoryInventory;
use std::time::Duration;

/// The most seats a generated layout (modes 2 and 3) may have.
pub const MAX_SEATS: u64 = 4_096;

/// Decodes `data` into a show and checks it; panics on a discrepancy.
pub fn run(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    let spec = match mode % 4 {
        0 => serde_json::from_slice::<ShowSpec>(rest).ok(),
        1 => serde_json::from_slice::<VenueLayout>(rest).ok().map(|layout| ShowSpec::new("json", layout)),
        2 => Grid::arbitrary_take_rest(Unstructured::new(rest)).ok().and_then(|g| g.spec()),
        _ => Rows::arbitrary_take_rest(Unstructured::new(rest)).ok().map(|r| r.spec()),
    };
    if let Some(spec) = spec {
        check(&spec);
    }
}

/// A rectangular layout from arbitrary numbers.
#[derive(Arbitrary, Debug)]
pub struct Grid {
    /// Sections.
    pub sections: u32,
    /// Rows per section.
    pub rows: u32,
    /// Seats per row.
    pub seats_per_row: u32,
    /// Every seat's price category.
    pub category: u16,
    /// The policy.
    pub policy: RawPolicy,
    /// Pool capacities (at most 4 are used).
    pub pools: Vec<u32>,
}

impl Grid {
    /// The show, unless it would have more than [`MAX_SEATS`] seats.
    pub fn spec(&self) -> Option<ShowSpec> {
        // Empty sections and rows cost memory too: bound them as seats.
        let rows = u64::from(self.sections) * u64::from(self.rows);
        let seats = rows.checked_mul(u64::from(self.seats_per_row));
        if u64::from(self.sections) > MAX_SEATS || rows > MAX_SEATS || seats.is_none_or(|n| n > MAX_SEATS) {
            return None;
        }
        let layout = VenueLayout::grid(self.sections, self.rows, self.seats_per_row, PriceCategory(self.category));
        Some(self.policy.show(layout, &self.pools))
    }
}

/// Sections of rows of arbitrary lengths.
#[derive(Arbitrary, Debug)]
pub struct Rows {
    /// The policy.
    pub policy: RawPolicy,
    /// Pool capacities (at most 4 are used).
    pub pools: Vec<u32>,
    /// Sections (at most 8) of rows (at most 16 each) as (seats mod 1024,
    /// price category of the row); rows past [`MAX_SEATS`] seats in all
    /// are left out.
    pub sections: Vec<Vec<(u16, u16)>>,
}

impl Rows {
    /// The show.
    pub fn spec(&self) -> ShowSpec {
        let mut total = 0u64;
        let mut sections = Vec::new();
        for (si, rows) in self.sections.iter().take(8).enumerate() {
            let mut section = SectionSpec { name: format!("S{si}"), rows: Vec::new() };
            for (ri, &(len, category)) in rows.iter().take(16).enumerate() {
                let len = u32::from(len % 1024);
                total += u64::from(len);
                if total > MAX_SEATS {
                    break;
                }
                let seats = (0..len)
                    .map(|n| SeatSpec {
                        label: format!("{}", n + 1),
                        x: n as i32,
                        y: ri as i32,
                        category: PriceCategory(category),
                    })
                    .collect();
                section.rows.push(RowSpec { name: format!("{}", ri + 1), seats });
            }
            sections.push(section);
        }
        self.policy.show(VenueLayout { sections }, &self.pools)
    }
}

/// A hold policy from arbitrary numbers (mostly invalid).
#[derive(Arbitrary, Debug)]
pub struct RawPolicy {
    /// Use the default policy instead.
    pub default: bool,
    /// Hold TTL in ms.
    pub ttl_ms: u64,
    /// Renewals.
    pub renewals: u32,
    /// Hold lifetime in ms.
    pub lifetime_ms: u64,
    /// Per-owner limit.
    pub per_owner: Option<u32>,
    /// Per-request maximum.
    pub per_request: u32,
}

impl RawPolicy {
    fn show(&self, layout: VenueLayout, pools: &[u32]) -> ShowSpec {
        let policy = if self.default {
            HoldPolicy::default()
        } else {
            HoldPolicy {
                hold_ttl: Duration::from_millis(self.ttl_ms),
                max_renewals: self.renewals,
                max_hold_time: Duration::from_millis(self.lifetime_ms),
                max_held_per_owner: self.per_owner,
                max_per_request: self.per_request,
                max_tickets_per_owner: None,
                max_tickets_per_payment: None,
            }
        };
        let mut spec = ShowSpec::new("fuzz", layout).with_policy(policy);
        for (i, &capacity) in pools.iter().take(4).enumerate() {
            spec = spec.with_pool(format!("P{i}"), capacity, PriceCategory(9));
        }
        spec
    }
}

/// Checks one show; panics on a discrepancy.
pub fn check(spec: &ShowSpec) {
    let json = serde_json::to_vec(spec).expect("a show serializes");
    let back: ShowSpec = serde_json::from_slice(&json).expect("a serialized show parses");
    assert_eq!(&back, spec, "the JSON round trip changed the show");

    let valid = spec.validate().map_err(InventoryError::from);
    let clock = ManualClock::fixed();
    let inv = MemoryInventory::with_clock(clock.shared());
    let created = inv.create_show_sync(spec);
    same(&"create_show (memory) vs validate", &created, &valid);
    let mut model = match ShowModel::new(spec.clone()) {
        Ok(model) => model,
        Err(e) => {
            same(&"create_show (model) vs validate", &Err(e), &valid);
            return;
        }
    };
    assert!(created.is_ok(), "the model accepted a show the backend refused");
    let now = booking_core::Clock::now_millis(&clock);

    let layout = &spec.layout;
    let seats = layout.seats();
    let snap = inv.snapshot_sync(spec.id).expect("snapshot");
    assert_eq!(snap, model.snapshot(now), "snapshots differ");
    assert_eq!(snap.seats.len(), seats.len(), "the snapshot does not show every seat");
    let counted: u32 = snap.categories.iter().map(|c| c.counts.available).sum();
    assert_eq!(counted as usize, seats.len(), "the category counts miss or double-count seats");
    assert_eq!(snap.pools.len(), spec.pools.len());
    let index = LayoutIndex::new(layout);
    for info in &seats {
        assert_eq!(index.category(info.id), info.category, "the layout index miscategorizes {}", info.id);
    }
    let mut next = 0u32;
    for row in layout.rows() {
        assert_eq!(row.first, SeatId(next), "rows do not cover the seats contiguously");
        next += row.len;
    }
    assert_eq!(next as usize, seats.len());
    assert_eq!(ready(inv.audit(spec.id)).expect("audit"), model.audit(now), "audits differ");
    same(&"show_spec", &ready(inv.show_spec(spec.id)), &Ok(spec.clone()));
    same(&"list_shows", &ready(inv.list_shows()), &Ok(vec![spec.id]));

    // A best-available hold in each section (and one per price category
    // of its first seat), by owners of their own.
    let quantity = spec.policy.max_per_request.min(3);
    for (i, section) in layout.sections.iter().enumerate().take(8) {
        let first = section.rows.iter().flat_map(|r| &r.seats).next().map(|s| s.category);
        for category in [None, first] {
            let req = HoldBest {
                show: spec.id,
                owner: OwnerId::from_u128(0x0300 + i as u128 * 2 + u128::from(category.is_some())),
                quantity,
                section: Some(SectionId(i as u32)),
                category,
            };
            let got = inv.hold_best_sync(&req);
            let hold = got.as_ref().map_or_else(|_| booking_core::HoldId::from_u128(1), |h| h.token.hold);
            let want = model.hold_best(&req, hold, now);
            same(&req, &got, &want);
        }
    }
    let snap = inv.snapshot_sync(spec.id).expect("snapshot");
    assert_eq!(snap, model.snapshot(now), "snapshots differ after best-available holds");
}
