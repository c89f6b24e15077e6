/*-------------------------------------------------------------------------
 * parallel_copy.h
 *	  COPY FROM a server file into a compact table on several cores.
 *
 * IDENTIFICATION
 *	  src/commands/parallel_copy.h
 *-------------------------------------------------------------------------
 */
#ifndef COMPACT_COMMANDS_PARALLEL_COPY_H
#define COMPACT_COMMANDS_PARALLEL_COPY_H

#include "nodes/parsenodes.h"
#include "parser/parse_node.h"

/* parallel_copy.c */
extern int	compact_max_parallel_copy_workers;
extern int	compact_min_parallel_copy_size_kb;
extern bool CompactCopyFrom(ParseState *pstate, const CopyStmt *stmt,
							uint64 *processed);
extern bool CompactExpressionIsParallelUnsafe(Node *node);

#endif							/* COMPACT_COMMANDS_PARALLEL_COPY_H */
