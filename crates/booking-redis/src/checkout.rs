//! Checkout's saga log and outbox on Redis (`booking_core::checkout`).
//!
//! Each store lives under one hash tag (`{<prefix>saga}`,
//! `{<prefix>outbox}`): a compare-and-set of an order, a claim of the
//! unfinished orders, an enqueue or a claim of messages is one Lua script,
//! atomic, on one slot. On a Redis Cluster each store is therefore served
//! by one master; checkouts are bounded by the payment provider's latency
//! long before one master's throughput, and sharding them would cost the
//! atomic claims.
//!
//! - **Saga log.** `orders` maps an order id to `<version>|<json>`; `update`
//!   replaces it only when the stored version is the one before (so two
//!   executors of one saga never both record a step). `ids` (ids in order,
//!   for `list`), `buyer:<id>` (a buyer's orders by creation time) and
//!   `due` (unfinished orders by the time they may be claimed: their retry
//!   time or the end of the last claim, whichever is later) are kept by the
//!   same scripts; `claims` holds each claim's end. A claim takes the due
//!   orders at once, so two workers get disjoint sets.
//! - **Outbox.** `state` holds each message's enqueue number, attempts and
//!   whether it was delivered; `bodies` its topic and payload; `pending`
//!   the undelivered messages by the time they may be claimed (enqueue
//!   order among equals). A delivered id stays known, so enqueuing it again
//!   changes nothing.
//!
//! Claims expire by the [`TimeSource`]: the Redis server's `TIME`, or an
//! injected clock (tests).

use crate::coalesce::time_arg;
use crate::codec::{Reply, bad, bytes, int};
use crate::conn::{Conn, Target};
use crate::error::{Effect, failure, from_redis, in_operation};
use crate::keys::hex;
use crate::{client_for, scripts};
use async_trait::async_trait;
use booking_core::checkout::{Order, Outbox, OutboxMessage, SagaLog, StoreError, WorkerId};
use booking_core::{InvalidRequest, InventoryError, OrderId, OwnerId, TimeSource};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{IntoConnectionInfo, Script, Value};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Configures and connects a [`RedisCheckoutStores`].
#[must_use = "call build() to connect"]
pub struct RedisCheckoutStoresBuilder {
    target: Target,
    prefix: String,
    time: TimeSource,
    response_timeout: Duration,
    connection_timeout: Duration,
}

/// Checkout's saga log and outbox on one Redis server or Cluster.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RedisCheckoutStores {
    /// The saga log.
    pub saga_log: RedisSagaLog,
    /// The outbox.
    pub outbox: RedisOutbox,
}

impl RedisCheckoutStores {
    /// A builder for the server at `url`.
    ///
    /// Errors: `InvalidRequest` for a malformed URL.
    pub fn builder(url: &str) -> booking_core::Result<RedisCheckoutStoresBuilder> {
        Ok(Self::builder_to(Target::Server(client_for(url)?)))
    }

    /// A builder for a Redis Cluster with seed `nodes` (as
    /// [`crate::RedisInventory::cluster_builder`]).
    ///
    /// Errors: `InvalidRequest` for a malformed URL, no seed at all, or
    /// seeds that disagree on credentials.
    pub fn cluster_builder<T: IntoConnectionInfo>(
        nodes: impl IntoIterator<Item = T>,
    ) -> booking_core::Result<RedisCheckoutStoresBuilder> {
        Ok(Self::builder_to(Target::cluster(nodes)?))
    }

    fn builder_to(target: Target) -> RedisCheckoutStoresBuilder {
        RedisCheckoutStoresBuilder {
            target,
            prefix: crate::DEFAULT_PREFIX.to_owned(),
            time: TimeSource::Store,
            response_timeout: Duration::from_secs(5),
            connection_timeout: Duration::from_secs(2),
        }
    }
}

impl RedisCheckoutStoresBuilder {
    /// Prefixes every key (default [`crate::DEFAULT_PREFIX`]); no braces.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Which clock decides when claims end and retries are due
    /// (docs/design.md, I8): the Redis server's `TIME`
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
    pub async fn build(self) -> booking_core::Result<RedisCheckoutStores> {
        self.connect().await.map_err(in_operation("connect"))
    }

    async fn connect(self) -> booking_core::Result<RedisCheckoutStores> {
        if self.prefix.contains(['{', '}']) {
            return Err(InvalidRequest::InvalidShow("the key prefix must not contain '{' or '}'".into()).into());
        }
        let conn = match &self.target {
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
                Conn::Cluster(
                    client.get_async_connection().await.map_err(|e| InventoryError::Unavailable(Box::new(e)))?,
                )
            }
        };
        let saga = |name: &str| format!("{{{}saga}}:{name}", self.prefix);
        let outbox = |name: &str| format!("{{{}outbox}}:{name}", self.prefix);
        Ok(RedisCheckoutStores {
            saga_log: RedisSagaLog {
                conn: conn.clone(),
                time: self.time.clone(),
                orders: saga("orders"),
                ids: saga("ids"),
                due: saga("due"),
                claims: saga("claims"),
                buyer_base: saga("buyer:"),
            },
            outbox: RedisOutbox {
                conn,
                time: self.time,
                state: outbox("state"),
                bodies: outbox("bodies"),
                pending: outbox("pending"),
                seq: outbox("seq"),
            },
        })
    }
}

/// Orders and their sagas on Redis (see the module docs).
#[derive(Clone)]
pub struct RedisSagaLog {
    conn: Conn,
    time: TimeSource,
    orders: String,
    ids: String,
    due: String,
    claims: String,
    buyer_base: String,
}

impl std::fmt::Debug for RedisSagaLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSagaLog").field("orders", &self.orders).field("time", &self.time).finish_non_exhaustive()
    }
}

/// Messages waiting for delivery on Redis (see the module docs).
#[derive(Clone)]
pub struct RedisOutbox {
    conn: Conn,
    time: TimeSource,
    state: String,
    bodies: String,
    pending: String,
    seq: String,
}

impl std::fmt::Debug for RedisOutbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisOutbox").field("state", &self.state).field("time", &self.time).finish_non_exhaustive()
    }
}

/// A failure of the store in `operation`, as checkout's error.
fn failed(operation: &'static str) -> impl Fn(InventoryError) -> StoreError {
    move |e| {
        let cause: Box<dyn std::error::Error + Send + Sync> = match e {
            InventoryError::Backend(c) | InventoryError::Unavailable(c) | InventoryError::OutcomeUnknown(c) => c,
            other => Box::new(other),
        };
        StoreError::Backend(Box::new(failure(operation, cause)))
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Runs `script` with `keys` and `args` (EVALSHA, loading it on NOSCRIPT).
pub(crate) async fn run(conn: &Conn, script: &Script, keys: &[&str], args: &[&[u8]]) -> Result<Reply, InventoryError> {
    let mut inv = script.prepare_invoke();
    for k in keys {
        inv.key(*k);
    }
    for a in args {
        inv.arg(*a);
    }
    let v: Value = inv.invoke_async(&mut conn.clone()).await.map_err(|e| from_redis(e, Effect::Write))?;
    Reply::new(v)
}

/// An order as stored: `<version>|<json>`.
fn encode_order(order: &Order) -> Result<String, InventoryError> {
    let json = serde_json::to_string(order).map_err(|e| bad(format!("order: {e}")))?;
    Ok(format!("{}|{json}", order.version))
}

fn decode_order(raw: &[u8]) -> Result<Order, InventoryError> {
    let text = std::str::from_utf8(raw).map_err(|_| bad("order record"))?;
    let (_, json) = text.split_once('|').ok_or_else(|| bad("order record"))?;
    serde_json::from_str(json).map_err(|e| bad(format!("order record: {e}")))
}

fn order_fields(order: &Order) -> (&'static str, String) {
    let fin = if order.status.is_final() { "1" } else { "0" };
    let retry = order.retry_at.map_or(0, |t| t.timestamp_millis().max(0));
    (fin, retry.to_string())
}

impl RedisSagaLog {
    fn buyer_key(&self, buyer: OwnerId) -> String {
        format!("{}{}", self.buyer_base, hex(buyer.as_u128()))
    }

    async fn orders(&self, ids: &[Vec<u8>]) -> Result<Vec<Order>, InventoryError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.conn.clone();
        let raws: Vec<Option<Vec<u8>>> = redis::cmd("HMGET")
            .arg(&self.orders)
            .arg(ids)
            .query_async(&mut conn)
            .await
            .map_err(|e| from_redis(e, Effect::Read))?;
        raws.into_iter().map(|r| decode_order(&r.ok_or_else(|| bad("an indexed order is missing"))?)).collect()
    }

    async fn create_order(&self, order: &Order) -> Result<Order, InventoryError> {
        let first = Order { version: 1, ..order.clone() };
        let (id, raw) = (hex(order.id.as_u128()), encode_order(&first)?);
        let created = order.created_at.timestamp_millis().to_string();
        let (fin, retry) = order_fields(order);
        let buyer = self.buyer_key(order.buyer);
        let keys = [&*self.orders, &self.ids, &buyer, &self.due];
        let args: [&[u8]; 5] = [id.as_bytes(), raw.as_bytes(), created.as_bytes(), fin.as_bytes(), retry.as_bytes()];
        let r = run(&self.conn, &scripts::LOADED.SAGA_CREATE, &keys, &args).await?;
        match r.status() {
            b"CREATED" => Ok(first),
            b"EXISTS" => decode_order(r.bytes(1)?),
            other => Err(bad(format!("saga create answered {}", String::from_utf8_lossy(other)))),
        }
    }

    async fn update_order(&self, order: &Order) -> Result<Result<(), StoreError>, InventoryError> {
        let Some(expected) = order.version.checked_sub(1) else { return Ok(Err(StoreError::Conflict)) };
        let (id, raw, expected) = (hex(order.id.as_u128()), encode_order(order)?, expected.to_string());
        let (fin, retry) = order_fields(order);
        let keys = [&*self.orders, &self.due, &self.claims];
        let args: [&[u8]; 5] = [id.as_bytes(), expected.as_bytes(), raw.as_bytes(), fin.as_bytes(), retry.as_bytes()];
        let r = run(&self.conn, &scripts::LOADED.SAGA_UPDATE, &keys, &args).await?;
        match r.status() {
            b"OK" => Ok(Ok(())),
            b"NOT_FOUND" => Ok(Err(StoreError::NotFound)),
            b"CONFLICT" => Ok(Err(StoreError::Conflict)),
            other => Err(bad(format!("saga update answered {}", String::from_utf8_lossy(other)))),
        }
    }

    async fn claim(&self, lease: Duration, limit: usize) -> Result<Vec<Order>, InventoryError> {
        let (now, lease, limit) = (time_arg(self.time.injected_millis()), millis(lease).to_string(), limit.to_string());
        let keys = [&*self.orders, &self.due, &self.claims];
        let args: [&[u8]; 3] = [now.as_bytes(), lease.as_bytes(), limit.as_bytes()];
        let r = run(&self.conn, &scripts::LOADED.SAGA_CLAIM, &keys, &args).await?;
        r.list(1)?.iter().map(|v| decode_order(bytes(v).ok_or_else(|| bad("claimed order"))?)).collect()
    }

    async fn range(&self, after: Option<OrderId>, limit: usize) -> Result<Vec<Order>, InventoryError> {
        let after = after.map(|a| hex(a.as_u128()));
        let ids =
            self.conn.lex_page(&self.ids, after.as_deref(), limit).await.map_err(|e| from_redis(e, Effect::Read))?;
        self.orders(&ids).await
    }
}

#[async_trait]
impl SagaLog for RedisSagaLog {
    async fn create(&self, order: &Order) -> Result<Order, StoreError> {
        self.create_order(order).await.map_err(failed("create"))
    }

    async fn get(&self, id: OrderId) -> Result<Option<Order>, StoreError> {
        let mut conn = self.conn.clone();
        let raw: Option<Vec<u8>> = redis::cmd("HGET")
            .arg(&self.orders)
            .arg(hex(id.as_u128()))
            .query_async(&mut conn)
            .await
            .map_err(|e| failed("get")(from_redis(e, Effect::Read)))?;
        raw.map(|r| decode_order(&r)).transpose().map_err(failed("get"))
    }

    async fn update(&self, order: &Order) -> Result<(), StoreError> {
        self.update_order(order).await.map_err(failed("update"))?
    }

    async fn by_buyer(&self, buyer: OwnerId) -> Result<Vec<Order>, StoreError> {
        let mut conn = self.conn.clone();
        let ids: Vec<Vec<u8>> = redis::cmd("ZRANGE")
            .arg(self.buyer_key(buyer))
            .arg(0)
            .arg(-1)
            .query_async(&mut conn)
            .await
            .map_err(|e| failed("by_buyer")(from_redis(e, Effect::Read)))?;
        self.orders(&ids).await.map_err(failed("by_buyer"))
    }

    async fn claim_unfinished(
        &self,
        _worker: WorkerId,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Order>, StoreError> {
        self.claim(lease, limit).await.map_err(failed("claim_unfinished"))
    }

    async fn list(&self, after: Option<OrderId>, limit: usize) -> Result<Vec<Order>, StoreError> {
        self.range(after, limit).await.map_err(failed("list"))
    }
}

/// What the outbox keeps of a message besides its id and counts.
#[derive(Serialize, Deserialize)]
struct Body {
    topic: String,
    payload: String,
}

impl RedisOutbox {
    async fn enqueue_message(&self, msg: &OutboxMessage) -> Result<(), InventoryError> {
        let body = serde_json::to_string(&Body { topic: msg.topic.clone(), payload: msg.payload.clone() })
            .map_err(|e| bad(format!("outbox message: {e}")))?;
        let keys = [&*self.state, &self.bodies, &self.pending, &self.seq];
        run(&self.conn, &scripts::LOADED.OUTBOX_ENQUEUE, &keys, &[msg.id.as_bytes(), body.as_bytes()]).await?;
        Ok(())
    }

    async fn claim_messages(&self, lease: Duration, limit: usize) -> Result<Vec<OutboxMessage>, InventoryError> {
        let (now, lease, limit) = (time_arg(self.time.injected_millis()), millis(lease).to_string(), limit.to_string());
        let keys = [&*self.state, &self.bodies, &self.pending];
        let args: [&[u8]; 3] = [now.as_bytes(), lease.as_bytes(), limit.as_bytes()];
        let r = run(&self.conn, &scripts::LOADED.OUTBOX_CLAIM, &keys, &args).await?;
        let mut out = Vec::new();
        for m in r.list(1)?.chunks(3) {
            let [id, attempts, body] = m else { return Err(bad("claimed message")) };
            let id = bytes(id).and_then(|b| String::from_utf8(b.to_vec()).ok()).ok_or_else(|| bad("message id"))?;
            let attempts = int(attempts).and_then(|n| u32::try_from(n).ok()).ok_or_else(|| bad("attempts"))?;
            let body: Body = serde_json::from_slice(bytes(body).ok_or_else(|| bad("message body"))?)
                .map_err(|e| bad(format!("message body: {e}")))?;
            out.push(OutboxMessage { id, topic: body.topic, payload: body.payload, attempts });
        }
        Ok(out)
    }

    async fn ack_message(&self, id: &str) -> Result<Result<(), StoreError>, InventoryError> {
        let r = run(&self.conn, &scripts::LOADED.OUTBOX_ACK, &[&self.state, &self.pending], &[id.as_bytes()]).await?;
        match r.status() {
            b"OK" => Ok(Ok(())),
            b"NOT_FOUND" => Ok(Err(StoreError::NotFound)),
            other => Err(bad(format!("outbox ack answered {}", String::from_utf8_lossy(other)))),
        }
    }
}

#[async_trait]
impl Outbox for RedisOutbox {
    async fn enqueue(&self, msg: &OutboxMessage) -> Result<(), StoreError> {
        self.enqueue_message(msg).await.map_err(failed("enqueue"))
    }

    async fn claim(&self, _worker: WorkerId, lease: Duration, limit: usize) -> Result<Vec<OutboxMessage>, StoreError> {
        self.claim_messages(lease, limit).await.map_err(failed("claim"))
    }

    async fn ack(&self, id: &str) -> Result<(), StoreError> {
        self.ack_message(id).await.map_err(failed("ack"))?
    }

    async fn pending(&self) -> Result<usize, StoreError> {
        let mut conn = self.conn.clone();
        let n: usize = redis::cmd("ZCARD")
            .arg(&self.pending)
            .query_async(&mut conn)
            .await
            .map_err(|e| failed("pending")(from_redis(e, Effect::Read)))?;
        Ok(n)
    }
}
