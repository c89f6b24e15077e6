#!/usr/bin/env bash
# compact benchmarks, side by side with a heap table in the same run.
#
#   make bench                      10M rows (BENCH_ROWS=N to scale)
#   BENCH_ONLY=copy make bench      one case
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
finish() {
	"${as_user[@]}" "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
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
work_mem = '256MB'
max_wal_size = '20GB'
checkpoint_timeout = '30min'
wal_level = 'replica'
max_parallel_workers_per_gather = 0
CONF
"${as_user[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start >/dev/null

psql_() { PGOPTIONS='-c client_min_messages=warning' "${as_user[@]}" "$bindir/psql" -X -q -h "$dir" -p "$PORT" -d postgres -v ON_ERROR_STOP=1 "$@"; }

now() { date +%s.%N; }
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
want() { [ -z "$ONLY" ] || [ "$ONLY" = "$1" ]; }

cols="id bigint, ts timestamptz, user_id int, lat float8, lon float8, amount float8, category text, payload text"
psql_ -c "CREATE EXTENSION compact"

echo "== compact bench: $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo none)"
echo "== machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r)"
echo "== $("$bindir/postgres" --version); rows: $ROWS; repetitions: $REPS (median, after a warm-up)"
echo "== settings: $(psql_ -At -c "SELECT string_agg(name || '=' || setting, ' ') FROM pg_settings WHERE name IN ('shared_buffers','work_mem','maintenance_work_mem','max_parallel_workers_per_gather','compact.compression_level','compact.row_group_size','compact.write_buffer_size')")"

load() {	# table am
	psql_ -c "DROP TABLE IF EXISTS $1; CREATE TABLE $1 ($cols) USING $2"
	timed "COPY $1 FROM '$csv' (FORMAT csv)"
}

# copy: COPY the CSV into a fresh table, heap vs compact
if want copy || want size || want scan_all || want scan_2col; then
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
	echo "fragments: $(psql_ -At -c "SELECT count(*) || ' fragments, ' || pg_size_pretty(sum(bytes)) || ', ' || sum(row_groups) || ' row groups' FROM compact.fragments WHERE relation = 'ev_compact'::regclass")"
fi

run_query() {	# case sql
	local hq=() cq=()
	timed "${2//TBL/ev_heap}" >/dev/null; timed "${2//TBL/ev_compact}" >/dev/null
	for _ in $(seq "$REPS"); do
		hq+=("$(timed "${2//TBL/ev_heap}")")
		cq+=("$(timed "${2//TBL/ev_compact}")")
	done
	report "$1" "$(median "${cq[@]}")" heap "$(median "${hq[@]}")"
}
want scan_all && run_query scan_all "SELECT sum(id), max(ts), sum(user_id), sum(lat), sum(lon), sum(amount), max(category), max(payload) FROM TBL"
want scan_2col && run_query scan_2col "SELECT count(*), sum(amount), avg(lat) FROM TBL"

for c in merge merge_1gb delete_materialize sort zorder_1m hilbert_1m box_query trigger; do
	want "$c" && echo "bench: $c not yet available"
done

echo
echo "| case | compact | peer | peer value | ratio |"
echo "|---|---|---|---|---|"
printf '%s\n' "${TABLE_ROWS[@]}"
