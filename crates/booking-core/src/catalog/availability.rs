//! Availability on a listing: a summary of the inventory's counts that the
//! catalog stores per show, so a search answers "on sale / selling fast /
//! sold out" without reading a seat.
//!
//! The summary is computed here, from an inventory [`Snapshot`] (its
//! per-status totals and per-category counts), by one rule for every
//! backend; [`super::AvailabilitySync`] keeps it fresh. What a listing
//! shows combines it with the show's sale window at the catalog's clock:
//! [`Availability::at`].

use super::{InvalidField, Problem, Show};
use crate::ids::PriceCategory;
use crate::inventory::Snapshot;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a listing says about buying tickets for a show.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Availability {
    /// Sales have not opened yet (before `on_sale_at`).
    Upcoming,
    /// On sale, plenty left.
    OnSale,
    /// On sale, few left (see [`AvailabilityPolicy`]).
    SellingFast,
    /// On sale, nothing left to hold: every seat and unit is held, sold or
    /// blocked. Held seats may come back when their holds end.
    SoldOut,
    /// Sales have closed (from `off_sale_at`, or `starts_at`).
    SalesEnded,
}

impl Availability {
    /// Every availability, in order.
    pub const ALL: [Availability; 5] = [
        Availability::Upcoming,
        Availability::OnSale,
        Availability::SellingFast,
        Availability::SoldOut,
        Availability::SalesEnded,
    ];

    /// The availability of `show` at `now`: `Upcoming` before its sales
    /// open, `SalesEnded` from when they close, else its summary's level
    /// (`OnSale` while no summary was stored yet). Every backend answers by
    /// this rule; a SQL store computes the same with a `CASE` over the
    /// stored columns.
    pub fn at(now: DateTime<Utc>, show: &Show, summary: Option<&AvailabilitySummary>) -> Availability {
        if now < show.on_sale_at {
            Availability::Upcoming
        } else if now >= show.sales_end() {
            Availability::SalesEnded
        } else {
            match summary.map(|s| s.level) {
                None | Some(SalesLevel::Available) => Availability::OnSale,
                Some(SalesLevel::SellingFast) => Availability::SellingFast,
                Some(SalesLevel::SoldOut) => Availability::SoldOut,
            }
        }
    }

    /// True while tickets can be bought.
    pub fn is_buyable(self) -> bool {
        matches!(self, Availability::OnSale | Availability::SellingFast)
    }
}

/// How much of a show's inventory is left, as of when it was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SalesLevel {
    /// Plenty left.
    Available,
    /// At or below the policy's threshold, not zero.
    SellingFast,
    /// Nothing available.
    SoldOut,
}

/// When a show is "selling fast".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AvailabilityPolicy {
    /// Selling fast when the available seats and units are at most this
    /// percentage of those for sale (not blocked). Default 20; 0 never
    /// says selling fast.
    pub selling_fast_percent: u8,
}

impl Default for AvailabilityPolicy {
    fn default() -> Self {
        AvailabilityPolicy { selling_fast_percent: 20 }
    }
}

impl AvailabilityPolicy {
    /// Checks the percentage is at most 100.
    pub fn validate(&self) -> Result<(), InvalidField> {
        if self.selling_fast_percent > 100 {
            return Err(InvalidField::new("/selling_fast_percent", Problem::OutOfRange));
        }
        Ok(())
    }

    /// The level of a show with `available` of `capacity` left.
    pub fn level(&self, available: u32, capacity: u32) -> SalesLevel {
        if available == 0 {
            SalesLevel::SoldOut
        } else if u64::from(available) * 100 <= u64::from(capacity) * u64::from(self.selling_fast_percent) {
            SalesLevel::SellingFast
        } else {
            SalesLevel::Available
        }
    }
}

/// A show's inventory counts, summed over seats and general-admission
/// units, as the catalog stores them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AvailabilitySummary {
    /// The level the counts come to, by the policy of whoever computed it.
    pub level: SalesLevel,
    /// Seats and units for sale: all but blocked seats.
    pub capacity: u32,
    /// Free to hold now.
    pub available: u32,
    /// Under live holds.
    pub held: u32,
    /// Sold.
    pub sold: u32,
    /// Price categories with at least one seat or unit available,
    /// ascending.
    pub categories: Vec<PriceCategory>,
    /// When the counts were read. A store keeps the newest summary: one
    /// observed earlier than the stored one is ignored.
    pub observed_at: DateTime<Utc>,
}

impl AvailabilitySummary {
    /// The summary of `snapshot`, read at `observed_at`. `pool_categories`
    /// gives each pool's price category, by pool id (the show's
    /// [`crate::PoolSpec`]s); a pool without one counts in the totals only.
    ///
    /// Reads the snapshot's counts: its per-category counts and its pools,
    /// not its seats one by one.
    pub fn from_snapshot(
        snapshot: &Snapshot,
        pool_categories: &[PriceCategory],
        policy: &AvailabilityPolicy,
        observed_at: DateTime<Utc>,
    ) -> Self {
        let (mut capacity, mut available, mut held, mut sold) = (0u32, 0u32, 0u32, 0u32);
        let mut categories = Vec::new();
        for c in &snapshot.categories {
            let n = &c.counts;
            capacity = capacity.saturating_add(n.available).saturating_add(n.held).saturating_add(n.sold);
            available = available.saturating_add(n.available);
            held = held.saturating_add(n.held);
            sold = sold.saturating_add(n.sold);
            if n.available > 0 {
                categories.push(c.category);
            }
        }
        for p in &snapshot.pools {
            capacity = capacity.saturating_add(p.capacity);
            available = available.saturating_add(p.available);
            held = held.saturating_add(p.held);
            sold = sold.saturating_add(p.sold);
            if let (true, Some(c)) = (p.available > 0, pool_categories.get(p.pool.0 as usize)) {
                categories.push(*c);
            }
        }
        categories.sort_unstable();
        categories.dedup();
        AvailabilitySummary {
            level: policy.level(available, capacity),
            capacity,
            available,
            held,
            sold,
            categories,
            observed_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::fsm::SeatStatus;
    use crate::ids::{EventId, PoolId, SeatId, ShowId, VenueId};
    use crate::inventory::{PoolView, SeatView};
    use crate::layout::VenueLayout;
    use chrono::Duration;

    fn snapshot(statuses: &[SeatStatus], pool: Option<(u32, u32, u32)>) -> Snapshot {
        let layout = VenueLayout::grid(1, 1, statuses.len() as u32, PriceCategory(1));
        let seats = statuses
            .iter()
            .enumerate()
            .map(|(i, &status)| SeatView { seat: SeatId(i as u32), status, version: 1 })
            .collect();
        let pools = pool
            .map(|(capacity, held, sold)| PoolView {
                pool: PoolId(0),
                capacity,
                held,
                sold,
                available: capacity - held - sold,
            })
            .into_iter()
            .collect();
        Snapshot::new(ShowId::new(), &layout, seats, pools)
    }

    #[test]
    fn summary_sums_seats_and_pools_and_skips_blocked_seats() {
        use SeatStatus::*;
        let snap = snapshot(&[Available, Held, Sold, Blocked, Available], Some((10, 2, 3)));
        let now = Utc::now();
        let s = AvailabilitySummary::from_snapshot(&snap, &[PriceCategory(7)], &AvailabilityPolicy::default(), now);
        assert_eq!((s.capacity, s.available, s.held, s.sold), (14, 7, 3, 4));
        assert_eq!(s.categories, vec![PriceCategory(1), PriceCategory(7)]);
        assert_eq!(s.level, SalesLevel::Available);
        let sold_out = snapshot(&[Sold, Held, Blocked], Some((4, 0, 4)));
        let s = AvailabilitySummary::from_snapshot(&sold_out, &[], &AvailabilityPolicy::default(), now);
        assert_eq!((s.level, s.available, s.categories.len()), (SalesLevel::SoldOut, 0, 0));
    }

    #[test]
    fn levels_follow_the_policy() {
        let p = AvailabilityPolicy::default();
        assert_eq!(p.level(0, 100), SalesLevel::SoldOut);
        assert_eq!(p.level(20, 100), SalesLevel::SellingFast);
        assert_eq!(p.level(21, 100), SalesLevel::Available);
        assert_eq!(p.level(1, u32::MAX), SalesLevel::SellingFast);
        assert_eq!(AvailabilityPolicy { selling_fast_percent: 0 }.level(1, 100), SalesLevel::Available);
        assert!(AvailabilityPolicy { selling_fast_percent: 101 }.validate().is_err());
    }

    #[test]
    fn availability_combines_the_sale_window_and_the_level() {
        let now = Utc::now();
        let show = Show::new(EventId::new(), VenueId::new(), now + Duration::days(2), now);
        let fast = AvailabilitySummary::from_snapshot(
            &snapshot(
                &[SeatStatus::Available, SeatStatus::Sold, SeatStatus::Sold, SeatStatus::Sold, SeatStatus::Sold],
                None,
            ),
            &[],
            &AvailabilityPolicy::default(),
            now,
        );
        assert_eq!(Availability::at(now - Duration::seconds(1), &show, Some(&fast)), Availability::Upcoming);
        assert_eq!(Availability::at(now, &show, None), Availability::OnSale);
        assert_eq!(Availability::at(now, &show, Some(&fast)), Availability::SellingFast);
        assert_eq!(Availability::at(show.starts_at, &show, Some(&fast)), Availability::SalesEnded);
        let early = show.clone().with_off_sale(now + Duration::days(1));
        assert_eq!(Availability::at(now + Duration::days(1), &early, None), Availability::SalesEnded);
    }
}
