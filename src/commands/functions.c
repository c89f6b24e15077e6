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
#include "catalog/namespace.h"
#include "commands/vacuum.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/syscache.h"
#include "storage/bufmgr.h"
#include "utils/builtins.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "commands/statement.h"
#include "compaction/compaction.h"
#include "worker/jobqueue.h"

PG_FUNCTION_INFO_V1(compact_table);
PG_FUNCTION_INFO_V1(compact_vacuum_table);
PG_FUNCTION_INFO_V1(compact_optimize_table);
PG_FUNCTION_INFO_V1(compact_execute);
PG_FUNCTION_INFO_V1(compact_cancel_job);
PG_FUNCTION_INFO_V1(compact_run_job);

static char *
TextArg(FunctionCallInfo fcinfo, int n)
{
	return PG_ARGISNULL(n) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(n));
}

/* the result row; command, if not NULL, goes first (compact.execute) */
static Datum
ResultDatum(FunctionCallInfo fcinfo, const CompactionResult *r,
			const char *command)
{
	TupleDesc	desc;
	Datum		values[8];
	bool		isnull[8] = {false, false, false, false, false, false, false, false};
	int			i = 0;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (command)
		values[i++] = CStringGetTextDatum(command);
	values[i++] = Int64GetDatum(r->fragments_before);
	values[i++] = Int64GetDatum(r->fragments_after);
	values[i++] = Int64GetDatum(r->rows_rewritten);
	values[i++] = Int64GetDatum(r->deleted_rows_removed);
	values[i++] = Int64GetDatum(r->bytes_before);
	values[i++] = Int64GetDatum(r->bytes_after);
	values[i++] = Float8GetDatum(r->duration_ms);
	/* ALTER TABLE through compact.execute compacts nothing */
	if (command && strcmp(command, "ALTER TABLE") == 0)
		for (int j = 1; j < i; j++)
			isnull[j] = true;
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
		JobRunManual(&request, &result);
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
	return ResultDatum(fcinfo, &total, NULL);
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
	return ResultDatum(fcinfo, &total, NULL);
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
	return ResultDatum(fcinfo, &total, NULL);
}

/*
 * compact.execute(statement): the original statements, verbatim.
 */
Datum
compact_execute(PG_FUNCTION_ARGS)
{
	ParsedStatement parsed;
	CompactionResult total;
	Oid			relid;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	StatementParse(text_to_cstring(PG_GETARG_TEXT_PP(0)), &parsed);
	memset(&total, 0, sizeof(total));
	relid = RangeVarGetRelid(parsed.relation, NoLock, false);

	if (strcmp(parsed.command, "COMPACT") == 0)
		RunOnTargets(relid, parsed.order_by, parsed.z_order_by,
					 parsed.hilbert_by, parsed.filter, false, false,
					 false, false, false, &total);
	else if (strcmp(parsed.command, "VACUUM") == 0)
		RunOnTargets(relid, NULL, NULL, NULL, NULL, false, false,
					 true, true, false, &total);
	else if (strcmp(parsed.command, "OPTIMIZE") == 0)
		RunOnTargets(relid, NULL, NULL, NULL, NULL, false, false,
					 false, true, parsed.recompute_statistics, &total);
	else
	{
		/* ALTER TABLE ... SET/RESET: through the utility hook, as typed */
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (SPI_execute(parsed.alter, false, 0) != SPI_OK_UTILITY)
			elog(ERROR, "could not run \"%s\"", parsed.alter);
		SPI_finish();
	}
	return ResultDatum(fcinfo, &total, parsed.command);
}

static void JobNotFound(int64 job_id) pg_attribute_noreturn();

static void
JobNotFound(int64 job_id)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("compaction job " INT64_FORMAT " does not exist", job_id),
			 errhint("See compact.compaction_jobs for the jobs of this database.")));
}

static void
CheckJobOwner(Oid relid, int64 job_id, const char *action)
{
	if (!pg_class_ownercheck(relid, GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to %s compaction job " INT64_FORMAT, action, job_id),
				 errhint("Only the owner of the job's table, or a superuser, may %s it.", action)));
}

/*
 * compact.cancel_job(job_id): cancel a queued or running job of this
 * database.  True if the job was cancelled (a running one stops at its next
 * interrupt check and keeps the groups it committed).
 */
Datum
compact_cancel_job(PG_FUNCTION_ARGS)
{
	int64		job_id = PG_GETARG_INT64(0);
	int			slot = CompactJobs ? JobFind(MyDatabaseId, job_id) : -1;
	CompactJob	job;
	JobStatus	status;

	if (slot < 0)
	{
		if (OidIsValid(HistoryRelid(job_id)))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("compaction job " INT64_FORMAT " has finished", job_id),
					 errhint("Only queued and running jobs can be cancelled.")));
		JobNotFound(job_id);
	}
	LWLockAcquire(CompactJobs->lock, LW_SHARED);
	job = CompactJobs->jobs[slot];
	LWLockRelease(CompactJobs->lock);
	CheckJobOwner(job.relid, job_id, "cancel");

	status = JobCancel(slot, job_id);
	if (status == JOB_QUEUED || status == JOB_STARTING)
		HistoryWrite(slot);
	else if (status != JOB_RUNNING)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("compaction job " INT64_FORMAT " has finished", job_id),
				 errhint("Only queued and running jobs can be cancelled.")));
	PG_RETURN_BOOL(true);
}

/*
 * compact.run_job(job_id): run a queued job now, in this session (and
 * transaction); a finished one is run again as a new manual job.  Returns
 * the same row as compact.compact_table.
 */
Datum
compact_run_job(PG_FUNCTION_ARGS)
{
	int64		job_id = PG_GETARG_INT64(0);
	int			slot = CompactJobs ? JobFind(MyDatabaseId, job_id) : -1;
	Oid			relid;
	CompactionRequest request;
	CompactionResult result;
	Relation	rel;
	JobStatus	status = JOB_FREE;

	if (slot >= 0)
	{
		LWLockAcquire(CompactJobs->lock, LW_SHARED);
		relid = CompactJobs->jobs[slot].relid;
		status = CompactJobs->jobs[slot].status;
		LWLockRelease(CompactJobs->lock);
	}
	else
		relid = HistoryRelid(job_id);
	if (!OidIsValid(relid))
		JobNotFound(job_id);
	if (status == JOB_STARTING || status == JOB_RUNNING)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("compaction job " INT64_FORMAT " is running already", job_id),
				 errhint("Wait for it, or cancel it with compact.cancel_job().")));
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("the table of compaction job " INT64_FORMAT " does not exist any more", job_id),
				 errhint("The table was dropped after the job ran.")));
	CheckJobOwner(relid, job_id, "run");

	if (status == JOB_QUEUED && JobClaim(slot, job_id, JOB_QUEUED, NULL))
	{
		/* the queued job itself, as a worker would run it */
		rel = CompactionOpenTable(relid, false);
		TriggerRequest(&request, rel);
		relation_close(rel, NoLock);
		request.own_transactions = false;
		JobRunInSlot(slot, &request, &result);
	}
	else
	{
		/* a finished job: compact its table now, as compact_table() does */
		StatementBuildRequest(&request, relid, NULL, NULL, NULL, NULL);
		JobRunManual(&request, &result);
	}
	return ResultDatum(fcinfo, &result, NULL);
}
