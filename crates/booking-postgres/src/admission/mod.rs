//! Waiting rooms on PostgreSQL ([`PgWaitingRoomStore`]), in the tables
//! `booking.admission_rooms` and `booking.admission_visitors` created by
//! [`migrations`](crate::migrations).
//!
//! Every change to a room (a join, the draw, a wave, a leave or
//! revocation) is one short transaction that first locks the room's row
//! (`SELECT ... FOR UPDATE`) and then reads the clock, so one room's
//! decisions are taken one at a time, in the order of their locks, and
//! never wait on another room's. Reads (a visitor's position, a room's
//! counts) are single statements on partial indexes: the queue's
//! `(room, place, visitor) WHERE state = 'wait'`, the active sessions'
//! and the last minute's admissions'. A position is a count of the
//! visitors ahead, so it costs in proportion to the place.

mod room;
mod view;

use async_trait::async_trait;
use booking_core::TimeSource;
use booking_core::admission::{
    Admission, AdmissionError, AdmissionResult, DrawRecord, Join, Joined, LateOrder, MAX_ACTIVE, Mode,
    RANDOM_KEY_BOUND, Revocations, RoomConfig, RoomId, RoomState, Seed, SessionId, Visitor, VisitorId,
    WaitingRoomStore,
};
use booking_core::clock::millis_to_datetime;
use room::{big, corrupt, count, failed, lock, uuids};
use sqlx::{PgPool, Postgres, Row, Transaction};
use std::collections::HashSet;
use std::time::Duration;
use uuid::Uuid;
use view::{BY_SESSION, BY_VISITOR, visitor_from_row};

/// Where late arrivals' places start: above every drawn rank.
const LATE: i64 = 1 << 40;
/// The rate's window.
const MINUTE_MS: i64 = 60_000;

/// Waiting rooms on PostgreSQL. Cheap to clone.
#[derive(Clone, Debug)]
pub struct PgWaitingRoomStore {
    pool: PgPool,
    time: TimeSource,
}

impl PgWaitingRoomStore {
    /// A store on `pool` deciding by the database clock. The schema must
    /// be migrated ([`crate::migrations`]).
    pub fn new(pool: PgPool) -> Self {
        Self::with_time_source(pool, TimeSource::Store)
    }

    /// A store on `pool` deciding by `time` (an injected clock in tests).
    pub fn with_time_source(pool: PgPool, time: TimeSource) -> Self {
        PgWaitingRoomStore { pool, time }
    }

    fn now_arg(&self) -> Option<i64> {
        self.time.injected_millis()
    }

    async fn begin(&self, operation: &'static str) -> AdmissionResult<Transaction<'static, Postgres>> {
        self.pool.begin().await.map_err(failed(operation))
    }

    /// A visitor's view by session or id (`sql` is [`BY_SESSION`] or
    /// [`BY_VISITOR`]).
    async fn view(&self, sql: &'static str, room: RoomId, key: ViewKey<'_>) -> AdmissionResult<Option<Visitor>> {
        const OP: &str = "waiting room visitor";
        let q = sqlx::query(sql).bind(room.as_uuid()).bind(self.now_arg());
        let q = match key {
            ViewKey::Session(s) => q.bind(&s.0),
            ViewKey::Visitor(v) => q.bind(v.as_uuid()),
        };
        let row = q.fetch_optional(&self.pool).await.map_err(failed(OP))?;
        row.map(|r| visitor_from_row(&r, OP)).transpose()
    }

    /// Ends a visitor's place or session: `to` is `left` or `rev`.
    async fn end(
        &self,
        room: RoomId,
        visitor: VisitorId,
        to: &str,
        session: Option<&SessionId>,
    ) -> AdmissionResult<()> {
        const OP: &str = "waiting room leave";
        let mut tx = self.begin(OP).await?;
        let locked = lock(&mut tx, room, self.now_arg(), OP).await?;
        let row = sqlx::query(
            "SELECT session, state, until FROM booking.admission_visitors WHERE room = $1 AND visitor = $2",
        )
        .bind(room.as_uuid())
        .bind(visitor.as_uuid())
        .fetch_optional(&mut *tx)
        .await
        .map_err(failed(OP))?
        .ok_or(AdmissionError::UnknownVisitor(room))?;
        let stored: String = row.try_get("session").map_err(failed(OP))?;
        if session.is_some_and(|s| s.0 != stored) {
            return Err(AdmissionError::SessionMismatch);
        }
        sqlx::query(
            "UPDATE booking.admission_visitors SET \
               revoked_until = CASE WHEN state = 'adm' AND until > $4 THEN until ELSE revoked_until END, \
               state = $3 \
             WHERE room = $1 AND visitor = $2 \
               AND (state IN ('pre', 'wait') OR (state = 'adm' AND until > $4) \
                    OR ($3 = 'rev' AND state <> 'rev'))",
        )
        .bind(room.as_uuid())
        .bind(visitor.as_uuid())
        .bind(to)
        .bind(locked.now)
        .execute(&mut *tx)
        .await
        .map_err(failed(OP))?;
        tx.commit().await.map_err(failed(OP))
    }
}

enum ViewKey<'a> {
    Session(&'a SessionId),
    Visitor(VisitorId),
}

#[async_trait]
impl WaitingRoomStore for PgWaitingRoomStore {
    async fn create_room(&self, config: &RoomConfig) -> AdmissionResult<()> {
        const OP: &str = "waiting room create";
        config.validate()?;
        let inserted = sqlx::query(
            "INSERT INTO booking.admission_rooms \
               (id, opens_at, mode, late_order, per_minute, max_active, session_ttl_ms, inlet, credits) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, coalesce($8, 0)) ON CONFLICT (id) DO NOTHING",
        )
        .bind(config.id.as_uuid())
        .bind(config.opens_at.timestamp_millis())
        .bind(config.mode.as_str())
        .bind(config.late_order.as_str())
        .bind(big(config.per_minute))
        .bind(big(config.max_active))
        .bind(config.session_ttl_ms())
        .bind(config.inlet.map(big))
        .execute(&self.pool)
        .await
        .map_err(failed(OP))?
        .rows_affected();
        if inserted == 1 { Ok(()) } else { Err(AdmissionError::RoomExists(config.id)) }
    }

    async fn room(&self, room: RoomId) -> AdmissionResult<RoomState> {
        const OP: &str = "waiting room state";
        let row = sqlx::query(
            "WITH t AS (SELECT coalesce($2::bigint, booking.clock_ms()) AS now) \
             SELECT r.*, \
               CASE WHEN r.drawn_at IS NULL \
                 THEN (SELECT count(*) FROM booking.admission_visitors v WHERE v.room = r.id AND v.state = 'pre') \
                 ELSE coalesce(cardinality(r.arrivals), 0) END AS pre_count, \
               (SELECT count(*) FROM booking.admission_visitors v WHERE v.room = r.id AND v.state = 'wait') \
                 AS waiting, \
               (SELECT count(*) FROM booking.admission_visitors v \
                 WHERE v.room = r.id AND v.state = 'adm' AND v.until > t.now) AS active, \
               (SELECT count(*) FROM booking.admission_visitors v \
                 WHERE v.room = r.id AND v.admitted_at > t.now - $3) AS last_minute \
             FROM booking.admission_rooms r, t WHERE r.id = $1",
        )
        .bind(room.as_uuid())
        .bind(self.now_arg())
        .bind(MINUTE_MS)
        .fetch_optional(&self.pool)
        .await
        .map_err(failed(OP))?
        .ok_or(AdmissionError::UnknownRoom(room))?;
        let get = |e| failed(OP)(e);
        let n = |c: &str| row.try_get::<i64, _>(c).map_err(get);
        let mode: String = row.try_get("mode").map_err(get)?;
        let late: String = row.try_get("late_order").map_err(get)?;
        let drawn: Option<i64> = row.try_get("drawn_at").map_err(get)?;
        let inlet: Option<i64> = row.try_get("inlet").map_err(get)?;
        Ok(RoomState {
            config: RoomConfig {
                id: room,
                opens_at: millis_to_datetime(n("opens_at")?),
                mode: Mode::from_name(&mode).ok_or_else(|| corrupt(OP, "mode"))?,
                late_order: LateOrder::from_name(&late).ok_or_else(|| corrupt(OP, "late order"))?,
                per_minute: count(n("per_minute")?),
                max_active: count(n("max_active")?),
                session_ttl: Duration::from_millis(count(n("session_ttl_ms")?)),
                inlet: inlet.map(count),
            },
            drawn_at: drawn.map(millis_to_datetime),
            pre_queue: count(n("pre_count")?),
            waiting: count(n("waiting")?),
            active: count(n("active")?),
            admitted_last_minute: count(n("last_minute")?),
            credits: count(n("credits")?),
            generation: count(n("generation")?),
        })
    }

    async fn set_mode(&self, room: RoomId, mode: Mode) -> AdmissionResult<()> {
        let done = sqlx::query("UPDATE booking.admission_rooms SET mode = $2 WHERE id = $1")
            .bind(room.as_uuid())
            .bind(mode.as_str())
            .execute(&self.pool)
            .await
            .map_err(failed("waiting room mode"))?
            .rows_affected();
        if done == 1 { Ok(()) } else { Err(AdmissionError::UnknownRoom(room)) }
    }

    async fn join(&self, req: &Join) -> AdmissionResult<Joined> {
        const OP: &str = "waiting room join";
        req.session.validate()?;
        let mut tx = self.begin(OP).await?;
        let l = lock(&mut tx, req.room, self.now_arg(), OP).await?;
        let existing: Option<Uuid> =
            sqlx::query_scalar("SELECT visitor FROM booking.admission_visitors WHERE room = $1 AND session = $2")
                .bind(req.room.as_uuid())
                .bind(&req.session.0)
                .fetch_optional(&mut *tx)
                .await
                .map_err(failed(OP))?;
        let (new, id) = match existing {
            Some(id) => {
                tx.rollback().await.map_err(failed(OP))?;
                (false, VisitorId(id))
            }
            None => {
                if l.mode == Mode::Closed.as_str() {
                    return Err(AdmissionError::Closed(req.room));
                }
                let pre = !l.drawn && l.now < l.opens_at;
                let place = match (pre, l.late_order == LateOrder::Random.as_str()) {
                    (true, _) => l.next_seq,
                    (false, false) => LATE + l.next_seq,
                    (false, true) => LATE + big(req.random_key % RANDOM_KEY_BOUND),
                };
                let pass = l.mode == Mode::PassThrough.as_str();
                let state = if pass {
                    "adm"
                } else if pre {
                    "pre"
                } else {
                    "wait"
                };
                let inserted = sqlx::query(
                    "INSERT INTO booking.admission_visitors \
                       (room, visitor, session, seq, state, place, joined_at, admitted_at, until) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, \
                             CASE WHEN $8 THEN $7::bigint END, CASE WHEN $8 THEN $7 + $9 END) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(req.room.as_uuid())
                .bind(req.visitor.as_uuid())
                .bind(&req.session.0)
                .bind(l.next_seq)
                .bind(state)
                .bind(place)
                .bind(l.now)
                .bind(pass)
                .bind(l.ttl)
                .execute(&mut *tx)
                .await
                .map_err(failed(OP))?
                .rows_affected();
                if inserted != 1 {
                    // The session is checked above under the room's lock:
                    // the id is taken.
                    return Err(AdmissionError::Backend("visitor id in use; retry with another".into()));
                }
                sqlx::query("UPDATE booking.admission_rooms SET next_seq = next_seq + 1 WHERE id = $1")
                    .bind(req.room.as_uuid())
                    .execute(&mut *tx)
                    .await
                    .map_err(failed(OP))?;
                tx.commit().await.map_err(failed(OP))?;
                (true, req.visitor)
            }
        };
        let visitor = self
            .view(BY_VISITOR, req.room, ViewKey::Visitor(id))
            .await?
            .ok_or(AdmissionError::UnknownVisitor(req.room))?;
        Ok(Joined { new, visitor })
    }

    async fn visitor(&self, room: RoomId, session: &SessionId) -> AdmissionResult<Visitor> {
        session.validate()?;
        match self.view(BY_SESSION, room, ViewKey::Session(session)).await? {
            Some(v) => Ok(v),
            None => {
                self.room(room).await?;
                Err(AdmissionError::UnknownVisitor(room))
            }
        }
    }

    async fn pre_queue(&self, room: RoomId) -> AdmissionResult<Vec<VisitorId>> {
        const OP: &str = "waiting room pre-queue";
        let row = sqlx::query(
            "SELECT CASE WHEN r.drawn_at IS NULL THEN \
               ARRAY(SELECT visitor FROM booking.admission_visitors v \
                     WHERE v.room = r.id AND v.state = 'pre' ORDER BY v.seq) \
             ELSE r.arrivals END AS arrivals \
             FROM booking.admission_rooms r WHERE r.id = $1",
        )
        .bind(room.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(failed(OP))?
        .ok_or(AdmissionError::UnknownRoom(room))?;
        uuids(&row, "arrivals", OP)
    }

    async fn record_draw(&self, room: RoomId, seed: &Seed, order: &[VisitorId]) -> AdmissionResult<DrawRecord> {
        const OP: &str = "waiting room draw";
        let mut tx = self.begin(OP).await?;
        let l = lock(&mut tx, room, self.now_arg(), OP).await?;
        if l.now < l.opens_at {
            return Err(AdmissionError::NotOpen { opens_at: millis_to_datetime(l.opens_at) });
        }
        if l.drawn {
            return Err(AdmissionError::AlreadyDrawn(room));
        }
        let arrivals: Vec<Uuid> = sqlx::query_scalar(
            "SELECT visitor FROM booking.admission_visitors WHERE room = $1 AND state = 'pre' ORDER BY seq",
        )
        .bind(room.as_uuid())
        .fetch_all(&mut *tx)
        .await
        .map_err(failed(OP))?;
        let pre: HashSet<Uuid> = arrivals.iter().copied().collect();
        let drawn: HashSet<Uuid> = order.iter().map(|v| v.as_uuid()).collect();
        if order.len() != arrivals.len() || drawn.len() != order.len() || drawn != pre {
            return Err(AdmissionError::DrawMismatch(room));
        }
        let order_ids: Vec<Uuid> = order.iter().map(|v| v.as_uuid()).collect();
        sqlx::query(
            "UPDATE booking.admission_visitors v SET state = 'wait', place = o.ord - 1 \
             FROM unnest($2::uuid[]) WITH ORDINALITY AS o(visitor, ord) \
             WHERE v.room = $1 AND v.visitor = o.visitor",
        )
        .bind(room.as_uuid())
        .bind(&order_ids)
        .execute(&mut *tx)
        .await
        .map_err(failed(OP))?;
        sqlx::query(
            "UPDATE booking.admission_rooms SET seed = $2, drawn_at = $3, arrivals = $4, draw_order = $5 \
             WHERE id = $1",
        )
        .bind(room.as_uuid())
        .bind(&seed.0[..])
        .bind(l.now)
        .bind(&arrivals)
        .bind(&order_ids)
        .execute(&mut *tx)
        .await
        .map_err(failed(OP))?;
        tx.commit().await.map_err(failed(OP))?;
        Ok(DrawRecord {
            seed: *seed,
            drawn_at: millis_to_datetime(l.now),
            arrivals: arrivals.into_iter().map(VisitorId).collect(),
            order: order.to_vec(),
        })
    }

    async fn draw_record(&self, room: RoomId) -> AdmissionResult<Option<DrawRecord>> {
        const OP: &str = "waiting room draw record";
        let row = sqlx::query("SELECT seed, drawn_at, arrivals, draw_order FROM booking.admission_rooms WHERE id = $1")
            .bind(room.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .map_err(failed(OP))?
            .ok_or(AdmissionError::UnknownRoom(room))?;
        let seed: Option<Vec<u8>> = row.try_get("seed").map_err(failed(OP))?;
        let Some(seed) = seed else { return Ok(None) };
        let seed = <[u8; 32]>::try_from(seed.as_slice()).map_err(|_| corrupt(OP, "seed"))?;
        let drawn: Option<i64> = row.try_get("drawn_at").map_err(failed(OP))?;
        Ok(Some(DrawRecord {
            seed: Seed(seed),
            drawn_at: millis_to_datetime(drawn.ok_or_else(|| corrupt(OP, "draw time"))?),
            arrivals: uuids(&row, "arrivals", OP)?,
            order: uuids(&row, "draw_order", OP)?,
        }))
    }

    async fn admit(&self, room: RoomId) -> AdmissionResult<Vec<Admission>> {
        const OP: &str = "waiting room admit";
        let mut tx = self.begin(OP).await?;
        let l = lock(&mut tx, room, self.now_arg(), OP).await?;
        if l.now < l.opens_at {
            return Ok(Vec::new());
        }
        if !l.drawn {
            return Err(AdmissionError::NotDrawn(room));
        }
        // End the sessions that ran out; an inlet gets their credits.
        let ended = sqlx::query(
            "UPDATE booking.admission_visitors SET state = 'exp' \
             WHERE room = $1 AND state = 'adm' AND until <= $2",
        )
        .bind(room.as_uuid())
        .bind(l.now)
        .execute(&mut *tx)
        .await
        .map_err(failed(OP))?
        .rows_affected();
        let mut credits = l.credits;
        if l.inlet {
            credits = credits.saturating_add(big(ended)).min(l.max_active);
        }
        let row = sqlx::query(
            "SELECT \
               (SELECT count(*) FROM booking.admission_visitors \
                 WHERE room = $1 AND admitted_at > $2 - $3) AS last_minute, \
               (SELECT count(*) FROM booking.admission_visitors \
                 WHERE room = $1 AND state = 'adm' AND until > $2) AS active",
        )
        .bind(room.as_uuid())
        .bind(l.now)
        .bind(MINUTE_MS)
        .fetch_one(&mut *tx)
        .await
        .map_err(failed(OP))?;
        let last_minute: i64 = row.try_get("last_minute").map_err(failed(OP))?;
        let active: i64 = row.try_get("active").map_err(failed(OP))?;
        let mut n = (l.per_minute - last_minute).min(l.max_active - active);
        if l.inlet {
            n = n.min(credits);
        }
        let mut admitted = Vec::new();
        if n > 0 {
            let rows = sqlx::query(
                "UPDATE booking.admission_visitors v SET state = 'adm', admitted_at = $2, until = $2 + $3 \
                 FROM (SELECT visitor FROM booking.admission_visitors \
                       WHERE room = $1 AND state = 'wait' ORDER BY place, visitor LIMIT $4) h \
                 WHERE v.room = $1 AND v.visitor = h.visitor \
                 RETURNING v.visitor, v.place, v.until",
            )
            .bind(room.as_uuid())
            .bind(l.now)
            .bind(l.ttl)
            .bind(n)
            .fetch_all(&mut *tx)
            .await
            .map_err(failed(OP))?;
            let mut heads = Vec::with_capacity(rows.len());
            for r in rows {
                let (v, place, until): (Uuid, i64, i64) = (
                    r.try_get("visitor").map_err(failed(OP))?,
                    r.try_get("place").map_err(failed(OP))?,
                    r.try_get("until").map_err(failed(OP))?,
                );
                heads.push((place, v, until));
            }
            heads.sort();
            admitted = heads
                .into_iter()
                .map(|(_, v, until)| Admission { visitor: VisitorId(v), until: millis_to_datetime(until) })
                .collect();
        }
        if l.inlet {
            credits -= big(admitted.len() as u64);
            sqlx::query("UPDATE booking.admission_rooms SET credits = $2 WHERE id = $1")
                .bind(room.as_uuid())
                .bind(credits)
                .execute(&mut *tx)
                .await
                .map_err(failed(OP))?;
        }
        tx.commit().await.map_err(failed(OP))?;
        Ok(admitted)
    }

    async fn leave(&self, room: RoomId, visitor: VisitorId, session: &SessionId) -> AdmissionResult<()> {
        session.validate()?;
        self.end(room, visitor, "left", Some(session)).await
    }

    async fn revoke(&self, room: RoomId, visitor: VisitorId) -> AdmissionResult<()> {
        self.end(room, visitor, "rev", None).await
    }

    async fn revoke_all(&self, room: RoomId) -> AdmissionResult<u64> {
        const OP: &str = "waiting room revoke all";
        let mut tx = self.begin(OP).await?;
        let l = lock(&mut tx, room, self.now_arg(), OP).await?;
        sqlx::query(
            "UPDATE booking.admission_visitors SET state = 'rev' WHERE room = $1 AND state = 'adm' AND until > $2",
        )
        .bind(room.as_uuid())
        .bind(l.now)
        .execute(&mut *tx)
        .await
        .map_err(failed(OP))?;
        let generation: i64 = sqlx::query_scalar(
            "UPDATE booking.admission_rooms SET generation = generation + 1 WHERE id = $1 RETURNING generation",
        )
        .bind(room.as_uuid())
        .fetch_one(&mut *tx)
        .await
        .map_err(failed(OP))?;
        tx.commit().await.map_err(failed(OP))?;
        Ok(count(generation))
    }

    async fn revocations(&self, room: RoomId) -> AdmissionResult<Revocations> {
        const OP: &str = "waiting room revocations";
        let row = sqlx::query(
            "WITH t AS (SELECT coalesce($2::bigint, booking.clock_ms()) AS now) \
             SELECT r.generation, ARRAY(SELECT v.visitor FROM booking.admission_visitors v \
                                        WHERE v.room = r.id AND v.revoked_until > t.now ORDER BY v.visitor) AS revoked \
             FROM booking.admission_rooms r, t WHERE r.id = $1",
        )
        .bind(room.as_uuid())
        .bind(self.now_arg())
        .fetch_optional(&self.pool)
        .await
        .map_err(failed(OP))?
        .ok_or(AdmissionError::UnknownRoom(room))?;
        let generation: i64 = row.try_get("generation").map_err(failed(OP))?;
        Ok(Revocations { generation: count(generation), revoked: uuids(&row, "revoked", OP)? })
    }

    async fn add_credits(&self, room: RoomId, credits: u64) -> AdmissionResult<u64> {
        // Credits are capped at the room's cap, itself at most MAX_ACTIVE:
        // clamping first keeps the sum inside a bigint.
        let credits = big(credits.min(MAX_ACTIVE));
        let now: Option<i64> = sqlx::query_scalar(
            "UPDATE booking.admission_rooms \
             SET credits = CASE WHEN inlet IS NULL THEN 0 ELSE least(credits + $2, max_active) END \
             WHERE id = $1 RETURNING credits",
        )
        .bind(room.as_uuid())
        .bind(credits)
        .fetch_optional(&self.pool)
        .await
        .map_err(failed("waiting room credits"))?;
        now.map(count).ok_or(AdmissionError::UnknownRoom(room))
    }
}
