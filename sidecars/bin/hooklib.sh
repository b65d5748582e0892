# Shared by wrapper.sh and preonline.sh (sourced; they always sit in the same directory).
# BB: busybox from PODHOOKS_BUSYBOX, else next to the scripts, else the pod's copy.
if [ -z "${PODHOOKS_BUSYBOX:-}" ] && [ -x "$here/busybox" ]; then PODHOOKS_BUSYBOX=$here/busybox; fi
BB=${PODHOOKS_BUSYBOX:-/podhooks/bin/busybox}
term_log=${PODHOOKS_TERMINATION_LOG:-/dev/termination-log}
log=

# fail CODE MESSAGE: stderr, the hook log, and the termination log (shown by
# `kubectl describe pod` as the container's last state), then exit CODE.
fail() {
  code=$1; shift
  echo "podhooks: $*" >&2
  if [ -n "$log" ]; then echo "podhooks: $*" >>"$log" 2>/dev/null || true; fi
  if [ -w "$term_log" ]; then echo "podhooks: $*" >"$term_log" 2>/dev/null || true; fi
  exit "$code"
}

# say MESSAGE: stdout and the hook log.
say() {
  echo "podhooks: $*"
  if [ -n "$log" ]; then echo "podhooks: $*" >>"$log" 2>/dev/null || true; fi
}

# run_hook LABEL SCRIPT FIFO: runs SCRIPT with busybox sh, its output live on stdout and,
# when $log is set, appended to $log; sets hook_rc to the hook's exit code.
#
# The hook runs in the background in its own process group (setsid) so that the caller
# can wait for it AND react to signals: as PID 1 of a container it would otherwise
# ignore SIGTERM, and a TERM for the hook must reach the hook's children too. Background
# jobs ignore SIGINT, so both signals are forwarded as TERM. tee reads a FIFO the hook
# writes to: a pipeline would hide the hook's PID and exit code.
# The sourcing script sets $here (its directory) first.
run_hook() {
  hook_label=$1 hook_script=$2 fifo=$3
  hook_pid=; tee_pid=
  on_signal() {
    trap '' TERM INT
    say "$hook_label interrupted by a signal; stopping it"
    if [ -n "$hook_pid" ]; then
      kill -TERM -"$hook_pid" 2>/dev/null || kill -TERM "$hook_pid" 2>/dev/null || true
      wait "$hook_pid" 2>/dev/null || true
    fi
    if [ -n "$fifo" ]; then $BB rm -f "$fifo"; fi
    exit "$1"
  }
  trap 'on_signal 143' TERM
  trap 'on_signal 130' INT
  if [ -n "$log" ]; then
    $BB rm -f "$fifo"
    $BB mkfifo "$fifo" 2>/dev/null || fifo=
  else
    fifo=
  fi
  if [ -n "$fifo" ]; then
    $BB tee -a "$log" <"$fifo" &
    tee_pid=$!
    $BB setsid "$BB" sh -c "$hook_script" >"$fifo" 2>&1 &
    hook_pid=$!
  else
    $BB setsid "$BB" sh -c "$hook_script" 2>&1 &
    hook_pid=$!
  fi
  hook_rc=0
  wait "$hook_pid" || hook_rc=$?
  # Let tee drain; give up after ~2s if something the hook left running in the
  # background still holds the FIFO open (tee then keeps copying its output).
  i=0
  while [ -n "$tee_pid" ] && kill -0 "$tee_pid" 2>/dev/null && [ $i -lt 20 ]; do
    $BB sleep 0.1; i=$((i + 1))
  done
  if [ -n "$fifo" ]; then $BB rm -f "$fifo"; fi
  trap - TERM INT
}
