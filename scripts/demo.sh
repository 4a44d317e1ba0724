#!/usr/bin/env bash
# The README's main job: deploy the demo state's dev environment to this
# machine and show its status. `make demo` runs it after building gearshift,
# demo-gear and the release tarballs (make dist).
#
# dev's seven units are demo-gear releases from dist/, each a process on a
# loopback port (18081-18086); planner is blue/green (18091/18092) behind
# the demo's own nginx on 127.0.0.1:18080, which this script starts when it
# is not running. Everything lives under /var/tmp/gearshift-demo/dev.
# Run it again: the second run has nothing to do. `scripts/demo.sh clean`
# (make demo-clean) stops it all and removes its files.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=./bin/gearshift
root=/var/tmp/gearshift-demo/dev
ngx=$root/nginx

if [ "${1:-}" = clean ]; then
  # Stop what the demo started (by the pid files of the host layout and
  # nginx's own) and remove its files.
  for pidfile in "$root"/*/run/*.pid; do
    [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
  done
  if [ -f "$ngx/nginx.pid" ]; then
    nginx -q -s quit -e "$ngx/error.log" -c "$ngx/nginx.conf" 2>/dev/null || true
  fi
  rm -rf "$root"
  rm -f "${XDG_STATE_HOME:-$HOME/.local/state}/gearshift/dev.status.json"
  echo "demo: stopped and removed $root"
  exit 0
fi

mkdir -p "$ngx/tmp"
cp scripts/demo-nginx.conf "$ngx/nginx.conf"
# nginx refuses a config whose include is missing: until gearshift deploys
# planner and writes its upstream, point it at the first slot.
if [ ! -f "$ngx/planner-upstream.conf" ]; then
  printf 'upstream planner {\n    server 127.0.0.1:18091;\n}\n' > "$ngx/planner-upstream.conf"
fi
if ! command -v nginx >/dev/null; then
  echo "demo: nginx is not installed: run make deps (scripts/install-deps.sh)" >&2
  exit 1
fi
if [ -f "$ngx/nginx.pid" ] && kill -0 "$(cat "$ngx/nginx.pid")" 2>/dev/null; then
  echo "demo: nginx runs (pid $(cat "$ngx/nginx.pid")) on 127.0.0.1:18080"
else
  nginx -q -e "$ngx/error.log" -c "$ngx/nginx.conf"
  echo "demo: started nginx on 127.0.0.1:18080 (config $ngx/nginx.conf)"
fi

$bin validate
# apply exits 3 when a policy denies an action; dev has none (its framework
# policy is "bump"): any non-zero exit is a failure of the demo.
# --no-status: the demo keeps its status record in the local state directory
# and leaves this repository's branches (and its origin) alone.
$bin apply dev --no-status
$bin status dev
echo
echo "demo: planner through nginx:"
./bin/demo-gear check http://127.0.0.1:18080/
echo "demo: greeter directly:"
./bin/demo-gear check http://127.0.0.1:18081/
