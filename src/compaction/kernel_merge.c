/*-------------------------------------------------------------------------
 * kernel_merge.c
 *	  The merge kernel: rows in row order, whole row groups copied when they can be.
 *
 * IDENTIFICATION
 *	  src/compaction/kernel_merge.c
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
#include "format/rowmap.h"
#include "tableam/tableam.h"

/*
 * A one_per_source group rewritten source by source, whole (see
 * GroupOutputAddLiveSources): when the table has no indexes and every
 * source has the output's columns and fits one new fragment.  False, with
 * nothing done, if not.
 */
static bool
MergeLiveSources(GroupRun *gs)
{
	FragmentReader **readers;
	bool		usable = gs->group->one_per_source && gs->out.indexes->count == 0;
	int			opened = 0;

	if (!usable)
		return false;
	readers = palloc(sizeof(FragmentReader *) * gs->nsources);
	for (; opened < gs->nsources && usable; opened++)
	{
		GroupSource src;
		FragmentMeta *meta = gs->sources[opened];
		int64		deleted = gs->deleted[opened] ? gs->deleted[opened]->ndeleted : 0;

		/* opened as a source is, with its row count checked */
		GroupSourceOpen(&src, gs->rel, meta);
		readers[opened] = src.reader;
		MemoryContextDelete(src.cxt);
		usable = GroupOutputCanCopy(&gs->out, src.reader) &&
			meta->row_count - deleted <= gs->out.rows_per_fragment;
	}
	if (usable)
	{
		for (int s = 0; s < gs->nsources; s++)
			CompactionNoteIO(gs->sources[s]->bytes, 0);
		gs->copied_rows += GroupOutputAddLiveSources(&gs->out, gs->nsources,
													 readers, gs->deleted,
													 gs->maps);
	}
	for (int s = 0; s < opened; s++)
		FragmentReaderClose(readers[s]);
	pfree(readers);
	return usable;
}

/*
 * Rows in row order: the merge strategy (with group->one_per_source, each
 * source's rows into new fragments of their own).  A row group without deleted
 * rows, of at least half the row group size, in a fragment of the same
 * columns is copied page by page without decoding (it is decoded only if
 * the table has indexes, for their new entries); others are decoded and
 * re-cut into full row groups.
 */
void
KernelMerge(GroupRun *gs)
{
	int64	   *keep = NULL;		/* live rows of a row group */
	int64	   *newrows = NULL;
	int			nkeep;
	int			cap = 0;

	if (MergeLiveSources(gs))
		return;

	for (int s = 0; s < gs->nsources; s++)
	{
		GroupSource src;
		int64		offset = 0;
		bool		copyable;

		GroupSourceOpen(&src, gs->rel, gs->sources[s]);
		copyable = GroupOutputCanCopy(&gs->out, src.reader);
		while (GroupSourceNextRowGroup(&src))
		{
			if (copyable &&
				FragmentRowGroupCopied(src.rows,
									   gs->deleted[s] && gs->deleted[s]->ndeleted > 0 ?
									   gs->deleted[s]->bits : NULL,
									   offset, compact_row_group_size))
			{
				int64		first;

				if (gs->out.indexes->count > 0)
					GroupSourceDecode(&src);
				first = GroupOutputCopyRowGroup(&gs->out, src.reader, src.rowgroup,
										   src.rows,
										   src.decoded ? src.values : NULL,
										   src.decoded ? src.isnull : NULL);
				for (int r = 0; r < src.rows; r++)
					gs->maps[s][offset + r] = first + r;
				gs->copied_rows += src.rows;
				offset += src.rows;
				continue;
			}
			/* the live rows, column by column (the decoded arrays are reused) */
			GroupSourceDecode(&src);
			if (cap < src.rows)
			{
				if (keep)
				{
					pfree(keep);
					pfree(newrows);
				}
				cap = src.rows;
				keep = palloc(sizeof(int64) * cap);
				newrows = palloc(sizeof(int64) * cap);
			}
			nkeep = 0;
			for (int r = 0; r < src.rows; r++)
				if (gs->deleted[s] == NULL ||
					!DeletionVectorIsSet(gs->deleted[s], offset + r))
					keep[nkeep++] = r;
			GroupOutputAddGathered(&gs->out, src.values, src.isnull, keep, nkeep,
								   newrows, true);
			for (int k = 0; k < nkeep; k++)
				gs->maps[s][offset + keep[k]] = newrows[k];
			offset += src.rows;
		}
		GroupSourceClose(&src);
		/* a source rewritten on its own ends its new fragment */
		if (gs->group->one_per_source)
			GroupOutputEndFragment(&gs->out);
	}
}
