//! Request coalescing: concurrent seat holds (and seat releases) on one
//! show are sent as one call of a batch script (`lua/hold_batch.lua`,
//! `lua/release_batch.lua`), which decides them in order exactly as the
//! single scripts would one after the other, and answers each request on
//! its own. The server then pays the fixed cost of a script call, the
//! existence check, `TIME`, the seat read and the writes once per batch
//! instead of once per request.
//!
//! When a request waits is [`booking_core::Coalescing`]'s meaning: per show
//! and kind of request, a request is sent at once, as the single script,
//! while fewer than `max_in_flight` calls (single requests or batches) are
//! in flight; beyond that it waits, and the waiting requests go together
//! as one batch of at most `max_batch` when a call returns. So a lone
//! request, or a few concurrent ones, pay nothing.
//!
//! One lane per kind of request. A lane counts, per show, the calls in
//! flight and keeps the waiting requests in arrival order. A call that
//! returns while requests wait sends the next batch of its show (while the
//! show has fewer than `max_in_flight` calls in flight) as a task of its
//! own, spawned on the tokio runtime the returning call ran on; that task,
//! when its batch returns, sends the next one the same way. No task lives
//! longer than its batch, and none runs while nobody waits.
//!
//! Failures: a batch that fails on the way (connection lost, timeout,
//! server refusal) gives each of its requests the error the single request
//! would have got (`OutcomeUnknown` once the batch may have been sent,
//! `Unavailable` when it certainly was not). No request is sent twice: a
//! request is in exactly one batch, and a batch is sent once. A batch whose
//! runtime stops before it is answered gives its requests `OutcomeUnknown`.

use crate::codec::{Reply, bad};
use crate::conn::Conn;
use crate::error::{Effect, from_redis};
use crate::scripts;
use crate::show::ShowInfo;
use booking_core::{Coalescing, HoldId, InventoryError, OwnerId, Result, SeatId, ShowId};
use redis::{Cmd, ErrorKind, ServerErrorKind, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// The most requests one batch script call carries: its arguments are
/// unpacked on the Lua stack in places (`MGET` of the owner indexes).
pub(crate) const MAX_BATCH: usize = 1000;

/// A script's time argument, as the time source names it: `store` for the
/// server's `TIME` (`None`), else the injected clock's Unix ms.
pub(crate) fn time_arg(injected_now: Option<i64>) -> String {
    match injected_now {
        None => "store".to_owned(),
        Some(ms) => ms.to_string(),
    }
}

/// What a batch needs of the inventory's configuration.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Config {
    pub(crate) feed_max_len: u64,
    /// Whether owner indexes are kept without expiry (an injected clock
    /// decides: the server's clock says nothing about when they end).
    pub(crate) keep_owner_index: bool,
}

/// One waiting hold or release: its part of the batch script's ARGV (see
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
    /// The most calls (single requests and batches) of one kind that were
    /// in flight on one show at once: never more than
    /// [`booking_core::Coalescing::max_in_flight`].
    pub peak_in_flight: u64,
}

#[derive(Default)]
struct Counters {
    batches: AtomicU64,
    requests: AtomicU64,
    largest: AtomicU64,
    peak_in_flight: AtomicU64,
}

/// What a lane's batches do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Hold,
    Release,
}

/// One show's calls in flight and waiting requests, in one lane.
#[derive(Default)]
struct ShowLane {
    in_flight: usize,
    waiting: VecDeque<Job>,
}

/// The state of one kind of request, shared by the callers and the
/// batches' tasks.
struct Shared {
    settings: Coalescing,
    shows: Mutex<HashMap<ShowId, ShowLane>>,
    counters: Arc<Counters>,
    conn: Conn,
    config: Config,
    kind: Kind,
}

impl Shared {
    fn shows(&self) -> MutexGuard<'_, HashMap<ShowId, ShowLane>> {
        self.shows.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts one more call in flight on a show.
    fn start_call(&self, lane: &mut ShowLane) {
        lane.in_flight += 1;
        self.counters.peak_in_flight.fetch_max(lane.in_flight as u64, Ordering::Relaxed);
    }

    /// Takes the batches `show` may send now: while it has fewer than
    /// `max_in_flight` calls in flight, the next (up to) `max_batch`
    /// waiting requests each.
    fn take_batches(&self, show: ShowId) -> Vec<Vec<Job>> {
        let mut shows = self.shows();
        let Some(lane) = shows.get_mut(&show) else { return Vec::new() };
        let mut batches = Vec::new();
        while lane.in_flight < self.settings.max_in_flight && !lane.waiting.is_empty() {
            let n = lane.waiting.len().min(self.settings.max_batch);
            let batch: Vec<Job> = lane.waiting.drain(..n).collect();
            self.start_call(lane);
            let c = &self.counters;
            c.batches.fetch_add(1, Ordering::Relaxed);
            c.requests.fetch_add(batch.len() as u64, Ordering::Relaxed);
            c.largest.fetch_max(batch.len() as u64, Ordering::Relaxed);
            batches.push(batch);
        }
        batches
    }

    /// A call of `show` returned. True when requests wait for it.
    fn end_call(&self, show: ShowId) -> bool {
        let mut shows = self.shows();
        let Some(lane) = shows.get_mut(&show) else { return false };
        lane.in_flight = lane.in_flight.saturating_sub(1);
        if lane.in_flight == 0 && lane.waiting.is_empty() {
            shows.remove(&show);
            return false;
        }
        !lane.waiting.is_empty()
    }
}

/// A call of `show` returned: sends the batches that may go now.
fn call_returned(shared: &Arc<Shared>, show: ShowId) {
    if !shared.end_call(show) {
        return;
    }
    let Ok(runtime) = Handle::try_current() else {
        // Returned outside any runtime (a caller's future dropped after
        // its runtime stopped): nothing can send the waiting requests now,
        // and they were not sent.
        let waiting = shared.shows().get_mut(&show).map(|l| std::mem::take(&mut l.waiting)).unwrap_or_default();
        for job in waiting {
            let _ = job.reply.send(Err(InventoryError::Unavailable("no tokio runtime to send the batch on".into())));
        }
        return;
    };
    for jobs in shared.take_batches(show) {
        // Counts the batch's call as returned when dropped: once answered,
        // or with the task when its runtime stops (its requests then get
        // `OutcomeUnknown`: the batch may have been sent).
        let call = BatchCall { shared: shared.clone(), show };
        runtime.spawn(async move {
            run_batch(&call.shared, jobs).await;
            drop(call);
        });
    }
}

/// A batch counted in flight on its show until dropped.
struct BatchCall {
    shared: Arc<Shared>,
    show: ShowId,
}

impl Drop for BatchCall {
    fn drop(&mut self) {
        call_returned(&self.shared, self.show);
    }
}

/// The requests of one kind: who may go at once, who waits.
pub(crate) struct Lane {
    shared: Arc<Shared>,
}

/// The lanes of one inventory.
pub(crate) struct Coalescer {
    /// Seat holds.
    pub(crate) holds: Lane,
    /// Seat releases.
    pub(crate) releases: Lane,
    counters: Arc<Counters>,
}

/// How a request goes: at once (the single script, counted in flight until
/// the guard is dropped), or waiting for a batch's answer.
pub(crate) enum Admission<'a> {
    /// Send the single script now; drop the admission once it is
    /// answered (the call counts as in flight until then).
    Direct {
        /// Held for its `Drop`.
        _in_flight: InFlight<'a>,
    },
    /// The request waits for a batch: its answer comes here (see
    /// [`answer`]).
    Wait(oneshot::Receiver<Result<Reply>>),
}

/// A single request counted in flight on its show until dropped.
pub(crate) struct InFlight<'a> {
    lane: &'a Lane,
    show: ShowId,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        call_returned(&self.lane.shared, self.show);
    }
}

impl Coalescer {
    /// The lanes of an inventory (no task runs until a request waits).
    pub(crate) fn new(conn: Conn, config: Config, settings: Coalescing) -> Self {
        let counters = Arc::new(Counters::default());
        Coalescer {
            holds: Lane::new(conn.clone(), config, settings, Kind::Hold, counters.clone()),
            releases: Lane::new(conn, config, settings, Kind::Release, counters.clone()),
            counters,
        }
    }

    /// The settings the lanes batch by.
    pub(crate) fn settings(&self) -> Coalescing {
        self.holds.shared.settings
    }

    pub(crate) fn stats(&self) -> CoalesceStats {
        let c = &self.counters;
        CoalesceStats {
            batches: c.batches.load(Ordering::Relaxed),
            requests: c.requests.load(Ordering::Relaxed),
            largest: c.largest.load(Ordering::Relaxed),
            peak_in_flight: c.peak_in_flight.load(Ordering::Relaxed),
        }
    }
}

impl Lane {
    fn new(conn: Conn, config: Config, settings: Coalescing, kind: Kind, counters: Arc<Counters>) -> Self {
        let shows = Mutex::new(HashMap::new());
        Lane { shared: Arc::new(Shared { settings, shows, counters, conn, config, kind }) }
    }

    /// Admits a request on `show`: at once while the show has fewer than
    /// `max_in_flight` calls in flight and nobody waits before it, else
    /// waiting (as the job `job` makes) for a batch.
    pub(crate) fn admit(&self, show: ShowId, job: impl FnOnce(oneshot::Sender<Result<Reply>>) -> Job) -> Admission<'_> {
        let mut shows = self.shared.shows();
        let lane = shows.entry(show).or_default();
        if lane.in_flight < self.shared.settings.max_in_flight && lane.waiting.is_empty() {
            self.shared.start_call(lane);
            return Admission::Direct { _in_flight: InFlight { lane: self, show } };
        }
        // Whoever returns next (a call of this show is in flight) sends it.
        let (tx, rx) = oneshot::channel();
        lane.waiting.push_back(job(tx));
        Admission::Wait(rx)
    }
}

/// The answer of a request that waited for a batch.
pub(crate) async fn answer(rx: oneshot::Receiver<Result<Reply>>) -> Result<Reply> {
    // Dropped unanswered: its batch's runtime stopped; the batch may have
    // run.
    rx.await.map_err(|_| InventoryError::OutcomeUnknown("the batch's runtime stopped".into()))?
}

/// Sends one batch (all jobs of one show) and answers each job.
///
/// The `EVALSHA` is built here rather than through `redis::Script`, which
/// would copy every argument once more: this is the hot path under load.
/// As there, a `NOSCRIPT` answer (the batch did not run) loads the script
/// and sends the batch again.
async fn run_batch(shared: &Shared, jobs: Vec<Job>) {
    let (mut conn, config, kind) = (shared.conn.clone(), shared.config, shared.kind);
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
            cmd.arg(7 + jobs.len());
            cmd.arg(&k.meta).arg(&k.seats).arg(&k.seat_expiry).arg(&k.pool_holds).arg(&k.feed).arg(&k.free);
            cmd.arg(&k.owner_sold);
            for j in &jobs {
                cmd.arg(k.owner(j.owner));
            }
            let index_ttl = if config.keep_owner_index { 0 } else { policy.max_hold_millis() };
            cmd.arg(policy.ttl_millis())
                .arg(policy.max_hold_millis())
                .arg(info.max_per_owner_arg())
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
        cmd.arg(time_arg(j.now));
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
