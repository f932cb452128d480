#![doc = include_str!("../README.md")]

pub mod admission;
pub mod backend;
pub mod catalog;
pub mod checkout;
pub mod clock;
pub mod delivery;
pub mod error;
#[cfg(feature = "qr")]
pub mod fulfilment;
pub mod idempotency;
pub mod ids;
pub mod inventory;
pub mod layered;
pub mod layout;
pub mod limits;
pub mod maintenance;
pub mod money;
pub mod payments;
pub mod seatmap;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod tickets;
pub mod worker;

pub use backend::fsm::SeatStatus;
pub use clock::{Clock, ManualClock, SystemClock, TimeSource};
pub use error::{InvalidRequest, InventoryError, Limit, Result};
pub use ids::{HoldId, OrderId, OwnerId, PayerKey, PaymentRef, PoolId, PriceCategory, SeatId, SectionId, ShowId};
pub use inventory::*;
pub use layout::{HoldPolicy, LayoutIndex, PoolSpec, RowSpec, SeatSpec, SectionSpec, ShowSpec, VenueLayout};
pub use money::{Currency, Money};
