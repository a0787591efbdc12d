#!/usr/bin/env bash
# serve.sh - `hilt serve` on SQLite, judged by real peers: its certificate chains
# to `hilt ca roots` (openssl s_client -verify_return_error, curl --cacert), the
# REST API with tokens and client certificates, pre-approved scopes issuing with
# no human step, separation of duties (self-approval refused even for an admin,
# an approver outside its scope, a requester, an auditor that tries to write),
# expired/revoked/unknown tokens, a client certificate from another CA, every
# step in `hilt audit verify`'s chain; the CRL checked with `openssl crl`, OCSP
# with `openssl ocsp -url`, /metrics scraped by Debian's Prometheus; bad input
# (malformed JSON, 413, 415, 431, slowloris, too many connections) storing
# nothing; SIGHUP reload (good and bad), the server certificate renewed and
# swapped without dropping a keep-alive connection, graceful SIGTERM.
source "$(dirname "$0")/../lib.sh"
export HILT_HOME="$T/home"
H() { "$HILT" "$@"; }
P=$(free_port)
HP=$(free_port)
SRV="https://localhost:$P"
H ca init --crl-url "http://127.0.0.1:$HP/crl" --ocsp-url "http://127.0.0.1:$HP/ocsp" \
  --allow-domain example.com --allow-domain internal --allow-domain localhost \
  --allow-domain 127.0.0.1 >/dev/null || { fail serve_ca_init "ca init failed"; exit 0; }
H ca roots --out "$T/roots.pem"
export HILT_CA_FILE="$T/roots.pem" HILT_SERVER="$SRV"
db() { sqlite3 "$HILT_HOME/hilt.db" "$1"; }

mkconf() { # [EXTRA-SCOPE-PATTERN] > serve.yaml
  cat <<EOF
node: node-a
listeners:
  - listen: 127.0.0.1:$P
    profile: intermediate
  - listen: 127.0.0.1:$HP
    tls: false
scopes:
  - names: '*.svc.internal'
    environment: internal-api
    max_lifetime: 7d
EOF
  [[ -n "${1:-}" ]] && printf "  - names: '%s'\n    max_lifetime: 1d\n" "$1"
  cat <<EOF
limits:
  max_connections: 40
  header_timeout: 2s
  body_timeout: 3s
  idle_timeout: 5s
  max_body: 64KiB
renewal:
  interval: 5s
  lease_ttl: 6s
ocsp:
  poll: 1s
EOF
}
mkconf > "$T/serve.yaml"

# ---- usage ----------------------------------------------------------------------------
expect_exit 0 serve_help H serve --help
grep -q -- '--preapprove' "$T/last.out" && grep -q 'Test knobs' "$T/last.out" &&
  pass serve_help_text || fail serve_help_text "serve --help lacks options"
expect_exit 2 serve_no_listener H serve
expect_exit 2 serve_bad_preapprove H serve --listen 127.0.0.1:1 --preapprove 'a..b'
printf 'listners: []\n' > "$T/bad.yaml"
expect_exit 2 serve_bad_config H serve -c "$T/bad.yaml"
grep -q "bad.yaml:1:1: unknown key 'listners' (did you mean 'listeners'?)" "$T/last.err" &&
  pass serve_bad_config_line || fail serve_bad_config_line "$(cat "$T/last.err")"
for c in token grant request requests approve reject revoke; do
  H "$c" --help >/dev/null 2>&1 || H "$c" help >/dev/null 2>&1 || fail "serve_help_$c" "no help"
done
pass serve_cli_help

# ---- start ------------------------------------------------------------------------------
"$HILT" serve -c "$T/serve.yaml" >"$T/serve.out" 2>"$T/serve.err" &
SPID=$!
_bg_pids+=("$SPID")
wait_port "$P" 30 && wait_port "$HP" 5 && pass serve_listens ||
  { fail serve_listens "no listener: $(tail -5 "$T/serve.err")"; exit 0; }
# the sockets accept before the ready line is written: give the line a moment
for _ in $(seq 50); do grep -q "listening on" "$T/serve.out" && break; sleep 0.1; done
grep -q "listening on https://127.0.0.1:$P (node node-a)" "$T/serve.out" &&
  pass serve_ready_line || fail serve_ready_line "$(cat "$T/serve.out")"

# its certificate chains to hilt ca roots
out=$(openssl s_client -connect "127.0.0.1:$P" -servername localhost -verify_return_error \
  -verify_hostname localhost -CAfile "$T/roots.pem" </dev/null 2>&1)
grep -q "Verify return code: 0 (ok)" <<<"$out" && pass serve_chain_s_client ||
  fail serve_chain_s_client "$(grep -i verify <<<"$out" | head -3)"
code=$(curl -s -o "$T/h.json" -w '%{http_code}' --cacert "$T/roots.pem" "$SRV/healthz")
[[ $code == 200 ]] && jq_eq serve_healthz "$T/h.json" '.status + " " + .renewal_lease' "ok held" ||
  fail serve_healthz "status $code"
openssl s_client -connect "127.0.0.1:$P" -tls1_2 -CAfile "$T/roots.pem" </dev/null 2>&1 |
  grep -q "Protocol *: TLSv1.2" && pass serve_intermediate_tls12 || fail serve_intermediate_tls12 "no TLS 1.2"
curl -s -o /dev/null https://localhost:$P/healthz 2>/dev/null
[[ $? != 0 ]] && pass serve_untrusted_without_roots || fail serve_untrusted_without_roots "curl trusted it"
# not a CA key in this process: only the signer child holds it
if ls -l /proc/$SPID/fd 2>/dev/null | grep -q intermediate.key; then
  fail serve_no_ca_key "the serving process has the CA key open"
else pass serve_no_ca_key; fi

# ---- principals ---------------------------------------------------------------------------
tok() { H token create --name "$1" --role "$2" ${3:+--scope "$3"} ${4:+--expires "$4"} 2>/dev/null; }
ADMIN=$(tok admin admin)
ALICE=$(tok alice requester 'env=prod')
BOB=$(tok bob approver 'env=prod,names=.example.com')
CAROL=$(tok carol approver 'env=staging')
AUD=$(tok auditor auditor)
CI=$(tok ci requester 'env=internal-api')
EVE=$(tok eve requester 'env=prod' 1s)
MALLORY=$(tok mallory requester)
ISS=$(tok bot issuer 'env=prod')
H grant add token:admin --role requester >/dev/null
[[ ${#ADMIN} == 86 && -n "$BOB" && -n "$EVE" ]] && pass serve_tokens_created || fail serve_tokens_created "admin='$ADMIN'"
n=$(db "SELECT COUNT(*) FROM api_tokens WHERE hash LIKE '%${ALICE:22:20}%'")
[[ $n == 0 ]] && pass serve_token_hashed_at_rest || fail serve_token_hashed_at_rest "secret found in the store"
H token list --json > "$T/tokens.json"
jq -s -e 'map(.name) | index("alice") != null' "$T/tokens.json" >/dev/null &&
  ! grep -q "${ALICE:22}" "$T/tokens.json" && pass serve_token_list || fail serve_token_list "$(head -2 "$T/tokens.json")"

# api TOKEN METHOD PATH [JSON-FILE] -> status; body in $T/r.json
api() {
  local t=$1 m=$2 p=$3 f=${4:-}
  local a=(-s -o "$T/r.json" -w '%{http_code}' --cacert "$T/roots.pem" -X "$m")
  [[ -n "$t" ]] && a+=(-H "Authorization: Bearer $t")
  [[ -n "$f" ]] && a+=(-H 'Content-Type: application/json' --data-binary "@$f")
  curl "${a[@]}" "$SRV$p"
}
csr() { # NAME FILE
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$2.key" \
    -subj "/CN=$1" -addext "subjectAltName=DNS:$1" -out "$2.csr" 2>/dev/null
}
body() { # CSR-FILE ENV [LIFETIME] > json
  jq -n --rawfile c "$1" --arg e "$2" --arg l "${3:-}" \
    '{csr:$c, environment:$e, owner:"team-a", service:"svc"} + (if $l == "" then {} else {lifetime:$l} end)'
}

# ---- authentication -----------------------------------------------------------------------
[[ $(api "" GET /v1/whoami) == 401 ]] && jq_eq serve_401_anonymous "$T/r.json" .type urn:hilt:error:unauthorized ||
  fail serve_401_anonymous "$(cat "$T/r.json")"
curl -s -D "$T/hdr" -o /dev/null --cacert "$T/roots.pem" "$SRV/v1/whoami"
grep -qi '^WWW-Authenticate: Bearer realm="hilt"' "$T/hdr" && pass serve_401_www_authenticate ||
  fail serve_401_www_authenticate "$(cat "$T/hdr")"
[[ $(api "hilt_0000000000000000_$(printf '%064d' 0)" GET /v1/whoami) == 401 ]] &&
  pass serve_401_unknown_token || fail serve_401_unknown_token "$(cat "$T/r.json")"
WRONG="${ALICE:0:85}$([[ ${ALICE:85:1} == 0 ]] && echo 1 || echo 0)"
[[ $(api "$WRONG" GET /v1/whoami) == 401 ]] && pass serve_401_wrong_secret || fail serve_401_wrong_secret "$(cat "$T/r.json")"
sleep 1.5
[[ $(api "$EVE" GET /v1/whoami) == 401 ]] && grep -q expired "$T/r.json" && pass serve_401_expired_token ||
  fail serve_401_expired_token "$(cat "$T/r.json")"
H token revoke mallory >/dev/null
[[ $(api "$MALLORY" GET /v1/whoami) == 401 ]] && grep -q revoked "$T/r.json" && pass serve_401_revoked_token ||
  fail serve_401_revoked_token "$(cat "$T/r.json")"
[[ $(api "$ALICE" GET /v1/whoami) == 200 ]] && jq_eq serve_whoami "$T/r.json" '.principal + " " + (.roles|join(","))' "token:alice requester" ||
  fail serve_whoami "$(cat "$T/r.json")"

# ---- pre-approved scope: no human step ------------------------------------------------------
H request --token "$CI" --name web.svc.internal --key-out "$T/web.key" --env internal-api \
  --lifetime 3d --cert-out "$T/web.pem" --chain-out "$T/web.chain.pem" --json > "$T/pre.json"
jq_eq serve_preapproved_issued "$T/pre.json" '.request.state + " " + .request.approver' \
  "issued scope:*.svc.internal@internal-api"
openssl verify -CAfile "$T/roots.pem" -untrusted "$T/web.chain.pem" "$T/web.pem" >/dev/null 2>&1 &&
  pass serve_preapproved_chain || fail serve_preapproved_chain "openssl verify failed"
[[ $(stat -c %a "$T/web.key") == 600 ]] && pass serve_request_key_0600 || fail serve_request_key_0600 "$(stat -c %a "$T/web.key")"
# outside the scope (another env, too long): pending
csr long.svc.internal "$T/long"
body "$T/long.csr" internal-api 30d > "$T/long.json"
[[ $(api "$CI" POST /v1/requests "$T/long.json") == 202 ]] && pass serve_outside_scope_pending ||
  fail serve_outside_scope_pending "$(cat "$T/r.json")"

# ---- approvals and separation of duties -------------------------------------------------------
csr www.example.com "$T/www"
body "$T/www.csr" prod 30d > "$T/www.json"
[[ $(api "$ALICE" POST /v1/requests "$T/www.json") == 202 ]] && pass serve_request_pending ||
  fail serve_request_pending "$(cat "$T/r.json")"
RID=$(jq -r .request.id "$T/r.json")
expect_exit 1 serve_self_approval_refused H approve "$RID" --token "$ALICE"
grep -q "separation of duties" "$T/last.err" && pass serve_self_approval_message || fail serve_self_approval_message "$(cat "$T/last.err")"
expect_exit 1 serve_approver_out_of_scope H approve "$RID" --token "$CAROL"
expect_exit 1 serve_requester_cannot_approve H approve "$RID" --token "$CI"
[[ $(api "$AUD" POST "/v1/requests/$RID/approve") == 403 ]] && pass serve_auditor_cannot_approve ||
  fail serve_auditor_cannot_approve "$(cat "$T/r.json")"
[[ $(api "$AUD" POST /v1/requests "$T/www.json") == 403 ]] && pass serve_auditor_cannot_request ||
  fail serve_auditor_cannot_request "$(cat "$T/r.json")"
# even an admin cannot approve its own request
[[ $(api "$ADMIN" POST /v1/requests "$T/www.json") == 202 ]] || fail serve_admin_request "$(cat "$T/r.json")"
ARID=$(jq -r .request.id "$T/r.json")
[[ $(api "$ADMIN" POST "/v1/requests/$ARID/approve") == 403 ]] && grep -q "separation of duties" "$T/r.json" &&
  pass serve_admin_self_approval_refused || fail serve_admin_self_approval_refused "$(cat "$T/r.json")"
[[ $(api "$ALICE" GET "/v1/requests/$RID") == 200 ]] && jq_eq serve_still_pending "$T/r.json" .request.state pending
H approve "$RID" --token "$BOB" --reason "ticket 7" --json > "$T/appr.json"
jq_eq serve_approved_issued "$T/appr.json" '.request.state + " " + .request.approver' "issued token:bob"
jq -r .certificate "$T/appr.json" > "$T/www.pem"
jq -r .chain "$T/appr.json" > "$T/www.chain.pem"
openssl verify -CAfile "$T/roots.pem" -untrusted "$T/www.chain.pem" "$T/www.pem" >/dev/null 2>&1 &&
  pass serve_approved_chain || fail serve_approved_chain "openssl verify failed"
[[ $(api "$BOB" POST "/v1/requests/$RID/approve") == 409 ]] && pass serve_decided_once || fail serve_decided_once "$(cat "$T/r.json")"
# reject
[[ $(api "$ALICE" POST /v1/requests "$T/www.json") == 202 ]]
R2=$(jq -r .request.id "$T/r.json")
expect_exit 0 serve_reject H reject "$R2" --token "$BOB" --reason "not needed"
[[ $(api "$ALICE" GET "/v1/requests/$R2") == 200 ]] && jq_eq serve_rejected_state "$T/r.json" .request.state rejected
# the issuer role cannot approve
[[ $(api "$ISS" POST "/v1/requests/$ARID/approve") == 403 ]] && pass serve_issuer_cannot_approve || fail serve_issuer_cannot_approve "$(cat "$T/r.json")"
# visibility: a requester sees its own requests only
[[ $(api "$CI" GET "/v1/requests/$RID") == 403 ]] && pass serve_request_not_visible || fail serve_request_not_visible "$(cat "$T/r.json")"
H requests --token "$ALICE" --json > "$T/list.json"
jq_eq serve_requests_list "$T/list.json" '[.items[].requester] | unique | join(",")' "token:alice"

# ---- mTLS --------------------------------------------------------------------------------------
H ca issue --name dana.people.internal --lifetime 2d --out "$T/dana" >/dev/null
H grant add cert:dana.people.internal --role approver --scope 'env=internal-api' >/dev/null
code=$(curl -s -o "$T/r.json" -w '%{http_code}' --cacert "$T/roots.pem" --cert "$T/dana.crt" --key "$T/dana.key" "$SRV/v1/whoami")
[[ $code == 200 ]] && jq_eq serve_mtls_principal "$T/r.json" .principal cert:dana.people.internal ||
  fail serve_mtls_principal "$code $(cat "$T/r.json")"
LRID=$(H requests --token "$CI" --state pending --json | jq -r '.items[0].id')
H approve "$LRID" --client-cert "$T/dana.crt" --client-key "$T/dana.key" --json > "$T/mtls.json" &&
  jq_eq serve_mtls_approve "$T/mtls.json" '.request.state + " " + .request.approver' "issued cert:dana.people.internal" ||
  fail serve_mtls_approve "approve over mTLS failed"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/foreign.key" \
  -subj /CN=dana.people.internal -days 2 -out "$T/foreign.pem" 2>/dev/null
code=$(curl -s -o "$T/r.json" -w '%{http_code}' --cacert "$T/roots.pem" --cert "$T/foreign.pem" --key "$T/foreign.key" "$SRV/v1/whoami")
[[ $code == 401 ]] && grep -q "client certificate refused" "$T/r.json" && pass serve_mtls_foreign_ca_refused ||
  fail serve_mtls_foreign_ca_refused "$code $(cat "$T/r.json")"

# ---- revocation, CRL, OCSP ---------------------------------------------------------------------
WS=$(openssl x509 -in "$T/web.pem" -noout -serial | cut -d= -f2 | tr A-F a-f)
[[ $(api "$ALICE" POST "/v1/certificates/$WS/revoke") == 403 ]] && pass serve_revoke_refused || fail serve_revoke_refused "$(cat "$T/r.json")"
expect_exit 0 serve_revoke H revoke "$WS" --token "$CI" --reason keyCompromise
sed -n '/BEGIN/,/END/p' "$T/web.chain.pem" | awk 'BEGIN{n=0} /BEGIN/{n++} n==2' > "$T/inter.pem"
got=""
for _ in $(seq 1 40); do
  curl -s -o "$T/full.crl" "http://127.0.0.1:$HP/crl/hilt.crl"
  got=$(openssl crl -inform DER -in "$T/full.crl" -noout -text 2>/dev/null | grep -ci "serial number: *$WS")
  [[ $got -ge 1 ]] && break
  sleep 0.25
done
[[ $got -ge 1 ]] && pass serve_crl_lists_revoked || fail serve_crl_lists_revoked "serial $WS not in the CRL"
openssl crl -inform DER -in "$T/full.crl" -CAfile "$T/inter.pem" -noout 2>&1 | grep -q "verify OK" &&
  pass serve_crl_signature || fail serve_crl_signature "openssl crl did not verify it"
curl -s -o "$T/shard.crl" "http://127.0.0.1:$HP/crl/shard-0.crl"
openssl crl -inform DER -in "$T/shard.crl" -noout -text 2>/dev/null | grep -q "Issuing Distribution Point" &&
  pass serve_crl_shard || fail serve_crl_shard "no shard CRL"
[[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HP/crl/..%2fhilt.db") == 404 ]] &&
  pass serve_crl_no_traversal || fail serve_crl_no_traversal "served something"
oc() { openssl ocsp -issuer "$T/inter.pem" -cert "$1" -url "http://127.0.0.1:$HP/ocsp" -CAfile "$T/roots.pem" 2>&1; }
got=""
for _ in $(seq 1 20); do got=$(oc "$T/web.pem"); grep -q ": revoked" <<<"$got" && break; sleep 0.25; done
grep -q "Response verify OK" <<<"$got" && grep -q ": revoked" <<<"$got" && pass serve_ocsp_revoked ||
  fail serve_ocsp_revoked "$got"
got=$(oc "$T/www.pem")
grep -q "Response verify OK" <<<"$got" && grep -q ": good" <<<"$got" && pass serve_ocsp_good || fail serve_ocsp_good "$got"

# ---- the signer child dies: a new one is started, issuance goes on ------------------------------
SIG=$(pgrep -P "$SPID" -f 'signer-child' | head -1)
if [[ -n "$SIG" ]]; then
  kill -KILL "$SIG"
  n=0
  for _ in $(seq 1 60); do
    sleep 0.25
    n=$(curl -s "http://127.0.0.1:$HP/metrics" | sed -n 's/^hilt_serve_signer_restarts_total \([0-9]*\)$/\1/p')
    [[ "${n:-0}" -ge 1 ]] && break
  done
  H request --token "$CI" --name after.svc.internal --key-out "$T/after.key" --env internal-api \
    --lifetime 1d --json > "$T/after.json" 2>"$T/after.err"
  NEWSIG=$(pgrep -P "$SPID" -f 'signer-child' | head -1)
  [[ "${n:-0}" -ge 1 && $(jq -r .request.state "$T/after.json") == issued && -n "$NEWSIG" && "$NEWSIG" != "$SIG" ]] &&
    pass serve_signer_restarted || fail serve_signer_restarted "restarts=$n $(cat "$T/after.err")"
else
  fail serve_signer_restarted "no signer child of $SPID"
fi

# ---- bad input stores nothing -------------------------------------------------------------------
before="$(db 'SELECT COUNT(*) FROM api_requests')/$(db 'SELECT COUNT(*) FROM certs')/$(db 'SELECT COUNT(*) FROM audit')"
printf '{"csr": "x", ' > "$T/bad1.json"
[[ $(api "$ALICE" POST /v1/requests "$T/bad1.json") == 400 ]] && jq_eq serve_malformed_json "$T/r.json" .type urn:hilt:error:malformed ||
  fail serve_malformed_json "$(cat "$T/r.json")"
printf '{"csr": "x", "color": "blue"}' > "$T/bad2.json"
[[ $(api "$ALICE" POST /v1/requests "$T/bad2.json") == 400 ]] && grep -q "unknown field 'color'" "$T/r.json" &&
  pass serve_unknown_field || fail serve_unknown_field "$(cat "$T/r.json")"
code=$(curl -s -o "$T/r.json" -w '%{http_code}' --cacert "$T/roots.pem" -H "Authorization: Bearer $ALICE" \
  -H 'Content-Type: text/plain' --data-binary @"$T/www.json" "$SRV/v1/requests")
[[ $code == 415 ]] && pass serve_415 || fail serve_415 "$code"
head -c 70000 /dev/zero | tr '\0' 'a' > "$T/big.json"
code=$(curl -s -o "$T/r.json" -w '%{http_code}' --cacert "$T/roots.pem" -H "Authorization: Bearer $ALICE" \
  -H 'Content-Type: application/json' -H 'Expect:' --data-binary @"$T/big.json" "$SRV/v1/requests")
[[ $code == 413 ]] && jq_eq serve_413 "$T/r.json" .status 413 || fail serve_413 "$code"
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$T/roots.pem" -H "X-Big: $(head -c 20000 /dev/zero | tr '\0' b)" "$SRV/healthz")
[[ $code == 431 ]] && pass serve_431 || fail serve_431 "$code"
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$T/roots.pem" -H 'Transfer-Encoding: chunked' \
  -H "Authorization: Bearer $ALICE" -H 'Content-Type: application/json' --data-binary @"$T/www.json" "$SRV/v1/requests")
[[ $code == 411 ]] && pass serve_chunked_refused || fail serve_chunked_refused "$code"
body "$T/www.csr" prod 800d > "$T/bad3.json"
[[ $(api "$ALICE" POST /v1/requests "$T/bad3.json") == 400 ]] && pass serve_bad_lifetime || fail serve_bad_lifetime "$(cat "$T/r.json")"
after_audit=$(db 'SELECT COUNT(*) FROM audit')
after="$(db 'SELECT COUNT(*) FROM api_requests')/$(db 'SELECT COUNT(*) FROM certs')"
[[ "$after" == "${before%/*}" ]] && pass serve_bad_input_stores_nothing || fail serve_bad_input_stores_nothing "$before -> $after"
# only the CA's refusal of the 99999d lifetime is audited (as a rejection)
[[ $((after_audit - ${before##*/})) == 1 ]] && [[ $(db "SELECT result FROM audit ORDER BY seq DESC LIMIT 1") == rejected:* ]] &&
  pass serve_bad_input_audit || fail serve_bad_input_audit "audit ${before##*/} -> $after_audit"
[[ $(api "$ALICE" GET '/v1/requests?limit=9999') == 400 ]] && [[ $(api "$ALICE" GET '/v1/requests?color=1') == 400 ]] &&
  pass serve_bad_query || fail serve_bad_query "$(cat "$T/r.json")"
[[ $(api "$ALICE" DELETE /v1/requests) == 405 ]] && pass serve_405 || fail serve_405 "$(cat "$T/r.json")"
[[ $(curl -s -o "$T/r.json" -w '%{http_code}' -H "Authorization: Bearer $ALICE" "http://127.0.0.1:$HP/v1/whoami") == 403 ]] &&
  grep -q tlsRequired "$T/r.json" && pass serve_v1_tls_only || fail serve_v1_tls_only "$(cat "$T/r.json")"

# slowloris: a head that never ends is cut off by the header timeout (2s)
python3 - "$P" > "$T/slow.out" 2>&1 <<'EOF'
import socket, ssl, sys, time
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1]))), server_hostname="localhost")
t0 = time.time(); data = b""
try:
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
    s.settimeout(1)
    while time.time() - t0 < 10:
        try:
            s.sendall(b"X-Slow: 1\r\n")
        except OSError:
            break
        try:
            d = s.recv(4096)
            if not d: break
            data += d
        except socket.timeout:
            pass
except (OSError, ssl.SSLError):
    pass
print("closed_after=%.1f" % (time.time() - t0))
print("status=" + (data.split(b"\r\n")[0].decode() if data else "none"))
EOF
secs=$(sed -n 's/closed_after=//p' "$T/slow.out")
grep -q "status=HTTP/1.1 408" "$T/slow.out" && awk -v s="$secs" 'BEGIN{exit !(s < 6)}' &&
  pass serve_slowloris_cut || fail serve_slowloris_cut "$(cat "$T/slow.out")"

# too many connections: past max_connections (40) new ones are closed at once
python3 - "$P" > "$T/conns.out" 2>&1 <<'EOF'
import socket, sys, time
held = [socket.create_connection(("127.0.0.1", int(sys.argv[1]))) for _ in range(45)]
time.sleep(0.5)
closed = 0
for s in held:
    s.settimeout(0.01)
    try:
        if s.recv(1) == b"": closed += 1
    except socket.timeout:
        pass
    except OSError:
        closed += 1
print("closed=%d" % closed)
for s in held: s.close()
EOF
n=$(sed -n 's/closed=//p' "$T/conns.out")
[[ -n "$n" && $n -ge 3 && $n -le 10 ]] && pass serve_max_connections || fail serve_max_connections "$(cat "$T/conns.out")"
sleep 0.5
[[ $(api "$ALICE" GET /v1/whoami) == 200 ]] && pass serve_recovers_after_flood || fail serve_recovers_after_flood "$(cat "$T/r.json")"

# ---- audit: every step, chain intact; export for auditors only ----------------------------------
expect_exit 0 serve_audit_verify H audit verify
H audit log --json > "$T/audit.json"
for want in "token:ci request.submit issued" "token:alice request.approve refused" \
            "token:carol request.approve refused" "token:admin request.approve refused" \
            "token:bob request.approve approved" "token:bob request.issue issued" \
            "token:bob request.reject rejected" "cert:dana.people.internal request.approve approved" \
            "token:ci cert.revoke ok" "serve:node-a lease.acquire acquired"; do
  set -- $want
  jq -e --arg a "$1" --arg b "$2" --arg c "$3" \
    '.[] | select(.actor == $a and .action == $b and (.result | startswith($c)))' \
    "$T/audit.json" >/dev/null || { fail "serve_audit_has_$2_$1" "no $want"; missing=1; }
done
[[ -z "${missing:-}" ]] && pass serve_audit_steps
[[ $(api "$ALICE" GET /v1/audit) == 403 ]] && pass serve_audit_export_refused || fail serve_audit_export_refused "$(cat "$T/r.json")"
[[ $(api "$AUD" GET '/v1/audit?limit=5') == 200 ]] && jq_eq serve_audit_export "$T/r.json" '.items | length' 5 ||
  fail serve_audit_export "$(cat "$T/r.json")"
next=$(jq -r .next "$T/r.json")
[[ $(api "$AUD" GET "/v1/audit?after=$next&limit=5") == 200 ]] && jq_eq serve_audit_paging "$T/r.json" '.items[0].seq' $((next + 1))
[[ $(api "$AUD" GET '/v1/expiring?within=5d') == 200 ]] && jq_eq serve_expiring "$T/r.json" \
  '[.items[].names[]] | index("web.svc.internal") == null and index("dana.people.internal") != null' true ||
  fail serve_expiring "$(cat "$T/r.json")"
[[ $(api "$AUD" GET '/v1/certificates?owner=team-a') == 200 ]] && jq_eq serve_inventory "$T/r.json" '[.items[].owner] | unique | join(",")' team-a

# ---- Prometheus from Debian scrapes /metrics over HTTPS -------------------------------------------
if command -v prometheus >/dev/null; then
  PP=$(free_port)
  cat > "$T/prom.yml" <<EOF
global: {scrape_interval: 1s}
scrape_configs:
  - job_name: hilt-serve
    scheme: https
    tls_config: {ca_file: "$T/roots.pem", server_name: localhost}
    static_configs: [{targets: ["127.0.0.1:$P"]}]
EOF
  bg prometheus --config.file="$T/prom.yml" --storage.tsdb.path="$T/promdata" --web.listen-address="127.0.0.1:$PP" --log.level=warn
  got=""
  for _ in $(seq 1 60); do
    got=$(curl -s "http://127.0.0.1:$PP/api/v1/query?query=sum(hilt_approvals_total)" 2>/dev/null | jq -r '.data.result[0].value[1] // empty' 2>/dev/null)
    [[ -n "$got" ]] && break
    sleep 0.5
  done
  [[ -n "$got" && "$got" -ge 5 ]] && pass serve_prometheus_scrape || fail serve_prometheus_scrape "hilt_approvals_total='$got'"
  q() { curl -s "http://127.0.0.1:$PP/api/v1/query" --data-urlencode "query=$1" | jq -r '.data.result[0].value[1] // empty'; }
  [[ $(q up) == 1 ]] && pass serve_prometheus_up || fail serve_prometheus_up "up=$(q up)"
  [[ -n "$(q 'hilt_http_requests_total{route="/v1/requests",method="POST",status="202"}')" &&
     -n "$(q 'hilt_certificates_issued_total{path="preapproved"}')" &&
     -n "$(q 'hilt_serve_tls_handshakes_total')" && "$(q 'hilt_serve_lease_held')" == 1 ]] &&
    pass serve_prometheus_series || fail serve_prometheus_series "missing series"
else
  skip serve_prometheus_scrape "prometheus not installed (scripts/install-deps.sh)"
fi
curl -s "http://127.0.0.1:$HP/metrics" > "$T/metrics.txt"
grep -q '^hilt_serve_connections_refused_total{reason="max_connections"} [1-9]' "$T/metrics.txt" &&
  grep -q '^hilt_serve_timeouts_total{phase="header"} [1-9]' "$T/metrics.txt" &&
  grep -q '^hilt_api_auth_failures_total{kind="token"} [1-9]' "$T/metrics.txt" &&
  pass serve_metrics_limits || fail serve_metrics_limits "$(grep -E 'refused|timeouts|auth_fail' "$T/metrics.txt")"

# ---- SIGHUP: a new scope applies; a bad file is refused and the old one keeps serving ----------------
mkconf "*.batch.internal" > "$T/serve.yaml"
kill -HUP "$SPID"; sleep 1
csr job.batch.internal "$T/job"
body "$T/job.csr" "" 12h > "$T/job.json"
H grant add token:ci --role requester --scope 'names=.batch.internal' >/dev/null
[[ $(api "$CI" POST /v1/requests "$T/job.json") == 201 ]] && pass serve_sighup_reload || fail serve_sighup_reload "$(cat "$T/r.json") $(tail -3 "$T/serve.err")"
cp "$T/serve.yaml" "$T/good.yaml"
printf 'limits: {max_connections: lots}\n' >> "$T/serve.yaml"
kill -HUP "$SPID"; sleep 1
grep -q "configuration refused, the running one stays" "$T/serve.err" && [[ $(api "$CI" POST /v1/requests "$T/job.json") == 201 ]] &&
  pass serve_sighup_bad_config_kept || fail serve_sighup_bad_config_kept "$(tail -3 "$T/serve.err")"
cp "$T/good.yaml" "$T/serve.yaml"

# ---- graceful stop --------------------------------------------------------------------------------
kill -TERM "$SPID"
for _ in $(seq 1 100); do kill -0 "$SPID" 2>/dev/null || break; sleep 0.1; done
wait "$SPID"; rc=$?
[[ $rc == 0 ]] && pass serve_sigterm_clean || fail serve_sigterm_clean "exit $rc: $(tail -5 "$T/serve.err")"
[[ $(db "SELECT expires_at FROM api_leases WHERE name='renewal'") == 0 ]] && pass serve_lease_released ||
  fail serve_lease_released "$(db 'SELECT * FROM api_leases')"
grep -q "ERROR: LeakSanitizer\|ERROR: AddressSanitizer" "$T/serve.err" && fail serve_sanitizers "$(grep -A5 ERROR "$T/serve.err" | head)" || pass serve_sanitizers

# ---- the server certificate renewed and swapped under a keep-alive connection ------------------------
P2=$(free_port)
cat > "$T/renew.yaml" <<EOF
node: node-r
listeners: [{listen: "127.0.0.1:$P2", profile: modern}]
certificate: {lifetime: 10m, renew_before: 9m54s}
renewal: {enabled: false}
EOF
"$HILT" serve -c "$T/renew.yaml" >"$T/r.out" 2>"$T/r.err" &
RPID=$!
_bg_pids+=("$RPID")
wait_port "$P2" 30 || fail serve_renew_start "$(tail -3 "$T/r.err")"
# TLS settings come from the policy profile: modern is TLS 1.3 only
openssl s_client -connect "127.0.0.1:$P2" -tls1_2 -CAfile "$T/roots.pem" </dev/null >"$T/t12" 2>&1
openssl s_client -connect "127.0.0.1:$P2" -tls1_3 -CAfile "$T/roots.pem" </dev/null >"$T/t13" 2>&1
grep -q "Cipher is (NONE)" "$T/t12" && grep -q "New, TLSv1.3" "$T/t13" && pass serve_tls_profile ||
  fail serve_tls_profile "$(grep -i -m2 'protocol\|alert' "$T/t12")"

python3 - "$P2" "$T/roots.pem" > "$T/swap.out" 2>&1 <<'EOF'
import socket, ssl, sys, time, subprocess
port, roots = int(sys.argv[1]), sys.argv[2]
def serial():
    ctx = ssl.create_default_context(cafile=roots)
    with ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost") as s:
        return s.getpeercert()["serialNumber"]
ctx = ssl.create_default_context(cafile=roots)
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")
first = s.getpeercert()["serialNumber"]
def get():
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
    d = b""
    while b"\r\n\r\n" not in d: d += s.recv(4096)
    head, rest = d.split(b"\r\n\r\n", 1)
    n = int([l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0])
    while len(rest) < n: rest += s.recv(4096)
    return head.split(b"\r\n")[0].decode()
print("before=" + get())
new = first
for _ in range(30):
    time.sleep(1)
    get()  # keep the connection busy (idle timeout)
    new = serial()
    if new != first: break
print("first=%s new=%s" % (first, new))
print("after=" + get())
EOF
grep -q "before=HTTP/1.1 200" "$T/swap.out" && grep -q "after=HTTP/1.1 200" "$T/swap.out" &&
  ! grep -qE "first=(\S+) new=\1$" "$T/swap.out" && grep -q "new=" "$T/swap.out" &&
  pass serve_cert_renewed_hot_swap || fail serve_cert_renewed_hot_swap "$(cat "$T/swap.out"; tail -3 "$T/r.err")"
kill -TERM "$RPID"; wait "$RPID"
