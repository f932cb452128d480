//! Tests and benchmarks of one composition: the Redis seat lock in front of
//! the PostgreSQL seat inventory,
//! `LockedInventory<RedisSeatLock, PgInventory>` (docs/design.md, "Seat lock in front of an inventory",
//! "Redis lock in front of PostgreSQL").
//!
//! The pieces live elsewhere: the decorator
//! `booking_core::layered::LockedInventory` and its `SeatLock` port in
//! `booking-core`, `RedisSeatLock` in `booking-redis`, `PgInventory` in
//! `booking-postgres`. A backend crate never depends on another backend
//! crate, so none of them can run this composition; this crate, which
//! publishes nothing and has no code of its own, does:
//!
//! - `tests/conformance.rs`: the whole conformance suite and the
//!   reference-model state-machine test of `booking-core` on the
//!   composition; a fresh PostgreSQL database and a random Redis key prefix
//!   per test, a `ManualClock` deciding expiry.
//! - `tests/faults.rs`: what the lock must survive without a seat being
//!   held or sold twice, the database's versioned compare-and-set (the
//!   fencing token) deciding every time: lock keys deleted while holds are
//!   in flight, a holder paused past the lock's TTL and past its hold's TTL
//!   while another buys the seat, and the lock's redis-server killed and
//!   restarted in the middle of a run.
//! - `benches/hot.rs`: hot contention (32 callers on 100 seats: hold+release
//!   cycles, and a race to sell a show out), the composition against
//!   PostgreSQL alone, against the same SQL sent by `pgbench`, and against
//!   the same decorator with an in-process lock; figures in
//!   `BENCHMARKS.md`.
//!
//! # Running
//!
//! Needs a PostgreSQL server (`DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`, a role that may create
//! databases), a Redis server (`REDIS_URL`, default
//! `redis://127.0.0.1:6379`) and `redis-server` on `PATH` (the restart test
//! starts its own on a free port):
//!
//! ```text
//! cargo test -p booking-layered
//! cargo bench -p booking-layered --bench hot
//! ```
