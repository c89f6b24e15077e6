/*-------------------------------------------------------------------------
 * deletions.c
 *	  Deletion vectors as rows of compact.deletion.
 *
 * A transaction that deletes rows of a fragment inserts one row for that
 * fragment at commit, holding the offsets it deleted; the row's xmin makes
 * the deletions visible exactly to the snapshots that see the commit.  Two
 * transactions never delete the same row: deleters of a fragment serialize
 * on its row lock (tableam/modify.c) and look at the committed vectors
 * before they delete.
 *
 * IDENTIFICATION
 *	  src/catalog/deletions.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/transam.h"
#include "access/xact.h"
#include "storage/procarray.h"
#include "utils/snapmgr.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"

#include "catalog/metadata.h"

#define Natts_deletion				5
#define Anum_deletion_relfilenode	1
#define Anum_deletion_fragment_id	2
#define Anum_deletion_deleted_rows	3
#define Anum_deletion_rows			4
#define Anum_deletion_successors	5

/*
 * The deletion vector of a fragment as a snapshot sees it, or NULL if no
 * row of it is deleted.
 */
DeletionVector *
DeletionLoad(Oid relfilenode, const FragmentMeta *meta, Snapshot snapshot)
{
	Relation	rel = table_open(CompactCatalogRelid("deletion", false), AccessShareLock);
	SysScanDesc scan;
	ScanKeyData key[2];
	HeapTuple	tuple;
	DeletionVector *dv = NULL;

	ScanKeyInit(&key[0], Anum_deletion_relfilenode, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relfilenode));
	ScanKeyInit(&key[1], Anum_deletion_fragment_id, BTEqualStrategyNumber,
				F_INT8EQ, Int64GetDatum(meta->fragment_id));
	scan = systable_beginscan(rel, CompactCatalogRelid("deletion_fragment", false),
							  true, snapshot, 2, key);
	while ((tuple = systable_getnext(scan)) != NULL)
	{
		bool		isnull;
		Datum		rows = heap_getattr(tuple, Anum_deletion_rows,
										RelationGetDescr(rel), &isnull);

		Datum		succ;

		if (isnull)
			continue;
		if (dv == NULL)
			dv = DeletionVectorCreate((uint32) meta->row_count);
		DeletionVectorMerge(dv, DatumGetByteaPP(rows));
		succ = heap_getattr(tuple, Anum_deletion_successors,
							RelationGetDescr(rel), &isnull);
		if (!isnull)
			DeletionSuccessorsMerge(dv, DatumGetByteaPP(succ));
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return dv;
}

/*
 * Record that the current transaction deleted the given rows (sorted
 * offsets) of a fragment of nrows rows; nsucc of them were updated, with
 * the row numbers of their new versions in successors.
 */
void
DeletionInsert(Oid relfilenode, int64 fragment_id, uint32 nrows,
			   const uint32 *rows, uint32 count,
			   const RowSuccessor *successors, int nsucc)
{
	Relation	rel = table_open(CompactCatalogRelid("deletion", false), RowExclusiveLock);
	Datum		values[Natts_deletion];
	bool		isnull[Natts_deletion] = {false, false, false, false, false};
	HeapTuple	tuple;

	values[Anum_deletion_relfilenode - 1] = ObjectIdGetDatum(relfilenode);
	values[Anum_deletion_fragment_id - 1] = Int64GetDatum(fragment_id);
	values[Anum_deletion_deleted_rows - 1] = Int32GetDatum((int32) count);
	values[Anum_deletion_rows - 1] =
		PointerGetDatum(DeletionVectorEncode(rows, count, nrows));
	if (nsucc > 0)
		values[Anum_deletion_successors - 1] =
			PointerGetDatum(DeletionSuccessorsEncode(successors, nsucc));
	else
		isnull[Anum_deletion_successors - 1] = true;
	tuple = heap_form_tuple(RelationGetDescr(rel), values, isnull);
	CompactCatalogInsert(rel, tuple, GetCurrentCommandId(true), 0);
	heap_freetuple(tuple);
	table_close(rel, RowExclusiveLock);
}

static int
CompareInt64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return x < y ? -1 : (x > y ? 1 : 0);
}

/*
 * Deleted rows of the given fragments (a List of FragmentMeta, as the
 * snapshot sees them) that the snapshot sees.  per_fragment, if not NULL,
 * gets the count of each fragment in list order; *bytes, if not NULL, the
 * size of their vectors.  Deletion rows of fragments not in the list (a
 * compaction replaced them) are not counted.
 */
int64
DeletionCount(Oid relfilenode, Snapshot snapshot, List *fragments,
			  int64 *per_fragment, int64 *bytes)
{
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tuple;
	int			n = list_length(fragments);
	int64	   *ids;
	int64	   *sorted;
	int64		total = 0;
	ListCell   *lc;
	int			i = 0;

	if (bytes)
		*bytes = 0;
	if (per_fragment)
		memset(per_fragment, 0, sizeof(int64) * n);
	if (n == 0)
		return 0;

	/* fragment ids in list order, and sorted (id, position) pairs */
	ids = palloc(sizeof(int64) * n);
	sorted = palloc(sizeof(int64) * n * 2);
	foreach(lc, fragments)
	{
		ids[i] = ((FragmentMeta *) lfirst(lc))->fragment_id;
		sorted[2 * i] = ids[i];
		sorted[2 * i + 1] = i;
		i++;
	}
	qsort(sorted, n, sizeof(int64) * 2, CompareInt64);

	rel = table_open(CompactCatalogRelid("deletion", false), AccessShareLock);
	ScanKeyInit(&key, Anum_deletion_relfilenode, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relfilenode));
	scan = systable_beginscan(rel, CompactCatalogRelid("deletion_fragment", false),
							  true, snapshot, 1, &key);
	while ((tuple = systable_getnext(scan)) != NULL)
	{
		bool		isnull;
		int64		id = DatumGetInt64(heap_getattr(tuple, Anum_deletion_fragment_id,
													RelationGetDescr(rel), &isnull));
		Datum		count = heap_getattr(tuple, Anum_deletion_deleted_rows,
										 RelationGetDescr(rel), &isnull);
		int64	   *hit = bsearch(&id, sorted, n, sizeof(int64) * 2, CompareInt64);

		if (hit == NULL || isnull)
			continue;
		total += DatumGetInt32(count);
		if (per_fragment)
			per_fragment[hit[1]] += DatumGetInt32(count);
		if (bytes)
			*bytes += tuple->t_len;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	pfree(ids);
	pfree(sorted);
	return total;
}

/*
 * Delete every deletion row of a fragment whose file VACUUM removes.
 */
void
DeletionDeleteFragment(Oid relfilenode, int64 fragment_id)
{
	Relation	rel = table_open(CompactCatalogRelid("deletion", false), RowExclusiveLock);
	SysScanDesc scan;
	ScanKeyData key[2];
	HeapTuple	tuple;

	ScanKeyInit(&key[0], Anum_deletion_relfilenode, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relfilenode));
	ScanKeyInit(&key[1], Anum_deletion_fragment_id, BTEqualStrategyNumber,
				F_INT8EQ, Int64GetDatum(fragment_id));
	scan = systable_beginscan(rel, CompactCatalogRelid("deletion_fragment", false),
							  true, NULL, 2, key);
	while ((tuple = systable_getnext(scan)) != NULL)
		simple_heap_delete(rel, &tuple->t_self);
	systable_endscan(scan);
	table_close(rel, RowExclusiveLock);
}

/*
 * Is a deletion row visible to every snapshot: inserted by a committed
 * transaction older than oldest_xmin, and not deleted?
 */
static bool
DeletionRowSettled(HeapTuple tuple, TransactionId oldest_xmin)
{
	TransactionId xmin = HeapTupleHeaderGetXmin(tuple->t_data);

	return TransactionIdPrecedes(xmin, oldest_xmin) &&
		TransactionIdDidCommit(xmin) &&
		!TransactionIdIsValid(HeapTupleHeaderGetRawXmax(tuple->t_data));
}

/*
 * Fragments of a storage with more than one deletion row that every
 * snapshot sees: worth folding into one.  Returns a List of int64 ids in
 * palloc'd cells.
 */
List *
DeletionFoldable(Oid relfilenode, TransactionId oldest_xmin)
{
	Relation	rel = table_open(CompactCatalogRelid("deletion", false), AccessShareLock);
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tuple;
	List	   *result = NIL;
	int64		current = -1;
	int			count = 0;

	ScanKeyInit(&key, Anum_deletion_relfilenode, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relfilenode));
	scan = systable_beginscan_ordered(rel,
									  index_open(CompactCatalogRelid("deletion_fragment", false),
												 AccessShareLock),
									  SnapshotSelf, 1, &key);
	while ((tuple = systable_getnext_ordered(scan, ForwardScanDirection)) != NULL)
	{
		bool		isnull;
		int64		id = DatumGetInt64(heap_getattr(tuple, Anum_deletion_fragment_id,
													RelationGetDescr(rel), &isnull));

		if (!DeletionRowSettled(tuple, oldest_xmin))
			continue;
		if (id != current)
		{
			current = id;
			count = 0;
		}
		if (++count == 2)
		{
			int64	   *cell = palloc(sizeof(int64));

			*cell = id;
			result = lappend(result, cell);
		}
	}
	{
		Relation	index = scan->irel;

		systable_endscan_ordered(scan);
		index_close(index, AccessShareLock);
	}
	table_close(rel, AccessShareLock);
	return result;
}

/*
 * Replace the settled deletion rows of one fragment by a single row holding
 * their union.  The caller holds the fragment's row lock, so no deleter of
 * the fragment is running.  Snapshots older than this transaction keep
 * seeing the old rows, newer ones the new row: the same deletions either way.
 */
void
DeletionFold(Oid relfilenode, const FragmentMeta *meta, TransactionId oldest_xmin)
{
	Relation	rel = table_open(CompactCatalogRelid("deletion", false), RowExclusiveLock);
	SysScanDesc scan;
	ScanKeyData key[2];
	HeapTuple	tuple;
	DeletionVector *dv = DeletionVectorCreate((uint32) meta->row_count);
	uint32	   *offsets;
	uint32		count = 0;
	int			folded = 0;

	ScanKeyInit(&key[0], Anum_deletion_relfilenode, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relfilenode));
	ScanKeyInit(&key[1], Anum_deletion_fragment_id, BTEqualStrategyNumber,
				F_INT8EQ, Int64GetDatum(meta->fragment_id));
	scan = systable_beginscan(rel, CompactCatalogRelid("deletion_fragment", false),
							  true, SnapshotSelf, 2, key);
	while ((tuple = systable_getnext(scan)) != NULL)
	{
		bool		isnull;
		Datum		d;

		if (!DeletionRowSettled(tuple, oldest_xmin))
			continue;
		d = heap_getattr(tuple, Anum_deletion_rows, RelationGetDescr(rel), &isnull);
		if (!isnull)
			DeletionVectorMerge(dv, DatumGetByteaPP(d));
		d = heap_getattr(tuple, Anum_deletion_successors, RelationGetDescr(rel), &isnull);
		if (!isnull)
			DeletionSuccessorsMerge(dv, DatumGetByteaPP(d));
		simple_heap_delete(rel, &tuple->t_self);
		folded++;
	}
	systable_endscan(scan);
	table_close(rel, RowExclusiveLock);

	if (folded == 0)
		return;
	offsets = palloc(sizeof(uint32) * Max(dv->ndeleted, 1));
	for (uint32 i = 0; i < dv->nrows; i++)
		if (DeletionVectorIsSet(dv, i))
			offsets[count++] = i;
	DeletionInsert(relfilenode, meta->fragment_id, dv->nrows, offsets, count,
				   dv->successors, dv->nsuccessors);
}
