#!/usr/bin/env bash
# acme_badinput.sh - `hilt serve`'s ACME server refusing bad requests over real HTTPS,
# each with its RFC 8555 problem document checked field by field (type, status,
# detail, Content-Type application/problem+json, a fresh Replay-Nonce): a replayed
# nonce and one never issued (badNonce), the url of another resource (unauthorized),
# an unknown kid (accountDoesNotExist), a signature by another key (malformed), HS256
# (badSignatureAlgorithm with the accepted algorithms), a jwk where a kid belongs,
# malformed JSON, the wrong Content-Type (415), bodies over the ACME and the server
# limits (413), GET on a POST resource (405), finalize before ready (orderNotReady)
# - and nothing stored for any of them. Challenge servers that answer wrongly
# (incorrectResponse, the authorization and order invalid) or hang (given up after
# the bounded timeout). Orders outside the pre-approved scope wait in "processing"
# (Retry-After) until an approver decides through /v1: approved -> the client gets
# its certificate; rejected -> the order is invalid.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../lib_acme.sh"
export HILT_HOME="$T/home"
H() { "$HILT" "$@"; }
P=$(free_port); WRONG=$(free_port); HANG=$(free_port)
H ca init >/dev/null || { fail acme_bad_ca "ca init failed"; exit 0; }
H ca roots --out "$T/roots.pem"
acme_client_build || { fail acme_bad_client "$(cat "$T/acme_load.cc.err")"; exit 0; }
# a challenge server that answers every request with the wrong body, and one that hangs
python3 - "$WRONG" "$HANG" >"$T/peers.log" 2>&1 <<'EOF' &
import socket, sys, threading, time
from http.server import BaseHTTPRequestHandler, HTTPServer
class Wrong(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"this-is-not-the-key-authorization"
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
def hang(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port)); s.listen(16); held = []
    while True:
        c, _ = s.accept(); held.append(c)  # never answers
threading.Thread(target=hang, args=(int(sys.argv[2]),), daemon=True).start()
HTTPServer(("127.0.0.1", int(sys.argv[1])), Wrong).serve_forever()
EOF
_bg_pids+=($!)
wait_port "$WRONG" 10 && wait_port "$HANG" 10 || { fail acme_bad_peers "$(cat "$T/peers.log")"; exit 0; }
HILT_ACME_VALIDATION_TIMEOUT_MS=1500 bg "$HILT" serve --listen "127.0.0.1:$P" \
  --preapprove '*.example.test,30d' --http01-port "$WRONG" --tls-alpn01-port "$HANG" \
  --resolve '*.example.test=127.0.0.1' --resolve '*.other.test=127.0.0.1' 2>"$T/serve.log"
wait_port "$P" 30 || { fail acme_bad_serve "hilt serve did not start: $(tail -3 "$T/serve.log")"; exit 0; }
DIR="https://127.0.0.1:$P/acme/directory"
AC() { "$ACME_CLIENT" --dir "$DIR" --ca "$T/roots.pem" --key "$T/acct.key" "$@"; }
db() { sqlite3 "$HILT_HOME/hilt.db" "$1"; }
rows() { db "SELECT (SELECT COUNT(*) FROM acme_accounts) || '/' || (SELECT COUNT(*) FROM acme_orders) || '/' || (SELECT COUNT(*) FROM acme_authzs) || '/' || (SELECT COUNT(*) FROM acme_challenges) || '/' || (SELECT COUNT(*) FROM certs)"; }

AC account >"$T/acct.url" 2>"$T/acct.err" || { fail acme_bad_account "$(cat "$T/acct.err")"; exit 0; }
before=$(rows)

problem() { # NAME CASE STATUS TYPE
  AC probe "$2" >"$T/$1.json" 2>"$T/$1.err"
  jq_eq "$1" "$T/$1.json" '[.http_status, .type, .status, (.detail | length > 0), .content_type, .has_replay_nonce] | map(tostring) | join(" ")' \
    "$3 urn:ietf:params:acme:error:$4 $3 true application/problem+json true"
}
problem acme_bad_replayed_nonce replay-nonce 400 badNonce
problem acme_bad_unknown_nonce bad-nonce 400 badNonce
problem acme_bad_url_mismatch url-mismatch 403 unauthorized
problem acme_bad_unknown_kid unknown-kid 400 accountDoesNotExist
problem acme_bad_wrong_signature wrong-signature 400 malformed
problem acme_bad_alg bad-alg 400 badSignatureAlgorithm
jq_eq acme_bad_alg_lists_algorithms "$T/acme_bad_alg.json" '.algorithms | join(",")' "ES256,ES384,RS256,EdDSA"
problem acme_bad_jwk_not_allowed jwk-not-allowed 400 malformed
problem acme_bad_json bad-json 400 malformed
problem acme_bad_content_type content-type 415 malformed
# bodies over the limits: the ACME limit (64 KiB, a problem document) and the server's (1 MiB)
head -c 70000 /dev/zero | tr '\0' a >"$T/big"
code=$(curl -s --cacert "$T/roots.pem" -o "$T/big.json" -w '%{http_code}' -H 'Content-Type: application/jose+json' \
  --data-binary @"$T/big" "https://127.0.0.1:$P/acme/new-order")
[[ $code == 413 ]] && jq -e '.type == "urn:ietf:params:acme:error:malformed" and .status == 413' "$T/big.json" >/dev/null &&
  pass acme_bad_body_over_jws_limit || fail acme_bad_body_over_jws_limit "$code $(head -c 300 "$T/big.json")"
head -c 1100000 /dev/zero | tr '\0' a >"$T/huge"
code=$(curl -s --cacert "$T/roots.pem" -o /dev/null -w '%{http_code}' -H 'Content-Type: application/jose+json' \
  --data-binary @"$T/huge" "https://127.0.0.1:$P/acme/new-order")
[[ $code == 413 ]] && pass acme_bad_body_over_server_limit || fail acme_bad_body_over_server_limit "$code"
code=$(curl -s --cacert "$T/roots.pem" -o "$T/get.json" -w '%{http_code}' "https://127.0.0.1:$P/acme/new-order")
[[ $code == 405 ]] && jq -e '.type == "urn:ietf:params:acme:error:malformed"' "$T/get.json" >/dev/null &&
  pass acme_bad_get_on_post || fail acme_bad_get_on_post "$code"
code=$(curl -s --cacert "$T/roots.pem" -o /dev/null -w '%{http_code}' "https://127.0.0.1:$P/acme/nothing-here")
[[ $code == 404 ]] && pass acme_bad_unknown_resource || fail acme_bad_unknown_resource "$code"
after=$(rows)
[[ "$before" == "$after" ]] && pass acme_bad_nothing_stored || fail acme_bad_nothing_stored "rows $before -> $after"
H audit verify >/dev/null && pass acme_bad_audit_intact || fail acme_bad_audit_intact "$(H audit verify 2>&1)"

# finalize before the order is ready
problem acme_bad_not_ready not-ready 403 orderNotReady
[[ $(db "SELECT COUNT(*) FROM certs") == "$(cut -d/ -f5 <<<"$before")" ]] && pass acme_bad_not_ready_no_cert ||
  fail acme_bad_not_ready_no_cert "a certificate was issued"

# ---- challenge servers that answer wrongly or not at all --------------------------------------
AC order --no-responder --http-port 1 wrong.example.test >"$T/w.out" 2>&1 &&
  fail acme_bad_incorrect_response "the order succeeded" || {
  grep -q '^authorization invalid' "$T/w.out" && grep -q 'incorrectResponse' "$T/w.out" &&
    grep -q 'this-is-not-the-key-authorization' "$T/w.out" &&
    pass acme_bad_incorrect_response || fail acme_bad_incorrect_response "$(cat "$T/w.out")"; }
# the challenge POST waited for its validation and said so at once (no poll needed)
grep -q '^challenge answered: invalid' "$T/w.out" && pass acme_bad_incorrect_answered_inline ||
  fail acme_bad_incorrect_answered_inline "$(grep -m1 'challenge answered' "$T/w.out")"
[[ $(db "SELECT o.status FROM acme_orders o JOIN acme_authzs a ON a.order_id = o.id WHERE a.id_value = 'wrong.example.test'") == invalid ]] &&
  pass acme_bad_incorrect_order_invalid || fail acme_bad_incorrect_order_invalid "$(db "SELECT status FROM acme_orders")"
start=$(date +%s%N)
AC order --challenge tls-alpn-01 hang.example.test >"$T/h.out" 2>&1 &&
  fail acme_bad_hang "the order succeeded" || {
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  grep -q 'urn:ietf:params:acme:error:connection' "$T/h.out" && grep -q 'no answer within 1500 ms' "$T/h.out" &&
    (( ms < 8000 )) && pass acme_bad_hang_bounded || fail acme_bad_hang_bounded "${ms} ms: $(cat "$T/h.out")"; }
# a client that leaves while its challenge POST waits for the validation: the
# answer is dropped, the server goes on (this binary is sanitized: no use after free)
timeout -s KILL 0.7 "$ACME_CLIENT" --dir "$DIR" --ca "$T/roots.pem" --key "$T/acct.key" order \
  --challenge tls-alpn-01 gone.example.test >"$T/g.out" 2>&1
sleep 1.5
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$T/roots.pem" "$DIR")
[[ $code == 200 ]] && ! grep -q 'AddressSanitizer\|runtime error' "$T/serve.log" &&
  pass acme_bad_client_left_while_waiting ||
  fail acme_bad_client_left_while_waiting "directory $code; $(grep -m3 'ERROR\|runtime' "$T/serve.log")"
grep -q '^challenge answered: invalid' "$T/h.out" && pass acme_bad_hang_answered_at_timeout ||
  fail acme_bad_hang_answered_at_timeout "$(grep -m1 'challenge answered' "$T/h.out")"

# ---- outside the pre-approved scope: an approver decides through /v1 ---------------------------
export HILT_CA_FILE="$T/roots.pem" HILT_SERVER="https://127.0.0.1:$P"
BOB=$(H token create --name bob --role approver 2>/dev/null)
# the client answers http-01 on the port the server validates: a second server for this part
P2=$(free_port); CH=$(free_port)
bg "$HILT" serve --listen "127.0.0.1:$P2" --http01-port "$CH" --resolve '*.other.test=127.0.0.1' \
  --node approvals 2>"$T/serve2.log"
wait_port "$P2" 30 || { fail acme_bad_serve2 "$(tail -3 "$T/serve2.log")"; exit 0; }
export HILT_SERVER="https://127.0.0.1:$P2"
D2="https://127.0.0.1:$P2/acme/directory"
"$ACME_CLIENT" --dir "$D2" --ca "$T/roots.pem" --key "$T/acct.key" order --http-port "$CH" \
  --wait-approval 60 --out "$T/m" manual.other.test >"$T/m.out" 2>&1 &
CPID=$!
RID=""
for _ in $(seq 1 100); do
  RID=$(H acme orders --json | jq -r '[.[] | select(.status == "processing" and .request_id != null)] | .[0].request_id // empty')
  [[ -n "$RID" ]] && break
  sleep 0.1
done
[[ -n "$RID" ]] && pass acme_bad_pending_approval || fail acme_bad_pending_approval "no processing order with a request"
H approve "$RID" --token "$BOB" --reason "ACME order checked" >/dev/null 2>&1 &&
  pass acme_bad_approved_via_v1 || fail acme_bad_approved_via_v1 "$(H approve "$RID" --token "$BOB" 2>&1)"
wait "$CPID" && openssl verify -CAfile "$T/roots.pem" -untrusted "$T/m.crt" "$T/m.crt" >/dev/null 2>&1 &&
  pass acme_bad_approved_certificate || fail acme_bad_approved_certificate "$(cat "$T/m.out")"
H audit log --json >"$T/audit.json"
jq_eq acme_bad_approval_audited "$T/audit.json" \
  '[.[] | select(.object | contains("'"$RID"'")) | .action] | unique | join(",")' \
  "request.approve,request.issue,request.submit"
"$ACME_CLIENT" --dir "$D2" --ca "$T/roots.pem" --key "$T/acct.key" order --http-port "$CH" \
  --wait-approval 60 --out "$T/r" refused.other.test >"$T/r.out" 2>&1 &
CPID=$!
RID=""
for _ in $(seq 1 100); do
  RID=$(H acme orders --json | jq -r '[.[] | select(.status == "processing" and .request_id != null)] | .[0].request_id // empty')
  [[ -n "$RID" ]] && break
  sleep 0.1
done
H reject "$RID" --token "$BOB" --reason "not ours" >/dev/null 2>&1
wait "$CPID" && fail acme_bad_rejected "the client got a certificate" || {
  grep -q '"status": *"invalid"' "$T/r.out" && grep -q 'rejected by an approver' "$T/r.out" &&
    pass acme_bad_rejected || fail acme_bad_rejected "$(cat "$T/r.out")"; }
