# podhooks preOnline runner (the podhooks-preonline sidecar):
#   /podhooks/bin/busybox sh /podhooks/bin/preonline.sh
# It runs from the app container's image, with its env, its user and its volumes
# (read-only), so the hook sees what the app sees. It waits until the app's check URL
# passes, runs the pre-online hook, then writes the online mark that the target
# containers' readiness probes require (probe.sh --require-online), so the pod takes
# traffic only after the hook succeeded. Then it watches: when a target container
# restarts (its readiness probe publishes the new start in started.NAME), the mark no
# longer holds for it and the hook runs again before that container takes traffic.
#
# The mark is "BOOT_ID T", T = /proc/uptime in centiseconds, read just before the check
# URL was asked for the time that passed. It holds for a container that started before
# T (see probe.sh), so a mark written late for an earlier start never opens the gate.
set -eu

case $0 in */*) here=${0%/*} ;; *) here=. ;; esac
. "$here/hooklib.sh"
url=${PODHOOKS_CHECK_URL:-}
hook=${PODHOOKS_PRE_ONLINE:-}
targets=$(echo "${PODHOOKS_TARGETS:-}" | $BB tr ',' ' ')
timeout=${PODHOOKS_TIMEOUT_SECONDS:-300}
interval=${PODHOOKS_POLL_INTERVAL_SECONDS:-1}
watch_interval=${PODHOOKS_WATCH_INTERVAL_SECONDS:-2}
state_dir=${PODHOOKS_STATE_DIR:-/podhooks/state}
log_dir=${PODHOOKS_LOG_DIR:-/podhooks/logs}
proc=${PODHOOKS_PROC:-/proc}
mark=$state_dir/online

# A classic sidecar of a Job ends, successfully, once the app containers have ended
# (PODHOOKS_END_WITH, see hooklib.sh), whatever it was doing.
trap 'say "pre-online: the app containers have ended; stopping"; exit 0' USR1
end_with_apps

[ -n "$url" ] || fail 2 "pre-online: PODHOOKS_CHECK_URL is not set"
case $targets in *[a-z0-9]*) ;; *) fail 2 "pre-online: PODHOOKS_TARGETS (the gated containers) is not set" ;; esac
case $timeout in '' | *[!0-9]*) fail 2 "pre-online: PODHOOKS_TIMEOUT_SECONDS='$timeout' is not a whole number of seconds" ;; esac
case $interval in '' | *[!0-9.]*) fail 2 "pre-online: PODHOOKS_POLL_INTERVAL_SECONDS='$interval' is not a number of seconds" ;; esac
case $watch_interval in '' | *[!0-9.]*) fail 2 "pre-online: PODHOOKS_WATCH_INTERVAL_SECONDS='$watch_interval' is not a number of seconds" ;; esac
# The boot id tells a mark from before a node restart; probe.sh reads the same file.
boot=none
if [ -r "$proc/sys/kernel/random/boot_id" ]; then read -r boot <"$proc/sys/kernel/random/boot_id" || [ -n "$boot" ] || boot=none; fi
if $BB mkdir -p "$log_dir" 2>/dev/null && : >>"$log_dir/pre-online.log" 2>/dev/null; then
  log=$log_dir/pre-online.log
else
  echo "podhooks: warning: cannot write $log_dir/pre-online.log; the hook's output goes to this container's log only" >&2
fi

# stale: succeeds when the mark does not hold for some target container (it started at
# or after the mark's T, or before a reboot), naming it in $why; fails when the mark
# holds for every start published so far. No mark at all: stale. (No subshells: this
# runs every few seconds for the life of the pod.)
stale() {
  mark_boot= mark_t=
  if [ -r "$mark" ]; then read -r mark_boot mark_t <"$mark" || true; fi
  case $mark_t in '' | *[!0-9]*) why="no mark yet"; return 0 ;; esac
  [ "$mark_boot" = "$boot" ] || { why="the node restarted"; return 0; }
  for t in $targets; do
    b= s=
    if [ -r "$state_dir/started.$t" ]; then read -r b s <"$state_dir/started.$t" || true; fi
    case $s in '' | *[!0-9]*) continue ;; esac
    if [ "$b" != "$boot" ] || [ "$s" -ge "$mark_t" ]; then why="container $t restarted"; return 0; fi
  done
  return 1
}

# pause SECONDS: sleep in the background and wait, so TERM/INT traps run at once (this
# shell is PID 1 of its container, which ignores signals it has no handler for).
pause() {
  $BB sleep "$1" &
  sleeper=$!
  wait "$sleeper" || true
  sleeper=
}
sleeper=
stop_watching() {
  if [ -n "$sleeper" ]; then kill "$sleeper" 2>/dev/null || true; fi
  exit 0
}

# watch: returns once the mark no longer holds for a target container ($why says which).
# Nothing is left to do meanwhile, so TERM/INT end this sidecar at once with 0.
watch() {
  trap stop_watching TERM INT
  while ! stale; do pause "$watch_interval"; done
  trap - TERM INT
}

# round: wait for the check URL, run the hook, write the mark; fail on timeout or error.
round() {
  trap 'say "pre-online: stopped by a signal before the hook ran"; exit 143' TERM
  trap 'say "pre-online: stopped by a signal before the hook ran"; exit 130' INT
  say "pre-online: waiting for $url to pass (timeout ${timeout}s)"
  start=$($BB date +%s)
  reported=$start
  while :; do
    # Centiseconds since boot (the kernel prints /proc/uptime with two decimals).
    read -r up _ <"$proc/uptime" || fail 2 "pre-online: cannot read $proc/uptime"
    asked=${up%.*}${up#*.}
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
  { echo "$boot $asked" >"$mark.$$" && $BB mv -f "$mark.$$" "$mark"; } 2>/dev/null || fail 1 "pre-online: cannot write $mark; the pod stays unready"
  say "pre-online hook succeeded; pod is now online"
  trap - TERM INT
}

if stale; then
  round
else
  # This sidecar was restarted after the hook succeeded: the hook runs once per start of the app.
  say "pre-online hook already succeeded for the running containers ($mark); not running it again"
fi
while :; do
  watch
  say "pre-online: $why; running the pre-online hook again before it takes traffic"
  round
done
