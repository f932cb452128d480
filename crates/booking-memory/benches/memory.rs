//! Throughput of the memory backend beside raw baselines doing the same
//! state update (owner, expiry, version) in the same run.
//!
//! ```sh
//! BENCH_RUNS=5 BENCH_SECS=1 cargo bench -p booking-memory --bench memory
//! ```
//!
//! prints the table BENCHMARKS.md carries: `BENCH_RUNS` rounds (default 5),
//! each running every contender once, in turn, for about `BENCH_SECS`
//! seconds (default 1) per case and thread count (the contender that
//! starts a round rotates from round to round). Each figure is the median
//! over rounds of a contender's time per cycle; each ratio is the median
//! over rounds of raw time / library time in the same round, with the
//! lowest and highest round beside it, so one disturbed run cannot make a
//! claim. Then it prints the heap bytes per seat of a 1,000,000-seat show.
//!
//! With `MEMORY_CRITERION=1` the same cycles (one contender per row, no
//! interleaving), best-available and the bytes per seat run under
//! criterion instead, for local comparisons (criterion's arguments, such
//! as `-- --noplot` or a filter, apply).
//!
//! With `MEMORY_PROFILE=<contender>,<case>,<cycles>` set (contender one of
//! `library`, `library_lean`, `library_no_limit`, `library_tick`,
//! `library_coarse`, `raw_sharded_map`, `raw_sharded_map_tick`,
//! `raw_atomics`; case one of `single_seat`, `four_seats`,
//! `hot_100_seats`) the binary runs that many
//! cycles of one contender on one thread inside `measured`, after as many
//! unmeasured ones: made for counting instructions per cycle, which other
//! work on the machine does not change:
//!
//! ```sh
//! valgrind --tool=callgrind --toggle-collect='*measured*' \
//!     target/release/deps/memory-<hash> # with MEMORY_PROFILE set
//! ```
//!
//! Every "cycle" is a hold followed by a release of the same seats. Each
//! variant runs at 1 and 2 threads; with 2, each thread does half the
//! cycles, so the figure is wall-clock time per cycle across both.
#![allow(missing_docs)]
// The counting allocator below is the only unsafe code: it forwards to `System`.
#![allow(unsafe_code)]

use booking_core::{HoldAction, HoldBest, HoldSeats, OwnerId, PriceCategory, SeatId, ShowId, ShowSpec, VenueLayout};
use booking_memory::MemoryInventory;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicIsize, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Counts live heap bytes while `COUNTING` is on (only while measuring
/// memory per seat, so the timed runs pay one uncontended load per call).
struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);
static COUNTING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn count(delta: isize) {
    if COUNTING.load(Ordering::Relaxed) {
        LIVE.fetch_add(delta, Ordering::Relaxed);
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        count(l.size() as isize);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        count(-(l.size() as isize));
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        count(new as isize - l.size() as isize);
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const SEATS: u32 = 50_000;
const TTL_MS: i64 = 8 * 60_000;

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Picks a cycle's seats: (thread, cycle number, seats to fill).
type Pick = fn(usize, u64, &mut [u32]);

/// The operations a contender must offer.
trait Cycle: Send + Sync + 'static {
    /// Holds `seats` for `owner`, then releases them. Returns false when a
    /// seat was taken (hot contention).
    fn cycle(&self, owner: u128, seats: &[u32]) -> bool;
}

// ---------------------------------------------------------------- library

struct Library {
    inv: MemoryInventory,
    show: ShowId,
}

impl Library {
    /// The default configuration: system clock, per-owner limit of 8.
    fn new(seats: u32) -> Self {
        Self::with(seats, MemoryInventory::new(), Some(8))
    }

    /// A tick clock and no per-owner limit: the leanest configuration.
    fn lean(seats: u32) -> Self {
        Self::with(seats, Self::tick(), None)
    }

    /// The system clock without a per-owner limit (profiling only).
    fn no_limit(seats: u32) -> Self {
        Self::with(seats, MemoryInventory::new(), None)
    }

    /// The tick clock with the per-owner limit of 8 (profiling only).
    fn tick_limited(seats: u32) -> Self {
        Self::with(seats, Self::tick(), Some(8))
    }

    /// The coarse system clock (`CoarseClock`: the kernel tick's reading,
    /// no background thread) with the per-owner limit of 8.
    fn coarse(seats: u32) -> Self {
        Self::with(seats, MemoryInventory::with_clock(Arc::new(booking_memory::CoarseClock)), Some(8))
    }

    fn tick() -> MemoryInventory {
        let clock = booking_memory::TickClock::start().expect("clock thread");
        MemoryInventory::with_clock(Arc::new(clock))
    }

    fn with(seats: u32, inv: MemoryInventory, per_owner: Option<u32>) -> Self {
        let mut spec = ShowSpec::new("bench", VenueLayout::grid(1, seats.div_ceil(50), 50, PriceCategory(1)));
        spec.policy.max_held_per_owner = per_owner;
        inv.create_show_sync(&spec).expect("create");
        Library { inv, show: spec.id }
    }
}

thread_local! {
    /// Each thread's request seat list, refilled for every hold: a caller
    /// in a loop keeps its buffer, as the raw contenders take their seats
    /// by reference. (The hold's token still owns a list of its own.)
    static REQUEST_SEATS: std::cell::Cell<Vec<SeatId>> = const { std::cell::Cell::new(Vec::new()) };
}

impl Cycle for Library {
    fn cycle(&self, owner: u128, seats: &[u32]) -> bool {
        let mut list = REQUEST_SEATS.take();
        list.clear();
        list.extend(seats.iter().map(|s| SeatId(*s)));
        let req = HoldSeats { show: self.show, owner: OwnerId::from_u128(owner), seats: list };
        let held = match self.inv.hold_seats_sync(&req) {
            Ok(h) => {
                self.inv.release_sync(&HoldAction { owner: h.owner, token: h.token }).expect("release");
                true
            }
            Err(_) => false,
        };
        REQUEST_SEATS.set(req.seats);
        held
    }
}

// ---------------------------------------------------------- raw: atomics

/// One u64 per seat: 0 = free, else (owner tag << 40 | expiry seconds).
/// The leanest possible all-or-nothing hold: CAS each seat, undo on failure.
struct RawAtomics {
    seats: Vec<AtomicU64>,
}

impl Cycle for RawAtomics {
    fn cycle(&self, owner: u128, seats: &[u32]) -> bool {
        let now = now_ms();
        let word = ((owner as u64 & 0xff_ffff) << 40) | (((now + TTL_MS) / 1000) as u64 & 0xff_ffff_ffff);
        for (i, s) in seats.iter().enumerate() {
            let cell = &self.seats[*s as usize];
            let cur = cell.load(Ordering::Acquire);
            let expired = cur != 0 && ((cur & 0xff_ffff_ffff) as i64) * 1000 <= now;
            if (cur != 0 && !expired) || cell.compare_exchange(cur, word, Ordering::AcqRel, Ordering::Acquire).is_err()
            {
                for undo in &seats[..i] {
                    self.seats[*undo as usize].store(0, Ordering::Release);
                }
                return false;
            }
        }
        let now = now_ms();
        for s in seats {
            let cell = &self.seats[*s as usize];
            let cur = cell.load(Ordering::Acquire);
            if cur == word && ((cur & 0xff_ffff_ffff) as i64) * 1000 > now - 1000 {
                cell.store(0, Ordering::Release);
            }
        }
        true
    }
}

// ------------------------------------------------------ raw: sharded map

#[derive(Clone, Copy, Default)]
struct RawSeat {
    owner: u128,
    until: i64,
    version: u64,
    held: bool,
}

/// A DashMap-like sharded map (64 mutex-guarded HashMap shards) holding
/// owner, expiry and version per seat: the update a hand-written in-process
/// store would do, with multi-seat holds locking shards in order.
struct RawShardedMap {
    shards: Vec<Mutex<HashMap<u32, RawSeat>>>,
    /// Read instead of the system clock when set.
    tick: Option<booking_memory::TickClock>,
}

const RAW_SHARDS: usize = 64;

impl RawShardedMap {
    fn new(seats: u32, tick: Option<booking_memory::TickClock>) -> Self {
        let mut shards: Vec<HashMap<u32, RawSeat>> = (0..RAW_SHARDS).map(|_| HashMap::new()).collect();
        for s in 0..seats {
            shards[s as usize % RAW_SHARDS].insert(s, RawSeat::default());
        }
        RawShardedMap { shards: shards.into_iter().map(Mutex::new).collect(), tick }
    }

    fn now(&self) -> i64 {
        use booking_core::Clock;
        self.tick.as_ref().map_or_else(now_ms, |t| t.now_millis())
    }
}

impl RawShardedMap {
    /// The distinct shards of `seats` in ascending order, on the stack.
    fn shards_of(seats: &[u32]) -> ([usize; 4], usize) {
        let mut ids = [usize::MAX; 4];
        let mut n = 0;
        for s in seats {
            let k = *s as usize % RAW_SHARDS;
            if !ids[..n].contains(&k) {
                ids[n] = k;
                n += 1;
            }
        }
        ids[..n].sort_unstable();
        (ids, n)
    }
}

impl Cycle for RawShardedMap {
    fn cycle(&self, owner: u128, seats: &[u32]) -> bool {
        let (ids, n) = Self::shards_of(seats);
        let now = self.now();
        {
            let mut guards: [Option<std::sync::MutexGuard<'_, HashMap<u32, RawSeat>>>; 4] = Default::default();
            for (g, k) in guards.iter_mut().zip(&ids[..n]) {
                *g = Some(self.shards[*k].lock().expect("lock"));
            }
            let slot = |s: u32| ids[..n].iter().position(|&k| k == s as usize % RAW_SHARDS).unwrap_or(0);
            for s in seats {
                let seat = guards[slot(*s)].as_ref().expect("locked")[s];
                if seat.held && seat.until > now {
                    return false;
                }
            }
            for s in seats {
                let seat = guards[slot(*s)].as_mut().expect("locked").get_mut(s).expect("seat");
                *seat = RawSeat { owner, until: now + TTL_MS, version: seat.version + 1, held: true };
            }
        }
        let now = self.now();
        let mut guards: [Option<std::sync::MutexGuard<'_, HashMap<u32, RawSeat>>>; 4] = Default::default();
        for (g, k) in guards.iter_mut().zip(&ids[..n]) {
            *g = Some(self.shards[*k].lock().expect("lock"));
        }
        let slot = |s: u32| ids[..n].iter().position(|&k| k == s as usize % RAW_SHARDS).unwrap_or(0);
        for s in seats {
            let seat = guards[slot(*s)].as_mut().expect("locked").get_mut(s).expect("seat");
            if seat.held && seat.owner == owner && seat.until > now {
                *seat = RawSeat { owner: 0, until: 0, version: seat.version + 1, held: false };
            }
        }
        true
    }
}

// ---------------------------------------------------------------- driver

/// Runs `iters` cycles split over `threads`, each thread picking seats with
/// `pick(thread, i)`; returns wall time.
fn run<C: Cycle>(c: &Arc<C>, threads: usize, iters: u64, n: usize, pick: Pick) -> Duration {
    let start = Instant::now();
    std::thread::scope(|scope| {
        for t in 0..threads {
            let c = c.clone();
            scope.spawn(move || {
                let mut seats = vec![0u32; n];
                let owner = 0x1000 + t as u128;
                for i in 0..iters / threads as u64 {
                    pick(t, i, &mut seats);
                    black_box(c.cycle(owner, &seats));
                }
            });
        }
    });
    start.elapsed()
}

/// Single seat, each thread in its own half of the show.
fn single(t: usize, i: u64, out: &mut [u32]) {
    out[0] = (t as u32 * SEATS / 2) + (i % (SEATS as u64 / 2)) as u32;
}

/// Four adjacent seats, each thread in its own half of the show.
fn four(t: usize, i: u64, out: &mut [u32]) {
    let base = (t as u32 * SEATS / 2) + ((i * 4) % (SEATS as u64 / 2 - 4)) as u32;
    for (k, s) in out.iter_mut().enumerate() {
        *s = base + k as u32;
    }
}

/// One of 100 hot seats, shared by every thread.
fn hot(t: usize, i: u64, out: &mut [u32]) {
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (t as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 31;
    out[0] = (x % 100) as u32;
}

fn cycles(c: &mut Criterion) {
    let lib = Arc::new(Library::new(SEATS));
    let lean = Arc::new(Library::lean(SEATS));
    let atomics = Arc::new(RawAtomics { seats: (0..SEATS).map(|_| AtomicU64::new(0)).collect() });
    let map = Arc::new(RawShardedMap::new(SEATS, None));
    let map_tick = Arc::new(RawShardedMap::new(SEATS, Some(booking_memory::TickClock::start().expect("clock thread"))));
    for (name, n, pick) in [("single_seat", 1, single as Pick), ("four_seats", 4, four), ("hot_100_seats", 1, hot)] {
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Elements(1));
        for threads in [1usize, 2] {
            g.bench_function(BenchmarkId::new("library", threads), |b| {
                b.iter_custom(|iters| run(&lib, threads, iters, n, pick))
            });
            g.bench_function(BenchmarkId::new("library_lean", threads), |b| {
                b.iter_custom(|iters| run(&lean, threads, iters, n, pick))
            });
            g.bench_function(BenchmarkId::new("raw_sharded_map", threads), |b| {
                b.iter_custom(|iters| run(&map, threads, iters, n, pick))
            });
            g.bench_function(BenchmarkId::new("raw_sharded_map_tick", threads), |b| {
                b.iter_custom(|iters| run(&map_tick, threads, iters, n, pick))
            });
            g.bench_function(BenchmarkId::new("raw_atomics", threads), |b| {
                b.iter_custom(|iters| run(&atomics, threads, iters, n, pick))
            });
        }
        g.finish();
    }
}

/// What a team would write by hand for best-available: one mutex over the
/// show's seats, a scan of the rows in layout order for the first `n`
/// adjacent free seats, marked held under the same lock (no orphan rule,
/// no middle-of-row preference, no categories).
struct RawBest {
    seats: Mutex<Vec<RawSeat>>,
    blocked: Vec<bool>,
    per_row: usize,
}

impl RawBest {
    fn hold_best(&self, owner: u128, n: usize) -> Option<Vec<u32>> {
        let now = now_ms();
        let mut seats = self.seats.lock().unwrap_or_else(|e| e.into_inner());
        let free = |s: &RawSeat, i: usize| !self.blocked[i] && (!s.held || s.until <= now);
        let mut run = 0usize;
        for i in 0..seats.len() {
            if i % self.per_row == 0 {
                run = 0;
            }
            run = if free(&seats[i], i) { run + 1 } else { 0 };
            if run == n {
                let picked: Vec<u32> = (i + 1 - n..=i).map(|s| s as u32).collect();
                for &p in &picked {
                    let seat = &mut seats[p as usize];
                    *seat = RawSeat { owner, until: now + TTL_MS, version: seat.version + 1, held: true };
                }
                return Some(picked);
            }
        }
        None
    }

    fn release(&self, owner: u128, picked: &[u32]) {
        let mut seats = self.seats.lock().unwrap_or_else(|e| e.into_inner());
        for &p in picked {
            let seat = &mut seats[p as usize];
            if seat.held && seat.owner == owner {
                *seat = RawSeat { version: seat.version + 1, ..RawSeat::default() };
            }
        }
    }
}

/// Best-available pair on a 50,000-seat show that is 90% sold, then
/// release; beside it the same on an empty show, and a single-seat
/// hold+release on the same show for scale.
fn best_available(c: &mut Criterion) {
    const PER_ROW: u32 = 50;
    let layout = || VenueLayout::grid(10, SEATS / 10 / PER_ROW, PER_ROW, PriceCategory(1));
    let sold_out = |s: u32| s % 20 >= 2;
    let mut g = c.benchmark_group("best_available_50k");
    g.throughput(Throughput::Elements(1));
    for (case, sold) in [("90pct_sold", true), ("empty", false)] {
        let inv = MemoryInventory::new();
        let spec = ShowSpec::new("best", layout())
            .with_policy(booking_core::HoldPolicy { max_held_per_owner: None, ..Default::default() });
        inv.create_show_sync(&spec).expect("create");
        let blocked: Vec<bool> = (0..SEATS).map(|s| sold && sold_out(s)).collect();
        let to_block: Vec<SeatId> = (0..SEATS).filter(|&s| blocked[s as usize]).map(SeatId).collect();
        for chunk in to_block.chunks(10_000) {
            inv.block_sync(spec.id, chunk).expect("block");
        }
        let best = |owner| HoldBest { show: spec.id, owner, quantity: 2, section: None, category: None };
        g.bench_function(BenchmarkId::new("library", case), |b| {
            b.iter(|| {
                let h = inv.hold_best_sync(&best(OwnerId::new())).expect("best");
                inv.release_sync(&HoldAction { owner: h.owner, token: h.token }).expect("release");
            })
        });
        let raw =
            RawBest { seats: Mutex::new(vec![RawSeat::default(); SEATS as usize]), blocked, per_row: PER_ROW as usize };
        let mut owner = 0u128;
        g.bench_function(BenchmarkId::new("raw_scan", case), |b| {
            b.iter(|| {
                owner += 1;
                let picked = raw.hold_best(owner, 2).expect("best");
                raw.release(owner, &picked);
            })
        });
        let seat = (0..SEATS).find(|&s| !sold_out(s)).unwrap_or(0);
        g.bench_function(BenchmarkId::new("library_single_seat", case), |b| {
            b.iter(|| {
                let h = inv
                    .hold_seats_sync(&HoldSeats { show: spec.id, owner: OwnerId::new(), seats: vec![SeatId(seat)] })
                    .expect("hold");
                inv.release_sync(&HoldAction { owner: h.owner, token: h.token }).expect("release");
            })
        });
    }
    g.finish();
}

/// [`bytes_per_seat`] among the criterion targets.
fn memory_per_seat(_: &mut Criterion) {
    bytes_per_seat();
}

/// Prints the heap bytes per seat the inventory holds for a 1,000,000-seat show.
fn bytes_per_seat() {
    let spec = ShowSpec::new("big", VenueLayout::grid(10, 1_000, 100, PriceCategory(1)));
    let inv = MemoryInventory::new();
    COUNTING.store(true, Ordering::SeqCst);
    let before = LIVE.load(Ordering::SeqCst);
    inv.create_show_sync(&spec).expect("create");
    let after = LIVE.load(Ordering::SeqCst);
    COUNTING.store(false, Ordering::SeqCst);
    println!("memory_per_seat: {:.1} bytes ({} seats)", (after - before) as f64 / 1_000_000.0, 1_000_000);
    black_box(&inv);
}

// ------------------------------------------------------------- profiling

/// The cycles whose instructions are counted (see the header): kept out of
/// line so that callgrind's `--toggle-collect` can name it.
#[inline(never)]
fn measured<C: Cycle>(c: &C, cycles: u64, n: usize, pick: Pick) -> u64 {
    let mut seats = vec![0u32; n];
    let mut done = 0;
    for i in 0..cycles {
        pick(0, i, &mut seats);
        done += u64::from(black_box(c.cycle(0x1000, &seats)));
    }
    done
}

/// Warms `c` up with `cycles` unmeasured cycles, then runs `measured`.
fn profile_one<C: Cycle>(c: C, cycles: u64, n: usize, pick: Pick) {
    // The warm-up walks different seats, as the measured cycles will.
    let warm = |t: usize, i: u64, out: &mut [u32]| pick(t, i + cycles, out);
    let mut seats = vec![0u32; n];
    for i in 0..cycles {
        warm(0, i, &mut seats);
        black_box(c.cycle(0x1000, &seats));
    }
    let start = Instant::now();
    let done = measured(&c, cycles, n, pick);
    let took = start.elapsed();
    println!("{done} of {cycles} cycles held, {:.1} ns per cycle", took.as_nanos() as f64 / cycles as f64);
}

/// Runs the profiling mode described in the header.
fn profile(spec: &str) {
    let parts: Vec<&str> = spec.split(',').collect();
    let [contender, case, cycles] = parts[..] else {
        panic!("MEMORY_PROFILE=<contender>,<case>,<cycles>, not {spec:?}");
    };
    let cycles: u64 = cycles.parse().expect("cycles: a number");
    let (n, pick): (usize, Pick) = match case {
        "single_seat" => (1, single),
        "four_seats" => (4, four),
        "hot_100_seats" => (1, hot),
        _ => panic!("unknown case {case:?}"),
    };
    let tick = || Some(booking_memory::TickClock::start().expect("clock thread"));
    match contender {
        "library" => profile_one(Library::new(SEATS), cycles, n, pick),
        "library_lean" => profile_one(Library::lean(SEATS), cycles, n, pick),
        "library_no_limit" => profile_one(Library::no_limit(SEATS), cycles, n, pick),
        "library_tick" => profile_one(Library::tick_limited(SEATS), cycles, n, pick),
        "library_coarse" => profile_one(Library::coarse(SEATS), cycles, n, pick),
        "raw_sharded_map" => profile_one(RawShardedMap::new(SEATS, None), cycles, n, pick),
        "raw_sharded_map_tick" => profile_one(RawShardedMap::new(SEATS, tick()), cycles, n, pick),
        "raw_atomics" => {
            profile_one(RawAtomics { seats: (0..SEATS).map(|_| AtomicU64::new(0)).collect() }, cycles, n, pick)
        }
        _ => panic!("unknown contender {contender:?}"),
    }
}

// ------------------------------------------------------ interleaved table

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The middle value (the upper one of the two middle values of an even count).
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Runs a contender: (threads, cycles, seats per cycle, pick) to wall time.
type Runner = Box<dyn Fn(usize, u64, usize, Pick) -> Duration>;

/// `c` behind a [`Runner`] (the cycles themselves are not behind a
/// virtual call: each runner calls its own monomorphized [`run`]).
fn runner<C: Cycle>(c: C) -> Runner {
    let c = Arc::new(c);
    Box::new(move |threads, iters, n, pick| run(&c, threads, iters, n, pick))
}

/// The contenders of the table, in the order a round starts from.
fn contenders() -> Vec<(&'static str, Runner)> {
    let tick = || Some(booking_memory::TickClock::start().expect("clock thread"));
    vec![
        ("library", runner(Library::new(SEATS))),
        ("library_no_limit", runner(Library::no_limit(SEATS))),
        ("library_tick", runner(Library::tick_limited(SEATS))),
        ("library_lean", runner(Library::lean(SEATS))),
        ("library_coarse", runner(Library::coarse(SEATS))),
        ("raw_sharded_map", runner(RawShardedMap::new(SEATS, None))),
        ("raw_sharded_map_tick", runner(RawShardedMap::new(SEATS, tick()))),
        ("raw_atomics", runner(RawAtomics { seats: (0..SEATS).map(|_| AtomicU64::new(0)).collect() })),
    ]
}

/// Prints the interleaved table described in the header.
fn table() {
    let secs: f64 = env("BENCH_SECS", 1.0);
    let runs: usize = env("BENCH_RUNS", 5).max(1);
    let contenders = contenders();
    let index = |name: &str| contenders.iter().position(|(n, _)| *n == name).expect("contender");
    let mut rows: Vec<(&str, usize, Pick, usize)> = Vec::new();
    for (case, n, pick) in [("single seat", 1, single as Pick), ("four seats", 4, four), ("hot 100 seats", 1, hot)] {
        for threads in [1, 2] {
            rows.push((case, n, pick, threads));
        }
    }
    // Cycles per run: doubled until a run takes 50 ms (which also warms
    // every contender up), then scaled to `secs`.
    let mut cycles = vec![vec![0u64; contenders.len()]; rows.len()];
    for (r, &(_, n, pick, threads)) in rows.iter().enumerate() {
        for (c, (_, f)) in contenders.iter().enumerate() {
            let mut k = 1_024u64;
            let took = loop {
                let took = f(threads, k, n, pick);
                if took >= Duration::from_millis(50) || k >= 1 << 40 {
                    break took;
                }
                k *= 2;
            };
            let want = (k as f64 * secs / took.as_secs_f64()).max(threads as f64) as u64;
            cycles[r][c] = want - want % threads as u64;
        }
    }
    // ns per cycle, per row, contender and round.
    let mut ns = vec![vec![Vec::with_capacity(runs); contenders.len()]; rows.len()];
    for round in 0..runs {
        for (r, &(_, n, pick, threads)) in rows.iter().enumerate() {
            for j in 0..contenders.len() {
                let c = (j + round) % contenders.len();
                let took = contenders[c].1(threads, cycles[r][c], n, pick);
                ns[r][c].push(took.as_nanos() as f64 / cycles[r][c] as f64);
            }
        }
        eprintln!("round {} of {runs} done", round + 1);
    }
    // Median over rounds of raw / library time in the same round, with the
    // lowest and highest round.
    let ratio = |r: usize, lib: usize, raw: usize| {
        let per_round: Vec<f64> = ns[r][raw].iter().zip(&ns[r][lib]).map(|(raw, lib)| raw / lib).collect();
        let lo = per_round.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = per_round.iter().copied().fold(0.0, f64::max);
        format!("{:.2}x ({lo:.2}-{hi:.2})", median(per_round))
    };
    let time = |r: usize, c: usize| format!("{:.0} ns", median(ns[r][c].clone()));
    let rate = |r: usize, c: usize| {
        let t = median(ns[r][c].clone());
        format!("{t:.0} ns ({:.1}M/s)", 1_000.0 / t)
    };
    let [lib, no_limit, tick, lean, coarse, map, map_tick, atomics] = [
        "library",
        "library_no_limit",
        "library_tick",
        "library_lean",
        "library_coarse",
        "raw_sharded_map",
        "raw_sharded_map_tick",
        "raw_atomics",
    ]
    .map(index);
    println!(
        "Medians of {runs} interleaved rounds of ~{secs} s per contender and row; ratios are raw time / library time"
    );
    println!("in the same round (median, lowest-highest round): above 1 the library is faster.\n");
    println!(
        "| case | threads | library | library lean | raw map | raw map tick | raw atomics | library vs raw map | lean vs raw map tick |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (r, &(case, _, _, threads)) in rows.iter().enumerate() {
        println!(
            "| {case} | {threads} | {} | {} | {} | {} | {} | {} | {} |",
            rate(r, lib),
            rate(r, lean),
            time(r, map),
            time(r, map_tick),
            time(r, atomics),
            ratio(r, lib, map),
            ratio(r, lean, map_tick),
        );
    }
    println!("\nThe library's configurations, each against the raw map on the same clock");
    println!("(the coarse clock against the raw map on the system clock):\n");
    println!(
        "| case | threads | default (system clock, limit 8) | no owner limit | tick clock, limit 8 | lean (tick clock, no limit) | coarse clock, limit 8 |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (r, &(case, _, _, threads)) in rows.iter().enumerate() {
        println!(
            "| {case} | {threads} | {}, {} | {}, {} | {}, {} | {}, {} | {}, {} |",
            time(r, lib),
            ratio(r, lib, map),
            time(r, no_limit),
            ratio(r, no_limit, map),
            time(r, tick),
            ratio(r, tick, map_tick),
            time(r, lean),
            ratio(r, lean, map_tick),
            time(r, coarse),
            ratio(r, coarse, map),
        );
    }
    println!();
    bytes_per_seat();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2)).sample_size(20);
    targets = memory_per_seat, cycles, best_available
}

fn main() {
    if let Ok(spec) = std::env::var("MEMORY_PROFILE") {
        profile(&spec);
        return;
    }
    if std::env::var_os("MEMORY_CRITERION").is_some() {
        benches();
        Criterion::default().configure_from_args().final_summary();
        return;
    }
    // `cargo bench` passes `--bench`; the table takes no arguments.
    table();
}
