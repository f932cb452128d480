//! booking-core's lock fault scenarios (`booking_core::testkit::faults`)
//! on the Redis seat lock in front of the PostgreSQL inventory: a lock
//! deleted while a hold is in flight and throughout a race, a holder paused
//! past the lock's TTL and past its hold's TTL, and the lock's
//! redis-server killed and restarted in the middle of a run
//! (docs/design.md, "Seat lock in front of an inventory").
//!
//! The lock only sheds contention; the database's compare-and-set on the
//! seat version (the fencing token) decides. The scenarios are written once
//! in booking-core and run here for Redis lock x PostgreSQL inventory, and
//! in crates/booking-redis/tests/layered.rs for Redis lock x Redis
//! inventory. The lock lives on a `redis-server` of its own
//! (`booking_redis::testkit::lock_fault_fixture`), the inventory in a fresh
//! database; one `ManualClock` decides both.

mod common;

use booking_core::ManualClock;
use booking_core::testkit::faults::LockFaultFixture;
use booking_postgres::PgInventory;
use booking_redis::RedisSeatLock;

async fn fixture() -> LockFaultFixture<RedisSeatLock, PgInventory> {
    let db = common::create_database().await;
    let clock = ManualClock::fixed();
    let inventory = PgInventory::with_clock(common::pool(&db, 8).await, clock.shared());
    booking_redis::testkit::lock_fault_fixture(inventory, clock).await
}

booking_core::lock_fault_suite!(fixture);
