-- Checkout's stores: idempotency keys, the saga log (orders) and the
-- outbox. Times the stores decide by are Unix milliseconds (bigint), read
-- from booking.clock_ms() or passed in by an injected clock, as the
-- inventory does. No table is partitioned: each has a primary key that
-- must stay unique across the whole table (a partitioned table's unique
-- keys must include the partition key), every hot query is a primary-key
-- lookup or walks a small partial index, and reaping idempotency keys
-- deletes by an index on created_at with a retention the caller chooses,
-- which dropping fixed partitions could not honour.

-- One row per (principal, key). status/body are NULL until the request
-- finishes; lease is the current holder's proof and leased_until the end
-- of its lease (NULL once finished or released).
CREATE TABLE booking.idempotency_keys (
    principal    uuid    NOT NULL,
    key          text    NOT NULL CHECK (octet_length(key) BETWEEN 1 AND 255),
    fingerprint  bytea   NOT NULL CHECK (octet_length(fingerprint) = 32),
    status       integer CHECK (status BETWEEN 0 AND 65535),
    body         bytea,
    created_at   bigint  NOT NULL,
    lease        uuid    NOT NULL,
    leased_until bigint,
    PRIMARY KEY (principal, key),
    CHECK ((status IS NULL) = (body IS NULL))
);
CREATE INDEX idempotency_keys_created_at ON booking.idempotency_keys (created_at);

-- The saga log: the whole order as jsonb (the record the saga reads back),
-- plus the columns queries filter on. `final` mirrors
-- OrderStatus::is_final; claims are leases of completers and do not
-- change the version.
CREATE TABLE booking.orders (
    id            uuid        PRIMARY KEY,
    buyer         uuid        NOT NULL,
    status        text        NOT NULL,
    final         boolean     NOT NULL,
    retry_at      bigint,
    version       bigint      NOT NULL CHECK (version >= 1),
    claim_worker  uuid,
    claimed_until bigint,
    created_at    timestamptz NOT NULL,
    body          jsonb       NOT NULL
);
CREATE INDEX orders_buyer ON booking.orders (buyer, created_at, id);
CREATE INDEX orders_unfinished ON booking.orders (id) WHERE NOT final;

-- The outbox: messages in enqueue order (seq), the payload kept as text
-- byte for byte (jsonb would rewrite it).
CREATE TABLE booking.outbox (
    id            text    PRIMARY KEY,
    seq           bigint  GENERATED ALWAYS AS IDENTITY,
    topic         text    NOT NULL,
    payload       text    NOT NULL,
    attempts      integer NOT NULL DEFAULT 0,
    delivered     boolean NOT NULL DEFAULT false,
    claim_worker  uuid,
    claimed_until bigint
);
CREATE INDEX outbox_pending ON booking.outbox (seq) WHERE NOT delivered;
