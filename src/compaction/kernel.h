/*-------------------------------------------------------------------------
 * kernel.h
 *	  What the compaction kernels share: a group's source fragments as
 *	  rows (GroupSource), its new fragments (GroupOutput) with the index
 *	  entries of their rows (GroupIndexes), and the state of a running
 *	  group (GroupRun).
 *
 * IDENTIFICATION
 *	  src/compaction/kernel.h
 *-------------------------------------------------------------------------
 */
#ifndef COMPACT_COMPACTION_KERNEL_H
#define COMPACT_COMPACTION_KERNEL_H

#include "access/genam.h"
#include "nodes/execnodes.h"
#include "storage/shm_mq.h"
#include "utils/datum.h"

#include "catalog/metadata.h"
#include "compaction/compaction.h"
#include "format/fragment.h"

/* Indexes of the table, ready for inserts of the new row numbers. */
typedef struct GroupIndexes
{
	int			count;
	Relation   *rels;
	IndexInfo **infos;
	ExprState **predicates;
	EState	   *estate;
	TupleTableSlot *slot;
} GroupIndexes;

typedef struct ParallelWriter ParallelWriter;

/* New fragments being written for one group. */
typedef struct GroupOutput
{
	Relation	rel;
	int			natts;
	int			ncols;
	FragmentColumn *cols;
	const char *clustering;
	int64		next_row;		/* row number of the next row */
	int64		rows_per_fragment;
	GroupIndexes *indexes;

	/* the fragment being written (meta is NULL between fragments) */
	FragmentWriter *writer;		/* NULL when pw writes */
	ParallelWriter *pw;			/* a parallel worker writes, or NULL */
	FragmentMeta *meta;
	int64		fragment_rows;

	/* the row group being filled: Datums per column, copies in bufcxt */
	Datum	  **values;
	bool	  **isnull;
	int			nbuf;
	MemoryContext bufcxt;
	char	   *copies;			/* block of bufcxt the copies go into */
	Size		copies_used;
	Size		copies_size;

	List	   *written;		/* FragmentMeta of finished fragments */
	List	   *unrecorded;		/* of which not yet in the manifest */
	int64		bytes;
	double		row_bytes;		/* sources' bytes per row, for the I/O cost */
} GroupOutput;

/*
 * Reads a source fragment's row groups, one at a time, as rows with the
 * values of every attribute of the table.
 */
typedef struct GroupSource
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
	const bool *only;			/* per attribute: decode it? (NULL: all) */
	int64		rowgroup_bytes; /* average bytes of a row group */
	MemoryContext cxt;
} GroupSource;

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
	char	   *shared;			/* compact.shared_work_mem left for the sort */
	Size		shared_size;
	int64		copied_rows;	/* rows copied without decoding */
	GroupOutput		out;
} GroupRun;

/*
 * A row as the sort kernel keeps it while it waits for its turn to go out,
 * and as the parallel writer may receive it: its Datums (one per attribute
 * of the table), its null flags (MAXALIGNed), then the bytes of its
 * non-null by-reference values in attribute order, each MAXALIGNed.  The
 * Datums of by-reference values point at those bytes.
 */
static inline Size
RowRecordFixedSize(int natts)
{
	return sizeof(Datum) * natts + MAXALIGN(natts);
}

/* Where the record at rec ends (and the next one starts). */
static inline char *
RowRecordEnd(char *rec, TupleDesc desc)
{
	const Datum *values = (const Datum *) rec;
	const bool *isnull = (const bool *) (rec + sizeof(Datum) * desc->natts);
	char	   *end = rec + RowRecordFixedSize(desc->natts);

	for (int a = 0; a < desc->natts; a++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, a);

		if (!att->attbyval && !isnull[a])
			end += MAXALIGN(datumGetSize(values[a], false, att->attlen));
	}
	return end;
}

/* group_io.c */
extern void GroupIndexesOpen(Relation rel, GroupIndexes *targets);
extern void GroupIndexesClose(GroupIndexes *targets);
extern void GroupIndexesInsert(GroupIndexes *targets, Relation rel, int64 rownum,
							   Datum *values, bool *isnull);
extern void GroupOutputInit(GroupOutput *out, Relation rel,
							const CompactionSettings *settings,
							const CompactionGroup *group, int64 first_row,
							const char *clustering, GroupIndexes *indexes,
							bool parallel);
extern int64 GroupOutputAddRow(GroupOutput *out, Datum *values, bool *isnull);
extern void GroupOutputAddGathered(GroupOutput *out, Datum **values,
								   bool **isnull, const int64 *rows, int64 n,
								   int64 *newrows, bool copy);
extern int64 GroupOutputAddLiveSources(GroupOutput *out, int nsources,
									   FragmentReader **readers,
									   DeletionVector **deleted, int64 **maps);
extern bool GroupOutputCanCopy(GroupOutput *out, FragmentReader *reader);
extern int64 GroupOutputCopyRowGroup(GroupOutput *out, FragmentReader *reader,
									 int rowgroup, int nrows, Datum **values,
									 bool **isnull);
extern bool GroupOutputAddRecords(GroupOutput *out, const char *records,
								  Size len, int n);
extern void GroupOutputFlushRowGroup(GroupOutput *out);
extern void GroupOutputEndFragment(GroupOutput *out);
extern void GroupOutputFinish(GroupOutput *out);
extern void GroupSourceOpen(GroupSource *src, Relation rel,
							const FragmentMeta *meta);
extern bool GroupSourceNextRowGroup(GroupSource *src);
extern void GroupSourceDecode(GroupSource *src);
extern void GroupSourceClose(GroupSource *src);

/* shared_work_mem.c */
extern char *SharedWorkMemClaim(MemoryContext cxt, Size *size);
extern int64 SharedWorkMemOffset(const void *p, Size len);
extern char *SharedWorkMemAt(int64 off, Size len);

/* parallel_writer.c */
extern PGDLLIMPORT int compact_min_parallel_compaction_size_kb;
extern const char *ParallelWriterUnusable(const CompactionRequest *request,
										  const CompactionGroup *group,
										  const GroupIndexes *indexes);
extern ParallelWriter *ParallelWriterStart(Relation rel, int ncols,
										   const FragmentColumn *cols);
extern void ParallelWriterBegin(ParallelWriter *pw, int64 fragment_id,
								TransactionId file_xid);
extern void ParallelWriterAddRowGroup(ParallelWriter *pw, int nrows,
									  Datum **values, bool **isnull);
extern void ParallelWriterSync(ParallelWriter *pw);
extern void ParallelWriterAddRecords(ParallelWriter *pw, int nrows,
									 const char *records, Size len);
extern void ParallelWriterCopyRowGroup(ParallelWriter *pw,
									   FragmentReader *reader, int rowgroup);
extern bool ParallelWriterRequestHelp(ParallelWriter *pw, const void *req,
									  Size reqlen, const void *extra,
									  Size extralen);
extern void ParallelWriterWait(ParallelWriter *pw);
extern bool ParallelWriterReceiveHelp(ParallelWriter *pw, bool wait,
									  const char **data, Size *len);
extern void ParallelWriterFinish(ParallelWriter *pw, FragmentInfo *info,
								 bytea **stats);
extern bool ParallelWriterReceiveFinished(ParallelWriter *pw, bool wait,
										  FragmentInfo *info, bytea **stats);
extern void ParallelWriterLiveBegin(ParallelWriter *pw, int nsources);
extern int	ParallelWriterClaimLive(ParallelWriter *pw);
extern int	ParallelWriterLiveClaimed(ParallelWriter *pw, bool *all);
extern bool ParallelWriterSendLive(ParallelWriter *pw, int source, int64 fragment_id,
								   TransactionId file_xid, const char *path,
								   const uint8 *deleted, int64 nrows, bool nowait);
extern void ParallelWriterEnd(ParallelWriter *pw);

/* kernel_merge.c */
extern void KernelMerge(GroupRun *gs);

/* kernel_sort.c */
extern bool KernelSortInPasses(GroupRun *gs);
extern void KernelSortTuplesort(GroupRun *gs);
extern void KernelSortHelp(Relation rel, const char *data, Size len,
						   shm_mq_handle *out);

#endif							/* COMPACT_COMPACTION_KERNEL_H */
