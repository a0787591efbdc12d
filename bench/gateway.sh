#!/usr/bin/env bash
# bench/gateway.sh - hilt gateway against HAProxy, nginx (stream), hitch and stunnel, in one run.
#
# Every server terminates TLS 1.3 with the same ECDSA P-256 certificate and proxies at L4
# to the same plain nginx backend. The server under test is pinned to CPU 0
# (taskset); the load generator (h2load, and tests/integration/gateway_load.c where
# h2load cannot: resumption, idle connections) and the backend run on CPU 1.
# Rows, per server (medians over ROUNDS rounds, servers interleaved):
#   full_us     server CPU µs per full handshake: (utime+stime of the server's process
#               tree, /proc/PID/stat) / handshakes, h2load --h1 with one request per
#               connection (batches of 200 connections)
#   full_gl_us  full handshakes again, from gateway_load (HTTP/1.0 GET to EOF), the
#               client that also measures...
#   resumed_us  ...resumed handshakes (TLS 1.3 tickets; gateway_load -R, 50 slots)
#   bulk_MBps   bulk throughput per core: bytes of one download through the proxy
#               divided by the server's CPU seconds for it (and the wall MB/s)
#   p99_add_us  p99 latency of a small HTTP/1.1 request through the proxy on one kept-alive
#               connection minus p99 of the same directly to the backend, measured right
#               after it (gateway_load -m lat; h2load's own per-request overhead and
#               scheduling noise swamped the difference); p50_add_us likewise
#   idle_KiB    memory per idle TLS connection: RSS growth of a freshly started server's
#               tree with IDLE_N connections held open after their handshake, / IDLE_N
#               (at most 20 handshakes in flight while they open, so the figure is the
#               idle cost, not the peak of N simultaneous handshakes' buffers)
# Then each row as a ratio to hilt (>1 means the peer costs more / is slower).
#
#   bench/gateway.sh                  everything (BUILD=dir picks the build; default build/)
#   SERVERS="hilt nginx" ROUNDS=1 N=2000 bench/gateway.sh
#   HILT_OPTS=events=off              hilt without per-handshake events (for comparison)
#   SERVERS="hilt hilt-libevent hilt-noevents"   hilt on its epoll loop vs the same gateway on
#                                     libevent (loop: libevent), and without events
#   CALLGRIND=1 bench/gateway.sh      instead of the table: user-space instructions per full and
#                                     per resumed handshake of hilt (one worker, events on) under
#                                     valgrind --tool=callgrind, counters zeroed after a warm-up
#                                     (CG_N handshakes each, default 300); repeatable on a shared
#                                     machine where CPU time is not. CG_TICKETS=store adds
#                                     tickets from a SQLite store (the shared-key path)
# Loopback only. Needs: h2load (nghttp2-client), haproxy, nginx + libnginx-mod-stream,
# hitch, stunnel4, taskset, cc.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
HILT=${HILT:-$BUILD/hilt}
SERVERS=${SERVERS:-"hilt haproxy nginx hitch stunnel"}
ROUNDS=${ROUNDS:-3}
N=${N:-6000}              # full handshakes per round and server
RN=${RN:-6000}            # resumed handshakes
BULK_MB=${BULK_MB:-256}
LAT_N=${LAT_N:-5000}
IDLE_N=${IDLE_N:-2000}
HILT_OPTS=${HILT_OPTS:-}
SCPU=${SCPU:-0}
LCPU=${LCPU:-1}

for t in h2load haproxy nginx hitch stunnel4 taskset cc openssl; do
  command -v $t >/dev/null || { echo "bench/gateway.sh: $t is missing (scripts/install-deps.sh)" >&2; exit 2; }
done
[[ -x "$HILT" ]] || { echo "bench/gateway.sh: build hilt first (make BUILD=...)" >&2; exit 2; }
STREAM_MOD=/usr/lib/nginx/modules/ngx_stream_module.so
[[ -f $STREAM_MOD ]] || { echo "bench/gateway.sh: nginx stream module missing (libnginx-mod-stream)" >&2; exit 2; }

T=$(mktemp -d /tmp/hilt-bench-gw.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)" 2>/dev/null

# ports below the ephemeral range, so no TIME_WAIT of the load's own connections is in the way
free_port() { local p; for _ in $(seq 1 200); do p=$((12000 + RANDOM % 18000)); (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo $p; return; }; done; }
wait_port() { for _ in $(seq 1 200); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; return 1; }
tree() { local p=$1 c; echo "$p"; for c in $(pgrep -P "$p" 2>/dev/null); do tree "$c"; done; }
cpu_ticks() { local t=0 p; for p in $(tree "$1"); do [[ -r /proc/$p/stat ]] && t=$((t + $(awk '{print $14 + $15}' /proc/$p/stat))); done; echo $t; }
rss_kib() { local t=0 p; for p in $(tree "$1"); do [[ -r /proc/$p/status ]] && t=$((t + $(awk '/^VmRSS/ {print $2}' /proc/$p/status))); done; echo $t; }
TCK=$(getconf CLK_TCK)
median() { sort -n | awk '{a[NR]=$1} END {if (NR == 0) print "-"; else print a[int((NR + 1) / 2)]}'; }
minimum() { sort -n | head -1 | awk 'END {if (NR == 0) print "-"; else print $1}'; }

# ---- shared pieces: certificate, backend, load client --------------------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/key.pem" -out "$T/cert.pem" \
  -days 30 -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 2>/dev/null
cat "$T/cert.pem" "$T/key.pem" > "$T/both.pem"
cc -O2 -o "$T/gl" "$ROOT/tests/integration/gateway_load.c" -lssl -lcrypto || exit 3
PB=$(free_port)
mkdir -p "$T/backend"
head -c $((BULK_MB * 1024 * 1024)) /dev/zero > "$T/backend/big"
cat > "$T/backend/nginx.conf" <<EOF
worker_processes 1;
daemon off;
master_process off;
error_log $T/backend/error.log warn;
pid $T/backend/nginx.pid;
events { worker_connections 16384; }
http {
    access_log off;
    client_body_temp_path $T/backend/b; proxy_temp_path $T/backend/p; fastcgi_temp_path $T/backend/f;
    uwsgi_temp_path $T/backend/u; scgi_temp_path $T/backend/s;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$PB backlog=4096;
        location = / { return 200 "ok\n"; }
        location = /big { root $T/backend; }
    }
}
EOF
taskset -c "$LCPU" nginx -p "$T/backend" -c "$T/backend/nginx.conf" & PIDS+=($!)
wait_port "$PB" || { echo "backend nginx did not start" >&2; exit 3; }

# ---- one server under test ---------------------------------------------------------------
start_server() { # NAME PORT -> sets SPID
  local name=$1 ps=$2 d=$T/$1
  mkdir -p "$d"
  case $name in
  hilt|hilt-libevent|hilt-noevents)
    local ev="events: {file: $d/events.jsonl}" loop=epoll
    [[ "$HILT_OPTS" == *events=off* || $name == hilt-noevents ]] && ev=""
    [[ $name == hilt-libevent ]] && loop=libevent
    cat > "$d/gw.yaml" <<EOF
workers: 1
loop: $loop
listeners:
  - name: bench
    listen: 127.0.0.1:$ps
    profile: modern
    certificates: [{cert: $T/cert.pem, key: $T/key.pem}]
    routes: [{sni: "*", backend: app}]
backends:
  - name: app
    servers: ["127.0.0.1:$PB"]
$ev
EOF
    taskset -c "$SCPU" "$HILT" gateway -c "$d/gw.yaml" --log-level warn > "$d/log" 2>&1 &
    SPID=$! ;;
  haproxy)
    cat > "$d/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn 9000
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend f
    bind 127.0.0.1:$ps ssl crt $T/both.pem ssl-min-ver TLSv1.3
    default_backend b
backend b
    server s1 127.0.0.1:$PB
EOF
    taskset -c "$SCPU" haproxy -db -f "$d/haproxy.cfg" > "$d/log" 2>&1 &
    SPID=$! ;;
  nginx)
    cat > "$d/nginx.conf" <<EOF
load_module $STREAM_MOD;
worker_processes 1;
daemon off;
master_process off;
error_log $d/error.log warn;
pid $d/nginx.pid;
events { worker_connections 20000; }
stream {
    server {
        listen 127.0.0.1:$ps ssl backlog=4096;
        ssl_certificate $T/cert.pem;
        ssl_certificate_key $T/key.pem;
        ssl_protocols TLSv1.3;
        proxy_pass 127.0.0.1:$PB;
    }
}
EOF
    taskset -c "$SCPU" nginx -p "$d" -c "$d/nginx.conf" > "$d/log" 2>&1 &
    SPID=$! ;;
  hitch)
    cat > "$d/hitch.conf" <<EOF
frontend = "[127.0.0.1]:$ps"
backend = "[127.0.0.1]:$PB"
pem-file = "$T/both.pem"
workers = 1
tls-protos = TLSv1.3
daemon = off
backlog = 4096
user = "nobody"
EOF
    taskset -c "$SCPU" hitch --config="$d/hitch.conf" > "$d/log" 2>&1 &
    SPID=$! ;;
  stunnel)
    cat > "$d/stunnel.conf" <<EOF
foreground = yes
pid =
output = $d/stunnel.log
debug = 3
[t]
accept = 127.0.0.1:$ps
connect = 127.0.0.1:$PB
cert = $T/both.pem
sslVersionMin = TLSv1.3
EOF
    taskset -c "$SCPU" stunnel4 "$d/stunnel.conf" > "$d/log" 2>&1 &
    SPID=$! ;;
  esac
  PIDS+=($SPID)
  wait_port "$ps" || { echo "$name did not start: $(tail -3 "$d/log")" >&2; return 1; }
  sleep 0.3
}
stop_server() { kill "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null; }

h2_full() { # PORT COUNT: COUNT full handshakes, one request each; prints failures
  local ps=$1 n=$2 fails=0 i out
  for ((i = 0; i < n; i += 200)); do
    out=$(taskset -c "$LCPU" h2load --h1 -n 200 -c 200 -t 1 "https://127.0.0.1:$ps/" 2>&1)
    fails=$((fails + $(sed -n 's/.* \([0-9]*\) failed.*/\1/p' <<<"$out" | head -1)))
  done
  echo $fails
}

measure() { # NAME -> appends "metric value" lines to $T/res.NAME
  local name=$1 ps c0 c1 r0 r1 f out
  ps=$(free_port)
  start_server "$name" "$ps" || return 1
  h2_full "$ps" 400 > /dev/null          # warm-up
  # full handshakes
  c0=$(cpu_ticks $SPID); f=$(h2_full "$ps" "$N"); c1=$(cpu_ticks $SPID)
  echo "full_us $(( (c1 - c0) * 1000000 / TCK / N ))" >> "$T/res.$name"
  echo "full_failed $f" >> "$T/res.$name"
  # the same full handshakes from gateway_load (the client of the resumed row)
  c0=$(cpu_ticks $SPID)
  taskset -c "$LCPU" "$T/gl" -p "$ps" -n "$RN" -c 50 -g / > /dev/null 2>&1
  c1=$(cpu_ticks $SPID)
  echo "full_gl_us $(( (c1 - c0) * 1000000 / TCK / RN ))" >> "$T/res.$name"
  # resumed handshakes (50 slots: each starts with one full handshake)
  c0=$(cpu_ticks $SPID)
  out=$(taskset -c "$LCPU" "$T/gl" -p "$ps" -n "$RN" -c 50 -R -g / 2>&1)
  c1=$(cpu_ticks $SPID)
  echo "resumed_us $(( (c1 - c0) * 1000000 / TCK / RN ))" >> "$T/res.$name"
  echo "resumed_count $(sed -n 's/.*resumed=\([0-9]*\).*/\1/p' <<<"$out")" >> "$T/res.$name"
  # bulk: one download through the proxy
  c0=$(cpu_ticks $SPID)
  out=$(taskset -c "$LCPU" "$T/gl" -p "$ps" -m bulk -g /big 2>&1)
  c1=$(cpu_ticks $SPID)
  local bytes secs
  bytes=$(sed -n 's/.*bytes=\([0-9]*\).*/\1/p' <<<"$out"); secs=$(sed -n 's/.*seconds=\([0-9.]*\).*/\1/p' <<<"$out")
  if [[ -n "$bytes" && $((c1 - c0)) -gt 0 ]]; then
    echo "bulk_MBps $(( bytes * TCK / (c1 - c0) / 1000000 ))" >> "$T/res.$name"
    echo "bulk_wall_MBps $(awk -v b="$bytes" -v s="$secs" 'BEGIN {printf "%d", b / s / 1e6}')" >> "$T/res.$name"
  fi
  # added latency: HTTP/1.1 keep-alive requests on one connection, through the proxy and direct
  out=$(taskset -c "$LCPU" "$T/gl" -p "$ps" -m lat -g / -N "$LAT_N" 2>&1)
  local p99 p50
  p99=$(sed -n 's/.*p99_us=\([0-9]*\).*/\1/p' <<<"$out"); p50=$(sed -n 's/.*p50_us=\([0-9]*\).*/\1/p' <<<"$out")
  out=$(taskset -c "$LCPU" "$T/gl" -p "$PB" -P -m lat -g / -N "$LAT_N" 2>&1)
  local d99 d50
  d99=$(sed -n 's/.*p99_us=\([0-9]*\).*/\1/p' <<<"$out"); d50=$(sed -n 's/.*p50_us=\([0-9]*\).*/\1/p' <<<"$out")
  [[ -n "$p99" && -n "$d99" ]] && echo "p99_add_us $((p99 - d99))" >> "$T/res.$name"
  [[ -n "$p50" && -n "$d50" ]] && echo "p50_add_us $((p50 - d50))" >> "$T/res.$name"
  # memory per idle TLS connection, in a fresh process (freed memory is not given back,
  # so RSS after the load above would hide the growth)
  stop_server
  ps=$(free_port)
  start_server "$name" "$ps" || return 1
  taskset -c "$LCPU" "$T/gl" -p "$ps" -n 20 -c 2 -g / > /dev/null 2>&1
  r0=$(rss_kib $SPID)
  taskset -c "$LCPU" "$T/gl" -p "$ps" -m hold -c "$IDLE_N" -C 20 -s 3 -q > "$T/idle.$name" 2>&1 &
  local gp=$!
  for _ in $(seq 1 600); do grep -q '^held=' "$T/idle.$name" && break; sleep 0.1; done
  sleep 1
  r1=$(rss_kib $SPID)
  wait $gp
  echo "idle_KiB $(awk -v a="$r0" -v b="$r1" -v n="$IDLE_N" 'BEGIN {printf "%.1f", (b - a) / n}')" >> "$T/res.$name"
  stop_server
  return 0
}


if [[ -n "${CALLGRIND:-}" ]]; then
  command -v valgrind >/dev/null && command -v callgrind_control >/dev/null ||
    { echo "bench/gateway.sh: CALLGRIND=1 needs valgrind (scripts/install-deps.sh)" >&2; exit 2; }
  CG_N=${CG_N:-300}
  ps=$(free_port); d=$T/cg; mkdir -p "$d"
  tickets=""
  if [[ "${CG_TICKETS:-}" == store ]]; then
    head -c 32 /dev/urandom > "$d/wrap.key"; chmod 600 "$d/wrap.key"
    tickets="tickets: {store: $d/hilt.db, store_key: $d/wrap.key}"
  fi
  cat > "$d/gw.yaml" <<EOF
workers: 1
listeners:
  - name: bench
    listen: 127.0.0.1:$ps
    profile: modern
    certificates: [{cert: $T/cert.pem, key: $T/key.pem}]
    routes: [{sni: "*", backend: app}]
backends:
  - name: app
    servers: ["127.0.0.1:$PB"]
events: {file: $d/events.jsonl}
$tickets
EOF
  valgrind --tool=callgrind --callgrind-out-file="$d/cg.out" "$HILT" gateway -c "$d/gw.yaml" \
    --log-level warn > "$d/log" 2>&1 &
  SPID=$!; PIDS+=($SPID)
  for _ in $(seq 1 600); do (exec 3<>/dev/tcp/127.0.0.1/$ps) 2>/dev/null && break; sleep 0.1; done
  cg_count() { # LABEL ARGS...: zero, run gateway_load ARGS, dump; prints Ir / CG_N
    callgrind_control -z "$SPID" >/dev/null 2>&1
    "$T/gl" -p "$ps" "${@:2}" > "$d/gl.$1" 2>&1
    rm -f "$d"/cg.out.*
    callgrind_control -d "$SPID" >/dev/null 2>&1
    local f="" ir
    for _ in $(seq 1 100); do f=$(ls "$d"/cg.out.* 2>/dev/null | head -1); [[ -n "$f" ]] && break; sleep 0.1; done
    ir=$(awk '/^(summary|totals):/ {print $2; exit}' "$f" 2>/dev/null)
    [[ -n "$ir" ]] || { echo "$1: no callgrind dump ($(tail -3 "$d/log"))"; return 1; }
    echo "$1: $(( ir / CG_N )) instructions per handshake ($ir over $CG_N; $(cat "$d/gl.$1"))"
  }
  "$T/gl" -p "$ps" -n 50 -c 2 -g / > /dev/null 2>&1   # warm-up: pools, caches, JA4 cache
  echo "bench/gateway.sh CALLGRIND: $(openssl version | cut -d' ' -f1-2); hilt, one worker, events on${tickets:+, $tickets}; HTTP/1.0 GET to nginx per connection"
  cg_count full -n "$CG_N" -c 4 -g /
  # one slot: its first handshake is full, the CG_N - 1 after it resume
  cg_count resumed -n "$CG_N" -c 1 -R -g /
  kill "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null
  exit 0
fi

echo "bench/gateway.sh: $(nproc) CPUs, server on CPU $SCPU, load on CPU $LCPU; TLS 1.3, ECDSA P-256; N=$N RN=$RN bulk=${BULK_MB}MiB lat=$LAT_N idle=$IDLE_N rounds=$ROUNDS"
echo "$(openssl version); $("$HILT" --version 2>/dev/null | head -1); $(nginx -v 2>&1); $(haproxy -v | head -1 | cut -d' ' -f1-3); hitch $(hitch --version 2>&1 | awk '{print $2}'); $(stunnel4 -version 2>&1 | grep -m1 stunnel | cut -d' ' -f1-2)"
for r in $(seq 1 "$ROUNDS"); do
  for s in $SERVERS; do measure "$s" || echo "round $r: $s failed" >&2; done
done

metrics="full_us full_gl_us resumed_us bulk_MBps bulk_wall_MBps p99_add_us p50_add_us idle_KiB full_failed resumed_count"
declare -A V
for s in $SERVERS; do
  for m in $metrics; do V[$s.$m]=$(awk -v m=$m '$1 == m {print $2}' "$T/res.$s" 2>/dev/null | median); done
  for m in full_us resumed_us; do V[$s.$m.min]=$(awk -v m=$m '$1 == m {print $2}' "$T/res.$s" 2>/dev/null | minimum); done
done
printf '\n%-9s %9s %11s %11s %10s %15s %11s %11s %9s %12s %14s\n' server full_us full_gl_us resumed_us bulk_MBps "bulk_wall_MBps" p99_add_us p50_add_us idle_KiB full_failed resumed_count
for s in $SERVERS; do
  printf '%-9s %9s %11s %11s %10s %15s %11s %11s %9s %12s %14s\n' "$s" "${V[$s.full_us]}" "${V[$s.full_gl_us]}" "${V[$s.resumed_us]}" "${V[$s.bulk_MBps]}" \
    "${V[$s.bulk_wall_MBps]}" "${V[$s.p99_add_us]}" "${V[$s.p50_add_us]}" "${V[$s.idle_KiB]}" "${V[$s.full_failed]}" "${V[$s.resumed_count]}"
done
printf '\nlowest of the rounds (on a shared machine the least disturbed round is the closest to the intrinsic cost)\n'
printf '%-9s %9s %11s\n' server full_us resumed_us
for s in $SERVERS; do printf '%-9s %9s %11s\n' "$s" "${V[$s.full_us.min]}" "${V[$s.resumed_us.min]}"; done
printf 'load average at the end: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
if [[ " $SERVERS " == *" hilt "* ]]; then
  ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.2f", a / b}'; }
  printf '\nratio to hilt (cost rows: peer/hilt, so >1 = hilt cheaper; throughput row: hilt/peer, so >1 = hilt faster)\n'
  printf '%-9s %9s %11s %10s %11s %9s\n' server full_us resumed_us bulk_MBps p99_add_us idle_KiB
  for s in $SERVERS; do
    [[ $s == hilt ]] && continue
    printf '%-9s %9s %11s %10s %11s %9s\n' "$s" "$(ratio "${V[$s.full_us]}" "${V[hilt.full_us]}")" \
      "$(ratio "${V[$s.resumed_us]}" "${V[hilt.resumed_us]}")" "$(ratio "${V[hilt.bulk_MBps]}" "${V[$s.bulk_MBps]}")" \
      "$(ratio "${V[$s.p99_add_us]}" "${V[hilt.p99_add_us]}")" "$(ratio "${V[$s.idle_KiB]}" "${V[hilt.idle_KiB]}")"
  done
fi
