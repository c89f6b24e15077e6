/*-------------------------------------------------------------------------
 * kernel_sort.c
 *	  The sort kernels (ORDER BY, Z-order, Hilbert): in memory on normalized
 *	  keys when the rows fit, through PostgreSQL's tuplesort (which spills)
 *	  when they do not.
 *
 * IDENTIFICATION
 *	  src/compaction/kernel_sort.c
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

/* which source holds an old row number */
static int
GroupSourceOfRow(GroupRun *gs, int64 rownum, int64 *offset)
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
void
KernelSortTuplesort(GroupRun *gs)
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
		GroupSource src;
		int64		offset = 0;
		TupleTableSlot *vslot = MakeSingleTupleTableSlot(sortdesc, &TTSOpsVirtual);

		GroupSourceOpen(&src, gs->rel, gs->sources[s]);
		while (GroupSourceNextRowGroup(&src))
		{
			GroupSourceDecode(&src);
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
		GroupSourceClose(&src);
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
		s = GroupSourceOfRow(gs, oldrow, &offset);
		gs->maps[s][offset] = GroupOutputAddRow(&gs->out, values, isnull);
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
 * key and the decoded rows fit in maintenance_work_mem; otherwise KernelSortTuplesort's
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

bool
KernelSortInMemory(GroupRun *gs)
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
	/* column arrays, old row numbers, sort entries; gather's order and new
	 * row numbers reuse the entries' space; the row maps are already held */
	fixed = (Size) live * (natts * (sizeof(Datum) + sizeof(bool)) +
						   sizeof(int64) + sizeof(SortEntry)) +
		(Size) gs->group->rows * sizeof(int64);
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
		GroupSource src;
		int64		offset = 0;

		old = MemoryContextSwitchTo(datacxt);
		GroupSourceOpen(&src, gs->rel, gs->sources[s]);
		MemoryContextSwitchTo(old);
		src.keep = true;		/* the column arrays point into every row group */
		while (GroupSourceNextRowGroup(&src))
		{
			GroupSourceDecode(&src);
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
		GroupOutputAddGathered(&gs->out, values, isnull, order, n, newrows);
		for (int64 i = 0; i < n; i++)
		{
			int64		offset;
			int			s = GroupSourceOfRow(gs, oldrows[order[i]], &offset);

			gs->maps[s][offset] = newrows[i];
		}
		/* the buffered rows point into datacxt: write them out first */
		GroupOutputFlushRowGroup(&gs->out);
	}
	MemoryContextDelete(datacxt);
	return true;
}
