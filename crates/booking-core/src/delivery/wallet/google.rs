//! Google Wallet: a "save" link, `https://pay.google.com/gp/v/save/<jwt>`,
//! whose JWT (RS256, signed with the issuer's service account key) carries
//! the event ticket class (the show) and object (the ticket) to add.

use super::WalletError;
use crate::delivery::TicketNotice;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::RsaPrivateKey;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::DecodePrivateKey;
use serde_json::{Value, json};
use std::fmt;

/// The prefix of a save link; the JWT follows.
pub const GOOGLE_SAVE_URL: &str = "https://pay.google.com/gp/v/save/";

/// The issuer's Google Wallet account and key.
#[derive(Clone)]
pub struct GoogleWalletSettings {
    issuer_id: String,
    service_account_email: String,
    issuer_name: String,
    origins: Vec<String>,
    key: EncodingKey,
}

impl fmt::Debug for GoogleWalletSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GoogleWalletSettings")
            .field("issuer_id", &self.issuer_id)
            .field("service_account_email", &self.service_account_email)
            .field("issuer_name", &self.issuer_name)
            .field("origins", &self.origins)
            .finish_non_exhaustive()
    }
}

impl GoogleWalletSettings {
    /// The settings of issuer `issuer_id` (digits, from the Google Pay &
    /// Wallet console), signing as `service_account_email` with its RSA
    /// key (`private_key` of the service account's JSON key file, PEM),
    /// showing `issuer_name` on the pass.
    pub fn new(
        issuer_id: impl Into<String>,
        service_account_email: impl Into<String>,
        issuer_name: impl Into<String>,
        private_key_pem: &str,
    ) -> Result<Self, WalletError> {
        let issuer_id = issuer_id.into();
        if issuer_id.is_empty() || issuer_id.len() > 30 || !issuer_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(WalletError::BadSetting { field: "issuer_id", reason: "the issuer's digits" });
        }
        let service_account_email = service_account_email.into();
        if !crate::delivery::contacts::valid_email(&service_account_email) {
            return Err(WalletError::BadSetting { field: "service_account_email", reason: "an email address" });
        }
        let issuer_name = issuer_name.into();
        if issuer_name.trim().is_empty() || issuer_name.chars().count() > 200 {
            return Err(WalletError::BadSetting { field: "issuer_name", reason: "1 to 200 characters" });
        }
        // jsonwebtoken takes any RSA PEM (a public key too) and fails only
        // when signing: read it as a private key first.
        let credential =
            |e: &dyn fmt::Display| WalletError::Credential { what: "service account key", reason: e.to_string() };
        RsaPrivateKey::from_pkcs8_pem(private_key_pem)
            .map(drop)
            .or_else(|_| RsaPrivateKey::from_pkcs1_pem(private_key_pem).map(drop))
            .map_err(|e| credential(&e))?;
        let key = EncodingKey::from_rsa_pem(private_key_pem.as_bytes()).map_err(|e| credential(&e))?;
        Ok(GoogleWalletSettings { issuer_id, service_account_email, issuer_name, origins: Vec::new(), key })
    }

    /// The web origins (`https://tickets.example`) allowed to show the
    /// save button for these links.
    pub fn with_origins(mut self, origins: Vec<String>) -> Self {
        self.origins = origins;
        self
    }
}

/// The JWT claims of the ticket's save link: `iss` the service account,
/// `aud` `google`, `typ` `savetowallet`, `iat` the ticket's issue time, and
/// a payload with the show's `eventTicketClasses` entry and the ticket's
/// `eventTicketObjects` entry (barcode, event name, seat, state `ACTIVE`).
pub fn google_save_claims(notice: &TicketNotice, settings: &GoogleWalletSettings) -> Result<Value, WalletError> {
    notice.validate()?;
    let issuer = &settings.issuer_id;
    let class_id = format!("{issuer}.show-{}", notice.show);
    let object_id = format!("{issuer}.{}", object_suffix(&notice.ticket_id));
    let text = |value: &str| json!({"defaultValue": {"language": "en-US", "value": value}});

    let mut object = json!({
        "id": object_id,
        "classId": class_id,
        "state": "ACTIVE",
        "ticketNumber": notice.ticket_id,
        "barcode": {"type": "QR_CODE", "value": notice.barcode, "alternateText": notice.ticket_id},
        "seatInfo": {"seat": text(&notice.seat)},
        "textModulesData": [{"id": "event", "header": "Event", "body": notice.show_title}],
        "validTimeInterval": {
            "end": {"date": notice.ends_at.to_rfc3339()},
        },
    });
    if let (Some(name), Some(map)) = (&notice.holder_name, object.as_object_mut()) {
        map.insert("ticketHolderName".to_owned(), json!(name));
    }
    let class = json!({
        "id": class_id,
        "issuerName": settings.issuer_name,
        "reviewStatus": "UNDER_REVIEW",
        "eventName": text(&notice.show_title),
        "venue": {"name": text(&notice.venue), "address": text(&notice.venue)},
        "dateTime": {"start": notice.starts_at.to_rfc3339(), "end": notice.ends_at.to_rfc3339()},
    });
    Ok(json!({
        "iss": settings.service_account_email,
        "aud": "google",
        "typ": "savetowallet",
        "iat": notice.issued_at.timestamp(),
        "origins": settings.origins,
        "payload": {
            "eventTicketClasses": [class],
            "eventTicketObjects": [object],
        },
    }))
}

/// The ticket's Google Wallet save link: [`GOOGLE_SAVE_URL`] and the
/// RS256 JWT of [`google_save_claims`].
pub fn google_save_link(notice: &TicketNotice, settings: &GoogleWalletSettings) -> Result<String, WalletError> {
    let claims = google_save_claims(notice, settings)?;
    let jwt = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &settings.key)
        .map_err(|e| WalletError::Sign(e.to_string()))?;
    Ok(format!("{GOOGLE_SAVE_URL}{jwt}"))
}

/// Object ids allow letters, digits, `.`, `_` and `-` after the issuer id:
/// a ticket id made of those is kept, any other is replaced by its SHA-256
/// (hex, 32 characters) so that two tickets never share an object.
fn object_suffix(ticket_id: &str) -> String {
    if ticket_id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')) {
        ticket_id.to_owned()
    } else {
        // The seat map's entity tag: the first 128 bits of SHA-256, hex,
        // quoted.
        format!("t{}", crate::seatmap::etag(ticket_id).trim_matches('"'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_ids_keep_plain_ticket_ids_and_hash_others() {
        assert_eq!(object_suffix("TKT-0001_a.b"), "TKT-0001_a.b");
        let hashed = object_suffix("TKT/0001");
        assert!(hashed.starts_with('t') && hashed.len() == 33, "{hashed}");
        assert_ne!(object_suffix("TKT/0001"), object_suffix("TKT:0001"));
    }
}
