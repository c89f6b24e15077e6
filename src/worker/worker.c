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

#include <sys/resource.h>

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
#include "portability/instr_time.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/backend_status.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "catalog/metadata.h"
#include "compaction/compaction.h"
#include "tableam/tableam.h"
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
	(void) DdlSweepOrphanDirs();

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

/*
 * Yield the CPU to foreground queries: every 10 ms of work, if another
 * session is running a query, sleep for compact.foreground_yield percent of
 * the time (work 10 ms, sleep 40 ms at 80).  Reads and writes are paced by
 * the cost limit besides; this paces the CPU work (decoding, sorting,
 * encoding, compressing), which on a small machine competes with queries
 * for cores and memory bandwidth.  An idle machine compacts at full speed.
 */
static instr_time BusySince;

static bool
ForegroundActive(void)
{
	bool		active = false;
	int			n;

	pgstat_clear_backend_activity_snapshot();
	n = pgstat_fetch_stat_numbackends();
	for (int i = 1; i <= n && !active; i++)
	{
		PgBackendStatus *be = pgstat_fetch_stat_beentry(i);

		active = be && be->st_procpid != MyProcPid &&
			be->st_backendType == B_BACKEND &&
			(be->st_state == STATE_RUNNING || be->st_state == STATE_FASTPATH);
	}
	pgstat_clear_backend_activity_snapshot();
	return active;
}

static void
WorkerYield(void)
{
	instr_time	now;
	double		busy_ms;

	INSTR_TIME_SET_CURRENT(now);
	busy_ms = INSTR_TIME_GET_MILLISEC(now) - INSTR_TIME_GET_MILLISEC(BusySince);
	if (busy_ms < 10)
		return;
	if (compact_foreground_yield > 0 && ForegroundActive())
	{
		long		sleep_ms = (long) (busy_ms * compact_foreground_yield /
									   (100 - compact_foreground_yield));

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Min(sleep_ms, 1000), PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	INSTR_TIME_SET_CURRENT(BusySince);
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

	if (!JobClaim(slot, job_id, JOB_STARTING, &job))
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
		request.background = true;
		relation_close(rel, NoLock);
		JobSetCurrent(slot);
		INSTR_TIME_SET_CURRENT(BusySince);
		compaction_yield_hook = WorkerYield;
		CompactionRun(&request, &result);
		compaction_yield_hook = NULL;
		JobSetCurrent(-1);
		EndTransaction();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		JobSetCurrent(-1);
		compaction_yield_hook = NULL;
		MemoryContextSwitchTo(cxt);
		/* the whole report (detail, context) goes to the server log */
		EmitErrorReport();
		edata = CopyErrorData();
		FlushErrorState();
		status = edata->sqlerrcode == ERRCODE_QUERY_CANCELED ? JOB_CANCELLED : JOB_FAILED;
		error = edata->message;

		/*
		 * A cancel nobody asked for through compact.cancel_job(): another
		 * session waited for a lock we held (see CompactLockAllFragments)
		 * or an administrator cancelled us.  Like autovacuum we give way;
		 * the next scan or commit queues the table again.
		 */
		if (status == JOB_CANCELLED && !JobCancelRequested(slot))
			error = "gave way: another session needed a lock the job held, or the job's process was sent a query cancel";
		ereport(LOG,
				(errmsg("compaction job " INT64_FORMAT " of relation %u %s: %s",
						job_id, job.relid,
						status == JOB_CANCELLED ? "was cancelled" : "failed",
						error)));
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

	/*
	 * Be treated as autovacuum: a session that waits for a lock we hold has
	 * us cancelled after deadlock_timeout instead of waiting out the job,
	 * and DROP DATABASE terminates us instead of failing.
	 */
	LWLockAcquire(ProcArrayLock, LW_EXCLUSIVE);
	MyProc->statusFlags |= PROC_IS_AUTOVACUUM;
	ProcGlobal->statusFlags[MyProc->pgxactoff] = MyProc->statusFlags;
	LWLockRelease(ProcArrayLock);

	if (slot < 0)
		ScanDatabase();
	else
	{
		/*
		 * The I/O cost limit paces reads and writes; sorting and encoding
		 * are CPU work, which the scheduler shares: foreground backends
		 * first.
		 */
		if (compact_worker_nice > 0 &&
			setpriority(PRIO_PROCESS, 0, compact_worker_nice) != 0)
			elog(LOG, "compact: could not lower the worker's priority: %m");
		RunJob(slot, args.job_id);
	}
	proc_exit(0);
}
