#!/usr/bin/env bash
# hilt scan against real servers whose configuration this test writes: the accepted
# versions and suites must match the configuration exactly (openssl s_server, a legacy
# GnuTLS server with RC4 and 3DES, nginx and HAProxy rendered from built-in profiles);
# conformance passes for rendered configs and names the exact violations for broken
# ones; STARTTLS against a real PostgreSQL; fleet mode with JSON lines and an HTML
# report; client simulation; bad input.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_pki.sh"
. "$(dirname "$0")/../lib_servers.sh"

pki_ca root
pki_leaf ec root "DNS:localhost,IP:127.0.0.1"
pki_leaf rsa root "DNS:localhost,IP:127.0.0.1" 60 rsa:2048
CA="$P/root.pem"

s_server() { # ARGS...: openssl s_server on a free port (retried: other suites race for ports); sets PORT
  local i
  for i in 1 2 3 4 5; do
    PORT=$(free_port)
    bg sh -c "exec openssl s_server -accept 127.0.0.1:$PORT -quiet -naccept 100000 $(printf "%q " "$@") 2>/dev/null"
    wait_port "$PORT" 8 && return 0
  done
  echo "s_server did not start: $*"
}

scan() { # NAME ARGS...: hilt scan --json into $T/NAME.json, exit code in $T/NAME.rc
  local name=$1; shift
  "$HILT" scan --json --timeout 3000 "$@" > "$T/$name.json" 2> "$T/$name.err"
  echo $? > "$T/$name.rc"
}

set_eq() { # NAME FILE JQ-ARRAY-FILTER EXPECTED(comma list): same members, any order
  local got want
  got=$(jq -r "[$3] | sort | join(\",\")" "$2" 2>&1)
  want=$(tr ',' '\n' <<<"$4" | sort | paste -sd, -)
  [[ "$got" == "$want" ]] && pass "$1" || fail "$1" "got '$got', wanted '$want'"
}

# --- 1. TLS 1.2 only, six suites, server order --------------------------------------
L12='ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-SHA384:DHE-RSA-AES256-GCM-SHA384:AES128-SHA:AES256-GCM-SHA384:CAMELLIA128-SHA'
s_server -cert "$P/rsa.pem" -key "$P/rsa.key" -tls1_2 -cipher "$L12" -serverpref
scan s12 --ca-file "$CA" "127.0.0.1:$PORT"
set_eq s12-versions "$T/s12.json" '.versions[]' TLSv1.2
set_eq s12-suites "$T/s12.json" '.ciphers["TLSv1.2"].ciphers[].name' \
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384,TLS_DHE_RSA_WITH_AES_256_GCM_SHA384,TLS_RSA_WITH_AES_128_CBC_SHA,TLS_RSA_WITH_AES_256_GCM_SHA384,TLS_RSA_WITH_CAMELLIA_128_CBC_SHA
jq_eq s12-server-order "$T/s12.json" '.ciphers["TLSv1.2"].server_order' true
jq_eq s12-order-is-config "$T/s12.json" '[.ciphers["TLSv1.2"].ciphers[].openssl] | join(":")' "$L12"
jq_eq s12-complete "$T/s12.json" '.ciphers["TLSv1.2"].complete' true
jq_eq s12-codes "$T/s12.json" '.ciphers["TLSv1.2"].ciphers[0].code' 0xc02f
jq_eq s12-cert-key "$T/s12.json" '.certificates[0].chain[0].key' rsa-2048
jq_eq s12-dh-bits "$T/s12.json" '.groups.dh_bits >= 2048' true
jq_eq s12-healthy "$T/s12.json" .ok true
jq_eq s12-exit "$T/s12.rc" . 0

# --- 2. TLS 1.3 only, two suites, two groups --------------------------------------
s_server -cert "$P/ec.pem" -key "$P/ec.key" -tls1_3 -ciphersuites TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256 -groups X25519:P-384
scan s13 --ca-file "$CA" "127.0.0.1:$PORT"
set_eq s13-versions "$T/s13.json" '.versions[]' TLSv1.3
set_eq s13-suites "$T/s13.json" '.ciphers["TLSv1.3"].ciphers[].name' TLS_AES_256_GCM_SHA384,TLS_CHACHA20_POLY1305_SHA256
set_eq s13-groups "$T/s13.json" '.groups.tls13[]' x25519,secp384r1
jq_eq s13-sigalg "$T/s13.json" '.signature_algorithms.tls13 | index("ecdsa_secp256r1_sha256") != null' true
jq_eq s13-cert-via-tls13 "$T/s13.json" '.certificates[0].via | startswith("TLSv1.3")' true
jq_eq s13-tickets "$T/s13.json" .features.resumption_tickets true
jq_eq s13-no-legacy-resumption "$T/s13.json" .features.resumption_ids null

# --- 2b. TLS 1.2 curves with only an ECDSA certificate (its curve constrains the offer,
#          RFC 8422) and signature schemes for two certificate types side by side -----
s_server -cert "$P/ec.pem" -key "$P/ec.key" -tls1_2 -groups X25519:P-256:P-384
scan s12ec --ca-file "$CA" "127.0.0.1:$PORT"
set_eq s12ec-curves "$T/s12ec.json" '.groups.tls12[]' x25519,secp256r1,secp384r1
s_server -cert "$P/ec.pem" -key "$P/ec.key" -dcert "$P/rsa.pem" -dkey "$P/rsa.key" -tls1_2
scan s12two --ca-file "$CA" "127.0.0.1:$PORT"
jq_eq s12two-ecdsa-scheme "$T/s12two.json" '.signature_algorithms.tls12 | index("ecdsa_secp256r1_sha256") != null' true
jq_eq s12two-rsa-scheme "$T/s12two.json" '.signature_algorithms.tls12 | index("rsa_pss_rsae_sha256") != null' true
set_eq s12two-keys "$T/s12two.json" '.certificates[].chain[0].key' ec-p256,rsa-2048

# --- 3. a legacy-only server: TLS 1.0/1.1 with RC4, 3DES and AES-CBC (GnuTLS) -----------
if unshare -n true 2>/dev/null; then
  cat > "$T/legacy.sh" <<EOF
ip link set lo up
gnutls-serv -p 24700 --x509certfile "$P/rsa.pem" --x509keyfile "$P/rsa.key" \
  --priority "NONE:+VERS-TLS1.0:+VERS-TLS1.1:+ARCFOUR-128:+3DES-CBC:+AES-128-CBC:+RSA:+SHA1:+MD5:+COMP-NULL:+SIGN-ALL:+CURVE-ALL" >/dev/null 2>&1 &
for i in \$(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/24700) 2>/dev/null && break; sleep 0.05; done
"$HILT" scan --json --ca-file "$CA" --profile intermediate 127.0.0.1:24700 > "$T/legacy.json" 2> "$T/legacy.err"
echo \$? > "$T/legacy.rc"
kill %1
EOF
  timeout 60 unshare -n bash "$T/legacy.sh"
  set_eq legacy-versions "$T/legacy.json" '.versions[]' TLSv1.1,TLSv1.0
  for v in TLSv1.0 TLSv1.1; do
    set_eq "legacy-suites-$v" "$T/legacy.json" ".ciphers[\"$v\"].ciphers[].name" \
      TLS_RSA_WITH_RC4_128_SHA,TLS_RSA_WITH_RC4_128_MD5,TLS_RSA_WITH_3DES_EDE_CBC_SHA,TLS_RSA_WITH_AES_128_CBC_SHA
  done
  for code in rc4_cipher triple_des_cipher deprecated_protocol; do
    jq_eq "legacy-finding-$code" "$T/legacy.json" "[.findings[].code] | index(\"$code\") != null" true
  done
  # TLS 1.0 and 1.1 accepted, none of 1.2/1.3; and no staple (intermediate requires one).
  set_eq legacy-violations "$T/legacy.json" '.conformance.violations[].rule' versions,versions,versions,certificate.ocsp_stapling
  jq_eq legacy-exit "$T/legacy.rc" . 1
else
  skip legacy-gnutls "no network namespace (unshare -n) on this host, and gnutls-serv cannot bind to loopback only"
fi

# --- 4. nginx and HAProxy rendered from built-in profiles conform ----------------------
# The profiles require OCSP stapling: staple a response made by openssl ocsp from a file.
mkdir -p "$T/ngxcert" "$T/ocsp"
cat "$P/ec.pem" "$P/root.pem" > "$T/ngxcert/cert.pem"; cp "$P/ec.key" "$T/ngxcert/key.pem"
cat "$T/ngxcert/cert.pem" "$T/ngxcert/key.pem" > "$T/ngxcert/both.pem"
serial=$(openssl x509 -in "$P/ec.pem" -noout -serial | cut -d= -f2)
printf 'V\t301231000000Z\t\t%s\tunknown\t/CN=ec\n' "$serial" > "$T/ocsp/index.txt"
openssl ocsp -index "$T/ocsp/index.txt" -rsigner "$P/root.pem" -rkey "$P/root.key" -CA "$P/root.pem" \
  -issuer "$P/root.pem" -cert "$P/ec.pem" -respout "$T/ocsp/resp.der" -ndays 7 >/dev/null 2>&1
[[ -s "$T/ocsp/resp.der" ]] && pass ocsp-response-made || fail ocsp-response-made "openssl ocsp made no response"
staple() { printf 'ssl_stapling_file %s;\n' "$T/ocsp/resp.der" >> "$1"; }
for prof in intermediate modern; do
  "$HILT" policy render --profile "$prof" --target nginx > "$T/$prof.nginx"
  staple "$T/$prof.nginx"
  ok=0
  for try in 1 2 3; do port=$(free_port); start_nginx "$T/$prof.nginx" "$T/ngxcert" "$port" && { ok=1; break; }; done
  if (( ok )); then
    scan "nginx-$prof" --profile "$prof" --no-revocation --ca-file "$CA" "127.0.0.1:$port"
    jq_eq "nginx-$prof-stapled" "$T/nginx-$prof.json" .features.ocsp_stapling true
    jq_eq "nginx-$prof-conforms" "$T/nginx-$prof.json" .conformance.pass true
    jq_eq "nginx-$prof-violations" "$T/nginx-$prof.json" '.conformance.violations | length' 0
  else
    fail "nginx-$prof-start" "nginx rejected the rendered config"
  fi
done
"$HILT" policy render --profile intermediate --target haproxy > "$T/int.haproxy"
cp "$T/ocsp/resp.der" "$T/ngxcert/both.pem.ocsp"   # HAProxy staples <cert>.ocsp
ok=0
for try in 1 2 3; do port=$(free_port); start_haproxy "$T/int.haproxy" "$T/ngxcert" "$port" && { ok=1; break; }; done
if (( ok )); then
  scan haproxy-intermediate --profile intermediate --no-revocation --ca-file "$CA" "127.0.0.1:$port"
  jq_eq haproxy-intermediate-conforms "$T/haproxy-intermediate.json" .conformance.pass true
  set_eq haproxy-intermediate-versions "$T/haproxy-intermediate.json" '.versions[]' TLSv1.3,TLSv1.2
else
  fail haproxy-start "haproxy rejected the rendered config"
fi

# --- 5. a non-conforming nginx: TLS 1.0 and a CBC suite added to intermediate -------------
sed -e 's/ssl_protocols .*;/ssl_protocols TLSv1 TLSv1.2 TLSv1.3;/' \
    -e 's/ssl_ciphers \([^;]*\);/ssl_ciphers \1:ECDHE-ECDSA-AES128-SHA:@SECLEVEL=0;/' "$T/intermediate.nginx" > "$T/broken.nginx"
ok=0
for try in 1 2 3; do port=$(free_port); start_nginx "$T/broken.nginx" "$T/ngxcert" "$port" && { ok=1; break; }; done
if (( ok )); then
  scan nginx-broken --profile intermediate --no-revocation --ca-file "$CA" "127.0.0.1:$port"
  jq_eq nginx-broken-fails "$T/nginx-broken.json" .conformance.pass false
  set_eq nginx-broken-rules "$T/nginx-broken.json" '.conformance.violations[].rule' versions,ciphers.TLSv1.2
  jq_eq nginx-broken-version "$T/nginx-broken.json" '.conformance.violations[] | select(.rule=="versions") | .actual' "TLSv1.0 accepted"
  jq_eq nginx-broken-cipher "$T/nginx-broken.json" '.conformance.violations[] | select(.rule=="ciphers.TLSv1.2") | .actual' "also accepts TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"
  jq_eq nginx-broken-exit "$T/nginx-broken.rc" . 1
else
  fail nginx-broken-start "nginx rejected the broken config"
fi

# --- 6. STARTTLS against a real PostgreSQL ---------------------------------------------
. "$(dirname "$0")/../lib_pg.sh"
mkdir -p "$T/pgssl" && cp "$P/ec.pem" "$P/ec.key" "$T/pgssl/"
if id hilt-test >/dev/null 2>&1 || [[ $(id -u) != 0 ]]; then :; fi
[[ $(id -u) == 0 ]] && { id hilt-test >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin hilt-test; chown -R hilt-test "$T/pgssl"; chmod 755 "$T"; }
chmod 600 "$T/pgssl/ec.key"
PG_EXTRA_OPTS="-c ssl=on -c ssl_cert_file=$T/pgssl/ec.pem -c ssl_key_file=$T/pgssl/ec.key"
if pg_start; then
  scan pg --starttls postgres --ca-file "$CA" --no-revocation "127.0.0.1:$PG_PORT"
  jq_eq pg-reachable "$T/pg.json" .reachable true
  jq_eq pg-tls13 "$T/pg.json" '.versions | index("TLSv1.3") != null' true
  jq_eq pg-cert "$T/pg.json" '.certificates[0].chain[0].subject' CN=ec
else
  skip starttls-postgres "no PostgreSQL server: $PG_WHY"
fi
scan pg-refused --starttls smtp "127.0.0.1:$(free_port)"
jq_eq starttls-refused-code "$T/pg-refused.json" '.findings[0].code' connect_refused

# --- 7. fleet: a targets file, JSON lines as each finishes, a summary, an HTML report ----
# p1 conforms to modern: TLS 1.3, its groups, an ECDSA certificate, a staple.
s_server -cert "$P/ec.pem" -key "$P/ec.key" -tls1_3 -groups X25519:P-256:P-384 -status_file "$T/ocsp/resp.der"; p1=$PORT
s_server -cert "$P/ec.pem" -key "$P/ec.key" -tls1_2; p2=$PORT
dead=$(free_port)
cat > "$T/targets.txt" <<EOF
# fleet
127.0.0.1:$p1 modern
127.0.0.1:$p2 modern    # TLS 1.2 only: violates modern
127.0.0.1:$dead
EOF
"$HILT" scan --json --targets "$T/targets.txt" --concurrency 2 --html "$T/report.html" --ca-file "$CA" > "$T/fleet.jsonl" 2>"$T/fleet.err"
rc=$?
[[ $rc == 1 ]] && pass fleet-exit-1 || fail fleet-exit-1 "exit $rc"
[[ $(wc -l < "$T/fleet.jsonl") == 4 ]] && pass fleet-lines || fail fleet-lines "$(wc -l < "$T/fleet.jsonl") lines"
jq -s '.[-1]' "$T/fleet.jsonl" > "$T/fleet-summary.json"
jq_eq fleet-summary "$T/fleet-summary.json" '.summary | "\(.targets) \(.ok) \(.failed)"' "3 1 2"
jq -s "map(select(.target.port == $p2))[0]" "$T/fleet.jsonl" > "$T/fleet-p2.json"
jq_eq fleet-profile-per-line "$T/fleet-p2.json" .conformance.profile modern
grep -q "Fleet overview" "$T/report.html" && grep -q "127.0.0.1:$p2" "$T/report.html" && pass fleet-html || fail fleet-html "report.html incomplete"

# --- 8. client simulation: who breaks on a TLS 1.3-only server --------------------------
scan clients --clients --ca-file "$CA" "127.0.0.1:$p1"
for c in android-4.4 ie-11-win7 java-7u25; do
  jq_eq "clients-$c-locked-out" "$T/clients.json" ".clients[] | select(.client==\"$c\") | .code" protocol_version_mismatch
done
jq_eq clients-chrome-ok "$T/clients.json" '.clients[] | select(.client=="chrome-101-win10") | .connects' true
jq_eq clients-count "$T/clients.json" '.clients | length >= 40' true

# --- 9. not TLS, and bad input -------------------------------------------------------------
nc_port=$(free_port)
cat > "$T/banner.py" <<EOF
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", $nc_port)); s.listen(64)
while True:
    c, _ = s.accept()
    try: c.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")
    except OSError: pass
    c.close()
EOF
bg python3 "$T/banner.py"
wait_port "$nc_port" 5
scan not-tls "127.0.0.1:$nc_port"
jq_eq not-tls-code "$T/not-tls.json" '.findings[0].code' not_tls

usage_err() { # NAME PATTERN ARGS...
  local name=$1 pat=$2; shift 2
  "$HILT" scan "$@" >"$T/out" 2>"$T/err"; local rc=$?
  if [[ $rc == 2 ]] && grep -qE -- "$pat" "$T/err"; then pass "$name"; else fail "$name" "exit $rc: $(head -c 300 "$T/err")"; fi
}
printf '127.0.0.1:443\n127.0.0.1:99999\n' > "$T/bad-targets.txt"
printf '127.0.0.1:443 modern extra\n' > "$T/bad-targets2.txt"
usage_err scan-no-target "no TARGET"
usage_err scan-unknown-flag "unknown option" --bogus 127.0.0.1
usage_err scan-bad-port "port '70000'" 127.0.0.1:70000
usage_err scan-targets-line "bad-targets.txt:2: .*99999" --targets "$T/bad-targets.txt"
usage_err scan-targets-extra "bad-targets2.txt:1: expected" --targets "$T/bad-targets2.txt"
usage_err scan-targets-missing "cannot read /nonexistent" --targets /nonexistent
usage_err scan-unknown-profile "unknown profile|no profile" --profile nope 127.0.0.1
usage_err scan-unknown-starttls "--starttls 'gopher'" --starttls gopher 127.0.0.1
usage_err scan-bad-policy "bad-targets.txt:1:1: expected a mapping" --policy "$T/bad-targets.txt" 127.0.0.1
usage_err scan-concurrency "--concurrency '0'" --concurrency 0 127.0.0.1
expect_exit 0 scan-help "$HILT" scan --help
