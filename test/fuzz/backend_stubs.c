/*-------------------------------------------------------------------------
 * backend_stubs.c
 *	  Backend functions that the objects of the execute target refer to
 *	  but that parsing never calls.
 *
 * statement.c holds, beside the parser, the functions that check a parsed
 * statement against the catalogs (StatementTargetTables,
 * StatementBuildRequest); core's makefuncs.c and nodeFuncs.c, linked for
 * the grammar, refer to the syscache.  None of these run while parsing, so
 * here they abort with their name: reaching one means the harness is
 * wrong, not the code under test.  They are declared without prototypes
 * on purpose (no PostgreSQL header is included), since only the linker
 * sees them.
 *
 * The two that the grammar does call, for a few rare statements, are
 * rebuilt in fuzz_execute.c: defGetInt32 (PARTITION ... FOR VALUES WITH
 * (MODULUS n, ...)) and NameListToString (error messages).
 *
 * IDENTIFICATION
 *	  test/fuzz/backend_stubs.c
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>

extern void fuzz_unreachable(const char *name) __attribute__((noreturn));

void
fuzz_unreachable(const char *name)
{
	fprintf(stderr, "fuzz: %s is not available in the fuzzing harness "
			"(see test/fuzz/backend_stubs.c)\n", name);
	abort();
}

#define UNREACHABLE(name) \
	extern void name(void); \
	void name(void) { fuzz_unreachable(#name); }

/* statement.c: checking a statement against the catalogs */
UNREACHABLE(CompactOptionValue)
UNREACHABLE(CompactionFilterParse)
UNREACHABLE(CompactionFilterPartitionMayMatch)
UNREACHABLE(CompactionOpenTable)
UNREACHABLE(CompactionRequestInit)
UNREACHABLE(GetUserId)
UNREACHABLE(aclcheck_error)
UNREACHABLE(find_all_inheritors)
UNREACHABLE(get_table_am_oid)
UNREACHABLE(pg_class_ownercheck)
UNREACHABLE(relation_open)
UNREACHABLE(relation_close)

/* makefuncs.c, nodeFuncs.c, copyfuncs.c, equalfuncs.c: planner and catalog paths */
UNREACHABLE(GetExtensibleNodeMethods)
UNREACHABLE(datumCopy)
UNREACHABLE(datumIsEqual)
UNREACHABLE(format_type_be)
UNREACHABLE(getTypeInputInfo)
UNREACHABLE(getTypeOutputInfo)
UNREACHABLE(get_opcode)
UNREACHABLE(get_promoted_array_type)
UNREACHABLE(get_rel_name)
UNREACHABLE(get_rel_type_id)
UNREACHABLE(get_typlenbyval)
UNREACHABLE(type_is_rowtype)
UNREACHABLE(pg_detoast_datum)
