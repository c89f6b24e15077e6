/*-------------------------------------------------------------------------
 * prune.c
 *	  Turn column statistics into clauses that hold for every row they
 *	  describe, and ask PostgreSQL's predicate prover whether a query's
 *	  conditions can be true on any of those rows.
 *
 * For a column with statistics (min, max, nulls, rows) the clauses are:
 *	 no NULLs:		col >= min AND col <= max AND col IS NOT NULL
 *	 some NULLs:	col IS NULL OR (col >= min AND col <= max)
 *	 all NULLs:		col IS NULL
 * with the operators of the column type's default btree opclass and the
 * column's collation (the collation the statistics were computed with).
 * If predicate_refuted_by() proves the conditions false or NULL given these
 * clauses, no row can match and the rows can be skipped.  The prover knows
 * =, <, <=, >, >=, <>, BETWEEN, IN/= ANY, IS [NOT] NULL, AND, OR and NOT
 * over any btree-ordered type, so nothing here is type-specific.
 *
 * IDENTIFICATION
 *	  src/scan/prune.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/stratnum.h"
#include "catalog/pg_type.h"
#include "nodes/makefuncs.h"
#include "optimizer/optimizer.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/typcache.h"

#include "scan/prune.h"

static Expr *
RangeClause(Var *var, Oid opintype, Oid opfamily, int strategy, Datum value,
			Oid collation)
{
	Oid			opno = get_opfamily_member(opfamily, opintype, opintype, strategy);
	int16		typlen;
	bool		typbyval;
	Expr	   *left = (Expr *) var;
	Const	   *c;

	if (!OidIsValid(opno))
		return NULL;
	get_typlenbyval(opintype, &typlen, &typbyval);
	if (var->vartype != opintype)
		left = (Expr *) makeRelabelType(left, opintype, -1, collation,
										COERCE_IMPLICIT_CAST);
	c = makeConst(opintype, -1, collation, typlen,
				  datumCopy(value, typbyval, typlen), false, typbyval);
	return make_opclause(opno, BOOLOID, false, left, (Expr *) c,
						 InvalidOid, collation);
}

static Expr *
NullClause(Var *var, NullTestType type)
{
	NullTest   *nt = makeNode(NullTest);

	nt->arg = (Expr *) copyObject(var);
	nt->nulltesttype = type;
	nt->argisrow = false;
	nt->location = -1;
	return (Expr *) nt;
}

List *
PruneStatsClauses(Relation rel, Index varno, int ncolumns,
				  const int16 *attnums, const ColumnStats *stats)
{
	TupleDesc	desc = RelationGetDescr(rel);
	List	   *clauses = NIL;

	for (int i = 0; i < ncolumns; i++)
	{
		Form_pg_attribute att;
		Var		   *var;
		TypeCacheEntry *tce;
		Expr	   *ge;
		Expr	   *le;

		if (attnums[i] < 1 || attnums[i] > desc->natts)
			continue;
		att = TupleDescAttr(desc, attnums[i] - 1);
		if (att->attisdropped || stats[i].row_count == 0)
			continue;
		var = makeVar(varno, att->attnum, att->atttypid, att->atttypmod,
					  att->attcollation, 0);
		if (stats[i].null_count >= stats[i].row_count)
		{
			clauses = lappend(clauses, NullClause(var, IS_NULL));
			continue;
		}
		if (stats[i].null_count == 0)
			clauses = lappend(clauses, NullClause(var, IS_NOT_NULL));
		if (!stats[i].has_minmax)
			continue;
		tce = lookup_type_cache(att->atttypid, TYPECACHE_BTREE_OPFAMILY);
		if (!OidIsValid(tce->btree_opf))
			continue;
		ge = RangeClause(var, tce->btree_opintype, tce->btree_opf,
						 BTGreaterEqualStrategyNumber, stats[i].min,
						 att->attcollation);
		le = RangeClause(var, tce->btree_opintype, tce->btree_opf,
						 BTLessEqualStrategyNumber, stats[i].max,
						 att->attcollation);
		if (ge == NULL || le == NULL)
			continue;
		if (stats[i].null_count == 0)
			clauses = lappend(lappend(clauses, ge), le);
		else
			clauses = lappend(clauses,
							  make_orclause(list_make2(NullClause(var, IS_NULL),
													   make_andclause(list_make2(ge, le)))));
	}
	return clauses;
}

/* Clauses from a fragment's catalog statistics (NIL if it has none). */
List *
PruneFragmentClauses(Relation rel, Index varno, bytea *stats)
{
	int16	   *attnums;
	ColumnStats *cs;
	int			n;

	if (stats == NULL)
		return NIL;
	n = FragmentStatsDeserialize(stats, &attnums, &cs);
	return PruneStatsClauses(rel, varno, n, attnums, cs);
}

/*
 * Can rows satisfying stats_clauses satisfy the (implicitly ANDed, planned)
 * quals?  False only when the prover shows they cannot.
 */
bool
PruneMayMatch(List *quals, List *stats_clauses)
{
	if (quals == NIL || stats_clauses == NIL)
		return true;
	return !predicate_refuted_by(quals, stats_clauses, true);
}
