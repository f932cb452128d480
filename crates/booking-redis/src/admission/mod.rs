//! Waiting rooms on Redis ([`RedisWaitingRoomStore`]): every key of a room
//! carries the room's hash tag (`{wr:<room>}`), so a room lives on one
//! Cluster slot and every step is one Lua script there: a join (one place
//! per session), the draw, a wave (rate, cap and credits checked and
//! spent together), a leave or revocation.
//!
//! The queue is a sorted set by place key (drawn rank, then late arrivals
//! above 2^40, exact in a score), so a position is one `ZRANK`; active
//! sessions, the last minute's admissions and the revoked tokens are
//! sorted sets by time, trimmed as they are read. Durability is the
//! server's: under `appendfsync everysec` a crash may lose the last
//! second of joins and admissions (a visitor joins again and keeps its
//! session; an admission lost is re-admitted by a later wave).

mod scripts;

use crate::client_for;
use crate::coalesce::time_arg;
use crate::codec::{Reply, bytes, int};
use crate::conn::{Conn, Target};
use crate::error::{Effect, from_redis};
use crate::keys::{hex, parse_hex};
use async_trait::async_trait;
use booking_core::admission::{
    Admission, AdmissionError, AdmissionResult, DrawRecord, Join, Joined, LateOrder, Mode, RANDOM_KEY_BOUND,
    Revocations, RoomConfig, RoomId, RoomState, Seed, SessionId, Visitor, VisitorId, VisitorState, WaitingRoomStore,
};
use booking_core::clock::millis_to_datetime;
use booking_core::{InventoryError, TimeSource};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{IntoConnectionInfo, Script, Value};
use std::fmt;
use std::time::Duration;
use uuid::Uuid;

pub use scripts::ALL as SCRIPTS;

/// The names of one room's keys, in the order the scripts take them.
///
/// Every key is `<prefix>{wr:<room id as 32 hex digits>}:<name>`; Redis
/// Cluster hashes only the part between the braces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomKeys(pub [String; 10]);

impl RoomKeys {
    /// The keys of `room` under `prefix`: room, sessions, visitors, pre,
    /// queue, active, window, revoked, arrivals, order.
    pub fn new(prefix: &str, room: RoomId) -> Self {
        let base = format!("{prefix}{{wr:{}}}:", hex(room.as_uuid().as_u128()));
        let k = |n: &str| format!("{base}{n}");
        RoomKeys([
            k("room"),
            k("sessions"),
            k("visitors"),
            k("pre"),
            k("queue"),
            k("active"),
            k("window"),
            k("revoked"),
            k("arrivals"),
            k("order"),
        ])
    }
}

/// Waiting rooms on a Redis server or a Redis Cluster. Cheap to clone.
#[derive(Clone)]
pub struct RedisWaitingRoomStore {
    conn: Conn,
    prefix: String,
    time: TimeSource,
}

impl fmt::Debug for RedisWaitingRoomStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisWaitingRoomStore")
            .field("prefix", &self.prefix)
            .field("time", &self.time)
            .finish_non_exhaustive()
    }
}

/// Configures and connects a [`RedisWaitingRoomStore`].
#[must_use = "call build() to connect"]
pub struct RedisWaitingRoomStoreBuilder {
    target: Target,
    prefix: String,
    time: TimeSource,
    response_timeout: Duration,
    connection_timeout: Duration,
}

impl RedisWaitingRoomStoreBuilder {
    /// Prefixes every key (default [`crate::DEFAULT_PREFIX`]); no braces.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Which clock decides arrivals, rates and session ends: the Redis
    /// server's `TIME` ([`TimeSource::Store`], the default), or an injected
    /// clock whose time is sent with each request (tests).
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

    /// Connects (on a Cluster: discovers the nodes from the seeds).
    ///
    /// Errors: `InvalidRequest` for a prefix with braces, `Unavailable` when
    /// the server cannot be reached.
    pub async fn build(self) -> booking_core::Result<RedisWaitingRoomStore> {
        if self.prefix.contains(['{', '}']) {
            return Err(
                booking_core::InvalidRequest::InvalidShow("the key prefix must not contain '{' or '}'".into()).into()
            );
        }
        let unavailable = |e: redis::RedisError| InventoryError::Unavailable(Box::new(e));
        let conn = match &self.target {
            Target::Server(client) => {
                let config = ConnectionManagerConfig::new()
                    .set_response_timeout(Some(self.response_timeout))
                    .set_connection_timeout(Some(self.connection_timeout))
                    .set_number_of_retries(3);
                Conn::Managed(ConnectionManager::new_with_config(client.clone(), config).await.map_err(unavailable)?)
            }
            Target::Cluster(nodes) => {
                let client = Target::cluster_client(nodes, self.response_timeout, self.connection_timeout)?;
                Conn::Cluster(client.get_async_connection().await.map_err(unavailable)?)
            }
        };
        Ok(RedisWaitingRoomStore { conn, prefix: self.prefix, time: self.time })
    }
}

impl RedisWaitingRoomStore {
    /// A builder for the server at `url`.
    ///
    /// Errors: `InvalidRequest` for a malformed URL.
    pub fn builder(url: &str) -> booking_core::Result<RedisWaitingRoomStoreBuilder> {
        Ok(Self::builder_to(Target::Server(client_for(url)?)))
    }

    /// A builder for a Redis Cluster with seed `nodes`.
    ///
    /// Errors: `InvalidRequest` for a malformed URL, no seed at all, or
    /// seeds that disagree on credentials.
    pub fn cluster_builder<T: IntoConnectionInfo>(
        nodes: impl IntoIterator<Item = T>,
    ) -> booking_core::Result<RedisWaitingRoomStoreBuilder> {
        Ok(Self::builder_to(Target::cluster(nodes)?))
    }

    /// The store at `url` with the defaults.
    pub async fn connect(url: &str) -> booking_core::Result<Self> {
        Self::builder(url)?.build().await
    }

    fn builder_to(target: Target) -> RedisWaitingRoomStoreBuilder {
        RedisWaitingRoomStoreBuilder {
            target,
            prefix: crate::DEFAULT_PREFIX.to_owned(),
            time: TimeSource::Store,
            response_timeout: Duration::from_secs(5),
            connection_timeout: Duration::from_secs(2),
        }
    }

    /// The keys of `room`.
    pub fn keys(&self, room: RoomId) -> RoomKeys {
        RoomKeys::new(&self.prefix, room)
    }

    /// Runs `script` on `room`'s keys with the decision time first, then
    /// `args`; answers `UnknownRoom` for that status.
    async fn run(&self, script: &Script, room: RoomId, args: &[&[u8]]) -> AdmissionResult<Reply> {
        let keys = self.keys(room);
        let mut inv = script.prepare_invoke();
        for k in &keys.0 {
            inv.key(k);
        }
        inv.arg(time_arg(self.time.injected_millis()));
        for a in args {
            inv.arg(*a);
        }
        let v: Value =
            inv.invoke_async(&mut self.conn.clone()).await.map_err(|e| failed(from_redis(e, Effect::Write)))?;
        let reply = Reply::new(v).map_err(failed)?;
        if reply.status() == b"UNKNOWN_ROOM" {
            return Err(AdmissionError::UnknownRoom(room));
        }
        Ok(reply)
    }
}

fn failed(e: InventoryError) -> AdmissionError {
    match e {
        InventoryError::Unavailable(e) => AdmissionError::Unavailable(e.to_string()),
        other => AdmissionError::Backend(other.to_string()),
    }
}

fn unexpected(operation: &str, what: impl fmt::Display) -> AdmissionError {
    AdmissionError::Backend(format!("waiting room {operation}: unexpected reply from Redis: {what}"))
}

fn status_of(operation: &str, reply: &Reply) -> AdmissionError {
    unexpected(operation, String::from_utf8_lossy(reply.status()))
}

fn visitor_id(v: &Value) -> Option<VisitorId> {
    bytes(v).and_then(parse_hex).map(|n| VisitorId(Uuid::from_u128(n)))
}

fn number(v: &Value) -> Option<i64> {
    int(v)
}

fn text(v: &Value) -> Option<&str> {
    bytes(v).and_then(|b| std::str::from_utf8(b).ok())
}

/// A visitor view of `adm_lib.lua`: {id, session, joined, STATE, n}.
fn parse_view(v: &Value) -> Option<Visitor> {
    let Value::Array(items) = v else { return None };
    let [id, session, joined, state, n] = items.as_slice() else { return None };
    let n = number(n)?;
    let state = match bytes(state)? {
        b"PRE" => VisitorState::PreQueue { arrivals: u64::try_from(n).ok()? },
        b"WAIT" => VisitorState::Waiting { position: u64::try_from(n).ok()? },
        b"ADM" => VisitorState::Admitted { until: millis_to_datetime(n) },
        b"EXP" => VisitorState::Expired,
        b"LEFT" => VisitorState::Left,
        b"REV" => VisitorState::Revoked,
        _ => return None,
    };
    Some(Visitor {
        id: visitor_id(id)?,
        session: SessionId(text(session)?.to_owned()),
        joined_at: millis_to_datetime(number(joined)?),
        state,
    })
}

fn visitor_ids(v: &[Value]) -> Option<Vec<VisitorId>> {
    v.iter().map(visitor_id).collect()
}

fn visitor_arg(v: VisitorId) -> String {
    hex(v.as_uuid().as_u128())
}

#[async_trait]
impl WaitingRoomStore for RedisWaitingRoomStore {
    async fn create_room(&self, config: &RoomConfig) -> AdmissionResult<()> {
        config.validate()?;
        let (opens, pm, max, ttl) = (
            config.opens_at.timestamp_millis().to_string(),
            config.per_minute.to_string(),
            config.max_active.to_string(),
            config.session_ttl_ms().to_string(),
        );
        let inlet = config.inlet.map(|c| c.to_string()).unwrap_or_default();
        let args: [&[u8]; 7] = [
            opens.as_bytes(),
            config.mode.as_str().as_bytes(),
            config.late_order.as_str().as_bytes(),
            pm.as_bytes(),
            max.as_bytes(),
            ttl.as_bytes(),
            inlet.as_bytes(),
        ];
        let r = self.run(&scripts::LOADED.create, config.id, &args).await?;
        match r.status() {
            b"OK" => Ok(()),
            b"EXISTS" => Err(AdmissionError::RoomExists(config.id)),
            _ => Err(status_of("create", &r)),
        }
    }

    async fn room(&self, room: RoomId) -> AdmissionResult<RoomState> {
        let r = self.run(&scripts::LOADED.state, room, &[]).await?;
        let bad = |what: &str| unexpected("state", what);
        if r.status() != b"OK" {
            return Err(status_of("state", &r));
        }
        let n = |i: usize| r.int(i).map_err(|_| bad("a number"));
        let u = |i: usize| n(i).and_then(|v| u64::try_from(v).map_err(|_| bad("a count")));
        let s = |i: usize| r.bytes(i).map(|b| String::from_utf8_lossy(b).into_owned()).map_err(|_| bad("a string"));
        let inlet = s(7)?;
        let drawn = s(10)?;
        let config = RoomConfig {
            id: room,
            opens_at: millis_to_datetime(n(1)?),
            mode: Mode::from_name(&s(2)?).ok_or_else(|| bad("mode"))?,
            late_order: LateOrder::from_name(&s(3)?).ok_or_else(|| bad("late order"))?,
            per_minute: u(4)?,
            max_active: u(5)?,
            session_ttl: Duration::from_millis(u(6)?),
            inlet: if inlet.is_empty() { None } else { Some(inlet.parse().map_err(|_| bad("inlet"))?) },
        };
        Ok(RoomState {
            config,
            drawn_at: if drawn.is_empty() {
                None
            } else {
                Some(millis_to_datetime(drawn.parse().map_err(|_| bad("drawn"))?))
            },
            credits: u(8)?,
            generation: u(9)?,
            pre_queue: u(11)?,
            waiting: u(12)?,
            active: u(13)?,
            admitted_last_minute: u(14)?,
        })
    }

    async fn set_mode(&self, room: RoomId, mode: Mode) -> AdmissionResult<()> {
        let r = self.run(&scripts::LOADED.mode, room, &[mode.as_str().as_bytes()]).await?;
        if r.status() == b"OK" { Ok(()) } else { Err(status_of("set_mode", &r)) }
    }

    async fn join(&self, req: &Join) -> AdmissionResult<Joined> {
        req.session.validate()?;
        let (v, key) = (visitor_arg(req.visitor), (req.random_key % RANDOM_KEY_BOUND).to_string());
        let args: [&[u8]; 3] = [req.session.0.as_bytes(), v.as_bytes(), key.as_bytes()];
        let r = self.run(&scripts::LOADED.join, req.room, &args).await?;
        match r.status() {
            b"OK" => {
                let new = r.int(1).map_err(|_| unexpected("join", "new"))? == 1;
                let visitor = r.list(2).ok().and_then(|l| parse_view(&Value::Array(l.to_vec())));
                Ok(Joined { new, visitor: visitor.ok_or_else(|| unexpected("join", "visitor"))? })
            }
            b"CLOSED" => Err(AdmissionError::Closed(req.room)),
            b"ID_IN_USE" => Err(AdmissionError::Backend("visitor id in use; retry with another".into())),
            _ => Err(status_of("join", &r)),
        }
    }

    async fn visitor(&self, room: RoomId, session: &SessionId) -> AdmissionResult<Visitor> {
        session.validate()?;
        let r = self.run(&scripts::LOADED.visitor, room, &[session.0.as_bytes()]).await?;
        match r.status() {
            b"OK" => r
                .list(1)
                .ok()
                .and_then(|l| parse_view(&Value::Array(l.to_vec())))
                .ok_or_else(|| unexpected("visitor", "visitor")),
            b"UNKNOWN_VISITOR" => Err(AdmissionError::UnknownVisitor(room)),
            _ => Err(status_of("visitor", &r)),
        }
    }

    async fn pre_queue(&self, room: RoomId) -> AdmissionResult<Vec<VisitorId>> {
        let r = self.run(&scripts::LOADED.draw_read, room, &[]).await?;
        if r.status() != b"OK" {
            return Err(status_of("pre_queue", &r));
        }
        r.list(3).ok().and_then(visitor_ids).ok_or_else(|| unexpected("pre_queue", "arrivals"))
    }

    async fn record_draw(&self, room: RoomId, seed: &Seed, order: &[VisitorId]) -> AdmissionResult<DrawRecord> {
        let seed_hex = seed.to_string();
        let ids: Vec<String> = order.iter().map(|v| visitor_arg(*v)).collect();
        let mut args: Vec<&[u8]> = Vec::with_capacity(order.len() + 1);
        args.push(seed_hex.as_bytes());
        args.extend(ids.iter().map(|s| s.as_bytes()));
        let r = self.run(&scripts::LOADED.draw, room, &args).await?;
        match r.status() {
            b"OK" => self.draw_record(room).await?.ok_or_else(|| unexpected("draw", "no record after the draw")),
            b"NOT_OPEN" => Err(AdmissionError::NotOpen {
                opens_at: millis_to_datetime(r.int(1).map_err(|_| unexpected("draw", "opens"))?),
            }),
            b"ALREADY" => Err(AdmissionError::AlreadyDrawn(room)),
            b"MISMATCH" => Err(AdmissionError::DrawMismatch(room)),
            _ => Err(status_of("draw", &r)),
        }
    }

    async fn draw_record(&self, room: RoomId) -> AdmissionResult<Option<DrawRecord>> {
        let r = self.run(&scripts::LOADED.draw_read, room, &[]).await?;
        if r.status() != b"OK" {
            return Err(status_of("draw_record", &r));
        }
        let seed = r.bytes(1).map_err(|_| unexpected("draw_record", "seed"))?;
        if seed.is_empty() {
            return Ok(None);
        }
        let bad = |what: &str| unexpected("draw_record", what);
        let seed: Seed = std::str::from_utf8(seed).ok().and_then(|s| s.parse().ok()).ok_or_else(|| bad("seed"))?;
        let drawn = r.int(2).map_err(|_| bad("drawn"))?;
        let arrivals = r.list(3).ok().and_then(visitor_ids).ok_or_else(|| bad("arrivals"))?;
        let order = r.list(4).ok().and_then(visitor_ids).ok_or_else(|| bad("order"))?;
        Ok(Some(DrawRecord { seed, drawn_at: millis_to_datetime(drawn), arrivals, order }))
    }

    async fn admit(&self, room: RoomId) -> AdmissionResult<Vec<Admission>> {
        let r = self.run(&scripts::LOADED.admit, room, &[]).await?;
        match r.status() {
            b"OK" => {
                let mut out = Vec::new();
                let mut i = 1;
                while let Ok(v) = r.bytes(i) {
                    let visitor =
                        parse_hex(v).map(|n| VisitorId(Uuid::from_u128(n))).ok_or_else(|| unexpected("admit", "id"))?;
                    let until = r.int(i + 1).map_err(|_| unexpected("admit", "until"))?;
                    out.push(Admission { visitor, until: millis_to_datetime(until) });
                    i += 2;
                }
                Ok(out)
            }
            b"NOT_DRAWN" => Err(AdmissionError::NotDrawn(room)),
            _ => Err(status_of("admit", &r)),
        }
    }

    async fn leave(&self, room: RoomId, visitor: VisitorId, session: &SessionId) -> AdmissionResult<()> {
        session.validate()?;
        self.end(room, visitor, b"left", session.0.as_bytes()).await
    }

    async fn revoke(&self, room: RoomId, visitor: VisitorId) -> AdmissionResult<()> {
        self.end(room, visitor, b"rev", b"").await
    }

    async fn revoke_all(&self, room: RoomId) -> AdmissionResult<u64> {
        let r = self.run(&scripts::LOADED.revoke_all, room, &[]).await?;
        match r.status() {
            b"OK" => r.int(1).ok().and_then(|g| u64::try_from(g).ok()).ok_or_else(|| unexpected("revoke_all", "gen")),
            _ => Err(status_of("revoke_all", &r)),
        }
    }

    async fn revocations(&self, room: RoomId) -> AdmissionResult<Revocations> {
        let r = self.run(&scripts::LOADED.revocations, room, &[]).await?;
        if r.status() != b"OK" {
            return Err(status_of("revocations", &r));
        }
        let generation =
            r.int(1).ok().and_then(|g| u64::try_from(g).ok()).ok_or_else(|| unexpected("revocations", "gen"))?;
        let mut revoked = r.list(2).ok().and_then(visitor_ids).ok_or_else(|| unexpected("revocations", "ids"))?;
        revoked.sort();
        Ok(Revocations { generation, revoked })
    }

    async fn add_credits(&self, room: RoomId, credits: u64) -> AdmissionResult<u64> {
        let n = credits.to_string();
        let r = self.run(&scripts::LOADED.credits, room, &[n.as_bytes()]).await?;
        match r.status() {
            b"OK" => r.int(1).ok().and_then(|c| u64::try_from(c).ok()).ok_or_else(|| unexpected("credits", "credits")),
            _ => Err(status_of("credits", &r)),
        }
    }
}

impl RedisWaitingRoomStore {
    async fn end(&self, room: RoomId, visitor: VisitorId, to: &[u8], session: &[u8]) -> AdmissionResult<()> {
        let v = visitor_arg(visitor);
        let r = self.run(&scripts::LOADED.end, room, &[v.as_bytes(), to, session]).await?;
        match r.status() {
            b"OK" => Ok(()),
            b"UNKNOWN_VISITOR" => Err(AdmissionError::UnknownVisitor(room)),
            b"SESSION_MISMATCH" => Err(AdmissionError::SessionMismatch),
            _ => Err(status_of("end", &r)),
        }
    }
}
