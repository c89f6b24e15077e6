/*-------------------------------------------------------------------------
 * compact.c
 *	  Module entry point: settings, hooks and callbacks.
 *
 * compact must be loaded through shared_preload_libraries: its hooks keep
 * the fragment directories in step with DROP and CREATE DATABASE, and later
 * layers need shared memory and a WAL resource manager, all of which can only
 * be set up at postmaster start.  Loading it any other way is an error.
 *
 * IDENTIFICATION
 *	  src/compact.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <sys/mman.h>

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "commands/parallel_copy.h"
#include "compaction/kernel.h"
#include "compact.h"
#include "format/filewal.h"
#include "worker/jobqueue.h"

PG_MODULE_MAGIC;

int			compact_compression_level = 1;
int			compact_row_group_size = 10000;
int			compact_write_buffer_kb = 65536;
bool		compact_direct_io = true;
int			compact_debug_crash_after_groups = 0;
int			compact_debug_writer_queue_kb = 0;
int			compact_debug_leader_encodes = LEADER_ENCODES_AUTO;

static const struct config_enum_entry leader_encodes_options[] = {
	{"auto", LEADER_ENCODES_AUTO, false},
	{"always", LEADER_ENCODES_ALWAYS, false},
	{"never", LEADER_ENCODES_NEVER, false},
	{"alternate", LEADER_ENCODES_ALTERNATE, false},
	{NULL, 0, false}
};

PG_FUNCTION_INFO_V1(compact_debug_fault_points);

/* every fault point, in the order a write, a compaction, a VACUUM meet them */
static const char *const FaultPoints[] = {
	"storage_dir_created",
	"fragment_created",
	"fragment_rowgroup_written",
	"insert_fragment_finished",
	"insert_fragment_logged",
	"insert_before_commit",
	"insert_after_commit",
	"copy_worker_fragment_sent",
	"copy_fragments_recorded",
	"compact_fragment_finished",
	"compact_group_written",
	"compact_sources_replaced",
	"compact_map_written",
	"compact_deletions_carried",
	"compact_group_committed",
	"vacuum_indexes_cleaned",
	"vacuum_fragment_unlinked",
	"vacuum_orphan_unlinked",
	"drop_dir_removed",
};

#ifdef COMPACT_DEBUG
char	   *compact_debug_fault_point = NULL;

void
CompactFaultPoint(const char *name)
{
	if (compact_debug_fault_point && strcmp(compact_debug_fault_point, name) == 0)
		elog(PANIC, "compact fault point \"%s\" reached", name);
}
#endif

/*
 * Large arrays (write buffers, sort arrays) are touched once, page by page,
 * right after they are allocated: with 4 kB pages that is a page fault per
 * 4 kB, which on virtual machines costs more than the work done on the
 * page (a third of a large sort's time).  Asking for transparent huge
 * pages makes it one fault per 2 MB.  The advice covers the 2 MB-aligned
 * middle of the allocation (it is only advice: without THP, or with THP
 * off, nothing changes).
 */
#define HUGE_PAGE_SIZE		((Size) 2 * 1024 * 1024)

static void
AdviseHugePages(void *pointer, Size size)
{
#ifdef MADV_HUGEPAGE
	uintptr_t	start = TYPEALIGN(HUGE_PAGE_SIZE, (uintptr_t) pointer);
	uintptr_t	end = TYPEALIGN_DOWN(HUGE_PAGE_SIZE, (uintptr_t) pointer + size);

	if (end > start)
		(void) madvise((void *) start, end - start, MADV_HUGEPAGE);
#endif
}

void *
CompactAllocLarge(MemoryContext cxt, Size size)
{
	void	   *pointer = MemoryContextAllocHuge(cxt, size);

	if (size >= 2 * HUGE_PAGE_SIZE)
		AdviseHugePages(pointer, size);
	return pointer;
}

/*
 * Writing and compacting allocate and free buffers of 100 kB to tens of MB
 * per page, row group and segment.  glibc returns such memory to the
 * kernel at once until its thresholds adapt (to mmap 32 MB, trim 64 MB,
 * after the first large block is freed), and every reuse then faults the
 * pages in again, zeroed: a tenth of a COPY or a compaction on a virtual
 * machine.  A backend that starts such work sets the thresholds glibc would
 * have converged to, once.
 */
void
CompactTuneMalloc(void)
{
#if defined(__GLIBC__) && defined(M_MMAP_THRESHOLD) && defined(M_TRIM_THRESHOLD)
	static bool done = false;

	if (done)
		return;
	done = true;
	(void) mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
	(void) mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);
#endif
}

/* compact.debug_fault_points(): the names, in a COMPACT_DEBUG build only */
Datum
compact_debug_fault_points(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
#ifdef COMPACT_DEBUG
	for (int i = 0; i < lengthof(FaultPoints); i++)
	{
		Datum		value = CStringGetTextDatum(FaultPoints[i]);
		bool		isnull = false;

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &value, &isnull);
	}
#else
	(void) FaultPoints;
	(void) rsinfo;
#endif
	return (Datum) 0;
}

void
_PG_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("compact must be loaded via shared_preload_libraries"),
				 errhint("Add compact to shared_preload_libraries in postgresql.conf and restart the server.")));

	DefineCustomIntVariable("compact.compression_level",
							"zstd compression level of fragment pages.",
							"Negative levels trade size for speed; 0 means zstd's default.",
							&compact_compression_level,
							1, -7, 19,
							PGC_USERSET, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("compact.row_group_size",
							"Rows per row group in newly written fragments.",
							NULL,
							&compact_row_group_size,
							10000, 1000, 1000000,
							PGC_USERSET, 0,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("compact.direct_io",
							 "Writes compaction's new fragment files with direct I/O, past the kernel's page cache.",
							 "Where the file system does not support it, the files are written through the cache.",
							 &compact_direct_io,
							 true,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("compact.shared_work_mem",
							"Shared memory reserved at server start for the row maps and the sort of one compaction group at a time.",
							"A group whose work fits uses it instead of fresh private memory; 0 reserves none.",
							&compact_shared_work_mem_mb,
							0, 0, MAX_KILOBYTES / 1024,
							PGC_POSTMASTER, GUC_UNIT_MB,
							NULL, NULL, NULL);

	DefineCustomIntVariable("compact.write_buffer_size",
							"Memory a transaction buffers per table before it writes a fragment.",
							NULL,
							&compact_write_buffer_kb,
							65536, 1024, MAX_KILOBYTES,
							PGC_USERSET, GUC_UNIT_KB,
							NULL, NULL, NULL);

	DefineCustomIntVariable("compact.max_parallel_copy_workers",
							"Parallel workers a COPY FROM a server file into a compact table may use.",
							"0 parses in the COPY's own process only.",
							&compact_max_parallel_copy_workers,
							2, 0, 64,
							PGC_USERSET, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("compact.min_parallel_copy_size",
							"Smallest share of a COPY FROM a server file that a process parses.",
							"Files of less than twice this size are parsed by the COPY's own process.",
							&compact_min_parallel_copy_size_kb,
							16 * 1024, 8, MAX_KILOBYTES,
							PGC_USERSET, GUC_UNIT_KB,
							NULL, NULL, NULL);

	DefineCustomIntVariable("compact.min_parallel_compaction_size",
							"Smallest compaction group whose new fragments a parallel worker writes.",
							"Up to max_parallel_maintenance_workers; 0 means every group, -1 none.",
							&compact_min_parallel_compaction_size_kb,
							16 * 1024, -1, MAX_KILOBYTES,
							PGC_USERSET, GUC_UNIT_KB,
							NULL, NULL, NULL);

	DefineCustomIntVariable("compact.debug_crash_after_groups",
							"Crash the server (PANIC) in a compaction, after this many groups have committed and the next one is written but not committed.",
							"For crash tests only; 0 disables it.",
							&compact_debug_crash_after_groups,
							0, 0, INT_MAX,
							PGC_SUSET, GUC_NOT_IN_SAMPLE,
							NULL, NULL, NULL);

	DefineCustomIntVariable("compact.debug_writer_queue_size",
							"Size of each of the two message queues between a compaction and its parallel writer.",
							"Tests only; 0 means the normal sizes (8 MB to the worker, 4 MB back).",
							&compact_debug_writer_queue_kb,
							0, 0, 1024 * 1024,
							PGC_SUSET, GUC_UNIT_KB | GUC_NOT_IN_SAMPLE,
							NULL, NULL, NULL);

	DefineCustomEnumVariable("compact.debug_leader_encodes",
							 "Which row groups (in a rewrite of whole sources: which sources) of a parallel compaction writer the compacting backend encodes itself.",
							 "auto: those it would otherwise wait to hand over, while the worker is behind (sources: from the last back, while the worker takes them from the first); always, never or alternate (every other row group; sources as auto): for tests.",
							 &compact_debug_leader_encodes,
							 LEADER_ENCODES_AUTO, leader_encodes_options,
							 PGC_SUSET, GUC_NOT_IN_SAMPLE,
							 NULL, NULL, NULL);

#ifdef COMPACT_DEBUG
	DefineCustomStringVariable("compact.debug_fault_point",
							   "Crash the server (PANIC) when this fault point is reached.",
							   "Tests only; see compact.debug_fault_points().",
							   &compact_debug_fault_point,
							   NULL, PGC_SUSET, GUC_NOT_IN_SAMPLE,
							   NULL, NULL, NULL);
#endif

	CompactWriteStateInit();
	CompactDdlInit();
	CompactUtilityInit();
	CompactCustomScanInit();
	CompactBitmapScanInit();
	CompactLauncherRegister();
	CompactWalRegister();
	SharedWorkMemShmemRequest();

	/* after every compact.* setting is defined */
	MarkGUCPrefixReserved("compact");
}
