//! Running statements: connection handling, retries and error mapping.

use crate::outcome::REFUSED;
use booking_core::InventoryError;
use booking_core::backend::refusal::{Context, Refused};
use sqlx::postgres::{PgArguments, PgDatabaseError, PgRow};
use sqlx::query::Query;
use sqlx::{Connection, PgConnection, PgPool, Postgres};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, SemaphorePermit};

/// A connection idle longer than this is pinged before it is used again.
const STALE: Duration = Duration::from_secs(2);

/// The inventory's own connections, opened with the pool's options and
/// bounded by its size.
///
/// sqlx's pool sends a ping (a round trip) on every connection it takes
/// back; on a path of one statement per request that doubles the round
/// trips. Here a connection goes back as it is after a statement that
/// completed, is pinged only after sitting idle for a while, and is closed,
/// never reused, after a connection-level error or when the request using
/// it was cancelled mid-statement.
#[derive(Debug)]
pub(crate) struct Conns {
    pool: PgPool,
    idle: Mutex<Vec<(PgConnection, Instant)>>,
    slots: Semaphore,
}

/// A connection lent out; dropped without [`Lease::done`], it is closed.
pub(crate) struct Lease<'a> {
    conns: &'a Conns,
    conn: Option<PgConnection>,
    _slot: SemaphorePermit<'a>,
}

impl Conns {
    pub(crate) fn new(pool: PgPool) -> Self {
        let max = pool.options().get_max_connections().max(1) as usize;
        Conns { pool, idle: Mutex::new(Vec::new()), slots: Semaphore::new(max) }
    }

    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn get(&self) -> Result<Lease<'_>, sqlx::Error> {
        let wait = self.pool.options().get_acquire_timeout();
        let slot = tokio::time::timeout(wait, self.slots.acquire())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?
            .map_err(|_| sqlx::Error::PoolClosed)?;
        loop {
            let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            match idle {
                Some((mut conn, since)) => {
                    if since.elapsed() < STALE || conn.ping().await.is_ok() {
                        return Ok(Lease { conns: self, conn: Some(conn), _slot: slot });
                    }
                }
                None => {
                    let wait = self.pool.options().get_acquire_timeout();
                    let options = self.pool.connect_options();
                    let conn = tokio::time::timeout(wait, PgConnection::connect_with(&options))
                        .await
                        .map_err(|_| sqlx::Error::PoolTimedOut)??;
                    return Ok(Lease { conns: self, conn: Some(conn), _slot: slot });
                }
            }
        }
    }
}

impl Lease<'_> {
    fn conn(&mut self) -> &mut PgConnection {
        self.conn.as_mut().expect("a lease holds its connection until it ends")
    }

    /// Gives the connection back for reuse.
    fn done(mut self) {
        if let Some(conn) = self.conn.take() {
            self.conns.idle.lock().unwrap_or_else(|p| p.into_inner()).push((conn, Instant::now()));
        }
    }
}

/// A statement ready to send.
pub(crate) type Stmt = Query<'static, Postgres, PgArguments>;

/// Why a statement did not come back with rows.
#[derive(Debug)]
pub(crate) enum Fail {
    /// The statement raised the inventory's own SQLSTATE ([`REFUSED`]): it
    /// rolled back and changed nothing; read it with
    /// [`Outcome::raised`](crate::outcome::Outcome::raised).
    Raised {
        /// The exception's MESSAGE: a refusal or follow-up code.
        message: String,
        /// The exception's DETAIL.
        detail: Option<String>,
    },
    /// The store refused the request; [`Fail::into_error`] fills in what
    /// the request said.
    Refused(Refused),
    /// The connection broke after a changing statement was sent: it may or
    /// may not have committed.
    Lost(Box<dyn std::error::Error + Send + Sync>),
    /// Anything else, already mapped.
    Error(InventoryError),
}

impl From<Fail> for InventoryError {
    fn from(f: Fail) -> Self {
        match f {
            Fail::Raised { message, detail } => InventoryError::Backend(
                format!("unexpected inventory exception {message}: {}", detail.unwrap_or_default()).into(),
            ),
            Fail::Refused(r) => r.into_error(&Context::default()),
            Fail::Lost(e) => InventoryError::OutcomeUnknown(e),
            Fail::Error(e) => e,
        }
    }
}

/// How a failed statement is handled.
enum Class {
    /// Serialization failure or deadlock: the statement rolled back; retry.
    Retry,
    /// An inventory exception.
    Raised,
    /// The connection is gone (or going).
    Lost,
    /// Any other error: the statement rolled back.
    Other,
}

fn classify(e: &sqlx::Error) -> Class {
    match e {
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            if code == "40001" || code == "40P01" {
                Class::Retry
            } else if code == REFUSED {
                Class::Raised
            } else if code.starts_with("08") || code.starts_with("57P") {
                Class::Lost
            } else {
                Class::Other
            }
        }
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::Protocol(_) | sqlx::Error::WorkerCrashed => Class::Lost,
        _ => Class::Other,
    }
}

/// True when a failed statement is worth retrying as it is: the server
/// was unreachable, overloaded or shutting down, the pool had no
/// connection, or the statement rolled back for a deadlock or a
/// serialization failure. What the stores answer as `Unavailable`.
pub(crate) fn transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            ["08", "53", "57P", "40001", "40P01"].iter().any(|p| code.starts_with(p))
        }
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        _ => false,
    }
}

/// Retry policy for serialization failures and deadlocks.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Backoff {
    /// Attempts after the first.
    pub retries: u32,
    /// First delay.
    pub base: Duration,
    /// Longest delay.
    pub cap: Duration,
}

impl Backoff {
    /// The delay before retry `attempt` (0-based): exponential, capped, with
    /// full jitter in [delay/2, delay].
    fn delay(&self, attempt: u32) -> Duration {
        let exp = self.base.saturating_mul(1u32 << attempt.min(16)).min(self.cap);
        let nanos = exp.as_nanos() as u64;
        let half = nanos / 2;
        Duration::from_nanos(half + jitter(half.max(1)))
    }
}

/// A cheap, dependency-free pseudo-random number below `n`.
fn jitter(n: u64) -> u64 {
    static STATE: AtomicU64 = AtomicU64::new(0x2545_F491_4F6C_DD1D);
    let mut x = STATE.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
    x ^= x >> 30;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    x % n
}

/// Runs `make()`'s statement on a pooled connection and returns its rows.
///
/// `changes` says whether the statement may change data: a connection lost
/// after sending such a statement gives [`Fail::Lost`] (outcome unknown);
/// for a read it gives `Unavailable`. A connection that failed at the
/// connection level is closed, never returned to the pool.
pub(crate) async fn fetch_all(
    conns: &Conns,
    backoff: &Backoff,
    changes: bool,
    make: impl Fn() -> Stmt,
) -> Result<Vec<PgRow>, Fail> {
    let mut attempt = 0u32;
    loop {
        let mut conn = conns.get().await.map_err(|e| Fail::Error(unavailable(e)))?;
        let err = match make().fetch_all(conn.conn()).await {
            Ok(rows) => {
                conn.done();
                return Ok(rows);
            }
            Err(e) => e,
        };
        let class = classify(&err);
        if matches!(class, Class::Lost) {
            // Closed, never reused.
            drop(conn);
        } else {
            conn.done();
        }
        match class {
            Class::Retry if attempt < backoff.retries => {
                tokio::time::sleep(backoff.delay(attempt)).await;
                attempt += 1;
            }
            Class::Raised => {
                let (message, detail) = match &err {
                    sqlx::Error::Database(db) => (
                        db.message().to_owned(),
                        db.try_downcast_ref::<PgDatabaseError>().and_then(|p| p.detail()).map(str::to_owned),
                    ),
                    _ => (String::new(), None),
                };
                return Err(Fail::Raised { message, detail });
            }
            Class::Lost => {
                return Err(if changes { Fail::Lost(Box::new(err)) } else { Fail::Error(unavailable(err)) });
            }
            Class::Retry | Class::Other => return Err(Fail::Error(backend(err))),
        }
    }
}

/// As [`fetch_all`], for a statement that returns exactly one row.
pub(crate) async fn fetch_one(
    pool: &Conns,
    backoff: &Backoff,
    changes: bool,
    make: impl Fn() -> Stmt,
) -> Result<PgRow, Fail> {
    let mut rows = fetch_all(pool, backoff, changes, make).await?;
    match rows.pop() {
        Some(row) if rows.is_empty() => Ok(row),
        _ => Err(Fail::Error(InventoryError::Backend("expected exactly one row".into()))),
    }
}

impl Fail {
    /// A copy of this failure for each request of a batch.
    pub(crate) fn share(&self) -> Fail {
        let text = |e: &dyn std::error::Error| -> Box<dyn std::error::Error + Send + Sync> { e.to_string().into() };
        match self {
            Fail::Raised { message, detail } => Fail::Raised { message: message.clone(), detail: detail.clone() },
            Fail::Refused(r) => Fail::Refused(r.clone()),
            Fail::Lost(e) => Fail::Lost(text(e.as_ref())),
            Fail::Error(InventoryError::Unavailable(e)) => Fail::Error(InventoryError::Unavailable(text(e.as_ref()))),
            Fail::Error(e) => Fail::Error(InventoryError::Backend(e.to_string().into())),
        }
    }
}

/// The store could not be reached; nothing was sent.
pub(crate) fn unavailable(e: sqlx::Error) -> InventoryError {
    InventoryError::Unavailable(Box::new(e))
}

/// Any other store failure.
pub(crate) fn backend(e: sqlx::Error) -> InventoryError {
    InventoryError::Backend(Box::new(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_capped_and_jittered() {
        let b = Backoff { retries: 5, base: Duration::from_millis(2), cap: Duration::from_millis(50) };
        for attempt in 0..20 {
            let d = b.delay(attempt);
            assert!(d <= Duration::from_millis(50), "{d:?}");
            assert!(d >= Duration::from_millis(1), "{d:?}");
        }
    }
}
