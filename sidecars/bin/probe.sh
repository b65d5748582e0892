# podhooks probe runner: Kubernetes probes that podhooks rewrites become exec probes
#   BUSYBOX sh /podhooks/bin/probe.sh [--require-online DIR NAME] [--after-pre-start]
#       [--shared-pid] [--require-file PATH] [--jdwp-port PORT] [--timeout SECONDS]
#       -- KIND ARGS...
# The conditions run first (the preOnline gate for readiness, a finished preStart hook
# for startup, an attached debugger for liveness), then KIND reproduces the original
# probe the way the kubelet runs it, within --timeout seconds (the probe's timeoutSeconds).
# Exit 0 = pass. On failure, exactly one line on stdout (the kubelet puts it in the
# probe's event), exit non-zero. Usage errors exit 2.
#
# "This container's start" is the start time of its first process: PID 1 of the
# container, or with --shared-pid (spec.shareProcessNamespace, PID 1 is the pod's) the
# oldest process in this container's mount namespace. A restart is a new process, so a
# new start time; it is in clock ticks since boot (USER_HZ, 100 per second on Linux),
# the clock of /proc/uptime, which every container of the pod shares.
set -eu

case $0 in */*) here=${0%/*} ;; *) here=. ;; esac
. "$here/hooklib.sh"
# A probe never writes the app's termination message (see fail below).
term_log=
timeout=${PODHOOKS_PROBE_TIMEOUT:-1}
proc=${PODHOOKS_PROC:-/proc}
proc_net=${PODHOOKS_PROC_NET:-$proc/net}

# A probe's failure is one line on stdout, for the kubelet's event: not hooklib's fail,
# which also writes the hook log and the termination log (the app's, not the probe's).
fail() { code=$1; shift; echo "podhooks: $*"; exit "$code"; }
usage() { fail 2 "probe.sh: $*"; }
# oneline TEXT: TEXT on one line, shortened, for a failure message.
oneline() { echo "$1" | $BB awk '{ s = s (NR > 1 ? " | " : "") $0 } END { if (length(s) > 300) s = substr(s, 1, 300) "..."; print s }'; }
# hostport HOST PORT: HOST:PORT, HOST empty = 127.0.0.1, IPv6 literals bracketed.
hostport() { case ${1:-127.0.0.1} in *:*) echo "[$1]:$2" ;; *) echo "${1:-127.0.0.1}:$2" ;; esac; }
# stat_start PID: the process's start time (field 22 of /proc/PID/stat; the name in
# field 2 may hold spaces and parentheses, so fields are counted after its last ") ").
stat_start() { $BB awk '{ sub(/^.*\) /, ""); print $20 }' "$proc/$1/stat" 2>/dev/null; }
# init_pid: this container's first process (see the top of this file).
init_pid() {
  if [ -z "$shared_pid" ]; then echo 1; return 0; fi
  me=$($BB readlink "$proc/self/ns/mnt" 2>/dev/null) || return 1
  mine=$(stat_start $$)
  best=; best_start=
  for d in "$proc"/[0-9]*; do
    # Processes of other containers, and those whose namespace we may not read, are skipped.
    [ "$($BB readlink "$d/ns/mnt" 2>/dev/null)" = "$me" ] || continue
    s=$(stat_start "${d##*/}") || continue
    case $s in '' | *[!0-9]*) continue ;; esac
    [ "$s" -lt "$mine" ] || continue
    if [ -z "$best" ] || [ "$s" -lt "$best_start" ]; then best=${d##*/}; best_start=$s; fi
  done
  [ -n "$best" ] && echo "$best"
}
# container_start: "BOOT_ID START" of this container, or fail.
container_start() {
  pid=$(init_pid) || fail 1 "cannot tell when this container started: no process of it is readable in $proc"
  s=$(stat_start "$pid")
  case $s in '' | *[!0-9]*) fail 1 "cannot tell when this container started: $proc/$pid/stat is unreadable" ;; esac
  # A runtime without a boot id (both sides read the same kernel's) still compares starts.
  boot=none
  if [ -r "$proc/sys/kernel/random/boot_id" ]; then read -r boot <"$proc/sys/kernel/random/boot_id" || [ -n "$boot" ] || boot=none; fi
  echo "$boot $s"
}

# require_online DIR NAME: the preOnline gate. podhooks-preonline writes DIR/online as
# "BOOT_ID T": T (centiseconds since boot) is when the check URL was asked for the time
# that passed, before the hook ran. The mark holds for this container iff it started
# before T: the check and the hook then saw this very start. A mark from before a restart
# does not hold, whoever wrote it when; nothing has to clear it. This container's start
# is published in DIR/started.NAME so that podhooks-preonline sees restarts and runs the
# hook again.
require_online() {
  dir=$1 name=$2
  cs=$(container_start) || { echo "$cs"; exit 1; }
  boot=${cs% *} start=${cs##* }
  published=
  if [ -r "$dir/started.$name" ]; then read -r published <"$dir/started.$name" || true; fi
  unpublished=
  if [ "$published" != "$boot $start" ]; then
    tmpf=$dir/.started.$name.$$
    if ! { echo "$boot $start" >"$tmpf" && $BB mv -f "$tmpf" "$dir/started.$name"; } 2>/dev/null; then
      $BB rm -f "$tmpf" 2>/dev/null || true
      unpublished=" (and $dir/started.$name cannot be written, so podhooks-preonline cannot see this start)"
    fi
  fi
  mark_boot= mark_t=
  if [ -r "$dir/online" ]; then read -r mark_boot mark_t <"$dir/online" || true; fi
  case $mark_t in '' | *[!0-9]*) mark_t=0 ;; esac
  if [ "$mark_boot" != "$boot" ] || [ "$start" -ge "$mark_t" ]; then
    fail 1 "not online yet: the pre-online hook has not succeeded since container $name started$unpublished"
  fi
}

# after_pre_start KIND: fails while this container's first process is still the preStart
# wrapper (it execs the app once the hook has finished), saying what follows: KIND none
# is the readiness probe of a container that had none; any other is the startup probe,
# which then runs the container's own check (its startup probe's, else its liveness
# probe's) with a failureThreshold raised by the hook's timeout.
after_pre_start() {
  pid=$(init_pid) || fail 1 "cannot tell whether the pre-start hook finished: no process of this container is readable in $proc"
  argv=$($BB tr '\0' '\n' <"$proc/$pid/cmdline" 2>/dev/null | $BB head -n 3 | $BB tr '\n' ' ') || argv=
  case $argv in
    '') fail 1 "cannot tell whether the pre-start hook finished: $proc/$pid/cmdline is unreadable" ;;
    *busybox' sh '*/wrapper.sh' ')
      case $1 in
        none) fail 1 "pre-start hook still running; the container has no readiness probe of its own and is ready once the hook has finished and the app has started" ;;
        http-get) check=HTTP ;; tcp) check=TCP ;; grpc) check=gRPC ;; *) check=$1 ;;
      esac
      fail 1 "pre-start hook still running, so the app has not started; this probe runs the container's own $check check once the hook has finished (its failureThreshold allows for the hook's timeout)" ;;
  esac
}

# run CMD...: its stdout+stderr in $out, its exit code in $rc. `exit $?` keeps the
# subshell from exec'ing CMD: when a command substitution itself is killed (by the
# timeout applet), busybox sh prints "Terminated" on our stderr, a second event line.
run() { rc=0; out=$(exec 2>&1; "$@"; exit $?) || rc=$?; }

# http_status METHOD URL [NAME:VALUE...]: one request (GET, or POST with an empty body);
# sets $status to the first response's status ("" when none came), $rc and $out to
# wget's. The kubelet's rule: a redirect is not followed to its end.
http_status() {
  method=$1 url=$2; shift 2
  n=$#
  while [ "$n" -gt 0 ]; do
    h=$1; shift; n=$((n - 1))
    case $h in *:*) ;; *) usage "header '$h' is not NAME:VALUE" ;; esac
    set -- "$@" --header "${h%%:*}: ${h#*:}"
  done
  case $method in
    GET) ;;
    POST) set -- --post-data '' "$@" ;;
    *) usage "method '$method' is not GET or POST (busybox wget speaks no other)" ;;
  esac
  # -S prints each response's status line to stderr even when wget then fails (4xx,
  # 5xx, a redirect it cannot follow). -Y off: the pod's proxy settings must not apply.
  # No certificate check, like the kubelet. wget -T crashes in Debian's busybox 1.35,
  # hence the timeout applet.
  run $BB timeout "$timeout" "$BB" wget -q -S -Y off --no-check-certificate \
    -U kube-probe/podhooks -O /dev/null "$@" "$url"
  status=$(echo "$out" | $BB awk '$1 ~ /^HTTP\// { print $2; exit }')
}

# no_status_failure LABEL URL: the failure line when no status came (timeout, refused,
# TLS): "LABEL of URL timed out ...", or without a LABEL just "timed out ...".
no_status_failure() {
  what=${1:+$1 of $2 }
  [ "$rc" -ne 143 ] || fail 1 "${what}timed out after ${timeout}s"
  why=$(echo "$out" | $BB awk '/^wget: / { sub(/^wget: /, ""); last = $0 } END { print last }')
  case $2 in
    https:*) hint=" (https: busybox wget uses openssl from the image if there is one, else its own TLS 1.2 client)" ;;
    *) hint= ;;
  esac
  fail 1 "${what}failed: ${why:-wget exit code $rc}$hint"
}

# http_check URL [NAME:VALUE...]: pass iff the first response's status is 200..399
# (the kubelet's rule; a redirect passes without being followed to its end).
http_check() {
  http_status GET "$@"
  case $status in
    [23][0-9][0-9]) exit 0 ;;
    [0-9]*) fail 1 "HTTP probe failed with statuscode: $status ($1)" ;;
  esac
  no_status_failure "HTTP probe" "$1"
}

# http_request METHOD EXPECT URL [NAME:VALUE...]: pass iff the status is one of EXPECT, a
# comma list of codes (200) and classes (2xx); prints "HTTP STATUS" on a pass. The caller
# names the request, so the failure line does not: "HTTP 500, expected 200", "timed out
# after 5s", "failed: REASON".
http_request() {
  method=$1 expect=$2; shift 2
  http_status "$method" "$@"
  case $status in
    [0-9][0-9][0-9])
      old_ifs=$IFS; IFS=,
      for e in $expect; do
        case $e in
          "$status" | "${status%??}xx") IFS=$old_ifs; echo "HTTP $status"; exit 0 ;;
        esac
      done
      IFS=$old_ifs
      fail 1 "HTTP $status, expected $expect" ;;
  esac
  no_status_failure "" "$1"
}

jdwp_port= require_file= online_dir= online_name= pre_start= shared_pid=
while [ $# -gt 0 ]; do
  case $1 in
    --require-file)
      [ $# -ge 2 ] || usage "--require-file needs a path"
      require_file=$2; shift 2 ;;
    --require-online)
      [ $# -ge 3 ] || usage "--require-online needs the state directory and the container name"
      online_dir=$2; online_name=$3; shift 3 ;;
    --after-pre-start) pre_start=1; shift ;;
    --shared-pid) shared_pid=1; shift ;;
    --jdwp-port)
      [ $# -ge 2 ] || usage "--jdwp-port needs a port"
      case $2 in '' | *[!0-9]*) usage "--jdwp-port '$2' is not a port number" ;; esac
      jdwp_port=$2; shift 2 ;;
    --timeout)
      [ $# -ge 2 ] || usage "--timeout needs seconds"
      timeout=$2; shift 2 ;;
    --) shift; break ;;
    *) usage "unknown option '$1' (usage: probe.sh [--require-online DIR NAME] [--after-pre-start] [--shared-pid] [--require-file PATH] [--jdwp-port PORT] [--timeout S] -- KIND ARGS...)" ;;
  esac
done
case $timeout in '' | *[!0-9.]*) usage "timeout '$timeout' is not a number of seconds" ;; esac

if [ -n "$require_file" ] && [ ! -e "$require_file" ]; then fail 1 "not online yet: $require_file missing (pre-online hook has not succeeded)"; fi
if [ -n "$pre_start" ]; then after_pre_start "${1:-}"; fi
if [ -n "$online_dir" ]; then require_online "$online_dir" "$online_name"; fi

# A JVM stopped at a breakpoint cannot answer its probes; while a debugger is connected
# (a socket in state 01 = ESTABLISHED whose local port is the JDWP port; the kernel
# writes ports as 4 upper-case hex digits) liveness passes without asking the app.
if [ -n "$jdwp_port" ]; then
  hex=$(printf '%04X' "$jdwp_port")
  if $BB cat "$proc_net/tcp" "$proc_net/tcp6" 2>/dev/null | $BB awk -v p="$hex" '
      $4 == "01" { n = split($2, a, ":"); if (a[n] == p) found = 1 }
      END { exit !found }'; then
    echo "podhooks: debugger attached on port $jdwp_port; liveness passes"
    exit 0
  fi
fi

[ $# -gt 0 ] || usage "no probe after -- (http-get, tcp, exec, grpc or none)"
kind=$1; shift
case $kind in
  none) exit 0 ;;
  http-get)
    [ $# -ge 4 ] || usage "http-get SCHEME HOST PORT PATH [NAME:VALUE...]"
    scheme=$1; addr=$(hostport "$2" "$3"); path=$4; shift 4
    case $scheme in http | https) ;; *) usage "http-get scheme '$scheme' is not http or https" ;; esac
    case $path in /*) ;; *) path=/$path ;; esac
    http_check "$scheme://$addr$path" "$@" ;;
  url)
    # Not a kubelet probe kind: a whole URL, used by preonline.sh for the check URL.
    [ $# -ge 1 ] || usage "url URL [NAME:VALUE...]"
    http_check "$@" ;;
  request)
    # Not a kubelet probe kind: one warm-up request (preonline.sh), or the user's httpGet
    # preStop (postoffline.sh), with the status it must answer.
    [ $# -ge 3 ] || usage "request METHOD EXPECT URL [NAME:VALUE...]"
    case $2 in '' | *[!0-9x,]*) usage "request: EXPECT '$2' is not a comma list of statuses (200) and classes (2xx)" ;; esac
    http_request "$@" ;;
  tcp)
    [ $# -ge 2 ] || usage "tcp HOST PORT"
    # nc -e runs `true` once connected, which closes the connection at once.
    run $BB timeout "$timeout" "$BB" nc "${1:-127.0.0.1}" "$2" -e "$BB" true
    [ "$rc" -ne 0 ] || exit 0
    [ "$rc" -ne 143 ] || fail 1 "TCP probe of $(hostport "$1" "$2") timed out after ${timeout}s"
    fail 1 "TCP probe of $(hostport "$1" "$2") failed: $(oneline "${out#nc: }")" ;;
  exec)
    [ $# -ge 1 ] || usage "exec CMD [ARGS...]"
    cmd=$1; shift
    path=$(resolve "$cmd") || fail 127 "exec probe: command not found: $cmd"
    # The kubelet enforces the probe's timeoutSeconds on the whole exec probe.
    rc=0; out=$(exec 2>&1; (exec -a "$cmd" "$path" "$@"); exit $?) || rc=$?
    [ "$rc" -ne 0 ] || exit 0
    fail "$rc" "exec probe '$cmd' failed with exit code $rc${out:+: $(oneline "$out")}" ;;
  grpc)
    [ $# -ge 2 ] || usage "grpc HOST PORT [SERVICE]"
    bin=$here/grpc_health_probe
    [ -x "$bin" ] || fail 1 "gRPC probe needs $bin, which is missing (not in the podhooks tools image)"
    addr=$(hostport "$1" "$2"); service=${3:-}
    set -- -addr="$addr" -connect-timeout="${timeout}s" -rpc-timeout="${timeout}s"
    if [ -n "$service" ]; then set -- "$@" -service="$service"; fi
    # The connection and the call each get the timeout; together they must not take
    # longer (the kubelet's gRPC probe has one deadline for both).
    run $BB timeout "$timeout" "$bin" "$@"
    [ "$rc" -ne 0 ] || exit 0
    [ "$rc" -ne 143 ] || fail 1 "gRPC probe of $addr timed out after ${timeout}s"
    fail "$rc" "gRPC probe of $addr failed: $(oneline "$out")" ;;
  *) usage "unknown probe kind '$kind' (http-get, tcp, exec, grpc or none)" ;;
esac
