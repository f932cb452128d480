//! Prices: line items from the show's price categories, fees, a total, all
//! in [`Money`] (integer minor units; no floats anywhere).

use crate::ids::{PriceCategory, SeatId, ShowId};
use crate::inventory::HoldItems;
use crate::layout::{LayoutIndex, ShowSpec};
use crate::money::{Currency, Money};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;
use std::sync::RwLock;
use thiserror::Error;

/// One priced line: one seat, or units of a pool.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineItem {
    /// What the line is for: one seat, or a pool quantity.
    pub items: HoldItems,
    /// Its price category.
    pub category: PriceCategory,
    /// The price of one seat or unit.
    pub unit_price: Money,
    /// `unit_price` times the quantity.
    pub amount: Money,
}

/// A fee on an order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fee {
    /// Its name ("service fee per ticket", "order processing").
    pub name: String,
    /// Its amount.
    pub amount: Money,
}

/// An order's price.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Priced {
    /// One line per seat, or per pool.
    pub lines: Vec<LineItem>,
    /// Fees.
    pub fees: Vec<Fee>,
    /// Lines plus fees.
    pub total: Money,
}

/// Fees a show charges.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeePolicy {
    /// Per seat or unit, in the show's currency's minor units.
    pub per_ticket: i64,
    /// Per order.
    pub per_order: i64,
}

/// Why items cannot be priced.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum PricingError {
    /// No prices for the show.
    #[error("no prices for show {0}")]
    UnknownShow(ShowId),
    /// A category without a price.
    #[error("no price for category {0:?}")]
    UnpricedCategory(PriceCategory),
    /// A seat or pool outside the show.
    #[error("items outside the show")]
    UnknownItem,
    /// A price list mixing currencies, or a negative price or fee.
    #[error("invalid price list: {0}")]
    InvalidPrices(String),
    /// The total does not fit in 64 bits of minor units.
    #[error("amount overflow")]
    Overflow,
}

/// Prices what a hold covers.
pub trait Pricing: Send + Sync + Debug {
    /// The line items, fees and total for `items` of `show`.
    fn price(&self, show: ShowId, items: &HoldItems) -> Result<Priced, PricingError>;
}

#[derive(Debug)]
struct ShowPrices {
    index: LayoutIndex,
    pools: Vec<PriceCategory>,
    prices: BTreeMap<PriceCategory, Money>,
    currency: Currency,
    fees: FeePolicy,
}

/// Prices per show and category, in one currency per show: the ordinary
/// [`Pricing`].
#[derive(Debug, Default)]
pub struct PriceTable {
    shows: RwLock<HashMap<ShowId, ShowPrices>>,
}

impl PriceTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a show's prices (one per category its seats and pools use) and
    /// fees, replacing any before.
    pub fn set_show(
        &self,
        spec: &ShowSpec,
        prices: BTreeMap<PriceCategory, Money>,
        fees: FeePolicy,
    ) -> Result<(), PricingError> {
        let mut currencies = prices.values().map(|m| m.currency);
        let currency = currencies.next().ok_or_else(|| PricingError::InvalidPrices("no prices".into()))?;
        if currencies.any(|c| c != currency) {
            return Err(PricingError::InvalidPrices("one currency per show".into()));
        }
        if prices.values().any(|m| m.minor < 0) || fees.per_ticket < 0 || fees.per_order < 0 {
            return Err(PricingError::InvalidPrices("negative amount".into()));
        }
        let index = LayoutIndex::new(&spec.layout);
        let pools: Vec<PriceCategory> = spec.pools.iter().map(|p| p.category).collect();
        let used = (0..index.seat_count() as u32).map(|s| index.category(SeatId(s))).chain(pools.iter().copied());
        for c in used {
            if !prices.contains_key(&c) {
                return Err(PricingError::UnpricedCategory(c));
            }
        }
        let entry = ShowPrices { index, pools, prices, currency, fees };
        self.shows.write().unwrap_or_else(|e| e.into_inner()).insert(spec.id, entry);
        Ok(())
    }
}

fn money(minor: i64, currency: Currency) -> Money {
    Money { minor, currency }
}

impl Pricing for PriceTable {
    fn price(&self, show: ShowId, items: &HoldItems) -> Result<Priced, PricingError> {
        let shows = self.shows.read().unwrap_or_else(|e| e.into_inner());
        let p = shows.get(&show).ok_or(PricingError::UnknownShow(show))?;
        let price = |c: PriceCategory| p.prices.get(&c).copied().ok_or(PricingError::UnpricedCategory(c));
        let mut lines = Vec::new();
        let units: i64 = match items {
            HoldItems::Seats(seats) => {
                for &s in seats {
                    if s.0 as usize >= p.index.seat_count() {
                        return Err(PricingError::UnknownItem);
                    }
                    let category = p.index.category(s);
                    let unit = price(category)?;
                    lines.push(LineItem { items: HoldItems::Seats(vec![s]), category, unit_price: unit, amount: unit });
                }
                seats.len() as i64
            }
            HoldItems::Pool { pool, quantity } => {
                let category = *p.pools.get(pool.0 as usize).ok_or(PricingError::UnknownItem)?;
                let unit = price(category)?;
                let amount = unit.checked_mul(i64::from(*quantity)).ok_or(PricingError::Overflow)?;
                lines.push(LineItem { items: items.clone(), category, unit_price: unit, amount });
                i64::from(*quantity)
            }
        };
        let mut fees = Vec::new();
        if p.fees.per_ticket > 0 {
            let amount = p.fees.per_ticket.checked_mul(units).ok_or(PricingError::Overflow)?;
            fees.push(Fee { name: "service fee per ticket".into(), amount: money(amount, p.currency) });
        }
        if p.fees.per_order > 0 {
            fees.push(Fee { name: "order processing".into(), amount: money(p.fees.per_order, p.currency) });
        }
        let mut total = money(0, p.currency);
        for m in lines.iter().map(|l| l.amount).chain(fees.iter().map(|f| f.amount)) {
            total = total.checked_add(m).ok_or(PricingError::Overflow)?;
        }
        Ok(Priced { lines, fees, total })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::PoolId;
    use crate::layout::VenueLayout;

    fn eur(minor: i64) -> Money {
        Money { minor, currency: Currency::new("EUR").expect("EUR") }
    }

    #[test]
    fn prices_seats_and_pools_with_fees() {
        let spec =
            ShowSpec::new("s", VenueLayout::grid(1, 1, 4, PriceCategory(1))).with_pool("floor", 10, PriceCategory(2));
        let table = PriceTable::new();
        let prices = BTreeMap::from([(PriceCategory(1), eur(5_000)), (PriceCategory(2), eur(3_000))]);
        table.set_show(&spec, prices, FeePolicy { per_ticket: 250, per_order: 100 }).expect("prices");
        let p = table.price(spec.id, &HoldItems::Seats(vec![SeatId(0), SeatId(3)])).expect("price");
        assert_eq!(p.lines.len(), 2);
        assert_eq!(p.total, eur(2 * 5_000 + 2 * 250 + 100));
        let g = table.price(spec.id, &HoldItems::Pool { pool: PoolId(0), quantity: 3 }).expect("pool");
        assert_eq!(g.total, eur(3 * 3_000 + 3 * 250 + 100));
        assert_eq!(table.price(spec.id, &HoldItems::Seats(vec![SeatId(9)])), Err(PricingError::UnknownItem));
        assert_eq!(
            table.price(spec.id, &HoldItems::Pool { pool: PoolId(0), quantity: u32::MAX }).map(|p| p.total),
            Ok(eur(i64::from(u32::MAX) * 3_000 + i64::from(u32::MAX) * 250 + 100))
        );
        let huge = BTreeMap::from([(PriceCategory(1), eur(i64::MAX)), (PriceCategory(2), eur(1))]);
        table.set_show(&spec, huge, FeePolicy { per_ticket: 0, per_order: 0 }).expect("prices");
        assert_eq!(table.price(spec.id, &HoldItems::Seats(vec![SeatId(0), SeatId(1)])), Err(PricingError::Overflow));
        let missing = BTreeMap::from([(PriceCategory(1), eur(1))]);
        assert!(matches!(
            table.set_show(&spec, missing, FeePolicy { per_ticket: 0, per_order: 0 }),
            Err(PricingError::UnpricedCategory(PriceCategory(2)))
        ));
    }
}
