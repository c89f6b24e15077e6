/*-------------------------------------------------------------------------
 * compaction.h
 *	  Compaction: one request type, one planner, one executor for every
 *	  entry point (VACUUM options, compact.* functions, compact.execute,
 *	  background workers).
 *
 * A CompactionRequest says what the caller asked for: which table, which
 * clustering, which rows (a filter), whether to only plan.  The planner
 * turns it and the table's fragments, as a snapshot sees them, into a
 * CompactionPlan: groups of source fragments, each rewritten into new
 * fragments by one strategy.  The executor runs the groups and returns a
 * CompactionResult.
 *
 * IDENTIFICATION
 *	  src/compaction/compaction.h
 *-------------------------------------------------------------------------
 */
#ifndef COMPACT_COMPACTION_COMPACTION_H
#define COMPACT_COMPACTION_COMPACTION_H

#include "nodes/pg_list.h"
#include "nodes/primnodes.h"
#include "utils/relcache.h"
#include "utils/snapshot.h"

/* columns of a Z-order or Hilbert clustering */
#define COMPACT_MIN_CURVE_COLUMNS	2
#define COMPACT_MAX_CURVE_COLUMNS	8
/* columns of an ORDER BY clustering */
#define COMPACT_MAX_SORT_COLUMNS	32

typedef enum CompactionStrategy
{
	COMPACTION_MERGE,			/* keep row order */
	COMPACTION_SORT,			/* ORDER BY columns */
	COMPACTION_ZORDER,			/* Morton order of normalized keys */
	COMPACTION_HILBERT			/* Hilbert order of normalized keys */
} CompactionStrategy;

/* One column of a clustering. */
typedef struct ClusterKey
{
	AttrNumber	attnum;
	Oid			typid;
	Oid			collation;
	Oid			sortop;			/* ordering operator (ASC or DESC) */
	bool		desc;
	bool		nulls_first;
} ClusterKey;

/* Per-table settings the planner follows (SPEC §5). */
typedef struct CompactionSettings
{
	int64		min_file_bytes; /* a fragment under this is small */
	int64		target_file_bytes;	/* size of fragments compaction writes */
	double		deleted_ratio;	/* rewrite a fragment with this share deleted */
} CompactionSettings;

typedef struct CompactionRequest
{
	Oid			relid;
	CompactionStrategy strategy;
	int			nkeys;
	ClusterKey	keys[COMPACT_MAX_SORT_COLUMNS];
	char	   *clustering;		/* canonical text of the clustering, or NULL */
	char	   *filter;			/* boolean expression over the columns, or NULL */
	bool		dry_run;
	bool		verbose;
	bool		rewrite_all;	/* every fragment is a candidate */
	bool		deleted_only;	/* only fragments over the deleted ratio */
	bool		recompute_statistics;
	int			min_tier_fragments; /* merge a size tier from this many */
	int64		merge_small_bytes;	/* tiers: merge every small fragment once
									 * they hold this many bytes (0: never) */
	bool		include_own;	/* plan the current transaction's fragments
								 * too (commit-time trigger check only) */
	bool		own_transactions;	/* commit after each group */
	bool		background;		/* never queue for a row lock while holding
								 * the table (a background worker) */
	const char *trigger;		/* "manual" or "auto" */
} CompactionRequest;

/* Fragments rewritten together into new fragments. */
typedef struct CompactionGroup
{
	List	   *sources;		/* FragmentMeta, in row-number order */
	int64		rows;			/* rows of the sources */
	int64		deleted;		/* of which deleted */
	int64		bytes;			/* bytes of the sources */
	int			tier;			/* size tier, -1 for deletion rewrites */
	const char *reason;			/* "small", "deleted", "cluster", "all" */
	bool		one_per_source; /* each source into new fragments of its own */
} CompactionGroup;

typedef struct CompactionPlan
{
	Oid			relid;
	List	   *groups;			/* CompactionGroup */
	int			fragments;		/* fragments of the table in scope */
	int64		bytes;			/* their bytes */
	int64		read_bytes;		/* bytes the groups read */
	int64		write_bytes;	/* estimate of bytes the groups write */
} CompactionPlan;

typedef struct CompactionResult
{
	int64		fragments_before;
	int64		fragments_after;
	int64		rows_rewritten;
	int64		deleted_rows_removed;
	int64		bytes_before;
	int64		bytes_after;
	int64		groups;
	int64		fragments_read; /* source fragments rewritten */
	int64		fragments_written;	/* new fragments */
	int64		bytes_written;	/* bytes of the new fragments */
	double		duration_ms;
} CompactionResult;

/*
 * Progress of the compaction running in this backend, for the jobs view:
 * the executor updates it and calls compaction_progress_hook (if set) at
 * each change of phase and after each row group read.
 */
typedef struct CompactionProgress
{
	const char *phase;			/* "planning", "rewriting", "committing" */
	const char *strategy;		/* "merge" or the clustering */
	int			groups_total;
	int			groups_done;
	int64		bytes_total;	/* bytes of the source fragments */
	int64		bytes_done;
	const CompactionResult *result; /* totals of the groups committed so far */
} CompactionProgress;

typedef void (*compaction_progress_hook_type) (const CompactionProgress *progress);
extern PGDLLIMPORT compaction_progress_hook_type compaction_progress_hook;

/* called between units of work (background workers yield the CPU there) */
typedef void (*compaction_yield_hook_type) (void);
extern PGDLLIMPORT compaction_yield_hook_type compaction_yield_hook;

/* request.c */
extern void CompactionRequestInit(CompactionRequest *request, Oid relid);
extern void CompactionRequestSetClustering(CompactionRequest *request,
										   Relation rel,
										   CompactionStrategy strategy,
										   int ncolumns, char **names,
										   const bool *desc,
										   const int *nulls_first);
extern void CompactionSettingsGet(Relation rel, CompactionSettings *settings);
extern Relation CompactionOpenTable(Oid relid, bool missing_ok);

/* filter.c */
extern Node *CompactionFilterParse(Relation rel, const char *filter);
extern bool CompactionFilterMayMatch(Relation rel, Node *filter,
									 bytea *fragment_stats);
extern bool CompactionFilterPartitionMayMatch(Relation partition, Node *filter,
											  Relation parent);

/* planner.c */
extern CompactionPlan *CompactionPlanBuild(Relation rel,
										   const CompactionRequest *request,
										   Snapshot snapshot);
extern void CompactionPlanReport(const CompactionPlan *plan,
								 const CompactionRequest *request, int elevel);

/* executor.c */
extern void CompactionRun(const CompactionRequest *request,
						  CompactionResult *result);
extern void CompactionNoteIO(int64 read_bytes, int64 written_bytes);

#endif							/* COMPACT_COMPACTION_COMPACTION_H */
