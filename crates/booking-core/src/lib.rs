#![doc = include_str!("../README.md")]

pub mod best;
pub mod checkout;
pub mod clock;
pub mod error;
pub mod fsm;
pub mod idempotency;
pub mod ids;
pub mod inventory;
pub mod layered;
pub mod layout;
pub mod model;
pub mod money;
pub mod payments;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{InvalidRequest, InventoryError, Limit, Result};
pub use fsm::SeatStatus;
pub use ids::{HoldId, OrderId, OwnerId, PaymentRef, PoolId, PriceCategory, SeatId, SectionId, ShowId};
pub use inventory::*;
pub use layout::{HoldPolicy, LayoutIndex, PoolSpec, RowSpec, SeatSpec, SectionSpec, ShowSpec, VenueLayout};
pub use money::{Currency, Money};
