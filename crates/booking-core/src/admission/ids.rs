//! The waiting room's identifiers: rooms, visitors and their sessions.

use super::AdmissionError;
use crate::ids::ShowId;
use serde::{Deserialize, Serialize};
use std::fmt::{self, Debug};
use uuid::Uuid;

/// A waiting room. A room usually fronts one show ([`RoomId::for_show`]),
/// but a room may front several (a tour's on-sale) under an id of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RoomId(pub Uuid);

impl RoomId {
    /// A fresh, time-ordered (UUID v7) id.
    pub fn new() -> Self {
        RoomId(Uuid::now_v7())
    }

    /// The room of one show: the same id as the show.
    pub fn for_show(show: ShowId) -> Self {
        RoomId(show.as_uuid())
    }

    /// The id as a UUID.
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl Default for RoomId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for RoomId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// A visitor's place in a room: the store gives one per session and room,
/// and admission tokens name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct VisitorId(pub Uuid);

impl VisitorId {
    /// A fresh random (UUID v4) id: visitor ids carry no arrival time, so
    /// that nobody learns the arrival order of the pre-queue from them.
    pub fn new() -> Self {
        VisitorId(uuid::Builder::from_random_bytes(rand::random()).into_uuid())
    }

    /// The id as a UUID.
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl Default for VisitorId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for VisitorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// The most bytes of a session id.
pub const MAX_SESSION_BYTES: usize = 256;

/// The application's session id of a visitor (its login session, or a
/// cookie it set): 1 to [`MAX_SESSION_BYTES`] bytes, no control
/// characters. A session has one place per room, and an admission token
/// is bound to it.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SessionId(pub String);

impl SessionId {
    /// A session id (not checked: see [`SessionId::validate`]).
    pub fn new(id: impl Into<String>) -> Self {
        SessionId(id.into())
    }

    /// Checks the id: 1 to [`MAX_SESSION_BYTES`] bytes, no control
    /// characters.
    pub fn validate(&self) -> Result<(), AdmissionError> {
        if self.0.is_empty() || self.0.len() > MAX_SESSION_BYTES || self.0.chars().any(char::is_control) {
            Err(AdmissionError::InvalidSession)
        } else {
            Ok(())
        }
    }
}

/// Session ids are credentials of a kind: `Debug` shows only their length.
impl Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({} bytes)", self.0.len())
    }
}
