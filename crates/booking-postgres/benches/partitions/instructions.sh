#!/usr/bin/env bash
# Server instructions per hold+release cycle, which do not move with the
# machine's load: a scratch PostgreSQL under callgrind (port 5499, in
# $WORK, default /tmp/booking-pg-callgrind) with a copy of the bench
# database the cycles bench leaves (run `cargo bench -p booking-postgres
# --bench cycles -- 1 1 single` first), then each pgbench script below
# with one caller, 10 and then 110 cycles; the backend's instructions of
# the second run minus the first, over 100. Needs valgrind and the server
# binaries (PG_BIN, default /usr/lib/postgresql/15/bin). Run as root (the
# scratch server runs as user postgres) or as the postgres user.
#
#   crates/booking-postgres/benches/partitions/instructions.sh [script.sql...]
#
# Without arguments: the hand-written UPDATEs, the same on booking.seats
# and on the show's partition, rung (d) on the parent tables and on the
# show's partitions, and the library's functions through the parent tables
# and through the copies on the show's partition.
#
#   crates/booking-postgres/benches/partitions/instructions.sh batches
#
# Coalesced batches instead (wrappers in batches.sql): a hold batch and
# its release batch of 8 and of 64 single-seat requests, through the
# library's batch functions on the show's partition and as the hand-written
# `UPDATE ... FROM unnest(...)` on the plain table, as the lean batches
# of batches.sql (the hold in the seat row alone: without an owner
# count, with the index one would read, with the count through it, with
# the count through a row per owner), and the wrappers' own array
# building; a line per script (instructions per call), then the
# instructions per request beyond the eighth (the 64-request call less the
# 8-request call, over 56), the wrappers' own share taken off.
set -euo pipefail
cd "$(dirname "$0")"
base="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
src="${base%/*}/booking_bench"
bin="${PG_BIN:-/usr/lib/postgresql/15/bin}"
work="${WORK:-/tmp/booking-pg-callgrind}"
db="postgres://postgres@127.0.0.1:5499/booking_bench"
as_pg() { if [ "$(id -u)" = 0 ]; then su postgres -c "$*"; else bash -c "$*"; fi; }

if ! pg_isready -q -h 127.0.0.1 -p 5499; then
  rm -rf "$work" && mkdir -p "$work/out" && chmod 777 "$work" "$work/out"
  as_pg "$bin/initdb -D $work/data -A trust -U postgres" >/dev/null
  printf "port=5499\nunix_socket_directories='%s'\nlisten_addresses='127.0.0.1'\nautovacuum=off\n" "$work" \
    >>"$work/data/postgresql.conf"
  as_pg "cd $work/out && nohup valgrind --tool=callgrind --trace-children=yes \
    --callgrind-out-file=$work/out/cg.%p $bin/postgres -D $work/data >$work/log 2>&1 </dev/null &" >/dev/null 2>&1
  for _ in $(seq 60); do pg_isready -q -h 127.0.0.1 -p 5499 && break; sleep 1; done
  createdb -h 127.0.0.1 -p 5499 -U postgres booking_bench
  # (pg_restore reports the scratch database's own public schema as an
  # error and goes on.)
  pg_dump -Fc "$src" | pg_restore -h 127.0.0.1 -p 5499 -U postgres -d booking_bench 2>/dev/null || true
fi
tmp="$(mktemp -d)"
. ./scripts.sh
partition_scripts "$db" "$tmp"
batches=0
if [ "${1:-}" = batches ]; then
  batches=1
  small=8 large=64
  load_batches "$db"
  # The loading backend writes its (large) profile as it exits, which can
  # be after psql returns: let it land before the first count.
  sleep 5
  for m in "$small" "$large"; do
    batch_scripts "$tmp" "$m" :base
  done
  set -- "$tmp"/{library_batch,hand_batch,lean_batch,lean_indexed_batch,lean_owned_batch,lean_members_batch,ids_only}{"$small","$large"}.sql
fi
scripts=("$@")
[ ${#scripts[@]} -gt 0 ] || scripts=(a_plain.sql b_seats.sql "$tmp/b_partition.sql" c_d_on_seats.sql
  "$tmp/d_partition.sql" e_library.sql "$tmp/e_routed.sql")

# The instructions of the backend that served one pgbench run of $2 cycles
# of script $1: the largest profile written meanwhile (a backend's profile
# is written when it exits; autovacuum is off).
backend() {
  local before after
  before="$(ls "$work/out")"
  pgbench -n -M prepared -t "$2" -c 1 -D show="$show" -f "$1" "$db" >/dev/null
  sleep 2
  after="$(comm -13 <(echo "$before" | sort) <(ls "$work/out" | sort))"
  for f in $after; do awk '/^(totals|summary):/ {print $2}' "$work/out/$f"; done | sort -n | tail -1
}
declare -A per_call
for s in "${scripts[@]}"; do
  a="$(backend "$s" 10)"
  b="$(backend "$s" 110)"
  name="$(basename "$s" .sql)"
  per_call[$name]=$(((b - a) / 100))
  echo "$name ${per_call[$name]}"
done
if [ "$batches" = 1 ]; then
  extra=$((large - small))
  ids=$(((per_call[ids_only$large] - per_call[ids_only$small]) / extra))
  for k in library_batch hand_batch lean_batch lean_indexed_batch lean_owned_batch lean_members_batch; do
    echo "$k per request beyond the eighth: $(((per_call[$k$large] - per_call[$k$small]) / extra - ids))" \
      "(the wrapper's ids, $ids, taken off)"
  done
fi
rm -rf "$tmp"
