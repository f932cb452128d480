//! Tickets: signed QR tickets, rotating codes, offline scanning and online
//! check-in.
//!
//! A ticket is a compact binary payload signed with Ed25519 ([`codec`]):
//! it names the show, the seat or general-admission pool, the order, the
//! holder, the ticket's version and the id of the key that signed it. Its
//! text form (base64url) is what a QR code carries ([`qr`], feature `qr`).
//!
//! - **Issuing.** A [`TicketIssuer`] signs with the current key of its
//!   [`SigningKeyring`]; scanners hold a [`PublicKeyring`] in which several
//!   keys are valid at once, so keys rotate without invalidating tickets
//!   already issued. [`TicketIssuer::issue_sale`] turns a
//!   [`SaleRecord`](crate::SaleRecord) into one ticket per seat or pool unit.
//! - **Versions.** Reissuing a ticket (a transfer, a resale, a lost phone)
//!   signs it again with the next version; the check-in store remembers the
//!   current version of every ticket, and scanners receive, at each sync,
//!   a [`RevocationList`] (per reissued ticket, the lowest version still
//!   valid), so an older QR code is refused online and offline.
//! - **Rotating codes** ([`rotation`]): optionally, a ticket's QR text
//!   carries a time-based code (HMAC over a 15 s step) that only the
//!   holder's phone can compute, so a screenshot stops working within a
//!   step or two.
//! - **Scanning** ([`scanner`]): an [`OfflineScanner`] verifies tickets with
//!   nothing but the sync data ([`ScannerSync`]), and keeps a local log of
//!   admissions; [`merge_scan_logs`] merges the logs of several devices and
//!   reports double admissions.
//! - **Check-in** ([`checkin`]): the [`CheckInStore`] port, where the first
//!   scan of a ticket's current version wins atomically.
//!
//! Holder binding: a ticket names its holder and is signed, so it cannot
//! be edited to name someone else; when a ticket changes hands it is
//! reissued to the new holder with the next version, and the old holder's
//! QR code (the older version) is refused everywhere. With rotating codes,
//! a copy of the QR text also expires within seconds, since only the phone
//! that received the ticket holds its rotation secret.

pub mod checkin;
pub mod codec;
pub mod issuer;
pub mod keys;
#[cfg(feature = "qr")]
pub mod qr;
pub mod rotation;
pub mod scanner;
#[cfg(test)]
mod tests;

pub use checkin::{
    Admission, CheckIn, CheckInError, CheckInStore, DeviceId, GateId, Registered, Registration, TicketStatus,
};
pub use codec::{SIGNED_LEN, TicketClaims, TicketItem};
pub use issuer::{IssuedTicket, TicketIssuer};
pub use keys::{KeyId, PublicKeyring, SigningKeyring};
pub use rotation::{RotationKey, RotationPolicy, RotationSecret};
pub use scanner::{
    DoubleAdmission, MergedScans, OfflineScanner, RevocationList, ScanLog, ScanRecord, ScanRefusal, ScannerSync,
    VerifiedTicket, merge_scan_logs,
};

use serde::{Deserialize, Serialize};
use std::fmt;
use thiserror::Error;
use uuid::Uuid;

/// A ticket: one seat, or one unit of a general-admission pool, of one
/// order. Stays the same across reissues (its version changes).
///
/// [`TicketId::for_item`] derives it from the order and the item, so
/// issuing a sale's tickets twice gives the same ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TicketId(pub Uuid);

impl TicketId {
    /// The ticket of `item` in `order`, for `unit` (0 for a seat; 0 to n-1
    /// for the n units of a pool sale): the first 16 bytes of
    /// SHA-256("booking/ticket-id/v1" || order || item || unit), as a UUID
    /// of version 8.
    pub fn for_item(order: crate::OrderId, item: TicketItem, unit: u32) -> Self {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(b"booking/ticket-id/v1");
        h.update(order.as_uuid().as_bytes());
        let (kind, id) = item.parts();
        h.update([kind]);
        h.update(id.to_be_bytes());
        h.update(unit.to_be_bytes());
        let digest = h.finalize();
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        TicketId(uuid::Builder::from_custom_bytes(bytes).into_uuid())
    }

    /// The id as a `u128`, the compact form backends store.
    pub fn as_u128(&self) -> u128 {
        self.0.as_u128()
    }

    /// Rebuilds an id from its `u128` form.
    pub fn from_u128(v: u128) -> Self {
        TicketId(Uuid::from_u128(v))
    }
}

impl fmt::Display for TicketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// Why a ticket cannot be issued or reissued.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TicketError {
    /// A public key is not a valid Ed25519 point, or is a weak (small-order)
    /// key that `verify_strict` would refuse every signature of.
    #[error("key {0} is not a valid Ed25519 public key")]
    InvalidKey(KeyId),
    /// The keyring has no key with this id.
    #[error("no key with id {0}")]
    UnknownKey(KeyId),
    /// A key id is given twice.
    #[error("key id {0} is given twice")]
    DuplicateKey(KeyId),
    /// The current signing key cannot be retired: rotate to another first.
    #[error("{0} is the current signing key: rotate to another before retiring it")]
    CurrentKey(KeyId),
    /// Version 0: versions start at 1.
    #[error("ticket versions start at 1")]
    ZeroVersion,
    /// The ticket is at the highest version there is and cannot be
    /// reissued again.
    #[error("ticket {0} cannot be reissued: its version is at the maximum")]
    VersionExhausted(TicketId),
    /// A sale with nothing in it, or a pool sale of more units than a
    /// ticket run allows.
    #[error("the sale has {0} items: tickets are issued for 1 to 100000")]
    SaleSize(u64),
    /// A rotating ticket was asked for without the show's rotation key.
    #[error("a rotating ticket needs the show's rotation key")]
    NoRotationKey,
}
