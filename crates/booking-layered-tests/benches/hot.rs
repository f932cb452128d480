//! Hot contention: many callers on a small show, the Redis seat lock in
//! front of PostgreSQL against PostgreSQL alone, in the same run.
//!
//! ```text
//! cargo bench -p booking-layered-tests --bench hot
//! ```
//!
//! Scenarios, each on a fresh show per run:
//!
//! - `cycle`: every caller loops over single-seat hold + release cycles on
//!   random seats of a 100-seat show for `BENCH_SECS`. A hold of a seat
//!   another caller holds fails (`SeatsTaken`) and the caller picks again
//!   (after yielding to the other tasks).
//! - `sellout`: callers race to buy a fresh 100-seat show (hold, then sell),
//!   picking random seats among those not yet sold (a live seat map), until
//!   every seat is sold; repeated for `BENCH_SECS`.
//!
//! Contenders:
//!
//! - `layered`: `LockedInventory<RedisSeatLock, PgInventory>`, locks with a
//!   2 s TTL (released as soon as each hold is decided);
//! - `postgres`: the same `PgInventory` without the lock;
//! - `in-process lock` (`inproc`): the same decorator with booking-memory's
//!   in-process `MemorySeatLock` in place of Redis: what the decorator's
//!   shedding is worth when taking a lock costs no round trip (only sound
//!   for a single process; here to tell the lock's cost from its benefit);
//! - `layered, unlock in background` (`bgunlock`, not run by default): the
//!   Redis lock with its unlock sent without waiting for the reply, to
//!   measure what the decorator would gain by not awaiting the unlock;
//! - `pgbench` (`cycle` only): the SQL functions the library calls
//!   (`booking.hold_seats`, then `booking.finish_seats` to release), sent by
//!   `pgbench -M prepared` over as many connections as there are callers.
//!
//! Each library run gets a fresh pool of `BENCH_CALLERS` connections
//! (`booking_postgres::pool_options()`, all connected before the clock
//! starts, closed after the run), so that no idle connections stand by
//! while pgbench runs. The library contenders use the database clock and
//! no request coalescing; the lock talks to Redis over one multiplexed
//! connection. Runs go round-robin over the contenders, the first contender
//! rotating from round to round. Successful holds are counted by the
//! database itself (its change outbox), the same way for every contender.
//!
//! Environment: `DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`; the database
//! `booking_layered_bench` is dropped and recreated on that server),
//! `REDIS_URL` (default `redis://127.0.0.1:6379`), `BENCH_SECS` per run
//! (default 5), `BENCH_RUNS` (default 7), `BENCH_CALLERS` (default 32),
//! `BENCH_SEATS` (default 100), `BENCH_THREADS` (tokio worker threads,
//! default 2), `BENCH_SCENARIOS` (default `cycle,sellout`),
//! `BENCH_CONTENDERS` (default `layered,postgres,pgbench,inproc`). Prints one
//! Markdown row per scenario and contender: medians over the runs, and the
//! median over rounds of the ratio to `postgres` in the same round.

use async_trait::async_trait;
use booking_core::layered::{LockOutcome, LockToken, LockedInventory, SeatLock};
use booking_core::{
    HoldAction, HoldPolicy, HoldSeats, InventoryError, OrderId, OwnerId, PaymentRef, PriceCategory, SeatId,
    SeatInventory, Sell, ShowId, ShowSpec, VenueLayout,
};
use booking_memory::MemorySeatLock;
use booking_postgres::PgInventory;
use booking_redis::RedisSeatLock;
use sqlx::{PgPool, Row};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const DB: &str = "booking_layered_bench";
const LOCK_TTL: Duration = Duration::from_secs(2);

fn env<T: FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn list(name: &str, default: &str) -> Vec<String> {
    std::env::var(name).unwrap_or_else(|_| default.to_owned()).split(',').map(|s| s.trim().to_owned()).collect()
}

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// Counts the holds the lock shed (answered `Busy`); costs one relaxed
/// atomic add per shed request.
#[derive(Debug)]
struct CountingLock<L> {
    inner: L,
    shed: Arc<AtomicU64>,
}

#[async_trait]
impl<L: SeatLock> SeatLock for CountingLock<L> {
    async fn try_lock(&self, show: ShowId, seats: &[SeatId], ttl: Duration) -> booking_core::Result<LockOutcome> {
        let outcome = self.inner.try_lock(show, seats, ttl).await;
        if let Ok(LockOutcome::Busy(_)) = &outcome {
            self.shed.fetch_add(1, Ordering::Relaxed);
        }
        outcome
    }

    async fn unlock(&self, show: ShowId, seats: &[SeatId], token: &LockToken) -> booking_core::Result<()> {
        self.inner.unlock(show, seats, token).await
    }
}

/// The Redis lock with `unlock` sent in the background: the hold's answer
/// no longer waits for the unlock's round trip. (`LockedInventory` awaits
/// the unlock; this contender measures what not waiting would be worth.)
#[derive(Debug)]
struct BackgroundUnlock(RedisSeatLock);

#[async_trait]
impl SeatLock for BackgroundUnlock {
    async fn try_lock(&self, show: ShowId, seats: &[SeatId], ttl: Duration) -> booking_core::Result<LockOutcome> {
        self.0.try_lock(show, seats, ttl).await
    }

    async fn unlock(&self, show: ShowId, seats: &[SeatId], token: &LockToken) -> booking_core::Result<()> {
        let (lock, seats, token) = (self.0.clone(), seats.to_vec(), token.clone());
        tokio::spawn(async move { lock.unlock(show, &seats, &token).await });
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Contender {
    Layered,
    LayeredBackgroundUnlock,
    InProcess,
    Postgres,
    Pgbench,
}

impl Contender {
    fn name(self) -> &'static str {
        match self {
            Contender::Layered => "layered",
            Contender::LayeredBackgroundUnlock => "layered, unlock in background",
            Contender::InProcess => "in-process lock",
            Contender::Postgres => "postgres",
            Contender::Pgbench => "pgbench",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scenario {
    Cycle,
    Sellout,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::Cycle => "cycle",
            Scenario::Sellout => "sellout",
        }
    }
}

/// What one run measured.
#[derive(Clone, Debug, Default)]
struct Run {
    /// Hold requests answered.
    attempts: u64,
    /// Holds granted (counted by the database).
    held: u64,
    /// Seats sold (sellout).
    sold: u64,
    /// Holds the lock shed.
    shed: u64,
    /// Time the callers ran.
    elapsed: Duration,
    /// Hold latencies in µs (library contenders).
    latencies: Vec<u32>,
    /// Time to sell out one show, per show (sellout).
    sellouts: Vec<Duration>,
}

impl Run {
    fn per_sec(&self, n: u64) -> f64 {
        n as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&mut self, p: f64) -> Option<u32> {
        if self.latencies.is_empty() {
            return None;
        }
        self.latencies.sort_unstable();
        let i = ((self.latencies.len() - 1) as f64 * p).round() as usize;
        Some(self.latencies[i])
    }
}

/// A small xorshift generator per caller.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(0x9E37_79B9_7F4A_7C15 ^ (seed + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9))
    }

    fn below(&mut self, n: u32) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % u64::from(n)) as u32
    }
}

struct Bench {
    /// A small pool for creating shows and counting holds.
    admin: PgPool,
    lock: RedisSeatLock,
    shed: Arc<AtomicU64>,
    callers: u32,
    seats: u32,
    secs: u64,
}

impl Bench {
    async fn new_show(&self) -> ShowId {
        // No per-owner limit: every hold is for a fresh owner anyway, and the
        // limit's advisory lock would be the same cost for every contender.
        let policy = HoldPolicy { max_held_per_owner: None, max_per_request: 10, ..HoldPolicy::default() };
        let spec = ShowSpec::new("hot", VenueLayout::grid(1, 1, self.seats, PriceCategory(1))).with_policy(policy);
        PgInventory::new(self.admin.clone()).create_show(&spec).await.expect("create show");
        spec.id
    }

    /// Holds granted on `show` so far, from the change outbox.
    async fn held(&self, show: ShowId) -> u64 {
        let row = sqlx::query("SELECT count(*) FROM booking.change_events WHERE show = $1 AND kind = 0")
            .bind(show.0)
            .fetch_one(&self.admin)
            .await
            .expect("count holds");
        row.get::<i64, _>(0) as u64
    }

    /// The contender's inventory on a fresh pool of `callers` connections,
    /// every one of them connected.
    async fn inventory(&self, who: Contender) -> (Arc<dyn SeatInventory>, PgPool) {
        let opts = booking_postgres::testkit::options(DB);
        let pool = booking_postgres::pool_options()
            .max_connections(self.callers)
            .min_connections(self.callers)
            .connect_with(opts)
            .await
            .expect("pool");
        while pool.size() < self.callers {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let postgres = PgInventory::builder(pool.clone()).without_coalescing().build();
        let inv: Arc<dyn SeatInventory> = match who {
            Contender::Layered => {
                let lock = CountingLock { inner: self.lock.clone(), shed: self.shed.clone() };
                Arc::new(LockedInventory::new(lock, postgres, LOCK_TTL))
            }
            Contender::LayeredBackgroundUnlock => {
                let lock = CountingLock { inner: BackgroundUnlock(self.lock.clone()), shed: self.shed.clone() };
                Arc::new(LockedInventory::new(lock, postgres, LOCK_TTL))
            }
            Contender::InProcess => {
                let lock = CountingLock { inner: MemorySeatLock::new(), shed: self.shed.clone() };
                Arc::new(LockedInventory::new(lock, postgres, LOCK_TTL))
            }
            Contender::Postgres => Arc::new(postgres),
            Contender::Pgbench => unreachable!("pgbench is not a library contender"),
        };
        (inv, pool)
    }

    fn shed(&self) -> u64 {
        self.shed.load(Ordering::Relaxed)
    }

    async fn cycle(&self, who: Contender) -> Run {
        let show = self.new_show().await;
        let shed_before = self.shed();
        let mut run = if who == Contender::Pgbench {
            pgbench(show, self.seats, self.callers, self.secs)
        } else {
            let (inv, pool) = self.inventory(who).await;
            let run = self.cycle_library(inv, show).await;
            pool.close().await;
            run
        };
        run.held = self.held(show).await;
        run.shed = self.shed() - shed_before;
        run
    }

    async fn cycle_library(&self, inv: Arc<dyn SeatInventory>, show: ShowId) -> Run {
        let seats = self.seats;
        let start = Instant::now();
        let deadline = start + Duration::from_secs(self.secs);
        let mut tasks = Vec::new();
        for c in 0..self.callers {
            let inv = inv.clone();
            tasks.push(tokio::spawn(async move {
                let mut rng = Rng::new(u64::from(c));
                let mut latencies = Vec::with_capacity(1 << 16);
                while Instant::now() < deadline {
                    let req = HoldSeats { show, owner: OwnerId::new(), seats: vec![SeatId(rng.below(seats))] };
                    let t0 = Instant::now();
                    let got = inv.hold_seats(&req).await;
                    latencies.push(t0.elapsed().as_micros().min(u32::MAX as u128) as u32);
                    match got {
                        Ok(h) => inv.release(&HoldAction { owner: h.owner, token: h.token }).await.expect("release"),
                        // Pick again, letting other callers run first: an answer
                        // that needed no I/O (an in-process lock) must not
                        // starve the callers that are deciding the seats.
                        Err(InventoryError::SeatsTaken { .. }) => tokio::task::yield_now().await,
                        Err(e) => panic!("hold failed: {e:?}"),
                    }
                }
                latencies
            }));
        }
        let mut run = Run::default();
        for t in tasks {
            run.latencies.extend(t.await.expect("caller"));
        }
        run.elapsed = start.elapsed();
        run.attempts = run.latencies.len() as u64;
        run
    }

    async fn sellout(&self, who: Contender) -> Run {
        let (inv, pool) = self.inventory(who).await;
        let shed_before = self.shed();
        let mut run = Run::default();
        let until = Instant::now() + Duration::from_secs(self.secs);
        while Instant::now() < until || run.sellouts.is_empty() {
            let show = self.new_show().await;
            let sold: Arc<Vec<AtomicBool>> = Arc::new((0..self.seats).map(|_| AtomicBool::new(false)).collect());
            let left = Arc::new(AtomicU32::new(self.seats));
            let start = Instant::now();
            let mut tasks = Vec::new();
            for c in 0..self.callers {
                let (inv, sold, left, seats) = (inv.clone(), sold.clone(), left.clone(), self.seats);
                tasks.push(tokio::spawn(async move {
                    let mut rng = Rng::new(u64::from(c) + 1000 * u64::from(seats));
                    let mut latencies = Vec::new();
                    while left.load(Ordering::Relaxed) > 0 {
                        // A random seat the live seat map still shows unsold.
                        let first = rng.below(seats);
                        let Some(seat) = (0..seats)
                            .map(|i| (first + i) % seats)
                            .find(|&s| !sold[s as usize].load(Ordering::Relaxed))
                        else {
                            break;
                        };
                        let req = HoldSeats { show, owner: OwnerId::new(), seats: vec![SeatId(seat)] };
                        let t0 = Instant::now();
                        let got = inv.hold_seats(&req).await;
                        latencies.push(t0.elapsed().as_micros().min(u32::MAX as u128) as u32);
                        match got {
                            Ok(h) => {
                                let order = OrderId::new();
                                let sell = Sell {
                                    owner: h.owner,
                                    token: h.token,
                                    order,
                                    payment: PaymentRef(format!("cap_{order}")),
                                    payer: None,
                                };
                                inv.sell(&sell).await.expect("sell");
                                sold[seat as usize].store(true, Ordering::Relaxed);
                                left.fetch_sub(1, Ordering::Relaxed);
                            }
                            // Pick again, letting other callers run first: an answer
                            // that needed no I/O (an in-process lock) must not
                            // starve the callers that are deciding the seats.
                            Err(InventoryError::SeatsTaken { .. }) => tokio::task::yield_now().await,
                            Err(e) => panic!("hold failed: {e:?}"),
                        }
                    }
                    latencies
                }));
            }
            for t in tasks {
                run.latencies.extend(t.await.expect("caller"));
            }
            let took = start.elapsed();
            run.elapsed += took;
            run.sellouts.push(took);
            run.sold += u64::from(self.seats);
            run.held += self.held(show).await;
        }
        run.attempts = run.latencies.len() as u64;
        run.shed = self.shed() - shed_before;
        drop(inv);
        pool.close().await;
        run
    }
}

/// The hold + release cycle as pgbench script: the very functions the
/// library calls, with the same arguments (the database clock).
fn pgbench_script(seats: u32) -> String {
    format!(
        "\\set s random(0, {max})\n\
         \\set n random(1, 9223372036854775807)\n\
         SELECT (refusal IS NULL)::int AS done, version FROM booking.hold_seats(:show::uuid, lpad(to_hex(:n::bigint), 32, 'a')::uuid, \
         lpad(to_hex(:n::bigint), 32, 'b')::uuid, ARRAY[:s::int], NULL) \\gset\n\
         \\if :done\n\
         SELECT refusal AS rcode FROM booking.finish_seats(:show::uuid, lpad(to_hex(:n::bigint), 32, 'a')::uuid, \
         lpad(to_hex(:n::bigint), 32, 'b')::uuid, :version::bigint, ARRAY[:s::int], NULL, NULL, NULL) \\gset\n\
         \\endif\n",
        max = seats - 1,
    )
}

/// Runs the cycle with pgbench; its transactions are hold attempts.
fn pgbench(show: ShowId, seats: u32, callers: u32, secs: u64) -> Run {
    let start = Instant::now();
    let out = booking_postgres::testkit::pgbench(DB, &pgbench_script(seats), show.0, callers, secs);
    let elapsed = start.elapsed();
    let (Some(tps), Some(processed)) = (out.field("tps = "), out.field("number of transactions actually processed: "))
    else {
        panic!("pgbench failed: {}{}", out.stdout, out.stderr);
    };
    // pgbench's own clock excludes its connection setup: use its rate.
    let measured = Duration::from_secs_f64((processed / tps).min(elapsed.as_secs_f64()));
    Run { attempts: processed as u64, elapsed: measured, ..Run::default() }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

async fn setup() -> PgPool {
    booking_postgres::testkit::recreate_database(DB, 2).await
}

/// Compiler processes running now: a compiler on this machine's two cores
/// disturbs any measurement.
fn compilers() -> u32 {
    std::process::Command::new("pgrep")
        .args(["-c", "-x", "rustc|cargo"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(0)
}

fn machine() -> String {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load.split_whitespace().take(3).collect::<Vec<_>>().join(" ");
    // This benchmark runs under `cargo bench`: one cargo is its own.
    format!("load {load} | rustc/cargo processes {}", compilers())
}

fn main() {
    let secs: u64 = env("BENCH_SECS", 5);
    let runs: usize = env("BENCH_RUNS", 7);
    let callers: u32 = env("BENCH_CALLERS", 32);
    let seats: u32 = env("BENCH_SEATS", 100);
    let threads: usize = env("BENCH_THREADS", 2);
    let scenarios: Vec<Scenario> = list("BENCH_SCENARIOS", "cycle,sellout")
        .iter()
        .map(|s| match s.as_str() {
            "cycle" => Scenario::Cycle,
            "sellout" => Scenario::Sellout,
            other => panic!("unknown scenario {other}"),
        })
        .collect();
    let contenders: Vec<Contender> = list("BENCH_CONTENDERS", "layered,postgres,pgbench,inproc")
        .iter()
        .map(|s| match s.as_str() {
            "layered" => Contender::Layered,
            "inproc" => Contender::InProcess,
            "bgunlock" => Contender::LayeredBackgroundUnlock,
            "postgres" => Contender::Postgres,
            "pgbench" => Contender::Pgbench,
            other => panic!("unknown contender {other}"),
        })
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build().expect("rt");
    let bench = rt.block_on(async {
        let admin = setup().await;
        let prefix = format!("booking-bench-layered:{}:", std::process::id());
        let lock = RedisSeatLock::builder(&redis_url()).expect("REDIS_URL").prefix(prefix).build().await.expect("lock");
        Bench { admin, lock, shed: Arc::new(AtomicU64::new(0)), callers, seats, secs }
    });
    let baseline_compilers = compilers();
    println!("before: {}", machine());
    println!("{callers} callers, {seats} seats, {runs} runs of {secs} s, {threads} tokio workers; medians over runs\n");
    println!(
        "| scenario | contender | holds granted/s | range over runs | hold attempts/s | granted | shed by the lock | p50 hold µs | p99 hold µs | sellout ms | vs postgres (granted/s) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for scenario in scenarios {
        let order: Vec<Contender> =
            contenders.iter().copied().filter(|c| scenario == Scenario::Cycle || *c != Contender::Pgbench).collect();
        let mut results: Vec<Vec<Run>> = vec![Vec::new(); order.len()];
        let mut disturbed = Vec::new();
        for round in 0..runs {
            let before = compilers();
            for k in 0..order.len() {
                let i = (round + k) % order.len();
                let run = rt.block_on(async {
                    match scenario {
                        Scenario::Cycle => bench.cycle(order[i]).await,
                        Scenario::Sellout => bench.sellout(order[i]).await,
                    }
                });
                results[i].push(run);
            }
            if compilers().max(before) > baseline_compilers {
                disturbed.push(round + 1);
            }
        }
        if !disturbed.is_empty() {
            eprintln!("{}: a compiler ran during rounds {disturbed:?}", scenario.name());
        }
        let baseline = order.iter().position(|c| *c == Contender::Postgres);
        for (i, who) in order.iter().enumerate() {
            let rate = |r: &Run| r.per_sec(if scenario == Scenario::Sellout { r.sold } else { r.held });
            let rates: Vec<f64> = results[i].iter().map(rate).collect();
            let (low, high) = rates.iter().fold((f64::MAX, 0f64), |(l, h), &r| (l.min(r), h.max(r)));
            let granted = median(rates);
            let attempts = median(results[i].iter().map(|r| r.per_sec(r.attempts)).collect());
            let share = median(results[i].iter().map(|r| r.held as f64 / r.attempts.max(1) as f64).collect());
            let shed = median(results[i].iter().map(|r| r.shed as f64 / r.attempts.max(1) as f64).collect());
            let mut p50s = Vec::new();
            let mut p99s = Vec::new();
            for r in results[i].iter_mut() {
                if let (Some(a), Some(b)) = (r.percentile(0.5), r.percentile(0.99)) {
                    p50s.push(f64::from(a));
                    p99s.push(f64::from(b));
                }
            }
            let lat = |v: Vec<f64>| if v.is_empty() { "n/a".to_owned() } else { format!("{:.0}", median(v)) };
            let sellout = if scenario == Scenario::Sellout {
                let all: Vec<f64> =
                    results[i].iter().flat_map(|r| r.sellouts.iter().map(|d| d.as_secs_f64() * 1e3)).collect();
                format!("{:.1}", median(all))
            } else {
                "n/a".to_owned()
            };
            let ratio = match baseline {
                Some(b) => {
                    let pairs = results[i].iter().zip(&results[b]).map(|(r, base)| rate(r) / rate(base)).collect();
                    format!("{:.2}x", median(pairs))
                }
                None => "n/a".to_owned(),
            };
            println!(
                "| {} | {} | {granted:.0} | {low:.0}-{high:.0} | {attempts:.0} | {:.0}% | {} | {} | {} | {sellout} | {ratio} |",
                scenario.name(),
                who.name(),
                100.0 * share,
                if !matches!(who, Contender::Postgres | Contender::Pgbench) {
                    format!("{:.0}%", 100.0 * shed)
                } else {
                    "n/a".to_owned()
                },
                lat(p50s),
                lat(p99s),
            );
        }
    }
    println!("\nafter: {}", machine());
}
