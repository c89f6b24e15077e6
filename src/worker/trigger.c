/*-------------------------------------------------------------------------
 * trigger.c
 *	  When a table needs an automatic compaction, and what that job does.
 *
 * A table's layout debt is what an automatic compaction of it would do
 * now: the planner's groups under the table's settings, with size tiers of
 * compact_threshold_files fragments (small fragments of similar size), all
 * small fragments once they add up to compact_threshold_mb, and fragments
 * over compact_deleted_ratio.  A table with debt gets a job.  So the
 * trigger and the job never disagree: a job is queued exactly when it has
 * something to do, and a table whose small fragments are of very different
 * sizes waits for more of each size rather than rewriting the big ones
 * again for every few small inserts (that is what keeps write amplification
 * logarithmic, SPEC §3).
 *
 * A transaction that wrote or deleted rows of a compact table computes the
 * debt at pre-commit, from the catalog as it sees it, and queues a job held
 * until it commits (jobqueue.c): the job is in the queue, and the launcher
 * woken, when the commit returns.  The clustering a table keeps
 * (compact_order_by, ...) shapes the job, not the trigger.
 *
 * IDENTIFICATION
 *	  src/worker/trigger.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "catalog/metadata.h"
#include "commands/statement.h"
#include "compaction/compaction.h"
#include "worker/jobqueue.h"

static int64
OptionInt(Oid relid, const char *name, int64 default_value)
{
	char	   *value = CompactOptionValue(relid, name);

	return value ? strtol(value, NULL, 10) : default_value;
}

/* compact.auto_compact and the table's auto_compact are both on */
bool
TriggerTableWants(Relation rel)
{
	char	   *value;
	bool		on = true;

	if (!compact_auto_compact)
		return false;
	value = CompactOptionValue(RelationGetRelid(rel), "auto_compact");
	if (value && !parse_bool(value, &on))
		on = true;
	return on;
}

/* The trigger's part of an automatic request: tiers, byte threshold. */
static void
TriggerSettings(CompactionRequest *request, Oid relid)
{
	request->min_tier_fragments = (int) OptionInt(relid, "compact_threshold_files", 10);
	request->merge_small_bytes = OptionInt(relid, "compact_threshold_mb", 100) * 1024 * 1024;
	request->own_transactions = true;
	request->trigger = "auto";
}

/*
 * The request a background worker runs for a table: the trigger's settings
 * and the table's clustering.  The caller is the table's owner.
 */
void
TriggerRequest(CompactionRequest *request, Relation rel)
{
	StatementBuildRequest(request, RelationGetRelid(rel), NULL, NULL, NULL, NULL);
	TriggerSettings(request, RelationGetRelid(rel));
}

/* What an automatic compaction would do now, clustering aside. */
CompactionPlan *
TriggerPlan(Relation rel, bool include_own)
{
	CompactionRequest request;

	CompactionRequestInit(&request, RelationGetRelid(rel));
	TriggerSettings(&request, RelationGetRelid(rel));
	request.include_own = include_own;
	return CompactionPlanBuild(rel, &request, GetLatestSnapshot());
}

/*
 * Pre-commit of a transaction that wrote or deleted rows of rel: update the
 * table's debt and queue a job if it has some and none is queued or running.
 */
void
TriggerNoteCommit(Relation rel)
{
	Oid			relid = RelationGetRelid(rel);
	MemoryContext cxt;
	MemoryContext old;
	CompactionPlan *plan;

	if (CompactJobs == NULL || !TriggerTableWants(rel) ||
		JobActiveForTable(MyDatabaseId, relid) ||
		!OidIsValid(CompactCatalogRelid("job_id_seq", true)))
		return;

	cxt = AllocSetContextCreate(CurrentMemoryContext, "compact trigger",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	plan = TriggerPlan(rel, true);
	DebtUpdate(relid, plan);
	if (plan->groups != NIL)
		(void) JobEnqueue(relid, (double) plan->read_bytes, DebtFailures(relid) + 1,
						  DebtRetryAfter(relid), true,
						  CompactOptionValue(relid, "compact_order_by") ? "order by" :
						  CompactOptionValue(relid, "compact_z_order_by") ? "z-order" :
						  CompactOptionValue(relid, "compact_hilbert_by") ? "hilbert" :
						  "merge");
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
}

static void
trigger_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
			JobQueueAtCommit(true);
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			JobQueueAtCommit(false);
			break;
		default:
			break;
	}
}

void
TriggerInit(void)
{
	RegisterXactCallback(trigger_xact_callback, NULL);
}
