/*-------------------------------------------------------------------------
 * encoding.c
 *	  Bit packing, integer streams, decimal floats and single values as
 *	  bytes.
 *
 * These are the pure byte functions below the page codec (page_codec.c):
 * no files, no errors.  Decoders validate every length and bit width
 * against the bytes they were given and return false on garbage; their
 * only out-of-range access is the documented read slack of
 * ENCODING_READ_PADDING bytes, which bit unpacking uses to load whole 64-bit
 * words.  Packed bit streams are little-endian on every machine.
 *
 * IDENTIFICATION
 *	  src/format/encoding.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "catalog/pg_type_d.h"
#include "port/pg_bitutils.h"
#include "port/pg_bswap.h"
#include "utils/memutils.h"

#include "format/encoding.h"

/* 10^e, all exactly representable as doubles */
const double encoding_pow10[ENCODING_MAX_DECIMAL_EXPONENT + 1] = {
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7,
	1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15
};

/*
 * Scaled decimals must stay well inside the 53-bit mantissa, so that the
 * integer survives the trip through a double exactly.
 */
#define DECIMAL_LIMIT	2251799813685248.0	/* 2^51 */
#define ROUND_MAGIC		6755399441055744.0	/* 1.5 * 2^52 */

typedef struct IntStreamPlan
{
	uint8		mode;
	uint8		width;
	int64		base;
	int64		dmin;
	size_t		size;
} IntStreamPlan;

static inline uint64
LoadLE64(const unsigned char *p)
{
	uint64		w;

	memcpy(&w, p, sizeof(w));
#ifdef WORDS_BIGENDIAN
	w = pg_bswap64(w);
#endif
	return w;
}

static inline void
StoreLE64(unsigned char *p, uint64 w)
{
#ifdef WORDS_BIGENDIAN
	w = pg_bswap64(w);
#endif
	memcpy(p, &w, sizeof(w));
}

/*
 * Create an empty buffer with room for cap bytes in CurrentMemoryContext.
 */
void
EncodeBufferInit(EncodeBuffer *buf, size_t cap)
{
	buf->cap = Max(cap, 64);
	buf->data = MemoryContextAllocHuge(CurrentMemoryContext, buf->cap);
	buf->len = 0;
}

/*
 * Make room for extra more bytes; the buffer may exceed MaxAllocSize.
 */
void
EncodeBufferGrow(EncodeBuffer *buf, size_t extra)
{
	size_t		need = buf->len + extra;
	size_t		newcap = buf->cap;

	if (need < buf->len || need >= MaxAllocHugeSize)
		elog(ERROR, "fragment encode buffer too large");
	while (newcap < need)
		newcap = newcap * 2;
	newcap = Min(newcap, MaxAllocHugeSize);
	buf->data = repalloc_huge(buf->data, newcap);
	buf->cap = newcap;
}

void
EncodeBufferAppend(EncodeBuffer *buf, const void *data, size_t len)
{
	EncodeBufferReserve(buf, len);
	memcpy(buf->data + buf->len, data, len);
	buf->len += len;
}

/*
 * Copy len bytes out of the input, or return false if there are fewer.
 */
bool
DecodeBytes(DecodeCursor *in, void *dst, size_t len)
{
	if (DecodeRemaining(in) < len)
		return false;
	memcpy(dst, in->p, len);
	in->p += len;
	return true;
}

/*
 * Step over len bytes, reporting where they start.
 */
bool
DecodeSkip(DecodeCursor *in, size_t len, const char **start)
{
	if (DecodeRemaining(in) < len)
		return false;
	*start = in->p;
	in->p += len;
	return true;
}

/*
 * Bits needed to store every value in [0, maxval].
 */
int
EncodingBitWidth(uint64 maxval)
{
	return maxval == 0 ? 0 : pg_leftmost_one_pos64(maxval) + 1;
}

static inline size_t
PackedBytes(int n, int width)
{
	return ((uint64) n * width + 7) / 8;
}

/*
 * Append n values of width bits each; every value must fit in width bits.
 */
void
EncodingPackBits(EncodeBuffer *out, const uint64 *vals, int n, int width)
{
	size_t		nbytes = PackedBytes(n, width);
	unsigned char *p;
	uint64		acc = 0;
	int			bits = 0;

	if (width == 0 || n == 0)
		return;
	EncodeBufferReserve(out, nbytes + sizeof(uint64));
	p = (unsigned char *) out->data + out->len;

	for (int i = 0; i < n; i++)
	{
		uint64		v = vals[i];

		Assert(width == 64 || (v >> width) == 0);
		acc |= v << bits;
		bits += width;
		if (bits >= 64)
		{
			StoreLE64(p, acc);
			p += sizeof(uint64);
			bits -= 64;
			acc = bits > 0 ? v >> (width - bits) : 0;
		}
	}
	for (int b = 0; b < bits; b += 8)
	{
		*p++ = (unsigned char) (acc & 0xFF);
		acc >>= 8;
	}
	Assert(p == (unsigned char *) out->data + out->len + nbytes);
	out->len += nbytes;
}

/*
 * Read n values of width bits each into out.  Loads whole 64-bit words, so
 * it may look at up to 8 bytes past the packed data (never past the read
 * padding of the input).
 */
bool
EncodingUnpackBits(DecodeCursor *in, int n, int width, uint64 *out)
{
	const unsigned char *p = (const unsigned char *) in->p;
	size_t		nbytes;
	uint64		mask;
	uint64		bit = 0;

	if (n < 0 || width < 0 || width > 64)
		return false;
	nbytes = PackedBytes(n, width);
	if (DecodeRemaining(in) < nbytes)
		return false;

	if (n == 0)
		return true;
	if (width == 0)
	{
		memset(out, 0, sizeof(uint64) * n);
		return true;
	}

	mask = width == 64 ? ~UINT64CONST(0) : (UINT64CONST(1) << width) - 1;
	if (width <= 56)
	{
		for (int i = 0; i < n; i++, bit += width)
			out[i] = (LoadLE64(p + (bit >> 3)) >> (bit & 7)) & mask;
	}
	else
	{
		for (int i = 0; i < n; i++, bit += width)
		{
			const unsigned char *q = p + (bit >> 3);
			int			shift = bit & 7;
			uint64		v = LoadLE64(q) >> shift;

			if (shift + width > 64)
				v |= ((uint64) q[8]) << (64 - shift);
			out[i] = v & mask;
		}
	}
	in->p += nbytes;
	return true;
}

/*
 * Choose between frame of reference and delta for vals.
 */
static void
PlanIntStream(const int64 *vals, int n, IntStreamPlan *plan)
{
	int64		min,
				max,
				dmin = 0,
				dmax = 0;
	int			wfor,
				wdelta;
	size_t		sfor,
				sdelta;

	plan->mode = ENCODING_INT_FOR;
	plan->width = 0;
	plan->base = 0;
	plan->dmin = 0;
	plan->size = 2 + sizeof(int64);
	if (n == 0)
		return;

	min = max = vals[0];
	if (n > 1)
		dmin = dmax = (int64) ((uint64) vals[1] - (uint64) vals[0]);
	for (int i = 1; i < n; i++)
	{
		int64		v = vals[i];
		int64		d = (int64) ((uint64) v - (uint64) vals[i - 1]);

		if (v < min)
			min = v;
		if (v > max)
			max = v;
		if (d < dmin)
			dmin = d;
		if (d > dmax)
			dmax = d;
	}

	wfor = EncodingBitWidth((uint64) max - (uint64) min);
	sfor = 2 + sizeof(int64) + PackedBytes(n, wfor);
	wdelta = EncodingBitWidth((uint64) dmax - (uint64) dmin);
	sdelta = 2 + 2 * sizeof(int64) + PackedBytes(n - 1, wdelta);

	if (n > 1 && sdelta < sfor)
	{
		plan->mode = ENCODING_INT_DELTA;
		plan->width = wdelta;
		plan->base = vals[0];
		plan->dmin = dmin;
		plan->size = sdelta;
	}
	else
	{
		plan->width = wfor;
		plan->base = min;
		plan->size = sfor;
	}
}

/*
 * Bytes EncodeIntStream would write for vals.
 */
size_t
EncodingIntStreamSize(const int64 *vals, int n)
{
	IntStreamPlan plan;

	PlanIntStream(vals, n, &plan);
	return plan.size;
}

/*
 * Append vals as an int stream, frame of reference or delta, whichever is
 * smaller.  Allocates a scratch array in CurrentMemoryContext.
 */
void
EncodeIntStream(EncodeBuffer *out, const int64 *vals, int n)
{
	IntStreamPlan plan;
	uint64	   *packed;
	int			npacked = 0;

	PlanIntStream(vals, n, &plan);
	EncodeBufferPutU8(out, plan.mode);
	EncodeBufferPutU8(out, plan.width);
	EncodeBufferPutU64(out, (uint64) plan.base);
	if (plan.mode == ENCODING_INT_DELTA)
		EncodeBufferPutU64(out, (uint64) plan.dmin);
	if (plan.width == 0)
		return;

	packed = palloc(sizeof(uint64) * n);
	if (plan.mode == ENCODING_INT_FOR)
	{
		for (int i = 0; i < n; i++)
			packed[npacked++] = (uint64) vals[i] - (uint64) plan.base;
	}
	else
	{
		for (int i = 1; i < n; i++)
			packed[npacked++] = (uint64) vals[i] - (uint64) vals[i - 1] -
				(uint64) plan.dmin;
	}
	EncodingPackBits(out, packed, npacked, plan.width);
	pfree(packed);
}

/*
 * Decode an int stream of exactly n values into out (as two's complement
 * int64 bits).  False if the stream is malformed or too short.
 */
bool
DecodeIntStream(DecodeCursor *in, int n, uint64 *out)
{
	uint8		mode;
	uint8		width;
	uint64		base;
	uint64		dmin;

	if (n < 0 ||
		!DecodeU8(in, &mode) ||
		!DecodeU8(in, &width) ||
		!DecodeU64(in, &base) ||
		width > 64)
		return false;

	if (mode == ENCODING_INT_FOR)
	{
		if (!EncodingUnpackBits(in, n, width, out))
			return false;
		if (base != 0)
			for (int i = 0; i < n; i++)
				out[i] += base;
	}
	else if (mode == ENCODING_INT_DELTA)
	{
		if (n < 1 ||
			!DecodeU64(in, &dmin) ||
			!EncodingUnpackBits(in, n - 1, width, out + 1))
			return false;
		out[0] = base;
		for (int i = 1; i < n; i++)
			out[i] = out[i - 1] + dmin + out[i];
	}
	else
		return false;
	return true;
}

static inline double
RoundToInteger(double s)
{
#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD == 0
	/* round half to even without a libm call; exact for |s| < 2^51 */
	return (s + ROUND_MAGIC) - ROUND_MAGIC;
#else
	return rint(s);
#endif
}

/*
 * Whether v == round(v * 10^e) / 10^e bit for bit; sets *scaled if so.
 * NaN, infinities, -0 and values too large fail.
 */
static inline bool
ScaleFloat8(double v, int e, int64 *scaled)
{
	double		s = v * encoding_pow10[e];
	double		r;

	if (!(fabs(s) < DECIMAL_LIMIT) || (v == 0 && signbit(v)))
		return false;
	r = RoundToInteger(s);
	if ((double) (int64) r / encoding_pow10[e] != v)
		return false;
	*scaled = (int64) r;
	return true;
}

static inline bool
ScaleFloat4(float4 v, int e, int64 *scaled)
{
	double		s = (double) v * encoding_pow10[e];
	double		r;

	if (!(fabs(s) < DECIMAL_LIMIT) || (v == 0 && signbit(v)))
		return false;
	r = RoundToInteger(s);
	if ((float4) ((double) (int64) r / encoding_pow10[e]) != v)
		return false;
	*scaled = (int64) r;
	return true;
}

/*
 * The smallest decimal exponent e that represents every value exactly, with
 * the scaled integers in scaled[]; -1 if there is none.  The first pass
 * finds the exponent (each value starting from the largest needed so far),
 * the second scales and verifies with it the values before the last value
 * that raised it (those after were scaled with it already).
 */
int
EncodingDecimalFloat8(const double *vals, int n, int64 *scaled)
{
	int			e = 0;
	int			raised = 0;

	for (int i = 0; i < n; i++)
	{
		while (!ScaleFloat8(vals[i], e, &scaled[i]))
		{
			if (++e > ENCODING_MAX_DECIMAL_EXPONENT)
				return -1;
			raised = i;
		}
	}
	for (int i = 0; i < raised; i++)
	{
		if (!ScaleFloat8(vals[i], e, &scaled[i]))
			return -1;
	}
	return e;
}

int
EncodingDecimalFloat4(const float4 *vals, int n, int64 *scaled)
{
	int			e = 0;
	int			raised = 0;

	for (int i = 0; i < n; i++)
	{
		while (!ScaleFloat4(vals[i], e, &scaled[i]))
		{
			if (++e > ENCODING_MAX_DECIMAL_EXPONENT)
				return -1;
			raised = i;
		}
	}
	for (int i = 0; i < raised; i++)
	{
		if (!ScaleFloat4(vals[i], e, &scaled[i]))
			return -1;
	}
	return e;
}

/*
 * Whether a column layout is one this format can store.
 */
bool
EncodingTypeIsValid(int16 typlen, bool typbyval, char typalign)
{
	if (typalign != TYPALIGN_CHAR && typalign != TYPALIGN_SHORT &&
		typalign != TYPALIGN_INT && typalign != TYPALIGN_DOUBLE)
		return false;
	if (typbyval)
		return typlen == 1 || typlen == 2 || typlen == 4 ||
			(typlen == 8 && SIZEOF_DATUM == 8);
	return typlen > 0 || typlen == -1 || typlen == -2;
}

/*
 * Bytes of one value as EncodingValueAppend writes it: the value for
 * fixed-width types, the payload without header for varlena, the string
 * without its terminator for cstring.
 */
size_t
EncodingValueSize(Datum value, int16 typlen, bool typbyval)
{
	if (typlen > 0)
		return typlen;
	if (typlen == -1)
		return VARSIZE_ANY_EXHDR(DatumGetPointer(value));
	return strlen(DatumGetCString(value));
}

void
EncodingValueAppend(EncodeBuffer *buf, Datum value, int16 typlen,
					bool typbyval)
{
	if (typbyval)
	{
		switch (typlen)
		{
			case 1:
				{
					char		v = DatumGetChar(value);

					EncodeBufferAppend(buf, &v, sizeof(v));
					break;
				}
			case 2:
				{
					int16		v = DatumGetInt16(value);

					EncodeBufferAppend(buf, &v, sizeof(v));
					break;
				}
			case 4:
				{
					int32		v = DatumGetInt32(value);

					EncodeBufferAppend(buf, &v, sizeof(v));
					break;
				}
			default:
				{
					int64		v = (int64) value;

					Assert(typlen == 8);
					EncodeBufferAppend(buf, &v, sizeof(v));
					break;
				}
		}
	}
	else if (typlen > 0)
		EncodeBufferAppend(buf, DatumGetPointer(value), typlen);
	else if (typlen == -1)
	{
		struct varlena *v = (struct varlena *) DatumGetPointer(value);

		Assert(!VARATT_IS_EXTERNAL(v) && !VARATT_IS_COMPRESSED(v));
		EncodeBufferAppend(buf, VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v));
	}
	else
	{
		const char *s = DatumGetCString(value);

		EncodeBufferAppend(buf, s, strlen(s));
	}
}

/*
 * Rebuild a value written by EncodingValueAppend from len untrusted bytes.
 * By-reference results are palloc'd in CurrentMemoryContext (so they are
 * aligned for any type); varlenas get a 4-byte header.  False if the bytes
 * cannot be such a value.
 */
bool
EncodingValueRead(const char *bytes, size_t len, int16 typlen, bool typbyval,
				  Datum *value)
{
	if (typbyval)
	{
		if (len != typlen)
			return false;
		switch (typlen)
		{
			case 1:
				*value = CharGetDatum(*bytes);
				return true;
			case 2:
				{
					int16		v;

					memcpy(&v, bytes, sizeof(v));
					*value = Int16GetDatum(v);
					return true;
				}
			case 4:
				{
					int32		v;

					memcpy(&v, bytes, sizeof(v));
					*value = Int32GetDatum(v);
					return true;
				}
			case 8:
				{
					int64		v;

					memcpy(&v, bytes, sizeof(v));
					*value = (Datum) v;
					return true;
				}
			default:
				return false;
		}
	}
	else if (typlen > 0)
	{
		char	   *v;

		if (len != typlen)
			return false;
		v = palloc(len);
		memcpy(v, bytes, len);
		*value = PointerGetDatum(v);
		return true;
	}
	else if (typlen == -1)
	{
		struct varlena *v;

		if (len > MaxAllocSize - VARHDRSZ)
			return false;
		v = palloc(len + VARHDRSZ);
		SET_VARSIZE(v, len + VARHDRSZ);
		memcpy(VARDATA(v), bytes, len);
		*value = PointerGetDatum(v);
		return true;
	}
	else if (typlen == -2)
	{
		char	   *v;

		if (len >= MaxAllocSize || memchr(bytes, '\0', len) != NULL)
			return false;
		v = palloc(len + 1);
		memcpy(v, bytes, len);
		v[len] = '\0';
		*value = CStringGetDatum(v);
		return true;
	}
	return false;
}
