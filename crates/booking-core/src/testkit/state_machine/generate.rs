//! The generator: adversarial request sequences (tampered tokens,
//! replays, small sweeps, concurrent groups).

use super::{OWNERS, RefState, SEATS, Step, TTL_MS, Tamper};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest_state_machine::ReferenceStateMachine;

fn seat_list() -> impl Strategy<Value = Vec<u32>> {
    // Mostly real seats, sometimes a duplicate, an unknown seat or none.
    prop::collection::vec(prop_oneof![9 => 0..SEATS, 1 => SEATS..SEATS + 2], 0..5)
}

fn tamper() -> impl Strategy<Value = Tamper> {
    prop_oneof![
        10 => Just(Tamper::None),
        2 => Just(Tamper::Stale),
        1 => Just(Tamper::Future),
        2 => Just(Tamper::Subset),
        2 => Just(Tamper::Superset),
        1 => Just(Tamper::Swapped),
        2 => any::<Index>().prop_map(Tamper::OtherHold),
    ]
}

/// Mostly the hold's owner (`u8::MAX`), sometimes anyone.
fn token_owner() -> impl Strategy<Value = u8> {
    prop_oneof![5 => Just(u8::MAX), 1 => 0..OWNERS]
}

fn hold_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..OWNERS, seat_list()).prop_map(|(owner, seats)| Step::HoldSeats { owner, seats }),
        1 => (0..OWNERS, 0u32..6, prop::option::of(0u32..3))
            .prop_map(|(owner, quantity, section)| Step::HoldBest { owner, quantity, section }),
        1 => (0..OWNERS, prop_oneof![5 => Just(0u32), 1 => Just(1u32)], 0u32..7)
            .prop_map(|(owner, pool, quantity)| Step::HoldPool { owner, pool, quantity }),
    ]
}

fn token_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        2 => (any::<Index>(), token_owner(), tamper())
            .prop_map(|(hold, owner, tamper)| Step::Extend { hold, owner, tamper }),
        2 => (any::<Index>(), token_owner(), tamper())
            .prop_map(|(hold, owner, tamper)| Step::Release { hold, owner, tamper }),
        1 => (any::<Index>(), token_owner(), tamper())
            .prop_map(|(hold, owner, tamper)| Step::Verify { hold, owner, tamper }),
        // Few orders and payments, so that replays, changed payments and
        // second holds sold to one order are common.
        // Two payer keys (and none), so that the per-payment cap is reached.
        3 => (any::<Index>(), token_owner(), tamper(), 0u8..3, prop_oneof![4 => Just(0u8), 1 => Just(1u8)], 0u8..3)
            .prop_map(|(hold, owner, tamper, order, payment, payer)| {
                Step::Sell { hold, owner, tamper, order, payment, payer }
            }),
    ]
}

impl ReferenceStateMachine for RefState {
    type State = RefState;
    type Transition = Step;

    fn init_state() -> BoxedStrategy<RefState> {
        Just(RefState::default()).boxed()
    }

    fn transitions(_: &RefState) -> BoxedStrategy<Step> {
        prop_oneof![
            5 => hold_step(),
            7 => token_step(),
            // Refunds often enough that owners who bought up to the ticket
            // cap get some back and hold again near it.
            2 => (any::<Index>(), prop::option::of(0u32..SEATS)).prop_map(|(sale, part)| Step::Refund { sale, part }),
            1 => seat_list().prop_map(|seats| Step::Block { seats }),
            1 => seat_list().prop_map(|seats| Step::Unblock { seats }),
            2 => prop_oneof![Just(1i64), Just(30_000), Just(TTL_MS - 1), Just(TTL_MS), Just(100_000)]
                .prop_map(|ms| Step::Advance { ms }),
            1 => prop_oneof![3 => 1usize..4, 1 => Just(1_000usize)].prop_map(|limit| Step::Sweep { limit }),
            2 => prop::collection::vec(prop_oneof![hold_step(), token_step()], 2..5).prop_map(Step::Concurrent),
        ]
        .boxed()
    }

    fn apply(mut s: RefState, _: &Step) -> RefState {
        s.steps += 1;
        s
    }
}
