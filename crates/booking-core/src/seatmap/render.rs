//! The SVG renderer.
//!
//! - **Accessible.** The document is an image titled with the map's name
//!   and described by its counts; every seat and area carries a `<title>`
//!   (section, row, seat, price category, state, flags). States differ by
//!   shape, not only colour: available is a disc in its category's
//!   colour, held a hatched disc, sold a square with a cross, blocked a
//!   dark square with a bar, yours a star. A legend explains both.
//! - **Deterministic.** The same map and states give the same bytes:
//!   integer coordinates, fixed decimals, map order throughout. [`etag`]
//!   hashes the output for HTTP caching.
//! - **Repaintable.** Seat `n` (its [`SeatId`](crate::SeatId)) is the
//!   `n`-th `<use>` under `<g id="seats">` and carries `data-seat="n"`,
//!   so a script finds a seat by its id and a click names its seat. Its
//!   state's code ([`super::SeatState::code`]) is the id of the symbol it
//!   uses: a browser that fetches [`super::LiveState::encode`] repaints a
//!   seat by setting its `href` to `#<code>` (and its title's last words).
//! - **Compact.** About 100 bytes per seat: a 50,000-seat stadium is a few
//!   megabytes, which compress well.

use super::{LiveState, SeatMap, SeatState};
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use thiserror::Error;

/// Why a map could not be rendered.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RenderError {
    /// The states do not match the map: another show's snapshot, or the
    /// map changed.
    #[error("the map has {seats} seats and {areas} areas; the state gives {state_seats} and {state_areas}")]
    StateMismatch {
        /// Seats in the map.
        seats: usize,
        /// Areas in the map.
        areas: usize,
        /// Seat states given.
        state_seats: usize,
        /// Area states given.
        state_areas: usize,
    },
    /// The map has more seats than a show may have (see
    /// [`SeatMap::validate`]).
    #[error("the map has {seats} seats, more than {max}")]
    TooManySeats {
        /// Seats in the map.
        seats: usize,
        /// The most a show may have.
        max: usize,
    },
}

/// A star's points on the unit circle, outer and inner by turns, starting
/// at the top: constants, so that no platform's trigonometry can change a
/// byte of the output.
const STAR: [(f64, f64); 10] = [
    (0.0, -1.0),
    (0.225, -0.309),
    (0.951, -0.309),
    (0.363, 0.118),
    (0.588, 0.809),
    (0.0, 0.382),
    (-0.588, 0.809),
    (-0.363, 0.118),
    (-0.951, -0.309),
    (-0.225, -0.309),
];

/// A number with at most two decimals and no trailing zeros.
fn num(v: f64) -> String {
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".to_owned() } else { s.to_owned() }
}

/// `s` escaped for XML text and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The symbols of the five states, centred on the origin, for seats of
/// side `size`.
fn symbols(size: f64) -> String {
    let r = size * 0.45;
    let k = size * 0.3;
    let w = num(size * 0.1);
    let (r_, d, k_) = (num(r), num(2.0 * r), num(k));
    let star: Vec<String> = STAR
        .iter()
        .enumerate()
        .map(|(i, (x, y))| {
            format!("{}{} {}", if i == 0 { "M" } else { "L" }, num(x * size * 0.55), num(y * size * 0.55))
        })
        .collect();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<pattern id=\"hatch\" width=\"{p}\" height=\"{p}\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\">\
         <rect width=\"{p}\" height=\"{p}\" fill=\"#ffffff\"/><rect width=\"{half}\" height=\"{p}\" fill=\"#616161\"/></pattern>",
        p = num(size * 0.3),
        half = num(size * 0.15),
    );
    let _ = writeln!(s, "<g id=\"a\"><circle r=\"{r_}\"/></g>");
    let _ = writeln!(
        s,
        "<g id=\"h\"><circle r=\"{r_}\" fill=\"url(#hatch)\" stroke=\"#424242\" stroke-width=\"{w}\"/></g>"
    );
    let _ = writeln!(
        s,
        "<g id=\"s\"><rect x=\"-{r_}\" y=\"-{r_}\" width=\"{d}\" height=\"{d}\" fill=\"#9e9e9e\"/>\
         <path d=\"M-{k_} -{k_}L{k_} {k_}M{k_} -{k_}L-{k_} {k_}\" stroke=\"#ffffff\" stroke-width=\"{w}\"/></g>"
    );
    let _ = writeln!(
        s,
        "<g id=\"b\"><rect x=\"-{r_}\" y=\"-{r_}\" width=\"{d}\" height=\"{d}\" fill=\"#212121\"/>\
         <path d=\"M-{k_} 0H{k_}\" stroke=\"#ffffff\" stroke-width=\"{w}\"/></g>"
    );
    let _ = writeln!(
        s,
        "<g id=\"y\"><path d=\"{}Z\" fill=\"#ffb300\" stroke=\"#212121\" stroke-width=\"{w}\"/></g>",
        star.concat()
    );
    s
}

/// The map's extent: (min x, min y, max x, max y).
fn bounds(map: &SeatMap, seats: &[super::PlacedSeat]) -> (i64, i64, i64, i64) {
    let half = (i64::from(map.seat_size.max(1)) + 1) / 2;
    let mut b: Option<(i64, i64, i64, i64)> = None;
    let mut grow = |x0: i64, y0: i64, x1: i64, y1: i64| {
        b = Some(match b {
            None => (x0, y0, x1, y1),
            Some((a, b_, c, d)) => (a.min(x0), b_.min(y0), c.max(x1), d.max(y1)),
        });
    };
    for s in seats {
        grow(s.x - half, s.y - half, s.x + half, s.y + half);
    }
    let rects = map.areas.iter().map(|a| a.rect).chain(map.stage.as_ref().map(|s| s.rect));
    for r in rects {
        let (x, y) = (i64::from(r.x), i64::from(r.y));
        grow(x, y, x + i64::from(r.width), y + i64::from(r.height));
    }
    b.unwrap_or((0, 0, 100, 100))
}

/// Renders `map` with `state` as an SVG document (see the module docs).
///
/// Renders any map, valid or not, without panicking: unknown categories
/// are grey, colours that are not `#rrggbb` are ignored. Validate maps
/// when they are loaded ([`SeatMap::validate`]).
///
/// Errors: `TooManySeats` for a map no show could have, `StateMismatch`
/// when the state does not count the map's seats and areas.
pub fn render_svg(map: &SeatMap, state: &LiveState) -> Result<String, RenderError> {
    let max = crate::layout::MAX_SEATS_PER_SHOW;
    if map.seat_count() > max {
        return Err(RenderError::TooManySeats { seats: map.seat_count(), max });
    }
    let seats = map.seats();
    if seats.len() != state.seats.len() || map.areas.len() != state.areas.len() {
        return Err(RenderError::StateMismatch {
            seats: seats.len(),
            areas: map.areas.len(),
            state_seats: state.seats.len(),
            state_areas: state.areas.len(),
        });
    }
    let size = i64::from(map.seat_size.max(1));
    let (x0, y0, x1, y1) = bounds(map, &seats);
    let margin = size * 2;
    let map_width = (x1 - x0) + 2 * margin;
    // The legend: a grid of cells under the map, readable whatever the
    // map's scale, the states on the first rows, the categories after.
    let unit = (size * 2).max(map_width / 60).max(1);
    let grid = Legend { unit, size, columns: ((map_width - 2 * unit) / (unit * CELL)).max(2) };
    let width = map_width.max(grid.columns * unit * CELL + 2 * unit);
    let legend_top = y1 + margin;
    let height = (legend_top - y0) + 2 * margin + grid.rows(map.categories.len()) * unit * 2;
    let mut out = String::with_capacity(1024 + seats.len() * 110);
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"{} {} {} {}\" role=\"img\" aria-labelledby=\"map-title map-desc\" font-family=\"sans-serif\">",
        x0 - margin,
        y0 - margin,
        width,
        height
    );
    let mut counts = [0usize; 5];
    for s in &state.seats {
        counts[SeatState::ALL.iter().position(|x| x == s).unwrap_or(0)] += 1;
    }
    let _ = writeln!(out, "<title id=\"map-title\">{}: seat map</title>", esc(&map.name));
    let _ = write!(out, "<desc id=\"map-desc\">{} seats", seats.len());
    for (st, n) in SeatState::ALL.iter().zip(counts) {
        let _ = write!(out, ", {n} {}", st.word());
    }
    let _ = writeln!(out, "; {} general-admission areas.</desc>", map.areas.len());
    out.push_str("<style>use,.c{fill:#9e9e9e}");
    for c in &map.categories {
        if super::validate::is_color(&c.color) {
            let _ = write!(out, ".c{}{{fill:{}}}", c.id, c.color.to_ascii_lowercase());
        }
    }
    out.push_str("</style>\n<defs>\n");
    out.push_str(&symbols(size as f64));
    out.push_str("</defs>\n");
    if let Some(stage) = &map.stage {
        let r = stage.rect;
        let font = label_font(size, &r, &stage.label);
        let _ = writeln!(
            out,
            "<g id=\"stage\"><title>{l}</title><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"#e0e0e0\" stroke=\"#616161\"/>\
             <text x=\"{}\" y=\"{}\" font-size=\"{font}\" text-anchor=\"middle\" dominant-baseline=\"middle\">{l}</text></g>",
            r.x,
            r.y,
            r.width,
            r.height,
            i64::from(r.x) + i64::from(r.width) / 2,
            i64::from(r.y) + i64::from(r.height) / 2,
            l = esc(&stage.label),
        );
    }
    out.push_str("<g id=\"areas\">\n");
    for (a, st) in map.areas.iter().zip(&state.areas) {
        let cat = map.category(a.category).map_or_else(|| format!("category {}", a.category), |c| esc(&c.name));
        let left = if st.available == 0 {
            "sold out".to_owned()
        } else {
            format!("{} of {} places left", st.available, st.capacity)
        };
        let access = if a.accessible { ", step-free" } else { "" };
        let r = a.rect;
        let font = label_font(size, &r, &a.name);
        let _ = write!(
            out,
            "<g><title>{n}: general admission, {cat}, {left}{access}</title>\
             <rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" class=\"c{}\" stroke=\"#212121\"/>",
            r.x,
            r.y,
            r.width,
            r.height,
            a.category,
            n = esc(&a.name),
        );
        if st.available == 0 {
            let _ = write!(
                out,
                "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"url(#hatch)\" opacity=\"0.8\"/>",
                r.x, r.y, r.width, r.height
            );
        }
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\" font-size=\"{font}\" text-anchor=\"middle\" dominant-baseline=\"middle\">{}</text></g>",
            i64::from(r.x) + i64::from(r.width) / 2,
            i64::from(r.y) + i64::from(r.height) / 2,
            esc(&a.name)
        );
    }
    out.push_str("</g>\n<g id=\"seats\">\n");
    let mut section = u32::MAX;
    for (s, st) in seats.iter().zip(&state.seats) {
        if s.section != section {
            if section != u32::MAX {
                out.push_str("</g>\n");
            }
            section = s.section;
            let name = &map.sections[s.section as usize].name;
            let _ = writeln!(out, "<g role=\"group\" aria-label=\"Section {}\">", esc(name));
        }
        let sec = &map.sections[s.section as usize];
        let cat = map.category(s.category.0).map_or_else(|| format!("category {}", s.category.0), |c| esc(&c.name));
        let _ = write!(
            out,
            "<use href=\"#{}\" x=\"{}\" y=\"{}\" class=\"c{}\" data-seat=\"{}\"><title>{}, row {}, seat {}: {cat}, {}",
            st.code(),
            s.x,
            s.y,
            s.category.0,
            s.id.0,
            esc(&sec.name),
            esc(&sec.rows[s.row as usize].name),
            esc(&s.label),
            st.word()
        );
        if s.accessible {
            out.push_str(", wheelchair accessible");
        }
        if s.obstructed {
            out.push_str(", restricted view");
        }
        out.push_str("</title></use>\n");
    }
    if section != u32::MAX {
        out.push_str("</g>\n");
    }
    out.push_str("</g>\n");
    grid.draw(&mut out, map, x0 - margin + unit, legend_top + unit);
    out.push_str("</svg>\n");
    Ok(out)
}

/// Legend cells are this many units wide.
const CELL: i64 = 10;

/// The legend's grid: `columns` cells of `CELL` units a row, two units a
/// row high.
struct Legend {
    unit: i64,
    size: i64,
    columns: i64,
}

impl Legend {
    /// Rows for the five states and `categories` categories.
    fn rows(&self, categories: usize) -> i64 {
        let per = |n: i64| (n + self.columns - 1) / self.columns;
        per(SeatState::ALL.len() as i64) + per(categories as i64)
    }

    /// The five states' symbols, then the categories' colours.
    fn draw(&self, out: &mut String, map: &SeatMap, left: i64, top: i64) {
        let unit = self.unit;
        let scale = num(unit as f64 / self.size as f64);
        let font = num(unit as f64 * 0.8);
        let at = |i: i64| (left + (i % self.columns) * unit * CELL, top + (i / self.columns) * unit * 2);
        out.push_str("<g id=\"legend\" aria-label=\"Legend\">\n");
        for (i, st) in SeatState::ALL.iter().enumerate() {
            let (x, y) = at(i as i64);
            let _ = writeln!(
                out,
                "<g transform=\"translate({x} {y}) scale({scale})\"><use href=\"#{}\" class=\"c\"/></g>\
                 <text x=\"{}\" y=\"{y}\" font-size=\"{font}\" dominant-baseline=\"middle\">{}</text>",
                st.code(),
                x + unit,
                st.word()
            );
        }
        let first = self.rows(0) * self.columns;
        for (i, c) in map.categories.iter().enumerate() {
            let (x, y) = at(first + i as i64);
            let _ = writeln!(
                out,
                "<rect x=\"{}\" y=\"{}\" width=\"{unit}\" height=\"{unit}\" class=\"c{}\"/>\
                 <text x=\"{}\" y=\"{y}\" font-size=\"{font}\" dominant-baseline=\"middle\">{}</text>",
                x - unit / 2,
                y - unit / 2,
                c.id,
                x + unit,
                esc(&c.name)
            );
        }
        out.push_str("</g>\n");
    }
}

/// A strong HTTP entity tag for a rendered map: a quoted hash of its
/// bytes. Equal documents have equal tags.
pub fn etag(svg: &str) -> String {
    let digest = Sha256::digest(svg.as_bytes());
    let mut tag = String::with_capacity(34);
    tag.push('"');
    for b in &digest[..16] {
        let _ = write!(tag, "{b:02x}");
    }
    tag.push('"');
    tag
}

/// A font size for `label` centred in `rect`: as large as fits (about),
/// never smaller than a seat and a half.
fn label_font(size: i64, rect: &super::Rect, label: &str) -> String {
    let chars = label.chars().count().max(1) as f64;
    let fits = (f64::from(rect.height) / 4.0).min(f64::from(rect.width) / (0.7 * chars + 1.0));
    num(fits.max(size as f64 * 1.5))
}
