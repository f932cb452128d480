-- The coalesced hold batch plans its joins without nested loops.
--
-- booking.hold_seats_batch joins a batch's requests (a few hundred rows at
-- most, read from unnest) with the seat rows it locked. On the statistics
-- of one partition (its per-partition copies, see partition_routes) the
-- planner expects a single matching row and re-scans the requests for
-- every seat in a nested loop: about 65k server instructions a request at
-- 64 requests a batch, a third more than the hash join it picked on the
-- parent table's statistics. With nested loops off the copies hash-join as
-- the parent did (13.4M against 13.9M instructions for a batch of 64).
-- The release batch deletes hold rows by their key in an index nested
-- loop, which must stay, so it keeps the planner's choice.
ALTER FUNCTION booking.hold_seats_batch(uuid[], uuid[], uuid[], integer[], integer[], bigint[])
    SET enable_nestloop = off;

SELECT booking.route_partitions();
