/*-------------------------------------------------------------------------
 * scan.c
 *	  Sequential scans of compact tables.
 *
 * A scan reads, in row-number order, the "sources" its snapshot sees: the
 * fragments of the manifest and, for the scanning transaction, its own write
 * segments still in memory.  A fragment is read one row group at a time,
 * every column decoded into arrays in a per-batch memory context; a slot
 * handed out points into that memory until the next call.  Rows are skipped
 * when a deletion vector the snapshot sees, or this transaction's pending
 * deletes, mark them.
 *
 * The position is (source, row group, row) of the last row returned, so a
 * scan can move forward and backward (SCROLL cursors).  A parallel scan
 * hands out whole sources through an atomic counter; when the leader has
 * changes of its own in memory, the workers cannot see them, so the leader
 * then scans everything alone.
 *
 * IDENTIFICATION
 *	  src/tableam/scan.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/relscan.h"
#include "access/xact.h"
#include "common/pg_prng.h"
#include "commands/vacuum.h"
#include "miscadmin.h"
#include "nodes/tidbitmap.h"
#include "optimizer/optimizer.h"
#include "port/atomics.h"
#include "storage/procarray.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "compact.h"
#include "format/files.h"
#include "tableam/tableam.h"

typedef struct ScanSource
{
	int64		first_row;
	FragmentMeta *meta;			/* a fragment, or */
	WriteSegment *seg;			/* a write segment of this transaction */
	int			nrows;			/* segment rows when the scan began */
} ScanSource;

typedef struct CompactParallelScanData
{
	ParallelTableScanDescData base;
	pg_atomic_uint64 next_source;
	bool		leader_only;
} CompactParallelScanData;

typedef struct CompactScanDescData
{
	TableScanDescData rs_base;
	MemoryContext scancxt;
	MemoryContext batchcxt;
	TupleDesc	desc;
	Snapshot	listsnap;		/* snapshot that lists fragments */
	bool		unregister;		/* listsnap is ours to unregister */
	SnapshotData nonvacuumable;

	ScanSource *sources;
	int			nsources;
	bool		started;
	bool		parallel;

	/* position of the last row returned */
	int			src;
	int			rg;
	int			row;

	/* the loaded source */
	int			loaded;
	FragmentReader *reader;
	DeletionVector *dv;
	uint32		visible_rows;
	int		   *colmap;			/* attnum - 1 -> reader column or -1 */
	int			nrg;
	int		   *rg_start;		/* first offset of each row group */

	/* the loaded batch */
	int			batch_rg;
	int			batch_rows;
	Datum	  **values;			/* per attribute */
	bool	  **isnull;
	/* decode buffers of fragment batches, reused from row group to row group */
	Datum	  **valbuf;
	bool	  **nullbuf;
	int			bufrows;
	Datum	   *nullvalues;		/* bufrows zeroes and trues: unread columns */
	bool	   *nulls;

	CompactScanFilter *filter;	/* what may be skipped, or NULL */
	int		   *sel;			/* visible rows of a batch (NextBatch) */
	int			selcap;

	/* bitmap scans: the row numbers of the current block to try */
	int64		bm_rows[COMPACT_ROWS_PER_BLOCK];
	int			bm_nrows;
	int			bm_next;

	bool		own_deletes;
	bool		include_deleted;
	bool		last_deleted;
	bool		analyze_done;
	double		analyze_fraction;	/* of row groups ANALYZE decodes */
	double		analyze_skipped;	/* live rows in row groups it skipped */
} CompactScanDescData;

typedef CompactScanDescData *CompactScanDesc;

static int
CompareSources(const void *a, const void *b)
{
	const ScanSource *x = a;
	const ScanSource *y = b;

	return x->first_row < y->first_row ? -1 : (x->first_row > y->first_row ? 1 : 0);
}

/*
 * ANALYZE keeps a random sample of 300 x the largest statistics target rows
 * out of whatever we return.  Decoding every row group of a large table for
 * that is waste: decode each with a probability that yields about three
 * times the sample, and count the rows of the others as live.
 */
static double
AnalyzeFraction(CompactScanDesc scan)
{
	TupleDesc	desc = scan->desc;
	int			target = 0;
	double		rows = 0;

	for (int a = 0; a < desc->natts; a++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, a);
		int			t = att->attstattarget < 0 ? default_statistics_target : att->attstattarget;

		if (!att->attisdropped)
			target = Max(target, t);
	}
	for (int i = 0; i < scan->nsources; i++)
		rows += scan->sources[i].meta ? scan->sources[i].meta->row_count :
			scan->sources[i].nrows;
	if (rows <= 0)
		return 1.0;
	return Min(1.0, 3.0 * 300 * Max(target, 1) / rows);
}

/*
 * List what the scan will read: fragments, then own segments, sorted by row
 * number.
 */
static void
ScanListSources(CompactScanDesc scan)
{
	Relation	rel = scan->rs_base.rs_rd;
	List	   *fragments = ManifestList(rel->rd_node.relNode, scan->listsnap);
	List	   *segments = WriteStateSegments(rel->rd_node);
	ListCell   *lc;
	int			n = 0;

	scan->sources = palloc(sizeof(ScanSource) *
						   Max(list_length(fragments) + list_length(segments), 1));
	foreach(lc, fragments)
	{
		FragmentMeta *meta = lfirst(lc);

		scan->sources[n].first_row = meta->first_row;
		scan->sources[n].meta = meta;
		scan->sources[n].seg = NULL;
		scan->sources[n].nrows = 0;
		n++;
	}
	foreach(lc, segments)
	{
		WriteSegment *seg = lfirst(lc);

		scan->sources[n].first_row = seg->first_row;
		scan->sources[n].meta = NULL;
		scan->sources[n].seg = seg;
		scan->sources[n].nrows = seg->nrows;
		n++;
	}
	scan->nsources = n;
	qsort(scan->sources, n, sizeof(ScanSource), CompareSources);
}

TableScanDesc
compact_scan_begin(Relation rel, Snapshot snapshot, int nkeys, ScanKey key,
				   ParallelTableScanDesc pscan, uint32 flags)
{
	MemoryContext scancxt = AllocSetContextCreate(CurrentMemoryContext,
												  "compact scan",
												  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(scancxt);
	CompactScanDesc scan = palloc0(sizeof(CompactScanDescData));

	scan->rs_base.rs_rd = rel;
	scan->rs_base.rs_snapshot = snapshot;
	scan->rs_base.rs_nkeys = nkeys;
	scan->rs_base.rs_key = key;
	scan->rs_base.rs_flags = flags;
	scan->rs_base.rs_parallel = pscan;
	scan->scancxt = scancxt;
	scan->batchcxt = AllocSetContextCreate(scancxt, "compact scan batch",
										   ALLOCSET_DEFAULT_SIZES);
	scan->desc = RelationGetDescr(rel);
	scan->loaded = -1;
	scan->batch_rg = -1;

	if (snapshot == NULL)
	{
		/* ANALYZE: read what is committed now */
		scan->listsnap = RegisterSnapshot(GetLatestSnapshot());
		scan->rs_base.rs_snapshot = scan->listsnap;
		scan->unregister = true;
	}
	else if (snapshot->snapshot_type == SNAPSHOT_ANY)
	{
		/*
		 * Every row that someone may still see: fragments whose manifest
		 * rows are not dead, and deleted rows too (the caller asks which).
		 */
		InitNonVacuumableSnapshot(scan->nonvacuumable, GlobalVisTestFor(rel));
		scan->listsnap = &scan->nonvacuumable;
	}
	else
		scan->listsnap = snapshot;

	ScanListSources(scan);
	scan->own_deletes = WriteStateHasDeletes(rel->rd_node);
	scan->analyze_fraction = 1.0;
	if (flags & SO_TYPE_ANALYZE)
		scan->analyze_fraction = AnalyzeFraction(scan);

	if (pscan != NULL)
	{
		CompactParallelScanData *shared = (CompactParallelScanData *) pscan;

		scan->parallel = true;
		if (shared->leader_only)
		{
			/*
			 * Only the leader sees this transaction's own changes (a plan
			 * made before them; the planner avoids parallel scans then).
			 * Without the leader, nobody would read the table: refuse.
			 */
			if (IsParallelWorker() && !parallel_leader_participation)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot scan compact table \"%s\" in parallel workers after the transaction changed it",
								RelationGetRelationName(rel)),
						 errhint("Set parallel_leader_participation = on, or max_parallel_workers_per_gather = 0, for this query.")));
			if (IsParallelWorker())
				scan->nsources = 0;
			scan->parallel = false;
		}
	}

	MemoryContextSwitchTo(old);
	return (TableScanDesc) scan;
}

static void
ScanCloseSource(CompactScanDesc scan)
{
	if (scan->reader)
		FragmentReaderClose(scan->reader);
	scan->reader = NULL;
	scan->dv = NULL;
	scan->loaded = -1;
	scan->batch_rg = -1;
}

void
compact_scan_end(TableScanDesc sscan)
{
	CompactScanDesc scan = (CompactScanDesc) sscan;

	ScanCloseSource(scan);
	for (int i = 0; i < scan->nsources; i++)
		if (scan->sources[i].seg)
			WriteSegmentUnpin(scan->sources[i].seg);
	if (scan->unregister)
		UnregisterSnapshot(scan->listsnap);
	if (scan->rs_base.rs_flags & SO_TEMP_SNAPSHOT)
		UnregisterSnapshot(scan->rs_base.rs_snapshot);
	MemoryContextDelete(scan->scancxt);
}

void
compact_scan_rescan(TableScanDesc sscan, ScanKey key, bool set_params,
					bool allow_strat, bool allow_sync, bool allow_pagemode)
{
	CompactScanDesc scan = (CompactScanDesc) sscan;

	ScanCloseSource(scan);
	scan->started = false;
	scan->own_deletes = WriteStateHasDeletes(scan->rs_base.rs_rd->rd_node);
}

/*
 * Make source i the loaded one: open its file and read its deletion vector.
 */
static void
ScanLoadSource(CompactScanDesc scan, int i)
{
	ScanSource *source = &scan->sources[i];
	Relation	rel = scan->rs_base.rs_rd;
	MemoryContext old;

	if (scan->loaded == i)
		return;
	ScanCloseSource(scan);
	old = MemoryContextSwitchTo(scan->scancxt);
	if (source->seg)
	{
		scan->nrg = source->nrows > 0 ? 1 : 0;
		scan->visible_rows = source->nrows;
	}
	else if (scan->filter && scan->filter->fragment_may_match &&
			 !scan->filter->fragment_may_match(scan->filter->arg, source->meta))
	{
		/* its statistics rule it out: not even opened */
		scan->filter->fragments_skipped++;
		scan->nrg = 0;
		scan->visible_rows = 0;
	}
	else
	{
		FragmentMeta *meta = source->meta;
		char	   *path = CompactFragmentPath(MyDatabaseId, rel->rd_node.relNode,
											   meta->fragment_id, meta->file_xid);
		int			start = 0;

		if (scan->filter)
			scan->filter->fragments_scanned++;
		scan->reader = FragmentReaderOpen(path);
		if (FragmentReaderNumRows(scan->reader) != meta->row_count)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("fragment file \"%s\" does not match the manifest", path),
					 errdetail("The file holds " INT64_FORMAT " rows, the manifest says " INT64_FORMAT ".",
							   FragmentReaderNumRows(scan->reader), meta->row_count)));
		scan->nrg = FragmentReaderNumRowGroups(scan->reader);
		if (scan->rg_start)
			pfree(scan->rg_start);
		scan->rg_start = palloc(sizeof(int) * (scan->nrg + 1));
		for (int rg = 0; rg < scan->nrg; rg++)
		{
			scan->rg_start[rg] = start;
			start += FragmentReaderRowGroupRows(scan->reader, rg);
		}
		scan->rg_start[scan->nrg] = start;
		if (scan->colmap == NULL)
			scan->colmap = palloc(sizeof(int) * Max(scan->desc->natts, 1));
		for (int a = 0; a < scan->desc->natts; a++)
			scan->colmap[a] = TupleDescAttr(scan->desc, a)->attisdropped ? -1 :
				FragmentReaderFindColumn(scan->reader, a + 1);
		scan->dv = DeletionLoad(rel->rd_node.relNode, meta, scan->listsnap);
		scan->visible_rows = FragmentVisibleRows(meta, scan->rs_base.rs_snapshot);
	}
	scan->loaded = i;
	MemoryContextSwitchTo(old);
}

/* Decode row group rg of the loaded source into the batch arrays. */
static void
ScanLoadBatch(CompactScanDesc scan, int rg)
{
	ScanSource *source = &scan->sources[scan->loaded];
	int			natts = scan->desc->natts;
	MemoryContext old;

	if (scan->batch_rg == rg)
		return;
	MemoryContextReset(scan->batchcxt);
	old = MemoryContextSwitchTo(scan->batchcxt);
	scan->values = palloc(sizeof(Datum *) * Max(natts, 1));
	scan->isnull = palloc(sizeof(bool *) * Max(natts, 1));

	if (source->seg)
	{
		WriteSegment *seg = source->seg;

		scan->batch_rows = source->nrows;
		for (int a = 0; a < natts; a++)
		{
			if (a < seg->natts)
			{
				/*
				 * A copy of the arrays: rows this statement inserts into the
				 * same segment may grow (reallocate) them while we read.  The
				 * values they point to stay put: the arena only adds blocks,
				 * and our pin keeps the segment's memory after a flush.
				 */
				scan->values[a] = palloc(sizeof(Datum) * Max(scan->batch_rows, 1));
				scan->isnull[a] = palloc(sizeof(bool) * Max(scan->batch_rows, 1));
				memcpy(scan->values[a], seg->values[a], sizeof(Datum) * scan->batch_rows);
				memcpy(scan->isnull[a], seg->isnull[a], sizeof(bool) * scan->batch_rows);
			}
			else
			{
				Datum		v;
				bool		n;

				CompactFillMissing(scan->desc, a + 1, &v, &n);
				scan->values[a] = palloc(sizeof(Datum) * Max(scan->batch_rows, 1));
				scan->isnull[a] = palloc(sizeof(bool) * Max(scan->batch_rows, 1));
				for (int r = 0; r < scan->batch_rows; r++)
				{
					scan->values[a][r] = v;
					scan->isnull[a][r] = n;
				}
			}
		}
	}
	else
	{
		int			nrows = FragmentReaderRowGroupRows(scan->reader, rg);

		if (scan->analyze_fraction < 1.0 &&
			pg_prng_double(&pg_global_prng_state) >= scan->analyze_fraction)
		{
			double		live = 1.0;

			if (scan->dv)
				live -= (double) scan->dv->ndeleted / scan->dv->nrows;
			scan->analyze_skipped += nrows * live;
			scan->batch_rows = 0;
			scan->batch_rg = rg;
			MemoryContextSwitchTo(old);
			return;
		}
		if (scan->filter && scan->filter->rowgroup_may_match)
		{
			if (!scan->filter->rowgroup_may_match(scan->filter->arg,
												  scan->reader, rg))
			{
				scan->filter->rowgroups_skipped++;
				scan->batch_rows = 0;
				scan->batch_rg = rg;
				MemoryContextSwitchTo(old);
				return;
			}
			scan->filter->rowgroups_scanned++;
		}
		scan->batch_rows = nrows;
		if (scan->bufrows < nrows)
		{
			/* grown in the scan's context: a page fault per batch is slow */
			MemoryContext bufold = MemoryContextSwitchTo(scan->scancxt);

			if (scan->valbuf == NULL)
			{
				scan->valbuf = palloc0(sizeof(Datum *) * Max(natts, 1));
				scan->nullbuf = palloc0(sizeof(bool *) * Max(natts, 1));
			}
			for (int a = 0; a < natts; a++)
			{
				if (scan->valbuf[a])
				{
					pfree(scan->valbuf[a]);
					pfree(scan->nullbuf[a]);
				}
				scan->valbuf[a] = CompactAllocLarge(scan->scancxt, sizeof(Datum) * nrows);
				scan->nullbuf[a] = CompactAllocLarge(scan->scancxt, sizeof(bool) * nrows);
			}
			/* the one column of NULLs that every unread column shows */
			if (scan->nulls)
			{
				pfree(scan->nullvalues);
				pfree(scan->nulls);
			}
			scan->nullvalues = palloc0(sizeof(Datum) * nrows);
			scan->nulls = palloc(sizeof(bool) * nrows);
			memset(scan->nulls, true, sizeof(bool) * nrows);
			scan->bufrows = nrows;
			MemoryContextSwitchTo(bufold);
		}
		for (int a = 0; a < natts; a++)
		{
			scan->values[a] = scan->valbuf[a];
			scan->isnull[a] = scan->nullbuf[a];
			if (scan->filter && scan->filter->needed && !scan->filter->needed[a])
			{
				/* not read by the query: NULL, never decoded */
				scan->values[a] = scan->nullvalues;
				scan->isnull[a] = scan->nulls;
			}
			else if (scan->colmap[a] >= 0)
				FragmentReaderReadColumn(scan->reader, rg, scan->colmap[a],
										 scan->values[a], scan->isnull[a]);
			else
			{
				Datum		v;
				bool		n;

				CompactFillMissing(scan->desc, a + 1, &v, &n);
				for (int r = 0; r < nrows; r++)
				{
					scan->values[a][r] = v;
					scan->isnull[a][r] = n;
				}
			}
		}
	}
	scan->batch_rg = rg;
	MemoryContextSwitchTo(old);
}

/* Next source for a parallel participant, or nsources when none is left. */
static int
ScanClaimSource(CompactScanDesc scan)
{
	CompactParallelScanData *shared = (CompactParallelScanData *) scan->rs_base.rs_parallel;
	uint64		next = pg_atomic_fetch_add_u64(&shared->next_source, 1);

	return next < (uint64) scan->nsources ? (int) next : scan->nsources;
}

/*
 * Move the position one row in the given direction, loading sources and
 * batches on the way.  Returns false past either end.
 */
static bool
ScanStep(CompactScanDesc scan, ScanDirection dir)
{
	bool		forward = ScanDirectionIsForward(dir) || scan->parallel;

	if (!scan->started)
	{
		scan->started = true;
		scan->src = forward ? -1 : scan->nsources;
		scan->rg = 0;
		scan->row = 0;
		scan->batch_rows = 0;
		if (forward)
			goto next_source;
		goto prev_source;
	}

	if (scan->src < 0 || scan->src >= scan->nsources)
	{
		/* at an end: turning around starts from that end */
		if (forward && scan->src < 0)
			goto next_source;
		if (!forward && scan->src >= scan->nsources)
			goto prev_source;
		return false;
	}

	if (forward)
	{
		if (++scan->row < scan->batch_rows)
			return true;
		while (++scan->rg < scan->nrg)
		{
			ScanLoadBatch(scan, scan->rg);
			scan->row = 0;
			if (scan->batch_rows > 0)
				return true;
		}
next_source:
		for (;;)
		{
			scan->src = scan->parallel ? ScanClaimSource(scan) : scan->src + 1;
			if (scan->src >= scan->nsources)
			{
				scan->src = scan->nsources;
				return false;
			}
			ScanLoadSource(scan, scan->src);
			for (scan->rg = 0; scan->rg < scan->nrg; scan->rg++)
			{
				ScanLoadBatch(scan, scan->rg);
				scan->row = 0;
				if (scan->batch_rows > 0)
					return true;
			}
		}
	}
	else
	{
		if (--scan->row >= 0)
			return true;
		while (--scan->rg >= 0)
		{
			ScanLoadBatch(scan, scan->rg);
			scan->row = scan->batch_rows - 1;
			if (scan->batch_rows > 0)
				return true;
		}
prev_source:
		for (;;)
		{
			if (--scan->src < 0)
			{
				scan->src = -1;
				return false;
			}
			ScanLoadSource(scan, scan->src);
			for (scan->rg = scan->nrg - 1; scan->rg >= 0; scan->rg--)
			{
				ScanLoadBatch(scan, scan->rg);
				scan->row = scan->batch_rows - 1;
				if (scan->batch_rows > 0)
					return true;
			}
		}
	}
}

/*
 * Is row `row` of the loaded batch one the scan returns?  Sets its row
 * number and whether it is deleted (returned only with include_deleted).
 */
static inline bool
ScanRowVisible(CompactScanDesc scan, int row, int64 *rownum, bool *deleted)
{
	ScanSource *source = &scan->sources[scan->src];
	uint32		offset;

	*deleted = false;
	if (source->seg)
	{
		offset = row;
		if (!WriteStateRowVisible(source->seg, row, scan->rs_base.rs_snapshot))
			return false;
	}
	else
	{
		offset = scan->rg_start[scan->rg] + row;
		if (offset >= scan->visible_rows)
			return false;
		if (scan->dv && DeletionVectorIsSet(scan->dv, offset))
			*deleted = true;
	}
	*rownum = source->first_row + offset;
	if (!*deleted && scan->own_deletes &&
		WriteStateIsDeleted(scan->rs_base.rs_rd->rd_node, *rownum,
							scan->include_deleted ? NULL : scan->rs_base.rs_snapshot,
							NULL))
		*deleted = true;
	return !*deleted || scan->include_deleted;
}

/* Row `row` of the loaded batch, row number rownum, into the slot. */
static void
ScanStoreRow(CompactScanDesc scan, int row, int64 rownum, TupleTableSlot *slot)
{
	for (int a = 0; a < scan->desc->natts; a++)
	{
		slot->tts_values[a] = scan->values[a][row];
		slot->tts_isnull[a] = scan->isnull[a][row];
	}
	ExecStoreVirtualTuple(slot);
	CompactRowNumberToTid(rownum, &slot->tts_tid);
	slot->tts_tableOid = RelationGetRelid(scan->rs_base.rs_rd);
}

bool
compact_scan_getnextslot(TableScanDesc sscan, ScanDirection direction,
						 TupleTableSlot *slot)
{
	CompactScanDesc scan = (CompactScanDesc) sscan;

	/*
	 * ALTER TABLE's rewrite reads the old rows with the old row type, which
	 * has fewer columns than the relation now (ADD COLUMN) and the old
	 * missing values (ALTER TYPE): decode and fill as the slot expects.
	 */
	if (scan->loaded < 0 && slot->tts_tupleDescriptor != scan->desc &&
		slot->tts_tupleDescriptor->natts <= scan->desc->natts)
		scan->desc = slot->tts_tupleDescriptor;

	ExecClearTuple(slot);
	while (ScanStep(scan, direction))
	{
		int64		rownum;
		bool		deleted;

		CHECK_FOR_INTERRUPTS();
		if (!ScanRowVisible(scan, scan->row, &rownum, &deleted))
			continue;
		ScanStoreRow(scan, scan->row, rownum, slot);
		scan->last_deleted = deleted;
		return true;
	}
	return false;
}

/*
 * The scan's next rows as arrays rather than slots (aggregates computed by
 * the custom scan): the rest of the loaded row group or write segment, or
 * the next one with a visible row.  batch->rows lists the visible rows, or
 * is NULL when all batch->nrows rows are.  false at the end.  Forward, and
 * without include_deleted.
 */
bool
CompactScanNextBatch(TableScanDesc sscan, CompactBatch *batch)
{
	CompactScanDesc scan = (CompactScanDesc) sscan;

	Assert(!scan->include_deleted);
	while (ScanStep(scan, ForwardScanDirection))
	{
		ScanSource *source = &scan->sources[scan->src];
		int			first = scan->row;
		int			n = 0;

		CHECK_FOR_INTERRUPTS();
		batch->values = scan->values;
		batch->isnull = scan->isnull;
		/* ScanStep goes on with the next batch */
		scan->row = scan->batch_rows - 1;
		if (first == 0 && source->seg == NULL && scan->dv == NULL &&
			!scan->own_deletes &&
			scan->rg_start[scan->rg] + scan->batch_rows <= scan->visible_rows)
		{
			batch->rows = NULL;
			batch->nrows = scan->batch_rows;
			return true;
		}
		if (scan->selcap < scan->batch_rows)
		{
			if (scan->sel)
				pfree(scan->sel);
			scan->sel = MemoryContextAlloc(scan->scancxt,
										   sizeof(int) * scan->batch_rows);
			scan->selcap = scan->batch_rows;
		}
		for (int r = first; r < scan->batch_rows; r++)
		{
			int64		rownum;
			bool		deleted;

			if (ScanRowVisible(scan, r, &rownum, &deleted))
				scan->sel[n++] = r;
		}
		if (n == 0)
			continue;
		batch->rows = scan->sel;
		batch->nrows = n;
		return true;
	}
	return false;
}

/* ------------------------------------------------------------------------
 * bitmap scans
 *
 * A bitmap names blocks of TIDs, that is ranges of COMPACT_ROWS_PER_BLOCK
 * row numbers, in row-number order.  Each row is looked up in the sources
 * the scan listed for its snapshot (as a sequential scan would read it) and
 * read from its decoded row group, which consecutive rows and blocks share.
 * PostgreSQL's own prefetching of main-fork blocks is switched off for
 * these scans (scan/bitmapscan.c).
 * ------------------------------------------------------------------------
 */
bool
compact_scan_bitmap_next_block(TableScanDesc sscan, TBMIterateResult *tbmres)
{
	CompactScanDesc scan = (CompactScanDesc) sscan;
	int64		first = (int64) tbmres->blockno * COMPACT_ROWS_PER_BLOCK;

	scan->bm_nrows = 0;
	scan->bm_next = 0;
	if (first >= COMPACT_MAX_ROW_NUMBER)
		return false;
	if (tbmres->ntuples >= 0)
	{
		/* exact: the offsets the index found */
		for (int i = 0; i < tbmres->ntuples; i++)
		{
			OffsetNumber off = tbmres->offsets[i];

			if (off >= 1 && off <= COMPACT_ROWS_PER_BLOCK)
				scan->bm_rows[scan->bm_nrows++] = first + off - 1;
		}
	}
	else
	{
		/* lossy: every row of the block, the quals are rechecked */
		for (int i = 0; i < COMPACT_ROWS_PER_BLOCK; i++)
			scan->bm_rows[scan->bm_nrows++] = first + i;
	}
	return scan->bm_nrows > 0;
}

/* the listed source that holds a row number, or -1 */
static int
ScanFindSource(CompactScanDesc scan, int64 rownum)
{
	int			lo = 0;
	int			hi = scan->nsources - 1;

	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;
		ScanSource *source = &scan->sources[mid];
		int64		end = source->first_row +
			(source->seg ? source->nrows : source->meta->row_count);

		if (rownum < source->first_row)
			hi = mid - 1;
		else if (rownum >= end)
			lo = mid + 1;
		else
			return mid;
	}
	return -1;
}

/* the row group of the loaded source that holds an offset */
static int
ScanFindRowGroup(CompactScanDesc scan, uint32 offset)
{
	int			lo = 0;
	int			hi = scan->nrg - 1;

	if (scan->sources[scan->loaded].seg)
		return 0;
	while (lo < hi)
	{
		int			mid = lo + (hi - lo + 1) / 2;

		if ((uint32) scan->rg_start[mid] <= offset)
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo;
}

bool
compact_scan_bitmap_next_tuple(TableScanDesc sscan, TBMIterateResult *tbmres,
							   TupleTableSlot *slot)
{
	CompactScanDesc scan = (CompactScanDesc) sscan;

	ExecClearTuple(slot);
	while (scan->bm_next < scan->bm_nrows)
	{
		int64		rownum = scan->bm_rows[scan->bm_next++];
		int			src = ScanFindSource(scan, rownum);
		uint32		offset;
		int			row;
		bool		deleted;

		CHECK_FOR_INTERRUPTS();
		if (src < 0)
			continue;
		ScanLoadSource(scan, src);
		if (scan->nrg == 0)
			continue;
		offset = (uint32) (rownum - scan->sources[src].first_row);
		scan->src = src;
		scan->rg = ScanFindRowGroup(scan, offset);
		ScanLoadBatch(scan, scan->rg);
		row = scan->sources[src].seg ? (int) offset :
			(int) (offset - scan->rg_start[scan->rg]);
		if (row >= scan->batch_rows ||
			!ScanRowVisible(scan, row, &rownum, &deleted))
			continue;
		ScanStoreRow(scan, row, rownum, slot);
		return true;
	}
	return false;
}

/*
 * Let the scan skip fragments, row groups and columns (the custom scan).
 * The filter must outlive the scan; its counters are added to.
 */
void
CompactScanSetFilter(TableScanDesc sscan, CompactScanFilter *filter)
{
	((CompactScanDesc) sscan)->filter = filter;
}

/* Index builds also want deleted rows, flagged. */
void
CompactScanSetIncludeDeleted(TableScanDesc sscan, bool include)
{
	((CompactScanDesc) sscan)->include_deleted = include;
}

bool
CompactScanLastRowDeleted(TableScanDesc sscan)
{
	return ((CompactScanDesc) sscan)->last_deleted;
}


/* ----------------------------------------------------------------
 * parallel scans
 * ----------------------------------------------------------------
 */

Size
compact_parallelscan_estimate(Relation rel)
{
	return sizeof(CompactParallelScanData);
}

Size
compact_parallelscan_initialize(Relation rel, ParallelTableScanDesc pscan)
{
	CompactParallelScanData *shared = (CompactParallelScanData *) pscan;

	shared->base.phs_relid = RelationGetRelid(rel);
	shared->base.phs_syncscan = false;
	pg_atomic_init_u64(&shared->next_source, 0);
	shared->leader_only = WriteStateHasDeletes(rel->rd_node) ||
		WriteStateBufferedRows(rel->rd_node) > 0;
	return sizeof(CompactParallelScanData);
}

void
compact_parallelscan_reinitialize(Relation rel, ParallelTableScanDesc pscan)
{
	CompactParallelScanData *shared = (CompactParallelScanData *) pscan;

	pg_atomic_write_u64(&shared->next_source, 0);
}


/* ----------------------------------------------------------------
 * ANALYZE
 *
 * The table has one block as far as PostgreSQL knows (the metapage), so
 * ANALYZE asks for block 0 once and samples from every row we return.
 * ----------------------------------------------------------------
 */

bool
compact_scan_analyze_next_block(TableScanDesc sscan, BlockNumber blockno,
								BufferAccessStrategy bstrategy)
{
	CompactScanDesc scan = (CompactScanDesc) sscan;

	if (scan->analyze_done)
		return false;
	scan->analyze_done = true;
	return true;
}

bool
compact_scan_analyze_next_tuple(TableScanDesc sscan, TransactionId OldestXmin,
								double *liverows, double *deadrows,
								TupleTableSlot *slot)
{
	CompactScanDesc scan = (CompactScanDesc) sscan;

	if (compact_scan_getnextslot(sscan, ForwardScanDirection, slot))
	{
		*liverows += 1;
		return true;
	}
	/* ANALYZE takes liverows as the table's row count */
	*liverows += scan->analyze_skipped;
	scan->analyze_skipped = 0;
	return false;
}
