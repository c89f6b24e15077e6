#!/usr/bin/env bash
# compact benchmarks, side by side with a heap table in the same run.
#
#   make bench                      10M rows (BENCH_ROWS=N to scale)
#   BENCH_ONLY=copy make bench      one case (or a comma list: copy,size)
#   BENCH_REPS=5 make bench         repetitions per case (default 3, median)
#
# Starts a throwaway cluster (settings printed below), generates the events
# data with gen_events.c (../shared/bench; every row a function of its id),
# runs each case on compact and on its peer with a warm-up and BENCH_REPS
# repetitions, and prints one line per case:
#
#   bench: <case> compact=<median> <peer>=<median> ratio=<compact/peer>
#
# (seconds; bytes for "size"), then a markdown table for README.md.
# Cases whose feature does not exist yet are listed as not yet available.
#
# Peers outside PostgreSQL, in the cases that have one, each on its own line:
#   lancedb    merge, delete_materialize: table.optimize() (@lancedb/lancedb)
#   duckdb     size, sort, zorder_1m, hilbert_1m: zstd Parquet writes
#              (@duckdb/node-api)
#   pg_repack  sort: pg_repack --order-by (Debian's postgresql-15-repack)
# The npm packages go into test/bench/peers/node_modules on first use (npm
# install, test/bench/peers/package.json), pg_repack through apt-get, and only
# when a case that uses them is selected. BENCH_PEERS=none (or a comma list,
# e.g. duckdb,pg_repack) leaves peers out; a peer left out or that cannot be
# installed or run prints "bench: <case> <peer> skipped (<reason>)".
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
bindir=$("$PG_CONFIG" --bindir)
ROWS=${BENCH_ROWS:-10000000}
REPS=${BENCH_REPS:-3}
ONLY=${BENCH_ONLY:-}
PORT=${BENCH_PORT:-5434}
datadir=$root/test/bench/data
mkdir -p "$datadir"

if [ "$(id -u)" -eq 0 ]; then as_user=(runuser -u postgres --); else as_user=(); fi

# data
gcc -O2 -o "$datadir/gen_events" "$root/test/bench/gen_events.c"
csv=$datadir/events_$ROWS.csv
[ -s "$csv" ] || "$datadir/gen_events" "$ROWS" > "$csv"
chmod 755 "$datadir"; chmod 644 "$csv"

dir=$(mktemp -d /tmp/compact-bench.XXXXXX)
chmod 755 "$dir"
[ ${#as_user[@]} -eq 0 ] || chown postgres: "$dir"
cd "$dir"
# Huge pages for the cluster's shared memory (shared_buffers and the
# compaction's shared work memory), as a DBA of a dedicated server sets
# them up (huge_pages = try takes them when they are there): as root, the
# bench reserves them for the run and gives them back at the end.
# BENCH_HUGE_PAGES=0 leaves vm.nr_hugepages alone.
hp_file=/proc/sys/vm/nr_hugepages
hp_old=
if [ "${BENCH_HUGE_PAGES:-1}" != 0 ] && [ "$(id -u)" -eq 0 ] && [ -w "$hp_file" ]; then
	hp_old=$(cat "$hp_file")
	hp_want=1700	# 2 MB pages: 2 GB + 1 GB and the rest of the segment
	[ "$hp_old" -ge "$hp_want" ] || echo "$hp_want" > "$hp_file" || true
fi
finish() {
	"${as_user[@]}" "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
	[ -z "$hp_old" ] || echo "$hp_old" > "$hp_file" || true
	cd /; rm -rf "$dir"
}
trap finish EXIT

"${as_user[@]}" "$bindir/initdb" -D "$dir/data" -A trust --no-locale -E UTF8 >/dev/null
cat >> "$dir/data/postgresql.conf" <<CONF
shared_preload_libraries = 'compact'
listen_addresses = ''
unix_socket_directories = '$dir'
port = $PORT
shared_buffers = '2GB'
maintenance_work_mem = '1GB'
compact.shared_work_mem = '1GB'	# a group's maps and sort of maintenance_work_mem fit
work_mem = '256MB'
max_wal_size = '20GB'
checkpoint_timeout = '30min'
wal_level = 'replica'
max_parallel_workers_per_gather = 0
compact.auto_compact = off	# on only in the cases that measure it
CONF
"${as_user[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start >/dev/null

psql_() { PGOPTIONS='-c client_min_messages=warning' "${as_user[@]}" "$bindir/psql" -X -q -h "$dir" -p "$PORT" -d postgres -v ON_ERROR_STOP=1 "$@"; }

now() { date +%s.%N; }
# time one statement inside its session (psql's \timing: no psql start or
# connection set-up, 45-65 ms here, as DuckDB and LanceDB are timed around
# their statement inside their process)
qtimed() { psql_ -c '\timing on' -c "$1" | awk '/^Time:/ {t += $2} END {printf "%.4f\n", t / 1000}'; }
# time one SQL script (seconds)
timed() { local t0 t1; t0=$(now); psql_ -c "$1" >/dev/null; t1=$(now); awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.4f\n", b - a}'; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f\n", (b > 0) ? a / b : 0}'; }

declare -a TABLE_ROWS
report() {	# case compact peername peer unit
	local r; r=$(ratio "$2" "$4")
	printf 'bench: %s compact=%s %s=%s ratio=%s\n' "$1" "$(printf %.3f "$2")" "$3" "$(printf %.3f "$4")" "$r"
	TABLE_ROWS+=("| $1 | $(printf %.3f "$2") | $3 | $(printf %.3f "$4") | $r |")
}
want() { [ -z "$ONLY" ] || [[ ",$ONLY," == *",$1,"* ]]; }	# BENCH_ONLY: one case or a comma list

# peers outside PostgreSQL (see the top of this file)
PEERS=${BENCH_PEERS:-all}
peersdir=$root/test/bench/peers
declare -A PEER_SKIP=()		# peer -> why it is skipped
declare -A PEER_SET_UP=()
peer_setup() {	# peer: install it if needed (once), or set PEER_SKIP[peer]
	local p=$1 mod t0 log=$dir/peers_install.log stamp=$peersdir/node_modules/.bench-installed
	[ -z "${PEER_SET_UP[$p]:-}" ] || return 0
	PEER_SET_UP[$p]=1
	case ",$PEERS," in *,all,*|*",$p,"*) ;; *) PEER_SKIP[$p]="BENCH_PEERS=$PEERS"; return 0 ;; esac
	case $p in
	lancedb|duckdb)
		mod=$([ "$p" = lancedb ] && echo @lancedb/lancedb || echo @duckdb/node-api)
		if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
			PEER_SKIP[$p]="node or npm not found"; return 0
		fi
		# (re)install when package.json changed since the last install
		if [ -z "${npm_failed:-}" ] && ! cmp -s "$peersdir/package.json" "$stamp"; then
			t0=$(now)
			if npm install --prefix "$peersdir" --no-audit --no-fund --no-package-lock >"$log" 2>&1; then
				cp "$peersdir/package.json" "$stamp"
				echo "== peers: npm install took $(awk -v a="$t0" -v b="$(now)" 'BEGIN {printf "%.1f", b - a}') s"
			else
				sed 's/^/npm: /' "$log" | tail -5 >&2
				npm_failed="npm install failed: $(grep -m1 -E '^npm (ERR!|error) ' "$log" | sed -E 's/^npm (ERR!|error) +//' | cut -c1-100)"
			fi
		fi
		[ -z "${npm_failed:-}" ] || { PEER_SKIP[$p]=$npm_failed; return 0; }
		(cd "$peersdir" && node -e "import('$mod').then(() => process.exit(0), e => { console.error(String(e)); process.exit(1) })") >"$log" 2>&1 ||
			{ PEER_SKIP[$p]="cannot load $mod: $(head -1 "$log" | cut -c1-100)"; return 0; }
		echo "== peers: $mod $(node -p "require('$peersdir/node_modules/$mod/package.json').version")"
		;;
	pg_repack)
		local pkg="postgresql-$("$PG_CONFIG" --version | sed 's/^PostgreSQL \([0-9]*\).*/\1/')-repack"
		if [ ! -x "$bindir/pg_repack" ]; then
			[ "$(id -u)" -eq 0 ] || { PEER_SKIP[$p]="$pkg not installed, and not root to install it"; return 0; }
			t0=$(now)
			{ DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$pkg" ||
				{ apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$pkg"; }; } >"$log" 2>&1 || true
			[ -x "$bindir/pg_repack" ] ||
				{ PEER_SKIP[$p]="apt-get install $pkg failed: $(grep -m1 '^E:' "$log" | cut -c1-100)"; return 0; }
			echo "== peers: apt-get install $pkg took $(awk -v a="$t0" -v b="$(now)" 'BEGIN {printf "%.1f", b - a}') s"
		fi
		psql_ -c "CREATE EXTENSION IF NOT EXISTS pg_repack" >"$log" 2>&1 ||
			{ PEER_SKIP[$p]="CREATE EXTENSION pg_repack failed: $(head -1 "$log" | cut -c1-100)"; return 0; }
		echo "== peers: $("$bindir/pg_repack" --version)"
		;;
	esac
}
# peer_ok case peer: whether the peer runs; if not, says it is skipped
peer_ok() {
	peer_setup "$2"
	[ -n "${PEER_SKIP[$2]:-}" ] || return 0
	peer_skip "$1" "$2" "${PEER_SKIP[$2]}"
	return 1
}
peer_skip() {	# case peer reason
	echo "bench: $1 $2 skipped ($3)"
	TABLE_ROWS+=("| $1 | | $2 | skipped | |")
}
# run a peer script, one output line per run; runs 2.. are measured, run 1 is
# the warm-up (the peers build their starting state again for each run)
peer_runs() {	# out script args...
	local out=$1; shift
	node "$peersdir/$1" "${@:2}" >"$out" 2>"$out.err" || { tail -3 "$out.err" >&2; return 1; }
}
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" "$2"; }	# name file: the values of name=
measured() { field "$1" "$2" | tail -n +2; }	# name file: without run 1
mb() { awk -v b="$1" 'BEGIN {printf "%.1f MB", b / 1048576}'; }
# LanceDB: table.optimize() of the first $2 rows appended as $3 fragments
# (mode merge), or after deleting id % 5 = 0 from them (mode delete); each
# run writes the table again (untimed), run 1 is a warm-up
lancedb_peer() {	# case rows fragments mode
	peer_ok "$1" lancedb || return 0
	local out=$dir/lancedb_$1.out v
	peer_runs "$out" lancedb.mjs "$csv" "$4" "$2" "$3" $((REPS + 1)) "$dir/lancedb" ||
		{ peer_skip "$1" lancedb "run failed: $(tail -1 "$out.err" | cut -c1-100)"; return 0; }
	mapfile -t v < <(measured seconds "$out")
	report "$1" "$last_compact" lancedb "$(median "${v[@]}")"
	echo "$1: lancedb $(field fragments_before "$out" | tail -1) fragments -> $(field fragments_after "$out" | tail -1), $(field rows_after "$out" | tail -1) rows, $(mb "$(field bytes_after "$out" | tail -1)") after ($(mb "$(field dir_bytes "$out" | tail -1)") with old versions); runs: $(field seconds "$out" | tr '\n' ' ')(run 1 = warm-up)"
}
# DuckDB: zstd Parquet writes of the first $3 rows from an in-memory table:
# sort (ORDER BY user_id, ts), morton (ORDER BY a Z-order key of lat, lon),
# size (id order, one run); run 1 is a warm-up. Sets duck_s and duck_bytes.
duckdb_peer() {	# case mode rows
	peer_ok "$1" duckdb || return 1
	local out=$dir/duckdb_$2_$3.out v runs=$((REPS + 1))
	[ "$2" = size ] && runs=1
	[ -s "$out" ] || peer_runs "$out" duckdb.mjs "$csv" "$2" "$3" "$runs" "$dir/duckdb" ||
		{ rm -f "$out"; peer_skip "$1" duckdb "run failed: $(tail -1 "$out.err" | cut -c1-100)"; return 1; }
	if [ "$2" = size ]; then v=$(field seconds "$out"); else mapfile -t v < <(measured seconds "$out"); fi
	duck_s=$(median "${v[@]}")
	duck_bytes=$(field bytes "$out" | tail -1)
	duck_runs="runs: $(field seconds "$out" | tr '\n' ' ')$([ "$2" = size ] || echo "(run 1 = warm-up)")"
}

cols="id bigint, ts timestamptz, user_id int, lat float8, lon float8, amount float8, category text, payload text"
psql_ -c "CREATE EXTENSION compact"

echo "== compact bench: $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo none)"
echo "== machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r)"
echo "== $("$bindir/postgres" --version); rows: $ROWS; repetitions: $REPS (median, after a warm-up)"
echo "== settings: $(psql_ -At -c "SELECT string_agg(name || '=' || setting, ' ') FROM pg_settings WHERE name IN ('shared_buffers','work_mem','maintenance_work_mem','max_parallel_workers_per_gather','compact.compression_level','compact.row_group_size','compact.write_buffer_size','compact.shared_work_mem')")"
echo "== huge pages: $(grep -E '^HugePages_(Total|Free|Rsvd)' /proc/meminfo | tr -s ' ' | paste -sd ' ')"

load() {	# table am
	psql_ -c "DROP TABLE IF EXISTS $1; CREATE TABLE $1 ($cols) USING $2"
	timed "COPY $1 FROM '$csv' (FORMAT csv)"
}

# copy: COPY the CSV into a fresh table, heap vs compact
if want copy || want size || want scan_all || want scan_2col || want scan_2col_parallel; then
	hc=(); cc=()
	load ev_heap heap >/dev/null; load ev_compact compact >/dev/null	# warm-up
	for _ in $(seq "$REPS"); do
		hc+=("$(load ev_heap heap)")
		cc+=("$(load ev_compact compact)")
	done
	psql_ -c "VACUUM ANALYZE ev_heap" -c "VACUUM ANALYZE ev_compact" >/dev/null
	want copy && report copy "$(median "${cc[@]}")" heap "$(median "${hc[@]}")"
	hs=$(psql_ -At -c "SELECT pg_total_relation_size('ev_heap')")
	cs=$(psql_ -At -c "SELECT compact.table_size('ev_compact')")
	want size && report size "$cs" heap "$hs"
	if want size && duckdb_peer size size "$ROWS"; then
		report size "$cs" duckdb "$duck_bytes"
		echo "size: duckdb Parquet zstd of the $ROWS rows: $(mb "$duck_bytes") (written in $(printf %.2f "$duck_s") s)"
	fi
	echo "fragments: $(psql_ -At -c "SELECT count(*) || ' fragments, ' || pg_size_pretty(sum(bytes)) || ', ' || sum(row_groups) || ' row groups' FROM compact.fragments WHERE relation = 'ev_compact'::regclass")"
fi

run_query() {	# case sql
	local hq=() cq=()
	qtimed "${2//TBL/ev_heap}" >/dev/null; qtimed "${2//TBL/ev_compact}" >/dev/null
	for _ in $(seq "$REPS"); do
		hq+=("$(qtimed "${2//TBL/ev_heap}")")
		cq+=("$(qtimed "${2//TBL/ev_compact}")")
	done
	report "$1" "$(median "${cq[@]}")" heap "$(median "${hq[@]}")"
}
want scan_all && run_query scan_all "SELECT sum(id), max(ts), sum(user_id), sum(lat), sum(lon), sum(amount), max(category), max(payload) FROM TBL"
want scan_2col && run_query scan_2col "SELECT count(*), sum(amount), avg(lat) FROM TBL"
# the same with two parallel workers (the machine's two cores) on both sides
want scan_2col_parallel && run_query scan_2col_parallel "SET max_parallel_workers_per_gather = 2; SELECT count(*), sum(amount), avg(lat) FROM TBL"

# compaction cases: each repetition rebuilds the starting state (untimed),
# then times the compaction and its heap peer on the same rows.
need_loaded() {
	psql_ -At -c "SELECT to_regclass('ev_compact') IS NOT NULL AND to_regclass('ev_heap') IS NOT NULL" | grep -q t && return
	load ev_heap heap >/dev/null; load ev_compact compact >/dev/null
}
# a compact table of the first $2 rows in $3 fragments, and its heap twin
fragmented() {	# name rows fragments
	local step=$(( ($2 + $3 - 1) / $3 ))
	psql_ -c "DROP TABLE IF EXISTS $1, ${1}_heap; CREATE TABLE $1 ($cols) USING compact; CREATE TABLE ${1}_heap ($cols)"
	psql_ >/dev/null <<<"SELECT format('INSERT INTO $1 SELECT * FROM ev_compact WHERE id > %s AND id <= %s', i * $step, least((i + 1) * $step, $2)) FROM generate_series(0, $3 - 1) i \\gexec"
	psql_ -c "INSERT INTO ${1}_heap SELECT * FROM ev_compact WHERE id <= $2"
}
compaction_case() {	# case rows fragments prepare(both) compact(sql) peername peer(sql) [prepare compact] [prepare heap]
	local hq=() cq=() i c h
	for i in $(seq 0 "$REPS"); do
		fragmented cc "$2" "$3"
		[ -z "$4" ] || psql_ -c "${4//TBL/cc}" -c "${4//TBL/cc_heap}" >/dev/null
		[ -z "${8:-}" ] || psql_ -c "${8//TBL/cc}" >/dev/null
		[ -z "${9:-}" ] || psql_ -c "${9//TBL/cc_heap}" >/dev/null
		psql_ -c "CHECKPOINT" >/dev/null
		c=$(qtimed "${5//TBL/cc}"); h=$(qtimed "${7//TBL/cc_heap}")
		[ "$i" -eq 0 ] && continue		# warm-up
		cq+=("$c"); hq+=("$h")
	done
	[ "$(psql_ -At -c "SELECT count(*) FROM cc")" = "$(psql_ -At -c "SELECT count(*) FROM cc_heap")" ] ||
		{ echo "bench: $1: row counts differ" >&2; exit 1; }
	last_compact=$(median "${cq[@]}")
	report "$1" "$last_compact" "$6" "$(median "${hq[@]}")"
	echo "$1: $(psql_ -At -c "SELECT count(*) || ' fragments, ' || pg_size_pretty(sum(bytes)) || ', ' || sum(deleted_rows) || ' deleted rows still in them' FROM compact.fragments WHERE relation = 'cc'::regclass") after"
}
# peak RSS of the backend that runs a compaction (VmHWM of a fresh session:
# its private memory plus the shared memory it touched in 4 kB pages; in
# huge pages, none), with all of compact.shared_work_mem added, against the
# memory limit (maintenance_work_mem) plus 64 MB
peak_rss() {	# case rows fragments compact(sql)
	local kb limit shared_kb
	fragmented cc "$2" "$3"
	kb=$(psql_ -At -c "${4//TBL/cc}" -c "SELECT (regexp_match(pg_read_file('/proc/self/status'), 'VmHWM:\s+(\d+)'))[1]")
	limit=$(psql_ -At -c "SELECT setting::bigint FROM pg_settings WHERE name = 'maintenance_work_mem'")
	# the group's row maps and sort may sit in compact.shared_work_mem, which
	# VmHWM does not count (shared, in huge pages): count all of it
	shared_kb=$(psql_ -At -c "SELECT setting::bigint * 1024 FROM pg_settings WHERE name = 'compact.shared_work_mem'")
	echo "$1: peak RSS of the compacting backend $((kb / 1024)) MB + compact.shared_work_mem $((shared_kb / 1024)) MB = $(((kb + shared_kb) / 1024)) MB (limit: maintenance_work_mem $((limit / 1024)) MB + 64 MB: $([ $((kb + shared_kb)) -le $((limit + 65536)) ] && echo met || echo not met))"
}
if want merge; then
	need_loaded
	compaction_case merge "$ROWS" 100 "" "VACUUM (COMPACT) TBL" "vacuum_full" "VACUUM FULL TBL"
	peak_rss merge "$ROWS" 100 "VACUUM (COMPACT) TBL"
	lancedb_peer merge "$ROWS" 100 merge
fi
if want delete_materialize; then
	need_loaded
	# every fragment is over the deleted ratio (each has 20% of its rows
	# deleted), so that all of them are rewritten, as LanceDB's are
	compaction_case delete_materialize "$ROWS" 10 "DELETE FROM TBL WHERE id % 5 = 0" \
		"VACUUM TBL" "vacuum_full" "VACUUM FULL TBL" \
		"ALTER TABLE TBL SET (compact_min_file_size_mb = 1, compact_deleted_ratio = 0.1)"
	# the same starting state as compact's: the rows in 10 fragments, then the delete
	lancedb_peer delete_materialize "$ROWS" 10 delete
fi
# a query on cc and on cc_heap, the heap read by a sequential scan
cc_query() {	# case sql
	local hq=() cq=() seq="SET enable_indexscan = off; SET enable_bitmapscan = off;"
	qtimed "$seq ${2//TBL/cc}" >/dev/null; qtimed "$seq ${2//TBL/cc_heap}" >/dev/null
	for _ in $(seq "$REPS"); do
		hq+=("$(qtimed "$seq ${2//TBL/cc_heap}")")
		cq+=("$(qtimed "$seq ${2//TBL/cc}")")
	done
	report "$1" "$(median "${cq[@]}")" heap_seqscan "$(median "${hq[@]}")"
	echo "$1: $(psql_ -At -c "EXPLAIN (ANALYZE, TIMING OFF, SUMMARY OFF, FORMAT JSON) ${2//TBL/cc}" | tr -d '\n ' | grep -o '"RowGroups[A-Za-z]*":[0-9]*' | tr '\n' ' ')"
}
if want sort || want range_sorted; then
	need_loaded
	# CLUSTER needs an index (and rebuilds it); a compact table needs none
	compaction_case sort "$ROWS" 10 "" \
		"VACUUM (COMPACT, ORDER_BY 'user_id, ts') TBL" "cluster" \
		"CLUSTER TBL USING TBL_user_id_ts_idx" "" "CREATE INDEX ON TBL (user_id, ts)"
	if want sort; then
		# heap's other way to a sorted copy: CREATE TABLE AS ... ORDER BY
		aq=()
		for i in $(seq 0 "$REPS"); do
			psql_ -c "DROP TABLE IF EXISTS cc_ctas" >/dev/null
			a=$(qtimed "CREATE TABLE cc_ctas AS SELECT * FROM cc_heap ORDER BY user_id, ts")
			[ "$i" -eq 0 ] || aq+=("$a")
		done
		psql_ -c "DROP TABLE IF EXISTS cc_ctas" >/dev/null
		report sort "$last_compact" heap "$(median "${aq[@]}")"
		echo "sort: heap peer is CREATE TABLE AS ... ORDER BY user_id, ts"
	fi
	if want sort && peer_ok sort pg_repack; then
		# pg_repack needs a primary key (or a unique not-null index): its twin
		# has one on id and no other index. No warm-up (each run copies the
		# rows again; the cluster is warm from the runs above).
		rq=()
		for _ in $(seq "$REPS"); do
			psql_ -c "DROP TABLE IF EXISTS cc_repack; CREATE TABLE cc_repack ($cols, PRIMARY KEY (id))" \
				-c "INSERT INTO cc_repack SELECT * FROM ev_compact WHERE id <= $ROWS" -c "CHECKPOINT" >/dev/null
			t0=$(now)
			"${as_user[@]}" "$bindir/pg_repack" -h "$dir" -p "$PORT" -d postgres --order-by 'user_id, ts' -t cc_repack >"$dir/pg_repack.log" 2>&1 ||
				{ cat "$dir/pg_repack.log" >&2; rq=(); break; }
			rq+=("$(awk -v a="$t0" -v b="$(now)" 'BEGIN {printf "%.4f\n", b - a}')")
		done
		if [ ${#rq[@]} -eq 0 ]; then
			peer_skip sort pg_repack "run failed: $(grep -m1 -i 'error' "$dir/pg_repack.log" | cut -c1-100)"
		else
			[ "$(psql_ -At -c "SELECT count(*) FROM cc_repack")" = "$ROWS" ] && psql_ -At -c "SELECT (SELECT array_agg(id) FROM (SELECT id FROM cc_repack LIMIT 5) a) = (SELECT array_agg(id) FROM (SELECT id FROM cc_repack ORDER BY user_id, ts, id LIMIT 5) b)" | grep -q t ||
				{ echo "bench: sort: pg_repack left cc_repack unsorted or short" >&2; exit 1; }
			report sort "$last_compact" pg_repack "$(median "${rq[@]}")"
			echo "sort: pg_repack runs: ${rq[*]}"
		fi
		psql_ -c "DROP TABLE IF EXISTS cc_repack" >/dev/null
	fi
	if want sort && duckdb_peer sort sort "$ROWS"; then
		report sort "$last_compact" duckdb "$duck_s"
		echo "sort: duckdb Parquet sorted by (user_id, ts), zstd: $(mb "$duck_bytes"); $duck_runs"
	fi
	cc_query range_sorted "SELECT count(*), sum(amount) FROM TBL WHERE user_id BETWEEN 50000 AND 50999"
	want sort && peak_rss sort "$ROWS" 10 "VACUUM (COMPACT, ORDER_BY 'user_id, ts') TBL"
fi
for c in zorder_1m hilbert_1m; do
	want "$c" || continue
	need_loaded
	n=$(( ROWS < 1000000 ? ROWS : 1000000 ))
	kind=$([ "$c" = zorder_1m ] && echo Z_ORDER_BY || echo HILBERT_BY)
	compaction_case "$c" "$n" 10 "" \
		"VACUUM (COMPACT, $kind 'lat, lon') TBL" "cluster" \
		"CLUSTER TBL USING TBL_lat_lon_idx" "" "CREATE INDEX ON TBL (lat, lon)"
	# both cases against the same Morton-sorted write (written once a run;
	# DuckDB has no Hilbert order without its spatial extension)
	if duckdb_peer "$c" morton "$n"; then
		report "$c" "$last_compact" duckdb "$duck_s"
		echo "$c: duckdb Parquet in Z-order of (lat, lon), zstd: $(mb "$duck_bytes"); $(grep -o 'box_rows=[0-9]*' "$dir/duckdb_morton_$n.out") in the 1% box; $duck_runs"
	fi
	# the 1% box of ../shared/bench: 10% of each range
	cc_query "box_${c%_1m}" "SELECT count(*), sum(amount) FROM TBL WHERE lat BETWEEN 10 AND 28 AND lon BETWEEN 20 AND 56"
done

# merge_1gb: 10 fragments of about 1 GB in all (the events rows, repeated
# with shifted ids; less at small BENCH_ROWS) into 2, against cp + fsync of
# the same files.  The fragments are rebuilt (untimed) before each run.
if want merge_1gb; then
	need_loaded
	evbytes=$(psql_ -At -c "SELECT sum(bytes) FROM compact.fragments WHERE relation = 'ev_compact'::regclass")
	# 1 GB of the events rows: every row copies/1000 times (whole copies,
	# then a share of each id's next copy), at most 3 times
	copies=$(awk -v b="$evbytes" 'BEGIN {c = int(1e12 / b); if (c > 3000) c = 3000; if (c < 1000) c = 1000; print c}')
	build_1gb() {
		psql_ -c "DROP TABLE IF EXISTS m1g; CREATE TABLE m1g ($cols) USING compact
			WITH (compact_min_file_size_mb = 2048, compact_target_file_size_mb = 512, auto_compact = false)" >/dev/null
		for i in $(seq 0 9); do
			psql_ -c "SET compact.write_buffer_size = '1GB'" -c "INSERT INTO m1g SELECT id + k * $ROWS, ts, user_id, lat, lon, amount, category, payload
					  FROM ev_compact, generate_series(0, ($copies - 1) / 1000) k
					  WHERE id % 10 = $i AND k * 1000 + (id / 10) % 1000 < $copies" >/dev/null
		done
		psql_ -c "CHECKPOINT" >/dev/null
	}
	files() {
		psql_ -At -c "SELECT format('%s/pg_compact/%s/%s', current_setting('data_directory'),
							(SELECT oid FROM pg_database WHERE datname = current_database()),
							relfilenode) FROM pg_class WHERE relname = 'm1g'"
	}
	mq=(); cpq=()
	for i in $(seq 0 "$REPS"); do
		build_1gb
		src=$(files)
		mkdir -p "$dir/cp"; rm -f "$dir/cp"/*
		t0=$(now); cp "$src"/*.frag "$dir/cp/" && sync "$dir/cp"/*.frag; t1=$(now)
		c=$(qtimed "VACUUM (COMPACT) m1g")
		[ "$i" -eq 0 ] && continue
		mq+=("$c"); cpq+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.4f", b - a}')")
	done
	report merge_1gb "$(median "${mq[@]}")" cp "$(median "${cpq[@]}")"
	echo "merge_1gb: $(du -sb "$dir/cp" | cut -f1) bytes in $(ls "$dir/cp" | wc -l) fragments ($copies/1000 x the events rows) -> $(psql_ -At -c "SELECT count(*) || ' fragments, ' || sum(bytes) || ' bytes' FROM compact.fragments WHERE relation = 'm1g'::regclass")"
	rm -rf "$dir/cp"
fi

auto_on() { psql_ -c "ALTER SYSTEM SET compact.auto_compact = on" -c "SELECT pg_reload_conf()" >/dev/null; sleep 1; }
auto_off() { psql_ -c "ALTER SYSTEM SET compact.auto_compact = off" -c "SELECT pg_reload_conf()" >/dev/null; sleep 1; }
wait_jobs() {	# table: until it has no queued or running job
	until [ "$(psql_ -At -c "SELECT count(*) FROM compact.compaction_jobs WHERE \"table\" = '$1'::regclass AND compaction_status IN ('queued', 'running')")" = 0 ]; do sleep 0.2; done
}

# trigger: from a commit that crosses the threshold to the job's worker
# running, over 100 crossings (compact.naptime stays at 60s)
if want trigger; then
	auto_on
	psql_ -c "DROP TABLE IF EXISTS trig; CREATE TABLE trig (id int) USING compact WITH (compact_threshold_files = 2); INSERT INTO trig VALUES (0)"
	psql_ >/dev/null <<'SQL'
DO $$
DECLARE
	t timestamptz;
BEGIN
	FOR i IN 1 .. 100 LOOP
		INSERT INTO trig VALUES (i);
		COMMIT;
		t := clock_timestamp();
		WHILE NOT EXISTS (SELECT FROM compact.compaction_jobs
						   WHERE "table" = 'trig'::regclass AND compaction_status = 'done'
							 AND queued_at > t - interval '1 s') LOOP
			PERFORM pg_sleep(0.002);
		END LOOP;
	END LOOP;
END $$;
SQL
	read -r p50 p99 < <(psql_ -At -F ' ' <<'SQL'
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM started_at - queued_at)),
	   percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM started_at - queued_at))
  FROM compact.compaction_jobs WHERE "table" = 'trig'::regclass AND compaction_status = 'done';
SQL
)
	echo "trigger: queued at commit; job running after $(printf %.1f "$(awk -v x="$p50" 'BEGIN {print x * 1000}')") ms median, $(printf %.1f "$(awk -v x="$p99" 'BEGIN {print x * 1000}')") ms p99 (100 crossings)"
	report trigger_p99 "$p99" goal 0.100
	auto_off
fi

# write amplification under trickle inserts: 10,000 transactions of 100
# rows with automatic compaction on; bytes the compactions wrote per byte
# the inserts wrote (a twin with auto_compact = false gets the same inserts)
if want write_amp; then
	n=${BENCH_TRICKLE:-10000}
	psql_ -c "DROP TABLE IF EXISTS wa, wa_twin; CREATE TABLE wa ($cols) USING compact; CREATE TABLE wa_twin ($cols) USING compact WITH (auto_compact = false)"
	cat > "$dir/trickle.sql" <<'SQL'
\set s random(1, 100000000)
INSERT INTO wa SELECT :s + g, now(), (:s + g) % 100000, (:s + g) % 180 - 90.5, (:s + g) % 360 - 180.5, g * 1.25, 'c' || (g % 10), md5((:s + g)::text) FROM generate_series(1, 100) g;
INSERT INTO wa_twin SELECT :s + g, now(), (:s + g) % 100000, (:s + g) % 180 - 90.5, (:s + g) % 360 - 180.5, g * 1.25, 'c' || (g % 10), md5((:s + g)::text) FROM generate_series(1, 100) g;
SQL
	chmod 644 "$dir/trickle.sql"
	auto_on
	t0=$(now)
	"${as_user[@]}" "$bindir/pgbench" -n -h "$dir" -p "$PORT" -c 1 -t "$n" -f "$dir/trickle.sql" postgres >/dev/null
	wait_jobs wa
	t1=$(now)
	auto_off
	read -r written inserted jobs frags < <(psql_ -At -F ' ' <<'SQL'
SELECT (SELECT coalesce(sum(bytes_written), 0) FROM compact.compaction_jobs WHERE "table" = 'wa'::regclass),
	   (SELECT sum(bytes) FROM compact.fragments WHERE relation = 'wa_twin'::regclass),
	   (SELECT count(*) FROM compact.compaction_jobs WHERE "table" = 'wa'::regclass),
	   (SELECT count(*) FROM compact.fragments WHERE relation = 'wa'::regclass);
SQL
)
	echo "write_amp: $n inserts of 100 rows in $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}') s; $jobs jobs wrote $written bytes for $inserted bytes inserted; $frags fragments left (the twin has $(psql_ -At -c "SELECT count(*) FROM compact.fragments WHERE relation = 'wa_twin'::regclass"))"
	report write_amp "$(ratio "$written" "$inserted")" goal 4
fi

# foreground throughput: a pgbench read-only script on one table, alone and
# while a background compaction of another table runs
if want fg_throughput; then
	need_loaded
	m=$(( ROWS < 3000000 ? ROWS : 3000000 ))
	psql_ -c "DROP TABLE IF EXISTS fg, bg; CREATE TABLE fg ($cols) USING compact; CREATE TABLE bg ($cols) USING compact WITH (compact_threshold_files = 3, compact_order_by = 'payload', auto_compact = false)" \
		-c "INSERT INTO fg SELECT * FROM ev_compact WHERE id <= 1000000" \
		-c "VACUUM ANALYZE fg" >/dev/null
	for i in 0 1 2; do psql_ -c "INSERT INTO bg SELECT * FROM ev_compact WHERE id > $i * $m / 3 AND id <= ($i + 1) * $m / 3" >/dev/null; done
	cat > "$dir/fg.sql" <<'SQL'
\set a random(1, 999000)
SELECT count(*), sum(amount) FROM fg WHERE id BETWEEN :a AND :a + 1000;
SQL
	chmod 644 "$dir/fg.sql"
	tps() { "${as_user[@]}" "$bindir/pgbench" -n -h "$dir" -p "$PORT" -c 1 -T "$1" -f "$dir/fg.sql" postgres 2>/dev/null | awk '/^tps/ {print $3; exit}'; }
	tps 2 >/dev/null
	alone=$(tps 5)
	auto_on
	psql_ -c "ALTER TABLE bg SET (auto_compact = true)" -c "INSERT INTO bg SELECT * FROM ev_compact WHERE id = 1" >/dev/null
	until [ "$(psql_ -At -c "SELECT count(*) FROM compact.compaction_jobs WHERE \"table\" = 'bg'::regclass AND compaction_status = 'running'")" = 1 ]; do sleep 0.05; done
	during=$(tps 5)
	still=$(psql_ -At -c "SELECT count(*) FROM compact.compaction_jobs WHERE \"table\" = 'bg'::regclass AND compaction_status = 'running'")
	wait_jobs bg
	auto_off
	took=$(psql_ -At -c "SELECT round(extract(epoch FROM max(finished_at) - min(started_at))::numeric, 1) FROM compact.compaction_jobs WHERE \"table\" = 'bg'::regclass")
	echo "fg_throughput: $alone tps alone, $during tps during a background sort of $m rows (job still running at the end: $([ "$still" = 1 ] && echo yes || echo no); it took $took s)"
	report fg_throughput "$during" alone "$alone"
fi

echo
echo "| case | compact | peer | peer value | ratio |"
echo "|---|---|---|---|---|"
printf '%s\n' "${TABLE_ROWS[@]}"
