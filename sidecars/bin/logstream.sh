# podhooks log streamer (the podhooks-logs sidecar):
#   BUSYBOX sh /opt/podhooks/bin/logstream.sh LOGFILE...
# Prints every line written to the hooks' log files on the shared volume, live, so
# `kubectl logs POD -c podhooks-logs -f` shows the hooks as they run. The files need not
# exist yet. Each line gets the file's name as a prefix: app.pre-start.log -> "[app pre-start]".
set -eu

case $0 in */*) here=${0%/*} ;; *) here=. ;; esac
if [ -z "${PODHOOKS_BUSYBOX:-}" ] && [ -x "$here/busybox" ]; then PODHOOKS_BUSYBOX=$here/busybox; fi
BB=${PODHOOKS_BUSYBOX:-/podhooks/bin/busybox}

[ $# -gt 0 ] || { echo "podhooks: logstream.sh: usage: logstream.sh LOGFILE..." >&2; exit 2; }

# One `tail -F | awk` per file, each in its own process group so that TERM stops all of
# it (this shell is PID 1 of its container; without a trap it would ignore TERM).
pids=
stop() {
  trap '' TERM INT
  for p in $pids; do kill -TERM -"$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null || true; done
  exit 0
}
trap stop TERM INT

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

# Returns when a signal arrives (the trap exits 0) or when every stream has ended.
wait || true
echo "podhooks: logstream: every stream ended" >&2
exit 1
