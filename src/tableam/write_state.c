/*-------------------------------------------------------------------------
 * write_state.c
 *	  Per-transaction write buffers and pending deletes of compact tables.
 *
 * INSERT and COPY append rows to a write segment of the (transaction,
 * storage); a segment becomes one fragment file when it outgrows
 * compact.write_buffer_size and at pre-commit.  Each segment belongs to the
 * (sub)transaction that created it: a subtransaction never appends to its
 * parent's segment, so a segment can always be flushed under the
 * subtransaction that owns it and discarded when that one aborts.  On
 * subcommit, segments pass to the parent.
 *
 * DELETE records (row number, command id) here until pre-commit, when the
 * deletions become rows of compact.deletion, after every segment has been
 * flushed.
 *
 * Row numbers are reserved from the metapage at insert time, because the
 * executor needs the TID at once to insert index entries.  Other backends
 * can meet those TIDs in a unique index before the rows exist in any
 * fragment, so each segment also publishes its row range and inserting xid
 * in shared memory (the reservation table): a unique check that finds such a
 * TID waits for that transaction, as it would for a heap tuple being
 * inserted.
 *
 * State lives in a memory context under TopTransactionContext and vanishes
 * with the transaction; xact callbacks drop the pointers.
 *
 * IDENTIFICATION
 *	  src/tableam/write_state.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "access/parallel.h"
#include "access/table.h"
#include "access/xact.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/datum.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/relfilenodemap.h"
#include "utils/snapmgr.h"

#include "compact.h"
#include "format/files.h"
#include "format/filewal.h"
#include "tableam/tableam.h"

/* first reservation of row numbers of a segment, and the largest step */
#define FIRST_RESERVATION	1024
#define MAX_RESERVATION		(1 << 20)
/* rows per segment (and so per fragment written by INSERT or COPY) */
#define MAX_SEGMENT_ROWS	(16 << 20)
#define ARENA_FIRST_BLOCK	(64 * 1024)
#define ARENA_MAX_BLOCK		(8 * 1024 * 1024)

typedef struct RelWriteState
{
	RelFileNode node;			/* hash key */
	List	   *segments;		/* WriteSegment *, oldest first */
	int64		ndeletes;		/* pending deletes of this storage */
	bool		frozen;			/* full rewrite: fragments visible to all */
	bool		flushed;		/* a fragment was written */
} RelWriteState;

typedef struct PendingDeleteKey
{
	RelFileNode node;
	int32		pad;
	int64		rownum;
} PendingDeleteKey;

typedef struct PendingDelete
{
	PendingDeleteKey key;
	CommandId	cid;
	SubTransactionId subid;
	int64		successor;		/* new version's row number, or -1 */
	bool		alias;			/* only hides a row a compaction copied */
} PendingDelete;

/* the shared reservation table */
typedef struct Reservation
{
	Oid			dboid;			/* InvalidOid: free */
	Oid			relnode;
	int64		first;
	int64		end;
	TransactionId xid;
	int			pgprocno;
} Reservation;

typedef struct ReservationTable
{
	LWLock	   *lock;
	int			nslots;
	Reservation slots[FLEXIBLE_ARRAY_MEMBER];
} ReservationTable;

static MemoryContext WriteStateContext = NULL;
static HTAB *RelStates = NULL;
static HTAB *PendingDeletes = NULL;
static bool HoldsReservations = false;

static ReservationTable *Reservations = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

compact_commit_hook_type compact_commit_hook = NULL;

/* where flushed fragments go instead of the manifest (parallel COPY) */
static WriteStateSink FragmentSink = NULL;
static void *FragmentSinkArg = NULL;
static int64 FirstReservation = FIRST_RESERVATION;

static void FlushSegment(Relation rel, RelWriteState *rs, WriteSegment *seg);
static void DetachSegment(RelWriteState *rs, WriteSegment *seg);


/* ----------------------------------------------------------------
 * shared reservation table
 * ----------------------------------------------------------------
 */

static int
ReservationSlots(void)
{
	return 4 * MaxBackends + 64;
}

static void
compact_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(add_size(offsetof(ReservationTable, slots),
									mul_size(ReservationSlots(), sizeof(Reservation))));
	RequestNamedLWLockTranche("compact", 1);
}

static void
compact_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	Reservations = ShmemInitStruct("compact reservations",
								   add_size(offsetof(ReservationTable, slots),
											mul_size(ReservationSlots(), sizeof(Reservation))),
								   &found);
	if (!found)
	{
		Reservations->lock = &(GetNamedLWLockTranche("compact"))->lock;
		Reservations->nslots = ReservationSlots();
		memset(Reservations->slots, 0, sizeof(Reservation) * Reservations->nslots);
	}
	LWLockRelease(AddinShmemInitLock);
}

static int
ReservationAdd(RelFileNode node, int64 first, int64 end)
{
	TransactionId xid = GetCurrentTransactionId();

	LWLockAcquire(Reservations->lock, LW_EXCLUSIVE);
	for (int i = 0; i < Reservations->nslots; i++)
	{
		Reservation *r = &Reservations->slots[i];

		if (OidIsValid(r->dboid))
			continue;
		r->dboid = MyDatabaseId;
		r->relnode = node.relNode;
		r->first = first;
		r->end = end;
		r->xid = xid;
		r->pgprocno = MyProc->pgprocno;
		LWLockRelease(Reservations->lock);
		HoldsReservations = true;
		return i;
	}
	LWLockRelease(Reservations->lock);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
			 errmsg("too many concurrent writes to compact tables"),
			 errhint("Commit transactions that insert into many compact tables sooner, or raise max_connections.")));
	return -1;					/* keep compiler quiet */
}

static void
ReservationExtend(int slot, int64 end)
{
	LWLockAcquire(Reservations->lock, LW_EXCLUSIVE);
	Reservations->slots[slot].end = end;
	LWLockRelease(Reservations->lock);
}

static void
ReservationRemove(int slot)
{
	if (slot < 0)
		return;
	LWLockAcquire(Reservations->lock, LW_EXCLUSIVE);
	Reservations->slots[slot].dboid = InvalidOid;
	LWLockRelease(Reservations->lock);
}

static void
ReservationRemoveAll(void)
{
	if (!HoldsReservations || Reservations == NULL)
		return;
	LWLockAcquire(Reservations->lock, LW_EXCLUSIVE);
	for (int i = 0; i < Reservations->nslots; i++)
		if (Reservations->slots[i].pgprocno == MyProc->pgprocno)
			Reservations->slots[i].dboid = InvalidOid;
	LWLockRelease(Reservations->lock);
	HoldsReservations = false;
}

/*
 * The transaction that is inserting a row number through a write segment
 * not yet flushed, or InvalidTransactionId.
 */
TransactionId
WriteStateInsertingXid(RelFileNode node, int64 rownum)
{
	TransactionId xid = InvalidTransactionId;

	LWLockAcquire(Reservations->lock, LW_SHARED);
	for (int i = 0; i < Reservations->nslots; i++)
	{
		Reservation *r = &Reservations->slots[i];

		if (r->dboid == MyDatabaseId && r->relnode == node.relNode &&
			rownum >= r->first && rownum < r->end)
		{
			xid = r->xid;
			break;
		}
	}
	LWLockRelease(Reservations->lock);
	return xid;
}


/* ----------------------------------------------------------------
 * state lookup
 * ----------------------------------------------------------------
 */

static void
WriteStateCreate(void)
{
	HASHCTL		ctl;

	WriteStateContext = AllocSetContextCreate(TopTransactionContext,
											  "compact write state",
											  ALLOCSET_DEFAULT_SIZES);
	ctl.keysize = sizeof(RelFileNode);
	ctl.entrysize = sizeof(RelWriteState);
	ctl.hcxt = WriteStateContext;
	RelStates = hash_create("compact write states", 16, &ctl,
							HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	ctl.keysize = sizeof(PendingDeleteKey);
	ctl.entrysize = sizeof(PendingDelete);
	PendingDeletes = hash_create("compact pending deletes", 1024, &ctl,
								 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

static RelWriteState *
GetRelState(RelFileNode node, bool create)
{
	RelWriteState *rs;
	bool		found;

	if (RelStates == NULL)
	{
		if (!create)
			return NULL;
		WriteStateCreate();
	}
	rs = hash_search(RelStates, &node, create ? HASH_ENTER : HASH_FIND, &found);
	if (rs && !found)
	{
		rs->segments = NIL;
		rs->ndeletes = 0;
		rs->frozen = false;
		rs->flushed = false;
	}
	return rs;
}


/* ----------------------------------------------------------------
 * write segments
 * ----------------------------------------------------------------
 */

static WriteSegment *
NewSegment(Relation rel, RelWriteState *rs, int64 first_row, int64 reserved)
{
	MemoryContext cxt = AllocSetContextCreate(WriteStateContext,
											  "compact write segment",
											  ALLOCSET_DEFAULT_SIZES);
	WriteSegment *seg = MemoryContextAllocZero(cxt, sizeof(WriteSegment));
	int			natts = RelationGetDescr(rel)->natts;

	CompactTuneMalloc();

	seg->node = rel->rd_node;
	seg->subid = GetCurrentSubTransactionId();
	seg->first_row = first_row;
	seg->reserved = reserved;
	seg->natts = natts;
	seg->capacity = 1024;
	seg->cxt = cxt;
	seg->values = MemoryContextAlloc(cxt, sizeof(Datum *) * Max(natts, 1));
	seg->isnull = MemoryContextAlloc(cxt, sizeof(bool *) * Max(natts, 1));
	for (int i = 0; i < natts; i++)
	{
		seg->values[i] = MemoryContextAlloc(cxt, sizeof(Datum) * seg->capacity);
		seg->isnull[i] = MemoryContextAlloc(cxt, sizeof(bool) * seg->capacity);
	}
	seg->cids = MemoryContextAlloc(cxt, sizeof(CommandId) * seg->capacity);
	seg->bytes = seg->capacity * (natts * (sizeof(Datum) + 1) + sizeof(CommandId));
	seg->slot = ReservationAdd(seg->node, first_row, first_row + reserved);

	{
		MemoryContext old = MemoryContextSwitchTo(WriteStateContext);

		rs->segments = lappend(rs->segments, seg);
		MemoryContextSwitchTo(old);
	}
	return seg;
}

/* a copy of an array in twice the space (advised before the copy) */
static void *
GrowArray(MemoryContext cxt, void *array, Size size)
{
	void	   *bigger = CompactAllocLarge(cxt, size * 2);

	memcpy(bigger, array, size);
	pfree(array);
	return bigger;
}

static void
GrowSegment(WriteSegment *seg)
{
	int			newcap = seg->capacity * 2;

	for (int i = 0; i < seg->natts; i++)
	{
		seg->values[i] = GrowArray(seg->cxt, seg->values[i], sizeof(Datum) * seg->capacity);
		seg->isnull[i] = GrowArray(seg->cxt, seg->isnull[i], sizeof(bool) * seg->capacity);
	}
	seg->cids = GrowArray(seg->cxt, seg->cids, sizeof(CommandId) * seg->capacity);
	seg->bytes += (newcap - seg->capacity) *
		(seg->natts * (sizeof(Datum) + 1) + sizeof(CommandId));
	seg->capacity = newcap;
}

/* Copy len bytes into the segment's arena, aligned as typalign says. */
static char *
ArenaCopy(WriteSegment *seg, const void *data, Size len, char typalign)
{
	Size		offset = att_align_nominal(seg->arena_used, typalign);
	char	   *dst;

	if (seg->arena == NULL || offset + len > seg->arena_size)
	{
		Size		size = seg->arena ? Min(seg->arena_size * 2, ARENA_MAX_BLOCK) :
		ARENA_FIRST_BLOCK;

		/* bytes counts what the full blocks hold; arena_used the last one */
		size = Max(size, len + MAXIMUM_ALIGNOF);
		seg->bytes += seg->arena_used;
		seg->arena = CompactAllocLarge(seg->cxt, size);
		seg->arena_size = size;
		offset = 0;
	}
	dst = seg->arena + offset;
	memcpy(dst, data, len);
	seg->arena_used = offset + len;
	return dst;
}

/*
 * Find or make the segment the current subtransaction appends to, with a
 * free row number.
 */
static WriteSegment *
SegmentForInsert(Relation rel, RelWriteState *rs)
{
	WriteSegment *seg = rs->segments ? llast(rs->segments) : NULL;
	int64		start;

	if (seg == NULL || seg->sealed ||
		seg->subid != GetCurrentSubTransactionId() ||
		seg->natts != RelationGetDescr(rel)->natts)
	{
		if (seg && !seg->sealed)
			seg->sealed = true;
		start = MetapageReserveRows(rel, FirstReservation);
		return NewSegment(rel, rs, start, FirstReservation);
	}

	if (seg->nrows < seg->reserved)
		return seg;

	/* out of row numbers: extend the reservation, in place if we can */
	{
		int64		step = Min(Max(seg->reserved, FIRST_RESERVATION), MAX_RESERVATION);

		start = MetapageReserveRows(rel, step);
		if (start == seg->first_row + seg->reserved &&
			seg->reserved + step <= MAX_SEGMENT_ROWS)
		{
			seg->reserved += step;
			ReservationExtend(seg->slot, seg->first_row + seg->reserved);
			return seg;
		}
		seg->sealed = true;
		return NewSegment(rel, rs, start, step);
	}
}

/*
 * Buffer one row for the current transaction and set slot->tts_tid.
 */
void
CompactWriteRow(Relation rel, TupleTableSlot *slot, CommandId cid)
{
	RelWriteState *rs = GetRelState(rel->rd_node, true);
	WriteSegment *seg = SegmentForInsert(rel, rs);
	TupleDesc	desc = RelationGetDescr(rel);
	int			row;

	if (seg->nrows == seg->capacity)
		GrowSegment(seg);
	row = seg->nrows;

	slot_getallattrs(slot);
	for (int i = 0; i < seg->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		Datum		value = slot->tts_values[i];

		if (att->attisdropped || slot->tts_isnull[i])
		{
			seg->values[i][row] = (Datum) 0;
			seg->isnull[i][row] = true;
			continue;
		}
		seg->isnull[i][row] = false;
		if (att->attbyval)
			seg->values[i][row] = value;
		else if (att->attlen == -1)
		{
			struct varlena *v = (struct varlena *) DatumGetPointer(value);

			if (VARATT_IS_EXTERNAL(v) || VARATT_IS_COMPRESSED(v))
			{
				struct varlena *flat = detoast_attr(v);

				seg->values[i][row] =
					PointerGetDatum(ArenaCopy(seg, flat, VARSIZE(flat), att->attalign));
				pfree(flat);
			}
			else
				seg->values[i][row] =
					PointerGetDatum(ArenaCopy(seg, v, VARSIZE_ANY(v),
											  VARATT_IS_SHORT(v) ? 'c' : att->attalign));
		}
		else
		{
			Size		len = att->attlen > 0 ? att->attlen :
			strlen(DatumGetCString(value)) + 1;

			seg->values[i][row] =
				PointerGetDatum(ArenaCopy(seg, DatumGetPointer(value), len, att->attalign));
		}
	}
	seg->cids[row] = cid;
	seg->nrows++;

	CompactRowNumberToTid(seg->first_row + row, &slot->tts_tid);
	slot->tts_tableOid = RelationGetRelid(rel);

	if (seg->bytes + seg->arena_used >= (Size) compact_write_buffer_kb * 1024 ||
		seg->nrows >= MAX_SEGMENT_ROWS)
		FlushSegment(rel, rs, seg);
}

/*
 * Write a segment as one fragment file and record it in the manifest, in
 * the (sub)transaction that owns the segment.  The file is fsynced before
 * the manifest row can commit.
 */
static void
FlushSegment(Relation rel, RelWriteState *rs, WriteSegment *seg)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			ncols;
	FragmentColumn *cols;
	FragmentWriter *writer;
	FragmentInfo info;
	FragmentMeta meta;
	Datum	  **values;
	bool	  **isnull;
	char	   *path;
	MemoryContext flushcxt;
	MemoryContext old;

	if (seg->nrows == 0)
	{
		MetapageReleaseRows(rel, seg->first_row, seg->first_row + seg->reserved);
		DetachSegment(rs, seg);
		return;
	}

	flushcxt = AllocSetContextCreate(CurrentMemoryContext, "compact flush",
									 ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(flushcxt);

	cols = CompactFragmentColumns(desc, seg->natts, true, &ncols);
	values = palloc(sizeof(Datum *) * Max(ncols, 1));
	isnull = palloc(sizeof(bool *) * Max(ncols, 1));

	memset(&meta, 0, sizeof(meta));
	meta.fragment_id = MetapageNextFragmentId(rel);
	meta.file_xid = GetTopTransactionId();
	meta.first_row = seg->first_row;
	path = CompactFragmentPath(MyDatabaseId, seg->node.relNode,
							   meta.fragment_id, meta.file_xid);

	CompactEnsureTableDir(seg->node.relNode);
	writer = FragmentWriterBegin(path, ncols, cols, compact_compression_level);
	for (int start = 0; start < seg->nrows; start += compact_row_group_size)
	{
		int			n = Min(compact_row_group_size, seg->nrows - start);

		for (int c = 0; c < ncols; c++)
		{
			values[c] = seg->values[cols[c].attnum - 1] + start;
			isnull[c] = seg->isnull[cols[c].attnum - 1] + start;
		}
		FragmentWriterAddRowGroup(writer, n, values, isnull);
		CHECK_FOR_INTERRUPTS();
	}
	FragmentWriterFinish(writer, &info);
	COMPACT_FAULT_POINT("insert_fragment_finished");
	CompactWalLogFile(MyDatabaseId, seg->node.relNode, COMPACT_FILE_FRAGMENT,
					  meta.fragment_id, meta.file_xid);
	COMPACT_FAULT_POINT("insert_fragment_logged");

	meta.row_count = info.row_count;
	meta.bytes = info.bytes;
	meta.row_groups = info.row_groups;
	meta.stats = FragmentStatsSerialize(ncols, cols, info.stats);
	meta.cids = rs->frozen ? NULL : FragmentCidsEncode(seg->cids, seg->nrows);
	if (FragmentSink != NULL && !rs->frozen)
		FragmentSink(FragmentSinkArg, &meta);
	else
		ManifestInsert(seg->node.relNode, &meta, rs->frozen ? "rewrite" : "insert",
					   seg->cids[0], rs->frozen);

	MetapageReleaseRows(rel, seg->first_row + seg->nrows,
						seg->first_row + seg->reserved);
	rs->flushed = true;
	MemoryContextSwitchTo(old);
	MemoryContextDelete(flushcxt);

	DetachSegment(rs, seg);
}

/*
 * Send the fragments flushed from now on to sink instead of the manifest
 * (NULL: back to the manifest).  A parallel COPY worker cannot write catalog
 * rows, and its leader, in parallel mode, must not assign the OIDs that a
 * TOASTed manifest row needs: both hand their fragments to the leader, who
 * records them after parallel mode ends (WriteStateRecordFragment).  The
 * sink gets a FragmentMeta in short-lived memory and must copy it.
 */
void
WriteStateSetSink(WriteStateSink sink, void *arg)
{
	FragmentSink = sink;
	FragmentSinkArg = arg;
	/*
	 * Processes that insert side by side would take turns at the metapage,
	 * so no reservation could grow in place and every segment would be
	 * small: reserve the most at once.
	 */
	FirstReservation = sink ? MAX_RESERVATION : FIRST_RESERVATION;
}

/*
 * Flush the segments of a relation that the current subtransaction owns
 * (its parents' are flushed at commit: their rows must not vanish if this
 * subtransaction aborts).
 */
void
WriteStateFlushRelation(Relation rel)
{
	RelWriteState *rs = GetRelState(rel->rd_node, false);
	List	   *segments;
	ListCell   *lc;

	if (rs == NULL)
		return;
	segments = list_copy(rs->segments);
	foreach(lc, segments)
	{
		WriteSegment *seg = lfirst(lc);

		if (seg->subid == GetCurrentSubTransactionId())
			FlushSegment(rel, rs, seg);
	}
	list_free(segments);
}

/*
 * Record in the manifest a fragment a sink received, as an insert by this
 * transaction's command cid.
 */
void
WriteStateRecordFragment(Relation rel, const FragmentMeta *meta, CommandId cid)
{
	ManifestInsert(rel->rd_node.relNode, meta, "insert", cid, false);
	GetRelState(rel->rd_node, true)->flushed = true;
}

/* Take a segment out of its state; free it unless a scan still reads it. */
static void
DetachSegment(RelWriteState *rs, WriteSegment *seg)
{
	rs->segments = list_delete_ptr(rs->segments, seg);
	ReservationRemove(seg->slot);
	seg->slot = -1;
	seg->detached = true;
	if (seg->pins == 0)
		MemoryContextDelete(seg->cxt);
}

/*
 * The live segments of a storage, each pinned for the caller, who must
 * WriteSegmentUnpin them.
 */
List *
WriteStateSegments(RelFileNode node)
{
	RelWriteState *rs = GetRelState(node, false);
	List	   *result = NIL;
	ListCell   *lc;

	if (rs == NULL)
		return NIL;
	foreach(lc, rs->segments)
	{
		WriteSegment *seg = lfirst(lc);

		seg->pins++;
		result = lappend(result, seg);
	}
	return result;
}

void
WriteSegmentUnpin(WriteSegment *seg)
{
	Assert(seg->pins > 0);
	if (--seg->pins == 0 && seg->detached)
		MemoryContextDelete(seg->cxt);
}

/* The live segment that holds a row number, if any. */
WriteSegment *
WriteStateFindRow(RelFileNode node, int64 rownum)
{
	RelWriteState *rs = GetRelState(node, false);
	ListCell   *lc;

	if (rs == NULL)
		return NULL;
	foreach(lc, rs->segments)
	{
		WriteSegment *seg = lfirst(lc);

		if (rownum >= seg->first_row && rownum < seg->first_row + seg->nrows)
			return seg;
	}
	return NULL;
}

/*
 * Does a snapshot of this backend see a buffered row?  Rows of commands at
 * or after an MVCC snapshot's curcid are not there yet for it.
 */
bool
WriteStateRowVisible(WriteSegment *seg, int row, Snapshot snapshot)
{
	if (snapshot != NULL && IsMVCCSnapshot(snapshot))
		return seg->cids[row] < snapshot->curcid;
	return true;
}

int64
WriteStateBufferedRows(RelFileNode node)
{
	RelWriteState *rs = GetRelState(node, false);
	ListCell   *lc;
	int64		n = 0;

	if (rs == NULL)
		return 0;
	foreach(lc, rs->segments)
		n += ((WriteSegment *) lfirst(lc))->nrows;
	return n;
}

/* Fragments this transaction writes for a storage are visible to all. */
void
WriteStateSetFrozen(RelFileNode node)
{
	GetRelState(node, true)->frozen = true;
}


/* ----------------------------------------------------------------
 * pending deletes
 * ----------------------------------------------------------------
 */

static void
PendingKey(PendingDeleteKey *key, RelFileNode node, int64 rownum)
{
	memset(key, 0, sizeof(PendingDeleteKey));
	key->node = node;
	key->rownum = rownum;
}

/*
 * Record that the current command deletes a row.  Returns false if this
 * transaction had already deleted it.
 *
 * An alias entry deletes nothing: it hides from this transaction a row of a
 * fragment that a compaction replaced after our snapshot was taken, whose
 * copy the command deleted (the copy gets the real entry).  Our snapshot
 * still reads the old fragment, and must not see the row there either.
 */
bool
WriteStatePendingDelete(RelFileNode node, int64 rownum, CommandId cid,
						bool alias)
{
	RelWriteState *rs = GetRelState(node, true);
	PendingDeleteKey key;
	PendingDelete *pd;
	bool		found;

	PendingKey(&key, node, rownum);
	pd = hash_search(PendingDeletes, &key, HASH_ENTER, &found);
	if (found)
		return false;
	pd->cid = cid;
	pd->subid = GetCurrentSubTransactionId();
	pd->successor = -1;
	pd->alias = alias;
	rs->ndeletes++;
	return true;
}

/* Record the new version of a row this transaction updated. */
void
WriteStateSetSuccessor(RelFileNode node, int64 rownum, int64 successor)
{
	PendingDeleteKey key;
	PendingDelete *pd;

	PendingKey(&key, node, rownum);
	pd = hash_search(PendingDeletes, &key, HASH_FIND, NULL);
	if (pd != NULL)
		pd->successor = successor;
}

bool
WriteStateHasDeletes(RelFileNode node)
{
	RelWriteState *rs = GetRelState(node, false);

	return rs != NULL && rs->ndeletes > 0;
}

/*
 * Has this transaction deleted the row, as far as the snapshot goes?  An
 * MVCC snapshot sees deletions of commands before its curcid; the others
 * (self, dirty) see all of them and SnapshotAny none.  *cmax gets the
 * deleting command.
 */
bool
WriteStateIsDeleted(RelFileNode node, int64 rownum, Snapshot snapshot,
					CommandId *cmax)
{
	PendingDeleteKey key;
	PendingDelete *pd;

	if (!WriteStateHasDeletes(node))
		return false;
	if (snapshot != NULL && snapshot->snapshot_type == SNAPSHOT_ANY)
		return false;
	PendingKey(&key, node, rownum);
	pd = hash_search(PendingDeletes, &key, HASH_FIND, NULL);
	if (pd == NULL)
		return false;
	if (cmax)
		*cmax = pd->cid;
	if (snapshot != NULL && IsMVCCSnapshot(snapshot))
		return pd->cid < snapshot->curcid;
	return true;
}

typedef struct DeletedRow
{
	int64		rownum;
	int64		successor;
} DeletedRow;

static int
CompareDeletedRows(const void *a, const void *b)
{
	int64		x = ((const DeletedRow *) a)->rownum;
	int64		y = ((const DeletedRow *) b)->rownum;

	return x < y ? -1 : (x > y ? 1 : 0);
}

/*
 * Turn a storage's pending deletes into deletion rows, one per fragment.
 */
static void
FlushDeletes(RelWriteState *rs)
{
	HASH_SEQ_STATUS status;
	PendingDelete *pd;
	DeletedRow *rows = palloc(sizeof(DeletedRow) * rs->ndeletes);
	uint32	   *offsets = palloc(sizeof(uint32) * rs->ndeletes);
	RowSuccessor *succ = palloc(sizeof(RowSuccessor) * rs->ndeletes);
	int64		n = 0;
	int64		i = 0;

	hash_seq_init(&status, PendingDeletes);
	while ((pd = hash_seq_search(&status)) != NULL)
	{
		if (!RelFileNodeEquals(pd->key.node, rs->node) || pd->alias)
			continue;
		rows[n].rownum = pd->key.rownum;
		rows[n].successor = pd->successor;
		n++;
	}
	qsort(rows, n, sizeof(DeletedRow), CompareDeletedRows);

	while (i < n)
	{
		FragmentMeta meta;
		uint32		count = 0;
		int			nsucc = 0;

		if (!ManifestFindRow(rs->node.relNode, rows[i].rownum, SnapshotSelf, &meta))
			elog(ERROR, "deleted row " INT64_FORMAT " of storage %u is in no fragment",
				 rows[i].rownum, rs->node.relNode);
		while (i < n && rows[i].rownum < meta.first_row + meta.row_count)
		{
			uint32		offset = (uint32) (rows[i].rownum - meta.first_row);

			offsets[count++] = offset;
			if (rows[i].successor >= 0)
			{
				succ[nsucc].offset = offset;
				succ[nsucc].successor = rows[i].successor;
				nsucc++;
			}
			i++;
		}
		DeletionInsert(rs->node.relNode, meta.fragment_id,
					   (uint32) meta.row_count, offsets, count, succ, nsucc);
	}
	pfree(rows);
	pfree(offsets);
	pfree(succ);
}

/* Forget everything buffered for a storage (it is being dropped). */
void
WriteStateDiscard(RelFileNode node)
{
	RelWriteState *rs = GetRelState(node, false);
	HASH_SEQ_STATUS status;
	PendingDelete *pd;

	if (rs == NULL)
		return;
	while (rs->segments != NIL)
		DetachSegment(rs, linitial(rs->segments));
	if (rs->ndeletes > 0)
	{
		hash_seq_init(&status, PendingDeletes);
		while ((pd = hash_seq_search(&status)) != NULL)
			if (RelFileNodeEquals(pd->key.node, node))
				hash_search(PendingDeletes, &pd->key, HASH_REMOVE, NULL);
		rs->ndeletes = 0;
	}
}


/* ----------------------------------------------------------------
 * transaction callbacks
 * ----------------------------------------------------------------
 */

/*
 * Flush every segment, then every pending delete, of every storage this
 * transaction wrote.  Storages whose relation is gone (dropped or replaced
 * by a rewrite in this transaction) are skipped.
 */
static void
WriteStateFlushAll(void)
{
	HASH_SEQ_STATUS status;
	RelWriteState *rs;
	List	   *withdeletes = NIL;
	List	   *changed = NIL;
	ListCell   *lc;

	/* a parallel COPY worker flushed its rows; its leader records them */
	if (RelStates == NULL || IsParallelWorker())
		return;

	hash_seq_init(&status, RelStates);
	while ((rs = hash_seq_search(&status)) != NULL)
	{
		Oid			relid;
		Relation	rel;

		if (rs->segments == NIL && rs->ndeletes == 0 && !rs->flushed)
			continue;
		relid = RelidByRelfilenode(rs->node.spcNode == MyDatabaseTableSpace ?
								   InvalidOid : rs->node.spcNode,
								   rs->node.relNode);
		if (!OidIsValid(relid))
			continue;
		changed = lappend_oid(changed, relid);
		rel = table_open(relid, RowExclusiveLock);
		while (rs->segments != NIL)
			FlushSegment(rel, rs, linitial(rs->segments));
		table_close(rel, NoLock);
		if (rs->ndeletes > 0)
			withdeletes = lappend(withdeletes, rs);
	}

	foreach(lc, withdeletes)
		FlushDeletes(lfirst(lc));

	if (compact_commit_hook && changed != NIL)
	{
		CommandCounterIncrement();
		foreach(lc, changed)
		{
			Relation	rel = table_open(lfirst_oid(lc), RowExclusiveLock);

			compact_commit_hook(rel);
			table_close(rel, NoLock);
		}
	}
	if (changed != NIL)
		COMPACT_FAULT_POINT("insert_before_commit");
}

static void
WriteStateReset(void)
{
	WriteStateContext = NULL;
	RelStates = NULL;
	PendingDeletes = NULL;
	FragmentSink = NULL;
	FragmentSinkArg = NULL;
	FirstReservation = FIRST_RESERVATION;
	ReservationRemoveAll();
}

static void
compact_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PARALLEL_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			WriteStateFlushAll();
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (RelStates != NULL && hash_get_num_entries(RelStates) > 0)
				COMPACT_FAULT_POINT("insert_after_commit");
			/* FALLTHROUGH */
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			WriteStateReset();
			ModifyStateReset();
			FetchCacheReset();
			break;
	}
}

/*
 * At subcommit, hand the subtransaction's segments and deletes to the
 * parent; at subabort, throw them away.
 */
static void
compact_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						 SubTransactionId parentSubid, void *arg)
{
	HASH_SEQ_STATUS status;
	RelWriteState *rs;
	PendingDelete *pd;
	bool		commit;

	if (event == SUBXACT_EVENT_COMMIT_SUB)
		commit = true;
	else if (event == SUBXACT_EVENT_ABORT_SUB)
		commit = false;
	else
		return;

	ModifyStateSubXact(commit, mySubid, parentSubid);
	if (RelStates == NULL)
		return;

	hash_seq_init(&status, RelStates);
	while ((rs = hash_seq_search(&status)) != NULL)
	{
		List	   *segments = list_copy(rs->segments);
		ListCell   *lc;

		foreach(lc, segments)
		{
			WriteSegment *seg = lfirst(lc);

			if (seg->subid != mySubid)
				continue;
			if (commit)
				seg->subid = parentSubid;
			else
				DetachSegment(rs, seg);
		}
		list_free(segments);
	}

	hash_seq_init(&status, PendingDeletes);
	while ((pd = hash_seq_search(&status)) != NULL)
	{
		if (pd->subid != mySubid)
			continue;
		if (commit)
			pd->subid = parentSubid;
		else
		{
			rs = GetRelState(pd->key.node, false);
			rs->ndeletes--;
			hash_search(PendingDeletes, &pd->key, HASH_REMOVE, NULL);
		}
	}
}

void
CompactWriteStateInit(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = compact_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = compact_shmem_startup;

	RegisterXactCallback(compact_xact_callback, NULL);
	RegisterSubXactCallback(compact_subxact_callback, NULL);
}
