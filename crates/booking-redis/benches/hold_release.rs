//! Hold+release cycles through the library beside the same Lua scripts sent
//! raw, in the same run, against the same Redis.
//!
//! ```text
//! REDIS_URL=redis://127.0.0.1:6379 cargo bench -p booking-redis --bench hold_release
//! ```
//!
//! A cycle holds seats (1 or 4) for an owner, then releases them. Each
//! caller has seats of its own, so no cycle fails. Contenders:
//!
//! - `library`: `RedisInventory::hold_seats` + `release` with request
//!   coalescing off (`without_coalescing()`): one script call per request;
//!   all callers share the inventory, whose one multiplexed connection
//!   pipelines them;
//! - `library-coalesced`: the same with request coalescing, the default
//!   (`.coalesce(Coalescing { max_batch, max_in_flight })`, from
//!   `BENCH_COALESCE`, default `64,8` as `DEFAULT_COALESCING`): concurrent
//!   holds (releases) of the show go as one batch script call;
//! - `raw`: a minimal RESP client per caller, one connection each, sending
//!   `EVALSHA` of the same scripts with the same keys and arguments and
//!   waiting for each reply (unpipelined);
//! - `raw-p16`: one raw connection per caller keeping 16 cycles in flight
//!   (16 holds pipelined, then 16 releases);
//! - `hand-written`: the minimal code a team would write instead of the
//!   library: through redis-rs with one multiplexed connection per caller,
//!   a Lua script doing `SET seat owner NX PX ttl` per seat (undoing the
//!   seats it set when one is taken, so a hold stays all or nothing) and a
//!   compare-and-delete release. No hold id, no token, no feed, no expiry
//!   index, no owner accounting: what the library does beyond this is what
//!   its figures pay for;
//! - `library-nolimit`: `library` on a show without a per-owner limit (no
//!   owner index to maintain), to show what the owner accounting costs.
//!
//! The last columns are the server's own time per script call (hold and
//! release alike, single or batch script) and per request (two per cycle),
//! from the `cmdstat_evalsha` counters of `INFO commandstats` read before
//! and after each run: they are only meaningful when nothing else runs
//! scripts on that server; and for `library-coalesced`, the requests per
//! batch script call (requests that went alone, as the single script, not
//! counted).
//!
//! `REDIS_PROFILE=1` adds, after each case's rows, where each contender's
//! server time went, per request, from the same counters: every command
//! the scripts called (calls and µs), their sum, and the rest of the
//! scripts' time (the Lua code itself, and passing arguments and replies
//! between Lua and the commands). Nothing else may use the server
//! meanwhile.
//!
//! Environment: `BENCH_SECS` per run (default 1), `BENCH_RUNS` (default 9),
//! `BENCH_CALLERS` (default `1,8,50`), `BENCH_COALESCE` (default `64,8`,
//! the library's default: fewer calls in flight per show make bigger
//! batches, but make requests wait at a few callers, where batches of two
//! or three save the server nothing),
//! `BENCH_CONTENDERS` (names, comma-separated; default all, and the ratios
//! need `raw`),
//! `BENCH_THREADS` (tokio worker
//! threads, default 2; 1 = a current-thread runtime). Runs go round-robin over the
//! contenders. Prints one Markdown row per case: median cycles/s over the
//! runs, median cycle latency (for `raw-p16`, of a round of 16 cycles), the
//! median over runs of the ratio to `raw` in the same round, and the ratio to
//! `raw` with one caller.
#![allow(missing_docs)]

use booking_core::{Coalescing, HoldId, SeatInventory};
use booking_core::{HoldAction, HoldPolicy, HoldSeats, OwnerId, PriceCategory, SeatId, ShowSpec, VenueLayout};
use booking_redis::{RedisInventory, ShowKeys, scripts};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PREFIX: &str = "booking-bench:";
const DEPTH: usize = 16;

/// The hand-written hold: every seat `SET NX PX`, all or nothing.
const HAND_HOLD: &str = r"
for i, k in ipairs(KEYS) do
  if not redis.call('SET', k, ARGV[1], 'NX', 'PX', ARGV[2]) then
    for j = 1, i - 1 do redis.call('DEL', KEYS[j]) end
    return 0
  end
end
return 1
";

/// The hand-written release: delete the seats the owner still holds.
const HAND_RELEASE: &str = r"
local n = 0
for _, k in ipairs(KEYS) do
  if redis.call('GET', k) == ARGV[1] then redis.call('DEL', k); n = n + 1 end
end
return n
";

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

fn redis_addr() -> String {
    let url = redis_url();
    let rest = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
    let host = rest.split('/').next().unwrap_or(rest);
    if host.contains(':') { host.to_owned() } else { format!("{host}:6379") }
}

fn hex(v: u128) -> String {
    format!("{v:032x}")
}

/// The hand-written contender's key for a seat: in the show's hash tag,
/// as a team would lay it out for Cluster.
fn hand_key(show: booking_core::ShowId, seat: u32) -> String {
    format!("{PREFIX}{{{}}}:hand:{seat}", hex(show.as_u128()))
}

/// The outcome of one run: cycles done and each cycle's latency (µs).
struct Run {
    cycles: u64,
    latencies: Vec<u32>,
    elapsed: Duration,
}

// ---------------------------------------------------------------------------
// A minimal RESP client.

enum Resp {
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Simple,
    Error(String),
    Array(Vec<Resp>),
}

/// Parses one reply from `buf`; returns it and the bytes it used, or None
/// when `buf` holds only part of it.
fn parse(buf: &[u8]) -> Option<(Resp, usize)> {
    let line_end = buf.windows(2).position(|w| w == b"\r\n")?;
    let line = std::str::from_utf8(&buf[1..line_end]).ok()?;
    let next = line_end + 2;
    match buf.first()? {
        b'+' => Some((Resp::Simple, next)),
        b'-' => Some((Resp::Error(line.to_owned()), next)),
        b':' => Some((Resp::Int(line.parse().ok()?), next)),
        b'$' => {
            let len: i64 = line.parse().ok()?;
            if len < 0 {
                return Some((Resp::Bulk(None), next));
            }
            let end = next + len as usize;
            if buf.len() < end + 2 {
                return None;
            }
            Some((Resp::Bulk(Some(buf[next..end].to_vec())), end + 2))
        }
        b'*' => {
            let n: i64 = line.parse().ok()?;
            let mut at = next;
            let mut items = Vec::with_capacity(n.max(0) as usize);
            for _ in 0..n.max(0) {
                let (item, used) = parse(&buf[at..])?;
                items.push(item);
                at += used;
            }
            Some((Resp::Array(items), at))
        }
        _ => None,
    }
}

struct Raw {
    stream: TcpStream,
    buf: Vec<u8>,
    out: Vec<u8>,
}

impl Raw {
    async fn connect() -> Raw {
        let stream = TcpStream::connect(redis_addr()).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Raw { stream, buf: Vec::with_capacity(4096), out: Vec::with_capacity(4096) }
    }

    fn push(&mut self, args: &[&[u8]]) {
        self.out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
        for a in args {
            self.out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            self.out.extend_from_slice(a);
            self.out.extend_from_slice(b"\r\n");
        }
    }

    async fn flush(&mut self) {
        self.stream.write_all(&self.out).await.expect("write");
        self.out.clear();
    }

    async fn reply(&mut self) -> Resp {
        loop {
            if let Some((r, used)) = parse(&self.buf) {
                self.buf.drain(..used);
                return r;
            }
            let mut chunk = [0u8; 16 * 1024];
            let n = self.stream.read(&mut chunk).await.expect("read");
            assert!(n > 0, "server closed the connection");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// The version in a script's `{'OK', version, ...}` reply.
fn ok_version(r: Resp) -> i64 {
    match r {
        Resp::Array(items) => match (&items[0], &items[1]) {
            (Resp::Bulk(Some(s)), Resp::Int(v)) if s == b"OK" => *v,
            _ => panic!("script refused"),
        },
        Resp::Error(e) => panic!("server error: {e}"),
        _ => panic!("unexpected reply"),
    }
}

/// One caller's seats and the script arguments that do not change.
struct RawCycle {
    hold_sha: String,
    release_sha: String,
    keys: ShowKeys,
    release_keys: Vec<String>,
    ttl: String,
    max_hold: String,
    max_owner: String,
    feed_max_len: String,
    index_ttl: String,
}

impl RawCycle {
    fn hold_cmd(&self, raw: &mut Raw, owner: &str, owner_key: &str, hold: &str, seats: &[String]) {
        let k = &self.keys;
        let mut args: Vec<&[u8]> = vec![b"EVALSHA", self.hold_sha.as_bytes(), b"8"];
        args.extend(
            [&k.meta, &k.seats, &k.seat_expiry, owner_key, &k.pool_holds, &k.feed, &k.free, &k.owner_sold]
                .map(|k| k.as_bytes()),
        );
        args.extend([
            b"store".as_slice(),
            owner.as_bytes(),
            hold.as_bytes(),
            self.ttl.as_bytes(),
            self.max_hold.as_bytes(),
            self.max_owner.as_bytes(),
            self.feed_max_len.as_bytes(),
            self.index_ttl.as_bytes(),
        ]);
        args.extend(seats.iter().map(|s| s.as_bytes()));
        raw.push(&args);
    }

    fn release_cmd(&self, raw: &mut Raw, owner: &str, hold: &str, version: i64, seats: &[String]) {
        let version = version.to_string();
        let mut args: Vec<&[u8]> = vec![b"EVALSHA", self.release_sha.as_bytes(), b"5"];
        args.extend(self.release_keys.iter().map(|k| k.as_bytes()));
        args.extend([
            b"store".as_slice(),
            owner.as_bytes(),
            hold.as_bytes(),
            version.as_bytes(),
            self.feed_max_len.as_bytes(),
        ]);
        args.extend(seats.iter().map(|s| s.as_bytes()));
        raw.push(&args);
    }
}

// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Contender {
    Library,
    LibraryCoalesced,
    Raw,
    RawPipelined,
    HandWritten,
    LibraryNoLimit,
}

impl Contender {
    fn name(self) -> &'static str {
        match self {
            Contender::Library => "library",
            Contender::LibraryCoalesced => "library-coalesced",
            Contender::Raw => "raw",
            Contender::RawPipelined => "raw-p16",
            Contender::HandWritten => "hand-written",
            Contender::LibraryNoLimit => "library-nolimit",
        }
    }
}

async fn run(
    contender: Contender,
    inv: &RedisInventory,
    spec: &ShowSpec,
    callers: usize,
    width: u32,
    secs: f64,
) -> Run {
    let stop = Arc::new(AtomicBool::new(false));
    let keys = ShowKeys::new(PREFIX, spec.id);
    let policy = &spec.policy;
    let cycle = Arc::new(RawCycle {
        hold_sha: redis::Script::new(scripts::HOLD).get_hash().to_owned(),
        release_sha: redis::Script::new(scripts::RELEASE).get_hash().to_owned(),
        release_keys: [&keys.meta, &keys.seats, &keys.seat_expiry, &keys.feed, &keys.free].map(|k| k.clone()).to_vec(),
        ttl: policy.ttl_millis().to_string(),
        max_hold: policy.max_hold_millis().to_string(),
        max_owner: format!("{},none", policy.max_held_per_owner.map_or_else(|| "none".to_owned(), |n| n.to_string())),
        feed_max_len: booking_redis::DEFAULT_FEED_MAX_LEN.to_string(),
        index_ttl: policy.max_hold_millis().to_string(),
        keys: keys.clone(),
    });
    let mut tasks = Vec::new();
    let started = Instant::now();
    for c in 0..callers {
        let stop = stop.clone();
        let inv = inv.clone();
        let show = spec.id;
        let cycle = cycle.clone();
        let slots = if contender == Contender::RawPipelined { DEPTH } else { 1 };
        // Caller c owns seat groups c*slots .. (c+1)*slots, each `width` seats.
        let groups: Vec<Vec<u32>> = (0..slots)
            .map(|s| {
                let g = (c * slots + s) as u32;
                (g * width..(g + 1) * width).collect()
            })
            .collect();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut cycles = 0u64;
            match contender {
                Contender::Library | Contender::LibraryCoalesced | Contender::LibraryNoLimit => {
                    let owner = OwnerId::new();
                    let seats: Vec<SeatId> = groups[0].iter().copied().map(SeatId).collect();
                    while !stop.load(Ordering::Relaxed) {
                        let t = Instant::now();
                        let h = inv.hold_seats(&HoldSeats { show, owner, seats: seats.clone() }).await.expect("hold");
                        inv.release(&HoldAction { owner, token: h.token }).await.expect("release");
                        latencies.push(t.elapsed().as_micros() as u32);
                        cycles += 1;
                    }
                }
                Contender::HandWritten => {
                    let mut con = redis::Client::open(redis_url())
                        .expect("url")
                        .get_multiplexed_async_connection()
                        .await
                        .expect("connect");
                    let (hold, release) = (redis::Script::new(HAND_HOLD), redis::Script::new(HAND_RELEASE));
                    let owner = hex(OwnerId::new().as_u128());
                    let keys: Vec<String> = groups[0].iter().map(|&s| hand_key(show, s)).collect();
                    let ttl = cycle.ttl.clone();
                    while !stop.load(Ordering::Relaxed) {
                        let t = Instant::now();
                        let held: i64 =
                            hold.key(&keys).arg(&owner).arg(&ttl).invoke_async(&mut con).await.expect("hold");
                        assert_eq!(held, 1, "hand-written hold refused");
                        let freed: i64 = release.key(&keys).arg(&owner).invoke_async(&mut con).await.expect("release");
                        assert_eq!(freed, keys.len() as i64, "hand-written release");
                        latencies.push(t.elapsed().as_micros() as u32);
                        cycles += 1;
                    }
                }
                Contender::Raw | Contender::RawPipelined => {
                    let mut raw = Raw::connect().await;
                    let owner_ids: Vec<OwnerId> = groups.iter().map(|_| OwnerId::new()).collect();
                    let owners: Vec<String> = owner_ids.iter().map(|o| hex(o.as_u128())).collect();
                    let owner_keys: Vec<String> = owner_ids.iter().map(|o| cycle.keys.owner(*o)).collect();
                    let seats: Vec<Vec<String>> =
                        groups.iter().map(|g| g.iter().map(|s| s.to_string()).collect()).collect();
                    while !stop.load(Ordering::Relaxed) {
                        let t = Instant::now();
                        let holds: Vec<String> = groups.iter().map(|_| hex(HoldId::new().as_u128())).collect();
                        for i in 0..groups.len() {
                            cycle.hold_cmd(&mut raw, &owners[i], &owner_keys[i], &holds[i], &seats[i]);
                        }
                        raw.flush().await;
                        let mut versions = Vec::with_capacity(groups.len());
                        for _ in 0..groups.len() {
                            versions.push(ok_version(raw.reply().await));
                        }
                        for i in 0..groups.len() {
                            cycle.release_cmd(&mut raw, &owners[i], &holds[i], versions[i], &seats[i]);
                        }
                        raw.flush().await;
                        for _ in 0..groups.len() {
                            ok_version(raw.reply().await);
                        }
                        latencies.push(t.elapsed().as_micros() as u32);
                        cycles += groups.len() as u64;
                    }
                }
            }
            (cycles, latencies)
        }));
    }
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let mut out = Run { cycles: 0, latencies: Vec::new(), elapsed: Duration::ZERO };
    for t in tasks {
        let (c, l) = t.await.expect("caller");
        out.cycles += c;
        out.latencies.extend(l);
    }
    out.elapsed = started.elapsed();
    out
}

/// The server's main-thread CPU time (`used_cpu_user_main_thread` +
/// `used_cpu_sys_main_thread` of `INFO cpu`), in seconds.
async fn server_cpu(c: &mut redis::aio::MultiplexedConnection) -> f64 {
    let info: String = redis::cmd("INFO").arg("cpu").query_async(c).await.expect("INFO");
    let field = |name: &str| {
        info.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(':')?.trim().parse::<f64>().ok()).unwrap_or(0.0)
    };
    field("used_cpu_user_main_thread") + field("used_cpu_sys_main_thread")
}

/// The server's counters of every command (`INFO commandstats`, which
/// counts the commands scripts call as well): name -> (calls, µs).
async fn command_stats(c: &mut redis::aio::MultiplexedConnection) -> BTreeMap<String, (u64, u64)> {
    let info: String = redis::cmd("INFO").arg("commandstats").query_async(c).await.expect("INFO");
    let mut out = BTreeMap::new();
    for line in info.lines() {
        let Some((name, rest)) = line.strip_prefix("cmdstat_").and_then(|l| l.split_once(':')) else { continue };
        let field = |f: &str| {
            rest.split(',').find_map(|kv| kv.strip_prefix(f)?.strip_prefix('=')?.parse().ok()).unwrap_or(0u64)
        };
        out.insert(name.to_owned(), (field("calls"), field("usec")));
    }
    out
}

/// What `after` counted beyond `before`, added to `into` (the bench's own
/// `INFO` left out).
fn add_delta(
    into: &mut BTreeMap<String, (u64, u64)>,
    before: &BTreeMap<String, (u64, u64)>,
    after: &BTreeMap<String, (u64, u64)>,
) {
    for (name, &(calls, usec)) in after {
        if name == "info" {
            continue;
        }
        let (c0, u0) = before.get(name).copied().unwrap_or_default();
        let e = into.entry(name.clone()).or_default();
        e.0 += calls.saturating_sub(c0);
        e.1 += usec.saturating_sub(u0);
    }
}

/// One `REDIS_PROFILE` line: a contender's server time per request.
fn profile_line(width: u32, n: usize, name: &str, stats: &BTreeMap<String, (u64, u64)>, requests: u64) {
    let requests = requests.max(1) as f64;
    let (_, scripts) = stats.get("evalsha").copied().unwrap_or_default();
    let mut inner = 0;
    let mut parts = Vec::new();
    let mut sorted: Vec<_> = stats.iter().filter(|(k, v)| *k != "evalsha" && v.0 > 0).collect();
    sorted.sort_by_key(|b| std::cmp::Reverse(b.1.1));
    for (cmd, &(calls, usec)) in sorted {
        inner += usec;
        parts.push(format!("{cmd} {:.2}x {:.2}", calls as f64 / requests, usec as f64 / requests));
    }
    println!(
        "profile: {width} seat(s), {n} callers, {name}: {:.2} µs per request in scripts = commands {:.2} ({}) + Lua and call overhead {:.2}",
        scripts as f64 / requests,
        inner as f64 / requests,
        parts.join(", "),
        scripts.saturating_sub(inner) as f64 / requests,
    );
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    // BENCH_THREADS=1 runs everything on one thread (a current-thread
    // runtime); the default is a 2-worker multi-thread runtime.
    let threads: usize = env("BENCH_THREADS", 2);
    let rt = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build()
    };
    rt.expect("runtime").block_on(bench());
}

async fn bench() {
    // `cargo bench` passes `--bench`; a filter argument is not supported.
    let secs: f64 = env("BENCH_SECS", 1.0);
    let runs: usize = env("BENCH_RUNS", 9);
    let callers: Vec<usize> = std::env::var("BENCH_CALLERS")
        .unwrap_or_else(|_| "1,8,50".to_owned())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let only = std::env::var("BENCH_CONTENDERS").unwrap_or_default();
    let only: Vec<&str> = only.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    let coalesce: Vec<usize> = std::env::var("BENCH_COALESCE")
        .unwrap_or_else(|_| "64,8".to_owned())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let (max_batch, max_in_flight) = (coalesce.first().copied().unwrap_or(64), coalesce.get(1).copied().unwrap_or(1));
    let profile = std::env::var("REDIS_PROFILE").is_ok_and(|v| !v.is_empty() && v != "0");
    let inv = RedisInventory::builder(&redis_url())
        .expect("REDIS_URL")
        .prefix(PREFIX)
        .without_coalescing()
        .build()
        .await
        .expect("connect to Redis");
    let coalesced = RedisInventory::builder(&redis_url())
        .expect("REDIS_URL")
        .prefix(PREFIX)
        .coalesce(Coalescing { max_batch, max_in_flight })
        .build()
        .await
        .expect("connect to Redis");
    eprintln!("library-coalesced: max_batch {max_batch}, max_in_flight {max_in_flight}");
    // Load the scripts once, so the raw client can use EVALSHA from the start.
    let mut c = redis::Client::open(redis_url()).expect("url").get_multiplexed_async_connection().await.expect("c");
    for (_, src) in scripts::ALL {
        let _: String = redis::cmd("SCRIPT").arg("LOAD").arg(*src).query_async(&mut c).await.expect("load");
    }

    println!(
        "| seats | callers | contender | cycles/s (median of {runs}) | p50 cycle µs | vs raw, same callers (median of paired runs) | vs raw, 1 caller | vs hand-written, same callers | server µs per script | server µs per request | server busy % | requests per batch (share of requests batched) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    const CONTENDERS: [Contender; 6] = [
        Contender::Raw,
        Contender::Library,
        Contender::LibraryCoalesced,
        Contender::RawPipelined,
        Contender::HandWritten,
        Contender::LibraryNoLimit,
    ];
    let mut raw_single: [f64; 2] = [0.0; 2];
    for (w, width) in [1u32, 4].into_iter().enumerate() {
        for &n in &callers {
            // Runs go round-robin over the contenders, so that a disturbance
            // of the machine hits them alike; ratios are taken per run.
            let mut rates: [Vec<f64>; 6] = Default::default();
            let mut latencies: [Vec<u32>; 6] = Default::default();
            let mut server: [(u64, u64); 6] = Default::default();
            let mut cycles: [u64; 6] = Default::default();
            let mut busy: [Vec<f64>; 6] = Default::default();
            let mut commands: [BTreeMap<String, (u64, u64)>; 6] = Default::default();
            let batches_before = coalesced.coalesce_stats();
            for _ in 0..runs {
                for (i, contender) in CONTENDERS.into_iter().enumerate() {
                    if !only.is_empty() && !only.contains(&contender.name()) {
                        continue;
                    }
                    // A fresh show per run: the feed and the hashes start empty.
                    let seats = (n * DEPTH) as u32 * width;
                    let limit = if contender == Contender::LibraryNoLimit { None } else { Some(8) };
                    let policy = HoldPolicy { max_held_per_owner: limit, ..HoldPolicy::default() };
                    let spec =
                        ShowSpec::new("bench", VenueLayout::grid(1, 1, seats, PriceCategory(1))).with_policy(policy);
                    inv.create_show(&spec).await.expect("create_show");
                    let before = command_stats(&mut c).await;
                    let cpu_before = server_cpu(&mut c).await;
                    let lib = if contender == Contender::LibraryCoalesced { &coalesced } else { &inv };
                    let r = run(contender, lib, &spec, n, width, secs).await;
                    let cpu_after = server_cpu(&mut c).await;
                    let after = command_stats(&mut c).await;
                    busy[i].push(100.0 * (cpu_after - cpu_before) / r.elapsed.as_secs_f64());
                    let evalsha = |s: &BTreeMap<String, (u64, u64)>| s.get("evalsha").copied().unwrap_or_default();
                    server[i].0 += evalsha(&after).0.saturating_sub(evalsha(&before).0);
                    server[i].1 += evalsha(&after).1.saturating_sub(evalsha(&before).1);
                    add_delta(&mut commands[i], &before, &after);
                    cycles[i] += r.cycles;
                    rates[i].push(r.cycles as f64 / r.elapsed.as_secs_f64());
                    latencies[i].extend(r.latencies);
                    let keys = ShowKeys::new(PREFIX, spec.id);
                    let _: () = redis::cmd("DEL").arg(&keys.all()[..]).query_async(&mut c).await.expect("del");
                    if contender == Contender::HandWritten {
                        let hand: Vec<String> = (0..seats).map(|s| hand_key(spec.id, s)).collect();
                        for chunk in hand.chunks(1000) {
                            let _: () = redis::cmd("DEL").arg(chunk).query_async(&mut c).await.expect("del");
                        }
                    }
                }
            }
            if n == 1 && !rates[0].is_empty() {
                raw_single[w] = median(rates[0].clone());
            }
            for (i, contender) in CONTENDERS.into_iter().enumerate() {
                if rates[i].is_empty() {
                    continue;
                }
                latencies[i].sort_unstable();
                let p50 = latencies[i].get(latencies[i].len() / 2).copied().unwrap_or(0);
                let rate = median(rates[i].clone());
                let paired = if rates[0].is_empty() {
                    0.0
                } else {
                    median(rates[i].iter().zip(&rates[0]).map(|(x, r)| x / r).collect())
                };
                let vs_single = if raw_single[w] > 0.0 { rate / raw_single[w] } else { 0.0 };
                let hand = &rates[4];
                let vs_hand = if hand.is_empty() {
                    "-".to_owned()
                } else {
                    format!("{:.2}x", median(rates[i].iter().zip(hand).map(|(x, h)| x / h).collect()))
                };
                let (calls, usec) = server[i];
                let per_script = if calls > 0 { usec as f64 / calls as f64 } else { 0.0 };
                let per_request = if cycles[i] > 0 { usec as f64 / (2 * cycles[i]) as f64 } else { 0.0 };
                let per_batch = if contender == Contender::LibraryCoalesced {
                    let after = coalesced.coalesce_stats();
                    let (b, r) = (after.batches - batches_before.batches, after.requests - batches_before.requests);
                    let share = 100.0 * r as f64 / (2 * cycles[i]).max(1) as f64;
                    if b > 0 { format!("{:.1} ({share:.0}% batched)", r as f64 / b as f64) } else { "-".to_owned() }
                } else {
                    "-".to_owned()
                };
                println!(
                    "| {width} | {n} | {} | {rate:.0} | {p50} | {paired:.2}x | {vs_single:.2}x | {vs_hand} | {per_script:.1} | {per_request:.1} | {:.0} | {per_batch} |",
                    contender.name(),
                    median(busy[i].clone())
                );
            }
            if profile {
                for (i, contender) in CONTENDERS.into_iter().enumerate() {
                    if !rates[i].is_empty() {
                        profile_line(width, n, contender.name(), &commands[i], 2 * cycles[i]);
                    }
                }
            }
        }
    }
}
