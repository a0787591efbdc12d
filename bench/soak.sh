#!/usr/bin/env bash
# bench/soak.sh - 1,000,000 handshakes through one hilt gateway (release build), half full and
# half resumed, each with a small request to an echo backend; the gateway's open file
# descriptors and RSS are printed before, after every 100,000, and at the end. Fails (exit 1)
# if the descriptor count changed or RSS grew by more than SOAK_RSS_SLACK_KIB (default 16 MiB)
# after the first 100,000 (allocator warm-up).
#   bench/soak.sh                     BUILD=dir picks the build (default build/)
#   TOTAL=200000 bench/soak.sh        a shorter soak
# Loopback only.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
HILT=${HILT:-$BUILD/hilt}
TOTAL=${TOTAL:-1000000}
STEP=${STEP:-100000}
CONC=${CONC:-64}
SLACK=${SOAK_RSS_SLACK_KIB:-16384}
[[ -x "$HILT" ]] || { echo "bench/soak.sh: build hilt first" >&2; exit 2; }
T=$(mktemp -d /tmp/hilt-soak.XXXXXX)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$T"' EXIT
free_port() { local p; for _ in $(seq 1 200); do p=$((12000 + RANDOM % 18000)); (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo $p; return; }; done; }
wait_port() { for _ in $(seq 1 200); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; return 1; }

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/key.pem" -out "$T/cert.pem" \
  -days 30 -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 2>/dev/null
cc -O2 -o "$T/gl" "$ROOT/tests/integration/gateway_load.c" -lssl -lcrypto || exit 3
PE=$(free_port); PL=$(free_port); PA=$(free_port)
"$T/gl" -m echod -p "$PE" & PIDS+=($!)
cat > "$T/gw.yaml" <<EOF
workers: 2
listeners:
  - name: soak
    listen: 127.0.0.1:$PL
    profile: modern
    certificates: [{cert: $T/cert.pem, key: $T/key.pem}]
    routes: [{sni: "*", backend: echo}]
backends:
  - name: echo
    servers: ["127.0.0.1:$PE"]
admin: {listen: 127.0.0.1:$PA}
events: {file: $T/events.jsonl}
EOF
"$HILT" gateway -c "$T/gw.yaml" --log-level warn > "$T/gw.log" 2>&1 & GW=$!; PIDS+=($GW)
wait_port "$PE" && wait_port "$PL" || { echo "soak: gateway did not start: $(tail -3 "$T/gw.log")" >&2; exit 3; }
fds() { ls /proc/$GW/fd | wc -l; }
rss() { awk '/^VmRSS/ {print $2}' /proc/$GW/status; }
echo "soak: $TOTAL handshakes (half resumed), $CONC at a time, $(nproc) CPUs"
printf '%10s %6s %10s %8s %8s %s\n' handshakes fds rss_kib secs failed resumed
printf '%10s %6s %10s\n' 0 "$(fds)" "$(rss)"
done_n=0 failed=0 t0=$(date +%s) fd_ref="" rss_ref=""
while (( done_n < TOTAL )); do
  half=$((STEP / 2))
  a=$("$T/gl" -p "$PL" -n $half -c "$CONC" -x 2>&1)
  b=$("$T/gl" -p "$PL" -n $half -c "$CONC" -x -R 2>&1)
  f=$(( $(sed -n 's/.*failed=\([0-9]*\).*/\1/p' <<<"$a") + $(sed -n 's/.*failed=\([0-9]*\).*/\1/p' <<<"$b") ))
  failed=$((failed + f)); done_n=$((done_n + STEP))
  sleep 0.3
  printf '%10s %6s %10s %8s %8s %s\n' $done_n "$(fds)" "$(rss)" $(( $(date +%s) - t0 )) $f "$(sed -n 's/.*resumed=\([0-9]*\).*/\1/p' <<<"$b")"
  if [[ -z "$fd_ref" ]]; then fd_ref=$(fds); rss_ref=$(rss); fi
done
fd_end=$(fds); rss_end=$(rss)
lines=$(wc -l < "$T/events.jsonl")
echo "events: $lines lines; gateway log: $(grep -c . "$T/gw.log") lines"
rc=0
[[ $fd_end == "$fd_ref" ]] || { echo "soak: FAIL fds $fd_ref -> $fd_end"; rc=1; }
(( rss_end - rss_ref <= SLACK )) || { echo "soak: FAIL RSS $rss_ref -> $rss_end KiB"; rc=1; }
(( failed == 0 )) || { echo "soak: FAIL $failed failed handshakes"; rc=1; }
(( rc == 0 )) && echo "soak: ok - fds $fd_ref -> $fd_end, RSS $rss_ref -> $rss_end KiB after the first $STEP, $failed failed"
exit $rc
