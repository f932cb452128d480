//! Best available without reading the whole show.
//!
//! [`booking_core::backend::best::pick_best`] prefers, in the rows' order, the first
//! row with a block of adjacent seats that strands no single seat; only when
//! no row has one does it fall back to a stranding block, then to scattered
//! seats. On a large show the answer usually lies in the first rows with
//! room, so the seats are read a few whole rows at a time (a chunk that
//! doubles each time), and the rows not read yet are taken as entirely free.
//!
//! That guess can only add free seats, and whole rows at a time, so when the
//! pick made with it lies entirely in the rows read, it is the pick the
//! whole show's state would give:
//!
//! - a non-stranding block in a read row: every row before it was read and
//!   has none, and the rows after it do not matter;
//! - a stranding block or scattered seats: these are picked only when no row
//!   has a non-stranding block, yet a row not read, taken as entirely free,
//!   has one as soon as it has `quantity` seats of the wanted category
//!   (nothing free is next to a taken seat in it). So every unread row is too
//!   short for the request, in truth as well, and the read rows, identical
//!   in both, decide alike (scattered seats are taken in layout order, read
//!   rows first);
//! - no pick: fewer seats match even with every unread seat free.
//!
//! Otherwise the pick touches an unread row, and the next chunk is read.
//!
//! The seats are read without locks, so by the time the pick is held other
//! requests may have changed them. The hold is therefore made with the
//! pick's [`Region`] (`booking.hold_best_seats`): the rows the pick depended
//! on, whose seats it locks and whose free seats it compares with those the
//! pick was made from. Only an unchanged region is held; a changed one
//! sends its free seats back, and the pick is made again. So the hold takes
//! the pick the show's state gives at the instant it is made, as the
//! reference model would, however requests interleave.

use booking_core::backend::best::strands_one;
use booking_core::layout::RowRange;
use booking_core::{SeatId, SectionId};

/// Seats read first (whole rows, at least this many).
const FIRST_CHUNK: u32 = 256;

/// The free seats of the rows of one best-available request read so far.
#[derive(Debug)]
pub(crate) struct Prefix {
    /// The rows the request may use, in layout order.
    rows: Vec<RowRange>,
    /// `rows[..read]` are read.
    read: usize,
    /// The first seat of `rows[0]`: the rows of a section (or of the show)
    /// are consecutive seat ids.
    lo: u32,
    /// The first seat after the rows read.
    hi: u32,
    /// Whether seat `lo + i` is free, for the rows read.
    free: Vec<bool>,
    /// Seats to read next.
    chunk: u32,
}

impl Prefix {
    /// Nothing read yet, for a request of `quantity` seats in `section` (or
    /// the whole show) of a layout with rows `rows`.
    pub(crate) fn new(rows: &[RowRange], section: Option<SectionId>, quantity: u32) -> Self {
        let rows: Vec<RowRange> =
            rows.iter().filter(|r| r.len > 0 && section.is_none_or(|s| r.section == s)).copied().collect();
        let lo = rows.first().map_or(0, |r| r.first.0);
        Prefix { rows, read: 0, lo, hi: lo, free: Vec::new(), chunk: FIRST_CHUNK.max(quantity.saturating_mul(4)) }
    }

    /// Whether `seat` may be held: as read, or free when its row is not read
    /// yet.
    pub(crate) fn is_free(&self, seat: u32) -> bool {
        if seat < self.lo {
            false
        } else if seat < self.hi {
            self.free[(seat - self.lo) as usize]
        } else {
            true
        }
    }

    /// Whether every seat of `seats` lies in the rows read.
    pub(crate) fn covers(&self, seats: &[SeatId]) -> bool {
        seats.iter().all(|s| s.0 >= self.lo && s.0 < self.hi)
    }

    /// The seat ids (first, last, inclusive) of the next chunk of whole rows
    /// to read, or `None` when every row is read.
    pub(crate) fn next_chunk(&mut self) -> Option<(u32, u32)> {
        let first = self.rows.get(self.read)?.first.0;
        let mut last = first;
        let mut seats = 0u32;
        while let Some(row) = self.rows.get(self.read) {
            if seats >= self.chunk {
                break;
            }
            seats = seats.saturating_add(row.len);
            last = row.first.0 + row.len - 1;
            self.read += 1;
        }
        self.chunk = self.chunk.saturating_mul(2);
        Some((first, last))
    }

    /// Records the free seats `free` (ascending) of the chunk just
    /// returned by [`Prefix::next_chunk`], ending at seat `last`.
    pub(crate) fn fill(&mut self, last: u32, free: &[u32]) {
        let from = self.hi;
        self.free.resize((last + 1 - self.lo) as usize, false);
        for &s in free.iter().filter(|&&s| s >= from && s <= last) {
            self.free[(s - self.lo) as usize] = true;
        }
        self.hi = last + 1;
    }

    /// Replaces what is known of the seats `first..=last` (read rows) by
    /// the free seats `free`, read again.
    pub(crate) fn refresh(&mut self, first: u32, last: u32, free: &[u32]) {
        for s in first.max(self.lo)..=last.min(self.hi.saturating_sub(1)) {
            self.free[(s - self.lo) as usize] = false;
        }
        for &s in free.iter().filter(|&&s| s >= first && s <= last && s >= self.lo && s < self.hi) {
            self.free[(s - self.lo) as usize] = true;
        }
    }

    /// What the pick `seats` (lying in the rows read) depended on.
    ///
    /// A block of adjacent seats in row `k` that strands no seat was picked
    /// because no row before `k` had one: the region is the rows up to `k`.
    /// Any other pick (a stranding block, scattered seats) was made because
    /// no row read had such a block: the region is every row read. Locked
    /// are the region's free seats (a taken seat elsewhere in the region
    /// changing matters only by becoming free, and the comparison sees a
    /// committed change) and every seat of the rows the pick lies in (their
    /// taken seats decide where in the row the block goes).
    pub(crate) fn region(&self, seats: &[SeatId]) -> Region {
        let rows = &self.rows[..self.read];
        let row_of = |s: &SeatId| rows.iter().find(|r| s.0 >= r.first.0 && s.0 < r.first.0 + r.len);
        let n = seats.len() as u32;
        let one_block = seats.first().and_then(row_of).filter(|r| {
            let start = seats[0].0 - r.first.0;
            seats.windows(2).all(|w| w[1].0 == w[0].0 + 1)
                && seats.last().is_some_and(|s| s.0 < r.first.0 + r.len)
                && !strands_one(r, start, n, &|s: SeatId| self.is_free(s.0))
        });
        let last = match one_block {
            Some(r) => r.first.0 + r.len - 1,
            None => self.hi.saturating_sub(1),
        };
        let free: Vec<i32> = (self.lo..=last).filter(|&s| self.is_free(s)).map(|s| s as i32).collect();
        let mut lock = free.clone();
        for r in rows.iter().filter(|r| seats.iter().any(|s| s.0 >= r.first.0 && s.0 < r.first.0 + r.len)) {
            lock.extend((r.first.0..r.first.0 + r.len).map(|s| s as i32));
        }
        lock.sort_unstable();
        lock.dedup();
        Region { first: self.lo, last, lock, free }
    }
}

/// What a best-available pick depended on: see [`Prefix::region`].
#[derive(Debug)]
pub(crate) struct Region {
    /// The region's first seat.
    pub first: u32,
    /// The region's last seat.
    pub last: u32,
    /// The seats the hold locks before it compares, ascending.
    pub lock: Vec<i32>,
    /// The region's free seats the pick was made from, ascending.
    pub free: Vec<i32>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use booking_core::backend::best::{PickRequest, pick_best};
    use booking_core::{PriceCategory, SeatId, VenueLayout};

    /// The chunked pick equals the pick over the whole show, for many
    /// fillings of a small venue.
    #[test]
    fn chunked_pick_is_the_whole_pick() {
        let layout = VenueLayout::grid(2, 40, 9, PriceCategory(1));
        let rows = layout.rows();
        let n = layout.seat_count() as u32;
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for case in 0..400u32 {
            // Taken seats: the front rows more often, as an on-sale fills.
            let mut taken = vec![false; n as usize];
            let fill = case % 100;
            for (s, t) in taken.iter_mut().enumerate() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let front = 100 - (s as u32 * 100 / n);
                *t = (x % 100) < u64::from(fill * front / 100 + fill / 2).min(99);
            }
            // Price categories: the whole venue alike, or every third seat.
            for (category, of) in [(None, 1), (Some(PriceCategory(1)), 3)] {
                let cat = move |s: SeatId| PriceCategory((s.0 % of) as u16);
                for (quantity, section) in
                    [1, 2, 3, 5, 9, 10].into_iter().flat_map(|q| [(q, None), (q, Some(SectionId(1)))])
                {
                    let req = PickRequest { quantity, section, category };
                    let whole = pick_best(&rows, &req, cat, |s| !taken[s.0 as usize]);
                    let mut prefix = Prefix { chunk: 9, ..Prefix::new(&rows, section, quantity) };
                    let chunked = loop {
                        let pick = pick_best(&rows, &req, cat, |s| prefix.is_free(s.0));
                        match pick {
                            Some(seats) if !prefix.covers(&seats) => {
                                let (a, b) = prefix.next_chunk().expect("rows left to read");
                                let free: Vec<u32> = (a..=b).filter(|&s| !taken[s as usize]).collect();
                                prefix.fill(b, &free);
                            }
                            other => break other,
                        }
                    };
                    assert_eq!(chunked, whole, "case {case}, {req:?}");
                    // The region holds everything the pick depends on: seats
                    // after it changing (among the rows read) change nothing.
                    if let Some(seats) = &chunked {
                        let region = prefix.region(seats);
                        assert!(region.free.iter().all(|&s| prefix.is_free(s as u32)));
                        assert!(seats.iter().all(|s| region.lock.contains(&(s.0 as i32))), "the pick is locked");
                        let mut flipped = Prefix { free: prefix.free.clone(), rows: prefix.rows.clone(), ..prefix };
                        for s in region.last + 1..flipped.hi {
                            x ^= x << 13;
                            x ^= x >> 7;
                            x ^= x << 17;
                            if x.is_multiple_of(3) {
                                let i = (s - flipped.lo) as usize;
                                flipped.free[i] = !flipped.free[i];
                            }
                        }
                        let again = pick_best(&rows, &req, cat, |s| flipped.is_free(s.0));
                        assert_eq!(again.as_ref(), Some(seats), "case {case}, {req:?}: outside the region");
                    }
                }
            }
        }
    }
}
