# tests/lib_acme.sh - ACME peers for tests and bench/acme.sh (source after tests/lib.sh).
#   acme_client_build            compile bench/acme_load.c (the C ACME client) to $ACME_CLIENT
#   pebble_start HTTP01 TLSALPN  Let's Encrypt's test server on 127.0.0.1, with its own
#                                CA and server certificate made here, and
#                                pebble-challtestsrv as its DNS (every name -> 127.0.0.1);
#                                validation on 127.0.0.1:HTTP01 / :TLSALPN. Sets
#                                PEBBLE_URL (directory), PEBBLE_TLS_CA (trust for its
#                                listener), PEBBLE_MGMT (management URL). Environment:
#                                PEBBLE_VA_NOSLEEP=1 (no artificial validation delay),
#                                PEBBLE_WFE_NONCEREJECT=0 (no random badNonce),
#                                PEBBLE_AUTHZREUSE=0 (every order validates).
#   pebble_roots FILE            pebble's issuing root (after start) into FILE
# Nothing listens beyond loopback: every port is on 127.0.0.1.

acme_client_build() {
  ACME_CLIENT="$T/acme_load"
  local lib="$BUILD/libhilt.a"
  [[ -f "$lib" ]] || lib="$BUILD/san/libhilt.a"
  local san=""
  [[ "$lib" == */san/* ]] && san="-fsanitize=address,undefined"
  cc -O2 -g $san -std=c11 -D_GNU_SOURCE -I"$ROOT/src" -o "$ACME_CLIENT" "$ROOT/bench/acme_load.c" \
    "$lib" $(pkg-config --libs openssl libevent libevent_openssl libevent_pthreads jansson sqlite3 yaml-0.1) \
    -ldl -lpthread -lm 2>"$T/acme_load.cc.err"
}

# A CA and a certificate for 127.0.0.1/localhost, for a server's own TLS.
_acme_tls_cert() { # DIR
  local d=$1
  mkdir -p "$d"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=test root" -keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null || return 1
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
    -keyout "$d/key.pem" -out "$d/req.pem" 2>/dev/null || return 1
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$d/ext"
  openssl x509 -req -in "$d/req.pem" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial -days 2 \
    -extfile "$d/ext" -out "$d/cert.pem" 2>/dev/null
}

pebble_start() { # HTTP01_PORT TLSALPN01_PORT
  local d="$T/pebble" port mport dport cport i
  command -v pebble >/dev/null || { PEBBLE_WHY="pebble is not installed (scripts/install-deps.sh)"; return 1; }
  _acme_tls_cert "$d" || { PEBBLE_WHY="openssl could not make pebble's certificate"; return 1; }
  for i in 1 2 3; do
    port=$(free_port); mport=$(free_port); dport=$(free_port); cport=$(free_port)
    cat >"$d/config.json" <<EOF
{"pebble": {"listenAddress": "127.0.0.1:$port", "managementListenAddress": "127.0.0.1:$mport",
 "certificate": "$d/cert.pem", "privateKey": "$d/key.pem", "httpPort": $1, "tlsPort": $2,
 "ocspResponderURL": "", "externalAccountBindingRequired": false}}
EOF
    pebble-challtestsrv -dns01 "127.0.0.1:$dport" -http01 "" -https01 "" -tlsalpn01 "" \
      -management "127.0.0.1:$cport" -defaultIPv4 127.0.0.1 -defaultIPv6 "" >"$d/challtestsrv.log" 2>&1 &
    _bg_pids+=($!)
    PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE=0 \
      pebble -config "$d/config.json" -dnsserver "127.0.0.1:$dport" -strict=false >"$d/pebble.log" 2>&1 &
    _bg_pids+=($!)
    if wait_port "$port" 15; then
      PEBBLE_URL="https://127.0.0.1:$port/dir"
      PEBBLE_TLS_CA="$d/ca.pem"
      PEBBLE_MGMT="https://127.0.0.1:$mport"
      return 0
    fi
  done
  PEBBLE_WHY="pebble did not start: $(tail -3 "$d/pebble.log" | tr '\n' ' ')"
  return 1
}

pebble_roots() { # FILE
  curl -sf --cacert "$PEBBLE_TLS_CA" "$PEBBLE_MGMT/roots/0" >"$1"
}

# A one-node hilt serve for the ACME client tests: HILT_HOME=$T/home, a CA whose
# certificates point at this node's plain-HTTP listener for CRL and OCSP, and a
# pre-approved '*.example.test' scope (30 days). Sets P (HTTPS), HP (plain HTTP),
# CH (the http-01 port the validator uses), DIR (the ACME directory) and
# $T/roots.pem; extra arguments go to `hilt serve`. 1 with ACME_WHY when it fails.
acme_hilt_start() {
  export HILT_HOME="$T/home"
  P=$(free_port); HP=$(free_port); CH=$(free_port)
  "$HILT" ca init --crl-url "http://127.0.0.1:$HP/crl" --ocsp-url "http://127.0.0.1:$HP/ocsp" \
    >/dev/null 2>"$T/ca-init.err" || { ACME_WHY="ca init failed: $(cat "$T/ca-init.err")"; return 1; }
  "$HILT" ca roots --out "$T/roots.pem"
  printf '%s\n' "node: acme-1" "listeners:" "  - listen: 127.0.0.1:$P" "  - listen: 127.0.0.1:$HP" \
    "    tls: false" "scopes:" "  - names: '*.example.test'" "    max_lifetime: 30d" "ocsp:" \
    "  poll: 1s" >"$T/serve.yaml"
  bg "$HILT" serve -c "$T/serve.yaml" --http01-port "$CH" --resolve '*.example.test=127.0.0.1' \
    "$@" 2>"$T/serve.log"
  wait_port "$P" 30 || { ACME_WHY="hilt serve did not start: $(tail -3 "$T/serve.log")"; return 1; }
  DIR="https://127.0.0.1:$P/acme/directory"
}
