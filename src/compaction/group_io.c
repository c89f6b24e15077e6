/*-------------------------------------------------------------------------
 * group_io.c
 *	  A compaction group's rows in and out: its source fragments decoded row
 *	  group by row group (or copied), its new fragments written with
 *	  statistics, cut at the target size, with index entries for the new
 *	  row numbers.
 *
 * IDENTIFICATION
 *	  src/compaction/group_io.c
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
#include "compaction/kernel.h"
#include "compaction/sortkey.h"
#include "format/files.h"
#include "format/filewal.h"
#include "format/rowmap.h"
#include "tableam/tableam.h"

/* the blocks that copies of by-reference values go into */
#define COPY_BLOCK_BYTES	(1024 * 1024)

void
GroupIndexesOpen(Relation rel, GroupIndexes *targets)
{
	List	   *indexids = RelationGetIndexList(rel);
	ListCell   *lc;
	int			i = 0;

	memset(targets, 0, sizeof(GroupIndexes));
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

void
GroupIndexesClose(GroupIndexes *targets)
{
	for (int i = 0; i < targets->count; i++)
		index_close(targets->rels[i], RowExclusiveLock);
	if (targets->estate)
	{
		ExecDropSingleTupleTableSlot(targets->slot);
		FreeExecutorState(targets->estate);
	}
}

/* Insert the (non-unique) index entries of one new row. */
void
GroupIndexesInsert(GroupIndexes *targets, Relation rel, int64 rownum,
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

/*
 * A copy of a by-reference value for the row group being filled.  The
 * copies go one after another into blocks of bufcxt, freed together when
 * the row group is written: no allocation per value.
 */
static Datum
GroupOutputCopyValue(GroupOutput *out, Datum value, int16 typlen)
{
	Size		len = datumGetSize(value, false, typlen);
	Size		need = MAXALIGN(len);
	char	   *dst;

	if (out->copies == NULL || out->copies_used + need > out->copies_size)
	{
		out->copies_size = Max(need, COPY_BLOCK_BYTES);
		out->copies = MemoryContextAllocHuge(out->bufcxt, out->copies_size);
		out->copies_used = 0;
	}
	dst = out->copies + out->copies_used;
	memcpy(dst, DatumGetPointer(value), len);
	out->copies_used += need;
	return PointerGetDatum(dst);
}

void
GroupOutputFlushRowGroup(GroupOutput *out)
{
	if (out->nbuf == 0)
		return;
	if (out->pw)
		ParallelWriterAddRowGroup(out->pw, out->nbuf, out->values, out->isnull);
	else
		FragmentWriterAddRowGroup(out->writer, out->nbuf, out->values, out->isnull);
	CompactionNoteIO(0, (int64) (out->row_bytes * out->nbuf));
	out->nbuf = 0;
	MemoryContextReset(out->bufcxt);
	out->copies = NULL;
}

/* A finished new fragment, described by info, into the manifest. */
static void
GroupOutputRecord(GroupOutput *out, FragmentMeta *meta, const FragmentInfo *info)
{
	meta->row_count = info->row_count;
	meta->bytes = info->bytes;
	meta->row_groups = info->row_groups;
	meta->cids = NULL;
	meta->clustering = (char *) out->clustering;
	/* in parallel mode no catalog row may get a TOAST OID: later */
	if (out->pw)
		out->unrecorded = lappend(out->unrecorded, meta);
	else
		ManifestInsert(out->rel->rd_node.relNode, meta, "compact",
					   GetCurrentCommandId(true), false);
	out->written = lappend(out->written, meta);
	out->bytes += info->bytes;
}

/*
 * A source rewritten by GroupOutputAddLiveSources, into the manifest: its
 * rows must be the live rows counted for it (meta->row_count).
 */
static void
GroupOutputRecordLive(GroupOutput *out, FragmentMeta *meta, const FragmentInfo *info)
{
	if (info->row_count != meta->row_count)
		elog(ERROR, "compaction rewrote " INT64_FORMAT " rows of a source into fragment " INT64_FORMAT ", " INT64_FORMAT " expected",
			 info->row_count, meta->fragment_id, meta->row_count);
	CompactionNoteIO(0, (int64) (out->row_bytes * info->row_count));
	GroupOutputRecord(out, meta, info);
}

static void
GroupOutputFinishFragment(GroupOutput *out)
{
	FragmentInfo info;
	FragmentMeta *meta = out->meta;

	GroupOutputFlushRowGroup(out);
	if (out->pw)
		ParallelWriterFinish(out->pw, &info, &meta->stats);
	else
	{
		FragmentWriterFinish(out->writer, &info);
		out->writer = NULL;
		COMPACT_FAULT_POINT("compact_fragment_finished");
		meta->stats = FragmentStatsSerialize(out->ncols, out->cols, info.stats);
	}
	GroupOutputRecord(out, meta, &info);
	out->meta = NULL;
}

/* End the fragment being written, if any: the next row starts a new one. */
void
GroupOutputEndFragment(GroupOutput *out)
{
	if (out->meta != NULL)
		GroupOutputFinishFragment(out);
}

/* A new fragment's id and file, its rows from the next row number on. */
static FragmentMeta *
GroupOutputNewFragment(GroupOutput *out)
{
	FragmentMeta *meta = palloc0(sizeof(FragmentMeta));

	meta->fragment_id = MetapageNextFragmentId(out->rel);
	meta->file_xid = GetTopTransactionId();
	meta->first_row = out->next_row;
	CompactEnsureTableDir(out->rel->rd_node.relNode);
	return meta;
}

static void
GroupOutputBeginFragment(GroupOutput *out)
{
	FragmentMeta *meta = GroupOutputNewFragment(out);

	if (out->pw)
		ParallelWriterBegin(out->pw, meta->fragment_id, meta->file_xid);
	else
		out->writer = FragmentWriterBeginOutput(out->rel->rd_node.relNode,
												meta->fragment_id, meta->file_xid,
												out->ncols, out->cols,
												compact_compression_level,
												compact_direct_io);
	out->meta = meta;
	out->fragment_rows = 0;
}

/*
 * Append one row (values of every attribute of the table) and return its
 * new row number.
 */
int64
GroupOutputAddRow(GroupOutput *out, Datum *values, bool *isnull)
{
	int64		rownum;

	if (out->meta == NULL)
		GroupOutputBeginFragment(out);
	rownum = out->next_row++;

	for (int c = 0; c < out->ncols; c++)
	{
		const FragmentColumn *col = &out->cols[c];
		int			a = col->attnum - 1;

		out->isnull[c][out->nbuf] = isnull[a];
		out->values[c][out->nbuf] = isnull[a] ? (Datum) 0 :
			(col->typbyval ? values[a] :
			 GroupOutputCopyValue(out, values[a], col->typlen));
	}

	if (out->indexes->count > 0)
		GroupIndexesInsert(out->indexes, out->rel, rownum, values, isnull);

	out->nbuf++;
	out->fragment_rows++;
	if (out->nbuf == compact_row_group_size)
		GroupOutputFlushRowGroup(out);
	if (out->fragment_rows >= out->rows_per_fragment)
		GroupOutputFinishFragment(out);
	return rownum;
}

/*
 * Append rows given by a permutation of column arrays: row i of the output
 * is row rows[i] of values/isnull (per attribute).  Filled column by
 * column, which is kinder to the caches than row by row.  newrows[i] gets
 * each row's row number.  By-reference values are copied when copy is set,
 * else the arrays and what they point to must outlive the output's row
 * groups.
 */
void
GroupOutputAddGathered(GroupOutput *out, Datum **values, bool **isnull,
					   const int64 *rows, int64 n, int64 *newrows, bool copy)
{
	int64		done = 0;

	while (done < n)
	{
		int64		room;
		int			k;

		if (out->meta == NULL)
			GroupOutputBeginFragment(out);
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

			if (copy && !out->cols[c].typbyval)
			{
				int16		typlen = out->cols[c].typlen;

				for (int j = 0; j < k; j++)
				{
					int64		r = rows[done + j];

					dstnull[j] = srcnull[r];
					dst[j] = srcnull[r] ? (Datum) 0 : GroupOutputCopyValue(out, src[r], typlen);
				}
				continue;
			}
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
				GroupIndexesInsert(out->indexes, out->rel, out->next_row + j, v, nl);
			}
		}
		out->next_row += k;
		out->nbuf += k;
		out->fragment_rows += k;
		done += k;
		if (out->nbuf == compact_row_group_size)
			GroupOutputFlushRowGroup(out);
		if (out->fragment_rows >= out->rows_per_fragment)
			GroupOutputFinishFragment(out);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * Append n rows kept as records (see RowRecordFixedSize), len bytes from
 * records, as one row group that the parallel writer turns into columns
 * itself: the backend does not copy them again.  False, with nothing
 * appended, when they cannot go out that way: no parallel writer, rows
 * already buffered, or the fragment ends among them.
 */
bool
GroupOutputAddRecords(GroupOutput *out, const char *records, Size len, int n)
{
	if (out->pw == NULL || out->nbuf != 0 || n <= 0 || n > compact_row_group_size)
		return false;
	if (out->meta == NULL)
		GroupOutputBeginFragment(out);
	if (n > out->rows_per_fragment - out->fragment_rows)
		return false;
	if (out->indexes->count > 0)
	{
		char	   *rec = (char *) records;

		for (int j = 0; j < n; j++)
		{
			GroupIndexesInsert(out->indexes, out->rel, out->next_row + j,
							   (Datum *) rec,
							   (bool *) (rec + sizeof(Datum) * out->natts));
			rec = RowRecordEnd(rec, RelationGetDescr(out->rel));
		}
		if (rec != records + len)
			elog(ERROR, "records of %zu bytes hold %zu", len, (Size) (rec - records));
	}
	ParallelWriterAddRecords(out->pw, n, records, len);
	CompactionNoteIO(0, (int64) (out->row_bytes * n));
	out->next_row += n;
	out->fragment_rows += n;
	if (out->fragment_rows >= out->rows_per_fragment)
		GroupOutputFinishFragment(out);
	CHECK_FOR_INTERRUPTS();
	return true;
}

/*
 * GroupOutputAddLiveSources' traffic with the worker, without waiting: send
 * it the 'D' messages the queue takes, and record the fragments it has
 * finished.
 */
static void
LiveSourcesExchange(GroupOutput *out, int n, int *sent, int *answered,
					FragmentMeta **metas, const int *source_of,
					FragmentReader **readers, DeletionVector **deleted)
{
	FragmentInfo info;
	bool		all;

	while (*sent < n)
	{
		int			s = source_of[*sent];

		if (!ParallelWriterSendLive(out->pw, *sent, metas[*sent]->fragment_id,
									metas[*sent]->file_xid,
									FragmentReaderPath(readers[s]),
									deleted[s] ? deleted[s]->bits : NULL,
									FragmentReaderNumRows(readers[s]), true))
			break;
		(*sent)++;
	}
	while (*answered < ParallelWriterLiveClaimed(out->pw, &all) &&
		   ParallelWriterReceiveFinished(out->pw, false, &info,
										 &metas[*answered]->stats))
	{
		GroupOutputRecordLive(out, metas[*answered], &info);
		(*answered)++;
	}
}

/*
 * Each source without its deleted rows into a new fragment of its own: a
 * one_per_source group whose sources the output can take as they are
 * (GroupOutputCanCopy) and fit in one fragment, on a table without indexes
 * (nothing here needs the rows' values).  readers[s] is source s open,
 * deleted[s] its deletion vector (or NULL), maps[s] gets each of its rows'
 * new row number (-1 stays for deleted rows).  Returns the rows copied
 * without decoding.
 *
 * The new row numbers follow source order, fixed before any file is
 * written, so that the parallel worker and this process can each rewrite
 * whole sources at the same time: the worker takes them from the first
 * on, this process from the last back, until they meet
 * (ParallelWriterClaimLive).  A source's new file is the same bytes
 * whoever writes it (FragmentWriterAddLive), with or without the worker.
 * compact.debug_leader_encodes = always or never has this process or the
 * worker rewrite them all.
 */
int64
GroupOutputAddLiveSources(GroupOutput *out, int nsources, FragmentReader **readers,
						  DeletionVector **deleted, int64 **maps)
{
	FragmentMeta **metas = palloc(sizeof(FragmentMeta *) * Max(nsources, 1));
	int		   *source_of = palloc(sizeof(int) * Max(nsources, 1));
	int			n = 0;			/* sources with live rows */
	int64		copied = 0;
	int			sent = 0;		/* 'D' messages sent */
	int			answered = 0;	/* of the worker's fragments, recorded */
	int			local = 0;		/* sources this process rewrote */
	bool		worker = out->pw != NULL &&
		compact_debug_leader_encodes != LEADER_ENCODES_ALWAYS;

	Assert(out->meta == NULL && out->nbuf == 0 && out->indexes->count == 0);
	for (int s = 0; s < nsources; s++)
	{
		const uint8 *bits = deleted[s] ? deleted[s]->bits : NULL;
		int64		rows = FragmentReaderNumRows(readers[s]);
		int64		live = rows - (deleted[s] ? deleted[s]->ndeleted : 0);
		int64		r = 0;

		if (live == 0)
			continue;			/* no live rows: no fragment */
		for (int rg = 0; rg < FragmentReaderNumRowGroups(readers[s]); rg++)
		{
			int			rgrows = FragmentReaderRowGroupRows(readers[s], rg);

			if (FragmentRowGroupCopied(rgrows, bits, r, compact_row_group_size))
				copied += rgrows;
			r += rgrows;
		}
		metas[n] = GroupOutputNewFragment(out);
		metas[n]->row_count = live;
		for (r = 0; r < rows; r++)
			if (bits == NULL || !DeletionVectorIsSet(deleted[s], r))
				maps[s][r] = out->next_row++;
		if (out->next_row != metas[n]->first_row + live)
			elog(ERROR, "deletion vector of " INT64_FORMAT " rows counts " INT64_FORMAT " live, holds " INT64_FORMAT,
				 rows, live, out->next_row - metas[n]->first_row);
		source_of[n++] = s;
	}

	if (worker)
		ParallelWriterLiveBegin(out->pw, n);
	for (;;)
	{
		int			i;
		int			s;
		FragmentInfo info;
		FragmentMeta *meta;
		FragmentWriter *writer;

		if (worker)
		{
			LiveSourcesExchange(out, n, &sent, &answered, metas, source_of,
								readers, deleted);
			i = compact_debug_leader_encodes == LEADER_ENCODES_NEVER ? -1 :
				ParallelWriterClaimLive(out->pw);
		}
		else
			i = local < n ? local : -1;	/* in order */
		if (i < 0)
			break;
		s = source_of[i];
		meta = metas[i];
		writer = FragmentWriterBeginOutput(out->rel->rd_node.relNode,
										   meta->fragment_id, meta->file_xid,
										   out->ncols, out->cols,
										   compact_compression_level,
										   compact_direct_io);
		(void) FragmentWriterAddLive(writer, readers[s],
									 deleted[s] ? deleted[s]->bits : NULL,
									 compact_row_group_size);
		FragmentWriterFinish(writer, &info);
		COMPACT_FAULT_POINT("compact_fragment_finished");
		meta->stats = FragmentStatsSerialize(out->ncols, out->cols, info.stats);
		GroupOutputRecordLive(out, meta, &info);
		local++;
	}

	/*
	 * The worker's last fragments.  The messages not sent yet go too, since
	 * one may be half sent (the worker skips them: every source is claimed),
	 * while its answers are taken, or both queues could fill.
	 */
	while (worker)
	{
		int			before = sent + answered;
		bool		all;
		int			claimed = ParallelWriterLiveClaimed(out->pw, &all);

		if (sent == n && all && answered == claimed)
			break;
		LiveSourcesExchange(out, n, &sent, &answered, metas, source_of,
							readers, deleted);
		if (sent + answered == before)
			ParallelWriterWait(out->pw);
	}
	if (local + answered != n)
		elog(ERROR, "compaction rewrote %d of %d sources", local + answered, n);
	if (out->pw)
		elog(DEBUG1, "compact: the parallel worker rewrote %d of the %d sources",
			 answered, n);
	pfree(metas);
	pfree(source_of);
	return copied;
}

/* Can the output take row groups of this fragment as they are? */
bool
GroupOutputCanCopy(GroupOutput *out, FragmentReader *reader)
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
int64
GroupOutputCopyRowGroup(GroupOutput *out, FragmentReader *reader, int rowgroup, int nrows,
				   Datum **values, bool **isnull)
{
	int64		first;

	if (out->meta == NULL)
		GroupOutputBeginFragment(out);
	/* rows buffered before it go first, as a row group of their own */
	GroupOutputFlushRowGroup(out);
	first = out->next_row;
	if (out->pw)
		ParallelWriterCopyRowGroup(out->pw, reader, rowgroup);
	else
	{
		Assert(FragmentWriterCanCopy(out->writer, reader));
		FragmentWriterCopyRowGroup(out->writer, reader, rowgroup);
	}
	CompactionNoteIO(0, (int64) (out->row_bytes * nrows));
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
			GroupIndexesInsert(out->indexes, out->rel, first + r, v, n);
		}
		pfree(v);
		pfree(n);
	}
	if (out->fragment_rows >= out->rows_per_fragment)
		GroupOutputFinishFragment(out);
	return first;
}

void
GroupOutputInit(GroupOutput *out, Relation rel, const CompactionSettings *settings,
		   const CompactionGroup *group, int64 first_row,
		   const char *clustering, GroupIndexes *indexes, bool parallel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int64		live = group->rows - group->deleted;
	double		row_bytes = group->rows > 0 ? (double) group->bytes / group->rows : 1;
	int64		per_fragment;

	memset(out, 0, sizeof(GroupOutput));
	out->rel = rel;
	out->natts = desc->natts;
	out->cols = CompactFragmentColumns(desc, desc->natts, true, &out->ncols);
	out->clustering = clustering;
	out->next_row = first_row;
	out->indexes = indexes;
	out->row_bytes = row_bytes;

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
	if (parallel)
		out->pw = ParallelWriterStart(rel, out->ncols, out->cols);
}

void
GroupOutputFinish(GroupOutput *out)
{
	ListCell   *lc;

	if (out->meta != NULL)
		GroupOutputFinishFragment(out);
	if (out->pw)
	{
		ParallelWriterEnd(out->pw);
		out->pw = NULL;
	}
	foreach(lc, out->unrecorded)
		ManifestInsert(out->rel->rd_node.relNode, lfirst(lc), "compact",
					   GetCurrentCommandId(true), false);
	list_free(out->unrecorded);
	out->unrecorded = NIL;
	MemoryContextDelete(out->bufcxt);
}


void
GroupSourceOpen(GroupSource *src, Relation rel, const FragmentMeta *meta)
{
	char	   *path = CompactFragmentPath(MyDatabaseId, rel->rd_node.relNode,
										   meta->fragment_id, meta->file_xid);

	memset(src, 0, sizeof(GroupSource));
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
	src->rowgroup_bytes = meta->bytes / Max(FragmentReaderNumRowGroups(src->reader), 1);
	src->cxt = AllocSetContextCreate(CurrentMemoryContext, "compact source row group",
									 ALLOCSET_DEFAULT_SIZES);
}

/* Move to the next row group, without decoding it; false at the end. */
bool
GroupSourceNextRowGroup(GroupSource *src)
{
	if (src->rowgroup + 1 >= FragmentReaderNumRowGroups(src->reader))
		return false;
	src->rowgroup++;
	src->rows = FragmentReaderRowGroupRows(src->reader, src->rowgroup);
	src->decoded = false;
	CompactionNoteIO(src->rowgroup_bytes, 0);
	return true;
}

/* Decode the current row group's columns. */
void
GroupSourceDecode(GroupSource *src)
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
		if (src->only != NULL && !src->only[a])
			continue;			/* not needed: left undefined */
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

void
GroupSourceClose(GroupSource *src)
{
	FragmentReaderClose(src->reader);
	MemoryContextDelete(src->cxt);
}
