//! The money audit: orders against the provider's ledger against sold
//! seats. Every captured amount must end attached to sold seats or
//! refunded, and no seat may be sold without a captured payment (design
//! I9, money conservation).

use super::{Order, OrderStatus};
use crate::ids::OrderId;
use crate::inventory::SaleRecord;
use crate::money::Money;
use crate::payments::PaymentId;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// One payment as the provider's ledger (a reconciliation export) shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// The provider's payment id.
    pub payment: PaymentId,
    /// The order it was for.
    pub order: OrderId,
    /// Amount authorized.
    pub authorized: Money,
    /// Amount captured.
    pub captured: Money,
    /// Amount refunded.
    pub refunded: Money,
    /// The authorization was voided.
    pub voided: bool,
    /// The capture's id, if captured.
    pub capture: Option<String>,
}

/// A discrepancy the audit found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum MoneyProblem {
    /// Money kept (captured, not refunded) without seats sold to the order.
    CapturedNotSold {
        /// The order.
        order: OrderId,
        /// Captured minus refunded.
        kept: Money,
    },
    /// Seats sold to an order whose payment was not captured, or is not the
    /// capture the sale records.
    SoldWithoutCapture {
        /// The order.
        order: OrderId,
    },
    /// Seats sold to an order the saga log does not know.
    SoldWithoutOrder {
        /// The order.
        order: OrderId,
    },
    /// A completed order whose kept amount is not its total.
    AmountMismatch {
        /// The order.
        order: OrderId,
        /// The order's total.
        total: Money,
        /// Captured minus refunded at the provider.
        kept: Money,
    },
    /// A finished order that did not buy anything, yet money is kept.
    ChargedButNotCompleted {
        /// The order.
        order: OrderId,
        /// Its status.
        status: OrderStatus,
        /// Captured minus refunded.
        kept: Money,
    },
    /// A declined order whose authorization was neither voided nor lapsed.
    AuthorizationLeftOpen {
        /// The order.
        order: OrderId,
    },
    /// A provider payment for an order the saga log does not know.
    UnknownPayment {
        /// The payment.
        payment: PaymentId,
    },
}

/// The audit's findings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoneyAudit {
    /// Orders audited (final ones; orders still in progress are only
    /// checked for seats sold without a capture).
    pub orders: usize,
    /// Orders completed.
    pub completed: usize,
    /// Orders refunded.
    pub refunded: usize,
    /// Orders parked as needing attention (listed, not judged).
    pub parked: Vec<OrderId>,
    /// Discrepancies.
    pub problems: Vec<MoneyProblem>,
}

impl MoneyAudit {
    /// True when nothing is wrong.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Audits `orders` (the saga log) against `ledger` (the provider's
/// payments) and `sales` (every sale record of the shows concerned, from
/// [`crate::SeatInventory::audit`]).
pub fn audit_money(orders: &[Order], ledger: &[LedgerEntry], sales: &[SaleRecord]) -> MoneyAudit {
    let by_order: BTreeMap<OrderId, &LedgerEntry> = ledger.iter().map(|e| (e.order, e)).collect();
    let sold: BTreeMap<OrderId, &SaleRecord> = sales.iter().map(|s| (s.sale.order, s)).collect();
    let known: BTreeSet<OrderId> = orders.iter().map(|o| o.id).collect();
    let mut audit = MoneyAudit::default();
    let kept = |o: &Order| {
        by_order.get(&o.id).map_or(Money::new(0, o.priced.total.currency), |e| {
            Money::new(e.captured.minor - e.refunded.minor, e.captured.currency)
        })
    };
    for o in orders {
        if let Some(s) = sold.get(&o.id) {
            let capture = by_order.get(&o.id).and_then(|e| e.capture.as_deref());
            if capture != Some(s.payment.0.as_str()) || kept(o).minor <= 0 {
                audit.problems.push(MoneyProblem::SoldWithoutCapture { order: o.id });
            }
        }
        if !o.status.is_final() {
            continue;
        }
        audit.orders += 1;
        let k = kept(o);
        match o.status {
            OrderStatus::Completed => {
                audit.completed += 1;
                if !sold.contains_key(&o.id) {
                    audit.problems.push(MoneyProblem::CapturedNotSold { order: o.id, kept: k });
                } else if k != o.priced.total {
                    audit.problems.push(MoneyProblem::AmountMismatch { order: o.id, total: o.priced.total, kept: k });
                }
            }
            OrderStatus::NeedsAttention => audit.parked.push(o.id),
            status => {
                if status == OrderStatus::Refunded {
                    audit.refunded += 1;
                }
                if k.minor != 0 {
                    audit.problems.push(MoneyProblem::ChargedButNotCompleted { order: o.id, status, kept: k });
                }
                if status == OrderStatus::Declined
                    && by_order.get(&o.id).is_some_and(|e| e.authorized.minor > 0 && e.captured.minor == 0 && !e.voided)
                {
                    audit.problems.push(MoneyProblem::AuthorizationLeftOpen { order: o.id });
                }
            }
        }
    }
    for s in sales {
        if !known.contains(&s.sale.order) {
            audit.problems.push(MoneyProblem::SoldWithoutOrder { order: s.sale.order });
        }
    }
    for e in ledger {
        if !known.contains(&e.order) && e.captured.minor > e.refunded.minor {
            audit.problems.push(MoneyProblem::UnknownPayment { payment: e.payment.clone() });
        }
    }
    audit
}
