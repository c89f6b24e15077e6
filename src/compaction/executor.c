/*-------------------------------------------------------------------------
 * executor.c
 *	  Run a compaction plan: rewrite each group of fragments into new ones.
 *
 * A group is rewritten like this, in one transaction:
 *
 *	 1. Read the sources' rows that the snapshot sees (deleted rows are
 *		dropped), in row order (merge) or through a sort on the clustering
 *		(sort, Z-order, Hilbert), which spills past maintenance_work_mem.
 *	 2. Write them to new fragment files of about the target size, with row
 *		numbers reserved from the metapage, statistics computed as written,
 *		and insert index entries for the new row numbers (the old entries
 *		stay until VACUUM removes the old fragments: snapshots that still see
 *		the old fragments keep finding their rows through them).
 *	 3. Record the new fragments in the manifest, delete the sources' rows,
 *		and write one row map per source (rowmap.h) so that transactions
 *		whose snapshots predate the commit can follow rows to their copies.
 *	 4. Take every row lock of the table (CompactLockAllFragments): this
 *		waits for the transactions that are deleting, updating or locking
 *		rows right now.  Then every deletion the sources received after our
 *		snapshot is committed; carry each onto the row's copy through the
 *		map.  The rewrite is never thrown away because of a concurrent
 *		DELETE or UPDATE.
 *
 * The table itself is locked in ShareUpdateExclusiveLock (as by VACUUM):
 * compactions of one table, VACUUM and DDL exclude each other, while
 * SELECT, INSERT, COPY, UPDATE and DELETE go on.  Inserts never wait; row
 * changes wait only for the short step 4.  With own_transactions (VACUUM's
 * form), each group commits on its own and a session lock keeps the table's
 * lock across them, so a cancelled or crashed job keeps the groups it
 * finished.  Old fragment files stay until no snapshot can see them; VACUUM
 * removes them with their maps and index entries.
 *
 * IDENTIFICATION
 *	  src/compaction/executor.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/genam.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/index.h"
#include "catalog/pg_opfamily.h"
#include "catalog/pg_type.h"
#include "commands/vacuum.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/execnodes.h"
#include "portability/instr_time.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/tuplesort.h"

#include "compact.h"
#include "compaction/compaction.h"
#include "compaction/kernel.h"
#include "compaction/sortkey.h"
#include "format/files.h"
#include "format/filewal.h"
#include "format/rowmap.h"
#include "tableam/tableam.h"

compaction_progress_hook_type compaction_progress_hook = NULL;
compaction_yield_hook_type compaction_yield_hook = NULL;

/* the compaction running in this backend */
static CompactionProgress Progress;
/* bytes not yet charged to the cost balance (less than a page) */
static int64 UnchargedRead = 0;
static int64 UnchargedWritten = 0;

static void
ReportPhase(const char *phase)
{
	Progress.phase = phase;
	if (compaction_progress_hook)
		compaction_progress_hook(&Progress);
}

/*
 * Account for bytes read from source fragments and written to new ones:
 * progress for the jobs view, and, when cost-based delay is active (the
 * background workers turn it on), the same page costs and sleeps as
 * VACUUM's, so background compaction does not starve foreground queries.
 * Also the kernels' interrupt check.
 */
void
CompactionNoteIO(int64 read_bytes, int64 written_bytes)
{
	Progress.bytes_done += read_bytes;
	if (VacuumCostActive)
	{
		UnchargedRead += read_bytes;
		UnchargedWritten += written_bytes;
		VacuumCostBalance += (UnchargedRead / BLCKSZ) * VacuumCostPageMiss +
			(UnchargedWritten / BLCKSZ) * VacuumCostPageDirty;
		UnchargedRead %= BLCKSZ;
		UnchargedWritten %= BLCKSZ;
	}
	vacuum_delay_point();		/* includes CHECK_FOR_INTERRUPTS() */
	if (compaction_yield_hook)
		compaction_yield_hook();
	if (read_bytes > 0 && compaction_progress_hook)
		compaction_progress_hook(&Progress);
}

/* The output fragment holding a new row number. */
static FragmentMeta *
GroupOutputOfRow(List *written, int64 rownum)
{
	ListCell   *lc;

	foreach(lc, written)
	{
		FragmentMeta *meta = lfirst(lc);

		if (rownum >= meta->first_row && rownum < meta->first_row + meta->row_count)
			return meta;
	}
	elog(ERROR, "row " INT64_FORMAT " is in no fragment of the compaction", rownum);
	return NULL;
}

typedef struct CarriedRow
{
	int64		rownum;
	int64		successor;
} CarriedRow;

static int
CompareCarried(const void *a, const void *b)
{
	int64		x = ((const CarriedRow *) a)->rownum;
	int64		y = ((const CarriedRow *) b)->rownum;

	return x < y ? -1 : (x > y ? 1 : 0);
}

/*
 * Step 4: with every row lock of the table held, carry the deletions that
 * the sources received after our snapshot onto the new fragments.
 * Returns how many.
 */
static int64
CarryDeletions(GroupRun *gs)
{
	Oid			relnode = gs->rel->rd_node.relNode;
	CarriedRow *rows = NULL;
	int64		n = 0;
	int64		cap = 0;
	int64		i = 0;

	CompactLockAllFragments(gs->rel, !gs->request->background);
	for (int s = 0; s < gs->nsources; s++)
	{
		DeletionVector *now = DeletionLoad(relnode, gs->sources[s], SnapshotSelf);

		if (now == NULL)
			continue;
		for (uint32 off = 0; off < now->nrows; off++)
		{
			/* a byte at a time through the rows deleted in neither */
			if (off % 8 == 0)
			{
				uint8		fresh = now->bits[off / 8] &
					~(gs->deleted[s] ? gs->deleted[s]->bits[off / 8] : 0);

				if (fresh == 0)
				{
					off += 7;
					continue;
				}
			}
			if (!DeletionVectorIsSet(now, off) ||
				(gs->deleted[s] && DeletionVectorIsSet(gs->deleted[s], off)))
				continue;
			if (gs->maps[s][off] < 0)
				elog(ERROR, "compaction dropped a row it did not see deleted");
			if (n == cap)
			{
				cap = Max(cap * 2, 64);
				rows = rows ? repalloc_huge(rows, sizeof(CarriedRow) * cap) :
					palloc(sizeof(CarriedRow) * cap);
			}
			rows[n].rownum = gs->maps[s][off];
			rows[n].successor = DeletionVectorSuccessor(now, off);
			n++;
		}
	}
	if (n == 0)
		return 0;

	qsort(rows, n, sizeof(CarriedRow), CompareCarried);
	while (i < n)
	{
		FragmentMeta *meta = GroupOutputOfRow(gs->out.written, rows[i].rownum);
		uint32	   *offsets = palloc(sizeof(uint32) * (n - i));
		RowSuccessor *succ = palloc(sizeof(RowSuccessor) * (n - i));
		uint32		count = 0;
		int			nsucc = 0;

		while (i < n && rows[i].rownum < meta->first_row + meta->row_count)
		{
			uint32		off = (uint32) (rows[i].rownum - meta->first_row);

			offsets[count++] = off;
			if (rows[i].successor >= 0)
			{
				succ[nsucc].offset = off;
				succ[nsucc].successor = rows[i].successor;
				nsucc++;
			}
			i++;
		}
		DeletionInsert(relnode, meta->fragment_id, (uint32) meta->row_count,
					   offsets, count, succ, nsucc);
		pfree(offsets);
		pfree(succ);
	}
	return n;
}

/* Rewrite one group; the caller's transaction commits it. */
static void
RunGroup(Relation rel, const CompactionRequest *request,
		 const CompactionSettings *settings, CompactionGroup *group,
		 CompactionResult *result)
{
	GroupRun	gs;
	Snapshot	snapshot = RegisterSnapshot(GetTransactionSnapshot());
	GroupIndexes indexes;
	ListCell   *lc;
	int			s = 0;
	int64		live;
	int64		first_row;
	int64		carried;
	const char *unusable;
	int64	   *maps;
	int64		map_rows;
	char	  **paths;

	memset(&gs, 0, sizeof(gs));
	gs.rel = rel;
	gs.request = request;
	gs.group = group;
	gs.nsources = list_length(group->sources);
	gs.sources = palloc(sizeof(FragmentMeta *) * gs.nsources);
	gs.deleted = palloc0(sizeof(DeletionVector *) * gs.nsources);
	gs.maps = palloc(sizeof(int64 *) * gs.nsources);

	/*
	 * The row maps, one allocation for all sources: a group of many small
	 * fragments would otherwise take its tens of MB from malloc's heap,
	 * faulted in 4 kB at a time (on a virtual machine a third of a merge).
	 * With compact.shared_work_mem they go at its start, and a sort gets
	 * the rest.
	 */
	map_rows = 0;
	foreach(lc, group->sources)
		map_rows += Max(((FragmentMeta *) lfirst(lc))->row_count, 1);
	maps = NULL;
	gs.shared = SharedWorkMemClaim(CurrentMemoryContext, &gs.shared_size);
	if (gs.shared && sizeof(int64) * map_rows <= gs.shared_size)
	{
		Size		mapsize = Min(CACHELINEALIGN(sizeof(int64) * map_rows),
								  gs.shared_size);

		maps = (int64 *) gs.shared;
		gs.shared += mapsize;
		gs.shared_size -= mapsize;
	}
	if (maps == NULL)
		maps = CompactAllocLarge(CurrentMemoryContext, sizeof(int64) * map_rows);
	map_rows = 0;
	group->deleted = 0;
	foreach(lc, group->sources)
	{
		FragmentMeta *meta = lfirst(lc);

		gs.sources[s] = meta;
		gs.deleted[s] = DeletionLoad(rel->rd_node.relNode, meta, snapshot);
		if (gs.deleted[s])
			group->deleted += gs.deleted[s]->ndeleted;
		gs.maps[s] = maps + map_rows;
		map_rows += Max(meta->row_count, 1);
		for (int64 r = 0; r < meta->row_count; r++)
			gs.maps[s][r] = -1;
		s++;
	}
	live = group->rows - group->deleted;
	first_row = live > 0 ? MetapageReserveRows(rel, live) : 0;

	GroupIndexesOpen(rel, &indexes);
	unusable = live > 0 ? ParallelWriterUnusable(request, group, &indexes) :
		"no rows to write";
	GroupOutputInit(&gs.out, rel, settings, group, first_row,
					request->clustering, &indexes, unusable == NULL);
	if (unusable == NULL && gs.out.pw == NULL)
		unusable = "no parallel worker could be started";
	if (unusable)
		elog(DEBUG2, "compact: group of %d fragments of \"%s\" written by this process: %s",
			 gs.nsources, RelationGetRelationName(rel), unusable);
	else
		elog(DEBUG1, "compact: group of %d fragments of \"%s\" written by a parallel worker",
			 gs.nsources, RelationGetRelationName(rel));
	if (request->strategy == COMPACTION_MERGE)
		KernelMerge(&gs);
	else if (!KernelSortInPasses(&gs))
		KernelSortTuplesort(&gs);
	GroupOutputFinish(&gs.out);
	GroupIndexesClose(&indexes);

	if (gs.out.next_row != first_row + live)
		elog(ERROR, "compaction wrote " INT64_FORMAT " rows instead of " INT64_FORMAT,
			 gs.out.next_row - first_row, live);

	/*
	 * Replace the sources, and leave maps for older snapshots.  The maps are
	 * named by the xid that deletes the sources' manifest rows: flush the WAL
	 * of those deletions first, so that the xid is never reused after a
	 * crash (see MetapageNextFragmentId).
	 */
	COMPACT_FAULT_POINT("compact_group_written");
	for (s = 0; s < gs.nsources; s++)
		ManifestDelete(gs.sources[s]);
	XLogFlush(XactLastRecEnd);
	COMPACT_FAULT_POINT("compact_sources_replaced");
	paths = palloc(sizeof(char *) * gs.nsources);
	for (s = 0; s < gs.nsources; s++)
	{
		paths[s] = CompactRowMapPath(MyDatabaseId, rel->rd_node.relNode,
									 gs.sources[s]->fragment_id,
									 GetCurrentTransactionId());
		RowMapWrite(paths[s], gs.sources[s]->fragment_id,
					(uint32) gs.sources[s]->row_count, gs.maps[s]);
		CompactWalLogFile(MyDatabaseId, rel->rd_node.relNode, COMPACT_FILE_ROWMAP,
						  gs.sources[s]->fragment_id, GetCurrentTransactionId());
	}
	RowMapSync(paths, gs.nsources);
	for (s = 0; s < gs.nsources; s++)
		pfree(paths[s]);
	pfree(paths);
	COMPACT_FAULT_POINT("compact_map_written");
	CommandCounterIncrement();
	ReportPhase("committing");
	carried = CarryDeletions(&gs);
	CommandCounterIncrement();
	COMPACT_FAULT_POINT("compact_deletions_carried");
	UnregisterSnapshot(snapshot);

	result->groups++;
	result->rows_rewritten += live;
	result->deleted_rows_removed += group->deleted;
	result->bytes_after += gs.out.bytes - group->bytes;
	result->fragments_after += list_length(gs.out.written) - gs.nsources;
	result->fragments_read += gs.nsources;
	result->fragments_written += list_length(gs.out.written);
	result->bytes_written += gs.out.bytes;

	ereport(request->verbose ? INFO : DEBUG1,
			(errmsg("compacted %d fragments of \"%s\" (" INT64_FORMAT " rows, " INT64_FORMAT " bytes) into %d (" INT64_FORMAT " rows, " INT64_FORMAT " bytes)",
					gs.nsources, RelationGetRelationName(rel), group->rows,
					group->bytes, list_length(gs.out.written), live, gs.out.bytes),
			 errdetail(INT64_FORMAT " rows copied without decoding, " INT64_FORMAT " deleted rows removed, " INT64_FORMAT " deletions carried over.",
					   gs.copied_rows, group->deleted, carried)));
}

/* totals of the fragments the latest snapshot sees */
static void
TableTotals(Relation rel, int64 *fragments, int64 *bytes)
{
	List	   *list = ManifestList(rel->rd_node.relNode, GetLatestSnapshot());
	ListCell   *lc;

	*fragments = list_length(list);
	*bytes = 0;
	foreach(lc, list)
		*bytes += ((FragmentMeta *) lfirst(lc))->bytes;
}

/*
 * Run a request from start to end.  The caller is in a transaction; with
 * request->own_transactions it is also at top level, outside a transaction
 * block, and each group gets a transaction of its own.
 */
void
CompactionRun(const CompactionRequest *request, CompactionResult *result)
{
	Relation	rel;
	CompactionPlan *plan;
	CompactionSettings settings;
	LockRelId	lockid;
	instr_time	start;
	instr_time	duration;
	ListCell   *lc;
	int			ngroups;
	int			done = 0;
	MemoryContext jobcxt;
	MemoryContext old;

	INSTR_TIME_SET_CURRENT(start);
	CompactTuneMalloc();
	memset(result, 0, sizeof(CompactionResult));
	memset(&Progress, 0, sizeof(Progress));
	Progress.result = result;
	Progress.strategy = request->clustering ? request->clustering : "merge";
	ReportPhase("planning");

	/* survives the per-group transactions */
	jobcxt = AllocSetContextCreate(PortalContext ? PortalContext : TopMemoryContext,
								   "compact job", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(jobcxt);

	rel = CompactionOpenTable(request->relid, false);
	if (WriteStateBufferedRows(rel->rd_node) > 0 || WriteStateHasDeletes(rel->rd_node))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot compact table \"%s\" because the current transaction has changed it",
						RelationGetRelationName(rel)),
				 errhint("Commit the transaction first.")));
	CompactionSettingsGet(rel, &settings);
	TableTotals(rel, &result->fragments_before, &result->bytes_before);
	result->fragments_after = result->fragments_before;
	result->bytes_after = result->bytes_before;

	plan = CompactionPlanBuild(rel, request, GetTransactionSnapshot());
	CompactionPlanReport(plan, request,
						 request->dry_run ? INFO : (request->verbose ? INFO : DEBUG1));
	ngroups = list_length(plan->groups);
	Progress.groups_total = ngroups;
	Progress.bytes_total = plan->read_bytes;

	if (request->dry_run || ngroups == 0)
	{
		relation_close(rel, NoLock);
		MemoryContextSwitchTo(old);
		goto finish;
	}

	lockid = rel->rd_lockInfo.lockRelId;
	if (request->own_transactions)
		LockRelationIdForSession(&lockid, ShareUpdateExclusiveLock);
	relation_close(rel, NoLock);

	foreach(lc, plan->groups)
	{
		CompactionGroup *group = lfirst(lc);
		MemoryContext groupcxt;

		if (request->own_transactions && done > 0)
		{
			PopActiveSnapshot();
			CommitTransactionCommand();
			COMPACT_FAULT_POINT("compact_group_committed");
			StartTransactionCommand();
			PushActiveSnapshot(GetTransactionSnapshot());
		}
		groupcxt = AllocSetContextCreate(jobcxt, "compact group",
										 ALLOCSET_DEFAULT_SIZES);
		MemoryContextSwitchTo(groupcxt);
		rel = table_open(request->relid, ShareUpdateExclusiveLock);
		ReportPhase("rewriting");
		RunGroup(rel, request, &settings, group, result);
		table_close(rel, NoLock);
		if (compact_debug_crash_after_groups > 0 &&
			done == compact_debug_crash_after_groups)
			elog(PANIC, "compact.debug_crash_after_groups: crashing after %d committed groups",
				 done);
		MemoryContextSwitchTo(jobcxt);
		MemoryContextDelete(groupcxt);
		done++;
		Progress.groups_done = done;
	}
	if (request->own_transactions)
	{
		PopActiveSnapshot();
		CommitTransactionCommand();
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		UnlockRelationIdForSession(&lockid, ShareUpdateExclusiveLock);
	}
	MemoryContextSwitchTo(old);

finish:
	INSTR_TIME_SET_CURRENT(duration);
	INSTR_TIME_SUBTRACT(duration, start);
	result->duration_ms = INSTR_TIME_GET_MILLISEC(duration);
	ReportPhase("finished");
	MemoryContextDelete(jobcxt);
}
