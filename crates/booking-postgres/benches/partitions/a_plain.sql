\set s random(0, 49999)
\set n random(1, 9223372036854775807)
WITH u AS (UPDATE handwritten_seats SET state = 1, owner = lpad(to_hex(:n::bigint), 32, 'a')::uuid, held_until = now() + interval '8 minutes', version = version + 1 WHERE show = :show::uuid AND seat = :s::int AND (state = 0 OR held_until < now()) RETURNING 1) SELECT count(*) AS done FROM u \gset
\if :done
UPDATE handwritten_seats SET state = 0, owner = NULL, held_until = NULL, version = version + 1 WHERE show = :show::uuid AND seat = :s::int AND owner = lpad(to_hex(:n::bigint), 32, 'a')::uuid AND state = 1;
\endif
