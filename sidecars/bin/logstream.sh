# podhooks log streamer (the podhooks-logs sidecar):
#   BUSYBOX sh /opt/podhooks/bin/logstream.sh LOGFILE...
# Prints every line written to the hooks' log files on the shared volume, live, so
# `kubectl logs POD -c podhooks-logs -f` shows the hooks as they run. The files need not
# exist yet. Each line gets the file's name as a prefix: app.pre-start.log -> "[app pre-start]".
set -eu

case $0 in */*) here=${0%/*} ;; *) here=. ;; esac
. "$here/hooklib.sh"

[ $# -gt 0 ] || { echo "podhooks: logstream.sh: usage: logstream.sh LOGFILE..." >&2; exit 2; }

# One `tail -F | awk` per file, each in its own process group so that TERM stops all of
# it (this shell is PID 1 of its container; without a trap it would ignore TERM).
pids=
stop() {
  trap '' TERM INT USR1
  for p in $pids; do kill -TERM -"$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null || true; done
  if [ -n "${apps_watcher:-}" ]; then kill "$apps_watcher" 2>/dev/null || true; fi
  exit 0
}
trap stop TERM INT
# A classic sidecar of a Job ends with the app containers (PODHOOKS_END_WITH, see
# hooklib.sh), after giving `tail` (which looks once a second) time for the last lines.
trap 'trap "" USR1; echo "podhooks: logstream: the app containers have ended"; $BB sleep 2; stop' USR1

echo "podhooks: streaming hook logs: $*"
for f in "$@"; do
  name=${f##*/}
  name=${name%.log}
  prefix="[$(echo "$name" | $BB tr . ' ')] "
  # tail -F: wait for files that do not exist yet and follow re-created ones; -n +1:
  # from the first line (after a restart too: this container's log starts empty).
  # Its "cannot open"/"has appeared" notices are noise here. fflush: awk would
  # otherwise buffer the output, which is a pipe.
  $BB setsid "$BB" sh -c '"$0" tail -q -n +1 -F "$1" 2>/dev/null | "$0" awk -v p="$2" "{ print p \$0; fflush() }"' \
    "$BB" "$f" "$prefix" &
  pids="$pids $!"
done

end_with_apps
# Returns when a signal arrives (the trap exits 0) or when every stream has ended.
wait || true
echo "podhooks: logstream: every stream ended" >&2
exit 1
