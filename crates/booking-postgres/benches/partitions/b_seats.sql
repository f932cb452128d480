\set s random(0, 49999)
\set n random(1, 9223372036854775807)
WITH u AS (UPDATE booking.seats SET state = 1, owner = lpad(to_hex(:n::bigint), 32, 'a')::uuid, held_until = booking.clock_ms() + 480000, version = version + 1 WHERE show = :show::uuid AND seat = :s::int AND (state = 0 OR held_until < booking.clock_ms()) RETURNING 1) SELECT count(*) AS done FROM u \gset
\if :done
UPDATE booking.seats SET state = 0, owner = NULL, held_until = NULL, version = version + 1 WHERE show = :show::uuid AND seat = :s::int AND owner = lpad(to_hex(:n::bigint), 32, 'a')::uuid AND state = 1;
\endif
