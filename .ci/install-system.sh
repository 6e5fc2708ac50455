#!/bin/sh
# Installs the Debian packages the tests use as real parts: PostgreSQL and MariaDB (parser and probe tests
# start private instances), Prometheus Alertmanager (the Alertmanager receiver test starts its own), Chromium
# (the dashboard test), iproute2 (`ip` and `bridge`: the network fault test builds network namespaces), systemd
# (`systemd-analyze verify` checks the units in deploy/systemd), strace (the same test checks every system call
# slowq makes is one the units' SystemCallFilter= allows) and Prometheus (`promtool` checks and unit-tests the
# rules in deploy/prometheus; the deploy test runs a real server scraping `slowq up`) and Exim (the e-mail
# receiver's test starts a private exim4 with STARTTLS and AUTH and reads what it delivers) and etcd (`etcd`: masters that
# share one ring keep it there; the ring store's tests start their own on loopback). Run as root; non-interactive, quiet, idempotent: installs only what is
# missing, with one apt-get update. The packages' system services are kept from starting (policy-rc.d while
# installing) and stopped if a service manager started them anyway: the tests need binaries, not services.
set -eu

missing=""
[ -x /usr/sbin/mariadbd ] && [ -x /usr/bin/mariadb-install-db ] || missing="$missing mariadb-server"
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing="$missing postgresql"
[ -x /usr/bin/prometheus-alertmanager ] || missing="$missing prometheus-alertmanager"
[ -x /usr/bin/chromium ] || missing="$missing chromium"
{ command -v ip && command -v bridge; } >/dev/null 2>&1 || missing="$missing iproute2"
[ -x /usr/bin/systemd-analyze ] || missing="$missing systemd"
[ -x /usr/bin/strace ] || missing="$missing strace"
{ [ -x /usr/bin/prometheus ] && [ -x /usr/bin/promtool ]; } || missing="$missing prometheus"
[ -x /usr/sbin/exim4 ] || missing="$missing exim4-daemon-light"
[ -x /usr/bin/etcd ] || missing="$missing etcd-server"

if [ -z "$missing" ]; then
  echo "install-system.sh: mariadb-server, postgresql, prometheus-alertmanager, chromium, iproute2, systemd, strace, prometheus, exim4-daemon-light and etcd-server already installed"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-system.sh: must run as root (apt-get) to install:$missing" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
log=$(mktemp /tmp/install-system.XXXXXX.log)
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

echo "install-system.sh: installing$missing (log: $log)"
# shellcheck disable=SC2086 # the list is meant to split
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing; } >"$log" 2>&1; then
  echo "install-system.sh: apt-get failed; the end of its log:" >&2
  tail -n 40 "$log" >&2
  exit 1
fi

# If a service manager started system instances regardless, stop and disable them.
for svc in mariadb postgresql prometheus-alertmanager prometheus exim4 etcd; do
  if [ -d /run/systemd/system ]; then
    systemctl disable --now "$svc.service" >/dev/null 2>&1 || true
  elif [ -x "/etc/init.d/$svc" ]; then
    "/etc/init.d/$svc" stop >/dev/null 2>&1 || true
  fi
done
rm -f "$log"
echo "install-system.sh: done"
