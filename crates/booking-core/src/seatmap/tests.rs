//! Seat maps: the format's round trips, every validation error, the
//! samples' conversion, and the renderer.

use super::samples::{VENUES, stadium, theatre};
use super::*;
use crate::backend::fsm::SeatStatus;
use crate::ids::{PoolId, ShowId};
use crate::inventory::{PoolView, SeatView, Snapshot};
use crate::layout::{PoolSpec, VenueLayout};

/// The module docs' example.
const LITTLE: &str = r##"{
  "format": "booking-seatmap/1",
  "name": "Little Theatre",
  "seat_size": 10,
  "categories": [{"id": 1, "name": "Stalls", "color": "#c62828"}],
  "stage": {"label": "Stage", "rect": {"x": -60, "y": -40, "width": 120, "height": 25}},
  "areas": [{"id": "pit", "name": "Standing pit", "capacity": 80, "category": 1,
             "rect": {"x": -60, "y": -10, "width": 120, "height": 20}}],
  "sections": [{"id": "stalls", "name": "Stalls", "rows": [
    {"name": "A", "run": {"count": 8, "x": -35, "y": 30, "dx": 10, "dy": 0, "category": 1,
                         "accessible": [1, 8]}},
    {"name": "B", "seats": [{"label": "1", "x": -5, "y": 45, "category": 1, "obstructed": true},
                            {"label": "2", "x": 5, "y": 45, "category": 1}]}
  ]}]
}"##;

fn little() -> SeatMap {
    SeatMap::from_json(LITTLE).expect("the docs' example is valid")
}

/// The issues of an invalid map, as (path, kind).
fn issues(map: &SeatMap) -> Vec<(String, IssueKind)> {
    match map.validate() {
        Err(SeatMapError::Invalid(v)) => v.into_iter().map(|i| (i.path, i.kind)).collect(),
        other => panic!("expected issues, got {other:?}"),
    }
}

fn seat(label: &str, x: i32, y: i32) -> Seat {
    Seat { id: None, label: label.into(), x, y, category: 1, accessible: false, obstructed: false }
}

#[test]
fn the_format_round_trips_through_its_canonical_json() {
    let map = little();
    let seats = map.seats();
    assert_eq!(seats.len(), 10);
    assert_eq!((seats[0].key.as_str(), seats[0].accessible, seats[7].accessible), ("stalls/A/1", true, true));
    assert_eq!((seats[8].key.as_str(), seats[8].obstructed, seats[8].id), ("stalls/B/1", true, crate::SeatId(8)));
    assert_eq!((seats[7].x, seats[7].y), (35, 30));
    let json = map.to_json();
    assert_eq!(SeatMap::from_json(&json).expect("canonical form parses"), map);
    assert_eq!(SeatMap::from_json(&json).expect("parse").to_json(), json, "the canonical form is stable");
    assert!(json.lines().any(|l| l.trim_start().starts_with("{\"name\":\"A\",\"run\":")), "one line per row:\n{json}");
}

#[test]
fn layouts_round_trip() {
    let grid = VenueLayout::grid(2, 3, 4, crate::PriceCategory(2));
    let pools = vec![PoolSpec { name: "Standing".into(), capacity: 500, category: crate::PriceCategory(7) }];
    let map = SeatMap::from_layout("Grid", &grid, &pools);
    assert_eq!(map.validate(), Ok(()));
    assert!(map.sections.iter().flat_map(|s| &s.rows).all(|r| r.run.is_some()), "even rows become runs");
    assert_eq!((map.to_layout(), map.pools()), (grid, pools.clone()));
    // A map through the layout and back keeps what a layout holds.
    let original = little();
    let layout = original.to_layout();
    let back = SeatMap::from_layout("Little", &layout, &original.pools());
    assert_eq!((back.to_layout(), back.pools()), (layout.clone(), original.pools()));
    assert_eq!(layout.seat_count(), 10);
    assert_eq!(layout.sections[0].rows[1].seats[1].label, "2");
    // Irregular rows stay seat by seat, labels and all.
    let mut odd = layout.clone();
    odd.sections[0].rows[0].seats[3].label = "3a".into();
    let back = SeatMap::from_layout("Odd", &odd, &[]);
    assert!(back.sections[0].rows[0].run.is_none());
    assert_eq!(back.to_layout(), odd);
}

#[test]
fn both_samples_validate_and_convert_to_shows() {
    for (map, seats, pools) in [(theatre(), 2_000, 0), (stadium(), 50_000, 3)] {
        assert_eq!(map.validate(), Ok(()), "{}", map.name);
        let spec = map.to_show_spec(&map.name).expect("converts");
        assert_eq!(spec.validate(), Ok(()));
        assert_eq!((spec.layout.seat_count(), spec.pools.len()), (seats, pools));
        let placed = map.seats();
        for (info, p) in spec.layout.seats().iter().zip(&placed).step_by(97) {
            assert_eq!((info.id, info.category), (p.id, p.category), "seat ids follow map order");
        }
        assert!(placed.iter().any(|s| s.accessible) && placed.iter().any(|s| s.obstructed));
    }
    let stadium = stadium();
    assert_eq!(stadium.pools().iter().map(|p| p.capacity).sum::<u32>(), 13_000);
    assert_eq!(stadium.areas[2].name, "Floor C");
}

#[test]
fn duplicate_ids_point_at_both_seats() {
    let mut map = little();
    map.sections[0].rows[1].seats[1].label = "1".into();
    map.sections[0].rows[1].seats[1].x = 25;
    assert_eq!(
        issues(&map),
        vec![(
            "/sections/0/rows/1/seats/1".into(),
            IssueKind::Duplicate { first: "/sections/0/rows/1/seats/0".into() }
        )]
    );
    let mut map = little();
    map.sections[0].rows[1].seats[0].id = Some("stalls/A/3".into());
    assert_eq!(
        issues(&map),
        vec![("/sections/0/rows/1/seats/0".into(), IssueKind::Duplicate { first: "/sections/0/rows/0/run/2".into() })]
    );
    let mut map = little();
    map.sections.push(map.sections[0].clone());
    let found = issues(&map);
    assert_eq!(found[0], ("/sections/1/id".into(), IssueKind::Duplicate { first: "/sections/0".into() }));
    let mut map = little();
    map.sections[0].rows[1].name = "A".into();
    assert_eq!(
        issues(&map)[0],
        ("/sections/0/rows/1/name".into(), IssueKind::Duplicate { first: "/sections/0/rows/0".into() })
    );
}

#[test]
fn overlapping_seats_and_areas_are_named() {
    let mut map = little();
    map.sections[0].rows[1].seats[1].x = 4; // 9 from its neighbour, seats are 10 wide
    assert_eq!(
        issues(&map),
        vec![("/sections/0/rows/1/seats/1".into(), IssueKind::Overlap { other: "/sections/0/rows/1/seats/0".into() })]
    );
    let mut map = little();
    map.sections[0].rows[1].seats[1].y = 39; // 9 below run seat 5 at (5, 30)
    assert_eq!(
        issues(&map),
        vec![("/sections/0/rows/1/seats/1".into(), IssueKind::Overlap { other: "/sections/0/rows/0/run/4".into() })]
    );
    let mut map = little();
    map.sections[0].rows[0].run.as_mut().expect("run").y = 5; // into the pit
    assert!(
        issues(&map).contains(&("/sections/0/rows/0/run/0".into(), IssueKind::Overlap { other: "/areas/0".into() }))
    );
    let mut map = little();
    let mut twin = map.areas[0].clone();
    twin.id = "pit2".into();
    twin.rect.x += 119;
    map.areas.push(twin);
    assert_eq!(issues(&map), vec![("/areas/1".into(), IssueKind::Overlap { other: "/areas/0".into() })]);
}

#[test]
fn unknown_categories_are_named() {
    let mut map = little();
    map.sections[0].rows[1].seats[0].category = 9;
    map.sections[0].rows[0].run.as_mut().expect("run").category = 8;
    map.areas[0].category = 7;
    assert_eq!(
        issues(&map),
        vec![
            ("/areas/0/category".into(), IssueKind::UnknownCategory { category: 7 }),
            ("/sections/0/rows/0/run/category".into(), IssueKind::UnknownCategory { category: 8 }),
            ("/sections/0/rows/1/seats/0/category".into(), IssueKind::UnknownCategory { category: 9 }),
        ]
    );
}

#[test]
fn empty_and_malformed_elements_are_named() {
    let mut map = little();
    map.sections[0].rows[1].seats.clear();
    assert_eq!(issues(&map), vec![("/sections/0/rows/1".into(), IssueKind::EmptyRow)]);
    let mut map = little();
    map.sections[0].rows[1].run = map.sections[0].rows[0].run.clone();
    assert!(issues(&map).contains(&("/sections/0/rows/1".into(), IssueKind::SeatsAndRun)));
    let mut map = little();
    map.sections[0].rows.clear();
    assert_eq!(issues(&map), vec![("/sections/0/rows".into(), IssueKind::EmptySection)]);
    let mut map = little();
    map.sections.clear();
    map.areas.clear();
    assert_eq!(issues(&map), vec![(String::new(), IssueKind::EmptyMap)]);
    let mut map = little();
    map.format = "seatmap/2".into();
    map.name = " ".into();
    map.categories[0].color = "red".into();
    map.categories.push(map.categories[0].clone());
    map.sections[0].rows[1].seats[0].label = "1\u{7}".into();
    let found = issues(&map);
    assert_eq!(found[0], ("/format".into(), IssueKind::UnsupportedFormat { found: "seatmap/2".into() }));
    assert_eq!(found[1], ("/name".into(), IssueKind::Empty));
    assert_eq!(found[2], ("/categories/0/color".into(), IssueKind::BadColor { found: "red".into() }));
    assert_eq!(found[3], ("/categories/1/id".into(), IssueKind::Duplicate { first: "/categories/0".into() }));
    assert!(found.contains(&("/sections/0/rows/1/seats/0/label".into(), IssueKind::ControlCharacter)));
    let mut map = little();
    map.sections[0].rows[0].run.as_mut().expect("run").obstructed = vec![9];
    assert_eq!(issues(&map), vec![("/sections/0/rows/0/run/obstructed/0".into(), IssueKind::NotInRun { number: 9 })]);
}

#[test]
fn absurd_numbers_are_refused() {
    let range = |min: i64, max: i64, found: i64| IssueKind::OutOfRange { min, max, found };
    let mut map = little();
    map.seat_size = 0;
    assert_eq!(issues(&map)[0], ("/seat_size".into(), range(1, 1_000, 0)));
    let mut map = little();
    map.areas[0].capacity = 0;
    assert_eq!(issues(&map), vec![("/areas/0/capacity".into(), range(1, 1_000_000, 0))]);
    let mut map = little();
    map.sections[0].rows[1].seats[0].x = 2_000_000_000;
    assert_eq!(issues(&map)[0], ("/sections/0/rows/1/seats/0/x".into(), range(-1_000_000, 1_000_000, 2_000_000_000)));
    let mut map = little();
    let run = map.sections[0].rows[0].run.as_mut().expect("run");
    run.count = 20_000;
    run.dx = 10_000;
    let found = issues(&map);
    assert_eq!(found[0], ("/sections/0/rows/0/run/count".into(), range(1, 10_000, 20_000)));
    let mut map = little();
    let run = map.sections[0].rows[0].run.as_mut().expect("run");
    run.dx = 9_000;
    run.count = 200;
    let found = issues(&map);
    assert_eq!(
        found[0],
        ("/sections/0/rows/0/run/count".into(), range(-1_000_000, 1_000_000, 1_790_965)),
        "the run's end is off the map"
    );
    // Too many seats is found without laying them out.
    let mut map = little();
    let row = map.sections[0].rows[0].clone();
    map.sections[0].rows = (0..201)
        .map(|i| Row {
            name: i.to_string(),
            run: Some(SeatRun { count: 10_000, y: i * 20, dx: 20, ..row.run.clone().expect("run") }),
            seats: vec![],
        })
        .collect();
    assert_eq!(issues(&map), vec![("/sections".into(), IssueKind::TooMany { max: 2_000_000, found: 2_010_000 })]);
}

#[test]
fn validation_reports_at_most_max_issues() {
    let mut map = little();
    map.sections[0].rows[1].seats = (0..500).map(|i| seat(&i.to_string(), 0, 100)).collect();
    assert_eq!(issues(&map).len(), MAX_ISSUES);
}

#[test]
fn parse_errors_say_where() {
    let misspelt = LITTLE.replace("\"seat_size\"", "\"seatsize\"");
    match SeatMap::from_json(&misspelt) {
        Err(SeatMapError::Parse { line, message, .. }) => {
            assert_eq!(line, 4);
            assert!(message.contains("seatsize"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(SeatMap::from_json("{"), Err(SeatMapError::Parse { line: 1, .. })));
    assert!(matches!(
        SeatMap::from_json(&LITTLE.replace("\"count\": 8", "\"count\": -8")),
        Err(SeatMapError::Parse { .. })
    ));
}

#[test]
fn live_states_come_from_snapshots_and_encode_one_character_per_seat() {
    let map = little();
    let spec = map.to_show_spec("Little").expect("spec");
    let statuses = [SeatStatus::Available, SeatStatus::Held, SeatStatus::Sold, SeatStatus::Blocked, SeatStatus::Held];
    let seats = (0..10u32)
        .map(|i| SeatView {
            seat: crate::SeatId(i),
            status: statuses.get(i as usize).copied().unwrap_or(SeatStatus::Available),
            version: 1,
        })
        .collect();
    let pools = vec![PoolView { pool: PoolId(0), capacity: 80, held: 10, sold: 20, available: 50 }];
    let snap = Snapshot::new(ShowId::new(), &spec.layout, seats, pools);
    let state = LiveState::from_snapshot(&snap, &[crate::SeatId(4), crate::SeatId(0), crate::SeatId(99)]);
    assert_eq!(state.encode(), "ahsbyaaaaa", "only a held seat of the viewer's is theirs");
    assert_eq!(LiveState::decode(&state.encode()), Ok(state.seats.clone()));
    assert_eq!(LiveState::decode("aaxa"), Err(StateDecodeError { position: 2, found: 'x' }));
    assert_eq!(state.areas, vec![AreaState { available: 50, capacity: 80 }]);
}

/// The lines of the seats' `<use>` elements.
fn seat_lines(svg: &str) -> Vec<&str> {
    svg.lines().filter(|l| l.starts_with("<use href=")).collect()
}

#[test]
fn rendering_is_deterministic_and_titles_every_seat() {
    let map = theatre();
    let state = LiveState::available(&map);
    let a = render_svg(&map, &state).expect("render");
    let b = render_svg(&map.clone(), &state.clone()).expect("render");
    assert!(a == b, "same input, same bytes");
    assert_eq!(etag(&a), etag(&b));
    assert_eq!(etag(&a).len(), 34);
    let mut changed = state.clone();
    changed.seats[17] = SeatState::Sold;
    assert_ne!(etag(&render_svg(&map, &changed).expect("render")), etag(&a));
    let lines = seat_lines(&a);
    assert_eq!(lines.len(), 2_000);
    for line in &lines {
        assert!(line.contains("><title>") && line.ends_with("</title></use>"), "{line}");
    }
    assert!(
        lines[0].contains("<title>Stalls centre, row A, seat 1: Premium stalls, available</title>"),
        "{}",
        lines[0]
    );
    assert!(a.contains("wheelchair accessible") && a.contains("restricted view"));
}

#[test]
fn every_seat_element_names_its_seat_id() {
    let map = theatre();
    let svg = render_svg(&map, &LiveState::available(&map)).expect("render");
    let lines = seat_lines(&svg);
    assert_eq!(lines.len(), map.seat_count());
    for (n, line) in lines.iter().enumerate() {
        let attr = format!(" data-seat=\"{n}\">");
        assert!(line.contains(&attr), "seat {n}: {line}");
    }
}

#[test]
fn each_state_has_its_own_shape() {
    let map = little();
    let mut state = LiveState::available(&map);
    state.seats[..5].copy_from_slice(&SeatState::ALL);
    state.areas[0].available = 0;
    let svg = render_svg(&map, &state).expect("render");
    let lines = seat_lines(&svg);
    for (line, st) in lines.iter().zip(SeatState::ALL) {
        assert!(line.starts_with(&format!("<use href=\"#{}\"", st.code())), "{line}");
        assert!(line.contains(&format!(", {}", st.word())), "{line}");
    }
    // Without any colour, the five symbols still differ.
    let shapes: Vec<String> = SeatState::ALL
        .iter()
        .map(|st| {
            let start = svg.find(&format!("<g id=\"{}\">", st.code())).expect("symbol");
            let end = start + svg[start..].find("</g>").expect("end");
            let mut shape = svg[start + 10..end].to_owned();
            for attr in ["fill=\"#", "stroke=\"#"] {
                while let Some(i) = shape.find(attr) {
                    shape.replace_range(i..i + attr.len() + 7, "");
                }
            }
            shape
        })
        .collect();
    for i in 0..shapes.len() {
        for j in i + 1..shapes.len() {
            assert_ne!(
                shapes[i],
                shapes[j],
                "{:?} and {:?} differ only by colour",
                SeatState::ALL[i],
                SeatState::ALL[j]
            );
        }
    }
    assert!(svg.contains("Standing pit: general admission, Stalls, sold out"));
}

#[test]
fn rendering_escapes_text_and_ignores_bad_colours() {
    let mut map = little();
    map.name = "<script>alert('x')</script> & co".into();
    map.categories[0].color = "red;}svg{display:none".into();
    let svg = render_svg(&map, &LiveState::available(&map)).expect("render");
    assert!(!svg.contains("<script>") && svg.contains("&lt;script&gt;alert(&apos;x&apos;)&lt;/script&gt; &amp; co"));
    assert!(!svg.contains("display:none"));
    let wrong = LiveState { seats: vec![SeatState::Sold; 3], areas: vec![] };
    assert_eq!(
        render_svg(&map, &wrong),
        Err(RenderError::StateMismatch { seats: 10, areas: 1, state_seats: 3, state_areas: 0 })
    );
    let mut huge = map.clone();
    let run = SeatRun { count: 10_000, ..huge.sections[0].rows[0].run.clone().expect("run") };
    huge.sections[0].rows =
        (0..201).map(|i| Row { name: i.to_string(), seats: vec![], run: Some(run.clone()) }).collect();
    let none = LiveState { seats: vec![], areas: vec![] };
    assert_eq!(render_svg(&huge, &none), Err(RenderError::TooManySeats { seats: 2_010_000, max: 2_000_000 }));
    // An invalid map still renders.
    map.sections[0].rows[0].run.as_mut().expect("run").category = 42;
    map.seat_size = 0;
    assert!(render_svg(&map, &LiveState::available(&map)).is_ok());
}

#[test]
fn the_little_theatre_renders_as_its_snapshot() {
    let map = little();
    let mut state = LiveState::available(&map);
    state.seats[..5].copy_from_slice(&SeatState::ALL);
    state.areas[0].available = 12;
    let svg = render_svg(&map, &state).expect("render");
    let path = format!("{VENUES}/snapshots/little-theatre.svg");
    if std::env::var_os("BOOKING_WRITE_VENUES").is_some() {
        std::fs::create_dir_all(format!("{VENUES}/snapshots")).expect("mkdir");
        std::fs::write(&path, &svg).expect("write snapshot");
    }
    let expected = std::fs::read_to_string(&path).expect("read snapshot");
    assert!(svg == expected, "the SVG differs from {path}; if the change is meant, run with BOOKING_WRITE_VENUES=1");
}

#[test]
fn the_stadium_renders_in_reasonable_time_and_size() {
    let map = stadium();
    let mut state = LiveState::available(&map);
    for (i, s) in state.seats.iter_mut().enumerate() {
        *s = SeatState::ALL[(i * 7 / 3) % 5];
    }
    let started = std::time::Instant::now();
    let svg = render_svg(&map, &state).expect("render");
    let took = started.elapsed();
    eprintln!("stadium: {} seats, {} bytes of SVG in {took:?}", map.seat_count(), svg.len());
    assert_eq!(seat_lines(&svg).len(), 50_000);
    assert!(svg.len() < 8_000_000, "{} bytes", svg.len());
    assert!(took < std::time::Duration::from_secs(20), "{took:?}");
    if let Some(dir) = std::env::var_os("BOOKING_RENDER_DIR") {
        let dir = std::path::PathBuf::from(dir);
        std::fs::write(dir.join("stadium.svg"), &svg).expect("write");
        let theatre = theatre();
        std::fs::write(dir.join("theatre.svg"), render_svg(&theatre, &LiveState::available(&theatre)).expect("render"))
            .expect("write");
    }
}
