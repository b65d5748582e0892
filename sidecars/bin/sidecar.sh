# podhooks classic sidecar runner (injection.nativeSidecars "false", pods that end):
#   BUSYBOX sh /podhooks/bin/sidecar.sh -- CMD [ARGS...]
# Runs CMD (e.g. the debug proxy's socat) until the app containers listed in
# PODHOOKS_END_WITH have ended (see hooklib.sh), then stops it and exits 0, so a Job's
# pod completes. TERM/INT are passed on to CMD. If CMD ends first, its exit code is ours.
set -eu

case $0 in */*) here=${0%/*} ;; *) here=. ;; esac
. "$here/hooklib.sh"

[ "${1:-}" = "--" ] || fail 2 "sidecar.sh: usage: sidecar.sh -- COMMAND [ARGS...] (missing --)"
shift
[ $# -gt 0 ] || fail 2 "sidecar.sh: no command to run after --"

child=
stop() {
  trap '' TERM INT USR1
  if [ -n "$child" ]; then kill -TERM "$child" 2>/dev/null || true; wait "$child" 2>/dev/null || true; fi
  if [ -n "${apps_watcher:-}" ]; then kill "$apps_watcher" 2>/dev/null || true; fi
  exit "$1"
}
trap 'stop 143' TERM
trap 'stop 130' INT
trap 'echo "podhooks: the app containers have ended; stopping $1"; stop 0' USR1

"$@" &
child=$!
end_with_apps
rc=0
wait "$child" || rc=$?
if [ -n "${apps_watcher:-}" ]; then kill "$apps_watcher" 2>/dev/null || true; fi
exit "$rc"
