//! Tickets on the memory backend: the check-in store
//! ([`MemoryCheckInStore`]).

use async_trait::async_trait;
use booking_core::tickets::checkin::{decide_check_in, decide_register};
use booking_core::tickets::{
    Admission, CheckIn, CheckInError, CheckInStore, Registered, Registration, RevocationList, TicketId, TicketStatus,
};
use booking_core::{Clock, ShowId, SystemClock};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

#[derive(Debug, Default)]
struct Show {
    tickets: HashMap<TicketId, TicketStatus>,
    /// Reissued tickets and their current versions: the revocation list.
    reissued: BTreeMap<TicketId, u32>,
}

/// Ticket versions and admissions in process, one lock per store: a
/// registration or a check-in reads and writes a ticket's record under it,
/// so the first scan wins. Admission times are read from the store's
/// clock.
#[derive(Debug)]
pub struct MemoryCheckInStore {
    shows: Mutex<HashMap<ShowId, Show>>,
    clock: Arc<dyn Clock>,
}

impl Default for MemoryCheckInStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryCheckInStore {
    /// An empty store on the system clock.
    pub fn new() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }

    /// An empty store that stamps admissions with `clock`'s time.
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        MemoryCheckInStore { shows: Mutex::new(HashMap::new()), clock }
    }

    fn shows(&self) -> MutexGuard<'_, HashMap<ShowId, Show>> {
        self.shows.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl CheckInStore for MemoryCheckInStore {
    async fn register(&self, reg: &Registration) -> Result<Registered, CheckInError> {
        let mut shows = self.shows();
        let current = shows.get(&reg.show).and_then(|s| s.tickets.get(&reg.ticket));
        let outcome = decide_register(current, reg)?;
        if outcome != Registered::Unchanged {
            let show = shows.entry(reg.show).or_default();
            show.tickets.insert(
                reg.ticket,
                TicketStatus {
                    show: reg.show,
                    ticket: reg.ticket,
                    version: reg.version,
                    holder: reg.holder,
                    admitted: None,
                },
            );
            if reg.version > 1 {
                show.reissued.insert(reg.ticket, reg.version);
            }
        }
        Ok(outcome)
    }

    async fn check_in(&self, req: &CheckIn) -> Result<Admission, CheckInError> {
        let mut shows = self.shows();
        let record = shows.get_mut(&req.show).and_then(|s| s.tickets.get_mut(&req.ticket));
        decide_check_in(record.as_deref(), req)?;
        let Some(record) = record else {
            return Err(CheckInError::UnknownTicket { show: req.show, ticket: req.ticket });
        };
        let admission = Admission {
            ticket: req.ticket,
            version: req.version,
            at: self.clock.now(),
            device: req.device.clone(),
            gate: req.gate.clone(),
        };
        record.admitted = Some(admission.clone());
        Ok(admission)
    }

    async fn status(&self, show: ShowId, ticket: TicketId) -> Result<Option<TicketStatus>, CheckInError> {
        Ok(self.shows().get(&show).and_then(|s| s.tickets.get(&ticket)).cloned())
    }

    async fn revocations(&self, show: ShowId) -> Result<RevocationList, CheckInError> {
        let mut list = RevocationList::new();
        if let Some(s) = self.shows().get(&show) {
            for (ticket, version) in &s.reissued {
                list.revoke_below(*ticket, *version);
            }
        }
        Ok(list)
    }
}
