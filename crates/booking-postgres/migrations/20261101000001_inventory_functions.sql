-- Seat inventory: one function per request, so that every request is one
-- round trip and one transaction (the statement's own). The checks follow
-- booking-core's reference model in its order: unknown show, per-owner
-- limit, then availability. Request shape (seat ids in range, no
-- duplicates, quantities) is checked by the client before calling.
--
-- Versions follow booking_core::fsm: a transition on a group of seats sets
-- every seat's version to 1 + the group's highest old version; a pool's
-- version is bumped by each pool transition and a pool hold carries the
-- pool's version after its last transition.
--
-- A group change that finds only part of its rows raises an exception, so
-- the statement (and with it the transaction) rolls back and nothing
-- partial is ever committed:
--   BK409 seats taken (DETAIL: the taken seat ids, comma-separated)
--   BK412 a compare-and-set matched part of the group (the client reads
--         the rows to say why)
--   BK404 a refund found part of the seats not sold to the order
--   BK422 a block or unblock found seats in the wrong state (DETAIL: ids)
-- `p_now` is the injected clock (Unix ms), or NULL for the database clock.
--
-- The functions run with plan_cache_mode = force_generic_plan: their
-- statements name one show, so a partitioned table's custom plan is always
-- estimated cheaper than the generic one and would be re-planned on every
-- call; the generic plan prunes partitions at run time instead.

-- The advisory-lock key that serialises one owner's holds in one show.
CREATE FUNCTION booking.owner_key(p_show uuid, p_owner uuid) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT hashtextextended(p_show::text || p_owner::text, 0) $$;

-- Seats plus pool units `p_owner` holds live in `p_show` at `p_now`, from
-- the hold rows (a seat hold's row counts the seats still under it).
-- (PL/pgSQL rather than SQL functions here: their statements' plans are
-- cached per session.)
CREATE FUNCTION booking.held_by(p_show uuid, p_owner uuid, p_now bigint) RETURNS integer
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_held integer;
BEGIN
    SELECT coalesce(sum(quantity), 0) INTO v_held
    FROM booking.holds WHERE show = p_show AND owner = p_owner AND held_until > p_now;
    RETURN v_held;
END $$;

-- Appends a change to the outbox. Callers have already locked and changed
-- the rows concerned (so the transaction has its id before the stamp).
CREATE FUNCTION booking.publish(
    p_show uuid, p_kind integer, p_hold uuid, p_order uuid, p_pool integer,
    p_seats integer[], p_quantity integer, p_version bigint
) RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
BEGIN
    INSERT INTO booking.changes (show, stamp, kind, hold, order_id, pool, seats, quantity, version)
    VALUES (p_show, nextval('booking.change_stamp'), p_kind, p_hold, p_order, p_pool, p_seats, p_quantity,
            p_version);
END $$;

-- Removes `p_seats` from a seat hold's row, and the row once it is empty.
CREATE FUNCTION booking.drop_hold_seats(p_show uuid, p_hold uuid, p_seats integer[]) RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    rest integer[];
BEGIN
    DELETE FROM booking.holds WHERE show = p_show AND hold = p_hold AND seats <@ p_seats;
    IF NOT FOUND THEN
        SELECT ARRAY(SELECT x FROM unnest(h.seats) x WHERE x <> ALL (p_seats) ORDER BY x) INTO rest
        FROM booking.holds h WHERE h.show = p_show AND h.hold = p_hold;
        UPDATE booking.holds SET seats = rest, quantity = cardinality(rest)
        WHERE show = p_show AND hold = p_hold;
    END IF;
END $$;

-- Creates a show: every seat available, every pool empty. False when the id
-- is taken.
CREATE FUNCTION booking.create_show(
    p_show uuid, p_spec jsonb, p_seat_count integer, p_capacities bigint[],
    p_ttl_ms bigint, p_max_hold_ms bigint, p_max_renewals integer,
    p_max_held_per_owner integer, p_max_per_request integer
) RETURNS boolean
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
BEGIN
    INSERT INTO booking.shows (show, spec, seat_count, pool_count, ttl_ms, max_hold_ms, max_renewals,
                               max_held_per_owner, max_per_request)
    VALUES (p_show, p_spec, p_seat_count, coalesce(cardinality(p_capacities), 0), p_ttl_ms, p_max_hold_ms,
            p_max_renewals, p_max_held_per_owner, p_max_per_request)
    ON CONFLICT (show) DO NOTHING;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    INSERT INTO booking.seats (show, seat) SELECT p_show, g FROM generate_series(0, p_seat_count - 1) g;
    INSERT INTO booking.pools (show, pool, capacity)
    SELECT p_show, (u.i - 1)::integer, u.c FROM unnest(p_capacities) WITH ORDINALITY AS u(c, i);
    RETURN true;
END $$;

-- Holds the seats `p_seats` (ascending, unique), all or none: one UPDATE
-- ... WHERE (available OR expired) RETURNING, kept only when every seat came
-- back. With `p_skip_locked` (best-available) the seats are first locked
-- with SKIP LOCKED and a seat another request holds locked answers 14.
CREATE FUNCTION booking.hold_seats(
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
            held_until = v_until, deadline = v_now + v_max_hold, renewals = 0, version = version + 1
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

-- Extends a live seat hold: the compare-and-set checks hold, owner,
-- version, liveness and the renewal limits in its WHERE.
CREATE FUNCTION booking.extend_seats(
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

-- Releases (p_order NULL) or sells (p_order set) a live seat hold.
CREATE FUNCTION booking.finish_seats(
    p_show uuid, p_owner uuid, p_hold uuid, p_version bigint, p_seats integer[], p_now bigint,
    p_order uuid, p_payment text
) RETURNS booking.outcome
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    r booking.outcome;
    v_now bigint := coalesce(p_now, booking.clock_ms());
    v_count integer;
BEGIN
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

-- Refunds (p_kind 5: sold to p_order -> available), blocks (6: available
-- -> blocked) or unblocks (7: blocked -> available) a group of seats.
CREATE FUNCTION booking.regroup_seats(
    p_show uuid, p_kind integer, p_seats integer[], p_order uuid, p_now bigint
) RETURNS booking.outcome
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    r booking.outcome;
    v_now bigint := coalesce(p_now, booking.clock_ms());
    v_got integer[];
    v_min bigint;
    v_max bigint;
BEGIN
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

-- Holds units of a pool, all or none. Expired holds of the pool are
-- reclaimed silently when the hold succeeds (as the model does).
CREATE FUNCTION booking.hold_pool(
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
    v_now := coalesce(p_now, booking.clock_ms());
    IF v_limit IS NOT NULL THEN
        r.n := booking.held_by(p_show, p_owner, v_now) + p_quantity;
        IF r.n > v_limit THEN
            r.code := 2;
            RETURN r;
        END IF;
    END IF;
    SELECT capacity, sold, held INTO p FROM booking.pools WHERE show = p_show AND pool = p_pool FOR UPDATE;
    IF NOT FOUND THEN
        r.code := 15;
        RETURN r;
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

-- Extends (p_op 1), releases (2) or sells (4) a pool hold, with the
-- model's checks in its order: quantity on the token, holder, owner,
-- version, liveness (a sale of this hold replayed by the same order and
-- owner answers 16 with the pool's version), then the renewal limits.
CREATE FUNCTION booking.pool_op(
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
        IF p_op = 4 AND r.code <> 5 AND EXISTS (
            SELECT 1 FROM booking.pool_sales
            WHERE show = p_show AND pool = p_pool AND hold = p_hold AND order_id = p_order AND owner = p_owner
        ) THEN
            r.code := 16;
            r.version := v_pool_version;
        END IF;
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
        END IF;
    END IF;
    PERFORM booking.publish(p_show, p_op, p_hold, CASE WHEN p_op = 4 THEN p_order END, p_pool, NULL,
                            p_quantity, r.version);
    RETURN r;
END $$;

-- Returns `p_quantity` units sold to `p_order` to sale, taken from the
-- order's oldest sales first.
CREATE FUNCTION booking.refund_pool(p_show uuid, p_order uuid, p_pool integer, p_quantity integer)
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
        r.code := 15;
        RETURN r;
    END IF;
    SELECT coalesce(sum(quantity), 0) INTO v_bought FROM booking.pool_sales
    WHERE show = p_show AND pool = p_pool AND order_id = p_order;
    IF v_bought < p_quantity THEN
        r.code := 11;
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
    PERFORM booking.publish(p_show, 5, NULL, p_order, p_pool, NULL, p_quantity, r.version);
    r.code := 0;
    RETURN r;
END $$;

-- Frees up to `p_limit` expired seats and pool holds of a show: seats
-- first (by hold), then pools. Hold rows, seat rows and pool rows are taken
-- with SKIP LOCKED, so concurrent sweepers (on any number of servers) split
-- the work and never wait on each other or on a request in flight. One
-- row per hold freed, and one `expired` change each.
CREATE FUNCTION booking.sweep(p_show uuid, p_limit integer, p_now bigint)
RETURNS TABLE (hold uuid, owner uuid, pool integer, seats integer[], quantity integer)
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    v_now bigint := coalesce(p_now, booking.clock_ms());
    v_left integer := p_limit;
    h record;
    v_pool integer;
    v_locked integer[];
    v_freed integer[];
    v_version bigint;
    v_rest integer[];
    v_units bigint;
    v_done uuid[];
    v_owners uuid[];
    v_quantities integer[];
BEGIN
    FOR h IN
        SELECT x.hold, x.owner, x.seats FROM booking.holds x
        WHERE x.show = p_show AND x.pool IS NULL AND x.held_until <= v_now
        ORDER BY x.seats[1], x.hold
        FOR UPDATE SKIP LOCKED
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
        v_rest := ARRAY(
            SELECT t.seat FROM booking.seats t
            WHERE t.show = p_show AND t.seat = ANY (h.seats) AND t.hold = h.hold AND t.state = 1
            ORDER BY t.seat);
        IF cardinality(v_rest) = 0 THEN
            DELETE FROM booking.holds x WHERE x.show = p_show AND x.hold = h.hold;
        ELSIF v_rest <> h.seats THEN
            UPDATE booking.holds x SET seats = v_rest, quantity = cardinality(v_rest)
            WHERE x.show = p_show AND x.hold = h.hold;
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
END $$;

-- The change feed's high-water mark. Reads the newest stamp drawn so far,
-- then takes a transaction id (`fence`), then a snapshot's xmin. Every
-- change with a stamp <= last_stamp was written by a transaction whose id
-- is below `fence` (ids are assigned before stamps are drawn). Once a later
-- mark's xmin reaches `fence`, all of those transactions have ended and the
-- changes up to last_stamp can be read without gaps. (A snapshot's xmax is
-- no such fence: transactions still running above the latest completed one
-- are not listed in it.)
CREATE FUNCTION booking.feed_mark(OUT last_stamp bigint, OUT fence bigint, OUT snap_xmin bigint)
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
BEGIN
    SELECT coalesce(pg_sequence_last_value('booking.change_stamp'::regclass), 0) INTO last_stamp;
    SELECT pg_current_xact_id()::text::bigint INTO fence;
    SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint INTO snap_xmin;
END $$;
