-- Limits: rate-limit state (GCRA) and the blacklist.
--
-- Rate limits keep one row per key: its theoretical arrival time (TAT),
-- in Unix microseconds. booking.gcra_acquire runs booking-core's pure
-- function gcra_step (additions, a maximum, a comparison) in one
-- INSERT ... ON CONFLICT DO UPDATE: the row lock orders concurrent
-- requests on one key, so a burst of b lets exactly b of them through.
-- The divisions (emission interval, burst left, retry-after) are done by
-- the caller, as on every backend, so every store answers alike.

CREATE TABLE booking.rate_limits (
    key        text    PRIMARY KEY CHECK (octet_length(key) BETWEEN 1 AND 256),
    -- Theoretical arrival time (Unix µs): when the key's burst is full again.
    tat        bigint  NOT NULL,
    -- The answer to the latest request, and when it was decided (Unix µs):
    -- what the statement that wrote them returns.
    allowed    boolean NOT NULL,
    decided_at bigint  NOT NULL
);
-- purge() deletes keys whose burst is full again (tat <= now).
CREATE INDEX rate_limits_tat ON booking.rate_limits (tat);

-- One GCRA step on p_key: a request adding p_increment µs to the TAT,
-- under a quota whose full burst spans p_span µs, at p_now (Unix µs; NULL
-- for the database clock). Returns whether it passes, the TAT after the
-- step (for a refusal: the later of the stored TAT and now, as gcra_step
-- reports it) and the decision time.
CREATE FUNCTION booking.gcra_acquire(p_key text, p_now bigint, p_increment bigint, p_span bigint)
RETURNS TABLE (allowed boolean, tat bigint, now bigint)
LANGUAGE sql VOLATILE AS $$
    INSERT INTO booking.rate_limits AS r (key, tat, allowed, decided_at)
    SELECT p_key,
           CASE WHEN p_increment <= p_span THEN t.now + p_increment ELSE t.now END,
           p_increment <= p_span,
           t.now
    FROM (SELECT coalesce(p_now, booking.clock_ms() * 1000) AS now) t
    ON CONFLICT (key) DO UPDATE SET
        allowed    = greatest(r.tat, EXCLUDED.decided_at) + p_increment - EXCLUDED.decided_at <= p_span,
        tat        = CASE
                       WHEN greatest(r.tat, EXCLUDED.decided_at) + p_increment - EXCLUDED.decided_at <= p_span
                       THEN greatest(r.tat, EXCLUDED.decided_at) + p_increment
                       ELSE r.tat
                     END,
        decided_at = EXCLUDED.decided_at
    RETURNING r.allowed,
              CASE WHEN r.allowed THEN r.tat ELSE greatest(r.tat, r.decided_at) END,
              r.decided_at
$$;

-- Blacklist entries by field (booking_core::limits::BlacklistEntry::field:
-- 'a:<account>', 'n:<network>', 'f:<fingerprint>'). A check looks up the
-- identity's candidate fields (its account, its fingerprint, every
-- network containing its address) by primary key. Fields compare
-- bytewise ("C"), so listing pages in the same order on every backend.
CREATE TABLE booking.blacklist (
    field    text COLLATE "C" PRIMARY KEY CHECK (octet_length(field) BETWEEN 3 AND 300),
    reason   text   NOT NULL CHECK (octet_length(reason) <= 500),
    -- When the entry was added or last re-added (Unix ms).
    added_at bigint NOT NULL
);
