-- Time is read after the rows are locked.
--
-- The functions below read the clock (booking.clock_ms(), when no clock is
-- injected) before the statement that waits for the rows' locks. A request
-- that queued behind another transaction's locks then judged the rows by
-- the time it started: a sale or an extension could act on a hold that
-- expired while it waited, and the batches read one clock for all their
-- shows before locking any row. Each now locks its rows first (seats in
-- seat order, pools by their row), reads the clock, and only then decides.
--
-- booking.hold_seats keeps reading the clock before its UPDATE waits: an
-- earlier time can only refuse a seat that expired during the wait (the
-- caller is told it is taken), never grant one that is not free; its one
-- statement on the hot path stays one statement.
--
-- The batch functions also no longer rely on their requests being sorted by
-- first seat (only by show): they decide a show's requests in the order
-- given, which the client keeps as the order of arrival.

CREATE OR REPLACE FUNCTION booking.extend_seats(
    p_show uuid, p_owner uuid, p_hold uuid, p_version bigint, p_seats integer[], p_now bigint
) RETURNS booking.outcome
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    r booking.outcome;
    v_ttl bigint;
    v_max_renewals integer;
    v_now bigint;
    v_count integer;
BEGIN
    SELECT ttl_ms, max_renewals INTO v_ttl, v_max_renewals FROM booking.shows WHERE show = p_show;
    IF NOT FOUND THEN
        r.code := 1;
        RETURN r;
    END IF;
    -- Seats in seat order, as every function locks them.
    PERFORM 1 FROM booking.seats WHERE show = p_show AND seat = ANY (p_seats) ORDER BY seat FOR UPDATE;
    v_now := coalesce(p_now, booking.clock_ms());
    WITH u AS (
        UPDATE booking.seats
        SET held_until = least(v_now + v_ttl, deadline), renewals = renewals + 1, version = version + 1
        WHERE show = p_show AND seat = ANY (p_seats) AND state = 1 AND hold = p_hold AND owner = p_owner
          AND version = p_version AND held_until > v_now AND renewals < v_max_renewals AND held_until < deadline
        RETURNING held_until, renewals, version
    )
    SELECT count(*), max(u.held_until), max(u.renewals), max(u.version)
    INTO v_count, r.held_until, r.renewals, r.version FROM u;
    IF v_count = 0 THEN
        r.code := 13;
        RETURN r;
    END IF;
    IF v_count < cardinality(p_seats) THEN
        RAISE EXCEPTION USING ERRCODE = 'BK412', MESSAGE = 'hold changed';
    END IF;
    -- A token may name only some of the hold's seats: the row then keeps
    -- the latest expiry, so the per-owner count never undercounts.
    UPDATE booking.holds
    SET held_until = greatest(held_until, r.held_until),
        renewals = r.renewals, version = r.version
    WHERE show = p_show AND hold = p_hold;
    PERFORM booking.publish(p_show, 1, p_hold, NULL, NULL, p_seats, v_count, r.version);
    r.code := 0;
    RETURN r;
END $$;

CREATE OR REPLACE FUNCTION booking.finish_seats(
    p_show uuid, p_owner uuid, p_hold uuid, p_version bigint, p_seats integer[], p_now bigint,
    p_order uuid, p_payment text
) RETURNS booking.outcome
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    r booking.outcome;
    v_now bigint;
    v_count integer;
BEGIN
    -- Seats in seat order, as every function locks them.
    PERFORM 1 FROM booking.seats WHERE show = p_show AND seat = ANY (p_seats) ORDER BY seat FOR UPDATE;
    v_now := coalesce(p_now, booking.clock_ms());
    WITH u AS (
        UPDATE booking.seats
        SET state = CASE WHEN p_order IS NULL THEN 0 ELSE 2 END,
            owner = CASE WHEN p_order IS NULL THEN NULL ELSE owner END,
            order_id = p_order, payment = p_payment, hold = NULL, held_until = NULL, deadline = NULL,
            renewals = 0, version = version + 1
        WHERE show = p_show AND seat = ANY (p_seats) AND state = 1 AND hold = p_hold AND owner = p_owner
          AND version = p_version AND held_until > v_now
        RETURNING version
    )
    SELECT count(*), max(u.version) INTO v_count, r.version FROM u;
    IF v_count = 0 THEN
        r.code := 13;
        RETURN r;
    END IF;
    IF v_count < cardinality(p_seats) THEN
        RAISE EXCEPTION USING ERRCODE = 'BK412', MESSAGE = 'hold changed';
    END IF;
    DELETE FROM booking.holds WHERE show = p_show AND hold = p_hold AND seats <@ p_seats;
    IF NOT FOUND THEN
        PERFORM booking.drop_hold_seats(p_show, p_hold, p_seats);
    END IF;
    INSERT INTO booking.changes (show, stamp, kind, hold, order_id, seats, quantity, version)
    VALUES (p_show, nextval('booking.change_stamp'), CASE WHEN p_order IS NULL THEN 2 ELSE 4 END, p_hold,
            p_order, p_seats, v_count, r.version);
    r.code := 0;
    RETURN r;
END $$;

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
    -- Seats in seat order, as every function locks them.
    PERFORM 1 FROM booking.seats WHERE show = p_show AND seat = ANY (p_seats) ORDER BY seat FOR UPDATE;
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
        r.code := CASE WHEN p_kind = 5 THEN 11 ELSE 12 END;
        r.seats := p_seats;
        RETURN r;
    END IF;
    IF cardinality(v_got) < cardinality(p_seats) THEN
        IF p_kind = 5 THEN
            RAISE EXCEPTION USING ERRCODE = 'BK404', MESSAGE = 'not sold to the order';
        END IF;
        RAISE EXCEPTION USING ERRCODE = 'BK422', MESSAGE = 'seats in the wrong state',
            DETAIL = array_to_string(ARRAY(SELECT x FROM unnest(p_seats) x WHERE x <> ALL (v_got) ORDER BY x), ',');
    END IF;
    IF v_min <> v_max THEN
        UPDATE booking.seats SET version = v_max + 1 WHERE show = p_show AND seat = ANY (p_seats);
    END IF;
    PERFORM booking.publish(p_show, p_kind, NULL, p_order, NULL, p_seats, cardinality(p_seats), v_max + 1);
    r.code := 0;
    r.version := v_max + 1;
    RETURN r;
END $$;

CREATE OR REPLACE FUNCTION booking.hold_pool(
    p_show uuid, p_owner uuid, p_hold uuid, p_pool integer, p_quantity integer, p_now bigint
) RETURNS booking.outcome
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    r booking.outcome;
    v_ttl bigint;
    v_max_hold bigint;
    v_limit integer;
    v_now bigint;
    p record;
    v_expired bigint;
BEGIN
    SELECT ttl_ms, max_hold_ms, max_held_per_owner INTO v_ttl, v_max_hold, v_limit
    FROM booking.shows WHERE show = p_show;
    IF NOT FOUND THEN
        r.code := 1;
        RETURN r;
    END IF;
    IF v_limit IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock(booking.owner_key(p_show, p_owner));
    END IF;
    SELECT capacity, sold, held INTO p FROM booking.pools WHERE show = p_show AND pool = p_pool FOR UPDATE;
    IF NOT FOUND THEN
        r.code := 15;
        RETURN r;
    END IF;
    v_now := coalesce(p_now, booking.clock_ms());
    IF v_limit IS NOT NULL THEN
        r.n := booking.held_by(p_show, p_owner, v_now) + p_quantity;
        IF r.n > v_limit THEN
            r.code := 2;
            RETURN r;
        END IF;
    END IF;
    SELECT coalesce(sum(quantity), 0) INTO v_expired FROM booking.holds
    WHERE show = p_show AND pool = p_pool AND held_until <= v_now;
    r.n := greatest(p.capacity - p.sold - (p.held - v_expired), 0);
    IF p_quantity > r.n THEN
        r.code := 4;
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
    r.code := 0;
    r.renewals := 0;
    RETURN r;
END $$;

CREATE OR REPLACE FUNCTION booking.hold_seats_batch(
    p_shows uuid[], p_owners uuid[], p_holds uuid[], p_counts integer[], p_seats integer[], p_nows bigint[]
) RETURNS SETOF booking.outcome
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    v_total integer := coalesce(cardinality(p_shows), 0);
    v_clock bigint;
    v_starts integer[] := '{}';
    v_codes integer[] := array_fill(0, ARRAY[v_total]);
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
        SELECT ttl_ms, max_hold_ms, max_held_per_owner INTO v_ttl, v_max_hold, v_limit
        FROM booking.shows WHERE show = v_show;
        IF NOT FOUND THEN
            FOR i IN a .. b LOOP
                v_codes[i] := 1;
            END LOOP;
            a := b + 1;
            CONTINUE;
        END IF;
        IF v_limit IS NOT NULL THEN
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
        IF v_limit IS NOT NULL THEN
            -- The owners' holds that may be live at any of the chunk's times.
            SELECT array_agg(h.owner), array_agg(h.held_until), array_agg(h.quantity)
            INTO h_owner, h_until, h_quantity
            FROM booking.holds h
            WHERE h.show = v_show AND h.owner = ANY (p_owners[a:b])
              AND h.held_until > (SELECT min(coalesce(n, v_clock)) FROM unnest(p_nows[a:b]) n);
        END IF;
        l_used := array_fill(false, ARRAY[coalesce(cardinality(l_seat), 0)]);
        FOR i IN a .. b LOOP
            v_now := coalesce(p_nows[i], v_clock);
            IF v_limit IS NOT NULL THEN
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
                    v_codes[i] := 2;
                    CONTINUE;
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
                v_codes[i] := 3;
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
                deadline = g.deadline, renewals = 0, version = g.version
            FROM unnest(g_seat, g_owner, g_hold, g_until, g_deadline, g_version)
                AS g(seat, owner, hold, until, deadline, version)
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
        r.code := v_codes[i];
        r.version := v_versions[i];
        r.held_until := v_untils[i];
        r.n := v_ns[i];
        IF v_codes[i] = 0 THEN
            r.renewals := 0;
        END IF;
        IF v_taken[i] IS NOT NULL THEN
            r.seats := string_to_array(v_taken[i], ',')::integer[];
        END IF;
        RETURN NEXT r;
    END LOOP;
END $$;

CREATE OR REPLACE FUNCTION booking.release_seats_batch(
    p_shows uuid[], p_owners uuid[], p_holds uuid[], p_versions bigint[], p_counts integer[], p_seats integer[],
    p_nows bigint[]
) RETURNS SETOF booking.outcome
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    v_total integer := coalesce(cardinality(p_shows), 0);
    v_clock bigint;
    v_starts integer[] := '{}';
    v_codes integer[] := array_fill(13, ARRAY[v_total]);
    v_off integer := 0;
    a integer;
    b integer;
    v_show uuid;
    v_now bigint;
    v_chunk_seats integer[];
    l_seat integer[];
    l_ok boolean[];
    l_hold uuid[];
    l_owner uuid[];
    l_version bigint[];
    l_until bigint[];
    k integer;
    v_pass boolean;
    g_seat integer[];
    g_version bigint[];
    ok_req integer[];
    v_gone uuid[];
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
        v_chunk_seats := p_seats[v_starts[a] + 1 : v_starts[b] + p_counts[b]];
        SELECT array_agg(l.seat ORDER BY l.seat), array_agg(l.state = 1 ORDER BY l.seat),
               array_agg(l.hold ORDER BY l.seat), array_agg(l.owner ORDER BY l.seat),
               array_agg(l.version ORDER BY l.seat), array_agg(l.held_until ORDER BY l.seat)
        INTO l_seat, l_ok, l_hold, l_owner, l_version, l_until
        FROM (
            SELECT seat, state, hold, owner, version, held_until FROM booking.seats
            WHERE show = v_show AND seat = ANY (v_chunk_seats)
            ORDER BY seat FOR UPDATE
        ) l;
        -- The clock is read once every row of the chunk is locked.
        v_clock := booking.clock_ms();
        FOR i IN a .. b LOOP
            v_now := coalesce(p_nows[i], v_clock);
            v_pass := true;
            FOR j IN 1 .. p_counts[i] LOOP
                k := array_position(l_seat, p_seats[v_starts[i] + j]);
                IF k IS NULL OR NOT l_ok[k] OR l_hold[k] IS DISTINCT FROM p_holds[i]
                   OR l_owner[k] IS DISTINCT FROM p_owners[i] OR l_version[k] <> p_versions[i]
                   OR l_until[k] <= v_now THEN
                    v_pass := false;
                    EXIT;
                END IF;
            END LOOP;
            CONTINUE WHEN NOT v_pass;
            FOR j IN 1 .. p_counts[i] LOOP
                k := array_position(l_seat, p_seats[v_starts[i] + j]);
                l_ok[k] := false;
                g_seat := g_seat || p_seats[v_starts[i] + j];
                g_version := g_version || (p_versions[i] + 1);
            END LOOP;
            v_codes[i] := 0;
            ok_req := ok_req || i;
        END LOOP;
        IF ok_req IS NOT NULL THEN
            UPDATE booking.seats s
            SET state = 0, owner = NULL, order_id = NULL, payment = NULL, hold = NULL, held_until = NULL,
                deadline = NULL, renewals = 0, version = g.version
            FROM unnest(g_seat, g_version) AS g(seat, version)
            WHERE s.show = v_show AND s.seat = g.seat;
            -- Hold rows whose every seat was released go; a request naming
            -- only some of a hold's seats trims the row instead.
            WITH d AS (
                DELETE FROM booking.holds h
                USING unnest(p_holds[a:b], p_counts[a:b], v_codes[a:b]) AS q(hold, cnt, code)
                WHERE q.code = 0 AND h.show = v_show AND h.hold = q.hold AND h.quantity = q.cnt
                RETURNING h.hold
            )
            SELECT array_agg(d.hold) INTO v_gone FROM d;
            FOREACH k IN ARRAY ok_req LOOP
                IF NOT (p_holds[k] = ANY (coalesce(v_gone, '{}'))) THEN
                    PERFORM booking.drop_hold_seats(v_show, p_holds[k], p_seats[v_starts[k] + 1 : v_starts[k] + p_counts[k]]);
                END IF;
            END LOOP;
            INSERT INTO booking.changes (show, stamp, kind, hold, seats, quantity, version)
            SELECT v_show, nextval('booking.change_stamp'), 2, p_holds[q.i],
                   p_seats[v_starts[q.i] + 1 : v_starts[q.i] + p_counts[q.i]], p_counts[q.i], p_versions[q.i] + 1
            FROM unnest(ok_req) AS q(i) ORDER BY q.i;
        END IF;
        g_seat := NULL; g_version := NULL; ok_req := NULL;
        a := b + 1;
    END LOOP;
    FOR i IN 1 .. v_total LOOP
        r := NULL;
        r.code := v_codes[i];
        IF v_codes[i] = 0 THEN
            r.version := p_versions[i] + 1;
        END IF;
        RETURN NEXT r;
    END LOOP;
END $$;
