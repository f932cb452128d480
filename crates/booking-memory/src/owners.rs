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
    /// Reservations by owner id (as `u128`: hashed as two words, not as
    /// 16 bytes behind a length prefix).
    map: HashMap<u128, Vec<Reserved>, crate::hash::IdHash>,
    /// Size at which owners with no holds are dropped; doubles with the
    /// live population so tidying stays amortized O(1).
    tidy_at: usize,
}

/// A show's per-owner accounting. A show without a per-owner limit keeps
/// none: every method then returns at once, touching no lock.
#[derive(Debug)]
pub(crate) struct Owners {
    /// The show's per-owner limit (units held at once).
    max: Option<u32>,
    /// The show's maximum hold time, ms: how long past its expiry a
    /// reservation is remembered (see [`Owners::reserve`]).
    keep_millis: i64,
    stripes: Box<[Mutex<Stripe>]>,
}

impl Owners {
    /// Accounting for a show whose owners may hold `max` units at once,
    /// each hold living at most `max_hold_millis`.
    pub(crate) fn new(max: Option<u32>, max_hold_millis: i64) -> Self {
        let stripes = match max {
            Some(_) => (0..STRIPES).map(|_| Mutex::new(Stripe { tidy_at: TIDY_AT, ..Stripe::default() })).collect(),
            None => Box::default(),
        };
        Owners { max, keep_millis: max_hold_millis, stripes }
    }

    fn stripe(&self, owner: OwnerId) -> &Mutex<Stripe> {
        &self.stripes[crate::hash::slot(owner.as_u128(), STRIPES)]
    }

    /// Reserves `units` for a new hold, or fails with `HeldPerOwner`.
    ///
    /// Only holds live at `now` count. Expired ones are forgotten only once
    /// they expired more than the show's maximum hold time ago: a clock
    /// that steps back (a wall clock corrected by NTP) makes a recently
    /// expired hold live again, and it must count again then.
    #[inline]
    pub(crate) fn reserve(
        &self,
        owner: OwnerId,
        hold: HoldId,
        units: u32,
        until: i64,
        now: i64,
    ) -> Result<(), InventoryError> {
        match self.max {
            Some(max) => self.reserve_limited(owner, Reserved { hold, units, until }, max, now),
            None => Ok(()),
        }
    }

    fn reserve_limited(&self, owner: OwnerId, new: Reserved, max: u32, now: i64) -> Result<(), InventoryError> {
        let forget_before = now.saturating_sub(self.keep_millis);
        let mut stripe = lock(self.stripe(owner));
        let list = stripe.map.entry(owner.as_u128()).or_default();
        list.retain(|r| r.until > forget_before);
        let live: u32 = list.iter().filter(|r| r.until > now).map(|r| r.units).sum();
        let would_hold = live + new.units;
        if would_hold > max {
            return Err(InventoryError::LimitExceeded(Limit::HeldPerOwner { would_hold, max }));
        }
        list.push(new);
        Ok(())
    }

    /// Drops a hold's reservation, if it has one. An owner left with none keeps its
    /// (empty, allocated) entry until the stripe is tidied, so a buyer who
    /// holds again soon does not reallocate.
    #[inline]
    pub(crate) fn drop_hold(&self, owner: OwnerId, hold: HoldId) {
        if self.max.is_some() {
            self.drop_limited(owner, hold);
        }
    }

    fn drop_limited(&self, owner: OwnerId, hold: HoldId) {
        let mut stripe = lock(self.stripe(owner));
        if let Some(list) = stripe.map.get_mut(&owner.as_u128())
            && let Some(i) = list.iter().position(|r| r.hold == hold)
        {
            // A hold has one reservation; the list's order carries nothing.
            list.swap_remove(i);
        }
        if stripe.map.len() > stripe.tidy_at {
            stripe.map.retain(|_, list| !list.is_empty());
            stripe.tidy_at = (stripe.map.len() * 2).max(TIDY_AT);
        }
    }

    /// Sets a reservation's expiry; returns the previous one.
    pub(crate) fn set_until(&self, owner: OwnerId, hold: HoldId, until: i64) -> Option<i64> {
        self.max?;
        let mut stripe = lock(self.stripe(owner));
        let r = stripe.map.get_mut(&owner.as_u128())?.iter_mut().find(|r| r.hold == hold)?;
        Some(std::mem::replace(&mut r.until, until))
    }
}
