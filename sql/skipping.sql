-- What clustering lets a query skip, at the scale of the product's promise:
-- 1M uniformly random (lat, lon, ts) rows in 10,000-row row groups.  A box
-- of 10% x 10% of each range (1% of the rows) reads at most 12% of the row
-- groups after Z_ORDER_BY, at most 10% after HILBERT_BY; a 1% time range
-- reads at most 3% after ORDER_BY 'ts'; unclustered, all of them.
CREATE EXTENSION IF NOT EXISTS compact;
\set VERBOSITY terse
SET max_parallel_workers_per_gather = 0;

-- row groups a query reads, as a percentage of the table's, and the rows
CREATE OR REPLACE FUNCTION public.read_share(q text) RETURNS numeric
LANGUAGE plpgsql AS $$
DECLARE line text; scanned int := 0; skipped int := 0;
BEGIN
	FOR line IN EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || q LOOP
		IF line ~ 'Row Groups Scanned' THEN scanned := scanned + substring(line from '(\d+)$')::int; END IF;
		IF line ~ 'Row Groups Skipped' THEN skipped := skipped + substring(line from '(\d+)$')::int; END IF;
	END LOOP;
	RETURN round(100.0 * scanned / nullif(scanned + skipped, 0), 1);
END $$;

-- a deterministic pseudo-random number in [0, 1) from an integer
CREATE OR REPLACE FUNCTION public.rnd(g bigint, salt int) RETURNS float8
LANGUAGE sql IMMUTABLE AS $$
	SELECT ((('x' || substr(md5(g::text || ':' || salt), 1, 12))::bit(48)::bigint) / 281474976710656.0)::float8
$$;

CREATE TABLE locations (lat float8, lon float8, ts timestamptz) USING compact;
INSERT INTO locations
SELECT -90 + 180 * rnd(g, 1), -180 + 360 * rnd(g, 2),
	   timestamptz '2026-01-01 00:00+00' + rnd(g, 3) * interval '100 days'
FROM generate_series(1, 1000000) g;
SELECT count(*), sum(row_groups) AS row_groups FROM compact.fragments WHERE relation = 'locations'::regclass;

\set box 'SELECT count(*) FROM locations WHERE lat BETWEEN 10 AND 28 AND lon BETWEEN 20 AND 56'
\set range 'SELECT count(*) FROM locations WHERE ts >= ''2026-02-01 00:00+00'' AND ts < ''2026-02-02 00:00+00'''
SELECT count(*) AS box_rows FROM locations WHERE lat BETWEEN 10 AND 28 AND lon BETWEEN 20 AND 56;
SELECT read_share(:'box') AS box_unclustered, read_share(:'range') AS range_unclustered;

VACUUM (COMPACT, Z_ORDER_BY 'lat, lon') locations;
SELECT read_share(:'box') AS box_z_order, read_share(:'box') <= 12 AS at_most_12;

VACUUM (COMPACT, HILBERT_BY 'lat, lon') locations;
SELECT read_share(:'box') AS box_hilbert, read_share(:'box') <= 10 AS at_most_10;

VACUUM (COMPACT, ORDER_BY 'ts') locations;
SELECT read_share(:'range') AS range_sorted, read_share(:'range') <= 3 AS at_most_3;

-- the same rows throughout
SELECT count(*) AS box_rows FROM locations WHERE lat BETWEEN 10 AND 28 AND lon BETWEEN 20 AND 56;
SELECT count(*), round(sum(lat)::numeric, 3) AS sum_lat FROM locations;
SELECT count(*), round(sum(-90 + 180 * rnd(g, 1))::numeric, 3) AS sum_lat FROM generate_series(1, 1000000) g;

DROP TABLE locations;
DROP FUNCTION read_share(text), rnd(bigint, int);
