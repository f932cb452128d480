//! Admission tokens: what an admitted visitor shows the rest of the site
//! (seat map, holds, checkout), checked without a store round trip.
//!
//! A token is `wr1.<key id>.<claims>.<mac>`: the claims are 88 bytes in
//! hex (room, visitor, the SHA-256 of the session id, issued-at and
//! expires-at in Unix ms, the revocation generation), and the mac is
//! HMAC-SHA256 under the named key of everything before it, in hex. A key
//! ring holds the current signing key and older keys still accepted, so
//! keys rotate without voiding live tokens. Revocation is checked against
//! a small [`Revocations`] value that verifiers cache.

use super::{Revocations, RoomId, SessionId, VisitorId};
use crate::clock::millis_to_datetime;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt;
use thiserror::Error;
use uuid::Uuid;

type HmacSha256 = Hmac<Sha256>;

/// What every token starts with (the format's version).
pub const TOKEN_PREFIX: &str = "wr1";
/// The fewest bytes of a signing key.
pub const KEY_BYTES_MIN: usize = 32;
/// Tokens longer than this are refused unread.
const MAX_TOKEN_CHARS: usize = 512;
const CLAIMS_BYTES: usize = 16 + 16 + 32 + 8 + 8 + 8;

/// Why a token was refused. Every refusal is final for that token: get a
/// new one (by waiting in the room again, for most).
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Not a token of this format (truncated, edited, wrong version).
    #[error("malformed admission token")]
    Malformed,
    /// Signed with a key the key ring does not have (retired, or never
    /// ours).
    #[error("admission token signed with unknown key {0:?}")]
    UnknownKey(String),
    /// The signature does not match: forged or edited.
    #[error("admission token signature does not match")]
    BadSignature,
    /// For another room.
    #[error("admission token is for another room")]
    WrongRoom,
    /// Bound to another session: a token passed on or stolen.
    #[error("admission token belongs to another session")]
    WrongSession,
    /// The admitted session ended.
    #[error("admission token expired at {0}")]
    Expired(DateTime<Utc>),
    /// The admission was revoked.
    #[error("admission token revoked")]
    Revoked,
}

/// A signing key's id: 1 to 32 characters of `A-Z a-z 0-9 _ -`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KeyId(pub String);

impl KeyId {
    fn valid(s: &str) -> bool {
        (1..=32).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    }
}

/// The signing keys of admission tokens: one current key that signs, and
/// older keys that still verify until they are removed (after the longest
/// session has run out since the rotation).
#[derive(Clone)]
pub struct Keyring {
    current: KeyId,
    /// Each key's HMAC state after keying, cloned per token: a check
    /// hashes only the token, not the key's pads again.
    keys: BTreeMap<KeyId, HmacSha256>,
}

/// Keys are secrets: `Debug` shows only their ids.
impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring").field("current", &self.current).field("keys", &self.keys.keys()).finish()
    }
}

/// A key ring change that cannot be made.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum KeyringError {
    /// The key id is empty, too long or has other characters than
    /// `A-Z a-z 0-9 _ -`.
    #[error("key ids are 1 to 32 characters of A-Z a-z 0-9 _ -")]
    InvalidKeyId,
    /// The key is shorter than 32 bytes.
    #[error("signing keys are at least 32 bytes")]
    KeyTooShort,
    /// No key with this id on the ring.
    #[error("no key {0:?} on the ring")]
    UnknownKey(String),
    /// The current key cannot be removed: rotate first.
    #[error("the current key cannot be removed")]
    RemovingCurrent,
}

impl Keyring {
    /// A ring whose current key is `key` (at least 32 random bytes).
    ///
    /// Errors: `InvalidKeyId`, `KeyTooShort`.
    pub fn new(id: &str, key: &[u8]) -> Result<Self, KeyringError> {
        let mut ring = Keyring { current: KeyId(id.to_owned()), keys: BTreeMap::new() };
        ring.add(id, key)?;
        Ok(ring)
    }

    /// Adds (or replaces) a key that verifies tokens; it signs once made
    /// current with [`Keyring::rotate_to`].
    ///
    /// Errors: `InvalidKeyId`, `KeyTooShort`.
    pub fn add(&mut self, id: &str, key: &[u8]) -> Result<(), KeyringError> {
        if !KeyId::valid(id) {
            return Err(KeyringError::InvalidKeyId);
        }
        if key.len() < KEY_BYTES_MIN {
            return Err(KeyringError::KeyTooShort);
        }
        // HMAC takes keys of any length; the length is checked above.
        let mac = HmacSha256::new_from_slice(key).map_err(|_| KeyringError::KeyTooShort)?;
        self.keys.insert(KeyId(id.to_owned()), mac);
        Ok(())
    }

    /// Signs with key `id` from now on; the previous key still verifies.
    ///
    /// Errors: `UnknownKey`.
    pub fn rotate_to(&mut self, id: &str) -> Result<(), KeyringError> {
        let id = KeyId(id.to_owned());
        if !self.keys.contains_key(&id) {
            return Err(KeyringError::UnknownKey(id.0));
        }
        self.current = id;
        Ok(())
    }

    /// Retires key `id`: its tokens are refused from now on.
    ///
    /// Errors: `UnknownKey`, `RemovingCurrent`.
    pub fn remove(&mut self, id: &str) -> Result<(), KeyringError> {
        let id = KeyId(id.to_owned());
        if id == self.current {
            return Err(KeyringError::RemovingCurrent);
        }
        self.keys.remove(&id).map(|_| ()).ok_or(KeyringError::UnknownKey(id.0))
    }

    /// The id of the signing key.
    pub fn current(&self) -> &KeyId {
        &self.current
    }

    fn mac(&self, id: &KeyId) -> Option<HmacSha256> {
        self.keys.get(id).cloned()
    }
}

/// The SHA-256 of a session id, as a token carries it (the session id
/// itself stays out of the token).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SessionDigest(pub [u8; 32]);

impl SessionDigest {
    /// The digest of `session`.
    pub fn of(session: &SessionId) -> Self {
        let mut h = Sha256::new();
        h.update(b"booking admission session\0");
        h.update(session.0.as_bytes());
        SessionDigest(h.finalize().into())
    }
}

/// What a token says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The key that signed it.
    pub key: KeyId,
    /// The room.
    pub room: RoomId,
    /// The admitted visitor.
    pub visitor: VisitorId,
    /// The digest of the visitor's session.
    pub session: SessionDigest,
    /// When it was issued.
    pub issued_at: DateTime<Utc>,
    /// When the admitted session ends.
    pub expires_at: DateTime<Utc>,
    /// The room's revocation generation when it was issued.
    pub generation: u64,
}

impl Claims {
    fn encode(&self) -> [u8; CLAIMS_BYTES] {
        let mut b = [0u8; CLAIMS_BYTES];
        b[0..16].copy_from_slice(self.room.0.as_bytes());
        b[16..32].copy_from_slice(self.visitor.0.as_bytes());
        b[32..64].copy_from_slice(&self.session.0);
        b[64..72].copy_from_slice(&self.issued_at.timestamp_millis().to_be_bytes());
        b[72..80].copy_from_slice(&self.expires_at.timestamp_millis().to_be_bytes());
        b[80..88].copy_from_slice(&self.generation.to_be_bytes());
        b
    }

    fn decode(key: KeyId, b: &[u8]) -> Option<Claims> {
        if b.len() != CLAIMS_BYTES {
            return None;
        }
        let u = |r: std::ops::Range<usize>| Uuid::from_slice(&b[r]).ok();
        let n = |r: std::ops::Range<usize>| b.get(r).and_then(|s| <[u8; 8]>::try_from(s).ok());
        Some(Claims {
            key,
            room: RoomId(u(0..16)?),
            visitor: VisitorId(u(16..32)?),
            session: SessionDigest(<[u8; 32]>::try_from(&b[32..64]).ok()?),
            issued_at: millis_to_datetime(i64::from_be_bytes(n(64..72)?)),
            expires_at: millis_to_datetime(i64::from_be_bytes(n(72..80)?)),
            generation: u64::from_be_bytes(n(80..88)?),
        })
    }
}

/// A signed admission token, as the visitor holds it.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AdmissionToken(pub String);

/// Tokens are bearer credentials: `Debug` shows only the key id.
impl fmt::Debug for AdmissionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kid = self.0.split('.').nth(1).unwrap_or("?");
        write!(f, "AdmissionToken({TOKEN_PREFIX}.{kid}.…)")
    }
}

impl fmt::Display for AdmissionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Lowercase hex only: one text per token.
fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok()).collect()
}

impl AdmissionToken {
    /// Signs `claims` (whose `key` is ignored) with the ring's current key.
    pub fn sign(ring: &Keyring, claims: &Claims) -> AdmissionToken {
        let kid = ring.current();
        let body = format!("{TOKEN_PREFIX}.{}.{}", kid.0, hex(&claims.encode()));
        let mac = match ring.mac(kid) {
            Some(mut mac) => {
                mac.update(body.as_bytes());
                hex(&mac.finalize().into_bytes())
            }
            // The ring checks its keys when they are added; HMAC takes keys
            // of any length.
            None => String::new(),
        };
        AdmissionToken(format!("{body}.{mac}"))
    }

    /// The token's claims once its signature is checked (and nothing else:
    /// see [`verify_token`]).
    ///
    /// Errors: `Malformed`, `UnknownKey`, `BadSignature`.
    pub fn open(&self, ring: &Keyring) -> Result<Claims, TokenError> {
        let t = self.0.as_str();
        if t.len() > MAX_TOKEN_CHARS {
            return Err(TokenError::Malformed);
        }
        let mut parts = t.split('.');
        let (Some(prefix), Some(kid), Some(claims), Some(mac), None) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        if prefix != TOKEN_PREFIX || !KeyId::valid(kid) {
            return Err(TokenError::Malformed);
        }
        let kid = KeyId(kid.to_owned());
        let (Some(bytes), Some(tag)) = (unhex(claims), unhex(mac)) else {
            return Err(TokenError::Malformed);
        };
        let mut hmac = ring.mac(&kid).ok_or_else(|| TokenError::UnknownKey(kid.0.clone()))?;
        hmac.update(&t.as_bytes()[..t.len() - mac.len() - 1]);
        hmac.verify_slice(&tag).map_err(|_| TokenError::BadSignature)?;
        Claims::decode(kid, &bytes).ok_or(TokenError::Malformed)
    }
}

/// Checks a token without a store round trip: its format and signature,
/// then that it is for `room` and `session`, live at `now`, and not
/// revoked by `revocations` (the room's, as a verifier caches them).
/// Returns its claims.
///
/// Errors: the [`TokenError`]s, in the order listed there.
pub fn verify_token(
    ring: &Keyring,
    token: &AdmissionToken,
    room: RoomId,
    session: &SessionId,
    now: DateTime<Utc>,
    revocations: &Revocations,
) -> Result<Claims, TokenError> {
    let claims = token.open(ring)?;
    if claims.room != room {
        return Err(TokenError::WrongRoom);
    }
    let presented = SessionDigest::of(session);
    // Not secret-dependent timing: both digests are of public values.
    if claims.session != presented {
        return Err(TokenError::WrongSession);
    }
    if now >= claims.expires_at {
        return Err(TokenError::Expired(claims.expires_at));
    }
    if revocations.revokes(claims.visitor, claims.generation) {
        return Err(TokenError::Revoked);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, ManualClock};

    fn ring() -> Keyring {
        Keyring::new("k1", &[1; 32]).expect("ring")
    }

    fn claims(now: DateTime<Utc>) -> Claims {
        Claims {
            key: KeyId(String::new()),
            room: RoomId::new(),
            visitor: VisitorId::new(),
            session: SessionDigest::of(&SessionId::new("s")),
            issued_at: now,
            expires_at: now + chrono::Duration::minutes(10),
            generation: 3,
        }
    }

    #[test]
    fn a_token_round_trips_and_rotation_keeps_old_tokens() {
        let now = ManualClock::fixed().now();
        let mut ring = ring();
        let c = claims(now);
        let t = AdmissionToken::sign(&ring, &c);
        assert!(t.0.starts_with("wr1.k1."));
        let opened = t.open(&ring).expect("open");
        assert_eq!(opened, Claims { key: KeyId("k1".into()), ..c.clone() });
        ring.add("k2", &[2; 40]).expect("add");
        ring.rotate_to("k2").expect("rotate");
        assert!(AdmissionToken::sign(&ring, &c).0.starts_with("wr1.k2."));
        assert!(t.open(&ring).is_ok(), "old key still verifies");
        ring.remove("k1").expect("remove");
        assert_eq!(t.open(&ring), Err(TokenError::UnknownKey("k1".into())));
        assert_eq!(ring.remove("k2"), Err(KeyringError::RemovingCurrent));
    }

    #[test]
    fn edited_tokens_are_refused() {
        let ring = ring();
        let t = AdmissionToken::sign(&ring, &claims(ManualClock::fixed().now()));
        // Every single-character edit is refused.
        for i in 0..t.0.len() {
            let mut s = t.0.clone().into_bytes();
            s[i] = if s[i] == b'0' { b'1' } else { b'0' };
            let edited = AdmissionToken(String::from_utf8(s).expect("ascii"));
            assert!(edited.open(&ring).is_err(), "edit at {i} accepted");
        }
        for cut in [0, 3, 10, t.0.len() - 1] {
            assert!(AdmissionToken(t.0[..cut].to_owned()).open(&ring).is_err());
        }
        assert_eq!(AdmissionToken(format!("{}.", t.0)).open(&ring), Err(TokenError::Malformed));
        assert_eq!(AdmissionToken(t.0.to_uppercase()).open(&ring), Err(TokenError::Malformed));
        assert_eq!(AdmissionToken("x".repeat(10_000)).open(&ring), Err(TokenError::Malformed));
        let other = Keyring::new("k1", &[9; 32]).expect("ring");
        assert_eq!(t.open(&other), Err(TokenError::BadSignature), "same key id, another key");
    }

    #[test]
    fn keyrings_refuse_bad_keys() {
        assert_eq!(Keyring::new("", &[1; 32]).err(), Some(KeyringError::InvalidKeyId));
        assert_eq!(Keyring::new("a.b", &[1; 32]).err(), Some(KeyringError::InvalidKeyId));
        assert_eq!(Keyring::new("k", &[1; 31]).err(), Some(KeyringError::KeyTooShort));
        assert!(!format!("{:?}", ring()).contains("[1, 1"), "Debug shows no key bytes");
    }
}
