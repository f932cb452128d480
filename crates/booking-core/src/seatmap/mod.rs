//! Seat maps: an open venue-layout format (JSON), its validation, its
//! conversion to and from the inventory's [`VenueLayout`](crate::VenueLayout) and pools, and an
//! accessible, deterministic SVG renderer with live seat states.
//!
//! # The format (`booking-seatmap/1`)
//!
//! ```json
//! {
//!   "format": "booking-seatmap/1",
//!   "name": "Little Theatre",
//!   "seat_size": 10,
//!   "categories": [{"id": 1, "name": "Stalls", "color": "#c62828"}],
//!   "stage": {"label": "Stage", "rect": {"x": -60, "y": -40, "width": 120, "height": 25}},
//!   "areas": [{"id": "pit", "name": "Standing pit", "capacity": 80, "category": 1,
//!              "rect": {"x": -60, "y": -10, "width": 120, "height": 20}}],
//!   "sections": [{"id": "stalls", "name": "Stalls", "rows": [
//!     {"name": "A", "run": {"count": 8, "x": -35, "y": 30, "dx": 10, "dy": 0, "category": 1,
//!                          "accessible": [1, 8]}},
//!     {"name": "B", "seats": [{"label": "1", "x": -5, "y": 45, "category": 1, "obstructed": true},
//!                             {"label": "2", "x": 5, "y": 45, "category": 1}]}
//!   ]}]
//! }
//! ```
//!
//! - Coordinates are integers in map units, `y` growing downwards. A seat
//!   is a disc of diameter `seat_size` centred on its point: two seats
//!   overlap when their centres are less than `seat_size` apart, and a
//!   seat overlaps an area when its bounding square does.
//! - A row lists its seats, or describes them as a `run`: `count` seats
//!   from (`x`, `y`), each `(dx, dy)` from the last, numbered from `first`
//!   (default 1) by `step` (default 1); `accessible` and `obstructed` list
//!   seat numbers.
//! - A seat's id is its `id`, or `<section id>/<row name>/<label>`; ids are
//!   unique in the map.
//! - `areas` are general-admission areas: a capacity sold as a pool.
//! - The inventory numbers seats ([`SeatId`]) in the map's order: section
//!   by section, row by row, seat by seat; pools ([`PoolId`](crate::PoolId))
//!   in the order of `areas`. Listed first means better, as in
//!   [`VenueLayout`](crate::VenueLayout).
//!
//! Unknown fields are refused, so a misspelt key is an error rather than a
//! silent default.

mod convert;
mod render;
mod state;
mod validate;

#[cfg(test)]
mod samples;
#[cfg(test)]
mod tests;

pub use render::{RenderError, etag, render_svg};
pub use state::{AreaState, LiveState, SeatState, StateDecodeError};
pub use validate::{Issue, IssueKind, MAX_COORDINATE, MAX_ISSUES, MAX_RUN, MAX_SEAT_SIZE};

use crate::ids::{PriceCategory, SeatId};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use thiserror::Error;

/// The format's name and version, the value of `format`.
pub const FORMAT: &str = "booking-seatmap/1";

/// A venue's layout as drawn: sections of rows of seats, general-admission
/// areas, price categories and a stage.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeatMap {
    /// Always [`FORMAT`].
    pub format: String,
    /// The venue's (or layout's) name.
    pub name: String,
    /// A seat's width and height, in map units (1 to [`MAX_SEAT_SIZE`]).
    pub seat_size: u32,
    /// The price categories seats and areas may name.
    pub categories: Vec<CategoryDef>,
    /// The stage, drawn for orientation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<Stage>,
    /// General-admission areas, in pool order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub areas: Vec<Area>,
    /// Reserved seating, best first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sections: Vec<Section>,
}

/// A price category of the map.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryDef {
    /// The inventory's [`PriceCategory`] number.
    pub id: u16,
    /// Display name ("Stalls").
    pub name: String,
    /// Fill colour for available seats, `#rrggbb`.
    pub color: String,
}

/// The stage.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    /// Its label ("Stage", "Pitch").
    pub label: String,
    /// Where it is.
    pub rect: Rect,
}

/// An axis-aligned rectangle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rect {
    /// Left edge.
    pub x: i32,
    /// Top edge.
    pub y: i32,
    /// Width (at least 1).
    pub width: u32,
    /// Height (at least 1).
    pub height: u32,
}

impl Rect {
    /// Whether this rectangle and `other` share interior points.
    pub fn overlaps(&self, other: &Rect) -> bool {
        let (ax1, ay1) = (i64::from(self.x), i64::from(self.y));
        let (bx1, by1) = (i64::from(other.x), i64::from(other.y));
        ax1 < bx1 + i64::from(other.width)
            && bx1 < ax1 + i64::from(self.width)
            && ay1 < by1 + i64::from(other.height)
            && by1 < ay1 + i64::from(self.height)
    }
}

/// A general-admission area: `capacity` places sold as one pool.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Area {
    /// Unique among the map's areas.
    pub id: String,
    /// Display name ("Floor A").
    pub name: String,
    /// Places for sale.
    pub capacity: u32,
    /// Price category.
    pub category: u16,
    /// Where it is.
    pub rect: Rect,
    /// Step-free, with space for wheelchairs.
    #[serde(default, skip_serializing_if = "is_false")]
    pub accessible: bool,
}

/// A section of reserved seating.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Section {
    /// Unique among the map's sections.
    pub id: String,
    /// Display name ("Stalls", "112").
    pub name: String,
    /// Rows, best first.
    pub rows: Vec<Row>,
}

/// A row: its seats listed, or a run of evenly spaced seats.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Row {
    /// Unique within its section ("A", "12").
    pub name: String,
    /// The seats, left to right (adjacent entries are adjacent seats).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seats: Vec<Seat>,
    /// Or a run of seats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<SeatRun>,
}

/// One seat.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seat {
    /// Its id; by default `<section id>/<row name>/<label>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Display label ("12").
    pub label: String,
    /// Centre, x.
    pub x: i32,
    /// Centre, y.
    pub y: i32,
    /// Price category.
    pub category: u16,
    /// A wheelchair space or an easy-access seat.
    #[serde(default, skip_serializing_if = "is_false")]
    pub accessible: bool,
    /// The view is partly blocked.
    #[serde(default, skip_serializing_if = "is_false")]
    pub obstructed: bool,
}

/// `count` evenly spaced seats of one category.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeatRun {
    /// How many seats (1 to [`MAX_RUN`]).
    pub count: u32,
    /// The first seat's number (its label).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub first: u32,
    /// How much the number grows from seat to seat (2 numbers the odd or
    /// even side of a theatre).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub step: u32,
    /// The first seat's centre, x.
    pub x: i32,
    /// The first seat's centre, y.
    pub y: i32,
    /// From one seat's centre to the next, x.
    pub dx: i32,
    /// From one seat's centre to the next, y.
    pub dy: i32,
    /// Price category.
    pub category: u16,
    /// Numbers of the accessible seats.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accessible: Vec<u32>,
    /// Numbers of the seats with an obstructed view.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub obstructed: Vec<u32>,
}

fn one() -> u32 {
    1
}

fn is_one(v: &u32) -> bool {
    *v == 1
}

fn is_false(v: &bool) -> bool {
    !*v
}

/// A seat with its place in the map and in the inventory, as
/// [`SeatMap::seats`] lists them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlacedSeat {
    /// The inventory's id: the seat's index in map order.
    pub id: SeatId,
    /// The seat's id in the map.
    pub key: String,
    /// Index of its section.
    pub section: u32,
    /// Index of its row within the section.
    pub row: u32,
    /// Index within the row (or run).
    pub position: u32,
    /// Display label.
    pub label: String,
    /// Centre, x (i64: a run may run off the coordinate range before
    /// validation refuses it).
    pub x: i64,
    /// Centre, y.
    pub y: i64,
    /// Price category.
    pub category: PriceCategory,
    /// Accessible.
    pub accessible: bool,
    /// Obstructed view.
    pub obstructed: bool,
}

/// Why a seat map was refused.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SeatMapError {
    /// Not JSON of the format's shape.
    #[error("line {line}, column {column}: {message}")]
    Parse {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the parser says.
        message: String,
    },
    /// Valid JSON, but the layout is wrong; every issue found (up to
    /// [`MAX_ISSUES`]), each naming the element at fault.
    #[error("{} problem(s) in the seat map, first: {}", .0.len(), .0.first().map(|i| i.to_string()).unwrap_or_default())]
    Invalid(Vec<Issue>),
    /// The map is valid but makes no valid show for the inventory.
    #[error("the map makes no valid show: {0}")]
    Show(#[from] crate::error::InvalidRequest),
}

impl SeatRun {
    /// The number (label) of the seat at `i` in the run.
    pub fn number(&self, i: u32) -> u64 {
        u64::from(self.first) + u64::from(i) * u64::from(self.step)
    }
}

impl Row {
    /// How many seats the row has (a run counts at most [`MAX_RUN`], as
    /// [`SeatMap::seats`] lays out).
    pub fn seat_count(&self) -> usize {
        self.seats.len() + self.run.as_ref().map_or(0, |r| r.count.min(MAX_RUN) as usize)
    }
}

impl SeatMap {
    /// An empty map (no seats, no areas, no categories).
    pub fn new(name: impl Into<String>, seat_size: u32) -> Self {
        SeatMap {
            format: FORMAT.to_owned(),
            name: name.into(),
            seat_size,
            categories: Vec::new(),
            stage: None,
            areas: Vec::new(),
            sections: Vec::new(),
        }
    }

    /// Parses and validates a map.
    pub fn from_json(json: &str) -> Result<SeatMap, SeatMapError> {
        let map: SeatMap = serde_json::from_str(json).map_err(|e| SeatMapError::Parse {
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })?;
        map.validate()?;
        Ok(map)
    }

    /// The map as JSON in its canonical layout: one line per row,
    /// category, area and section head, so that a diff of two versions of
    /// a venue reads row by row. Parsing it gives the same map back.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(64 * self.sections.iter().map(|s| s.rows.len() + 1).sum::<usize>());
        let _ = writeln!(out, "{{\n  \"format\": {},", json(&self.format));
        let _ = writeln!(out, "  \"name\": {},", json(&self.name));
        let _ = writeln!(out, "  \"seat_size\": {},", self.seat_size);
        let _ = write!(out, "  \"categories\": [");
        list(&mut out, "    ", self.categories.iter().map(json));
        if let Some(stage) = &self.stage {
            let _ = write!(out, ",\n  \"stage\": {}", json(stage));
        }
        if !self.areas.is_empty() {
            let _ = write!(out, ",\n  \"areas\": [");
            list(&mut out, "    ", self.areas.iter().map(json));
        }
        if !self.sections.is_empty() {
            let _ = write!(out, ",\n  \"sections\": [");
            list(
                &mut out,
                "    ",
                self.sections.iter().map(|s| {
                    let mut sec = format!("{{\"id\": {}, \"name\": {}, \"rows\": [", json(&s.id), json(&s.name));
                    list(&mut sec, "      ", s.rows.iter().map(json));
                    sec.push('}');
                    sec
                }),
            );
        }
        out.push_str("\n}\n");
        out
    }

    /// How many seats the map has.
    pub fn seat_count(&self) -> usize {
        self.sections.iter().flat_map(|s| &s.rows).map(Row::seat_count).sum()
    }

    /// Every seat in inventory order (ids `0..seat_count()`).
    pub fn seats(&self) -> Vec<PlacedSeat> {
        let mut out = Vec::with_capacity(self.seat_count().min(crate::layout::MAX_SEATS_PER_SHOW));
        for (si, section) in self.sections.iter().enumerate() {
            for (ri, row) in section.rows.iter().enumerate() {
                let mut place = |position: u32, label: String, id: Option<&String>, x, y, c, a, o| {
                    let key = id.cloned().unwrap_or_else(|| format!("{}/{}/{}", section.id, row.name, label));
                    out.push(PlacedSeat {
                        id: SeatId(out.len() as u32),
                        key,
                        section: si as u32,
                        row: ri as u32,
                        position,
                        label,
                        x,
                        y,
                        category: PriceCategory(c),
                        accessible: a,
                        obstructed: o,
                    });
                };
                for (pi, seat) in row.seats.iter().enumerate() {
                    let (x, y) = (i64::from(seat.x), i64::from(seat.y));
                    place(
                        pi as u32,
                        seat.label.clone(),
                        seat.id.as_ref(),
                        x,
                        y,
                        seat.category,
                        seat.accessible,
                        seat.obstructed,
                    );
                }
                if let Some(run) = &row.run {
                    let base = row.seats.len() as u32;
                    for i in 0..run.count.min(MAX_RUN) {
                        let n = run.number(i);
                        let x = i64::from(run.x) + i64::from(i) * i64::from(run.dx);
                        let y = i64::from(run.y) + i64::from(i) * i64::from(run.dy);
                        let flag = |list: &[u32]| list.iter().any(|&m| u64::from(m) == n);
                        let (a, o) = (flag(&run.accessible), flag(&run.obstructed));
                        place(base + i, n.to_string(), None, x, y, run.category, a, o);
                    }
                }
            }
        }
        out
    }

    /// The category definition of `id`, if the map has one.
    pub fn category(&self, id: u16) -> Option<&CategoryDef> {
        self.categories.iter().find(|c| c.id == id)
    }
}

/// `v` as compact JSON. The map's types always serialize (string keys, no
/// maps, no floats), so the fallback is never used.
fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".to_owned())
}

/// Appends `items` as the lines of a JSON array opened by the caller, and
/// closes it.
fn list(out: &mut String, indent: &str, items: impl Iterator<Item = String>) {
    let mut first = true;
    for item in items {
        out.push_str(if first { "\n" } else { ",\n" });
        out.push_str(indent);
        out.push_str(&item);
        first = false;
    }
    if !first {
        out.push('\n');
        out.push_str(&indent[2..]);
    }
    out.push(']');
}
