//! The virtual waiting room: the first thing a buyer meets at a hot
//! on-sale, and what keeps the herd off the inventory.
//!
//! The parts, as for every capability of the library (docs/admission.md
//! tells the design, the fairness argument and the token format):
//!
//! - the port, [`WaitingRoomStore`]: rooms ([`RoomConfig`]), visitors who
//!   join them, the recorded draw of the pre-queue, admissions bounded by
//!   the room's rates, revocations and the inlet's credits. Every decision
//!   that must be atomic (one place per session, the caps of a wave) is
//!   taken by the store, on the store's clock;
//! - the pure parts: the draw ([`draw_order`], [`replay`], [`audit_draw`]),
//!   a seeded ChaCha20 shuffle that anyone can replay from the recorded
//!   seed and arrivals; the admission tokens ([`Keyring`],
//!   [`AdmissionToken`], [`verify_token`]), HMAC-SHA256 signed and checked
//!   without a store round trip;
//! - the service, [`WaitingRoom`], generic over the store: joins, status
//!   with a position and an estimated wait, waves, tokens, and the inlet
//!   that follows the inventory's change feed ([`WaitingRoom::follow_inventory`]);
//! - the conformance suite, `booking_core::testkit::admission` (feature
//!   `testkit`), run by every backend through `admission_suite!`.
//!
//! # Lifecycle of a visitor
//!
//! ```text
//!  join before opens_at            draw at opens_at             wave
//!  ------------------> PreQueue ---------------------> Waiting ------> Admitted --> Expired
//!  join after opens_at (arrival order or random key) ---^                 |  \
//!                                                                  leave  |   revoke
//!                                                                         v      v
//!                                                                        Left  Revoked
//! ```

mod draw;
mod ids;
mod service;
mod token;

pub use draw::{DrawAudit, Seed, audit_draw, draw_order, replay};
pub use ids::{MAX_SESSION_BYTES, RoomId, SessionId, VisitorId};
pub use service::{Status, TokenVerifier, WaitingRoom, Wave};
pub use token::{
    AdmissionToken, Claims, KEY_BYTES_MIN, KeyId, Keyring, SessionDigest, TOKEN_PREFIX, TokenError, verify_token,
};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt::Debug;
use std::time::Duration;
use thiserror::Error;

/// What a room does with visitors who join.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Mode {
    /// Visitors queue and are admitted in waves. The default.
    #[default]
    Queue,
    /// No queue: every visitor who joins is admitted at once (the rates
    /// and the cap do not apply). For quiet sales, or to drain a room.
    PassThrough,
    /// The queue is closed: joins are refused
    /// ([`AdmissionError::Closed`]). Visitors already in keep their
    /// places and waves go on.
    Closed,
}

impl Mode {
    /// The mode's name as stores keep it.
    pub fn as_str(&self) -> &'static str {
        match self {
            Mode::Queue => "queue",
            Mode::PassThrough => "pass",
            Mode::Closed => "closed",
        }
    }

    /// The mode of a stored name.
    pub fn from_name(name: &str) -> Option<Mode> {
        Some(match name {
            "queue" => Mode::Queue,
            "pass" => Mode::PassThrough,
            "closed" => Mode::Closed,
            _ => return None,
        })
    }
}

/// How visitors who arrive after the on-sale start are placed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LateOrder {
    /// Behind everyone already waiting, in arrival order. The default.
    #[default]
    Arrival,
    /// At a random place among the late arrivals still waiting (always
    /// behind the drawn pre-queue): a continuous lottery, which takes the
    /// edge off arriving a second earlier by script.
    Random,
}

impl LateOrder {
    /// The order's name as stores keep it.
    pub fn as_str(&self) -> &'static str {
        match self {
            LateOrder::Arrival => "arrival",
            LateOrder::Random => "random",
        }
    }

    /// The order of a stored name.
    pub fn from_name(name: &str) -> Option<LateOrder> {
        Some(match name {
            "arrival" => LateOrder::Arrival,
            "random" => LateOrder::Random,
            _ => return None,
        })
    }
}

/// The most admissions per minute a room may allow.
pub const MAX_PER_MINUTE: u64 = 10_000_000;
/// The largest cap on active buyers.
pub const MAX_ACTIVE: u64 = 100_000_000;
/// The shortest admitted session.
pub const MIN_SESSION_TTL: Duration = Duration::from_secs(1);
/// The longest admitted session.
pub const MAX_SESSION_TTL: Duration = Duration::from_secs(24 * 3600);

/// A room's settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomConfig {
    /// The room.
    pub id: RoomId,
    /// The on-sale start: visitors who join before it form the pre-queue,
    /// shuffled at the start; later ones queue behind them.
    pub opens_at: DateTime<Utc>,
    /// Queue, pass-through or closed.
    pub mode: Mode,
    /// How late arrivals are placed.
    pub late_order: LateOrder,
    /// The most visitors admitted in any 60-second window (1 to
    /// [`MAX_PER_MINUTE`]).
    pub per_minute: u64,
    /// The most admitted sessions active at once: admitted, not yet
    /// expired, left or revoked (1 to [`MAX_ACTIVE`]).
    pub max_active: u64,
    /// How long an admitted session (and its token) lasts
    /// ([`MIN_SESSION_TTL`] to [`MAX_SESSION_TTL`], whole milliseconds).
    pub session_ttl: Duration,
    /// The inlet: when set, each admission also spends a credit, and
    /// credits come back as the inventory completes work (holds released
    /// or expired, sales: see [`WaitingRoom::follow_inventory`]) or an
    /// admitted session expires. The value is the credits the room starts
    /// with (the first wave), at most `max_active`.
    pub inlet: Option<u64>,
}

impl RoomConfig {
    /// A queueing room opening at `opens_at`, admitting `per_minute` a
    /// minute with at most `max_active` active, sessions of 10 minutes,
    /// late arrivals in arrival order, no inlet.
    pub fn new(id: RoomId, opens_at: DateTime<Utc>, per_minute: u64, max_active: u64) -> Self {
        RoomConfig {
            id,
            opens_at,
            mode: Mode::Queue,
            late_order: LateOrder::Arrival,
            per_minute,
            max_active,
            session_ttl: Duration::from_secs(600),
            inlet: None,
        }
    }

    /// Checks the settings against the bounds above.
    ///
    /// Errors: [`AdmissionError::InvalidConfig`] naming the field.
    pub fn validate(&self) -> Result<(), AdmissionError> {
        let bad = |field: &'static str, reason: &'static str| Err(AdmissionError::InvalidConfig { field, reason });
        if !(1..=MAX_PER_MINUTE).contains(&self.per_minute) {
            return bad("per_minute", "must be between 1 and 10,000,000");
        }
        if !(1..=MAX_ACTIVE).contains(&self.max_active) {
            return bad("max_active", "must be between 1 and 100,000,000");
        }
        if self.session_ttl < MIN_SESSION_TTL || self.session_ttl > MAX_SESSION_TTL {
            return bad("session_ttl", "must be between 1 second and 24 hours");
        }
        if !self.session_ttl.subsec_nanos().is_multiple_of(1_000_000) {
            return bad("session_ttl", "must be whole milliseconds");
        }
        if self.inlet.is_some_and(|c| c > self.max_active) {
            return bad("inlet", "the starting credits must not exceed max_active");
        }
        if self.opens_at.timestamp_millis() < 0 || !self.opens_at.timestamp_subsec_nanos().is_multiple_of(1_000_000) {
            return bad("opens_at", "must be after 1970 and whole milliseconds");
        }
        Ok(())
    }

    /// The session lifetime in milliseconds.
    pub fn session_ttl_ms(&self) -> i64 {
        crate::clock::saturating_millis(self.session_ttl)
    }
}

/// A room as the store has it now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomState {
    /// Its settings (with the current mode).
    pub config: RoomConfig,
    /// When the pre-queue was drawn, if it was.
    pub drawn_at: Option<DateTime<Utc>>,
    /// Visitors in the pre-queue (joined before the start), drawn or not.
    pub pre_queue: u64,
    /// Visitors waiting to be admitted (after the draw; a pre-queue not
    /// yet drawn is not counted).
    pub waiting: u64,
    /// Admitted sessions active now.
    pub active: u64,
    /// Admissions in the last 60 seconds.
    pub admitted_last_minute: u64,
    /// Credits of the inlet (0 without an inlet).
    pub credits: u64,
    /// The revocation generation: tokens issued under an older one are
    /// void ([`WaitingRoomStore::revoke_all`]).
    pub generation: u64,
}

/// Join a room.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Join {
    /// The room.
    pub room: RoomId,
    /// The visitor's session.
    pub session: SessionId,
    /// The id to give the visitor if the session is new to the room (a
    /// session that joined before keeps its id and place).
    pub visitor: VisitorId,
    /// The place key of a late arrival in a [`LateOrder::Random`] room:
    /// uniformly random below 2^50 (the service draws it).
    pub random_key: u64,
}

/// The largest random key of a late arrival, exclusive: 2^50, so that a
/// key and its offset stay exact in a Redis sorted-set score (a double).
pub const RANDOM_KEY_BOUND: u64 = 1 << 50;

/// Where a visitor stands, as the store sees it now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum VisitorState {
    /// Joined before the start; the draw at the start decides the place.
    PreQueue {
        /// Visitors in the pre-queue so far.
        arrivals: u64,
    },
    /// Waiting for a wave.
    Waiting {
        /// 1 for the next visitor to be admitted.
        position: u64,
    },
    /// Admitted until `until`: may buy.
    Admitted {
        /// When the admitted session ends.
        until: DateTime<Utc>,
    },
    /// Was admitted; the session ran out.
    Expired,
    /// Left the room (waiting or admitted).
    Left,
    /// The admission was revoked.
    Revoked,
}

/// A visitor's record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Visitor {
    /// The visitor.
    pub id: VisitorId,
    /// The session it belongs to.
    pub session: SessionId,
    /// When it joined.
    pub joined_at: DateTime<Utc>,
    /// Where it stands.
    pub state: VisitorState,
}

/// What [`WaitingRoomStore::join`] did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Joined {
    /// False when the session had joined before (a retry): nothing changed.
    pub new: bool,
    /// The visitor, as it stands now.
    pub visitor: Visitor,
}

/// One admission of a wave.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Admission {
    /// The admitted visitor.
    pub visitor: VisitorId,
    /// When its session ends.
    pub until: DateTime<Utc>,
}

/// The recorded draw of a room's pre-queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrawRecord {
    /// The seed of the shuffle.
    pub seed: Seed,
    /// When it was drawn.
    pub drawn_at: DateTime<Utc>,
    /// The pre-queue in arrival order.
    pub arrivals: Vec<VisitorId>,
    /// The drawn order: `replay(seed, arrivals)`.
    pub order: Vec<VisitorId>,
}

/// The revocations a verifier needs: cheap to read and to cache.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocations {
    /// Tokens issued under an older generation are void.
    pub generation: u64,
    /// Visitors whose admission was revoked, while their token could
    /// still be live, sorted.
    pub revoked: Vec<VisitorId>,
}

impl Revocations {
    /// Whether a token of `visitor` issued under `generation` is revoked.
    pub fn revokes(&self, visitor: VisitorId, generation: u64) -> bool {
        generation < self.generation || self.revoked.binary_search(&visitor).is_ok()
    }
}

/// Shorthand for results of the waiting room.
pub type AdmissionResult<T> = std::result::Result<T, AdmissionError>;

/// Why a waiting-room request failed.
///
/// Every variant but [`AdmissionError::Unavailable`] and
/// [`AdmissionError::Backend`] is a decision: the request changed nothing.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum AdmissionError {
    /// A room setting is out of bounds. Fix the field named.
    #[error("invalid room setting {field}: {reason}")]
    InvalidConfig {
        /// The setting.
        field: &'static str,
        /// What is allowed.
        reason: &'static str,
    },
    /// The session id is empty, longer than 256 bytes or has control
    /// characters.
    #[error("session ids are 1 to 256 bytes without control characters")]
    InvalidSession,
    /// No room with this id.
    #[error("unknown room {0}")]
    UnknownRoom(RoomId),
    /// A room with this id exists already.
    #[error("room {0} exists already")]
    RoomExists(RoomId),
    /// The room's queue is closed: no new visitors.
    #[error("room {0} is closed to new visitors")]
    Closed(RoomId),
    /// No visitor with this id (or session) in the room.
    #[error("unknown visitor in room {0}")]
    UnknownVisitor(RoomId),
    /// The visitor belongs to another session.
    #[error("the visitor belongs to another session")]
    SessionMismatch,
    /// The visitor is not admitted (still waiting, or its admission
    /// ended: expired, left or revoked). The state says which.
    #[error("not admitted: {0:?}")]
    NotAdmitted(VisitorState),
    /// The on-sale has not started: the pre-queue is drawn at `opens_at`.
    #[error("the room opens at {opens_at}")]
    NotOpen {
        /// When the room opens.
        opens_at: DateTime<Utc>,
    },
    /// The pre-queue was drawn already; read the recorded draw.
    #[error("the pre-queue of room {0} is drawn already")]
    AlreadyDrawn(RoomId),
    /// The room opened but its pre-queue is not drawn yet: draw it first
    /// ([`WaitingRoom::admit_wave`] does).
    #[error("the pre-queue of room {0} is not drawn yet")]
    NotDrawn(RoomId),
    /// A draw's order is not a permutation of the recorded pre-queue (it
    /// changed since it was read, or the order is not one). Draw again.
    #[error("the draw does not match the pre-queue of room {0}")]
    DrawMismatch(RoomId),
    /// An admission token was refused.
    #[error("admission token: {0}")]
    Token(#[from] TokenError),
    /// The store is unreachable or overloaded; the request may be retried.
    #[error("waiting-room store unavailable: {0}")]
    Unavailable(String),
    /// The store failed in a way the library does not classify.
    #[error("waiting-room store: {0}")]
    Backend(String),
}

/// Where waiting rooms live: the port every backend implements.
///
/// Time is the store's (its server clock, or an injected clock in tests):
/// whether a visitor arrived before the start, when an admission ends, and
/// the 60-second window of the rate. Every method is atomic for its room:
/// two concurrent joins of one session get one place, and concurrent waves
/// together never exceed the rate, the cap or the credits.
///
/// Requests that fail with a decision change nothing. Checks come in this
/// order, so that every backend answers a bad request alike: the request's
/// own fields (`InvalidConfig`, `InvalidSession`), the room
/// (`UnknownRoom`), then the visitor (`UnknownVisitor`, `SessionMismatch`).
#[async_trait]
pub trait WaitingRoomStore: Send + Sync + Debug {
    /// Creates a room.
    ///
    /// Errors: `InvalidConfig`, `RoomExists`.
    async fn create_room(&self, config: &RoomConfig) -> AdmissionResult<()>;

    /// A room's settings and counts now.
    ///
    /// Errors: `UnknownRoom`.
    async fn room(&self, room: RoomId) -> AdmissionResult<RoomState>;

    /// Switches a room's mode (queue, pass-through, closed).
    ///
    /// Errors: `UnknownRoom`.
    async fn set_mode(&self, room: RoomId, mode: Mode) -> AdmissionResult<()>;

    /// Puts a session in the room: before `opens_at` into the pre-queue
    /// (arrival recorded in order), after it behind the drawn pre-queue (in
    /// arrival order, or by `req.random_key` in a random room), and in a
    /// pass-through room straight to admitted. A session that joined
    /// before gets its record back, unchanged, whatever its state.
    ///
    /// Errors: `InvalidSession`, `UnknownRoom`, `Closed` (for a new
    /// session).
    async fn join(&self, req: &Join) -> AdmissionResult<Joined>;

    /// The visitor of `session`, as it stands now.
    ///
    /// Errors: `InvalidSession`, `UnknownRoom`, `UnknownVisitor`.
    async fn visitor(&self, room: RoomId, session: &SessionId) -> AdmissionResult<Visitor>;

    /// The pre-queue in arrival order (to draw it, or to audit the draw).
    ///
    /// Errors: `UnknownRoom`.
    async fn pre_queue(&self, room: RoomId) -> AdmissionResult<Vec<VisitorId>>;

    /// Records the draw: `order` (a permutation of the pre-queue) becomes
    /// the head of the queue, and `seed` is kept for audit. Only once per
    /// room, and only from `opens_at` on; after it, joins are late.
    ///
    /// Errors: `UnknownRoom`, `NotOpen`, `AlreadyDrawn`, `DrawMismatch`.
    async fn record_draw(&self, room: RoomId, seed: &Seed, order: &[VisitorId]) -> AdmissionResult<DrawRecord>;

    /// The recorded draw, if the room was drawn.
    ///
    /// Errors: `UnknownRoom`.
    async fn draw_record(&self, room: RoomId) -> AdmissionResult<Option<DrawRecord>>;

    /// Admits a wave: ends the admitted sessions that ran out (each gives
    /// a credit back to an inlet room), then admits the visitors at the
    /// head of the queue, in order, as many as the room allows at once:
    /// at most `per_minute` in any 60 seconds, at most `max_active` active,
    /// and with an inlet at most its credits (one spent per admission).
    /// Before `opens_at` it admits nobody.
    ///
    /// Errors: `UnknownRoom`, `NotDrawn` (opened, pre-queue not drawn).
    async fn admit(&self, room: RoomId) -> AdmissionResult<Vec<Admission>>;

    /// The visitor leaves: a waiting visitor gives up its place, an
    /// admitted one ends its session (freeing room under the cap; no
    /// credit back). Leaving twice changes nothing.
    ///
    /// Errors: `InvalidSession`, `UnknownRoom`, `UnknownVisitor`,
    /// `SessionMismatch`.
    async fn leave(&self, room: RoomId, visitor: VisitorId, session: &SessionId) -> AdmissionResult<()>;

    /// Revokes a visitor's admission (an operator's decision: a bot, a
    /// resold token): it leaves the queue or its session ends, and its
    /// token is refused until it would have expired.
    ///
    /// Errors: `UnknownRoom`, `UnknownVisitor`.
    async fn revoke(&self, room: RoomId, visitor: VisitorId) -> AdmissionResult<()>;

    /// Voids every admission of the room so far (a leaked signing key,
    /// say): bumps the revocation generation and ends every active
    /// session. Returns the new generation.
    ///
    /// Errors: `UnknownRoom`.
    async fn revoke_all(&self, room: RoomId) -> AdmissionResult<u64>;

    /// The room's revocations now: its generation and the revoked visitors
    /// whose sessions would not have ended yet.
    ///
    /// Errors: `UnknownRoom`.
    async fn revocations(&self, room: RoomId) -> AdmissionResult<Revocations>;

    /// Gives the inlet `credits` more (capped at the room's `max_active`);
    /// returns the credits now. A room without an inlet keeps 0.
    ///
    /// Errors: `UnknownRoom`.
    async fn add_credits(&self, room: RoomId, credits: u64) -> AdmissionResult<u64>;
}
