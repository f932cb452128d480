//! What the stub mailer and the recording SMS gateway share: a log of
//! what was accepted, and failures on demand.

use std::sync::{Arc, Mutex, MutexGuard};

#[derive(Debug)]
struct State<T> {
    accepted: Vec<T>,
    failures: u32,
}

/// A shared log of accepted items that refuses the next `n` on demand.
#[derive(Debug)]
pub(crate) struct Recorder<T> {
    state: Arc<Mutex<State<T>>>,
}

impl<T> Clone for Recorder<T> {
    fn clone(&self) -> Self {
        Recorder { state: Arc::clone(&self.state) }
    }
}

impl<T> Default for Recorder<T> {
    fn default() -> Self {
        Recorder { state: Arc::new(Mutex::new(State { accepted: Vec::new(), failures: 0 })) }
    }
}

impl<T: Clone> Recorder<T> {
    /// Makes the next `n` calls of [`Self::accept`] refuse.
    pub(crate) fn fail_next(&self, n: u32) {
        self.state().failures = n;
    }

    /// Everything accepted so far, oldest first.
    pub(crate) fn accepted(&self) -> Vec<T> {
        self.state().accepted.clone()
    }

    /// Keeps `item` and returns true, or returns false (keeping nothing)
    /// while failures are due.
    pub(crate) fn accept(&self, item: &T) -> bool {
        let mut state = self.state();
        if state.failures > 0 {
            state.failures -= 1;
            return false;
        }
        state.accepted.push(item.clone());
        true
    }

    fn state(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}
