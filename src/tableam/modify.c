/*-------------------------------------------------------------------------
 * modify.c
 *	  DELETE, UPDATE and row locks on compact tables.
 *
 * Rows carry no xmax, so concurrent writers meet on a lock instead: before
 * it deletes or locks a row, a transaction takes a lock on the row's
 * fragment (an advisory-class lock tag: database, storage, fragment id),
 * ExclusiveLock to delete or update, ShareLock for FOR SHARE / FOR KEY SHARE.
 * The lock is held to the end of the transaction, and deletions become
 * catalog rows at commit, before the lock is released.  So once the lock is
 * granted, every deletion of that fragment by another transaction is
 * committed (or gone with an abort) and the deletion vectors read then are
 * final for as long as we hold it.  If they hold our row, it was deleted by
 * a transaction our snapshot does not see: TM_Deleted, which the executor
 * turns into "skip the row" under READ COMMITTED and a serialization failure
 * under REPEATABLE READ, as for heap.
 *
 * The lock is coarser than heap's row locks: writers of different rows of
 * one fragment wait for each other, and can deadlock where heap would not.
 * An UPDATE is a delete plus an insert; concurrent updaters of one row see
 * TM_Deleted rather than following an update chain.
 *
 * IDENTIFICATION
 *	  src/tableam/modify.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/wait_event.h"

#include "format/files.h"
#include "format/rowmap.h"
#include "tableam/tableam.h"

/* locktag_field4 of our fragment locks; pg_advisory_* use 1 and 2 */
#define COMPACT_LOCKTAG_FRAGMENT	0x4301
/* the fragment id of the table-wide lock tag */
#define ALL_FRAGMENTS				((int64) 0)
/* fragment locks a transaction takes on a table before it escalates */
#define ESCALATE_AFTER				64

typedef struct LockedFragmentKey
{
	Oid			relnode;
	int32		pad;
	int64		fragment_id;
} LockedFragmentKey;

typedef struct LockedFragment
{
	LockedFragmentKey key;
	LOCKMODE	mode;			/* strongest held */
	SubTransactionId subid;		/* that took it */
	int64		first_row;
	int64		row_count;
	DeletionVector *committed;	/* deletions committed by others */
	bool		replaced_checked;	/* replaced_by is known */
	TransactionId replaced_by;	/* compaction that replaced the fragment */
	int64	   *rowmap;			/* its row map, once read */
} LockedFragment;

static MemoryContext ModifyContext = NULL;
static HTAB *Locked = NULL;

void
ModifyStateReset(void)
{
	ModifyContext = NULL;
	Locked = NULL;
}

/*
 * Locks taken in an aborted subtransaction are released with it; on
 * subcommit they pass to the parent.
 */
void
ModifyStateSubXact(bool commit, SubTransactionId mysubid,
				   SubTransactionId parentsubid)
{
	HASH_SEQ_STATUS status;
	LockedFragment *lf;

	if (Locked == NULL)
		return;
	hash_seq_init(&status, Locked);
	while ((lf = hash_seq_search(&status)) != NULL)
	{
		if (lf->subid != mysubid)
			continue;
		if (commit)
			lf->subid = parentsubid;
		else
			hash_search(Locked, &lf->key, HASH_REMOVE, NULL);
	}
}

static LockedFragment *
LockedLookup(Oid relnode, int64 fragment_id, bool create, bool *found)
{
	LockedFragmentKey key;

	if (Locked == NULL)
	{
		HASHCTL		ctl;

		ModifyContext = AllocSetContextCreate(TopTransactionContext,
											  "compact row locks",
											  ALLOCSET_DEFAULT_SIZES);
		ctl.keysize = sizeof(LockedFragmentKey);
		ctl.entrysize = sizeof(LockedFragment);
		ctl.hcxt = ModifyContext;
		Locked = hash_create("compact locked fragments", 64, &ctl,
							 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	memset(&key, 0, sizeof(key));
	key.relnode = relnode;
	key.fragment_id = fragment_id;
	return hash_search(Locked, &key, create ? HASH_ENTER : HASH_FIND, found);
}

static void
FragmentLockTag(LOCKTAG *tag, Relation rel, int64 fragment_id)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, rel->rd_node.relNode,
						 (uint32) fragment_id, COMPACT_LOCKTAG_FRAGMENT);
}

/*
 * Take a fragment's row lock in ExclusiveLock if nobody holds it (VACUUM,
 * which must not wait); held to the end of the transaction.
 */
bool
CompactTryLockFragment(Relation rel, int64 fragment_id)
{
	LOCKTAG		tag;

	FragmentLockTag(&tag, rel, ALL_FRAGMENTS);
	if (LockAcquire(&tag, RowExclusiveLock, false, true) == LOCKACQUIRE_NOT_AVAIL)
		return false;
	FragmentLockTag(&tag, rel, fragment_id);
	return LockAcquire(&tag, ExclusiveLock, false, true) != LOCKACQUIRE_NOT_AVAIL;
}

/*
 * Take every row lock of a table at once (a compaction about to commit),
 * waiting for the transactions that delete, update or lock its rows, and
 * keeping new ones out until the end of the transaction.
 *
 * Without wait (a background worker) we poll instead of joining the lock's
 * queue.  A transaction holding row locks may go on to wait for the table
 * lock the compaction holds (CREATE INDEX, ALTER TABLE, ...); queued, we
 * would be a deadlock that the transaction could lose.  Polling, we only
 * stand in its way, and as our process is marked as autovacuum, the
 * deadlock checker has us cancelled after deadlock_timeout.
 */
void
CompactLockAllFragments(Relation rel, bool wait)
{
	LOCKTAG		tag;

	FragmentLockTag(&tag, rel, ALL_FRAGMENTS);
	if (wait)
	{
		(void) LockAcquire(&tag, ExclusiveLock, false, false);
		return;
	}
	while (LockAcquire(&tag, ExclusiveLock, false, true) == LOCKACQUIRE_NOT_AVAIL)
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 10L, PG_WAIT_LOCK | LOCKTAG_ADVISORY);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/* Acquire a lock tag, or say why not. */
static bool
AcquireOrFail(Relation rel, LOCKTAG *tag, LOCKMODE mode, LockWaitPolicy policy)
{
	if (LockAcquire(tag, mode, false, policy != LockWaitBlock) != LOCKACQUIRE_NOT_AVAIL)
		return true;
	if (policy == LockWaitError)
		ereport(ERROR,
				(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
				 errmsg("could not obtain lock on row in relation \"%s\"",
						RelationGetRelationName(rel))));
	return false;
}

/*
 * Lock the fragment that holds rownum in the given mode (ExclusiveLock or
 * ShareLock) and return its state, or NULL if the lock is not available and
 * we may not wait.
 *
 * A transaction that has locked ESCALATE_AFTER fragments of a table takes
 * one table-wide lock instead (the ALL_FRAGMENTS tag), so that a DELETE over
 * a table of many small fragments does not fill the shared lock table.
 * Fragment lockers hold the table-wide tag in an intent mode
 * (RowExclusiveLock for ExclusiveLock, RowShareLock for ShareLock) that
 * conflicts exactly with the escalated modes of the same strength.
 */
static LockedFragment *
LockFragment(Relation rel, int64 rownum, LOCKMODE mode, LockWaitPolicy policy)
{
	Oid			relnode = rel->rd_node.relNode;
	SubTransactionId subid = GetCurrentSubTransactionId();
	FragmentMeta meta;
	LockedFragment *lf;
	LockedFragment *all;
	bool		found;
	LOCKTAG		tag;

	if (!CompactFragmentOfRow(rel, rownum, &meta))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("row " INT64_FORMAT " of compact table \"%s\" is in no fragment",
						rownum, RelationGetRelationName(rel))));

	lf = LockedLookup(relnode, meta.fragment_id, false, &found);
	if (lf != NULL && lf->mode >= mode)
		return lf;

	all = LockedLookup(relnode, ALL_FRAGMENTS, true, &found);
	if (!found)
	{
		all->mode = NoLock;
		all->row_count = 0;		/* fragment locks taken */
		all->committed = NULL;
		all->subid = subid;
	}
	if (all->mode < mode)
	{
		FragmentLockTag(&tag, rel, ALL_FRAGMENTS);
		if (all->row_count >= ESCALATE_AFTER)
		{
			if (!AcquireOrFail(rel, &tag, mode, policy))
				return NULL;
			all->mode = mode;
			all->subid = subid;
		}
		else
		{
			if (!AcquireOrFail(rel, &tag,
							   mode == ExclusiveLock ? RowExclusiveLock : RowShareLock,
							   policy))
				return NULL;
			FragmentLockTag(&tag, rel, meta.fragment_id);
			if (!AcquireOrFail(rel, &tag, mode, policy))
				return NULL;
			all->row_count++;
		}
	}

	lf = LockedLookup(relnode, meta.fragment_id, true, &found);
	if (!found)
	{
		MemoryContext old = MemoryContextSwitchTo(ModifyContext);

		lf->mode = NoLock;
		lf->first_row = meta.first_row;
		lf->row_count = meta.row_count;
		lf->committed = DeletionLoad(relnode, &meta, SnapshotSelf);
		lf->replaced_checked = false;
		lf->replaced_by = InvalidTransactionId;
		lf->rowmap = NULL;
		MemoryContextSwitchTo(old);
	}
	/* a stronger lock taken in a subtransaction goes with its abort */
	if (mode > lf->mode)
	{
		lf->mode = mode;
		lf->subid = subid;
	}
	return lf;
}

/*
 * The row was deleted, or updated, by another transaction that committed
 * before we got its fragment's lock: TM_Deleted, or TM_Updated with the new
 * version's TID.
 */
static TM_Result
ChangedByOther(LockedFragment *lf, int64 rownum, TM_FailureData *tmfd)
{
	int64		successor = DeletionVectorSuccessor(lf->committed,
													(uint32) (rownum - lf->first_row));

	tmfd->xmax = InvalidTransactionId;
	tmfd->cmax = InvalidCommandId;
	tmfd->traversed = false;
	if (successor >= 0)
	{
		CompactRowNumberToTid(successor, &tmfd->ctid);
		return TM_Updated;
	}
	CompactRowNumberToTid(rownum, &tmfd->ctid);
	return TM_Deleted;
}

static bool
DeletedInFragment(LockedFragment *lf, int64 rownum)
{
	return lf->committed != NULL &&
		DeletionVectorIsSet(lf->committed, (uint32) (rownum - lf->first_row));
}

/*
 * If a compaction replaced the row's fragment after our snapshot was taken,
 * move *rownum to the row's copy and return true.  A compaction that
 * replaced the fragment committed before we got the fragment's lock (it
 * holds every fragment lock of the table while it commits), and it carried
 * every deletion committed by then onto the copies, so the copy is where
 * our change must go.  Rows the compaction dropped were deleted, which the
 * caller has checked before.
 */
static bool
FollowRowMap(Relation rel, LockedFragment *lf, int64 *rownum)
{
	int64		target;

	if (!lf->replaced_checked)
	{
		lf->replaced_by = ManifestReplacedBy(rel->rd_node.relNode,
											 lf->key.fragment_id);
		lf->replaced_checked = true;
	}
	if (!TransactionIdIsValid(lf->replaced_by))
		return false;
	if (lf->rowmap == NULL)
	{
		char	   *path = CompactRowMapPath(MyDatabaseId, rel->rd_node.relNode,
											 lf->key.fragment_id, lf->replaced_by);
		MemoryContext old = MemoryContextSwitchTo(ModifyContext);

		lf->rowmap = RowMapRead(path, lf->key.fragment_id, (uint32) lf->row_count);
		MemoryContextSwitchTo(old);
		pfree(path);
	}
	target = lf->rowmap[*rownum - lf->first_row];
	if (target < 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("row " INT64_FORMAT " of compact table \"%s\" was dropped by a compaction but is not deleted",
						*rownum, RelationGetRelationName(rel))));
	*rownum = target;
	return true;
}

/*
 * Delete a row (or, with mode LockTupleExclusive from UPDATE, its old
 * version): the shared code of tuple_delete and tuple_update.  If a
 * compaction moved the row, its copy is deleted instead, and *deleted says
 * which row number that was; the row numbers passed on the way get alias
 * entries, so that this transaction's snapshot, which may still read the
 * replaced fragments, no longer sees the row there.
 */
TM_Result
CompactDeleteRow(Relation rel, int64 rownum, CommandId cid, Snapshot snapshot,
				 Snapshot crosscheck, bool wait, TM_FailureData *tmfd,
				 int64 *deleted)
{
	ItemPointerData tid;
	CommandId	cmax;
	LockedFragment *lf;
	bool		first = true;
	int64		before;
	int64	   *passed = NULL;	/* row numbers a compaction moved */
	int			npassed = 0;
	int			maxpassed = 0;

	for (;;)
	{
		CompactRowNumberToTid(rownum, &tid);
		if (WriteStateIsDeleted(rel->rd_node, rownum, NULL, &cmax))
		{
			tmfd->ctid = tid;
			tmfd->xmax = GetCurrentTransactionId();
			tmfd->cmax = cmax;
			tmfd->traversed = false;
			return TM_SelfModified;
		}

		/* our own rows need no lock: nobody else can see them */
		if (WriteStateFindRow(rel->rd_node, rownum) != NULL)
			break;

		lf = LockFragment(rel, rownum, ExclusiveLock,
						  wait ? LockWaitBlock : LockWaitSkip);
		if (lf == NULL)
			return TM_WouldBlock;
		if (DeletedInFragment(lf, rownum))
			return ChangedByOther(lf, rownum, tmfd);
		if (first && crosscheck != InvalidSnapshot &&
			!CompactFetchRow(rel, rownum, crosscheck, NULL))
		{
			tmfd->ctid = tid;
			tmfd->xmax = InvalidTransactionId;
			tmfd->cmax = InvalidCommandId;
			tmfd->traversed = false;
			return TM_Updated;
		}
		first = false;
		before = rownum;
		if (!FollowRowMap(rel, lf, &rownum))
			break;
		if (npassed == maxpassed)
		{
			maxpassed = Max(4, maxpassed * 2);
			passed = passed ? repalloc(passed, sizeof(int64) * maxpassed) :
				palloc(sizeof(int64) * maxpassed);
		}
		passed[npassed++] = before;
	}

	WriteStatePendingDelete(rel->rd_node, rownum, cid, false);
	for (int i = 0; i < npassed; i++)
		WriteStatePendingDelete(rel->rd_node, passed[i], cid, true);
	if (passed)
		pfree(passed);
	*deleted = rownum;
	return TM_Ok;
}

/*
 * tuple_lock: SELECT ... FOR UPDATE/SHARE, foreign key checks, and EPQ after
 * TM_Updated, which asks (TUPLE_LOCK_FLAG_FIND_LAST_VERSION) to follow the
 * row to its newest version and lock that.
 */
TM_Result
compact_tuple_lock(Relation rel, ItemPointer tid, Snapshot snapshot,
				   TupleTableSlot *slot, CommandId cid, LockTupleMode mode,
				   LockWaitPolicy wait_policy, uint8 flags,
				   TM_FailureData *tmfd)
{
	int64		rownum = CompactTidToRowNumber(tid);
	CommandId	cmax;

	tmfd->traversed = false;
	for (;;)
	{
		LockedFragment *lf;
		TM_Result	result;

		if (WriteStateIsDeleted(rel->rd_node, rownum, NULL, &cmax))
		{
			CompactRowNumberToTid(rownum, &tmfd->ctid);
			tmfd->xmax = GetCurrentTransactionId();
			tmfd->cmax = cmax;
			return TM_SelfModified;
		}
		if (WriteStateFindRow(rel->rd_node, rownum) != NULL)
			break;

		lf = LockFragment(rel, rownum,
						  mode >= LockTupleNoKeyExclusive ? ExclusiveLock : ShareLock,
						  wait_policy);
		if (lf == NULL)
			return TM_WouldBlock;
		if (!DeletedInFragment(lf, rownum))
		{
			/* a compaction's copy is the same row: lock it, quietly */
			if (FollowRowMap(rel, lf, &rownum))
				continue;
			break;
		}
		result = ChangedByOther(lf, rownum, tmfd);
		if (result != TM_Updated || !(flags & TUPLE_LOCK_FLAG_FIND_LAST_VERSION))
			return result;
		/* like heap, tell the caller where the newest version is */
		rownum = CompactTidToRowNumber(&tmfd->ctid);
		*tid = tmfd->ctid;
		tmfd->traversed = true;
	}

	if (!CompactFetchRow(rel, rownum, SnapshotAny, slot))
	{
		CompactRowNumberToTid(rownum, &tmfd->ctid);
		return TM_Deleted;
	}
	return TM_Ok;
}
