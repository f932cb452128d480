//! The behaviours, one `pub async fn` each, one file per invariant, and
//! the helpers they share. See the module docs.

use crate::backend::fsm::SeatStatus;
use crate::ids::{OrderId, OwnerId, PaymentRef, PriceCategory, SeatId, ShowId};
use crate::inventory::{ChangeKind, Hold, HoldAction, HoldBest, HoldSeats, SeatChange, SeatInventory, Sell, Snapshot};
use crate::layout::{HoldPolicy, ShowSpec, VenueLayout};
use chrono::Duration;
use std::time::Duration as StdDuration;

/// The policy most behaviours use: 8-minute holds, 2 renewals, 15 minutes
/// at most, 8 seats per owner, 10 per request.
pub fn test_policy() -> HoldPolicy {
    HoldPolicy::default()
}

/// Creates a show of `sections` x `rows` x `per_row` seats plus one pool of
/// `pool` units (none when 0) and returns its spec.
pub async fn create<I: SeatInventory + ?Sized>(
    inv: &I,
    sections: u32,
    rows: u32,
    per_row: u32,
    pool: u32,
    policy: HoldPolicy,
) -> ShowSpec {
    let mut spec = ShowSpec::new("conformance", VenueLayout::grid(sections, rows, per_row, PriceCategory(1)));
    if pool > 0 {
        spec = spec.with_pool("standing", pool, PriceCategory(9));
    }
    spec = spec.with_policy(policy);
    inv.create_show(&spec).await.expect("create_show");
    spec
}

/// Seat ids from numbers.
pub fn ids(seats: &[u32]) -> Vec<SeatId> {
    seats.iter().copied().map(SeatId).collect()
}

/// Holds `seats` for `owner`, expecting success.
pub async fn hold<I: SeatInventory + ?Sized>(inv: &I, show: ShowId, owner: OwnerId, seats: &[u32]) -> Hold {
    inv.hold_seats(&HoldSeats { show, owner, seats: ids(seats) })
        .await
        .unwrap_or_else(|e| panic!("hold {seats:?} failed: {e:?}"))
}

/// A sell request for `hold`.
pub fn sell_req(hold: &Hold, order: OrderId) -> Sell {
    Sell {
        owner: hold.owner,
        token: hold.token.clone(),
        order,
        payment: PaymentRef(format!("cap_{order}")),
        payer: None,
    }
}

/// A release or extend request for `hold`.
pub fn action(hold: &Hold) -> HoldAction {
    HoldAction { owner: hold.owner, token: hold.token.clone() }
}

/// The statuses of `seats` in `snap`.
pub fn statuses(snap: &Snapshot, seats: &[u32]) -> Vec<SeatStatus> {
    seats.iter().map(|&s| snap.seats[s as usize].status).collect()
}

async fn snap<I: SeatInventory + ?Sized>(inv: &I, show: ShowId) -> Snapshot {
    inv.snapshot(show).await.expect("snapshot")
}

fn ttl(spec: &ShowSpec) -> Duration {
    Duration::milliseconds(spec.policy.ttl_millis())
}

async fn next_kinds(feed: &mut crate::inventory::ChangeStream, n: usize) -> Vec<ChangeKind> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(next_change(feed).await.kind);
    }
    out
}

/// The next change on a feed, failing the test after 10 s of silence.
pub async fn next_change(feed: &mut crate::inventory::ChangeStream) -> SeatChange {
    use std::future::poll_fn;
    let next = poll_fn(|cx| feed.as_mut().poll_next(cx));
    match tokio::time::timeout(StdDuration::from_secs(10), next).await {
        Ok(Some(Ok(c))) => c,
        other => panic!("expected a change, got {other:?}"),
    }
}

fn best(show: ShowId, quantity: u32) -> HoldBest {
    HoldBest { show, owner: OwnerId::new(), quantity, section: None, category: None }
}

mod caps;
mod expiry;
mod holds;
mod input;
mod races;
mod sales;
mod shows;
mod tokens;

pub use caps::*;
pub use expiry::*;
pub use holds::*;
pub use input::*;
pub use races::*;
pub use sales::*;
pub use shows::*;
pub use tokens::*;
