//! Tickets on PostgreSQL: the check-in store ([`PgCheckInStore`]) in
//! `booking.tickets`, created by [`migrations`](crate::migrations).

use async_trait::async_trait;
use booking_core::backend::failure::StoreFailure;
use booking_core::clock::millis_to_datetime;
use booking_core::tickets::checkin::{decide_check_in, decide_register};
use booking_core::tickets::{
    Admission, CheckIn, CheckInError, CheckInStore, DeviceId, GateId, Registered, Registration, RevocationList,
    TicketId, TicketStatus,
};
use booking_core::{OwnerId, ShowId, TimeSource};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres, Row, Transaction};

/// A `map_err` for sqlx errors of `operation`: a
/// [`StoreFailure`] naming the store (`postgres`) and the operation.
fn backend(operation: &'static str) -> impl FnOnce(sqlx::Error) -> CheckInError {
    move |source| CheckInError::Backend(Box::new(StoreFailure::new(crate::outcome::STORE, operation, Box::new(source))))
}

/// The check-in store on PostgreSQL.
///
/// A check-in is one conditional `UPDATE` (the current version, its
/// holder, not yet admitted) on the ticket's row: of concurrent scans, the
/// row lock lets exactly one through, and READ COMMITTED re-checks the
/// others' `WHERE` after it commits. A refused check-in reads the row to
/// say why. A registration inserts the row, or locks it (`FOR UPDATE`) and
/// decides on the record; so a reissue and a scan of the same ticket
/// exclude each other. Admission times come from the time source.
#[derive(Clone, Debug)]
pub struct PgCheckInStore {
    pool: PgPool,
    time: TimeSource,
}

impl PgCheckInStore {
    /// A store on `pool` stamping admissions with the database clock. The
    /// schema must be migrated ([`crate::migrations`]).
    pub fn new(pool: PgPool) -> Self {
        Self::with_time_source(pool, TimeSource::Store)
    }

    /// A store on `pool` stamping admissions with `time` (an injected
    /// clock in tests).
    pub fn with_time_source(pool: PgPool, time: TimeSource) -> Self {
        PgCheckInStore { pool, time }
    }
}

const COLUMNS: &str = "show, ticket, version, holder, admitted_version, admitted_at, admitted_device, admitted_gate";

fn version(v: i64, operation: &'static str) -> Result<u32, CheckInError> {
    u32::try_from(v).map_err(|_| backend(operation)(sqlx::Error::Decode(format!("stored version {v}").into())))
}

fn status(row: &PgRow, operation: &'static str) -> Result<TicketStatus, CheckInError> {
    let get = backend(operation);
    let show: uuid::Uuid = row.try_get("show").map_err(get)?;
    let ticket: uuid::Uuid = row.try_get("ticket").map_err(backend(operation))?;
    let current: i64 = row.try_get("version").map_err(backend(operation))?;
    let holder: uuid::Uuid = row.try_get("holder").map_err(backend(operation))?;
    let at: Option<i64> = row.try_get("admitted_at").map_err(backend(operation))?;
    let admitted = match at {
        None => None,
        Some(at) => {
            let v: i64 = row.try_get("admitted_version").map_err(backend(operation))?;
            let device: String = row.try_get("admitted_device").map_err(backend(operation))?;
            let gate: String = row.try_get("admitted_gate").map_err(backend(operation))?;
            Some(Admission {
                ticket: TicketId(ticket),
                version: version(v, operation)?,
                at: millis_to_datetime(at),
                device: DeviceId(device),
                gate: GateId(gate),
            })
        }
    };
    Ok(TicketStatus {
        show: ShowId(show),
        ticket: TicketId(ticket),
        version: version(current, operation)?,
        holder: OwnerId(holder),
        admitted,
    })
}

impl PgCheckInStore {
    async fn locked(
        tx: &mut Transaction<'_, Postgres>,
        show: ShowId,
        ticket: TicketId,
        operation: &'static str,
    ) -> Result<Option<TicketStatus>, CheckInError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM booking.tickets WHERE show = $1 AND ticket = $2 FOR UPDATE"
        )))
        .bind(show.as_uuid())
        .bind(ticket.0)
        .fetch_optional(&mut **tx)
        .await
        .map_err(backend(operation))?;
        row.map(|r| status(&r, operation)).transpose()
    }
}

#[async_trait]
impl CheckInStore for PgCheckInStore {
    async fn register(&self, reg: &Registration) -> Result<Registered, CheckInError> {
        const OP: &str = "ticket registration";
        if reg.version == 0 {
            return Err(CheckInError::ZeroVersion);
        }
        let mut tx = self.pool.begin().await.map_err(backend(OP))?;
        let inserted = sqlx::query(
            "INSERT INTO booking.tickets (show, ticket, version, holder) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (show, ticket) DO NOTHING",
        )
        .bind(reg.show.as_uuid())
        .bind(reg.ticket.0)
        .bind(i64::from(reg.version))
        .bind(reg.holder.as_uuid())
        .execute(&mut *tx)
        .await
        .map_err(backend(OP))?
        .rows_affected();
        if inserted == 1 {
            tx.commit().await.map_err(backend(OP))?;
            return Ok(Registered::New);
        }
        // The row exists (a concurrent insert has committed by now).
        let current = Self::locked(&mut tx, reg.show, reg.ticket, OP).await?;
        let outcome = decide_register(current.as_ref(), reg)?;
        if let Registered::Reissued { .. } = outcome {
            sqlx::query("UPDATE booking.tickets SET version = $3, holder = $4 WHERE show = $1 AND ticket = $2")
                .bind(reg.show.as_uuid())
                .bind(reg.ticket.0)
                .bind(i64::from(reg.version))
                .bind(reg.holder.as_uuid())
                .execute(&mut *tx)
                .await
                .map_err(backend(OP))?;
            tx.commit().await.map_err(backend(OP))?;
        }
        Ok(outcome)
    }

    async fn check_in(&self, req: &CheckIn) -> Result<Admission, CheckInError> {
        const OP: &str = "check-in";
        req.validate()?;
        // A refused update is explained from the row; the row only moves
        // forward, so the explanation holds, except for a ticket registered
        // between the two statements: then the update is tried again.
        for _ in 0..3 {
            let admitted: Option<i64> = sqlx::query_scalar(
                "UPDATE booking.tickets SET admitted_version = version, admitted_at = n.now, \
                   admitted_device = $5, admitted_gate = $6 \
                 FROM (SELECT coalesce($7::bigint, booking.clock_ms()) AS now) n \
                 WHERE show = $1 AND ticket = $2 AND version = $3 AND holder = $4 AND admitted_at IS NULL \
                 RETURNING n.now",
            )
            .bind(req.show.as_uuid())
            .bind(req.ticket.0)
            .bind(i64::from(req.version))
            .bind(req.holder.as_uuid())
            .bind(&req.device.0)
            .bind(&req.gate.0)
            .bind(self.time.injected_millis())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend(OP))?;
            if let Some(at) = admitted {
                return Ok(Admission {
                    ticket: req.ticket,
                    version: req.version,
                    at: millis_to_datetime(at),
                    device: req.device.clone(),
                    gate: req.gate.clone(),
                });
            }
            let current = self.status(req.show, req.ticket).await?;
            decide_check_in(current.as_ref(), req)?;
        }
        Err(backend(OP)(sqlx::Error::Protocol("the ticket's row changed under three check-ins in a row".into())))
    }

    async fn status(&self, show: ShowId, ticket: TicketId) -> Result<Option<TicketStatus>, CheckInError> {
        const OP: &str = "ticket status";
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM booking.tickets WHERE show = $1 AND ticket = $2"
        )))
        .bind(show.as_uuid())
        .bind(ticket.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend(OP))?;
        row.map(|r| status(&r, OP)).transpose()
    }

    async fn revocations(&self, show: ShowId) -> Result<RevocationList, CheckInError> {
        const OP: &str = "revocation list";
        let rows = sqlx::query("SELECT ticket, version FROM booking.tickets WHERE show = $1 AND version > 1")
            .bind(show.as_uuid())
            .fetch_all(&self.pool)
            .await
            .map_err(backend(OP))?;
        let mut list = RevocationList::new();
        for row in rows {
            let ticket: uuid::Uuid = row.try_get("ticket").map_err(backend(OP))?;
            let v: i64 = row.try_get("version").map_err(backend(OP))?;
            list.revoke_below(TicketId(ticket), version(v, OP)?);
        }
        Ok(list)
    }
}
