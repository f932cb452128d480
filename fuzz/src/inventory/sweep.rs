//! Following a sweep whose choice of expired seats differs from the model's.

use booking_core::backend::fsm::{self, SeatOp, SeatState};
use booking_core::testkit::model::ShowModel;
use booking_core::{ExpiredHold, HoldItems, ShowId};

/// Frees in `model` exactly what a backend's sweep reported, after checking
/// the backend was allowed to choose it: every seat and pool hold expired
/// under the hold and owner reported, each hold reported once with its
/// seats ascending, and as many freed as the limit allows.
pub(super) fn expire_as_reported(
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
