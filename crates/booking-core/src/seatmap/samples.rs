//! The two sample venues under `crates/booking-core/venues/`, generated
//! here: a 2,000-seat theatre and a 50,000-seat stadium with
//! general-admission floor areas. A test checks that the committed files
//! are exactly what these functions produce; run it with
//! `BOOKING_WRITE_VENUES=1` to write them again after a change.

use super::{Area, CategoryDef, Rect, Row, Seat, SeatMap, SeatRun, Section, Stage};

/// Where the committed samples live.
pub(super) const VENUES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/venues");

fn category(id: u16, name: &str, color: &str) -> CategoryDef {
    CategoryDef { id, name: name.to_owned(), color: color.to_owned() }
}

fn run(count: u32, x: i32, y: i32, dx: i32, dy: i32, category: u16) -> SeatRun {
    SeatRun { count, first: 1, step: 1, x, y, dx, dy, category, accessible: Vec::new(), obstructed: Vec::new() }
}

fn run_row(name: impl Into<String>, run: SeatRun) -> Row {
    Row { name: name.into(), seats: Vec::new(), run: Some(run) }
}

/// Shortens the longest runs without flags by one seat each, in turn,
/// until the map has `target` seats.
fn trim_to(map: &mut SeatMap, target: usize) {
    let mut excess = map.seat_count().saturating_sub(target);
    while excess > 0 {
        let mut longest: Option<&mut SeatRun> = None;
        for run in map.sections.iter_mut().flat_map(|s| s.rows.iter_mut()).filter_map(|r| r.run.as_mut()) {
            let plain = run.accessible.is_empty() && run.obstructed.is_empty();
            if plain && longest.as_ref().is_none_or(|l| run.count >= l.count) {
                longest = Some(run);
            }
        }
        match longest {
            Some(run) => run.count -= 1,
            None => return,
        }
        excess -= 1;
    }
}

/// A three-level theatre of exactly 2,000 seats: stalls, dress circle and
/// balcony in three blocks each, and two boxes of listed seats.
pub(super) fn theatre() -> SeatMap {
    let mut map = SeatMap::new("Grand Theatre", 10);
    map.categories = vec![
        category(1, "Premium stalls", "#c62828"),
        category(2, "Stalls", "#ef6c00"),
        category(3, "Dress circle", "#2e7d32"),
        category(4, "Balcony", "#1565c0"),
        category(5, "Box", "#6a1b9a"),
    ];
    map.stage = Some(Stage { label: "Stage".into(), rect: Rect { x: -250, y: -110, width: 500, height: 70 } });
    // (level, id prefix, row letters, first y, centre seats, side seats, category of row)
    let levels: [(&str, &str, &str, i32, u32, u32); 3] = [
        ("Stalls", "stalls", "ABCDEFGHJKLMNOPQRSTU", 0, 18, 10),
        ("Dress circle", "circle", "ABCDEFGHJK", 350, 24, 12),
        ("Balcony", "balcony", "ABCDEFGHJK", 560, 24, 11),
    ];
    for (li, (level, id, letters, top, centre, side)) in levels.into_iter().enumerate() {
        let mut blocks: [Vec<Row>; 3] = Default::default();
        for (r, letter) in letters.chars().enumerate() {
            let r = r as u32;
            let y = top + 14 * r as i32;
            let cat = match li {
                0 if r < 8 => 1,
                0 => 2,
                1 => 3,
                _ => 4,
            };
            let (nc, ns) = (centre + r / 2, side + r / 3);
            let centre_left = -6 * (nc as i32 - 1);
            let left_end = centre_left - 30;
            let mut c = run(nc, centre_left, y, 12, 0, cat);
            let mut l = run(ns, left_end - 12 * (ns as i32 - 1), y, 12, 0, cat);
            let mut rt = run(ns, -centre_left + 30, y, 12, 0, cat);
            let last = letters.len() as u32 - 1;
            if li == 0 && r == last {
                c.accessible = vec![1, 2, nc - 1, nc];
            }
            if li == 1 && r < 2 {
                l.obstructed = vec![1];
                rt.obstructed = vec![ns];
            }
            if li == 2 && r == last {
                l.obstructed = vec![1, 2];
                rt.obstructed = vec![ns - 1, ns];
            }
            for (block, run) in [c, l, rt].into_iter().enumerate() {
                blocks[block].push(run_row(letter.to_string(), run));
            }
        }
        for (block, (suffix, name)) in [("c", "centre"), ("l", "left"), ("r", "right")].iter().enumerate() {
            map.sections.push(Section {
                id: format!("{id}-{suffix}"),
                name: format!("{level} {name}"),
                rows: std::mem::take(&mut blocks[block]),
            });
        }
    }
    for (id, name, x) in [("box-l", "Box left", -420), ("box-r", "Box right", 420)] {
        let seats = (0..4)
            .map(|i| Seat {
                id: None,
                label: (i + 1).to_string(),
                x,
                y: 20 + 16 * i,
                category: 5,
                accessible: false,
                obstructed: i == 3,
            })
            .collect();
        map.sections.push(Section {
            id: id.into(),
            name: name.into(),
            rows: vec![Row { name: "A".into(), seats, run: None }],
        });
    }
    trim_to(&mut map, 2_000);
    map
}

/// Units: centimetres. Seats 50 apart in a row, rows 80 apart.
const SEAT: f64 = 50.0;
const ROW: f64 = 80.0;
const AISLE: f64 = 100.0;
/// Half the pitch's length and width.
const HALF_L: f64 = 5250.0;
const HALF_W: f64 = 3400.0;
/// From the pitch's edge to the first row.
const FIRST_ROW: f64 = 400.0;
const LOWER_ROWS: u32 = 30;
const UPPER_ROWS: u32 = 23;
/// The concourse between the tiers.
const CONCOURSE: f64 = 240.0;

/// Distance from the pitch's edge of row `j` of a tier.
fn depth(upper: bool, j: u32) -> f64 {
    let base = if upper { FIRST_ROW + f64::from(LOWER_ROWS) * ROW + CONCOURSE } else { FIRST_ROW };
    base + f64::from(j) * ROW
}

/// A straight row of `n` seats centred on (cx, cy) along unit vector (tx, ty).
fn straight(n: u32, cx: f64, cy: f64, tx: f64, ty: f64, cat: u16) -> SeatRun {
    let (dx, dy) = ((tx * SEAT).round() as i32, (ty * SEAT).round() as i32);
    let half = f64::from(n - 1) / 2.0;
    let x = (cx - half * f64::from(dx)).round() as i32;
    let y = (cy - half * f64::from(dy)).round() as i32;
    run(n, x, y, dx, dy, cat)
}

/// The stand sections of one tier, clockwise from the north-west.
fn tier(upper: bool, number: &mut u32) -> Vec<Section> {
    let rows = if upper { UPPER_ROWS } else { LOWER_ROWS };
    let (side_cat, end_cat) = if upper { (4, 5) } else { (2, 3) };
    let mut out = Vec::new();
    let mut push = |rows: Vec<Row>| {
        out.push(Section { id: format!("s{number}"), name: number.to_string(), rows });
        *number += 1;
    };
    // A straight stand: `count` sections along a side of half-length
    // `half`, facing the pitch from (nx, ny), running along (tx, ty).
    let stand = |count: u32, half: f64, nx: f64, ny: f64, tx: f64, ty: f64, edge: f64, cat: u16| {
        let width = (2.0 * half - f64::from(count) * AISLE) / f64::from(count);
        let n = ((width - 40.0) / SEAT).floor() as u32 + 1;
        (0..count)
            .map(|i| {
                let along = -half + AISLE / 2.0 + width / 2.0 + f64::from(i) * (width + AISLE);
                (0..rows)
                    .map(|j| {
                        let d = edge + depth(upper, j);
                        let mut r = straight(n, along * tx + d * nx, along * ty + d * ny, tx, ty, cat);
                        flags(&mut r, upper, j, rows);
                        run_row((j + 1).to_string(), r)
                    })
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>()
    };
    // A corner: three wedges around the pitch's corner (px, py), from
    // angle `from` (degrees, y down) clockwise by 90.
    let corner = |px: f64, py: f64, from: f64| {
        (0..3)
            .map(|w| {
                let phi = (from + 15.0 + 30.0 * f64::from(w)).to_radians();
                let (ux, uy) = (phi.cos(), phi.sin());
                let (tx, ty) = (-uy, ux);
                let (dx, dy) = ((tx * SEAT).round(), (ty * SEAT).round());
                let step = (dx * dx + dy * dy).sqrt();
                (0..rows)
                    .map(|j| {
                        let rho = depth(upper, j);
                        let half = rho * 15f64.to_radians().tan() - AISLE / 2.0;
                        let n = ((2.0 * half / step).floor() as u32 + 1).max(1);
                        let hl = f64::from(n - 1) / 2.0;
                        let x = (px + rho * ux - hl * dx).round() as i32;
                        let y = (py + rho * uy - hl * dy).round() as i32;
                        run_row((j + 1).to_string(), run(n, x, y, dx as i32, dy as i32, end_cat))
                    })
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>()
    };
    let north = stand(8, HALF_L, 0.0, -1.0, 1.0, 0.0, HALF_W, side_cat);
    let east = stand(5, HALF_W, 1.0, 0.0, 0.0, 1.0, HALF_L, end_cat);
    let south = stand(8, HALF_L, 0.0, 1.0, -1.0, 0.0, HALF_W, side_cat);
    let west = stand(5, HALF_W, -1.0, 0.0, 0.0, -1.0, HALF_L, end_cat);
    let corners = [
        corner(HALF_L, -HALF_W, -90.0),
        corner(HALF_L, HALF_W, 0.0),
        corner(-HALF_L, HALF_W, 90.0),
        corner(-HALF_L, -HALF_W, 180.0),
    ];
    let [ne, se, sw, nw] = corners;
    for part in [north, ne, east, se, south, sw, west, nw] {
        for rows in part {
            push(rows);
        }
    }
    out
}

/// Wheelchair places at the ends of the lower tier's last row; restricted
/// views at the ends of the upper tier's last three rows (roof columns).
fn flags(run: &mut SeatRun, upper: bool, j: u32, rows: u32) {
    let n = run.count;
    if !upper && j + 1 == rows {
        run.accessible = vec![1, 2, n - 1, n];
    }
    if upper && j + 3 >= rows {
        run.obstructed = vec![1, n];
    }
}

/// An oval-ish bowl of exactly 50,000 seats in two tiers around a
/// football pitch, with a stage and three standing areas on the pitch.
pub(super) fn stadium() -> SeatMap {
    let mut map = SeatMap::new("City Stadium", 40);
    map.categories = vec![
        category(1, "Floor standing", "#e53935"),
        category(2, "Lower sideline", "#1e88e5"),
        category(3, "Lower end", "#43a047"),
        category(4, "Upper sideline", "#8e24aa"),
        category(5, "Upper end", "#fb8c00"),
    ];
    map.stage = Some(Stage { label: "Stage".into(), rect: Rect { x: -5150, y: -1500, width: 800, height: 3000 } });
    let floor = |id: &str, name: &str, x: i32, width: u32, capacity: u32| Area {
        id: id.into(),
        name: name.into(),
        capacity,
        category: 1,
        rect: Rect { x, y: -3000, width, height: 6000 },
        accessible: id == "floor-c",
    };
    map.areas = vec![
        floor("floor-a", "Floor A", -4200, 2400, 4_000),
        floor("floor-b", "Floor B", -1700, 2800, 4_500),
        floor("floor-c", "Floor C", 1200, 2800, 4_500),
    ];
    let mut number = 101;
    map.sections = tier(false, &mut number);
    let mut number = 201;
    map.sections.extend(tier(true, &mut number));
    trim_to(&mut map, 50_000);
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(file: &str, map: &SeatMap) {
        let path = format!("{VENUES}/{file}");
        let json = map.to_json();
        if std::env::var_os("BOOKING_WRITE_VENUES").is_some() {
            std::fs::write(&path, &json).expect("write venue");
        }
        let committed = std::fs::read_to_string(&path).expect("read committed venue");
        assert!(committed == json, "{path} differs from its generator: run this test with BOOKING_WRITE_VENUES=1");
        assert_eq!(&SeatMap::from_json(&committed).expect("the committed venue parses and validates"), map);
    }

    #[test]
    fn committed_venues_match_their_generators() {
        let theatre = theatre();
        assert_eq!(theatre.validate(), Ok(()));
        assert_eq!(theatre.seat_count(), 2_000);
        check("theatre.json", &theatre);
        let stadium = stadium();
        assert_eq!(stadium.validate(), Ok(()));
        assert_eq!(stadium.seat_count(), 50_000);
        check("stadium.json", &stadium);
    }
}
