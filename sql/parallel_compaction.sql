-- Compaction with a parallel worker writing the new fragments
-- (compact.min_parallel_compaction_size, max_parallel_maintenance_workers).
-- Two compact twins get the same rows and the same compactions, one written
-- by the backend alone (s), one through the worker (p): after each step both
-- equal a heap twin (h), and their new fragment files are the same bytes.
CREATE EXTENSION IF NOT EXISTS compact;
\set VERBOSITY terse

CREATE OR REPLACE FUNCTION public.pw_digest(rel regclass) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE r text;
BEGIN
	EXECUTE format('SELECT count(*) || '':'' || coalesce(md5(string_agg(x::text, '','' ORDER BY x::text)), ''-'') FROM %s x', rel) INTO r;
	RETURN r;
END $$;
-- the md5 of every fragment file the manifest lists, in row order
CREATE OR REPLACE FUNCTION pw_files(rel regclass) RETURNS text LANGUAGE sql AS
$$ SELECT string_agg(md5(pg_read_binary_file(format('pg_compact/%s/%s/%s', d.oid, pg_relation_filenode(rel), f))),
					 ',' ORDER BY split_part(f, '-', 1)::bigint)
	 FROM pg_database d, pg_ls_dir(format('pg_compact/%s/%s', d.oid, pg_relation_filenode(rel))) f
	WHERE d.datname = current_database() AND f LIKE '%.frag'
	  AND split_part(f, '-', 1)::bigint IN
		  (SELECT fragment_id FROM compact.fragments WHERE relation = rel) $$;
CREATE TABLE pw_s (id int, grp int, name text, amount numeric(12,2), lat float8,
				   ts timestamptz, flag bool, tags text[], note varchar(20), payload text)
	USING compact WITH (auto_compact = false);
CREATE TABLE pw_p (LIKE pw_s) USING compact WITH (auto_compact = false);
CREATE TABLE pw_h (LIKE pw_s);
CREATE INDEX ON pw_s (id);
CREATE INDEX ON pw_p (id);
CREATE INDEX pw_p_lower ON pw_p (lower(name));
CREATE INDEX pw_p_partial ON pw_p (grp) WHERE flag;

-- s, p and h hold the same rows; s and p the same files
CREATE OR REPLACE FUNCTION pw_compare(s regclass, p regclass, h regclass)
RETURNS TABLE (rows text, same_rows boolean, same_files boolean, fragments bigint, row_groups bigint)
LANGUAGE sql AS
$$ SELECT split_part(hd, ':', 1), pw_digest(s) = hd AND pw_digest(p) = hd,
		  pw_files(s) = pw_files(p),
		  (SELECT count(*) FROM compact.fragments WHERE relation = p),
		  (SELECT sum(row_groups) FROM compact.fragments WHERE relation = p)
	 FROM pw_digest(h) hd $$;
CREATE OR REPLACE FUNCTION pw_check() RETURNS TABLE (rows text, same_rows boolean, same_files boolean,
													 fragments bigint, row_groups bigint)
LANGUAGE sql AS $$ SELECT * FROM pw_compare('pw_s', 'pw_p', 'pw_h') $$;
-- rows an index scan finds equal those of a sequential scan
CREATE OR REPLACE FUNCTION pw_index_agrees(q text) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE a text; b text;
BEGIN
	SET LOCAL enable_seqscan = off;
	SET LOCAL enable_bitmapscan = off;
	SET LOCAL compact.enable_custom_scan = off;
	EXECUTE 'SELECT md5(string_agg(x::text, '','' ORDER BY x::text)) FROM (' || q || ') x' INTO a;
	SET LOCAL enable_seqscan = on;
	SET LOCAL enable_indexscan = off;
	EXECUTE 'SELECT md5(string_agg(x::text, '','' ORDER BY x::text)) FROM (' || q || ') x' INTO b;
	RETURN a = b;
END $$;

-- five inserts each (five fragments), then deletes
SELECT format($q$INSERT INTO %s SELECT g, g %% 37, CASE WHEN g %% 11 = 0 THEN NULL ELSE 'Name ' || (g %% 1000) END,
		   (g %% 9973) * 1.25, (g * 7919 %% 18000) / 100.0 - 90,
		   timestamptz '2026-01-01' + g * interval '17 seconds', g %% 3 = 0,
		   ARRAY['t' || g %% 5, 'u' || g %% 7], repeat('x', g %% 20), md5(g::text)
	  FROM generate_series(%s, %s) g$q$, t, b * 20000 + 1, (b + 1) * 20000)
  FROM generate_series(0, 4) b, unnest(ARRAY['pw_s', 'pw_p', 'pw_h']) t
 ORDER BY b, t \gexec
DELETE FROM pw_s WHERE id % 7 = 0;
DELETE FROM pw_p WHERE id % 7 = 0;
DELETE FROM pw_h WHERE id % 7 = 0;
SELECT * FROM pw_check();

-- the merge, dropping the deleted rows; DEBUG1 says who wrote the group
SET client_min_messages = debug1;
SET compact.min_parallel_compaction_size = 0;
VACUUM (COMPACT) pw_p;
RESET client_min_messages;
SET compact.min_parallel_compaction_size = '1TB';
-- and through the page cache: the same bytes as the worker's direct I/O
SET compact.direct_io = off;
VACUUM (COMPACT) pw_s;
RESET compact.direct_io;
SELECT * FROM pw_check();
SELECT pw_index_agrees('SELECT * FROM pw_p WHERE id BETWEEN 1000 AND 3000') AS btree,
	   pw_index_agrees($$SELECT * FROM pw_p WHERE lower(name) = 'name 17'$$) AS expression,
	   pw_index_agrees('SELECT * FROM pw_p WHERE flag AND grp = 5') AS partial;

-- sorts: ORDER BY, Z-order, Hilbert (every row group gathered and sent)
SET compact.min_parallel_compaction_size = '1TB';
SELECT rows_rewritten FROM compact.compact_table('pw_s', order_by => 'grp DESC, name NULLS FIRST');
SET compact.min_parallel_compaction_size = 0;
SELECT rows_rewritten FROM compact.compact_table('pw_p', order_by => 'grp DESC, name NULLS FIRST');
SELECT * FROM pw_check();
SET compact.min_parallel_compaction_size = '1TB';
VACUUM (COMPACT, Z_ORDER_BY 'lat, id') pw_s;
SET compact.min_parallel_compaction_size = 0;
VACUUM (COMPACT, Z_ORDER_BY 'lat, id') pw_p;
SELECT * FROM pw_check();
SET compact.min_parallel_compaction_size = '1TB';
VACUUM (COMPACT, HILBERT_BY 'lat, ts') pw_s;
SET compact.min_parallel_compaction_size = 0;
VACUUM (COMPACT, HILBERT_BY 'lat, ts') pw_p;
SELECT * FROM pw_check();
SELECT pw_index_agrees('SELECT * FROM pw_p WHERE id BETWEEN 1000 AND 3000') AS btree,
	   pw_index_agrees($$SELECT * FROM pw_p WHERE lower(name) = 'name 17'$$) AS expression,
	   pw_index_agrees('SELECT * FROM pw_p WHERE flag AND grp = 5') AS partial;

-- deletions rewritten by VACUUM, into fragments of 1 MB (several per group)
ALTER TABLE pw_s SET (compact_target_file_size_mb = 1, compact_deleted_ratio = 0.1);
ALTER TABLE pw_p SET (compact_target_file_size_mb = 1, compact_deleted_ratio = 0.1);
DELETE FROM pw_s WHERE id % 5 = 0;
DELETE FROM pw_p WHERE id % 5 = 0;
DELETE FROM pw_h WHERE id % 5 = 0;
SET compact.min_parallel_compaction_size = '1TB';
VACUUM pw_s;
SET compact.min_parallel_compaction_size = 0;
VACUUM pw_p;
SELECT * FROM pw_check();
SELECT count(*) > 1 AS several_fragments FROM compact.fragments WHERE relation = 'pw_p'::regclass;
-- a sort into several fragments: its row groups go to the worker as the
-- kernel's records until a fragment ends inside one, then as columns
SET compact.min_parallel_compaction_size = '1TB';
VACUUM (COMPACT, ORDER_BY 'amount DESC, id') pw_s;
SET compact.min_parallel_compaction_size = 0;
VACUUM (COMPACT, ORDER_BY 'amount DESC, id') pw_p;
SELECT * FROM pw_check();
SELECT count(*) > 1 AS several_fragments FROM compact.fragments WHERE relation = 'pw_p'::regclass;
SELECT (SELECT array_agg(id ORDER BY ctid) FROM pw_p) =
	   (SELECT array_agg(id ORDER BY amount DESC, id) FROM pw_p) AS sorted;

-- row groups the backend encodes itself while the worker is behind (here
-- every one, then every other one: compact.debug_leader_encodes = always,
-- alternate): the worker appends them as they are, and the files are the
-- same; a deletion rewrite (row groups as columns) and a sort (as records)
DELETE FROM pw_s WHERE id % 9 = 0;
DELETE FROM pw_p WHERE id % 9 = 0;
DELETE FROM pw_h WHERE id % 9 = 0;
SET compact.debug_leader_encodes = always;
SET compact.min_parallel_compaction_size = '1TB';
VACUUM pw_s;
SET compact.min_parallel_compaction_size = 0;
VACUUM pw_p;
SELECT * FROM pw_check();
SET compact.debug_leader_encodes = alternate;
SET compact.min_parallel_compaction_size = '1TB';
VACUUM (COMPACT, ORDER_BY 'grp, id DESC') pw_s;
SET compact.min_parallel_compaction_size = 0;
VACUUM (COMPACT, ORDER_BY 'grp, id DESC') pw_p;
RESET compact.debug_leader_encodes;
SELECT * FROM pw_check();
SELECT pw_index_agrees('SELECT * FROM pw_p WHERE id BETWEEN 1000 AND 3000') AS btree,
	   pw_index_agrees($$SELECT * FROM pw_p WHERE lower(name) = 'name 17'$$) AS expression,
	   pw_index_agrees('SELECT * FROM pw_p WHERE flag AND grp = 5') AS partial;

-- whole row groups copied as they are (no deleted rows): the worker copies
-- them from the old files
ALTER TABLE pw_s SET (compact_target_file_size_mb = 512);
ALTER TABLE pw_p SET (compact_target_file_size_mb = 512);
SET compact.min_parallel_compaction_size = '1TB';
VACUUM (COMPACT) pw_s;
SET compact.min_parallel_compaction_size = 0;
\set VERBOSITY default
VACUUM (COMPACT, VERBOSE) pw_p;
\set VERBOSITY terse
SELECT * FROM pw_check();
SELECT pw_index_agrees('SELECT * FROM pw_p WHERE id BETWEEN 1000 AND 3000') AS btree;

-- sorts of several fragments: the worker decodes about half of them in
-- each pass over the sources (keys and widths, then the records of each
-- chunk) and the backend puts their rows in place; with maintenance_work_mem
-- at 8MB or 16MB the sorts take several passes; the files are the same bytes
CREATE PROCEDURE pw_insert(first int, n int) LANGUAGE plpgsql AS $f$
DECLARE t text;
BEGIN
	FOREACH t IN ARRAY ARRAY['pw_s', 'pw_p', 'pw_h'] LOOP
		EXECUTE format($q$INSERT INTO %s SELECT g, g %% 37, CASE WHEN g %% 11 = 0 THEN NULL ELSE 'Name ' || (g %% 1000) END,
			   (g %% 9973) * 1.25, (g::bigint * 7919 %% 18000) / 100.0 - 90,
			   timestamptz '2026-01-01' + g * interval '17 seconds', g %% 3 = 0,
			   ARRAY['t' || g %% 5, 'u' || g %% 7], repeat('x', g %% 20), md5(g::text)
		  FROM generate_series(%s, %s) g$q$, t, first, first + n - 1);
	END LOOP;
END $f$;
CALL pw_insert(200001, 10000);
CALL pw_insert(210001, 10000);
CALL pw_insert(220001, 10000);
DELETE FROM pw_s WHERE id % 13 = 0;
DELETE FROM pw_p WHERE id % 13 = 0;
DELETE FROM pw_h WHERE id % 13 = 0;
-- queues of 16 kB: the backend's requests and the worker's answers do not
-- fit, so each process must take the other's messages while it waits
SET compact.debug_writer_queue_size = '16kB';
SET maintenance_work_mem = '8MB';
SET compact.min_parallel_compaction_size = '1TB';
VACUUM (COMPACT, Z_ORDER_BY 'lat, id') pw_s;
SET compact.min_parallel_compaction_size = 0;
-- the sort's memory is the shared work memory: the worker sorts half of
-- the keys there and puts its records at their place itself
SET client_min_messages = debug1;
VACUUM (COMPACT, Z_ORDER_BY 'lat, id') pw_p;
RESET client_min_messages;
SELECT * FROM pw_check();
CALL pw_insert(230001, 10000);
CALL pw_insert(240001, 10000);
SET compact.min_parallel_compaction_size = '1TB';
VACUUM (COMPACT, HILBERT_BY 'lat, ts, grp') pw_s;
SET compact.min_parallel_compaction_size = 0;
VACUUM (COMPACT, HILBERT_BY 'lat, ts, grp') pw_p;
SELECT * FROM pw_check();
CALL pw_insert(250001, 10000);
CALL pw_insert(260001, 10000);
DELETE FROM pw_s WHERE id % 17 = 0;
DELETE FROM pw_p WHERE id % 17 = 0;
DELETE FROM pw_h WHERE id % 17 = 0;
SET maintenance_work_mem = '16MB';
SET compact.min_parallel_compaction_size = '1TB';
VACUUM (COMPACT, ORDER_BY 'grp DESC, lat, id') pw_s;
SET compact.min_parallel_compaction_size = 0;
SET client_min_messages = debug1;
VACUUM (COMPACT, ORDER_BY 'grp DESC, lat, id') pw_p;
RESET client_min_messages;
RESET maintenance_work_mem;
RESET compact.debug_writer_queue_size;
SELECT * FROM pw_check();
SELECT (SELECT array_agg(id ORDER BY ctid) FROM pw_p) =
	   (SELECT array_agg(id ORDER BY grp DESC, lat, id) FROM pw_p) AS sorted;
SELECT pw_index_agrees('SELECT * FROM pw_p WHERE id BETWEEN 201000 AND 203000') AS btree,
	   pw_index_agrees($$SELECT * FROM pw_p WHERE lower(name) = 'name 17'$$) AS expression;
DROP PROCEDURE pw_insert(int, int);

-- rolled back, in a transaction and in a subtransaction: nothing changes
SET compact.min_parallel_compaction_size = 0;
BEGIN;
SELECT rows_rewritten FROM compact.compact_table('pw_p', order_by => 'id DESC');
ROLLBACK;
BEGIN;
SAVEPOINT a;
SELECT rows_rewritten FROM compact.compact_table('pw_p', z_order_by => 'id, grp');
ROLLBACK TO a;
SELECT count(*) FROM pw_p;
COMMIT;
SELECT * FROM pw_check();

-- a group holds compact.shared_work_mem (12MB in test/test.conf) for its
-- row maps and a sort that fits, and gives it back when it ends, also
-- when its transaction rolls back: each of these sorts finds it free
SHOW compact.shared_work_mem;
SET maintenance_work_mem = '8MB';
SET client_min_messages = debug1;
BEGIN;
SELECT rows_rewritten FROM compact.compact_table('pw_p', order_by => 'id DESC');
ROLLBACK;
SELECT rows_rewritten FROM compact.compact_table('pw_p', order_by => 'lat, id');
SELECT rows_rewritten FROM compact.compact_table('pw_p', hilbert_by => 'lat, id');
RESET client_min_messages;
RESET maintenance_work_mem;
SELECT * FROM pw_check();
VACUUM pw_p;
SELECT (SELECT count(*) FROM pg_ls_dir(format('pg_compact/%s/%s',
			(SELECT oid FROM pg_database WHERE datname = current_database()),
			pg_relation_filenode('pw_p')))) =
	   (SELECT count(*) FROM compact.fragments WHERE relation = 'pw_p'::regclass) AS no_files_left;

-- no worker: max_parallel_maintenance_workers = 0, no worker slot, an index
-- expression that is not parallel safe; the backend writes alone
SET client_min_messages = debug1;
SET max_parallel_maintenance_workers = 0;
SELECT rows_rewritten FROM compact.compact_table('pw_p', order_by => 'id');
RESET max_parallel_maintenance_workers;
SET max_parallel_workers = 0;
SELECT rows_rewritten FROM compact.compact_table('pw_p', order_by => 'grp, id');
RESET max_parallel_workers;
RESET client_min_messages;
CREATE FUNCTION pw_unsafe(i int) RETURNS int LANGUAGE plpgsql IMMUTABLE PARALLEL UNSAFE AS 'BEGIN RETURN i + 1; END';
CREATE INDEX pw_p_unsafe ON pw_p (pw_unsafe(id));
SET client_min_messages = debug1;
SELECT rows_rewritten FROM compact.compact_table('pw_p', order_by => 'id DESC');
RESET client_min_messages;
SELECT pw_digest('pw_p') = pw_digest('pw_h') AS same_rows,
	   pw_index_agrees('SELECT * FROM pw_p WHERE pw_unsafe(id) = 1003') AS unsafe_index;

DROP TABLE pw_s, pw_p, pw_h;
DROP FUNCTION pw_unsafe(int);

-- deletions rewritten source by source: on a table without indexes (pw_n)
-- nothing needs the rows' values in the backend, so the worker and the
-- backend each rewrite whole sources, the worker from the first, the
-- backend from the last (compact.debug_leader_encodes = never: the worker
-- all of them, always: the backend).  The files are the same bytes as the
-- row group by row group rewrite of a twin with an index (pw_i).  Four
-- sources, one of 150,000 rows, whose deletion bitmap is bigger than the
-- 16 kB queue
CREATE TABLE pw_i (id int, grp int, name text, amount numeric(12,2), lat float8,
				   ts timestamptz, flag bool, tags text[], note varchar(20), payload text)
	USING compact WITH (auto_compact = false, compact_min_file_size_mb = 1,
						compact_target_file_size_mb = 64, compact_deleted_ratio = 0.1);
CREATE TABLE pw_n (LIKE pw_i) USING compact WITH (auto_compact = false, compact_min_file_size_mb = 1,
												  compact_target_file_size_mb = 64, compact_deleted_ratio = 0.1);
CREATE TABLE pw_nh (LIKE pw_i);
CREATE INDEX ON pw_i (id);
SELECT format($q$INSERT INTO %s SELECT g, g %% 37, CASE WHEN g %% 11 = 0 THEN NULL ELSE 'Name ' || (g %% 1000) END,
		   (g %% 9973) * 1.25, (g::bigint * 7919 %% 18000) / 100.0 - 90,
		   timestamptz '2026-01-01' + g * interval '17 seconds', g %% 3 = 0,
		   ARRAY['t' || g %% 5, 'u' || g %% 7], repeat('x', g %% 20), md5(g::text)
	  FROM generate_series(%s, %s) g$q$, t, lo, hi)
  FROM (VALUES (1, 70000), (70001, 220000), (220001, 290000), (290001, 360000)) b(lo, hi),
	   unnest(ARRAY['pw_i', 'pw_n', 'pw_nh']) t
 ORDER BY lo, t \gexec
SET compact.debug_writer_queue_size = '16kB';
DELETE FROM pw_i WHERE id % 5 = 0;
DELETE FROM pw_n WHERE id % 5 = 0;
DELETE FROM pw_nh WHERE id % 5 = 0;
SET compact.min_parallel_compaction_size = '1TB';
VACUUM (COMPACT) pw_i;
SET compact.min_parallel_compaction_size = 0;
SET compact.debug_leader_encodes = never;
SET client_min_messages = debug1;
VACUUM (COMPACT) pw_n;
RESET client_min_messages;
SELECT * FROM pw_compare('pw_i', 'pw_n', 'pw_nh');
SELECT row_count, row_groups FROM compact.fragments WHERE relation = 'pw_n'::regclass ORDER BY fragment_id;
-- a range deleted in one source: its row groups without deleted rows are
-- copied as they are
DELETE FROM pw_i WHERE id BETWEEN 100001 AND 170000 OR (id > 290000 AND id % 7 = 0);
DELETE FROM pw_n WHERE id BETWEEN 100001 AND 170000 OR (id > 290000 AND id % 7 = 0);
DELETE FROM pw_nh WHERE id BETWEEN 100001 AND 170000 OR (id > 290000 AND id % 7 = 0);
SET compact.min_parallel_compaction_size = '1TB';
VACUUM (COMPACT) pw_i;
SET compact.min_parallel_compaction_size = 0;
SET compact.debug_leader_encodes = always;
SET client_min_messages = debug1;
\set VERBOSITY default
VACUUM (COMPACT, VERBOSE) pw_n;
\set VERBOSITY terse
RESET client_min_messages;
SELECT * FROM pw_compare('pw_i', 'pw_n', 'pw_nh');
-- both at once (how many each takes depends on their speed): the same files
DELETE FROM pw_i WHERE id % 9 = 0;
DELETE FROM pw_n WHERE id % 9 = 0;
DELETE FROM pw_nh WHERE id % 9 = 0;
SET compact.min_parallel_compaction_size = '1TB';
VACUUM pw_i;
SET compact.min_parallel_compaction_size = 0;
RESET compact.debug_leader_encodes;
VACUUM (VERBOSE) pw_n;
SELECT * FROM pw_compare('pw_i', 'pw_n', 'pw_nh');
RESET compact.debug_writer_queue_size;
RESET compact.min_parallel_compaction_size;
DROP TABLE pw_i, pw_n, pw_nh;
DROP FUNCTION pw_check(), pw_compare(regclass, regclass, regclass), pw_files(regclass), pw_index_agrees(text), pw_digest(regclass);
