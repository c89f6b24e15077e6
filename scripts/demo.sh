#!/usr/bin/env bash
# Walk through compact on a throwaway cluster. Called by "make demo" after
# "make install".
#
# Creates a cluster in a fresh temporary directory (owned by postgres when run
# as root, since initdb refuses root), preloads compact, runs scripts/demo.sql
# with psql -e so the output reads as a walkthrough, then stops the cluster and
# removes the directory, also on failure or Ctrl-C.
#
# Environment:
#   PG_CONFIG    pg_config to use (default /usr/lib/postgresql/15/bin/pg_config)
#   DEMO_USER    user to run the cluster as when root (default postgres)
#   DEMO_PORT    port (default 5433; the socket lives in the temporary
#                directory and TCP is off, so it cannot clash with a server)
#   DEMO_SQL     script to run (default scripts/demo.sql)
#   DEMO_KEEP=1  keep the cluster directory (stopped) afterwards
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
bindir=$("$PG_CONFIG" --bindir)
pkglibdir=$("$PG_CONFIG" --pkglibdir)
DEMO_PORT=${DEMO_PORT:-5433}
DEMO_SQL=${DEMO_SQL:-$root/scripts/demo.sql}

if [ ! -f "$pkglibdir/compact.so" ]; then
	echo "demo: $pkglibdir/compact.so is not installed; run \"make install\" first" >&2
	exit 2
fi

if [ "$(id -u)" -eq 0 ]; then
	DEMO_USER=${DEMO_USER:-postgres}
	as_user=(runuser -u "$DEMO_USER" --)
else
	as_user=()
fi

dir=$(mktemp -d /tmp/compact-demo.XXXXXX)
chmod 755 "$dir"
[ ${#as_user[@]} -eq 0 ] || chown "$DEMO_USER:" "$dir"
cd "$dir"	# somewhere the cluster's owner can read
data=$dir/data
log=$dir/server.log

started=0
finish() {
	local rc=$?
	set +e
	if [ "$started" = 1 ]; then
		"${as_user[@]}" "$bindir/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 ||
			"${as_user[@]}" "$bindir/pg_ctl" -D "$data" -m immediate -w stop >/dev/null 2>&1
	fi
	if [ "$rc" -ne 0 ] && [ -f "$log" ]; then
		echo "demo: failed (exit $rc); last lines of the server log:" >&2
		tail -n 40 "$log" >&2
	fi
	cd /
	if [ "${DEMO_KEEP:-0}" = 1 ]; then
		echo "demo: cluster kept in $dir"
	else
		rm -rf "$dir"
	fi
	exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "demo: initdb in $data"
"${as_user[@]}" "$bindir/initdb" -D "$data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 \
	--no-sync >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
cat >>"$data/postgresql.conf" <<EOF

# compact demo
shared_preload_libraries = 'compact'
port = $DEMO_PORT
listen_addresses = ''
unix_socket_directories = '$dir'
max_worker_processes = 16
EOF

started=1
"${as_user[@]}" "$bindir/pg_ctl" -D "$data" -l "$log" -w -t 60 start >/dev/null

echo "demo: server up (PostgreSQL $("$PG_CONFIG" --version | awk '{print $2}'), socket $dir, port $DEMO_PORT)"
echo
# The script goes through stdin so its location need not be readable by
# the cluster's owner.
"${as_user[@]}" "$bindir/psql" -X -e -v ON_ERROR_STOP=1 --pset=pager=off \
	-h "$dir" -p "$DEMO_PORT" -U postgres -d postgres -f - <"$DEMO_SQL"
echo
echo "demo: done"
