//! Checkouts per second on the memory backend (hold, then the whole saga
//! with the simulated provider answering at once), beside the inventory's
//! bare hold+sell on the same backend, in the same run.
//!
//! `cargo bench -p booking-memory --bench checkout`
#![allow(missing_docs)]

use booking_core::checkout::{Checkout, CheckoutConfig, CheckoutRequest, FeePolicy, PriceTable};
use booking_core::idempotency::IdempotencyKey;
use booking_core::payments::PaymentMethod;
use booking_core::testkit::payments::SimulatedProvider;
use booking_core::{
    Clock, Currency, HoldPolicy, HoldSeats, Money, OrderId, OwnerId, PaymentRef, PriceCategory, SeatId, SeatInventory,
    Sell, ShowSpec, SystemClock, VenueLayout,
};
use booking_memory::checkout::{MemoryOutbox, MemorySagaLog};
use booking_memory::{MemoryIdempotencyStore, MemoryInventory};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

const SEATS: u32 = 100_000;

/// Shows of `SEATS` seats, priced; every seat is sold once, then the next
/// show is opened.
struct Shows {
    inv: Arc<MemoryInventory>,
    prices: Arc<PriceTable>,
    show: ShowSpec,
    next: u32,
}

impl Shows {
    fn new() -> Self {
        let inv = Arc::new(MemoryInventory::new());
        let prices = Arc::new(PriceTable::new());
        let show = Self::open(&inv, &prices);
        Shows { inv, prices, show, next: 0 }
    }

    fn open(inv: &MemoryInventory, prices: &PriceTable) -> ShowSpec {
        let policy = HoldPolicy { max_held_per_owner: None, ..HoldPolicy::default() };
        let layout = VenueLayout::grid(10, SEATS / 10 / 100, 100, PriceCategory(1));
        let show = ShowSpec::new("bench", layout).with_policy(policy);
        inv.create_show_sync(&show).expect("create");
        let eur = Currency::new("EUR").expect("EUR");
        let list = BTreeMap::from([(PriceCategory(1), Money::new(5_000, eur))]);
        prices.set_show(&show, list, FeePolicy { per_ticket: 250, per_order: 100 }).expect("prices");
        show
    }

    /// A buyer's hold request on the next free seat.
    fn next(&mut self) -> HoldSeats {
        if self.next == SEATS {
            self.next = 0;
            self.show = Self::open(&self.inv, &self.prices);
        }
        self.next += 1;
        HoldSeats { show: self.show.id, owner: OwnerId::new(), seats: vec![SeatId(self.next - 1)] }
    }
}

fn checkouts(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let mut g = c.benchmark_group("checkout_one_seat");
    g.throughput(Throughput::Elements(1));

    let mut shows = Shows::new();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let checkout = Checkout::new(
        shows.inv.clone(),
        Arc::new(SimulatedProvider::new(clock.clone())),
        Arc::new(MemorySagaLog::new()),
        Arc::new(MemoryOutbox::new()),
        Arc::new(MemoryIdempotencyStore::new()),
        shows.prices.clone(),
        clock,
        CheckoutConfig::default(),
    );
    g.bench_function("saga", |b| {
        b.iter(|| {
            let req = shows.next();
            rt.block_on(async {
                let hold = shows.inv.hold_seats(&req).await.expect("hold");
                let req = CheckoutRequest {
                    buyer: req.owner,
                    key: IdempotencyKey(format!("k{}", req.owner)),
                    hold: hold.token,
                    method: PaymentMethod("pm".into()),
                };
                let reply = checkout.checkout(&req).await.expect("checkout");
                assert_eq!(reply.response.status, 201);
            })
        })
    });

    let mut shows = Shows::new();
    g.bench_function("bare_hold_sell", |b| {
        b.iter(|| {
            let req = shows.next();
            rt.block_on(async {
                let hold = shows.inv.hold_seats(&req).await.expect("hold");
                let sell = Sell {
                    owner: req.owner,
                    token: hold.token,
                    order: OrderId::new(),
                    payment: PaymentRef("cap".into()),
                };
                shows.inv.sell(&sell).await.expect("sell");
            })
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3)).sample_size(20);
    targets = checkouts
}
criterion_main!(benches);
