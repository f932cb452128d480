//! Configuring and connecting a [`RedisInventory`].

use crate::coalesce;
use crate::conn::{Conn, Target};
use crate::durability::{self, SaleDurability};
use crate::error::{Effect, from_redis, in_operation};
use crate::inventory::{Inner, RedisInventory};
use crate::{DEFAULT_COALESCING, DEFAULT_FEED_MAX_LEN, DEFAULT_PREFIX, client_for};
#[allow(unused_imports)] // rustdoc links
use booking_core::SeatInventory;
use booking_core::{Coalescing, InvalidRequest, InventoryError, Result, TimeSource};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, IntoConnectionInfo, Value};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Configures and connects a [`RedisInventory`].
#[must_use = "call build() to connect"]
pub struct RedisInventoryBuilder {
    target: Target,
    prefix: String,
    time: TimeSource,
    feed_max_len: u64,
    feed_block: Duration,
    response_timeout: Duration,
    connection_timeout: Duration,
    coalesce: Option<Coalescing>,
    check_eviction: bool,
    durability: Option<SaleDurability>,
}

impl RedisInventoryBuilder {
    /// Prefixes every key (default [`DEFAULT_PREFIX`]). Distinct prefixes
    /// keep inventories apart on one server. It must not contain `{` or
    /// `}`: the hash tag after it is what keeps a show on one Cluster slot.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Which clock decides expiry (docs/design.md, I8). The default,
    /// [`TimeSource::Store`], is the Redis server's own `TIME`, read inside
    /// each script: every process of a deployment agrees, whatever their
    /// own clocks say. [`TimeSource::Injected`] sends the injected clock's
    /// Unix-ms time with every request instead: for tests, which move a
    /// [`booking_core::ManualClock`] rather than sleep.
    pub fn time_source(mut self, time: TimeSource) -> Self {
        self.time = time;
        self
    }

    /// How many entries each show's change feed keeps, about (default
    /// [`DEFAULT_FEED_MAX_LEN`], at least 1). A subscriber further behind
    /// than this gets `FeedLagged`.
    pub fn feed_max_len(mut self, entries: u64) -> Self {
        self.feed_max_len = entries.max(1);
        self
    }

    /// How long a request waits for Redis to answer before it fails with
    /// `OutcomeUnknown` (writes) or `Unavailable` (reads). Default 5 s.
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// How long connecting may take. Default 2 s.
    pub fn connection_timeout(mut self, timeout: Duration) -> Self {
        self.connection_timeout = timeout;
        self
    }

    /// How long one blocking read of a change-feed subscriber waits before
    /// it asks again. Default 2 s.
    pub fn feed_block(mut self, block: Duration) -> Self {
        self.feed_block = block.max(Duration::from_millis(1));
        self
    }

    /// Combines concurrent seat holds ([`SeatInventory::hold_seats`], and
    /// the holds of [`SeatInventory::hold_best`]) and concurrent releases of
    /// seat holds on the same show into one call of a batch script each
    /// (`lua/hold_batch.lua`, `lua/release_batch.lua`). The batch script
    /// decides its requests in order, exactly as the single scripts would
    /// one after the other, and every caller still gets its own
    /// all-or-nothing answer; a batch that fails on the way gives each
    /// caller the error its own request would have got (`OutcomeUnknown` /
    /// `Unavailable`), and no request is sent twice.
    ///
    /// When a request waits is [`Coalescing`]'s one meaning, shared with
    /// `booking-postgres`: per show and kind (seat holds, seat releases), a
    /// request is sent at once, as the single script, while fewer than
    /// `max_in_flight` calls (single requests or batches) are in flight;
    /// beyond that it waits, and the waiting requests go together as one
    /// batch of at most `max_batch` when a call returns. So a lone request,
    /// or a few concurrent ones, pay nothing. `max_batch` is clamped to
    /// 1..=1000, `max_in_flight` to at least 1.
    ///
    /// On by default, with [`DEFAULT_COALESCING`] (`max_batch` 64,
    /// `max_in_flight` 8): with 50 callers on one show it gave 1.2x-1.3x the
    /// hold+release throughput of the same inventory without it, and 8
    /// callers or fewer go as before, each request as the single script (see
    /// BENCHMARKS.md). The server runs one script at a time, so a smaller
    /// `max_in_flight` makes bigger batches that cost the server less per
    /// request; but a batch of two or three costs it about as much as as
    /// many single scripts, and with 8 callers a smaller `max_in_flight`
    /// made them wait for nothing (1: 0.7x the throughput without
    /// coalescing, 4: 0.8x-0.9x).
    ///
    /// A batch is sent by a task spawned on the tokio runtime of the call
    /// that returned before it, living as long as the batch; a batch whose
    /// runtime stops before Redis answers gives its requests
    /// `OutcomeUnknown`.
    pub fn coalesce(mut self, settings: Coalescing) -> Self {
        self.coalesce = Some(Coalescing {
            max_batch: settings.max_batch.clamp(1, coalesce::MAX_BATCH),
            max_in_flight: settings.max_in_flight.max(1),
        });
        self
    }

    /// Sends every seat hold and release as the single script, one call per
    /// request, however many callers wait (see
    /// [`RedisInventoryBuilder::coalesce`], on by default).
    pub fn without_coalescing(mut self) -> Self {
        self.coalesce = None;
        self
    }

    /// Skips the check that the server (every Cluster master) has
    /// `maxmemory-policy noeviction`, for servers that do not let clients
    /// read their configuration (`CONFIG GET` disabled, as on some managed
    /// services). Only when the operator has made sure the policy is
    /// `noeviction`: under any other policy Redis may evict a show's seats
    /// (sold seats would be sold again) or an owner's index (the per-owner
    /// limit would be reset).
    pub fn assume_noeviction(mut self) -> Self {
        self.check_eviction = false;
        self
    }

    /// Makes `sell` (and [`RedisInventory::restore_sale`]) wait until the
    /// sale reached the show's master's append-only file and/or the given
    /// number of replicas, before answering. Off by default: Redis
    /// acknowledges a script once it ran in memory (see the crate docs,
    /// "Durability", for what each persistence setting then keeps).
    ///
    /// - [`SaleDurability::local_aof`]: `WAITAOF 1 <replicas>`: the sale
    ///   is fsynced to the master's append-only file (and that of the
    ///   replicas asked for). Needs Redis 7.2 or newer with `appendonly
    ///   yes` on every master, checked by [`build`](Self::build)
    ///   ([`StoreError::DurabilityUnsupported`](crate::StoreError::DurabilityUnsupported) otherwise).
    /// - [`SaleDurability::replicas`]: `WAIT <replicas>`: that many
    ///   replicas received the sale (in memory), so a failover to one of
    ///   them keeps it. Any Redis version.
    ///
    /// When the server does not confirm within the timeout, the call fails
    /// with `OutcomeUnknown` carrying [`StoreError::DurabilityNotConfirmed`](crate::StoreError::DurabilityNotConfirmed):
    /// the sale was applied, but may not survive a crash; retrying the
    /// `sell` with the same order is a replay that waits again. Only sales
    /// wait: a lost hold only frees its seats.
    pub fn sale_durability(mut self, durability: SaleDurability) -> Self {
        self.durability = Some(durability);
        self
    }

    /// Connects and checks the server answers (on a Cluster: discovers the
    /// nodes and slots from the seeds, connects to every master and checks
    /// each answers), that it cannot evict keys (`maxmemory-policy
    /// noeviction` on every master, unless
    /// [`assume_noeviction`](Self::assume_noeviction)), and that it
    /// supports the [`sale_durability`](Self::sale_durability) asked for.
    ///
    /// Errors: `InvalidRequest` for a prefix with braces, `Unavailable`
    /// when the server (a Cluster node) cannot be reached, `Backend` with a
    /// [`StoreError`](crate::StoreError) (`EvictionPolicy`, `PolicyUnknown`,
    /// `DurabilityUnsupported`) when a check fails.
    pub async fn build(self) -> Result<RedisInventory> {
        self.connect().await.map_err(in_operation("connect"))
    }

    async fn connect(self) -> Result<RedisInventory> {
        if self.prefix.contains(['{', '}']) {
            return Err(InvalidRequest::InvalidShow("the key prefix must not contain '{' or '}'".into()).into());
        }
        let mut conn = match &self.target {
            Target::Server(client) => {
                let config = ConnectionManagerConfig::new()
                    .set_response_timeout(Some(self.response_timeout))
                    .set_connection_timeout(Some(self.connection_timeout))
                    .set_number_of_retries(3);
                let conn = ConnectionManager::new_with_config(client.clone(), config)
                    .await
                    .map_err(|e| InventoryError::Unavailable(Box::new(e)))?;
                Conn::Managed(conn)
            }
            Target::Cluster(nodes) => {
                let client = Target::cluster_client(nodes, self.response_timeout, self.connection_timeout)?;
                let conn = client.get_async_connection().await.map_err(|e| InventoryError::Unavailable(Box::new(e)))?;
                Conn::Cluster(conn)
            }
        };
        // On a Cluster, PING goes to every node and succeeds only if all answer.
        let _: Value = redis::cmd("PING").query_async(&mut conn).await.map_err(|e| from_redis(e, Effect::Read))?;
        let server = self.target.addrs().join(",");
        if self.check_eviction {
            durability::check_eviction(&mut conn, &server).await?;
        }
        if let Some(d) = &self.durability {
            durability::check_durability(&mut conn, &server, d).await?;
        }
        let lanes = self.coalesce.map(|settings| {
            let config = coalesce::Config {
                feed_max_len: self.feed_max_len,
                keep_owner_index: matches!(self.time, TimeSource::Injected(_)),
            };
            coalesce::Coalescer::new(conn.clone(), config, settings)
        });
        Ok(RedisInventory {
            inner: Arc::new(Inner {
                conn,
                target: self.target,
                prefix: self.prefix,
                time: self.time,
                feed_max_len: self.feed_max_len,
                feed_block: self.feed_block,
                response_timeout: self.response_timeout,
                shows: RwLock::new(HashMap::new()),
                lanes,
                durability: self.durability.filter(SaleDurability::waits),
            }),
        })
    }
}

impl RedisInventory {
    /// A builder for the server at `url` (`redis://host:port/db`), with
    /// `TCP_NODELAY` on.
    ///
    /// Errors: `InvalidRequest` for a malformed URL.
    pub fn builder(url: &str) -> Result<RedisInventoryBuilder> {
        let client = client_for(url)?;
        Ok(Self::builder_for(client))
    }

    /// A builder for an existing client.
    pub fn builder_for(client: Client) -> RedisInventoryBuilder {
        Self::builder_to(Target::Server(client))
    }

    /// A builder for a Redis Cluster, discovered from `nodes` (seed node
    /// URLs, `redis://host:port`, or anything else
    /// `redis::IntoConnectionInfo` accepts, as for
    /// `redis::cluster::ClusterClient::new`; one reachable seed is enough,
    /// the client learns the other nodes and the slot map from it), with
    /// `TCP_NODELAY` on.
    ///
    /// Each operation goes to the master that owns the show's slot; shows
    /// spread over the masters by their id. A request whose connection
    /// broke or timed out after it was sent is never sent again: it gives
    /// `OutcomeUnknown`, as on one server. Answers proving a request did not
    /// run (`MOVED`, `ASK`, `TRYAGAIN`, `CLUSTERDOWN`) are sent again a few
    /// times over about 150 ms (on `MOVED` the client refreshes its slot
    /// map, so a show moved by a resharding keeps working), then give
    /// `Unavailable`. See the crate docs, "Redis Cluster".
    ///
    /// ```rust,no_run
    /// # async fn demo() -> booking_core::Result<()> {
    /// use booking_redis::RedisInventory;
    ///
    /// let inventory = RedisInventory::cluster_builder(["redis://10.0.0.1:7000", "redis://10.0.0.2:7000"])?
    ///     .prefix("tickets:")
    ///     .build()
    ///     .await?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// Errors: `InvalidRequest` for a malformed URL, no seed at all, or
    /// seeds that disagree on credentials.
    pub fn cluster_builder<T: IntoConnectionInfo>(nodes: impl IntoIterator<Item = T>) -> Result<RedisInventoryBuilder> {
        Ok(Self::builder_to(Target::cluster(nodes)?))
    }

    /// Connects to the Redis Cluster with seed `nodes` with the defaults
    /// (see [`RedisInventory::cluster_builder`]).
    pub async fn connect_cluster<T: IntoConnectionInfo>(nodes: impl IntoIterator<Item = T>) -> Result<Self> {
        Self::cluster_builder(nodes)?.build().await
    }

    pub(crate) fn builder_to(target: Target) -> RedisInventoryBuilder {
        RedisInventoryBuilder {
            target,
            prefix: DEFAULT_PREFIX.to_owned(),
            time: TimeSource::Store,
            feed_max_len: DEFAULT_FEED_MAX_LEN,
            feed_block: Duration::from_secs(2),
            response_timeout: Duration::from_secs(5),
            connection_timeout: Duration::from_secs(2),
            coalesce: Some(DEFAULT_COALESCING),
            check_eviction: true,
            durability: None,
        }
    }

    /// Connects to `url` with the defaults: prefix [`DEFAULT_PREFIX`], the
    /// server's clock ([`TimeSource::Store`]).
    pub async fn connect(url: &str) -> Result<Self> {
        Self::builder(url)?.build().await
    }
}
