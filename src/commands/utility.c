/*-------------------------------------------------------------------------
 * utility.c
 *	  ProcessUtility hook: keep pg_compact/<database oid> in step with
 *	  CREATE DATABASE and DROP DATABASE.
 *
 * CREATE DATABASE copies only relation forks, yet the new database's
 * catalogs (and so its relfilenodes and manifest rows) are copies of the
 * template's: the template's fragment directories are copied after the
 * database is created.  The template has no other sessions during the copy,
 * so its files cannot change.  DROP DATABASE removes the directory once the
 * database is gone.  Both statements run outside transaction blocks.
 *
 * IDENTIFICATION
 *	  src/commands/utility.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "nodes/parsenodes.h"
#include "tcop/utility.h"
#include "utils/builtins.h"

#include "compact.h"
#include "format/files.h"

static ProcessUtility_hook_type prev_ProcessUtility = NULL;

static void
CallPrevious(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
			 ProcessUtilityContext context, ParamListInfo params,
			 QueryEnvironment *queryEnv, DestReceiver *dest,
			 QueryCompletion *qc)
{
	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
							queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
}

/* The template named in CREATE DATABASE's options, or template1. */
static const char *
CreatedbTemplate(CreatedbStmt *stmt)
{
	ListCell   *lc;

	foreach(lc, stmt->options)
	{
		DefElem    *def = lfirst(lc);

		if (strcmp(def->defname, "template") == 0 && def->arg != NULL)
			return defGetString(def);
	}
	return "template1";
}

static void
compact_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
					   bool readOnlyTree, ProcessUtilityContext context,
					   ParamListInfo params, QueryEnvironment *queryEnv,
					   DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;

	if (IsA(parsetree, DropdbStmt))
	{
		DropdbStmt *stmt = (DropdbStmt *) parsetree;
		Oid			dboid = get_database_oid(stmt->dbname, true);

		CallPrevious(pstmt, queryString, readOnlyTree, context, params,
					 queryEnv, dest, qc);
		if (OidIsValid(dboid) && !OidIsValid(get_database_oid(stmt->dbname, true)))
			CompactRemoveDir(CompactDatabaseDir(dboid));
		return;
	}

	if (IsA(parsetree, CreatedbStmt))
	{
		CreatedbStmt *stmt = (CreatedbStmt *) parsetree;
		Oid			template = get_database_oid(CreatedbTemplate(stmt), true);
		Oid			dboid;

		CallPrevious(pstmt, queryString, readOnlyTree, context, params,
					 queryEnv, dest, qc);
		dboid = get_database_oid(stmt->dbname, true);
		if (OidIsValid(template) && OidIsValid(dboid))
			CompactCopyDir(CompactDatabaseDir(template), CompactDatabaseDir(dboid));
		return;
	}

	CallPrevious(pstmt, queryString, readOnlyTree, context, params,
				 queryEnv, dest, qc);
}

void
CompactUtilityInit(void)
{
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = compact_ProcessUtility;
}
