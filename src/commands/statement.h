/*-------------------------------------------------------------------------
 * statement.h
 *	  From user input to CompactionRequests.
 *
 * IDENTIFICATION
 *	  src/commands/statement.h
 *-------------------------------------------------------------------------
 */
#ifndef COMPACT_COMMANDS_STATEMENT_H
#define COMPACT_COMMANDS_STATEMENT_H

#include "compaction/compaction.h"

/* statement.c */
extern void StatementSetClustering(CompactionRequest *request, Relation rel,
								   CompactionStrategy strategy,
								   const char *text);
extern List *StatementTargetTables(Oid relid, const char *filter);
extern void StatementAddResult(CompactionResult *a, const CompactionResult *b);
extern void StatementBuildRequest(CompactionRequest *request, Oid relid,
								  const char *order_by, const char *z_order_by,
								  const char *hilbert_by, const char *filter);

/* utility.c */
extern bool StatementIsCompactVacuum(Node *parsetree);

#endif							/* COMPACT_COMMANDS_STATEMENT_H */
