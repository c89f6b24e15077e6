/*-------------------------------------------------------------------------
 * pg_stubs.c
 *	  The part of the PostgreSQL backend that the fuzz targets need,
 *	  rebuilt for a standalone libFuzzer executable.
 *
 * Memory contexts: every palloc is its own malloc, preceded by a header
 * that links it into its context and ends with the context pointer, as
 * GetMemoryChunkContext expects.  So AddressSanitizer sees every chunk
 * with its exact size (aset.c would hide overruns inside its blocks), and
 * deleting a context frees its chunks and children and runs its reset
 * callbacks in the order mcxt.c does.  Each input runs in a fresh context
 * below the top one and everything is freed after it, so LeakSanitizer
 * reports what the code under test leaked outside its contexts (a zstd
 * context whose reset callback did not run, say).  Allocation requests
 * are checked like mcxt.c checks them (MaxAllocSize, MaxAllocHugeSize);
 * a request above FUZZ_ALLOC_LIMIT_MB (default 512) raises the ERROR
 * "out of memory" that a backend raises when malloc fails, instead of
 * letting libFuzzer's malloc limit call it a crash.
 *
 * Errors: errstart/errfinish keep one report (message, detail and hint
 * formatted with the real format string and arguments, %m included);
 * ERROR and above run the error_context_stack callbacks and siglongjmp to
 * PG_exception_stack, so PG_TRY/PG_CATCH/PG_RE_THROW in the code under
 * test work as in a backend.  FATAL and PANIC abort: no input may make a
 * backend exit.  An ERROR outside any PG_TRY aborts too (the targets wrap
 * every call).
 *
 * Encoding: the server encoding is UTF8; the mbutils.c functions the core
 * scanner calls are rebuilt on common/wchar.c.  check_stack_depth allows
 * FUZZ_STACK_LIMIT_KB (default 4096) below the stack at FuzzBeginInput.
 *
 * IDENTIFICATION
 *	  test/fuzz/pg_stubs.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/memnodes.h"
#include "utils/memutils.h"

#include "fuzz_pg.h"

/* ---------------------------------------------------------------------
 * Memory contexts
 * ---------------------------------------------------------------------
 */

typedef struct FuzzChunk
{
	struct FuzzChunk *prev;
	struct FuzzChunk *next;
	size_t		size;
	MemoryContext context;		/* last: read by GetMemoryChunkContext */
} FuzzChunk;

StaticAssertDecl(sizeof(FuzzChunk) % MAXIMUM_ALIGNOF == 0,
				 "chunk header keeps the chunk aligned");

typedef struct FuzzContext
{
	MemoryContextData header;
	FuzzChunk  *chunks;
} FuzzContext;

static const MemoryContextMethods fuzz_methods;	/* never called */

MemoryContext CurrentMemoryContext = NULL;
MemoryContext TopMemoryContext = NULL;
MemoryContext ErrorContext = NULL;
static MemoryContext input_context = NULL;
static size_t alloc_limit = 0;
static char *stack_base = NULL;
static long stack_limit = 0;

static void FuzzInit(void);

static MemoryContext
NewContext(MemoryContext parent, const char *name)
{
	FuzzContext *cxt = calloc(1, sizeof(FuzzContext));

	if (cxt == NULL)
		abort();
	cxt->header.type = T_AllocSetContext;
	cxt->header.isReset = true;
	cxt->header.methods = &fuzz_methods;
	cxt->header.name = name;
	cxt->header.parent = parent;
	if (parent != NULL)
	{
		cxt->header.nextchild = parent->firstchild;
		if (parent->firstchild != NULL)
			parent->firstchild->prevchild = &cxt->header;
		parent->firstchild = &cxt->header;
	}
	return &cxt->header;
}

MemoryContext
AllocSetContextCreateInternal(MemoryContext parent, const char *name,
							  Size minContextSize, Size initBlockSize,
							  Size maxBlockSize)
{
	return NewContext(parent, name);
}

MemoryContext
GenerationContextCreate(MemoryContext parent, const char *name,
						Size minContextSize, Size initBlockSize,
						Size maxBlockSize)
{
	return NewContext(parent, name);
}

static void
CallResetCallbacks(MemoryContext context)
{
	MemoryContextCallback *cb;

	/* as mcxt.c: unlink each before calling it, in case it errors out */
	while ((cb = context->reset_cbs) != NULL)
	{
		context->reset_cbs = cb->next;
		cb->func(cb->arg);
	}
}

static void
FreeChunks(FuzzContext *cxt)
{
	FuzzChunk  *c = cxt->chunks;

	while (c != NULL)
	{
		FuzzChunk  *next = c->next;

		free(c);
		c = next;
	}
	cxt->chunks = NULL;
	cxt->header.mem_allocated = 0;
	cxt->header.isReset = true;
}

void
MemoryContextDeleteChildren(MemoryContext context)
{
	while (context->firstchild != NULL)
		MemoryContextDelete(context->firstchild);
}

void
MemoryContextReset(MemoryContext context)
{
	MemoryContextDeleteChildren(context);
	CallResetCallbacks(context);
	FreeChunks((FuzzContext *) context);
}

void
MemoryContextResetOnly(MemoryContext context)
{
	CallResetCallbacks(context);
	FreeChunks((FuzzContext *) context);
}

void
MemoryContextDelete(MemoryContext context)
{
	if (context == TopMemoryContext || context == CurrentMemoryContext)
	{
		fprintf(stderr, "fuzz: MemoryContextDelete of %s context \"%s\"\n",
				context == TopMemoryContext ? "the top" : "the current",
				context->name);
		abort();
	}
	MemoryContextDeleteChildren(context);
	CallResetCallbacks(context);
	FreeChunks((FuzzContext *) context);
	if (context->parent != NULL)
	{
		if (context->prevchild != NULL)
			context->prevchild->nextchild = context->nextchild;
		else
			context->parent->firstchild = context->nextchild;
		if (context->nextchild != NULL)
			context->nextchild->prevchild = context->prevchild;
	}
	free(context);
}

void
MemoryContextRegisterResetCallback(MemoryContext context,
								   MemoryContextCallback *cb)
{
	cb->next = context->reset_cbs;
	context->reset_cbs = cb;
	context->isReset = false;
}

void
MemoryContextSetParent(MemoryContext context, MemoryContext new_parent)
{
	if (context->parent != NULL)
	{
		if (context->prevchild != NULL)
			context->prevchild->nextchild = context->nextchild;
		else
			context->parent->firstchild = context->nextchild;
		if (context->nextchild != NULL)
			context->nextchild->prevchild = context->prevchild;
	}
	context->parent = new_parent;
	context->prevchild = NULL;
	context->nextchild = NULL;
	if (new_parent != NULL)
	{
		context->nextchild = new_parent->firstchild;
		if (new_parent->firstchild != NULL)
			new_parent->firstchild->prevchild = context;
		new_parent->firstchild = context;
	}
}

static void
CheckRequest(MemoryContext context, Size size, bool huge)
{
	if (huge ? !AllocHugeSizeIsValid(size) : !AllocSizeIsValid(size))
		elog(ERROR, "invalid memory alloc request size %zu", size);
	if (size > alloc_limit)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("Failed on request of size %zu in memory context \"%s\".",
						   size, context->name)));
}

static void *
ChunkAlloc(MemoryContext context, Size size, bool zero, bool huge)
{
	FuzzContext *cxt = (FuzzContext *) context;
	FuzzChunk  *c;

	if (context == NULL)
	{
		fprintf(stderr, "fuzz: palloc without a current memory context\n");
		abort();
	}
	CheckRequest(context, size, huge);
	c = zero ? calloc(1, sizeof(FuzzChunk) + size) :
		malloc(sizeof(FuzzChunk) + size);
	if (c == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("Failed on request of size %zu in memory context \"%s\".",
						   size, context->name)));
	c->prev = NULL;
	c->next = cxt->chunks;
	if (cxt->chunks != NULL)
		cxt->chunks->prev = c;
	cxt->chunks = c;
	c->size = size;
	c->context = context;
	context->mem_allocated += size;
	context->isReset = false;
	return c + 1;
}

static FuzzChunk *
ChunkOf(void *pointer)
{
	FuzzChunk  *c = ((FuzzChunk *) pointer) - 1;

	if (pointer == NULL || c->context == NULL ||
		c->context->methods != &fuzz_methods)
	{
		fprintf(stderr, "fuzz: pfree/repalloc of a pointer palloc did not return\n");
		abort();
	}
	return c;
}

void
pfree(void *pointer)
{
	FuzzChunk  *c = ChunkOf(pointer);
	FuzzContext *cxt = (FuzzContext *) c->context;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		cxt->chunks = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	cxt->header.mem_allocated -= c->size;
	free(c);
}

static void *
ChunkRealloc(void *pointer, Size size, bool huge)
{
	FuzzChunk  *c = ChunkOf(pointer);
	MemoryContext context = c->context;
	void	   *copy;

	CheckRequest(context, size, huge);
	/* always move, so that a stale pointer to the old chunk is caught */
	copy = ChunkAlloc(context, size, false, huge);
	memcpy(copy, pointer, Min(size, c->size));
	pfree(pointer);
	return copy;
}

void *
MemoryContextAlloc(MemoryContext context, Size size)
{
	return ChunkAlloc(context, size, false, false);
}

void *
MemoryContextAllocZero(MemoryContext context, Size size)
{
	return ChunkAlloc(context, size, true, false);
}

void *
MemoryContextAllocZeroAligned(MemoryContext context, Size size)
{
	return ChunkAlloc(context, size, true, false);
}

void *
MemoryContextAllocExtended(MemoryContext context, Size size, int flags)
{
	return ChunkAlloc(context, size, (flags & MCXT_ALLOC_ZERO) != 0,
					  (flags & MCXT_ALLOC_HUGE) != 0);
}

void *
MemoryContextAllocHuge(MemoryContext context, Size size)
{
	return ChunkAlloc(context, size, false, true);
}

void *
palloc(Size size)
{
	return ChunkAlloc(CurrentMemoryContext, size, false, false);
}

void *
palloc0(Size size)
{
	return ChunkAlloc(CurrentMemoryContext, size, true, false);
}

void *
palloc_extended(Size size, int flags)
{
	return MemoryContextAllocExtended(CurrentMemoryContext, size, flags);
}

void *
repalloc(void *pointer, Size size)
{
	return ChunkRealloc(pointer, size, false);
}

void *
repalloc_huge(void *pointer, Size size)
{
	return ChunkRealloc(pointer, size, true);
}

char *
MemoryContextStrdup(MemoryContext context, const char *string)
{
	size_t		len = strlen(string) + 1;
	char	   *copy = MemoryContextAlloc(context, len);

	memcpy(copy, string, len);
	return copy;
}

char *
pstrdup(const char *in)
{
	return MemoryContextStrdup(CurrentMemoryContext, in);
}

char *
pnstrdup(const char *in, Size len)
{
	char	   *out;

	len = strnlen(in, len);
	out = palloc(len + 1);
	memcpy(out, in, len);
	out[len] = '\0';
	return out;
}

/* ---------------------------------------------------------------------
 * Errors
 * ---------------------------------------------------------------------
 */

sigjmp_buf *PG_exception_stack = NULL;
ErrorContextCallback *error_context_stack = NULL;

typedef struct FuzzReport
{
	FuzzError	e;
	int			saved_errno;
	int			cursorpos;
	int			internalpos;
	char		hint[512];
	char		internalquery[512];
	char		context[512];
} FuzzReport;

/* a report being built; errstart in an error context callback nests */
#define MAX_REPORT_DEPTH	5
static FuzzReport reports[MAX_REPORT_DEPTH];
static int	report_depth = -1;
static FuzzError last_error;

/* per sqlstate: how many inputs ended with it, and the first message */
typedef struct ErrorTally
{
	int			sqlerrcode;
	long		count;
	char		message[160];
} ErrorTally;

#define MAX_TALLY	64
static ErrorTally tally[MAX_TALLY];
static int	ntally = 0;

static FuzzReport *
CurrentReport(void)
{
	if (report_depth < 0)
	{
		fprintf(stderr, "fuzz: error report function called outside errstart\n");
		abort();
	}
	return &reports[report_depth];
}

bool
errstart(int elevel, const char *domain)
{
	FuzzReport *r;

	if (report_depth + 1 >= MAX_REPORT_DEPTH)
	{
		fprintf(stderr, "fuzz: error reports nested too deeply\n");
		abort();
	}
	r = &reports[++report_depth];
	memset(r, 0, sizeof(*r));
	r->e.elevel = elevel;
	r->e.sqlerrcode = elevel >= ERROR ? ERRCODE_INTERNAL_ERROR :
		elevel == WARNING ? ERRCODE_WARNING : ERRCODE_SUCCESSFUL_COMPLETION;
	r->saved_errno = errno;
	/* format every message, even of reports a backend would not send */
	return true;
}

bool
errstart_cold(int elevel, const char *domain)
{
	return errstart(elevel, domain);
}

static void
SqlState(int code, char *buf)
{
	for (int i = 0; i < 5; i++)
	{
		buf[i] = PGUNSIXBIT(code);
		code >>= 6;
	}
	buf[5] = '\0';
}

void
errfinish(const char *filename, int lineno, const char *funcname)
{
	FuzzReport *r = CurrentReport();
	ErrorContextCallback *econtext;
	int			elevel = r->e.elevel;

	r->e.filename = filename;
	r->e.lineno = lineno;
	r->e.funcname = funcname;

	/* what elog.c does: let the context callbacks add to the report */
	for (econtext = error_context_stack; econtext != NULL;
		 econtext = econtext->previous)
		econtext->callback(econtext->arg);

	last_error = r->e;
	report_depth--;

	if (elevel >= FATAL)
	{
		char		state[6];

		SqlState(last_error.sqlerrcode, state);
		fprintf(stderr, "fuzz: %s [%s] %s (%s:%d)\n",
				elevel == FATAL ? "FATAL" : "PANIC", state,
				last_error.message, filename ? filename : "?", lineno);
		abort();
	}
	if (elevel >= ERROR)
	{
		if (PG_exception_stack == NULL)
		{
			fprintf(stderr, "fuzz: ERROR outside PG_TRY: %s (%s:%d)\n",
					last_error.message, filename ? filename : "?", lineno);
			abort();
		}
		/* the callbacks are unwound, as in a backend */
		report_depth = -1;
		siglongjmp(*PG_exception_stack, 1);
	}
}

void
pg_re_throw(void)
{
	if (PG_exception_stack == NULL)
	{
		fprintf(stderr, "fuzz: PG_RE_THROW outside PG_TRY: %s\n",
				last_error.message);
		abort();
	}
	siglongjmp(*PG_exception_stack, 1);
}

#define FORMAT_INTO(buf, fmt) \
	do { \
		va_list		args; \
		errno = CurrentReport()->saved_errno; \
		va_start(args, fmt); \
		vsnprintf((buf), sizeof(buf), (fmt), args); \
		va_end(args); \
	} while (0)

int
errcode(int sqlerrcode)
{
	CurrentReport()->e.sqlerrcode = sqlerrcode;
	return 0;
}

int
errcode_for_file_access(void)
{
	FuzzReport *r = CurrentReport();

	switch (r->saved_errno)
	{
		case ENOENT:
			r->e.sqlerrcode = ERRCODE_UNDEFINED_FILE;
			break;
		case EACCES:
		case EPERM:
			r->e.sqlerrcode = ERRCODE_INSUFFICIENT_PRIVILEGE;
			break;
		default:
			r->e.sqlerrcode = ERRCODE_INTERNAL_ERROR;
			break;
	}
	return 0;
}

int
errmsg(const char *fmt,...)
{
	FORMAT_INTO(CurrentReport()->e.message, fmt);
	return 0;
}

int
errmsg_internal(const char *fmt,...)
{
	FORMAT_INTO(CurrentReport()->e.message, fmt);
	return 0;
}

int
errmsg_plural(const char *fmt_singular, const char *fmt_plural,
			   unsigned long n,...)
{
	FuzzReport *r = CurrentReport();
	va_list		args;

	errno = r->saved_errno;
	va_start(args, n);
	vsnprintf(r->e.message, sizeof(r->e.message),
			  n == 1 ? fmt_singular : fmt_plural, args);
	va_end(args);
	return 0;
}

int
errdetail(const char *fmt,...)
{
	FORMAT_INTO(CurrentReport()->e.detail, fmt);
	return 0;
}

int
errdetail_internal(const char *fmt,...)
{
	FORMAT_INTO(CurrentReport()->e.detail, fmt);
	return 0;
}

int
errhint(const char *fmt,...)
{
	FORMAT_INTO(CurrentReport()->hint, fmt);
	return 0;
}

int
set_errcontext_domain(const char *domain)
{
	return 0;
}

int
errcontext_msg(const char *fmt,...)
{
	FORMAT_INTO(CurrentReport()->context, fmt);
	return 0;
}

int
errposition(int cursorpos)
{
	CurrentReport()->cursorpos = cursorpos;
	return 0;
}

int
internalerrposition(int cursorpos)
{
	CurrentReport()->internalpos = cursorpos;
	return 0;
}

int
internalerrquery(const char *query)
{
	FuzzReport *r = CurrentReport();

	r->internalquery[0] = '\0';
	if (query != NULL)
		strlcpy(r->internalquery, query, sizeof(r->internalquery));
	return 0;
}

int
geterrposition(void)
{
	return CurrentReport()->cursorpos;
}

int
getinternalerrposition(void)
{
	return CurrentReport()->internalpos;
}

int
geterrcode(void)
{
	return CurrentReport()->e.sqlerrcode;
}

/* ---------------------------------------------------------------------
 * Inputs
 * ---------------------------------------------------------------------
 */

static void
PrintTally(void)
{
	if (ntally == 0 || getenv("FUZZ_ERROR_SUMMARY") == NULL)
		return;
	fprintf(stderr, "fuzz: inputs ended by an ERROR, by SQLSTATE:\n");
	for (int i = 0; i < ntally; i++)
	{
		char		state[6];

		SqlState(tally[i].sqlerrcode, state);
		fprintf(stderr, "fuzz:   %s %8ld  e.g. %s\n", state, tally[i].count,
				tally[i].message);
	}
}

static void
FuzzInit(void)
{
	const char *s;

	TopMemoryContext = NewContext(NULL, "TopMemoryContext");
	ErrorContext = NewContext(TopMemoryContext, "ErrorContext");
	CurrentMemoryContext = TopMemoryContext;
	s = getenv("FUZZ_ALLOC_LIMIT_MB");
	alloc_limit = (size_t) (s ? atol(s) : 512) * 1024 * 1024;
	s = getenv("FUZZ_STACK_LIMIT_KB");
	stack_limit = (s ? atol(s) : 4096) * 1024L;
	atexit(PrintTally);
}

MemoryContext
FuzzBeginInput(void)
{
	char		here;

	if (TopMemoryContext == NULL)
		FuzzInit();
	stack_base = &here;
	PG_exception_stack = NULL;
	error_context_stack = NULL;
	report_depth = -1;
	memset(&last_error, 0, sizeof(last_error));
	input_context = NewContext(TopMemoryContext, "fuzz input");
	CurrentMemoryContext = input_context;
	return input_context;
}

void
FuzzEndInput(void)
{
	if (PG_exception_stack != NULL || error_context_stack != NULL)
	{
		fprintf(stderr, "fuzz: PG_exception_stack or error_context_stack not restored\n");
		abort();
	}
	CurrentMemoryContext = TopMemoryContext;
	MemoryContextDelete(input_context);
	input_context = NULL;
	if (TopMemoryContext->firstchild != ErrorContext ||
		ErrorContext->nextchild != NULL)
	{
		fprintf(stderr, "fuzz: a memory context outlived its input\n");
		abort();
	}
}

/* in a PG_CATCH: count the ERROR, as a backend would log it */
void
FuzzErrorCaught(const char *target)
{
	int			i;

	report_depth = -1;
	if (getenv("FUZZ_VERBOSE"))
	{
		char		state[6];

		SqlState(last_error.sqlerrcode, state);
		fprintf(stderr, "%s: ERROR [%s] %s%s%s\n", target, state,
				last_error.message, last_error.detail[0] ? " DETAIL: " : "",
				last_error.detail);
	}
	for (i = 0; i < ntally; i++)
	{
		if (tally[i].sqlerrcode == last_error.sqlerrcode)
			break;
	}
	if (i == ntally && ntally < MAX_TALLY)
	{
		tally[ntally].sqlerrcode = last_error.sqlerrcode;
		snprintf(tally[ntally].message, sizeof(tally[ntally].message),
				 "%s", last_error.message);
		ntally++;
	}
	if (i < ntally)
		tally[i].count++;
}

const FuzzError *
FuzzLastError(void)
{
	return &last_error;
}

/* ---------------------------------------------------------------------
 * Small backend functions
 * ---------------------------------------------------------------------
 */

void
check_stack_depth(void)
{
	char		here;
	long		depth = stack_base - &here;

	if (stack_base != NULL && (depth > stack_limit || depth < -stack_limit))
		ereport(ERROR,
				(errcode(ERRCODE_STATEMENT_TOO_COMPLEX),
				 errmsg("stack depth limit exceeded")));
}

bool
stack_is_too_deep(void)
{
	char		here;
	long		depth = stack_base - &here;

	return stack_base != NULL && (depth > stack_limit || depth < -stack_limit);
}

/* mbutils.c, for a server encoding of UTF8 */

int
GetDatabaseEncoding(void)
{
	return PG_UTF8;
}

int
pg_get_client_encoding(void)
{
	return PG_UTF8;
}

int
pg_database_encoding_max_length(void)
{
	return pg_encoding_max_length(PG_UTF8);
}

int
pg_mblen(const char *mbstr)
{
	return pg_encoding_mblen(PG_UTF8, mbstr);
}

int
pg_mbstrlen_with_len(const char *mbstr, int limit)
{
	int			len = 0;

	while (limit > 0 && *mbstr)
	{
		int			l = pg_mblen(mbstr);

		limit -= l;
		mbstr += l;
		len++;
	}
	return len;
}

int
pg_mbcliplen(const char *mbstr, int len, int limit)
{
	int			clen = 0;

	while (len > 0 && *mbstr)
	{
		int			l = pg_mblen(mbstr);

		if (clen + l > limit)
			break;
		clen += l;
		if (clen == limit)
			break;
		len -= l;
		mbstr += l;
	}
	return clen;
}

bool
pg_verifymbstr(const char *mbstr, int len, bool noError)
{
	if (pg_encoding_verifymbstr(PG_UTF8, mbstr, len) == len)
		return true;
	if (noError)
		return false;
	ereport(ERROR,
			(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
			 errmsg("invalid byte sequence for encoding \"UTF8\"")));
	return false;
}

void
pg_unicode_to_server(pg_wchar c, unsigned char *s)
{
	if (!is_valid_unicode_codepoint(c))
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("invalid Unicode code point")));
	if (c <= 0x7F)
	{
		s[0] = (unsigned char) c;
		s[1] = '\0';
		return;
	}
	unicode_to_utf8(c, s);
	s[pg_utf_mblen(s)] = '\0';
}
