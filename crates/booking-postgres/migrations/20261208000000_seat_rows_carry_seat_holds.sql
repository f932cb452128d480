-- The seat row alone carries a seat hold.
--
-- A seat hold wrote a booking.holds row beside its seat rows (a heap row
-- and three index entries), deleted again by the release or the sale and
-- rewritten by every renewal; the seat rows already carry everything the
-- token is checked against (hold id, owner, version, size, expiry). The
-- hold row served two readers: the per-owner limit, which summed the
-- owner's live hold rows through holds_owner, and the sweeper, which found
-- expired holds through holds_expiry. Now:
--
-- * booking.holds keeps pool holds only (pool IS NOT NULL).
-- * booking.owner_seats keeps a row per show and owner that lists the
--   seats the owner took holds on. A listed seat counts toward the owner
--   only while its row says it is held by that owner, so releases, sales,
--   refunds, blocks and expiry leave the list alone; each new hold by the
--   owner rewrites it to the listed seats the owner still holds plus the
--   new ones, under the owner's advisory lock (which every seat hold now
--   takes, limited or not), so the rewrite cannot drop a seat a concurrent
--   hold of the same owner just took. booking.held_by reads the row by its
--   key and the listed seats by theirs; no index on the seat row's owner
--   (it would make every seat update non-HOT).
-- * The sweeper finds expired seat holds on the show's seat rows.
--
-- Existing seat hold rows become owner rows.

CREATE TABLE booking.owner_seats (
    show  uuid      NOT NULL,
    owner uuid      NOT NULL,
    seats integer[] NOT NULL,
    PRIMARY KEY (show, owner)
) PARTITION BY HASH (show);

DO $$
BEGIN
    FOR i IN 0 .. 7 LOOP
        EXECUTE format(
            'CREATE TABLE booking.%I PARTITION OF booking.owner_seats FOR VALUES WITH (MODULUS 8, REMAINDER %s)
             WITH (fillfactor = 80)', 'owner_seats_p' || i, i);
    END LOOP;
END $$;

INSERT INTO booking.owner_seats (show, owner, seats)
SELECT h.show, h.owner, array_agg(DISTINCT m.seat)
FROM booking.holds h, unnest(h.seats) AS m(seat)
WHERE h.pool IS NULL
GROUP BY h.show, h.owner;

DELETE FROM booking.holds WHERE pool IS NULL;

DO $$
BEGIN
    FOR i IN 0 .. 7 LOOP
        EXECUTE format('DROP FUNCTION IF EXISTS booking.drop_hold_seats_p%s(uuid, uuid, integer[])', i);
    END LOOP;
END $$;
DROP FUNCTION booking.drop_hold_seats(uuid, uuid, integer[]);

-- Adds seats to their owners' rows (seat i to owner i), keeping of each
-- row only the seats its owner still holds. The caller holds the owners'
-- advisory locks and has written the new seats' rows. (PL/pgSQL, whose
-- statement plans a session keeps: a SQL function's are made anew at
-- every call.)
CREATE FUNCTION booking.add_owned(p_show uuid, p_owners uuid[], p_seats integer[])
 RETURNS void
 LANGUAGE plpgsql
AS $function$
BEGIN
    INSERT INTO booking.owner_seats AS o (show, owner, seats)
    SELECT p_show, x.owner, array_agg(x.seat)
    FROM unnest(p_owners, p_seats) AS x(owner, seat)
    GROUP BY x.owner
    ON CONFLICT (show, owner) DO UPDATE SET seats = ARRAY(
        SELECT s.seat FROM booking.seats s
        WHERE s.show = o.show AND s.seat = ANY (o.seats) AND s.seat <> ALL (excluded.seats)
          AND s.state = 1 AND s.owner = o.owner) || excluded.seats;
END $function$;

CREATE OR REPLACE FUNCTION booking.held_by(p_show uuid, p_owner uuid, p_now bigint)
 RETURNS integer
 LANGUAGE plpgsql
 STABLE
AS $function$
DECLARE
    v_held integer;
    v_members integer[];
BEGIN
    SELECT coalesce(sum(quantity), 0) INTO v_held
    FROM booking.holds WHERE show = p_show AND owner = p_owner AND held_until > p_now;
    SELECT o.seats INTO v_members FROM booking.owner_seats o WHERE o.show = p_show AND o.owner = p_owner;
    IF v_members IS NOT NULL THEN
        v_held := v_held + (SELECT count(*) FROM booking.seats s
                            WHERE s.show = p_show AND s.seat = ANY (v_members) AND s.state = 1
                              AND s.owner = p_owner AND s.held_until > p_now);
    END IF;
    RETURN v_held;
END $function$;

CREATE OR REPLACE FUNCTION booking.hold_seats(p_show uuid, p_owner uuid, p_hold uuid, p_seats integer[], p_now bigint)
 RETURNS booking.outcome
 LANGUAGE plpgsql
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
DECLARE
    r booking.outcome;
    v_ttl bigint;
    v_max_hold bigint;
    v_limit integer;
    v_tickets integer;
    v_now bigint;
    v_n integer := cardinality(p_seats);
    v_got integer[];
    v_min bigint;
    v_max bigint;
    v_until bigint;
BEGIN
    SELECT ttl_ms, max_hold_ms, max_held_per_owner, max_tickets_per_owner INTO v_ttl, v_max_hold, v_limit, v_tickets
    FROM booking.shows WHERE show = p_show;
    IF NOT FOUND THEN
        r.refusal := 'UNKNOWN_SHOW';
        RETURN r;
    END IF;
    -- The owner's lock, always: the hold rewrites the owner's row.
    PERFORM pg_advisory_xact_lock(booking.owner_key(p_show, p_owner));
    v_now := coalesce(p_now, booking.clock_ms());
    IF v_limit IS NOT NULL OR v_tickets IS NOT NULL THEN
        r := booking.owner_check(p_show, p_owner, v_now, v_n, v_limit, v_tickets);
        IF r.refusal IS NOT NULL THEN
            RETURN r;
        END IF;
    END IF;
    v_until := v_now + v_ttl;
    WITH u AS (
        UPDATE booking.seats
        SET state = 1, owner = p_owner, hold = p_hold, order_id = NULL, payment = NULL,
            held_until = v_until, deadline = v_now + v_max_hold, renewals = 0, version = version + 1, size = v_n
        WHERE show = p_show AND seat = ANY (p_seats)
          AND (state = 0 OR (state = 1 AND held_until <= v_now))
        RETURNING seat, version - 1 AS old
    )
    SELECT array_agg(u.seat ORDER BY u.seat), min(u.old), max(u.old) INTO v_got, v_min, v_max FROM u;
    IF v_got IS NULL THEN
        r.refusal := 'SEATS_TAKEN';
        r.seats := p_seats;
        RETURN r;
    END IF;
    IF cardinality(v_got) < v_n THEN
        RAISE EXCEPTION USING ERRCODE = 'BK000', MESSAGE = 'SEATS_TAKEN',
            DETAIL = array_to_string(ARRAY(SELECT x FROM unnest(p_seats) x WHERE x <> ALL (v_got) ORDER BY x), ',');
    END IF;
    IF v_min <> v_max THEN
        UPDATE booking.seats SET version = v_max + 1 WHERE show = p_show AND seat = ANY (p_seats);
    END IF;
    PERFORM booking.add_owned(p_show, array_fill(p_owner, ARRAY[v_n]), p_seats);
    INSERT INTO booking.changes (show, stamp, kind, hold, seats, quantity, version)
    VALUES (p_show, nextval('booking.change_stamp'), 0, p_hold, p_seats, v_n, v_max + 1);
    r.version := v_max + 1;
    r.held_until := v_until;
    r.renewals := 0;
    RETURN r;
END $function$;

CREATE OR REPLACE FUNCTION booking.hold_best_seats(p_show uuid, p_owner uuid, p_hold uuid, p_seats integer[], p_now bigint, p_first integer, p_last integer, p_lock integer[], p_free integer[])
 RETURNS booking.outcome
 LANGUAGE plpgsql
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
DECLARE
    r booking.outcome;
    v_ttl bigint;
    v_max_hold bigint;
    v_limit integer;
    v_tickets integer;
    v_now bigint;
    v_n integer := cardinality(p_seats);
    v_free integer[];
    v_max bigint;
    v_until bigint;
BEGIN
    SELECT ttl_ms, max_hold_ms, max_held_per_owner, max_tickets_per_owner INTO v_ttl, v_max_hold, v_limit, v_tickets
    FROM booking.shows WHERE show = p_show;
    IF NOT FOUND THEN
        r.refusal := 'UNKNOWN_SHOW';
        RETURN r;
    END IF;
    -- The owner's lock, always: the hold rewrites the owner's row.
    PERFORM pg_advisory_xact_lock(booking.owner_key(p_show, p_owner));
    -- Seats in seat order, as every function locks them; then the clock.
    PERFORM 1 FROM booking.seats WHERE show = p_show AND seat = ANY (p_lock) ORDER BY seat FOR UPDATE;
    v_now := coalesce(p_now, booking.clock_ms());
    IF v_limit IS NOT NULL OR v_tickets IS NOT NULL THEN
        r := booking.owner_check(p_show, p_owner, v_now, v_n, v_limit, v_tickets);
        IF r.refusal IS NOT NULL THEN
            RETURN r;
        END IF;
    END IF;
    SELECT coalesce(array_agg(seat ORDER BY seat), '{}') INTO v_free FROM booking.seats
    WHERE show = p_show AND seat BETWEEN p_first AND p_last AND (state = 0 OR (state = 1 AND held_until <= v_now));
    IF v_free IS DISTINCT FROM coalesce(p_free, '{}') OR NOT (p_seats <@ v_free) THEN
        r.follow_up := 'PICK_AGAIN';
        r.seats := v_free;
        RETURN r;
    END IF;
    v_until := v_now + v_ttl;
    WITH u AS (
        UPDATE booking.seats
        SET state = 1, owner = p_owner, hold = p_hold, order_id = NULL, payment = NULL,
            held_until = v_until, deadline = v_now + v_max_hold, renewals = 0, version = version + 1, size = v_n
        WHERE show = p_show AND seat = ANY (p_seats)
        RETURNING version - 1 AS old
    )
    SELECT max(u.old) INTO v_max FROM u;
    UPDATE booking.seats SET version = v_max + 1 WHERE show = p_show AND seat = ANY (p_seats) AND version <> v_max + 1;
    PERFORM booking.add_owned(p_show, array_fill(p_owner, ARRAY[v_n]), p_seats);
    INSERT INTO booking.changes (show, stamp, kind, hold, seats, quantity, version)
    VALUES (p_show, nextval('booking.change_stamp'), 0, p_hold, p_seats, v_n, v_max + 1);
    r.version := v_max + 1;
    r.held_until := v_until;
    r.renewals := 0;
    RETURN r;
END $function$;

CREATE OR REPLACE FUNCTION booking.hold_seats_batch(p_shows uuid[], p_owners uuid[], p_holds uuid[], p_counts integer[], p_seats integer[], p_nows bigint[])
 RETURNS SETOF booking.outcome
 LANGUAGE plpgsql
 SET plan_cache_mode TO 'force_generic_plan'
 SET jit TO 'off'
 SET enable_nestloop TO 'off'
AS $function$
DECLARE
    v_total integer := coalesce(cardinality(p_shows), 0);
    v_clock bigint;
    v_starts integer[];
    v_req integer[];
    a integer;
    b integer;
    lo integer;
    hi integer;
    v_show uuid;
    v_ttl bigint;
    v_max_hold bigint;
    v_limit integer;
    v_tickets integer;
    v_owned boolean;
    v_members integer[];
    v_chunk_seats integer[];
    l_seat integer[];
    l_free_at bigint[];
    l_version bigint[];
    -- The chunk's requests that share a seat or an owner with another.
    v_walk integer[];
    -- Decisions so far: request, refusal, n, version, held until, seats taken.
    d_req integer[] := '{}';
    d_refusal text[] := '{}';
    d_n bigint[] := '{}';
    d_version bigint[] := '{}';
    d_until bigint[] := '{}';
    d_taken text[] := '{}';
    -- The chunk's grants: request, version, held until, deadline.
    g_req integer[];
    g_version bigint[];
    g_until bigint[];
    g_deadline bigint[];
    -- Walked requests: their seats' rows and who holds what in the batch.
    w_seat integer[];
    w_free_at bigint[];
    w_version bigint[];
    w_used boolean[];
    h_owner uuid[];
    h_until bigint[];
    h_quantity integer[];
    s_owner uuid[];
    s_sold integer[];
    v_now bigint;
    v_n bigint;
    v_held bigint;
    v_bad integer[];
    v_max bigint;
    v_seat integer;
    k integer;
    w integer;
BEGIN
    SELECT array_agg(x.start ORDER BY x.i) INTO v_starts
    FROM (SELECT u.i, (sum(u.c) OVER (ORDER BY u.i) - u.c)::integer AS start
          FROM unnest(p_counts) WITH ORDINALITY AS u(c, i)) x;
    -- The request of each seat of p_seats.
    SELECT array_agg(u.i ORDER BY u.i, j) INTO v_req
    FROM unnest(p_counts) WITH ORDINALITY AS u(c, i), generate_series(1, u.c) j;
    a := 1;
    WHILE a <= v_total LOOP
        v_show := p_shows[a];
        b := a;
        WHILE b < v_total AND p_shows[b + 1] = v_show LOOP
            b := b + 1;
        END LOOP;
        SELECT ttl_ms, max_hold_ms, max_held_per_owner, max_tickets_per_owner INTO v_ttl, v_max_hold, v_limit, v_tickets
        FROM booking.shows WHERE show = v_show;
        IF NOT FOUND THEN
            d_req := d_req || ARRAY(SELECT generate_series(a, b));
            d_refusal := d_refusal || array_fill('UNKNOWN_SHOW'::text, ARRAY[b - a + 1]);
            d_n := d_n || array_fill(NULL::bigint, ARRAY[b - a + 1]);
            d_version := d_version || array_fill(NULL::bigint, ARRAY[b - a + 1]);
            d_until := d_until || array_fill(NULL::bigint, ARRAY[b - a + 1]);
            d_taken := d_taken || array_fill(NULL::text, ARRAY[b - a + 1]);
            a := b + 1;
            CONTINUE;
        END IF;
        v_owned := v_limit IS NOT NULL OR v_tickets IS NOT NULL;
        -- The owners' locks, always: the grants rewrite the owners' rows.
        PERFORM pg_advisory_xact_lock(x.k) FROM (
            SELECT DISTINCT booking.owner_key(v_show, o) AS k FROM unnest(p_owners[a:b]) o ORDER BY 1
        ) x;
        lo := v_starts[a] + 1;
        hi := v_starts[b] + p_counts[b];
        v_chunk_seats := p_seats[lo:hi];
        -- A seat's "free from" time: the minimum when available, its expiry when
        -- held, never when sold or blocked.
        SELECT array_agg(l.seat),
               array_agg(CASE l.state WHEN 0 THEN -9223372036854775808 WHEN 1 THEN l.held_until
                                       ELSE 9223372036854775807 END),
               array_agg(l.version)
        INTO l_seat, l_free_at, l_version
        FROM (
            SELECT seat, state, held_until, version FROM booking.seats
            WHERE show = v_show AND seat = ANY (v_chunk_seats)
            ORDER BY seat FOR UPDATE
        ) l;
        -- The clock is read once every row of the chunk is locked.
        v_clock := booking.clock_ms();
        -- Requests sharing a seat (or, when owners are counted, an owner)
        -- with another request of the chunk.
        WITH q AS (
            SELECT (a + u.k - 1)::integer AS i, u.owner FROM unnest(p_owners[a:b]) WITH ORDINALITY AS u(owner, k)
        ), qs AS (
            SELECT x.i, x.seat FROM unnest(p_seats[lo:hi], v_req[lo:hi]) AS x(seat, i)
        ), shared AS (
            SELECT qs.i FROM qs WHERE qs.seat IN (SELECT seat FROM qs GROUP BY seat HAVING count(*) > 1)
            UNION
            SELECT q.i FROM q WHERE v_owned AND q.owner IN (SELECT owner FROM q GROUP BY owner HAVING count(*) > 1)
        )
        SELECT array_agg(i ORDER BY i) INTO v_walk FROM shared;
        v_walk := coalesce(v_walk, '{}');
        IF v_owned THEN
            -- What the chunk's owners hold: pool holds, and the seats they
            -- hold (found through their rows), each with its expiry.
            SELECT array_agg(m.seat) INTO v_members
            FROM booking.owner_seats o, unnest(o.seats) AS m(seat)
            WHERE o.show = v_show AND o.owner = ANY (p_owners[a:b]);
            SELECT x.o, x.u, x.q INTO h_owner, h_until, h_quantity
            FROM (
                SELECT array_agg(y.owner) AS o, array_agg(y.held_until) AS u, array_agg(y.quantity) AS q
                FROM (
                    SELECT h.owner, h.held_until, h.quantity FROM booking.holds h
                    WHERE h.show = v_show AND h.owner = ANY (p_owners[a:b])
                    UNION ALL
                    SELECT s.owner, s.held_until, 1 FROM booking.seats s
                    WHERE v_members IS NOT NULL AND s.show = v_show AND s.seat = ANY (v_members) AND s.state = 1
                      AND s.owner = ANY (p_owners[a:b])
                ) y
            ) x;
        END IF;
        -- Every other request at once: the owner's live holds (and sold
        -- units) at the request's time, then its seats.
        WITH q AS MATERIALIZED (
            -- (Each owner's count once per request: the CTE is computed once.)
            SELECT r.i, r.owner, r.cnt, r.now,
                   CASE WHEN v_owned THEN
                       (SELECT coalesce(sum(h.q), 0) FROM unnest(h_owner, h_until, h_quantity) AS h(o, u, q)
                        WHERE h.o = r.owner AND h.u > r.now) + r.cnt END AS held,
                   CASE WHEN v_tickets IS NOT NULL THEN
                       coalesce((SELECT o.sold FROM booking.owner_sold o
                                 WHERE o.show = v_show AND o.owner = r.owner), 0) ELSE 0 END AS sold
            FROM (
                SELECT (a + u.k - 1)::integer AS i, u.owner, u.cnt, coalesce(u.now, v_clock) AS now
                FROM unnest(p_owners[a:b], p_counts[a:b], p_nows[a:b]) WITH ORDINALITY AS u(owner, cnt, now, k)
                WHERE NOT ((a + u.k - 1)::integer = ANY (v_walk))
            ) r
        ), sc AS (
            SELECT q.i,
                   array_agg(x.seat ORDER BY x.seat) FILTER (WHERE l.seat IS NULL OR l.free_at > q.now) AS bad,
                   max(l.version) AS vmax
            FROM unnest(p_seats[lo:hi], v_req[lo:hi]) AS x(seat, i)
            JOIN q ON q.i = x.i
            LEFT JOIN unnest(l_seat, l_free_at, l_version) AS l(seat, free_at, version) ON l.seat = x.seat
            GROUP BY q.i
        ), d AS (
            SELECT q.i, q.now, s.bad, s.vmax, q.held, q.sold,
                   CASE WHEN q.held > v_limit THEN 'HELD_PER_OWNER'
                        WHEN q.held + q.sold > v_tickets THEN 'TICKETS_PER_OWNER'
                        WHEN s.bad IS NOT NULL THEN 'SEATS_TAKEN' END AS refusal
            FROM q JOIN sc s USING (i)
        )
        SELECT d_req || coalesce(array_agg(d.i), '{}'),
               d_refusal || coalesce(array_agg(d.refusal), '{}'),
               d_n || coalesce(array_agg(CASE WHEN o_n THEN NULL WHEN d.held > v_limit OR v_tickets IS NULL THEN d.held
                                              ELSE d.held + d.sold END), '{}'),
               d_version || coalesce(array_agg(CASE WHEN d.refusal IS NULL THEN d.vmax + 1 END), '{}'),
               d_until || coalesce(array_agg(CASE WHEN d.refusal IS NULL THEN d.now + v_ttl END), '{}'),
               d_taken || coalesce(array_agg(CASE WHEN d.refusal = 'SEATS_TAKEN' THEN array_to_string(d.bad, ',') END),
                                  '{}'),
               array_agg(d.i) FILTER (WHERE d.refusal IS NULL),
               array_agg(d.vmax + 1) FILTER (WHERE d.refusal IS NULL),
               array_agg(d.now + v_ttl) FILTER (WHERE d.refusal IS NULL),
               array_agg(d.now + v_max_hold) FILTER (WHERE d.refusal IS NULL)
        INTO d_req, d_refusal, d_n, d_version, d_until, d_taken, g_req, g_version, g_until, g_deadline
        FROM d, (SELECT NOT v_owned AS o_n) f;
        IF cardinality(v_walk) > 0 THEN
            -- The requests that share a seat or an owner, in arrival order,
            -- each seeing what the ones before it were granted.
            WITH s AS (
                SELECT DISTINCT x.seat FROM unnest(p_seats[lo:hi], v_req[lo:hi]) AS x(seat, i)
                WHERE x.i = ANY (v_walk)
            )
            SELECT array_agg(l.seat), array_agg(l.free_at),
                   array_agg(l.version)
            INTO w_seat, w_free_at, w_version
            FROM unnest(l_seat, l_free_at, l_version) AS l(seat, free_at, version) JOIN s USING (seat);
            w_used := array_fill(false, ARRAY[coalesce(cardinality(w_seat), 0)]);
            IF v_owned THEN
                SELECT array_agg(o.owner), array_agg(o.sold) INTO s_owner, s_sold
                FROM booking.owner_sold o
                WHERE v_tickets IS NOT NULL AND o.show = v_show
                  AND o.owner IN (SELECT p_owners[i] FROM unnest(v_walk) i);
            END IF;
            FOREACH k IN ARRAY v_walk LOOP
                v_now := coalesce(p_nows[k], v_clock);
                v_n := NULL;
                d_req := d_req || k;
                IF v_owned THEN
                    v_held := 0;
                    FOR j IN 1 .. coalesce(cardinality(h_owner), 0) LOOP
                        IF h_owner[j] = p_owners[k] AND h_until[j] > v_now THEN
                            v_held := v_held + h_quantity[j];
                        END IF;
                    END LOOP;
                    -- Plus what this batch already granted the owner.
                    FOR j IN 1 .. coalesce(cardinality(g_req), 0) LOOP
                        IF p_owners[g_req[j]] = p_owners[k] AND g_until[j] > v_now THEN
                            v_held := v_held + p_counts[g_req[j]];
                        END IF;
                    END LOOP;
                    v_n := v_held + p_counts[k];
                    IF v_n > v_limit THEN
                        d_refusal := d_refusal || 'HELD_PER_OWNER'::text;
                        d_n := d_n || v_n; d_version := d_version || NULL::bigint;
                        d_until := d_until || NULL::bigint; d_taken := d_taken || NULL::text;
                        CONTINUE;
                    END IF;
                    IF v_tickets IS NOT NULL THEN
                        v_n := v_n + coalesce(s_sold[array_position(s_owner, p_owners[k])], 0);
                        IF v_n > v_tickets THEN
                            d_refusal := d_refusal || 'TICKETS_PER_OWNER'::text;
                            d_n := d_n || v_n; d_version := d_version || NULL::bigint;
                            d_until := d_until || NULL::bigint; d_taken := d_taken || NULL::text;
                            CONTINUE;
                        END IF;
                    END IF;
                END IF;
                v_bad := '{}';
                v_max := 0;
                FOR j IN 1 .. p_counts[k] LOOP
                    v_seat := p_seats[v_starts[k] + j];
                    w := array_position(w_seat, v_seat);
                    IF w IS NULL OR w_used[w] OR w_free_at[w] > v_now THEN
                        v_bad := v_bad || v_seat;
                    ELSE
                        v_max := greatest(v_max, w_version[w]);
                    END IF;
                END LOOP;
                IF cardinality(v_bad) > 0 THEN
                    d_refusal := d_refusal || 'SEATS_TAKEN'::text;
                    d_n := d_n || v_n; d_version := d_version || NULL::bigint;
                    d_until := d_until || NULL::bigint; d_taken := d_taken || array_to_string(v_bad, ',');
                    CONTINUE;
                END IF;
                FOR j IN 1 .. p_counts[k] LOOP
                    w_used[array_position(w_seat, p_seats[v_starts[k] + j])] := true;
                END LOOP;
                d_refusal := d_refusal || NULL::text;
                d_n := d_n || v_n; d_version := d_version || (v_max + 1);
                d_until := d_until || (v_now + v_ttl); d_taken := d_taken || NULL::text;
                g_req := g_req || k;
                g_version := g_version || (v_max + 1);
                g_until := g_until || (v_now + v_ttl);
                g_deadline := g_deadline || (v_now + v_max_hold);
            END LOOP;
        END IF;
        IF g_req IS NOT NULL THEN
            UPDATE booking.seats s
            SET state = 1, owner = p_owners[g.i], hold = p_holds[g.i], order_id = NULL, payment = NULL,
                held_until = g.until, deadline = g.deadline, renewals = 0, version = g.version, size = p_counts[g.i]
            FROM (
                SELECT q.i, q.version, q.until, q.deadline, x.seat
                FROM unnest(p_seats[lo:hi], v_req[lo:hi]) AS x(seat, i)
                JOIN unnest(g_req, g_version, g_until, g_deadline) AS q(i, version, until, deadline) ON q.i = x.i
            ) g
            WHERE s.show = v_show AND s.seat = ANY (v_chunk_seats) AND s.seat = g.seat;
            -- Each owner's row: the seats it still holds, and the new ones.
            PERFORM booking.add_owned(v_show, array_agg(p_owners[x.i]), array_agg(x.seat))
            FROM unnest(p_seats[lo:hi], v_req[lo:hi]) AS x(seat, i) WHERE x.i = ANY (g_req);
            -- One feed row for the chunk's grants, in arrival order.
            INSERT INTO booking.changes (show, stamp, kind, seats, quantity, version, holds, counts, versions)
            SELECT v_show, nextval('booking.change_stamp'), 0,
                   (SELECT array_agg(x.seat ORDER BY x.o)
                    FROM unnest(p_seats[lo:hi], v_req[lo:hi]) WITH ORDINALITY AS x(seat, i, o)
                    WHERE x.i = ANY (g_req)),
                   sum(p_counts[q.i]), max(q.version), array_agg(p_holds[q.i] ORDER BY q.i),
                   array_agg(p_counts[q.i] ORDER BY q.i), array_agg(q.version ORDER BY q.i)
            FROM unnest(g_req, g_version) AS q(i, version);
        END IF;
        g_req := NULL; g_version := NULL; g_until := NULL; g_deadline := NULL;
        h_owner := NULL; h_until := NULL; h_quantity := NULL;
        a := b + 1;
    END LOOP;
    RETURN QUERY
    SELECT d.version, d.until, CASE WHEN d.i IS NOT NULL AND d.refusal IS NULL THEN 0 END, d.n,
           string_to_array(d.taken, ',')::integer[], d.refusal, NULL::text
    FROM generate_series(1, v_total) AS r(i)
    LEFT JOIN unnest(d_req, d_refusal, d_n, d_version, d_until, d_taken) AS d(i, refusal, n, version, until, taken)
        ON d.i = r.i
    ORDER BY r.i;
END $function$;

CREATE OR REPLACE FUNCTION booking.release_seats_batch(p_shows uuid[], p_owners uuid[], p_holds uuid[], p_versions bigint[], p_counts integer[], p_seats integer[], p_nows bigint[])
 RETURNS SETOF booking.outcome
 LANGUAGE plpgsql
 SET plan_cache_mode TO 'force_generic_plan'
 SET jit TO 'off'
AS $function$
DECLARE
    v_total integer := coalesce(cardinality(p_shows), 0);
    v_clock bigint;
    v_starts integer[];
    v_req integer[];
    v_done integer[] := '{}';
    a integer;
    b integer;
    lo integer;
    hi integer;
    v_show uuid;
    v_now bigint;
    v_chunk_seats integer[];
    l_seat integer[];
    l_ok boolean[];
    l_hold uuid[];
    l_owner uuid[];
    l_version bigint[];
    l_until bigint[];
    l_size integer[];
    v_walk integer[];
    ok_req integer[];
    v_pass boolean;
    k integer;
    w integer;
BEGIN
    SELECT array_agg(y.start ORDER BY y.i) INTO v_starts
    FROM (SELECT u.i, (sum(u.c) OVER (ORDER BY u.i) - u.c)::integer AS start
          FROM unnest(p_counts) WITH ORDINALITY AS u(c, i)) y;
    -- The request of each seat of p_seats.
    SELECT array_agg(u.i ORDER BY u.i, j) INTO v_req
    FROM unnest(p_counts) WITH ORDINALITY AS u(c, i), generate_series(1, u.c) j;
    a := 1;
    WHILE a <= v_total LOOP
        v_show := p_shows[a];
        b := a;
        WHILE b < v_total AND p_shows[b + 1] = v_show LOOP
            b := b + 1;
        END LOOP;
        lo := v_starts[a] + 1;
        hi := v_starts[b] + p_counts[b];
        v_chunk_seats := p_seats[lo:hi];
        SELECT array_agg(l.seat), array_agg(l.state = 1),
               array_agg(l.hold), array_agg(l.owner),
               array_agg(l.version), array_agg(l.held_until),
               array_agg(l.size)
        INTO l_seat, l_ok, l_hold, l_owner, l_version, l_until, l_size
        FROM (
            SELECT seat, state, hold, owner, version, held_until, size FROM booking.seats
            WHERE show = v_show AND seat = ANY (v_chunk_seats)
            ORDER BY seat FOR UPDATE
        ) l;
        -- The clock is read once every row of the chunk is locked.
        v_clock := booking.clock_ms();
        -- Requests sharing a seat with another request of the chunk.
        WITH qs AS (
            SELECT x.i, x.seat FROM unnest(p_seats[lo:hi], v_req[lo:hi]) AS x(seat, i)
        )
        SELECT coalesce(array_agg(DISTINCT qs.i), '{}') INTO v_walk
        FROM qs WHERE qs.seat IN (SELECT seat FROM qs GROUP BY seat HAVING count(*) > 1);
        -- Every other request at once: it passes when each of its seats is
        -- held live under its hold, owner, version and size.
        WITH q AS (
            SELECT (a + u.k - 1)::integer AS i, u.owner, u.hold, u.version, u.cnt, coalesce(u.now, v_clock) AS now
            FROM unnest(p_owners[a:b], p_holds[a:b], p_versions[a:b], p_counts[a:b], p_nows[a:b])
                WITH ORDINALITY AS u(owner, hold, version, cnt, now, k)
            WHERE NOT ((a + u.k - 1)::integer = ANY (v_walk))
        ), m AS (
            SELECT x.i, count(*) AS n
            FROM unnest(p_seats[lo:hi], v_req[lo:hi]) AS x(seat, i)
            JOIN q ON q.i = x.i
            JOIN unnest(l_seat, l_ok, l_hold, l_owner, l_version, l_until, l_size)
                AS l(seat, ok, hold, owner, version, until, size) ON l.seat = x.seat
            WHERE l.ok AND l.hold = q.hold AND l.owner = q.owner AND l.version = q.version
              AND l.size = q.cnt AND l.until > q.now
            GROUP BY x.i
        )
        SELECT array_agg(q.i) INTO ok_req FROM q JOIN m ON m.i = q.i WHERE m.n = q.cnt;
        -- The requests sharing a seat, in arrival order: a seat released by
        -- one is no longer held for the next.
        FOREACH k IN ARRAY v_walk LOOP
            v_now := coalesce(p_nows[k], v_clock);
            v_pass := true;
            FOR j IN 1 .. p_counts[k] LOOP
                w := array_position(l_seat, p_seats[v_starts[k] + j]);
                IF w IS NULL OR NOT l_ok[w] OR l_hold[w] IS DISTINCT FROM p_holds[k]
                   OR l_owner[w] IS DISTINCT FROM p_owners[k] OR l_version[w] <> p_versions[k]
                   OR l_size[w] IS DISTINCT FROM p_counts[k] OR l_until[w] <= v_now THEN
                    v_pass := false;
                    EXIT;
                END IF;
            END LOOP;
            CONTINUE WHEN NOT v_pass;
            FOR j IN 1 .. p_counts[k] LOOP
                l_ok[array_position(l_seat, p_seats[v_starts[k] + j])] := false;
            END LOOP;
            ok_req := ok_req || k;
        END LOOP;
        IF ok_req IS NOT NULL THEN
            ok_req := ARRAY(SELECT i FROM unnest(ok_req) i ORDER BY i);
            v_done := v_done || ok_req;
            UPDATE booking.seats s
            SET state = 0, owner = NULL, order_id = NULL, payment = NULL, hold = NULL, held_until = NULL,
                deadline = NULL, renewals = 0, version = p_versions[g.i] + 1
            FROM (SELECT x.i, x.seat FROM unnest(p_seats[lo:hi], v_req[lo:hi]) AS x(seat, i)
                  WHERE x.i = ANY (ok_req)) g
            WHERE s.show = v_show AND s.seat = ANY (v_chunk_seats) AND s.seat = g.seat;
            -- One feed row for the chunk's releases, in arrival order.
            INSERT INTO booking.changes (show, stamp, kind, seats, quantity, version, holds, counts, versions)
            SELECT v_show, nextval('booking.change_stamp'), 2,
                   (SELECT array_agg(x.seat ORDER BY x.o)
                    FROM unnest(p_seats[lo:hi], v_req[lo:hi]) WITH ORDINALITY AS x(seat, i, o)
                    WHERE x.i = ANY (ok_req)),
                   sum(p_counts[q.i]), max(p_versions[q.i] + 1), array_agg(p_holds[q.i] ORDER BY q.i),
                   array_agg(p_counts[q.i] ORDER BY q.i), array_agg(p_versions[q.i] + 1 ORDER BY q.i)
            FROM unnest(ok_req) AS q(i);
        END IF;
        ok_req := NULL;
        a := b + 1;
    END LOOP;
    RETURN QUERY
    SELECT CASE WHEN d.i IS NOT NULL THEN p_versions[r.i] + 1 END, NULL::bigint, NULL::integer, NULL::bigint,
           NULL::integer[], NULL::text, CASE WHEN d.i IS NULL THEN 'READ_SEATS' END
    FROM generate_series(1, v_total) AS r(i) LEFT JOIN unnest(v_done) AS d(i) ON d.i = r.i
    ORDER BY r.i;
END $function$;

CREATE OR REPLACE FUNCTION booking.extend_seats(p_show uuid, p_owner uuid, p_hold uuid, p_version bigint, p_seats integer[], p_now bigint)
 RETURNS booking.outcome
 LANGUAGE plpgsql
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
DECLARE
    r booking.outcome;
    v_ttl bigint;
    v_max_renewals integer;
    v_now bigint;
    v_count integer;
BEGIN
    SELECT ttl_ms, max_renewals INTO v_ttl, v_max_renewals FROM booking.shows WHERE show = p_show;
    IF NOT FOUND THEN
        r.refusal := 'UNKNOWN_SHOW';
        RETURN r;
    END IF;
    -- Lock the rows the extension would change, judged by a first reading
    -- of the clock (seats in seat order, as every function locks them),
    -- then read the clock again and decide: a row that expired while this
    -- waited for its lock is refused, and no row is locked that this
    -- request will not change unless it expired during the wait.
    v_now := coalesce(p_now, booking.clock_ms());
    PERFORM 1 FROM booking.seats
    WHERE show = p_show AND seat = ANY (p_seats) AND state = 1 AND hold = p_hold AND owner = p_owner
      AND size = cardinality(p_seats) AND version = p_version AND held_until > v_now
    ORDER BY seat FOR UPDATE;
    v_now := coalesce(p_now, booking.clock_ms());
    WITH u AS (
        UPDATE booking.seats
        SET held_until = least(v_now + v_ttl, deadline), renewals = renewals + 1, version = version + 1
        WHERE show = p_show AND seat = ANY (p_seats) AND state = 1 AND hold = p_hold AND owner = p_owner
          AND size = cardinality(p_seats) AND version = p_version AND held_until > v_now
          AND renewals < v_max_renewals AND held_until < deadline
        RETURNING held_until, renewals, version
    )
    SELECT count(*), max(u.held_until), max(u.renewals), max(u.version)
    INTO v_count, r.held_until, r.renewals, r.version FROM u;
    IF v_count = 0 THEN
        r.follow_up := 'READ_SEATS';
        RETURN r;
    END IF;
    IF v_count < cardinality(p_seats) THEN
        RAISE EXCEPTION USING ERRCODE = 'BK000', MESSAGE = 'READ_SEATS';
    END IF;
    PERFORM booking.publish(p_show, 1, p_hold, NULL, NULL, p_seats, v_count, r.version);
    RETURN r;
END $function$;

CREATE OR REPLACE FUNCTION booking.finish_seats(p_show uuid, p_owner uuid, p_hold uuid, p_version bigint, p_seats integer[], p_now bigint, p_order uuid, p_payment text)
 RETURNS booking.outcome
 LANGUAGE plpgsql
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
DECLARE
    r booking.outcome;
    v_now bigint;
    v_count integer;
BEGIN
    IF p_order IS NOT NULL THEN
        -- A sale keeps a record of its order: booking.sell_seats.
        RETURN booking.sell_seats(p_show, p_owner, p_hold, p_version, p_seats, p_seats, p_now, p_order, p_payment);
    END IF;
    -- The rows the release would change, judged by a first reading of
    -- the clock, locked; then the clock again (as booking.extend_seats).
    v_now := coalesce(p_now, booking.clock_ms());
    PERFORM 1 FROM booking.seats
    WHERE show = p_show AND seat = ANY (p_seats) AND state = 1 AND hold = p_hold AND owner = p_owner
      AND size = cardinality(p_seats) AND version = p_version AND held_until > v_now
    ORDER BY seat FOR UPDATE;
    v_now := coalesce(p_now, booking.clock_ms());
    WITH u AS (
        UPDATE booking.seats
        SET state = CASE WHEN p_order IS NULL THEN 0 ELSE 2 END,
            owner = CASE WHEN p_order IS NULL THEN NULL ELSE owner END,
            order_id = p_order, payment = p_payment, hold = NULL, held_until = NULL, deadline = NULL,
            renewals = 0, version = version + 1
        WHERE show = p_show AND seat = ANY (p_seats) AND state = 1 AND hold = p_hold AND owner = p_owner
          AND size = cardinality(p_seats) AND version = p_version AND held_until > v_now
        RETURNING version
    )
    SELECT count(*), max(u.version) INTO v_count, r.version FROM u;
    IF v_count = 0 THEN
        r.follow_up := 'READ_SEATS';
        RETURN r;
    END IF;
    IF v_count < cardinality(p_seats) THEN
        RAISE EXCEPTION USING ERRCODE = 'BK000', MESSAGE = 'READ_SEATS';
    END IF;
    INSERT INTO booking.changes (show, stamp, kind, hold, order_id, seats, quantity, version)
    VALUES (p_show, nextval('booking.change_stamp'), CASE WHEN p_order IS NULL THEN 2 ELSE 4 END, p_hold,
            p_order, p_seats, v_count, r.version);
    RETURN r;
END $function$;

CREATE OR REPLACE FUNCTION booking.sell_seats(p_show uuid, p_owner uuid, p_hold uuid, p_version bigint, p_seats integer[], p_token_seats integer[], p_now bigint, p_order uuid, p_payment text)
 RETURNS booking.outcome
 LANGUAGE plpgsql
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
DECLARE
    r booking.outcome;
    v_now bigint;
    v_count integer;
BEGIN
    PERFORM pg_advisory_xact_lock(booking.order_key(p_show, p_order));
    PERFORM 1 FROM booking.sales WHERE show = p_show AND order_id = p_order;
    IF FOUND THEN
        r.follow_up := 'READ_RECORD';
        RETURN r;
    END IF;
    -- The rows the sale would change, judged by a first reading of the
    -- clock, locked (seats in seat order); then the clock again.
    v_now := coalesce(p_now, booking.clock_ms());
    PERFORM 1 FROM booking.seats
    WHERE show = p_show AND seat = ANY (p_seats) AND state = 1 AND hold = p_hold AND owner = p_owner
      AND size = cardinality(p_seats) AND version = p_version AND held_until > v_now
    ORDER BY seat FOR UPDATE;
    v_now := coalesce(p_now, booking.clock_ms());
    WITH u AS (
        UPDATE booking.seats
        SET state = 2, order_id = p_order, payment = p_payment, held_until = NULL, deadline = NULL, renewals = 0,
            version = version + 1
        WHERE show = p_show AND seat = ANY (p_seats) AND state = 1 AND hold = p_hold AND owner = p_owner
          AND size = cardinality(p_seats) AND version = p_version AND held_until > v_now
        RETURNING version
    )
    SELECT count(*), max(u.version) INTO v_count, r.version FROM u;
    IF v_count = 0 THEN
        r.follow_up := 'READ_SEATS';
        RETURN r;
    END IF;
    IF v_count < cardinality(p_seats) THEN
        RAISE EXCEPTION USING ERRCODE = 'BK000', MESSAGE = 'READ_SEATS';
    END IF;
    INSERT INTO booking.sales (show, order_id, owner, hold, token_version, token_seats, payment, version)
    VALUES (p_show, p_order, p_owner, p_hold, p_version, p_token_seats, p_payment, r.version);
    PERFORM booking.count_sold(p_show, p_owner, v_count);
    INSERT INTO booking.changes (show, stamp, kind, hold, order_id, seats, quantity, version)
    VALUES (p_show, nextval('booking.change_stamp'), 4, p_hold, p_order, p_seats, v_count, r.version);
    RETURN r;
END $function$;

CREATE OR REPLACE FUNCTION booking.sweep(p_show uuid, p_limit integer, p_now bigint)
 RETURNS TABLE(hold uuid, owner uuid, pool integer, seats integer[], quantity integer)
 LANGUAGE plpgsql
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
DECLARE
    v_now bigint := coalesce(p_now, booking.clock_ms());
    v_left integer := p_limit;
    h record;
    v_pool integer;
    v_locked integer[];
    v_freed integer[];
    v_version bigint;
    v_units bigint;
    v_done uuid[];
    v_owners uuid[];
    v_quantities integer[];
BEGIN
    FOR h IN
        SELECT x.hold, (array_agg(x.owner))[1] AS owner, array_agg(x.seat ORDER BY x.seat) AS seats
        FROM booking.seats x
        WHERE x.show = p_show AND x.state = 1 AND x.held_until <= v_now
        GROUP BY x.hold
        ORDER BY min(x.seat), x.hold
    LOOP
        EXIT WHEN v_left <= 0;
        SELECT array_agg(l.seat) INTO v_locked FROM (
            SELECT t.seat FROM booking.seats t
            WHERE t.show = p_show AND t.seat = ANY (h.seats) AND t.hold = h.hold AND t.state = 1
              AND t.held_until <= v_now
            ORDER BY t.seat LIMIT v_left FOR UPDATE SKIP LOCKED
        ) l;
        IF v_locked IS NOT NULL THEN
            WITH u AS (
                UPDATE booking.seats t
                SET state = 0, owner = NULL, hold = NULL, held_until = NULL, deadline = NULL, renewals = 0,
                    version = t.version + 1
                WHERE t.show = p_show AND t.seat = ANY (v_locked)
                RETURNING t.seat, t.version
            )
            SELECT array_agg(u.seat ORDER BY u.seat), max(u.version) INTO v_freed, v_version FROM u;
            v_left := v_left - cardinality(v_freed);
            PERFORM booking.publish(p_show, 3, h.hold, NULL, NULL, v_freed, cardinality(v_freed), v_version);
            hold := h.hold;
            owner := h.owner;
            pool := NULL;
            seats := v_freed;
            quantity := cardinality(v_freed);
            RETURN NEXT;
        END IF;
    END LOOP;

    FOR v_pool IN
        SELECT DISTINCT x.pool FROM booking.holds x
        WHERE x.show = p_show AND x.pool IS NOT NULL AND x.held_until <= v_now
        ORDER BY x.pool
    LOOP
        EXIT WHEN v_left <= 0;
        PERFORM 1 FROM booking.pools p WHERE p.show = p_show AND p.pool = v_pool FOR UPDATE SKIP LOCKED;
        CONTINUE WHEN NOT FOUND;
        WITH d AS (
            DELETE FROM booking.holds x
            WHERE x.show = p_show AND x.hold IN (
                SELECT y.hold FROM booking.holds y
                WHERE y.show = p_show AND y.pool = v_pool AND y.held_until <= v_now
                ORDER BY y.hold LIMIT v_left)
            RETURNING x.hold, x.owner, x.quantity
        )
        SELECT array_agg(d.hold ORDER BY d.hold), array_agg(d.owner ORDER BY d.hold),
               array_agg(d.quantity ORDER BY d.hold)
        INTO v_done, v_owners, v_quantities FROM d;
        CONTINUE WHEN v_done IS NULL;
        SELECT sum(q) INTO v_units FROM unnest(v_quantities) q;
        UPDATE booking.pools p SET held = p.held - v_units, version = p.version + 1
        WHERE p.show = p_show AND p.pool = v_pool RETURNING p.version INTO v_version;
        FOR i IN 1 .. cardinality(v_done) LOOP
            PERFORM booking.publish(p_show, 3, v_done[i], NULL, v_pool, NULL, v_quantities[i], v_version);
            hold := v_done[i];
            owner := v_owners[i];
            pool := v_pool;
            seats := NULL;
            quantity := v_quantities[i];
            RETURN NEXT;
        END LOOP;
        v_left := v_left - cardinality(v_done);
    END LOOP;
END $function$;

SELECT booking.route_partitions();
