/*-------------------------------------------------------------------------
 * table_size.c
 *	  compact.table_size(regclass): bytes of all of a table's files.
 *
 * pg_table_size only sees relation forks; a compact table's data lives in
 * its fragment directory and its deletion vectors in compact.deletion.
 *
 * IDENTIFICATION
 *	  src/views/table_size.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/table.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "commands/defrem.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "catalog/metadata.h"
#include "format/files.h"

PG_FUNCTION_INFO_V1(compact_table_size);

Datum
compact_table_size(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	Relation	rel = try_relation_open(relid, AccessShareLock);
	int64		total;
	int64		dvbytes;
	char	   *dir;

	if (rel == NULL)
		PG_RETURN_NULL();
	if (rel->rd_rel->relam != get_table_am_oid("compact", true) ||
		!OidIsValid(rel->rd_rel->relam))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a compact table", RelationGetRelationName(rel)),
				 errhint("Use pg_total_relation_size() for other relations.")));

	dir = CompactTableDir(MyDatabaseId, rel->rd_node.relNode);
	total = (int64) CompactDirSize(dir);
	(void) DeletionCount(rel->rd_node.relNode, GetActiveSnapshot(),
						 ManifestList(rel->rd_node.relNode, GetActiveSnapshot()),
						 NULL, &dvbytes);
	total += dvbytes;
	relation_close(rel, AccessShareLock);

	total += DatumGetInt64(DirectFunctionCall1(pg_total_relation_size,
											   ObjectIdGetDatum(relid)));
	PG_RETURN_INT64(total);
}
