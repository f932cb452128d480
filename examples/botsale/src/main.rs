//! A bot on-sale, simulated on the library's parts and on virtual time
//! (`booking_core::testkit::botsale`, the same simulation the memory
//! backend's `tests/botsale.rs` asserts on): identities queue in the
//! waiting room, are admitted in waves after a seeded lottery of the
//! early arrivals, and ask for holds through the abuse guard (blacklist,
//! bot scoring with a captcha, per-account / per-IP / per-card rate
//! limits) under a per-identity cap; 30% of them are bots sending ten
//! times people's request rate, with regular timing, new or bought
//! accounts, shared cards, failed captchas. It prints the requests sent
//! and refused by reason, tickets per bot identity and per person, and the
//! waits in the room. Deterministic from `--seed` on the memory backend.
//!
//! ```sh
//! cargo run --release -p booking-example-botsale --bin botsale                 # memory
//! cargo run --release -p booking-example-botsale --bin botsale -- --no-guard   # what the guard is worth
//! cargo run --release -p booking-example-botsale --bin botsale -- --seed 9 --identities 5000 --seats 800
//! cargo run --release -p booking-example-botsale --bin botsale -- --backend postgres \
//!     --database-url postgres://postgres@127.0.0.1:5432/scratch     # a scratch database: it migrates it
//! cargo run --release -p booking-example-botsale --bin botsale -- --backend redis \
//!     --redis-url redis://127.0.0.1:6379                             # keys under a fresh prefix
//! ```

use booking_core::testkit::botsale::{BotSaleConfig, BotSaleStores, run_bot_sale};
use booking_core::{ManualClock, TimeSource};
use booking_memory::admission::MemoryWaitingRoomStore;
use booking_memory::{MemoryBlacklist, MemoryInventory, MemoryRateLimitStore};
use booking_postgres::PgInventory;
use booking_postgres::admission::PgWaitingRoomStore;
use booking_postgres::limits::{PgBlacklist, PgRateLimitStore};
use booking_redis::RedisInventory;
use booking_redis::admission::RedisWaitingRoomStore;
use booking_redis::limits::RedisLimits;
use chrono::{DurationRound, Utc};
use std::sync::Arc;
use std::time::Instant;

const HELP: &str = "\
botsale: a bot on-sale on virtual time

  --seed N               seed of the run (default 7)
  --identities N         identities taking part (default 2000)
  --seats N              seats on sale (default 500)
  --bots PERCENT         share of bots (default 30)
  --no-guard             send requests straight to the inventory
  --backend NAME         memory (default), postgres, redis
  --database-url URL     PostgreSQL for --backend postgres (default $DATABASE_URL)
  --redis-url URL        Redis for --backend redis (default $REDIS_URL)";

struct Options {
    cfg: BotSaleConfig,
    backend: String,
    database_url: Option<String>,
    redis_url: Option<String>,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        cfg: BotSaleConfig::default(),
        backend: "memory".into(),
        database_url: std::env::var("DATABASE_URL").ok(),
        redis_url: std::env::var("REDIS_URL").ok(),
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().cloned().ok_or_else(|| format!("{flag} needs a value"));
        let number = |v: String| v.parse::<u64>().map_err(|_| format!("{flag}: not a number: {v}"));
        let small = |v: String| v.parse::<u32>().map_err(|_| format!("{flag}: not a number: {v}"));
        match flag.as_str() {
            "--seed" => o.cfg.seed = number(value()?)?,
            "--identities" => o.cfg.identities = small(value()?)?.max(1),
            "--seats" => o.cfg.seats = small(value()?)?.max(1),
            "--bots" => o.cfg.bot_percent = small(value()?)?.min(100),
            "--no-guard" => o.cfg.guard = false,
            "--backend" => o.backend = value()?,
            "--database-url" => o.database_url = Some(value()?),
            "--redis-url" => o.redis_url = Some(value()?),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(o)
}

async fn stores(o: &Options) -> Result<BotSaleStores, String> {
    // Networked stores keep state between runs: start the virtual clock
    // at the present so earlier runs' budgets and listings are past.
    let now = Utc::now().duration_trunc(chrono::Duration::milliseconds(1)).map_err(|e| e.to_string())?;
    let clock = if o.backend == "memory" { ManualClock::fixed() } else { ManualClock::new(now) };
    let time = TimeSource::Injected(clock.shared());
    Ok(match o.backend.as_str() {
        "memory" => BotSaleStores {
            inventory: Arc::new(MemoryInventory::with_clock(clock.shared())),
            rates: Arc::new(MemoryRateLimitStore::with_clock(clock.shared())),
            blacklist: Arc::new(MemoryBlacklist::with_clock(clock.shared())),
            room: Arc::new(MemoryWaitingRoomStore::with_clock(clock.shared())),
            clock,
        },
        "postgres" => {
            let url = o.database_url.clone().ok_or("set --database-url or DATABASE_URL")?;
            let pool = booking_postgres::pool_options().connect(&url).await.map_err(|e| format!("PostgreSQL: {e}"))?;
            booking_postgres::migrate(&pool).await.map_err(|e| format!("migrations: {e}"))?;
            BotSaleStores {
                inventory: Arc::new(PgInventory::builder(pool.clone()).time_source(time.clone()).build()),
                rates: Arc::new(PgRateLimitStore::with_time_source(pool.clone(), time.clone())),
                blacklist: Arc::new(PgBlacklist::with_time_source(pool.clone(), time.clone())),
                room: Arc::new(PgWaitingRoomStore::with_time_source(pool, time)),
                clock,
            }
        }
        "redis" => {
            let url = o.redis_url.clone().ok_or("set --redis-url or REDIS_URL")?;
            let prefix = format!("botsale-{}:", uuid::Uuid::now_v7().simple());
            let e = |e: booking_core::InventoryError| format!("Redis: {e}");
            let inventory = RedisInventory::builder(&url)
                .map_err(e)?
                .prefix(prefix.clone())
                .time_source(time.clone())
                .build()
                .await
                .map_err(e)?;
            let limits = RedisLimits::builder(&url)
                .map_err(e)?
                .prefix(prefix.clone())
                .time_source(time.clone())
                .build()
                .await
                .map_err(e)?;
            let room = RedisWaitingRoomStore::builder(&url)
                .map_err(e)?
                .prefix(prefix)
                .time_source(time)
                .build()
                .await
                .map_err(e)?;
            BotSaleStores {
                inventory: Arc::new(inventory),
                rates: Arc::new(limits.rates),
                blacklist: Arc::new(limits.blacklist),
                room: Arc::new(room),
                clock,
            }
        }
        other => return Err(format!("unknown backend {other} (memory, postgres, redis)")),
    })
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{HELP}");
        return;
    }
    let result = match parse(&args) {
        Ok(o) => run(o).await,
        Err(e) => Err(format!("{e}\n\n{HELP}")),
    };
    if let Err(e) = result {
        eprintln!("botsale: {e}");
        std::process::exit(1);
    }
}

async fn run(o: Options) -> Result<(), String> {
    let stores = stores(&o).await?;
    let started = Instant::now();
    let report = run_bot_sale(stores, o.cfg.clone()).await;
    println!("{report}");
    println!("backend           {}, {:.1} s of wall time", o.backend, started.elapsed().as_secs_f64());
    let violations = report.violations();
    if violations.is_empty() {
        println!(
            "checks            no identity over the cap, no seat sold twice, audit clean{}",
            if o.cfg.guard { ", bots no better off than people" } else { "" }
        );
        Ok(())
    } else {
        Err(format!("violations:\n  {}", violations.join("\n  ")))
    }
}
