/*-------------------------------------------------------------------------
 * deletion.h
 *	  Deletion vectors: which rows of a fragment are deleted, as bytes.
 *
 * In memory a deletion vector is a bitmap over the fragment's rows.  Stored,
 * it is whichever is smaller of a sorted list of row offsets and the bitmap,
 * behind a small header.
 *
 * IDENTIFICATION
 *	  src/format/deletion.h
 *-------------------------------------------------------------------------
 */
#ifndef COMPACT_FORMAT_DELETION_H
#define COMPACT_FORMAT_DELETION_H

typedef struct DeletionVector
{
	uint32		nrows;			/* rows of the fragment */
	uint32		ndeleted;		/* bits set */
	uint8	   *bits;
} DeletionVector;

#define DeletionVectorIsSet(dv, row) \
	(((dv)->bits[(row) >> 3] >> ((row) & 7)) & 1)

/* deletion.c */
extern DeletionVector *DeletionVectorCreate(uint32 nrows);
extern bool DeletionVectorSet(DeletionVector *dv, uint32 row);
extern bytea *DeletionVectorEncode(const uint32 *rows, uint32 count,
								   uint32 nrows);
extern void DeletionVectorMerge(DeletionVector *dv, bytea *data);
extern uint32 DeletionVectorEncodedCount(bytea *data);

#endif							/* COMPACT_FORMAT_DELETION_H */
