-- The single-request hold and release in fewer statements.
--
-- booking.hold_seats ran the show lookup, the advisory lock, the clock, a
-- nested PL/pgSQL call for the owner check (itself calling another for the
-- count), the seat UPDATE and the INSERTs as separate statements. It now
-- takes the owner's lock in the statement that reads the show's policy,
-- reads the clock, the owner's live holds and (under a ticket cap) sold
-- units in one statement, and changes the seats, writes the hold row and
-- the change-feed row in one statement (the INSERTs apply only when every
-- seat was taken; otherwise the function refuses or raises as before).
-- booking.finish_seats (a release) likewise releases the seats, deletes
-- the hold row and writes the feed row in one statement, after locking the
-- rows and reading the clock as before.
--
-- The order of locks and of the clock, the answers and the rows written are
-- those of 20261204000000_purchase_caps.sql and
-- 20261203000000_refusal_codes.sql. The feed row's stamp is still drawn
-- after the seat rows are locked: the INSERT reads the UPDATE's result.

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
    v_locked text;
    v_now bigint;
    v_sold bigint;
    v_n integer := cardinality(p_seats);
    v_count integer;
    v_got integer[];
    v_min bigint;
    v_max bigint;
    v_until bigint;
BEGIN
    -- The policy, and the owner's lock when the owner is counted.
    SELECT ttl_ms, max_hold_ms, max_held_per_owner, max_tickets_per_owner,
           CASE WHEN max_held_per_owner IS NOT NULL OR max_tickets_per_owner IS NOT NULL
                THEN pg_advisory_xact_lock(booking.owner_key(p_show, p_owner))::text END
    INTO v_ttl, v_max_hold, v_limit, v_tickets, v_locked
    FROM booking.shows WHERE show = p_show;
    IF NOT FOUND THEN
        r.refusal := 'UNKNOWN_SHOW';
        RETURN r;
    END IF;
    IF v_limit IS NOT NULL OR v_tickets IS NOT NULL THEN
        -- The clock, then the owner's live holds and sold units, in one
        -- snapshot.
        SELECT c.now,
               (SELECT coalesce(sum(h.quantity), 0) FROM booking.holds h
                WHERE h.show = p_show AND h.owner = p_owner AND h.held_until > c.now) + v_n,
               CASE WHEN v_tickets IS NOT NULL
                    THEN coalesce((SELECT o.sold FROM booking.owner_sold o
                                   WHERE o.show = p_show AND o.owner = p_owner), 0) END
        INTO v_now, r.n, v_sold
        FROM (SELECT coalesce(p_now, booking.clock_ms()) AS now) c;
        IF r.n > v_limit THEN
            r.refusal := 'HELD_PER_OWNER';
            RETURN r;
        END IF;
        IF v_tickets IS NOT NULL THEN
            r.n := r.n + v_sold;
            IF r.n > v_tickets THEN
                r.refusal := 'TICKETS_PER_OWNER';
                RETURN r;
            END IF;
        END IF;
    ELSE
        v_now := coalesce(p_now, booking.clock_ms());
    END IF;
    v_until := v_now + v_ttl;
    WITH u AS (
        UPDATE booking.seats
        SET state = 1, owner = p_owner, hold = p_hold, order_id = NULL, payment = NULL,
            held_until = v_until, deadline = v_now + v_max_hold, renewals = 0, version = version + 1, size = v_n
        WHERE show = p_show AND seat = ANY (p_seats)
          AND (state = 0 OR (state = 1 AND held_until <= v_now))
        RETURNING seat, version - 1 AS old
    ), a AS (
        SELECT count(*)::integer AS n, array_agg(u.seat ORDER BY u.seat) AS got, min(u.old) AS lo, max(u.old) AS hi
        FROM u
    ), h AS (
        INSERT INTO booking.holds (show, hold, owner, pool, seats, quantity, held_until, deadline, renewals, version)
        SELECT p_show, p_hold, p_owner, NULL, p_seats, v_n, v_until, v_now + v_max_hold, 0, a.hi + 1
        FROM a WHERE a.n = v_n
    ), c AS (
        INSERT INTO booking.changes (show, stamp, kind, hold, seats, quantity, version)
        SELECT p_show, nextval('booking.change_stamp'), 0, p_hold, p_seats, v_n, a.hi + 1
        FROM a WHERE a.n = v_n
    )
    SELECT a.n, a.got, a.lo, a.hi INTO v_count, v_got, v_min, v_max FROM a;
    IF v_count = 0 THEN
        r.refusal := 'SEATS_TAKEN';
        r.seats := p_seats;
        RETURN r;
    END IF;
    IF v_count < v_n THEN
        RAISE EXCEPTION USING ERRCODE = 'BK000', MESSAGE = 'SEATS_TAKEN',
            DETAIL = array_to_string(ARRAY(SELECT x FROM unnest(p_seats) x WHERE x <> ALL (v_got) ORDER BY x), ',');
    END IF;
    IF v_min <> v_max THEN
        UPDATE booking.seats SET version = v_max + 1 WHERE show = p_show AND seat = ANY (p_seats);
    END IF;
    r.version := v_max + 1;
    r.held_until := v_until;
    r.renewals := 0;
    RETURN r;
END $$;

-- Releases a live seat hold, the whole hold only. (A call with an order
-- is a sale: booking.sell_seats.)
CREATE OR REPLACE FUNCTION booking.finish_seats(
    p_show uuid, p_owner uuid, p_hold uuid, p_version bigint, p_seats integer[], p_now bigint,
    p_order uuid, p_payment text
) RETURNS booking.outcome
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    r booking.outcome;
    v_now bigint;
    v_count integer;
    v_dropped bigint;
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
    -- The seats, the hold row and the feed row; the last two only when
    -- every seat was released (else the function answers or raises below).
    WITH u AS (
        UPDATE booking.seats
        SET state = 0, owner = NULL, order_id = NULL, payment = p_payment, hold = NULL, held_until = NULL,
            deadline = NULL, renewals = 0, version = version + 1
        WHERE show = p_show AND seat = ANY (p_seats) AND state = 1 AND hold = p_hold AND owner = p_owner
          AND size = cardinality(p_seats) AND version = p_version AND held_until > v_now
        RETURNING version
    ), a AS (
        SELECT count(*)::integer AS n, max(u.version) AS v FROM u
    ), d AS (
        DELETE FROM booking.holds h
        WHERE h.show = p_show AND h.hold = p_hold AND h.seats <@ p_seats
          AND (SELECT a.n FROM a) = cardinality(p_seats)
        RETURNING 1
    ), c AS (
        INSERT INTO booking.changes (show, stamp, kind, hold, order_id, seats, quantity, version)
        SELECT p_show, nextval('booking.change_stamp'), 2, p_hold, NULL, p_seats, a.n, a.v
        FROM a WHERE a.n = cardinality(p_seats)
    )
    SELECT a.n, a.v, (SELECT count(*) FROM d) INTO v_count, r.version, v_dropped FROM a;
    IF v_count = 0 THEN
        r.version := NULL;
        r.follow_up := 'READ_SEATS';
        RETURN r;
    END IF;
    IF v_count < cardinality(p_seats) THEN
        RAISE EXCEPTION USING ERRCODE = 'BK000', MESSAGE = 'READ_SEATS';
    END IF;
    IF v_dropped = 0 THEN
        PERFORM booking.drop_hold_seats(p_show, p_hold, p_seats);
    END IF;
    RETURN r;
END $$;
