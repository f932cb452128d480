//! The waiting-room service: generic over the store, pure apart from the
//! store calls and the random draws (seeds, visitor ids, random keys).

use super::{
    Admission, AdmissionError, AdmissionResult, AdmissionToken, Claims, DrawRecord, Join, KeyId, Keyring, Mode,
    RANDOM_KEY_BOUND, Revocations, RoomConfig, RoomId, RoomState, Seed, SessionDigest, SessionId, TokenError, Visitor,
    VisitorId, VisitorState, WaitingRoomStore, draw_order, verify_token,
};
use crate::clock::Clock;
use crate::ids::ShowId;
use crate::inventory::{ChangeKind, ChangeStream, SeatInventory};
use crate::worker::Worker;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::future::poll_fn;
use std::sync::{Arc, Mutex, RwLock};
use std::task::Poll;
use std::time::Duration;

/// How many times a draw is tried when the pre-queue changes under it.
const DRAW_ATTEMPTS: usize = 5;

/// What a visitor is told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// The visitor's record (its id, state, position).
    pub visitor: Visitor,
    /// When the room opens (the pre-queue is drawn then).
    pub opens_at: DateTime<Utc>,
    /// For a waiting visitor: about how long until its wave, at the rate
    /// the room admits now (its `per_minute`, or fewer when the cap or the
    /// inlet hold the last minute's admissions below it). `None` for
    /// visitors not waiting, and for the pre-queue before the draw.
    pub estimated_wait: Option<Duration>,
}

/// What a wave did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Wave {
    /// The draw made by this call (the first wave after the start draws
    /// the pre-queue), if any.
    pub drawn: Option<DrawRecord>,
    /// The visitors admitted, in queue order.
    pub admitted: Vec<Admission>,
}

/// The waiting room over a [`WaitingRoomStore`]: joins and status, the
/// draw at the start, waves, admission tokens.
///
/// Time for tokens (issue, expiry checks) is the injected clock; every
/// other decision is the store's, on its own clock. Run one service per
/// application server: they share nothing but the store.
#[derive(Debug)]
pub struct WaitingRoom<S: ?Sized> {
    store: Arc<S>,
    clock: Arc<dyn Clock>,
    keys: Arc<RwLock<Keyring>>,
}

impl<S: WaitingRoomStore + ?Sized> WaitingRoom<S> {
    /// A service over `store`, signing tokens with `keys`' current key and
    /// timing them by `clock`.
    pub fn new(store: Arc<S>, clock: Arc<dyn Clock>, keys: Keyring) -> Self {
        WaitingRoom { store, clock, keys: Arc::new(RwLock::new(keys)) }
    }

    /// The store.
    pub fn store(&self) -> &Arc<S> {
        &self.store
    }

    /// Replaces the key ring (after a rotation); verifiers made by
    /// [`WaitingRoom::verifier`] see it at once.
    pub fn set_keyring(&self, keys: Keyring) {
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = keys;
    }

    fn keyring(&self) -> Keyring {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Creates a room.
    ///
    /// Errors: `InvalidConfig`, `RoomExists`.
    pub async fn create_room(&self, config: &RoomConfig) -> AdmissionResult<()> {
        config.validate()?;
        self.store.create_room(config).await
    }

    /// Puts `session` in the room (a retry keeps its place) and tells it
    /// where it stands.
    ///
    /// Errors: `InvalidSession`, `UnknownRoom`, `Closed`.
    pub async fn join(&self, room: RoomId, session: &SessionId) -> AdmissionResult<Status> {
        session.validate()?;
        let req = Join {
            room,
            session: session.clone(),
            visitor: VisitorId::new(),
            random_key: rand::random::<u64>() % RANDOM_KEY_BOUND,
        };
        let joined = self.store.join(&req).await?;
        let state = self.store.room(room).await?;
        Ok(status(joined.visitor, &state))
    }

    /// Where `session` stands now, with an estimated wait.
    ///
    /// Errors: `InvalidSession`, `UnknownRoom`, `UnknownVisitor`.
    pub async fn status(&self, room: RoomId, session: &SessionId) -> AdmissionResult<Status> {
        session.validate()?;
        let visitor = self.store.visitor(room, session).await?;
        let state = self.store.room(room).await?;
        Ok(status(visitor, &state))
    }

    /// Draws the pre-queue with a fresh seed and records the draw; if
    /// another server drew first, returns its recorded draw.
    ///
    /// Errors: `UnknownRoom`, `NotOpen`; `DrawMismatch` when the
    /// pre-queue kept changing under five draws in a row.
    pub async fn draw(&self, room: RoomId) -> AdmissionResult<DrawRecord> {
        let mut last = AdmissionError::DrawMismatch(room);
        for _ in 0..DRAW_ATTEMPTS {
            let arrivals = self.store.pre_queue(room).await?;
            let seed = Seed::random();
            let order = draw_order(&seed, &arrivals);
            match self.store.record_draw(room, &seed, &order).await {
                Ok(record) => return Ok(record),
                Err(AdmissionError::AlreadyDrawn(_)) => {
                    if let Some(record) = self.store.draw_record(room).await? {
                        return Ok(record);
                    }
                }
                Err(e @ AdmissionError::DrawMismatch(_)) => last = e,
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    /// Admits a wave (drawing the pre-queue first when the room has just
    /// opened). Call it every few seconds ([`WaitingRoom::spawn_waves`]
    /// does): a wave admits what the room's rates allow at that moment.
    ///
    /// Errors: `UnknownRoom`.
    pub async fn admit_wave(&self, room: RoomId) -> AdmissionResult<Wave> {
        match self.store.admit(room).await {
            Ok(admitted) => Ok(Wave { drawn: None, admitted }),
            Err(AdmissionError::NotDrawn(_)) => {
                let drawn = self.draw(room).await?;
                let admitted = self.store.admit(room).await?;
                Ok(Wave { drawn: Some(drawn), admitted })
            }
            Err(e) => Err(e),
        }
    }

    /// An admission token for `session`, which must be admitted now. The
    /// token expires with the admitted session.
    ///
    /// Errors: `InvalidSession`, `UnknownRoom`, `UnknownVisitor`,
    /// `NotAdmitted`.
    pub async fn token(&self, room: RoomId, session: &SessionId) -> AdmissionResult<AdmissionToken> {
        session.validate()?;
        let visitor = self.store.visitor(room, session).await?;
        let VisitorState::Admitted { until } = visitor.state else {
            return Err(AdmissionError::NotAdmitted(visitor.state));
        };
        let generation = self.store.revocations(room).await?.generation;
        let claims = Claims {
            key: KeyId(String::new()),
            room,
            visitor: visitor.id,
            session: SessionDigest::of(session),
            issued_at: self.clock.now(),
            expires_at: until,
            generation,
        };
        Ok(AdmissionToken::sign(&self.keyring(), &claims))
    }

    /// The visitor leaves (see [`WaitingRoomStore::leave`]).
    ///
    /// Errors: `InvalidSession`, `UnknownRoom`, `UnknownVisitor`,
    /// `SessionMismatch`.
    pub async fn leave(&self, room: RoomId, visitor: VisitorId, session: &SessionId) -> AdmissionResult<()> {
        session.validate()?;
        self.store.leave(room, visitor, session).await
    }

    /// Revokes a visitor's admission (see [`WaitingRoomStore::revoke`]).
    /// Verifiers see it within their cache's staleness.
    ///
    /// Errors: `UnknownRoom`, `UnknownVisitor`.
    pub async fn revoke(&self, room: RoomId, visitor: VisitorId) -> AdmissionResult<()> {
        self.store.revoke(room, visitor).await
    }

    /// A verifier of this service's tokens, caching each room's
    /// revocations for at most `max_staleness` (by the service's clock).
    /// Zero reads them on every check.
    pub fn verifier(&self, max_staleness: Duration) -> TokenVerifier<S> {
        TokenVerifier {
            store: self.store.clone(),
            clock: self.clock.clone(),
            keys: self.keys.clone(),
            max_staleness_ms: crate::clock::saturating_millis(max_staleness),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The inlet: follows `show`'s change feed and gives `room` a credit
    /// for each hold that ends (released, expired) and each sale, so that
    /// admissions follow what the inventory actually serves. Changes that
    /// arrive together are credited in one call. Returns the credits given
    /// when the feed ends; a lagging feed (missed changes) gives none for
    /// what it missed, and a failed credit call is retried with the next
    /// change.
    ///
    /// Errors: subscribing failed (`Backend`), `UnknownRoom`.
    pub async fn follow_inventory<I: SeatInventory + ?Sized>(
        &self,
        room: RoomId,
        inventory: &I,
        show: ShowId,
    ) -> AdmissionResult<u64> {
        let feed = inventory.subscribe(show).await.map_err(|e| AdmissionError::Backend(e.to_string()))?;
        self.follow_changes(room, feed).await
    }

    /// [`WaitingRoom::follow_inventory`] on a feed the caller subscribed
    /// to (so that it knows the inlet sees every change from then on).
    ///
    /// Errors: `UnknownRoom`.
    pub async fn follow_changes(&self, room: RoomId, mut feed: ChangeStream) -> AdmissionResult<u64> {
        let mut given = 0u64;
        let mut owed = 0u64;
        loop {
            // Wait for one change, then take what else is there at once.
            let mut open = true;
            let mut first = true;
            poll_fn(|cx| {
                loop {
                    match feed.as_mut().poll_next(cx) {
                        Poll::Ready(Some(Ok(change))) => {
                            if matches!(change.kind, ChangeKind::Sold | ChangeKind::Released | ChangeKind::Expired) {
                                owed += 1;
                            }
                            first = false;
                        }
                        Poll::Ready(Some(Err(_))) => first = false,
                        Poll::Ready(None) => {
                            open = false;
                            return Poll::Ready(());
                        }
                        Poll::Pending if first => return Poll::Pending,
                        Poll::Pending => return Poll::Ready(()),
                    }
                }
            })
            .await;
            if owed > 0 {
                match self.store.add_credits(room, owed).await {
                    Ok(_) => {
                        given += owed;
                        owed = 0;
                    }
                    Err(e @ AdmissionError::UnknownRoom(_)) => return Err(e),
                    Err(_) => {}
                }
            }
            if !open {
                return Ok(given);
            }
        }
    }
}

impl<S: WaitingRoomStore + ?Sized + 'static> WaitingRoom<S> {
    /// Admits waves for `room` every `every` until stopped: a ready worker
    /// whose items count the visitors admitted.
    pub fn spawn_waves(self: Arc<Self>, room: RoomId, every: Duration) -> Worker {
        Worker::spawn(every, move || {
            let rooms = self.clone();
            async move {
                match rooms.admit_wave(room).await {
                    Ok(wave) => Ok(wave.admitted.len() as u64),
                    Err(_) => Err(1),
                }
            }
        })
    }
}

fn status(visitor: Visitor, room: &RoomState) -> Status {
    let estimated_wait = match visitor.state {
        VisitorState::Waiting { position } => {
            let c = &room.config;
            // The rate the room admits now: its setting, or what the last
            // minute shows when the cap or the inlet hold it lower.
            let rate = if c.mode == Mode::Queue && room.admitted_last_minute > 0 {
                room.admitted_last_minute.min(c.per_minute)
            } else {
                c.per_minute
            };
            let waves_ahead = position.saturating_sub(1) / rate.max(1);
            Some(Duration::from_secs(waves_ahead.saturating_mul(60)))
        }
        _ => None,
    };
    Status { visitor, opens_at: room.config.opens_at, estimated_wait }
}

/// Checks admission tokens where buyers arrive (seat map, holds,
/// checkout): the signature and claims locally, the revocations from a
/// per-room cache refreshed from the store at most every `max_staleness`.
#[derive(Debug)]
pub struct TokenVerifier<S: ?Sized> {
    store: Arc<S>,
    clock: Arc<dyn Clock>,
    keys: Arc<RwLock<Keyring>>,
    max_staleness_ms: i64,
    cache: Mutex<HashMap<RoomId, (i64, Arc<Revocations>)>>,
}

impl<S: WaitingRoomStore + ?Sized> TokenVerifier<S> {
    /// Checks `token` for `room` and `session` now: format, signature,
    /// room, session and expiry without the store; then revocation against
    /// the cached revocations (read from the store when older than the
    /// staleness). Returns the claims.
    ///
    /// Errors: `Token(..)` for a refused token; the store's errors when
    /// the revocations had to be read and could not be.
    pub async fn verify(&self, token: &AdmissionToken, room: RoomId, session: &SessionId) -> AdmissionResult<Claims> {
        let now = self.clock.now();
        // Everything but revocation first: a forged token costs no read.
        // The ring is read in place, under its lock, before any await.
        let claims = {
            let ring = self.keys.read().unwrap_or_else(|e| e.into_inner());
            verify_token(&ring, token, room, session, now, &Revocations::default())?
        };
        if self.revocations(room).await?.revokes(claims.visitor, claims.generation) {
            return Err(TokenError::Revoked.into());
        }
        Ok(claims)
    }

    /// Forgets the cached revocations (all rooms): the next check reads them.
    pub fn invalidate(&self) {
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    async fn revocations(&self, room: RoomId) -> AdmissionResult<Arc<Revocations>> {
        let now = self.clock.now_millis();
        if let Some((read_at, r)) = self.cache.lock().unwrap_or_else(|e| e.into_inner()).get(&room)
            && now.saturating_sub(*read_at) < self.max_staleness_ms
        {
            return Ok(r.clone());
        }
        let fresh = Arc::new(self.store.revocations(room).await?);
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).insert(room, (now, fresh.clone()));
        Ok(fresh)
    }
}
