/*-------------------------------------------------------------------------
 * fragment_live.c
 *	  A fragment's live rows appended to a writer: how a compaction that
 *	  drops deleted rows rewrites a source into a new fragment of its own.
 *
 * A row group without deleted rows, of at least half the row group size,
 * is copied as it is, page by page without decoding (FragmentWriterCopyRowGroup);
 * the others are decoded and their live rows re-cut into row groups of
 * the row group size.  This is the merge kernel's rule (KernelMerge), so
 * a source comes out the same bytes whichever way, and whichever process,
 * rewrites it.
 *
 * The live rows wait for their row group as Datums that point into the
 * decoded row groups, each decoded in a memory context of its own: a
 * decoded row group stays while its rows wait, unless fewer than a quarter
 * of a row group of them do, which are copied instead.  So besides the row
 * group being read at most three are kept (their waiting rows fill less
 * than a row group), and most rows are never copied.
 *
 * IDENTIFICATION
 *	  src/format/fragment_live.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/datum.h"
#include "utils/memutils.h"

#include "format/fragment.h"

/* decoded row groups kept for their waiting rows, besides the one being read */
#define LIVE_MAX_KEPT	4

typedef struct LiveRows
{
	FragmentWriter *writer;
	FragmentReader *reader;
	int			ncols;
	int			rowgroup_size;
	const FragmentColumn **cols;
	/* the rows waiting for their row group */
	Datum	  **values;			/* [ncols][rowgroup_size] */
	bool	  **isnull;
	int			nbuf;
	/* contexts of decoded row groups whose rows wait, and free ones */
	MemoryContext kept[LIVE_MAX_KEPT];
	int			nkept;
	MemoryContext free[LIVE_MAX_KEPT + 1];
	int			nfree;
	MemoryContext copies;		/* copied values of waiting rows */
} LiveRows;

/*
 * Is this row group (rows rows from row first of the fragment) copied as it
 * is?  deleted is the fragment's deletion bitmap, or NULL.
 */
bool
FragmentRowGroupCopied(int rows, const uint8 *deleted, int64 first,
					   int rowgroup_size)
{
	if (rows < rowgroup_size / 2)
		return false;
	if (deleted == NULL)
		return true;
	for (int64 r = first; r < first + rows; r++)
		if ((deleted[r >> 3] >> (r & 7)) & 1)
			return false;
	return true;
}

static MemoryContext
TakeContext(LiveRows *lr)
{
	if (lr->nfree > 0)
		return lr->free[--lr->nfree];
	return AllocSetContextCreate(CurrentMemoryContext, "compact decoded row group",
								 ALLOCSET_DEFAULT_SIZES);
}

static void
ReleaseContext(LiveRows *lr, MemoryContext cxt)
{
	MemoryContextReset(cxt);
	if (lr->nfree < lengthof(lr->free))
		lr->free[lr->nfree++] = cxt;
	else
		MemoryContextDelete(cxt);
}

/* The waiting rows as a row group; what they pointed into is freed. */
static void
FlushRows(LiveRows *lr)
{
	if (lr->nbuf == 0)
		return;
	FragmentWriterAddRowGroup(lr->writer, lr->nbuf, lr->values, lr->isnull);
	lr->nbuf = 0;
	for (int i = 0; i < lr->nkept; i++)
		ReleaseContext(lr, lr->kept[i]);
	lr->nkept = 0;
	MemoryContextReset(lr->copies);
}

/*
 * The by-reference values of the last n waiting rows, copied into one block
 * of lr->copies.
 */
static void
CopyWaiting(LiveRows *lr, int n)
{
	Size		total = 0;
	char	   *p;

	for (int c = 0; c < lr->ncols; c++)
	{
		if (lr->cols[c]->typbyval)
			continue;
		for (int j = lr->nbuf - n; j < lr->nbuf; j++)
			if (!lr->isnull[c][j])
				total += MAXALIGN(datumGetSize(lr->values[c][j], false,
											   lr->cols[c]->typlen));
	}
	if (total == 0)
		return;
	p = MemoryContextAllocHuge(lr->copies, total);
	for (int c = 0; c < lr->ncols; c++)
	{
		if (lr->cols[c]->typbyval)
			continue;
		for (int j = lr->nbuf - n; j < lr->nbuf; j++)
		{
			Size		len;

			if (lr->isnull[c][j])
				continue;
			len = datumGetSize(lr->values[c][j], false, lr->cols[c]->typlen);
			memcpy(p, DatumGetPointer(lr->values[c][j]), len);
			lr->values[c][j] = PointerGetDatum(p);
			p += MAXALIGN(len);
		}
	}
}

/* Decode a row group and add its live rows (keep[0..nkeep)) to the waiting ones. */
static void
AddLiveRows(LiveRows *lr, int rowgroup, int rows, const int *keep, int nkeep)
{
	MemoryContext cxt = TakeContext(lr);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	Datum	  **values = palloc(sizeof(Datum *) * lr->ncols);
	bool	  **isnull = palloc(sizeof(bool *) * lr->ncols);
	int			done = 0;
	int			waiting = 0;	/* of its rows among the waiting ones */

	for (int c = 0; c < lr->ncols; c++)
	{
		values[c] = palloc(sizeof(Datum) * rows);
		isnull[c] = palloc(sizeof(bool) * rows);
		FragmentReaderReadColumn(lr->reader, rowgroup, c, values[c], isnull[c]);
	}
	MemoryContextSwitchTo(old);

	while (done < nkeep)
	{
		int			k = Min(lr->rowgroup_size - lr->nbuf, nkeep - done);

		for (int c = 0; c < lr->ncols; c++)
		{
			Datum	   *dst = lr->values[c] + lr->nbuf;
			bool	   *dstnull = lr->isnull[c] + lr->nbuf;
			const Datum *src = values[c];
			const bool *srcnull = isnull[c];

			for (int j = 0; j < k; j++)
			{
				int			r = keep[done + j];

				dst[j] = src[r];
				dstnull[j] = srcnull[r];
			}
		}
		lr->nbuf += k;
		waiting += k;
		done += k;
		if (lr->nbuf == lr->rowgroup_size)
		{
			FlushRows(lr);
			waiting = 0;
		}
	}

	/* rows of it still wait: keep it, or copy them if they are few */
	if (waiting >= lr->rowgroup_size / 4 && lr->nkept < LIVE_MAX_KEPT)
	{
		lr->kept[lr->nkept++] = cxt;
		return;
	}
	if (waiting > 0)
		CopyWaiting(lr, waiting);
	ReleaseContext(lr, cxt);
}

/*
 * Append the live rows of reader's fragment to writer, in row order:
 * deleted is a bitmap over the fragment's rows (bit set: deleted), or NULL
 * if none is.  Row groups are cut at rowgroup_size rows; the last one may
 * be short (the caller ends the fragment after it).  The writer must be
 * able to take reader's row groups as they are (FragmentWriterCanCopy).
 * Returns the rows copied without decoding.
 */
int64
FragmentWriterAddLive(FragmentWriter *writer, FragmentReader *reader,
					  const uint8 *deleted, int rowgroup_size)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext,
											  "compact live rows",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	LiveRows	lr;
	int			nrowgroups = FragmentReaderNumRowGroups(reader);
	int		   *keep = NULL;
	int			keepsize = 0;
	int64		first = 0;
	int64		copied = 0;

	if (!FragmentWriterCanCopy(writer, reader))
		elog(ERROR, "cannot rewrite \"%s\": its columns are not the new fragment's",
			 FragmentReaderPath(reader));
	memset(&lr, 0, sizeof(lr));
	lr.writer = writer;
	lr.reader = reader;
	lr.ncols = FragmentReaderNumColumns(reader);
	lr.rowgroup_size = rowgroup_size;
	lr.cols = palloc(sizeof(FragmentColumn *) * Max(lr.ncols, 1));
	lr.values = palloc(sizeof(Datum *) * Max(lr.ncols, 1));
	lr.isnull = palloc(sizeof(bool *) * Max(lr.ncols, 1));
	for (int c = 0; c < lr.ncols; c++)
	{
		lr.cols[c] = FragmentReaderColumn(reader, c);
		lr.values[c] = palloc(sizeof(Datum) * rowgroup_size);
		lr.isnull[c] = palloc(sizeof(bool) * rowgroup_size);
	}
	lr.copies = AllocSetContextCreate(cxt, "compact copied values",
									  ALLOCSET_DEFAULT_SIZES);

	for (int rg = 0; rg < nrowgroups; rg++)
	{
		int			rows = FragmentReaderRowGroupRows(reader, rg);
		int			nkeep = 0;

		CHECK_FOR_INTERRUPTS();
		if (FragmentRowGroupCopied(rows, deleted, first, rowgroup_size))
		{
			/* rows waiting before it go first, as a row group of their own */
			FlushRows(&lr);
			FragmentWriterCopyRowGroup(writer, reader, rg);
			copied += rows;
			first += rows;
			continue;
		}
		if (keepsize < rows)
		{
			keepsize = rows;
			keep = keep ? repalloc(keep, sizeof(int) * keepsize) :
				palloc(sizeof(int) * keepsize);
		}
		for (int r = 0; r < rows; r++)
			if (deleted == NULL || !((deleted[(first + r) >> 3] >> ((first + r) & 7)) & 1))
				keep[nkeep++] = r;
		if (nkeep > 0)
			AddLiveRows(&lr, rg, rows, keep, nkeep);
		first += rows;
	}
	FlushRows(&lr);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	return copied;
}
