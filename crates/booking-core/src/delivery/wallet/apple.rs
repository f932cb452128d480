//! Apple Wallet: an `eventTicket` pass, packaged as a signed `.pkpass`.
//!
//! A `.pkpass` is a zip of `pass.json`, the pass's images, `manifest.json`
//! (the SHA-1 hex digest of every other file, by name) and `signature`: a
//! detached PKCS#7 (CMS) signature of `manifest.json`, DER, made with the
//! Pass Type ID certificate's key and carrying that certificate and Apple's
//! WWDR intermediate. Wallet checks the signature, then every digest.
//!
//! Built here from `zip` (entries stored, so no compressor is compiled in)
//! and `cms`, rather than with the `pkpass` crate, whose `zip` dependency
//! brings its default compressors (zstd, bzip2, lzma, the first and last
//! built from C) and which also pulls `regex`: the package is a few dozen
//! lines.

use super::WalletError;
use crate::delivery::TicketNotice;
use cms::builder::{SignedDataBuilder, SignerInfoBuilder};
use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::signed_data::{EncapsulatedContentInfo, SignerIdentifier};
use rsa::RsaPrivateKey;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey;
use serde_json::{Value, json};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::{Cursor, Write};
use std::time::SystemTime;
use x509_cert::Certificate;
use x509_cert::attr::Attribute;
use x509_cert::der::asn1::{ObjectIdentifier, SetOfVec};
use x509_cert::der::{Any, DecodePem, Encode};
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_cert::time::Time;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

/// The media type to serve a `.pkpass` with.
pub const APPLE_PASS_MEDIA_TYPE: &str = "application/vnd.apple.pkpass";

const OID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
const OID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const OID_SIGNING_TIME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.5");

const RESERVED: [&str; 3] = ["pass.json", "manifest.json", "signature"];

/// Who the pass is from, as Apple registered it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApplePassSettings {
    /// The Pass Type ID (`pass.com.example.tickets`), as in the signing
    /// certificate.
    pub pass_type_identifier: String,
    /// The Apple Developer team id (`A1B2C3D4E5`).
    pub team_identifier: String,
    /// The organisation shown on the pass.
    pub organization_name: String,
    /// What the pass is, for accessibility (`Ticket for ...` is added).
    pub description: String,
}

/// An image (or other resource) of the pass: `icon.png` (required),
/// `icon@2x.png`, `logo.png`, `strip.png`, ... or a localised one
/// (`fr.lproj/logo.png`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PassFile {
    /// The file's name in the pass.
    pub name: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

impl PassFile {
    /// A file named `name`.
    pub fn new(name: impl Into<String>, bytes: impl Into<Vec<u8>>) -> Self {
        PassFile { name: name.into(), bytes: bytes.into() }
    }
}

/// The Pass Type ID certificate and key that sign passes, with the WWDR
/// intermediate certificate sent along.
#[derive(Clone)]
pub struct PassSigner {
    key: RsaPrivateKey,
    cert: Certificate,
    intermediates: Vec<Certificate>,
}

impl fmt::Debug for PassSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PassSigner")
            .field("subject", &self.cert.tbs_certificate.subject.to_string())
            .field("intermediates", &self.intermediates.len())
            .finish_non_exhaustive()
    }
}

impl PassSigner {
    /// The signer from PEM text: the Pass Type ID certificate, its RSA key
    /// (PKCS#8 `PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY`, unencrypted) and
    /// the intermediate certificates to include (Apple's WWDR certificate;
    /// none for a test certificate).
    pub fn from_pem(cert_pem: &str, key_pem: &str, intermediates_pem: &[&str]) -> Result<Self, WalletError> {
        let cert = Certificate::from_pem(cert_pem.as_bytes())
            .map_err(|e| WalletError::Credential { what: "signing certificate", reason: e.to_string() })?;
        let key = RsaPrivateKey::from_pkcs8_pem(key_pem)
            .or_else(|_| RsaPrivateKey::from_pkcs1_pem(key_pem))
            .map_err(|e| WalletError::Credential { what: "signing key", reason: e.to_string() })?;
        let intermediates = intermediates_pem
            .iter()
            .map(|pem| Certificate::from_pem(pem.as_bytes()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| WalletError::Credential { what: "intermediate certificate", reason: e.to_string() })?;
        Ok(PassSigner { key, cert, intermediates })
    }

    /// A detached CMS signature of `content`, DER: SHA-256 with RSA
    /// (PKCS#1 v1.5), the signing time `signed_at` as a signed attribute,
    /// the certificates included.
    fn sign_detached(&self, content: &[u8], signed_at: SystemTime) -> Result<Vec<u8>, WalletError> {
        let sign = |e: &dyn fmt::Display| WalletError::Sign(e.to_string());
        let tbs = &self.cert.tbs_certificate;
        let sid = SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: tbs.issuer.clone(),
            serial_number: tbs.serial_number.clone(),
        });
        let content_info = EncapsulatedContentInfo { econtent_type: OID_DATA, econtent: None };
        let digest_algorithm = AlgorithmIdentifierOwned { oid: OID_SHA256, parameters: Some(Any::null()) };
        let digest = Sha256::digest(content);
        let signer = SigningKey::<Sha256>::new(self.key.clone());

        let time = Time::try_from(signed_at).map_err(|e| sign(&e))?;
        let mut values = SetOfVec::new();
        values.insert(Any::encode_from(&time).map_err(|e| sign(&e))?).map_err(|e| sign(&e))?;
        let signing_time = Attribute { oid: OID_SIGNING_TIME, values };

        let mut signer_info =
            SignerInfoBuilder::new(&signer, sid, digest_algorithm.clone(), &content_info, Some(&digest[..]))
                .map_err(|e| sign(&e))?;
        signer_info.add_signed_attribute(signing_time).map_err(|e| sign(&e))?;

        let mut builder = SignedDataBuilder::new(&content_info);
        builder.add_digest_algorithm(digest_algorithm).map_err(|e| sign(&e))?;
        builder.add_certificate(CertificateChoices::Certificate(self.cert.clone())).map_err(|e| sign(&e))?;
        for cert in &self.intermediates {
            builder.add_certificate(CertificateChoices::Certificate(cert.clone())).map_err(|e| sign(&e))?;
        }
        builder.add_signer_info(signer_info).map_err(|e| sign(&e))?;
        builder.build().map_err(|e| sign(&e))?.to_der().map_err(|e| sign(&e))
    }
}

/// The `pass.json` of the ticket: an `eventTicket` whose barcode is the
/// ticket's barcode text as a QR code.
pub(super) fn pass_json(notice: &TicketNotice, settings: &ApplePassSettings) -> Value {
    let encoding = if notice.barcode.chars().all(|c| (c as u32) < 0x100) { "iso-8859-1" } else { "utf-8" };
    let barcode = json!({
        "format": "PKBarcodeFormatQR",
        "message": notice.barcode,
        "messageEncoding": encoding,
        "altText": notice.ticket_id,
    });
    let mut secondary = vec![json!({"key": "venue", "label": "VENUE", "value": notice.venue})];
    if let Some(name) = &notice.holder_name {
        secondary.push(json!({"key": "holder", "label": "HOLDER", "value": name}));
    }
    json!({
        "formatVersion": 1,
        "passTypeIdentifier": settings.pass_type_identifier,
        "teamIdentifier": settings.team_identifier,
        "organizationName": settings.organization_name,
        "description": format!("{}: {}", settings.description, notice.show_title),
        "serialNumber": notice.ticket_id,
        "relevantDate": notice.starts_at.to_rfc3339(),
        "expirationDate": notice.ends_at.to_rfc3339(),
        "barcodes": [barcode.clone()],
        "barcode": barcode,
        "eventTicket": {
            "primaryFields": [{"key": "event", "label": "EVENT", "value": notice.show_title}],
            "secondaryFields": secondary,
            "auxiliaryFields": [
                {"key": "starts", "label": "STARTS", "value": notice.starts_at.to_rfc3339(),
                 "dateStyle": "PKDateStyleMedium", "timeStyle": "PKDateStyleShort"},
                {"key": "seat", "label": "SEAT", "value": notice.seat},
            ],
            "backFields": [
                {"key": "ticket", "label": "TICKET", "value": notice.ticket_id},
                {"key": "order", "label": "ORDER", "value": notice.order.to_string()},
            ],
        },
    })
}

/// The signed `.pkpass` of the ticket: `pass.json` from the notice and
/// `settings`, the `files` (at least `icon.png`), `manifest.json` and the
/// `signature` made by `signer` at `signed_at`. Serve it as
/// [`APPLE_PASS_MEDIA_TYPE`].
pub fn apple_pass(
    notice: &TicketNotice,
    settings: &ApplePassSettings,
    files: &[PassFile],
    signer: &PassSigner,
    signed_at: SystemTime,
) -> Result<Vec<u8>, WalletError> {
    notice.validate()?;
    check_settings(settings)?;
    let mut names = BTreeSet::new();
    for file in files {
        if !valid_file_name(&file.name) || !names.insert(file.name.as_str()) {
            return Err(WalletError::BadFile(file.name.clone()));
        }
    }
    if !names.contains("icon.png") {
        return Err(WalletError::MissingIcon);
    }

    let pass =
        serde_json::to_vec_pretty(&pass_json(notice, settings)).map_err(|e| WalletError::Archive(e.to_string()))?;
    let mut contents: Vec<(&str, &[u8])> = vec![("pass.json", &pass)];
    contents.extend(files.iter().map(|f| (f.name.as_str(), f.bytes.as_slice())));

    let manifest: BTreeMap<&str, String> = contents.iter().map(|(name, bytes)| (*name, sha1_hex(bytes))).collect();
    let manifest = serde_json::to_vec_pretty(&manifest).map_err(|e| WalletError::Archive(e.to_string()))?;
    let signature = signer.sign_detached(&manifest, signed_at)?;
    contents.push(("manifest.json", &manifest));
    contents.push(("signature", &signature));

    let archive = |e: zip::result::ZipError| WalletError::Archive(e.to_string());
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
    for (name, bytes) in contents {
        zip.start_file(name, options).map_err(archive)?;
        zip.write_all(bytes).map_err(|e| WalletError::Archive(e.to_string()))?;
    }
    Ok(zip.finish().map_err(archive)?.into_inner())
}

fn check_settings(s: &ApplePassSettings) -> Result<(), WalletError> {
    let plain = |v: &str| !v.trim().is_empty() && v.len() <= 200 && !v.chars().any(char::is_control);
    if !plain(&s.pass_type_identifier) || !s.pass_type_identifier.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(WalletError::BadSetting { field: "pass_type_identifier", reason: "a reverse-DNS identifier" });
    }
    if !plain(&s.team_identifier) || !s.team_identifier.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(WalletError::BadSetting { field: "team_identifier", reason: "letters and digits" });
    }
    if !plain(&s.organization_name) {
        return Err(WalletError::BadSetting { field: "organization_name", reason: "1 to 200 characters" });
    }
    if !plain(&s.description) {
        return Err(WalletError::BadSetting { field: "description", reason: "1 to 200 characters" });
    }
    Ok(())
}

/// A plain file name (`[A-Za-z0-9@._-]`, not starting with a dot), or one
/// inside a `<lang>.lproj/` folder; not a name the pass reserves.
fn valid_file_name(name: &str) -> bool {
    let plain = |n: &str| {
        !n.is_empty()
            && n.len() <= 100
            && !n.starts_with('.')
            && n.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'@' | b'.' | b'_' | b'-'))
    };
    let ok = match name.split_once('/') {
        None => plain(name),
        Some((dir, file)) => dir.ends_with(".lproj") && plain(dir) && plain(file),
    };
    ok && !RESERVED.contains(&name)
}

fn sha1_hex(bytes: &[u8]) -> String {
    Sha1::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_plain() {
        for ok in ["icon.png", "icon@2x.png", "strip.png", "fr.lproj/logo.png", "pass.strings"] {
            assert!(valid_file_name(ok), "{ok}");
        }
        for bad in [
            "",
            "../icon.png",
            "/icon.png",
            "a/b/c.png",
            "img/icon.png",
            ".hidden",
            "pass.json",
            "manifest.json",
            "signature",
            "ic on.png",
            "icon.png\0",
        ] {
            assert!(!valid_file_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn sha1_is_hex() {
        assert_eq!(sha1_hex(b"abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
    }
}
