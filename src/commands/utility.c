/*-------------------------------------------------------------------------
 * utility.c
 *	  ProcessUtility hook: keep pg_compact/<database oid> in step with
 *	  CREATE DATABASE and DROP DATABASE.
 *
 * CREATE DATABASE copies only relation forks, yet the new database's
 * catalogs (and so its relfilenodes and manifest rows) are copies of the
 * template's: the template's fragment directories are copied after the
 * database is created.  The template has no other sessions during the copy,
 * so its files cannot change.  DROP DATABASE removes the directory once the
 * database is gone.  Both statements run outside transaction blocks.
 *
 * VACUUM with our options (COMPACT, OPTIMIZE, ORDER_BY, Z_ORDER_BY,
 * HILBERT_BY, FILTER, DRY_RUN, RECOMPUTE_STATISTICS) is ours: PostgreSQL
 * would reject the option names.  It compacts each named table (each leaf
 * partition of a partitioned one), one transaction per group, and for
 * OPTIMIZE then hands the same tables to PostgreSQL's VACUUM (with ANALYZE
 * for RECOMPUTE_STATISTICS).
 *
 * IDENTIFICATION
 *	  src/commands/utility.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/relation.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/toasting.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "nodes/makefuncs.h"
#include "nodes/parsenodes.h"
#include "parser/parse_node.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "catalog/metadata.h"
#include "commands/parallel_copy.h"
#include "commands/reloptions.h"
#include "commands/statement.h"
#include "compact.h"
#include "compaction/compaction.h"
#include "format/files.h"
#include "format/filewal.h"
#include "tableam/tableam.h"
#include "worker/jobqueue.h"

static ProcessUtility_hook_type prev_ProcessUtility = NULL;

static void
CallPrevious(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
			 ProcessUtilityContext context, ParamListInfo params,
			 QueryEnvironment *queryEnv, DestReceiver *dest,
			 QueryCompletion *qc)
{
	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
							queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
}

/* The template named in CREATE DATABASE's options, or template1. */
static const char *
CreatedbTemplate(CreatedbStmt *stmt)
{
	ListCell   *lc;

	foreach(lc, stmt->options)
	{
		DefElem    *def = lfirst(lc);

		if (strcmp(def->defname, "template") == 0 && def->arg != NULL)
			return defGetString(def);
	}
	return "template1";
}

/* our VACUUM options, parsed */
typedef struct VacuumCompactOptions
{
	bool		compact;
	bool		optimize;
	bool		dry_run;
	bool		verbose;
	bool		recompute_statistics;
	char	   *order_by;
	char	   *z_order_by;
	char	   *hilbert_by;
	char	   *filter;
	List	   *pg_options;		/* the rest, for PostgreSQL's VACUUM */
} VacuumCompactOptions;

static bool
IsOurOption(const char *name)
{
	static const char *const ours[] = {
		"compact", "optimize", "order_by", "z_order_by", "hilbert_by",
		"filter", "dry_run", "recompute_statistics"
	};

	for (int i = 0; i < lengthof(ours); i++)
		if (strcmp(name, ours[i]) == 0)
			return true;
	return false;
}

bool
StatementIsCompactVacuum(Node *parsetree)
{
	ListCell   *lc;

	if (!IsA(parsetree, VacuumStmt))
		return false;
	foreach(lc, ((VacuumStmt *) parsetree)->options)
		if (IsOurOption(lfirst_node(DefElem, lc)->defname))
			return true;
	return false;
}

static void
ParseVacuumOptions(VacuumStmt *stmt, VacuumCompactOptions *opts)
{
	ListCell   *lc;

	memset(opts, 0, sizeof(VacuumCompactOptions));
	foreach(lc, stmt->options)
	{
		DefElem    *def = lfirst_node(DefElem, lc);

		/* each of ours once, as CREATE and ALTER options are checked */
		if (IsOurOption(def->defname))
			for (ListCell *prev = list_head(stmt->options); prev != lc;
				 prev = lnext(stmt->options, prev))
				if (strcmp(lfirst_node(DefElem, prev)->defname, def->defname) == 0)
					ereport(ERROR,
							(errcode(ERRCODE_SYNTAX_ERROR),
							 errmsg("conflicting or redundant options"),
							 errdetail("VACUUM option \"%s\" is given more than once.",
									   def->defname),
							 errhint("Give each compaction option once; ORDER_BY takes a list of columns.")));

		if (strcmp(def->defname, "compact") == 0)
			opts->compact = defGetBoolean(def);
		else if (strcmp(def->defname, "optimize") == 0)
			opts->optimize = defGetBoolean(def);
		else if (strcmp(def->defname, "dry_run") == 0)
			opts->dry_run = defGetBoolean(def);
		else if (strcmp(def->defname, "recompute_statistics") == 0)
			opts->recompute_statistics = defGetBoolean(def);
		else if (strcmp(def->defname, "order_by") == 0)
			opts->order_by = defGetString(def);
		else if (strcmp(def->defname, "z_order_by") == 0)
			opts->z_order_by = defGetString(def);
		else if (strcmp(def->defname, "hilbert_by") == 0)
			opts->hilbert_by = defGetString(def);
		else if (strcmp(def->defname, "filter") == 0)
			opts->filter = defGetString(def);
		else if (strcmp(def->defname, "verbose") == 0)
		{
			opts->verbose = defGetBoolean(def);
			opts->pg_options = lappend(opts->pg_options, def);
		}
		else if (strcmp(def->defname, "full") != 0 &&
				 (strcmp(def->defname, "analyze") == 0 ||
				  strcmp(def->defname, "freeze") == 0 ||
				  strcmp(def->defname, "skip_locked") == 0 ||
				  strcmp(def->defname, "index_cleanup") == 0 ||
				  strcmp(def->defname, "process_toast") == 0 ||
				  strcmp(def->defname, "truncate") == 0 ||
				  strcmp(def->defname, "parallel") == 0 ||
				  strcmp(def->defname, "disable_page_skipping") == 0))
			opts->pg_options = lappend(opts->pg_options, def);
		else
			ereport(ERROR,
					(errcode(ERRCODE_SYNTAX_ERROR),
					 errmsg("unrecognized VACUUM option \"%s\" with COMPACT or OPTIMIZE",
							def->defname),
					 errhint("COMPACT takes ORDER_BY, Z_ORDER_BY, HILBERT_BY, FILTER, DRY_RUN and VERBOSE; OPTIMIZE also RECOMPUTE_STATISTICS and VACUUM's own options except FULL.")));
	}
	if (opts->compact && opts->optimize)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("VACUUM options COMPACT and OPTIMIZE cannot be combined"),
				 errhint("OPTIMIZE compacts and then vacuums; give it alone.")));
	if (opts->compact && opts->pg_options != NIL &&
		(list_length(opts->pg_options) > 1 || !opts->verbose))
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("VACUUM (COMPACT) takes no other VACUUM options than VERBOSE"),
				 errhint("Use VACUUM (OPTIMIZE, ...) to compact and then vacuum with options.")));
	if (!stmt->is_vacuumcmd)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("ANALYZE does not take compaction options"),
				 errhint("Use VACUUM (COMPACT, ...) or VACUUM (OPTIMIZE, ...).")));
	if (!opts->compact && !opts->optimize)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("VACUUM options ORDER_BY, Z_ORDER_BY, HILBERT_BY, FILTER, DRY_RUN and RECOMPUTE_STATISTICS need COMPACT or OPTIMIZE"),
				 errhint("Write VACUUM (COMPACT, ...) or VACUUM (OPTIMIZE, ...).")));
	if (opts->recompute_statistics && !opts->optimize)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("RECOMPUTE_STATISTICS needs OPTIMIZE"),
				 errhint("Write VACUUM (OPTIMIZE, RECOMPUTE_STATISTICS) t.")));
}

/* every compact table of the database the user owns */
static List *
AllCompactTables(void)
{
	Relation	pg_class = table_open(RelationRelationId, AccessShareLock);
	Oid			am = get_table_am_oid("compact", false);
	TableScanDesc scan = table_beginscan_catalog(pg_class, 0, NULL);
	HeapTuple	tuple;
	List	   *result = NIL;

	while ((tuple = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_class form = (Form_pg_class) GETSTRUCT(tuple);

		if (form->relkind == RELKIND_RELATION && form->relam == am &&
			pg_class_ownercheck(form->oid, GetUserId()))
			result = lappend_oid(result, form->oid);
	}
	table_endscan(scan);
	table_close(pg_class, AccessShareLock);
	return result;
}

static void
ReportResult(Oid relid, const CompactionResult *r, bool dry_run)
{
	if (dry_run)
		return;					/* the plan said it all */
	ereport(INFO,
			(errmsg("\"%s\": " INT64_FORMAT " fragments into " INT64_FORMAT ", " INT64_FORMAT " rows rewritten, " INT64_FORMAT " deleted rows removed, " INT64_FORMAT " bytes before, " INT64_FORMAT " after",
					get_rel_name(relid), r->fragments_before, r->fragments_after,
					r->rows_rewritten, r->deleted_rows_removed,
					r->bytes_before, r->bytes_after)));
}

/*
 * VACUUM (COMPACT | OPTIMIZE, ...): compact each table, in transactions of
 * our own, then hand OPTIMIZE's tables to PostgreSQL's VACUUM.
 */
static void
VacuumCompact(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
			  ProcessUtilityContext context, ParamListInfo params,
			  QueryEnvironment *queryEnv, DestReceiver *dest,
			  QueryCompletion *qc)
{
	VacuumStmt *stmt = (VacuumStmt *) pstmt->utilityStmt;
	VacuumCompactOptions opts;
	List	   *relids = NIL;
	ListCell   *lc;

	ParseVacuumOptions(stmt, &opts);
	PreventInTransactionBlock(context == PROCESS_UTILITY_TOPLEVEL, "VACUUM");
	/* as vacuum() does: each table gets snapshots of its own */
	if (ActiveSnapshotSet())
		PopActiveSnapshot();

	if (stmt->rels == NIL)
		relids = AllCompactTables();
	foreach(lc, stmt->rels)
	{
		VacuumRelation *vrel = lfirst_node(VacuumRelation, lc);

		if (vrel->va_cols != NIL)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("VACUUM (COMPACT) does not take a column list"),
					 errhint("Name the columns in ORDER_BY, Z_ORDER_BY or HILBERT_BY.")));
		relids = lappend_oid(relids,
							 RangeVarGetRelid(vrel->relation, AccessShareLock, false));
	}

	/* check every table and option before changing anything */
	foreach(lc, relids)
	{
		List	   *targets = StatementTargetTables(lfirst_oid(lc), opts.filter);
		ListCell   *tc;

		foreach(tc, targets)
		{
			CompactionRequest request;

			StatementBuildRequest(&request, lfirst_oid(tc), opts.order_by,
								  opts.z_order_by, opts.hilbert_by, opts.filter);
		}
	}

	foreach(lc, relids)
	{
		List	   *targets = StatementTargetTables(lfirst_oid(lc), opts.filter);
		ListCell   *tc;
		CompactionResult total;

		memset(&total, 0, sizeof(total));
		foreach(tc, targets)
		{
			CompactionRequest request;
			CompactionResult result;

			PushActiveSnapshot(GetTransactionSnapshot());
			StatementBuildRequest(&request, lfirst_oid(tc), opts.order_by,
								  opts.z_order_by, opts.hilbert_by, opts.filter);
			request.dry_run = opts.dry_run;
			request.verbose = opts.verbose;
			request.own_transactions = true;
			JobRunManual(&request, &result);
			PopActiveSnapshot();
			StatementAddResult(&total, &result);
		}
		if (opts.verbose)
			ReportResult(lfirst_oid(lc), &total, opts.dry_run);
	}

	if (opts.optimize && !opts.dry_run)
	{
		PlannedStmt *vacuum = copyObject(pstmt);
		VacuumStmt *vstmt = (VacuumStmt *) vacuum->utilityStmt;

		vstmt->options = opts.pg_options;
		if (opts.recompute_statistics)
			vstmt->options = lappend(vstmt->options,
									 makeDefElem("analyze", NULL, -1));
		/* the tables as resolved above */
		vstmt->rels = NIL;
		foreach(lc, relids)
			vstmt->rels = lappend(vstmt->rels,
								  makeVacuumRelation(NULL, lfirst_oid(lc), NIL));
		CallPrevious(vacuum, queryString, false, context, params, queryEnv,
					 dest, qc);
	}
}

/*
 * Plain VACUUM of compact tables first rewrites their fragments over the
 * deleted ratio (SPEC §4), in transactions of its own, then lets
 * PostgreSQL's VACUUM fold deletion vectors and remove dead files.
 * Autovacuum does not come here: it only folds and removes.
 */
static void
VacuumRewriteDeleted(VacuumStmt *stmt, bool isTopLevel)
{
	Oid			am = get_table_am_oid("compact", true);
	List	   *relids = NIL;
	ListCell   *lc;
	bool		verbose = false;

	if (!stmt->is_vacuumcmd || !OidIsValid(am))
		return;
	foreach(lc, stmt->options)
	{
		DefElem    *def = lfirst_node(DefElem, lc);

		if (strcmp(def->defname, "full") == 0 && defGetBoolean(def))
			return;
		if (strcmp(def->defname, "verbose") == 0)
			verbose = defGetBoolean(def);
	}
	if (stmt->rels == NIL)
		relids = AllCompactTables();
	foreach(lc, stmt->rels)
	{
		VacuumRelation *vrel = lfirst_node(VacuumRelation, lc);
		Oid			relid = RangeVarGetRelid(vrel->relation, NoLock, true);
		List	   *children;
		ListCell   *cc;

		if (!OidIsValid(relid))
			continue;
		children = get_rel_relkind(relid) == RELKIND_PARTITIONED_TABLE ?
			find_all_inheritors(relid, NoLock, NULL) : list_make1_oid(relid);
		foreach(cc, children)
		{
			Oid			child = lfirst_oid(cc);
			HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(child));
			Form_pg_class form;

			if (!HeapTupleIsValid(tuple))
				continue;
			form = (Form_pg_class) GETSTRUCT(tuple);
			if (form->relkind == RELKIND_RELATION && form->relam == am &&
				pg_class_ownercheck(child, GetUserId()))
				relids = lappend_oid(relids, child);
			ReleaseSysCache(tuple);
		}
	}
	if (relids == NIL)
		return;

	PreventInTransactionBlock(isTopLevel, "VACUUM");
	if (ActiveSnapshotSet())
		PopActiveSnapshot();
	foreach(lc, relids)
	{
		CompactionRequest request;
		CompactionResult result;
		Relation	rel;

		PushActiveSnapshot(GetTransactionSnapshot());
		rel = CompactionOpenTable(lfirst_oid(lc), true);
		if (rel == NULL)
		{
			PopActiveSnapshot();
			continue;
		}
		relation_close(rel, NoLock);
		CompactionRequestInit(&request, lfirst_oid(lc));
		request.deleted_only = true;
		request.verbose = verbose;
		request.own_transactions = true;
		JobRunManual(&request, &result);
		PopActiveSnapshot();
	}
}

/* is relid a compact table? */
static bool
IsCompactTable(Oid relid)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			am = get_table_am_oid("compact", true);
	bool		result;

	if (!HeapTupleIsValid(tuple))
		return false;
	result = OidIsValid(am) &&
		((Form_pg_class) GETSTRUCT(tuple))->relkind == RELKIND_RELATION &&
		((Form_pg_class) GETSTRUCT(tuple))->relam == am;
	ReleaseSysCache(tuple);
	return result;
}

/*
 * CREATE TABLE ... USING compact WITH (our options, ...), and LIKE a
 * compact table INCLUDING ALL (or STORAGE), which copies its options.
 */
static bool
CreateWithOptions(PlannedStmt *pstmt, const char *queryString,
				  bool readOnlyTree, ProcessUtilityContext context,
				  ParamListInfo params, QueryEnvironment *queryEnv,
				  DestReceiver *dest, QueryCompletion *qc)
{
	CreateStmt *stmt = (CreateStmt *) pstmt->utilityStmt;
	const char *am = stmt->accessMethod ? stmt->accessMethod : default_table_access_method;
	List	   *ours = NIL;
	List	   *liked = NIL;
	PlannedStmt *copy;
	ListCell   *lc;
	Oid			relid;
	Relation	rel;

	if (strcmp(am, "compact") != 0 || stmt->partspec != NULL)
		return false;
	foreach(lc, stmt->tableElts)
	{
		TableLikeClause *like = (TableLikeClause *) lfirst(lc);
		Oid			source;
		ListCell   *oc;

		if (!IsA(like, TableLikeClause) || !(like->options & CREATE_TABLE_LIKE_STORAGE))
			continue;
		source = RangeVarGetRelid(like->relation, AccessShareLock, true);
		if (!OidIsValid(source) || !IsCompactTable(source))
			continue;
		foreach(oc, CompactStoredOptions(source))
			if (CompactIsOptionName(lfirst_node(DefElem, oc)->defname))
				liked = lappend(liked, lfirst(oc));
	}
	copy = copyObject(pstmt);
	stmt = (CreateStmt *) copy->utilityStmt;
	stmt->options = CompactSplitOptions(stmt->options, NULL, false, &ours);
	if (ours == NIL && liked == NIL)
		return false;

	CallPrevious(copy, queryString, false, context, params, queryEnv, dest, qc);
	CommandCounterIncrement();
	relid = RangeVarGetRelid(stmt->relation, NoLock, false);
	rel = relation_open(relid, NoLock);
	CompactValidateStoredOptions(rel, ours);
	relation_close(rel, NoLock);
	/* explicit options win over LIKE's */
	CompactRestoreOptions(relid, liked, ours, false);
	return true;
}

/*
 * ALTER TABLE ... SET/RESET (...) on a compact table: ours are stored by us,
 * PostgreSQL's by PostgreSQL, with ours out of its way meanwhile.  SET
 * ACCESS METHOD away from compact drops ours.
 */
static bool
AlterWithOptions(PlannedStmt *pstmt, const char *queryString,
				 bool readOnlyTree, ProcessUtilityContext context,
				 ParamListInfo params, QueryEnvironment *queryEnv,
				 DestReceiver *dest, QueryCompletion *qc)
{
	AlterTableStmt *stmt = (AlterTableStmt *) pstmt->utilityStmt;
	Oid			relid;
	PlannedStmt *copy;
	List	   *cmds = NIL;
	List	   *changes = NIL;
	List	   *stashed;
	bool		reset = false;
	bool		touches = false;
	ListCell   *lc;

	if (stmt->objtype != OBJECT_TABLE)
		return false;
	relid = RangeVarGetRelid(stmt->relation, NoLock, true);
	if (!OidIsValid(relid) || !IsCompactTable(relid))
		return false;
	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);

		if (cmd->subtype == AT_SetRelOptions || cmd->subtype == AT_ResetRelOptions ||
			cmd->subtype == AT_SetAccessMethod)
			touches = true;
	}
	if (!touches)
		return false;

	/* our options need the owner, as PostgreSQL's do */
	LockRelationOid(relid, ShareUpdateExclusiveLock);
	if (!pg_class_ownercheck(relid, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER, OBJECT_TABLE, stmt->relation->relname);

	copy = copyObject(pstmt);
	stmt = (AlterTableStmt *) copy->utilityStmt;
	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);

		if (cmd->subtype == AT_SetRelOptions || cmd->subtype == AT_ResetRelOptions)
		{
			List	   *ours;
			Relation	rel = relation_open(relid, NoLock);

			reset = cmd->subtype == AT_ResetRelOptions;
			cmd->def = (Node *) CompactSplitOptions((List *) cmd->def, rel, reset, &ours);
			relation_close(rel, NoLock);
			changes = list_concat(changes, ours);
			if (cmd->def == NULL)
				continue;		/* nothing left for PostgreSQL */
		}
		cmds = lappend(cmds, cmd);
	}
	stmt->cmds = cmds;

	stashed = CompactStashOptions(relid);
	if (cmds != NIL)
		CallPrevious(copy, queryString, false, context, params, queryEnv, dest, qc);
	CommandCounterIncrement();
	if (IsCompactTable(relid))
		CompactRestoreOptions(relid, stashed, changes, reset);
	else if (get_rel_relkind(relid) == RELKIND_RELATION)
	{
		/*
		 * SET ACCESS METHOD away from compact: compact tables have no TOAST
		 * table and PostgreSQL decides whether one is needed with the old
		 * access method; give the new table the one it needs now, while the
		 * statement's AccessExclusiveLock is held.
		 */
		AlterTableCreateToastTable(relid, (Datum) 0, AccessExclusiveLock);
	}
	return true;
}

/*
 * The compact tables whose columns a RENAME COLUMN or an ALTER TABLE ...
 * DROP COLUMN renames or drops: the table and, as both recurse, its
 * inheritance children and partitions.
 */
static List *
ColumnDdlTargets(Node *parsetree)
{
	List	   *result = NIL;
	ListCell   *lc;
	Oid			relid = InvalidOid;

	if (IsA(parsetree, RenameStmt) &&
		((RenameStmt *) parsetree)->renameType == OBJECT_COLUMN &&
		((RenameStmt *) parsetree)->relation != NULL)
		relid = RangeVarGetRelid(((RenameStmt *) parsetree)->relation, NoLock, true);
	else if (IsA(parsetree, AlterTableStmt) &&
			 ((AlterTableStmt *) parsetree)->objtype == OBJECT_TABLE)
	{
		foreach(lc, ((AlterTableStmt *) parsetree)->cmds)
			if (lfirst_node(AlterTableCmd, lc)->subtype == AT_DropColumn)
				relid = RangeVarGetRelid(((AlterTableStmt *) parsetree)->relation,
										 NoLock, true);
	}
	if (!OidIsValid(relid))
		return NIL;
	foreach(lc, find_all_inheritors(relid, NoLock, NULL))
		if (IsCompactTable(lfirst_oid(lc)))
			result = lappend_oid(result, lfirst_oid(lc));
	return result;
}

static void ProcessUtilityInner(PlannedStmt *pstmt, const char *queryString,
								bool readOnlyTree, ProcessUtilityContext context,
								ParamListInfo params, QueryEnvironment *queryEnv,
								DestReceiver *dest, QueryCompletion *qc);

static void
compact_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
					   bool readOnlyTree, ProcessUtilityContext context,
					   ParamListInfo params, QueryEnvironment *queryEnv,
					   DestReceiver *dest, QueryCompletion *qc)
{
	List	   *tables = ColumnDdlTargets(pstmt->utilityStmt);
	List	   *captured = NIL;
	ListCell   *lc;
	ListCell   *cc;

	foreach(lc, tables)
		captured = lappend(captured, CompactClusteringCapture(lfirst_oid(lc)));
	ProcessUtilityInner(pstmt, queryString, readOnlyTree, context, params,
						queryEnv, dest, qc);
	if (tables != NIL)
		CommandCounterIncrement();
	forboth(lc, tables, cc, captured)
		CompactClusteringFollow(lfirst_oid(lc), lfirst(cc));
}

static void
ProcessUtilityInner(PlannedStmt *pstmt, const char *queryString,
					bool readOnlyTree, ProcessUtilityContext context,
					ParamListInfo params, QueryEnvironment *queryEnv,
					DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;

	if (StatementIsCompactVacuum(parsetree))
	{
		VacuumCompact(pstmt, queryString, readOnlyTree, context, params,
					  queryEnv, dest, qc);
		return;
	}

	if (IsA(parsetree, CreateStmt) &&
		CreateWithOptions(pstmt, queryString, readOnlyTree, context, params,
						  queryEnv, dest, qc))
		return;

	if (IsA(parsetree, AlterTableStmt) &&
		AlterWithOptions(pstmt, queryString, readOnlyTree, context, params,
						 queryEnv, dest, qc))
		return;

	if (IsA(parsetree, CopyStmt))
	{
		ParseState *pstate = make_parsestate(NULL);
		uint64		processed;

		pstate->p_sourcetext = queryString;
		pstate->p_queryEnv = queryEnv;
		if (CompactCopyFrom(pstate, (CopyStmt *) parsetree, &processed))
		{
			if (qc)
				SetQueryCompletion(qc, CMDTAG_COPY, processed);
			free_parsestate(pstate);
			return;
		}
		free_parsestate(pstate);
	}

	if (IsA(parsetree, VacuumStmt))
		VacuumRewriteDeleted((VacuumStmt *) parsetree,
							 context == PROCESS_UTILITY_TOPLEVEL);

	if (IsA(parsetree, DropdbStmt))
	{
		DropdbStmt *stmt = (DropdbStmt *) parsetree;
		Oid			dboid = get_database_oid(stmt->dbname, true);

		CallPrevious(pstmt, queryString, readOnlyTree, context, params,
					 queryEnv, dest, qc);
		if (OidIsValid(dboid) && !OidIsValid(get_database_oid(stmt->dbname, true)))
		{
			CompactRemoveDir(CompactDatabaseDir(dboid));
			CompactWalLogRmdir(dboid, InvalidOid);
		}
		return;
	}

	if (IsA(parsetree, CreatedbStmt))
	{
		CreatedbStmt *stmt = (CreatedbStmt *) parsetree;
		Oid			template = get_database_oid(CreatedbTemplate(stmt), true);
		Oid			dboid;

		CallPrevious(pstmt, queryString, readOnlyTree, context, params,
					 queryEnv, dest, qc);
		dboid = get_database_oid(stmt->dbname, true);
		if (OidIsValid(template) && OidIsValid(dboid))
		{
			CompactCopyDir(CompactDatabaseDir(template), CompactDatabaseDir(dboid));
			CompactWalLogCopydir(template, dboid);
		}
		return;
	}

	CallPrevious(pstmt, queryString, readOnlyTree, context, params,
				 queryEnv, dest, qc);

	/* a database-wide VACUUM also removes directories no relation uses */
	if (IsA(parsetree, VacuumStmt) && ((VacuumStmt *) parsetree)->is_vacuumcmd &&
		((VacuumStmt *) parsetree)->rels == NIL &&
		OidIsValid(get_table_am_oid("compact", true)))
		(void) DdlSweepOrphanDirs();
}

void
CompactUtilityInit(void)
{
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = compact_ProcessUtility;
}
