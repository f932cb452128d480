//! Replays the fuzz corpus (`fuzz/corpus/<target>/`, at the repository
//! root) through the fuzz harnesses, so that every input the fuzzers kept,
//! crash reproducers included, runs as an ordinary test.
//!
//! The harness is the fuzz crate's own library, included here as a module:
//! the fuzz targets and this test run the same code.

#[path = "../../../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod harness;

use std::path::{Path, PathBuf};

/// Every file of one target's corpus, in name order.
fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("corpus entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no corpus in {}", dir.display());
    files
}

/// Runs `harness` on every file of `target`'s corpus, naming the file that
/// fails.
fn replay(target: &str, harness: fn(&[u8])) {
    for file in corpus(target) {
        let data = std::fs::read(&file).expect("corpus file");
        if let Err(panic) = std::panic::catch_unwind(|| harness(&data)) {
            eprintln!(
                "{target}: {} fails; reproduce with `cargo fuzz run {target} --sanitizer none {}`",
                file.display(),
                file.display()
            );
            std::panic::resume_unwind(panic);
        }
    }
}

#[test]
fn inventory_vs_model_corpus() {
    replay("inventory_vs_model", harness::inventory::run);
}

#[test]
fn venue_layout_corpus() {
    replay("venue_layout", harness::venue::run);
}

/// A sweep whose choice differs from the model's: on a show with more seats
/// than the memory backend has lock stripes (256), seat 256 sits in the
/// first stripe and is freed first with a limit of 1, where the model
/// would free seat 1. The harness must accept that choice and have the
/// model follow it.
#[test]
fn a_sweep_may_free_expired_seats_in_its_own_order() {
    use harness::inventory::{Advance, Op, PolicyShape, RowShape, Scenario, SeatRef, ShowShape, SweepLimit};
    let policy = PolicyShape { ttl: 1_000, lifetime: 0, renewals: 0, per_owner: None, per_request: 4 };
    let row = RowShape { len: 241, category: 0, split: u8::MAX };
    let hold = |owner: u8, seat: u16| Op::HoldSeats { owner, seats: vec![SeatRef::Seat(seat)] };
    Scenario {
        show: ShowShape { sections: vec![vec![row]], pools: Vec::new(), policy },
        steps: vec![
            hold(0, 1),
            hold(1, 256),
            Op::Advance(Advance::Ttl),
            Op::Sweep(SweepLimit::Small(1)),
            Op::Sweep(SweepLimit::Small(1)),
            hold(2, 256),
        ],
    }
    .run_with(false);
}

/// Found by `inventory_vs_model` with the clock allowed to move back
/// (`BOOKING_FUZZ_CLOCK_BACK=1`): an owner limited to 2 seats holds 2,
/// lets them expire, holds 1, then the clock steps back 10 ms, making the
/// first hold live again: a third hold must be refused with
/// `HeldPerOwner { would_hold: 4, max: 2 }`, as the model does. (The
/// backend used to forget expired reservations at once and granted it.)
#[test]
fn per_owner_limit_when_the_clock_steps_back() {
    use harness::inventory::{Advance, Op, PolicyShape, RowShape, Scenario, SeatRef, ShowShape};
    let policy = PolicyShape { ttl: 1_000, lifetime: 0, renewals: 0, per_owner: Some(2), per_request: 4 };
    let row = RowShape { len: 8, category: 0, split: u8::MAX };
    let hold = |seats: &[u16]| Op::HoldSeats { owner: 0, seats: seats.iter().map(|&s| SeatRef::Seat(s)).collect() };
    Scenario {
        show: ShowShape { sections: vec![vec![row]], pools: Vec::new(), policy },
        steps: vec![hold(&[0, 1]), Op::Advance(Advance::Ttl), hold(&[2]), Op::Advance(Advance::Back(10)), hold(&[3])],
    }
    .run_with(true);
}
