#!/usr/bin/env bash
# ocsp.sh - `hilt ocsp serve` judged by real peers: `openssl ocsp -issuer …
# -url http://127.0.0.1:…` gets good, revoked (with its reason) and unknown
# answers that verify, over POST and GET; a revocation made while it runs is
# served within a poll; the CA key lives only in a re-exec'd signer child,
# and with that child killed pre-signed answers keep flowing and nothing
# hangs; `hilt probe` reports cert_revoked for a revoked certificate served
# by a real nginx (through the certificate's AIA OCSP URL) and a healthy
# endpoint for a good one.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../lib_servers.sh"
export HILT_HOME="$T/home"
H() { "$HILT" "$@"; }
OPORT=$(free_port)
URL="http://127.0.0.1:$OPORT/ocsp"

H ca init --ocsp-url "$URL" --allow-domain localhost --allow-domain 127.0.0.1 >/dev/null
H ca roots --out "$T/root.pem"
for n in good bad later; do
  H ca issue --name localhost --name 127.0.0.1 --lifetime 10d --out "$T/$n" >/dev/null
done
sed -n '/BEGIN/,/END/p' "$T/good.chain.pem" | awk 'BEGIN{n=0} /BEGIN/{n++} n==2' > "$T/inter.pem"
serial() { openssl x509 -in "$1" -noout -serial | cut -d= -f2; }
H ca revoke "$(serial "$T/bad.crt")" --reason keyCompromise >/dev/null

bg "$HILT" ocsp serve --listen "127.0.0.1:$OPORT" --poll 1s
serve_pid=${_bg_pids[-1]}
wait_port "$OPORT" 20 && pass ocsp-serve-listens || { fail ocsp-serve-listens "no listener"; exit 0; }

ocsp() { # CERT-or-serial-args... -> stdout of openssl ocsp
  openssl ocsp -issuer "$T/inter.pem" "$@" -url "$URL" -CAfile "$T/root.pem" 2>&1
}
out=$(ocsp -cert "$T/good.crt")
grep -q "good.crt: good" <<<"$out" && grep -q "Response verify OK" <<<"$out" && pass ocsp-good || fail ocsp-good "$out"
out=$(ocsp -cert "$T/bad.crt")
grep -q "bad.crt: revoked" <<<"$out" && grep -q "Reason: keyCompromise" <<<"$out" && grep -q "Response verify OK" <<<"$out" &&
  pass ocsp-revoked || fail ocsp-revoked "$out"
out=$(ocsp -serial 0x4800000000000000ff00000000000000aa)
grep -q ": unknown" <<<"$out" && grep -q "Response verify OK" <<<"$out" && pass ocsp-unknown || fail ocsp-unknown "$out"
out=$(ocsp -cert "$T/good.crt" -cert "$T/bad.crt")
grep -q "good.crt: good" <<<"$out" && grep -q "bad.crt: revoked" <<<"$out" && pass ocsp-two-certids || fail ocsp-two-certids "$out"
# GET (RFC 6960 A.1), with the RFC 5019 caching headers
openssl ocsp -issuer "$T/inter.pem" -cert "$T/good.crt" -no_nonce -reqout "$T/req.der" >/dev/null 2>&1
enc=$(base64 -w0 "$T/req.der" | sed 's/+/%2B/g; s|/|%2F|g; s/=/%3D/g')
curl -s -D "$T/hdr" -o "$T/resp.der" "$URL/$enc"
out=$(openssl ocsp -respin "$T/resp.der" -issuer "$T/inter.pem" -cert "$T/good.crt" -CAfile "$T/root.pem" 2>&1)
grep -q "good.crt: good" <<<"$out" && pass ocsp-get || fail ocsp-get "$out"
grep -qi "^Cache-Control: max-age=[0-9]*, public" "$T/hdr" && grep -qi "^Expires:" "$T/hdr" &&
  grep -qi "^Content-Type: application/ocsp-response" "$T/hdr" && pass ocsp-get-caching || fail ocsp-get-caching "$(cat "$T/hdr")"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary 'junk' "$URL")
[[ $code == 200 ]] && pass ocsp-junk-answered || fail ocsp-junk-answered "HTTP $code"
curl -s -X POST --data-binary 'junk' "$URL" -o "$T/junk.der"
openssl ocsp -respin "$T/junk.der" -resp_text -noverify 2>&1 | grep -q "malformedrequest" && pass ocsp-junk-malformed ||
  fail ocsp-junk-malformed "$(openssl ocsp -respin "$T/junk.der" -resp_text -noverify 2>&1 | head -3)"

# a revocation while serving: picked up by the next poll
H ca revoke "$(serial "$T/later.crt")" --reason superseded >/dev/null
ok=0
for _ in $(seq 1 40); do
  ocsp -cert "$T/later.crt" | grep -q "later.crt: revoked" && { ok=1; break; }
  sleep 0.1
done
(( ok )) && pass ocsp-revocation-picked-up || fail ocsp-revocation-picked-up "$(ocsp -cert "$T/later.crt")"

# the key holder is a separate process; this one never opened the key
signer=$(pgrep -P "$serve_pid" | head -1)
if [[ -n "$signer" ]]; then
  pass ocsp-signer-child
  grep -q "signer-child" "/proc/$signer/cmdline" && pass ocsp-signer-reexec || fail ocsp-signer-reexec "$(tr '\0' ' ' < "/proc/$signer/cmdline")"
  ls -l "/proc/$serve_pid/fd" 2>/dev/null | grep -q intermediate.key && fail ocsp-server-no-key "key file open in the server" || pass ocsp-server-no-key
  kill -KILL "$signer"
  sleep 0.2
  start=$(date +%s%N)
  out=$(ocsp -cert "$T/good.crt" -no_nonce)
  grep -q "good.crt: good" <<<"$out" && pass ocsp-presigned-without-signer || fail ocsp-presigned-without-signer "$out"
  out=$(timeout 10 openssl ocsp -issuer "$T/inter.pem" -serial 0x48000000000000000100000000000001 -url "$URL" -noverify 2>&1)
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  grep -qiE "internalerror|trylater" <<<"$out" && (( ms < 5000 )) && pass ocsp-signer-dead-no-hang ||
    fail ocsp-signer-dead-no-hang "${ms} ms: $out"
  # the server starts a new signer process by itself, and signs again
  ok=0
  for _ in $(seq 1 40); do
    out=$(ocsp -serial 0x48000000000000000100000000000002)
    grep -q ": unknown" <<<"$out" && { ok=1; break; }
    sleep 0.25
  done
  (( ok )) && pass ocsp-signer-restarted || fail ocsp-signer-restarted "$out"
else
  fail ocsp-signer-child "no child process of the server"
fi

# hilt probe against a real nginx: revoked -> cert_revoked; good -> healthy
if ! command -v nginx >/dev/null; then
  skip ocsp-probe-nginx "nginx is not installed (scripts/install-deps.sh)"
  exit 0
fi
kill "$serve_pid" 2>/dev/null; wait "$serve_pid" 2>/dev/null
bg "$HILT" ocsp serve --listen "127.0.0.1:$OPORT" --poll 1s   # a fresh one, with its signer
wait_port "$OPORT" 20 || fail ocsp-restart "no listener"
: > "$T/snippet"
for n in good bad; do
  mkdir -p "$T/cert-$n"
  cat "$T/$n.chain.pem" > "$T/cert-$n/cert.pem"
  cp "$T/$n.key" "$T/cert-$n/key.pem"
done
GP=$(free_port); start_nginx "$T/snippet" "$T/cert-good" "$GP" || fail ocsp-nginx-good "nginx did not start"
BP=$(free_port); start_nginx "$T/snippet" "$T/cert-bad" "$BP" || fail ocsp-nginx-bad "nginx did not start"
expect_exit 1 probe-revoked "$HILT" probe --json --ca-file "$T/root.pem" --sni localhost --no-http "127.0.0.1:$BP"
jq_eq probe-cert-revoked "$T/last.out" '.diagnosis.code' cert_revoked
expect_exit 0 probe-good "$HILT" probe --json --ca-file "$T/root.pem" --sni localhost --no-http "127.0.0.1:$GP"
jq_eq probe-good-ok "$T/last.out" .ok true
exit 0
