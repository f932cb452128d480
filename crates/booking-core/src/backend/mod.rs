//! What backend authors need, apart from what embedders use: the pure seat
//! state machine ([`fsm`]), the best-available picker ([`best`]), request
//! validation ([`validate`]), the one vocabulary of refusals ([`refusal`]),
//! failures that name the store and the operation ([`failure`]) and small
//! helpers for building answers. A backend reproduces the state machine
//! atomically in its store and answers exactly as the reference model in
//! the test kit does; the conformance suite holds it to that.

pub mod best;
pub mod failure;
pub mod fsm;
pub mod refusal;
pub mod validate;

use crate::error::{InventoryError, Result};
use crate::ids::{HoldId, OwnerId, PoolId, SeatId};
use crate::inventory::{ExpiredHold, Hold, HoldItems, HoldToken, PoolAudit};
use fsm::{Pool, SeatState};

/// Adds an expired seat to its hold's entry in a sweep report, or starts one.
pub fn push_expired(out: &mut Vec<ExpiredHold>, show: crate::ids::ShowId, hold: HoldId, owner: OwnerId, seat: SeatId) {
    match out.iter_mut().find(|e| e.hold == hold) {
        Some(ExpiredHold { items: HoldItems::Seats(s), .. }) => s.push(seat),
        _ => out.push(ExpiredHold { show, hold, owner, items: HoldItems::Seats(vec![seat]) }),
    }
}

/// The hold a verified token names, read from one of its seats (all seats
/// of a hold share its expiry and renewals).
pub fn held_hold(show: crate::ids::ShowId, owner: OwnerId, token: &HoldToken, seat: &fsm::Seat) -> Result<Hold> {
    match seat.state {
        SeatState::Held { until, renewals, .. } => {
            Ok(Hold::from_parts(show, owner, token.hold, token.version, token.items.clone(), until, renewals))
        }
        _ => Err(InventoryError::HoldExpired { hold: token.hold }),
    }
}

/// A pool as an [`Audit`](crate::inventory::Audit) shows it at `now`: live holds by hold id, sales
/// by (order, hold).
pub fn audit_pool(pool: PoolId, p: &Pool, now: i64) -> PoolAudit {
    let mut holds: Vec<fsm::PoolHold> = p.holds.iter().filter(|h| h.until > now).copied().collect();
    holds.sort_by_key(|h| h.hold);
    let mut sales = p.sales.clone();
    sales.sort_by_key(|s| (s.order, s.hold));
    PoolAudit { pool, capacity: p.capacity, sold: p.sold, version: p.version, holds, sales }
}
