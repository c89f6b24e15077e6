/*-------------------------------------------------------------------------
 * fragment_reader.c
 *	  Read a fragment file: footer, statistics, and columns of row groups.
 *
 * FragmentReaderOpen reads the header, the trailer and the footer, checks
 * magic numbers, version and the footer's CRC32C, and parses the footer
 * into arrays, checking that every count, offset and length is consistent
 * with the file.  Statistics are decoded then, into the reader's context.
 * FragmentReaderReadColumn reads the chunk of one (row group, column)
 * through a read-ahead window, checks each page's CRC32C, decompresses it
 * and decodes it (page_codec.c) into the caller's arrays.
 *
 * Any byte string is safe to open: a damaged or forged file raises
 * ERRCODE_DATA_CORRUPTED naming the file and the offset of the damage, and
 * no read goes outside a buffer.  The values of a page are trusted only
 * after its checksum matched, and even then every length, bit width and
 * dictionary index is checked while decoding.
 *
 * Memory: the reader owns a context (child of the caller's at Open) that
 * holds the parsed footer, the read window, the decompression buffer and
 * decoding scratch space.  Decoded by-reference values go to the caller's
 * CurrentMemoryContext at the time of FragmentReaderReadColumn.  A reset
 * callback on the reader's context closes the file and frees the zstd
 * context, so an ERROR leaks neither once the caller's context goes away.
 *
 * IDENTIFICATION
 *	  src/format/fragment_reader.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <zstd.h>

#include "access/htup_details.h"
#include "lib/stringinfo.h"
#include "storage/fd.h"
#include "utils/memutils.h"
#include "utils/wait_event.h"

#include "format/format_internal.h"
#include "format/fragment.h"
#include "format/page_codec.h"

/* read this much of a chunk at a time (more if one page is larger) */
#define READ_AHEAD_BYTES		(4 * 1024 * 1024)

/* FileRead takes an int */
#define MAX_IO_BYTES			(1024 * 1024 * 1024)

typedef struct ReaderChunk
{
	uint64		offset;
	uint64		length;
	uint32		npages;
	int64		null_count;
	bool		has_minmax;
	Datum		min;
	Datum		max;
} ReaderChunk;

struct FragmentReader
{
	MemoryContext cxt;
	char	   *path;
	File		file;
	uint64		size;
	int			ncolumns;
	FragmentColumn *columns;
	int			nrowgroups;
	int32	   *rg_rows;
	int64		nrows;
	ReaderChunk *chunks;		/* [rowgroup * ncolumns + column] */
	ZSTD_DCtx  *dctx;
	/* read window: bytes [win_off, win_off + win_len) of the file */
	char	   *win;
	size_t		win_cap;
	uint64		win_off;
	size_t		win_len;
	/* decompressed page */
	char	   *raw;
	size_t		raw_cap;
	PageDecodeScratch scratch;
	MemoryContextCallback cleanup;
};

static void ReaderCleanup(void *arg);
static void ReportCorruption(FragmentReader *reader, uint64 offset,
							 const char *fmt,...) pg_attribute_printf(3, 4)
			pg_attribute_noreturn();
static void ReadFully(FragmentReader *reader, char *buf, size_t len,
					  uint64 offset);
static void ParseFooter(FragmentReader *reader, const char *footer,
						size_t len, uint64 footer_start);

/*
 * Raise the DATA_CORRUPTED error of this file; fmt says what is wrong and
 * becomes the start of the detail, "at offset N." its end.
 */
static void
ReportCorruption(FragmentReader *reader, uint64 offset, const char *fmt,...)
{
	StringInfoData what;

	initStringInfo(&what);
	for (;;)
	{
		va_list		args;
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&what, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&what, needed);
	}
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("fragment file \"%s\" is corrupted", reader->path),
			 errdetail("%s at offset %llu.", what.data,
					   (unsigned long long) offset)));
	pg_unreachable();
}

static void
ReaderCleanup(void *arg)
{
	FragmentReader *reader = (FragmentReader *) arg;

	if (reader->dctx != NULL)
	{
		ZSTD_freeDCtx(reader->dctx);
		reader->dctx = NULL;
	}
	if (reader->file >= 0)
	{
		FileClose(reader->file);
		reader->file = -1;
	}
}

/*
 * Read exactly len bytes at offset.  The file was measured at open, so
 * hitting its end means it was truncated under us.
 */
static void
ReadFully(FragmentReader *reader, char *buf, size_t len, uint64 offset)
{
	while (len > 0)
	{
		int			amount = (int) Min(len, (size_t) MAX_IO_BYTES);
		int			nread;

		nread = FileRead(reader->file, buf, amount, (off_t) offset,
						 WAIT_EVENT_DATA_FILE_READ);
		if (nread < 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not read file \"%s\": %m", reader->path)));
		if (nread == 0)
			ReportCorruption(reader, offset,
							 "Unexpected end of file reading %zu bytes", len);
		buf += nread;
		len -= nread;
		offset += nread;
	}
}

/*
 * A pointer to bytes [offset, offset + len) of the file, all below limit,
 * followed by ENCODING_READ_PADDING readable bytes.  Valid until the next
 * call.  Reads ahead up to limit, so consecutive pages of a chunk usually
 * cost one read.
 */
static const char *
FetchBytes(FragmentReader *reader, uint64 offset, size_t len, uint64 limit)
{
	size_t		want;

	Assert(offset + len <= limit);
	if (offset >= reader->win_off &&
		offset + len <= reader->win_off + reader->win_len)
		return reader->win + (offset - reader->win_off);

	want = Max(len, (size_t) Min(limit - offset, (uint64) READ_AHEAD_BYTES));
	reader->win_len = 0;
	if (reader->win_cap < want + ENCODING_READ_PADDING)
	{
		if (reader->win != NULL)
			pfree(reader->win);
		reader->win = NULL;
		reader->win_cap = 0;
		reader->win = MemoryContextAllocHuge(reader->cxt,
											 want + ENCODING_READ_PADDING);
		reader->win_cap = want + ENCODING_READ_PADDING;
	}
	ReadFully(reader, reader->win, want, offset);
	memset(reader->win + want, 0, ENCODING_READ_PADDING);
	reader->win_off = offset;
	reader->win_len = want;
	return reader->win;
}

/*
 * Open the fragment file at path and validate its header, trailer and
 * footer.  Raises an ERROR if the file cannot be opened or is damaged; the
 * reader lives in a new child of CurrentMemoryContext.
 */
FragmentReader *
FragmentReaderOpen(const char *path)
{
	MemoryContext cxt;
	MemoryContext callercxt = CurrentMemoryContext;
	FragmentReader *reader;

	cxt = AllocSetContextCreate(callercxt, "compact fragment reader",
								ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(cxt);
	reader = palloc0(sizeof(FragmentReader));
	reader->cxt = cxt;
	reader->path = pstrdup(path);
	reader->file = -1;
	reader->scratch.cxt = cxt;
	reader->cleanup.func = ReaderCleanup;
	reader->cleanup.arg = reader;
	MemoryContextRegisterResetCallback(cxt, &reader->cleanup);

	/* on error, release the file now rather than with the caller's context */
	PG_TRY();
	{
		FragmentFileHeader header;
		FragmentTrailer trailer;
		off_t		size;
		uint64		footer_start;
		char	   *footer;
		pg_crc32c	crc;

		reader->file = PathNameOpenFile(reader->path, O_RDONLY | PG_BINARY);
		if (reader->file < 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not open file \"%s\": %m", reader->path)));
		size = FileSize(reader->file);
		if (size < 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not determine size of file \"%s\": %m",
							reader->path)));
		reader->size = (uint64) size;
		if (reader->size < sizeof(header) + sizeof(trailer))
			ReportCorruption(reader, 0,
							 "File of %llu bytes is too short for a fragment",
							 (unsigned long long) reader->size);

		ReadFully(reader, (char *) &header, sizeof(header), 0);
		if (header.magic != COMPACT_FRAGMENT_MAGIC)
			ReportCorruption(reader, 0, "Invalid magic number %08X",
							 header.magic);
		if (header.version != COMPACT_FRAGMENT_VERSION)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("unsupported fragment format version %d",
							(int) header.version),
					 errdetail("File \"%s\" has format version %d; this build of compact reads version %d.",
							   reader->path, (int) header.version,
							   COMPACT_FRAGMENT_VERSION)));
		if (header.flags != 0)
			ReportCorruption(reader, offsetof(FragmentFileHeader, flags),
							 "Unknown file flags %04X", header.flags);

		ReadFully(reader, (char *) &trailer, sizeof(trailer),
				  reader->size - sizeof(trailer));
		if (trailer.magic != COMPACT_FRAGMENT_MAGIC)
			ReportCorruption(reader, reader->size - sizeof(trailer) +
							 offsetof(FragmentTrailer, magic),
							 "Invalid trailer magic number %08X",
							 trailer.magic);
		if (trailer.footer_len < FOOTER_FIXED_BYTES ||
			trailer.footer_len > FRAGMENT_MAX_FOOTER_BYTES ||
			trailer.footer_len > reader->size - sizeof(header) - sizeof(trailer))
			ReportCorruption(reader, reader->size - sizeof(trailer),
							 "Invalid footer length %u", trailer.footer_len);
		footer_start = reader->size - sizeof(trailer) - trailer.footer_len;

		footer = palloc(trailer.footer_len);
		ReadFully(reader, footer, trailer.footer_len, footer_start);
		INIT_CRC32C(crc);
		COMP_CRC32C(crc, footer, trailer.footer_len);
		FIN_CRC32C(crc);
		if (crc != trailer.footer_crc)
			ReportCorruption(reader, footer_start,
							 "Footer checksum mismatch: expected %08X, found %08X",
							 trailer.footer_crc, crc);
		ParseFooter(reader, footer, trailer.footer_len, footer_start);
		pfree(footer);

		reader->dctx = ZSTD_createDCtx();
		if (reader->dctx == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory"),
					 errdetail("Could not create a zstd decompression context.")));
		reader->win_cap = 64 * 1024;
		reader->win = palloc(reader->win_cap);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(callercxt);
		MemoryContextDelete(cxt);
		PG_RE_THROW();
	}
	PG_END_TRY();

	MemoryContextSwitchTo(callercxt);
	return reader;
}

/*
 * Parse and check the footer (whose CRC matched) into reader's arrays, in
 * CurrentMemoryContext (the reader's).
 */
static void
ParseFooter(FragmentReader *reader, const char *footer, size_t len,
			uint64 footer_start)
{
	DecodeCursor in;
	uint16		version;
	uint16		flags;
	uint32		ncolumns;
	uint32		nrowgroups;
	uint64		nrows;
	uint64		total = 0;
	bool	   *seen;

#define FOOTER_AT() (footer_start + (uint64) (in.p - footer))

	in.p = footer;
	in.end = footer + len;
	if (!DecodeU16(&in, &version) || !DecodeU16(&in, &flags) ||
		!DecodeU32(&in, &ncolumns) || !DecodeU32(&in, &nrowgroups) ||
		!DecodeU64(&in, &nrows))
		ReportCorruption(reader, footer_start, "Truncated footer");
	if (version != COMPACT_FRAGMENT_VERSION || flags != 0)
		ReportCorruption(reader, footer_start,
						 "Footer version %u or flags %04X do not match the file",
						 version, flags);
	if (ncolumns > MaxHeapAttributeNumber ||
		(uint64) ncolumns * FOOTER_COLUMN_BYTES > DecodeRemaining(&in))
		ReportCorruption(reader, footer_start, "Invalid column count %u",
						 ncolumns);

	reader->ncolumns = (int) ncolumns;
	reader->columns = palloc0(sizeof(FragmentColumn) * Max(ncolumns, 1));
	seen = palloc0(sizeof(bool) * (PG_INT16_MAX + 1));
	for (uint32 c = 0; c < ncolumns; c++)
	{
		FragmentColumn *col = &reader->columns[c];
		uint64		at = FOOTER_AT();
		uint16		attnum;
		uint32		typid;
		uint16		typlen;
		uint8		byval;
		uint8		align;

		if (!DecodeU16(&in, &attnum) || !DecodeU32(&in, &typid) ||
			!DecodeU16(&in, &typlen) || !DecodeU8(&in, &byval) ||
			!DecodeU8(&in, &align))
			ReportCorruption(reader, at, "Truncated footer");
		col->attnum = (int16) attnum;
		col->typid = typid;
		col->typlen = (int16) typlen;
		col->typbyval = byval != 0;
		col->typalign = (char) align;
		col->ssup = NULL;
		if (col->attnum <= 0 || seen[col->attnum] || byval > 1 ||
			!EncodingTypeIsValid(col->typlen, col->typbyval, col->typalign))
			ReportCorruption(reader, at, "Invalid description of column %u",
							 c);
		seen[col->attnum] = true;
	}
	pfree(seen);

	/* every row group entry takes at least this much */
	if (nrowgroups > DecodeRemaining(&in) /
		(sizeof(uint32) + (uint64) ncolumns * FOOTER_CHUNK_MIN_BYTES))
		ReportCorruption(reader, footer_start, "Invalid row group count %u",
						 nrowgroups);
	reader->nrowgroups = (int) nrowgroups;
	reader->rg_rows = palloc(sizeof(int32) * Max(nrowgroups, 1));
	reader->chunks = MemoryContextAllocHuge(CurrentMemoryContext,
											sizeof(ReaderChunk) *
											Max((uint64) nrowgroups * ncolumns, 1));

	for (uint32 rg = 0; rg < nrowgroups; rg++)
	{
		uint32		rows;

		if (!DecodeU32(&in, &rows) || rows < 1 ||
			rows > COMPACT_FRAGMENT_MAX_ROWGROUP_ROWS)
			ReportCorruption(reader, FOOTER_AT(),
							 "Invalid row count of row group %u", rg);
		reader->rg_rows[rg] = (int32) rows;
		total += rows;

		for (uint32 c = 0; c < ncolumns; c++)
		{
			ReaderChunk *ch = &reader->chunks[(uint64) rg * ncolumns + c];
			const FragmentColumn *col = &reader->columns[c];
			uint64		at = FOOTER_AT();
			uint64		null_count;
			uint8		sflags;

			if (!DecodeU64(&in, &ch->offset) || !DecodeU64(&in, &ch->length) ||
				!DecodeU32(&in, &ch->npages) || !DecodeU64(&in, &null_count) ||
				!DecodeU8(&in, &sflags))
				ReportCorruption(reader, at, "Truncated footer");
			if (ch->offset < sizeof(FragmentFileHeader) ||
				ch->offset > footer_start ||
				ch->length > footer_start - ch->offset ||
				ch->npages < 1 || ch->npages > rows ||
				ch->length < (uint64) ch->npages * sizeof(FragmentPageHeader))
				ReportCorruption(reader, at,
								 "Invalid location of row group %u column %u",
								 rg, c);
			if (null_count > rows || (sflags & ~FOOTER_STATS_MINMAX) != 0 ||
				((sflags & FOOTER_STATS_MINMAX) && null_count == rows))
				ReportCorruption(reader, at,
								 "Invalid statistics of row group %u column %u",
								 rg, c);
			ch->null_count = (int64) null_count;
			ch->has_minmax = (sflags & FOOTER_STATS_MINMAX) != 0;
			if (ch->has_minmax)
			{
				uint32		vlen;
				const char *bytes;

				if (!DecodeU32(&in, &vlen) || !DecodeSkip(&in, vlen, &bytes) ||
					!EncodingValueRead(bytes, vlen, col->typlen,
									   col->typbyval, &ch->min) ||
					!DecodeU32(&in, &vlen) || !DecodeSkip(&in, vlen, &bytes) ||
					!EncodingValueRead(bytes, vlen, col->typlen,
									   col->typbyval, &ch->max))
					ReportCorruption(reader, at,
									 "Invalid min/max of row group %u column %u",
									 rg, c);
			}
		}
	}
	if (total != nrows)
		ReportCorruption(reader, footer_start,
						 "Row groups hold %llu rows, footer says %llu",
						 (unsigned long long) total,
						 (unsigned long long) nrows);
	if (in.p != in.end)
		ReportCorruption(reader, FOOTER_AT(), "Trailing bytes in footer");
	reader->nrows = (int64) nrows;
#undef FOOTER_AT
}

/*
 * Close the file and free everything the reader allocated (not the values
 * it decoded into the caller's memory).
 */
void
FragmentReaderClose(FragmentReader *reader)
{
	MemoryContextDelete(reader->cxt);
}

int
FragmentReaderNumColumns(FragmentReader *reader)
{
	return reader->ncolumns;
}

/* The description of a column (ssup is NULL). */
const FragmentColumn *
FragmentReaderColumn(FragmentReader *reader, int column)
{
	if (column < 0 || column >= reader->ncolumns)
		elog(ERROR, "fragment column %d out of range", column);
	return &reader->columns[column];
}

/* The index of the column with attribute number attnum, or -1. */
int
FragmentReaderFindColumn(FragmentReader *reader, int16 attnum)
{
	for (int c = 0; c < reader->ncolumns; c++)
	{
		if (reader->columns[c].attnum == attnum)
			return c;
	}
	return -1;
}

int
FragmentReaderNumRowGroups(FragmentReader *reader)
{
	return reader->nrowgroups;
}

int
FragmentReaderRowGroupRows(FragmentReader *reader, int rowgroup)
{
	if (rowgroup < 0 || rowgroup >= reader->nrowgroups)
		elog(ERROR, "fragment row group %d out of range", rowgroup);
	return reader->rg_rows[rowgroup];
}

int64
FragmentReaderNumRows(FragmentReader *reader)
{
	return reader->nrows;
}

/*
 * Statistics of one column in one row group; by-reference min/max point
 * into the reader's memory and live until FragmentReaderClose.
 */
void
FragmentReaderRowGroupStats(FragmentReader *reader, int rowgroup, int column,
							ColumnStats *stats)
{
	const ReaderChunk *ch;

	if (rowgroup < 0 || rowgroup >= reader->nrowgroups ||
		column < 0 || column >= reader->ncolumns)
		elog(ERROR, "fragment row group %d column %d out of range",
			 rowgroup, column);
	ch = &reader->chunks[(uint64) rowgroup * reader->ncolumns + column];
	stats->row_count = reader->rg_rows[rowgroup];
	stats->null_count = ch->null_count;
	stats->has_minmax = ch->has_minmax;
	stats->min = ch->has_minmax ? ch->min : (Datum) 0;
	stats->max = ch->has_minmax ? ch->max : (Datum) 0;
}

/*
 * The stored bytes of one column chunk (its pages, as written), for copying
 * into another fragment without decoding: points into the reader's read
 * window, valid until the next read.  Every page's header and checksum are
 * verified on the way, so a damaged chunk is an ERROR here, not a damaged
 * copy.
 */
const char *
FragmentReaderRawChunk(FragmentReader *reader, int rowgroup, int column,
					   uint64 *length, uint32 *npages)
{
	const ReaderChunk *ch;
	uint64		pos;
	uint64		end;
	uint32		pages = 0;
	const char *data;

	if (rowgroup < 0 || rowgroup >= reader->nrowgroups ||
		column < 0 || column >= reader->ncolumns)
		elog(ERROR, "fragment row group %d column %d out of range",
			 rowgroup, column);
	ch = &reader->chunks[(uint64) rowgroup * reader->ncolumns + column];
	if (ch->length > MAX_IO_BYTES)
		ReportCorruption(reader, ch->offset, "Column chunk of " UINT64_FORMAT " bytes is too large",
						 ch->length);
	end = ch->offset + ch->length;
	if (end > reader->size)
		ReportCorruption(reader, ch->offset, "Column chunk extends past the end of the file");
	/* read ahead into the following chunks: a copy takes them all */
	data = FetchBytes(reader, ch->offset, ch->length, reader->size);
	for (pos = ch->offset; pos < end;)
	{
		FragmentPageHeader hdr;
		const char *stored;

		if (end - pos < sizeof(hdr))
			ReportCorruption(reader, pos, "Truncated page header");
		memcpy(&hdr, data + (pos - ch->offset), sizeof(hdr));
		if (hdr.stored_size > end - pos - sizeof(hdr))
			ReportCorruption(reader, pos, "Page of %u bytes exceeds its column chunk",
							 hdr.stored_size);
		stored = data + (pos - ch->offset) + sizeof(hdr);
		if (FragmentPageChecksum(&hdr, stored, hdr.stored_size) != hdr.crc)
			ReportCorruption(reader, pos, "Page checksum mismatch");
		pos += sizeof(hdr) + hdr.stored_size;
		pages++;
	}
	if (pages != ch->npages)
		ReportCorruption(reader, ch->offset, "Column chunk holds %u pages instead of %u",
						 pages, ch->npages);
	*length = ch->length;
	*npages = ch->npages;
	return data;
}

/* Where in the file FragmentReaderRawChunk's bytes are (it checked them). */
uint64
FragmentReaderChunkOffset(FragmentReader *reader, int rowgroup, int column)
{
	Assert(rowgroup >= 0 && rowgroup < reader->nrowgroups &&
		   column >= 0 && column < reader->ncolumns);
	return reader->chunks[(uint64) rowgroup * reader->ncolumns + column].offset;
}

/* The file's descriptor, for copying byte ranges between files. */
int
FragmentReaderRawFile(FragmentReader *reader)
{
	return FileGetRawDesc(reader->file);
}

/* The path the reader was opened with. */
const char *
FragmentReaderPath(FragmentReader *reader)
{
	return reader->path;
}

/*
 * Decompress a zstd page whose checksum matched into the reader's raw
 * buffer.
 */
static const char *
DecompressPage(FragmentReader *reader, uint64 pos, const char *src,
			   const FragmentPageHeader *hdr)
{
	unsigned long long declared;
	size_t		n;

	declared = ZSTD_getFrameContentSize(src, hdr->stored_size);
	if (declared != hdr->raw_size)
		ReportCorruption(reader, pos,
						 "Compressed page does not declare its size of %u bytes",
						 hdr->raw_size);
	if (reader->raw_cap < (size_t) hdr->raw_size + ENCODING_READ_PADDING)
	{
		size_t		cap = Max((size_t) hdr->raw_size + ENCODING_READ_PADDING,
							  (size_t) 64 * 1024);

		if (reader->raw != NULL)
			pfree(reader->raw);
		reader->raw = NULL;
		reader->raw_cap = 0;
		reader->raw = MemoryContextAllocHuge(reader->cxt, cap);
		reader->raw_cap = cap;
	}
	n = ZSTD_decompressDCtx(reader->dctx, reader->raw, hdr->raw_size,
							src, hdr->stored_size);
	if (ZSTD_isError(n))
		ReportCorruption(reader, pos, "Page does not decompress (%s)",
						 ZSTD_getErrorName(n));
	if (n != hdr->raw_size)
		ReportCorruption(reader, pos,
						 "Page decompresses to %zu bytes instead of %u",
						 n, hdr->raw_size);
	memset(reader->raw + n, 0, ENCODING_READ_PADDING);
	return reader->raw;
}

/*
 * Decode column `column` of row group `rowgroup` into values[] and
 * isnull[], which must hold FragmentReaderRowGroupRows entries.
 * By-reference values are allocated in CurrentMemoryContext (a few buffers
 * per chunk, not one per value); reset it to free them.  Raises
 * DATA_CORRUPTED if the chunk is damaged, after which the arrays hold
 * garbage.
 */
void
FragmentReaderReadColumn(FragmentReader *reader, int rowgroup, int column,
						 Datum *values, bool *isnull)
{
	const ReaderChunk *ch;
	const FragmentColumn *col;
	uint64		pos;
	uint64		end;
	int			nrows;
	int			row = 0;
	uint32		npages = 0;
	int64		nulls = 0;

	if (rowgroup < 0 || rowgroup >= reader->nrowgroups ||
		column < 0 || column >= reader->ncolumns)
		elog(ERROR, "fragment row group %d column %d out of range",
			 rowgroup, column);
	ch = &reader->chunks[(uint64) rowgroup * reader->ncolumns + column];
	col = &reader->columns[column];
	nrows = reader->rg_rows[rowgroup];
	pos = ch->offset;
	end = ch->offset + ch->length;

	while (pos < end)
	{
		FragmentPageHeader hdr;
		const char *stored;
		const char *body;
		const char *err;
		pg_crc32c	crc;

		if (end - pos < sizeof(hdr))
			ReportCorruption(reader, pos, "Truncated page header");
		memcpy(&hdr, FetchBytes(reader, pos, sizeof(hdr), end), sizeof(hdr));
		if (hdr.nvalues < 1 || hdr.nvalues > (uint32) (nrows - row))
			ReportCorruption(reader, pos,
							 "Page of %u values does not fit a row group of %d rows",
							 hdr.nvalues, nrows);
		if (hdr.stored_size > end - pos - sizeof(hdr))
			ReportCorruption(reader, pos,
							 "Page of %u bytes exceeds its column chunk",
							 hdr.stored_size);
		if (hdr.reserved != 0 || hdr.raw_size > FRAGMENT_MAX_PAGE_BYTES ||
			(hdr.compression != PAGE_COMPRESSION_NONE &&
			 hdr.compression != PAGE_COMPRESSION_ZSTD) ||
			(hdr.compression == PAGE_COMPRESSION_NONE &&
			 hdr.raw_size != hdr.stored_size))
			ReportCorruption(reader, pos, "Invalid page header");

		stored = FetchBytes(reader, pos + sizeof(hdr), hdr.stored_size, end);
		crc = FragmentPageChecksum(&hdr, stored, hdr.stored_size);
		if (crc != hdr.crc)
			ReportCorruption(reader, pos,
							 "Page checksum mismatch: expected %08X, found %08X",
							 hdr.crc, crc);

		if (hdr.compression == PAGE_COMPRESSION_ZSTD)
			body = DecompressPage(reader, pos, stored, &hdr);
		else
			body = stored;

		err = PageDecode(col->typlen, col->typbyval, col->typalign,
						 hdr.encoding, hdr.flags, body, hdr.raw_size,
						 (int) hdr.nvalues, values + row, isnull + row,
						 &reader->scratch);
		if (err != NULL)
			ReportCorruption(reader, pos, "%s in page", err);

		if (hdr.flags & PAGE_FLAG_NULLS)
		{
			for (uint32 i = 0; i < hdr.nvalues; i++)
				nulls += isnull[row + i];
		}
		row += hdr.nvalues;
		pos += sizeof(hdr) + hdr.stored_size;
		npages++;
	}

	if (row != nrows || npages != ch->npages || nulls != ch->null_count)
		ReportCorruption(reader, ch->offset,
						 "Column chunk holds %d rows, %lld nulls in %u pages; footer says %d rows, %lld nulls in %u pages",
						 row, (long long) nulls, npages,
						 nrows, (long long) ch->null_count, ch->npages);
}
