/*-------------------------------------------------------------------------
 * metapage.c
 *	  Block 0 of a compact table's main fork: the counters of its storage.
 *
 * The metapage hands out row numbers and fragment ids.  Both counters only
 * grow (except that a writer may give back the unused tail of its own
 * reservation while nobody reserved after it), so row numbers, and with them
 * TIDs, are never reused within a storage.  Changes are WAL-logged through
 * generic WAL, under the buffer's exclusive lock, so they are crash-safe,
 * replicated and not transactional: an aborted reservation leaves a gap.
 *
 * IDENTIFICATION
 *	  src/tableam/metapage.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/generic_xlog.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "access/xloginsert.h"
#include "storage/bufmgr.h"
#include "storage/bufpage.h"

#include "tableam/tableam.h"

#define COMPACT_METAPAGE_MAGIC		0x434D5450	/* "CMTP" */
#define COMPACT_METAPAGE_VERSION	1

typedef struct CompactMetapageData
{
	uint32		magic;
	uint32		version;
	int64		next_row;
	int64		next_fragment;
} CompactMetapageData;

#define CompactPageGetMeta(page) ((CompactMetapageData *) PageGetContents(page))

/*
 * Write the metapage of a new storage (CREATE TABLE, TRUNCATE, rewrites).
 */
void
MetapageInit(SMgrRelation srel, bool needs_wal)
{
	PGAlignedBlock buf;
	Page		page = (Page) buf.data;
	CompactMetapageData *meta;

	PageInit(page, BLCKSZ, 0);
	meta = CompactPageGetMeta(page);
	meta->magic = COMPACT_METAPAGE_MAGIC;
	meta->version = COMPACT_METAPAGE_VERSION;
	meta->next_row = 0;
	meta->next_fragment = 1;
	((PageHeader) page)->pd_lower =
		((char *) meta + sizeof(CompactMetapageData)) - (char *) page;

	if (needs_wal)
		log_newpage(&srel->smgr_rnode.node, MAIN_FORKNUM, 0, page, true);
	PageSetChecksumInplace(page, 0);
	smgrextend(srel, MAIN_FORKNUM, 0, buf.data, true);

	/*
	 * The page bypassed shared buffers: sync it now, since a checkpoint that
	 * started before the WAL record above would not.
	 */
	smgrimmedsync(srel, MAIN_FORKNUM);
}

/*
 * Lock the metapage and start a generic WAL record on it; the caller
 * changes the returned struct and calls MetapageFinish.
 */
static CompactMetapageData *
MetapageBegin(Relation rel, Buffer *buf, GenericXLogState **state)
{
	Page		page;
	CompactMetapageData *meta;

	*buf = ReadBuffer(rel, 0);
	LockBuffer(*buf, BUFFER_LOCK_EXCLUSIVE);
	*state = GenericXLogStart(rel);
	page = GenericXLogRegisterBuffer(*state, *buf, 0);
	meta = CompactPageGetMeta(page);
	if (meta->magic != COMPACT_METAPAGE_MAGIC)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("metapage of compact table \"%s\" is corrupted",
						RelationGetRelationName(rel)),
				 errdetail("Bad magic number %08X in block 0.", meta->magic)));
	return meta;
}

static XLogRecPtr
MetapageFinish(Buffer buf, GenericXLogState *state, bool changed)
{
	XLogRecPtr	lsn = InvalidXLogRecPtr;

	if (changed)
		lsn = GenericXLogFinish(state);
	else
		GenericXLogAbort(state);
	UnlockReleaseBuffer(buf);
	return lsn;
}

/*
 * Reserve count row numbers; returns the first.  A caller whose previous
 * reservation ended where this one starts may treat both as one range.
 */
int64
MetapageReserveRows(Relation rel, int64 count)
{
	Buffer		buf;
	GenericXLogState *state;
	CompactMetapageData *meta = MetapageBegin(rel, &buf, &state);
	int64		start = meta->next_row;

	if (start + count > COMPACT_MAX_ROW_NUMBER)
	{
		MetapageFinish(buf, state, false);
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("compact table \"%s\" has run out of row numbers",
						RelationGetRelationName(rel)),
				 errhint("Rewrite the table with VACUUM FULL.")));
	}
	meta->next_row = start + count;
	MetapageFinish(buf, state, true);
	return start;
}

/*
 * Give back the unused tail [from, to) of a reservation, if nobody reserved
 * after it.
 */
void
MetapageReleaseRows(Relation rel, int64 from, int64 to)
{
	Buffer		buf;
	GenericXLogState *state;
	CompactMetapageData *meta = MetapageBegin(rel, &buf, &state);
	bool		release = meta->next_row == to && from < to;

	if (release)
		meta->next_row = from;
	MetapageFinish(buf, state, release);
}

int64
MetapageNextFragmentId(Relation rel)
{
	Buffer		buf;
	GenericXLogState *state;
	CompactMetapageData *meta;
	int64		id;
	XLogRecPtr	lsn;

	/*
	 * The file's name also carries the writer's xid: have it assigned before
	 * the record, which then carries it, so that once the record is flushed
	 * recovery moves the next xid past it and never hands it out again.  A
	 * reused xid would make a crashed writer's orphan look like the file of
	 * a running transaction.
	 */
	(void) GetCurrentTransactionId();
	meta = MetapageBegin(rel, &buf, &state);
	id = meta->next_fragment++;
	lsn = MetapageFinish(buf, state, true);

	/*
	 * The id names a file about to be created: make the counter durable
	 * first, or a crash could hand the same id, and file name, out again.
	 */
	if (!XLogRecPtrIsInvalid(lsn))
		XLogFlush(lsn);
	return id;
}

/* The first row number never handed out (for TID validity checks). */
int64
MetapageNextRow(Relation rel)
{
	Buffer		buf = ReadBuffer(rel, 0);
	int64		next;

	LockBuffer(buf, BUFFER_LOCK_SHARE);
	next = CompactPageGetMeta(BufferGetPage(buf))->next_row;
	UnlockReleaseBuffer(buf);
	return next;
}
