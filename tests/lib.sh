# tests/lib.sh - helpers for integration scripts (source it).
#   pass NAME | fail NAME WHY | skip NAME WHY   record a result
#   expect_exit CODE NAME CMD...               run CMD, pass if it exits CODE
#   jq_eq NAME FILE FILTER EXPECTED            pass if `jq -r FILTER FILE` == EXPECTED
#   free_port                                  print a free loopback TCP port
#   wait_port PORT [SECONDS]                   wait until 127.0.0.1:PORT accepts
#   bg CMD...                                  start CMD in the background, killed at exit
# $T is a fresh temporary directory, removed at exit. $HILT is the (sanitized)
# binary under test. Every server a test needs is started here, on loopback.
set -u
: "${ROOT:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
: "${BUILD:=$ROOT/build}"
: "${HILT:=$BUILD/san/hilt}"
: "${RESULTS:=/dev/null}"
T=$(mktemp -d /tmp/hilt-test.XXXXXX)
_bg_pids=()
_cleanup() {
  for p in "${_bg_pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${_bg_pids[@]}"; do wait "$p" 2>/dev/null; done
  rm -rf "$T"
}
trap _cleanup EXIT

pass() { echo "PASS $1" | tee -a "$RESULTS"; }
fail() { echo "FAIL $1: ${2:-}" | tee -a "$RESULTS"; }
skip() { echo "SKIP $1: ${2:?skip needs a reason}" | tee -a "$RESULTS"; }

expect_exit() {
  local want=$1 name=$2; shift 2
  "$@" >"$T/last.out" 2>"$T/last.err"; local rc=$?
  if [[ $rc == "$want" ]]; then pass "$name"; return 0; fi
  fail "$name" "exit $rc, wanted $want; stderr: $(head -c 400 "$T/last.err")"
  return 1
}

jq_eq() {
  local name=$1 file=$2 filter=$3 want=$4 got
  got=$(jq -r "$filter" "$file" 2>&1)
  if [[ "$got" == "$want" ]]; then pass "$name"; return 0; fi
  fail "$name" "$filter = '$got', wanted '$want'"
  return 1
}

free_port() {
  local p
  for _ in $(seq 1 200); do
    # Below the kernel's ephemeral range (32768+): a listener there can collide
    # with the source ports of the test's own outgoing connections.
    p=$(( 20000 + RANDOM % 12000 ))
    if ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then echo $p; return 0; fi
  done
  return 1
}

wait_port() {
  local port=$1 secs=${2:-10} i
  for i in $(seq 1 $((secs * 20))); do
    (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

bg() { "$@" & _bg_pids+=($!); }
