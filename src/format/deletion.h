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

/*
 * An updated row also records its successor, the row number of its new
 * version, so that a concurrent updater can follow it (heap's ctid chain).
 */
typedef struct RowSuccessor
{
	uint32		offset;
	int64		successor;
} RowSuccessor;

typedef struct DeletionVector
{
	uint32		nrows;			/* rows of the fragment */
	uint32		ndeleted;		/* bits set */
	uint8	   *bits;
	int			nsuccessors;
	RowSuccessor *successors;	/* sorted by offset */
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
extern bytea *DeletionSuccessorsEncode(const RowSuccessor *successors, int count);
extern void DeletionSuccessorsMerge(DeletionVector *dv, bytea *data);
extern int64 DeletionVectorSuccessor(const DeletionVector *dv, uint32 offset);

#endif							/* COMPACT_FORMAT_DELETION_H */
