//! Tickets on Redis: the check-in store ([`RedisCheckInStore`]).
//!
//! A ticket's record is one hash under its show's hash tag
//! (`<prefix>{<show>}:ticket:<ticket>`), and the show's reissued tickets
//! one more (`<prefix>{<show>}:reissued`, ticket -> current version: the
//! revocation list). A registration and a check-in are each one Lua script
//! (`lua/ticket_register.lua`, `lua/ticket_checkin.lua`) deciding on the
//! record as `booking_core::tickets::checkin` does, atomically on the
//! show's slot: of concurrent scans of a ticket exactly one is admitted,
//! and a reissue and a scan exclude each other. Admission times come from
//! the time source: the server's `TIME`, or an injected clock (tests).
//!
//! Records do not expire: a show's tickets are kept until the application
//! deletes the show's keys. Durability is the server's AOF policy's, as
//! for the inventory: an admission acknowledged just before a crash under
//! `appendfsync everysec` may be lost, and the ticket admitted again.

use crate::codec::{Reply, bad, bytes};
use crate::conn::{Conn, Target};
use crate::error::{Effect, from_redis, in_operation};
use crate::keys::{hex, parse_hex};
use crate::{client_for, coalesce::time_arg};
use async_trait::async_trait;
use booking_core::clock::millis_to_datetime;
use booking_core::tickets::{
    Admission, CheckIn, CheckInError, CheckInStore, DeviceId, GateId, Registered, Registration, RevocationList,
    TicketId, TicketStatus,
};
use booking_core::{InvalidRequest, InventoryError, OwnerId, ShowId, TimeSource};
use redis::{IntoConnectionInfo, Script, Value};
use std::sync::LazyLock;
use std::time::Duration;

/// `lua/ticket_register.lua`.
pub const REGISTER: &str = include_str!("../../lua/ticket_register.lua");
/// `lua/ticket_checkin.lua`.
pub const CHECK_IN: &str = include_str!("../../lua/ticket_checkin.lua");

static REGISTER_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(REGISTER));
static CHECK_IN_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(CHECK_IN));

/// Configures and connects a [`RedisCheckInStore`].
#[must_use = "call build() to connect"]
pub struct RedisCheckInStoreBuilder {
    target: Target,
    prefix: String,
    time: TimeSource,
    response_timeout: Duration,
    connection_timeout: Duration,
}

/// The check-in store on a Redis server or Cluster (see the module docs).
/// Cheap to clone.
#[derive(Clone)]
pub struct RedisCheckInStore {
    conn: Conn,
    prefix: String,
    time: TimeSource,
}

impl std::fmt::Debug for RedisCheckInStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCheckInStore")
            .field("prefix", &self.prefix)
            .field("time", &self.time)
            .finish_non_exhaustive()
    }
}

impl RedisCheckInStore {
    /// A builder for the server at `url`.
    ///
    /// Errors: `InvalidRequest` for a malformed URL.
    pub fn builder(url: &str) -> booking_core::Result<RedisCheckInStoreBuilder> {
        Ok(Self::builder_to(Target::Server(client_for(url)?)))
    }

    /// A builder for a Redis Cluster with seed `nodes`.
    ///
    /// Errors: `InvalidRequest` for a malformed URL, no seed at all, or
    /// seeds that disagree on credentials.
    pub fn cluster_builder<T: IntoConnectionInfo>(
        nodes: impl IntoIterator<Item = T>,
    ) -> booking_core::Result<RedisCheckInStoreBuilder> {
        Ok(Self::builder_to(Target::cluster(nodes)?))
    }

    fn builder_to(target: Target) -> RedisCheckInStoreBuilder {
        RedisCheckInStoreBuilder {
            target,
            prefix: crate::DEFAULT_PREFIX.to_owned(),
            time: TimeSource::Store,
            response_timeout: Duration::from_secs(5),
            connection_timeout: Duration::from_secs(2),
        }
    }
}

impl RedisCheckInStoreBuilder {
    /// Prefixes every key (default [`crate::DEFAULT_PREFIX`]); no braces.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Which clock stamps admissions: the Redis server's `TIME`
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

    /// Connects.
    ///
    /// Errors: `InvalidRequest` for a prefix with braces, `Unavailable` when
    /// the server cannot be reached.
    pub async fn build(self) -> booking_core::Result<RedisCheckInStore> {
        self.connect().await.map_err(in_operation("connect"))
    }

    async fn connect(self) -> booking_core::Result<RedisCheckInStore> {
        if self.prefix.contains(['{', '}']) {
            return Err(InvalidRequest::InvalidShow("the key prefix must not contain '{' or '}'".into()).into());
        }
        let conn = self.target.connect(self.response_timeout, self.connection_timeout).await?;
        Ok(RedisCheckInStore { conn, prefix: self.prefix, time: self.time })
    }
}

/// A failure of the store in `operation`, as the port's error.
fn failed(operation: &'static str) -> impl Fn(InventoryError) -> CheckInError {
    move |e| {
        let cause: Box<dyn std::error::Error + Send + Sync> = match e {
            InventoryError::Backend(c) | InventoryError::Unavailable(c) | InventoryError::OutcomeUnknown(c) => c,
            other => Box::new(other),
        };
        CheckInError::Backend(Box::new(crate::error::failure(operation, cause)))
    }
}

fn version(v: i64) -> Result<u32, InventoryError> {
    u32::try_from(v).map_err(|_| bad(format!("ticket version {v}")))
}

fn text(v: &[u8], what: &str) -> Result<String, InventoryError> {
    String::from_utf8(v.to_vec()).map_err(|_| bad(format!("{what} is not UTF-8")))
}

/// The admission a script reports after `ADMITTED`: version, at, device, gate.
fn admission(ticket: TicketId, r: &Reply) -> Result<Admission, InventoryError> {
    Ok(Admission {
        ticket,
        version: version(r.int(1)?)?,
        at: millis_to_datetime(r.int(2)?),
        device: DeviceId(text(r.bytes(3)?, "device")?),
        gate: GateId(text(r.bytes(4)?, "gate")?),
    })
}

impl RedisCheckInStore {
    fn base(&self, show: ShowId) -> String {
        format!("{}{{{}}}:", self.prefix, hex(show.as_u128()))
    }

    fn record(&self, show: ShowId, ticket: TicketId) -> String {
        format!("{}ticket:{}", self.base(show), hex(ticket.as_u128()))
    }

    async fn run(&self, script: &Script, keys: &[&str], args: &[&[u8]]) -> Result<Reply, InventoryError> {
        let mut inv = script.prepare_invoke();
        for k in keys {
            inv.key(*k);
        }
        for a in args {
            inv.arg(*a);
        }
        let v: Value = inv.invoke_async(&mut self.conn.clone()).await.map_err(|e| from_redis(e, Effect::Write))?;
        Reply::new(v)
    }

    async fn register_inner(&self, reg: &Registration) -> Result<Result<Registered, CheckInError>, InventoryError> {
        let (record, reissued) = (self.record(reg.show, reg.ticket), format!("{}reissued", self.base(reg.show)));
        let (ticket, v, holder) = (hex(reg.ticket.as_u128()), reg.version.to_string(), hex(reg.holder.as_u128()));
        let r = self
            .run(&REGISTER_SCRIPT, &[&record, &reissued], &[ticket.as_bytes(), v.as_bytes(), holder.as_bytes()])
            .await?;
        Ok(match r.status() {
            b"NEW" => Ok(Registered::New),
            b"UNCHANGED" => Ok(Registered::Unchanged),
            b"REISSUED" => Ok(Registered::Reissued { previous: version(r.int(1)?)? }),
            b"SUPERSEDED" => {
                Err(CheckInError::Superseded { ticket: reg.ticket, version: reg.version, current: version(r.int(1)?)? })
            }
            b"NOT_HOLDER" => Err(CheckInError::NotHolder { ticket: reg.ticket, version: reg.version }),
            b"ADMITTED" => Err(CheckInError::AlreadyCheckedIn(Box::new(admission(reg.ticket, &r)?))),
            other => return Err(bad(format!("ticket register answered {}", String::from_utf8_lossy(other)))),
        })
    }

    async fn check_in_inner(&self, req: &CheckIn) -> Result<Result<Admission, CheckInError>, InventoryError> {
        let record = self.record(req.show, req.ticket);
        let (now, v, holder) =
            (time_arg(self.time.injected_millis()), req.version.to_string(), hex(req.holder.as_u128()));
        let args: [&[u8]; 5] =
            [now.as_bytes(), v.as_bytes(), holder.as_bytes(), req.device.0.as_bytes(), req.gate.0.as_bytes()];
        let r = self.run(&CHECK_IN_SCRIPT, &[&record], &args).await?;
        let current = || r.int(1).and_then(version);
        Ok(match r.status() {
            b"OK" => Ok(Admission {
                ticket: req.ticket,
                version: req.version,
                at: millis_to_datetime(r.int(1)?),
                device: req.device.clone(),
                gate: req.gate.clone(),
            }),
            b"UNKNOWN" => Err(CheckInError::UnknownTicket { show: req.show, ticket: req.ticket }),
            b"SUPERSEDED" => {
                Err(CheckInError::Superseded { ticket: req.ticket, version: req.version, current: current()? })
            }
            b"UNKNOWN_VERSION" => {
                Err(CheckInError::UnknownVersion { ticket: req.ticket, version: req.version, current: current()? })
            }
            b"NOT_HOLDER" => Err(CheckInError::NotHolder { ticket: req.ticket, version: req.version }),
            b"ADMITTED" => Err(CheckInError::AlreadyCheckedIn(Box::new(admission(req.ticket, &r)?))),
            other => return Err(bad(format!("ticket check-in answered {}", String::from_utf8_lossy(other)))),
        })
    }

    async fn status_inner(&self, show: ShowId, ticket: TicketId) -> Result<Option<TicketStatus>, InventoryError> {
        let fields: Vec<Option<Vec<u8>>> = redis::cmd("HMGET")
            .arg(self.record(show, ticket))
            .arg(&["v", "holder", "av", "at", "dev", "gate"])
            .query_async(&mut self.conn.clone())
            .await
            .map_err(|e| from_redis(e, Effect::Read))?;
        let field = |i: usize| fields.get(i).and_then(|f| f.as_deref());
        let number = |i: usize| -> Result<i64, InventoryError> {
            field(i).and_then(|b| std::str::from_utf8(b).ok()?.parse().ok()).ok_or_else(|| bad("ticket record"))
        };
        if field(0).is_none() {
            return Ok(None);
        }
        let holder = field(1).and_then(parse_hex).ok_or_else(|| bad("ticket holder"))?;
        let admitted = match field(3) {
            None => None,
            Some(_) => Some(Admission {
                ticket,
                version: version(number(2)?)?,
                at: millis_to_datetime(number(3)?),
                device: DeviceId(text(field(4).ok_or_else(|| bad("ticket device"))?, "device")?),
                gate: GateId(text(field(5).ok_or_else(|| bad("ticket gate"))?, "gate")?),
            }),
        };
        Ok(Some(TicketStatus {
            show,
            ticket,
            version: version(number(0)?)?,
            holder: OwnerId::from_u128(holder),
            admitted,
        }))
    }

    async fn revocations_inner(&self, show: ShowId) -> Result<RevocationList, InventoryError> {
        let all: Vec<Value> = redis::cmd("HGETALL")
            .arg(format!("{}reissued", self.base(show)))
            .query_async::<Value>(&mut self.conn.clone())
            .await
            .map_err(|e| from_redis(e, Effect::Read))
            .map(|v| match v {
                Value::Map(pairs) => pairs.into_iter().flat_map(|(k, v)| [k, v]).collect(),
                Value::Array(items) => items,
                _ => Vec::new(),
            })?;
        let mut list = RevocationList::new();
        for pair in all.chunks_exact(2) {
            let ticket = bytes(&pair[0]).and_then(parse_hex).ok_or_else(|| bad("reissued ticket id"))?;
            let v = bytes(&pair[1])
                .and_then(|b| std::str::from_utf8(b).ok()?.parse::<u32>().ok())
                .ok_or_else(|| bad("reissued ticket version"))?;
            list.revoke_below(TicketId::from_u128(ticket), v);
        }
        Ok(list)
    }
}

#[async_trait]
impl CheckInStore for RedisCheckInStore {
    async fn register(&self, reg: &Registration) -> Result<Registered, CheckInError> {
        if reg.version == 0 {
            return Err(CheckInError::ZeroVersion);
        }
        self.register_inner(reg).await.map_err(failed("ticket registration"))?
    }

    async fn check_in(&self, req: &CheckIn) -> Result<Admission, CheckInError> {
        req.validate()?;
        self.check_in_inner(req).await.map_err(failed("check-in"))?
    }

    async fn status(&self, show: ShowId, ticket: TicketId) -> Result<Option<TicketStatus>, CheckInError> {
        self.status_inner(show, ticket).await.map_err(failed("ticket status"))
    }

    async fn revocations(&self, show: ShowId) -> Result<RevocationList, CheckInError> {
        self.revocations_inner(show).await.map_err(failed("revocation list"))
    }
}
