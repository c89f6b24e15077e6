/*-------------------------------------------------------------------------
 * filter.c
 *	  The FILTER (WHERE) of a compaction: which fragments, or which
 *	  partitions, it may touch.
 *
 * The text is parsed as one SQL expression over the table's columns (the
 * raw parser's expression mode, so "x; DROP TABLE t" is a syntax error, not
 * a second statement), must be boolean, may not contain subqueries and must
 * be immutable: it is evaluated against statistics and partition bounds,
 * never run against rows, and nothing in it can read other tables or run
 * volatile functions.  A fragment (partition) is left out when PostgreSQL's
 * predicate prover shows from its statistics (bounds) that no row of it
 * can satisfy the filter.
 *
 * IDENTIFICATION
 *	  src/compaction/filter.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/partition.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parse_coerce.h"
#include "parser/parse_collate.h"
#include "parser/parse_expr.h"
#include "parser/parse_node.h"
#include "parser/parse_relation.h"
#include "parser/parser.h"
#include "rewrite/rewriteManip.h"
#include "utils/partcache.h"
#include "utils/rel.h"

#include "compaction/compaction.h"
#include "scan/prune.h"

/* report positions inside the filter text, not inside the statement */
static void
FilterErrorCallback(void *arg)
{
	const char *filter = (const char *) arg;
	int			pos = geterrposition();

	if (pos > 0)
	{
		errposition(0);
		internalerrposition(pos);
		internalerrquery(filter);
	}
	errcontext("FILTER expression");
}

static void
FilterError(const char *filter, const char *message, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid FILTER \"%s\": %s", filter, message),
			 errhint("%s", hint)));
}

/*
 * Parse and check a filter against a table; returns the planned expression
 * as an implicitly ANDed List, with Vars of varno 1.
 */
Node *
CompactionFilterParse(Relation rel, const char *filter)
{
	ErrorContextCallback callback;
	List	   *raw;
	SelectStmt *select;
	ResTarget  *target;
	ParseState *pstate;
	ParseNamespaceItem *nsitem;
	Node	   *expr;

	callback.callback = FilterErrorCallback;
	callback.arg = (void *) filter;
	callback.previous = error_context_stack;
	error_context_stack = &callback;

	raw = raw_parser(filter, RAW_PARSE_PLPGSQL_EXPR);
	select = (SelectStmt *) ((RawStmt *) linitial(raw))->stmt;
	if (list_length(raw) != 1 || !IsA(select, SelectStmt) ||
		list_length(select->targetList) != 1 ||
		select->distinctClause != NIL || select->fromClause != NIL ||
		select->whereClause != NULL || select->groupClause != NIL ||
		select->havingClause != NULL || select->windowClause != NIL ||
		select->sortClause != NIL || select->limitCount != NULL ||
		select->limitOffset != NULL || select->lockingClause != NIL)
		FilterError(filter, "not a single expression",
					"Write one boolean expression over the table's columns, as in a WHERE clause.");
	target = linitial_node(ResTarget, select->targetList);
	if (target->name != NULL)
		FilterError(filter, "not a single expression",
					"Write one boolean expression over the table's columns, as in a WHERE clause.");

	pstate = make_parsestate(NULL);
	pstate->p_sourcetext = filter;
	nsitem = addRangeTableEntryForRelation(pstate, rel, AccessShareLock,
										   NULL, false, true);
	addNSItemToQuery(pstate, nsitem, true, true, true);
	expr = transformExpr(pstate, target->val, EXPR_KIND_WHERE);
	expr = coerce_to_boolean(pstate, expr, "FILTER");
	assign_expr_collations(pstate, expr);
	if (checkExprHasSubLink(expr))
		FilterError(filter, "it contains a subquery",
					"Compare the table's columns with constants; a FILTER cannot read other tables.");
	if (contain_mutable_functions(expr))
		FilterError(filter, "it is not immutable",
					"Use constants instead of volatile or stable functions such as now().");
	free_parsestate(pstate);
	error_context_stack = callback.previous;

	expr = (Node *) expression_planner((Expr *) expr);
	return (Node *) make_ands_implicit((Expr *) expr);
}

/* Can a fragment with these catalog statistics hold a matching row? */
bool
CompactionFilterMayMatch(Relation rel, Node *filter, bytea *fragment_stats)
{
	if (filter == NULL)
		return true;
	return PruneMayMatch((List *) filter,
						 PruneFragmentClauses(rel, 1, fragment_stats));
}

/*
 * Can a partition hold a matching row?  filter was parsed against parent,
 * an ancestor of the partition.
 */
bool
CompactionFilterPartitionMayMatch(Relation partition, Node *filter,
								  Relation parent)
{
	List	   *quals;
	List	   *bounds;

	if (filter == NULL)
		return true;
	quals = map_partition_varattnos((List *) copyObject(filter), 1,
									partition, parent);
	bounds = RelationGetPartitionQual(partition);
	return PruneMayMatch(quals, bounds);
}
