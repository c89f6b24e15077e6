/*-------------------------------------------------------------------------
 * ddl.c
 *	  Storage life cycle of compact tables: create, truncate, rewrite, drop.
 *
 * A storage is the relation's main fork (just the metapage) plus the
 * directory of its fragment files.  Creating one makes both; the directory
 * is removed again if the transaction aborts.  When a storage is replaced
 * (TRUNCATE) or dropped (DROP TABLE, the old side of VACUUM FULL, CLUSTER and
 * rewriting ALTER TABLEs, seen through the object access hook), its manifest
 * and deletion rows are deleted in the same transaction and its directory is
 * removed once the transaction commits.  Like smgr's pending deletes, these
 * removals follow subtransaction commit and abort.
 *
 * A crash between a commit and the removal leaves a directory no relation
 * uses; it holds no visible data.
 *
 * IDENTIFICATION
 *	  src/tableam/ddl.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>
#include <dirent.h>

#include "access/multixact.h"
#include "access/relation.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_class.h"
#include "catalog/storage.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/fd.h"
#include "storage/smgr.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/tuplesort.h"

#include "compact.h"
#include "format/files.h"
#include "format/filewal.h"
#include "tableam/tableam.h"

typedef struct PendingDirDelete
{
	Oid			relnode;
	bool		at_commit;		/* remove at commit, else at abort */
	int			nest_level;
	struct PendingDirDelete *next;
} PendingDirDelete;

static PendingDirDelete *PendingDirs = NULL;
static object_access_hook_type prev_object_access_hook = NULL;

static void
RegisterDirDelete(Oid relnode, bool at_commit)
{
	PendingDirDelete *p = MemoryContextAlloc(TopMemoryContext, sizeof(PendingDirDelete));

	p->relnode = relnode;
	p->at_commit = at_commit;
	p->nest_level = GetCurrentTransactionNestLevel();
	p->next = PendingDirs;
	PendingDirs = p;
}

static void
RemoveStorageDir(Oid relnode)
{
	char	   *path = CompactTableDir(MyDatabaseId, relnode);

	CompactRemoveDir(path);
	COMPACT_FAULT_POINT("drop_dir_removed");
	CompactWalLogRmdir(MyDatabaseId, relnode);
	pfree(path);
}

/*
 * At top-level commit or abort, carry out the removals due and forget the
 * rest; at subtransaction end, apply the subtransaction's.
 */
static void
PendingDirsAtEnd(bool commit, int nest_level)
{
	PendingDirDelete **link = &PendingDirs;

	while (*link)
	{
		PendingDirDelete *p = *link;

		if (p->nest_level < nest_level)
		{
			link = &p->next;
			continue;
		}
		if (nest_level > 1 && commit)
		{
			p->nest_level = nest_level - 1;
			link = &p->next;
			continue;
		}
		if (p->at_commit == commit)
			RemoveStorageDir(p->relnode);
		*link = p->next;
		pfree(p);
	}
}

static void
ddl_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_PREPARE:
			if (PendingDirs != NULL)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot PREPARE a transaction that created, truncated or dropped a compact table"),
						 errhint("Run the DDL in a transaction that commits directly.")));
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			PendingDirsAtEnd(true, 1);
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			PendingDirsAtEnd(false, 1);
			break;
		default:
			break;
	}
}

static void
ddl_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					 SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_COMMIT_SUB)
		PendingDirsAtEnd(true, GetCurrentTransactionNestLevel());
	else if (event == SUBXACT_EVENT_ABORT_SUB)
		PendingDirsAtEnd(false, GetCurrentTransactionNestLevel());
}

/*
 * Forget a storage that is going away at commit: its catalog rows now, its
 * directory after commit.  Buffered writes for it are dropped at pre-commit,
 * when no relation uses the storage any more.
 */
static void
DropStorage(Oid relnode)
{
	if (OidIsValid(CompactCatalogRelid("manifest", true)))
		ManifestDeleteAll(relnode);
	RegisterDirDelete(relnode, true);
}

void
compact_relation_set_new_filenode(Relation rel, const RelFileNode *newrnode,
								  char persistence, TransactionId *freezeXid,
								  MultiXactId *minmulti)
{
	SMgrRelation srel;

	if (persistence == RELPERSISTENCE_TEMP)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("compact tables cannot be temporary"),
				 errhint("Create the temporary table with USING heap.")));
	if (persistence == RELPERSISTENCE_UNLOGGED)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("compact tables cannot be unlogged"),
				 errhint("Create the table without UNLOGGED.")));

	/* we store no transaction ids in the table's own files */
	*freezeXid = RecentXmin;
	*minmulti = GetOldestMultiXactId();

	srel = RelationCreateStorage(*newrnode, persistence, true);
	MetapageInit(srel, XLogIsNeeded());
	smgrclose(srel);

	/* the directory is made by the first fragment (CompactEnsureTableDir) */
	RegisterDirDelete(newrnode->relNode, false);

	/* rows left behind by an earlier storage of the same number */
	ManifestDeleteAll(newrnode->relNode);

	/* TRUNCATE: the old storage goes at commit */
	if (OidIsValid(rel->rd_node.relNode) &&
		rel->rd_node.relNode != newrnode->relNode)
		DropStorage(rel->rd_node.relNode);
}

/*
 * TRUNCATE of a table created or truncated in this same subtransaction:
 * everything in the storage is ours, so remove it at once.
 */
void
compact_relation_nontransactional_truncate(Relation rel)
{
	char	   *path = CompactTableDir(MyDatabaseId, rel->rd_node.relNode);

	WriteStateDiscard(rel->rd_node);
	ManifestDeleteAll(rel->rd_node.relNode);
	CompactRemoveDir(path);
	CompactWalLogRmdir(MyDatabaseId, rel->rd_node.relNode);
	pfree(path);
}

void
compact_relation_copy_data(Relation rel, const RelFileNode *newrnode)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("compact tables cannot be moved to another tablespace"),
			 errdetail("Fragment files of compact tables live in pg_compact, outside tablespaces."),
			 errhint("Keep the table in its tablespace, or convert it with ALTER TABLE ... SET ACCESS METHOD heap first.")));
}

/*
 * VACUUM FULL and CLUSTER: copy the live rows into the new storage, in
 * index order for CLUSTER.  The new fragments are visible to every snapshot
 * at once: snapshots older than this rewrite cannot read the old storage any
 * more, and they should still see the rows.
 */
void
compact_relation_copy_for_cluster(Relation OldTable, Relation NewTable,
								  Relation OldIndex, bool use_sort,
								  TransactionId OldestXmin,
								  TransactionId *xid_cutoff,
								  MultiXactId *multi_cutoff,
								  double *num_tuples,
								  double *tups_vacuumed,
								  double *tups_recently_dead)
{
	Snapshot	snapshot = RegisterSnapshot(GetLatestSnapshot());
	CommandId	cid = GetCurrentCommandId(true);
	TableScanDesc scan;
	TupleTableSlot *slot;
	Tuplesortstate *sort = NULL;
	double		total = 0;

	WriteStateSetFrozen(NewTable->rd_node);
	if (OldIndex != NULL)
		sort = tuplesort_begin_cluster(RelationGetDescr(OldTable), OldIndex,
									   maintenance_work_mem, NULL, TUPLESORT_NONE);

	slot = table_slot_create(OldTable, NULL);
	scan = table_beginscan(OldTable, snapshot, 0, NULL);
	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		CHECK_FOR_INTERRUPTS();
		if (sort)
		{
			bool		shouldFree;
			HeapTuple	tuple = ExecFetchSlotHeapTuple(slot, false, &shouldFree);

			tuplesort_putheaptuple(sort, tuple);
			if (shouldFree)
				heap_freetuple(tuple);
		}
		else
			CompactWriteRow(NewTable, slot, cid);
		total++;
	}
	table_endscan(scan);

	if (sort)
	{
		HeapTuple	tuple;
		TupleTableSlot *hslot = MakeSingleTupleTableSlot(RelationGetDescr(OldTable),
														 &TTSOpsHeapTuple);

		tuplesort_performsort(sort);
		while ((tuple = tuplesort_getheaptuple(sort, true)) != NULL)
		{
			CHECK_FOR_INTERRUPTS();
			ExecStoreHeapTuple(tuple, hslot, false);
			CompactWriteRow(NewTable, hslot, cid);
		}
		ExecDropSingleTupleTableSlot(hslot);
		tuplesort_end(sort);
	}
	ExecDropSingleTupleTableSlot(slot);
	UnregisterSnapshot(snapshot);

	*num_tuples = total;
	*tups_vacuumed = 0;
	*tups_recently_dead = 0;
}

/*
 * Object access hook: a dropped relation whose storage has a fragment
 * directory takes the directory with it at commit.  Checking the directory
 * rather than the access method also covers the old storage of a rewrite,
 * which by then belongs to a transient relation.
 */
static void
compact_object_access(ObjectAccessType access, Oid classId, Oid objectId,
					  int subId, void *arg)
{
	if (prev_object_access_hook)
		prev_object_access_hook(access, classId, objectId, subId, arg);

	if (access == OAT_DROP && classId == RelationRelationId && subId == 0)
	{
		Relation	rel = relation_open(objectId, NoLock);

		if (RELKIND_HAS_STORAGE(rel->rd_rel->relkind) &&
			rel->rd_rel->relkind != RELKIND_INDEX &&
			OidIsValid(rel->rd_node.relNode))
		{
			char	   *path = CompactTableDir(MyDatabaseId, rel->rd_node.relNode);
			struct stat st;

			if (stat(path, &st) == 0)
				DropStorage(rel->rd_node.relNode);
			pfree(path);
		}
		relation_close(rel, NoLock);
	}
}

/*
 * Make sure a storage's directory exists before a fragment is written into
 * it.  Directories are made by the first fragment, not by CREATE TABLE or
 * TRUNCATE: by then the relation's pg_class row exists, which is what
 * DdlSweepOrphanDirs relies on.
 */
void
CompactEnsureTableDir(Oid relfilenode)
{
	if (CompactCreateTableDir(MyDatabaseId, relfilenode))
	{
		COMPACT_FAULT_POINT("storage_dir_created");
		CompactWalLogMkdir(MyDatabaseId, relfilenode);
	}
}

/*
 * Remove the directories of this database that belong to no relation: left
 * by a crash between the commit of a DROP, TRUNCATE or rewrite and the
 * removal that follows it, or by a crashed transaction that created a
 * table.  A directory is kept while any version of a pg_class row that a
 * dirty snapshot sees names it: a live relation, or one being created or
 * dropped by a transaction still in progress.  Returns how many it removed.
 */
int
DdlSweepOrphanDirs(void)
{
	char	   *dbdir = CompactDatabaseDir(MyDatabaseId);
	DIR		   *dir;
	struct dirent *de;
	List	   *candidates = NIL;
	ListCell   *lc;
	int			removed = 0;

	dir = AllocateDir(dbdir);
	if (dir == NULL && errno == ENOENT)
		return 0;
	while ((de = ReadDir(dir, dbdir)) != NULL)
	{
		char	   *end;
		unsigned long n = strtoul(de->d_name, &end, 10);

		if (de->d_name[0] >= '0' && de->d_name[0] <= '9' && *end == '\0')
			candidates = lappend_oid(candidates, (Oid) n);
	}
	FreeDir(dir);

	if (candidates != NIL)
	{
		SnapshotData dirty;
		Relation	pg_class = table_open(RelationRelationId, AccessShareLock);
		TableScanDesc scan;
		HeapTuple	tuple;

		InitDirtySnapshot(dirty);
		scan = table_beginscan(pg_class, &dirty, 0, NULL);
		while ((tuple = heap_getnext(scan, ForwardScanDirection)) != NULL)
		{
			Oid			relnode = ((Form_pg_class) GETSTRUCT(tuple))->relfilenode;

			candidates = list_delete_oid(candidates, relnode);
		}
		table_endscan(scan);
		table_close(pg_class, AccessShareLock);
	}

	foreach(lc, candidates)
	{
		RemoveStorageDir(lfirst_oid(lc));
		ereport(LOG,
				(errmsg("removed directory of storage %u of database %u, which no relation uses",
						lfirst_oid(lc), MyDatabaseId)));
		removed++;
	}
	return removed;
}

void
CompactDdlInit(void)
{
	prev_object_access_hook = object_access_hook;
	object_access_hook = compact_object_access;
	RegisterXactCallback(ddl_xact_callback, NULL);
	RegisterSubXactCallback(ddl_subxact_callback, NULL);
}
