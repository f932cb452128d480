//! Online check-in: the [`CheckInStore`] port.
//!
//! The store keeps, per ticket of a show, its current version and holder
//! (registered when the ticket is issued or reissued) and its admission,
//! if any. A check-in names the version and holder the scanner read from
//! the verified ticket; the first check-in of the current version wins,
//! atomically, and every later one is refused with when and where
//! (device, gate) the first happened. An older version is refused, and so
//! is a reissue of a ticket already admitted.
//!
//! Tickets are addressed by show and ticket id: a ticket checked in at
//! another show's gate is unknown there. Decisions are taken by
//! [`decide_register`] and [`decide_check_in`], which every backend
//! applies to the ticket's record under its own atomicity (a mutex, a row
//! lock, a Lua script); times come from the store's clock.

use super::TicketId;
use super::codec::TicketClaims;
use super::scanner::RevocationList;
use crate::ids::{OwnerId, ShowId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use thiserror::Error;

/// The longest device or gate name, in bytes.
pub const MAX_NAME_LEN: usize = 64;

macro_rules! name {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// A name, checked: 1 to 64 bytes, no control characters.
            pub fn new(name: impl Into<String>) -> Result<Self, CheckInError> {
                let n = $name(name.into());
                n.validate()?;
                Ok(n)
            }

            /// Checks the name: 1 to 64 bytes, no control characters.
            pub fn validate(&self) -> Result<(), CheckInError> {
                if self.0.is_empty() || self.0.len() > MAX_NAME_LEN || self.0.chars().any(char::is_control) {
                    Err(CheckInError::InvalidName($what))
                } else {
                    Ok(())
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

name!(
    /// A scanning device ("north-3").
    DeviceId,
    "device"
);
name!(
    /// A gate or entrance ("Gate B").
    GateId,
    "gate"
);

/// Record a ticket's current version: at issue, and at each reissue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    /// The show.
    pub show: ShowId,
    /// The ticket.
    pub ticket: TicketId,
    /// Its new version (at least 1).
    pub version: u32,
    /// Who holds this version.
    pub holder: OwnerId,
}

impl From<&TicketClaims> for Registration {
    fn from(c: &TicketClaims) -> Self {
        Registration { show: c.show, ticket: c.ticket, version: c.version, holder: c.holder }
    }
}

/// What a registration did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Registered {
    /// A new ticket.
    New,
    /// A newer version replaced `previous`, which is now refused.
    Reissued {
        /// The version replaced.
        previous: u32,
    },
    /// The same version and holder were registered already (a retry).
    Unchanged,
}

/// Admit a ticket: what a scanner sends after verifying it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckIn {
    /// The show (the ticket's, which the scanner checks).
    pub show: ShowId,
    /// The ticket.
    pub ticket: TicketId,
    /// The version presented.
    pub version: u32,
    /// The holder the presented version names.
    pub holder: OwnerId,
    /// The scanning device.
    pub device: DeviceId,
    /// The gate.
    pub gate: GateId,
}

impl CheckIn {
    /// The check-in of a verified ticket's claims at `gate` by `device`.
    pub fn new(claims: &TicketClaims, device: DeviceId, gate: GateId) -> Self {
        CheckIn {
            show: claims.show,
            ticket: claims.ticket,
            version: claims.version,
            holder: claims.holder,
            device,
            gate,
        }
    }

    /// Checks the request: version at least 1, valid device and gate names.
    pub fn validate(&self) -> Result<(), CheckInError> {
        if self.version == 0 {
            return Err(CheckInError::ZeroVersion);
        }
        self.device.validate()?;
        self.gate.validate()
    }
}

/// The first (and only) admission of a ticket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Admission {
    /// The ticket.
    pub ticket: TicketId,
    /// The version admitted.
    pub version: u32,
    /// When, by the store's clock.
    pub at: DateTime<Utc>,
    /// Which device scanned it.
    pub device: DeviceId,
    /// At which gate.
    pub gate: GateId,
}

/// A ticket's record in the check-in store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketStatus {
    /// The show.
    pub show: ShowId,
    /// The ticket.
    pub ticket: TicketId,
    /// The current version.
    pub version: u32,
    /// Its holder.
    pub holder: OwnerId,
    /// The admission, once checked in.
    pub admitted: Option<Admission>,
}

/// Why a registration or a check-in is refused. A refused request changes
/// nothing.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CheckInError {
    /// Version 0: versions start at 1.
    #[error("ticket versions start at 1")]
    ZeroVersion,
    /// A device or gate name that is empty, longer than 64 bytes, or has
    /// control characters; the field is named.
    #[error("invalid {0} name: 1 to 64 bytes, no control characters")]
    InvalidName(&'static str),
    /// The show has no such ticket (never registered, or registered for
    /// another show).
    #[error("show {show} has no ticket {ticket}")]
    UnknownTicket {
        /// The show.
        show: ShowId,
        /// The ticket.
        ticket: TicketId,
    },
    /// The version presented was replaced by a reissue (an old QR code, or
    /// a registration older than the current one).
    #[error("ticket {ticket} version {version} was replaced by version {current}")]
    Superseded {
        /// The ticket.
        ticket: TicketId,
        /// The version presented.
        version: u32,
        /// The current version.
        current: u32,
    },
    /// A version newer than any registered: the ticket was signed but its
    /// reissue not registered (register it first).
    #[error("ticket {ticket} version {version} is not registered (current {current})")]
    UnknownVersion {
        /// The ticket.
        ticket: TicketId,
        /// The version presented.
        version: u32,
        /// The current version.
        current: u32,
    },
    /// The holder does not match the current version's: a registration of
    /// an existing version to someone else (reissue with a new version
    /// instead), or a check-in naming another holder.
    #[error("ticket {ticket} version {version} is held by someone else")]
    NotHolder {
        /// The ticket.
        ticket: TicketId,
        /// The version.
        version: u32,
    },
    /// The ticket was already admitted: here is when and where. A check-in
    /// is refused; so is a reissue (the ticket was used).
    #[error("ticket already checked in at {} by {} at {}", .0.at, .0.device, .0.gate)]
    AlreadyCheckedIn(Box<Admission>),
    /// The store failed; the request may or may not have been applied.
    #[error("check-in store: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl PartialEq for CheckInError {
    /// Equal variants with equal fields; backend errors are never equal.
    fn eq(&self, other: &Self) -> bool {
        use CheckInError::*;
        match (self, other) {
            (ZeroVersion, ZeroVersion) => true,
            (InvalidName(a), InvalidName(b)) => a == b,
            (UnknownTicket { show: a, ticket: b }, UnknownTicket { show: c, ticket: d }) => a == c && b == d,
            (Superseded { ticket: a, version: b, current: c }, Superseded { ticket: d, version: e, current: f })
            | (
                UnknownVersion { ticket: a, version: b, current: c },
                UnknownVersion { ticket: d, version: e, current: f },
            ) => a == d && b == e && c == f,
            (NotHolder { ticket: a, version: b }, NotHolder { ticket: c, version: d }) => a == c && b == d,
            (AlreadyCheckedIn(a), AlreadyCheckedIn(b)) => a == b,
            _ => false,
        }
    }
}

/// Where ticket versions and admissions live. Usable as
/// `Arc<dyn CheckInStore>`.
#[async_trait]
pub trait CheckInStore: Send + Sync + fmt::Debug {
    /// Records a ticket's version (see [`decide_register`]): a new ticket,
    /// a reissue (a higher version, any holder), or a retry of the same
    /// registration. Errors: `ZeroVersion`, `Superseded` (an older
    /// version), `NotHolder` (the current version to another holder),
    /// `AlreadyCheckedIn` (a reissue of an admitted ticket).
    async fn register(&self, reg: &Registration) -> Result<Registered, CheckInError>;

    /// Admits a ticket once (see [`decide_check_in`]): of any number of
    /// concurrent check-ins of a ticket, exactly one succeeds. Errors:
    /// `ZeroVersion`, `InvalidName`, `UnknownTicket`, `Superseded`,
    /// `UnknownVersion`, `NotHolder`, `AlreadyCheckedIn` (when and where
    /// the first scan happened).
    async fn check_in(&self, req: &CheckIn) -> Result<Admission, CheckInError>;

    /// A ticket's record, if registered in `show`.
    async fn status(&self, show: ShowId, ticket: TicketId) -> Result<Option<TicketStatus>, CheckInError>;

    /// The show's revocation list for scanners: every ticket reissued at
    /// least once, with its current version as the lowest valid one.
    async fn revocations(&self, show: ShowId) -> Result<RevocationList, CheckInError>;
}

/// What a registration does to a ticket's record `current` (`None`: not
/// registered yet), or why it is refused. On `New` and `Reissued` the
/// backend writes the registration's version and holder, atomically with
/// the read; on `Unchanged` and on a refusal it writes nothing.
pub fn decide_register(current: Option<&TicketStatus>, reg: &Registration) -> Result<Registered, CheckInError> {
    if reg.version == 0 {
        return Err(CheckInError::ZeroVersion);
    }
    let Some(cur) = current else { return Ok(Registered::New) };
    if reg.version < cur.version {
        return Err(CheckInError::Superseded { ticket: reg.ticket, version: reg.version, current: cur.version });
    }
    if reg.version == cur.version {
        return if reg.holder == cur.holder {
            Ok(Registered::Unchanged)
        } else {
            Err(CheckInError::NotHolder { ticket: reg.ticket, version: reg.version })
        };
    }
    if let Some(a) = &cur.admitted {
        return Err(CheckInError::AlreadyCheckedIn(Box::new(a.clone())));
    }
    Ok(Registered::Reissued { previous: cur.version })
}

/// Whether `req` may check in a ticket whose record is `current` (`None`:
/// not registered in the show). Checked in this order: the request's own
/// validity, unknown ticket, older version, newer version, holder, earlier
/// admission. On `Ok` the backend records the admission, atomically with
/// the read.
pub fn decide_check_in(current: Option<&TicketStatus>, req: &CheckIn) -> Result<(), CheckInError> {
    req.validate()?;
    let Some(cur) = current else { return Err(CheckInError::UnknownTicket { show: req.show, ticket: req.ticket }) };
    if req.version < cur.version {
        return Err(CheckInError::Superseded { ticket: req.ticket, version: req.version, current: cur.version });
    }
    if req.version > cur.version {
        return Err(CheckInError::UnknownVersion { ticket: req.ticket, version: req.version, current: cur.version });
    }
    if req.holder != cur.holder {
        return Err(CheckInError::NotHolder { ticket: req.ticket, version: req.version });
    }
    if let Some(a) = &cur.admitted {
        return Err(CheckInError::AlreadyCheckedIn(Box::new(a.clone())));
    }
    Ok(())
}
