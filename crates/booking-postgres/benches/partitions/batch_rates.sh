#!/usr/bin/env bash
# Single-seat hold+release cycles per second when the requests go in
# batches, through pgbench, beside the hand-written per-request UPDATEs
# with as many callers: the library's batch functions (on the show's
# partition, as the coalescing lanes call them), the engine's own
# `UPDATE ... FROM unnest(...)` batch, and the lean batches of batches.sql
# (the seat row carrying its hold: without owner accounting, and with the
# owner limit kept by a row per owner). A configuration `c:m` runs `c`
# clients, each sending one hold batch of `m` requests and then its
# release batch at a time, on seats of its own; the hand-written
# statements run with `c * m` clients. Needs the bench database that the
# cycles bench leaves (`cargo bench -p booking-postgres --bench cycles --
# 1 1 single`); loads batches.sql into it.
#
#   crates/booking-postgres/benches/partitions/batch_rates.sh [secs] [rounds] [c:m...]
#
# Defaults: 10 s, 3 rounds, `1:32 4:8` (32 requests in flight either way).
# Prints one line per run (configuration, round, script, cycles/s) and
# then the median per configuration and script.
set -euo pipefail
cd "$(dirname "$0")"
base="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
db="${base%/*}/booking_bench"
secs="${1:-10}"
rounds="${2:-3}"
shift $(( $# < 2 ? $# : 2 ))
configs=("${@:-1:32 4:8}")
configs=(${configs[@]})
tmp="$(mktemp -d)"
. ./scripts.sh
partition_scripts "$db" "$tmp"
load_batches "$db"
out="$(mktemp)"
# Each client's seats start at its own multiple of 500 (a batch of m
# spans 7m seats).
for config in "${configs[@]}"; do
  m="${config#*:}"
  [ $((7 * m + 6)) -le 500 ] || { echo "batches of $m overlap between clients" >&2; exit 1; }
  batch_scripts "$tmp" "$m" '(:client_id * 500 + :base)'
done
rate() { # clients, script, requests per transaction
  local tps
  tps="$(pgbench -n -M prepared -T "$secs" -c "$1" -j "$(( $1 < 2 ? $1 : 2 ))" -D show="$show" -f "$2" "$db" 2>&1 |
    grep -o 'tps = [0-9.]*' | cut -d' ' -f3)"
  if [ -n "$tps" ]; then awk -v t="$tps" -v m="$3" 'BEGIN {printf "%.0f", t * m}'; else echo failed; fi
}
for r in $(seq "$rounds"); do
  for config in "${configs[@]}"; do
    c="${config%%:*}" m="${config#*:}"
    echo "$config $r hand_per_request $(rate $((c * m)) a_plain.sql 1)" | tee -a "$out"
    for s in hand_batch library_batch lean_batch lean_members_batch; do
      echo "$config $r $s $(rate "$c" "$tmp/$s$m.sql" "$m")" | tee -a "$out"
    done
  done
done
echo "configuration script median"
medians "$out"
rm -rf "$out" "$tmp"
