# podhooks preStart wrapper: the app container's command becomes
#   BUSYBOX sh /podhooks/bin/wrapper.sh -- CMD [ARGS...]
# It runs the pre-start hook inside the app container (the app's filesystem and env),
# streams the hook's output to the container log and to the shared log volume, then
# execs CMD so the app replaces this shell (same PID, direct signals, its exit code).
# Only busybox applets are used: the app image may have no coreutils at all.
set -eu

case $0 in */*) here=${0%/*} ;; *) here=. ;; esac
. "$here/hooklib.sh"
name=${PODHOOKS_CONTAINER:-container}
log_dir=${PODHOOKS_LOG_DIR:-/podhooks/logs}

[ "${1:-}" = "--" ] || fail 127 "wrapper.sh: usage: wrapper.sh -- COMMAND [ARGS...] (missing --)"
shift
[ $# -gt 0 ] && [ -n "$1" ] || fail 127 "wrapper.sh: no command to run after -- (container $name)"

# Classic sidecars end once this container's app has (see hooklib.sh); before the hook,
# so that a failing hook ends them too.
hold_run_fifo "$name"

hook=${PODHOOKS_PRE_START:-}
hook_timeout=${PODHOOKS_PRE_START_TIMEOUT_SECONDS:-0}
case $hook_timeout in '' | *[!0-9]*) fail 2 "wrapper.sh: PODHOOKS_PRE_START_TIMEOUT_SECONDS='$hook_timeout' is not a whole number of seconds (container $name)" ;; esac

# timed_out: the watchdog's ALRM. Stop the hook's process group (TERM, KILL after 5s for
# what ignores it) and fail: the kubelet restarts the container (restartPolicy) and the
# termination message says why.
timed_out() {
  trap '' ALRM TERM INT
  say "pre-start hook for container $name still running after ${hook_timeout}s; stopping it"
  if [ -n "${hook_pid:-}" ]; then
    kill -TERM -"$hook_pid" 2>/dev/null || kill -TERM "$hook_pid" 2>/dev/null || true
    $BB setsid "$BB" sh -c '"$0" sleep 5; kill -KILL -"$1" 2>/dev/null' "$BB" "$hook_pid" 9>&- &
    killer=$!
    wait "$hook_pid" 2>/dev/null || true
    kill -KILL -"$hook_pid" 2>/dev/null || true
    kill -TERM -"$killer" 2>/dev/null || true
  fi
  if [ -n "${fifo:-}" ]; then $BB rm -f "$fifo"; fi
  fail 124 "pre-start hook for container $name did not finish within ${hook_timeout}s (podhooks.io/pre-start-timeout) and was stopped; the application was not started"
}

if [ -n "$hook" ]; then
  log=$log_dir/$name.pre-start.log
  if ! $BB mkdir -p "$log_dir" 2>/dev/null || ! : >>"$log" 2>/dev/null; then
    echo "podhooks: warning: cannot write $log; the hook's output goes to the container log only" >&2
    log=
  fi
  say "pre-start hook for container $name starting"
  start=$($BB date +%s)

  # The watchdog runs in its own process group, so stopping it leaves nothing behind
  # that could signal the app after the exec.
  watchdog=
  if [ "$hook_timeout" -gt 0 ]; then
    trap timed_out ALRM
    # 9>&-: only the app may hold the run FIFO (hooklib.sh).
    $BB setsid "$BB" sh -c '"$0" sleep "$1" && kill -ALRM "$2"' "$BB" "$hook_timeout" "$$" 9>&- &
    watchdog=$!
  fi
  run_hook "pre-start hook for container $name" "$hook" "$log_dir/.$name.pre-start.$$.fifo"
  rc=$hook_rc
  if [ -n "$watchdog" ]; then
    kill -TERM -"$watchdog" 2>/dev/null || kill -TERM "$watchdog" 2>/dev/null || true
    wait "$watchdog" 2>/dev/null || true
    trap - ALRM
  fi
  end=$($BB date +%s)

  if [ "$rc" -ne 0 ]; then
    fail "$rc" "pre-start hook for container $name failed with exit code $rc; the application was not started"
  fi
  say "pre-start hook for container $name finished in $((end - start))s"
fi

cmd=$1; shift
path=$(resolve "$cmd") || fail 127 "container $name: command not found: $cmd (PATH=${PATH:-})"
# exec -a keeps argv[0] as written in the spec, as the container runtime would pass it.
exec -a "$cmd" "$path" "$@"
