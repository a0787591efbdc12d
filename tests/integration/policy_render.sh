#!/usr/bin/env bash
# policy_render.sh - every built-in profile rendered for nginx, HAProxy,
# OpenSSL and stunnel is accepted by the real program, and the live server
# enforces it: versions outside the profile fail, a cipher outside it is
# refused, the profile's own cipher is accepted. Loopback only.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../lib_servers.sh"

for tool in nginx haproxy openssl; do
  command -v "$tool" >/dev/null || { skip "policy_render_$tool" "$tool not installed (scripts/install-deps.sh)"; }
done
command -v nginx >/dev/null && command -v haproxy >/dev/null || exit 0

mint_cert "$T/ec" ec || { fail mint "cannot mint EC certificate"; exit 0; }
mint_cert "$T/rsa" rsa || { fail mint "cannot mint RSA certificate"; exit 0; }

# profile | certificate | TLS 1.2 cipher outside the profile | TLS 1.2 cipher in it |
# versions that must fail | versions that must work
# (old: TLS 1.0/1.1 need @SECLEVEL=0 on the client side too, as on the server)
PROFILES=(
  "modern|ec|-|-|tls1_2 tls1_1|tls1_3"
  "intermediate|ec|ECDHE-ECDSA-AES128-SHA|ECDHE-ECDSA-AES256-GCM-SHA384|tls1_1 tls1|tls1_2 tls1_3"
  "public-web|ec|ECDHE-ECDSA-AES256-SHA384|ECDHE-ECDSA-CHACHA20-POLY1305|tls1_1|tls1_2 tls1_3"
  "internal-api|ec|ECDHE-ECDSA-AES128-SHA256|ECDHE-ECDSA-AES128-GCM-SHA256|tls1_1|tls1_2 tls1_3"
  "partner|ec|ECDHE-ECDSA-AES128-SHA|ECDHE-ECDSA-AES128-SHA256|tls1_1|tls1_2 tls1_3"
  "iot|ec|ECDHE-ECDSA-CHACHA20-POLY1305|ECDHE-ECDSA-AES128-CCM8|tls1_3 tls1_1|tls1_2"
  "old|rsa|CAMELLIA128-SHA|AES128-SHA|-|tls1 tls1_1 tls1_2 tls1_3"
)

client_opts() { # version flag -> s_client args
  case "$1" in
    tls1|tls1_1) echo "-$1 -cipher ALL:@SECLEVEL=0" ;;
    *) echo "-$1" ;;
  esac
}

# Check one live server against one profile row.
check_live() {
  local stack=$1 port=$2 prof=$3 outside=$4 inside=$5 bad=$6 good=$7 v
  for v in $good; do
    if tls_ok "$port" $(client_opts "$v"); then pass "$stack/$prof: $v accepted"
    else fail "$stack/$prof: $v accepted" "$(tail -3 "$T/s_client.out")"; fi
  done
  for v in $bad; do
    [[ $v == - ]] && continue
    if tls_ok "$port" $(client_opts "$v"); then fail "$stack/$prof: $v refused" "handshake succeeded"
    else pass "$stack/$prof: $v refused"; fi
  done
  if [[ $outside != - ]]; then
    if tls_ok "$port" -tls1_2 -cipher "$outside:@SECLEVEL=0"; then
      fail "$stack/$prof: $outside refused" "handshake succeeded"
    else pass "$stack/$prof: $outside refused"; fi
  fi
  if [[ $inside != - ]]; then
    if tls_ok "$port" -tls1_2 -cipher "$inside:@SECLEVEL=0" && grep -q "Cipher is $inside" "$T/s_client.out"; then
      pass "$stack/$prof: $inside accepted"
    else fail "$stack/$prof: $inside accepted" "$(grep -E 'Cipher is|alert|error' "$T/s_client.out" | head -2)"; fi
  fi
  # TLS 1.3 suites: a profile suite works, and (modern) the server honours the list.
  if [[ " $good " == *" tls1_3 "* ]]; then
    if tls_ok "$port" -tls1_3 -ciphersuites TLS_CHACHA20_POLY1305_SHA256; then
      pass "$stack/$prof: TLS 1.3 CHACHA20 accepted"
    else fail "$stack/$prof: TLS 1.3 CHACHA20 accepted" "$(tail -2 "$T/s_client.out")"; fi
    if tls_ok "$port" -tls1_3 -ciphersuites TLS_AES_128_CCM_SHA256; then
      fail "$stack/$prof: TLS 1.3 CCM refused" "handshake succeeded"
    else pass "$stack/$prof: TLS 1.3 CCM refused"; fi
  fi
}

for row in "${PROFILES[@]}"; do
  IFS='|' read -r prof cert outside inside bad good <<<"$row"

  # nginx
  "$HILT" policy render --profile "$prof" --target nginx > "$T/$prof.nginx" \
    && pass "render nginx $prof" || fail "render nginx $prof" "exit $?"
  port=$(free_port)
  if start_nginx "$T/$prof.nginx" "$T/$cert" "$port" 2>"$T/err"; then
    pass "nginx -t accepts $prof"
    check_live nginx "$port" "$prof" "$outside" "$inside" "$bad" "$good"
  else
    fail "nginx -t accepts $prof" "$(head -c 400 "$T/err")"
  fi

  # HAProxy: the global ssl-default-bind-* form, live
  "$HILT" policy render --profile "$prof" --target haproxy > "$T/$prof.haproxy" \
    && pass "render haproxy $prof" || fail "render haproxy $prof" "exit $?"
  port=$(free_port)
  if start_haproxy "$T/$prof.haproxy" "$T/$cert" "$port" 2>"$T/err"; then
    pass "haproxy -c accepts $prof"
    check_live haproxy "$port" "$prof" "$outside" "$inside" "$bad" "$good"
  else
    fail "haproxy -c accepts $prof" "$(head -c 400 "$T/err")"
  fi
  # ... and the per-listener bind options printed under it.
  bindopts=$(sed -n 's|^#   bind :443 ssl crt /etc/haproxy/certs/site.pem ||p' "$T/$prof.haproxy")
  if [[ -n $bindopts ]]; then
    printf 'global\n    log stderr local0 emerg\n' > "$T/$prof.hglobal"
    bindopts=${bindopts//\/path\/to\/client-ca.pem/$T\/$cert\/cert.pem}
    haproxy_conf "$T/$prof.hglobal" "$T/$cert" 1 "$T/$prof-bind.cfg" "$bindopts"
    if haproxy -q -c -f "$T/$prof-bind.cfg" >"$T/err" 2>&1; then pass "haproxy bind options accepted for $prof"
    else fail "haproxy bind options accepted for $prof" "$(head -c 400 "$T/err")"; fi
  else
    fail "haproxy bind line for $prof" "no '#   bind' line in the output"
  fi

  # stunnel, when it can run here
  if command -v stunnel >/dev/null; then
    "$HILT" policy render --profile "$prof" --target stunnel > "$T/$prof.stunnel"
    port=$(free_port)
    if start_stunnel "$T/$prof.stunnel" "$T/$cert" "$port" 2>"$T/err"; then
      pass "stunnel accepts $prof"
      v=${good%% *}
      if tls_ok "$port" $(client_opts "$v"); then pass "stunnel/$prof: $v accepted"
      else fail "stunnel/$prof: $v accepted" "$(tail -2 "$T/s_client.out")"; fi
      v=${bad%% *}
      if [[ $v != - ]]; then
        if tls_ok "$port" $(client_opts "$v"); then fail "stunnel/$prof: $v refused" "handshake succeeded"
        else pass "stunnel/$prof: $v refused"; fi
      fi
    else
      fail "stunnel accepts $prof" "$(head -c 400 "$T/err")"
    fi
  else
    skip "stunnel $prof" "stunnel not installed"
  fi

  # OpenSSL config: the cipher list it yields, and a live s_server under it
  "$HILT" policy render --profile "$prof" --target openssl > "$T/$prof.cnf"
  want=$("$HILT" policy show "$prof" --json | jq -r '[.tls13_ciphersuites[].openssl, (.ciphers[] | select(.openssl != "DES-CBC3-SHA") | .openssl)] | join(":")')
  got=$(OPENSSL_CONF="$T/$prof.cnf" openssl ciphers -s 2>&1)
  if [[ $prof == modern ]]; then got=${got%%:ECDHE*}; fi  # TLS 1.2 list unused at MinProtocol TLSv1.3
  if [[ "$got" == "$want" ]]; then pass "openssl config $prof: cipher list is the profile's, in order"
  else fail "openssl config $prof: cipher list" "got '$got' wanted '$want'"; fi
  port=$(free_port)
  if start_openssl_server "$T/$prof.cnf" "$T/$cert" "$port"; then
    v=${good%% *}
    if tls_ok "$port" $(client_opts "$v"); then pass "openssl s_server/$prof: $v accepted"
    else fail "openssl s_server/$prof: $v accepted" "$(tail -2 "$T/s_client.out")"; fi
    v=${bad%% *}
    if [[ $v != - ]]; then
      if tls_ok "$port" $(client_opts "$v"); then fail "openssl s_server/$prof: $v refused" "handshake succeeded"
      else pass "openssl s_server/$prof: $v refused"; fi
    fi
  else
    fail "openssl s_server/$prof starts" "no listener"
  fi
done

# mTLS from a profile with a client CA: nginx requires the client certificate.
cat > "$T/mtls.yaml" <<EOF
profiles:
  partner-mtls:
    extends: partner
    client_certificate:
      mode: required
      ca_file: $T/rsa/cert.pem
EOF
"$HILT" policy render --policy "$T/mtls.yaml" --profile partner-mtls --target nginx > "$T/mtls.nginx"
port=$(free_port)
if start_nginx "$T/mtls.nginx" "$T/ec" "$port" 2>"$T/err"; then
  pass "nginx -t accepts partner-mtls (client CA from the profile)"
  printf 'GET / HTTP/1.0\r\n\r\n' | timeout 10 openssl s_client -quiet -connect "127.0.0.1:$port" \
    -cert "$T/rsa/cert.pem" -key "$T/rsa/key.pem" > "$T/mtls.ok" 2>/dev/null
  printf 'GET / HTTP/1.0\r\n\r\n' | timeout 10 openssl s_client -quiet -connect "127.0.0.1:$port" \
    > "$T/mtls.no" 2>/dev/null
  if grep -q '^ok' "$T/mtls.ok"; then pass "nginx/partner-mtls: client with certificate served"
  else fail "nginx/partner-mtls: client with certificate served" "$(head -c 200 "$T/mtls.ok")"; fi
  if grep -q '400' "$T/mtls.no" && ! grep -q '^ok' "$T/mtls.no"; then
    pass "nginx/partner-mtls: client without certificate refused"
  else fail "nginx/partner-mtls: client without certificate refused" "$(head -c 200 "$T/mtls.no")"; fi
else
  fail "nginx -t accepts partner-mtls (client CA from the profile)" "$(head -c 400 "$T/err")"
fi
exit 0
