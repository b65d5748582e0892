# podhooks preOnline runner (the podhooks-preonline sidecar):
#   /podhooks/bin/busybox sh /podhooks/bin/preonline.sh
# It runs from the app container's image, with its env, its user and its volumes
# (read-only), so the hook sees what the app sees. It waits until the app's check URL
# passes, sends the warm-up requests (PODHOOKS_WARMUP), runs the pre-online hook, then
# writes the online mark that the target containers' readiness probes require (probe.sh
# --require-online), so the pod takes traffic only after both. Then it watches: when a target container
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
warmup=${PODHOOKS_WARMUP:-}
warmup_timeout=${PODHOOKS_WARMUP_TIMEOUT_SECONDS:-300}
warmup_failure=${PODHOOKS_WARMUP_FAILURE:-fail}
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
case $warmup_timeout in '' | *[!0-9]*) fail 2 "pre-online: PODHOOKS_WARMUP_TIMEOUT_SECONDS='$warmup_timeout' is not a whole number of seconds" ;; esac
case $warmup_failure in fail | warn) ;; *) fail 2 "pre-online: PODHOOKS_WARMUP_FAILURE='$warmup_failure' is not fail or warn" ;; esac
# Each warm-up line is "METHOD COUNT EXPECT TIMEOUT URL" (the webhook writes them).
warmup_requests=0
while read -r w_method w_count w_expect w_timeout w_url; do
  [ -n "$w_method" ] || continue
  case $w_method:$w_count:$w_expect:$w_timeout:$w_url in
    GET:[0-9]*:[0-9]*:[0-9]*:http*://* | POST:[0-9]*:[0-9]*:[0-9]*:http*://*) ;;
    *) fail 2 "pre-online: PODHOOKS_WARMUP line '$w_method $w_count $w_expect $w_timeout $w_url' is not METHOD COUNT EXPECT TIMEOUT URL" ;;
  esac
  case $w_count$w_timeout in *[!0-9]*) fail 2 "pre-online: PODHOOKS_WARMUP line '$w_method $w_count $w_expect $w_timeout $w_url': COUNT and TIMEOUT must be whole numbers" ;; esac
  warmup_requests=$((warmup_requests + w_count))
done <<EOF
$warmup
EOF
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

# uptime_cs: centiseconds since boot, in $cs (no subshell; leading zeros would read as octal).
uptime_cs() {
  read -r up _ <"$proc/uptime" || fail 2 "pre-online: cannot read $proc/uptime"
  cs=${up%.*}${up#*.}
  cs=${cs#"${cs%%[!0]*}"}
  cs=${cs:-0}
}
# secs CENTISECONDS: "1.25s".
secs() { printf '%d.%02ds' $(($1 / 100)) $(($1 % 100)); }

# warm_up: each PODHOOKS_WARMUP request, COUNT times, one after the other, through
# probe.sh's HTTP path (busybox wget under the timeout applet, like the check URL), each
# within its TIMEOUT and all within the warm-up deadline; every result goes to the log.
# A failed request, or the deadline, fails the round with exit 3
# (PODHOOKS_WARMUP_FAILURE=fail), or is a warning and the round goes on (warn).
warm_up() {
  [ "$warmup_requests" -gt 0 ] || return 0
  say "pre-online: warm-up: $warmup_requests requests (deadline ${warmup_timeout}s, on failure: $warmup_failure)"
  uptime_cs; w_start=$cs
  w_deadline=$((w_start + warmup_timeout * 100))
  w_passed=0 w_failed=0 w_late=
  while read -r w_method w_count w_expect w_timeout w_url; do
    [ -n "$w_method" ] && [ -z "$w_late" ] || continue
    i=1
    while [ "$i" -le "$w_count" ]; do
      uptime_cs; r_start=$cs
      left=$((w_deadline - r_start))
      if [ "$left" -le 0 ]; then w_late=1; break; fi
      # The request's own timeout, cut to what is left of the deadline (whole seconds, at least 1).
      t=$w_timeout
      if [ $(((left + 99) / 100)) -lt "$t" ]; then t=$(((left + 99) / 100)); fi
      ok=1
      result=$(PODHOOKS_BUSYBOX=$BB $BB sh "$here/probe.sh" --timeout "$t" -- request "$w_method" "$w_expect" "$w_url") || ok=
      uptime_cs
      took=$(secs $((cs - r_start)))
      result=${result#podhooks: }
      if [ -n "$ok" ]; then
        w_passed=$((w_passed + 1))
        say "pre-online: warm-up $w_method $w_url ($i/$w_count): $result ($took)"
      elif [ "$warmup_failure" = fail ]; then
        fail 3 "pre-online: warm-up failed: $w_method $w_url ($i/$w_count): $result ($took); the pod stays unready (podhooks.io/warmup-failure: fail)"
      else
        w_failed=$((w_failed + 1))
        say "pre-online: warning: warm-up $w_method $w_url ($i/$w_count): $result ($took)"
      fi
      i=$((i + 1))
    done
  done <<EOF
$warmup
EOF
  uptime_cs
  took=$(secs $((cs - w_start)))
  w_done=$((w_passed + w_failed))
  if [ -n "$w_late" ]; then
    [ "$warmup_failure" = warn ] || fail 3 "pre-online: warm-up did not finish within ${warmup_timeout}s (podhooks.io/warmup-timeout): $w_done of $warmup_requests requests done; the pod stays unready (podhooks.io/warmup-failure: fail)"
    say "pre-online: warning: warm-up stopped at its deadline (${warmup_timeout}s, podhooks.io/warmup-timeout) after $took: $w_passed of $warmup_requests requests passed, $w_failed failed, $((warmup_requests - w_done)) not sent; going on (podhooks.io/warmup-failure: warn)"
  elif [ "$w_failed" -gt 0 ]; then
    say "pre-online: warning: warm-up finished in $took: $w_passed of $warmup_requests requests passed, $w_failed failed; going on (podhooks.io/warmup-failure: warn)"
  else
    say "pre-online: warm-up finished in $took: $w_passed of $warmup_requests requests passed"
  fi
}

# round: wait for the check URL, warm up, run the hook, write the mark; fail on timeout or error.
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
  warm_up

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
