//! The state-machine test: random sequences of requests run on the
//! reference model ([`ShowModel`]) and on a backend side by side; every
//! answer and every snapshot must agree.

use super::Fixture;
use crate::error::{InventoryError, Limit};
use crate::ids::{HoldId, OrderId, OwnerId, PaymentRef, PoolId, PriceCategory, SeatId, SectionId, ShowId};
use crate::inventory::{
    ExpiredHold, Hold, HoldAction, HoldBest, HoldItems, HoldPool, HoldSeats, HoldToken, Refund, Sale, Sell, Snapshot,
};
use crate::layout::{HoldPolicy, ShowSpec, VenueLayout};
use crate::model::ShowModel;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest};
use std::future::Future;
use std::marker::PhantomData;
use std::time::Duration;

const TTL_MS: i64 = 60_000;
const OWNERS: u8 = 3;

/// A backend under the state-machine test.
pub trait StateMachineBackend: 'static {
    /// A fresh inventory with its manual clock. Called once per test case,
    /// inside the case's tokio runtime (current-thread).
    fn fixture() -> impl Future<Output = Fixture>;
}

/// One generated request.
#[derive(Clone, Debug)]
#[allow(missing_docs)]
pub enum Step {
    HoldSeats { owner: u8, seats: Vec<u32> },
    HoldBest { owner: u8, quantity: u32, section: Option<u32> },
    HoldPool { owner: u8, pool: u32, quantity: u32 },
    Extend { hold: Index, owner: u8, stale: bool },
    Release { hold: Index, owner: u8, stale: bool },
    Sell { hold: Index, owner: u8, order: u8 },
    Refund { sale: Index, seats: Option<u32> },
    Block { seats: Vec<u32> },
    Unblock { seats: Vec<u32> },
    Advance { ms: i64 },
    Sweep,
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

/// The reference state: the model plus what the test issued so far.
#[derive(Clone, Debug)]
pub struct RefState {
    /// The model of the show.
    pub model: ShowModel,
    /// The model's clock (Unix ms).
    pub now: i64,
    /// Holds granted, in order.
    pub holds: Vec<Hold>,
    /// Sales made, in order.
    pub sales: Vec<Sale>,
    /// The answer to the last step.
    pub last: Option<Outcome>,
    next_hold: u128,
}

fn spec() -> ShowSpec {
    let policy = HoldPolicy {
        hold_ttl: Duration::from_millis(TTL_MS as u64),
        max_renewals: 2,
        max_hold_time: Duration::from_millis(150_000),
        max_held_per_owner: Some(5),
        max_per_request: 4,
    };
    ShowSpec::new("state machine", VenueLayout::grid(2, 1, 5, PriceCategory(1)))
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
        E::LimitExceeded(l @ (Limit::HeldPerOwner { .. } | Limit::Renewals { .. } | Limit::HoldLifetime)) => {
            format!("LimitExceeded({l:?})")
        }
        E::NotSold { order } => format!("NotSold({order})"),
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

fn swept(mut v: Vec<ExpiredHold>) -> Outcome {
    for e in &mut v {
        if let HoldItems::Seats(s) = &mut e.items {
            s.sort();
        }
    }
    let mut out: Vec<_> = v.into_iter().map(|e| (e.owner, e.items)).collect();
    out.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    Outcome::Swept(out)
}

fn outcome<T>(r: &Result<T, InventoryError>, ok: impl Fn(&T) -> Outcome) -> Outcome {
    match r {
        Ok(v) => ok(v),
        Err(e) => failed(e),
    }
}

fn seat_list() -> impl Strategy<Value = Vec<u32>> {
    // Mostly real seats, sometimes a duplicate, an unknown seat or none.
    prop::collection::vec(prop_oneof![9 => 0u32..10, 1 => 10u32..12], 0..5)
}

fn hold_token(state: &RefState, i: &Index, stale: bool) -> HoldToken {
    let mut t = state.holds[i.index(state.holds.len())].token.clone();
    if stale {
        t.version = t.version.saturating_sub(1);
    }
    t
}

impl ReferenceStateMachine for RefState {
    type State = RefState;
    type Transition = Step;

    fn init_state() -> BoxedStrategy<RefState> {
        Just(())
            .prop_map(|_| {
                let model = ShowModel::new(spec()).expect("valid spec");
                RefState {
                    model,
                    now: 1_893_456_000_000,
                    holds: Vec::new(),
                    sales: Vec::new(),
                    last: None,
                    next_hold: 1,
                }
            })
            .boxed()
    }

    fn transitions(state: &RefState) -> BoxedStrategy<Step> {
        let who = 0..OWNERS;
        let mut steps = vec![
            (4, (who.clone(), seat_list()).prop_map(|(owner, seats)| Step::HoldSeats { owner, seats }).boxed()),
            (
                2,
                (who.clone(), 0u32..6, prop::option::of(0u32..3))
                    .prop_map(|(owner, quantity, section)| Step::HoldBest { owner, quantity, section })
                    .boxed(),
            ),
            (
                2,
                (who.clone(), prop_oneof![5 => Just(0u32), 1 => Just(1u32)], 0u32..7)
                    .prop_map(|(owner, pool, quantity)| Step::HoldPool { owner, pool, quantity })
                    .boxed(),
            ),
            (1, seat_list().prop_map(|seats| Step::Block { seats }).boxed()),
            (1, seat_list().prop_map(|seats| Step::Unblock { seats }).boxed()),
            (
                2,
                prop_oneof![Just(1i64), Just(30_000), Just(TTL_MS - 1), Just(TTL_MS), Just(100_000)]
                    .prop_map(|ms| Step::Advance { ms })
                    .boxed(),
            ),
            (1, Just(Step::Sweep).boxed()),
        ];
        if !state.holds.is_empty() {
            // Mostly the right owner, sometimes someone else.
            let who = prop_oneof![4 => Just(u8::MAX), 1 => 0..OWNERS];
            steps.push((
                2,
                (any::<Index>(), who.clone(), prop::bool::weighted(0.2))
                    .prop_map(|(hold, owner, stale)| Step::Extend { hold, owner, stale })
                    .boxed(),
            ));
            steps.push((
                2,
                (any::<Index>(), who.clone(), prop::bool::weighted(0.2))
                    .prop_map(|(hold, owner, stale)| Step::Release { hold, owner, stale })
                    .boxed(),
            ));
            steps.push((
                3,
                (any::<Index>(), who, 0u8..2)
                    .prop_map(|(hold, owner, order)| Step::Sell { hold, owner, order })
                    .boxed(),
            ));
        }
        if !state.sales.is_empty() {
            steps.push((
                1,
                (any::<Index>(), prop::option::of(0u32..10))
                    .prop_map(|(sale, seats)| Step::Refund { sale, seats })
                    .boxed(),
            ));
        }
        prop::strategy::Union::new_weighted(steps).boxed()
    }

    fn preconditions(state: &RefState, step: &Step) -> bool {
        match step {
            Step::Extend { .. } | Step::Release { .. } | Step::Sell { .. } => !state.holds.is_empty(),
            Step::Refund { .. } => !state.sales.is_empty(),
            _ => true,
        }
    }

    fn apply(mut s: RefState, step: &Step) -> RefState {
        let now = s.now;
        let hold_id = HoldId::from_u128(s.next_hold);
        s.next_hold += 1;
        let pick_owner = |o: u8, h: &Hold| if o == u8::MAX { h.owner } else { owner(o) };
        let out = match step {
            Step::HoldSeats { owner: o, seats } => {
                let r = s.model.hold_seats(owner(*o), &ids(seats), hold_id, now);
                keep_hold(&mut s.holds, &r)
            }
            Step::HoldBest { owner: o, quantity, section } => {
                let req = best_req(s.model.spec.id, *o, *quantity, *section);
                let r = s.model.hold_best(&req, hold_id, now);
                keep_hold(&mut s.holds, &r)
            }
            Step::HoldPool { owner: o, pool, quantity } => {
                let r = s.model.hold_pool(owner(*o), PoolId(*pool), *quantity, hold_id, now);
                keep_hold(&mut s.holds, &r)
            }
            Step::Extend { hold, owner: o, stale } => {
                let i = hold.index(s.holds.len());
                let req = HoldAction { owner: pick_owner(*o, &s.holds[i]), token: hold_token(&s, hold, *stale) };
                let r = s.model.extend(&req, now);
                if let Ok(h) = &r {
                    s.holds[i] = h.clone();
                }
                outcome(&r, held)
            }
            Step::Release { hold, owner: o, stale } => {
                let i = hold.index(s.holds.len());
                let req = HoldAction { owner: pick_owner(*o, &s.holds[i]), token: hold_token(&s, hold, *stale) };
                outcome(&s.model.release(&req, now), |_| Outcome::Done)
            }
            Step::Sell { hold, owner: o, order: n } => {
                let i = hold.index(s.holds.len());
                let req = sell_req(pick_owner(*o, &s.holds[i]), hold_token(&s, hold, false), *n);
                let r = s.model.sell(&req, now);
                if let Ok(sale) = &r
                    && !s.sales.contains(sale)
                {
                    s.sales.push(sale.clone());
                }
                outcome(&r, sold)
            }
            Step::Refund { sale, seats } => {
                let req = refund_req(&s.sales[sale.index(s.sales.len())], *seats);
                outcome(&s.model.refund(&req, now), |_| Outcome::Done)
            }
            Step::Block { seats } => outcome(&s.model.block(&ids(seats), now), |_| Outcome::Done),
            Step::Unblock { seats } => outcome(&s.model.unblock(&ids(seats), now), |_| Outcome::Done),
            Step::Advance { ms } => {
                s.now += ms;
                Outcome::Done
            }
            Step::Sweep => match s.model.sweep(now, 1_000) {
                Ok(v) => swept(v),
                Err(e) => failed(&e),
            },
        };
        s.last = Some(out);
        s
    }
}

fn ids(seats: &[u32]) -> Vec<SeatId> {
    seats.iter().copied().map(SeatId).collect()
}

fn keep_hold(holds: &mut Vec<Hold>, r: &Result<Hold, InventoryError>) -> Outcome {
    if let Ok(h) = r {
        holds.push(h.clone());
    }
    outcome(r, held)
}

fn best_req(show: ShowId, o: u8, quantity: u32, section: Option<u32>) -> HoldBest {
    HoldBest { show, owner: owner(o), quantity, section: section.map(SectionId), category: None }
}

fn sell_req(owner: OwnerId, token: HoldToken, n: u8) -> Sell {
    Sell { owner, token, order: order(n), payment: PaymentRef(format!("cap-{n}")) }
}

fn refund_req(sale: &Sale, seats: Option<u32>) -> Refund {
    let items = match (&sale.items, seats) {
        (HoldItems::Seats(_), Some(s)) => HoldItems::Seats(vec![SeatId(s)]),
        (HoldItems::Pool { pool, quantity }, Some(q)) => HoldItems::Pool { pool: *pool, quantity: (q % quantity) + 1 },
        (items, None) => items.clone(),
    };
    Refund { show: sale.show, order: sale.order, items }
}

/// The system under test: a backend fixture driven from a runtime.
pub struct Sut {
    rt: tokio::runtime::Runtime,
    fx: Fixture,
    show: ShowId,
    model_show: ShowId,
    /// Real holds, parallel to `RefState::holds`.
    holds: Vec<Hold>,
    sales: Vec<Sale>,
}

impl Sut {
    /// The backend's token for the model's hold `i`.
    fn token(&self, state: &RefState, i: &Index, stale: bool) -> HoldToken {
        let mut t = self.holds[i.index(self.holds.len())].token.clone();
        if stale {
            t.version = t.version.saturating_sub(1);
        }
        debug_assert_eq!(self.holds.len(), state.holds.len());
        t
    }

    fn snapshot_as_model(&self) -> Snapshot {
        let mut snap = self.rt.block_on(self.fx.inventory.snapshot(self.show)).expect("snapshot");
        snap.show = self.model_show;
        snap
    }
}

/// The state-machine test of backend `B`, for `prop_state_machine!`.
pub struct StateMachine<B>(PhantomData<B>);

impl<B: StateMachineBackend> StateMachineTest for StateMachine<B> {
    type SystemUnderTest = Sut;
    type Reference = RefState;

    fn init_test(state: &RefState) -> Sut {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let fx = rt.block_on(B::fixture());
        fx.clock.set(crate::clock::millis_to_datetime(state.now));
        let mut spec = state.model.spec.clone();
        spec.id = ShowId::new();
        rt.block_on(fx.inventory.create_show(&spec)).expect("create_show");
        Sut { rt, fx, show: spec.id, model_show: state.model.spec.id, holds: Vec::new(), sales: Vec::new() }
    }

    fn apply(mut sut: Sut, state: &RefState, step: Step) -> Sut {
        let inv = sut.fx.inventory.clone();
        let show = sut.show;
        let hold_owner = |o: u8, h: &Hold| if o == u8::MAX { h.owner } else { owner(o) };
        let got = match &step {
            Step::HoldSeats { owner: o, seats } => {
                let r = sut.rt.block_on(inv.hold_seats(&HoldSeats { show, owner: owner(*o), seats: ids(seats) }));
                keep_hold(&mut sut.holds, &r)
            }
            Step::HoldBest { owner: o, quantity, section } => {
                let r = sut.rt.block_on(inv.hold_best(&best_req(show, *o, *quantity, *section)));
                keep_hold(&mut sut.holds, &r)
            }
            Step::HoldPool { owner: o, pool, quantity } => {
                let req = HoldPool { show, owner: owner(*o), pool: PoolId(*pool), quantity: *quantity };
                let r = sut.rt.block_on(inv.hold_pool(&req));
                keep_hold(&mut sut.holds, &r)
            }
            Step::Extend { hold, owner: o, stale } => {
                let i = hold.index(sut.holds.len());
                let req = HoldAction { owner: hold_owner(*o, &sut.holds[i]), token: sut.token(state, hold, *stale) };
                let r = sut.rt.block_on(inv.extend(&req));
                if let Ok(h) = &r {
                    sut.holds[i] = h.clone();
                }
                outcome(&r, held)
            }
            Step::Release { hold, owner: o, stale } => {
                let i = hold.index(sut.holds.len());
                let req = HoldAction { owner: hold_owner(*o, &sut.holds[i]), token: sut.token(state, hold, *stale) };
                outcome(&sut.rt.block_on(inv.release(&req)), |_| Outcome::Done)
            }
            Step::Sell { hold, owner: o, order: n } => {
                let i = hold.index(sut.holds.len());
                let req = sell_req(hold_owner(*o, &sut.holds[i]), sut.token(state, hold, false), *n);
                let r = sut.rt.block_on(inv.sell(&req));
                if let Ok(sale) = &r
                    && !sut.sales.contains(sale)
                {
                    sut.sales.push(sale.clone());
                }
                outcome(&r, sold)
            }
            Step::Refund { sale, seats } => {
                let req = refund_req(&sut.sales[sale.index(sut.sales.len())], *seats);
                outcome(&sut.rt.block_on(inv.refund(&req)), |_| Outcome::Done)
            }
            Step::Block { seats } => outcome(&sut.rt.block_on(inv.block(show, &ids(seats))), |_| Outcome::Done),
            Step::Unblock { seats } => outcome(&sut.rt.block_on(inv.unblock(show, &ids(seats))), |_| Outcome::Done),
            Step::Advance { ms } => {
                sut.fx.clock.advance(chrono::Duration::milliseconds(*ms));
                Outcome::Done
            }
            Step::Sweep => match sut.rt.block_on(inv.sweep_expired(show, 1_000)) {
                Ok(v) => swept(v),
                Err(e) => failed(&e),
            },
        };
        assert_eq!(Some(&got), state.last.as_ref(), "backend and model disagree on {step:?}");
        assert_eq!(sut.holds.len(), state.holds.len());
        assert_eq!(sut.sales.len(), state.sales.len());
        sut
    }

    fn check_invariants(sut: &Sut, state: &RefState) {
        assert_eq!(sut.snapshot_as_model(), state.model.snapshot(state.now), "snapshots differ");
    }
}
