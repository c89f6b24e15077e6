/*-------------------------------------------------------------------------
 * prune.h
 *	  Zone maps: what the statistics of a fragment (or row group) say about
 *	  its rows, as clauses PostgreSQL's predicate prover understands.
 *
 * IDENTIFICATION
 *	  src/scan/prune.h
 *-------------------------------------------------------------------------
 */
#ifndef COMPACT_SCAN_PRUNE_H
#define COMPACT_SCAN_PRUNE_H

#include "nodes/pg_list.h"
#include "utils/relcache.h"

#include "format/fragment.h"

/* prune.c */
extern List *PruneStatsClauses(Relation rel, Index varno, int ncolumns,
							   const int16 *attnums, const ColumnStats *stats);
extern List *PruneFragmentClauses(Relation rel, Index varno, bytea *stats);
extern bool PruneMayMatch(List *quals, List *stats_clauses);

#endif							/* COMPACT_SCAN_PRUNE_H */
