#!/usr/bin/env bash
# Run the regression suite against a build of compact with AddressSanitizer
# and UBSan ("make check-sanitize").
#
#   1. clean, then build with PGXS and
#        COMPACT_CFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer
#                        -fno-sanitize-recover=undefined -DCOMPACT_DEBUG -Wno-error"
#      linked with the same -fsanitize (PG_LDFLAGS; PGXS links the shared
#      library with CFLAGS too, so libasan and libubsan become its NEEDED
#      entries) and without LLVM bitcode (with_llvm=no: no JIT inlining of
#      instrumented code);
#   2. install it (this REPLACES the installed compact.so);
#   3. run SUITES=tap COMPACT_DIFF_SEED=2 PROVE_TESTS=test/t/005_differential.pl scripts/check.sh with the sanitizer runtimes of the
#      compiler that built it (gcc, PGXS's CC) in LD_PRELOAD.
#
# Why LD_PRELOAD: the postgres binary is not instrumented, and ASan must be
# the first library of the process (it replaces malloc) before compact.so
# is loaded through shared_preload_libraries.  check.sh runs the suite as
# the postgres user through runuser, make and pg_regress, which all pass
# their environment on; pg_regress starts the temporary instance (initdb,
# then postgres) from its own environment, so the preload reaches the
# postmaster and every backend and worker it forks.  The other programs of
# the run (bash, make, psql, perl) get the runtime too, which is harmless.
# A stub swift_demangle is preloaded as well (see below: without it a
# preloaded ASan hangs postgres and psql before main).
#
#   ASAN_OPTIONS   detect_leaks=0 (a backend does not free everything at
#                  exit), abort_on_error=1 (a report kills the process, so
#                  the suite fails), log_path into a directory of its own
#   UBSAN_OPTIONS  print_stacktrace=1, halt_on_error=1, same log_path
#   PGOPTIONS      -c jit=off, as bitcode from an earlier install may remain
#
# Every report file found in the log directory afterwards is printed and
# fails the run, even if the suite passed; check.sh's output is kept there
# too (check.log), and its closing "N passed, N failed" line is repeated
# last.  The compiler's -Werror is
# relaxed (-Wno-error): gcc warns differently with sanitizers.
#
# Afterwards the installed library is still the sanitized one: "make
# install" (or "make check") puts back a normal build (the flags in
# .build-flags force a rebuild).
#
# Environment: PG_CONFIG, and what scripts/check.sh takes (CHECK_USER,
# CHECK_DIR, SUITE_TIMEOUT, KEEP_CHECK_DIR); SANITIZE_LOG_DIR (default: a
# new /tmp/compact-sanitize.XXXXXX, kept).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
export PG_CONFIG

scripts/deps.sh

flags="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined -DCOMPACT_DEBUG -Wno-error"
pgxs=(make --no-print-directory -f "$root/Makefile.pgxs" PG_CONFIG="$PG_CONFIG" with_llvm=no)

# --- build and install ------------------------------------------------------------
echo "=== check-sanitize: build with $flags ==="
"${pgxs[@]}" clean >/dev/null
# the top-level Makefile rebuilds from scratch when these differ from its own
echo "sanitize: $flags" >.build-flags
"${pgxs[@]}" COMPACT_CFLAGS="$flags" PG_LDFLAGS="-fsanitize=address,undefined" all
"${pgxs[@]}" COMPACT_CFLAGS="$flags" PG_LDFLAGS="-fsanitize=address,undefined" install

cc=$("$PG_CONFIG" --cc)
cc=${cc%% *}
libasan=$(readlink -f "$("$cc" -print-file-name=libasan.so)")
libubsan=$(readlink -f "$("$cc" -print-file-name=libubsan.so)")
for lib in "$libasan" "$libubsan"; do
	[ -f "$lib" ] || { echo "check-sanitize: sanitizer runtime not found: $lib" >&2; exit 2; }
done
installed=$("$PG_CONFIG" --pkglibdir)/compact.so
if ! ldd "$installed" | grep -q libasan; then
	echo "check-sanitize: $installed is not linked with libasan" >&2
	exit 2
fi
echo "check-sanitize: $installed is instrumented; preloading $libasan $libubsan"

# --- run --------------------------------------------------------------------------
logdir=${SANITIZE_LOG_DIR:-$(mktemp -d /tmp/compact-sanitize.XXXXXX)}
mkdir -p "$logdir"
chmod 1777 "$logdir"	# written by the postgres user
rm -f "$logdir"/asan.* "$logdir"/ubsan.*

# A preloaded ASan initializes at the first malloc.  In postgres and psql
# that is in libp11-kit's constructor (through libldap and gnutls), inside
# newlocale with glibc's locale lock held; ASan's initialization then
# looks up swift_demangle with dlsym, the failed lookup makes dlerror
# translate its message, which takes the same lock: the process hangs
# before main.  When the symbol exists the lookup does not fail, so a stub
# (that demangles nothing) is preloaded too.
cat >"$logdir/swift_demangle.c" <<'SWIFT'
#include <stddef.h>
char *swift_demangle(const char *mangled, size_t len, char *out,
					 size_t *outlen, unsigned flags);
char *
swift_demangle(const char *mangled, size_t len, char *out, size_t *outlen,
			   unsigned flags)
{
	return NULL;
}
SWIFT
"$cc" -shared -fPIC -O1 "$logdir/swift_demangle.c" -o "$logdir/swift_demangle.so"
chmod 755 "$logdir/swift_demangle.so"
preload="$libasan:$libubsan:$logdir/swift_demangle.so"
if ! LD_PRELOAD=$preload ASAN_OPTIONS=detect_leaks=0 timeout 30 \
	"$("$PG_CONFIG" --bindir)/postgres" -V >/dev/null; then
	echo "check-sanitize: postgres does not start with LD_PRELOAD=$preload" >&2
	exit 2
fi

env LD_PRELOAD="$preload" \
	ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:log_path=$logdir/asan" \
	UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$logdir/ubsan" \
	PGOPTIONS="${PGOPTIONS:+$PGOPTIONS }-c jit=off" \
	SUITES=tap COMPACT_DIFF_SEED=2 PROVE_TESTS=test/t/005_differential.pl scripts/check.sh 2>&1 | tee "$logdir/check.log"
rc=${PIPESTATUS[0]}

reports=$(find "$logdir" -type f \( -name 'asan.*' -o -name 'ubsan.*' \) -size +0 | sort)
if [ -n "$reports" ]; then
	echo
	echo "=== check-sanitize: sanitizer reports ==="
	for f in $reports; do
		echo "======== $f ========"
		head -n 200 "$f"
	done
	[ "$rc" -ne 0 ] || rc=1
fi
echo
echo "check-sanitize: sanitizer logs in $logdir ($(echo "$reports" | grep -c . || true) reports)"
echo "check-sanitize: the installed compact.so is the sanitized build; \"make install\" restores a normal one"
# check.sh's closing "N passed, N failed" stays the last line
last=$(tail -n 1 "$logdir/check.log")
if [[ $last =~ ^[0-9]+\ passed,\ [0-9]+\ failed$ ]]; then
	echo "$last"
fi
exit "$rc"
