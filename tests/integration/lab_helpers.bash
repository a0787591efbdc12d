# lab_helpers.bash - shared by tests/integration/lab*.sh (sourced after
# tests/lib.sh; not a test itself: run.sh only runs *.sh).
#   lab_base                 print a base port B with B .. B+63 free on 127.0.0.1
#   lab_start OUT ARGS...    start `$HILT lab --json ARGS` in the background on a free
#                            base (retrying if the range gets taken meanwhile); waits
#                            for the readiness line; sets LAB_BASE, LAB_PID, LAB_OUT
#                            (stdout: the JSON list) and LAB_ERR (stderr)
#   lab_stop                 SIGTERM the lab, wait; sets LAB_RC
#   lab_port NAME            the port of a scenario (from the running lab's list)
#   ports_closed B FROM TO   true when nothing accepts on B+FROM .. B+TO

LAB_SPAN=64

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

lab_base() {
  local b o ok
  for _ in $(seq 1 40); do
    b=$((20000 + RANDOM % 12000 - 64)); ok=1   # below the ephemeral range
    for o in $(seq 0 $((LAB_SPAN - 1))); do
      if port_open $((b + o)); then ok=0; break; fi
    done
    if ((ok)); then echo "$b"; return 0; fi
  done
  return 1
}

lab_start() {
  local out=$1; shift
  LAB_OUT="$out.out"; LAB_ERR="$out.err"
  for _ in 1 2 3; do
    LAB_BASE=$(lab_base) || return 1
    bg "$HILT" lab --json --base-port "$LAB_BASE" "$@" >"$LAB_OUT" 2>"$LAB_ERR"
    LAB_PID=$!
    # ready = the JSON list printed (a sanitized build mints slowly)
    for _ in $(seq 1 1200); do
      if (( $(wc -l <"$LAB_OUT") >= 1 )); then return 0; fi
      kill -0 "$LAB_PID" 2>/dev/null || break
      sleep 0.05
    done
    wait "$LAB_PID" 2>/dev/null
    grep -q 'is in use' "$LAB_ERR" || return 1   # anything but a port race is a real failure
  done
  return 1
}

lab_stop() {
  kill -TERM "$LAB_PID" 2>/dev/null
  wait "$LAB_PID" 2>/dev/null; LAB_RC=$?
}

lab_port() { jq -r --arg n "$1" '.[] | select(.name == $n) | .port' "$LAB_OUT"; }

ports_closed() {
  local b=$1 o
  for o in $(seq "$2" "$3"); do
    if port_open $((b + o)); then return 1; fi
  done
  return 0
}
