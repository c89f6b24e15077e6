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

#include "access/multixact.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "commands/vacuum.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/procarray.h"
#include "utils/snapmgr.h"

#include "format/files.h"
#include "tableam/tableam.h"

/*
 * Remove the files of a storage that nobody can read.  Returns how many.
 */
static int
RemoveDeadFiles(Relation rel, TransactionId oldest_xmin)
{
	Oid			relnode = rel->rd_node.relNode;
	List	   *removable = ManifestRemovable(relnode, oldest_xmin);
	FragmentFileName *files;
	int			nfiles;
	int			removed = 0;
	ListCell   *lc;

	foreach(lc, removable)
	{
		FragmentMeta *meta = lfirst(lc);
		char	   *path = CompactFragmentPath(MyDatabaseId, relnode,
											   meta->fragment_id, meta->file_xid);

		CompactUnlinkFile(path);
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
		if (ManifestReferences(relnode, files[i].fragment_id))
			continue;
		path = CompactFragmentPath(MyDatabaseId, relnode,
								   files[i].fragment_id, files[i].xid);
		CompactUnlinkFile(path);
		ereport(DEBUG1,
				(errmsg("removed orphaned fragment file \"%s\"", path)));
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
	*rows -= DeletionCount(rel->rd_node.relNode, snapshot, NULL);
	*rows += WriteStateBufferedRows(rel->rd_node);
	if (*rows < 0)
		*rows = 0;
}

void
compact_relation_vacuum(Relation rel, VacuumParams *params,
						BufferAccessStrategy bstrategy)
{
	TransactionId oldest_xmin = GetOldestNonRemovableTransactionId(rel);
	Snapshot	snapshot = RegisterSnapshot(GetLatestSnapshot());
	double		rows;
	double		bytes;
	int			removed;
	int			folded;

	removed = RemoveDeadFiles(rel, oldest_xmin);
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
