-- Per-table compaction options: ALTER TABLE ... SET/RESET, CREATE TABLE ...
-- WITH, LIKE ... INCLUDING ALL, compact.table_options, compact.set_options,
-- mixed with PostgreSQL's own storage parameters, validated.
CREATE EXTENSION IF NOT EXISTS compact;
\set VERBOSITY terse

CREATE TABLE opt (a int, b text, c float8) USING compact
	WITH (compact_target_file_size_mb = 128, fillfactor = 100,
		  compact_order_by = 'a DESC');
SELECT reloptions FROM pg_class WHERE relname = 'opt';
SELECT * FROM compact.table_options WHERE relation = 'opt'::regclass;

-- mixed with PostgreSQL's own, in one statement
ALTER TABLE opt SET (auto_compact = false, autovacuum_enabled = false,
					 compact_deleted_ratio = 0.5);
SELECT reloptions FROM pg_class WHERE relname = 'opt';
ALTER TABLE opt RESET (compact_order_by, fillfactor);
SELECT reloptions FROM pg_class WHERE relname = 'opt';
-- PostgreSQL's alone still works while ours are stored
ALTER TABLE opt SET (autovacuum_vacuum_scale_factor = 0.1);
ALTER TABLE opt RESET (autovacuum_vacuum_scale_factor);
SELECT reloptions FROM pg_class WHERE relname = 'opt';

-- one clustering at a time: setting one replaces another
ALTER TABLE opt SET (compact_z_order_by = 'a, c');
ALTER TABLE opt SET (compact_hilbert_by = 'a, c');
SELECT compact_order_by, compact_z_order_by, compact_hilbert_by
  FROM compact.table_options WHERE relation = 'opt'::regclass;

-- the function form
SELECT compact.set_options('opt', compact_min_file_size_mb => 32,
						   compact_threshold_files => 20);
SELECT * FROM compact.table_options WHERE relation = 'opt'::regclass;

-- \d+ shows them
\d+ opt

-- LIKE ... INCLUDING ALL copies them; explicit ones win
CREATE TABLE opt2 (LIKE opt INCLUDING ALL) USING compact WITH (compact_threshold_mb = 7);
SELECT reloptions FROM pg_class WHERE relname = 'opt2';
CREATE TABLE opt3 (LIKE opt) USING compact;
SELECT reloptions FROM pg_class WHERE relname = 'opt3';

-- compaction follows them: the table's clustering when none is given
INSERT INTO opt SELECT g, 'x', g % 17 FROM generate_series(1, 100) g;
INSERT INTO opt SELECT g, 'y', g % 13 FROM generate_series(101, 200) g;
SELECT rows_rewritten FROM compact.compact_table('opt');
SELECT DISTINCT clustering FROM compact.fragments WHERE relation = 'opt'::regclass;

-- bad values: an error each, nothing changed
ALTER TABLE opt SET (compact_threshold_mb = 0);
ALTER TABLE opt SET (compact_threshold_mb = 'abc');
ALTER TABLE opt SET (compact_threshold_mb);
ALTER TABLE opt SET (compact_deleted_ratio = 2);
ALTER TABLE opt SET (compact_deleted_ratio = 'lots');
ALTER TABLE opt SET (auto_compact = 'maybe');
ALTER TABLE opt SET (compact_target_file_size_mb = 2000000);
ALTER TABLE opt SET (compact_nope = 1);
ALTER TABLE opt SET (compact_z_order_by = 'a');
ALTER TABLE opt SET (compact_z_order_by = 'a, zz');
ALTER TABLE opt SET (compact_order_by = 'a,,');
ALTER TABLE opt SET (compact_order_by = 'b', compact_hilbert_by = 'a, c');
ALTER TABLE opt SET (compact_threshold_mb = 5, fillfactor = 5);
CREATE TABLE bad (a int) USING compact WITH (compact_order_by = 'nope');
CREATE TABLE bad (a int) USING compact WITH (compact_threshold_files = -1);
SELECT reloptions FROM pg_class WHERE relname = 'opt';
SELECT count(*) FROM pg_class WHERE relname = 'bad';

-- not for heap tables
CREATE TABLE heapt (a int) WITH (auto_compact = false);
CREATE TABLE heapt (a int);
ALTER TABLE heapt SET (auto_compact = false);
SELECT compact.set_options('heapt', auto_compact => false);

-- only the owner
CREATE ROLE opt_stranger;
GRANT USAGE ON SCHEMA public TO opt_stranger;
SET ROLE opt_stranger;
ALTER TABLE opt SET (auto_compact = true);
SELECT compact.set_options('opt', auto_compact => true);
RESET ROLE;
DROP OWNED BY opt_stranger;
DROP ROLE opt_stranger;

-- SET ACCESS METHOD heap drops them and leaves a working heap table
ALTER TABLE opt3 SET ACCESS METHOD heap;
ALTER TABLE opt SET ACCESS METHOD heap;
SELECT reloptions FROM pg_class WHERE relname = 'opt';
ALTER TABLE opt SET (fillfactor = 90);
INSERT INTO opt VALUES (1, repeat('x', 100000));
SELECT count(*), max(length(b)) FROM opt;

DROP TABLE opt, opt2, opt3, heapt;

-- a clustering option follows RENAME COLUMN and goes with DROP COLUMN
CREATE TABLE clu (a int, "B c" int, d int) USING compact
	WITH (compact_order_by = 'a DESC NULLS LAST, "B c"');
ALTER TABLE clu RENAME COLUMN a TO aa;
ALTER TABLE clu RENAME COLUMN "B c" TO "E f";
SELECT reloptions FROM pg_class WHERE relname = 'clu';
INSERT INTO clu VALUES (1, 2, 3), (NULL, 1, 3);
INSERT INTO clu VALUES (3, 1, 1);
SELECT rows_rewritten FROM compact.compact_table('clu');
SELECT aa FROM clu ORDER BY ctid;
ALTER TABLE clu RENAME COLUMN d TO dd;
ALTER TABLE clu DROP COLUMN dd;
SELECT reloptions FROM pg_class WHERE relname = 'clu';
ALTER TABLE clu SET (compact_z_order_by = 'aa, "E f"');
ALTER TABLE clu DROP COLUMN "E f";
SELECT reloptions FROM pg_class WHERE relname = 'clu';
INSERT INTO clu VALUES (4);
SELECT rows_rewritten FROM compact.compact_table('clu');
SELECT count(*), sum(aa) FROM clu;
DROP TABLE clu;
-- ... on the partitions too, as RENAME COLUMN recurses
CREATE TABLE pclu (a int, b int) PARTITION BY RANGE (a);
CREATE TABLE pclu1 PARTITION OF pclu FOR VALUES FROM (0) TO (100) USING compact
	WITH (compact_order_by = 'b DESC');
ALTER TABLE pclu RENAME COLUMN b TO bb;
SELECT reloptions FROM pg_class WHERE relname = 'pclu1';
ALTER TABLE pclu DROP COLUMN bb;
SELECT reloptions FROM pg_class WHERE relname = 'pclu1';
DROP TABLE pclu;
