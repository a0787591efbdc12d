#!/usr/bin/env bash
# bench/acme.sh - ACME issuance rate, hilt serve and pebble side by side, in one run:
#   1. Full ACME orders per second (newOrder, authorization, http-01 challenge,
#      validation, finalize, polling, certificate download) driven by
#      bench/acme_load.c (C; its own http-01 responder on 127.0.0.1; CONC
#      workers over HTTPS keep-alive; 8 accounts), against
#        - hilt serve (release build; SQLite store, synchronous=FULL; the CA key in
#          the signer process; a pre-approved scope, so orders issue at once), and
#        - pebble (Debian 2.4.0) with PEBBLE_VA_NOSLEEP=1 (no artificial validation
#          delay: fair), PEBBLE_WFE_NONCEREJECT=0 (no random badNonce) and
#          PEBBLE_AUTHZREUSE=0 (every order validates, as on hilt), its DNS
#          answered by pebble-challtestsrv on loopback.
#      The same client, names, polling interval (20 ms) and concurrency for both;
#      runs alternate (hilt, pebble, hilt, ...) so machine load hits both alike.
#      Also reported: each server's CPU time per order (utime+stime of its
#      process, all threads: pebble uses both cores, hilt serve one loop).
#   1b. The same with a real client: BENCH_LEGO_PAR (8) lego processes in parallel,
#      BENCH_LEGO_ORDERS (3) 'lego run's each, http-01 through --http.webroot and one
#      static server, against both servers: completed orders per second as a user sees them.
#   2. REST issuance per second with a pre-approved scope (POST /v1/requests with
#      a bearer token, h2load --h1 keep-alive; the recipe of bench/serve.sh).
# Every figure is the range over BENCH_RUNS runs (default 3): the machine is shared.
# Pebble 2.4.0 can wedge (a recursive read lock in wfe.Order() against
# ca.CompleteOrder's write lock: letsencrypt/pebble#554) at high concurrency;
# a pebble run that makes no progress for 20 s is reported as wedged and pebble
# restarted. Usage: bench/acme.sh (BUILD=dir; make first). Loopback only.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
: "${BUILD:=build}"
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
RUNS=${BENCH_RUNS:-3}
N=${BENCH_ORDERS:-1500}
CONCS=${BENCH_CONC:-"4 8 16"}
LEGO_PAR=${BENCH_LEGO_PAR:-8}
LEGO_N=${BENCH_LEGO_ORDERS:-3}
HILT="$BUILD/hilt"
[[ -x "$HILT" ]] || { echo "build hilt first (make BUILD=$BUILD)"; exit 2; }
source "$ROOT/tests/lib.sh"
source "$ROOT/tests/lib_acme.sh"
for c in pebble pebble-challtestsrv h2load jq; do
  command -v "$c" >/dev/null || { echo "needs $c: scripts/install-deps.sh"; exit 2; }
done
acme_client_build || { echo "cannot build bench/acme_load.c: $(cat "$T/acme_load.cc.err")"; exit 3; }

range() { sort -n | awk '{v[NR]=$1} END {if (NR==1) printf "%s", v[1]; else printf "%s-%s", v[1], v[NR]}'; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # utime + stime, all threads
HZ=$(getconf CLK_TCK)

# ---- hilt serve ----
export HILT_HOME="$T/home"
"$HILT" ca init >/dev/null
"$HILT" ca roots --out "$T/roots.pem"
HP=$(free_port); HH=$(free_port)
"$HILT" serve --listen "127.0.0.1:$HP" --node bench --preapprove '*.bench.test,30d' \
  --preapprove '*.svc.internal,7d' --http01-port "$HH" --resolve '*.bench.test=127.0.0.1' \
  >"$T/serve.out" 2>"$T/serve.err" &
HILT_PID=$!
_bg_pids+=("$HILT_PID")
wait_port "$HP" 20 || { echo "hilt serve did not start: $(tail -3 "$T/serve.err")"; exit 3; }
HILT_DIR="https://127.0.0.1:$HP/acme/directory"

# ---- pebble ----
PH=$(free_port)
PEBBLE_PID=""
start_pebble() {
  pebble_start "$PH" "$(free_port)" || { echo "pebble did not start: $PEBBLE_WHY"; exit 3; }
  PEBBLE_PID=${_bg_pids[-1]}
}
start_pebble

# one load run: prints "RATE CPU_MS_PER_ORDER" or "wedged"/"failed"
run() { # NAME DIR CA HTTPPORT PID CONC
  local name=$1 dir=$2 ca=$3 hport=$4 pid=$5 c=$6 t0 t1 out
  t0=$(ticks "$pid")
  out=$(timeout 120 "$ACME_CLIENT" --dir "$dir" --ca "$ca" load -n "$N" -c "$c" -a 8 \
        --http-port "$hport" --poll-ms 20 2>"$T/load.err")
  local rc=$?
  t1=$(ticks "$pid" 2>/dev/null || echo "$t0")
  if [[ $rc == 124 ]]; then echo wedged; return; fi
  local ok rate
  ok=$(jq -r .orders <<<"$out" 2>/dev/null); rate=$(jq -r .orders_per_second <<<"$out" 2>/dev/null)
  if [[ "$ok" != "$N" ]]; then echo "failed"; return; fi
  echo "$rate $(echo "1000 * ($t1 - $t0) / $HZ / $N" | bc -l)"
}

echo "== 1. ACME: full orders per second (acme_load, $N orders per run, $RUNS runs, poll 20 ms)"
echo "   hilt serve (SQLite, FULL sync, signer process) vs pebble 2.4.0 (PEBBLE_VA_NOSLEEP=1)"
# warm up both (accounts, caches, JIT-free but page cache)
run hilt "$HILT_DIR" "$T/roots.pem" "$HH" "$HILT_PID" 4 >/dev/null
run pebble "$PEBBLE_URL" "$PEBBLE_TLS_CA" "$PH" "$PEBBLE_PID" 4 >/dev/null
for c in $CONCS; do
  hr=(); hc=(); pr=(); pc=(); ratios=(); wedges=0
  for r in $(seq 1 "$RUNS"); do
    h=$(run hilt "$HILT_DIR" "$T/roots.pem" "$HH" "$HILT_PID" "$c")
    p=$(run pebble "$PEBBLE_URL" "$PEBBLE_TLS_CA" "$PH" "$PEBBLE_PID" "$c")
    if [[ "$p" == wedged ]]; then
      wedges=$((wedges + 1)); kill "$PEBBLE_PID" 2>/dev/null; start_pebble
      p=$(run pebble "$PEBBLE_URL" "$PEBBLE_TLS_CA" "$PH" "$PEBBLE_PID" "$c")
      [[ "$p" == wedged ]] && { wedges=$((wedges + 1)); kill "$PEBBLE_PID" 2>/dev/null; start_pebble; }
    fi
    if [[ "$h" == wedged || "$h" == failed ]]; then echo "  c=$c run $r: hilt $h ($(tail -2 "$T/load.err"))"; continue; fi
    hr+=("$(cut -d' ' -f1 <<<"$h")"); hc+=("$(cut -d' ' -f2 <<<"$h")")
    if [[ "$p" == wedged || "$p" == failed ]]; then echo "  c=$c run $r: pebble $p"; continue; fi
    pr+=("$(cut -d' ' -f1 <<<"$p")"); pc+=("$(cut -d' ' -f2 <<<"$p")")
    ratios+=("$(echo "$(cut -d' ' -f1 <<<"$h") / $(cut -d' ' -f1 <<<"$p")" | bc -l)")
  done
  fmt() { printf '%s\n' "$@" | awk '{printf "%.0f\n", $1}' | range; }
  fmt2() { printf '%s\n' "$@" | awk '{printf "%.2f\n", $1}' | range; }
  printf '  concurrency %2d: hilt %s orders/s (%s ms CPU/order) | pebble %s orders/s (%s ms CPU/order) | hilt/pebble %sx per run%s\n' \
    "$c" "$(fmt "${hr[@]}")" "$(fmt2 "${hc[@]}")" "$(fmt "${pr[@]:-0}")" "$(fmt2 "${pc[@]:-0}")" \
    "$(fmt2 "${ratios[@]:-0}")" "$([[ $wedges -gt 0 ]] && echo "; pebble wedged $wedges time(s)")"
done
echo "  goal: hilt >= 5x pebble"

echo
echo "== 1b. ACME with a real client: $LEGO_PAR lego processes in parallel, $LEGO_N orders each, $RUNS runs"
echo "   (lego $(dpkg-query -W -f='${Version}' lego 2>/dev/null), http-01 through --http.webroot served by one python3 http.server,"
echo "   each worker one account, one order per 'lego run'; lego waits as it does in production:"
echo "   Retry-After, else 5 s, before polling a challenge, and 500 ms between order polls)"
if ! command -v lego >/dev/null; then
  echo "  skipped: lego is not installed (scripts/install-deps.sh)"
else
  WWW="$T/www"; mkdir -p "$WWW"
  # the responders of part 1 are gone: one static server per validation port
  for port in "$HH" "$PH"; do
    (cd "$WWW" && exec python3 -m http.server --bind 127.0.0.1 "$port" >/dev/null 2>&1) &
    _bg_pids+=($!)
    wait_port "$port" 10 || { echo "  cannot serve $WWW on $port"; exit 3; }
  done
  lego_run() { # NAME DIR CA RUN: prints orders/s, or "failed"
    local name=$1 dir=$2 ca=$3 run=$4 t0 t1 w pids=() bad=0
    t0=$(date +%s%N)
    for w in $(seq 1 "$LEGO_PAR"); do
      (
        for i in $(seq 1 "$LEGO_N"); do
          LEGO_CA_CERTIFICATES="$ca" lego --accept-tos --email "w$w@bench.test" --path "$T/lego-$name-$w" \
            --server "$dir" --domains "$name-$run-$w-$i.bench.test" --http --http.webroot "$WWW" run \
            >>"$T/lego-$name-$w.log" 2>&1 || exit 1
        done
      ) &
      pids+=($!)
    done
    for w in "${pids[@]}"; do wait "$w" || bad=1; done
    t1=$(date +%s%N)
    if ((bad)); then echo failed; return; fi
    echo "$LEGO_PAR * $LEGO_N * 1000000000 / ($t1 - $t0)" | bc -l
  }
  lr=(); lp=(); lratios=()
  for r in $(seq 1 "$RUNS"); do
    h=$(lego_run hilt "$HILT_DIR" "$T/roots.pem" "$r")
    p=$(lego_run pebble "$PEBBLE_URL" "$PEBBLE_TLS_CA" "$r")
    if [[ $h == failed || $p == failed ]]; then
      echo "  run $r: hilt $h, pebble $p ($(tail -2 "$T"/lego-*-1.log | tr '\n' ' '))"; continue
    fi
    lr+=("$h"); lp+=("$p"); lratios+=("$(echo "$h / $p" | bc -l)")
  done
  f1() { printf '%s\n' "$@" | awk '{printf "%.1f\n", $1}' | range; }
  printf '  hilt %s orders/s | pebble %s orders/s | hilt/pebble %sx per run\n' \
    "$(f1 "${lr[@]:-0}")" "$(f1 "${lp[@]:-0}")" "$(printf '%s\n' "${lratios[@]:-0}" | awk '{printf "%.0f\n", $1}' | range)"
  echo "  goal: hilt >= 5x pebble (hilt answers the challenge POST once validated, so lego never waits)"
fi

echo
echo "== 2. REST issuance with a pre-approved scope (POST /v1/requests, h2load --h1 keep-alive)"
TOKEN=$("$HILT" token create --name bench --role requester 2>/dev/null)
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/k.pem" \
  -subj /CN=app.svc.internal -addext subjectAltName=DNS:app.svc.internal -out "$T/r.csr" 2>/dev/null
jq -cn --rawfile c "$T/r.csr" '{csr:$c, owner:"bench", service:"load", lifetime:"1d"}' >"$T/body.json"
h2load --h1 -n 200 -c 4 -d "$T/body.json" -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/json' "https://127.0.0.1:$HP/v1/requests" >/dev/null 2>&1
for c in 1 16; do
  v=()
  for _ in $(seq 1 "$RUNS"); do
    out=$(h2load --h1 -n 2000 -c "$c" -d "$T/body.json" -H "Authorization: Bearer $TOKEN" \
      -H 'Content-Type: application/json' "https://127.0.0.1:$HP/v1/requests" 2>&1)
    ok=$(sed -n 's/^status codes: \([0-9]*\) 2xx.*/\1/p' <<<"$out")
    [[ "$ok" == 2000 ]] || echo "  (run with $ok of 2000 answered 2xx)"
    v+=("$(sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p' <<<"$out" | cut -d. -f1)")
  done
  printf '  concurrency %2d: %s certificates/s (%d runs of 2000)\n' "$c" "$(printf '%s\n' "${v[@]}" | range)" "$RUNS"
done
echo
echo "store: $(sqlite3 "$HILT_HOME/hilt.db" "SELECT COUNT(*) FROM acme_orders WHERE status='valid'") valid ACME orders; audit chain: $("$HILT" audit verify 2>&1 | head -1)"
