//! What the library keeps in process about a show.

use crate::keys::ShowKeys;
use booking_core::backend::refusal::Context;
use booking_core::backend::validate;
use booking_core::layout::RowRange;
use booking_core::{HoldItems, InventoryError, PoolId, PriceCategory, Result, SeatId, SectionId, ShowSpec};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// What the library keeps in process about a show: its specification never
/// changes once created, so it is read from Redis once per process.
pub(crate) struct ShowInfo {
    pub(crate) spec: ShowSpec,
    categories: Vec<PriceCategory>,
    pub(crate) keys: ShowKeys,
    /// The rows best-available picks from, as `lua/best.lua` reads them:
    /// all of them (`None`) and per section.
    pub(crate) row_specs: HashMap<Option<SectionId>, String>,
    /// Per price category asked for, its seats as a bitmap (made on first
    /// use).
    category_masks: Mutex<HashMap<PriceCategory, Arc<Vec<u8>>>>,
}

impl ShowInfo {
    pub(crate) fn new(prefix: &str, spec: ShowSpec) -> Self {
        let rows = spec.layout.rows();
        let mut row_specs = HashMap::new();
        row_specs.insert(None, row_spec(rows.iter()));
        for r in &rows {
            row_specs
                .entry(Some(r.section))
                .or_insert_with(|| row_spec(rows.iter().filter(|x| x.section == r.section)));
        }
        ShowInfo {
            categories: spec.layout.seats().into_iter().map(|s| s.category).collect(),
            keys: ShowKeys::new(prefix, spec.id),
            row_specs,
            category_masks: Mutex::new(HashMap::new()),
            spec,
        }
    }

    /// The seats of `category` as a bitmap (bit = seat id, most significant
    /// bit first, as Redis numbers bits).
    pub(crate) fn category_mask(&self, category: PriceCategory) -> Arc<Vec<u8>> {
        let mut masks = self.category_masks.lock().unwrap_or_else(|e| e.into_inner());
        masks
            .entry(category)
            .or_insert_with(|| {
                let mut mask = vec![0u8; self.categories.len().div_ceil(8)];
                for (i, c) in self.categories.iter().enumerate() {
                    if *c == category {
                        mask[i / 8] |= 0x80 >> (i % 8);
                    }
                }
                Arc::new(mask)
            })
            .clone()
    }

    pub(crate) fn seat_count(&self) -> usize {
        self.categories.len()
    }

    /// The per-owner limit as the hold scripts take it: a number, or
    /// `none`.
    pub(crate) fn max_per_owner_arg(&self) -> String {
        let arg = |limit: Option<u32>| limit.map_or_else(|| "none".to_owned(), |n| n.to_string());
        let policy = &self.spec.policy;
        format!("{},{}", arg(policy.max_held_per_owner), arg(policy.max_tickets_per_owner))
    }

    /// The key sales and refunds count sold units in, for a show with a
    /// per-owner ticket cap; none (so no count is kept) otherwise.
    pub(crate) fn sold_key(&self) -> Option<&str> {
        self.spec.policy.max_tickets_per_owner.map(|_| &*self.keys.owner_sold)
    }

    /// The key sales and refunds count units per payer in, for a show with
    /// a per-payment cap; none otherwise.
    pub(crate) fn payer_key(&self) -> Option<&str> {
        self.spec.policy.max_tickets_per_payment.map(|_| &*self.keys.payer_sold)
    }

    /// The per-payment cap as the sale scripts take it (`''` for none).
    pub(crate) fn payer_cap_arg(&self) -> String {
        self.spec.policy.max_tickets_per_payment.map(|m| m.to_string()).unwrap_or_default()
    }

    /// What a refusal's error takes from the show itself; callers add what
    /// their request names.
    pub(crate) fn context(&self) -> Context {
        Context {
            show: Some(self.spec.id),
            max_held: self.spec.policy.max_held_per_owner,
            max_tickets: self.spec.policy.max_tickets_per_owner,
            max_payment: self.spec.policy.max_tickets_per_payment,
            max_renewals: self.spec.policy.max_renewals,
            ..Context::default()
        }
    }

    pub(crate) fn validate_seats(&self, seats: &[SeatId]) -> Result<Vec<SeatId>> {
        validate::seats(self.spec.id, seats, self.seat_count(), self.spec.policy.max_per_request)
    }

    pub(crate) fn check_pool(&self, pool: PoolId) -> Result<()> {
        if (pool.0 as usize) < self.spec.pools.len() {
            Ok(())
        } else {
            Err(InventoryError::UnknownPool { show: self.spec.id, pool })
        }
    }

    /// Checks a token's (or refund's) items; returns the sorted seats of a
    /// seat hold, `None` for a pool.
    pub(crate) fn check_items(&self, items: &HoldItems) -> Result<Option<Vec<SeatId>>> {
        match items {
            HoldItems::Seats(seats) => Ok(Some(self.validate_seats(seats)?)),
            HoldItems::Pool { pool, quantity } => {
                validate::quantity(*quantity, self.spec.policy.max_per_request)?;
                self.check_pool(*pool)?;
                Ok(None)
            }
        }
    }
}

/// Rows as `lua/best.lua` reads them: `first:len:count` per run of
/// consecutive rows of one length, comma-separated, best first.
fn row_spec<'a>(rows: impl Iterator<Item = &'a RowRange>) -> String {
    let mut runs: Vec<(u32, u32, u32)> = Vec::new();
    for r in rows {
        match runs.last_mut() {
            Some((first, len, count)) if *len == r.len && *first + *len * *count == r.first.0 => *count += 1,
            _ => runs.push((r.first.0, r.len, 1)),
        }
    }
    runs.iter().map(|(first, len, count)| format!("{first}:{len}:{count}")).collect::<Vec<_>>().join(",")
}
