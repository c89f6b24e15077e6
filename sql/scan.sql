-- CompactScan: reads only the columns a query needs and skips fragments and
-- row groups whose statistics rule out its conditions.  Every query is
-- compared with a heap twin, with pruning on and off.
CREATE EXTENSION IF NOT EXISTS compact;
\set VERBOSITY terse
SET max_parallel_workers_per_gather = 0;

CREATE OR REPLACE FUNCTION public.digest(rel regclass) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE r text;
BEGIN
	EXECUTE format('SELECT count(*) || '':'' || coalesce(md5(string_agg(x::text, '','' ORDER BY x::text)), ''-'') FROM %s x', rel) INTO r;
	RETURN r;
END $$;

-- the rows a query returns on a compact table and on its heap twin agree,
-- with pruning on and off; returns the number of rows
CREATE OR REPLACE FUNCTION public.same_rows(q text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE a text; b text; c text;
BEGIN
	EXECUTE format('SELECT count(*) || '':'' || coalesce(md5(string_agg(x::text, '','' ORDER BY x::text)), ''-'') FROM (%s) x',
				   replace(q, 'TBL', 'sc')) INTO a;
	SET LOCAL compact.scan_pruning = off;
	EXECUTE format('SELECT count(*) || '':'' || coalesce(md5(string_agg(x::text, '','' ORDER BY x::text)), ''-'') FROM (%s) x',
				   replace(q, 'TBL', 'sc')) INTO b;
	SET LOCAL compact.scan_pruning = on;
	EXECUTE format('SELECT count(*) || '':'' || coalesce(md5(string_agg(x::text, '','' ORDER BY x::text)), ''-'') FROM (%s) x',
				   replace(q, 'TBL', 'sc_heap')) INTO c;
	IF a = c AND b = c THEN
		RETURN split_part(c, ':', 1);
	END IF;
	RETURN 'MISMATCH ' || a || ' / ' || b || ' / ' || c;
END $$;

-- the EXPLAIN ANALYZE counters of a query, summed over its scans:
-- "fragments scanned/skipped, row groups scanned/skipped"
CREATE OR REPLACE FUNCTION public.counters(q text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE line text; n int[] := '{0,0,0,0}'; k int;
BEGIN
	FOR line IN EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || q LOOP
		k := CASE WHEN line ~ 'Fragments Scanned' THEN 1 WHEN line ~ 'Fragments Skipped' THEN 2
				  WHEN line ~ 'Row Groups Scanned' THEN 3 WHEN line ~ 'Row Groups Skipped' THEN 4 END;
		IF k IS NOT NULL THEN
			n[k] := n[k] + (regexp_match(line, '(\d+)$'))[1]::int;
		END IF;
	END LOOP;
	RETURN format('fragments %s/%s, row groups %s/%s', n[1], n[2], n[3], n[4]);
END $$;

-- 10 fragments of 2 row groups each: ids 1..20000 in order, ts by id,
-- a text column with NULLs, a category, a float
SET compact.row_group_size = 1000;
CREATE TABLE sc (id int, ts timestamptz, name text, cat int, f float8, n numeric) USING compact;
CREATE TABLE sc_heap (LIKE sc);
SELECT format('INSERT INTO sc SELECT g, ''2024-01-01 00:00+00''::timestamptz + g * interval ''1 min'',
	CASE WHEN g %% 10 = 0 THEN NULL ELSE ''n'' || lpad(g::text, 6, ''0'') END, g %% 7, g / 4.0, g * 1.5
	FROM generate_series(%s, %s) g', i * 2000 + 1, i * 2000 + 2000)
  FROM generate_series(0, 9) i \gexec
RESET compact.row_group_size;
INSERT INTO sc_heap SELECT * FROM sc;
-- a fragment with only NULL names, and deleted rows
INSERT INTO sc SELECT g, NULL, NULL, NULL, NULL, NULL FROM generate_series(20001, 20100) g;
INSERT INTO sc_heap SELECT g, NULL, NULL, NULL, NULL, NULL FROM generate_series(20001, 20100) g;
DELETE FROM sc WHERE id % 100 = 7;
DELETE FROM sc_heap WHERE id % 100 = 7;
VACUUM ANALYZE sc;
ANALYZE sc_heap;

-- plans: the custom scan, the columns it reads, its pruning quals
EXPLAIN (COSTS OFF) SELECT count(*) FROM sc;
EXPLAIN (COSTS OFF) SELECT sum(f), max(name) FROM sc WHERE id BETWEEN 100 AND 200;
EXPLAIN (COSTS OFF) SELECT * FROM sc WHERE cat = 3;
EXPLAIN (COSTS OFF) SELECT sc FROM sc WHERE id = 5;
EXPLAIN (VERBOSE, COSTS OFF) SELECT id FROM sc WHERE name > 'n01' AND f < 10;

-- every qual form: same rows as heap, pruning on and off; and what it read
SELECT same_rows('SELECT * FROM TBL WHERE id = 4321') AS rows, counters('SELECT * FROM sc WHERE id = 4321');
SELECT same_rows('SELECT * FROM TBL WHERE id <> 4321') AS rows, counters('SELECT * FROM sc WHERE id <> 4321');
SELECT same_rows('SELECT * FROM TBL WHERE id < 1500') AS rows, counters('SELECT * FROM sc WHERE id < 1500');
SELECT same_rows('SELECT * FROM TBL WHERE id <= 2000') AS rows, counters('SELECT * FROM sc WHERE id <= 2000');
SELECT same_rows('SELECT * FROM TBL WHERE id > 19000') AS rows, counters('SELECT * FROM sc WHERE id > 19000');
SELECT same_rows('SELECT * FROM TBL WHERE id >= 19001') AS rows, counters('SELECT * FROM sc WHERE id >= 19001');
SELECT same_rows('SELECT * FROM TBL WHERE id BETWEEN 5500 AND 6600') AS rows, counters('SELECT * FROM sc WHERE id BETWEEN 5500 AND 6600');
SELECT same_rows('SELECT * FROM TBL WHERE id IN (3, 9999, 15000)') AS rows, counters('SELECT * FROM sc WHERE id IN (3, 9999, 15000)');
SELECT same_rows('SELECT * FROM TBL WHERE id = ANY (ARRAY[12, 13])') AS rows, counters('SELECT * FROM sc WHERE id = ANY (ARRAY[12, 13])');
SELECT same_rows('SELECT * FROM TBL WHERE name IS NULL') AS rows, counters('SELECT * FROM sc WHERE name IS NULL');
SELECT same_rows('SELECT * FROM TBL WHERE ts IS NULL') AS rows, counters('SELECT * FROM sc WHERE ts IS NULL');
SELECT same_rows('SELECT * FROM TBL WHERE ts IS NOT NULL AND id > 20000') AS rows, counters('SELECT * FROM sc WHERE ts IS NOT NULL AND id > 20000');
SELECT same_rows('SELECT * FROM TBL WHERE id < 100 OR id > 19900') AS rows, counters('SELECT * FROM sc WHERE id < 100 OR id > 19900');
SELECT same_rows('SELECT * FROM TBL WHERE id > 1000 AND id < 1100 AND cat = 2') AS rows, counters('SELECT * FROM sc WHERE id > 1000 AND id < 1100 AND cat = 2');
SELECT same_rows('SELECT * FROM TBL WHERE name = ''n004000''') AS rows, counters('SELECT * FROM sc WHERE name = ''n004000''');
SELECT same_rows('SELECT * FROM TBL WHERE name LIKE ''n0040%''') AS rows, counters('SELECT * FROM sc WHERE name LIKE ''n0040%''');
SELECT same_rows('SELECT * FROM TBL WHERE ts < ''2024-01-01 10:00+00''') AS rows, counters('SELECT * FROM sc WHERE ts < ''2024-01-01 10:00+00''');
SELECT same_rows('SELECT * FROM TBL WHERE f BETWEEN 100.0 AND 200.0') AS rows, counters('SELECT * FROM sc WHERE f BETWEEN 100.0 AND 200.0');
SELECT same_rows('SELECT * FROM TBL WHERE n > 29000') AS rows, counters('SELECT * FROM sc WHERE n > 29000');
SELECT same_rows('SELECT * FROM TBL WHERE NOT (id > 100)') AS rows, counters('SELECT * FROM sc WHERE NOT (id > 100)');
SELECT same_rows('SELECT * FROM TBL WHERE id > 30000') AS rows, counters('SELECT * FROM sc WHERE id > 30000');
SELECT same_rows('SELECT * FROM TBL WHERE id % 100 = 7') AS rows;
SELECT same_rows('SELECT * FROM TBL WHERE random() < 2 AND id < 50') AS rows;
-- values known only at execution
SELECT same_rows('SELECT * FROM TBL WHERE ts > now()') AS rows, counters('SELECT * FROM sc WHERE ts > now()');
SELECT same_rows('SELECT * FROM TBL WHERE id = (SELECT 42)') AS rows, counters('SELECT * FROM sc WHERE id = (SELECT 42)');
SELECT same_rows('SELECT * FROM TBL WHERE id < (SELECT min(id) + 10 FROM TBL)') AS rows;
PREPARE p(int, int) AS SELECT count(*), sum(id) FROM sc WHERE id BETWEEN $1 AND $2;
PREPARE p_heap(int, int) AS SELECT count(*), sum(id) FROM sc_heap WHERE id BETWEEN $1 AND $2;
SET plan_cache_mode = force_generic_plan;
EXECUTE p(10, 20);
EXECUTE p_heap(10, 20);
EXECUTE p(18000, 25000);
EXECUTE p_heap(18000, 25000);
SELECT counters('EXECUTE p(10, 20)');
EXPLAIN (COSTS OFF) EXECUTE p(10, 20);
RESET plan_cache_mode;
-- the inner side of a join, rescanned with new parameters
SELECT same_rows('SELECT g, c FROM generate_series(0, 20000, 2500) g, LATERAL (SELECT count(*) AS c FROM TBL WHERE id BETWEEN g AND g + 10) s') AS rows;
SELECT g, c FROM generate_series(0, 20000, 5000) g,
	LATERAL (SELECT count(*) AS c FROM sc WHERE id BETWEEN g AND g + 10) s ORDER BY g;
SELECT same_rows('SELECT a.id, b.cat FROM TBL a JOIN TBL b ON a.id = b.id + 1 WHERE a.id < 50') AS rows;
-- LIMIT
SELECT same_rows('SELECT id FROM (SELECT id FROM TBL WHERE id > 5000 LIMIT 3) s WHERE id < 0') AS rows;
SELECT count(*) FROM (SELECT * FROM sc WHERE cat = 1 LIMIT 5) s;
-- whole-row references read every column
SELECT same_rows('SELECT t FROM TBL t WHERE id < 20') AS rows;

-- the transaction's own unflushed rows and deletes are seen, pruned or not
BEGIN;
INSERT INTO sc VALUES (99999, now(), 'mine', 1, 1, 1);
DELETE FROM sc WHERE id = 4321;
SELECT id, name FROM sc WHERE id > 99990 OR id = 4321;
SELECT counters('SELECT * FROM sc WHERE id > 99990');
ROLLBACK;

-- empty table
CREATE TABLE empty_sc (a int) USING compact;
SELECT count(*), counters('SELECT * FROM empty_sc WHERE a = 1') FROM empty_sc;

-- clustering is what pruning pays for
CREATE TABLE pts (id int, x float8, y float8) USING compact;
CREATE TABLE pts_heap (id int, x float8, y float8);
SET compact.row_group_size = 1000;
INSERT INTO pts SELECT g, (g::bigint * 7919 % 10007) / 100.07, (g::bigint * 104729 % 10009) / 100.09 FROM generate_series(1, 50000) g;
INSERT INTO pts_heap SELECT * FROM pts;
SELECT counters('SELECT * FROM pts WHERE x BETWEEN 10 AND 20 AND y BETWEEN 30 AND 40');
VACUUM (COMPACT, Z_ORDER_BY 'x, y') pts;
SELECT counters('SELECT * FROM pts WHERE x BETWEEN 10 AND 20 AND y BETWEEN 30 AND 40');
VACUUM (COMPACT, HILBERT_BY 'x, y') pts;
SELECT counters('SELECT * FROM pts WHERE x BETWEEN 10 AND 20 AND y BETWEEN 30 AND 40');
VACUUM (COMPACT, ORDER_BY 'x') pts;
SELECT counters('SELECT * FROM pts WHERE x BETWEEN 10 AND 11');
RESET compact.row_group_size;
SELECT (SELECT digest('pts')) = (SELECT digest('pts_heap')) AS same;
SELECT (SELECT count(*) FROM pts WHERE x BETWEEN 10 AND 20 AND y BETWEEN 30 AND 40) =
	   (SELECT count(*) FROM pts_heap WHERE x BETWEEN 10 AND 20 AND y BETWEEN 30 AND 40) AS same_box;

-- parallel: workers share the fragments, counters add up
SET max_parallel_workers_per_gather = 2;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
EXPLAIN (COSTS OFF) SELECT count(*) FROM sc WHERE cat = 1;
SELECT same_rows('SELECT count(*), sum(f) FROM TBL WHERE cat = 1') AS rows;
SELECT counters('SELECT count(*) FROM sc WHERE id < 3000');
RESET max_parallel_workers_per_gather;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;

-- the planner still picks an index when it is better
CREATE INDEX sc_id ON sc (id);
EXPLAIN (COSTS OFF) SELECT * FROM sc WHERE id = 77;
SELECT same_rows('SELECT * FROM TBL WHERE id = 77') AS rows;
SET compact.enable_custom_scan = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM sc;
RESET compact.enable_custom_scan;

-- quals the pruning does not understand (CASE, functions of columns) are
-- evaluated, never bound
SELECT same_rows('SELECT * FROM TBL WHERE CASE WHEN id = 4321 THEN true ELSE false END') AS rows,
	   counters('SELECT * FROM sc WHERE CASE WHEN id = 4321 THEN true ELSE false END');
SELECT same_rows('SELECT * FROM TBL WHERE CASE id WHEN 4321 THEN true WHEN 17 THEN true ELSE false END') AS rows;
SELECT same_rows('SELECT * FROM TBL WHERE id < 100 AND CASE WHEN name IS NULL THEN 0 ELSE length(name) END > 0') AS rows;

DROP TABLE sc, sc_heap, empty_sc, pts, pts_heap;
