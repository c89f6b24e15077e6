/*-------------------------------------------------------------------------
 * tableam.c
 *	  The compact table access method: its routine and the thin callbacks
 *	  that hand off to the files that do the work.
 *
 * IDENTIFICATION
 *	  src/tableam/tableam.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/storage.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "nodes/execnodes.h"
#include "pgstat.h"
#include "storage/bufmgr.h"
#include "utils/memutils.h"

#include "tableam/tableam.h"

PG_FUNCTION_INFO_V1(compact_tableam_handler);

static const TupleTableSlotOps *
compact_slot_callbacks(Relation rel)
{
	return &TTSOpsVirtual;
}

/* ------------------------------------------------------------------------
 * index fetches
 * ------------------------------------------------------------------------
 */

static IndexFetchTableData *
compact_index_fetch_begin(Relation rel)
{
	IndexFetchTableData *scan = palloc0(sizeof(IndexFetchTableData));

	scan->rel = rel;
	return scan;
}

static void
compact_index_fetch_reset(IndexFetchTableData *scan)
{
}

static void
compact_index_fetch_end(IndexFetchTableData *scan)
{
	pfree(scan);
}

static bool
compact_index_fetch_tuple(IndexFetchTableData *scan, ItemPointer tid,
						  Snapshot snapshot, TupleTableSlot *slot,
						  bool *call_again, bool *all_dead)
{
	*call_again = false;
	if (all_dead)
		*all_dead = false;
	return CompactFetchRow(scan->rel, CompactTidToRowNumber(tid), snapshot, slot);
}

static bool
compact_tuple_fetch_row_version(Relation rel, ItemPointer tid,
								Snapshot snapshot, TupleTableSlot *slot)
{
	return CompactFetchRow(rel, CompactTidToRowNumber(tid), snapshot, slot);
}

static bool
compact_tuple_tid_valid(TableScanDesc scan, ItemPointer tid)
{
	return ItemPointerIsValid(tid) &&
		CompactTidToRowNumber(tid) < MetapageNextRow(scan->rs_rd);
}

static void
compact_tuple_get_latest_tid(TableScanDesc scan, ItemPointer tid)
{
	/* rows are never updated in place: every TID is its own latest */
}

static bool
compact_tuple_satisfies_snapshot(Relation rel, TupleTableSlot *slot,
								 Snapshot snapshot)
{
	return CompactFetchRow(rel, CompactTidToRowNumber(&slot->tts_tid), snapshot, NULL);
}

static TransactionId
compact_index_delete_tuples(Relation rel, TM_IndexDeleteOp *delstate)
{
	/*
	 * index_fetch_tuple never reports all_dead, so btree only asks for
	 * bottom-up deletion, where deleting nothing is allowed.  VACUUM cleans
	 * indexes when it rewrites fragments.
	 */
	return InvalidTransactionId;
}

/* ------------------------------------------------------------------------
 * writes
 * ------------------------------------------------------------------------
 */

static void
compact_tuple_insert(Relation rel, TupleTableSlot *slot, CommandId cid,
					 int options, BulkInsertState bistate)
{
	CompactWriteRow(rel, slot, cid);
	pgstat_count_heap_insert(rel, 1);
}

/*
 * ON CONFLICT: other backends find the row through the shared reservation
 * table (tableam/write_state.c) and wait for this transaction, so no
 * speculative token is needed; a row that lost its conflict check is
 * deleted again.
 */
static void
compact_tuple_insert_speculative(Relation rel, TupleTableSlot *slot,
								 CommandId cid, int options,
								 BulkInsertState bistate, uint32 specToken)
{
	compact_tuple_insert(rel, slot, cid, options, bistate);
}

static void
compact_tuple_complete_speculative(Relation rel, TupleTableSlot *slot,
								   uint32 specToken, bool succeeded)
{
	if (!succeeded)
		WriteStatePendingDelete(rel->rd_node, CompactTidToRowNumber(&slot->tts_tid),
								GetCurrentCommandId(true), false);
}

static void
compact_multi_insert(Relation rel, TupleTableSlot **slots, int ntuples,
					 CommandId cid, int options, BulkInsertState bistate)
{
	for (int i = 0; i < ntuples; i++)
		CompactWriteRow(rel, slots[i], cid);
	pgstat_count_heap_insert(rel, ntuples);
}

static TM_Result
compact_tuple_delete(Relation rel, ItemPointer tid, CommandId cid,
					 Snapshot snapshot, Snapshot crosscheck, bool wait,
					 TM_FailureData *tmfd, bool changingPart)
{
	int64		deleted;
	TM_Result	result = CompactDeleteRow(rel, CompactTidToRowNumber(tid), cid,
										  snapshot, crosscheck, wait, tmfd,
										  &deleted);

	if (result == TM_Ok)
		pgstat_count_heap_delete(rel);
	return result;
}

static TM_Result
compact_tuple_update(Relation rel, ItemPointer otid, TupleTableSlot *slot,
					 CommandId cid, Snapshot snapshot, Snapshot crosscheck,
					 bool wait, TM_FailureData *tmfd, LockTupleMode *lockmode,
					 bool *update_indexes)
{
	int64		deleted;
	TM_Result	result = CompactDeleteRow(rel, CompactTidToRowNumber(otid), cid,
										  snapshot, crosscheck, wait, tmfd,
										  &deleted);

	*lockmode = LockTupleExclusive;
	*update_indexes = true;
	if (result != TM_Ok)
		return result;
	CompactWriteRow(rel, slot, cid);
	WriteStateSetSuccessor(rel->rd_node, deleted,
						   CompactTidToRowNumber(&slot->tts_tid));
	pgstat_count_heap_update(rel, false);
	return TM_Ok;
}

static void
compact_finish_bulk_insert(Relation rel, int options)
{
}

/* ------------------------------------------------------------------------
 * sizes
 * ------------------------------------------------------------------------
 */

/*
 * Only the relation's own forks: block numbers must be real for the code
 * that prefetches them (ANALYZE).  compact.table_size() counts the files.
 */
static uint64
compact_relation_size(Relation rel, ForkNumber forkNumber)
{
	uint64		nblocks = 0;

	if (forkNumber == InvalidForkNumber)
	{
		for (int i = 0; i < MAX_FORKNUM; i++)
			if (smgrexists(RelationGetSmgr(rel), i))
				nblocks += smgrnblocks(RelationGetSmgr(rel), i);
	}
	else if (smgrexists(RelationGetSmgr(rel), forkNumber))
		nblocks = smgrnblocks(RelationGetSmgr(rel), forkNumber);
	return nblocks * BLCKSZ;
}

static bool
compact_relation_needs_toast_table(Relation rel)
{
	/* values of any size are stored inline in fragments */
	return false;
}

/* ------------------------------------------------------------------------
 * not supported
 * ------------------------------------------------------------------------
 */

static bool
compact_scan_sample_next_block(TableScanDesc scan, SampleScanState *scanstate)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("TABLESAMPLE is not supported on compact tables"),
			 errhint("Sample with WHERE random() < fraction instead.")));
	return false;
}

static bool
compact_scan_sample_next_tuple(TableScanDesc scan, SampleScanState *scanstate,
							   TupleTableSlot *slot)
{
	return false;
}

static const TableAmRoutine compact_methods = {
	.type = T_TableAmRoutine,

	.slot_callbacks = compact_slot_callbacks,

	.scan_begin = compact_scan_begin,
	.scan_end = compact_scan_end,
	.scan_rescan = compact_scan_rescan,
	.scan_getnextslot = compact_scan_getnextslot,

	.parallelscan_estimate = compact_parallelscan_estimate,
	.parallelscan_initialize = compact_parallelscan_initialize,
	.parallelscan_reinitialize = compact_parallelscan_reinitialize,

	.index_fetch_begin = compact_index_fetch_begin,
	.index_fetch_reset = compact_index_fetch_reset,
	.index_fetch_end = compact_index_fetch_end,
	.index_fetch_tuple = compact_index_fetch_tuple,

	.tuple_fetch_row_version = compact_tuple_fetch_row_version,
	.tuple_tid_valid = compact_tuple_tid_valid,
	.tuple_get_latest_tid = compact_tuple_get_latest_tid,
	.tuple_satisfies_snapshot = compact_tuple_satisfies_snapshot,
	.index_delete_tuples = compact_index_delete_tuples,

	.tuple_insert = compact_tuple_insert,
	.tuple_insert_speculative = compact_tuple_insert_speculative,
	.tuple_complete_speculative = compact_tuple_complete_speculative,
	.multi_insert = compact_multi_insert,
	.tuple_delete = compact_tuple_delete,
	.tuple_update = compact_tuple_update,
	.tuple_lock = compact_tuple_lock,
	.finish_bulk_insert = compact_finish_bulk_insert,

	.relation_set_new_filenode = compact_relation_set_new_filenode,
	.relation_nontransactional_truncate = compact_relation_nontransactional_truncate,
	.relation_copy_data = compact_relation_copy_data,
	.relation_copy_for_cluster = compact_relation_copy_for_cluster,
	.relation_vacuum = compact_relation_vacuum,
	.scan_analyze_next_block = compact_scan_analyze_next_block,
	.scan_analyze_next_tuple = compact_scan_analyze_next_tuple,
	.index_build_range_scan = compact_index_build_range_scan,
	.index_validate_scan = compact_index_validate_scan,

	.relation_size = compact_relation_size,
	.relation_needs_toast_table = compact_relation_needs_toast_table,

	.relation_estimate_size = compact_relation_estimate_size,

	.scan_bitmap_next_block = compact_scan_bitmap_next_block,
	.scan_bitmap_next_tuple = compact_scan_bitmap_next_tuple,
	.scan_sample_next_block = compact_scan_sample_next_block,
	.scan_sample_next_tuple = compact_scan_sample_next_tuple,
};

Datum
compact_tableam_handler(PG_FUNCTION_ARGS)
{
	PG_RETURN_POINTER(&compact_methods);
}

/* the routine, to recognize compact relations by rd_tableam */
const TableAmRoutine *
CompactTableAmRoutine(void)
{
	return &compact_methods;
}
