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

/// Locks a mutex, ignoring poisoning: every critical section in this crate
/// either completes its update or panics before writing, so a poisoned lock
/// still guards consistent data.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A count of changes under way, read while other locks are held (see
/// owners.rs). Under loom it is a plain `std` atomic, which loom does not
/// model: its operations are not points where loom switches threads (its
/// model of an atomic's read-modify-writes mixed with loads fails its own
/// internal assertions, tokio-rs/loom#252), and the locks around them are.
/// Loom runs one modelled thread at a time, so the count is always exact.
#[derive(Debug)]
pub(crate) struct Counter {
    n: std::sync::atomic::AtomicUsize,
}

impl Counter {
    pub(crate) fn new() -> Self {
        Counter { n: std::sync::atomic::AtomicUsize::new(0) }
    }

    /// One more under way.
    #[inline]
    pub(crate) fn up(&self) {
        self.n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    /// One fewer under way.
    #[inline]
    pub(crate) fn down(&self) {
        self.n.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }

    /// Whether nothing is under way.
    #[inline]
    pub(crate) fn is_zero(&self) -> bool {
        self.n.load(std::sync::atomic::Ordering::SeqCst) == 0
    }
}
