//! The stores behind the server, one set per backend.
//!
//! | port | memory | postgres | redis | redis+postgres |
//! |---|---|---|---|---|
//! | seat inventory | memory | PostgreSQL | Redis | Redis seat lock in front of PostgreSQL |
//! | catalog | memory | PostgreSQL | in process (no Redis catalog) | PostgreSQL |
//! | waiting room, saga log, outbox, idempotency keys, rate limits, blacklist, check-in | memory | PostgreSQL | Redis | PostgreSQL |

use crate::config::{Backend, Config};
use booking_core::SeatInventory;
use booking_core::admission::WaitingRoomStore;
use booking_core::catalog::Catalog;
use booking_core::checkout::{Outbox, SagaLog};
use booking_core::idempotency::IdempotencyStore;
use booking_core::layered::LockedInventory;
use booking_core::limits::{BlacklistStore, RateLimitStore};
use booking_core::tickets::CheckInStore;
use std::sync::Arc;
use std::time::Duration;

/// Every store the server uses, as trait objects.
#[derive(Clone, Debug)]
pub struct Stores {
    /// Which backend these are.
    pub backend: Backend,
    /// Seats, holds, sales and the change feed.
    pub inventory: Arc<dyn SeatInventory>,
    /// Venues, events, shows and search.
    pub catalog: Arc<dyn Catalog>,
    /// Waiting rooms.
    pub rooms: Arc<dyn WaitingRoomStore>,
    /// Orders and their sagas.
    pub saga_log: Arc<dyn SagaLog>,
    /// Messages to deliver (tickets to issue, emails to send).
    pub outbox: Arc<dyn Outbox>,
    /// Idempotency keys of checkouts.
    pub keys: Arc<dyn IdempotencyStore>,
    /// Rate-limit state.
    pub rates: Arc<dyn RateLimitStore>,
    /// Blacklisted accounts, addresses and cards.
    pub blacklist: Arc<dyn BlacklistStore>,
    /// Tickets' versions and admissions.
    pub checkins: Arc<dyn CheckInStore>,
}

impl Stores {
    /// Everything in process.
    pub fn memory() -> Self {
        Stores {
            backend: Backend::Memory,
            inventory: Arc::new(booking_memory::MemoryInventory::new()),
            catalog: Arc::new(booking_memory::MemoryCatalog::new()),
            rooms: Arc::new(booking_memory::admission::MemoryWaitingRoomStore::new()),
            saga_log: Arc::new(booking_memory::checkout::MemorySagaLog::new()),
            outbox: Arc::new(booking_memory::checkout::MemoryOutbox::new()),
            keys: Arc::new(booking_memory::MemoryIdempotencyStore::new()),
            rates: Arc::new(booking_memory::MemoryRateLimitStore::new()),
            blacklist: Arc::new(booking_memory::MemoryBlacklist::new()),
            checkins: Arc::new(booking_memory::tickets::MemoryCheckInStore::new()),
        }
    }

    /// The stores `config` names, connected (and PostgreSQL migrated).
    ///
    /// Errors: a URL is missing, a server cannot be reached, a migration
    /// fails.
    pub async fn connect(config: &Config) -> Result<Self, String> {
        match config.backend {
            Backend::Memory => Ok(Self::memory()),
            Backend::Postgres => Self::postgres(database_url(config)?, None).await,
            Backend::RedisPostgres => {
                let lock = booking_redis::RedisSeatLock::builder(redis_url(config)?)
                    .map_err(|e| format!("Redis: {e}"))?
                    .prefix(config.redis_prefix.clone())
                    .build()
                    .await
                    .map_err(|e| format!("Redis: {e}"))?;
                Self::postgres(database_url(config)?, Some(lock)).await
            }
            Backend::Redis => Self::redis(redis_url(config)?, &config.redis_prefix).await,
        }
    }

    async fn postgres(url: &str, lock: Option<booking_redis::RedisSeatLock>) -> Result<Self, String> {
        use booking_postgres::{PgInventory, catalog::PgCatalog, checkout, limits, tickets};
        let pool = booking_postgres::pool_options().connect(url).await.map_err(|e| format!("PostgreSQL: {e}"))?;
        booking_postgres::migrate(&pool).await.map_err(|e| format!("PostgreSQL migrations: {e}"))?;
        let pg = PgInventory::new(pool.clone());
        let (inventory, backend): (Arc<dyn SeatInventory>, _) = match lock {
            // The lock only sheds contention; the database's fenced
            // compare-and-set stays the judge (docs/design.md).
            Some(lock) => (Arc::new(LockedInventory::new(lock, pg, Duration::from_secs(2))), Backend::RedisPostgres),
            None => (Arc::new(pg), Backend::Postgres),
        };
        Ok(Stores {
            backend,
            inventory,
            catalog: Arc::new(PgCatalog::new(pool.clone())),
            rooms: Arc::new(booking_postgres::admission::PgWaitingRoomStore::new(pool.clone())),
            saga_log: Arc::new(checkout::PgSagaLog::new(pool.clone())),
            outbox: Arc::new(checkout::PgOutbox::new(pool.clone())),
            keys: Arc::new(checkout::PgIdempotencyStore::new(pool.clone())),
            rates: Arc::new(limits::PgRateLimitStore::new(pool.clone())),
            blacklist: Arc::new(limits::PgBlacklist::new(pool.clone())),
            checkins: Arc::new(tickets::PgCheckInStore::new(pool)),
        })
    }

    async fn redis(url: &str, prefix: &str) -> Result<Self, String> {
        use booking_redis::{
            RedisCheckoutStores, RedisIdempotencyStore, RedisInventory, admission::RedisWaitingRoomStore,
            limits::RedisLimits, tickets::RedisCheckInStore,
        };
        let e = |e: booking_core::InventoryError| format!("Redis: {e}");
        let inventory = RedisInventory::builder(url).map_err(e)?.prefix(prefix).build().await.map_err(e)?;
        let checkout = RedisCheckoutStores::builder(url).map_err(e)?.prefix(prefix).build().await.map_err(e)?;
        let keys = RedisIdempotencyStore::builder(url).map_err(e)?.prefix(prefix).build().await.map_err(e)?;
        let limits = RedisLimits::builder(url).map_err(e)?.prefix(prefix).build().await.map_err(e)?;
        let rooms = RedisWaitingRoomStore::builder(url).map_err(e)?.prefix(prefix).build().await.map_err(e)?;
        let checkins = RedisCheckInStore::builder(url).map_err(e)?.prefix(prefix).build().await.map_err(e)?;
        Ok(Stores {
            backend: Backend::Redis,
            inventory: Arc::new(inventory),
            // No Redis catalog: it stays in process (rebuilt by the demo
            // data at each start).
            catalog: Arc::new(booking_memory::MemoryCatalog::new()),
            rooms: Arc::new(rooms),
            saga_log: Arc::new(checkout.saga_log),
            outbox: Arc::new(checkout.outbox),
            keys: Arc::new(keys),
            rates: Arc::new(limits.rates),
            blacklist: Arc::new(limits.blacklist),
            checkins: Arc::new(checkins),
        })
    }
}

fn database_url(config: &Config) -> Result<&str, String> {
    config.database_url.as_deref().ok_or_else(|| format!("the {} backend needs DATABASE_URL", config.backend.name()))
}

fn redis_url(config: &Config) -> Result<&str, String> {
    config.redis_url.as_deref().ok_or_else(|| format!("the {} backend needs REDIS_URL", config.backend.name()))
}
