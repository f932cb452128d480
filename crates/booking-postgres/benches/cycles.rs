//! Hold+release cycles through the library and through the same SQL sent
//! by pgbench, back to back on the same database.
//!
//! ```text
//! cargo bench -p booking-postgres --bench cycles -- [SECONDS] [REPEATS] [SCENARIO...]
//! ```
//!
//! The `library` contender is the inventory with `without_coalescing()`;
//! the coalesced one is the default inventory, or runs with
//! `BENCH_COALESCE=<max_batch>,<max_in_flight>` (default `64,4`, as
//! `DEFAULT_COALESCING`). `BENCH_ONLY=coalesced` runs the coalesced
//! contender alone (the other columns print `NaN`), for comparing
//! coalescing settings. The library's callers hold for a new owner each
//! time (an owner's first hold in the show); with `BENCH_OWNERS=returning`
//! each caller keeps one owner for all its holds (an owner holding again,
//! whose hold reads the seats its row lists). The hand-written contenders
//! keep no owner accounts, so the setting changes nothing for them.
//!
//! Scenarios: `single` (one seat of a 50,000-seat show), `multi4` (four
//! adjacent seats, all or nothing), `hot` (one seat of a 100-seat show),
//! `best` (`hold_best` of two seats of the 50,000-seat show), each at 1, 8
//! and 32 concurrent callers. For `best`, pgbench runs a hand-written
//! contender: the first two free seats in seat order, picked with `FOR
//! UPDATE SKIP LOCKED ... LIMIT 2` and held with `booking.hold_seats` in the
//! same statement (no best-row logic: a lower bound for it), then released;
//! `hold_best` does not go through the coalescing lanes, so its coalesced
//! column is left out.
//!
//! Beside them runs the minimal code a team would write by hand for the
//! `single`, `multi4` and `hot` scenarios: a plain table of seats (show,
//! seat, state, owner, held_until, version) and one autocommit statement
//! per hold (`UPDATE ... SET state = held, owner, held_until = now() + ttl,
//! version = version + 1 WHERE show AND seat AND (available OR expired)`;
//! for four seats, the same `UPDATE` over a `FOR UPDATE` pick that applies
//! only when all four are free) and one per release (`UPDATE ... WHERE
//! owner AND state = held`). No hold id, no token, no change feed, no owner
//! accounting, no sale records: what the library does on top of this is
//! its value, and the ratio says what it costs. The hand-written statements
//! run twice: through pgbench (C, prepared) and through the same sqlx pool
//! the library uses (prepared). Reads `DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`) and (re)creates the database
//! `booking_bench` on that server. Prints one Markdown table row per
//! scenario and caller count: medians of REPEATS runs (default 3) of
//! SECONDS each (default 5). Within a repeat the contenders run one after
//! another, and the one that starts rotates from repeat to repeat (the
//! database each meets depends on what ran before it); each run starts
//! after a `VACUUM` of the database, as autovacuum would leave it between
//! bursts (a server without autovacuum otherwise hands every contender the
//! dead row versions of all the runs before it).
//!
//! The scenario `ladder` is an ablation of the single-seat cycle: the
//! hand-written statements, then the same with, one by one, what the
//! library writes on top of them, all through pgbench in the same run,
//! into the show's partitions of the library's tables as the library does:
//! (a) the hand-written `UPDATE`s; (b) (a) plus a change-feed row (with
//! `nextval`) per hold and per release; (c) (b) plus the `holds` row,
//! inserted by the hold and deleted by the release; (d) (c) plus the
//! advisory lock on (show, owner) and the count of the owner's live holds;
//! (e) the library's functions (`booking.hold_seats`,
//! `booking.finish_seats`, through their copies on the show's partition,
//! as the library calls them) on a show with the default owner limit,
//! (e0) on a show without one, and (e1) as (e) through the functions
//! themselves, which name the partitioned parent tables; then the library
//! itself through sqlx, with and without the owner limit. Each rung prints cycles/s, the ratio to (a)
//! and the WAL bytes written per cycle (`pg_stat_wal`, over the whole
//! server: run it alone).

use booking_core::{
    HoldAction, HoldBest, HoldSeats, InventoryError, OwnerId, PriceCategory, SeatId, SeatInventory, ShowId, ShowSpec,
    VenueLayout,
};
use booking_postgres::PgInventory;
use sqlx::Executor;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const DB: &str = "booking_bench";

/// Whether the library's callers keep one owner each
/// (`BENCH_OWNERS=returning`) instead of a new owner per hold.
fn returning_owners() -> bool {
    match std::env::var("BENCH_OWNERS").as_deref() {
        Ok("returning") => true,
        Ok("new") | Err(_) => false,
        Ok(other) => panic!("BENCH_OWNERS is `new` or `returning`, not {other:?}"),
    }
}

/// The coalesced contender's settings: `BENCH_COALESCE=<max_batch>,<max_in_flight>`
/// (default the library's, `DEFAULT_COALESCING`).
fn coalescing() -> booking_core::Coalescing {
    let v = std::env::var("BENCH_COALESCE").unwrap_or_default();
    let mut it = v.split(',').map(|x| x.trim().parse::<usize>().ok());
    let max_batch = it.next().flatten().unwrap_or(booking_postgres::DEFAULT_COALESCING.max_batch);
    let max_in_flight = it.next().flatten().unwrap_or(booking_postgres::DEFAULT_COALESCING.max_in_flight);
    booking_core::Coalescing { max_batch, max_in_flight }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Scenario {
    Single,
    Multi4,
    Hot,
    Best,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::Single => "single",
            Scenario::Multi4 => "multi4",
            Scenario::Hot => "hot",
            Scenario::Best => "best",
        }
    }

    /// Seats of the show and seats per hold.
    fn shape(self) -> (u32, u32) {
        match self {
            Scenario::Single => (50_000, 1),
            Scenario::Multi4 => (50_000, 4),
            Scenario::Hot => (100, 1),
            Scenario::Best => (50_000, 2),
        }
    }

    fn script(self) -> String {
        let (seats, n) = self.shape();
        if self == Scenario::Best {
            return format!(
                "\\set n random(1, 9223372036854775807)\n\
                 WITH p AS MATERIALIZED (SELECT array_agg(x.seat ORDER BY x.seat) AS s FROM (\
                 SELECT seat FROM booking.seats WHERE show = :show::uuid \
                 AND (state = 0 OR (state = 1 AND held_until <= booking.clock_ms())) \
                 ORDER BY seat LIMIT {n} FOR UPDATE SKIP LOCKED) x) \
                 SELECT (h.refusal IS NULL)::int AS done, h.version, p.s::text AS picked FROM p, booking.hold_seats(:show::uuid, \
                 lpad(to_hex(:n::bigint), 32, 'a')::uuid, lpad(to_hex(:n::bigint), 32, 'b')::uuid, p.s, NULL) h \
                 \\gset\n\
                 \\if :done\n\
                 SELECT refusal AS rcode FROM booking.finish_seats(:show::uuid, lpad(to_hex(:n::bigint), 32, 'a')::uuid, \
                 lpad(to_hex(:n::bigint), 32, 'b')::uuid, :version::bigint, :picked::int[], NULL, NULL, NULL) \\gset\n\
                 \\endif\n"
            );
        }
        let list =
            (0..n).map(|i| if i == 0 { ":s::int".to_owned() } else { format!(":s::int + {i}") }).collect::<Vec<_>>();
        let list = list.join(", ");
        format!(
            "\\set s random(0, {max})\n\
             \\set n random(1, 9223372036854775807)\n\
             SELECT (refusal IS NULL)::int AS done, version FROM booking.hold_seats(:show::uuid, lpad(to_hex(:n::bigint), 32, 'a')::uuid, \
             lpad(to_hex(:n::bigint), 32, 'b')::uuid, ARRAY[{list}], NULL) \\gset\n\
             \\if :done\n\
             SELECT refusal AS rcode FROM booking.finish_seats(:show::uuid, lpad(to_hex(:n::bigint), 32, 'a')::uuid, \
             lpad(to_hex(:n::bigint), 32, 'b')::uuid, :version::bigint, ARRAY[{list}], NULL, NULL, NULL) \\gset\n\
             \\endif\n",
            max = seats - n,
        )
    }
}

/// The hand-written contender's table, in the benchmark database.
const HANDWRITTEN_TABLE: &str = "CREATE TABLE handwritten_seats (\
    show uuid NOT NULL, seat int NOT NULL, state smallint NOT NULL DEFAULT 0, \
    owner uuid, held_until timestamptz, version bigint NOT NULL DEFAULT 0, \
    PRIMARY KEY (show, seat))";

/// The hand-written hold: `$1` show, `$2` seats, `$3` owner, `$4` how many
/// seats must be free. Answers how many seats it held (0 or `$4`).
const HANDWRITTEN_HOLD: &str = "WITH free AS (SELECT seat FROM handwritten_seats \
    WHERE show = $1 AND seat = ANY($2) AND (state = 0 OR held_until < now()) FOR UPDATE), \
    held AS (UPDATE handwritten_seats h SET state = 1, owner = $3, \
    held_until = now() + interval '8 minutes', version = h.version + 1 \
    FROM free WHERE h.show = $1 AND h.seat = free.seat AND (SELECT count(*) FROM free) = $4 RETURNING 1) \
    SELECT count(*) FROM held";

/// The hand-written single-seat hold, the one statement a team writes
/// first: `$1` show, `$2` seat, `$3` owner.
const HANDWRITTEN_HOLD_ONE: &str = "UPDATE handwritten_seats SET state = 1, owner = $3, \
    held_until = now() + interval '8 minutes', version = version + 1 \
    WHERE show = $1 AND seat = $2 AND (state = 0 OR held_until < now())";

/// The hand-written release: `$1` show, `$2` seats, `$3` owner.
const HANDWRITTEN_RELEASE: &str = "UPDATE handwritten_seats SET state = 0, owner = NULL, held_until = NULL, \
    version = version + 1 WHERE show = $1 AND seat = ANY($2) AND owner = $3 AND state = 1";

/// The hand-written statements as a pgbench script.
fn handwritten_script(scenario: Scenario) -> String {
    let (seats, n) = scenario.shape();
    let list = (0..n).map(|i| format!(":s::int + {i}")).collect::<Vec<_>>().join(", ");
    let owner = "lpad(to_hex(:n::bigint), 32, 'a')::uuid";
    let hold = if n == 1 {
        format!(
            "WITH held AS (UPDATE handwritten_seats SET state = 1, owner = {owner}, \
             held_until = now() + interval '8 minutes', version = version + 1 \
             WHERE show = :show::uuid AND seat = :s::int AND (state = 0 OR held_until < now()) RETURNING 1) \
             SELECT count(*) AS done FROM held \\gset"
        )
    } else {
        format!(
            "WITH free AS (SELECT seat FROM handwritten_seats WHERE show = :show::uuid AND seat = ANY(ARRAY[{list}]) \
             AND (state = 0 OR held_until < now()) FOR UPDATE), \
             held AS (UPDATE handwritten_seats h SET state = 1, owner = {owner}, \
             held_until = now() + interval '8 minutes', version = h.version + 1 \
             FROM free WHERE h.show = :show::uuid AND h.seat = free.seat AND (SELECT count(*) FROM free) = {n} RETURNING 1) \
             SELECT count(*) AS done FROM held \\gset"
        )
    };
    format!(
        "\\set s random(0, {max})\n\\set n random(1, 9223372036854775807)\n{hold}\n\\if :done\n\
         UPDATE handwritten_seats SET state = 0, owner = NULL, held_until = NULL, version = version + 1 \
         WHERE show = :show::uuid AND seat = ANY(ARRAY[{list}]) AND owner = {owner} AND state = 1;\n\\endif\n",
        max = seats - n,
    )
}

/// Runs the hand-written statements through the sqlx pool; returns hold
/// attempts per second and the fraction that succeeded.
async fn handwritten(pool: &sqlx::PgPool, show: ShowId, scenario: Scenario, callers: u32, secs: u64) -> (f64, f64) {
    let (seats, n) = scenario.shape();
    let gate = Arc::new(tokio::sync::Barrier::new(callers as usize));
    let warm: Vec<_> = (0..callers)
        .map(|_| {
            let (pool, gate) = (pool.clone(), gate.clone());
            tokio::spawn(async move {
                gate.wait().await;
                sqlx::query("SELECT 1").execute(&pool).await.expect("warm-up");
            })
        })
        .collect();
    for w in warm {
        w.await.expect("warm-up caller");
    }
    let (attempts, held) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let start = Instant::now();
    let deadline = start + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for c in 0..callers {
        let (pool, attempts, held) = (pool.clone(), attempts.clone(), held.clone());
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng(0x2545_F491_4F6C_DD1D ^ (u64::from(c) + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9));
            while Instant::now() < deadline {
                let s = rng.below(seats - n + 1) as i32;
                let list: Vec<i32> = (s..s + n as i32).collect();
                let owner = uuid::Uuid::now_v7();
                attempts.fetch_add(1, Ordering::Relaxed);
                let ok = if n == 1 {
                    let done = sqlx::query(HANDWRITTEN_HOLD_ONE)
                        .bind(show.0)
                        .bind(s)
                        .bind(owner)
                        .execute(&pool)
                        .await
                        .expect("hand-written hold");
                    done.rows_affected() == 1
                } else {
                    let done: i64 = sqlx::query_scalar(HANDWRITTEN_HOLD)
                        .bind(show.0)
                        .bind(&list)
                        .bind(owner)
                        .bind(i64::from(n))
                        .fetch_one(&pool)
                        .await
                        .expect("hand-written hold");
                    done == i64::from(n)
                };
                if ok {
                    sqlx::query(HANDWRITTEN_RELEASE)
                        .bind(show.0)
                        .bind(&list)
                        .bind(owner)
                        .execute(&pool)
                        .await
                        .expect("hand-written release");
                    held.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("caller");
    }
    let elapsed = start.elapsed().as_secs_f64();
    let a = attempts.load(Ordering::Relaxed) as f64;
    (a / elapsed, held.load(Ordering::Relaxed) as f64 / a.max(1.0))
}

/// A small xorshift generator per caller.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u32) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as u32
    }
}

/// Runs hold+release cycles through the library; returns hold attempts per
/// second and the fraction that succeeded.
async fn library(inv: &PgInventory, show: ShowId, scenario: Scenario, callers: u32, secs: u64) -> (f64, f64) {
    let (seats, n) = scenario.shape();
    // Open the callers' connections before the clock starts, as pgbench
    // does (its rate excludes connecting): one cheap statement per caller,
    // all at once.
    let gate = Arc::new(tokio::sync::Barrier::new(callers as usize));
    let warm: Vec<_> = (0..callers)
        .map(|_| {
            let (inv, gate) = (inv.clone(), gate.clone());
            tokio::spawn(async move {
                gate.wait().await;
                inv.sweep_expired(show, 1).await.expect("warm-up");
            })
        })
        .collect();
    for w in warm {
        w.await.expect("warm-up caller");
    }
    let (attempts, held) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let returning = returning_owners();
    let start = Instant::now();
    let deadline = start + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for c in 0..callers {
        let (inv, attempts, held) = (inv.clone(), attempts.clone(), held.clone());
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (u64::from(c) + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9));
            let mine = OwnerId::new();
            while Instant::now() < deadline {
                let s = rng.below(seats - n + 1);
                let owner = if returning { mine } else { OwnerId::new() };
                attempts.fetch_add(1, Ordering::Relaxed);
                let res = if scenario == Scenario::Best {
                    inv.hold_best(&HoldBest { show, owner, quantity: n, section: None, category: None }).await
                } else {
                    inv.hold_seats(&HoldSeats { show, owner, seats: (s..s + n).map(SeatId).collect() }).await
                };
                match res {
                    Ok(h) => {
                        inv.release(&HoldAction { owner: h.owner, token: h.token }).await.expect("release");
                        held.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(InventoryError::SeatsTaken { .. } | InventoryError::NoSeatsAvailable { .. }) => {}
                    Err(e) => panic!("hold failed: {e:?}"),
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("caller");
    }
    let elapsed = start.elapsed().as_secs_f64();
    let a = attempts.load(Ordering::Relaxed) as f64;
    (a / elapsed, held.load(Ordering::Relaxed) as f64 / a.max(1.0))
}

/// Runs the same statements with pgbench, calling the functions' copies on
/// the show's partition `part` as the library does; returns transactions
/// (hold attempts) per second.
fn pgbench(show: ShowId, part: i32, scenario: Scenario, callers: u32, secs: u64) -> f64 {
    let out = booking_postgres::testkit::pgbench(DB, &on_partition(&scenario.script(), part), show.0, callers, secs);
    out.field("tps = ").unwrap_or_else(|| panic!("pgbench failed: {}{}", out.stdout, out.stderr))
}

/// The partition of the per-show tables that holds the show's rows.
async fn partition(pool: &sqlx::PgPool, show: ShowId) -> i32 {
    sqlx::query_scalar("SELECT booking.show_partition($1)").bind(show.0).fetch_one(pool).await.expect("partition")
}

/// `script` with the library's functions replaced by their copies on
/// partition `part` (see the migration `partition_routes`), which is what
/// the library calls.
fn on_partition(script: &str, part: i32) -> String {
    script
        .replace("booking.hold_seats(", &format!("booking.hold_seats_p{part}("))
        .replace("booking.finish_seats(", &format!("booking.finish_seats_p{part}("))
}

/// The owner and hold ids of a ladder cycle, from pgbench's `:n`.
const LADDER_OWNER: &str = "lpad(to_hex(:n::bigint), 32, 'a')::uuid";
const LADDER_HOLD: &str = "lpad(to_hex(:n::bigint), 32, 'b')::uuid";

/// The ablation ladder's rungs: name, what it adds, and its pgbench script
/// (hold then, if held, release, on a 50,000-seat show whose rows are in
/// partition `part`, which the rungs write to as the library does).
fn ladder_rungs(part: i32) -> Vec<(&'static str, &'static str, String)> {
    let (o, h) = (LADDER_OWNER, LADDER_HOLD);
    let (changes, holds) = (format!("booking.changes_p{part}"), format!("booking.holds_p{part}"));
    let head = "\\set s random(0, 49999)\n\\set n random(1, 9223372036854775807)\n";
    let upd = format!(
        "UPDATE handwritten_seats SET state = 1, owner = {o}, held_until = now() + interval '8 minutes', \
         version = version + 1 WHERE show = :show::uuid AND seat = :s::int AND (state = 0 OR held_until < now())"
    );
    let rel = format!(
        "UPDATE handwritten_seats SET state = 0, owner = NULL, held_until = NULL, version = version + 1 \
         WHERE show = :show::uuid AND seat = :s::int AND owner = {o} AND state = 1"
    );
    let feed = |kind: u8| {
        format!(
            "INSERT INTO {changes} (show, stamp, kind, hold, seats, quantity, version) \
             SELECT :show::uuid, nextval('booking.change_stamp'), {kind}, {h}, ARRAY[:s::int], 1, u.version FROM u"
        )
    };
    let hold_row = format!(
        "h AS (INSERT INTO {holds} (show, hold, owner, pool, seats, quantity, held_until, deadline, renewals, \
         version) SELECT :show::uuid, {h}, {o}, NULL, ARRAY[:s::int], 1, booking.clock_ms() + 480000, \
         booking.clock_ms() + 1800000, 0, u.version FROM u), "
    );
    let drop_row =
        format!("d AS (DELETE FROM {holds} WHERE show = :show::uuid AND hold = {h} AND EXISTS (SELECT 1 FROM u)) ");
    let owner = format!(
        "l AS MATERIALIZED (SELECT pg_advisory_xact_lock(booking.owner_key(:show::uuid, {o})) AS k, \
         (SELECT coalesce(sum(quantity), 0) FROM {holds} WHERE show = :show::uuid AND owner = {o} \
         AND held_until > booking.clock_ms()) AS n), "
    );
    let cycle = |hold: String, release: String| format!("{head}{hold} \\gset\n\\if :done\n{release};\n\\endif\n");
    let a = cycle(format!("WITH u AS ({upd} RETURNING 1) SELECT count(*) AS done FROM u"), rel.clone());
    let b = cycle(
        format!("WITH u AS ({upd} RETURNING version), f AS ({}) SELECT count(*) AS done FROM u", feed(0)),
        format!("WITH u AS ({rel} RETURNING version) {}", feed(2)),
    );
    let c = cycle(
        format!("WITH u AS ({upd} RETURNING version), {hold_row}f AS ({}) SELECT count(*) AS done FROM u", feed(0)),
        format!("WITH u AS ({rel} RETURNING version), {drop_row}{}", feed(2)),
    );
    let d = cycle(
        format!(
            "WITH {owner}u AS ({upd} AND (SELECT n FROM l) < 8 RETURNING version), {hold_row}f AS ({}) \
             SELECT count(*) AS done FROM u",
            feed(0)
        ),
        format!("WITH u AS ({rel} RETURNING version), {drop_row}{}", feed(2)),
    );
    let e = Scenario::Single.script();
    vec![
        ("a", "hand-written UPDATE", a),
        ("b", "(a) + feed row", b),
        ("c", "(b) + holds row", c),
        ("d", "(c) + advisory lock, owner count", d),
        ("e", "library functions, owner limit 8", e.clone()),
        ("e0", "library functions, no owner limit", e.clone()),
        ("e1", "library functions through the parent tables, owner limit 8", e),
    ]
}

/// WAL bytes the server has written so far.
async fn wal_bytes(pool: &sqlx::PgPool) -> f64 {
    sqlx::query_scalar("SELECT wal_bytes::float8 FROM pg_stat_wal").fetch_one(pool).await.expect("pg_stat_wal")
}

/// The ablation ladder (scenario `ladder`): each rung at 1, 8 and 32
/// callers, medians of `repeats` interleaved runs.
fn ladder(rt: &tokio::runtime::Runtime, pool: &sqlx::PgPool, show: ShowId, open: ShowId, secs: u64, repeats: usize) {
    println!("| callers | rung | cycles/s | vs (a) | WAL bytes / cycle |");
    println!("|---|---|---|---|---|");
    let rungs = ladder_rungs(rt.block_on(partition(pool, show)));
    for callers in [1u32, 8, 32] {
        // rung index -> (rates, WAL bytes per cycle); the last two: sqlx.
        let mut rates = vec![Vec::new(); rungs.len() + 2];
        let mut wal = vec![Vec::new(); rungs.len() + 2];
        for _ in 0..repeats {
            for (k, (name, _, script)) in rungs.iter().enumerate() {
                let target = if *name == "e0" { open } else { show };
                // e and e0 call the copies on the show's partition, as the
                // library does; e1 the functions themselves.
                let script = match *name {
                    "e" | "e0" => on_partition(script, rt.block_on(partition(pool, target))),
                    _ => script.clone(),
                };
                let before = rt.block_on(wal_bytes(pool));
                let out = booking_postgres::testkit::pgbench(DB, &script, target.0, callers, secs);
                let after = rt.block_on(wal_bytes(pool));
                // (A run too short to connect every caller ends with no
                // transaction and no rate.)
                let done = out.field("number of transactions actually processed: ");
                let tps = out
                    .field("tps = ")
                    .or(done.filter(|&n| n == 0.0))
                    .unwrap_or_else(|| panic!("pgbench failed: {}{}", out.stdout, out.stderr));
                let n = done.unwrap_or(1.0).max(1.0);
                rates[k].push(tps);
                wal[k].push((after - before) / n);
            }
            for (k, target) in [(rungs.len(), show), (rungs.len() + 1, open)] {
                let inv = PgInventory::builder(pool.clone()).without_coalescing().build();
                let before = rt.block_on(wal_bytes(pool));
                let (rate, _) = rt.block_on(library(&inv, target, Scenario::Single, callers, secs));
                let after = rt.block_on(wal_bytes(pool));
                drop(inv);
                rates[k].push(rate);
                wal[k].push((after - before) / (rate * secs as f64).max(1.0));
            }
        }
        let base = median(rates[0].clone());
        let names = rungs
            .iter()
            .map(|(n, what, _)| format!("({n}) {what}"))
            .chain(["library via sqlx, owner limit 8".to_owned(), "library via sqlx, no owner limit".to_owned()]);
        for (k, name) in names.enumerate() {
            let r = median(rates[k].clone());
            println!("| {callers} | {name} | {r:.0} | {:.2} | {:.0} |", r / base, median(wal[k].clone()));
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    // (NaN when the contender did not run.)
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

async fn setup() -> (sqlx::PgPool, ShowId, ShowId, ShowId) {
    let pool = booking_postgres::testkit::recreate_database(DB, 33).await;
    let inv = PgInventory::new(pool.clone());
    let policy = booking_core::HoldPolicy::default();
    let big = ShowSpec::new("bench", VenueLayout::grid(1, 500, 100, PriceCategory(1))).with_policy(policy.clone());
    let hot = ShowSpec::new("hot", VenueLayout::grid(1, 1, 100, PriceCategory(1))).with_policy(policy);
    inv.create_show(&big).await.expect("create big show");
    inv.create_show(&hot).await.expect("create hot show");
    let open_policy = booking_core::HoldPolicy { max_held_per_owner: None, ..booking_core::HoldPolicy::default() };
    let open = ShowSpec::new("open", VenueLayout::grid(1, 500, 100, PriceCategory(1))).with_policy(open_policy);
    inv.create_show(&open).await.expect("create show without owner limit");
    pool.execute(HANDWRITTEN_TABLE).await.expect("hand-written table");
    for (show, seats) in [(big.id, 50_000), (hot.id, 100)] {
        sqlx::query("INSERT INTO handwritten_seats (show, seat) SELECT $1, g FROM generate_series(0, $2 - 1) g")
            .bind(show.0)
            .bind(seats)
            .execute(&pool)
            .await
            .expect("hand-written seats");
    }
    pool.execute("VACUUM ANALYZE").await.expect("vacuum");
    (pool, big.id, hot.id, open.id)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let secs: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(5);
    let repeats: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(3);
    let with_ladder = args.iter().any(|a| a == "ladder");
    let mut scenarios: Vec<Scenario> = args
        .iter()
        .filter_map(|a| match a.as_str() {
            "single" => Some(Scenario::Single),
            "multi4" => Some(Scenario::Multi4),
            "hot" => Some(Scenario::Hot),
            "best" => Some(Scenario::Best),
            _ => None,
        })
        .collect();
    if scenarios.is_empty() && !with_ladder {
        scenarios = vec![Scenario::Single, Scenario::Multi4, Scenario::Hot, Scenario::Best];
    }
    let coalesced_only = std::env::var("BENCH_ONLY").is_ok_and(|v| v == "coalesced");
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let (pool, big, hot, open) = rt.block_on(setup());
    if with_ladder {
        ladder(&rt, &pool, big, open, secs, repeats);
        if scenarios.is_empty() {
            return;
        }
    }
    println!(
        "| scenario | callers | hand-written, pgbench | hand-written, sqlx | library | vs hand-written sqlx | \
         coalesced | vs hand-written sqlx | library functions, pgbench | held (lib / coalesced) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for scenario in scenarios {
        let show = if scenario == Scenario::Hot { hot } else { big };
        // hold_best has no hand-written twin here (its pgbench script is
        // the hand-written contender) and does not coalesce.
        let plain = scenario != Scenario::Best;
        for callers in [1u32, 8, 32] {
            let (mut hw_bench, mut hw_sqlx, mut raw, mut lib, mut ok, mut co, mut co_ok) =
                (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
            // Each repeat runs the contenders in turn, the first one rotating
            // from repeat to repeat: the database a contender meets (dead
            // row versions, autovacuum at work, the owners' rows) depends
            // on who ran before it, and no contender always runs last.
            for r in 0..repeats {
                for k in 0..5 {
                    let contender = (k + r) % 5;
                    if coalesced_only && contender != 4 {
                        continue;
                    }
                    // Every contender meets the tables vacuumed (what
                    // autovacuum does between bursts on a server that runs
                    // it), not the dead row versions of the one before.
                    rt.block_on(pool.execute("VACUUM")).expect("vacuum");
                    match contender {
                        0 if plain => {
                            let script = handwritten_script(scenario);
                            let out = booking_postgres::testkit::pgbench(DB, &script, show.0, callers, secs);
                            hw_bench.push(
                                out.field("tps = ")
                                    .unwrap_or_else(|| panic!("pgbench failed: {}{}", out.stdout, out.stderr)),
                            );
                        }
                        1 if plain => hw_sqlx.push(rt.block_on(handwritten(&pool, show, scenario, callers, secs)).0),
                        2 => raw.push(pgbench(show, rt.block_on(partition(&pool, show)), scenario, callers, secs)),
                        3 => {
                            // A fresh inventory per run; dropping it closes its connections.
                            let inv = PgInventory::builder(pool.clone()).without_coalescing().build();
                            let (l, f) = rt.block_on(library(&inv, show, scenario, callers, secs));
                            drop(inv);
                            lib.push(l);
                            ok.push(f);
                        }
                        4 if plain => {
                            let merged = PgInventory::builder(pool.clone()).coalesce(coalescing()).build();
                            let (l, f) = rt.block_on(library(&merged, show, scenario, callers, secs));
                            drop(merged);
                            co.push(l);
                            co_ok.push(f);
                        }
                        _ => {}
                    }
                }
            }
            let (raw, lib) = (median(raw), median(lib));
            if plain {
                let (hwb, hws, co) = (median(hw_bench), median(hw_sqlx), median(co));
                println!(
                    "| {} | {callers} | {hwb:.0} | {hws:.0} | {lib:.0} | {:.2} | {co:.0} | {:.2} | {raw:.0} | {:.0}% / {:.0}% |",
                    scenario.name(),
                    lib / hws,
                    co / hws,
                    100.0 * median(ok),
                    100.0 * median(co_ok)
                );
            } else {
                println!(
                    "| {} | {callers} | {raw:.0} (SKIP LOCKED pick) | - | {lib:.0} | {:.2} vs pgbench | - | - | - | {:.0}% / - |",
                    scenario.name(),
                    lib / raw,
                    100.0 * median(ok)
                );
            }
        }
    }
}
