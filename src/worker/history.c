/*-------------------------------------------------------------------------
 * history.c
 *	  compact.job_history: finished jobs, and running automatic ones.
 *
 * A worker writes its job's row when the job starts ("running", committed
 * before any group) and again when it ends, so a job whose worker dies
 * (kill -9, crash, shutdown) leaves a "running" row behind; the next scan of
 * the database turns such rows, whose job is in no shared-memory slot, into
 * "failed".  Manual jobs write their row when they finish, in the
 * transaction that ran them.  A finished job whose row could not be written
 * then (it failed, or was cancelled while queued) is written by the next
 * worker or scan in its database.  Rows are upserted by job id.  The slot of
 * a finished job is freed when the transaction that wrote its row commits
 * (jobqueue.c).
 *
 * IDENTIFICATION
 *	  src/worker/history.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/indexing.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "catalog/metadata.h"
#include "worker/jobqueue.h"

#define Natts_history					20
#define Anum_history_job_id				1
#define Anum_history_relid				2
#define Anum_history_trigger			3
#define Anum_history_strategy			4
#define Anum_history_status				5
#define Anum_history_phase				6
#define Anum_history_fragments_in		7
#define Anum_history_fragments_out		8
#define Anum_history_bytes_before		9
#define Anum_history_bytes_after		10
#define Anum_history_rows_rewritten		11
#define Anum_history_deleted_removed	12
#define Anum_history_bytes_total		13
#define Anum_history_bytes_done			14
#define Anum_history_attempt			15
#define Anum_history_queued_at			16
#define Anum_history_started_at			17
#define Anum_history_finished_at		18
#define Anum_history_error				19
#define Anum_history_bytes_written		20

static void
FormHistory(const CompactJob *job, Datum *values, bool *isnull)
{
	memset(isnull, 0, sizeof(bool) * Natts_history);
	values[Anum_history_job_id - 1] = Int64GetDatum(job->job_id);
	values[Anum_history_relid - 1] = ObjectIdGetDatum(job->relid);
	values[Anum_history_trigger - 1] = CStringGetTextDatum(job->automatic ? "auto" : "manual");
	values[Anum_history_strategy - 1] = CStringGetTextDatum(job->strategy);
	values[Anum_history_status - 1] = CStringGetTextDatum(JobStatusName(job->status));
	values[Anum_history_phase - 1] = CStringGetTextDatum(job->phase);
	values[Anum_history_fragments_in - 1] = Int32GetDatum(job->fragments_in);
	values[Anum_history_fragments_out - 1] = Int32GetDatum(job->fragments_out);
	values[Anum_history_bytes_before - 1] = Int64GetDatum(job->bytes_before);
	values[Anum_history_bytes_after - 1] = Int64GetDatum(job->bytes_after);
	values[Anum_history_rows_rewritten - 1] = Int64GetDatum(job->rows_rewritten);
	values[Anum_history_deleted_removed - 1] = Int64GetDatum(job->deleted_rows_removed);
	values[Anum_history_bytes_total - 1] = Int64GetDatum(job->bytes_total);
	values[Anum_history_bytes_done - 1] = Int64GetDatum(job->bytes_done);
	values[Anum_history_attempt - 1] = Int32GetDatum(job->attempt);
	values[Anum_history_queued_at - 1] = TimestampTzGetDatum(job->queued_at);
	values[Anum_history_started_at - 1] = TimestampTzGetDatum(job->started_at);
	isnull[Anum_history_started_at - 1] = job->started_at == 0;
	values[Anum_history_finished_at - 1] = TimestampTzGetDatum(job->finished_at);
	isnull[Anum_history_finished_at - 1] = job->finished_at == 0;
	values[Anum_history_error - 1] = CStringGetTextDatum(job->error);
	isnull[Anum_history_error - 1] = job->error[0] == '\0';
	values[Anum_history_bytes_written - 1] = Int64GetDatum(job->bytes_written);
}

/* Insert or update the row of a job as the tuple says. */
static void
Upsert(Relation rel, int64 job_id, HeapTuple tuple)
{
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	old;

	ScanKeyInit(&key, Anum_history_job_id, BTEqualStrategyNumber, F_INT8EQ,
				Int64GetDatum(job_id));
	scan = systable_beginscan(rel, CompactCatalogRelid("job_history_pkey", false),
							  true, GetLatestSnapshot(), 1, &key);
	old = systable_getnext(scan);
	if (HeapTupleIsValid(old))
		CatalogTupleUpdate(rel, &old->t_self, tuple);
	else
		CatalogTupleInsert(rel, tuple);
	systable_endscan(scan);
}

/*
 * Write a job's row as its slot now says, in the current transaction.  A
 * finished job's slot is then freed at commit; if another backend is
 * writing that job's row already, nothing is done.
 */
void
HistoryWrite(int slot)
{
	CompactJob	job;
	Relation	rel;
	Datum		values[Natts_history];
	bool		isnull[Natts_history];
	HeapTuple	tuple;
	bool		finished;

	LWLockAcquire(CompactJobs->lock, LW_EXCLUSIVE);
	job = CompactJobs->jobs[slot];
	finished = job.status == JOB_DONE || job.status == JOB_FAILED ||
		job.status == JOB_CANCELLED;
	if (job.dboid != MyDatabaseId || job.status == JOB_FREE ||
		(finished && job.held_by != 0 && job.held_by != MyProcPid))
	{
		LWLockRelease(CompactJobs->lock);
		return;
	}
	LWLockRelease(CompactJobs->lock);
	if (finished)
		JobMarkPersisted(slot);

	rel = table_open(CompactCatalogRelid("job_history", false), RowExclusiveLock);
	FormHistory(&job, values, isnull);
	tuple = heap_form_tuple(RelationGetDescr(rel), values, isnull);
	Upsert(rel, job.job_id, tuple);
	heap_freetuple(tuple);
	table_close(rel, RowExclusiveLock);
	CommandCounterIncrement();
}

/* Write the rows of this database's finished jobs that have none yet. */
void
HistoryPersistFinished(void)
{
	for (int i = 0; i < COMPACT_MAX_JOBS; i++)
	{
		CompactJob *job = &CompactJobs->jobs[i];
		bool		unwritten;

		LWLockAcquire(CompactJobs->lock, LW_SHARED);
		unwritten = job->dboid == MyDatabaseId && !job->persisted &&
			job->held_by == 0 &&
			(job->status == JOB_DONE || job->status == JOB_FAILED ||
			 job->status == JOB_CANCELLED);
		LWLockRelease(CompactJobs->lock);
		if (unwritten)
			HistoryWrite(i);
	}
}

static char *
TextColumn(HeapTuple tuple, TupleDesc desc, int attnum)
{
	bool		isnull;
	Datum		d = heap_getattr(tuple, attnum, desc, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

/*
 * Rows of "running" jobs that no slot holds: their process ended before the
 * job finished.  Mark them failed; return their tables (once each).
 */
void
HistoryFailStale(List **failed_relids)
{
	Relation	rel = table_open(CompactCatalogRelid("job_history", false), RowExclusiveLock);
	TupleDesc	desc = RelationGetDescr(rel);
	TableScanDesc scan;
	HeapTuple	tuple;
	List	   *stale = NIL;
	ListCell   *lc;

	scan = table_beginscan(rel, GetLatestSnapshot(), 0, NULL);
	while ((tuple = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		char	   *status = TextColumn(tuple, desc, Anum_history_status);
		bool		isnull;
		int64		job_id;

		if (strcmp(status, "running") != 0)
			continue;
		job_id = DatumGetInt64(heap_getattr(tuple, Anum_history_job_id, desc, &isnull));
		if (JobFind(MyDatabaseId, job_id) < 0)
		{
			int64	   *id = palloc(sizeof(int64));

			*id = job_id;
			stale = lappend(stale, id);
		}
	}
	table_endscan(scan);

	/*
	 * A job that finished between our snapshot and the slot check has its
	 * final row committed by now (its slot is freed only after that commit):
	 * look again with a new snapshot.
	 */
	foreach(lc, stale)
	{
		int64		job_id = *(int64 *) lfirst(lc);
		ScanKeyData key;
		SysScanDesc iscan;
		HeapTuple	old;

		ScanKeyInit(&key, Anum_history_job_id, BTEqualStrategyNumber, F_INT8EQ,
					Int64GetDatum(job_id));
		iscan = systable_beginscan(rel, CompactCatalogRelid("job_history_pkey", false),
								   true, GetLatestSnapshot(), 1, &key);
		old = systable_getnext(iscan);
		if (HeapTupleIsValid(old) &&
			strcmp(TextColumn(old, desc, Anum_history_status), "running") == 0)
		{
			Datum		values[Natts_history];
			bool		isnull[Natts_history];
			bool		replace[Natts_history];
			HeapTuple	newtuple;
			Oid			relid;

			memset(replace, 0, sizeof(replace));
			memset(isnull, 0, sizeof(isnull));
			values[Anum_history_status - 1] = CStringGetTextDatum("failed");
			replace[Anum_history_status - 1] = true;
			values[Anum_history_phase - 1] = CStringGetTextDatum("failed");
			replace[Anum_history_phase - 1] = true;
			values[Anum_history_finished_at - 1] = TimestampTzGetDatum(GetCurrentTimestamp());
			replace[Anum_history_finished_at - 1] = true;
			values[Anum_history_error - 1] =
				CStringGetTextDatum("the process running the job ended before the job finished (server crash, restart or kill)");
			replace[Anum_history_error - 1] = true;
			newtuple = heap_modify_tuple(old, desc, values, isnull, replace);
			CatalogTupleUpdate(rel, &old->t_self, newtuple);
			relid = DatumGetObjectId(heap_getattr(old, Anum_history_relid, desc, &isnull[0]));
			*failed_relids = list_append_unique_oid(*failed_relids, relid);
		}
		systable_endscan(iscan);
	}
	table_close(rel, RowExclusiveLock);
	CommandCounterIncrement();
}

/* Delete rows of jobs that finished longer ago than the retention. */
void
HistoryTrim(void)
{
	Relation	rel;
	TupleDesc	desc;
	TableScanDesc scan;
	HeapTuple	tuple;
	TimestampTz cutoff;

	if (compact_history_retention < 0)
		return;
	cutoff = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
										 -(int64) compact_history_retention * 1000);
	rel = table_open(CompactCatalogRelid("job_history", false), RowExclusiveLock);
	desc = RelationGetDescr(rel);
	scan = table_beginscan(rel, GetLatestSnapshot(), 0, NULL);
	while ((tuple = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		bool		isnull;
		Datum		finished = heap_getattr(tuple, Anum_history_finished_at, desc, &isnull);

		if (!isnull && DatumGetTimestampTz(finished) < cutoff)
			simple_heap_delete(rel, &tuple->t_self);
	}
	table_endscan(scan);
	table_close(rel, RowExclusiveLock);
	CommandCounterIncrement();
}

/* How many of the table's latest jobs failed in a row. */
int
HistoryRecentFailures(Oid relid)
{
	Relation	rel = table_open(CompactCatalogRelid("job_history", false), AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	TableScanDesc scan;
	HeapTuple	tuple;
	int64		last_success = 0;
	int			failures = 0;
	List	   *failed = NIL;
	ListCell   *lc;

	scan = table_beginscan(rel, GetLatestSnapshot(), 0, NULL);
	while ((tuple = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		bool		isnull;
		int64		job_id;
		char	   *status;

		if (DatumGetObjectId(heap_getattr(tuple, Anum_history_relid, desc, &isnull)) != relid)
			continue;
		job_id = DatumGetInt64(heap_getattr(tuple, Anum_history_job_id, desc, &isnull));
		status = TextColumn(tuple, desc, Anum_history_status);
		if (strcmp(status, "done") == 0)
			last_success = Max(last_success, job_id);
		else if (strcmp(status, "failed") == 0)
		{
			int64	   *id = palloc(sizeof(int64));

			*id = job_id;
			failed = lappend(failed, id);
		}
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);

	foreach(lc, failed)
		if (*(int64 *) lfirst(lc) > last_success)
			failures++;
	return failures;
}

/* The table of a job in the history, or InvalidOid if there is no such row. */
Oid
HistoryRelid(int64 job_id)
{
	Relation	rel = table_open(CompactCatalogRelid("job_history", false), AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	Oid			relid = InvalidOid;

	ScanKeyInit(&key, Anum_history_job_id, BTEqualStrategyNumber, F_INT8EQ,
				Int64GetDatum(job_id));
	scan = systable_beginscan(rel, CompactCatalogRelid("job_history_pkey", false),
							  true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
	{
		bool		isnull;

		relid = DatumGetObjectId(heap_getattr(tuple, Anum_history_relid,
											  RelationGetDescr(rel), &isnull));
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return relid;
}
