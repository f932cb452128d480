//! The idempotency-key store, with Stripe's semantics: a request carries a
//! key chosen by its client; the first request with a key runs, and every
//! later request with the same key gets the first one's final response,
//! byte for byte, marked as a replay.
//!
//! Keys are scoped by principal (the authenticated account), so two
//! accounts cannot see or collide with each other's keys. A key remembers a
//! fingerprint of its request: the same key with a different request is
//! refused ([`IdempotencyError::Mismatch`]). While the first request is in
//! flight, a duplicate is told to come back later
//! ([`IdempotencyError::InProgress`]); the first request holds the key
//! under a lease, so a request that crashed mid-way frees its key when the
//! lease runs out and a retry takes over (resuming whatever the crashed
//! request had recorded, e.g. the checkout saga of its order). Keys are
//! kept for a retention period (24 hours by default) and then reaped.

use crate::ids::OwnerId;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt::Debug;
use std::time::Duration;
use thiserror::Error;

/// An idempotency key as the client sent it (1 to 255 bytes).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IdempotencyKey(pub String);

impl IdempotencyKey {
    /// Checks the key's length: 1 to 255 bytes.
    pub fn validate(&self) -> Result<(), IdempotencyError> {
        if self.0.is_empty() || self.0.len() > 255 { Err(IdempotencyError::InvalidKey) } else { Ok(()) }
    }
}

/// A digest of a request's meaningful content: two requests with the same
/// fingerprint are the same request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Fingerprint(pub [u8; 32]);

/// A final response, kept to be replayed.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StoredResponse {
    /// The status (an HTTP status code, or any code the application uses).
    pub status: u16,
    /// The body, byte for byte.
    pub body: Vec<u8>,
}

/// Take a key for a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Begin {
    /// Whose key it is.
    pub principal: OwnerId,
    /// The key.
    pub key: IdempotencyKey,
    /// The request's fingerprint.
    pub fingerprint: Fingerprint,
    /// How long the caller may work on the request before a duplicate may
    /// take the key over (a crashed caller's lease runs out).
    pub lease: Duration,
}

/// What [`IdempotencyStore::begin`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Started {
    /// The key is the caller's until its lease ends: run the request, then
    /// [`IdempotencyStore::finish`] it. `resumed` is true when an earlier
    /// holder's lease ran out before it finished: it may have had effects,
    /// so the caller resumes rather than starts over.
    Run {
        /// An earlier holder did not finish.
        resumed: bool,
        /// Proof of holding the key, for `finish` and `release`.
        lease: LeaseId,
    },
    /// The request already ran: here is its response.
    Replay(StoredResponse),
}

/// Proof that a request holds an idempotency key (the key's current lease).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LeaseId(pub u128);

/// Why a key cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum IdempotencyError {
    /// The key was used with a different request. Use a new key.
    #[error("the idempotency key was used with a different request")]
    Mismatch,
    /// The first request with this key is still running. Retry after the
    /// given delay.
    #[error("a request with this idempotency key is in progress; retry in {retry_after:?}")]
    InProgress {
        /// When the caller may try again.
        retry_after: Duration,
    },
    /// `finish` or `release` for a key the caller does not hold (its lease
    /// ran out and another request took the key over, or it was never
    /// begun, or it is finished). Nothing was changed.
    #[error("the idempotency key is not held by this request")]
    NotHeld,
    /// The key is empty or longer than 255 bytes.
    #[error("idempotency keys are 1 to 255 bytes")]
    InvalidKey,
    /// The store failed.
    #[error("idempotency store: {0}")]
    Backend(String),
}

/// A key's record, as [`IdempotencyStore::get`] reads it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// The request's fingerprint.
    pub fingerprint: Fingerprint,
    /// The final response, once there is one.
    pub response: Option<StoredResponse>,
    /// When the key was first used; it is reaped a retention period later.
    pub created_at: DateTime<Utc>,
    /// While running: when the current holder's lease ends.
    pub leased_until: Option<DateTime<Utc>>,
}

/// Where idempotency keys live. Decisions use the store's clock (the
/// injected one in tests).
#[async_trait]
pub trait IdempotencyStore: Send + Sync + Debug {
    /// Takes `req.key` for a request, or answers why not: a replay of the
    /// stored response, `Mismatch`, or `InProgress`. Two concurrent calls
    /// for one new key: exactly one gets `Run`.
    async fn begin(&self, req: &Begin) -> Result<Started, IdempotencyError>;

    /// Stores the final response of the request holding the key under
    /// `lease`. A request whose lease ran out may still finish while no
    /// other request has taken the key over. Errors: `NotHeld`.
    async fn finish(
        &self,
        principal: OwnerId,
        key: &IdempotencyKey,
        lease: LeaseId,
        response: &StoredResponse,
    ) -> Result<(), IdempotencyError>;

    /// Gives a held key back without a response (the request stopped before
    /// its outcome was known, or failed in a way that is safe to run
    /// again): the next `begin` runs at once, `resumed`. Errors: `NotHeld`.
    async fn release(&self, principal: OwnerId, key: &IdempotencyKey, lease: LeaseId) -> Result<(), IdempotencyError>;

    /// The key's record, if any.
    async fn get(&self, principal: OwnerId, key: &IdempotencyKey) -> Result<Option<KeyRecord>, IdempotencyError>;

    /// Deletes keys created more than `retention` ago; returns how many.
    async fn reap(&self, retention: Duration) -> Result<u64, IdempotencyError>;
}

/// Reaps idempotency keys past their retention in the background: a ready
/// [`crate::worker::Worker`] whose items count the keys removed.
pub fn spawn_reaper(
    store: std::sync::Arc<dyn IdempotencyStore>,
    retention: Duration,
    every: Duration,
) -> crate::worker::Worker {
    crate::worker::Worker::spawn(every, move || {
        let store = store.clone();
        async move { store.reap(retention).await.map_err(|_| 1) }
    })
}

/// How long keys are kept by default: 24 hours, as card providers do.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(24 * 3600);
