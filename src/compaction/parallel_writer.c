/*-------------------------------------------------------------------------
 * parallel_writer.c
 *	  A compaction group's new fragments written by a parallel worker.
 *
 * A compaction does two kinds of work: reading (decoding the sources,
 * dropping deleted rows, sorting, gathering rows in their new order, and
 * the index entries of the new rows) and writing (encoding and compressing
 * the row groups, the file writes, the statistics, WAL-logging the file).
 * The backend keeps the reading and hands the encoding and the file writes
 * to one parallel worker, whose writer WAL-logs the file as it writes it
 * (FragmentWriterBeginOutput): the two processes run at the same time, as
 * the stages of a pipeline.  When
 * the worker falls behind (a row group waits in the queue while it writes
 * another), the backend encodes the next row group itself and sends its
 * pages, which the worker only appends: neither stage idles while the
 * other has work.  The files are byte for byte those the backend would
 * have written alone, since both processes run the same encoder on the
 * same row groups.
 *
 * The backend sends, over a shm_mq:
 *	 'B' begin a fragment (its id and the xid in its file name, both assigned
 *		 by the backend, which keeps the metapage and the catalog);
 *	 'R' a row group: per column the null flags, then the values (by-value
 *		 ones as Datums, by-reference ones as their bytes, each MAXALIGNed);
 *	 'W' a row group as the sort kernel's records (RowRecordFixedSize), sent
 *		 as they are: the worker turns them into columns;
 *	 'w' the same, when the records are in the shared work memory: their
 *		 offset and length there, the worker reads them in place (the
 *		 backend waits for it, ParallelWriterSync, before it reuses them);
 *	 'P' a row group the backend has encoded itself (when the worker is
 *		 behind, see BackendEncodes): its footer entry, then its pages, which
 *		 the worker appends;
 *	 'C' copy a row group of a source fragment as it is (the merge's path);
 *	 'H' help the sort kernel: decode a source for one of its passes and
 *		 answer with a message per row group (KernelSortHelp), before the
 *		 backend sends anything else;
 *	 'D' rewrite a whole source without its deleted rows into a new fragment
 *		 of its own (its id, xid, the source's path and deletion bitmap): the
 *		 worker begins, writes (FragmentWriterAddLive) and finishes it, and
 *		 answers as for 'F'.  The backend sends one for each source of the
 *		 group, numbered in order, and rewrites sources itself at the same
 *		 time: the worker claims them from the first on, the backend from the
 *		 last back (ParallelWriterClaimLive), and the worker skips a message
 *		 whose source the backend has taken;
 *	 'F' finish the fragment: the worker writes the footer, fsyncs the file,
 *		 logs its last bytes and answers with its size, row groups and
 *		 statistics;
 *	 'E' the end.
 * The backend records each fragment in the manifest when it is back in
 * serial mode (GroupOutputFinish).  An error in the worker reaches the
 * backend as a parallel worker's error and aborts the compaction; the
 * worker's unfinished file is removed by its writer, or, if the worker was
 * killed, by the next VACUUM, like every file no committed row references.
 *
 * While the worker runs, the backend is in parallel mode: it must not
 * assign a transaction id (done before) or delete catalog rows (done
 * after); it inserts index entries, which is safe because the worker
 * touches no index.  Index expressions and predicates must be parallel
 * safe for the same reason COPY's must.
 *
 * IDENTIFICATION
 *	  src/compaction/parallel_writer.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "access/parallel.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "port/atomics.h"
#include "storage/fd.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "utils/wait_event.h"
#include "catalog/index.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/shm_mq.h"
#include "storage/shm_toc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "commands/parallel_copy.h"
#include "compact.h"
#include "compaction/compaction.h"
#include "compaction/kernel.h"
#include "format/files.h"
#include "format/filewal.h"
#include "format/fragment.h"
#include "tableam/tableam.h"

int			compact_min_parallel_compaction_size_kb = 16 * 1024;

#define PW_KEY_SHARED		UINT64CONST(0xC0C0A0000000001)
#define PW_KEY_QUEUES		UINT64CONST(0xC0C0A0000000002)
#define PW_TO_WORKER_SIZE	((Size) 8 * 1024 * 1024)
#define PW_TO_LEADER_SIZE	((Size) 4 * 1024 * 1024)

typedef struct WriterShared
{
	Oid			relid;
	Oid			relnode;
	int			ncols;			/* the worker checks that it sees the same */
	Size		to_worker_size; /* the queues' sizes */
	Size		to_leader_size;
	bool		direct_io;		/* the leader's compact.direct_io */
	pg_atomic_uint64 rowgroups_done;	/* row groups the worker has written */
	pg_atomic_uint64 encoded_done;	/* of which it encoded itself */
	/*
	 * 'D' sources not yet claimed: [low 32 bits, high 32 bits).  The worker
	 * claims the first, the backend the last.
	 */
	pg_atomic_uint64 live_claims;
} WriterShared;

/* every message starts with this (8 bytes, so what follows is aligned) */
typedef struct WriterMessage
{
	int32		kind;
	int32		arg;			/* 'R', 'W', 'P': rows; 'C': row group; 'D': source */
	int64		id;				/* 'B', 'D': fragment id; 'P': footer entry bytes */
	TransactionId xid;			/* 'B', 'D': xid of the file name */
} WriterMessage;

#define PW_HEADER_SIZE	MAXALIGN(sizeof(WriterMessage))

/*
 * The backend encodes a row group itself when the worker has this many
 * row groups to encode in hand: one it is encoding and one waiting in the
 * queue.
 */
#define PW_LEADER_ENCODES_BACKLOG	2

/* how much bigger we take a row to be decoded than compressed */
#define PW_EXPANSION		16

/* the worker's answer to 'F' */
typedef struct FinishedMessage
{
	int64		row_count;
	int64		bytes;
	int32		row_groups;
	uint32		stats_len;		/* then the serialized statistics */
} FinishedMessage;

struct ParallelWriter
{
	ParallelContext *pcxt;
	WriterShared *shared;
	MemoryContext cxt;
	shm_mq_handle *to_worker;
	shm_mq_handle *to_leader;
	int			ncols;
	const FragmentColumn *cols;
	char	   *buf;			/* a row group being serialized */
	Size		bufsize;
	uint64		rowgroups_sent;
	uint64		encode_sent;	/* of which for the worker to encode */
	int64		rowgroups_encoded;	/* of which by this process */
	/* to encode row groups here ('P'), made at first use */
	FragmentWriter *encoder;
	TupleDesc	desc;
	int		   *column_of;		/* per attribute: its column, or -1 */
	Datum	  **values;			/* a row group of records as columns */
	bool	  **isnull;
	int			values_rows;	/* rows they hold */
};

PGDLLEXPORT void CompactWriterWorkerMain(dsm_segment *seg, shm_toc *toc);
static void ReadRecords(const char *p, Size len, TupleDesc desc,
						const int *column_of, int nrows, Datum **values,
						bool **isnull);

/*
 * Should this group's output go through a parallel worker?  NULL if so,
 * else why not (for DEBUG2).
 */
const char *
ParallelWriterUnusable(const CompactionRequest *request,
					   const CompactionGroup *group, const GroupIndexes *indexes)
{
	if (compact_min_parallel_compaction_size_kb < 0)
		return "compact.min_parallel_compaction_size is -1";
	if (max_parallel_maintenance_workers == 0)
		return "max_parallel_maintenance_workers is 0";
	if (request->background)
		return "a background worker compacts on its own";
	if (IsInParallelMode())
		return "already in parallel mode";
	if (group->bytes < (int64) compact_min_parallel_compaction_size_kb * 1024)
		return "the group is under compact.min_parallel_compaction_size";
	/* a row group goes in one message, which must stay well under 1 GB */
	if ((double) group->bytes / Max(group->rows, 1) * PW_EXPANSION *
		compact_row_group_size > (double) MaxAllocSize / 4)
		return "its row groups are too wide for one message";
	for (int i = 0; i < indexes->count; i++)
	{
		IndexInfo  *info = indexes->infos[i];

		if (CompactExpressionIsParallelUnsafe((Node *) info->ii_Expressions) ||
			CompactExpressionIsParallelUnsafe((Node *) info->ii_Predicate))
			return "an index expression or predicate is not parallel safe";
	}
	return NULL;
}

/*
 * Start a worker for the output of rel's compaction group (columns cols),
 * or return NULL if none could be started; the caller then writes itself.
 */
ParallelWriter *
ParallelWriterStart(Relation rel, int ncols, const FragmentColumn *cols)
{
	ParallelContext *pcxt;
	ParallelWriter *pw;
	WriterShared *shared;
	char	   *queues;
	shm_mq	   *mq;
	Size		to_worker_size = PW_TO_WORKER_SIZE;
	Size		to_leader_size = PW_TO_LEADER_SIZE;

	/* the worker's files and the manifest rows name this xid */
	(void) GetCurrentTransactionId();
	if (compact_debug_writer_queue_kb > 0)
		to_worker_size = to_leader_size =
			MAXALIGN((Size) compact_debug_writer_queue_kb * 1024);

	EnterParallelMode();
	pcxt = CreateParallelContext("compact", "CompactWriterWorkerMain", 1);
	shm_toc_estimate_chunk(&pcxt->estimator, sizeof(WriterShared));
	shm_toc_estimate_chunk(&pcxt->estimator, to_worker_size + to_leader_size);
	shm_toc_estimate_keys(&pcxt->estimator, 2);
	InitializeParallelDSM(pcxt);
	if (pcxt->seg == NULL)
	{
		/* no DSM segment: nothing to launch into */
		DestroyParallelContext(pcxt);
		ExitParallelMode();
		return NULL;
	}

	shared = shm_toc_allocate(pcxt->toc, sizeof(WriterShared));
	shared->relid = RelationGetRelid(rel);
	shared->relnode = rel->rd_node.relNode;
	shared->ncols = ncols;
	shared->to_worker_size = to_worker_size;
	shared->to_leader_size = to_leader_size;
	shared->direct_io = compact_direct_io;
	pg_atomic_init_u64(&shared->rowgroups_done, 0);
	pg_atomic_init_u64(&shared->encoded_done, 0);
	pg_atomic_init_u64(&shared->live_claims, 0);
	shm_toc_insert(pcxt->toc, PW_KEY_SHARED, shared);

	pw = palloc0(sizeof(ParallelWriter));
	pw->pcxt = pcxt;
	pw->shared = shared;
	pw->cxt = CurrentMemoryContext;
	pw->ncols = ncols;
	pw->cols = cols;
	pw->desc = RelationGetDescr(rel);
	queues = shm_toc_allocate(pcxt->toc, to_worker_size + to_leader_size);
	mq = shm_mq_create(queues, to_worker_size);
	shm_mq_set_sender(mq, MyProc);
	pw->to_worker = shm_mq_attach(mq, pcxt->seg, NULL);
	mq = shm_mq_create(queues + to_worker_size, to_leader_size);
	shm_mq_set_receiver(mq, MyProc);
	pw->to_leader = shm_mq_attach(mq, pcxt->seg, NULL);
	shm_toc_insert(pcxt->toc, PW_KEY_QUEUES, queues);

	LaunchParallelWorkers(pcxt);
	if (pcxt->nworkers_launched == 0)
	{
		DestroyParallelContext(pcxt);
		ExitParallelMode();
		pfree(pw);
		return NULL;
	}
	shm_mq_set_handle(pw->to_worker, pcxt->worker[0].bgwhandle);
	shm_mq_set_handle(pw->to_leader, pcxt->worker[0].bgwhandle);
	return pw;
}

/*
 * The worker has gone: report its error (WaitForParallelWorkersToFinish
 * rethrows it), or say that it went without one.
 */
static void
WorkerGone(ParallelWriter *pw)
{
	WaitForParallelWorkersToFinish(pw->pcxt);
	ereport(ERROR,
			(errcode(ERRCODE_INTERNAL_ERROR),
			 errmsg("parallel compaction writer exited unexpectedly")));
}

/* Send a message made of iovcnt pieces, waiting while the queue is full. */
static void
SendV(ParallelWriter *pw, shm_mq_iovec *iov, int iovcnt)
{
	for (;;)
	{
		shm_mq_result res = shm_mq_sendv(pw->to_worker, iov, iovcnt, true, true);

		if (res == SHM_MQ_SUCCESS)
			return;
		if (res == SHM_MQ_DETACHED)
			WorkerGone(pw);
		ParallelWriterWait(pw);
	}
}

static void
Send(ParallelWriter *pw, const void *data, Size len)
{
	shm_mq_iovec iov = {data, len};

	SendV(pw, &iov, 1);
}

/*
 * Wait for the worker's latch (set when it takes a message off the queue
 * or answers).
 */
void
ParallelWriterWait(ParallelWriter *pw)
{
	(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					 100, WAIT_EVENT_MQ_INTERNAL);
	ResetLatch(MyLatch);
	CHECK_FOR_INTERRUPTS();
}

void
ParallelWriterBegin(ParallelWriter *pw, int64 fragment_id, TransactionId file_xid)
{
	WriterMessage msg;

	memset(&msg, 0, sizeof(msg));
	msg.kind = 'B';
	msg.id = fragment_id;
	msg.xid = file_xid;
	Send(pw, &msg, sizeof(msg));
}

/*
 * Arrays for a row group of records turned into columns (ReadRecords):
 * *column_of maps each attribute of desc to its column (or -1), *values and
 * *isnull hold compact_row_group_size rows of each column.
 */
static void
ColumnArrays(TupleDesc desc, int ncols, const FragmentColumn *cols,
			 int **column_of, Datum ***values, bool ***isnull)
{
	*column_of = palloc(sizeof(int) * Max(desc->natts, 1));
	for (int a = 0; a < desc->natts; a++)
		(*column_of)[a] = -1;
	*values = palloc(sizeof(Datum *) * Max(ncols, 1));
	*isnull = palloc(sizeof(bool *) * Max(ncols, 1));
	for (int c = 0; c < ncols; c++)
	{
		(*column_of)[cols[c].attnum - 1] = c;
		(*values)[c] = palloc(sizeof(Datum) * compact_row_group_size);
		(*isnull)[c] = palloc(sizeof(bool) * compact_row_group_size);
	}
}

/*
 * Should this process encode the next row group instead of the worker?
 * When the worker has another row group to encode waiting besides the one
 * it is encoding, the backend would soon wait for room in the queue:
 * encoding one itself keeps both processes busy (the worker then only
 * appends it).  Row groups the backend encoded do not count: they keep
 * the worker busy only for as long as it takes to append them, and it
 * would then wait for the backend's next one.  The file is the same
 * whoever encodes a row group.
 */
static bool
BackendEncodes(ParallelWriter *pw)
{
	switch (compact_debug_leader_encodes)
	{
		case LEADER_ENCODES_ALWAYS:
			return true;
		case LEADER_ENCODES_NEVER:
			return false;
		case LEADER_ENCODES_ALTERNATE:
			return pw->rowgroups_sent % 2 == 1;
		default:
			return pw->encode_sent -
				pg_atomic_read_u64(&pw->shared->encoded_done) >=
				PW_LEADER_ENCODES_BACKLOG;
	}
}

/* Encode a row group here and send it encoded ('P'). */
static void
SendEncoded(ParallelWriter *pw, int nrows, Datum **values, bool **isnull)
{
	char		header[PW_HEADER_SIZE];
	WriterMessage *msg = (WriterMessage *) header;
	shm_mq_iovec iov[3];
	const char *meta;
	const char *pages;
	Size		metalen;
	Size		pageslen;

	if (pw->encoder == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(pw->cxt);

		pw->encoder = FragmentWriterBeginEncoder(pw->ncols, pw->cols,
												 compact_compression_level);
		MemoryContextSwitchTo(old);
	}
	FragmentWriterEncodeRowGroup(pw->encoder, nrows, values, isnull,
								 &meta, &metalen, &pages, &pageslen);
	memset(header, 0, PW_HEADER_SIZE);
	msg->kind = 'P';
	msg->arg = nrows;
	msg->id = (int64) metalen;
	iov[0].data = header;
	iov[0].len = PW_HEADER_SIZE;
	iov[1].data = meta;
	iov[1].len = metalen;
	iov[2].data = pages;
	iov[2].len = pageslen;
	SendV(pw, iov, 3);
	pw->rowgroups_sent++;
	pw->rowgroups_encoded++;
}

/* A row group, per column (values[c][r], isnull[c][r]). */
void
ParallelWriterAddRowGroup(ParallelWriter *pw, int nrows, Datum **values,
						  bool **isnull)
{
	Size		size = PW_HEADER_SIZE;
	char	   *p;
	WriterMessage *msg;

	/* flatten what is not inline (values are never toasted) */
	for (int c = 0; c < pw->ncols; c++)
	{
		if (pw->cols[c].typlen != -1)
			continue;
		for (int r = 0; r < nrows; r++)
			if (!isnull[c][r] && VARATT_IS_EXTERNAL(DatumGetPointer(values[c][r])))
				values[c][r] = PointerGetDatum(detoast_external_attr((struct varlena *) DatumGetPointer(values[c][r])));
	}
	if (BackendEncodes(pw))
	{
		SendEncoded(pw, nrows, values, isnull);
		return;
	}

	/* the size */
	for (int c = 0; c < pw->ncols; c++)
	{
		const FragmentColumn *col = &pw->cols[c];

		size += MAXALIGN(nrows);
		if (col->typbyval)
		{
			size += sizeof(Datum) * nrows;
			continue;
		}
		for (int r = 0; r < nrows; r++)
		{
			if (isnull[c][r])
				continue;
			size += MAXALIGN(datumGetSize(values[c][r], false, col->typlen));
		}
	}
	if (size > pw->bufsize)
	{
		if (pw->buf)
			pfree(pw->buf);
		pw->bufsize = Max(size, pw->bufsize * 2);
		pw->buf = MemoryContextAllocHuge(pw->cxt, pw->bufsize);
	}

	msg = (WriterMessage *) pw->buf;
	memset(msg, 0, PW_HEADER_SIZE);
	msg->kind = 'R';
	msg->arg = nrows;
	p = pw->buf + PW_HEADER_SIZE;
	for (int c = 0; c < pw->ncols; c++)
	{
		const FragmentColumn *col = &pw->cols[c];

		memcpy(p, isnull[c], nrows);
		p += MAXALIGN(nrows);
		if (col->typbyval)
		{
			memcpy(p, values[c], sizeof(Datum) * nrows);
			p += sizeof(Datum) * nrows;
			continue;
		}
		for (int r = 0; r < nrows; r++)
		{
			Size		len;

			if (isnull[c][r])
				continue;
			len = datumGetSize(values[c][r], false, col->typlen);
			memcpy(p, DatumGetPointer(values[c][r]), len);
			p += MAXALIGN(len);
		}
	}
	Assert(p == pw->buf + size);
	Send(pw, pw->buf, size);
	pw->rowgroups_sent++;
	pw->encode_sent++;
}

/*
 * A row group of rows kept as records (see RowRecordFixedSize): sent as
 * they are, the worker turns them into columns.
 */
void
ParallelWriterAddRecords(ParallelWriter *pw, int nrows, const char *records, Size len)
{
	char		header[PW_HEADER_SIZE];
	WriterMessage *msg = (WriterMessage *) header;
	shm_mq_iovec iov[2];

	if (BackendEncodes(pw))
	{
		/* as columns, as the worker would turn them */
		if (pw->values == NULL)
		{
			MemoryContext old = MemoryContextSwitchTo(pw->cxt);

			ColumnArrays(pw->desc, pw->ncols, pw->cols, &pw->column_of,
						 &pw->values, &pw->isnull);
			pw->values_rows = compact_row_group_size;
			MemoryContextSwitchTo(old);
		}
		if (nrows <= 0 || nrows > pw->values_rows)
			elog(ERROR, "invalid row group of %d rows", nrows);
		ReadRecords(records, len, pw->desc, pw->column_of, nrows,
					pw->values, pw->isnull);
		SendEncoded(pw, nrows, pw->values, pw->isnull);
		return;
	}

	memset(header, 0, PW_HEADER_SIZE);
	msg->kind = 'W';
	msg->arg = nrows;
	iov[0].data = header;
	iov[0].len = PW_HEADER_SIZE;
	iov[1].data = records;
	iov[1].len = len;
	msg->id = SharedWorkMemOffset(records, len);
	if (msg->id >= 0)
	{
		/* in the shared work memory: where they are */
		msg->kind = 'w';
		iov[1].data = (const char *) &len;
		iov[1].len = sizeof(len);
	}
	SendV(pw, iov, 2);
	pw->rowgroups_sent++;
	pw->encode_sent++;
}

/*
 * Wait until the worker has written every row group sent so far: records
 * it reads in place ('w') may then be overwritten.
 */
void
ParallelWriterSync(ParallelWriter *pw)
{
	while (pg_atomic_read_u64(&pw->shared->rowgroups_done) < pw->rowgroups_sent)
	{
		pid_t		pid;
		BgwHandleStatus status = GetBackgroundWorkerPid(pw->pcxt->worker[0].bgwhandle,
														&pid);

		if (status == BGWH_STOPPED || status == BGWH_POSTMASTER_DIED)
			WorkerGone(pw);
		ParallelWriterWait(pw);
	}
}

/* A row group of a source fragment, copied as it is. */
void
ParallelWriterCopyRowGroup(ParallelWriter *pw, FragmentReader *reader, int rowgroup)
{
	const char *path = FragmentReaderPath(reader);
	Size		len = strlen(path) + 1;
	char		buf[PW_HEADER_SIZE + MAXPGPATH];
	WriterMessage *msg = (WriterMessage *) buf;

	if (len > MAXPGPATH)
		elog(ERROR, "fragment path too long: \"%s\"", path);
	memset(msg, 0, PW_HEADER_SIZE);
	msg->kind = 'C';
	msg->arg = rowgroup;
	memcpy(buf + PW_HEADER_SIZE, path, len);
	Send(pw, buf, PW_HEADER_SIZE + len);
}

/*
 * Ask the worker to help the sort kernel ('H'): req and extra are the sort
 * kernel's, the worker hands them to KernelSortHelp.  Never waits: false
 * if the queue is full, and the caller must take the worker's answers that
 * have come (the worker may be waiting for room to send them) or wait
 * (ParallelWriterWait), then call again with the same arguments.
 */
bool
ParallelWriterRequestHelp(ParallelWriter *pw, const void *req, Size reqlen,
						  const void *extra, Size extralen)
{
	char		header[PW_HEADER_SIZE];
	WriterMessage *msg = (WriterMessage *) header;
	shm_mq_iovec iov[3];
	shm_mq_result res;

	memset(header, 0, PW_HEADER_SIZE);
	msg->kind = 'H';
	iov[0].data = header;
	iov[0].len = PW_HEADER_SIZE;
	iov[1].data = req;
	iov[1].len = reqlen;
	iov[2].data = extra;
	iov[2].len = extralen;
	res = shm_mq_sendv(pw->to_worker, iov, 3, true, true);
	if (res == SHM_MQ_DETACHED)
		WorkerGone(pw);
	return res == SHM_MQ_SUCCESS;
}

/*
 * The worker's next answer to 'H', valid until the next call; false if
 * none has come yet and !wait.
 */
bool
ParallelWriterReceiveHelp(ParallelWriter *pw, bool wait, const char **data, Size *len)
{
	for (;;)
	{
		void	   *p;
		shm_mq_result res = shm_mq_receive(pw->to_leader, len, &p, true);

		if (res == SHM_MQ_SUCCESS)
		{
			*data = p;
			return true;
		}
		if (res == SHM_MQ_DETACHED)
			WorkerGone(pw);
		if (!wait)
			return false;
		ParallelWriterWait(pw);
	}
}

/*
 * Finish the fragment; its description comes back in info (without
 * per-column statistics) and its serialized statistics in *stats.
 */
void
ParallelWriterFinish(ParallelWriter *pw, FragmentInfo *info, bytea **stats)
{
	WriterMessage msg;

	memset(&msg, 0, sizeof(msg));
	msg.kind = 'F';
	Send(pw, &msg, sizeof(msg));
	(void) ParallelWriterReceiveFinished(pw, true, info, stats);
}

/*
 * The worker's next answer to 'F' or 'D' (a fragment it finished), as for
 * ParallelWriterFinish; false if none has come yet and !wait.
 */
bool
ParallelWriterReceiveFinished(ParallelWriter *pw, bool wait, FragmentInfo *info,
							  bytea **stats)
{
	FinishedMessage done;
	Size		len;
	void	   *data;

	for (;;)
	{
		shm_mq_result res = shm_mq_receive(pw->to_leader, &len, &data, true);

		if (res == SHM_MQ_SUCCESS)
			break;
		if (res == SHM_MQ_DETACHED)
			WorkerGone(pw);
		if (!wait)
			return false;
		ParallelWriterWait(pw);
	}
	if (len < sizeof(FinishedMessage))
		elog(ERROR, "invalid message of %zu bytes from the parallel compaction writer", len);
	memcpy(&done, data, sizeof(done));
	if (len != sizeof(FinishedMessage) + done.stats_len)
		elog(ERROR, "invalid message of %zu bytes from the parallel compaction writer", len);
	memset(info, 0, sizeof(FragmentInfo));
	info->row_count = done.row_count;
	info->bytes = done.bytes;
	info->row_groups = done.row_groups;
	info->ncolumns = pw->ncols;
	*stats = NULL;
	if (done.stats_len > 0)
	{
		*stats = palloc(done.stats_len);
		memcpy(*stats, (char *) data + sizeof(FinishedMessage), done.stats_len);
	}
	return true;
}

/* The next nsources 'D' messages are sources 0 .. nsources - 1: unclaimed. */
void
ParallelWriterLiveBegin(ParallelWriter *pw, int nsources)
{
	pg_atomic_write_u64(&pw->shared->live_claims, (uint64) nsources << 32);
}

/*
 * Claim the first (the worker) or the last (the backend) of the unclaimed
 * 'D' sources: its number, or -1 when none is left.
 */
static int
ClaimLive(WriterShared *shared, bool last)
{
	uint64		claims = pg_atomic_read_u64(&shared->live_claims);

	for (;;)
	{
		uint32		first = (uint32) claims;
		uint32		end = (uint32) (claims >> 32);

		if (first >= end)
			return -1;
		if (pg_atomic_compare_exchange_u64(&shared->live_claims, &claims, last ?
										   ((uint64) (end - 1) << 32) | first :
										   ((uint64) end << 32) | (first + 1)))
			return last ? (int) end - 1 : (int) first;
	}
}

/* Claim the last unclaimed 'D' source for this process, or -1. */
int
ParallelWriterClaimLive(ParallelWriter *pw)
{
	return ClaimLive(pw->shared, true);
}

/*
 * How many 'D' sources the worker has claimed; *all: is every source
 * claimed (by either process)?
 */
int
ParallelWriterLiveClaimed(ParallelWriter *pw, bool *all)
{
	uint64		claims = pg_atomic_read_u64(&pw->shared->live_claims);

	*all = (uint32) claims >= (uint32) (claims >> 32);
	return (int) (uint32) claims;
}

/*
 * Send 'D' for source number source (see ParallelWriterLiveBegin): rewrite
 * the fragment at path, of nrows rows, without the rows set in deleted
 * (NULL: none), into a new fragment.  With nowait, false if the queue had
 * no room for all of it: the caller must call again with the same
 * arguments before sending anything else.
 */
bool
ParallelWriterSendLive(ParallelWriter *pw, int source, int64 fragment_id,
					   TransactionId file_xid, const char *path,
					   const uint8 *deleted, int64 nrows, bool nowait)
{
	char		header[PW_HEADER_SIZE];
	WriterMessage *msg = (WriterMessage *) header;
	char		pathbuf[MAXALIGN(MAXPGPATH)];
	Size		pathlen = MAXALIGN(strlen(path) + 1);
	shm_mq_iovec iov[3];
	shm_mq_result res;

	if (strlen(path) >= MAXPGPATH)
		elog(ERROR, "fragment path too long: \"%s\"", path);
	memset(header, 0, PW_HEADER_SIZE);
	msg->kind = 'D';
	msg->arg = source;
	msg->id = fragment_id;
	msg->xid = file_xid;
	memset(pathbuf, 0, pathlen);
	strcpy(pathbuf, path);
	iov[0].data = header;
	iov[0].len = PW_HEADER_SIZE;
	iov[1].data = pathbuf;
	iov[1].len = pathlen;
	iov[2].data = (const char *) deleted;
	iov[2].len = (Size) ((nrows + 7) / 8);
	if (!nowait)
	{
		SendV(pw, iov, deleted ? 3 : 2);
		return true;
	}
	res = shm_mq_sendv(pw->to_worker, iov, deleted ? 3 : 2, true, true);
	if (res == SHM_MQ_DETACHED)
		WorkerGone(pw);
	return res == SHM_MQ_SUCCESS;
}

/* Stop the worker and leave parallel mode. */
void
ParallelWriterEnd(ParallelWriter *pw)
{
	WriterMessage msg;

	memset(&msg, 0, sizeof(msg));
	msg.kind = 'E';
	Send(pw, &msg, sizeof(msg));
	elog(DEBUG2, "compact: parallel writer: this process encoded " INT64_FORMAT " of " UINT64_FORMAT " row groups",
		 pw->rowgroups_encoded, pw->rowgroups_sent);
	WaitForParallelWorkersToFinish(pw->pcxt);
	DestroyParallelContext(pw->pcxt);
	ExitParallelMode();
	if (pw->buf)
		pfree(pw->buf);
	if (pw->encoder)
		FragmentWriterAbort(pw->encoder);
	pfree(pw);
}


/* ----------------------------------------------------------------
 * the worker
 * ----------------------------------------------------------------
 */

/* A row group message as column arrays pointing into the message. */
static void
ReadRowGroup(const char *data, Size len, int ncols, const FragmentColumn *cols,
			 int nrows, Datum **values, bool **isnull)
{
	const char *p = data + PW_HEADER_SIZE;
	const char *end = data + len;

	for (int c = 0; c < ncols; c++)
	{
		const FragmentColumn *col = &cols[c];

		if (p + MAXALIGN(nrows) > end)
			elog(ERROR, "truncated row group message");
		memcpy(isnull[c], p, nrows);
		p += MAXALIGN(nrows);
		if (col->typbyval)
		{
			if (p + sizeof(Datum) * nrows > end)
				elog(ERROR, "truncated row group message");
			memcpy(values[c], p, sizeof(Datum) * nrows);
			p += sizeof(Datum) * nrows;
			continue;
		}
		for (int r = 0; r < nrows; r++)
		{
			if (isnull[c][r])
			{
				values[c][r] = (Datum) 0;
				continue;
			}
			values[c][r] = PointerGetDatum(p);
			p += MAXALIGN(datumGetSize(PointerGetDatum(p), false, col->typlen));
			if (p > end)
				elog(ERROR, "truncated row group message");
		}
	}
	if (p != end)
		elog(ERROR, "row group message of %zu bytes holds %zu", len, (Size) (p - data));
}

/*
 * nrows records (see RowRecordFixedSize) of len bytes at p, as columns:
 * the by-reference values point into the records.
 */
static void
ReadRecords(const char *p, Size len, TupleDesc desc, const int *column_of,
			int nrows, Datum **values, bool **isnull)
{
	const char *start = p;
	const char *end = p + len;
	int			natts = desc->natts;
	Size		fixed = RowRecordFixedSize(natts);

	for (int r = 0; r < nrows; r++)
	{
		const Datum *rv = (const Datum *) p;
		const bool *rn = (const bool *) (p + sizeof(Datum) * natts);

		if (p + fixed > end)
			elog(ERROR, "truncated records message");
		p += fixed;
		for (int a = 0; a < natts; a++)
		{
			Form_pg_attribute att = TupleDescAttr(desc, a);
			int			c = column_of[a];
			Datum		v = rv[a];

			if (!att->attbyval && !rn[a])
			{
				if (p + (att->attlen > 0 ? att->attlen : 1) > end)
					elog(ERROR, "truncated records message");
				v = PointerGetDatum(p);
				p += MAXALIGN(datumGetSize(PointerGetDatum(p), false, att->attlen));
				if (p > end)
					elog(ERROR, "truncated records message");
			}
			if (c >= 0)
			{
				values[c][r] = rn[a] ? (Datum) 0 : v;
				isnull[c][r] = rn[a];
			}
		}
	}
	if (p != end)
		elog(ERROR, "records of %zu bytes hold %zu", len, (Size) (p - start));
}

/*
 * Finish the worker's fragment and answer the leader with its size, row
 * groups and statistics.
 */
static void
SendFinished(shm_mq_handle *out, FragmentWriter *writer, int ncols,
			 const FragmentColumn *cols)
{
	FragmentInfo info;
	FinishedMessage done;
	bytea	   *stats;
	shm_mq_iovec iov[2];

	FragmentWriterFinish(writer, &info);
	COMPACT_FAULT_POINT("compact_fragment_finished");
	stats = FragmentStatsSerialize(ncols, cols, info.stats);
	memset(&done, 0, sizeof(done));
	done.row_count = info.row_count;
	done.bytes = info.bytes;
	done.row_groups = info.row_groups;
	done.stats_len = stats ? VARSIZE_ANY(stats) : 0;
	iov[0].data = (const char *) &done;
	iov[0].len = sizeof(done);
	iov[1].data = (const char *) stats;
	iov[1].len = done.stats_len;
	if (shm_mq_sendv(out, iov, 2, false, true) != SHM_MQ_SUCCESS)
		ereport(ERROR,
				(errcode(ERRCODE_ADMIN_SHUTDOWN),
				 errmsg("parallel compaction leader has gone away")));
}

/*
 * 'D': the source's live rows into a new fragment (id and xid in msg),
 * answered as 'F' is.
 */
static void
RewriteLive(const WriterMessage *msg, const char *data, Size len,
			Oid relnode, int ncols, const FragmentColumn *cols, bool direct_io,
			shm_mq_handle *out)
{
	const char *path = data + PW_HEADER_SIZE;
	Size		pathlen;
	const uint8 *deleted = NULL;
	Size		bitmap;
	FragmentReader *reader;
	FragmentWriter *writer;

	if (len <= PW_HEADER_SIZE || memchr(path, '\0', Min(len - PW_HEADER_SIZE, MAXPGPATH)) == NULL)
		elog(ERROR, "invalid rewrite message from the compaction leader");
	pathlen = MAXALIGN(strlen(path) + 1);
	if (PW_HEADER_SIZE + pathlen > len)
		elog(ERROR, "invalid rewrite message from the compaction leader");
	reader = FragmentReaderOpen(path);
	bitmap = len - PW_HEADER_SIZE - pathlen;
	if (bitmap > 0)
	{
		if (bitmap != (Size) ((FragmentReaderNumRows(reader) + 7) / 8))
			elog(ERROR, "deletion bitmap of %zu bytes for \"%s\" of " INT64_FORMAT " rows",
				 bitmap, path, FragmentReaderNumRows(reader));
		deleted = (const uint8 *) (path + pathlen);
	}
	writer = FragmentWriterBeginOutput(relnode, msg->id, msg->xid, ncols, cols,
									   compact_compression_level, direct_io);
	(void) FragmentWriterAddLive(writer, reader, deleted, compact_row_group_size);
	FragmentReaderClose(reader);
	SendFinished(out, writer, ncols, cols);
}

void
CompactWriterWorkerMain(dsm_segment *seg, shm_toc *toc)
{
	WriterShared *shared = shm_toc_lookup(toc, PW_KEY_SHARED, false);
	char	   *queues = shm_toc_lookup(toc, PW_KEY_QUEUES, false);
	shm_mq_handle *in;
	shm_mq_handle *out;
	shm_mq	   *mq;
	PGPROC	   *leader;
	Relation	rel;
	FragmentColumn *cols;
	int			ncols;
	int		   *column_of;		/* per attribute: its column, or -1 */
	Datum	  **values;
	bool	  **isnull;
	MemoryContext fragcxt;
	FragmentWriter *writer = NULL;
	FragmentReader *reader = NULL;
	char		reader_path[MAXPGPATH] = "";

	CompactTuneMalloc();
	mq = (shm_mq *) queues;
	shm_mq_set_receiver(mq, MyProc);
	in = shm_mq_attach(mq, seg, NULL);
	leader = shm_mq_get_sender(mq);
	mq = (shm_mq *) (queues + shared->to_worker_size);
	shm_mq_set_sender(mq, MyProc);
	out = shm_mq_attach(mq, seg, NULL);

	rel = table_open(shared->relid, AccessShareLock);
	cols = CompactFragmentColumns(RelationGetDescr(rel), RelationGetDescr(rel)->natts,
								  true, &ncols);
	if (ncols != shared->ncols || rel->rd_node.relNode != shared->relnode)
		elog(ERROR, "parallel compaction writer sees another table than its leader");
	ColumnArrays(RelationGetDescr(rel), ncols, cols, &column_of, &values, &isnull);
	fragcxt = AllocSetContextCreate(CurrentMemoryContext, "compact parallel writer",
									ALLOCSET_DEFAULT_SIZES);

	for (;;)
	{
		Size		len;
		void	   *data;
		WriterMessage msg;
		shm_mq_result res = shm_mq_receive(in, &len, &data, false);

		if (res != SHM_MQ_SUCCESS)
			ereport(ERROR,
					(errcode(ERRCODE_ADMIN_SHUTDOWN),
					 errmsg("parallel compaction leader has gone away")));
		if (len < sizeof(WriterMessage))
			elog(ERROR, "invalid message of %zu bytes from the compaction leader", len);
		memcpy(&msg, data, sizeof(msg));
		CHECK_FOR_INTERRUPTS();

		if (msg.kind == 'E')
			break;
		if (msg.kind == 'B')
		{
			MemoryContext old = MemoryContextSwitchTo(fragcxt);

			if (writer != NULL)
				elog(ERROR, "parallel compaction writer: a fragment is already open");
			writer = FragmentWriterBeginOutput(shared->relnode, msg.id, msg.xid,
											   ncols, cols, compact_compression_level,
											   shared->direct_io);
			MemoryContextSwitchTo(old);
			continue;
		}
		if (msg.kind == 'H')
		{
			KernelSortHelp(rel, (const char *) data + PW_HEADER_SIZE,
						   len - PW_HEADER_SIZE, out);
			continue;
		}
		if (msg.kind == 'D')
		{
			int			source;

			if (writer != NULL)
				elog(ERROR, "parallel compaction writer: a fragment is already open");
			source = ClaimLive(shared, false);
			if (source >= 0)
			{
				MemoryContext old = MemoryContextSwitchTo(fragcxt);

				/* messages come in source order, claims too */
				if (source != msg.arg)
					elog(ERROR, "parallel compaction writer: source %d claimed on the message of source %d",
						 source, msg.arg);
				RewriteLive(&msg, data, len, shared->relnode, ncols, cols,
							shared->direct_io, out);
				MemoryContextSwitchTo(old);
				MemoryContextReset(fragcxt);
			}
			continue;
		}
		if (writer == NULL)
			elog(ERROR, "parallel compaction writer: no fragment is open");
		if (msg.kind == 'R' || msg.kind == 'W' || msg.kind == 'w')
		{
			const char *records = (const char *) data + PW_HEADER_SIZE;
			Size		reclen = len - PW_HEADER_SIZE;

			if (msg.arg <= 0 || msg.arg > compact_row_group_size)
				elog(ERROR, "invalid row group of %d rows", msg.arg);
			if (msg.kind == 'w')
			{
				/* the records lie in the shared work memory */
				if (len != PW_HEADER_SIZE + sizeof(Size))
					elog(ERROR, "invalid records message");
				memcpy(&reclen, records, sizeof(Size));
				records = SharedWorkMemAt(msg.id, reclen);
			}
			if (msg.kind == 'R')
				ReadRowGroup(data, len, ncols, cols, msg.arg, values, isnull);
			else
				ReadRecords(records, reclen, RelationGetDescr(rel), column_of,
							msg.arg, values, isnull);
			FragmentWriterAddRowGroup(writer, msg.arg, values, isnull);
			pg_atomic_fetch_add_u64(&shared->encoded_done, 1);
			pg_atomic_fetch_add_u64(&shared->rowgroups_done, 1);
			/* the leader may wait for this (ParallelWriterSync) */
			SetLatch(&leader->procLatch);
		}
		else if (msg.kind == 'P')
		{
			const char *meta = (const char *) data + PW_HEADER_SIZE;
			uint32		rows;

			if (msg.arg <= 0 || msg.arg > compact_row_group_size ||
				msg.id < (int64) sizeof(uint32) || (uint64) msg.id > len - PW_HEADER_SIZE)
				elog(ERROR, "invalid encoded row group message");
			memcpy(&rows, meta, sizeof(uint32));
			if (rows != (uint32) msg.arg)
				elog(ERROR, "encoded row group of %u rows, message says %d", rows, msg.arg);
			FragmentWriterAddEncodedRowGroup(writer, meta, (Size) msg.id,
											 meta + msg.id,
											 len - PW_HEADER_SIZE - (Size) msg.id);
			pg_atomic_fetch_add_u64(&shared->rowgroups_done, 1);
		}
		else if (msg.kind == 'C')
		{
			const char *srcpath = (const char *) data + PW_HEADER_SIZE;

			if (len <= PW_HEADER_SIZE || len > PW_HEADER_SIZE + MAXPGPATH ||
				srcpath[len - PW_HEADER_SIZE - 1] != '\0')
				elog(ERROR, "invalid copy message from the compaction leader");
			if (reader == NULL || strcmp(reader_path, srcpath) != 0)
			{
				if (reader)
					FragmentReaderClose(reader);
				reader = FragmentReaderOpen(srcpath);
				strlcpy(reader_path, srcpath, MAXPGPATH);
			}
			if (!FragmentWriterCanCopy(writer, reader) || msg.arg < 0 ||
				msg.arg >= FragmentReaderNumRowGroups(reader))
				elog(ERROR, "cannot copy row group %d of \"%s\"", msg.arg, srcpath);
			FragmentWriterCopyRowGroup(writer, reader, msg.arg);
		}
		else if (msg.kind == 'F')
		{
			SendFinished(out, writer, ncols, cols);
			writer = NULL;
			MemoryContextReset(fragcxt);
		}
		else
			elog(ERROR, "invalid message '%c' from the compaction leader", (char) msg.kind);
	}
	if (writer != NULL)
		elog(ERROR, "parallel compaction writer: the leader ended with a fragment open");
	if (reader)
		FragmentReaderClose(reader);
	table_close(rel, AccessShareLock);
}
