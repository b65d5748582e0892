# Shared by wrapper.sh and preonline.sh (sourced; they always sit in the same directory).
# run_hook LABEL SCRIPT FIFO: runs SCRIPT with busybox sh, its output live on stdout and,
# when $log is set, appended to $log; sets hook_rc to the hook's exit code.
#
# The hook runs in the background in its own process group (setsid) so that the caller
# can wait for it AND react to signals: as PID 1 of a container it would otherwise
# ignore SIGTERM, and a TERM for the hook must reach the hook's children too. Background
# jobs ignore SIGINT, so both signals are forwarded as TERM. tee reads a FIFO the hook
# writes to: a pipeline would hide the hook's PID and exit code.
# Callers define $BB, $log and say().
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
