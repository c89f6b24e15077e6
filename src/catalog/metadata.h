/*-------------------------------------------------------------------------
 * metadata.h
 *	  The MVCC metadata of compact tables: which fragments and deletion
 *	  vectors make up a table's storage, as rows of heap tables.
 *
 * Rows are keyed by relfilenode, not by relation OID: a TRUNCATE or a
 * rewrite gives the table a new relfilenode and so, atomically and
 * transactionally, a new (empty) set of fragments.
 *
 * IDENTIFICATION
 *	  src/catalog/metadata.h
 *-------------------------------------------------------------------------
 */
#ifndef COMPACT_CATALOG_METADATA_H
#define COMPACT_CATALOG_METADATA_H

#include "access/htup.h"
#include "nodes/pg_list.h"
#include "utils/snapshot.h"

#include "format/deletion.h"

/* One fragment as the manifest records it. */
typedef struct FragmentMeta
{
	int64		fragment_id;
	TransactionId file_xid;		/* names the file */
	int64		first_row;		/* row number of the fragment's row 0 */
	int64		row_count;
	int64		bytes;
	int32		row_groups;
	bytea	   *stats;			/* fragment-level column statistics */
	bytea	   *cids;			/* per-row command ids, own fragments only */
	char	   *clustering;		/* how its rows are ordered; NULL: "none" */
	bool		own;			/* written by the current transaction */
	bool		compacted;		/* written by a compaction */
	bool		replaced_by_compaction; /* deleted (maybe uncommitted): only
										 * compactions delete single fragments */
	ItemPointerData tid;		/* of the manifest row */
} FragmentMeta;

/* manifest.c */
extern Oid	CompactCatalogRelid(const char *name, bool missing_ok);
extern List *ManifestList(Oid relfilenode, Snapshot snapshot);
extern bool ManifestFindRow(Oid relfilenode, int64 rownum, Snapshot snapshot,
							FragmentMeta *meta);
extern void ManifestInsert(Oid relfilenode, const FragmentMeta *meta,
						   const char *operation, CommandId cid, bool frozen);
extern void ManifestDelete(const FragmentMeta *meta);
extern void ManifestDeleteAll(Oid relfilenode);
extern TransactionId ManifestReplacedBy(Oid relfilenode, int64 fragment_id);
extern bool ManifestReferences(Oid relfilenode, int64 fragment_id);
extern List *ManifestRemovable(Oid relfilenode, TransactionId oldest_xmin);
extern uint32 FragmentVisibleRows(const FragmentMeta *meta, Snapshot snapshot);
extern bytea *FragmentCidsEncode(const CommandId *cids, uint32 nrows);

/* deletions.c */
extern DeletionVector *DeletionLoad(Oid relfilenode, const FragmentMeta *meta,
									Snapshot snapshot);
extern void DeletionInsert(Oid relfilenode, int64 fragment_id, uint32 nrows,
						   const uint32 *rows, uint32 count,
						   const RowSuccessor *successors, int nsucc);
extern List *DeletionFoldable(Oid relfilenode, TransactionId oldest_xmin);
extern void DeletionFold(Oid relfilenode, const FragmentMeta *meta,
						 TransactionId oldest_xmin);
extern int64 DeletionCount(Oid relfilenode, Snapshot snapshot, List *fragments,
						   int64 *per_fragment, int64 *bytes);
extern void DeletionDeleteFragment(Oid relfilenode, int64 fragment_id);

/* options.c */
extern bool CompactIsOptionName(const char *name);
extern List *CompactStoredOptions(Oid relid);
extern char *CompactOptionValue(Oid relid, const char *name);

/* helpers shared by manifest.c and deletions.c */
extern void CompactCatalogInsert(Relation rel, HeapTuple tuple, CommandId cid,
								 int options);

#endif							/* COMPACT_CATALOG_METADATA_H */
