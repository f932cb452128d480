//! The ticket notice: what a delivered ticket shows, as data.

use super::contacts::{Contact, valid_email, valid_phone};
use crate::checkout::OutboxMessage;
use crate::ids::{OrderId, OwnerId, ShowId};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

/// The outbox topic of a ticket notice; the payload is the notice as JSON
/// ([`TicketNotice::to_outbox_message`]).
pub const TICKET_ISSUED: &str = "ticket.issued";

/// The longest ticket id accepted, in characters.
pub const MAX_TICKET_ID_CHARS: usize = 128;
/// The longest show title, venue or seat label accepted, in characters.
pub const MAX_TEXT_CHARS: usize = 300;
/// The longest barcode text accepted, in bytes: what one QR code can hold
/// (version 40, low error correction, binary mode).
pub const MAX_BARCODE_BYTES: usize = 2953;
/// The largest QR image accepted, in bytes.
pub const MAX_QR_PNG_BYTES: usize = 1 << 20;
/// The longest wallet link accepted, in characters (a Google Wallet save
/// link carries a whole signed JWT).
pub const MAX_URL_CHARS: usize = 16 * 1024;

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// Links that add the ticket to a phone's wallet, shown in the email and
/// the SMS.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletLinks {
    /// Where the signed Apple Wallet `.pkpass` of the ticket is served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apple: Option<String>,
    /// The Google Wallet "save" link of the ticket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub google: Option<String>,
}

/// One issued ticket, as its holder is told about it.
///
/// The ticket issuer fills it (the barcode text and its QR code already
/// rendered as PNG); delivery only shows it. It travels as the JSON
/// payload of an outbox message of topic [`TICKET_ISSUED`], the QR image
/// as base64.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketNotice {
    /// The ticket's id, as the issuer names it (printable ASCII, no
    /// spaces): the pass serial number and the calendar event's UID.
    pub ticket_id: String,
    /// The order the ticket was sold in.
    pub order: OrderId,
    /// The show.
    pub show: ShowId,
    /// Who holds the ticket: the only person it is ever sent to.
    pub holder: OwnerId,
    /// Where to send it. Checked against the contact directory
    /// ([`super::HolderContacts`]) before anything is sent.
    pub contact: Contact,
    /// The holder's name, as printed on the ticket, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder_name: Option<String>,
    /// The show's title.
    pub show_title: String,
    /// The venue's name (and address, if wanted).
    pub venue: String,
    /// When the show starts.
    pub starts_at: DateTime<Utc>,
    /// When it ends; after `starts_at`.
    pub ends_at: DateTime<Utc>,
    /// The seat ("Stalls, row B, seat 12") or general-admission label.
    pub seat: String,
    /// What the ticket's QR code encodes, as the scanner reads it.
    pub barcode: String,
    /// The QR code as a PNG image, rendered by the issuer.
    #[serde(with = "base64_bytes")]
    pub qr_png: Vec<u8>,
    /// Wallet links, if the ticket has passes.
    #[serde(default)]
    pub wallet: WalletLinks,
    /// When the ticket was issued: the calendar entry's timestamp, so that
    /// a message sent again is the same message.
    pub issued_at: DateTime<Utc>,
}

/// What is wrong with a ticket notice. Nothing is sent for a notice that
/// does not validate.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum NoticeError {
    /// A required field is blank.
    #[error("{field} must not be empty")]
    Empty {
        /// The field.
        field: &'static str,
    },
    /// A field is longer than allowed.
    #[error("{field} is longer than {max}")]
    TooLong {
        /// The field.
        field: &'static str,
        /// The most allowed (characters, or bytes for the barcode and the
        /// image).
        max: usize,
    },
    /// A field holds a character it may not (a control character, or in
    /// the ticket id anything but printable ASCII without spaces).
    #[error("{field} contains a character it may not")]
    BadCharacter {
        /// The field.
        field: &'static str,
    },
    /// A date outside the years 1970 to 9999 (what calendars and passes
    /// can write).
    #[error("{field} is outside the years 1970 to 9999")]
    OutOfRange {
        /// The field.
        field: &'static str,
    },
    /// The show does not end after it starts.
    #[error("the show must end after it starts")]
    EndsBeforeStart,
    /// `qr_png` is not a PNG image.
    #[error("qr_png is not a PNG image")]
    NotPng,
    /// The notice names no email and no phone.
    #[error("the notice has no email and no phone to send to")]
    NoContact,
    /// The email address is not a valid address.
    #[error("not a valid email address")]
    BadEmail,
    /// The phone number is not in E.164 form (`+` and 8 to 15 digits).
    #[error("not a phone number in E.164 form (+ and 8 to 15 digits)")]
    BadPhone,
    /// A wallet link is not an `https://` URL.
    #[error("{field} is not an https URL")]
    BadUrl {
        /// The field.
        field: &'static str,
    },
    /// The payload is not a ticket notice in JSON.
    #[error("not a ticket notice: {0}")]
    Payload(String),
}

impl TicketNotice {
    /// Checks every field; `Ok` means the notice can be rendered and sent.
    pub fn validate(&self) -> Result<(), NoticeError> {
        let id = &self.ticket_id;
        if id.is_empty() {
            return Err(NoticeError::Empty { field: "ticket_id" });
        }
        if id.chars().count() > MAX_TICKET_ID_CHARS {
            return Err(NoticeError::TooLong { field: "ticket_id", max: MAX_TICKET_ID_CHARS });
        }
        if !id.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(NoticeError::BadCharacter { field: "ticket_id" });
        }
        text("show_title", &self.show_title)?;
        text("venue", &self.venue)?;
        text("seat", &self.seat)?;
        if let Some(name) = &self.holder_name {
            text("holder_name", name)?;
        }
        if self.barcode.is_empty() {
            return Err(NoticeError::Empty { field: "barcode" });
        }
        if self.barcode.len() > MAX_BARCODE_BYTES {
            return Err(NoticeError::TooLong { field: "barcode", max: MAX_BARCODE_BYTES });
        }
        if self.barcode.chars().any(char::is_control) {
            return Err(NoticeError::BadCharacter { field: "barcode" });
        }
        for (field, at) in [("starts_at", self.starts_at), ("ends_at", self.ends_at), ("issued_at", self.issued_at)] {
            if !(1970..=9999).contains(&at.year()) {
                return Err(NoticeError::OutOfRange { field });
            }
        }
        if self.ends_at <= self.starts_at {
            return Err(NoticeError::EndsBeforeStart);
        }
        if self.qr_png.len() > MAX_QR_PNG_BYTES {
            return Err(NoticeError::TooLong { field: "qr_png", max: MAX_QR_PNG_BYTES });
        }
        if !self.qr_png.starts_with(PNG_SIGNATURE) {
            return Err(NoticeError::NotPng);
        }
        match (&self.contact.email, &self.contact.phone) {
            (None, None) => return Err(NoticeError::NoContact),
            (email, phone) => {
                if email.as_deref().is_some_and(|e| !valid_email(e)) {
                    return Err(NoticeError::BadEmail);
                }
                if phone.as_deref().is_some_and(|p| !valid_phone(p)) {
                    return Err(NoticeError::BadPhone);
                }
            }
        }
        url("wallet.apple", self.wallet.apple.as_deref())?;
        url("wallet.google", self.wallet.google.as_deref())?;
        Ok(())
    }

    /// The notice as an outbox message of topic [`TICKET_ISSUED`], with the
    /// id `ticket.issued:<ticket_id>`: enqueuing it twice sends it once.
    pub fn to_outbox_message(&self) -> Result<OutboxMessage, NoticeError> {
        self.validate()?;
        let payload = serde_json::to_string(self).map_err(|e| NoticeError::Payload(e.to_string()))?;
        Ok(OutboxMessage {
            id: format!("{TICKET_ISSUED}:{}", self.ticket_id),
            topic: TICKET_ISSUED.to_owned(),
            payload,
            attempts: 0,
        })
    }

    /// Reads and validates a notice from an outbox payload.
    pub fn from_payload(payload: &str) -> Result<Self, NoticeError> {
        let notice: TicketNotice = serde_json::from_str(payload).map_err(|e| NoticeError::Payload(e.to_string()))?;
        notice.validate()?;
        Ok(notice)
    }
}

fn text(field: &'static str, value: &str) -> Result<(), NoticeError> {
    if value.trim().is_empty() {
        return Err(NoticeError::Empty { field });
    }
    if value.chars().count() > MAX_TEXT_CHARS {
        return Err(NoticeError::TooLong { field, max: MAX_TEXT_CHARS });
    }
    if value.chars().any(char::is_control) {
        return Err(NoticeError::BadCharacter { field });
    }
    Ok(())
}

fn url(field: &'static str, value: Option<&str>) -> Result<(), NoticeError> {
    let Some(value) = value else { return Ok(()) };
    if value.chars().count() > MAX_URL_CHARS {
        return Err(NoticeError::TooLong { field, max: MAX_URL_CHARS });
    }
    let rest = value.strip_prefix("https://").ok_or(NoticeError::BadUrl { field })?;
    // Printable ASCII without quotes or angle brackets: safe in an HTML
    // attribute and in an SMS, and a real URL needs no more.
    if rest.is_empty()
        || !rest.bytes().all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b'\'' | b'<' | b'>' | b'\\'))
    {
        return Err(NoticeError::BadUrl { field });
    }
    Ok(())
}

mod base64_bytes {
    use super::*;

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD.decode(text.as_bytes()).map_err(serde::de::Error::custom)
    }
}
