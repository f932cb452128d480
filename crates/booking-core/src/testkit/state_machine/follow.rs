//! How the state-machine test follows a backend's free choices: which
//! expired seats a small sweep frees, in which order concurrent requests
//! were decided, and which concurrent holds a seat lock shed.

use super::{Answer, Request};
use crate::backend::fsm::{self, SeatOp, SeatState};
use crate::error::InventoryError;
use crate::ids::SeatId;
use crate::inventory::{ExpiredHold, HoldItems};
use crate::testkit::model::ShowModel;
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

/// Frees in `model` exactly the seats and pool holds a backend's sweep
/// reported, after checking the backend was allowed to choose them: all
/// expired, each under the hold and owner reported, and as many as the
/// limit allows.
pub(super) fn expire_as_reported(
    model: &mut ShowModel,
    freed: &[ExpiredHold],
    limit: usize,
    now: i64,
) -> Result<(), String> {
    let expired_seats = model.seats.iter().filter(|s| matches!(s.state, SeatState::Held { until, .. } if until <= now));
    let expired_pool_holds = model.pools.iter().flat_map(|p| &p.holds).filter(|h| h.until <= now);
    let candidates = expired_seats.count() + expired_pool_holds.count();
    let mut count = 0usize;
    let mut touched_pools = Vec::new();
    for e in freed {
        match &e.items {
            HoldItems::Seats(seats) => {
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

/// True when request `i` is a hold of named seats refused `SeatsTaken`
/// for seats that other holds of the group name: a seat lock in flight may
/// have refused it without asking the store.
pub(super) fn shed_by_lock(reqs: &[Request], answers: &[Answer], i: usize) -> bool {
    let (Request::HoldSeats(_), Answer::Hold(Err(InventoryError::SeatsTaken { seats }))) = (&reqs[i], &answers[i])
    else {
        return false;
    };
    let named_elsewhere = |seat: &SeatId| {
        reqs.iter().enumerate().any(|(j, r)| j != i && matches!(r, Request::HoldSeats(h) if h.seats.contains(seat)))
    };
    !seats.is_empty() && seats.iter().all(named_elsewhere)
}

/// Every order of `0..n`, the identity first.
pub(super) fn permutations(n: usize) -> Vec<Vec<usize>> {
    fn go(prefix: &mut Vec<usize>, n: usize, out: &mut Vec<Vec<usize>>) {
        if prefix.len() == n {
            out.push(prefix.clone());
            return;
        }
        for i in 0..n {
            if !prefix.contains(&i) {
                prefix.push(i);
                go(prefix, n, out);
                prefix.pop();
            }
        }
    }
    let mut out = Vec::new();
    go(&mut Vec::new(), n, &mut out);
    out
}

/// Polls every future in turn, in the order given, until all are done:
/// the requests reach the backend in that order (arrival order).
pub(super) async fn join_all<T>(mut futures: Vec<Pin<Box<dyn Future<Output = T>>>>) -> Vec<T> {
    let mut out: Vec<Option<T>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, slot) in futures.iter_mut().zip(out.iter_mut()) {
            if slot.is_none() {
                match f.as_mut().poll(cx) {
                    Poll::Ready(v) => *slot = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending { Poll::Pending } else { Poll::Ready(()) }
    })
    .await;
    out.into_iter().map(|v| v.expect("every future finished")).collect()
}
