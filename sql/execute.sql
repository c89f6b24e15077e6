-- compact.execute: the original statements, verbatim, through a real
-- parser with syntax errors that point at the position.
CREATE EXTENSION IF NOT EXISTS compact;
\set VERBOSITY terse

CREATE OR REPLACE FUNCTION public.digest(rel regclass) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE r text;
BEGIN
	EXECUTE format('SELECT count(*) || '':'' || coalesce(md5(string_agg(x::text, '','' ORDER BY x::text)), ''-'') FROM %s x', rel) INTO r;
	RETURN r;
END $$;

CREATE SCHEMA app;
CREATE TABLE app.users (user_id int, last_login timestamptz, name text) USING compact;
CREATE TABLE users_heap (user_id int, last_login timestamptz, name text);
INSERT INTO app.users SELECT g, '2024-01-01'::timestamptz + (g * 7919 % 1000) * interval '1 h', 'u' || g FROM generate_series(1, 500) g;
INSERT INTO app.users SELECT g, '2024-01-01'::timestamptz + (g * 7919 % 1000) * interval '1 h', 'u' || g FROM generate_series(501, 1000) g;
INSERT INTO users_heap SELECT * FROM app.users;
SET search_path = app, public;

SELECT command, fragments_before, fragments_after, rows_rewritten
  FROM compact.execute('COMPACT TABLE users ORDER BY (last_login DESC, user_id)');
SELECT (SELECT array_agg(user_id ORDER BY ctid) FROM users) =
	   (SELECT array_agg(user_id ORDER BY last_login DESC, user_id) FROM users) AS sorted;
SELECT DISTINCT clustering FROM compact.fragments WHERE relation = 'users'::regclass;

-- every form, any case, schema-qualified, with a trailing semicolon
SELECT command, rows_rewritten FROM compact.execute('compact table app.users z_order by (user_id, last_login);');
SELECT command, rows_rewritten FROM compact.execute('COMPACT TABLE "users" HILBERT BY ("user_id", last_login)');
SELECT command, rows_rewritten FROM compact.execute('COMPACT TABLE users ORDER BY (name DESC NULLS LAST) WHERE user_id > 0');
SELECT command, rows_rewritten FROM compact.execute('COMPACT TABLE users');
DELETE FROM users WHERE user_id <= 400;
DELETE FROM users_heap WHERE user_id <= 400;
SELECT command, fragments_after, rows_rewritten, deleted_rows_removed FROM compact.execute('VACUUM TABLE users');
SELECT command, fragments_after FROM compact.execute('OPTIMIZE TABLE users');
SELECT command, fragments_after FROM compact.execute('OPTIMIZE TABLE users RECOMPUTE STATISTICS');
SELECT reltuples FROM pg_class WHERE oid = 'users'::regclass;
SELECT * FROM compact.execute('ALTER TABLE users SET (auto_compact = false, compact_threshold_mb = 100, compact_target_file_size_mb = 512)');
SELECT auto_compact, compact_threshold_mb, compact_target_file_size_mb FROM compact.table_options WHERE relation = 'users'::regclass;
SELECT command FROM compact.execute('ALTER TABLE users RESET (auto_compact)');
SELECT auto_compact FROM compact.table_options WHERE relation = 'users'::regclass;
SELECT digest('users') = digest('users_heap') AS same;

-- syntax errors point at the position
\set VERBOSITY default
SELECT * FROM compact.execute('COMPACT users');
SELECT * FROM compact.execute('COMPACT TABLE users ORDER (user_id)');
SELECT * FROM compact.execute('COMPACT TABLE users ORDER BY user_id');
SELECT * FROM compact.execute('COMPACT TABLE users ORDER BY (user_id');
SELECT * FROM compact.execute('COMPACT TABLE users SORTED BY (user_id)');
SELECT * FROM compact.execute('COMPACT TABLE users ORDER BY (user_id) ORDER BY (name)');
SELECT * FROM compact.execute('COMPACT TABLE users WHERE');
SELECT * FROM compact.execute('OPTIMIZE TABLE users RECOMPUTE');
SELECT * FROM compact.execute('VACUUM users');
SELECT * FROM compact.execute('SELECT 1');
SELECT * FROM compact.execute('');
SELECT * FROM compact.execute('COMPACT TABLE users; DROP TABLE users');
\set VERBOSITY terse
-- and every semantic error of the other forms
SELECT * FROM compact.execute('COMPACT TABLE nope');
SELECT * FROM compact.execute('COMPACT TABLE users ORDER BY (nope)');
SELECT * FROM compact.execute('COMPACT TABLE users ORDER BY (user_id) Z_ORDER BY (user_id, name)');
SELECT * FROM compact.execute('COMPACT TABLE users Z_ORDER BY (user_id)');
SELECT * FROM compact.execute('COMPACT TABLE users WHERE last_login > now()');
SELECT * FROM compact.execute('COMPACT TABLE users WHERE user_id > 1; DROP TABLE users');
SELECT * FROM compact.execute('COMPACT TABLE users_heap');
SELECT * FROM compact.execute('ALTER TABLE users SET (compact_threshold_mb = -1)');
SELECT * FROM compact.execute('ALTER TABLE users DROP COLUMN name');
SELECT * FROM compact.execute('ALTER TABLE users SET (auto_compact = true); DROP TABLE users');
SELECT count(*) FROM users;

RESET search_path;
DROP SCHEMA app CASCADE;
DROP TABLE users_heap;

-- operators and casts in the WHERE expression (the statement lexer reads
-- every token PostgreSQL's does)
CREATE TABLE casts (id int, k bigint, v text) USING compact;
INSERT INTO casts SELECT g, g, 'v' || g FROM generate_series(1, 100) g;
INSERT INTO casts SELECT g, g, 'v' || g FROM generate_series(101, 200) g;
SELECT command, fragments_before, fragments_after
  FROM compact.execute('COMPACT TABLE casts WHERE k = 68::bigint');
SELECT command, fragments_before, fragments_after
  FROM compact.execute('COMPACT TABLE casts ORDER BY (k DESC NULLS LAST) WHERE id >= 1.5 AND v::text <> ''x'' AND id IN (1, 2) OR k BETWEEN 1 AND 2 OR v ~~ ''v1%''');
SELECT count(*), sum(id) FROM casts;
DROP TABLE casts;
