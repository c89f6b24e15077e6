/*-------------------------------------------------------------------------
 * options.c
 *	  Read a compact table's own options from pg_class.reloptions.
 *
 * commands/reloptions.c validates and stores them (PostgreSQL's validator
 * does not know them); this file only reads what is stored, so that the
 * compaction planner and the background workers can follow it.
 *
 * IDENTIFICATION
 *	  src/catalog/options.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/reloptions.h"
#include "catalog/pg_class.h"
#include "commands/defrem.h"
#include "utils/array.h"
#include "utils/syscache.h"

#include "catalog/metadata.h"

static const char *const OptionNames[] = {
	"auto_compact", "compact_threshold_mb", "compact_threshold_files",
	"compact_min_file_size_mb", "compact_target_file_size_mb",
	"compact_deleted_ratio", "compact_order_by", "compact_z_order_by",
	"compact_hilbert_by"
};

bool
CompactIsOptionName(const char *name)
{
	for (int i = 0; i < lengthof(OptionNames); i++)
		if (strcmp(OptionNames[i], name) == 0)
			return true;
	return false;
}

/* Every stored storage parameter of a table, as DefElems. */
List *
CompactStoredOptions(Oid relid)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	bool		isnull;
	Datum		datum;
	List	   *result;

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	datum = SysCacheGetAttr(RELOID, tuple, Anum_pg_class_reloptions, &isnull);
	result = isnull ? NIL : untransformRelOptions(datum);
	ReleaseSysCache(tuple);
	return result;
}

/* The stored value of one of our options, or NULL if it is not set. */
char *
CompactOptionValue(Oid relid, const char *name)
{
	ListCell   *lc;

	foreach(lc, CompactStoredOptions(relid))
	{
		DefElem    *def = lfirst_node(DefElem, lc);

		if (def->defnamespace == NULL && strcmp(def->defname, name) == 0)
			return defGetString(def);
	}
	return NULL;
}
