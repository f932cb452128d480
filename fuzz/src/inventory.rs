//! The backend against the reference model, on arbitrary request sequences.
//!
//! An input decodes (with `arbitrary`) into a [`Scenario`]: the shape of
//! one show (rows of any length, including empty rows and a few past 256
//! seats, price categories changing mid-row, general-admission pools,
//! a hold policy that may be invalid) and up to [`MAX_STEPS`] operations.
//! Each operation runs on a `MemoryInventory` reading a `ManualClock` and
//! on `ShowModel` at the same instant. After each one the harness checks:
//!
//! - the answers agree: equal holds (the model takes the backend's hold id
//!   for a new hold, so tokens compare whole), equal sales, and errors of
//!   the same variant with the same fields;
//! - the snapshots agree;
//! - the audits agree (every seat's stored state with owner, hold, expiry,
//!   renewals and hold size; pool holds and sales; sale records with their
//!   tokens and payments).
//!
//! The show may be archived on the way: it then leaves the list of shows
//! and answers everything else as before.
//!
//! Tokens (extended, released, verified, sold) are taken from every hold
//! and extension granted so far (so older
//! versions are there to replay) and may be forged before use: another
//! version, seats dropped, added, swapped, unsorted or none, another hold's
//! id or an unknown one, another pool or quantity, seats for a pool hold and
//! a pool for a seat hold, another show. Sells use few orders and payments,
//! so that replays and conflicting replays are common. The clock moves by
//! small steps, to the edge of a hold's expiry and lifetime, far ahead, to
//! the end of time, and, when `BOOKING_FUZZ_CLOCK_BACK=1`, back and around.
//!
//! A sweep with a small limit may free any of the expired seats first. When
//! the backend frees the ones the model would, the answers compare directly;
//! otherwise (the memory backend scans its lock stripes in turn, which is
//! not seat order once a show has more seats than stripes) the harness
//! checks that the backend's choice was allowed and has the model free the
//! same seats.

mod input;
mod sweep;

pub use input::*;

use super::{error_key, ready, same};
use arbitrary::{Arbitrary, Unstructured};
use booking_core::backend::fsm::{self, SeatState};
use booking_core::testkit::model::ShowModel;
use booking_core::{
    Clock, Hold, HoldAction, HoldBest, HoldId, HoldItems, HoldPool, HoldSeats, HoldToken, InventoryError, ManualClock,
    OwnerId, PaymentRef, PoolId, PriceCategory, Refund, Sale, SeatId, SeatInventory, SectionId, Sell, ShowId,
};
use booking_memory::MemoryInventory;
use input::{order, owner};
use std::fmt::Debug;
use sweep::expire_as_reported;

/// Operations per input at most; the rest of a longer input is ignored.
pub const MAX_STEPS: usize = 96;

/// Whether the clock may move back (`Advance::Back`, and `Advance::Absurd`
/// by a negative amount or wrapping around), as a wall clock stepped back
/// does. Off unless the environment sets `BOOKING_FUZZ_CLOCK_BACK=1`: the
/// memory backend's per-owner count assumes a clock that never goes back
/// (a reservation that expired is forgotten when the owner holds again, so
/// a hold made live again by the clock stepping back is not counted, while
/// the model counts it). With it off, those moves are dropped, and absurd
/// forward moves stop at the end of time.
fn clock_goes_back() -> bool {
    static BACK: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *BACK.get_or_init(|| std::env::var("BOOKING_FUZZ_CLOCK_BACK").is_ok_and(|v| v == "1"))
}

/// A show that is never created: requests naming it must fail alike.
fn no_such_show() -> ShowId {
    ShowId::from_u128(0xdead_beef)
}

/// Decodes `data` into a [`Scenario`] and runs it; panics on a discrepancy.
pub fn run(data: &[u8]) {
    if let Ok(scenario) = Scenario::arbitrary_take_rest(Unstructured::new(data)) {
        scenario.run();
    }
}

impl Scenario {
    /// Runs the scenario; panics on a discrepancy. The clock moves back only
    /// when the environment says so (see [`clock_goes_back`]).
    pub fn run(&self) {
        self.run_with(clock_goes_back());
    }

    /// Runs the scenario, letting the clock move back if `clock_back`.
    pub fn run_with(&self, clock_back: bool) {
        let spec = self.show.spec();
        let clock = ManualClock::fixed();
        let inv = MemoryInventory::with_clock(clock.shared());
        let model = match (inv.create_show_sync(&spec), ShowModel::new(spec.clone())) {
            (Ok(()), Ok(model)) => model,
            (Err(a), Err(b)) if error_key(&a) == error_key(&b) => return,
            (a, b) => panic!("create_show: memory {a:?}, model {:?}", b.map(|_| ())),
        };
        let mut run = Run {
            now: clock.now_millis(),
            inv,
            clock,
            show: spec.id,
            seat_count: model.seats.len() as u32,
            pool_count: model.pools.len() as u32,
            model,
            tokens: Vec::new(),
            sales: Vec::new(),
            spare: 0,
            clock_back,
            archived: false,
        };
        run.check_state(&"create_show");
        for op in self.steps.iter().take(MAX_STEPS) {
            run.step(op);
            run.check_state(op);
        }
    }
}

/// The backend, the model and what was granted so far.
struct Run {
    inv: MemoryInventory,
    clock: ManualClock,
    model: ShowModel,
    show: ShowId,
    /// The clock as the backend reads it.
    now: i64,
    seat_count: u32,
    pool_count: u32,
    /// Every hold and extension granted, oldest first, with its owner.
    tokens: Vec<(OwnerId, HoldToken)>,
    /// Every sale made.
    sales: Vec<Sale>,
    /// Hold ids for the model's refused holds.
    spare: u128,
    /// Whether the clock may move back.
    clock_back: bool,
    /// Whether the show was archived.
    archived: bool,
}

impl Run {
    fn seat(&self, r: SeatRef) -> SeatId {
        match r {
            SeatRef::Seat(n) if self.seat_count > 0 => SeatId(u32::from(n) % self.seat_count),
            SeatRef::Seat(n) => SeatId(u32::from(n)),
            SeatRef::InState(state, i) => {
                let in_state = |s: &&fsm::Seat| match state % 4 {
                    0 => s.state == SeatState::Available,
                    1 => matches!(s.state, SeatState::Held { .. }),
                    2 => matches!(s.state, SeatState::Sold { .. }),
                    _ => s.state == SeatState::Blocked,
                };
                let seats = self.model.seats.iter().enumerate();
                let count = self.model.seats.iter().filter(in_state).count();
                match count {
                    0 => self.seat(SeatRef::Seat(i)),
                    _ => {
                        let nth = usize::from(i) % count;
                        seats.filter(|(_, s)| in_state(s)).nth(nth).map_or(SeatId(0), |(id, _)| SeatId(id as u32))
                    }
                }
            }
            SeatRef::Raw(n) => SeatId(n),
        }
    }

    fn seats(&self, list: &[SeatRef], at_most: usize) -> Vec<SeatId> {
        list.iter().take(at_most).map(|&r| self.seat(r)).collect()
    }

    fn pool(&self, r: PoolRef) -> PoolId {
        match r {
            PoolRef::Pool(n) => PoolId(u32::from(n) % (self.pool_count + 1)),
            PoolRef::Raw(n) => PoolId(n),
        }
    }

    fn quantity(q: Quantity) -> u32 {
        match q {
            Quantity::Small(n) => u32::from(n % 12),
            Quantity::Raw(n) => n,
        }
    }

    /// The id the model gives a new hold: the backend's when it granted one.
    fn hold_id(&mut self, got: &booking_core::Result<Hold>) -> HoldId {
        match got {
            Ok(h) => h.token.hold,
            Err(_) => {
                self.spare += 1;
                HoldId::from_u128(self.spare)
            }
        }
    }

    fn keep(&mut self, got: &booking_core::Result<Hold>) {
        if let Ok(h) = got {
            self.tokens.push((h.owner, h.token.clone()));
        }
    }

    /// The token `r` names, forged as it says, and who presents it.
    fn token(&self, r: &TokenRef) -> (OwnerId, HoldToken) {
        let (holder, mut t) = if self.tokens.is_empty() {
            let items = HoldItems::Seats(vec![SeatId(0)]);
            (owner(0), HoldToken { show: self.show, hold: HoldId::from_u128(7), version: 1, items })
        } else {
            self.tokens[usize::from(r.pick) % self.tokens.len()].clone()
        };
        if !r.honest.is_multiple_of(4) {
            return (holder, t);
        }
        for f in r.forge.iter().take(3) {
            self.forge(&mut t, f);
        }
        let who = match r.who {
            Who::Holder => holder,
            Who::Owner(n) => owner(n),
        };
        (who, t)
    }

    fn forge(&self, t: &mut HoldToken, f: &Forge) {
        match (f, &mut t.items) {
            (Forge::Version(d), _) => t.version = t.version.wrapping_add(*d as i64 as u64),
            (Forge::VersionRaw(v), _) => t.version = *v,
            (Forge::DropSeat(i), HoldItems::Seats(s)) if !s.is_empty() => {
                s.remove(usize::from(*i) % s.len());
            }
            (Forge::AddSeat(r), HoldItems::Seats(s)) => s.push(self.seat(*r)),
            (Forge::SwapSeat(i, r), HoldItems::Seats(s)) if !s.is_empty() => {
                let i = usize::from(*i) % s.len();
                s[i] = self.seat(*r);
            }
            (Forge::Reverse, HoldItems::Seats(s)) => s.reverse(),
            (Forge::NoSeats, _) => t.items = HoldItems::Seats(Vec::new()),
            (Forge::OtherHold(i), _) if !self.tokens.is_empty() => {
                t.hold = self.tokens[usize::from(*i) % self.tokens.len()].1.hold;
            }
            (Forge::UnknownHold(n), _) => t.hold = HoldId::from_u128(*n),
            (Forge::Quantity(q), HoldItems::Pool { quantity, .. }) => *quantity = Self::quantity(*q),
            (Forge::OtherPool(p), HoldItems::Pool { pool, .. }) => *pool = self.pool(*p),
            (Forge::AsPool(p, q), _) => t.items = HoldItems::Pool { pool: self.pool(*p), quantity: Self::quantity(*q) },
            (Forge::AsSeats(list), _) => t.items = HoldItems::Seats(self.seats(list, 12)),
            (Forge::OtherShow, _) => t.show = no_such_show(),
            _ => {}
        }
    }

    fn payment(p: Payment) -> PaymentRef {
        PaymentRef(match p {
            Payment::Ref(n) => format!("cap-{}", n % 3),
            Payment::Empty => String::new(),
            Payment::Longest => "p".repeat(256),
            Payment::TooLong => "p".repeat(257),
        })
    }

    fn refund(&self, r: &RefundRef) -> Refund {
        let show = self.show;
        match r {
            RefundRef::Sale(..) if self.sales.is_empty() => {
                Refund { show, order: order(0), items: HoldItems::Seats(vec![SeatId(0)]) }
            }
            RefundRef::Sale(i, part) => {
                let sale = &self.sales[usize::from(*i) % self.sales.len()];
                let mut refund = Refund { show, order: sale.order, items: sale.items.clone() };
                match (part, &mut refund.items) {
                    (RefundPart::Whole, _) => {}
                    (RefundPart::Seat(s), _) => refund.items = HoldItems::Seats(vec![self.seat(*s)]),
                    (RefundPart::DropSeat(i), HoldItems::Seats(s)) if !s.is_empty() => {
                        s.remove(usize::from(*i) % s.len());
                    }
                    (RefundPart::AddSeat(r), HoldItems::Seats(s)) => s.push(self.seat(*r)),
                    (RefundPart::Quantity(q), HoldItems::Pool { quantity, .. }) => *quantity = Self::quantity(*q),
                    (RefundPart::OtherOrder(n), _) => refund.order = order(*n),
                    (RefundPart::OtherShow, _) => refund.show = no_such_show(),
                    _ => {}
                }
                refund
            }
            RefundRef::Forged(n, items) => {
                let items = match items {
                    ForgedItems::Seats(list) => HoldItems::Seats(self.seats(list, 12)),
                    ForgedItems::Pool(p, q) => HoldItems::Pool { pool: self.pool(*p), quantity: Self::quantity(*q) },
                };
                Refund { show, order: order(*n), items }
            }
        }
    }

    fn step(&mut self, op: &Op) {
        let (show, now) = (self.show, self.now);
        match op {
            Op::HoldSeats { owner: o, seats } => {
                let req = HoldSeats { show, owner: owner(*o), seats: self.seats(seats, 12) };
                let got = self.inv.hold_seats_sync(&req);
                let hold = self.hold_id(&got);
                let want = self.model.hold_seats(req.owner, &req.seats, hold, now);
                same(&(op, &req), &got, &want);
                self.keep(&got);
            }
            Op::HoldBest { owner: o, quantity, section, category } => {
                let req = HoldBest {
                    show,
                    owner: owner(*o),
                    quantity: Self::quantity(*quantity),
                    section: section.map(|s| SectionId(u32::from(s % 6))),
                    category: category.map(|c| PriceCategory(u16::from(c % 4))),
                };
                let got = self.inv.hold_best_sync(&req);
                let hold = self.hold_id(&got);
                let want = self.model.hold_best(&req, hold, now);
                same(&(op, &req), &got, &want);
                self.keep(&got);
            }
            Op::HoldPool { owner: o, pool, quantity } => {
                let req =
                    HoldPool { show, owner: owner(*o), pool: self.pool(*pool), quantity: Self::quantity(*quantity) };
                let got = ready(self.inv.hold_pool(&req));
                let hold = self.hold_id(&got);
                let want = self.model.hold_pool(req.owner, req.pool, req.quantity, hold, now);
                same(&(op, &req), &got, &want);
                self.keep(&got);
            }
            Op::Extend(r) => {
                let (owner, token) = self.token(r);
                let req = HoldAction { owner, token };
                let got = ready(self.inv.extend(&req));
                let want = self.model.extend(&req, now);
                same(&(op, &req), &got, &want);
                self.keep(&got);
            }
            Op::Release(r) => {
                let (owner, token) = self.token(r);
                let req = HoldAction { owner, token };
                let got = self.inv.release_sync(&req);
                let want = self.model.release(&req, now).map(|_| ());
                same(&(op, &req), &got, &want);
            }
            Op::Verify(r) => {
                let (owner, token) = self.token(r);
                let req = HoldAction { owner, token };
                let got = ready(self.inv.verify(&req));
                let want = self.model.verify(&req, now);
                same(&(op, &req), &got, &want);
            }
            Op::Sell { token, order: n, payment } => {
                let (owner, token) = self.token(token);
                let req = Sell { owner, token, order: order(*n), payment: Self::payment(*payment), payer: None };
                let got = self.inv.sell_sync(&req);
                let want = self.model.sell(&req, now);
                same(&(op, &req), &got, &want);
                if let Ok(sale) = got
                    && !self.sales.contains(&sale)
                {
                    self.sales.push(sale);
                }
            }
            Op::Refund(r) => {
                let req = self.refund(r);
                let got = ready(self.inv.refund(&req));
                // The model is one show; a refund for another must fail
                // before it reaches any state.
                let want = if req.show == show {
                    self.model.refund(&req, now)
                } else {
                    Err(InventoryError::UnknownShow(req.show))
                };
                same(&(op, &req), &got, &want);
            }
            Op::Block(list) => {
                let seats = self.seats(list, 16);
                let got = self.inv.block_sync(show, &seats);
                let want = self.model.block(&seats, now);
                same(&(op, &seats), &got, &want);
            }
            Op::Unblock(list) => {
                let seats = self.seats(list, 16);
                let got = ready(self.inv.unblock(show, &seats));
                let want = self.model.unblock(&seats, now);
                same(&(op, &seats), &got, &want);
            }
            Op::Sweep(limit) => {
                let limit = match *limit {
                    SweepLimit::Small(n) => usize::from(n),
                    SweepLimit::Huge => usize::MAX,
                };
                self.sweep(op, limit);
            }
            Op::Advance(a) => {
                let policy = &self.model.spec.policy;
                let ms = match *a {
                    Advance::Millis(n) => i64::from(n),
                    Advance::Ttl => policy.ttl_millis(),
                    Advance::TtlLess1 => policy.ttl_millis() - 1,
                    Advance::Lifetime => policy.max_hold_millis(),
                    Advance::Big(n) => i64::from(n),
                    Advance::Back(n) => -i64::from(n),
                    Advance::Absurd(n) => n,
                };
                let ms = if self.clock_back {
                    ms
                } else {
                    // Forward only, stopping at the end of time.
                    self.now.saturating_add(ms.max(0)) - self.now
                };
                if let Some(d) = chrono::TimeDelta::try_milliseconds(ms) {
                    self.clock.advance(d);
                }
                self.now = self.clock.now_millis();
            }
            Op::Elsewhere(kind) => {
                let other = no_such_show();
                let one = vec![SeatId(0)];
                let got = match kind % 9 {
                    0 => self.inv.hold_seats_sync(&HoldSeats { show: other, owner: owner(0), seats: one }).map(drop),
                    1 => {
                        let req = HoldBest { show: other, owner: owner(0), quantity: 1, section: None, category: None };
                        self.inv.hold_best_sync(&req).map(drop)
                    }
                    2 => {
                        let req = HoldPool { show: other, owner: owner(0), pool: PoolId(0), quantity: 1 };
                        ready(self.inv.hold_pool(&req)).map(drop)
                    }
                    3 => {
                        let req = Refund { show: other, order: order(0), items: HoldItems::Seats(one) };
                        ready(self.inv.refund(&req))
                    }
                    4 => self.inv.block_sync(other, &one),
                    5 => ready(self.inv.unblock(other, &one)),
                    6 => self.inv.sweep_expired_sync(other, 1).map(drop),
                    7 => self.inv.snapshot_sync(other).map(drop),
                    _ => ready(self.inv.audit(other)).map(drop),
                };
                same(op, &got, &Err(InventoryError::UnknownShow(other)));
            }
            Op::CreateAgain => {
                let got = self.inv.create_show_sync(&self.model.spec);
                same(op, &got, &Err(InventoryError::ShowExists(show)));
                let spec = ready(self.inv.show_spec(show));
                same(op, &spec, &Ok(self.model.spec.clone()));
                self.check_listed(op);
            }
            Op::Archive => {
                let got = ready(self.inv.archive_show(show));
                same(op, &got, &Ok(()));
                self.archived = true;
                self.check_listed(op);
            }
        }
    }

    /// Sweeps on both sides: directly when they free the same holds, else
    /// checking the backend's choice and having the model follow it.
    fn sweep(&mut self, op: &Op, limit: usize) {
        let got = self.inv.sweep_expired_sync(self.show, limit);
        let mut model = self.model.clone();
        let want = model.sweep(self.now, limit);
        let direct = match (&got, &want) {
            (Ok(a), Ok(b)) => a == b,
            (Err(a), Err(b)) => error_key(a) == error_key(b),
            _ => false,
        };
        if direct {
            self.model = model;
            return;
        }
        match &got {
            Ok(freed) if want.is_ok() => {
                if let Err(why) = expire_as_reported(&mut self.model, self.show, freed, limit, self.now) {
                    panic!("sweep({limit}) on {op:?}: the backend's choice is not allowed: {why}\n{freed:#?}");
                }
            }
            _ => same(op, &got, &want),
        }
    }

    /// The show is listed until archived.
    fn check_listed(&self, after: &dyn Debug) {
        let listed = ready(self.inv.list_shows());
        let want = if self.archived { Vec::new() } else { vec![self.show] };
        same(after, &listed, &Ok(want));
    }

    fn check_state(&self, after: &dyn Debug) {
        let snap = self.inv.snapshot_sync(self.show).expect("snapshot");
        let want = self.model.snapshot(self.now);
        if snap != want {
            let diff = first_diff(&snap.seats, &want.seats)
                .or_else(|| first_diff(&snap.pools, &want.pools))
                .or_else(|| first_diff(&snap.categories, &want.categories));
            panic!("snapshots differ after {after:?}: {}", diff.unwrap_or_else(|| format!("{snap:?} vs {want:?}")));
        }
        let audit = ready(self.inv.audit(self.show)).expect("audit");
        let want = self.model.audit(self.now);
        if audit != want {
            let diff = first_diff(&audit.seats, &want.seats)
                .or_else(|| first_diff(&audit.pools, &want.pools))
                .or_else(|| first_diff(&audit.sales, &want.sales));
            panic!("audits differ after {after:?}: {}", diff.unwrap_or_else(|| format!("{audit:?} vs {want:?}")));
        }
    }
}

/// The first position where two lists differ, described.
fn first_diff<T: PartialEq + Debug>(memory: &[T], model: &[T]) -> Option<String> {
    if memory.len() != model.len() {
        return Some(format!("{} entries in memory, {} in the model", memory.len(), model.len()));
    }
    let i = memory.iter().zip(model).position(|(a, b)| a != b)?;
    Some(format!("at {i}: memory {:?}, model {:?}", memory[i], model[i]))
}
