/*-------------------------------------------------------------------------
 * tableam.h
 *	  Internals of the compact table access method shared by its files.
 *
 * Row identity: every row of a storage (relfilenode) has a row number,
 * handed out from the storage's metapage and never reused.  A fragment holds
 * a contiguous range of row numbers.  A TID is the row number spread over
 * (block, offset) with offsets 1..MaxHeapTuplesPerPage, so that bitmaps and
 * btree accept it.
 *
 * Own changes: rows a transaction inserted but has not written to a
 * fragment yet live in write segments in memory, and rows it deleted live in
 * a pending-delete table until commit.  Scans and fetches merge both in, so a
 * transaction sees its own changes while nobody else does.
 *
 * IDENTIFICATION
 *	  src/tableam/tableam.h
 *-------------------------------------------------------------------------
 */
#ifndef COMPACT_TABLEAM_TABLEAM_H
#define COMPACT_TABLEAM_TABLEAM_H

#include "access/htup_details.h"
#include "access/skey.h"
#include "access/tableam.h"
#include "storage/itemptr.h"
#include "storage/relfilenode.h"
#include "storage/smgr.h"
#include "utils/rel.h"

#include "catalog/metadata.h"
#include "format/fragment.h"

#define COMPACT_ROWS_PER_BLOCK	MaxHeapTuplesPerPage
#define COMPACT_MAX_ROW_NUMBER	((int64) MaxBlockNumber * COMPACT_ROWS_PER_BLOCK)

static inline void
CompactRowNumberToTid(int64 rownum, ItemPointer tid)
{
	ItemPointerSet(tid, (BlockNumber) (rownum / COMPACT_ROWS_PER_BLOCK),
				   (OffsetNumber) (rownum % COMPACT_ROWS_PER_BLOCK + 1));
}

static inline int64
CompactTidToRowNumber(ItemPointer tid)
{
	return (int64) ItemPointerGetBlockNumberNoCheck(tid) * COMPACT_ROWS_PER_BLOCK +
		ItemPointerGetOffsetNumberNoCheck(tid) - 1;
}

/*
 * Rows inserted by this transaction and not yet written to a fragment.
 * Column-major; by-reference values live in the segment's memory.  A scan
 * that reads a segment pins it, so that a flush in the middle of the scan
 * keeps the memory until the scan is done with it.
 */
typedef struct WriteSegment
{
	RelFileNode node;
	SubTransactionId subid;		/* owning (sub)transaction */
	int64		first_row;		/* row number of row 0 */
	int64		reserved;		/* row numbers reserved from first_row */
	int			nrows;
	int			capacity;
	int			natts;
	Datum	  **values;			/* [natts][capacity] */
	bool	  **isnull;
	CommandId  *cids;			/* per row, non-decreasing */
	MemoryContext cxt;
	char	   *arena;			/* by-reference values */
	Size		arena_used;
	Size		arena_size;
	Size		bytes;			/* memory used, for the flush threshold */
	int			pins;
	bool		detached;		/* flushed or discarded; free when unpinned */
	bool		sealed;			/* no more rows: row numbers ran out */
	int			slot;			/* index in the shared reservation table */
} WriteSegment;

/*
 * What a scan may skip (set by the custom scan, scan/customscan.c): the
 * attributes it must decode, and predicates on a fragment's catalog
 * statistics and on a row group's footer statistics that say whether any
 * row of it may match.  The scan counts what it read and skipped.
 */
typedef struct CompactScanFilter
{
	bool	   *needed;			/* per attribute (attnum - 1); NULL: all */
	bool		(*fragment_may_match) (void *arg, const FragmentMeta *meta);
	bool		(*rowgroup_may_match) (void *arg, FragmentReader *reader,
									   int rowgroup);
	void	   *arg;
	int64		fragments_scanned;
	int64		fragments_skipped;
	int64		rowgroups_scanned;
	int64		rowgroups_skipped;
} CompactScanFilter;

/* metapage.c */
extern void MetapageInit(SMgrRelation srel, bool needs_wal);
extern int64 MetapageReserveRows(Relation rel, int64 count);
extern void MetapageReleaseRows(Relation rel, int64 from, int64 to);
extern int64 MetapageNextFragmentId(Relation rel);
extern int64 MetapageNextRow(Relation rel);

/* write_state.c */
/*
 * Called at pre-commit for each table whose rows the transaction wrote or
 * deleted, after they are in the catalog (the automatic compaction trigger).
 */
typedef void (*compact_commit_hook_type) (Relation rel);
extern PGDLLIMPORT compact_commit_hook_type compact_commit_hook;

extern void CompactWriteRow(Relation rel, TupleTableSlot *slot, CommandId cid);
typedef void (*WriteStateSink) (void *arg, const FragmentMeta *meta);
extern void WriteStateSetSink(WriteStateSink sink, void *arg);
extern void WriteStateFlushRelation(Relation rel);
extern void WriteStateRecordFragment(Relation rel, const FragmentMeta *meta,
									 CommandId cid);
extern List *WriteStateSegments(RelFileNode node);
extern void WriteSegmentUnpin(WriteSegment *seg);
extern WriteSegment *WriteStateFindRow(RelFileNode node, int64 rownum);
extern bool WriteStatePendingDelete(RelFileNode node, int64 rownum,
									CommandId cid, bool alias);
extern bool WriteStateIsDeleted(RelFileNode node, int64 rownum,
								Snapshot snapshot, CommandId *cmax);
extern bool WriteStateHasDeletes(RelFileNode node);
extern void WriteStateSetSuccessor(RelFileNode node, int64 rownum,
								   int64 successor);
extern void WriteStateDiscard(RelFileNode node);
extern void WriteStateSetFrozen(RelFileNode node);
extern int64 WriteStateBufferedRows(RelFileNode node);
extern TransactionId WriteStateInsertingXid(RelFileNode node, int64 rownum);
extern bool WriteStateRowVisible(WriteSegment *seg, int row, Snapshot snapshot);

/* modify.c */
extern TM_Result CompactDeleteRow(Relation rel, int64 rownum, CommandId cid,
								  Snapshot snapshot, Snapshot crosscheck,
								  bool wait, TM_FailureData *tmfd,
								  int64 *deleted);
extern TM_Result compact_tuple_lock(Relation rel, ItemPointer tid,
									Snapshot snapshot, TupleTableSlot *slot,
									CommandId cid, LockTupleMode mode,
									LockWaitPolicy wait_policy, uint8 flags,
									TM_FailureData *tmfd);
extern bool CompactTryLockFragment(Relation rel, int64 fragment_id);
extern void CompactLockAllFragments(Relation rel, bool wait);
extern void ModifyStateReset(void);
extern void ModifyStateSubXact(bool commit, SubTransactionId mysubid,
							   SubTransactionId parentsubid);

/* tableam.c */
extern const TableAmRoutine *CompactTableAmRoutine(void);

/* fetch.c */
extern bool CompactFetchRow(Relation rel, int64 rownum, Snapshot snapshot,
							TupleTableSlot *slot);
extern void FetchCacheReset(void);
extern bool CompactFragmentOfRow(Relation rel, int64 rownum, FragmentMeta *meta);

/* scan.c */
extern TableScanDesc compact_scan_begin(Relation rel, Snapshot snapshot,
										int nkeys, ScanKey key,
										ParallelTableScanDesc pscan,
										uint32 flags);
extern void compact_scan_end(TableScanDesc scan);
extern void compact_scan_rescan(TableScanDesc scan, ScanKey key,
								bool set_params, bool allow_strat,
								bool allow_sync, bool allow_pagemode);
extern bool compact_scan_getnextslot(TableScanDesc scan,
									 ScanDirection direction,
									 TupleTableSlot *slot);
extern Size compact_parallelscan_estimate(Relation rel);
extern Size compact_parallelscan_initialize(Relation rel,
											ParallelTableScanDesc pscan);
extern void compact_parallelscan_reinitialize(Relation rel,
											  ParallelTableScanDesc pscan);
extern bool compact_scan_analyze_next_block(TableScanDesc scan,
											BlockNumber blockno,
											BufferAccessStrategy bstrategy);
extern bool compact_scan_analyze_next_tuple(TableScanDesc scan,
											TransactionId OldestXmin,
											double *liverows,
											double *deadrows,
											TupleTableSlot *slot);
extern void CompactScanSetIncludeDeleted(TableScanDesc scan, bool include);
extern void CompactScanSetFilter(TableScanDesc scan, CompactScanFilter *filter);
extern bool CompactScanLastRowDeleted(TableScanDesc scan);

/* rows of one row group or write segment, as the scan's column arrays */
typedef struct CompactBatch
{
	Datum	  **values;			/* per attribute, indexed by row */
	bool	  **isnull;
	const int  *rows;			/* the visible rows, or NULL: 0..nrows */
	int			nrows;
} CompactBatch;

extern bool CompactScanNextBatch(TableScanDesc scan, CompactBatch *batch);
extern bool compact_scan_bitmap_next_block(TableScanDesc scan,
										   struct TBMIterateResult *tbmres);
extern bool compact_scan_bitmap_next_tuple(TableScanDesc scan,
										   struct TBMIterateResult *tbmres,
										   TupleTableSlot *slot);

/* columns.c: what the format layer needs to know about a table's columns */
extern FragmentColumn *CompactFragmentColumns(TupleDesc desc, int natts,
											  bool with_stats, int *ncolumns);
extern void CompactFillMissing(TupleDesc desc, int attnum, Datum *value,
							   bool *isnull);

/* build.c */
extern double compact_index_build_range_scan(Relation table_rel,
											 Relation index_rel,
											 struct IndexInfo *index_info,
											 bool allow_sync,
											 bool anyvisible,
											 bool progress,
											 BlockNumber start_blockno,
											 BlockNumber numblocks,
											 IndexBuildCallback callback,
											 void *callback_state,
											 TableScanDesc scan);
extern void compact_index_validate_scan(Relation table_rel,
										Relation index_rel,
										struct IndexInfo *index_info,
										Snapshot snapshot,
										struct ValidateIndexState *state);

/* ddl.c */
extern void compact_relation_set_new_filenode(Relation rel,
											  const RelFileNode *newrnode,
											  char persistence,
											  TransactionId *freezeXid,
											  MultiXactId *minmulti);
extern void compact_relation_nontransactional_truncate(Relation rel);
extern void CompactEnsureTableDir(Oid relfilenode);
extern int	DdlSweepOrphanDirs(void);
extern void compact_relation_copy_data(Relation rel,
									   const RelFileNode *newrnode);
extern void compact_relation_copy_for_cluster(Relation OldTable,
											  Relation NewTable,
											  Relation OldIndex,
											  bool use_sort,
											  TransactionId OldestXmin,
											  TransactionId *xid_cutoff,
											  MultiXactId *multi_cutoff,
											  double *num_tuples,
											  double *tups_vacuumed,
											  double *tups_recently_dead);

/* vacuum.c */
extern void compact_relation_vacuum(Relation rel, struct VacuumParams *params,
									BufferAccessStrategy bstrategy);
extern void compact_relation_estimate_size(Relation rel, int32 *attr_widths,
										   BlockNumber *pages, double *tuples,
										   double *allvisfrac);

#endif							/* COMPACT_TABLEAM_TABLEAM_H */
