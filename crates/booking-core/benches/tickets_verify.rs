//! Offline ticket verifications per second on one core, beside bare
//! ed25519-dalek `verify_strict` on the same payloads, in the same run.
//!
//! The scanner's verification parses the base64url text, decodes the
//! layout, looks the key up, verifies the signature and checks the show
//! and the revocation list (and, for rotating tickets, derives the
//! ticket's secret and checks the code). The bare contender is what a team
//! would write by hand: `VerifyingKey::verify_strict` over the signed
//! bytes, already decoded.
//!
//! `cargo bench -p booking-core --bench tickets_verify`
//!
//! A short run (to check that it works, not for figures):
//! `cargo bench -p booking-core --bench tickets_verify -- --warm-up-time 0.1 --measurement-time 0.2`
#![allow(missing_docs)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use booking_core::tickets::scanner::verify_with;
use booking_core::tickets::{
    KeyId, RevocationList, RotationKey, RotationPolicy, ScannerSync, SigningKeyring, TicketClaims, TicketId,
    TicketIssuer, TicketItem,
};
use booking_core::{OrderId, OwnerId, SeatId, ShowId};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ed25519_dalek::{Signature, VerifyingKey};
use std::hint::black_box;

const TICKETS: usize = 256;
const NOW: i64 = 1_893_456_000_000;

struct Payloads {
    sync: ScannerSync,
    texts: Vec<String>,
    rotating: Vec<String>,
    /// The same tickets, decoded: (signed bytes, signature).
    raw: Vec<(Vec<u8>, Signature)>,
    key: VerifyingKey,
}

fn payloads() -> Payloads {
    let issuer = TicketIssuer::new(SigningKeyring::new(KeyId(1), [3; 32]));
    let rotation = RotationKey([4; 32]);
    let show = ShowId::new();
    let mut revocations = RevocationList::new();
    let (mut texts, mut rotating, mut raw) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..TICKETS {
        let order = OrderId::new();
        let claims = |rotating| TicketClaims {
            ticket: TicketId::for_item(order, TicketItem::Seat(SeatId(i as u32)), 0),
            show,
            order,
            holder: OwnerId::new(),
            item: TicketItem::Seat(SeatId(i as u32)),
            version: 1,
            key: KeyId(0),
            rotating,
        };
        let t = issuer.issue(&claims(false), None).expect("issue");
        let bytes = URL_SAFE_NO_PAD.decode(&t.signed).expect("b64");
        let signature = Signature::from_bytes(bytes[78..].try_into().expect("64 bytes"));
        raw.push((bytes[..78].to_vec(), signature));
        texts.push(t.signed);
        let r = issuer.issue(&claims(true), Some(&rotation)).expect("issue");
        rotating.push(r.qr_text(&RotationPolicy::default(), NOW));
        // A revocation list of realistic size, none of these tickets on it.
        revocations.revoke_below(TicketId(uuid::Uuid::now_v7()), 2);
    }
    let public = issuer.keys().public();
    let key = VerifyingKey::from_bytes(&public.to_bytes()[0].1).expect("key");
    let sync =
        ScannerSync { show, keys: public, revocations, rotation: Some(rotation), policy: RotationPolicy::default() };
    Payloads { sync, texts, rotating, raw, key }
}

fn bench(c: &mut Criterion) {
    let p = payloads();
    let mut g = c.benchmark_group("ticket verification (one core)");
    g.throughput(Throughput::Elements(TICKETS as u64));
    g.bench_function("bare ed25519-dalek verify_strict", |b| {
        b.iter(|| {
            for (msg, sig) in &p.raw {
                black_box(p.key.verify_strict(black_box(msg), sig)).expect("valid");
            }
        })
    });
    g.bench_function("scanner, static ticket", |b| {
        b.iter(|| {
            for t in &p.texts {
                black_box(verify_with(&p.sync, black_box(t), NOW)).expect("valid");
            }
        })
    });
    g.bench_function("scanner, rotating ticket", |b| {
        b.iter(|| {
            for t in &p.rotating {
                black_box(verify_with(&p.sync, black_box(t), NOW)).expect("valid");
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
