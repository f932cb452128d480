//! The inventory's clock reading on the hot paths.
//!
//! An inventory made with [`crate::MemoryInventory::new`] reads the system
//! clock itself: `SystemClock::now_millis` goes through `SystemTime` and
//! `Duration` (a checked subtraction of two timespecs, then a 128-bit
//! millisecond count), about 55 instructions a reading beside the clock
//! read proper, and every request reads the clock once. Other clocks are
//! called through the [`Clock`] trait.

use booking_core::{Clock, SystemClock};

/// Where an inventory's time comes from.
#[derive(Debug)]
pub(crate) enum Now {
    /// The system clock, read as [`SystemClock::now_millis`] reads it.
    System,
    /// Any other clock (a [`booking_core::ManualClock`] in tests, a
    /// [`crate::TickClock`]).
    Clock(std::sync::Arc<dyn Clock>),
}

impl Now {
    /// The current time in Unix milliseconds.
    #[inline]
    pub(crate) fn millis(&self) -> i64 {
        match self {
            Now::System => system_millis(),
            Now::Clock(clock) => clock.now_millis(),
        }
    }
}

/// [`SystemClock::now_millis`]: the system's real-time clock in whole
/// milliseconds since the Unix epoch, 0 before the epoch, read straight
/// from `clock_gettime`.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
// `time_t` and `c_long` are `i32` on 32-bit targets: the conversions are not
// useless there.
#[allow(clippy::useless_conversion)]
fn system_millis() -> i64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a live, writable `timespec` for the whole call, which
    // is all `clock_gettime` writes to; CLOCK_REALTIME always exists.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    if rc != 0 || ts.tv_sec < 0 {
        return SystemClock.now_millis();
    }
    i64::from(ts.tv_sec).saturating_mul(1_000).saturating_add(i64::from(ts.tv_nsec) / 1_000_000)
}

/// [`SystemClock::now_millis`], elsewhere.
#[cfg(not(target_os = "linux"))]
fn system_millis() -> i64 {
    SystemClock.now_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_system_clock_as_system_clock_does() {
        for _ in 0..1_000 {
            let before = SystemClock.now_millis();
            let now = Now::System.millis();
            let after = SystemClock.now_millis();
            assert!(before <= now && now <= after, "{before} <= {now} <= {after}");
        }
    }
}
