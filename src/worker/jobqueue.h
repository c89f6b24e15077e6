/*-------------------------------------------------------------------------
 * jobqueue.h
 *	  Compaction jobs in shared memory: the queue of automatic jobs, the
 *	  running ones (automatic and manual) with their live progress, finished
 *	  ones until their history row is written, and each table's layout debt.
 *
 * A job moves through these states (see README.md in this directory):
 *
 *	 QUEUED --(launcher starts a worker)--> STARTING --> RUNNING --> DONE
 *	   |                                                     \--> FAILED
 *	   \--(cancel_job)--> CANCELLED                           \-> CANCELLED
 *
 * Manual jobs (VACUUM (COMPACT ...), compact.compact_table, ...) enter as
 * RUNNING in the backend that runs them.  A finished job keeps its slot
 * until its row is in compact.job_history (persisted); then the slot is
 * free again.  Jobs are identified by (database, job_id); ids come from the
 * sequence compact.job_id_seq of the job's database.
 *
 * IDENTIFICATION
 *	  src/worker/jobqueue.h
 *-------------------------------------------------------------------------
 */
#ifndef COMPACT_WORKER_JOBQUEUE_H
#define COMPACT_WORKER_JOBQUEUE_H

#include "datatype/timestamp.h"
#include "storage/latch.h"
#include "storage/lwlock.h"

#include "compaction/compaction.h"

/* job slots: queued, running and finished-but-not-yet-persisted jobs */
#define COMPACT_MAX_JOBS			256
/* tables whose layout debt is tracked */
#define COMPACT_MAX_DEBT_TABLES		1024
#define COMPACT_JOB_ERROR_LEN		256
#define COMPACT_JOB_TEXT_LEN		64

typedef enum JobStatus
{
	JOB_FREE = 0,
	JOB_QUEUED,
	JOB_STARTING,				/* a worker was registered for it */
	JOB_RUNNING,
	JOB_DONE,
	JOB_FAILED,
	JOB_CANCELLED
} JobStatus;

typedef struct CompactJob
{
	JobStatus	status;
	int64		job_id;
	Oid			dboid;
	Oid			relid;
	bool		automatic;		/* trigger: auto or manual */
	bool		held;			/* queued by a transaction not yet committed */
	int			held_by;		/* pid of that transaction's backend */
	bool		cancel_requested;
	bool		persisted;		/* history row written (maybe uncommitted) */
	bool		retry;			/* failed: queue a retry (after back-off) */
	int			pid;			/* running it, or 0 */
	int			attempt;		/* 1 for a first try */
	double		priority;		/* layout debt: bytes the job would read */
	TimestampTz queued_at;
	TimestampTz not_before;		/* back-off: do not start before */
	TimestampTz started_at;
	TimestampTz finished_at;
	char		strategy[COMPACT_JOB_TEXT_LEN];
	char		phase[COMPACT_JOB_TEXT_LEN];
	int			fragments_in;
	int			fragments_out;
	int64		bytes_before;
	int64		bytes_after;
	int64		bytes_written;	/* by the job's new fragments */
	int64		rows_rewritten;
	int64		deleted_rows_removed;
	int64		bytes_total;	/* source bytes the plan reads */
	int64		bytes_done;
	char		error[COMPACT_JOB_ERROR_LEN];
} CompactJob;

/* a table's layout debt, as the last commit or scan computed it */
typedef struct TableDebt
{
	Oid			dboid;			/* InvalidOid: free */
	Oid			relid;
	int			groups;			/* groups an automatic compaction would run */
	int64		bytes;			/* bytes it would read */
	int			failures;		/* consecutive failed jobs */
	TimestampTz retry_after;	/* back-off after failures */
	TimestampTz updated_at;
} TableDebt;

typedef struct CompactShared
{
	LWLock	   *lock;
	int			launcher_pid;
	Latch	   *launcher_latch;
	CompactJob	jobs[COMPACT_MAX_JOBS];
	TableDebt	debts[COMPACT_MAX_DEBT_TABLES];
} CompactShared;

extern CompactShared *CompactJobs;

/* GUCs (worker/launcher.c) */
extern bool compact_auto_compact;
extern int	compact_max_workers;
extern int	compact_naptime;
extern int	compact_cost_limit;
extern double compact_cost_delay;
extern int	compact_history_retention;
extern int	compact_worker_nice;
extern int	compact_foreground_yield;

/* jobqueue.c */
extern void JobQueueShmemRequest(void);
extern void JobQueueShmemInit(void);
extern const char *JobStatusName(JobStatus status);
extern int64 JobNextId(void);
extern bool JobEnqueue(Oid relid, double priority, int attempt,
					   TimestampTz not_before, bool held, const char *strategy);
extern void JobQueueAtCommit(bool commit);
extern int	JobBeginManual(Oid relid, const char *strategy);
extern int	JobFind(Oid dboid, int64 job_id);
extern bool JobActiveForTable(Oid dboid, Oid relid);
extern void JobSetCurrent(int slot);
extern void JobFinish(int slot, const CompactionResult *result, JobStatus status,
					  const char *error);
extern void JobFree(int slot);
extern int	JobForgetDatabase(Oid dboid);
extern void JobMarkPersisted(int slot);
extern void JobWakeLauncher(void);
extern void JobRunManual(const CompactionRequest *request, CompactionResult *result);
extern void JobRunInSlot(int slot, const CompactionRequest *request,
						 CompactionResult *result);
extern bool JobClaim(int slot, int64 job_id, JobStatus from, CompactJob *copy);
extern JobStatus JobCancel(int slot, int64 job_id);
extern bool JobCancelRequested(int slot);
extern void DebtUpdate(Oid relid, const CompactionPlan *plan);
extern void DebtNoteFailure(Oid relid, bool failed);
extern TimestampTz DebtRetryAfter(Oid relid);
extern int	DebtFailures(Oid relid);

/* history.c */
extern void HistoryWrite(int slot);
extern void HistoryPersistFinished(void);
extern void HistoryFailStale(List **failed_relids);
extern void HistoryTrim(void);
extern int	HistoryRecentFailures(Oid relid);
extern Oid	HistoryRelid(int64 job_id);

/* trigger.c */
extern void TriggerRequest(CompactionRequest *request, Relation rel);
extern bool TriggerTableWants(Relation rel);
extern CompactionPlan *TriggerPlan(Relation rel, bool include_own);
extern void TriggerNoteCommit(Relation rel);
extern void TriggerInit(void);

/* launcher.c */
extern void CompactLauncherRegister(void);

#endif							/* COMPACT_WORKER_JOBQUEUE_H */
