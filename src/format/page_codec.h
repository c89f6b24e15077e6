/*-------------------------------------------------------------------------
 * page_codec.h
 *	  One page of one column: Datums and nulls to encoded bytes and back.
 *
 * An encoded page body (before compression) is
 *
 *	 [null bitmap, ceil(n / 8) bytes, bit set = NULL]	if PAGE_FLAG_NULLS
 *	 values of the non-null rows, in the page's encoding:
 *
 *	 PLAIN	 fixed width: typlen bytes per value (by-value types as
 *			 store_att_byval stores them); varlena and cstring: int stream
 *			 of payload lengths, then the payloads (no varlena header, no
 *			 cstring terminator)
 *	 INT	 by-value integer-like types: one int stream of the values
 *	 DECIMAL float4/float8: u8 exponent e, int stream of round(v * 10^e)
 *	 DICT	 by-reference types: u32 number of distinct values, those
 *			 values in PLAIN layout, int stream of indexes into them
 *
 * The writer picks the smallest encoding it can find cheaply; the reader
 * accepts any encoding that makes sense for the column's layout.
 *
 * IDENTIFICATION
 *	  src/format/page_codec.h
 *-------------------------------------------------------------------------
 */
#ifndef COMPACT_FORMAT_PAGE_CODEC_H
#define COMPACT_FORMAT_PAGE_CODEC_H

#include "format/encoding.h"

#define PAGE_ENCODING_PLAIN		1
#define PAGE_ENCODING_INT		2
#define PAGE_ENCODING_DECIMAL	3
#define PAGE_ENCODING_DICT		4

#define PAGE_FLAG_NULLS			0x01

/* dictionary limits: at most a third of the values, at most this many */
#define PAGE_DICT_MAX_ENTRIES	65536

/* How the writer treats a column's values. */
typedef enum ColumnKind
{
	COLUMN_KIND_INT,			/* by-value, stored as a signed integer */
	COLUMN_KIND_FLOAT4,
	COLUMN_KIND_FLOAT8,
	COLUMN_KIND_FIXED,			/* fixed-width by reference */
	COLUMN_KIND_VARLENA,
	COLUMN_KIND_CSTRING
} ColumnKind;

/* What PageEncode learned about the page, for statistics. */
typedef struct PageEncodeResult
{
	uint8		encoding;
	uint8		flags;
	int			nnonnull;
	/* dictionary pages: the distinct non-null values (else NULL) */
	Datum	   *distinct;
	int			ndistinct;
	/* COLUMN_KIND_INT pages with values: their range as signed integers */
	bool		has_range;
	int64		min;
	int64		max;
	/* float pages with values: their range in float order (NaN highest) */
	bool		has_frange;
	double		fmin;
	double		fmax;
} PageEncodeResult;

/* Reader-owned scratch space reused from page to page. */
typedef struct PageDecodeScratch
{
	MemoryContext cxt;
	uint64	   *u64;
	int			u64_cap;
	Datum	   *dict;
	int			dict_cap;
} PageDecodeScratch;

/*
 * A by-value Datum of width typlen as a signed integer, and back the way
 * fetch_att builds it.
 */
static inline int64
PageDatumToInt64(Datum d, int16 typlen)
{
	switch (typlen)
	{
		case 1:
			return (int8) DatumGetChar(d);
		case 2:
			return DatumGetInt16(d);
		case 4:
			return DatumGetInt32(d);
		default:
			return (int64) d;
	}
}

static inline Datum
PageInt64ToDatum(int64 v, int16 typlen)
{
	switch (typlen)
	{
		case 1:
			return CharGetDatum((char) v);
		case 2:
			return Int16GetDatum((int16) v);
		case 4:
			return Int32GetDatum((int32) v);
		default:
			return (Datum) v;
	}
}

/* page_codec.c */
extern ColumnKind PageColumnKind(Oid basetypid, int16 typlen, bool typbyval);
extern void PageEncode(ColumnKind kind, int16 typlen, const Datum *values,
					   const bool *isnull, int n, EncodeBuffer *out,
					   PageEncodeResult *result);
extern const char *PageDecode(int16 typlen, bool typbyval, char typalign,
							  uint8 encoding, uint8 flags,
							  const char *data, size_t len, int n,
							  Datum *values, bool *isnull,
							  PageDecodeScratch *scratch);

#endif							/* COMPACT_FORMAT_PAGE_CODEC_H */
