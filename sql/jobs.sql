-- compact.compaction_jobs: every compaction is a job, manual ones included.
-- (The regression instance runs with compact.auto_compact = off, so only
-- the jobs started here appear; test/t/004_auto_compaction.pl covers the
-- background workers.)

-- the view's columns and types
SELECT attname, format_type(atttypid, atttypmod)
  FROM pg_attribute
 WHERE attrelid = 'compact.compaction_jobs'::regclass AND attnum > 0
 ORDER BY attnum;

-- job ids independent of the tests before this one
SELECT setval('compact.job_id_seq', 1000) > 0 AS reset;

CREATE TABLE jt (id int, v text) USING compact;
CREATE TABLE jh (id int, v text);
INSERT INTO jt SELECT g, md5(g::text) FROM generate_series(1, 1000) g;
INSERT INTO jt SELECT g, md5(g::text) FROM generate_series(1001, 2000) g;
INSERT INTO jt SELECT g, md5(g::text) FROM generate_series(2001, 3000) g;
INSERT INTO jh SELECT * FROM jt;
DELETE FROM jt WHERE id % 10 = 0;
DELETE FROM jh WHERE id % 10 = 0;

-- a dry run is not a job
SELECT fragments_after FROM compact.compact_table('jt', dry_run => true);
SELECT count(*) FROM compact.compaction_jobs WHERE "table" = 'jt'::regclass;

-- the function form: one manual job, done
SELECT fragments_before, fragments_after, rows_rewritten, deleted_rows_removed
  FROM compact.compact_table('jt');
SELECT trigger, strategy, compaction_status, phase, fragments_in, fragments_out,
	   rows_rewritten, deleted_rows_removed, progress, error, pid, attempt,
	   bytes_before > 0 AS has_before, bytes_after > 0 AS has_after, bytes_written = bytes_after AS written_all,
	   queued_at <= started_at AND started_at <= finished_at AS times_in_order,
	   database = current_database() AS this_db
  FROM compact.compaction_jobs WHERE "table" = 'jt'::regclass;
-- its history row is written
SELECT compaction_status, trigger FROM compact.job_history WHERE relid = 'jt'::regclass;

-- the VACUUM form and compact.execute, with clustering
VACUUM (COMPACT, ORDER_BY 'id DESC') jt;
SELECT command, fragments_before, fragments_after, rows_rewritten FROM compact.execute('COMPACT TABLE jt Z_ORDER BY (id, v)');
SELECT job_id - min(job_id) OVER () AS n, trigger, strategy, compaction_status, fragments_in, rows_rewritten
  FROM compact.compaction_jobs WHERE "table" = 'jt'::regclass ORDER BY job_id;
SELECT count(*) FROM ((TABLE jt EXCEPT ALL TABLE jh) UNION ALL (TABLE jh EXCEPT ALL TABLE jt)) d;

-- a job whose transaction rolls back is recorded as failed
BEGIN;
SELECT rows_rewritten FROM compact.compact_table('jt', order_by => 'v');
ROLLBACK;
SELECT strategy, compaction_status, error
  FROM compact.compaction_jobs WHERE "table" = 'jt'::regclass ORDER BY job_id DESC LIMIT 1;

-- a job that fails records the error
BEGIN;
INSERT INTO jt VALUES (0, 'own');
SELECT compact.compact_table('jt', order_by => 'id');
ROLLBACK;
SELECT compaction_status, error
  FROM compact.compaction_jobs WHERE "table" = 'jt'::regclass ORDER BY job_id DESC LIMIT 1;

-- cancel_job and run_job: bad ids, finished jobs
SELECT min(job_id) AS first_job FROM compact.compaction_jobs WHERE "table" = 'jt'::regclass \gset
SELECT compact.cancel_job(-1);
SELECT compact.cancel_job(:first_job);
SELECT compact.run_job(-1);
-- run_job of a finished job runs the table's job again, as a new manual job
INSERT INTO jt VALUES (3001, 'a');
INSERT INTO jt VALUES (3002, 'b');
INSERT INTO jh VALUES (3001, 'a'), (3002, 'b');
SELECT fragments_before, fragments_after, rows_rewritten FROM compact.run_job(:first_job);
SELECT trigger, compaction_status, fragments_in FROM compact.compaction_jobs
 WHERE "table" = 'jt'::regclass ORDER BY job_id DESC LIMIT 1;
SELECT count(*) FROM ((TABLE jt EXCEPT ALL TABLE jh) UNION ALL (TABLE jh EXCEPT ALL TABLE jt)) d;

-- only the owner may cancel or run a table's job
CREATE ROLE job_stranger;
SET ROLE job_stranger;
SELECT count(*) > 0 AS sees_jobs FROM compact.compaction_jobs;
SELECT compact.run_job(:first_job);
SELECT compact.cancel_job(:first_job);
SELECT * FROM compact.job_history;
RESET ROLE;
DROP ROLE job_stranger;

-- plain VACUUM with nothing to rewrite leaves no job behind
SELECT count(*) AS jobs_before FROM compact.compaction_jobs \gset
VACUUM jt;
SELECT count(*) = :jobs_before AS no_new_job FROM compact.compaction_jobs;

-- the table goes; its jobs stay in the history, by OID
SELECT 'jt'::regclass::oid AS jt_oid \gset
DROP TABLE jt, jh;
SELECT count(*) AS history_kept FROM compact.compaction_jobs WHERE "table" = :jt_oid;
SELECT compact.run_job(:first_job);
