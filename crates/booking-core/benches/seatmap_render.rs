//! SVG seat-map rendering of the two sample venues (the 2,000-seat theatre
//! and the 50,000-seat stadium of `venues/`): time per render (median of
//! the rounds, and the fastest) and output size in bytes, with
//! every seat available and with a sold-in-patches state.
//!
//! `cargo bench -p booking-core --bench seatmap_render`
//!
//! `SEATMAP_BENCH_SECS` (default 5) is the time spent per venue and state;
//! `SEATMAP_BENCH_SECS=0.2` makes a short run. With `SEATMAP_BENCH_OUT`
//! set to a folder, each rendered map is also written there
//! (`<venue>-<state>.svg`), to be looked at.
#![allow(missing_docs)]

use booking_core::seatmap::{LiveState, SeatMap, SeatState, render_svg};
use std::hint::black_box;
use std::time::{Duration, Instant};

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Every 7th seat sold, every 11th held, every 13th blocked, one in 97 the
/// viewer's; areas half full.
fn patchy(map: &SeatMap) -> LiveState {
    let mut state = LiveState::available(map);
    for (i, s) in state.seats.iter_mut().enumerate() {
        *s = match i {
            i if i % 97 == 0 => SeatState::Yours,
            i if i % 13 == 0 => SeatState::Blocked,
            i if i % 11 == 0 => SeatState::Held,
            i if i % 7 == 0 => SeatState::Sold,
            _ => SeatState::Available,
        };
    }
    for a in &mut state.areas {
        a.available = a.capacity / 2;
    }
    state
}

fn main() {
    let budget = Duration::from_secs_f64(env("SEATMAP_BENCH_SECS", 5.0f64).max(0.0));
    for (name, json) in
        [("theatre", include_str!("../venues/theatre.json")), ("stadium", include_str!("../venues/stadium.json"))]
    {
        let map = SeatMap::from_json(json).unwrap_or_else(|e| panic!("{name}: {e}"));
        for (state_name, state) in [("all available", LiveState::available(&map)), ("patchy", patchy(&map))] {
            let mut times = Vec::new();
            let mut bytes = 0;
            let start = Instant::now();
            while times.is_empty() || start.elapsed() < budget {
                let t = Instant::now();
                let svg = render_svg(black_box(&map), black_box(&state)).unwrap_or_else(|e| panic!("{name}: {e}"));
                times.push(t.elapsed());
                bytes = svg.len();
                black_box(&svg);
                if times.len() == 1
                    && let Ok(dir) = std::env::var("SEATMAP_BENCH_OUT")
                {
                    let file = format!("{dir}/{name}-{}.svg", state_name.replace(' ', "-"));
                    std::fs::write(&file, &svg).unwrap_or_else(|e| panic!("{file}: {e}"));
                }
            }
            times.sort();
            println!(
                "{name} ({} seats, {} areas), {state_name}: median {:.2} ms, fastest {:.2} ms over {} renders; \
                 {} bytes of SVG ({:.1} per seat)",
                map.seat_count(),
                map.areas.len(),
                times[times.len() / 2].as_secs_f64() * 1e3,
                times[0].as_secs_f64() * 1e3,
                times.len(),
                bytes,
                bytes as f64 / map.seat_count().max(1) as f64,
            );
        }
    }
}
