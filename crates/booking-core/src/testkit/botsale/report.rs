//! What a bot on-sale simulation reports: the figures, and what a test
//! asserts (caps, fairness between bots and people, no seat sold twice).

use super::agents::{Agent, Kind};
use super::{BotSaleConfig, CAP};
use crate::backend::fsm::SeatState;
use crate::ids::{OwnerId, SeatId};
use crate::inventory::{Audit, HoldItems};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

/// Guarded requests refused, by reason.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Refusals {
    /// By the blacklist.
    pub blacklist: u64,
    /// Blocked by bot scoring.
    pub bot_block: u64,
    /// Asked for a captcha (none sent, or a refused one).
    pub challenge: u64,
    /// By a rate limit.
    pub rate_limit: u64,
    /// By the per-identity cap (the inventory's policy).
    pub cap: u64,
    /// No seats left for the quantity asked.
    pub sold_out: u64,
}

/// The figures of one simulated on-sale.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BotSaleReport {
    /// The seed it ran with.
    pub seed: u64,
    /// Whether requests went through the guard.
    pub guarded: bool,
    /// Identities taking part.
    pub identities: u32,
    /// Of which bots.
    pub bots: u32,
    /// Seats on sale.
    pub seats: u32,
    /// Guarded hold requests sent.
    pub requests: u64,
    /// Waiting-room status polls sent.
    pub polls: u64,
    /// Requests refused, by reason.
    pub refused: Refusals,
    /// Identities that gave up (refused too often, people refused once by
    /// the blacklist or bot scoring, or finding no seats for a while).
    pub gave_up: u64,
    /// People who walked away from their hold (it expired).
    pub abandoned: u64,
    /// Tickets sold to bots.
    pub bot_tickets: u64,
    /// Tickets sold to people.
    pub human_tickets: u64,
    /// Per kind of client: identities, and tickets they bought.
    pub by_kind: BTreeMap<Kind, (u32, u64)>,
    /// The most tickets any identity bought.
    pub max_tickets_per_identity: u32,
    /// The most seats any identity held at once.
    pub max_held_per_identity: u32,
    /// The most seats the audit shows sold to one owner.
    pub max_sold_per_owner_audited: u32,
    /// Seats the audit shows sold.
    pub sold_audited: u32,
    /// Seats two sales both returned: `(seat, first identity, second)`.
    pub seats_sold_twice: Vec<(SeatId, u32, u32)>,
    /// Disagreements between the audit and the sales made.
    pub audit_problems: Vec<String>,
    /// Each admitted identity's wait in the room, from joining (or the
    /// start, for those who joined before it) to admission, in ms.
    pub waits_ms: Vec<i64>,
    /// Virtual time from the start to the last event, in ms.
    pub virtual_ms: i64,
}

impl BotSaleReport {
    pub(super) fn new(cfg: &BotSaleConfig, bots: u32) -> Self {
        BotSaleReport {
            seed: cfg.seed,
            guarded: cfg.guard,
            identities: cfg.identities,
            bots,
            seats: cfg.seats,
            ..BotSaleReport::default()
        }
    }

    /// People taking part.
    pub fn humans(&self) -> u32 {
        self.identities - self.bots
    }

    /// Tickets per bot identity (mean).
    pub fn tickets_per_bot(&self) -> f64 {
        self.bot_tickets as f64 / f64::from(self.bots.max(1))
    }

    /// Tickets per person (mean).
    pub fn tickets_per_human(&self) -> f64 {
        self.human_tickets as f64 / f64::from(self.humans().max(1))
    }

    /// A percentile of the waits (`p` in 0..=100).
    pub fn wait(&self, p: usize) -> Duration {
        let mut w = self.waits_ms.clone();
        w.sort_unstable();
        let Some(last) = w.len().checked_sub(1) else { return Duration::ZERO };
        Duration::from_millis(u64::try_from(w[(last * p.min(100)).div_ceil(100)]).unwrap_or(0))
    }

    pub(super) fn record_agents(&mut self, agents: &[Agent]) {
        for a in agents {
            if a.kind.is_bot() {
                self.bot_tickets += u64::from(a.tickets);
            } else {
                self.human_tickets += u64::from(a.tickets);
            }
            let kind = self.by_kind.entry(a.kind).or_default();
            kind.0 += 1;
            kind.1 += u64::from(a.tickets);
            self.max_tickets_per_identity = self.max_tickets_per_identity.max(a.tickets);
            self.max_held_per_identity = self.max_held_per_identity.max(a.max_held);
        }
    }

    /// Checks the audit against the sales: every seat sold once, to the
    /// owner and order a sale record names; counts per owner.
    pub(super) fn record_audit(&mut self, audit: &Audit, agents: &[Agent]) {
        let mut per_owner: BTreeMap<OwnerId, u32> = BTreeMap::new();
        let mut recorded: BTreeMap<SeatId, (OwnerId, crate::ids::OrderId)> = BTreeMap::new();
        for r in &audit.sales {
            if let HoldItems::Seats(seats) = &r.sale.items {
                for s in seats {
                    if recorded.insert(*s, (r.sale.owner, r.sale.order)).is_some() {
                        self.audit_problems.push(format!("seat {s:?} is in two sale records"));
                    }
                }
            }
        }
        for (i, seat) in audit.seats.iter().enumerate() {
            if let SeatState::Sold { owner, order } = seat.state {
                self.sold_audited += 1;
                *per_owner.entry(owner).or_default() += 1;
                let id = SeatId(i as u32);
                if recorded.get(&id) != Some(&(owner, order)) {
                    self.audit_problems.push(format!("seat {i} is sold with no matching sale record"));
                }
            }
        }
        let bought: u32 = agents.iter().map(|a| a.tickets).sum();
        if bought != self.sold_audited {
            self.audit_problems.push(format!("{bought} tickets bought, {} seats sold", self.sold_audited));
        }
        let accounts: BTreeSet<OwnerId> = agents.iter().map(|a| a.account).collect();
        if per_owner.keys().any(|o| !accounts.contains(o)) {
            self.audit_problems.push("a seat is sold to no identity of the run".into());
        }
        self.max_sold_per_owner_audited = per_owner.values().copied().max().unwrap_or(0);
    }

    /// What a run must show: no identity over the cap (bought, held, or
    /// by the audit), no seat sold twice, the audit agreeing with the
    /// sales; with the guard on, bots no better off per identity than
    /// people. Returns every violation.
    pub fn violations(&self) -> Vec<String> {
        let mut v = self.audit_problems.clone();
        if self.max_tickets_per_identity > CAP || self.max_sold_per_owner_audited > CAP {
            v.push(format!(
                "an identity got {} tickets ({} by the audit), over the cap of {CAP}",
                self.max_tickets_per_identity, self.max_sold_per_owner_audited
            ));
        }
        if self.max_held_per_identity > CAP {
            v.push(format!("an identity held {} seats at once, over the cap of {CAP}", self.max_held_per_identity));
        }
        for (seat, a, b) in &self.seats_sold_twice {
            v.push(format!("seat {seat:?} sold to identity {a} and to identity {b}"));
        }
        if self.sold_audited > self.seats {
            v.push(format!("{} seats sold of {}", self.sold_audited, self.seats));
        }
        if self.guarded && self.tickets_per_bot() > self.tickets_per_human() {
            v.push(format!(
                "bots got {:.3} tickets per identity, people {:.3}",
                self.tickets_per_bot(),
                self.tickets_per_human()
            ));
        }
        v
    }
}

impl fmt::Display for BotSaleReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.refused;
        let guard = if self.guarded { "on" } else { "OFF" };
        writeln!(f, "bot on-sale, seed {}, guard {guard}", self.seed)?;
        writeln!(
            f,
            "identities        {} ({} bots, {} people) for {} seats, cap {CAP} each",
            self.identities,
            self.bots,
            self.humans(),
            self.seats
        )?;
        writeln!(f, "requests sent     {} holds, {} waiting-room polls", self.requests, self.polls)?;
        writeln!(
            f,
            "refused           blacklist {}, bot block {}, challenge {}, rate limit {}, cap {}, sold out {}",
            r.blacklist, r.bot_block, r.challenge, r.rate_limit, r.cap, r.sold_out
        )?;
        writeln!(f, "gave up           {} identities; {} holds abandoned", self.gave_up, self.abandoned)?;
        writeln!(
            f,
            "tickets           {} sold: {} to bots ({:.3} per bot), {} to people ({:.3} per person)",
            self.sold_audited,
            self.bot_tickets,
            self.tickets_per_bot(),
            self.human_tickets,
            self.tickets_per_human()
        )?;
        let kinds: Vec<String> = self
            .by_kind
            .iter()
            .map(|(k, (n, t))| format!("{k:?} {t}/{n} = {:.3}", *t as f64 / f64::from((*n).max(1))))
            .collect();
        writeln!(f, "tickets by kind   {}", kinds.join(", "))?;
        writeln!(
            f,
            "most per identity {} bought, {} held at once, {} sold by the audit",
            self.max_tickets_per_identity, self.max_held_per_identity, self.max_sold_per_owner_audited
        )?;
        writeln!(
            f,
            "room wait         p50 {:.1} s, p99 {:.1} s ({} admitted)",
            self.wait(50).as_secs_f64(),
            self.wait(99).as_secs_f64(),
            self.waits_ms.len()
        )?;
        write!(f, "virtual time      {:.1} s from the start", self.virtual_ms as f64 / 1000.0)
    }
}
