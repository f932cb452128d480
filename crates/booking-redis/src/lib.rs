#![doc = include_str!("../README.md")]

pub mod admission;
mod builder;
mod checkout;
mod coalesce;
mod codec;
mod conn;
mod durability;
mod error;
mod feed;
mod holds;
mod idempotency;
mod inventory;
pub mod keys;
pub mod limits;
mod lock;
mod port;
mod sales;
pub mod scripts;
mod show;
mod shows;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod tickets;

pub use builder::RedisInventoryBuilder;
pub use checkout::{RedisCheckoutStores, RedisCheckoutStoresBuilder, RedisOutbox, RedisSagaLog};
pub use coalesce::CoalesceStats;
pub use durability::SaleDurability;
pub use error::{RedisFailure, StoreError};
pub use idempotency::{DEFAULT_RETENTION, RedisIdempotencyStore, RedisIdempotencyStoreBuilder};
pub use inventory::RedisInventory;
pub use keys::{ShowKeys, key_slot, show_index};
pub use lock::{RedisSeatLock, RedisSeatLockBuilder};
pub use sales::Restored;

/// The Redis client crate this one is built on (redis-rs), re-exported
/// because its types are part of this crate's API: the builders take a
/// `redis::Client` ([`RedisInventory::builder_for`]) or anything
/// `redis::IntoConnectionInfo` accepts ([`RedisInventory::cluster_builder`],
/// [`RedisSeatLock::cluster_builder`]), and [`scripts`] are meant to be
/// sent with it. Using this re-export keeps an application on the very
/// version of redis-rs these types come from.
pub use redis;

use booking_core::{InvalidRequest, InventoryError, Result};
use redis::{Client, IntoConnectionInfo};

/// The key prefix used when none is configured.
pub const DEFAULT_PREFIX: &str = "booking:";
/// How many change-feed entries a show's stream keeps (about; trimming is
/// approximate) when not configured.
pub const DEFAULT_FEED_MAX_LEN: u64 = 100_000;

/// Request coalescing's default settings
/// ([`RedisInventoryBuilder::coalesce`]): batches of up to 64 requests, up
/// to 8 calls per show and kind in flight.
pub const DEFAULT_COALESCING: booking_core::Coalescing = booking_core::Coalescing { max_batch: 64, max_in_flight: 8 };

/// A client for `url`, with `TCP_NODELAY` set: requests are small and
/// latency-bound, and a multiplexed connection writes many of them back to
/// back.
pub(crate) fn client_for(url: &str) -> Result<Client> {
    let bad_url = |e: redis::RedisError| InventoryError::InvalidRequest(InvalidRequest::InvalidShow(e.to_string()));
    let info = url.into_connection_info().map_err(bad_url)?.set_tcp_settings(conn::nodelay());
    Client::open(info).map_err(bad_url)
}
