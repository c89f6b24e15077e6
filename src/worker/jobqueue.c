/*-------------------------------------------------------------------------
 * jobqueue.c
 *	  The shared job table: queue, claim, progress, finish, and each
 *	  table's layout debt.
 *
 * One LWLock guards the table.  Nothing here runs SQL or can fail while the
 * lock is held; job ids are drawn from compact.job_id_seq before taking it.
 * A job queued by a committing transaction (trigger.c) is "held" until the
 * transaction's commit callback releases it (or its abort callback drops
 * it), so a worker never compacts on behalf of a commit that did not
 * happen.  The running backend is the only writer of its job's progress.
 *
 * IDENTIFICATION
 *	  src/worker/jobqueue.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/sequence.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "utils/elog.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "catalog/metadata.h"
#include "worker/jobqueue.h"

CompactShared *CompactJobs = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* the job this backend runs, for the progress hook; -1 if none */
static int	CurrentSlot = -1;
/* this transaction holds or persisted job slots */
static bool PendingAtCommit = false;

static void
jobqueue_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(CompactShared)));
	RequestNamedLWLockTranche("compact jobs", 1);
}

static void
jobqueue_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	CompactJobs = ShmemInitStruct("compact jobs", sizeof(CompactShared), &found);
	if (!found)
	{
		memset(CompactJobs, 0, sizeof(CompactShared));
		CompactJobs->lock = &(GetNamedLWLockTranche("compact jobs"))->lock;
	}
	LWLockRelease(AddinShmemInitLock);
}

void
JobQueueShmemRequest(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = jobqueue_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = jobqueue_shmem_startup;
}

const char *
JobStatusName(JobStatus status)
{
	switch (status)
	{
		case JOB_QUEUED:
			return "queued";
		case JOB_STARTING:
		case JOB_RUNNING:
			return "running";
		case JOB_DONE:
			return "done";
		case JOB_FAILED:
			return "failed";
		case JOB_CANCELLED:
			return "cancelled";
		default:
			return "free";
	}
}

static bool
JobIsActive(const CompactJob *job)
{
	return job->status == JOB_QUEUED || job->status == JOB_STARTING ||
		job->status == JOB_RUNNING;
}

static bool
JobIsFinished(const CompactJob *job)
{
	return job->status == JOB_DONE || job->status == JOB_FAILED ||
		job->status == JOB_CANCELLED;
}

/* A new job id from the current database's compact.job_id_seq. */
int64
JobNextId(void)
{
	return nextval_internal(CompactCatalogRelid("job_id_seq", false), false);
}

/*
 * A free slot, with the lock held exclusively.  When every slot is taken,
 * the oldest finished job whose history is not written yet gives way (its
 * row is lost, which is logged); -1 if there is none either.
 */
static int
FreeSlot(void)
{
	int			oldest = -1;

	for (int i = 0; i < COMPACT_MAX_JOBS; i++)
	{
		CompactJob *job = &CompactJobs->jobs[i];

		if (job->status == JOB_FREE)
			return i;
		if (JobIsFinished(job) && !job->persisted &&
			(oldest < 0 || job->finished_at < CompactJobs->jobs[oldest].finished_at))
			oldest = i;
	}
	if (oldest >= 0)
		elog(LOG, "compact: job table full, dropping finished job " INT64_FORMAT " before its history row was written",
			 CompactJobs->jobs[oldest].job_id);
	return oldest;
}

static void
JobInit(CompactJob *job, int64 job_id, Oid relid, bool automatic,
		const char *strategy)
{
	memset(job, 0, sizeof(CompactJob));
	job->job_id = job_id;
	job->dboid = MyDatabaseId;
	job->relid = relid;
	job->automatic = automatic;
	job->attempt = 1;
	job->queued_at = GetCurrentTimestamp();
	strlcpy(job->strategy, strategy ? strategy : "merge", sizeof(job->strategy));
}

/* The slot of a job, or -1.  Caller holds the lock. */
static int
FindLocked(Oid dboid, int64 job_id)
{
	for (int i = 0; i < COMPACT_MAX_JOBS; i++)
	{
		CompactJob *job = &CompactJobs->jobs[i];

		if (job->status != JOB_FREE && job->dboid == dboid && job->job_id == job_id)
			return i;
	}
	return -1;
}

int
JobFind(Oid dboid, int64 job_id)
{
	int			slot;

	LWLockAcquire(CompactJobs->lock, LW_SHARED);
	slot = FindLocked(dboid, job_id);
	LWLockRelease(CompactJobs->lock);
	return slot;
}

static int
ActiveForTableLocked(Oid dboid, Oid relid)
{
	for (int i = 0; i < COMPACT_MAX_JOBS; i++)
	{
		CompactJob *job = &CompactJobs->jobs[i];

		if (JobIsActive(job) && job->dboid == dboid && job->relid == relid)
			return i;
	}
	return -1;
}

bool
JobActiveForTable(Oid dboid, Oid relid)
{
	int			slot;

	LWLockAcquire(CompactJobs->lock, LW_SHARED);
	slot = ActiveForTableLocked(dboid, relid);
	LWLockRelease(CompactJobs->lock);
	return slot >= 0;
}

/*
 * Queue an automatic job for a table of the current database, unless one is
 * queued or running already (one job per table at a time; a queued one
 * takes the new priority).  held: released by this transaction's commit.
 * Returns whether a job was queued.
 */
bool
JobEnqueue(Oid relid, double priority, int attempt, TimestampTz not_before,
		   bool held, const char *strategy)
{
	int64		job_id = JobNextId();
	int			slot;
	CompactJob *job;

	LWLockAcquire(CompactJobs->lock, LW_EXCLUSIVE);
	slot = ActiveForTableLocked(MyDatabaseId, relid);
	if (slot >= 0)
	{
		if (CompactJobs->jobs[slot].status == JOB_QUEUED)
			CompactJobs->jobs[slot].priority = priority;
		LWLockRelease(CompactJobs->lock);
		return false;
	}
	slot = FreeSlot();
	if (slot < 0)
	{
		LWLockRelease(CompactJobs->lock);
		elog(LOG, "compact: job table full, not queueing a compaction of relation %u", relid);
		return false;
	}
	job = &CompactJobs->jobs[slot];
	JobInit(job, job_id, relid, true, strategy);
	job->status = JOB_QUEUED;
	job->priority = priority;
	job->attempt = attempt;
	job->not_before = not_before;
	job->held = held;
	job->held_by = held ? MyProcPid : 0;
	strlcpy(job->phase, "queued", sizeof(job->phase));
	LWLockRelease(CompactJobs->lock);

	if (held)
		PendingAtCommit = true;
	else
		JobWakeLauncher();
	return true;
}

/*
 * Transaction end: release (commit) or drop (abort) the jobs this
 * transaction queued; free (commit) or un-persist (abort) the finished jobs
 * whose history rows it wrote.  Only shared-memory work: this runs in the
 * commit and abort callbacks, where nothing may fail.
 */
void
JobQueueAtCommit(bool commit)
{
	bool		wake = false;

	if (!PendingAtCommit || CompactJobs == NULL)
		return;
	PendingAtCommit = false;

	LWLockAcquire(CompactJobs->lock, LW_EXCLUSIVE);
	for (int i = 0; i < COMPACT_MAX_JOBS; i++)
	{
		CompactJob *job = &CompactJobs->jobs[i];

		if (job->status == JOB_QUEUED && job->held && job->held_by == MyProcPid)
		{
			if (commit)
			{
				job->held = false;
				job->held_by = 0;
				wake = true;
			}
			else
				job->status = JOB_FREE;
		}
		else if (JobIsFinished(job) && job->persisted && job->held_by == MyProcPid)
		{
			job->held_by = 0;
			if (commit)
				job->status = JOB_FREE;
			else
			{
				job->persisted = false;
				if (job->status == JOB_DONE)
				{
					job->status = JOB_FAILED;
					strlcpy(job->error, "the transaction that ran the job rolled back",
							sizeof(job->error));
				}
			}
		}
	}
	LWLockRelease(CompactJobs->lock);
	if (wake)
		JobWakeLauncher();
}

/* Called by history.c: the slot's row was written by this transaction. */
void
JobMarkPersisted(int slot)
{
	LWLockAcquire(CompactJobs->lock, LW_EXCLUSIVE);
	CompactJobs->jobs[slot].persisted = true;
	CompactJobs->jobs[slot].held_by = MyProcPid;
	LWLockRelease(CompactJobs->lock);
	PendingAtCommit = true;
}

/*
 * Take a job of this database that is in state "from" (STARTING: the worker
 * the launcher started for it; QUEUED: compact.run_job) to run it in this
 * backend; a copy of its slot goes to *copy if not NULL.  Returns false if
 * the job is not in that state (any more).
 */
bool
JobClaim(int slot, int64 job_id, JobStatus from, CompactJob *copy)
{
	CompactJob *job = &CompactJobs->jobs[slot];
	bool		ok;

	LWLockAcquire(CompactJobs->lock, LW_EXCLUSIVE);
	ok = job->job_id == job_id && job->dboid == MyDatabaseId &&
		job->status == from && !job->held;
	if (ok)
	{
		job->status = JOB_RUNNING;
		job->pid = MyProcPid;
		job->started_at = GetCurrentTimestamp();
		strlcpy(job->phase, "starting", sizeof(job->phase));
		if (copy)
			*copy = *job;
	}
	LWLockRelease(CompactJobs->lock);
	return ok;
}

/*
 * Cancel a job: a queued or starting one is finished as cancelled at once,
 * a running one is sent a query cancel (its error handler records it).
 * Returns the status the job had.
 */
JobStatus
JobCancel(int slot, int64 job_id)
{
	CompactJob *job = &CompactJobs->jobs[slot];
	JobStatus	status;
	int			pid = 0;

	LWLockAcquire(CompactJobs->lock, LW_EXCLUSIVE);
	status = job->job_id == job_id ? job->status : JOB_FREE;
	if (status == JOB_QUEUED || status == JOB_STARTING)
	{
		job->status = JOB_CANCELLED;
		job->finished_at = GetCurrentTimestamp();
		strlcpy(job->phase, "cancelled", sizeof(job->phase));
		strlcpy(job->error, "cancelled by compact.cancel_job()", sizeof(job->error));
	}
	else if (status == JOB_RUNNING)
	{
		job->cancel_requested = true;
		pid = job->pid;
	}
	LWLockRelease(CompactJobs->lock);
	if (pid != 0 && kill(pid, SIGINT) != 0)
		ereport(WARNING,
				(errmsg("could not send a cancel to process %d: %m", pid)));
	return status;
}

/* Did compact.cancel_job() ask the running job in this slot to stop? */
bool
JobCancelRequested(int slot)
{
	bool		requested;

	LWLockAcquire(CompactJobs->lock, LW_SHARED);
	requested = CompactJobs->jobs[slot].cancel_requested;
	LWLockRelease(CompactJobs->lock);
	return requested;
}

/* A manual job, running in this backend from now on; -1 if no slot. */
int
JobBeginManual(Oid relid, const char *strategy)
{
	int64		job_id = JobNextId();
	int			slot;

	LWLockAcquire(CompactJobs->lock, LW_EXCLUSIVE);
	slot = FreeSlot();
	if (slot >= 0)
	{
		CompactJob *job = &CompactJobs->jobs[slot];

		JobInit(job, job_id, relid, false, strategy);
		job->status = JOB_RUNNING;
		job->pid = MyProcPid;
		job->started_at = job->queued_at;
		strlcpy(job->phase, "starting", sizeof(job->phase));
	}
	LWLockRelease(CompactJobs->lock);
	return slot;
}

static void
CopyResult(CompactJob *job, const CompactionResult *result)
{
	job->fragments_in = (int) result->fragments_read;
	job->fragments_out = (int) result->fragments_written;
	job->bytes_before = result->bytes_before;
	job->bytes_after = result->bytes_after;
	job->bytes_written = result->bytes_written;
	job->rows_rewritten = result->rows_rewritten;
	job->deleted_rows_removed = result->deleted_rows_removed;
}

/* the executor's progress, copied into the current job's slot */
static void
JobProgressHook(const CompactionProgress *progress)
{
	CompactJob *job;

	if (CurrentSlot < 0)
		return;
	LWLockAcquire(CompactJobs->lock, LW_EXCLUSIVE);
	job = &CompactJobs->jobs[CurrentSlot];
	if (job->pid == MyProcPid)
	{
		strlcpy(job->phase, progress->phase, sizeof(job->phase));
		strlcpy(job->strategy, progress->strategy, sizeof(job->strategy));
		job->bytes_total = progress->bytes_total;
		job->bytes_done = progress->bytes_done;
		if (progress->result)
			CopyResult(job, progress->result);
	}
	LWLockRelease(CompactJobs->lock);
}

void
JobSetCurrent(int slot)
{
	CurrentSlot = slot;
	compaction_progress_hook = slot >= 0 ? JobProgressHook : NULL;
}

/* Record how a job ended (result may be NULL after an error). */
void
JobFinish(int slot, const CompactionResult *result, JobStatus status,
		  const char *error)
{
	CompactJob *job;

	if (slot < 0)
		return;
	LWLockAcquire(CompactJobs->lock, LW_EXCLUSIVE);
	job = &CompactJobs->jobs[slot];
	if (result)
		CopyResult(job, result);
	job->status = status;
	job->pid = 0;
	job->finished_at = GetCurrentTimestamp();
	strlcpy(job->phase, JobStatusName(status), sizeof(job->phase));
	if (status == JOB_DONE)
		job->bytes_done = job->bytes_total;
	if (error)
		strlcpy(job->error, error, sizeof(job->error));
	LWLockRelease(CompactJobs->lock);
}

void
JobFree(int slot)
{
	if (slot < 0)
		return;
	LWLockAcquire(CompactJobs->lock, LW_EXCLUSIVE);
	CompactJobs->jobs[slot].status = JOB_FREE;
	LWLockRelease(CompactJobs->lock);
}

/*
 * A database is gone: free its jobs' slots, but those of workers still
 * starting or running (they are freed once their worker has stopped).
 * Returns how many of those remain.
 */
int
JobForgetDatabase(Oid dboid)
{
	int			remaining = 0;

	LWLockAcquire(CompactJobs->lock, LW_EXCLUSIVE);
	for (int i = 0; i < COMPACT_MAX_JOBS; i++)
	{
		CompactJob *job = &CompactJobs->jobs[i];

		if (job->status == JOB_FREE || job->dboid != dboid)
			continue;
		if (job->status == JOB_STARTING || job->status == JOB_RUNNING)
			remaining++;
		else
			job->status = JOB_FREE;
	}
	LWLockRelease(CompactJobs->lock);
	return remaining;
}

void
JobWakeLauncher(void)
{
	Latch	   *latch;

	LWLockAcquire(CompactJobs->lock, LW_SHARED);
	latch = CompactJobs->launcher_latch;
	LWLockRelease(CompactJobs->lock);
	if (latch)
		SetLatch(latch);
}

/*
 * Run a manual request as a job: it shows in compact.compaction_jobs while
 * it runs, and its history row commits with it.  Dry runs are not jobs.
 */
void
JobRunManual(const CompactionRequest *request, CompactionResult *result)
{
	if (request->dry_run || CompactJobs == NULL)
	{
		CompactionRun(request, result);
		return;
	}
	JobRunInSlot(JobBeginManual(request->relid, request->clustering),
				 request, result);
}

/*
 * Run a request in this backend as the job of a slot that is RUNNING with
 * our pid (or untracked if slot is -1), and record how it ends.
 */
void
JobRunInSlot(int slot, const CompactionRequest *request, CompactionResult *result)
{
	MemoryContext cxt = CurrentMemoryContext;

	JobSetCurrent(slot);
	PG_TRY();
	{
		CompactionRun(request, result);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		JobFinish(slot, NULL,
				  edata->sqlerrcode == ERRCODE_QUERY_CANCELED ? JOB_CANCELLED : JOB_FAILED,
				  edata->message);
		JobSetCurrent(-1);
		PG_RE_THROW();
	}
	PG_END_TRY();
	JobSetCurrent(-1);
	if (slot >= 0 && result->groups == 0 && request->deleted_only)
	{
		/* a plain VACUUM that had nothing to rewrite is not worth a row */
		JobFree(slot);
		return;
	}
	JobFinish(slot, result, JOB_DONE, NULL);
	if (slot >= 0)
		HistoryWrite(slot);
}

/* ----------------------------------------------------------------
 * layout debt
 * ----------------------------------------------------------------
 */

/* The debt entry of a table (created if create), lock held exclusively. */
static TableDebt *
DebtEntry(Oid relid, bool create)
{
	TableDebt  *oldest = NULL;

	for (int i = 0; i < COMPACT_MAX_DEBT_TABLES; i++)
	{
		TableDebt  *d = &CompactJobs->debts[i];

		if (d->dboid == MyDatabaseId && d->relid == relid)
			return d;
		if (oldest == NULL || d->dboid == InvalidOid ||
			(oldest->dboid != InvalidOid && d->updated_at < oldest->updated_at))
			oldest = d;
	}
	if (!create)
		return NULL;
	memset(oldest, 0, sizeof(TableDebt));
	oldest->dboid = MyDatabaseId;
	oldest->relid = relid;
	return oldest;
}

void
DebtUpdate(Oid relid, const CompactionPlan *plan)
{
	TableDebt  *d;

	LWLockAcquire(CompactJobs->lock, LW_EXCLUSIVE);
	d = DebtEntry(relid, true);
	d->groups = list_length(plan->groups);
	d->bytes = plan->read_bytes;
	d->updated_at = GetCurrentTimestamp();
	LWLockRelease(CompactJobs->lock);
}

/*
 * A job of the table failed (back off: 1 s, 4 s, 16 s, ... up to an hour
 * before the next try) or succeeded (no back-off).
 */
void
DebtNoteFailure(Oid relid, bool failed)
{
	TableDebt  *d;

	LWLockAcquire(CompactJobs->lock, LW_EXCLUSIVE);
	d = DebtEntry(relid, true);
	if (failed)
	{
		int64		delay_ms = 1000;

		d->failures++;
		for (int i = 1; i < d->failures && delay_ms < 3600 * 1000; i++)
			delay_ms *= 4;
		delay_ms = Min(delay_ms, 3600 * 1000);
		d->retry_after = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), delay_ms);
	}
	else
	{
		d->failures = 0;
		d->retry_after = 0;
	}
	d->updated_at = GetCurrentTimestamp();
	LWLockRelease(CompactJobs->lock);
}

TimestampTz
DebtRetryAfter(Oid relid)
{
	TableDebt  *d;
	TimestampTz result = 0;

	LWLockAcquire(CompactJobs->lock, LW_SHARED);
	d = DebtEntry(relid, false);
	if (d)
		result = d->retry_after;
	LWLockRelease(CompactJobs->lock);
	return result;
}

int
DebtFailures(Oid relid)
{
	TableDebt  *d;
	int			result = 0;

	LWLockAcquire(CompactJobs->lock, LW_SHARED);
	d = DebtEntry(relid, false);
	if (d)
		result = d->failures;
	LWLockRelease(CompactJobs->lock);
	return result;
}
