/*-------------------------------------------------------------------------
 * files.c
 *	  Paths of fragment files, and creating, copying and removing the
 *	  directories that hold them.
 *
 * New directories are fsynced together with their parent so that a fragment
 * fsynced later is reachable after a crash.  Removal ignores files that are
 * already gone: it runs again after crashes.
 *
 * IDENTIFICATION
 *	  src/format/files.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>
#include <unistd.h>

#include "common/file_utils.h"
#include "miscadmin.h"
#include "storage/copydir.h"
#include "storage/fd.h"

#include "format/files.h"

char *
CompactDatabaseDir(Oid dboid)
{
	return psprintf("%s/%u", COMPACT_DIR, dboid);
}

char *
CompactTableDir(Oid dboid, Oid relfilenode)
{
	return psprintf("%s/%u/%u", COMPACT_DIR, dboid, relfilenode);
}

char *
CompactFragmentPath(Oid dboid, Oid relfilenode, int64 fragment_id,
					TransactionId xid)
{
	return psprintf("%s/%u/%u/" INT64_FORMAT "-%u.frag",
					COMPACT_DIR, dboid, relfilenode, fragment_id, xid);
}

char *
CompactRowMapPath(Oid dboid, Oid relfilenode, int64 fragment_id,
				  TransactionId xid)
{
	return psprintf("%s/%u/%u/" INT64_FORMAT "-%u.map",
					COMPACT_DIR, dboid, relfilenode, fragment_id, xid);
}

/*
 * Create (or find) one directory level; returns true if it was created.
 */
static bool
MakeDirLevel(const char *path)
{
	if (MakePGDirectory(path) == 0)
		return true;
	if (errno != EEXIST)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create directory \"%s\": %m", path)));
	return false;
}

/*
 * Create the directory of a table's files, with the levels above it, and
 * make the new entries durable.  Returns false (at the cost of a stat) if
 * it exists already.
 */
bool
CompactCreateTableDir(Oid dboid, Oid relfilenode)
{
	char	   *dbdir;
	char	   *tabledir = CompactTableDir(dboid, relfilenode);
	struct stat st;

	if (stat(tabledir, &st) == 0 && S_ISDIR(st.st_mode))
	{
		pfree(tabledir);
		return false;
	}
	dbdir = CompactDatabaseDir(dboid);

	if (MakeDirLevel(COMPACT_DIR))
		fsync_fname(".", true);
	if (MakeDirLevel(dbdir))
		fsync_fname(COMPACT_DIR, true);
	if (MakeDirLevel(tabledir))
		fsync_fname(dbdir, true);
	fsync_fname(tabledir, true);

	pfree(dbdir);
	pfree(tabledir);
	return true;
}

/*
 * Remove a tree; what is already gone is fine: the background scan's sweep
 * of orphaned directories may be removing the same tree at the same moment.
 */
static bool
RemoveTree(const char *path)
{
	DIR		   *dir = AllocateDir(path);
	struct dirent *de;
	bool		ok = true;

	if (dir == NULL)
		return errno == ENOENT;
	while ((de = ReadDirExtended(dir, path, WARNING)) != NULL)
	{
		char	   *child;
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		child = psprintf("%s/%s", path, de->d_name);
		if (lstat(child, &st) < 0)
			ok = ok && errno == ENOENT;
		else if (S_ISDIR(st.st_mode))
			ok = RemoveTree(child) && ok;
		else if (unlink(child) < 0 && errno != ENOENT)
			ok = false;
		pfree(child);
	}
	FreeDir(dir);
	if (rmdir(path) < 0 && errno != ENOENT)
		ok = false;
	return ok;
}

/*
 * Remove a directory and everything in it; a missing directory is fine.
 * Failures are reported as WARNINGs: this runs after commit, where an ERROR
 * is no longer possible, and a leftover directory is removed by a later
 * VACUUM.
 */
void
CompactRemoveDir(const char *path)
{
	if (!RemoveTree(path))
		ereport(WARNING,
				(errcode_for_file_access(),
				 errmsg("could not remove directory \"%s\"", path),
				 errhint("A later VACUUM of the database removes what is left.")));
}

/*
 * Copy a directory tree (CREATE DATABASE ... TEMPLATE), fsyncing the copies.
 */
void
CompactCopyDir(const char *from, const char *to)
{
	DIR		   *dir;
	struct dirent *de;
	struct stat st;

	if (stat(from, &st) < 0)
	{
		if (errno == ENOENT)
			return;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not stat directory \"%s\": %m", from)));
	}

	if (MakeDirLevel(COMPACT_DIR))
		fsync_fname(".", true);
	MakeDirLevel(to);

	dir = AllocateDir(from);
	while ((de = ReadDir(dir, from)) != NULL)
	{
		char	   *src;
		char	   *dst;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		src = psprintf("%s/%s", from, de->d_name);
		dst = psprintf("%s/%s", to, de->d_name);
		if (stat(src, &st) < 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not stat file \"%s\": %m", src)));
		if (S_ISDIR(st.st_mode))
			copydir(src, dst, false);
		pfree(src);
		pfree(dst);
	}
	FreeDir(dir);
	fsync_fname(to, true);
	fsync_fname(COMPACT_DIR, true);
}

/*
 * List the fragment files and row maps of a table directory.  Names that do not parse are
 * skipped (they are not ours).  Returns the count; *files is palloc'd.
 */
int
CompactListTableDir(Oid dboid, Oid relfilenode, FragmentFileName **files)
{
	char	   *path = CompactTableDir(dboid, relfilenode);
	DIR		   *dir;
	struct dirent *de;
	int			n = 0;
	int			cap = 16;

	*files = palloc(sizeof(FragmentFileName) * cap);
	dir = AllocateDir(path);
	if (dir == NULL && errno == ENOENT)
	{
		pfree(path);
		return 0;
	}
	while ((de = ReadDir(dir, path)) != NULL)
	{
		long long	id;
		unsigned int xid;
		char		tail;

		bool		is_map;

		if (sscanf(de->d_name, "%lld-%u.fra%c", &id, &xid, &tail) == 3 &&
			tail == 'g')
			is_map = false;
		else if (sscanf(de->d_name, "%lld-%u.ma%c", &id, &xid, &tail) == 3 &&
				 tail == 'p')
			is_map = true;
		else
			continue;
		if (n == cap)
		{
			cap *= 2;
			*files = repalloc(*files, sizeof(FragmentFileName) * cap);
		}
		(*files)[n].fragment_id = id;
		(*files)[n].xid = xid;
		(*files)[n].is_map = is_map;
		n++;
	}
	FreeDir(dir);
	pfree(path);
	return n;
}

/*
 * Bytes of all regular files below a directory (0 if it does not exist).
 */
uint64
CompactDirSize(const char *path)
{
	DIR		   *dir;
	struct dirent *de;
	uint64		total = 0;

	dir = AllocateDir(path);
	if (dir == NULL && errno == ENOENT)
		return 0;
	while ((de = ReadDir(dir, path)) != NULL)
	{
		char	   *file;
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		file = psprintf("%s/%s", path, de->d_name);
		if (stat(file, &st) == 0)
		{
			if (S_ISDIR(st.st_mode))
				total += CompactDirSize(file);
			else
				total += st.st_size;
		}
		pfree(file);
	}
	FreeDir(dir);
	return total;
}

/*
 * Unlink one file; a missing file is fine, other failures are WARNINGs.
 */
void
CompactUnlinkFile(const char *path)
{
	if (unlink(path) < 0 && errno != ENOENT)
		ereport(WARNING,
				(errcode_for_file_access(),
				 errmsg("could not remove file \"%s\": %m", path)));
}

/*
 * fsync the directory holding path, so that the new entry survives a crash.
 */
void
CompactFsyncParentDir(const char *path)
{
	char	   *dir = pstrdup(path);
	char	   *slash = strrchr(dir, '/');

	if (slash == NULL)
		fsync_fname(".", true);
	else
	{
		if (slash == dir)
			slash[1] = '\0';
		else
			*slash = '\0';
		fsync_fname(dir, true);
	}
	pfree(dir);
}
