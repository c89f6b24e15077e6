/*-------------------------------------------------------------------------
 * worker.c
 *	  A dynamic background worker: runs one compaction job, or scans one
 *	  database.
 *
 * A job worker connects to the job's database as the bootstrap superuser,
 * claims the job (STARTING -> RUNNING), and checks again that it is still
 * wanted: the table exists, is a compact table with auto_compact on, and
 * has debt.  If not, the job vanishes without a trace (a dropped or
 * truncated table's queued job, or one a manual compaction made moot).
 * Otherwise it commits a "running" history row, switches to the table's
 * owner in a security-restricted operation with search_path
 * "pg_catalog, pg_temp" (as VACUUM does for index functions), turns on
 * cost-based delay, and runs the same executor as VACUUM (COMPACT): a
 * transaction per group, so an error, a cancel or a kill keeps the groups
 * already committed and loses nothing else.  Then it records the outcome,
 * and queues the table's next job if debt remains (after back-off when the
 * job failed).
 *
 * A scan worker re-derives the debt of every compact table of its database
 * and queues jobs for it, fails the history rows of jobs whose process died,
 * writes pending history rows, and trims the history.
 *
 * IDENTIFICATION
 *	  src/worker/worker.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_class.h"
#include "commands/defrem.h"
#include "commands/extension.h"
#include "commands/vacuum.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "catalog/metadata.h"
#include "compaction/compaction.h"
#include "worker/jobqueue.h"
#include "worker/worker.h"

static bool
ExtensionExists(void)
{
	return OidIsValid(get_extension_oid("compact", true)) &&
		OidIsValid(CompactCatalogRelid("job_history", true));
}

static void
BeginTransaction(void)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
}

static void
EndTransaction(void)
{
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(false);
}

/* The table's clustering kind, for the view before the plan is known. */
static const char *
StrategyOf(Oid relid)
{
	if (CompactOptionValue(relid, "compact_order_by"))
		return "order by";
	if (CompactOptionValue(relid, "compact_z_order_by"))
		return "z-order";
	if (CompactOptionValue(relid, "compact_hilbert_by"))
		return "hilbert";
	return "merge";
}

/*
 * Recompute a table's debt and queue a job if it has some (after the
 * table's back-off).  The caller is in a transaction.
 */
static void
QueueIfDebt(Oid relid, int attempt)
{
	Relation	rel = try_relation_open(relid, AccessShareLock);
	Oid			am = get_table_am_oid("compact", false);

	if (rel == NULL)
		return;
	if (rel->rd_rel->relkind == RELKIND_RELATION && rel->rd_rel->relam == am &&
		TriggerTableWants(rel) && !JobActiveForTable(MyDatabaseId, relid))
	{
		CompactionPlan *plan = TriggerPlan(rel, false);

		DebtUpdate(relid, plan);
		if (plan->groups != NIL)
			(void) JobEnqueue(relid, (double) plan->read_bytes, attempt,
							  DebtRetryAfter(relid), false, StrategyOf(relid));
	}
	relation_close(rel, AccessShareLock);
}

/* ----------------------------------------------------------------
 * scan
 * ----------------------------------------------------------------
 */
static void
ScanDatabase(void)
{
	List	   *failed = NIL;
	List	   *tables = NIL;
	ListCell   *lc;
	Oid			am;

	BeginTransaction();
	if (!ExtensionExists())
	{
		EndTransaction();
		return;
	}
	pgstat_report_activity(STATE_RUNNING, "compact: scanning for compaction work");
	HistoryFailStale(&failed);
	HistoryPersistFinished();
	HistoryTrim();

	/* after a crash, back off the tables whose jobs died with it */
	foreach(lc, failed)
	{
		int			n = HistoryRecentFailures(lfirst_oid(lc));

		for (int i = 0; i < n; i++)
			DebtNoteFailure(lfirst_oid(lc), true);
	}

	/* the compact tables */
	am = get_table_am_oid("compact", false);
	{
		Relation	pg_class = table_open(RelationRelationId, AccessShareLock);
		TableScanDesc scan = table_beginscan_catalog(pg_class, 0, NULL);
		HeapTuple	tuple;

		while ((tuple = heap_getnext(scan, ForwardScanDirection)) != NULL)
		{
			Form_pg_class form = (Form_pg_class) GETSTRUCT(tuple);

			if (form->relkind == RELKIND_RELATION && form->relam == am)
			{
				/* the list outlives this transaction */
				MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

				tables = lappend_oid(tables, form->oid);
				MemoryContextSwitchTo(old);
			}
		}
		table_endscan(scan);
		table_close(pg_class, AccessShareLock);
	}
	EndTransaction();

	if (!compact_auto_compact)
		return;
	foreach(lc, tables)
	{
		Oid			relid = lfirst_oid(lc);

		BeginTransaction();
		QueueIfDebt(relid, DebtFailures(relid) + 1);
		EndTransaction();
	}
	pgstat_report_activity(STATE_IDLE, NULL);
}

/* ----------------------------------------------------------------
 * job
 * ----------------------------------------------------------------
 */

/* Take the job the launcher started us for; false if it is gone. */
static bool
ClaimJob(int slot, int64 job_id, CompactJob *copy)
{
	CompactJob *job = &CompactJobs->jobs[slot];
	bool		ok;

	LWLockAcquire(CompactJobs->lock, LW_EXCLUSIVE);
	ok = job->job_id == job_id && job->dboid == MyDatabaseId &&
		job->status == JOB_STARTING;
	if (ok)
	{
		job->status = JOB_RUNNING;
		job->pid = MyProcPid;
		job->started_at = GetCurrentTimestamp();
		strlcpy(job->phase, "starting", sizeof(job->phase));
		*copy = *job;
	}
	LWLockRelease(CompactJobs->lock);
	return ok;
}

/* Is the job still wanted?  Returns the table's owner, or InvalidOid. */
static Oid
JobStillWanted(Oid relid)
{
	Relation	rel;
	Oid			owner = InvalidOid;

	if (!ExtensionExists())
		return InvalidOid;
	rel = try_relation_open(relid, AccessShareLock);
	if (rel == NULL)
		return InvalidOid;
	if (rel->rd_rel->relkind == RELKIND_RELATION &&
		rel->rd_rel->relam == get_table_am_oid("compact", false) &&
		TriggerTableWants(rel))
	{
		CompactionPlan *plan = TriggerPlan(rel, false);

		DebtUpdate(relid, plan);
		if (plan->groups != NIL)
			owner = rel->rd_rel->relowner;
	}
	relation_close(rel, AccessShareLock);
	return owner;
}

static void
RunJob(int slot, int64 job_id)
{
	CompactJob	job;
	Oid			owner;
	Oid			save_userid;
	int			save_sec_context;
	CompactionResult result;
	volatile JobStatus status = JOB_DONE;
	char	   *volatile error = NULL;
	MemoryContext cxt = CurrentMemoryContext;

	if (!ClaimJob(slot, job_id, &job))
		return;
	pgstat_report_activity(STATE_RUNNING, "compact: compaction job");

	BeginTransaction();
	owner = JobStillWanted(job.relid);
	if (!OidIsValid(owner))
	{
		JobFree(slot);
		EndTransaction();
		return;
	}
	HistoryWrite(slot);			/* "running": a crash leaves a trace */
	EndTransaction();

	/*
	 * As the table's owner, throttled.  (search_path is set for the whole
	 * session: the per-group commits would undo a nested setting.)
	 */
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(owner, save_sec_context | SECURITY_RESTRICTED_OPERATION);
	VacuumCostDelay = compact_cost_delay;
	VacuumCostLimit = compact_cost_limit;
	VacuumCostActive = compact_cost_delay > 0;
	VacuumCostBalance = 0;

	BeginTransaction();
	PG_TRY();
	{
		CompactionRequest request;
		Relation	rel = CompactionOpenTable(job.relid, false);

		TriggerRequest(&request, rel);
		relation_close(rel, NoLock);
		JobSetCurrent(slot);
		CompactionRun(&request, &result);
		JobSetCurrent(-1);
		EndTransaction();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		JobSetCurrent(-1);
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		status = edata->sqlerrcode == ERRCODE_QUERY_CANCELED ? JOB_CANCELLED : JOB_FAILED;
		error = edata->message;
		ereport(LOG,
				(errmsg("compaction job " INT64_FORMAT " of relation %u %s: %s",
						job_id, job.relid,
						status == JOB_CANCELLED ? "was cancelled" : "failed",
						edata->message)));
		AbortOutOfAnyTransaction();
	}
	PG_END_TRY();

	VacuumCostActive = false;
	SetUserIdAndSecContext(save_userid, save_sec_context);

	JobFinish(slot, status == JOB_DONE ? &result : NULL, status, error);
	BeginTransaction();
	HistoryWrite(slot);
	DebtNoteFailure(job.relid, status == JOB_FAILED);
	if (status != JOB_CANCELLED)
		QueueIfDebt(job.relid, status == JOB_FAILED ? job.attempt + 1 : 1);
	HistoryPersistFinished();
	EndTransaction();
	pgstat_report_activity(STATE_IDLE, NULL);
}

void
CompactWorkerMain(Datum main_arg)
{
	int			slot = DatumGetInt32(main_arg);
	CompactWorkerArgs args;

	memcpy(&args, MyBgworkerEntry->bgw_extra, sizeof(args));
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(args.dboid, InvalidOid, 0);
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);

	if (slot < 0)
		ScanDatabase();
	else
		RunJob(slot, args.job_id);
	proc_exit(0);
}
