/*-------------------------------------------------------------------------
 * filewal.c
 *	  The "compact" WAL resource manager: fragment files, row maps and
 *	  their directories in WAL, so that crash recovery, streaming standbys
 *	  and point-in-time recovery rebuild pg_compact/ as they rebuild base/.
 *
 * Records name files by ids (database, relfilenode, kind, fragment id,
 * xid), never by catalog lookups, since redo runs without a catalog:
 *	 FILE	 a chunk (at most 1 MB) of a finished file's bytes;
 *	 UNLINK  a file removed by VACUUM, with the horizon below which hot
 *			 standby queries could still read it (recovery conflict);
 *	 MKDIR	 a table's directory created;
 *	 RMDIR	 a table's (or a database's) directory removed;
 *	 COPYDIR a database's directory copied (CREATE DATABASE ... TEMPLATE).
 *
 * Order of writes.  A file is WAL-logged after it is complete and fsynced,
 * and before the catalog row that references it commits (the commit record
 * flushes the chunks).  So a checkpoint can never separate a file from its
 * records: if the checkpoint's redo pointer precedes the records, replay
 * rewrites the file; if it follows them, the file was durable before the
 * checkpoint began.  (This is the same guarantee as the delayed-checkpoint
 * recipe for WAL-before-data writes, without holding up checkpoints.)  A
 * crash after the fsync but before the records reach disk leaves a file that
 * no committed row references, which VACUUM removes.
 *
 * A fragment that a compaction writes is logged while it is written, by
 * its writer, from memory: each block as it goes to the file (chunks whose
 * total is PG_UINT64_MAX: more follows), and its last bytes, with the size,
 * after the fsync.  Nothing reads the file back, so the file can bypass the
 * page cache (compact.direct_io).  This keeps the guarantee: a checkpoint
 * whose redo pointer follows some early chunks may complete before the
 * fsync, but the fsync still precedes the commit, so a crash after the
 * commit finds those bytes durable, and a crash before it leaves an orphan.
 *
 * Redo is idempotent: it creates missing directories, writes the chunk at
 * its offset (over whatever is there), truncates at the last chunk, and
 * fsyncs the file (and, for a new file, its directory) before returning,
 * because restartpoints know nothing about these files.  Replaying twice,
 * or over an intact file, rewrites the same bytes.
 *
 * With wal_level = minimal nothing is logged: there is no standby or
 * archive to feed, and every file is fsynced before its commit anyway.
 *
 * IDENTIFICATION
 *	  src/format/filewal.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>
#include <unistd.h>

#include "access/xlog.h"
#include "access/xlog_internal.h"
#include "access/xloginsert.h"
#include "access/xlogreader.h"
#include "access/xlogutils.h"
#include "catalog/pg_tablespace_d.h"
#include "common/file_perm.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "storage/standby.h"

#include "format/files.h"
#include "format/filewal.h"

#define XLOG_COMPACT_FILE		0x00
#define XLOG_COMPACT_UNLINK		0x10
#define XLOG_COMPACT_MKDIR		0x20
#define XLOG_COMPACT_RMDIR		0x30
#define XLOG_COMPACT_COPYDIR	0x40

#define WAL_CHUNK_SIZE			COMPACT_WAL_CHUNK_BYTES

typedef struct xl_compact_file
{
	Oid			dboid;
	Oid			relfilenode;
	int32		kind;
	TransactionId xid;
	int64		id;
	uint64		offset;
	uint64		total;			/* size of the whole file */
	uint32		length;			/* bytes following this header */
} xl_compact_file;

typedef struct xl_compact_unlink
{
	Oid			dboid;
	Oid			relfilenode;
	int32		kind;
	TransactionId xid;
	int64		id;
	TransactionId conflict_xid; /* or InvalidTransactionId */
} xl_compact_unlink;

typedef struct xl_compact_dir
{
	Oid			dboid;
	Oid			relfilenode;	/* InvalidOid: the database's directory */
	Oid			from_dboid;		/* COPYDIR only */
} xl_compact_dir;

static char *
FilePath(Oid dboid, Oid relfilenode, int kind, int64 id, TransactionId xid)
{
	return kind == COMPACT_FILE_ROWMAP ?
		CompactRowMapPath(dboid, relfilenode, id, xid) :
		CompactFragmentPath(dboid, relfilenode, id, xid);
}

/* ----------------------------------------------------------------
 * logging
 * ----------------------------------------------------------------
 */

/*
 * Log len bytes of a file that start at offset, from memory (data), in
 * chunks.  total is the size of the whole file if these are its last bytes,
 * so that redo cuts the file there; PG_UINT64_MAX if more will follow.
 */
void
CompactWalLogBytes(Oid dboid, Oid relfilenode, int kind, int64 id,
				   TransactionId xid, const char *data, uint64 len,
				   uint64 offset, uint64 total)
{
	uint64		done = 0;

	if (!XLogIsNeeded())
		return;
	do
	{
		xl_compact_file rec;
		uint32		n = (uint32) Min((uint64) WAL_CHUNK_SIZE, len - done);
		XLogRecPtr	lsn;

		memset(&rec, 0, sizeof(rec));
		rec.dboid = dboid;
		rec.relfilenode = relfilenode;
		rec.kind = kind;
		rec.xid = xid;
		rec.id = id;
		rec.offset = offset + done;
		rec.total = total;
		rec.length = n;
		XLogBeginInsert();
		XLogRegisterData((char *) &rec, sizeof(rec));
		if (n > 0)
			XLogRegisterData(unconstify(char *, data + done), n);
		lsn = XLogInsert(COMPACT_RMGR_ID, XLOG_COMPACT_FILE);
		done += n;

		/*
		 * Have the WAL writer write and flush this in the background, as it
		 * does for an asynchronous commit: the commit that makes the file
		 * visible then has little WAL left to wait for.
		 */
		XLogSetAsyncXactLSN(lsn);
	} while (done < len);
}

/*
 * Log bytes [from, to) of a file, read back from fd, in chunks (total as
 * for CompactWalLogBytes).
 */
static void
LogFileRange(Oid dboid, Oid relfilenode, int kind, int64 id,
			 TransactionId xid, int fd, const char *path,
			 uint64 from, uint64 to, uint64 total)
{
	char	   *buf = palloc(WAL_CHUNK_SIZE);
	uint64		offset = from;

	do
	{
		uint32		len = (uint32) Min((uint64) WAL_CHUNK_SIZE, to - offset);
		uint32		done = 0;

		while (done < len)
		{
			ssize_t		n = pg_pread(fd, buf + done, len - done, offset + done);

			if (n <= 0)
				ereport(ERROR,
						(errcode_for_file_access(),
						 errmsg("could not read file \"%s\" to log it: %m", path)));
			done += n;
		}
		CompactWalLogBytes(dboid, relfilenode, kind, id, xid, buf, len,
						   offset, total);
		offset += len;
	} while (offset < to);
	pfree(buf);
}

/*
 * Log a finished, fsynced file, in chunks.  The caller's transaction
 * commits (and so flushes) the records before anything references the file.
 */
void
CompactWalLogFile(Oid dboid, Oid relfilenode, int kind, int64 id,
				  TransactionId xid)
{
	char	   *path;
	int			fd;
	struct stat st;

	if (!XLogIsNeeded())
		return;
	path = FilePath(dboid, relfilenode, kind, id, xid);
	fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	if (fd < 0 || fstat(fd, &st) < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\" to log it: %m", path)));
	LogFileRange(dboid, relfilenode, kind, id, xid, fd, path,
				 0, (uint64) st.st_size, (uint64) st.st_size);
	CloseTransientFile(fd);
	pfree(path);
}

void
CompactWalLogUnlink(Oid dboid, Oid relfilenode, int kind, int64 id,
					TransactionId xid, TransactionId conflict_xid)
{
	xl_compact_unlink rec;

	if (!XLogIsNeeded())
		return;
	memset(&rec, 0, sizeof(rec));
	rec.dboid = dboid;
	rec.relfilenode = relfilenode;
	rec.kind = kind;
	rec.xid = xid;
	rec.id = id;
	rec.conflict_xid = conflict_xid;
	XLogBeginInsert();
	XLogRegisterData((char *) &rec, sizeof(rec));
	(void) XLogInsert(COMPACT_RMGR_ID, XLOG_COMPACT_UNLINK);
}

static void
LogDir(uint8 info, Oid dboid, Oid relfilenode, Oid from_dboid)
{
	xl_compact_dir rec;

	if (!XLogIsNeeded())
		return;
	memset(&rec, 0, sizeof(rec));
	rec.dboid = dboid;
	rec.relfilenode = relfilenode;
	rec.from_dboid = from_dboid;
	XLogBeginInsert();
	XLogRegisterData((char *) &rec, sizeof(rec));
	(void) XLogInsert(COMPACT_RMGR_ID, info);
}

void
CompactWalLogMkdir(Oid dboid, Oid relfilenode)
{
	LogDir(XLOG_COMPACT_MKDIR, dboid, relfilenode, InvalidOid);
}

/*
 * A directory removal (maybe after the commit that dropped the table: a
 * crash before this record is flushed leaves an unused directory, as on the
 * primary).
 */
void
CompactWalLogRmdir(Oid dboid, Oid relfilenode)
{
	LogDir(XLOG_COMPACT_RMDIR, dboid, relfilenode, InvalidOid);
}

void
CompactWalLogCopydir(Oid from_dboid, Oid to_dboid)
{
	if (!XLogIsNeeded())
		return;
	LogDir(XLOG_COMPACT_COPYDIR, to_dboid, InvalidOid, from_dboid);
	XLogFlush(XactLastRecEnd);
}

/* ----------------------------------------------------------------
 * redo
 * ----------------------------------------------------------------
 */

static void
EnsureDir(const char *path)
{
	if (MakePGDirectory(path) < 0 && errno != EEXIST)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create directory \"%s\": %m", path)));
}

/* pg_compact/<db>/<relfilenode>, made durable */
static void
EnsureTableDir(Oid dboid, Oid relfilenode)
{
	char	   *dbdir = CompactDatabaseDir(dboid);
	char	   *tabledir = CompactTableDir(dboid, relfilenode);

	EnsureDir(COMPACT_DIR);
	EnsureDir(dbdir);
	EnsureDir(tabledir);
	fsync_fname(tabledir, true);
	fsync_fname(dbdir, true);
	fsync_fname(COMPACT_DIR, true);
	pfree(dbdir);
	pfree(tabledir);
}

static void
RedoFile(const xl_compact_file *rec, const char *data)
{
	char	   *path = FilePath(rec->dboid, rec->relfilenode, rec->kind, rec->id, rec->xid);
	int			fd;
	uint32		done = 0;

	if (rec->offset == 0)
		EnsureTableDir(rec->dboid, rec->relfilenode);
	fd = OpenTransientFile(path, O_RDWR | O_CREAT | PG_BINARY);
	if (fd < 0 && errno == ENOENT)
	{
		/* a directory removed meanwhile, further on in the WAL: make it */
		EnsureTableDir(rec->dboid, rec->relfilenode);
		fd = OpenTransientFile(path, O_RDWR | O_CREAT | PG_BINARY);
	}
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\" for redo: %m", path)));
	while (done < rec->length)
	{
		ssize_t		n = pg_pwrite(fd, data + done, rec->length - done, rec->offset + done);

		if (n <= 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not write file \"%s\" in redo: %m", path)));
		done += n;
	}
	/* the last chunk (total is PG_UINT64_MAX while more follow) */
	if (rec->total != PG_UINT64_MAX &&
		rec->offset + rec->length >= rec->total &&
		ftruncate(fd, (off_t) rec->total) < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not truncate file \"%s\" in redo: %m", path)));
	if (pg_fsync(fd) != 0)
		ereport(data_sync_elevel(ERROR),
				(errcode_for_file_access(),
				 errmsg("could not fsync file \"%s\": %m", path)));
	CloseTransientFile(fd);
	pfree(path);
}

static void
RedoUnlink(const xl_compact_unlink *rec)
{
	char	   *path = FilePath(rec->dboid, rec->relfilenode, rec->kind, rec->id, rec->xid);

	/* hot standby queries that may still read the file must go first */
	if (InHotStandby && TransactionIdIsValid(rec->conflict_xid))
	{
		RelFileNode node;

		node.spcNode = DEFAULTTABLESPACE_OID;
		node.dbNode = rec->dboid;
		node.relNode = rec->relfilenode;
		ResolveRecoveryConflictWithSnapshot(rec->conflict_xid, node);
	}
	if (unlink(path) < 0 && errno != ENOENT)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not remove file \"%s\" in redo: %m", path)));
	pfree(path);
}

static void
RedoDir(uint8 info, const xl_compact_dir *rec)
{
	char	   *path = OidIsValid(rec->relfilenode) ?
		CompactTableDir(rec->dboid, rec->relfilenode) :
		CompactDatabaseDir(rec->dboid);

	switch (info)
	{
		case XLOG_COMPACT_MKDIR:
			EnsureTableDir(rec->dboid, rec->relfilenode);
			break;
		case XLOG_COMPACT_RMDIR:
			CompactRemoveDir(path);
			break;
		case XLOG_COMPACT_COPYDIR:
			{
				char	   *from = CompactDatabaseDir(rec->from_dboid);

				/* a copy interrupted by a crash is redone from scratch */
				CompactRemoveDir(path);
				CompactCopyDir(from, path);
				pfree(from);
				break;
			}
	}
	pfree(path);
}

static void
compact_redo(XLogReaderState *record)
{
	uint8		info = XLogRecGetInfo(record) & ~XLR_INFO_MASK;
	char	   *data = XLogRecGetData(record);

	switch (info)
	{
		case XLOG_COMPACT_FILE:
			RedoFile((xl_compact_file *) data, data + sizeof(xl_compact_file));
			break;
		case XLOG_COMPACT_UNLINK:
			RedoUnlink((xl_compact_unlink *) data);
			break;
		case XLOG_COMPACT_MKDIR:
		case XLOG_COMPACT_RMDIR:
		case XLOG_COMPACT_COPYDIR:
			RedoDir(info, (xl_compact_dir *) data);
			break;
		default:
			elog(PANIC, "compact redo: unknown record type %u", info);
	}
}

static const char *
compact_identify(uint8 info)
{
	switch (info & ~XLR_INFO_MASK)
	{
		case XLOG_COMPACT_FILE:
			return "FILE";
		case XLOG_COMPACT_UNLINK:
			return "UNLINK";
		case XLOG_COMPACT_MKDIR:
			return "MKDIR";
		case XLOG_COMPACT_RMDIR:
			return "RMDIR";
		case XLOG_COMPACT_COPYDIR:
			return "COPYDIR";
	}
	return NULL;
}

static void
compact_desc(StringInfo buf, XLogReaderState *record)
{
	uint8		info = XLogRecGetInfo(record) & ~XLR_INFO_MASK;
	char	   *data = XLogRecGetData(record);

	if (info == XLOG_COMPACT_FILE)
	{
		xl_compact_file *rec = (xl_compact_file *) data;

		appendStringInfo(buf, "%s %u/%u/" INT64_FORMAT "-%u offset " UINT64_FORMAT " length %u of " UINT64_FORMAT,
						 rec->kind == COMPACT_FILE_ROWMAP ? "map" : "fragment",
						 rec->dboid, rec->relfilenode, rec->id, rec->xid,
						 rec->offset, rec->length, rec->total);
	}
	else if (info == XLOG_COMPACT_UNLINK)
	{
		xl_compact_unlink *rec = (xl_compact_unlink *) data;

		appendStringInfo(buf, "%s %u/%u/" INT64_FORMAT "-%u conflict xid %u",
						 rec->kind == COMPACT_FILE_ROWMAP ? "map" : "fragment",
						 rec->dboid, rec->relfilenode, rec->id, rec->xid,
						 rec->conflict_xid);
	}
	else
	{
		xl_compact_dir *rec = (xl_compact_dir *) data;

		appendStringInfo(buf, "%u/%u", rec->dboid, rec->relfilenode);
		if (info == XLOG_COMPACT_COPYDIR)
			appendStringInfo(buf, " from %u", rec->from_dboid);
	}
}

static const RmgrData CompactRmgr = {
	.rm_name = COMPACT_RMGR_NAME,
	.rm_redo = compact_redo,
	.rm_desc = compact_desc,
	.rm_identify = compact_identify,
};

/* From _PG_init, while shared_preload_libraries is being processed. */
void
CompactWalRegister(void)
{
	RegisterCustomRmgr(COMPACT_RMGR_ID, (RmgrData *) &CompactRmgr);
}
