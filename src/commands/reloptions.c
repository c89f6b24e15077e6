/*-------------------------------------------------------------------------
 * reloptions.c
 *	  Per-table compaction options (SPEC §5) as ordinary storage parameters:
 *	  ALTER TABLE t SET (auto_compact = false, compact_target_file_size_mb
 *	  = 256), CREATE TABLE ... USING compact WITH (...), RESET (...).
 *
 * PostgreSQL 15 gives table access methods no say in reloptions: heap's
 * validator rejects names it does not know.  So the utility hook takes our
 * options out of the statement, validates them here (type, range, columns
 * of clustering options), lets PostgreSQL process the rest, and then writes
 * ours into pg_class.reloptions itself, in the same transaction.  Stored
 * there they show in \d+, pg_dump emits them in CREATE TABLE ... WITH
 * (...), which comes back through this code on restore, and relcache builds
 * ignore them (they parse reloptions without validating).  Because
 * PostgreSQL revalidates a table's stored options whenever one of its own
 * is set or reset, ours are taken out of pg_class for the length of that
 * statement and put back after it.
 *
 * IDENTIFICATION
 *	  src/commands/reloptions.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "access/htup_details.h"
#include "access/reloptions.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/indexing.h"
#include "catalog/pg_class.h"
#include "commands/defrem.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "catalog/metadata.h"
#include "commands/reloptions.h"
#include "commands/statement.h"
#include "compaction/compaction.h"

typedef enum OptionType
{
	OPTION_BOOL,
	OPTION_INT,
	OPTION_REAL,
	OPTION_CLUSTERING
} OptionType;

typedef struct OptionSpec
{
	const char *name;
	OptionType	type;
	double		min;
	double		max;
	const char *default_value;
	CompactionStrategy strategy;	/* clustering options */
} OptionSpec;

static const OptionSpec Options[] = {
	{"auto_compact", OPTION_BOOL, 0, 0, "true", COMPACTION_MERGE},
	{"compact_threshold_mb", OPTION_INT, 1, INT_MAX, "100", COMPACTION_MERGE},
	{"compact_threshold_files", OPTION_INT, 2, 1000000, "10", COMPACTION_MERGE},
	{"compact_min_file_size_mb", OPTION_INT, 1, 1048576, "64", COMPACTION_MERGE},
	{"compact_target_file_size_mb", OPTION_INT, 1, 1048576, "512", COMPACTION_MERGE},
	{"compact_deleted_ratio", OPTION_REAL, 0.01, 1, "0.25", COMPACTION_MERGE},
	{"compact_order_by", OPTION_CLUSTERING, 0, 0, NULL, COMPACTION_SORT},
	{"compact_z_order_by", OPTION_CLUSTERING, 0, 0, NULL, COMPACTION_ZORDER},
	{"compact_hilbert_by", OPTION_CLUSTERING, 0, 0, NULL, COMPACTION_HILBERT},
};

static const OptionSpec *
FindOption(const char *name)
{
	for (int i = 0; i < lengthof(Options); i++)
		if (strcmp(Options[i].name, name) == 0)
			return &Options[i];
	return NULL;
}

/*
 * Check one option's value; returns it in canonical text form.  rel (may
 * be NULL) is the table, to check the columns of clustering options.
 */
static char *
ValidateOption(const OptionSpec *spec, DefElem *def, Relation rel)
{
	char	   *value;

	if (def->arg == NULL && spec->type != OPTION_BOOL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" requires a value", spec->name),
				 errhint("Write %s = <value>.", spec->name)));
	value = def->arg ? defGetString(def) : "true";

	switch (spec->type)
	{
		case OPTION_BOOL:
			{
				bool		b;

				if (!parse_bool(value, &b))
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("invalid value for boolean option \"%s\": %s",
									spec->name, value),
							 errhint("Use true or false.")));
				return pstrdup(b ? "true" : "false");
			}
		case OPTION_INT:
			{
				int			i;

				if (!parse_int(value, &i, 0, NULL))
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("invalid value for integer option \"%s\": %s",
									spec->name, value),
							 errhint("Use a whole number of %s.",
									 strstr(spec->name, "_mb") ? "megabytes" : "fragments")));
				if (i < spec->min || i > spec->max)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("value %s out of bounds for option \"%s\"",
									value, spec->name),
							 errdetail("Valid values are between \"%.0f\" and \"%.0f\".",
									   spec->min, spec->max)));
				return psprintf("%d", i);
			}
		case OPTION_REAL:
			{
				double		d;

				if (!parse_real(value, &d, 0, NULL))
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("invalid value for floating point option \"%s\": %s",
									spec->name, value),
							 errhint("Use a fraction such as 0.25.")));
				if (d < spec->min || d > spec->max)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("value %s out of bounds for option \"%s\"",
									value, spec->name),
							 errdetail("Valid values are between \"%g\" and \"%g\".",
									   spec->min, spec->max)));
				return psprintf("%g", d);
			}
		case OPTION_CLUSTERING:
			if (rel != NULL)
			{
				CompactionRequest request;

				CompactionRequestInit(&request, RelationGetRelid(rel));
				StatementSetClustering(&request, rel, spec->strategy, value);
			}
			return pstrdup(value);
	}
	return NULL;
}

/*
 * Split a list of DefElems into ours (validated, returned as DefElems with
 * canonical values in *ours) and PostgreSQL's (the result).  With reset,
 * the DefElems carry only names.
 */
List *
CompactSplitOptions(List *options, Relation rel, bool reset, List **ours)
{
	List	   *theirs = NIL;
	ListCell   *lc;

	*ours = NIL;
	foreach(lc, options)
	{
		DefElem    *def = lfirst_node(DefElem, lc);
		const OptionSpec *spec = def->defnamespace ? NULL : FindOption(def->defname);

		if (spec == NULL)
		{
			theirs = lappend(theirs, def);
			continue;
		}
		if (reset)
			*ours = lappend(*ours, makeDefElem(pstrdup(spec->name), NULL, -1));
		else
			*ours = lappend(*ours,
							makeDefElem(pstrdup(spec->name),
										(Node *) makeString(ValidateOption(spec, def, rel)),
										-1));
	}
	/* settings that only make sense together */
	if (!reset)
	{
		int			clusterings = 0;

		foreach(lc, *ours)
			if (FindOption(lfirst_node(DefElem, lc)->defname)->type == OPTION_CLUSTERING)
				clusterings++;
		if (clusterings > 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("only one of compact_order_by, compact_z_order_by and compact_hilbert_by can be set"),
					 errhint("Reset the others first.")));
	}
	return theirs;
}

static void
SetRelOptions(Oid relid, List *defs)
{
	Relation	pg_class = table_open(RelationRelationId, RowExclusiveLock);
	HeapTuple	tuple = SearchSysCacheCopy1(RELOID, ObjectIdGetDatum(relid));
	Datum		values[Natts_pg_class];
	bool		nulls[Natts_pg_class];
	bool		replace[Natts_pg_class];
	Datum		array = transformRelOptions((Datum) 0, defs, NULL, NULL, false, false);
	HeapTuple	newtuple;

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	memset(replace, false, sizeof(replace));
	memset(nulls, false, sizeof(nulls));
	replace[Anum_pg_class_reloptions - 1] = true;
	values[Anum_pg_class_reloptions - 1] = array;
	nulls[Anum_pg_class_reloptions - 1] = (array == (Datum) 0);
	newtuple = heap_modify_tuple(tuple, RelationGetDescr(pg_class), values, nulls, replace);
	CatalogTupleUpdate(pg_class, &newtuple->t_self, newtuple);
	heap_freetuple(newtuple);
	table_close(pg_class, RowExclusiveLock);
	CommandCounterIncrement();
}

/* All stored options of a table as DefElems: (ours, theirs). */
static void
StoredOptions(Oid relid, List **ours, List **theirs)
{
	ListCell   *lc;

	*ours = NIL;
	*theirs = NIL;
	foreach(lc, CompactStoredOptions(relid))
	{
		DefElem    *def = lfirst_node(DefElem, lc);

		if (def->defnamespace == NULL && CompactIsOptionName(def->defname))
			*ours = lappend(*ours, def);
		else
			*theirs = lappend(*theirs, def);
	}
}

/*
 * Take our options out of pg_class before PostgreSQL validates the stored
 * ones; returns them for CompactRestoreOptions.
 */
List *
CompactStashOptions(Oid relid)
{
	List	   *ours;
	List	   *theirs;

	StoredOptions(relid, &ours, &theirs);
	if (ours != NIL)
		SetRelOptions(relid, theirs);
	return ours;
}

/*
 * Write our options back: stashed ones, then changes (set or, with reset,
 * removed), after whatever PostgreSQL stored meanwhile.
 */
void
CompactRestoreOptions(Oid relid, List *stashed, List *changes, bool reset)
{
	List	   *ours;
	List	   *theirs;
	List	   *merged = NIL;
	ListCell   *lc;
	bool		new_clustering = false;

	StoredOptions(relid, &ours, &theirs);
	ours = list_concat(ours, stashed);
	/* a table has one clustering: setting one replaces the others */
	foreach(lc, changes)
		if (!reset && FindOption(lfirst_node(DefElem, lc)->defname)->type == OPTION_CLUSTERING)
			new_clustering = true;
	foreach(lc, ours)
	{
		DefElem    *def = lfirst_node(DefElem, lc);
		ListCell   *cc;
		bool		changed = false;

		foreach(cc, changes)
			if (strcmp(lfirst_node(DefElem, cc)->defname, def->defname) == 0)
				changed = true;
		if (new_clustering && FindOption(def->defname)->type == OPTION_CLUSTERING)
			changed = true;
		if (!changed)
			merged = lappend(merged, def);
	}
	if (!reset)
		merged = list_concat(merged, changes);
	if (stashed == NIL && changes == NIL)
		return;
	SetRelOptions(relid, list_concat(theirs, merged));
}

/*
 * Check stored clustering options of a table against its columns now (at
 * CREATE TABLE time they are validated once the table exists).
 */
void
CompactValidateStoredOptions(Relation rel, List *ours)
{
	ListCell   *lc;

	foreach(lc, ours)
	{
		DefElem    *def = lfirst_node(DefElem, lc);
		const OptionSpec *spec = FindOption(def->defname);

		if (spec->type == OPTION_CLUSTERING)
			(void) ValidateOption(spec, def, rel);
	}
}

/*
 * Clustering options name columns.  Around a RENAME COLUMN or DROP COLUMN
 * of a compact table, CompactClusteringCapture resolves the stored option
 * to column numbers, and CompactClusteringFollow then writes it again with
 * the columns' new names or, if one of them is gone, removes it (as
 * PostgreSQL drops an index on a dropped column), with a NOTICE.
 */
typedef struct ClusteringCapture
{
	const OptionSpec *spec;
	char	   *value;
	int			n;
	AttrNumber	attnums[COMPACT_MAX_SORT_COLUMNS];
	bool		desc[COMPACT_MAX_SORT_COLUMNS];
	int			nulls_first[COMPACT_MAX_SORT_COLUMNS];
} ClusteringCapture;

void *
CompactClusteringCapture(Oid relid)
{
	List	   *ours;
	List	   *theirs;
	ListCell   *lc;

	StoredOptions(relid, &ours, &theirs);
	foreach(lc, ours)
	{
		DefElem    *def = lfirst_node(DefElem, lc);
		const OptionSpec *spec = FindOption(def->defname);
		ClusteringCapture *cap;
		char	  **names;
		bool	   *desc;
		int		   *nulls_first;
		int			n;

		if (spec == NULL || spec->type != OPTION_CLUSTERING)
			continue;
		cap = palloc0(sizeof(ClusteringCapture));
		cap->spec = spec;
		cap->value = defGetString(def);
		n = StatementParseClustering(cap->value, spec->strategy, &names, &desc,
									 &nulls_first);
		if (n > COMPACT_MAX_SORT_COLUMNS)
			return NULL;
		for (int i = 0; i < n; i++)
		{
			cap->attnums[i] = get_attnum(relid, names[i]);
			if (cap->attnums[i] == InvalidAttrNumber)
				return NULL;	/* already broken: leave it as it is */
			cap->desc[i] = desc[i];
			cap->nulls_first[i] = nulls_first[i];
		}
		cap->n = n;
		return cap;
	}
	return NULL;
}

void
CompactClusteringFollow(Oid relid, void *captured)
{
	ClusteringCapture *cap = captured;
	StringInfoData buf;
	List	   *ours;
	List	   *theirs;
	List	   *kept = NIL;
	ListCell   *lc;

	if (cap == NULL || !SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
		return;
	initStringInfo(&buf);
	for (int i = 0; i < cap->n; i++)
	{
		HeapTuple	tuple = SearchSysCache2(ATTNUM, ObjectIdGetDatum(relid),
											Int16GetDatum(cap->attnums[i]));
		Form_pg_attribute att;

		if (!HeapTupleIsValid(tuple))
			return;
		att = (Form_pg_attribute) GETSTRUCT(tuple);
		if (att->attisdropped)
		{
			ReleaseSysCache(tuple);
			ereport(NOTICE,
					(errmsg("option %s of table \"%s\" is removed: it names a dropped column",
							cap->spec->name, get_rel_name(relid)),
					 errhint("Set a new clustering with ALTER TABLE ... SET (%s = '...').",
							 cap->spec->name)));
			resetStringInfo(&buf);
			break;
		}
		if (i > 0)
			appendStringInfoString(&buf, ", ");
		appendStringInfoString(&buf, quote_identifier(NameStr(att->attname)));
		ReleaseSysCache(tuple);
		if (cap->desc[i])
			appendStringInfoString(&buf, " DESC");
		if (cap->nulls_first[i] >= 0)
			appendStringInfoString(&buf, cap->nulls_first[i] ? " NULLS FIRST" : " NULLS LAST");
	}
	if (buf.len > 0 && strcmp(buf.data, cap->value) == 0)
		return;					/* it names none of the changed columns */

	StoredOptions(relid, &ours, &theirs);
	foreach(lc, ours)
	{
		DefElem    *def = lfirst_node(DefElem, lc);

		if (strcmp(def->defname, cap->spec->name) != 0)
			kept = lappend(kept, def);
		else if (buf.len > 0)
			kept = lappend(kept, makeDefElem(pstrdup(cap->spec->name),
											 (Node *) makeString(pstrdup(buf.data)), -1));
	}
	SetRelOptions(relid, list_concat(theirs, kept));
}
