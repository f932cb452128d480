-- Whole-hold tokens and sale records.
--
-- A hold's seats change together: extend, release and sell take the whole
-- hold. Each held seat records the number of seats its hold was granted
-- with (`seats.size`), and every compare-and-set on a hold also requires
-- `size = cardinality(token's seats)`: with every named seat under the
-- hold, that means the token names exactly the hold's seats. A token that
-- names a subset or a superset fails the compare-and-set, and the client
-- reads the rows and lets booking_core::fsm::check name the error
-- (TokenMismatch, HoldExpired, ...).
--
-- An order is sold once (booking.sales, one row per show and order): the
-- token it was sold with, as presented, the payment and the version the
-- sale gave. The record is kept for the show's lifetime, refunds included.
-- A sell naming an order with a record changes nothing: the function
-- answers 16 and the client replays the record (booking_core::SaleRecord:
-- the same request gets the first sale back, any other SaleConflict).
-- Sales of one order are serialised by an advisory lock on (show, order),
-- so two concurrent sales of one order never both pass the record check.
--
-- The functions that lock their rows before reading the clock (previous
-- migration) now lock only the rows they would change, judged by a first
-- reading of the clock, then read it again to decide. Locking every named
-- row left rows locked by requests that did not change them, and a
-- best-available pick that met such a lock had no way to tell it from a
-- seat being taken.
--
-- Sold seats keep the hold they were sold from (`seats.hold`) and the
-- payment (`seats.payment`). Sales made before this migration have no
-- record: their tokens were not kept.

ALTER TABLE booking.seats ADD COLUMN size integer;
-- Holds made before: the seats still under each hold.
UPDATE booking.seats s SET size = c.n
FROM (SELECT show, hold, count(*)::integer AS n FROM booking.seats WHERE state = 1 GROUP BY show, hold) c
WHERE s.show = c.show AND s.hold = c.hold AND s.state = 1;

CREATE TABLE booking.sales (
    show           uuid    NOT NULL,
    order_id       uuid    NOT NULL,
    owner          uuid    NOT NULL,
    -- The token: its hold and version, and its seats as presented (a seat
    -- hold) or its pool and quantity (a pool hold).
    hold           uuid    NOT NULL,
    token_version  bigint  NOT NULL,
    token_seats    integer[],
    token_pool     integer,
    token_quantity integer,
    payment        text    NOT NULL,
    -- The version the sale answered with.
    version        bigint  NOT NULL,
    sold_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (show, order_id)
) PARTITION BY HASH (show);

DO $$
BEGIN
    FOR i IN 0 .. 7 LOOP
        EXECUTE format('CREATE TABLE booking.sales_p%s PARTITION OF booking.sales FOR VALUES WITH (MODULUS 8, REMAINDER %s)',
                       i, i);
    END LOOP;
END $$;

-- The advisory-lock key that serialises the sales of one order in one show.
CREATE FUNCTION booking.order_key(p_show uuid, p_order uuid) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT hashtextextended(p_show::text || '/order/' || p_order::text, 0) $$;

-- As before, and the seats record the hold's size.
CREATE OR REPLACE FUNCTION booking.hold_seats(
    p_show uuid, p_owner uuid, p_hold uuid, p_seats integer[], p_now bigint,
    p_skip_locked boolean DEFAULT false
) RETURNS booking.outcome
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    r booking.outcome;
    v_ttl bigint;
    v_max_hold bigint;
    v_limit integer;
    v_now bigint;
    v_n integer := cardinality(p_seats);
    v_got integer[];
    v_min bigint;
    v_max bigint;
    v_until bigint;
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
    v_now := coalesce(p_now, booking.clock_ms());
    IF v_limit IS NOT NULL THEN
        r.n := booking.held_by(p_show, p_owner, v_now) + v_n;
        IF r.n > v_limit THEN
            r.code := 2;
            RETURN r;
        END IF;
    END IF;
    IF p_skip_locked THEN
        SELECT array_agg(l.seat) INTO v_got FROM (
            SELECT seat FROM booking.seats WHERE show = p_show AND seat = ANY (p_seats)
            ORDER BY seat FOR UPDATE SKIP LOCKED
        ) l;
        IF coalesce(cardinality(v_got), 0) < v_n THEN
            r.code := 14;
            r.seats := ARRAY(SELECT x FROM unnest(p_seats) x WHERE x <> ALL (coalesce(v_got, '{}')) ORDER BY x);
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
        r.code := 3;
        r.seats := p_seats;
        RETURN r;
    END IF;
    IF cardinality(v_got) < v_n THEN
        RAISE EXCEPTION USING ERRCODE = 'BK409', MESSAGE = 'seats taken',
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
    r.code := 0;
    r.version := v_max + 1;
    r.held_until := v_until;
    r.renewals := 0;
    RETURN r;
END $$;

-- As before, for the whole hold only.
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
        r.code := 13;
        RETURN r;
    END IF;
    IF v_count < cardinality(p_seats) THEN
        RAISE EXCEPTION USING ERRCODE = 'BK412', MESSAGE = 'hold changed';
    END IF;
    UPDATE booking.holds SET held_until = r.held_until, renewals = r.renewals, version = r.version
    WHERE show = p_show AND hold = p_hold;
    PERFORM booking.publish(p_show, 1, p_hold, NULL, NULL, p_seats, v_count, r.version);
    r.code := 0;
    RETURN r;
END $$;

-- Sells a live seat hold, the whole hold only, to `p_order`, and records
-- the sale: the token as presented (`p_token_seats` in the caller's order,
-- `p_version`), the payment and the seats' new version. `p_seats` is the
-- token's seats sorted. The order's record is checked first, under the
-- order's lock and before the seats' locks are waited for: 16 when it
-- exists (nothing changed; the client reads the record and answers from
-- it). Then the seats are locked, the clock read again, and the
-- compare-and-set decides as booking.finish_seats does.
CREATE FUNCTION booking.sell_seats(
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
        r.code := 16;
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
        r.code := 13;
        RETURN r;
    END IF;
    IF v_count < cardinality(p_seats) THEN
        RAISE EXCEPTION USING ERRCODE = 'BK412', MESSAGE = 'hold changed';
    END IF;
    DELETE FROM booking.holds WHERE show = p_show AND hold = p_hold;
    INSERT INTO booking.sales (show, order_id, owner, hold, token_version, token_seats, payment, version)
    VALUES (p_show, p_order, p_owner, p_hold, p_version, p_token_seats, p_payment, r.version);
    INSERT INTO booking.changes (show, stamp, kind, hold, order_id, seats, quantity, version)
    VALUES (p_show, nextval('booking.change_stamp'), 4, p_hold, p_order, p_seats, v_count, r.version);
    r.code := 0;
    RETURN r;
END $$;

-- Releases a live seat hold, the whole hold only. (A call with an order
-- is a sale: booking.sell_seats, which keeps the order's record.)
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

-- Refunds (5), blocks (6) or unblocks (7) a group of seats, locking only
-- the rows it would change.
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

-- Extends (p_op 1), verifies (3: checks, changes nothing), releases (2) or
-- sells (4) a pool hold, with the model's checks in its order: for a sale
-- first the order's record (16: the order has one, the client answers
-- from it), then the quantity on the token, holder, owner, version,
-- liveness, then the renewal limits.
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
        r.code := 1;
        RETURN r;
    END IF;
    IF p_op = 4 THEN
        -- Sales of one order one at a time; an order with a record is
        -- answered from it (the client reads it), before any other check.
        PERFORM pg_advisory_xact_lock(booking.order_key(p_show, p_order));
        PERFORM 1 FROM booking.sales WHERE show = p_show AND order_id = p_order;
        IF FOUND THEN
            r.code := 16;
            RETURN r;
        END IF;
    END IF;
    SELECT version INTO v_pool_version FROM booking.pools WHERE show = p_show AND pool = p_pool FOR UPDATE;
    IF NOT FOUND THEN
        r.code := 15;
        RETURN r;
    END IF;
    v_now := coalesce(p_now, booking.clock_ms());
    SELECT owner, quantity, held_until, deadline, renewals, version INTO h
    FROM booking.holds WHERE show = p_show AND hold = p_hold AND pool = p_pool;
    IF FOUND AND h.quantity <> p_quantity THEN
        r.code := 5;
    ELSIF NOT FOUND THEN
        r.code := 6;
    ELSIF h.owner <> p_owner THEN
        r.code := 7;
    ELSIF h.version <> p_version THEN
        r.code := 8;
        r.version := h.version;
    ELSIF h.held_until <= v_now THEN
        r.code := 6;
    ELSE
        r.code := 0;
    END IF;
    IF r.code <> 0 THEN
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
            r.code := 9;
            RETURN r;
        END IF;
        IF h.held_until >= h.deadline THEN
            r.code := 10;
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
        END IF;
    END IF;
    PERFORM booking.publish(p_show, p_op, p_hold, CASE WHEN p_op = 4 THEN p_order END, p_pool, NULL,
                            p_quantity, r.version);
    RETURN r;
END $$;

-- As before, and the seats record their hold's size.
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

-- As before, for whole holds only.
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
    l_size integer[];
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
               array_agg(l.version ORDER BY l.seat), array_agg(l.held_until ORDER BY l.seat),
               array_agg(l.size ORDER BY l.seat)
        INTO l_seat, l_ok, l_hold, l_owner, l_version, l_until, l_size
        FROM (
            SELECT seat, state, hold, owner, version, held_until, size FROM booking.seats
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
                   OR l_size[k] IS DISTINCT FROM p_counts[i] OR l_until[k] <= v_now THEN
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

-- Everything a show records (booking_core::Audit), read in one snapshot
-- (STABLE: every statement sees the calling query's snapshot), at
-- `p_now` (NULL: the database clock). One row per item, by `kind`:
--   0  the clock: x1 = now;
--   1  a seat, as stored (expired holds included): id = seat, x1 = state,
--      a = owner, b = hold, c = order, x2 = held_until, x3 = deadline,
--      x4 = renewals, x5 = version, x6 = size;
--   2  a pool: id = pool, x1 = capacity, x2 = sold, x3 = version;
--   3  a live pool hold: id = pool, a = hold, b = owner, x1 = quantity,
--      x2 = held_until, x3 = deadline, x4 = renewals, x5 = version;
--   4  units of a pool sold: id = pool, a = order, b = owner, c = hold,
--      x1 = quantity;
--   5  a sale record: a = order, b = owner, c = the token's hold,
--      x1 = the token's version, x2 = the sale's version, list = the
--      token's seats, id = its pool, x3 = its quantity, note = payment.
CREATE FUNCTION booking.audit(p_show uuid, p_now bigint)
RETURNS TABLE (
    kind smallint, id integer, a uuid, b uuid, c uuid, x1 bigint, x2 bigint, x3 bigint, x4 bigint, x5 bigint,
    x6 bigint, list integer[], note text
)
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    v_now bigint := coalesce(p_now, booking.clock_ms());
BEGIN
    RETURN QUERY SELECT 0::smallint, NULL::integer, NULL::uuid, NULL::uuid, NULL::uuid, v_now, NULL::bigint,
        NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::integer[], NULL::text;
    RETURN QUERY
    SELECT 1::smallint, s.seat, s.owner, s.hold, s.order_id, s.state::bigint, s.held_until, s.deadline,
           s.renewals::bigint, s.version, s.size::bigint, NULL::integer[], NULL::text
    FROM booking.seats s WHERE s.show = p_show ORDER BY s.seat;
    RETURN QUERY
    SELECT 2::smallint, p.pool, NULL::uuid, NULL::uuid, NULL::uuid, p.capacity, p.sold, p.version, NULL::bigint,
           NULL::bigint, NULL::bigint, NULL::integer[], NULL::text
    FROM booking.pools p WHERE p.show = p_show ORDER BY p.pool;
    RETURN QUERY
    SELECT 3::smallint, h.pool, h.hold, h.owner, NULL::uuid, h.quantity::bigint, h.held_until, h.deadline,
           h.renewals::bigint, h.version, NULL::bigint, NULL::integer[], NULL::text
    FROM booking.holds h WHERE h.show = p_show AND h.pool IS NOT NULL AND h.held_until > v_now;
    RETURN QUERY
    SELECT 4::smallint, ps.pool, ps.order_id, ps.owner, ps.hold, ps.quantity, NULL::bigint, NULL::bigint,
           NULL::bigint, NULL::bigint, NULL::bigint, NULL::integer[], NULL::text
    FROM booking.pool_sales ps WHERE ps.show = p_show;
    RETURN QUERY
    SELECT 5::smallint, sa.token_pool, sa.order_id, sa.owner, sa.hold, sa.token_version, sa.version,
           sa.token_quantity::bigint, NULL::bigint, NULL::bigint, NULL::bigint, sa.token_seats, sa.payment
    FROM booking.sales sa WHERE sa.show = p_show;
END $$;
