//! The change feed: an outbox table tailed by one reader task per
//! inventory, in commit order.
//!
//! Every change writes a row to `booking.changes` in its own transaction,
//! with the id of that transaction. A position in the feed is a PostgreSQL
//! snapshot (`pg_current_snapshot()`): the transactions that had committed
//! when it was taken. The reader keeps one position and, on each read, takes
//! a new one and fetches the rows whose transaction is visible in the new
//! position and not in the old: the changes committed in between
//! (`booking.feed_read` in the migrations). A transaction still in flight at
//! a position is not visible in it, so its changes come with the first read
//! after it commits, whatever stamp it drew and however long it ran: no
//! change is skipped. Positions and reads are plain reads, so polling
//! allocates no transaction id.
//!
//! A subscriber's stream starts from a position taken after it registered:
//! it gets every change not visible in that position, so a snapshot of the
//! show read after `subscribe` returned, plus the stream, misses nothing. A
//! change the snapshot already shows may come on the stream too; its version
//! says so.
//!
//! Changes to one seat (or pool) come in commit order; changes committed in
//! one interval between two positions come in stamp order.
//!
//! When [`PgInventory::prune_changes`](crate::PgInventory::prune_changes)
//! deleted rows the reader had not read yet, every subscriber that could
//! have needed them gets [`InventoryError::FeedLagged`] (see
//! `booking.feed_pruned`), and the stream goes on.

use crate::db::{self, Backoff, Conns};
use booking_core::{
    ChangeKind, ChangeStream, HoldId, HoldItems, InventoryError, OrderId, PoolId, SeatChange, SeatId, ShowId,
};
use sqlx::Row;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{Notify, broadcast};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

/// Changes read per query.
const PAGE: i32 = 1_000;

/// What the reader hands to a show's subscribers.
#[derive(Clone, Debug)]
enum Item {
    /// A change, with the transaction that made it.
    Change { xid: u64, change: SeatChange },
    /// A prune (transaction `pruned_by`) deleted changes before the reader
    /// read them.
    Lost { pruned_by: u64 },
}

/// A position in the feed: a PostgreSQL snapshot (`xmin:xmax:xip,...`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Position {
    text: String,
    xmin: u64,
    xmax: u64,
    /// Transactions in flight when it was taken, ascending.
    xip: Vec<u64>,
}

impl Position {
    /// Parses `pg_snapshot`'s text form.
    pub(crate) fn parse(text: &str) -> Result<Self, InventoryError> {
        let bad = || InventoryError::Backend(format!("malformed snapshot {text:?}").into());
        let mut parts = text.split(':');
        let num = |s: Option<&str>| s.and_then(|s| s.trim().parse::<u64>().ok()).ok_or_else(bad);
        let xmin = num(parts.next())?;
        let xmax = num(parts.next())?;
        let mut xip = Vec::new();
        for x in parts.next().ok_or_else(bad)?.split(',').filter(|x| !x.is_empty()) {
            xip.push(x.trim().parse::<u64>().map_err(|_| bad())?);
        }
        if parts.next().is_some() {
            return Err(bad());
        }
        xip.sort_unstable();
        Ok(Position { text: text.to_owned(), xmin, xmax, xip })
    }

    /// Whether transaction `xid` had ended when this position was taken
    /// (`pg_visible_in_snapshot`): its changes are visible in it.
    pub(crate) fn sees(&self, xid: u64) -> bool {
        xid < self.xmin || (xid < self.xmax && self.xip.binary_search(&xid).is_err())
    }
}

/// The feed of one inventory.
#[derive(Debug)]
pub(crate) struct Feed {
    shared: Arc<Shared>,
    /// Serialises subscribes: a reader started by one subscriber starts from
    /// that subscriber's position, which must not be later than the position
    /// of another subscriber that registered at the same time.
    gate: tokio::sync::Mutex<()>,
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
    shows: HashMap<ShowId, broadcast::Sender<Item>>,
    /// A reader task is running. Set only by the subscriber that starts it,
    /// cleared only by the reader itself in the same critical section in
    /// which it finds no subscriber and stops: never two readers at once.
    running: bool,
    /// Reader tasks started and not yet stopped (0 or 1).
    readers: usize,
}

/// The window a reader is reading: changes not visible in its position and
/// visible in `upto`.
#[derive(Debug, Default)]
struct Window {
    /// The window's upper position, once the first page has fixed it.
    upto: Option<Position>,
    /// The shows of the page being read, and the last stamp delivered.
    shows: Vec<uuid::Uuid>,
    after: i64,
    /// Shows whose changes of this window are all delivered.
    done: HashSet<uuid::Uuid>,
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
            gate: tokio::sync::Mutex::new(()),
        }
    }

    /// Tells the reader that this process just committed a change, so that
    /// local subscribers hear of it without waiting for the next poll.
    pub(crate) fn poke(&self) {
        if self.shared.lock().running {
            self.shared.wake.notify_one();
        }
    }

    /// Reader tasks running (0 or 1).
    #[cfg(feature = "testkit")]
    pub(crate) fn readers(&self) -> usize {
        self.shared.lock().readers
    }

    /// Subscribes to a show's changes committed from now on.
    pub(crate) async fn subscribe(&self, show: ShowId) -> Result<ChangeStream, InventoryError> {
        let _gate = self.gate.lock().await;
        // Register first, then take the position: every change not visible
        // in the position is handed out after this receiver exists (the
        // reader's next window starts at or before it).
        let rx = {
            let mut st = self.shared.lock();
            let capacity = self.shared.capacity;
            st.shows.entry(show).or_insert_with(|| broadcast::channel(capacity).0).subscribe()
        };
        let from = position(&self.shared.pool, &self.shared.backoff).await?;
        let start = {
            let mut st = self.shared.lock();
            if st.running {
                false
            } else {
                st.running = true;
                st.readers += 1;
                true
            }
        };
        if start {
            let shared = self.shared.clone();
            let cursor = from.clone();
            tokio::spawn(async move { shared.run(cursor).await });
        } else {
            self.shared.wake.notify_one();
        }
        let stream = BroadcastStream::new(rx).filter_map(move |item| match item {
            Ok(Item::Change { xid, change }) if !from.sees(xid) => Some(Ok(change)),
            // Committed before this subscriber's position: the show's
            // snapshot read after it already shows it.
            Ok(Item::Change { .. }) => None,
            // A prune visible in the position deleted only changes visible in
            // it (they had committed before the prune read them).
            Ok(Item::Lost { pruned_by }) if !from.sees(pruned_by) => {
                Some(Err(InventoryError::FeedLagged { missed: 0 }))
            }
            Ok(Item::Lost { .. }) => None,
            Err(BroadcastStreamRecvError::Lagged(missed)) => Some(Err(InventoryError::FeedLagged { missed })),
        });
        Ok(Box::pin(stream))
    }
}

/// The current position (`booking.feed_position()`).
async fn position(pool: &Conns, backoff: &Backoff) -> Result<Position, InventoryError> {
    let row = db::fetch_one(pool, backoff, false, || sqlx::query("SELECT booking.feed_position()"))
        .await
        .map_err(InventoryError::from)?;
    Position::parse(&row.try_get::<String, _>(0).map_err(db::backend)?)
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The shows someone listens to. When there are none, the reader stops:
    /// `running` is cleared here and nowhere else, under the same lock a
    /// subscriber registers under, so a subscriber either is seen here or
    /// starts a new reader after this one stopped.
    fn listened_or_stop(&self) -> Option<Vec<uuid::Uuid>> {
        let mut st = self.lock();
        st.shows.retain(|_, tx| tx.receiver_count() > 0);
        if st.shows.is_empty() {
            st.running = false;
            st.readers -= 1;
            None
        } else {
            Some(st.shows.keys().map(|s| s.0).collect())
        }
    }

    /// The shows someone listens to now.
    fn listened(&self) -> Vec<uuid::Uuid> {
        let st = self.lock();
        st.shows.iter().filter(|(_, tx)| tx.receiver_count() > 0).map(|(s, _)| s.0).collect()
    }

    async fn run(self: Arc<Self>, mut cursor: Position) {
        let mut window = Window::default();
        // The prune last reported per show, so that one prune seen in two
        // windows is reported once.
        let mut reported: HashMap<uuid::Uuid, u64> = HashMap::new();
        loop {
            if self.listened_or_stop().is_none() {
                return;
            }
            match self.read(&cursor, &mut window, &mut reported).await {
                Ok(()) => {
                    if let Some(upto) = window.upto.take() {
                        cursor = upto;
                    }
                    window = Window::default();
                }
                Err(_) => {
                    // Keep the window: it is read on from where it stopped.
                    tokio::time::sleep(self.poll).await;
                    continue;
                }
            }
            let _ = tokio::time::timeout(self.poll, self.wake.notified()).await;
        }
    }

    /// Reads the window after `cursor` for every listened show and hands
    /// the changes out.
    ///
    /// The first page fixes the window's upper position. The shows are read
    /// again once every page is in: a show subscribed to between the first
    /// read of the list and the upper position is then read for the same
    /// window (its subscriber's position may be earlier than the upper
    /// position, so it needs these changes).
    async fn read(
        &self,
        cursor: &Position,
        w: &mut Window,
        reported: &mut HashMap<uuid::Uuid, u64>,
    ) -> Result<(), InventoryError> {
        loop {
            if w.shows.is_empty() {
                let fresh: Vec<uuid::Uuid> = self.listened().into_iter().filter(|s| !w.done.contains(s)).collect();
                if fresh.is_empty() {
                    return Ok(());
                }
                w.shows = fresh;
                w.after = i64::MIN;
            }
            let upto = w.upto.as_ref().map(|p| p.text.clone());
            let rows = db::fetch_all(&self.pool, &self.backoff, false, || {
                sqlx::query(
                    "SELECT kind, show, stamp, xid, hold, order_id, pool, seats, quantity, version, upto \
                     FROM booking.feed_read($1, $2, $3, $4, $5)",
                )
                .bind(w.shows.clone())
                .bind(cursor.text.clone())
                .bind(upto.clone())
                .bind(w.after)
                .bind(PAGE)
            })
            .await
            .map_err(InventoryError::from)?;
            let mut changes = 0;
            for row in &rows {
                let kind: i16 = row.try_get("kind").map_err(db::backend)?;
                match kind {
                    -1 => {
                        if w.upto.is_none() {
                            let text: String = row.try_get("upto").map_err(db::backend)?;
                            w.upto = Some(Position::parse(&text)?);
                        }
                    }
                    -2 => {
                        let show: uuid::Uuid = row.try_get("show").map_err(db::backend)?;
                        let pruned_by = row.try_get::<i64, _>("xid").map_err(db::backend)? as u64;
                        if reported.insert(show, pruned_by) != Some(pruned_by) {
                            self.send(ShowId(show), Item::Lost { pruned_by });
                        }
                    }
                    _ => {
                        changes += 1;
                        let (stamp, xid, change) = decode(row)?;
                        w.after = stamp;
                        self.send(change.show, Item::Change { xid, change });
                    }
                }
            }
            if changes < PAGE {
                w.done.extend(w.shows.drain(..));
            }
        }
    }

    fn send(&self, show: ShowId, item: Item) {
        if let Some(tx) = self.lock().shows.get(&show) {
            let _ = tx.send(item);
        }
    }
}

fn decode(row: &sqlx::postgres::PgRow) -> Result<(i64, u64, SeatChange), InventoryError> {
    let e = db::backend;
    let show: uuid::Uuid = row.try_get("show").map_err(e)?;
    let stamp: i64 = row.try_get("stamp").map_err(e)?;
    let xid: i64 = row.try_get("xid").map_err(e)?;
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
        xid.max(0) as u64,
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

#[cfg(test)]
mod tests {
    use super::Position;

    #[test]
    fn positions_parse_and_see_ended_transactions() {
        let p = Position::parse("10:20:12,15").unwrap();
        assert!(p.sees(9), "below xmin: ended");
        assert!(!p.sees(12) && !p.sees(15), "in flight");
        assert!(p.sees(13) && p.sees(19));
        assert!(!p.sees(20) && !p.sees(25), "not yet ended");
        let empty = Position::parse("7:7:").unwrap();
        assert!(empty.sees(6) && !empty.sees(7));
        assert!(Position::parse("7:").is_err());
        assert!(Position::parse("a:b:").is_err());
    }
}
