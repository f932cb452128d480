//! The waiting room's conformance suite: what every [`WaitingRoomStore`]
//! backend must do, run through the [`WaitingRoom`] service as an
//! application would, with adversarial cases first.
//!
//! Each behaviour is a `pub async fn` taking an [`AdmissionFixture`]: a
//! store, the inventory whose change feed drives the inlet, and the
//! [`ManualClock`] both read. Behaviours create their own rooms (fresh
//! ids), so one store may serve many tests at once.
//!
//! ```ignore
//! // tests/admission.rs of a backend crate
//! async fn fixture() -> booking_core::testkit::admission::AdmissionFixture<MyRooms> {
//!     let clock = booking_core::ManualClock::fixed();
//!     let inventory = std::sync::Arc::new(MyInventory::with_clock(clock.shared()));
//!     AdmissionFixture::new(MyRooms::with_clock(clock.shared()), inventory, clock)
//! }
//! booking_core::admission_suite!(fixture);
//! ```

use crate::admission::{
    AdmissionError, AdmissionToken, Claims, Join, KeyId, Keyring, LateOrder, Mode, RoomConfig, RoomId, Seed,
    SessionDigest, SessionId, TokenError, VisitorId, VisitorState, WaitingRoom, WaitingRoomStore, audit_draw,
    draw_order, replay,
};
use crate::clock::{Clock, ManualClock};
use crate::ids::{OrderId, OwnerId};
use crate::inventory::SeatInventory;
use crate::testkit::{action, create, hold, sell_req, test_policy};
use chrono::{DateTime, Duration, Utc};
use std::collections::HashSet;
use std::sync::Arc;

/// A waiting-room store, an inventory and the clock both read.
pub struct AdmissionFixture<S: ?Sized = dyn WaitingRoomStore> {
    /// The store under test.
    pub store: Arc<S>,
    /// An inventory for the inlet's behaviour.
    pub inventory: Arc<dyn SeatInventory>,
    /// The clock the store (and the inventory) read; tests move it.
    pub clock: ManualClock,
}

impl<S: WaitingRoomStore + 'static> AdmissionFixture<S> {
    /// A fixture over `store` and `inventory`, which must read `clock`.
    pub fn new(store: S, inventory: Arc<dyn SeatInventory>, clock: ManualClock) -> Self {
        AdmissionFixture { store: Arc::new(store), inventory, clock }
    }
}

impl<S: WaitingRoomStore + ?Sized> AdmissionFixture<S> {
    /// The service over the fixture's store, on its clock, signing with
    /// [`test_keyring`].
    pub fn rooms(&self) -> WaitingRoom<S> {
        WaitingRoom::new(self.store.clone(), self.clock.shared(), test_keyring())
    }
}

/// The key ring the suite signs with.
pub fn test_keyring() -> Keyring {
    match Keyring::new("test-1", b"a test signing key of 32 bytes!!") {
        Ok(ring) => ring,
        Err(e) => panic!("test key ring: {e}"),
    }
}

/// A session id of its own.
pub fn session(name: &str) -> SessionId {
    SessionId::new(format!("{name}-{}", uuid::Uuid::now_v7().simple()))
}

/// A queueing room opening at `opens_at`, `per_minute` a minute, at most
/// `max_active` active, 5-minute sessions.
pub fn room_config(opens_at: DateTime<Utc>, per_minute: u64, max_active: u64) -> RoomConfig {
    RoomConfig {
        session_ttl: std::time::Duration::from_secs(300),
        ..RoomConfig::new(RoomId::new(), opens_at, per_minute, max_active)
    }
}

/// Creates the room, expecting success.
pub async fn open_room<S: WaitingRoomStore + ?Sized>(rooms: &WaitingRoom<S>, config: RoomConfig) -> RoomId {
    rooms.create_room(&config).await.unwrap_or_else(|e| panic!("create_room: {e}"));
    config.id
}

/// Joins `n` fresh sessions one after the other; returns them in arrival
/// order with their visitor ids.
pub async fn join_many<S: WaitingRoomStore + ?Sized>(
    rooms: &WaitingRoom<S>,
    room: RoomId,
    n: usize,
) -> Vec<(SessionId, VisitorId)> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let s = session(&format!("v{i}"));
        let status = rooms.join(room, &s).await.unwrap_or_else(|e| panic!("join {i}: {e}"));
        out.push((s, status.visitor.id));
    }
    out
}

/// The position of a waiting visitor (panics otherwise).
pub async fn position<S: WaitingRoomStore + ?Sized>(store: &S, room: RoomId, session: &SessionId) -> u64 {
    match store.visitor(room, session).await.expect("visitor").state {
        VisitorState::Waiting { position } => position,
        other => panic!("expected a waiting visitor, got {other:?}"),
    }
}

/// How many draws the uniformity test makes.
pub const DRAWS: usize = 10_000;
/// How many visitors the uniformity test shuffles.
pub const SHUFFLED: usize = 8;
/// The chi-square critical value for (8 - 1)^2 = 49 degrees of freedom at
/// a significance of 0.001 (tables: 85.351). A fair shuffle exceeds it
/// once in a thousand seed sets; the suite's seeds are fixed, so the test
/// is deterministic.
pub const CHI_SQUARE_CRITICAL: f64 = 85.351;

/// The seed of draw `i` of the uniformity test.
pub fn seed_of(i: usize) -> Seed {
    let mut s = [0xA5; 32];
    s[..8].copy_from_slice(&(i as u64).to_le_bytes());
    Seed(s)
}

/// Pearson's chi-square statistic of where each of `k` arrivals lands
/// over `draws` draws: `order_of(i)` is draw `i`'s order, as indices of
/// the arrivals (0 to k-1). The table is k arrivals x k places, each cell
/// expected `draws / k` times under a uniform shuffle; rows and columns
/// both sum to `draws`, so the statistic has (k-1)^2 degrees of freedom.
pub fn position_chi_square(k: usize, draws: usize, mut order_of: impl FnMut(usize) -> Vec<usize>) -> f64 {
    let mut table = vec![vec![0u64; k]; k];
    for i in 0..draws {
        for (place, arrival) in order_of(i).into_iter().enumerate() {
            table[arrival][place] += 1;
        }
    }
    let expected = draws as f64 / k as f64;
    table.iter().flatten().map(|&o| (o as f64 - expected).powi(2) / expected).sum()
}

// ------------------------------------------------------------ behaviours

mod behaviours;
pub use behaviours::*;

/// The one list of the waiting room suite's behaviours:
/// [`crate::admission_suite!`] runs each of them, and a test of this crate
/// checks that every behaviour defined here is on it.
#[doc(hidden)]
#[macro_export]
macro_rules! __admission_behaviours {
    ($mac:ident!($($args:tt)*)) => {
        $crate::$mac! { $($args)*
    admission_rooms_refuse_bad_settings,
    admission_draw_is_uniform_and_replays,
    admission_positions_follow_the_draw_then_arrivals,
    admission_joins_keep_one_place_per_session,
    admission_waves_respect_the_rate_and_the_cap,
    admission_inlet_follows_the_inventory,
    admission_tokens_refuse_forgery_expiry_revocation_and_other_sessions,
    admission_bad_requests_change_nothing,
    admission_races_keep_one_place_and_the_cap,
    admission_worker_and_cached_verifier,
        }
    };
}

/// Expands to one `#[tokio::test]` per behaviour of the waiting room
/// suite, each calling `$factory().await` for a fresh
/// [`AdmissionFixture`].
///
/// The calling crate needs `tokio` with the `macros` and `rt-multi-thread`
/// features among its dev-dependencies.
#[macro_export]
macro_rules! admission_suite {
    ($factory:path) => {
        $crate::__admission_behaviours!(admission_suite!(@each $factory;));
    };
    (@each $factory:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let fixture = $factory().await;
                $crate::testkit::admission::$name(&fixture).await;
            }
        )*
    };
    (@names $($name:ident),* $(,)?) => {
        &[$(stringify!($name)),*]
    };
}

/// Every behaviour of the waiting room suite, by name, as
/// [`crate::admission_suite!`] runs them.
pub const BEHAVIOURS: &[&str] = crate::__admission_behaviours!(admission_suite!(@names));

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `pub async fn` taking an `AdmissionFixture` in
    /// `testkit/admission/` is a behaviour, and every behaviour is on the
    /// list.
    #[test]
    fn every_admission_behaviour_is_on_the_list() {
        let sources = crate::testkit::sources_in(concat!(env!("CARGO_MANIFEST_DIR"), "/src/testkit/admission"));
        let sources = sources.iter().map(String::as_str);
        crate::testkit::assert_all_listed("admission", sources, "fx: &AdmissionFixture<S>", BEHAVIOURS);
    }

    fn arrivals() -> Vec<VisitorId> {
        (0..SHUFFLED as u128).map(|i| VisitorId(uuid::Uuid::from_u128(i))).collect()
    }

    /// The draw passes the uniformity test, and the test fails shuffles
    /// that are not uniform: none at all, and the classic biased "swap
    /// each place with any place" shuffle. (It tests where each arrival
    /// lands, not whole orders: a rotation by the draw's number would
    /// pass it. That every order is equally likely is Fisher-Yates' own
    /// argument, in docs/admission.md.)
    #[test]
    fn the_uniformity_test_can_fail() {
        use rand_chacha::rand_core::{Rng, SeedableRng};
        let a = arrivals();
        let index = |v: &VisitorId| v.0.as_u128() as usize;
        let fair = position_chi_square(SHUFFLED, DRAWS, |i| draw_order(&seed_of(i), &a).iter().map(index).collect());
        assert!(fair < CHI_SQUARE_CRITICAL, "{fair}");
        let none = position_chi_square(SHUFFLED, DRAWS, |_| (0..SHUFFLED).collect());
        assert!(none > CHI_SQUARE_CRITICAL, "{none}");
        let naive = position_chi_square(SHUFFLED, DRAWS, |i| {
            let mut rng = rand_chacha::ChaCha20Rng::from_seed(seed_of(i).0);
            let mut order: Vec<usize> = (0..SHUFFLED).collect();
            for p in 0..SHUFFLED {
                order.swap(p, (rng.next_u64() % SHUFFLED as u64) as usize);
            }
            order
        });
        assert!(naive > CHI_SQUARE_CRITICAL, "the naive shuffle's bias goes unseen: {naive}");
    }
}
