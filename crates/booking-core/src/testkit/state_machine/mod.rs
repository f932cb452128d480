//! The state-machine test: random sequences of requests, some of them
//! concurrent, run on a backend and on the reference model ([`ShowModel`])
//! side by side; every answer, every snapshot and every audit must agree.
//!
//! The generator is adversarial: besides ordinary holds, extensions,
//! releases, sales and refunds, it sends tokens that are stale, from the
//! future, a subset or a superset of their hold's seats, another pool
//! quantity or another hold's id; sell replays with another payment, owner
//! or hold; sweeps with small limits; and groups of 2-4 requests sent at
//! once.
//!
//! How the comparison works. The model that answers is kept by the system
//! under test ([`Sut`]), not by the generator, because the backend makes
//! two free choices the model must follow:
//! - which expired seats a sweep with a small limit frees first (any
//!   choice is accepted if it frees exactly `min(limit, expired)` seats and
//!   pool holds, all of them expired; the model then frees the same ones);
//! - in which order it decides concurrent requests. The group's answers
//!   must equal the model's for some order of its requests, arrival order
//!   tried first (a backend that batches must answer as its requests would
//!   one after another in arrival order; one that runs them on separate
//!   connections may pick any order).
//!
//! New holds take the backend's hold ids in the model, so audits (owners,
//! holds, orders, payments, hold sizes) compare directly.

use super::Fixture;
use crate::error::{InventoryError, Limit};
use crate::ids::{HoldId, OrderId, OwnerId, PayerKey, PaymentRef, PoolId, PriceCategory, SeatId, SectionId, ShowId};
use crate::inventory::{
    ExpiredHold, Hold, HoldAction, HoldBest, HoldItems, HoldPool, HoldSeats, HoldToken, Refund, Sale, SeatInventory,
    Sell,
};
use crate::layout::{HoldPolicy, ShowSpec, VenueLayout};
use crate::testkit::model::ShowModel;
use proptest::sample::Index;
use proptest::test_runner::Config;
use proptest_state_machine::StateMachineTest;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

mod follow;
mod generate;

use follow::{expire_as_reported, join_all, permutations, shed_by_lock};

const TTL_MS: i64 = 60_000;
const OWNERS: u8 = 3;
const SEATS: u32 = 10;
/// The per-owner ticket cap of the generated show (5 held at most, 10
/// seats and 5 units in all).
const TICKETS_PER_OWNER: u32 = 6;
/// The show's per-payment purchase cap: low, so that sales run into it.
const TICKETS_PER_PAYMENT: u32 = 4;

/// A backend under the state-machine test.
pub trait StateMachineBackend: 'static {
    /// A fresh inventory with its manual clock. Called once per test case,
    /// inside the case's tokio runtime (current-thread).
    fn fixture() -> impl Future<Output = Fixture>;

    /// True for a backend behind a seat lock
    /// ([`crate::layered::LockedInventory`]): a hold naming seats whose
    /// locks a concurrent request holds may be refused `SeatsTaken`
    /// without the store being asked. In a concurrent group such a refusal
    /// counts as a request that did nothing, provided every seat it names
    /// as taken is named by another hold of the group.
    const SHEDS_CONTENTION: bool = false;
}

/// The proptest configuration for a state-machine test: `cases` cases, or
/// as many as the `PROPTEST_CASES` environment variable says (for long
/// runs: `PROPTEST_CASES=1000 cargo test ...`).
pub fn config(cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(cases);
    Config { cases, max_shrink_iters: 2_000, ..Config::default() }
}

/// How a generated request edits the token it presents.
#[derive(Clone, Copy, Debug)]
pub enum Tamper {
    /// The hold's newest token as issued.
    None,
    /// The version before the newest.
    Stale,
    /// A version the hold has not reached.
    Future,
    /// One seat fewer (one unit fewer, or one more for a single unit).
    Subset,
    /// One more seat (or unit).
    Superset,
    /// Another seat in place of the hold's last.
    Swapped,
    /// The id of another hold (the one the index picks).
    OtherHold(Index),
}

/// One generated request.
#[derive(Clone, Debug)]
#[allow(missing_docs)]
pub enum Step {
    HoldSeats {
        owner: u8,
        seats: Vec<u32>,
    },
    HoldBest {
        owner: u8,
        quantity: u32,
        section: Option<u32>,
    },
    HoldPool {
        owner: u8,
        pool: u32,
        quantity: u32,
    },
    /// `owner` `u8::MAX` is the hold's owner.
    Extend {
        hold: Index,
        owner: u8,
        tamper: Tamper,
    },
    Release {
        hold: Index,
        owner: u8,
        tamper: Tamper,
    },
    Verify {
        hold: Index,
        owner: u8,
        tamper: Tamper,
    },
    Sell {
        hold: Index,
        owner: u8,
        tamper: Tamper,
        order: u8,
        payment: u8,
        /// 0: no payer; else one of two payer keys.
        payer: u8,
    },
    Refund {
        sale: Index,
        part: Option<u32>,
    },
    Block {
        seats: Vec<u32>,
    },
    Unblock {
        seats: Vec<u32>,
    },
    Advance {
        ms: i64,
    },
    Sweep {
        limit: usize,
    },
    /// Requests sent at once.
    Concurrent(Vec<Step>),
}

/// A request's answer with backend-chosen ids left out, so that the model's
/// and a backend's answers compare equal when they agree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A hold or extension: items, version, expiry (ms), renewals, owner.
    Hold(HoldItems, u64, i64, u32, OwnerId),
    /// A sale: items, version, order, owner.
    Sale(HoldItems, u64, OrderId, OwnerId),
    /// Expired holds as (owner, items), sorted.
    Swept(Vec<(OwnerId, HoldItems)>),
    /// Success without a value.
    Done,
    /// An error, reduced to what a caller would act on.
    Failed(String),
}

/// The generator's state: only what decides which steps make sense.
#[derive(Clone, Debug, Default)]
pub struct RefState {
    /// Steps generated so far.
    pub steps: usize,
}

fn spec() -> ShowSpec {
    let policy = HoldPolicy {
        hold_ttl: Duration::from_millis(TTL_MS as u64),
        max_renewals: 2,
        max_hold_time: Duration::from_millis(150_000),
        max_held_per_owner: Some(5),
        max_per_request: 4,
        // Low enough that owners buying, refunding and holding again run
        // into it often.
        max_tickets_per_owner: Some(TICKETS_PER_OWNER),
        // Below the owner cap, so that two owners paying alike reach it.
        max_tickets_per_payment: Some(TICKETS_PER_PAYMENT),
    };
    ShowSpec::new("state machine", VenueLayout::grid(2, 1, SEATS / 2, PriceCategory(1)))
        .with_pool("standing", 5, PriceCategory(2))
        .with_policy(policy)
}

fn owner(i: u8) -> OwnerId {
    OwnerId::from_u128(0x0100 + i as u128)
}

fn order(i: u8) -> OrderId {
    OrderId::from_u128(0x0200 + i as u128)
}

fn failed(e: &InventoryError) -> Outcome {
    use InventoryError as E;
    Outcome::Failed(match e {
        E::InvalidRequest(r) => format!("InvalidRequest({r:?})"),
        E::UnknownShow(_) => "UnknownShow".into(),
        E::UnknownSeat { seat, .. } => format!("UnknownSeat({seat})"),
        E::UnknownPool { pool, .. } => format!("UnknownPool({pool})"),
        E::SeatsTaken { seats } => format!("SeatsTaken({seats:?})"),
        E::InsufficientCapacity { requested, available, .. } => {
            format!("InsufficientCapacity({requested}, {available})")
        }
        E::NoSeatsAvailable { requested } => format!("NoSeatsAvailable({requested})"),
        E::HoldExpired { .. } => "HoldExpired".into(),
        E::NotOwner { .. } => "NotOwner".into(),
        E::StaleToken { presented, current, .. } => format!("StaleToken({presented}, {current})"),
        E::LimitExceeded(
            l @ (Limit::HeldPerOwner { .. }
            | Limit::TicketsPerOwner { .. }
            | Limit::TicketsPerPayment { .. }
            | Limit::Renewals { .. }
            | Limit::HoldLifetime),
        ) => {
            format!("LimitExceeded({l:?})")
        }
        E::NotSold { order } => format!("NotSold({order})"),
        E::SaleConflict { order } => format!("SaleConflict({order})"),
        E::WrongState { seats } => format!("WrongState({seats:?})"),
        other => panic!("the backend failed: {other:?}"),
    })
}

fn held(h: &Hold) -> Outcome {
    Outcome::Hold(h.token.items.clone(), h.token.version, h.held_until.timestamp_millis(), h.renewals, h.owner)
}

fn sold(s: &Sale) -> Outcome {
    Outcome::Sale(s.items.clone(), s.version, s.order, s.owner)
}

fn swept(v: &[ExpiredHold]) -> Outcome {
    let mut out: Vec<(OwnerId, HoldItems)> = v
        .iter()
        .map(|e| {
            let mut items = e.items.clone();
            if let HoldItems::Seats(s) = &mut items {
                s.sort();
            }
            (e.owner, items)
        })
        .collect();
    out.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    Outcome::Swept(out)
}

fn outcome<T>(r: &Result<T, InventoryError>, ok: impl Fn(&T) -> Outcome) -> Outcome {
    match r {
        Ok(v) => ok(v),
        Err(e) => failed(e),
    }
}

fn ids(seats: &[u32]) -> Vec<SeatId> {
    seats.iter().copied().map(SeatId).collect()
}

fn best_req(show: ShowId, o: u8, quantity: u32, section: Option<u32>) -> HoldBest {
    HoldBest { show, owner: owner(o), quantity, section: section.map(SectionId), category: None }
}

/// A request resolved against the holds and sales so far, ready to send to
/// the backend and to the model alike.
#[derive(Clone, Debug)]
enum Request {
    HoldSeats(HoldSeats),
    HoldBest(HoldBest),
    HoldPool(HoldPool),
    Extend(HoldAction),
    Release(HoldAction),
    Verify(HoldAction),
    Sell(Sell),
    Refund(Refund),
    Block(Vec<SeatId>),
    Unblock(Vec<SeatId>),
    Sweep(usize),
    /// A step that needs a hold or sale when there is none yet.
    Nothing,
}

/// A backend's answer, kept whole (the model needs its hold ids).
#[derive(Debug)]
enum Answer {
    Hold(crate::error::Result<Hold>),
    Sale(crate::error::Result<Sale>),
    Swept(crate::error::Result<Vec<ExpiredHold>>),
    Unit(crate::error::Result<()>),
}

impl Answer {
    fn outcome(&self) -> Outcome {
        match self {
            Answer::Hold(r) => outcome(r, held),
            Answer::Sale(r) => outcome(r, sold),
            Answer::Swept(r) => outcome(r, |v| swept(v)),
            Answer::Unit(r) => outcome(r, |_| Outcome::Done),
        }
    }
}

fn edit(token: &HoldToken, tamper: Tamper, holds: &[Hold]) -> HoldToken {
    let mut t = token.clone();
    match (tamper, &mut t.items) {
        (Tamper::None, _) => {}
        (Tamper::Stale, _) => t.version = t.version.saturating_sub(1),
        (Tamper::Future, _) => t.version += 3,
        (Tamper::Subset, HoldItems::Seats(s)) if s.len() > 1 => {
            s.pop();
        }
        (Tamper::Subset, HoldItems::Pool { quantity, .. }) if *quantity > 1 => *quantity -= 1,
        (Tamper::Subset | Tamper::Superset, HoldItems::Pool { quantity, .. }) => *quantity += 1,
        (Tamper::Subset | Tamper::Superset, HoldItems::Seats(s)) => {
            if let Some(extra) = (0..SEATS).map(SeatId).find(|x| !s.contains(x)) {
                s.push(extra);
                s.sort();
            }
        }
        (Tamper::Swapped, HoldItems::Seats(s)) => {
            if let Some(extra) = (0..SEATS).rev().map(SeatId).find(|x| !s.contains(x)) {
                s.pop();
                s.push(extra);
                s.sort();
            }
        }
        (Tamper::Swapped, HoldItems::Pool { pool, .. }) => pool.0 += 1,
        (Tamper::OtherHold(i), _) => t.hold = holds[i.index(holds.len())].token.hold,
    }
    t
}

/// The system under test: a backend, the model that must agree with it,
/// and the holds and sales granted so far.
pub struct Sut {
    rt: tokio::runtime::Runtime,
    fx: Fixture,
    model: ShowModel,
    now: i64,
    holds: Vec<Hold>,
    sales: Vec<Sale>,
    /// Hold ids for the model's own failed attempts.
    spare: u128,
}

impl Sut {
    fn show(&self) -> ShowId {
        self.model.spec.id
    }

    fn resolve(&self, step: &Step) -> Request {
        let show = self.show();
        let token = |hold: &Index, o: u8, tamper: Tamper| {
            let h = &self.holds[hold.index(self.holds.len())];
            let who = if o == u8::MAX { h.owner } else { owner(o) };
            (who, edit(&h.token, tamper, &self.holds))
        };
        match step {
            Step::HoldSeats { owner: o, seats } => {
                Request::HoldSeats(HoldSeats { show, owner: owner(*o), seats: ids(seats) })
            }
            Step::HoldBest { owner: o, quantity, section } => {
                Request::HoldBest(best_req(show, *o, *quantity, *section))
            }
            Step::HoldPool { owner: o, pool, quantity } => {
                Request::HoldPool(HoldPool { show, owner: owner(*o), pool: PoolId(*pool), quantity: *quantity })
            }
            Step::Extend { .. } | Step::Release { .. } | Step::Verify { .. } | Step::Sell { .. }
                if self.holds.is_empty() =>
            {
                Request::Nothing
            }
            Step::Extend { hold, owner, tamper } => {
                let (owner, token) = token(hold, *owner, *tamper);
                Request::Extend(HoldAction { owner, token })
            }
            Step::Release { hold, owner, tamper } => {
                let (owner, token) = token(hold, *owner, *tamper);
                Request::Release(HoldAction { owner, token })
            }
            Step::Verify { hold, owner, tamper } => {
                let (owner, token) = token(hold, *owner, *tamper);
                Request::Verify(HoldAction { owner, token })
            }
            Step::Sell { hold, owner, tamper, order: n, payment, payer } => {
                let (owner, token) = token(hold, *owner, *tamper);
                let payment = PaymentRef(format!("cap-{payment}"));
                let payer = (*payer > 0).then(|| PayerKey::new(format!("payer-{payer}")).expect("a valid key"));
                Request::Sell(Sell { owner, token, order: order(*n), payment, payer })
            }
            Step::Refund { .. } if self.sales.is_empty() => Request::Nothing,
            Step::Refund { sale, part } => {
                let sale = &self.sales[sale.index(self.sales.len())];
                let items = match (&sale.items, part) {
                    (HoldItems::Seats(_), Some(s)) => HoldItems::Seats(vec![SeatId(*s)]),
                    (HoldItems::Pool { pool, quantity }, Some(q)) => {
                        HoldItems::Pool { pool: *pool, quantity: (q % quantity) + 1 }
                    }
                    (items, None) => items.clone(),
                };
                Request::Refund(Refund { show: sale.show, order: sale.order, items })
            }
            Step::Block { seats } => Request::Block(ids(seats)),
            Step::Unblock { seats } => Request::Unblock(ids(seats)),
            Step::Sweep { limit } => Request::Sweep(*limit),
            Step::Advance { .. } | Step::Concurrent(_) => Request::Nothing,
        }
    }

    fn model_answer(&mut self, model: &mut ShowModel, req: &Request, backend: &Answer) -> Outcome {
        let now = self.now;
        // A new hold takes the backend's hold id, so audits compare directly.
        let hold_id = match backend {
            Answer::Hold(Ok(h)) => h.token.hold,
            _ => {
                self.spare += 1;
                HoldId::from_u128(self.spare)
            }
        };
        match req {
            Request::HoldSeats(r) => outcome(&model.hold_seats(r.owner, &r.seats, hold_id, now), held),
            Request::HoldBest(r) => outcome(&model.hold_best(r, hold_id, now), held),
            Request::HoldPool(r) => outcome(&model.hold_pool(r.owner, r.pool, r.quantity, hold_id, now), held),
            Request::Extend(r) => outcome(&model.extend(r, now), held),
            Request::Release(r) => outcome(&model.release(r, now), |_| Outcome::Done),
            Request::Verify(r) => outcome(&model.verify(r, now), held),
            Request::Sell(r) => outcome(&model.sell(r, now), sold),
            Request::Refund(r) => outcome(&model.refund(r, now), |_| Outcome::Done),
            Request::Block(s) => outcome(&model.block(s, now), |_| Outcome::Done),
            Request::Unblock(s) => outcome(&model.unblock(s, now), |_| Outcome::Done),
            Request::Sweep(limit) => match backend {
                Answer::Swept(Ok(freed)) => match expire_as_reported(model, freed, *limit, now) {
                    Ok(()) => swept(freed),
                    Err(why) => Outcome::Failed(format!("the model refuses this sweep: {why}")),
                },
                _ => outcome(&model.sweep(now, *limit), |v| swept(v)),
            },
            Request::Nothing => Outcome::Done,
        }
    }

    fn send(&self, req: Request) -> Pin<Box<dyn Future<Output = Answer>>> {
        let inv: Arc<dyn SeatInventory> = self.fx.inventory.clone();
        let show = self.show();
        Box::pin(async move {
            match req {
                Request::HoldSeats(r) => Answer::Hold(inv.hold_seats(&r).await),
                Request::HoldBest(r) => Answer::Hold(inv.hold_best(&r).await),
                Request::HoldPool(r) => Answer::Hold(inv.hold_pool(&r).await),
                Request::Extend(r) => Answer::Hold(inv.extend(&r).await),
                Request::Release(r) => Answer::Unit(inv.release(&r).await),
                Request::Verify(r) => Answer::Hold(inv.verify(&r).await),
                Request::Sell(r) => Answer::Sale(inv.sell(&r).await),
                Request::Refund(r) => Answer::Unit(inv.refund(&r).await),
                Request::Block(s) => Answer::Unit(inv.block(show, &s).await),
                Request::Unblock(s) => Answer::Unit(inv.unblock(show, &s).await),
                Request::Sweep(limit) => Answer::Swept(inv.sweep_expired(show, limit).await),
                Request::Nothing => Answer::Unit(Ok(())),
            }
        })
    }

    /// Keeps what a request granted, in the order the requests were sent.
    fn keep(&mut self, req: &Request, answer: &Answer) {
        match answer {
            Answer::Hold(Ok(h)) => match req {
                Request::Extend(_) | Request::Verify(_) => {
                    if let Some(old) = self.holds.iter_mut().find(|o| o.token.hold == h.token.hold) {
                        *old = h.clone();
                    }
                }
                _ => self.holds.push(h.clone()),
            },
            Answer::Sale(Ok(s)) if !self.sales.contains(s) => self.sales.push(s.clone()),
            _ => {}
        }
    }

    /// Sends `steps` at once and checks the answers against the model run
    /// in some order of the requests, arrival order first.
    fn concurrent(&mut self, steps: &[Step], sheds: bool) {
        let reqs: Vec<Request> = steps.iter().map(|s| self.resolve(s)).collect();
        let futures: Vec<_> = reqs.iter().cloned().map(|r| self.send(r)).collect();
        let answers = self.rt.block_on(join_all(futures));
        let got: Vec<Outcome> = answers.iter().map(Answer::outcome).collect();
        let shed: Vec<bool> = (0..reqs.len()).map(|i| sheds && shed_by_lock(&reqs, &answers, i)).collect();
        let mut tried = Vec::new();
        for order in permutations(reqs.len()) {
            let mut model = self.model.clone();
            let spare = self.spare;
            let mut want = vec![Outcome::Done; reqs.len()];
            for &i in &order {
                want[i] = if shed[i] { got[i].clone() } else { self.model_answer(&mut model, &reqs[i], &answers[i]) };
            }
            if want == got {
                self.model = model;
                for (req, answer) in reqs.iter().zip(&answers) {
                    self.keep(req, answer);
                }
                return;
            }
            self.spare = spare;
            tried.push((order, want));
        }
        panic!(
            "no order of the concurrent requests {reqs:#?} gives the backend's answers {got:#?}; the model's: {tried:#?}"
        );
    }

    fn check_audit(&self) {
        let got = self.rt.block_on(self.fx.inventory.audit(self.show())).expect("audit");
        assert_eq!(got, self.model.audit(self.now), "audits differ (owners, holds, orders or sale records)");
    }
}

/// The state-machine test of backend `B`, for `prop_state_machine!`.
pub struct StateMachine<B>(PhantomData<B>);

impl<B: StateMachineBackend> StateMachineTest for StateMachine<B> {
    type SystemUnderTest = Sut;
    type Reference = RefState;

    fn init_test(_: &RefState) -> Sut {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let fx = rt.block_on(B::fixture());
        let now = 1_893_456_000_000;
        fx.clock.set(crate::clock::millis_to_datetime(now));
        let mut spec = spec();
        spec.id = ShowId::new();
        rt.block_on(fx.inventory.create_show(&spec)).expect("create_show");
        let model = ShowModel::new(spec).expect("valid spec");
        Sut { rt, fx, model, now, holds: Vec::new(), sales: Vec::new(), spare: 1 }
    }

    fn apply(mut sut: Sut, _: &RefState, step: Step) -> Sut {
        match &step {
            Step::Advance { ms } => {
                sut.now += ms;
                sut.fx.clock.advance(chrono::Duration::milliseconds(*ms));
            }
            Step::Concurrent(steps) => sut.concurrent(steps, B::SHEDS_CONTENTION),
            _ => {
                let req = sut.resolve(&step);
                let answer = sut.rt.block_on(sut.send(req.clone()));
                let mut model = sut.model.clone();
                let want = sut.model_answer(&mut model, &req, &answer);
                assert_eq!(answer.outcome(), want, "backend and model disagree on {step:?} sent as {req:?}");
                sut.model = model;
                sut.keep(&req, &answer);
            }
        }
        sut
    }

    fn check_invariants(sut: &Sut, _: &RefState) {
        let snap = sut.rt.block_on(sut.fx.inventory.snapshot(sut.show())).expect("snapshot");
        assert_eq!(snap, sut.model.snapshot(sut.now), "snapshots differ");
        sut.check_audit();
    }
}
