/*-------------------------------------------------------------------------
 * fragment_stats.c
 *	  Fragment-level column statistics as a self-describing bytea.
 *
 * The catalog keeps a fragment's statistics next to its row so that scans
 * can skip a fragment without opening its file.  Layout (byte order of the
 * writing machine):
 *
 *	 u16 version (1), u16 flags (0), u32 ncolumns
 *	 per column: i16 attnum, i16 typlen, u8 typbyval, u8 flags,
 *				 i64 row count, i64 null count,
 *				 with STATS_HAS_MINMAX: u32 length + bytes of min, same of max
 *
 * Values are stored as EncodingValueAppend writes them, so the bytes carry
 * no pointers or alignment.  Deserializing checks every field and raises
 * ERRCODE_DATA_CORRUPTED on anything inconsistent.
 *
 * IDENTIFICATION
 *	  src/format/fragment_stats.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type_d.h"
#include "fmgr.h"
#include "utils/memutils.h"

#include "format/encoding.h"
#include "format/fragment.h"

#define STATS_VERSION		1
#define STATS_HAS_MINMAX	0x01

#define STATS_HEADER_BYTES	(2 + 2 + 4)
#define STATS_COLUMN_BYTES	(2 + 2 + 1 + 1 + 8 + 8)

/*
 * Serialize per-column statistics of a fragment into a new bytea in
 * CurrentMemoryContext.
 */
bytea *
FragmentStatsSerialize(int ncolumns, const FragmentColumn *columns,
					   const ColumnStats *stats)
{
	EncodeBuffer buf;
	bytea	   *result;

	EncodeBufferInit(&buf, VARHDRSZ + STATS_HEADER_BYTES +
					 STATS_COLUMN_BYTES * Max(ncolumns, 0) + 64);
	buf.len = VARHDRSZ;
	EncodeBufferPutU16(&buf, STATS_VERSION);
	EncodeBufferPutU16(&buf, 0);
	EncodeBufferPutU32(&buf, (uint32) ncolumns);
	for (int c = 0; c < ncolumns; c++)
	{
		const FragmentColumn *col = &columns[c];
		const ColumnStats *st = &stats[c];

		EncodeBufferPutU16(&buf, (uint16) col->attnum);
		EncodeBufferPutU16(&buf, (uint16) col->typlen);
		EncodeBufferPutU8(&buf, col->typbyval ? 1 : 0);
		EncodeBufferPutU8(&buf, st->has_minmax ? STATS_HAS_MINMAX : 0);
		EncodeBufferPutU64(&buf, (uint64) st->row_count);
		EncodeBufferPutU64(&buf, (uint64) st->null_count);
		if (st->has_minmax)
		{
			size_t		minlen = EncodingValueSize(st->min, col->typlen,
												   col->typbyval);
			size_t		maxlen = EncodingValueSize(st->max, col->typlen,
												   col->typbyval);

			EncodeBufferPutU32(&buf, (uint32) minlen);
			EncodingValueAppend(&buf, st->min, col->typlen, col->typbyval);
			EncodeBufferPutU32(&buf, (uint32) maxlen);
			EncodingValueAppend(&buf, st->max, col->typlen, col->typbyval);
		}
	}
	if (buf.len > MaxAllocSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("fragment statistics of %zu bytes are too large",
						buf.len)));

	result = (bytea *) buf.data;
	SET_VARSIZE(result, buf.len);
	return result;
}

static void StatsCorrupted(const char *what, size_t offset) pg_attribute_noreturn();

static void
StatsCorrupted(const char *what, size_t offset)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("fragment statistics are corrupted"),
			 errdetail("%s at offset %zu.", what, offset)));
	pg_unreachable();
}

/*
 * Parse statistics written by FragmentStatsSerialize; data may be toasted
 * or have a short header.  Returns the number of columns and sets
 * *attnums and *stats to arrays palloc'd in CurrentMemoryContext, with
 * by-reference min/max palloc'd there too.
 */
int
FragmentStatsDeserialize(bytea *data, int16 **attnums, ColumnStats **stats)
{
	bytea	   *detoasted = (bytea *) PG_DETOAST_DATUM_PACKED(PointerGetDatum(data));
	const char *start = VARDATA_ANY(detoasted);
	DecodeCursor in;
	uint16		version;
	uint16		flags;
	uint32		ncolumns;
	int16	   *atts;
	ColumnStats *st;

#define STATS_AT() ((size_t) (in.p - start))

	in.p = start;
	in.end = start + VARSIZE_ANY_EXHDR(detoasted);
	if (!DecodeU16(&in, &version) || !DecodeU16(&in, &flags) ||
		!DecodeU32(&in, &ncolumns))
		StatsCorrupted("Truncated header", 0);
	if (version != STATS_VERSION || flags != 0)
		StatsCorrupted("Unknown version or flags", 0);
	if (ncolumns > MaxHeapAttributeNumber ||
		(uint64) ncolumns * STATS_COLUMN_BYTES > DecodeRemaining(&in))
		StatsCorrupted("Invalid column count", 4);

	atts = palloc0(sizeof(int16) * Max(ncolumns, 1));
	st = palloc0(sizeof(ColumnStats) * Max(ncolumns, 1));
	for (uint32 c = 0; c < ncolumns; c++)
	{
		size_t		at = STATS_AT();
		uint16		attnum;
		uint16		ulen;
		int16		typlen;
		uint8		byval;
		uint8		cflags;
		uint64		rows;
		uint64		nulls;

		if (!DecodeU16(&in, &attnum) || !DecodeU16(&in, &ulen) ||
			!DecodeU8(&in, &byval) || !DecodeU8(&in, &cflags) ||
			!DecodeU64(&in, &rows) || !DecodeU64(&in, &nulls))
			StatsCorrupted("Truncated column entry", at);
		typlen = (int16) ulen;
		if (byval > 1 || (cflags & ~STATS_HAS_MINMAX) != 0 ||
			!EncodingTypeIsValid(typlen, byval != 0, TYPALIGN_CHAR) ||
			rows > PG_INT64_MAX || nulls > rows)
			StatsCorrupted("Invalid column entry", at);
		atts[c] = (int16) attnum;
		st[c].row_count = (int64) rows;
		st[c].null_count = (int64) nulls;
		st[c].has_minmax = (cflags & STATS_HAS_MINMAX) != 0;
		if (st[c].has_minmax)
		{
			uint32		vlen;
			const char *bytes;

			if (!DecodeU32(&in, &vlen) || !DecodeSkip(&in, vlen, &bytes) ||
				!EncodingValueRead(bytes, vlen, typlen, byval != 0, &st[c].min))
				StatsCorrupted("Invalid minimum value", at);
			if (!DecodeU32(&in, &vlen) || !DecodeSkip(&in, vlen, &bytes) ||
				!EncodingValueRead(bytes, vlen, typlen, byval != 0, &st[c].max))
				StatsCorrupted("Invalid maximum value", at);
		}
	}
	if (in.p != in.end)
		StatsCorrupted("Trailing bytes", STATS_AT());
#undef STATS_AT

	if ((Pointer) detoasted != (Pointer) data)
		pfree(detoasted);
	*attnums = atts;
	*stats = st;
	return (int) ncolumns;
}
