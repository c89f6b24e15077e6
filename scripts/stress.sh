#!/usr/bin/env bash
# make stress: minutes of concurrent load on compact tables, then a check.
#
#   STRESS_SECONDS=300 make stress     (default 300 s of pgbench)
#
# A throwaway cluster with compact preloaded and automatic compaction on
# (low thresholds, compact.naptime 1s).  pgbench (4 clients, REPEATABLE READ,
# serialization failures and deadlocks retried) runs inserts, deletes,
# updates and range selects on a compact table; every transaction writes the
# same change to a heap "ledger" table.  Meanwhile a loop runs manual
# compactions of every form and VACUUM.  At the end the compact table must
# equal the ledger, no client may have aborted, and the server log may hold
# no ERROR other than serialization failures, deadlocks and cancelled
# statements.  Then the randomized differential test runs long
# (COMPACT_DIFF_OPS, default 50000) if it exists.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
bindir=$("$PG_CONFIG" --bindir)
SECONDS_TOTAL=${STRESS_SECONDS:-300}
PORT=${STRESS_PORT:-5435}

if [ "$(id -u)" -eq 0 ]; then as_user=(runuser -u postgres --); else as_user=(); fi

dir=$(mktemp -d /tmp/compact-stress.XXXXXX)
chmod 755 "$dir"
[ ${#as_user[@]} -eq 0 ] || chown postgres: "$dir"
finish() {
	"${as_user[@]}" "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
	[ -n "${compactor:-}" ] && kill "$compactor" 2>/dev/null || true
	if [ "${keep:-0}" = 1 ]; then echo "stress: kept $dir"; else rm -rf "$dir"; fi
}
trap finish EXIT

"${as_user[@]}" "$bindir/initdb" -D "$dir/data" -A trust --no-locale -E UTF8 >/dev/null
cat >> "$dir/data/postgresql.conf" <<CONF
shared_preload_libraries = 'compact'
listen_addresses = ''
unix_socket_directories = '$dir'
port = $PORT
max_connections = 50
max_worker_processes = 16
compact.naptime = '1s'
compact.foreground_yield = 0
log_min_messages = warning
CONF
"${as_user[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start >/dev/null
psql_() { "${as_user[@]}" "$bindir/psql" -X -q -h "$dir" -p "$PORT" -d postgres -v ON_ERROR_STOP=1 "$@"; }

psql_ <<'SQL'
CREATE EXTENSION compact;
CREATE TABLE acct (id bigint, k int, amount numeric, note text) USING compact
	WITH (compact_threshold_files = 4, compact_min_file_size_mb = 8,
		  compact_target_file_size_mb = 16, compact_deleted_ratio = 0.1);
CREATE INDEX acct_id ON acct (id);
CREATE TABLE ledger (id bigint, k int, amount numeric, note text);
CREATE INDEX ledger_id ON ledger (id);
INSERT INTO acct SELECT g, g % 100, g * 0.01, md5(g::text) FROM generate_series(1, 200000) g;
INSERT INTO ledger SELECT * FROM acct;
SQL

cat > "$dir/insert.sql" <<'SQL'
\set id random(200001, 100000000)
BEGIN;
INSERT INTO acct SELECT :id + g, (:id + g) % 100, (:id + g) * 0.01, 'ins' FROM generate_series(0, 49) g;
INSERT INTO ledger SELECT :id + g, (:id + g) % 100, (:id + g) * 0.01, 'ins' FROM generate_series(0, 49) g;
COMMIT;
SQL
cat > "$dir/delete.sql" <<'SQL'
\set id random(1, 200000)
BEGIN;
DELETE FROM acct WHERE id BETWEEN :id AND :id + 20;
DELETE FROM ledger WHERE id BETWEEN :id AND :id + 20;
COMMIT;
SQL
cat > "$dir/update.sql" <<'SQL'
\set id random(1, 200000)
BEGIN;
UPDATE acct SET amount = amount + 1, note = 'upd' WHERE id BETWEEN :id AND :id + 5;
UPDATE ledger SET amount = amount + 1, note = 'upd' WHERE id BETWEEN :id AND :id + 5;
COMMIT;
SQL
cat > "$dir/select.sql" <<'SQL'
\set id random(1, 200000)
SELECT count(*), sum(amount) FROM acct WHERE id BETWEEN :id AND :id + 1000;
SQL
# the same aggregates of both tables in one snapshot, computed in
# CompactScan (whole table) and through bitmap scans (a range); a
# difference divides by zero, which ends the client and fails the run
cat > "$dir/check.sql" <<'SQL'
SELECT 1 / (a.c = b.c AND a.s = b.s AND a.mn IS NOT DISTINCT FROM b.mn AND a.mx IS NOT DISTINCT FROM b.mx AND a.ks = b.ks)::int
FROM (SELECT count(*) c, sum(id) s, min(id) mn, max(id) mx, sum(k) ks FROM acct) a,
	 (SELECT count(*) c, sum(id) s, min(id) mn, max(id) mx, sum(k) ks FROM ledger) b;
SQL
cat > "$dir/check_bitmap.sql" <<'SQL'
\set id random(1, 200000)
SET enable_seqscan = off;
SET enable_indexscan = off;
SET compact.enable_custom_scan = off;
SELECT 1 / (a.c = b.c AND a.ks IS NOT DISTINCT FROM b.ks AND a.am IS NOT DISTINCT FROM b.am)::int
FROM (SELECT count(*) c, sum(k) ks, sum(amount) am FROM acct WHERE id BETWEEN :id AND :id + 2000) a,
	 (SELECT count(*) c, sum(k) ks, sum(amount) am FROM ledger WHERE id BETWEEN :id AND :id + 2000) b;
RESET enable_seqscan;
RESET enable_indexscan;
RESET compact.enable_custom_scan;
SQL
chmod 644 "$dir"/*.sql

# manual compactions of every form, and VACUUM, while pgbench runs
(
	forms=("VACUUM (COMPACT) acct" "VACUUM (COMPACT, ORDER_BY 'id') acct"
		   "VACUUM (COMPACT, Z_ORDER_BY 'k, id') acct" "VACUUM (COMPACT, HILBERT_BY 'k, id') acct"
		   "SELECT * FROM compact.compact_table('acct')" "VACUUM acct" "VACUUM (OPTIMIZE) acct"
		   "SELECT * FROM compact.execute('COMPACT TABLE acct ORDER BY (k, id)')")
	i=0
	while true; do
		psql_ -c "${forms[$((i % ${#forms[@]}))]}" >/dev/null 2>>"$dir/compactor.err" || true
		i=$((i + 1))
		sleep 2
	done
) &
compactor=$!

echo "stress: pgbench for $SECONDS_TOTAL s (4 clients, repeatable read) with manual and automatic compactions"
set +e
"${as_user[@]}" env PGOPTIONS='-c default_transaction_isolation=repeatable\ read' \
	"$bindir/pgbench" -n -h "$dir" -p "$PORT" -c 4 -j 2 -T "$SECONDS_TOTAL" --max-tries=20 \
	-f "$dir/insert.sql@4" -f "$dir/delete.sql@2" -f "$dir/update.sql@2" -f "$dir/select.sql@2" \
	-f "$dir/check.sql@1" -f "$dir/check_bitmap.sql@1" \
	postgres > "$dir/pgbench.out" 2>&1
rc=$?
kill "$compactor" 2>/dev/null || true
wait "$compactor" 2>/dev/null || true
compactor=
grep -E "^(number of (transactions|failed|transactions retried)|tps|number of clients)" "$dir/pgbench.out" || true

fail=0
if [ $rc -ne 0 ] || grep -q "aborted" "$dir/pgbench.out"; then
	echo "stress: pgbench failed (rc $rc)"; tail -20 "$dir/pgbench.out"; fail=1
fi
# wait for automatic jobs, then compare
for _ in $(seq 600); do
	[ "$(psql_ -At -c "SELECT count(*) FROM compact.compaction_jobs WHERE compaction_status IN ('queued', 'running')")" = 0 ] && break
	sleep 0.5
done
diff=$(psql_ -At -c "SELECT count(*) FROM ((TABLE acct EXCEPT ALL TABLE ledger) UNION ALL (TABLE ledger EXCEPT ALL TABLE acct)) d")
rows=$(psql_ -At -c "SELECT count(*) FROM acct")
jobs=$(psql_ -At -c "SELECT string_agg(trigger || ' ' || compaction_status || ': ' || n, ', ') FROM (SELECT trigger, compaction_status, count(*) n FROM compact.compaction_jobs GROUP BY 1, 2) j")
echo "stress: $rows rows; rows that differ from the ledger: $diff; jobs: $jobs"
# why jobs failed (a failed job changes nothing; these are for the reader)
psql_ -At -c "SELECT 'stress: job failed: ' || trigger || ': ' || error || ' (' || count(*) || ')' FROM compact.compaction_jobs WHERE compaction_status = 'failed' GROUP BY trigger, error" || true
[ "$diff" = 0 ] || fail=1
bad=$(grep -E "ERROR" "$dir/server.log" "$dir/compactor.err" 2>/dev/null |
	grep -vE "could not serialize|deadlock detected|canceling statement|current transaction is aborted" || true)
if [ -n "$bad" ]; then
	echo "stress: unexpected errors:"; echo "$bad" | head -20; fail=1
fi
if [ $fail -ne 0 ]; then keep=1; echo "stress: FAILED"; exit 1; fi
set -e
echo "stress: PASSED"

if [ "${STRESS_DIFF:-1}" = 1 ] && [ -f "$root/test/t/005_differential.pl" ]; then
	echo "stress: differential test, ${COMPACT_DIFF_OPS:-50000} operations"
	COMPACT_DIFF_OPS=${COMPACT_DIFF_OPS:-50000} SUITES=tap \
		"$root/scripts/check.sh"
fi
