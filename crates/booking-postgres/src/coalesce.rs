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

/// One queued hold.
pub(crate) struct HoldJob {
    pub show: Uuid,
    pub owner: Uuid,
    pub hold: Uuid,
    pub seats: Vec<i32>,
    pub now: Option<i64>,
    pub reply: Reply,
}

/// One queued release.
pub(crate) struct ReleaseJob {
    pub show: Uuid,
    pub owner: Uuid,
    pub hold: Uuid,
    pub version: i64,
    pub seats: Vec<i32>,
    pub now: Option<i64>,
    pub reply: Reply,
}

/// The lanes of one inventory.
#[derive(Debug)]
pub(crate) struct Coalescer {
    holds: mpsc::UnboundedSender<HoldJob>,
    releases: mpsc::UnboundedSender<ReleaseJob>,
    holds_active: AtomicUsize,
    releases_active: AtomicUsize,
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
        let (holds, hold_rx) = mpsc::unbounded_channel();
        let (releases, release_rx) = mpsc::unbounded_channel();
        let p = pool.clone();
        tokio::spawn(lane(hold_rx, settings, move |jobs| run_holds(p.clone(), backoff, jobs)));
        tokio::spawn(lane(release_rx, settings, move |jobs| run_releases(pool.clone(), backoff, jobs)));
        Coalescer { holds, releases, holds_active: AtomicUsize::new(0), releases_active: AtomicUsize::new(0) }
    }

    /// Counts a seat hold in flight. True when another one already is: only
    /// then is it worth queueing; a lone request goes straight to the
    /// database and pays nothing for coalescing.
    pub(crate) fn enter_hold(&self) -> (Active<'_>, bool) {
        let before = self.holds_active.fetch_add(1, Ordering::SeqCst);
        (Active(&self.holds_active), before > 0)
    }

    /// As [`Coalescer::enter_hold`], for releases.
    pub(crate) fn enter_release(&self) -> (Active<'_>, bool) {
        let before = self.releases_active.fetch_add(1, Ordering::SeqCst);
        (Active(&self.releases_active), before > 0)
    }

    /// Queues a hold and waits for its answer.
    pub(crate) async fn hold(&self, job: impl FnOnce(Reply) -> HoldJob) -> Result<Outcome, Fail> {
        let (tx, rx) = oneshot::channel();
        self.holds.send(job(tx)).map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }

    /// Queues a release and waits for its answer.
    pub(crate) async fn release(&self, job: impl FnOnce(Reply) -> ReleaseJob) -> Result<Outcome, Fail> {
        let (tx, rx) = oneshot::channel();
        self.releases.send(job(tx)).map_err(|_| stopped())?;
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

/// Request order within a batch: by show and first seat, so that batches
/// lock rows in a similar order and rarely deadlock.
fn order<T>(jobs: &[T], key: impl Fn(&T) -> (Uuid, i32)) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..jobs.len()).collect();
    idx.sort_by_key(|&i| key(&jobs[i]));
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

async fn run_holds(pool: Arc<Conns>, backoff: Backoff, jobs: Vec<HoldJob>) {
    let idx = order(&jobs, |j| (j.show, j.seats.first().copied().unwrap_or(0)));
    let mut cols = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for &i in &idx {
        let j = &jobs[i];
        cols.0.push(j.show);
        cols.1.push(j.owner);
        cols.2.push(j.hold);
        cols.3.push(j.seats.len() as i32);
        cols.4.extend_from_slice(&j.seats);
        cols.5.push(j.now);
    }
    let rows = db::fetch_all(&pool, &backoff, true, || {
        sqlx::query(
            "SELECT code, version, held_until, renewals, n, seats \
             FROM booking.hold_seats_batch($1, $2, $3, $4, $5, $6)",
        )
        .bind(cols.0.clone())
        .bind(cols.1.clone())
        .bind(cols.2.clone())
        .bind(cols.3.clone())
        .bind(cols.4.clone())
        .bind(cols.5.clone())
    })
    .await;
    answer(jobs.into_iter().map(|j| j.reply).collect(), rows, &idx);
}

async fn run_releases(pool: Arc<Conns>, backoff: Backoff, jobs: Vec<ReleaseJob>) {
    let idx = order(&jobs, |j| (j.show, j.seats.first().copied().unwrap_or(0)));
    let mut cols = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for &i in &idx {
        let j = &jobs[i];
        cols.0.push(j.show);
        cols.1.push(j.owner);
        cols.2.push(j.hold);
        cols.3.push(j.version);
        cols.4.push(j.seats.len() as i32);
        cols.5.extend_from_slice(&j.seats);
        cols.6.push(j.now);
    }
    let rows = db::fetch_all(&pool, &backoff, true, || {
        sqlx::query(
            "SELECT code, version, held_until, renewals, n, seats \
             FROM booking.release_seats_batch($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(cols.0.clone())
        .bind(cols.1.clone())
        .bind(cols.2.clone())
        .bind(cols.3.clone())
        .bind(cols.4.clone())
        .bind(cols.5.clone())
        .bind(cols.6.clone())
    })
    .await;
    answer(jobs.into_iter().map(|j| j.reply).collect(), rows, &idx);
}
