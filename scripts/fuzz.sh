#!/usr/bin/env bash
# Build and run the libFuzzer targets of compact (test/fuzz/README.md).
#
#   reader    any byte string as a fragment file (src/format/fragment_reader.c)
#   execute   the statement parser of compact.execute (src/commands/statement.c)
#
# Each target is a standalone executable built with clang-14 and
# -fsanitize=fuzzer,address,undefined from the sources in src/ it tests,
# test/fuzz/pg_stubs.c in place of the backend, and (execute) the core
# lexer and grammar of the PostgreSQL 15 source, fetched as Debian's
# postgresql-15 source package into test/fuzz/build/pgsrc (kept there).
# Nothing is installed into PostgreSQL's directories.
#
# Each target runs for FUZZ_SECONDS on a copy of its seed corpus
# (test/fuzz/corpus/<target>, in test/fuzz/build/work/<target>, so runs
# leave git alone) with -max_len=65536 -timeout=10.  Per target it prints
# executions and coverage (libFuzzer's final "Done N runs" and its last
# cov:/ft: figures).  Any crash, sanitizer report (AddressSanitizer,
# LeakSanitizer, UBSan with -fno-sanitize-recover), timeout or
# out-of-memory fails the run; libFuzzer keeps the input in
# test/fuzz/build/crashes/<target>/.  Replay one with
#   test/fuzz/build/fuzz_<target> FILE
#
# The last line is "N passed, N failed" (targets).
#
# Usage: scripts/fuzz.sh [target ...]      (default: all)
# Environment:
#   FUZZ_SECONDS   seconds per target (default 600; CI uses 60)
#   FUZZ_CC        clang to use (default clang-14)
#   FUZZ_FLAGS     extra libFuzzer flags (e.g. -seed=1, -runs=N)
#   FUZZ_CFLAGS    extra compiler flags (objects are rebuilt when they change)
#   FUZZ_BUILD     build directory (default test/fuzz/build)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
fuzzdir=$root/test/fuzz
build=${FUZZ_BUILD:-$fuzzdir/build}
FUZZ_SECONDS=${FUZZ_SECONDS:-600}
CC=${FUZZ_CC:-clang-14}
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
targets=${*:-reader execute}

for t in $targets; do
	case $t in
	reader | execute) ;;
	*) echo "fuzz: unknown target $t (reader, execute)" >&2; exit 2 ;;
	esac
done

# --- what is needed -------------------------------------------------------------
# clang-14 and libclang-rt-14-dev (libFuzzer and the sanitizer runtimes),
# bzip2 for the source tarball, on top of what deps.sh always wants.
DEPS_EXTRA="clang-14 libclang-rt-14-dev bzip2 ${DEPS_EXTRA:-}" "$root/scripts/deps.sh"
command -v "$CC" >/dev/null || { echo "fuzz: $CC not found" >&2; exit 2; }

mkdir -p "$build"
incdir=$("$PG_CONFIG" --includedir-server)
libdir=$("$PG_CONFIG" --libdir)
[ -f "$libdir/libpgcommon.a" ] || libdir=$("$PG_CONFIG" --pkglibdir)

# --- the PostgreSQL 15 source ----------------------------------------------------
# Debian's source package of the installed server (or the newest the
# archive has, if that one is gone), through private apt lists so that the
# system's apt configuration is left as it is.  Its tarball carries the
# generated gram.c and scan.c, so neither bison nor flex is needed.
pg_source() {
	local srcroot=$build/pgsrc
	local installed upstream dir lists etc
	installed=$(dpkg-query -W -f='${Version}' postgresql-server-dev-15)
	upstream=${installed%%-*}
	dir=$(ls -d "$srcroot"/postgresql-15.*/ 2>/dev/null | head -n 1 || true)
	if [ -n "$dir" ] && [ -f "$dir/src/backend/parser/gram.c" ]; then
		pgsrc=${dir%/}
		return 0
	fi
	rm -rf "$srcroot"
	mkdir -p "$srcroot/apt/lists/partial" "$srcroot/apt/etc" "$srcroot/dl"
	etc=$srcroot/apt/etc
	lists=$srcroot/apt/lists
	: >"$etc/sources.list"
	if [ -f /etc/apt/sources.list ]; then
		sed -n 's/^deb \(.*\)$/deb-src \1/p' /etc/apt/sources.list >>"$etc/sources.list"
	fi
	mkdir -p "$etc/sources.list.d"
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		sed 's/^Types: *deb *$/Types: deb-src/' "$f" >"$etc/sources.list.d/$(basename "$f")"
	done
	for f in /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		sed -n 's/^deb \(.*\)$/deb-src \1/p' "$f" >"$etc/sources.list.d/$(basename "$f")"
	done
	local apt=(apt-get -q -o Dir::Etc::SourceList="$etc/sources.list"
		-o Dir::Etc::SourceParts="$etc/sources.list.d" -o Dir::State::Lists="$lists"
		-o DPkg::Lock::Timeout=300)
	echo "fuzz: fetching the source of postgresql-15 $installed (Debian source package)"
	"${apt[@]}" update >/dev/null
	# the installed version first, then the others the archive lists
	local v got=
	for v in "$installed" $("${apt[@]/apt-get/apt-cache}" showsrc postgresql-15 2>/dev/null |
		sed -n 's/^Version: //p' | sort -rV); do
		rm -f "$srcroot"/dl/*
		if (cd "$srcroot/dl" && "${apt[@]}" source --download-only "postgresql-15=$v" >/dev/null 2>&1); then
			got=$v
			break
		fi
	done
	[ -n "$got" ] || { echo "fuzz: could not download the postgresql-15 source package" >&2; exit 2; }
	tar -C "$srcroot" -xjf "$srcroot"/dl/postgresql-15_*.orig.tar.bz2 --wildcards \
		'postgresql-15.*/src/backend/parser/*' 'postgresql-15.*/src/backend/nodes/*' \
		'postgresql-15.*/src/common/*' 'postgresql-15.*/src/include/*'
	rm -rf "$srcroot/dl" "$srcroot/apt"
	dir=$(ls -d "$srcroot"/postgresql-15.*/ | head -n 1)
	pgsrc=${dir%/}
	[ "$(basename "$pgsrc")" = "postgresql-$upstream" ] ||
		echo "fuzz: note: using the source of $(basename "$pgsrc") for the installed $upstream"
}
pg_source
# The grammar's token numbers are compiled into statement.c through the
# installed parser/gram.h: the source must agree with it.
if ! cmp -s "$pgsrc/src/backend/parser/gram.h" "$incdir/parser/gram.h"; then
	echo "fuzz: $pgsrc/src/backend/parser/gram.h differs from the installed $incdir/parser/gram.h" >&2
	exit 2
fi

# --- build ---------------------------------------------------------------------
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
cflags="-g -O1 -fno-omit-frame-pointer $san -fsanitize=fuzzer-no-link \
	-Wno-ignored-attributes ${FUZZ_CFLAGS:-} -I$fuzzdir -I$root/src -I$incdir"
obj=$build/obj
mkdir -p "$obj"
# objects of other flags (FUZZ_CFLAGS, another compiler) are rebuilt
if [ "$(cat "$obj/.flags" 2>/dev/null)" != "$CC $cflags" ]; then
	rm -f "$obj"/*.o
	echo "$CC $cflags" >"$obj/.flags"
fi

# compile SOURCE [FLAGS...]: to $obj/<dir>_<name>.o, when older than the source
compile() {
	local src=$1; shift
	local dir
	dir=$(basename "$(dirname "$src")")
	local o=$obj/${dir}_$(basename "${src%.c}").o
	if [ ! -f "$o" ] || [ "$src" -nt "$o" ] || [ "$fuzzdir/fuzz_pg.h" -nt "$o" ] ||
		[ "$0" -nt "$o" ]; then
		# shellcheck disable=SC2086
		"$CC" -c $cflags "$@" "$src" -o "$o"
	fi
	echo "$o"
}

ours_warn="-Wall -Wno-unused-parameter -Wno-sign-compare -Wno-missing-field-initializers -Wno-unused-command-line-argument"
# PostgreSQL's own sources keep AddressSanitizer and the fuzzer's coverage
# but not UBSan nor -O1: the grammar (gram.c) then builds in seconds instead
# of five minutes, which CI's time limit cannot afford
pg_flags="-w -O0 -fno-sanitize=undefined"
common_objs=()
for f in stringinfo psprintf wchar hashfn keywords kwlookup; do
	# shellcheck disable=SC2086
	common_objs+=("$(compile "$pgsrc/src/common/$f.c" $pg_flags)")
done
stub_objs=("$(compile "$fuzzdir/pg_stubs.c" $ours_warn)")

# link NAME OBJECTS...
link() {
	local name=$1; shift
	# shellcheck disable=SC2086
	"$CC" -g $san -fsanitize=fuzzer "$@" -lzstd \
		"$libdir/libpgcommon.a" "$libdir/libpgport.a" -lm -o "$build/fuzz_$name"
}

for t in $targets; do
	echo "=== build $t ==="
	objs=("${stub_objs[@]}" "${common_objs[@]}")
	case $t in
	reader)
		for f in format/fragment_reader format/page_codec format/encoding; do
			objs+=("$(compile "$root/src/$f.c" $ours_warn)")
		done
		objs+=("$(compile "$fuzzdir/fuzz_reader.c" $ours_warn)")
		;;
	execute)
		objs+=("$(compile "$root/src/commands/statement.c" $ours_warn)")
		for f in parser/gram parser/scan parser/parser parser/scansup \
			nodes/list nodes/makefuncs nodes/value nodes/copyfuncs \
			nodes/equalfuncs nodes/nodeFuncs nodes/bitmapset; do
			# shellcheck disable=SC2086
			objs+=("$(compile "$pgsrc/src/backend/$f.c" $pg_flags -I"$pgsrc/src/backend/parser")")
		done
		objs+=("$(compile "$fuzzdir/backend_stubs.c" $ours_warn)")
		objs+=("$(compile "$fuzzdir/fuzz_execute.c" $ours_warn)")
		objs+=(-Wl,--wrap=core_yylex)
		;;
	esac
	link "$t" "${objs[@]}"
done

# --- run -----------------------------------------------------------------------
passed=0
failed=0
summary=()
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:symbolize=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export FUZZ_ERROR_SUMMARY=1
for t in $targets; do
	work=$build/work/$t
	crashes=$build/crashes/$t
	log=$build/fuzz_$t.log
	rm -rf "$work"
	mkdir -p "$work/corpus" "$crashes"
	cp "$fuzzdir/corpus/$t"/* "$work/corpus/"
	dict=()
	[ -f "$fuzzdir/$t.dict" ] && dict=(-dict="$fuzzdir/$t.dict")
	before=$(ls "$crashes" | wc -l)
	echo "=== fuzz $t: ${FUZZ_SECONDS}s, $(ls "$work/corpus" | wc -l) seeds ==="
	rc=0
	# shellcheck disable=SC2086
	"$build/fuzz_$t" "$work/corpus" "${dict[@]}" \
		-max_total_time="$FUZZ_SECONDS" -max_len=65536 -timeout=10 \
		-rss_limit_mb=4096 -print_final_stats=1 \
		-artifact_prefix="$crashes/" ${FUZZ_FLAGS:-} >"$log" 2>&1 || rc=$?
	done_line=$(grep -E '^Done [0-9]+ runs' "$log" | tail -n 1 || true)
	last_stats=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -n 1 || true)
	cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last_stats")
	ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last_stats")
	corp=$(sed -nE 's/.* corp: ([0-9]+\/[0-9]+[a-zA-Z]*).*/\1/p' <<<"$last_stats")
	execs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$log" | tail -n 1)
	after=$(ls "$crashes" | wc -l)
	sed -n '/^fuzz: inputs ended by an ERROR/,/^[^f]/p' "$log" | grep '^fuzz:' || true
	if [ "$rc" -eq 0 ] && [ "$after" -eq "$before" ]; then
		status=PASS
		passed=$((passed + 1))
	else
		status=FAIL
		failed=$((failed + 1))
		echo "======== $log (last 80 lines) ========"
		tail -n 80 "$log"
		echo "fuzz: $t failed (exit $rc); inputs kept in $crashes:"
		ls -t "$crashes" | head -n 5 | sed "s|^|  $crashes/|"
	fi
	line=$(printf '%-8s %s  %s execs, cov: %s ft: %s corp: %s  (%s)' "$t" "$status" \
		"${execs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "${done_line:-no final line}")
	echo "$line"
	summary+=("$line")
done

echo
echo "=== fuzz summary ==="
for s in "${summary[@]}"; do echo "$s"; done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
