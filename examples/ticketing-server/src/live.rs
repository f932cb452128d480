//! Live seat states: one change-feed subscription per show, shared by
//! every browser watching it, turned into per-seat events with ids a
//! browser can resume from (`Last-Event-ID`).
//!
//! An event id is `<hub>-<n>`: `hub` names this process's subscription
//! (random per start), `n` counts its events. The last [`BUFFER`] events
//! are kept; a browser resuming from one of them gets the events after it,
//! one resuming from anything else (an older event, another process) gets
//! a `reset` event: re-read `/seats`, whose `cursor` is the id to resume
//! from.

use booking_core::{ChangeKind, HoldItems, SeatInventory, ShowId};
use std::collections::{HashMap, VecDeque};
use std::future::poll_fn;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// Events kept per show for resuming.
pub const BUFFER: usize = 4096;

/// One seat's new state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeatEvent {
    /// The event's sequence number in its hub.
    pub seq: u64,
    /// The seat.
    pub seat: u32,
    /// Its state code: `a`, `h`, `s`, `b`.
    pub status: char,
}

/// What a subscriber receives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Live {
    /// A seat changed.
    Seat(SeatEvent),
    /// Events were missed: re-read the seat states.
    Reset,
}

#[derive(Debug)]
struct Hub {
    id: String,
    recent: Mutex<VecDeque<SeatEvent>>,
    next: Mutex<u64>,
    tx: broadcast::Sender<Live>,
}

impl Hub {
    fn push(&self, seat: u32, status: char) {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        *next += 1;
        let ev = SeatEvent { seq: *next, seat, status };
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        if recent.len() == BUFFER {
            recent.pop_front();
        }
        recent.push_back(ev.clone());
        let _ = self.tx.send(Live::Seat(ev));
    }

    fn last(&self) -> u64 {
        *self.next.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A subscription: the events to replay first, then the live channel.
#[derive(Debug)]
pub struct Subscription {
    /// The hub's id (the prefix of event ids).
    pub hub: String,
    /// Events after the resume point (or a `Reset`), to send first.
    pub backlog: Vec<Live>,
    /// Events from now on.
    pub rx: broadcast::Receiver<Live>,
}

/// The hubs of every watched show.
#[derive(Debug)]
pub struct Hubs {
    inventory: Arc<dyn SeatInventory>,
    hubs: tokio::sync::Mutex<HashMap<ShowId, Arc<Hub>>>,
}

/// The state code a change leaves its seats in.
pub fn status_after(kind: ChangeKind) -> char {
    match kind {
        ChangeKind::Held | ChangeKind::Extended => 'h',
        ChangeKind::Sold => 's',
        ChangeKind::Blocked => 'b',
        ChangeKind::Released | ChangeKind::Expired | ChangeKind::Refunded | ChangeKind::Unblocked => 'a',
    }
}

impl Hubs {
    /// No hub yet; each starts with its show's first subscriber.
    pub fn new(inventory: Arc<dyn SeatInventory>) -> Self {
        Hubs { inventory, hubs: tokio::sync::Mutex::new(HashMap::new()) }
    }

    async fn hub(&self, show: ShowId) -> Result<Arc<Hub>, booking_core::InventoryError> {
        let mut hubs = self.hubs.lock().await;
        if let Some(h) = hubs.get(&show) {
            return Ok(h.clone());
        }
        let mut feed = self.inventory.subscribe(show).await?;
        let (tx, _) = broadcast::channel(1024);
        let hub = Arc::new(Hub {
            id: format!("{:08x}", rand::random::<u32>()),
            recent: Mutex::new(VecDeque::new()),
            next: Mutex::new(0),
            tx,
        });
        let h = hub.clone();
        tokio::spawn(async move {
            while let Some(change) = poll_fn(|cx| feed.as_mut().poll_next(cx)).await {
                match change {
                    Ok(c) => {
                        if let HoldItems::Seats(seats) = &c.items {
                            for s in seats {
                                h.push(s.0, status_after(c.kind));
                            }
                        }
                    }
                    Err(_) => {
                        let _ = h.tx.send(Live::Reset);
                    }
                }
            }
        });
        hubs.insert(show, hub.clone());
        Ok(hub)
    }

    /// The id of the last event of `show`'s hub: where a reader of the
    /// seat states now should resume.
    pub async fn cursor(&self, show: ShowId) -> Result<String, booking_core::InventoryError> {
        let hub = self.hub(show).await?;
        Ok(format!("{}-{}", hub.id, hub.last()))
    }

    /// Subscribes to `show`, resuming after `last_event_id` when given.
    pub async fn subscribe(
        &self,
        show: ShowId,
        last_event_id: Option<&str>,
    ) -> Result<Subscription, booking_core::InventoryError> {
        let hub = self.hub(show).await?;
        // Subscribe first, then read the backlog: an event pushed between
        // the two is in both, and the stream drops the duplicate by seq.
        let rx = hub.tx.subscribe();
        let mut backlog = Vec::new();
        if let Some(last) = last_event_id {
            let resumed = last
                .split_once('-')
                .filter(|(id, _)| *id == hub.id)
                .and_then(|(_, n)| n.parse::<u64>().ok())
                .filter(|n| *n <= hub.last());
            let recent = hub.recent.lock().unwrap_or_else(|e| e.into_inner());
            match resumed {
                Some(n) if recent.front().is_none_or(|f| f.seq <= n + 1) => {
                    backlog.extend(recent.iter().filter(|e| e.seq > n).cloned().map(Live::Seat));
                }
                _ => backlog.push(Live::Reset),
            }
        }
        Ok(Subscription { hub: hub.id.clone(), backlog, rx })
    }
}
