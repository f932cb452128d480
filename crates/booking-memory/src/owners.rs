//! Per-owner accounting for one show, striped by owner: live holds (for
//! the held limit) and sold, not refunded, units (for the ticket cap).
//!
//! A hold first reserves its seats here, then takes the seats; a failed
//! hold gives the reservation back. A release drops the reservation once
//! it has freed the seats (or pool units), still under their locks, so no
//! request sees both the seats held and the owner counted without them;
//! sweeps drop it after the seats changed; a refund lowers the sold count
//! after the seats changed. A sale moves the hold's units from held to
//! sold in one step, under the seats' locks. Every window therefore counts
//! an owner high, never low, so neither limit is ever exceeded.
//!
//! A limit's refusal must also be one that some order of the requests
//! gives: a hold refused because of another hold's reservation that then
//! fails to take its seats is not. So every change to an account that
//! spans a window (a reserved hold until it has taken its seats or given
//! the reservation back, an extension, a refund) counts as
//! unsettled in its stripe while it runs ([`Settling`]: a count kept under
//! the stripe's lock, raised as the change is admitted or begins and
//! lowered under the lock again when it ends), and a refusal is
//! only returned when nothing in the stripe is unsettled: otherwise the
//! request lets go of the lock, yields, and is decided again. Nothing that
//! holds a settling guard waits for a refusal, and a refusing request
//! holds no lock while it waits, so the wait always ends. (Releases have
//! no window: their change to the account is made under the locks of what
//! they free. Sweeps are left out: the holds they drop have expired and
//! count for nothing.) A stripe's lock is taken under seat and pool locks
//! (releases, sales, a settling guard dropped while they are held), never
//! the other way round, and no stripe lock is held when a guard is dropped.

use crate::sync::{SpinMutex, spin, yield_now};
use booking_core::{HoldId, InventoryError, Limit, OwnerId};
use std::collections::HashMap;

const STRIPES: usize = 16;

/// Entries per stripe above which owners with no holds are dropped.
const TIDY_AT: usize = 4_096;

#[derive(Clone, Copy, Debug)]
struct Reserved {
    /// The hold's id as `u128` (compared as two words, not 16 bytes).
    hold: u128,
    units: u32,
    until: i64,
}

/// One owner's reservations and sold units.
#[derive(Debug, Default)]
struct Account {
    holds: Vec<Reserved>,
    /// Units sold to the owner and not refunded (kept only under a ticket cap).
    sold: u32,
}

impl Account {
    fn is_empty(&self) -> bool {
        self.holds.is_empty() && self.sold == 0
    }
}

/// A stripe on cache lines of its own: two threads serving owners of
/// different stripes do not invalidate each other's line (128 bytes, as
/// adjacent-line prefetchers pair 64-byte lines).
#[repr(align(128))]
#[derive(Debug)]
struct Padded {
    stripe: SpinMutex<Stripe>,
}

/// A change to an owner's account under way: while it lives, a limit's
/// refusal of an owner of the same stripe waits (see the module's docs).
#[must_use = "the change is settled when the guard is dropped"]
#[derive(Debug)]
pub(crate) struct Settling<'a>(Option<&'a Padded>);

impl Drop for Settling<'_> {
    #[inline]
    fn drop(&mut self) {
        if let Some(padded) = self.0 {
            spin(&padded.stripe).unsettled -= 1;
        }
    }
}

/// The answer to an admission decided under the lock of `padded`'s
/// stripe (`stripe`): an admitted reservation, counted as unsettled while
/// the lock is still held (so a refusal decided after it sees it), or a
/// refusal when nothing in the stripe is unsettled. `None`: the refusal may
/// have counted a change still under way; decide again once it has settled.
#[inline]
fn settled<'a>(
    padded: &'a Padded,
    stripe: &mut Stripe,
    admitted: Result<(), InventoryError>,
) -> Option<Result<Settling<'a>, InventoryError>> {
    match admitted {
        Ok(()) => {
            stripe.unsettled += 1;
            Some(Ok(Settling(Some(padded))))
        }
        Err(e) if stripe.unsettled == 0 => Some(Err(e)),
        Err(_) => None,
    }
}

#[derive(Debug, Default)]
struct Stripe {
    /// Accounts by owner id (as `u128`: hashed as two words, not as
    /// 16 bytes behind a length prefix).
    map: HashMap<u128, Account, crate::hash::IdHash>,
    /// Size at which owners with no holds are dropped; doubles with the
    /// live population so tidying stays amortized O(1).
    tidy_at: usize,
    /// Changes to the stripe's accounts under way (see [`Settling`]): kept
    /// under the stripe's lock, where every refusal reads it, so that
    /// counting one up is no atomic operation of its own.
    unsettled: usize,
}

impl Stripe {
    /// Drops the owners with no holds and no sold units.
    #[cold]
    fn tidy(&mut self) {
        self.map.retain(|_, account| !account.is_empty());
        self.tidy_at = (self.map.len() * 2).max(TIDY_AT);
    }
}

/// A show's per-owner accounting. A show without a per-owner limit or
/// ticket cap keeps none: every method then returns at once, touching no
/// lock.
#[derive(Debug)]
pub(crate) struct Owners {
    /// The show's per-owner limit (units held at once).
    max: Option<u32>,
    /// The show's per-owner ticket cap (units held and sold).
    max_tickets: Option<u32>,
    /// Whether either limit applies.
    on: bool,
    /// The show's maximum hold time, ms: how long past its expiry a
    /// reservation is remembered (see [`Owners::reserve`]).
    keep_millis: i64,
    stripes: Box<[Padded]>,
}

impl Owners {
    /// Accounting for a show whose owners may hold `max` units at once and
    /// have `max_tickets` held and sold, each hold living at most
    /// `max_hold_millis`.
    pub(crate) fn new(max: Option<u32>, max_tickets: Option<u32>, max_hold_millis: i64) -> Self {
        let on = max.is_some() || max_tickets.is_some();
        let stripes = if on {
            (0..STRIPES)
                .map(|_| Padded { stripe: SpinMutex::new(Stripe { tidy_at: TIDY_AT, ..Stripe::default() }) })
                .collect()
        } else {
            Box::default()
        };
        Owners { max, max_tickets, on, keep_millis: max_hold_millis, stripes }
    }

    fn padded(&self, owner: OwnerId) -> &Padded {
        &self.stripes[crate::hash::slot(owner.as_u128(), STRIPES)]
    }

    fn stripe(&self, owner: OwnerId) -> &SpinMutex<Stripe> {
        &self.padded(owner).stripe
    }

    /// Marks a change to `owner`'s account under way until the guard is
    /// dropped (nothing without a limit).
    #[inline]
    pub(crate) fn settling(&self, owner: OwnerId) -> Settling<'_> {
        if !self.on {
            return Settling(None);
        }
        let padded = self.padded(owner);
        spin(&padded.stripe).unsettled += 1;
        Settling(Some(padded))
    }

    /// Reserves `units` for a new hold, or fails with `HeldPerOwner` (checked
    /// first) or `TicketsPerOwner`. The reservation is unsettled until the
    /// returned guard is dropped: drop it once the hold has taken its seats,
    /// or after [`Owners::drop_hold`] when it has not.
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
    ) -> Result<Settling<'_>, InventoryError> {
        if self.on {
            self.reserve_limited(owner, Reserved { hold: hold.as_u128(), units, until }, now)
        } else {
            Ok(Settling(None))
        }
    }

    fn reserve_limited(&self, owner: OwnerId, new: Reserved, now: i64) -> Result<Settling<'_>, InventoryError> {
        let padded = self.padded(owner);
        let mut stripe = spin(&padded.stripe);
        let id = owner.as_u128();
        // A returning owner (the common case) is found by one inlined
        // probe; the entry API's probe is out of line and costs more.
        let admitted = match stripe.map.get_mut(&id) {
            Some(account) => self.admit(account, new, now),
            None => self.admit(stripe.map.entry(id).or_default(), new, now),
        };
        match settled(padded, &mut stripe, admitted) {
            Some(answer) => answer,
            None => {
                drop(stripe);
                self.reserve_when_settled(padded, id, new, now)
            }
        }
    }

    /// [`Owners::reserve_limited`] after a refusal that may have counted a
    /// change still under way: decided again, yielding in between, until
    /// it is admitted or refused with nothing in the stripe unsettled.
    #[cold]
    #[inline(never)]
    fn reserve_when_settled<'a>(
        &self,
        padded: &'a Padded,
        id: u128,
        new: Reserved,
        now: i64,
    ) -> Result<Settling<'a>, InventoryError> {
        loop {
            yield_now();
            let mut stripe = spin(&padded.stripe);
            let admitted = self.admit(stripe.map.entry(id).or_default(), new, now);
            if let Some(answer) = settled(padded, &mut stripe, admitted) {
                return answer;
            }
        }
    }

    /// Adds `new` to `account` if the owner's limits allow it.
    #[inline]
    fn admit(&self, account: &mut Account, new: Reserved, now: i64) -> Result<(), InventoryError> {
        let mut live = 0u32;
        if !account.holds.is_empty() {
            // One pass: forget the long-expired reservations, sum the live ones.
            let forget_before = now.saturating_sub(self.keep_millis);
            account.holds.retain(|r| {
                if r.until > now {
                    live = live.saturating_add(r.units);
                }
                r.until > forget_before
            });
        }
        let would_hold = live.saturating_add(new.units);
        if let Some(max) = self.max
            && would_hold > max
        {
            return Err(InventoryError::LimitExceeded(Limit::HeldPerOwner { would_hold, max }));
        }
        let would_have = would_hold.saturating_add(account.sold);
        if let Some(max) = self.max_tickets
            && would_have > max
        {
            return Err(InventoryError::LimitExceeded(Limit::TicketsPerOwner { would_have, max }));
        }
        account.holds.push(new);
        Ok(())
    }

    /// Drops a hold's reservation, if it has one. An owner left with none keeps its
    /// (empty, allocated) entry until the stripe is tidied, so a buyer who
    /// holds again soon does not reallocate.
    #[inline]
    pub(crate) fn drop_hold(&self, owner: OwnerId, hold: HoldId) {
        if self.on {
            self.forget(owner, hold);
        }
    }

    /// Moves a sold hold's units from held to sold, in one step: drops
    /// its reservation and counts `units` sold (under a ticket cap).
    #[inline]
    pub(crate) fn sold(&self, owner: OwnerId, hold: HoldId, units: u32) {
        if self.on {
            self.drop_limited(owner, hold, if self.max_tickets.is_some() { units } else { 0 });
        }
    }

    /// Whether sold units are counted (the show has a ticket cap).
    pub(crate) fn counts_sold(&self) -> bool {
        self.max_tickets.is_some()
    }

    /// Counts `units` of `owner`'s sold units refunded.
    pub(crate) fn refunded(&self, owner: OwnerId, units: u32) {
        if self.max_tickets.is_some() {
            let mut stripe = spin(self.stripe(owner));
            if let Some(account) = stripe.map.get_mut(&owner.as_u128()) {
                account.sold = account.sold.saturating_sub(units);
            }
        }
    }

    /// [`Owners::drop_limited`] of a hold that was not sold (a release, a
    /// refused hold): the owner's entry is only looked up, never made.
    #[inline]
    fn forget(&self, owner: OwnerId, hold: HoldId) {
        let mut stripe = spin(self.stripe(owner));
        if let Some(account) = stripe.map.get_mut(&owner.as_u128()) {
            let hold = hold.as_u128();
            if let Some(i) = account.holds.iter().position(|r| r.hold == hold) {
                account.holds.swap_remove(i);
            }
        }
        if stripe.map.len() > stripe.tidy_at {
            stripe.tidy();
        }
    }

    fn drop_limited(&self, owner: OwnerId, hold: HoldId, sold: u32) {
        let mut stripe = spin(self.stripe(owner));
        let account = if sold > 0 {
            Some(stripe.map.entry(owner.as_u128()).or_default())
        } else {
            stripe.map.get_mut(&owner.as_u128())
        };
        if let Some(account) = account {
            let hold = hold.as_u128();
            if let Some(i) = account.holds.iter().position(|r| r.hold == hold) {
                // A hold has one reservation; the list's order carries nothing.
                account.holds.swap_remove(i);
            }
            account.sold = account.sold.saturating_add(sold);
        }
        if stripe.map.len() > stripe.tidy_at {
            stripe.tidy();
        }
    }

    /// Sets a reservation's expiry; returns the previous one.
    pub(crate) fn set_until(&self, owner: OwnerId, hold: HoldId, until: i64) -> Option<i64> {
        if !self.on {
            return None;
        }
        let mut stripe = spin(self.stripe(owner));
        let hold = hold.as_u128();
        let r = stripe.map.get_mut(&owner.as_u128())?.holds.iter_mut().find(|r| r.hold == hold)?;
        Some(std::mem::replace(&mut r.until, until))
    }
}
