# Sourced by run.sh, instructions.sh and batch_rates.sh: finds the 50,000-seat show with
# owner limit 8 that the cycles bench leaves in database $1, sets `show`
# and `n` (its partition), and writes into directory $2 the scripts that
# reach that partition directly: b_partition.sql (the hand-written UPDATEs
# on booking.seats_p<n>), d_partition.sql (rung (d) on the show's
# partitions) and e_routed.sql (the library's functions through their
# copies on the partition, as the library calls them).
partition_scripts() {
  local db="$1" dir="$2"
  show="$(psql -qAt "$db" -c "SELECT show FROM booking.shows WHERE seat_count = 50000 AND max_held_per_owner = 8 ORDER BY created_at DESC LIMIT 1")"
  [ -n "$show" ] || { echo "no 50,000-seat show in $db: run the cycles bench first" >&2; exit 1; }
  n="$(psql -qAt "$db" -c "SELECT booking.show_partition('$show')")"
  sed "s/booking\.seats/booking.seats_p$n/g" b_seats.sql >"$dir/b_partition.sql"
  sed -E "s/booking\.(seats|holds|changes)([ )])/booking.\1_p$n\2/g" c_d_on_seats.sql >"$dir/d_partition.sql"
  sed -e "s/booking\.hold_seats(/booking.hold_seats_p$n(/" -e "s/booking\.finish_seats(/booking.finish_seats_p$n(/" \
    e_library.sql >"$dir/e_routed.sql"
}

# Loads batches.sql into database $1, stopping at its first error.
load_batches() {
  PGOPTIONS='-c client_min_messages=warning' psql -q -v ON_ERROR_STOP=1 "$1" -f batches.sql
}

# Writes into directory $1 one pgbench script per wrapper of batches.sql,
# each call a batch of $2 requests whose seats start at the pgbench
# expression $3: <wrapper>$2.sql (library_batch, hand_batch, lean_batch,
# lean_indexed_batch, lean_owned_batch, lean_members_batch, ids_only).
# Needs `n`, set by partition_scripts.
batch_scripts() {
  local dir="$1" m="$2" at="$3" w
  printf '\\set base random(1, 6)\nSELECT bench_library_batch(:show, %s, %s, %s);\n' "$n" "$m" "$at" \
    >"$dir/library_batch$m.sql"
  printf '\\set base random(1, 6)\nSELECT bench_ids_only(%s, %s);\n' "$m" "$at" >"$dir/ids_only$m.sql"
  for w in hand_batch lean_batch lean_indexed_batch lean_owned_batch lean_members_batch; do
    printf '\\set base random(1, 6)\nSELECT bench_%s(:show, %s, %s);\n' "$w" "$m" "$at" >"$dir/$w$m.sql"
  done
}

# The median of the fourth field of file $1's lines, per first and third
# field (the lines of run.sh and batch_rates.sh: what ran, round, script,
# rate).
medians() {
  sort -k4,4n "$1" | awk '{k=$1" "$3; n[k]++; v[k, n[k]]=$4} END {for (k in n) print k, v[k, int((n[k]+1)/2)]}' |
    sort -k1,1V -k2,2
}
