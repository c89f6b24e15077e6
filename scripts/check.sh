#!/usr/bin/env bash
# Run every test suite of compact against temporary instances.
# Called by "make check" after "make install".
#
#   regress    sql/*.sql (not compact--*.sql) vs expected/*.out
#   isolation  test/specs/*.spec vs test/expected/*.out
#   tap        test/t/*.pl (prove, PostgreSQL::Test::Cluster)
#
# initdb refuses to run as root, so as root the tree is copied (without .git)
# to a fresh directory owned by $CHECK_USER (default postgres) and the suites
# run there as that user, through PGXS's installcheck machinery
# (make -f Makefile.pgxs installcheck), one suite at a time, with
# --temp-instance and test/test.conf (shared_preload_libraries = 'compact').
# A suite without tests is skipped.
#
# The last line of output is "N passed, N failed" (tests for regress and
# isolation, test files for TAP); exit status is non-zero on any failure.
#
# Environment:
#   PG_CONFIG       pg_config to use (default /usr/lib/postgresql/15/bin/pg_config)
#   CHECK_USER      user to run as when root (default postgres)
#   CHECK_DIR       directory to copy the tree to (default: mktemp /tmp/compact-check.XXXXXX);
#                   wiped first, removed on success, kept on failure
#   SUITES          suites to run (default "regress isolation tap")
#   SUITE_TIMEOUT   seconds per suite before it is killed (default 600)
#   PROVE_FLAGS     extra flags for prove (e.g. -v)
#   PROVE_TESTS     the TAP files to run (default test/t/*.pl)
#   KEEP_CHECK_DIR  1 = keep the directory even on success
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
command -v "$PG_CONFIG" >/dev/null 2>&1 || { echo "check: pg_config not found: $PG_CONFIG" >&2; exit 2; }
bindir=$("$PG_CONFIG" --bindir)
pkglibdir=$("$PG_CONFIG" --pkglibdir)
SUITES=${SUITES:-regress isolation tap fuzz}
SUITE_TIMEOUT=${SUITE_TIMEOUT:-600}

if [ ! -f "$pkglibdir/compact.so" ]; then
	echo "check: $pkglibdir/compact.so is not installed; run \"make install\" first" >&2
	exit 2
fi

if [ "$(id -u)" -eq 0 ]; then
	CHECK_USER=${CHECK_USER:-postgres}
	id "$CHECK_USER" >/dev/null 2>&1 || { echo "check: user $CHECK_USER does not exist" >&2; exit 2; }
	as_user=(runuser -u "$CHECK_USER" --)
else
	CHECK_USER=$(id -un)
	as_user=()
fi

# --- copy the tree ----------------------------------------------------------
if [ -n "${CHECK_DIR:-}" ]; then
	work=$CHECK_DIR
	rm -rf "$work"
	mkdir -p "$work"
else
	work=$(mktemp -d /tmp/compact-check.XXXXXX)
fi
tar -C "$root" -cf - \
	--exclude=./.git --exclude=./results --exclude=./output_iso \
	--exclude='./tmp_check*' --exclude=./log --exclude='./regression.*' \
	--exclude=./test/bench/data --exclude=node_modules --exclude=./test/fuzz/build \
	--exclude='*.o' --exclude='*.bc' --exclude='*.so' . | tar -C "$work" -xf -
chmod 755 "$work"
[ ${#as_user[@]} -eq 0 ] || chown -R "$CHECK_USER:" "$work"
logs=$work/check-logs
mkdir -p "$logs"

cleanup() {
	cd / || true
	local pidfile
	# Stop any server a killed or crashed suite left behind (TAP nodes are
	# started with pg_ctl, which detaches them).
	while IFS= read -r pidfile; do
		[ -n "$pidfile" ] || continue
		"${as_user[@]}" "$bindir/pg_ctl" -D "$(dirname "$pidfile")" -m immediate -w stop >/dev/null 2>&1 || true
	done < <(find "$work" -name postmaster.pid 2>/dev/null)
	if [ "$overall" = 0 ] && [ "${KEEP_CHECK_DIR:-0}" != 1 ]; then
		rm -rf "$work"
	else
		echo "check: test directory kept: $work"
	fi
}
overall=1
trap cleanup EXIT

cd "$work" || exit 2

# --- helpers -------------------------------------------------------------------
total_pass=0
total_fail=0
summary=()

# run_make LOGFILE MAKE-ARGS...: make -f Makefile.pgxs installcheck as CHECK_USER
run_make() {
	local log=$1; shift
	"${as_user[@]}" env LC_ALL=C.UTF-8 PG_CONFIG="$PG_CONFIG" \
		timeout --kill-after=30 "$SUITE_TIMEOUT" \
		make --no-print-directory -f Makefile.pgxs PG_CONFIG="$PG_CONFIG" installcheck "$@" \
		2>&1 | tee "$log"
	return "${PIPESTATUS[0]}"
}

# parse_regress LOGFILE NTESTS RC: sets pass/fail from pg_regress's per-test
# lines ("test NAME ... ok"); a test that never reported ok (failed, or not
# run because pg_regress stopped early) counts as failed
parse_regress() {
	local log=$1 n=$2 rc=$3
	pass=$(grep -cE '^(test )? *[^ ]+ +\.\.\. ok( |$)' "$log" || true)
	[ "$pass" -le "$n" ] || pass=$n
	fail=$((n - pass))
	if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
		fail=1; pass=$((n - 1))	# all ok, yet pg_regress failed (e.g. at shutdown)
	fi
}

# show FILE [LINES]: print a file (its tail when LINES is given) for the CI log
show() {
	[ -s "$1" ] || return 0
	echo "======== ${1#"$work"/}${2:+ (last $2 lines)} ========"
	if [ -n "${2:-}" ]; then tail -n "$2" "$1"; else head -n 5000 "$1"; fi
}

# show_unexpected INPUTS-GLOB EXPECTED-DIR RESULTS-DIR: print the output of
# tests that have no expected file yet (seed the expected file from it)
show_unexpected() {
	local f n
	for f in $1; do
		n=$(basename "${f%.*}")
		[[ $n == compact--* ]] && continue
		if [ ! -f "$2/$n.out" ] && [ -f "$3/$n.out" ]; then
			echo "check: no expected file $2/$n.out; the test printed:"
			show "$work/$3/$n.out"
		fi
	done
}

record() {	# record SUITE RC NTESTS SECONDS
	local status=PASS
	[ "$2" -eq 0 ] && [ "$fail" -eq 0 ] || status=FAIL
	[ "$status" = PASS ] || suites_failed=1
	total_pass=$((total_pass + pass))
	total_fail=$((total_fail + fail))
	summary+=("$(printf '%-10s %s  %d/%d ok  (%ds)' "$1" "$status" "$pass" "$((pass + fail))" "$4")")
}
suites_failed=0

# --- suites --------------------------------------------------------------------
for suite in $SUITES; do
	start=$SECONDS
	log=$logs/$suite.log
	case $suite in
	regress)
		tests=$(ls sql/*.sql 2>/dev/null | grep -v '/compact--' | wc -l)
		if [ "$tests" -eq 0 ]; then summary+=("regress    SKIP  (no sql/*.sql tests)"); continue; fi
		echo "=== regress: $tests tests ==="
		run_make "$log" ISOLATION= TAP_TESTS= NO_LOCALE=1 ENCODING=UTF8 \
			EXTRA_REGRESS_OPTS="--temp-instance=$work/tmp_check_regress"
		rc=$?
		parse_regress "$log" "$tests" "$rc"
		if [ "$rc" -ne 0 ] || [ "$fail" -ne 0 ]; then
			show "$work/regression.diffs"
			show_unexpected 'sql/*.sql' expected results
			show "$work/log/postmaster.log" 80
			[ -s "$work/log/postmaster.log" ] || show "$work/log/initdb.log" 40
		fi
		;;
	isolation)
		tests=$(ls test/specs/*.spec 2>/dev/null | wc -l)
		if [ "$tests" -eq 0 ]; then summary+=("isolation  SKIP  (no test/specs/*.spec)"); continue; fi
		echo "=== isolation: $tests specs ==="
		run_make "$log" REGRESS= TAP_TESTS= NO_LOCALE=1 ENCODING=UTF8 \
			EXTRA_REGRESS_OPTS="--temp-instance=$work/tmp_check_iso"
		rc=$?
		parse_regress "$log" "$tests" "$rc"
		if [ "$rc" -ne 0 ] || [ "$fail" -ne 0 ]; then
			show "$work/output_iso/regression.diffs"
			show_unexpected 'test/specs/*.spec' test/expected output_iso/results
			show "$work/output_iso/log/postmaster.log" 80
			[ -s "$work/output_iso/log/postmaster.log" ] || show "$work/output_iso/log/initdb.log" 40
		fi
		;;
	tap)
		tests=$(ls ${PROVE_TESTS:-test/t/*.pl} 2>/dev/null | wc -l)
		if [ "$tests" -eq 0 ]; then summary+=("tap        SKIP  (no test/t/*.pl)"); continue; fi
		echo "=== tap: $tests test files ==="
		run_make "$log" REGRESS= ISOLATION= PROVE_FLAGS="${PROVE_FLAGS:-}"
		rc=$?
		files=$(sed -nE 's/^Files=([0-9]+), Tests=.*/\1/p' "$log" | tail -n 1)
		failed_files=$(grep -E '^[^ ]+\.pl +\(Wstat:' "$log" | awk '{print $1}' | sort -u)
		# files prove ran minus those it reported as failed; the rest (not
		# run after a bail-out or a kill) count as failed
		pass=$(( ${files:-0} - $(printf '%s' "$failed_files" | grep -c . || true) ))
		[ "$pass" -ge 0 ] || pass=0
		fail=$((tests - pass))
		if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then fail=1; pass=$((pass > 0 ? pass - 1 : 0)); fi
		if [ "$rc" -ne 0 ] || [ "$fail" -ne 0 ]; then
			# Logs of the failed files, or of all when prove did not say which.
			names=$(for f in ${failed_files:-${PROVE_TESTS:-test/t/*.pl}}; do basename "$f" .pl; done)
			for n in $names; do
				show "$work/tmp_check/log/regress_log_$n" 150
				for f in "$work"/tmp_check/log/"${n}"_*.log; do show "$f" 60; done
			done
		fi
		;;
	fuzz)
		# a short run of the libFuzzer targets (make fuzz runs them longer)
		tests=2
		echo "=== fuzz: $tests targets, ${CHECK_FUZZ_SECONDS:-60} s each ==="
		FUZZ_SECONDS=${CHECK_FUZZ_SECONDS:-60} timeout --kill-after=30 "$SUITE_TIMEOUT" \
			"$root/scripts/fuzz.sh" 2>&1 | tee "$log"
		rc=${PIPESTATUS[0]}
		pass=$(sed -n '/=== fuzz summary ===/,$p' "$log" | grep -cE '^[a-z]+ +PASS' || true)
		fail=$((tests - pass))
		;;
	*)
		echo "check: unknown suite $suite" >&2
		exit 2
		;;
	esac
	[ "$rc" -ne 124 ] && [ "$rc" -ne 137 ] || echo "check: $suite timed out after ${SUITE_TIMEOUT}s and was killed"
	record "$suite" "$rc" "$tests" "$((SECONDS - start))"
done

[ "$suites_failed" -eq 0 ] && [ "$total_fail" -eq 0 ] && overall=0
trap - EXIT
cleanup
echo
echo "=== summary ==="
for s in "${summary[@]}"; do echo "$s"; done
echo "$total_pass passed, $total_fail failed"
exit "$overall"
