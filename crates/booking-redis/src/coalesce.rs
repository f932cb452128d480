//! Request coalescing: concurrent seat holds (and seat releases) on one
//! show are sent as one call of a batch script (`lua/hold_batch.lua`,
//! `lua/release_batch.lua`), which decides them in order exactly as the
//! single scripts would one after the other, and answers each request on
//! its own. The server then pays the fixed cost of a script call, the
//! existence check, `TIME`, the seat read and the writes once per batch
//! instead of once per request.
//!
//! A request is sent on its own, as the single script, while fewer than
//! `alone` requests of its kind on the same show are in flight (queued
//! ones included); only beyond that does it queue for a batch. So a lone
//! request, or a few concurrent ones, pay nothing for coalescing: while
//! the server keeps up, a request that waited for a batch would only be
//! later.
//!
//! One lane per kind of request: a task takes whatever requests are queued
//! (up to `max_batch`), splits them by show (a batch script works on one
//! show: one Cluster slot), sends one script call per show and waits for
//! them; meanwhile the next requests queue, and the next take gets them
//! all. The task runs the batches itself, one take at a time: a task per
//! batch would cost a spawn and a wake-up each, and measured slower.
//!
//! Failures: a batch that fails on the way (connection lost, timeout,
//! server refusal) gives each of its requests the error the single request
//! would have got (`OutcomeUnknown` once the batch may have been sent,
//! `Unavailable` when it certainly was not). No request is sent twice: a
//! request is in exactly one batch, and a batch is sent once.

use crate::codec::{Reply, bad};
use crate::conn::Conn;
use crate::error::{Effect, from_redis};
use crate::{ShowInfo, scripts};
use booking_core::{HoldId, InventoryError, OwnerId, Result, SeatId, ShowId};
use redis::{Cmd, ErrorKind, ServerErrorKind, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

/// The most requests one batch script call carries: its arguments are
/// unpacked on the Lua stack in places (`MGET` of the owner indexes).
pub(crate) const MAX_BATCH: usize = 1000;

/// Settings of the lanes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Settings {
    /// The most requests one batch carries.
    pub(crate) max_batch: usize,
    /// How many requests of one kind on one show are sent on their own
    /// before the next ones queue.
    pub(crate) alone: usize,
}

/// What a batch needs of the inventory's configuration.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Config {
    pub(crate) feed_max_len: u64,
    /// Whether an injected clock decides (the owner index is then kept).
    pub(crate) injected_clock: bool,
}

/// One queued hold or release: its part of the batch script's ARGV (see
/// the scripts' headers).
pub(crate) struct Job {
    pub(crate) info: Arc<ShowInfo>,
    /// The injected clock's Unix ms, or `None` for the server's `TIME`.
    pub(crate) now: Option<i64>,
    pub(crate) owner: OwnerId,
    pub(crate) hold: HoldId,
    /// The token's version (releases only).
    pub(crate) version: u64,
    /// Sorted, unique, validated.
    pub(crate) seats: Vec<SeatId>,
    pub(crate) reply: oneshot::Sender<Result<Reply>>,
}

/// An id as the scripts store it (32 lowercase hex digits), without
/// allocating.
fn hex32(v: u128) -> [u8; 32] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = DIGITS[((v >> (4 * (31 - i))) & 0xf) as usize];
    }
    out
}

/// What the lanes of an inventory have sent so far (see
/// [`crate::RedisInventory::coalesce_stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CoalesceStats {
    /// Batch script calls sent.
    pub batches: u64,
    /// Requests they carried (a request sent alone, as the single script,
    /// is not counted).
    pub requests: u64,
    /// The most requests one batch carried.
    pub largest: u64,
}

#[derive(Default)]
struct Counters {
    batches: AtomicU64,
    requests: AtomicU64,
    largest: AtomicU64,
}

/// What a lane's batches do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Hold,
    Release,
}

/// The queue of one kind of request, and how many of them are in flight
/// per show.
pub(crate) struct Lane {
    tx: mpsc::UnboundedSender<Job>,
    active: Mutex<HashMap<ShowId, usize>>,
    /// How many requests of the show may be in flight before the next
    /// one queues.
    direct: usize,
}

/// The lanes of one inventory.
pub(crate) struct Coalescer {
    /// Seat holds.
    pub(crate) holds: Lane,
    /// Seat releases.
    pub(crate) releases: Lane,
    counters: Arc<Counters>,
}

/// A request counted as in flight on its show until dropped.
pub(crate) struct Active<'a> {
    lane: &'a Lane,
    show: ShowId,
}

impl Drop for Active<'_> {
    fn drop(&mut self) {
        let mut active = self.lane.active.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = active.get_mut(&self.show) {
            *n -= 1;
            if *n == 0 {
                active.remove(&self.show);
            }
        }
    }
}

impl Coalescer {
    /// Starts the lanes on the current tokio runtime.
    pub(crate) fn start(conn: Conn, config: Config, settings: Settings) -> Self {
        let counters = Arc::new(Counters::default());
        Coalescer {
            holds: Lane::start(conn.clone(), config, settings, Kind::Hold, counters.clone()),
            releases: Lane::start(conn, config, settings, Kind::Release, counters.clone()),
            counters,
        }
    }

    pub(crate) fn stats(&self) -> CoalesceStats {
        let c = &self.counters;
        CoalesceStats {
            batches: c.batches.load(Ordering::Relaxed),
            requests: c.requests.load(Ordering::Relaxed),
            largest: c.largest.load(Ordering::Relaxed),
        }
    }
}

impl Lane {
    fn start(conn: Conn, config: Config, settings: Settings, kind: Kind, counters: Arc<Counters>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(lane(rx, settings, conn, config, kind, counters));
        Lane { tx, active: Mutex::new(HashMap::new()), direct: settings.alone.max(1) }
    }

    /// Counts a request in flight on `show`. True when `alone` others
    /// already are: only then is it worth queueing.
    pub(crate) fn enter(&self, show: ShowId) -> (Active<'_>, bool) {
        let mut active = self.active.lock().unwrap_or_else(|e| e.into_inner());
        let n = active.entry(show).or_insert(0);
        *n += 1;
        (Active { lane: self, show }, *n > self.direct)
    }

    /// Queues a request and waits for its answer.
    pub(crate) async fn send(&self, job: impl FnOnce(oneshot::Sender<Result<Reply>>) -> Job) -> Result<Reply> {
        let (tx, rx) = oneshot::channel();
        // Not queued: certainly not sent.
        self.tx.send(job(tx)).map_err(|_| InventoryError::Unavailable("the coalescing task stopped".into()))?;
        // Queued, then dropped unanswered: its batch may have run.
        rx.await.map_err(|_| InventoryError::OutcomeUnknown("the coalescing task stopped".into()))?
    }
}

async fn lane(
    mut rx: mpsc::UnboundedReceiver<Job>,
    settings: Settings,
    conn: Conn,
    config: Config,
    kind: Kind,
    counters: Arc<Counters>,
) {
    loop {
        let Some(first) = rx.recv().await else { return };
        // The take, split by show in arrival order.
        let mut groups: Vec<Vec<Job>> = vec![vec![first]];
        let mut taken = 1;
        while taken < settings.max_batch {
            let Ok(job) = rx.try_recv() else { break };
            taken += 1;
            match groups.iter_mut().find(|g| g[0].info.spec.id == job.info.spec.id) {
                Some(g) => g.push(job),
                None => groups.push(vec![job]),
            }
        }
        for g in &groups {
            counters.batches.fetch_add(1, Ordering::Relaxed);
            counters.requests.fetch_add(g.len() as u64, Ordering::Relaxed);
            counters.largest.fetch_max(g.len() as u64, Ordering::Relaxed);
        }
        let runs = groups.into_iter().map(|jobs| run_batch(conn.clone(), config, kind, jobs));
        futures_util::future::join_all(runs).await;
    }
}

/// Sends one batch (all jobs of one show) and answers each job.
///
/// The `EVALSHA` is built here rather than through `redis::Script`, which
/// would copy every argument once more: this is the hot path under load.
/// As there, a `NOSCRIPT` answer (the batch did not run) loads the script
/// and sends the batch again.
async fn run_batch(mut conn: Conn, config: Config, kind: Kind, jobs: Vec<Job>) {
    let info = jobs[0].info.clone();
    let k = &info.keys;
    let policy = &info.spec.policy;
    let seats: usize = jobs.iter().map(|j| j.seats.len()).sum();
    let (script, source) = match kind {
        Kind::Hold => (&scripts::LOADED.HOLD_BATCH, scripts::HOLD_BATCH),
        Kind::Release => (&scripts::LOADED.RELEASE_BATCH, scripts::RELEASE_BATCH),
    };
    let mut cmd = Cmd::with_capacity(16 + 6 * jobs.len() + seats, 256 + 120 * jobs.len() + 8 * seats);
    cmd.arg("EVALSHA").arg(script.get_hash());
    match kind {
        Kind::Hold => {
            cmd.arg(6 + jobs.len());
            cmd.arg(&k.meta).arg(&k.seats).arg(&k.seat_expiry).arg(&k.pool_holds).arg(&k.feed).arg(&k.free);
            for j in &jobs {
                cmd.arg(k.owner(j.owner));
            }
            let index_ttl = if config.injected_clock { 0 } else { policy.max_hold_millis() };
            cmd.arg(policy.ttl_millis())
                .arg(policy.max_hold_millis())
                .arg(info.max_per_owner())
                .arg(config.feed_max_len)
                .arg(index_ttl)
                .arg(jobs.len());
        }
        Kind::Release => {
            cmd.arg(5).arg(&k.meta).arg(&k.seats).arg(&k.seat_expiry).arg(&k.feed).arg(&k.free);
            cmd.arg(config.feed_max_len).arg(jobs.len());
        }
    }
    for j in &jobs {
        match j.now {
            Some(now) => cmd.arg(now),
            None => cmd.arg(""),
        };
        cmd.arg(&hex32(j.owner.as_u128())[..]).arg(&hex32(j.hold.as_u128())[..]);
        if kind == Kind::Release {
            cmd.arg(j.version);
        }
        cmd.arg(j.seats.len());
        for s in &j.seats {
            cmd.arg(s.0);
        }
    }
    let mut res: redis::RedisResult<Value> = cmd.query_async(&mut conn).await;
    if matches!(&res, Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript)) {
        let load: redis::RedisResult<Value> = redis::cmd("SCRIPT").arg("LOAD").arg(source).query_async(&mut conn).await;
        res = match load {
            Ok(_) => cmd.query_async(&mut conn).await,
            Err(e) => Err(e),
        };
    }
    let what = match kind {
        Kind::Hold => "hold",
        Kind::Release => "release",
    };
    match res {
        Ok(Value::Array(replies)) if replies.len() == jobs.len() => {
            for (job, v) in jobs.into_iter().zip(replies) {
                let _ = job.reply.send(Reply::new(v));
            }
        }
        Ok(other) => {
            for job in jobs {
                let _ = job.reply.send(Err(bad(format!("{what} batch reply {other:?}"))));
            }
        }
        Err(e) => {
            for job in jobs {
                let _ = job.reply.send(Err(from_redis(e.clone(), Effect::Write)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_written_as_the_scripts_store_them() {
        let v = 0x0123_4567_89ab_cdef_0011_2233_4455_6677u128;
        assert_eq!(&super::hex32(v)[..], crate::keys::hex(v).as_bytes());
        assert_eq!(&super::hex32(1)[..], crate::keys::hex(1).as_bytes());
    }
}
