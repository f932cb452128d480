//! Per-payer accounting for one show's per-payment purchase cap: units
//! sold, not refunded, to each payer key.
//!
//! A counted sale or refund runs with the accounting locked: the cap's
//! check, the change of the seats (or pool) and the count are one step, so
//! a concurrent sale to any payer of the show sees all of it or none of
//! it: the cap is never exceeded, and a refusal is always the one some
//! order of the requests gives. Lock order: an order's sales stripe, then
//! this lock, then seats and pools, then owners; nothing takes this lock
//! while holding any of those.

use crate::sync::{Mutex, lock};
use booking_core::{InventoryError, Limit, PayerKey};
use std::collections::HashMap;

/// A show's per-payer accounting. A show without the cap keeps none: every
/// method then returns at once, touching no lock.
#[derive(Debug)]
pub(crate) struct Payers {
    /// The show's per-payment cap.
    max: Option<u32>,
    sold: Mutex<HashMap<PayerKey, u32>>,
}

impl Payers {
    /// Accounting for a show whose payers may buy `max` units.
    pub(crate) fn new(max: Option<u32>) -> Self {
        Payers { max, sold: Mutex::new(HashMap::new()) }
    }

    /// Whether sales are counted (the show has the cap).
    pub(crate) fn counts(&self) -> bool {
        self.max.is_some()
    }

    /// Runs `sale` of `units` paid by `payer` with the count locked: a sale
    /// past the cap fails with `TicketsPerPayment` without running, one that
    /// succeeds is counted before the lock is let go. A sale without a
    /// payer, or in a show without the cap, runs without the lock and is not
    /// counted.
    pub(crate) fn sell<T>(
        &self,
        payer: Option<&PayerKey>,
        units: u32,
        sale: impl FnOnce() -> Result<T, InventoryError>,
    ) -> Result<T, InventoryError> {
        let (Some(max), Some(payer)) = (self.max, payer) else { return sale() };
        let mut sold = lock(&self.sold);
        let have = sold.get(payer).copied().unwrap_or(0);
        let would_have = have.saturating_add(units);
        if would_have > max {
            return Err(InventoryError::LimitExceeded(Limit::TicketsPerPayment { would_have, max }));
        }
        let done = sale()?;
        sold.insert(payer.clone(), would_have);
        Ok(done)
    }

    /// Runs `refund` of `units` sold to `payer` with the count locked, and
    /// counts them returned if it succeeds. A refund without a payer, or
    /// in a show without the cap, runs without the lock.
    pub(crate) fn refund(
        &self,
        payer: Option<&PayerKey>,
        units: u32,
        refund: impl FnOnce() -> Result<(), InventoryError>,
    ) -> Result<(), InventoryError> {
        let (Some(_), Some(payer)) = (self.max, payer) else { return refund() };
        let mut sold = lock(&self.sold);
        refund()?;
        if let Some(n) = sold.get_mut(payer) {
            *n = n.saturating_sub(units);
            if *n == 0 {
                sold.remove(payer);
            }
        }
        Ok(())
    }
}
