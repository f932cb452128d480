//! Per-owner hold accounting for one show, striped by owner.
//!
//! A hold first reserves its seats here, then takes the seats; a failed
//! hold gives the reservation back. Releases, sales and sweeps drop the
//! reservation after the seats changed. Every window therefore counts an
//! owner high, never low, so the limit is never exceeded.

use crate::sync::{Mutex, lock};
use booking_core::{HoldId, InventoryError, Limit, OwnerId};
use std::collections::HashMap;

const STRIPES: usize = 16;

#[derive(Clone, Copy, Debug)]
struct Reserved {
    hold: HoldId,
    units: u32,
    until: i64,
}

type OwnerMap = HashMap<OwnerId, Vec<Reserved>>;

#[derive(Debug)]
pub(crate) struct Owners {
    stripes: Box<[Mutex<OwnerMap>]>,
}

impl Owners {
    pub(crate) fn new() -> Self {
        Owners { stripes: (0..STRIPES).map(|_| Mutex::new(HashMap::new())).collect() }
    }

    fn stripe(&self, owner: OwnerId) -> &Mutex<OwnerMap> {
        let b = owner.as_u128();
        &self.stripes[((b ^ (b >> 64)) as usize) % STRIPES]
    }

    /// Reserves `units` for a new hold, or fails with `HeldPerOwner`.
    pub(crate) fn reserve(
        &self,
        owner: OwnerId,
        hold: HoldId,
        units: u32,
        until: i64,
        max: u32,
        now: i64,
    ) -> Result<(), InventoryError> {
        let mut map = lock(self.stripe(owner));
        let list = map.entry(owner).or_default();
        list.retain(|r| r.until > now);
        let would_hold = list.iter().map(|r| r.units).sum::<u32>() + units;
        if would_hold > max {
            if list.is_empty() {
                map.remove(&owner);
            }
            return Err(InventoryError::LimitExceeded(Limit::HeldPerOwner { would_hold, max }));
        }
        list.push(Reserved { hold, units, until });
        Ok(())
    }

    /// Drops a hold's reservation.
    pub(crate) fn drop_hold(&self, owner: OwnerId, hold: HoldId) {
        let mut map = lock(self.stripe(owner));
        if let Some(list) = map.get_mut(&owner) {
            list.retain(|r| r.hold != hold);
            if list.is_empty() {
                map.remove(&owner);
            }
        }
    }

    /// Sets a reservation's expiry; returns the previous one.
    pub(crate) fn set_until(&self, owner: OwnerId, hold: HoldId, until: i64) -> Option<i64> {
        let mut map = lock(self.stripe(owner));
        let r = map.get_mut(&owner)?.iter_mut().find(|r| r.hold == hold)?;
        Some(std::mem::replace(&mut r.until, until))
    }
}
