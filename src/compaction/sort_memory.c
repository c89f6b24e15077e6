/*-------------------------------------------------------------------------
 * sort_memory.c
 *	  The sort's work area reserved in shared memory at server start
 *	  (compact.shared_sort_memory), lent to one compaction at a time.
 *
 * A sort in passes (kernel_sort.c) touches up to maintenance_work_mem of
 * fresh memory: its keys, then its records, written at random.  Fresh
 * memory is not free: the kernel zeroes every page on its first touch, and
 * on a virtual machine whose guest returns free pages to the host the host
 * must back each one again (on the development machine about 3.5 s per GB,
 * a quarter of a 10M-row sort).  Memory reserved once in PostgreSQL's main
 * shared memory segment is touched once in the server's life, and with
 * huge_pages = on it sits in huge pages, which also spares the random
 * writes most of their TLB misses.
 *
 * One compaction holds the area at a time; a sort that finds it taken, or
 * needs more than it holds, allocates private memory as before.  The
 * holder is released when the sort's memory context goes away (also when
 * its transaction aborts) and when its process exits; a process that dies
 * without exiting makes the postmaster reinitialize shared memory.
 *
 * IDENTIFICATION
 *	  src/compaction/sort_memory.c
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

typedef struct SortMemory
{
	pg_atomic_uint32 holder;	/* pid of the process holding it; 0: free */
	Size		size;
	char	   *area;			/* in this segment, cache-line aligned */
} SortMemory;

int			compact_shared_sort_memory_mb = 0;

static SortMemory *SharedSortMemory = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
static bool ExitCallbackRegistered = false;

static Size
SortMemorySize(void)
{
	return (Size) compact_shared_sort_memory_mb * 1024 * 1024;
}

static void
sort_memory_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(add_size(MAXALIGN(sizeof(SortMemory)),
									add_size(SortMemorySize(), PG_CACHE_LINE_SIZE)));
}

static void
sort_memory_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	SharedSortMemory = ShmemInitStruct("compact sort memory",
									   MAXALIGN(sizeof(SortMemory)), &found);
	if (!found)
	{
		pg_atomic_init_u32(&SharedSortMemory->holder, 0);
		SharedSortMemory->size = SortMemorySize();
		SharedSortMemory->area = NULL;
		if (SharedSortMemory->size > 0)
			SharedSortMemory->area = ShmemInitStruct("compact sort memory area",
													 SharedSortMemory->size, &found);
	}
	LWLockRelease(AddinShmemInitLock);
}

void
SortMemoryShmemRequest(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = sort_memory_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = sort_memory_shmem_startup;
}

/* Give the area back if this process holds it. */
static void
SortMemoryRelease(void)
{
	uint32		mine = (uint32) MyProcPid;

	if (SharedSortMemory != NULL)
		pg_atomic_compare_exchange_u32(&SharedSortMemory->holder, &mine, 0);
}

static void
SortMemoryReleaseCallback(void *arg)
{
	SortMemoryRelease();
}

static void
SortMemoryAtExit(int code, Datum arg)
{
	SortMemoryRelease();
}

/*
 * The shared area for a sort that needs size bytes, held until cxt is
 * reset or deleted; NULL if there is none, it is too small or another
 * compaction holds it.
 */
void *
SortMemoryClaim(MemoryContext cxt, Size size)
{
	uint32		free = 0;
	MemoryContextCallback *cb;

	if (SharedSortMemory == NULL || SharedSortMemory->area == NULL ||
		size > SharedSortMemory->size)
		return NULL;
	if (!ExitCallbackRegistered)
	{
		before_shmem_exit(SortMemoryAtExit, (Datum) 0);
		ExitCallbackRegistered = true;
	}
	/* the callback first: once the area is ours, nothing may fail */
	cb = MemoryContextAlloc(cxt, sizeof(MemoryContextCallback));
	/*
	 * A process sorts one group at a time: if it holds the area already, a
	 * sort of it failed where its memory context outlived the error, and
	 * the area is free to take again.
	 */
	if (!pg_atomic_compare_exchange_u32(&SharedSortMemory->holder, &free,
										(uint32) MyProcPid) &&
		free != (uint32) MyProcPid)
	{
		pfree(cb);
		return NULL;
	}
	cb->func = SortMemoryReleaseCallback;
	cb->arg = NULL;
	MemoryContextRegisterResetCallback(cxt, cb);
	return SharedSortMemory->area;
}
