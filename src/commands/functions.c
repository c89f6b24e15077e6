/*-------------------------------------------------------------------------
 * functions.c
 *	  The function forms: compact.compact_table, compact.vacuum_table,
 *	  compact.optimize_table.
 *
 * They run in the caller's transaction (a function cannot commit), so the
 * whole job commits or rolls back as one; the VACUUM forms commit group by
 * group instead.  Each returns one row of totals.  A partitioned table is
 * compacted partition by partition.
 *
 * IDENTIFICATION
 *	  src/commands/functions.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "access/tableam.h"
#include "commands/vacuum.h"
#include "funcapi.h"
#include "storage/bufmgr.h"
#include "utils/builtins.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "commands/statement.h"
#include "compaction/compaction.h"

PG_FUNCTION_INFO_V1(compact_table);
PG_FUNCTION_INFO_V1(compact_vacuum_table);
PG_FUNCTION_INFO_V1(compact_optimize_table);

static char *
TextArg(FunctionCallInfo fcinfo, int n)
{
	return PG_ARGISNULL(n) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(n));
}

static Datum
ResultDatum(FunctionCallInfo fcinfo, const CompactionResult *r)
{
	TupleDesc	desc;
	Datum		values[7];
	bool		isnull[7] = {false, false, false, false, false, false, false};

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	values[0] = Int64GetDatum(r->fragments_before);
	values[1] = Int64GetDatum(r->fragments_after);
	values[2] = Int64GetDatum(r->rows_rewritten);
	values[3] = Int64GetDatum(r->deleted_rows_removed);
	values[4] = Int64GetDatum(r->bytes_before);
	values[5] = Int64GetDatum(r->bytes_after);
	values[6] = Float8GetDatum(r->duration_ms);
	return HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, isnull));
}

/* VACUUM of one compact table in the current transaction */
static void
VacuumInTransaction(Oid relid, bool verbose)
{
	VacuumParams params;
	Relation	rel = relation_open(relid, ShareUpdateExclusiveLock);

	memset(&params, 0, sizeof(params));
	params.options = VACOPT_VACUUM | (verbose ? VACOPT_VERBOSE : 0);
	params.freeze_min_age = -1;
	params.freeze_table_age = -1;
	params.multixact_freeze_min_age = -1;
	params.multixact_freeze_table_age = -1;
	params.log_min_duration = -1;
	params.index_cleanup = VACOPTVALUE_AUTO;
	params.truncate = VACOPTVALUE_AUTO;
	table_relation_vacuum(rel, &params, GetAccessStrategy(BAS_VACUUM));
	relation_close(rel, NoLock);
}

static void
AnalyzeInTransaction(Oid relid, bool verbose)
{
	VacuumParams params;

	memset(&params, 0, sizeof(params));
	params.options = VACOPT_ANALYZE | (verbose ? VACOPT_VERBOSE : 0);
	params.log_min_duration = -1;
	analyze_rel(relid, NULL, &params, NIL, true, GetAccessStrategy(BAS_VACUUM));
}

/*
 * Run one request per target table (partitions of a partitioned table) and
 * add up the results; then VACUUM and ANALYZE each if asked.
 */
static void
RunOnTargets(Oid relid, const char *order_by, const char *z_order_by,
			 const char *hilbert_by, const char *filter, bool dry_run,
			 bool verbose, bool deleted_only, bool vacuum, bool analyze,
			 CompactionResult *total)
{
	List	   *targets = StatementTargetTables(relid, filter);
	ListCell   *lc;

	memset(total, 0, sizeof(CompactionResult));
	foreach(lc, targets)
	{
		CompactionRequest request;
		CompactionResult result;

		StatementBuildRequest(&request, lfirst_oid(lc), order_by, z_order_by,
							  hilbert_by, filter);
		request.dry_run = dry_run;
		request.verbose = verbose;
		request.deleted_only = deleted_only;
		CompactionRun(&request, &result);
		StatementAddResult(total, &result);
		if (dry_run)
			continue;
		if (vacuum)
		{
			CommandCounterIncrement();
			VacuumInTransaction(lfirst_oid(lc), verbose);
		}
		if (analyze)
		{
			CommandCounterIncrement();
			AnalyzeInTransaction(lfirst_oid(lc), verbose);
		}
	}
}

/*
 * compact.compact_table(relation, order_by, z_order_by, hilbert_by, filter,
 *						 dry_run, verbose)
 */
Datum
compact_table(PG_FUNCTION_ARGS)
{
	CompactionResult total;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	RunOnTargets(PG_GETARG_OID(0), TextArg(fcinfo, 1), TextArg(fcinfo, 2),
				 TextArg(fcinfo, 3), TextArg(fcinfo, 4),
				 !PG_ARGISNULL(5) && PG_GETARG_BOOL(5),
				 !PG_ARGISNULL(6) && PG_GETARG_BOOL(6),
				 false, false, false, &total);
	return ResultDatum(fcinfo, &total);
}

/*
 * compact.vacuum_table(relation, verbose): rewrite fragments over the
 * deleted ratio, then VACUUM.
 */
Datum
compact_vacuum_table(PG_FUNCTION_ARGS)
{
	CompactionResult total;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	RunOnTargets(PG_GETARG_OID(0), NULL, NULL, NULL, NULL, false,
				 !PG_ARGISNULL(1) && PG_GETARG_BOOL(1),
				 true, true, false, &total);
	return ResultDatum(fcinfo, &total);
}

/*
 * compact.optimize_table(relation, recompute_statistics, verbose): compact,
 * VACUUM, and with recompute_statistics also ANALYZE.
 */
Datum
compact_optimize_table(PG_FUNCTION_ARGS)
{
	CompactionResult total;
	bool		recompute = !PG_ARGISNULL(1) && PG_GETARG_BOOL(1);

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	RunOnTargets(PG_GETARG_OID(0), NULL, NULL, NULL, NULL, false,
				 !PG_ARGISNULL(2) && PG_GETARG_BOOL(2),
				 false, true, recompute, &total);
	return ResultDatum(fcinfo, &total);
}
