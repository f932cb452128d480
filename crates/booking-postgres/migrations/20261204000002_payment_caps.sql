-- Per-payment purchase caps: what one payer (a payment method's key) may
-- have bought in a show (`HoldPolicy::max_tickets_per_payment`).
--
-- booking.shows gains max_tickets_per_payment, read from the stored
-- specification (so shows created before keep working, with no cap).
-- booking.sales gains payer: the sale record keeps who paid.
-- booking.payer_sold keeps, per (show, payer), the units sold to the payer
-- and not refunded, for capped shows only. A sale with a payer goes
-- through booking.sell_seats_paid or booking.pool_op_paid: under the
-- order's advisory lock, an order with a record answers READ_RECORD (a
-- replay counts once); then the payer's row is locked and the cap checked
-- (refusal TICKETS_PER_PAYMENT, n = what the payer would have bought);
-- then the hold is sold by booking.sell_seats or booking.pool_op as
-- before, and only a sale that happened is counted, all in one statement.
-- A refund takes back the units it returned (booking.count_refund, which
-- booking.regroup_seats and booking.refund_pool call).

-- (A cap beyond what an integer holds is no cap that matters: clamped.)
ALTER TABLE booking.shows ADD COLUMN max_tickets_per_payment integer
    GENERATED ALWAYS AS (CASE WHEN spec -> 'policy' ->> 'max_tickets_per_payment' IS NOT NULL
        THEN least((spec -> 'policy' ->> 'max_tickets_per_payment')::bigint, 2147483647)::integer END) STORED;

ALTER TABLE booking.sales ADD COLUMN payer text;

CREATE TABLE booking.payer_sold (
    show  uuid    NOT NULL,
    payer text    NOT NULL,
    sold  integer NOT NULL,
    PRIMARY KEY (show, payer)
);

-- The per-payment cap for `p_units` more sold to `p_payer`: an outcome
-- with refusal TICKETS_PER_PAYMENT (n = what the payer would have
-- bought), or none. In a capped show the payer's row is locked until the
-- transaction ends, so sales of one payer are decided one at a time.
CREATE FUNCTION booking.payer_check(p_show uuid, p_payer text, p_units integer) RETURNS booking.outcome
LANGUAGE plpgsql AS $$
DECLARE
    r booking.outcome;
    v_max integer;
BEGIN
    SELECT max_tickets_per_payment INTO v_max FROM booking.shows WHERE show = p_show;
    IF p_payer IS NULL OR v_max IS NULL THEN
        RETURN r;
    END IF;
    INSERT INTO booking.payer_sold (show, payer, sold) VALUES (p_show, p_payer, 0) ON CONFLICT DO NOTHING;
    SELECT sold::bigint + p_units INTO r.n FROM booking.payer_sold
    WHERE show = p_show AND payer = p_payer FOR UPDATE;
    IF r.n > v_max THEN
        r.refusal := 'TICKETS_PER_PAYMENT';
    END IF;
    RETURN r;
END $$;

-- After a sale of `p_order` with a payer: the record names the payer, and
-- the payer's row (there only in a capped show) counts `p_units` more.
CREATE FUNCTION booking.count_payer(p_show uuid, p_order uuid, p_payer text, p_units integer) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE booking.sales SET payer = p_payer WHERE show = p_show AND order_id = p_order;
    UPDATE booking.payer_sold SET sold = sold + p_units WHERE show = p_show AND payer = p_payer;
END $$;

-- booking.sell_seats with a payer (NULL: not counted): the order's
-- record, then the cap, then the sale.
CREATE FUNCTION booking.sell_seats_paid(
    p_show uuid, p_owner uuid, p_hold uuid, p_version bigint, p_seats integer[], p_token_seats integer[],
    p_now bigint, p_order uuid, p_payment text, p_payer text
) RETURNS booking.outcome
LANGUAGE plpgsql AS $$
DECLARE
    r booking.outcome;
BEGIN
    IF p_payer IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock(booking.order_key(p_show, p_order));
        PERFORM 1 FROM booking.sales WHERE show = p_show AND order_id = p_order;
        IF FOUND THEN
            r.follow_up := 'READ_RECORD';
            RETURN r;
        END IF;
        r := booking.payer_check(p_show, p_payer, cardinality(p_token_seats));
        IF r.refusal IS NOT NULL THEN
            RETURN r;
        END IF;
    END IF;
    r := booking.sell_seats(p_show, p_owner, p_hold, p_version, p_seats, p_token_seats, p_now, p_order, p_payment);
    IF p_payer IS NOT NULL AND r.refusal IS NULL AND r.follow_up IS NULL THEN
        PERFORM booking.count_payer(p_show, p_order, p_payer, cardinality(p_token_seats));
    END IF;
    RETURN r;
END $$;

-- booking.pool_op with a payer for sales (p_op 4; NULL: not counted): the
-- order's record, then the cap, then the sale. Other operations pass
-- through unchanged.
CREATE FUNCTION booking.pool_op_paid(
    p_show uuid, p_op integer, p_owner uuid, p_hold uuid, p_version bigint, p_pool integer,
    p_quantity integer, p_now bigint, p_order uuid, p_payment text, p_payer text
) RETURNS booking.outcome
LANGUAGE plpgsql AS $$
DECLARE
    r booking.outcome;
    v_paid boolean := p_op = 4 AND p_payer IS NOT NULL;
BEGIN
    IF v_paid THEN
        PERFORM pg_advisory_xact_lock(booking.order_key(p_show, p_order));
        PERFORM 1 FROM booking.sales WHERE show = p_show AND order_id = p_order;
        IF FOUND THEN
            r.follow_up := 'READ_RECORD';
            RETURN r;
        END IF;
        r := booking.payer_check(p_show, p_payer, p_quantity);
        IF r.refusal IS NOT NULL THEN
            RETURN r;
        END IF;
    END IF;
    r := booking.pool_op(p_show, p_op, p_owner, p_hold, p_version, p_pool, p_quantity, p_now, p_order, p_payment);
    IF v_paid AND r.refusal IS NULL AND r.follow_up IS NULL THEN
        PERFORM booking.count_payer(p_show, p_order, p_payer, p_quantity);
    END IF;
    RETURN r;
END $$;

-- Counts `p_units` of order `p_order` refunded, for the order's buyer
-- (20261204000000_purchase_caps.sql) and now also for its payer.
CREATE OR REPLACE FUNCTION booking.count_refund(p_show uuid, p_order uuid, p_units integer) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_owner uuid;
    v_payer text;
BEGIN
    SELECT owner, payer INTO v_owner, v_payer FROM booking.sales WHERE show = p_show AND order_id = p_order;
    IF FOUND THEN
        PERFORM booking.count_sold(p_show, v_owner, -p_units);
        IF v_payer IS NOT NULL THEN
            UPDATE booking.payer_sold SET sold = greatest(sold - p_units, 0)
            WHERE show = p_show AND payer = v_payer;
        END IF;
    END IF;
END $$;

-- The show's rows for an audit (20261201000002_whole_holds_and_sale_records.sql),
-- the sale records now with their payer (a new last column).
DROP FUNCTION booking.audit(uuid, bigint);
CREATE FUNCTION booking.audit(p_show uuid, p_now bigint)
RETURNS TABLE (
    kind smallint, id integer, a uuid, b uuid, c uuid, x1 bigint, x2 bigint, x3 bigint, x4 bigint, x5 bigint,
    x6 bigint, list integer[], note text, payer text
)
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    v_now bigint := coalesce(p_now, booking.clock_ms());
BEGIN
    RETURN QUERY SELECT 0::smallint, NULL::integer, NULL::uuid, NULL::uuid, NULL::uuid, v_now, NULL::bigint,
        NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::integer[], NULL::text, NULL::text;
    RETURN QUERY
    SELECT 1::smallint, s.seat, s.owner, s.hold, s.order_id, s.state::bigint, s.held_until, s.deadline,
           s.renewals::bigint, s.version, s.size::bigint, NULL::integer[], NULL::text, NULL::text
    FROM booking.seats s WHERE s.show = p_show ORDER BY s.seat;
    RETURN QUERY
    SELECT 2::smallint, p.pool, NULL::uuid, NULL::uuid, NULL::uuid, p.capacity, p.sold, p.version, NULL::bigint,
           NULL::bigint, NULL::bigint, NULL::integer[], NULL::text, NULL::text
    FROM booking.pools p WHERE p.show = p_show ORDER BY p.pool;
    RETURN QUERY
    SELECT 3::smallint, h.pool, h.hold, h.owner, NULL::uuid, h.quantity::bigint, h.held_until, h.deadline,
           h.renewals::bigint, h.version, NULL::bigint, NULL::integer[], NULL::text, NULL::text
    FROM booking.holds h WHERE h.show = p_show AND h.pool IS NOT NULL AND h.held_until > v_now;
    RETURN QUERY
    SELECT 4::smallint, ps.pool, ps.order_id, ps.owner, ps.hold, ps.quantity, NULL::bigint, NULL::bigint,
           NULL::bigint, NULL::bigint, NULL::bigint, NULL::integer[], NULL::text, NULL::text
    FROM booking.pool_sales ps WHERE ps.show = p_show;
    RETURN QUERY
    SELECT 5::smallint, sa.token_pool, sa.order_id, sa.owner, sa.hold, sa.token_version, sa.version,
           sa.token_quantity::bigint, NULL::bigint, NULL::bigint, NULL::bigint, sa.token_seats, sa.payment, sa.payer
    FROM booking.sales sa WHERE sa.show = p_show;
END $$;
