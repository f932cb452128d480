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
//! taken by a request sent alone and by each batch, and a task that takes
//! the queued requests (up to `max_batch`) as one batch whenever a permit
//! frees. Tokio's semaphore is fair: once a batch waits for a permit, a
//! request arriving later does not overtake it.

use crate::db::{self, Backoff, Conns, Fail};
use crate::outcome::{Outcome, routed};
use booking_core::Coalescing;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
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
    tx: mpsc::UnboundedSender<SeatJob>,
    slots: Arc<Semaphore>,
}

/// The lanes of one show.
#[derive(Debug)]
pub(crate) struct Coalescer {
    /// Seat holds.
    pub holds: Lane,
    /// Seat releases.
    pub releases: Lane,
}

impl Coalescer {
    /// Starts the lanes of a show whose rows live in partition `part` on
    /// the current tokio runtime.
    pub(crate) fn start(pool: Arc<Conns>, backoff: Backoff, settings: Coalescing, part: Option<u8>) -> Self {
        Coalescer {
            holds: Lane::start(pool.clone(), backoff, settings, Kind::Hold, part),
            releases: Lane::start(pool, backoff, settings, Kind::Release, part),
        }
    }
}

impl Lane {
    fn start(pool: Arc<Conns>, backoff: Backoff, settings: Coalescing, kind: Kind, part: Option<u8>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let slots = Arc::new(Semaphore::new(settings.max_in_flight.max(1)));
        tokio::spawn(lane(rx, slots.clone(), settings, move |jobs| run_batch(pool.clone(), backoff, kind, part, jobs)));
        Lane { tx, slots }
    }

    /// A call slot when fewer than `max_in_flight` calls are in flight (and
    /// no batch waits for one): the request is then sent alone, holding the
    /// slot until it returns. `None`: it is to be queued ([`Lane::send`]).
    pub(crate) fn enter(&self) -> Option<OwnedSemaphorePermit> {
        self.slots.clone().try_acquire_owned().ok()
    }

    /// Queues a request and waits for its answer.
    pub(crate) async fn send(&self, job: impl FnOnce(Reply) -> SeatJob) -> Result<Outcome, Fail> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(job(tx)).map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }
}

fn stopped() -> Fail {
    Fail::Error(booking_core::InventoryError::Unavailable("the coalescing task stopped".into()))
}

async fn lane<J: Send + 'static, F, Fut>(
    mut rx: mpsc::UnboundedReceiver<J>,
    slots: Arc<Semaphore>,
    settings: Coalescing,
    run: F,
) where
    F: Fn(Vec<J>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    loop {
        let Some(first) = rx.recv().await else { return };
        // Waits for a call to return; the requests queued meanwhile join.
        let Ok(permit) = slots.clone().acquire_owned().await else { return };
        let mut batch = vec![first];
        while batch.len() < settings.max_batch {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let work = run(batch);
        tokio::spawn(async move {
            work.await;
            drop(permit);
        });
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

async fn run_batch(pool: Arc<Conns>, backoff: Backoff, kind: Kind, part: Option<u8>, mut jobs: Vec<SeatJob>) {
    if jobs.len() == 1
        && let Some(j) = jobs.pop()
    {
        // A batch of one goes as the single call: the batch functions' fixed
        // cost (statements set up for any number of requests) is several
        // times a single request's (see BENCHMARKS.md).
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

    /// `max_in_flight` counts calls, single or batched: with every slot
    /// taken by requests sent alone, queued requests wait, and go together
    /// (at most `max_batch`) once a call returns.
    #[tokio::test]
    async fn a_batch_waits_for_a_call_to_return_and_takes_the_queue() {
        let settings = Coalescing { max_batch: 3, max_in_flight: 2 };
        let slots = Arc::new(Semaphore::new(settings.max_in_flight));
        let alone = [slots.clone().try_acquire_owned().ok(), slots.clone().try_acquire_owned().ok()];
        assert!(alone.iter().all(Option::is_some), "two requests go alone");
        assert!(slots.clone().try_acquire_owned().is_err(), "a third is queued");
        let (tx, rx) = mpsc::unbounded_channel::<u32>();
        let (done, mut batches) = mpsc::unbounded_channel::<Vec<u32>>();
        tokio::spawn(lane(rx, slots.clone(), settings, move |jobs| {
            let done = done.clone();
            async move {
                let _ = done.send(jobs);
            }
        }));
        for job in 0..5 {
            tx.send(job).expect("lane running");
        }
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
        assert!(batches.try_recv().is_err(), "no batch while max_in_flight calls are in flight");
        let [first, _second] = alone;
        drop(first);
        assert_eq!(batches.recv().await, Some(vec![0, 1, 2]));
        assert_eq!(batches.recv().await, Some(vec![3, 4]));
    }
}
