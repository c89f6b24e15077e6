-- Bitmap scans of compact tables: the rows of each bitmap block fetched by
-- row number, exact and lossy bitmaps, BitmapAnd/BitmapOr, deleted and own
-- rows, rescans, parallel; every result compared with the heap twin.
CREATE EXTENSION IF NOT EXISTS compact;
\set VERBOSITY terse
SET max_parallel_workers_per_gather = 0;

CREATE TABLE bh (id int, k int, v text);
CREATE TABLE bc (LIKE bh) USING compact;
SET compact.write_buffer_size = '1MB';
INSERT INTO bh SELECT g, g % 100, md5(g::text) FROM generate_series(1, 50000) g;
INSERT INTO bc SELECT * FROM bh;
RESET compact.write_buffer_size;
DELETE FROM bh WHERE id % 7 = 0;
DELETE FROM bc WHERE id % 7 = 0;
CREATE INDEX bc_id ON bc (id);
CREATE INDEX bc_k ON bc (k);
CREATE INDEX bh_id ON bh (id);
CREATE INDEX bh_k ON bh (k);
ANALYZE bh, bc;
SELECT count(*) > 1 AS several_fragments FROM compact.fragments WHERE relation = 'bc'::regclass;

-- the rows of a query on bc and on bh agree, bc read by a bitmap scan
CREATE OR REPLACE FUNCTION public.bm_same(q text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE a text; b text; plan text := ''; line text;
BEGIN
	SET LOCAL enable_seqscan = off;
	SET LOCAL enable_indexscan = off;
	SET LOCAL enable_indexonlyscan = off;
	SET LOCAL compact.enable_custom_scan = off;
	FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || replace(q, 'TBL', 'bc') LOOP
		plan := plan || line;
	END LOOP;
	IF plan !~ 'Bitmap Heap Scan' THEN
		RETURN 'NO BITMAP SCAN: ' || plan;
	END IF;
	EXECUTE format('SELECT count(*) || '':'' || coalesce(md5(string_agg(x::text, '','' ORDER BY x::text)), ''-'') FROM (%s) x',
				   replace(q, 'TBL', 'bc')) INTO a;
	EXECUTE format('SELECT count(*) || '':'' || coalesce(md5(string_agg(x::text, '','' ORDER BY x::text)), ''-'') FROM (%s) x',
				   replace(q, 'TBL', 'bh')) INTO b;
	IF a = b THEN
		RETURN split_part(a, ':', 1);
	END IF;
	RETURN 'MISMATCH ' || a || ' / ' || b;
END $$;

SET enable_seqscan = off;
SET enable_indexscan = off;
SET compact.enable_custom_scan = off;
EXPLAIN (COSTS OFF) SELECT * FROM bc WHERE id BETWEEN 100 AND 200 OR k = 3;
EXPLAIN (COSTS OFF) SELECT * FROM bc WHERE id < 5000 AND k = 3;
RESET enable_seqscan;
RESET enable_indexscan;
RESET compact.enable_custom_scan;

SELECT bm_same('SELECT * FROM TBL WHERE id = 4243') AS one,
	   bm_same('SELECT * FROM TBL WHERE id = 4242') AS deleted,
	   bm_same('SELECT * FROM TBL WHERE id BETWEEN 100 AND 2000') AS range,
	   bm_same('SELECT * FROM TBL WHERE id BETWEEN 100 AND 200 OR k = 3') AS bitmap_or,
	   bm_same('SELECT * FROM TBL WHERE id < 5000 AND k = 3') AS bitmap_and,
	   bm_same('SELECT * FROM TBL WHERE id > 60000') AS none;

-- lossy pages (work_mem too small for exact ones): every row of a block is
-- tried and the quals rechecked
CREATE TABLE lh (id int, k int);
CREATE TABLE lc (LIKE lh) USING compact;
INSERT INTO lh SELECT g, g % 100 FROM generate_series(1, 400000) g;
INSERT INTO lc SELECT * FROM lh;
DELETE FROM lh WHERE id % 3 = 0;
DELETE FROM lc WHERE id % 3 = 0;
CREATE INDEX lh_k ON lh (k);
CREATE INDEX lc_k ON lc (k);
ANALYZE lh, lc;
SET work_mem = '64kB';
SET enable_seqscan = off;
SET enable_indexscan = off;
SET compact.enable_custom_scan = off;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
SELECT count(*) FROM lc WHERE k IN (1, 2, 3, 50);
SELECT count(*), sum(id) FROM lc WHERE k IN (1, 2, 3, 50);
RESET enable_seqscan;
RESET enable_indexscan;
RESET compact.enable_custom_scan;
SELECT count(*), sum(id) FROM lh WHERE k IN (1, 2, 3, 50);
RESET work_mem;
DROP TABLE lh, lc;

-- the inner side of a nested loop: rescanned with each outer row
SELECT bm_same('SELECT o.g, t.id FROM generate_series(1, 20) o(g), LATERAL (SELECT id FROM TBL WHERE k = o.g AND id < 3000) t') AS rescans;

-- this transaction's own rows, still in memory, and its own deletes
BEGIN;
INSERT INTO bc SELECT g, g % 100, 'own' FROM generate_series(50001, 50100) g;
INSERT INTO bh SELECT g, g % 100, 'own' FROM generate_series(50001, 50100) g;
DELETE FROM bc WHERE id BETWEEN 1000 AND 1100;
DELETE FROM bh WHERE id BETWEEN 1000 AND 1100;
SELECT bm_same('SELECT * FROM TBL WHERE id BETWEEN 900 AND 1200 OR id > 50050') AS own_changes;
ROLLBACK;

-- after compaction (new TIDs) and VACUUM
VACUUM (COMPACT, ORDER_BY 'k') bc;
SELECT bm_same('SELECT * FROM TBL WHERE id BETWEEN 100 AND 200 OR k = 3') AS after_compaction;
VACUUM bc;
SELECT bm_same('SELECT * FROM TBL WHERE id < 5000 AND k = 3') AS after_vacuum;

-- parallel bitmap heap scan
SET max_parallel_workers_per_gather = 2;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET min_parallel_index_scan_size = 0;
SET enable_seqscan = off;
SET enable_indexscan = off;
SET compact.enable_custom_scan = off;
EXPLAIN (COSTS OFF) SELECT count(*), sum(id) FROM bc WHERE k < 50;
SELECT count(*), sum(id) FROM bc WHERE k < 50;
RESET enable_seqscan;
RESET enable_indexscan;
RESET compact.enable_custom_scan;
SELECT count(*), sum(id) FROM bh WHERE k < 50;
RESET max_parallel_workers_per_gather;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET min_parallel_index_scan_size;

-- row numbers past 38,141,952 name blocks past the main fork's first 1 GB
-- segment: PostgreSQL's prefetch of those blocks must not happen (it fails
-- with "could not open file ...1")
CREATE TABLE bbig (i int) USING compact;
INSERT INTO bbig SELECT g FROM generate_series(1, 38200000) g;
CREATE INDEX bbig_i ON bbig (i) WHERE i > 38100000;
SET enable_seqscan = off;
SET enable_indexscan = off;
SET compact.enable_custom_scan = off;
EXPLAIN (COSTS OFF) SELECT count(*), sum(i) FROM bbig WHERE i > 38100000;
SELECT count(*), sum(i) FROM bbig WHERE i > 38100000;
SELECT count(*), sum(i) FROM generate_series(38100001, 38200000) i;
RESET enable_seqscan;
RESET enable_indexscan;
RESET compact.enable_custom_scan;
DROP TABLE bbig;

DROP TABLE bh, bc;
DROP FUNCTION bm_same(text);
