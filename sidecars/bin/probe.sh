# podhooks probe runner: Kubernetes probes that podhooks rewrites become exec probes
#   BUSYBOX sh /podhooks/bin/probe.sh [--require-file PATH] [--jdwp-port PORT]
#                                     [--timeout SECONDS] -- KIND ARGS...
# The conditions run first (the preOnline gate for readiness, an attached debugger for
# liveness), then KIND reproduces the original probe the way the kubelet runs it.
# Exit 0 = pass. On failure, exactly one line on stdout (the kubelet puts it in the
# probe's event), exit non-zero. Usage errors exit 2.
set -eu

case $0 in */*) here=${0%/*} ;; *) here=. ;; esac
if [ -z "${PODHOOKS_BUSYBOX:-}" ] && [ -x "$here/busybox" ]; then PODHOOKS_BUSYBOX=$here/busybox; fi
BB=${PODHOOKS_BUSYBOX:-/podhooks/bin/busybox}
timeout=${PODHOOKS_PROBE_TIMEOUT:-1}
proc_net=${PODHOOKS_PROC_NET:-/proc/net}

fail() { code=$1; shift; echo "podhooks: $*"; exit "$code"; }
usage() { fail 2 "probe.sh: $*"; }
# oneline TEXT: TEXT on one line, shortened, for a failure message.
oneline() { echo "$1" | $BB awk '{ s = s (NR > 1 ? " | " : "") $0 } END { if (length(s) > 300) s = substr(s, 1, 300) "..."; print s }'; }
# hostport HOST PORT: HOST:PORT, HOST empty = 127.0.0.1, IPv6 literals bracketed.
hostport() { case ${1:-127.0.0.1} in *:*) echo "[$1]:$2" ;; *) echo "${1:-127.0.0.1}:$2" ;; esac; }
# resolve CMD: the file execvp would run (busybox sh would prefer its own applets).
resolve() {
  case $1 in */*) [ -f "$1" ] && [ -x "$1" ] && echo "$1" && return 0; return 1 ;; esac
  old_ifs=$IFS; IFS=:
  for d in ${PATH:-/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin}; do
    if [ -f "${d:-.}/$1" ] && [ -x "${d:-.}/$1" ]; then IFS=$old_ifs; echo "${d:-.}/$1"; return 0; fi
  done
  IFS=$old_ifs; return 1
}
# run CMD...: its stdout+stderr in $out, its exit code in $rc. `exit $?` keeps the
# subshell from exec'ing CMD: when a command substitution itself is killed (by the
# timeout applet), busybox sh prints "Terminated" on our stderr, a second event line.
run() { rc=0; out=$(exec 2>&1; "$@"; exit $?) || rc=$?; }

# http_check URL [NAME:VALUE...]: pass iff the first response's status is 200..399
# (the kubelet's rule; a redirect passes without being followed to its end).
http_check() {
  url=$1; shift
  n=$#
  while [ "$n" -gt 0 ]; do
    h=$1; shift; n=$((n - 1))
    case $h in *:*) ;; *) usage "header '$h' is not NAME:VALUE" ;; esac
    set -- "$@" --header "${h%%:*}: ${h#*:}"
  done
  # -S prints each response's status line to stderr even when wget then fails (4xx,
  # 5xx, a redirect it cannot follow). -Y off: the pod's proxy settings must not apply.
  # No certificate check, like the kubelet. wget -T crashes in Debian's busybox 1.35,
  # hence the timeout applet.
  run $BB timeout "$timeout" "$BB" wget -q -S -Y off --no-check-certificate \
    -U kube-probe/podhooks -O /dev/null "$@" "$url"
  status=$(echo "$out" | $BB awk '$1 ~ /^HTTP\// { print $2; exit }')
  case $status in
    [23][0-9][0-9]) exit 0 ;;
    [0-9]*) fail 1 "HTTP probe failed with statuscode: $status ($url)" ;;
  esac
  [ "$rc" -ne 143 ] || fail 1 "HTTP probe of $url timed out after ${timeout}s"
  why=$(echo "$out" | $BB awk '/^wget: / { sub(/^wget: /, ""); last = $0 } END { print last }')
  case $url in
    https:*) hint=" (https: busybox wget uses openssl from the image if there is one, else its own TLS 1.2 client)" ;;
    *) hint= ;;
  esac
  fail 1 "HTTP probe of $url failed: ${why:-wget exit code $rc}$hint"
}

jdwp_port=
while [ $# -gt 0 ]; do
  case $1 in
    --require-file)
      [ $# -ge 2 ] || usage "--require-file needs a path"
      [ -e "$2" ] || fail 1 "not online yet: $2 missing (pre-online hook has not succeeded)"
      shift 2 ;;
    --jdwp-port)
      [ $# -ge 2 ] || usage "--jdwp-port needs a port"
      case $2 in '' | *[!0-9]*) usage "--jdwp-port '$2' is not a port number" ;; esac
      jdwp_port=$2; shift 2 ;;
    --timeout)
      [ $# -ge 2 ] || usage "--timeout needs seconds"
      timeout=$2; shift 2 ;;
    --) shift; break ;;
    *) usage "unknown option '$1' (usage: probe.sh [--require-file PATH] [--jdwp-port PORT] [--timeout S] -- KIND ARGS...)" ;;
  esac
done
case $timeout in '' | *[!0-9.]*) usage "timeout '$timeout' is not a number of seconds" ;; esac

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
    run "$bin" "$@"
    [ "$rc" -ne 0 ] || exit 0
    fail "$rc" "gRPC probe of $addr failed: $(oneline "$out")" ;;
  *) usage "unknown probe kind '$kind' (http-get, tcp, exec, grpc or none)" ;;
esac
