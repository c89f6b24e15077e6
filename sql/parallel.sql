-- Parallel sequential scans hand out whole fragments; a leader with rows of
-- its own in memory scans alone, since workers cannot see them.
CREATE EXTENSION IF NOT EXISTS compact;
\set VERBOSITY terse

SET compact.write_buffer_size = '1MB';
CREATE TABLE par (id int, v text) USING compact;
INSERT INTO par SELECT g, md5(g::text) FROM generate_series(1, 100000) g;
RESET compact.write_buffer_size;
SELECT count(*) > 2 AS several_fragments FROM compact.fragments WHERE relation = 'par'::regclass;

SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
-- the table AM's own parallel scan (the custom scan is in scan.sql)
SET compact.enable_custom_scan = off;
EXPLAIN (COSTS OFF) SELECT count(*), sum(id) FROM par;
SELECT count(*), sum(id), count(DISTINCT v) FROM par;

-- with uncommitted changes of its own
BEGIN;
INSERT INTO par SELECT g, 'own' FROM generate_series(100001, 100100) g;
DELETE FROM par WHERE id <= 50;
SELECT count(*), sum(id), count(*) FILTER (WHERE v = 'own') FROM par;
ROLLBACK;
SELECT count(*), sum(id) FROM par;

-- the same through the parallel custom scan
RESET compact.enable_custom_scan;
EXPLAIN (COSTS OFF) SELECT count(*), sum(id) FROM par;
SELECT count(*), sum(id), count(DISTINCT v) FROM par;
BEGIN;
INSERT INTO par SELECT g, 'own' FROM generate_series(100001, 100100) g;
DELETE FROM par WHERE id <= 50;
SELECT count(*), sum(id), count(*) FILTER (WHERE v = 'own') FROM par;
ROLLBACK;

-- the transaction's own changes are not visible to workers: no parallel
-- plan then, even without the leader's participation
SET parallel_leader_participation = off;
BEGIN;
INSERT INTO par VALUES (0, 'own');
EXPLAIN (COSTS OFF) SELECT count(*) FROM par;
SELECT count(*) FROM par;
SET LOCAL compact.enable_custom_scan = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM par;
SELECT count(*) FROM par;
ROLLBACK;
RESET parallel_leader_participation;
