//! What the store answers: a show's cached metadata, seat and sale rows;
//! and what the calls that change them say they do.

use crate::outcome::PARTITIONS;
use booking_core::backend::fsm::{Seat, SeatState};
use booking_core::backend::refusal::Context;
use booking_core::backend::validate;
use booking_core::layout::{HoldPolicy, LayoutIndex};
use booking_core::{
    Hold, HoldId, HoldItems, HoldToken, InventoryError, Limit, OrderId, OwnerId, PayerKey, PaymentRef, PoolId, Result,
    Sale, SaleRecord, SeatId, ShowId, ShowSpec,
};
use sqlx::Row;
use sqlx::postgres::PgRow;

/// What a client needs to know of a show; shows never change once created.
/// The layout is kept as a compact [`LayoutIndex`] (rows and category runs),
/// not per seat.
#[derive(Debug)]
pub(crate) struct ShowMeta {
    pub(crate) id: ShowId,
    pub(crate) policy: HoldPolicy,
    pub(crate) pools: usize,
    pub(crate) seat_count: usize,
    pub(crate) index: LayoutIndex,
    /// The partition of the per-show tables that holds the show's rows,
    /// when the database named one (`booking.show_partition`).
    pub(crate) part: Option<u8>,
}

impl ShowMeta {
    /// The metadata of `spec`, whose rows live in partition `part` (as
    /// `booking.show_partition` answers; out of range counts as unknown).
    pub(crate) fn new(spec: &ShowSpec, part: Option<i32>) -> Self {
        let index = LayoutIndex::new(&spec.layout);
        ShowMeta {
            id: spec.id,
            policy: spec.policy.clone(),
            pools: spec.pools.len(),
            seat_count: index.seat_count(),
            index,
            part: part.and_then(|p| u8::try_from(p).ok()).filter(|&p| usize::from(p) < PARTITIONS),
        }
    }

    pub(crate) fn id(&self) -> ShowId {
        self.id
    }

    pub(crate) fn max_per_request(&self) -> u32 {
        self.policy.max_per_request
    }

    pub(crate) fn seats(&self, seats: &[SeatId]) -> Result<Vec<SeatId>> {
        validate::seats(self.id(), seats, self.seat_count, self.max_per_request())
    }

    pub(crate) fn pool(&self, pool: PoolId) -> Result<()> {
        if (pool.0 as usize) < self.pools { Ok(()) } else { Err(InventoryError::UnknownPool { show: self.id(), pool }) }
    }

    /// The model's `check_items`: sorted seats, or the pool checked.
    pub(crate) fn items(&self, items: &HoldItems) -> Result<Option<Vec<SeatId>>> {
        match items {
            HoldItems::Seats(seats) => Ok(Some(self.seats(seats)?)),
            HoldItems::Pool { pool, quantity } => {
                validate::quantity(*quantity, self.max_per_request())?;
                self.pool(*pool)?;
                Ok(None)
            }
        }
    }

    /// What every request on the show says: the show and its limits.
    pub(crate) fn context(&self) -> Context {
        Context {
            show: Some(self.id),
            max_held: self.policy.max_held_per_owner,
            max_tickets: self.policy.max_tickets_per_owner,
            max_payment: self.policy.max_tickets_per_payment,
            max_renewals: self.policy.max_renewals,
            ..Context::default()
        }
    }

    /// What a request with `token` says: the above, the hold, the version
    /// presented and the units it names.
    pub(crate) fn token_context(&self, token: &HoldToken) -> Context {
        let pool = match token.items {
            HoldItems::Pool { pool, .. } => Some(pool),
            HoldItems::Seats(_) => None,
        };
        Context {
            hold: Some(token.hold),
            presented: Some(token.version),
            pool,
            requested: token.items.count(),
            ..self.context()
        }
    }

    pub(crate) fn limit(&self, would_hold: i64) -> InventoryError {
        InventoryError::LimitExceeded(Limit::HeldPerOwner {
            would_hold: would_hold.clamp(0, u32::MAX as i64) as u32,
            max: self.policy.max_held_per_owner.unwrap_or(u32::MAX),
        })
    }

    pub(crate) fn tickets_limit(&self, would_have: i64) -> InventoryError {
        InventoryError::LimitExceeded(Limit::TicketsPerOwner {
            would_have: would_have.clamp(0, u32::MAX as i64) as u32,
            max: self.policy.max_tickets_per_owner.unwrap_or(u32::MAX),
        })
    }
}

pub(crate) fn to_i32(seats: &[SeatId]) -> Vec<i32> {
    seats.iter().map(|s| s.0 as i32).collect()
}

/// What `booking.pool_op` does with a pool hold (its `p_op`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PoolOp {
    Extend = 1,
    Release = 2,
    Verify = 3,
    Sell = 4,
}

/// What `booking.regroup_seats` does with a group of seats (its `p_kind`,
/// also the kind of change it publishes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Regroup {
    Refund = 5,
    Block = 6,
    Unblock = 7,
}

/// The result of holding a best-available pick.
pub(crate) enum Picked {
    Held(Hold),
    /// The seats the pick depended on changed: the region's free seats now.
    Changed(Vec<u32>),
}

/// A seat-group change that may need its failure explained.
pub(crate) enum SeatCall {
    Extend,
    Release,
    /// A sale, with the token's seats as presented (the order's record
    /// keeps them so).
    Sell {
        order: OrderId,
        payment: String,
        presented: Vec<i32>,
        /// The payer key, counted under the per-payment cap.
        payer: Option<String>,
    },
}

pub(crate) fn seat_from_row(row: &PgRow) -> std::result::Result<Seat, sqlx::Error> {
    let state: i16 = row.try_get("state")?;
    let version = row.try_get::<i64, _>("version")?.max(0) as u64;
    let missing = || sqlx::Error::Decode("seat row misses a column its state needs".into());
    let state = match state {
        0 => SeatState::Available,
        1 => SeatState::Held {
            owner: OwnerId(row.try_get::<Option<uuid::Uuid>, _>("owner")?.ok_or_else(missing)?),
            hold: HoldId(row.try_get::<Option<uuid::Uuid>, _>("hold")?.ok_or_else(missing)?),
            until: row.try_get::<Option<i64>, _>("held_until")?.ok_or_else(missing)?,
            deadline: row.try_get::<Option<i64>, _>("deadline")?.ok_or_else(missing)?,
            renewals: row.try_get::<i32, _>("renewals")?.max(0) as u32,
            size: row.try_get::<Option<i32>, _>("size")?.unwrap_or(0).clamp(0, u16::MAX as i32) as u16,
        },
        2 => SeatState::Sold {
            owner: OwnerId(row.try_get::<Option<uuid::Uuid>, _>("owner")?.ok_or_else(missing)?),
            order: OrderId(row.try_get::<Option<uuid::Uuid>, _>("order_id")?.ok_or_else(missing)?),
        },
        _ => SeatState::Blocked,
    };
    Ok(Seat { state, version })
}

/// A row of `booking.sales`.
pub(crate) struct RecordRow {
    pub(crate) show: ShowId,
    pub(crate) order: OrderId,
    pub(crate) owner: uuid::Uuid,
    pub(crate) hold: uuid::Uuid,
    pub(crate) token_version: i64,
    pub(crate) seats: Option<Vec<i32>>,
    pub(crate) pool: Option<i32>,
    pub(crate) quantity: Option<i32>,
    pub(crate) payment: String,
    pub(crate) payer: Option<String>,
    pub(crate) version: i64,
}

/// The sale record a row of `booking.sales` holds: the sale answered with
/// the token's items, as the first sell did.
pub(crate) fn sale_record(r: RecordRow) -> SaleRecord {
    let items = match r.pool {
        Some(pool) => HoldItems::Pool { pool: PoolId(pool as u32), quantity: r.quantity.unwrap_or(0).max(0) as u32 },
        None => HoldItems::Seats(r.seats.unwrap_or_default().into_iter().map(|s| SeatId(s as u32)).collect()),
    };
    let token = HoldToken { show: r.show, hold: HoldId(r.hold), version: r.token_version as u64, items };
    SaleRecord {
        sale: Sale {
            show: r.show,
            order: r.order,
            owner: OwnerId(r.owner),
            items: token.items.clone(),
            version: r.version.max(0) as u64,
        },
        token,
        payment: PaymentRef(r.payment),
        // Only valid keys are stored: each was a `PayerKey` when sold.
        payer: r.payer.and_then(|p| PayerKey::new(p).ok()),
    }
}

/// The model's token show check.
pub(crate) fn same_show(meta: &ShowMeta, token: &HoldToken) -> Result<()> {
    if token.show == meta.id() { Ok(()) } else { Err(InventoryError::UnknownShow(token.show)) }
}

/// What a sale's follow-up read also asks: whether `order` has a sale
/// record and what `payer` (if any) has bought.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SaleProbe<'a> {
    pub order: OrderId,
    pub payer: Option<&'a str>,
}

/// Seats as read by `PgInventory::read_seats`, from one snapshot.
#[derive(Debug)]
pub(crate) struct SeatRead {
    pub rows: Vec<Seat>,
    /// The time to judge the rows by.
    pub at: i64,
    /// Whether the probed order has a sale record.
    pub recorded: bool,
    /// Units sold to the probed payer (0 without one).
    pub paid: u32,
}
