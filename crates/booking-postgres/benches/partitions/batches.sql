-- Wrappers for instructions.sh's `batches` mode, created in the bench
-- database: one call is one coalesced hold batch of `p_n` single-seat
-- requests (seats `p_base`, `p_base + 7`, ..., a fresh owner and hold id
-- each) followed by the release batch of the same requests, as the
-- library's lanes send them; the hand-written one does the same with one
-- `UPDATE ... FROM unnest(...)` per batch on the plain table (the engine's
-- own batch, no hold id, feed or owner accounting); the third only builds
-- the arrays, so that the wrappers' own cost can be taken off.

CREATE OR REPLACE FUNCTION public.bench_ids(p_n int, p_base int, OUT owners uuid[], OUT holds uuid[], OUT seats int[])
LANGUAGE plpgsql AS $$
BEGIN
    owners := ARRAY(SELECT gen_random_uuid() FROM generate_series(1, p_n));
    holds := ARRAY(SELECT gen_random_uuid() FROM generate_series(1, p_n));
    seats := ARRAY(SELECT p_base + 7 * i FROM generate_series(0, p_n - 1) i);
END $$;

CREATE OR REPLACE FUNCTION public.bench_ids_only(p_n int, p_base int) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    r := public.bench_ids(p_n, p_base);
    RETURN cardinality(r.seats);
END $$;

CREATE OR REPLACE FUNCTION public.bench_library_batch(p_show uuid, p_part int, p_n int, p_base int) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    v_shows uuid[] := array_fill(p_show, ARRAY[p_n]);
    v_counts int[] := array_fill(1, ARRAY[p_n]);
    v_nows bigint[] := array_fill(NULL::bigint, ARRAY[p_n]);
    v_versions bigint[];
    v_done bigint;
BEGIN
    r := public.bench_ids(p_n, p_base);
    EXECUTE format('SELECT array_agg(o.version ORDER BY o.ordinality)
                    FROM booking.hold_seats_batch_p%s($1, $2, $3, $4, $5, $6) WITH ORDINALITY o', p_part)
        INTO v_versions USING v_shows, r.owners, r.holds, v_counts, r.seats, v_nows;
    EXECUTE format('SELECT count(*) FILTER (WHERE o.refusal IS NULL AND o.follow_up IS NULL)
                    FROM booking.release_seats_batch_p%s($1, $2, $3, $4, $5, $6, $7) o', p_part)
        INTO v_done USING v_shows, r.owners, r.holds, v_versions, v_counts, r.seats, v_nows;
    IF v_done <> p_n THEN
        RAISE EXCEPTION 'released % of % requests', v_done, p_n;
    END IF;
    RETURN v_done;
END $$;

CREATE OR REPLACE FUNCTION public.bench_hand_batch(p_show uuid, p_n int, p_base int) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    v_done bigint;
BEGIN
    r := public.bench_ids(p_n, p_base);
    UPDATE handwritten_seats s
    SET state = 1, owner = u.owner, held_until = now() + interval '8 minutes', version = s.version + 1
    FROM unnest(r.seats, r.owners) AS u(seat, owner)
    WHERE s.show = p_show AND s.seat = u.seat AND (s.state = 0 OR s.held_until < now());
    UPDATE handwritten_seats s
    SET state = 0, owner = NULL, held_until = NULL, version = s.version + 1
    FROM unnest(r.seats, r.owners) AS u(seat, owner)
    WHERE s.show = p_show AND s.seat = u.seat AND s.owner = u.owner AND s.state = 1;
    GET DIAGNOSTICS v_done = ROW_COUNT;
    IF v_done <> p_n THEN
        RAISE EXCEPTION 'released % of % requests', v_done, p_n;
    END IF;
    RETURN v_done;
END $$;
