//! The ticket's binary layout and its text form.
//!
//! A signed ticket is 142 bytes, fixed layout, integers big-endian:
//!
//! | offset | bytes | field |
//! |---|---|---|
//! | 0 | 1 | format, `1` |
//! | 1 | 1 | flags: bit 0 rotating code, bit 1 pool unit (else seat); other bits 0 |
//! | 2 | 4 | key id (the signing key) |
//! | 6 | 16 | ticket id |
//! | 22 | 16 | show id |
//! | 38 | 16 | order id |
//! | 54 | 16 | holder (owner id) |
//! | 70 | 4 | seat id, or pool id |
//! | 74 | 4 | ticket version, at least 1 |
//! | 78 | 64 | Ed25519 signature over bytes 0 to 77 |
//!
//! The text form is the 142 bytes in base64url without padding (190
//! characters, canonical: a text whose unused trailing bits are not zero is
//! refused). A ticket with a rotating code adds `.` and the code, 8 bytes
//! in base64url (11 characters): see [`super::rotation`]. Both fit a QR
//! code of version 10 at error-correction level M.

use super::keys::KeyId;
use super::scanner::ScanRefusal;
use super::{TicketError, TicketId};
use crate::ids::{OrderId, OwnerId, PoolId, SeatId, ShowId};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The format byte of this layout.
pub const FORMAT: u8 = 1;
/// Bytes covered by the signature.
pub const BODY_LEN: usize = 78;
/// Bytes of a signed ticket: the body and its signature.
pub const SIGNED_LEN: usize = BODY_LEN + 64;
/// Bytes of a rotating code.
pub const CODE_LEN: usize = 8;

const FLAG_ROTATING: u8 = 1;
const FLAG_POOL: u8 = 2;

/// What a ticket admits to: a seat, or one unit of a general-admission pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum TicketItem {
    /// A reserved seat.
    Seat(SeatId),
    /// A unit of a general-admission pool.
    Pool(PoolId),
}

impl TicketItem {
    /// The kind (0 seat, 1 pool) and the seat or pool number.
    pub(crate) fn parts(self) -> (u8, u32) {
        match self {
            TicketItem::Seat(s) => (0, s.0),
            TicketItem::Pool(p) => (1, p.0),
        }
    }
}

/// What a ticket says: every field of the signed payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TicketClaims {
    /// The ticket.
    pub ticket: TicketId,
    /// The show it admits to.
    pub show: ShowId,
    /// The order that bought it.
    pub order: OrderId,
    /// Who holds it: the buyer, or whoever it was last reissued to.
    pub holder: OwnerId,
    /// The seat or pool.
    pub item: TicketItem,
    /// The version: 1 when first issued, one more at each reissue.
    pub version: u32,
    /// The key that signed it.
    pub key: KeyId,
    /// Whether its QR text carries a rotating code.
    pub rotating: bool,
}

impl TicketClaims {
    /// The 78 signed bytes.
    pub fn encode_body(&self) -> [u8; BODY_LEN] {
        let mut b = [0u8; BODY_LEN];
        b[0] = FORMAT;
        let (kind, item) = self.item.parts();
        b[1] = if self.rotating { FLAG_ROTATING } else { 0 } | if kind == 1 { FLAG_POOL } else { 0 };
        b[2..6].copy_from_slice(&self.key.0.to_be_bytes());
        b[6..22].copy_from_slice(self.ticket.0.as_bytes());
        b[22..38].copy_from_slice(self.show.as_uuid().as_bytes());
        b[38..54].copy_from_slice(self.order.as_uuid().as_bytes());
        b[54..70].copy_from_slice(self.holder.as_uuid().as_bytes());
        b[70..74].copy_from_slice(&item.to_be_bytes());
        b[74..78].copy_from_slice(&self.version.to_be_bytes());
        b
    }

    /// Reads the signed bytes back (the signature is not checked here).
    ///
    /// Errors: [`ScanRefusal::UnsupportedFormat`] for another format byte,
    /// [`ScanRefusal::Malformed`] for unknown flags or version 0.
    pub fn decode_body(b: &[u8; BODY_LEN]) -> Result<Self, ScanRefusal> {
        if b[0] != FORMAT {
            return Err(ScanRefusal::UnsupportedFormat(b[0]));
        }
        if b[1] & !(FLAG_ROTATING | FLAG_POOL) != 0 {
            return Err(ScanRefusal::Malformed("unknown flags"));
        }
        let u32_at = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let uuid_at = |i: usize| {
            let mut u = [0u8; 16];
            u.copy_from_slice(&b[i..i + 16]);
            Uuid::from_bytes(u)
        };
        let version = u32_at(74);
        if version == 0 {
            return Err(ScanRefusal::Malformed("version 0"));
        }
        let item = u32_at(70);
        Ok(TicketClaims {
            key: KeyId(u32_at(2)),
            ticket: TicketId(uuid_at(6)),
            show: ShowId(uuid_at(22)),
            order: OrderId(uuid_at(38)),
            holder: OwnerId(uuid_at(54)),
            item: if b[1] & FLAG_POOL != 0 { TicketItem::Pool(PoolId(item)) } else { TicketItem::Seat(SeatId(item)) },
            version,
            rotating: b[1] & FLAG_ROTATING != 0,
        })
    }

    /// Checks what the issuer needs before signing.
    pub(crate) fn validate(&self) -> Result<(), TicketError> {
        if self.version == 0 { Err(TicketError::ZeroVersion) } else { Ok(()) }
    }
}

/// A signed ticket split into its parts, before the signature is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignedParts {
    /// The signed bytes.
    pub body: [u8; BODY_LEN],
    /// The signature.
    pub signature: [u8; 64],
    /// The rotating code, when the text has one.
    pub code: Option<[u8; CODE_LEN]>,
}

/// The text of a signed ticket (without a rotating code).
pub fn signed_text(body: &[u8; BODY_LEN], signature: &[u8; 64]) -> String {
    let mut bytes = [0u8; SIGNED_LEN];
    bytes[..BODY_LEN].copy_from_slice(body);
    bytes[BODY_LEN..].copy_from_slice(signature);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `signed` with a rotating code appended.
pub fn with_code(signed: &str, code: &[u8; CODE_LEN]) -> String {
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(code))
}

/// Splits a ticket's text into its parts.
///
/// Errors: [`ScanRefusal::Malformed`] for anything but canonical base64url
/// of exactly [`SIGNED_LEN`] bytes, optionally followed by `.` and a code
/// of [`CODE_LEN`] bytes.
pub fn parse_text(text: &str) -> Result<SignedParts, ScanRefusal> {
    // Bounds the work on absurd input before decoding anything.
    if text.len() > 256 {
        return Err(ScanRefusal::Malformed("too long"));
    }
    let (signed, code) = match text.split_once('.') {
        Some((s, c)) => (s, Some(c)),
        None => (text, None),
    };
    let mut bytes = [0u8; SIGNED_LEN + 2];
    let n = URL_SAFE_NO_PAD.decode_slice(signed, &mut bytes).map_err(|_| ScanRefusal::Malformed("not base64url"))?;
    if n != SIGNED_LEN {
        return Err(ScanRefusal::Malformed("wrong length"));
    }
    let code = match code {
        None => None,
        Some(c) => {
            let mut out = [0u8; CODE_LEN + 2];
            let n = URL_SAFE_NO_PAD.decode_slice(c, &mut out).map_err(|_| ScanRefusal::Malformed("rotating code"))?;
            if n != CODE_LEN {
                return Err(ScanRefusal::Malformed("rotating code"));
            }
            let mut code = [0u8; CODE_LEN];
            code.copy_from_slice(&out[..CODE_LEN]);
            Some(code)
        }
    };
    let mut body = [0u8; BODY_LEN];
    body.copy_from_slice(&bytes[..BODY_LEN]);
    let mut signature = [0u8; 64];
    signature.copy_from_slice(&bytes[BODY_LEN..SIGNED_LEN]);
    Ok(SignedParts { body, signature, code })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> TicketClaims {
        TicketClaims {
            ticket: TicketId(Uuid::from_u128(1)),
            show: ShowId::from_u128(2),
            order: OrderId::from_u128(3),
            holder: OwnerId::from_u128(4),
            item: TicketItem::Pool(PoolId(7)),
            version: 9,
            key: KeyId(11),
            rotating: true,
        }
    }

    #[test]
    fn body_round_trips_and_has_the_documented_layout() {
        let c = claims();
        let b = c.encode_body();
        assert_eq!(TicketClaims::decode_body(&b), Ok(c));
        assert_eq!(b[0], 1);
        assert_eq!(b[1], 3);
        assert_eq!(&b[2..6], &11u32.to_be_bytes());
        assert_eq!(&b[74..78], &9u32.to_be_bytes());
        let seat = TicketClaims { item: TicketItem::Seat(SeatId(5)), rotating: false, ..c };
        assert_eq!(TicketClaims::decode_body(&seat.encode_body()), Ok(seat));
    }

    #[test]
    fn text_is_canonical_base64url_of_fixed_length() {
        let text = signed_text(&claims().encode_body(), &[9; 64]);
        assert_eq!(text.len(), 190);
        let parts = parse_text(&text).expect("parse");
        assert_eq!((parts.signature, parts.code), ([9; 64], None));
        assert!(parse_text(&text[..189]).is_err(), "truncated");
        assert!(parse_text(&format!("{text}A")).is_err(), "extended");
        assert!(parse_text(&format!("{text}=")).is_err(), "padded");
        // The last character carries 4 unused bits: setting one decodes to
        // the same bytes in a lax decoder, and is refused here.
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut lax = text.clone().into_bytes();
        let last = lax.len() - 1;
        let index = ALPHABET.iter().position(|c| *c == lax[last]).expect("alphabet");
        lax[last] = ALPHABET[index ^ 1];
        assert!(parse_text(std::str::from_utf8(&lax).expect("ascii")).is_err());
        let coded = with_code(&text, &[1; CODE_LEN]);
        assert_eq!(parse_text(&coded).expect("coded").code, Some([1; CODE_LEN]));
        assert!(parse_text(&format!("{coded}.x")).is_err());
        assert!(parse_text(&format!("{text}.")).is_err());
        let mut bad = claims().encode_body();
        bad[1] = 0x80;
        assert_eq!(TicketClaims::decode_body(&bad), Err(ScanRefusal::Malformed("unknown flags")));
        bad[0] = 2;
        assert_eq!(TicketClaims::decode_body(&bad), Err(ScanRefusal::UnsupportedFormat(2)));
    }
}
