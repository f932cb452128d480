//! The waiting room and the rate limits on PostgreSQL: joins per second to
//! one room, and rate-limit decisions per second through the library
//! beside a bare GCRA statement doing the same work, in the same run,
//! through the same sqlx pool.
//!
//! ```text
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo bench -p booking-postgres --bench room_rates
//! ```
//!
//! (Re)creates the database `booking_bench_rooms` on `DATABASE_URL`'s
//! server (default `postgres://postgres@127.0.0.1:5432/test`), migrated,
//! with a pool of up to 33 connections (the library's `pool_options`),
//! opened before each run's clock starts. Callers are tokio tasks (default
//! 1 and 32; `BENCH_CALLERS`) on a 2-worker runtime, each looping until
//! the run's time is up.
//!
//! - **Joins**: `WaitingRoom::join` (the join transaction, which locks the
//!   room's row, then the room's counts for the estimated wait) of
//!   distinct sessions into one room that has opened and drawn its
//!   (empty) pre-queue: every join is a late arrival queued in arrival
//!   order. A fresh room per run.
//! - **Rate-limit decisions**, one quota for everyone (1,000,000 per
//!   second, burst 2^32 - 1, which no run exhausts: every decision is
//!   allowed and writes), on one hot account and on accounts drawn at
//!   random among 10,000:
//!   - `limiter`: `RateLimiter::check` with a per-account limit on
//!     `PgRateLimitStore` (it builds the account's key, then one
//!     `acquire`: `SELECT ... FROM booking.gcra_acquire(...)`);
//!   - `store`: `PgRateLimitStore::acquire` with the key built once;
//!   - `raw`: GCRA as one plain statement on a plain table
//!     (`bench_gcra (key text PRIMARY KEY, tat bigint)`): `INSERT ... ON
//!     CONFLICT DO UPDATE ... WHERE <allowed> RETURNING tat`, the
//!     database clock, through the same pool (sqlx, prepared).
//!
//! Before anything is measured, every contender is checked to allow two
//! requests of a key and refuse the third on a quota of one a minute with
//! a burst of 2, so that none does less than a rate limit must.
//!
//! Both tables are emptied before each run. Runs go round-robin over the
//! contenders (`BENCH_RUNS` rounds, default 3, of `BENCH_SECS` seconds
//! each, default 2); the ratio is the median over rounds of library / raw
//! in the same round.
#![allow(missing_docs)]

use booking_core::admission::{Keyring, RoomConfig, RoomId, SessionId, WaitingRoom, WaitingRoomStore};
use booking_core::limits::{Acquire, LimitKey, Quota, RateLimitStore, RateLimiter, RequestIdentity};
use booking_core::{OwnerId, SystemClock};
use booking_postgres::admission::PgWaitingRoomStore;
use booking_postgres::limits::PgRateLimitStore;
use chrono::{DurationRound, TimeDelta, Utc};
use sqlx::{Executor, PgPool};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const DB: &str = "booking_bench_rooms";
const ACCOUNTS: usize = 10_000;
const RATE: u32 = 1_000_000;
/// A burst no run exhausts: every decision is allowed and writes.
const BURST: u32 = u32::MAX;

/// The bare GCRA: one statement, allowed when it returns a row.
const GCRA: &str = "INSERT INTO bench_gcra AS g (key, tat) \
     SELECT $1, n.now + $2 FROM (SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint AS now) n \
     ON CONFLICT (key) DO UPDATE SET tat = greatest(g.tat, EXCLUDED.tat - $2) + $2 \
     WHERE greatest(g.tat, EXCLUDED.tat - $2) + $2 - (EXCLUDED.tat - $2) <= $3 \
     RETURNING tat";

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

/// Opens `n` of the pool's connections (they go back to it idle), so that
/// connecting is not timed.
async fn warm(pool: &PgPool, n: usize) {
    let mut held = Vec::with_capacity(n);
    for _ in 0..n {
        held.push(pool.acquire().await.expect("connect"));
    }
}

/// Runs `body(caller, stop)` as `callers` tasks for `secs`; each returns
/// its (operations, allowed).
async fn callers<F, Fut>(n: usize, secs: f64, body: F) -> Run
where
    F: Fn(usize, Arc<AtomicBool>) -> Fut,
    Fut: Future<Output = (u64, u64)> + Send + 'static,
{
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let tasks: Vec<_> = (0..n).map(|c| tokio::spawn(body(c, stop.clone()))).collect();
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let mut run = Run { ops: 0, allowed: 0, elapsed: Duration::ZERO };
    for t in tasks {
        let (ops, allowed) = t.await.expect("caller");
        run.ops += ops;
        run.allowed += allowed;
    }
    run.elapsed = start.elapsed();
    run
}

async fn joins(pool: &PgPool, rooms: &Arc<WaitingRoom<PgWaitingRoomStore>>, n: usize, secs: f64) -> (Run, u64) {
    let room = RoomId::new();
    let opened = Utc::now().duration_trunc(TimeDelta::milliseconds(1)).expect("ms") - TimeDelta::minutes(1);
    rooms.create_room(&RoomConfig::new(room, opened, 1, 1)).await.expect("create room");
    rooms.admit_wave(room).await.expect("draw");
    warm(pool, n).await;
    let run = callers(n, secs, |c, stop| {
        let rooms = rooms.clone();
        async move {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                rooms.join(room, &SessionId::new(format!("s{c}-{i}"))).await.expect("join");
                i += 1;
            }
            (i, i)
        }
    })
    .await;
    let waiting = rooms.store().room(room).await.expect("room").waiting;
    (run, waiting)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Case {
    Hot,
    Spread,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Contender {
    Raw,
    Limiter,
    Store,
}

const CONTENDERS: [Contender; 3] = [Contender::Raw, Contender::Limiter, Contender::Store];

impl Contender {
    fn name(self) -> &'static str {
        match self {
            Contender::Raw => "raw: one INSERT ... ON CONFLICT statement, same pool",
            Contender::Limiter => "library `RateLimiter::check`",
            Contender::Store => "library `PgRateLimitStore::acquire`",
        }
    }
}

struct Setup {
    pool: PgPool,
    limiter: RateLimiter,
    store: Arc<PgRateLimitStore>,
    who: Arc<Vec<RequestIdentity>>,
    reqs: Arc<Vec<Acquire>>,
    quota: Quota,
}

async fn decisions(s: &Setup, contender: Contender, case: Case, n: usize, secs: f64) -> Run {
    let pick = move |rng: &mut Rng| if case == Case::Hot { 0 } else { rng.below(ACCOUNTS) };
    s.pool.execute("TRUNCATE booking.rate_limits, bench_gcra").await.expect("truncate");
    warm(&s.pool, n).await;
    match contender {
        Contender::Limiter => {
            callers(n, secs, |c, stop| {
                let (limiter, who) = (s.limiter.clone(), s.who.clone());
                async move {
                    let (mut ops, mut ok, mut rng) = (0u64, 0u64, Rng::new(c));
                    while !stop.load(Ordering::Relaxed) {
                        ok += u64::from(limiter.check(&who[pick(&mut rng)]).await.expect("check").allowed());
                        ops += 1;
                    }
                    (ops, ok)
                }
            })
            .await
        }
        Contender::Store => {
            callers(n, secs, |c, stop| {
                let (store, reqs) = (s.store.clone(), s.reqs.clone());
                async move {
                    let (mut ops, mut ok, mut rng) = (0u64, 0u64, Rng::new(c));
                    while !stop.load(Ordering::Relaxed) {
                        ok += u64::from(store.acquire(&reqs[pick(&mut rng)]).await.expect("acquire").allowed);
                        ops += 1;
                    }
                    (ops, ok)
                }
            })
            .await
        }
        Contender::Raw => {
            let (emission, span) = (s.quota.emission_micros(), s.quota.span_micros());
            callers(n, secs, |c, stop| {
                let (pool, reqs) = (s.pool.clone(), s.reqs.clone());
                async move {
                    let (mut ops, mut ok, mut rng) = (0u64, 0u64, Rng::new(c));
                    while !stop.load(Ordering::Relaxed) {
                        let row = sqlx::query(GCRA)
                            .bind(&reqs[pick(&mut rng)].key.0)
                            .bind(emission)
                            .bind(span)
                            .fetch_optional(&pool)
                            .await
                            .expect("gcra");
                        ok += u64::from(row.is_some());
                        ops += 1;
                    }
                    (ops, ok)
                }
            })
            .await
        }
    }
}

/// Before anything is measured: every contender, on a quota of one a
/// minute with a burst of 2, allows two requests of a key and refuses the
/// third, so that none does less than a rate limit must.
async fn check_contenders(s: &Setup) {
    let want = [true, true, false];
    let quota = Quota::per_minute(1, 2).expect("quota");
    let limiter = RateLimiter::new(s.store.clone(), "check").expect("name").per_account(quota);
    let who = RequestIdentity::account(OwnerId::new());
    let mut got = [false; 3];
    for g in &mut got {
        *g = limiter.check(&who).await.expect("check").allowed();
    }
    assert_eq!(got, want, "RateLimiter::check");
    let req = Acquire::one(LimitKey("check:a".into()), quota);
    for g in &mut got {
        *g = s.store.acquire(&req).await.expect("acquire").allowed;
    }
    assert_eq!(got, want, "PgRateLimitStore::acquire");
    for g in &mut got {
        let row = sqlx::query(GCRA)
            .bind("check:a")
            .bind(quota.emission_micros())
            .bind(quota.span_micros())
            .fetch_optional(&s.pool)
            .await
            .expect("gcra");
        *g = row.is_some();
    }
    assert_eq!(got, want, "the bare GCRA statement");
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(bench());
}

async fn bench() {
    // `cargo bench` passes `--bench`; a filter argument is not supported.
    let secs: f64 = env("BENCH_SECS", 2.0);
    let runs: usize = env("BENCH_RUNS", 3).max(1);
    let ns: Vec<usize> = std::env::var("BENCH_CALLERS")
        .unwrap_or_else(|_| "1,32".to_owned())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let pool = booking_postgres::testkit::recreate_database(DB, 33).await;
    pool.execute("CREATE TABLE bench_gcra (key text PRIMARY KEY, tat bigint NOT NULL)").await.expect("create table");

    let keys = Keyring::new("bench", &[7; 32]).expect("keyring");
    let rooms =
        Arc::new(WaitingRoom::new(Arc::new(PgWaitingRoomStore::new(pool.clone())), Arc::new(SystemClock), keys));
    println!("### PostgreSQL: joins to one waiting room\n");
    println!("| callers | joins/s (median of {runs}) | queue length at the end of the last run |");
    println!("|---|---|---|");
    for &n in &ns {
        let (mut rates, mut waiting) = (Vec::new(), 0);
        for _ in 0..runs {
            let (run, w) = joins(&pool, &rooms, n, secs).await;
            rates.push(run.rate());
            waiting = w;
        }
        println!("| {n} | {:.0} | {waiting} |", median(rates));
    }

    let quota = Quota::per_second(RATE, BURST).expect("quota");
    let store = Arc::new(PgRateLimitStore::new(pool.clone()));
    let accounts: Vec<OwnerId> = (0..ACCOUNTS).map(|_| OwnerId::new()).collect();
    let setup = Setup {
        pool: pool.clone(),
        limiter: RateLimiter::new(store.clone(), "bench").expect("name").per_account(quota),
        store,
        who: Arc::new(accounts.iter().map(|a| RequestIdentity::account(*a)).collect()),
        reqs: Arc::new(
            accounts
                .iter()
                .map(|a| Acquire::one(LimitKey(format!("bench:a:{}", a.as_uuid().simple())), quota))
                .collect(),
        ),
        quota,
    };
    check_contenders(&setup).await;

    println!("\n### PostgreSQL: rate-limit decisions, library beside a bare GCRA statement\n");
    println!(
        "| keys | callers | contender | decisions/s (median of {runs}) | library / raw (median of paired runs) | allowed |"
    );
    println!("|---|---|---|---|---|---|");
    for case in [Case::Hot, Case::Spread] {
        for &n in &ns {
            let mut rates: [Vec<f64>; 3] = Default::default();
            let mut allowed: [(u64, u64); 3] = Default::default();
            for _ in 0..runs {
                for (i, contender) in CONTENDERS.into_iter().enumerate() {
                    let run = decisions(&setup, contender, case, n, secs).await;
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
