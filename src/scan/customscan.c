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
 * EXPLAIN shows the columns read and the pruning quals; EXPLAIN ANALYZE the
 * counters Fragments Scanned/Skipped and Row Groups Scanned/Skipped,
 * summed over parallel workers through the shared state.
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
#include "optimizer/restrictinfo.h"
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
#include "scan/prune.h"
#include "tableam/tableam.h"

bool		compact_scan_pruning = true;
bool		compact_enable_custom_scan = true;

static set_rel_pathlist_hook_type prev_set_rel_pathlist_hook = NULL;

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

static void
compact_set_rel_pathlist(PlannerInfo *root, RelOptInfo *rel, Index rti,
						 RangeTblEntry *rte)
{
	Relation	relation;
	CustomPath *path;
	List	   *attnums;
	bool		all;
	double		colfrac;
	double		rowfrac;
	Cost		cpu_per_tuple;
	QualCost	qpqual_cost;
	int			natts;
	ParamPathInfo *param_info;
	bool		own_changes;

	if (prev_set_rel_pathlist_hook)
		prev_set_rel_pathlist_hook(root, rel, rti, rte);

	if (rte->rtekind != RTE_RELATION || rte->relkind != RELKIND_RELATION ||
		!OidIsValid(CompactAmOid()))
		return;
	relation = table_open(rte->relid, NoLock);
	if (relation->rd_rel->relam != CompactAmOid())
	{
		table_close(relation, NoLock);
		return;
	}

	/*
	 * Rows this transaction buffered or deleted live in its own memory,
	 * which parallel workers cannot see: no parallel scan of the table then
	 * (this removes the Parallel Seq Scan paths too).
	 */
	own_changes = WriteStateHasDeletes(relation->rd_node) ||
		WriteStateBufferedRows(relation->rd_node) > 0;
	if (own_changes)
		rel->partial_pathlist = NIL;

	if (!compact_enable_custom_scan || rte->tablesample != NULL || rte->inh)
	{
		table_close(relation, NoLock);
		return;
	}

	attnums = NeededAttnums(rel, relation, &all);
	natts = Max(RelationGetDescr(relation)->natts, 1);
	colfrac = all ? 1.0 : Max((double) list_length(attnums) / natts, 0.5 / natts);
	rowfrac = compact_scan_pruning ?
		PrunedFraction(relation, rel->relid, rel->baserestrictinfo) : 1.0;
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
			divisor = workers + (parallel_leader_participation &&
								 workers < 4 ? 1.0 - 0.3 * workers : 0);
			divisor = Max(divisor, workers);
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
		/* only the needed columns of the fragments that may match */
		/* a scan of the whole table: enable_seqscan = off applies to it */
		path->path.startup_cost = qpqual_cost.startup + (enable_seqscan ? 0 : disable_cost);
		path->path.total_cost = path->path.startup_cost +
			(seq_page_cost * rel->pages * colfrac * rowfrac +
			 cpu_per_tuple * rel->tuples * rowfrac) / divisor;
		path->flags = 0;
		path->custom_private = list_make2(attnums, makeInteger(all));
		path->methods = &PathMethods;
		if (parallel)
			add_partial_path(rel, &path->path);
		else
			add_path(rel, &path->path);
	}
}

static Plan *
PlanCompactScan(PlannerInfo *root, RelOptInfo *rel, CustomPath *best_path,
				List *tlist, List *clauses, List *custom_plans)
{
	CustomScan *cscan = makeNode(CustomScan);
	List	   *quals = extract_actual_clauses(clauses, false);

	cscan->scan.plan.targetlist = tlist;
	cscan->scan.plan.qual = quals;
	cscan->scan.scanrelid = rel->relid;
	cscan->flags = best_path->flags;
	cscan->custom_plans = NIL;
	/* the pruning quals: fixed up by setrefs like the qual */
	cscan->custom_exprs = copyObject(quals);
	cscan->custom_private = best_path->custom_private;
	cscan->custom_scan_tlist = NIL;
	cscan->methods = &ScanMethods;
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

	state->varno = cscan->scan.scanrelid;
	state->prune_quals = compact_scan_pruning ? cscan->custom_exprs : NIL;
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

static TupleTableSlot *
CompactScanNext(ScanState *ss)
{
	CompactScanState *state = (CompactScanState *) ss;
	TupleTableSlot *slot = ss->ss_ScanTupleSlot;

	if (!state->bound)
		BindPruningQuals(state);
	if (state->scandesc == NULL)
	{
		state->scandesc = table_beginscan(ss->ss_currentRelation,
										  ss->ps.state->es_snapshot, 0, NULL);
		CompactScanSetFilter(state->scandesc, &state->filter);
	}
	if (table_scan_getnextslot(state->scandesc, ForwardScanDirection, slot))
		return slot;
	FlushCounters(state);
	return NULL;
}

static bool
CompactScanRecheck(ScanState *ss, TupleTableSlot *slot)
{
	return true;
}

static TupleTableSlot *
ExecCompactScan(CustomScanState *node)
{
	return ExecScan(&node->ss, CompactScanNext, CompactScanRecheck);
}

static void
EndCompactScan(CustomScanState *node)
{
	CompactScanState *state = (CompactScanState *) node;

	if (state->scandesc)
		table_endscan(state->scandesc);
	state->scandesc = NULL;
}

static void
ReScanCompactScan(CustomScanState *node)
{
	CompactScanState *state = (CompactScanState *) node;

	/* parameters may have changed: bind them again at the first row */
	state->bound = false;
	state->flushed = false;
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
	RegisterCustomScanMethods(&ScanMethods);
	prev_set_rel_pathlist_hook = set_rel_pathlist_hook;
	set_rel_pathlist_hook = compact_set_rel_pathlist;
}
