//! The input of `inventory_vs_model`: what `arbitrary` decodes a fuzz input
//! into, and the show it describes.

use arbitrary::Arbitrary;
use booking_core::{
    HoldPolicy, OrderId, OwnerId, PriceCategory, RowSpec, SeatSpec, SectionSpec, ShowSpec, VenueLayout,
};
use std::time::Duration;

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

pub(super) fn owner(i: u8) -> OwnerId {
    OwnerId::from_u128(0x0100 + u128::from(i % 4))
}

pub(super) fn order(i: u8) -> OrderId {
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
            // Not drawn from the input, so that the corpus keeps decoding
            // to the scenarios it was kept for.
            max_tickets_per_owner: None,
            max_tickets_per_payment: None,
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
