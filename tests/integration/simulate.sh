#!/usr/bin/env bash
# simulate.sh - client simulation against real servers started here (openssl
# s_server, nginx) with certificates minted by the openssl CLI: each client's
# own ClientHello, the server's answer judged as that client would, trust
# included (`hilt policy impact --live`, the same code `hilt scan --clients` runs).
#   - a TLS 1.3-only server locks out Android 4.4, IE 11 and Java 7 (protocol_version_mismatch)
#   - an RSA-1024 certificate fails clients whose floor is 2048 (weak_key)
#   - a server that sends no intermediate fails libraries and Android (chain_incomplete)
#     while browsers that fetch AIA connect (the issuer is served over HTTP here)
#   - an old TLS 1.0/CBC server is reached by old clients and refused by modern ones
source "$(dirname "$0")/../lib.sh"
source "$ROOT/tests/lib_pki.sh"
source "$ROOT/tests/lib_servers.sh"

# Listening ports below the ephemeral range: the hundreds of connections the simulated
# clients make leave their own local ports in TIME_WAIT, which a server cannot bind.
sim_port() {
  local lo p
  lo=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
  (( lo > 12000 )) || { free_port; return; }
  for _ in $(seq 1 200); do
    p=$(( 10000 + RANDOM % (lo - 10000) ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  free_port
}

SAN="DNS:localhost,IP:127.0.0.1"
pki_ca root
pki_int int root
AIA_PORT=$(sim_port)
mkdir -p "$T/aia"
openssl x509 -in "$P/int.pem" -outform DER -out "$T/aia/int.der"
bg python3 -m http.server "$AIA_PORT" --bind 127.0.0.1 --directory "$T/aia"
wait_port "$AIA_PORT" 10 || fail "AIA server" "python3 http.server did not start"
AIA="authorityInfoAccess=caIssuers;URI:http://127.0.0.1:$AIA_PORT/int.der"
pki_leaf ec int "$SAN" 60 ec sha256 "$AIA"
pki_leaf rsa1024 int "$SAN" 60 rsa:1024 sha256 "$AIA"
pki_leaf rsa2048 int "$SAN" 60 rsa:2048 sha256 "$AIA"

# s_server NAME LEAF CHAIN(full|leaf) ARGS...: an openssl s_server on a free port; sets $PORT.
# A port free_port found may be taken by the time s_server binds it (the simulated
# clients' own connections use ephemeral ports too): try another one.
s_server() {
  local name=$1 leaf=$2 chain=$3 try; shift 3
  local extra=(-cert_chain "$P/int.pem")
  [[ $chain == leaf ]] && extra=()
  for try in 1 2 3 4 5; do
    PORT=$(sim_port)
    openssl s_server -quiet -www -accept "127.0.0.1:$PORT" -cert "$P/$leaf.pem" -key "$P/$leaf.key" \
      "${extra[@]}" "$@" 2>"$T/s_server-$name.err" &
    local pid=$!
    _bg_pids+=("$pid")
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && return 0
      sleep 0.05
    done
  done
  fail "$name" "openssl s_server did not start: $(head -c 300 "$T/s_server-$name.err")"
  return 1
}

# live NAME IDS: hilt policy impact --live against $PORT for the clients IDS; JSON in $T/NAME.json.
live() {
  local name=$1 ids=$2
  "$HILT" policy impact --live "127.0.0.1:$PORT" --servername localhost --ca-file "$P/root.pem" \
    --only "$ids" --json > "$T/$name.json" 2> "$T/$name.err"
  echo $? > "$T/$name.rc"
}

# verdict NAME CLIENT EXPECTED: EXPECTED is "ok" or a catalogue code.
verdict() {
  local name=$1 client=$2 want=$3
  jq_eq "$name: $client $want" "$T/$name.json" \
    ".results[] | select(.client==\"$client\") | if .connects then \"ok\" else .code end" "$want"
}

# ---- TLS 1.3 only ----
if s_server tls13 ec full -tls1_3; then
  live tls13 android-4.4,ie-11-win7,java-7u25,chrome-101-win10,firefox-100-win10,java-21,curl-debian12
  [[ $(cat "$T/tls13.rc") == 1 ]] && pass "tls13: exit 1 (somebody locked out)" || fail "tls13: exit" "rc $(cat "$T/tls13.rc"): $(cat "$T/tls13.err")"
  for c in android-4.4 ie-11-win7 java-7u25; do verdict tls13 "$c" protocol_version_mismatch; done
  for c in chrome-101-win10 firefox-100-win10 java-21 curl-debian12; do verdict tls13 "$c" ok; done
  jq_eq "tls13: chrome negotiates TLS 1.3 with x25519" "$T/tls13.json" \
    '.results[] | select(.client=="chrome-101-win10") | [.version, .cipher, .group, .chain] | join(",")' \
    "TLSv1.3,TLS_AES_128_GCM_SHA256,x25519,scanner"
  jq_eq "tls13: the result says the chain came from the scanner" "$T/tls13.json" \
    '.results[] | select(.client=="java-21") | .reason | test("TLS 1.3 encrypts the certificate")' true
  jq_eq "tls13: result fields" "$T/tls13.json" '.results[0] | keys_unsorted | join(",")' \
    "client,name,connects,version,cipher,cipher_code,group,code,reason,chain"
fi

# ---- RSA-1024 certificate ----
if s_server rsa1024 rsa1024 full -no_tls1_3 -cipher 'DEFAULT:@SECLEVEL=0'; then
  live rsa1024 curl-debian12,python-3.11-debian12,safari-15.4-macos12,mbedtls-2.28,chrome-101-win10,android-9,java-17
  for c in curl-debian12 python-3.11-debian12 safari-15.4-macos12 mbedtls-2.28; do verdict rsa1024 "$c" weak_key; done
  for c in chrome-101-win10 android-9 java-17; do verdict rsa1024 "$c" ok; done
  jq_eq "rsa1024: the reason names the key" "$T/rsa1024.json" \
    '.results[] | select(.client=="curl-debian12") | .reason | test("rsa-1024")' true
  # What the simulation claims, checked against the real client.
  if timeout 10 curl -s -o /dev/null --cacert "$P/root.pem" "https://localhost:$PORT/"; then
    fail "rsa1024: real curl agrees" "curl connected"
  else pass "rsa1024: real curl agrees"; fi
fi

# ---- no intermediate sent (nginx), the issuer only behind AIA ----
cat > "$T/leafonly.conf" <<EOF
ssl_protocols TLSv1.2 TLSv1.3;
EOF
mkdir -p "$T/nginx-cert"
cp "$P/ec.pem" "$T/nginx-cert/cert.pem"; cp "$P/ec.key" "$T/nginx-cert/key.pem"
started=0
for try in 1 2 3; do
  PORT=$(sim_port)
  if start_nginx "$T/leafonly.conf" "$T/nginx-cert" "$PORT" 2>"$T/nginx.err"; then started=1; break; fi
done
if (( started )); then
  live leafonly android-4.4,curl-debian12,java-8u161,go-1.17,firefox-100-win10,chrome-101-win10,ie-11-win7,safari-10-osx1012,edge-101-win10
  for c in android-4.4 curl-debian12 java-8u161 go-1.17 firefox-100-win10; do verdict leafonly "$c" chain_incomplete; done
  for c in chrome-101-win10 ie-11-win7 safari-10-osx1012 edge-101-win10; do verdict leafonly "$c" ok; done
  jq_eq "leafonly: android's reason names the missing issuer" "$T/leafonly.json" \
    '.results[] | select(.client=="android-4.4") | .reason | test("CN=int") and test("does not fetch")' true
  jq_eq "leafonly: IE says it fetched over AIA" "$T/leafonly.json" \
    ".results[] | select(.client==\"ie-11-win7\") | .reason | test(\"fetches it from http://127.0.0.1:$AIA_PORT/int.der\")" true
  if timeout 10 curl -s -o /dev/null --cacert "$P/root.pem" "https://localhost:$PORT/"; then
    fail "leafonly: real curl agrees" "curl connected"
  else pass "leafonly: real curl agrees"; fi
else
  fail "leafonly" "nginx did not start: $(head -c 300 "$T/nginx.err")"
fi

# ---- an old TLS 1.0 / CBC server ----
if s_server tls10 rsa2048 full -tls1 -cipher 'AES128-SHA:DES-CBC3-SHA:ECDHE-RSA-AES128-SHA:@SECLEVEL=0'; then
  live tls10 java-7u25,ie-8-10-win7,android-4.4,dotnet-fw-4.5-win7,openssl-1.0.2,chrome-101-win10,firefox-100-win10,java-17,android-13-14,edge-101-win10
  for c in java-7u25 ie-8-10-win7 android-4.4 dotnet-fw-4.5-win7 openssl-1.0.2; do verdict tls10 "$c" ok; done
  for c in chrome-101-win10 firefox-100-win10 java-17 android-13-14 edge-101-win10; do verdict tls10 "$c" protocol_version_mismatch; done
  jq_eq "tls10: java 7 gets TLS 1.0 and a CBC suite" "$T/tls10.json" \
    '.results[] | select(.client=="java-7u25") | .version + "," + (.cipher | test("CBC") | tostring)' "TLSv1.0,true"
fi

# ---- a refused port: a verdict, not a crash ----
PORT=$(free_port)
live refused android-9
jq_eq "refused port: connect_refused" "$T/refused.json" '.results[0].code' connect_refused
