-- One-seat paths for the single seat hold and release, and the hold's
-- owner accounting in the hold itself.
--
-- A single hold or release of one seat (the common case) went through the
-- statements written for many: an `UPDATE ... RETURNING` inside a CTE
-- read back by aggregates (`array_agg`, `min`, `max`, `count`), planned
-- for an array of seats. PostgreSQL starts every plan node of every
-- statement anew at each call, and those nodes cost more than the row
-- they write. One seat now takes one `UPDATE ... RETURNING ... INTO`
-- (the release still locks its row first and reads the clock after, as
-- before); many seats keep the statements they had.
--
-- The hold counted the owner's live holds through booking.owner_check
-- (booking.held_by: the owner's row, then its listed seats) and then
-- rewrote the owner's row through booking.add_owned, which read the
-- listed seats again. The hold now reads the owner's listed seats once,
-- under the owner's lock (taken first, as before): the seats the owner
-- still holds (state held, the owner's) are kept for the row, but for
-- those it takes again, and those not expired at the hold's clock are
-- counted against the limit.
-- The row is then written with the kept seats and the new ones; no
-- other request changes it meanwhile (every writer of an owner's row
-- holds the owner's lock). The refusals and their counts are those of
-- booking.owner_check.

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
    v_members integer[];
    v_kept integer[];
    v_live integer;
BEGIN
    SELECT ttl_ms, max_hold_ms, max_held_per_owner, max_tickets_per_owner INTO v_ttl, v_max_hold, v_limit, v_tickets
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
        -- As booking.owner_check: live pool units and seats, and the new ones.
        SELECT coalesce(sum(h.quantity), 0) + coalesce(v_live, 0) + v_n INTO r.n
        FROM booking.holds h WHERE h.show = p_show AND h.owner = p_owner AND h.held_until > v_now;
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

CREATE OR REPLACE FUNCTION booking.finish_seats(
    p_show uuid, p_owner uuid, p_hold uuid, p_version bigint, p_seats integer[], p_now bigint, p_order uuid,
    p_payment text
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
    IF cardinality(p_seats) = 1 THEN
        PERFORM 1 FROM booking.seats
        WHERE show = p_show AND seat = p_seats[1] AND state = 1 AND hold = p_hold AND owner = p_owner
          AND size = 1 AND version = p_version AND held_until > v_now
        FOR UPDATE;
        v_now := coalesce(p_now, booking.clock_ms());
        UPDATE booking.seats
        SET state = 0, owner = NULL, order_id = NULL, payment = NULL, hold = NULL, held_until = NULL,
            deadline = NULL, renewals = 0, version = version + 1
        WHERE show = p_show AND seat = p_seats[1] AND state = 1 AND hold = p_hold AND owner = p_owner
          AND size = 1 AND version = p_version AND held_until > v_now
        RETURNING version INTO r.version;
        IF NOT FOUND THEN
            r.follow_up := 'READ_SEATS';
            RETURN r;
        END IF;
        v_count := 1;
    ELSE
        PERFORM 1 FROM booking.seats
        WHERE show = p_show AND seat = ANY (p_seats) AND state = 1 AND hold = p_hold AND owner = p_owner
          AND size = cardinality(p_seats) AND version = p_version AND held_until > v_now
        ORDER BY seat FOR UPDATE;
        v_now := coalesce(p_now, booking.clock_ms());
        WITH u AS (
            UPDATE booking.seats
            SET state = 0, owner = NULL, order_id = NULL, payment = NULL, hold = NULL, held_until = NULL,
                deadline = NULL, renewals = 0, version = version + 1
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
    END IF;
    INSERT INTO booking.changes (show, stamp, kind, hold, seats, quantity, version)
    VALUES (p_show, nextval('booking.change_stamp'), 2, p_hold, p_seats, v_count, r.version);
    RETURN r;
END $$;

SELECT booking.route_partitions();
