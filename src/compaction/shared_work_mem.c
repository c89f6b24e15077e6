/*-------------------------------------------------------------------------
 * shared_work_mem.c
 *	  Work memory reserved in shared memory at server start
 *	  (compact.shared_work_mem), lent to one compaction group at a time:
 *	  its row maps, then its sort's keys and records.
 *
 * A compaction group touches up to maintenance_work_mem of fresh memory:
 * the row maps (8 bytes per source row, all set before the first row is
 * read), then a sort's keys and its records, written at random.  Fresh
 * memory is not free: the kernel zeroes every page on its first touch, and
 * on a virtual machine whose guest returns free pages to the host the host
 * must back each one again (on the development machine about 3.5 s per GB,
 * a quarter of a 10M-row sort).  Memory reserved once in PostgreSQL's main
 * shared memory segment is touched once in the server's life, and with
 * huge_pages it sits in huge pages, which also spares the sort's random
 * writes most of their TLB misses.
 *
 * One group holds the area at a time; a group that finds it taken, or
 * needs more than it holds, allocates private memory as before.  The
 * holder is released when the group's memory context goes away (also when
 * its transaction aborts) and when its process exits; a process that dies
 * without exiting makes the postmaster reinitialize shared memory.
 *
 * The group's parallel worker works in the area too (the sort's records
 * and keys, kernel_sort.c): the leader names places in it by their offset
 * (SharedWorkMemOffset), the worker finds them (SharedWorkMemAt).  The
 * worker is gone before the area is released: an aborting transaction
 * waits for its parallel workers to exit before it frees memory, and a
 * process that exits releases the area only after its transaction's
 * abort (on_shmem_exit runs after before_shmem_exit's ShutdownPostgres).
 *
 * IDENTIFICATION
 *	  src/compaction/shared_work_mem.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "utils/memutils.h"

#include "compact.h"
#include "compaction/kernel.h"

typedef struct SharedWorkMem
{
	pg_atomic_uint32 holder;	/* pid of the process holding it; 0: free */
	Size		size;
	char	   *area;			/* in this segment, cache-line aligned */
} SharedWorkMem;

int			compact_shared_work_mem_mb = 0;

static SharedWorkMem *WorkMem = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
static bool ExitCallbackRegistered = false;

static Size
SharedWorkMemSize(void)
{
	return (Size) compact_shared_work_mem_mb * 1024 * 1024;
}

static void
shared_work_mem_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(add_size(MAXALIGN(sizeof(SharedWorkMem)),
									add_size(SharedWorkMemSize(), PG_CACHE_LINE_SIZE)));
}

static void
shared_work_mem_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	WorkMem = ShmemInitStruct("compact shared work memory",
							  MAXALIGN(sizeof(SharedWorkMem)), &found);
	if (!found)
	{
		pg_atomic_init_u32(&WorkMem->holder, 0);
		WorkMem->size = SharedWorkMemSize();
		WorkMem->area = NULL;
		if (WorkMem->size > 0)
			WorkMem->area = ShmemInitStruct("compact shared work memory area",
											WorkMem->size, &found);
	}
	LWLockRelease(AddinShmemInitLock);
}

void
SharedWorkMemShmemRequest(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = shared_work_mem_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = shared_work_mem_shmem_startup;
}

/* Give the area back if this process holds it. */
static void
SharedWorkMemRelease(void)
{
	uint32		mine = (uint32) MyProcPid;

	if (WorkMem != NULL)
		pg_atomic_compare_exchange_u32(&WorkMem->holder, &mine, 0);
}

static void
SharedWorkMemReleaseCallback(void *arg)
{
	SharedWorkMemRelease();
}

static void
SharedWorkMemAtExit(int code, Datum arg)
{
	SharedWorkMemRelease();
}

/*
 * The shared area and its size (*size), held until cxt is reset or
 * deleted; NULL if none is reserved or another process holds it.
 */
char *
SharedWorkMemClaim(MemoryContext cxt, Size *size)
{
	uint32		free = 0;
	MemoryContextCallback *cb;

	*size = 0;
	if (WorkMem == NULL || WorkMem->area == NULL)
		return NULL;
	if (!ExitCallbackRegistered)
	{
		on_shmem_exit(SharedWorkMemAtExit, (Datum) 0);
		ExitCallbackRegistered = true;
	}
	/* the callback first: once the area is ours, nothing may fail */
	cb = MemoryContextAlloc(cxt, sizeof(MemoryContextCallback));

	/*
	 * A process runs one group at a time: if it holds the area already, a
	 * group of it failed where its memory context outlived the error, and
	 * the area is free to take again.
	 */
	if (!pg_atomic_compare_exchange_u32(&WorkMem->holder, &free,
										(uint32) MyProcPid) &&
		free != (uint32) MyProcPid)
	{
		pfree(cb);
		return NULL;
	}
	cb->func = SharedWorkMemReleaseCallback;
	cb->arg = NULL;
	MemoryContextRegisterResetCallback(cxt, cb);
	*size = WorkMem->size;
	return WorkMem->area;
}

/*
 * The offset in the shared area of the len bytes at p, for a parallel
 * worker (SharedWorkMemAt); -1 if they do not all lie in the area.
 */
int64
SharedWorkMemOffset(const void *p, Size len)
{
	const char *c = (const char *) p;

	if (WorkMem == NULL || WorkMem->area == NULL || c < WorkMem->area ||
		c > WorkMem->area + WorkMem->size ||
		len > (Size) (WorkMem->area + WorkMem->size - c))
		return -1;
	return (int64) (c - WorkMem->area);
}

/*
 * The len bytes at offset off of the shared area, as the leader of this
 * parallel worker named them (SharedWorkMemOffset); an ERROR if they do
 * not all lie in it.
 */
char *
SharedWorkMemAt(int64 off, Size len)
{
	if (WorkMem == NULL || WorkMem->area == NULL || off < 0 ||
		(Size) off > WorkMem->size || len > WorkMem->size - (Size) off)
		elog(ERROR, "invalid place in the compaction's shared work memory: %zu bytes at " INT64_FORMAT,
			 len, off);
	return WorkMem->area + off;
}
