//! Seat locks that misbehave on purpose (pause, count), wrapping a real
//! lock for the fault scenarios.

use super::*;

/// A seat lock that, when armed, stalls the next request that gets its
/// locks right after getting them, as a process paused by the scheduler, a
/// stop-the-world pause or a slow network would stall.
#[derive(Debug)]
pub struct PausingLock<L> {
    inner: L,
    armed: Mutex<Option<Pause>>,
}

#[derive(Debug)]
struct Pause {
    locked: oneshot::Sender<LockToken>,
    resume: oneshot::Receiver<()>,
}

impl<L> PausingLock<L> {
    /// `inner`, not armed.
    pub fn new(inner: L) -> Self {
        PausingLock { inner, armed: Mutex::new(None) }
    }

    /// The lock this one wraps.
    pub fn inner(&self) -> &L {
        &self.inner
    }

    /// Stalls the next request that takes its locks. Returns a receiver told
    /// (with the lock token) once it has them, and a sender that resumes it.
    pub fn arm(&self) -> (oneshot::Receiver<LockToken>, oneshot::Sender<()>) {
        let (locked_tx, locked_rx) = oneshot::channel();
        let (resume_tx, resume_rx) = oneshot::channel();
        *self.armed.lock().unwrap_or_else(PoisonError::into_inner) =
            Some(Pause { locked: locked_tx, resume: resume_rx });
        (locked_rx, resume_tx)
    }
}

#[async_trait]
impl<L: SeatLock> SeatLock for PausingLock<L> {
    async fn try_lock(&self, show: ShowId, seats: &[SeatId], ttl: Duration) -> Result<LockOutcome> {
        let outcome = self.inner.try_lock(show, seats, ttl).await?;
        if let LockOutcome::Locked(token) = &outcome {
            let pause = self.armed.lock().unwrap_or_else(PoisonError::into_inner).take();
            if let Some(pause) = pause {
                let _ = pause.locked.send(token.clone());
                let _ = pause.resume.await;
            }
        }
        Ok(outcome)
    }

    async fn unlock(&self, show: ShowId, seats: &[SeatId], token: &LockToken) -> Result<()> {
        self.inner.unlock(show, seats, token).await
    }
}

/// What a [`CountingLock`]'s lock store answered so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LockCounts {
    /// Requests that got their locks.
    pub locked: u64,
    /// Requests refused because another request held a lock.
    pub busy: u64,
    /// Requests the lock store failed to answer.
    pub failed: u64,
}

/// A seat lock that counts what its lock store answered.
#[derive(Debug)]
pub struct CountingLock<L> {
    inner: L,
    locked: AtomicU64,
    busy: AtomicU64,
    failed: AtomicU64,
}

impl<L> CountingLock<L> {
    /// `inner`, all counts at zero.
    pub fn new(inner: L) -> Self {
        CountingLock { inner, locked: AtomicU64::new(0), busy: AtomicU64::new(0), failed: AtomicU64::new(0) }
    }

    /// The counts so far.
    pub fn counts(&self) -> LockCounts {
        LockCounts {
            locked: self.locked.load(Ordering::SeqCst),
            busy: self.busy.load(Ordering::SeqCst),
            failed: self.failed.load(Ordering::SeqCst),
        }
    }
}

#[async_trait]
impl<L: SeatLock> SeatLock for CountingLock<L> {
    async fn try_lock(&self, show: ShowId, seats: &[SeatId], ttl: Duration) -> Result<LockOutcome> {
        let outcome = self.inner.try_lock(show, seats, ttl).await;
        let counter = match &outcome {
            Ok(LockOutcome::Locked(_)) => &self.locked,
            Ok(LockOutcome::Busy(_)) => &self.busy,
            Err(_) => &self.failed,
        };
        counter.fetch_add(1, Ordering::SeqCst);
        outcome
    }

    async fn unlock(&self, show: ShowId, seats: &[SeatId], token: &LockToken) -> Result<()> {
        self.inner.unlock(show, seats, token).await
    }
}
