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
uuid_id!(
    /// A venue in the catalog: where shows take place.
    VenueId
);
uuid_id!(
    /// An event in the catalog: what is performed (a tour, a play), shown
    /// one or more times.
    EventId
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

/// Who paid, for the per-payment purchase cap: a key naming one payment
/// method (a card's fingerprint as the payment provider reports it, or a
/// digest of the payment method), the same for every buyer paying with it.
///
/// 1 to [`PayerKey::MAX_BYTES`] bytes of printable ASCII (no spaces or
/// control characters); anything else is [`InvalidRequest::BadPayerKey`],
/// when built and when deserialized alike.
///
/// [`InvalidRequest::BadPayerKey`]: crate::InvalidRequest::BadPayerKey
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PayerKey(String);

impl PayerKey {
    /// The longest key, in bytes.
    pub const MAX_BYTES: usize = 128;

    /// A payer key. Errors: [`InvalidRequest::BadPayerKey`](crate::InvalidRequest::BadPayerKey).
    pub fn new(s: impl Into<String>) -> Result<Self, crate::InvalidRequest> {
        let s = s.into();
        let printable = s.bytes().all(|b| b.is_ascii_graphic());
        if s.is_empty() || s.len() > Self::MAX_BYTES || !printable {
            Err(crate::InvalidRequest::BadPayerKey)
        } else {
            Ok(PayerKey(s))
        }
    }

    /// The key as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PayerKey {
    type Error = crate::InvalidRequest;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl From<PayerKey> for String {
    fn from(k: PayerKey) -> String {
        k.0
    }
}

impl std::fmt::Display for PayerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::InvalidRequest;

    #[test]
    fn payer_keys_are_checked_when_built_and_when_read() {
        assert_eq!(PayerKey::new("fp_1:x").expect("valid").as_str(), "fp_1:x");
        PayerKey::new("x".repeat(PayerKey::MAX_BYTES)).expect("the longest");
        for bad in [String::new(), "x".repeat(129), "a b".into(), "tab\t".into(), "caf\u{e9}".into(), "nul\0".into()] {
            assert_eq!(PayerKey::new(bad.clone()), Err(InvalidRequest::BadPayerKey), "{bad:?}");
            let json = serde_json::to_string(&bad).expect("json");
            assert!(serde_json::from_str::<PayerKey>(&json).is_err(), "{bad:?} deserialized");
        }
        let k: PayerKey = serde_json::from_str("\"fp_2\"").expect("reads");
        assert_eq!(serde_json::to_string(&k).expect("json"), "\"fp_2\"");
    }
}
