#!/usr/bin/env bash
# Installs what gearshift's tests and demo need on a fresh Debian machine,
# from Debian's packages through apt-get as the machine has it set up:
#   git          a real git server for tests (git http-backend)
#   openssh-server  real sshd instances on loopback for the host driver
#   nginx        the blue/green proxy
#   wrk          the load generator of the blue/green benchmark
#   haproxy      the proxy switched through its runtime API (no reload)
#   chromium     headless browser for the status page test of gearshift serve (chromedp)
# Packages already present are left alone, so a warm machine pays nothing.
set -euo pipefail

want=(git openssh-server nginx wrk haproxy chromium)
missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  sudo=(sudo)
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The packages' own services are not wanted: tests start their own
# instances on loopback ports.
for svc in nginx ssh haproxy; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
    "${sudo[@]}" systemctl stop "$svc" || true
  fi
done
