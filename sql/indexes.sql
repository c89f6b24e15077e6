-- Indexes on compact tables: builds, scans, unique checks, foreign keys.
CREATE EXTENSION IF NOT EXISTS compact;
\set VERBOSITY terse

CREATE TABLE ih (id int, k text, v int);
CREATE TABLE ic (LIKE ih) USING compact;
INSERT INTO ih SELECT g, 'k' || (g % 1000), g % 97 FROM generate_series(1, 20000) g;
INSERT INTO ic SELECT * FROM ih;
DELETE FROM ih WHERE v = 5;
DELETE FROM ic WHERE v = 5;

CREATE INDEX ic_id ON ic (id);
CREATE INDEX ic_k ON ic (k);
CREATE INDEX ic_expr ON ic ((v * 2)) WHERE v > 50;
ANALYZE ic;

SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT * FROM ic WHERE id = 42;
SELECT * FROM ic WHERE id = 42;
SELECT count(*) FROM ic WHERE id = 5 + 97;		-- a deleted row (v = 5)
SELECT count(*), sum(id) FROM ic WHERE k = 'k7';
SELECT count(*), sum(id) FROM ih WHERE k = 'k7';
SELECT count(*) FROM ic WHERE v * 2 = 120 AND v > 50;
SELECT count(*) FROM ih WHERE v * 2 = 120 AND v > 50;
SELECT id FROM ic WHERE id BETWEEN 100 AND 110 ORDER BY id DESC;
-- index-only scans fall back to the table, correctly
SELECT count(*) FROM ic WHERE id < 1000;
SELECT count(*) FROM ih WHERE id < 1000;

-- indexes stay right through updates and deletes
UPDATE ic SET id = id + 100000 WHERE id % 1000 = 1;
UPDATE ih SET id = id + 100000 WHERE id % 1000 = 1;
SELECT count(*) FROM ic WHERE id > 100000;
SELECT count(*) FROM ih WHERE id > 100000;
SELECT count(*) FROM ic WHERE id = 1001;
RESET enable_seqscan;
RESET enable_bitmapscan;

-- unique constraints
CREATE TABLE u (id int PRIMARY KEY, note text) USING compact;
INSERT INTO u SELECT g, 'n' FROM generate_series(1, 1000) g;
INSERT INTO u VALUES (5, 'dup');
INSERT INTO u VALUES (1001, 'ok');
BEGIN;
INSERT INTO u VALUES (2000, 'a');
INSERT INTO u VALUES (2000, 'b');
ROLLBACK;
-- delete then re-insert the same key in one transaction
BEGIN;
DELETE FROM u WHERE id = 7;
INSERT INTO u VALUES (7, 'again');
COMMIT;
SELECT * FROM u WHERE id = 7;
-- an update that keeps the key
UPDATE u SET note = 'upd' WHERE id = 8;
UPDATE u SET id = 9 WHERE id = 10;
SELECT count(*) FROM u;
CREATE UNIQUE INDEX u_note ON u (note);
-- ON CONFLICT
INSERT INTO u VALUES (8, 'x') ON CONFLICT (id) DO NOTHING;
INSERT INTO u VALUES (8, 'y') ON CONFLICT (id) DO UPDATE SET note = excluded.note;
SELECT * FROM u WHERE id = 8;
-- a unique index over rows that were deleted builds fine
CREATE TABLE u2 (a int) USING compact;
INSERT INTO u2 VALUES (1), (1), (2);
DELETE FROM u2 WHERE ctid = (SELECT min(ctid) FROM u2 WHERE a = 1);
CREATE UNIQUE INDEX u2_a ON u2 (a);
INSERT INTO u2 VALUES (2);

-- CREATE INDEX CONCURRENTLY
CREATE INDEX CONCURRENTLY ic_v ON ic (v);
SET enable_seqscan = off;
SELECT count(*) FROM ic WHERE v = 6;
RESET enable_seqscan;
SELECT count(*) FROM ih WHERE v = 6;
REINDEX TABLE ic;
SELECT indexrelid::regclass, indisvalid FROM pg_index WHERE indrelid = 'ic'::regclass ORDER BY 1;

-- foreign keys that reference a compact table, and from one
CREATE TABLE parent (id int PRIMARY KEY) USING compact;
CREATE TABLE child (pid int REFERENCES parent (id) ON DELETE CASCADE) USING compact;
INSERT INTO parent SELECT generate_series(1, 10);
INSERT INTO child SELECT g % 10 + 1 FROM generate_series(1, 50) g;
INSERT INTO child VALUES (11);
DELETE FROM parent WHERE id = 3;
SELECT count(*) FROM child WHERE pid = 3;
SELECT count(*) FROM child;

-- row locks
BEGIN;
SELECT id FROM parent WHERE id = 1 FOR UPDATE;
SELECT id FROM parent WHERE id = 2 FOR SHARE;
SELECT id FROM parent WHERE id <= 4 FOR KEY SHARE SKIP LOCKED;
COMMIT;

-- enable_seqscan = off keeps the planner off CompactScan, a scan of the
-- whole table, when an index can answer
CREATE TABLE seqoff (id int, v text) USING compact;
INSERT INTO seqoff SELECT g, md5(g::text) FROM generate_series(1, 20000) g;
CREATE INDEX seqoff_id ON seqoff (id);
ANALYZE seqoff;
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM seqoff WHERE id BETWEEN 100 AND 20000;
SELECT count(*) FROM seqoff WHERE id BETWEEN 100 AND 20000;
RESET enable_seqscan;
EXPLAIN (COSTS OFF) SELECT id FROM seqoff WHERE id BETWEEN 100 AND 20000;
DROP TABLE seqoff;
