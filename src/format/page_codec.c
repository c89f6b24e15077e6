/*-------------------------------------------------------------------------
 * page_codec.c
 *	  Encode one page of a column from Datums, decode it back to Datums.
 *
 * Encoding gathers the non-null values of the page into a flat array of
 * the kind's natural representation (int64, double, or pointer and length),
 * then picks an encoding:
 *
 *	 integers		int stream (frame of reference or delta)
 *	 floats			DECIMAL when every value is a short decimal, else PLAIN
 *	 by reference	DICT when at most a third of the values are distinct
 *					(and that is smaller), else PLAIN
 *
 * Decoding writes straight into the caller's values[] and isnull[] arrays:
 * the non-null values first, packed at the front, then spread out backwards
 * over the null positions.  By-reference values of a page are built in one
 * palloc'd buffer in CurrentMemoryContext, each at its type's alignment,
 * varlenas with a 4-byte header; dictionary pages decode each distinct
 * value once and let every row point at it.  Every count, length, bit width
 * and index is checked against the page; a failure returns a description
 * instead of raising, so the reader can name the file and the offset.
 *
 * IDENTIFICATION
 *	  src/format/page_codec.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/tupmacs.h"
#include "catalog/pg_type_d.h"
#include "common/hashfn.h"
#include "port/pg_bitutils.h"
#include "utils/float.h"
#include "utils/memutils.h"

#include "format/page_codec.h"

/* the non-null by-reference values of a page being encoded */
typedef struct RefValues
{
	int			n;
	const char **ptr;
	int64	   *len;
	Datum	   *datum;
	uint64		total;			/* sum of len */
} RefValues;

/* result of looking for a dictionary */
typedef struct Dictionary
{
	int			ndict;
	int		   *first;			/* value index of each entry's first use */
	int64	   *index;			/* per value: its entry */
} Dictionary;

/*
 * The writer's treatment of a column.  Any by-value type other than the two
 * float types is an integer to us: frame of reference keeps its bits.
 */
ColumnKind
PageColumnKind(Oid basetypid, int16 typlen, bool typbyval)
{
	if (typbyval)
	{
		if (basetypid == FLOAT8OID && typlen == 8)
			return COLUMN_KIND_FLOAT8;
		if (basetypid == FLOAT4OID && typlen == 4)
			return COLUMN_KIND_FLOAT4;
		return COLUMN_KIND_INT;
	}
	if (typlen > 0)
		return COLUMN_KIND_FIXED;
	if (typlen == -1)
		return COLUMN_KIND_VARLENA;
	return COLUMN_KIND_CSTRING;
}

/*
 * Append the null bitmap if any row is NULL; returns the non-null count.
 */
static int
EncodeNulls(const bool *isnull, int n, EncodeBuffer *out, uint8 *flags)
{
	size_t		nbytes = (n + 7) / 8;
	unsigned char *bits;
	int			nulls = 0;

	if (memchr(isnull, true, n) == NULL)
		return n;

	*flags |= PAGE_FLAG_NULLS;
	EncodeBufferReserve(out, nbytes);
	bits = (unsigned char *) out->data + out->len;
	memset(bits, 0, nbytes);
	for (int i = 0; i < n; i++)
	{
		if (isnull[i])
		{
			bits[i >> 3] |= 1 << (i & 7);
			nulls++;
		}
	}
	out->len += nbytes;
	return n - nulls;
}

static void
EncodeIntPage(int16 typlen, const Datum *values, const bool *isnull, int n,
			  int nn, EncodeBuffer *out, PageEncodeResult *result)
{
	int64	   *ints = palloc(sizeof(int64) * Max(nn, 1));
	int			k = 0;

	for (int i = 0; i < n; i++)
	{
		if (!isnull[i])
			ints[k++] = PageDatumToInt64(values[i], typlen);
	}
	Assert(k == nn);

	if (nn > 0)
	{
		int64		min = ints[0],
					max = ints[0];

		for (int i = 1; i < nn; i++)
		{
			if (ints[i] < min)
				min = ints[i];
			else if (ints[i] > max)
				max = ints[i];
		}
		result->has_range = true;
		result->min = min;
		result->max = max;
	}
	result->encoding = PAGE_ENCODING_INT;
	EncodeIntStream(out, ints, nn);
	pfree(ints);
}

/*
 * The range of the nn >= 1 floats in plain, in the btree order of float4
 * and float8: NaN above all others, NaNs equal.
 */
static void
FloatRange(ColumnKind kind, const char *plain, int nn, PageEncodeResult *result)
{
	bool		any = false;
	bool		nan = false;
	double		lo = 0;
	double		hi = 0;

	for (int i = 0; i < nn; i++)
	{
		double		v = kind == COLUMN_KIND_FLOAT8 ? ((const float8 *) plain)[i] :
			((const float4 *) plain)[i];

		if (isnan(v))
			nan = true;
		else if (!any)
		{
			lo = hi = v;
			any = true;
		}
		else if (v < lo)
			lo = v;
		else if (v > hi)
			hi = v;
	}
	result->has_frange = true;
	result->fmin = any ? lo : get_float8_nan();
	result->fmax = any && !nan ? hi : get_float8_nan();
}

static void
EncodeFloatPage(ColumnKind kind, const Datum *values, const bool *isnull,
				int n, int nn, EncodeBuffer *out, PageEncodeResult *result)
{
	int64	   *scaled = palloc(sizeof(int64) * Max(nn, 1));
	size_t		width = kind == COLUMN_KIND_FLOAT8 ? sizeof(float8) : sizeof(float4);
	char	   *plain = palloc(width * Max(nn, 1));
	int			k = 0;
	int			e;

	if (kind == COLUMN_KIND_FLOAT8)
	{
		float8	   *f = (float8 *) plain;

		for (int i = 0; i < n; i++)
		{
			if (!isnull[i])
				f[k++] = DatumGetFloat8(values[i]);
		}
		e = EncodingDecimalFloat8(f, nn, scaled);
	}
	else
	{
		float4	   *f = (float4 *) plain;

		for (int i = 0; i < n; i++)
		{
			if (!isnull[i])
				f[k++] = DatumGetFloat4(values[i]);
		}
		e = EncodingDecimalFloat4(f, nn, scaled);
	}
	Assert(k == nn);
	if (nn > 0)
		FloatRange(kind, plain, nn, result);

	if (nn > 0 && e >= 0 &&
		1 + EncodingIntStreamSize(scaled, nn) < width * nn)
	{
		result->encoding = PAGE_ENCODING_DECIMAL;
		EncodeBufferPutU8(out, (uint8) e);
		EncodeIntStream(out, scaled, nn);
	}
	else
	{
		result->encoding = PAGE_ENCODING_PLAIN;
		EncodeBufferAppend(out, plain, width * nn);
	}
	pfree(scaled);
	pfree(plain);
}

/*
 * Pointers to and lengths of the non-null by-reference values.
 */
static void
GatherRefValues(ColumnKind kind, int16 typlen, const Datum *values,
				const bool *isnull, int n, int nn, RefValues *refs)
{
	int			k = 0;

	refs->n = nn;
	refs->ptr = palloc(sizeof(char *) * Max(nn, 1));
	refs->len = palloc(sizeof(int64) * Max(nn, 1));
	refs->datum = palloc(sizeof(Datum) * Max(nn, 1));
	refs->total = 0;

	for (int i = 0; i < n; i++)
	{
		const char *p;
		int64		len;

		if (isnull[i])
			continue;
		p = DatumGetPointer(values[i]);
		if (kind == COLUMN_KIND_FIXED)
			len = typlen;
		else if (kind == COLUMN_KIND_VARLENA)
		{
			const struct varlena *v = (const struct varlena *) p;

			if (VARATT_IS_EXTERNAL(v) || VARATT_IS_COMPRESSED(v))
				elog(ERROR, "cannot store a toasted value in a fragment");
			len = VARSIZE_ANY_EXHDR(v);
			p = VARDATA_ANY(v);
		}
		else
			len = strlen(p);
		refs->ptr[k] = p;
		refs->len[k] = len;
		refs->datum[k] = values[i];
		refs->total += len;
		k++;
	}
	Assert(k == nn);
}

/*
 * Assign every value a dictionary entry, if there are few enough distinct
 * values; false (and no dictionary) otherwise.  Open addressing over the
 * hashed bytes; the table is at most half full.  A page whose first
 * DICT_PROBE_VALUES values are all different (ids, hashes, free text) is
 * given up on there, rather than after a third of its values.
 */
#define DICT_PROBE_VALUES	1024

static bool
BuildDictionary(const RefValues *refs, Dictionary *dict)
{
	int			limit = Min(refs->n / 3, PAGE_DICT_MAX_ENTRIES);
	uint32		mask;
	int32	   *slots;
	uint32	   *hashes;
	int			ndict = 0;

	if (limit < 1)
		return false;
	mask = pg_nextpower2_32((uint32) limit * 2) - 1;
	slots = palloc0(sizeof(int32) * (mask + 1));
	hashes = palloc(sizeof(uint32) * limit);
	dict->first = palloc(sizeof(int) * limit);
	dict->index = palloc(sizeof(int64) * refs->n);

	for (int i = 0; i < refs->n; i++)
	{
		const char *p = refs->ptr[i];
		int64		len = refs->len[i];
		uint32		h = hash_bytes((const unsigned char *) p, (int) len);
		uint32		s = h & mask;
		int			e;

		for (;;)
		{
			e = slots[s] - 1;
			if (e < 0)
			{
				if (ndict == limit)
				{
					pfree(slots);
					pfree(hashes);
					return false;
				}
				if (ndict == DICT_PROBE_VALUES && i == DICT_PROBE_VALUES)
				{
					pfree(slots);
					pfree(hashes);
					return false;
				}
				e = ndict++;
				hashes[e] = h;
				dict->first[e] = i;
				slots[s] = e + 1;
				break;
			}
			if (hashes[e] == h && refs->len[dict->first[e]] == len &&
				memcmp(refs->ptr[dict->first[e]], p, len) == 0)
				break;
			s = (s + 1) & mask;
		}
		dict->index[i] = e;
	}
	dict->ndict = ndict;
	pfree(slots);
	pfree(hashes);
	return true;
}

/*
 * Append values in PLAIN layout: fixed-width bytes, or an int stream of
 * lengths followed by the payloads.
 */
static void
EncodeRefPlain(ColumnKind kind, const RefValues *refs, const int *which,
			   int count, EncodeBuffer *out)
{
	uint64		total = 0;
	char	   *dst;

	if (kind != COLUMN_KIND_FIXED)
	{
		int64	   *lens = palloc(sizeof(int64) * Max(count, 1));

		for (int i = 0; i < count; i++)
			lens[i] = refs->len[which ? which[i] : i];
		EncodeIntStream(out, lens, count);
		pfree(lens);
	}
	for (int i = 0; i < count; i++)
		total += refs->len[which ? which[i] : i];
	EncodeBufferReserve(out, total);
	dst = out->data + out->len;
	for (int i = 0; i < count; i++)
	{
		int			j = which ? which[i] : i;

		memcpy(dst, refs->ptr[j], refs->len[j]);
		dst += refs->len[j];
	}
	out->len += total;
}

static void
EncodeRefPage(ColumnKind kind, int16 typlen, const Datum *values,
			  const bool *isnull, int n, int nn, EncodeBuffer *out,
			  PageEncodeResult *result)
{
	RefValues	refs;
	Dictionary	dict;

	GatherRefValues(kind, typlen, values, isnull, n, nn, &refs);

	if (BuildDictionary(&refs, &dict))
	{
		size_t		plain_size = refs.total;
		size_t		dict_size = sizeof(uint32) +
			EncodingIntStreamSize(dict.index, nn);
		int64	   *dlens = palloc(sizeof(int64) * dict.ndict);

		for (int e = 0; e < dict.ndict; e++)
		{
			dlens[e] = refs.len[dict.first[e]];
			dict_size += dlens[e];
		}
		if (kind != COLUMN_KIND_FIXED)
		{
			plain_size += EncodingIntStreamSize(refs.len, nn);
			dict_size += EncodingIntStreamSize(dlens, dict.ndict);
		}
		pfree(dlens);

		if (dict_size < plain_size)
		{
			result->encoding = PAGE_ENCODING_DICT;
			result->ndistinct = dict.ndict;
			result->distinct = palloc(sizeof(Datum) * dict.ndict);
			for (int e = 0; e < dict.ndict; e++)
				result->distinct[e] = refs.datum[dict.first[e]];
			EncodeBufferPutU32(out, (uint32) dict.ndict);
			EncodeRefPlain(kind, &refs, dict.first, dict.ndict, out);
			EncodeIntStream(out, dict.index, nn);
			return;
		}
	}

	result->encoding = PAGE_ENCODING_PLAIN;
	EncodeRefPlain(kind, &refs, NULL, nn, out);
}

/*
 * Append the encoded body of n rows to out and describe it in result.
 * Scratch allocations go to CurrentMemoryContext; the caller resets it.
 */
void
PageEncode(ColumnKind kind, int16 typlen, const Datum *values,
		   const bool *isnull, int n, EncodeBuffer *out,
		   PageEncodeResult *result)
{
	int			nn;

	memset(result, 0, sizeof(*result));
	nn = EncodeNulls(isnull, n, out, &result->flags);
	result->nnonnull = nn;

	switch (kind)
	{
		case COLUMN_KIND_INT:
			EncodeIntPage(typlen, values, isnull, n, nn, out, result);
			break;
		case COLUMN_KIND_FLOAT4:
		case COLUMN_KIND_FLOAT8:
			EncodeFloatPage(kind, values, isnull, n, nn, out, result);
			break;
		case COLUMN_KIND_FIXED:
		case COLUMN_KIND_VARLENA:
		case COLUMN_KIND_CSTRING:
			EncodeRefPage(kind, typlen, values, isnull, n, nn, out, result);
			break;
	}
}

/* ---------------------------------------------------------------------
 * Decoding
 * ---------------------------------------------------------------------
 */

static uint64 *
ScratchU64(PageDecodeScratch *scratch, int n)
{
	if (scratch->u64_cap < n)
	{
		if (scratch->u64)
			pfree(scratch->u64);
		scratch->u64 = NULL;
		scratch->u64_cap = 0;
		scratch->u64 = MemoryContextAllocHuge(scratch->cxt, sizeof(uint64) * n);
		scratch->u64_cap = n;
	}
	return scratch->u64;
}

static Datum *
ScratchDict(PageDecodeScratch *scratch, int n)
{
	if (scratch->dict_cap < n)
	{
		if (scratch->dict)
			pfree(scratch->dict);
		scratch->dict = NULL;
		scratch->dict_cap = 0;
		scratch->dict = MemoryContextAllocHuge(scratch->cxt, sizeof(Datum) * n);
		scratch->dict_cap = n;
	}
	return scratch->dict;
}

/*
 * Fixed-width values stored as typlen bytes each into by-value Datums.
 */
static const char *
DecodeByvalPlain(DecodeCursor *in, int16 typlen, int nn, Datum *values)
{
	const char *src;

	if (!DecodeSkip(in, (size_t) nn * typlen, &src))
		return "Plain values exceed the page";
	switch (typlen)
	{
		case 1:
			for (int i = 0; i < nn; i++)
				values[i] = CharGetDatum(src[i]);
			break;
		case 2:
			for (int i = 0; i < nn; i++)
			{
				int16		v;

				memcpy(&v, src + i * sizeof(v), sizeof(v));
				values[i] = Int16GetDatum(v);
			}
			break;
		case 4:
			for (int i = 0; i < nn; i++)
			{
				int32		v;

				memcpy(&v, src + i * sizeof(v), sizeof(v));
				values[i] = Int32GetDatum(v);
			}
			break;
		case 8:
			memcpy(values, src, sizeof(Datum) * nn);
			break;
		default:
			return "Invalid by-value type length";
	}
	return NULL;
}

/*
 * Turn the int64 bits decoded in place in values[] into Datums of a
 * by-value type of width typlen; values out of the type's range are
 * corruption.
 */
static const char *
IntsToDatums(int16 typlen, int nn, Datum *values)
{
	uint64	   *u = (uint64 *) values;
	bool		bad = false;

	switch (typlen)
	{
		case 1:
			for (int i = 0; i < nn; i++)
			{
				int64		v = (int64) u[i];

				bad |= (v < PG_INT8_MIN || v > PG_INT8_MAX);
				values[i] = CharGetDatum((char) v);
			}
			break;
		case 2:
			for (int i = 0; i < nn; i++)
			{
				int64		v = (int64) u[i];

				bad |= (v < PG_INT16_MIN || v > PG_INT16_MAX);
				values[i] = Int16GetDatum((int16) v);
			}
			break;
		case 4:
			for (int i = 0; i < nn; i++)
			{
				int64		v = (int64) u[i];

				bad |= (v < PG_INT32_MIN || v > PG_INT32_MAX);
				values[i] = Int32GetDatum((int32) v);
			}
			break;
		case 8:
			break;
		default:
			return "Invalid by-value type length";
	}
	return bad ? "Integer value out of range of the column type" : NULL;
}

static const char *
DecodeDecimal(DecodeCursor *in, int16 typlen, int nn, Datum *values)
{
	uint64	   *u = (uint64 *) values;
	uint8		e;
	double		scale;

	if (!DecodeU8(in, &e) || e > ENCODING_MAX_DECIMAL_EXPONENT)
		return "Invalid decimal exponent";
	if (!DecodeIntStream(in, nn, u))
		return "Invalid decimal values";
	scale = encoding_pow10[e];
	if (typlen == 8)
	{
		for (int i = 0; i < nn; i++)
			values[i] = Float8GetDatum((double) (int64) u[i] / scale);
	}
	else if (typlen == 4)
	{
		for (int i = 0; i < nn; i++)
			values[i] = Float4GetDatum((float4) ((double) (int64) u[i] / scale));
	}
	else
		return "Decimal encoding for a column that is not a float";
	return NULL;
}

/*
 * count by-reference values in PLAIN layout into Datums that point into one
 * new buffer in CurrentMemoryContext.
 */
static const char *
DecodeRefPlain(DecodeCursor *in, int16 typlen, char typalign, int count,
			   Datum *out, PageDecodeScratch *scratch)
{
	char	   *buf;
	size_t		size = 0;
	const char *src;

	if (typlen > 0)
	{
		size_t		stride = att_align_nominal((size_t) typlen, typalign);

		if (!DecodeSkip(in, (size_t) count * typlen, &src))
			return "Values exceed the page";
		if (count == 0)
			return NULL;
		buf = MemoryContextAllocHuge(CurrentMemoryContext, stride * count);
		for (int i = 0; i < count; i++)
		{
			memcpy(buf + i * stride, src + (size_t) i * typlen, typlen);
			out[i] = PointerGetDatum(buf + i * stride);
		}
		return NULL;
	}
	else
	{
		uint64	   *lens = ScratchU64(scratch, count);
		uint64		total = 0;
		size_t		hdr = typlen == -1 ? VARHDRSZ : 1;
		char		align = typalign;

		/* a varlena with a 4-byte header is at least int-aligned */
		if (typlen == -1 && align != TYPALIGN_DOUBLE)
			align = TYPALIGN_INT;

		if (!DecodeIntStream(in, count, lens))
			return "Invalid value lengths";
		for (int i = 0; i < count; i++)
		{
			if (lens[i] > MaxAllocSize - VARHDRSZ)
				return "Invalid value length";
			total += lens[i];
			size = att_align_nominal(size, align) + hdr + lens[i];
		}
		if (!DecodeSkip(in, total, &src))
			return "Value lengths exceed the page";
		if (count == 0)
			return NULL;

		buf = MemoryContextAllocHuge(CurrentMemoryContext, Max(size, 1));
		size = 0;
		for (int i = 0; i < count; i++)
		{
			char	   *dst;

			size = att_align_nominal(size, align);
			dst = buf + size;
			if (typlen == -1)
			{
				SET_VARSIZE(dst, lens[i] + VARHDRSZ);
				memcpy(VARDATA(dst), src, lens[i]);
			}
			else
			{
				if (memchr(src, '\0', lens[i]) != NULL)
					return "Zero byte inside a cstring value";
				memcpy(dst, src, lens[i]);
				dst[lens[i]] = '\0';
			}
			out[i] = PointerGetDatum(dst);
			src += lens[i];
			size += hdr + lens[i];
		}
		return NULL;
	}
}

static const char *
DecodeDict(DecodeCursor *in, int16 typlen, char typalign, int nn,
		   Datum *values, PageDecodeScratch *scratch)
{
	uint32		ndict;
	Datum	   *dict;
	uint64	   *idx = (uint64 *) values;
	const char *err;
	bool		bad = false;

	if (!DecodeU32(in, &ndict) || ndict < 1 || ndict > nn)
		return "Invalid dictionary size";
	dict = ScratchDict(scratch, ndict);
	err = DecodeRefPlain(in, typlen, typalign, ndict, dict, scratch);
	if (err)
		return err;
	if (!DecodeIntStream(in, nn, idx))
		return "Invalid dictionary indexes";
	for (int i = 0; i < nn; i++)
	{
		uint64		j = idx[i];

		bad |= (j >= ndict);
		values[i] = dict[j < ndict ? j : 0];
	}
	return bad ? "Dictionary index out of range" : NULL;
}

/*
 * Decode a page body of n rows into values[0..n) and isnull[0..n).  The
 * column layout must already be validated (EncodingTypeIsValid); data must
 * have ENCODING_READ_PADDING readable bytes past len.  Returns NULL, or a
 * sentence fragment saying what is wrong with the bytes.  values[] may hold
 * garbage after a failure.
 */
const char *
PageDecode(int16 typlen, bool typbyval, char typalign, uint8 encoding,
		   uint8 flags, const char *data, size_t len, int n,
		   Datum *values, bool *isnull, PageDecodeScratch *scratch)
{
	DecodeCursor in;
	const unsigned char *nulls = NULL;
	int			nn = n;
	const char *err;

	in.p = data;
	in.end = data + len;

	if (flags & ~PAGE_FLAG_NULLS)
		return "Unknown page flags";
	if (flags & PAGE_FLAG_NULLS)
	{
		size_t		nbytes = (n + 7) / 8;
		const char *bits;

		if (!DecodeSkip(&in, nbytes, &bits))
			return "Null bitmap exceeds the page";
		nulls = (const unsigned char *) bits;
		if ((n & 7) != 0 && (nulls[nbytes - 1] >> (n & 7)) != 0)
			return "Null bitmap has bits past the last row";
		nn = n - (int) pg_popcount(bits, (int) nbytes);
	}

	switch (encoding)
	{
		case PAGE_ENCODING_PLAIN:
			if (typbyval)
				err = DecodeByvalPlain(&in, typlen, nn, values);
			else
				err = DecodeRefPlain(&in, typlen, typalign, nn, values, scratch);
			break;
		case PAGE_ENCODING_INT:
			if (!typbyval)
				err = "Integer encoding for a by-reference column";
			else if (!DecodeIntStream(&in, nn, (uint64 *) values))
				err = "Invalid integer values";
			else
				err = IntsToDatums(typlen, nn, values);
			break;
		case PAGE_ENCODING_DECIMAL:
			if (!typbyval)
				err = "Decimal encoding for a by-reference column";
			else
				err = DecodeDecimal(&in, typlen, nn, values);
			break;
		case PAGE_ENCODING_DICT:
			if (typbyval)
				err = "Dictionary encoding for a by-value column";
			else
				err = DecodeDict(&in, typlen, typalign, nn, values, scratch);
			break;
		default:
			err = "Unknown page encoding";
			break;
	}
	if (err)
		return err;
	if (in.p != in.end)
		return "Trailing bytes after the page's values";

	if (nulls)
	{
		int			k = nn;

		for (int i = n - 1; i >= 0; i--)
		{
			if (nulls[i >> 3] & (1 << (i & 7)))
			{
				values[i] = (Datum) 0;
				isnull[i] = true;
			}
			else
			{
				values[i] = values[--k];
				isnull[i] = false;
			}
		}
		Assert(k == 0);
	}
	else
		memset(isnull, 0, sizeof(bool) * n);
	return NULL;
}
