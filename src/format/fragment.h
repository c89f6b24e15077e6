/*-------------------------------------------------------------------------
 * fragment.h
 *	  Fragment files: immutable, columnar, zstd-compressed data files.
 *
 * This layer knows bytes and Datums, nothing about tuples, snapshots or the
 * table access method.  Callers hand it column-major arrays of Datums and get
 * them back.
 *
 * On-disk layout (all integers little-endian, as written by this machine):
 *
 *	 FileHeader  { magic u32, version u16, flags u16 }
 *	 row group 0: column chunk 0: page, page, ...; column chunk 1: ...
 *	 row group 1: ...
 *	 Footer      { schema, per row group: row count, per column: chunk
 *				   offset, length, page count, statistics }
 *	 Trailer     { footer length u32, footer CRC32C u32, magic u32 }
 *
 * Every page starts with a PageHeader (encoding, compression, value count,
 * raw and stored sizes, CRC32C of the stored bytes).  A value inside a page
 * is encoded (plain, dictionary, frame-of-reference bit-packing, delta,
 * scaled decimal floats), then the page is zstd-compressed when that pays.
 *
 * Reading a damaged file raises ERRCODE_DATA_CORRUPTED with the file name and
 * offset; it never crashes or returns wrong values.
 *
 * IDENTIFICATION
 *	  src/format/fragment.h
 *-------------------------------------------------------------------------
 */
#ifndef COMPACT_FORMAT_FRAGMENT_H
#define COMPACT_FORMAT_FRAGMENT_H

#include "utils/sortsupport.h"

#define COMPACT_FRAGMENT_MAGIC		0x46504D43	/* "CMPF" */
#define COMPACT_FRAGMENT_VERSION	1

/* rows of one row group: 1 .. this */
#define COMPACT_FRAGMENT_MAX_ROWGROUP_ROWS	(16 * 1024 * 1024)

/*
 * One column of a fragment.  attnum ties the column to the table's
 * attribute; the type fields say how Datums look in memory.  Varlena values
 * handed to the writer must be detoasted (no external or compressed datums);
 * short (1-byte header) varlenas are fine.  cstring (typlen -2) is supported.
 *
 * ssup, if not NULL, is a prepared SortSupport of the type's default btree
 * opclass: the writer then keeps min/max statistics for the column.
 */
typedef struct FragmentColumn
{
	int16		attnum;
	Oid			typid;
	int16		typlen;
	bool		typbyval;
	char		typalign;
	SortSupport ssup;			/* writer only; NULL: no min/max */
} FragmentColumn;

/*
 * Statistics of one column over some rows (a row group, or a whole fragment).
 * min and max are valid only if has_minmax; for by-reference types they point
 * into memory owned by whoever returned the struct.
 */
typedef struct ColumnStats
{
	int64		row_count;
	int64		null_count;
	bool		has_minmax;
	Datum		min;
	Datum		max;
} ColumnStats;

typedef struct FragmentWriter FragmentWriter;
typedef struct FragmentReader FragmentReader;

/* What FragmentWriterFinish reports about the file it wrote. */
typedef struct FragmentInfo
{
	int64		row_count;
	int32		row_groups;
	int64		bytes;			/* size of the file */
	int			ncolumns;
	ColumnStats *stats;			/* per column, over the whole fragment */
} FragmentInfo;

/* fragment_writer.c */
extern FragmentWriter *FragmentWriterBegin(const char *path, int ncolumns,
										   const FragmentColumn *columns,
										   int compression_level);
extern FragmentWriter *FragmentWriterBeginOutput(Oid relfilenode, int64 id,
												 TransactionId xid,
												 int ncolumns,
												 const FragmentColumn *columns,
												 int compression_level,
												 bool direct);
extern void FragmentWriterAddRowGroup(FragmentWriter *writer, int nrows,
									  Datum **values, bool **isnull);
extern FragmentWriter *FragmentWriterBeginEncoder(int ncolumns,
												  const FragmentColumn *columns,
												  int compression_level);
extern void FragmentWriterEncodeRowGroup(FragmentWriter *encoder, int nrows,
										 Datum **values, bool **isnull,
										 const char **meta, Size *metalen,
										 const char **pages, Size *pageslen);
extern void FragmentWriterAddEncodedRowGroup(FragmentWriter *writer,
											 const char *meta, Size metalen,
											 const char *pages, Size pageslen);
extern bool FragmentWriterCanCopy(FragmentWriter *writer, FragmentReader *reader);
extern void FragmentWriterCopyRowGroup(FragmentWriter *writer,
									   FragmentReader *reader, int rowgroup);
extern void FragmentWriterFinish(FragmentWriter *writer, FragmentInfo *info);
extern void FragmentWriterAbort(FragmentWriter *writer);

/* fragment_live.c */
extern bool FragmentRowGroupCopied(int rows, const uint8 *deleted, int64 first,
								   int rowgroup_size);
extern int64 FragmentWriterAddLive(FragmentWriter *writer, FragmentReader *reader,
								   const uint8 *deleted, int rowgroup_size);

/* fragment_reader.c */
extern FragmentReader *FragmentReaderOpen(const char *path);
extern void FragmentReaderClose(FragmentReader *reader);
extern int	FragmentReaderNumColumns(FragmentReader *reader);
extern const FragmentColumn *FragmentReaderColumn(FragmentReader *reader,
												  int column);
extern int	FragmentReaderFindColumn(FragmentReader *reader, int16 attnum);
extern int	FragmentReaderNumRowGroups(FragmentReader *reader);
extern int	FragmentReaderRowGroupRows(FragmentReader *reader, int rowgroup);
extern int64 FragmentReaderNumRows(FragmentReader *reader);
extern void FragmentReaderRowGroupStats(FragmentReader *reader, int rowgroup,
										int column, ColumnStats *stats);
extern void FragmentReaderReadColumn(FragmentReader *reader, int rowgroup,
									 int column, Datum *values, bool *isnull);
extern const char *FragmentReaderRawChunk(FragmentReader *reader, int rowgroup,
										  int column, uint64 *length,
										  uint32 *npages);
extern uint64 FragmentReaderChunkOffset(FragmentReader *reader, int rowgroup,
										int column);
extern int	FragmentReaderRawFile(FragmentReader *reader);
extern const char *FragmentReaderPath(FragmentReader *reader);

/* fragment_stats.c: fragment-level statistics as bytes for the catalog */
extern bytea *FragmentStatsSerialize(int ncolumns,
									 const FragmentColumn *columns,
									 const ColumnStats *stats);
extern int	FragmentStatsDeserialize(bytea *data, int16 **attnums,
									 ColumnStats **stats);

#endif							/* COMPACT_FORMAT_FRAGMENT_H */
