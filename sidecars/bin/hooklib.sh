# Shared by wrapper.sh, preonline.sh, postoffline.sh, probe.sh, logstream.sh and sidecar.sh
# (sourced; they always sit in the same directory).
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

# resolve CMD: the file the container runtime would run for CMD (execvp's PATH search).
# Done here rather than left to `exec` because busybox sh prefers its own applets, so a
# plain `exec sh ...` would run busybox's sh instead of the image's /bin/sh.
resolve() {
  case $1 in
    */*) [ -f "$1" ] && [ -x "$1" ] && echo "$1" && return 0; return 1 ;;
  esac
  old_ifs=$IFS; IFS=:
  for d in ${PATH:-/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin}; do
    if [ -f "${d:-.}/$1" ] && [ -x "${d:-.}/$1" ]; then IFS=$old_ifs; echo "${d:-.}/$1"; return 0; fi
  done
  IFS=$old_ifs; return 1
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
    # 9>&-: the run FIFO (hold_run_fifo) must be held by the app only, not by what the
    # hook leaves running.
    $BB tee -a "$log" <"$fifo" 9>&- &
    tee_pid=$!
    $BB setsid "$BB" sh -c "$hook_script" >"$fifo" 2>&1 9>&- &
    hook_pid=$!
  else
    $BB setsid "$BB" sh -c "$hook_script" 2>&1 9>&- &
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

# --- Classic sidecars that end with the app (injection.nativeSidecars "false") ---
# A Job's pod completes only when every container has exited, but a classic sidecar
# would run forever. The app is PID 1 of its own container and process namespaces are
# not shared, so the news crosses the shared run volume: each app container's wrapper
# creates the FIFO $PODHOOKS_RUN_DIR/NAME.fifo, holds it open (fd 9, which the exec'd
# app inherits) and then creates NAME.started. A FIFO has a writer exactly as long as
# some process holds it, so once NAME.started exists and no process holds the FIFO, that
# app has ended, however it ended (exit, crash, SIGKILL). No lock applet needed, and it
# works on any filesystem that keeps FIFOs (also virtio-fs in Kata).

# hold_run_fifo NAME: in the wrapper, before the hook; nothing without PODHOOKS_RUN_DIR.
hold_run_fifo() {
  run_dir=${PODHOOKS_RUN_DIR:-}
  [ -n "$run_dir" ] || return 0
  run_fifo=$run_dir/$1.fifo
  [ -p "$run_fifo" ] || $BB mkfifo "$run_fifo" 2>/dev/null || [ -p "$run_fifo" ] ||
    fail 1 "cannot create $run_fifo; the podhooks sidecars could not tell when container $1 ends"
  # Read-write: opening never blocks, and this process counts as a writer.
  exec 9<>"$run_fifo"
  : >"$run_dir/$1.started"
}

# app_ended RUN_DIR/NAME: true once that app container has started and ended. Opening a
# FIFO for reading returns at once while it has a writer and waits while it has none.
app_ended() {
  [ -e "$1.started" ] || return 1
  if $BB timeout 1 "$BB" sh -c 'exec 3<"$1"' sh "$1.fifo" 2>/dev/null; then return 1; fi
  return 0
}

# end_with_apps: if PODHOOKS_END_WITH lists app containers (RUN_DIR/NAME ...), watch
# them in the background and send USR1 to this shell once all of them have ended. The
# caller traps USR1 (and exits 0: a sidecar that ends because its app ended succeeded).
end_with_apps() {
  [ -n "${PODHOOKS_END_WITH:-}" ] || return 0
  main_pid=$$
  (
    trap - TERM INT USR1
    for app in $PODHOOKS_END_WITH; do
      while ! app_ended "$app"; do $BB sleep 1; done
    done
    kill -USR1 "$main_pid"
  ) &
  apps_watcher=$!
}
