#!/bin/sh
# Installs Debian's headless-capable Chromium for the dashboard test (test/dashboard.test.ts drives
# /usr/bin/chromium with playwright-core; no browser is downloaded by npm). Run as root; non-interactive,
# quiet, idempotent: does nothing when /usr/bin/chromium is already there.
set -eu

if [ -x /usr/bin/chromium ]; then
  echo "install-chromium.sh: chromium already installed"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-chromium.sh: must run as root (apt-get)" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
log=$(mktemp /tmp/install-chromium.XXXXXX.log)
echo "install-chromium.sh: installing chromium (log: $log)"
# Fonts are a dependency of the package; no recommends keeps out the desktop extras.
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium; } >"$log" 2>&1; then
  echo "install-chromium.sh: apt-get failed; the end of its log:" >&2
  tail -n 40 "$log" >&2
  exit 1
fi

if [ ! -x /usr/bin/chromium ]; then
  echo "install-chromium.sh: installed, but /usr/bin/chromium is still missing" >&2
  exit 1
fi
rm -f "$log"
echo "install-chromium.sh: done ($(/usr/bin/chromium --version 2>/dev/null || echo chromium))"
