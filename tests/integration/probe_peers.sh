#!/usr/bin/env bash
# hilt probe against TLS servers hilt did not write: openssl s_server, gnutls-serv and
# nginx, each configured broken by this test, must be diagnosed with the right code.
# Certificates are minted here with the openssl CLI. gnutls-serv cannot bind to one
# address, so it runs with the probe inside a private network namespace (unshare -n)
# whose only interface is loopback.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_pki.sh"

# --- PKI ---------------------------------------------------------------------
pki_ca root
pki_int int root
pki_leaf good int "DNS:localhost,IP:127.0.0.1"
cat "$P/good.pem" "$P/int.pem" > "$P/good.chain.pem"
pki_past old int "DNS:localhost,IP:127.0.0.1"
cat "$P/old.pem" "$P/int.pem" > "$P/old.chain.pem"
pki_selfsigned selfie "DNS:localhost,IP:127.0.0.1"
pki_ca otherroot
pki_leaf stranger otherroot "DNS:localhost,IP:127.0.0.1"
cat "$P/stranger.pem" "$P/otherroot.pem" > "$P/stranger.chain.pem"
pki_leaf elsewhere int "DNS:elsewhere.example"
cat "$P/elsewhere.pem" "$P/int.pem" > "$P/elsewhere.chain.pem"
pki_leaf weak int "DNS:localhost,IP:127.0.0.1" 60 rsa:1024
pki_leaf sha1 int "DNS:localhost,IP:127.0.0.1" 60 ec sha1
pki_leaf rsa int "DNS:localhost,IP:127.0.0.1" 60 rsa:2048
pki_leaf client otherroot "DNS:client.example"   # a client certificate from the wrong CA
pki_leaf sniok int "DNS:good.example"
cat "$P/sniok.pem" "$P/int.pem" > "$P/sniok.chain.pem"
openssl genpkey -genparam -algorithm DH -pkeyopt group:dh_1024_160 -out "$P/dh1024.pem" 2>/dev/null
CA="$P/root.pem"

# probe NAME EXPECTED_CODE ARGS...  (EXPECTED_CODE "ok" means healthy)
probe() {
  local name=$1 want=$2; shift 2
  "$HILT" probe --json --timeout 3000 "$@" > "$T/$name.json" 2> "$T/$name.err"
  local rc=$? got
  got=$(jq -r 'if .ok then "ok" else .diagnosis.code end' "$T/$name.json" 2>/dev/null)
  if [[ "$got" == "$want" && ( ( "$want" == ok && $rc == 0 ) || ( "$want" != ok && $rc == 1 ) ) ]]; then
    pass "$name"
  else
    fail "$name" "diagnosis '$got' exit $rc, wanted '$want'; $(head -c 300 "$T/$name.err")"
  fi
}

# s_server NAME ARGS...: start openssl s_server on a free loopback port; sets $PORT.
s_server() {
  PORT=$(free_port)
  bg openssl s_server -accept "127.0.0.1:$PORT" -quiet -www "$@"
  wait_port "$PORT" 5 || echo "s_server did not start: $*"
}

# --- openssl s_server ----------------------------------------------------------
s_server -cert "$P/good.pem" -key "$P/good.key" -cert_chain "$P/int.pem"
probe s_server-healthy ok --ca-file "$CA" "127.0.0.1:$PORT"
jq_eq s_server-healthy-version "$T/s_server-healthy.json" .handshake.version TLSv1.3
jq_eq s_server-healthy-chain "$T/s_server-healthy.json" '[.chain[].subject] | join(" / ")' "CN=good / CN=int,O=hilt tests"
jq_eq s_server-healthy-key "$T/s_server-healthy.json" '.chain[0].key' ec-p256

s_server -cert "$P/old.pem" -key "$P/old.key" -cert_chain "$P/int.pem"
probe s_server-expired cert_expired --ca-file "$CA" "127.0.0.1:$PORT"

s_server -cert "$P/selfie.pem" -key "$P/selfie.key"
probe s_server-self-signed self_signed --ca-file "$CA" "127.0.0.1:$PORT"

s_server -cert "$P/stranger.pem" -key "$P/stranger.key" -cert_chain "$P/otherroot.pem"
probe s_server-untrusted-root untrusted_root --ca-file "$CA" "127.0.0.1:$PORT"

s_server -cert "$P/elsewhere.pem" -key "$P/elsewhere.key" -cert_chain "$P/int.pem"
probe s_server-wrong-host hostname_mismatch --ca-file "$CA" "127.0.0.1:$PORT"

s_server -cert "$P/good.pem" -key "$P/good.key" -cert_chain "$P/int.pem" -tls1 -cipher 'DEFAULT:@SECLEVEL=0'
probe s_server-tls10-only protocol_version_mismatch --ca-file "$CA" "127.0.0.1:$PORT"
jq_eq s_server-tls10-accepted "$T/s_server-tls10-only.json" '[.attempts[] | select(.completed) | .version] | unique | join(",")' TLSv1.0

s_server -cert "$P/good.pem" -key "$P/good.key" -cert_chain "$P/int.pem" -tls1_2 -cipher 'ECDHE-ECDSA-ARIA128-GCM-SHA256'
probe s_server-no-shared-cipher no_shared_cipher --ca-file "$CA" "127.0.0.1:$PORT"
jq_eq s_server-no-shared-cipher-names "$T/s_server-no-shared-cipher.json" '.findings[0].summary | test("TLS_ECDHE_ECDSA_WITH_ARIA_128_GCM_SHA256")' true

s_server -cert "$P/rsa.pem" -key "$P/rsa.key" -cert_chain "$P/int.pem" -tls1_2 -dhparam "$P/dh1024.pem" -cipher 'DHE-RSA-AES128-GCM-SHA256:@SECLEVEL=0'
probe s_server-dh-1024 weak_dh --ca-file "$CA" "127.0.0.1:$PORT"
jq_eq s_server-dh-1024-bits "$T/s_server-dh-1024.json" '.diagnosis.summary | test("1024-bit")' true

s_server -cert "$P/weak.pem" -key "$P/weak.key" -cert_chain "$P/int.pem" -cipher 'DEFAULT:@SECLEVEL=0'
probe s_server-rsa-1024 weak_key --ca-file "$CA" "127.0.0.1:$PORT"

s_server -cert "$P/sha1.pem" -key "$P/sha1.key" -cert_chain "$P/int.pem" -cipher 'DEFAULT:@SECLEVEL=0'
probe s_server-sha1 weak_signature --ca-file "$CA" "127.0.0.1:$PORT"

# -verify_return_error: without it s_server accepts client certificates it cannot verify.
s_server -cert "$P/good.pem" -key "$P/good.key" -cert_chain "$P/int.pem" -Verify 1 -verify_return_error -CAfile "$CA"
probe s_server-client-cert-required client_cert_required --ca-file "$CA" "127.0.0.1:$PORT"
probe s_server-client-cert-rejected client_cert_rejected --ca-file "$CA" --client-cert "$P/client.pem" --client-key "$P/client.key" "127.0.0.1:$PORT"

s_server -cert "$P/good.pem" -key "$P/good.key" -cert_chain "$P/int.pem" -tls1_2 -Verify 1 -CAfile "$CA"
probe s_server-client-cert-required-tls12 client_cert_required --ca-file "$CA" "127.0.0.1:$PORT"

# A chain sent without its intermediate; the probe completes it from --intermediates.
s_server -cert "$P/good.pem" -key "$P/good.key"
probe s_server-incomplete-chain untrusted_root --ca-file "$CA" "127.0.0.1:$PORT"
probe s_server-incomplete-chain-known chain_incomplete --ca-file "$CA" --intermediates "$P/int.pem" "127.0.0.1:$PORT"

# --- gnutls-serv, inside a private network namespace ------------------------------
if unshare -n true 2>/dev/null; then
  cat > "$T/gnutls.sh" <<EOF
ip link set lo up
cd "$T"
HILT="$HILT"; P="$P"; CA="$CA"
serve() { port=\$1; shift; gnutls-serv -p \$port --http "\$@" >/dev/null 2>&1 & }
wait_up() { for i in \$(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/\$1) 2>/dev/null && return 0; sleep 0.05; done; return 1; }
one() { name=\$1; port=\$2; shift 2; wait_up \$port; "\$HILT" probe --json --timeout 3000 "\$@" > "\$name.json" 2> "\$name.err"; echo "\$name \$?" >> gnutls.rc; }
serve 24601 --x509certfile "$P/good.chain.pem" --x509keyfile "$P/good.key"
one gnutls-healthy 24601 --ca-file "$CA" 127.0.0.1:24601
serve 24602 --x509certfile "$P/good.chain.pem" --x509keyfile "$P/good.key" --alpn h2 --alpn-fatal
one gnutls-alpn-mismatch 24602 --ca-file "$CA" --alpn http/1.1 127.0.0.1:24602
serve 24603 --x509certfile "$P/good.chain.pem" --x509keyfile "$P/good.key" --sni-hostname good.example --sni-hostname-fatal
one gnutls-sni-required 24603 --ca-file "$CA" --sni other.example 127.0.0.1:24603
serve 24604 --x509certfile "$P/old.chain.pem" --x509keyfile "$P/old.key"
one gnutls-expired 24604 --ca-file "$CA" 127.0.0.1:24604
serve 24605 --x509certfile "$P/good.chain.pem" --x509keyfile "$P/good.key" --priority "NORMAL:-VERS-ALL:+VERS-TLS1.3:-GROUP-ALL:+GROUP-FFDHE2048"
one gnutls-no-shared-group 24605 --ca-file "$CA" --profile modern 127.0.0.1:24605
serve 24606 --x509certfile "$P/elsewhere.chain.pem" --x509keyfile "$P/elsewhere.key"
one gnutls-wrong-host 24606 --ca-file "$CA" --sni localhost 127.0.0.1:24606
kill \$(jobs -p) 2>/dev/null
EOF
  : > "$T/gnutls.rc"
  timeout 60 unshare -n bash "$T/gnutls.sh"
  for pair in gnutls-healthy:ok gnutls-alpn-mismatch:alpn_mismatch gnutls-sni-required:sni_required \
              gnutls-expired:cert_expired gnutls-no-shared-group:no_shared_group gnutls-wrong-host:hostname_mismatch; do
    name=${pair%%:*}; want=${pair#*:}
    got=$(jq -r 'if .ok then "ok" else .diagnosis.code end' "$T/$name.json" 2>/dev/null)
    rc=$(awk -v n="$name" '$1 == n {print $2}' "$T/gnutls.rc")
    if [[ "$got" == "$want" && ( ( "$want" == ok && "$rc" == 0 ) || ( "$want" != ok && "$rc" == 1 ) ) ]]; then pass "$name"
    else fail "$name" "diagnosis '$got' exit '$rc', wanted '$want'; $(head -c 300 "$T/$name.err" 2>/dev/null)"; fi
  done
else
  skip gnutls-serv "this host cannot create a network namespace (unshare -n), and gnutls-serv cannot bind to loopback only"
fi

# --- nginx -----------------------------------------------------------------------
NGX_TLS=$(free_port); NGX_PLAIN=$(free_port); NGX_SNI=$(free_port); NGX_AIA=$(free_port)
mkdir -p "$T/nginx/logs" "$T/nginx/www"
# A leaf whose AIA names the intermediate's URL on nginx's plain port.
openssl x509 -in "$P/int.pem" -outform DER -out "$T/nginx/www/int.der"
pki_leaf aialeaf int "DNS:localhost,IP:127.0.0.1" 60 ec sha256 "authorityInfoAccess=caIssuers;URI:http://127.0.0.1:$NGX_AIA/int.der"
cat > "$T/nginx/nginx.conf" <<EOF
daemon off;
master_process off;
pid $T/nginx/nginx.pid;
error_log $T/nginx/logs/error.log warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $T/nginx/tmp; proxy_temp_path $T/nginx/tmp; fastcgi_temp_path $T/nginx/tmp;
  uwsgi_temp_path $T/nginx/tmp; scgi_temp_path $T/nginx/tmp;
  server { listen 127.0.0.1:$NGX_TLS ssl; ssl_certificate $P/aialeaf.pem; ssl_certificate_key $P/aialeaf.key;
           location / { return 200 "ok\n"; } }
  server { listen 127.0.0.1:$NGX_PLAIN; location / { return 200 "plain\n"; } }
  server { listen 127.0.0.1:$NGX_AIA; root $T/nginx/www; }
  server { listen 127.0.0.1:$NGX_SNI ssl default_server; ssl_reject_handshake on; }
  server { listen 127.0.0.1:$NGX_SNI ssl; server_name good.example; ssl_certificate $P/sniok.chain.pem;
           ssl_certificate_key $P/sniok.key; location / { return 200 "ok\n"; } }
}
EOF
mkdir -p "$T/nginx/tmp"
bg nginx -p "$T/nginx" -c "$T/nginx/nginx.conf" -e "$T/nginx/logs/error.log"
if wait_port "$NGX_TLS" 5 && wait_port "$NGX_SNI" 5; then
  probe nginx-incomplete-chain-aia chain_incomplete --ca-file "$CA" "127.0.0.1:$NGX_TLS"
  jq_eq nginx-incomplete-chain-names-missing "$T/nginx-incomplete-chain-aia.json" '.diagnosis.summary | test("CN=int")' true
  probe nginx-not-tls not_tls --ca-file "$CA" "127.0.0.1:$NGX_PLAIN"
  probe nginx-sni-required sni_required --ca-file "$CA" "127.0.0.1:$NGX_SNI"
  probe nginx-sni-served ok --ca-file "$CA" --sni good.example "127.0.0.1:$NGX_SNI"
else
  fail nginx-start "nginx did not start: $(tail -3 "$T/nginx/logs/error.log")"
fi
