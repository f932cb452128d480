//! Unix milliseconds to `DateTime<Utc>` for the holds a show answers with.
//!
//! Every hold carries its expiry as a `DateTime<Utc>`. Turning a day number
//! into a calendar date is most of chrono's conversion, and a hold's expiry
//! nearly always falls on the same day as the previous one's, so each
//! thread keeps the last day's date and builds only the time of day.

use booking_core::clock::millis_to_datetime;
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use std::cell::Cell;

const DAY_MS: i64 = 86_400_000;

thread_local! {
    /// The last day converted: (days since the Unix epoch, its date).
    static LAST_DAY: Cell<Option<(i64, NaiveDate)>> = const { Cell::new(None) };
    /// The last time converted. Holds made in the same millisecond with
    /// the same hold time (the common case under load) expire at the same
    /// instant.
    static LAST: Cell<Option<(i64, DateTime<Utc>)>> = const { Cell::new(None) };
}

/// `ms` (Unix milliseconds) as a UTC time: exactly
/// [`millis_to_datetime`], saturating at chrono's range.
#[inline]
pub(crate) fn datetime(ms: i64) -> DateTime<Utc> {
    match LAST.get() {
        Some((last, at)) if last == ms => at,
        _ => convert(ms),
    }
}

/// [`datetime`] of a time other than the last one: through the per-thread
/// day cache, then remembered. Out of line, so that the common path above
/// inlines without this one's register saves.
#[inline(never)]
fn convert(ms: i64) -> DateTime<Utc> {
    let at = convert_day(ms);
    LAST.set(Some((ms, at)));
    at
}

/// [`datetime`] through the per-thread day cache.
fn convert_day(ms: i64) -> DateTime<Utc> {
    let day = ms.div_euclid(DAY_MS);
    let in_day = ms.rem_euclid(DAY_MS);
    let date = match LAST_DAY.get() {
        Some((d, date)) if d == day => date,
        _ => {
            let full = millis_to_datetime(ms);
            // Out of chrono's range the conversion saturated: answer that,
            // remember nothing.
            if full.timestamp_millis() != ms {
                return full;
            }
            LAST_DAY.set(Some((day, full.date_naive())));
            return full;
        }
    };
    // `in_day` is below a day's milliseconds, so both parts are in range.
    let secs = (in_day / 1_000) as u32;
    let nanos = (in_day % 1_000) as u32 * 1_000_000;
    match NaiveTime::from_num_seconds_from_midnight_opt(secs, nanos) {
        Some(time) => NaiveDateTime::new(date, time).and_utc(),
        None => millis_to_datetime(ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use booking_core::Clock as _;

    #[test]
    fn agrees_with_chrono_across_days_and_ranges() {
        let mut samples = vec![0, -1, 1, DAY_MS - 1, DAY_MS, -DAY_MS, -DAY_MS - 1, i64::MIN, i64::MAX];
        // A leap day, a century, a year boundary, and today.
        samples.extend([951_782_400_000, 946_684_799_999, 1_735_689_600_000, 1_767_225_599_999]);
        samples.push(booking_core::SystemClock.now_millis());
        samples.extend([8_210_298_412_799_999, 8_210_298_412_800_000, -8_334_601_228_800_000, -8_334_601_228_800_001]);
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            samples.push((x as i64) >> 10);
        }
        // Twice, so that the second pass converts through the cached days.
        for ms in samples.iter().chain(&samples).copied() {
            assert_eq!(datetime(ms), millis_to_datetime(ms), "{ms} ms");
        }
        // Neighbours on one day: the cached path; each twice in a row, the
        // second time from the last-time cache.
        let base = 1_767_225_000_000;
        for step in 0..2_000 {
            let ms = base + step * 337;
            assert_eq!(datetime(ms), millis_to_datetime(ms), "{ms} ms");
            assert_eq!(datetime(ms), millis_to_datetime(ms), "{ms} ms again");
        }
    }
}
