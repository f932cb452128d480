//! Wallet passes (feature `wallet`): an Apple `.pkpass` signed with a
//! self-signed certificate made at test time and checked by the `openssl`
//! command (the signature and every manifest digest), and a Google Wallet
//! save link whose JWT is verified with the public half of a test key.
#![cfg(feature = "wallet")]

use booking_core::delivery::wallet::{
    ApplePassSettings, GOOGLE_SAVE_URL, GoogleWalletSettings, PassFile, PassSigner, WalletError, apple_pass,
    google_save_link,
};
use booking_core::delivery::{Contact, NoticeError, TicketNotice, WalletLinks};
use booking_core::{OrderId, OwnerId, ShowId};
use chrono::{TimeZone, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use sha1::{Digest, Sha1};
use std::collections::{BTreeMap, HashSet};
use std::io::{Cursor, Read};
use std::path::Path;
use std::process::Command;
use std::time::SystemTime;

const QR_PNG: &[u8] = include_bytes!("fixtures/ticket-qr.png");
const GOOGLE_KEY: &str = include_str!("fixtures/google-wallet-test-key.pem");
const GOOGLE_PUBLIC_KEY: &str = include_str!("fixtures/google-wallet-test-key.pub.pem");
const SERVICE_ACCOUNT: &str = "wallet@booking-test.iam.gserviceaccount.com";

fn notice() -> TicketNotice {
    let at = |h| Utc.with_ymd_and_hms(2026, 12, 31, h, 0, 0).single().expect("a valid time");
    TicketNotice {
        ticket_id: "TKT-0001-A".into(),
        order: OrderId::new(),
        show: ShowId::new(),
        holder: OwnerId::new(),
        contact: Contact::email("ana@mail.example"),
        holder_name: Some("Ana Souza".into()),
        show_title: "New Year's Eve, live".into(),
        venue: "Grand Hall".into(),
        starts_at: at(19),
        ends_at: at(23),
        seat: "Stalls, row B, seat 12".into(),
        barcode: "v1.eyJ0IjoiVEtULTAwMDEtQSJ9.c2lnbmF0dXJl".into(),
        qr_png: QR_PNG.to_vec(),
        wallet: WalletLinks::default(),
        issued_at: at(12),
    }
}

fn apple_settings() -> ApplePassSettings {
    ApplePassSettings {
        pass_type_identifier: "pass.example.booking.test".into(),
        team_identifier: "A1B2C3D4E5".into(),
        organization_name: "Box Office".into(),
        description: "Ticket".into(),
    }
}

/// `openssl` with `args` in `dir`; `None` when the command is missing.
fn openssl(dir: &Path, args: &[&str]) -> Option<std::process::Output> {
    match Command::new("openssl").args(args).current_dir(dir).output() {
        Ok(out) => Some(out),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => panic!("running openssl: {e}"),
    }
}

/// A self-signed certificate and its key, made now by the `openssl`
/// command; `None` (the test skips, saying so) where it is not installed.
fn test_signer(dir: &Path) -> Option<(String, String)> {
    let out = openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
            "-days",
            "2",
            "-subj",
            "/CN=booking test pass signer/O=Test only",
        ],
    )?;
    assert!(out.status.success(), "openssl req: {}", String::from_utf8_lossy(&out.stderr));
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).expect("an openssl output file");
    Some((read("cert.pem"), read("key.pem")))
}

fn unzip(pass: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut archive = zip::ZipArchive::new(Cursor::new(pass)).expect("a zip archive");
    let mut files = BTreeMap::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).expect("an entry");
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).expect("entry bytes");
        files.insert(entry.name().expect("an entry name").into_owned(), bytes);
    }
    files
}

/// Runs `openssl smime -verify` on the files; true when it succeeds.
fn smime_verifies(dir: &Path, signature: &[u8], manifest: &[u8]) -> Option<bool> {
    std::fs::write(dir.join("signature"), signature).expect("written");
    std::fs::write(dir.join("manifest.json"), manifest).expect("written");
    let out = openssl(
        dir,
        &[
            "smime",
            "-verify",
            "-noverify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            "signature",
            "-content",
            "manifest.json",
            "-out",
            "/dev/null",
        ],
    )?;
    Some(out.status.success())
}

#[test]
fn an_apple_pass_is_signed_and_every_file_matches_its_manifest_digest() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let Some((cert, key)) = test_signer(dir.path()) else {
        eprintln!(
            "SKIPPED: the openssl command is not installed; it makes the test certificate and checks the signature"
        );
        return;
    };
    let signer = PassSigner::from_pem(&cert, &key, &[]).expect("a signer");
    let files = [
        PassFile::new("icon.png", QR_PNG),
        PassFile::new("icon@2x.png", QR_PNG),
        PassFile::new("fr.lproj/logo.png", QR_PNG),
    ];
    let pass = apple_pass(&notice(), &apple_settings(), &files, &signer, SystemTime::now()).expect("a pass");

    let entries = unzip(&pass);
    let names: Vec<_> = entries.keys().map(String::as_str).collect();
    assert_eq!(names, ["fr.lproj/logo.png", "icon.png", "icon@2x.png", "manifest.json", "pass.json", "signature"]);

    // The signature: a detached PKCS#7 of manifest.json, as openssl sees it.
    let manifest_bytes = &entries["manifest.json"];
    assert_eq!(smime_verifies(dir.path(), &entries["signature"], manifest_bytes), Some(true));
    // An edited manifest no longer verifies.
    let mut edited = manifest_bytes.clone();
    edited[10] ^= 1;
    assert_eq!(smime_verifies(dir.path(), &entries["signature"], &edited), Some(false));

    // The manifest: the SHA-1 of every other file, and nothing else.
    let manifest: BTreeMap<String, String> = serde_json::from_slice(manifest_bytes).expect("a JSON manifest");
    let hashed: Vec<_> = manifest.keys().map(String::as_str).collect();
    assert_eq!(hashed, ["fr.lproj/logo.png", "icon.png", "icon@2x.png", "pass.json"]);
    for (name, digest) in &manifest {
        let actual: String = Sha1::digest(&entries[name]).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(&actual, digest, "{name}");
    }

    // pass.json: an event ticket whose QR code is the ticket's barcode.
    let pass_json: Value = serde_json::from_slice(&entries["pass.json"]).expect("pass.json");
    assert_eq!(pass_json["formatVersion"], 1);
    assert_eq!(pass_json["serialNumber"], "TKT-0001-A");
    assert_eq!(pass_json["passTypeIdentifier"], "pass.example.booking.test");
    assert_eq!(pass_json["teamIdentifier"], "A1B2C3D4E5");
    assert_eq!(pass_json["barcodes"][0]["format"], "PKBarcodeFormatQR");
    assert_eq!(pass_json["barcodes"][0]["message"], notice().barcode);
    assert_eq!(pass_json["eventTicket"]["primaryFields"][0]["value"], "New Year's Eve, live");
    let aux = pass_json["eventTicket"]["auxiliaryFields"].as_array().expect("auxiliary fields");
    assert!(aux.iter().any(|f| f["value"] == "Stalls, row B, seat 12"));
    assert_eq!(pass_json["relevantDate"], "2026-12-31T19:00:00+00:00");
}

#[test]
fn a_pass_with_bad_files_or_credentials_is_refused() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let Some((cert, key)) = test_signer(dir.path()) else {
        eprintln!("SKIPPED: the openssl command is not installed; it makes the test certificate");
        return;
    };
    let signer = PassSigner::from_pem(&cert, &key, &[]).expect("a signer");
    let build = |files: &[PassFile]| apple_pass(&notice(), &apple_settings(), files, &signer, SystemTime::now());
    assert_eq!(build(&[]), Err(WalletError::MissingIcon));
    assert_eq!(build(&[PassFile::new("logo.png", QR_PNG)]), Err(WalletError::MissingIcon));
    for name in ["../icon.png", "pass.json", "manifest.json", "signature", "a/b/icon.png"] {
        let got = build(&[PassFile::new("icon.png", QR_PNG), PassFile::new(name, QR_PNG)]);
        assert_eq!(got, Err(WalletError::BadFile(name.into())), "{name}");
    }
    let twice = build(&[PassFile::new("icon.png", QR_PNG), PassFile::new("icon.png", QR_PNG)]);
    assert_eq!(twice, Err(WalletError::BadFile("icon.png".into())));

    let mut bad = notice();
    bad.barcode.clear();
    let got = apple_pass(&bad, &apple_settings(), &[PassFile::new("icon.png", QR_PNG)], &signer, SystemTime::now());
    assert_eq!(got, Err(WalletError::Invalid(NoticeError::Empty { field: "barcode" })));

    let mut settings = apple_settings();
    settings.team_identifier = "A1 B2".into();
    let got = apple_pass(&notice(), &settings, &[PassFile::new("icon.png", QR_PNG)], &signer, SystemTime::now());
    assert!(matches!(got, Err(WalletError::BadSetting { field: "team_identifier", .. })), "{got:?}");

    // A key is not a certificate, a certificate is not a key.
    assert!(matches!(PassSigner::from_pem(&key, &key, &[]), Err(WalletError::Credential { .. })));
    assert!(matches!(PassSigner::from_pem(&cert, &cert, &[]), Err(WalletError::Credential { .. })));
    assert!(matches!(PassSigner::from_pem(&cert, &key, &["garbage"]), Err(WalletError::Credential { .. })));
}

fn google_settings() -> GoogleWalletSettings {
    GoogleWalletSettings::new("3388000000012345678", SERVICE_ACCOUNT, "Box Office", GOOGLE_KEY)
        .expect("settings")
        .with_origins(vec!["https://tickets.example".into()])
}

fn validation() -> Validation {
    let mut v = Validation::new(Algorithm::RS256);
    v.set_audience(&["google"]);
    v.set_issuer(&[SERVICE_ACCOUNT]);
    v.validate_exp = false;
    v.required_spec_claims = HashSet::from(["iss".to_owned(), "aud".to_owned()]);
    v
}

#[test]
fn a_google_save_link_carries_a_verifiable_jwt_with_the_ticket() {
    let link = google_save_link(&notice(), &google_settings()).expect("a link");
    let jwt = link.strip_prefix(GOOGLE_SAVE_URL).expect("the save URL");
    assert_eq!(GOOGLE_SAVE_URL, "https://pay.google.com/gp/v/save/");

    let key = DecodingKey::from_rsa_pem(GOOGLE_PUBLIC_KEY.as_bytes()).expect("the public key");
    let data = jsonwebtoken::decode::<Value>(jwt, &key, &validation()).expect("a JWT signed by the test key");
    assert_eq!(data.header.alg, Algorithm::RS256);
    let claims = data.claims;
    assert_eq!(claims["iss"], SERVICE_ACCOUNT);
    assert_eq!(claims["aud"], "google");
    assert_eq!(claims["typ"], "savetowallet");
    assert_eq!(claims["origins"][0], "https://tickets.example");

    let objects = claims["payload"]["eventTicketObjects"].as_array().expect("eventTicketObjects");
    assert_eq!(objects.len(), 1);
    let object = &objects[0];
    assert_eq!(object["id"], "3388000000012345678.TKT-0001-A");
    assert_eq!(object["state"], "ACTIVE");
    assert_eq!(object["barcode"]["type"], "QR_CODE");
    assert_eq!(object["barcode"]["value"], notice().barcode);
    assert_eq!(object["seatInfo"]["seat"]["defaultValue"]["value"], "Stalls, row B, seat 12");
    assert_eq!(object["textModulesData"][0]["body"], "New Year's Eve, live");
    let class = &claims["payload"]["eventTicketClasses"][0];
    assert_eq!(class["id"], object["classId"]);
    assert_eq!(class["eventName"]["defaultValue"]["value"], "New Year's Eve, live");
}

#[test]
fn an_edited_or_foreign_google_jwt_does_not_verify() {
    let link = google_save_link(&notice(), &google_settings()).expect("a link");
    let jwt = link.strip_prefix(GOOGLE_SAVE_URL).expect("the save URL");
    let key = DecodingKey::from_rsa_pem(GOOGLE_PUBLIC_KEY.as_bytes()).expect("the public key");

    // Another ticket's payload under this signature.
    let other = google_save_link(&TicketNotice { ticket_id: "TKT-0002-B".into(), ..notice() }, &google_settings())
        .expect("a link");
    let other_jwt = other.strip_prefix(GOOGLE_SAVE_URL).expect("the save URL");
    let parts: Vec<_> = jwt.split('.').collect();
    let other_parts: Vec<_> = other_jwt.split('.').collect();
    let spliced = format!("{}.{}.{}", parts[0], other_parts[1], parts[2]);
    assert!(jsonwebtoken::decode::<Value>(&spliced, &key, &validation()).is_err());
    // A truncated signature.
    assert!(jsonwebtoken::decode::<Value>(&jwt[..jwt.len() - 4], &key, &validation()).is_err());
    // The right token, checked as another issuer's.
    let mut v = validation();
    v.set_issuer(&["someone@else.example"]);
    assert!(jsonwebtoken::decode::<Value>(jwt, &key, &v).is_err());
}

#[test]
fn google_settings_are_checked() {
    let err = |r: Result<GoogleWalletSettings, WalletError>| r.err();
    assert!(matches!(
        err(GoogleWalletSettings::new("12ab", SERVICE_ACCOUNT, "Box Office", GOOGLE_KEY)),
        Some(WalletError::BadSetting { field: "issuer_id", .. })
    ));
    assert!(matches!(
        err(GoogleWalletSettings::new("123", "not an address", "Box Office", GOOGLE_KEY)),
        Some(WalletError::BadSetting { field: "service_account_email", .. })
    ));
    assert!(matches!(
        err(GoogleWalletSettings::new("123", SERVICE_ACCOUNT, "Box Office", GOOGLE_PUBLIC_KEY)),
        Some(WalletError::Credential { .. })
    ));
    let mut bad = notice();
    bad.qr_png = b"not a png".to_vec();
    assert_eq!(google_save_link(&bad, &google_settings()), Err(WalletError::Invalid(NoticeError::NotPng)));
}
