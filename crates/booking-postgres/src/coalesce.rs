//! Request coalescing: concurrent seat holds (and releases) are combined
//! into one statement and one commit, each caller still getting its own
//! all-or-nothing answer (see `booking.hold_seats_batch` in the
//! migrations).
//!
//! When a request waits is [`booking_core::Coalescing`]'s one meaning: per
//! show and kind of request (seat holds, seat releases), a request is sent
//! at once, as the single function call, while fewer than `max_in_flight`
//! calls (single requests or batches) are in flight; beyond that it
//! waits, and the waiting requests go together as one batch of at most
//! `max_batch` when a call returns.
//!
//! One lane per show and kind: a semaphore of `max_in_flight` permits,
//! taken by a request sent alone and by each batch, and a queue of waiting
//! requests. A request queued while nobody drives the lane spawns a driver
//! task on its own tokio runtime, which takes the queued requests (up to
//! `max_batch`) as one batch whenever a permit frees, sends each batch as a
//! task of its own, and ends as soon as the queue is empty: no task runs
//! while nobody waits. Tokio's semaphore is fair: once the driver waits for
//! a permit, a request arriving later does not overtake it.
//!
//! A batch of fewer than [`MIN_BATCH`] requests that share no owner and no
//! seat goes as that many single calls at once (in its one call slot):
//! their answers do not depend on their order, and below that size the
//! batch functions cost more than the single calls.

use crate::db::{self, Backoff, Conns, Fail};
use crate::outcome::{Outcome, routed};
use booking_core::{Coalescing, InventoryError};
use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};
use uuid::Uuid;

type Reply = oneshot::Sender<Result<Outcome, Fail>>;

/// One queued hold or release.
pub(crate) struct SeatJob {
    pub show: Uuid,
    pub owner: Uuid,
    pub hold: Uuid,
    /// The token's version (releases only; holds leave it 0).
    pub version: i64,
    pub seats: Vec<i32>,
    pub now: Option<i64>,
    pub reply: Reply,
}

/// What a lane's batches do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Hold,
    Release,
}

/// The queue of one kind of request for one show, and its calls in flight.
#[derive(Debug)]
pub(crate) struct Lane {
    queue: Arc<Queue<SeatJob>>,
}

/// Sends one batch; the driver spawns the future it returns.
type Runner<J> = Box<dyn Fn(Vec<J>) -> BatchFuture + Send + Sync>;

type BatchFuture = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

/// The lanes of one show.
#[derive(Debug)]
pub(crate) struct Coalescer {
    /// Seat holds.
    pub holds: Lane,
    /// Seat releases.
    pub releases: Lane,
}

impl Coalescer {
    /// The lanes of a show whose rows live in partition `part` (no task
    /// runs until a request waits).
    pub(crate) fn new(pool: Arc<Conns>, backoff: Backoff, settings: Coalescing, part: Option<u8>) -> Self {
        Coalescer {
            holds: Lane::new(pool.clone(), backoff, settings, Kind::Hold, part),
            releases: Lane::new(pool, backoff, settings, Kind::Release, part),
        }
    }
}

impl Lane {
    fn new(pool: Arc<Conns>, backoff: Backoff, settings: Coalescing, kind: Kind, part: Option<u8>) -> Self {
        let run = move |jobs| -> BatchFuture { Box::pin(run_batch(pool.clone(), backoff, kind, part, jobs)) };
        Lane { queue: Arc::new(Queue::new(settings, Box::new(run))) }
    }

    /// A call slot when fewer than `max_in_flight` calls are in flight (and
    /// no batch waits for one): the request is then sent alone, holding the
    /// slot until it returns. `None`: it is to be queued ([`Lane::send`]).
    pub(crate) fn enter(&self) -> Option<OwnedSemaphorePermit> {
        self.queue.slots.clone().try_acquire_owned().ok()
    }

    /// Queues a request and waits for its answer.
    pub(crate) async fn send(&self, job: impl FnOnce(Reply) -> SeatJob) -> Result<Outcome, Fail> {
        let (tx, rx) = oneshot::channel();
        self.queue.push(job(tx))?;
        // Dropped unanswered: the batch's runtime stopped; it may have run.
        rx.await.map_err(|_| Fail::Error(InventoryError::OutcomeUnknown("the batch's runtime stopped".into())))?
    }
}

/// A queued request.
trait Waiter: Send + 'static {
    /// Answers a request that was never sent: `Unavailable`.
    fn not_sent(self);
}

impl Waiter for SeatJob {
    fn not_sent(self) {
        let _ = self.reply.send(Err(Fail::Error(InventoryError::Unavailable("the batch's runtime stopped".into()))));
    }
}

/// Waiting requests and the call slots of one lane.
struct Queue<J> {
    settings: Coalescing,
    slots: Arc<Semaphore>,
    waiting: Mutex<Waiting<J>>,
    run: Runner<J>,
}

impl<J> std::fmt::Debug for Queue<J> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue").field("settings", &self.settings).field("slots", &self.slots).finish_non_exhaustive()
    }
}

struct Waiting<J> {
    jobs: VecDeque<J>,
    /// Whether a driver task is running (it takes every queued job before
    /// it ends).
    driven: bool,
}

impl<J: Waiter> Queue<J> {
    fn new(settings: Coalescing, run: Runner<J>) -> Self {
        Queue {
            settings,
            slots: Arc::new(Semaphore::new(settings.max_in_flight.max(1))),
            waiting: Mutex::new(Waiting { jobs: VecDeque::new(), driven: false }),
            run,
        }
    }

    fn waiting(&self) -> MutexGuard<'_, Waiting<J>> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `job`, starting a driver on the current runtime when none
    /// runs. Errors (`Unavailable`: not sent) outside a tokio runtime.
    fn push(self: &Arc<Self>, job: J) -> Result<(), Fail> {
        let mut w = self.waiting();
        if w.driven {
            w.jobs.push_back(job);
            return Ok(());
        }
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| Fail::Error(InventoryError::Unavailable("no tokio runtime to send the batch on".into())))?;
        w.jobs.push_back(job);
        w.driven = true;
        drop(w);
        let driver = Driver { queue: self.clone(), ended: false };
        runtime.spawn(driver.drive());
        Ok(())
    }
}

/// A lane's driver: sends the queued requests as batches, one per free
/// call slot, until none is left.
struct Driver<J: Waiter> {
    queue: Arc<Queue<J>>,
    ended: bool,
}

impl<J: Waiter> Driver<J> {
    async fn drive(mut self) {
        loop {
            // Waits for a call to return; the requests queued meanwhile join.
            let Ok(permit) = self.queue.slots.clone().acquire_owned().await else { return };
            let batch: Vec<J> = {
                let mut w = self.queue.waiting();
                if w.jobs.is_empty() {
                    w.driven = false;
                    self.ended = true;
                    return;
                }
                let n = w.jobs.len().min(self.queue.settings.max_batch);
                w.jobs.drain(..n).collect()
            };
            let work = (self.queue.run)(batch);
            tokio::spawn(async move {
                work.await;
                drop(permit);
            });
        }
    }
}

impl<J: Waiter> Drop for Driver<J> {
    /// A driver dropped before the queue emptied (its runtime stopped): the
    /// requests still queued were never sent, and get `Unavailable`. (The
    /// requests of a batch whose task stopped may have run: dropped
    /// unanswered, they get `OutcomeUnknown`, see [`Lane::send`].)
    fn drop(&mut self) {
        if !self.ended {
            let jobs = {
                let mut w = self.queue.waiting();
                w.driven = false;
                std::mem::take(&mut w.jobs)
            };
            for job in jobs {
                job.not_sent();
            }
        }
    }
}

/// Request order within a batch: grouped by show (the batch functions take
/// one show's requests together), shows in id order, and within a show in
/// order of arrival, which is the order the batch decides them in: a
/// request never loses a seat to one that came after it. (Deadlocks need no
/// help from this order: the batch functions lock all of a show's seats at
/// once, in seat order, before deciding anything, and the shows in this
/// order.)
fn order<T>(jobs: &[T], show: impl Fn(&T) -> Uuid) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..jobs.len()).collect();
    // Stable: arrival order is kept within a show.
    idx.sort_by_key(|&i| show(&jobs[i]));
    idx
}

fn answer(replies: Vec<Reply>, rows: Result<Vec<sqlx::postgres::PgRow>, Fail>, idx: &[usize]) {
    let mut replies: Vec<Option<Reply>> = replies.into_iter().map(Some).collect();
    match rows {
        Ok(rows) if rows.len() == idx.len() => {
            for (row, &i) in rows.iter().zip(idx) {
                if let Some(reply) = replies[i].take() {
                    let _ = reply.send(Outcome::decode(row));
                }
            }
        }
        Ok(_) => {
            for reply in replies.into_iter().flatten() {
                let _ = reply.send(Err(Fail::Error(booking_core::InventoryError::Backend(
                    "batch answered a different number of rows".into(),
                ))));
            }
        }
        Err(fail) => {
            for reply in replies.into_iter().flatten() {
                let _ = reply.send(Err(fail.share()));
            }
        }
    }
}

/// Below this many requests, a batch whose requests are independent goes as
/// that many single calls at once: the batch functions' fixed cost
/// (statements set up for any number of requests) is several times a
/// single request's, and a batch pays from about 6 requests on (see
/// BENCHMARKS.md).
const MIN_BATCH: usize = 6;

/// Whether no two of `jobs` name the same owner or the same seat: then
/// their answers do not depend on the order they are decided in, and they
/// may run as concurrent single calls.
fn independent(jobs: &[SeatJob]) -> bool {
    jobs.iter()
        .enumerate()
        .all(|(i, a)| jobs[i + 1..].iter().all(|b| a.owner != b.owner && a.seats.iter().all(|s| !b.seats.contains(s))))
}

/// Sends one request as the single function call and answers it.
async fn run_single(pool: Arc<Conns>, backoff: Backoff, kind: Kind, part: Option<u8>, j: SeatJob) {
    let out = Outcome::call(&pool, &backoff, || match kind {
        Kind::Hold => sqlx::query(routed!("hold_seats", "($1, $2, $3, $4, $5)").on(part))
            .bind(j.show)
            .bind(j.owner)
            .bind(j.hold)
            .bind(j.seats.clone())
            .bind(j.now),
        Kind::Release => sqlx::query(routed!("finish_seats", "($1, $2, $3, $4, $5, $6, NULL, NULL)").on(part))
            .bind(j.show)
            .bind(j.owner)
            .bind(j.hold)
            .bind(j.version)
            .bind(j.seats.clone())
            .bind(j.now),
    })
    .await;
    let _ = j.reply.send(out);
}

async fn run_batch(pool: Arc<Conns>, backoff: Backoff, kind: Kind, part: Option<u8>, mut jobs: Vec<SeatJob>) {
    if jobs.len() == 1
        && let Some(j) = jobs.pop()
    {
        return run_single(pool, backoff, kind, part, j).await;
    }
    if jobs.len() < MIN_BATCH && independent(&jobs) {
        // Each call a task of its own, so that they run at once; the batch
        // keeps its call slot until all have returned.
        let calls: Vec<_> =
            jobs.into_iter().map(|j| tokio::spawn(run_single(pool.clone(), backoff, kind, part, j))).collect();
        for call in calls {
            let _ = call.await;
        }
        return;
    }
    let idx = order(&jobs, |j| j.show);
    let (mut show, mut owner, mut hold, mut version, mut n, mut seats, mut now) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for &i in &idx {
        let j = &jobs[i];
        show.push(j.show);
        owner.push(j.owner);
        hold.push(j.hold);
        version.push(j.version);
        n.push(j.seats.len() as i32);
        seats.extend_from_slice(&j.seats);
        now.push(j.now);
    }
    let rows = db::fetch_all(&pool, &backoff, true, || {
        let q = match kind {
            Kind::Hold => sqlx::query(routed!("hold_seats_batch", "($1, $2, $3, $4, $5, $6)").on(part)),
            Kind::Release => sqlx::query(routed!("release_seats_batch", "($1, $2, $3, $4, $5, $6, $7)").on(part)),
        };
        let q = q.bind(show.clone()).bind(owner.clone()).bind(hold.clone());
        let q = if kind == Kind::Release { q.bind(version.clone()) } else { q };
        q.bind(n.clone()).bind(seats.clone()).bind(now.clone())
    })
    .await;
    answer(jobs.into_iter().map(|j| j.reply).collect(), rows, &idx);
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Waiter for u32 {
        fn not_sent(self) {}
    }

    /// `max_in_flight` counts calls, single or batched: with every slot
    /// taken by requests sent alone, queued requests wait, and go together
    /// (at most `max_batch`) once a call returns; the driver ends with the
    /// queue, and the next queued request starts another.
    #[tokio::test]
    async fn a_batch_waits_for_a_call_to_return_and_takes_the_queue() {
        let settings = Coalescing { max_batch: 3, max_in_flight: 2 };
        let (done, mut batches) = tokio::sync::mpsc::unbounded_channel::<Vec<u32>>();
        let run = move |jobs| -> BatchFuture {
            let done = done.clone();
            Box::pin(async move {
                let _ = done.send(jobs);
            })
        };
        let queue = Arc::new(Queue::<u32>::new(settings, Box::new(run)));
        let alone = [queue.slots.clone().try_acquire_owned().ok(), queue.slots.clone().try_acquire_owned().ok()];
        assert!(alone.iter().all(Option::is_some), "two requests go alone");
        assert!(queue.slots.clone().try_acquire_owned().is_err(), "a third is queued");
        for job in 0..5 {
            queue.push(job).expect("in a runtime");
        }
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
        assert!(batches.try_recv().is_err(), "no batch while max_in_flight calls are in flight");
        let [first, second] = alone;
        drop(first);
        assert_eq!(batches.recv().await, Some(vec![0, 1, 2]));
        assert_eq!(batches.recv().await, Some(vec![3, 4]));
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
        assert!(!queue.waiting().driven, "the driver ended with the queue");
        drop(second);
        queue.push(5).expect("in a runtime");
        assert_eq!(batches.recv().await, Some(vec![5]));
    }

    /// Requests may run as concurrent single calls only when no two share
    /// an owner or a seat.
    #[test]
    fn independent_requests_share_no_owner_and_no_seat() {
        let job = |owner: u128, seats: &[i32]| SeatJob {
            show: Uuid::nil(),
            owner: Uuid::from_u128(owner),
            hold: Uuid::new_v4(),
            version: 0,
            seats: seats.to_vec(),
            now: None,
            reply: oneshot::channel().0,
        };
        assert!(independent(&[job(1, &[1, 2]), job(2, &[3]), job(3, &[4, 5])]));
        assert!(!independent(&[job(1, &[1, 2]), job(2, &[3]), job(3, &[2])]), "seat 2 twice");
        assert!(!independent(&[job(1, &[1]), job(2, &[3]), job(1, &[4])]), "owner 1 twice");
        assert!(independent(&[job(1, &[1])]));
    }

    /// Outside a tokio runtime a request cannot be queued: `Unavailable`,
    /// nothing sent.
    #[test]
    fn queueing_outside_a_runtime_is_refused() {
        let run = |_jobs| -> BatchFuture { Box::pin(async {}) };
        let queue = Arc::new(Queue::<u32>::new(Coalescing { max_batch: 3, max_in_flight: 1 }, Box::new(run)));
        let res = queue.push(1);
        assert!(matches!(res, Err(Fail::Error(InventoryError::Unavailable(_)))));
        assert!(queue.waiting().jobs.is_empty());
    }
}
