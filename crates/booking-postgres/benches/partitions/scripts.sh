# Sourced by run.sh and instructions.sh: finds the 50,000-seat show with
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
