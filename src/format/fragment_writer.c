/*-------------------------------------------------------------------------
 * fragment_writer.c
 *	  Turn column-major row groups into one immutable fragment file.
 *
 * The writer appends as it goes: FragmentWriterAddRowGroup encodes each
 * column of the row group into a chunk of pages (page_codec.c), compresses
 * each page with zstd when that saves at least 1/32 of it, and hands the
 * bytes to a write buffer that is flushed at the end of every row group.
 * What survives a row group is its footer entry (offsets, page counts,
 * statistics) and the running fragment-level statistics, so memory stays
 * bounded by one row group whatever the fragment's size.  Finish writes the
 * footer and trailer, fsyncs the file and then its directory: once Finish
 * returns, the file is durable and may be referenced from the catalog.
 *
 * An encoder (FragmentWriterBeginEncoder) is a writer without a file: it
 * keeps a row group's pages and footer entry for its caller, who sends
 * them to the process writing the file, which appends them as they are
 * (FragmentWriterAddEncodedRowGroup), moving the entry's offsets and
 * folding its statistics into the fragment's.
 *
 * Memory: the writer owns a context (child of the caller's at Begin) with a
 * child reset per row group and a grandchild reset per page.  Statistics
 * of a row group point into the caller's arrays (or, for an encoded row
 * group, into copies in the row group's context) until they are
 * serialized at the end of the row group; fragment-level min/max are
 * copies.
 *
 * A compaction's writer (FragmentWriterBeginOutput) WAL-logs its file as
 * it writes it, from memory (filewal.c), and writes it with direct I/O
 * where the file system allows (compact.direct_io): the bytes go from one
 * reused, aligned buffer to the disk, whole blocks at a time, the last one
 * padded and the file then cut to its size.  A compaction's new file is
 * read by no one until its commit, and by few soon after; through the page
 * cache every byte would first take a new cache page, which the kernel
 * must find, zero and (on virtual machines) often get from the host:
 * several times the cost of the disk write.  It also keeps a big
 * compaction from pushing the working set of the queries out of the cache.
 *
 * Errors: fd.c does not close files opened with PathNameOpenFile at
 * transaction abort, so a reset callback on the writer's context closes
 * the file, frees the zstd context, and unlinks the file unless Finish
 * completed.  An ERROR anywhere therefore leaves no open descriptor and,
 * once the caller's context goes away, no partial file.
 *
 * IDENTIFICATION
 *	  src/format/fragment_writer.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <math.h>
#include <unistd.h>
#include <zstd.h>

#include "access/htup_details.h"
#include "access/xlog.h"
#include "catalog/pg_type_d.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/pg_locale.h"
#include "utils/memutils.h"
#include "utils/wait_event.h"

#include "compact.h"
#include "format/files.h"
#include "format/filewal.h"
#include "format/format_internal.h"
#include "format/fragment.h"
#include "format/page_codec.h"

/* flush the write buffer once it holds this much */
#define WRITE_BUFFER_BYTES		(1024 * 1024)

/* written bytes the kernel is asked to write back at a time */
#define WRITEBACK_BYTES			(4 * 1024 * 1024)
/* column chunks of a merge at least this big are copied by the kernel */
#define COPY_RANGE_MIN_BYTES	(64 * 1024)

/* pages smaller than this are not worth a zstd frame */
#define MIN_COMPRESS_BYTES		64

/*
 * A page of at least PROBE_MIN_BYTES is compressed only if its first or
 * its last PROBE_BYTES compress (the last are the bulk of a text page,
 * after the lengths): bit-packed integers and decimal floats are mostly as
 * dense as zstd makes them, and compressing all of them would cost about
 * as much as compressing the text that does shrink.
 */
#define PROBE_BYTES				(4 * 1024)
#define PROBE_MIN_BYTES			(16 * 1024)

/* direct I/O: the buffer, and the alignment of its address and writes */
#define DIRECT_BUFFER_BYTES		COMPACT_WAL_CHUNK_BYTES
#define DIRECT_BLOCK_BYTES		4096

/* FileWrite takes an int */
#define MAX_IO_BYTES			(1024 * 1024 * 1024)

typedef struct WriterColumn
{
	FragmentColumn col;
	ColumnKind	kind;
	bool		signed_order;	/* min/max by comparing as int64 */
	bool		float_order;	/* min/max by comparing as float8 */
	bool		bytes_order;	/* min/max by comparing bytes (text in "C") */
	/* fragment-level statistics */
	int64		null_count;
	bool		has_minmax;
	bool		minmax_lost;	/* some row group could not keep min/max */
	Datum		min;			/* copies in the writer's context */
	Datum		max;
} WriterColumn;

/* statistics of one column chunk while it is being written */
typedef struct ChunkStats
{
	int64		null_count;
	bool		has_minmax;
	Datum		min;			/* point into the caller's arrays */
	Datum		max;
} ChunkStats;

struct FragmentWriter
{
	MemoryContext cxt;
	MemoryContext rgcxt;		/* reset per row group */
	MemoryContext pagecxt;		/* reset per page */
	char	   *path;
	File		file;
	bool		created;		/* we created the file */
	bool		finished;		/* complete and durable: keep it */
	int			ncolumns;
	WriterColumn *columns;
	int			compression_level;
	ZSTD_CCtx  *cctx;
	int64		nrows;
	int32		nrowgroups;
	uint64		offset;			/* end of the file, buffered bytes included */
	uint64		flushed;		/* bytes already written to the file */
	uint64		written_back;	/* of which the kernel was asked to write back */
	EncodeBuffer wbuf;			/* bytes not yet written */
	EncodeBuffer rgmeta;		/* footer entries of the row groups so far */
	bool		no_copy_range;	/* copy_file_range failed: write instead */
	bool		encoder;		/* no file: FragmentWriterEncodeRowGroup */
	/* a compaction's writer (FragmentWriterBeginOutput) */
	bool		logged;			/* WAL-logs each write, as id and xid */
	Oid			relfilenode;
	int64		id;
	TransactionId xid;
	bool		direct;			/* O_DIRECT: whole blocks from dbuf */
	char	   *dbuf;			/* DIRECT_BUFFER_BYTES, aligned */
	size_t		dlen;			/* bytes in dbuf, not yet written */
	MemoryContextCallback cleanup;
};

static void WriterCleanup(void *arg);
static void WriteFully(FragmentWriter *writer, const char *data, size_t len,
					   uint64 offset);
static void WriteAtEnd(FragmentWriter *writer, const char *data, size_t len);
static void LogAtEnd(FragmentWriter *writer, const char *data, size_t len,
					 uint64 total);
static void FlushWrites(FragmentWriter *writer);
static void AppendBytes(FragmentWriter *writer, const void *data, size_t len);
static int	PageRows(const WriterColumn *wc, const Datum *values,
					 const bool *isnull, int start, int nrows);
static void WritePage(FragmentWriter *writer, const PageEncodeResult *res,
					  int nvalues, EncodeBuffer *body, EncodeBuffer *comp);
static void WriteColumnChunk(FragmentWriter *writer, WriterColumn *wc,
							 int nrows, const Datum *values,
							 const bool *isnull, EncodeBuffer *body,
							 EncodeBuffer *comp);
static void MergeFragmentStats(FragmentWriter *writer, WriterColumn *wc,
							   const ChunkStats *stats);

/*
 * Types whose default btree order is the order of their values as signed
 * integers: their min/max need no comparator calls.
 */
static bool
IsSignedOrderType(Oid basetypid)
{
	switch (basetypid)
	{
		case BOOLOID:
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case DATEOID:
		case TIMEOID:
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			return true;
		default:
			return false;
	}
}

/*
 * A writer of the given columns, its file not yet open.  The writer and
 * everything it allocates live in a new child of CurrentMemoryContext.
 */
static FragmentWriter *
WriterCreate(const char *path, int ncolumns, const FragmentColumn *columns,
			 int compression_level)
{
	MemoryContext cxt;
	MemoryContext old;
	FragmentWriter *writer;

	if (ncolumns < 0 || ncolumns > MaxHeapAttributeNumber)
		elog(ERROR, "invalid number of fragment columns: %d", ncolumns);

	cxt = AllocSetContextCreate(CurrentMemoryContext, "compact fragment writer",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);

	writer = palloc0(sizeof(FragmentWriter));
	writer->cxt = cxt;
	writer->rgcxt = AllocSetContextCreate(cxt, "compact fragment row group",
										  ALLOCSET_DEFAULT_SIZES);
	/*
	 * Not a child of rgcxt: resetting a context deletes its children, and
	 * rgcxt is reset after every row group.
	 */
	writer->pagecxt = AllocSetContextCreate(cxt,
											"compact fragment page",
											ALLOCSET_DEFAULT_SIZES);
	writer->path = pstrdup(path);
	writer->file = -1;
	writer->ncolumns = ncolumns;
	writer->compression_level = compression_level;
	writer->columns = palloc0(sizeof(WriterColumn) * Max(ncolumns, 1));

	for (int c = 0; c < ncolumns; c++)
	{
		const FragmentColumn *col = &columns[c];
		WriterColumn *wc = &writer->columns[c];
		Oid			basetypid;

		if (!EncodingTypeIsValid(col->typlen, col->typbyval, col->typalign))
			elog(ERROR, "unsupported layout of fragment column %d: typlen %d, typbyval %d, typalign '%c'",
				 col->attnum, col->typlen, (int) col->typbyval, col->typalign);
		basetypid = OidIsValid(col->typid) ? getBaseType(col->typid) : InvalidOid;
		wc->col = *col;
		wc->kind = PageColumnKind(basetypid, col->typlen, col->typbyval);
		wc->signed_order = col->ssup != NULL && !col->ssup->ssup_reverse &&
			wc->kind == COLUMN_KIND_INT && IsSignedOrderType(basetypid);
		wc->float_order = col->ssup != NULL && !col->ssup->ssup_reverse &&
			col->typbyval && (basetypid == FLOAT8OID || basetypid == FLOAT4OID);
		wc->bytes_order = col->ssup != NULL && !col->ssup->ssup_reverse &&
			col->typlen == -1 && (basetypid == TEXTOID || basetypid == VARCHAROID) &&
			lc_collate_is_c(col->ssup->ssup_collation);
	}

	writer->cleanup.func = WriterCleanup;
	writer->cleanup.arg = writer;
	MemoryContextRegisterResetCallback(cxt, &writer->cleanup);

	writer->cctx = ZSTD_createCCtx();
	if (writer->cctx == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("Could not create a zstd compression context.")));

	EncodeBufferInit(&writer->wbuf, 64 * 1024);
	EncodeBufferInit(&writer->rgmeta, 4096);
	MemoryContextSwitchTo(old);
	return writer;
}

/*
 * Create the writer's file and append the header.  With direct, the file
 * goes to direct I/O if its file system takes it (fcntl, so that a failure
 * leaves the file open as it was); else direct is turned off.  Nothing
 * depends on the flag staying on: fd.c may close and reopen the file
 * without it, and the whole, aligned writes of the direct path are valid
 * writes through the cache too.
 */
static void
WriterOpen(FragmentWriter *writer)
{
	MemoryContext old = MemoryContextSwitchTo(writer->cxt);
	FragmentFileHeader header;

	writer->file = PathNameOpenFile(writer->path,
									O_CREAT | O_EXCL | O_WRONLY | PG_BINARY);
	if (writer->file < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create file \"%s\": %m", writer->path)));
	writer->created = true;
#ifdef O_DIRECT
	if (writer->direct)
	{
		int			fd = FileGetRawDesc(writer->file);
		int			flags = fcntl(fd, F_GETFL);

		writer->direct = flags >= 0 && fcntl(fd, F_SETFL, flags | O_DIRECT) == 0;
	}
#else
	writer->direct = false;
#endif
	if (writer->direct)
		writer->dbuf = (char *) TYPEALIGN(DIRECT_BLOCK_BYTES,
										  palloc(DIRECT_BUFFER_BYTES + DIRECT_BLOCK_BYTES));

	header.magic = COMPACT_FRAGMENT_MAGIC;
	header.version = COMPACT_FRAGMENT_VERSION;
	header.flags = 0;
	AppendBytes(writer, &header, sizeof(header));

	MemoryContextSwitchTo(old);
	COMPACT_FAULT_POINT("fragment_created");
}

/*
 * Create the file at path and start a fragment of the given columns.
 * Raises an ERROR if the file exists or cannot be created.  The writer and
 * everything it allocates live in a new child of CurrentMemoryContext.
 */
FragmentWriter *
FragmentWriterBegin(const char *path, int ncolumns,
					const FragmentColumn *columns, int compression_level)
{
	FragmentWriter *writer = WriterCreate(path, ncolumns, columns,
										  compression_level);

	WriterOpen(writer);
	return writer;
}

/*
 * Begin a compaction's new fragment of table relfilenode (in this database),
 * named by id and xid: a writer that WAL-logs the file as it writes it, and
 * writes it with direct I/O if direct is true and the file system allows.
 */
FragmentWriter *
FragmentWriterBeginOutput(Oid relfilenode, int64 id, TransactionId xid,
						  int ncolumns, const FragmentColumn *columns,
						  int compression_level, bool direct)
{
	char	   *path = CompactFragmentPath(MyDatabaseId, relfilenode, id, xid);
	FragmentWriter *writer = WriterCreate(path, ncolumns, columns,
										  compression_level);

	pfree(path);
	writer->logged = XLogIsNeeded();
	writer->relfilenode = relfilenode;
	writer->id = id;
	writer->xid = xid;
	writer->direct = direct;
	WriterOpen(writer);
	return writer;
}

/*
 * A writer without a file, that encodes row groups for another writer:
 * FragmentWriterEncodeRowGroup gives the bytes a writer of the same columns
 * would have appended, and FragmentWriterAddEncodedRowGroup appends them to
 * that one.  Two processes can so encode the row groups of one file.
 */
FragmentWriter *
FragmentWriterBeginEncoder(int ncolumns, const FragmentColumn *columns,
						   int compression_level)
{
	FragmentWriter *writer = WriterCreate("(encoder)", ncolumns, columns,
										  compression_level);

	writer->encoder = true;
	return writer;
}

/*
 * Reset callback of the writer's context: release what palloc does not.
 */
static void
WriterCleanup(void *arg)
{
	FragmentWriter *writer = (FragmentWriter *) arg;

	if (writer->cctx != NULL)
	{
		ZSTD_freeCCtx(writer->cctx);
		writer->cctx = NULL;
	}
	if (writer->file >= 0)
	{
		FileClose(writer->file);
		writer->file = -1;
	}
	if (writer->created && !writer->finished)
	{
		writer->created = false;
		if (unlink(writer->path) != 0 && errno != ENOENT)
			ereport(WARNING,
					(errcode_for_file_access(),
					 errmsg("could not remove file \"%s\": %m", writer->path)));
	}
}

/*
 * Write len bytes at offset, in pieces FileWrite can take.  A short write
 * without errno is taken to mean the disk is full, as md.c does.
 */
static void
WriteFully(FragmentWriter *writer, const char *data, size_t len,
		   uint64 offset)
{
	while (len > 0)
	{
		int			amount = (int) Min(len, (size_t) MAX_IO_BYTES);
		int			written;

		errno = 0;
		written = FileWrite(writer->file, (char *) data, amount,
							(off_t) offset, WAIT_EVENT_DATA_FILE_WRITE);
		if (written != amount)
		{
			if (written >= 0 && errno == 0)
				errno = ENOSPC;
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not write to file \"%s\": %m",
							writer->path)));
		}
		data += amount;
		len -= amount;
		offset += amount;
	}
}

/*
 * WAL-log bytes that start where the written part of the file ends, if the
 * writer logs its file; total as for CompactWalLogBytes.
 */
static void
LogAtEnd(FragmentWriter *writer, const char *data, size_t len, uint64 total)
{
	if (writer->logged)
		CompactWalLogBytes(MyDatabaseId, writer->relfilenode, COMPACT_FILE_FRAGMENT,
						   writer->id, writer->xid, data, len, writer->flushed,
						   total);
}

/*
 * Write bytes at the end of what is written, and WAL-log them (more
 * follows).
 */
static void
WriteAtEnd(FragmentWriter *writer, const char *data, size_t len)
{
	WriteFully(writer, data, len, writer->flushed);
	LogAtEnd(writer, data, len, PG_UINT64_MAX);
	writer->flushed += len;
}

/*
 * Ask the kernel to start writing back what is written, every few MB, so
 * that the fsync at the end (before the commit) has little left to wait
 * for, as PostgreSQL's checkpointer does (checkpoint_flush_after).  The
 * pages stay cached: a WAL-logging that reads them back still finds them.
 */
static void
StartWriteback(FragmentWriter *writer)
{
	uint64		len = writer->flushed - writer->written_back;

	if (len < WRITEBACK_BYTES)
		return;
	FileWriteback(writer->file, (off_t) writer->written_back, (off_t) len,
				  WAIT_EVENT_DATA_FILE_FLUSH);
	writer->written_back = writer->flushed;
}

static void
FlushWrites(FragmentWriter *writer)
{
	/*
	 * An encoder keeps its row group's bytes for the caller; direct I/O
	 * writes only whole buffers (AppendDirect) until the end.
	 */
	if (writer->wbuf.len == 0 || writer->encoder || writer->direct)
		return;
	WriteAtEnd(writer, writer->wbuf.data, writer->wbuf.len);
	writer->wbuf.len = 0;
	Assert(writer->flushed == writer->offset);
	StartWriteback(writer);
}

/*
 * Direct I/O: bytes into the aligned buffer, which is written whenever it
 * is full.
 */
static void
AppendDirect(FragmentWriter *writer, const char *data, size_t len)
{
	while (len > 0)
	{
		size_t		n = Min(len, DIRECT_BUFFER_BYTES - writer->dlen);

		memcpy(writer->dbuf + writer->dlen, data, n);
		writer->dlen += n;
		writer->offset += n;
		data += n;
		len -= n;
		if (writer->dlen == DIRECT_BUFFER_BYTES)
		{
			WriteAtEnd(writer, writer->dbuf, writer->dlen);
			writer->dlen = 0;
		}
	}
}

/*
 * Append bytes to the file, through the write buffer unless they are big.
 */
static void
AppendBytes(FragmentWriter *writer, const void *data, size_t len)
{
	if (writer->direct)
	{
		AppendDirect(writer, data, len);
		return;
	}
	if (len >= WRITE_BUFFER_BYTES && !writer->encoder)
	{
		FlushWrites(writer);
		WriteAtEnd(writer, data, len);
		writer->offset += len;
		StartWriteback(writer);
		return;
	}
	EncodeBufferAppend(&writer->wbuf, data, len);
	writer->offset += len;
	if (writer->wbuf.len >= WRITE_BUFFER_BYTES)
		FlushWrites(writer);
}

/*
 * Append bytes [offset, offset + len) of the open file src, whose contents
 * the caller has read (data) and checked.  On Linux the kernel copies them
 * (copy_file_range): no copy through this process, and on virtual machines
 * several times faster than writing the same bytes from memory into new
 * page cache pages.  Where it cannot, the bytes are written from data.
 */
static void
AppendFileRange(FragmentWriter *writer, int src, uint64 offset,
				const char *data, size_t len)
{
#if defined(__linux__) && defined(__GLIBC__) && \
	(__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 27))
	size_t		done = 0;

	if (!writer->no_copy_range && !writer->direct && len >= COPY_RANGE_MIN_BYTES)
	{
		int			dst = FileGetRawDesc(writer->file);

		FlushWrites(writer);
		while (done < len)
		{
			loff_t		in = (loff_t) (offset + done);
			loff_t		out = (loff_t) (writer->flushed + done);
			ssize_t		n;

			pgstat_report_wait_start(WAIT_EVENT_DATA_FILE_WRITE);
			n = copy_file_range(src, &in, dst, &out, len - done, 0);
			pgstat_report_wait_end();
			if (n <= 0)
			{
				/* not on this file system, or nothing left to copy: write */
				if (n < 0 && errno != EXDEV && errno != ENOSYS &&
					errno != EOPNOTSUPP && errno != EINVAL && errno != EBADF)
					ereport(ERROR,
							(errcode_for_file_access(),
							 errmsg("could not copy into file \"%s\": %m",
									writer->path)));
				writer->no_copy_range = true;
				break;
			}
			done += n;
		}
		if (done > 0)
			LogAtEnd(writer, data, done, PG_UINT64_MAX);
		writer->flushed += done;
		writer->offset += done;
		StartWriteback(writer);
		data += done;
		len -= done;
		if (len == 0)
			return;
	}
#endif
	AppendBytes(writer, data, len);
}

/*
 * How many rows from start go into the next page: about
 * FRAGMENT_PAGE_TARGET_BYTES of plain values, at least one row.
 */
static int
PageRows(const WriterColumn *wc, const Datum *values, const bool *isnull,
		 int start, int nrows)
{
	int16		typlen = wc->col.typlen;
	size_t		size = 0;

	if (typlen > 0)
		return Min(nrows - start, Max(1, FRAGMENT_PAGE_TARGET_BYTES / typlen));

	for (int i = start; i < nrows; i++)
	{
		if (isnull[i])
			continue;
		if (typlen == -1)
			size += VARSIZE_ANY_EXHDR(DatumGetPointer(values[i])) + 2;
		else
			size += strlen(DatumGetCString(values[i])) + 2;
		if (size >= FRAGMENT_PAGE_TARGET_BYTES)
			return i - start + 1;
	}
	return nrows - start;
}

/* Compress len bytes of data into comp; returns the compressed size. */
static size_t
Compress(FragmentWriter *writer, const char *data, size_t len, EncodeBuffer *comp)
{
	size_t		bound = ZSTD_compressBound(len);
	size_t		csize;

	comp->len = 0;
	EncodeBufferReserve(comp, bound);
	csize = ZSTD_compressCCtx(writer->cctx, comp->data, bound, data, len,
							  writer->compression_level);
	if (ZSTD_isError(csize))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compress fragment page: %s",
						ZSTD_getErrorName(csize))));
	return csize;
}

/* Compression pays when it saves at least 1/32 of the bytes. */
static inline bool
CompressionPays(size_t csize, size_t len)
{
	return csize < len - len / 32;
}

/* Would compressing the page pay?  Samples of it tell (see above). */
static bool
CompressionMayPay(FragmentWriter *writer, const EncodeBuffer *body, EncodeBuffer *comp)
{
	if (body->len < PROBE_MIN_BYTES)
		return true;
	return CompressionPays(Compress(writer, body->data + body->len - PROBE_BYTES,
									PROBE_BYTES, comp), PROBE_BYTES) ||
		CompressionPays(Compress(writer, body->data, PROBE_BYTES, comp), PROBE_BYTES);
}

/*
 * Compress (if it pays), checksum and append one encoded page.
 */
static void
WritePage(FragmentWriter *writer, const PageEncodeResult *res, int nvalues,
		  EncodeBuffer *body, EncodeBuffer *comp)
{
	FragmentPageHeader hdr;
	const char *stored = body->data;
	size_t		stored_len = body->len;

	if (body->len > FRAGMENT_MAX_PAGE_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("fragment page of %zu bytes is too large", body->len)));

	memset(&hdr, 0, sizeof(hdr));
	hdr.encoding = res->encoding;
	hdr.compression = PAGE_COMPRESSION_NONE;
	hdr.flags = res->flags;
	hdr.nvalues = (uint32) nvalues;
	hdr.raw_size = (uint32) body->len;

	if (body->len >= MIN_COMPRESS_BYTES && CompressionMayPay(writer, body, comp))
	{
		size_t		csize = Compress(writer, body->data, body->len, comp);

		if (CompressionPays(csize, body->len))
		{
			stored = comp->data;
			stored_len = csize;
			hdr.compression = PAGE_COMPRESSION_ZSTD;
		}
	}
	hdr.stored_size = (uint32) stored_len;
	hdr.crc = FragmentPageChecksum(&hdr, stored, stored_len);

	AppendBytes(writer, &hdr, sizeof(hdr));
	AppendBytes(writer, stored, stored_len);
}

/* byte order, the shorter first on ties: the first bytes decide most */
static inline int
CompareBytes(const char *a, Size la, const char *b, Size lb)
{
	int			r;

	if (la > 0 && lb > 0 && a[0] != b[0])
		return (unsigned char) a[0] < (unsigned char) b[0] ? -1 : 1;
	r = memcmp(a, b, Min(la, lb));
	if (r != 0)
		return r;
	return (la > lb) - (la < lb);
}

static inline int
CompareValues(const WriterColumn *wc, Datum a, Datum b)
{
	if (wc->signed_order)
	{
		int64		x = PageDatumToInt64(a, wc->col.typlen);
		int64		y = PageDatumToInt64(b, wc->col.typlen);

		return (x > y) - (x < y);
	}
	if (wc->float_order)
	{
		double		x = wc->col.typlen == 8 ? DatumGetFloat8(a) : DatumGetFloat4(a);
		double		y = wc->col.typlen == 8 ? DatumGetFloat8(b) : DatumGetFloat4(b);

		/* the btree order of float4 and float8: NaN above all, NaNs equal */
		if (isnan(x))
			return isnan(y) ? 0 : 1;
		if (isnan(y))
			return -1;
		return (x > y) - (x < y);
	}
	/* text in the "C" collation */
	if (wc->bytes_order &&
		!VARATT_IS_COMPRESSED(DatumGetPointer(a)) && !VARATT_IS_EXTERNAL(DatumGetPointer(a)) &&
		!VARATT_IS_COMPRESSED(DatumGetPointer(b)) && !VARATT_IS_EXTERNAL(DatumGetPointer(b)))
		return CompareBytes(VARDATA_ANY(DatumGetPointer(a)),
							VARSIZE_ANY_EXHDR(DatumGetPointer(a)),
							VARDATA_ANY(DatumGetPointer(b)),
							VARSIZE_ANY_EXHDR(DatumGetPointer(b)));
	return ApplySortComparator(a, false, b, false, wc->col.ssup);
}

static inline void
StatsAdd(const WriterColumn *wc, ChunkStats *stats, Datum v)
{
	if (!stats->has_minmax)
	{
		stats->min = stats->max = v;
		stats->has_minmax = true;
	}
	else if (CompareValues(wc, v, stats->min) < 0)
		stats->min = v;
	else if (CompareValues(wc, v, stats->max) > 0)
		stats->max = v;
}

/*
 * PageStats' value by value loop for text in the "C" collation
 * (bytes_order): CompareValues' order, with the bounds' bytes at hand.
 * The values and the bounds so far are plain: PageEncode refuses toasted
 * values.
 */
static void
PageStatsBytes(const Datum *values, const bool *isnull, int n,
			   ChunkStats *stats)
{
	const char *minp = NULL;
	const char *maxp = NULL;
	Size		minl = 0;
	Size		maxl = 0;

	if (stats->has_minmax)
	{
		minp = VARDATA_ANY(DatumGetPointer(stats->min));
		minl = VARSIZE_ANY_EXHDR(DatumGetPointer(stats->min));
		maxp = VARDATA_ANY(DatumGetPointer(stats->max));
		maxl = VARSIZE_ANY_EXHDR(DatumGetPointer(stats->max));
	}
	for (int i = 0; i < n; i++)
	{
		const char *p;
		Size		l;

		if (isnull[i])
			continue;
		p = VARDATA_ANY(DatumGetPointer(values[i]));
		l = VARSIZE_ANY_EXHDR(DatumGetPointer(values[i]));
		if (!stats->has_minmax)
		{
			stats->min = stats->max = values[i];
			stats->has_minmax = true;
			minp = maxp = p;
			minl = maxl = l;
		}
		else if (CompareBytes(p, l, minp, minl) < 0)
		{
			stats->min = values[i];
			minp = p;
			minl = l;
		}
		else if (CompareBytes(p, l, maxp, maxl) > 0)
		{
			stats->max = values[i];
			maxp = p;
			maxl = l;
		}
	}
}

/*
 * Fold the values of one page into the chunk's min/max: from the integer
 * or float range the encoder found, from the dictionary, or value by value.
 */
static void
PageStats(const WriterColumn *wc, const Datum *values, const bool *isnull,
		  int n, const PageEncodeResult *res, ChunkStats *stats)
{
	stats->null_count += n - res->nnonnull;
	if (wc->col.ssup == NULL || res->nnonnull == 0)
		return;

	if (wc->signed_order && res->has_range)
	{
		StatsAdd(wc, stats, PageInt64ToDatum(res->min, wc->col.typlen));
		StatsAdd(wc, stats, PageInt64ToDatum(res->max, wc->col.typlen));
	}
	else if (wc->float_order && res->has_frange)
	{
		bool		f8 = wc->col.typlen == 8;

		StatsAdd(wc, stats, f8 ? Float8GetDatum(res->fmin) :
				 Float4GetDatum((float4) res->fmin));
		StatsAdd(wc, stats, f8 ? Float8GetDatum(res->fmax) :
				 Float4GetDatum((float4) res->fmax));
	}
	else if (res->distinct != NULL)
	{
		for (int e = 0; e < res->ndistinct; e++)
			StatsAdd(wc, stats, res->distinct[e]);
	}
	else if (wc->bytes_order)
		PageStatsBytes(values, isnull, n, stats);
	else
	{
		for (int i = 0; i < n; i++)
		{
			if (!isnull[i])
				StatsAdd(wc, stats, values[i]);
		}
	}
}

/*
 * Encode and append one column of a row group, and add its footer entry.
 */
static void
WriteColumnChunk(FragmentWriter *writer, WriterColumn *wc, int nrows,
				 const Datum *values, const bool *isnull,
				 EncodeBuffer *body, EncodeBuffer *comp)
{
	uint64		start = writer->offset;
	uint32		npages = 0;
	ChunkStats	stats;
	EncodeBuffer *meta = &writer->rgmeta;
	int16		typlen = wc->col.typlen;
	bool		typbyval = wc->col.typbyval;
	size_t		minlen = 0;
	size_t		maxlen = 0;
	uint8		flags = 0;

	memset(&stats, 0, sizeof(stats));
	for (int row = 0; row < nrows;)
	{
		int			n = PageRows(wc, values, isnull, row, nrows);
		PageEncodeResult res;
		MemoryContext old = MemoryContextSwitchTo(writer->pagecxt);

		body->len = 0;
		PageEncode(wc->kind, typlen, values + row, isnull + row, n, body, &res);
		PageStats(wc, values + row, isnull + row, n, &res, &stats);
		MemoryContextSwitchTo(old);
		MemoryContextReset(writer->pagecxt);

		WritePage(writer, &res, n, body, comp);
		npages++;
		row += n;
	}

	if (stats.has_minmax)
	{
		minlen = EncodingValueSize(stats.min, typlen, typbyval);
		maxlen = EncodingValueSize(stats.max, typlen, typbyval);
		/* giant values make poor statistics and bloat the footer */
		if (minlen > FRAGMENT_STATS_MAX_VALUE_BYTES ||
			maxlen > FRAGMENT_STATS_MAX_VALUE_BYTES)
		{
			stats.has_minmax = false;
			wc->minmax_lost = true;
		}
		else
			flags |= FOOTER_STATS_MINMAX;
	}

	EncodeBufferPutU64(meta, start);
	EncodeBufferPutU64(meta, writer->offset - start);
	EncodeBufferPutU32(meta, npages);
	EncodeBufferPutU64(meta, (uint64) stats.null_count);
	EncodeBufferPutU8(meta, flags);
	if (stats.has_minmax)
	{
		EncodeBufferPutU32(meta, (uint32) minlen);
		EncodingValueAppend(meta, stats.min, typlen, typbyval);
		EncodeBufferPutU32(meta, (uint32) maxlen);
		EncodingValueAppend(meta, stats.max, typlen, typbyval);
	}

	MergeFragmentStats(writer, wc, &stats);
}

static void
ReplaceStat(const WriterColumn *wc, Datum *slot, Datum value)
{
	if (!wc->col.typbyval && DatumGetPointer(*slot) != NULL)
		pfree(DatumGetPointer(*slot));
	*slot = datumCopy(value, wc->col.typbyval, wc->col.typlen);
}

/*
 * Fold a chunk's statistics into the column's fragment-level statistics.
 */
static void
MergeFragmentStats(FragmentWriter *writer, WriterColumn *wc,
				   const ChunkStats *stats)
{
	MemoryContext old;

	/* an encoder's row groups count in the writer that appends them */
	if (writer->encoder)
		return;
	wc->null_count += stats->null_count;
	if (!stats->has_minmax || wc->minmax_lost)
		return;

	old = MemoryContextSwitchTo(writer->cxt);
	if (!wc->has_minmax)
	{
		wc->min = datumCopy(stats->min, wc->col.typbyval, wc->col.typlen);
		wc->max = datumCopy(stats->max, wc->col.typbyval, wc->col.typlen);
		wc->has_minmax = true;
	}
	else
	{
		if (CompareValues(wc, stats->min, wc->min) < 0)
			ReplaceStat(wc, &wc->min, stats->min);
		if (CompareValues(wc, stats->max, wc->max) > 0)
			ReplaceStat(wc, &wc->max, stats->max);
	}
	MemoryContextSwitchTo(old);
}

/*
 * Raise an ERROR if the footer cannot take another row group.
 */
static void
CheckRowGroupRoom(FragmentWriter *writer)
{
	if (writer->nrowgroups == PG_INT32_MAX ||
		writer->rgmeta.len > FRAGMENT_MAX_FOOTER_BYTES / 2)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many row groups in fragment file \"%s\"",
						writer->path),
				 errhint("Use larger row groups.")));
}

/*
 * Encode a row group of nrows rows into the write buffer, and its footer
 * entry onto rgmeta.
 */
static void
EncodeRowGroup(FragmentWriter *writer, int nrows, Datum **values,
			   bool **isnull)
{
	MemoryContext old;
	EncodeBuffer body;
	EncodeBuffer comp;

	if (nrows < 0 || nrows > COMPACT_FRAGMENT_MAX_ROWGROUP_ROWS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("row group of %d rows is out of range", nrows),
				 errdetail("A row group holds 1 to %d rows.",
						   COMPACT_FRAGMENT_MAX_ROWGROUP_ROWS)));
	CheckRowGroupRoom(writer);

	old = MemoryContextSwitchTo(writer->rgcxt);
	EncodeBufferInit(&body, 64 * 1024);
	EncodeBufferInit(&comp, 64 * 1024);

	EncodeBufferPutU32(&writer->rgmeta, (uint32) nrows);
	for (int c = 0; c < writer->ncolumns; c++)
		WriteColumnChunk(writer, &writer->columns[c], nrows, values[c],
						 isnull[c], &body, &comp);
	MemoryContextSwitchTo(old);
	MemoryContextReset(writer->rgcxt);
}

/*
 * Encode and append a row group of nrows rows: values[c][r] and
 * isnull[c][r] for column c in the order given at Begin.  The arrays are
 * only read; nothing of them is kept after return.
 */
void
FragmentWriterAddRowGroup(FragmentWriter *writer, int nrows, Datum **values,
						  bool **isnull)
{
	Assert(!writer->finished && !writer->encoder);
	if (nrows == 0)
		return;
	EncodeRowGroup(writer, nrows, values, isnull);
	FlushWrites(writer);
	writer->nrows += nrows;
	writer->nrowgroups++;
	COMPACT_FAULT_POINT("fragment_rowgroup_written");
}

/*
 * Encode a row group (1 or more rows) with an encoder: *meta is its footer
 * entry, its chunks' offsets counted from the start of *pages, the encoded
 * pages.  Both stay valid until the encoder's next row group.
 */
void
FragmentWriterEncodeRowGroup(FragmentWriter *encoder, int nrows,
							 Datum **values, bool **isnull,
							 const char **meta, Size *metalen,
							 const char **pages, Size *pageslen)
{
	Assert(encoder->encoder && nrows > 0);
	encoder->wbuf.len = 0;
	encoder->rgmeta.len = 0;
	encoder->offset = 0;
	EncodeRowGroup(encoder, nrows, values, isnull);
	*meta = encoder->rgmeta.data;
	*metalen = encoder->rgmeta.len;
	*pages = encoder->wbuf.data;
	*pageslen = encoder->wbuf.len;
}

/*
 * Append a row group that an encoder of the same columns encoded
 * (FragmentWriterEncodeRowGroup): its pages as they are, its footer entry
 * with the chunks' offsets moved to where the pages land, and its
 * statistics folded into the fragment's, as if this writer had encoded it.
 */
void
FragmentWriterAddEncodedRowGroup(FragmentWriter *writer, const char *meta,
								 Size metalen, const char *pages,
								 Size pageslen)
{
	DecodeCursor in = {meta, meta + metalen};
	uint64		base = writer->offset;
	uint64		next = 0;
	uint32		nrows;
	MemoryContext old;

	Assert(!writer->finished && !writer->encoder);
	CheckRowGroupRoom(writer);
	if (!DecodeU32(&in, &nrows) || nrows < 1 ||
		nrows > COMPACT_FRAGMENT_MAX_ROWGROUP_ROWS)
		elog(ERROR, "invalid encoded row group");

	old = MemoryContextSwitchTo(writer->rgcxt);
	EncodeBufferPutU32(&writer->rgmeta, nrows);
	for (int c = 0; c < writer->ncolumns; c++)
	{
		WriterColumn *wc = &writer->columns[c];
		uint64		start;
		uint64		length;
		uint32		npages;
		uint64		null_count;
		uint8		flags;
		ChunkStats	stats;
		const char *from = in.p;

		if (!DecodeU64(&in, &start) || !DecodeU64(&in, &length) ||
			!DecodeU32(&in, &npages) || !DecodeU64(&in, &null_count) ||
			!DecodeU8(&in, &flags) || start != next || length > pageslen - start ||
			null_count > nrows || (flags & ~FOOTER_STATS_MINMAX) != 0 ||
			((flags & FOOTER_STATS_MINMAX) && wc->col.ssup == NULL))
			elog(ERROR, "invalid encoded row group");
		next = start + length;
		stats.null_count = (int64) null_count;
		stats.has_minmax = (flags & FOOTER_STATS_MINMAX) != 0;
		if (stats.has_minmax)
		{
			uint32		vlen;
			const char *bytes;

			if (!DecodeU32(&in, &vlen) || !DecodeSkip(&in, vlen, &bytes) ||
				!EncodingValueRead(bytes, vlen, wc->col.typlen,
								   wc->col.typbyval, &stats.min) ||
				!DecodeU32(&in, &vlen) || !DecodeSkip(&in, vlen, &bytes) ||
				!EncodingValueRead(bytes, vlen, wc->col.typlen,
								   wc->col.typbyval, &stats.max))
				elog(ERROR, "invalid encoded row group");
		}
		else if (wc->col.ssup != NULL && null_count < nrows)
			wc->minmax_lost = true;		/* as the encoder found */

		/* the entry, its offset moved */
		EncodeBufferPutU64(&writer->rgmeta, base + start);
		EncodeBufferAppend(&writer->rgmeta, from + sizeof(uint64),
						   in.p - from - sizeof(uint64));
		MergeFragmentStats(writer, wc, &stats);
	}
	if (in.p != in.end || next != pageslen)
		elog(ERROR, "invalid encoded row group");
	MemoryContextSwitchTo(old);

	AppendBytes(writer, pages, pageslen);
	FlushWrites(writer);
	writer->nrows += nrows;
	writer->nrowgroups++;
	MemoryContextReset(writer->rgcxt);
	COMPACT_FAULT_POINT("fragment_rowgroup_written");
}

/*
 * Can row groups of this reader be copied as they are: the same columns,
 * in the same order, of the same types?
 */
bool
FragmentWriterCanCopy(FragmentWriter *writer, FragmentReader *reader)
{
	if (FragmentReaderNumColumns(reader) != writer->ncolumns)
		return false;
	for (int c = 0; c < writer->ncolumns; c++)
	{
		const FragmentColumn *rc = FragmentReaderColumn(reader, c);
		const FragmentColumn *wc = &writer->columns[c].col;

		if (rc->attnum != wc->attnum || rc->typid != wc->typid ||
			rc->typlen != wc->typlen || rc->typbyval != wc->typbyval ||
			rc->typalign != wc->typalign)
			return false;
	}
	return true;
}

/*
 * Append a row group of another fragment by copying its stored pages, with
 * its statistics, without decoding anything: the fast path of a merge.
 * The caller has checked FragmentWriterCanCopy.
 */
void
FragmentWriterCopyRowGroup(FragmentWriter *writer, FragmentReader *reader,
						   int rowgroup)
{
	int			nrows = FragmentReaderRowGroupRows(reader, rowgroup);
	MemoryContext old;

	Assert(!writer->finished && !writer->encoder);
	CheckRowGroupRoom(writer);

	old = MemoryContextSwitchTo(writer->rgcxt);
	EncodeBufferPutU32(&writer->rgmeta, (uint32) nrows);
	for (int c = 0; c < writer->ncolumns; c++)
	{
		WriterColumn *wc = &writer->columns[c];
		ColumnStats cs;
		ChunkStats	stats;
		uint64		length;
		uint32		npages;
		const char *data = FragmentReaderRawChunk(reader, rowgroup, c,
												  &length, &npages);
		uint64		start = writer->offset;
		EncodeBuffer *meta = &writer->rgmeta;
		uint8		flags = 0;

		AppendFileRange(writer, FragmentReaderRawFile(reader),
						FragmentReaderChunkOffset(reader, rowgroup, c),
						data, length);

		FragmentReaderRowGroupStats(reader, rowgroup, c, &cs);
		stats.null_count = cs.null_count;
		/* statistics kept only if this writer would keep them too */
		stats.has_minmax = cs.has_minmax && wc->col.ssup != NULL;
		stats.min = cs.min;
		stats.max = cs.max;
		if (!stats.has_minmax && wc->col.ssup != NULL && cs.null_count < nrows)
			wc->minmax_lost = true;
		if (stats.has_minmax)
			flags |= FOOTER_STATS_MINMAX;

		EncodeBufferPutU64(meta, start);
		EncodeBufferPutU64(meta, length);
		EncodeBufferPutU32(meta, npages);
		EncodeBufferPutU64(meta, (uint64) stats.null_count);
		EncodeBufferPutU8(meta, flags);
		if (stats.has_minmax)
		{
			EncodeBufferPutU32(meta, (uint32) EncodingValueSize(stats.min, wc->col.typlen, wc->col.typbyval));
			EncodingValueAppend(meta, stats.min, wc->col.typlen, wc->col.typbyval);
			EncodeBufferPutU32(meta, (uint32) EncodingValueSize(stats.max, wc->col.typlen, wc->col.typbyval));
			EncodingValueAppend(meta, stats.max, wc->col.typlen, wc->col.typbyval);
		}
		MergeFragmentStats(writer, wc, &stats);
	}
	FlushWrites(writer);
	writer->nrows += nrows;
	writer->nrowgroups++;
	MemoryContextSwitchTo(old);
	MemoryContextReset(writer->rgcxt);
}

/*
 * Write the footer and trailer, make the file durable and describe it in
 * *info (stats allocated in CurrentMemoryContext).  The writer is freed.
 */
void
FragmentWriterFinish(FragmentWriter *writer, FragmentInfo *info)
{
	MemoryContext callercxt = CurrentMemoryContext;
	EncodeBuffer footer;
	FragmentTrailer trailer;
	pg_crc32c	crc;

	Assert(!writer->finished);
	MemoryContextSwitchTo(writer->cxt);

	EncodeBufferInit(&footer, FOOTER_FIXED_BYTES +
					 FOOTER_COLUMN_BYTES * writer->ncolumns +
					 writer->rgmeta.len);
	EncodeBufferPutU16(&footer, COMPACT_FRAGMENT_VERSION);
	EncodeBufferPutU16(&footer, 0);
	EncodeBufferPutU32(&footer, (uint32) writer->ncolumns);
	EncodeBufferPutU32(&footer, (uint32) writer->nrowgroups);
	EncodeBufferPutU64(&footer, (uint64) writer->nrows);
	for (int c = 0; c < writer->ncolumns; c++)
	{
		const FragmentColumn *col = &writer->columns[c].col;

		EncodeBufferPutU16(&footer, (uint16) col->attnum);
		EncodeBufferPutU32(&footer, col->typid);
		EncodeBufferPutU16(&footer, (uint16) col->typlen);
		EncodeBufferPutU8(&footer, col->typbyval ? 1 : 0);
		EncodeBufferPutU8(&footer, (uint8) col->typalign);
	}
	EncodeBufferAppend(&footer, writer->rgmeta.data, writer->rgmeta.len);
	if (footer.len > FRAGMENT_MAX_FOOTER_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("footer of fragment file \"%s\" is too large",
						writer->path),
				 errhint("Use larger row groups.")));

	INIT_CRC32C(crc);
	COMP_CRC32C(crc, footer.data, footer.len);
	FIN_CRC32C(crc);
	trailer.footer_len = (uint32) footer.len;
	trailer.footer_crc = crc;
	trailer.magic = COMPACT_FRAGMENT_MAGIC;

	AppendBytes(writer, footer.data, footer.len);
	AppendBytes(writer, &trailer, sizeof(trailer));
	FlushWrites(writer);
	if (writer->direct)
	{
		/* the last block, padded, then the file cut to its size */
		size_t		padded = TYPEALIGN(DIRECT_BLOCK_BYTES, writer->dlen);

		memset(writer->dbuf + writer->dlen, 0, padded - writer->dlen);
		WriteFully(writer, writer->dbuf, padded, writer->flushed);
		if (FileTruncate(writer->file, (off_t) writer->offset,
						 WAIT_EVENT_DATA_FILE_TRUNCATE) != 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not truncate file \"%s\": %m", writer->path)));
	}

	if (FileSync(writer->file, WAIT_EVENT_DATA_FILE_SYNC) != 0)
		ereport(data_sync_elevel(ERROR),
				(errcode_for_file_access(),
				 errmsg("could not fsync file \"%s\": %m", writer->path)));
	FileClose(writer->file);
	writer->file = -1;
	CompactFsyncParentDir(writer->path);
	writer->finished = true;

	/* durable: log its last bytes (if any), with its size */
	LogAtEnd(writer, writer->dbuf, writer->dlen, writer->offset);

	MemoryContextSwitchTo(callercxt);
	info->row_count = writer->nrows;
	info->row_groups = writer->nrowgroups;
	info->bytes = (int64) writer->offset;
	info->ncolumns = writer->ncolumns;
	info->stats = palloc0(sizeof(ColumnStats) * Max(writer->ncolumns, 1));
	for (int c = 0; c < writer->ncolumns; c++)
	{
		WriterColumn *wc = &writer->columns[c];
		ColumnStats *st = &info->stats[c];

		st->row_count = writer->nrows;
		st->null_count = wc->null_count;
		st->has_minmax = wc->has_minmax && !wc->minmax_lost;
		if (st->has_minmax)
		{
			st->min = datumCopy(wc->min, wc->col.typbyval, wc->col.typlen);
			st->max = datumCopy(wc->max, wc->col.typbyval, wc->col.typlen);
		}
	}

	MemoryContextDelete(writer->cxt);
}

/*
 * Give up on the fragment: close and remove the file, free the writer.
 * Safe after an ERROR inside the writer.
 */
void
FragmentWriterAbort(FragmentWriter *writer)
{
	/* an ERROR may have left us in one of the writer's contexts */
	for (MemoryContext c = CurrentMemoryContext; c != NULL; c = c->parent)
	{
		if (c == writer->cxt)
		{
			MemoryContextSwitchTo(writer->cxt->parent);
			break;
		}
	}
	MemoryContextDelete(writer->cxt);
}
