#!/usr/bin/env bash
# bench/probe.sh - speed of `hilt probe`, side by side with openssl s_client, in one run.
#   1. wall time of one healthy probe vs `openssl s_client` against the same local
#      openssl s_server (TLS 1.3, ECDSA P-256 chain), averaged over N runs, as a ratio;
#   2. total wall time to diagnose every `hilt lab` scenario (probes run 2 at a time,
#      the machine has 2 cores), with the lab already running.
# Goals (issue 2): ratio <= 1.2; whole lab < 3 s.
# Usage: bench/probe.sh [N]   (default N=200). Uses build/hilt (make first). Loopback only.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
HILT=${HILT:-$ROOT/build/hilt}
N=${1:-200}
T=$(mktemp -d /tmp/hilt-bench.XXXXXX)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$T"' EXIT
[[ -x "$HILT" ]] || { echo "build hilt first (make)"; exit 2; }

free_port() { local p; while :; do p=$((20000 + RANDOM % 12000)); (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo $p; return; }; done; }
wait_port() { for _ in $(seq 1 200); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; return 1; }
now_ns() { date +%s%N; }

# --- an endpoint: openssl s_server with a root -> intermediate -> leaf chain ------------
cd "$T"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -subj "/CN=bench root" -days 30 \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" -out ca.pem 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout leaf.key -subj "/CN=localhost" -out leaf.csr 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > leaf.ext
openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 20 -extfile leaf.ext -out leaf.pem 2>/dev/null
PORT=$(free_port)
openssl s_server -accept "127.0.0.1:$PORT" -cert leaf.pem -key leaf.key -quiet -naccept 100000 </dev/null >/dev/null 2>&1 &
pids+=($!)
wait_port "$PORT"

run_loop() { # N CMD... -> average ms per run
  local n=$1; shift
  local t0 t1
  t0=$(now_ns)
  for _ in $(seq 1 "$n"); do "$@" </dev/null >/dev/null 2>&1 || true; done
  t1=$(now_ns)
  echo "scale=3; ($t1 - $t0) / 1000000 / $n" | bc
}

# Sanity: both must succeed against this endpoint.
"$HILT" probe --ca-file ca.pem "127.0.0.1:$PORT" >/dev/null || { echo "hilt probe is not healthy against the bench endpoint"; exit 1; }
echo | openssl s_client -connect "127.0.0.1:$PORT" -CAfile ca.pem -verify_return_error >/dev/null 2>&1 || { echo "s_client failed"; exit 1; }

# Warm the page cache, then interleave the two so drift hits both equally.
run_loop 10 "$HILT" probe --ca-file ca.pem "127.0.0.1:$PORT" >/dev/null
run_loop 10 openssl s_client -connect "127.0.0.1:$PORT" -CAfile ca.pem -verify_return_error >/dev/null
h1=$(run_loop $((N / 2)) "$HILT" probe --ca-file ca.pem "127.0.0.1:$PORT")
o1=$(run_loop $((N / 2)) openssl s_client -connect "127.0.0.1:$PORT" -CAfile ca.pem -verify_return_error)
h2=$(run_loop $((N / 2)) "$HILT" probe --ca-file ca.pem "127.0.0.1:$PORT")
o2=$(run_loop $((N / 2)) openssl s_client -connect "127.0.0.1:$PORT" -CAfile ca.pem -verify_return_error)
hj=$(run_loop $((N / 2)) "$HILT" probe --json --ca-file ca.pem "127.0.0.1:$PORT")
h=$(echo "scale=3; ($h1 + $h2) / 2" | bc); o=$(echo "scale=3; ($o1 + $o2) / 2" | bc)
printf '\nhealthy endpoint, %d runs each (wall time per run, process start included)\n' "$N"
printf '  %-44s %8.2f ms\n' "hilt probe (text)" "$h"
printf '  %-44s %8.2f ms\n' "hilt probe --json" "$hj"
printf '  %-44s %8.2f ms\n' "openssl s_client -CAfile -verify_return_error" "$o"
printf '  ratio hilt/s_client: %.2f  (goal <= 1.20)\n' "$(echo "scale=4; $h / $o" | bc)"
# Wall time moves with the machine's load; instructions do not (callgrind counts them).
if command -v valgrind >/dev/null; then
  ih=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$HILT" probe --ca-file ca.pem "127.0.0.1:$PORT" 2>&1 >/dev/null | sed -n 's/.*I *refs: *//p' | tr -d ,)
  io=$(echo | valgrind --tool=callgrind --callgrind-out-file=/dev/null openssl s_client -connect "127.0.0.1:$PORT" -CAfile ca.pem -verify_return_error 2>&1 >/dev/null | sed -n 's/.*I *refs: *//p' | tr -d ,)
  printf '  instructions (callgrind): hilt %s, s_client %s, ratio %.2f\n' "$ih" "$io" "$(echo "scale=4; $ih / $io" | bc)"
fi

# --- the whole lab --------------------------------------------------------------------
if "$HILT" lab --help >/dev/null 2>&1; then
  BASE=$((20000 + RANDOM % 12000 - 64))   # below the ephemeral range
  "$HILT" lab --base-port "$BASE" --dir "$T/lab" > "$T/lab.out" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 200); do grep -qi ready "$T/lab.out" 2>/dev/null && break; sleep 0.05; done
  "$HILT" lab --list --json --base-port "$BASE" --dir "$T/lab" > "$T/scenarios.json"
  n=$(jq length "$T/scenarios.json")
  jq -r '.[] | [.args[]] | @sh' "$T/scenarios.json" > "$T/argv.txt"
  best=""
  for round in 1 2 3; do
    t0=$(now_ns)
    xargs -P 2 -L 1 sh -c "\"$HILT\" probe --json \"\$@\" >/dev/null 2>&1; true" sh < "$T/argv.txt"
    t1=$(now_ns)
    ms=$(( (t1 - t0) / 1000000 ))
    [[ -z "$best" || $ms -lt $best ]] && best=$ms
    printf '  lab round %d: %d scenarios diagnosed in %d ms\n' "$round" "$n" "$ms"
  done
  printf '\nwhole lab: %d scenarios in %d ms (best of 3; 2 probes at a time; goal < 3000 ms)\n' "$n" "$best"
else
  echo "(hilt lab not built: lab timing skipped)"
fi
