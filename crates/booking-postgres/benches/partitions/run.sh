#!/usr/bin/env bash
# Where the PostgreSQL hold+release cycle loses against the hand-written
# UPDATE: the same statements on a plain table, on the library's
# partitioned `booking.seats`, and on the one partition that holds the
# show; then the ladder's rung (d) written against the library's tables,
# and the library's functions: through the parent tables, then through
# their copies on the show's partition (what the library calls). pgbench, prepared statements, single-seat
# hold then release on the 50,000-seat show with owner limit 8 that the
# cycles bench leaves in its database (run that bench first:
# `cargo bench -p booking-postgres --bench cycles -- 1 1 single`).
#
#   crates/booking-postgres/benches/partitions/run.sh [secs] [rounds] [callers...]
#
# Prints one line per run (callers, round, script, transactions/s; a
# transaction is one cycle) and then the median per script and callers.
set -euo pipefail
cd "$(dirname "$0")"
base="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
db="${base%/*}/booking_bench"
secs="${1:-3}"
rounds="${2:-3}"
shift $(( $# < 2 ? $# : 2 ))
callers=("${@:-1 8 32}")
callers=(${callers[@]})
tmp="$(mktemp -d)"
. ./scripts.sh
partition_scripts "$db" "$tmp"
out="$(mktemp)"
for c in "${callers[@]}"; do
  for r in $(seq "$rounds"); do
    for f in a_plain.sql b_seats.sql "$tmp/b_partition.sql" c_d_on_seats.sql e_library.sql "$tmp/e_routed.sql"; do
      tps="$(pgbench -n -M prepared -T "$secs" -c "$c" -j "$(( c < 2 ? c : 2 ))" -D show="$show" -f "$f" "$db" 2>&1 |
        grep -o 'tps = [0-9.]*' | cut -d' ' -f3)"
      echo "$c $r $(basename "$f" .sql) ${tps:-failed}" | tee -a "$out"
    done
  done
done
echo "callers script median"
medians "$out"
rm -rf "$out" "$tmp"
