/*-------------------------------------------------------------------------
 * aggregate.c
 *	  Aggregates that CompactScan computes over decoded column arrays, so
 *	  that `SELECT count(*), sum(x), avg(y) FROM t` never forms a tuple.
 *
 * Each supported aggregate is computed exactly as its PostgreSQL transition
 * function would over the same rows in the same order: the same
 * floating-point operations (so sums match bit for bit), the same overflow
 * errors (float8_pl, float8_accum's Youngs-Cramer update), the same NULL
 * and NaN rules (a strict transition function's first non-null input is
 * its state; NaN sorts above every number).  The result is either the
 * final value (a plain aggregate) or the transition state (AGGSPLIT
 * INITIAL_SERIAL, below a Gather and a Finalize Aggregate), which for the
 * aggregates supported here is never of type internal, so nothing needs
 * serializing.
 *
 * Supported: count(*), count(x); sum, avg of int2, int4, int8, float4,
 * float8; min, max of int2, int4, int8, float4, float8, date, timestamp,
 * timestamptz, and of text in the aggregate's collation.  sum and avg of int8 (an int128 sum made numeric at the
 * end) only whole, not under Gather: their transition state is internal.
 *
 * IDENTIFICATION
 *	  src/scan/aggregate.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_aggregate.h"
#include "catalog/pg_type.h"
#include "nodes/nodeFuncs.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/memutils.h"
#include "utils/float.h"
#include "utils/fmgroids.h"
#include "utils/numeric.h"
#include "utils/pg_locale.h"
#include "utils/varlena.h"

#include "scan/aggregate.h"

typedef enum AggKind
{
	AGG_COUNT_STAR,
	AGG_COUNT,
	AGG_SUM_INT,				/* int2, int4 -> int8 */
	AGG_AVG_INT,				/* int2, int4: {count, sum} -> numeric */
	AGG_SUM_INT8,				/* int8: an int128 sum -> numeric */
	AGG_AVG_INT8,
	AGG_SUM_FLOAT4,
	AGG_SUM_FLOAT8,
	AGG_AVG_FLOAT,				/* float4, float8: {N, Sx, Sxx} -> float8 */
	AGG_MIN_INT,				/* int2, int4, int8, date, timestamp(tz) */
	AGG_MAX_INT,
	AGG_MIN_FLOAT,				/* float4, float8 */
	AGG_MAX_FLOAT,
	AGG_MIN_TEXT,				/* text, in the aggregate's collation */
	AGG_MAX_TEXT
} AggKind;

typedef struct AggState1
{
	AggKind		kind;
	Oid			argtype;		/* InvalidOid for count(*) */
	int			attno;			/* 0-based column of the argument */
	bool		partial;		/* return the transition state */
	Oid			collation;		/* of min and max of text */
	/* state */
	bool		seen;			/* a non-null input arrived */
	int64		count;
	int64		isum;
#ifdef HAVE_INT128
	int128		wsum;			/* sum and avg of int8 */
#endif
	int64		ival;			/* min/max of integer-like types */
	double		fval;			/* sum, min, max of floats */
	double		N,
				Sx,
				Sxx;
	text	   *tval;			/* min, max of text: a copy in cxt */
} AggState1;

struct AggSet
{
	int			naggs;
	AggState1  *aggs;
	MemoryContext cxt;			/* text values kept across batches */
};

/* the kind of a supported aggregate function, or -1 */
static int
AggKindOf(Oid aggfnoid)
{
	switch (aggfnoid)
	{
		case F_COUNT_:
			return AGG_COUNT_STAR;
		case F_COUNT_ANY:
			return AGG_COUNT;
		case F_SUM_INT2:
		case F_SUM_INT4:
			return AGG_SUM_INT;
		case F_AVG_INT2:
		case F_AVG_INT4:
			return AGG_AVG_INT;
#ifdef HAVE_INT128
		case F_SUM_INT8:
			return AGG_SUM_INT8;
		case F_AVG_INT8:
			return AGG_AVG_INT8;
#endif
		case F_SUM_FLOAT4:
			return AGG_SUM_FLOAT4;
		case F_SUM_FLOAT8:
			return AGG_SUM_FLOAT8;
		case F_AVG_FLOAT4:
		case F_AVG_FLOAT8:
			return AGG_AVG_FLOAT;
		case F_MIN_INT2:
		case F_MIN_INT4:
		case F_MIN_INT8:
		case F_MIN_DATE:
		case F_MIN_TIMESTAMP:
		case F_MIN_TIMESTAMPTZ:
			return AGG_MIN_INT;
		case F_MAX_INT2:
		case F_MAX_INT4:
		case F_MAX_INT8:
		case F_MAX_DATE:
		case F_MAX_TIMESTAMP:
		case F_MAX_TIMESTAMPTZ:
			return AGG_MAX_INT;
		case F_MIN_FLOAT4:
		case F_MIN_FLOAT8:
			return AGG_MIN_FLOAT;
		case F_MAX_FLOAT4:
		case F_MAX_FLOAT8:
			return AGG_MAX_FLOAT;
		case F_MIN_TEXT:
			return AGG_MIN_TEXT;
		case F_MAX_TEXT:
			return AGG_MAX_TEXT;
	}
	return -1;
}

/*
 * Can the scan compute this aggregate?  Plain calls only (no DISTINCT,
 * ORDER BY or FILTER), over nothing (count(*)) or one column of the
 * scanned relation.
 */
bool
AggSupported(Aggref *aggref, Index varno)
{
	TargetEntry *tle;
	Var		   *var;

	if (aggref->aggkind != AGGKIND_NORMAL || aggref->agglevelsup != 0 ||
		aggref->aggdistinct != NIL || aggref->aggorder != NIL ||
		aggref->aggfilter != NULL || aggref->aggdirectargs != NIL ||
		AggKindOf(aggref->aggfnoid) < 0)
		return false;
	if (aggref->aggsplit != AGGSPLIT_SIMPLE &&
		aggref->aggsplit != AGGSPLIT_INITIAL_SERIAL)
		return false;
	/* their transition state is internal, serialized by PostgreSQL's code */
	if (aggref->aggsplit != AGGSPLIT_SIMPLE &&
		(AggKindOf(aggref->aggfnoid) == AGG_SUM_INT8 ||
		 AggKindOf(aggref->aggfnoid) == AGG_AVG_INT8))
		return false;
	if (AggKindOf(aggref->aggfnoid) == AGG_COUNT_STAR)
		return aggref->args == NIL;
	if (list_length(aggref->args) != 1)
		return false;
	tle = linitial_node(TargetEntry, aggref->args);
	if (!IsA(tle->expr, Var))
		return false;
	var = (Var *) tle->expr;
	return var->varno == varno && var->varlevelsup == 0 && var->varattno > 0;
}

AggSet *
AggSetCreate(List *aggrefs)
{
	AggSet	   *set = palloc0(sizeof(AggSet));
	ListCell   *lc;
	int			i = 0;

	set->naggs = list_length(aggrefs);
	set->aggs = palloc0(sizeof(AggState1) * Max(set->naggs, 1));
	set->cxt = AllocSetContextCreate(CurrentMemoryContext, "compact scan aggregates",
									 ALLOCSET_SMALL_SIZES);
	foreach(lc, aggrefs)
	{
		Aggref	   *aggref = lfirst_node(Aggref, lc);
		AggState1  *agg = &set->aggs[i++];

		agg->kind = (AggKind) AggKindOf(aggref->aggfnoid);
		agg->partial = aggref->aggsplit == AGGSPLIT_INITIAL_SERIAL;
		agg->collation = aggref->inputcollid;
		agg->argtype = InvalidOid;
		if (agg->kind != AGG_COUNT_STAR)
		{
			Var		   *var = (Var *) linitial_node(TargetEntry, aggref->args)->expr;

			agg->argtype = var->vartype;
			agg->attno = var->varattno - 1;
		}
	}
	AggSetReset(set);
	return set;
}

void
AggSetReset(AggSet *set)
{
	MemoryContextReset(set->cxt);
	for (int i = 0; i < set->naggs; i++)
	{
		AggState1  *agg = &set->aggs[i];

		agg->seen = false;
		agg->count = 0;
		agg->isum = 0;
#ifdef HAVE_INT128
		agg->wsum = 0;
#endif
		agg->ival = 0;
		agg->fval = 0;
		agg->N = agg->Sx = agg->Sxx = 0;
		agg->tval = NULL;
	}
}

/*
 * text_smaller/text_larger: keep the state unless x sorts before (min) or
 * after (max) it; the winner is copied, the batch's arrays being reused.
 */
static void
TextMinMax(AggSet *set, AggState1 *agg, Datum *v, bool *n, const int *rows,
		   int nrows, bool max)
{
	text	   *best = agg->tval;
	int			bestrow = -1;
	Datum		bestdatum = (Datum) 0;
	bool		c_order = lc_collate_is_c(agg->collation);

	for (int k = 0; k < nrows; k++)
	{
		int			r = rows ? rows[k] : k;
		text	   *x;
		int			cmp;

		if (n[r])
			continue;
		x = (text *) DatumGetPointer(v[r]);
		if (best == NULL)
		{
			best = x;
			bestrow = r;
			bestdatum = v[r];
			continue;
		}
		if (c_order)
		{
			/* what varstr_cmp does for C and POSIX, without its call */
			int			l1 = VARSIZE_ANY_EXHDR(best);
			int			l2 = VARSIZE_ANY_EXHDR(x);

			cmp = memcmp(VARDATA_ANY(best), VARDATA_ANY(x), Min(l1, l2));
			if (cmp == 0 && l1 != l2)
				cmp = l1 < l2 ? -1 : 1;
		}
		else
			cmp = varstr_cmp(VARDATA_ANY(best), VARSIZE_ANY_EXHDR(best),
							 VARDATA_ANY(x), VARSIZE_ANY_EXHDR(x), agg->collation);
		/* text_larger(state, x): state if it compares greater, else x */
		if (max ? !(cmp > 0) : !(cmp < 0))
		{
			best = x;
			bestrow = r;
			bestdatum = v[r];
		}
	}
	if (bestrow >= 0)
	{
		text	   *old = agg->tval;

		agg->tval = (text *) DatumGetPointer(datumCopy(bestdatum, false, -1));
		if (old)
			pfree(old);
		agg->seen = true;
	}
}

/* float8_accum / float4_accum, one value */
static inline void
FloatAccum(AggState1 *agg, double x)
{
	double		oldN = agg->N;
	double		oldSx = agg->Sx;
	double		N = oldN + 1.0;
	double		Sx = oldSx + x;
	double		Sxx = agg->Sxx;

	if (oldN > 0.0)
	{
		double		tmp = x * N - Sx;

		Sxx += tmp * tmp / (N * oldN);
		if (unlikely(isinf(Sx) || isinf(Sxx)))
		{
			if (!isinf(oldSx) && !isinf(x))
				float_overflow_error();
			Sxx = get_float8_nan();
		}
	}
	else if (isnan(x) || isinf(x))
		Sxx = get_float8_nan();
	agg->N = N;
	agg->Sx = Sx;
	agg->Sxx = Sxx;
}

/*
 * Loops over the non-null values of the rows listed in rows[0..nrows), or
 * of rows 0..nrows when rows is NULL, one per aggregate kind so that each
 * is a tight loop of its own.
 */
#define FOR_EACH_VALUE(x, body) \
	do { \
		if (rows == NULL) \
		{ \
			for (int r = 0; r < nrows; r++) \
				if (!n[r]) { Datum x = v[r]; body; } \
		} \
		else \
		{ \
			for (int k = 0; k < nrows; k++) \
			{ \
				int r = rows[k]; \
				if (!n[r]) { Datum x = v[r]; body; } \
			} \
		} \
	} while (0)

/* integer-like types: the value as int64 */
#define FOR_EACH_INT(x, body) \
	do { \
		switch (agg->argtype) \
		{ \
			case INT2OID: \
				FOR_EACH_VALUE(d_, { int64 x = DatumGetInt16(d_); body; }); \
				break; \
			case INT4OID: \
			case DATEOID: \
				FOR_EACH_VALUE(d_, { int64 x = DatumGetInt32(d_); body; }); \
				break; \
			default: \
				FOR_EACH_VALUE(d_, { int64 x = DatumGetInt64(d_); body; }); \
				break; \
		} \
	} while (0)

#define FOR_EACH_FLOAT(x, body) \
	do { \
		if (agg->argtype == FLOAT4OID) \
			FOR_EACH_VALUE(d_, { double x = DatumGetFloat4(d_); body; }); \
		else \
			FOR_EACH_VALUE(d_, { double x = DatumGetFloat8(d_); body; }); \
	} while (0)

/*
 * Add rows to every aggregate: the rows listed in rows[0..nrows), or rows
 * 0..nrows when rows is NULL, of the per-column arrays.
 */
void
AggSetAccumulate(AggSet *set, Datum **values, bool **isnull,
				 const int *rows, int nrows)
{
	MemoryContext old = MemoryContextSwitchTo(set->cxt);

	for (int i = 0; i < set->naggs; i++)
	{
		AggState1  *agg = &set->aggs[i];
		Datum	   *v;
		bool	   *n;

		if (agg->kind == AGG_COUNT_STAR)
		{
			agg->count += nrows;
			continue;
		}
		v = values[agg->attno];
		n = isnull[agg->attno];
		switch (agg->kind)
		{
			case AGG_COUNT_STAR:
				break;
			case AGG_COUNT:
				{
					int64		count = 0;

					FOR_EACH_VALUE(x, { (void) x; count++; });
					agg->count += count;
					agg->seen |= count > 0;
					break;
				}
			case AGG_SUM_INT:
			case AGG_AVG_INT:
				{
					int64		count = 0;
					int64		sum = agg->isum;

					FOR_EACH_INT(x, { count++; sum += x; });
					agg->count += count;
					agg->isum = sum;
					agg->seen |= count > 0;
					break;
				}
#ifdef HAVE_INT128
			case AGG_SUM_INT8:
			case AGG_AVG_INT8:
				{
					/* int8_avg_accum: an int128 sum, never overflowing */
					int64		count = 0;
					int128		sum = agg->wsum;

					FOR_EACH_VALUE(x, { count++; sum += DatumGetInt64(x); });
					agg->count += count;
					agg->wsum = sum;
					agg->seen |= count > 0;
					break;
				}
#endif
			case AGG_SUM_FLOAT4:
				{
					/* float4pl: the first value is the state */
					float4		sum = (float4) agg->fval;
					bool		seen = agg->seen;

					FOR_EACH_VALUE(x, {
						if (seen)
							sum = float4_pl(sum, DatumGetFloat4(x));
						else
							sum = DatumGetFloat4(x);
						seen = true;
					});
					agg->fval = sum;
					agg->seen = seen;
					break;
				}
			case AGG_SUM_FLOAT8:
				{
					double		sum = agg->fval;
					bool		seen = agg->seen;

					FOR_EACH_VALUE(x, {
						if (seen)
							sum = float8_pl(sum, DatumGetFloat8(x));
						else
							sum = DatumGetFloat8(x);
						seen = true;
					});
					agg->fval = sum;
					agg->seen = seen;
					break;
				}
			case AGG_AVG_FLOAT:
				{
					/* in a local copy: the loop keeps it in registers */
					AggState1	acc = *agg;

					FOR_EACH_FLOAT(x, FloatAccum(&acc, x));
					agg->N = acc.N;
					agg->Sx = acc.Sx;
					agg->Sxx = acc.Sxx;
					agg->seen |= acc.N > 0;
					break;
				}
			case AGG_MIN_INT:
			case AGG_MAX_INT:
				{
					/* int4smaller/int4larger and the like */
					bool		max = agg->kind == AGG_MAX_INT;
					int64		best = agg->ival;
					bool		seen = agg->seen;

					FOR_EACH_INT(x, {
						if (!seen || (max ? x > best : x < best))
							best = x;
						seen = true;
					});
					agg->ival = best;
					agg->seen = seen;
					break;
				}
			case AGG_MIN_FLOAT:
			case AGG_MAX_FLOAT:
				{
					/*
					 * float8smaller(state, x) keeps the state only if it is
					 * less (float8larger: greater), NaN above all numbers
					 */
					bool		max = agg->kind == AGG_MAX_FLOAT;
					double		best = agg->fval;
					bool		seen = agg->seen;

					FOR_EACH_FLOAT(x, {
						if (!seen || !(max ? float8_gt(best, x) : float8_lt(best, x)))
							best = x;
						seen = true;
					});
					agg->fval = best;
					agg->seen = seen;
					break;
				}
			case AGG_MIN_TEXT:
			case AGG_MAX_TEXT:
				TextMinMax(set, agg, v, n, rows, nrows, agg->kind == AGG_MAX_TEXT);
				break;
		}
	}
	MemoryContextSwitchTo(old);
}

static Datum
Int8ArrayDatum(int64 a, int64 b)
{
	Datum		elems[2] = {Int64GetDatum(a), Int64GetDatum(b)};

	return PointerGetDatum(construct_array(elems, 2, INT8OID, sizeof(int64),
										   FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

static Datum
Float8ArrayDatum(double a, double b, double c)
{
	Datum		elems[3] = {Float8GetDatum(a), Float8GetDatum(b), Float8GetDatum(c)};

	return PointerGetDatum(construct_array(elems, 3, FLOAT8OID, sizeof(float8),
										   FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

#ifdef HAVE_INT128
/* an int128 as numeric, as numeric_poly_sum makes it */
static Datum
Int128Numeric(int128 x)
{
	char		buf[48];
	char	   *p = buf + sizeof(buf) - 1;
	bool		neg = x < 0;
	uint128		u = neg ? -(uint128) x : (uint128) x;

	*p = '\0';
	do
	{
		*--p = '0' + (int) (u % 10);
		u /= 10;
	} while (u > 0);
	if (neg)
		*--p = '-';
	return DirectFunctionCall3(numeric_in, CStringGetDatum(p),
							   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
}
#endif

static Datum
IntDatum(Oid type, int64 x)
{
	switch (type)
	{
		case INT2OID:
			return Int16GetDatum((int16) x);
		case INT4OID:
		case DATEOID:
			return Int32GetDatum((int32) x);
		default:
			return Int64GetDatum(x);
	}
}

static Datum
FloatDatum(Oid type, double x)
{
	return type == FLOAT4OID ? Float4GetDatum((float4) x) : Float8GetDatum(x);
}

/*
 * Each aggregate's final value, or its transition state when partial, in
 * the current memory context.
 */
void
AggSetResults(AggSet *set, Datum *values, bool *isnull)
{
	for (int i = 0; i < set->naggs; i++)
	{
		AggState1  *agg = &set->aggs[i];

		isnull[i] = false;
		switch (agg->kind)
		{
			case AGG_COUNT_STAR:
			case AGG_COUNT:
				values[i] = Int64GetDatum(agg->count);
				break;
			case AGG_SUM_INT:
				isnull[i] = !agg->seen;
				values[i] = Int64GetDatum(agg->isum);
				break;
			case AGG_AVG_INT:
				if (agg->partial)
					values[i] = Int8ArrayDatum(agg->count, agg->isum);
				else if (agg->count == 0)
					isnull[i] = true;
				else
					values[i] = DirectFunctionCall2(numeric_div,
													NumericGetDatum(int64_to_numeric(agg->isum)),
													NumericGetDatum(int64_to_numeric(agg->count)));
				break;
#ifdef HAVE_INT128
			case AGG_SUM_INT8:
				isnull[i] = agg->count == 0;
				if (!isnull[i])
					values[i] = Int128Numeric(agg->wsum);
				break;
			case AGG_AVG_INT8:
				isnull[i] = agg->count == 0;
				if (!isnull[i])
					values[i] = DirectFunctionCall2(numeric_div, Int128Numeric(agg->wsum),
													NumericGetDatum(int64_to_numeric(agg->count)));
				break;
#else
			case AGG_SUM_INT8:
			case AGG_AVG_INT8:
				elog(ERROR, "int8 sums are not computed in the scan here");
				break;
#endif
			case AGG_SUM_FLOAT4:
				isnull[i] = !agg->seen;
				values[i] = Float4GetDatum((float4) agg->fval);
				break;
			case AGG_SUM_FLOAT8:
				isnull[i] = !agg->seen;
				values[i] = Float8GetDatum(agg->fval);
				break;
			case AGG_AVG_FLOAT:
				if (agg->partial)
					values[i] = Float8ArrayDatum(agg->N, agg->Sx, agg->Sxx);
				else if (agg->N == 0.0)
					isnull[i] = true;
				else
					values[i] = Float8GetDatum(agg->Sx / agg->N);
				break;
			case AGG_MIN_INT:
			case AGG_MAX_INT:
				isnull[i] = !agg->seen;
				values[i] = IntDatum(agg->argtype, agg->ival);
				break;
			case AGG_MIN_FLOAT:
			case AGG_MAX_FLOAT:
				isnull[i] = !agg->seen;
				values[i] = FloatDatum(agg->argtype, agg->fval);
				break;
			case AGG_MIN_TEXT:
			case AGG_MAX_TEXT:
				isnull[i] = agg->tval == NULL;
				if (!isnull[i])
					values[i] = datumCopy(PointerGetDatum(agg->tval), false, -1);
				break;
		}
		if (isnull[i])
			values[i] = (Datum) 0;
	}
}
