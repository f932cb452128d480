//! Best-available seat picking, as a pure function every backend shares.

use crate::ids::{PriceCategory, SeatId, SectionId};
use crate::layout::RowRange;

/// What a best-available request may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PickRequest {
    /// How many seats.
    pub quantity: u32,
    /// Only this section.
    pub section: Option<SectionId>,
    /// Only this price category.
    pub category: Option<PriceCategory>,
}

/// Picks `req.quantity` seats.
///
/// `rows` are the layout's rows best first ([`crate::VenueLayout::rows`]),
/// `category(seat)` gives a seat's price category and `free(seat)` whether it
/// can be held now. The choice, in order of preference:
///
/// 1. adjacent seats in one row that strand no single free seat between
///    taken seats, in the best such row, the block nearest the row's middle;
/// 2. adjacent seats in one row even if they strand one;
/// 3. the first matching free seats in layout order.
///
/// Returns the seats ascending, or `None` when fewer than `quantity` match.
pub fn pick_best(
    rows: &[RowRange],
    req: &PickRequest,
    category: impl Fn(SeatId) -> PriceCategory,
    free: impl Fn(SeatId) -> bool,
) -> Option<Vec<SeatId>> {
    let n = req.quantity;
    if n == 0 {
        return None;
    }
    let eligible = |s: SeatId| req.category.is_none_or(|c| category(s) == c) && free(s);
    let rows: Vec<&RowRange> = rows.iter().filter(|r| req.section.is_none_or(|s| r.section == s)).collect();
    let mut fallback_block: Option<(u32, u32)> = None; // (first seat, len) of rule 2
    for row in &rows {
        if row.len < n {
            continue;
        }
        let mut best: Option<(u32, bool, u32)> = None; // (start, strands, distance to middle)
        let mut run = 0u32;
        for pos in 0..row.len {
            if eligible(SeatId(row.first.0 + pos)) {
                run += 1;
            } else {
                run = 0;
            }
            if run >= n {
                let start = pos + 1 - n;
                let strands = strands_one(row, start, n, &free);
                let mid2 = 2 * start + n; // twice the block's middle
                let dist = mid2.abs_diff(row.len);
                let better = match best {
                    None => true,
                    Some((_, bs, bd)) => (strands, dist) < (bs, bd),
                };
                if better {
                    best = Some((start, strands, dist));
                }
            }
        }
        match best {
            Some((start, false, _)) => return Some((0..n).map(|i| SeatId(row.first.0 + start + i)).collect()),
            Some((start, true, _)) if fallback_block.is_none() => fallback_block = Some((row.first.0 + start, n)),
            _ => {}
        }
    }
    if let Some((first, len)) = fallback_block {
        return Some((first..first + len).map(SeatId).collect());
    }
    let mut out = Vec::with_capacity(n as usize);
    for row in &rows {
        for pos in 0..row.len {
            let s = SeatId(row.first.0 + pos);
            if eligible(s) {
                out.push(s);
                if out.len() == n as usize {
                    return Some(out);
                }
            }
        }
    }
    None
}

/// True when taking seats `start..start+n` of `row` (positions in the row)
/// leaves a lone free seat with taken seats on both sides: the first rule
/// of [`pick_best`], for a backend that reads seats as [`pick_best`] does.
pub fn strands_one(row: &RowRange, start: u32, n: u32, free: &impl Fn(SeatId) -> bool) -> bool {
    let at = |pos: u32| free(SeatId(row.first.0 + pos));
    let left = start >= 2 && at(start - 1) && !at(start - 2);
    let right = start + n + 1 < row.len && at(start + n) && !at(start + n + 1);
    left || right
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::VenueLayout;

    fn pick(layout: &VenueLayout, taken: &[u32], n: u32) -> Option<Vec<u32>> {
        let req = PickRequest { quantity: n, section: None, category: None };
        pick_best(&layout.rows(), &req, |_| PriceCategory(0), |s| !taken.contains(&s.0))
            .map(|v| v.into_iter().map(|s| s.0).collect())
    }

    #[test]
    fn prefers_the_middle_of_the_best_row() {
        let l = VenueLayout::grid(1, 2, 8, PriceCategory(0));
        assert_eq!(pick(&l, &[], 2), Some(vec![3, 4]));
        assert_eq!(pick(&l, &[0, 1, 2, 3, 4, 5, 6, 7], 2), Some(vec![11, 12]));
    }

    #[test]
    fn avoids_stranding_a_single_seat() {
        // Row of 8, seats 0 and 4 taken: free runs 1-3 and 5-7. Taking 1-2
        // strands 3 between 2 and 4; 2-3 strands 1 between 0 and 2; 5-6
        // leaves 7 at the row's end (not between taken seats).
        let l = VenueLayout::grid(1, 1, 8, PriceCategory(0));
        let got = pick(&l, &[0, 4], 2).unwrap();
        assert_eq!(got, vec![5, 6]);
    }

    #[test]
    fn strands_only_when_there_is_no_other_choice_then_scatters() {
        let l = VenueLayout::grid(1, 1, 5, PriceCategory(0));
        // Free: 1,2,3 (0 and 4 taken). Any pair strands one seat.
        assert_eq!(pick(&l, &[0, 4], 2).map(|v| v.len()), Some(2));
        // Free: 0, 2, 4: no pair is adjacent; first free seats win.
        assert_eq!(pick(&l, &[1, 3], 2), Some(vec![0, 2]));
        assert_eq!(pick(&l, &[1, 3], 4), None);
    }

    #[test]
    fn honours_section_and_category() {
        let l = VenueLayout::grid(2, 1, 4, PriceCategory(0));
        let req = PickRequest { quantity: 2, section: Some(SectionId(1)), category: None };
        let got = pick_best(&l.rows(), &req, |_| PriceCategory(0), |_| true).unwrap();
        assert!(got.iter().all(|s| s.0 >= 4));
        let req = PickRequest { quantity: 2, section: None, category: Some(PriceCategory(7)) };
        let got = pick_best(&l.rows(), &req, |s| PriceCategory(if s.0 % 2 == 0 { 7 } else { 0 }), |_| true).unwrap();
        assert_eq!(got, vec![SeatId(0), SeatId(2)]);
    }
}
