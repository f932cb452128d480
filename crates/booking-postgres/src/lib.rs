#![doc = include_str!("../README.md")]

pub mod admission;
mod best;
mod builder;
pub mod catalog;
pub mod checkout;
mod coalesce;
mod db;
mod feed;
mod holds;
mod inventory;
pub mod limits;
mod migrate;
mod outcome;
mod port;
mod rows;
mod sales;
mod shows;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod tickets;

pub use builder::{PgInventoryBuilder, pool_options};
pub use inventory::PgInventory;
pub use migrate::{MIGRATIONS_TABLE, adopt_legacy_history, migrate, migrations};

/// Request coalescing's default settings ([`PgInventoryBuilder::coalesce`]):
/// batches of up to 64 requests, up to 4 calls per show and kind in flight.
pub const DEFAULT_COALESCING: booking_core::Coalescing = booking_core::Coalescing { max_batch: 64, max_in_flight: 4 };

/// The PostgreSQL driver crate this one is built on, re-exported because
/// its types are part of this crate's API: the builders take a
/// `sqlx::PgPool` ([`PgInventory::new`], [`PgInventory::builder`]),
/// [`pool_options`] returns `sqlx::postgres::PgPoolOptions`, and
/// [`migrations`] is a `sqlx::migrate::Migrator`. Using this re-export keeps
/// an application on the very version of sqlx these types come from (as
/// booking-redis re-exports `redis`).
pub use sqlx;
