//! An on-sale rush: buyers race for best-available seats, most pay through
//! the checkout saga (a simulated card provider, every tenth card
//! declined), some walk away and leave their hold to expire; the
//! maintenance worker frees expired holds and a change-feed listener counts
//! events. At the end it checks that no seat was sold twice, that the
//! inventory agrees with the sales, and that the money audit (orders vs
//! the provider's ledger vs sold seats) is clean, and prints latency and
//! throughput.
//!
//! ```sh
//! cargo run --release -p booking-example-onsale --bin onsale -- --help
//! cargo run --release -p booking-example-onsale --bin onsale                      # memory
//! cargo run --release -p booking-example-onsale --bin onsale -- --backend postgres \
//!     --database-url postgres://postgres@127.0.0.1:5432/test
//! cargo run --release -p booking-example-onsale --bin onsale -- --backend redis \
//!     --redis-url redis://127.0.0.1:6379
//! cargo run --release -p booking-example-onsale --bin onsale -- --backend redis+postgres
//! ```

use booking_core::checkout::{Checkout, CheckoutConfig, CheckoutRequest, FeePolicy, OrderStatus, PriceTable, SagaLog};
use booking_core::idempotency::IdempotencyKey;
use booking_core::layered::LockedInventory;
use booking_core::maintenance::{Maintenance, MaintenanceConfig};
use booking_core::payments::{DeclineReason, PaymentMethod};
use booking_core::testkit::payments::{CallKind, Fault, SimulatedProvider};
use booking_core::{
    Clock, Currency, HoldBest, HoldItems, InventoryError, Money, OwnerId, PriceCategory, RowSpec, SeatInventory,
    SeatSpec, SectionSpec, ShowSpec, SystemClock, VenueLayout,
};
use booking_memory::checkout::{MemoryOutbox, MemorySagaLog};
use booking_memory::{MemoryIdempotencyStore, MemoryInventory};
use booking_postgres::PgInventory;
use booking_redis::{RedisInventory, RedisSeatLock};
use std::collections::{BTreeMap, HashSet};
use std::future::poll_fn;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const HELP: &str = "\
onsale: an on-sale rush on the booking inventory

USAGE: onsale [OPTIONS]

OPTIONS:
  --buyers N             buyers racing for seats (default 20000)
  --seats N              seats on sale, exactly (default 10000, 1..=1000000)
  --backend B            memory | postgres | redis | redis+postgres (default memory)
  --database-url URL     PostgreSQL for postgres backends (default $DATABASE_URL)
  --redis-url URL        Redis for redis backends (default $REDIS_URL)
  -h, --help             this text";

/// The command line.
struct Options {
    buyers: u32,
    seats: u32,
    backend: String,
    database_url: Option<String>,
    redis_url: Option<String>,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        buyers: 20_000,
        seats: 10_000,
        backend: "memory".into(),
        database_url: std::env::var("DATABASE_URL").ok(),
        redis_url: std::env::var("REDIS_URL").ok(),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().cloned().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--buyers" => o.buyers = value()?.parse().map_err(|_| "--buyers takes a number".to_string())?,
            "--seats" => o.seats = value()?.parse().map_err(|_| "--seats takes a number".to_string())?,
            "--backend" => o.backend = value()?,
            "--database-url" => o.database_url = Some(value()?),
            "--redis-url" => o.redis_url = Some(value()?),
            other => return Err(format!("unknown option {other}")),
        }
    }
    if !(1..=1_000_000).contains(&o.seats) {
        return Err("--seats must be 1..=1000000".into());
    }
    Ok(o)
}

/// Exactly `n` seats in rows of 100, four sections.
fn layout(n: u32) -> VenueLayout {
    let rows_total = n.div_ceil(100);
    let mut sections: Vec<SectionSpec> =
        (0..4).map(|s| SectionSpec { name: format!("Section {}", s + 1), rows: Vec::new() }).collect();
    for r in 0..rows_total {
        let len = (n - r * 100).min(100);
        let seats = (0..len)
            .map(|i| SeatSpec { label: (i + 1).to_string(), x: i as i32, y: r as i32, category: PriceCategory(1) })
            .collect();
        let section = (r * 4 / rows_total.max(1)) as usize;
        sections[section].rows.push(RowSpec { name: (r + 1).to_string(), seats });
    }
    sections.retain(|s| !s.rows.is_empty());
    VenueLayout { sections }
}

async fn inventory(o: &Options) -> Result<Arc<dyn SeatInventory>, String> {
    let db = || o.database_url.clone().ok_or("set --database-url or DATABASE_URL".to_string());
    let redis = || o.redis_url.clone().ok_or("set --redis-url or REDIS_URL".to_string());
    Ok(match o.backend.as_str() {
        "memory" => Arc::new(MemoryInventory::new()),
        "postgres" => Arc::new(PgInventory::connect(&db()?).await.map_err(|e| format!("PostgreSQL: {e}"))?),
        "redis" => Arc::new(RedisInventory::connect(&redis()?).await.map_err(|e| format!("Redis: {e}"))?),
        "redis+postgres" => {
            let lock = RedisSeatLock::connect(&redis()?).await.map_err(|e| format!("Redis: {e}"))?;
            let pg = PgInventory::connect(&db()?).await.map_err(|e| format!("PostgreSQL: {e}"))?;
            Arc::new(LockedInventory::new(lock, pg, Duration::from_secs(2)))
        }
        other => return Err(format!("unknown backend {other} (memory, postgres, redis, redis+postgres)")),
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
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
        eprintln!("onsale: {e}");
        std::process::exit(1);
    }
}

async fn run(o: Options) -> Result<(), String> {
    let inventory = inventory(&o).await?;
    let mut show = ShowSpec::new("Stadium tour, night one", layout(o.seats));
    // A short hold so abandoned carts come back while the demo runs (longer
    // on a networked store, where a checkout takes milliseconds).
    let ttl = if o.backend == "memory" { Duration::from_millis(300) } else { Duration::from_secs(3) };
    show.policy.hold_ttl = ttl;
    show.policy.max_hold_time = ttl * 3;
    let e = |e: InventoryError| e.to_string();
    inventory.create_show(&show).await.map_err(e)?;
    println!("on sale: {} seats, {} buyers, {} backend", o.seats, o.buyers, o.backend);

    // The live seat-map feed: count events (not seats) by kind.
    let mut feed = inventory.subscribe(show.id).await.map_err(e)?;
    let events: Arc<Mutex<BTreeMap<String, u64>>> = Arc::default();
    let counted = events.clone();
    tokio::spawn(async move {
        while let Some(change) = poll_fn(|cx| feed.as_mut().poll_next(cx)).await {
            let key = match change {
                Ok(c) => format!("{:?}", c.kind).to_lowercase(),
                // A real seat map would re-read the snapshot.
                Err(_) => "lagged".to_string(),
            };
            *counted.lock().unwrap_or_else(|p| p.into_inner()).entry(key).or_default() += 1;
        }
    });

    // Maintenance: sweeps expired holds of every show.
    let config = MaintenanceConfig { sweep_limit: 1_000, feed_retention: Duration::from_secs(3600) };
    let maintenance = Maintenance::new(inventory.clone(), config);
    let totals = maintenance.totals().clone();
    let worker = maintenance.clone().spawn(Duration::from_millis(50));

    // Checkout: prices, a simulated card provider declining every tenth
    // card, orders and keys in process.
    let prices = Arc::new(PriceTable::new());
    let eur = Currency::new("EUR").map_err(|e| e.to_string())?;
    let list = BTreeMap::from([(PriceCategory(1), Money::new(7_500, eur))]);
    prices.set_show(&show, list, FeePolicy { per_ticket: 350, per_order: 0 }).map_err(|e| e.to_string())?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let provider = SimulatedProvider::new(clock.clone());
    let log = Arc::new(MemorySagaLog::new());
    let checkout = Checkout::new(
        inventory.clone(),
        Arc::new(provider.clone()),
        log.clone(),
        Arc::new(MemoryOutbox::new()),
        Arc::new(MemoryIdempotencyStore::new()),
        prices,
        clock,
        CheckoutConfig::default(),
    );

    let started = Instant::now();
    let mut tasks = Vec::new();
    for b in 0..o.buyers {
        let inv = inventory.clone();
        let show_id = show.id;
        let (checkout, provider) = (checkout.clone(), provider.clone());
        tasks.push(tokio::spawn(async move {
            let began = Instant::now();
            let owner = OwnerId::new();
            let quantity = 2 + (b % 3);
            let req = HoldBest { show: show_id, owner, quantity, section: None, category: None };
            let hold = match inv.hold_best(&req).await {
                Ok(h) => h,
                Err(InventoryError::NoSeatsAvailable { .. } | InventoryError::SeatsTaken { .. }) => {
                    return Ok((None, began.elapsed()));
                }
                Err(e) => return Err(format!("hold failed: {e}")),
            };
            if b % 5 == 0 {
                return Ok((None, began.elapsed())); // walked away: the hold expires
            }
            if b % 10 == 1 {
                provider.inject(CallKind::Authorize, Fault::Decline(DeclineReason::CardDeclined), 1);
            }
            let req = CheckoutRequest {
                buyer: owner,
                key: IdempotencyKey(format!("buyer-{b}")),
                hold: hold.token,
                method: PaymentMethod("pm_card".into()),
            };
            match checkout.checkout(&req).await {
                Ok(reply) => Ok((reply.receipt().and_then(|r| r.sale).map(|s| s.items), began.elapsed())),
                Err(e) => Err(format!("checkout failed: {e}")),
            }
        }));
    }
    let mut sold = Vec::new();
    let mut latencies = Vec::with_capacity(tasks.len());
    for t in tasks {
        let (items, took) = t.await.map_err(|e| e.to_string())??;
        latencies.push(took);
        if let Some(HoldItems::Seats(s)) = items {
            sold.extend(s);
        }
    }
    let elapsed = started.elapsed();
    let freed_during = totals.holds_freed.load(std::sync::atomic::Ordering::Relaxed);
    worker.stop().await;

    // Let the walked-away holds lapse, then sweep once more.
    tokio::time::sleep(show.policy.hold_ttl + Duration::from_millis(50)).await;
    let after = maintenance.run_once().await.map_err(e)?;
    let unique: HashSet<_> = sold.iter().collect();
    let totals = inventory.snapshot(show.id).await.map_err(e)?.totals();
    latencies.sort_unstable();
    println!(
        "{} buyers in {:.2?} ({:.0} buyers/s, {:.0} seats sold/s); latency per buyer p50 {:.2?}, p99 {:.2?}",
        o.buyers,
        elapsed,
        f64::from(o.buyers) / elapsed.as_secs_f64(),
        sold.len() as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
    );
    println!(
        "seats after the final sweep: {} sold, {} held, {} available, {} blocked",
        totals.sold, totals.held, totals.available, totals.blocked
    );
    let events = events.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let listed: Vec<String> = events.iter().map(|(k, n)| format!("{n} {k}")).collect();
    println!("change-feed events (not seats): {}", listed.join(", "));
    println!("maintenance freed {freed_during} expired holds during the run and {} after it", after.holds_freed);
    let orders = log.list(None, usize::MAX).await.map_err(|e| e.to_string())?;
    let completed = orders.iter().filter(|o| o.status == OrderStatus::Completed).count();
    let declined = orders.iter().filter(|o| o.status == OrderStatus::Declined).count();
    let sales = inventory.audit(show.id).await.map_err(e)?.sales;
    let money = booking_core::checkout::audit_money(&orders, &provider.ledger(), &sales);
    println!(
        "checkout: {} orders, {completed} completed, {declined} declined (cards declined, holds lost before payment); money audit {}",
        orders.len(),
        if money.is_clean() { "clean".to_string() } else { format!("{:?}", money.problems) }
    );
    if !money.is_clean() {
        return Err("the money audit found problems".into());
    }
    if unique.len() != sold.len() {
        return Err("a seat was sold twice".into());
    }
    if totals.sold as usize != sold.len() {
        return Err(format!("the inventory shows {} seats sold, the buyers bought {}", totals.sold, sold.len()));
    }
    println!("no seat sold twice; every sale is in the snapshot");
    Ok(())
}
