#!/bin/sh
# Installs the database servers the tests start as private instances (test/support/dbservers.ts):
# PostgreSQL and MariaDB from Debian. Run as root; non-interactive, quiet, idempotent.
# The packages' own system-wide servers are kept from starting (policy-rc.d while installing), and stopped if a
# service manager started them anyway: the tests need the binaries, not the services.
set -eu

if [ "$(id -u)" -ne 0 ]; then
  echo "install-db.sh: must run as root (apt-get)" >&2
  exit 1
fi

have_servers() {
  [ -x /usr/sbin/mariadbd ] && [ -x /usr/bin/mariadb-install-db ] && ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1
}

if have_servers; then
  echo "install-db.sh: postgresql and mariadb-server already installed"
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
log=$(mktemp /tmp/install-db.XXXXXX.log)
policy_created=0
cleanup() {
  if [ "$policy_created" -eq 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
}
trap cleanup EXIT
if [ ! -e /usr/sbin/policy-rc.d ]; then
  # 101 = "action forbidden": invoke-rc.d and deb-systemd-invoke then leave the services stopped.
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod 755 /usr/sbin/policy-rc.d
  policy_created=1
fi

echo "install-db.sh: installing postgresql and mariadb-server (log: $log)"
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends postgresql mariadb-server; } >"$log" 2>&1; then
  echo "install-db.sh: apt-get failed; the end of its log:" >&2
  tail -n 40 "$log" >&2
  exit 1
fi

# If a service manager started the system instances regardless, stop and disable them (the tests start their own).
if [ -d /run/systemd/system ]; then
  systemctl disable --now mariadb.service postgresql.service >/dev/null 2>&1 || true
else
  for svc in mariadb postgresql; do
    if [ -x "/etc/init.d/$svc" ]; then "/etc/init.d/$svc" stop >/dev/null 2>&1 || true; fi
  done
fi

if ! have_servers; then
  echo "install-db.sh: installed, but mariadbd or postgres is still missing" >&2
  exit 1
fi
rm -f "$log"
echo "install-db.sh: done ($(/usr/sbin/mariadbd --version | sed 's/ for .*//'); $(ls -d /usr/lib/postgresql/*/bin/postgres | head -n 1))"
