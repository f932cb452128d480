//! The waiting room and the rate limits in process: joins per second to one
//! room, and rate-limit decisions per second through the library beside
//! `governor` (the in-process rate limiter a team would reach for) doing
//! the same work, in the same run.
//!
//! ```text
//! cargo bench -p booking-memory --bench room_rates
//! ```
//!
//! Callers are OS threads (default 1 and 8; `BENCH_CALLERS`), each looping
//! until the run's time is up; the library's async calls are awaited in a
//! loop inside one `block_on` per thread (the memory stores never wait,
//! so this costs nothing per call).
//!
//! - **Joins**: `WaitingRoom::join` (the store's join, then the room's
//!   counts for the estimated wait) of distinct sessions into one room
//!   that has opened and drawn its (empty) pre-queue: every join is a late
//!   arrival queued in arrival order. A fresh room per run; the table
//!   gives the queue's length at the end of the last run.
//! - **Rate-limit decisions**, one quota for everyone: 1,000,000 per
//!   second (the fastest a library `Quota` allows) with a burst of
//!   2^32 - 1, which no run exhausts, so that every decision of every
//!   contender is allowed and writes the key's new state (the allowed
//!   share is printed to show it); on one hot account and on accounts
//!   drawn at random among 10,000:
//!   - `limiter`: `RateLimiter::check` with a per-account limit (it builds
//!     the account's key, then one `acquire`) on `MemoryRateLimitStore`;
//!   - `store`: `MemoryRateLimitStore::acquire` with the key built once;
//!   - `governor`: governor 0.10, `RateLimiter::direct` for the hot key,
//!     `DefaultKeyedRateLimiter<OwnerId>` (a sharded `DashMap`) for the
//!     spread case, same quota, its default clock (quanta).
//!
//! Before anything is measured, every contender is checked to allow two
//! requests of a key and refuse the third on a quota of one a minute with
//! a burst of 2, so that none does less than a rate limit must.
//!
//! Runs go round-robin over the contenders (`BENCH_RUNS` rounds, default
//! 3, of `BENCH_SECS` seconds each, default 2), so that a disturbance of
//! the machine hits them alike; the ratio is the median over rounds of
//! library / governor in the same round. Fresh stores per run.
#![allow(missing_docs)]

use booking_core::admission::{Keyring, RoomConfig, RoomId, SessionId, WaitingRoom, WaitingRoomStore};
use booking_core::limits::{Acquire, LimitKey, Quota, RateLimitStore, RateLimiter, RequestIdentity};
use booking_core::{OwnerId, SystemClock};
use booking_memory::MemoryRateLimitStore;
use booking_memory::admission::MemoryWaitingRoomStore;
use chrono::{DurationRound, TimeDelta, Utc};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const ACCOUNTS: usize = 10_000;
const RATE: u32 = 1_000_000;
/// A burst no run exhausts: every decision is allowed and writes.
const BURST: u32 = u32::MAX;

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// A small xorshift generator per caller: which account a request is for.
struct Rng(u64);

impl Rng {
    fn new(caller: usize) -> Self {
        Rng(0x9E37_79B9_7F4A_7C15 ^ (caller as u64 + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9))
    }

    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// What a run did: operations, how many were allowed (joins: all), and
/// how long it took.
struct Run {
    ops: u64,
    allowed: u64,
    elapsed: Duration,
}

impl Run {
    fn rate(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64()
    }
}

/// Runs `body(caller, stop)` on `callers` threads for `secs`; each returns
/// its (operations, allowed).
fn threads<F>(callers: usize, secs: f64, body: F) -> Run
where
    F: Fn(usize, &AtomicBool) -> (u64, u64) + Sync,
{
    let stop = AtomicBool::new(false);
    let start = Instant::now();
    let (ops, allowed) = std::thread::scope(|s| {
        let (body, stop) = (&body, &stop);
        let handles: Vec<_> = (0..callers).map(|c| s.spawn(move || body(c, stop))).collect();
        std::thread::sleep(Duration::from_secs_f64(secs));
        stop.store(true, Ordering::Relaxed);
        handles.into_iter().map(|h| h.join().expect("caller")).fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
    });
    Run { ops, allowed, elapsed: start.elapsed() }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().build().expect("runtime")
}

/// A room that opened a minute ago, its (empty) pre-queue drawn.
fn open_room(rt: &tokio::runtime::Runtime) -> (WaitingRoom<MemoryWaitingRoomStore>, RoomId) {
    let keys = Keyring::new("bench", &[7; 32]).expect("keyring");
    let rooms = WaitingRoom::new(Arc::new(MemoryWaitingRoomStore::new()), Arc::new(SystemClock), keys);
    let opened = Utc::now().duration_trunc(TimeDelta::milliseconds(1)).expect("ms") - TimeDelta::minutes(1);
    let id = RoomId::new();
    rt.block_on(async {
        rooms.create_room(&RoomConfig::new(id, opened, 1, 1)).await.expect("create room");
        rooms.admit_wave(id).await.expect("draw");
    });
    (rooms, id)
}

fn joins(callers: usize, secs: f64) -> (Run, u64) {
    let rt = runtime();
    let (rooms, room) = open_room(&rt);
    let run = threads(callers, secs, |c, stop| {
        runtime().block_on(async {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                rooms.join(room, &SessionId::new(format!("s{c}-{n}"))).await.expect("join");
                n += 1;
            }
            (n, n)
        })
    });
    let waiting = rt.block_on(rooms.store().room(room)).expect("room").waiting;
    (run, waiting)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Case {
    Hot,
    Spread,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Contender {
    Limiter,
    Store,
    Governor,
}

const CONTENDERS: [Contender; 3] = [Contender::Governor, Contender::Limiter, Contender::Store];

impl Contender {
    fn name(self) -> &'static str {
        match self {
            Contender::Limiter => "library `RateLimiter::check`",
            Contender::Store => "library `MemoryRateLimitStore::acquire`",
            Contender::Governor => "raw: governor",
        }
    }
}

fn decisions(contender: Contender, case: Case, callers: usize, secs: f64, accounts: &[OwnerId]) -> Run {
    let quota = Quota::per_second(RATE, BURST).expect("quota");
    let pick = move |rng: &mut Rng| if case == Case::Hot { 0 } else { rng.below(ACCOUNTS) };
    match contender {
        Contender::Limiter => {
            let limiter =
                RateLimiter::new(Arc::new(MemoryRateLimitStore::new()), "bench").expect("name").per_account(quota);
            let who: Vec<RequestIdentity> = accounts.iter().map(|a| RequestIdentity::account(*a)).collect();
            threads(callers, secs, |c, stop| {
                runtime().block_on(async {
                    let (mut n, mut ok, mut rng) = (0u64, 0u64, Rng::new(c));
                    while !stop.load(Ordering::Relaxed) {
                        let verdict = limiter.check(&who[pick(&mut rng)]).await.expect("check");
                        ok += u64::from(verdict.allowed());
                        n += 1;
                    }
                    (n, ok)
                })
            })
        }
        Contender::Store => {
            let store = MemoryRateLimitStore::new();
            let reqs: Vec<Acquire> = accounts
                .iter()
                .map(|a| Acquire::one(LimitKey(format!("bench:a:{}", a.as_uuid().simple())), quota))
                .collect();
            threads(callers, secs, |c, stop| {
                runtime().block_on(async {
                    let (mut n, mut ok, mut rng) = (0u64, 0u64, Rng::new(c));
                    while !stop.load(Ordering::Relaxed) {
                        let d = store.acquire(&reqs[pick(&mut rng)]).await.expect("acquire");
                        ok += u64::from(d.allowed);
                        n += 1;
                    }
                    (n, ok)
                })
            })
        }
        Contender::Governor => {
            let rate = NonZeroU32::new(RATE).expect("nonzero");
            let quota = governor::Quota::per_second(rate).allow_burst(NonZeroU32::new(BURST).expect("nonzero"));
            if case == Case::Hot {
                let limiter: DefaultDirectRateLimiter = governor::RateLimiter::direct(quota);
                threads(callers, secs, |_, stop| {
                    let (mut n, mut ok) = (0u64, 0u64);
                    while !stop.load(Ordering::Relaxed) {
                        ok += u64::from(limiter.check().is_ok());
                        n += 1;
                    }
                    (n, ok)
                })
            } else {
                let limiter: DefaultKeyedRateLimiter<OwnerId> = governor::RateLimiter::keyed(quota);
                threads(callers, secs, |c, stop| {
                    let (mut n, mut ok, mut rng) = (0u64, 0u64, Rng::new(c));
                    while !stop.load(Ordering::Relaxed) {
                        ok += u64::from(limiter.check_key(&accounts[pick(&mut rng)]).is_ok());
                        n += 1;
                    }
                    (n, ok)
                })
            }
        }
    }
}

/// Before anything is measured: every contender, on a quota of one a
/// minute with a burst of 2, allows two requests of a key and refuses the
/// third, so that none does less than a rate limit must.
fn check_contenders(account: OwnerId) {
    let want = [true, true, false];
    let quota = Quota::per_minute(1, 2).expect("quota");
    let rt = runtime();
    let limiter = RateLimiter::new(Arc::new(MemoryRateLimitStore::new()), "check").expect("name").per_account(quota);
    let who = RequestIdentity::account(account);
    let got = want.map(|_| rt.block_on(limiter.check(&who)).expect("check").allowed());
    assert_eq!(got, want, "RateLimiter::check");
    let store = MemoryRateLimitStore::new();
    let req = Acquire::one(LimitKey("check:a".into()), quota);
    let got = want.map(|_| rt.block_on(store.acquire(&req)).expect("acquire").allowed);
    assert_eq!(got, want, "MemoryRateLimitStore::acquire");
    let quota = governor::Quota::per_minute(NonZeroU32::MIN).allow_burst(NonZeroU32::new(2).expect("nonzero"));
    let direct: DefaultDirectRateLimiter = governor::RateLimiter::direct(quota);
    assert_eq!(want.map(|_| direct.check().is_ok()), want, "governor, direct");
    let keyed: DefaultKeyedRateLimiter<OwnerId> = governor::RateLimiter::keyed(quota);
    assert_eq!(want.map(|_| keyed.check_key(&account).is_ok()), want, "governor, keyed");
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is not supported.
    let secs: f64 = env("BENCH_SECS", 2.0);
    let runs: usize = env("BENCH_RUNS", 3).max(1);
    let callers: Vec<usize> = std::env::var("BENCH_CALLERS")
        .unwrap_or_else(|_| "1,8".to_owned())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let accounts: Vec<OwnerId> = (0..ACCOUNTS).map(|_| OwnerId::new()).collect();
    check_contenders(accounts[0]);

    println!("### Memory: joins to one waiting room\n");
    println!("| callers | joins/s (median of {runs}) | queue length at the end of the last run |");
    println!("|---|---|---|");
    for &n in &callers {
        let mut rates = Vec::new();
        let mut waiting = 0;
        for _ in 0..runs {
            let (run, w) = joins(n, secs);
            rates.push(run.rate());
            waiting = w;
        }
        println!("| {n} | {:.0} | {waiting} |", median(rates));
    }

    println!("\n### Memory: rate-limit decisions, library beside governor\n");
    println!(
        "| keys | callers | contender | decisions/s (median of {runs}) | library / raw (median of paired runs) | allowed |"
    );
    println!("|---|---|---|---|---|---|");
    for case in [Case::Hot, Case::Spread] {
        for &n in &callers {
            let mut rates: [Vec<f64>; 3] = Default::default();
            let mut allowed: [(u64, u64); 3] = Default::default();
            for _ in 0..runs {
                for (i, contender) in CONTENDERS.into_iter().enumerate() {
                    let run = decisions(contender, case, n, secs, &accounts);
                    rates[i].push(run.rate());
                    allowed[i].0 += run.allowed;
                    allowed[i].1 += run.ops;
                }
            }
            let keys = if case == Case::Hot { "one hot key" } else { "10,000 accounts" };
            for (i, contender) in CONTENDERS.into_iter().enumerate() {
                let ratio = if i == 0 {
                    "1.00x".to_owned()
                } else {
                    format!("{:.2}x", median(rates[i].iter().zip(&rates[0]).map(|(l, r)| l / r).collect()))
                };
                println!(
                    "| {keys} | {n} | {} | {:.0} | {ratio} | {:.0}% |",
                    contender.name(),
                    median(rates[i].clone()),
                    100.0 * allowed[i].0 as f64 / allowed[i].1.max(1) as f64
                );
            }
        }
    }
}
