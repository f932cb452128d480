-- Change feed in commit order.
--
-- The feed used to read `booking.changes` up to a stamp once every
-- transaction that could still hold a smaller stamp had ended, fenced by a
-- transaction id taken on every poll. Two faults came of it: a subscriber
-- started from the newest stamp drawn, so a change whose transaction had
-- drawn its stamp but not yet committed when `subscribe` ran was never
-- delivered (its stamp was below the subscriber's start), and every poll
-- allocated a transaction id.
--
-- The reader now follows commits instead of stamps. Each change row records
-- the id of the transaction that wrote it (`xid`). The reader's position is
-- a snapshot (`pg_current_snapshot()`): the set of transactions that had
-- committed when it was taken. One read returns the rows whose transaction
-- is not visible in the previous position and is visible in the new one,
-- that is, exactly the rows committed in between, whatever their stamps. A
-- transaction in flight at a position is, by definition, not visible in it,
-- so its rows come with the first read after it commits: nothing is
-- skipped, and a subscriber that starts from a snapshot and reads a
-- snapshot of the show after it misses nothing either. Taking a snapshot
-- is a read: no transaction id is allocated.
--
-- Within one read, rows come in stamp order. Stamps are still drawn after
-- the change's row locks are taken, so two changes of one seat or pool come
-- in commit order: the second waited for the first's locks, hence its
-- commit.
--
-- Rows written before this migration have no `xid` and are never delivered
-- (they predate every reader started with it).

ALTER TABLE booking.changes ADD COLUMN xid xid8;
ALTER TABLE booking.changes ALTER COLUMN xid SET DEFAULT pg_current_xact_id();
CREATE INDEX changes_xid ON booking.changes (show, xid);

-- What `booking.prune_changes` deleted, per show: the highest transaction id
-- among the deleted rows (`max_xid`, kept as the maximum over all prunes)
-- and the transaction of the latest prune (`pruned_by`). A reader at
-- position P learns of a prune whose `pruned_by` is not visible in P. It
-- may have lost rows to it only if one of the deleted rows' transactions is
-- not visible in P; such a transaction was still running when P was taken,
-- so its id is at least P's xmin (every transaction below xmin had ended,
-- and the committed ones are visible). Hence the test `max_xid >= xmin(P)`:
-- it never misses a loss, and it reports one that did not happen only when
-- a transaction older than some deleted row was still running at P.
CREATE TABLE booking.feed_pruned (
    show      uuid PRIMARY KEY,
    max_xid   xid8 NOT NULL,
    pruned_by xid8 NOT NULL
);

DROP FUNCTION booking.feed_mark();

-- A reader's position: the current snapshot, as text. A read: allocates no
-- transaction id.
CREATE FUNCTION booking.feed_position() RETURNS text
LANGUAGE sql STABLE AS
$$ SELECT pg_current_snapshot()::text $$;

-- One page of the change feed for the shows `p_shows`: the changes
-- committed after position `p_from` and visible in position `p_upto` (NULL:
-- the current snapshot, taken now), with stamps above `p_after`, at most
-- `p_limit` of them, in stamp order. Read-only (STABLE: every statement
-- sees the calling query's snapshot), so no transaction id is allocated.
--
-- Rows, by `kind`:
--   -1  first, always: `upto` is the window's upper position as text;
--   -2  a prune the reader may have lost rows to (see booking.feed_pruned):
--       `show`, and `xid` = the prune's transaction;
--   >= 0 a change (kinds as booking.changes), `xid` its transaction.
-- The prunes are checked in the same statement as the changes, so a row
-- deleted before this statement read it is always reported here.
CREATE FUNCTION booking.feed_read(
    p_shows uuid[], p_from text, p_upto text, p_after bigint, p_limit integer
) RETURNS TABLE (
    kind smallint, show uuid, stamp bigint, xid bigint, hold uuid, order_id uuid, pool integer,
    seats integer[], quantity integer, version bigint, upto text
)
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    v_from pg_snapshot := p_from::pg_snapshot;
    v_upto pg_snapshot := coalesce(p_upto::pg_snapshot, pg_current_snapshot());
BEGIN
    RETURN QUERY SELECT (-1)::smallint, NULL::uuid, NULL::bigint, NULL::bigint, NULL::uuid, NULL::uuid,
        NULL::integer, NULL::integer[], NULL::integer, NULL::bigint, v_upto::text;
    RETURN QUERY
    SELECT (-2)::smallint, p.show, NULL::bigint, p.pruned_by::text::bigint, NULL::uuid, NULL::uuid,
           NULL::integer, NULL::integer[], NULL::integer, NULL::bigint, NULL::text
    FROM booking.feed_pruned p
    WHERE p.show = ANY (p_shows) AND NOT pg_visible_in_snapshot(p.pruned_by, v_from)
      AND p.max_xid >= pg_snapshot_xmin(v_from);
    RETURN QUERY
    SELECT c.kind, c.show, c.stamp, c.xid::text::bigint, c.hold, c.order_id, c.pool, c.seats, c.quantity,
           c.version, NULL::text
    FROM booking.changes c
    WHERE c.show = ANY (p_shows) AND c.xid >= pg_snapshot_xmin(v_from)
      AND NOT pg_visible_in_snapshot(c.xid, v_from) AND pg_visible_in_snapshot(c.xid, v_upto)
      AND c.stamp > p_after
    ORDER BY c.stamp
    LIMIT p_limit;
END $$;

-- Deletes the change rows written more than `p_age_secs` seconds ago and
-- records, per show, what readers need to tell whether they lost any (see
-- booking.feed_pruned). Returns how many rows were deleted. Shows are
-- recorded in show order, so concurrent prunes do not deadlock.
CREATE FUNCTION booking.prune_changes(p_age_secs double precision) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_deleted bigint;
BEGIN
    WITH d AS (
        DELETE FROM booking.changes WHERE at < now() - make_interval(secs => p_age_secs)
        RETURNING show, xid
    ),
    s AS (SELECT d.show, max(d.xid) AS max_xid, count(*) AS n FROM d GROUP BY d.show),
    l AS (
        INSERT INTO booking.feed_pruned AS f (show, max_xid, pruned_by)
        SELECT s.show, s.max_xid, pg_current_xact_id() FROM s WHERE s.max_xid IS NOT NULL ORDER BY s.show
        ON CONFLICT (show) DO UPDATE
        SET max_xid = greatest(f.max_xid, excluded.max_xid), pruned_by = excluded.pruned_by
    )
    SELECT coalesce(sum(s.n), 0)::bigint INTO v_deleted FROM s;
    RETURN v_deleted;
END $$;
