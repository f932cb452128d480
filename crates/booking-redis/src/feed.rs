//! The change feed: a Redis Stream per show, tailed with `XREAD BLOCK`.
//!
//! Every script that changes a show appends one entry to the show's stream
//! in the same atomic step (`XADD ... MAXLEN ~ n`), numbered by a per-show
//! counter in field `n`. An entry is one event, or, written by a batch
//! script (request coalescing), `c` events of one kind numbered from `n`
//! on, whose holds, items and versions fields list one value per event,
//! separated by `;`. A subscriber reads from the entry that was last
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

use crate::codec::{bad, bytes, int};
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
            Some(entry) => (entry.id.clone(), seq(entry)? + count(entry)? - 1),
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
        let count = count(entry)?;
        if n > self.last_n + 1 {
            self.pending.push_back(Err(InventoryError::FeedLagged { missed: n - self.last_n - 1 }));
        }
        self.last_n = n + count - 1;
        self.last_id = entry.id.clone();
        for change in changes(self.show, entry, count)? {
            self.pending.push_back(Ok(change));
        }
        Ok(())
    }
}

fn field<'a>(entry: &'a StreamId, name: &str) -> Result<&'a [u8], InventoryError> {
    entry.map.get(name).and_then(bytes).ok_or_else(|| bad(format!("feed entry {} lacks {name}", entry.id)))
}

fn seq(entry: &StreamId) -> Result<u64, InventoryError> {
    entry.map.get("n").and_then(int).map(|n| n as u64).ok_or_else(|| bad(format!("feed entry {} lacks n", entry.id)))
}

/// The number of events in an entry: its `c`, 1 when absent.
fn count(entry: &StreamId) -> Result<u64, InventoryError> {
    match entry.map.get("c") {
        None => Ok(1),
        Some(v) => {
            int(v).filter(|&c| c >= 1).map(|c| c as u64).ok_or_else(|| bad(format!("feed entry {} count", entry.id)))
        }
    }
}

/// The `count` events of an entry: kind and order shared, holds, items and
/// versions one per event (`;`-separated when there are several).
fn changes(show: ShowId, entry: &StreamId, count: u64) -> Result<Vec<SeatChange>, InventoryError> {
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
    let order = parse_hex(field(entry, "o")?).map(OrderId::from_u128);
    let holds = parts(field(entry, "h")?, count);
    let items = parts(field(entry, "i")?, count);
    let versions = parts(field(entry, "v")?, count);
    let (Some(holds), Some(items), Some(versions)) = (holds, items, versions) else {
        return Err(bad(format!("feed entry {} does not list {count} events", entry.id)));
    };
    let mut out = Vec::with_capacity(holds.len());
    for ((hold, items), version) in holds.into_iter().zip(items).zip(versions) {
        let hold = parse_hex(hold).map(HoldId::from_u128);
        let items = crate::codec::items(items).ok_or_else(|| bad("feed items"))?;
        let version =
            std::str::from_utf8(version).ok().and_then(|v| v.parse().ok()).ok_or_else(|| bad("feed version"))?;
        out.push(SeatChange { show, kind, hold, order, items, version });
    }
    Ok(out)
}

/// `field` split into its `count` `;`-separated values (the whole field
/// when `count` is 1), or None when it holds another number of them.
fn parts(field: &[u8], count: u64) -> Option<Vec<&[u8]>> {
    if count == 1 {
        return Some(vec![field]);
    }
    let parts: Vec<&[u8]> = field.split(|&b| b == b';').collect();
    (parts.len() as u64 == count).then_some(parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis::Value;

    fn entry(fields: &[(&str, &str)]) -> StreamId {
        StreamId {
            id: "1-0".to_owned(),
            map: fields.iter().map(|(k, v)| ((*k).to_owned(), Value::BulkString(v.as_bytes().to_vec()))).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn an_entry_of_several_events_reads_as_each_of_them() {
        let (h1, h2) = (format!("{:032x}", 7u128), format!("{:032x}", 9u128));
        let show = ShowId::from_u128(1);
        let e = entry(&[
            ("n", "4"),
            ("c", "2"),
            ("k", "released"),
            ("h", &format!("{h1};{h2}")),
            ("o", ""),
            ("i", "s:1,2;s:5"),
            ("v", "3;8"),
        ]);
        assert_eq!(count(&e).expect("count"), 2);
        let got = changes(show, &e, 2).expect("changes");
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].hold, got[0].version, got[0].kind), (Some(HoldId::from_u128(7)), 3, ChangeKind::Released));
        assert_eq!(
            got[0].items,
            booking_core::HoldItems::Seats(vec![booking_core::SeatId(1), booking_core::SeatId(2)])
        );
        assert_eq!((got[1].hold, got[1].version, got[1].order), (Some(HoldId::from_u128(9)), 8, None));
        assert_eq!(got[1].items, booking_core::HoldItems::Seats(vec![booking_core::SeatId(5)]));
        // A single event: no `c`, the fields as they are.
        let one = entry(&[("n", "1"), ("k", "held"), ("h", &h1), ("o", ""), ("i", "s:3"), ("v", "1")]);
        assert_eq!(count(&one).expect("count"), 1);
        assert_eq!(changes(show, &one, 1).expect("changes").len(), 1);
        // A count the lists do not match is malformed.
        assert!(changes(show, &e, 3).is_err());
    }
}
