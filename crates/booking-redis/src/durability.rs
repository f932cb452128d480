//! Checks of the servers the inventory runs on, made when it is built:
//! an eviction policy that cannot drop inventory keys, and the server
//! support for the sale durability asked for; and the wait for a sale to
//! reach the append-only file or the replicas.

use crate::codec::{bytes, int};
use crate::conn::Conn;
use crate::error::{Effect, StoreError, from_redis};
use booking_core::Result;
use redis::{Cmd, Value};
use std::time::Duration;

/// How durable a sale must be before `sell` (and
/// [`crate::RedisInventory::restore_sale`]) answers: see
/// [`crate::RedisInventoryBuilder::sale_durability`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SaleDurability {
    /// Wait until the show's master has written and fsynced the sale to
    /// its append-only file (`WAITAOF`; Redis 7.2 or newer with
    /// `appendonly yes`).
    pub local_aof: bool,
    /// Wait until this many replicas acknowledged the sale: with
    /// `local_aof`, replicas that fsynced it to their own append-only file
    /// (`WAITAOF`); without, replicas that received it (`WAIT`, any
    /// version).
    pub replicas: u32,
    /// How long to wait before the sale is reported as
    /// [`StoreError::DurabilityNotConfirmed`] (at least 1 ms).
    pub timeout: Duration,
}

impl SaleDurability {
    /// Wait for the master's own append-only file (`WAITAOF 1 0`).
    pub fn local_aof(timeout: Duration) -> Self {
        SaleDurability { local_aof: true, replicas: 0, timeout }
    }

    /// Wait for `replicas` replicas to receive the sale (`WAIT`).
    pub fn replicas(replicas: u32, timeout: Duration) -> Self {
        SaleDurability { local_aof: false, replicas, timeout }
    }

    fn timeout_ms(&self) -> u64 {
        (self.timeout.as_millis() as u64).max(1)
    }

    /// Whether anything is waited for at all.
    pub(crate) fn waits(&self) -> bool {
        self.local_aof || self.replicas > 0
    }

    /// The command that waits: `WAITAOF` when the local AOF is asked for,
    /// else `WAIT`.
    pub(crate) fn command(&self) -> Cmd {
        let mut cmd;
        if self.local_aof {
            cmd = redis::cmd("WAITAOF");
            cmd.arg(1).arg(self.replicas).arg(self.timeout_ms());
        } else {
            cmd = redis::cmd("WAIT");
            cmd.arg(self.replicas).arg(self.timeout_ms());
        }
        cmd
    }

    /// Checks the command's answer: `WAIT` answers the replicas that
    /// acknowledged, `WAITAOF` `[local, replicas]`.
    pub(crate) fn confirmed(&self, answer: &Value) -> Result<()> {
        let (local, replicas) = match answer {
            Value::Array(v) if v.len() == 2 => {
                (v.first().and_then(int).unwrap_or(0), v.get(1).and_then(int).unwrap_or(0))
            }
            other => (0, int(other).unwrap_or(0)),
        };
        let (local, replicas) = (local.max(0) as u32, replicas.max(0) as u32);
        let wanted_local = u32::from(self.local_aof);
        if local >= wanted_local && replicas >= self.replicas {
            Ok(())
        } else {
            Err(StoreError::DurabilityNotConfirmed { wanted_local, wanted_replicas: self.replicas, local, replicas }
                .into_inventory())
        }
    }
}

/// The value of a `CONFIG GET <name>` answer (RESP2 array or RESP3 map).
fn config_value(v: &Value) -> Option<String> {
    let s = match v {
        Value::Array(items) => items.get(1).and_then(bytes),
        Value::Map(pairs) => pairs.first().and_then(|(_, v)| bytes(v)),
        _ => None,
    }?;
    Some(String::from_utf8_lossy(s).into_owned())
}

async fn config_get(conn: &mut Conn, server: &str, name: &str) -> Result<Vec<(String, Result<String, String>)>> {
    let answers = conn
        .on_every_master(redis::cmd("CONFIG").arg("GET").arg(name), server)
        .await
        .map_err(|e| from_redis(e, Effect::Read))?;
    Ok(answers
        .into_iter()
        .map(|(node, v)| {
            let v = v.and_then(|v| config_value(&v).ok_or_else(|| format!("CONFIG GET {name} answered {v:?}")));
            (node, v)
        })
        .collect())
}

/// Refuses servers that may evict keys: every master must have
/// `maxmemory-policy noeviction`.
pub(crate) async fn check_eviction(conn: &mut Conn, server: &str) -> Result<()> {
    for (node, policy) in config_get(conn, server, "maxmemory-policy").await? {
        match policy {
            Ok(p) if p == "noeviction" => {}
            Ok(policy) => return Err(StoreError::EvictionPolicy { node, policy }.into_inventory()),
            Err(reason) => return Err(StoreError::PolicyUnknown { node, reason }.into_inventory()),
        }
    }
    Ok(())
}

/// `(major, minor)` of a version string such as `7.0.15`.
fn version(s: &str) -> Option<(u32, u32)> {
    let mut parts = s.trim().split('.');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// Checks every master can confirm `d`: `WAITAOF` needs Redis 7.2 and
/// `appendonly yes`; `WAIT` works everywhere.
pub(crate) async fn check_durability(conn: &mut Conn, server: &str, d: &SaleDurability) -> Result<()> {
    if !d.local_aof {
        return Ok(());
    }
    let unsupported =
        |node: String, reason: String| StoreError::DurabilityUnsupported { node, reason }.into_inventory();
    let answers = conn
        .on_every_master(redis::cmd("INFO").arg("server"), server)
        .await
        .map_err(|e| from_redis(e, Effect::Read))?;
    for (node, info) in answers {
        let text = match info {
            Ok(v) => bytes(&v).map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default(),
            Err(reason) => return Err(unsupported(node, reason)),
        };
        let v = text.lines().find_map(|l| l.strip_prefix("redis_version:")).and_then(version);
        match v {
            Some(v) if v >= (7, 2) => {}
            Some((major, minor)) => {
                return Err(unsupported(node, format!("WAITAOF needs Redis 7.2 or newer, this is {major}.{minor}")));
            }
            None => return Err(unsupported(node, "no redis_version in INFO".into())),
        }
    }
    for (node, appendonly) in config_get(conn, server, "appendonly").await? {
        match appendonly {
            Ok(a) if a == "yes" => {}
            Ok(a) => return Err(unsupported(node, format!("WAITAOF needs appendonly yes, it is {a}"))),
            Err(reason) => return Err(unsupported(node, reason)),
        }
    }
    Ok(())
}
