//! A clock read with one atomic load: a background thread refreshes it.

use booking_core::{Clock, SystemClock, clock::millis_to_datetime};
use chrono::{DateTime, Utc};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// The system clock, sampled by a background thread every `resolution`
/// (1 ms by default) so that reading it costs one atomic load instead of a
/// `clock_gettime` call: a third of a single-seat hold's cost on this
/// backend. Expiry decisions may then run up to one resolution (plus the
/// refresher's scheduling delay) late, never early.
///
/// The refresher thread stops when the last clone of the clock is dropped.
#[derive(Debug, Clone)]
pub struct TickClock {
    millis: Arc<AtomicI64>,
}

impl TickClock {
    /// Starts a clock refreshed every millisecond.
    pub fn start() -> std::io::Result<Self> {
        Self::with_resolution(Duration::from_millis(1))
    }

    /// Starts a clock refreshed every `resolution`.
    pub fn with_resolution(resolution: Duration) -> std::io::Result<Self> {
        let millis = Arc::new(AtomicI64::new(SystemClock.now_millis()));
        let weak: Weak<AtomicI64> = Arc::downgrade(&millis);
        std::thread::Builder::new().name("booking-tick-clock".into()).spawn(move || {
            while let Some(m) = weak.upgrade() {
                m.store(SystemClock.now_millis(), Ordering::Relaxed);
                drop(m);
                std::thread::sleep(resolution);
            }
        })?;
        Ok(TickClock { millis })
    }
}

impl Clock for TickClock {
    fn now(&self) -> DateTime<Utc> {
        millis_to_datetime(self.now_millis())
    }

    fn now_millis(&self) -> i64 {
        self.millis.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_clock_follows_the_system_clock() {
        let c = TickClock::start().expect("thread");
        let d = (c.now_millis() - SystemClock.now_millis()).abs();
        assert!(d < 1_000, "{d} ms apart");
    }
}
