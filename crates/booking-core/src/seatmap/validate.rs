//! Validation: every problem of a map, each pointing at the element at
//! fault with a JSON pointer (`/sections/2/rows/5/seats/12`; for a seat of
//! a run, `/sections/2/rows/5/run/12` is the run's 13th seat).

use super::{Area, FORMAT, PlacedSeat, Rect, SeatMap};
use crate::layout::MAX_SEATS_PER_SHOW;
use std::collections::HashMap;
use std::fmt;
use thiserror::Error;

/// The farthest a coordinate may be from 0.
pub const MAX_COORDINATE: i32 = 1_000_000;
/// The largest seat size.
pub const MAX_SEAT_SIZE: u32 = 1_000;
/// The most seats one run may have.
pub const MAX_RUN: u32 = 10_000;
/// The most problems one validation reports.
pub const MAX_ISSUES: usize = 100;
/// The most general-admission areas a map may have.
pub const MAX_AREAS: usize = 100;
/// The most price categories a map may define.
pub const MAX_CATEGORIES: usize = 1_000;
/// The largest capacity of one area.
pub const MAX_AREA_CAPACITY: u32 = 1_000_000;
const MAX_NAME: usize = 200;
const MAX_LABEL: usize = 50;
const MAX_STEP: u32 = 1_000;
const MAX_FIRST: u32 = 1_000_000;

/// One problem of a map.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("{path}: {kind}")]
pub struct Issue {
    /// The element at fault, as a JSON pointer into the map.
    pub path: String,
    /// What is wrong with it.
    pub kind: IssueKind,
}

/// What is wrong with an element.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IssueKind {
    /// `format` is not [`FORMAT`].
    UnsupportedFormat {
        /// What it says.
        found: String,
    },
    /// A name, label or id is blank.
    Empty,
    /// A name, label or id is too long.
    TooLong {
        /// The most characters allowed.
        max: usize,
    },
    /// A name, label or id holds a control character.
    ControlCharacter,
    /// An id (or a row name within its section) used twice.
    Duplicate {
        /// Where it was used first.
        first: String,
    },
    /// A seat overlaps another seat or an area, or an area another area.
    Overlap {
        /// The element it overlaps.
        other: String,
    },
    /// A price category not defined in `/categories`.
    UnknownCategory {
        /// The category.
        category: u16,
    },
    /// A row with neither seats nor a run.
    EmptyRow,
    /// A row with both seats and a run.
    SeatsAndRun,
    /// A section without rows.
    EmptySection,
    /// A map without seats or areas.
    EmptyMap,
    /// A number outside its range.
    OutOfRange {
        /// The smallest allowed.
        min: i64,
        /// The largest allowed.
        max: i64,
        /// The number found.
        found: i64,
    },
    /// A colour that is not `#rrggbb`.
    BadColor {
        /// What it says.
        found: String,
    },
    /// A flagged seat number that is not in its run.
    NotInRun {
        /// The number.
        number: u32,
    },
    /// More entries than allowed.
    TooMany {
        /// The most allowed.
        max: usize,
        /// How many there are.
        found: usize,
    },
}

impl fmt::Display for IssueKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IssueKind::UnsupportedFormat { found } => write!(f, "format must be {FORMAT:?}, not {found:?}"),
            IssueKind::Empty => f.write_str("must not be empty"),
            IssueKind::TooLong { max } => write!(f, "longer than {max} characters"),
            IssueKind::ControlCharacter => f.write_str("contains a control character"),
            IssueKind::Duplicate { first } => write!(f, "duplicate of {first}"),
            IssueKind::Overlap { other } => write!(f, "overlaps {other}"),
            IssueKind::UnknownCategory { category } => {
                write!(f, "price category {category} is not defined in /categories")
            }
            IssueKind::EmptyRow => f.write_str("row has no seats: give `seats` or a `run`"),
            IssueKind::SeatsAndRun => f.write_str("row has both `seats` and a `run`: give one"),
            IssueKind::EmptySection => f.write_str("section has no rows"),
            IssueKind::EmptyMap => f.write_str("the map has no seats and no areas"),
            IssueKind::OutOfRange { min, max, found } => write!(f, "{found} is outside {min}..={max}"),
            IssueKind::BadColor { found } => write!(f, "colour {found:?} is not #rrggbb"),
            IssueKind::NotInRun { number } => write!(f, "seat number {number} is not in the run"),
            IssueKind::TooMany { max, found } => write!(f, "{found} entries, at most {max} allowed"),
        }
    }
}

/// Issues found so far, at most [`MAX_ISSUES`].
#[derive(Default)]
struct Issues(Vec<Issue>);

impl Issues {
    fn push(&mut self, path: impl Into<String>, kind: IssueKind) {
        if self.0.len() < MAX_ISSUES {
            self.0.push(Issue { path: path.into(), kind });
        }
    }

    fn full(&self) -> bool {
        self.0.len() >= MAX_ISSUES
    }

    fn text(&mut self, path: &str, s: &str, max: usize) {
        if s.trim().is_empty() {
            self.push(path, IssueKind::Empty);
        } else if s.chars().count() > max {
            self.push(path, IssueKind::TooLong { max });
        } else if s.chars().any(char::is_control) {
            self.push(path, IssueKind::ControlCharacter);
        }
    }

    fn range(&mut self, path: &str, found: i64, min: i64, max: i64) -> bool {
        let ok = (min..=max).contains(&found);
        if !ok {
            self.push(path, IssueKind::OutOfRange { min, max, found });
        }
        ok
    }

    fn rect(&mut self, path: &str, r: &Rect) {
        let c = i64::from(MAX_COORDINATE);
        self.range(&format!("{path}/x"), i64::from(r.x), -c, c);
        self.range(&format!("{path}/y"), i64::from(r.y), -c, c);
        self.range(&format!("{path}/width"), i64::from(r.width), 1, 2 * c);
        self.range(&format!("{path}/height"), i64::from(r.height), 1, 2 * c);
    }
}

/// The pointer of a placed seat.
pub(super) fn seat_path(map: &SeatMap, s: &PlacedSeat) -> String {
    let listed = map.sections[s.section as usize].rows[s.row as usize].seats.len() as u32;
    if s.position < listed {
        format!("/sections/{}/rows/{}/seats/{}", s.section, s.row, s.position)
    } else {
        format!("/sections/{}/rows/{}/run/{}", s.section, s.row, s.position - listed)
    }
}

impl SeatMap {
    /// Checks the map; on failure, every problem found (up to
    /// [`MAX_ISSUES`]), in map order.
    pub fn validate(&self) -> Result<(), super::SeatMapError> {
        let mut issues = Issues::default();
        self.check_head(&mut issues);
        self.check_areas(&mut issues);
        self.check_sections(&mut issues);
        let seats = self.seat_count();
        if seats > MAX_SEATS_PER_SHOW {
            issues.push("/sections", IssueKind::TooMany { max: MAX_SEATS_PER_SHOW, found: seats });
        } else if seats == 0 && self.areas.is_empty() {
            issues.push("", IssueKind::EmptyMap);
        } else if !issues.full() {
            self.check_seats(&mut issues);
        }
        if issues.0.is_empty() { Ok(()) } else { Err(super::SeatMapError::Invalid(issues.0)) }
    }

    fn known(&self, issues: &mut Issues, path: String, category: u16) {
        if self.category(category).is_none() {
            issues.push(path, IssueKind::UnknownCategory { category });
        }
    }

    fn check_head(&self, issues: &mut Issues) {
        if self.format != FORMAT {
            issues.push("/format", IssueKind::UnsupportedFormat { found: self.format.chars().take(50).collect() });
        }
        issues.text("/name", &self.name, MAX_NAME);
        issues.range("/seat_size", i64::from(self.seat_size), 1, i64::from(MAX_SEAT_SIZE));
        if self.categories.len() > MAX_CATEGORIES {
            issues.push("/categories", IssueKind::TooMany { max: MAX_CATEGORIES, found: self.categories.len() });
        }
        let mut seen: HashMap<u16, usize> = HashMap::new();
        for (i, c) in self.categories.iter().enumerate().take(MAX_CATEGORIES) {
            if let Some(first) = seen.insert(c.id, i) {
                issues.push(
                    format!("/categories/{i}/id"),
                    IssueKind::Duplicate { first: format!("/categories/{first}") },
                );
            }
            issues.text(&format!("/categories/{i}/name"), &c.name, MAX_NAME);
            if !is_color(&c.color) {
                let found = c.color.chars().take(20).collect();
                issues.push(format!("/categories/{i}/color"), IssueKind::BadColor { found });
            }
        }
        if let Some(stage) = &self.stage {
            issues.text("/stage/label", &stage.label, MAX_NAME);
            issues.rect("/stage/rect", &stage.rect);
        }
    }

    fn check_areas(&self, issues: &mut Issues) {
        if self.areas.len() > MAX_AREAS {
            issues.push("/areas", IssueKind::TooMany { max: MAX_AREAS, found: self.areas.len() });
            return;
        }
        let mut ids: HashMap<&str, usize> = HashMap::new();
        for (i, a) in self.areas.iter().enumerate() {
            let path = format!("/areas/{i}");
            issues.text(&format!("{path}/id"), &a.id, MAX_LABEL);
            if let Some(first) = ids.insert(a.id.as_str(), i) {
                issues.push(format!("{path}/id"), IssueKind::Duplicate { first: format!("/areas/{first}") });
            }
            issues.text(&format!("{path}/name"), &a.name, MAX_NAME);
            issues.range(&format!("{path}/capacity"), i64::from(a.capacity), 1, i64::from(MAX_AREA_CAPACITY));
            self.known(issues, format!("{path}/category"), a.category);
            issues.rect(&format!("{path}/rect"), &a.rect);
            if let Some(j) = self.areas[..i].iter().position(|b: &Area| b.rect.overlaps(&a.rect)) {
                issues.push(path, IssueKind::Overlap { other: format!("/areas/{j}") });
            }
        }
    }

    fn check_sections(&self, issues: &mut Issues) {
        let mut ids: HashMap<&str, usize> = HashMap::new();
        for (si, section) in self.sections.iter().enumerate() {
            if issues.full() {
                return;
            }
            let path = format!("/sections/{si}");
            issues.text(&format!("{path}/id"), &section.id, MAX_LABEL);
            if let Some(first) = ids.insert(section.id.as_str(), si) {
                issues.push(format!("{path}/id"), IssueKind::Duplicate { first: format!("/sections/{first}") });
            }
            issues.text(&format!("{path}/name"), &section.name, MAX_NAME);
            if section.rows.is_empty() {
                issues.push(format!("{path}/rows"), IssueKind::EmptySection);
            }
            let mut names: HashMap<&str, usize> = HashMap::new();
            for (ri, row) in section.rows.iter().enumerate() {
                let path = format!("{path}/rows/{ri}");
                issues.text(&format!("{path}/name"), &row.name, MAX_LABEL);
                if let Some(first) = names.insert(row.name.as_str(), ri) {
                    let first = format!("/sections/{si}/rows/{first}");
                    issues.push(format!("{path}/name"), IssueKind::Duplicate { first });
                }
                match (row.seats.is_empty(), &row.run) {
                    (true, None) => issues.push(path.clone(), IssueKind::EmptyRow),
                    (false, Some(_)) => issues.push(path.clone(), IssueKind::SeatsAndRun),
                    _ => {}
                }
                for (pi, seat) in row.seats.iter().enumerate() {
                    let path = format!("{path}/seats/{pi}");
                    issues.text(&format!("{path}/label"), &seat.label, MAX_LABEL);
                    if let Some(id) = &seat.id {
                        issues.text(&format!("{path}/id"), id, MAX_NAME);
                    }
                    let c = i64::from(MAX_COORDINATE);
                    issues.range(&format!("{path}/x"), i64::from(seat.x), -c, c);
                    issues.range(&format!("{path}/y"), i64::from(seat.y), -c, c);
                    self.known(issues, format!("{path}/category"), seat.category);
                }
                if let Some(run) = &row.run {
                    self.check_run(issues, &format!("{path}/run"), run);
                }
            }
        }
    }

    fn check_run(&self, issues: &mut Issues, path: &str, run: &super::SeatRun) {
        let c = i64::from(MAX_COORDINATE);
        let counted = issues.range(&format!("{path}/count"), i64::from(run.count), 1, i64::from(MAX_RUN));
        issues.range(&format!("{path}/first"), i64::from(run.first), 0, i64::from(MAX_FIRST));
        issues.range(&format!("{path}/step"), i64::from(run.step), 1, i64::from(MAX_STEP));
        issues.range(&format!("{path}/x"), i64::from(run.x), -c, c);
        issues.range(&format!("{path}/y"), i64::from(run.y), -c, c);
        let far = i64::from(MAX_SEAT_SIZE) * 10;
        issues.range(&format!("{path}/dx"), i64::from(run.dx), -far, far);
        issues.range(&format!("{path}/dy"), i64::from(run.dy), -far, far);
        if counted {
            let last = i64::from(run.count) - 1;
            issues.range(&format!("{path}/count"), i64::from(run.x) + last * i64::from(run.dx), -c, c);
            issues.range(&format!("{path}/count"), i64::from(run.y) + last * i64::from(run.dy), -c, c);
        }
        self.known(issues, format!("{path}/category"), run.category);
        for (name, list) in [("accessible", &run.accessible), ("obstructed", &run.obstructed)] {
            for (i, &n) in list.iter().enumerate() {
                let k = u64::from(n).checked_sub(u64::from(run.first));
                let in_run = k.is_some_and(|k| {
                    k % u64::from(run.step.max(1)) == 0 && k / u64::from(run.step.max(1)) < u64::from(run.count)
                });
                if !in_run {
                    issues.push(format!("{path}/{name}/{i}"), IssueKind::NotInRun { number: n });
                }
            }
        }
    }

    /// Seat ids unique; seats clear of each other and of the areas.
    fn check_seats(&self, issues: &mut Issues) {
        let seats = self.seats();
        let mut keys: HashMap<&str, usize> = HashMap::with_capacity(seats.len());
        for (i, s) in seats.iter().enumerate() {
            if let Some(first) = keys.insert(s.key.as_str(), i) {
                let first = seat_path(self, &seats[first]);
                issues.push(seat_path(self, s), IssueKind::Duplicate { first });
                if issues.full() {
                    return;
                }
            }
        }
        // A seat is the disc of diameter `size` centred on its point: two
        // overlap when their centres are less than `size` apart. On a grid
        // of `size` cells, overlapping seats are in neighbouring cells, and
        // a cell holds at most four seats clear of each other.
        let size = i64::from(self.seat_size.max(1));
        let mut grid: HashMap<(i64, i64), Vec<u32>> = HashMap::with_capacity(seats.len());
        for (i, s) in seats.iter().enumerate() {
            let cell = (s.x.div_euclid(size), s.y.div_euclid(size));
            let mut hit = None;
            'near: for gx in cell.0 - 1..=cell.0 + 1 {
                for gy in cell.1 - 1..=cell.1 + 1 {
                    for &j in grid.get(&(gx, gy)).map(Vec::as_slice).unwrap_or_default() {
                        let o = &seats[j as usize];
                        let (dx, dy) = (o.x - s.x, o.y - s.y);
                        if dx * dx + dy * dy < size * size {
                            hit = Some(j);
                            break 'near;
                        }
                    }
                }
            }
            match hit {
                Some(j) => {
                    issues.push(seat_path(self, s), IssueKind::Overlap { other: seat_path(self, &seats[j as usize]) });
                    if issues.full() {
                        return;
                    }
                }
                None => grid.entry(cell).or_default().push(i as u32),
            }
        }
        // Doubled coordinates keep the half seat an integer.
        for s in &seats {
            let (x0, x1, y0, y1) = (2 * s.x - size, 2 * s.x + size, 2 * s.y - size, 2 * s.y + size);
            for (ai, a) in self.areas.iter().enumerate() {
                let (ax, ay) = (2 * i64::from(a.rect.x), 2 * i64::from(a.rect.y));
                let (aw, ah) = (2 * i64::from(a.rect.width), 2 * i64::from(a.rect.height));
                if x0 < ax + aw && ax < x1 && y0 < ay + ah && ay < y1 {
                    issues.push(seat_path(self, s), IssueKind::Overlap { other: format!("/areas/{ai}") });
                    if issues.full() {
                        return;
                    }
                }
            }
        }
    }
}

/// `#rrggbb`.
pub(super) fn is_color(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 7 && b[0] == b'#' && b[1..].iter().all(u8::is_ascii_hexdigit)
}
