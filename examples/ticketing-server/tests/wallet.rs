//! Google Wallet save links on tickets, when an issuer is configured (a
//! throwaway RSA key made for this test, `tests/fixtures`).
#![allow(clippy::unwrap_used)]

mod common;

use base64::Engine as _;
use booking_ticketing_server::config::GoogleWallet;
use common::TestApp;

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
