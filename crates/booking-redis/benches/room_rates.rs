//! The waiting room and the rate limits on Redis: joins per second to one
//! room, and rate-limit decisions per second through the library beside a
//! bare GCRA script doing the same work, in the same run, on the same
//! server.
//!
//! ```text
//! REDIS_URL=redis://127.0.0.1:6379 cargo bench -p booking-redis --bench room_rates
//! ```
//!
//! Callers are tokio tasks (default 1 and 32; `BENCH_CALLERS`) on a
//! 2-worker runtime, each looping until the run's time is up. Every key
//! is under a random prefix (`booking-bench-<random>:`), deleted at the
//! end.
//!
//! - **Joins**: `WaitingRoom::join` (the join script, then the room's
//!   counts for the estimated wait: two round trips) of distinct sessions
//!   into one room that has opened and drawn its (empty) pre-queue: every
//!   join is a late arrival queued in arrival order. All callers share one
//!   `RedisWaitingRoomStore` (one multiplexed connection), as servers use
//!   it. A fresh room per run.
//! - **Rate-limit decisions**, one quota for everyone (1,000,000 per
//!   second, burst 2^32 - 1, which no run exhausts: every decision is
//!   allowed and writes), on one hot account and on accounts drawn at
//!   random among 10,000:
//!   - `limiter`: `RateLimiter::check` with a per-account limit on
//!     `RedisLimits`' rate store (it builds the account's key, then one
//!     `acquire`: `lua/rate_acquire.lua` by EVALSHA on the store's one
//!     multiplexed connection, shared by all callers);
//!   - `store`: `RedisRateLimitStore::acquire` with the key built once;
//!   - `raw`: the textbook GCRA script (`GET` the TAT, compute with the
//!     server's `TIME`, `SET ... PX`; one key), through redis-rs
//!     (`Script`, EVALSHA) with one multiplexed connection per caller.
//!
//! The server's own time per decision is read from the `cmdstat_evalsha`
//! counters of `INFO commandstats` before and after each run (meaningful
//! only when nothing else runs scripts on that server).
//!
//! Before anything is measured, every contender is checked to allow two
//! requests of a key and refuse the third on a quota of one a minute with
//! a burst of 2, so that none does less than a rate limit must.
//!
//! Runs go round-robin over the contenders (`BENCH_RUNS` rounds, default
//! 3, of `BENCH_SECS` seconds each, default 2); the ratio is the median
//! over rounds of library / raw in the same round. State is deleted
//! between runs.
#![allow(missing_docs)]

use booking_core::admission::{Keyring, RoomConfig, RoomId, SessionId, WaitingRoom, WaitingRoomStore};
use booking_core::limits::{Acquire, LimitKey, Quota, RateLimitStore, RateLimiter, RequestIdentity};
use booking_core::{OwnerId, SystemClock};
use booking_redis::admission::RedisWaitingRoomStore;
use booking_redis::limits::{RedisLimits, RedisRateLimitStore};
use chrono::{DurationRound, TimeDelta, Utc};
use redis::aio::MultiplexedConnection;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const ACCOUNTS: usize = 10_000;
const RATE: u32 = 1_000_000;
/// A burst no run exhausts: every decision is allowed and writes.
const BURST: u32 = u32::MAX;

/// The textbook GCRA: one key holding the theoretical arrival time.
const GCRA: &str = r"
-- KEYS[1] TAT (Unix µs)  ARGV[1] emission interval (µs)  ARGV[2] burst span (µs)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local new_tat = tat + tonumber(ARGV[1])
if new_tat - now > tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
return 1
";

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
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

async fn connect() -> MultiplexedConnection {
    redis::Client::open(redis_url()).expect("REDIS_URL").get_multiplexed_async_connection().await.expect("connect")
}

/// The server's `EVALSHA` counters: calls and microseconds spent in them.
async fn evalsha_stats(c: &mut MultiplexedConnection) -> (u64, u64) {
    let info: String = redis::cmd("INFO").arg("commandstats").query_async(c).await.expect("INFO");
    let line = info.lines().find(|l| l.starts_with("cmdstat_evalsha:")).unwrap_or_default();
    let field = |name: &str| {
        line.split([':', ',']).find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=')?.parse().ok()).unwrap_or(0)
    };
    (field("calls"), field("usec"))
}

/// Deletes every key under `prefix`.
async fn delete_prefix(c: &mut MultiplexedConnection, prefix: &str) {
    let mut cursor = 0u64;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("*{prefix}*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(c)
            .await
            .expect("SCAN");
        if !keys.is_empty() {
            let _: () = redis::cmd("DEL").arg(&keys).query_async(c).await.expect("DEL");
        }
        if next == 0 {
            return;
        }
        cursor = next;
    }
}

async fn joins(rooms: &Arc<WaitingRoom<RedisWaitingRoomStore>>, n: usize, secs: f64) -> (Run, u64) {
    let room = RoomId::new();
    let opened = Utc::now().duration_trunc(TimeDelta::milliseconds(1)).expect("ms") - TimeDelta::minutes(1);
    rooms.create_room(&RoomConfig::new(room, opened, 1, 1)).await.expect("create room");
    rooms.admit_wave(room).await.expect("draw");
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
            Contender::Raw => "raw: textbook GCRA script, redis-rs, connection per caller",
            Contender::Limiter => "library `RateLimiter::check`",
            Contender::Store => "library `RedisRateLimitStore::acquire`",
        }
    }
}

struct Setup {
    limiter: RateLimiter,
    store: Arc<RedisRateLimitStore>,
    who: Arc<Vec<RequestIdentity>>,
    reqs: Arc<Vec<Acquire>>,
    raw_keys: Arc<Vec<String>>,
    quota: Quota,
}

async fn decisions(s: &Setup, contender: Contender, case: Case, n: usize, secs: f64) -> Run {
    let pick = move |rng: &mut Rng| if case == Case::Hot { 0 } else { rng.below(ACCOUNTS) };
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
            // Connect before the clock starts.
            let mut conns = Vec::new();
            for _ in 0..n {
                conns.push(connect().await);
            }
            let conns = Arc::new(std::sync::Mutex::new(conns));
            callers(n, secs, |c, stop| {
                let keys = s.raw_keys.clone();
                let mut con = conns.lock().expect("conns").pop().expect("a connection per caller");
                async move {
                    let script = redis::Script::new(GCRA);
                    let (mut ops, mut ok, mut rng) = (0u64, 0u64, Rng::new(c));
                    while !stop.load(Ordering::Relaxed) {
                        let allowed: i64 = script
                            .key(&keys[pick(&mut rng)])
                            .arg(emission)
                            .arg(span)
                            .invoke_async(&mut con)
                            .await
                            .expect("gcra");
                        ok += allowed as u64;
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
async fn check_contenders(s: &Setup, prefix: &str, con: &mut MultiplexedConnection) {
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
    assert_eq!(got, want, "RedisRateLimitStore::acquire");
    let (script, key) = (redis::Script::new(GCRA), format!("{prefix}check"));
    for g in &mut got {
        let allowed: i64 = script
            .key(&key)
            .arg(quota.emission_micros())
            .arg(quota.span_micros())
            .invoke_async(con)
            .await
            .expect("gcra");
        *g = allowed == 1;
    }
    assert_eq!(got, want, "the bare GCRA script");
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
    let prefix = format!("booking-bench-{}:", uuid::Uuid::now_v7().simple());
    let mut admin = connect().await;

    let store = RedisWaitingRoomStore::builder(&redis_url())
        .expect("REDIS_URL")
        .prefix(prefix.clone())
        .build()
        .await
        .expect("connect to Redis");
    let keys = Keyring::new("bench", &[7; 32]).expect("keyring");
    let rooms = Arc::new(WaitingRoom::new(Arc::new(store), Arc::new(SystemClock), keys));
    println!("### Redis: joins to one waiting room\n");
    println!("| callers | joins/s (median of {runs}) | queue length at the end of the last run |");
    println!("|---|---|---|");
    for &n in &ns {
        let (mut rates, mut waiting) = (Vec::new(), 0);
        for _ in 0..runs {
            let (run, w) = joins(&rooms, n, secs).await;
            rates.push(run.rate());
            waiting = w;
            delete_prefix(&mut admin, &prefix).await;
        }
        println!("| {n} | {:.0} | {waiting} |", median(rates));
    }

    let limits = RedisLimits::builder(&redis_url())
        .expect("REDIS_URL")
        .prefix(prefix.clone())
        .build()
        .await
        .expect("connect to Redis");
    let quota = Quota::per_second(RATE, BURST).expect("quota");
    let store = Arc::new(limits.rates);
    let accounts: Vec<OwnerId> = (0..ACCOUNTS).map(|_| OwnerId::new()).collect();
    let setup = Setup {
        limiter: RateLimiter::new(store.clone(), "bench").expect("name").per_account(quota),
        store,
        who: Arc::new(accounts.iter().map(|a| RequestIdentity::account(*a)).collect()),
        reqs: Arc::new(
            accounts
                .iter()
                .map(|a| Acquire::one(LimitKey(format!("bench:a:{}", a.as_uuid().simple())), quota))
                .collect(),
        ),
        raw_keys: Arc::new(accounts.iter().map(|a| format!("{prefix}gcra:{}", a.as_uuid().simple())).collect()),
        quota,
    };
    // Load the bare script once, so that its first call is an EVALSHA.
    let _: String = redis::cmd("SCRIPT").arg("LOAD").arg(GCRA).query_async(&mut admin).await.expect("load");
    check_contenders(&setup, &prefix, &mut admin).await;
    delete_prefix(&mut admin, &prefix).await;

    println!("\n### Redis: rate-limit decisions, library beside a bare GCRA script\n");
    println!(
        "| keys | callers | contender | decisions/s (median of {runs}) | library / raw (median of paired runs) | allowed | server µs per decision |"
    );
    println!("|---|---|---|---|---|---|---|");
    for case in [Case::Hot, Case::Spread] {
        for &n in &ns {
            let mut rates: [Vec<f64>; 3] = Default::default();
            let mut allowed: [(u64, u64); 3] = Default::default();
            let mut server: [(u64, u64); 3] = Default::default();
            for _ in 0..runs {
                for (i, contender) in CONTENDERS.into_iter().enumerate() {
                    let before = evalsha_stats(&mut admin).await;
                    let run = decisions(&setup, contender, case, n, secs).await;
                    let after = evalsha_stats(&mut admin).await;
                    server[i].0 += after.0.saturating_sub(before.0);
                    server[i].1 += after.1.saturating_sub(before.1);
                    rates[i].push(run.rate());
                    allowed[i].0 += run.allowed;
                    allowed[i].1 += run.ops;
                    delete_prefix(&mut admin, &prefix).await;
                }
            }
            let keys = if case == Case::Hot { "one hot key" } else { "10,000 accounts" };
            for (i, contender) in CONTENDERS.into_iter().enumerate() {
                let ratio = if i == 0 {
                    "1.00x".to_owned()
                } else {
                    format!("{:.2}x", median(rates[i].iter().zip(&rates[0]).map(|(l, r)| l / r).collect()))
                };
                let per_call = if server[i].0 > 0 { server[i].1 as f64 / server[i].0 as f64 } else { 0.0 };
                println!(
                    "| {keys} | {n} | {} | {:.0} | {ratio} | {:.0}% | {per_call:.1} |",
                    contender.name(),
                    median(rates[i].clone()),
                    100.0 * allowed[i].0 as f64 / allowed[i].1.max(1) as f64
                );
            }
        }
    }
    delete_prefix(&mut admin, &prefix).await;
}
