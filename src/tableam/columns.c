/*-------------------------------------------------------------------------
 * columns.c
 *	  Describe a table's columns to the format layer.
 *
 * Dropped columns are not stored.  A column missing from an older fragment
 * (ADD COLUMN after the fragment was written) reads as the column's missing
 * value, as heap tuples with fewer attributes do.
 *
 * IDENTIFICATION
 *	  src/tableam/columns.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "utils/typcache.h"

#include "tableam/tableam.h"

/*
 * FragmentColumns of the first natts attributes of desc, skipping dropped
 * ones; with_stats prepares each column's default btree ordering for
 * min/max statistics.  Allocated in CurrentMemoryContext.
 */
FragmentColumn *
CompactFragmentColumns(TupleDesc desc, int natts, bool with_stats, int *ncolumns)
{
	FragmentColumn *cols = palloc0(sizeof(FragmentColumn) * Max(natts, 1));
	int			n = 0;

	for (int i = 0; i < natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		FragmentColumn *col = &cols[n];

		if (att->attisdropped)
			continue;
		col->attnum = att->attnum;
		col->typid = att->atttypid;
		col->typlen = att->attlen;
		col->typbyval = att->attbyval;
		col->typalign = att->attalign;
		col->ssup = NULL;
		if (with_stats)
		{
			TypeCacheEntry *tce = lookup_type_cache(att->atttypid, TYPECACHE_LT_OPR);

			if (OidIsValid(tce->lt_opr))
			{
				SortSupport ssup = palloc0(sizeof(SortSupportData));

				ssup->ssup_cxt = CurrentMemoryContext;
				ssup->ssup_collation = att->attcollation;
				ssup->ssup_nulls_first = false;
				PrepareSortSupportFromOrderingOp(tce->lt_opr, ssup);
				col->ssup = ssup;
			}
		}
		n++;
	}
	*ncolumns = n;
	return cols;
}

/*
 * The value of an attribute that a fragment does not store.
 */
void
CompactFillMissing(TupleDesc desc, int attnum, Datum *value, bool *isnull)
{
	if (TupleDescAttr(desc, attnum - 1)->attisdropped)
	{
		*value = (Datum) 0;
		*isnull = true;
		return;
	}
	*value = getmissingattr(desc, attnum, isnull);
}
