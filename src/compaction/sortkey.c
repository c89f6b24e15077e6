/*-------------------------------------------------------------------------
 * sortkey.c
 *	  Z-order and Hilbert keys of rows.
 *
 * Each clustering column is first mapped to a double that preserves its
 * order (integers, floats, numeric, date/time types as their values; text
 * as its first eight bytes read big-endian), then scaled linearly from the
 * column's own [min, max] (taken from the fragment statistics) onto
 * 0 .. 2^bits - 1, so that every column gets the same resolution whatever
 * its units: interleaving raw bit patterns of floats or of columns with
 * different ranges clusters badly.  NULLs map to 0.
 *
 * The key is 64 bits: 64 / ndims bits per column (32 for two columns, 8 for
 * eight).  Z-order interleaves the scaled coordinates' bits, most
 * significant first; Hilbert first transforms the coordinates with
 * Skilling's transpose algorithm ("Programming the Hilbert curve", AIP
 * Conf. Proc. 707, 2004) and then interleaves them the same way.
 *
 * Text is ordered by bytes here, not by collation: the curve only has to
 * keep nearby values together, and the exact order of two prefixes inside
 * one cell does not matter for pruning.
 *
 * IDENTIFICATION
 *	  src/compaction/sortkey.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "utils/date.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "compaction/sortkey.h"

bool
CurveTypeSupported(Oid typid)
{
	switch (typid)
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case FLOAT4OID:
		case FLOAT8OID:
		case NUMERICOID:
		case DATEOID:
		case TIMEOID:
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
		case NAMEOID:
			return true;
		default:
			return false;
	}
}

/* the first eight bytes of a string, big-endian, as a double */
static double
PrefixValue(const char *data, int len)
{
	uint64		v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | (i < len ? (unsigned char) data[i] : 0);
	return (double) v;
}

/*
 * An order-preserving double for a non-null value of a supported type.
 */
double
CurveValue(Oid typid, Datum value)
{
	switch (typid)
	{
		case INT2OID:
			return (double) DatumGetInt16(value);
		case INT4OID:
			return (double) DatumGetInt32(value);
		case INT8OID:
			return (double) DatumGetInt64(value);
		case FLOAT4OID:
			return (double) DatumGetFloat4(value);
		case FLOAT8OID:
			return DatumGetFloat8(value);
		case NUMERICOID:
			return DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow,
													  value));
		case DATEOID:
			return (double) DatumGetDateADT(value);
		case TIMEOID:
			return (double) DatumGetTimeADT(value);
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			return (double) DatumGetTimestamp(value);
		case NAMEOID:
			{
				const char *s = NameStr(*DatumGetName(value));

				return PrefixValue(s, strlen(s));
			}
		default:
			{
				/* text, varchar, bpchar */
				struct varlena *v = PG_DETOAST_DATUM_PACKED(value);

				return PrefixValue(VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v));
			}
	}
}

/* Spread[n][v]: the 8 bits of v at every n-th bit (interleaving n dims) */
static uint64 Spread[COMPACT_MAX_CURVE_COLUMNS + 1][256];
static bool SpreadReady = false;

/*
 * Hilbert keys of two dimensions, four levels (bits of each coordinate) at
 * a time: Hilbert2[state][x bits << 4 | y bits] is the key's next 8 bits,
 * and in its high byte the next state.  The state is what
 * HilbertTranspose's steps above a level did to the bits below it, as it
 * reaches them: exchange the two coordinates (bit 0), invert the first
 * (bit 1) or the second (bit 2), and the parity of the transposed second
 * coordinate's bits above (bit 3), which its last loop folds into every
 * bit below.  The keys are those of HilbertTranspose and the interleave,
 * bit for bit, in a tenth of the time.
 */
static uint16 Hilbert2[16][256];

static void
Hilbert2Init(void)
{
	for (int state = 0; state < 16; state++)
		for (int in = 0; in < 256; in++)
		{
			int			swap = state & 1;
			int			inv0 = (state >> 1) & 1;
			int			inv1 = (state >> 2) & 1;
			int			parity = (state >> 3) & 1;
			int			out = 0;

			for (int level = 3; level >= 0; level--)
			{
				int			c0 = (in >> (4 + level)) & 1;
				int			c1 = (in >> level) & 1;
				int			x0 = (swap ? c1 : c0) ^ inv0;
				int			x1 = (swap ? c0 : c1) ^ inv1;
				int			gray1 = x1 ^ x0;

				out = (out << 2) | ((x0 ^ parity) << 1) | (gray1 ^ parity);
				/* HilbertTranspose's step at this level, on the bits below */
				inv0 ^= x0;
				if (x1)
					inv0 ^= 1;
				else
				{
					int			t = inv0;

					inv0 = inv1;
					inv1 = t;
					swap ^= 1;
				}
				parity ^= gray1;
			}
			Hilbert2[state][in] = (uint16) (out |
											((swap | inv0 << 1 | inv1 << 2 | parity << 3) << 8));
		}
}

static void
SpreadInit(void)
{
	for (int n = 1; n <= COMPACT_MAX_CURVE_COLUMNS; n++)
		for (int v = 0; v < 256; v++)
		{
			uint64		spread = 0;

			for (int b = 0; b < 8; b++)
				if (v & (1 << b))
					spread |= (uint64) 1 << (b * n);
			Spread[n][v] = spread;
		}
	Hilbert2Init();
	SpreadReady = true;
}

void
CurveKeyInit(CurveKeyState *state, bool hilbert, int ndims, const Oid *typids)
{
	Assert(ndims >= COMPACT_MIN_CURVE_COLUMNS && ndims <= COMPACT_MAX_CURVE_COLUMNS);
	if (!SpreadReady)
		SpreadInit();
	memset(state, 0, sizeof(CurveKeyState));
	state->hilbert = hilbert;
	state->ndims = ndims;
	state->bits = 64 / ndims;
	for (int d = 0; d < ndims; d++)
		state->dims[d].typid = typids[d];
}

/*
 * Make a state that another process built (and sent as bytes) usable in
 * this one; false if it is not a valid state.
 */
bool
CurveKeyAdopt(const CurveKeyState *state)
{
	if (state->ndims < COMPACT_MIN_CURVE_COLUMNS ||
		state->ndims > COMPACT_MAX_CURVE_COLUMNS ||
		state->bits != 64 / state->ndims)
		return false;
	for (int d = 0; d < state->ndims; d++)
		if (!CurveTypeSupported(state->dims[d].typid))
			return false;
	if (!SpreadReady)
		SpreadInit();
	return true;
}

/* Widen a dimension's range to cover [min, max] of some rows. */
void
CurveKeyWiden(CurveKeyState *state, int dim, Datum min, Datum max)
{
	CurveDim   *d = &state->dims[dim];
	double		lo = CurveValue(d->typid, min);
	double		hi = CurveValue(d->typid, max);

	if (isnan(lo) || isnan(hi))
		return;
	if (!d->have_range)
	{
		d->lo = lo;
		d->hi = hi;
		d->have_range = true;
		return;
	}
	d->lo = Min(d->lo, lo);
	d->hi = Max(d->hi, hi);
}

/* a value's coordinate: 0 .. 2^bits - 1 */
static uint64
Coordinate(const CurveKeyState *state, const CurveDim *d, Datum value,
		   bool isnull)
{
	uint64		top = (state->bits == 64) ? PG_UINT64_MAX :
		(((uint64) 1 << state->bits) - 1);
	double		v;
	double		scaled;

	if (isnull || !d->have_range || d->hi <= d->lo)
		return 0;
	v = CurveValue(d->typid, value);
	if (isnan(v) || v >= d->hi)
		return top;
	if (v <= d->lo)
		return 0;
	scaled = (v - d->lo) / (d->hi - d->lo) * (double) top;
	if (scaled >= (double) top)
		return top;
	return (uint64) scaled;
}

/*
 * Skilling's transform of coordinates into the Hilbert curve's transpose,
 * without branches: which way each step goes depends on the data, and
 * mispredicted branches were most of the cost of a Hilbert key.
 */
static void
HilbertTranspose(uint64 *x, int bits, int n)
{
	uint64		m = (uint64) 1 << (bits - 1);
	uint64		t;

	for (uint64 q = m; q > 1; q >>= 1)
	{
		uint64		p = q - 1;

		/* dimension i's bit q set: invert x[0] below q; else exchange */
		x[0] ^= p & -(uint64) ((x[0] & q) != 0);
		for (int i = 1; i < n; i++)
		{
			uint64		set = -(uint64) ((x[i] & q) != 0);

			t = (x[0] ^ x[i]) & p & ~set;
			x[0] ^= (p & set) | t;
			x[i] ^= t;
		}
	}
	for (int i = 1; i < n; i++)
		x[i] ^= x[i - 1];
	t = 0;
	for (uint64 q = m; q > 1; q >>= 1)
		t ^= (q - 1) & -(uint64) ((x[n - 1] & q) != 0);
	for (int i = 0; i < n; i++)
		x[i] ^= t;
}

/*
 * The curve key of one row, given the values of the clustering columns.
 */
uint64
CurveKey(const CurveKeyState *state, const Datum *values, const bool *isnull)
{
	uint64		x[COMPACT_MAX_CURVE_COLUMNS];
	uint64		key = 0;

	for (int d = 0; d < state->ndims; d++)
		x[d] = Coordinate(state, &state->dims[d], values[d], isnull[d]);
	if (state->hilbert && state->ndims == 2)
	{
		int			s = 0;

		for (int shift = 28; shift >= 0; shift -= 4)
		{
			uint16		e = Hilbert2[s][((x[0] >> shift) & 15) << 4 |
										 ((x[1] >> shift) & 15)];

			key = (key << 8) | (e & 255);
			s = e >> 8;
		}
		return key;
	}
	if (state->hilbert)
		HilbertTranspose(x, state->bits, state->ndims);

	/*
	 * Interleave, most significant bit first, the first dimension's bit
	 * leading each group of ndims bits: a table lookup per byte.
	 */
	for (int d = 0; d < state->ndims; d++)
	{
		uint64		spread = 0;

		for (int k = 0; k * 8 < state->bits; k++)
			spread |= Spread[state->ndims][(x[d] >> (8 * k)) & 255] << (8 * k * state->ndims);
		key |= spread << (state->ndims - 1 - d);
	}
	return key;
}
