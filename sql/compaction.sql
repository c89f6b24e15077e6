-- Compaction in every SQL form: VACUUM (COMPACT ...), compact.compact_table,
-- VACUUM, VACUUM (OPTIMIZE ...), compact.vacuum_table, compact.optimize_table.
-- After each step the compact table is compared with a heap twin, indexes
-- with sequential scans, and the fragments with what the step must leave.
CREATE EXTENSION IF NOT EXISTS compact;
\set VERBOSITY terse

CREATE OR REPLACE FUNCTION public.digest(rel regclass) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE r text;
BEGIN
	EXECUTE format('SELECT count(*) || '':'' || coalesce(md5(string_agg(x::text, '','' ORDER BY x::text)), ''-'') FROM %s x', rel) INTO r;
	RETURN r;
END $$;

-- rows of an index scan equal the rows of a sequential scan
CREATE OR REPLACE FUNCTION public.index_agrees(rel regclass, col text) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE a text; b text;
BEGIN
	SET LOCAL enable_seqscan = off;
	SET LOCAL enable_bitmapscan = off;
	EXECUTE format('SELECT md5(string_agg(x::text, '','' ORDER BY x::text)) FROM %s x WHERE %I IS NOT NULL', rel, col) INTO a;
	SET LOCAL enable_seqscan = on;
	SET LOCAL enable_indexscan = off;
	EXECUTE format('SELECT md5(string_agg(x::text, '','' ORDER BY x::text)) FROM %s x WHERE %I IS NOT NULL', rel, col) INTO b;
	RETURN a IS NOT DISTINCT FROM b;
END $$;

CREATE OR REPLACE FUNCTION public.frags(rel regclass)
RETURNS TABLE (n bigint, rows bigint, deleted bigint, ops text, clustering text)
LANGUAGE sql AS $$
	SELECT count(*), sum(row_count), sum(deleted_rows),
		   string_agg(DISTINCT operation, ',' ORDER BY operation),
		   string_agg(DISTINCT f.clustering, ',' ORDER BY f.clustering)
	  FROM compact.fragments f WHERE relation = rel
$$;

CREATE TABLE ev (id int, grp int, name text, lat float8, lon float8,
				 amount numeric(10,2), ts timestamptz) USING compact;
CREATE TABLE ev_heap (LIKE ev);
CREATE INDEX ev_id ON ev (id);
CREATE UNIQUE INDEX ev_id_grp ON ev (id, grp);
CREATE INDEX ev_name ON ev (lower(name)) WHERE grp < 5;

-- five small fragments
CREATE FUNCTION ev_rows(int) RETURNS SETOF ev LANGUAGE sql AS $$
	SELECT g, g % 10, CASE WHEN g % 13 = 0 THEN NULL ELSE 'n' || (g * 7919 % 1000) END,
		   (g * 37 % 180) - 90 + 0.5, (g * 53 % 360) - 180 + 0.25,
		   (g % 1000) / 4.0, '2024-01-01 00:00+00'::timestamptz + g * interval '1 min'
	  FROM generate_series($1 * 400 + 1, $1 * 400 + 400) g
$$;
INSERT INTO ev SELECT * FROM ev_rows(0);
INSERT INTO ev SELECT * FROM ev_rows(1);
INSERT INTO ev SELECT * FROM ev_rows(2);
INSERT INTO ev SELECT * FROM ev_rows(3);
INSERT INTO ev SELECT * FROM ev_rows(4);
INSERT INTO ev_heap SELECT * FROM ev;
SELECT * FROM frags('ev');

-- a dry run prints the plan and changes nothing
VACUUM (COMPACT, DRY_RUN) ev;
SELECT fragments_before, fragments_after, rows_rewritten
  FROM compact.compact_table('ev', dry_run => true);
SELECT * FROM frags('ev');

-- merge: five fragments into one, rows and order kept
VACUUM (COMPACT) ev;
SELECT * FROM frags('ev');
SELECT digest('ev') = digest('ev_heap') AS same, index_agrees('ev', 'id') AS idx;
SELECT bool_and(id > prev) AS in_row_order
  FROM (SELECT id, lag(id, 1, 0) OVER (ORDER BY ctid) AS prev FROM ev) s;

-- compacting again rewrites nothing
SELECT fragments_before, fragments_after, rows_rewritten, deleted_rows_removed
  FROM compact.compact_table('ev');

-- deletes, then compaction drops them
DELETE FROM ev WHERE id % 5 = 0;
DELETE FROM ev_heap WHERE id % 5 = 0;
UPDATE ev SET amount = amount + 1 WHERE id % 7 = 0;
UPDATE ev_heap SET amount = amount + 1 WHERE id % 7 = 0;
SELECT * FROM frags('ev');
SELECT fragments_before, fragments_after, rows_rewritten, deleted_rows_removed
  FROM compact.compact_table('ev');
SELECT * FROM frags('ev');
SELECT digest('ev') = digest('ev_heap') AS same, index_agrees('ev', 'id') AS idx,
	   index_agrees('ev', 'name') AS partial_idx;

-- ORDER BY: rows come back in the clustering's order by ctid
VACUUM (COMPACT, ORDER_BY 'grp DESC, name NULLS FIRST, id') ev;
SELECT * FROM frags('ev');
SELECT digest('ev') = digest('ev_heap') AS same, index_agrees('ev', 'id') AS idx;
SELECT (SELECT array_agg(id ORDER BY ctid) FROM ev) =
	   (SELECT array_agg(id ORDER BY grp DESC, name NULLS FIRST, id) FROM ev) AS sorted;
SELECT array_agg(grp ORDER BY ctid) FILTER (WHERE rn <= 3) AS first_groups
  FROM (SELECT grp, ctid, row_number() OVER (ORDER BY ctid) rn FROM ev) s;
-- the same clustering again: nothing to do
SELECT rows_rewritten FROM compact.compact_table('ev', order_by => 'grp DESC, name NULLS FIRST, id');
-- text ORDER BY follows the column's collation
CREATE TABLE words (w text COLLATE "C") USING compact;
INSERT INTO words VALUES ('b'), ('B'), ('a');
INSERT INTO words VALUES ('A'), ('c');
SELECT rows_rewritten FROM compact.compact_table('words', order_by => 'w');
SELECT string_agg(w, ' ' ORDER BY ctid) FROM words;

-- beyond maintenance_work_mem the sort spills to temporary files
CREATE TABLE big (id int, t text, f float8) USING compact;
INSERT INTO big SELECT g, md5(g::text), g FROM generate_series(1, 30000) g;
INSERT INTO big SELECT g, md5(g::text), g FROM generate_series(30001, 60000) g;
SELECT pg_stat_force_next_flush();
SELECT temp_files AS temp_before FROM pg_stat_database WHERE datname = current_database() \gset
SET maintenance_work_mem = '1MB';
SELECT rows_rewritten FROM compact.compact_table('big', order_by => 'f DESC');
RESET maintenance_work_mem;
SELECT pg_stat_force_next_flush();
SELECT temp_files > :temp_before AS spilled FROM pg_stat_database WHERE datname = current_database();
SELECT (SELECT array_agg(id ORDER BY ctid) FROM big) =
	   (SELECT array_agg(id ORDER BY f DESC) FROM big) AS sorted,
	   count(*), count(DISTINCT id) FROM big;
-- within it, the sort on normalized keys writes no temporary file
SELECT pg_stat_force_next_flush();
SELECT temp_files AS temp_before FROM pg_stat_database WHERE datname = current_database() \gset
SELECT rows_rewritten FROM compact.compact_table('big', order_by => 'f, id DESC');
SELECT pg_stat_force_next_flush();
SELECT temp_files > :temp_before AS spilled FROM pg_stat_database WHERE datname = current_database();
SELECT (SELECT array_agg(id ORDER BY ctid) FROM big) =
	   (SELECT array_agg(id ORDER BY f, id DESC) FROM big) AS sorted;
-- when the keys fit but the rows do not, several passes over the sources
-- (about 15 MB of rows in 8 MB): no temporary file either, deleted rows
-- and NULL keys in their place
UPDATE big SET t = repeat(t, 6);
DELETE FROM big WHERE id % 10 = 0;
UPDATE big SET f = NULL WHERE id % 7 = 0;
SELECT pg_stat_force_next_flush();
SELECT temp_files AS temp_before FROM pg_stat_database WHERE datname = current_database() \gset
SET maintenance_work_mem = '8MB';
SET client_min_messages = debug1;
SELECT rows_rewritten FROM compact.compact_table('big', order_by => 'f NULLS FIRST, id DESC');
RESET client_min_messages;
RESET maintenance_work_mem;
SELECT pg_stat_force_next_flush();
SELECT temp_files > :temp_before AS spilled FROM pg_stat_database WHERE datname = current_database();
SELECT (SELECT array_agg(id ORDER BY ctid) FROM big) =
	   (SELECT array_agg(id ORDER BY f NULLS FIRST, id DESC) FROM big) AS sorted,
	   count(*), count(DISTINCT id), sum(length(t)) FROM big;
DROP TABLE big;

-- over 65,536 rows with one- or two-word keys: the entries go through
-- buckets by their top bits, then a sort per bucket; rows with equal keys
-- keep their order (bk_before: the order before), negative and fractional
-- keys, NULLs, DESC; all keys equal leaves the order alone
CREATE TABLE bk (id int, g int, v float8, f float8) USING compact;
INSERT INTO bk SELECT g, (g * 7919) % 601 - 300, ((g * 31) % 97) / 4.0 - 10,
	   CASE WHEN g % 11 = 0 THEN NULL ELSE (g * 13) % 1000 END
  FROM generate_series(1, 40000) g;
INSERT INTO bk SELECT g, (g * 7919) % 601 - 300, ((g * 31) % 97) / 4.0 - 10,
	   CASE WHEN g % 11 = 0 THEN NULL ELSE (g * 13) % 1000 END
  FROM generate_series(40001, 80000) g;
CREATE TABLE bk_before (id int, ord bigint);
CREATE FUNCTION bk_number() RETURNS void LANGUAGE sql AS $$
	TRUNCATE bk_before;
	INSERT INTO bk_before SELECT id, row_number() OVER (ORDER BY ctid) FROM bk;$$;
SELECT bk_number();
SELECT rows_rewritten FROM compact.compact_table('bk', order_by => 'g, v DESC');
SELECT (SELECT array_agg(id ORDER BY ctid) FROM bk) =
	   (SELECT array_agg(id ORDER BY g, v DESC, ord) FROM bk JOIN bk_before USING (id)) AS sorted,
	   count(*) FROM bk;
SELECT bk_number();
SELECT rows_rewritten FROM compact.compact_table('bk', order_by => 'f DESC NULLS LAST');
SELECT (SELECT array_agg(id ORDER BY ctid) FROM bk) =
	   (SELECT array_agg(id ORDER BY f DESC NULLS LAST, ord) FROM bk JOIN bk_before USING (id)) AS sorted;
SELECT bk_number();
SELECT rows_rewritten FROM compact.compact_table('bk', order_by => 'v');
SELECT (SELECT array_agg(id ORDER BY ctid) FROM bk) =
	   (SELECT array_agg(id ORDER BY v, ord) FROM bk JOIN bk_before USING (id)) AS sorted;
UPDATE bk SET g = 5;
SELECT bk_number();
SELECT rows_rewritten FROM compact.compact_table('bk', order_by => 'g');
SELECT (SELECT array_agg(id ORDER BY ctid) FROM bk) =
	   (SELECT array_agg(id ORDER BY ord) FROM bk JOIN bk_before USING (id)) AS sorted,
	   count(*), sum(id) FROM bk;
DROP TABLE bk, bk_before;
DROP FUNCTION bk_number();

-- Z-order and Hilbert keep every row
SELECT rows_rewritten FROM compact.compact_table('ev', z_order_by => 'lat, lon');
SELECT * FROM frags('ev');
SELECT digest('ev') = digest('ev_heap') AS same, index_agrees('ev', 'id') AS idx;
VACUUM (COMPACT, HILBERT_BY 'lat, lon, ts') ev;
SELECT * FROM frags('ev');
SELECT digest('ev') = digest('ev_heap') AS same, index_agrees('ev', 'id') AS idx;
SELECT rows_rewritten FROM compact.compact_table('ev', hilbert_by => 'amount, name');
SELECT digest('ev') = digest('ev_heap') AS same;

-- the Hilbert curve's order: on a grid of 8 x 8 points every step goes to
-- a neighbour, starting at (0, 0) and ending at (7, 0)
CREATE TABLE hc (x int, y int) USING compact WITH (auto_compact = false);
INSERT INTO hc SELECT x, y FROM generate_series(0, 7) x, generate_series(0, 7) y ORDER BY random();
VACUUM (COMPACT, HILBERT_BY 'x, y') hc;
SELECT string_agg(format('%s%s', x, y), ' ' ORDER BY ctid) FROM hc;
SELECT count(*), bool_and(abs(x - px) + abs(y - py) = 1) AS neighbours
  FROM (SELECT x, y, lag(x) OVER (ORDER BY ctid) px, lag(y) OVER (ORDER BY ctid) py FROM hc) s
 WHERE px IS NOT NULL;
DROP TABLE hc;

-- VACUUM removes the replaced fragments' files and their index entries
VACUUM ev;
SELECT digest('ev') = digest('ev_heap') AS same, index_agrees('ev', 'id') AS idx;

-- VACUUM rewrites fragments over the deleted ratio (0.25)
DELETE FROM ev WHERE id <= 1000;
DELETE FROM ev_heap WHERE id <= 1000;
SELECT n, rows, deleted FROM frags('ev');
VACUUM ev;
SELECT n, rows, deleted, ops FROM frags('ev');
SELECT digest('ev') = digest('ev_heap') AS same, index_agrees('ev', 'id') AS idx;

-- big fragments over the deleted ratio go into one group (one transaction)
-- up to the target size, each rewritten into a new fragment of its own rows
CREATE TABLE dv (id int, v text) USING compact
	WITH (compact_min_file_size_mb = 1, compact_deleted_ratio = 0.1, auto_compact = false);
CREATE TABLE dv_heap (id int, v text);
INSERT INTO dv SELECT g, md5(g::text) || md5((-g)::text) FROM generate_series(1, 60000) g;
INSERT INTO dv SELECT g, md5(g::text) || md5((-g)::text) FROM generate_series(60001, 120000) g;
INSERT INTO dv SELECT g, md5(g::text) || md5((-g)::text) FROM generate_series(120001, 180000) g;
INSERT INTO dv_heap SELECT * FROM dv;
CREATE INDEX ON dv (id);
DELETE FROM dv WHERE id % 5 = 0;
DELETE FROM dv_heap WHERE id % 5 = 0;
SELECT count(*) AS fragments, bool_and(bytes > 1024 * 1024) AS big FROM compact.fragments WHERE relation = 'dv'::regclass;
VACUUM (COMPACT, DRY_RUN) dv;
VACUUM dv;
SELECT fragment_id, row_count, deleted_rows FROM compact.fragments
 WHERE relation = 'dv'::regclass ORDER BY fragment_id;
SELECT digest('dv') = digest('dv_heap') AS same, index_agrees('dv', 'id') AS idx,
	   (SELECT array_agg(id ORDER BY ctid) FROM dv) = (SELECT array_agg(id ORDER BY id) FROM dv) AS row_order;
-- the row maps such a rewrite leaves for older snapshots: its kept rows went
-- to consecutive new rows, so each map is the first one and a bitmap of the
-- kept rows (32 bytes of header, 8, and 48,000 / 8), until VACUUM finds no
-- snapshot that needs them
DELETE FROM dv WHERE id % 7 = 0;
DELETE FROM dv_heap WHERE id % 7 = 0;
CREATE FUNCTION map_sizes(rel regclass) RETURNS TABLE (maps bigint, bytes numeric) AS $$
	SELECT count(*), sum((pg_stat_file(d || '/' || f)).size)
	  FROM (SELECT format('pg_compact/%s/%s', (SELECT oid FROM pg_database WHERE datname = current_database()),
						  pg_relation_filenode(rel)) d) dir,
		   pg_ls_dir(d) f
	 WHERE f LIKE '%.map'
$$ LANGUAGE sql;
VACUUM (COMPACT) dv;
SELECT * FROM map_sizes('dv');
SELECT digest('dv') = digest('dv_heap') AS same, index_agrees('dv', 'id') AS idx;
VACUUM dv;
SELECT * FROM map_sizes('dv');
DROP TABLE dv, dv_heap;
DROP FUNCTION map_sizes;

-- the function forms of VACUUM and OPTIMIZE
INSERT INTO ev SELECT g, 1, 'x', 0, 0, 0, now() FROM generate_series(5001, 5100) g;
INSERT INTO ev_heap SELECT * FROM ev WHERE id > 5000;
INSERT INTO ev SELECT g, 1, 'y', 0, 0, 0, now() FROM generate_series(5101, 5200) g;
INSERT INTO ev_heap SELECT * FROM ev WHERE id > 5100;
DELETE FROM ev WHERE id BETWEEN 5001 AND 5050;
DELETE FROM ev_heap WHERE id BETWEEN 5001 AND 5050;
SELECT fragments_before, fragments_after, rows_rewritten, deleted_rows_removed
  FROM compact.vacuum_table('ev');
SELECT fragments_before, fragments_after, rows_rewritten, deleted_rows_removed
  FROM compact.optimize_table('ev', recompute_statistics => true);
SELECT reltuples = (SELECT count(*) FROM ev) AS analyzed FROM pg_class WHERE oid = 'ev'::regclass;
VACUUM (OPTIMIZE, RECOMPUTE_STATISTICS) ev;
SELECT n, deleted FROM frags('ev');
SELECT digest('ev') = digest('ev_heap') AS same, index_agrees('ev', 'id') AS idx;

-- compaction inside a transaction that rolls back leaves nothing behind
BEGIN;
INSERT INTO ev_heap VALUES (0);
SELECT rows_rewritten > 0 AS rewrote FROM compact.compact_table('ev', order_by => 'id DESC');
ROLLBACK;
SELECT clustering FROM frags('ev');
SELECT digest('ev') = digest('ev_heap') AS same, index_agrees('ev', 'id') AS idx;

-- a transaction that changed the table must commit first
BEGIN;
INSERT INTO ev VALUES (9999);
SELECT * FROM compact.compact_table('ev');
ROLLBACK;

-- merge copies whole row groups without decoding them when it can: no
-- deleted rows, at least half the row group size, the same columns
SET compact.row_group_size = 1000;
CREATE TABLE cp (id int, t text, f float8) USING compact;
CREATE INDEX cp_id ON cp (id);
CREATE TABLE cp_heap (id int, t text, f float8);
INSERT INTO cp SELECT g, 't' || g, g / 3.0 FROM generate_series(1, 2500) g;
INSERT INTO cp SELECT g, 't' || g, g / 3.0 FROM generate_series(2501, 4000) g;
INSERT INTO cp SELECT g, NULL, NULL FROM generate_series(4001, 4300) g;
DELETE FROM cp WHERE id BETWEEN 1500 AND 1510;
INSERT INTO cp_heap SELECT * FROM cp;
\set VERBOSITY default
VACUUM (COMPACT, VERBOSE) cp;
\set VERBOSITY terse
SELECT digest('cp') = digest('cp_heap') AS same, index_agrees('cp', 'id') AS idx;
SELECT row_count, row_groups FROM compact.fragments WHERE relation = 'cp'::regclass;
-- after ADD COLUMN the old fragments lack a column: decoded, not copied
ALTER TABLE cp ADD COLUMN extra int DEFAULT 7;
ALTER TABLE cp_heap ADD COLUMN extra int DEFAULT 7;
INSERT INTO cp SELECT g, 'n', 0, g FROM generate_series(5001, 6000) g;
INSERT INTO cp_heap SELECT g, 'n', 0, g FROM generate_series(5001, 6000) g;
\set VERBOSITY default
VACUUM (COMPACT, VERBOSE) cp;
\set VERBOSITY terse
SELECT digest('cp') = digest('cp_heap') AS same, index_agrees('cp', 'id') AS idx;
RESET compact.row_group_size;
DROP TABLE cp, cp_heap;
-- column chunks of hundreds of kB: the kernel copies them between the
-- files (copy_file_range); the same rows, the same bytes
CREATE TABLE kc (id int, t text) USING compact;
CREATE TABLE kc_heap (id int, t text);
INSERT INTO kc SELECT g, md5(g::text) || md5((g * 7)::text) FROM generate_series(1, 20000) g;
INSERT INTO kc SELECT g, md5(g::text) || md5((g * 7)::text) FROM generate_series(20001, 40000) g;
INSERT INTO kc SELECT g, md5(g::text) || md5((g * 7)::text) FROM generate_series(40001, 60000) g;
INSERT INTO kc_heap SELECT * FROM kc;
SELECT count(*), sum(bytes) AS bytes_before FROM compact.fragments WHERE relation = 'kc'::regclass \gset
SELECT :count AS fragments, :bytes_before > 3 * 6 * 65536 AS chunks_over_64kb;
SELECT fragments_before, fragments_after, rows_rewritten FROM compact.compact_table('kc');
SELECT digest('kc') = digest('kc_heap') AS same,
	   (SELECT sum(bytes) FROM compact.fragments WHERE relation = 'kc'::regclass)
		 BETWEEN :bytes_before - 4096 AND :bytes_before AS pages_copied;
-- and read again from a fresh backend (no cached row group)
\c
SELECT digest('kc') = digest('kc_heap') AS same;
DROP TABLE kc, kc_heap;

-- partitioned tables: FILTER picks the partitions it may match
CREATE TABLE logs (day date, msg text) PARTITION BY RANGE (day);
CREATE TABLE logs_2023 PARTITION OF logs FOR VALUES FROM ('2023-01-01') TO ('2024-01-01') USING compact;
CREATE TABLE logs_2024 PARTITION OF logs FOR VALUES FROM ('2024-01-01') TO ('2025-01-01') USING compact;
CREATE TABLE logs_heap (day date, msg text);
INSERT INTO logs SELECT '2023-06-01'::date + g, 'm' || g FROM generate_series(0, 300) g;
INSERT INTO logs SELECT '2023-06-01'::date + g, 'n' || g FROM generate_series(0, 300) g;
INSERT INTO logs_heap SELECT * FROM logs;
SELECT relation, count(*) FROM compact.fragments
 WHERE relation IN ('logs_2023'::regclass, 'logs_2024'::regclass) GROUP BY 1 ORDER BY 1;
VACUUM (COMPACT, FILTER 'day < ''2024-01-01''') logs;
SELECT relation, count(*) FROM compact.fragments
 WHERE relation IN ('logs_2023'::regclass, 'logs_2024'::regclass) GROUP BY 1 ORDER BY 1;
SELECT fragments_before, fragments_after FROM compact.compact_table('logs', filter => 'day >= ''2024-06-01''');
SELECT relation, count(*) FROM compact.fragments
 WHERE relation IN ('logs_2023'::regclass, 'logs_2024'::regclass) GROUP BY 1 ORDER BY 1;
SELECT digest('logs') = digest('logs_heap') AS same;

-- FILTER on a plain table uses fragment statistics
CREATE TABLE fl (k int) USING compact;
INSERT INTO fl SELECT generate_series(1, 100);
INSERT INTO fl SELECT generate_series(101, 200);
INSERT INTO fl SELECT generate_series(1001, 1100);
INSERT INTO fl SELECT generate_series(1101, 1200);
SELECT fragments_before, fragments_after FROM compact.compact_table('fl', filter => 'k > 1000');
SELECT row_count, operation FROM compact.fragments WHERE relation = 'fl'::regclass ORDER BY fragment_id;

-- bad input: each an error, nothing changed
SELECT * FROM compact.compact_table('ev', order_by => 'nope');
SELECT * FROM compact.compact_table('ev', order_by => 'id, grp, ID');
SELECT * FROM compact.compact_table('ev', z_order_by => 'lat');
SELECT * FROM compact.compact_table('ev', z_order_by => 'id, grp, lat, lon, amount, ts, name, id');
CREATE TABLE wide (a int, b int, c int, d int, e int, f int, g int, h int, i int, p point, bo bool) USING compact;
SELECT * FROM compact.compact_table('wide', hilbert_by => 'a, b, c, d, e, f, g, h, i');
SELECT * FROM compact.compact_table('wide', order_by => 'p');
SELECT * FROM compact.compact_table('wide', z_order_by => 'a, bo');
SELECT * FROM compact.compact_table('ev', order_by => 'id', z_order_by => 'lat, lon');
SELECT * FROM compact.compact_table('ev', order_by => 'id ASC NULLS MIDDLE');
SELECT * FROM compact.compact_table('ev', order_by => 'id,');
SELECT * FROM compact.compact_table('ev', order_by => '(id');
SELECT * FROM compact.compact_table('ev', order_by => '');
SELECT * FROM compact.compact_table('ev', filter => 'ts > now()');
SELECT * FROM compact.compact_table('ev', filter => 'id IN (SELECT k FROM fl)');
SELECT * FROM compact.compact_table('ev', filter => 'id > 1; DROP TABLE fl');
SELECT * FROM compact.compact_table('ev', filter => 'nope > 1');
SELECT * FROM compact.compact_table('ev', filter => 'id + 1');
SELECT * FROM compact.compact_table('ev_heap');
VACUUM (COMPACT) ev_heap;
VACUUM (COMPACT, ORDER_BY 'nope') ev;
VACUUM (ORDER_BY 'id') ev;
VACUUM (COMPACT, ORDER_BY) ev;
VACUUM (COMPACT, SHUFFLE) ev;
VACUUM (COMPACT, ORDER_BY 'id', ORDER_BY 'ts') ev;
VACUUM (COMPACT, COMPACT false) ev;
VACUUM (COMPACT, FULL) ev;
VACUUM (OPTIMIZE, DRY_RUN true, SHUFFLE) ev;
ANALYZE (COMPACT) ev;
VACUUM (COMPACT) ev (id);
BEGIN;
VACUUM (COMPACT) ev;
ROLLBACK;
SELECT count(*) FROM fl;

-- only the owner compacts
CREATE ROLE compact_stranger;
GRANT SELECT, INSERT, DELETE ON ev TO compact_stranger;
SET ROLE compact_stranger;
SELECT * FROM compact.compact_table('ev');
VACUUM (COMPACT) ev;
RESET ROLE;
DROP OWNED BY compact_stranger;
DROP ROLE compact_stranger;

SELECT digest('ev') = digest('ev_heap') AS same;
DROP FUNCTION ev_rows(int);
DROP TABLE ev, ev_heap, words, logs, logs_heap, fl, wide;
