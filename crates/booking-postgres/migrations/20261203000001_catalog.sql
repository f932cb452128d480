-- The events catalog: venues, events and shows, listed by filters and
-- found by ranked full-text search.
--
-- Each record is kept whole as jsonb (`record`, what the catalog reads
-- back, exactly as written), with the columns that queries filter and
-- sort on beside it; `version` is the compare-and-set version and
-- `archived` hides a record (and, for an event or venue, its shows) from
-- listings and search.
--
-- Search: every show has a weighted tsvector, `document`: its event's
-- title (A), performers (B), categories (C) and description (D), and its
-- venue's name and city (C). Each text is indexed twice, by two text
-- search configurations of this schema: `catalog_stems` (English stems)
-- and `catalog_words` (whole words), both without accents when the
-- `unaccent` extension is available. Exact words match either; the last
-- word of a query also matches as a prefix of a whole word; words of 5
-- letters or more also match with a typo, through `catalog_vocabulary`
-- (every word of the catalog, under a pg_trgm index). The application
-- splits texts into words (runs of letters and digits) before they reach
-- these functions, so that the database and every other backend agree on
-- what a word is.
--
-- Extensions: `unaccent` and `pg_trgm` ship with PostgreSQL (contrib) and
-- are created here when the server has them and the migrating role may
-- create them. Without `unaccent` accents count; without `pg_trgm` a typo
-- finds nothing; everything else works.

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'unaccent') THEN
        BEGIN
            CREATE EXTENSION IF NOT EXISTS unaccent;
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE NOTICE 'booking catalog: cannot create extension unaccent (%); accents will count in search', SQLERRM;
        END;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm') THEN
        BEGIN
            CREATE EXTENSION IF NOT EXISTS pg_trgm;
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE NOTICE 'booking catalog: cannot create extension pg_trgm (%); search will not forgive typos', SQLERRM;
        END;
    END IF;
END $$;

CREATE TEXT SEARCH CONFIGURATION booking.catalog_words (COPY = pg_catalog.simple);
CREATE TEXT SEARCH CONFIGURATION booking.catalog_stems (COPY = pg_catalog.english);

-- Accents off, by the unaccent dictionary of whichever schema holds it.
DO $$
DECLARE
    s text;
BEGIN
    SELECT n.nspname INTO s FROM pg_extension x JOIN pg_namespace n ON n.oid = x.extnamespace
    WHERE x.extname = 'unaccent';
    IF s IS NOT NULL THEN
        EXECUTE format('ALTER TEXT SEARCH CONFIGURATION booking.catalog_words '
            'ALTER MAPPING FOR word, hword, hword_part, numword, numhword WITH %I.unaccent, pg_catalog.simple', s);
        EXECUTE format('ALTER TEXT SEARCH CONFIGURATION booking.catalog_stems '
            'ALTER MAPPING FOR word, hword, hword_part WITH %I.unaccent, pg_catalog.english_stem', s);
        EXECUTE format('ALTER TEXT SEARCH CONFIGURATION booking.catalog_stems '
            'ALTER MAPPING FOR numword, numhword WITH %I.unaccent, pg_catalog.simple', s);
    END IF;
END $$;

-- A text's stems and whole words (the text already split into words).
CREATE FUNCTION booking.catalog_text(t text) RETURNS tsvector
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS
$$ SELECT to_tsvector('booking.catalog_stems', t) || to_tsvector('booking.catalog_words', t) $$;

-- An event's document: title A, performers B, categories C, description D.
CREATE FUNCTION booking.catalog_event_document(title text, performers text, categories text, description text)
RETURNS tsvector LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT setweight(booking.catalog_text(title), 'A') || setweight(booking.catalog_text(performers), 'B')
        || setweight(booking.catalog_text(categories), 'C') || setweight(booking.catalog_text(description), 'D')
$$;

-- A venue's document: name and city, C.
CREATE FUNCTION booking.catalog_venue_document(place text)
RETURNS tsvector LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS
$$ SELECT setweight(booking.catalog_text(place), 'C') $$;

CREATE TABLE booking.catalog_venues (
    id       uuid     PRIMARY KEY,
    version  bigint   NOT NULL,
    archived boolean  NOT NULL DEFAULT false,
    record   jsonb    NOT NULL,
    -- The city, lower-cased by the application (the `city` filter).
    city_key text     NOT NULL,
    -- Name and city, weight C.
    document tsvector NOT NULL
);
CREATE INDEX catalog_venues_city ON booking.catalog_venues (city_key);

CREATE TABLE booking.catalog_events (
    id            uuid     PRIMARY KEY,
    version       bigint   NOT NULL,
    archived      boolean  NOT NULL DEFAULT false,
    record        jsonb    NOT NULL,
    -- The categories, lower-cased by the application (the `category` filter).
    category_keys text[]   NOT NULL,
    -- Title A, performers B, categories C, description D.
    document      tsvector NOT NULL
);
CREATE INDEX catalog_events_categories ON booking.catalog_events USING gin (category_keys);

-- summary is the last availability summary stored (jsonb, exactly as
-- written), summary_level its level (1 available, 2 selling fast, 3 sold
-- out) and observed_at when it was read; all NULL until the first.
CREATE TABLE booking.catalog_shows (
    id           uuid        PRIMARY KEY,
    version      bigint      NOT NULL,
    archived     boolean     NOT NULL DEFAULT false,
    record       jsonb       NOT NULL,
    event_id     uuid        NOT NULL REFERENCES booking.catalog_events (id),
    venue_id     uuid        NOT NULL REFERENCES booking.catalog_venues (id),
    starts_at    timestamptz NOT NULL,
    on_sale_at   timestamptz NOT NULL,
    -- off_sale_at, else starts_at.
    sales_end    timestamptz NOT NULL,
    summary      jsonb,
    summary_level smallint CHECK (summary_level BETWEEN 1 AND 3),
    observed_at  timestamptz,
    -- The event's document followed by the venue's, kept current by every
    -- write to either.
    document     tsvector    NOT NULL,
    CHECK ((summary IS NULL) = (observed_at IS NULL) AND (summary IS NULL) = (summary_level IS NULL))
);
-- fastupdate off: writes are rare and searches constant, so every write
-- updates the index at once rather than leaving entries in a pending list
-- that each search would scan until the next vacuum.
CREATE INDEX catalog_shows_document ON booking.catalog_shows USING gin (document) WITH (fastupdate = off);
CREATE INDEX catalog_shows_starts ON booking.catalog_shows (starts_at, id);
CREATE INDEX catalog_shows_event ON booking.catalog_shows (event_id);
CREATE INDEX catalog_shows_venue ON booking.catalog_shows (venue_id);

-- Every word of every document, for typo tolerance. Words are added, never
-- removed: a word no document holds any more costs a row and matches
-- nothing.
CREATE TABLE booking.catalog_vocabulary (
    word text PRIMARY KEY
);

-- A lexeme quoted for tsquery input.
CREATE FUNCTION booking.catalog_lexeme(l text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS
$$ SELECT '''' || replace(replace(l, '\', '\\'), '''', '''''') || '''' $$;

-- Whether a and b are at most k edits apart (insertions, deletions,
-- substitutions, swaps of neighbours: the optimal string alignment
-- distance), stopping as soon as every path costs more.
CREATE FUNCTION booking.catalog_within_edits(a text, b text, k integer) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    la integer := length(a);
    lb integer := length(b);
    prev2 integer[];
    prev integer[];
    cur integer[];
    d integer;
    row_min integer;
BEGIN
    IF abs(la - lb) > k THEN
        RETURN false;
    END IF;
    -- Row i of the table at indexes 1..lb+1 (column j at j+1).
    prev := ARRAY(SELECT generate_series(0, lb));
    prev2 := array_fill(0, ARRAY[lb + 1]);
    FOR i IN 1..la LOOP
        cur := array_fill(0, ARRAY[lb + 1]);
        cur[1] := i;
        row_min := i;
        FOR j IN 1..lb LOOP
            d := least(prev[j + 1] + 1, cur[j] + 1,
                       prev[j] + CASE WHEN substr(a, i, 1) = substr(b, j, 1) THEN 0 ELSE 1 END);
            IF i > 1 AND j > 1 AND substr(a, i, 1) = substr(b, j - 1, 1) AND substr(a, i - 1, 1) = substr(b, j, 1) THEN
                d := least(d, prev2[j - 1] + 1);
            END IF;
            cur[j + 1] := d;
            row_min := least(row_min, d);
        END LOOP;
        IF row_min > k THEN
            RETURN false;
        END IF;
        prev2 := prev;
        prev := cur;
    END LOOP;
    RETURN prev[lb + 1] <= k;
END $$;

-- The words of the vocabulary a typo away from lexeme l: none under 5
-- letters, within one edit up to 8, two from 9; at most 16, the most
-- similar first. Candidates come from the trigram index (similarity 0.2
-- and up, which every single edit of a 5-letter word reaches), then the
-- edit distance decides.
DO $$
DECLARE
    s text;
BEGIN
    SELECT n.nspname INTO s FROM pg_extension x JOIN pg_namespace n ON n.oid = x.extnamespace
    WHERE x.extname = 'pg_trgm';
    IF s IS NOT NULL THEN
        EXECUTE format('CREATE INDEX catalog_vocabulary_trgm ON booking.catalog_vocabulary '
            'USING gin (word %I.gin_trgm_ops) WITH (fastupdate = off)', s);
        EXECUTE format($f$
            CREATE FUNCTION booking.catalog_typos(l text) RETURNS SETOF text
            LANGUAGE sql STABLE STRICT PARALLEL SAFE
            SET search_path = pg_catalog, %I
            SET pg_trgm.similarity_threshold = 0.2
            AS $body$
                SELECT v.word FROM booking.catalog_vocabulary v
                WHERE length(l) >= 5 AND v.word %% l AND v.word <> l
                  AND booking.catalog_within_edits(v.word, l, CASE WHEN length(l) <= 8 THEN 1 ELSE 2 END)
                ORDER BY similarity(v.word, l) DESC, v.word
                LIMIT 16
            $body$ $f$, s);
    ELSE
        CREATE FUNCTION booking.catalog_typos(l text) RETURNS SETOF text
        LANGUAGE sql STABLE STRICT PARALLEL SAFE AS
        $body$ SELECT NULL::text WHERE false $body$;
    END IF;
END $$;

-- The tsqueries of one query word: `exact` (its stems and whole words),
-- `prefix` (only for the last word: its whole words as prefixes) and
-- `typo` (the vocabulary words a typo away, other than its exact ones);
-- each NULL when empty.
CREATE FUNCTION booking.catalog_word_query(
    w text, last boolean, OUT exact tsquery, OUT prefix tsquery, OUT typo tsquery)
LANGUAGE sql STABLE STRICT PARALLEL SAFE AS $$
    WITH plain AS (SELECT tsvector_to_array(to_tsvector('booking.catalog_words', w)) AS ls),
         stems AS (SELECT tsvector_to_array(to_tsvector('booking.catalog_stems', w)) AS ls)
    SELECT
        (SELECT string_agg(DISTINCT booking.catalog_lexeme(l), ' | ') FROM unnest(plain.ls || stems.ls) l)::tsquery,
        CASE WHEN last THEN
            (SELECT string_agg(booking.catalog_lexeme(l) || ':*', ' | ') FROM unnest(plain.ls) l)::tsquery
        END,
        (SELECT string_agg(DISTINCT booking.catalog_lexeme(t), ' | ')
         FROM unnest(plain.ls) l, booking.catalog_typos(l) t
         WHERE t <> ALL (plain.ls || stems.ls))::tsquery
    FROM plain, stems
$$;
