//! The seat-inventory port: the trait every backend implements, and the
//! request and response types it speaks.

use crate::backend::fsm::{PoolHold, PoolSale, Seat, SeatStatus};
use crate::error::{InventoryError, Result};
use crate::ids::{HoldId, OrderId, OwnerId, PayerKey, PaymentRef, PoolId, PriceCategory, SeatId, SectionId, ShowId};
use crate::layout::{LayoutIndex, ShowSpec, VenueLayout};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures_core::Stream;
use serde::{Deserialize, Serialize};
use std::fmt::Debug;
use std::pin::Pin;

/// Hold specific seats, all or none.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldSeats {
    /// The show.
    pub show: ShowId,
    /// Who holds.
    pub owner: OwnerId,
    /// The seats, each at most once.
    pub seats: Vec<SeatId>,
}

/// Hold the best `quantity` available seats.
///
/// "Best" is layout order: earlier sections and rows first. The picker
/// prefers, in order: `quantity` adjacent seats in one row that leave no
/// single free seat stranded between taken seats; adjacent seats in one row
/// that do; the first free seats in layout order. Within a row it prefers
/// the block nearest the middle. See [`crate::backend::best::pick_best`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldBest {
    /// The show.
    pub show: ShowId,
    /// Who holds.
    pub owner: OwnerId,
    /// How many seats.
    pub quantity: u32,
    /// Only seats in this section.
    pub section: Option<SectionId>,
    /// Only seats in this price category.
    pub category: Option<PriceCategory>,
}

/// Hold `quantity` units of a general-admission pool, all or none.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldPool {
    /// The show.
    pub show: ShowId,
    /// Who holds.
    pub owner: OwnerId,
    /// The pool.
    pub pool: PoolId,
    /// How many units.
    pub quantity: u32,
}

/// What a hold (or a sale) covers.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HoldItems {
    /// Specific seats, in ascending id order.
    Seats(Vec<SeatId>),
    /// Units of a pool.
    Pool {
        /// The pool.
        pool: PoolId,
        /// How many units.
        quantity: u32,
    },
}

impl HoldItems {
    /// Seats or units covered.
    pub fn count(&self) -> u32 {
        match self {
            HoldItems::Seats(s) => s.len() as u32,
            HoldItems::Pool { quantity, .. } => *quantity,
        }
    }
}

/// Proof of a hold: what the owner presents to extend, release or sell it.
/// A token whose `version` is older than the hold's is stale (design I4).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HoldToken {
    /// The show.
    pub show: ShowId,
    /// The hold.
    pub hold: HoldId,
    /// The hold's version when this token was issued (the fencing token).
    pub version: u64,
    /// What is held.
    pub items: HoldItems,
}

/// A live hold as granted or extended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    /// The token to present for extend, release and sell.
    pub token: HoldToken,
    /// The holder.
    pub owner: OwnerId,
    /// The hold is live until this instant (exclusive).
    pub held_until: DateTime<Utc>,
    /// Extensions used so far.
    pub renewals: u32,
}

impl Hold {
    /// A hold as backends report it, from the state machine's millisecond
    /// expiry.
    pub fn from_parts(
        show: ShowId,
        owner: OwnerId,
        hold: HoldId,
        version: u64,
        items: HoldItems,
        until_millis: i64,
        renewals: u32,
    ) -> Self {
        Hold {
            token: HoldToken { show, hold, version, items },
            owner,
            held_until: crate::clock::millis_to_datetime(until_millis),
            renewals,
        }
    }
}

/// Extend or release a hold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldAction {
    /// Who asks; must be the holder.
    pub owner: OwnerId,
    /// The newest token of the hold.
    pub token: HoldToken,
}

/// Sell a held set of seats (or units) after the payment was captured.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sell {
    /// Who asks; must be the holder.
    pub owner: OwnerId,
    /// The newest token of the hold.
    pub token: HoldToken,
    /// The order the seats are sold to. Selling again with the same order
    /// (a retry after an unknown outcome) succeeds without a second effect.
    pub order: OrderId,
    /// Proof of the captured payment (design I6).
    pub payment: PaymentRef,
    /// Who paid, for the show's per-payment cap ([`crate::HoldPolicy`]); `None` is not counted.
    #[serde(default)]
    pub payer: Option<PayerKey>,
}

/// A completed sale.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sale {
    /// The show.
    pub show: ShowId,
    /// The order.
    pub order: OrderId,
    /// The buyer.
    pub owner: OwnerId,
    /// What was sold.
    pub items: HoldItems,
    /// The seats' (or pool's) version after the sale.
    pub version: u64,
}

/// What an order was sold with, kept per show for as long as the show
/// lives (refunds do not remove it): the answer to every later sell of the
/// same order.
///
/// An order buys one hold, once. A sell naming an order that has a record
/// is answered from the record, without touching the seats: the same
/// request gets the first answer back unchanged, however much happened
/// since (a refund included); any other request gets
/// [`InventoryError::SaleConflict`]. See [`SaleRecord::replay`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaleRecord {
    /// The answer the sale gave.
    pub sale: Sale,
    /// The token the seats (or units) were sold with.
    pub token: HoldToken,
    /// The captured payment they were sold with.
    pub payment: PaymentRef,
    /// The payer they were sold to (see [`Sell::payer`]).
    #[serde(default)]
    pub payer: Option<PayerKey>,
}

impl SaleRecord {
    /// The record a successful sell of `req` leaves.
    pub fn new(req: &Sell, sale: Sale) -> Self {
        SaleRecord { sale, token: req.token.clone(), payment: req.payment.clone(), payer: req.payer.clone() }
    }

    /// The answer to `req`, a sell of this record's order: the recorded
    /// sale when `req` repeats the first request (same owner, token,
    /// payment and payer), else [`InventoryError::SaleConflict`].
    pub fn replay(&self, req: &Sell) -> Result<Sale> {
        if req.order == self.sale.order
            && req.owner == self.sale.owner
            && req.token == self.token
            && req.payment == self.payment
            && req.payer == self.payer
        {
            Ok(self.sale.clone())
        } else {
            Err(InventoryError::SaleConflict { order: req.order })
        }
    }
}

/// Return sold seats (or units) of an order to sale: a refund or a void.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    /// The show.
    pub show: ShowId,
    /// The order the items were sold to.
    pub order: OrderId,
    /// What to return: any subset of what the order bought.
    pub items: HoldItems,
}

/// A hold the sweeper freed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpiredHold {
    /// The show.
    pub show: ShowId,
    /// The hold.
    pub hold: HoldId,
    /// Its owner.
    pub owner: OwnerId,
    /// What was freed. A hold whose seats straddle two sweep batches is
    /// reported once per batch with the seats freed in that batch.
    pub items: HoldItems,
}

/// A seat in a snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatView {
    /// The seat.
    pub seat: SeatId,
    /// Its status at the snapshot's instant.
    pub status: SeatStatus,
    /// Its version.
    pub version: u64,
}

/// A pool in a snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolView {
    /// The pool.
    pub pool: PoolId,
    /// Units for sale.
    pub capacity: u32,
    /// Units under live holds.
    pub held: u32,
    /// Units sold.
    pub sold: u32,
    /// Units free to hold.
    pub available: u32,
}

/// Seats per status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusCounts {
    /// Free seats.
    pub available: u32,
    /// Seats under live holds.
    pub held: u32,
    /// Sold seats.
    pub sold: u32,
    /// Blocked seats.
    pub blocked: u32,
}

impl StatusCounts {
    fn add(&mut self, s: SeatStatus) {
        match s {
            SeatStatus::Available => self.available += 1,
            SeatStatus::Held => self.held += 1,
            SeatStatus::Sold => self.sold += 1,
            SeatStatus::Blocked => self.blocked += 1,
        }
    }
}

/// Counts for one (section, price category) pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoryCount {
    /// The section.
    pub section: SectionId,
    /// The price category.
    pub category: PriceCategory,
    /// Seats per status.
    pub counts: StatusCounts,
}

/// The state of a whole show at one instant: what a seat map draws.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The show.
    pub show: ShowId,
    /// Every seat, in id order.
    pub seats: Vec<SeatView>,
    /// Every pool, in id order.
    pub pools: Vec<PoolView>,
    /// Seat counts per section and price category, in layout order.
    pub categories: Vec<CategoryCount>,
}

impl Snapshot {
    /// Builds a snapshot, deriving the per-category counts from the seats.
    pub fn new(show: ShowId, layout: &VenueLayout, seats: Vec<SeatView>, pools: Vec<PoolView>) -> Self {
        Self::from_index(show, &LayoutIndex::new(layout), seats, pools)
    }

    /// [`Snapshot::new`] from a [`LayoutIndex`].
    pub fn from_index(show: ShowId, index: &LayoutIndex, seats: Vec<SeatView>, pools: Vec<PoolView>) -> Self {
        let mut categories: Vec<CategoryCount> = Vec::new();
        for row in &index.rows {
            for id in row.first.0..row.first.0 + row.len {
                let key = (row.section, index.category(SeatId(id)));
                let i = match categories.iter().rposition(|c| (c.section, c.category) == key) {
                    Some(i) => i,
                    None => {
                        categories.push(CategoryCount {
                            section: key.0,
                            category: key.1,
                            counts: StatusCounts::default(),
                        });
                        categories.len() - 1
                    }
                };
                if let Some(v) = seats.get(id as usize) {
                    categories[i].counts.add(v.status);
                }
            }
        }
        Snapshot { show, seats, pools, categories }
    }

    /// Seat totals per status.
    pub fn totals(&self) -> StatusCounts {
        let mut t = StatusCounts::default();
        for s in &self.seats {
            t.add(s.status);
        }
        t
    }
}

/// A general-admission pool in an [`Audit`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolAudit {
    /// The pool.
    pub pool: PoolId,
    /// Units for sale.
    pub capacity: u32,
    /// Units sold.
    pub sold: u32,
    /// The pool's version.
    pub version: u64,
    /// Live holds (expiry after the audit's instant), by hold id.
    pub holds: Vec<PoolHold>,
    /// Units sold and not refunded, per (order, hold), in that order.
    pub sales: Vec<PoolSale>,
}

/// Everything a show's inventory records, at one instant of the store's
/// clock: who holds or bought each seat and pool unit, under which hold and
/// order, and every sale record. For operators checking a store (after a
/// restore, say) and for the conformance suite, which compares it with the
/// reference model. Unlike [`Snapshot`] it names owners: do not show it to
/// buyers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Audit {
    /// The show.
    pub show: ShowId,
    /// The store's clock when the audit was read.
    pub now: DateTime<Utc>,
    /// Every seat's stored state, in id order. A hold past its expiry that
    /// no sweep has freed yet is still shown as held.
    pub seats: Vec<Seat>,
    /// Every pool, in id order.
    pub pools: Vec<PoolAudit>,
    /// Every sale record, by order id.
    pub sales: Vec<SaleRecord>,
}

/// What happened to a show's inventory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ChangeKind {
    /// Seats or units were held.
    Held,
    /// A hold was extended.
    Extended,
    /// A hold was released by its owner.
    Released,
    /// The sweeper freed an expired hold.
    Expired,
    /// Seats or units were sold.
    Sold,
    /// Sold seats or units were returned to sale.
    Refunded,
    /// Seats were blocked.
    Blocked,
    /// Seats were unblocked.
    Unblocked,
}

/// One change of a show's inventory, as the change feed delivers it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatChange {
    /// The show.
    pub show: ShowId,
    /// What happened.
    pub kind: ChangeKind,
    /// The hold concerned, if any.
    pub hold: Option<HoldId>,
    /// The order concerned, if any.
    pub order: Option<OrderId>,
    /// The seats or units concerned.
    pub items: HoldItems,
    /// The seats' (or pool's) version after the change; for an `Expired`
    /// change, the highest new version of its seats. Per seat, versions
    /// order the changes.
    pub version: u64,
}

/// Combining concurrent requests into one store call (batching), for the
/// backends that offer it. One meaning everywhere: per show and kind of
/// request, a request is sent at once while fewer than `max_in_flight`
/// calls (single requests or batches) are in flight; beyond that it waits,
/// and the waiting requests go together as one batch of at most
/// `max_batch` when a call returns. Every caller still gets its own
/// all-or-nothing answer, as if the batch's requests were decided one by
/// one in arrival order (a backend may decide requests that share no owner
/// and no seat in any order: their answers are the same).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coalescing {
    /// The most requests in one batch (at least 1).
    pub max_batch: usize,
    /// Calls in flight per show and kind before requests wait (at least 1).
    pub max_in_flight: usize,
}

/// A show's change feed. An `Err(InventoryError::FeedLagged)` item means the
/// subscriber fell behind and missed events: re-read the snapshot; the
/// stream goes on with newer events.
///
/// It is an ordinary [`Stream`]: `tokio_stream::StreamExt` or
/// `futures::StreamExt` combinators apply (booking-memory's crate docs show
/// one).
pub type ChangeStream = Pin<Box<dyn Stream<Item = Result<SeatChange>> + Send>>;

/// Seat inventory for shows: the port every backend implements.
///
/// All-or-nothing holds, fenced tokens, lazy expiry and a sweeper; see
/// docs/design.md for the invariants I1-I8 and the conformance suite
/// (`booking_core::testkit`, feature `testkit`) that holds every
/// implementation to them.
///
/// Errors that decide the request (everything but
/// [`InventoryError::Unavailable`], [`InventoryError::OutcomeUnknown`] and
/// [`InventoryError::Backend`]) leave the inventory unchanged.
#[async_trait]
pub trait SeatInventory: Send + Sync + Debug {
    /// Creates a show's inventory: every seat available, every pool empty.
    ///
    /// Errors: [`InventoryError::ShowExists`], [`InventoryError::InvalidRequest`]
    /// (see [`ShowSpec::validate`]).
    async fn create_show(&self, show: &ShowSpec) -> Result<()>;

    /// Holds the named seats, all or none (design I3).
    ///
    /// Errors: `UnknownShow`, `UnknownSeat`, `InvalidRequest` (no seats, a
    /// duplicate, more than the per-request maximum), `SeatsTaken` (naming
    /// the unavailable seats), `LimitExceeded(HeldPerOwner)`.
    async fn hold_seats(&self, req: &HoldSeats) -> Result<Hold>;

    /// Holds the best available seats (see [`HoldBest`]).
    ///
    /// Errors: as [`SeatInventory::hold_seats`], plus `NoSeatsAvailable`
    /// when no `quantity` seats match.
    async fn hold_best(&self, req: &HoldBest) -> Result<Hold>;

    /// Holds units of a general-admission pool, all or none.
    ///
    /// Errors: `UnknownShow`, `UnknownPool`, `InvalidRequest` (zero or too
    /// many), `InsufficientCapacity`, `LimitExceeded(HeldPerOwner)`.
    async fn hold_pool(&self, req: &HoldPool) -> Result<Hold>;

    /// Extends a live hold by the show's TTL (capped at its maximum
    /// lifetime) and returns the new token; the old one becomes stale.
    ///
    /// The token must name the whole hold: every seat of it and no other
    /// (or the pool quantity held), else `InvalidRequest(TokenMismatch)`;
    /// the same holds for release and sell.
    ///
    /// Errors: `NotOwner`, `StaleToken`, `HoldExpired`,
    /// `LimitExceeded(Renewals | HoldLifetime)`, `UnknownShow`,
    /// `UnknownSeat`/`UnknownPool`, `InvalidRequest`.
    async fn extend(&self, req: &HoldAction) -> Result<Hold>;

    /// Checks a hold without changing it: the hold as it stands when
    /// `req`'s token is its current, whole token, presented by its owner,
    /// and the hold is live. The checkout verifies a hold before it takes
    /// money for it.
    ///
    /// Errors: as [`SeatInventory::release`].
    async fn verify(&self, req: &HoldAction) -> Result<Hold>;

    /// Releases a live hold.
    ///
    /// Errors: `NotOwner`, `StaleToken`, `HoldExpired` (also for a hold
    /// already released), `UnknownShow`, `UnknownSeat`/`UnknownPool`,
    /// `InvalidRequest`.
    async fn release(&self, req: &HoldAction) -> Result<()>;

    /// Sells a live hold to an order after payment capture (design I6). An
    /// order buys one hold once: a replay of the same request returns the
    /// first sale unchanged, any other sell of that order is refused (see
    /// [`SaleRecord`]).
    ///
    /// Errors: `NotOwner`, `StaleToken`, `HoldExpired`, `SaleConflict`,
    /// `UnknownShow`, `UnknownSeat`/`UnknownPool`, `InvalidRequest` (bad
    /// payment ref, a token that is not the whole hold).
    async fn sell(&self, req: &Sell) -> Result<Sale>;

    /// Returns sold seats or units of an order to sale.
    ///
    /// Errors: `NotSold` (an item not sold to that order), `UnknownShow`,
    /// `UnknownSeat`/`UnknownPool`, `InvalidRequest`.
    async fn refund(&self, req: &Refund) -> Result<()>;

    /// Takes available seats out of sale.
    ///
    /// Errors: `WrongState` (a seat held, sold or blocked), `UnknownShow`,
    /// `UnknownSeat`, `InvalidRequest`.
    async fn block(&self, show: ShowId, seats: &[SeatId]) -> Result<()>;

    /// Returns blocked seats to sale.
    ///
    /// Errors: `WrongState` (a seat not blocked), `UnknownShow`,
    /// `UnknownSeat`, `InvalidRequest`.
    async fn unblock(&self, show: ShowId, seats: &[SeatId]) -> Result<()>;

    /// The show's state now, holds past expiry shown as available.
    ///
    /// Errors: `UnknownShow`.
    async fn snapshot(&self, show: ShowId) -> Result<Snapshot>;

    /// Frees up to `limit` expired seats and pool holds of a show and
    /// reports them, grouped per hold. Safe to run concurrently with
    /// everything, including other sweepers: each expired seat is reported
    /// by one sweep. When more than `limit` are expired, which go first is
    /// up to the backend. A hold that expired and was taken over by a new
    /// hold before any sweep is never reported: the new hold superseded it.
    ///
    /// Errors: `UnknownShow`, `InvalidRequest(ZeroLimit)`.
    async fn sweep_expired(&self, show: ShowId, limit: usize) -> Result<Vec<ExpiredHold>>;

    /// Everything the show records, owners included (see [`Audit`]).
    ///
    /// Errors: `UnknownShow`.
    async fn audit(&self, show: ShowId) -> Result<Audit>;

    /// The shows not archived, by id.
    async fn list_shows(&self) -> Result<Vec<ShowId>>;

    /// A show's specification as it was created (layout with seat labels,
    /// pools, policy), archived or not.
    ///
    /// Errors: `UnknownShow`.
    async fn show_spec(&self, show: ShowId) -> Result<ShowSpec>;

    /// Archives a show once its sale is over: it is no longer listed (so
    /// maintenance no longer sweeps it) and otherwise answers as before
    /// (refunds, audits, snapshots). Archiving an archived show changes
    /// nothing.
    ///
    /// Errors: `UnknownShow`.
    async fn archive_show(&self, show: ShowId) -> Result<()>;

    /// Deletes change-feed entries older than `older_than` from a store
    /// that keeps them until told (PostgreSQL's change table); returns how
    /// many. A subscriber still behind them gets `FeedLagged`. Backends
    /// whose feed is bounded by itself (memory's buffer, a capped Redis
    /// stream) return 0.
    async fn prune_feed(&self, older_than: std::time::Duration) -> Result<u64>;

    /// Subscribes to the show's changes from now on.
    ///
    /// Errors: `UnknownShow`.
    async fn subscribe(&self, show: ShowId) -> Result<ChangeStream>;
}
