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

/* a statement of compact.execute */
typedef struct ParsedStatement
{
	const char *command;		/* COMPACT, VACUUM, OPTIMIZE, ALTER TABLE */
	struct RangeVar *relation;
	char	   *order_by;		/* "(...)" texts, or NULL */
	char	   *z_order_by;
	char	   *hilbert_by;
	char	   *filter;			/* WHERE's expression, or NULL */
	bool		recompute_statistics;
	char	   *alter;			/* the ALTER TABLE statement */
} ParsedStatement;

/* statement.c */
extern void StatementParse(const char *text, ParsedStatement *parsed);
extern int	StatementParseClustering(const char *text, CompactionStrategy strategy,
									 char ***names, bool **desc, int **nulls_first);
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
