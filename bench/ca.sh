#!/usr/bin/env bash
# bench/ca.sh - the trust plane's figures, in one run (issue 4):
#   0. start-up cost: `hilt --version` x500 against /bin/true x500
#   1. issuance per second in-process, batches of 1,000 from one CSR into SQLite
#      (serials, inventory rows, DER, an audit record each, one transaction per
#      batch, synchronous=FULL), against `openssl speed -seconds 3 ecdsap256`;
#      also through the signer process
#   2. an inventory of BENCH_CERTS (default 1,000,000) certificates in SQLite:
#      filling it, `inventory import` of PEM bundles from another CA, and the
#      `expiring` query (COUNT, the full listing in-process, and the CLI)
#   3. CRL generation (full + shards) with 10% of them revoked (100,000)
#   4. OCSP responses per second from `hilt ocsp serve` under h2load (GET and POST)
# Usage: bench/ca.sh   (BUILD=dir for another build; make first). Loopback only.
# Needs ~2 GB of disk under TMPDIR for the million-certificate store.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
HILT="$BUILD/hilt"
N=${BENCH_CERTS:-1000000}
IMPORT_N=${BENCH_IMPORT:-100000}
T=$(mktemp -d "${TMPDIR:-/tmp}/hilt-bench-ca.XXXXXX")
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$T"' EXIT
[[ -x "$HILT" && -f "$BUILD/libhilt.a" ]] || { echo "build hilt first (make BUILD=$BUILD)"; exit 2; }
now_ns() { date +%s%N; }
free_port() { local p; while :; do p=$((20000 + RANDOM % 12000)); (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo $p; return; }; done; }
wait_port() { for _ in $(seq 1 400); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; return 1; }

# the in-process driver, against the release library
cc -O2 -std=c11 -D_GNU_SOURCE -I"$ROOT/src" -o "$T/ca_bench" "$ROOT/bench/ca_bench.c" \
  "$BUILD/libhilt.a" $(pkg-config --libs openssl libevent libevent_openssl libevent_pthreads jansson yaml-0.1 sqlite3) \
  -ldl -lpthread -lm
B="$T/ca_bench"

echo "== 0. start-up: 500 runs each (wall time per run, fork+exec included)"
loop() { local t0 t1; t0=$(now_ns); for _ in $(seq 1 500); do "$@" >/dev/null; done; t1=$(now_ns); echo $(( (t1 - t0) / 500000 )); }
loop "$HILT" --version >/dev/null
h=$(loop "$HILT" --version); t=$(loop /bin/true)
printf '  hilt --version %d us, /bin/true %d us: hilt itself %d us\n' "$h" "$t" $((h - t))
ldd "$HILT" | grep -q libpq && echo "  (libpq is linked!)" || echo "  libpq is not linked (loaded only for postgres:// stores)"

echo
echo "== 1. issuance in-process vs openssl speed"
speed=$(openssl speed -seconds 3 ecdsap256 2>/dev/null | awk '/256 bits ecdsa/ {print $(NF-1)}')
echo "  openssl speed -seconds 3 ecdsap256: $speed sign/s (per CPU user second, as openssl speed counts)"
mkdir -p "$T/h1" "$T/h1p"
"$B" issue "$T/h1" 2000 1000 >/dev/null # warm up (page cache, CA init)
rm -rf "$T/h1"; mkdir -p "$T/h1"
out=$("$B" issue "$T/h1" 100000 1000); echo "  $out"
wall=$(sed -n 's/.*: \([0-9]*\)\/s wall.*/\1/p' <<<"$out")
cpu=$(sed -n 's/.*, \([0-9]*\)\/s per CPU second.*/\1/p' <<<"$out")
usr=$(sed -n 's/.*, \([0-9]*\)\/s per user second.*/\1/p' <<<"$out")
printf '  ratio to the raw sign rate: %.0f%% by user CPU time (like openssl speed), %.0f%% by user+system CPU, %.0f%% by wall time (goal >= 50%%)\n' \
  "$(echo "100 * $usr / $speed" | bc -l)" "$(echo "100 * $cpu / $speed" | bc -l)" "$(echo "100 * $wall / $speed" | bc -l)"
out=$("$B" issue "$T/h1p" 50000 1000 process); echo "  through the signer process (batched exchange): $out"

echo
echo "== 2. an inventory of $N certificates in SQLite"
mkdir -p "$T/inv" "$T/other" "$T/pem"
out=$("$B" fill "$T/inv" "$N"); echo "  fill by issuance (lifetimes 1..365 days): $out"
"$B" pem "$T/other" "$T/pem" "$IMPORT_N" 1000 >/dev/null
t0=$(now_ns)
HILT_HOME="$T/inv" "$HILT" inventory import "$T/pem" --json > "$T/import.json"
t1=$(now_ns)
added=$(jq .added "$T/import.json"); secs=$(echo "scale=3; ($t1 - $t0) / 1000000000" | bc)
printf '  inventory import of %d PEM bundles (%d certificates of another CA) into the %d-certificate store: %.2f s, %.0f certificates/s (CLI, end to end)\n' \
  "$(ls "$T/pem" | wc -l)" "$added" "$N" "$secs" "$(echo "$added / $secs" | bc -l)"
for d in 30 1; do echo "  $("$B" expiring "$T/inv" $d 5)"; done
for w in 30d 1d; do
  HILT_HOME="$T/inv" "$HILT" inventory expiring --within $w --json >/dev/null || true
  t0=$(now_ns); HILT_HOME="$T/inv" "$HILT" inventory expiring --within $w --json > "$T/exp.json" || true; t1=$(now_ns)
  printf '  hilt inventory expiring --within %s --json: %d certificates, %d ms (CLI end to end: start, open, query, JSON of every row)\n' \
    "$w" "$(jq length "$T/exp.json")" $(( (t1 - t0) / 1000000 ))
done
ls -la "$T/inv/hilt.db" | awk '{printf "  store size: %.0f MB\n", $5 / 1048576}'

echo
echo "== 3. CRL generation with 10% revoked"
echo "  $("$B" revoke "$T/inv" 10)"
t0=$(now_ns)
HILT_HOME="$T/inv" "$HILT" ca crl --out "$T/crl/full.crl" --json > "$T/crl.json"
t1=$(now_ns)
printf '  hilt ca crl: %d revoked, full CRL %.1f MB + %d shard CRLs, %.2f s in the CA (%.2f s end to end)\n' \
  "$(jq .revoked "$T/crl.json")" "$(echo "$(stat -c %s "$T/crl/full.crl") / 1048576" | bc -l)" \
  "$(jq .shards "$T/crl.json")" "$(jq .seconds "$T/crl.json")" "$(echo "($t1 - $t0) / 1000000000" | bc -l)"

echo
echo "== 4. OCSP responses per second (hilt ocsp serve, pre-signed answers)"
if ! command -v h2load >/dev/null; then
  echo "  h2load is not installed (scripts/install-deps.sh installs nghttp2-client): skipped"
else
  OH="$T/ocsp"; mkdir -p "$OH"
  PORT=$(free_port)
  "$B" issue "$OH" 10000 1000 >/dev/null
  HILT_HOME="$OH" "$HILT" ca issue --name one.example.test --out "$OH/one" >/dev/null
  sed -n '/BEGIN/,/END/p' "$OH/one.chain.pem" | awk 'BEGIN{n=0} /BEGIN/{n++} n==2' > "$OH/inter.pem"
  for attempt in 1 2 3; do # another process may take the port first
    HILT_HOME="$OH" "$HILT" ocsp serve --listen "127.0.0.1:$PORT" > "$OH/serve.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 1 400); do
      grep -q "listening on" "$OH/serve.log" && break
      kill -0 "${pids[-1]}" 2>/dev/null || break
      sleep 0.05
    done
    grep -q "listening on" "$OH/serve.log" && break
    grep -q "in use" "$OH/serve.log" || { cat "$OH/serve.log"; exit 1; }
    PORT=$(free_port)
  done
  grep -q "listening on" "$OH/serve.log" || { cat "$OH/serve.log"; exit 1; }
  sed -n 's/^hilt ocsp serve: \(CA.*\)/  \1/p' "$OH/serve.log"
  openssl ocsp -issuer "$OH/inter.pem" -cert "$OH/one.crt" -no_nonce -reqout "$OH/req.der" >/dev/null 2>&1
  enc=$(base64 -w0 "$OH/req.der" | sed 's/+/%2B/g; s|/|%2F|g; s/=/%3D/g')
  openssl ocsp -issuer "$OH/inter.pem" -cert "$OH/one.crt" -url "http://127.0.0.1:$PORT/" -noverify -no_nonce 2>&1 | grep -q ": good" ||
    { echo "  the responder does not answer good"; exit 1; }
  for mode in GET POST; do
    if [[ $mode == GET ]]; then
      args=("http://127.0.0.1:$PORT/ocsp/$enc")
    else
      args=(-d "$OH/req.der" -H "content-type: application/ocsp-request" "http://127.0.0.1:$PORT/ocsp")
    fi
    h2load --h1 -n 10000 -c 8 -t 1 "${args[@]}" >/dev/null 2>&1 # warm up
    h2load --h1 -n 200000 -c 32 -t 1 "${args[@]}" > "$OH/h2load.$mode" 2>&1
    rps=$(sed -n 's/^finished in [^,]*, \([0-9.]*\) req\/s.*/\1/p' "$OH/h2load.$mode")
    ok=$(sed -n 's/^status codes: \([0-9]*\) 2xx.*/\1/p' "$OH/h2load.$mode")
    printf '  %-4s %s req/s (h2load --h1 -n 200000 -c 32 -t 1; %s answered 200)\n' "$mode" "$rps" "$ok"
  done
  kill -INT "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
  sed -n 's/^hilt ocsp serve: \(stopped.*\)/  \1/p' "$OH/serve.log"
fi
