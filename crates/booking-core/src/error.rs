//! The one error type of the inventory port.

use crate::ids::{HoldId, OrderId, PoolId, SeatId, ShowId};
use thiserror::Error;

/// Shorthand for results of the inventory port.
pub type Result<T, E = InventoryError> = std::result::Result<T, E>;

/// Why an inventory request failed.
///
/// Every variant but [`InventoryError::Backend`], [`InventoryError::Unavailable`]
/// and [`InventoryError::OutcomeUnknown`] is a decision about the request: the
/// request changed nothing (design I7) and retrying it unchanged gives the same
/// answer until the inventory changes.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum InventoryError {
    /// The request is malformed; nothing was changed. Fix the request.
    #[error("invalid request: {0}")]
    InvalidRequest(#[from] InvalidRequest),

    /// No show with this id exists.
    #[error("unknown show {0}")]
    UnknownShow(ShowId),

    /// A show with this id already exists.
    #[error("show {0} already exists")]
    ShowExists(ShowId),

    /// A seat id is outside the show's layout.
    #[error("unknown seat {seat} in show {show}")]
    UnknownSeat {
        /// The show.
        show: ShowId,
        /// The first unknown seat.
        seat: SeatId,
    },

    /// A pool id is outside the show's pools.
    #[error("unknown pool {pool} in show {show}")]
    UnknownPool {
        /// The show.
        show: ShowId,
        /// The unknown pool.
        pool: PoolId,
    },

    /// At least one requested seat is held, sold or blocked; no seat was
    /// taken (design I3). Pick other seats.
    #[error("seats not available: {seats:?}")]
    SeatsTaken {
        /// The requested seats that were not available (at least one).
        seats: Vec<SeatId>,
    },

    /// The pool has fewer units left than requested; none were taken.
    #[error("pool {pool} has {available} units left, {requested} requested")]
    InsufficientCapacity {
        /// The pool.
        pool: PoolId,
        /// Units requested.
        requested: u32,
        /// Units available when the request was decided.
        available: u32,
    },

    /// Best-available found no set of seats matching the request.
    #[error("no {requested} seats available matching the request")]
    NoSeatsAvailable {
        /// Seats requested.
        requested: u32,
    },

    /// The hold is no longer live: it expired (whether or not the sweeper
    /// has freed its seats yet), or it was released. Start over.
    #[error("hold {hold} is no longer live")]
    HoldExpired {
        /// The hold.
        hold: HoldId,
    },

    /// The hold belongs to another owner (design I4).
    #[error("hold {hold} belongs to another owner")]
    NotOwner {
        /// The hold.
        hold: HoldId,
    },

    /// The token is older than the hold's current version: the hold was
    /// extended since this token was issued (design I4). Use the newest token.
    #[error("stale token for hold {hold}: presented version {presented}, current {current}")]
    StaleToken {
        /// The hold.
        hold: HoldId,
        /// The version the caller presented.
        presented: u64,
        /// The current version.
        current: u64,
    },

    /// A policy limit would be exceeded; nothing was changed.
    #[error("limit exceeded: {0}")]
    LimitExceeded(Limit),

    /// A refund named seats or units not sold to that order.
    #[error("not sold to order {order}")]
    NotSold {
        /// The order.
        order: OrderId,
    },

    /// The order was already sold by a different request (another owner,
    /// token or payment): a sell replay must repeat the first request
    /// exactly, and an order buys one hold. Nothing was changed; the first
    /// sale stands. Use a new order for a new purchase.
    #[error("order {order} was already sold by a different request")]
    SaleConflict {
        /// The order.
        order: OrderId,
    },

    /// A block or unblock found a seat in the wrong state.
    #[error("seats not in a state that allows this: {seats:?}")]
    WrongState {
        /// The seats in the wrong state.
        seats: Vec<SeatId>,
    },

    /// A change-feed subscriber fell behind and missed events. Re-read the
    /// snapshot; the stream goes on with newer events.
    #[error("change feed lagged: {missed} events missed")]
    FeedLagged {
        /// How many events were dropped (0 when the backend cannot tell).
        missed: u64,
    },

    /// The store could not be reached or refused the request for a
    /// transient reason before anything was changed. Safe to retry.
    #[error("store unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),

    /// The connection was lost after the request may have been applied. The
    /// outcome is unknown: read the snapshot, or retry an idempotent request.
    #[error("outcome unknown: {0}")]
    OutcomeUnknown(#[source] Box<dyn std::error::Error + Send + Sync>),

    /// Any other failure of the store.
    #[error("backend error: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl InventoryError {
    /// True when the same request may succeed if simply retried.
    pub fn is_retryable(&self) -> bool {
        matches!(self, InventoryError::Unavailable(_))
    }
}

/// A malformed request. Requests that fail this way change nothing.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum InvalidRequest {
    /// No seats named.
    #[error("no seats named")]
    NoSeats,
    /// A seat is named twice.
    #[error("seat {0} named twice")]
    DuplicateSeat(SeatId),
    /// A quantity of zero.
    #[error("quantity must be at least 1")]
    ZeroQuantity,
    /// More seats or units than one request may take.
    #[error("{requested} requested, at most {max} per request")]
    TooMany {
        /// What was asked for.
        requested: u32,
        /// The show's per-request maximum.
        max: u32,
    },
    /// A token whose items are not the whole of the hold it names (a
    /// subset or superset of its seats, another pool quantity).
    #[error("token does not match the hold")]
    TokenMismatch,
    /// A sweep limit of zero.
    #[error("limit must be at least 1")]
    ZeroLimit,
    /// A show specification that cannot be built.
    #[error("invalid show: {0}")]
    InvalidShow(String),
    /// A payment reference that is empty or too long.
    #[error("payment reference must be 1..=256 bytes")]
    BadPaymentRef,
    /// A payer key that is empty, longer than 128 bytes, or not printable
    /// ASCII without spaces.
    #[error("payer key must be 1..=128 bytes of printable ASCII without spaces")]
    BadPayerKey,
}

/// Which policy limit a request ran into.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Limit {
    /// The owner would hold more seats (or units) in this show than allowed.
    #[error("owner would hold {would_hold} in this show, at most {max}")]
    HeldPerOwner {
        /// What the owner would hold with this request.
        would_hold: u32,
        /// The show's limit.
        max: u32,
    },
    /// The owner would have more seats (or units) in this show, held and
    /// bought together, than allowed: buy fewer, or none.
    #[error("owner would have {would_have} in this show (held and bought), at most {max}")]
    TicketsPerOwner {
        /// What the owner would have with this request: live holds plus
        /// sold, not refunded, items plus the request.
        would_have: u32,
        /// The show's limit.
        max: u32,
    },
    /// The payer (one payment method) would have bought more seats (or
    /// units) in this show than allowed: the sale is refused.
    #[error("payer would have bought {would_have} in this show, at most {max}")]
    TicketsPerPayment {
        /// What the payer would have bought with this sale: sold, not
        /// refunded, items plus the sale's.
        would_have: u32,
        /// The show's limit.
        max: u32,
    },
    /// The hold was already extended the maximum number of times.
    #[error("hold already extended {max} times")]
    Renewals {
        /// The show's limit.
        max: u32,
    },
    /// The hold has reached its maximum total lifetime.
    #[error("hold reached its maximum lifetime")]
    HoldLifetime,
}
