-- Batches of independent one-seat requests decided by one statement.
--
-- A coalesced hold or release batch locked its seats with a
-- `SELECT ... FOR UPDATE`, read the clock, decided every request on the
-- locked rows' values in arrays, and then wrote the granted ones with an
-- `UPDATE`, the owners' rows and the feed row with three more statements:
-- the seats were read twice, the decisions went through hash joins over
-- arrays, and a batch of 8 spent most of its time starting statements.
-- A chunk of a batch (the requests of one show) whose requests each name
-- one seat and share no seat with one another (nor, for holds when the
-- show counts owners, an owner) is decided in any order alike, so it now
-- takes one statement (data-modifying CTEs) that decides and writes every
-- request, the owners' rows and the chunk's feed row:
--
-- * A hold is decided by its `UPDATE`'s condition, which calls
--   booking.clock_ms() for each seat as its row is locked; PostgreSQL
--   evaluates it again when the row changed while the statement waited
--   for its lock. A hold that expired during the wait is expired. (A
--   refusal needs no lock: the seat was taken at the statement's start.)
-- * A hold's owner count (under the owner's advisory lock, taken before)
--   is read at the clock of the lock, before the seat rows: the owner's
--   live holds can only decrease after it while the lock is held, so a
--   refusal by the limit holds at that time and a grant at any later one.
--   The owners' listed seats are found in the same statement as their
--   live holds.
-- * A release still locks its rows first and reads the clock after: a
--   hold can expire during a wait that leaves its row unchanged, which
--   PostgreSQL does not recheck. The decision and the write are then one
--   `UPDATE` on the locked rows. The release batch now plans its joins
--   without nested loops, as the hold batch does (it deletes no hold
--   rows by key any more): a nested loop re-scanned the requests for
--   every seat.
-- * A batch of one-seat requests no longer computes each request's seat
--   offsets (request i names seat i); a chunk that needs them makes them.
-- * Chunks with multi-seat requests, or with requests sharing a seat or
--   an owner, take the path they took before: every row locked first,
--   the decisions made in arrival order.

-- Where each request's seats start in a batch's p_seats (0-based), and the
-- request of each seat of p_seats: what a batch function needs when its
-- requests name several seats, or a chunk is decided in arrival order.
CREATE FUNCTION booking.batch_offsets(p_counts integer[], OUT starts integer[], OUT reqs integer[])
 LANGUAGE sql
 IMMUTABLE
AS $function$
    SELECT (SELECT array_agg(x.start ORDER BY x.i)
            FROM (SELECT u.i, (sum(u.c) OVER (ORDER BY u.i) - u.c)::integer AS start
                  FROM unnest(p_counts) WITH ORDINALITY AS u(c, i)) x),
           (SELECT array_agg(u.i::integer ORDER BY u.i, j)
            FROM unnest(p_counts) WITH ORDINALITY AS u(c, i), generate_series(1, u.c) j)
$function$;

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
    v_lean boolean;
    v_ones boolean;
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
    -- When every request names one seat (the usual batch), request i's
    -- seat is p_seats[i]; the offsets are made when a chunk needs them.
    v_ones := p_counts = array_fill(1, ARRAY[v_total]);
    IF NOT v_ones THEN
        SELECT o.starts, o.reqs INTO v_starts, v_req FROM booking.batch_offsets(p_counts) o;
    END IF;
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
        IF v_ones THEN
            lo := a;
            hi := b;
        ELSE
            lo := v_starts[a] + 1;
            hi := v_starts[b] + p_counts[b];
        END IF;
        v_chunk_seats := p_seats[lo:hi];
        -- A chunk of one-seat requests naming distinct seats (and, when
        -- owners are counted, from distinct owners) is decided and written
        -- by one statement, each seat by the clock read as its row is
        -- locked (read again when the row changed during the wait); any
        -- other has all its rows locked first, then the clock read.
        v_lean := false;
        IF hi - lo = b - a THEN
            SELECT (SELECT count(DISTINCT x.seat) FROM unnest(v_chunk_seats) AS x(seat)) = b - a + 1
                   AND (NOT v_owned OR (SELECT count(DISTINCT o.owner) FROM unnest(p_owners[a:b]) AS o(owner)) = b - a + 1)
            INTO v_lean;
        END IF;
        IF NOT v_lean THEN
            IF v_req IS NULL THEN
                SELECT o.starts, o.reqs INTO v_starts, v_req FROM booking.batch_offsets(p_counts) o;
            END IF;
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
        END IF;
        v_clock := booking.clock_ms();
        IF v_owned THEN
            -- What the chunk's owners hold: pool holds, and the seats they
            -- hold (found through their rows), each with its expiry.
            SELECT x.o, x.u, x.q INTO h_owner, h_until, h_quantity
            FROM (
                SELECT array_agg(y.owner) AS o, array_agg(y.held_until) AS u, array_agg(y.quantity) AS q
                FROM (
                    SELECT h.owner, h.held_until, h.quantity FROM booking.holds h
                    WHERE h.show = v_show AND h.owner = ANY (p_owners[a:b])
                    UNION ALL
                    SELECT s.owner, s.held_until, 1 FROM booking.seats s
                    WHERE s.show = v_show AND s.state = 1 AND s.owner = ANY (p_owners[a:b])
                      AND s.seat = ANY (ARRAY(SELECT m.seat FROM booking.owner_seats o, unnest(o.seats) AS m(seat)
                                              WHERE o.show = v_show AND o.owner = ANY (p_owners[a:b])))
                ) y
            ) x;
        END IF;
        IF v_lean THEN
            -- An owner's live holds can only decrease while its lock is held:
            -- its count at v_clock holds for a refusal then and a grant later.
            WITH q AS MATERIALIZED (
                SELECT r.*, CASE WHEN r.held > v_limit THEN 'HELD_PER_OWNER'
                                 WHEN r.held + r.sold > v_tickets THEN 'TICKETS_PER_OWNER' END AS refusal
                FROM (
                    SELECT (a + u.k - 1)::integer AS i, u.seat, u.owner, u.hold, u.now,
                           CASE WHEN v_owned THEN
                               (SELECT coalesce(sum(h.q), 0) FROM unnest(h_owner, h_until, h_quantity) AS h(o, t, q)
                                WHERE h.o = u.owner AND h.t > coalesce(u.now, v_clock)) + 1 END AS held,
                           CASE WHEN v_tickets IS NOT NULL THEN
                               coalesce((SELECT o.sold FROM booking.owner_sold o
                                         WHERE o.show = v_show AND o.owner = u.owner), 0) ELSE 0 END AS sold
                    FROM unnest(p_seats[lo:hi], p_owners[a:b], p_holds[a:b], p_nows[a:b])
                        WITH ORDINALITY AS u(seat, owner, hold, now, k)
                ) r
            ), g AS (
                UPDATE booking.seats s
                SET state = 1, owner = q.owner, hold = q.hold, order_id = NULL, payment = NULL,
                    held_until = coalesce(q.now, booking.clock_ms()) + v_ttl,
                    deadline = coalesce(q.now, booking.clock_ms()) + v_max_hold,
                    renewals = 0, version = s.version + 1, size = 1
                FROM q
                WHERE s.show = v_show AND s.seat = ANY (v_chunk_seats) AND s.seat = q.seat AND q.refusal IS NULL
                  AND (s.state = 0 OR (s.state = 1 AND s.held_until <= coalesce(q.now, booking.clock_ms())))
                RETURNING q.i, q.seat, q.owner, q.hold, s.version, s.held_until
            ), own AS (
                -- Each owner's row: the seats it still holds, and the new one
                -- (a seat granted here to another owner may stay listed: a
                -- listed seat counts only while its row names the owner).
                INSERT INTO booking.owner_seats AS o (show, owner, seats)
                SELECT v_show, g.owner, array_agg(g.seat) FROM g GROUP BY g.owner
                ON CONFLICT (show, owner) DO UPDATE SET seats = ARRAY(
                    SELECT s.seat FROM booking.seats s
                    WHERE s.show = o.show AND s.seat = ANY (o.seats) AND s.seat <> ALL (excluded.seats)
                      AND s.state = 1 AND s.owner = o.owner) || excluded.seats
            ), feed AS (
                -- One feed row for the chunk's grants, in arrival order.
                INSERT INTO booking.changes (show, stamp, kind, seats, quantity, version, holds, counts, versions)
                SELECT v_show, nextval('booking.change_stamp'), 0, array_agg(g.seat ORDER BY g.i), count(*),
                       max(g.version), array_agg(g.hold ORDER BY g.i), array_agg(1 ORDER BY g.i),
                       array_agg(g.version ORDER BY g.i)
                FROM g HAVING count(*) > 0
            )
            SELECT d_req || array_agg(q.i),
                   d_refusal || array_agg(CASE WHEN q.refusal IS NOT NULL THEN q.refusal
                                               WHEN g.i IS NULL THEN 'SEATS_TAKEN' END),
                   d_n || array_agg(CASE WHEN o_n THEN NULL WHEN q.held > v_limit OR v_tickets IS NULL THEN q.held
                                         ELSE q.held + q.sold END),
                   d_version || array_agg(g.version),
                   d_until || array_agg(g.held_until),
                   d_taken || array_agg(CASE WHEN q.refusal IS NULL AND g.i IS NULL THEN q.seat::text END)
            INTO d_req, d_refusal, d_n, d_version, d_until, d_taken
            FROM q LEFT JOIN g ON g.i = q.i, (SELECT NOT v_owned AS o_n) f;
        ELSE
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
            END IF;
        END IF;
        IF g_req IS NOT NULL THEN
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
 SET enable_nestloop TO 'off'
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
    v_ones boolean;
    v_lean boolean;
    ok_req integer[];
    v_pass boolean;
    k integer;
    w integer;
BEGIN
    -- When every request names one seat (the usual batch), request i's
    -- seat is p_seats[i]; the offsets are made when a chunk needs them.
    v_ones := p_counts = array_fill(1, ARRAY[v_total]);
    IF NOT v_ones THEN
        SELECT o.starts, o.reqs INTO v_starts, v_req FROM booking.batch_offsets(p_counts) o;
    END IF;
    a := 1;
    WHILE a <= v_total LOOP
        v_show := p_shows[a];
        b := a;
        WHILE b < v_total AND p_shows[b + 1] = v_show LOOP
            b := b + 1;
        END LOOP;
        IF v_ones THEN
            lo := a;
            hi := b;
        ELSE
            lo := v_starts[a] + 1;
            hi := v_starts[b] + p_counts[b];
        END IF;
        v_chunk_seats := p_seats[lo:hi];
        v_lean := false;
        IF hi - lo = b - a THEN
            SELECT (SELECT count(DISTINCT x.seat) FROM unnest(v_chunk_seats) AS x(seat)) = b - a + 1 INTO v_lean;
        END IF;
        IF v_lean THEN
            -- One-seat requests naming distinct seats: the rows are locked,
            -- the clock read, and one statement decides and writes every
            -- request (its seat held live under its hold, owner, version and
            -- size) and the chunk's feed row.
            PERFORM 1 FROM (
                SELECT seat FROM booking.seats WHERE show = v_show AND seat = ANY (v_chunk_seats)
                ORDER BY seat FOR UPDATE
            ) l;
            v_clock := booking.clock_ms();
            WITH q AS (
                SELECT (a + u.k - 1)::integer AS i, u.seat, u.owner, u.hold, u.version, coalesce(u.now, v_clock) AS now
                FROM unnest(p_seats[lo:hi], p_owners[a:b], p_holds[a:b], p_versions[a:b], p_nows[a:b])
                    WITH ORDINALITY AS u(seat, owner, hold, version, now, k)
            ), g AS (
                UPDATE booking.seats s
                SET state = 0, owner = NULL, order_id = NULL, payment = NULL, hold = NULL, held_until = NULL,
                    deadline = NULL, renewals = 0, version = q.version + 1
                FROM q
                WHERE s.show = v_show AND s.seat = ANY (v_chunk_seats) AND s.seat = q.seat
                  AND s.state = 1 AND s.hold = q.hold AND s.owner = q.owner AND s.version = q.version
                  AND s.size = 1 AND s.held_until > q.now
                RETURNING q.i, q.seat, q.hold, q.version + 1 AS version
            ), feed AS (
                INSERT INTO booking.changes (show, stamp, kind, seats, quantity, version, holds, counts, versions)
                SELECT v_show, nextval('booking.change_stamp'), 2, array_agg(g.seat ORDER BY g.i), count(*),
                       max(g.version), array_agg(g.hold ORDER BY g.i), array_agg(1 ORDER BY g.i),
                       array_agg(g.version ORDER BY g.i)
                FROM g HAVING count(*) > 0
            )
            SELECT v_done || coalesce(array_agg(g.i ORDER BY g.i), '{}') INTO v_done FROM g;
            a := b + 1;
            CONTINUE;
        END IF;
        IF v_req IS NULL THEN
            SELECT o.starts, o.reqs INTO v_starts, v_req FROM booking.batch_offsets(p_counts) o;
        END IF;
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

SELECT booking.route_partitions();
