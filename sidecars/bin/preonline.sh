# podhooks preOnline runner (the podhooks-preonline sidecar):
#   BUSYBOX sh /opt/podhooks/bin/preonline.sh
# Waits until the app's check URL passes, runs the pre-online hook once, then writes the
# online mark that the app containers' readiness probes require (probe.sh
# --require-file), so the pod takes traffic only after the hook succeeded. Then idles.
set -eu

case $0 in */*) here=${0%/*} ;; *) here=. ;; esac
. "$here/hooklib.sh"
url=${PODHOOKS_CHECK_URL:-}
hook=${PODHOOKS_PRE_ONLINE:-}
timeout=${PODHOOKS_TIMEOUT_SECONDS:-300}
interval=${PODHOOKS_POLL_INTERVAL_SECONDS:-1}
state_dir=${PODHOOKS_STATE_DIR:-/podhooks/state}
log_dir=${PODHOOKS_LOG_DIR:-/podhooks/logs}
mark=$state_dir/online

# A classic sidecar of a Job ends, successfully, once the app containers have ended
# (PODHOOKS_END_WITH, see hooklib.sh), whatever it was doing.
trap 'say "pre-online: the app containers have ended; stopping"; exit 0' USR1
end_with_apps

# idle: nothing left to do, but a sidecar that exits is restarted; sleep until TERM/INT
# and then exit 0 at once. This shell is PID 1 of its container, which ignores signals
# it has no handler for, and a trap only runs once `wait` returns, not during a sleep.
idle() {
  sleeper=
  trap 'if [ -n "$sleeper" ]; then kill "$sleeper" 2>/dev/null || true; fi; exit 0' TERM INT
  while :; do
    $BB sleep 3600 &
    sleeper=$!
    wait "$sleeper" || true
  done
}

if [ -e "$mark" ]; then
  # The sidecar was restarted after the hook succeeded: the hook runs once per pod.
  say "pre-online hook already succeeded ($mark exists); not running it again"
  idle
fi

[ -n "$url" ] || fail 2 "pre-online: PODHOOKS_CHECK_URL is not set"
case $timeout in '' | *[!0-9]*) fail 2 "pre-online: PODHOOKS_TIMEOUT_SECONDS='$timeout' is not a whole number of seconds" ;; esac
case $interval in '' | *[!0-9.]*) fail 2 "pre-online: PODHOOKS_POLL_INTERVAL_SECONDS='$interval' is not a number of seconds" ;; esac
if $BB mkdir -p "$log_dir" 2>/dev/null && : >>"$log_dir/pre-online.log" 2>/dev/null; then
  log=$log_dir/pre-online.log
else
  echo "podhooks: warning: cannot write $log_dir/pre-online.log; the hook's output goes to this container's log only" >&2
fi

trap 'say "pre-online: stopped by a signal before the hook ran"; exit 143' TERM
trap 'say "pre-online: stopped by a signal before the hook ran"; exit 130' INT
say "pre-online: waiting for $url to pass (timeout ${timeout}s)"
start=$($BB date +%s)
reported=$start
while :; do
  # One attempt at most 5s, and not much past the deadline.
  left=$((timeout - ($($BB date +%s) - start)))
  t=5
  if [ "$left" -lt "$t" ]; then t=$left; fi
  if [ "$t" -lt 1 ]; then t=1; fi
  # probe.sh's `url` kind: success iff the status is 200..399, like a kubelet probe.
  if result=$(PODHOOKS_BUSYBOX=$BB $BB sh "$here/probe.sh" --timeout "$t" -- url "$url"); then break; fi
  now=$($BB date +%s)
  # Whole seconds: -le, so that at least the full timeout has passed before giving up.
  [ $((now - start)) -le "$timeout" ] || fail 1 "pre-online: $url did not pass within ${timeout}s; the pod stays unready"
  if [ $((now - reported)) -ge 10 ]; then
    say "pre-online: still waiting for $url ($((now - start))s of ${timeout}s; last attempt: ${result#podhooks: })"
    reported=$now
  fi
  $BB sleep "$interval"
done
say "pre-online: $url passed after $(($($BB date +%s) - start))s"

if [ -n "$hook" ]; then
  say "pre-online hook starting"
  hook_start=$($BB date +%s)
  run_hook "pre-online hook" "$hook" "$log_dir/.pre-online.$$.fifo"
  rc=$hook_rc
  hook_end=$($BB date +%s)
  [ "$rc" -eq 0 ] || fail "$rc" "pre-online hook failed with exit code $rc; the pod stays unready"
  say "pre-online hook finished in $((hook_end - hook_start))s"
else
  say "pre-online: no hook script set (PODHOOKS_PRE_ONLINE is empty)"
fi

$BB mkdir -p "$state_dir" 2>/dev/null || true
$BB touch "$mark" 2>/dev/null || fail 1 "pre-online: cannot create $mark; the pod stays unready"
say "pre-online hook succeeded; pod is now online"
idle
