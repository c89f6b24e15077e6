/*-------------------------------------------------------------------------
 * launcher.c
 *	  The launcher: one background worker per cluster that starts a
 *	  dynamic worker for each queued job and scans every database.
 *
 * The launcher connects to no database (it reads pg_database only).  Its
 * loop:
 *	 - every compact.naptime, list the databases and start a scan worker in
 *	   each (worker.c): it re-derives every compact table's debt from the
 *	   catalog and queues jobs, marks the jobs of a crashed worker failed,
 *	   writes pending history rows and trims old ones.  The first round runs
 *	   at start-up, so a restart or a crash loses no debt; databases created
 *	   later are picked up at the next round;
 *	 - start queued jobs, up to compact.max_workers workers in all (scans
 *	   included): among the jobs whose back-off is over, the one from the
 *	   database with the fewest running jobs, then the highest debt, then
 *	   the oldest;
 *	 - notice workers that exited without finishing their job (the job is
 *	   failed and its database scanned again soon, which retries it);
 *	 - sleep on its latch, which committing backends set when they queue a
 *	   job and the postmaster sets when a worker starts or stops.
 *
 * compact.auto_compact = off stops the launcher from starting anything;
 * running jobs finish.
 *
 * IDENTIFICATION
 *	  src/worker/launcher.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <limits.h>

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "tableam/tableam.h"
#include "worker/jobqueue.h"
#include "worker/worker.h"

bool		compact_auto_compact = true;
int			compact_max_workers = 4;
int			compact_naptime = 60;
int			compact_cost_limit = 200;
double		compact_cost_delay = 2;
int			compact_history_retention = 7 * 24 * 3600;
int			compact_worker_nice = 10;
int			compact_foreground_yield = 80;

typedef struct LauncherDb
{
	Oid			dboid;
	TimestampTz next_scan;
	BackgroundWorkerHandle *scan;	/* running scan, or NULL */
	bool		seen;			/* still in pg_database */
} LauncherDb;

/* launcher-local state */
static List *Databases = NIL;	/* LauncherDb */
static BackgroundWorkerHandle *JobHandles[COMPACT_MAX_JOBS];
static int64 JobHandleIds[COMPACT_MAX_JOBS];
static TimestampTz NextDatabaseList = 0;

PGDLLEXPORT void CompactLauncherMain(Datum main_arg);

static void
LauncherExit(int code, Datum arg)
{
	LWLockAcquire(CompactJobs->lock, LW_EXCLUSIVE);
	CompactJobs->launcher_pid = 0;
	CompactJobs->launcher_latch = NULL;
	LWLockRelease(CompactJobs->lock);
}

/* Refresh the list of databases we can connect to. */
static void
ListDatabases(void)
{
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tuple;
	ListCell   *lc;
	MemoryContext old;

	foreach(lc, Databases)
		((LauncherDb *) lfirst(lc))->seen = false;

	StartTransactionCommand();
	(void) GetTransactionSnapshot();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tuple = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tuple);
		LauncherDb *found = NULL;

		if (!db->datallowconn)
			continue;
		foreach(lc, Databases)
			if (((LauncherDb *) lfirst(lc))->dboid == db->oid)
				found = lfirst(lc);
		if (found == NULL)
		{
			old = MemoryContextSwitchTo(TopMemoryContext);
			found = palloc0(sizeof(LauncherDb));
			found->dboid = db->oid;
			Databases = lappend(Databases, found);
			MemoryContextSwitchTo(old);
		}
		found->seen = true;
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();

	foreach(lc, Databases)
	{
		LauncherDb *db = lfirst(lc);

		/* a dropped database: forget it once its workers have stopped */
		if (!db->seen && db->scan == NULL && JobForgetDatabase(db->dboid) == 0)
		{
			Databases = foreach_delete_current(Databases, lc);
			pfree(db);
		}
	}
}

static bool
WorkerStopped(BackgroundWorkerHandle *handle)
{
	pid_t		pid;

	return GetBackgroundWorkerPid(handle, &pid) == BGWH_STOPPED;
}

static int
RunningWorkers(void)
{
	int			n = 0;
	ListCell   *lc;

	foreach(lc, Databases)
		if (((LauncherDb *) lfirst(lc))->scan)
			n++;
	for (int i = 0; i < COMPACT_MAX_JOBS; i++)
		if (JobHandles[i])
			n++;
	return n;
}

/*
 * Forget workers that stopped.  A job whose worker stopped while the job
 * was still starting or running failed; its database is scanned again at
 * once, which records the failure and queues a retry after back-off.
 */
static void
ReapWorkers(void)
{
	ListCell   *lc;

	foreach(lc, Databases)
	{
		LauncherDb *db = lfirst(lc);

		if (db->scan && WorkerStopped(db->scan))
		{
			pfree(db->scan);
			db->scan = NULL;
		}
	}
	for (int i = 0; i < COMPACT_MAX_JOBS; i++)
	{
		CompactJob *job = &CompactJobs->jobs[i];
		Oid			dboid = InvalidOid;

		if (JobHandles[i] == NULL || !WorkerStopped(JobHandles[i]))
			continue;
		pfree(JobHandles[i]);
		JobHandles[i] = NULL;

		LWLockAcquire(CompactJobs->lock, LW_EXCLUSIVE);
		if (job->job_id == JobHandleIds[i] &&
			(job->status == JOB_STARTING || job->status == JOB_RUNNING))
		{
			job->status = JOB_FAILED;
			job->pid = 0;
			job->finished_at = GetCurrentTimestamp();
			strlcpy(job->phase, "failed", sizeof(job->phase));
			strlcpy(job->error, "the worker exited before the job finished",
					sizeof(job->error));
			dboid = job->dboid;
		}
		LWLockRelease(CompactJobs->lock);

		if (OidIsValid(dboid))
			foreach(lc, Databases)
				if (((LauncherDb *) lfirst(lc))->dboid == dboid)
					((LauncherDb *) lfirst(lc))->next_scan = 0;
	}
}

static BackgroundWorkerHandle *
StartWorker(Oid dboid, int slot, int64 job_id)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	CompactWorkerArgs args;
	MemoryContext old;
	bool		ok;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "compact");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "CompactWorkerMain");
	if (slot < 0)
		snprintf(worker.bgw_name, BGW_MAXLEN, "compact scan of database %u", dboid);
	else
		snprintf(worker.bgw_name, BGW_MAXLEN, "compact worker for job " INT64_FORMAT, job_id);
	snprintf(worker.bgw_type, BGW_MAXLEN, slot < 0 ? "compact scan" : "compact worker");
	worker.bgw_main_arg = Int32GetDatum(slot);
	args.dboid = dboid;
	args.job_id = job_id;
	memcpy(worker.bgw_extra, &args, sizeof(args));
	worker.bgw_notify_pid = MyProcPid;

	old = MemoryContextSwitchTo(TopMemoryContext);
	ok = RegisterDynamicBackgroundWorker(&worker, &handle);
	MemoryContextSwitchTo(old);
	return ok ? handle : NULL;
}

static void
StartScans(TimestampTz now)
{
	ListCell   *lc;

	foreach(lc, Databases)
	{
		LauncherDb *db = lfirst(lc);

		if (db->scan || db->next_scan > now || !db->seen)
			continue;
		if (RunningWorkers() >= compact_max_workers)
			return;
		db->scan = StartWorker(db->dboid, -1, 0);
		if (db->scan == NULL)
			return;				/* no background worker slot: later */
		db->next_scan = TimestampTzPlusMilliseconds(now, (int64) compact_naptime * 1000);
	}
}

static int
RunningInDatabase(Oid dboid)
{
	int			n = 0;

	for (int i = 0; i < COMPACT_MAX_JOBS; i++)
	{
		CompactJob *job = &CompactJobs->jobs[i];

		if (job->dboid == dboid &&
			(job->status == JOB_STARTING || job->status == JOB_RUNNING))
			n++;
	}
	return n;
}

/* Start queued jobs while workers are free; returns the next back-off end. */
static TimestampTz
StartJobs(TimestampTz now)
{
	TimestampTz next_wake = 0;

	while (RunningWorkers() < compact_max_workers)
	{
		int			best = -1;
		int			best_running = INT_MAX;
		CompactJob *job;
		Oid			dboid;
		int64		job_id;

		next_wake = 0;
		LWLockAcquire(CompactJobs->lock, LW_EXCLUSIVE);
		for (int i = 0; i < COMPACT_MAX_JOBS; i++)
		{
			CompactJob *j = &CompactJobs->jobs[i];
			int			running;

			if (j->status != JOB_QUEUED || j->held || JobHandles[i] != NULL)
				continue;
			if (j->not_before > now)
			{
				if (next_wake == 0 || j->not_before < next_wake)
					next_wake = j->not_before;
				continue;
			}
			running = RunningInDatabase(j->dboid);
			if (best < 0 || running < best_running ||
				(running == best_running &&
				 (j->priority > CompactJobs->jobs[best].priority ||
				  (j->priority == CompactJobs->jobs[best].priority &&
				   j->queued_at < CompactJobs->jobs[best].queued_at))))
			{
				best = i;
				best_running = running;
			}
		}
		if (best < 0)
		{
			LWLockRelease(CompactJobs->lock);
			break;
		}
		job = &CompactJobs->jobs[best];
		job->status = JOB_STARTING;
		strlcpy(job->phase, "starting", sizeof(job->phase));
		dboid = job->dboid;
		job_id = job->job_id;
		LWLockRelease(CompactJobs->lock);

		JobHandles[best] = StartWorker(dboid, best, job_id);
		JobHandleIds[best] = job_id;
		if (JobHandles[best] == NULL)
		{
			/* no background worker slot free: try again later */
			LWLockAcquire(CompactJobs->lock, LW_EXCLUSIVE);
			if (job->job_id == job_id && job->status == JOB_STARTING)
			{
				job->status = JOB_QUEUED;
				strlcpy(job->phase, "queued", sizeof(job->phase));
			}
			LWLockRelease(CompactJobs->lock);
			next_wake = TimestampTzPlusMilliseconds(now, 1000);
			break;
		}
	}
	return next_wake;
}

/*
 * Jobs left starting by a previous launcher (it exited; the workers it
 * registered may never claim them) go back to the queue.  Running jobs
 * whose process is gone failed.
 */
static void
AdoptJobs(void)
{
	LWLockAcquire(CompactJobs->lock, LW_EXCLUSIVE);
	for (int i = 0; i < COMPACT_MAX_JOBS; i++)
	{
		CompactJob *job = &CompactJobs->jobs[i];

		if (job->status == JOB_STARTING)
		{
			job->status = JOB_QUEUED;
			strlcpy(job->phase, "queued", sizeof(job->phase));
		}
		else if (job->status == JOB_RUNNING && job->pid != 0 &&
				 BackendPidGetProc(job->pid) == NULL)
		{
			job->status = JOB_FAILED;
			job->pid = 0;
			job->finished_at = GetCurrentTimestamp();
			strlcpy(job->phase, "failed", sizeof(job->phase));
			strlcpy(job->error, "the worker exited before the job finished",
					sizeof(job->error));
		}
	}
	CompactJobs->launcher_pid = MyProcPid;
	CompactJobs->launcher_latch = MyLatch;
	LWLockRelease(CompactJobs->lock);
}

void
CompactLauncherMain(Datum main_arg)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("compact launcher");

	before_shmem_exit(LauncherExit, (Datum) 0);
	AdoptJobs();

	for (;;)
	{
		TimestampTz now;
		TimestampTz wake;
		long		timeout_ms;
		ListCell   *lc;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			TimestampTz soonest;

			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			/* a shorter naptime applies now, not after the old one */
			soonest = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
												  (int64) compact_naptime * 1000);
			NextDatabaseList = Min(NextDatabaseList, soonest);
			foreach(lc, Databases)
			{
				LauncherDb *db = lfirst(lc);

				db->next_scan = Min(db->next_scan, soonest);
			}
		}

		ReapWorkers();
		now = GetCurrentTimestamp();
		wake = TimestampTzPlusMilliseconds(now, (int64) compact_naptime * 1000);
		if (compact_auto_compact)
		{
			TimestampTz job_wake;

			if (now >= NextDatabaseList)
			{
				ListDatabases();
				NextDatabaseList = TimestampTzPlusMilliseconds(now, (int64) compact_naptime * 1000);
			}
			/* jobs first: a scan can wait, a commit's job should not */
			job_wake = StartJobs(now);
			StartScans(now);
			if (job_wake != 0 && job_wake < wake)
				wake = job_wake;
			foreach(lc, Databases)
			{
				LauncherDb *db = lfirst(lc);

				if (db->scan == NULL && db->next_scan < wake)
					wake = Max(db->next_scan, TimestampTzPlusMilliseconds(now, 100));
			}
			if (NextDatabaseList < wake)
				wake = NextDatabaseList;
		}

		timeout_ms = (long) ((wake - now) / 1000);
		timeout_ms = Max(timeout_ms, 10);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 timeout_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/* Register the launcher and define the GUCs (from _PG_init). */
void
CompactLauncherRegister(void)
{
	BackgroundWorker worker;

	DefineCustomBoolVariable("compact.auto_compact",
							 "Compact tables in the background when they cross their thresholds.",
							 "The table option auto_compact turns it off for one table.",
							 &compact_auto_compact,
							 true, PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("compact.max_workers",
							"Background compaction workers running at once.",
							"They take slots of max_worker_processes, as do parallel queries.",
							&compact_max_workers,
							4, 1, 1024,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("compact.naptime",
							"Time between scans of each database for compaction work.",
							"Commits that push a table over its threshold queue a job at once; the scan catches the rest.",
							&compact_naptime,
							60, 1, INT_MAX / 1000,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("compact.cost_limit",
							"I/O cost after which a background compaction sleeps.",
							"Costs as vacuum_cost_page_miss per page read and vacuum_cost_page_dirty per page written.",
							&compact_cost_limit,
							200, 1, 10000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomRealVariable("compact.cost_delay",
							 "Sleep of a background compaction when it reaches compact.cost_limit; 0 turns throttling off.",
							 NULL,
							 &compact_cost_delay,
							 2, 0, 100,
							 PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("compact.worker_nice",
							"CPU scheduling niceness of background compaction workers.",
							"Foreground backends get the CPU first when the machine is busy; 0 runs workers at the same priority.",
							&compact_worker_nice,
							10, 0, 19,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("compact.foreground_yield",
							"Percentage of its time a background compaction sleeps while other sessions run queries.",
							"0 never yields; 80 works 10 ms, then sleeps 40 ms, while queries run.",
							&compact_foreground_yield,
							80, 0, 95,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("compact.job_history_retention",
							"How long finished jobs stay in compact.job_history; -1 keeps them forever.",
							NULL,
							&compact_history_retention,
							7 * 24 * 3600, -1, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);

	JobQueueShmemRequest();
	TriggerInit();
	compact_commit_hook = TriggerNoteCommit;

	/* pg_upgrade's servers restore schemas only: nothing to compact */
	if (IsBinaryUpgrade)
		return;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 5;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "compact");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "CompactLauncherMain");
	snprintf(worker.bgw_name, BGW_MAXLEN, "compact launcher");
	snprintf(worker.bgw_type, BGW_MAXLEN, "compact launcher");
	RegisterBackgroundWorker(&worker);
}
