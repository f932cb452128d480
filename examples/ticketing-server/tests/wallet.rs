//! Wallet passes on tickets, when an issuer is configured: Google Wallet
//! save links (a throwaway RSA key made for this test, `tests/fixtures`)
//! and Apple Wallet passes (a self-signed test certificate and key, also
//! in `tests/fixtures`; Apple would not accept it, the archive and its
//! manifest are what is checked here).
#![allow(clippy::unwrap_used)]

mod common;

use base64::Engine as _;
use booking_ticketing_server::config::{AppleWallet, GoogleWallet};
use common::TestApp;
use sha1::{Digest, Sha1};
use std::collections::BTreeMap;
use std::io::{Cursor, Read};

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

fn unzip(pass: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut archive = zip::ZipArchive::new(Cursor::new(pass)).unwrap();
    let mut files = BTreeMap::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).unwrap();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        files.insert(entry.name().unwrap().to_string(), bytes);
    }
    files
}

#[tokio::test]
async fn tickets_link_a_signed_apple_wallet_pass_for_their_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(booking_ticketing_server::Backend::Memory, dir.path());
    config.apple_wallet = Some(AppleWallet {
        pass_type_id: "pass.example.tickets.test".into(),
        team_id: "A1B2C3D4E5".into(),
        organization_name: "Box Office".into(),
        certificate_file: fixture("apple-wallet-test-cert.pem"),
        key_file: fixture("apple-wallet-test-key.pem"),
        intermediate_files: Vec::new(),
        icon_file: None,
    });
    let t = TestApp::with(config, dir).await;
    let (alice, bob) = (t.alice().await, t.bob().await);
    let show = t.show("comedy");
    let hold = t.hold(&alice, &show, &[3], None).await.json();
    let order = t.checkout(&alice, "a-1", hold["hold_id"].as_str().unwrap(), "4242424242424242").await.json();
    let ticket = &order["tickets"][0];
    let id = ticket["ticket_id"].as_str().unwrap();
    let url = ticket["wallet"]["apple_url"].as_str().unwrap();
    assert_eq!(url, format!("/api/tickets/{id}/wallet.pkpass"));
    assert_eq!(t.get(&format!("/api/tickets/{id}"), Some(&alice)).await.json()["wallet"]["apple_url"], url);

    let res = t.get(url, Some(&alice)).await;
    assert_eq!(res.status.as_u16(), 200, "{}", res.text());
    assert_eq!(res.header("content-type"), Some("application/vnd.apple.pkpass"));
    let files = unzip(&res.body);
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(names, ["icon.png", "manifest.json", "pass.json", "signature"]);
    let pass: serde_json::Value = serde_json::from_slice(&files["pass.json"]).unwrap();
    assert_eq!(pass["serialNumber"], id, "{pass}");
    assert_eq!(pass["passTypeIdentifier"], "pass.example.tickets.test");
    assert_eq!(pass["teamIdentifier"], "A1B2C3D4E5");
    assert_eq!(pass["barcodes"][0]["message"], ticket["qr_text"], "{pass}");
    let manifest: BTreeMap<String, String> = serde_json::from_slice(&files["manifest.json"]).unwrap();
    assert_eq!(manifest.keys().map(String::as_str).collect::<Vec<_>>(), ["icon.png", "pass.json"]);
    for (name, digest) in &manifest {
        let actual: String = Sha1::digest(&files[name]).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(digest, &actual, "the manifest's digest of {name}");
    }
    assert!(!files["signature"].is_empty());

    // Another user: 404, as if the ticket did not exist; no session: 401.
    t.get(url, Some(&bob)).await.problem(404, "not_found");
    t.get(url, None).await.problem(401, "unauthorized");
    // Without the setting: no link, no pass.
    let plain = TestApp::memory().await;
    let alice = plain.alice().await;
    let hold = plain.hold(&alice, &plain.show("comedy"), &[3], None).await.json();
    let order = plain.checkout(&alice, "a-2", hold["hold_id"].as_str().unwrap(), "4242424242424242").await.json();
    let ticket = &order["tickets"][0];
    assert!(ticket["wallet"]["apple_url"].is_null());
    let id = ticket["ticket_id"].as_str().unwrap();
    plain.get(&format!("/api/tickets/{id}/wallet.pkpass"), Some(&alice)).await.problem(404, "not_found");
}

#[tokio::test]
async fn tickets_carry_a_signed_google_wallet_link_when_configured() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(booking_ticketing_server::Backend::Memory, dir.path());
    config.google_wallet = Some(GoogleWallet {
        issuer_id: "3388000000012345678".into(),
        service_account_email: "wallet@tickets-demo.iam.gserviceaccount.com".into(),
        issuer_name: "Box Office".into(),
        key_file: concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/google-wallet-test-key.pem").into(),
    });
    let t = TestApp::with(config, dir).await;
    let alice = t.alice().await;
    let show = t.show("comedy");
    let hold = t.hold(&alice, &show, &[3], None).await.json();
    let order = t.checkout(&alice, "w-1", hold["hold_id"].as_str().unwrap(), "4242424242424242").await.json();
    let ticket = &order["tickets"][0];
    assert!(ticket["wallet"]["apple_url"].is_null());
    let link = ticket["wallet"]["google_url"].as_str().unwrap();
    let jwt = link.strip_prefix("https://pay.google.com/gp/v/save/").unwrap();
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3, "a signed JWT");
    let claims: serde_json::Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    assert_eq!(claims["iss"], "wallet@tickets-demo.iam.gserviceaccount.com");
    let object = &claims["payload"]["eventTicketObjects"][0];
    assert_eq!(object["barcode"]["value"], ticket["qr_text"], "{claims}");
    // Without the setting: no link.
    let plain = TestApp::memory().await;
    let alice = plain.alice().await;
    let hold = plain.hold(&alice, &plain.show("comedy"), &[3], None).await.json();
    let order = plain.checkout(&alice, "w-2", hold["hold_id"].as_str().unwrap(), "4242424242424242").await.json();
    assert!(order["tickets"][0]["wallet"]["google_url"].is_null());
}
