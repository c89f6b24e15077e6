/*-------------------------------------------------------------------------
 * jobs.c
 *	  compact.jobs(), behind the compact.compaction_jobs view: the current
 *	  database's jobs from shared memory (queued, running, finished but not
 *	  yet in the history) and from compact.job_history.
 *
 * A job in shared memory hides its history row: a running job's row says
 * "running" with the progress of its start, the slot has the live phase
 * and progress.
 *
 * IDENTIFICATION
 *	  src/views/jobs.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "commands/dbcommands.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "catalog/metadata.h"
#include "worker/jobqueue.h"

PG_FUNCTION_INFO_V1(compact_jobs);

#define JOBS_COLUMNS	21

/* history columns, as in compact--0.1.sql */
enum
{
	H_JOB_ID, H_RELID, H_TRIGGER, H_STRATEGY, H_STATUS, H_PHASE,
	H_FRAGMENTS_IN, H_FRAGMENTS_OUT, H_BYTES_BEFORE, H_BYTES_AFTER,
	H_ROWS_REWRITTEN, H_DELETED_REMOVED, H_BYTES_TOTAL, H_BYTES_DONE,
	H_ATTEMPT, H_QUEUED_AT, H_STARTED_AT, H_FINISHED_AT, H_ERROR, H_BYTES_WRITTEN,
	H_NATTS
};

static double
Progress(JobStatus status, int64 done, int64 total)
{
	if (status == JOB_DONE)
		return 1.0;
	if (total <= 0)
		return 0.0;
	return Min(1.0, (double) done / total);
}

static void
PutJob(Tuplestorestate *store, TupleDesc desc, const CompactJob *job,
	   Datum dbname)
{
	Datum		values[JOBS_COLUMNS];
	bool		isnull[JOBS_COLUMNS];

	memset(isnull, 0, sizeof(isnull));
	values[0] = Int64GetDatum(job->job_id);
	values[1] = dbname;
	values[2] = ObjectIdGetDatum(job->relid);
	values[3] = CStringGetTextDatum(job->automatic ? "auto" : "manual");
	values[4] = CStringGetTextDatum(job->strategy);
	values[5] = CStringGetTextDatum(JobStatusName(job->status));
	values[6] = CStringGetTextDatum(job->phase);
	values[7] = Int32GetDatum(job->fragments_in);
	values[8] = Int32GetDatum(job->fragments_out);
	values[9] = Int64GetDatum(job->bytes_before);
	values[10] = Int64GetDatum(job->bytes_after);
	values[11] = Int64GetDatum(job->rows_rewritten);
	values[12] = Int64GetDatum(job->deleted_rows_removed);
	values[13] = Float8GetDatum(Progress(job->status, job->bytes_done, job->bytes_total));
	values[14] = TimestampTzGetDatum(job->queued_at);
	values[15] = TimestampTzGetDatum(job->started_at);
	isnull[15] = job->started_at == 0;
	values[16] = TimestampTzGetDatum(job->finished_at);
	isnull[16] = job->finished_at == 0;
	values[17] = CStringGetTextDatum(job->error);
	isnull[17] = job->error[0] == '\0';
	values[18] = Int32GetDatum(job->pid);
	isnull[18] = job->pid == 0;
	values[19] = Int32GetDatum(job->attempt);
	values[20] = Int64GetDatum(job->bytes_written);
	tuplestore_putvalues(store, desc, values, isnull);
}

static bool
IsLive(const CompactJob *live, int nlive, int64 job_id)
{
	for (int i = 0; i < nlive; i++)
		if (live[i].job_id == job_id)
			return true;
	return false;
}

static void
PutHistory(Tuplestorestate *store, TupleDesc desc, HeapTuple tuple,
		   TupleDesc hdesc, Datum dbname)
{
	Datum		h[H_NATTS];
	bool		hnull[H_NATTS];
	Datum		values[JOBS_COLUMNS];
	bool		isnull[JOBS_COLUMNS];
	char	   *status;
	int64		total;

	heap_deform_tuple(tuple, hdesc, h, hnull);
	memset(isnull, 0, sizeof(isnull));
	values[0] = h[H_JOB_ID];
	values[1] = dbname;
	values[2] = h[H_RELID];
	values[3] = h[H_TRIGGER];
	values[4] = h[H_STRATEGY];
	values[5] = h[H_STATUS];
	values[6] = h[H_PHASE];
	isnull[6] = hnull[H_PHASE];
	values[7] = h[H_FRAGMENTS_IN];
	values[8] = h[H_FRAGMENTS_OUT];
	values[9] = h[H_BYTES_BEFORE];
	values[10] = h[H_BYTES_AFTER];
	values[11] = h[H_ROWS_REWRITTEN];
	values[12] = h[H_DELETED_REMOVED];
	status = TextDatumGetCString(h[H_STATUS]);
	total = hnull[H_BYTES_TOTAL] ? 0 : DatumGetInt64(h[H_BYTES_TOTAL]);
	values[13] = Float8GetDatum(strcmp(status, "done") == 0 ? 1.0 :
								total > 0 && !hnull[H_BYTES_DONE] ?
								Min(1.0, (double) DatumGetInt64(h[H_BYTES_DONE]) / total) : 0.0);
	values[14] = h[H_QUEUED_AT];
	isnull[14] = hnull[H_QUEUED_AT];
	values[15] = h[H_STARTED_AT];
	isnull[15] = hnull[H_STARTED_AT];
	values[16] = h[H_FINISHED_AT];
	isnull[16] = hnull[H_FINISHED_AT];
	values[17] = h[H_ERROR];
	isnull[17] = hnull[H_ERROR];
	isnull[18] = true;			/* pid */
	values[19] = h[H_ATTEMPT];
	values[20] = h[H_BYTES_WRITTEN];
	isnull[20] = hnull[H_BYTES_WRITTEN];
	tuplestore_putvalues(store, desc, values, isnull);
}

Datum
compact_jobs(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	CompactJob *live = palloc(sizeof(CompactJob) * COMPACT_MAX_JOBS);
	int			nlive = 0;
	Datum		dbname;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tuple;

	InitMaterializedSRF(fcinfo, 0);
	dbname = DirectFunctionCall1(namein, CStringGetDatum(get_database_name(MyDatabaseId)));

	if (CompactJobs)
	{
		LWLockAcquire(CompactJobs->lock, LW_SHARED);
		for (int i = 0; i < COMPACT_MAX_JOBS; i++)
			if (CompactJobs->jobs[i].status != JOB_FREE &&
				CompactJobs->jobs[i].dboid == MyDatabaseId)
				live[nlive++] = CompactJobs->jobs[i];
		LWLockRelease(CompactJobs->lock);
	}
	for (int i = 0; i < nlive; i++)
		PutJob(rsinfo->setResult, rsinfo->setDesc, &live[i], dbname);

	rel = table_open(CompactCatalogRelid("job_history", false), AccessShareLock);
	scan = table_beginscan(rel, GetTransactionSnapshot(), 0, NULL);
	while ((tuple = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		bool		isnull;
		int64		job_id = DatumGetInt64(heap_getattr(tuple, H_JOB_ID + 1,
														RelationGetDescr(rel), &isnull));

		if (!IsLive(live, nlive, job_id))
			PutHistory(rsinfo->setResult, rsinfo->setDesc, tuple,
					   RelationGetDescr(rel), dbname);
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	return (Datum) 0;
}
