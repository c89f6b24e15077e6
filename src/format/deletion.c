/*-------------------------------------------------------------------------
 * deletion.c
 *	  Encode and decode deletion vectors.
 *
 * Stored form: { kind u8, pad u8[3], nrows u32, count u32 } then either
 * count row offsets (u32, strictly increasing) or a bitmap of nrows bits.
 * Decoding validates everything, so a damaged catalog value raises
 * ERRCODE_DATA_CORRUPTED instead of touching memory it should not.
 *
 * IDENTIFICATION
 *	  src/format/deletion.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "format/deletion.h"

#define DV_KIND_LIST	1
#define DV_KIND_BITMAP	2

typedef struct DeletionHeader
{
	uint8		kind;
	uint8		pad[3];
	uint32		nrows;
	uint32		count;
} DeletionHeader;

DeletionVector *
DeletionVectorCreate(uint32 nrows)
{
	DeletionVector *dv = palloc(sizeof(DeletionVector));

	dv->nrows = nrows;
	dv->ndeleted = 0;
	dv->bits = palloc0(nrows / 8 + 1);
	dv->nsuccessors = 0;
	dv->successors = NULL;
	return dv;
}

/* Set a bit; returns false if it was already set. */
bool
DeletionVectorSet(DeletionVector *dv, uint32 row)
{
	Assert(row < dv->nrows);
	if (DeletionVectorIsSet(dv, row))
		return false;
	dv->bits[row >> 3] |= (uint8) (1 << (row & 7));
	dv->ndeleted++;
	return true;
}

/*
 * Encode a sorted, duplicate-free list of row offsets of a fragment of nrows
 * rows.
 */
bytea *
DeletionVectorEncode(const uint32 *rows, uint32 count, uint32 nrows)
{
	Size		listsize = (Size) count * sizeof(uint32);
	Size		bitmapsize = nrows / 8 + 1;
	bool		aslist = listsize <= bitmapsize;
	Size		size = sizeof(DeletionHeader) + (aslist ? listsize : bitmapsize);
	bytea	   *result = palloc0(VARHDRSZ + size);
	DeletionHeader *hdr = (DeletionHeader *) VARDATA(result);
	char	   *body = (char *) hdr + sizeof(DeletionHeader);

	SET_VARSIZE(result, VARHDRSZ + size);
	hdr->kind = aslist ? DV_KIND_LIST : DV_KIND_BITMAP;
	hdr->nrows = nrows;
	hdr->count = count;
	if (aslist)
		memcpy(body, rows, listsize);
	else
	{
		uint8	   *bits = (uint8 *) body;

		for (uint32 i = 0; i < count; i++)
			bits[rows[i] >> 3] |= (uint8) (1 << (rows[i] & 7));
	}
	return result;
}

static void
DeletionCorrupted(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("deletion vector is corrupted"),
			 errdetail("%s", what)));
}

/*
 * Check a stored vector and copy its header into *hdr (the data may be
 * unaligned: a short varlena straight from a heap tuple).  Returns the body.
 */
static const char *
DeletionHeaderCheck(bytea *data, DeletionHeader *hdr)
{
	Size		len = VARSIZE_ANY_EXHDR(data);

	if (len < sizeof(DeletionHeader))
		DeletionCorrupted("The value is shorter than its header.");
	memcpy(hdr, VARDATA_ANY(data), sizeof(DeletionHeader));
	if (hdr->kind == DV_KIND_LIST)
	{
		if (len != sizeof(DeletionHeader) + (Size) hdr->count * sizeof(uint32))
			DeletionCorrupted("The row list has the wrong length.");
	}
	else if (hdr->kind == DV_KIND_BITMAP)
	{
		if (len != sizeof(DeletionHeader) + hdr->nrows / 8 + 1)
			DeletionCorrupted("The bitmap has the wrong length.");
	}
	else
		DeletionCorrupted("Unknown encoding.");
	return VARDATA_ANY(data) + sizeof(DeletionHeader);
}

uint32
DeletionVectorEncodedCount(bytea *data)
{
	DeletionHeader hdr;

	(void) DeletionHeaderCheck(data, &hdr);
	return hdr.count;
}

/*
 * OR a stored deletion vector into dv.  The data may be unaligned (a short
 * varlena straight from a heap tuple).
 */
void
DeletionVectorMerge(DeletionVector *dv, bytea *data)
{
	DeletionHeader header;
	const DeletionHeader *hdr = &header;
	const char *body = DeletionHeaderCheck(data, &header);

	if (hdr->nrows != dv->nrows)
		DeletionCorrupted("The vector does not match the fragment's row count.");

	if (hdr->kind == DV_KIND_LIST)
	{
		for (uint32 i = 0; i < hdr->count; i++)
		{
			uint32		row;

			memcpy(&row, body + i * sizeof(uint32), sizeof(uint32));
			if (row >= dv->nrows)
				DeletionCorrupted("A row offset is past the end of the fragment.");
			DeletionVectorSet(dv, row);
		}
	}
	else
	{
		const uint8 *bits = (const uint8 *) body;

		for (uint32 i = 0; i < dv->nrows; i++)
			if ((bits[i >> 3] >> (i & 7)) & 1)
				DeletionVectorSet(dv, i);
	}
}

/*
 * Successors are stored as an array of RowSuccessor, sorted by offset.
 */
bytea *
DeletionSuccessorsEncode(const RowSuccessor *successors, int count)
{
	Size		size = sizeof(RowSuccessor) * count;
	bytea	   *result = palloc(VARHDRSZ + size);

	SET_VARSIZE(result, VARHDRSZ + size);
	memcpy(VARDATA(result), successors, size);
	return result;
}

static int
CompareSuccessors(const void *a, const void *b)
{
	uint32		x = ((const RowSuccessor *) a)->offset;
	uint32		y = ((const RowSuccessor *) b)->offset;

	return x < y ? -1 : (x > y ? 1 : 0);
}

/* Add stored successors to dv (whose bits already mark those rows). */
void
DeletionSuccessorsMerge(DeletionVector *dv, bytea *data)
{
	Size		len = VARSIZE_ANY_EXHDR(data);
	int			n = len / sizeof(RowSuccessor);

	if (len % sizeof(RowSuccessor) != 0)
		DeletionCorrupted("The successor list has the wrong length.");
	if (n == 0)
		return;
	if (dv->successors == NULL)
		dv->successors = palloc(sizeof(RowSuccessor) * n);
	else
		dv->successors = repalloc(dv->successors,
								  sizeof(RowSuccessor) * (dv->nsuccessors + n));
	memcpy(dv->successors + dv->nsuccessors, VARDATA_ANY(data), len);
	for (int i = dv->nsuccessors; i < dv->nsuccessors + n; i++)
		if (dv->successors[i].offset >= dv->nrows)
			DeletionCorrupted("A successor's row offset is past the end of the fragment.");
	dv->nsuccessors += n;
	qsort(dv->successors, dv->nsuccessors, sizeof(RowSuccessor), CompareSuccessors);
}

/* The successor of an updated row, or -1 if the row was deleted. */
int64
DeletionVectorSuccessor(const DeletionVector *dv, uint32 offset)
{
	int			lo = 0;
	int			hi = dv->nsuccessors - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;

		if (dv->successors[mid].offset == offset)
			return dv->successors[mid].successor;
		if (dv->successors[mid].offset < offset)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}
