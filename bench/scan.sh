#!/usr/bin/env bash
# bench/scan.sh - hilt scan side by side with sslscan and testssl.sh, in one run.
#   1. a broad server (openssl s_server, TLS 1.0-1.3, ALL ciphers at security level 0,
#      an ECDSA and an RSA certificate side by side: ~110 suite/version pairs): hilt vs
#      sslscan, wall time and ratio, and whether both found the same suite/version pairs;
#   2. a TLS 1.3-only server: hilt vs sslscan vs testssl.sh (testssl takes ~45 s);
#   3. the fleet: 1,000 loopback endpoints (one nginx listening on 1,000 ports) scanned at
#      concurrency 200.
# Goals (issue 3): hilt <= 0.3x sslscan and <= 0.01x testssl.sh with complete results;
# the fleet in under 10 s.
# Usage: bench/scan.sh [--no-testssl] [--fleet N]   (build first: make). Loopback only.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
HILT=${HILT:-$ROOT/build/hilt}
TESTSSL=1 FLEET=1000
while (($#)); do
  case "$1" in
    --no-testssl) TESTSSL=0 ;;
    --fleet) FLEET=$2; shift ;;
    *) echo "usage: bench/scan.sh [--no-testssl] [--fleet N]"; exit 2 ;;
  esac
  shift
done
T=$(mktemp -d /tmp/hilt-bench-scan.XXXXXX)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$T"' EXIT
[[ -x "$HILT" ]] || { echo "build hilt first (make)"; exit 2; }
for tool in sslscan nginx jq bc; do command -v $tool >/dev/null || { echo "missing $tool (scripts/install-deps.sh)"; exit 2; }; done

free_port() { local p; while :; do p=$((20000 + RANDOM % 12000)); (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo $p; return; }; done; }
wait_port() { for _ in $(seq 1 200); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; return 1; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
ratio() { echo "scale=5; $1 / $2" | bc | sed "s/^\./0./"; }

cd "$T"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ec.key -subj "/CN=localhost" -days 30 -out ec.pem 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout rsa.key -subj "/CN=localhost" -days 30 -out rsa.pem 2>/dev/null
cat > broad.cnf <<'EOF'
openssl_conf = default_conf
[default_conf]
ssl_conf = ssl_sect
[ssl_sect]
system_default = system_default_sect
[system_default_sect]
MinProtocol = TLSv1
CipherString = ALL:@SECLEVEL=0
EOF

BROAD=$(free_port)
OPENSSL_CONF=$T/broad.cnf openssl s_server -accept 127.0.0.1:$BROAD -cert ec.pem -key ec.key -dcert rsa.pem -dkey rsa.key -naccept 1000000 -quiet </dev/null >/dev/null 2>&1 &
pids+=($!)
T13=$(free_port)
openssl s_server -accept 127.0.0.1:$T13 -cert ec.pem -key ec.key -tls1_3 -naccept 1000000 -quiet </dev/null >/dev/null 2>&1 &
pids+=($!)
wait_port $BROAD && wait_port $T13 || { echo "servers did not start"; exit 1; }

best_of() { # N CMD... -> best wall ms
  local n=$1 best="" t0 t1; shift
  for _ in $(seq 1 "$n"); do
    t0=$(now_ms); "$@" >/dev/null 2>&1; t1=$(now_ms)
    [[ -z "$best" || $((t1 - t0)) -lt $best ]] && best=$((t1 - t0))
  done
  echo "$best"
}

pairs_hilt() { "$HILT" scan --json "127.0.0.1:$1" | jq -r '.ciphers | to_entries[] | .key as $v | .value.ciphers[] | "\($v) \(.name)"' | sed 's/TLSv1\.0/TLSv1.0/' | sort; }
pairs_sslscan() { sslscan --no-colour "127.0.0.1:$1" | awk '/^(Preferred|Accepted)/ {print $2, $5}' | sort; }

echo "== broad server: TLS 1.0-1.3, ALL ciphers, ECDSA + RSA certificates (127.0.0.1:$BROAD)"
h=$(best_of 5 "$HILT" scan "127.0.0.1:$BROAD")
s=$(best_of 3 sslscan --no-colour "127.0.0.1:$BROAD")
nh=$(pairs_hilt $BROAD | wc -l); ns=$(pairs_sslscan $BROAD | wc -l)
printf '  %-10s %6d ms  %3d suite/version pairs\n' hilt "$h" "$nh"
printf '  %-10s %6d ms  %3d suite/version pairs\n' sslscan "$s" "$ns"
printf '  ratio hilt/sslscan: %s  (goal <= 0.3)\n' "$(ratio "$h" "$s")"
# sslscan prints OpenSSL names; compare counts per version (names differ by convention).
for v in TLSv1.0 TLSv1.1 TLSv1.2 TLSv1.3; do
  a=$(pairs_hilt $BROAD | grep -c "^$v "); b=$(pairs_sslscan $BROAD | grep -c "^$v ")
  printf '    %-8s hilt %3d  sslscan %3d %s\n' $v "$a" "$b" "$([[ $a == "$b" ]] && echo same || echo DIFFERENT)"
done

echo "== TLS 1.3-only server (127.0.0.1:$T13)"
h=$(best_of 5 "$HILT" scan "127.0.0.1:$T13")
s=$(best_of 3 sslscan --no-colour "127.0.0.1:$T13")
printf '  %-10s %6d ms\n  %-10s %6d ms   ratio hilt/sslscan %s\n' hilt "$h" sslscan "$s" "$(ratio "$h" "$s")"
if (( TESTSSL )) && command -v testssl >/dev/null; then
  t0=$(now_ms); testssl --quiet --color 0 --warnings off "127.0.0.1:$T13" >/dev/null 2>&1; t1=$(now_ms)
  printf '  %-10s %6d ms   ratio hilt/testssl.sh %s  (goal <= 0.01)\n' testssl.sh $((t1 - t0)) "$(ratio "$h" $((t1 - t0)))"
else
  echo "  (testssl.sh skipped)"
fi

if (( FLEET > 0 )); then
  echo "== fleet: $FLEET loopback endpoints (one nginx, $FLEET listening ports), concurrency 200"
  ulimit -n 65536 2>/dev/null || ulimit -n 8192
  mkdir -p ngx/logs ngx/tmp
  started=0
  for attempt in 1 2 3 4 5 6 7 8; do
    base=$((20000 + RANDOM % (12000 - FLEET)))   # below the kernel's ephemeral range
    {
      echo "daemon off; worker_processes 2; pid $T/ngx/nginx.pid; error_log $T/ngx/logs/error.log crit;"
      echo "worker_rlimit_nofile 65536; events { worker_connections 16384; }"
      echo "http { access_log off; client_body_temp_path $T/ngx/tmp; proxy_temp_path $T/ngx/tmp; fastcgi_temp_path $T/ngx/tmp; uwsgi_temp_path $T/ngx/tmp; scgi_temp_path $T/ngx/tmp;"
      echo " server {"
      for i in $(seq 0 $((FLEET - 1))); do echo "  listen 127.0.0.1:$((base + i)) ssl;"; done
      echo "  ssl_certificate $T/ec.pem; ssl_certificate_key $T/ec.key; ssl_protocols TLSv1.2 TLSv1.3;"
      echo "  ssl_session_cache shared:S:10m; location / { return 200; } } }"
    } > ngx/nginx.conf
    nginx -p "$T/ngx" -c "$T/ngx/nginx.conf" >/dev/null 2>&1 &
    npid=$!
    wait_port $((base + FLEET - 1)) && sleep 0.2
    # Every port must be nginx's: another process on one of them would skew the run.
    bound=$(ss -ltnpH "sport >= :$base and sport <= :$((base + FLEET - 1))" | grep -c '"nginx"')
    if [[ "$bound" == "$FLEET" ]] && kill -0 $npid 2>/dev/null; then started=1; pids+=($npid); break; fi
    kill $npid 2>/dev/null; wait $npid 2>/dev/null
  done
  (( started )) || { echo "  could not give nginx $FLEET free ports"; exit 1; }
  for i in $(seq 0 $((FLEET - 1))); do echo "127.0.0.1:$((base + i))"; done > targets.txt
  t0=$(now_ms)
  /usr/bin/time -f "%U %S" -o fleet.cpu "$HILT" scan --json --no-revocation --targets targets.txt --concurrency 200 > fleet.jsonl 2>fleet.err
  t1=$(now_ms)
  done_n=$(grep -c '"target"' fleet.jsonl); reach=$(grep -c '"reachable": *true' fleet.jsonl || true)
  reach=$(jq -s 'map(select(.reachable == true)) | length' fleet.jsonl 2>/dev/null || echo "?")
  conns=$(jq -s 'map(.connections // 0) | add' fleet.jsonl 2>/dev/null || echo "?")
  printf '  %d targets scanned (%s reachable, %s connections) in %d ms  (goal < 10000 ms)\n' "$done_n" "$reach" "$conns" $((t1 - t0))
  read -r cu cs < <(tail -1 fleet.cpu)
  printf '  hilt used %s s user + %s s system CPU (the rest of the 2 cores: nginx and the kernel)\n' "$cu" "$cs"
  [[ "$reach" != "$done_n" ]] && { echo "  unreachable, e.g.:"; jq -s -r "map(select(.reachable == false)) | .[0:3][] | \"    \\(.target.target): \\(.error)\"" fleet.jsonl; tail -3 fleet.err; grep -v "\[warn\]" ngx/logs/error.log | tail -5; }
fi
