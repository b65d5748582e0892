# podhooks post-offline hook: the preStop exec handler of the main target container
#   /podhooks/bin/busybox sh /podhooks/bin/postoffline.sh run --container NAME
#       --drain SECONDS --timeout SECONDS [-- exec CMD ARGS... | sleep SECONDS | http-get SECONDS URL [NAME:VALUE...]]
# and the log streamer's own preStop, which keeps `kubectl logs -c podhooks-logs` going
# until the hook's output is printed:
#   /opt/podhooks/bin/busybox sh /opt/podhooks/bin/postoffline.sh await --within SECONDS
#
# The kubelet runs a container's preStop before it sends the container SIGTERM, and the
# endpoints controller withdraws a terminating pod from its Services at the same moment.
# So `run` first waits the drain delay (load balancers and kube-proxy catch up and stop
# sending), then runs the hook in the app's own container (its filesystem, env and user)
# under busybox sh, stopped after its timeout, then the container's own preStop (after
# the -- : exec, sleep or httpGet, as the kubelet would have run it), and then returns: the
# kubelet sends SIGTERM. Its exit code is the user's preStop's if that failed, else the
# hook's (124 after a timeout), else 0. The kubelet records a failure as a
# FailedPreStopHook event whose message is only "PreStopHook failed" (it keeps preStop
# output out of events); the reason is in the hook log and in the kubelet's own log. The
# hook's output goes to $PODHOOKS_LOG_DIR/post-offline.log, which the log streamer prints.
set -eu

case $0 in */*) here=${0%/*} ;; *) here=. ;; esac
. "$here/hooklib.sh"
# A preStop must not overwrite the app's termination message.
term_log=
log_dir=${PODHOOKS_LOG_DIR:-/podhooks/logs}
proc=${PODHOOKS_PROC:-/proc}
started_file=$log_dir/.post-offline.started
done_file=$log_dir/.post-offline.done

usage() { fail 2 "postoffline.sh: $*"; }
number() { case $2 in '' | *[!0-9]*) usage "$1 '$2' is not a whole number of seconds" ;; esac; }
# uptime_cs: centiseconds since boot in $cs (every container of the pod reads the same kernel's).
uptime_cs() {
  read -r up _ <"$proc/uptime" || usage "cannot read $proc/uptime"
  cs=${up%.*}${up#*.}
  cs=${cs#"${cs%%[!0]*}"}
  cs=${cs:-0}
}
# marker FILE: the number in FILE, or empty.
marker() { m=; if [ -r "$1" ]; then read -r m <"$1" || true; fi; case $m in '' | *[!0-9]*) m= ;; esac; }

# await: in the log streamer, before the kubelet stops it. The kubelet runs every
# container's preStop at once when the pod is deleted: a classic sidecar's, and a native
# sidecar's too (only the native sidecar's SIGTERM waits until the app containers have
# exited, and it comes at once then). So it waits up to 5 s for this termination's run to
# start (a start marker at most 5 s older than this call), then until that run has
# written its done marker (after the user's preStop, right before the app's SIGTERM), at
# most --within seconds in all, then gives `tail -F`, which looks once a second, 2 s to
# print the last lines. --parallel, which earlier injections gave classic sidecars only,
# is accepted and changes nothing: pods injected then get the wait in both modes.
await() {
  within=
  while [ $# -gt 0 ]; do
    case $1 in
      --within) [ $# -ge 2 ] || usage "--within needs seconds"; number --within "$2"; within=$2; shift 2 ;;
      --parallel) shift ;;
      *) usage "await: unknown option '$1' (usage: postoffline.sh await --within SECONDS)" ;;
    esac
  done
  [ -n "$within" ] || usage "await needs --within SECONDS"
  uptime_cs; t0=$cs
  run_started=
  while :; do
    marker "$started_file"
    if [ -n "$m" ] && [ "$m" -ge $((t0 - 500)) ]; then run_started=$m; break; fi
    uptime_cs; [ $((cs - t0)) -lt 500 ] || break
    $BB sleep 0.2
  done
  while [ -n "$run_started" ]; do
    marker "$done_file"
    [ "$m" != "$run_started" ] || break
    uptime_cs; [ $((cs - t0)) -lt $((within * 100)) ] || break
    $BB sleep 0.2
  done
  $BB sleep 2
  exit 0
}


# timed_out: the watchdog's ALRM while the hook runs. Stop the hook's process group (TERM,
# KILL 5 s later for what ignores it); run_hook's wait then returns and `run` goes on.
hook_timed_out=
timed_out() {
  trap '' ALRM
  hook_timed_out=1
  say "post-offline hook still running after ${timeout}s; stopping it"
  if [ -n "${hook_pid:-}" ]; then
    kill -TERM -"$hook_pid" 2>/dev/null || kill -TERM "$hook_pid" 2>/dev/null || true
    $BB setsid "$BB" sh -c '"$0" sleep 5; kill -KILL -"$1" 2>/dev/null' "$BB" "$hook_pid" &
    killer=$!
    wait "$hook_pid" 2>/dev/null || true
    kill -KILL -"$hook_pid" 2>/dev/null || true
    kill -TERM -"$killer" 2>/dev/null || true
  fi
}

# user_prestop KIND ARGS...: the container's own preStop, as the kubelet would run it;
# sets user_rc.
user_prestop() {
  user_rc=0
  [ $# -gt 0 ] || return 0
  kind=$1; shift
  case $kind in
    exec)
      [ $# -ge 1 ] || usage "exec needs a command"
      say "post-offline: running container $name's own preStop: exec $*"
      cmd=$1; shift
      if path=$(resolve "$cmd"); then
        (exec -a "$cmd" "$path" "$@") || user_rc=$?
      else
        echo "podhooks: container $name's preStop: command not found: $cmd" >&2
        user_rc=127
      fi ;;
    sleep)
      [ $# -eq 1 ] || usage "sleep needs seconds"
      number sleep "$1"
      say "post-offline: running container $name's own preStop: sleep ${1}s"
      $BB sleep "$1" ;;
    http-get)
      [ $# -ge 2 ] || usage "http-get needs SECONDS URL [NAME:VALUE...]"
      number http-get "$1"
      t=$1; shift
      say "post-offline: running container $name's own preStop: GET $1"
      # Like the kubelet: any answer will do; only no answer at all is a failure.
      if result=$(PODHOOKS_BUSYBOX=$BB $BB sh "$here/probe.sh" --timeout "$t" -- request GET 1xx,2xx,3xx,4xx,5xx "$@"); then
        say "post-offline: container $name's preStop GET $1: $result"
      else
        user_rc=1
        echo "podhooks: container $name's preStop GET $1: ${result#podhooks: }" >&2
      fi ;;
    *) usage "unknown preStop kind '$kind' (exec, sleep or http-get)" ;;
  esac
  [ "$user_rc" -eq 0 ] || say "post-offline: container $name's own preStop failed with exit code $user_rc"
}

run() {
  name= drain= timeout=
  while [ $# -gt 0 ]; do
    case $1 in
      --container) [ $# -ge 2 ] || usage "--container needs a name"; name=$2; shift 2 ;;
      --drain) [ $# -ge 2 ] || usage "--drain needs seconds"; number --drain "$2"; drain=$2; shift 2 ;;
      --timeout) [ $# -ge 2 ] || usage "--timeout needs seconds"; number --timeout "$2"; timeout=$2; shift 2 ;;
      --) shift; break ;;
      *) usage "run: unknown option '$1'" ;;
    esac
  done
  [ -n "$name" ] && [ -n "$drain" ] && [ -n "$timeout" ] || usage "run needs --container NAME --drain SECONDS --timeout SECONDS"
  hook=${PODHOOKS_POST_OFFLINE:-}

  if $BB mkdir -p "$log_dir" 2>/dev/null && : >>"$log_dir/post-offline.log" 2>/dev/null; then
    log=$log_dir/post-offline.log
  else
    echo "podhooks: warning: cannot write $log_dir/post-offline.log; the hook's output is not streamed" >&2
  fi
  uptime_cs; run_started=$cs
  { echo "$run_started" >"$started_file.$$" && $BB mv -f "$started_file.$$" "$started_file"; } 2>/dev/null || true

  say "post-offline: container $name is stopping; waiting ${drain}s (podhooks.io/drain-delay) for its endpoints to be withdrawn"
  $BB sleep "$drain"

  hook_rc=0
  if [ -n "$hook" ]; then
    say "post-offline hook starting"
    start=$($BB date +%s)
    trap timed_out ALRM
    $BB setsid "$BB" sh -c '"$0" sleep "$1" && kill -ALRM "$2"' "$BB" "$timeout" "$$" &
    watchdog=$!
    run_hook "post-offline hook" "$hook" "$log_dir/.post-offline.$$.fifo"
    kill -TERM -"$watchdog" 2>/dev/null || kill -TERM "$watchdog" 2>/dev/null || true
    wait "$watchdog" 2>/dev/null || true
    trap - ALRM
    end=$($BB date +%s)
    if [ -n "$hook_timed_out" ]; then
      hook_rc=124
      say "post-offline hook did not finish within ${timeout}s (podhooks.io/post-offline-timeout) and was stopped"
    elif [ "$hook_rc" -ne 0 ]; then
      say "post-offline hook failed with exit code $hook_rc after $((end - start))s"
    else
      say "post-offline hook finished in $((end - start))s"
    fi
  else
    say "post-offline: no hook script set (PODHOOKS_POST_OFFLINE is empty)"
  fi

  user_prestop "$@"
  # stderr: the kubelet's log has a failed preStop's output (its event only "PreStopHook failed").
  if [ "$hook_rc" -eq 124 ]; then
    echo "podhooks: post-offline hook for container $name did not finish within ${timeout}s (podhooks.io/post-offline-timeout) and was stopped" >&2
  elif [ "$hook_rc" -ne 0 ]; then
    echo "podhooks: post-offline hook for container $name failed with exit code $hook_rc" >&2
  fi
  say "post-offline: done; container $name gets SIGTERM now"
  # Last: the streamer's await lets go once this is written, so every line above is printed.
  { echo "$run_started" >"$done_file.$$" && $BB mv -f "$done_file.$$" "$done_file"; } 2>/dev/null || true
  if [ "$user_rc" -ne 0 ]; then exit "$user_rc"; fi
  exit "$hook_rc"
}

case ${1:-} in
  run) shift; run "$@" ;;
  await) shift; await "$@" ;;
  *) usage "usage: postoffline.sh run --container NAME --drain S --timeout S [-- KIND ARGS...] | await --within S" ;;
esac
