/*-------------------------------------------------------------------------
 * build.c
 *	  Index builds over compact tables: CREATE INDEX, REINDEX, CREATE INDEX
 *	  CONCURRENTLY's validation pass.
 *
 * A plain build scans with SnapshotAny: every row someone may still see is
 * indexed, and rows already deleted are passed as not alive, so a unique
 * index does not count them as duplicates (heap does the same with recently
 * dead tuples).  Row numbers only grow and scans return rows in row-number
 * order, which is TID order, as the validation pass needs.
 *
 * IDENTIFICATION
 *	  src/tableam/build.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/relscan.h"
#include "access/tableam.h"
#include "catalog/index.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "utils/snapmgr.h"
#include "utils/tuplesort.h"

#include "tableam/tableam.h"

static bool
TidInRange(ItemPointer tid, BlockNumber start, BlockNumber nblocks)
{
	BlockNumber block = ItemPointerGetBlockNumber(tid);

	if (nblocks == InvalidBlockNumber)
		return block >= start;
	return block >= start && block - start < nblocks;
}

double
compact_index_build_range_scan(Relation table_rel, Relation index_rel,
							   IndexInfo *index_info, bool allow_sync,
							   bool anyvisible, bool progress,
							   BlockNumber start_blockno, BlockNumber numblocks,
							   IndexBuildCallback callback,
							   void *callback_state, TableScanDesc scan)
{
	EState	   *estate = CreateExecutorState();
	ExprContext *econtext = GetPerTupleExprContext(estate);
	TupleTableSlot *slot = table_slot_create(table_rel, NULL);
	ExprState  *predicate;
	Snapshot	snapshot;
	bool		unregister = false;
	Datum		values[INDEX_MAX_KEYS];
	bool		isnull[INDEX_MAX_KEYS];
	double		reltuples = 0;
	bool		whole = start_blockno == 0 && numblocks == InvalidBlockNumber;

	econtext->ecxt_scantuple = slot;
	predicate = ExecPrepareQual(index_info->ii_Predicate, estate);

	if (scan == NULL)
	{
		if (index_info->ii_Concurrent)
		{
			snapshot = RegisterSnapshot(GetTransactionSnapshot());
			unregister = true;
		}
		else
			snapshot = SnapshotAny;
		scan = table_beginscan_strat(table_rel, snapshot, 0, NULL, true, allow_sync);
	}
	else
		snapshot = scan->rs_snapshot;

	if (snapshot->snapshot_type == SNAPSHOT_ANY)
		CompactScanSetIncludeDeleted(scan, true);

	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		bool		alive;

		CHECK_FOR_INTERRUPTS();
		if (!whole && !TidInRange(&slot->tts_tid, start_blockno, numblocks))
			continue;
		MemoryContextReset(econtext->ecxt_per_tuple_memory);
		if (predicate != NULL && !ExecQual(predicate, econtext))
			continue;
		alive = !CompactScanLastRowDeleted(scan);
		FormIndexDatum(index_info, slot, estate, values, isnull);
		callback(index_rel, &slot->tts_tid, values, isnull, alive, callback_state);
		if (alive)
			reltuples += 1;
	}

	table_endscan(scan);
	if (unregister)
		UnregisterSnapshot(snapshot);
	ExecDropSingleTupleTableSlot(slot);
	FreeExecutorState(estate);
	index_info->ii_ExpressionsState = NIL;
	index_info->ii_PredicateState = NULL;
	return reltuples;
}

/*
 * CREATE INDEX CONCURRENTLY, phase 3: insert every row the snapshot sees
 * that the index (whose TIDs arrive sorted in state->tuplesort) lacks.
 */
void
compact_index_validate_scan(Relation table_rel, Relation index_rel,
							IndexInfo *index_info, Snapshot snapshot,
							ValidateIndexState *state)
{
	EState	   *estate = CreateExecutorState();
	ExprContext *econtext = GetPerTupleExprContext(estate);
	TupleTableSlot *slot = table_slot_create(table_rel, NULL);
	ExprState  *predicate;
	TableScanDesc scan;
	Datum		values[INDEX_MAX_KEYS];
	bool		isnull[INDEX_MAX_KEYS];
	ItemPointerData indexed;
	bool		have_indexed = false;
	bool		index_done = false;

	econtext->ecxt_scantuple = slot;
	predicate = ExecPrepareQual(index_info->ii_Predicate, estate);
	ItemPointerSetInvalid(&indexed);

	scan = table_beginscan_strat(table_rel, snapshot, 0, NULL, true, false);
	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		ItemPointer tid = &slot->tts_tid;

		CHECK_FOR_INTERRUPTS();
		state->htups += 1;

		/* advance the index side to the first TID >= this row's */
		while (!index_done &&
			   (!have_indexed || ItemPointerCompare(&indexed, tid) < 0))
		{
			Datum		ts_val;
			bool		ts_isnull;

			if (tuplesort_getdatum(state->tuplesort, true, &ts_val, &ts_isnull, NULL))
			{
				Assert(!ts_isnull);
				itemptr_decode(&indexed, DatumGetInt64(ts_val));
				have_indexed = true;
			}
			else
				index_done = true;
		}
		if (have_indexed && !index_done && ItemPointerEquals(&indexed, tid))
			continue;

		MemoryContextReset(econtext->ecxt_per_tuple_memory);
		if (predicate != NULL && !ExecQual(predicate, econtext))
			continue;
		FormIndexDatum(index_info, slot, estate, values, isnull);
		index_insert(index_rel, values, isnull, tid, table_rel,
					 index_info->ii_Unique ? UNIQUE_CHECK_YES : UNIQUE_CHECK_NO,
					 false, index_info);
		state->tups_inserted += 1;
	}
	table_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	FreeExecutorState(estate);
	index_info->ii_ExpressionsState = NIL;
	index_info->ii_PredicateState = NULL;
}
