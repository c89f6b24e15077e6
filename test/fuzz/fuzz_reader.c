/*-------------------------------------------------------------------------
 * fuzz_reader.c
 *	  libFuzzer target: any byte string as a fragment file.
 *
 * The input is the whole file.  src/format/fragment_reader.c opens it by
 * path through fd.c's PathNameOpenFile/FileSize/FileRead/FileClose, which
 * are rebuilt here over the input bytes (FileRead returns at most
 * FUZZ_READ_CHUNK bytes a call, as pread may, to exercise ReadFully's
 * loop).  Two passes per input, each like one query that ends at its
 * first ERROR, whose memory is then freed as at transaction abort:
 *
 *	 1. open; every column's description and FragmentReaderFindColumn;
 *		the row counts; per row group and column the statistics and
 *		FragmentReaderReadColumn;
 *	 2. open again; FragmentReaderRawChunk of every row group and column
 *		(the copy path of compaction).
 *
 * Every by-reference value returned (min/max, decoded values) is read
 * whole and its alignment checked against the column's typalign, so
 * AddressSanitizer sees any value that points outside its buffer.  After
 * each pass the file must be closed again (by FragmentReaderClose or the
 * reset callback of the reader's context).
 *
 * Checksums: nearly every mutation of a valid file breaks a page or footer
 * CRC32C, and the reader would stop there.  LLVMFuzzerCustomMutator
 * therefore repairs, after libFuzzer's mutation and for 7 mutations in 8,
 * the CRC32C of every page it can find through the footer and of the
 * footer itself; the eighth keeps checksum checking itself fuzzed.  The
 * inputs saved (corpus, crashes) are the repaired bytes.
 *
 * IDENTIFICATION
 *	  test/fuzz/fuzz_reader.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>

#include "access/htup_details.h"
#include "access/tupmacs.h"
#include "storage/fd.h"
#include "utils/memutils.h"

#include "format/format_internal.h"
#include "format/fragment.h"

#include "fuzz_pg.h"

#define FUZZ_PATH		"pg_compact/fuzz/input.frag"
#define FUZZ_FILE		7
#define FUZZ_READ_CHUNK	4096

extern int	LLVMFuzzerTestOneInput(const uint8 *data, size_t size);
extern size_t LLVMFuzzerMutate(uint8 *data, size_t size, size_t max_size);
extern size_t LLVMFuzzerCustomMutator(uint8 *data, size_t size,
									  size_t max_size, unsigned int seed);

static const uint8 *file_data;
static size_t file_size;
static int	file_open = 0;
static volatile uint64 sink;

/* ---------------------------------------------------------------------
 * fd.c over the input
 * ---------------------------------------------------------------------
 */

File
PathNameOpenFile(const char *fileName, int fileFlags)
{
	if (strcmp(fileName, FUZZ_PATH) != 0)
	{
		errno = ENOENT;
		return -1;
	}
	if ((fileFlags & O_ACCMODE) != O_RDONLY)
	{
		errno = EACCES;
		return -1;
	}
	file_open++;
	return FUZZ_FILE;
}

static void
CheckFile(File file, const char *what)
{
	if (file != FUZZ_FILE || file_open <= 0)
	{
		fprintf(stderr, "fuzz: %s of file %d, which is not open\n", what, file);
		abort();
	}
}

off_t
FileSize(File file)
{
	CheckFile(file, "FileSize");
	return (off_t) file_size;
}

int
FileRead(File file, char *buffer, int amount, off_t offset,
		 uint32 wait_event_info)
{
	size_t		n;

	CheckFile(file, "FileRead");
	if (amount < 0 || offset < 0)
	{
		errno = EINVAL;
		return -1;
	}
	if ((uint64) offset >= file_size)
		return 0;
	n = Min((size_t) amount, file_size - (size_t) offset);
	n = Min(n, (size_t) FUZZ_READ_CHUNK);
	memcpy(buffer, file_data + offset, n);
	return (int) n;
}

void
FileClose(File file)
{
	CheckFile(file, "FileClose");
	file_open--;
}

/* the input is in memory: no descriptor to copy byte ranges from */
int
FileGetRawDesc(File file)
{
	CheckFile(file, "FileGetRawDesc");
	errno = EBADF;
	return -1;
}

/* ---------------------------------------------------------------------
 * Using what the reader returns
 * ---------------------------------------------------------------------
 */

static void
TouchBytes(const char *p, size_t len)
{
	uint64		h = 0;

	for (size_t i = 0; i < len; i++)
		h = h * 31 + (unsigned char) p[i];
	sink += h;
}

static void
TouchValue(const FragmentColumn *col, Datum value, const char *what)
{
	const char *p;
	uintptr_t	align;

	if (col->typbyval)
		return;
	p = DatumGetPointer(value);
	if (p == NULL)
	{
		fprintf(stderr, "fuzz: NULL pointer as a %s of column %d\n",
				what, col->attnum);
		abort();
	}
	if (col->typlen == -1)
	{
		/* the reader builds 4-byte headers: int alignment at least */
		align = col->typalign == TYPALIGN_DOUBLE ? ALIGNOF_DOUBLE : ALIGNOF_INT;
		TouchBytes(p, VARSIZE_ANY(p));
	}
	else if (col->typlen == -2)
	{
		align = 1;
		TouchBytes(p, strlen(p) + 1);
	}
	else
	{
		align = att_align_nominal(1, col->typalign);
		TouchBytes(p, col->typlen);
	}
	if (((uintptr_t) p) % align != 0)
	{
		fprintf(stderr, "fuzz: %s of column %d at %p is not aligned for typalign '%c'\n",
				what, col->attnum, p, col->typalign);
		abort();
	}
}

static void
ReadEverything(void)
{
	FragmentReader *reader = FragmentReaderOpen(FUZZ_PATH);
	MemoryContext values_cxt;
	MemoryContext oldcxt;
	int			ncolumns = FragmentReaderNumColumns(reader);
	int			nrowgroups = FragmentReaderNumRowGroups(reader);
	int64		total = 0;

	for (int c = 0; c < ncolumns; c++)
	{
		const FragmentColumn *col = FragmentReaderColumn(reader, c);

		if (FragmentReaderFindColumn(reader, col->attnum) != c)
		{
			fprintf(stderr, "fuzz: FragmentReaderFindColumn(%d) is not %d\n",
					col->attnum, c);
			abort();
		}
	}
	(void) FragmentReaderFindColumn(reader, 0);

	values_cxt = AllocSetContextCreate(CurrentMemoryContext, "fuzz values",
									   ALLOCSET_DEFAULT_SIZES);
	for (int rg = 0; rg < nrowgroups; rg++)
	{
		int			nrows = FragmentReaderRowGroupRows(reader, rg);

		total += nrows;
		for (int c = 0; c < ncolumns; c++)
		{
			const FragmentColumn *col = FragmentReaderColumn(reader, c);
			ColumnStats stats;
			Datum	   *values;
			bool	   *isnull;
			int64		nulls = 0;

			FragmentReaderRowGroupStats(reader, rg, c, &stats);
			if (stats.row_count != nrows || stats.null_count < 0 ||
				stats.null_count > nrows)
			{
				fprintf(stderr, "fuzz: statistics of row group %d column %d: "
						"%lld rows, %lld nulls, row group has %d rows\n",
						rg, c, (long long) stats.row_count,
						(long long) stats.null_count, nrows);
				abort();
			}
			if (stats.has_minmax)
			{
				TouchValue(col, stats.min, "minimum");
				TouchValue(col, stats.max, "maximum");
			}

			oldcxt = MemoryContextSwitchTo(values_cxt);
			values = MemoryContextAllocHuge(values_cxt, sizeof(Datum) * nrows);
			isnull = MemoryContextAllocHuge(values_cxt, sizeof(bool) * nrows);
			FragmentReaderReadColumn(reader, rg, c, values, isnull);
			MemoryContextSwitchTo(oldcxt);
			for (int i = 0; i < nrows; i++)
			{
				if (isnull[i])
					nulls++;
				else
					TouchValue(col, values[i], "value");
			}
			if (nulls != stats.null_count)
			{
				fprintf(stderr, "fuzz: row group %d column %d read %lld nulls, "
						"statistics say %lld\n", rg, c, (long long) nulls,
						(long long) stats.null_count);
				abort();
			}
			MemoryContextReset(values_cxt);
		}
	}
	if (total != FragmentReaderNumRows(reader))
	{
		fprintf(stderr, "fuzz: row groups hold %lld rows, the reader says %lld\n",
				(long long) total, (long long) FragmentReaderNumRows(reader));
		abort();
	}
	MemoryContextDelete(values_cxt);
	FragmentReaderClose(reader);
}

static void
CopyEverything(void)
{
	FragmentReader *reader = FragmentReaderOpen(FUZZ_PATH);
	int			ncolumns = FragmentReaderNumColumns(reader);
	int			nrowgroups = FragmentReaderNumRowGroups(reader);

	for (int rg = 0; rg < nrowgroups; rg++)
	{
		for (int c = 0; c < ncolumns; c++)
		{
			uint64		length;
			uint32		npages;
			const char *bytes;

			bytes = FragmentReaderRawChunk(reader, rg, c, &length, &npages);
			TouchBytes(bytes, length);
		}
	}
	FragmentReaderClose(reader);
}

/* one pass: like a query, it ends at its first ERROR and frees its memory */
static void
RunPass(void (*pass) (void))
{
	MemoryContext parent = CurrentMemoryContext;
	MemoryContext cxt = AllocSetContextCreate(parent, "fuzz pass",
											  ALLOCSET_DEFAULT_SIZES);

	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		pass();
	}
	PG_CATCH();
	{
		FuzzErrorCaught("reader");
	}
	PG_END_TRY();
	MemoryContextSwitchTo(parent);
	MemoryContextDelete(cxt);
	if (file_open != 0)
	{
		fprintf(stderr, "fuzz: the fragment file is still open after its reader's context was deleted\n");
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8 *data, size_t size)
{
	file_data = data;
	file_size = size;
	FuzzBeginInput();
	RunPass(ReadEverything);
	RunPass(CopyEverything);
	FuzzEndInput();
	return 0;
}

/* ---------------------------------------------------------------------
 * Checksum repair
 * ---------------------------------------------------------------------
 */

typedef struct Cursor
{
	const uint8 *p;
	const uint8 *end;
} Cursor;

static bool
Take(Cursor *c, void *dst, size_t len)
{
	if ((size_t) (c->end - c->p) < len)
		return false;
	if (dst)
		memcpy(dst, c->p, len);
	c->p += len;
	return true;
}

/* set the CRC32C of every page in [start, end) that fits there */
static void
FixPages(uint8 *data, uint64 start, uint64 end)
{
	uint64		pos = start;

	while (pos + sizeof(FragmentPageHeader) <= end)
	{
		FragmentPageHeader hdr;
		uint64		body = pos + sizeof(FragmentPageHeader);

		memcpy(&hdr, data + pos, sizeof(hdr));
		if (hdr.stored_size > end - body)
			break;
		hdr.crc = FragmentPageChecksum(&hdr, (const char *) data + body,
									   hdr.stored_size);
		memcpy(data + pos, &hdr, sizeof(hdr));
		pos = body + hdr.stored_size;
	}
}

static void
FixChecksums(uint8 *data, size_t size)
{
	FragmentTrailer trailer;
	uint64		footer_start;
	Cursor		c;
	uint16		u16;
	uint32		ncolumns;
	uint32		nrowgroups;
	pg_crc32c	crc;

	if (size < sizeof(FragmentFileHeader) + sizeof(FragmentTrailer))
		return;
	memcpy(&trailer, data + size - sizeof(trailer), sizeof(trailer));
	if (trailer.footer_len > size - sizeof(FragmentFileHeader) - sizeof(trailer))
		return;
	footer_start = size - sizeof(trailer) - trailer.footer_len;

	c.p = data + footer_start;
	c.end = c.p + trailer.footer_len;
	if (Take(&c, &u16, 2) && Take(&c, &u16, 2) &&
		Take(&c, &ncolumns, 4) && Take(&c, &nrowgroups, 4) &&
		Take(&c, NULL, 8) && ncolumns <= MaxHeapAttributeNumber &&
		Take(&c, NULL, (size_t) ncolumns * FOOTER_COLUMN_BYTES))
	{
		for (uint32 rg = 0; rg < nrowgroups; rg++)
		{
			if (!Take(&c, NULL, 4))
				break;
			for (uint32 col = 0; col < ncolumns; col++)
			{
				uint64		offset;
				uint64		length;
				uint8		flags;
				uint32		vlen;

				if (!Take(&c, &offset, 8) || !Take(&c, &length, 8) ||
					!Take(&c, NULL, 4 + 8) || !Take(&c, &flags, 1))
					goto footer;
				if (offset >= sizeof(FragmentFileHeader) &&
					offset <= footer_start && length <= footer_start - offset)
					FixPages(data, offset, offset + length);
				if (flags & FOOTER_STATS_MINMAX)
				{
					if (!Take(&c, &vlen, 4) || !Take(&c, NULL, vlen) ||
						!Take(&c, &vlen, 4) || !Take(&c, NULL, vlen))
						goto footer;
				}
			}
		}
	}
footer:
	INIT_CRC32C(crc);
	COMP_CRC32C(crc, data + footer_start, trailer.footer_len);
	FIN_CRC32C(crc);
	trailer.footer_crc = crc;
	memcpy(data + size - sizeof(trailer), &trailer, sizeof(trailer));
}

size_t
LLVMFuzzerCustomMutator(uint8 *data, size_t size, size_t max_size,
						unsigned int seed)
{
	size = LLVMFuzzerMutate(data, size, max_size);
	if (seed % 8 != 0)
		FixChecksums(data, size);
	return size;
}
