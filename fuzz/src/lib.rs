//! Fuzz harnesses for the booking inventory.
//!
//! Each harness takes the raw bytes of one input and panics when it finds
//! a discrepancy. The fuzz targets (`fuzz/fuzz_targets/*.rs`) call them,
//! and so does the corpus replay test of the main workspace
//! (`crates/booking-memory/tests/fuzz_corpus.rs`), which includes this file
//! as a module: paths inside the harness are relative (`super::`), never
//! `crate::`.
//!
//! - [`inventory`]: arbitrary sequences of inventory requests, with forged
//!   tokens and absurd numbers, on `MemoryInventory` and on the reference
//!   model side by side; every answer, snapshot and audit must agree.
//! - [`venue`]: show specifications and venue layouts from arbitrary JSON
//!   and from arbitrary row and section numbers; validation never panics,
//!   and a valid show is created alike by the backend and the model.

pub mod inventory;
pub mod venue;

use std::future::Future;
use std::task::{Context, Poll, Waker};

/// Runs a future of the memory backend, which never waits, to completion.
fn ready<T>(f: impl Future<Output = T>) -> T {
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("the memory backend waited"),
    }
}

/// How an error compares: its variant and every field, so that a caller
/// acting on any of them would act alike.
fn error_key(e: &booking_core::InventoryError) -> String {
    format!("{e:?}")
}

/// Panics unless the backend's and the model's answers agree: equal values,
/// or errors with the same variant and fields.
fn same<T: PartialEq + std::fmt::Debug>(
    what: &dyn std::fmt::Debug,
    memory: &booking_core::Result<T>,
    model: &booking_core::Result<T>,
) {
    let agree = match (memory, model) {
        (Ok(a), Ok(b)) => a == b,
        (Err(a), Err(b)) => error_key(a) == error_key(b),
        _ => false,
    };
    assert!(agree, "memory and model disagree on {what:?}\n memory: {memory:?}\n model:  {model:?}");
}
