-- One change-feed row per coalesced batch.
--
-- The coalesced batches (booking.hold_seats_batch and
-- booking.release_seats_batch) wrote one booking.changes row per granted
-- request: a heap row, two index entries and a sequence value each, about
-- 14% of a coalesced hold+release cycle's server instructions at 64
-- requests a batch. They now write one row per batch and show, holding the
-- batch's changes in arrival order:
--
--   holds     the hold of each change,
--   counts    how many seats each change has,
--   versions  each change's version,
--   seats     every change's seats, one change after another,
--
-- with `hold` NULL, `quantity` the number of seats and `version` the
-- highest. A row written one change at a time leaves the three arrays
-- NULL. booking.change_events_of expands a row into its changes (one for
-- an ordinary row), numbered from 1 in arrival order; the feed reads
-- through it, so subscribers get the same changes, in the same order, as
-- before. The changes of one row share its stamp and its transaction; the
-- reader pages by whole rows.

ALTER TABLE booking.changes
    ADD COLUMN holds uuid[],
    ADD COLUMN counts integer[],
    ADD COLUMN versions bigint[];

-- The changes one booking.changes row holds, in order (`k` from 1).
CREATE FUNCTION booking.change_events_of(
    p_hold uuid, p_seats integer[], p_quantity integer, p_version bigint,
    p_holds uuid[], p_counts integer[], p_versions bigint[]
) RETURNS TABLE (k integer, hold uuid, seats integer[], quantity integer, version bigint)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT 1, p_hold, p_seats, p_quantity, p_version WHERE p_holds IS NULL
    UNION ALL
    SELECT e.k::integer, e.hold, p_seats[e.start + 1 : e.start + e.cnt], e.cnt, e.version
    FROM (
        SELECT u.k, u.hold, u.cnt, u.version, (sum(u.cnt) OVER (ORDER BY u.k) - u.cnt)::integer AS start
        FROM unnest(p_holds, p_counts, p_versions) WITH ORDINALITY AS u(hold, cnt, version, k)
    ) e
    WHERE p_holds IS NOT NULL
$$;

-- Every change, one row each, in feed order (stamp, then `k`).
CREATE VIEW booking.change_events AS
SELECT c.show, c.stamp, e.k, c.kind, e.hold, c.order_id, c.pool, e.seats, e.quantity, e.version, c.at, c.xid
FROM booking.changes c,
     LATERAL booking.change_events_of(c.hold, c.seats, c.quantity, c.version, c.holds, c.counts, c.versions) e;

-- As before (see feed_commit_order), but a page is `p_limit` rows of
-- booking.changes, each expanded into its changes: a batch's changes come
-- on one page, and the next page starts after the row's stamp.
CREATE OR REPLACE FUNCTION booking.feed_read(
    p_shows uuid[], p_from text, p_upto text, p_after bigint, p_limit integer
) RETURNS TABLE (
    kind smallint, show uuid, stamp bigint, xid bigint, hold uuid, order_id uuid, pool integer,
    seats integer[], quantity integer, version bigint, upto text
)
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    v_from pg_snapshot := p_from::pg_snapshot;
    v_upto pg_snapshot := coalesce(p_upto::pg_snapshot, pg_current_snapshot());
BEGIN
    RETURN QUERY SELECT (-1)::smallint, NULL::uuid, NULL::bigint, NULL::bigint, NULL::uuid, NULL::uuid,
        NULL::integer, NULL::integer[], NULL::integer, NULL::bigint, v_upto::text;
    RETURN QUERY
    SELECT (-2)::smallint, p.show, NULL::bigint, p.pruned_by::text::bigint, NULL::uuid, NULL::uuid,
           NULL::integer, NULL::integer[], NULL::integer, NULL::bigint, NULL::text
    FROM booking.feed_pruned p
    WHERE p.show = ANY (p_shows) AND NOT pg_visible_in_snapshot(p.pruned_by, v_from)
      AND p.max_xid >= pg_snapshot_xmin(v_from);
    RETURN QUERY
    SELECT c.kind, c.show, c.stamp, c.xid::text::bigint, e.hold, c.order_id, c.pool, e.seats, e.quantity,
           e.version, NULL::text
    FROM (
        SELECT * FROM booking.changes r
        WHERE r.show = ANY (p_shows) AND r.xid >= pg_snapshot_xmin(v_from)
          AND NOT pg_visible_in_snapshot(r.xid, v_from) AND pg_visible_in_snapshot(r.xid, v_upto)
          AND r.stamp > p_after
        ORDER BY r.stamp
        LIMIT p_limit
    ) c, LATERAL booking.change_events_of(c.hold, c.seats, c.quantity, c.version, c.holds, c.counts, c.versions) e
    ORDER BY c.stamp, e.k;
END $$;

-- As before (see feed_commit_order), counting changes rather than rows.
CREATE OR REPLACE FUNCTION booking.prune_changes(p_age_secs double precision) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_deleted bigint;
BEGIN
    WITH d AS (
        DELETE FROM booking.changes WHERE at < now() - make_interval(secs => p_age_secs)
        RETURNING show, xid, coalesce(cardinality(holds), 1) AS n
    ),
    s AS (SELECT d.show, max(d.xid) AS max_xid, sum(d.n) AS n FROM d GROUP BY d.show),
    l AS (
        INSERT INTO booking.feed_pruned AS f (show, max_xid, pruned_by)
        SELECT s.show, s.max_xid, pg_current_xact_id() FROM s WHERE s.max_xid IS NOT NULL ORDER BY s.show
        ON CONFLICT (show) DO UPDATE
        SET max_xid = greatest(f.max_xid, excluded.max_xid), pruned_by = excluded.pruned_by
    )
    SELECT coalesce(sum(s.n), 0)::bigint INTO v_deleted FROM s;
    RETURN v_deleted;
END $$;

-- The batches as in set_based_batches (the hold batch without nested
-- loops, see hold_batch_without_nested_loops), each writing one feed row.
-- Their aggregates that build arrays read together (the locked rows'
-- seats, states and versions; the decisions; the grants) no longer sort
-- their input: arrays aggregated by one query over the same rows stay
-- aligned with one another whatever the order, and the arrays are read by
-- position or joined by request, never in order. On PostgreSQL 15 each
-- `array_agg(... ORDER BY ...)` sets up and runs a sort of its own: about
-- 4% of a batch's server instructions, at 1 request a batch as at 64. The
-- arrays read in order keep theirs (request offsets, the requests to walk,
-- the seats a refusal names, the feed row).

-- Seat holds of several requests in one statement: one booking.outcome per
-- request, in order, each answered as booking.hold_seats would.
CREATE OR REPLACE FUNCTION booking.hold_seats_batch(
    p_shows uuid[], p_owners uuid[], p_holds uuid[], p_counts integer[], p_seats integer[], p_nows bigint[]
) RETURNS SETOF booking.outcome
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan SET jit = off SET enable_nestloop = off
AS $$
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
        IF v_owned THEN
            PERFORM pg_advisory_xact_lock(x.k) FROM (
                SELECT DISTINCT booking.owner_key(v_show, o) AS k FROM unnest(p_owners[a:b]) o ORDER BY 1
            ) x;
        END IF;
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
        -- Every other request at once: the owner's live holds (and sold
        -- units) at the request's time, then its seats.
        WITH q AS MATERIALIZED (
            -- (Each owner's count once per request: the CTE is computed once.)
            SELECT r.i, r.owner, r.cnt, r.now,
                   CASE WHEN v_owned THEN
                       (SELECT coalesce(sum(h.quantity), 0) FROM booking.holds h
                        WHERE h.show = v_show AND h.owner = r.owner AND h.held_until > r.now) + r.cnt END AS held,
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
                SELECT x.o, x.u, x.q, y.o, y.s INTO h_owner, h_until, h_quantity, s_owner, s_sold
                FROM (
                    SELECT array_agg(h.owner) AS o, array_agg(h.held_until) AS u, array_agg(h.quantity) AS q
                    FROM booking.holds h
                    WHERE h.show = v_show AND h.owner IN (SELECT p_owners[i] FROM unnest(v_walk) i)
                      AND h.held_until > (SELECT min(coalesce(p_nows[i], v_clock)) FROM unnest(v_walk) i)
                ) x, (
                    SELECT array_agg(o.owner) AS o, array_agg(o.sold) AS s
                    FROM booking.owner_sold o
                    WHERE v_tickets IS NOT NULL AND o.show = v_show
                      AND o.owner IN (SELECT p_owners[i] FROM unnest(v_walk) i)
                ) y;
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
            INSERT INTO booking.holds (show, hold, owner, pool, seats, quantity, held_until, deadline, renewals,
                                       version)
            SELECT v_show, p_holds[q.i], p_owners[q.i], NULL, p_seats[v_starts[q.i] + 1 : v_starts[q.i] + p_counts[q.i]],
                   p_counts[q.i], q.until, q.deadline, 0, q.version
            FROM unnest(g_req, g_version, g_until, g_deadline) AS q(i, version, until, deadline);
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
        a := b + 1;
    END LOOP;
    RETURN QUERY
    SELECT d.version, d.until, CASE WHEN d.i IS NOT NULL AND d.refusal IS NULL THEN 0 END, d.n,
           string_to_array(d.taken, ',')::integer[], d.refusal, NULL::text
    FROM generate_series(1, v_total) AS r(i)
    LEFT JOIN unnest(d_req, d_refusal, d_n, d_version, d_until, d_taken) AS d(i, refusal, n, version, until, taken)
        ON d.i = r.i
    ORDER BY r.i;
END $$;

-- Seat releases of several requests in one statement: one booking.outcome
-- per request, in order: done, or READ_SEATS (the client asks alone).
CREATE OR REPLACE FUNCTION booking.release_seats_batch(
    p_shows uuid[], p_owners uuid[], p_holds uuid[], p_versions bigint[], p_counts integer[], p_seats integer[],
    p_nows bigint[]
) RETURNS SETOF booking.outcome
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan SET jit = off AS $$
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
    v_trim integer[];
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
            -- Hold rows whose every seat was released go; a request naming
            -- only some of a hold's seats trims the row instead.
            WITH d AS (
                DELETE FROM booking.holds h
                USING unnest(ok_req) AS q(i)
                WHERE h.show = v_show AND h.hold = p_holds[q.i] AND h.quantity = p_counts[q.i]
                RETURNING h.hold
            )
            SELECT coalesce(array_agg(q.i), '{}') INTO v_trim
            FROM unnest(ok_req) AS q(i) WHERE p_holds[q.i] NOT IN (SELECT d.hold FROM d);
            FOREACH k IN ARRAY v_trim LOOP
                PERFORM booking.drop_hold_seats(v_show, p_holds[k], p_seats[v_starts[k] + 1 : v_starts[k] + p_counts[k]]);
            END LOOP;
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
END $$;

SELECT booking.route_partitions();
