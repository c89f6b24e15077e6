/*-------------------------------------------------------------------------
 * parallel_copy.c
 *	  COPY FROM a server file into a compact table on several cores.
 *
 * PostgreSQL parses COPY input in one process.  For a compact table that
 * parsing (the CSV or text splitter and the types' input functions) is most
 * of a load: writing the rows, columnar and compressed, is the cheap part.
 * A COPY from a server file of at least compact.min_parallel_copy_size is
 * therefore cut at line boundaries into chunks of about equal size: the
 * leader loads the first, parallel workers (at most
 * compact.max_parallel_copy_workers) one each of the others, every process
 * through PostgreSQL's own parser (BeginCopyFrom with a data source that
 * reads the chunk's byte range, then NextCopyFrom) into its own write
 * buffer.  A chunk no worker could be started for is loaded by the leader.
 *
 * A parallel worker may write fragment files but not catalog rows, and the
 * leader, in parallel mode, must not assign the OIDs a TOASTed catalog row
 * needs.  So the fragments both flush go to a sink (WriteStateSetSink): the
 * workers send each fragment's description to the leader over a shm_mq,
 * and the leader records every fragment in the manifest, under the COPY's
 * command id, once parallel mode has ended.  Row numbers come from the
 * metapage as for any insert.  Any error raises in the leader and aborts
 * the transaction; the files written so far are named by its xid and
 * removed as any aborted write's are.
 *
 * A cut must be a line boundary whatever came before it.  In text format a
 * cut never follows a backslash, and the bytes before the last cut must
 * hold no backslash followed by a period (an end-of-data marker, perhaps).
 * In CSV, quotes are followed from the start of the file as PostgreSQL's
 * line reader follows them (FindCutsQuoted), unless there are none.
 * Error messages give the line number in the whole file, counted when
 * needed.  Everything else takes PostgreSQL's own path: COPY FROM STDIN or
 * PROGRAM, binary format, FREEZE, WHERE, temporary tables, partitions,
 * tables with unique indexes or exclusion constraints (other indexes get
 * their entries from the leader at the end), triggers, CHECK constraints,
 * stored generated columns or row-level security, columns the COPY leaves
 * out whose default is not a constant, columns the COPY reads whose input function or domain
 * CHECK is not parallel safe (and composite columns), a role that may not
 * read server files, read-only transactions, and files that cannot be cut.
 *
 * Within a chunk rows keep their file order; a sequential scan reads the
 * chunks' fragments in the order their row numbers were reserved.
 *
 * IDENTIFICATION
 *	  src/commands/parallel_copy.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>
#include <unistd.h>

#include "access/parallel.h"
#include "access/table.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_index.h"
#include "catalog/pg_proc.h"
#include "commands/copy.h"
#include "commands/copyfrom_internal.h"
#include "commands/progress.h"
#include "executor/executor.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parse_relation.h"
#include "pgstat.h"
#include "rewrite/rewriteHandler.h"
#include "rewrite/rowsecurity.h"
#include "storage/fd.h"
#include "storage/shm_mq.h"
#include "storage/shm_toc.h"
#include "utils/acl.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "commands/parallel_copy.h"
#include "compact.h"
#include "compaction/kernel.h"
#include "format/files.h"
#include "format/fragment.h"
#include "tableam/tableam.h"

#define COPY_KEY_SHARED		UINT64CONST(0xC0C7000000000001)
#define COPY_KEY_QUEUES		UINT64CONST(0xC0C7000000000002)
#define COPY_QUEUE_SIZE		(256 * 1024)
#define COPY_MAX_WORKERS	64
#define CUT_BLOCK			(1024 * 1024)
/* the leader collects worker messages every this many rows of its own */
#define DRAIN_EVERY			8192
/* while it waits for the workers, the leader reports progress this often */
#define PROGRESS_INTERVAL_MS	100

int			compact_max_parallel_copy_workers = 2;
int			compact_min_parallel_copy_size_kb = 16 * 1024;

/* what the workers need, in the DSM segment */
typedef struct CopyShared
{
	Oid			relid;
	CommandId	cid;
	bool		check_constraints;
	int			nchunks;
	int64		starts[COPY_MAX_WORKERS + 2];	/* chunk i: [starts[i], starts[i + 1]) */
	pg_atomic_uint64 worker_rows;	/* progress of the workers so far */
	pg_atomic_uint64 worker_bytes;
	char		path[MAXPGPATH];
	Size		attlist_offset; /* nodeToString(attlist) at strings + this */
	char		strings[FLEXIBLE_ARRAY_MEMBER]; /* options without HEADER, attlist */
} CopyShared;

/* a worker's messages: a fragment it wrote, and at the end its row count */
typedef struct FragmentMessage
{
	char		kind;			/* 'F' */
	TransactionId file_xid;
	int64		fragment_id;
	int64		first_row;
	int64		row_count;
	int64		bytes;
	int32		row_groups;
	uint32		stats_len;		/* then the stats, then the cids varlena */
	uint32		cids_len;
} FragmentMessage;

typedef struct RowsMessage
{
	char		kind;			/* 'R' */
	uint64		rows;
} RowsMessage;

/* the leader's state */
typedef struct CopyLeader
{
	MemoryContext cxt;			/* where the collected fragments live */
	List	   *fragments;		/* FragmentMeta *, to record at the end */
	int			nqueues;
	shm_mq_handle **queues;
	bool	   *detached;
	uint64		own_rows;
	uint64		worker_rows;
	/* pg_stat_progress_copy shows the whole COPY in the leader's row */
	CopyShared *shared;
	Oid			relid;
	int64		file_size;
	uint64		done_bytes;		/* of the leader's finished chunks */
	uint64		folded_bytes;	/* of others, added to the chunk's count */
} CopyLeader;

/* the byte range one process parses, read by the data source callback */
typedef struct ChunkReader
{
	const char *path;
	int			fd;
	int64		start;
	int64		pos;
	int64		end;
	int64		lines_before;	/* lines of the file before start; -1: not counted */
	CopyFromState cstate;
} ChunkReader;

static ChunkReader *CurrentChunk = NULL;

PGDLLEXPORT void CompactCopyWorkerMain(dsm_segment *seg, shm_toc *toc);


/* ----------------------------------------------------------------
 * finding the cuts
 * ----------------------------------------------------------------
 */

/*
 * The offset just past the first newline at or after from (in text format,
 * one no backslash precedes), or -1.
 */
static int64
NextLineStart(int fd, char *buf, int64 from, int64 size, bool csv)
{
	int64		pos = Max(from, 1);

	while (pos < size)
	{
		/* read from pos - 1: the byte before each newline is in buf */
		ssize_t		n = pg_pread(fd, buf, CUT_BLOCK, pos - 1);

		if (n <= 1)
			return -1;
		for (char *p = buf + 1; (p = memchr(p, '\n', buf + n - p)) != NULL; p++)
			if (csv || p[-1] != '\\')
				return pos - 1 + (p - buf) + 1;
		pos += n - 1;
	}
	return -1;
}

/*
 * Could bytes [0, end) of the file hide a line boundary from a reader that
 * starts at end?  Quote characters (CSV) and backslash-period pairs could.
 */
static bool
PrefixIsPlain(int fd, char *buf, int64 end, const CopyFormatOptions *opts)
{
	char		quote = opts->csv_mode ? opts->quote[0] : '\0';

	for (int64 pos = 0; pos < end;)
	{
		/* one byte more than the block: the byte after a backslash */
		ssize_t		want = Min(CUT_BLOCK, end - pos);
		ssize_t		n = pg_pread(fd, buf, want + 1, pos);

		if (n < want)
			return false;
		if (quote != '\0' && memchr(buf, quote, want) != NULL)
			return false;
		for (char *p = buf; (p = memchr(p, '\\', buf + want - p)) != NULL; p++)
			if (p + 1 < buf + n && p[1] == '.')
				return false;
		pos += want;
		CHECK_FOR_INTERRUPTS();
	}
	return true;
}

/*
 * CSV with quotes: follow them from the start of the file as PostgreSQL's
 * line reader does (CopyReadLineText: a quote toggles, an escape that is
 * not the quote character counts only inside quotes), and cut after the
 * first newline outside quotes at or past each multiple of size / nchunks.
 * A line that begins with a backslash-period (an end-of-data marker,
 * perhaps) before the last cut, or an encoding whose characters may hold
 * ASCII bytes, means no cut.  Returns how many chunks it made (1: do not cut).
 */
static int
FindCutsQuoted(int fd, char *buf, int64 size, const CopyFormatOptions *opts,
			   int nchunks, int64 *starts)
{
	char		quote = opts->quote[0];
	/* an escape that is the quote character is just a quote */
	char		escape = opts->escape[0] == quote ? '\0' : opts->escape[0];
	int			encoding = opts->file_encoding >= 0 ? opts->file_encoding :
		pg_get_client_encoding();
	bool		special[256];
	bool		in_quote = false;
	bool		last_was_esc = false;
	bool		line_start = true;
	bool		marker = false; /* the block ended in a line's first backslash */
	int			n = 1;

	if (PG_ENCODING_IS_CLIENT_ONLY(encoding))
		return 1;
	/* the bytes that change the reader's state; others are skipped */
	memset(special, 0, sizeof(special));
	special[(unsigned char) quote] = true;
	special[(unsigned char) escape] = escape != '\0';
	special['\n'] = true;
	special['\\'] = true;
	for (int64 pos = 0; pos < size && n < nchunks;)
	{
		ssize_t		len = pg_pread(fd, buf, Min(CUT_BLOCK, size - pos), pos);
		ssize_t		i = 0;

		if (len <= 0)
			return 1;
		if (marker && buf[0] == '.')
			return 1;
		marker = false;
		while (i < len && n < nchunks)
		{
			char		c = buf[i];

			if (!special[(unsigned char) c])
			{
				while (++i < len && !special[(unsigned char) buf[i]])
					;
				line_start = false;
				last_was_esc = false;
				continue;
			}
			/* CopyReadLineText's rules for quotes and escapes in CSV */
			if (in_quote && c == escape)
				last_was_esc = !last_was_esc;
			if (c == quote && !last_was_esc)
				in_quote = !in_quote;
			if (c != escape)
				last_was_esc = false;
			/* a line that starts with a backslash-period */
			if (line_start && c == '\\')
			{
				if (i + 1 == len)
					marker = true;
				else if (buf[i + 1] == '.')
					return 1;
			}
			line_start = c == '\n' && !in_quote;
			if (line_start && pos + i + 1 >= size / nchunks * n && pos + i + 1 < size)
				starts[n++] = pos + i + 1;
			i++;
		}
		pos += len;
		CHECK_FOR_INTERRUPTS();
	}
	return n;
}

/*
 * Cut the file into nchunks chunks starting at line boundaries near
 * multiples of size / nchunks; starts[nchunks] = size.  Returns how many
 * chunks it could make (1: do not cut).
 */
static int
FindCuts(const char *path, int64 size, const CopyFormatOptions *opts,
		 int nchunks, int64 *starts)
{
	int			fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	char	   *buf;
	int			n = 1;

	if (fd < 0)
		return 1;
	buf = palloc(CUT_BLOCK + 1);
	starts[0] = 0;
	for (int k = 1; k < nchunks; k++)
	{
		int64		cut = NextLineStart(fd, buf, Max(size / nchunks * k, starts[n - 1] + 1),
										size, opts->csv_mode);

		if (cut < 0 || cut >= size)
			break;
		starts[n++] = cut;
	}
	if (n > 1 && !PrefixIsPlain(fd, buf, starts[n - 1], opts))
		n = opts->csv_mode ? FindCutsQuoted(fd, buf, size, opts, nchunks, starts) : 1;
	starts[n] = size;
	pfree(buf);
	CloseTransientFile(fd);
	return n;
}

/* Newlines in bytes [0, end) of the file; 0 if it cannot be read. */
static uint64
CountLines(const char *path, int64 end)
{
	int			fd = open(path, O_RDONLY | PG_BINARY, 0);
	char	   *buf;
	uint64		lines = 0;

	if (fd < 0)
		return 0;
	buf = malloc(CUT_BLOCK);
	for (int64 pos = 0; buf != NULL && pos < end;)
	{
		ssize_t		n = pg_pread(fd, buf, Min(CUT_BLOCK, end - pos), pos);

		if (n <= 0)
			break;
		for (char *p = buf; (p = memchr(p, '\n', buf + n - p)) != NULL; p++)
			lines++;
		pos += n;
	}
	free(buf);
	close(fd);
	return lines;
}


/* ----------------------------------------------------------------
 * loading one chunk
 * ----------------------------------------------------------------
 */

/* copy_data_source_cb: at least minread bytes of the chunk unless at its end */
static int
ChunkRead(void *outbuf, int minread, int maxread)
{
	ChunkReader *r = CurrentChunk;
	int			done = 0;

	while (done < minread && r->pos < r->end)
	{
		ssize_t		n = pg_pread(r->fd, (char *) outbuf + done,
								 Min(maxread - done, r->end - r->pos), r->pos);

		if (n < 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not read from COPY file \"%s\": %m", r->path)));
		if (n == 0)
			break;
		r->pos += n;
		done += n;
	}
	return done;
}

/* PostgreSQL's COPY error context, with line numbers of the whole file */
static void
ChunkErrorCallback(void *arg)
{
	ChunkReader *r = arg;

	if (r->cstate == NULL)
		return;
	/* PostgreSQL counts every newline, quoted ones too */
	if (r->lines_before < 0)
		r->lines_before = CountLines(r->path, r->start);
	r->cstate->cur_lineno += r->lines_before;
	CopyFromErrorCallback(r->cstate);
	r->cstate->cur_lineno -= r->lines_before;
}

/*
 * Parse bytes [start, end) of the file into rows of rel.  The leader passes
 * itself (to collect worker messages and report progress as it goes), a
 * worker the shared state (to count its progress there).
 */
static bool DrainQueues(CopyLeader *leader);
static void LeaderProgress(CopyLeader *leader, CopyFromState cstate, uint64 processed);

/* a worker's progress, for the leader to report */
static void
WorkerProgress(CopyShared *shared, CopyFromState cstate, uint64 rows,
			   uint64 *reported_bytes)
{
	pg_atomic_fetch_add_u64(&shared->worker_rows, rows);
	pg_atomic_fetch_add_u64(&shared->worker_bytes,
							cstate->bytes_processed - *reported_bytes);
	*reported_bytes = cstate->bytes_processed;
}

static uint64
LoadChunk(Relation rel, CopyShared *shared, int chunk, List *options,
		  List *attlist, CopyLeader *leader)
{
	const char *path = shared->path;
	ChunkReader reader;
	EState	   *estate = CreateExecutorState();
	ResultRelInfo *rri = makeNode(ResultRelInfo);
	ExprContext *econtext = GetPerTupleExprContext(estate);
	TupleTableSlot *slot;
	ErrorContextCallback errcb;
	uint64		processed = 0;
	uint64		reported_bytes = 0;

	memset(&reader, 0, sizeof(reader));
	reader.path = path;
	reader.start = reader.pos = shared->starts[chunk];
	reader.end = shared->starts[chunk + 1];
	reader.lines_before = chunk == 0 ? 0 : -1;
	reader.fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	if (reader.fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\" for reading: %m", path)));

	CurrentChunk = &reader;
	reader.cstate = BeginCopyFrom(NULL, rel, NULL, NULL, false, ChunkRead,
								  attlist, options);
	if (leader != NULL)
		LeaderProgress(leader, reader.cstate, 0);
	else
		pgstat_progress_end_command();	/* the leader reports for us */
	InitResultRelInfo(rri, rel, 0, NULL, 0);
	slot = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsVirtual);

	errcb.callback = ChunkErrorCallback;
	errcb.arg = &reader;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;

	for (;;)
	{
		MemoryContext old;

		CHECK_FOR_INTERRUPTS();
		ResetPerTupleExprContext(estate);
		old = MemoryContextSwitchTo(GetPerTupleMemoryContext(estate));
		ExecClearTuple(slot);
		if (!NextCopyFrom(reader.cstate, econtext, slot->tts_values, slot->tts_isnull))
		{
			MemoryContextSwitchTo(old);
			break;
		}
		ExecStoreVirtualTuple(slot);
		if (shared->check_constraints)
			ExecConstraints(rri, slot, estate);
		CompactWriteRow(rel, slot, shared->cid);
		MemoryContextSwitchTo(old);

		if (++processed % DRAIN_EVERY == 0)
		{
			if (leader != NULL)
			{
				DrainQueues(leader);
				LeaderProgress(leader, reader.cstate, processed);
			}
			else
				WorkerProgress(shared, reader.cstate, DRAIN_EVERY, &reported_bytes);
		}
	}

	error_context_stack = errcb.previous;
	if (leader != NULL)
	{
		leader->own_rows += processed;
		leader->done_bytes += reader.cstate->bytes_processed - leader->folded_bytes;
		leader->folded_bytes = 0;
	}
	else
		WorkerProgress(shared, reader.cstate, processed % DRAIN_EVERY, &reported_bytes);
	EndCopyFrom(reader.cstate);
	CurrentChunk = NULL;
	ExecDropSingleTupleTableSlot(slot);
	FreeExecutorState(estate);
	CloseTransientFile(reader.fd);
	return processed;
}


/* ----------------------------------------------------------------
 * the leader
 * ----------------------------------------------------------------
 */

static FragmentMeta *
CopyMeta(MemoryContext cxt, const FragmentMeta *meta)
{
	FragmentMeta *copy = MemoryContextAllocZero(cxt, sizeof(FragmentMeta));

	copy->fragment_id = meta->fragment_id;
	copy->file_xid = meta->file_xid;
	copy->first_row = meta->first_row;
	copy->row_count = meta->row_count;
	copy->bytes = meta->bytes;
	copy->row_groups = meta->row_groups;
	if (meta->stats)
	{
		copy->stats = MemoryContextAlloc(cxt, VARSIZE_ANY(meta->stats));
		memcpy(copy->stats, meta->stats, VARSIZE_ANY(meta->stats));
	}
	if (meta->cids)
	{
		copy->cids = MemoryContextAlloc(cxt, VARSIZE_ANY(meta->cids));
		memcpy(copy->cids, meta->cids, VARSIZE_ANY(meta->cids));
	}
	return copy;
}

/* the leader's sink: keep its own fragments for the end */
static void
LeaderSink(void *arg, const FragmentMeta *meta)
{
	CopyLeader *leader = arg;
	MemoryContext old = MemoryContextSwitchTo(leader->cxt);

	leader->fragments = lappend(leader->fragments, CopyMeta(leader->cxt, meta));
	MemoryContextSwitchTo(old);
}

static void
ReceiveMessage(CopyLeader *leader, const char *data, Size len)
{
	if (len == sizeof(RowsMessage) && data[0] == 'R')
	{
		RowsMessage msg;

		memcpy(&msg, data, sizeof(msg));
		leader->worker_rows += msg.rows;
	}
	else if (len >= sizeof(FragmentMessage) && data[0] == 'F')
	{
		FragmentMessage msg;
		FragmentMeta meta;

		memcpy(&msg, data, sizeof(msg));
		if (len != sizeof(msg) + msg.stats_len + msg.cids_len)
			elog(ERROR, "malformed fragment message from a parallel COPY worker");
		memset(&meta, 0, sizeof(meta));
		meta.fragment_id = msg.fragment_id;
		meta.file_xid = msg.file_xid;
		meta.first_row = msg.first_row;
		meta.row_count = msg.row_count;
		meta.bytes = msg.bytes;
		meta.row_groups = msg.row_groups;
		meta.stats = msg.stats_len ? (bytea *) (data + sizeof(msg)) : NULL;
		meta.cids = msg.cids_len ? (bytea *) (data + sizeof(msg) + msg.stats_len) : NULL;
		/* the message is unaligned and goes away: copy it */
		LeaderSink(leader, &meta);
	}
	else
		elog(ERROR, "unexpected message from a parallel COPY worker");
}

/* Take what the workers sent so far.  Have they all gone? */
static bool
DrainQueues(CopyLeader *leader)
{
	bool		done = true;

	for (int i = 0; i < leader->nqueues; i++)
	{
		while (!leader->detached[i])
		{
			Size		len;
			void	   *data;
			shm_mq_result res = shm_mq_receive(leader->queues[i], &len, &data, true);

			if (res == SHM_MQ_WOULD_BLOCK)
			{
				done = false;
				break;
			}
			if (res == SHM_MQ_DETACHED)
			{
				leader->detached[i] = true;
				break;
			}
			ReceiveMessage(leader, data, len);
		}
	}
	return done;
}

/*
 * Report the whole COPY in the leader's pg_stat_progress_copy row: bytes
 * and rows of every process.  PostgreSQL's parser reports the bytes of the
 * chunk it reads (cstate; NULL between chunks), so the others' bytes are
 * added to that chunk's count.
 */
static void
LeaderProgress(CopyLeader *leader, CopyFromState cstate, uint64 processed)
{
	const int	index[] = {
		PROGRESS_COPY_COMMAND,
		PROGRESS_COPY_TYPE,
		PROGRESS_COPY_BYTES_TOTAL,
		PROGRESS_COPY_BYTES_PROCESSED,
		PROGRESS_COPY_TUPLES_PROCESSED
	};
	int64		values[5];
	uint64		others = leader->done_bytes +
		pg_atomic_read_u64(&leader->shared->worker_bytes);

	if (cstate != NULL)
	{
		cstate->bytes_processed += others - leader->folded_bytes;
		leader->folded_bytes = others;
		others = cstate->bytes_processed;
	}
	values[0] = PROGRESS_COPY_COMMAND_FROM;
	values[1] = PROGRESS_COPY_TYPE_FILE;
	values[2] = leader->file_size;
	values[3] = (int64) others;
	values[4] = (int64) (leader->own_rows + processed +
						 pg_atomic_read_u64(&leader->shared->worker_rows));
	pgstat_progress_update_multi_param(lengthof(index), index, values);
}

/*
 * The leader's share: the first chunk, the chunks of workers that did not
 * start, then what the workers send until they are done.
 */
static pg_noinline void
LeaderLoad(CopyLeader *leader, ParallelContext *pcxt, Relation rel,
		   const CopyStmt *stmt, List *chunk_options)
{
	WriteStateSetSink(LeaderSink, leader);
	PG_TRY();
	{
		(void) LoadChunk(rel, leader->shared, 0, stmt->options, stmt->attlist,
						 leader);
		for (int i = pcxt->nworkers_launched; i < pcxt->nworkers; i++)
			(void) LoadChunk(rel, leader->shared, i + 1, chunk_options,
							 stmt->attlist, leader);
		/* EndCopyFrom ended the progress report: the COPY goes on */
		pgstat_progress_start_command(PROGRESS_COMMAND_COPY, leader->relid);
		LeaderProgress(leader, NULL, 0);

		/* encode our last rows while the workers encode theirs */
		WriteStateFlushRelation(rel);
		while (!DrainQueues(leader))
		{
			LeaderProgress(leader, NULL, 0);
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 PROGRESS_INTERVAL_MS, WAIT_EVENT_MQ_RECEIVE);
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}
		WaitForParallelWorkersToFinish(pcxt);
		LeaderProgress(leader, NULL, 0);
	}
	PG_FINALLY();
	{
		WriteStateSetSink(NULL, NULL);
	}
	PG_END_TRY();
}

/* a function a parallel worker may not run */
static bool
FunctionIsUnsafe(Oid funcid, void *context)
{
	return func_parallel(funcid) != PROPARALLEL_SAFE;
}

static bool
ExpressionIsUnsafe(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (check_functions_in_node(node, FunctionIsUnsafe, context))
		return true;
	return expression_tree_walker(node, ExpressionIsUnsafe, context);
}

/* Does the expression call a function that is not PARALLEL SAFE? */
bool
CompactExpressionIsParallelUnsafe(Node *node)
{
	return ExpressionIsUnsafe(node, NULL);
}

/*
 * May a parallel worker read values of this type: are its input function
 * and, for a domain, its CHECK constraints parallel safe (a worker must
 * not, say, call nextval), and so for the elements of arrays and ranges?
 * Composite types take PostgreSQL's COPY.
 */
static bool
TypeInputIsParallelSafe(Oid typid)
{
	Oid			input;
	Oid			ioparam;
	Oid			element;

	check_stack_depth();
	if (get_typtype(typid) == TYPTYPE_DOMAIN)
	{
		/* lives as long as the memory context: its reset callback reads it */
		DomainConstraintRef *ref = palloc(sizeof(DomainConstraintRef));
		ListCell   *lc;

		/* the constraints of every domain down to the base type */
		InitDomainConstraintRef(typid, ref, CurrentMemoryContext, false);
		foreach(lc, ref->constraints)
		{
			DomainConstraintState *c = lfirst(lc);

			if (ExpressionIsUnsafe((Node *) c->check_expr, NULL))
				return false;
		}
		typid = getBaseType(typid);
	}
	switch (get_typtype(typid))
	{
		case TYPTYPE_COMPOSITE:
		case TYPTYPE_PSEUDO:
			return false;
		case TYPTYPE_RANGE:
			if (!TypeInputIsParallelSafe(get_range_subtype(typid)))
				return false;
			break;
		case TYPTYPE_MULTIRANGE:
			if (!TypeInputIsParallelSafe(get_multirange_range(typid)))
				return false;
			break;
		default:
			break;
	}
	element = get_element_type(typid);
	if (OidIsValid(element) && !TypeInputIsParallelSafe(element))
		return false;
	getTypeInputInfo(typid, &input, &ioparam);
	return func_parallel(input) == PROPARALLEL_SAFE;
}

/*
 * Can PostgreSQL's COPY into rel be done chunk by chunk with NextCopyFrom
 * and CompactWriteRow alone?  (CopyFrom does more only for what this
 * excludes.)  Returns NULL if so, else why not.  *check_constraints: NOT
 * NULL constraints to check.
 */
static const char *
CopyTargetIsNotPlain(Relation rel, List *attnums, bool *check_constraints)
{
	TupleDesc	desc = RelationGetDescr(rel);
	TupleConstr *constr = desc->constr;
	ListCell   *lc;

	if (rel->rd_rel->relkind != RELKIND_RELATION || rel->rd_rel->relispartition)
		return "it is a partition";
	if (rel->rd_rel->relpersistence == RELPERSISTENCE_TEMP)
		return "it is a temporary table";
	if (rel->trigdesc != NULL)
		return "it has triggers";
	if (constr != NULL && constr->num_check > 0)
		return "it has CHECK constraints";
	if (constr != NULL && constr->has_generated_stored)
		return "it has generated columns";
	foreach(lc, RelationGetIndexList(rel))
	{
		HeapTuple	tuple = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(lfirst_oid(lc)));
		bool		unique;

		if (!HeapTupleIsValid(tuple))
			elog(ERROR, "cache lookup failed for index %u", lfirst_oid(lc));
		unique = ((Form_pg_index) GETSTRUCT(tuple))->indisunique ||
			((Form_pg_index) GETSTRUCT(tuple))->indisexclusion;
		ReleaseSysCache(tuple);
		if (unique)
			return "it has a unique index or an exclusion constraint";
	}

	/* a NOT NULL failure shows the row only to who may read it all */
	*check_constraints = constr != NULL && constr->has_not_null;
	if (*check_constraints &&
		pg_class_aclcheck(RelationGetRelid(rel), GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		return "the role may not read the table";

	/* the columns the COPY reads: values a worker may read */
	foreach(lc, attnums)
		if (!TypeInputIsParallelSafe(TupleDescAttr(desc, lfirst_int(lc) - 1)->atttypid))
			return "a column's input is not parallel safe";

	/* the columns the COPY leaves out get their defaults: constants only */
	for (int i = 0; i < desc->natts; i++)
	{
		Node	   *def;

		if (TupleDescAttr(desc, i)->attisdropped || list_member_int(attnums, i + 1))
			continue;
		def = build_column_default(rel, i + 1);
		if (def != NULL && !IsA(expression_planner((Expr *) def), Const))
			return "a column left out has a default that is not a constant";
	}
	return NULL;
}

/* the options without HEADER: only the first chunk has the header line */
static List *
OptionsWithoutHeader(List *options)
{
	List	   *result = NIL;
	ListCell   *lc;

	foreach(lc, options)
		if (strcmp(lfirst_node(DefElem, lc)->defname, "header") != 0)
			result = lappend(result, lfirst(lc));
	return result;
}

/*
 * Insert the index entries of the rows the COPY wrote, fragment by
 * fragment, decoding only the columns the indexes use: the leader does it
 * once the rows are written, one process per index as in PostgreSQL's
 * COPY.  Only indexes without a uniqueness check get here (a duplicate
 * must fail at its line, as PostgreSQL's COPY reports it).
 */
static void
IndexFragments(Relation rel, List *fragments)
{
	TupleDesc	desc = RelationGetDescr(rel);
	GroupIndexes targets;
	Bitmapset  *needed = NULL;
	Datum	   *row = palloc(sizeof(Datum) * Max(desc->natts, 1));
	bool	   *rownull = palloc(sizeof(bool) * Max(desc->natts, 1));
	Datum	  **values = palloc0(sizeof(Datum *) * Max(desc->natts, 1));
	bool	  **isnull = palloc0(sizeof(bool *) * Max(desc->natts, 1));
	MemoryContext cxt;
	ListCell   *lc;

	GroupIndexesOpen(rel, &targets);
	if (targets.count == 0)
	{
		GroupIndexesClose(&targets);
		return;
	}
	for (int i = 0; i < targets.count; i++)
	{
		IndexInfo  *info = targets.infos[i];

		for (int k = 0; k < info->ii_NumIndexAttrs; k++)
			if (info->ii_IndexAttrNumbers[k] > 0)
				needed = bms_add_member(needed, info->ii_IndexAttrNumbers[k] -
										FirstLowInvalidHeapAttributeNumber);
		pull_varattnos((Node *) info->ii_Expressions, 1, &needed);
		pull_varattnos((Node *) info->ii_Predicate, 1, &needed);
	}
	/* a whole-row reference needs every column */
	if (bms_is_member(0 - FirstLowInvalidHeapAttributeNumber, needed))
		for (int a = 1; a <= desc->natts; a++)
			needed = bms_add_member(needed, a - FirstLowInvalidHeapAttributeNumber);

	cxt = AllocSetContextCreate(CurrentMemoryContext, "compact copy index entries",
								ALLOCSET_DEFAULT_SIZES);
	foreach(lc, fragments)
	{
		FragmentMeta *meta = lfirst(lc);
		FragmentReader *reader;
		int64		rownum = meta->first_row;

		reader = FragmentReaderOpen(CompactFragmentPath(MyDatabaseId, rel->rd_node.relNode,
														meta->fragment_id, meta->file_xid));
		for (int g = 0; g < FragmentReaderNumRowGroups(reader); g++)
		{
			int			n = FragmentReaderRowGroupRows(reader, g);
			MemoryContext old = MemoryContextSwitchTo(cxt);

			for (int a = 0; a < desc->natts; a++)
			{
				int			column;

				values[a] = NULL;
				if (TupleDescAttr(desc, a)->attisdropped ||
					!bms_is_member(a + 1 - FirstLowInvalidHeapAttributeNumber, needed))
					continue;
				column = FragmentReaderFindColumn(reader, a + 1);
				if (column < 0)
					elog(ERROR, "fragment " INT64_FORMAT " of COPY lacks column %d",
						 meta->fragment_id, a + 1);
				values[a] = palloc(sizeof(Datum) * n);
				isnull[a] = palloc(sizeof(bool) * n);
				FragmentReaderReadColumn(reader, g, column, values[a], isnull[a]);
			}
			MemoryContextSwitchTo(old);
			for (int r = 0; r < n; r++)
			{
				for (int a = 0; a < desc->natts; a++)
				{
					row[a] = values[a] ? values[a][r] : (Datum) 0;
					rownull[a] = values[a] ? isnull[a][r] : true;
				}
				GroupIndexesInsert(&targets, rel, rownum++, row, rownull);
			}
			MemoryContextReset(cxt);
			CHECK_FOR_INTERRUPTS();
		}
		FragmentReaderClose(reader);
	}
	MemoryContextDelete(cxt);
	GroupIndexesClose(&targets);
}

/*
 * COPY ... FROM 'file' into a compact table on several cores.  Returns
 * false, having changed nothing, where PostgreSQL's own COPY should run.
 */
bool
CompactCopyFrom(ParseState *pstate, const CopyStmt *stmt, uint64 *processed)
{
	CopyFormatOptions opts;
	Relation	rel;
	ParseNamespaceItem *nsitem;
	RangeTblEntry *rte;
	List	   *attnums;
	ListCell   *lc;
	bool		check_constraints = false;
	const char *why;
	struct stat st;
	int64		starts[COPY_MAX_WORKERS + 2];
	int			nchunks;
	int			nworkers;
	CommandId	cid;
	List	   *chunk_options;
	char	   *options_str;
	char	   *attlist_str;
	Size		shared_size;
	CopyShared *shared;
	ParallelContext *pcxt;
	char	   *queues;
	CopyLeader leader;
	uint64		rows;

	if (!stmt->is_from || stmt->filename == NULL || stmt->is_program ||
		stmt->whereClause != NULL || stmt->relation == NULL ||
		compact_max_parallel_copy_workers <= 0 ||
		XactReadOnly || IsInParallelMode() || RecoveryInProgress() ||
		!has_privs_of_role(GetUserId(), ROLE_PG_READ_SERVER_FILES))
		return false;

	if (stat(stmt->filename, &st) != 0 || !S_ISREG(st.st_mode) ||
		st.st_size < 2 * (int64) compact_min_parallel_copy_size_kb * 1024)
		return false;

	/* as DoCopy: lock, then check permissions and row-level security */
	rel = table_openrv(stmt->relation, RowExclusiveLock);
	if (rel->rd_tableam != CompactTableAmRoutine())
	{
		table_close(rel, NoLock);
		return false;
	}
	/* errors in the options and columns are PostgreSQL's own */
	memset(&opts, 0, sizeof(opts));
	ProcessCopyOptions(pstate, &opts, true, stmt->options);
	attnums = CopyGetAttnums(RelationGetDescr(rel), rel, stmt->attlist);
	why = opts.binary ? "binary format" : opts.freeze ? "FREEZE" :
		CopyTargetIsNotPlain(rel, attnums, &check_constraints);
	if (why != NULL)
	{
		elog(DEBUG1, "compact: COPY into \"%s\" is not parallel: %s",
			 RelationGetRelationName(rel), why);
		table_close(rel, NoLock);
		return false;
	}
	nsitem = addRangeTableEntryForRelation(pstate, rel, RowExclusiveLock,
										   NULL, false, false);
	rte = nsitem->p_rte;
	rte->requiredPerms = ACL_INSERT;
	foreach(lc, attnums)
		rte->insertedCols = bms_add_member(rte->insertedCols,
										   lfirst_int(lc) - FirstLowInvalidHeapAttributeNumber);
	ExecCheckRTPerms(pstate->p_rtable, true);
	if (check_enable_rls(RelationGetRelid(rel), InvalidOid, false) == RLS_ENABLED)
	{
		elog(DEBUG1, "compact: COPY into \"%s\" is not parallel: row-level security",
			 RelationGetRelationName(rel));
		table_close(rel, NoLock);
		return false;
	}

	nworkers = Min(compact_max_parallel_copy_workers, COPY_MAX_WORKERS);
	nworkers = Min(nworkers, st.st_size / ((int64) compact_min_parallel_copy_size_kb * 1024) - 1);
	nchunks = FindCuts(stmt->filename, st.st_size, &opts, nworkers + 1, starts);
	if (nchunks < 2)
	{
		elog(DEBUG1, "compact: COPY into \"%s\" is not parallel: the file cannot be cut safely",
			 RelationGetRelationName(rel));
		table_close(rel, NoLock);
		return false;
	}
	nworkers = nchunks - 1;

	/*
	 * Rows this transaction buffered before the COPY go to the catalog now:
	 * the fragments the sink receives must hold the COPY's rows alone (they
	 * get index entries at the end).
	 */
	WriteStateFlushRelation(rel);

	/* what the workers share with us: our xids and command id */
	(void) GetCurrentTransactionId();
	cid = GetCurrentCommandId(true);

	chunk_options = OptionsWithoutHeader(stmt->options);
	options_str = nodeToString(chunk_options);
	attlist_str = nodeToString(stmt->attlist);
	shared_size = add_size(offsetof(CopyShared, strings),
						   strlen(options_str) + strlen(attlist_str) + 2);

	EnterParallelMode();
	pcxt = CreateParallelContext("compact", "CompactCopyWorkerMain", nworkers);
	shm_toc_estimate_chunk(&pcxt->estimator, shared_size);
	shm_toc_estimate_chunk(&pcxt->estimator, mul_size(COPY_QUEUE_SIZE, nworkers));
	shm_toc_estimate_keys(&pcxt->estimator, 2);
	InitializeParallelDSM(pcxt);

	shared = shm_toc_allocate(pcxt->toc, shared_size);
	shared->relid = RelationGetRelid(rel);
	shared->cid = cid;
	shared->check_constraints = check_constraints;
	shared->nchunks = nchunks;
	pg_atomic_init_u64(&shared->worker_rows, 0);
	pg_atomic_init_u64(&shared->worker_bytes, 0);
	memcpy(shared->starts, starts, sizeof(int64) * (nchunks + 1));
	strlcpy(shared->path, stmt->filename, MAXPGPATH);
	strcpy(shared->strings, options_str);
	shared->attlist_offset = strlen(options_str) + 1;
	strcpy(shared->strings + shared->attlist_offset, attlist_str);
	shm_toc_insert(pcxt->toc, COPY_KEY_SHARED, shared);

	memset(&leader, 0, sizeof(leader));
	leader.cxt = CurrentMemoryContext;
	leader.shared = shared;
	leader.relid = RelationGetRelid(rel);
	leader.file_size = st.st_size;
	leader.queues = palloc0(sizeof(shm_mq_handle *) * nworkers);
	leader.detached = palloc0(sizeof(bool) * nworkers);
	queues = shm_toc_allocate(pcxt->toc, mul_size(COPY_QUEUE_SIZE, nworkers));
	for (int i = 0; i < nworkers; i++)
	{
		shm_mq	   *mq = shm_mq_create(queues + (Size) i * COPY_QUEUE_SIZE, COPY_QUEUE_SIZE);

		shm_mq_set_receiver(mq, MyProc);
		leader.queues[i] = shm_mq_attach(mq, pcxt->seg, NULL);
	}
	shm_toc_insert(pcxt->toc, COPY_KEY_QUEUES, queues);

	LaunchParallelWorkers(pcxt);
	elog(DEBUG1, "compact: parallel COPY into \"%s\": %d shares, %d workers",
		 RelationGetRelationName(rel), nchunks, pcxt->nworkers_launched);
	leader.nqueues = pcxt->nworkers_launched;
	for (int i = 0; i < leader.nqueues; i++)
		shm_mq_set_handle(leader.queues[i], pcxt->worker[i].bgwhandle);

	LeaderLoad(&leader, pcxt, rel, stmt, chunk_options);
	DestroyParallelContext(pcxt);
	ExitParallelMode();

	foreach(lc, leader.fragments)
		WriteStateRecordFragment(rel, lfirst(lc), cid);
	IndexFragments(rel, leader.fragments);
	COMPACT_FAULT_POINT("copy_fragments_recorded");

	rows = leader.own_rows + leader.worker_rows;
	pgstat_progress_end_command();
	pgstat_count_heap_insert(rel, rows);
	table_close(rel, NoLock);
	*processed = rows;
	return true;
}


/* ----------------------------------------------------------------
 * the workers
 * ----------------------------------------------------------------
 */

/* a worker's sink: describe the fragment to the leader */
static void
WorkerSink(void *arg, const FragmentMeta *meta)
{
	shm_mq_handle *mqh = arg;
	FragmentMessage msg;
	shm_mq_iovec iov[3];

	memset(&msg, 0, sizeof(msg));
	msg.kind = 'F';
	msg.file_xid = meta->file_xid;
	msg.fragment_id = meta->fragment_id;
	msg.first_row = meta->first_row;
	msg.row_count = meta->row_count;
	msg.bytes = meta->bytes;
	msg.row_groups = meta->row_groups;
	msg.stats_len = meta->stats ? VARSIZE_ANY(meta->stats) : 0;
	msg.cids_len = meta->cids ? VARSIZE_ANY(meta->cids) : 0;
	iov[0].data = (const char *) &msg;
	iov[0].len = sizeof(msg);
	iov[1].data = (const char *) meta->stats;
	iov[1].len = msg.stats_len;
	iov[2].data = (const char *) meta->cids;
	iov[2].len = msg.cids_len;
	if (shm_mq_sendv(mqh, iov, 3, false, true) != SHM_MQ_SUCCESS)
		ereport(ERROR,
				(errcode(ERRCODE_ADMIN_SHUTDOWN),
				 errmsg("parallel COPY leader has gone away")));
	COMPACT_FAULT_POINT("copy_worker_fragment_sent");
}

void
CompactCopyWorkerMain(dsm_segment *seg, shm_toc *toc)
{
	CopyShared *shared = shm_toc_lookup(toc, COPY_KEY_SHARED, false);
	char	   *queues = shm_toc_lookup(toc, COPY_KEY_QUEUES, false);
	int			chunk = ParallelWorkerNumber + 1;
	shm_mq	   *mq = (shm_mq *) (queues + (Size) ParallelWorkerNumber * COPY_QUEUE_SIZE);
	shm_mq_handle *mqh;
	Relation	rel;
	RowsMessage msg;

	shm_mq_set_sender(mq, MyProc);
	mqh = shm_mq_attach(mq, seg, NULL);
	rel = table_open(shared->relid, RowExclusiveLock);

	WriteStateSetSink(WorkerSink, mqh);
	memset(&msg, 0, sizeof(msg));
	msg.kind = 'R';
	msg.rows = LoadChunk(rel, shared, chunk, stringToNode(shared->strings),
						 stringToNode(shared->strings + shared->attlist_offset),
						 NULL);
	WriteStateFlushRelation(rel);
	WriteStateSetSink(NULL, NULL);
	if (shm_mq_send(mqh, sizeof(msg), &msg, false, true) != SHM_MQ_SUCCESS)
		ereport(ERROR,
				(errcode(ERRCODE_ADMIN_SHUTDOWN),
				 errmsg("parallel COPY leader has gone away")));
	table_close(rel, RowExclusiveLock);
}
