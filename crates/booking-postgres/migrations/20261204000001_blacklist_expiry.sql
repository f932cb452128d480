-- Blacklist entries that expire.
--
-- expires_at (Unix ms) is when an entry stops refusing; NULL keeps it
-- until removed. A check and a listing skip entries whose expiry is not
-- later than the decision time (the injected clock's, or
-- booking.clock_ms()); an add deletes the entries lapsed by then, found
-- through the partial index, so lapsed entries do not pile up.

ALTER TABLE booking.blacklist ADD COLUMN expires_at bigint CHECK (expires_at >= 0);

CREATE INDEX blacklist_expires_at ON booking.blacklist (expires_at) WHERE expires_at IS NOT NULL;
