/*-------------------------------------------------------------------------
 * statement.c
 *	  Parse what users write into CompactionRequests: clustering column
 *	  lists and the options of VACUUM (COMPACT ...).
 *
 * Texts are split into tokens by PostgreSQL's own lexer (core_yylex), so
 * identifiers, quoting and case folding behave as in SQL, and a syntax
 * error points at its position inside the text.
 *
 * IDENTIFICATION
 *	  src/commands/statement.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "access/relation.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "commands/defrem.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/gramparse.h"
#include "parser/parser.h"
#include "parser/scanner.h"
#include "utils/acl.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "catalog/metadata.h"
#include "commands/statement.h"
#include "compaction/compaction.h"

/* one token of a text */
typedef struct Token
{
	int			type;			/* IDENT, a keyword token, a char, 0 at end */
	char	   *text;			/* identifier or keyword, NULL otherwise */
	int			location;		/* byte offset in the text */
} Token;

/* all tokens of a text, and where the parser is */
typedef struct TokenStream
{
	const char *source;
	const char *what;			/* "ORDER_BY", ... for messages */
	Token	   *tokens;
	int			ntokens;
	int			pos;
} TokenStream;

static void
SyntaxErrorCallback(void *arg)
{
	TokenStream *ts = (TokenStream *) arg;
	int			pos = geterrposition();

	if (pos > 0)
	{
		errposition(0);
		internalerrposition(pos);
		internalerrquery(ts->source);
	}
}

/*
 * Is a token type a keyword's?  Only then is yylval.keyword set: operators
 * such as "::" leave yylval alone.
 */
static bool
IsKeywordToken(int type)
{
	for (int i = 0; i < ScanKeywords.num_keywords; i++)
		if (ScanKeywordTokens[i] == type)
			return true;
	return false;
}

static void
TokenStreamInit(TokenStream *ts, const char *source, const char *what)
{
	core_yy_extra_type extra;
	core_yyscan_t scanner;
	int			cap = 16;
	ErrorContextCallback callback;

	ts->source = source;
	ts->what = what;
	ts->tokens = palloc(sizeof(Token) * cap);
	ts->ntokens = 0;
	ts->pos = 0;

	callback.callback = SyntaxErrorCallback;
	callback.arg = ts;
	callback.previous = error_context_stack;
	error_context_stack = &callback;

	scanner = scanner_init(source, &extra, &ScanKeywords, ScanKeywordTokens);
	for (;;)
	{
		core_YYSTYPE yylval;
		YYLTYPE		yylloc;
		int			type = core_yylex(&yylval, &yylloc, scanner);
		Token	   *tok;

		if (ts->ntokens == cap)
		{
			cap *= 2;
			ts->tokens = repalloc(ts->tokens, sizeof(Token) * cap);
		}
		tok = &ts->tokens[ts->ntokens++];
		tok->type = type;
		tok->location = yylloc;
		tok->text = NULL;
		if (type == IDENT)
			tok->text = pstrdup(yylval.str);
		else if (IsKeywordToken(type))
			tok->text = pstrdup(yylval.keyword);
		if (type == 0)
			break;
	}
	scanner_finish(scanner);
	error_context_stack = callback.previous;
}

static Token *
Peek(TokenStream *ts)
{
	return &ts->tokens[ts->pos];
}

/* raise a syntax error at a token */
static void
SyntaxError(TokenStream *ts, Token *tok, const char *expected)
{
	ErrorContextCallback callback;

	callback.callback = SyntaxErrorCallback;
	callback.arg = ts;
	callback.previous = error_context_stack;
	error_context_stack = &callback;
	ereport(ERROR,
			(errcode(ERRCODE_SYNTAX_ERROR),
			 tok->type == 0 ?
			 errmsg("syntax error at end of %s \"%s\"", ts->what, ts->source) :
			 errmsg("syntax error in %s \"%s\" at or near \"%.*s\"",
					ts->what, ts->source,
					(int) Max(strcspn(ts->source + tok->location, " ,()"), 1),
					ts->source + tok->location),
			 errhint("Expected %s.", expected),
			 errposition(tok->location + 1)));
}

/* a keyword, by its lower-case text */
static bool
AcceptKeyword(TokenStream *ts, const char *keyword)
{
	Token	   *tok = Peek(ts);

	if (tok->type != IDENT && tok->text != NULL && strcmp(tok->text, keyword) == 0)
	{
		ts->pos++;
		return true;
	}
	return false;
}

static bool
AcceptChar(TokenStream *ts, char c)
{
	if (Peek(ts)->type == (int) (unsigned char) c)
	{
		ts->pos++;
		return true;
	}
	return false;
}

/* an identifier: a plain or quoted name, or a keyword used as one */
static char *
ExpectName(TokenStream *ts, const char *expected)
{
	Token	   *tok = Peek(ts);

	if (tok->text == NULL)
		SyntaxError(ts, tok, expected);
	ts->pos++;
	return tok->text;
}

/*
 * Parse "col [ASC|DESC] [NULLS FIRST|LAST], ..." (with_order) or "col, ...";
 * an optional pair of parentheses around the list is accepted.
 */
static int
ParseColumnList(TokenStream *ts, bool with_order, char ***names, bool **desc,
				int **nulls_first)
{
	int			n = 0;
	int			cap = 8;
	bool		paren = AcceptChar(ts, '(');

	*names = palloc(sizeof(char *) * cap);
	*desc = palloc(sizeof(bool) * cap);
	*nulls_first = palloc(sizeof(int) * cap);
	do
	{
		if (n == cap)
		{
			cap *= 2;
			*names = repalloc(*names, sizeof(char *) * cap);
			*desc = repalloc(*desc, sizeof(bool) * cap);
			*nulls_first = repalloc(*nulls_first, sizeof(int) * cap);
		}
		(*names)[n] = ExpectName(ts, "a column name");
		(*desc)[n] = false;
		(*nulls_first)[n] = -1;
		if (with_order)
		{
			if (AcceptKeyword(ts, "desc"))
				(*desc)[n] = true;
			else
				(void) AcceptKeyword(ts, "asc");
			if (AcceptKeyword(ts, "nulls"))
			{
				if (AcceptKeyword(ts, "first"))
					(*nulls_first)[n] = 1;
				else if (AcceptKeyword(ts, "last"))
					(*nulls_first)[n] = 0;
				else
					SyntaxError(ts, Peek(ts), "FIRST or LAST");
			}
		}
		n++;
	} while (AcceptChar(ts, ','));
	if (paren && !AcceptChar(ts, ')'))
		SyntaxError(ts, Peek(ts), "\",\" or \")\"");
	return n;
}

/* a word, keyword or not (COMPACT, Z_ORDER and HILBERT are not SQL's) */
static bool
AcceptWord(TokenStream *ts, const char *word)
{
	Token	   *tok = Peek(ts);

	if (tok->text != NULL && strcmp(tok->text, word) == 0)
	{
		ts->pos++;
		return true;
	}
	return false;
}

static void
ExpectWord(TokenStream *ts, const char *word, const char *expected)
{
	if (!AcceptWord(ts, word))
		SyntaxError(ts, Peek(ts), expected);
}

/* [schema.]table */
static RangeVar *
ExpectRelation(TokenStream *ts)
{
	char	   *first = ExpectName(ts, "a table name");

	if (AcceptChar(ts, '.'))
		return makeRangeVar(first, ExpectName(ts, "a table name"), -1);
	return makeRangeVar(NULL, first, -1);
}

/* "( ... )" with nesting; returns the text including the parentheses */
static char *
ExpectParenthesized(TokenStream *ts)
{
	Token	   *open = Peek(ts);
	int			depth = 0;

	if (!AcceptChar(ts, '('))
		SyntaxError(ts, open, "\"(\" and a list of columns");
	depth = 1;
	while (depth > 0)
	{
		Token	   *tok = Peek(ts);

		if (tok->type == 0)
			SyntaxError(ts, tok, "\")\"");
		if (tok->type == '(')
			depth++;
		else if (tok->type == ')')
			depth--;
		ts->pos++;
	}
	return pnstrdup(ts->source + open->location,
					ts->tokens[ts->pos - 1].location + 1 - open->location);
}

static void
ExpectEnd(TokenStream *ts, const char *expected)
{
	(void) AcceptChar(ts, ';');
	if (Peek(ts)->type != 0)
		SyntaxError(ts, Peek(ts), expected);
}

/*
 * Parse one statement of the original syntax:
 *
 *	 COMPACT TABLE t [ORDER BY (c [ASC|DESC] [NULLS FIRST|LAST], ...)]
 *					 [Z_ORDER BY (c, ...)] [HILBERT BY (c, ...)] [WHERE expr]
 *	 VACUUM TABLE t
 *	 OPTIMIZE TABLE t [RECOMPUTE STATISTICS]
 *	 ALTER TABLE t SET (...) | RESET (...)
 *
 * Column lists and the WHERE expression are checked later, against the
 * table, by the same code as every other form.
 */
void
StatementParse(const char *text, ParsedStatement *parsed)
{
	TokenStream ts;

	memset(parsed, 0, sizeof(ParsedStatement));
	TokenStreamInit(&ts, text, "statement");

	if (AcceptWord(&ts, "compact"))
	{
		parsed->command = "COMPACT";
		ExpectWord(&ts, "table", "TABLE");
		parsed->relation = ExpectRelation(&ts);
		for (;;)
		{
			if (AcceptWord(&ts, "order"))
			{
				ExpectWord(&ts, "by", "BY");
				if (parsed->order_by)
					SyntaxError(&ts, &ts.tokens[ts.pos - 2], "ORDER BY only once");
				parsed->order_by = ExpectParenthesized(&ts);
			}
			else if (AcceptWord(&ts, "z_order"))
			{
				ExpectWord(&ts, "by", "BY");
				if (parsed->z_order_by)
					SyntaxError(&ts, &ts.tokens[ts.pos - 2], "Z_ORDER BY only once");
				parsed->z_order_by = ExpectParenthesized(&ts);
			}
			else if (AcceptWord(&ts, "hilbert"))
			{
				ExpectWord(&ts, "by", "BY");
				if (parsed->hilbert_by)
					SyntaxError(&ts, &ts.tokens[ts.pos - 2], "HILBERT BY only once");
				parsed->hilbert_by = ExpectParenthesized(&ts);
			}
			else if (AcceptWord(&ts, "where"))
			{
				Token	   *start = Peek(&ts);
				int			end = strlen(text);

				if (start->type == 0)
					SyntaxError(&ts, start, "an expression after WHERE");
				/* the rest of the text, without a final semicolon */
				while (end > start->location &&
					   (text[end - 1] == ';' || isspace((unsigned char) text[end - 1])))
					end--;
				parsed->filter = pnstrdup(text + start->location, end - start->location);
				return;
			}
			else
				break;
		}
		ExpectEnd(&ts, "ORDER BY, Z_ORDER BY, HILBERT BY, WHERE or the end");
	}
	else if (AcceptWord(&ts, "vacuum"))
	{
		parsed->command = "VACUUM";
		ExpectWord(&ts, "table", "TABLE");
		parsed->relation = ExpectRelation(&ts);
		ExpectEnd(&ts, "the end");
	}
	else if (AcceptWord(&ts, "optimize"))
	{
		parsed->command = "OPTIMIZE";
		ExpectWord(&ts, "table", "TABLE");
		parsed->relation = ExpectRelation(&ts);
		if (AcceptWord(&ts, "recompute"))
		{
			ExpectWord(&ts, "statistics", "STATISTICS");
			parsed->recompute_statistics = true;
		}
		ExpectEnd(&ts, "RECOMPUTE STATISTICS or the end");
	}
	else if (Peek(&ts)->text && strcmp(Peek(&ts)->text, "alter") == 0)
	{
		List	   *raw = raw_parser(text, RAW_PARSE_DEFAULT);
		AlterTableStmt *stmt;
		ListCell   *lc;

		stmt = list_length(raw) == 1 ?
			(AlterTableStmt *) ((RawStmt *) linitial(raw))->stmt : NULL;
		if (stmt == NULL || !IsA(stmt, AlterTableStmt) || stmt->objtype != OBJECT_TABLE)
			ereport(ERROR,
					(errcode(ERRCODE_SYNTAX_ERROR),
					 errmsg("compact.execute runs one ALTER TABLE ... SET (...) or RESET (...)"),
					 errhint("Run other statements directly.")));
		foreach(lc, stmt->cmds)
		{
			AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);

			if (cmd->subtype != AT_SetRelOptions && cmd->subtype != AT_ResetRelOptions)
				ereport(ERROR,
						(errcode(ERRCODE_SYNTAX_ERROR),
						 errmsg("compact.execute runs one ALTER TABLE ... SET (...) or RESET (...)"),
						 errhint("Run other statements directly.")));
		}
		parsed->command = "ALTER TABLE";
		parsed->relation = stmt->relation;
		parsed->alter = pstrdup(text);
	}
	else
		SyntaxError(&ts, Peek(&ts), "COMPACT, VACUUM, OPTIMIZE or ALTER");
}

/*
 * Set a request's clustering from the text of ORDER_BY, Z_ORDER_BY or
 * HILBERT_BY.
 */
void
StatementSetClustering(CompactionRequest *request, Relation rel,
					   CompactionStrategy strategy, const char *text)
{
	TokenStream ts;
	char	  **names;
	bool	   *desc;
	int		   *nulls_first;
	int			n;
	const char *what = strategy == COMPACTION_SORT ? "ORDER_BY" :
		strategy == COMPACTION_ZORDER ? "Z_ORDER_BY" : "HILBERT_BY";

	TokenStreamInit(&ts, text, what);
	n = ParseColumnList(&ts, strategy == COMPACTION_SORT, &names, &desc,
						&nulls_first);
	if (Peek(&ts)->type != 0)
		SyntaxError(&ts, Peek(&ts), strategy == COMPACTION_SORT ?
					"\",\", ASC, DESC or NULLS" : "\",\"");
	CompactionRequestSetClustering(request, rel, strategy, n, names, desc,
								   nulls_first);
}

/*
 * The columns of a clustering option's text, unresolved: names, and for
 * ORDER BY DESC and nulls_first (-1: default).  Returns how many.
 */
int
StatementParseClustering(const char *text, CompactionStrategy strategy,
						 char ***names, bool **desc, int **nulls_first)
{
	TokenStream ts;
	int			n;

	TokenStreamInit(&ts, text, strategy == COMPACTION_SORT ? "ORDER_BY" :
					strategy == COMPACTION_ZORDER ? "Z_ORDER_BY" : "HILBERT_BY");
	n = ParseColumnList(&ts, strategy == COMPACTION_SORT, names, desc, nulls_first);
	if (Peek(&ts)->type != 0)
		SyntaxError(&ts, Peek(&ts), "the end");
	return n;
}

/*
 * The compact tables a command names: the table itself, or the leaf
 * partitions of a partitioned table that are compact tables and that the
 * filter may match.  Errors for anything else.
 */
List *
StatementTargetTables(Oid relid, const char *filter)
{
	Relation	rel = relation_open(relid, AccessShareLock);
	List	   *result = NIL;

	if (rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE)
	{
		List	   *children = find_all_inheritors(relid, AccessShareLock, NULL);
		Node	   *parsed = filter ? CompactionFilterParse(rel, filter) : NULL;
		Oid			am = get_table_am_oid("compact", false);
		ListCell   *lc;

		if (!pg_class_ownercheck(relid, GetUserId()))
			aclcheck_error(ACLCHECK_NOT_OWNER, OBJECT_TABLE, RelationGetRelationName(rel));
		foreach(lc, children)
		{
			Relation	child = relation_open(lfirst_oid(lc), AccessShareLock);

			if (child->rd_rel->relkind == RELKIND_RELATION &&
				child->rd_rel->relam == am &&
				CompactionFilterPartitionMayMatch(child, parsed, rel))
				result = lappend_oid(result, RelationGetRelid(child));
			relation_close(child, AccessShareLock);
		}
	}
	else
		result = list_make1_oid(relid);
	relation_close(rel, AccessShareLock);
	return result;
}

/* Add b's counts to a. */
void
StatementAddResult(CompactionResult *a, const CompactionResult *b)
{
	a->fragments_before += b->fragments_before;
	a->fragments_after += b->fragments_after;
	a->rows_rewritten += b->rows_rewritten;
	a->deleted_rows_removed += b->deleted_rows_removed;
	a->bytes_before += b->bytes_before;
	a->bytes_after += b->bytes_after;
	a->groups += b->groups;
	a->fragments_read += b->fragments_read;
	a->fragments_written += b->fragments_written;
	a->bytes_written += b->bytes_written;
	a->duration_ms += b->duration_ms;
}

/*
 * Fill a request for one table from options: clustering texts (NULL: none)
 * and filter.  The table is opened and checked first.
 */
void
StatementBuildRequest(CompactionRequest *request, Oid relid,
					  const char *order_by, const char *z_order_by,
					  const char *hilbert_by, const char *filter)
{
	Relation	rel = CompactionOpenTable(relid, false);

	CompactionRequestInit(request, relid);
	/* no clustering asked for: keep the table's own, if it has one */
	if (!order_by && !z_order_by && !hilbert_by)
	{
		order_by = CompactOptionValue(relid, "compact_order_by");
		z_order_by = CompactOptionValue(relid, "compact_z_order_by");
		hilbert_by = CompactOptionValue(relid, "compact_hilbert_by");
	}
	if (order_by)
		StatementSetClustering(request, rel, COMPACTION_SORT, order_by);
	if (z_order_by)
		StatementSetClustering(request, rel, COMPACTION_ZORDER, z_order_by);
	if (hilbert_by)
		StatementSetClustering(request, rel, COMPACTION_HILBERT, hilbert_by);
	if (filter)
	{
		(void) CompactionFilterParse(rel, filter);
		request->filter = pstrdup(filter);
	}
	relation_close(rel, NoLock);
}
