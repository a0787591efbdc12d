#!/usr/bin/env bash
# bench/serve.sh - hilt serve's figures, in one run (issue 5, part A):
#   1. REST issuance per second with a pre-approved scope: POST /v1/requests
#      over HTTPS keep-alive, driven by h2load --h1 at concurrency 1, 4 and 16;
#      each request is authenticated (bearer token lookup), checked, issued
#      through the signer process, recorded with its request row and two audit
#      records in one SQLite transaction (synchronous=FULL). The ceiling is
#      `openssl speed ecdsap256` (signatures per second of one core).
#   2. The HTTP/1.1 layer alone: GET /healthz over TLS keep-alive, hilt serve
#      against nginx (Debian) answering `return 200` with the same certificate,
#      side by side, and the ratio.
# Every figure is the range over BENCH_RUNS runs (default 3): the machine is
# shared. Usage: bench/serve.sh (BUILD=dir for another build; make first).
# Loopback only.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
HILT="$BUILD/hilt"
RUNS=${BENCH_RUNS:-3}
N=${BENCH_ISSUE:-3000}
T=$(mktemp -d "${TMPDIR:-/tmp}/hilt-bench-serve.XXXXXX")
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; sleep 0.5; rm -rf "$T"' EXIT
[[ -x "$HILT" ]] || { echo "build hilt first (make BUILD=$BUILD)"; exit 2; }
command -v h2load >/dev/null || { echo "needs h2load (nghttp2-client): scripts/install-deps.sh"; exit 2; }
free_port() { local p; while :; do p=$((20000 + RANDOM % 12000)); (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo $p; return; }; done; }
wait_port() { for _ in $(seq 1 400); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; return 1; }
range() { sort -n | awk '{v[NR]=$1} END {if (NR==1) printf "%s", v[1]; else printf "%s-%s", v[1], v[NR]}'; }
rps() { sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p' | cut -d. -f1; }
ok2xx() { sed -n 's/^status codes: \([0-9]*\) 2xx.*/\1/p'; }

export HILT_HOME="$T/home"
"$HILT" ca init >/dev/null
"$HILT" ca roots --out "$T/roots.pem"
P=$(free_port)
"$HILT" serve --listen "127.0.0.1:$P" --node bench --preapprove '*.svc.internal,7d' \
  >"$T/serve.out" 2>"$T/serve.err" &
pids+=($!)
wait_port "$P" || { echo "hilt serve did not start: $(tail -3 "$T/serve.err")"; exit 3; }
TOKEN=$("$HILT" token create --name bench --role requester 2>/dev/null)
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/k.pem" \
  -subj /CN=app.svc.internal -addext subjectAltName=DNS:app.svc.internal -out "$T/r.csr" 2>/dev/null
jq -cn --rawfile c "$T/r.csr" '{csr:$c, owner:"bench", service:"load", lifetime:"1d"}' > "$T/body.json"

echo "== 1. REST issuance with a pre-approved scope (POST /v1/requests, HTTPS keep-alive)"
speed=$(openssl speed -seconds 3 ecdsap256 2>/dev/null | awk '/256 bits ecdsa/ {print $(NF-1)}')
speed=${speed%.*}
echo "  ceiling: openssl speed ecdsap256 = $speed signatures/s (one core)"
echo "  recipe (what part B's bench/acme.sh can reuse):"
echo "    hilt serve --listen 127.0.0.1:PORT --preapprove '*.svc.internal,7d'"
echo "    TOKEN=\$(hilt token create --name bench --role requester)"
echo "    h2load --h1 -n N -c C -d body.json -H 'Authorization: Bearer \$TOKEN' \\"
echo "           -H 'Content-Type: application/json' https://127.0.0.1:PORT/v1/requests"
echo "    body.json = {\"csr\": \"<PEM>\", \"lifetime\": \"1d\"} (names under *.svc.internal)"
h2load --h1 -n 200 -c 4 -d "$T/body.json" -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/json' "https://127.0.0.1:$P/v1/requests" >/dev/null 2>&1 # warm up
for c in 1 4 16; do
  v=()
  bad=0
  for _ in $(seq 1 "$RUNS"); do
    out=$(h2load --h1 -n "$N" -c "$c" -d "$T/body.json" -H "Authorization: Bearer $TOKEN" \
      -H 'Content-Type: application/json' "https://127.0.0.1:$P/v1/requests" 2>&1)
    v+=("$(rps <<<"$out")")
    [[ $(ok2xx <<<"$out") == "$N" ]] || bad=1
  done
  r=$(printf '%s\n' "${v[@]}" | range)
  lo=$(printf '%s\n' "${v[@]}" | sort -n | head -1)
  hi=$(printf '%s\n' "${v[@]}" | sort -n | tail -1)
  printf '  concurrency %2d: %s certificates/s (%d runs of %d)%s; %.0f-%.0f%% of the sign ceiling\n' \
    "$c" "$r" "$RUNS" "$N" "$([[ $bad == 1 ]] && echo ', NOT ALL 201' || echo ', all 201')" \
    "$(echo "100 * $lo / $speed" | bc -l)" "$(echo "100 * $hi / $speed" | bc -l)"
done
n=$(sqlite3 "$HILT_HOME/hilt.db" "SELECT COUNT(*) FROM api_requests WHERE state='issued'")
echo "  store: $n issued requests recorded; audit chain: $("$HILT" audit verify 2>&1 | head -1)"

echo
echo "== 2. HTTP/1.1 over TLS keep-alive: GET /healthz, hilt serve vs nginx 'return 200'"
if command -v nginx >/dev/null; then
  NP=$(free_port)
  "$HILT" ca issue --name localhost --name 127.0.0.1 --lifetime 2d --out "$T/ngx" >/dev/null
  mkdir -p "$T/nginx"
  cat > "$T/nginx/nginx.conf" <<EOF
worker_processes 1;
pid $T/nginx/nginx.pid;
error_log $T/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  server {
    listen 127.0.0.1:$NP ssl;
    ssl_certificate $T/ngx.chain.pem;
    ssl_certificate_key $T/ngx.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    keepalive_requests 100000;
    location / { default_type application/json; return 200 '{"status":"ok"}'; }
  }
}
EOF
  nginx -c "$T/nginx/nginx.conf" -g 'daemon off;' &
  pids+=($!)
  wait_port "$NP"
  for c in 1 16; do
    hv=() nv=()
    for _ in $(seq 1 "$RUNS"); do
      hv+=("$(h2load --h1 -n 20000 -c "$c" "https://127.0.0.1:$P/healthz" 2>&1 | rps)")
      nv+=("$(h2load --h1 -n 20000 -c "$c" "https://127.0.0.1:$NP/healthz" 2>&1 | rps)")
    done
    hr=$(printf '%s\n' "${hv[@]}" | range)
    nr=$(printf '%s\n' "${nv[@]}" | range)
    hmed=$(printf '%s\n' "${hv[@]}" | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}')
    nmed=$(printf '%s\n' "${nv[@]}" | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}')
    printf '  concurrency %2d: hilt serve %s req/s, nginx %s req/s; hilt/nginx (medians) %.2fx\n' \
      "$c" "$hr" "$nr" "$(echo "$hmed / $nmed" | bc -l)"
  done
  echo "  (hilt's /healthz also reads the store's schema version per request; nginx returns a constant)"
else
  echo "  nginx not installed: skipped (scripts/install-deps.sh)"
fi
