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

use super::{error_key, ready, same};
use arbitrary::{Arbitrary, Unstructured};
use booking_core::backend::fsm::{self, SeatOp, SeatState};
use booking_core::testkit::model::ShowModel;
use booking_core::{
    Clock, ExpiredHold, Hold, HoldAction, HoldBest, HoldId, HoldItems, HoldPolicy, HoldPool, HoldSeats, HoldToken,
    InventoryError, ManualClock, OrderId, OwnerId, PaymentRef, PoolId, PriceCategory, Refund, RowSpec, Sale, SeatId,
    SeatInventory, SeatSpec, SectionId, SectionSpec, Sell, ShowId, ShowSpec, VenueLayout,
};
use booking_memory::MemoryInventory;
use std::fmt::Debug;
use std::time::Duration;

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

/// One fuzz input: a show and what happens to it.
#[derive(Arbitrary, Debug)]
pub struct Scenario {
    /// The show.
    pub show: ShowShape,
    /// The operations, in order.
    pub steps: Vec<Op>,
}

/// The shape of the show under test.
#[derive(Arbitrary, Debug)]
pub struct ShowShape {
    /// Sections of rows (at most 4 of 4 are used).
    pub sections: Vec<Vec<RowShape>>,
    /// General-admission pools (at most 3 are used).
    pub pools: Vec<Capacity>,
    /// The hold policy.
    pub policy: PolicyShape,
}

/// A row of seats.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub struct RowShape {
    /// Below 240: `len % 12` seats; from 240 on, 256 to 496 seats, so that
    /// shows with more seats than the memory backend's lock stripes occur.
    pub len: u8,
    /// The price category (mod 3) of the row's first seats.
    pub category: u8,
    /// Seats from this position on take the next category.
    pub split: u8,
}

impl RowShape {
    fn seats(&self) -> u32 {
        if self.len >= 240 { 256 + u32::from(self.len - 240) * 16 } else { u32::from(self.len % 12) }
    }
}

/// A pool's capacity.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Capacity {
    /// `n % 16` units (0 makes the show invalid).
    Small(u8),
    /// Any number of units.
    Raw(u32),
}

/// The hold policy.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub struct PolicyShape {
    /// Hold TTL in ms (0 makes the show invalid).
    pub ttl: u16,
    /// Hold lifetime: `1 + lifetime % 4` TTLs.
    pub lifetime: u8,
    /// Renewals allowed: `renewals % 4`.
    pub renewals: u8,
    /// Per-owner limit: `n % 12` (0 makes the show invalid).
    pub per_owner: Option<u8>,
    /// Per-request maximum: `n % 12` (0 makes the show invalid), 255 for
    /// the largest allowed (10,000).
    pub per_request: u8,
}

/// One operation.
#[derive(Arbitrary, Debug)]
pub enum Op {
    /// Hold named seats (at most 12 are named).
    HoldSeats {
        /// Owner (mod 4).
        owner: u8,
        /// The seats.
        seats: Vec<SeatRef>,
    },
    /// Hold the best seats.
    HoldBest {
        /// Owner (mod 4).
        owner: u8,
        /// How many.
        quantity: Quantity,
        /// Section (mod 6: some do not exist).
        section: Option<u8>,
        /// Price category (mod 4).
        category: Option<u8>,
    },
    /// Hold pool units.
    HoldPool {
        /// Owner (mod 4).
        owner: u8,
        /// The pool.
        pool: PoolRef,
        /// How many.
        quantity: Quantity,
    },
    /// Extend a hold.
    Extend(TokenRef),
    /// Release a hold.
    Release(TokenRef),
    /// Check a hold without changing it.
    Verify(TokenRef),
    /// Sell a hold.
    Sell {
        /// The token.
        token: TokenRef,
        /// Order (mod 5).
        order: u8,
        /// The payment reference.
        payment: Payment,
    },
    /// Refund.
    Refund(RefundRef),
    /// Block seats (at most 16 are named).
    Block(Vec<SeatRef>),
    /// Unblock seats (at most 16 are named).
    Unblock(Vec<SeatRef>),
    /// Sweep expired holds.
    Sweep(SweepLimit),
    /// Move the clock.
    Advance(Advance),
    /// A request (kind mod 9) on a show that does not exist.
    Elsewhere(u8),
    /// Create the show again (refused), and read its specification back.
    CreateAgain,
    /// Archive the show: it leaves the list of shows and answers as before.
    Archive,
}

/// A seat id.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum SeatRef {
    /// A seat of the show (`n % seats`).
    Seat(u16),
    /// The `i`-th (mod their number) of the seats whose stored state is
    /// `n % 4`: available, held (live or expired), sold, blocked; seat
    /// `i % seats` when there is none. Makes unblocks, refunds and requests
    /// on taken seats common.
    InState(u8, u16),
    /// Any id.
    Raw(u32),
}

/// A quantity of seats or units.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Quantity {
    /// `n % 12`.
    Small(u8),
    /// Any number.
    Raw(u32),
}

/// A pool id.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum PoolRef {
    /// `n % (pools + 1)`: a pool of the show, or the first one past them.
    Pool(u8),
    /// Any id.
    Raw(u32),
}

/// A token, taken from the ones granted so far, and who presents it.
#[derive(Arbitrary, Debug)]
pub struct TokenRef {
    /// Which granted token (mod their number); a made-up one when none was.
    pub pick: u16,
    /// Unless `n % 4 == 0`, the token is presented as granted, by its
    /// holder, and `who` and `forge` are ignored: most requests are honest,
    /// so that sequences reach sales, refunds and replays.
    pub honest: u8,
    /// Who presents it.
    pub who: Who,
    /// Edits made to it (at most 3 are applied).
    pub forge: Vec<Forge>,
}

/// Who presents a token.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Who {
    /// The owner it was granted to.
    Holder,
    /// Owner `n % 4`.
    Owner(u8),
}

/// An edit of a token.
#[derive(Arbitrary, Debug, Clone)]
pub enum Forge {
    /// Version plus `n`, wrapping.
    Version(i8),
    /// Any version.
    VersionRaw(u64),
    /// Drop one seat (index mod the count).
    DropSeat(u8),
    /// Add a seat at the end (unsorted, maybe a duplicate or unknown).
    AddSeat(SeatRef),
    /// Replace one seat.
    SwapSeat(u8, SeatRef),
    /// Reverse the seat list.
    Reverse,
    /// Name no seats.
    NoSeats,
    /// The hold id of another granted token (mod their number).
    OtherHold(u16),
    /// A hold id nobody was granted.
    UnknownHold(u128),
    /// Another pool quantity.
    Quantity(Quantity),
    /// Another pool.
    OtherPool(PoolRef),
    /// Pool items in place of whatever the token names.
    AsPool(PoolRef, Quantity),
    /// Seats in place of whatever the token names (at most 12).
    AsSeats(Vec<SeatRef>),
    /// Another show.
    OtherShow,
}

/// A payment reference.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Payment {
    /// `cap-{n % 3}`.
    Ref(u8),
    /// Empty (refused).
    Empty,
    /// 256 bytes, the longest allowed.
    Longest,
    /// 257 bytes (refused).
    TooLong,
}

/// What to refund.
#[derive(Arbitrary, Debug)]
pub enum RefundRef {
    /// Part of a sale made so far (mod their number).
    Sale(u16, RefundPart),
    /// Made-up items for order `n % 5`.
    Forged(u8, ForgedItems),
}

/// Which part of a sale to refund.
#[derive(Arbitrary, Debug, Clone)]
pub enum RefundPart {
    /// All of it.
    Whole,
    /// One seat (of the sale or not).
    Seat(SeatRef),
    /// All seats but one (index mod the count).
    DropSeat(u8),
    /// One more seat.
    AddSeat(SeatRef),
    /// Another quantity of the pool.
    Quantity(Quantity),
    /// The same items for order `n % 5`.
    OtherOrder(u8),
    /// The same items on a show that does not exist.
    OtherShow,
}

/// Made-up refund items.
#[derive(Arbitrary, Debug, Clone)]
pub enum ForgedItems {
    /// Seats (at most 12).
    Seats(Vec<SeatRef>),
    /// Pool units.
    Pool(PoolRef, Quantity),
}

/// A sweep limit.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum SweepLimit {
    /// `n` (0 is refused).
    Small(u8),
    /// `usize::MAX`.
    Huge,
}

/// A move of the clock.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Advance {
    /// Forward `n` ms.
    Millis(u16),
    /// Forward one TTL.
    Ttl,
    /// Forward one TTL less 1 ms.
    TtlLess1,
    /// Forward one hold lifetime.
    Lifetime,
    /// Forward up to 49 days.
    Big(u32),
    /// Back `n` ms (see [`clock_goes_back`]).
    Back(u16),
    /// By any amount (wrapping around; see [`clock_goes_back`]).
    Absurd(i64),
}

fn owner(i: u8) -> OwnerId {
    OwnerId::from_u128(0x0100 + u128::from(i % 4))
}

fn order(i: u8) -> OrderId {
    OrderId::from_u128(0x0200 + u128::from(i % 5))
}

impl ShowShape {
    /// The show specification (possibly invalid).
    pub fn spec(&self) -> ShowSpec {
        let sections = self
            .sections
            .iter()
            .take(4)
            .enumerate()
            .map(|(si, rows)| SectionSpec {
                name: format!("S{si}"),
                rows: rows
                    .iter()
                    .take(4)
                    .enumerate()
                    .map(|(ri, r)| RowSpec {
                        name: format!("{}", ri + 1),
                        seats: (0..r.seats())
                            .map(|n| SeatSpec {
                                label: format!("{}", n + 1),
                                x: n as i32,
                                y: ri as i32,
                                category: PriceCategory(
                                    (u16::from(r.category) + u16::from(n >= u32::from(r.split))) % 3,
                                ),
                            })
                            .collect(),
                    })
                    .collect(),
            })
            .collect();
        let p = &self.policy;
        let ttl = u64::from(p.ttl);
        let policy = HoldPolicy {
            hold_ttl: Duration::from_millis(ttl),
            max_renewals: u32::from(p.renewals % 4),
            max_hold_time: Duration::from_millis(ttl * (1 + u64::from(p.lifetime % 4))),
            max_held_per_owner: p.per_owner.map(|n| u32::from(n % 12)),
            max_per_request: if p.per_request == u8::MAX { 10_000 } else { u32::from(p.per_request % 12) },
        };
        let mut spec = ShowSpec::new("fuzz", VenueLayout { sections }).with_policy(policy);
        for (i, c) in self.pools.iter().take(3).enumerate() {
            let capacity = match *c {
                Capacity::Small(n) => u32::from(n % 16),
                Capacity::Raw(n) => n,
            };
            spec = spec.with_pool(format!("P{i}"), capacity, PriceCategory(3));
        }
        spec
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
                let req = Sell { owner, token, order: order(*n), payment: Self::payment(*payment) };
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

/// Frees in `model` exactly what a backend's sweep reported, after checking
/// the backend was allowed to choose it: every seat and pool hold expired
/// under the hold and owner reported, each hold reported once with its
/// seats ascending, and as many freed as the limit allows.
fn expire_as_reported(
    model: &mut ShowModel,
    show: ShowId,
    freed: &[ExpiredHold],
    limit: usize,
    now: i64,
) -> Result<(), String> {
    let expired_seats =
        model.seats.iter().filter(|s| matches!(s.state, SeatState::Held { until, .. } if until <= now)).count();
    let expired_pool_holds = model.pools.iter().flat_map(|p| &p.holds).filter(|h| h.until <= now).count();
    let candidates = expired_seats + expired_pool_holds;
    let mut count = 0usize;
    let mut seen_holds = Vec::new();
    let mut touched_pools = Vec::new();
    for e in freed {
        if e.show != show {
            return Err(format!("reported for show {}", e.show));
        }
        match &e.items {
            HoldItems::Seats(seats) => {
                if seen_holds.contains(&e.hold) {
                    return Err(format!("hold {} reported twice", e.hold));
                }
                seen_holds.push(e.hold);
                if seats.is_empty() || !seats.windows(2).all(|w| w[0] < w[1]) {
                    return Err(format!("seats of hold {} not ascending: {seats:?}", e.hold));
                }
                for s in seats {
                    let seat = model.seats.get_mut(s.0 as usize).ok_or(format!("unknown seat {s}"))?;
                    if !matches!(seat.state, SeatState::Held { hold, owner, until, .. }
                        if hold == e.hold && owner == e.owner && until <= now)
                    {
                        return Err(format!("seat {s} is not expired under hold {} of {}", e.hold, e.owner));
                    }
                    fsm::apply(seat, &SeatOp::Expire, &fsm::Applied::bump(seat.version + 1));
                    count += 1;
                }
            }
            HoldItems::Pool { pool, quantity } => {
                let p = model.pools.get_mut(pool.0 as usize).ok_or(format!("unknown pool {pool}"))?;
                let i = p
                    .holds
                    .iter()
                    .position(|h| h.hold == e.hold && h.owner == e.owner && h.quantity == *quantity && h.until <= now)
                    .ok_or(format!("no expired pool hold {} of {}", e.hold, e.owner))?;
                p.holds.remove(i);
                touched_pools.push(pool.0 as usize);
                count += 1;
            }
        }
    }
    touched_pools.sort_unstable();
    touched_pools.dedup();
    for i in touched_pools {
        model.pools[i].version += 1;
    }
    if count != limit.min(candidates) {
        return Err(format!("freed {count} of {candidates} expired with limit {limit}"));
    }
    Ok(())
}
