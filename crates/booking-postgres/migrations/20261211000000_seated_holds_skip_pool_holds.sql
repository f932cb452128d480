-- A seat hold on a show without pools skips the read of the owner's pool
-- holds.
--
-- The single seat hold counted the owner's live pool units against the
-- per-owner limit with a statement on booking.holds (which, since the
-- seat rows carry seat holds, holds pool holds only) on every call. A
-- show's pools are fixed when it is created (booking.shows.pool_count),
-- so on a show without any, no owner can hold pool units and the count
-- is 0 without reading: the hold now reads pool_count with the show's
-- policy and reads booking.holds only when the show has pools. The
-- statement was about a twentieth of a hold+release cycle's server
-- instructions on a seated show (BENCHMARKS.md). Everything else is as
-- in 20261210000000_one_seat_paths.

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
    v_pools boolean;
    v_now bigint;
    v_n integer := cardinality(p_seats);
    v_got integer[];
    v_min bigint;
    v_max bigint;
    v_until bigint;
    v_members integer[];
    v_kept integer[];
    v_live integer;
BEGIN
    SELECT ttl_ms, max_hold_ms, max_held_per_owner, max_tickets_per_owner, pool_count > 0
    INTO v_ttl, v_max_hold, v_limit, v_tickets, v_pools
    FROM booking.shows WHERE show = p_show;
    IF NOT FOUND THEN
        r.refusal := 'UNKNOWN_SHOW';
        RETURN r;
    END IF;
    -- The owner's lock, always: the hold rewrites the owner's row.
    PERFORM pg_advisory_xact_lock(booking.owner_key(p_show, p_owner));
    v_now := coalesce(p_now, booking.clock_ms());
    -- The seats the owner still holds, of those its row lists.
    SELECT o.seats INTO v_members FROM booking.owner_seats o WHERE o.show = p_show AND o.owner = p_owner;
    IF v_members IS NOT NULL THEN
        SELECT array_agg(s.seat) FILTER (WHERE s.seat <> ALL (p_seats)), count(*) FILTER (WHERE s.held_until > v_now)
        INTO v_kept, v_live
        FROM booking.seats s
        WHERE s.show = p_show AND s.seat = ANY (v_members) AND s.state = 1 AND s.owner = p_owner;
    END IF;
    IF v_limit IS NOT NULL OR v_tickets IS NOT NULL THEN
        -- As booking.owner_check: live pool units and seats, and the new
        -- ones. A show without pools has no pool holds to read.
        r.n := coalesce(v_live, 0) + v_n;
        IF v_pools THEN
            SELECT coalesce(sum(h.quantity), 0) + r.n INTO r.n
            FROM booking.holds h WHERE h.show = p_show AND h.owner = p_owner AND h.held_until > v_now;
        END IF;
        IF v_limit IS NOT NULL AND r.n > v_limit THEN
            r.refusal := 'HELD_PER_OWNER';
            RETURN r;
        END IF;
        IF v_tickets IS NOT NULL THEN
            r.n := r.n + booking.sold_to(p_show, p_owner);
            IF r.n > v_tickets THEN
                r.refusal := 'TICKETS_PER_OWNER';
                RETURN r;
            END IF;
        END IF;
    END IF;
    v_until := v_now + v_ttl;
    IF v_n = 1 THEN
        UPDATE booking.seats
        SET state = 1, owner = p_owner, hold = p_hold, order_id = NULL, payment = NULL,
            held_until = v_until, deadline = v_now + v_max_hold, renewals = 0, version = version + 1, size = 1
        WHERE show = p_show AND seat = p_seats[1] AND (state = 0 OR (state = 1 AND held_until <= v_now))
        RETURNING version - 1 INTO v_max;
        IF NOT FOUND THEN
            r.refusal := 'SEATS_TAKEN';
            r.seats := p_seats;
            RETURN r;
        END IF;
    ELSE
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
    END IF;
    -- The owner's row: the other seats it still holds, then the new ones.
    INSERT INTO booking.owner_seats AS o (show, owner, seats)
    VALUES (p_show, p_owner, coalesce(v_kept, '{}') || p_seats)
    ON CONFLICT (show, owner) DO UPDATE SET seats = excluded.seats;
    INSERT INTO booking.changes (show, stamp, kind, hold, seats, quantity, version)
    VALUES (p_show, nextval('booking.change_stamp'), 0, p_hold, p_seats, v_n, v_max + 1);
    r.version := v_max + 1;
    r.held_until := v_until;
    r.renewals := 0;
    RETURN r;
END $$;

SELECT booking.route_partitions();
