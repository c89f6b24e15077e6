/*-------------------------------------------------------------------------
 * planner.c
 *	  Turn a CompactionRequest and a table's fragments into a plan: which
 *	  fragments to rewrite together, and why.
 *
 * Candidates, among the fragments in scope (all, or those the FILTER may
 * match):
 *	 - without clustering: small fragments (under compact_min_file_size_mb,
 *	   and under half of compact_target_file_size_mb, so that what a
 *	   compaction writes is never small itself)
 *	   and fragments with at least compact_deleted_ratio of their rows
 *	   deleted;
 *	 - with clustering: fragments not already clustered that way, those over
 *	   the deleted ratio, and small fragments if there are two or more.
 *
 * Grouping:
 *	 - clustering: one group, sorted as a whole, written as fragments of the
 *	   target size;
 *	 - a manual compaction (min_tier_fragments <= 2) merges every small
 *	   fragment, in row order, packed into groups of about the target size;
 *	 - an automatic one groups fragments in size tiers (the sizes of a tier
 *	   are within a factor of 4 of its smallest) and merges a tier once it
 *	   holds min_tier_fragments of them.  A row is then rewritten about once
 *	   per tier on its way to the minimum size, a logarithmic number of
 *	   times, never once per trigger; and once the small fragments add up
 *	   to merge_small_bytes (compact_threshold_mb), all of them merge;
 *	 - a large fragment over the deleted ratio is rewritten on its own, into
 *	   a new fragment of its rows (several such in one group, up to the
 *	   target size).
 *
 * A lone small fragment is left alone, so compacting twice in a row finds
 * nothing to do the second time.
 *
 * IDENTIFICATION
 *	  src/compaction/planner.c
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "catalog/metadata.h"
#include "compaction/compaction.h"

/* sizes within a tier: smallest * TIER_FACTOR */
#define TIER_FACTOR		4

typedef struct Candidate
{
	FragmentMeta *meta;
	int64		deleted;
	int64		live_bytes;		/* bytes scaled by the live share */
} Candidate;

static int
CompareBySize(const void *a, const void *b)
{
	int64		x = ((const Candidate *) a)->live_bytes;
	int64		y = ((const Candidate *) b)->live_bytes;

	return x < y ? -1 : (x > y ? 1 : 0);
}

static int
CompareByRow(const void *a, const void *b)
{
	int64		x = (*(Candidate *const *) a)->meta->first_row;
	int64		y = (*(Candidate *const *) b)->meta->first_row;

	return x < y ? -1 : (x > y ? 1 : 0);
}

static CompactionGroup *
NewGroup(const char *reason, int tier)
{
	CompactionGroup *group = palloc0(sizeof(CompactionGroup));

	group->reason = reason;
	group->tier = tier;
	return group;
}

static void
GroupAdd(CompactionGroup *group, Candidate *c)
{
	group->sources = lappend(group->sources, c->meta);
	group->rows += c->meta->row_count;
	group->deleted += c->deleted;
	group->bytes += c->meta->bytes;
}

/*
 * Pack candidates, in row order, into groups of about the target size (by
 * live bytes), appending them to plan->groups.
 */
static void
PackGroups(CompactionPlan *plan, Candidate **cands, int n, int64 target,
		   const char *reason, int tier)
{
	CompactionGroup *group = NULL;
	int64		group_live = 0;

	qsort(cands, n, sizeof(Candidate *), CompareByRow);
	for (int i = 0; i < n; i++)
	{
		if (group == NULL || (group_live > 0 &&
							  group_live + cands[i]->live_bytes > target))
		{
			group = NewGroup(reason, tier);
			plan->groups = lappend(plan->groups, group);
			group_live = 0;
		}
		GroupAdd(group, cands[i]);
		group_live += cands[i]->live_bytes;
	}
}

static int64
SmallLiveBytes(Candidate **small, int n)
{
	int64		total = 0;

	for (int i = 0; i < n; i++)
		total += small[i]->live_bytes;
	return total;
}

CompactionPlan *
CompactionPlanBuild(Relation rel, const CompactionRequest *request,
					Snapshot snapshot)
{
	Oid			relnode = rel->rd_node.relNode;
	CompactionPlan *plan = palloc0(sizeof(CompactionPlan));
	CompactionSettings settings;
	List	   *fragments = ManifestList(relnode, snapshot);
	int			nfrag = list_length(fragments);
	int64	   *deleted = palloc(sizeof(int64) * Max(nfrag, 1));
	Candidate  *all = palloc(sizeof(Candidate) * Max(nfrag, 1));
	Candidate **small = palloc(sizeof(Candidate *) * Max(nfrag, 1));
	Candidate **chosen = palloc(sizeof(Candidate *) * Max(nfrag, 1));
	Node	   *filter = NULL;
	int			nall = 0;
	int			nsmall = 0;
	int			nchosen = 0;
	ListCell   *lc;
	int			i = 0;

	plan->relid = RelationGetRelid(rel);
	CompactionSettingsGet(rel, &settings);
	if (request->filter)
		filter = CompactionFilterParse(rel, request->filter);
	(void) DeletionCount(relnode, snapshot, fragments, deleted, NULL);

	foreach(lc, fragments)
	{
		FragmentMeta *meta = lfirst(lc);
		Candidate  *c = &all[nall];

		if (meta->own && !request->include_own)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("cannot compact table \"%s\" because the current transaction has written to it",
							RelationGetRelationName(rel)),
					 errhint("Commit the transaction first.")));
		if (!CompactionFilterMayMatch(rel, filter, meta->stats))
		{
			i++;
			continue;
		}
		c->meta = meta;
		c->deleted = deleted[i++];
		c->live_bytes = meta->row_count > 0 ?
			(int64) ((double) meta->bytes * (meta->row_count - c->deleted) / meta->row_count) : 0;
		plan->fragments++;
		plan->bytes += meta->bytes;
		nall++;
	}

	/* the candidates */
	for (i = 0; i < nall; i++)
	{
		Candidate  *c = &all[i];
		bool		over_deleted = c->meta->row_count > 0 && c->deleted > 0 &&
			(double) c->deleted / c->meta->row_count >= settings.deleted_ratio;
		bool		is_small = c->live_bytes < settings.min_file_bytes &&
			c->live_bytes < settings.target_file_bytes / 2;

		if (request->rewrite_all || over_deleted ||
			(request->clustering != NULL &&
			 strcmp(c->meta->clustering ? c->meta->clustering : "none",
					request->clustering) != 0))
			chosen[nchosen++] = c;
		else if (is_small && !request->deleted_only)
			small[nsmall++] = c;
	}

	if (request->clustering != NULL)
	{
		/* one sort over everything chosen, plus the small ones if several */
		if (nsmall >= 2 || (nchosen > 0 && nsmall > 0))
			for (i = 0; i < nsmall; i++)
				chosen[nchosen++] = small[i];
		if (nchosen > 0)
		{
			CompactionGroup *group = NewGroup("cluster", -1);

			qsort(chosen, nchosen, sizeof(Candidate *), CompareByRow);
			for (i = 0; i < nchosen; i++)
				GroupAdd(group, chosen[i]);
			plan->groups = lappend(plan->groups, group);
		}
	}
	else
	{
		/*
		 * Fragments over the deleted ratio: small ones merge, big ones are
		 * rewritten each into its own new fragment, several to a group (one
		 * transaction and one parallel writer) up to the target size.
		 */
		Candidate **alone = palloc(sizeof(Candidate *) * Max(nchosen, 1));
		int			nalone = 0;

		for (i = 0; i < nchosen; i++)
		{
			if (chosen[i]->live_bytes < settings.min_file_bytes &&
				chosen[i]->live_bytes < settings.target_file_bytes / 2 &&
				!request->rewrite_all)
				small[nsmall++] = chosen[i];
			else if (!request->rewrite_all)
				alone[nalone++] = chosen[i];
		}
		if (nalone > 0)
		{
			int			before = list_length(plan->groups);

			PackGroups(plan, alone, nalone, settings.target_file_bytes,
					   "deleted", -1);
			for (int g = before; g < list_length(plan->groups); g++)
				((CompactionGroup *) list_nth(plan->groups, g))->one_per_source = true;
		}
		if (request->rewrite_all)
			PackGroups(plan, chosen, nchosen, settings.target_file_bytes, "all", -1);
		else if (request->min_tier_fragments <= 2)
		{
			/* merge every small fragment, unless one alone is clean */
			if (nsmall >= 2 || (nsmall == 1 && small[0]->deleted > 0))
				PackGroups(plan, small, nsmall, settings.target_file_bytes,
						   "small", 0);
		}
		else if (request->merge_small_bytes > 0 &&
				 SmallLiveBytes(small, nsmall) >= request->merge_small_bytes)
		{
			/* enough small bytes in all: merge them, whatever their tiers */
			PackGroups(plan, small, nsmall, settings.target_file_bytes,
					   "small", 0);
		}
		else
		{
			/* size tiers, smallest first */
			Candidate  *sorted = palloc(sizeof(Candidate) * Max(nsmall, 1));
			int			start = 0;
			int			tier = 0;

			for (i = 0; i < nsmall; i++)
				sorted[i] = *small[i];
			qsort(sorted, nsmall, sizeof(Candidate), CompareBySize);
			while (start < nsmall)
			{
				int64		floor = Max(sorted[start].live_bytes, 1);
				int			end = start;

				while (end < nsmall && sorted[end].live_bytes < floor * TIER_FACTOR)
					end++;
				if (end - start >= request->min_tier_fragments)
				{
					Candidate **tiered = palloc(sizeof(Candidate *) * (end - start));

					for (int j = start; j < end; j++)
						tiered[j - start] = &sorted[j];
					PackGroups(plan, tiered, end - start,
							   settings.target_file_bytes, "tier", tier);
				}
				start = end;
				tier++;
			}
		}
	}

	foreach(lc, plan->groups)
	{
		CompactionGroup *group = lfirst(lc);

		plan->read_bytes += group->bytes;
		plan->write_bytes += group->rows > 0 ?
			(int64) ((double) group->bytes * (group->rows - group->deleted) / group->rows) : 0;
	}
	return plan;
}

/* Print the plan (DRY_RUN, VERBOSE). */
void
CompactionPlanReport(const CompactionPlan *plan, const CompactionRequest *request,
					 int elevel)
{
	ListCell   *lc;
	int			g = 0;

	if (list_length(plan->groups) == 0)
	{
		ereport(elevel,
				(errmsg("nothing to compact in \"%s\": %d fragments, none needs rewriting",
						get_rel_name(plan->relid), plan->fragments)));
		return;
	}
	ereport(elevel,
			(errmsg("compaction plan for \"%s\": %d groups, %s, reading " INT64_FORMAT " bytes, writing about " INT64_FORMAT " bytes",
					get_rel_name(plan->relid), list_length(plan->groups),
					request->clustering ? request->clustering : "merge",
					plan->read_bytes, plan->write_bytes)));
	foreach(lc, plan->groups)
	{
		CompactionGroup *group = lfirst(lc);

		ereport(elevel,
				(errmsg("group %d (%s): %d fragments, " INT64_FORMAT " rows, " INT64_FORMAT " deleted, " INT64_FORMAT " bytes",
						++g, group->reason, list_length(group->sources),
						group->rows, group->deleted, group->bytes)));
	}
}
