\set s random(0, 49999)
\set n random(1, 9223372036854775807)
SELECT (refusal IS NULL)::int AS done, version FROM booking.hold_seats(:show::uuid, lpad(to_hex(:n::bigint), 32, 'a')::uuid, lpad(to_hex(:n::bigint), 32, 'b')::uuid, ARRAY[:s::int], NULL) \gset
\if :done
SELECT refusal AS rcode FROM booking.finish_seats(:show::uuid, lpad(to_hex(:n::bigint), 32, 'a')::uuid, lpad(to_hex(:n::bigint), 32, 'b')::uuid, :version::bigint, ARRAY[:s::int], NULL, NULL, NULL) \gset
\endif
