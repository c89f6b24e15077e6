-- COPY FROM a server file on several cores, compared with a heap twin.
-- Each process writes its own fragments: three fragments from one COPY
-- show that the leader and two workers loaded it, one that PostgreSQL's
-- own COPY did.
CREATE EXTENSION IF NOT EXISTS compact;
\set VERBOSITY terse

CREATE OR REPLACE FUNCTION public.pc_digest(rel regclass) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE r text;
BEGIN
	EXECUTE format('SELECT count(*) || '':'' || coalesce(md5(string_agg(x::text, '','' ORDER BY x::text)), ''-'') FROM %s x', rel) INTO r;
	RETURN r;
END $$;
CREATE OR REPLACE FUNCTION pc_same(a regclass, b regclass) RETURNS text LANGUAGE sql AS
$$ SELECT CASE WHEN pc_digest(a) = pc_digest(b) THEN 'same: ' || split_part(pc_digest(a), ':', 1) || ' rows'
			   ELSE 'DIFFERENT: ' || pc_digest(a) || ' vs ' || pc_digest(b) END $$;
CREATE OR REPLACE FUNCTION pc_fragments(rel regclass) RETURNS bigint LANGUAGE sql AS
$$ SELECT count(*) FROM compact.fragments WHERE relation = rel $$;
-- the files in the table's directory (fragments and anything left over)
CREATE OR REPLACE FUNCTION pc_files(rel regclass) RETURNS bigint LANGUAGE sql AS
$$ SELECT count(*) FROM pg_ls_dir(format('pg_compact/%s/%s',
		(SELECT oid FROM pg_database WHERE datname = current_database()),
		pg_relation_filenode(rel)), true, false) $$;

SET compact.min_parallel_copy_size = '64kB';
SET compact.max_parallel_copy_workers = 2;

SELECT current_setting('data_directory') || '/pc_plain.csv' AS plain,
	   current_setting('data_directory') || '/pc_header.csv' AS header,
	   current_setting('data_directory') || '/pc_text.txt' AS text,
	   current_setting('data_directory') || '/pc_bad.csv' AS bad,
	   current_setting('data_directory') || '/pc_quoted.csv' AS quoted,
	   current_setting('data_directory') || '/pc_marker.txt' AS marker \gset

CREATE TABLE pc_src (id int, big bigint, ts timestamptz, f float8, n numeric,
					 b bool, t text, d date);
INSERT INTO pc_src
SELECT g, g::bigint * 1000003, timestamptz '2024-01-01 00:00:00+00' + g * interval '17 s',
	   CASE WHEN g % 97 = 0 THEN NULL ELSE g / 7.0 END, g % 1000 / 100.0,
	   g % 3 = 0, CASE WHEN g % 89 = 0 THEN NULL ELSE 'text ' || md5(g::text) END,
	   date '2020-01-01' + g % 2000
  FROM generate_series(1, 40000) g;
COPY (SELECT * FROM pc_src ORDER BY id) TO :'plain' (FORMAT csv);
COPY pc_src TO :'header' (FORMAT csv, HEADER);
COPY pc_src TO :'text';

-- CSV: three processes, the same rows as the heap twin and as the source
CREATE TABLE pc_heap (LIKE pc_src);
CREATE TABLE pc_c (LIKE pc_src) USING compact;
COPY pc_heap FROM :'plain' (FORMAT csv);
SET client_min_messages = debug1;
COPY pc_c FROM :'plain' (FORMAT csv);
RESET client_min_messages;
SELECT pc_same('pc_heap', 'pc_c'), pc_same('pc_src', 'pc_c'), pc_fragments('pc_c');
-- rows keep their file order within each process's share
SELECT count(*) FILTER (WHERE down) <= 2 AS shares_in_file_order
  FROM (SELECT id < lag(id) OVER (ORDER BY ctid) AS down FROM pc_c) s;

-- HEADER is skipped once, in the first share
TRUNCATE pc_c;
COPY pc_c FROM :'header' (FORMAT csv, HEADER);
SELECT pc_same('pc_src', 'pc_c'), pc_fragments('pc_c');
-- HEADER MATCH checks the first line only
TRUNCATE pc_c;
COPY pc_c FROM :'header' (FORMAT csv, HEADER MATCH);
SELECT pc_same('pc_src', 'pc_c'), pc_fragments('pc_c');

-- text format (\N for NULL)
TRUNCATE pc_c;
COPY pc_c FROM :'text';
SELECT pc_same('pc_src', 'pc_c'), pc_fragments('pc_c');

-- one worker: two processes
TRUNCATE pc_c;
SET compact.max_parallel_copy_workers = 1;
COPY pc_c FROM :'plain' (FORMAT csv);
SELECT pc_same('pc_src', 'pc_c'), pc_fragments('pc_c');
SET compact.max_parallel_copy_workers = 2;

-- no parallel workers can start: the leader loads every share
TRUNCATE pc_c;
SET max_parallel_workers = 0;
COPY pc_c FROM :'plain' (FORMAT csv);
SELECT pc_same('pc_src', 'pc_c'), pc_fragments('pc_c');
RESET max_parallel_workers;

-- a column list; the columns left out get their constant defaults
CREATE TABLE pc_cols (id int, t text, k int DEFAULT 7, f float8) USING compact;
CREATE TABLE pc_cols_heap (id int, t text, k int DEFAULT 7, f float8);
COPY (SELECT id, t, f FROM pc_src) TO :'bad' (FORMAT csv);
COPY pc_cols (id, t, f) FROM :'bad' (FORMAT csv);
COPY pc_cols_heap (id, t, f) FROM :'bad' (FORMAT csv);
SELECT pc_same('pc_cols_heap', 'pc_cols'), pc_fragments('pc_cols');
-- a volatile default: PostgreSQL's own COPY (one fragment)
CREATE SEQUENCE pc_seq;
ALTER TABLE pc_cols ALTER COLUMN k SET DEFAULT nextval('pc_seq');
TRUNCATE pc_cols;
COPY pc_cols (id, t, f) FROM :'bad' (FORMAT csv);
SELECT count(*), min(k), max(k), count(DISTINCT k), pc_fragments('pc_cols') FROM pc_cols;

-- in a transaction: the rows are visible to the next command, and a
-- rollback (of the transaction or to a savepoint) takes them all back
TRUNCATE pc_c;
BEGIN;
INSERT INTO pc_c VALUES (0, 0, now(), 0, 0, false, 'first', '2020-01-01');
SAVEPOINT s;
COPY pc_c FROM :'plain' (FORMAT csv);
SELECT count(*) FROM pc_c;
ROLLBACK TO s;
SELECT count(*) FROM pc_c;
COPY pc_c FROM :'plain' (FORMAT csv);
SELECT count(*) FROM pc_c;
COMMIT;
SELECT count(*), count(*) FILTER (WHERE t = 'first') FROM pc_c;
DELETE FROM pc_c WHERE t = 'first';
SELECT pc_same('pc_src', 'pc_c');

BEGIN;
TRUNCATE pc_c;
COPY pc_c FROM :'plain' (FORMAT csv);
ROLLBACK;
SELECT pc_same('pc_src', 'pc_c');

-- rows a parallel COPY wrote can be deleted, updated and compacted
DELETE FROM pc_c WHERE id % 10 = 0;
DELETE FROM pc_heap WHERE id % 10 = 0;
UPDATE pc_c SET t = 'updated' WHERE id % 10 = 1;
UPDATE pc_heap SET t = 'updated' WHERE id % 10 = 1;
SELECT pc_same('pc_heap', 'pc_c');
VACUUM (COMPACT) pc_c;
SELECT pc_same('pc_heap', 'pc_c'), pc_fragments('pc_c');

-- errors: the same message as PostgreSQL's, the line counted in the whole
-- file, and nothing loaded; the files written are removed by VACUUM
\set VERBOSITY default
COPY (SELECT id, CASE WHEN id = 35000 THEN 'x' ELSE id::text END,
			 ts, f, n, b, t, d FROM pc_src ORDER BY pc_src.id) TO :'bad' (FORMAT csv);
TRUNCATE pc_c;
COPY pc_heap FROM :'bad' (FORMAT csv);
COPY pc_c FROM :'bad' (FORMAT csv);
SELECT count(*) FROM pc_c;
VACUUM pc_c;
SELECT pc_files('pc_c');
-- in the leader's share
COPY (SELECT id, CASE WHEN id = 3 THEN 'x' ELSE id::text END,
			 ts, f, n, b, t, d FROM pc_src ORDER BY pc_src.id) TO :'bad' (FORMAT csv);
COPY pc_heap FROM :'bad' (FORMAT csv);
COPY pc_c FROM :'bad' (FORMAT csv);
SELECT count(*) FROM pc_c;
-- extra and missing columns
COPY pc_src TO PROGRAM 'sed ''30000s/$/,extra/'' > pc_bad.csv' (FORMAT csv);
COPY pc_heap FROM :'bad' (FORMAT csv);
COPY pc_c FROM :'bad' (FORMAT csv);
COPY pc_src TO PROGRAM 'sed ''25000s/,[^,]*$//'' > pc_bad.csv' (FORMAT csv);
COPY pc_heap FROM :'bad' (FORMAT csv);
COPY pc_c FROM :'bad' (FORMAT csv);
SELECT count(*) FROM pc_c;
-- NOT NULL
CREATE TABLE pc_nn (LIKE pc_src) USING compact;
CREATE TABLE pc_nn_heap (LIKE pc_src);
ALTER TABLE pc_nn ALTER COLUMN t SET NOT NULL;
ALTER TABLE pc_nn_heap ALTER COLUMN t SET NOT NULL;
COPY pc_nn_heap FROM :'plain' (FORMAT csv);
COPY pc_nn FROM :'plain' (FORMAT csv);
SELECT count(*) FROM pc_nn;
COPY (SELECT * FROM pc_src WHERE t IS NOT NULL) TO :'bad' (FORMAT csv);
COPY pc_nn FROM :'bad' (FORMAT csv);
COPY pc_nn_heap FROM :'bad' (FORMAT csv);
SELECT pc_same('pc_nn_heap', 'pc_nn'), pc_fragments('pc_nn');
-- bad options and columns: PostgreSQL's errors
COPY pc_c FROM :'plain' (FORMAT csv, DELIMITER 'ab');
COPY pc_c (nosuch) FROM :'plain' (FORMAT csv);
COPY pc_c FROM '/nonexistent/pc.csv' (FORMAT csv);

\set VERBOSITY terse

-- what PostgreSQL's own COPY loads: one fragment, the same rows
-- CSV with quotes: the cuts follow them from the start of the file; here
-- quoted fields with commas, doubled quotes and newlines, and around the
-- first third of the file 900 kB of them, where a cut would fall inside
CREATE TABLE pc_q (LIKE pc_src) USING compact;
CREATE TABLE pc_q_heap (LIKE pc_src);
COPY (SELECT id, big, ts, f, n, b,
			 CASE WHEN id BETWEEN 13000 AND 13600 THEN repeat(E'x,\n', 500)
				  WHEN id % 50 = 0 THEN E'a,"b"\nc' WHEN id % 50 = 25 THEN E'a\n\\.'
				  WHEN id = 7 THEN '\.' ELSE t END, d
		FROM pc_src ORDER BY pc_src.id) TO :'quoted' (FORMAT csv);
COPY pc_q FROM :'quoted' (FORMAT csv);
COPY pc_q_heap FROM :'quoted' (FORMAT csv);
SELECT pc_same('pc_q_heap', 'pc_q'), pc_fragments('pc_q');
-- with an escape character other than the quote
TRUNCATE pc_q, pc_q_heap;
COPY (SELECT id, big, ts, f, n, b,
			 CASE WHEN id BETWEEN 13000 AND 13600 THEN repeat(E'x,"\\\n', 400)
				  WHEN id % 50 = 0 THEN E'a\\"b' ELSE t END, d
		FROM pc_src ORDER BY pc_src.id) TO :'quoted' (FORMAT csv, ESCAPE '\');
COPY pc_q FROM :'quoted' (FORMAT csv, ESCAPE '\');
COPY pc_q_heap FROM :'quoted' (FORMAT csv, ESCAPE '\');
SELECT pc_same('pc_q_heap', 'pc_q'), pc_fragments('pc_q');
SELECT count(*) FILTER (WHERE t LIKE E'%\n%') AS multiline FROM pc_q;
-- an error after the multi-line fields, in a worker's share: the line
-- number counts every newline before it, quoted ones too, as PostgreSQL's
COPY (SELECT id, CASE WHEN id = 35000 THEN 'x' ELSE big::text END, ts, f, n, b,
			 CASE WHEN id BETWEEN 13000 AND 13600 THEN repeat(E'x,\n', 500) ELSE t END, d
		FROM pc_src ORDER BY pc_src.id) TO :'quoted' (FORMAT csv);
\set VERBOSITY default
COPY pc_q_heap FROM :'quoted' (FORMAT csv);
COPY pc_q FROM :'quoted' (FORMAT csv);
\set VERBOSITY terse
-- a line that is an end-of-data marker before a cut: PostgreSQL's COPY
TRUNCATE pc_q, pc_q_heap;
COPY (SELECT * FROM pc_src WHERE id <= 20000 ORDER BY pc_src.id) TO :'quoted' (FORMAT csv);
COPY (SELECT 1) TO PROGRAM 'cat > /dev/null; printf ''%s\n'' ''\.'' >> pc_quoted.csv';
COPY (SELECT * FROM pc_src WHERE id > 20000 ORDER BY pc_src.id) TO PROGRAM 'cat >> pc_quoted.csv' (FORMAT csv);
COPY pc_q FROM :'quoted' (FORMAT csv);
COPY pc_q_heap FROM :'quoted' (FORMAT csv);
SELECT pc_same('pc_q_heap', 'pc_q'), pc_fragments('pc_q');
-- an end-of-data marker: nothing after it is loaded
COPY (SELECT * FROM pc_src WHERE id <= 20000) TO :'marker';
COPY (SELECT 1) TO PROGRAM 'cat > /dev/null; printf ''%s\n'' ''\.'' >> pc_marker.txt';
COPY (SELECT * FROM pc_src WHERE id > 20000) TO PROGRAM 'cat >> pc_marker.txt';
TRUNCATE pc_q, pc_q_heap;
COPY pc_q FROM :'marker';
COPY pc_q_heap FROM :'marker';
SELECT pc_same('pc_q_heap', 'pc_q'), pc_fragments('pc_q');
-- indexes: the leader inserts the entries of every process's rows; a
-- unique index takes PostgreSQL's COPY (a duplicate fails at its line)
TRUNCATE pc_q;
CREATE INDEX pc_q_id ON pc_q (id);
CREATE INDEX pc_q_lower ON pc_q (lower(t)) WHERE b;
SET client_min_messages = debug1;
COPY pc_q FROM :'plain' (FORMAT csv);
RESET client_min_messages;
SELECT pc_same('pc_src', 'pc_q'), pc_fragments('pc_q');
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SET compact.enable_custom_scan = off;
EXPLAIN (COSTS OFF) SELECT count(*), sum(id) FROM pc_q WHERE id BETWEEN 1000 AND 30000;
SELECT (SELECT count(*) || ' ' || sum(id) FROM pc_q WHERE id BETWEEN 1000 AND 30000) =
	   (SELECT count(*) || ' ' || sum(id) FROM pc_src WHERE id BETWEEN 1000 AND 30000) AS id_index_agrees;
EXPLAIN (COSTS OFF) SELECT count(*) FROM pc_q WHERE lower(t) > 'text 8' AND b;
SELECT (SELECT count(*) || ' ' || sum(id) FROM pc_q WHERE lower(t) > 'text 8' AND b) =
	   (SELECT count(*) || ' ' || sum(id) FROM pc_src WHERE lower(t) > 'text 8' AND b) AS lower_index_agrees;
-- rows the transaction inserted before the COPY keep their one entry
TRUNCATE pc_q;
BEGIN;
INSERT INTO pc_q SELECT * FROM pc_src WHERE id <= 100;
COPY pc_q FROM :'plain' (FORMAT csv);
SELECT count(*), count(DISTINCT id), sum(id) FROM pc_q WHERE id BETWEEN 1 AND 40000;
COMMIT;
SELECT count(*), count(DISTINCT id), sum(id) FROM pc_q WHERE id BETWEEN 1 AND 40000;
RESET enable_seqscan;
RESET enable_bitmapscan;
RESET compact.enable_custom_scan;
SELECT count(*), count(DISTINCT id), sum(id) FROM pc_q WHERE id BETWEEN 1 AND 40000;
TRUNCATE pc_q;
CREATE UNIQUE INDEX pc_q_unique ON pc_q (id);
SET client_min_messages = debug1;
COPY pc_q FROM :'plain' (FORMAT csv);
RESET client_min_messages;
SELECT pc_same('pc_src', 'pc_q'), pc_fragments('pc_q');
\set VERBOSITY default
COPY pc_q FROM :'plain' (FORMAT csv);
\set VERBOSITY terse
DROP TABLE pc_q;
CREATE TABLE pc_q (LIKE pc_src) USING compact;
CREATE FUNCTION pc_trig() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN NEW.t := upper(NEW.t); RETURN NEW; END $$;
CREATE TRIGGER pc_trig BEFORE INSERT ON pc_q FOR EACH ROW EXECUTE FUNCTION pc_trig();
COPY pc_q FROM :'plain' (FORMAT csv);
SELECT count(*), count(*) FILTER (WHERE t = upper(t)), pc_fragments('pc_q') FROM pc_q;
DROP TRIGGER pc_trig ON pc_q;
TRUNCATE pc_q;
COPY pc_q FROM :'plain' (FORMAT csv) WHERE id % 2 = 0;
SELECT count(*), pc_fragments('pc_q') FROM pc_q;
BEGIN;
TRUNCATE pc_q;
COPY pc_q FROM :'plain' (FORMAT csv, FREEZE);
COMMIT;
SELECT pc_same('pc_src', 'pc_q'), pc_fragments('pc_q');
-- domains: a CHECK a worker may run is checked there, with PostgreSQL's
-- error; one that calls a parallel-unsafe function takes PostgreSQL's COPY
CREATE DOMAIN pc_safe AS int CHECK (VALUE > 0);
CREATE FUNCTION pc_unsafe_check(int) RETURNS bool LANGUAGE plpgsql AS
$$ BEGIN RETURN $1 > 0; END $$;
CREATE DOMAIN pc_unsafe AS int CHECK (pc_unsafe_check(VALUE));
CREATE TABLE pc_d (id pc_safe, big bigint, ts timestamptz, f float8, n numeric,
				   b bool, t text, d date) USING compact;
CREATE TABLE pc_d_heap (id pc_safe, big bigint, ts timestamptz, f float8, n numeric,
						b bool, t text, d date);
COPY pc_d FROM :'plain' (FORMAT csv);
SELECT pc_same('pc_src', 'pc_d'), pc_fragments('pc_d');
TRUNCATE pc_d;
ALTER DOMAIN pc_safe ADD CONSTRAINT pc_not_35000 CHECK (VALUE <> 35000) NOT VALID;
\set VERBOSITY default
COPY pc_d_heap FROM :'plain' (FORMAT csv);
COPY pc_d FROM :'plain' (FORMAT csv);
\set VERBOSITY terse
VACUUM pc_d;
SELECT count(*), pc_files('pc_d') FROM pc_d;
DROP TABLE pc_d;
CREATE TABLE pc_d (id pc_unsafe, big bigint, ts timestamptz, f float8, n numeric,
				   b bool, t text, d date) USING compact;
COPY pc_d FROM :'plain' (FORMAT csv);
SELECT pc_same('pc_src', 'pc_d'), pc_fragments('pc_d');
-- arrays of the domains: the same (text format: CSV quotes arrays)
DROP TABLE pc_d;
COPY (SELECT id, ARRAY[id + 40000, 1] FROM pc_src ORDER BY pc_src.id) TO :'bad';
CREATE TABLE pc_d (id int, a pc_unsafe[], s pc_safe[]) USING compact;
COPY pc_d (id, a) FROM :'bad';
SELECT count(*), sum(a[1]), pc_fragments('pc_d') FROM pc_d;
TRUNCATE pc_d;
COPY pc_d (id, s) FROM :'bad';
SELECT count(*), sum(s[1]), pc_fragments('pc_d') FROM pc_d;
-- compact.max_parallel_copy_workers = 0, and files under twice the minimum
TRUNCATE pc_q;
SET compact.max_parallel_copy_workers = 0;
COPY pc_q FROM :'plain' (FORMAT csv);
SELECT pc_same('pc_src', 'pc_q'), pc_fragments('pc_q');
RESET compact.max_parallel_copy_workers;
TRUNCATE pc_q;
SET compact.min_parallel_copy_size = '64MB';
COPY pc_q FROM :'plain' (FORMAT csv);
SELECT pc_same('pc_src', 'pc_q'), pc_fragments('pc_q');
RESET compact.min_parallel_copy_size;

-- a role that may not read server files gets PostgreSQL's error
CREATE ROLE pc_user;
GRANT INSERT ON pc_q TO pc_user;
SET ROLE pc_user;
COPY pc_q FROM :'plain' (FORMAT csv);
RESET ROLE;

-- a role that may read server files but not insert: PostgreSQL's error
CREATE ROLE pc_reader IN ROLE pg_read_server_files;
SET ROLE pc_reader;
SET compact.min_parallel_copy_size = '64kB';
COPY pc_q FROM :'plain' (FORMAT csv);
RESET ROLE;

COPY (SELECT 1) TO PROGRAM 'cat > /dev/null; rm -f pc_plain.csv pc_header.csv pc_text.txt pc_bad.csv pc_quoted.csv pc_marker.txt';
DROP TABLE pc_src, pc_heap, pc_c, pc_cols, pc_cols_heap, pc_nn, pc_nn_heap,
	pc_q, pc_q_heap, pc_d, pc_d_heap;
DROP DOMAIN pc_safe, pc_unsafe;
DROP FUNCTION pc_unsafe_check(int);
DROP SEQUENCE pc_seq;
DROP FUNCTION pc_trig();
DROP ROLE pc_user, pc_reader;
