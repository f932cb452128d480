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

-- The shape a batch could take if the seat row alone carried its hold (a
-- measurement of that design, not the library): one `UPDATE ... FROM
-- unnest(...)` decides and writes every request whose seat is free, with
-- the library's columns (hold id, expiry, deadline, version, size), and
-- answers each request; one feed row per batch; the release checks the
-- token (hold id, owner, version; a seat carries a hold id only while
-- held) in its one `UPDATE`. No hold row and no
-- locking read. `lean_seats` has only its primary key; `lean_seats_owned`
-- adds the partial index an owner count would read, and its batch takes
-- the owners' advisory locks and counts each owner's live seats, as the
-- library's does under an owner limit of 8; `lean_seats_indexed` has the
-- same index, written by the lean batch without the locks and the count
-- (what the index alone costs: it makes every seat update non-HOT). The
-- tables hold the show's seats as copied from booking.seats when the file
-- is loaded.
CREATE SEQUENCE IF NOT EXISTS public.lean_stamp;
CREATE TABLE IF NOT EXISTS public.lean_changes (
    show uuid NOT NULL, stamp bigint NOT NULL, kind smallint NOT NULL, seats integer[], holds uuid[],
    versions bigint[], quantity integer NOT NULL, version bigint NOT NULL, at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (show, stamp));

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['lean_seats', 'lean_seats_indexed', 'lean_seats_owned', 'lean_seats_members'] LOOP
        EXECUTE format('DROP TABLE IF EXISTS public.%I', t);
        EXECUTE format('CREATE TABLE public.%I (show uuid NOT NULL, seat integer NOT NULL,
                        state smallint NOT NULL DEFAULT 0, owner uuid, hold uuid, held_until bigint,
                        deadline bigint, renewals integer NOT NULL DEFAULT 0, version bigint NOT NULL DEFAULT 0,
                        size integer, PRIMARY KEY (show, seat)) WITH (fillfactor = 80)', t);
        EXECUTE format('INSERT INTO public.%I (show, seat) SELECT show, seat FROM booking.seats
                        WHERE show = (SELECT show FROM booking.shows WHERE seat_count = 50000
                                      AND max_held_per_owner = 8 ORDER BY created_at DESC LIMIT 1)', t);
    END LOOP;
    CREATE INDEX lean_seats_indexed_owner ON public.lean_seats_indexed (show, owner) WHERE state = 1;
    CREATE INDEX lean_seats_owned_owner ON public.lean_seats_owned (show, owner) WHERE state = 1;
    ANALYZE public.lean_seats;
    ANALYZE public.lean_seats_indexed;
    ANALYZE public.lean_seats_owned;
    ANALYZE public.lean_seats_members;
    DROP TABLE IF EXISTS public.lean_owners;
    CREATE TABLE public.lean_owners (show uuid NOT NULL, owner uuid NOT NULL, seats integer[] NOT NULL,
                                     PRIMARY KEY (show, owner)) WITH (fillfactor = 80);
END $$;

-- Every request of a lean batch released, or an error: the count.
CREATE OR REPLACE FUNCTION public.bench_lean_check(p_n int, p_answers bigint[]) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_done bigint := (SELECT count(a) FROM unnest(p_answers) a);
BEGIN
    IF v_done <> p_n THEN
        RAISE EXCEPTION 'released % of % requests', v_done, p_n;
    END IF;
    RETURN v_done;
END $$;

-- The feed row of a lean batch's changes (kind 0 held, 2 released) and
-- each request's answer, in order: its new version, or NULL if refused.
CREATE OR REPLACE FUNCTION public.bench_lean_answer(
    p_show uuid, p_kind smallint, p_n int, p_holds uuid[], g_i bigint[], g_version bigint[], g_seat integer[]
) RETURNS bigint[]
LANGUAGE plpgsql SET jit = off AS $$
DECLARE
    v_answers bigint[];
BEGIN
    INSERT INTO public.lean_changes (show, stamp, kind, seats, holds, versions, quantity, version)
    SELECT p_show, nextval('public.lean_stamp'), p_kind, g_seat, ARRAY(SELECT p_holds[i] FROM unnest(g_i) i),
           g_version, cardinality(g_i), (SELECT max(v) FROM unnest(g_version) v);
    SELECT array_agg(g.version ORDER BY x.i) INTO v_answers
    FROM generate_series(1, p_n) AS x(i) LEFT JOIN unnest(g_i, g_version) AS g(i, version) ON g.i = x.i;
    RETURN v_answers;
END $$;

-- A lean release batch: the token (hold id, owner, version; a seat carries
-- a hold id only while held) checked in its one `UPDATE`; the answers.
CREATE OR REPLACE FUNCTION public.bench_lean_release(
    p_show uuid, p_seats integer[], p_owners uuid[], p_holds uuid[], p_versions bigint[]
) RETURNS bigint[]
LANGUAGE plpgsql SET jit = off AS $$
DECLARE
    g_i bigint[];
    g_version bigint[];
    g_seat integer[];
BEGIN
    WITH g AS (
        UPDATE public.lean_seats s
        SET state = 0, owner = NULL, hold = NULL, held_until = NULL, deadline = NULL, version = s.version + 1, size = NULL
        FROM unnest(p_seats, p_owners, p_holds, p_versions) WITH ORDINALITY AS u(seat, owner, hold, version, i)
        WHERE s.show = p_show AND s.seat = u.seat AND s.hold = u.hold AND s.owner = u.owner AND s.version = u.version
        RETURNING u.i, s.version, s.seat
    )
    SELECT array_agg(i), array_agg(version), array_agg(seat) INTO g_i, g_version, g_seat FROM g;
    RETURN public.bench_lean_answer(p_show, 2::smallint, cardinality(p_seats), p_holds, g_i, g_version, g_seat);
END $$;

-- The lean hold batch (no owner accounting), then its release batch.
CREATE OR REPLACE FUNCTION public.bench_lean_batch(p_show uuid, p_n int, p_base int) RETURNS bigint
LANGUAGE plpgsql SET jit = off AS $$
DECLARE
    r record;
    v_now bigint := booking.clock_ms();
    granted record;
    v_answers bigint[];
BEGIN
    r := public.bench_ids(p_n, p_base);
    WITH g AS (
        UPDATE public.lean_seats s
        SET state = 1, owner = u.owner, hold = u.hold, held_until = v_now + 480000, deadline = v_now + 1200000,
            renewals = 0, version = s.version + 1, size = 1
        FROM unnest(r.seats, r.owners, r.holds) WITH ORDINALITY AS u(seat, owner, hold, i)
        WHERE s.show = p_show AND s.seat = u.seat AND (s.state = 0 OR (s.state = 1 AND s.held_until <= v_now))
        RETURNING u.i, s.version, s.seat
    )
    SELECT array_agg(i) AS i, array_agg(version) AS version, array_agg(seat) AS seat INTO granted FROM g;
    v_answers := public.bench_lean_answer(p_show, 0::smallint, p_n, r.holds, granted.i, granted.version, granted.seat);
    RETURN public.bench_lean_check(p_n, public.bench_lean_release(p_show, r.seats, r.owners, r.holds, v_answers));
END $$;

-- The ids of a lean batch under an owner limit, with the owners' advisory
-- locks taken (in key order, as the library takes them) and then the clock
-- read.
CREATE OR REPLACE FUNCTION public.bench_owned_ids(
    p_show uuid, p_n int, p_base int, OUT owners uuid[], OUT holds uuid[], OUT seats int[], OUT now bigint
)
LANGUAGE plpgsql AS $$
BEGIN
    SELECT * INTO owners, holds, seats FROM public.bench_ids(p_n, p_base);
    PERFORM pg_advisory_xact_lock(x.k) FROM (
        SELECT DISTINCT booking.owner_key(p_show, o) AS k FROM unnest(owners) o ORDER BY 1
    ) x;
    now := booking.clock_ms();
END $$;

-- The same with the owners' advisory locks and each owner's count of live
-- seats read through the owner index (the library's owner limit of 8).
CREATE OR REPLACE FUNCTION public.bench_lean_owned_batch(p_show uuid, p_n int, p_base int) RETURNS bigint
LANGUAGE plpgsql SET jit = off AS $$
DECLARE
    r record := public.bench_owned_ids(p_show, p_n, p_base);
    v_now bigint := r.now;
    granted record;
    v_answers bigint[];
BEGIN
    WITH c AS MATERIALIZED (
        SELECT u.i, u.seat, u.owner, u.hold,
               (SELECT count(*) FROM public.lean_seats_owned o
                WHERE o.show = p_show AND o.owner = u.owner AND o.state = 1 AND o.held_until > v_now) AS held
        FROM unnest(r.seats, r.owners, r.holds) WITH ORDINALITY AS u(seat, owner, hold, i)
    ), g AS (
        UPDATE public.lean_seats_owned s
        SET state = 1, owner = c.owner, hold = c.hold, held_until = v_now + 480000, deadline = v_now + 1200000,
            renewals = 0, version = s.version + 1, size = 1
        FROM c
        WHERE s.show = p_show AND s.seat = c.seat AND c.held + 1 <= 8
          AND (s.state = 0 OR (s.state = 1 AND s.held_until <= v_now))
        RETURNING c.i, s.version, s.seat
    )
    SELECT array_agg(i) AS i, array_agg(version) AS version, array_agg(seat) AS seat INTO granted FROM g;
    v_answers := public.bench_lean_answer(p_show, 0::smallint, p_n, r.holds, granted.i, granted.version, granted.seat);
    RETURN public.bench_lean_check(p_n,
        public.bench_lean_owned_release(p_show, r.seats, r.owners, r.holds, v_answers));
END $$;

-- The owner limit kept without indexing the seat row: a row per owner
-- listing the seats the owner took holds on (`lean_owners`), read by
-- primary key with those seats' states, and rewritten once per batch and
-- owner with the members still held live plus the new seats. Releases,
-- sales and expiry need not touch it: a member counts only while its seat
-- is held live by the owner. (One request per owner, as the wrapper sends:
-- a batch with several requests of one owner would merge them first.)
CREATE OR REPLACE FUNCTION public.bench_lean_members_batch(p_show uuid, p_n int, p_base int) RETURNS bigint
LANGUAGE plpgsql SET jit = off AS $$
DECLARE
    r record := public.bench_owned_ids(p_show, p_n, p_base);
    v_now bigint := r.now;
    granted record;
    v_answers bigint[];
BEGIN
    WITH c AS MATERIALIZED (
        SELECT u.i, u.seat, u.owner, u.hold, coalesce(l.live, '{}') AS live
        FROM unnest(r.seats, r.owners, r.holds) WITH ORDINALITY AS u(seat, owner, hold, i)
        LEFT JOIN LATERAL (
            SELECT array_agg(m.seat) AS live
            FROM public.lean_owners o, unnest(o.seats) AS m(seat), public.lean_seats_members s
            WHERE o.show = p_show AND o.owner = u.owner AND s.show = p_show AND s.seat = m.seat
              AND s.state = 1 AND s.owner = u.owner AND s.held_until > v_now
        ) l ON true
    ), g AS (
        UPDATE public.lean_seats_members s
        SET state = 1, owner = c.owner, hold = c.hold, held_until = v_now + 480000, deadline = v_now + 1200000,
            renewals = 0, version = s.version + 1, size = 1
        FROM c
        WHERE s.show = p_show AND s.seat = c.seat AND coalesce(cardinality(c.live), 0) + 1 <= 8
          AND (s.state = 0 OR (s.state = 1 AND s.held_until <= v_now))
        RETURNING c.i, c.owner, c.live, s.version, s.seat
    ), w AS (
        INSERT INTO public.lean_owners AS o (show, owner, seats)
        SELECT p_show, g.owner, g.live || g.seat FROM g
        ON CONFLICT (show, owner) DO UPDATE SET seats = excluded.seats
    )
    SELECT array_agg(i) AS i, array_agg(version) AS version, array_agg(seat) AS seat INTO granted FROM g;
    v_answers := public.bench_lean_answer(p_show, 0::smallint, p_n, r.holds, granted.i, granted.version, granted.seat);
    RETURN public.bench_lean_check(p_n,
        public.bench_lean_members_release(p_show, r.seats, r.owners, r.holds, v_answers));
END $$;

-- The release on the other tables, and the lean batch on the indexed
-- one (no locks, no count: the index's own cost).
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['indexed', 'owned', 'members'] LOOP
        EXECUTE replace(replace(pg_get_functiondef('public.bench_lean_release(uuid, integer[], uuid[], uuid[], bigint[])'::regprocedure),
                                'public.bench_lean_release', 'public.bench_lean_' || t || '_release'),
                        'public.lean_seats ', 'public.lean_seats_' || t || ' ');
    END LOOP;
    EXECUTE replace(replace(replace(pg_get_functiondef('public.bench_lean_batch(uuid, int, int)'::regprocedure),
                                    'public.bench_lean_batch', 'public.bench_lean_indexed_batch'),
                            'public.bench_lean_release', 'public.bench_lean_indexed_release'),
                    'public.lean_seats ', 'public.lean_seats_indexed ');
END $$;
