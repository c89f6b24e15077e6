/*-------------------------------------------------------------------------
 * sortkey.h
 *	  Space-filling-curve keys: Z-order (Morton) and Hilbert over 2..8
 *	  columns, each normalized to its own value range first.
 *
 * IDENTIFICATION
 *	  src/compaction/sortkey.h
 *-------------------------------------------------------------------------
 */
#ifndef COMPACT_COMPACTION_SORTKEY_H
#define COMPACT_COMPACTION_SORTKEY_H

#include "compaction/compaction.h"

typedef struct CurveDim
{
	Oid			typid;
	double		lo;				/* value range of the column */
	double		hi;
	bool		have_range;
} CurveDim;

typedef struct CurveKeyState
{
	bool		hilbert;
	int			ndims;
	int			bits;			/* per dimension: 64 / ndims */
	CurveDim	dims[COMPACT_MAX_CURVE_COLUMNS];
} CurveKeyState;

/* sortkey.c */
extern bool CurveTypeSupported(Oid typid);
extern double CurveValue(Oid typid, Datum value);
extern void CurveKeyInit(CurveKeyState *state, bool hilbert, int ndims,
						 const Oid *typids);
extern bool CurveKeyAdopt(const CurveKeyState *state);
extern void CurveKeyWiden(CurveKeyState *state, int dim, Datum min, Datum max);
extern uint64 CurveKey(const CurveKeyState *state, const Datum *values,
					   const bool *isnull);

#endif							/* COMPACT_COMPACTION_SORTKEY_H */
