/*-------------------------------------------------------------------------
 * aggregate.h
 *	  Aggregates CompactScan computes over decoded column arrays.
 *
 * IDENTIFICATION
 *	  src/scan/aggregate.h
 *-------------------------------------------------------------------------
 */
#ifndef COMPACT_SCAN_AGGREGATE_H
#define COMPACT_SCAN_AGGREGATE_H

#include "nodes/primnodes.h"

typedef struct AggSet AggSet;

/* aggregate.c */
extern bool AggSupported(Aggref *aggref, Index varno);
extern AggSet *AggSetCreate(List *aggrefs);
extern void AggSetReset(AggSet *set);
extern void AggSetAccumulate(AggSet *set, Datum **values, bool **isnull,
							 const int *rows, int nrows);
extern void AggSetResults(AggSet *set, Datum *values, bool *isnull);

#endif							/* COMPACT_SCAN_AGGREGATE_H */
