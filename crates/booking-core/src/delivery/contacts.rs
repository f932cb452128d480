//! The contact directory: which email address and phone number belong to
//! a holder.

use crate::ids::OwnerId;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt::Debug;
use std::str::FromStr;
use std::sync::{Mutex, MutexGuard};
use thiserror::Error;

/// An email address and/or a phone number (E.164: `+` and 8 to 15 digits).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    /// The email address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The mobile phone number, E.164.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

impl Contact {
    /// An email address only.
    pub fn email(address: impl Into<String>) -> Self {
        Contact { email: Some(address.into()), phone: None }
    }

    /// A phone number only.
    pub fn phone(number: impl Into<String>) -> Self {
        Contact { email: None, phone: Some(number.into()) }
    }

    /// Adds a phone number.
    pub fn with_phone(mut self, number: impl Into<String>) -> Self {
        self.phone = Some(number.into());
        self
    }
}

/// Why the contact directory could not answer.
#[derive(Debug, Error)]
#[error("contact directory: {0}")]
pub struct DirectoryError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

/// The contact directory: the email and phone each holder has on file (an
/// accounts table, an identity provider). Delivery sends a ticket only to
/// a contact found here for the ticket's holder, whatever the message
/// says.
#[async_trait]
pub trait HolderContacts: Send + Sync + Debug {
    /// The holder's contact on file, `None` when the holder has none (or
    /// is unknown).
    async fn contact_of(&self, holder: OwnerId) -> Result<Option<Contact>, DirectoryError>;
}

/// True when `a` and `b` name the same mailbox: the local part compared
/// exactly, the domain without regard to ASCII case. Stricter than most
/// mail servers, so it can refuse a variant spelling but never matches two
/// different mailboxes.
pub fn same_email(a: &str, b: &str) -> bool {
    match (a.trim().rsplit_once('@'), b.trim().rsplit_once('@')) {
        (Some((la, da)), Some((lb, db))) => la == lb && da.eq_ignore_ascii_case(db),
        _ => false,
    }
}

/// True when `a` and `b` are the same E.164 number (compared exactly:
/// the form is canonical).
pub fn same_phone(a: &str, b: &str) -> bool {
    valid_phone(a) && a == b
}

/// An address lettre accepts, at most 254 characters, not padded.
pub(crate) fn valid_email(address: &str) -> bool {
    address.len() <= 254 && address.trim() == address && lettre::Address::from_str(address).is_ok()
}

/// `+` and 8 to 15 digits, the first not 0.
pub(crate) fn valid_phone(number: &str) -> bool {
    let Some(digits) = number.strip_prefix('+') else { return false };
    (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0')
}

/// A contact directory in a map: for development, tests and embedders who
/// keep contacts in memory.
#[derive(Debug, Default)]
pub struct ContactBook {
    entries: Mutex<HashMap<OwnerId, Contact>>,
}

impl ContactBook {
    /// An empty directory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records (or replaces) the holder's contact.
    pub fn set(&self, holder: OwnerId, contact: Contact) {
        self.entries().insert(holder, contact);
    }

    /// Forgets the holder's contact.
    pub fn remove(&self, holder: OwnerId) {
        self.entries().remove(&holder);
    }

    fn entries(&self) -> MutexGuard<'_, HashMap<OwnerId, Contact>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl HolderContacts for ContactBook {
    async fn contact_of(&self, holder: OwnerId) -> Result<Option<Contact>, DirectoryError> {
        Ok(self.entries().get(&holder).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_match_on_exact_local_part_and_any_case_domain() {
        assert!(same_email("ana@Example.COM", "ana@example.com"));
        assert!(!same_email("Ana@example.com", "ana@example.com"));
        assert!(!same_email("ana@example.com", "ana@example.com.evil.test"));
        assert!(!same_email("ana@example.com", "bob@example.com"));
        assert!(!same_email("ana", "ana"));
    }

    #[test]
    fn phones_are_e164_only() {
        assert!(valid_phone("+447700900123"));
        assert!(!valid_phone("447700900123"));
        assert!(!valid_phone("+44 7700 900123"));
        assert!(!valid_phone("+0447700900"));
        assert!(!valid_phone("+1234567"));
        assert!(!valid_phone("+1234567890123456"));
        assert!(same_phone("+447700900123", "+447700900123"));
        assert!(!same_phone("+447700900123", "+447700900124"));
        assert!(!same_phone("x", "x"));
    }

    #[test]
    fn emails_are_validated() {
        assert!(valid_email("ana@example.com"));
        assert!(!valid_email(" ana@example.com"));
        assert!(!valid_email("ana@example.com\r\nBcc: eve@example.com"));
        assert!(!valid_email("not an address"));
        assert!(!valid_email(&format!("{}@example.com", "a".repeat(260))));
    }
}
