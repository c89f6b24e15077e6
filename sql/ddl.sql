-- DDL on compact tables: TRUNCATE, ALTER TABLE, rewrites, CTAS,
-- partitions, VACUUM, ANALYZE, DROP.
CREATE EXTENSION IF NOT EXISTS compact;
\set VERBOSITY terse

-- a row digest, to compare a compact table with its heap twin
CREATE OR REPLACE FUNCTION public.digest(rel regclass) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE r text;
BEGIN
	EXECUTE format('SELECT count(*) || '':'' || coalesce(md5(string_agg(x::text, '','' ORDER BY x::text)), ''-'') FROM %s x', rel) INTO r;
	RETURN r;
END $$;

CREATE TABLE th (a int, b text);
CREATE TABLE tc (LIKE th) USING compact;
INSERT INTO th SELECT g, 'b' || g FROM generate_series(1, 1000) g;
INSERT INTO tc SELECT * FROM th;

-- TRUNCATE gives the table new, empty storage; rolled back, the old is back
BEGIN;
TRUNCATE tc;
SELECT count(*) FROM tc;
ROLLBACK;
SELECT count(*) FROM tc;
BEGIN;
TRUNCATE tc;
INSERT INTO tc VALUES (1, 'after');
COMMIT;
SELECT * FROM tc;
SELECT count(*) FROM compact.fragments WHERE relation = 'tc'::regclass;
-- TRUNCATE in the transaction that created the table
BEGIN;
CREATE TABLE tnew (a int) USING compact;
INSERT INTO tnew SELECT generate_series(1, 10);
TRUNCATE tnew;
INSERT INTO tnew VALUES (42);
COMMIT;
SELECT * FROM tnew;

-- ADD and DROP COLUMN
TRUNCATE tc;
INSERT INTO tc SELECT * FROM th;
ALTER TABLE tc ADD COLUMN c int DEFAULT 7;
ALTER TABLE tc ADD COLUMN d text;
INSERT INTO tc VALUES (2000, 'new', 8, 'd');
SELECT c, d, count(*) FROM tc GROUP BY c, d ORDER BY c;
ALTER TABLE tc DROP COLUMN b;
SELECT * FROM tc WHERE a IN (1, 2000) ORDER BY a;
ALTER TABLE tc ALTER COLUMN a TYPE bigint;
SELECT pg_typeof(a), count(*) FROM tc GROUP BY 1;

-- VACUUM FULL and CLUSTER rewrite into new storage
CREATE TABLE vf (id int, v text) USING compact;
INSERT INTO vf SELECT g, 'v' || g FROM generate_series(1, 3000) g;
INSERT INTO vf SELECT g, 'w' || g FROM generate_series(3001, 6000) g;
DELETE FROM vf WHERE id % 3 = 0;
SELECT count(*), sum(row_count), sum(deleted_rows) FROM compact.fragments WHERE relation = 'vf'::regclass;
VACUUM FULL vf;
SELECT count(*), sum(row_count), sum(deleted_rows), min(operation) FROM compact.fragments WHERE relation = 'vf'::regclass;
SELECT count(*), sum(id) FROM vf;
CREATE INDEX vf_id ON vf (id);
INSERT INTO vf VALUES (-5, 'first');
CLUSTER vf USING vf_id;
SELECT id FROM vf LIMIT 3;
SET enable_seqscan = off;
SELECT v FROM vf WHERE id = 4;
RESET enable_seqscan;

-- SET ACCESS METHOD, both ways
CREATE TABLE sam (a int, b text);
INSERT INTO sam SELECT g, md5(g::text) FROM generate_series(1, 2000) g;
CREATE INDEX sam_a ON sam (a);
SELECT digest('sam') AS before \gset
ALTER TABLE sam SET ACCESS METHOD compact;
SELECT amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam WHERE c.relname = 'sam';
SELECT digest('sam') = :'before' AS same_rows;
SELECT sum(row_count) FROM compact.fragments WHERE relation = 'sam'::regclass;
SET enable_seqscan = off;
SELECT b FROM sam WHERE a = 77;
RESET enable_seqscan;
ALTER TABLE sam SET ACCESS METHOD heap;
SELECT digest('sam') = :'before' AS same_rows;

-- CREATE TABLE AS, SELECT INTO
CREATE TABLE ctas USING compact AS SELECT g AS a, g * 2 AS b FROM generate_series(1, 500) g;
SELECT count(*), sum(b) FROM ctas;
SET default_table_access_method = compact;
SELECT * INTO selinto FROM ctas WHERE a <= 10;
RESET default_table_access_method;
SELECT count(*) FROM selinto;
CREATE MATERIALIZED VIEW mv USING compact AS SELECT a % 5 AS k, count(*) FROM ctas GROUP BY 1;
REFRESH MATERIALIZED VIEW mv;
SELECT * FROM mv ORDER BY k;

-- partitions that use compact
CREATE TABLE parted (d date, v int) PARTITION BY RANGE (d);
CREATE TABLE parted_2023 PARTITION OF parted FOR VALUES FROM ('2023-01-01') TO ('2024-01-01') USING compact;
CREATE TABLE parted_2024 PARTITION OF parted FOR VALUES FROM ('2024-01-01') TO ('2025-01-01') USING compact;
INSERT INTO parted SELECT '2023-06-01'::date + g, g FROM generate_series(1, 400) g;
SELECT tableoid::regclass, count(*) FROM parted GROUP BY 1 ORDER BY 1;
UPDATE parted SET d = d + 365 WHERE v <= 10;
SELECT tableoid::regclass, count(*) FROM parted GROUP BY 1 ORDER BY 1;

-- VACUUM removes files nobody can read; ANALYZE gathers statistics
CREATE TABLE vac (a int, b text) USING compact;
INSERT INTO vac SELECT g, 'x' FROM generate_series(1, 1000) g;
BEGIN;
INSERT INTO vac SELECT g, 'aborted' FROM generate_series(1, 1000) g;
ROLLBACK;
SELECT count(*) FROM vac;
VACUUM vac;
ANALYZE vac;
SELECT reltuples FROM pg_class WHERE relname = 'vac';
SELECT n_distinct, null_frac FROM pg_stats WHERE tablename = 'vac' AND attname = 'b';
-- ANALYZE of a large table decodes only some row groups, counts them all
SET compact.row_group_size = 1000;
CREATE TABLE an (a int) USING compact;
INSERT INTO an SELECT generate_series(1, 100000);
RESET compact.row_group_size;
SET default_statistics_target = 1;
ANALYZE an;
RESET default_statistics_target;
SELECT reltuples FROM pg_class WHERE relname = 'an';

-- VACUUM folds the deletion vectors every snapshot sees into one per fragment
-- (15% deleted: under compact_deleted_ratio, so the fragment is not rewritten)
DELETE FROM vac WHERE a % 20 = 1;
DELETE FROM vac WHERE a % 20 = 2;
UPDATE vac SET b = 'y' WHERE a % 20 = 3;
SELECT relfilenode AS vacnode FROM pg_class WHERE relname = 'vac' \gset
SELECT fragment_id, count(*), sum(deleted_rows) FROM compact.deletion
 WHERE relfilenode = :vacnode GROUP BY 1 ORDER BY 1;
SELECT count(*), count(*) FILTER (WHERE b = 'y') FROM vac;
VACUUM vac;
SELECT fragment_id, count(*), sum(deleted_rows) FROM compact.deletion d
 WHERE relfilenode = :vacnode AND xmax = 0 GROUP BY 1 ORDER BY 1;
SELECT count(*), count(*) FILTER (WHERE b = 'y') FROM vac;
VACUUM FULL vac;
VACUUM vac;
SELECT count(*) FROM vac;

-- DROP removes the manifest rows
CREATE TABLE dropme (a int) USING compact;
INSERT INTO dropme VALUES (1);
SELECT relfilenode AS dropped FROM pg_class WHERE relname = 'dropme' \gset
DROP TABLE dropme;
SELECT count(*) FROM compact.manifest WHERE relfilenode = :dropped;


-- ALTER TABLE rewrites read the old rows with the old row type
CREATE TABLE rw (id int, z text) USING compact;
CREATE TABLE rwh (id int, z text);
INSERT INTO rw VALUES (1, NULL), (2, 'two');
INSERT INTO rwh VALUES (1, NULL), (2, 'two');
ALTER TABLE rw ADD COLUMN g int GENERATED ALWAYS AS (id * 10) STORED;
ALTER TABLE rwh ADD COLUMN g int GENERATED ALWAYS AS (id * 10) STORED;
ALTER TABLE rw ADD COLUMN r float8 DEFAULT random();
ALTER TABLE rwh ADD COLUMN r float8 DEFAULT random();
SELECT id, z, z IS NULL AS z_null, g, r IS NOT NULL AS has_r FROM rw ORDER BY id;
SELECT count(*) FROM ((SELECT id, z, g FROM rw EXCEPT ALL SELECT id, z, g FROM rwh)
	UNION ALL (SELECT id, z, g FROM rwh EXCEPT ALL SELECT id, z, g FROM rw)) d;
DROP TABLE rw, rwh;
-- ALTER TYPE keeps the values of columns added with a default
CREATE TABLE rt (id int) USING compact;
INSERT INTO rt VALUES (1), (2);
ALTER TABLE rt ADD COLUMN c int DEFAULT 7;
ALTER TABLE rt ALTER COLUMN id TYPE bigint;
SELECT id, c FROM rt ORDER BY id;
DROP TABLE rt;
