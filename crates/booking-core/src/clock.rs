//! Time as a port (design I8): every expiry decision reads one clock.
//!
//! Production backends use the store's own clock (PostgreSQL
//! `clock_timestamp()`, Redis `TIME`) or [`SystemClock`] in process; tests
//! inject a [`ManualClock`] and move time without sleeping.

use chrono::{DateTime, Duration, Utc};
use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// A source of the current time.
pub trait Clock: Send + Sync + Debug {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;

    /// The current time in milliseconds since the Unix epoch. Backends on a
    /// hot path call this instead of [`Clock::now`].
    fn now_millis(&self) -> i64 {
        self.now().timestamp_millis()
    }
}

/// The operating system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn now_millis(&self) -> i64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
    }
}

/// A clock that only moves when told to. Clones share the same time, so a
/// test keeps one handle and gives another to the backend.
///
/// Resolution is one millisecond.
#[derive(Debug, Clone)]
pub struct ManualClock {
    millis: Arc<AtomicI64>,
}

impl ManualClock {
    /// A clock stopped at `start` (truncated to the millisecond).
    pub fn new(start: DateTime<Utc>) -> Self {
        ManualClock { millis: Arc::new(AtomicI64::new(start.timestamp_millis())) }
    }

    /// A clock stopped at a fixed, arbitrary instant (2030-01-01T00:00:00Z).
    pub fn fixed() -> Self {
        ManualClock { millis: Arc::new(AtomicI64::new(1_893_456_000_000)) }
    }

    /// Moves the clock forward (or back, with a negative duration).
    pub fn advance(&self, by: Duration) {
        self.millis.fetch_add(by.num_milliseconds(), Ordering::SeqCst);
    }

    /// Sets the clock to `to`.
    pub fn set(&self, to: DateTime<Utc>) {
        self.millis.store(to.timestamp_millis(), Ordering::SeqCst);
    }

    /// This clock as a shareable trait object.
    pub fn shared(&self) -> Arc<dyn Clock> {
        Arc::new(self.clone())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        millis_to_datetime(self.millis.load(Ordering::SeqCst))
    }

    fn now_millis(&self) -> i64 {
        self.millis.load(Ordering::SeqCst)
    }
}

/// Which clock a store decides expiry by (design I8).
#[derive(Clone, Debug, Default)]
pub enum TimeSource {
    /// The store's own clock (PostgreSQL `clock_timestamp()`, Redis
    /// `TIME`): every server of a deployment agrees, whatever their own
    /// clocks say. The production choice.
    #[default]
    Store,
    /// A clock the application injects: a [`ManualClock`] in tests, moved
    /// by the test; never a client's clock in production.
    Injected(Arc<dyn Clock>),
}

impl TimeSource {
    /// The injected clock's time in Unix ms, or `None` for the store's own.
    pub fn injected_millis(&self) -> Option<i64> {
        match self {
            TimeSource::Store => None,
            TimeSource::Injected(c) => Some(c.now_millis()),
        }
    }
}

/// A duration in whole milliseconds, saturating at `i64::MAX` (an absurd
/// TTL or lease means "for ever", never an overflow).
pub fn saturating_millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Converts Unix milliseconds to a UTC time, saturating at chrono's range.
pub fn millis_to_datetime(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or(if ms < 0 {
        DateTime::<Utc>::MIN_UTC
    } else {
        DateTime::<Utc>::MAX_UTC
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = ManualClock::fixed();
        let other = c.clone();
        let t0 = c.now();
        assert_eq!(c.now(), t0);
        other.advance(Duration::seconds(90));
        assert_eq!(c.now() - t0, Duration::seconds(90));
        assert_eq!(c.now_millis(), t0.timestamp_millis() + 90_000);
    }

    #[test]
    fn system_clock_millis_agree_with_now() {
        let a = SystemClock.now_millis();
        let b = SystemClock.now().timestamp_millis();
        assert!((b - a).abs() < 1_000);
    }
}
