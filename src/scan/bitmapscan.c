/*-------------------------------------------------------------------------
 * bitmapscan.c
 *	  Bitmap heap scans of compact tables: PostgreSQL's executor prefetches
 *	  the main-fork blocks a bitmap names, which a compact table does not
 *	  have.
 *
 * A compact TID names a row number, not a block of the relation's main
 * fork (which holds only the metapage): BitmapHeapScan's prefetching would
 * ask md.c for blocks past the first 1 GB segment and fail.  The table AM
 * fetches rows itself (scan.c), so after ExecutorStart the prefetch
 * distance of every Bitmap Heap Scan of a compact table is set to zero,
 * in the leader and in parallel workers (which start their own executor).
 *
 * IDENTIFICATION
 *	  src/scan/bitmapscan.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/executor.h"
#include "nodes/execnodes.h"
#include "nodes/nodeFuncs.h"
#include "utils/rel.h"

#include "compact.h"
#include "tableam/tableam.h"

static ExecutorStart_hook_type prev_ExecutorStart_hook = NULL;

static bool
NoPrefetchWalker(PlanState *ps, void *context)
{
	if (ps == NULL)
		return false;
	if (IsA(ps, BitmapHeapScanState))
	{
		BitmapHeapScanState *bhs = (BitmapHeapScanState *) ps;
		Relation	rel = bhs->ss.ss_currentRelation;

		if (rel != NULL && rel->rd_tableam == CompactTableAmRoutine())
			bhs->prefetch_maximum = 0;
	}
	return planstate_tree_walker(ps, NoPrefetchWalker, context);
}

static void
compact_ExecutorStart(QueryDesc *queryDesc, int eflags)
{
	if (prev_ExecutorStart_hook)
		prev_ExecutorStart_hook(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
	NoPrefetchWalker(queryDesc->planstate, NULL);
}

void
CompactBitmapScanInit(void)
{
	prev_ExecutorStart_hook = ExecutorStart_hook;
	ExecutorStart_hook = compact_ExecutorStart;
}
