-- Seat inventory: tables.
--
-- Everything lives in the schema `booking`. Every per-show table is
-- partitioned by HASH (show) and keyed by (show, ...), so that one show's
-- rows live together in one partition and a distributed PostgreSQL (Citus)
-- can place each show on one node (see the crate docs).
--
-- Times are bigint Unix milliseconds, decided by one clock per request
-- (booking.clock_ms() in production, an injected clock in tests).
-- Seat states: 0 available, 1 held, 2 sold, 3 blocked.

CREATE SCHEMA IF NOT EXISTS booking;

-- The database's own clock in Unix milliseconds.
CREATE FUNCTION booking.clock_ms() RETURNS bigint
LANGUAGE sql VOLATILE PARALLEL SAFE AS
$$ SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint $$;

-- One row per show: the specification (for layout-aware clients) and the
-- policy the SQL functions enforce.
CREATE TABLE booking.shows (
    show               uuid PRIMARY KEY,
    spec               jsonb   NOT NULL,
    seat_count         integer NOT NULL,
    pool_count         integer NOT NULL,
    ttl_ms             bigint  NOT NULL,
    max_hold_ms        bigint  NOT NULL,
    max_renewals       integer NOT NULL,
    max_held_per_owner integer,
    max_per_request    integer NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now()
);

-- One row per seat. Columns not indexed, so that transitions are HOT updates.
CREATE TABLE booking.seats (
    show       uuid     NOT NULL,
    seat       integer  NOT NULL,
    state      smallint NOT NULL DEFAULT 0,
    owner      uuid,
    hold       uuid,
    order_id   uuid,
    held_until bigint,
    deadline   bigint,
    renewals   integer  NOT NULL DEFAULT 0,
    version    bigint   NOT NULL DEFAULT 0,
    payment    text,
    PRIMARY KEY (show, seat)
) PARTITION BY HASH (show);

-- General-admission pools as counted rows. `held` counts the units of every
-- hold row of the pool, live or expired (not yet swept or reclaimed).
CREATE TABLE booking.pools (
    show     uuid    NOT NULL,
    pool     integer NOT NULL,
    capacity bigint  NOT NULL,
    sold     bigint  NOT NULL DEFAULT 0,
    held     bigint  NOT NULL DEFAULT 0,
    version  bigint  NOT NULL DEFAULT 0,
    PRIMARY KEY (show, pool)
) PARTITION BY HASH (show);

-- One row per hold: seat holds (pool IS NULL, the seats still under it) and
-- pool holds (pool, quantity). Serves the per-owner limit and the sweeper;
-- the seat rows stay the authority on which seat is held.
CREATE TABLE booking.holds (
    show       uuid    NOT NULL,
    hold       uuid    NOT NULL,
    owner      uuid    NOT NULL,
    pool       integer,
    seats      integer[],
    quantity   integer NOT NULL,
    held_until bigint  NOT NULL,
    deadline   bigint  NOT NULL,
    renewals   integer NOT NULL DEFAULT 0,
    version    bigint  NOT NULL,
    PRIMARY KEY (show, hold)
) PARTITION BY HASH (show);
CREATE INDEX holds_owner ON booking.holds (show, owner);
CREATE INDEX holds_expiry ON booking.holds (show, pool, held_until);

-- Units of a pool sold, one row per sold hold: a sell replay must name the
-- hold it sold, and refunds take from an order's oldest sales first.
CREATE SEQUENCE booking.sale_seq;
CREATE TABLE booking.pool_sales (
    show     uuid    NOT NULL,
    pool     integer NOT NULL,
    hold     uuid    NOT NULL,
    order_id uuid    NOT NULL,
    owner    uuid    NOT NULL,
    quantity bigint  NOT NULL,
    payment  text    NOT NULL,
    sold_seq bigint  NOT NULL DEFAULT nextval('booking.sale_seq'),
    PRIMARY KEY (show, pool, hold)
) PARTITION BY HASH (show);
CREATE INDEX pool_sales_order ON booking.pool_sales (show, pool, order_id, sold_seq);

-- The change feed's outbox: one row per change, written in the transaction
-- that makes the change. `stamp` is drawn after the change's row locks are
-- taken, so changes to one seat or pool have increasing stamps in commit
-- order. Kinds: 0 held, 1 extended, 2 released, 3 expired, 4 sold,
-- 5 refunded, 6 blocked, 7 unblocked.
CREATE SEQUENCE booking.change_stamp;
CREATE TABLE booking.changes (
    show     uuid     NOT NULL,
    stamp    bigint   NOT NULL,
    kind     smallint NOT NULL,
    hold     uuid,
    order_id uuid,
    pool     integer,
    seats    integer[],
    quantity integer  NOT NULL,
    version  bigint   NOT NULL,
    at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (show, stamp)
) PARTITION BY HASH (show);

DO $$
DECLARE
    parts constant integer := 8;
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['seats', 'pools', 'holds', 'pool_sales', 'changes'] LOOP
        FOR i IN 0 .. parts - 1 LOOP
            EXECUTE format(
                'CREATE TABLE booking.%I PARTITION OF booking.%I FOR VALUES WITH (MODULUS %s, REMAINDER %s)%s',
                t || '_p' || i, t, parts, i,
                CASE WHEN t IN ('seats', 'pools', 'holds') THEN ' WITH (fillfactor = 80)' ELSE '' END);
        END LOOP;
    END LOOP;
END $$;

-- What every inventory function answers. `code`: 0 done, 1 unknown show,
-- 2 per-owner limit (n = would hold), 3 seats taken (seats), 4 insufficient
-- capacity (n = available), 5 token mismatch, 6 hold expired, 7 not owner,
-- 8 stale token (version = current), 9 renewals exhausted, 10 hold
-- lifetime reached, 11 not sold, 12 wrong state (seats), 13 the
-- compare-and-set matched no row (the client reads the rows to say why),
-- 14 raced (seats locked by others), 15 unknown pool, 16 replayed sale.
CREATE TYPE booking.outcome AS (
    code       integer,
    version    bigint,
    held_until bigint,
    renewals   integer,
    n          bigint,
    seats      integer[]
);
