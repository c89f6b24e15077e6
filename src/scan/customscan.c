/*-------------------------------------------------------------------------
 * customscan.c
 *	  CompactScan: a custom scan of compact tables that reads only the
 *	  columns a query needs and skips fragments and row groups whose
 *	  statistics rule out the query's conditions.
 *
 * Planning: set_rel_pathlist_hook adds a CustomPath for every compact base
 * relation, costed from the fraction of columns it decodes and the
 * fraction of rows in fragments its (constant) quals may match, and a
 * partial path for parallel query.  The plan keeps the quals twice: as
 * the node's qual (checked on every row) and in custom_exprs (for pruning).
 *
 * Execution: at the first row, and at each rescan, the pruning quals get
 * the current values of their parameters, stable functions and initplans
 * (everything without Vars is evaluated to a Const), so that `$1`, `now()`
 * and `(SELECT ...)` prune as constants do.  The table AM's scan (scan.c)
 * asks back for each fragment (catalog statistics, file not opened) and
 * each row group (footer statistics) whether it may match, using
 * PostgreSQL's predicate prover over clauses built from the statistics
 * (prune.c), and decodes only the needed columns.  Deleted rows and the
 * transaction's own unflushed rows are handled by that scan as for any
 * sequential scan.
 *
 * Aggregates: for count, sum, avg, min and max of one compact table
 * without GROUP BY, create_upper_paths_hook adds a CompactScan that
 * computes them itself (aggregate.c) from the table AM's batches of
 * decoded arrays, never forming a tuple.  Its scan tuple (custom_scan_tlist)
 * holds the Aggrefs, then the relation's quals, so that setrefs fixes
 * their Vars and Params as a scan's; the quals run on each row of a batch
 * and prune as above.  Under Gather each participant returns its
 * transition states and a Finalize Aggregate (built in the same hook)
 * combines them.
 *
 * EXPLAIN shows the columns read, the aggregates, and the pruning quals;
 * EXPLAIN ANALYZE the counters Fragments Scanned/Skipped and Row Groups
 * Scanned/Skipped, summed over parallel workers through the shared state.
 *
 * IDENTIFICATION
 *	  src/scan/customscan.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/relscan.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_class.h"
#include "commands/defrem.h"
#include "commands/explain.h"
#include "executor/executor.h"
#include "executor/nodeCustom.h"
#include "miscadmin.h"
#include "nodes/extensible.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/clauses.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "optimizer/paths.h"
#include "optimizer/planner.h"
#include "optimizer/prep.h"
#include "optimizer/restrictinfo.h"
#include "parser/parsetree.h"
#include "port/atomics.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/ruleutils.h"
#include "utils/snapmgr.h"

#include "compact.h"
#include "scan/aggregate.h"
#include "scan/prune.h"
#include "tableam/tableam.h"

bool		compact_scan_pruning = true;
bool		compact_enable_custom_scan = true;
bool		compact_enable_aggregate_pushdown = true;

static set_rel_pathlist_hook_type prev_set_rel_pathlist_hook = NULL;
static create_upper_paths_hook_type prev_create_upper_paths_hook = NULL;

static Plan *PlanCompactScan(PlannerInfo *root, RelOptInfo *rel,
							 CustomPath *best_path, List *tlist,
							 List *clauses, List *custom_plans);
static Node *CreateCompactScanState(CustomScan *cscan);
static void BeginCompactScan(CustomScanState *node, EState *estate, int eflags);
static TupleTableSlot *ExecCompactScan(CustomScanState *node);
static void EndCompactScan(CustomScanState *node);
static void ReScanCompactScan(CustomScanState *node);
static Size EstimateDSMCompactScan(CustomScanState *node, ParallelContext *pcxt);
static void InitializeDSMCompactScan(CustomScanState *node,
									 ParallelContext *pcxt, void *coordinate);
static void ReInitializeDSMCompactScan(CustomScanState *node,
									   ParallelContext *pcxt, void *coordinate);
static void InitializeWorkerCompactScan(CustomScanState *node, shm_toc *toc,
										void *coordinate);
static void ShutdownCompactScan(CustomScanState *node);
static void ExplainCompactScan(CustomScanState *node, List *ancestors,
							   ExplainState *es);

static const CustomPathMethods PathMethods = {
	.CustomName = "CompactScan",
	.PlanCustomPath = PlanCompactScan,
};

static const CustomScanMethods ScanMethods = {
	.CustomName = "CompactScan",
	.CreateCustomScanState = CreateCompactScanState,
};

static const CustomExecMethods ExecMethods = {
	.CustomName = "CompactScan",
	.BeginCustomScan = BeginCompactScan,
	.ExecCustomScan = ExecCompactScan,
	.EndCustomScan = EndCompactScan,
	.ReScanCustomScan = ReScanCompactScan,
	.EstimateDSMCustomScan = EstimateDSMCompactScan,
	.InitializeDSMCustomScan = InitializeDSMCompactScan,
	.ReInitializeDSMCustomScan = ReInitializeDSMCompactScan,
	.InitializeWorkerCustomScan = InitializeWorkerCompactScan,
	.ShutdownCustomScan = ShutdownCompactScan,
	.ExplainCustomScan = ExplainCompactScan,
};

/* counters every participant adds to, then the table AM's scan state */
typedef struct CompactScanShared
{
	pg_atomic_uint64 fragments_scanned;
	pg_atomic_uint64 fragments_skipped;
	pg_atomic_uint64 rowgroups_scanned;
	pg_atomic_uint64 rowgroups_skipped;
	/* ParallelTableScanDescData follows, MAXALIGNed */
} CompactScanShared;

#define SHARED_PSCAN(shared) \
	((ParallelTableScanDesc) ((char *) (shared) + MAXALIGN(sizeof(CompactScanShared))))

typedef struct CompactScanState
{
	CustomScanState css;
	TableScanDesc scandesc;
	CompactScanFilter filter;
	bool	   *needed;			/* per attribute */
	List	   *prune_quals;	/* planned, with Params */
	List	   *bound_quals;	/* with the current values of Params */
	bool		bound;
	Bitmapset  *prune_attnums;	/* columns the pruning quals reference */
	Index		varno;
	MemoryContext prunecxt;		/* reset after every check */
	/* aggregates the scan computes (else NULL: it returns rows) */
	AggSet	   *aggs;
	List	   *agg_exprs;		/* the Aggrefs, for EXPLAIN */
	List	   *agg_quals;
	ExprState  *agg_qual;		/* the relation's quals, on rowslot */
	List	   *qual_atts;		/* the columns (0-based) the quals read */
	TupleTableSlot *rowslot;
	bool		agg_done;
	CompactScanShared *shared;	/* parallel scans */
	bool		flushed;		/* counters added to shared */
	/* totals for EXPLAIN ANALYZE */
	int64		fragments_scanned;
	int64		fragments_skipped;
	int64		rowgroups_scanned;
	int64		rowgroups_skipped;
} CompactScanState;

/* ----------------------------------------------------------------
 * planning
 * ----------------------------------------------------------------
 */

static Oid
CompactAmOid(void)
{
	static Oid	am = InvalidOid;

	if (!OidIsValid(am))
		am = get_table_am_oid("compact", true);
	return am;
}

/* attnums (1-based) a relation's target list and quals reference; NULL: all */
static List *
NeededAttnums(RelOptInfo *rel, Relation relation, bool *all)
{
	Bitmapset  *attrs = NULL;
	List	   *result = NIL;
	ListCell   *lc;
	int			k = -1;

	pull_varattnos((Node *) rel->reltarget->exprs, rel->relid, &attrs);
	foreach(lc, rel->baserestrictinfo)
		pull_varattnos((Node *) lfirst_node(RestrictInfo, lc)->clause,
					   rel->relid, &attrs);
	/* join clauses of parameterized paths come through reltarget vars */
	*all = bms_is_member(0 - FirstLowInvalidHeapAttributeNumber, attrs);
	while ((k = bms_next_member(attrs, k)) >= 0)
	{
		AttrNumber	attnum = k + FirstLowInvalidHeapAttributeNumber;

		if (attnum > 0)
			result = lappend_int(result, attnum);
	}
	return result;
}

/*
 * Share of the table's rows in fragments that the constant quals may match
 * (1.0 when nothing can be proven).
 */
static double
PrunedFraction(Relation relation, Index relid, List *quals)
{
	List	   *consts = NIL;
	List	   *fragments;
	double		total = 0;
	double		kept = 0;
	ListCell   *lc;
	Snapshot	snapshot;

	foreach(lc, quals)
	{
		Expr	   *clause = lfirst_node(RestrictInfo, lc)->clause;

		if (!contain_volatile_functions((Node *) clause) &&
			!contain_subplans((Node *) clause))
			consts = lappend(consts, clause);
	}
	if (consts == NIL)
		return 1.0;

	snapshot = RegisterSnapshot(GetLatestSnapshot());
	fragments = ManifestList(relation->rd_node.relNode, snapshot);
	UnregisterSnapshot(snapshot);
	foreach(lc, fragments)
	{
		FragmentMeta *meta = lfirst(lc);

		total += meta->row_count;
		if (PruneMayMatch(consts, PruneFragmentClauses(relation, relid, meta->stats)))
			kept += meta->row_count;
	}
	return total > 0 ? Max(kept / total, 0.0001) : 1.0;
}

/* rows per participant's share of a parallel scan, as cost_seqscan's */
static double
ParallelDivisor(int workers)
{
	double		divisor = workers;

	if (parallel_leader_participation && workers < 4)
		divisor += 1.0 - 0.3 * workers;
	return Max(divisor, workers);
}

/*
 * Disk and per-row cost of reading rel: the needed columns of the
 * fragments its constant quals may match.  Sets the columns to decode.
 */
static void
ScanCost(PlannerInfo *root, RelOptInfo *rel, Relation relation,
		 List **attnums, bool *all, Cost *io_cost, double *rows_read)
{
	int			natts = Max(RelationGetDescr(relation)->natts, 1);
	double		colfrac;
	double		rowfrac;

	*attnums = NeededAttnums(rel, relation, all);
	colfrac = *all ? 1.0 : Max((double) list_length(*attnums) / natts, 0.5 / natts);
	rowfrac = compact_scan_pruning ?
		PrunedFraction(relation, rel->relid, rel->baserestrictinfo) : 1.0;
	*io_cost = seq_page_cost * rel->pages * colfrac * rowfrac;
	*rows_read = rel->tuples * rowfrac;
}

/* Is rel a compact table the custom scan may read?  Opens it if so. */
static Relation
CompactBaseRelation(RangeTblEntry *rte)
{
	Relation	relation;

	if (rte->rtekind != RTE_RELATION || rte->relkind != RELKIND_RELATION ||
		!OidIsValid(CompactAmOid()))
		return NULL;
	relation = table_open(rte->relid, NoLock);
	if (relation->rd_rel->relam != CompactAmOid())
	{
		table_close(relation, NoLock);
		return NULL;
	}
	return relation;
}

/*
 * Rows this transaction buffered or deleted live in its own memory, which
 * parallel workers cannot see.
 */
static bool
HasOwnChanges(Relation relation)
{
	return WriteStateHasDeletes(relation->rd_node) ||
		WriteStateBufferedRows(relation->rd_node) > 0;
}

static void
compact_set_rel_pathlist(PlannerInfo *root, RelOptInfo *rel, Index rti,
						 RangeTblEntry *rte)
{
	Relation	relation;
	CustomPath *path;
	List	   *attnums;
	bool		all;
	Cost		io_cost;
	double		rows_read;
	Cost		cpu_per_tuple;
	QualCost	qpqual_cost;
	ParamPathInfo *param_info;
	bool		own_changes;

	if (prev_set_rel_pathlist_hook)
		prev_set_rel_pathlist_hook(root, rel, rti, rte);

	relation = CompactBaseRelation(rte);
	if (relation == NULL)
		return;

	/* no parallel scan with own changes (this removes Parallel Seq Scan too) */
	own_changes = HasOwnChanges(relation);
	if (own_changes)
		rel->partial_pathlist = NIL;

	if (!compact_enable_custom_scan || rte->tablesample != NULL || rte->inh)
	{
		table_close(relation, NoLock);
		return;
	}

	ScanCost(root, rel, relation, &attnums, &all, &io_cost, &rows_read);
	table_close(relation, NoLock);

	param_info = get_baserel_parampathinfo(root, rel, rel->lateral_relids);
	cost_qual_eval(&qpqual_cost, rel->baserestrictinfo, root);
	if (param_info)
	{
		QualCost	join_cost;

		cost_qual_eval(&join_cost, param_info->ppi_clauses, root);
		qpqual_cost.startup += join_cost.startup;
		qpqual_cost.per_tuple += join_cost.per_tuple;
	}
	/* rows come out as virtual tuples of decoded arrays: cheaper than heap's */
	cpu_per_tuple = cpu_tuple_cost * 0.5 + qpqual_cost.per_tuple;

	for (int parallel = 0; parallel <= 1; parallel++)
	{
		int			workers = 0;
		double		divisor = 1.0;

		if (parallel)
		{
			if (!rel->consider_parallel || rel->lateral_relids != NULL || own_changes)
				break;
			workers = compute_parallel_worker(rel, rel->pages, -1,
											  max_parallel_workers_per_gather);
			if (workers <= 0)
				break;
			divisor = ParallelDivisor(workers);
		}

		path = makeNode(CustomPath);
		path->path.pathtype = T_CustomScan;
		path->path.parent = rel;
		path->path.pathtarget = rel->reltarget;
		path->path.param_info = param_info;
		path->path.parallel_aware = parallel;
		path->path.parallel_safe = rel->consider_parallel;
		path->path.parallel_workers = workers;
		path->path.rows = param_info ? param_info->ppi_rows : rel->rows;
		if (parallel)
			path->path.rows = clamp_row_est(path->path.rows / divisor);
		path->path.pathkeys = NIL;
		/* a scan of the whole table: enable_seqscan = off applies to it */
		path->path.startup_cost = qpqual_cost.startup + (enable_seqscan ? 0 : disable_cost);
		path->path.total_cost = path->path.startup_cost +
			(io_cost + cpu_per_tuple * rows_read) / divisor;
		path->flags = 0;
		path->custom_private = list_make2(attnums, makeInteger(all));
		path->methods = &PathMethods;
		if (parallel)
			add_partial_path(rel, &path->path);
		else
			add_path(rel, &path->path);
	}
}

/* ----------------------------------------------------------------
 * aggregates
 * ----------------------------------------------------------------
 */

/*
 * The distinct Aggrefs of a grouping target if the scan can compute them
 * all and the target reads nothing else of the rows, else NIL.
 */
static List *
ScanAggrefs(List *exprs, Index varno)
{
	List	   *aggrefs = NIL;
	ListCell   *lc;

	/* Aggrefs, and whatever else refers to the rows outside them */
	foreach(lc, pull_var_clause((Node *) exprs,
								PVC_INCLUDE_AGGREGATES | PVC_INCLUDE_WINDOWFUNCS |
								PVC_INCLUDE_PLACEHOLDERS))
	{
		Node	   *node = lfirst(lc);

		if (!IsA(node, Aggref) || !AggSupported((Aggref *) node, varno))
			return NIL;
		aggrefs = list_append_unique(aggrefs, node);
	}
	return aggrefs;
}

static int
CompareSecurityLevel(const ListCell *a, const ListCell *b)
{
	Index		la = lfirst_node(RestrictInfo, a)->security_level;
	Index		lb = lfirst_node(RestrictInfo, b)->security_level;

	return la < lb ? -1 : la > lb ? 1 : 0;
}

/*
 * A CompactScan that returns aggregates of rel's rows that pass its quals:
 * one row, or with workers one row of transition states per participant.
 */
static CustomPath *
AggregatePath(PlannerInfo *root, RelOptInfo *rel, Relation relation,
			  RelOptInfo *parent, PathTarget *target, List *aggrefs,
			  int workers)
{
	CustomPath *path = makeNode(CustomPath);
	List	   *attnums;
	List	   *quals = NIL;
	bool		all;
	Cost		io_cost;
	double		rows_read;
	QualCost	qual_cost;
	List	   *rinfos;
	ListCell   *lc;

	ScanCost(root, rel, relation, &attnums, &all, &io_cost, &rows_read);

	/*
	 * Every qual, pseudoconstant ones too (there is no gating Result above),
	 * row-level security quals before the query's own, as a scan orders
	 * them, so that no user function sees a row the policy hides.
	 */
	rinfos = list_copy(rel->baserestrictinfo);
	list_sort(rinfos, CompareSecurityLevel);
	foreach(lc, rinfos)
		quals = lappend(quals, lfirst_node(RestrictInfo, lc)->clause);
	cost_qual_eval(&qual_cost, rel->baserestrictinfo, root);

	path->path.pathtype = T_CustomScan;
	path->path.parent = parent;
	path->path.pathtarget = target;
	path->path.param_info = NULL;
	path->path.parallel_aware = workers > 0;
	path->path.parallel_safe = workers > 0;
	path->path.parallel_workers = workers;
	path->path.rows = 1;
	path->path.pathkeys = NIL;
	/* no tuples: the quals and a fraction of an operator per value */
	path->path.startup_cost = qual_cost.startup +
		(enable_seqscan ? 0 : disable_cost) +
		(io_cost + rows_read * (qual_cost.per_tuple +
								0.25 * cpu_operator_cost * list_length(aggrefs))) /
		(workers > 0 ? ParallelDivisor(workers) : 1.0);
	path->path.total_cost = path->path.startup_cost + cpu_tuple_cost;
	path->flags = 0;
	path->custom_private = list_make5(attnums, makeInteger(all),
									  makeInteger(rel->relid), aggrefs, quals);
	path->methods = &PathMethods;
	return path;
}

/*
 * Aggregates without GROUP BY over one compact table: offer a CompactScan
 * that computes them from the decoded arrays, and with parallel query a
 * Finalize Aggregate over a Gather of such scans returning transition
 * states.  PostgreSQL 15 calls this hook for the grouped relation only, so
 * the parallel plan is built here from the partial grouping target the
 * planner made.
 */
static void
compact_create_upper_paths(PlannerInfo *root, UpperRelationKind stage,
						   RelOptInfo *input_rel, RelOptInfo *output_rel,
						   void *extra)
{
	Query	   *parse = root->parse;
	RangeTblEntry *rte;
	Relation	relation;
	List	   *aggrefs;
	RelOptInfo *partial_rel;
	bool		own_changes;

	if (prev_create_upper_paths_hook)
		prev_create_upper_paths_hook(root, stage, input_rel, output_rel, extra);

	if (stage != UPPERREL_GROUP_AGG || !compact_enable_custom_scan ||
		!compact_enable_aggregate_pushdown)
		return;
	if (input_rel->reloptkind != RELOPT_BASEREL ||
		input_rel->rtekind != RTE_RELATION || input_rel->lateral_relids != NULL ||
		parse->groupClause != NIL || parse->groupingSets != NIL ||
		parse->havingQual != NULL || parse->hasWindowFuncs ||
		parse->hasTargetSRFs ||
		((GroupPathExtraData *) extra)->patype != PARTITIONWISE_AGGREGATE_NONE)
		return;
	rte = planner_rt_fetch(input_rel->relid, root);
	if (rte->inh || rte->tablesample != NULL)
		return;

	aggrefs = ScanAggrefs(output_rel->reltarget->exprs, input_rel->relid);
	if (aggrefs == NIL)
		return;

	/* the quals run on the scan's rows: no system columns there */
	{
		Bitmapset  *attrs = NULL;
		ListCell   *lc;

		foreach(lc, input_rel->baserestrictinfo)
			pull_varattnos((Node *) lfirst_node(RestrictInfo, lc)->clause,
						   input_rel->relid, &attrs);
		if (attrs != NULL &&
			bms_next_member(attrs, -1) <= 0 - FirstLowInvalidHeapAttributeNumber)
			return;
	}

	relation = CompactBaseRelation(rte);
	if (relation == NULL)
		return;
	own_changes = HasOwnChanges(relation);

	add_path(output_rel, &AggregatePath(root, input_rel, relation, output_rel,
										output_rel->reltarget, aggrefs,
										0)->path);

	/*
	 * Parallel: the planner made the partially grouped relation (with its
	 * target of partial Aggrefs) when the input had partial paths.
	 */
	partial_rel = fetch_upper_rel(root, UPPERREL_PARTIAL_GROUP_AGG,
								  output_rel->relids);
	if (input_rel->consider_parallel && output_rel->consider_parallel &&
		!own_changes && max_parallel_workers_per_gather > 0 &&
		partial_rel->reltarget->exprs != NIL)
	{
		List	   *partial_aggrefs = ScanAggrefs(partial_rel->reltarget->exprs,
												  input_rel->relid);
		int			workers = compute_parallel_worker(input_rel, input_rel->pages, -1,
													  max_parallel_workers_per_gather);

		if (partial_aggrefs != NIL && workers > 0)
		{
			CustomPath *scan = AggregatePath(root, input_rel, relation,
											 partial_rel, partial_rel->reltarget,
											 partial_aggrefs, workers);
			double		rows = workers + 1;
			Path	   *gather;
			AggClauseCosts costs;

			gather = (Path *) create_gather_path(root, partial_rel, &scan->path,
												 partial_rel->reltarget, NULL,
												 &rows);
			get_agg_clause_costs(root, AGGSPLIT_FINAL_DESERIAL, &costs);
			add_path(output_rel,
					 (Path *) create_agg_path(root, output_rel, gather,
											  output_rel->reltarget, AGG_PLAIN,
											  AGGSPLIT_FINAL_DESERIAL, NIL, NIL,
											  &costs, 1));
		}
	}
	table_close(relation, NoLock);
}

static Plan *
PlanCompactScan(PlannerInfo *root, RelOptInfo *rel, CustomPath *best_path,
				List *tlist, List *clauses, List *custom_plans)
{
	CustomScan *cscan = makeNode(CustomScan);
	List	   *quals = extract_actual_clauses(clauses, false);

	cscan->scan.plan.targetlist = tlist;
	cscan->flags = best_path->flags;
	cscan->custom_plans = NIL;
	cscan->methods = &ScanMethods;
	if (list_length(best_path->custom_private) > 2)
	{
		/*
		 * Aggregates: the scan tuple holds them, then the relation's quals
		 * (so that setrefs fixes their Vars and Params as for a scan).  The
		 * node's target list refers to the aggregates by position.
		 */
		List	   *aggrefs = list_nth(best_path->custom_private, 3);
		List	   *rel_quals = list_nth(best_path->custom_private, 4);
		List	   *scan_tlist = NIL;
		ListCell   *lc;

		foreach(lc, list_concat_copy(aggrefs, rel_quals))
			scan_tlist = lappend(scan_tlist,
								 makeTargetEntry(copyObject(lfirst(lc)),
												 list_length(scan_tlist) + 1,
												 NULL, false));
		cscan->scan.scanrelid = intVal(list_nth(best_path->custom_private, 2));
		cscan->scan.plan.qual = NIL;
		cscan->custom_exprs = NIL;
		cscan->custom_scan_tlist = scan_tlist;
		cscan->custom_private = list_make3(linitial(best_path->custom_private),
										   lsecond(best_path->custom_private),
										   makeInteger(list_length(aggrefs)));
		return &cscan->scan.plan;
	}
	cscan->scan.plan.qual = quals;
	cscan->scan.scanrelid = rel->relid;
	/* the pruning quals: fixed up by setrefs like the qual */
	cscan->custom_exprs = copyObject(quals);
	cscan->custom_private = best_path->custom_private;
	cscan->custom_scan_tlist = NIL;
	return &cscan->scan.plan;
}

/* ----------------------------------------------------------------
 * pruning
 * ----------------------------------------------------------------
 */

/*
 * Replace every Var-free, non-volatile subexpression by its value now:
 * Params, stable functions such as now(), initplans.
 */
static Node *
BindMutator(Node *node, CompactScanState *state)
{
	ExprState  *es;
	Datum		value;
	bool		isnull;
	Oid			type;
	int16		typlen;
	bool		typbyval;

	if (node == NULL)
		return NULL;
	if (IsA(node, Var) || IsA(node, Const))
		return copyObject(node);
	if (!contain_var_clause(node) && !contain_volatile_functions(node) &&
		!contain_subplans(node) && !IsA(node, List))
	{
		ExprContext *econtext = state->css.ss.ps.ps_ExprContext;

		type = exprType(node);
		get_typlenbyval(type, &typlen, &typbyval);
		es = ExecInitExpr((Expr *) node, &state->css.ss.ps);
		value = ExecEvalExprSwitchContext(es, econtext, &isnull);
		return (Node *) makeConst(type, exprTypmod(node), exprCollation(node),
								  typlen,
								  isnull ? (Datum) 0 : datumCopy(value, typbyval, typlen),
								  isnull, typbyval);
	}
	/*
	 * Descend only through the shapes pruning understands; anything else
	 * that has Vars (CASE, function calls over columns, ...) stays as it is
	 * and simply proves nothing.
	 */
	if (IsA(node, BoolExpr) || IsA(node, OpExpr) || IsA(node, ScalarArrayOpExpr) ||
		IsA(node, NullTest) || IsA(node, RelabelType) || IsA(node, List))
		return expression_tree_mutator(node, BindMutator, state);
	return copyObject(node);
}

static void
BindPruningQuals(CompactScanState *state)
{
	List	   *bound = NIL;
	ListCell   *lc;

	foreach(lc, state->prune_quals)
	{
		Node	   *qual = lfirst(lc);

		if (contain_volatile_functions(qual) || contain_subplans(qual))
			continue;			/* cannot be proven against statistics */
		bound = lappend(bound, BindMutator(qual, state));
	}
	state->bound_quals = bound;
	state->bound = true;
}

static bool
FragmentMayMatch(void *arg, const FragmentMeta *meta)
{
	CompactScanState *state = (CompactScanState *) arg;
	Relation	rel = state->css.ss.ss_currentRelation;
	MemoryContext old;
	bool		result;

	if (state->bound_quals == NIL)
		return true;
	old = MemoryContextSwitchTo(state->prunecxt);
	result = PruneMayMatch(state->bound_quals,
						   PruneFragmentClauses(rel, state->varno, meta->stats));
	MemoryContextSwitchTo(old);
	MemoryContextReset(state->prunecxt);
	return result;
}

static bool
RowGroupMayMatch(void *arg, FragmentReader *reader, int rowgroup)
{
	CompactScanState *state = (CompactScanState *) arg;
	Relation	rel = state->css.ss.ss_currentRelation;
	int			ncols = FragmentReaderNumColumns(reader);
	int16	   *attnums;
	ColumnStats *stats;
	int			n = 0;
	MemoryContext old;
	bool		result;

	if (state->bound_quals == NIL)
		return true;
	old = MemoryContextSwitchTo(state->prunecxt);
	attnums = palloc(sizeof(int16) * Max(ncols, 1));
	stats = palloc(sizeof(ColumnStats) * Max(ncols, 1));
	for (int c = 0; c < ncols; c++)
	{
		int16		attnum = FragmentReaderColumn(reader, c)->attnum;

		if (!bms_is_member(attnum, state->prune_attnums))
			continue;
		attnums[n] = attnum;
		FragmentReaderRowGroupStats(reader, rowgroup, c, &stats[n]);
		n++;
	}
	result = PruneMayMatch(state->bound_quals,
						   PruneStatsClauses(rel, state->varno, n, attnums, stats));
	MemoryContextSwitchTo(old);
	MemoryContextReset(state->prunecxt);
	return result;
}

/* ----------------------------------------------------------------
 * execution
 * ----------------------------------------------------------------
 */

static Node *
CreateCompactScanState(CustomScan *cscan)
{
	CompactScanState *state = palloc0(sizeof(CompactScanState));

	NodeSetTag(state, T_CustomScanState);
	state->css.methods = &ExecMethods;
	return (Node *) state;
}

static void
BeginCompactScan(CustomScanState *node, EState *estate, int eflags)
{
	CompactScanState *state = (CompactScanState *) node;
	CustomScan *cscan = (CustomScan *) node->ss.ps.plan;
	Relation	rel = node->ss.ss_currentRelation;
	List	   *attnums = linitial(cscan->custom_private);
	bool		all = intVal(lsecond(cscan->custom_private)) != 0;
	int			natts = RelationGetDescr(rel)->natts;
	ListCell   *lc;
	int			k = -1;
	Bitmapset  *varattnos = NULL;
	Bitmapset  *qual_attnos = NULL;

	state->varno = cscan->scan.scanrelid;
	state->prune_quals = compact_scan_pruning ? cscan->custom_exprs : NIL;
	if (list_length(cscan->custom_private) > 2)
	{
		/* aggregates first in the scan tuple, then the relation's quals */
		int			naggs = intVal(lthird(cscan->custom_private));
		List	   *aggrefs = NIL;
		List	   *quals = NIL;

		foreach(lc, cscan->custom_scan_tlist)
		{
			TargetEntry *tle = lfirst_node(TargetEntry, lc);

			if (tle->resno <= naggs)
				aggrefs = lappend(aggrefs, tle->expr);
			else
				quals = lappend(quals, tle->expr);
		}
		state->aggs = AggSetCreate(aggrefs);
		state->agg_exprs = aggrefs;
		state->agg_quals = quals;
		state->agg_qual = ExecInitQual(quals, &node->ss.ps);
		state->rowslot = MakeSingleTupleTableSlot(RelationGetDescr(rel),
												  &TTSOpsVirtual);
		/* the row slot's other columns stay NULL: the quals never read them */
		memset(state->rowslot->tts_isnull, true, sizeof(bool) * Max(natts, 1));
		pull_varattnos((Node *) quals, state->varno, &qual_attnos);
		for (int m = -1; (m = bms_next_member(qual_attnos, m)) >= 0;)
		{
			AttrNumber	attnum = m + FirstLowInvalidHeapAttributeNumber;

			if (attnum > 0 && attnum <= natts)
				state->qual_atts = lappend_int(state->qual_atts, attnum - 1);
		}
		state->prune_quals = compact_scan_pruning ? quals : NIL;
	}
	state->prunecxt = AllocSetContextCreate(CurrentMemoryContext,
											"compact scan pruning",
											ALLOCSET_SMALL_SIZES);
	if (!all)
	{
		state->needed = palloc0(sizeof(bool) * Max(natts, 1));
		foreach(lc, attnums)
		{
			int			attnum = lfirst_int(lc);

			if (attnum >= 1 && attnum <= natts)
				state->needed[attnum - 1] = true;
		}
	}
	pull_varattnos((Node *) state->prune_quals, state->varno, &varattnos);
	while ((k = bms_next_member(varattnos, k)) >= 0)
	{
		AttrNumber	attnum = k + FirstLowInvalidHeapAttributeNumber;

		if (attnum > 0)			/* no statistics for system columns */
			state->prune_attnums = bms_add_member(state->prune_attnums, attnum);
	}

	state->filter.needed = state->needed;
	state->filter.fragment_may_match = FragmentMayMatch;
	state->filter.rowgroup_may_match = RowGroupMayMatch;
	state->filter.arg = state;
}

/* add this participant's counts to the shared ones, once per scan */
static void
FlushCounters(CompactScanState *state)
{
	if (state->shared == NULL || state->flushed)
		return;
	pg_atomic_fetch_add_u64(&state->shared->fragments_scanned, state->filter.fragments_scanned);
	pg_atomic_fetch_add_u64(&state->shared->fragments_skipped, state->filter.fragments_skipped);
	pg_atomic_fetch_add_u64(&state->shared->rowgroups_scanned, state->filter.rowgroups_scanned);
	pg_atomic_fetch_add_u64(&state->shared->rowgroups_skipped, state->filter.rowgroups_skipped);
	state->filter.fragments_scanned = 0;
	state->filter.fragments_skipped = 0;
	state->filter.rowgroups_scanned = 0;
	state->filter.rowgroups_skipped = 0;
	state->flushed = true;
}

static void
StartScan(CompactScanState *state)
{
	ScanState  *ss = &state->css.ss;

	if (!state->bound)
		BindPruningQuals(state);
	if (state->scandesc == NULL)
	{
		state->scandesc = table_beginscan(ss->ss_currentRelation,
										  ss->ps.state->es_snapshot, 0, NULL);
		CompactScanSetFilter(state->scandesc, &state->filter);
	}
}

static TupleTableSlot *
CompactScanNext(ScanState *ss)
{
	CompactScanState *state = (CompactScanState *) ss;
	TupleTableSlot *slot = ss->ss_ScanTupleSlot;

	StartScan(state);
	if (table_scan_getnextslot(state->scandesc, ForwardScanDirection, slot))
		return slot;
	FlushCounters(state);
	return NULL;
}

/*
 * The rows of a batch that pass the quals, evaluated on each row as a
 * virtual tuple of the columns they read.  Returns how many; their indexes go
 * to pass.
 */
static int
FilterBatch(CompactScanState *state, CompactBatch *batch, int *pass)
{
	ExprContext *econtext = state->css.ss.ps.ps_ExprContext;
	TupleTableSlot *slot = state->rowslot;
	TupleTableSlot *saved = econtext->ecxt_scantuple;
	int			n = 0;

	econtext->ecxt_scantuple = slot;
	for (int k = 0; k < batch->nrows; k++)
	{
		int			r = batch->rows ? batch->rows[k] : k;
		ListCell   *lc;

		ExecClearTuple(slot);
		foreach(lc, state->qual_atts)
		{
			int			a = lfirst_int(lc);

			slot->tts_values[a] = batch->values[a][r];
			slot->tts_isnull[a] = batch->isnull[a][r];
		}
		ExecStoreVirtualTuple(slot);
		if (ExecQual(state->agg_qual, econtext))
			pass[n++] = r;
		ResetExprContext(econtext);
	}
	econtext->ecxt_scantuple = saved;
	return n;
}

/* The aggregates over every row the scan returns, as one tuple. */
static TupleTableSlot *
CompactAggregateNext(ScanState *ss)
{
	CompactScanState *state = (CompactScanState *) ss;
	TupleTableSlot *slot = ss->ss_ScanTupleSlot;
	CompactBatch batch;
	int		   *pass = NULL;
	int			passcap = 0;

	ExecClearTuple(slot);
	if (state->agg_done)
		return NULL;
	StartScan(state);
	while (CompactScanNextBatch(state->scandesc, &batch))
	{
		if (state->agg_qual != NULL)
		{
			int			n;

			if (passcap < batch.nrows)
			{
				if (pass)
					pfree(pass);
				passcap = Max(batch.nrows, 1024);
				pass = palloc(sizeof(int) * passcap);
			}
			n = FilterBatch(state, &batch, pass);
			AggSetAccumulate(state->aggs, batch.values, batch.isnull, pass, n);
		}
		else
			AggSetAccumulate(state->aggs, batch.values, batch.isnull,
							 batch.rows, batch.nrows);
	}
	if (pass)
		pfree(pass);
	FlushCounters(state);

	/* the remaining (qual) columns of the scan tuple are not read */
	memset(slot->tts_isnull, true, sizeof(bool) * slot->tts_tupleDescriptor->natts);
	AggSetResults(state->aggs, slot->tts_values, slot->tts_isnull);
	state->agg_done = true;
	return ExecStoreVirtualTuple(slot);
}

static bool
CompactScanRecheck(ScanState *ss, TupleTableSlot *slot)
{
	return true;
}

static TupleTableSlot *
ExecCompactScan(CustomScanState *node)
{
	if (((CompactScanState *) node)->aggs)
		return ExecScan(&node->ss, CompactAggregateNext, CompactScanRecheck);
	return ExecScan(&node->ss, CompactScanNext, CompactScanRecheck);
}

static void
EndCompactScan(CustomScanState *node)
{
	CompactScanState *state = (CompactScanState *) node;

	if (state->scandesc)
		table_endscan(state->scandesc);
	state->scandesc = NULL;
	if (state->rowslot)
		ExecDropSingleTupleTableSlot(state->rowslot);
	state->rowslot = NULL;
}

static void
ReScanCompactScan(CustomScanState *node)
{
	CompactScanState *state = (CompactScanState *) node;

	/* parameters may have changed: bind them again at the first row */
	state->bound = false;
	state->flushed = false;
	state->agg_done = false;
	if (state->aggs)
		AggSetReset(state->aggs);
	if (state->scandesc)
		table_rescan(state->scandesc, NULL);
	ExecScanReScan(&node->ss);
}

static Size
EstimateDSMCompactScan(CustomScanState *node, ParallelContext *pcxt)
{
	return MAXALIGN(sizeof(CompactScanShared)) +
		table_parallelscan_estimate(node->ss.ss_currentRelation,
									node->ss.ps.state->es_snapshot);
}

static void
InitializeDSMCompactScan(CustomScanState *node, ParallelContext *pcxt,
						 void *coordinate)
{
	CompactScanState *state = (CompactScanState *) node;
	CompactScanShared *shared = (CompactScanShared *) coordinate;

	pg_atomic_init_u64(&shared->fragments_scanned, 0);
	pg_atomic_init_u64(&shared->fragments_skipped, 0);
	pg_atomic_init_u64(&shared->rowgroups_scanned, 0);
	pg_atomic_init_u64(&shared->rowgroups_skipped, 0);
	table_parallelscan_initialize(node->ss.ss_currentRelation,
								  SHARED_PSCAN(shared),
								  node->ss.ps.state->es_snapshot);
	state->shared = shared;
	state->scandesc = table_beginscan_parallel(node->ss.ss_currentRelation,
											   SHARED_PSCAN(shared));
	CompactScanSetFilter(state->scandesc, &state->filter);
}

static void
ReInitializeDSMCompactScan(CustomScanState *node, ParallelContext *pcxt,
						   void *coordinate)
{
	CompactScanShared *shared = (CompactScanShared *) coordinate;

	table_parallelscan_reinitialize(node->ss.ss_currentRelation,
									SHARED_PSCAN(shared));
}

static void
InitializeWorkerCompactScan(CustomScanState *node, shm_toc *toc,
							void *coordinate)
{
	CompactScanState *state = (CompactScanState *) node;
	CompactScanShared *shared = (CompactScanShared *) coordinate;

	state->shared = shared;
	state->scandesc = table_beginscan_parallel(node->ss.ss_currentRelation,
											   SHARED_PSCAN(shared));
	CompactScanSetFilter(state->scandesc, &state->filter);
}

/* the leader, before the shared memory goes: collect everyone's counts */
static void
ShutdownCompactScan(CustomScanState *node)
{
	CompactScanState *state = (CompactScanState *) node;

	if (state->shared == NULL)
		return;
	FlushCounters(state);
	state->fragments_scanned += pg_atomic_read_u64(&state->shared->fragments_scanned);
	state->fragments_skipped += pg_atomic_read_u64(&state->shared->fragments_skipped);
	state->rowgroups_scanned += pg_atomic_read_u64(&state->shared->rowgroups_scanned);
	state->rowgroups_skipped += pg_atomic_read_u64(&state->shared->rowgroups_skipped);
	state->shared = NULL;
}

static void
ExplainCompactScan(CustomScanState *node, List *ancestors, ExplainState *es)
{
	CompactScanState *state = (CompactScanState *) node;
	Relation	rel = node->ss.ss_currentRelation;
	TupleDesc	desc = RelationGetDescr(rel);
	List	   *columns = NIL;

	for (int a = 0; a < desc->natts; a++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, a);

		if (!att->attisdropped && (state->needed == NULL || state->needed[a]))
			columns = lappend(columns, NameStr(att->attname));
	}
	ExplainPropertyList("Columns", columns, es);

	if (state->aggs)
	{
		List	   *context = set_deparse_context_plan(es->deparse_cxt,
													   node->ss.ps.plan,
													   ancestors);
		List	   *aggs = NIL;
		ListCell   *lc;

		foreach(lc, state->agg_exprs)
			aggs = lappend(aggs, deparse_expression(lfirst(lc), context,
													es->verbose, false));
		ExplainPropertyList("Aggregates", aggs, es);
		if (state->agg_quals != NIL)
			ExplainPropertyText("Filter",
								deparse_expression((Node *) make_ands_explicit(state->agg_quals),
												   context, es->verbose, false),
								es);
	}

	if (state->prune_quals != NIL)
	{
		List	   *context = set_deparse_context_plan(es->deparse_cxt,
													   node->ss.ps.plan,
													   ancestors);
		Node	   *expr = (Node *) make_ands_explicit(state->prune_quals);

		ExplainPropertyText("Pruning Quals",
							deparse_expression(expr, context, es->verbose, false),
							es);
	}

	if (es->analyze)
	{
		int64		fs = state->fragments_scanned + state->filter.fragments_scanned;
		int64		fk = state->fragments_skipped + state->filter.fragments_skipped;
		int64		rs = state->rowgroups_scanned + state->filter.rowgroups_scanned;
		int64		rk = state->rowgroups_skipped + state->filter.rowgroups_skipped;

		ExplainPropertyInteger("Fragments Scanned", NULL, fs, es);
		ExplainPropertyInteger("Fragments Skipped", NULL, fk, es);
		ExplainPropertyInteger("Row Groups Scanned", NULL, rs, es);
		ExplainPropertyInteger("Row Groups Skipped", NULL, rk, es);
	}
}

void
CompactCustomScanInit(void)
{
	DefineCustomBoolVariable("compact.scan_pruning",
							 "Skip fragments and row groups whose statistics rule out a query's conditions.",
							 "Off: the custom scan reads every fragment (to compare).",
							 &compact_scan_pruning,
							 true,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
	DefineCustomBoolVariable("compact.enable_custom_scan",
							 "Let the planner use CompactScan on compact tables.",
							 NULL,
							 &compact_enable_custom_scan,
							 true,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
	DefineCustomBoolVariable("compact.enable_aggregate_pushdown",
							 "Let CompactScan compute count, sum, avg, min and max itself.",
							 "Off: an Aggregate node computes them from the scan's rows.",
							 &compact_enable_aggregate_pushdown,
							 true,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
	RegisterCustomScanMethods(&ScanMethods);
	prev_set_rel_pathlist_hook = set_rel_pathlist_hook;
	set_rel_pathlist_hook = compact_set_rel_pathlist;
	prev_create_upper_paths_hook = create_upper_paths_hook;
	create_upper_paths_hook = compact_create_upper_paths;
}
