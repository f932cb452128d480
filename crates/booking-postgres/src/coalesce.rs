//! Request coalescing: concurrent seat holds (and releases) are combined
//! into one statement and one commit, each caller still getting its own
//! all-or-nothing answer (see `booking.hold_seats_batch` in the
//! migrations).
//!
//! A request goes through a lane only while another request of its kind is
//! in flight; a lone request goes straight to the database.
//!
//! One lane per kind of request: a task takes whatever requests are queued
//! (up to `max_batch`) and runs them as one batch, with up to `in_flight`
//! batches at once. Under light load a batch is a single request; under
//! load, requests queue while batches run and the next batch takes them
//! all.

use crate::Outcome;
use crate::db::{self, Backoff, Conns, Fail};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::{Semaphore, mpsc, oneshot};
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

/// The queue of one kind of request, and how many of them are in flight.
#[derive(Debug)]
pub(crate) struct Lane {
    tx: mpsc::UnboundedSender<SeatJob>,
    active: AtomicUsize,
}

/// The lanes of one inventory.
#[derive(Debug)]
pub(crate) struct Coalescer {
    /// Seat holds.
    pub holds: Lane,
    /// Seat releases.
    pub releases: Lane,
}

/// A request counted as in flight until dropped.
pub(crate) struct Active<'a>(&'a AtomicUsize);

impl Drop for Active<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Settings of the lanes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Settings {
    pub max_batch: usize,
    pub in_flight: usize,
}

impl Coalescer {
    /// Starts the lanes on the current tokio runtime.
    pub(crate) fn start(pool: Arc<Conns>, backoff: Backoff, settings: Settings) -> Self {
        Coalescer {
            holds: Lane::start(pool.clone(), backoff, settings, Kind::Hold),
            releases: Lane::start(pool, backoff, settings, Kind::Release),
        }
    }
}

impl Lane {
    fn start(pool: Arc<Conns>, backoff: Backoff, settings: Settings, kind: Kind) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(lane(rx, settings, move |jobs| run_batch(pool.clone(), backoff, kind, jobs)));
        Lane { tx, active: AtomicUsize::new(0) }
    }

    /// Counts a request in flight. True when another one already is: only
    /// then is it worth queueing; a lone request goes straight to the
    /// database and pays nothing for coalescing.
    pub(crate) fn enter(&self) -> (Active<'_>, bool) {
        let before = self.active.fetch_add(1, Ordering::SeqCst);
        (Active(&self.active), before > 0)
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

async fn lane<J: Send + 'static, F, Fut>(mut rx: mpsc::UnboundedReceiver<J>, settings: Settings, run: F)
where
    F: Fn(Vec<J>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(settings.in_flight.max(1)));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else { return };
        let Some(first) = rx.recv().await else { return };
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
                    let _ = reply.send(Outcome::decode(row).map_err(Fail::Error));
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

async fn run_batch(pool: Arc<Conns>, backoff: Backoff, kind: Kind, jobs: Vec<SeatJob>) {
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
            Kind::Hold => sqlx::query(
                "SELECT code, version, held_until, renewals, n, seats \
                 FROM booking.hold_seats_batch($1, $2, $3, $4, $5, $6)",
            ),
            Kind::Release => sqlx::query(
                "SELECT code, version, held_until, renewals, n, seats \
                 FROM booking.release_seats_batch($1, $2, $3, $4, $5, $6, $7)",
            ),
        };
        let q = q.bind(show.clone()).bind(owner.clone()).bind(hold.clone());
        let q = if kind == Kind::Release { q.bind(version.clone()) } else { q };
        q.bind(n.clone()).bind(seats.clone()).bind(now.clone())
    })
    .await;
    answer(jobs.into_iter().map(|j| j.reply).collect(), rows, &idx);
}
