/*-------------------------------------------------------------------------
 * compact.h
 *	  Settings and start-up wiring shared by every layer of compact.
 *
 * IDENTIFICATION
 *	  src/compact.h
 *-------------------------------------------------------------------------
 */
#ifndef COMPACT_COMPACT_H
#define COMPACT_COMPACT_H

/* GUCs (compact.c) */
extern int	compact_compression_level;
extern int	compact_row_group_size;
extern int	compact_write_buffer_kb;
extern bool compact_direct_io;
extern int	compact_debug_crash_after_groups;
extern int	compact_debug_writer_queue_kb;

/* compact.debug_leader_encodes: who encodes a parallel writer's row groups */
typedef enum LeaderEncodes
{
	LEADER_ENCODES_AUTO,		/* the backend, when the worker is behind */
	LEADER_ENCODES_ALWAYS,
	LEADER_ENCODES_NEVER,
	LEADER_ENCODES_ALTERNATE	/* every other row group */
} LeaderEncodes;
extern int	compact_debug_leader_encodes;

/* compact.c */
extern void _PG_init(void);

/* large arrays, in transparent huge pages where the kernel offers them */
extern void *CompactAllocLarge(MemoryContext cxt, Size size);
extern void CompactTuneMalloc(void);

/*
 * Fault points, compiled in only for tests (-DCOMPACT_DEBUG, as "make
 * check" builds): COMPACT_FAULT_POINT("name") crashes the server (PANIC)
 * when compact.debug_fault_point is set to that name.  Every name is listed
 * in compact.c; test/t/007_faults.pl crashes at each in turn.
 */
#ifdef COMPACT_DEBUG
extern char *compact_debug_fault_point;
extern void CompactFaultPoint(const char *name);
#define COMPACT_FAULT_POINT(name) CompactFaultPoint(name)
#else
#define COMPACT_FAULT_POINT(name) ((void) 0)
#endif

/* compaction/shared_work_mem.c */
extern int	compact_shared_work_mem_mb;
extern void SharedWorkMemShmemRequest(void);

/* tableam/write_state.c */
extern void CompactWriteStateInit(void);

/* tableam/ddl.c */
extern void CompactDdlInit(void);

/* scan/customscan.c */
extern bool compact_scan_pruning;
extern bool compact_enable_custom_scan;
extern void CompactCustomScanInit(void);

/* scan/bitmapscan.c */
extern void CompactBitmapScanInit(void);

/* commands/utility.c */
extern void CompactUtilityInit(void);

#endif							/* COMPACT_COMPACT_H */
