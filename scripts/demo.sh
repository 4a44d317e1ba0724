#!/usr/bin/env bash
# The README's main job: deploy the demo state's dev environment to this
# machine and show its status. `make demo` runs it after building gearshift,
# demo-gear and the release tarballs (make dist).
#
# dev's seven units are demo-gear releases from dist/, each a process on a
# loopback port (18081-18086); planner is blue/green (18091/18092) behind
# the demo's own HAProxy on 127.0.0.1:18080 (scripts/demo-haproxy.cfg),
# which this script starts when it is not running. gearshift switches it
# through its stats socket (runtime API, no reload). Everything lives under
# /var/tmp/gearshift-demo/dev; the machine's own haproxy (/etc/haproxy, its
# service) is never touched. Run it again: the second run has nothing to
# do. `scripts/demo.sh clean` (make demo-clean) stops it all and removes
# its files.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=./bin/gearshift
root=/var/tmp/gearshift-demo/dev
hap=$root/haproxy
haproxy=/usr/sbin/haproxy

# running reports whether the demo's haproxy runs: the pid in its pid file
# is a haproxy (not a process that took the pid after a reboot).
running() {
  local pid
  [ -f "$hap/haproxy.pid" ] || return 1
  pid=$(head -n 1 "$hap/haproxy.pid")
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = haproxy ]
}

if [ "${1:-}" = clean ]; then
  # Stop what the demo started (by the pid files of the host layout and
  # haproxy's own) and remove its files.
  for pidfile in "$root"/*/run/*.pid; do
    [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
  done
  # The nginx of a demo from before it switched through haproxy.
  if [ -f "$root/nginx/nginx.pid" ]; then
    pid=$(head -n 1 "$root/nginx/nginx.pid")
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = nginx ] && kill -QUIT "$pid" 2>/dev/null || true
  fi
  if running; then
    pid=$(head -n 1 "$hap/haproxy.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
  fi
  rm -rf "$root"
  rm -f "${XDG_STATE_HOME:-$HOME/.local/state}/gearshift/dev.status.json"
  echo "demo: stopped and removed $root"
  exit 0
fi

if [ ! -x "$haproxy" ]; then
  echo "demo: haproxy is not installed: run make deps (scripts/install-deps.sh)" >&2
  exit 1
fi
if [ -f "$root/nginx/nginx.pid" ]; then
  echo "demo: $root was made by an older demo (nginx): run make demo-clean first" >&2
  exit 1
fi
mkdir -p "$hap"
if running; then
  echo "demo: haproxy runs (pid $(head -n 1 "$hap/haproxy.pid")) on 127.0.0.1:18080"
else
  cp scripts/demo-haproxy.cfg "$hap/haproxy.cfg"
  "$haproxy" -c -q -f "$hap/haproxy.cfg"
  # daemon: it forks and writes its pid file; it loads the server-state
  # file gearshift wrote, so the live slot survives a restart.
  "$haproxy" -q -f "$hap/haproxy.cfg"
  echo "demo: started haproxy on 127.0.0.1:18080 (config $hap/haproxy.cfg, stats socket $hap/admin.sock)"
fi

$bin validate
# apply exits 3 when a policy denies an action; dev has none (its framework
# policy is "bump"): any non-zero exit is a failure of the demo.
# --no-status: the demo keeps its status record in the local state directory
# and leaves this repository's branches (and its origin) alone.
$bin apply dev --no-status
$bin status dev
echo
echo "demo: planner through haproxy:"
./bin/demo-gear check http://127.0.0.1:18080/
echo "demo: greeter directly:"
./bin/demo-gear check http://127.0.0.1:18081/
