//! One vocabulary of refusals for every backend.
//!
//! A backend whose decisions run inside its store (a SQL function, a Lua
//! script) answers a refused request with a [`Refusal`] code, as text, and
//! the few numbers the error needs; [`Refused::into_error`] turns that into
//! the [`InventoryError`] the caller gets, filling in what the request
//! itself says (the show, the hold, the order, the pool). So every backend
//! names a refusal the same way, and the mapping lives in one place.

use crate::error::{InvalidRequest, InventoryError, Limit};
use crate::ids::{HoldId, OrderId, PoolId, SeatId, ShowId};

macro_rules! refusals {
    ($($(#[$doc:meta])* $name:ident = $code:literal,)*) => {
        /// Why a store refused a request, as a stable code.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum Refusal {
            $($(#[$doc])* $name,)*
        }

        impl Refusal {
            /// Every refusal, in declaration order.
            pub const ALL: &'static [Refusal] = &[$(Refusal::$name,)*];

            /// The code a store answers with.
            pub fn code(self) -> &'static str {
                match self {
                    $(Refusal::$name => $code,)*
                }
            }

            /// The refusal a code names.
            pub fn from_code(code: &str) -> Option<Refusal> {
                match code {
                    $($code => Some(Refusal::$name),)*
                    _ => None,
                }
            }
        }
    };
}

refusals! {
    /// No such show.
    UnknownShow = "UNKNOWN_SHOW",
    /// A seat outside the show (`seats[0]` names it).
    UnknownSeat = "UNKNOWN_SEAT",
    /// A pool outside the show.
    UnknownPool = "UNKNOWN_POOL",
    /// Seats not available (`seats` names them).
    SeatsTaken = "SEATS_TAKEN",
    /// A pool short of units (`number` = units available).
    InsufficientCapacity = "INSUFFICIENT_CAPACITY",
    /// Best-available found nothing.
    NoSeatsAvailable = "NO_SEATS_AVAILABLE",
    /// The hold is not live (expired, released, sold, never existed).
    HoldExpired = "HOLD_EXPIRED",
    /// The hold is someone else's.
    NotOwner = "NOT_OWNER",
    /// An older token (`number` = the hold's current version).
    StaleToken = "STALE_TOKEN",
    /// A token that is not the whole hold.
    TokenMismatch = "TOKEN_MISMATCH",
    /// The per-owner limit (`number` = what the owner would hold).
    HeldPerOwner = "HELD_PER_OWNER",
    /// The per-owner ticket cap (`number` = what the owner would have,
    /// held and sold).
    TicketsPerOwner = "TICKETS_PER_OWNER",
    /// The per-payment purchase cap (`number` = what the payer would have
    /// bought).
    TicketsPerPayment = "TICKETS_PER_PAYMENT",
    /// No extensions left.
    Renewals = "RENEWALS",
    /// The hold reached its maximum lifetime.
    HoldLifetime = "HOLD_LIFETIME",
    /// Items not sold to the order.
    NotSold = "NOT_SOLD",
    /// Seats in the wrong state for a block or unblock (`seats` names them).
    WrongState = "WRONG_STATE",
    /// The order was sold by another request.
    SaleConflict = "SALE_CONFLICT",
}

/// What the request said, for the parts of an error the store does not
/// answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Context {
    /// The show.
    pub show: Option<ShowId>,
    /// The hold the token names.
    pub hold: Option<HoldId>,
    /// The version the token presents.
    pub presented: Option<u64>,
    /// The order of a sell or refund.
    pub order: Option<OrderId>,
    /// The pool of a pool request.
    pub pool: Option<PoolId>,
    /// Seats or units requested.
    pub requested: u32,
    /// The show's per-owner limit.
    pub max_held: Option<u32>,
    /// The show's per-owner ticket cap (held and sold).
    pub max_tickets: Option<u32>,
    /// The show's per-payment purchase cap.
    pub max_payment: Option<u32>,
    /// The show's renewal limit.
    pub max_renewals: u32,
}

/// A refusal as a store answered it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused {
    /// Which refusal.
    pub refusal: Refusal,
    /// The seats concerned, when the refusal names seats.
    pub seats: Vec<SeatId>,
    /// The number the refusal carries (see each [`Refusal`]), else 0.
    pub number: i64,
}

/// Why a store's answer could not be read as a refusal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unreadable refusal from the store: {0}")]
pub struct UnreadableRefusal(pub String);

impl Refused {
    /// A refusal from its code.
    pub fn from_code(code: &str, seats: Vec<SeatId>, number: i64) -> Result<Refused, UnreadableRefusal> {
        let refusal = Refusal::from_code(code).ok_or_else(|| UnreadableRefusal(code.to_owned()))?;
        Ok(Refused { refusal, seats, number })
    }

    /// The error the caller gets. A refusal whose error needs something
    /// neither the store nor the request gave (a hold refusal without a
    /// hold, say) is the backend's bug and comes back as
    /// `InventoryError::Backend`.
    pub fn into_error(self, ctx: &Context) -> InventoryError {
        let n = self.number;
        let missing = |what: &str| {
            InventoryError::Backend(Box::new(UnreadableRefusal(format!("{} without {what}", self.refusal.code()))))
        };
        let u32n = u32::try_from(n.max(0)).unwrap_or(u32::MAX);
        match self.refusal {
            Refusal::UnknownShow => match ctx.show {
                Some(show) => InventoryError::UnknownShow(show),
                None => missing("a show"),
            },
            Refusal::UnknownSeat => match (ctx.show, self.seats.first()) {
                (Some(show), Some(&seat)) => InventoryError::UnknownSeat { show, seat },
                _ => missing("a show and a seat"),
            },
            Refusal::UnknownPool => match (ctx.show, ctx.pool) {
                (Some(show), Some(pool)) => InventoryError::UnknownPool { show, pool },
                _ => missing("a show and a pool"),
            },
            Refusal::SeatsTaken => InventoryError::SeatsTaken { seats: self.seats },
            Refusal::InsufficientCapacity => match ctx.pool {
                Some(pool) => InventoryError::InsufficientCapacity { pool, requested: ctx.requested, available: u32n },
                None => missing("a pool"),
            },
            Refusal::NoSeatsAvailable => InventoryError::NoSeatsAvailable { requested: ctx.requested },
            Refusal::HoldExpired | Refusal::NotOwner | Refusal::StaleToken => {
                let Some(hold) = ctx.hold else { return missing("a hold") };
                match self.refusal {
                    Refusal::HoldExpired => InventoryError::HoldExpired { hold },
                    Refusal::NotOwner => InventoryError::NotOwner { hold },
                    _ => InventoryError::StaleToken {
                        hold,
                        presented: ctx.presented.unwrap_or(0),
                        current: u64::try_from(n).unwrap_or(0),
                    },
                }
            }
            Refusal::TokenMismatch => InvalidRequest::TokenMismatch.into(),
            Refusal::HeldPerOwner => match ctx.max_held {
                Some(max) => InventoryError::LimitExceeded(Limit::HeldPerOwner { would_hold: u32n, max }),
                None => missing("a per-owner limit"),
            },
            Refusal::TicketsPerOwner => match ctx.max_tickets {
                Some(max) => InventoryError::LimitExceeded(Limit::TicketsPerOwner { would_have: u32n, max }),
                None => missing("a per-owner ticket cap"),
            },
            Refusal::TicketsPerPayment => match ctx.max_payment {
                Some(max) => InventoryError::LimitExceeded(Limit::TicketsPerPayment { would_have: u32n, max }),
                None => missing("a per-payment purchase cap"),
            },
            Refusal::Renewals => InventoryError::LimitExceeded(Limit::Renewals { max: ctx.max_renewals }),
            Refusal::HoldLifetime => InventoryError::LimitExceeded(Limit::HoldLifetime),
            Refusal::NotSold | Refusal::SaleConflict => {
                let Some(order) = ctx.order else { return missing("an order") };
                if self.refusal == Refusal::NotSold {
                    InventoryError::NotSold { order }
                } else {
                    InventoryError::SaleConflict { order }
                }
            }
            Refusal::WrongState => InventoryError::WrongState { seats: self.seats },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_and_is_unique() {
        let mut codes: Vec<&str> = Refusal::ALL.iter().map(|r| r.code()).collect();
        for r in Refusal::ALL {
            assert_eq!(Refusal::from_code(r.code()), Some(*r));
        }
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), Refusal::ALL.len());
        assert_eq!(Refusal::from_code("NOPE"), None);
    }

    #[test]
    fn errors_take_what_the_request_said() {
        let hold = HoldId::new();
        let ctx = Context { hold: Some(hold), presented: Some(3), ..Context::default() };
        let e = Refused::from_code("STALE_TOKEN", vec![], 5).expect("code").into_error(&ctx);
        assert!(matches!(e, InventoryError::StaleToken { hold: h, presented: 3, current: 5 } if h == hold));
        let e = Refused::from_code("NOT_SOLD", vec![], 0).expect("code").into_error(&ctx);
        assert!(
            matches!(e, InventoryError::Backend(_)),
            "no order in the context: the backend's bug, not a made-up id"
        );
        assert!(Refused::from_code("??", vec![], 0).is_err());
    }
}
