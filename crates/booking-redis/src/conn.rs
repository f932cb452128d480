//! Where the library connects: one Redis server, or a Redis Cluster.
//!
//! Every command and script goes through `redis::aio::ConnectionLike`, so
//! the code that builds them is written once. On a Cluster,
//! `redis::cluster_async::ClusterConnection` routes each command by the
//! slot of its keys: `EVALSHA` (and the `SCRIPT LOAD` after a `NOSCRIPT`
//! answer, which it sends to every master) by `KEYS[1]`, `HGET` and
//! `XREVRANGE` by their key, `XREAD` by the stream named after `STREAMS`.
//! Since every key of a show carries the show's hash tag, all of a show's
//! traffic goes to the one master that owns its slot.
//!
//! The Cluster client is built with `retries(0)`: redis-rs would otherwise
//! send a request again after its connection broke or timed out, and a
//! script that ran once must not run twice (a replayed hold would answer
//! `SeatsTaken` about its own seats). Such a request is reported as
//! `OutcomeUnknown`, as on one server. Only answers that prove the request
//! did not run are retried here: `MOVED` (the client refreshes its slot map
//! on it), `ASK`, `TRYAGAIN`, `CLUSTERDOWN`, and no connection to the node.

use booking_core::{InvalidRequest, InventoryError, Result};
use redis::aio::{ConnectionLike, ConnectionManager, MultiplexedConnection};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{MultipleNodeRoutingInfo, Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::io::tcp::TcpSettings;
use redis::{
    Client, Cmd, ConnectionInfo, ErrorKind, IntoConnectionInfo, Pipeline, RedisError, RedisFuture, ServerErrorKind,
    Value,
};
use std::fmt;
use std::time::Duration;

/// What a builder connects to.
#[derive(Clone)]
pub(crate) enum Target {
    /// One server (a standalone Redis, or a single shard).
    Server(Client),
    /// A Cluster, discovered from these seed nodes.
    Cluster(Vec<ConnectionInfo>),
}

impl Target {
    /// A Cluster target from seed node URLs, with `TCP_NODELAY` on.
    ///
    /// Errors: `InvalidRequest` for a malformed URL, an empty list, or
    /// seeds that disagree (on credentials or database, say).
    pub(crate) fn cluster<T: IntoConnectionInfo>(nodes: impl IntoIterator<Item = T>) -> Result<Self> {
        let nodes = nodes
            .into_iter()
            .map(|n| n.into_connection_info().map(|info| info.set_tcp_settings(nodelay())))
            .collect::<redis::RedisResult<Vec<_>>>()
            .map_err(bad_config)?;
        // Checks the seeds the way the Cluster client will (none, or
        // conflicting credentials, is an error) without connecting.
        ClusterClient::builder(nodes.clone()).build().map_err(bad_config)?;
        Ok(Target::Cluster(nodes))
    }

    /// The addresses of the server or the Cluster's seed nodes, for `Debug`.
    pub(crate) fn addrs(&self) -> Vec<String> {
        match self {
            Target::Server(c) => vec![c.get_connection_info().addr().to_string()],
            Target::Cluster(nodes) => nodes.iter().map(|n| n.addr().to_string()).collect(),
        }
    }

    /// Connects: an auto-reconnecting connection to the server, or a
    /// Cluster connection (discovering the nodes from the seeds).
    ///
    /// Errors: `Unavailable` when no server can be reached.
    pub(crate) async fn connect(&self, response_timeout: Duration, connection_timeout: Duration) -> Result<Conn> {
        let unavailable = |e: redis::RedisError| InventoryError::Unavailable(Box::new(e));
        Ok(match self {
            Target::Server(client) => {
                let config = redis::aio::ConnectionManagerConfig::new()
                    .set_response_timeout(Some(response_timeout))
                    .set_connection_timeout(Some(connection_timeout))
                    .set_number_of_retries(3);
                Conn::Managed(ConnectionManager::new_with_config(client.clone(), config).await.map_err(unavailable)?)
            }
            Target::Cluster(nodes) => {
                let client = Target::cluster_client(nodes, response_timeout, connection_timeout)?;
                Conn::Cluster(client.get_async_connection().await.map_err(unavailable)?)
            }
        })
    }

    /// A Cluster client that never sends a request twice (`retries(0)`),
    /// with `timeout` bounding each request.
    pub(crate) fn cluster_client(
        nodes: &[ConnectionInfo],
        timeout: Duration,
        connection_timeout: Duration,
    ) -> Result<ClusterClient> {
        // No retries inside redis-rs: see the module docs.
        ClusterClientBuilder::new(nodes.to_vec())
            .retries(0)
            .connection_timeout(connection_timeout)
            .response_timeout(timeout)
            .overall_response_timeout(Some(timeout))
            .tcp_settings(nodelay())
            .build()
            .map_err(bad_config)
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Server(_) => f.debug_tuple("Server").field(&self.addrs()).finish(),
            Target::Cluster(_) => f.debug_tuple("Cluster").field(&self.addrs()).finish(),
        }
    }
}

/// Requests are small and latency-bound, and a multiplexed connection
/// writes many of them back to back.
pub(crate) fn nodelay() -> TcpSettings {
    TcpSettings::default().set_nodelay(true)
}

fn bad_config(e: redis::RedisError) -> InventoryError {
    InventoryError::InvalidRequest(InvalidRequest::InvalidShow(e.to_string()))
}

/// A connection to one server or to a Cluster; cheap to clone (clones
/// share the underlying connections).
#[derive(Clone)]
pub(crate) enum Conn {
    /// The shared, auto-reconnecting connection to one server.
    Managed(ConnectionManager),
    /// A connection of its own to one server (a feed subscriber's).
    Dedicated(MultiplexedConnection),
    /// A Cluster connection: one multiplexed connection per node, commands
    /// routed by key slot.
    Cluster(ClusterConnection),
}

/// How many times a Cluster request that certainly did not run is sent
/// again, and the pause before the first resend (doubled each time: 10,
/// 20, 40, 80 ms). Long enough for the client to refresh its slot map after
/// `MOVED`, or for a slot migration of a show's few keys to finish; a
/// failover takes longer, and its requests fail with `Unavailable`.
const RESENDS: u32 = 4;
const FIRST_PAUSE: Duration = Duration::from_millis(10);

/// Whether a Cluster answer proves the request was not run.
fn not_run(e: &RedisError) -> bool {
    matches!(
        e.kind(),
        ErrorKind::Server(
            ServerErrorKind::Moved | ServerErrorKind::Ask | ServerErrorKind::TryAgain | ServerErrorKind::ClusterDown
        ) | ErrorKind::ClusterConnectionNotFound
    )
}

impl Conn {
    /// Sends `cmd` to the server, or to every master of a Cluster, and
    /// returns each node's address (`server` names the one server) with
    /// its answer, or the error the node answered.
    pub(crate) async fn on_every_master(
        &mut self,
        cmd: &Cmd,
        server: &str,
    ) -> redis::RedisResult<Vec<(String, Result<Value, String>)>> {
        match self {
            Conn::Cluster(c) => {
                let routing = RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, None));
                let answers = match c.route_command(cmd.clone(), routing).await? {
                    Value::Map(answers) => answers,
                    other => vec![(Value::BulkString(b"cluster".to_vec()), other)],
                };
                Ok(answers
                    .into_iter()
                    .map(|(addr, v)| {
                        let addr = match addr {
                            Value::BulkString(b) => String::from_utf8_lossy(&b).into_owned(),
                            other => format!("{other:?}"),
                        };
                        let v = match v {
                            Value::ServerError(e) => Err(redis::RedisError::from(e).to_string()),
                            v => Ok(v),
                        };
                        (addr, v)
                    })
                    .collect())
            }
            _ => match cmd.query_async::<Value>(self).await {
                Ok(v) => Ok(vec![(server.to_owned(), Ok(v))]),
                Err(e) if matches!(e.kind(), ErrorKind::Server(_)) => Ok(vec![(server.to_owned(), Err(e.to_string()))]),
                Err(e) => Err(e),
            },
        }
    }

    /// Sends a command without keys to the master that serves `slot` (on
    /// one server: to the server).
    pub(crate) async fn on_slot(&mut self, cmd: Cmd, slot: u16) -> redis::RedisResult<Value> {
        match self {
            Conn::Cluster(c) => {
                let route = Route::new(slot, SlotAddr::Master);
                c.route_command(cmd, RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(route))).await
            }
            _ => cmd.query_async(self).await,
        }
    }
}

impl Conn {
    /// Up to `limit` members of the sorted set `key` (every score 0) in
    /// lexicographic order, after `after` (from the start when `None`): a
    /// page of `ZRANGEBYLEX`.
    pub(crate) async fn lex_page(
        &self,
        key: &str,
        after: Option<&str>,
        limit: usize,
    ) -> redis::RedisResult<Vec<Vec<u8>>> {
        let from = after.map_or_else(|| "-".to_owned(), |a| format!("({a}"));
        redis::cmd("ZRANGEBYLEX")
            .arg(key)
            .arg(from)
            .arg("+")
            .arg("LIMIT")
            .arg(0)
            .arg(limit)
            .query_async(&mut self.clone())
            .await
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Managed(c) => c.req_packed_command(cmd),
            Conn::Dedicated(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => Box::pin(async move {
                let mut pause = FIRST_PAUSE;
                for _ in 0..RESENDS {
                    match c.req_packed_command(cmd).await {
                        Err(e) if not_run(&e) => {
                            tokio::time::sleep(pause).await;
                            pause *= 2;
                        }
                        done => return done,
                    }
                }
                c.req_packed_command(cmd).await
            }),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Managed(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Dedicated(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Managed(c) => c.get_db(),
            Conn::Dedicated(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}
