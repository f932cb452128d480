//! Work on the Redis thread stays bounded: best-available picks from the
//! free-seat index inside one script (no read of the whole seat hash, and
//! exactly `booking_core::best::pick_best`'s answer), and a pool hold does
//! not scan every expired pool hold of the show.

mod common;

use booking_core::best::{PickRequest, pick_best};
use booking_core::layout::{RowSpec, SeatSpec, SectionSpec};
use booking_core::testkit::{create, ids, test_policy};
use booking_core::{
    HoldBest, HoldPolicy, HoldPool, HoldSeats, InventoryError, ManualClock, OwnerId, PoolId, PriceCategory,
    SeatInventory, SeatStatus, SectionId, ShowSpec, VenueLayout,
};
use booking_redis::RedisInventory;
use chrono::Duration;
use common::{inventory, redis_url};
use std::time::Duration as StdDuration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn random_layout(rng: &mut Rng) -> VenueLayout {
    let sections = (0..1 + rng.below(3))
        .map(|s| SectionSpec {
            name: format!("s{s}"),
            rows: (0..1 + rng.below(4))
                .map(|r| RowSpec {
                    name: format!("r{r}"),
                    seats: (0..1 + rng.below(9))
                        .map(|i| SeatSpec {
                            label: format!("{i}"),
                            x: i as i32,
                            y: r as i32,
                            category: PriceCategory(1 + rng.below(2) as u16),
                        })
                        .collect(),
                })
                .collect(),
        })
        .collect();
    VenueLayout { sections }
}

/// On random layouts and random states (holds live and expired, sales,
/// blocked seats, the clock moved forward and back), every best-available
/// hold takes exactly the seats `pick_best` picks from a snapshot taken
/// just before, or fails with `NoSeatsAvailable` when it picks none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn best_available_picks_exactly_as_pick_best() {
    let clock = ManualClock::fixed();
    let inv = inventory(&clock).await;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut picks = 0;
    for _ in 0..60 {
        let layout = random_layout(&mut rng);
        let spec = ShowSpec::new("exact", layout).with_policy(HoldPolicy { max_held_per_owner: None, ..test_policy() });
        inv.create_show(&spec).await.expect("create");
        let show = spec.id;
        let n = spec.layout.seat_count() as u64;
        let rows = spec.layout.rows();
        let categories: Vec<PriceCategory> = spec.layout.seats().iter().map(|s| s.category).collect();
        for _ in 0..12 {
            match rng.below(6) {
                0 | 1 => {
                    let seat = rng.below(n) as u32;
                    let _ = inv.hold_seats(&HoldSeats { show, owner: OwnerId::new(), seats: ids(&[seat]) }).await;
                }
                2 => {
                    let seat = rng.below(n) as u32;
                    if let Ok(h) = inv.hold_seats(&HoldSeats { show, owner: OwnerId::new(), seats: ids(&[seat]) }).await
                    {
                        inv.sell(&booking_core::testkit::sell_req(&h, booking_core::OrderId::new()))
                            .await
                            .expect("sell");
                    }
                }
                3 => {
                    let _ = inv.block(show, &ids(&[rng.below(n) as u32])).await;
                }
                4 => clock.advance(Duration::milliseconds([-200_000, -1, 1, 200_000, 480_000][rng.below(5) as usize])),
                _ => {}
            }
            let quantity = 1 + rng.below(4) as u32;
            let section = (rng.below(3) == 0).then(|| SectionId(rng.below(3) as u32));
            let category = (rng.below(3) == 0).then(|| PriceCategory(1 + rng.below(2) as u16));
            let snap = inv.snapshot(show).await.expect("snapshot");
            let expected = pick_best(
                &rows,
                &PickRequest { quantity, section, category },
                |s| categories[s.0 as usize],
                |s| snap.seats[s.0 as usize].status == SeatStatus::Available,
            );
            let got = inv.hold_best(&HoldBest { show, owner: OwnerId::new(), quantity, section, category }).await;
            match (&expected, &got) {
                (Some(seats), Ok(h)) => {
                    assert_eq!(h.token.items, booking_core::HoldItems::Seats(seats.clone()));
                    picks += 1;
                }
                (None, Err(InventoryError::NoSeatsAvailable { .. })) => {}
                _ => panic!("pick_best says {expected:?}, hold_best {got:?} on {snap:?}"),
            }
        }
    }
    assert!(picks > 100, "only {picks} picks");
}

/// Every command that scripts with our prefix run while `action` runs,
/// watched with MONITOR: each as its arguments.
async fn script_commands<F: std::future::Future<Output = ()>>(prefix: &str, action: F) -> Vec<Vec<String>> {
    let url = redis_url();
    let addr = url.trim_start_matches("redis://").split('/').next().expect("addr").to_owned();
    let mut monitor = BufReader::new(TcpStream::connect(&addr).await.expect("connect for MONITOR"));
    monitor.get_mut().write_all(b"MONITOR\r\n").await.expect("MONITOR");
    let mut ok = String::new();
    monitor.read_line(&mut ok).await.expect("MONITOR reply");
    action.await;
    let marker = format!("{prefix}done");
    let mut c = redis::Client::open(url).expect("client").get_multiplexed_async_connection().await.expect("c");
    let _: String = redis::cmd("ECHO").arg(&marker).query_async(&mut c).await.expect("echo");
    let mut out = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        let read = tokio::time::timeout(StdDuration::from_secs(10), monitor.read_line(&mut line)).await;
        assert!(matches!(read, Ok(Ok(n)) if n > 0), "MONITOR ended before the marker");
        if line.contains(&marker) {
            break;
        }
        if line.contains(" lua] ") && line.contains(prefix) {
            let args: Vec<String> = line.split('"').skip(1).step_by(2).map(str::to_owned).collect();
            out.push(args);
        }
    }
    out
}

fn prefix_of(inv: &RedisInventory) -> String {
    let meta = inv.keys(booking_core::ShowId::from_u128(0)).meta;
    meta[..meta.find('{').expect("tag")].to_owned()
}

/// Best-available on a 50,000-seat show whose first 40,000 seats are
/// taken reads no seat hash in whole: its script runs a handful of
/// commands, each naming a handful of seats, and returns only its answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn best_available_does_bounded_work_on_a_big_show() {
    let clock = ManualClock::fixed();
    let inv = inventory(&clock).await;
    let spec = create(&inv, 10, 100, 50, 0, HoldPolicy { max_held_per_owner: Some(8), ..test_policy() }).await;
    let show = spec.id;
    let taken: Vec<u32> = (0..40_000).collect();
    inv.block(show, &ids(&taken)).await.expect("block");
    for s in (40_000..41_000).step_by(3) {
        inv.hold_seats(&HoldSeats { show, owner: OwnerId::new(), seats: ids(&[s]) }).await.expect("hold");
    }
    clock.advance(Duration::minutes(30));
    let prefix = prefix_of(&inv);
    let best = HoldBest { show, owner: OwnerId::new(), quantity: 4, section: None, category: None };
    let mut held = None;
    let first = script_commands(&prefix, async { held = Some(inv.hold_best(&best).await.expect("best")) }).await;
    let held = held.expect("held");
    assert_eq!(held.token.items.count(), 4);
    let mut again = None;
    let commands = script_commands(&prefix, async { again = Some(inv.hold_best(&best).await.expect("best")) }).await;
    let seats_key = inv.keys(show).seats;
    for cmd in first.iter().chain(&commands) {
        let name = cmd[0].to_ascii_uppercase();
        assert!(
            !(["HGETALL", "HKEYS", "HVALS", "HSCAN"].contains(&name.as_str()) && cmd.get(1) == Some(&seats_key)),
            "read the whole seat hash: {}",
            cmd[0]
        );
    }
    // The first call after the expiry flips the 334 expired holds' bits
    // once; the next one touches nothing but its own seats.
    let widest = commands.iter().map(Vec::len).max().unwrap_or(0);
    assert!(commands.len() <= 16 && widest <= 24, "{} commands, the widest with {widest} arguments", commands.len());
}

/// A pool hold reads the pool's counters: the expired holds of another
/// pool (or of its own, once reclaimed) are not scanned again by every
/// hold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_hold_does_not_scan_every_expired_pool_hold() {
    let clock = ManualClock::fixed();
    let inv = inventory(&clock).await;
    let spec = ShowSpec::new("pools", VenueLayout::grid(1, 1, 4, PriceCategory(1)))
        .with_pool("a", 10, PriceCategory(2))
        .with_pool("b", 1_000, PriceCategory(2))
        .with_policy(HoldPolicy { max_held_per_owner: None, ..test_policy() });
    inv.create_show(&spec).await.expect("create");
    let show = spec.id;
    for _ in 0..300 {
        inv.hold_pool(&HoldPool { show, owner: OwnerId::new(), pool: PoolId(1), quantity: 1 }).await.expect("hold b");
    }
    clock.advance(Duration::hours(1));
    let hold_a =
        || async { inv.hold_pool(&HoldPool { show, owner: OwnerId::new(), pool: PoolId(0), quantity: 1 }).await };
    hold_a().await.expect("the first hold after the expiry counts them once");
    let prefix = prefix_of(&inv);
    let commands = script_commands(&prefix, async {
        hold_a().await.expect("hold a");
        hold_a().await.expect("hold a");
    })
    .await;
    let widest = commands.iter().map(Vec::len).max().unwrap_or(0);
    assert!(commands.len() <= 30 && widest <= 24, "{} commands, the widest with {widest} arguments", commands.len());
    let snap = inv.snapshot(show).await.expect("snapshot");
    assert_eq!((snap.pools[0].held, snap.pools[1].held, snap.pools[1].available), (3, 0, 1_000));
    assert_eq!(inv.sweep_expired(show, 1_000).await.expect("sweep").len(), 300, "pool b's holds are swept");
}
