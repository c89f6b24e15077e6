/*-------------------------------------------------------------------------
 * manifest.c
 *	  The manifest: one row of compact.manifest per fragment.
 *
 * A fragment is visible to a snapshot exactly when its manifest row is: the
 * row is inserted by the transaction that wrote the file (after the file is
 * fsynced, before commit) and deleted by the one that drops the fragment.
 * Rows are inserted with an explicit command id: a write buffer flushed in
 * the middle of a transaction holds rows of several commands, and the row
 * carries the smallest; "cids" records where later commands start so that
 * FragmentVisibleRows can hide what a snapshot of the writing transaction
 * must not see yet.
 *
 * IDENTIFICATION
 *	  src/catalog/manifest.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "executor/executor.h"
#include "executor/tuptable.h"
#include "storage/procarray.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "catalog/metadata.h"

#define Natts_manifest				12
#define Anum_manifest_relfilenode	1
#define Anum_manifest_fragment_id	2
#define Anum_manifest_file_xid		3
#define Anum_manifest_first_row		4
#define Anum_manifest_row_count		5
#define Anum_manifest_bytes			6
#define Anum_manifest_row_groups	7
#define Anum_manifest_operation		8
#define Anum_manifest_created_at	9
#define Anum_manifest_clustering	10
#define Anum_manifest_stats			11
#define Anum_manifest_cids			12

/* one run of equal command ids inside an own fragment */
typedef struct CidRun
{
	uint32		first;
	CommandId	cid;
} CidRun;

/*
 * OID of one of our catalog relations (or their indexes) in schema compact.
 * Looked up through the syscache each time: cheap, and always right even if
 * the extension is dropped and created again in this session.
 */
Oid
CompactCatalogRelid(const char *name, bool missing_ok)
{
	Oid			nsp = get_namespace_oid("compact", missing_ok);
	Oid			relid = InvalidOid;

	if (OidIsValid(nsp))
		relid = get_relname_relid(name, nsp);
	if (!OidIsValid(relid) && !missing_ok)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("compact catalog table \"compact.%s\" does not exist", name),
				 errhint("Run CREATE EXTENSION compact in this database.")));
	return relid;
}

/*
 * Insert a tuple into one of our catalog tables with the given command id,
 * and index it.
 */
void
CompactCatalogInsert(Relation rel, HeapTuple tuple, CommandId cid, int options)
{
	CatalogIndexState indstate;
	TupleTableSlot *slot;
	Datum		values[INDEX_MAX_KEYS];
	bool		isnull[INDEX_MAX_KEYS];

	heap_insert(rel, tuple, cid, options, NULL);

	indstate = CatalogOpenIndexes(rel);
	slot = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsHeapTuple);
	ExecStoreHeapTuple(tuple, slot, false);
	for (int i = 0; i < indstate->ri_NumIndices; i++)
	{
		Relation	index = indstate->ri_IndexRelationDescs[i];
		IndexInfo  *info = indstate->ri_IndexRelationInfo[i];

		FormIndexDatum(info, slot, NULL, values, isnull);
		index_insert(index, values, isnull, &tuple->t_self, rel,
					 index->rd_index->indisunique ? UNIQUE_CHECK_YES : UNIQUE_CHECK_NO,
					 false, info);
	}
	ExecDropSingleTupleTableSlot(slot);
	CatalogCloseIndexes(indstate);
}

static void
ManifestFromTuple(HeapTuple tuple, TupleDesc desc, FragmentMeta *meta)
{
	Datum		values[Natts_manifest];
	bool		isnull[Natts_manifest];

	heap_deform_tuple(tuple, desc, values, isnull);
	meta->fragment_id = DatumGetInt64(values[Anum_manifest_fragment_id - 1]);
	meta->file_xid = (TransactionId) DatumGetInt64(values[Anum_manifest_file_xid - 1]);
	meta->first_row = DatumGetInt64(values[Anum_manifest_first_row - 1]);
	meta->row_count = DatumGetInt64(values[Anum_manifest_row_count - 1]);
	meta->bytes = DatumGetInt64(values[Anum_manifest_bytes - 1]);
	meta->row_groups = DatumGetInt32(values[Anum_manifest_row_groups - 1]);
	meta->stats = isnull[Anum_manifest_stats - 1] ? NULL :
		DatumGetByteaPCopy(values[Anum_manifest_stats - 1]);
	meta->cids = isnull[Anum_manifest_cids - 1] ? NULL :
		DatumGetByteaPCopy(values[Anum_manifest_cids - 1]);
	meta->clustering = TextDatumGetCString(values[Anum_manifest_clustering - 1]);
	meta->compacted = strcmp(TextDatumGetCString(values[Anum_manifest_operation - 1]),
							 "compact") == 0;
	meta->replaced_by_compaction =
		TransactionIdIsValid(HeapTupleHeaderGetRawXmax(tuple->t_data)) &&
		!(tuple->t_data->t_infomask & HEAP_XMAX_INVALID) &&
		!HEAP_XMAX_IS_LOCKED_ONLY(tuple->t_data->t_infomask);
	meta->own = TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetXmin(tuple->t_data));
	meta->tid = tuple->t_self;
}

/*
 * The fragments of a storage that a snapshot sees, in row-number order.
 * Returns a List of palloc'd FragmentMeta.
 */
List *
ManifestList(Oid relfilenode, Snapshot snapshot)
{
	Relation	rel = table_open(CompactCatalogRelid("manifest", false), AccessShareLock);
	Relation	index = index_open(CompactCatalogRelid("manifest_first_row", false), AccessShareLock);
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tuple;
	List	   *result = NIL;

	ScanKeyInit(&key, Anum_manifest_relfilenode, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relfilenode));
	scan = systable_beginscan_ordered(rel, index, snapshot, 1, &key);
	while ((tuple = systable_getnext_ordered(scan, ForwardScanDirection)) != NULL)
	{
		FragmentMeta *meta = palloc(sizeof(FragmentMeta));

		ManifestFromTuple(tuple, RelationGetDescr(rel), meta);
		result = lappend(result, meta);
	}
	systable_endscan_ordered(scan);
	index_close(index, AccessShareLock);
	table_close(rel, AccessShareLock);
	return result;
}

/*
 * Find the fragment that holds a row number, if the snapshot sees it.
 */
bool
ManifestFindRow(Oid relfilenode, int64 rownum, Snapshot snapshot,
				FragmentMeta *meta)
{
	Relation	rel = table_open(CompactCatalogRelid("manifest", false), AccessShareLock);
	Relation	index = index_open(CompactCatalogRelid("manifest_first_row", false), AccessShareLock);
	SysScanDesc scan;
	ScanKeyData key[2];
	HeapTuple	tuple;
	bool		found = false;

	ScanKeyInit(&key[0], Anum_manifest_relfilenode, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relfilenode));
	ScanKeyInit(&key[1], Anum_manifest_first_row, BTLessEqualStrategyNumber, F_INT8LE,
				Int64GetDatum(rownum));
	scan = systable_beginscan_ordered(rel, index, snapshot, 2, key);
	tuple = systable_getnext_ordered(scan, BackwardScanDirection);
	if (tuple != NULL)
	{
		ManifestFromTuple(tuple, RelationGetDescr(rel), meta);
		found = rownum < meta->first_row + meta->row_count;
	}
	systable_endscan_ordered(scan);
	index_close(index, AccessShareLock);
	table_close(rel, AccessShareLock);
	return found;
}

/*
 * Record a fragment.  cid is the command id of the fragment's first row;
 * frozen rows are visible to every snapshot at once (full rewrites, whose
 * old storage other snapshots can no longer read either).
 */
void
ManifestInsert(Oid relfilenode, const FragmentMeta *meta,
			   const char *operation, CommandId cid, bool frozen)
{
	Relation	rel = table_open(CompactCatalogRelid("manifest", false), RowExclusiveLock);
	Datum		values[Natts_manifest];
	bool		isnull[Natts_manifest];
	HeapTuple	tuple;

	memset(isnull, false, sizeof(isnull));
	values[Anum_manifest_relfilenode - 1] = ObjectIdGetDatum(relfilenode);
	values[Anum_manifest_fragment_id - 1] = Int64GetDatum(meta->fragment_id);
	values[Anum_manifest_file_xid - 1] = Int64GetDatum((int64) meta->file_xid);
	values[Anum_manifest_first_row - 1] = Int64GetDatum(meta->first_row);
	values[Anum_manifest_row_count - 1] = Int64GetDatum(meta->row_count);
	values[Anum_manifest_bytes - 1] = Int64GetDatum(meta->bytes);
	values[Anum_manifest_row_groups - 1] = Int32GetDatum(meta->row_groups);
	values[Anum_manifest_operation - 1] = CStringGetTextDatum(operation);
	values[Anum_manifest_created_at - 1] = TimestampTzGetDatum(GetCurrentTimestamp());
	values[Anum_manifest_clustering - 1] =
		CStringGetTextDatum(meta->clustering ? meta->clustering : "none");
	if (meta->stats)
		values[Anum_manifest_stats - 1] = PointerGetDatum(meta->stats);
	else
		isnull[Anum_manifest_stats - 1] = true;
	if (meta->cids)
		values[Anum_manifest_cids - 1] = PointerGetDatum(meta->cids);
	else
		isnull[Anum_manifest_cids - 1] = true;

	tuple = heap_form_tuple(RelationGetDescr(rel), values, isnull);
	CompactCatalogInsert(rel, tuple, cid, frozen ? HEAP_INSERT_FROZEN : 0);
	heap_freetuple(tuple);
	table_close(rel, RowExclusiveLock);
}

/*
 * Delete one fragment's manifest row (a compaction replaced it).  The caller
 * holds a lock that keeps other compactions of the table away, so nobody
 * else deletes it concurrently.
 */
void
ManifestDelete(const FragmentMeta *meta)
{
	Relation	rel = table_open(CompactCatalogRelid("manifest", false), RowExclusiveLock);

	simple_heap_delete(rel, (ItemPointer) &meta->tid);
	table_close(rel, RowExclusiveLock);
}

/*
 * If a committed transaction deleted the manifest row of a fragment (a
 * compaction replaced it), that transaction's xid; else InvalidTransactionId.
 */
TransactionId
ManifestReplacedBy(Oid relfilenode, int64 fragment_id)
{
	Relation	rel = table_open(CompactCatalogRelid("manifest", false), AccessShareLock);
	SysScanDesc scan;
	ScanKeyData key[2];
	HeapTuple	tuple;
	TransactionId result = InvalidTransactionId;

	ScanKeyInit(&key[0], Anum_manifest_relfilenode, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relfilenode));
	ScanKeyInit(&key[1], Anum_manifest_fragment_id, BTEqualStrategyNumber,
				F_INT8EQ, Int64GetDatum(fragment_id));
	scan = systable_beginscan(rel, CompactCatalogRelid("manifest_pkey", false),
							  true, SnapshotAny, 2, key);
	while ((tuple = systable_getnext(scan)) != NULL)
	{
		TransactionId xmax = HeapTupleHeaderGetUpdateXid(tuple->t_data);

		if (HeapTupleHeaderXminInvalid(tuple->t_data) ||
			!TransactionIdIsValid(xmax) ||
			(tuple->t_data->t_infomask & HEAP_XMAX_LOCK_ONLY))
			continue;
		if (!TransactionIdIsCurrentTransactionId(xmax) &&
			!TransactionIdIsInProgress(xmax) && TransactionIdDidCommit(xmax))
		{
			result = xmax;
			break;
		}
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return result;
}

/*
 * Delete the rows of one storage in a catalog table keyed by relfilenode
 * first; every row the latest snapshot sees goes.
 */
static void
DeleteByRelfilenode(const char *table, const char *index, Oid relfilenode)
{
	Oid			relid = CompactCatalogRelid(table, true);
	Oid			indexid = CompactCatalogRelid(index, true);
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tuple;

	if (!OidIsValid(relid) || !OidIsValid(indexid))
		return;
	rel = table_open(relid, RowExclusiveLock);
	ScanKeyInit(&key, Anum_manifest_relfilenode, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relfilenode));
	scan = systable_beginscan(rel, indexid, true, NULL, 1, &key);
	while ((tuple = systable_getnext(scan)) != NULL)
		simple_heap_delete(rel, &tuple->t_self);
	systable_endscan(scan);
	table_close(rel, RowExclusiveLock);
}

/*
 * Forget a storage: its manifest and deletion rows (DROP, TRUNCATE, the old
 * side of a rewrite, and stale rows of a reused relfilenode).
 */
void
ManifestDeleteAll(Oid relfilenode)
{
	DeleteByRelfilenode("manifest", "manifest_pkey", relfilenode);
	DeleteByRelfilenode("deletion", "deletion_fragment", relfilenode);
}

/*
 * Could a manifest row for this fragment still become or be visible to
 * someone?  True for live rows, rows inserted by running transactions and
 * deleted rows that old snapshots may still read.  Used by the orphan sweep,
 * after it has made sure the writer is no longer running.
 */
bool
ManifestReferences(Oid relfilenode, int64 fragment_id)
{
	Relation	rel = table_open(CompactCatalogRelid("manifest", false), AccessShareLock);
	SnapshotData snap;
	SysScanDesc scan;
	ScanKeyData key[2];
	bool		found;

	InitNonVacuumableSnapshot(snap, GlobalVisTestFor(rel));
	ScanKeyInit(&key[0], Anum_manifest_relfilenode, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relfilenode));
	ScanKeyInit(&key[1], Anum_manifest_fragment_id, BTEqualStrategyNumber, F_INT8EQ,
				Int64GetDatum(fragment_id));
	scan = systable_beginscan(rel, CompactCatalogRelid("manifest_pkey", false),
							  true, &snap, 2, key);
	found = systable_getnext(scan) != NULL;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/*
 * Number of leading rows of a fragment that a snapshot sees.  Only own
 * fragments flushed in the middle of a transaction can be partly visible: to
 * an MVCC snapshot of this transaction, rows of commands at or after its
 * curcid are not there yet.
 */
uint32
FragmentVisibleRows(const FragmentMeta *meta, Snapshot snapshot)
{
	const CidRun *runs;
	int			nruns;

	if (!meta->own || meta->cids == NULL || !IsMVCCSnapshot(snapshot))
		return (uint32) meta->row_count;

	nruns = VARSIZE_ANY_EXHDR(meta->cids) / sizeof(CidRun);
	runs = (const CidRun *) VARDATA_ANY(meta->cids);
	for (int i = 0; i < nruns; i++)
		if (runs[i].cid >= snapshot->curcid)
			return runs[i].first;
	return (uint32) meta->row_count;
}

/*
 * Encode the command ids of a fragment's rows (non-decreasing) as runs, or
 * NULL when all rows share one command id.
 */
bytea *
FragmentCidsEncode(const CommandId *cids, uint32 nrows)
{
	bytea	   *result;
	CidRun	   *runs;
	int			nruns = 0;

	if (nrows == 0 || cids[0] == cids[nrows - 1])
		return NULL;
	result = palloc(VARHDRSZ + sizeof(CidRun) * nrows);
	runs = (CidRun *) VARDATA(result);
	for (uint32 i = 0; i < nrows; i++)
	{
		if (i == 0 || cids[i] != cids[i - 1])
		{
			runs[nruns].first = i;
			runs[nruns].cid = cids[i];
			nruns++;
		}
	}
	SET_VARSIZE(result, VARHDRSZ + sizeof(CidRun) * nruns);
	return result;
}

/*
 * Manifest rows whose fragment no snapshot can see any more (deleted by a
 * transaction older than oldest_xmin): their files can go.  Returns a List
 * of FragmentMeta.
 */
List *
ManifestRemovable(Oid relfilenode, TransactionId oldest_xmin)
{
	Relation	rel = table_open(CompactCatalogRelid("manifest", false), AccessShareLock);
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tuple;
	List	   *result = NIL;

	ScanKeyInit(&key, Anum_manifest_relfilenode, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relfilenode));
	scan = systable_beginscan(rel, CompactCatalogRelid("manifest_pkey", false),
							  true, SnapshotAny, 1, &key);
	while ((tuple = systable_getnext(scan)) != NULL)
	{
		TransactionId xmax = HeapTupleHeaderGetUpdateXid(tuple->t_data);
		TransactionId xmin = HeapTupleHeaderGetXmin(tuple->t_data);

		if (HeapTupleHeaderXminInvalid(tuple->t_data) ||
			(!HeapTupleHeaderXminCommitted(tuple->t_data) &&
			 !TransactionIdIsInProgress(xmin) && !TransactionIdDidCommit(xmin)))
		{
			/* inserted by an aborted transaction: the file is garbage */
		}
		else if (TransactionIdIsValid(xmax) &&
				 !(tuple->t_data->t_infomask & HEAP_XMAX_LOCK_ONLY) &&
				 TransactionIdPrecedes(xmax, oldest_xmin) &&
				 TransactionIdDidCommit(xmax))
		{
			/* deleted, and nobody can see it any more */
		}
		else
			continue;
		{
			FragmentMeta *meta = palloc(sizeof(FragmentMeta));

			ManifestFromTuple(tuple, RelationGetDescr(rel), meta);
			result = lappend(result, meta);
		}
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return result;
}
