//! The Redis backend on a Redis Cluster: the shared conformance suite and
//! the model-based state-machine test of `booking-core` against
//! `RedisInventory::cluster_builder`, shows spread over every master, the
//! scripts reloaded on every master after a flush, a show's slot moved to
//! another master mid-run (its hold, sale and change feed go on), and the
//! seat lock on the cluster (alone, and in front of the inventory in a
//! race).
//!
//! The cluster is the one named by `REDIS_CLUSTER_URLS` (comma-separated
//! seed node URLs; `scripts/test.sh` starts a throwaway 3-master cluster
//! and sets it). When it is unset, this test binary starts a throwaway
//! 3-master cluster of its own from the installed `redis-server` (see
//! `common::cluster_urls`), so a plain `cargo test` runs these tests too.
//! Each test works under its own random key prefix.

mod common;

use booking_core::layered::SeatLock;
use booking_core::{InventoryError, SeatId, ShowId};
use booking_redis::{RedisInventory, RedisSeatLock, StoreError};

/// Seeds are checked when the builder is made; a cluster that cannot be
/// reached is `Unavailable`. Needs no cluster.
#[tokio::test]
async fn cluster_seeds_are_checked_and_an_unreachable_cluster_is_unavailable() {
    let no_seed: [&str; 0] = [];
    assert!(matches!(RedisInventory::cluster_builder(no_seed), Err(InventoryError::InvalidRequest(_))));
    assert!(matches!(RedisInventory::cluster_builder(["nonsense://x"]), Err(InventoryError::InvalidRequest(_))));
    assert!(matches!(RedisSeatLock::cluster_builder(no_seed), Err(InventoryError::InvalidRequest(_))));

    // Port 1 on the loopback refuses connections.
    let built = RedisInventory::cluster_builder(["redis://127.0.0.1:1"])
        .expect("seed")
        .connection_timeout(std::time::Duration::from_millis(200))
        .build()
        .await;
    assert!(matches!(built, Err(InventoryError::Unavailable(_))), "{built:?}");

    // The lock connects in the background: it builds, and fails fast.
    let lock = RedisSeatLock::cluster_builder(["redis://127.0.0.1:1"]).expect("seed").build().await.expect("lock");
    let started = std::time::Instant::now();
    let taken = lock.try_lock(ShowId::new(), &[SeatId(1)], std::time::Duration::from_secs(1)).await;
    assert!(matches!(taken, Err(InventoryError::Unavailable(_) | InventoryError::OutcomeUnknown(_))), "{taken:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(2), "took {:?}", started.elapsed());
}

/// Every master is checked for an eviction policy: one master that may
/// evict keys is enough to refuse the inventory, naming that master. On a
/// cluster of its own, so that changing a master's policy disturbs no other
/// test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_with_a_master_that_may_evict_keys_is_refused() {
    let urls = tokio::task::spawn_blocking(common::start_cluster).await.expect("cluster");
    let build = || async { RedisInventory::cluster_builder(urls.clone()).expect("seeds").build().await };
    build().await.expect("every master has noeviction");
    let last = urls.last().expect("a node").clone();
    let set = |policy: &'static str| {
        let last = last.clone();
        async move {
            let mut c =
                redis::Client::open(last.as_str()).expect("node").get_multiplexed_async_connection().await.expect("c");
            let _: () = redis::cmd("CONFIG")
                .arg("SET")
                .arg("maxmemory-policy")
                .arg(policy)
                .query_async(&mut c)
                .await
                .expect("CONFIG SET");
        }
    };
    set("volatile-lru").await;
    let built = build().await;
    match built.as_ref().err().and_then(StoreError::of) {
        Some(StoreError::EvictionPolicy { node, policy }) => {
            assert_eq!(policy, "volatile-lru");
            assert!(last.ends_with(node.as_str()), "{node} is not {last}");
        }
        other => panic!("expected EvictionPolicy, got {other:?} from {built:?}"),
    }
    set("noeviction").await;
    build().await.expect("noeviction again");
}

mod on_cluster {
    use crate::common::{cluster_fixture, cluster_inventory, cluster_urls, test_prefix};
    use booking_core::layered::{LockOutcome, LockedInventory, SeatLock};
    use booking_core::testkit::{Fixture, StateMachine, StateMachineBackend, create, hold, ids, sell_req, test_policy};
    use booking_core::{ChangeKind, ManualClock, OrderId, OwnerId, SeatInventory, ShowId};
    use booking_redis::{RedisInventory, RedisSeatLock, key_slot};
    use futures_util::StreamExt;
    use std::collections::{BTreeSet, HashMap};
    use std::time::Duration;

    booking_core::conformance_suite!(cluster_fixture);

    struct RedisCluster;

    impl StateMachineBackend for RedisCluster {
        async fn fixture() -> Fixture {
            cluster_fixture().await.into_dyn()
        }
    }

    proptest_state_machine::prop_state_machine! {
        #![proptest_config(booking_core::testkit::config(32))]
        #[test]
        fn state_machine_matches_the_model(sequential 1..60 => StateMachine<RedisCluster>);
    }

    /// The cluster's masters: address (`host:port`) -> the slot ranges it
    /// serves, from `CLUSTER NODES`.
    async fn masters() -> HashMap<String, Vec<(u16, u16)>> {
        let seed = &cluster_urls()[0];
        let mut c =
            redis::Client::open(seed.as_str()).expect("seed").get_multiplexed_async_connection().await.expect("c");
        let text: String = redis::cmd("CLUSTER").arg("NODES").query_async(&mut c).await.expect("cluster nodes");
        let mut out = HashMap::new();
        for line in text.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 8 || !f[2].split(',').any(|flag| flag == "master") {
                continue;
            }
            let addr = f[1].split('@').next().expect("addr").to_owned();
            let ranges = f[8..]
                .iter()
                .filter(|r| !r.starts_with('['))
                .map(|r| {
                    let (a, b) = r.split_once('-').unwrap_or((r, r));
                    (a.parse().expect("slot"), b.parse().expect("slot"))
                })
                .collect();
            out.insert(addr, ranges);
        }
        assert!(!out.is_empty(), "no master in CLUSTER NODES:\n{text}");
        out
    }

    fn owner_of(masters: &HashMap<String, Vec<(u16, u16)>>, slot: u16) -> String {
        masters
            .iter()
            .find(|(_, ranges)| ranges.iter().any(|&(a, b)| (a..=b).contains(&slot)))
            .map(|(addr, _)| addr.clone())
            .unwrap_or_else(|| panic!("no master serves slot {slot}"))
    }

    async fn node(addr: &str) -> redis::aio::MultiplexedConnection {
        redis::Client::open(format!("redis://{addr}"))
            .expect("node")
            .get_multiplexed_async_connection()
            .await
            .expect("connect to node")
    }

    /// Creates shows until every master owns at least one; returns each
    /// show with its master.
    async fn shows_on_every_master(inv: &RedisInventory) -> Vec<(ShowId, String)> {
        let masters = masters().await;
        let mut shows = Vec::new();
        let mut seen = BTreeSet::new();
        // 3 masters, 64 random shows: all are hit but with odds of ~1e-11.
        for _ in 0..64 {
            let spec = create(inv, 1, 1, 6, 2, test_policy()).await;
            let master = owner_of(&masters, key_slot(inv.keys(spec.id).meta.as_bytes()));
            seen.insert(master.clone());
            shows.push((spec.id, master));
            if seen.len() == masters.len() {
                break;
            }
        }
        assert_eq!(seen.len(), masters.len(), "shows landed on {seen:?} only, of {:?}", masters.keys());
        assert!(seen.len() > 1, "a cluster of one master proves nothing: {seen:?}");
        shows
    }

    /// Shows land on different masters by their hash tag; every key of a
    /// show is on the master that owns the show's slot (asked directly, not
    /// through the cluster client), and the server's slot is the one
    /// `key_slot` computes. Each show is held and sold there.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn shows_spread_over_masters_and_stay_on_one() {
        let clock = ManualClock::fixed();
        let inv = cluster_inventory(&clock).await;
        assert!(inv.is_cluster());
        for (show, master) in shows_on_every_master(&inv).await {
            let h = hold(&inv, show, OwnerId::new(), &[1, 2]).await;
            inv.sell(&sell_req(&h, OrderId::new())).await.expect("sell");
            let keys = inv.keys(show);
            let mut c = node(&master).await;
            let slot: u16 =
                redis::cmd("CLUSTER").arg("KEYSLOT").arg(&keys.meta).query_async(&mut c).await.expect("keyslot");
            assert_eq!(slot, key_slot(keys.meta.as_bytes()));
            for key in [&keys.meta, &keys.seats, &keys.pools, &keys.orders, &keys.feed] {
                let n: i64 = redis::cmd("EXISTS").arg(key).query_async(&mut c).await.expect("exists");
                assert_eq!(n, 1, "{key} is on {master}");
            }
            assert_eq!(inv.snapshot(show).await.expect("snapshot").totals().sold, 2);
        }
    }

    /// After `SCRIPT FLUSH` on every master (as after restarts), EVALSHA
    /// answers NOSCRIPT; the client loads the script (on every master) and
    /// runs it again, on whichever master the show lives.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn scripts_are_reloaded_on_every_master() {
        let clock = ManualClock::fixed();
        let inv = cluster_inventory(&clock).await;
        let shows = shows_on_every_master(&inv).await;
        for master in masters().await.keys() {
            let _: () = redis::cmd("SCRIPT").arg("FLUSH").query_async(&mut node(master).await).await.expect("flush");
        }
        for (show, _) in &shows {
            hold(&inv, *show, OwnerId::new(), &[0]).await;
        }
        let sha = redis::Script::new(booking_redis::scripts::HOLD).get_hash().to_owned();
        for master in masters().await.keys() {
            let exists: Vec<bool> =
                redis::cmd("SCRIPT").arg("EXISTS").arg(&sha).query_async(&mut node(master).await).await.expect("x");
            assert_eq!(exists, vec![true], "the hold script is loaded on {master}");
        }
    }

    /// Moves `slot` from master `from` to master `to`, keys and all, as a
    /// resharding does, and tells every master.
    async fn move_slot(slot: u16, from: &str, to: &str, all: &[String]) {
        let id = |addr: String| async move {
            let id: String = redis::cmd("CLUSTER").arg("MYID").query_async(&mut node(&addr).await).await.expect("myid");
            id
        };
        let (from_id, to_id) = (id(from.to_owned()).await, id(to.to_owned()).await);
        let (mut src, mut dst) = (node(from).await, node(to).await);
        let set = |state: &'static str, id: String| {
            let mut c = redis::cmd("CLUSTER");
            c.arg("SETSLOT").arg(slot).arg(state).arg(id);
            c
        };
        let _: () = set("IMPORTING", from_id).query_async(&mut dst).await.expect("importing");
        let _: () = set("MIGRATING", to_id.clone()).query_async(&mut src).await.expect("migrating");
        let (host, port) = to.split_once(':').expect("host:port");
        loop {
            let keys: Vec<String> = redis::cmd("CLUSTER")
                .arg("GETKEYSINSLOT")
                .arg(slot)
                .arg(100)
                .query_async(&mut src)
                .await
                .expect("keys in slot");
            if keys.is_empty() {
                break;
            }
            let _: () = redis::cmd("MIGRATE")
                .arg(host)
                .arg(port)
                .arg("")
                .arg(0)
                .arg(5000)
                .arg("KEYS")
                .arg(&keys)
                .query_async(&mut src)
                .await
                .expect("migrate");
        }
        // The new owner first, then the old one, then the rest.
        let mut order = vec![to.to_owned(), from.to_owned()];
        order.extend(all.iter().filter(|a| *a != to && *a != from).cloned());
        for addr in order {
            let _: () = set("NODE", to_id.clone()).query_async(&mut node(&addr).await).await.expect("setslot node");
        }
    }

    /// A show whose slot moves to another master mid-run (resharding)
    /// keeps working through the same inventory: its next request is
    /// answered `MOVED`, the client refreshes its slot map and the request
    /// is sent again to the new owner. A hold taken before the move is sold
    /// after it, and the show's keys are on the new master.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_show_moved_to_another_master_keeps_working() {
        let clock = ManualClock::fixed();
        let inv = cluster_inventory(&clock).await;
        let spec = create(&inv, 1, 1, 6, 2, test_policy()).await;
        let mut feed = inv.subscribe(spec.id).await.expect("subscribe");
        let held = hold(&inv, spec.id, OwnerId::new(), &[1]).await;

        let masters = masters().await;
        let slot = key_slot(inv.keys(spec.id).meta.as_bytes());
        let from = owner_of(&masters, slot);
        let all: Vec<String> = masters.keys().cloned().collect();
        let to = all.iter().find(|m| **m != from).expect("another master").clone();
        move_slot(slot, &from, &to, &all).await;

        inv.sell(&sell_req(&held, OrderId::new())).await.expect("sell after the move");
        hold(&inv, spec.id, OwnerId::new(), &[2]).await;
        let totals = inv.snapshot(spec.id).await.expect("snapshot").totals();
        assert_eq!((totals.sold, totals.held), (1, 1));
        let n: i64 =
            redis::cmd("EXISTS").arg(&inv.keys(spec.id).meta).query_async(&mut node(&to).await).await.expect("exists");
        assert_eq!(n, 1, "the show now lives on {to}");

        // The subscriber from before the move reads on: its XREAD is
        // routed by the stream's key, and follows the show as well.
        let mut kinds = Vec::new();
        for _ in 0..3 {
            kinds.push(feed.next().await.expect("an event").expect("a change").kind);
        }
        assert_eq!(kinds, [ChangeKind::Held, ChangeKind::Sold, ChangeKind::Held]);
    }

    /// An inventory on the cluster reading `clock`, and a seat lock on the
    /// cluster, under one fresh key prefix.
    async fn inventory_and_lock(clock: &ManualClock) -> (RedisInventory, RedisSeatLock) {
        let prefix = test_prefix();
        let inv = RedisInventory::cluster_builder(cluster_urls())
            .expect("urls")
            .prefix(prefix.clone())
            .clock(clock.shared())
            .build()
            .await
            .expect("inventory");
        let lock =
            RedisSeatLock::cluster_builder(cluster_urls()).expect("urls").prefix(prefix).build().await.expect("lock");
        (inv, lock)
    }

    /// The seat lock on the cluster: all or none, busy seats reported, a
    /// lock released only by its token, each show's locks on its master.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn seat_locks_work_on_the_cluster() {
        let clock = ManualClock::fixed();
        let (inv, lock) = inventory_and_lock(&clock).await;
        let ttl = Duration::from_secs(30);
        for (show, master) in shows_on_every_master(&inv).await {
            let LockOutcome::Locked(token) = lock.try_lock(show, &ids(&[1, 2, 3]), ttl).await.expect("lock") else {
                panic!("free seats were busy")
            };
            let busy = lock.try_lock(show, &ids(&[2, 3, 4]), ttl).await.expect("lock");
            assert!(matches!(&busy, LockOutcome::Busy(s) if *s == ids(&[2, 3])), "{busy:?}");

            let mut c = node(&master).await;
            let key = inv.keys(show).seat_lock(ids(&[4])[0]);
            let n: i64 = redis::cmd("EXISTS").arg(&key).query_async(&mut c).await.expect("exists");
            assert_eq!(n, 0, "a refused lock takes nothing");
            let key = inv.keys(show).seat_lock(ids(&[2])[0]);
            let pttl: i64 = redis::cmd("PTTL").arg(&key).query_async(&mut c).await.expect("pttl");
            assert!(pttl > 0 && pttl <= 30_000, "the lock is on {master}, with its TTL: {pttl}");

            // Another locker's token unlocks nothing; the owner's does.
            lock.unlock(show, &ids(&[1, 2, 3]), &booking_core::layered::LockToken(7)).await.expect("unlock");
            assert!(matches!(lock.try_lock(show, &ids(&[3]), ttl).await.expect("lock"), LockOutcome::Busy(_)));
            lock.unlock(show, &ids(&[1, 2, 3]), &token).await.expect("unlock");
            assert!(matches!(lock.try_lock(show, &ids(&[2, 3, 4]), ttl).await.expect("lock"), LockOutcome::Locked(_)));
        }
    }

    /// The seat lock on the cluster in front of the inventory on the
    /// cluster: the shared race of 64 tasks for 10 seats sells each seat
    /// exactly once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn locked_inventory_on_the_cluster_sells_each_seat_once() {
        let clock = ManualClock::fixed();
        let (inner, lock) = inventory_and_lock(&clock).await;
        let fixture = Fixture::new(LockedInventory::new(lock, inner, Duration::from_secs(2)), clock);
        booking_core::testkit::race_many_tasks_few_seats(&fixture).await;
    }
}
