/*-------------------------------------------------------------------------
 * rowmap.c
 *	  Write and read row map files (see rowmap.h).
 *
 * A map is written whole; all the maps of a compaction are fsynced (the
 * files, then their directory) before its catalog changes can commit, so a
 * committed compaction always has its maps.  Reading checks magic, version, fragment id, row count,
 * sizes and a CRC32C over the stored bytes: a damaged map is an ERROR with
 * ERRCODE_DATA_CORRUPTED, never a wrong row.
 *
 * IDENTIFICATION
 *	  src/format/rowmap.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <unistd.h>
#include <zstd.h>

#include "port/pg_bitutils.h"
#include "port/pg_crc32c.h"
#include "storage/fd.h"

#include "format/files.h"
#include "format/rowmap.h"

typedef struct RowMapHeader
{
	uint32		magic;
	uint16		version;
	uint16		flags;
	int64		fragment_id;
	uint32		nrows;
	uint32		stored_len;		/* bytes after the header */
	pg_crc32c	crc;			/* of the stored bytes */
	uint32		pad;
} RowMapHeader;

static void
RowMapCorrupted(const char *path, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("row map file \"%s\" is corrupted: %s", path, what),
			 errhint("The compaction that wrote it can no longer redirect changes of older snapshots; restore the file from a backup.")));
}

/*
 * A map made of few runs (a merge: one run per source, or a few around
 * dropped rows) is stored as its runs.  A map whose entries mostly follow
 * each other otherwise (a rewrite that drops many scattered deleted rows)
 * is stored as deltas, which zstd turns into little.  A sort's map is a
 * permutation: its deltas are as random as its entries, so it is stored
 * bit-packed instead, each entry as its distance from the smallest new
 * row number (0 for a dropped row) in as many bits as the largest one
 * needs: about 24 bits for a group of ten million rows, against 64 bits
 * that zstd could not shrink.  A map whose kept rows went, in order, to
 * consecutive new rows (a rewrite that drops deleted rows, the source's
 * rows in one new fragment or following each other across several) is
 * stored as the first new row and a bitmap of the kept rows: an eighth of
 * a byte per entry, written in one pass, where deltas would cost zstd
 * eight bytes per entry.
 */
#define ROWMAP_DELTAS	0
#define ROWMAP_PACKED	1
#define ROWMAP_RUNS		2
#define ROWMAP_LIVE		3

/* count entries first, first + 1, ...; or count dropped rows (first = -1) */
typedef struct RowMapRun
{
	int64		first;
	uint32		count;
	uint32		pad;
} RowMapRun;

typedef struct RowMapPacked
{
	int64		base;			/* the smallest new row number, minus one */
	uint32		bits;			/* bits per entry, 1..32 */
	uint32		pad;
} RowMapPacked;

/* ROWMAP_LIVE: this, then bit i (LSB first) set when row i was kept */
typedef struct RowMapLive
{
	int64		first;			/* the new row number of the first kept row */
} RowMapLive;

static Size
LiveSize(uint32 nrows)
{
	return sizeof(RowMapLive) + ((Size) nrows + 7) / 8;
}

/* does entry i start a run: neither the next of a live one nor another drop */
static inline bool
StartsRun(const int64 *newrows, uint32 i)
{
	if (i == 0)
		return true;
	if (newrows[i] < 0 || newrows[i - 1] < 0)
		return (newrows[i] < 0) != (newrows[i - 1] < 0);
	return newrows[i] != newrows[i - 1] + 1;
}

static Size
PackedSize(uint32 nrows, uint32 bits)
{
	return sizeof(RowMapPacked) + ((Size) nrows * bits + 7) / 8;
}

/* pack nrows entries of bits bits each, little-endian, after the header */
static Size
RowMapPack(char *out, uint32 nrows, const int64 *newrows, int64 base,
		   uint32 bits)
{
	RowMapPacked *packed = (RowMapPacked *) out;
	unsigned char *p = (unsigned char *) out + sizeof(RowMapPacked);
	uint64		acc = 0;
	uint32		nacc = 0;

	packed->base = base;
	packed->bits = bits;
	packed->pad = 0;
	for (uint32 i = 0; i < nrows; i++)
	{
		uint64		v = newrows[i] < 0 ? 0 : (uint64) (newrows[i] - base);

		acc |= v << nacc;
		nacc += bits;
		while (nacc >= 8)
		{
			*p++ = (unsigned char) acc;
			acc >>= 8;
			nacc -= 8;
		}
	}
	if (nacc > 0)
		*p++ = (unsigned char) acc;
	return (char *) p - out;
}

/*
 * Write the map of a fragment of nrows rows (newrows[i]: the new row number
 * of row i, or -1 if it was dropped).  The file is not synced: RowMapSync
 * does that for all the maps of a compaction at once, before it commits.
 */
void
RowMapWrite(const char *path, int64 fragment_id, uint32 nrows,
			const int64 *newrows)
{
	int64		min = PG_INT64_MAX;
	int64		max = -1;
	uint32		follow = 0;
	uint32		kept = 0;
	int64		prev = -1;
	uint32		nruns = 0;
	uint32		bits = 0;
	bool		consecutive;
	uint16		encoding;
	Size		bound;
	char	   *stored;
	RowMapHeader *header;
	size_t		len;
	int			fd;

	for (uint32 i = 0; i < nrows; i++)
	{
		int64		r = newrows[i];

		if (StartsRun(newrows, i))
			nruns++;
		if (r < 0)
			continue;
		if (r == prev + 1)
			follow++;
		kept++;
		prev = r;
		min = Min(min, r);
		max = Max(max, r);
	}
	if (max >= 0)
		bits = pg_leftmost_one_pos64((uint64) (max - min + 1)) + 1;

	/*
	 * Runs when they take no more than a bitmap of the kept rows, when the
	 * kept rows went to consecutive new rows, or a byte per entry; else that
	 * bitmap; else deltas when most entries follow the previous one, or the
	 * entries are too wide to pack.  The kept rows are consecutive when each
	 * follows the one before (follow counts the first one too when it went
	 * to new row 0).
	 */
	consecutive = kept > 0 && follow + (min == 0 ? 0 : 1) == kept;
	if ((Size) nruns * sizeof(RowMapRun) <=
		(consecutive ? LiveSize(nrows) : nrows))
		encoding = ROWMAP_RUNS;
	else if (consecutive)
		encoding = ROWMAP_LIVE;
	else
		encoding = (follow >= nrows / 2 || bits == 0 || bits > 32) ?
			ROWMAP_DELTAS : ROWMAP_PACKED;
	if (encoding == ROWMAP_RUNS)
	{
		RowMapRun  *runs;
		uint32		n = 0;

		len = (Size) nruns * sizeof(RowMapRun);
		stored = palloc0(sizeof(RowMapHeader) + len);
		runs = (RowMapRun *) (stored + sizeof(RowMapHeader));
		for (uint32 i = 0; i < nrows; i++)
		{
			int64		r = newrows[i];

			if (StartsRun(newrows, i))
				runs[n++].first = r < 0 ? -1 : r;
			runs[n - 1].count++;
		}
		Assert(n == nruns);
	}
	else if (encoding == ROWMAP_LIVE)
	{
		RowMapLive *live;
		unsigned char *bitmap;

		len = LiveSize(nrows);
		stored = palloc0(sizeof(RowMapHeader) + len);
		live = (RowMapLive *) (stored + sizeof(RowMapHeader));
		live->first = min;
		bitmap = (unsigned char *) live + sizeof(RowMapLive);
		for (uint32 i = 0; i < nrows; i++)
		{
			if (newrows[i] >= 0)
				bitmap[i / 8] |= 1 << (i % 8);
		}
	}
	else if (encoding == ROWMAP_PACKED)
	{
		bound = PackedSize(nrows, bits);
		stored = palloc(sizeof(RowMapHeader) + bound);
		len = RowMapPack(stored + sizeof(RowMapHeader), nrows, newrows,
						 min - 1, bits);
		Assert(len == bound);
	}
	else
	{
		int64	   *deltas = palloc(sizeof(int64) * Max(nrows, 1));

		prev = -1;
		for (uint32 i = 0; i < nrows; i++)
		{
			deltas[i] = newrows[i] - prev;
			prev = newrows[i];
		}
		bound = ZSTD_compressBound(sizeof(int64) * nrows);
		stored = palloc(sizeof(RowMapHeader) + bound);
		len = ZSTD_compress(stored + sizeof(RowMapHeader), bound, deltas,
							sizeof(int64) * nrows, 1);
		if (ZSTD_isError(len))
			elog(ERROR, "could not compress row map: %s", ZSTD_getErrorName(len));
		pfree(deltas);
	}

	header = (RowMapHeader *) stored;
	memset(header, 0, sizeof(RowMapHeader));
	header->magic = COMPACT_ROWMAP_MAGIC;
	header->version = COMPACT_ROWMAP_VERSION;
	header->flags = encoding;
	header->fragment_id = fragment_id;
	header->nrows = nrows;
	header->stored_len = (uint32) len;
	INIT_CRC32C(header->crc);
	COMP_CRC32C(header->crc, stored + sizeof(RowMapHeader), len);
	FIN_CRC32C(header->crc);

	fd = OpenTransientFile(path, O_CREAT | O_TRUNC | O_WRONLY | PG_BINARY);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create file \"%s\": %m", path)));
	len += sizeof(RowMapHeader);
	errno = 0;
	if (write(fd, stored, len) != (ssize_t) len)
	{
		if (errno == 0)
			errno = ENOSPC;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write file \"%s\": %m", path)));
	}
	/* start the writeback now: RowMapSync then waits for less */
	pg_flush_data(fd, 0, len);
	if (CloseTransientFile(fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not close file \"%s\": %m", path)));
	pfree(stored);
}

/*
 * Make the maps durable: each file, then once the directory that holds them
 * all (a compaction's maps are all in its table's directory).
 */
void
RowMapSync(char **paths, int npaths)
{
	if (npaths == 0)
		return;
	for (int i = 0; i < npaths; i++)
		fsync_fname(paths[i], false);
	CompactFsyncParentDir(paths[0]);
}

/* the inverse of RowMapPack, checking what it reads */
static void
RowMapUnpack(const char *path, const char *stored, Size len, uint32 nrows,
			 int64 *result)
{
	RowMapPacked packed;
	const unsigned char *p = (const unsigned char *) stored + sizeof(RowMapPacked);
	uint64		mask;
	uint64		acc = 0;
	uint32		nacc = 0;

	if (len < sizeof(RowMapPacked))
		RowMapCorrupted(path, "bad length");
	memcpy(&packed, stored, sizeof(RowMapPacked));
	if (packed.bits < 1 || packed.bits > 32 || packed.base < -1 ||
		len != PackedSize(nrows, packed.bits))
		RowMapCorrupted(path, "bad packing");
	mask = (UINT64CONST(1) << packed.bits) - 1;
	for (uint32 i = 0; i < nrows; i++)
	{
		uint64		v;

		while (nacc < packed.bits)
		{
			acc |= (uint64) *p++ << nacc;
			nacc += 8;
		}
		v = acc & mask;
		acc >>= packed.bits;
		nacc -= packed.bits;
		result[i] = v == 0 ? -1 : packed.base + (int64) v;
	}
}

/* the runs back into entries, checking what it reads */
static void
RowMapUnrun(const char *path, const char *stored, Size len, uint32 nrows,
			int64 *result)
{
	uint32		i = 0;

	for (Size off = 0; off < len; off += sizeof(RowMapRun))
	{
		RowMapRun	run;

		memcpy(&run, stored + off, sizeof(RowMapRun));
		if (run.count == 0 || run.count > nrows - i || run.first < -1 ||
			run.first > PG_INT64_MAX - run.count)
			RowMapCorrupted(path, "bad run");
		for (uint32 k = 0; k < run.count; k++)
			result[i++] = run.first < 0 ? -1 : run.first + k;
	}
	if (i != nrows)
		RowMapCorrupted(path, "bad run");
}

/* the bitmap of kept rows back into entries, checking what it reads */
static void
RowMapUnlive(const char *path, const char *stored, Size len, uint32 nrows,
			 int64 *result)
{
	RowMapLive	live;
	const unsigned char *bitmap = (const unsigned char *) stored + sizeof(RowMapLive);
	int64		next;

	if (len != LiveSize(nrows))
		RowMapCorrupted(path, "bad length");
	memcpy(&live, stored, sizeof(RowMapLive));
	if (live.first < 0 || live.first > PG_INT64_MAX - nrows)
		RowMapCorrupted(path, "bad first row");
	next = live.first;
	for (uint32 i = 0; i < nrows; i++)
		result[i] = (bitmap[i / 8] >> (i % 8)) & 1 ? next++ : -1;
}

/*
 * Read the map of a fragment of nrows rows: a palloc'd array of nrows new
 * row numbers (-1: dropped).
 */
int64 *
RowMapRead(const char *path, int64 fragment_id, uint32 nrows)
{
	RowMapHeader header;
	char	   *stored;
	int64	   *result;
	pg_crc32c	crc;
	size_t		len;
	int64		prev = -1;
	int			fd;

	fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open row map file \"%s\": %m", path)));
	if (read(fd, &header, sizeof(header)) != sizeof(header))
		RowMapCorrupted(path, "truncated header");
	if (header.magic != COMPACT_ROWMAP_MAGIC ||
		header.version != COMPACT_ROWMAP_VERSION)
		RowMapCorrupted(path, "bad magic or version");
	if (header.flags != ROWMAP_DELTAS && header.flags != ROWMAP_PACKED &&
		header.flags != ROWMAP_RUNS && header.flags != ROWMAP_LIVE)
		RowMapCorrupted(path, "unknown encoding");
	if (header.fragment_id != fragment_id || header.nrows != nrows)
		RowMapCorrupted(path, "it describes another fragment");
	if (header.flags == ROWMAP_DELTAS ?
		header.stored_len > ZSTD_compressBound(sizeof(int64) * (size_t) nrows) :
		header.flags == ROWMAP_RUNS ?
		header.stored_len > sizeof(RowMapRun) * (Size) nrows ||
		header.stored_len % sizeof(RowMapRun) != 0 :
		header.flags == ROWMAP_LIVE ?
		header.stored_len != LiveSize(nrows) :
		header.stored_len > PackedSize(nrows, 32))
		RowMapCorrupted(path, "bad length");

	stored = palloc(Max(header.stored_len, 1));
	if (read(fd, stored, header.stored_len) != (ssize_t) header.stored_len)
		RowMapCorrupted(path, "truncated data");
	CloseTransientFile(fd);

	INIT_CRC32C(crc);
	COMP_CRC32C(crc, stored, header.stored_len);
	FIN_CRC32C(crc);
	if (crc != header.crc)
		RowMapCorrupted(path, "checksum mismatch");

	result = palloc(sizeof(int64) * Max(nrows, 1));
	if (header.flags == ROWMAP_PACKED)
		RowMapUnpack(path, stored, header.stored_len, nrows, result);
	else if (header.flags == ROWMAP_RUNS)
		RowMapUnrun(path, stored, header.stored_len, nrows, result);
	else if (header.flags == ROWMAP_LIVE)
		RowMapUnlive(path, stored, header.stored_len, nrows, result);
	else
	{
		len = ZSTD_decompress(result, sizeof(int64) * (size_t) nrows,
							  stored, header.stored_len);
		if (ZSTD_isError(len) || len != sizeof(int64) * (size_t) nrows)
			RowMapCorrupted(path, "bad compressed data");
		for (uint32 i = 0; i < nrows; i++)
		{
			result[i] += prev;
			prev = result[i];
		}
	}
	for (uint32 i = 0; i < nrows; i++)
	{
		if (result[i] < -1)
			RowMapCorrupted(path, "a negative row number");
	}
	pfree(stored);
	return result;
}
