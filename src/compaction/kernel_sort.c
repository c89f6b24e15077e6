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
#include "port/pg_bitutils.h"
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
 * sort on normalized keys within the memory limit, and faster.  A one-word
 * key has a zero second word: the comparison has no loop.
 */
#define SHORT_KEY_WORDS		2

typedef struct ShortSortEntry
{
	uint64		k[SHORT_KEY_WORDS];
	int64		row;
} ShortSortEntry;

static inline int
CompareShortEntries(const ShortSortEntry *a, const ShortSortEntry *b)
{
	if (a->k[0] != b->k[0])
		return a->k[0] < b->k[0] ? -1 : 1;
	if (a->k[1] != b->k[1])
		return a->k[1] < b->k[1] ? -1 : 1;
	return a->row < b->row ? -1 : (a->row > b->row ? 1 : 0);
}

#define ST_SORT sort_short_entries
#define ST_ELEMENT_TYPE ShortSortEntry
#define ST_COMPARE(a, b) CompareShortEntries(a, b)
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
	int			nkeys;
	ClusterKey	keys[COMPACT_MAX_CURVE_COLUMNS];	/* no pointers: the worker gets a copy */
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

	StaticAssertStmt(FAST_SORT_MAX_COLUMNS <= COMPACT_MAX_CURVE_COLUMNS,
					 "KeyBuilder's keys hold every ORDER BY column it handles");
	memset(kb, 0, sizeof(KeyBuilder));
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
	kb->nkeys = req->nkeys;
	memcpy(kb->keys, req->keys, sizeof(ClusterKey) * req->nkeys);

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
	if (kb->curve)
	{
		Datum		kv[COMPACT_MAX_CURVE_COLUMNS];
		bool		kn[COMPACT_MAX_CURVE_COLUMNS];

		for (int k = 0; k < kb->nkeys; k++)
		{
			kv[k] = values[kb->keys[k].attnum - 1][r];
			kn[k] = isnull[kb->keys[k].attnum - 1][r];
		}
		words[0] = CurveKey(&kb->cks, kv, kn);
	}
	else
	{
		int			w = 0;

		for (int k = 0; k < kb->nkeys; k++)
		{
			const ClusterKey *key = &kb->keys[k];
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
		width += MAXALIGN(datumGetSize(values[a][r], false, att->attlen));
	}
	return width;
}

/* the bucket sort's buckets (see SortShortEntries) */
#define BUCKET_BITS		12

/* how many rows ahead the passes prefetch the place of a row's record */
#define PREFETCH_ROWS	8
#if defined(__GNUC__) || defined(__clang__)
#define PrefetchForWrite(p)	__builtin_prefetch((p), 1)
#else
#define PrefetchForWrite(p)	((void) 0)
#endif

/* Quicksort each bucket (run of entries of one bucket) of [from, to). */
static void
SortBuckets(ShortSortEntry *entries, int64 from, int64 to, int w, int shift,
			uint64 base)
{
	int64		start = from;

	while (start < to)
	{
		uint64		b = (entries[start].k[w] - base) >> shift;
		int64		end = start + 1;

		while (end < to && ((entries[end].k[w] - base) >> shift) == b)
			end++;
		if (end - start > 1)
			sort_short_entries(entries + start, end - start);
		start = end;
		CHECK_FOR_INTERRUPTS();
	}
}

typedef struct SortHelp SortHelp;
static bool SortHelpSortStart(SortHelp *help, ShortSortEntry *entries,
							  int64 from, int64 to, int w, int shift,
							  uint64 base);
static void SortHelpSortWait(SortHelp *help);

/*
 * Sorts short entries: one pass puts them into up to 4096 buckets by the
 * top bits of their first differing key word less its minimum, stably,
 * then each bucket (a few thousand entries, in cache) gets a quicksort,
 * instead of a quicksort whose first levels go through all the entries in
 * memory.  The order is the same (key words, then row).  Needs a second
 * array of the entries; without one, a quicksort.  Returns the array that
 * holds the sorted entries.  With help (the parallel worker, when the
 * entries are in the shared work memory), the worker sorts the buckets of
 * the second half while this process sorts those of the first.
 */
static ShortSortEntry *
SortShortEntries(ShortSortEntry *entries, ShortSortEntry *spare, int64 n,
				 SortHelp *help)
{
	uint64		lo[SHORT_KEY_WORDS];
	uint64		hi[SHORT_KEY_WORDS];
	int64	   *starts;
	int			w = 0;
	int			shift;
	uint64		base;
	int64		nbuckets;
	int64		split;

	if (spare == NULL || n < 65536)
	{
		sort_short_entries(entries, n);
		return entries;
	}
	for (int k = 0; k < SHORT_KEY_WORDS; k++)
		lo[k] = hi[k] = entries[0].k[k];
	for (int64 i = 1; i < n; i++)
		for (int k = 0; k < SHORT_KEY_WORDS; k++)
		{
			lo[k] = Min(lo[k], entries[i].k[k]);
			hi[k] = Max(hi[k], entries[i].k[k]);
		}
	while (w < SHORT_KEY_WORDS && lo[w] == hi[w])
		w++;
	if (w == SHORT_KEY_WORDS)
		return entries;			/* equal keys: already in row order */
	/* the first word that differs, less its minimum, to BUCKET_BITS bits */
	base = lo[w];
	shift = Max(pg_leftmost_one_pos64(hi[w] - base) + 1 - BUCKET_BITS, 0);
	nbuckets = (int64) ((hi[w] - base) >> shift) + 1;

	starts = palloc0(sizeof(int64) * (nbuckets + 1));
	for (int64 i = 0; i < n; i++)
		starts[((entries[i].k[w] - base) >> shift) + 1]++;
	for (int64 b = 0; b < nbuckets; b++)
		starts[b + 1] += starts[b];
	for (int64 i = 0; i < n; i++)
		spare[starts[(entries[i].k[w] - base) >> shift]++] = entries[i];
	/* starts[b] is now the end of bucket b: split after the middle one */
	split = 0;
	for (int64 b = 0; b < nbuckets && split < n / 2; b++)
		split = starts[b];
	pfree(starts);
	if (split >= n || !SortHelpSortStart(help, spare, split, n, w, shift, base))
		split = n;
	else
		elog(DEBUG1, "compact: the parallel worker sorts " INT64_FORMAT " of the " INT64_FORMAT " keys",
			 n - split, n);
	SortBuckets(spare, 0, split, w, shift, base);
	if (split < n)
		SortHelpSortWait(help);
	return spare;
}

/*
 * Entry n of the key sort (a short one if shorts is set), its row set: where
 * its key words go.
 */
static inline uint64 *
EntryAt(ShortSortEntry *shorts, SortEntry *entries, int64 n)
{
	if (shorts)
	{
		shorts[n].k[1] = 0;
		shorts[n].row = n;
		return shorts[n].k;
	}
	entries[n].row = n;
	return entries[n].k;
}

/* Row r's record size; PG_UINT32_MAX if it is 4 GB or more (tuplesort). */
static inline uint32
RecordWidth(TupleDesc desc, Size fixed, Datum **values, bool **isnull, int r)
{
	Size		width = fixed + RowWidth(desc, values, isnull, r);

	return (uint32) Min(width, (Size) PG_UINT32_MAX);
}

/*
 * Row r of the column arrays as a record (see RowRecordFixedSize) at rec;
 * returns where it ends.
 */
static inline char *
RecordBuild(TupleDesc desc, Datum **values, bool **isnull, int r, char *rec)
{
	int			natts = desc->natts;
	Datum	   *rv = (Datum *) rec;
	bool	   *rn = (bool *) (rec + sizeof(Datum) * natts);
	char	   *p = rec + RowRecordFixedSize(natts);

	for (int a = 0; a < natts; a++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, a);
		bool		null = isnull[a][r];
		Datum		v = values[a][r];
		Size		len;

		rn[a] = null;
		if (att->attbyval || null)
		{
			rv[a] = v;
			continue;
		}
		len = datumGetSize(v, false, att->attlen);
		memcpy(p, DatumGetPointer(v), len);
		rv[a] = PointerGetDatum(p);
		p += MAXALIGN(len);
	}
	return p;
}

/*
 * Copy the record at src (which ends before end) to dst, pointing its
 * by-reference Datums at their new place; returns where it ends at src.
 */
static inline const char *
RecordPlace(TupleDesc desc, const char *src, const char *end, char *dst)
{
	int			natts = desc->natts;
	Size		fixed = RowRecordFixedSize(natts);
	const bool *rn = (const bool *) (src + sizeof(Datum) * natts);
	Datum	   *rv = (Datum *) dst;
	const char *p = src + fixed;

	if (src + fixed > end)
		elog(ERROR, "truncated records from the parallel compaction worker");
	memcpy(dst, src, fixed);
	for (int a = 0; a < natts; a++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, a);

		if (att->attbyval || rn[a])
			continue;
		if (p + (att->attlen > 0 ? att->attlen : VARHDRSZ_SHORT) > end)
			elog(ERROR, "truncated records from the parallel compaction worker");
		rv[a] = PointerGetDatum(dst + (p - src));
		p += MAXALIGN(datumGetSize(PointerGetDatum(p), false, att->attlen));
		if (p > end)
			elog(ERROR, "truncated records from the parallel compaction worker");
	}
	memcpy(dst + fixed, src + fixed, p - (src + fixed));
	return p;
}

/*
 * The parallel writer's worker decodes some of the sources for the passes
 * (SortHelp): while the backend decodes the others, the worker, which
 * otherwise waits for the first row group to write, decodes its sources
 * and sends back per row group, in pass 1, every row's key words and width
 * (the backend skips deleted rows), and in each later pass the records of
 * the rows of the chunk, which the backend copies to their place.  Each
 * process runs the same code on its rows (KeyBuild, RowWidth,
 * RecordBuild), so the order and the records are those the backend alone
 * would make.
 *
 * When the sort's memory is the shared work memory (shared_work_mem.c),
 * the worker works in it directly: it writes its records at their place
 * itself ('g' instead of 'G', which the backend would copy), and it
 * quicksorts half of the key sort's buckets ('S') while the backend sorts
 * the other half.  Both name places in the area by offsets.
 */
typedef struct SortHelpRequest
{
	char		kind;			/* 'K': keys and widths; 'G', 'g': records;
								 * 'S': sort */
	int64		fragment_id;	/* the source */
	TransactionId file_xid;
	int64		row_count;
	int64		bytes;
	KeyBuilder	kb;				/* 'K' */
	/* 'g': offsets in the shared work memory */
	int64		map;			/* the source's row map */
	int64		offs;			/* its live rows' record offsets in buf */
	int64		live;			/* its live rows */
	int64		buf;			/* the chunk's records */
	int64		buflen;
	int64		lo;				/* the chunk: new row numbers [lo, hi) */
	int64		hi;
	/* 'S': sort the buckets of entries [from, to) (see SortBuckets) */
	int64		entries;		/* offset in the shared work memory */
	int64		from;
	int64		to;
	int			word;
	int			shift;
	uint64		base;
	/* then 'K': per attribute, decode it?  'G': per row, is it wanted? */
} SortHelpRequest;

/* the worker's answer, one per row group of the source */
typedef struct SortHelpReply
{
	int32		rows;			/* rows of the row group */
	int32		records;		/* 'G': records that follow */
	int64		bytes;			/* bytes read (for progress) */
	/* then 'K': rows * nwords key words, rows widths; 'G': the records */
} SortHelpReply;

#define SORT_HELP_HEADER	MAXALIGN(sizeof(SortHelpRequest))
#define SORT_HELP_REPLY		MAXALIGN(sizeof(SortHelpReply))

/* The backend's side: which sources are the worker's, where their rows go. */
struct SortHelp
{
	GroupRun   *gs;
	ParallelWriter *pw;			/* NULL: no help */
	bool	   *theirs;			/* per source: decoded by the worker */
	int64	   *base;			/* per source: live rows before it; [nsources]: all */
	char		kind;			/* the pass: 'K' or 'G' */
	int			cur;			/* the worker source whose rows come next */
	int64		offset;			/* its next row */
	int64		n;				/* the live row number of its next live row */
	/* pass 1 */
	const KeyBuilder *kb;
	ShortSortEntry *shorts;
	SortEntry  *entries;
	uint32	   *widths;
	bool		too_wide;
	/* placement */
	TupleDesc	desc;
	char	   *buf;
	Size		buflen;
	const int64 *offs;
	int64		lo;
	int64		hi;
	bool		inplace;		/* the worker places its records ('g') */
};

/*
 * Which sources the worker decodes: about half of the bytes, when the
 * group has a parallel writer and two sources or more.
 */
static void
SortHelpInit(SortHelp *help, GroupRun *gs)
{
	int64		mine = 0;
	int64		theirs = 0;
	int			ntheirs = 0;

	memset(help, 0, sizeof(SortHelp));
	help->gs = gs;
	help->desc = RelationGetDescr(gs->rel);
	help->base = palloc(sizeof(int64) * (gs->nsources + 1));
	help->base[0] = 0;
	for (int s = 0; s < gs->nsources; s++)
		help->base[s + 1] = help->base[s] + gs->sources[s]->row_count -
			(gs->deleted[s] ? gs->deleted[s]->ndeleted : 0);
	if (gs->out.pw == NULL || gs->nsources < 2)
		return;
	help->pw = gs->out.pw;
	help->theirs = palloc0(sizeof(bool) * gs->nsources);
	for (int s = 0; s < gs->nsources; s++)
	{
		if (theirs < mine)
		{
			help->theirs[s] = true;
			theirs += gs->sources[s]->bytes;
		}
		else
			mine += gs->sources[s]->bytes;
	}
	for (int s = 0; s < gs->nsources; s++)
		ntheirs += help->theirs[s];
	elog(DEBUG1, "compact: the parallel worker decodes %d of the %d sources",
		 ntheirs, gs->nsources);
}

static inline bool
SortHelpTheirs(const SortHelp *help, int s)
{
	return help->theirs != NULL && help->theirs[s];
}

/* Position the cursor at the first row of the next worker source. */
static void
SortHelpNextSource(SortHelp *help)
{
	while (help->cur < help->gs->nsources && !SortHelpTheirs(help, help->cur))
		help->cur++;
	help->offset = 0;
	if (help->cur < help->gs->nsources)
		help->n = help->base[help->cur];
}

/* One answer of the worker: a row group of the source at the cursor. */
static void
SortHelpTake(SortHelp *help, const char *data, Size len)
{
	GroupRun   *gs = help->gs;
	int			s = help->cur;
	SortHelpReply reply;
	const char *p = data + SORT_HELP_REPLY;
	const char *end = data + len;

	if (s >= gs->nsources || len < SORT_HELP_REPLY)
		elog(ERROR, "unexpected answer from the parallel compaction worker");
	memcpy(&reply, data, sizeof(reply));
	if (reply.rows <= 0 || reply.rows > gs->sources[s]->row_count - help->offset)
		elog(ERROR, "parallel compaction worker sent a row group of %d rows", reply.rows);
	CompactionNoteIO(reply.bytes, 0);
	if (help->kind == 'K')
	{
		int			nwords = help->kb->nwords;
		const char *keys = p;
		const char *widths = p + sizeof(uint64) * nwords * reply.rows;

		if (len != SORT_HELP_REPLY + (sizeof(uint64) * nwords + sizeof(uint32)) * reply.rows)
			elog(ERROR, "invalid answer of %zu bytes from the parallel compaction worker", len);
		for (int r = 0; r < reply.rows; r++)
		{
			int64		offset = help->offset + r;
			uint32		width;

			if (gs->deleted[s] && DeletionVectorIsSet(gs->deleted[s], offset))
				continue;
			if (help->n >= help->base[s + 1])
				elog(ERROR, "compaction found more than " INT64_FORMAT " live rows",
					 help->base[gs->nsources]);
			memcpy(EntryAt(help->shorts, help->entries, help->n),
				   keys + sizeof(uint64) * nwords * r, sizeof(uint64) * nwords);
			memcpy(&width, widths + sizeof(uint32) * r, sizeof(uint32));
			if (width == PG_UINT32_MAX)
				help->too_wide = true;
			help->widths[help->n++] = width;
		}
	}
	else
	{
		const int64 *map = gs->maps[s];
		int			records = 0;

		for (int r = 0; r < reply.rows; r++)
		{
			int64		j = map[help->offset + r];

			if (j < 0)
				continue;		/* deleted */
			help->n++;
			if (j < help->lo || j >= help->hi)
				continue;		/* another chunk's */
			if (++records > reply.records)
				break;
			/* 'g': the worker has put it there */
			if (!help->inplace)
				p = RecordPlace(help->desc, p, end, help->buf + help->offs[help->n - 1]);
		}
		if (records != reply.records || p != end)
			elog(ERROR, "parallel compaction worker sent %d records of %zu bytes, expected %d",
				 reply.records, len, records);
	}
	help->offset += reply.rows;
	if (help->offset == gs->sources[s]->row_count)
	{
		if (help->n != help->base[s + 1])
			elog(ERROR, "compaction decoded " INT64_FORMAT " rows of a source instead of " INT64_FORMAT,
				 help->n - help->base[s], help->base[s + 1] - help->base[s]);
		help->cur++;
		SortHelpNextSource(help);
	}
}

/*
 * Take the worker's answers that have come (wait: until it has done its
 * part of the pass); true if there was one.
 */
static bool
SortHelpCollect(SortHelp *help, bool wait)
{
	const char *data;
	Size		len;
	bool		took = false;

	if (help->pw == NULL)
		return false;
	while (help->cur < help->gs->nsources &&
		   ParallelWriterReceiveHelp(help->pw, wait, &data, &len))
	{
		SortHelpTake(help, data, len);
		took = true;
	}
	return took;
}

/*
 * Ask the worker for its sources' part of a pass: 'K' with the key builder
 * and the attributes to decode, 'G' with the rows of the chunk [lo, hi).
 */
static void
SortHelpStart(SortHelp *help, char kind, const KeyBuilder *kb, const bool *needed)
{
	GroupRun   *gs = help->gs;
	char		header[SORT_HELP_HEADER];
	SortHelpRequest *req = (SortHelpRequest *) header;
	char	   *wanted = NULL;

	if (help->pw == NULL)
		return;
	help->kind = kind;
	help->cur = 0;
	SortHelpNextSource(help);
	if (kind == 'G' && help->inplace)
		kind = 'g';
	for (int s = 0; s < gs->nsources; s++)
	{
		const FragmentMeta *meta = gs->sources[s];
		const void *extra;
		Size		extralen;

		if (!SortHelpTheirs(help, s))
			continue;
		memset(header, 0, SORT_HELP_HEADER);
		req->kind = kind;
		req->fragment_id = meta->fragment_id;
		req->file_xid = meta->file_xid;
		req->row_count = meta->row_count;
		req->bytes = meta->bytes;
		if (kind == 'K')
		{
			req->kb = *kb;
			extra = needed;
			extralen = help->desc->natts;
		}
		else if (kind == 'g')
		{
			req->live = help->base[s + 1] - help->base[s];
			req->map = SharedWorkMemOffset(gs->maps[s], sizeof(int64) * meta->row_count);
			req->offs = SharedWorkMemOffset(help->offs + help->base[s],
											sizeof(int64) * req->live);
			req->buf = SharedWorkMemOffset(help->buf, help->buflen);
			req->buflen = help->buflen;
			req->lo = help->lo;
			req->hi = help->hi;
			if (req->map < 0 || req->offs < 0 || req->buf < 0)
				elog(ERROR, "compaction's sort memory is not in the shared work memory");
			extra = NULL;
			extralen = 0;
		}
		else
		{
			const int64 *map = gs->maps[s];

			wanted = wanted ? repalloc(wanted, Max(meta->row_count, 1)) :
				palloc(Max(meta->row_count, 1));
			for (int64 r = 0; r < meta->row_count; r++)
				wanted[r] = map[r] >= help->lo && map[r] < help->hi;
			extra = wanted;
			extralen = meta->row_count;
		}
		/*
		 * The worker may be answering an earlier request and waiting for
		 * room to send: take its answers while the queue is full, or the
		 * two processes would wait for each other.
		 */
		while (!ParallelWriterRequestHelp(help->pw, header, SORT_HELP_HEADER,
										  extra, extralen))
		{
			if (!SortHelpCollect(help, false))
				ParallelWriterWait(help->pw);
		}
	}
	if (wanted)
		pfree(wanted);
}

/*
 * Ask the worker to sort the buckets of entries [from, to) ('S'); false if
 * it cannot (no worker, or the entries are not in the shared work memory).
 * The backend takes no other answer until SortHelpSortWait.
 */
static bool
SortHelpSortStart(SortHelp *help, ShortSortEntry *entries, int64 from,
				  int64 to, int w, int shift, uint64 base)
{
	char		header[SORT_HELP_HEADER];
	SortHelpRequest *req = (SortHelpRequest *) header;
	int64		off;

	if (help == NULL || help->pw == NULL)
		return false;
	off = SharedWorkMemOffset(entries + from, sizeof(ShortSortEntry) * (to - from));
	if (off < 0)
		return false;
	memset(header, 0, SORT_HELP_HEADER);
	req->kind = 'S';
	req->entries = off;
	req->from = from;
	req->to = to;
	req->word = w;
	req->shift = shift;
	req->base = base;
	while (!ParallelWriterRequestHelp(help->pw, header, SORT_HELP_HEADER, NULL, 0))
		ParallelWriterWait(help->pw);
	return true;
}

/* Wait for the worker's part of the key sort (SortHelpSortStart). */
static void
SortHelpSortWait(SortHelp *help)
{
	const char *data;
	Size		len;
	SortHelpReply reply;

	(void) ParallelWriterReceiveHelp(help->pw, true, &data, &len);
	if (len != SORT_HELP_REPLY)
		elog(ERROR, "invalid answer of %zu bytes from the parallel compaction worker", len);
	memcpy(&reply, data, sizeof(reply));
	if (reply.rows != 0 || reply.records != 0)
		elog(ERROR, "unexpected answer from the parallel compaction worker");
}

/* The worker's side of 'S': sort the buckets, answer when done. */
static void
SortHelpSort(const SortHelpRequest *req, shm_mq_handle *out)
{
	ShortSortEntry *entries;
	char		reply[SORT_HELP_REPLY];

	if (req->from < 0 || req->to <= req->from || req->word < 0 ||
		req->word >= SHORT_KEY_WORDS || req->shift < 0 || req->shift > 63)
		elog(ERROR, "invalid request from the compaction leader");
	entries = (ShortSortEntry *) SharedWorkMemAt(req->entries,
												 sizeof(ShortSortEntry) * (req->to - req->from));
	SortBuckets(entries, 0, req->to - req->from, req->word, req->shift, req->base);
	memset(reply, 0, SORT_HELP_REPLY);
	if (shm_mq_send(out, SORT_HELP_REPLY, reply, false, true) != SHM_MQ_SUCCESS)
		ereport(ERROR,
				(errcode(ERRCODE_ADMIN_SHUTDOWN),
				 errmsg("parallel compaction leader has gone away")));
}

/*
 * The worker's side of SortHelp: decode the source that req names and
 * answer per row group.
 */
void
KernelSortHelp(Relation rel, const char *data, Size len, shm_mq_handle *out)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			natts = desc->natts;
	Size		fixed = RowRecordFixedSize(natts);
	SortHelpRequest req;
	FragmentMeta meta;
	GroupSource src;
	const char *extra = data + SORT_HELP_HEADER;
	char	   *buf = NULL;
	Size		bufsize = 0;
	int64		offset = 0;
	MemoryContext cxt;
	MemoryContext old;
	/* 'g' */
	const int64 *map = NULL;
	const int64 *offs = NULL;
	char	   *chunk = NULL;
	int64		i = 0;

	if (len < SORT_HELP_HEADER)
		elog(ERROR, "invalid request from the compaction leader");
	memcpy(&req, data, sizeof(req));
	if (req.kind == 'S' && len == SORT_HELP_HEADER)
	{
		SortHelpSort(&req, out);
		return;
	}
	if ((req.kind == 'K' && len != SORT_HELP_HEADER + natts) ||
		(req.kind == 'G' && len != SORT_HELP_HEADER + req.row_count) ||
		(req.kind == 'g' && (len != SORT_HELP_HEADER || req.row_count < 0 ||
							 req.live < 0 || req.live > req.row_count ||
							 req.buflen < 0)) ||
		(req.kind != 'K' && req.kind != 'G' && req.kind != 'g') ||
		(req.kind == 'K' && (req.kb.nwords <= 0 || req.kb.nwords > FAST_SORT_MAX_WORDS ||
							 req.kb.nkeys <= 0 || req.kb.nkeys > COMPACT_MAX_CURVE_COLUMNS)))
		elog(ERROR, "invalid request from the compaction leader");
	if (req.kind == 'K')
		for (int k = 0; k < req.kb.nkeys; k++)
			if (req.kb.keys[k].attnum <= 0 || req.kb.keys[k].attnum > natts ||
				(!req.kb.curve && !NormalizableType(req.kb.keys[k].typid)) ||
				req.kb.keys[k].typid != TupleDescAttr(desc, req.kb.keys[k].attnum - 1)->atttypid)
				elog(ERROR, "invalid sort key from the compaction leader");
	if (req.kind == 'K' && req.kb.curve &&
		(!CurveKeyAdopt(&req.kb.cks) || req.kb.cks.ndims != req.kb.nkeys))
		elog(ERROR, "invalid curve key from the compaction leader");
	if (req.kind == 'g')
	{
		map = (const int64 *) SharedWorkMemAt(req.map, sizeof(int64) * req.row_count);
		offs = (const int64 *) SharedWorkMemAt(req.offs, sizeof(int64) * req.live);
		chunk = SharedWorkMemAt(req.buf, req.buflen);
	}
	cxt = AllocSetContextCreate(CurrentMemoryContext, "compact sort help",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	memset(&meta, 0, sizeof(meta));
	meta.fragment_id = req.fragment_id;
	meta.file_xid = req.file_xid;
	meta.row_count = req.row_count;
	meta.bytes = req.bytes;
	GroupSourceOpen(&src, rel, &meta);
	if (req.kind == 'K')
		src.only = (const bool *) extra;
	while (GroupSourceNextRowGroup(&src))
	{
		SortHelpReply *reply;
		Size		size = SORT_HELP_REPLY;
		int			records = 0;
		bool		decode = req.kind == 'K';
		char	   *p;

		if (req.kind == 'K')
			size += (sizeof(uint64) * req.kb.nwords + sizeof(uint32)) * src.rows;
		else if (req.kind == 'g')
			for (int r = 0; r < src.rows; r++)
				decode |= map[offset + r] >= req.lo && map[offset + r] < req.hi;
		else
			for (int r = 0; r < src.rows; r++)
				decode |= extra[offset + r] != 0;
		if (decode)
			GroupSourceDecode(&src);
		if (req.kind == 'g')
		{
			/* each wanted row's record at its place in the chunk */
			for (int r = 0; r < src.rows; r++)
			{
				int64		j = map[offset + r];
				int64		o;

				if (j < 0)
					continue;	/* deleted */
				if (i >= req.live)
					elog(ERROR, "compaction found more than " INT64_FORMAT " live rows in a source",
						 req.live);
				o = offs[i++];
				if (j < req.lo || j >= req.hi)
					continue;	/* another chunk's */
				if (i + PREFETCH_ROWS < req.live)
					PrefetchForWrite(chunk + offs[i + PREFETCH_ROWS]);
				if (o < 0 || o > req.buflen ||
					fixed + RowWidth(desc, src.values, src.isnull, r) > (Size) (req.buflen - o))
					elog(ERROR, "invalid record offset " INT64_FORMAT " from the compaction leader", o);
				RecordBuild(desc, src.values, src.isnull, r, chunk + o);
				records++;
			}
		}
		else if (req.kind == 'G' && decode)
			for (int r = 0; r < src.rows; r++)
			{
				if (!extra[offset + r])
					continue;
				size += fixed + RowWidth(desc, src.values, src.isnull, r);
				records++;
			}
		if (size > bufsize)
		{
			if (buf)
				pfree(buf);
			bufsize = Max(size, bufsize * 2);
			buf = MemoryContextAllocHuge(cxt, bufsize);
		}
		reply = (SortHelpReply *) buf;
		memset(buf, 0, SORT_HELP_REPLY);
		reply->rows = src.rows;
		reply->records = records;
		reply->bytes = decode ? src.rowgroup_bytes : 0;
		p = buf + SORT_HELP_REPLY;
		if (req.kind == 'K')
		{
			uint64	   *keys = (uint64 *) p;
			char	   *widths = p + sizeof(uint64) * req.kb.nwords * src.rows;

			for (int r = 0; r < src.rows; r++)
			{
				uint32		w = RecordWidth(desc, fixed, src.values, src.isnull, r);

				KeyBuild(&req.kb, src.values, src.isnull, r, keys + req.kb.nwords * r);
				memcpy(widths + sizeof(uint32) * r, &w, sizeof(uint32));
			}
			p = widths + sizeof(uint32) * src.rows;
		}
		else if (req.kind == 'G' && decode)
			for (int r = 0; r < src.rows; r++)
				if (extra[offset + r])
					p = RecordBuild(desc, src.values, src.isnull, r, p);
		Assert(p == buf + size);
		if (shm_mq_send(out, size, buf, false, true) != SHM_MQ_SUCCESS)
			ereport(ERROR,
					(errcode(ERRCODE_ADMIN_SHUTDOWN),
					 errmsg("parallel compaction leader has gone away")));
		offset += src.rows;
	}
	if (req.kind == 'g' && i != req.live)
		elog(ERROR, "compaction decoded " INT64_FORMAT " live rows of a source instead of " INT64_FORMAT,
			 i, req.live);
	GroupSourceClose(&src);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
}

/*
 * The sort in passes.  A first pass decodes the sources one row group at a
 * time and keeps only each live row's key and width; the keys are sorted
 * and each row's new row number goes into the group's row maps.  Then the
 * sorted order is cut into chunks (whole row groups) whose rows fit in
 * memory, and each chunk takes one more pass over the sources, which puts
 * the rows that fall into it at their place, and goes out in order.  The
 * sources are decoded 1 + (number of chunks) times, without temporary
 * files: a group twice the memory limit costs three decodes, where a
 * tuplesort that spills writes, reads and compares every row again.  Even
 * when everything fits this beats keeping every decoded row group and
 * gathering from them: decoding into one reused row group and writing each
 * row as one record at its place touches far less memory.
 *
 * Memory: while sorting, the entries (twice, for the bucket sort, when
 * that fits), the widths, each row's place and record offset; then the
 * record offsets and one chunk.  The row maps (8 bytes per source row) are
 * held all along.
 */
bool
KernelSortInPasses(GroupRun *gs)
{
	TupleDesc	desc = RelationGetDescr(gs->rel);
	int			natts = desc->natts;
	int64		live = gs->group->rows - gs->group->deleted;
	int64		first = gs->out.next_row;
	Size		limit = (Size) maintenance_work_mem * 1024;
	Size		fixed = RowRecordFixedSize(natts);
	Size		maps = (Size) gs->group->rows * sizeof(int64);
	Size		offsize;
	Size		sortsize;
	Size		budget;
	char	   *region;
	char	   *work;
	MemoryContext cxt;
	MemoryContext old;
	bool		shortkeys;
	Size		entrysize;
	SortEntry  *entries = NULL;
	ShortSortEntry *shorts = NULL;
	ShortSortEntry *spare = NULL;
	uint32	   *widths;
	int64	   *pos;
	int64	   *offs;
	int64	   *bounds;
	Size	   *rgbytes;		/* bytes of the records of each output row group */
	Size		chunkmax = 0;
	char	   *buf;
	int			slice = compact_row_group_size;
	Datum	  **values;
	bool	  **isnull;
	int64	   *order;
	int64	   *newrows;
	int			nchunks = 0;
	int64		n = 0;
	int64		ngroups;
	bool		too_wide = false;
	bool	   *needed;
	bool		shared;
	bool		inarea;
	Size		regionsize;
	KeyBuilder	kb;
	SortHelp	help;

	if (live == 0 || !KeyBuilderInit(&kb, gs))
		return false;
	shortkeys = kb.nwords <= SHORT_KEY_WORDS;
	entrysize = shortkeys ? sizeof(ShortSortEntry) : sizeof(SortEntry);
	offsize = (Size) live * sizeof(int64);
	sortsize = (Size) live * (entrysize + sizeof(uint32) + sizeof(int64));
	if (maps + offsize + sortsize > limit ||
		maps + offsize + limit / 20 + (Size) slice * (fixed + 64) * 2 > limit)
		return false;
	if (shortkeys && maps + offsize + sortsize + (Size) live * entrysize <= limit)
		sortsize += (Size) live * entrysize;	/* room for the bucket sort */
	/* a twentieth of the limit stays for decoding and the output's buffers */
	budget = limit - maps - offsize - limit / 20;

	/*
	 * One allocation for every phase: the record offsets, then the sort's
	 * arrays, whose place one chunk of records takes afterwards.  Fresh
	 * memory is expensive (the kernel zeroes it; on a virtual machine the
	 * host may have to back it too), so the chunk reuses what the sort
	 * touched; what is never touched costs nothing.  Memory reserved at
	 * server start (compact.shared_work_mem, shared_work_mem.c) costs
	 * nothing new at all, when the group holds it and it is large enough.
	 */
	cxt = AllocSetContextCreate(CurrentMemoryContext, "compact sort in passes",
								ALLOCSET_DEFAULT_SIZES);
	regionsize = offsize + Max(sortsize + MAXIMUM_ALIGNOF, budget);
	shared = regionsize <= gs->shared_size;
	region = shared ? gs->shared : CompactAllocLarge(cxt, regionsize);
	offs = (int64 *) region;
	work = region + offsize;
	if (shortkeys)
	{
		shorts = (ShortSortEntry *) work;
		if (sortsize > (Size) live * (entrysize + sizeof(uint32) + sizeof(int64)))
			spare = shorts + live;
		widths = (uint32 *) (work + (spare ? 2 : 1) * (Size) live * entrysize);
	}
	else
	{
		entries = (SortEntry *) work;
		widths = (uint32 *) (work + (Size) live * entrysize);
	}
	pos = (int64 *) MAXALIGN(widths + live);

	/*
	 * pass 1: keys and widths, from the key columns and those of variable
	 * width only
	 */
	needed = MemoryContextAllocZero(cxt, sizeof(bool) * Max(natts, 1));
	for (int a = 0; a < natts; a++)
		needed[a] = !TupleDescAttr(desc, a)->attbyval;
	for (int k = 0; k < gs->request->nkeys; k++)
		needed[gs->request->keys[k].attnum - 1] = true;
	SortHelpInit(&help, gs);
	if (help.base[gs->nsources] != live)
		elog(ERROR, "compaction counted " INT64_FORMAT " live rows instead of " INT64_FORMAT,
			 help.base[gs->nsources], live);
	help.kb = &kb;
	help.shorts = shorts;
	help.entries = entries;
	help.widths = widths;
	SortHelpStart(&help, 'K', &kb, needed);
	for (int s = 0; s < gs->nsources; s++)
	{
		GroupSource src;
		int64		offset = 0;

		if (SortHelpTheirs(&help, s))
			continue;
		n = help.base[s];
		old = MemoryContextSwitchTo(cxt);
		GroupSourceOpen(&src, gs->rel, gs->sources[s]);
		MemoryContextSwitchTo(old);
		src.only = needed;
		while (GroupSourceNextRowGroup(&src))
		{
			GroupSourceDecode(&src);
			for (int r = 0; r < src.rows; r++, offset++)
			{
				if (gs->deleted[s] && DeletionVectorIsSet(gs->deleted[s], offset))
					continue;
				if (n >= help.base[s + 1])
					elog(ERROR, "compaction found more than " INT64_FORMAT " live rows", live);
				KeyBuild(&kb, src.values, src.isnull, r, EntryAt(shorts, entries, n));
				widths[n] = RecordWidth(desc, fixed, src.values, src.isnull, r);
				too_wide |= widths[n] == PG_UINT32_MAX;
				n++;
			}
			SortHelpCollect(&help, false);
		}
		GroupSourceClose(&src);
		if (n != help.base[s + 1])
			elog(ERROR, "compaction decoded " INT64_FORMAT " rows of a source instead of " INT64_FORMAT,
				 n - help.base[s], help.base[s + 1] - help.base[s]);
	}
	SortHelpCollect(&help, true);
	too_wide |= help.too_wide;
	n = live;
	if (too_wide)
	{
		MemoryContextDelete(cxt);
		return false;			/* a row of 4 GB: tuplesort */
	}
	if (shortkeys)
		shorts = SortShortEntries(shorts, spare, n, &help);
	else
		sort_entries(entries, n, &kb.nwords);

	/*
	 * Chunks of whole output row groups whose records fit what is left of
	 * the limit (at least one row group each); each row's place, and the
	 * offset of its record in its chunk (offs, in source order: the passes
	 * read it in order and write only the record at random).
	 */
	ngroups = (n + slice - 1) / slice;
	bounds = palloc(sizeof(int64) * (ngroups + 1));
	rgbytes = palloc(sizeof(Size) * Max(ngroups, 1));
	bounds[nchunks++] = 0;
	{
		Size		used = 0;

		for (int64 g = 0; g < ngroups; g++)
		{
			int64		lo = g * slice;
			int64		hi = Min(lo + slice, n);
			Size		bytes = 0;

			for (int64 j = lo; j < hi; j++)
				bytes += widths[shortkeys ? shorts[j].row : entries[j].row];
			rgbytes[g] = bytes;
			if (used > 0 && used + bytes > budget)
			{
				chunkmax = Max(chunkmax, used);
				bounds[nchunks++] = lo;
				used = 0;
			}
			for (int64 j = lo; j < hi; j++)
			{
				int64		row = shortkeys ? shorts[j].row : entries[j].row;

				pos[row] = j;
				offs[row] = used;
				used += widths[row];
			}
		}
		chunkmax = Max(chunkmax, used);
	}
	bounds[nchunks] = n;
	elog(DEBUG1, "compact: sorting " INT64_FORMAT " rows in %d passes over the sources%s",
		 n, nchunks + 1, shared ? ", in the shared work memory" : "");

	/* the row maps: the new row number of every live source row */
	n = 0;
	for (int s = 0; s < gs->nsources; s++)
	{
		for (int64 offset = 0; offset < gs->sources[s]->row_count; offset++)
		{
			if (gs->deleted[s] && DeletionVectorIsSet(gs->deleted[s], offset))
				gs->maps[s][offset] = -1;
			else
				gs->maps[s][offset] = first + pos[n++];
		}
	}

	/* one chunk's records, then one output row group turned into columns */
	buf = work;
	if (chunkmax > Max(sortsize + MAXIMUM_ALIGNOF, budget))
		buf = CompactAllocLarge(cxt, chunkmax); /* one row group over the limit */
	old = MemoryContextSwitchTo(cxt);
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

	/* the chunk (and the record offsets) in the shared work memory? */
	inarea = shared && buf == work;
	help.buf = buf;
	help.buflen = buf == work ? regionsize - offsize : chunkmax;
	help.offs = offs;
	help.inplace = help.pw != NULL && inarea;
	for (int s = 0; s < gs->nsources && help.inplace; s++)
		help.inplace = SharedWorkMemOffset(gs->maps[s],
										   sizeof(int64) * gs->sources[s]->row_count) >= 0;
	if (help.inplace)
		elog(DEBUG1, "compact: the parallel worker places its records in the shared work memory");
	for (int c = 0; c < nchunks; c++)
	{
		int64		lo = first + bounds[c];
		int64		hi = first + bounds[c + 1];
		char	   *rec;

		help.lo = lo;
		help.hi = hi;
		SortHelpStart(&help, 'G', NULL, NULL);
		/* the worker may still be reading the last chunk's records in place */
		if (c > 0 && gs->out.pw && inarea)
			ParallelWriterSync(gs->out.pw);
		for (int s = 0; s < gs->nsources; s++)
		{
			const int64 *map = gs->maps[s];
			GroupSource src;
			int64		offset = 0;
			int64		i = help.base[s];	/* live rows before this one */

			if (SortHelpTheirs(&help, s))
				continue;
			old = MemoryContextSwitchTo(cxt);
			GroupSourceOpen(&src, gs->rel, gs->sources[s]);
			MemoryContextSwitchTo(old);
			while (GroupSourceNextRowGroup(&src))
			{
				bool		wanted = false;
				int64		nlive = 0;

				SortHelpCollect(&help, false);
				/* decode only row groups with rows of this chunk */
				for (int r = 0; r < src.rows; r++)
				{
					int64		j = map[offset + r];

					nlive += j >= 0;
					wanted |= j >= lo && j < hi;
				}
				if (!wanted)
				{
					offset += src.rows;
					i += nlive;
					continue;
				}
				GroupSourceDecode(&src);
				for (int r = 0; r < src.rows; r++, offset++)
				{
					int64		j = map[offset];

					if (j < 0)
						continue;	/* deleted */
					i++;
					if (j < lo || j >= hi)
						continue;	/* another chunk's */
					/* the writes land at random: ask for lines ahead */
					if (i + PREFETCH_ROWS < n)
						PrefetchForWrite(buf + offs[i + PREFETCH_ROWS]);
					RecordBuild(desc, src.values, src.isnull, r, buf + offs[i - 1]);
				}
			}
			GroupSourceClose(&src);
		}
		SortHelpCollect(&help, true);

		/*
		 * Out one row group at a time: the records as they are to the
		 * parallel writer, which turns them into columns, or turned into
		 * columns here.
		 */
		rec = buf;
		for (int64 start = bounds[c]; start < bounds[c + 1]; start += slice)
		{
			int			k = (int) Min(slice, bounds[c + 1] - start);
			Size		bytes = rgbytes[start / slice];

			if (GroupOutputAddRecords(&gs->out, rec, bytes, k))
			{
				rec += bytes;
				if (gs->out.next_row != first + start + k)
					elog(ERROR, "compaction wrote row " INT64_FORMAT " as " INT64_FORMAT,
						 first + start + k, gs->out.next_row);
				continue;
			}
			for (int r = 0; r < k; r++)
			{
				const Datum *rv = (const Datum *) rec;
				const bool *rn = (const bool *) (rec + sizeof(Datum) * natts);

				for (int a = 0; a < natts; a++)
				{
					values[a][r] = rv[a];
					isnull[a][r] = rn[a];
				}
				rec = RowRecordEnd(rec, desc);
			}
			GroupOutputAddGathered(&gs->out, values, isnull, order, k, newrows, false);
			if (newrows[0] != first + start)
				elog(ERROR, "compaction wrote row " INT64_FORMAT " as " INT64_FORMAT,
					 first + start, newrows[0]);
		}
		/* the buffered rows point into this chunk: write them out first */
		GroupOutputFlushRowGroup(&gs->out);
	}
	MemoryContextDelete(cxt);
	return true;
}
