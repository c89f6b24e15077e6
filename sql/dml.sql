-- DELETE, UPDATE, rollbacks and savepoints, compared with a heap twin.
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

CREATE TABLE dh (id int, grp int, val text, amount float8);
CREATE TABLE dc (LIKE dh) USING compact;

-- run one statement against both twins
CREATE OR REPLACE PROCEDURE twin(sql text) LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE replace(sql, 'TWIN', 'dh');
	EXECUTE replace(sql, 'TWIN', 'dc');
END $$;
CREATE OR REPLACE FUNCTION same() RETURNS text LANGUAGE sql AS
$$ SELECT CASE WHEN digest('dh') = digest('dc') THEN 'same: ' || digest('dh')
			   ELSE 'DIFFERENT: ' || digest('dh') || ' vs ' || digest('dc') END $$;

CALL twin('INSERT INTO TWIN SELECT g, g % 10, ''v'' || g, g * 1.25 FROM generate_series(1, 5000) g');
SELECT same();

-- delete, in one and in several transactions
CALL twin('DELETE FROM TWIN WHERE id % 7 = 0');
SELECT same();
CALL twin('DELETE FROM TWIN WHERE grp = 3 AND id < 1000');
SELECT same();
SELECT sum(deleted_rows) FROM compact.fragments WHERE relation = 'dc'::regclass;

-- update: a delete plus an insert
CALL twin('UPDATE TWIN SET val = val || ''!'', amount = amount * 2 WHERE grp = 5');
SELECT same();
CALL twin('UPDATE TWIN SET grp = grp + 100 WHERE id BETWEEN 100 AND 200');
SELECT same();

-- RETURNING sees the right rows
DELETE FROM dc WHERE id = 11 RETURNING *;
DELETE FROM dh WHERE id = 11;
UPDATE dc SET val = 'x' WHERE id = 12 RETURNING id, grp, val;
UPDATE dh SET val = 'x' WHERE id = 12;
SELECT same();

-- rollback undoes inserts, deletes and updates
BEGIN;
DELETE FROM dc WHERE grp = 1;
UPDATE dc SET val = 'gone' WHERE grp = 2;
INSERT INTO dc SELECT g, 0, 'tmp', 0 FROM generate_series(1, 100) g;
SELECT count(*) FROM dc WHERE val = 'tmp' OR val = 'gone' OR grp = 1;
ROLLBACK;
SELECT same();

-- own changes are visible inside the transaction, in command order
BEGIN;
INSERT INTO dc VALUES (-1, -1, 'own', 0);
SELECT count(*) FROM dc WHERE id = -1;
UPDATE dc SET val = 'own2' WHERE id = -1;
SELECT val FROM dc WHERE id = -1;
DELETE FROM dc WHERE id = -1;
SELECT count(*) FROM dc WHERE id = -1;
INSERT INTO dc SELECT * FROM dc WHERE grp = 4;	-- reads what it writes? no
SELECT count(*) FROM dc WHERE grp = 4;
ROLLBACK;
SELECT same();

-- savepoints
BEGIN;
CALL twin('INSERT INTO TWIN VALUES (9001, 1, ''kept'', 1)');
SAVEPOINT a;
CALL twin('INSERT INTO TWIN VALUES (9002, 1, ''undone'', 1)');
CALL twin('DELETE FROM TWIN WHERE grp = 6');
ROLLBACK TO a;
CALL twin('UPDATE TWIN SET val = ''sp'' WHERE id = 9001');
SAVEPOINT b;
CALL twin('DELETE FROM TWIN WHERE grp = 8');
RELEASE b;
SAVEPOINT c;
CALL twin('INSERT INTO TWIN SELECT g, 77, ''c'', 0 FROM generate_series(10000, 10500) g');
ROLLBACK TO c;
COMMIT;
SELECT same();
SELECT count(*) FROM dc WHERE id IN (9001, 9002) OR grp IN (6, 8, 77);

-- exception blocks are subtransactions too
DO $$
BEGIN
	FOR i IN 1..20 LOOP
		BEGIN
			INSERT INTO dc VALUES (20000 + i, 50, 'loop', i);
			INSERT INTO dh VALUES (20000 + i, 50, 'loop', i);
			IF i % 2 = 0 THEN
				RAISE EXCEPTION 'undo %', i;
			END IF;
		EXCEPTION WHEN raise_exception THEN
			NULL;
		END;
	END LOOP;
END $$;
SELECT same();
SELECT count(*) FROM dc WHERE grp = 50;

-- a scrollable cursor moves both ways
BEGIN;
DECLARE cur SCROLL CURSOR FOR SELECT id FROM dc WHERE id <= 5;
FETCH 3 FROM cur;
FETCH BACKWARD 2 FROM cur;
FETCH LAST FROM cur;
FETCH BACKWARD ALL FROM cur;
COMMIT;

-- deleting everything, then inserting again
CALL twin('DELETE FROM TWIN');
SELECT same();
CALL twin('INSERT INTO TWIN SELECT g, g % 3, ''again'', g FROM generate_series(1, 300) g');
SELECT same();

-- triggers see old and new rows
CREATE TABLE audit (op text, old_id int, new_id int);
CREATE FUNCTION audit_trg() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO audit VALUES (TG_OP, CASE WHEN TG_OP <> 'INSERT' THEN OLD.id END,
							  CASE WHEN TG_OP <> 'DELETE' THEN NEW.id END);
	RETURN COALESCE(NEW, OLD);
END $$;
CREATE TRIGGER a BEFORE INSERT OR UPDATE OR DELETE ON dc FOR EACH ROW EXECUTE FUNCTION audit_trg();
CREATE TRIGGER b AFTER INSERT OR UPDATE OR DELETE ON dc FOR EACH ROW EXECUTE FUNCTION audit_trg();
INSERT INTO dc VALUES (500, 1, 'trg', 1);
UPDATE dc SET id = 501 WHERE id = 500;
DELETE FROM dc WHERE id = 501;
SELECT * FROM audit ORDER BY op, old_id NULLS FIRST, new_id;

-- constraints, defaults, generated columns
CREATE TABLE cons (id int PRIMARY KEY, v int CHECK (v > 0), d text DEFAULT 'dflt',
				   g int GENERATED ALWAYS AS (v * 2) STORED) USING compact;
INSERT INTO cons (id, v) VALUES (1, 1), (2, 2);
INSERT INTO cons (id, v) VALUES (3, -1);
INSERT INTO cons (id, v) VALUES (1, 5);
SELECT * FROM cons ORDER BY id;

-- a DELETE over many fragments takes one table-wide lock instead of one
-- lock per fragment
CREATE TABLE many (id int) USING compact;
CREATE PROCEDURE fill_many(n int) LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1..n LOOP
		INSERT INTO many VALUES (i);
		COMMIT;
	END LOOP;
END $$;
CALL fill_many(150);
SELECT count(*) FROM compact.fragments WHERE relation = 'many'::regclass;
BEGIN;
DELETE FROM many WHERE id % 2 = 0;
SELECT count(*) <= 70 AS few_locks FROM pg_locks
 WHERE locktype = 'advisory' AND pid = pg_backend_pid();
SELECT count(*), sum(id) FROM many;
COMMIT;
SELECT count(*), sum(id) FROM many;

-- a statement that reads the transaction's own buffered rows while its
-- inserts grow the buffer and write it out
CREATE TABLE selfread (id int, k int, t text) USING compact;
SET compact.write_buffer_size = '1MB';
BEGIN;
INSERT INTO selfread SELECT g, g % 10, repeat(md5(g::text), 20) FROM generate_series(1, 1000) g;
INSERT INTO selfread SELECT id, k, t FROM selfread WHERE k < 8;
UPDATE selfread SET t = t || 'x' WHERE k < 8;
SELECT count(*), sum(length(t)), count(DISTINCT t) FROM selfread;
COMMIT;
SELECT count(*), sum(length(t)), count(DISTINCT t) FROM selfread;
RESET compact.write_buffer_size;
DROP TABLE selfread;
