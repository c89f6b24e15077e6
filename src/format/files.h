/*-------------------------------------------------------------------------
 * files.h
 *	  Where fragment files live, and directory housekeeping.
 *
 * A table's files live in $PGDATA/pg_compact/<database oid>/<relfilenode>/,
 * outside base/ so that pg_basebackup and pg_checksums do not take them for
 * relation segments.  A fragment file is named <fragment id>-<xid>.frag: the
 * id comes from the table's metapage and the xid is the top-level
 * transaction that wrote it, so a file that no catalog row references can be
 * told apart from one whose writer is still running.
 *
 * IDENTIFICATION
 *	  src/format/files.h
 *-------------------------------------------------------------------------
 */
#ifndef COMPACT_FORMAT_FILES_H
#define COMPACT_FORMAT_FILES_H

#define COMPACT_DIR "pg_compact"

/* one entry of a table directory listing */
typedef struct FragmentFileName
{
	int64		fragment_id;
	TransactionId xid;
	bool		is_map;			/* a row map (rowmap.h), not a fragment */
} FragmentFileName;

/* files.c */
extern char *CompactDatabaseDir(Oid dboid);
extern char *CompactTableDir(Oid dboid, Oid relfilenode);
extern char *CompactFragmentPath(Oid dboid, Oid relfilenode,
								 int64 fragment_id, TransactionId xid);
extern char *CompactRowMapPath(Oid dboid, Oid relfilenode,
							   int64 fragment_id, TransactionId xid);
extern bool CompactCreateTableDir(Oid dboid, Oid relfilenode);
extern void CompactRemoveDir(const char *path);
extern void CompactCopyDir(const char *from, const char *to);
extern int	CompactListTableDir(Oid dboid, Oid relfilenode,
								FragmentFileName **files);
extern uint64 CompactDirSize(const char *path);
extern void CompactUnlinkFile(const char *path);
extern void CompactFsyncParentDir(const char *path);

#endif							/* COMPACT_FORMAT_FILES_H */
