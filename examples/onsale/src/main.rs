//! An on-sale rush on the embedded memory backend.
//!
//! Run it with `cargo run --release -p booking-example-onsale --bin onsale`
//! (options: `--buyers N`, default 20000; `--seats N`, default 10000).
//!
//! Buyers race for best-available pairs and fours; most pay and buy, some
//! walk away and leave their hold to expire; a sweeper frees expired holds
//! and a change-feed listener counts events. At the end it checks that no
//! seat was sold twice and that the snapshot agrees with the sales.

use booking_core::{
    ChangeKind, HoldBest, HoldItems, InventoryError, OrderId, OwnerId, PaymentRef, PriceCategory, SeatInventory, Sell,
    ShowSpec, VenueLayout,
};
use booking_memory::MemoryInventory;
use std::collections::HashSet;
use std::future::poll_fn;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

fn arg(name: &str, default: u32) -> u32 {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::main]
async fn main() -> Result<(), InventoryError> {
    let buyers = arg("--buyers", 20_000);
    let seats = arg("--seats", 10_000).clamp(100, 1_000_000);
    let inventory: Arc<dyn SeatInventory> = Arc::new(MemoryInventory::new());

    let mut show =
        ShowSpec::new("Stadium tour, night one", VenueLayout::grid(4, seats.div_ceil(400), 100, PriceCategory(1)));
    // A short hold so abandoned carts come back while the demo runs.
    show.policy.hold_ttl = Duration::from_millis(300);
    show.policy.max_hold_time = Duration::from_secs(1);
    inventory.create_show(&show).await?;
    let total = inventory.snapshot(show.id).await?.seats.len();
    println!("on sale: {} seats, {buyers} buyers", total);

    // Live seat-map feed: count what happens.
    let mut feed = inventory.subscribe(show.id).await?;
    let events = Arc::new([(); 8].map(|_| AtomicU64::new(0)));
    let counted = events.clone();
    tokio::spawn(async move {
        while let Some(change) = poll_fn(|cx| feed.as_mut().poll_next(cx)).await {
            let i = match change {
                Ok(c) => c.kind as usize,
                Err(_) => 7, // lagged: a real seat map would re-read the snapshot
            };
            counted[i.min(7)].fetch_add(1, Ordering::Relaxed);
        }
    });

    // The sweeper: frees expired holds so the feed reports them.
    let sweeper_inv = inventory.clone();
    let show_id = show.id;
    let running = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let still_running = running.clone();
    let sweeper = tokio::spawn(async move {
        let mut freed = 0usize;
        while still_running.load(Ordering::Relaxed) {
            match sweeper_inv.sweep_expired(show_id, 1_000).await {
                Ok(v) => freed += v.len(),
                Err(e) => eprintln!("sweep failed: {e}"),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        freed
    });

    let started = Instant::now();
    let mut tasks = Vec::new();
    for b in 0..buyers {
        let inv = inventory.clone();
        tasks.push(tokio::spawn(async move {
            let owner = OwnerId::new();
            let quantity = 2 + (b % 3);
            let req = HoldBest { show: show_id, owner, quantity, section: None, category: None };
            let hold = match inv.hold_best(&req).await {
                Ok(h) => h,
                Err(InventoryError::NoSeatsAvailable { .. }) => return None,
                Err(e) => panic!("hold failed: {e}"),
            };
            if b % 5 == 0 {
                return None; // walked away: the hold expires
            }
            let order = OrderId::new();
            let sell = Sell { owner, token: hold.token, order, payment: PaymentRef(format!("pay_{order}")) };
            match inv.sell(&sell).await {
                Ok(sale) => Some(sale.items),
                Err(InventoryError::HoldExpired { .. }) => None,
                Err(e) => panic!("sell failed: {e}"),
            }
        }));
    }
    let mut sold = Vec::new();
    for t in tasks {
        if let Some(HoldItems::Seats(s)) = t.await.map_err(|e| InventoryError::Backend(Box::new(e)))? {
            sold.extend(s);
        }
    }
    let elapsed = started.elapsed();
    running.store(false, Ordering::Relaxed);
    let freed_during = sweeper.await.map_err(|e| InventoryError::Backend(Box::new(e)))?;
    let unique: HashSet<_> = sold.iter().collect();
    let snapshot = inventory.snapshot(show.id).await?;
    let totals = snapshot.totals();
    println!(
        "{} buyers served in {:.2?}: {} seats sold, {} held, {} available",
        buyers, elapsed, totals.sold, totals.held, totals.available
    );
    assert_eq!(unique.len(), sold.len(), "a seat was sold twice");
    assert_eq!(totals.sold as usize, sold.len(), "snapshot and sales disagree");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let freed = inventory.sweep_expired(show.id, 100_000).await?.len();
    let count = |k: ChangeKind| events[k as usize].load(Ordering::Relaxed);
    println!(
        "change feed: {} held, {} sold, {} expired, {} lagged; sweeper freed {freed_during} holds during the run, {freed} after",
        count(ChangeKind::Held),
        count(ChangeKind::Sold),
        count(ChangeKind::Expired),
        events[7].load(Ordering::Relaxed),
    );
    println!("no seat sold twice; every sale is in the snapshot");
    Ok(())
}
