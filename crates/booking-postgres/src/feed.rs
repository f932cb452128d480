//! The change feed: an outbox table tailed by one reader task per
//! inventory.
//!
//! Every change writes a row to `booking.changes` in its own transaction,
//! with a stamp drawn from a sequence after the change's row locks were
//! taken. Stamps alone leave gaps while transactions are in flight, so the
//! reader only reads up to a stamp once every transaction that could hold a
//! smaller one has ended (see `booking.feed_mark()` in the migrations).
//! Nothing is read twice or skipped, whatever the interleaving, and a
//! reader that loses its connection resumes from its cursor: no change is
//! lost across a reconnect.
//!
//! Changes to one seat (or pool) come in commit order. Changes to different
//! seats committed concurrently come in stamp order.

use crate::db::{self, Backoff, Conns};
use booking_core::{
    ChangeKind, ChangeStream, HoldId, HoldItems, InventoryError, OrderId, PoolId, SeatChange, SeatId, ShowId,
};
use sqlx::Row;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{Notify, broadcast};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

/// Changes read per query.
const PAGE: i64 = 1_000;

type Stamped = (i64, SeatChange);

/// The feed of one inventory.
#[derive(Debug)]
pub(crate) struct Feed {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    pool: Arc<Conns>,
    backoff: Backoff,
    poll: Duration,
    capacity: usize,
    wake: Notify,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    shows: HashMap<ShowId, broadcast::Sender<Stamped>>,
    running: bool,
}

impl Feed {
    pub(crate) fn new(pool: Arc<Conns>, backoff: Backoff, poll: Duration, capacity: usize) -> Self {
        Feed {
            shared: Arc::new(Shared {
                pool,
                backoff,
                poll,
                capacity,
                wake: Notify::new(),
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// Tells the reader that this process just committed a change, so that
    /// local subscribers hear of it without waiting for the next poll.
    pub(crate) fn poke(&self) {
        if self.shared.lock().running {
            self.shared.wake.notify_one();
        }
    }

    /// Subscribes to a show's changes committed from now on.
    pub(crate) async fn subscribe(&self, show: ShowId) -> Result<ChangeStream, InventoryError> {
        // Register first, then read the mark: every change with a stamp above
        // the mark is fetched after this receiver exists.
        let rx = {
            let mut st = self.shared.lock();
            let capacity = self.shared.capacity;
            st.shows.entry(show).or_insert_with(|| broadcast::channel(capacity).0).subscribe()
        };
        let from = mark(&self.shared.pool, &self.shared.backoff).await?.0;
        let start = {
            let mut st = self.shared.lock();
            if st.running {
                false
            } else {
                st.running = true;
                true
            }
        };
        if start {
            let shared = self.shared.clone();
            tokio::spawn(async move { shared.run(from).await });
        } else {
            self.shared.wake.notify_one();
        }
        let stream = BroadcastStream::new(rx).filter_map(move |item| match item {
            Ok((stamp, change)) if stamp > from => Some(Ok(change)),
            Ok(_) => None,
            Err(BroadcastStreamRecvError::Lagged(missed)) => Some(Err(InventoryError::FeedLagged { missed })),
        });
        Ok(Box::pin(stream))
    }
}

/// Reads `booking.feed_mark()`: (last stamp, fence, snapshot xmin).
async fn mark(pool: &Conns, backoff: &Backoff) -> Result<(i64, i64, i64), InventoryError> {
    let row = db::fetch_one(pool, backoff, false, || {
        sqlx::query("SELECT last_stamp, fence, snap_xmin FROM booking.feed_mark()")
    })
    .await
    .map_err(InventoryError::from)?;
    let get = |i: usize| row.try_get::<i64, _>(i).map_err(db::backend);
    Ok((get(0)?, get(1)?, get(2)?))
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The shows someone listens to; stops the reader when there are none.
    fn listened(&self) -> Option<Vec<uuid::Uuid>> {
        let mut st = self.lock();
        st.shows.retain(|_, tx| tx.receiver_count() > 0);
        if st.shows.is_empty() {
            st.running = false;
            None
        } else {
            Some(st.shows.keys().map(|s| s.0).collect())
        }
    }

    async fn run(self: Arc<Self>, mut cursor: i64) {
        // (last stamp, fence) marks not yet known to be complete.
        let mut pending: VecDeque<(i64, i64)> = VecDeque::new();
        let mut idle = Duration::from_millis(1);
        loop {
            if self.listened().is_none() {
                return;
            }
            let (last, fence, xmin) = match mark(&self.pool, &self.backoff).await {
                Ok(m) => m,
                Err(_) => {
                    tokio::time::sleep(self.poll).await;
                    continue;
                }
            };
            if pending.back().is_none_or(|&(l, _)| l < last) {
                pending.push_back((last, fence));
            }
            let mut upto = None;
            while let Some(&(l, x)) = pending.front() {
                if x > xmin {
                    break;
                }
                upto = Some(l);
                pending.pop_front();
            }
            if let Some(upto) = upto
                && upto > cursor
            {
                match self.deliver(cursor, upto).await {
                    Ok(()) => cursor = upto,
                    Err(_) => {
                        // Keep the cursor: the same range is read again.
                        pending.push_front((upto, xmin));
                        tokio::time::sleep(self.poll).await;
                        continue;
                    }
                }
            }
            if pending.is_empty() {
                idle = Duration::from_millis(1);
                let _ = tokio::time::timeout(self.poll, self.wake.notified()).await;
            } else {
                // Transactions are in flight: look again soon.
                tokio::time::sleep(idle).await;
                idle = (idle * 2).min(self.poll);
            }
        }
    }

    /// Reads the changes with stamps in (from, upto] of the listened shows
    /// and hands them to the subscribers.
    async fn deliver(&self, mut from: i64, upto: i64) -> Result<(), InventoryError> {
        loop {
            let Some(shows) = self.listened() else { return Ok(()) };
            let rows = db::fetch_all(&self.pool, &self.backoff, false, || {
                sqlx::query(
                    "SELECT show, stamp, kind, hold, order_id, pool, seats, quantity, version \
                     FROM booking.changes WHERE show = ANY($1) AND stamp > $2 AND stamp <= $3 \
                     ORDER BY stamp LIMIT $4",
                )
                .bind(shows.clone())
                .bind(from)
                .bind(upto)
                .bind(PAGE)
            })
            .await
            .map_err(InventoryError::from)?;
            let full = rows.len() as i64 == PAGE;
            for row in rows {
                let (stamp, change) = decode(&row)?;
                from = stamp;
                let st = self.lock();
                if let Some(tx) = st.shows.get(&change.show) {
                    let _ = tx.send((stamp, change));
                }
            }
            if !full {
                return Ok(());
            }
        }
    }
}

fn decode(row: &sqlx::postgres::PgRow) -> Result<Stamped, InventoryError> {
    let e = db::backend;
    let show: uuid::Uuid = row.try_get("show").map_err(e)?;
    let stamp: i64 = row.try_get("stamp").map_err(e)?;
    let kind: i16 = row.try_get("kind").map_err(e)?;
    let hold: Option<uuid::Uuid> = row.try_get("hold").map_err(e)?;
    let order: Option<uuid::Uuid> = row.try_get("order_id").map_err(e)?;
    let pool: Option<i32> = row.try_get("pool").map_err(e)?;
    let seats: Option<Vec<i32>> = row.try_get("seats").map_err(e)?;
    let quantity: i32 = row.try_get("quantity").map_err(e)?;
    let version: i64 = row.try_get("version").map_err(e)?;
    let kind = match kind {
        0 => ChangeKind::Held,
        1 => ChangeKind::Extended,
        2 => ChangeKind::Released,
        3 => ChangeKind::Expired,
        4 => ChangeKind::Sold,
        5 => ChangeKind::Refunded,
        6 => ChangeKind::Blocked,
        7 => ChangeKind::Unblocked,
        other => return Err(InventoryError::Backend(format!("unknown change kind {other}").into())),
    };
    let items = match (pool, seats) {
        (Some(pool), _) => HoldItems::Pool { pool: PoolId(pool as u32), quantity: quantity as u32 },
        (None, seats) => HoldItems::Seats(seats.unwrap_or_default().into_iter().map(|s| SeatId(s as u32)).collect()),
    };
    Ok((
        stamp,
        SeatChange {
            show: ShowId(show),
            kind,
            hold: hold.map(HoldId),
            order: order.map(OrderId),
            items,
            version: version as u64,
        },
    ))
}
