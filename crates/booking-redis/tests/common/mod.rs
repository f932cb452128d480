//! Shared test setup: a fresh inventory under a random key prefix, on the
//! server at `REDIS_URL` (default `redis://127.0.0.1:6379`).

#![allow(dead_code)]

use booking_core::Coalescing;
use booking_core::ManualClock;
use booking_core::TimeSource;
use booking_core::testkit::Fixture;
use booking_redis::RedisInventory;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// The server the tests use.
pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A key prefix no other test uses.
pub fn test_prefix() -> String {
    format!("booking-test:{}:", uuid::Uuid::now_v7().simple())
}

/// An inventory with its own key prefix, deciding expiry by `clock`,
/// sending every request as its own script (coalescing off: the coalesced
/// fixtures test the batches).
pub async fn inventory(clock: &ManualClock) -> RedisInventory {
    RedisInventory::builder(&redis_url())
        .expect("REDIS_URL")
        .prefix(test_prefix())
        .time_source(TimeSource::Injected(clock.shared()))
        .without_coalescing()
        .build()
        .await
        .unwrap_or_else(|e| panic!("cannot reach Redis at {}: {e}", redis_url()))
}

/// A conformance fixture: a fresh inventory and the manual clock it reads.
pub async fn fixture() -> Fixture<RedisInventory> {
    let clock = ManualClock::fixed();
    Fixture::new(inventory(&clock).await, clock)
}

/// An inventory with its own key prefix, deciding expiry by `clock`, with
/// request coalescing on.
pub async fn coalesced_inventory(clock: &ManualClock, max_batch: usize, max_in_flight: usize) -> RedisInventory {
    RedisInventory::builder(&redis_url())
        .expect("REDIS_URL")
        .prefix(test_prefix())
        .time_source(TimeSource::Injected(clock.shared()))
        .coalesce(Coalescing { max_batch, max_in_flight })
        .build()
        .await
        .unwrap_or_else(|e| panic!("cannot reach Redis at {}: {e}", redis_url()))
}

/// A conformance fixture with request coalescing on.
pub async fn fixture_coalesced() -> Fixture<RedisInventory> {
    let clock = ManualClock::fixed();
    Fixture::new(coalesced_inventory(&clock, 64, 2).await, clock)
}

/// The seed node URLs of the Redis Cluster the cluster tests use:
/// `REDIS_CLUSTER_URLS` (comma-separated) when set, as `scripts/test.sh`
/// does after starting a throwaway cluster; otherwise a 3-master cluster
/// this test binary starts once, on free ports, and that stops when the
/// binary exits.
pub fn cluster_urls() -> Vec<String> {
    static URLS: OnceLock<Vec<String>> = OnceLock::new();
    URLS.get_or_init(|| {
        let given = std::env::var("REDIS_CLUSTER_URLS").unwrap_or_default();
        let given: Vec<String> = given.split(',').map(str::trim).filter(|u| !u.is_empty()).map(str::to_owned).collect();
        if given.is_empty() { start_cluster() } else { given }
    })
    .clone()
}

/// Handles to the shells that run the nodes of the cluster started here:
/// each waits on its stdin and stops its node when the pipe closes, which
/// the OS does when this process exits, however it exits.
static NODES: Mutex<Vec<Child>> = Mutex::new(Vec::new());

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port()
}

fn redis_cli(args: &[&str]) -> Option<String> {
    let out = Command::new("redis-cli").args(args).stderr(Stdio::null()).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Starts a throwaway 3-master Redis Cluster (no replicas, nothing
/// persisted) as `scripts/test.sh` does, and waits until every node sees
/// every slot served.
pub fn start_cluster() -> Vec<String> {
    let dir = std::env::temp_dir().join(format!("booking-redis-cluster-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).expect("cluster directory");
    let dir = dir.display().to_string();
    let mut nodes = NODES.lock().unwrap_or_else(|e| e.into_inner());
    let mut ports = Vec::new();
    for _ in 0..3 {
        let (port, bus) = (free_port(), free_port());
        let script = format!(
            "redis-server --port {port} --cluster-port {bus} --bind 127.0.0.1 --cluster-enabled yes \
             --cluster-config-file {dir}/nodes-{port}.conf --cluster-node-timeout 5000 --dir {dir} \
             --logfile {dir}/redis-{port}.log --save '' --appendonly no & pid=$!; \
             read line; kill $pid; wait $pid; rm -f {dir}/nodes-{port}.conf {dir}/redis-{port}.log; \
             rmdir {dir} 2>/dev/null"
        );
        let child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "REDIS_CLUSTER_URLS is unset, so the cluster tests start a cluster of their own: install redis-server",
            );
        nodes.push(child);
        ports.push(port.to_string());
    }
    let addrs: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    for port in &ports {
        let up = (0..100).any(|_| {
            let pong = redis_cli(&["-p", port, "ping"]).is_some_and(|r| r.trim() == "PONG");
            if !pong {
                std::thread::sleep(Duration::from_millis(50));
            }
            pong
        });
        assert!(up, "redis-server on port {port} did not start (log in {dir})");
    }
    let mut create = vec!["--cluster", "create"];
    create.extend(addrs.iter().map(String::as_str));
    create.extend(["--cluster-replicas", "0", "--cluster-yes"]);
    assert!(redis_cli(&create).is_some(), "redis-cli --cluster create {addrs:?} failed (logs in {dir})");
    let ready = (0..150).any(|_| {
        let ok = ports
            .iter()
            .all(|p| redis_cli(&["-p", p, "cluster", "info"]).is_some_and(|i| i.contains("cluster_state:ok")));
        if !ok {
            std::thread::sleep(Duration::from_millis(200));
        }
        ok
    });
    assert!(ready, "the Redis Cluster on {addrs:?} is not ready after 30 s (logs in {dir})");
    eprintln!("REDIS_CLUSTER_URLS unset: started a throwaway Redis Cluster on {addrs:?}");
    addrs.iter().map(|a| format!("redis://{a}")).collect()
}

/// An inventory on the Redis Cluster, with its own key prefix, deciding
/// expiry by `clock`.
pub async fn cluster_inventory(clock: &ManualClock) -> RedisInventory {
    RedisInventory::cluster_builder(cluster_urls())
        .expect("REDIS_CLUSTER_URLS")
        .prefix(test_prefix())
        .time_source(TimeSource::Injected(clock.shared()))
        .build()
        .await
        .unwrap_or_else(|e| panic!("cannot reach the Redis Cluster at {:?}: {e}", cluster_urls()))
}

/// A conformance fixture on the Redis Cluster.
pub async fn cluster_fixture() -> Fixture<RedisInventory> {
    let clock = ManualClock::fixed();
    Fixture::new(cluster_inventory(&clock).await, clock)
}
