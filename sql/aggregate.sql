-- Aggregates computed by CompactScan itself (count, sum, avg, min, max
-- without GROUP BY): the same results as an Aggregate node over the same
-- scan and as the heap twin, the same errors, and a fallback to the
-- Aggregate node for everything else.
CREATE EXTENSION IF NOT EXISTS compact;
\set VERBOSITY terse
SET max_parallel_workers_per_gather = 0;

-- a query's result with pushdown, without it (an Aggregate node over the
-- same scan) and on the heap twin (TBL is replaced): equal, or all three
CREATE OR REPLACE FUNCTION public.agg_same(q text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE a text; b text; c text;
BEGIN
	EXECUTE format('SELECT x::text FROM (%s) x', replace(q, 'TBL', 'ag')) INTO a;
	SET LOCAL compact.enable_aggregate_pushdown = off;
	EXECUTE format('SELECT x::text FROM (%s) x', replace(q, 'TBL', 'ag')) INTO b;
	SET LOCAL compact.enable_aggregate_pushdown = on;
	EXECUTE format('SELECT x::text FROM (%s) x', replace(q, 'TBL', 'ag_heap')) INTO c;
	IF a IS NOT DISTINCT FROM b AND a IS NOT DISTINCT FROM c THEN
		RETURN a;
	END IF;
	RETURN 'MISMATCH ' || coalesce(a, 'null') || ' / ' || coalesce(b, 'null') || ' / ' || coalesce(c, 'null');
END $$;

-- does the plan of q compute its aggregates in the scan?
CREATE OR REPLACE FUNCTION public.agg_pushed(q text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE line text; scan bool := false; agg bool := false;
BEGIN
	FOR line IN EXECUTE 'EXPLAIN (COSTS OFF, VERBOSE) ' || replace(q, 'TBL', 'ag') LOOP
		IF line ~ 'Aggregates:' THEN scan := true; END IF;
		IF line ~ 'Aggregate\M' AND line !~ 'Aggregates:' THEN agg := true; END IF;
	END LOOP;
	RETURN CASE WHEN scan AND agg THEN 'scan+node' WHEN scan THEN 'scan' WHEN agg THEN 'node' ELSE 'none' END;
END $$;

CREATE TABLE ag (i2 int2, i4 int4, i8 int8, f4 float4, f8 float8, d date,
				 ts timestamp, tz timestamptz, t text) USING compact;
CREATE TABLE ag_heap (LIKE ag);

-- several fragments of several row groups; floats that are multiples of
-- 1/4 so that sums are exact in any order
SET compact.row_group_size = 1000;
INSERT INTO ag SELECT CASE WHEN g % 7 <> 0 THEN (g - 2000)::int2 END,
	CASE WHEN g % 11 <> 0 THEN g * 37 - 100000 END,
	g::int8 * 1000003,
	CASE WHEN g % 13 <> 0 THEN (g % 1000) / 4.0 - 100 END,
	CASE WHEN g % 5 <> 0 THEN (g % 5000) / 4.0 - 600 END,
	date '2020-01-01' + g % 2000,
	CASE WHEN g % 3 <> 0 THEN timestamp '2020-01-01' + g * interval '1 minute' END,
	timestamptz '2020-01-01 00:00+00' - g * interval '1 second',
	md5(g::text)
FROM generate_series(1, 4000) g;
INSERT INTO ag SELECT * FROM ag WHERE i4 % 3 = 0;
INSERT INTO ag SELECT * FROM ag WHERE i2 < 0 LIMIT 500;
INSERT INTO ag (i4, t) VALUES (-1, ''), (-2, NULL), (-3, repeat('z', 300)), (-4, repeat('0', 200)),
	(-5, 'Zulu'), (-6, 'alpha'), (-7, '_under');
RESET compact.row_group_size;
INSERT INTO ag_heap SELECT * FROM ag;
SELECT count(*) >= 3 AS several_fragments, sum(row_groups) >= 6 AS several_row_groups
FROM compact.fragments WHERE relation = 'ag'::regclass;

-- what is computed in the scan, and how EXPLAIN shows it
EXPLAIN (COSTS OFF, VERBOSE) SELECT count(*), sum(f8), avg(f4) FROM ag;
EXPLAIN (COSTS OFF, VERBOSE) SELECT count(*) + 1, max(d) - min(d) FROM ag WHERE i4 > 0 AND d < '2021-01-01';
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
SELECT count(*) FROM ag WHERE i8 < 1000003 * 100;

SELECT agg_same('SELECT count(*), count(i2), count(f8), count(t), count(ts) FROM TBL');
SELECT agg_same('SELECT sum(i2), sum(i4), avg(i2), avg(i4) FROM TBL');
SELECT agg_same('SELECT sum(f4), sum(f8), avg(f4), avg(f8) FROM TBL');
SELECT agg_same('SELECT min(i2), max(i2), min(i4), max(i4), min(i8), max(i8) FROM TBL');
SELECT agg_same('SELECT sum(i8), avg(i8), sum(i8 / 1000003), count(i8) FROM TBL');
-- text in the aggregate's collation; NULLs, '' and long values
SELECT agg_same('SELECT min(t), max(t), min(t COLLATE "C"), max(t COLLATE "POSIX") FROM TBL');
SELECT agg_same('SELECT min(t), max(t) FROM TBL WHERE i4 < 0');
-- C order (memcmp) and a linguistic one (ICU) disagree on these
SELECT agg_same('SELECT min(t COLLATE "C"), max(t COLLATE "C"), min(t COLLATE "und-x-icu"), max(t COLLATE "und-x-icu") FROM TBL WHERE i4 BETWEEN -7 AND -5');
SELECT agg_same('SELECT min(f4), max(f4), min(f8), max(f8) FROM TBL');
SELECT agg_same('SELECT min(d), max(d), min(ts), max(ts), min(tz), max(tz) FROM TBL');
-- expressions over aggregates, the same aggregate twice
SELECT agg_same('SELECT count(*) * 2 + 1, sum(i4)::numeric / nullif(count(i4), 0), sum(f8) = sum(f8), max(d) - min(d) FROM TBL');
-- quals: on the scan's rows, pruned by statistics, with parameters and subqueries
SELECT agg_same('SELECT count(*), sum(f8), min(ts) FROM TBL WHERE i4 BETWEEN 0 AND 50000');
SELECT agg_same('SELECT count(*), avg(i4) FROM TBL WHERE i8 < 1000003 * 100 OR t LIKE ''a%''');
SELECT agg_same('SELECT count(*), max(f4) FROM TBL WHERE f8 IS NULL');
SELECT agg_same('SELECT count(*), sum(i2) FROM TBL WHERE d > (SELECT min(d) + 1000 FROM TBL)');
SELECT agg_same('SELECT count(*) FROM TBL WHERE false');
SELECT agg_same('SELECT count(*), sum(f8), avg(i4), min(d), max(tz) FROM TBL WHERE i4 > 1000000000');
-- rescanned with new parameter values, as the inner side of a subquery
SELECT agg_same('SELECT string_agg((SELECT count(*) || ''/'' || sum(b.i4) FROM TBL b WHERE b.i2 < a.i2), '','' ORDER BY a.i2) FROM (VALUES (1::int2), (-1990::int2), (5000::int2)) a(i2)');
-- a correlated subquery in the quals, evaluated on each row
SELECT agg_same('SELECT count(*), sum(f8) FROM TBL WHERE i4 % 1000 < (SELECT count(*) FROM generate_series(1, 500) s WHERE s < TBL.i2 % 1000)');
SELECT agg_pushed('SELECT count(*), sum(f8), min(ts) FROM TBL WHERE i4 BETWEEN 0 AND 50000');

-- prepared, with a generic plan: the parameter prunes at execution
SET plan_cache_mode = force_generic_plan;
PREPARE q(int8) AS SELECT count(*), sum(i4), max(f8) FROM ag WHERE i8 < $1;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) EXECUTE q(1000003 * 50);
EXECUTE q(1000003 * 50);
SELECT count(*), sum(i4), max(f8) FROM ag_heap WHERE i8 < 1000003 * 50;
DEALLOCATE q;
RESET plan_cache_mode;

-- everything else goes to an Aggregate node
SELECT agg_pushed('SELECT sum(i8) * 0 + count(*) FROM TBL') AS int8_sum_is_pushed,
	agg_pushed('SELECT sum(i8::numeric) FROM TBL') AS numeric_sum,
	agg_pushed('SELECT count(DISTINCT i2) FROM TBL') AS distinct_,
	agg_pushed('SELECT count(*) FILTER (WHERE i2 > 0) FROM TBL') AS filter_,
	agg_pushed('SELECT d, count(*) FROM TBL GROUP BY d') AS group_by,
	agg_pushed('SELECT count(*) FROM TBL HAVING count(*) > 1') AS having_,
	agg_pushed('SELECT sum(i4 + 1) FROM TBL') AS expression_arg,
	agg_pushed('SELECT count(*) FROM TBL WHERE ctid > ''(0,1)''') AS system_column,
	agg_pushed('SELECT string_agg(t, '','') FROM TBL') AS other_aggregate;
SELECT agg_same('SELECT sum(i8::numeric), count(DISTINCT i2), count(*) FILTER (WHERE i2 > 0), max(t || ''x'') FROM TBL');
SET compact.enable_aggregate_pushdown = off;
SELECT agg_pushed('SELECT count(*) FROM TBL');
RESET compact.enable_aggregate_pushdown;

-- deleted rows are not counted, before and after VACUUM
DELETE FROM ag WHERE i4 % 4 = 0;
DELETE FROM ag_heap WHERE i4 % 4 = 0;
UPDATE ag SET f8 = f8 + 1 WHERE i2 > 14000;
UPDATE ag_heap SET f8 = f8 + 1 WHERE i2 > 14000;
SELECT agg_same('SELECT count(*), count(i4), sum(i4), sum(f8), avg(f8), min(f4), max(ts) FROM TBL');
VACUUM ag;
SELECT agg_same('SELECT count(*), count(i4), sum(i4), sum(f8), avg(f8), min(f4), max(ts) FROM TBL');

-- a transaction's own buffered inserts and deletes, and a subtransaction
BEGIN;
INSERT INTO ag SELECT * FROM ag WHERE i2 BETWEEN 0 AND 100;
INSERT INTO ag_heap SELECT * FROM ag_heap WHERE i2 BETWEEN 0 AND 100;
DELETE FROM ag WHERE i2 BETWEEN -100 AND -1;
DELETE FROM ag_heap WHERE i2 BETWEEN -100 AND -1;
SELECT agg_pushed('SELECT count(*) FROM TBL');
SELECT agg_same('SELECT count(*), sum(i2), sum(f8), min(i8), max(d) FROM TBL');
SAVEPOINT s;
DELETE FROM ag WHERE i2 > 0;
DELETE FROM ag_heap WHERE i2 > 0;
SELECT agg_same('SELECT count(*), sum(i2), sum(f8), min(i8), max(d) FROM TBL');
ROLLBACK TO s;
SELECT agg_same('SELECT count(*), sum(i2), sum(f8), min(i8), max(d) FROM TBL');
ROLLBACK;
SELECT agg_same('SELECT count(*), sum(i2), sum(f8), min(i8), max(d) FROM TBL');

-- special values: NaN above every number, infinities, -0, empty and all-NULL
CREATE TABLE ag_special (f4 float4, f8 float8, i4 int) USING compact;
INSERT INTO ag_special VALUES (0, '-0', NULL), ('-0', 0, NULL);
SELECT min(f4)::text, max(f4)::text, min(f8)::text, max(f8)::text, sum(f8)::text, sum(i4), avg(i4), count(i4) FROM ag_special;
SET compact.enable_aggregate_pushdown = off;
SELECT min(f4)::text, max(f4)::text, min(f8)::text, max(f8)::text, sum(f8)::text, sum(i4), avg(i4), count(i4) FROM ag_special;
RESET compact.enable_aggregate_pushdown;
INSERT INTO ag_special VALUES ('NaN', 'NaN', 1), ('Infinity', '-Infinity', 2), (1, 1, 3);
SELECT min(f4), max(f4), min(f8), max(f8), sum(f4), sum(f8), avg(f4), avg(f8) FROM ag_special;
SET compact.enable_aggregate_pushdown = off;
SELECT min(f4), max(f4), min(f8), max(f8), sum(f4), sum(f8), avg(f4), avg(f8) FROM ag_special;
RESET compact.enable_aggregate_pushdown;
TRUNCATE ag_special;
SELECT count(*), count(f8), sum(f8), avg(f8), min(i4), sum(i4), avg(i4) FROM ag_special;

-- int8 sums are exact beyond the int8 range (an int128 accumulator)
CREATE TABLE ag_big (i8 int8) USING compact;
INSERT INTO ag_big VALUES (9223372036854775807), (9223372036854775807), (1), (NULL);
SELECT sum(i8), avg(i8) FROM ag_big;
SET compact.enable_aggregate_pushdown = off;
SELECT sum(i8), avg(i8) FROM ag_big;
RESET compact.enable_aggregate_pushdown;
INSERT INTO ag_big VALUES (-9223372036854775808), (-9223372036854775808), (-9223372036854775808);
SELECT sum(i8), avg(i8) FROM ag_big;
DROP TABLE ag_big;

-- overflow raises the same error as float8pl and float8_accum
INSERT INTO ag_special VALUES (3e38, 1e308, 1), (3e38, 1e308, 2);
SELECT sum(f8) FROM ag_special;
SELECT avg(f8) FROM ag_special;
SELECT sum(f4) FROM ag_special;
SELECT avg(f4), max(f8) FROM ag_special;
SET compact.enable_aggregate_pushdown = off;
SELECT sum(f8) FROM ag_special;
SELECT avg(f8) FROM ag_special;
SELECT sum(f4) FROM ag_special;
RESET compact.enable_aggregate_pushdown;

-- row-level security: the policy's quals run before the query's own, so a
-- cheap leaky function never sees a hidden row
CREATE TABLE ag_rls (k int, v float8) USING compact;
INSERT INTO ag_rls SELECT g % 100, g FROM generate_series(1, 1000) g;
ALTER TABLE ag_rls ENABLE ROW LEVEL SECURITY;
CREATE POLICY ag_rls_low ON ag_rls FOR SELECT USING (k < 50);
CREATE ROLE regress_agg_reader;
GRANT SELECT ON ag_rls TO regress_agg_reader;
CREATE FUNCTION ag_leak(int) RETURNS bool LANGUAGE plpgsql COST 0.0000001 AS $$
BEGIN
	IF $1 >= 50 THEN RAISE NOTICE 'leaked %', $1; END IF;
	RETURN true;
END $$;
SET ROLE regress_agg_reader;
SELECT agg_pushed('SELECT count(*), sum(v) FROM ag_rls WHERE ag_leak(k)');
SELECT count(*), sum(v), max(k) FROM ag_rls WHERE ag_leak(k);
RESET ROLE;
DROP TABLE ag_rls;
DROP FUNCTION ag_leak(int);
DROP ROLE regress_agg_reader;

-- parallel: partial states per participant, combined by Finalize Aggregate
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF, VERBOSE) SELECT count(*), sum(f8), avg(i4), min(ts) FROM ag WHERE i2 > 0;
SELECT agg_same('SELECT count(*), count(i2), sum(i2), sum(i4), avg(i2), avg(i4), sum(f4), sum(f8), avg(f4), avg(f8) FROM TBL');
SELECT agg_same('SELECT min(i2), max(i4), min(i8), max(f4), min(f8), max(d), min(ts), max(tz) FROM TBL WHERE i4 > 0');
-- own changes: no parallel plan, the scan alone
BEGIN;
DELETE FROM ag WHERE i2 < 0;
EXPLAIN (COSTS OFF) SELECT count(*) FROM ag;
ROLLBACK;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;

DROP TABLE ag, ag_heap, ag_special;
DROP FUNCTION agg_same(text), agg_pushed(text);
