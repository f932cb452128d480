-- Per-partition copies of the per-show functions.
--
-- Every per-show table is hash-partitioned 8 ways by show, and one show's
-- rows of every table live in the partitions of the same number
-- (booking.seats_p3, booking.holds_p3, booking.changes_p3, ...). A
-- function's statements run as cached generic plans, and on PostgreSQL 15
-- a generic plan locks every partition of every table it names, with their
-- indexes, at each execution, before it prunes them to the show's: some 60
-- relations for a hold. Beyond 16 locks a session leaves the fast path and
-- takes the shared lock table's locks, and concurrent holds queue on them.
--
-- So each per-show function has a copy per partition, `<name>_p<n>`, whose
-- statements name the partitions `_p<n>` of the per-show tables and call
-- the copies `_p<n>` of the functions they call. The client, which knows
-- the show, learns its partition number once (booking.show_partition) and
-- calls the copies. The copies are generated from the functions'
-- definitions by booking.route_partitions, never written by hand: a
-- migration that changes a routed function calls it again.

-- The number n of the partitions booking.<table>_p<n> that hold the show's
-- rows.
CREATE FUNCTION booking.show_partition(p_show uuid) RETURNS integer
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT i FROM generate_series(0, 7) i WHERE satisfies_hash_partition('booking.seats'::regclass, 8, i, p_show)
$$;

-- The per-show tables: the partitioned tables of the schema.
CREATE FUNCTION booking.partitioned_tables() RETURNS text[]
LANGUAGE sql STABLE AS $$
    SELECT coalesce(array_agg(c.relname::text ORDER BY c.relname), '{}')
    FROM pg_partitioned_table p
    JOIN pg_class c ON c.oid = p.partrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'booking'
$$;

-- A function definition `p_def` rewritten for partition `p_part`: every
-- per-show table named by its partition, every function of `p_routed`
-- called (or defined) by its copy's name.
CREATE FUNCTION booking.partition_source(p_def text, p_part integer, p_routed text[]) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v text := p_def;
    t text;
BEGIN
    FOREACH t IN ARRAY booking.partitioned_tables() LOOP
        v := regexp_replace(v, '\mbooking\.' || t || '\M', 'booking.' || t || '_p' || p_part, 'g');
    END LOOP;
    FOREACH t IN ARRAY p_routed LOOP
        v := regexp_replace(v, '\mbooking\.' || t || '\(', 'booking.' || t || '_p' || p_part || '(', 'g');
    END LOOP;
    RETURN v;
END $$;

-- The functions routed with `p_roots`: the roots, and every function of
-- the schema they call, directly or through one another, that names a
-- per-show table or calls one that does.
CREATE FUNCTION booking.routed_functions(p_roots text[]) RETURNS text[]
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_tables text := '\mbooking\.(' || array_to_string(booking.partitioned_tables(), '|') || ')\M';
    v_per_show text[];
    v_routed text[] := p_roots;
    v_new text[];
BEGIN
    SELECT coalesce(array_agg(DISTINCT p.proname::text), '{}') INTO v_per_show
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = 'booking' AND p.prosrc ~ v_tables;
    LOOP
        SELECT array_agg(DISTINCT p.proname::text) INTO v_new
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'booking' AND p.proname <> ALL (v_per_show)
          AND EXISTS (SELECT 1 FROM regexp_matches(p.prosrc, '\mbooking\.(\w+)\(', 'g') x WHERE x[1] = ANY (v_per_show));
        EXIT WHEN v_new IS NULL;
        v_per_show := v_per_show || v_new;
    END LOOP;
    LOOP
        SELECT array_agg(DISTINCT x[1] ORDER BY x[1]) INTO v_new
        FROM pg_proc p
        JOIN pg_namespace n ON n.oid = p.pronamespace AND n.nspname = 'booking'
        CROSS JOIN LATERAL regexp_matches(p.prosrc, '\mbooking\.(\w+)\(', 'g') x
        WHERE p.proname = ANY (v_routed) AND x[1] <> ALL (v_routed) AND x[1] = ANY (v_per_show);
        EXIT WHEN v_new IS NULL;
        v_routed := v_routed || v_new;
    END LOOP;
    RETURN v_routed;
END $$;

-- The per-show functions the client calls through their copies.
CREATE FUNCTION booking.routed_roots() RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT ARRAY['hold_seats', 'hold_best_seats', 'hold_pool', 'extend_seats', 'finish_seats', 'sell_seats_paid',
                 'pool_op_paid', 'regroup_seats', 'refund_pool', 'hold_seats_batch', 'release_seats_batch']
$$;

-- (Re)creates the copies `<name>_p0` .. `<name>_p7` of every routed
-- function from its definition now; returns how many it created. Checks
-- first that every per-show table has the partitions `_p0` .. `_p7` of
-- remainders 0 .. 7 of one 8-way hash partitioning.
CREATE FUNCTION booking.route_partitions() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_routed text[] := booking.routed_functions(booking.routed_roots());
    v_made integer := 0;
    t text;
    f record;
BEGIN
    FOREACH t IN ARRAY booking.partitioned_tables() LOOP
        FOR i IN 0 .. 7 LOOP
            IF NOT EXISTS (
                SELECT 1 FROM pg_class c JOIN pg_inherits h ON h.inhrelid = c.oid
                WHERE c.oid = to_regclass(format('booking.%I', t || '_p' || i))
                  AND h.inhparent = format('booking.%I', t)::regclass
                  AND pg_get_expr(c.relpartbound, c.oid) = format('FOR VALUES WITH (modulus 8, remainder %s)', i)
            ) THEN
                RAISE EXCEPTION 'booking.%_p% is not the partition of remainder % of booking.%', t, i, i, t;
            END IF;
        END LOOP;
    END LOOP;
    FOR f IN
        SELECT p.oid::regprocedure AS sig FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'booking' AND p.proname ~ '_p[0-7]$'
          AND left(p.proname, -3) = ANY (v_routed)
    LOOP
        EXECUTE format('DROP FUNCTION %s', f.sig);
    END LOOP;
    FOR f IN
        SELECT pg_get_functiondef(p.oid) AS def FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'booking' AND p.proname = ANY (v_routed)
    LOOP
        FOR i IN 0 .. 7 LOOP
            EXECUTE booking.partition_source(f.def, i, v_routed);
            v_made := v_made + 1;
        END LOOP;
    END LOOP;
    RETURN v_made;
END $$;

SELECT booking.route_partitions();
