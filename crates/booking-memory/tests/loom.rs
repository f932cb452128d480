//! Model checks of the memory backend's concurrency core under loom: every
//! interleaving of the racing requests (up to the preemption bound) keeps the
//! invariants.
//!
//! `RUSTFLAGS="--cfg booking_loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p booking-memory --release --test loom`
#![cfg(booking_loom)]

use booking_core::{
    HoldAction, HoldBest, HoldItems, HoldPolicy, HoldSeats, InventoryError, Limit, ManualClock, OrderId, OwnerId,
    PaymentRef, PriceCategory, SeatId, SeatStatus, Sell, ShowId, ShowSpec, VenueLayout,
};
use booking_memory::MemoryInventory;
use chrono::Duration;
use loom::sync::Arc;
use loom::thread;

fn setup(seats: u32) -> (Arc<MemoryInventory>, ManualClock, ShowId) {
    setup_with(seats, HoldPolicy::default())
}

/// A show of `seats` seats in one row under `policy`, on a manual clock.
fn setup_with(seats: u32, policy: HoldPolicy) -> (Arc<MemoryInventory>, ManualClock, ShowId) {
    let clock = ManualClock::fixed();
    let inv = MemoryInventory::with_clock(clock.shared());
    let spec = ShowSpec::new("loom", VenueLayout::grid(1, 1, seats, PriceCategory(1))).with_policy(policy);
    inv.create_show_sync(&spec).expect("create");
    (Arc::new(inv), clock, spec.id)
}

fn hold(show: ShowId, seats: &[u32]) -> HoldSeats {
    HoldSeats { show, owner: OwnerId::new(), seats: seats.iter().copied().map(SeatId).collect() }
}

/// Two overlapping multi-seat holds: exactly one wins, and the seats held
/// are exactly the winner's (no partial hold, no double hold).
#[test]
fn hold_against_hold() {
    loom::model(|| {
        let (inv, _clock, show) = setup(3);
        let (a, b) = (inv.clone(), inv.clone());
        let ta = thread::spawn(move || a.hold_seats_sync(&hold(show, &[0, 1])));
        let tb = thread::spawn(move || b.hold_seats_sync(&hold(show, &[1, 2])));
        let (ra, rb) = (ta.join().expect("thread"), tb.join().expect("thread"));
        assert!(ra.is_ok() ^ rb.is_ok(), "exactly one overlapping hold wins");
        let winner = ra.as_ref().or(rb.as_ref()).expect("one won");
        let loser = ra.as_ref().err().or(rb.as_ref().err()).expect("one lost");
        assert!(matches!(loser, InventoryError::SeatsTaken { seats } if seats == &[SeatId(1)]));
        let snap = inv.snapshot_sync(show).expect("snapshot");
        let held: Vec<SeatId> = snap.seats.iter().filter(|s| s.status == SeatStatus::Held).map(|s| s.seat).collect();
        assert_eq!(HoldItems::Seats(held), winner.token.items);
    });
}

/// A sweeper freeing an expired hold races a new hold on the same seat: the
/// new hold always wins (expired holds never block), the sweep reports the
/// old hold at most once and never frees the new one.
#[test]
fn hold_against_sweep() {
    loom::model(|| {
        let (inv, clock, show) = setup(2);
        let old = inv.hold_seats_sync(&hold(show, &[0, 1])).expect("first hold");
        clock.advance(Duration::minutes(8));
        let (a, b) = (inv.clone(), inv.clone());
        let sweeper = thread::spawn(move || a.sweep_expired_sync(show, 10).expect("sweep"));
        let holder = thread::spawn(move || b.hold_seats_sync(&hold(show, &[1])));
        let swept = sweeper.join().expect("thread");
        let new = holder.join().expect("thread").expect("expired seats never block");
        assert!(swept.iter().all(|e| e.hold == old.token.hold), "only the expired hold is swept");
        let snap = inv.snapshot_sync(show).expect("snapshot");
        assert_eq!(snap.seats[1].status, SeatStatus::Held);
        assert_eq!(snap.seats[0].status, SeatStatus::Available);
        assert!(snap.seats[1].version == new.token.version && new.token.version > old.token.version);
        let again = inv.sweep_expired_sync(show, 10).expect("sweep");
        let reported: usize = swept.iter().chain(&again).map(|e| e.items.count() as usize).sum();
        assert!(reported <= 2, "each expired seat is reported at most once");
    });
}

/// A sale races the hold's expiry and a new buyer: the seat is never both
/// sold to the first buyer and held by the second.
#[test]
fn sell_against_expiry() {
    loom::model(|| {
        let (inv, clock, show) = setup(1);
        let first = inv.hold_seats_sync(&hold(show, &[0])).expect("first hold");
        let (a, b) = (inv.clone(), inv.clone());
        let token = first.token.clone();
        let seller = thread::spawn(move || {
            a.sell_sync(&Sell {
                owner: first.owner,
                token,
                order: OrderId::new(),
                payment: PaymentRef("cap".into()),
                payer: None,
            })
        });
        let clock2 = clock.clone();
        let rival = thread::spawn(move || {
            clock2.advance(Duration::minutes(8));
            let swept = b.sweep_expired_sync(show, 10).expect("sweep");
            (swept, b.hold_seats_sync(&hold(show, &[0])))
        });
        let sold = seller.join().expect("thread");
        let (swept, rehold) = rival.join().expect("thread");
        assert!(sold.is_ok() ^ rehold.is_ok(), "sold {sold:?}, re-held {rehold:?}");
        if sold.is_ok() {
            assert!(swept.is_empty(), "a sold seat is never swept");
        }
        let status = inv.snapshot_sync(show).expect("snapshot").seats[0].status;
        assert_eq!(status, if sold.is_ok() { SeatStatus::Sold } else { SeatStatus::Held });
    });
}

/// A release and a sale of the same hold race: exactly one takes effect.
#[test]
fn release_against_sell() {
    loom::model(|| {
        let (inv, _clock, show) = setup(2);
        let h = inv.hold_seats_sync(&hold(show, &[0, 1])).expect("hold");
        let (a, b) = (inv.clone(), inv.clone());
        let (t1, t2) = (h.token.clone(), h.token.clone());
        let owner = h.owner;
        let rel = thread::spawn(move || a.release_sync(&HoldAction { owner, token: t1 }).is_ok());
        let sell = thread::spawn(move || {
            b.sell_sync(&Sell {
                owner,
                token: t2,
                order: OrderId::new(),
                payment: PaymentRef("cap".into()),
                payer: None,
            })
            .is_ok()
        });
        let (released, sold) = (rel.join().expect("thread"), sell.join().expect("thread"));
        assert!(released ^ sold);
        let snap = inv.snapshot_sync(show).expect("snapshot");
        let want = if sold { SeatStatus::Sold } else { SeatStatus::Available };
        assert!(snap.seats.iter().all(|s| s.status == want));
    });
}

/// Under a ticket cap of 2, an owner's sale of the seat it holds races its
/// own second hold: the sale moves the unit from held to sold in one step,
/// so the second hold always fits (1 + 1), and a third never does.
#[test]
fn sell_against_hold_under_a_ticket_cap() {
    loom::model(|| {
        let policy = HoldPolicy { max_held_per_owner: None, max_tickets_per_owner: Some(2), ..HoldPolicy::default() };
        let (inv, _clock, show) = setup_with(3, policy);
        let owner = OwnerId::new();
        let mine = move |seat: u32| HoldSeats { show, owner, seats: vec![SeatId(seat)] };
        let first = inv.hold_seats_sync(&mine(0)).expect("first hold");
        let (a, b) = (inv.clone(), inv.clone());
        let seller = thread::spawn(move || {
            let sell = Sell {
                owner,
                token: first.token,
                order: OrderId::new(),
                payment: PaymentRef("cap".into()),
                payer: None,
            };
            a.sell_sync(&sell).is_ok()
        });
        let holder = thread::spawn(move || b.hold_seats_sync(&mine(1)));
        assert!(seller.join().expect("thread"), "the sale goes through");
        holder.join().expect("thread").expect("1 sold or held + 1 fits the cap of 2");
        let third = inv.hold_seats_sync(&mine(2));
        assert!(matches!(third, Err(InventoryError::LimitExceeded(Limit::TicketsPerOwner { would_have: 3, max: 2 }))));
    });
}

/// Under a per-owner limit of 1, an owner's release of its hold races its
/// own next hold on another seat. The next hold may fit or not, but the
/// owner never holds two seats at once: the release frees its seats before
/// it gives the reservation back, so a hold that fits finds the released
/// seat already free. Once the release has returned, a hold fits.
#[test]
fn release_against_hold_under_an_owner_limit() {
    loom::model(|| {
        let policy = HoldPolicy { max_held_per_owner: Some(1), ..HoldPolicy::default() };
        let (inv, _clock, show) = setup_with(3, policy);
        let owner = OwnerId::new();
        let mine = move |seat: u32| HoldSeats { show, owner, seats: vec![SeatId(seat)] };
        let first = inv.hold_seats_sync(&mine(0)).expect("first hold");
        let (a, b) = (inv.clone(), inv.clone());
        let releaser = thread::spawn(move || a.release_sync(&HoldAction { owner, token: first.token }));
        let holder = thread::spawn(move || {
            let second = b.hold_seats_sync(&mine(1));
            let snap = b.snapshot_sync(show).expect("snapshot");
            (second, snap.seats.iter().filter(|s| s.status == SeatStatus::Held).count())
        });
        releaser.join().expect("thread").expect("release");
        let (second, held) = holder.join().expect("thread");
        assert!(held <= 1, "the owner held {held} seats at once under a limit of 1 ({second:?})");
        let third = inv.hold_seats_sync(&mine(2));
        match second {
            Ok(_) => assert!(
                matches!(third, Err(InventoryError::LimitExceeded(Limit::HeldPerOwner { would_hold: 2, max: 1 }))),
                "{third:?}"
            ),
            Err(e) => {
                assert!(matches!(e, InventoryError::LimitExceeded(Limit::HeldPerOwner { .. })), "{e:?}");
                third.expect("after the release the owner has room");
            }
        }
    });
}

/// Under a per-owner limit of 2, an owner's hold of two seats another
/// owner holds races the same owner's hold of two free seats. The free
/// seats are always granted: the other hold reserves the owner's room
/// before it finds its seats taken, and a limit's refusal waits until
/// that reservation has settled instead of counting it. The other hold is
/// refused as taken, or by the limit once the free seats are held.
#[test]
fn refused_hold_against_hold_under_an_owner_limit() {
    loom::model(|| {
        let policy = HoldPolicy { max_held_per_owner: Some(2), ..HoldPolicy::default() };
        let (inv, _clock, show) = setup_with(4, policy);
        inv.hold_seats_sync(&hold(show, &[0, 1])).expect("another owner's hold");
        let owner = OwnerId::new();
        let mine = move |seats: [u32; 2]| HoldSeats { show, owner, seats: seats.map(SeatId).to_vec() };
        let (a, b) = (inv.clone(), inv.clone());
        let taken = thread::spawn(move || a.hold_seats_sync(&mine([0, 1])));
        let free = thread::spawn(move || b.hold_seats_sync(&mine([2, 3])));
        let (taken, free) = (taken.join().expect("thread"), free.join().expect("thread"));
        assert!(free.is_ok(), "the free seats are held: {free:?} (the taken ones: {taken:?})");
        assert!(
            matches!(taken, Err(InventoryError::SeatsTaken { .. }))
                || matches!(taken, Err(InventoryError::LimitExceeded(Limit::HeldPerOwner { would_hold: 4, max: 2 }))),
            "{taken:?}"
        );
    });
}

/// Under a per-owner limit of 2, an owner's best-available hold of two
/// seats, with one seat left, races the same owner's hold of that seat.
/// The hold of the seat is always granted: the best-available hold
/// reserves the owner's room before it finds too few seats, and the other
/// hold's refusal by the limit waits until that reservation has settled
/// instead of counting it. The best-available hold finds too few seats, or
/// is refused by the limit once the seat is held.
#[test]
fn refused_best_hold_against_hold_under_an_owner_limit() {
    loom::model(|| {
        let policy = HoldPolicy { max_held_per_owner: Some(2), ..HoldPolicy::default() };
        let (inv, _clock, show) = setup_with(3, policy);
        inv.hold_seats_sync(&hold(show, &[0, 1])).expect("another owner's hold");
        let owner = OwnerId::new();
        let (a, b) = (inv.clone(), inv.clone());
        let best = thread::spawn(move || {
            a.hold_best_sync(&HoldBest { show, owner, quantity: 2, section: None, category: None })
        });
        let named = thread::spawn(move || b.hold_seats_sync(&HoldSeats { show, owner, seats: vec![SeatId(2)] }));
        let (best, named) = (best.join().expect("thread"), named.join().expect("thread"));
        assert!(named.is_ok(), "the free seat is held: {named:?} (best available: {best:?})");
        assert!(
            matches!(best, Err(InventoryError::NoSeatsAvailable { requested: 2 }))
                || matches!(best, Err(InventoryError::LimitExceeded(Limit::HeldPerOwner { would_hold: 3, max: 2 }))),
            "{best:?}"
        );
    });
}
