//! Per-payer accounting for one show's per-payment purchase cap: units
//! sold, not refunded, to each payer key.
//!
//! A sale first reserves its units here, after the order's record was
//! looked up and before the seats (or pool) change; a sale the seats then
//! refuse gives them back, a refund lowers the count after the seats
//! changed. Every window therefore counts a payer high, never low, so the
//! cap is never exceeded.

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

    /// Counts `units` more sold to `payer`, or fails with
    /// `TicketsPerPayment` and counts nothing. A sale without a payer, or
    /// in a show without the cap, is not counted.
    pub(crate) fn reserve(&self, payer: Option<&PayerKey>, units: u32) -> Result<(), InventoryError> {
        let (Some(max), Some(payer)) = (self.max, payer) else { return Ok(()) };
        let mut sold = lock(&self.sold);
        let have = sold.get(payer).copied().unwrap_or(0);
        let would_have = have.saturating_add(units);
        if would_have > max {
            return Err(InventoryError::LimitExceeded(Limit::TicketsPerPayment { would_have, max }));
        }
        sold.insert(payer.clone(), would_have);
        Ok(())
    }

    /// Counts `units` sold to `payer` returned: a refund, or a reserved
    /// sale that did not happen.
    pub(crate) fn give_back(&self, payer: Option<&PayerKey>, units: u32) {
        let (Some(_), Some(payer)) = (self.max, payer) else { return };
        let mut sold = lock(&self.sold);
        if let Some(n) = sold.get_mut(payer) {
            *n = n.saturating_sub(units);
            if *n == 0 {
                sold.remove(payer);
            }
        }
    }
}
