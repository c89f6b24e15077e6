/*-------------------------------------------------------------------------
 * fetch.c
 *	  Fetch one row by TID: index scans, unique checks, UPDATE's fetch of
 *	  the old row, triggers, foreign keys.
 *
 * A row is visible to a snapshot when its fragment's manifest row is, it
 * lies in the part of an own fragment the snapshot may see, and no deletion
 * vector the snapshot sees, nor a pending delete of this transaction,
 * removes it.  Rows of this transaction still in memory are found in its
 * write segments.  SnapshotAny returns every row whose fragment someone may
 * still see; SnapshotDirty also reports (through snapshot->xmin) another
 * transaction that is inserting the row, so that a unique check waits for
 * it as it would on a heap tuple.
 *
 * Files are immutable, so the last fragment read and its last decoded row
 * group are kept for the rest of the transaction.
 *
 * IDENTIFICATION
 *	  src/tableam/fetch.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "storage/procarray.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "format/files.h"
#include "tableam/tableam.h"

typedef struct FetchCache
{
	MemoryContext cxt;
	MemoryContext rgcxt;
	Oid			relnode;
	FragmentMeta meta;
	FragmentReader *reader;
	int			nrg;
	int		   *rg_start;
	int			natts;
	int		   *colmap;
	int			rg;				/* decoded row group, or -1 */
	Datum	  **values;
	bool	  **isnull;
} FetchCache;

static FetchCache *Cache = NULL;

/*
 * The deletion vector of the last fragment fetched from, for the MVCC
 * snapshot it was read with: an index scan fetches row after row of the
 * same fragments, and reading the catalog (and merging update successors)
 * for each was most of its time.  An MVCC snapshot sees the same deletion
 * rows for as long as it lives, so the cache is keyed by the snapshot's
 * contents (not its address, which may be reused).
 */
typedef struct DeletionCache
{
	MemoryContext cxt;
	Oid			relnode;
	int64		fragment_id;
	TransactionId xmin;
	TransactionId xmax;
	CommandId	curcid;
	uint32		xcnt;
	int32		subxcnt;
	bool		suboverflowed;
	TransactionId *xip;
	TransactionId *subxip;
	DeletionVector *dv;
} DeletionCache;

static DeletionCache *DvCache = NULL;

void
FetchCacheReset(void)
{
	/* the memory goes with TopTransactionContext */
	Cache = NULL;
	DvCache = NULL;
}

static bool
DeletionCacheMatches(Oid relnode, const FragmentMeta *meta, Snapshot snapshot)
{
	return DvCache != NULL && DvCache->relnode == relnode &&
		DvCache->fragment_id == meta->fragment_id &&
		DvCache->xmin == snapshot->xmin && DvCache->xmax == snapshot->xmax &&
		DvCache->curcid == snapshot->curcid &&
		DvCache->xcnt == snapshot->xcnt &&
		DvCache->subxcnt == snapshot->subxcnt &&
		DvCache->suboverflowed == snapshot->suboverflowed &&
		(snapshot->xcnt == 0 ||
		 memcmp(DvCache->xip, snapshot->xip,
				sizeof(TransactionId) * snapshot->xcnt) == 0) &&
		(snapshot->subxcnt <= 0 ||
		 memcmp(DvCache->subxip, snapshot->subxip,
				sizeof(TransactionId) * snapshot->subxcnt) == 0);
}

/* The deletion vector of a fragment as a snapshot sees it (NULL: none). */
static DeletionVector *
FetchDeletions(Relation rel, const FragmentMeta *meta, Snapshot snapshot)
{
	Oid			relnode = rel->rd_node.relNode;
	MemoryContext cxt;
	MemoryContext old;
	DeletionCache *dc;

	if (snapshot->snapshot_type != SNAPSHOT_MVCC || meta->own)
		return DeletionLoad(relnode, meta, snapshot);
	if (DeletionCacheMatches(relnode, meta, snapshot))
		return DvCache->dv;

	if (DvCache)
		MemoryContextDelete(DvCache->cxt);
	DvCache = NULL;
	cxt = AllocSetContextCreate(TopTransactionContext, "compact fetch deletions",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	dc = palloc0(sizeof(DeletionCache));
	dc->cxt = cxt;
	dc->relnode = relnode;
	dc->fragment_id = meta->fragment_id;
	dc->xmin = snapshot->xmin;
	dc->xmax = snapshot->xmax;
	dc->curcid = snapshot->curcid;
	dc->xcnt = snapshot->xcnt;
	dc->subxcnt = snapshot->subxcnt;
	dc->suboverflowed = snapshot->suboverflowed;
	dc->xip = palloc(sizeof(TransactionId) * Max(snapshot->xcnt, 1));
	if (snapshot->xcnt > 0)
		memcpy(dc->xip, snapshot->xip, sizeof(TransactionId) * snapshot->xcnt);
	dc->subxip = palloc(sizeof(TransactionId) * Max(snapshot->subxcnt, 1));
	if (snapshot->subxcnt > 0)
		memcpy(dc->subxip, snapshot->subxip, sizeof(TransactionId) * snapshot->subxcnt);
	dc->dv = DeletionLoad(relnode, meta, snapshot);
	MemoryContextSwitchTo(old);
	DvCache = dc;
	return dc->dv;
}

static void
FetchCacheClose(void)
{
	if (Cache == NULL)
		return;
	if (Cache->reader)
		FragmentReaderClose(Cache->reader);
	MemoryContextDelete(Cache->cxt);
	Cache = NULL;
}

/* Make the cache hold the given fragment of rel. */
static void
FetchCacheOpen(Relation rel, const FragmentMeta *meta)
{
	MemoryContext cxt;
	MemoryContext old;
	TupleDesc	desc = RelationGetDescr(rel);
	int			start = 0;

	if (Cache && Cache->relnode == rel->rd_node.relNode &&
		Cache->meta.fragment_id == meta->fragment_id &&
		Cache->natts == desc->natts)
		return;
	FetchCacheClose();

	cxt = AllocSetContextCreate(TopTransactionContext, "compact fetch",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	Cache = palloc0(sizeof(FetchCache));
	Cache->cxt = cxt;
	Cache->rgcxt = AllocSetContextCreate(cxt, "compact fetch row group",
										 ALLOCSET_DEFAULT_SIZES);
	Cache->relnode = rel->rd_node.relNode;
	Cache->meta = *meta;
	Cache->meta.stats = NULL;
	Cache->meta.cids = NULL;
	Cache->reader = FragmentReaderOpen(CompactFragmentPath(MyDatabaseId,
														   rel->rd_node.relNode,
														   meta->fragment_id,
														   meta->file_xid));
	Cache->nrg = FragmentReaderNumRowGroups(Cache->reader);
	Cache->rg_start = palloc(sizeof(int) * (Cache->nrg + 1));
	for (int rg = 0; rg < Cache->nrg; rg++)
	{
		Cache->rg_start[rg] = start;
		start += FragmentReaderRowGroupRows(Cache->reader, rg);
	}
	Cache->rg_start[Cache->nrg] = start;
	Cache->natts = desc->natts;
	Cache->colmap = palloc(sizeof(int) * Max(desc->natts, 1));
	for (int a = 0; a < desc->natts; a++)
		Cache->colmap[a] = TupleDescAttr(desc, a)->attisdropped ? -1 :
			FragmentReaderFindColumn(Cache->reader, a + 1);
	Cache->rg = -1;
	MemoryContextSwitchTo(old);
}

/* Put row offset of the cached fragment into slot. */
static void
FetchCacheRow(Relation rel, uint32 offset, TupleTableSlot *slot)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			lo = 0;
	int			hi = Cache->nrg - 1;
	int			row;

	/* binary search for the row group */
	while (lo < hi)
	{
		int			mid = (lo + hi + 1) / 2;

		if (Cache->rg_start[mid] <= (int) offset)
			lo = mid;
		else
			hi = mid - 1;
	}
	if (Cache->rg != lo)
	{
		int			nrows = FragmentReaderRowGroupRows(Cache->reader, lo);
		MemoryContext old;

		Cache->rg = -1;
		MemoryContextReset(Cache->rgcxt);
		old = MemoryContextSwitchTo(Cache->rgcxt);
		Cache->values = palloc0(sizeof(Datum *) * Max(desc->natts, 1));
		Cache->isnull = palloc0(sizeof(bool *) * Max(desc->natts, 1));
		for (int a = 0; a < desc->natts; a++)
		{
			if (Cache->colmap[a] < 0)
				continue;
			Cache->values[a] = palloc(sizeof(Datum) * nrows);
			Cache->isnull[a] = palloc(sizeof(bool) * nrows);
			FragmentReaderReadColumn(Cache->reader, lo, Cache->colmap[a],
									 Cache->values[a], Cache->isnull[a]);
		}
		MemoryContextSwitchTo(old);
		Cache->rg = lo;
	}

	row = offset - Cache->rg_start[lo];
	ExecClearTuple(slot);
	for (int a = 0; a < desc->natts; a++)
	{
		if (Cache->colmap[a] >= 0)
		{
			slot->tts_values[a] = Cache->values[a][row];
			slot->tts_isnull[a] = Cache->isnull[a][row];
		}
		else
			CompactFillMissing(desc, a + 1, &slot->tts_values[a],
							   &slot->tts_isnull[a]);
	}
	ExecStoreVirtualTuple(slot);
	/* the cached row group may be replaced by the next fetch */
	ExecMaterializeSlot(slot);
}

/* Put row of a write segment into slot. */
static void
SegmentRow(Relation rel, WriteSegment *seg, int row, TupleTableSlot *slot)
{
	TupleDesc	desc = RelationGetDescr(rel);

	ExecClearTuple(slot);
	for (int a = 0; a < desc->natts; a++)
	{
		if (a < seg->natts)
		{
			slot->tts_values[a] = seg->values[a][row];
			slot->tts_isnull[a] = seg->isnull[a][row];
		}
		else
			CompactFillMissing(desc, a + 1, &slot->tts_values[a],
							   &slot->tts_isnull[a]);
	}
	ExecStoreVirtualTuple(slot);
	/* a flush may free the segment while the slot lives on */
	ExecMaterializeSlot(slot);
}

/*
 * The fragment that holds a row number, whoever can see it (for locking and
 * deleting: the row came from a scan, so its fragment exists).
 */
bool
CompactFragmentOfRow(Relation rel, int64 rownum, FragmentMeta *meta)
{
	SnapshotData snap;

	InitNonVacuumableSnapshot(snap, GlobalVisTestFor(rel));
	return ManifestFindRow(rel->rd_node.relNode, rownum, &snap, meta);
}

/*
 * Fetch a row by row number if the snapshot sees it; slot may be NULL to
 * test visibility only.
 */
bool
CompactFetchRow(Relation rel, int64 rownum, Snapshot snapshot,
				TupleTableSlot *slot)
{
	WriteSegment *seg;
	FragmentMeta meta;
	bool		any = snapshot->snapshot_type == SNAPSHOT_ANY;
	bool		found;
	uint32		offset;

	/* as HeapTupleSatisfiesDirty does: the caller leaves these unset */
	if (snapshot->snapshot_type == SNAPSHOT_DIRTY)
	{
		snapshot->xmin = InvalidTransactionId;
		snapshot->xmax = InvalidTransactionId;
		snapshot->speculativeToken = 0;
	}

	if (rownum < 0 || rownum >= COMPACT_MAX_ROW_NUMBER)
		return false;

	/* own rows still in memory */
	seg = WriteStateFindRow(rel->rd_node, rownum);
	if (seg != NULL)
	{
		int			row = (int) (rownum - seg->first_row);

		if (!WriteStateRowVisible(seg, row, snapshot) ||
			WriteStateIsDeleted(rel->rd_node, rownum, snapshot, NULL))
			return false;
		if (slot)
		{
			SegmentRow(rel, seg, row, slot);
			slot->tts_tableOid = RelationGetRelid(rel);
			CompactRowNumberToTid(rownum, &slot->tts_tid);
		}
		return true;
	}

	if (any)
		found = CompactFragmentOfRow(rel, rownum, &meta);
	else if (snapshot->snapshot_type == SNAPSHOT_DIRTY)
	{
		/*
		 * A unique check.  A fragment that a running compaction is writing
		 * holds copies of rows that exist in the fragments it replaces: the
		 * copy is no new row, skip it; and a fragment that a running
		 * compaction is replacing still holds its rows, without anybody
		 * deleting them.  Neither is a reason to wait for the compaction,
		 * which may itself be waiting for our row locks.
		 */
		SnapshotData dirty;

		InitDirtySnapshot(dirty);
		found = ManifestFindRow(rel->rd_node.relNode, rownum, &dirty, &meta);
		if (found && TransactionIdIsValid(dirty.xmin) && meta.compacted)
			found = false;
		else if (found)
		{
			snapshot->xmin = dirty.xmin;
			if (!meta.replaced_by_compaction)
				snapshot->xmax = dirty.xmax;
		}
	}
	else
		found = ManifestFindRow(rel->rd_node.relNode, rownum, snapshot, &meta);

	if (!found)
	{
		/*
		 * Another backend may be inserting this row through a write segment
		 * it has not flushed yet.  A dirty snapshot must then wait for it.
		 */
		if (snapshot->snapshot_type == SNAPSHOT_DIRTY)
		{
			TransactionId xid = WriteStateInsertingXid(rel->rd_node, rownum);

			if (TransactionIdIsValid(xid) && !TransactionIdIsCurrentTransactionId(xid) &&
				TransactionIdIsInProgress(xid))
			{
				snapshot->xmin = xid;
				if (slot)
				{
					ExecClearTuple(slot);
					for (int a = 0; a < slot->tts_tupleDescriptor->natts; a++)
						slot->tts_isnull[a] = true;
					ExecStoreVirtualTuple(slot);
				}
				return true;
			}
		}
		return false;
	}

	offset = (uint32) (rownum - meta.first_row);
	if (offset >= FragmentVisibleRows(&meta, snapshot))
		return false;
	if (!any)
	{
		DeletionVector *dv = FetchDeletions(rel, &meta, snapshot);

		if (dv && DeletionVectorIsSet(dv, offset))
			return false;
		if (WriteStateIsDeleted(rel->rd_node, rownum, snapshot, NULL))
			return false;
	}

	if (slot)
	{
		FetchCacheOpen(rel, &meta);
		FetchCacheRow(rel, offset, slot);
		slot->tts_tableOid = RelationGetRelid(rel);
		CompactRowNumberToTid(rownum, &slot->tts_tid);
	}
	return true;
}
