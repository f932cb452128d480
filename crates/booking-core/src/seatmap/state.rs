//! Live states: what the renderer draws over a map, from an inventory
//! snapshot, and their compact encoding (one character per seat) for a
//! browser to repaint changes without downloading the map again.

use super::SeatMap;
use crate::backend::fsm::SeatStatus;
use crate::ids::SeatId;
use crate::inventory::Snapshot;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A seat as a buyer sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SeatState {
    /// Free to hold.
    Available,
    /// Held by someone else.
    Held,
    /// Sold.
    Sold,
    /// Out of sale.
    Blocked,
    /// Held by the viewer.
    Yours,
}

impl SeatState {
    /// Every state, in code order.
    pub const ALL: [SeatState; 5] =
        [SeatState::Available, SeatState::Held, SeatState::Sold, SeatState::Blocked, SeatState::Yours];

    /// The state's one-character code: `a`, `h`, `s`, `b`, `y`. It is
    /// also the id of the state's symbol in the SVG (`#a`, ...).
    pub fn code(self) -> char {
        match self {
            SeatState::Available => 'a',
            SeatState::Held => 'h',
            SeatState::Sold => 's',
            SeatState::Blocked => 'b',
            SeatState::Yours => 'y',
        }
    }

    /// The state of a code.
    pub fn from_code(c: char) -> Option<SeatState> {
        SeatState::ALL.into_iter().find(|s| s.code() == c)
    }

    /// The state in words, as seat titles say it.
    pub fn word(self) -> &'static str {
        match self {
            SeatState::Available => "available",
            SeatState::Held => "held",
            SeatState::Sold => "sold",
            SeatState::Blocked => "not for sale",
            SeatState::Yours => "held by you",
        }
    }
}

/// A general-admission area's places.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AreaState {
    /// Places free to hold.
    pub available: u32,
    /// Places for sale.
    pub capacity: u32,
}

/// The state of every seat (in map order) and area (in area order).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveState {
    /// One per seat of the map.
    pub seats: Vec<SeatState>,
    /// One per area of the map.
    pub areas: Vec<AreaState>,
}

/// A character that is no state's code.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("no seat state has code {found:?} (seat {position})")]
pub struct StateDecodeError {
    /// The seat (character index) at fault.
    pub position: usize,
    /// The character found.
    pub found: char,
}

impl LiveState {
    /// Everything available: every seat, every area's whole capacity.
    pub fn available(map: &SeatMap) -> Self {
        LiveState {
            seats: vec![SeatState::Available; map.seat_count()],
            areas: map.areas.iter().map(|a| AreaState { available: a.capacity, capacity: a.capacity }).collect(),
        }
    }

    /// The states of a snapshot; seats of `yours` (the viewer's hold) that
    /// are held show as [`SeatState::Yours`]. Pools become areas.
    pub fn from_snapshot(snapshot: &Snapshot, yours: &[SeatId]) -> Self {
        let mut seats: Vec<SeatState> = snapshot
            .seats
            .iter()
            .map(|s| match s.status {
                SeatStatus::Available => SeatState::Available,
                SeatStatus::Held => SeatState::Held,
                SeatStatus::Sold => SeatState::Sold,
                SeatStatus::Blocked => SeatState::Blocked,
            })
            .collect();
        for id in yours {
            if let Some(s) = seats.get_mut(id.0 as usize).filter(|s| **s == SeatState::Held) {
                *s = SeatState::Yours;
            }
        }
        let areas = snapshot.pools.iter().map(|p| AreaState { available: p.available, capacity: p.capacity }).collect();
        LiveState { seats, areas }
    }

    /// The seats' states, one code character per seat in map order
    /// (`aahsy...`): what a browser fetches to repaint the map it has.
    pub fn encode(&self) -> String {
        self.seats.iter().map(|s| s.code()).collect()
    }

    /// Seat states from [`LiveState::encode`]'s form.
    pub fn decode(codes: &str) -> Result<Vec<SeatState>, StateDecodeError> {
        codes
            .chars()
            .enumerate()
            .map(|(position, found)| SeatState::from_code(found).ok_or(StateDecodeError { position, found }))
            .collect()
    }
}
