//! Signing keys and the public keyring scanners verify with.
//!
//! Keys rotate: the issuer signs with its current key, and scanners hold
//! every public key still valid, each under its [`KeyId`] (the id a ticket
//! names). To rotate, add the new public key to the scanners' keyring at a
//! sync, then make the new key current on the issuer; remove the old public
//! key once every ticket it signed has been reissued or its show is over.

use super::TicketError;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// The id of a signing key, written into every ticket it signs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KeyId(pub u32);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "key#{}", self.0)
    }
}

/// The issuer's private keys: one current key that signs, and older ones
/// kept for their public halves. Built from 32-byte Ed25519 seeds (from a
/// KMS, a secrets store, or the operating system's random source); the
/// seeds are zeroed when the keyring is dropped.
pub struct SigningKeyring {
    current: KeyId,
    keys: BTreeMap<KeyId, SigningKey>,
}

impl fmt::Debug for SigningKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeyring")
            .field("current", &self.current)
            .field("keys", &self.keys.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl SigningKeyring {
    /// A keyring with one key, current.
    pub fn new(id: KeyId, seed: [u8; 32]) -> Self {
        SigningKeyring { current: id, keys: BTreeMap::from([(id, SigningKey::from_bytes(&seed))]) }
    }

    /// Adds a key, and makes it the current one (rotation). Errors:
    /// [`TicketError::DuplicateKey`] when the id is taken (nothing changes).
    pub fn rotate_to(&mut self, id: KeyId, seed: [u8; 32]) -> Result<(), TicketError> {
        if self.keys.contains_key(&id) {
            return Err(TicketError::DuplicateKey(id));
        }
        self.keys.insert(id, SigningKey::from_bytes(&seed));
        self.current = id;
        Ok(())
    }

    /// Forgets a key that is not current (its public half should leave the
    /// scanners' keyring too). Errors: [`TicketError::UnknownKey`], and
    /// [`TicketError::CurrentKey`] for the current key, which stays.
    pub fn retire(&mut self, id: KeyId) -> Result<(), TicketError> {
        if id == self.current {
            return Err(TicketError::CurrentKey(id));
        }
        self.keys.remove(&id).map(|_| ()).ok_or(TicketError::UnknownKey(id))
    }

    /// The id of the key that signs.
    pub fn current(&self) -> KeyId {
        self.current
    }

    /// Signs `message` with the current key.
    pub(crate) fn sign(&self, message: &[u8]) -> Result<[u8; 64], TicketError> {
        let key = self.keys.get(&self.current).ok_or(TicketError::UnknownKey(self.current))?;
        Ok(key.sign(message).to_bytes())
    }

    /// Every public key, for the scanners.
    pub fn public(&self) -> PublicKeyring {
        PublicKeyring { keys: self.keys.iter().map(|(id, k)| (*id, k.verifying_key())).collect() }
    }
}

/// The public keys scanners accept, by id; several are valid at once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PublicKeyring {
    keys: BTreeMap<KeyId, VerifyingKey>,
}

impl PublicKeyring {
    /// A keyring from `(id, 32-byte Ed25519 public key)` pairs.
    ///
    /// Errors: [`TicketError::InvalidKey`] for bytes that are not a point,
    /// or a weak (small-order) key; [`TicketError::DuplicateKey`].
    pub fn from_bytes(keys: impl IntoIterator<Item = (KeyId, [u8; 32])>) -> Result<Self, TicketError> {
        let mut out = BTreeMap::new();
        for (id, bytes) in keys {
            let key = VerifyingKey::from_bytes(&bytes).map_err(|_| TicketError::InvalidKey(id))?;
            if key.is_weak() {
                return Err(TicketError::InvalidKey(id));
            }
            if out.insert(id, key).is_some() {
                return Err(TicketError::DuplicateKey(id));
            }
        }
        Ok(PublicKeyring { keys: out })
    }

    /// Every key as `(id, 32 bytes)`, to ship to scanners.
    pub fn to_bytes(&self) -> Vec<(KeyId, [u8; 32])> {
        self.keys.iter().map(|(id, k)| (*id, k.to_bytes())).collect()
    }

    /// Whether a key with this id is known.
    pub fn contains(&self, id: KeyId) -> bool {
        self.keys.contains_key(&id)
    }

    /// Verifies `signature` of `message` by key `id` with Ed25519's strict
    /// rules (`verify_strict`: no small-order keys or R, canonical S).
    /// Returns `None` for an unknown key, `Some(false)` for a bad signature.
    pub(crate) fn verify(&self, id: KeyId, message: &[u8], signature: &[u8; 64]) -> Option<bool> {
        let key = self.keys.get(&id)?;
        Some(key.verify_strict(message, &Signature::from_bytes(signature)).is_ok())
    }
}

impl Serialize for PublicKeyring {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_bytes().serialize(s)
    }
}

impl<'de> Deserialize<'de> for PublicKeyring {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let keys = Vec::<(KeyId, [u8; 32])>::deserialize(d)?;
        PublicKeyring::from_bytes(keys).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_keeps_old_public_keys_and_refuses_bad_ones() {
        let mut ring = SigningKeyring::new(KeyId(1), [1; 32]);
        assert_eq!(ring.rotate_to(KeyId(1), [2; 32]), Err(TicketError::DuplicateKey(KeyId(1))));
        ring.rotate_to(KeyId(2), [2; 32]).expect("rotate");
        assert_eq!(ring.current(), KeyId(2));
        let public = ring.public();
        assert!(public.contains(KeyId(1)) && public.contains(KeyId(2)));
        assert_eq!(ring.retire(KeyId(2)), Err(TicketError::CurrentKey(KeyId(2))));
        ring.retire(KeyId(1)).expect("retire");
        assert_eq!(ring.retire(KeyId(1)), Err(TicketError::UnknownKey(KeyId(1))));
        let bytes = public.to_bytes();
        assert_eq!(PublicKeyring::from_bytes(bytes.clone()), Ok(public));
        let twice = vec![bytes[0], bytes[0]];
        assert_eq!(PublicKeyring::from_bytes(twice), Err(TicketError::DuplicateKey(KeyId(1))));
        // The identity point: a weak key.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(PublicKeyring::from_bytes([(KeyId(9), identity)]), Err(TicketError::InvalidKey(KeyId(9))));
        assert!(format!("{ring:?}").contains("KeyId(2)"), "debug names ids, never seeds");
    }
}
