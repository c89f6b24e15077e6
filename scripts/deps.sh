#!/usr/bin/env bash
# Install the Debian 12 packages needed to build and test compact.
#
# Silent and quick when everything is present. Otherwise, as root, runs
# apt-get update + apt-get install (retrying once after a fresh apt-get update,
# for stale lists or mirrors); not as root, prints the command and exits 1.
#
# DEPS_EXTRA="pkg ..." adds packages to the list.
set -euo pipefail

# postgresql-server-dev-15 brings pg_config, the server headers and PGXS;
# postgresql-client-15 (pulled in by it) brings pg_regress, pg_isolation_regress
# and the PostgreSQL::Test perl modules; libipc-run-perl is needed by those
# modules but is not a dependency of anything above. make, gcc and libc6-dev
# may be missing on a minimal image.
pkgs=(postgresql-server-dev-15 libzstd-dev libipc-run-perl make gcc libc6-dev ${DEPS_EXTRA:-})

missing=()
for p in "${pkgs[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$status" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing packages: ${missing[*]}" >&2
	echo "deps: install them as root with:" >&2
	echo "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
	exit 1
fi

echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt_opts=(-q -o Dpkg::Use-Pty=0 -o DPkg::Lock::Timeout=300)

apt_update() {
	apt-get "${apt_opts[@]}" update >/dev/null
}
apt_install() {
	apt-get "${apt_opts[@]}" install -y --no-install-recommends "${missing[@]}"
}

apt_update || echo "deps: apt-get update failed; trying the install anyway" >&2
if ! apt_install; then
	echo "deps: apt-get install failed; refreshing the package lists and retrying once" >&2
	sleep 5
	apt_update
	apt_install
fi

# Verify: apt can "succeed" without installing (e.g. a held package).
for p in "${missing[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	if [ "$status" != "install ok installed" ]; then
		echo "deps: $p is still not installed" >&2
		exit 1
	fi
done
echo "deps: done"
