//! The one place that chooses between `std` and `loom` synchronization.
//! Everything in this crate imports locks and atomics from here, so that
//! `RUSTFLAGS="--cfg booking_loom"` model-checks the real code.

#[cfg(booking_loom)]
pub(crate) use loom::sync::{Arc, Mutex, MutexGuard, RwLock, atomic::AtomicUsize, atomic::Ordering};
#[cfg(booking_loom)]
pub(crate) use loom::thread::yield_now;

#[cfg(not(booking_loom))]
pub(crate) use std::sync::{Arc, Mutex, MutexGuard, RwLock, atomic::AtomicUsize, atomic::Ordering};
#[cfg(not(booking_loom))]
pub(crate) use std::thread::yield_now;

// The lock of the seat and owner stripes: loom's mutex when model
// checking, else the spin lock of `spin.rs`.
#[cfg(not(booking_loom))]
pub(crate) use crate::spin::{SpinGuard, SpinMutex};
#[cfg(booking_loom)]
pub(crate) use loom::sync::{Mutex as SpinMutex, MutexGuard as SpinGuard};

/// Locks a mutex, ignoring poisoning: every critical section in this crate
/// either completes its update or panics before writing, so a poisoned lock
/// still guards consistent data.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Locks a stripe (see [`SpinMutex`]).
#[inline]
pub(crate) fn spin<T>(m: &SpinMutex<T>) -> SpinGuard<'_, T> {
    #[cfg(booking_loom)]
    return lock(m);
    #[cfg(not(booking_loom))]
    return m.lock();
}
