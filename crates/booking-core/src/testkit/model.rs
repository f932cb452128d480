//! The reference model: the whole port, for one show, single-threaded and
//! obviously right. The conformance suite's state-machine test runs it side
//! by side with a backend, and an in-process backend may reuse its parts.
//!
//! Checks run in a fixed order, which every backend follows so that they
//! all answer alike: the request's shape, unknown seats or pools, the
//! per-owner limit, the per-owner ticket cap, then availability. A sale
//! checks its show, payment and items, then the order's sale record, then
//! the per-payment purchase cap, then the hold.

use crate::backend::best::{PickRequest, pick_best};
use crate::backend::fsm::{self, Pool, Seat, SeatOp, SeatState};
use crate::backend::validate;
use crate::backend::{audit_pool, held_hold, push_expired};
use crate::error::{InvalidRequest, InventoryError, Limit, Result};
use crate::ids::{HoldId, OrderId, OwnerId, PayerKey, PoolId, PriceCategory, SeatId};
use crate::inventory::{
    Audit, ExpiredHold, Hold, HoldAction, HoldBest, HoldItems, HoldToken, PoolView, Refund, Sale, SaleRecord, SeatView,
    Sell, Snapshot,
};
use crate::layout::{RowRange, ShowSpec};
use std::collections::BTreeMap;

/// One show's inventory, as the pure state machine says it should behave.
#[derive(Clone, Debug)]
pub struct ShowModel {
    /// The show.
    pub spec: ShowSpec,
    /// Rows best first.
    pub rows: Vec<RowRange>,
    /// Each seat's price category, by seat id.
    pub categories: Vec<PriceCategory>,
    /// Each seat's state, by seat id.
    pub seats: Vec<Seat>,
    /// Each pool's state, by pool id.
    pub pools: Vec<Pool>,
    /// The sale record of every order sold.
    pub sales: BTreeMap<OrderId, SaleRecord>,
}

impl ShowModel {
    /// A show with every seat available.
    pub fn new(spec: ShowSpec) -> Result<Self> {
        spec.validate()?;
        let categories = spec.layout.seats().into_iter().map(|s| s.category).collect::<Vec<_>>();
        Ok(ShowModel {
            rows: spec.layout.rows(),
            seats: vec![Seat::default(); categories.len()],
            pools: spec.pools.iter().map(|p| Pool::new(p.capacity)).collect(),
            sales: BTreeMap::new(),
            categories,
            spec,
        })
    }

    /// Seats plus pool units `owner` holds live at `now`.
    pub fn held_by(&self, owner: OwnerId, now: i64) -> u32 {
        let seats = self
            .seats
            .iter()
            .filter(|s| matches!(s.state, SeatState::Held { owner: o, until, .. } if o == owner && until > now))
            .count() as u32;
        let units: u32 = self
            .pools
            .iter()
            .flat_map(|p| &p.holds)
            .filter(|h| h.owner == owner && h.until > now)
            .map(|h| h.quantity)
            .sum();
        seats + units
    }

    /// Seats plus pool units sold to `owner` and not refunded.
    pub fn sold_to(&self, owner: OwnerId) -> u32 {
        let seats = self.seats.iter().filter(|s| matches!(s.state, SeatState::Sold { owner: o, .. } if o == owner));
        let units: u32 =
            self.pools.iter().flat_map(|p| &p.sales).filter(|s| s.owner == owner).map(|s| s.quantity).sum();
        seats.count() as u32 + units
    }

    /// Seats plus pool units sold to `order` and not refunded.
    pub fn sold_in(&self, order: OrderId) -> u32 {
        let seats = self.seats.iter().filter(|s| matches!(s.state, SeatState::Sold { order: o, .. } if o == order));
        let units: u32 =
            self.pools.iter().flat_map(|p| &p.sales).filter(|s| s.order == order).map(|s| s.quantity).sum();
        seats.count() as u32 + units
    }

    /// Seats plus pool units sold to `payer` and not refunded.
    pub fn sold_to_payer(&self, payer: &PayerKey) -> u32 {
        let orders = self.sales.values().filter(|r| r.payer.as_ref() == Some(payer)).map(|r| r.sale.order);
        orders.map(|o| self.sold_in(o)).sum()
    }

    /// Fails with `LimitExceeded(TicketsPerPayment)` when the sale `req`
    /// would take its payer past the show's per-payment cap (a sale without
    /// a payer is not counted).
    pub fn check_payer_cap(&self, req: &Sell) -> Result<()> {
        if let (Some(max), Some(payer)) = (self.spec.policy.max_tickets_per_payment, &req.payer) {
            let would_have = self.sold_to_payer(payer).saturating_add(req.token.items.count());
            if would_have > max {
                return Err(InventoryError::LimitExceeded(Limit::TicketsPerPayment { would_have, max }));
            }
        }
        Ok(())
    }

    /// Fails with `LimitExceeded(HeldPerOwner)` when `owner` may not hold
    /// `more`, then with `LimitExceeded(TicketsPerOwner)` when `owner` may
    /// not have `more` on top of what it holds and bought.
    pub fn check_owner_limit(&self, owner: OwnerId, more: u32, now: i64) -> Result<()> {
        let policy = &self.spec.policy;
        if policy.max_held_per_owner.is_none() && policy.max_tickets_per_owner.is_none() {
            return Ok(());
        }
        let would_hold = self.held_by(owner, now).saturating_add(more);
        if let Some(max) = policy.max_held_per_owner
            && would_hold > max
        {
            return Err(InventoryError::LimitExceeded(Limit::HeldPerOwner { would_hold, max }));
        }
        if let Some(max) = policy.max_tickets_per_owner {
            let would_have = would_hold.saturating_add(self.sold_to(owner));
            if would_have > max {
                return Err(InventoryError::LimitExceeded(Limit::TicketsPerOwner { would_have, max }));
            }
        }
        Ok(())
    }

    fn validate_seats(&self, seats: &[SeatId]) -> Result<Vec<SeatId>> {
        validate::seats(self.spec.id, seats, self.seats.len(), self.spec.policy.max_per_request)
    }

    fn pool_index(&self, pool: PoolId) -> Result<usize> {
        let i = pool.0 as usize;
        if i < self.pools.len() { Ok(i) } else { Err(InventoryError::UnknownPool { show: self.spec.id, pool }) }
    }

    fn group(&mut self, seats: &[SeatId], op: &SeatOp, now: i64) -> Result<fsm::Applied> {
        let mut refs: Vec<&mut Seat> = Vec::with_capacity(seats.len());
        // `seats` is sorted and unique, so one pass splits out the borrows.
        let mut rest: &mut [Seat] = &mut self.seats;
        let mut base = 0usize;
        for s in seats {
            let i = s.0 as usize - base;
            let (_, tail) = rest.split_at_mut(i);
            let (one, tail) = tail.split_at_mut(1);
            refs.push(&mut one[0]);
            rest = tail;
            base = s.0 as usize + 1;
        }
        fsm::transition(&mut refs, seats, op, now)
    }

    fn deadline(&self, now: i64) -> i64 {
        now.saturating_add(self.spec.policy.max_hold_millis())
    }

    /// Holds specific seats.
    pub fn hold_seats(&mut self, owner: OwnerId, seats: &[SeatId], hold: HoldId, now: i64) -> Result<Hold> {
        let seats = self.validate_seats(seats)?;
        self.check_owner_limit(owner, seats.len() as u32, now)?;
        let until = now.saturating_add(self.spec.policy.ttl_millis());
        let op = SeatOp::Hold { owner, hold, until, deadline: self.deadline(now) };
        let done = self.group(&seats, &op, now)?;
        Ok(self.hold_result(owner, hold, done.version, HoldItems::Seats(seats), until, 0))
    }

    /// Picks seats as [`pick_best`] does.
    pub fn pick(&self, req: &HoldBest, now: i64) -> Option<Vec<SeatId>> {
        let pick = PickRequest { quantity: req.quantity, section: req.section, category: req.category };
        pick_best(&self.rows, &pick, |s| self.categories[s.0 as usize], |s| self.seats[s.0 as usize].is_available(now))
    }

    /// Holds the best available seats.
    pub fn hold_best(&mut self, req: &HoldBest, hold: HoldId, now: i64) -> Result<Hold> {
        validate::quantity(req.quantity, self.spec.policy.max_per_request)?;
        self.check_owner_limit(req.owner, req.quantity, now)?;
        let seats = self.pick(req, now).ok_or(InventoryError::NoSeatsAvailable { requested: req.quantity })?;
        self.hold_seats(req.owner, &seats, hold, now)
    }

    /// Holds units of a pool.
    pub fn hold_pool(&mut self, owner: OwnerId, pool: PoolId, quantity: u32, hold: HoldId, now: i64) -> Result<Hold> {
        validate::quantity(quantity, self.spec.policy.max_per_request)?;
        let i = self.pool_index(pool)?;
        self.check_owner_limit(owner, quantity, now)?;
        let until = now.saturating_add(self.spec.policy.ttl_millis());
        let deadline = self.deadline(now);
        let new = fsm::PoolHold { hold, owner, quantity, until, deadline, renewals: 0, version: 0 };
        let version = self.pools[i].hold(pool, new, now)?;
        Ok(self.hold_result(owner, hold, version, HoldItems::Pool { pool, quantity }, until, 0))
    }

    fn hold_result(
        &self,
        owner: OwnerId,
        hold: HoldId,
        version: u64,
        items: HoldItems,
        until: i64,
        renewals: u32,
    ) -> Hold {
        Hold::from_parts(self.spec.id, owner, hold, version, items, until, renewals)
    }

    /// Checks a token's items against the show; returns sorted seats for a
    /// seat hold.
    fn check_items(&self, items: &HoldItems) -> Result<Option<Vec<SeatId>>> {
        match items {
            HoldItems::Seats(seats) => Ok(Some(self.validate_seats(seats)?)),
            HoldItems::Pool { pool, quantity } => {
                validate::quantity(*quantity, self.spec.policy.max_per_request)?;
                self.pool_index(*pool)?;
                Ok(None)
            }
        }
    }

    fn check_show(&self, token: &HoldToken) -> Result<()> {
        if token.show == self.spec.id { Ok(()) } else { Err(InventoryError::UnknownShow(token.show)) }
    }

    /// Extends a hold.
    pub fn extend(&mut self, req: &HoldAction, now: i64) -> Result<Hold> {
        self.check_show(&req.token)?;
        let t = &req.token;
        let ttl = self.spec.policy.ttl_millis();
        let max_renewals = self.spec.policy.max_renewals;
        match self.check_items(&t.items)? {
            Some(seats) => {
                let op = SeatOp::Extend { owner: req.owner, hold: t.hold, version: t.version, ttl, max_renewals };
                let done = self.group(&seats, &op, now)?;
                Ok(self.hold_result(
                    req.owner,
                    t.hold,
                    done.version,
                    HoldItems::Seats(seats),
                    done.until,
                    done.renewals,
                ))
            }
            None => {
                let HoldItems::Pool { pool, quantity } = t.items else { unreachable!("checked above") };
                let p = &mut self.pools[pool.0 as usize];
                p.check_token_quantity(t.hold, quantity)?;
                let h = p.extend(req.owner, t.hold, t.version, ttl, max_renewals, now)?;
                Ok(self.hold_result(req.owner, t.hold, h.version, t.items.clone(), h.until, h.renewals))
            }
        }
    }

    /// Checks a hold as release would, changing nothing; returns it.
    pub fn verify(&self, req: &HoldAction, now: i64) -> Result<Hold> {
        self.check_show(&req.token)?;
        let t = &req.token;
        match self.check_items(&t.items)? {
            Some(seats) => {
                let op = SeatOp::Release { owner: req.owner, hold: t.hold, version: t.version };
                let group = seats.iter().map(|s| &self.seats[s.0 as usize]);
                fsm::check(group, &seats, &op, now)?;
                held_hold(self.spec.id, req.owner, t, &self.seats[seats[0].0 as usize])
            }
            None => {
                let HoldItems::Pool { pool, quantity } = t.items else { unreachable!("checked above") };
                let p = &self.pools[pool.0 as usize];
                p.check_token_quantity(t.hold, quantity)?;
                let h = p.verify(req.owner, t.hold, t.version, now)?;
                Ok(self.hold_result(req.owner, t.hold, h.version, t.items.clone(), h.until, h.renewals))
            }
        }
    }

    /// Releases a hold.
    pub fn release(&mut self, req: &HoldAction, now: i64) -> Result<u64> {
        self.check_show(&req.token)?;
        let t = &req.token;
        match self.check_items(&t.items)? {
            Some(seats) => {
                let op = SeatOp::Release { owner: req.owner, hold: t.hold, version: t.version };
                Ok(self.group(&seats, &op, now)?.version)
            }
            None => {
                let HoldItems::Pool { pool, quantity } = t.items else { unreachable!("checked above") };
                let p = &mut self.pools[pool.0 as usize];
                p.check_token_quantity(t.hold, quantity)?;
                p.release(req.owner, t.hold, t.version, now)?;
                Ok(p.version)
            }
        }
    }

    /// Sells a hold. Checks, in order: the show, the payment reference, the
    /// token's shape, then the order's sale record (a replay or a conflict
    /// is answered from it and changes nothing), then the hold.
    pub fn sell(&mut self, req: &Sell, now: i64) -> Result<Sale> {
        self.check_show(&req.token)?;
        validate::payment(&req.payment)?;
        let t = &req.token;
        let seats = self.check_items(&t.items)?;
        if let Some(record) = self.sales.get(&req.order) {
            return record.replay(req);
        }
        self.check_payer_cap(req)?;
        let version = match seats {
            Some(seats) => {
                let op = SeatOp::Sell { owner: req.owner, hold: t.hold, version: t.version, order: req.order };
                self.group(&seats, &op, now)?.version
            }
            None => {
                let HoldItems::Pool { pool, quantity } = t.items else { unreachable!("checked above") };
                let p = &mut self.pools[pool.0 as usize];
                p.check_token_quantity(t.hold, quantity)?;
                p.sell(req.owner, t.hold, t.version, req.order, now)?
            }
        };
        let sale = Sale { show: self.spec.id, order: req.order, owner: req.owner, items: t.items.clone(), version };
        self.sales.insert(req.order, SaleRecord::new(req, sale.clone()));
        Ok(sale)
    }

    /// Refunds sold items.
    pub fn refund(&mut self, req: &Refund, now: i64) -> Result<()> {
        match self.check_items(&req.items)? {
            Some(seats) => {
                self.group(&seats, &SeatOp::Refund { order: req.order }, now)?;
            }
            None => {
                let HoldItems::Pool { pool, quantity } = req.items else { unreachable!("checked above") };
                self.pools[pool.0 as usize].refund(req.order, quantity)?;
            }
        }
        Ok(())
    }

    /// Blocks seats.
    pub fn block(&mut self, seats: &[SeatId], now: i64) -> Result<()> {
        let seats = validate_block_list(self, seats)?;
        self.group(&seats, &SeatOp::Block, now).map(|_| ())
    }

    /// Unblocks seats.
    pub fn unblock(&mut self, seats: &[SeatId], now: i64) -> Result<()> {
        let seats = validate_block_list(self, seats)?;
        self.group(&seats, &SeatOp::Unblock, now).map(|_| ())
    }

    /// The show at `now`.
    pub fn snapshot(&self, now: i64) -> Snapshot {
        let seats = self
            .seats
            .iter()
            .enumerate()
            .map(|(i, s)| SeatView { seat: SeatId(i as u32), status: s.status(now), version: s.version })
            .collect();
        let pools = self
            .pools
            .iter()
            .enumerate()
            .map(|(i, p)| PoolView {
                pool: PoolId(i as u32),
                capacity: p.capacity,
                held: p.held(now),
                sold: p.sold,
                available: p.available(now),
            })
            .collect();
        Snapshot::new(self.spec.id, &self.spec.layout, seats, pools)
    }

    /// Everything the show records at `now` (see [`Audit`]).
    pub fn audit(&self, now: i64) -> Audit {
        let pools = self.pools.iter().enumerate().map(|(i, p)| audit_pool(PoolId(i as u32), p, now)).collect();
        Audit {
            show: self.spec.id,
            now: crate::clock::millis_to_datetime(now),
            seats: self.seats.clone(),
            pools,
            sales: self.sales.values().cloned().collect(),
        }
    }

    /// Frees up to `limit` expired seats and pool holds.
    pub fn sweep(&mut self, now: i64, limit: usize) -> Result<Vec<ExpiredHold>> {
        if limit == 0 {
            return Err(InvalidRequest::ZeroLimit.into());
        }
        let mut out: Vec<ExpiredHold> = Vec::new();
        let mut freed = 0usize;
        for i in 0..self.seats.len() {
            if freed == limit {
                break;
            }
            let seat = &mut self.seats[i];
            if let SeatState::Held { owner, hold, until, .. } = seat.state
                && until <= now
            {
                fsm::apply(seat, &SeatOp::Expire, &fsm::Applied::bump(seat.version + 1));
                freed += 1;
                push_expired(&mut out, self.spec.id, hold, owner, SeatId(i as u32));
            }
        }
        for (i, p) in self.pools.iter_mut().enumerate() {
            if freed == limit {
                break;
            }
            for h in p.sweep(now, limit - freed) {
                freed += 1;
                out.push(ExpiredHold {
                    show: self.spec.id,
                    hold: h.hold,
                    owner: h.owner,
                    items: HoldItems::Pool { pool: PoolId(i as u32), quantity: h.quantity },
                });
            }
        }
        Ok(out)
    }
}

fn validate_block_list(m: &ShowModel, seats: &[SeatId]) -> Result<Vec<SeatId>> {
    // Blocking is an operator action: the per-request maximum does not apply.
    validate::seats(m.spec.id, seats, m.seats.len(), u32::MAX)
}
