-- Best available held as picked from the show's current state.
--
-- The client reads free seats without locks, picks with
-- booking_core::best::pick_best, then holds the pick. Between the read and
-- the hold other requests change seats, and an earlier version held the
-- pick with `FOR UPDATE SKIP LOCKED` as long as its own seats were free:
-- a pick made before a concurrent hold (that stranded a seat next to it,
-- say) could then be held after it, an answer no order of the requests
-- gives. booking.hold_best_seats holds a pick only if the seats it
-- depended on (its region, see the client's `best::Prefix::region`) are
-- as the client read them, checked under row locks at the instant of the
-- hold; otherwise it changes nothing and answers 17 with the region's free
-- seats now, and the client picks again.

-- Holds `p_seats` (ascending), picked from the region `p_first..=p_last`
-- whose free seats were `p_free` (ascending): the per-owner limit as
-- booking.hold_seats; then the seats `p_lock` (ascending) are locked, the
-- clock read, and the region's free seats compared with `p_free`. Equal:
-- the pick is held (every seat of it is free and locked). Different: 17,
-- `seats` = the region's free seats now, nothing changed.
CREATE FUNCTION booking.hold_best_seats(
    p_show uuid, p_owner uuid, p_hold uuid, p_seats integer[], p_now bigint, p_first integer, p_last integer,
    p_lock integer[], p_free integer[]
) RETURNS booking.outcome
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    r booking.outcome;
    v_ttl bigint;
    v_max_hold bigint;
    v_limit integer;
    v_now bigint;
    v_n integer := cardinality(p_seats);
    v_free integer[];
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
    -- Seats in seat order, as every function locks them; then the clock.
    PERFORM 1 FROM booking.seats WHERE show = p_show AND seat = ANY (p_lock) ORDER BY seat FOR UPDATE;
    v_now := coalesce(p_now, booking.clock_ms());
    IF v_limit IS NOT NULL THEN
        r.n := booking.held_by(p_show, p_owner, v_now) + v_n;
        IF r.n > v_limit THEN
            r.code := 2;
            RETURN r;
        END IF;
    END IF;
    SELECT coalesce(array_agg(seat ORDER BY seat), '{}') INTO v_free FROM booking.seats
    WHERE show = p_show AND seat BETWEEN p_first AND p_last AND (state = 0 OR (state = 1 AND held_until <= v_now));
    IF v_free IS DISTINCT FROM coalesce(p_free, '{}') OR NOT (p_seats <@ v_free) THEN
        r.code := 17;
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
    r.code := 0;
    r.version := v_max + 1;
    r.held_until := v_until;
    r.renewals := 0;
    RETURN r;
END $$;
