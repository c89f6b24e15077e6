/*-------------------------------------------------------------------------
 * filewal.h
 *	  WAL for the files of pg_compact/: the custom resource manager
 *	  "compact" that lets crash recovery, streaming standbys and
 *	  point-in-time recovery rebuild fragment files, row maps and their
 *	  directories.
 *
 * IDENTIFICATION
 *	  src/format/filewal.h
 *-------------------------------------------------------------------------
 */
#ifndef COMPACT_FORMAT_FILEWAL_H
#define COMPACT_FORMAT_FILEWAL_H

/*
 * Our resource manager ID, from the custom range (128-255).  128 is
 * RM_EXPERIMENTAL_ID; the ID used here is documented in README.md and is to
 * be reserved on https://wiki.postgresql.org/wiki/CustomWALResourceManagers
 * before a release.
 */
#define COMPACT_RMGR_ID			141
#define COMPACT_RMGR_NAME		"compact"

/* kinds of file */
#define COMPACT_FILE_FRAGMENT	0
#define COMPACT_FILE_ROWMAP		1

/* filewal.c */
extern void CompactWalRegister(void);
/* bytes of a file in one WAL record, at most */
#define COMPACT_WAL_CHUNK_BYTES	(1024 * 1024)

extern void CompactWalLogBytes(Oid dboid, Oid relfilenode, int kind,
							   int64 id, TransactionId xid, const char *data,
							   uint64 len, uint64 offset, uint64 total);
extern void CompactWalLogFile(Oid dboid, Oid relfilenode, int kind,
							  int64 id, TransactionId xid);
extern void CompactWalLogUnlink(Oid dboid, Oid relfilenode, int kind,
								int64 id, TransactionId xid,
								TransactionId conflict_xid);
extern void CompactWalLogMkdir(Oid dboid, Oid relfilenode);
extern void CompactWalLogRmdir(Oid dboid, Oid relfilenode);
extern void CompactWalLogCopydir(Oid from_dboid, Oid to_dboid);

#endif							/* COMPACT_FORMAT_FILEWAL_H */
