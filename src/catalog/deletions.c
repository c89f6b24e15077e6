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
#include "access/xact.h"
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

/*
 * Deleted rows of a storage that a snapshot sees; *bytes, if not NULL, gets
 * the size of their vectors.
 */
int64
DeletionCount(Oid relfilenode, Snapshot snapshot, int64 *bytes)
{
	Relation	rel = table_open(CompactCatalogRelid("deletion", false), AccessShareLock);
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tuple;
	int64		total = 0;

	if (bytes)
		*bytes = 0;
	ScanKeyInit(&key, Anum_deletion_relfilenode, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relfilenode));
	scan = systable_beginscan(rel, CompactCatalogRelid("deletion_fragment", false),
							  true, snapshot, 1, &key);
	while ((tuple = systable_getnext(scan)) != NULL)
	{
		bool		isnull;
		Datum		n = heap_getattr(tuple, Anum_deletion_deleted_rows,
									 RelationGetDescr(rel), &isnull);

		if (!isnull)
			total += DatumGetInt32(n);
		if (bytes)
			*bytes += tuple->t_len;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return total;
}
