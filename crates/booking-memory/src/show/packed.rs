//! A show's layout as created (labels, coordinates, categories), packed
//! for `show_spec` to give back exactly.
//!
//! The hot paths read the compact [`booking_core::LayoutIndex`]; the full
//! layout is only read back by `show_spec`. Kept as `VenueLayout` it costs
//! about 42 bytes a seat (a 24-byte label `String`, its heap bytes,
//! coordinates and category): two thirds of the seat's own 64. Most seats
//! are what their neighbour predicts (label = position in the row + 1,
//! x = the previous seat's x + 1, same y, same category), so the packing
//! stores runs of predicted seats as one byte and only the fields that
//! differ from the prediction otherwise.
//!
//! Format (varints are LEB128; signed deltas zigzag-encoded):
//! sections, then per section its name and rows, per row its name, its seat
//! count and its seats. A seat byte `0x80 | (n - 1)` stands for `n`
//! (1..=128) predicted seats; any other byte is a mask of the fields that
//! follow it, in this order: label (`LABEL`), x delta from the prediction
//! (`X`), y delta from the previous seat's y (`Y`), category (`CATEGORY`).

use booking_core::{PriceCategory, RowSpec, SeatSpec, SectionSpec, VenueLayout};

const LABEL: u8 = 1;
const X: u8 = 2;
const Y: u8 = 4;
const CATEGORY: u8 = 8;
const RUN: u8 = 0x80;
/// Longest run one byte stands for.
const MAX_RUN: usize = 128;

/// A layout packed as described in the module docs.
#[derive(Debug)]
pub(crate) struct PackedLayout(Box<[u8]>);

/// The previous seat's fields, from which the next seat is predicted. It
/// carries over from row to row (a row's first seat is predicted at x 0).
#[derive(Clone, Copy)]
struct Prev {
    x: i32,
    y: i32,
    category: PriceCategory,
}

impl Prev {
    const START: Prev = Prev { x: -1, y: 0, category: PriceCategory(0) };
}

/// Whether `label` is the decimal of `position + 1`, as grid layouts label seats.
fn is_predicted_label(label: &str, position: usize) -> bool {
    let mut n = position + 1;
    let bytes = label.as_bytes();
    let mut i = bytes.len();
    while i > 0 {
        i -= 1;
        if bytes[i] != b'0' + (n % 10) as u8 {
            return false;
        }
        n /= 10;
        if n == 0 {
            return i == 0;
        }
    }
    false
}

fn zigzag(d: i64) -> u64 {
    ((d << 1) ^ (d >> 63)) as u64
}

fn unzigzag(z: u64) -> i64 {
    ((z >> 1) as i64) ^ -((z & 1) as i64)
}

struct Writer(Vec<u8>);

impl Writer {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push(v as u8 | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn str(&mut self, s: &str) {
        self.varint(s.len() as u64);
        self.0.extend_from_slice(s.as_bytes());
    }

    fn run(&mut self, n: usize) {
        let mut left = n;
        while left > 0 {
            let k = left.min(MAX_RUN);
            self.0.push(RUN | (k - 1) as u8);
            left -= k;
        }
    }
}

/// Reads what [`Writer`] wrote. Past the end it reads zeros and empty
/// strings rather than panicking (it only ever reads its own writer's bytes).
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    fn varint(&mut self) -> u64 {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte();
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                break;
            }
        }
        v
    }

    fn str(&mut self) -> String {
        let len = usize::try_from(self.varint()).unwrap_or(usize::MAX).min(self.0.len());
        let (s, rest) = self.0.split_at(len);
        self.0 = rest;
        String::from_utf8_lossy(s).into_owned()
    }

    /// A count of items still to read, bounded by the bytes left (every
    /// item takes at least one byte, or 1/128 of one for predicted seats),
    /// so that no read asks for an absurd allocation.
    fn count(&mut self, per_byte: usize) -> usize {
        usize::try_from(self.varint()).unwrap_or(usize::MAX).min(self.0.len().saturating_mul(per_byte))
    }
}

impl PackedLayout {
    pub(crate) fn pack(layout: &VenueLayout) -> Self {
        let mut w = Writer(Vec::new());
        let mut prev = Prev::START;
        w.varint(layout.sections.len() as u64);
        for section in &layout.sections {
            w.str(&section.name);
            w.varint(section.rows.len() as u64);
            for row in &section.rows {
                w.str(&row.name);
                w.varint(row.seats.len() as u64);
                prev.x = -1;
                let mut run = 0;
                for (position, seat) in row.seats.iter().enumerate() {
                    let mut mask = 0;
                    if !is_predicted_label(&seat.label, position) {
                        mask |= LABEL;
                    }
                    let dx = i64::from(seat.x) - (i64::from(prev.x) + 1);
                    if dx != 0 {
                        mask |= X;
                    }
                    let dy = i64::from(seat.y) - i64::from(prev.y);
                    if dy != 0 {
                        mask |= Y;
                    }
                    if seat.category != prev.category {
                        mask |= CATEGORY;
                    }
                    prev = Prev { x: seat.x, y: seat.y, category: seat.category };
                    if mask == 0 {
                        run += 1;
                        continue;
                    }
                    w.run(run);
                    run = 0;
                    w.0.push(mask);
                    if mask & LABEL != 0 {
                        w.str(&seat.label);
                    }
                    if mask & X != 0 {
                        w.varint(zigzag(dx));
                    }
                    if mask & Y != 0 {
                        w.varint(zigzag(dy));
                    }
                    if mask & CATEGORY != 0 {
                        w.varint(u64::from(seat.category.0));
                    }
                }
                w.run(run);
            }
        }
        PackedLayout(w.0.into_boxed_slice())
    }

    /// The layout exactly as packed.
    pub(crate) fn unpack(&self) -> VenueLayout {
        let mut r = Reader(&self.0);
        let mut prev = Prev::START;
        let sections = r.count(1);
        let mut layout = VenueLayout { sections: Vec::with_capacity(sections) };
        for _ in 0..sections {
            let name = r.str();
            let rows = r.count(1);
            let mut section = SectionSpec { name, rows: Vec::with_capacity(rows) };
            for _ in 0..rows {
                let name = r.str();
                let count = r.count(MAX_RUN);
                let mut seats = Vec::with_capacity(count);
                prev.x = -1;
                while seats.len() < count {
                    let tag = r.byte();
                    let predicted = |position: usize, prev: Prev| SeatSpec {
                        label: (position + 1).to_string(),
                        x: prev.x.wrapping_add(1),
                        y: prev.y,
                        category: prev.category,
                    };
                    if tag & RUN != 0 {
                        for _ in 0..=(tag & !RUN) {
                            if seats.len() == count {
                                break;
                            }
                            let seat = predicted(seats.len(), prev);
                            prev.x = seat.x;
                            seats.push(seat);
                        }
                        continue;
                    }
                    let mut seat = predicted(seats.len(), prev);
                    if tag & LABEL != 0 {
                        seat.label = r.str();
                    }
                    if tag & X != 0 {
                        seat.x = (i64::from(prev.x) + 1 + unzigzag(r.varint())) as i32;
                    }
                    if tag & Y != 0 {
                        seat.y = (i64::from(prev.y) + unzigzag(r.varint())) as i32;
                    }
                    if tag & CATEGORY != 0 {
                        seat.category = PriceCategory(r.varint() as u16);
                    }
                    prev = Prev { x: seat.x, y: seat.y, category: seat.category };
                    seats.push(seat);
                }
                section.rows.push(RowSpec { name, seats });
            }
            layout.sections.push(section);
        }
        layout
    }

    /// Heap bytes held.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_grid_packs_to_about_a_byte_a_row() {
        let grid = VenueLayout::grid(10, 1_000, 100, PriceCategory(3));
        let packed = PackedLayout::pack(&grid);
        assert_eq!(packed.unpack(), grid);
        // Per row: its name (~4 bytes), its size, the first seat (whose y
        // moved) and one run for the other 99.
        assert!(packed.len() < 10 * 1_000 * 8, "{} bytes", packed.len());
    }

    #[test]
    fn labels_are_predicted_only_when_they_are_the_position() {
        assert!(is_predicted_label("1", 0));
        assert!(is_predicted_label("10", 9));
        assert!(is_predicted_label("128", 127));
        for (label, position) in [("", 0), ("01", 0), ("2", 0), ("1", 1), ("11", 0), ("A1", 0), ("1 ", 0)] {
            assert!(!is_predicted_label(label, position), "{label:?} at {position}");
        }
    }

    fn seat() -> impl Strategy<Value = SeatSpec> {
        let label = prop_oneof![Just(String::new()), "[0-9]{1,3}", ".{0,4}"];
        let coord = prop_oneof![-3..3i32, any::<i32>(), Just(i32::MIN), Just(i32::MAX)];
        (label, coord.clone(), coord, prop_oneof![Just(0u16), Just(1u16), any::<u16>()])
            .prop_map(|(label, x, y, c)| SeatSpec { label, x, y, category: PriceCategory(c) })
    }

    fn row() -> impl Strategy<Value = RowSpec> {
        // Rows of irregular seats, and long regular ones (runs past 128).
        let irregular = proptest::collection::vec(seat(), 0..8);
        let regular = (0..300usize, -2..2i32, 0..3u16).prop_map(|(n, y, c)| {
            (0..n)
                .map(|i| SeatSpec { label: (i + 1).to_string(), x: i as i32, y, category: PriceCategory(c) })
                .collect()
        });
        (".{0,3}", prop_oneof![irregular, regular]).prop_map(|(name, seats)| RowSpec { name, seats })
    }

    fn layout() -> impl Strategy<Value = VenueLayout> {
        let section =
            (".{0,3}", proptest::collection::vec(row(), 0..4)).prop_map(|(name, rows)| SectionSpec { name, rows });
        proptest::collection::vec(section, 0..4).prop_map(|sections| VenueLayout { sections })
    }

    proptest! {
        #[test]
        fn any_layout_unpacks_exactly(layout in layout()) {
            prop_assert_eq!(PackedLayout::pack(&layout).unpack(), layout);
        }
    }
}
