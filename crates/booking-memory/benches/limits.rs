//! The cost of the guard in front of the inventory, in process: one GCRA
//! step of the pure function, one `acquire` on the memory store (one hot
//! key, and keys spread over 10,000 accounts), a blacklist check of an
//! identity with an IPv6 address (131 candidate fields), and the whole
//! guard (blacklist, then per-account and per-IP limits).
//!
//! `cargo bench -p booking-memory --bench limits`; `BENCH_SECS` sets the
//! measurement time per case (default 2 s; `BENCH_SECS=0.1` to check that
//! it runs).
#![allow(missing_docs)]

use booking_core::OwnerId;
use booking_core::limits::{
    AbuseGuard, Acquire, BlacklistEntry, BlacklistStore, LimitKey, Quota, RateLimitStore, RateLimiter, RequestIdentity,
    gcra_step,
};
use booking_memory::{MemoryBlacklist, MemoryRateLimitStore};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

fn measurement() -> Duration {
    let secs = std::env::var("BENCH_SECS").ok().and_then(|s| s.parse::<f64>().ok()).unwrap_or(2.0);
    Duration::from_secs_f64(secs.clamp(0.01, 600.0))
}

fn limits(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    // The system clock: budgets refill as the run goes on.
    let rates = Arc::new(MemoryRateLimitStore::new());
    let blacklist = Arc::new(MemoryBlacklist::new());
    // A generous quota: the cases measure the work, mostly not refusals.
    let quota = Quota::per_second(1_000_000, 1_000_000).expect("quota");
    let span = quota.span_micros();

    c.bench_function("gcra_step (pure)", |b| {
        let mut tat = None;
        let mut now = 1_893_456_000_000_000i64;
        b.iter(|| {
            now += 1;
            tat = Some(black_box(gcra_step(tat, now, 1, span)).tat);
        })
    });

    let hot = Acquire::one(LimitKey("bench:hot".into()), quota);
    c.bench_function("memory acquire, one key", |b| {
        b.iter(|| rt.block_on(rates.acquire(black_box(&hot))).expect("acquire"))
    });

    let keys: Vec<Acquire> = (0..10_000).map(|i| Acquire::one(LimitKey(format!("bench:a:{i}")), quota)).collect();
    c.bench_function("memory acquire, 10,000 keys", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % keys.len();
            rt.block_on(rates.acquire(&keys[i])).expect("acquire")
        })
    });

    rt.block_on(async {
        for i in 0..1_000u32 {
            let net = format!("2001:db8:{i:x}::/48").parse().expect("net");
            blacklist.add(&BlacklistEntry::Network(net), "bench", None).await.expect("add");
            blacklist.add(&BlacklistEntry::Account(OwnerId::new()), "bench", None).await.expect("add");
        }
    });
    let ip: IpAddr = "2001:db9::42".parse().expect("ip");
    let who = RequestIdentity::account(OwnerId::new()).with_ip(ip);
    c.bench_function("memory blacklist check, IPv6, 2,000 entries", |b| {
        b.iter(|| rt.block_on(blacklist.check(black_box(&who))).expect("check"))
    });

    let limiter = RateLimiter::new(rates.clone(), "bench").expect("name").per_account(quota).per_ip(quota);
    let guard = AbuseGuard::new(blacklist.clone()).with_limits(limiter);
    c.bench_function("memory guard (blacklist, account and IP limits)", |b| {
        b.iter(|| black_box(rt.block_on(guard.admit(black_box(&who))).is_ok()))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(measurement() / 4)
        .measurement_time(measurement())
        .sample_size(20);
    targets = limits
}
criterion_main!(benches);
