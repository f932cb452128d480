//! The seat state machine as pure functions (docs/design.md, "The seat
//! state machine").
//!
//! Backends must reproduce these transitions atomically; the reference model
//! ([`crate::testkit::model::ShowModel`]) and the conformance suite hold them to it.
//!
//! Times are Unix milliseconds from the backend's one clock (design I8). A
//! hold is live while `now < until`; from `until` on it counts as available
//! (lazy expiry, design I5).
//!
//! Every transition bumps the per-seat `version`, the fencing token. When a
//! transition touches several seats at once, they all take the same new
//! version, `1 + max(old versions)`: still strictly increasing per seat, and
//! uniform within a hold, so one number fences a whole multi-seat hold.

use crate::error::{InventoryError, Limit};
use crate::ids::{HoldId, OrderId, OwnerId, SeatId};
use serde::{Deserialize, Serialize};

/// The state of one seat.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SeatState {
    /// Free to hold.
    Available,
    /// Held by `owner` under `hold` until `until` (exclusive).
    Held {
        /// Who holds it.
        owner: OwnerId,
        /// The hold it belongs to.
        hold: HoldId,
        /// Expiry, Unix ms: live while `now < until`.
        until: i64,
        /// The latest `until` any extension may reach, Unix ms.
        deadline: i64,
        /// Extensions so far.
        renewals: u32,
        /// Seats the hold was granted with. A hold's seats change together
        /// (extend, release and sell take the whole hold), so a token naming
        /// any other number of seats is not this hold's token. (At most the
        /// per-request maximum, itself at most 10,000: 16 bits keep a seat
        /// in 64 bytes.)
        size: u16,
    },
    /// Sold to `owner` in `order`.
    Sold {
        /// The buyer.
        owner: OwnerId,
        /// The order.
        order: OrderId,
    },
    /// Taken out of sale (venue kill, promoter block).
    Blocked,
}

/// A seat's state with its version (fencing token).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seat {
    /// Current state.
    pub state: SeatState,
    /// Bumped by every transition.
    pub version: u64,
}

impl Default for Seat {
    fn default() -> Self {
        Seat { state: SeatState::Available, version: 0 }
    }
}

/// What a seat looks like from outside at a given instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SeatStatus {
    /// Free (including holds past their expiry).
    Available,
    /// Under a live hold.
    Held,
    /// Sold.
    Sold,
    /// Out of sale.
    Blocked,
}

impl Seat {
    /// The status at `now`, with lazy expiry applied.
    pub fn status(&self, now: i64) -> SeatStatus {
        match self.state {
            SeatState::Available => SeatStatus::Available,
            SeatState::Held { until, .. } if until <= now => SeatStatus::Available,
            SeatState::Held { .. } => SeatStatus::Held,
            SeatState::Sold { .. } => SeatStatus::Sold,
            SeatState::Blocked => SeatStatus::Blocked,
        }
    }

    /// True when a hold may take this seat at `now`.
    pub fn is_available(&self, now: i64) -> bool {
        self.status(now) == SeatStatus::Available
    }

    /// The live or expired hold on this seat, if any.
    pub fn hold_id(&self) -> Option<HoldId> {
        match self.state {
            SeatState::Held { hold, .. } => Some(hold),
            _ => None,
        }
    }
}

/// A transition requested of a group of seats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeatOp {
    /// Available -> Held.
    Hold {
        /// New owner.
        owner: OwnerId,
        /// New hold id.
        hold: HoldId,
        /// Expiry (Unix ms).
        until: i64,
        /// Latest expiry any extension may reach (Unix ms).
        deadline: i64,
    },
    /// Held -> Held with a later expiry.
    Extend {
        /// Who asks.
        owner: OwnerId,
        /// The hold.
        hold: HoldId,
        /// The version on the caller's token.
        version: u64,
        /// The hold's TTL in ms.
        ttl: i64,
        /// The show's renewal limit.
        max_renewals: u32,
    },
    /// Held -> Available, by the owner.
    Release {
        /// Who asks.
        owner: OwnerId,
        /// The hold.
        hold: HoldId,
        /// The version on the caller's token.
        version: u64,
    },
    /// Held -> Sold, by the owner, after payment capture.
    Sell {
        /// Who asks.
        owner: OwnerId,
        /// The hold.
        hold: HoldId,
        /// The version on the caller's token.
        version: u64,
        /// The order the seats are sold to.
        order: OrderId,
    },
    /// Sold -> Available (refund or void).
    Refund {
        /// The order the seats were sold to.
        order: OrderId,
    },
    /// Held (expired) -> Available, by the sweeper.
    Expire,
    /// Available -> Blocked.
    Block,
    /// Blocked -> Available.
    Unblock,
}

/// What a successful group transition did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Applied {
    /// The seats' version after the transition.
    pub version: u64,
    /// False when the request was an idempotent replay (a sell already done
    /// for the same order) and nothing changed.
    pub changed: bool,
    /// The new expiry for holds and extensions (Unix ms), else 0.
    pub until: i64,
    /// Extensions used, for holds and extensions.
    pub renewals: u32,
    /// Seats in the hold, for holds and extensions, else 0.
    pub size: u16,
}

impl Applied {
    /// A plan that moves seats to `version` and sets nothing else (the
    /// sweeper's expiry of one seat).
    pub fn bump(version: u64) -> Self {
        Applied { version, changed: true, until: 0, renewals: 0, size: 0 }
    }
}

/// Checks `op` against every seat of a group and, only if all pass, applies
/// it to all of them (all-or-nothing, design I3).
///
/// `ids[i]` names `seats[i]`; it is used only in errors. `now` is the
/// backend's clock in Unix ms. The seats are unchanged when an error is
/// returned.
pub fn transition(seats: &mut [&mut Seat], ids: &[SeatId], op: &SeatOp, now: i64) -> Result<Applied, InventoryError> {
    let plan = check(seats.iter().map(|s| &**s), ids, op, now)?;
    if plan.changed {
        for seat in seats.iter_mut() {
            apply(seat, op, &plan);
        }
    }
    Ok(plan)
}

/// The checking half of [`transition`]: decides, without changing anything,
/// what `op` would do to the group. Backends that must check before they
/// lock-free-apply use it together with [`apply`].
pub fn check<'a>(
    seats: impl IntoIterator<Item = &'a Seat> + Clone,
    ids: &[SeatId],
    op: &SeatOp,
    now: i64,
) -> Result<Applied, InventoryError> {
    let max_version = seats.clone().into_iter().map(|s| s.version).max().unwrap_or(0);
    let mut plan = Applied::bump(max_version + 1);
    let size = u16::try_from(ids.len()).unwrap_or(u16::MAX);
    match *op {
        SeatOp::Hold { until, .. } => {
            let taken: Vec<SeatId> =
                seats.into_iter().zip(ids).filter(|(s, _)| !s.is_available(now)).map(|(_, id)| *id).collect();
            if !taken.is_empty() {
                return Err(InventoryError::SeatsTaken { seats: taken });
            }
            plan.until = until;
            plan.size = size;
        }
        SeatOp::Extend { owner, hold, version, ttl, max_renewals } => {
            for seat in seats {
                let (until, deadline, renewals) = check_holder(seat, owner, hold, version, size, now)?;
                if renewals >= max_renewals {
                    return Err(InventoryError::LimitExceeded(Limit::Renewals { max: max_renewals }));
                }
                if until >= deadline {
                    return Err(InventoryError::LimitExceeded(Limit::HoldLifetime));
                }
                plan.until = now.saturating_add(ttl).min(deadline);
                plan.renewals = renewals + 1;
                plan.size = size;
            }
        }
        SeatOp::Release { owner, hold, version } | SeatOp::Sell { owner, hold, version, .. } => {
            // A sell replay never reaches here: the order's sale record
            // answers it (see `crate::inventory::SaleRecord`).
            for seat in seats {
                check_holder(seat, owner, hold, version, size, now)?;
            }
        }
        SeatOp::Refund { order } => {
            if seats.into_iter().any(|s| !matches!(s.state, SeatState::Sold { order: o, .. } if o == order)) {
                return Err(InventoryError::NotSold { order });
            }
        }
        SeatOp::Expire => {
            let bad: Vec<SeatId> = seats
                .into_iter()
                .zip(ids)
                .filter(|(s, _)| !matches!(s.state, SeatState::Held { until, .. } if until <= now))
                .map(|(_, id)| *id)
                .collect();
            if !bad.is_empty() {
                return Err(InventoryError::WrongState { seats: bad });
            }
        }
        SeatOp::Block => {
            let bad: Vec<SeatId> =
                seats.into_iter().zip(ids).filter(|(s, _)| !s.is_available(now)).map(|(_, id)| *id).collect();
            if !bad.is_empty() {
                return Err(InventoryError::WrongState { seats: bad });
            }
        }
        SeatOp::Unblock => {
            let bad: Vec<SeatId> =
                seats.into_iter().zip(ids).filter(|(s, _)| s.state != SeatState::Blocked).map(|(_, id)| *id).collect();
            if !bad.is_empty() {
                return Err(InventoryError::WrongState { seats: bad });
            }
        }
    }
    Ok(plan)
}

/// The applying half of [`transition`]: sets one seat to the state `op`
/// leads to, with the version and expiry `plan` (from [`check`]) decided.
#[inline]
pub fn apply(seat: &mut Seat, op: &SeatOp, plan: &Applied) {
    seat.version = plan.version;
    // Matched by reference: copying the operation and the old state into
    // a tuple first cost more than the update itself.
    seat.state = match op {
        &SeatOp::Hold { owner, hold, until, deadline } => {
            SeatState::Held { owner, hold, until, deadline, renewals: 0, size: plan.size }
        }
        SeatOp::Extend { .. } => match seat.state {
            SeatState::Held { owner, hold, deadline, size, .. } => {
                SeatState::Held { owner, hold, until: plan.until, deadline, renewals: plan.renewals, size }
            }
            // An Extend that `check` would have refused ends Available.
            _ => SeatState::Available,
        },
        &SeatOp::Sell { owner, order, .. } => SeatState::Sold { owner, order },
        SeatOp::Block => SeatState::Blocked,
        // Release, Refund, Expire and Unblock all end Available.
        SeatOp::Release { .. } | SeatOp::Refund { .. } | SeatOp::Expire | SeatOp::Unblock => SeatState::Available,
    };
}

/// Checks that `seat` is under the live hold `hold` at `version`, owned by
/// `owner`, and that the token names all `named` seats of the hold. Returns
/// its expiry, deadline and renewals.
///
/// The order of the checks is the one every backend follows: under this
/// hold at all, the token's seat count, owner, version, expiry.
fn check_holder(
    seat: &Seat,
    owner: OwnerId,
    hold: HoldId,
    version: u64,
    named: u16,
    now: i64,
) -> Result<(i64, i64, u32), InventoryError> {
    match seat.state {
        SeatState::Held { owner: o, hold: h, until, deadline, renewals, size } if h == hold => {
            if size != named {
                Err(crate::error::InvalidRequest::TokenMismatch.into())
            } else if o != owner {
                Err(InventoryError::NotOwner { hold })
            } else if seat.version != version {
                Err(InventoryError::StaleToken { hold, presented: version, current: seat.version })
            } else if until <= now {
                Err(InventoryError::HoldExpired { hold })
            } else {
                Ok((until, deadline, renewals))
            }
        }
        _ => Err(InventoryError::HoldExpired { hold }),
    }
}

mod pool;
pub use pool::{Pool, PoolHold, PoolSale};

#[cfg(test)]
mod tests {
    use super::*;

    fn hold_op(owner: OwnerId, hold: HoldId) -> SeatOp {
        SeatOp::Hold { owner, hold, until: 1_000, deadline: 5_000 }
    }

    #[test]
    fn group_transition_is_all_or_nothing_and_bumps_versions_uniformly() {
        let (a, h) = (OwnerId::new(), HoldId::new());
        let mut s0 = Seat { state: SeatState::Available, version: 3 };
        let mut s1 = Seat { state: SeatState::Available, version: 7 };
        let mut s2 = Seat { state: SeatState::Blocked, version: 1 };
        let ids = [SeatId(0), SeatId(1), SeatId(2)];
        let before = (s0, s1, s2);
        let err = transition(&mut [&mut s0, &mut s1, &mut s2], &ids, &hold_op(a, h), 0).unwrap_err();
        assert!(matches!(err, InventoryError::SeatsTaken { ref seats } if seats == &[SeatId(2)]));
        assert_eq!((s0, s1, s2), before);
        let done = transition(&mut [&mut s0, &mut s1], &ids[..2], &hold_op(a, h), 0).unwrap();
        assert_eq!(done.version, 8);
        assert_eq!((s0.version, s1.version), (8, 8));
        assert_eq!(s0.status(999), SeatStatus::Held);
        assert_eq!(s0.status(1_000), SeatStatus::Available);
    }

    #[test]
    fn holder_checks_order_owner_then_version_then_expiry() {
        let (a, b, h) = (OwnerId::new(), OwnerId::new(), HoldId::new());
        let mut s = Seat::default();
        transition(&mut [&mut s], &[SeatId(0)], &hold_op(a, h), 0).unwrap();
        let rel = |owner, version| SeatOp::Release { owner, hold: h, version };
        let mut t = s;
        assert!(matches!(transition(&mut [&mut t], &[SeatId(0)], &rel(b, 1), 0), Err(InventoryError::NotOwner { .. })));
        assert!(matches!(
            transition(&mut [&mut t], &[SeatId(0)], &rel(a, 0), 0),
            Err(InventoryError::StaleToken { presented: 0, current: 1, .. })
        ));
        assert!(matches!(
            transition(&mut [&mut t], &[SeatId(0)], &rel(a, 1), 1_000),
            Err(InventoryError::HoldExpired { .. })
        ));
        assert_eq!(t, s);
        transition(&mut [&mut t], &[SeatId(0)], &rel(a, 1), 999).unwrap();
        assert_eq!(t, Seat { state: SeatState::Available, version: 2 });
    }

    #[test]
    fn extend_respects_renewals_and_lifetime() {
        let (a, h) = (OwnerId::new(), HoldId::new());
        let mut s = Seat::default();
        transition(&mut [&mut s], &[SeatId(0)], &hold_op(a, h), 0).unwrap();
        let ext = |version| SeatOp::Extend { owner: a, hold: h, version, ttl: 3_000, max_renewals: 5 };
        let e1 = transition(&mut [&mut s], &[SeatId(0)], &ext(1), 500).unwrap();
        assert_eq!(e1.until, 3_500);
        let e2 = transition(&mut [&mut s], &[SeatId(0)], &ext(2), 3_000).unwrap();
        assert_eq!(e2.until, 5_000, "capped at the deadline");
        assert!(matches!(
            transition(&mut [&mut s], &[SeatId(0)], &ext(3), 4_000),
            Err(InventoryError::LimitExceeded(Limit::HoldLifetime))
        ));
    }

    #[test]
    fn a_token_must_name_the_whole_hold() {
        let (a, h) = (OwnerId::new(), HoldId::new());
        let (mut s0, mut s1, mut s2) = (Seat::default(), Seat::default(), Seat::default());
        let ids = [SeatId(0), SeatId(1), SeatId(2)];
        transition(&mut [&mut s0, &mut s1], &ids[..2], &hold_op(a, h), 0).unwrap();
        assert!(matches!(s0.state, SeatState::Held { size: 2, .. }));
        let before = (s0, s1, s2);
        let sell = SeatOp::Sell { owner: a, hold: h, version: 1, order: OrderId::new() };
        let mismatch = |r: Result<Applied, InventoryError>| {
            matches!(r, Err(InventoryError::InvalidRequest(crate::error::InvalidRequest::TokenMismatch)))
        };
        assert!(mismatch(transition(&mut [&mut s0], &ids[..1], &sell, 10)), "a subset");
        assert!(matches!(
            transition(&mut [&mut s0, &mut s1, &mut s2], &ids, &sell, 10),
            Err(InventoryError::InvalidRequest(_))
        ));
        // A free seat in place of one of the hold's: not this hold's seat.
        assert!(matches!(
            transition(&mut [&mut s0, &mut s2], &[SeatId(0), SeatId(2)], &sell, 10),
            Err(InventoryError::HoldExpired { .. })
        ));
        assert_eq!((s0, s1, s2), before);
        let ext = SeatOp::Extend { owner: a, hold: h, version: 1, ttl: 3_000, max_renewals: 5 };
        assert!(mismatch(transition(&mut [&mut s1], &ids[1..2], &ext, 10)));
        let done = transition(&mut [&mut s0, &mut s1], &ids[..2], &ext, 10).unwrap();
        assert!(matches!(s1.state, SeatState::Held { size: 2, renewals: 1, .. }));
        let sell = SeatOp::Sell { owner: a, hold: h, version: done.version, order: OrderId::new() };
        assert!(transition(&mut [&mut s0, &mut s1], &ids[..2], &sell, 10).unwrap().changed);
        // Sold seats are no hold's: a second sell is refused here, and the
        // order's sale record answers replays before this is reached.
        assert!(matches!(
            transition(&mut [&mut s0, &mut s1], &ids[..2], &sell, 10),
            Err(InventoryError::HoldExpired { .. })
        ));
    }

    #[test]
    fn pool_counts_live_holds_only() {
        let (a, h) = (OwnerId::new(), HoldId::new());
        let mut p = Pool::new(10);
        let ph =
            |hold, quantity| PoolHold { hold, owner: a, quantity, until: 100, deadline: 500, renewals: 0, version: 0 };
        p.hold(crate::ids::PoolId(0), ph(h, 4), 0).unwrap();
        assert_eq!(p.available(99), 6);
        assert_eq!(p.available(100), 10);
        assert!(p.hold(crate::ids::PoolId(0), ph(HoldId::new(), 7), 50).is_err());
        assert_eq!(p.sweep(100, 10).len(), 1);
    }

    #[test]
    fn pool_sales_are_refunded_per_order() {
        let (a, o) = (OwnerId::new(), OrderId::new());
        let (h1, h2) = (HoldId::new(), HoldId::new());
        let mut p = Pool::new(10);
        let ph = |hold| PoolHold { hold, owner: a, quantity: 2, until: 100, deadline: 500, renewals: 0, version: 0 };
        let v1 = p.hold(crate::ids::PoolId(0), ph(h1), 0).unwrap();
        let v2 = p.hold(crate::ids::PoolId(0), ph(h2), 0).unwrap();
        assert_eq!(p.sell(a, h1, v1, o, 10).unwrap(), v2 + 1);
        assert!(matches!(p.sell(a, h1, v1, o, 10), Err(InventoryError::HoldExpired { .. })), "sold already");
        assert!(matches!(p.sell(a, h2, v2, o, 100), Err(InventoryError::HoldExpired { .. })), "expired");
        assert_eq!(p.sold, 2);
        p.refund(o, 2).unwrap();
        assert_eq!((p.sold, p.sales.len()), (0, 0));
        assert!(p.refund(o, 1).is_err());
    }
}
