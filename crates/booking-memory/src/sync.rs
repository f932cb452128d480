//! The one place that chooses between `std` and `loom` synchronization.
//! Everything in this crate imports locks and atomics from here, so that
//! `RUSTFLAGS="--cfg booking_loom"` model-checks the real code.

#[cfg(booking_loom)]
pub(crate) use loom::sync::{Arc, Mutex, MutexGuard, RwLock, atomic::AtomicUsize, atomic::Ordering};

#[cfg(not(booking_loom))]
pub(crate) use std::sync::{Arc, Mutex, MutexGuard, RwLock, atomic::AtomicUsize, atomic::Ordering};

/// Locks a mutex, ignoring poisoning: every critical section in this crate
/// either completes its update or panics before writing, so a poisoned lock
/// still guards consistent data.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
