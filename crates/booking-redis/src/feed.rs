//! The change feed: a Redis Stream per show, tailed with `XREAD BLOCK`.
//!
//! Every script that changes a show appends one entry to the show's stream
//! in the same atomic step (`XADD ... MAXLEN ~ n`), numbered by a per-show
//! counter in field `n`. A subscriber reads from the entry that was last
//! when it subscribed, on a connection of its own (a blocking read would
//! stall every other request multiplexed on a shared connection). When the
//! next entry it reads is not numbered one past the last it saw, the
//! stream was trimmed past it: it yields `FeedLagged { missed }` and goes
//! on with the oldest entry still there.
//!
//! On a Redis Cluster the subscriber's connection is a Cluster connection
//! of its own: `XREVRANGE` and `XREAD ... STREAMS <key>` are routed by the
//! stream's key, which carries the show's hash tag, so the subscriber reads
//! from the master that owns the show.

use crate::codec::{bad, bytes, int, items};
use crate::conn::Conn;
use crate::error::{Effect, from_redis};
use crate::keys::parse_hex;
use booking_core::{ChangeKind, ChangeStream, HoldId, InventoryError, OrderId, SeatChange, ShowId};
use redis::streams::{StreamId, StreamRangeReply, StreamReadReply};
use std::collections::VecDeque;
use std::time::Duration;

/// Entries read per round trip.
const BATCH: usize = 512;

pub(crate) struct Tail {
    conn: Conn,
    key: String,
    show: ShowId,
    last_id: String,
    last_n: u64,
    block: Duration,
    pending: VecDeque<Result<SeatChange, InventoryError>>,
    done: bool,
}

impl Tail {
    /// Starts tailing `key` after its current last entry.
    pub(crate) async fn start(
        mut conn: Conn,
        key: String,
        show: ShowId,
        block: Duration,
    ) -> Result<Tail, InventoryError> {
        let last: StreamRangeReply = redis::cmd("XREVRANGE")
            .arg(&key)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut conn)
            .await
            .map_err(|e| from_redis(e, Effect::Read))?;
        let (last_id, last_n) = match last.ids.first() {
            Some(entry) => (entry.id.clone(), seq(entry)?),
            None => ("0-0".to_owned(), 0),
        };
        Ok(Tail { conn, key, show, last_id, last_n, block, pending: VecDeque::new(), done: false })
    }

    /// The tail as a stream of changes.
    pub(crate) fn into_stream(self) -> ChangeStream {
        Box::pin(futures_util::stream::unfold(self, |mut tail| async move {
            let next = tail.next().await?;
            Some((next, tail))
        }))
    }

    async fn next(&mut self) -> Option<Result<SeatChange, InventoryError>> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Some(item);
            }
            if self.done {
                return None;
            }
            let read: Result<Option<StreamReadReply>, _> = redis::cmd("XREAD")
                .arg("COUNT")
                .arg(BATCH)
                .arg("BLOCK")
                .arg(self.block.as_millis() as u64)
                .arg("STREAMS")
                .arg(&self.key)
                .arg(&self.last_id)
                .query_async(&mut self.conn)
                .await;
            match read {
                Ok(None) => continue,
                Ok(Some(reply)) => {
                    for entry in reply.keys.into_iter().flat_map(|k| k.ids) {
                        if let Err(e) = self.absorb(&entry) {
                            self.pending.push_back(Err(e));
                            self.done = true;
                            break;
                        }
                    }
                }
                Err(e) => {
                    // The connection is gone: report it and end the stream;
                    // the caller re-reads the snapshot and subscribes again.
                    self.done = true;
                    return Some(Err(from_redis(e, Effect::Read)));
                }
            }
        }
    }

    fn absorb(&mut self, entry: &StreamId) -> Result<(), InventoryError> {
        let n = seq(entry)?;
        if n > self.last_n + 1 {
            self.pending.push_back(Err(InventoryError::FeedLagged { missed: n - self.last_n - 1 }));
        }
        self.last_n = n;
        self.last_id = entry.id.clone();
        self.pending.push_back(Ok(change(self.show, entry)?));
        Ok(())
    }
}

fn field<'a>(entry: &'a StreamId, name: &str) -> Result<&'a [u8], InventoryError> {
    entry.map.get(name).and_then(bytes).ok_or_else(|| bad(format!("feed entry {} lacks {name}", entry.id)))
}

fn seq(entry: &StreamId) -> Result<u64, InventoryError> {
    entry.map.get("n").and_then(int).map(|n| n as u64).ok_or_else(|| bad(format!("feed entry {} lacks n", entry.id)))
}

fn change(show: ShowId, entry: &StreamId) -> Result<SeatChange, InventoryError> {
    let kind = match field(entry, "k")? {
        b"held" => ChangeKind::Held,
        b"extended" => ChangeKind::Extended,
        b"released" => ChangeKind::Released,
        b"expired" => ChangeKind::Expired,
        b"sold" => ChangeKind::Sold,
        b"refunded" => ChangeKind::Refunded,
        b"blocked" => ChangeKind::Blocked,
        b"unblocked" => ChangeKind::Unblocked,
        other => return Err(bad(format!("feed kind {}", String::from_utf8_lossy(other)))),
    };
    let hold = parse_hex(field(entry, "h")?).map(HoldId::from_u128);
    let order = parse_hex(field(entry, "o")?).map(OrderId::from_u128);
    let items = items(field(entry, "i")?).ok_or_else(|| bad("feed items"))?;
    let version = entry.map.get("v").and_then(int).ok_or_else(|| bad("feed version"))? as u64;
    Ok(SeatChange { show, kind, hold, order, items, version })
}
