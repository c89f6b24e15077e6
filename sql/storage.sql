-- Storage basics: create, insert, read back every type, the fragments view,
-- table_size, and what compact tables refuse.
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

CREATE DOMAIN posint AS int CHECK (VALUE > 0);
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');

CREATE TABLE types_heap (
	i2 int2, i4 int4, i8 int8, f4 float4, f8 float8, n numeric, b bool,
	d date, t time, ts timestamp, tz timestamptz, iv interval,
	tx text, vc varchar(10), bc char(5), ba bytea, u uuid, j jsonb, js json,
	ia int[], ta text[], nm name, p point, dm posint, e mood, ip inet
);
CREATE TABLE types_compact (LIKE types_heap) USING compact;

INSERT INTO types_heap
SELECT g::int2, g, g * 1000000007::int8, g / 7.0, g / 3.0, g * 1.5 + 0.001,
	   g % 2 = 0, '2024-01-01'::date + g, '12:00'::time + g * interval '1 s',
	   '2024-01-01'::timestamp + g * interval '1 h',
	   '2024-01-01 00:00+00'::timestamptz + g * interval '1 min',
	   g * interval '1 day 2 h',
	   repeat(chr(65 + g % 26), g % 50), 'v' || g, 'c' || (g % 10),
	   decode(md5(g::text), 'hex'), md5(g::text)::uuid,
	   jsonb_build_object('k', g, 'a', jsonb_build_array(g, 'x')),
	   json_build_object('k', g)::json,
	   ARRAY[g, g + 1, NULL], ARRAY['a' || g, NULL, 'b'], 'name' || g,
	   point(g, -g), g, (ARRAY['sad', 'ok', 'happy'])[g % 3 + 1]::mood,
	   ('10.0.' || (g % 256) || '.1')::inet
  FROM generate_series(1, 3000) g;
-- NULLs in every column, and values far over a page
INSERT INTO types_heap (i4) VALUES (NULL), (0);
INSERT INTO types_heap (i4, tx, ba, j) VALUES
	(-1, repeat('x', 1000000), decode(repeat('ab', 300000), 'hex'),
	 (SELECT jsonb_agg(g) FROM generate_series(1, 20000) g));
INSERT INTO types_compact SELECT * FROM types_heap;

SELECT digest('types_heap') = digest('types_compact') AS same_rows;
SELECT count(*), sum(i8), sum(f8)::numeric(20,3), sum(n), count(DISTINCT tx),
	   max(length(tx)), count(*) FILTER (WHERE b), min(ts), max(tz)
  FROM types_compact;
SELECT i4, length(tx), length(ba), jsonb_array_length(j) FROM types_compact WHERE i4 <= 0 ORDER BY i4;

-- the data is in fragment files, not in the relation's fork
SELECT count(*) AS fragments, sum(row_count) AS rows, bool_and(bytes > 0) AS sized,
	   sum(deleted_rows) AS deleted, bool_and(operation = 'insert') AS inserts
  FROM compact.fragments WHERE relation = 'types_compact'::regclass;
SELECT pg_relation_size('types_compact') AS fork_bytes,
	   compact.table_size('types_compact') =
	   pg_total_relation_size('types_compact') +
	   (SELECT sum(bytes) FROM compact.fragments WHERE relation = 'types_compact'::regclass)
	   AS counts_fragments;

-- one fragment per transaction, not per statement
CREATE TABLE small (a int, b text) USING compact;
BEGIN;
INSERT INTO small VALUES (1, 'one');
INSERT INTO small VALUES (2, 'two');
INSERT INTO small SELECT g, 'g' || g FROM generate_series(3, 100) g;
SELECT count(*) FROM small;		-- own rows are visible before commit
COMMIT;
SELECT count(*), sum(row_count) FROM compact.fragments WHERE relation = 'small'::regclass;
SELECT * FROM small WHERE a <= 3 ORDER BY a;

-- a write buffer that fills up writes fragments before commit
SET compact.write_buffer_size = '1MB';
CREATE TABLE big (id bigint, payload text) USING compact;
INSERT INTO big SELECT g, md5(g::text) FROM generate_series(1, 200000) g;
RESET compact.write_buffer_size;
SELECT count(*) BETWEEN 2 AND 40 AS several_fragments, sum(row_count) FROM compact.fragments WHERE relation = 'big'::regclass;
SELECT count(*), sum(id), count(DISTINCT payload) FROM big;

-- the row group size is a setting
SET compact.row_group_size = 1000;
CREATE TABLE rg (a int) USING compact;
INSERT INTO rg SELECT generate_series(1, 10500);
RESET compact.row_group_size;
SELECT row_groups FROM compact.fragments WHERE relation = 'rg'::regclass;

-- empty tables
CREATE TABLE empty (a int) USING compact;
SELECT count(*) FROM empty;
SELECT * FROM compact.fragments WHERE relation = 'empty'::regclass;

-- what compact tables refuse
CREATE TEMP TABLE t_temp (a int) USING compact;
CREATE UNLOGGED TABLE t_unlogged (a int) USING compact;
SELECT * FROM small TABLESAMPLE SYSTEM (10);
SELECT compact.table_size('types_heap');
