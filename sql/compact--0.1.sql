/* compact--0.1.sql */

\echo Use "CREATE EXTENSION compact" to load this file. \quit

CREATE FUNCTION compact.compact_tableam_handler(internal)
RETURNS table_am_handler
AS 'MODULE_PATHNAME', 'compact_tableam_handler'
LANGUAGE C;

CREATE ACCESS METHOD compact TYPE TABLE HANDLER compact.compact_tableam_handler;
COMMENT ON ACCESS METHOD compact IS 'columnar fragment files with compaction';

-- The manifest: one row per fragment of a table's storage (relfilenode).
-- Its rows' xmin and xmax decide which fragments a snapshot sees.
CREATE TABLE compact.manifest (
	relfilenode oid NOT NULL,
	fragment_id bigint NOT NULL,
	file_xid bigint NOT NULL,
	first_row bigint NOT NULL,
	row_count bigint NOT NULL,
	bytes bigint NOT NULL,
	row_groups integer NOT NULL,
	operation text NOT NULL,
	created_at timestamptz NOT NULL,
	clustering text NOT NULL,
	stats bytea,
	cids bytea,
	PRIMARY KEY (relfilenode, fragment_id)
);
CREATE INDEX manifest_first_row ON compact.manifest (relfilenode, first_row);

-- Deletion vectors: one row per (fragment, deleting transaction) until
-- VACUUM folds them.
CREATE TABLE compact.deletion (
	relfilenode oid NOT NULL,
	fragment_id bigint NOT NULL,
	deleted_rows integer NOT NULL,
	rows bytea NOT NULL,
	successors bytea
);
CREATE INDEX deletion_fragment ON compact.deletion (relfilenode, fragment_id);

REVOKE ALL ON compact.manifest, compact.deletion FROM PUBLIC;
-- everyone may call the functions and read the views; each function checks
-- that the caller owns the table it changes
GRANT USAGE ON SCHEMA compact TO PUBLIC;

CREATE FUNCTION compact.table_size(regclass)
RETURNS bigint
AS 'MODULE_PATHNAME', 'compact_table_size'
LANGUAGE C STRICT;
COMMENT ON FUNCTION compact.table_size(regclass) IS
	'bytes of all files of a compact table: fragments, deletion vectors and relation forks';

CREATE VIEW compact.fragments AS
SELECT c.oid::regclass AS relation,
	   m.fragment_id,
	   m.row_count,
	   coalesce(d.deleted_rows, 0)::bigint AS deleted_rows,
	   m.bytes,
	   m.row_groups,
	   m.operation,
	   m.created_at,
	   m.clustering
  FROM compact.manifest m
  JOIN pg_catalog.pg_class c
	ON c.relfilenode = m.relfilenode
   AND c.relam = (SELECT oid FROM pg_catalog.pg_am WHERE amname = 'compact')
  LEFT JOIN LATERAL (SELECT sum(x.deleted_rows) AS deleted_rows
					   FROM compact.deletion x
					  WHERE x.relfilenode = m.relfilenode
						AND x.fragment_id = m.fragment_id) d ON true;
GRANT SELECT ON compact.fragments TO PUBLIC;

-- Compaction: the function forms of VACUUM (COMPACT ...), VACUUM and
-- VACUUM (OPTIMIZE ...).  Each returns one row of totals.
CREATE FUNCTION compact.compact_table(
	relation regclass,
	order_by text DEFAULT NULL,
	z_order_by text DEFAULT NULL,
	hilbert_by text DEFAULT NULL,
	filter text DEFAULT NULL,
	dry_run boolean DEFAULT false,
	verbose boolean DEFAULT false,
	OUT fragments_before bigint,
	OUT fragments_after bigint,
	OUT rows_rewritten bigint,
	OUT deleted_rows_removed bigint,
	OUT bytes_before bigint,
	OUT bytes_after bigint,
	OUT duration_ms double precision)
RETURNS record
AS 'MODULE_PATHNAME', 'compact_table'
LANGUAGE C VOLATILE;

CREATE FUNCTION compact.vacuum_table(
	relation regclass,
	verbose boolean DEFAULT false,
	OUT fragments_before bigint,
	OUT fragments_after bigint,
	OUT rows_rewritten bigint,
	OUT deleted_rows_removed bigint,
	OUT bytes_before bigint,
	OUT bytes_after bigint,
	OUT duration_ms double precision)
RETURNS record
AS 'MODULE_PATHNAME', 'compact_vacuum_table'
LANGUAGE C VOLATILE;

CREATE FUNCTION compact.optimize_table(
	relation regclass,
	recompute_statistics boolean DEFAULT false,
	verbose boolean DEFAULT false,
	OUT fragments_before bigint,
	OUT fragments_after bigint,
	OUT rows_rewritten bigint,
	OUT deleted_rows_removed bigint,
	OUT bytes_before bigint,
	OUT bytes_after bigint,
	OUT duration_ms double precision)
RETURNS record
AS 'MODULE_PATHNAME', 'compact_optimize_table'
LANGUAGE C VOLATILE;

-- Per-table compaction options (ALTER TABLE ... SET (...)), one row per
-- compact table, defaults filled in.
CREATE VIEW compact.table_options AS
SELECT c.oid::regclass AS relation,
	   coalesce(o.auto_compact, true) AS auto_compact,
	   coalesce(o.compact_threshold_mb, 100) AS compact_threshold_mb,
	   coalesce(o.compact_threshold_files, 10) AS compact_threshold_files,
	   coalesce(o.compact_min_file_size_mb, 64) AS compact_min_file_size_mb,
	   coalesce(o.compact_target_file_size_mb, 512) AS compact_target_file_size_mb,
	   coalesce(o.compact_deleted_ratio, 0.25) AS compact_deleted_ratio,
	   o.compact_order_by,
	   o.compact_z_order_by,
	   o.compact_hilbert_by
  FROM pg_catalog.pg_class c
  LEFT JOIN LATERAL (
	SELECT max(option_value) FILTER (WHERE option_name = 'auto_compact')::boolean AS auto_compact,
		   max(option_value) FILTER (WHERE option_name = 'compact_threshold_mb')::integer AS compact_threshold_mb,
		   max(option_value) FILTER (WHERE option_name = 'compact_threshold_files')::integer AS compact_threshold_files,
		   max(option_value) FILTER (WHERE option_name = 'compact_min_file_size_mb')::integer AS compact_min_file_size_mb,
		   max(option_value) FILTER (WHERE option_name = 'compact_target_file_size_mb')::integer AS compact_target_file_size_mb,
		   max(option_value) FILTER (WHERE option_name = 'compact_deleted_ratio')::float8 AS compact_deleted_ratio,
		   max(option_value) FILTER (WHERE option_name = 'compact_order_by') AS compact_order_by,
		   max(option_value) FILTER (WHERE option_name = 'compact_z_order_by') AS compact_z_order_by,
		   max(option_value) FILTER (WHERE option_name = 'compact_hilbert_by') AS compact_hilbert_by
	  FROM pg_catalog.pg_options_to_table(c.reloptions)) o ON true
 WHERE c.relkind = 'r'
   AND c.relam = (SELECT oid FROM pg_catalog.pg_am WHERE amname = 'compact');
GRANT SELECT ON compact.table_options TO PUBLIC;

-- The function form of ALTER TABLE ... SET (...): NULL arguments are left
-- as they are.
CREATE FUNCTION compact.set_options(
	relation regclass,
	auto_compact boolean DEFAULT NULL,
	compact_threshold_mb integer DEFAULT NULL,
	compact_threshold_files integer DEFAULT NULL,
	compact_min_file_size_mb integer DEFAULT NULL,
	compact_target_file_size_mb integer DEFAULT NULL,
	compact_deleted_ratio float8 DEFAULT NULL,
	compact_order_by text DEFAULT NULL,
	compact_z_order_by text DEFAULT NULL,
	compact_hilbert_by text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	opts text[] := '{}';
BEGIN
	IF auto_compact IS NOT NULL THEN opts := opts || format('auto_compact = %L', auto_compact); END IF;
	IF compact_threshold_mb IS NOT NULL THEN opts := opts || format('compact_threshold_mb = %L', compact_threshold_mb); END IF;
	IF compact_threshold_files IS NOT NULL THEN opts := opts || format('compact_threshold_files = %L', compact_threshold_files); END IF;
	IF compact_min_file_size_mb IS NOT NULL THEN opts := opts || format('compact_min_file_size_mb = %L', compact_min_file_size_mb); END IF;
	IF compact_target_file_size_mb IS NOT NULL THEN opts := opts || format('compact_target_file_size_mb = %L', compact_target_file_size_mb); END IF;
	IF compact_deleted_ratio IS NOT NULL THEN opts := opts || format('compact_deleted_ratio = %L', compact_deleted_ratio); END IF;
	IF compact_order_by IS NOT NULL THEN opts := opts || format('compact_order_by = %L', compact_order_by); END IF;
	IF compact_z_order_by IS NOT NULL THEN opts := opts || format('compact_z_order_by = %L', compact_z_order_by); END IF;
	IF compact_hilbert_by IS NOT NULL THEN opts := opts || format('compact_hilbert_by = %L', compact_hilbert_by); END IF;
	IF cardinality(opts) > 0 THEN
		EXECUTE format('ALTER TABLE %s SET (%s)', relation, array_to_string(opts, ', '));
	END IF;
END $$;

-- The original statements, verbatim: COMPACT TABLE t [ORDER BY (...)]
-- [Z_ORDER BY (...)] [HILBERT BY (...)] [WHERE ...], VACUUM TABLE t,
-- OPTIMIZE TABLE t [RECOMPUTE STATISTICS], ALTER TABLE t SET/RESET (...).
CREATE FUNCTION compact.execute(
	statement text,
	OUT command text,
	OUT fragments_before bigint,
	OUT fragments_after bigint,
	OUT rows_rewritten bigint,
	OUT deleted_rows_removed bigint,
	OUT bytes_before bigint,
	OUT bytes_after bigint,
	OUT duration_ms double precision)
RETURNS record
AS 'MODULE_PATHNAME', 'compact_execute'
LANGUAGE C VOLATILE;

-- Compaction jobs.  Queued and running jobs live in shared memory; a job's
-- row here is written when an automatic job starts ("running": a crash
-- leaves a trace that the next scan turns into "failed") and when any job
-- finishes.  Rows older than compact.job_history_retention are deleted.
CREATE SEQUENCE compact.job_id_seq;
CREATE TABLE compact.job_history (
	job_id bigint PRIMARY KEY,
	relid oid NOT NULL,
	trigger text NOT NULL,
	strategy text NOT NULL,
	compaction_status text NOT NULL,
	phase text,
	fragments_in integer NOT NULL,
	fragments_out integer NOT NULL,
	bytes_before bigint NOT NULL,
	bytes_after bigint NOT NULL,
	rows_rewritten bigint NOT NULL,
	deleted_rows_removed bigint NOT NULL,
	bytes_total bigint,
	bytes_done bigint,
	attempt integer NOT NULL,
	queued_at timestamptz,
	started_at timestamptz,
	finished_at timestamptz,
	error text,
	bytes_written bigint
);
REVOKE ALL ON compact.job_history, compact.job_id_seq FROM PUBLIC;

CREATE FUNCTION compact.jobs(
	OUT job_id bigint,
	OUT database name,
	OUT "table" regclass,
	OUT trigger text,
	OUT strategy text,
	OUT compaction_status text,
	OUT phase text,
	OUT fragments_in integer,
	OUT fragments_out integer,
	OUT bytes_before bigint,
	OUT bytes_after bigint,
	OUT rows_rewritten bigint,
	OUT deleted_rows_removed bigint,
	OUT progress double precision,
	OUT queued_at timestamptz,
	OUT started_at timestamptz,
	OUT finished_at timestamptz,
	OUT error text,
	OUT pid integer,
	OUT attempt integer,
	OUT bytes_written bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'compact_jobs'
LANGUAGE C VOLATILE;

CREATE VIEW compact.compaction_jobs AS
SELECT job_id, database, "table", trigger, strategy, compaction_status, phase,
	   fragments_in, fragments_out, bytes_before, bytes_after, bytes_written, rows_rewritten,
	   deleted_rows_removed, round(progress::numeric, 4) AS progress,
	   queued_at, started_at, finished_at, error, pid, attempt
  FROM compact.jobs();
GRANT SELECT ON compact.compaction_jobs TO PUBLIC;

CREATE FUNCTION compact.cancel_job(job_id bigint)
RETURNS boolean
AS 'MODULE_PATHNAME', 'compact_cancel_job'
LANGUAGE C STRICT VOLATILE;

CREATE FUNCTION compact.run_job(
	job_id bigint,
	OUT fragments_before bigint,
	OUT fragments_after bigint,
	OUT rows_rewritten bigint,
	OUT deleted_rows_removed bigint,
	OUT bytes_before bigint,
	OUT bytes_after bigint,
	OUT duration_ms double precision)
RETURNS record
AS 'MODULE_PATHNAME', 'compact_run_job'
LANGUAGE C STRICT VOLATILE;

-- Fault points of a test build (-DCOMPACT_DEBUG); empty otherwise.
CREATE FUNCTION compact.debug_fault_points()
RETURNS SETOF text
AS 'MODULE_PATHNAME', 'compact_debug_fault_points'
LANGUAGE C STRICT;
REVOKE ALL ON FUNCTION compact.debug_fault_points() FROM PUBLIC;
