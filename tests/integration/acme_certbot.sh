#!/usr/bin/env bash
# acme_certbot.sh - Debian's certbot (2.1) obtains, renews and revokes certificates from
# `hilt serve`'s ACME server on loopback: `certbot certonly --standalone` with http-01
# (certbot's own challenge server on 127.0.0.1), hilt's CA as the trust root
# (REQUESTS_CA_BUNDLE), every directory under $T. The certificate chains to `hilt ca
# roots` (openssl verify), carries exactly the names asked for, is in the inventory
# under the ACME account and in the audit chain; `certbot renew --force-renewal` gets a
# new one; `certbot revoke` revokes it, seen by OCSP (openssl ocsp) and the CRL
# (openssl crl). A name whose challenge cannot be answered fails with certbot
# reporting the server's problem. Then the same certbot flow against pebble, the
# side-by-side reference: the harness works identically there.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../lib_acme.sh"
command -v certbot >/dev/null || { skip acme_certbot "certbot is not installed (scripts/install-deps.sh)"; exit 0; }
H() { "$HILT" "$@"; }
acme_hilt_start || { fail acme_certbot_serve "$ACME_WHY"; exit 0; }

cb() { # DIR-PREFIX ARGS... (certbot with its state under $T/DIR-PREFIX)
  local d="$T/$1"; shift
  certbot --non-interactive --config-dir "$d/config" --work-dir "$d/work" --logs-dir "$d/logs" "$@"
}

# ---- obtain ----------------------------------------------------------------------------------
export REQUESTS_CA_BUNDLE="$T/roots.pem"
if cb cb certonly --standalone --server "$DIR" --agree-tos --register-unsafely-without-email \
    --preferred-challenges http-01 --http-01-port "$CH" --http-01-address 127.0.0.1 \
    --key-type ecdsa -d www.example.test -d api.example.test >"$T/cb1.out" 2>&1; then
  pass acme_certbot_certonly
else
  fail acme_certbot_certonly "$(tail -15 "$T/cb1.out" | tr '\n' ' ')"
  tail -20 "$T/cb/logs/letsencrypt.log" 2>/dev/null
  exit 0
fi
LIVE="$T/cb/config/live/www.example.test"
openssl verify -CAfile "$T/roots.pem" -untrusted "$LIVE/chain.pem" "$LIVE/cert.pem" >"$T/v.out" 2>&1 &&
  pass acme_certbot_chains_to_roots || fail acme_certbot_chains_to_roots "$(cat "$T/v.out")"
sans=$(openssl x509 -in "$LIVE/cert.pem" -noout -ext subjectAltName | tail -1 | tr -d ' ')
[[ "$sans" == "DNS:api.example.test,DNS:www.example.test" || "$sans" == "DNS:www.example.test,DNS:api.example.test" ]] &&
  pass acme_certbot_names || fail acme_certbot_names "$sans"
S1=$(openssl x509 -in "$LIVE/cert.pem" -noout -serial | cut -d= -f2 | tr A-F a-f)
H inventory show "$S1" --json >"$T/inv.json" 2>"$T/inv.err" &&
  jq_eq acme_certbot_inventory_owner "$T/inv.json" '.owner | startswith("acme:")' true ||
  fail acme_certbot_inventory "$(cat "$T/inv.err")"
H acme orders --json >"$T/orders.json"
jq_eq acme_certbot_order_valid "$T/orders.json" '[.[] | select(.serial == "'"$S1"'") | .status] | .[0]' valid
H acme accounts --json >"$T/accts.json"
jq_eq acme_certbot_one_account "$T/accts.json" 'length' 1
H audit log --json >"$T/audit.json"
jq_eq acme_certbot_audited "$T/audit.json" \
  '[.[] | select(.action == "request.submit" and (.actor | startswith("acme:")) and (.result | contains("'"$S1"'")))] | length' 1
H audit verify >/dev/null && pass acme_certbot_audit_chain || fail acme_certbot_audit_chain "$(H audit verify 2>&1)"

# ---- renew -------------------------------------------------------------------------------------
if cb cb renew --force-renewal --no-random-sleep-on-renew --http-01-port "$CH" --http-01-address 127.0.0.1 >"$T/cb2.out" 2>&1; then
  S2=$(openssl x509 -in "$LIVE/cert.pem" -noout -serial | cut -d= -f2 | tr A-F a-f)
  [[ -n "$S2" && "$S2" != "$S1" ]] && pass acme_certbot_renew || fail acme_certbot_renew "serial unchanged ($S1)"
  openssl verify -CAfile "$T/roots.pem" -untrusted "$LIVE/chain.pem" "$LIVE/cert.pem" >/dev/null 2>&1 &&
    pass acme_certbot_renewed_chains || fail acme_certbot_renewed_chains "does not verify"
else
  fail acme_certbot_renew "$(tail -10 "$T/cb2.out" | tr '\n' ' ')"
  S2=$S1
fi

# ---- revoke -------------------------------------------------------------------------------------
if cb cb revoke --cert-path "$LIVE/cert.pem" --reason keycompromise --no-delete-after-revoke \
    --server "$DIR" >"$T/cb3.out" 2>&1; then
  pass acme_certbot_revoke
else
  fail acme_certbot_revoke "$(tail -10 "$T/cb3.out" | tr '\n' ' ')"
fi
H inventory show "$S2" --json >"$T/inv2.json" 2>/dev/null
jq_eq acme_certbot_revoked_in_store "$T/inv2.json" '.status' revoked
jq_eq acme_certbot_revoked_reason "$T/inv2.json" '.revocation_reason' keyCompromise
# revoking again: certbot reports the server's alreadyRevoked
cb cb revoke --cert-path "$LIVE/cert.pem" --no-delete-after-revoke --server "$DIR" >"$T/cb4.out" 2>&1 &&
  fail acme_certbot_revoke_twice "succeeded" ||
  { grep -qi "already.*revoked\|alreadyRevoked" "$T/cb4.out" "$T/cb/logs/letsencrypt.log" &&
      pass acme_certbot_revoke_twice || fail acme_certbot_revoke_twice "$(tail -5 "$T/cb4.out" | tr '\n' ' ')"; }
# OCSP and the CRL see it
sed -n '/BEGIN/,/END/p' "$LIVE/chain.pem" | awk 'BEGIN{n=0} /BEGIN/{n++} n==1' >"$T/inter.pem"
got=""
for _ in $(seq 1 40); do
  got=$(openssl ocsp -issuer "$T/inter.pem" -cert "$LIVE/cert.pem" -url "http://127.0.0.1:$HP/ocsp" \
        -CAfile "$T/roots.pem" 2>&1)
  grep -q ": revoked" <<<"$got" && break
  sleep 0.25
done
grep -q "Response verify OK" <<<"$got" && grep -q ": revoked" <<<"$got" &&
  grep -qi "Reason: keyCompromise" <<<"$got" && pass acme_certbot_ocsp_revoked || fail acme_certbot_ocsp_revoked "$got"
n=0
for _ in $(seq 1 40); do
  curl -s -o "$T/full.crl" "http://127.0.0.1:$HP/crl/hilt.crl"
  n=$(openssl crl -inform DER -in "$T/full.crl" -noout -text 2>/dev/null | grep -ci "serial number: *$S2")
  [[ $n -ge 1 ]] && break
  sleep 0.25
done
[[ $n -ge 1 ]] && pass acme_certbot_crl_revoked || fail acme_certbot_crl_revoked "serial $S2 not in the CRL"

# ---- a challenge nobody answers -------------------------------------------------------------------
WRONG=$(free_port)
cb cb certonly --standalone --server "$DIR" --agree-tos --register-unsafely-without-email \
  --http-01-port "$WRONG" --http-01-address 127.0.0.1 -d nobody.example.test >"$T/cb5.out" 2>&1 &&
  fail acme_certbot_failed_validation "certbot succeeded" || {
  grep -qi "connection\|refused" "$T/cb5.out" && pass acme_certbot_failed_validation ||
    fail acme_certbot_failed_validation "$(tail -8 "$T/cb5.out" | tr '\n' ' ')"; }
[[ ! -e "$T/cb/config/live/nobody.example.test" ]] && pass acme_certbot_no_cert_on_failure ||
  fail acme_certbot_no_cert_on_failure "a certificate was written"
curl -s --cacert "$T/roots.pem" "https://127.0.0.1:$P/metrics" >"$T/metrics.txt"
grep -q '^hilt_acme_validations_total{type="http-01",result="valid"} [1-9]' "$T/metrics.txt" &&
  grep -q '^hilt_acme_validations_total{type="http-01",result="invalid"} [1-9]' "$T/metrics.txt" &&
  grep -q '^hilt_acme_orders_total{status="valid"} 2' "$T/metrics.txt" &&
  pass acme_certbot_metrics || fail acme_certbot_metrics "$(grep hilt_acme "$T/metrics.txt" | tr '\n' ' ')"

# ---- the same flow against pebble -------------------------------------------------------------------
PH=$(free_port)
if ! pebble_start "$PH" "$(free_port)"; then
  skip acme_certbot_pebble "$PEBBLE_WHY"
  exit 0
fi
export REQUESTS_CA_BUNDLE="$PEBBLE_TLS_CA"
if cb pb certonly --standalone --server "$PEBBLE_URL" --agree-tos --register-unsafely-without-email \
    --preferred-challenges http-01 --http-01-port "$PH" --http-01-address 127.0.0.1 \
    --key-type ecdsa -d www.example.test -d api.example.test >"$T/pb1.out" 2>&1; then
  pass acme_certbot_pebble_certonly
else
  fail acme_certbot_pebble_certonly "$(tail -10 "$T/pb1.out" | tr '\n' ' ')"
  exit 0
fi
PL="$T/pb/config/live/www.example.test"
pebble_roots "$T/pebble-root.pem"
openssl verify -CAfile "$T/pebble-root.pem" -untrusted "$PL/chain.pem" "$PL/cert.pem" >/dev/null 2>&1 &&
  pass acme_certbot_pebble_chains || fail acme_certbot_pebble_chains "does not verify to pebble's root"
P1=$(openssl x509 -in "$PL/cert.pem" -noout -serial)
cb pb renew --force-renewal --no-random-sleep-on-renew --http-01-port "$PH" --http-01-address 127.0.0.1 >"$T/pb2.out" 2>&1 &&
  [[ "$(openssl x509 -in "$PL/cert.pem" -noout -serial)" != "$P1" ]] &&
  pass acme_certbot_pebble_renew || fail acme_certbot_pebble_renew "$(tail -5 "$T/pb2.out" | tr '\n' ' ')"
cb pb revoke --cert-path "$PL/cert.pem" --reason keycompromise --no-delete-after-revoke \
  --server "$PEBBLE_URL" >"$T/pb3.out" 2>&1 && pass acme_certbot_pebble_revoke ||
  fail acme_certbot_pebble_revoke "$(tail -5 "$T/pb3.out" | tr '\n' ' ')"
