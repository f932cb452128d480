//! Waiting rooms in process: [`MemoryWaitingRoomStore`].

use async_trait::async_trait;
use booking_core::admission::{
    Admission, AdmissionError, AdmissionResult, DrawRecord, Join, Joined, LateOrder, Mode, RANDOM_KEY_BOUND,
    Revocations, RoomConfig, RoomId, RoomState, Seed, SessionId, Visitor, VisitorId, VisitorState, WaitingRoomStore,
};
use booking_core::clock::millis_to_datetime;
use booking_core::{Clock, SystemClock};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

/// Where late arrivals' keys start: above every drawn rank.
const LATE: u64 = 1 << 40;
/// The rate's window.
const MINUTE_MS: i64 = 60_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum St {
    Pre,
    Waiting,
    Admitted(i64),
    Expired,
    Left,
    Revoked,
}

#[derive(Debug)]
struct Rec {
    session: SessionId,
    joined_at: i64,
    key: u64,
    state: St,
}

#[derive(Debug)]
struct Room {
    config: RoomConfig,
    seq: u64,
    sessions: HashMap<SessionId, VisitorId>,
    visitors: HashMap<VisitorId, Rec>,
    /// The pre-queue in arrival order, until the draw.
    pre: Vec<VisitorId>,
    queue: BTreeSet<(u64, VisitorId)>,
    draw: Option<DrawRecord>,
    /// Admission times within the last minute, oldest first.
    admissions: VecDeque<i64>,
    /// Admitted sessions by their end.
    active: BTreeSet<(i64, VisitorId)>,
    /// Ended sessions whose tokens could still be live, with their end.
    revoked: BTreeMap<VisitorId, i64>,
    credits: u64,
    generation: u64,
}

impl Room {
    fn new(config: RoomConfig) -> Self {
        Room {
            credits: config.inlet.unwrap_or(0),
            config,
            seq: 0,
            sessions: HashMap::new(),
            visitors: HashMap::new(),
            pre: Vec::new(),
            queue: BTreeSet::new(),
            draw: None,
            admissions: VecDeque::new(),
            active: BTreeSet::new(),
            revoked: BTreeMap::new(),
            generation: 0,
        }
    }

    fn last_minute(&mut self, now: i64) -> u64 {
        while self.admissions.front().is_some_and(|&t| t <= now - MINUTE_MS) {
            self.admissions.pop_front();
        }
        self.admissions.len() as u64
    }

    fn active_now(&self, now: i64) -> u64 {
        self.active.iter().filter(|(until, _)| *until > now).count() as u64
    }

    fn view(&self, id: VisitorId, now: i64) -> Option<Visitor> {
        let rec = self.visitors.get(&id)?;
        let state = match rec.state {
            St::Pre => VisitorState::PreQueue { arrivals: self.pre.len() as u64 },
            St::Waiting => {
                let ahead = self.queue.range(..(rec.key, id)).count() as u64;
                let undrawn = if self.draw.is_none() { self.pre.len() as u64 } else { 0 };
                VisitorState::Waiting { position: ahead + undrawn + 1 }
            }
            St::Admitted(until) if until > now => VisitorState::Admitted { until: millis_to_datetime(until) },
            St::Admitted(_) | St::Expired => VisitorState::Expired,
            St::Left => VisitorState::Left,
            St::Revoked => VisitorState::Revoked,
        };
        Some(Visitor { id, session: rec.session.clone(), joined_at: millis_to_datetime(rec.joined_at), state })
    }

    fn admit_one(&mut self, id: VisitorId, now: i64) -> Admission {
        let until = now.saturating_add(self.config.session_ttl_ms());
        if let Some(rec) = self.visitors.get_mut(&id) {
            rec.state = St::Admitted(until);
        }
        self.active.insert((until, id));
        self.admissions.push_back(now);
        Admission { visitor: id, until: millis_to_datetime(until) }
    }

    /// Ends a visitor's place or session with `to` (`Left` or `Revoked`).
    fn end(&mut self, id: VisitorId, to: St, now: i64) {
        let Some(rec) = self.visitors.get_mut(&id) else { return };
        match rec.state {
            St::Pre => {
                self.pre.retain(|v| *v != id);
                rec.state = to;
            }
            St::Waiting => {
                self.queue.remove(&(rec.key, id));
                rec.state = to;
            }
            St::Admitted(until) if until > now => {
                self.active.remove(&(until, id));
                self.revoked.insert(id, until);
                rec.state = to;
            }
            St::Admitted(_) | St::Expired if to == St::Revoked => rec.state = to,
            St::Left if to == St::Revoked => rec.state = to,
            _ => {}
        }
    }
}

/// Waiting rooms in a map, one lock per room; decisions by the store's
/// clock.
#[derive(Debug)]
pub struct MemoryWaitingRoomStore {
    rooms: Mutex<HashMap<RoomId, Arc<Mutex<Room>>>>,
    clock: Arc<dyn Clock>,
}

impl Default for MemoryWaitingRoomStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryWaitingRoomStore {
    /// An empty store on the system clock.
    pub fn new() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }

    /// An empty store deciding arrivals, rates and expiry by `clock`.
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        MemoryWaitingRoomStore { rooms: Mutex::new(HashMap::new()), clock }
    }

    fn room(&self, id: RoomId) -> AdmissionResult<Arc<Mutex<Room>>> {
        self.rooms.lock().unwrap_or_else(|e| e.into_inner()).get(&id).cloned().ok_or(AdmissionError::UnknownRoom(id))
    }

    fn with_room<R>(&self, id: RoomId, f: impl FnOnce(&mut Room, i64) -> AdmissionResult<R>) -> AdmissionResult<R> {
        let room = self.room(id)?;
        let mut guard: MutexGuard<'_, Room> = room.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut guard, self.clock.now_millis())
    }
}

#[async_trait]
impl WaitingRoomStore for MemoryWaitingRoomStore {
    async fn create_room(&self, config: &RoomConfig) -> AdmissionResult<()> {
        config.validate()?;
        let mut rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        if rooms.contains_key(&config.id) {
            return Err(AdmissionError::RoomExists(config.id));
        }
        rooms.insert(config.id, Arc::new(Mutex::new(Room::new(config.clone()))));
        Ok(())
    }

    async fn room(&self, id: RoomId) -> AdmissionResult<RoomState> {
        self.with_room(id, |r, now| {
            Ok(RoomState {
                config: r.config.clone(),
                drawn_at: r.draw.as_ref().map(|d| d.drawn_at),
                pre_queue: r.draw.as_ref().map_or(r.pre.len(), |d| d.arrivals.len()) as u64,
                waiting: r.queue.len() as u64,
                active: r.active_now(now),
                admitted_last_minute: r.last_minute(now),
                credits: r.credits,
                generation: r.generation,
            })
        })
    }

    async fn set_mode(&self, id: RoomId, mode: Mode) -> AdmissionResult<()> {
        self.with_room(id, |r, _| {
            r.config.mode = mode;
            Ok(())
        })
    }

    async fn join(&self, req: &Join) -> AdmissionResult<Joined> {
        req.session.validate()?;
        self.with_room(req.room, |r, now| {
            if let Some(&id) = r.sessions.get(&req.session) {
                let visitor = r.view(id, now).ok_or(AdmissionError::UnknownVisitor(req.room))?;
                return Ok(Joined { new: false, visitor });
            }
            if r.config.mode == Mode::Closed {
                return Err(AdmissionError::Closed(req.room));
            }
            let id = req.visitor;
            if r.visitors.contains_key(&id) {
                // A visitor id drawn twice: vanishingly unlikely, and not
                // the caller's to decide; ask for another.
                return Err(AdmissionError::Backend("visitor id in use; retry with another".into()));
            }
            let seq = r.seq;
            r.seq += 1;
            r.sessions.insert(req.session.clone(), id);
            let pre = r.draw.is_none() && now < r.config.opens_at.timestamp_millis();
            let key = match (pre, r.config.late_order) {
                (true, _) => seq,
                (false, LateOrder::Arrival) => LATE + seq,
                (false, LateOrder::Random) => LATE + req.random_key % RANDOM_KEY_BOUND,
            };
            r.visitors.insert(id, Rec { session: req.session.clone(), joined_at: now, key, state: St::Pre });
            if r.config.mode == Mode::PassThrough {
                r.admit_one(id, now);
            } else if pre {
                r.pre.push(id);
            } else if let Some(rec) = r.visitors.get_mut(&id) {
                rec.state = St::Waiting;
                r.queue.insert((key, id));
            }
            let visitor = r.view(id, now).ok_or(AdmissionError::UnknownVisitor(req.room))?;
            Ok(Joined { new: true, visitor })
        })
    }

    async fn visitor(&self, room: RoomId, session: &SessionId) -> AdmissionResult<Visitor> {
        session.validate()?;
        self.with_room(room, |r, now| {
            r.sessions.get(session).and_then(|&id| r.view(id, now)).ok_or(AdmissionError::UnknownVisitor(room))
        })
    }

    async fn pre_queue(&self, room: RoomId) -> AdmissionResult<Vec<VisitorId>> {
        self.with_room(room, |r, _| Ok(r.draw.as_ref().map_or_else(|| r.pre.clone(), |d| d.arrivals.clone())))
    }

    async fn record_draw(&self, room: RoomId, seed: &Seed, order: &[VisitorId]) -> AdmissionResult<DrawRecord> {
        self.with_room(room, |r, now| {
            if now < r.config.opens_at.timestamp_millis() {
                return Err(AdmissionError::NotOpen { opens_at: r.config.opens_at });
            }
            if r.draw.is_some() {
                return Err(AdmissionError::AlreadyDrawn(room));
            }
            let pre: HashSet<&VisitorId> = r.pre.iter().collect();
            let drawn: HashSet<&VisitorId> = order.iter().collect();
            if order.len() != r.pre.len() || drawn.len() != order.len() || drawn != pre {
                return Err(AdmissionError::DrawMismatch(room));
            }
            for (rank, id) in order.iter().enumerate() {
                if let Some(rec) = r.visitors.get_mut(id) {
                    rec.key = rank as u64;
                    rec.state = St::Waiting;
                }
                r.queue.insert((rank as u64, *id));
            }
            let record = DrawRecord {
                seed: *seed,
                drawn_at: millis_to_datetime(now),
                arrivals: std::mem::take(&mut r.pre),
                order: order.to_vec(),
            };
            r.draw = Some(record.clone());
            Ok(record)
        })
    }

    async fn draw_record(&self, room: RoomId) -> AdmissionResult<Option<DrawRecord>> {
        self.with_room(room, |r, _| Ok(r.draw.clone()))
    }

    async fn admit(&self, room: RoomId) -> AdmissionResult<Vec<Admission>> {
        self.with_room(room, |r, now| {
            if now < r.config.opens_at.timestamp_millis() {
                return Ok(Vec::new());
            }
            if r.draw.is_none() {
                return Err(AdmissionError::NotDrawn(room));
            }
            // End the sessions that ran out; an inlet gets their credits.
            while let Some(&(until, id)) = r.active.first() {
                if until > now {
                    break;
                }
                r.active.pop_first();
                if let Some(rec) = r.visitors.get_mut(&id)
                    && matches!(rec.state, St::Admitted(_))
                {
                    rec.state = St::Expired;
                }
                if r.config.inlet.is_some() {
                    r.credits = (r.credits + 1).min(r.config.max_active);
                }
            }
            let by_rate = r.config.per_minute.saturating_sub(r.last_minute(now));
            let by_cap = r.config.max_active.saturating_sub(r.active.len() as u64);
            let by_inlet = if r.config.inlet.is_some() { r.credits } else { u64::MAX };
            let n = by_rate.min(by_cap).min(by_inlet).min(r.queue.len() as u64);
            let mut out = Vec::with_capacity(n as usize);
            for _ in 0..n {
                let Some((_, id)) = r.queue.pop_first() else { break };
                out.push(r.admit_one(id, now));
            }
            if r.config.inlet.is_some() {
                r.credits -= out.len() as u64;
            }
            Ok(out)
        })
    }

    async fn leave(&self, room: RoomId, visitor: VisitorId, session: &SessionId) -> AdmissionResult<()> {
        session.validate()?;
        self.with_room(room, |r, now| {
            let rec = r.visitors.get(&visitor).ok_or(AdmissionError::UnknownVisitor(room))?;
            if rec.session != *session {
                return Err(AdmissionError::SessionMismatch);
            }
            r.end(visitor, St::Left, now);
            Ok(())
        })
    }

    async fn revoke(&self, room: RoomId, visitor: VisitorId) -> AdmissionResult<()> {
        self.with_room(room, |r, now| {
            if !r.visitors.contains_key(&visitor) {
                return Err(AdmissionError::UnknownVisitor(room));
            }
            r.end(visitor, St::Revoked, now);
            Ok(())
        })
    }

    async fn revoke_all(&self, room: RoomId) -> AdmissionResult<u64> {
        self.with_room(room, |r, now| {
            r.generation += 1;
            let live: Vec<(i64, VisitorId)> = r.active.iter().filter(|(until, _)| *until > now).copied().collect();
            for (until, id) in live {
                r.active.remove(&(until, id));
                if let Some(rec) = r.visitors.get_mut(&id) {
                    rec.state = St::Revoked;
                }
            }
            Ok(r.generation)
        })
    }

    async fn revocations(&self, room: RoomId) -> AdmissionResult<Revocations> {
        self.with_room(room, |r, now| {
            r.revoked.retain(|_, until| *until > now);
            Ok(Revocations { generation: r.generation, revoked: r.revoked.keys().copied().collect() })
        })
    }

    async fn add_credits(&self, room: RoomId, credits: u64) -> AdmissionResult<u64> {
        self.with_room(room, |r, _| {
            if r.config.inlet.is_some() {
                r.credits = r.credits.saturating_add(credits).min(r.config.max_active);
            }
            Ok(r.credits)
        })
    }
}
