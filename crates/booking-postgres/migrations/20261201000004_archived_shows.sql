-- Archived shows: no longer listed (maintenance stops sweeping them); they
-- answer as before otherwise.
ALTER TABLE booking.shows ADD COLUMN archived_at timestamptz;
CREATE INDEX shows_listed ON booking.shows (show) WHERE archived_at IS NULL;
