//! Per-owner hold accounting for one show, striped by owner.
//!
//! A hold first reserves its seats here, then takes the seats; a failed
//! hold gives the reservation back. Releases, sales and sweeps drop the
//! reservation after the seats changed. Every window therefore counts an
//! owner high, never low, so the limit is never exceeded.

use crate::sync::{Mutex, lock};
use booking_core::{HoldId, InventoryError, Limit, OwnerId};
use std::collections::HashMap;

const STRIPES: usize = 16;

/// Entries per stripe above which owners with no holds are dropped.
const TIDY_AT: usize = 4_096;

#[derive(Clone, Copy, Debug)]
struct Reserved {
    hold: HoldId,
    units: u32,
    until: i64,
}

#[derive(Debug, Default)]
struct Stripe {
    map: HashMap<OwnerId, Vec<Reserved>, crate::hash::IdHash>,
    /// Size at which owners with no holds are dropped; doubles with the
    /// live population so tidying stays amortized O(1).
    tidy_at: usize,
}

#[derive(Debug)]
pub(crate) struct Owners {
    stripes: Box<[Mutex<Stripe>]>,
}

impl Owners {
    pub(crate) fn new() -> Self {
        Owners { stripes: (0..STRIPES).map(|_| Mutex::new(Stripe { tidy_at: TIDY_AT, ..Stripe::default() })).collect() }
    }

    fn stripe(&self, owner: OwnerId) -> &Mutex<Stripe> {
        &self.stripes[crate::hash::slot(owner.as_u128(), STRIPES)]
    }

    /// Reserves `units` for a new hold, or fails with `HeldPerOwner`.
    ///
    /// Only holds live at `now` count. Expired ones are forgotten only once
    /// they expired before `forget_before` (the show's maximum hold time
    /// ago): a clock that steps back (a wall clock corrected by NTP) makes
    /// a recently expired hold live again, and it must count again then.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn reserve(
        &self,
        owner: OwnerId,
        hold: HoldId,
        units: u32,
        until: i64,
        max: u32,
        now: i64,
        forget_before: i64,
    ) -> Result<(), InventoryError> {
        let mut stripe = lock(self.stripe(owner));
        let list = stripe.map.entry(owner).or_default();
        list.retain(|r| r.until > forget_before);
        let live: u32 = list.iter().filter(|r| r.until > now).map(|r| r.units).sum();
        let would_hold = live + units;
        if would_hold > max {
            return Err(InventoryError::LimitExceeded(Limit::HeldPerOwner { would_hold, max }));
        }
        list.push(Reserved { hold, units, until });
        Ok(())
    }

    /// Drops a hold's reservation. An owner left with none keeps its
    /// (empty, allocated) entry until the stripe is tidied, so a buyer who
    /// holds again soon does not reallocate.
    pub(crate) fn drop_hold(&self, owner: OwnerId, hold: HoldId) {
        let mut stripe = lock(self.stripe(owner));
        if let Some(list) = stripe.map.get_mut(&owner) {
            list.retain(|r| r.hold != hold);
        }
        if stripe.map.len() > stripe.tidy_at {
            stripe.map.retain(|_, list| !list.is_empty());
            stripe.tidy_at = (stripe.map.len() * 2).max(TIDY_AT);
        }
    }

    /// Sets a reservation's expiry; returns the previous one.
    pub(crate) fn set_until(&self, owner: OwnerId, hold: HoldId, until: i64) -> Option<i64> {
        let mut stripe = lock(self.stripe(owner));
        let r = stripe.map.get_mut(&owner)?.iter_mut().find(|r| r.hold == hold)?;
        Some(std::mem::replace(&mut r.until, until))
    }
}
