//! Scanning: offline verification with the sync data, a device's local
//! log of admissions, and the merge of several devices' logs.

use super::TicketId;
use super::checkin::{DeviceId, GateId};
use super::codec::{self, TicketClaims};
use super::keys::{KeyId, PublicKeyring};
use super::rotation::{RotationKey, RotationPolicy};
use crate::clock::Clock;
use crate::ids::{OwnerId, ShowId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use thiserror::Error;

/// How far back (in steps) a refused rotating code is looked for, to tell
/// an old screenshot ([`ScanRefusal::RotationExpired`]) from a code that
/// was never valid: one hour of 15 s steps.
const LOOKBACK_STEPS: u64 = 240;

/// Why a scanner refuses a ticket.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ScanRefusal {
    /// The text is not a ticket: not base64url, the wrong length, unknown
    /// flags, version 0. Nothing in it can be trusted.
    #[error("not a ticket: {0}")]
    Malformed(&'static str),
    /// A ticket of a format this scanner does not read.
    #[error("ticket format {0} is not supported")]
    UnsupportedFormat(u8),
    /// Signed by a key the scanner does not know (never known, or retired
    /// at the last sync).
    #[error("signed by unknown {0}")]
    UnknownKey(KeyId),
    /// The signature does not verify: forged or edited.
    #[error("the signature does not verify")]
    BadSignature,
    /// A genuine ticket, for another show.
    #[error("ticket for show {found}, this scanner checks show {expected}")]
    WrongShow {
        /// The scanner's show.
        expected: ShowId,
        /// The ticket's.
        found: ShowId,
    },
    /// The ticket was reissued: this version is no longer valid.
    #[error("ticket {ticket} version {version} was replaced by version {min_version}")]
    Revoked {
        /// The ticket.
        ticket: TicketId,
        /// The version presented.
        version: u32,
        /// The lowest valid version.
        min_version: u32,
    },
    /// A rotating ticket presented without its code (a printout of the
    /// signed part).
    #[error("this ticket needs its rotating code: show it from the app")]
    RotationCodeMissing,
    /// A code on a ticket that does not rotate.
    #[error("unexpected rotating code")]
    UnexpectedCode,
    /// The scanner has no rotation key for the show: sync it again.
    #[error("no rotation key for this show: sync the scanner")]
    NoRotationKey,
    /// A code that was valid `steps_old` steps ago: a screenshot or a
    /// replay.
    #[error("the rotating code expired {steps_old} steps ago (a screenshot?)")]
    RotationExpired {
        /// How many steps old the code is.
        steps_old: u64,
    },
    /// A code that matches no recent step (forged, from the future, or a
    /// phone clock far off).
    #[error("the rotating code is not valid now")]
    RotationInvalid,
    /// This device already admitted the ticket.
    #[error("already admitted at {} by {} at {}", .0.at, .0.device, .0.gate)]
    AlreadyScanned(Box<ScanRecord>),
}

/// Per reissued ticket, the lowest version still valid: what scanners
/// receive at each sync. Tickets never reissued are not listed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationList {
    min_version: BTreeMap<TicketId, u32>,
}

impl RevocationList {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that versions of `ticket` below `min_version` are revoked
    /// (a lower minimum than the one recorded changes nothing).
    pub fn revoke_below(&mut self, ticket: TicketId, min_version: u32) {
        let v = self.min_version.entry(ticket).or_insert(min_version);
        *v = (*v).max(min_version);
    }

    /// The lowest valid version of `ticket` (1 when never reissued).
    pub fn min_version(&self, ticket: TicketId) -> u32 {
        self.min_version.get(&ticket).copied().unwrap_or(1)
    }

    /// How many tickets are listed.
    pub fn len(&self) -> usize {
        self.min_version.len()
    }

    /// Whether no ticket is listed.
    pub fn is_empty(&self) -> bool {
        self.min_version.is_empty()
    }

    /// The compact form: per ticket, 16 bytes of id and 4 of version
    /// (big-endian), in ticket order.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.min_version.len() * 20);
        for (t, v) in &self.min_version {
            out.extend_from_slice(t.0.as_bytes());
            out.extend_from_slice(&v.to_be_bytes());
        }
        out
    }

    /// Reads the compact form. Errors: [`ScanRefusal::Malformed`] for a
    /// length that is not a multiple of 20, entries out of order or
    /// repeated, or version 0.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ScanRefusal> {
        if !bytes.len().is_multiple_of(20) {
            return Err(ScanRefusal::Malformed("revocation list length"));
        }
        let mut list = RevocationList::new();
        let mut last: Option<TicketId> = None;
        for chunk in bytes.chunks_exact(20) {
            let mut id = [0u8; 16];
            id.copy_from_slice(&chunk[..16]);
            let ticket = TicketId(uuid::Uuid::from_bytes(id));
            let version = u32::from_be_bytes([chunk[16], chunk[17], chunk[18], chunk[19]]);
            if version == 0 || last.is_some_and(|l| l >= ticket) {
                return Err(ScanRefusal::Malformed("revocation list entries"));
            }
            last = Some(ticket);
            list.min_version.insert(ticket, version);
        }
        Ok(list)
    }

    /// Every entry, in ticket order.
    pub fn iter(&self) -> impl Iterator<Item = (TicketId, u32)> + '_ {
        self.min_version.iter().map(|(t, v)| (*t, *v))
    }
}

/// Everything a scanner needs to check one show's tickets offline, as it
/// receives it at each sync.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScannerSync {
    /// The show the scanner checks.
    pub show: ShowId,
    /// The public keys valid now.
    pub keys: PublicKeyring,
    /// Reissued tickets' lowest valid versions.
    pub revocations: RevocationList,
    /// The show's rotation key, when its tickets rotate.
    pub rotation: Option<RotationKey>,
    /// The rotating codes' step and accepted skew.
    pub policy: RotationPolicy,
}

/// A ticket the scanner accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerifiedTicket {
    /// What it says.
    pub claims: TicketClaims,
    /// For a rotating ticket, the step its code was made for.
    pub step: Option<u64>,
}

/// One admission, as a device logs it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ScanRecord {
    /// When (the device's clock).
    pub at: DateTime<Utc>,
    /// The ticket.
    pub ticket: TicketId,
    /// Its version.
    pub version: u32,
    /// Its holder.
    pub holder: OwnerId,
    /// The device that admitted it.
    pub device: DeviceId,
    /// At which gate.
    pub gate: GateId,
}

/// A device's admissions since its last sync.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanLog {
    /// The show.
    pub show: ShowId,
    /// The device.
    pub device: DeviceId,
    /// Admissions, in the order they happened.
    pub records: Vec<ScanRecord>,
}

/// A scanner that works without a network: it verifies tickets against its
/// last sync and logs the admissions it grants, refusing a ticket it has
/// already admitted. Upload its [`ScanLog`] at the next sync.
#[derive(Debug)]
pub struct OfflineScanner {
    sync: ScannerSync,
    device: DeviceId,
    clock: Arc<dyn Clock>,
    log: Mutex<Vec<ScanRecord>>,
}

impl OfflineScanner {
    /// A scanner for `sync.show`, as `device`, reading `clock` (the
    /// device's; a [`crate::ManualClock`] in tests).
    pub fn new(sync: ScannerSync, device: DeviceId, clock: Arc<dyn Clock>) -> Self {
        OfflineScanner { sync, device, clock, log: Mutex::new(Vec::new()) }
    }

    /// Replaces the sync data (new keys, revocations, rotation key); the
    /// log is kept.
    pub fn resync(&mut self, sync: ScannerSync) {
        self.sync = sync;
    }

    /// The sync data in use.
    pub fn sync(&self) -> &ScannerSync {
        &self.sync
    }

    /// Checks a ticket's QR text: format, key, signature (Ed25519
    /// `verify_strict`), show, revocation, then the rotating code against
    /// the scanner's clock. Changes nothing.
    pub fn verify(&self, text: &str) -> Result<VerifiedTicket, ScanRefusal> {
        verify_with(&self.sync, text, self.clock.now_millis())
    }

    /// Verifies the ticket and, unless this device admitted it before,
    /// logs its admission at `gate`.
    ///
    /// Errors: those of [`Self::verify`], and
    /// [`ScanRefusal::AlreadyScanned`] with the first admission.
    pub fn admit(&self, text: &str, gate: &GateId) -> Result<ScanRecord, ScanRefusal> {
        let v = self.verify(text)?;
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(first) = log.iter().find(|r| r.ticket == v.claims.ticket) {
            return Err(ScanRefusal::AlreadyScanned(Box::new(first.clone())));
        }
        let record = ScanRecord {
            at: self.clock.now(),
            ticket: v.claims.ticket,
            version: v.claims.version,
            holder: v.claims.holder,
            device: self.device.clone(),
            gate: gate.clone(),
        };
        log.push(record.clone());
        Ok(record)
    }

    /// The admissions logged so far.
    pub fn log(&self) -> ScanLog {
        let records = self.log.lock().unwrap_or_else(|e| e.into_inner()).clone();
        ScanLog { show: self.sync.show, device: self.device.clone(), records }
    }
}

/// Checks a ticket's text against `sync` at Unix time `now_millis` (see
/// [`OfflineScanner::verify`]).
pub fn verify_with(sync: &ScannerSync, text: &str, now_millis: i64) -> Result<VerifiedTicket, ScanRefusal> {
    let parts = codec::parse_text(text)?;
    let claims = TicketClaims::decode_body(&parts.body)?;
    match sync.keys.verify(claims.key, &parts.body, &parts.signature) {
        None => return Err(ScanRefusal::UnknownKey(claims.key)),
        Some(false) => return Err(ScanRefusal::BadSignature),
        Some(true) => {}
    }
    if claims.show != sync.show {
        return Err(ScanRefusal::WrongShow { expected: sync.show, found: claims.show });
    }
    let min_version = sync.revocations.min_version(claims.ticket);
    if claims.version < min_version {
        return Err(ScanRefusal::Revoked { ticket: claims.ticket, version: claims.version, min_version });
    }
    let step = match (claims.rotating, parts.code) {
        (false, None) => None,
        (false, Some(_)) => return Err(ScanRefusal::UnexpectedCode),
        (true, None) => return Err(ScanRefusal::RotationCodeMissing),
        (true, Some(code)) => {
            let key = sync.rotation.as_ref().ok_or(ScanRefusal::NoRotationKey)?;
            let secret = key.secret(claims.ticket, claims.version);
            let now = sync.policy.step_at(now_millis);
            let skew = sync.policy.skew();
            let window = now.saturating_sub(skew)..=now.saturating_add(skew);
            match window.clone().find(|s| secret.matches(*s, &code)) {
                Some(s) => Some(s),
                None => {
                    let older = now.saturating_sub(skew + LOOKBACK_STEPS)..*window.start();
                    return Err(match older.rev().find(|s| secret.matches(*s, &code)) {
                        Some(s) => ScanRefusal::RotationExpired { steps_old: now - s },
                        None => ScanRefusal::RotationInvalid,
                    });
                }
            }
        }
    };
    Ok(VerifiedTicket { claims, step })
}

/// A ticket admitted more than once across devices (or versions).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DoubleAdmission {
    /// The ticket.
    pub ticket: TicketId,
    /// The admission that counts: the earliest.
    pub first: ScanRecord,
    /// The later ones, in order: which devices, when, at which gates.
    pub later: Vec<ScanRecord>,
}

/// Several devices' logs merged.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergedScans {
    /// One admission per ticket (the earliest), in ticket order.
    pub admissions: Vec<ScanRecord>,
    /// Tickets admitted more than once, in ticket order.
    pub conflicts: Vec<DoubleAdmission>,
}

/// Merges scan logs: per ticket the earliest admission counts, and every
/// other one is reported as a conflict. The result depends only on the
/// set of records: the order of the logs, the order within them, and a
/// log uploaded twice make no difference (ties in time are broken by
/// device, then gate, then version).
pub fn merge_scan_logs<'a>(logs: impl IntoIterator<Item = &'a ScanLog>) -> MergedScans {
    let mut all: Vec<ScanRecord> = logs.into_iter().flat_map(|l| l.records.iter().cloned()).collect();
    all.sort_by(|a, b| {
        (a.ticket, a.at, &a.device, &a.gate, a.version, a.holder)
            .cmp(&(b.ticket, b.at, &b.device, &b.gate, b.version, b.holder))
    });
    all.dedup();
    let mut out = MergedScans::default();
    let mut i = 0;
    while i < all.len() {
        let ticket = all[i].ticket;
        let end = all[i..].iter().position(|r| r.ticket != ticket).map_or(all.len(), |n| i + n);
        out.admissions.push(all[i].clone());
        if end - i > 1 {
            out.conflicts.push(DoubleAdmission { ticket, first: all[i].clone(), later: all[i + 1..end].to_vec() });
        }
        i = end;
    }
    out
}
