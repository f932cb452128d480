//! Admission-token checks on one core, where buyers arrive (seat map,
//! holds, checkout): the signed token checked without a store round trip,
//! beside the bare HMAC-SHA256 check of the same bytes.
//!
//! ```text
//! cargo bench -p booking-memory --bench admission_verify
//! ```
//!
//! 256 tokens of visitors admitted to one pass-through room (so that
//! `WaitingRoom::token` issues them as it would in production), 100 other
//! visitors of the room revoked. Checks go round the 256 tokens; criterion
//! reports the time of one check (`scripts/criterion-medians.py` prints
//! the medians). Contenders, in the group `admission_token`:
//!
//! - `bare_hmac_sha256`: the hex tag decoded and HMAC-SHA256 of the rest
//!   of the token verified against it (hmac 0.12, key set up once): the
//!   cryptographic floor of any signed-token check;
//! - `verify_token`: the library's pure check: format, key lookup,
//!   signature, claims decoding, room, session digest, expiry, and the
//!   revocations (a value in hand);
//! - `token_verifier_cached`: `TokenVerifier::verify`, what a server
//!   calls: the same, plus the key ring and the clock read, and the
//!   room's revocations from the verifier's cache (staleness 60 s, filled
//!   before measuring, so no store read is measured).
//!
//! `BENCH_SECS` sets the measurement time per case (default 3 s;
//! `BENCH_SECS=0.1` to check that it runs).
#![allow(missing_docs)]

use booking_core::SystemClock;
use booking_core::admission::{
    AdmissionToken, Keyring, Mode, RoomConfig, RoomId, SessionId, WaitingRoom, WaitingRoomStore, verify_token,
};
use booking_memory::admission::MemoryWaitingRoomStore;
use chrono::{DurationRound, TimeDelta, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

const TOKENS: usize = 256;
const REVOKED: usize = 100;
const KEY: [u8; 32] = [7; 32];

fn measurement() -> Duration {
    let secs = std::env::var("BENCH_SECS").ok().and_then(|s| s.parse::<f64>().ok()).unwrap_or(3.0);
    Duration::from_secs_f64(secs.clamp(0.01, 600.0))
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
}

fn verify(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let store = Arc::new(MemoryWaitingRoomStore::new());
    let rooms = WaitingRoom::new(store.clone(), Arc::new(SystemClock), Keyring::new("k1", &KEY).expect("keyring"));
    let room = RoomId::new();
    let opened = Utc::now().duration_trunc(TimeDelta::milliseconds(1)).expect("ms") - TimeDelta::minutes(1);
    let mut config = RoomConfig::new(room, opened, 1_000, 1_000_000);
    config.mode = Mode::PassThrough;
    config.session_ttl = Duration::from_secs(3600);
    let (sessions, tokens): (Vec<SessionId>, Vec<AdmissionToken>) = rt.block_on(async {
        rooms.create_room(&config).await.expect("create room");
        for i in 0..REVOKED {
            let status = rooms.join(room, &SessionId::new(format!("revoked-{i}"))).await.expect("join");
            rooms.revoke(room, status.visitor.id).await.expect("revoke");
        }
        let mut out = (Vec::new(), Vec::new());
        for i in 0..TOKENS {
            let session = SessionId::new(format!("buyer-{i}"));
            rooms.join(room, &session).await.expect("join");
            out.1.push(rooms.token(room, &session).await.expect("token"));
            out.0.push(session);
        }
        out
    });
    let revocations = rt.block_on(store.revocations(room)).expect("revocations");
    assert_eq!(revocations.revoked.len(), REVOKED, "the revoked visitors are listed");
    let ring = Keyring::new("k1", &KEY).expect("keyring");
    let verifier = rooms.verifier(Duration::from_secs(60));
    // Every contender accepts every token before anything is measured.
    for (t, s) in tokens.iter().zip(&sessions) {
        verify_token(&ring, t, room, s, Utc::now(), &revocations).expect("valid token");
        rt.block_on(verifier.verify(t, room, s)).expect("valid token");
    }

    let mut group = c.benchmark_group("admission_token");
    group.bench_function("bare_hmac_sha256", |b| {
        let mac = Hmac::<Sha256>::new_from_slice(&KEY).expect("key");
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % TOKENS;
            let t = black_box(&tokens[i].0);
            let (body, tag) = t.rsplit_once('.').expect("token");
            let mut m = mac.clone();
            m.update(body.as_bytes());
            m.verify_slice(&unhex(tag)).expect("mac")
        })
    });
    group.bench_function("verify_token", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % TOKENS;
            verify_token(&ring, black_box(&tokens[i]), room, &sessions[i], Utc::now(), &revocations).expect("token")
        })
    });
    group.bench_function("token_verifier_cached", |b| {
        // Awaited in a loop inside one `block_on`, as a server's handler
        // awaits it: no runtime entry per check is measured.
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for n in 0..iters as usize {
                    let i = n % TOKENS;
                    black_box(verifier.verify(black_box(&tokens[i]), room, &sessions[i]).await.expect("token"));
                }
                start.elapsed()
            })
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(measurement() / 3)
        .measurement_time(measurement())
        .sample_size(30);
    targets = verify
}
criterion_main!(benches);
