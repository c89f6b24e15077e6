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
