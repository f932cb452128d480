//! The inventory's clock reading on the hot paths.
//!
//! An inventory made with [`crate::MemoryInventory::new`] reads the system
//! clock itself: `SystemClock::now_millis` goes through `SystemTime` and
//! `Duration` (a checked subtraction of two timespecs, then a 128-bit
//! millisecond count), about 55 instructions a reading beside the clock
//! read proper, and every request reads the clock once. Other clocks are
//! called through the [`Clock`] trait, among them [`CoarseClock`], the
//! system clock without the sub-tick part of the reading.

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
fn system_millis() -> i64 {
    #[cfg(target_os = "linux")]
    if let Some(ms) = read_millis(libc::CLOCK_REALTIME) {
        return ms;
    }
    SystemClock.now_millis()
}

/// The system's real-time clock as it stood at the kernel's last tick.
///
/// [`SystemClock`] asks the processor for the time elapsed since that
/// tick on every reading (a serializing time-stamp counter read: tens of
/// nanoseconds on some virtual machines); this clock does not, so a
/// reading lags the real time by up to one tick (`CLOCK_REALTIME_COARSE`,
/// 1 to 10 ms depending on the kernel; 4 ms on a 250 Hz kernel). As with
/// [`crate::TickClock`], an inventory on it decides expiry up to one tick
/// late, never early (a hold's `held_until` is honoured in real time), and
/// needs no background thread.
///
/// On systems other than Linux it reads [`SystemClock`].
#[derive(Debug, Clone, Copy, Default)]
pub struct CoarseClock;

impl Clock for CoarseClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        booking_core::clock::millis_to_datetime(self.now_millis())
    }

    fn now_millis(&self) -> i64 {
        #[cfg(target_os = "linux")]
        if let Some(ms) = read_millis(libc::CLOCK_REALTIME_COARSE) {
            return ms;
        }
        SystemClock.now_millis()
    }
}

/// `clock`'s time in whole milliseconds since the Unix epoch, or `None`
/// when it cannot be read or is before the epoch.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
// `time_t` and `c_long` are `i32` on 32-bit targets: the conversions are not
// useless there.
#[allow(clippy::useless_conversion)]
#[inline]
fn read_millis(clock: libc::clockid_t) -> Option<i64> {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a live, writable `timespec` for the whole call, which
    // is all `clock_gettime` writes to; an unknown clock id is an error
    // return, not undefined behaviour.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    if rc != 0 || ts.tv_sec < 0 {
        return None;
    }
    Some(i64::from(ts.tv_sec).saturating_mul(1_000).saturating_add(i64::from(ts.tv_nsec) / 1_000_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_coarse_clock_lags_the_system_clock_by_at_most_a_tick() {
        for _ in 0..1_000 {
            let before = SystemClock.now_millis();
            let coarse = CoarseClock.now_millis();
            let after = SystemClock.now_millis();
            // Never ahead; behind by about a tick (at most 10 ms on common
            // kernels), with a wide margin for a stalled virtual machine.
            assert!(coarse <= after && coarse >= before - 1_000, "{before} / {coarse} / {after}");
        }
        let now = CoarseClock.now();
        assert_eq!(now.timestamp_millis() / 1_000, now.timestamp());
    }

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
