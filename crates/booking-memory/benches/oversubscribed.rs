//! Hold+release cycles of one seat among a few hot ones, from more threads
//! than the machine has cores: the case where a lock's holder may be
//! descheduled while others wait for it.
//!
//! ```text
//! cargo bench -p booking-memory --bench oversubscribed -- [THREADS] [SEATS]
//! ```
//!
//! Defaults: 8 threads, 100 seats, per-owner limit 8 (the default
//! configuration), one owner per thread, 2,000,000 cycle attempts split
//! over the threads. Prints the wall-clock time per attempt and how many
//! attempts got their seat (the others found it held by another thread).

use booking_core::{HoldAction, HoldSeats, OwnerId, PriceCategory, SeatId, ShowSpec, VenueLayout};
use booking_memory::MemoryInventory;
use std::sync::Arc;
use std::time::Instant;

const ATTEMPTS: u64 = 2_000_000;

fn main() {
    let args: Vec<u64> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let threads = args.first().copied().unwrap_or(8).max(1);
    let seats = args.get(1).copied().unwrap_or(100).clamp(1, 1_000_000) as u32;
    let inv = Arc::new(MemoryInventory::new());
    let mut spec = ShowSpec::new("oversubscribed", VenueLayout::grid(1, seats.div_ceil(50), 50, PriceCategory(1)));
    spec.policy.max_held_per_owner = Some(8);
    inv.create_show_sync(&spec).expect("create");
    let per = ATTEMPTS / threads;
    let started = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|k| {
            let inv = inv.clone();
            let show = spec.id;
            std::thread::spawn(move || {
                let owner = OwnerId::from_u128(0x1000 + u128::from(k));
                let mut x = 0x9e37_79b9_7f4a_7c15_u64 ^ k;
                let mut held = 0u64;
                for _ in 0..per {
                    // xorshift64: the seat to try.
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let seat = SeatId((x % u64::from(seats)) as u32);
                    if let Ok(h) = inv.hold_seats_sync(&HoldSeats { show, owner, seats: vec![seat] }) {
                        inv.release_sync(&HoldAction { owner: h.owner, token: h.token }).expect("release");
                        held += 1;
                    }
                }
                held
            })
        })
        .collect();
    let held: u64 = workers.into_iter().map(|w| w.join().expect("worker")).sum();
    let ns = started.elapsed().as_nanos() as f64 / (per * threads) as f64;
    println!("threads {threads}, seats {seats}: {ns:.0} ns per attempt, {held} of {} held", per * threads);
}
