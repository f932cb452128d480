//! Identifiers. Every entity id is a newtype so that a seat id can never be
//! passed where a show id is expected.

use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh, time-ordered (UUID v7) id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// A UUID v7 from its parts: Unix milliseconds and 80 random
            /// bits. For backends that already hold the time and a fast
            /// random source on a hot path; [`Self::new`] draws both itself.
            pub fn from_parts(unix_millis: i64, random: u128) -> Self {
                let bytes = random.to_le_bytes();
                let mut tail = [0u8; 10];
                tail.copy_from_slice(&bytes[..10]);
                Self(uuid::Builder::from_unix_timestamp_millis(unix_millis.max(0) as u64, &tail).into_uuid())
            }

            /// The id as a UUID.
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }

            /// The id as a `u128`, the compact form backends store.
            pub fn as_u128(&self) -> u128 {
                self.0.as_u128()
            }

            /// Rebuilds an id from its `u128` form.
            pub fn from_u128(v: u128) -> Self {
                Self(Uuid::from_u128(v))
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl From<Uuid> for $name {
            fn from(u: Uuid) -> Self {
                Self(u)
            }
        }
    };
}

uuid_id!(
    /// A show: one performance of an event at a venue, with its own inventory.
    ShowId
);
uuid_id!(
    /// A customer account that holds and buys seats.
    OwnerId
);
uuid_id!(
    /// One hold: a set of seats (or a quantity of a general-admission pool)
    /// taken together by one owner.
    HoldId
);
uuid_id!(
    /// An order: the purchase that seats are sold to.
    OrderId
);

/// A seat within a show, numbered densely from 0 in layout order
/// (section by section, row by row, seat by seat).
///
/// A dense index rather than a UUID keeps per-seat state small (the memory
/// backend stores a seat in 64 bytes) and lets backends address seats by
/// array position; the human label ("Floor A, row 3, seat 12") lives in the
/// [`VenueLayout`](crate::VenueLayout).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SeatId(pub u32);

impl fmt::Display for SeatId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "seat#{}", self.0)
    }
}

/// A general-admission pool within a show, numbered densely from 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PoolId(pub u32);

impl fmt::Display for PoolId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pool#{}", self.0)
    }
}

/// A section of the venue, numbered densely from 0 in layout order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SectionId(pub u32);

/// A price category ("P1", "P2", ...), numbered by the show's price list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PriceCategory(pub u16);

/// Opaque proof of a captured payment, required to sell seats (design I6).
///
/// The inventory stores it with the sale; it never interprets it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PaymentRef(pub String);
