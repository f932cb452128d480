-- The waiting room: rooms and their visitors. Times are bigint Unix
-- milliseconds, decided by booking.clock_ms() or an injected clock, as
-- everywhere else. Every change to a room's visitors first locks the
-- room's row (SELECT ... FOR UPDATE), so joins, the draw and waves of one
-- room are decided one at a time, and rooms never wait on each other.

-- One row per room: its settings, the inlet's credits, the revocation
-- generation, the arrival counter, and once drawn the seed, when, the
-- pre-queue in arrival order and the drawn order.
CREATE TABLE booking.admission_rooms (
    id             uuid    PRIMARY KEY,
    opens_at       bigint  NOT NULL CHECK (opens_at >= 0),
    mode           text    NOT NULL CHECK (mode IN ('queue', 'pass', 'closed')),
    late_order     text    NOT NULL CHECK (late_order IN ('arrival', 'random')),
    per_minute     bigint  NOT NULL CHECK (per_minute >= 1),
    max_active     bigint  NOT NULL CHECK (max_active >= 1),
    session_ttl_ms bigint  NOT NULL CHECK (session_ttl_ms >= 1),
    inlet          bigint  CHECK (inlet >= 0),
    credits        bigint  NOT NULL DEFAULT 0 CHECK (credits >= 0),
    generation     bigint  NOT NULL DEFAULT 0,
    next_seq       bigint  NOT NULL DEFAULT 0,
    seed           bytea   CHECK (octet_length(seed) = 32),
    drawn_at       bigint,
    arrivals       uuid[],
    draw_order     uuid[],
    CHECK ((seed IS NULL) = (drawn_at IS NULL))
);

-- One row per visitor (one per session and room). state: pre (in the
-- pre-queue, before the draw), wait, adm (admitted until `until`), exp,
-- left, rev. place orders the queue: drawn rank, then late arrivals from
-- 2^40. revoked_until: a session ended early (left or revoked while live)
-- whose token verifiers must refuse until then.
CREATE TABLE booking.admission_visitors (
    room          uuid    NOT NULL REFERENCES booking.admission_rooms (id),
    visitor       uuid    NOT NULL,
    session       text    NOT NULL CHECK (octet_length(session) BETWEEN 1 AND 256),
    seq           bigint  NOT NULL,
    state         text    NOT NULL CHECK (state IN ('pre', 'wait', 'adm', 'exp', 'left', 'rev')),
    place         bigint  NOT NULL,
    joined_at     bigint  NOT NULL,
    admitted_at   bigint,
    until         bigint,
    revoked_until bigint,
    PRIMARY KEY (room, visitor),
    UNIQUE (room, session)
);
CREATE INDEX admission_queue ON booking.admission_visitors (room, place, visitor) WHERE state = 'wait';
CREATE INDEX admission_pre ON booking.admission_visitors (room, seq) WHERE state = 'pre';
CREATE INDEX admission_active ON booking.admission_visitors (room, until) WHERE state = 'adm';
CREATE INDEX admission_admitted ON booking.admission_visitors (room, admitted_at) WHERE admitted_at IS NOT NULL;
CREATE INDEX admission_revoked ON booking.admission_visitors (room, revoked_until) WHERE revoked_until IS NOT NULL;
