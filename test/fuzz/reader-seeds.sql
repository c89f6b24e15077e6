-- Tables whose fragment files are the seeds of test/fuzz/corpus/reader (one
-- file each, copied from $PGDATA/pg_compact/<db>/<relfilenode>/), made with
-- shared_preload_libraries = compact in a scratch cluster.
CREATE EXTENSION compact;
SET compact.row_group_size = 1000;
CREATE TABLE ints (a int2, b int4, c int8, d bool, e "char", f date, g timestamptz) USING compact;
INSERT INTO ints SELECT i, CASE WHEN i % 7 = 0 THEN NULL ELSE i * 1000 END, (i::int8 << 33) - i,
  i % 3 = 0, chr(65 + i % 26)::"char", date '2024-01-01' + i, timestamptz '2024-01-01 00:00+00' + i * interval '1 minute'
  FROM generate_series(1, 2100) i;
CREATE TABLE floats (a float8, b float4, c float8) USING compact;
INSERT INTO floats SELECT round((i * 0.01)::numeric, 2)::float8, (i * 1.5)::float4,
  CASE WHEN i % 5 = 0 THEN NULL WHEN i % 11 = 0 THEN 'NaN' WHEN i % 13 = 0 THEN '-Infinity' ELSE sin(i) END
  FROM generate_series(1, 1300) i;
CREATE TABLE texts (id int, cat text, payload text, n numeric) USING compact;
INSERT INTO texts SELECT i, (ARRAY['red','green','blue',NULL])[1 + i % 4], CASE WHEN i % 9 = 0 THEN NULL
  ELSE md5(i::text) || repeat('x', i % 17) END, i / 7.0 FROM generate_series(1, 200) i;
CREATE TABLE fixed (u uuid, nm name, iv interval, p point, m money) USING compact;
INSERT INTO fixed SELECT md5(i::text)::uuid, 'name' || (i % 5), i * interval '1 hour', point(i, -i),
  CASE WHEN i % 4 = 0 THEN NULL ELSE i END FROM generate_series(1, 150) i;
CREATE TABLE allnull (a int, b text) USING compact;
INSERT INTO allnull SELECT NULL, NULL FROM generate_series(1, 40);
CREATE TABLE big (id int8, t text) USING compact;
SET compact.row_group_size = 1000;
INSERT INTO big SELECT i, 'constant text that compresses well ' || (i % 3) FROM generate_series(1, 3000) i;
CREATE TABLE one (x int) USING compact;
INSERT INTO one VALUES (42);
CREATE TABLE s_ints (a int2, b int4, c int8, d bool, f date) USING compact;
INSERT INTO s_ints SELECT i, CASE WHEN i % 7 = 0 THEN NULL ELSE i * 1000 END, (i::int8 << 33) - i, i % 3 = 0, date '2024-01-01' + i FROM generate_series(1, 40) i;
CREATE TABLE s_floats (a float8, b float4) USING compact;
INSERT INTO s_floats SELECT CASE WHEN i % 5 = 0 THEN NULL ELSE round((i * 0.25)::numeric, 2)::float8 END, sin(i)::float4 FROM generate_series(1, 30) i;
CREATE TABLE s_texts (cat text, payload text, v varchar(10)) USING compact;
INSERT INTO s_texts SELECT (ARRAY['a','bb','ccc'])[1 + i % 3], CASE WHEN i % 4 = 0 THEN NULL ELSE 'p' || i END, 'v' || (i % 2) FROM generate_series(1, 30) i;
CREATE TABLE s_fixed (u uuid, nm name, p point) USING compact;
INSERT INTO s_fixed SELECT md5(i::text)::uuid, 'n' || (i % 2), CASE WHEN i % 3 = 0 THEN NULL ELSE point(i, i) END FROM generate_series(1, 12) i;
CREATE TABLE s_delta (ts timestamptz, seq int8) USING compact;
INSERT INTO s_delta SELECT timestamptz '2024-01-01 00:00+00' + i * interval '1 second', 1000000 + i * 3 FROM generate_series(1, 50) i;
