/*-------------------------------------------------------------------------
 * worker.h
 *	  The dynamic background workers the launcher starts: one per job, and
 *	  one per database scan.
 *
 * IDENTIFICATION
 *	  src/worker/worker.h
 *-------------------------------------------------------------------------
 */
#ifndef COMPACT_WORKER_WORKER_H
#define COMPACT_WORKER_WORKER_H

/* passed in bgw_extra; bgw_main_arg is the job's slot, or -1 for a scan */
typedef struct CompactWorkerArgs
{
	Oid			dboid;
	int64		job_id;
} CompactWorkerArgs;

/* worker.c */
extern PGDLLEXPORT void CompactWorkerMain(Datum main_arg);

#endif							/* COMPACT_WORKER_WORKER_H */
