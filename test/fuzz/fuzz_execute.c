/*-------------------------------------------------------------------------
 * fuzz_execute.c
 *	  libFuzzer target: the statement parser of compact.execute.
 *
 * The input is the statement text.  compact.execute gets it as a text
 * argument, so it is valid UTF8 without NUL bytes (the database encoding
 * here is UTF8); other inputs are rejected (return -1, not kept).  The
 * text goes to StatementParse (src/commands/statement.c) with the real
 * core lexer and grammar (scan.c, gram.c, parser.c of the PostgreSQL 15
 * source, linked in), then each clustering text it returned to
 * StatementSetClustering, as StatementBuildRequest would, with
 * CompactionRequestSetClustering replaced by a check of what the column
 * list parser produced (the real one resolves names against a table).
 * The WHERE text and the ALTER TABLE statement are checked against tables
 * only later, by the catalog code, which is not part of this target.
 *
 * What the parser returns is checked: a known command, a relation with a
 * name, clustering texts in parentheses, strings that can be read whole.
 *
 * core_yylex is wrapped (-Wl,--wrap=core_yylex): the lexer leaves its
 * yylval alone for the operator tokens TYPECAST, DOT_DOT, COLON_EQUALS,
 * EQUALS_GREATER, LESS_EQUALS, GREATER_EQUALS and NOT_EQUALS, so a caller
 * that reads yylval after one of them reads whatever the stack held.  The
 * wrapper sets yylval to NULL pointers before each call, which makes such a
 * read fail the same way on every run, whatever the stack held (statement.c
 * did so until a1c8b2a; seeds regress-* of the corpus are its inputs).
 *
 * IDENTIFICATION
 *	  test/fuzz/fuzz_execute.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <stdio.h>
#include <stdlib.h>

#include "commands/defrem.h"
#include "catalog/namespace.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "nodes/primnodes.h"
#include "nodes/value.h"
#include "parser/scanner.h"

#include "commands/statement.h"
#include "compaction/compaction.h"

#include "fuzz_pg.h"

extern int	LLVMFuzzerTestOneInput(const uint8 *data, size_t size);

static ParsedStatement parsed;

extern int	__real_core_yylex(core_YYSTYPE *lvalp, YYLTYPE *llocp,
							  core_yyscan_t yyscanner);
extern int	__wrap_core_yylex(core_YYSTYPE *lvalp, YYLTYPE *llocp,
							  core_yyscan_t yyscanner);

int
__wrap_core_yylex(core_YYSTYPE *lvalp, YYLTYPE *llocp, core_yyscan_t yyscanner)
{
	memset(lvalp, 0, sizeof(*lvalp));
	return __real_core_yylex(lvalp, llocp, yyscanner);
}
static volatile uint64 sink;

static void
Fail(const char *fmt, const char *text)
{
	fprintf(stderr, "fuzz: ");
	fprintf(stderr, fmt, text);
	fprintf(stderr, "\n");
	abort();
}

static void
TouchString(const char *s, const char *what)
{
	if (s == NULL)
		Fail("%s is NULL", what);
	sink += strlen(s);
}

/* what the real one gets: the parsed column list */
void
CompactionRequestSetClustering(CompactionRequest *request, Relation rel,
							   CompactionStrategy strategy, int ncolumns,
							   char **names, const bool *desc,
							   const int *nulls_first)
{
	if (ncolumns < 1)
		Fail("%s: an empty column list", "CompactionRequestSetClustering");
	for (int i = 0; i < ncolumns; i++)
	{
		TouchString(names[i], "a clustering column name");
		if (names[i][0] == '\0')
			Fail("%s: an empty column name", "CompactionRequestSetClustering");
		if ((desc[i] != false && desc[i] != true) ||
			nulls_first[i] < -1 || nulls_first[i] > 1)
			Fail("%s: bad ordering flags", "CompactionRequestSetClustering");
		if (strategy != COMPACTION_SORT && (desc[i] || nulls_first[i] != -1))
			Fail("%s: ordering flags outside ORDER BY", "CompactionRequestSetClustering");
	}
	request->strategy = strategy;
	request->nkeys = ncolumns;
}

/* commands/define.c: the grammar's PARTITION ... FOR VALUES WITH (...) */
int32
defGetInt32(DefElem *def)
{
	if (def->arg == NULL || !IsA(def->arg, Integer))
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("%s requires an integer value", def->defname)));
	return (int32) intVal(def->arg);
}

/* catalog/namespace.c: names in the grammar's error messages */
char *
NameListToString(List *names)
{
	StringInfoData string;
	ListCell   *l;

	initStringInfo(&string);
	foreach(l, names)
	{
		Node	   *name = (Node *) lfirst(l);

		if (l != list_head(names))
			appendStringInfoChar(&string, '.');
		if (IsA(name, String))
			appendStringInfoString(&string, strVal(name));
		else if (IsA(name, A_Star))
			appendStringInfoChar(&string, '*');
		else
			elog(ERROR, "unexpected node type in name list: %d",
				 (int) nodeTag(name));
	}
	return string.data;
}

static void
CheckClustering(const char *text, const char *what)
{
	size_t		len;

	if (text == NULL)
		return;
	len = strlen(text);
	if (len < 2 || text[0] != '(' || text[len - 1] != ')')
		Fail("clustering text not in parentheses: %s", text);
	(void) what;
}

static void
CheckParsed(const ParsedStatement *p)
{
	if (p->command == NULL)
		Fail("%s", "StatementParse returned no command");
	if (strcmp(p->command, "COMPACT") != 0 && strcmp(p->command, "VACUUM") != 0 &&
		strcmp(p->command, "OPTIMIZE") != 0 && strcmp(p->command, "ALTER TABLE") != 0)
		Fail("unknown command %s", p->command);
	if (p->relation == NULL)
		Fail("%s: no relation", p->command);
	TouchString(p->relation->relname, "the relation name");
	if (p->relation->schemaname)
		TouchString(p->relation->schemaname, "the schema name");
	CheckClustering(p->order_by, "ORDER BY");
	CheckClustering(p->z_order_by, "Z_ORDER BY");
	CheckClustering(p->hilbert_by, "HILBERT BY");
	if (p->filter)
		TouchString(p->filter, "the filter");
	if (p->alter)
		TouchString(p->alter, "the ALTER TABLE text");
	if ((p->alter != NULL) != (strcmp(p->command, "ALTER TABLE") == 0))
		Fail("%s: ALTER text and command disagree", p->command);
	if (strcmp(p->command, "COMPACT") != 0 &&
		(p->order_by || p->z_order_by || p->hilbert_by || p->filter))
		Fail("%s with clustering or filter", p->command);
}

static void
SetClustering(CompactionStrategy strategy, const char *text)
{
	CompactionRequest request;

	if (text == NULL)
		return;
	memset(&request, 0, sizeof(request));
	PG_TRY();
	{
		StatementSetClustering(&request, NULL, strategy, text);
	}
	PG_CATCH();
	{
		FuzzErrorCaught("execute");
	}
	PG_END_TRY();
}

int
LLVMFuzzerTestOneInput(const uint8 *data, size_t size)
{
	char	   *text;
	volatile bool ok = false;

	if (memchr(data, '\0', size) != NULL ||
		pg_encoding_verifymbstr(PG_UTF8, (const char *) data, (int) size) != (int) size)
		return -1;

	FuzzBeginInput();
	text = palloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';

	PG_TRY();
	{
		StatementParse(text, &parsed);
		ok = true;
	}
	PG_CATCH();
	{
		FuzzErrorCaught("execute");
	}
	PG_END_TRY();

	if (ok)
	{
		CheckParsed(&parsed);
		SetClustering(COMPACTION_SORT, parsed.order_by);
		SetClustering(COMPACTION_ZORDER, parsed.z_order_by);
		SetClustering(COMPACTION_HILBERT, parsed.hilbert_by);
	}
	memset(&parsed, 0, sizeof(parsed));
	FuzzEndInput();
	return 0;
}
