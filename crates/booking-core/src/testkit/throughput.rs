//! Checkout throughput on any backend, beside the inventory's bare
//! hold+sell on the same backend in the same run: what the backends'
//! `checkout` benchmarks print.

use super::payments::SimulatedProvider;
use super::saga::CheckoutStores;
use crate::checkout::{Checkout, CheckoutConfig, CheckoutRequest, FeePolicy, PriceTable};
use crate::idempotency::IdempotencyKey;
use crate::ids::{OrderId, OwnerId, PaymentRef, PriceCategory, SeatId};
use crate::inventory::{HoldSeats, SeatInventory, Sell};
use crate::layout::{HoldPolicy, ShowSpec, VenueLayout};
use crate::money::{Currency, Money};
use crate::payments::PaymentMethod;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

/// Medians over the rounds, in operations per second.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Throughput {
    /// Hold, then the whole checkout saga (simulated provider answering at
    /// once), one seat per buyer.
    pub checkouts: f64,
    /// Hold, then a bare `sell`, one seat per buyer.
    pub bare_hold_sell: f64,
}

impl Throughput {
    /// Checkouts per bare hold+sell.
    pub fn ratio(&self) -> f64 {
        self.checkouts / self.bare_hold_sell
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

async fn show(inv: &dyn SeatInventory, seats: u32, prices: &PriceTable) -> ShowSpec {
    let policy = HoldPolicy { max_held_per_owner: None, ..HoldPolicy::default() };
    let rows = seats.div_ceil(100);
    let spec = ShowSpec::new("throughput", VenueLayout::grid(1, rows, 100, PriceCategory(1))).with_policy(policy);
    inv.create_show(&spec).await.expect("create show");
    let eur = Currency::new("EUR").expect("EUR");
    let list = BTreeMap::from([(PriceCategory(1), Money::new(5_000, eur))]);
    prices.set_show(&spec, list, FeePolicy { per_ticket: 250, per_order: 100 }).expect("prices");
    spec
}

/// Runs `rounds` rounds of `n` checkouts and `n` bare hold+sells, each on
/// fresh stores from `fresh` with a fresh show, by `callers` concurrent
/// buyers, and returns the medians. The stores' clock is left alone (the
/// holds live 8 minutes).
pub async fn checkout_throughput<F, Fut>(fresh: F, rounds: usize, n: u32, callers: u32) -> Throughput
where
    F: Fn() -> Fut,
    Fut: Future<Output = CheckoutStores>,
{
    let (mut sagas, mut bares) = (Vec::new(), Vec::new());
    for _ in 0..rounds.max(1) {
        let stores = fresh().await;
        let prices = Arc::new(PriceTable::new());
        let spec = show(&*stores.inventory, n, &prices).await;
        let checkout = Checkout::new(
            stores.inventory.clone(),
            Arc::new(SimulatedProvider::new(stores.clock.shared())),
            stores.log.clone(),
            stores.outbox.clone(),
            stores.keys.clone(),
            prices.clone(),
            stores.clock.shared(),
            CheckoutConfig::default(),
        );
        let started = Instant::now();
        run(callers, n, |seat| {
            let (checkout, inv) = (checkout.clone(), stores.inventory.clone());
            async move {
                let buyer = OwnerId::new();
                let hold = inv.hold_seats(&HoldSeats { show: spec.id, owner: buyer, seats: vec![seat] }).await;
                let hold = hold.expect("hold");
                let req = CheckoutRequest {
                    buyer,
                    key: IdempotencyKey(format!("k{seat}")),
                    hold: hold.token,
                    method: PaymentMethod("pm_card".into()),
                };
                let reply = checkout.checkout(&req).await.expect("checkout");
                assert_eq!(reply.response.status, 201, "checkout completed");
            }
        })
        .await;
        sagas.push(f64::from(n) / started.elapsed().as_secs_f64());

        let bare = show(&*stores.inventory, n, &prices).await;
        let started = Instant::now();
        run(callers, n, |seat| {
            let inv = stores.inventory.clone();
            async move {
                let owner = OwnerId::new();
                let hold = inv.hold_seats(&HoldSeats { show: bare.id, owner, seats: vec![seat] }).await.expect("hold");
                let sell = Sell {
                    owner,
                    token: hold.token,
                    order: OrderId::new(),
                    payment: PaymentRef("cap".into()),
                    payer: None,
                };
                inv.sell(&sell).await.expect("sell");
            }
        })
        .await;
        bares.push(f64::from(n) / started.elapsed().as_secs_f64());
    }
    Throughput { checkouts: median(sagas), bare_hold_sell: median(bares) }
}

/// Seats `0..n` split over `callers` tasks.
async fn run<F, Fut>(callers: u32, n: u32, one: F)
where
    F: Fn(SeatId) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let callers = callers.clamp(1, n.max(1));
    let mut tasks = Vec::new();
    for c in 0..callers {
        let mine: Vec<Fut> = (c..n).step_by(callers as usize).map(|s| one(SeatId(s))).collect();
        tasks.push(tokio::spawn(async move {
            for f in mine {
                f.await;
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
}
