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
/// owners.rs): an atomic, or under loom a mutex, because loom's model of an
/// atomic's read-modify-writes mixed with loads fails its own internal
/// assertions (tokio-rs/loom#252); both count the same.
#[derive(Debug)]
pub(crate) struct Counter {
    #[cfg(not(booking_loom))]
    n: AtomicUsize,
    #[cfg(booking_loom)]
    n: Mutex<usize>,
}

impl Counter {
    pub(crate) fn new() -> Self {
        #[cfg(not(booking_loom))]
        return Counter { n: AtomicUsize::new(0) };
        #[cfg(booking_loom)]
        return Counter { n: Mutex::new(0) };
    }

    /// One more under way.
    #[inline]
    pub(crate) fn up(&self) {
        #[cfg(not(booking_loom))]
        self.n.fetch_add(1, Ordering::SeqCst);
        #[cfg(booking_loom)]
        {
            *lock(&self.n) += 1;
        }
    }

    /// One fewer under way.
    #[inline]
    pub(crate) fn down(&self) {
        #[cfg(not(booking_loom))]
        self.n.fetch_sub(1, Ordering::SeqCst);
        #[cfg(booking_loom)]
        {
            *lock(&self.n) -= 1;
        }
    }

    /// Whether nothing is under way.
    #[inline]
    pub(crate) fn is_zero(&self) -> bool {
        #[cfg(not(booking_loom))]
        return self.n.load(Ordering::SeqCst) == 0;
        #[cfg(booking_loom)]
        return *lock(&self.n) == 0;
    }
}
