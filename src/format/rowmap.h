/*-------------------------------------------------------------------------
 * rowmap.h
 *	  Row maps: where a compaction put each row of a fragment it replaced.
 *
 * A compaction that replaces fragment F writes, before it commits, one row
 * map per source fragment: for each row offset of F, the row number of its
 * copy in the new fragments, or -1 if the row was deleted and dropped.  A
 * transaction whose snapshot still sees F and that deletes or locks one of
 * its rows after the compaction committed follows the map, so that its
 * change lands on the row's new copy and is not lost.  The map lives as long
 * as F's file: VACUUM removes both once no snapshot can see F.
 *
 * Layout: RowMapHeader, then either the runs of consecutive entries (a
 * merge's map), or the first new row and a bitmap of the kept rows (a
 * rewrite dropping many scattered rows), or the zstd-compressed deltas
 * between consecutive entries (int64 each; other maps that mostly follow
 * on), or, for a sort's permutation, the entries bit-packed as distances
 * from the smallest one.
 * A map serves only snapshots older than its compaction, none of which
 * survives a restart, so a new version never needs to read an old one.
 *
 * IDENTIFICATION
 *	  src/format/rowmap.h
 *-------------------------------------------------------------------------
 */
#ifndef COMPACT_FORMAT_ROWMAP_H
#define COMPACT_FORMAT_ROWMAP_H

#define COMPACT_ROWMAP_MAGIC	0x4D504D43	/* "CMPM" */
#define COMPACT_ROWMAP_VERSION	2

/* rowmap.c */
extern void RowMapWrite(const char *path, int64 fragment_id, uint32 nrows,
						const int64 *newrows);
extern void RowMapSync(char **paths, int npaths);
extern int64 *RowMapRead(const char *path, int64 fragment_id, uint32 nrows);

#endif							/* COMPACT_FORMAT_ROWMAP_H */
