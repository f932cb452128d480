//! What the inventory functions answer (`booking.outcome`), read in one
//! place: done, a follow-up the client makes, or a refusal named by its
//! code from `booking_core::backend::refusal`, which becomes the caller's
//! error through [`Refused::into_error`] with what the request said.

use crate::db::{self, Backoff, Conns, Fail, Stmt};
use booking_core::backend::refusal::{Context, Refused, UnreadableRefusal};
use booking_core::{InventoryError, SeatId};
use sqlx::Row;
use sqlx::postgres::PgRow;

/// The store's name in its failures
/// ([`booking_core::backend::failure::StoreFailure`]).
pub(crate) const STORE: &str = "postgres";

/// The SQLSTATE of an exception an inventory function raises to roll back
/// a refused change it had begun: its MESSAGE is a refusal code or a
/// [`FollowUp`] code, its DETAIL the seats the refusal names.
pub(crate) const REFUSED: &str = "BK000";

/// The statement that calls an inventory function and reads its outcome:
/// `outcome!("booking.hold_pool($1, $2)")`.
macro_rules! outcome {
    ($call:expr) => {
        concat!("SELECT refusal, follow_up, version, held_until, renewals, n, seats FROM ", $call)
    };
}
pub(crate) use outcome;

/// The statements that call a per-show inventory function through its
/// copy on each partition of the per-show tables (`booking.<name>_p<n>`,
/// see the migration `partition_routes`), then through the function
/// itself: `routed!("hold_pool", "($1, $2)")`. [`Routed::on`] picks one
/// for a show's partition.
macro_rules! routed {
    ($name:literal, $args:literal) => {
        $crate::outcome::Routed([
            $crate::outcome::outcome!(concat!("booking.", $name, "_p0", $args)),
            $crate::outcome::outcome!(concat!("booking.", $name, "_p1", $args)),
            $crate::outcome::outcome!(concat!("booking.", $name, "_p2", $args)),
            $crate::outcome::outcome!(concat!("booking.", $name, "_p3", $args)),
            $crate::outcome::outcome!(concat!("booking.", $name, "_p4", $args)),
            $crate::outcome::outcome!(concat!("booking.", $name, "_p5", $args)),
            $crate::outcome::outcome!(concat!("booking.", $name, "_p6", $args)),
            $crate::outcome::outcome!(concat!("booking.", $name, "_p7", $args)),
            $crate::outcome::outcome!(concat!("booking.", $name, $args)),
        ])
    };
}
pub(crate) use routed;

/// How many partitions every per-show table has.
pub(crate) const PARTITIONS: usize = 8;

/// One statement per partition, then one through the parent tables: see
/// [`routed!`].
pub(crate) struct Routed(pub(crate) [&'static str; PARTITIONS + 1]);

impl Routed {
    /// The statement for a show in partition `part`; through the parent
    /// tables when the partition is not known.
    pub(crate) fn on(&self, part: Option<u8>) -> &'static str {
        self.0[part.map_or(PARTITIONS, usize::from)]
    }
}

/// What the client does when a function did not decide.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FollowUp {
    /// The compare-and-set matched no row: read the rows and let the state
    /// machine name the error (or try again if they allow the change).
    ReadSeats,
    /// The order has a sale record: answer from it.
    ReadRecord,
    /// The region of a best-available pick changed: pick again from its
    /// free seats now (the outcome's `seats`).
    PickAgain,
}

impl FollowUp {
    /// Every follow-up.
    #[cfg(test)]
    const ALL: [FollowUp; 3] = [FollowUp::ReadSeats, FollowUp::ReadRecord, FollowUp::PickAgain];

    /// The code the functions answer with.
    fn code(self) -> &'static str {
        match self {
            FollowUp::ReadSeats => "READ_SEATS",
            FollowUp::ReadRecord => "READ_RECORD",
            FollowUp::PickAgain => "PICK_AGAIN",
        }
    }

    fn from_code(code: &str) -> Option<FollowUp> {
        [FollowUp::ReadSeats, FollowUp::ReadRecord, FollowUp::PickAgain].into_iter().find(|f| f.code() == code)
    }

    /// A follow-up the call at hand never asks for: the store's answer
    /// does not fit the request.
    pub(crate) fn unexpected(self) -> InventoryError {
        InventoryError::Backend(format!("unexpected follow-up {} from the store", self.code()).into())
    }
}

/// A function's answer that is not a refusal.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// `None`: done.
    pub(crate) follow_up: Option<FollowUp>,
    pub(crate) version: Option<i64>,
    pub(crate) held_until: Option<i64>,
    pub(crate) renewals: Option<i32>,
    pub(crate) seats: Option<Vec<i32>>,
}

impl Outcome {
    /// An answer that only asks for `follow_up`.
    pub(crate) fn follow(follow_up: FollowUp) -> Self {
        Outcome { follow_up: Some(follow_up), ..Outcome::default() }
    }

    /// Reads an outcome row; a refusal comes back as [`Fail::Refused`].
    /// Calls an inventory function that answers one `booking.outcome`; a
    /// refusal it raises (BK000) is an outcome too.
    pub(crate) async fn call(conns: &Conns, backoff: &Backoff, make: impl Fn() -> Stmt) -> Result<Self, Fail> {
        match db::fetch_one(conns, backoff, true, make).await {
            Ok(row) => Outcome::decode(&row),
            Err(Fail::Raised { message, detail }) => Outcome::raised(&message, detail.as_deref()),
            Err(e) => Err(e),
        }
    }

    pub(crate) fn decode(row: &PgRow) -> Result<Self, Fail> {
        let e = |err| Fail::Error(db::backend(err));
        let refusal: Option<String> = row.try_get("refusal").map_err(e)?;
        let follow_up: Option<String> = row.try_get("follow_up").map_err(e)?;
        let seats: Option<Vec<i32>> = row.try_get("seats").map_err(e)?;
        let n: Option<i64> = row.try_get("n").map_err(e)?;
        if let Some(code) = refusal {
            return Err(refused(&code, to_seat_ids(seats.as_deref().unwrap_or_default()), n.unwrap_or(0)));
        }
        let follow_up = match follow_up {
            Some(code) => Some(follow_up_of(&code)?),
            None => None,
        };
        Ok(Outcome {
            follow_up,
            version: row.try_get("version").map_err(e)?,
            held_until: row.try_get("held_until").map_err(e)?,
            renewals: row.try_get("renewals").map_err(e)?,
            seats,
        })
    }

    /// Reads the exception a function raised to roll back ([`REFUSED`]):
    /// a refusal as [`Fail::Refused`], or a follow-up.
    pub(crate) fn raised(message: &str, detail: Option<&str>) -> Result<Self, Fail> {
        match FollowUp::from_code(message) {
            Some(f) => Ok(Outcome::follow(f)),
            None => Err(refused(message, seat_list(detail), 0)),
        }
    }

    pub(crate) fn version(&self) -> u64 {
        self.version.unwrap_or(0).max(0) as u64
    }

    pub(crate) fn held_until(&self) -> i64 {
        self.held_until.unwrap_or(0)
    }

    pub(crate) fn renewals(&self) -> u32 {
        self.renewals.unwrap_or(0).max(0) as u32
    }

    pub(crate) fn seat_ids(&self) -> Vec<SeatId> {
        to_seat_ids(self.seats.as_deref().unwrap_or_default())
    }
}

/// A refusal code as the store answered it; a code outside the vocabulary
/// is the store's bug, a `Backend` error.
fn refused(code: &str, seats: Vec<SeatId>, number: i64) -> Fail {
    match Refused::from_code(code, seats, number) {
        Ok(r) => Fail::Refused(r),
        Err(unreadable) => Fail::Error(InventoryError::Backend(Box::new(unreadable))),
    }
}

fn follow_up_of(code: &str) -> Result<FollowUp, Fail> {
    FollowUp::from_code(code)
        .ok_or_else(|| Fail::Error(InventoryError::Backend(Box::new(UnreadableRefusal(code.to_owned())))))
}

fn to_seat_ids(seats: &[i32]) -> Vec<SeatId> {
    seats.iter().map(|&s| SeatId(s.max(0) as u32)).collect()
}

/// The seat ids of a raised refusal's DETAIL (comma-separated).
fn seat_list(detail: Option<&str>) -> Vec<SeatId> {
    detail.unwrap_or_default().split(',').filter_map(|s| s.trim().parse::<u32>().ok()).map(SeatId).collect()
}

impl Fail {
    /// The caller's error: a refusal filled in with what the request said
    /// (`ctx`).
    pub(crate) fn into_error(self, ctx: &Context) -> InventoryError {
        match self {
            Fail::Refused(r) => r.into_error(ctx),
            other => other.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use booking_core::backend::refusal::Refusal;

    #[test]
    fn follow_ups_round_trip_and_are_no_refusal() {
        for f in FollowUp::ALL {
            assert_eq!(FollowUp::from_code(f.code()), Some(f));
            assert_eq!(Refusal::from_code(f.code()), None, "{} is both", f.code());
        }
        assert_eq!(FollowUp::from_code("13"), None);
    }

    #[test]
    fn raised_exceptions_read_as_refusals_or_follow_ups() {
        match Outcome::raised("SEATS_TAKEN", Some("4,7")) {
            Err(Fail::Refused(r)) => {
                assert_eq!(r.refusal, Refusal::SeatsTaken);
                assert_eq!(r.seats, vec![SeatId(4), SeatId(7)]);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(Outcome::raised("READ_SEATS", None), Ok(o) if o.follow_up == Some(FollowUp::ReadSeats)));
        assert!(matches!(Outcome::raised("BK409", Some("1")), Err(Fail::Error(InventoryError::Backend(_)))));
        assert!(seat_list(None).is_empty());
    }
}
