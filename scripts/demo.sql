-- compact demo: a storage walkthrough (run by scripts/demo.sh with psql -X -e).
-- Every query runs on a compact table and on a heap twin holding the same rows,
-- and the answers are compared.
\set ON_ERROR_STOP on

\echo
\echo '==== 1. The extension, a compact table and its heap twin'
CREATE EXTENSION compact;

CREATE TABLE events (
	id       bigint,
	ts       timestamptz,
	user_id  int,
	lat      float8,
	lon      float8,
	amount   float8,
	category text,
	payload  text
) USING compact
  -- background compaction is section 10; here every compaction is yours
  WITH (auto_compact = false);

CREATE TABLE events_heap (
	id       bigint,
	ts       timestamptz,
	user_id  int,
	lat      float8,
	lon      float8,
	amount   float8,
	category text,
	payload  text
) USING heap;

\d+ events

\echo
\echo '==== 2. Load 200,000 rows in four INSERT transactions (one fragment or more each)'
-- Deterministic rows with the distributions of the benchmark data
-- (gen_events.c, the benchmark generator): every value is a function of id.
CREATE FUNCTION demo_events(first_id bigint, n bigint)
RETURNS TABLE (id bigint, ts timestamptz, user_id int, lat float8, lon float8,
			   amount float8, category text, payload text)
LANGUAGE sql IMMUTABLE AS $$
	SELECT i,
		   timestamptz '2024-01-01 00:00:00+00' + i * interval '100 ms'
			   + (r[1] % 5000000) * interval '1 microsecond',
		   (r[2] % 100000)::int + 1,
		   (floor(r[3] / 9007199254740992.0::float8 * 180000000) - 90000000) / 1000000.0::float8,
		   (floor(r[4] / 9007199254740992.0::float8 * 360000000) - 180000000) / 1000000.0::float8,
		   (r[5] % 1000000) / 100.0::float8,
		   (ARRAY['electronics', 'books', 'clothing', 'grocery', 'toys',
				  'garden', 'sports', 'automotive', 'beauty', 'health',
				  'music', 'movies', 'software', 'office', 'pets',
				  'jewelry', 'tools', 'baby', 'furniture', 'travel'])
			   [CASE WHEN r[6] & 1 = 1 THEN (r[6] >> 1) % 5 ELSE (r[6] >> 1) % 20 END + 1],
		   left(translate(encode(sha512(int8send(i)), 'base64'), '+/', '-_'),
				32 + (r[7] % 17)::int)
	  FROM generate_series(first_id, first_id + n - 1) AS i,
		   -- seven independent 53-bit uniform integers per row
		   LATERAL (SELECT array_agg((hashint8extended(i, c) >> 11) & 9007199254740991
									 ORDER BY c) AS r
					  FROM generate_series(1, 7) AS c) h
$$;

INSERT INTO events SELECT * FROM demo_events(1, 50000);
INSERT INTO events SELECT * FROM demo_events(50001, 50000);
INSERT INTO events SELECT * FROM demo_events(100001, 50000);
INSERT INTO events SELECT * FROM demo_events(150001, 50000);
INSERT INTO events_heap SELECT * FROM demo_events(1, 200000);

SELECT * FROM events ORDER BY id LIMIT 3;

\echo
\echo '==== 3. The fragments behind the table'
SELECT * FROM compact.fragments WHERE relation = 'events'::regclass ORDER BY fragment_id;

\echo
\echo '==== 4. Size on disk: compact fragments vs heap'
SELECT pg_size_pretty(compact.table_size('events'))           AS compact_size,
	   pg_size_pretty(pg_total_relation_size('events_heap')) AS heap_size,
	   round(pg_total_relation_size('events_heap')::numeric
			 / nullif(compact.table_size('events'), 0), 2)   AS heap_to_compact_ratio;

\echo
\echo '==== 5. Queries, compact vs heap'
SELECT 'compact' AS storage, count(*) FROM events
UNION ALL
SELECT 'heap', count(*) FROM events_heap;

SELECT category, count(*), round(avg(amount)::numeric, 2) AS avg_amount
  FROM events GROUP BY category ORDER BY count(*) DESC, category LIMIT 8;

-- the same aggregate over every category, compared with the heap (0 = identical)
SELECT count(*) AS categories_that_differ FROM (
	(SELECT category, count(*), sum(amount::numeric) FROM events GROUP BY category
	 EXCEPT ALL
	 SELECT category, count(*), sum(amount::numeric) FROM events_heap GROUP BY category)
	UNION ALL
	(SELECT category, count(*), sum(amount::numeric) FROM events_heap GROUP BY category
	 EXCEPT ALL
	 SELECT category, count(*), sum(amount::numeric) FROM events GROUP BY category)) d;

-- a lat/lon box holding about 1% of the rows
SELECT 'compact' AS storage, count(*), sum(amount::numeric) AS total_amount
  FROM events WHERE lat BETWEEN 10 AND 28 AND lon BETWEEN 20 AND 56
UNION ALL
SELECT 'heap', count(*), sum(amount::numeric)
  FROM events_heap WHERE lat BETWEEN 10 AND 28 AND lon BETWEEN 20 AND 56;

\echo
\echo '==== 6. DELETE and UPDATE: fragments are immutable, deleted rows are recorded beside them'
DELETE FROM events WHERE id % 5 = 0;
DELETE FROM events_heap WHERE id % 5 = 0;

SELECT fragment_id, row_count, deleted_rows, pg_size_pretty(bytes) AS size, operation
  FROM compact.fragments WHERE relation = 'events'::regclass ORDER BY fragment_id;

UPDATE events SET amount = amount + 100 WHERE id <= 1000;
UPDATE events_heap SET amount = amount + 100 WHERE id <= 1000;

SELECT fragment_id, row_count, deleted_rows, pg_size_pretty(bytes) AS size, operation
  FROM compact.fragments WHERE relation = 'events'::regclass ORDER BY fragment_id;

SELECT 'compact' AS storage, count(*), sum(amount::numeric) AS total_amount FROM events
UNION ALL
SELECT 'heap', count(*), sum(amount::numeric) FROM events_heap;

\echo
\echo '==== 7. Compaction: merge the small fragments, drop the deleted rows'
-- a query on a 1% lat/lon box, before: it has to read every row group
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
SELECT count(*), sum(amount) FROM events WHERE lat BETWEEN 10 AND 28 AND lon BETWEEN 20 AND 56;

VACUUM (COMPACT, VERBOSE) events;
SELECT fragment_id, row_count, deleted_rows, pg_size_pretty(bytes) AS size, operation, clustering
  FROM compact.fragments WHERE relation = 'events'::regclass ORDER BY fragment_id;

\echo
\echo '==== 8. Clustering: Z-order on (lat, lon), then the same box query skips most row groups'
SET compact.row_group_size = 2000;	-- smaller row groups: finer skipping
VACUUM (COMPACT, Z_ORDER_BY 'lat, lon') events;
RESET compact.row_group_size;
SELECT fragment_id, row_count, row_groups, pg_size_pretty(bytes) AS size, operation, clustering
  FROM compact.fragments WHERE relation = 'events'::regclass ORDER BY fragment_id;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
SELECT count(*), sum(amount) FROM events WHERE lat BETWEEN 10 AND 28 AND lon BETWEEN 20 AND 56;
SELECT 'compact' AS storage, count(*), sum(amount::numeric) AS total_amount
  FROM events WHERE lat BETWEEN 10 AND 28 AND lon BETWEEN 20 AND 56
UNION ALL
SELECT 'heap', count(*), sum(amount::numeric)
  FROM events_heap WHERE lat BETWEEN 10 AND 28 AND lon BETWEEN 20 AND 56;

-- the original statements work too, and compacting again has nothing to do
SELECT command, fragments_before, fragments_after, rows_rewritten
  FROM compact.execute('COMPACT TABLE events Z_ORDER BY (lat, lon)');
ALTER TABLE events SET (compact_target_file_size_mb = 256, compact_z_order_by = 'lat, lon');
SELECT relation, compact_target_file_size_mb, compact_z_order_by
  FROM compact.table_options WHERE relation = 'events'::regclass;

\echo
\echo '==== 9. A btree index on a compact table'
CREATE INDEX events_user_id_idx ON events (user_id);
CREATE INDEX events_heap_user_id_idx ON events_heap (user_id);
ANALYZE events;
ANALYZE events_heap;

-- the busiest user
SELECT user_id AS uid FROM events_heap GROUP BY user_id ORDER BY count(*) DESC, user_id LIMIT 1 \gset

-- make sure the plan shown is the index scan
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT id, ts, amount FROM events WHERE user_id = :uid;
SELECT id, ts, amount FROM events WHERE user_id = :uid ORDER BY id;
SELECT (SELECT array_agg(id ORDER BY id) FROM events WHERE user_id = :uid)
	 = (SELECT array_agg(id ORDER BY id) FROM events_heap WHERE user_id = :uid) AS same_rows;
RESET enable_seqscan;
RESET enable_bitmapscan;

\echo
\echo '==== 10. Automatic compaction: four small inserts cross the threshold, a background worker compacts'
CREATE TABLE readings (sensor int, ts timestamptz, value float8) USING compact
  WITH (compact_threshold_files = 4);
INSERT INTO readings SELECT g % 10, '2026-01-01'::timestamptz + g * interval '1 s', g FROM generate_series(1, 1000) g;
INSERT INTO readings SELECT g % 10, '2026-01-01'::timestamptz + g * interval '1 s', g FROM generate_series(1001, 2000) g;
INSERT INTO readings SELECT g % 10, '2026-01-01'::timestamptz + g * interval '1 s', g FROM generate_series(2001, 3000) g;
INSERT INTO readings SELECT g % 10, '2026-01-01'::timestamptz + g * interval '1 s', g FROM generate_series(3001, 4000) g;
-- the fourth commit queued a job before it returned; wait for the worker
DO $$
BEGIN
	FOR i IN 1 .. 300 LOOP
		EXIT WHEN EXISTS (SELECT FROM compact.compaction_jobs
						   WHERE "table" = 'readings'::regclass AND compaction_status = 'done');
		PERFORM pg_sleep(0.1);
	END LOOP;
END $$;
SELECT compaction_status FROM compact.compaction_jobs WHERE "table" = 'readings'::regclass;
SELECT fragment_id, row_count, operation FROM compact.fragments
 WHERE relation = 'readings'::regclass ORDER BY fragment_id;
SELECT count(*), sum(value) FROM readings;
-- every job of this demo, manual and automatic
SELECT job_id, "table", trigger, strategy, compaction_status, fragments_in, fragments_out,
	   rows_rewritten, deleted_rows_removed, pg_size_pretty(bytes_written) AS written, progress
  FROM compact.compaction_jobs ORDER BY job_id;

\echo
\echo '==== 11. Final check: the compact table and the heap twin hold the same rows'
SELECT (SELECT count(*) FROM events) = (SELECT count(*) FROM events_heap) AS same_count;

SELECT count(*) AS rows_that_differ FROM (
	(TABLE events EXCEPT ALL TABLE events_heap)
	UNION ALL
	(TABLE events_heap EXCEPT ALL TABLE events)) d;
