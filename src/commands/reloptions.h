/*-------------------------------------------------------------------------
 * reloptions.h
 *	  Per-table compaction options in ALTER TABLE / CREATE TABLE.
 *
 * IDENTIFICATION
 *	  src/commands/reloptions.h
 *-------------------------------------------------------------------------
 */
#ifndef COMPACT_COMMANDS_RELOPTIONS_H
#define COMPACT_COMMANDS_RELOPTIONS_H

#include "nodes/pg_list.h"
#include "utils/relcache.h"

/* reloptions.c */
extern List *CompactSplitOptions(List *options, Relation rel, bool reset,
								 List **ours);
extern List *CompactStashOptions(Oid relid);
extern void CompactRestoreOptions(Oid relid, List *stashed, List *changes,
								  bool reset);
extern void CompactValidateStoredOptions(Relation rel, List *ours);
extern void *CompactClusteringCapture(Oid relid);
extern void CompactClusteringFollow(Oid relid, void *captured);

#endif							/* COMPACT_COMMANDS_RELOPTIONS_H */
