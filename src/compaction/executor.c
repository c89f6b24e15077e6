/*-------------------------------------------------------------------------
 * executor.c
 *	  Run a compaction plan: rewrite each group of fragments into new ones.
 *
 * A group is rewritten like this, in one transaction:
 *
 *	 1. Read the sources' rows that the snapshot sees (deleted rows are
 *		dropped), in row order (merge) or through a sort on the clustering
 *		(sort, Z-order, Hilbert), which spills past maintenance_work_mem.
 *	 2. Write them to new fragment files of about the target size, with row
 *		numbers reserved from the metapage, statistics computed as written,
 *		and insert index entries for the new row numbers (the old entries
 *		stay until VACUUM removes the old fragments: snapshots that still see
 *		the old fragments keep finding their rows through them).
 *	 3. Record the new fragments in the manifest, delete the sources' rows,
 *		and write one row map per source (rowmap.h) so that transactions
 *		whose snapshots predate the commit can follow rows to their copies.
 *	 4. Take every row lock of the table (CompactLockAllFragments): this
 *		waits for the transactions that are deleting, updating or locking
 *		rows right now.  Then every deletion the sources received after our
 *		snapshot is committed; carry each onto the row's copy through the
 *		map.  The rewrite is never thrown away because of a concurrent
 *		DELETE or UPDATE.
 *
 * The table itself is locked in ShareUpdateExclusiveLock (as by VACUUM):
 * compactions of one table, VACUUM and DDL exclude each other, while
 * SELECT, INSERT, COPY, UPDATE and DELETE go on.  Inserts never wait; row
 * changes wait only for the short step 4.  With own_transactions (VACUUM's
 * form), each group commits on its own and a session lock keeps the table's
 * lock across them, so a cancelled or crashed job keeps the groups it
 * finished.  Old fragment files stay until no snapshot can see them; VACUUM
 * removes them with their maps and index entries.
 *
 * IDENTIFICATION
 *	  src/compaction/executor.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/genam.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/index.h"
#include "catalog/pg_opfamily.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/execnodes.h"
#include "portability/instr_time.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/tuplesort.h"

#include "compact.h"
#include "compaction/compaction.h"
#include "compaction/sortkey.h"
#include "format/files.h"
#include "format/rowmap.h"
#include "tableam/tableam.h"

/* Indexes of the table, ready for inserts of the new row numbers. */
typedef struct IndexTargets
{
	int			count;
	Relation   *rels;
	IndexInfo **infos;
	ExprState **predicates;
	EState	   *estate;
	TupleTableSlot *slot;
} IndexTargets;

/* New fragments being written for one group. */
typedef struct Output
{
	Relation	rel;
	int			natts;
	int			ncols;
	FragmentColumn *cols;
	const char *clustering;
	int64		next_row;		/* row number of the next row */
	int64		rows_per_fragment;
	IndexTargets *indexes;

	/* the fragment being written */
	FragmentWriter *writer;
	FragmentMeta *meta;
	int64		fragment_rows;

	/* the row group being filled: Datums per column, copies in bufcxt */
	Datum	  **values;
	bool	  **isnull;
	int			nbuf;
	MemoryContext bufcxt;

	List	   *written;		/* FragmentMeta of finished fragments */
	int64		bytes;
} Output;

static void
IndexTargetsOpen(Relation rel, IndexTargets *targets)
{
	List	   *indexids = RelationGetIndexList(rel);
	ListCell   *lc;
	int			i = 0;

	memset(targets, 0, sizeof(IndexTargets));
	if (indexids == NIL)
		return;
	targets->rels = palloc(sizeof(Relation) * list_length(indexids));
	targets->infos = palloc(sizeof(IndexInfo *) * list_length(indexids));
	targets->predicates = palloc0(sizeof(ExprState *) * list_length(indexids));
	targets->estate = CreateExecutorState();
	targets->slot = MakeSingleTupleTableSlot(RelationGetDescr(rel),
											 &TTSOpsVirtual);
	GetPerTupleExprContext(targets->estate)->ecxt_scantuple = targets->slot;
	foreach(lc, indexids)
	{
		Relation	index = index_open(lfirst_oid(lc), RowExclusiveLock);

		if (!index->rd_index->indisready)
		{
			index_close(index, RowExclusiveLock);
			continue;
		}
		targets->rels[i] = index;
		targets->infos[i] = BuildIndexInfo(index);
		if (targets->infos[i]->ii_Predicate != NIL)
			targets->predicates[i] =
				ExecPrepareQual(targets->infos[i]->ii_Predicate, targets->estate);
		i++;
	}
	targets->count = i;
}

static void
IndexTargetsClose(IndexTargets *targets)
{
	for (int i = 0; i < targets->count; i++)
		index_close(targets->rels[i], RowExclusiveLock);
	if (targets->estate)
	{
		ExecDropSingleTupleTableSlot(targets->slot);
		FreeExecutorState(targets->estate);
	}
}

/* Insert the index entries of one new row. */
static void
IndexTargetsInsert(IndexTargets *targets, Relation rel, int64 rownum,
				   Datum *values, bool *isnull)
{
	TupleTableSlot *slot = targets->slot;
	ExprContext *econtext = GetPerTupleExprContext(targets->estate);
	Datum		ivalues[INDEX_MAX_KEYS];
	bool		iisnull[INDEX_MAX_KEYS];
	ItemPointerData tid;

	ExecClearTuple(slot);
	memcpy(slot->tts_values, values, sizeof(Datum) * slot->tts_tupleDescriptor->natts);
	memcpy(slot->tts_isnull, isnull, sizeof(bool) * slot->tts_tupleDescriptor->natts);
	ExecStoreVirtualTuple(slot);
	CompactRowNumberToTid(rownum, &tid);
	slot->tts_tid = tid;

	for (int i = 0; i < targets->count; i++)
	{
		if (targets->predicates[i] && !ExecQual(targets->predicates[i], econtext))
			continue;
		FormIndexDatum(targets->infos[i], slot, targets->estate, ivalues, iisnull);
		index_insert(targets->rels[i], ivalues, iisnull, &tid, rel,
					 UNIQUE_CHECK_NO, false, targets->infos[i]);
	}
	ResetExprContext(econtext);
}

static void
OutputFlushRowGroup(Output *out)
{
	if (out->nbuf == 0)
		return;
	FragmentWriterAddRowGroup(out->writer, out->nbuf, out->values, out->isnull);
	out->nbuf = 0;
	MemoryContextReset(out->bufcxt);
}

static void
OutputFinishFragment(Output *out)
{
	FragmentInfo info;
	FragmentMeta *meta = out->meta;

	OutputFlushRowGroup(out);
	FragmentWriterFinish(out->writer, &info);
	out->writer = NULL;
	meta->row_count = info.row_count;
	meta->bytes = info.bytes;
	meta->row_groups = info.row_groups;
	meta->stats = FragmentStatsSerialize(out->ncols, out->cols, info.stats);
	meta->cids = NULL;
	meta->clustering = (char *) out->clustering;
	ManifestInsert(out->rel->rd_node.relNode, meta, "compact",
				   GetCurrentCommandId(true), false);
	out->written = lappend(out->written, meta);
	out->bytes += info.bytes;
	out->meta = NULL;
}

static void
OutputBeginFragment(Output *out)
{
	FragmentMeta *meta = palloc0(sizeof(FragmentMeta));
	char	   *path;

	meta->fragment_id = MetapageNextFragmentId(out->rel);
	meta->file_xid = GetTopTransactionId();
	meta->first_row = out->next_row;
	path = CompactFragmentPath(MyDatabaseId, out->rel->rd_node.relNode,
							   meta->fragment_id, meta->file_xid);
	out->writer = FragmentWriterBegin(path, out->ncols, out->cols,
									  compact_compression_level);
	out->meta = meta;
	out->fragment_rows = 0;
}

/*
 * Append one row (values of every attribute of the table) and return its
 * new row number.
 */
static int64
OutputAddRow(Output *out, Datum *values, bool *isnull)
{
	int64		rownum;
	MemoryContext old;

	if (out->writer == NULL)
		OutputBeginFragment(out);
	rownum = out->next_row++;

	old = MemoryContextSwitchTo(out->bufcxt);
	for (int c = 0; c < out->ncols; c++)
	{
		const FragmentColumn *col = &out->cols[c];
		int			a = col->attnum - 1;

		out->isnull[c][out->nbuf] = isnull[a];
		out->values[c][out->nbuf] = isnull[a] ? (Datum) 0 :
			(col->typbyval ? values[a] :
			 datumCopy(values[a], false, col->typlen));
	}
	MemoryContextSwitchTo(old);

	if (out->indexes->count > 0)
		IndexTargetsInsert(out->indexes, out->rel, rownum, values, isnull);

	out->nbuf++;
	out->fragment_rows++;
	if (out->nbuf == compact_row_group_size)
		OutputFlushRowGroup(out);
	if (out->fragment_rows >= out->rows_per_fragment)
		OutputFinishFragment(out);
	return rownum;
}

/*
 * Append rows given by a permutation of column arrays that outlive the
 * output's row groups (no copies): row i of the output is row rows[i] of
 * values/isnull (per attribute).  Filled column by column, which is kinder
 * to the caches than row by row.  newrows[i] gets each row's row number.
 */
static void
OutputAddGathered(Output *out, Datum **values, bool **isnull,
				  const int64 *rows, int64 n, int64 *newrows)
{
	int64		done = 0;

	while (done < n)
	{
		int64		room;
		int			k;

		if (out->writer == NULL)
			OutputBeginFragment(out);
		room = Min(compact_row_group_size - out->nbuf,
				   out->rows_per_fragment - out->fragment_rows);
		k = (int) Min(room, n - done);
		for (int c = 0; c < out->ncols; c++)
		{
			int			a = out->cols[c].attnum - 1;
			Datum	   *dst = out->values[c] + out->nbuf;
			bool	   *dstnull = out->isnull[c] + out->nbuf;
			const Datum *src = values[a];
			const bool *srcnull = isnull[a];

			for (int j = 0; j < k; j++)
			{
				int64		r = rows[done + j];

				dst[j] = src[r];
				dstnull[j] = srcnull[r];
			}
		}
		for (int j = 0; j < k; j++)
		{
			newrows[done + j] = out->next_row + j;
			if (out->indexes->count > 0)
			{
				int			natts = out->natts;
				Datum		v[MaxTupleAttributeNumber];
				bool		nl[MaxTupleAttributeNumber];

				for (int a = 0; a < natts; a++)
				{
					v[a] = values[a][rows[done + j]];
					nl[a] = isnull[a][rows[done + j]];
				}
				IndexTargetsInsert(out->indexes, out->rel, out->next_row + j, v, nl);
			}
		}
		out->next_row += k;
		out->nbuf += k;
		out->fragment_rows += k;
		done += k;
		if (out->nbuf == compact_row_group_size)
			OutputFlushRowGroup(out);
		if (out->fragment_rows >= out->rows_per_fragment)
			OutputFinishFragment(out);
		CHECK_FOR_INTERRUPTS();
	}
}

/* Can the output take row groups of this fragment as they are? */
static bool
OutputCanCopy(Output *out, FragmentReader *reader)
{
	if (FragmentReaderNumColumns(reader) != out->ncols)
		return false;
	for (int c = 0; c < out->ncols; c++)
	{
		const FragmentColumn *rc = FragmentReaderColumn(reader, c);
		const FragmentColumn *oc = &out->cols[c];

		if (rc->attnum != oc->attnum || rc->typid != oc->typid ||
			rc->typlen != oc->typlen || rc->typbyval != oc->typbyval ||
			rc->typalign != oc->typalign)
			return false;
	}
	return true;
}

/*
 * Append a whole row group of a source by copying its pages; values and
 * isnull (per attribute, may be NULL without indexes) feed the index
 * entries.  Returns the new row number of its first row.
 */
static int64
OutputCopyRowGroup(Output *out, FragmentReader *reader, int rowgroup, int nrows,
				   Datum **values, bool **isnull)
{
	int64		first;

	if (out->writer == NULL)
		OutputBeginFragment(out);
	/* rows buffered before it go first, as a row group of their own */
	OutputFlushRowGroup(out);
	first = out->next_row;
	Assert(FragmentWriterCanCopy(out->writer, reader));
	FragmentWriterCopyRowGroup(out->writer, reader, rowgroup);
	out->next_row += nrows;
	out->fragment_rows += nrows;

	if (out->indexes->count > 0)
	{
		int			natts = out->natts;
		Datum	   *v = palloc(sizeof(Datum) * natts);
		bool	   *n = palloc(sizeof(bool) * natts);

		for (int r = 0; r < nrows; r++)
		{
			for (int a = 0; a < natts; a++)
			{
				v[a] = values[a][r];
				n[a] = isnull[a][r];
			}
			IndexTargetsInsert(out->indexes, out->rel, first + r, v, n);
		}
		pfree(v);
		pfree(n);
	}
	if (out->fragment_rows >= out->rows_per_fragment)
		OutputFinishFragment(out);
	return first;
}

static void
OutputInit(Output *out, Relation rel, const CompactionSettings *settings,
		   const CompactionGroup *group, int64 first_row,
		   const char *clustering, IndexTargets *indexes)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int64		live = group->rows - group->deleted;
	double		row_bytes = group->rows > 0 ? (double) group->bytes / group->rows : 1;
	int64		per_fragment;

	memset(out, 0, sizeof(Output));
	out->rel = rel;
	out->natts = desc->natts;
	out->cols = CompactFragmentColumns(desc, desc->natts, true, &out->ncols);
	out->clustering = clustering;
	out->next_row = first_row;
	out->indexes = indexes;

	/* whole row groups per fragment, fragments of about the target size */
	per_fragment = (int64) (settings->target_file_bytes / Max(row_bytes, 1.0));
	per_fragment = Max(per_fragment, compact_row_group_size);
	per_fragment = (per_fragment + compact_row_group_size - 1) /
		compact_row_group_size * compact_row_group_size;
	/* split evenly: no tiny last fragment */
	if (live > per_fragment)
	{
		int64		nfrag = (live + per_fragment - 1) / per_fragment;

		per_fragment = (live + nfrag - 1) / nfrag;
	}
	out->rows_per_fragment = Max(per_fragment, 1);

	out->values = palloc(sizeof(Datum *) * Max(out->ncols, 1));
	out->isnull = palloc(sizeof(bool *) * Max(out->ncols, 1));
	for (int c = 0; c < out->ncols; c++)
	{
		out->values[c] = palloc(sizeof(Datum) * compact_row_group_size);
		out->isnull[c] = palloc(sizeof(bool) * compact_row_group_size);
	}
	out->bufcxt = AllocSetContextCreate(CurrentMemoryContext,
										"compact output row group",
										ALLOCSET_DEFAULT_SIZES);
}

static void
OutputFinish(Output *out)
{
	if (out->writer != NULL)
		OutputFinishFragment(out);
	MemoryContextDelete(out->bufcxt);
}

/*
 * Reads a source fragment's row groups, one at a time, as rows with the
 * values of every attribute of the table.
 */
typedef struct SourceReader
{
	FragmentReader *reader;
	TupleDesc	desc;
	int		   *column_of;		/* per attribute: reader column or -1 */
	Datum	  **values;			/* [natts][rows of the row group] */
	bool	  **isnull;
	int			rowgroup;
	int			rows;
	bool		decoded;		/* values/isnull hold the row group */
	bool		keep;			/* keep every row group's values, not just the last */
	MemoryContext cxt;
} SourceReader;

static void
SourceOpen(SourceReader *src, Relation rel, const FragmentMeta *meta)
{
	char	   *path = CompactFragmentPath(MyDatabaseId, rel->rd_node.relNode,
										   meta->fragment_id, meta->file_xid);

	memset(src, 0, sizeof(SourceReader));
	src->desc = RelationGetDescr(rel);
	src->reader = FragmentReaderOpen(path);
	if (FragmentReaderNumRows(src->reader) != meta->row_count)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("fragment file \"%s\" holds " INT64_FORMAT " rows, the catalog says " INT64_FORMAT,
						path, FragmentReaderNumRows(src->reader), meta->row_count)));
	src->column_of = palloc(sizeof(int) * src->desc->natts);
	src->values = palloc0(sizeof(Datum *) * src->desc->natts);
	src->isnull = palloc0(sizeof(bool *) * src->desc->natts);
	for (int a = 0; a < src->desc->natts; a++)
		src->column_of[a] = TupleDescAttr(src->desc, a)->attisdropped ? -1 :
			FragmentReaderFindColumn(src->reader, a + 1);
	src->rowgroup = -1;
	src->cxt = AllocSetContextCreate(CurrentMemoryContext, "compact source row group",
									 ALLOCSET_DEFAULT_SIZES);
}

/* Move to the next row group, without decoding it; false at the end. */
static bool
SourceNextRowGroup(SourceReader *src)
{
	if (src->rowgroup + 1 >= FragmentReaderNumRowGroups(src->reader))
		return false;
	src->rowgroup++;
	src->rows = FragmentReaderRowGroupRows(src->reader, src->rowgroup);
	src->decoded = false;
	CHECK_FOR_INTERRUPTS();
	return true;
}

/* Decode the current row group's columns. */
static void
SourceDecode(SourceReader *src)
{
	MemoryContext old;

	if (src->decoded)
		return;
	if (src->keep)
		src->cxt = AllocSetContextCreate(MemoryContextGetParent(src->cxt),
										 "compact kept row group",
										 ALLOCSET_DEFAULT_SIZES);
	else
		MemoryContextReset(src->cxt);
	old = MemoryContextSwitchTo(src->cxt);
	for (int a = 0; a < src->desc->natts; a++)
	{
		src->values[a] = palloc(sizeof(Datum) * src->rows);
		src->isnull[a] = palloc(sizeof(bool) * src->rows);
		if (src->column_of[a] >= 0)
			FragmentReaderReadColumn(src->reader, src->rowgroup, src->column_of[a],
									 src->values[a], src->isnull[a]);
		else
		{
			Datum		v;
			bool		n;

			CompactFillMissing(src->desc, a + 1, &v, &n);
			for (int r = 0; r < src->rows; r++)
			{
				src->values[a][r] = v;
				src->isnull[a][r] = n;
			}
		}
	}
	MemoryContextSwitchTo(old);
	src->decoded = true;
}

static void
SourceClose(SourceReader *src)
{
	FragmentReaderClose(src->reader);
	MemoryContextDelete(src->cxt);
}

/* Everything one group needs while it runs. */
typedef struct GroupRun
{
	Relation	rel;
	const CompactionRequest *request;
	CompactionGroup *group;
	int			nsources;
	FragmentMeta **sources;
	DeletionVector **deleted;	/* per source, as the snapshot sees it */
	int64	  **maps;			/* per source: new row number per row */
	int64		copied_rows;	/* rows copied without decoding */
	Output		out;
} GroupRun;

/* any row of [from, from + n) deleted? */
static bool
AnyDeleted(const DeletionVector *dv, int64 from, int n)
{
	if (dv == NULL || dv->ndeleted == 0)
		return false;
	for (int64 r = from; r < from + n; r++)
		if (DeletionVectorIsSet(dv, r))
			return true;
	return false;
}

/*
 * Rows in row order: the merge strategy.  A row group without deleted
 * rows, of at least half the row group size, in a fragment of the same
 * columns is copied page by page without decoding (it is decoded only if
 * the table has indexes, for their new entries); others are decoded and
 * re-cut into full row groups.
 */
static void
RunMerge(GroupRun *gs)
{
	int			natts = RelationGetDescr(gs->rel)->natts;
	Datum	   *values = palloc(sizeof(Datum) * natts);
	bool	   *isnull = palloc(sizeof(bool) * natts);

	for (int s = 0; s < gs->nsources; s++)
	{
		SourceReader src;
		int64		offset = 0;
		bool		copyable;

		SourceOpen(&src, gs->rel, gs->sources[s]);
		copyable = OutputCanCopy(&gs->out, src.reader);
		while (SourceNextRowGroup(&src))
		{
			if (copyable && src.rows >= compact_row_group_size / 2 &&
				!AnyDeleted(gs->deleted[s], offset, src.rows))
			{
				int64		first;

				if (gs->out.indexes->count > 0)
					SourceDecode(&src);
				first = OutputCopyRowGroup(&gs->out, src.reader, src.rowgroup,
										   src.rows,
										   src.decoded ? src.values : NULL,
										   src.decoded ? src.isnull : NULL);
				for (int r = 0; r < src.rows; r++)
					gs->maps[s][offset + r] = first + r;
				gs->copied_rows += src.rows;
				offset += src.rows;
				continue;
			}
			SourceDecode(&src);
			for (int r = 0; r < src.rows; r++, offset++)
			{
				if (gs->deleted[s] && DeletionVectorIsSet(gs->deleted[s], offset))
					continue;
				for (int a = 0; a < natts; a++)
				{
					values[a] = src.values[a][r];
					isnull[a] = src.isnull[a][r];
				}
				gs->maps[s][offset] = OutputAddRow(&gs->out, values, isnull);
			}
		}
		SourceClose(&src);
	}
}

/* which source holds an old row number */
static int
SourceOfRow(GroupRun *gs, int64 rownum, int64 *offset)
{
	int			lo = 0;
	int			hi = gs->nsources - 1;

	while (lo < hi)
	{
		int			mid = (lo + hi + 1) / 2;

		if (gs->sources[mid]->first_row <= rownum)
			lo = mid;
		else
			hi = mid - 1;
	}
	*offset = rownum - gs->sources[lo]->first_row;
	return lo;
}

/*
 * Rows through a sort: ORDER BY columns, or a curve key.  The sort's tuples
 * are the table's attributes plus two int8 columns: the curve key (zero for
 * ORDER BY) and the row's old row number, the last sort key, which keeps
 * the sort stable.
 */
static void
RunSort(GroupRun *gs)
{
	const CompactionRequest *req = gs->request;
	TupleDesc	desc = RelationGetDescr(gs->rel);
	int			natts = desc->natts;
	TupleDesc	sortdesc = CreateTemplateTupleDesc(natts + 2);
	AttrNumber	keyatt = natts + 1;
	AttrNumber	rowatt = natts + 2;
	AttrNumber	attnums[COMPACT_MAX_SORT_COLUMNS + 2];
	Oid			sortops[COMPACT_MAX_SORT_COLUMNS + 2];
	Oid			collations[COMPACT_MAX_SORT_COLUMNS + 2];
	bool		nullsfirst[COMPACT_MAX_SORT_COLUMNS + 2];
	int			nkeys = 0;
	bool		curve = req->strategy != COMPACTION_SORT;
	CurveKeyState cks;
	Tuplesortstate *sort;
	TupleTableSlot *slot;
	Datum	   *values = palloc(sizeof(Datum) * (natts + 2));
	bool	   *isnull = palloc(sizeof(bool) * (natts + 2));
	Oid			int8lt = get_opfamily_member(INTEGER_BTREE_FAM_OID, INT8OID,
											 INT8OID, BTLessStrategyNumber);

	for (int a = 0; a < natts; a++)
		TupleDescCopyEntry(sortdesc, a + 1, desc, a + 1);
	TupleDescInitEntry(sortdesc, keyatt, "curve_key", INT8OID, -1, 0);
	TupleDescInitEntry(sortdesc, rowatt, "row_number", INT8OID, -1, 0);

	if (curve)
	{
		Oid			typids[COMPACT_MAX_CURVE_COLUMNS];

		for (int k = 0; k < req->nkeys; k++)
			typids[k] = req->keys[k].typid;
		CurveKeyInit(&cks, req->strategy == COMPACTION_HILBERT, req->nkeys, typids);
		/* each column's range, from the sources' statistics */
		for (int s = 0; s < gs->nsources; s++)
		{
			int16	   *stat_attnums;
			ColumnStats *stats;
			int			n;

			if (gs->sources[s]->stats == NULL)
				continue;
			n = FragmentStatsDeserialize(gs->sources[s]->stats, &stat_attnums, &stats);
			for (int i = 0; i < n; i++)
				for (int k = 0; k < req->nkeys; k++)
					if (stat_attnums[i] == req->keys[k].attnum && stats[i].has_minmax)
						CurveKeyWiden(&cks, k, stats[i].min, stats[i].max);
		}
		attnums[nkeys] = keyatt;
		sortops[nkeys] = int8lt;
		collations[nkeys] = InvalidOid;
		nullsfirst[nkeys] = false;
		nkeys++;
	}
	else
	{
		for (int k = 0; k < req->nkeys; k++)
		{
			attnums[nkeys] = req->keys[k].attnum;
			sortops[nkeys] = req->keys[k].sortop;
			collations[nkeys] = req->keys[k].collation;
			nullsfirst[nkeys] = req->keys[k].nulls_first;
			nkeys++;
		}
	}
	attnums[nkeys] = rowatt;
	sortops[nkeys] = int8lt;
	collations[nkeys] = InvalidOid;
	nullsfirst[nkeys] = false;
	nkeys++;

	sort = tuplesort_begin_heap(sortdesc, nkeys, attnums, sortops, collations,
								nullsfirst, maintenance_work_mem, NULL,
								TUPLESORT_NONE);
	slot = MakeSingleTupleTableSlot(sortdesc, &TTSOpsMinimalTuple);

	for (int s = 0; s < gs->nsources; s++)
	{
		SourceReader src;
		int64		offset = 0;
		TupleTableSlot *vslot = MakeSingleTupleTableSlot(sortdesc, &TTSOpsVirtual);

		SourceOpen(&src, gs->rel, gs->sources[s]);
		while (SourceNextRowGroup(&src))
		{
			SourceDecode(&src);
			for (int r = 0; r < src.rows; r++, offset++)
			{
				if (gs->deleted[s] && DeletionVectorIsSet(gs->deleted[s], offset))
					continue;
				ExecClearTuple(vslot);
				for (int a = 0; a < natts; a++)
				{
					vslot->tts_values[a] = src.values[a][r];
					vslot->tts_isnull[a] = src.isnull[a][r];
				}
				if (curve)
				{
					Datum		kv[COMPACT_MAX_CURVE_COLUMNS];
					bool		kn[COMPACT_MAX_CURVE_COLUMNS];

					for (int k = 0; k < req->nkeys; k++)
					{
						kv[k] = src.values[req->keys[k].attnum - 1][r];
						kn[k] = src.isnull[req->keys[k].attnum - 1][r];
					}
					/* unsigned key order as signed int8 order */
					vslot->tts_values[keyatt - 1] =
						Int64GetDatum((int64) (CurveKey(&cks, kv, kn) ^ ((uint64) 1 << 63)));
				}
				else
					vslot->tts_values[keyatt - 1] = Int64GetDatum(0);
				vslot->tts_isnull[keyatt - 1] = false;
				vslot->tts_values[rowatt - 1] =
					Int64GetDatum(gs->sources[s]->first_row + offset);
				vslot->tts_isnull[rowatt - 1] = false;
				ExecStoreVirtualTuple(vslot);
				tuplesort_puttupleslot(sort, vslot);
			}
		}
		SourceClose(&src);
		ExecDropSingleTupleTableSlot(vslot);
	}

	tuplesort_performsort(sort);
	while (tuplesort_gettupleslot(sort, true, false, slot, NULL))
	{
		int64		oldrow;
		int64		offset;
		int			s;

		slot_getallattrs(slot);
		for (int a = 0; a < natts; a++)
		{
			values[a] = slot->tts_values[a];
			isnull[a] = slot->tts_isnull[a];
		}
		oldrow = DatumGetInt64(slot->tts_values[rowatt - 1]);
		s = SourceOfRow(gs, oldrow, &offset);
		gs->maps[s][offset] = OutputAddRow(&gs->out, values, isnull);
		CHECK_FOR_INTERRUPTS();
	}
	tuplesort_end(sort);
	ExecDropSingleTupleTableSlot(slot);
}

/*
 * The in-memory sort: decode every live row of the group into column
 * arrays, sort (normalized key, row) pairs, then gather the columns in key
 * order.  Keys are order-preserving 64-bit words: a curve key, or per
 * ORDER BY column an optional NULL-rank word and a value word (integers
 * and date/time types with their sign bit flipped, floats by their IEEE
 * bits, DESC by complement).  Used when every ORDER BY column has such a
 * key and the decoded rows fit in maintenance_work_mem; otherwise RunSort's
 * tuplesort, which spills, does the work.
 */
#define FAST_SORT_MAX_COLUMNS	3
#define FAST_SORT_MAX_WORDS		(2 * FAST_SORT_MAX_COLUMNS)

typedef struct SortEntry
{
	uint64		k[FAST_SORT_MAX_WORDS];
	int64		row;			/* index into the column arrays */
} SortEntry;

static inline int
CompareSortEntries(const SortEntry *a, const SortEntry *b, int *nwords)
{
	for (int i = 0; i < *nwords; i++)
		if (a->k[i] != b->k[i])
			return a->k[i] < b->k[i] ? -1 : 1;
	return a->row < b->row ? -1 : (a->row > b->row ? 1 : 0);
}

#define ST_SORT sort_entries
#define ST_ELEMENT_TYPE SortEntry
#define ST_COMPARE(a, b, arg) CompareSortEntries(a, b, arg)
#define ST_COMPARE_ARG_TYPE int
#define ST_CHECK_FOR_INTERRUPTS
#define ST_SCOPE static
#define ST_DEFINE
#include "lib/sort_template.h"

static bool
NormalizableType(Oid typid)
{
	switch (typid)
	{
		case BOOLOID:
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case OIDOID:
		case DATEOID:
		case TIMEOID:
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
		case FLOAT4OID:
		case FLOAT8OID:
			return true;
		default:
			return false;
	}
}

/* an order-preserving unsigned key of a non-null value */
static uint64
NormalizedKey(Oid typid, Datum value)
{
	int64		i;
	double		d;
	uint64		bits;

	switch (typid)
	{
		case BOOLOID:
			return DatumGetBool(value) ? 1 : 0;
		case OIDOID:
			return DatumGetObjectId(value);
		case INT2OID:
			i = DatumGetInt16(value);
			break;
		case INT4OID:
			i = DatumGetInt32(value);
			break;
		case DATEOID:
			i = DatumGetDateADT(value);
			break;
		case FLOAT4OID:
		case FLOAT8OID:
			d = typid == FLOAT4OID ? (double) DatumGetFloat4(value) :
				DatumGetFloat8(value);
			if (isnan(d))
				return PG_UINT64_MAX;	/* NaN sorts last, as in PostgreSQL */
			if (d == 0)
				d = 0;			/* -0 equals 0 */
			memcpy(&bits, &d, sizeof(bits));
			return (bits & ((uint64) 1 << 63)) ? ~bits : bits | ((uint64) 1 << 63);
		default:				/* int8, time, timestamp, timestamptz */
			i = DatumGetInt64(value);
			break;
	}
	return (uint64) i ^ ((uint64) 1 << 63);
}

static bool
RunSortInMemory(GroupRun *gs)
{
	const CompactionRequest *req = gs->request;
	TupleDesc	desc = RelationGetDescr(gs->rel);
	int			natts = desc->natts;
	bool		curve = req->strategy != COMPACTION_SORT;
	int64		live = gs->group->rows - gs->group->deleted;
	Size		limit = (Size) maintenance_work_mem * 1024;
	Size		fixed;
	MemoryContext datacxt;
	MemoryContext old;
	Datum	  **values;
	bool	  **isnull;
	int64	   *oldrows;
	SortEntry  *entries;
	int64		n = 0;
	int			nwords = 0;
	bool		withnulls[FAST_SORT_MAX_COLUMNS];
	CurveKeyState cks;

	if (!curve)
	{
		if (req->nkeys > FAST_SORT_MAX_COLUMNS)
			return false;
		for (int k = 0; k < req->nkeys; k++)
			if (!NormalizableType(req->keys[k].typid))
				return false;
	}
	fixed = (Size) live * (natts * (sizeof(Datum) + sizeof(bool)) +
						   sizeof(int64) + sizeof(SortEntry));
	if (live == 0 || fixed > limit)
		return false;

	datacxt = AllocSetContextCreate(CurrentMemoryContext, "compact in-memory sort",
									ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(datacxt);
	values = palloc(sizeof(Datum *) * Max(natts, 1));
	isnull = palloc(sizeof(bool *) * Max(natts, 1));
	for (int a = 0; a < natts; a++)
	{
		values[a] = MemoryContextAllocHuge(datacxt, sizeof(Datum) * live);
		isnull[a] = MemoryContextAllocHuge(datacxt, sizeof(bool) * live);
	}
	oldrows = MemoryContextAllocHuge(datacxt, sizeof(int64) * live);
	MemoryContextSwitchTo(old);

	/* decode; each row group's by-reference values stay in datacxt */
	for (int s = 0; s < gs->nsources; s++)
	{
		SourceReader src;
		int64		offset = 0;

		old = MemoryContextSwitchTo(datacxt);
		SourceOpen(&src, gs->rel, gs->sources[s]);
		MemoryContextSwitchTo(old);
		src.keep = true;		/* the column arrays point into every row group */
		while (SourceNextRowGroup(&src))
		{
			SourceDecode(&src);
			for (int r = 0; r < src.rows; r++, offset++)
			{
				if (gs->deleted[s] && DeletionVectorIsSet(gs->deleted[s], offset))
					continue;
				for (int a = 0; a < natts; a++)
				{
					values[a][n] = src.values[a][r];
					isnull[a][n] = src.isnull[a][r];
				}
				oldrows[n] = gs->sources[s]->first_row + offset;
				n++;
			}
			if (MemoryContextMemAllocated(datacxt, true) + live * sizeof(SortEntry) > limit)
			{
				FragmentReaderClose(src.reader);
				MemoryContextDelete(datacxt);
				return false;	/* does not fit: tuplesort spills */
			}
		}
		FragmentReaderClose(src.reader);
	}
	if (n != live)
		elog(ERROR, "compaction decoded " INT64_FORMAT " rows instead of " INT64_FORMAT,
			 n, live);

	/* keys */
	entries = MemoryContextAllocHuge(datacxt, sizeof(SortEntry) * live);
	if (curve)
	{
		Oid			typids[COMPACT_MAX_CURVE_COLUMNS];

		for (int k = 0; k < req->nkeys; k++)
			typids[k] = req->keys[k].typid;
		CurveKeyInit(&cks, req->strategy == COMPACTION_HILBERT, req->nkeys, typids);
		for (int s = 0; s < gs->nsources; s++)
		{
			int16	   *stat_attnums;
			ColumnStats *stats;
			int			ns;

			if (gs->sources[s]->stats == NULL)
				continue;
			ns = FragmentStatsDeserialize(gs->sources[s]->stats, &stat_attnums, &stats);
			for (int i = 0; i < ns; i++)
				for (int k = 0; k < req->nkeys; k++)
					if (stat_attnums[i] == req->keys[k].attnum && stats[i].has_minmax)
						CurveKeyWiden(&cks, k, stats[i].min, stats[i].max);
		}
		nwords = 1;
		for (int64 i = 0; i < n; i++)
		{
			Datum		kv[COMPACT_MAX_CURVE_COLUMNS];
			bool		kn[COMPACT_MAX_CURVE_COLUMNS];

			for (int k = 0; k < req->nkeys; k++)
			{
				kv[k] = values[req->keys[k].attnum - 1][i];
				kn[k] = isnull[req->keys[k].attnum - 1][i];
			}
			entries[i].k[0] = CurveKey(&cks, kv, kn);
			entries[i].row = i;
			if ((i & 0xFFFF) == 0)
				CHECK_FOR_INTERRUPTS();
		}
	}
	else
	{
		for (int k = 0; k < req->nkeys; k++)
		{
			bool	   *nulls = isnull[req->keys[k].attnum - 1];

			withnulls[k] = false;
			for (int64 i = 0; i < n && !withnulls[k]; i++)
				withnulls[k] = nulls[i];
			nwords += withnulls[k] ? 2 : 1;
		}
		for (int64 i = 0; i < n; i++)
		{
			int			w = 0;

			for (int k = 0; k < req->nkeys; k++)
			{
				const ClusterKey *key = &req->keys[k];
				bool		null = isnull[key->attnum - 1][i];
				uint64		v = null ? 0 :
					NormalizedKey(key->typid, values[key->attnum - 1][i]);

				if (withnulls[k])
					entries[i].k[w++] = null ? (key->nulls_first ? 0 : 2) : 1;
				entries[i].k[w++] = key->desc ? ~v : v;
			}
			entries[i].row = i;
			if ((i & 0xFFFF) == 0)
				CHECK_FOR_INTERRUPTS();
		}
	}

	sort_entries(entries, n, &nwords);

	/* gather */
	{
		int64	   *order = MemoryContextAllocHuge(datacxt, sizeof(int64) * n);
		int64	   *newrows = MemoryContextAllocHuge(datacxt, sizeof(int64) * n);

		for (int64 i = 0; i < n; i++)
			order[i] = entries[i].row;
		pfree(entries);
		OutputAddGathered(&gs->out, values, isnull, order, n, newrows);
		for (int64 i = 0; i < n; i++)
		{
			int64		offset;
			int			s = SourceOfRow(gs, oldrows[order[i]], &offset);

			gs->maps[s][offset] = newrows[i];
		}
		/* the buffered rows point into datacxt: write them out first */
		OutputFlushRowGroup(&gs->out);
	}
	MemoryContextDelete(datacxt);
	return true;
}

/* The output fragment holding a new row number. */
static FragmentMeta *
OutputOfRow(List *written, int64 rownum)
{
	ListCell   *lc;

	foreach(lc, written)
	{
		FragmentMeta *meta = lfirst(lc);

		if (rownum >= meta->first_row && rownum < meta->first_row + meta->row_count)
			return meta;
	}
	elog(ERROR, "row " INT64_FORMAT " is in no fragment of the compaction", rownum);
	return NULL;
}

typedef struct CarriedRow
{
	int64		rownum;
	int64		successor;
} CarriedRow;

static int
CompareCarried(const void *a, const void *b)
{
	int64		x = ((const CarriedRow *) a)->rownum;
	int64		y = ((const CarriedRow *) b)->rownum;

	return x < y ? -1 : (x > y ? 1 : 0);
}

/*
 * Step 4: with every row lock of the table held, carry the deletions that
 * the sources received after our snapshot onto the new fragments.
 * Returns how many.
 */
static int64
CarryDeletions(GroupRun *gs)
{
	Oid			relnode = gs->rel->rd_node.relNode;
	CarriedRow *rows = NULL;
	int64		n = 0;
	int64		cap = 0;
	int64		i = 0;

	CompactLockAllFragments(gs->rel);
	for (int s = 0; s < gs->nsources; s++)
	{
		DeletionVector *now = DeletionLoad(relnode, gs->sources[s], SnapshotSelf);

		if (now == NULL)
			continue;
		for (uint32 off = 0; off < now->nrows; off++)
		{
			if (!DeletionVectorIsSet(now, off) ||
				(gs->deleted[s] && DeletionVectorIsSet(gs->deleted[s], off)))
				continue;
			if (gs->maps[s][off] < 0)
				elog(ERROR, "compaction dropped a row it did not see deleted");
			if (n == cap)
			{
				cap = Max(cap * 2, 64);
				rows = rows ? repalloc_huge(rows, sizeof(CarriedRow) * cap) :
					palloc(sizeof(CarriedRow) * cap);
			}
			rows[n].rownum = gs->maps[s][off];
			rows[n].successor = DeletionVectorSuccessor(now, off);
			n++;
		}
	}
	if (n == 0)
		return 0;

	qsort(rows, n, sizeof(CarriedRow), CompareCarried);
	while (i < n)
	{
		FragmentMeta *meta = OutputOfRow(gs->out.written, rows[i].rownum);
		uint32	   *offsets = palloc(sizeof(uint32) * (n - i));
		RowSuccessor *succ = palloc(sizeof(RowSuccessor) * (n - i));
		uint32		count = 0;
		int			nsucc = 0;

		while (i < n && rows[i].rownum < meta->first_row + meta->row_count)
		{
			uint32		off = (uint32) (rows[i].rownum - meta->first_row);

			offsets[count++] = off;
			if (rows[i].successor >= 0)
			{
				succ[nsucc].offset = off;
				succ[nsucc].successor = rows[i].successor;
				nsucc++;
			}
			i++;
		}
		DeletionInsert(relnode, meta->fragment_id, (uint32) meta->row_count,
					   offsets, count, succ, nsucc);
		pfree(offsets);
		pfree(succ);
	}
	return n;
}

/* Rewrite one group; the caller's transaction commits it. */
static void
RunGroup(Relation rel, const CompactionRequest *request,
		 const CompactionSettings *settings, CompactionGroup *group,
		 CompactionResult *result)
{
	GroupRun	gs;
	Snapshot	snapshot = RegisterSnapshot(GetTransactionSnapshot());
	IndexTargets indexes;
	ListCell   *lc;
	int			s = 0;
	int64		live;
	int64		first_row;
	int64		carried;

	memset(&gs, 0, sizeof(gs));
	gs.rel = rel;
	gs.request = request;
	gs.group = group;
	gs.nsources = list_length(group->sources);
	gs.sources = palloc(sizeof(FragmentMeta *) * gs.nsources);
	gs.deleted = palloc0(sizeof(DeletionVector *) * gs.nsources);
	gs.maps = palloc(sizeof(int64 *) * gs.nsources);

	group->deleted = 0;
	foreach(lc, group->sources)
	{
		FragmentMeta *meta = lfirst(lc);

		gs.sources[s] = meta;
		gs.deleted[s] = DeletionLoad(rel->rd_node.relNode, meta, snapshot);
		if (gs.deleted[s])
			group->deleted += gs.deleted[s]->ndeleted;
		gs.maps[s] = MemoryContextAllocHuge(CurrentMemoryContext,
											sizeof(int64) * Max(meta->row_count, 1));
		for (int64 r = 0; r < meta->row_count; r++)
			gs.maps[s][r] = -1;
		s++;
	}
	live = group->rows - group->deleted;
	first_row = live > 0 ? MetapageReserveRows(rel, live) : 0;

	IndexTargetsOpen(rel, &indexes);
	OutputInit(&gs.out, rel, settings, group, first_row,
			   request->clustering, &indexes);
	if (request->strategy == COMPACTION_MERGE)
		RunMerge(&gs);
	else if (!RunSortInMemory(&gs))
		RunSort(&gs);
	OutputFinish(&gs.out);
	IndexTargetsClose(&indexes);

	if (gs.out.next_row != first_row + live)
		elog(ERROR, "compaction wrote " INT64_FORMAT " rows instead of " INT64_FORMAT,
			 gs.out.next_row - first_row, live);

	/*
	 * Replace the sources, and leave maps for older snapshots.  The maps are
	 * named by the xid that deletes the sources' manifest rows: flush the WAL
	 * of those deletions first, so that the xid is never reused after a
	 * crash (see MetapageNextFragmentId).
	 */
	for (s = 0; s < gs.nsources; s++)
		ManifestDelete(gs.sources[s]);
	XLogFlush(XactLastRecEnd);
	for (s = 0; s < gs.nsources; s++)
	{
		char	   *path;

		path = CompactRowMapPath(MyDatabaseId, rel->rd_node.relNode,
								 gs.sources[s]->fragment_id,
								 GetCurrentTransactionId());
		RowMapWrite(path, gs.sources[s]->fragment_id,
					(uint32) gs.sources[s]->row_count, gs.maps[s]);
		pfree(path);
	}
	CommandCounterIncrement();
	carried = CarryDeletions(&gs);
	CommandCounterIncrement();
	UnregisterSnapshot(snapshot);

	result->groups++;
	result->rows_rewritten += live;
	result->deleted_rows_removed += group->deleted;
	result->bytes_after += gs.out.bytes - group->bytes;
	result->fragments_after += list_length(gs.out.written) - gs.nsources;

	ereport(request->verbose ? INFO : DEBUG1,
			(errmsg("compacted %d fragments of \"%s\" (" INT64_FORMAT " rows, " INT64_FORMAT " bytes) into %d (" INT64_FORMAT " rows, " INT64_FORMAT " bytes)",
					gs.nsources, RelationGetRelationName(rel), group->rows,
					group->bytes, list_length(gs.out.written), live, gs.out.bytes),
			 errdetail(INT64_FORMAT " rows copied without decoding, " INT64_FORMAT " deleted rows removed, " INT64_FORMAT " deletions carried over.",
					   gs.copied_rows, group->deleted, carried)));
}

/* totals of the fragments the latest snapshot sees */
static void
TableTotals(Relation rel, int64 *fragments, int64 *bytes)
{
	List	   *list = ManifestList(rel->rd_node.relNode, GetLatestSnapshot());
	ListCell   *lc;

	*fragments = list_length(list);
	*bytes = 0;
	foreach(lc, list)
		*bytes += ((FragmentMeta *) lfirst(lc))->bytes;
}

/*
 * Run a request from start to end.  The caller is in a transaction; with
 * request->own_transactions it is also at top level, outside a transaction
 * block, and each group gets a transaction of its own.
 */
void
CompactionRun(const CompactionRequest *request, CompactionResult *result)
{
	Relation	rel;
	CompactionPlan *plan;
	CompactionSettings settings;
	LockRelId	lockid;
	instr_time	start;
	instr_time	duration;
	ListCell   *lc;
	int			ngroups;
	int			done = 0;
	MemoryContext jobcxt;
	MemoryContext old;

	INSTR_TIME_SET_CURRENT(start);
	memset(result, 0, sizeof(CompactionResult));

	/* survives the per-group transactions */
	jobcxt = AllocSetContextCreate(PortalContext ? PortalContext : TopMemoryContext,
								   "compact job", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(jobcxt);

	rel = CompactionOpenTable(request->relid, false);
	if (WriteStateBufferedRows(rel->rd_node) > 0 || WriteStateHasDeletes(rel->rd_node))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot compact table \"%s\" because the current transaction has changed it",
						RelationGetRelationName(rel)),
				 errhint("Commit the transaction first.")));
	CompactionSettingsGet(rel, &settings);
	TableTotals(rel, &result->fragments_before, &result->bytes_before);
	result->fragments_after = result->fragments_before;
	result->bytes_after = result->bytes_before;

	plan = CompactionPlanBuild(rel, request, GetTransactionSnapshot());
	CompactionPlanReport(plan, request,
						 request->dry_run ? INFO : (request->verbose ? INFO : DEBUG1));
	ngroups = list_length(plan->groups);

	if (request->dry_run || ngroups == 0)
	{
		relation_close(rel, NoLock);
		MemoryContextSwitchTo(old);
		goto finish;
	}

	lockid = rel->rd_lockInfo.lockRelId;
	if (request->own_transactions)
		LockRelationIdForSession(&lockid, ShareUpdateExclusiveLock);
	relation_close(rel, NoLock);

	foreach(lc, plan->groups)
	{
		CompactionGroup *group = lfirst(lc);
		MemoryContext groupcxt;

		if (request->own_transactions && done > 0)
		{
			PopActiveSnapshot();
			CommitTransactionCommand();
			StartTransactionCommand();
			PushActiveSnapshot(GetTransactionSnapshot());
		}
		groupcxt = AllocSetContextCreate(jobcxt, "compact group",
										 ALLOCSET_DEFAULT_SIZES);
		MemoryContextSwitchTo(groupcxt);
		rel = table_open(request->relid, ShareUpdateExclusiveLock);
		RunGroup(rel, request, &settings, group, result);
		table_close(rel, NoLock);
		if (compact_debug_crash_after_groups > 0 &&
			done == compact_debug_crash_after_groups)
			elog(PANIC, "compact.debug_crash_after_groups: crashing after %d committed groups",
				 done);
		MemoryContextSwitchTo(jobcxt);
		MemoryContextDelete(groupcxt);
		done++;
	}
	if (request->own_transactions)
	{
		PopActiveSnapshot();
		CommitTransactionCommand();
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		UnlockRelationIdForSession(&lockid, ShareUpdateExclusiveLock);
	}
	MemoryContextSwitchTo(old);

finish:
	INSTR_TIME_SET_CURRENT(duration);
	INSTR_TIME_SUBTRACT(duration, start);
	result->duration_ms = INSTR_TIME_GET_MILLISEC(duration);
	MemoryContextDelete(jobcxt);
}
