/*-------------------------------------------------------------------------
 * format_internal.h
 *	  On-disk structures of fragment files, shared by writer and reader.
 *
 * File:	 FragmentFileHeader, column chunks, footer, FragmentTrailer.
 *
 * Page:	 FragmentPageHeader, then stored_size bytes: the encoded page body
 *			 (page_codec.h), zstd-compressed when compression is
 *			 PAGE_COMPRESSION_ZSTD (one frame that records its content size).
 *			 The CRC32C covers the header up to the crc field and the stored
 *			 bytes, so a flipped encoding or count byte is caught too.
 *
 * Footer:	 u16 version, u16 flags (0), u32 ncolumns, u32 nrowgroups,
 *			 u64 total rows;
 *			 per column: i16 attnum, u32 typid, i16 typlen, u8 typbyval,
 *			 u8 typalign;
 *			 per row group: u32 rows, then per column: u64 chunk offset,
 *			 u64 chunk length, u32 page count, u64 null count, u8 stats flags,
 *			 and with FOOTER_STATS_MINMAX, min and max as u32 length + value
 *			 bytes (EncodingValueAppend).
 *
 * The trailer's CRC32C covers the whole footer.  Fixed-size fields are in
 * the byte order of the machine that wrote them; packed bit streams are
 * little-endian.
 *
 * IDENTIFICATION
 *	  src/format/format_internal.h
 *-------------------------------------------------------------------------
 */
#ifndef COMPACT_FORMAT_FORMAT_INTERNAL_H
#define COMPACT_FORMAT_FORMAT_INTERNAL_H

#include "port/pg_crc32c.h"

typedef struct FragmentFileHeader
{
	uint32		magic;
	uint16		version;
	uint16		flags;			/* none defined; must be 0 */
} FragmentFileHeader;

typedef struct FragmentPageHeader
{
	uint8		encoding;		/* PAGE_ENCODING_* */
	uint8		compression;	/* PAGE_COMPRESSION_* */
	uint8		flags;			/* PAGE_FLAG_* */
	uint8		reserved;		/* must be 0 */
	uint32		nvalues;		/* rows in the page, NULLs included */
	uint32		raw_size;		/* encoded body size before compression */
	uint32		stored_size;	/* bytes following this header */
	uint32		crc;
} FragmentPageHeader;

typedef struct FragmentTrailer
{
	uint32		footer_len;
	uint32		footer_crc;
	uint32		magic;
} FragmentTrailer;

StaticAssertDecl(sizeof(FragmentFileHeader) == 8, "file header is 8 bytes");
StaticAssertDecl(sizeof(FragmentPageHeader) == 20, "page header is 20 bytes");
StaticAssertDecl(sizeof(FragmentTrailer) == 12, "trailer is 12 bytes");

#define PAGE_COMPRESSION_NONE	0
#define PAGE_COMPRESSION_ZSTD	1

/* a column chunk is cut into pages of about this many plain bytes */
#define FRAGMENT_PAGE_TARGET_BYTES	(1024 * 1024)

/* largest page the reader accepts (stored or raw) */
#define FRAGMENT_MAX_PAGE_BYTES		((uint32) PG_INT32_MAX)

/* row group min/max values longer than this are not kept */
#define FRAGMENT_STATS_MAX_VALUE_BYTES	1024

/* footer stats flags */
#define FOOTER_STATS_MINMAX		0x01

/* fixed part of the footer and of its entries */
#define FOOTER_FIXED_BYTES		(2 + 2 + 4 + 4 + 8)
#define FOOTER_COLUMN_BYTES		(2 + 4 + 2 + 1 + 1)
#define FOOTER_CHUNK_MIN_BYTES	(8 + 8 + 4 + 8 + 1)

/* largest footer the writer produces and the reader accepts */
#define FRAGMENT_MAX_FOOTER_BYTES	((uint32) (MaxAllocSize / 2))

static inline pg_crc32c
FragmentPageChecksum(const FragmentPageHeader *hdr, const char *data,
					 size_t len)
{
	pg_crc32c	crc;

	INIT_CRC32C(crc);
	COMP_CRC32C(crc, hdr, offsetof(FragmentPageHeader, crc));
	COMP_CRC32C(crc, data, len);
	FIN_CRC32C(crc);
	return crc;
}

#endif							/* COMPACT_FORMAT_FORMAT_INTERNAL_H */
