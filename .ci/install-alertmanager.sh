#!/bin/sh
# Installs Prometheus Alertmanager from Debian (package prometheus-alertmanager, binary
# /usr/bin/prometheus-alertmanager) for test/alertmanager.test.ts, which starts its own private instance on
# loopback. Run as root; non-interactive, quiet, idempotent.
# The package's system service is kept from starting (policy-rc.d while installing) and stopped and disabled
# if a service manager started it anyway: the tests need the binary, not the service.
set -eu

BIN=/usr/bin/prometheus-alertmanager

if [ -x "$BIN" ]; then
  echo "install-alertmanager.sh: prometheus-alertmanager already installed"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-alertmanager.sh: must run as root (apt-get)" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
log=$(mktemp /tmp/install-alertmanager.XXXXXX.log)
policy_created=0
cleanup() {
  if [ "$policy_created" -eq 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
}
trap cleanup EXIT
if [ ! -e /usr/sbin/policy-rc.d ]; then
  # 101 = "action forbidden": invoke-rc.d and deb-systemd-invoke then leave the service stopped.
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod 755 /usr/sbin/policy-rc.d
  policy_created=1
fi

echo "install-alertmanager.sh: installing prometheus-alertmanager (log: $log)"
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus-alertmanager; } >"$log" 2>&1; then
  echo "install-alertmanager.sh: apt-get failed; the end of its log:" >&2
  tail -n 40 "$log" >&2
  exit 1
fi

# If a service manager started the system instance regardless, stop and disable it (the tests start their own).
if [ -d /run/systemd/system ]; then
  systemctl disable --now prometheus-alertmanager.service >/dev/null 2>&1 || true
elif [ -x /etc/init.d/prometheus-alertmanager ]; then
  /etc/init.d/prometheus-alertmanager stop >/dev/null 2>&1 || true
fi

if [ ! -x "$BIN" ]; then
  echo "install-alertmanager.sh: installed, but $BIN is missing" >&2
  exit 1
fi
rm -f "$log"
echo "install-alertmanager.sh: done ($("$BIN" --version 2>&1 | head -n 1))"
