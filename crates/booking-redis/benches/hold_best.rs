//! Best-available holds on a 50,000-seat show, beside single-seat holds on
//! the same show, through the library and raw, in the same run against the
//! same Redis.
//!
//! ```text
//! REDIS_URL=redis://127.0.0.1:6379 cargo bench -p booking-redis --bench hold_best
//! ```
//!
//! The show is 10 sections x 100 rows x 50 seats, its first 30,000 seats
//! blocked (so the picker skips 600 full rows, and a whole-show read has
//! 30,000 seats to send). A cycle holds, then releases. Contenders:
//!
//! - `library-best`: `RedisInventory::hold_best` (2 seats) + `release`;
//! - `raw-best`: a minimal RESP client per caller sending `EVALSHA` of the
//!   same scripts (`lua/best.lua`, `lua/release.lua`) with the same keys and
//!   arguments;
//! - `read-all-best`: what best-available did before the free-seat index,
//!   hand-written on the raw client: `HGETALL` of the seat hash, decode,
//!   `booking_core::backend::best::pick_best` in the client, `EVALSHA` of
//!   `lua/hold.lua` (picking again when a concurrent hold won a seat), then
//!   the release;
//! - `library-single` / `raw-single`: a hold of one seat of the caller's
//!   own + release, through the library and raw.
//!
//! Environment: `BENCH_SECS` per run (default 1), `BENCH_RUNS` (default
//! 3), `BENCH_CALLERS` (default `1,8`). Prints one Markdown row per case:
//! median cycles/s, median p50 cycle latency, and the server's own time
//! per cycle (all commands, from `INFO commandstats`: only meaningful when
//! nothing else uses the server).
#![allow(missing_docs)]

use booking_core::backend::best::{PickRequest, pick_best};
use booking_core::{
    HoldAction, HoldBest, HoldId, HoldPolicy, HoldSeats, OwnerId, PriceCategory, SeatId, SeatInventory, ShowSpec,
    VenueLayout,
};
use booking_redis::{RedisInventory, ShowKeys, scripts};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PREFIX: &str = "booking-bench-best:";
const BLOCKED: u32 = 30_000;

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

// ---------------------------------------------------------------------------
// A minimal RESP client.

enum Resp {
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Simple,
    Error(String),
    Array(Vec<Resp>),
}

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
}

impl Raw {
    async fn connect() -> Raw {
        let stream = TcpStream::connect(redis_addr()).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Raw { stream, buf: Vec::with_capacity(1 << 20) }
    }

    async fn call(&mut self, args: &[&[u8]]) -> Resp {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        self.stream.write_all(&out).await.expect("write");
        loop {
            if let Some((r, used)) = parse(&self.buf) {
                self.buf.drain(..used);
                return r;
            }
            let mut chunk = vec![0u8; 256 * 1024];
            let n = self.stream.read(&mut chunk).await.expect("read");
            assert!(n > 0, "server closed the connection");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

fn bulk(r: &Resp) -> &[u8] {
    match r {
        Resp::Bulk(Some(b)) => b,
        _ => b"",
    }
}

/// `{'OK', version, ...}` -> version, or None for a refusal.
fn ok_version(r: &Resp) -> Option<i64> {
    match r {
        Resp::Array(items) if bulk(&items[0]) == b"OK" => match items[1] {
            Resp::Int(v) => Some(v),
            _ => None,
        },
        Resp::Error(e) => panic!("server error: {e}"),
        _ => None,
    }
}

// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Contender {
    LibraryBest,
    RawBest,
    ReadAllBest,
    LibrarySingle,
    RawSingle,
}

impl Contender {
    fn name(self) -> &'static str {
        match self {
            Contender::LibraryBest => "library-best",
            Contender::RawBest => "raw-best",
            Contender::ReadAllBest => "read-all-best",
            Contender::LibrarySingle => "library-single",
            Contender::RawSingle => "raw-single",
        }
    }
}

/// What the raw contenders send that does not change.
struct Fixed {
    keys: ShowKeys,
    spec: ShowSpec,
    best_sha: String,
    hold_sha: String,
    release_sha: String,
    ttl: String,
    max_hold: String,
    max_owner: String,
    feed_max_len: String,
}

impl Fixed {
    async fn release(&self, raw: &mut Raw, owner: &str, hold: &str, version: i64, seats: &[String]) {
        let k = &self.keys;
        let version = version.to_string();
        let mut args: Vec<&[u8]> = vec![b"EVALSHA", self.release_sha.as_bytes(), b"5"];
        args.extend([&k.meta, &k.seats, &k.seat_expiry, &k.feed, &k.free].map(|k| k.as_bytes()));
        args.extend([
            b"store".as_slice(),
            owner.as_bytes(),
            hold.as_bytes(),
            version.as_bytes(),
            self.feed_max_len.as_bytes(),
        ]);
        args.extend(seats.iter().map(|s| s.as_bytes()));
        ok_version(&raw.call(&args).await).expect("release");
    }

    /// `lua/hold.lua`: the version, or None when a seat was taken.
    async fn hold(&self, raw: &mut Raw, owner: &str, hold: &str, seats: &[String]) -> Option<i64> {
        let k = &self.keys;
        let owner_key = format!("{}own:{owner}", k.meta.trim_end_matches("meta"));
        let mut args: Vec<&[u8]> = vec![b"EVALSHA", self.hold_sha.as_bytes(), b"8"];
        args.extend(
            [&k.meta, &k.seats, &k.seat_expiry, &owner_key, &k.pool_holds, &k.feed, &k.free, &k.owner_sold]
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
            self.max_hold.as_bytes(),
        ]);
        args.extend(seats.iter().map(|s| s.as_bytes()));
        ok_version(&raw.call(&args).await)
    }

    /// `lua/best.lua`: the version and seats.
    async fn best(&self, raw: &mut Raw, owner: &str, hold: &str) -> (i64, Vec<String>) {
        let k = &self.keys;
        let owner_key = format!("{}own:{owner}", k.meta.trim_end_matches("meta"));
        let rows = format!("0:50:{}", self.spec.layout.rows().len());
        let mut args: Vec<&[u8]> = vec![b"EVALSHA", self.best_sha.as_bytes(), b"8"];
        args.extend(
            [&k.meta, &k.seats, &k.seat_expiry, &owner_key, &k.pool_holds, &k.feed, &k.free, &k.owner_sold]
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
            self.max_hold.as_bytes(),
            b"2",
            rows.as_bytes(),
            b"",
        ]);
        let r = raw.call(&args).await;
        let version = ok_version(&r).expect("best");
        let Resp::Array(items) = r else { unreachable!() };
        let Resp::Array(seats) = &items[3] else { panic!("best seats") };
        (version, seats.iter().map(|s| String::from_utf8_lossy(bulk(s)).into_owned()).collect())
    }

    /// The old best-available: the whole seat hash, picked in the client.
    async fn read_all_best(&self, raw: &mut Raw, owner: &str, hold: &str) -> (i64, Vec<String>) {
        let rows = self.spec.layout.rows();
        let req = PickRequest { quantity: 2, section: None, category: None };
        for _ in 0..8 {
            let all = raw.call(&[b"HGETALL", self.keys.seats.as_bytes()]).await;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0);
            let mut free = vec![true; self.spec.layout.seat_count()];
            if let Resp::Array(items) = all {
                for pair in items.chunks(2) {
                    let Ok(seat) = std::str::from_utf8(bulk(&pair[0])).unwrap_or("#").parse::<usize>() else {
                        continue;
                    };
                    let state = std::str::from_utf8(bulk(&pair[1])).unwrap_or("");
                    let mut parts = state.split('|');
                    free[seat] = match parts.nth(1) {
                        Some("A") => true,
                        Some("H") => parts.nth(2).and_then(|u| u.parse::<i64>().ok()).is_some_and(|u| u <= now),
                        _ => false,
                    };
                }
            }
            let picked = pick_best(&rows, &req, |_| PriceCategory(1), |s| free[s.0 as usize]).expect("seats");
            let seats: Vec<String> = picked.iter().map(|s| s.0.to_string()).collect();
            if let Some(v) = self.hold(raw, owner, hold, &seats).await {
                return (v, seats);
            }
        }
        panic!("no pick held in 8 attempts");
    }
}

struct Run {
    cycles: u64,
    latencies: Vec<u32>,
    elapsed: Duration,
}

async fn run(contender: Contender, inv: &RedisInventory, fixed: Arc<Fixed>, callers: usize, secs: f64) -> Run {
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..callers {
        let (stop, inv, fixed) = (stop.clone(), inv.clone(), fixed.clone());
        let show = fixed.spec.id;
        // Single-seat contenders hold a seat of their own, near the end.
        let own_seat = 49_000 + c as u32;
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut raw = match contender {
                Contender::RawBest | Contender::ReadAllBest | Contender::RawSingle => Some(Raw::connect().await),
                _ => None,
            };
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let owner = OwnerId::new();
                match contender {
                    Contender::LibraryBest => {
                        let req = HoldBest { show, owner, quantity: 2, section: None, category: None };
                        let h = inv.hold_best(&req).await.expect("best");
                        inv.release(&HoldAction { owner, token: h.token }).await.expect("release");
                    }
                    Contender::LibrarySingle => {
                        let h = inv
                            .hold_seats(&HoldSeats { show, owner, seats: vec![SeatId(own_seat)] })
                            .await
                            .expect("hold");
                        inv.release(&HoldAction { owner, token: h.token }).await.expect("release");
                    }
                    Contender::RawBest | Contender::ReadAllBest | Contender::RawSingle => {
                        let raw = raw.as_mut().expect("raw");
                        let (o, h) = (hex(owner.as_u128()), hex(HoldId::new().as_u128()));
                        let (v, seats) = match contender {
                            Contender::RawBest => fixed.best(raw, &o, &h).await,
                            Contender::ReadAllBest => fixed.read_all_best(raw, &o, &h).await,
                            _ => {
                                let seats = vec![own_seat.to_string()];
                                (fixed.hold(raw, &o, &h, &seats).await.expect("hold"), seats)
                            }
                        };
                        fixed.release(raw, &o, &h, v, &seats).await;
                    }
                }
                latencies.push(t.elapsed().as_micros() as u32);
            }
            latencies
        }));
    }
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.expect("caller"));
    }
    Run { cycles: latencies.len() as u64, latencies, elapsed: started.elapsed() }
}

/// Total server time (µs) over all commands, from `INFO commandstats`.
async fn server_usec(c: &mut redis::aio::MultiplexedConnection) -> u64 {
    let info: String = redis::cmd("INFO").arg("commandstats").query_async(c).await.expect("INFO");
    info.lines()
        .filter_map(|l| l.split("usec=").nth(1))
        .filter_map(|r| r.split(',').next())
        .filter_map(|n| n.parse::<u64>().ok())
        .sum()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(async {
        let secs: f64 = env("BENCH_SECS", 1.0);
        let runs: usize = env("BENCH_RUNS", 3);
        let callers: Vec<usize> = std::env::var("BENCH_CALLERS")
            .unwrap_or_else(|_| "1,8".into())
            .split(',')
            .filter_map(|s| s.trim().parse().ok())
            .collect();
        let inv = RedisInventory::builder(&redis_url()).expect("url").prefix(PREFIX).build().await.expect("connect");
        let mut c = redis::Client::open(redis_url()).expect("c").get_multiplexed_async_connection().await.expect("c");
        let contenders = [
            Contender::LibraryBest,
            Contender::RawBest,
            Contender::ReadAllBest,
            Contender::LibrarySingle,
            Contender::RawSingle,
        ];
        println!("| callers | contender | cycles/s (median of {runs}) | p50 cycle µs | server µs per cycle |");
        println!("|---|---|---|---|---|");
        for &n in &callers {
            let mut rates = vec![Vec::new(); contenders.len()];
            let mut p50s = vec![Vec::new(); contenders.len()];
            let mut server = vec![(0u64, 0u64); contenders.len()];
            for _ in 0..runs {
                for (i, &contender) in contenders.iter().enumerate() {
                    let spec = ShowSpec::new("bench", VenueLayout::grid(10, 100, 50, PriceCategory(1)))
                        .with_policy(HoldPolicy::default());
                    inv.create_show(&spec).await.expect("create");
                    let blocked: Vec<SeatId> = (0..BLOCKED).map(SeatId).collect();
                    inv.block(spec.id, &blocked).await.expect("block");
                    let policy = &spec.policy;
                    let fixed = Arc::new(Fixed {
                        keys: inv.keys(spec.id),
                        best_sha: redis::Script::new(scripts::BEST).get_hash().to_owned(),
                        hold_sha: redis::Script::new(scripts::HOLD).get_hash().to_owned(),
                        release_sha: redis::Script::new(scripts::RELEASE).get_hash().to_owned(),
                        ttl: policy.ttl_millis().to_string(),
                        max_hold: policy.max_hold_millis().to_string(),
                        max_owner: format!(
                            "{},none",
                            policy.max_held_per_owner.map_or_else(|| "none".to_owned(), |n| n.to_string())
                        ),
                        feed_max_len: booking_redis::DEFAULT_FEED_MAX_LEN.to_string(),
                        spec,
                    });
                    // Loads every script once before timing.
                    {
                        let mut raw = Raw::connect().await;
                        for (name, src) in
                            [("best", scripts::BEST), ("hold", scripts::HOLD), ("release", scripts::RELEASE)]
                        {
                            let r = raw.call(&[b"SCRIPT", b"LOAD", src.as_bytes()]).await;
                            assert!(matches!(r, Resp::Bulk(Some(_))), "load {name}");
                        }
                    }
                    let before = server_usec(&mut c).await;
                    let r = run(contender, &inv, fixed, n, secs).await;
                    let after = server_usec(&mut c).await;
                    rates[i].push(r.cycles as f64 / r.elapsed.as_secs_f64());
                    let mut l = r.latencies;
                    l.sort_unstable();
                    p50s[i].push(l.get(l.len() / 2).copied().unwrap_or(0) as f64);
                    server[i].0 += after.saturating_sub(before);
                    server[i].1 += r.cycles;
                }
            }
            for (i, contender) in contenders.iter().enumerate() {
                println!(
                    "| {n} | {} | {:.0} | {:.0} | {:.1} |",
                    contender.name(),
                    median(rates[i].clone()),
                    median(p50s[i].clone()),
                    server[i].0 as f64 / server[i].1.max(1) as f64
                );
            }
        }
    });
}
