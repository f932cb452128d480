//! Reading a whole show (snapshot, audit, spec) and sweeping its expired
//! holds.

use super::ShowState;
use crate::sync::{lock, spin};
use booking_core::backend::fsm::{self, Seat, SeatOp, SeatState};
use booking_core::backend::push_expired;
use booking_core::{
    Audit, ChangeKind, ExpiredHold, HoldItems, InvalidRequest, PoolId, PoolView, Result, SaleRecord, SeatId, SeatView,
    ShowSpec, Snapshot,
};

impl ShowState {
    pub(crate) fn snapshot(&self, now: i64) -> Snapshot {
        let n = self.stripes.len();
        let mut seats = vec![
            SeatView { seat: SeatId(0), status: booking_core::SeatStatus::Available, version: 0 };
            self.seat_count
        ];
        for (k, stripe) in self.stripes.iter().enumerate() {
            let guard = spin(&stripe.0);
            for (off, s) in guard.iter().enumerate() {
                let id = off * n + k;
                seats[id] = SeatView { seat: SeatId(id as u32), status: s.status(now), version: s.version };
            }
        }
        let pools = self
            .pools
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let p = lock(p);
                PoolView {
                    pool: PoolId(i as u32),
                    capacity: p.capacity,
                    held: p.held(now),
                    sold: p.sold,
                    available: p.available(now),
                }
            })
            .collect();
        Snapshot::from_index(self.spec.id, &self.index, seats, pools)
    }

    /// The show as created.
    pub(crate) fn full_spec(&self) -> ShowSpec {
        ShowSpec { layout: self.layout.unpack(), ..self.spec.clone() }
    }

    pub(crate) fn audit(&self, now: i64) -> Audit {
        let n = self.stripes.len();
        let mut seats = vec![Seat::default(); self.seat_count];
        for (k, stripe) in self.stripes.iter().enumerate() {
            for (off, s) in spin(&stripe.0).iter().enumerate() {
                seats[off * n + k] = *s;
            }
        }
        let pools = self
            .pools
            .iter()
            .enumerate()
            .map(|(i, p)| booking_core::backend::audit_pool(PoolId(i as u32), &lock(p), now));
        let mut sales: Vec<SaleRecord> =
            self.sales.iter().flat_map(|s| lock(s).values().cloned().collect::<Vec<_>>()).collect();
        sales.sort_by_key(|r| r.sale.order);
        Audit {
            show: self.spec.id,
            now: booking_core::clock::millis_to_datetime(now),
            seats,
            pools: pools.collect(),
            sales,
        }
    }

    pub(crate) fn sweep(&self, limit: usize, now: i64) -> Result<Vec<ExpiredHold>> {
        if limit == 0 {
            return Err(InvalidRequest::ZeroLimit.into());
        }
        // Find expired seats, one stripe at a time, grouped by hold.
        let mut found: Vec<ExpiredHold> = Vec::new();
        let mut count = 0usize;
        let n = self.stripes.len();
        'stripes: for (k, stripe) in self.stripes.iter().enumerate() {
            let guard = spin(&stripe.0);
            for (off, seat) in guard.iter().enumerate() {
                if count == limit {
                    break 'stripes;
                }
                if let SeatState::Held { owner, hold, until, .. } = seat.state
                    && until <= now
                {
                    count += 1;
                    push_expired(&mut found, self.spec.id, hold, owner, SeatId((off * n + k) as u32));
                }
            }
        }
        // Expire each hold's seats as a group, re-checked under their locks
        // (a concurrent sweeper or holder may have been first), and announce
        // it before unlocking so the feed stays in seat order.
        let mut out = Vec::with_capacity(found.len());
        for mut e in found {
            let HoldItems::Seats(seats) = &mut e.items else { continue };
            seats.sort_unstable();
            let mut locked = self.lock(seats);
            let mut expired = Vec::with_capacity(seats.len());
            let mut version = 0;
            for (i, &id) in seats.iter().enumerate() {
                let seat = locked.seat_mut(i);
                if matches!(seat.state, SeatState::Held { hold, until, .. } if hold == e.hold && until <= now) {
                    let plan = fsm::Applied::bump(seat.version + 1);
                    fsm::apply(seat, &SeatOp::Expire, &plan);
                    version = version.max(plan.version);
                    expired.push(id);
                }
            }
            if !expired.is_empty() {
                let items = HoldItems::Seats(expired);
                self.change(ChangeKind::Expired, Some(e.hold), None, &items, version);
                drop(locked);
                self.owners.drop_hold(e.owner, e.hold);
                out.push(ExpiredHold { items, ..e });
            }
        }
        for (i, p) in self.pools.iter().enumerate() {
            if count >= limit {
                break;
            }
            let mut p = lock(p);
            for h in p.sweep(now, limit - count) {
                count += 1;
                let items = HoldItems::Pool { pool: PoolId(i as u32), quantity: h.quantity };
                self.change(ChangeKind::Expired, Some(h.hold), None, &items, p.version);
                self.owners.drop_hold(h.owner, h.hold);
                out.push(ExpiredHold { show: self.spec.id, hold: h.hold, owner: h.owner, items });
            }
        }
        Ok(out)
    }
}
