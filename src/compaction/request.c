/*-------------------------------------------------------------------------
 * request.c
 *	  Build and validate a CompactionRequest: the table, its clustering.
 *
 * Every entry point (VACUUM options, compact.* functions, compact.execute,
 * background workers) goes through these checks, so a bad column, a
 * duplicate, an unsortable type or a table that is not a compact table is
 * reported the same way whatever the syntax, before anything changes.
 *
 * IDENTIFICATION
 *	  src/compaction/request.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/tableam.h"
#include "catalog/pg_class.h"
#include "commands/defrem.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/typcache.h"

#include "catalog/metadata.h"
#include "compaction/compaction.h"
#include "compaction/sortkey.h"

void
CompactionRequestInit(CompactionRequest *request, Oid relid)
{
	memset(request, 0, sizeof(CompactionRequest));
	request->relid = relid;
	request->strategy = COMPACTION_MERGE;
	request->min_tier_fragments = 2;
	request->trigger = "manual";
}

/*
 * Open a compact table for compaction in ShareUpdateExclusiveLock, after
 * checking that it is one and that the user owns it.
 */
Relation
CompactionOpenTable(Oid relid, bool missing_ok)
{
	Relation	rel = try_relation_open(relid, ShareUpdateExclusiveLock);

	if (rel == NULL)
	{
		if (missing_ok)
			return NULL;
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	}
	if (rel->rd_rel->relkind != RELKIND_RELATION ||
		rel->rd_rel->relam != get_table_am_oid("compact", false))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a compact table", RelationGetRelationName(rel)),
				 errhint("Compaction applies to tables created with USING compact, or to partitioned tables whose partitions are.")));
	if (!pg_class_ownercheck(relid, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER, OBJECT_TABLE, RelationGetRelationName(rel));
	return rel;
}

static int64
OptionMegabytes(Oid relid, const char *name, int64 default_mb)
{
	char	   *value = CompactOptionValue(relid, name);

	return (value ? strtol(value, NULL, 10) : default_mb) * 1024 * 1024;
}

/* A table's settings: its options (ALTER TABLE ... SET) or the defaults. */
void
CompactionSettingsGet(Relation rel, CompactionSettings *settings)
{
	Oid			relid = RelationGetRelid(rel);
	char	   *ratio = CompactOptionValue(relid, "compact_deleted_ratio");

	settings->min_file_bytes = OptionMegabytes(relid, "compact_min_file_size_mb", 64);
	settings->target_file_bytes = OptionMegabytes(relid, "compact_target_file_size_mb", 512);
	settings->deleted_ratio = ratio ? strtod(ratio, NULL) : 0.25;
}

static const char *
StrategyName(CompactionStrategy strategy)
{
	switch (strategy)
	{
		case COMPACTION_SORT:
			return "ORDER BY";
		case COMPACTION_ZORDER:
			return "Z_ORDER BY";
		case COMPACTION_HILBERT:
			return "HILBERT BY";
		default:
			return "merge";
	}
}

/*
 * Add one clustering column by name.  desc/nulls_first matter for ORDER BY
 * only; nulls_first < 0 means the default (NULLS FIRST for DESC).
 */
static void
AddKey(CompactionRequest *request, Relation rel, const char *name, bool desc,
	   int nulls_first)
{
	AttrNumber	attnum = get_attnum(RelationGetRelid(rel), name);
	Form_pg_attribute att;
	ClusterKey *key;
	TypeCacheEntry *tce;
	int			max = request->strategy == COMPACTION_SORT ?
		COMPACT_MAX_SORT_COLUMNS : COMPACT_MAX_CURVE_COLUMNS;

	if (attnum == InvalidAttrNumber || attnum < 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist",
						name, RelationGetRelationName(rel)),
				 errhint("List columns of the table, separated by commas.")));
	for (int k = 0; k < request->nkeys; k++)
		if (request->keys[k].attnum == attnum)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_COLUMN),
					 errmsg("column \"%s\" appears more than once in %s",
							name, StrategyName(request->strategy)),
					 errhint("Name each column once.")));
	if (request->nkeys >= max)
		ereport(ERROR,
				(errcode(ERRCODE_TOO_MANY_COLUMNS),
				 errmsg("%s takes at most %d columns", StrategyName(request->strategy), max),
				 errhint("Cluster on fewer columns.")));

	att = TupleDescAttr(RelationGetDescr(rel), attnum - 1);
	tce = lookup_type_cache(att->atttypid, TYPECACHE_LT_OPR | TYPECACHE_GT_OPR);
	if (!OidIsValid(tce->lt_opr) || !OidIsValid(tce->gt_opr))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("column \"%s\" of type %s cannot be sorted", name,
						format_type_be(att->atttypid)),
				 errhint("Clustering needs a type with a default btree operator class.")));
	if (request->strategy != COMPACTION_SORT && !CurveTypeSupported(att->atttypid))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s cannot use column \"%s\" of type %s",
						StrategyName(request->strategy), name,
						format_type_be(att->atttypid)),
				 errhint("Z-order and Hilbert clustering take integer, floating-point, numeric, date/time and text columns; use ORDER_BY for others.")));

	key = &request->keys[request->nkeys++];
	key->attnum = attnum;
	key->typid = att->atttypid;
	key->collation = att->attcollation;
	key->desc = desc;
	key->sortop = desc ? tce->gt_opr : tce->lt_opr;
	key->nulls_first = nulls_first < 0 ? desc : nulls_first > 0;
}

/*
 * Set the clustering from parsed columns: names[i], with desc[i] and
 * nulls_first[i] (-1: default).  Builds the canonical text recorded on the
 * fragments it writes, so that compacting twice with the same clustering
 * rewrites nothing the second time.
 */
void
CompactionRequestSetClustering(CompactionRequest *request, Relation rel,
							   CompactionStrategy strategy, int ncolumns,
							   char **names, const bool *desc,
							   const int *nulls_first)
{
	StringInfoData buf;

	if (request->strategy != COMPACTION_MERGE)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("conflicting clustering: %s and %s",
						StrategyName(request->strategy), StrategyName(strategy)),
				 errhint("Give one of ORDER_BY, Z_ORDER_BY and HILBERT_BY.")));
	request->strategy = strategy;
	request->nkeys = 0;
	if (ncolumns == 0)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("%s needs at least one column", StrategyName(strategy)),
				 errhint("List columns of the table, separated by commas.")));
	for (int i = 0; i < ncolumns; i++)
		AddKey(request, rel, names[i], desc ? desc[i] : false,
			   nulls_first ? nulls_first[i] : -1);
	if (strategy != COMPACTION_SORT &&
		(request->nkeys < COMPACT_MIN_CURVE_COLUMNS ||
		 request->nkeys > COMPACT_MAX_CURVE_COLUMNS))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s needs %d to %d columns, not %d",
						StrategyName(strategy), COMPACT_MIN_CURVE_COLUMNS,
						COMPACT_MAX_CURVE_COLUMNS, request->nkeys),
				 errhint("Use ORDER_BY to cluster on one column.")));

	initStringInfo(&buf);
	appendStringInfo(&buf, "%s (",
					 strategy == COMPACTION_SORT ? "order by" :
					 strategy == COMPACTION_ZORDER ? "z-order" : "hilbert");
	for (int k = 0; k < request->nkeys; k++)
	{
		ClusterKey *key = &request->keys[k];

		if (k > 0)
			appendStringInfoString(&buf, ", ");
		appendStringInfoString(&buf,
							   quote_identifier(get_attname(RelationGetRelid(rel),
															key->attnum, false)));
		if (strategy == COMPACTION_SORT)
		{
			if (key->desc)
				appendStringInfoString(&buf, " DESC");
			if (key->nulls_first != key->desc)
				appendStringInfoString(&buf, key->nulls_first ? " NULLS FIRST" : " NULLS LAST");
		}
	}
	appendStringInfoChar(&buf, ')');
	request->clustering = buf.data;
}
