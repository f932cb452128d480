-- hold_seats loses its unused `p_skip_locked` parameter (nothing called it
-- with true; the SKIP LOCKED answer it enabled is gone with it). The body is
-- otherwise as in 20261201000002_whole_holds_and_sale_records.sql.
DROP FUNCTION booking.hold_seats(uuid, uuid, uuid, integer[], bigint, boolean);

CREATE FUNCTION booking.hold_seats(
    p_show uuid, p_owner uuid, p_hold uuid, p_seats integer[], p_now bigint
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
