/*-------------------------------------------------------------------------
 * rowmap.c
 *	  Write and read row map files (see rowmap.h).
 *
 * A map is written whole and fsynced (file, then directory) before the
 * compaction's catalog changes can commit, so a committed compaction always
 * has its maps.  Reading checks magic, version, fragment id, row count,
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

#include "port/pg_crc32c.h"
#include "storage/fd.h"

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

/* fsync the directory holding path */
static void
FsyncParentDir(const char *path)
{
	char	   *dir = pstrdup(path);
	char	   *slash = strrchr(dir, '/');

	if (slash != NULL)
	{
		*slash = '\0';
		fsync_fname(dir, true);
	}
	pfree(dir);
}

void
RowMapWrite(const char *path, int64 fragment_id, uint32 nrows,
			const int64 *newrows)
{
	int64	   *deltas = palloc(sizeof(int64) * Max(nrows, 1));
	size_t		bound = ZSTD_compressBound(sizeof(int64) * nrows);
	char	   *stored = palloc(sizeof(RowMapHeader) + bound);
	RowMapHeader *header = (RowMapHeader *) stored;
	size_t		len;
	int64		prev = -1;
	int			fd;

	for (uint32 i = 0; i < nrows; i++)
	{
		deltas[i] = newrows[i] - prev;
		prev = newrows[i];
	}
	len = ZSTD_compress(stored + sizeof(RowMapHeader), bound, deltas,
						sizeof(int64) * nrows, 3);
	if (ZSTD_isError(len))
		elog(ERROR, "could not compress row map: %s", ZSTD_getErrorName(len));

	memset(header, 0, sizeof(RowMapHeader));
	header->magic = COMPACT_ROWMAP_MAGIC;
	header->version = COMPACT_ROWMAP_VERSION;
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
	if (write(fd, stored, len) != (ssize_t) len)
	{
		if (errno == 0)
			errno = ENOSPC;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write file \"%s\": %m", path)));
	}
	if (pg_fsync(fd) != 0)
		ereport(data_sync_elevel(ERROR),
				(errcode_for_file_access(),
				 errmsg("could not fsync file \"%s\": %m", path)));
	if (CloseTransientFile(fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not close file \"%s\": %m", path)));
	FsyncParentDir(path);
	pfree(deltas);
	pfree(stored);
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
	if (header.fragment_id != fragment_id || header.nrows != nrows)
		RowMapCorrupted(path, "it describes another fragment");
	if (header.stored_len > ZSTD_compressBound(sizeof(int64) * (size_t) nrows))
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
	len = ZSTD_decompress(result, sizeof(int64) * (size_t) nrows,
						  stored, header.stored_len);
	if (ZSTD_isError(len) || len != sizeof(int64) * (size_t) nrows)
		RowMapCorrupted(path, "bad compressed data");
	for (uint32 i = 0; i < nrows; i++)
	{
		result[i] += prev;
		prev = result[i];
	}
	pfree(stored);
	return result;
}
