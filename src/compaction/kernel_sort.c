/*-------------------------------------------------------------------------
 * kernel_sort.c
 *	  The sort kernels (ORDER BY, Z-order, Hilbert): sorted normalized keys
 *	  and passes over the sources when the keys fit in memory, PostgreSQL's
 *	  tuplesort (which spills) when they do not.
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
 * The sort on normalized keys: (key, row) pairs are sorted, then the rows
 * are gathered in key order.  Keys are order-preserving 64-bit words: a
 * curve key, or per ORDER BY column an optional NULL-rank word and a value
 * word (integers and date/time types with their sign bit flipped, floats by
 * their IEEE bits, DESC by complement).  Used when every ORDER BY column
 * has such a key and the keys fit in half of maintenance_work_mem;
 * otherwise KernelSortTuplesort's tuplesort, which spills, does the work.
 */
#define FAST_SORT_MAX_COLUMNS	3
#define FAST_SORT_MAX_WORDS		(2 * FAST_SORT_MAX_COLUMNS)

typedef struct SortEntry
{
	uint64		k[FAST_SORT_MAX_WORDS];
	int64		row;			/* index into the column arrays */
} SortEntry;

/* key words, then the row: both entry types sort by this */
static inline int
CompareKeys(const uint64 *ka, int64 rowa, const uint64 *kb, int64 rowb, int nwords)
{
	for (int i = 0; i < nwords; i++)
		if (ka[i] != kb[i])
			return ka[i] < kb[i] ? -1 : 1;
	return rowa < rowb ? -1 : (rowa > rowb ? 1 : 0);
}

#define ST_SORT sort_entries
#define ST_ELEMENT_TYPE SortEntry
#define ST_COMPARE(a, b, arg) CompareKeys((a)->k, (a)->row, (b)->k, (b)->row, *(arg))
#define ST_COMPARE_ARG_TYPE int
#define ST_CHECK_FOR_INTERRUPTS
#define ST_SCOPE static
#define ST_DEFINE
#include "lib/sort_template.h"

/*
 * Most keys take one or two words (a curve key; one or two ORDER BY columns
 * without NULLs): their entries are 24 bytes instead of 56, so more rows
 * sort on normalized keys within the memory limit, and faster.
 */
#define SHORT_KEY_WORDS		2

typedef struct ShortSortEntry
{
	uint64		k[SHORT_KEY_WORDS];
	int64		row;
} ShortSortEntry;

#define ST_SORT sort_short_entries
#define ST_ELEMENT_TYPE ShortSortEntry
#define ST_COMPARE(a, b, arg) CompareKeys((a)->k, (a)->row, (b)->k, (b)->row, *(arg))
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

/*
 * How sort keys are made: a curve key (one word), or per ORDER BY column a
 * NULL-rank word when the column may hold NULLs (the sources' statistics
 * say) and a value word.
 */
typedef struct KeyBuilder
{
	const CompactionRequest *req;
	bool		curve;
	CurveKeyState cks;
	int			nwords;
	bool		withnulls[FAST_SORT_MAX_COLUMNS];
} KeyBuilder;

/* false if some ORDER BY column has no normalized key */
static bool
KeyBuilderInit(KeyBuilder *kb, GroupRun *gs)
{
	const CompactionRequest *req = gs->request;

	memset(kb, 0, sizeof(KeyBuilder));
	kb->req = req;
	kb->curve = req->strategy != COMPACTION_SORT;
	if (kb->curve)
	{
		Oid			typids[COMPACT_MAX_CURVE_COLUMNS];

		for (int k = 0; k < req->nkeys; k++)
			typids[k] = req->keys[k].typid;
		CurveKeyInit(&kb->cks, req->strategy == COMPACTION_HILBERT, req->nkeys, typids);
		kb->nwords = 1;
	}
	else
	{
		if (req->nkeys > FAST_SORT_MAX_COLUMNS)
			return false;
		for (int k = 0; k < req->nkeys; k++)
			if (!NormalizableType(req->keys[k].typid))
				return false;
	}

	/* each curve column's range, and which ORDER BY columns hold NULLs */
	for (int s = 0; s < gs->nsources; s++)
	{
		int16	   *stat_attnums;
		ColumnStats *stats;
		int			n = 0;

		if (gs->sources[s]->stats != NULL)
			n = FragmentStatsDeserialize(gs->sources[s]->stats, &stat_attnums, &stats);
		for (int k = 0; k < req->nkeys; k++)
		{
			bool		described = false;

			for (int i = 0; i < n; i++)
			{
				if (stat_attnums[i] != req->keys[k].attnum)
					continue;
				described = true;
				if (kb->curve && stats[i].has_minmax)
					CurveKeyWiden(&kb->cks, k, stats[i].min, stats[i].max);
				if (!kb->curve && stats[i].null_count > 0)
					kb->withnulls[k] = true;
			}
			/* no statistics (or a column added later): assume NULLs */
			if (!kb->curve && !described)
				kb->withnulls[k] = true;
		}
	}
	if (!kb->curve)
		for (int k = 0; k < req->nkeys; k++)
			kb->nwords += kb->withnulls[k] ? 2 : 1;
	return true;
}

/* the key of row r of the column arrays */
static inline void
KeyBuild(const KeyBuilder *kb, Datum **values, bool **isnull, int64 r,
		 uint64 *words)
{
	const CompactionRequest *req = kb->req;

	if (kb->curve)
	{
		Datum		kv[COMPACT_MAX_CURVE_COLUMNS];
		bool		kn[COMPACT_MAX_CURVE_COLUMNS];

		for (int k = 0; k < req->nkeys; k++)
		{
			kv[k] = values[req->keys[k].attnum - 1][r];
			kn[k] = isnull[req->keys[k].attnum - 1][r];
		}
		words[0] = CurveKey(&kb->cks, kv, kn);
	}
	else
	{
		int			w = 0;

		for (int k = 0; k < req->nkeys; k++)
		{
			const ClusterKey *key = &req->keys[k];
			bool		null = isnull[key->attnum - 1][r];
			uint64		v = null ? 0 :
				NormalizedKey(key->typid, values[key->attnum - 1][r]);

			if (kb->withnulls[k])
				words[w++] = null ? (key->nulls_first ? 0 : 2) : 1;
			else
				Assert(!null);
			words[w++] = key->desc ? ~v : v;
		}
	}
}

/* bytes a row's by-reference values take */
static Size
RowWidth(TupleDesc desc, Datum **values, bool **isnull, int r)
{
	Size		width = 0;

	for (int a = 0; a < desc->natts; a++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, a);

		if (att->attbyval || isnull[a][r])
			continue;
		width += MAXALIGN(att->attlen > 0 ? att->attlen :
						  att->attlen == -1 ? VARSIZE_ANY(DatumGetPointer(values[a][r])) :
						  strlen(DatumGetCString(values[a][r])) + 1);
	}
	return width;
}

/* A bump allocator for the by-reference values of one pass. */
typedef struct PassArena
{
	MemoryContext cxt;
	char	   *block;
	Size		used;
	Size		size;
} PassArena;

static Datum
PassArenaCopy(PassArena *arena, Form_pg_attribute att, Datum value)
{
	Size		len = att->attlen > 0 ? att->attlen :
		att->attlen == -1 ? VARSIZE_ANY(DatumGetPointer(value)) :
		strlen(DatumGetCString(value)) + 1;
	Size		need = MAXALIGN(len);
	char	   *dst;

	if (arena->block == NULL || arena->used + need > arena->size)
	{
		arena->size = Max(need, 4 * 1024 * 1024);
		arena->block = CompactAllocLarge(arena->cxt, arena->size);
		arena->used = 0;
	}
	dst = arena->block + arena->used;
	memcpy(dst, DatumGetPointer(value), len);
	arena->used += need;
	return PointerGetDatum(dst);
}

/*
 * The sort in passes.  A first pass decodes the sources one row group at a
 * time and keeps only each live row's key and width; the keys are sorted.
 * Then the sorted order is cut into chunks (whole row groups) whose decoded
 * rows fit in memory, and each chunk takes one more pass over the sources,
 * keeping the rows that fall into it at their place, and goes out in
 * order.  The sources are decoded 1 + (number of chunks) times, without
 * temporary files: a group twice the memory limit costs three decodes,
 * where a tuplesort that spills writes, reads and compares every row
 * again.  Even when everything fits this beats keeping every decoded row
 * group and gathering from them: decoding into one reused row group and
 * filling the chunk's arrays touches far less fresh memory.
 */
bool
KernelSortInPasses(GroupRun *gs)
{
	TupleDesc	desc = RelationGetDescr(gs->rel);
	int			natts = desc->natts;
	int64		live = gs->group->rows - gs->group->deleted;
	Size		limit = (Size) maintenance_work_mem * 1024;
	Size		perrow = natts * (sizeof(Datum) + sizeof(bool)) + 3 * sizeof(int64);
	Size		budget;
	MemoryContext cxt;
	MemoryContext old;
	bool		shortkeys;
	Size		entrysize;
	SortEntry  *entries = NULL;
	ShortSortEntry *shorts = NULL;
	uint32	   *widths;
	int64	   *pos;
	int64	   *bounds;
	int			nchunks = 0;
	int64		n = 0;
	KeyBuilder	kb;

	if (live == 0 || !KeyBuilderInit(&kb, gs))
		return false;
	shortkeys = kb.nwords <= SHORT_KEY_WORDS;
	entrysize = shortkeys ? sizeof(ShortSortEntry) : sizeof(SortEntry);
	/*
	 * The keys, and then each row's place, must fit with room for chunks;
	 * the row maps (8 bytes per source row) are held all along.
	 */
	if ((Size) live * (entrysize + sizeof(uint32)) > limit / 2 ||
		(Size) (live + gs->group->rows) * sizeof(int64) +
		(Size) compact_row_group_size * perrow * 2 > limit / 2)
		return false;

	cxt = AllocSetContextCreate(CurrentMemoryContext, "compact sort in passes",
								ALLOCSET_DEFAULT_SIZES);
	if (shortkeys)
		shorts = CompactAllocLarge(cxt, entrysize * live);
	else
		entries = CompactAllocLarge(cxt, entrysize * live);
	widths = CompactAllocLarge(cxt, sizeof(uint32) * live);

	/* pass 1: keys and widths */
	for (int s = 0; s < gs->nsources; s++)
	{
		GroupSource src;
		int64		offset = 0;

		old = MemoryContextSwitchTo(cxt);
		GroupSourceOpen(&src, gs->rel, gs->sources[s]);
		MemoryContextSwitchTo(old);
		while (GroupSourceNextRowGroup(&src))
		{
			GroupSourceDecode(&src);
			for (int r = 0; r < src.rows; r++, offset++)
			{
				if (gs->deleted[s] && DeletionVectorIsSet(gs->deleted[s], offset))
					continue;
				if (n >= live)
					elog(ERROR, "compaction found more than " INT64_FORMAT " live rows", live);
				if (shortkeys)
				{
					KeyBuild(&kb, src.values, src.isnull, r, shorts[n].k);
					shorts[n].row = n;
				}
				else
				{
					KeyBuild(&kb, src.values, src.isnull, r, entries[n].k);
					entries[n].row = n;
				}
				widths[n] = (uint32) Min(RowWidth(desc, src.values, src.isnull, r), PG_UINT32_MAX);
				n++;
			}
		}
		GroupSourceClose(&src);
	}
	if (n != live)
		elog(ERROR, "compaction decoded " INT64_FORMAT " rows instead of " INT64_FORMAT,
			 n, live);
	if (shortkeys)
		sort_short_entries(shorts, n, &kb.nwords);
	else
		sort_entries(entries, n, &kb.nwords);

	/* chunks of whole row groups whose rows fit what is left of the limit */
	budget = limit - (Size) (n + gs->group->rows) * sizeof(int64);
	bounds = CompactAllocLarge(cxt, sizeof(int64) * (n / compact_row_group_size + 2));
	bounds[nchunks++] = 0;
	{
		Size		used = 0;

		for (int64 j = 0; j < n; j++)
		{
			if (j > bounds[nchunks - 1] && j % compact_row_group_size == 0 &&
				used + (Size) compact_row_group_size * perrow > budget)
			{
				bounds[nchunks++] = j;
				used = 0;
			}
			used += perrow + widths[shortkeys ? shorts[j].row : entries[j].row];
		}
	}
	bounds[nchunks] = n;
	elog(DEBUG1, "compact: sorting " INT64_FORMAT " rows in %d passes over the sources",
		 n, nchunks + 1);
	pfree(widths);
	pos = CompactAllocLarge(cxt, sizeof(int64) * n);
	for (int64 j = 0; j < n; j++)
		pos[shortkeys ? shorts[j].row : entries[j].row] = j;
	pfree(shortkeys ? (void *) shorts : (void *) entries);

	/* one more pass per chunk */
	for (int c = 0; c < nchunks; c++)
	{
		int64		lo = bounds[c];
		int64		count = bounds[c + 1] - lo;
		MemoryContext chunkcxt = AllocSetContextCreate(cxt, "compact sort chunk",
													   ALLOCSET_DEFAULT_SIZES);
		PassArena	arena = {chunkcxt, NULL, 0, 0};
		int			slice = compact_row_group_size;
		Datum	   *rowvals;	/* row-major: a row's values share cache lines */
		bool	   *rownulls;
		int64	   *oldrows;
		Datum	  **values;		/* one output row group, column by column */
		bool	  **isnull;
		int64	   *order;
		int64	   *newrows;
		int64		i = 0;

		old = MemoryContextSwitchTo(chunkcxt);
		rowvals = CompactAllocLarge(chunkcxt, sizeof(Datum) * Max(natts, 1) * count);
		rownulls = CompactAllocLarge(chunkcxt, sizeof(bool) * Max(natts, 1) * count);
		oldrows = CompactAllocLarge(chunkcxt, sizeof(int64) * count);
		values = palloc(sizeof(Datum *) * Max(natts, 1));
		isnull = palloc(sizeof(bool *) * Max(natts, 1));
		for (int a = 0; a < natts; a++)
		{
			values[a] = palloc(sizeof(Datum) * slice);
			isnull[a] = palloc(sizeof(bool) * slice);
		}
		order = palloc(sizeof(int64) * slice);
		newrows = palloc(sizeof(int64) * slice);
		for (int k = 0; k < slice; k++)
			order[k] = k;
		MemoryContextSwitchTo(old);

		for (int s = 0; s < gs->nsources; s++)
		{
			GroupSource src;
			int64		offset = 0;

			old = MemoryContextSwitchTo(chunkcxt);
			GroupSourceOpen(&src, gs->rel, gs->sources[s]);
			MemoryContextSwitchTo(old);
			while (GroupSourceNextRowGroup(&src))
			{
				int64		first = i;
				int64		first_offset = offset;
				bool		wanted = false;

				/* decode only row groups with rows of this chunk */
				for (int r = 0; r < src.rows; r++, offset++)
				{
					if (gs->deleted[s] && DeletionVectorIsSet(gs->deleted[s], offset))
						continue;
					if (pos[i] >= lo && pos[i] < lo + count)
						wanted = true;
					i++;
				}
				if (!wanted)
					continue;
				GroupSourceDecode(&src);
				i = first;
				offset = first_offset;
				for (int r = 0; r < src.rows; r++, offset++)
				{
					int64		j;

					if (gs->deleted[s] && DeletionVectorIsSet(gs->deleted[s], offset))
						continue;
					j = pos[i++] - lo;
					if (j < 0 || j >= count)
						continue;
					for (int a = 0; a < natts; a++)
					{
						Form_pg_attribute att = TupleDescAttr(desc, a);
						bool		null = src.isnull[a][r];

						rownulls[j * natts + a] = null;
						rowvals[j * natts + a] = att->attbyval || null ? src.values[a][r] :
							PassArenaCopy(&arena, att, src.values[a][r]);
					}
					oldrows[j] = gs->sources[s]->first_row + offset;
				}
			}
			GroupSourceClose(&src);
		}

		/* out one row group at a time, turned into columns again */
		for (int64 start = 0; start < count; start += slice)
		{
			int			k = (int) Min(slice, count - start);

			for (int a = 0; a < natts; a++)
				for (int r = 0; r < k; r++)
				{
					values[a][r] = rowvals[(start + r) * natts + a];
					isnull[a][r] = rownulls[(start + r) * natts + a];
				}
			GroupOutputAddGathered(&gs->out, values, isnull, order, k, newrows, false);
			for (int r = 0; r < k; r++)
			{
				int64		offset;
				int			s = GroupSourceOfRow(gs, oldrows[start + r], &offset);

				gs->maps[s][offset] = newrows[r];
			}
		}
		/* the buffered rows point into this chunk: write them out first */
		GroupOutputFlushRowGroup(&gs->out);
		MemoryContextDelete(chunkcxt);
	}
	MemoryContextDelete(cxt);
	return true;
}
