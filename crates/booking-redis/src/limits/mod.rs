//! Limits' stores on Redis: rate limits ([`RedisRateLimitStore`]) and the
//! blacklist ([`RedisBlacklist`]), built together by [`RedisLimits`].
//!
//! - **Rate limits.** One string per key, its TAT in Unix microseconds,
//!   under the key's own hash tag (`{<prefix>rl:<key>}`), so keys spread
//!   over a Cluster's slots. `lua/rate_acquire.lua` runs booking-core's
//!   [`gcra_step`](booking_core::limits::gcra_step) atomically (EVALSHA);
//!   the divisions are done here, as on every backend. Under the store's
//!   clock a key expires by itself once its burst is full again; under an
//!   injected clock keys keep no TTL and [`purge`] deletes them.
//! - **Blacklist.** One hash of entries (field -> `<added ms>|<reason>`,
//!   or `<added ms>;<expires ms>|<reason>` for an entry that expires), a
//!   sorted set of their fields (for listing in order) and one of the
//!   expiring fields by expiry, on one slot (`{<prefix>blacklist}`). A
//!   check is one script (`lua/blacklist_check.lua`): an `HMGET` of the
//!   identity's candidate fields, keeping those that have not lapsed by
//!   the decision clock; an add forgets up to 100 lapsed entries.
//!
//! Time is [`TimeSource::Store`] (the server's `TIME`, read inside the
//! script) or [`TimeSource::Injected`] (sent as an argument).
//!
//! [`purge`]: booking_core::limits::RateLimitStore::purge

mod blacklist;
mod rate;

pub use blacklist::RedisBlacklist;
pub use rate::RedisRateLimitStore;

use crate::checkout::run;
use crate::client_for;
use crate::codec::Reply;
use crate::conn::{Conn, Target};
use crate::error::in_operation;
use booking_core::limits::{LimitError, micros_from_millis};
use booking_core::{InvalidRequest, InventoryError, TimeSource};
use redis::{IntoConnectionInfo, Script};
use std::time::Duration;

/// Configures and connects a [`RedisLimits`].
#[must_use = "call build() to connect"]
pub struct RedisLimitsBuilder {
    target: Target,
    prefix: String,
    time: TimeSource,
    response_timeout: Duration,
    connection_timeout: Duration,
}

/// Limits' rate-limit store and blacklist on one Redis server or Cluster.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RedisLimits {
    /// The rate-limit store.
    pub rates: RedisRateLimitStore,
    /// The blacklist.
    pub blacklist: RedisBlacklist,
}

impl RedisLimits {
    /// A builder for the server at `url`.
    ///
    /// Errors: `InvalidRequest` for a malformed URL.
    pub fn builder(url: &str) -> booking_core::Result<RedisLimitsBuilder> {
        Ok(Self::builder_to(Target::Server(client_for(url)?)))
    }

    /// A builder for a Redis Cluster with seed `nodes` (as
    /// [`crate::RedisInventory::cluster_builder`]).
    ///
    /// Errors: `InvalidRequest` for a malformed URL, no seed at all, or
    /// seeds that disagree on credentials.
    pub fn cluster_builder<T: IntoConnectionInfo>(
        nodes: impl IntoIterator<Item = T>,
    ) -> booking_core::Result<RedisLimitsBuilder> {
        Ok(Self::builder_to(Target::cluster(nodes)?))
    }

    fn builder_to(target: Target) -> RedisLimitsBuilder {
        RedisLimitsBuilder {
            target,
            prefix: crate::DEFAULT_PREFIX.to_owned(),
            time: TimeSource::Store,
            response_timeout: Duration::from_secs(5),
            connection_timeout: Duration::from_secs(2),
        }
    }
}

impl RedisLimitsBuilder {
    /// Prefixes every key (default [`crate::DEFAULT_PREFIX`]); no braces.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Which clock decides (docs/design.md, I8): the Redis server's `TIME`
    /// ([`TimeSource::Store`], the default) or an injected clock (tests).
    pub fn time_source(mut self, time: TimeSource) -> Self {
        self.time = time;
        self
    }

    /// How long a request waits for Redis (default 5 s).
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// How long connecting may take (default 2 s).
    pub fn connection_timeout(mut self, timeout: Duration) -> Self {
        self.connection_timeout = timeout;
        self
    }

    /// Connects; the two stores share the connection.
    ///
    /// Errors: `InvalidRequest` for a prefix with braces, `Unavailable` when
    /// the server cannot be reached.
    pub async fn build(self) -> booking_core::Result<RedisLimits> {
        self.connect().await.map_err(in_operation("connect"))
    }

    async fn connect(self) -> booking_core::Result<RedisLimits> {
        if self.prefix.contains(['{', '}']) {
            return Err(InvalidRequest::InvalidShow("the key prefix must not contain '{' or '}'".into()).into());
        }
        let conn = self.target.connect(self.response_timeout, self.connection_timeout).await?;
        let blacklist = |name: &str| format!("{{{}blacklist}}:{name}", self.prefix);
        Ok(RedisLimits {
            blacklist: RedisBlacklist::new(
                conn.clone(),
                self.time.clone(),
                blacklist("entries"),
                blacklist("order"),
                blacklist("expiring"),
            ),
            rates: RedisRateLimitStore::new(conn, self.time, self.prefix),
        })
    }
}

/// A store failure in `operation`, as limits' error.
fn failed(operation: &'static str) -> impl Fn(InventoryError) -> LimitError {
    move |e| {
        let cause: Box<dyn std::error::Error + Send + Sync> = match e {
            InventoryError::Backend(c) | InventoryError::Unavailable(c) | InventoryError::OutcomeUnknown(c) => c,
            other => Box::new(other),
        };
        LimitError::Backend(Box::new(crate::error::failure(operation, cause)))
    }
}

/// The time argument of a limits script: `store`, or the injected time in
/// Unix µs.
///
/// Errors: `ClockOutOfRange`.
fn time_arg(time: &TimeSource) -> Result<String, LimitError> {
    Ok(match time.injected_millis() {
        None => "store".to_owned(),
        Some(ms) => micros_from_millis(ms)?.to_string(),
    })
}

/// Runs a limits script.
async fn script(
    conn: &Conn,
    operation: &'static str,
    script: &Script,
    keys: &[&str],
    args: &[&[u8]],
) -> Result<Reply, LimitError> {
    run(conn, script, keys, args).await.map_err(failed(operation))
}
