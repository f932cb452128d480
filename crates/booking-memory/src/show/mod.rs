//! One show's inventory: seats striped over cache-line-sized locks, pools
//! behind their own locks, per-owner accounting and the change feed.
//!
//! A request locks only the stripes of the seats it names, in ascending
//! stripe order (so two requests can never wait on each other in a cycle),
//! checks every seat with the pure state machine and applies the transition
//! to all of them before unlocking: all or nothing (design I3). Requests on
//! seats in different stripes run in parallel.

mod packed;
mod read;
mod time;

use crate::feed::Feed;
use crate::hash::IdHash;
use crate::owners::Owners;
use crate::payers::Payers;
use crate::sync::{Mutex, SpinGuard, SpinMutex, lock, spin};
use booking_core::backend::best::{PickRequest, pick_best};
use booking_core::backend::fsm::{self, Pool, PoolHold, Seat, SeatOp, SeatState};
use booking_core::backend::validate;
use booking_core::{
    ChangeKind, Hold, HoldAction, HoldBest, HoldId, HoldItems, HoldToken, InventoryError, LayoutIndex, OrderId,
    OwnerId, PoolId, Refund, Result, Sale, SaleRecord, SeatChange, SeatId, Sell, ShowSpec, VenueLayout,
};
use smallvec::SmallVec;
use std::cell::RefCell;
use std::collections::HashMap;

/// Stripes per show (at most; small shows get about one per seat). Always a
/// power of two, so that finding a seat's stripe takes a mask and a shift,
/// not a division.
const MAX_STRIPES: usize = 256;

/// Best-available retries when another request takes the picked seats first.
const PICK_ATTEMPTS: usize = 1_024;

#[repr(align(64))]
#[derive(Debug)]
struct Stripe(SpinMutex<Vec<Seat>>);

/// The state of one show.
#[derive(Debug)]
pub(crate) struct ShowState {
    /// The show as created, without its layout (see `index`).
    pub(crate) spec: ShowSpec,
    /// The layout as created (labels and coordinates), packed, for
    /// `show_spec`; the hot paths use `index`.
    layout: packed::PackedLayout,
    /// Archived: no longer listed.
    pub(crate) archived: std::sync::atomic::AtomicBool,
    index: LayoutIndex,
    seat_count: usize,
    /// The hold time and the maximum hold time (`spec.policy`), in ms.
    ttl_millis: i64,
    max_hold_millis: i64,
    /// Seat `s` lives in stripe `s & (stripes.len() - 1)`, at offset
    /// `s >> stripe_shift`.
    stripe_shift: u32,
    stripes: Box<[Stripe]>,
    pools: Box<[Mutex<Pool>]>,
    owners: Owners,
    /// Units sold per payer, for the per-payment cap.
    payers: Payers,
    /// Sale records by order, striped by order id.
    sales: Box<[Mutex<HashMap<OrderId, SaleRecord, IdHash>>]>,
    pub(crate) feed: Feed,
}

/// Stripes of a show's sale records.
const SALE_STRIPES: usize = 16;

fn sales_stripe(order: OrderId) -> usize {
    crate::hash::slot(order.as_u128(), SALE_STRIPES)
}

/// Stripes a request may lock before [`Locked`] spills its lists to the
/// heap (the per-request maximum is usually below this).
const INLINE_SEATS: usize = 8;

/// A sale's or refund's items, checked against the show.
enum Checked<'a> {
    /// The seats, sorted and unique.
    Seats(Vec<SeatId>),
    /// The pool and the number of units.
    Pool(&'a Mutex<Pool>, u32),
}

/// A group of seats (sorted, unique) with their stripes locked.
struct Locked<'a, 's> {
    seats: &'s [SeatId],
    /// The stripes locked, ascending.
    order: SmallVec<[usize; INLINE_SEATS]>,
    /// Their guards, in the same order.
    guards: SmallVec<[SpinGuard<'a, Vec<Seat>>; INLINE_SEATS]>,
    /// Every seat in its own stripe, in seat order: seat `i` is under
    /// `guards[i]` (the common case of a few seats side by side).
    direct: bool,
    mask: usize,
    shift: u32,
}

impl Locked<'_, '_> {
    /// Seat `i`'s (guard, offset in the stripe).
    fn slot(&self, i: usize) -> (usize, usize) {
        let s = self.seats[i].0 as usize;
        let g = if self.direct { i } else { self.order.binary_search(&(s & self.mask)).unwrap_or(0) };
        (g, s >> self.shift)
    }

    fn seat(&self, i: usize) -> &Seat {
        let (g, off) = self.slot(i);
        &self.guards[g][off]
    }

    fn seat_mut(&mut self, i: usize) -> &mut Seat {
        let (g, off) = self.slot(i);
        &mut self.guards[g][off]
    }

    fn seats(&self) -> impl Iterator<Item = &Seat> + Clone {
        (0..self.seats.len()).map(|i| self.seat(i))
    }

    fn transition(&mut self, op: &SeatOp, now: i64) -> Result<fsm::Applied> {
        let plan = match *op {
            SeatOp::Hold { until, .. } => self.check_hold(until, now)?,
            _ => fsm::check(self.seats(), self.seats, op, now)?,
        };
        if plan.changed {
            for i in 0..self.seats.len() {
                fsm::apply(self.seat_mut(i), op, &plan);
            }
        }
        Ok(plan)
    }

    /// `fsm::check` of a hold on the group, in one pass over the seats
    /// (the list of taken seats is built only when there are some).
    fn check_hold(&self, until: i64, now: i64) -> Result<fsm::Applied> {
        let mut max_version = 0;
        let mut free = true;
        for seat in self.seats() {
            max_version = max_version.max(seat.version);
            free &= seat.is_available(now);
        }
        if !free {
            let taken = self.seats.iter().zip(self.seats()).filter(|(_, s)| !s.is_available(now)).map(|(id, _)| *id);
            return Err(InventoryError::SeatsTaken { seats: taken.collect() });
        }
        let size = u16::try_from(self.seats.len()).unwrap_or(u16::MAX);
        Ok(fsm::Applied { version: max_version + 1, changed: true, until, renewals: 0, size })
    }
}

/// Whether `fsm::check` lets `owner` release its one-seat hold `hold`
/// presenting `version`, on this seat at `now`.
fn releases(seat: &Seat, owner: OwnerId, hold: HoldId, version: u64, now: i64) -> bool {
    matches!(seat.state, SeatState::Held { owner: o, hold: h, until, size: 1, .. } if h == hold && o == owner && until > now)
        && seat.version == version
}

impl ShowState {
    pub(crate) fn new(spec: &ShowSpec) -> Self {
        // The hot paths use a compact index; the layout's per-seat labels
        // and coordinates are kept packed, only for `show_spec`.
        let index = LayoutIndex::new(&spec.layout);
        let layout = packed::PackedLayout::pack(&spec.layout);
        let spec = ShowSpec {
            id: spec.id,
            name: spec.name.clone(),
            layout: VenueLayout::default(),
            pools: spec.pools.clone(),
            policy: spec.policy.clone(),
        };
        let seat_count = index.seat_count();
        let stripe_shift = seat_count.clamp(1, MAX_STRIPES).ilog2();
        let n = 1 << stripe_shift;
        let stripes =
            (0..n).map(|k| Stripe(SpinMutex::new(vec![Seat::default(); (seat_count + n - 1 - k) / n]))).collect();
        ShowState {
            index,
            seat_count,
            ttl_millis: spec.policy.ttl_millis(),
            max_hold_millis: spec.policy.max_hold_millis(),
            stripe_shift,
            stripes,
            pools: spec.pools.iter().map(|p| Mutex::new(Pool::new(p.capacity))).collect(),
            owners: Owners::new(
                spec.policy.max_held_per_owner,
                spec.policy.max_tickets_per_owner,
                spec.policy.max_hold_millis(),
            ),
            payers: Payers::new(spec.policy.max_tickets_per_payment),
            sales: (0..SALE_STRIPES).map(|_| Mutex::new(HashMap::default())).collect(),
            feed: Feed::new(),
            spec,
            layout,
            archived: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// A seat's (stripe, offset in the stripe).
    fn stripe_of(&self, seat: SeatId) -> (usize, usize) {
        let s = seat.0 as usize;
        (s & (self.stripes.len() - 1), s >> self.stripe_shift)
    }

    /// Locks the stripes of `seats` (sorted, unique) in ascending order.
    fn lock<'s>(&self, seats: &'s [SeatId]) -> Locked<'_, 's> {
        let mut order: SmallVec<[usize; INLINE_SEATS]> = seats.iter().map(|s| self.stripe_of(*s).0).collect();
        // Seats in order mostly fall in ascending stripes already.
        let mut direct = true;
        if !order.is_sorted() {
            order.sort_unstable();
            direct = false;
        }
        order.dedup();
        direct &= order.len() == seats.len();
        let guards = order.iter().map(|&k| spin(&self.stripes[k].0)).collect();
        Locked { seats, order, guards, direct, mask: self.stripes.len() - 1, shift: self.stripe_shift }
    }

    /// Applies `op` to a group of seats (sorted, unique) all or nothing,
    /// calling `announce` with the outcome before the seats are unlocked.
    fn apply_group(
        &self,
        seats: &[SeatId],
        op: &SeatOp,
        now: i64,
        announce: impl FnOnce(&fsm::Applied),
    ) -> Result<fsm::Applied> {
        if let [seat] = seats {
            // The common single-seat case: one lock, no allocation.
            let (k, off) = self.stripe_of(*seat);
            let mut stripe = spin(&self.stripes[k].0);
            let plan = match *op {
                // `fsm::check` of a hold on one seat, without its general
                // machinery (the list of taken seats, the version maximum).
                SeatOp::Hold { until, .. } => {
                    let current = &stripe[off];
                    if !current.is_available(now) {
                        return Err(InventoryError::SeatsTaken { seats: vec![*seat] });
                    }
                    fsm::Applied { version: current.version + 1, changed: true, until, renewals: 0, size: 1 }
                }
                // A release that `fsm::check` lets through (the seat under
                // this live one-seat hold, of this owner, at this version)
                // gets its plan directly; any other goes through
                // `fsm::check`, for its error.
                SeatOp::Release { owner, hold, version } if releases(&stripe[off], owner, hold, version, now) => {
                    fsm::Applied::bump(stripe[off].version + 1)
                }
                _ => fsm::check(std::iter::once(&stripe[off]), seats, op, now)?,
            };
            if plan.changed {
                fsm::apply(&mut stripe[off], op, &plan);
            }
            announce(&plan);
            return Ok(plan);
        }
        let mut locked = self.lock(seats);
        let plan = locked.transition(op, now)?;
        announce(&plan);
        Ok(plan)
    }

    /// The seats checked and sorted (a list already in order, as buyers
    /// and tokens send it, is only copied).
    #[inline]
    fn check_seats(&self, seats: &[SeatId], max: u32) -> Result<Vec<SeatId>> {
        self.seats_cow(seats, max).map(std::borrow::Cow::into_owned)
    }

    /// `validate::seats_cow`, answering a single seat in the show (the
    /// most common request) without its general checks.
    #[inline]
    fn seats_cow<'a>(&self, seats: &'a [SeatId], max: u32) -> Result<std::borrow::Cow<'a, [SeatId]>> {
        match seats {
            [seat] if (seat.0 as usize) < self.seat_count && max >= 1 => Ok(std::borrow::Cow::Borrowed(seats)),
            _ => validate::seats_cow(self.spec.id, seats, self.seat_count, max),
        }
    }

    fn pool(&self, pool: PoolId) -> Result<&Mutex<Pool>> {
        self.pools.get(pool.0 as usize).ok_or(InventoryError::UnknownPool { show: self.spec.id, pool })
    }

    fn hold_result(
        &self,
        owner: OwnerId,
        hold: HoldId,
        version: u64,
        items: HoldItems,
        until: i64,
        renewals: u32,
    ) -> Hold {
        // `Hold::from_parts`, with the expiry converted through the
        // per-thread day cache.
        Hold {
            token: HoldToken { show: self.spec.id, hold, version, items },
            owner,
            held_until: time::datetime(until),
            renewals,
        }
    }

    fn change(&self, kind: ChangeKind, hold: Option<HoldId>, order: Option<OrderId>, items: &HoldItems, version: u64) {
        if self.feed.has_subscribers() {
            self.feed.publish(SeatChange { show: self.spec.id, kind, hold, order, items: items.clone(), version });
        }
    }

    /// Publishes a seat change if it changed anything and someone listens.
    fn announce(
        &self,
        kind: ChangeKind,
        hold: Option<HoldId>,
        order: Option<OrderId>,
        seats: &[SeatId],
        d: &fsm::Applied,
    ) {
        if d.changed && self.feed.has_subscribers() {
            let items = HoldItems::Seats(seats.to_vec());
            self.feed.publish(SeatChange { show: self.spec.id, kind, hold, order, items, version: d.version });
        }
    }

    pub(crate) fn hold_seats(&self, owner: OwnerId, seats: &[SeatId], now: i64) -> Result<Hold> {
        // The list is checked by reference and copied into the token only
        // once the seats are taken: a refused hold allocates nothing, and
        // the `Hold` is built once, in place, instead of being moved out
        // of a helper's result.
        let seats = self.seats_cow(seats, self.spec.policy.max_per_request)?;
        let hold = crate::ids::hold_id(now);
        let until = now.saturating_add(self.ttl_millis);
        let _reserved = self.owners.reserve(owner, hold, seats.len() as u32, until, now)?;
        match self.take(owner, hold, &seats, until, now) {
            Ok(version) => {
                // One seat is stored, not copied through `memcpy`.
                let seats = if let [seat] = *seats { vec![seat] } else { seats.into_owned() };
                Ok(self.hold_result(owner, hold, version, HoldItems::Seats(seats), until, 0))
            }
            Err(e) => {
                self.owners.drop_hold(owner, hold);
                Err(e)
            }
        }
    }

    /// Holds checked seats whose owner accounting is already done.
    fn take_seats(&self, owner: OwnerId, hold: HoldId, seats: Vec<SeatId>, until: i64, now: i64) -> Result<Hold> {
        let version = self.take(owner, hold, &seats, until, now)?;
        Ok(self.hold_result(owner, hold, version, HoldItems::Seats(seats), until, 0))
    }

    /// Takes checked seats (sorted, unique) for `hold`: the hold's version.
    #[inline]
    fn take(&self, owner: OwnerId, hold: HoldId, seats: &[SeatId], until: i64, now: i64) -> Result<u64> {
        let deadline = now.saturating_add(self.max_hold_millis);
        let op = SeatOp::Hold { owner, hold, until, deadline };
        let done =
            self.apply_group(seats, &op, now, |d| self.announce(ChangeKind::Held, Some(hold), None, seats, d))?;
        Ok(done.version)
    }

    /// Whether a seat is free now, read under its stripe's lock.
    fn is_free(&self, seat: SeatId, now: i64) -> bool {
        let (k, off) = self.stripe_of(seat);
        spin(&self.stripes[k].0)[off].is_available(now)
    }

    pub(crate) fn hold_best(&self, req: &HoldBest, now: i64) -> Result<Hold> {
        validate::quantity(req.quantity, self.spec.policy.max_per_request)?;
        let hold = crate::ids::hold_id(now);
        let until = now.saturating_add(self.ttl_millis);
        let _reserved = self.owners.reserve(req.owner, hold, req.quantity, until, now)?;
        let pick = PickRequest { quantity: req.quantity, section: req.section, category: req.category };
        let mut result = Err(InventoryError::NoSeatsAvailable { requested: req.quantity });
        // Seats are read as the picker asks for them, best rows first, so a
        // pick reads the rows up to the one it takes, not the whole show;
        // each seat is read once per round.
        let known: RefCell<HashMap<u32, bool, IdHash>> = RefCell::default();
        let free = |s: SeatId| *known.borrow_mut().entry(s.0).or_insert_with(|| self.is_free(s, now));
        for attempt in 1..=PICK_ATTEMPTS {
            let category = |s: SeatId| self.index.category(s);
            let Some(seats) = pick_best(&self.index.rows, &pick, category, free) else {
                result = Err(InventoryError::NoSeatsAvailable { requested: req.quantity });
                break;
            };
            result = self.take_seats(req.owner, hold, seats, until, now);
            match &result {
                // Another buyer was faster: forget those seats and pick
                // again; every round rules out at least one seat.
                Err(InventoryError::SeatsTaken { seats }) if attempt % 64 != 0 => {
                    let mut known = known.borrow_mut();
                    for s in seats {
                        known.insert(s.0, false);
                    }
                }
                Err(InventoryError::SeatsTaken { .. }) => known.borrow_mut().clear(),
                _ => break,
            }
        }
        if result.is_err() {
            self.owners.drop_hold(req.owner, hold);
        }
        result
    }

    pub(crate) fn hold_pool(&self, owner: OwnerId, pool: PoolId, quantity: u32, now: i64) -> Result<Hold> {
        validate::quantity(quantity, self.spec.policy.max_per_request)?;
        let p = self.pool(pool)?;
        let hold = crate::ids::hold_id(now);
        let until = now.saturating_add(self.ttl_millis);
        let deadline = now.saturating_add(self.max_hold_millis);
        let _reserved = self.owners.reserve(owner, hold, quantity, until, now)?;
        let mut p = lock(p);
        let new = PoolHold { hold, owner, quantity, until, deadline, renewals: 0, version: 0 };
        match p.hold(pool, new, now) {
            Ok(version) => {
                let items = HoldItems::Pool { pool, quantity };
                self.change(ChangeKind::Held, Some(hold), None, &items, version);
                Ok(self.hold_result(owner, hold, version, items, until, 0))
            }
            Err(e) => {
                drop(p);
                self.owners.drop_hold(owner, hold);
                Err(e)
            }
        }
    }

    fn check_pool_items(&self, pool: PoolId, quantity: u32) -> Result<&Mutex<Pool>> {
        validate::quantity(quantity, self.spec.policy.max_per_request)?;
        self.pool(pool)
    }

    /// A sale's or refund's items checked against the show: its seats, or
    /// its pool and units.
    fn check_items(&self, items: &HoldItems) -> Result<Checked<'_>> {
        Ok(match items {
            HoldItems::Seats(seats) => Checked::Seats(self.check_seats(seats, self.spec.policy.max_per_request)?),
            &HoldItems::Pool { pool, quantity } => Checked::Pool(self.check_pool_items(pool, quantity)?, quantity),
        })
    }

    pub(crate) fn extend(&self, req: &HoldAction, now: i64) -> Result<Hold> {
        let t = &req.token;
        let policy = &self.spec.policy;
        let limited = policy.max_held_per_owner.is_some() || policy.max_tickets_per_owner.is_some();
        // The reservation's expiry may be moved and moved back (see owners.rs).
        let _settling = self.owners.settling(req.owner);
        match &t.items {
            HoldItems::Seats(seats) => {
                let seats = self.check_seats(seats, policy.max_per_request)?;
                let op = SeatOp::Extend {
                    owner: req.owner,
                    hold: t.hold,
                    version: t.version,
                    ttl: self.ttl_millis,
                    max_renewals: policy.max_renewals,
                };
                // Count the owner high while the seats change (see owners.rs).
                let before = if limited {
                    self.owners.set_until(req.owner, t.hold, now.saturating_add(self.ttl_millis))
                } else {
                    None
                };
                let announce = |d: &fsm::Applied| self.announce(ChangeKind::Extended, Some(t.hold), None, &seats, d);
                match self.apply_group(&seats, &op, now, announce) {
                    Ok(done) => {
                        if limited {
                            self.owners.set_until(req.owner, t.hold, done.until);
                        }
                        let items = HoldItems::Seats(seats);
                        Ok(self.hold_result(req.owner, t.hold, done.version, items, done.until, done.renewals))
                    }
                    Err(e) => {
                        if let Some(until) = before {
                            self.owners.set_until(req.owner, t.hold, until);
                        }
                        Err(e)
                    }
                }
            }
            &HoldItems::Pool { pool, quantity } => {
                let mut p = lock(self.check_pool_items(pool, quantity)?);
                p.check_token_quantity(t.hold, quantity)?;
                // Count the owner high while the pool changes (see owners.rs).
                let before = if limited {
                    self.owners.set_until(req.owner, t.hold, now.saturating_add(self.ttl_millis))
                } else {
                    None
                };
                let h = match p.extend(req.owner, t.hold, t.version, self.ttl_millis, policy.max_renewals, now) {
                    Ok(h) => h,
                    Err(e) => {
                        if let Some(until) = before {
                            self.owners.set_until(req.owner, t.hold, until);
                        }
                        return Err(e);
                    }
                };
                if limited {
                    self.owners.set_until(req.owner, t.hold, h.until);
                }
                self.change(ChangeKind::Extended, Some(t.hold), None, &t.items, h.version);
                Ok(self.hold_result(req.owner, t.hold, h.version, t.items.clone(), h.until, h.renewals))
            }
        }
    }

    pub(crate) fn verify(&self, req: &HoldAction, now: i64) -> Result<Hold> {
        let t = &req.token;
        match &t.items {
            HoldItems::Seats(seats) => {
                let seats = self.seats_cow(seats, self.spec.policy.max_per_request)?;
                let op = SeatOp::Release { owner: req.owner, hold: t.hold, version: t.version };
                let locked = self.lock(&seats);
                fsm::check(locked.seats(), &seats, &op, now)?;
                booking_core::backend::held_hold(self.spec.id, req.owner, t, locked.seat(0))
            }
            &HoldItems::Pool { pool, quantity } => {
                let p = lock(self.check_pool_items(pool, quantity)?);
                p.check_token_quantity(t.hold, quantity)?;
                let h = p.verify(req.owner, t.hold, t.version, now)?;
                Ok(self.hold_result(req.owner, t.hold, h.version, t.items.clone(), h.until, h.renewals))
            }
        }
    }

    pub(crate) fn release(&self, req: &HoldAction, now: i64) -> Result<()> {
        let t = &req.token;
        // The reservation is dropped once the seats (or units) are freed,
        // still under their locks, as a sale moves it (see owners.rs): no
        // request sees the seats held and the owner's count without them.
        match &t.items {
            HoldItems::Seats(seats) => {
                let seats = self.seats_cow(seats, self.spec.policy.max_per_request)?;
                let op = SeatOp::Release { owner: req.owner, hold: t.hold, version: t.version };
                self.apply_group(&seats, &op, now, |d| {
                    self.owners.drop_hold(req.owner, t.hold);
                    self.announce(ChangeKind::Released, Some(t.hold), None, &seats, d)
                })?;
            }
            &HoldItems::Pool { pool, quantity } => {
                let mut p = lock(self.check_pool_items(pool, quantity)?);
                p.check_token_quantity(t.hold, quantity)?;
                p.release(req.owner, t.hold, t.version, now)?;
                self.owners.drop_hold(req.owner, t.hold);
                self.change(ChangeKind::Released, Some(t.hold), None, &t.items, p.version);
            }
        }
        Ok(())
    }

    pub(crate) fn sell(&self, req: &Sell, now: i64) -> Result<Sale> {
        validate::payment(&req.payment)?;
        let t = &req.token;
        let items = self.check_items(&t.items)?;
        // The order's stripe stays locked until the sale is recorded, so a
        // sell racing its own retry, or another hold sold to the same
        // order, finds the record (see `SaleRecord`).
        let mut sales = lock(&self.sales[sales_stripe(req.order)]);
        if let Some(record) = sales.get(&req.order) {
            return record.replay(req);
        }
        // The payer's cap, the seats and the payer's count in one step (see
        // payers.rs).
        let version = self.payers.sell(req.payer.as_ref(), t.items.count(), || self.sell_items(req, items, now))?;
        let sale = Sale { show: self.spec.id, order: req.order, owner: req.owner, items: t.items.clone(), version };
        sales.insert(req.order, SaleRecord::new(req, sale.clone()));
        Ok(sale)
    }

    /// Sells the hold's seats or units (`items`, checked): the new version.
    fn sell_items(&self, req: &Sell, items: Checked<'_>, now: i64) -> Result<u64> {
        let t = &req.token;
        let version = match items {
            Checked::Seats(seats) => {
                let op = SeatOp::Sell { owner: req.owner, hold: t.hold, version: t.version, order: req.order };
                // The units move from held to sold while the seats are locked.
                let announce = |d: &fsm::Applied| {
                    self.owners.sold(req.owner, t.hold, seats.len() as u32);
                    self.announce(ChangeKind::Sold, Some(t.hold), Some(req.order), &seats, d)
                };
                self.apply_group(&seats, &op, now, announce)?.version
            }
            Checked::Pool(pool, quantity) => {
                let mut p = lock(pool);
                p.check_token_quantity(t.hold, quantity)?;
                let version = p.sell(req.owner, t.hold, t.version, req.order, now)?;
                self.owners.sold(req.owner, t.hold, quantity);
                self.change(ChangeKind::Sold, Some(t.hold), Some(req.order), &t.items, version);
                version
            }
        };
        Ok(version)
    }

    pub(crate) fn refund(&self, req: &Refund, now: i64) -> Result<()> {
        let items = self.check_items(&req.items)?;
        // A sold order's record names its buyer and payer, whose counts are
        // lowered once the items are back: the buyer's account is unsettled
        // and the payer's count locked meanwhile (see owners.rs, payers.rs).
        let record = if self.owners.counts_sold() || self.payers.counts() {
            lock(&self.sales[sales_stripe(req.order)]).get(&req.order).map(|r| (r.sale.owner, r.payer.clone()))
        } else {
            None
        };
        let _settling = record.as_ref().map(|(owner, _)| self.owners.settling(*owner));
        let payer = record.as_ref().and_then(|(_, payer)| payer.as_ref());
        self.payers.refund(payer, req.items.count(), || match items {
            Checked::Seats(seats) => {
                let op = SeatOp::Refund { order: req.order };
                self.apply_group(&seats, &op, now, |d| {
                    self.announce(ChangeKind::Refunded, None, Some(req.order), &seats, d)
                })?;
                Ok(())
            }
            Checked::Pool(pool, quantity) => {
                let mut p = lock(pool);
                p.refund(req.order, quantity)?;
                self.change(ChangeKind::Refunded, None, Some(req.order), &req.items, p.version);
                Ok(())
            }
        })?;
        if let Some((owner, _)) = record {
            // The order was sold (the seats or units said so).
            self.owners.refunded(owner, req.items.count());
        }
        Ok(())
    }

    pub(crate) fn block(&self, seats: &[SeatId], blocking: bool, now: i64) -> Result<()> {
        // Blocking is an operator action: the per-request maximum does not apply.
        let seats = self.check_seats(seats, u32::MAX)?;
        let (op, kind) =
            if blocking { (SeatOp::Block, ChangeKind::Blocked) } else { (SeatOp::Unblock, ChangeKind::Unblocked) };
        self.apply_group(&seats, &op, now, |d| self.announce(kind, None, None, &seats, d))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use booking_core::{PriceCategory, SeatStatus};

    fn show(seats: u32) -> ShowState {
        let mut spec = ShowSpec::new("stripes", VenueLayout::grid(1, 1, seats, PriceCategory(1)));
        spec.policy.max_per_request = 10;
        ShowState::new(&spec)
    }

    fn statuses(s: &ShowState, now: i64) -> Vec<SeatStatus> {
        s.snapshot(now).seats.iter().map(|v| v.status).collect()
    }

    /// A hold decided without `fsm::check` (one seat, or a group in one
    /// pass) answers as the state machine does: the taken seats, exactly,
    /// and nothing changed; else every seat at 1 + the highest old version.
    #[test]
    fn holds_answer_as_the_state_machine_does() {
        let (a, b) = (OwnerId::new(), OwnerId::new());
        let now = 1_000_000;
        let s = show(10);
        // Seat 3 twice held and released: version 4; seats 5 and 9 held by `a`.
        for _ in 0..2 {
            let h = s.hold_seats(a, &[SeatId(3)], now).expect("hold");
            s.release(&HoldAction { owner: a, token: h.token }, now).expect("release");
        }
        let held = s.hold_seats(a, &[SeatId(5), SeatId(9)], now).expect("hold");
        let before = s.audit(now).seats;
        for (group, taken) in [(vec![4u32, 5, 6, 9], vec![5u32, 9]), (vec![9], vec![9]), (vec![1, 5], vec![5])] {
            let seats: Vec<SeatId> = group.iter().map(|&i| SeatId(i)).collect();
            let want: Vec<SeatId> = taken.iter().map(|&i| SeatId(i)).collect();
            match s.hold_seats(b, &seats, now) {
                Err(InventoryError::SeatsTaken { seats }) => assert_eq!(seats, want, "holding {group:?}"),
                other => panic!("holding {group:?}: {other:?}"),
            }
            assert_eq!(s.audit(now).seats, before, "a refused hold of {group:?} changes nothing");
        }
        let group = s.hold_seats(b, &[SeatId(2), SeatId(3), SeatId(4)], now).expect("hold");
        assert_eq!(group.token.version, 5);
        let one = s.hold_seats(b, &[SeatId(0)], now).expect("hold");
        assert_eq!(one.token.version, 1);
        // Once expired, the held seats are free to take again.
        let later = now + s.ttl_millis;
        let again = s.hold_seats(b, &[SeatId(5), SeatId(6), SeatId(9)], later).expect("expired seats never block");
        assert_eq!(again.token.version, held.token.version + 1);
    }

    /// A one-seat release decided without `fsm::check` answers as the
    /// state machine does: the same plan when it goes through, and every
    /// other release (wrong owner, stale token, expired, another hold's
    /// token) refused with `fsm::check`'s error, changing nothing.
    #[test]
    fn releases_answer_as_the_state_machine_does() {
        let (a, b) = (OwnerId::new(), OwnerId::new());
        let now = 1_000_000;
        let s = show(4);
        let h = s.hold_seats(a, &[SeatId(1)], now).expect("hold");
        let other = s.hold_seats(a, &[SeatId(2)], now).expect("hold");
        let seat = |s: &ShowState| s.audit(now).seats[1];
        let token = |hold: HoldId, version: u64| HoldToken { hold, version, ..h.token.clone() };
        let cases = [
            (b, token(h.token.hold, h.token.version), now),
            (a, token(h.token.hold, h.token.version + 1), now),
            (a, token(h.token.hold, h.token.version - 1), now),
            (a, token(other.token.hold, h.token.version), now),
            (a, token(h.token.hold, h.token.version), h.held_until.timestamp_millis()),
        ];
        for (owner, token, at) in cases {
            let before = seat(&s);
            let want = fsm::check(
                std::iter::once(&before),
                &[SeatId(1)],
                &SeatOp::Release { owner, hold: token.hold, version: token.version },
                at,
            )
            .expect_err("refused");
            let got = s.release(&HoldAction { owner, token: token.clone() }, at).expect_err("refused");
            assert_eq!(format!("{got:?}"), format!("{want:?}"), "{token:?} at {at}");
            assert_eq!(seat(&s), before, "a refused release changes nothing");
        }
        let before = seat(&s);
        s.release(&HoldAction { owner: a, token: h.token }, now).expect("release");
        assert_eq!(seat(&s), Seat { state: SeatState::Available, version: before.version + 1 });
    }

    /// The one-seat shortcut of the seat list check answers as
    /// `validate::seats_cow` does, for seats in and out of the show and
    /// per-request maximums of 0 and 1.
    #[test]
    fn seat_checks_answer_as_validate_does() {
        let s = show(10);
        for seats in [vec![], vec![0], vec![9], vec![10], vec![u32::MAX], vec![1, 2], vec![2, 1], vec![3, 3]] {
            let seats: Vec<SeatId> = seats.into_iter().map(SeatId).collect();
            for max in [0, 1, 10] {
                let want = validate::seats_cow(s.spec.id, &seats, 10, max).map(|c| c.into_owned());
                let got = s.seats_cow(&seats, max).map(|c| c.into_owned());
                assert_eq!(format!("{got:?}"), format!("{want:?}"), "{seats:?} under a maximum of {max}");
            }
        }
    }

    /// Groups whose seats share a stripe, or whose stripes wrap around,
    /// take exactly their seats and give exactly them back.
    #[test]
    fn groups_across_shared_and_wrapping_stripes_change_exactly_their_seats() {
        let owner = OwnerId::new();
        let now = 1_000_000;
        // 10 seats: 8 stripes, so 0 and 8, 1 and 9 share one.
        // 300 seats: 256 stripes, so 254, 255, 256, 257 wrap to 0, 1.
        for (count, group) in [(10u32, vec![0u32, 1, 7, 8, 9]), (300, vec![254, 255, 256, 257]), (300, vec![3, 4])] {
            let s = show(count);
            assert!(s.stripes.len().is_power_of_two() && s.stripes.len() <= count as usize);
            let seats: Vec<SeatId> = group.iter().map(|&i| SeatId(i)).collect();
            let h = s.hold_seats(owner, &seats, now).expect("hold");
            let held = statuses(&s, now);
            for (i, st) in held.iter().enumerate() {
                let want = if group.contains(&(i as u32)) { SeatStatus::Held } else { SeatStatus::Available };
                assert_eq!(*st, want, "seat {i} of {count} after holding {group:?}");
            }
            // Each seat of the group is taken: a hold on any one fails.
            for &seat in &seats {
                assert!(matches!(s.hold_seats(OwnerId::new(), &[seat], now), Err(InventoryError::SeatsTaken { .. })));
            }
            s.release(&HoldAction { owner, token: h.token }, now).expect("release");
            assert!(statuses(&s, now).iter().all(|st| *st == SeatStatus::Available));
            assert_eq!(s.audit(now).seats.iter().filter(|seat| seat.version == 2).count(), group.len());
        }
    }
}
