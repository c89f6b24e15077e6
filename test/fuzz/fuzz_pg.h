/*-------------------------------------------------------------------------
 * fuzz_pg.h
 *	  What the fuzz targets get from pg_stubs.c, the stand-in for the
 *	  backend: one memory context per input, and the ERROR that ended it.
 *
 * IDENTIFICATION
 *	  test/fuzz/fuzz_pg.h
 *-------------------------------------------------------------------------
 */
#ifndef COMPACT_TEST_FUZZ_PG_H
#define COMPACT_TEST_FUZZ_PG_H

#include "utils/palloc.h"

/* the ERROR (or the last report below ERROR) of the current input */
typedef struct FuzzError
{
	int			elevel;
	int			sqlerrcode;
	char		message[512];
	char		detail[512];
	const char *filename;
	int			lineno;
	const char *funcname;
} FuzzError;

/* pg_stubs.c */
extern MemoryContext FuzzBeginInput(void);
extern void FuzzEndInput(void);
extern void FuzzErrorCaught(const char *target);
extern const FuzzError *FuzzLastError(void);

#endif							/* COMPACT_TEST_FUZZ_PG_H */
