-- Per-owner ticket caps: what one owner may have in a show, held and
-- bought together (`HoldPolicy::max_tickets_per_owner`).
--
-- booking.shows gains max_tickets_per_owner, read from the stored
-- specification (so shows created before keep working, with no cap).
-- booking.owner_sold keeps, per (show, owner), the units sold to the owner
-- and not refunded, for capped shows only: a sale adds the units it sold
-- (booking.sell_seats, booking.pool_op), a refund takes back the units it
-- returned (booking.regroup_seats, booking.refund_pool); releases and
-- expiry touch only the holds. Every hold function checks the cap after
-- the held limit, under the same advisory lock on (show, owner), with the
-- owner's live holds and sold units read in one snapshot
-- (booking.owner_check): a sale committing in between moves units from
-- held to sold, which leaves the sum unchanged. Refusal: TICKETS_PER_OWNER
-- (n = what the owner would have).
--
-- The functions re-created here are those of
-- 20261203000000_refusal_codes.sql, changed only as said.

-- (A cap beyond what an integer holds is no cap that matters: clamped.)
ALTER TABLE booking.shows ADD COLUMN max_tickets_per_owner integer
    GENERATED ALWAYS AS (CASE WHEN spec -> 'policy' ->> 'max_tickets_per_owner' IS NOT NULL
        THEN least((spec -> 'policy' ->> 'max_tickets_per_owner')::bigint, 2147483647)::integer END) STORED;

CREATE TABLE booking.owner_sold (
    show  uuid    NOT NULL,
    owner uuid    NOT NULL,
    sold  integer NOT NULL,
    PRIMARY KEY (show, owner)
);

-- Units sold to `p_owner` in `p_show` and not refunded (0 for a show
-- without a ticket cap: nothing is counted there).
CREATE FUNCTION booking.sold_to(p_show uuid, p_owner uuid) RETURNS integer
LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT sold FROM booking.owner_sold WHERE show = p_show AND owner = p_owner), 0)
$$;

-- The held limit, then the ticket cap, for `p_more` more units of
-- `p_owner` at `p_now`: an outcome with refusal HELD_PER_OWNER or
-- TICKETS_PER_OWNER (n = what the owner would hold, or have), or none.
-- STABLE: both counts are read in the caller's one snapshot.
CREATE FUNCTION booking.owner_check(
    p_show uuid, p_owner uuid, p_now bigint, p_more integer, p_limit integer, p_tickets integer
) RETURNS booking.outcome
LANGUAGE plpgsql STABLE AS $$
DECLARE
    r booking.outcome;
BEGIN
    r.n := booking.held_by(p_show, p_owner, p_now) + p_more;
    IF p_limit IS NOT NULL AND r.n > p_limit THEN
        r.refusal := 'HELD_PER_OWNER';
        RETURN r;
    END IF;
    IF p_tickets IS NOT NULL THEN
        r.n := r.n + booking.sold_to(p_show, p_owner);
        IF r.n > p_tickets THEN
            r.refusal := 'TICKETS_PER_OWNER';
        END IF;
    END IF;
    RETURN r;
END $$;

-- Counts `p_units` sold to `p_owner` (negative: refunded), in a capped show.
CREATE FUNCTION booking.count_sold(p_show uuid, p_owner uuid, p_units integer) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT max_tickets_per_owner FROM booking.shows WHERE show = p_show) IS NOT NULL THEN
        INSERT INTO booking.owner_sold AS o (show, owner, sold) VALUES (p_show, p_owner, p_units)
        ON CONFLICT (show, owner) DO UPDATE SET sold = o.sold + excluded.sold;
    END IF;
END $$;

-- Counts `p_units` of order `p_order` refunded, for the order's buyer.
CREATE FUNCTION booking.count_refund(p_show uuid, p_order uuid, p_units integer) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_owner uuid;
BEGIN
    SELECT owner INTO v_owner FROM booking.sales WHERE show = p_show AND order_id = p_order;
    IF FOUND THEN
        PERFORM booking.count_sold(p_show, v_owner, -p_units);
    END IF;
END $$;


-- Holds `p_seats` (ascending, unique), all or none (see
-- 20261201000005_hold_seats_without_skip_locked.sql).
CREATE OR REPLACE FUNCTION booking.hold_seats(
    p_show uuid, p_owner uuid, p_hold uuid, p_seats integer[], p_now bigint
) RETURNS booking.outcome
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
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
    IF v_limit IS NOT NULL OR v_tickets IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock(booking.owner_key(p_show, p_owner));
    END IF;
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
    WITH h AS (
        INSERT INTO booking.holds (show, hold, owner, pool, seats, quantity, held_until, deadline, renewals, version)
        VALUES (p_show, p_hold, p_owner, NULL, p_seats, v_n, v_until, v_now + v_max_hold, 0, v_max + 1)
    )
    INSERT INTO booking.changes (show, stamp, kind, hold, seats, quantity, version)
    VALUES (p_show, nextval('booking.change_stamp'), 0, p_hold, p_seats, v_n, v_max + 1);
    r.version := v_max + 1;
    r.held_until := v_until;
    r.renewals := 0;
    RETURN r;
END $$;

-- Holds `p_quantity` units of a pool.
CREATE OR REPLACE FUNCTION booking.hold_pool(
    p_show uuid, p_owner uuid, p_hold uuid, p_pool integer, p_quantity integer, p_now bigint
) RETURNS booking.outcome
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    r booking.outcome;
    v_ttl bigint;
    v_max_hold bigint;
    v_limit integer;
    v_tickets integer;
    v_now bigint;
    p record;
    v_expired bigint;
BEGIN
    SELECT ttl_ms, max_hold_ms, max_held_per_owner, max_tickets_per_owner INTO v_ttl, v_max_hold, v_limit, v_tickets
    FROM booking.shows WHERE show = p_show;
    IF NOT FOUND THEN
        r.refusal := 'UNKNOWN_SHOW';
        RETURN r;
    END IF;
    IF v_limit IS NOT NULL OR v_tickets IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock(booking.owner_key(p_show, p_owner));
    END IF;
    SELECT capacity, sold, held INTO p FROM booking.pools WHERE show = p_show AND pool = p_pool FOR UPDATE;
    IF NOT FOUND THEN
        r.refusal := 'UNKNOWN_POOL';
        RETURN r;
    END IF;
    v_now := coalesce(p_now, booking.clock_ms());
    IF v_limit IS NOT NULL OR v_tickets IS NOT NULL THEN
        r := booking.owner_check(p_show, p_owner, v_now, p_quantity, v_limit, v_tickets);
        IF r.refusal IS NOT NULL THEN
            RETURN r;
        END IF;
    END IF;
    SELECT coalesce(sum(quantity), 0) INTO v_expired FROM booking.holds
    WHERE show = p_show AND pool = p_pool AND held_until <= v_now;
    r.n := greatest(p.capacity - p.sold - (p.held - v_expired), 0);
    IF p_quantity > r.n THEN
        r.refusal := 'INSUFFICIENT_CAPACITY';
        RETURN r;
    END IF;
    IF v_expired > 0 THEN
        DELETE FROM booking.holds WHERE show = p_show AND pool = p_pool AND held_until <= v_now;
    END IF;
    UPDATE booking.pools SET held = held - v_expired + p_quantity, version = version + 1
    WHERE show = p_show AND pool = p_pool RETURNING version INTO r.version;
    r.held_until := v_now + v_ttl;
    INSERT INTO booking.holds (show, hold, owner, pool, seats, quantity, held_until, deadline, renewals, version)
    VALUES (p_show, p_hold, p_owner, p_pool, NULL, p_quantity, r.held_until, v_now + v_max_hold, 0, r.version);
    PERFORM booking.publish(p_show, 0, p_hold, NULL, p_pool, NULL, p_quantity, r.version);
    r.renewals := 0;
    RETURN r;
END $$;

-- Holds a best-available pick `p_seats` if the free seats of its region
-- `p_first..=p_last` are still `p_free` (checked under the locks of
-- `p_lock`); else PICK_AGAIN with the region's free seats now.
CREATE OR REPLACE FUNCTION booking.hold_best_seats(
    p_show uuid, p_owner uuid, p_hold uuid, p_seats integer[], p_now bigint, p_first integer, p_last integer,
    p_lock integer[], p_free integer[]
) RETURNS booking.outcome
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
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
    IF v_limit IS NOT NULL OR v_tickets IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock(booking.owner_key(p_show, p_owner));
    END IF;
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
    WITH h AS (
        INSERT INTO booking.holds (show, hold, owner, pool, seats, quantity, held_until, deadline, renewals, version)
        VALUES (p_show, p_hold, p_owner, NULL, p_seats, v_n, v_until, v_now + v_max_hold, 0, v_max + 1)
    )
    INSERT INTO booking.changes (show, stamp, kind, hold, seats, quantity, version)
    VALUES (p_show, nextval('booking.change_stamp'), 0, p_hold, p_seats, v_n, v_max + 1);
    r.version := v_max + 1;
    r.held_until := v_until;
    r.renewals := 0;
    RETURN r;
END $$;

-- Seat holds of several requests in one statement: one booking.outcome per
-- request, in order, each answered as booking.hold_seats would.
CREATE OR REPLACE FUNCTION booking.hold_seats_batch(
    p_shows uuid[], p_owners uuid[], p_holds uuid[], p_counts integer[], p_seats integer[], p_nows bigint[]
) RETURNS SETOF booking.outcome
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    v_total integer := coalesce(cardinality(p_shows), 0);
    v_clock bigint;
    v_starts integer[] := '{}';
    v_refusals text[] := array_fill(NULL::text, ARRAY[v_total]);
    v_versions bigint[] := array_fill(NULL::bigint, ARRAY[v_total]);
    v_untils bigint[] := array_fill(NULL::bigint, ARRAY[v_total]);
    v_ns bigint[] := array_fill(NULL::bigint, ARRAY[v_total]);
    v_taken text[] := array_fill(NULL::text, ARRAY[v_total]);
    v_off integer := 0;
    a integer;
    b integer;
    v_show uuid;
    v_ttl bigint;
    v_max_hold bigint;
    v_limit integer;
    v_tickets integer;
    s_owner uuid[];
    s_sold integer[];
    v_chunk_seats integer[];
    l_seat integer[];
    l_free_at bigint[];
    l_version bigint[];
    l_used boolean[];
    v_now bigint;
    v_bad integer[];
    v_max bigint;
    k integer;
    v_seat integer;
    v_held bigint;
    h_owner uuid[];
    h_until bigint[];
    h_quantity integer[];
    g_seat integer[];
    g_owner uuid[];
    g_hold uuid[];
    g_until bigint[];
    g_deadline bigint[];
    g_version bigint[];
    g_req integer[];
    r booking.outcome;
BEGIN
    FOR i IN 1 .. v_total LOOP
        v_starts := v_starts || v_off;
        v_off := v_off + p_counts[i];
    END LOOP;
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
            FOR i IN a .. b LOOP
                v_refusals[i] := 'UNKNOWN_SHOW';
            END LOOP;
            a := b + 1;
            CONTINUE;
        END IF;
        IF v_limit IS NOT NULL OR v_tickets IS NOT NULL THEN
            PERFORM pg_advisory_xact_lock(x.k) FROM (
                SELECT DISTINCT booking.owner_key(v_show, o) AS k FROM unnest(p_owners[a:b]) o ORDER BY 1
            ) x;
        END IF;
        v_chunk_seats := p_seats[v_starts[a] + 1 : v_starts[b] + p_counts[b]];
        -- A seat's "free from" time: the minimum when available, its expiry when
        -- held, never when sold or blocked.
        SELECT array_agg(l.seat ORDER BY l.seat),
               array_agg(CASE l.state WHEN 0 THEN -9223372036854775808 WHEN 1 THEN l.held_until
                                       ELSE 9223372036854775807 END
                         ORDER BY l.seat),
               array_agg(l.version ORDER BY l.seat)
        INTO l_seat, l_free_at, l_version
        FROM (
            SELECT seat, state, held_until, version FROM booking.seats
            WHERE show = v_show AND seat = ANY (v_chunk_seats)
            ORDER BY seat FOR UPDATE
        ) l;
        -- The clock is read once every row of the chunk is locked.
        v_clock := booking.clock_ms();
        IF v_limit IS NOT NULL OR v_tickets IS NOT NULL THEN
            -- The owners' holds that may be live at any of the chunk's times,
            -- and (under a ticket cap) their sold units, in one snapshot.
            SELECT x.o, x.u, x.q, y.o, y.s INTO h_owner, h_until, h_quantity, s_owner, s_sold
            FROM (
                SELECT array_agg(h.owner) AS o, array_agg(h.held_until) AS u, array_agg(h.quantity) AS q
                FROM booking.holds h
                WHERE h.show = v_show AND h.owner = ANY (p_owners[a:b])
                  AND h.held_until > (SELECT min(coalesce(n, v_clock)) FROM unnest(p_nows[a:b]) n)
            ) x, (
                SELECT array_agg(o.owner) AS o, array_agg(o.sold) AS s
                FROM booking.owner_sold o
                WHERE v_tickets IS NOT NULL AND o.show = v_show AND o.owner = ANY (p_owners[a:b])
            ) y;
        END IF;
        l_used := array_fill(false, ARRAY[coalesce(cardinality(l_seat), 0)]);
        FOR i IN a .. b LOOP
            v_now := coalesce(p_nows[i], v_clock);
            IF v_limit IS NOT NULL OR v_tickets IS NOT NULL THEN
                v_held := 0;
                FOR j IN 1 .. coalesce(cardinality(h_owner), 0) LOOP
                    IF h_owner[j] = p_owners[i] AND h_until[j] > v_now THEN
                        v_held := v_held + h_quantity[j];
                    END IF;
                END LOOP;
                -- Plus what this batch already granted the owner.
                FOR j IN 1 .. coalesce(cardinality(g_req), 0) LOOP
                    IF p_owners[g_req[j]] = p_owners[i] AND g_until[j] > v_now THEN
                        v_held := v_held + 1;
                    END IF;
                END LOOP;
                v_ns[i] := v_held + p_counts[i];
                IF v_ns[i] > v_limit THEN
                    v_refusals[i] := 'HELD_PER_OWNER';
                    CONTINUE;
                END IF;
                IF v_tickets IS NOT NULL THEN
                    k := array_position(s_owner, p_owners[i]);
                    v_ns[i] := v_ns[i] + coalesce(s_sold[k], 0);
                    IF v_ns[i] > v_tickets THEN
                        v_refusals[i] := 'TICKETS_PER_OWNER';
                        CONTINUE;
                    END IF;
                END IF;
            END IF;
            v_bad := '{}';
            v_max := 0;
            FOR j IN 1 .. p_counts[i] LOOP
                v_seat := p_seats[v_starts[i] + j];
                k := array_position(l_seat, v_seat);
                IF k IS NULL OR l_used[k] OR l_free_at[k] > v_now THEN
                    v_bad := v_bad || v_seat;
                ELSE
                    v_max := greatest(v_max, l_version[k]);
                END IF;
            END LOOP;
            IF cardinality(v_bad) > 0 THEN
                v_refusals[i] := 'SEATS_TAKEN';
                v_taken[i] := array_to_string(v_bad, ',');
                CONTINUE;
            END IF;
            FOR j IN 1 .. p_counts[i] LOOP
                v_seat := p_seats[v_starts[i] + j];
                k := array_position(l_seat, v_seat);
                l_used[k] := true;
                g_seat := g_seat || v_seat;
                g_owner := g_owner || p_owners[i];
                g_hold := g_hold || p_holds[i];
                g_until := g_until || (v_now + v_ttl);
                g_deadline := g_deadline || (v_now + v_max_hold);
                g_version := g_version || (v_max + 1);
                g_req := g_req || i;
            END LOOP;
            v_versions[i] := v_max + 1;
            v_untils[i] := v_now + v_ttl;
        END LOOP;
        IF g_seat IS NOT NULL THEN
            UPDATE booking.seats s
            SET state = 1, owner = g.owner, hold = g.hold, order_id = NULL, payment = NULL, held_until = g.until,
                deadline = g.deadline, renewals = 0, version = g.version, size = p_counts[g.req]
            FROM unnest(g_seat, g_owner, g_hold, g_until, g_deadline, g_version, g_req)
                AS g(seat, owner, hold, until, deadline, version, req)
            WHERE s.show = v_show AND s.seat = g.seat;
            INSERT INTO booking.holds (show, hold, owner, pool, seats, quantity, held_until, deadline, renewals,
                                       version)
            SELECT v_show, g.hold, g.owner, NULL, array_agg(g.seat ORDER BY g.seat), count(*), g.until, g.deadline,
                   0, g.version
            FROM unnest(g_seat, g_owner, g_hold, g_until, g_deadline, g_version)
                AS g(seat, owner, hold, until, deadline, version)
            GROUP BY g.hold, g.owner, g.until, g.deadline, g.version;
            INSERT INTO booking.changes (show, stamp, kind, hold, seats, quantity, version)
            SELECT v_show, nextval('booking.change_stamp'), 0, x.hold, x.seats, cardinality(x.seats), x.version
            FROM (
                SELECT g.hold, array_agg(g.seat ORDER BY g.seat) AS seats, g.version, min(g.req) AS req
                FROM unnest(g_seat, g_hold, g_version, g_req) AS g(seat, hold, version, req)
                GROUP BY g.hold, g.version
            ) x ORDER BY x.req;
        END IF;
        g_seat := NULL; g_owner := NULL; g_hold := NULL; g_until := NULL; g_deadline := NULL; g_version := NULL;
        g_req := NULL;
        a := b + 1;
    END LOOP;
    FOR i IN 1 .. v_total LOOP
        r := NULL;
        r.refusal := v_refusals[i];
        r.version := v_versions[i];
        r.held_until := v_untils[i];
        r.n := v_ns[i];
        IF v_refusals[i] IS NULL THEN
            r.renewals := 0;
        END IF;
        IF v_taken[i] IS NOT NULL THEN
            r.seats := string_to_array(v_taken[i], ',')::integer[];
        END IF;
        RETURN NEXT r;
    END LOOP;
END $$;

-- Sells a live seat hold, the whole hold only, to `p_order`, and records the
-- sale; an order with a record answers READ_RECORD and changes nothing.
CREATE OR REPLACE FUNCTION booking.sell_seats(
    p_show uuid, p_owner uuid, p_hold uuid, p_version bigint, p_seats integer[], p_token_seats integer[],
    p_now bigint, p_order uuid, p_payment text
) RETURNS booking.outcome
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
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
    DELETE FROM booking.holds WHERE show = p_show AND hold = p_hold;
    INSERT INTO booking.sales (show, order_id, owner, hold, token_version, token_seats, payment, version)
    VALUES (p_show, p_order, p_owner, p_hold, p_version, p_token_seats, p_payment, r.version);
    PERFORM booking.count_sold(p_show, p_owner, v_count);
    INSERT INTO booking.changes (show, stamp, kind, hold, order_id, seats, quantity, version)
    VALUES (p_show, nextval('booking.change_stamp'), 4, p_hold, p_order, p_seats, v_count, r.version);
    RETURN r;
END $$;

-- Extends (p_op 1), verifies (3: checks, changes nothing), releases (2) or
-- sells (4) a pool hold, with the model's checks in its order: for a sale
-- first the order's record (READ_RECORD), then the quantity on the token,
-- holder, owner, version, liveness, then the renewal limits.
CREATE OR REPLACE FUNCTION booking.pool_op(
    p_show uuid, p_op integer, p_owner uuid, p_hold uuid, p_version bigint, p_pool integer,
    p_quantity integer, p_now bigint, p_order uuid, p_payment text
) RETURNS booking.outcome
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    r booking.outcome;
    v_ttl bigint;
    v_max_renewals integer;
    v_now bigint;
    v_pool_version bigint;
    h record;
BEGIN
    SELECT ttl_ms, max_renewals INTO v_ttl, v_max_renewals FROM booking.shows WHERE show = p_show;
    IF NOT FOUND THEN
        r.refusal := 'UNKNOWN_SHOW';
        RETURN r;
    END IF;
    IF p_op = 4 THEN
        -- Sales of one order one at a time; an order with a record is
        -- answered from it (the client reads it), before any other check.
        PERFORM pg_advisory_xact_lock(booking.order_key(p_show, p_order));
        PERFORM 1 FROM booking.sales WHERE show = p_show AND order_id = p_order;
        IF FOUND THEN
            r.follow_up := 'READ_RECORD';
            RETURN r;
        END IF;
    END IF;
    SELECT version INTO v_pool_version FROM booking.pools WHERE show = p_show AND pool = p_pool FOR UPDATE;
    IF NOT FOUND THEN
        r.refusal := 'UNKNOWN_POOL';
        RETURN r;
    END IF;
    v_now := coalesce(p_now, booking.clock_ms());
    SELECT owner, quantity, held_until, deadline, renewals, version INTO h
    FROM booking.holds WHERE show = p_show AND hold = p_hold AND pool = p_pool;
    IF FOUND AND h.quantity <> p_quantity THEN
        r.refusal := 'TOKEN_MISMATCH';
    ELSIF NOT FOUND THEN
        r.refusal := 'HOLD_EXPIRED';
    ELSIF h.owner <> p_owner THEN
        r.refusal := 'NOT_OWNER';
    ELSIF h.version <> p_version THEN
        r.refusal := 'STALE_TOKEN';
        r.n := h.version;
    ELSIF h.held_until <= v_now THEN
        r.refusal := 'HOLD_EXPIRED';
    END IF;
    IF r.refusal IS NOT NULL THEN
        RETURN r;
    END IF;
    IF p_op = 3 THEN
        -- Verify: the hold as it stands, unchanged.
        r.version := h.version;
        r.held_until := h.held_until;
        r.renewals := h.renewals;
        RETURN r;
    END IF;
    IF p_op = 1 THEN
        IF h.renewals >= v_max_renewals THEN
            r.refusal := 'RENEWALS';
            RETURN r;
        END IF;
        IF h.held_until >= h.deadline THEN
            r.refusal := 'HOLD_LIFETIME';
            RETURN r;
        END IF;
        UPDATE booking.pools SET version = version + 1 WHERE show = p_show AND pool = p_pool
        RETURNING version INTO r.version;
        UPDATE booking.holds
        SET held_until = least(v_now + v_ttl, deadline), renewals = renewals + 1, version = r.version
        WHERE show = p_show AND hold = p_hold
        RETURNING held_until, renewals INTO r.held_until, r.renewals;
    ELSE
        DELETE FROM booking.holds WHERE show = p_show AND hold = p_hold;
        UPDATE booking.pools
        SET held = held - p_quantity, sold = sold + CASE WHEN p_op = 4 THEN p_quantity ELSE 0 END,
            version = version + 1
        WHERE show = p_show AND pool = p_pool RETURNING version INTO r.version;
        IF p_op = 4 THEN
            INSERT INTO booking.pool_sales (show, pool, hold, order_id, owner, quantity, payment)
            VALUES (p_show, p_pool, p_hold, p_order, p_owner, p_quantity, p_payment);
            INSERT INTO booking.sales (show, order_id, owner, hold, token_version, token_pool, token_quantity,
                                       payment, version)
            VALUES (p_show, p_order, p_owner, p_hold, p_version, p_pool, p_quantity, p_payment, r.version);
            PERFORM booking.count_sold(p_show, p_owner, p_quantity);
        END IF;
    END IF;
    PERFORM booking.publish(p_show, p_op, p_hold, CASE WHEN p_op = 4 THEN p_order END, p_pool, NULL,
                            p_quantity, r.version);
    RETURN r;
END $$;

-- Refunds (p_kind 5), blocks (6) or unblocks (7) a group of seats, locking
-- only the rows it would change.
CREATE OR REPLACE FUNCTION booking.regroup_seats(
    p_show uuid, p_kind integer, p_seats integer[], p_order uuid, p_now bigint
) RETURNS booking.outcome
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    r booking.outcome;
    v_now bigint;
    v_got integer[];
    v_min bigint;
    v_max bigint;
BEGIN
    -- The rows this would change, judged by a first reading of the clock,
    -- locked; then the clock again (as booking.extend_seats).
    v_now := coalesce(p_now, booking.clock_ms());
    PERFORM 1 FROM booking.seats
    WHERE show = p_show AND seat = ANY (p_seats) AND CASE p_kind
        WHEN 5 THEN state = 2 AND order_id = p_order
        WHEN 6 THEN state = 0 OR (state = 1 AND held_until <= v_now)
        ELSE state = 3 END
    ORDER BY seat FOR UPDATE;
    v_now := coalesce(p_now, booking.clock_ms());
    WITH u AS (
        UPDATE booking.seats
        SET state = CASE WHEN p_kind = 6 THEN 3 ELSE 0 END, owner = NULL, hold = NULL, order_id = NULL,
            payment = NULL, held_until = NULL, deadline = NULL, renewals = 0, version = version + 1
        WHERE show = p_show AND seat = ANY (p_seats) AND CASE p_kind
            WHEN 5 THEN state = 2 AND order_id = p_order
            WHEN 6 THEN state = 0 OR (state = 1 AND held_until <= v_now)
            ELSE state = 3 END
        RETURNING seat, version - 1 AS old
    )
    SELECT array_agg(u.seat ORDER BY u.seat), min(u.old), max(u.old) INTO v_got, v_min, v_max FROM u;
    IF v_got IS NULL THEN
        r.refusal := CASE WHEN p_kind = 5 THEN 'NOT_SOLD' ELSE 'WRONG_STATE' END;
        r.seats := p_seats;
        RETURN r;
    END IF;
    IF cardinality(v_got) < cardinality(p_seats) THEN
        IF p_kind = 5 THEN
            RAISE EXCEPTION USING ERRCODE = 'BK000', MESSAGE = 'NOT_SOLD';
        END IF;
        RAISE EXCEPTION USING ERRCODE = 'BK000', MESSAGE = 'WRONG_STATE',
            DETAIL = array_to_string(ARRAY(SELECT x FROM unnest(p_seats) x WHERE x <> ALL (v_got) ORDER BY x), ',');
    END IF;
    IF v_min <> v_max THEN
        UPDATE booking.seats SET version = v_max + 1 WHERE show = p_show AND seat = ANY (p_seats);
    END IF;
    IF p_kind = 5 THEN
        PERFORM booking.count_refund(p_show, p_order, cardinality(p_seats));
    END IF;
    PERFORM booking.publish(p_show, p_kind, NULL, p_order, NULL, p_seats, cardinality(p_seats), v_max + 1);
    r.version := v_max + 1;
    RETURN r;
END $$;

-- Returns `p_quantity` units sold to `p_order` to sale, taken from the
-- order's oldest sales first.
CREATE OR REPLACE FUNCTION booking.refund_pool(p_show uuid, p_order uuid, p_pool integer, p_quantity integer)
RETURNS booking.outcome
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    r booking.outcome;
    v_bought bigint;
    v_left bigint := p_quantity;
    v_take bigint;
    s record;
BEGIN
    PERFORM 1 FROM booking.pools WHERE show = p_show AND pool = p_pool FOR UPDATE;
    IF NOT FOUND THEN
        r.refusal := 'UNKNOWN_POOL';
        RETURN r;
    END IF;
    SELECT coalesce(sum(quantity), 0) INTO v_bought FROM booking.pool_sales
    WHERE show = p_show AND pool = p_pool AND order_id = p_order;
    IF v_bought < p_quantity THEN
        r.refusal := 'NOT_SOLD';
        RETURN r;
    END IF;
    FOR s IN
        SELECT hold, quantity FROM booking.pool_sales
        WHERE show = p_show AND pool = p_pool AND order_id = p_order ORDER BY sold_seq
    LOOP
        EXIT WHEN v_left = 0;
        v_take := least(v_left, s.quantity);
        v_left := v_left - v_take;
        IF v_take = s.quantity THEN
            DELETE FROM booking.pool_sales WHERE show = p_show AND pool = p_pool AND hold = s.hold;
        ELSE
            UPDATE booking.pool_sales SET quantity = quantity - v_take
            WHERE show = p_show AND pool = p_pool AND hold = s.hold;
        END IF;
    END LOOP;
    UPDATE booking.pools SET sold = sold - p_quantity, version = version + 1
    WHERE show = p_show AND pool = p_pool RETURNING version INTO r.version;
    PERFORM booking.count_refund(p_show, p_order, p_quantity);
    PERFORM booking.publish(p_show, 5, NULL, p_order, p_pool, NULL, p_quantity, r.version);
    RETURN r;
END $$;
