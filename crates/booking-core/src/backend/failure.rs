//! Failures of a store that name the store and the operation.
//!
//! A backend's `Backend`, `Unavailable` and `OutcomeUnknown` errors carry a
//! [`StoreFailure`]: which store failed ("postgres", ...), in which
//! operation (the port's method, `connect`, ...), and why. A backend wraps
//! each port method's failures once, with [`in_operation`], so every
//! failure it returns reads the same way, whatever raised it.

use crate::error::InventoryError;
use std::error::Error;
use std::fmt;

/// A failure of a store in one operation. `Display` reads
/// "<store>, <operation>: <cause>".
///
/// ```rust
/// # fn demo(e: booking_core::InventoryError) {
/// use booking_core::backend::failure::StoreFailure;
///
/// if let Some(f) = StoreFailure::of(&e) {
///     eprintln!("{} failed in {}: {}", f.store, f.operation, f.cause);
/// }
/// # }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct StoreFailure {
    /// The store, e.g. `"postgres"`.
    pub store: &'static str,
    /// The operation that failed, e.g. `"hold_seats"`.
    pub operation: &'static str,
    /// What failed.
    pub cause: Box<dyn Error + Send + Sync>,
}

impl StoreFailure {
    /// A failure of `store` in `operation`.
    pub fn new(store: &'static str, operation: &'static str, cause: Box<dyn Error + Send + Sync>) -> Self {
        StoreFailure { store, operation, cause }
    }

    /// The failure inside `e`, if `e` is a failure of a store that names it.
    pub fn of(e: &InventoryError) -> Option<&StoreFailure> {
        match e {
            InventoryError::Backend(inner)
            | InventoryError::Unavailable(inner)
            | InventoryError::OutcomeUnknown(inner) => inner.downcast_ref::<StoreFailure>(),
            _ => None,
        }
    }
}

impl fmt::Display for StoreFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, {}: {}", self.store, self.operation, self.cause)
    }
}

impl Error for StoreFailure {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&*self.cause)
    }
}

/// Names `store` and `operation` in a failure of the store (`Backend`,
/// `Unavailable`, `OutcomeUnknown`), for `map_err`. Decisions pass
/// unchanged, and so does a failure that already names its operation.
pub fn in_operation(store: &'static str, operation: &'static str) -> impl Fn(InventoryError) -> InventoryError {
    move |e| {
        let wrap = |cause: Box<dyn Error + Send + Sync>| -> Box<dyn Error + Send + Sync> {
            if cause.is::<StoreFailure>() { cause } else { Box::new(StoreFailure { store, operation, cause }) }
        };
        match e {
            InventoryError::Backend(cause) => InventoryError::Backend(wrap(cause)),
            InventoryError::Unavailable(cause) => InventoryError::Unavailable(wrap(cause)),
            InventoryError::OutcomeUnknown(cause) => InventoryError::OutcomeUnknown(wrap(cause)),
            decided => decided,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::HoldId;

    #[test]
    fn failures_name_store_and_operation_once_and_decisions_pass() {
        let e = in_operation("postgres", "sell")(InventoryError::Backend("boom".into()));
        let f = StoreFailure::of(&e).expect("named");
        assert_eq!((f.store, f.operation), ("postgres", "sell"));
        assert_eq!(e.to_string(), InventoryError::Backend("postgres, sell: boom".into()).to_string());
        let again = in_operation("postgres", "other")(e);
        assert_eq!(StoreFailure::of(&again).map(|f| f.operation), Some("sell"), "the first name stays");
        let lost = in_operation("postgres", "sell")(InventoryError::OutcomeUnknown("cut".into()));
        assert!(matches!(&lost, InventoryError::OutcomeUnknown(_)) && StoreFailure::of(&lost).is_some());
        let hold = HoldId::new();
        let decided = in_operation("postgres", "sell")(InventoryError::HoldExpired { hold });
        assert!(matches!(decided, InventoryError::HoldExpired { hold: h } if h == hold));
        assert!(StoreFailure::of(&decided).is_none());
    }
}
