/*-------------------------------------------------------------------------
 * vacuum.c
 *	  VACUUM of compact tables, and the planner's size estimates.
 *
 * VACUUM (and autovacuum, which calls the same callback) removes the files
 * no snapshot can read any more: fragments whose manifest rows were deleted
 * by a transaction older than every running snapshot, fragments written by
 * aborted transactions, and files of crashed writers that never reached the
 * manifest.  A file whose name carries a running transaction's xid is left
 * alone, and that check is made before the manifest is consulted, so a
 * writer that commits in between is never mistaken for an orphan.  Then it
 * updates pg_class's statistics.  It takes no lock beyond VACUUM's own
 * ShareUpdateExclusiveLock and reports file trouble as WARNINGs, so
 * autovacuum may run it at any time.
 *
 * IDENTIFICATION
 *	  src/tableam/vacuum.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>

#include "access/genam.h"
#include "access/multixact.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "commands/vacuum.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "utils/snapmgr.h"

#include "compact.h"
#include "format/files.h"
#include "format/filewal.h"
#include "tableam/tableam.h"

/* row ranges of removed fragments, for the index cleanup callback */
typedef struct DeadRanges
{
	int			count;
	int64	   *first;			/* sorted */
	int64	   *end;
} DeadRanges;

static bool
RowInDeadRange(ItemPointer tid, void *state)
{
	DeadRanges *ranges = (DeadRanges *) state;
	int64		rownum = CompactTidToRowNumber(tid);
	int			lo = 0;
	int			hi = ranges->count - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;

		if (rownum < ranges->first[mid])
			hi = mid - 1;
		else if (rownum >= ranges->end[mid])
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

static int
CompareMeta(const void *a, const void *b)
{
	int64		x = (*(FragmentMeta *const *) a)->first_row;
	int64		y = (*(FragmentMeta *const *) b)->first_row;

	return x < y ? -1 : (x > y ? 1 : 0);
}

/*
 * Remove the index entries that point into removed fragments: their row
 * numbers are never reused, so the entries are dead for every snapshot.
 */
static void
CleanIndexes(Relation rel, DeadRanges *ranges, BufferAccessStrategy bstrategy)
{
	Relation   *indexes;
	int			nindexes;

	vac_open_indexes(rel, RowExclusiveLock, &nindexes, &indexes);
	for (int i = 0; i < nindexes; i++)
	{
		IndexVacuumInfo ivinfo;
		IndexBulkDeleteResult *stats;

		memset(&ivinfo, 0, sizeof(ivinfo));
		ivinfo.index = indexes[i];
		ivinfo.analyze_only = false;
		ivinfo.report_progress = false;
		ivinfo.estimated_count = true;
		ivinfo.message_level = DEBUG2;
		ivinfo.num_heap_tuples = rel->rd_rel->reltuples;
		ivinfo.strategy = bstrategy;
		stats = index_bulk_delete(&ivinfo, NULL, RowInDeadRange, ranges);
		stats = index_vacuum_cleanup(&ivinfo, stats);
		if (stats)
			pfree(stats);
	}
	vac_close_indexes(nindexes, indexes, NoLock);
}

/*
 * Remove the files of a storage that nobody can read, with their index
 * entries, deletion rows and row maps.  Returns how many files.
 */
static int
RemoveDeadFiles(Relation rel, TransactionId oldest_xmin,
				BufferAccessStrategy bstrategy)
{
	Oid			relnode = rel->rd_node.relNode;
	List	   *removable = ManifestRemovable(relnode, oldest_xmin);
	FragmentMeta **dead = palloc(sizeof(FragmentMeta *) * Max(list_length(removable), 1));
	int			ndead = 0;
	FragmentFileName *files;
	int			nfiles;
	int			removed = 0;
	ListCell   *lc;
	TransactionId conflict_xid = oldest_xmin;

	/* hot standby snapshots older than the horizon may read dead fragments */
	TransactionIdRetreat(conflict_xid);

	/* fragments whose files are still there: their index entries go first */
	foreach(lc, removable)
	{
		FragmentMeta *meta = lfirst(lc);
		char	   *path = CompactFragmentPath(MyDatabaseId, relnode,
											   meta->fragment_id, meta->file_xid);
		struct stat st;

		if (stat(path, &st) == 0)
			dead[ndead++] = meta;
		pfree(path);
	}
	if (ndead > 0 && RelationGetForm(rel)->relhasindex)
	{
		DeadRanges ranges;

		qsort(dead, ndead, sizeof(FragmentMeta *), CompareMeta);
		ranges.count = ndead;
		ranges.first = palloc(sizeof(int64) * ndead);
		ranges.end = palloc(sizeof(int64) * ndead);
		for (int i = 0; i < ndead; i++)
		{
			ranges.first[i] = dead[i]->first_row;
			ranges.end[i] = dead[i]->first_row + dead[i]->row_count;
		}
		CleanIndexes(rel, &ranges, bstrategy);
		COMPACT_FAULT_POINT("vacuum_indexes_cleaned");
	}
	for (int i = 0; i < ndead; i++)
	{
		char	   *path = CompactFragmentPath(MyDatabaseId, relnode,
											   dead[i]->fragment_id, dead[i]->file_xid);

		DeletionDeleteFragment(relnode, dead[i]->fragment_id);
		CompactUnlinkFile(path);
		COMPACT_FAULT_POINT("vacuum_fragment_unlinked");
		CompactWalLogUnlink(MyDatabaseId, relnode, COMPACT_FILE_FRAGMENT,
							dead[i]->fragment_id, dead[i]->file_xid, conflict_xid);
		pfree(path);
		removed++;
	}

	nfiles = CompactListTableDir(MyDatabaseId, relnode, &files);
	for (int i = 0; i < nfiles; i++)
	{
		char	   *path;

		/* first the writer, then the manifest: see the file header */
		if (TransactionIdIsInProgress(files[i].xid))
			continue;
		if (files[i].is_map)
		{
			bool		dead_source = false;

			/* a map lives while its source is replaced by it and visible */
			for (int j = 0; j < ndead; j++)
				if (dead[j]->fragment_id == files[i].fragment_id)
					dead_source = true;
			if (!dead_source && ManifestReferences(relnode, files[i].fragment_id) &&
				TransactionIdEquals(ManifestReplacedBy(relnode, files[i].fragment_id),
									files[i].xid))
				continue;
			path = CompactRowMapPath(MyDatabaseId, relnode,
									 files[i].fragment_id, files[i].xid);
		}
		else
		{
			if (ManifestReferences(relnode, files[i].fragment_id))
				continue;
			path = CompactFragmentPath(MyDatabaseId, relnode,
									   files[i].fragment_id, files[i].xid);
		}
		CompactUnlinkFile(path);
		COMPACT_FAULT_POINT("vacuum_orphan_unlinked");
		/* nobody on a standby reads these: unreferenced fragments, maps */
		CompactWalLogUnlink(MyDatabaseId, relnode,
							files[i].is_map ? COMPACT_FILE_ROWMAP : COMPACT_FILE_FRAGMENT,
							files[i].fragment_id, files[i].xid, InvalidTransactionId);
		ereport(DEBUG1,
				(errmsg("removed unreferenced file \"%s\"", path)));
		pfree(path);
		removed++;
	}
	pfree(files);
	return removed;
}

/*
 * Fold the deletion rows of each fragment that every snapshot sees into
 * one, skipping fragments whose row lock someone holds.  Returns how many
 * fragments were folded.
 */
static int
FoldDeletions(Relation rel, TransactionId oldest_xmin)
{
	Oid			relnode = rel->rd_node.relNode;
	List	   *foldable = DeletionFoldable(relnode, oldest_xmin);
	List	   *fragments;
	ListCell   *lc;
	int			folded = 0;

	if (foldable == NIL)
		return 0;
	fragments = ManifestList(relnode, GetActiveSnapshot());
	foreach(lc, fragments)
	{
		FragmentMeta *meta = lfirst(lc);
		ListCell   *fc;

		foreach(fc, foldable)
		{
			if (*(int64 *) lfirst(fc) != meta->fragment_id)
				continue;
			if (CompactTryLockFragment(rel, meta->fragment_id))
			{
				DeletionFold(relnode, meta, oldest_xmin);
				folded++;
			}
			break;
		}
	}
	return folded;
}

/* Live rows and bytes of a storage, as the latest snapshot sees them. */
static void
StorageTotals(Relation rel, Snapshot snapshot, double *rows, double *bytes)
{
	List	   *fragments = ManifestList(rel->rd_node.relNode, snapshot);
	ListCell   *lc;

	*rows = 0;
	*bytes = 0;
	foreach(lc, fragments)
	{
		FragmentMeta *meta = lfirst(lc);

		*rows += meta->row_count;
		*bytes += meta->bytes;
	}
	*rows -= DeletionCount(rel->rd_node.relNode, snapshot, fragments, NULL, NULL);
	*rows += WriteStateBufferedRows(rel->rd_node);
	if (*rows < 0)
		*rows = 0;
}

/*
 * VACUUM marks its backend PROC_IN_VACUUM, and other backends then leave
 * it out of their snapshots and horizons: right for heap's vacuum, which
 * never takes a transaction id.  Ours writes catalog rows (folded
 * deletions, removed fragments): under that flag other backends would take
 * our running transaction for an aborted one (and set hint bits saying so)
 * and remove rows and TOAST chunks our snapshot still reads.  So it drops
 * the flag and takes a new snapshot, an ordinary transaction from here on.
 */
static void
LeaveLazyVacuumMode(void)
{
	LWLockAcquire(ProcArrayLock, LW_EXCLUSIVE);
	MyProc->statusFlags &= ~PROC_IN_VACUUM;
	ProcGlobal->statusFlags[MyProc->pgxactoff] = MyProc->statusFlags;
	LWLockRelease(ProcArrayLock);
	if (ActiveSnapshotSet())
	{
		PopActiveSnapshot();
		PushActiveSnapshot(GetTransactionSnapshot());
	}
}

void
compact_relation_vacuum(Relation rel, VacuumParams *params,
						BufferAccessStrategy bstrategy)
{
	TransactionId oldest_xmin;
	Snapshot	snapshot;
	double		rows;
	double		bytes;
	int			removed;
	int			folded;

	LeaveLazyVacuumMode();
	oldest_xmin = GetOldestNonRemovableTransactionId(rel);
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	removed = RemoveDeadFiles(rel, oldest_xmin, bstrategy);
	folded = FoldDeletions(rel, oldest_xmin);
	CommandCounterIncrement();
	StorageTotals(rel, snapshot, &rows, &bytes);
	UnregisterSnapshot(snapshot);

	vac_update_relstats(rel, Max((BlockNumber) (bytes / BLCKSZ), 1), rows, 0,
						RelationGetForm(rel)->relhasindex,
						InvalidTransactionId, InvalidMultiXactId,
						NULL, NULL, false);
	pgstat_report_vacuum(RelationGetRelid(rel), false, (PgStat_Counter) rows, 0);

	ereport((params->options & VACOPT_VERBOSE) ? INFO : DEBUG2,
			(errmsg("\"%s\": removed %d fragment files, folded the deletion vectors of %d fragments; %.0f live rows in %.0f bytes",
					RelationGetRelationName(rel), removed, folded, rows, bytes)));
}

/*
 * Pages and rows for the planner, from the manifest.  Pages are the bytes
 * of the (compressed) fragments in blocks.
 */
void
compact_relation_estimate_size(Relation rel, int32 *attr_widths,
							   BlockNumber *pages, double *tuples,
							   double *allvisfrac)
{
	Snapshot	snapshot = RegisterSnapshot(GetLatestSnapshot());
	double		rows;
	double		bytes;

	StorageTotals(rel, snapshot, &rows, &bytes);
	UnregisterSnapshot(snapshot);

	*pages = (BlockNumber) Max(bytes / BLCKSZ, 1);
	*tuples = rows;
	*allvisfrac = 0;
}
