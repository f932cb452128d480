//! General admission: the state machine over a counted pool.

use crate::error::{InventoryError, Limit};
use crate::ids::{HoldId, OrderId, OwnerId};
use serde::{Deserialize, Serialize};

/// A general-admission pool: `capacity` units, some sold, some under holds.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Pool {
    /// Units for sale.
    pub capacity: u32,
    /// Units sold.
    pub sold: u32,
    /// Holds, live and expired (until swept or reclaimed).
    pub holds: Vec<PoolHold>,
    /// Units sold, one entry per sold hold, oldest first.
    pub sales: Vec<PoolSale>,
    /// Bumped by every transition of the pool.
    pub version: u64,
}

/// A hold on units of a pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolHold {
    /// The hold.
    pub hold: HoldId,
    /// Who holds it.
    pub owner: OwnerId,
    /// Units held.
    pub quantity: u32,
    /// Expiry (Unix ms).
    pub until: i64,
    /// Latest expiry (Unix ms).
    pub deadline: i64,
    /// Extensions so far.
    pub renewals: u32,
    /// The hold's version (fencing token).
    pub version: u64,
}

/// Units of a pool sold from one hold to one order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolSale {
    /// The order.
    pub order: OrderId,
    /// The buyer.
    pub owner: OwnerId,
    /// The hold the units were sold from.
    pub hold: HoldId,
    /// Units sold and not refunded.
    pub quantity: u32,
}

impl Pool {
    /// An empty pool of `capacity` units.
    pub fn new(capacity: u32) -> Self {
        Pool { capacity, ..Pool::default() }
    }

    /// Units under live holds at `now`.
    pub fn held(&self, now: i64) -> u32 {
        self.holds.iter().filter(|h| h.until > now).map(|h| h.quantity).sum()
    }

    /// Units free to hold at `now`.
    pub fn available(&self, now: i64) -> u32 {
        self.capacity.saturating_sub(self.sold).saturating_sub(self.held(now))
    }

    /// Fails with `TokenMismatch` when a live or expired hold `hold` exists
    /// with another quantity than a token claims.
    pub fn check_token_quantity(&self, hold: HoldId, quantity: u32) -> Result<(), InventoryError> {
        match self.holds.iter().find(|h| h.hold == hold) {
            Some(h) if h.quantity != quantity => Err(crate::error::InvalidRequest::TokenMismatch.into()),
            _ => Ok(()),
        }
    }

    fn find(&self, hold: HoldId) -> Option<usize> {
        self.holds.iter().position(|h| h.hold == hold)
    }

    fn check_holder(&self, owner: OwnerId, hold: HoldId, version: u64, now: i64) -> Result<usize, InventoryError> {
        let i = self.find(hold).ok_or(InventoryError::HoldExpired { hold })?;
        let h = &self.holds[i];
        if h.owner != owner {
            Err(InventoryError::NotOwner { hold })
        } else if h.version != version {
            Err(InventoryError::StaleToken { hold, presented: version, current: h.version })
        } else if h.until <= now {
            Err(InventoryError::HoldExpired { hold })
        } else {
            Ok(i)
        }
    }

    /// Takes the units of `new` (all or none; `new.version` and
    /// `new.renewals` are set here). Expired holds are reclaimed silently
    /// first. Returns the new hold's version.
    pub fn hold(&mut self, pool: crate::ids::PoolId, new: PoolHold, now: i64) -> Result<u64, InventoryError> {
        let available = self.available(now);
        if new.quantity > available {
            return Err(InventoryError::InsufficientCapacity { pool, requested: new.quantity, available });
        }
        self.holds.retain(|h| h.until > now);
        self.version += 1;
        self.holds.push(PoolHold { renewals: 0, version: self.version, ..new });
        Ok(self.version)
    }

    /// Extends a live hold; returns it as updated.
    pub fn extend(
        &mut self,
        owner: OwnerId,
        hold: HoldId,
        version: u64,
        ttl: i64,
        max_renewals: u32,
        now: i64,
    ) -> Result<PoolHold, InventoryError> {
        let i = self.check_holder(owner, hold, version, now)?;
        let h = self.holds[i];
        if h.renewals >= max_renewals {
            return Err(InventoryError::LimitExceeded(Limit::Renewals { max: max_renewals }));
        }
        if h.until >= h.deadline {
            return Err(InventoryError::LimitExceeded(Limit::HoldLifetime));
        }
        self.version += 1;
        let h = &mut self.holds[i];
        h.until = now.saturating_add(ttl).min(h.deadline);
        h.renewals += 1;
        h.version = self.version;
        Ok(*h)
    }

    /// The live hold `hold` at `version`, owned by `owner`, unchanged.
    pub fn verify(&self, owner: OwnerId, hold: HoldId, version: u64, now: i64) -> Result<PoolHold, InventoryError> {
        self.check_holder(owner, hold, version, now).map(|i| self.holds[i])
    }

    /// Releases a live hold; returns it as it was.
    pub fn release(
        &mut self,
        owner: OwnerId,
        hold: HoldId,
        version: u64,
        now: i64,
    ) -> Result<PoolHold, InventoryError> {
        let i = self.check_holder(owner, hold, version, now)?;
        self.version += 1;
        Ok(self.holds.remove(i))
    }

    /// Sells a live hold's units to `order`; returns the pool's new version.
    /// (A sell replay never reaches here: the order's sale record answers
    /// it, see `crate::inventory::SaleRecord`.)
    pub fn sell(
        &mut self,
        owner: OwnerId,
        hold: HoldId,
        version: u64,
        order: OrderId,
        now: i64,
    ) -> Result<u64, InventoryError> {
        let i = self.check_holder(owner, hold, version, now)?;
        let h = self.holds.remove(i);
        self.version += 1;
        self.sold += h.quantity;
        self.sales.push(PoolSale { order, owner, hold, quantity: h.quantity });
        Ok(self.version)
    }

    /// Returns `quantity` units sold to `order` to sale, taking them from
    /// the order's oldest sales first.
    pub fn refund(&mut self, order: OrderId, quantity: u32) -> Result<(), InventoryError> {
        let bought: u32 = self.sales.iter().filter(|s| s.order == order).map(|s| s.quantity).sum();
        if bought < quantity {
            return Err(InventoryError::NotSold { order });
        }
        self.version += 1;
        self.sold -= quantity;
        let mut left = quantity;
        for s in self.sales.iter_mut().filter(|s| s.order == order) {
            let take = left.min(s.quantity);
            s.quantity -= take;
            left -= take;
        }
        self.sales.retain(|s| s.quantity > 0);
        Ok(())
    }

    /// Removes up to `limit` expired holds and returns them.
    pub fn sweep(&mut self, now: i64, limit: usize) -> Vec<PoolHold> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.holds.len() && out.len() < limit {
            if self.holds[i].until <= now {
                out.push(self.holds.remove(i));
            } else {
                i += 1;
            }
        }
        if !out.is_empty() {
            self.version += 1;
        }
        out
    }
}
