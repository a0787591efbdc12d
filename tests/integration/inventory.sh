#!/usr/bin/env bash
# inventory.sh - discovery and expiry notifications through the real binary:
# `inventory import` of PEM bundles, DER, PKCS#12 (empty and given
# password), directories recursively and `hilt scan --json` results; the
# coverage figure; `inventory set`; `expiring` notifications to a command and
# to a webhook on loopback, once per certificate and threshold, remembered
# in the store, retried after a failed delivery; bad input.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../lib_pki.sh"
export HILT_HOME="$T/home"
H() { "$HILT" "$@"; }

H ca init --allow-domain example.test >/dev/null
H ca issue --name own.example.test --lifetime 20d --out "$T/own" >/dev/null
own_sha=$(openssl x509 -in "$T/own.crt" -outform DER | sha256sum | cut -d' ' -f1)

# ---- files from another CA ---------------------------------------------------------
pki_ca other
pki_leaf a other "DNS:a.other.test" 5
pki_leaf b other "DNS:b.other.test" 40
pki_leaf c other "DNS:c.other.test" 90
mkdir -p "$T/etc/ssl/sub/deeper" "$T/etc/p12"
cat "$P/a.pem" "$P/b.pem" > "$T/etc/ssl/bundle.pem"                 # a PEM bundle
openssl x509 -in "$P/c.pem" -outform DER -out "$T/etc/ssl/sub/c.der" # DER
cp "$P/a.key" "$T/etc/ssl/sub/deeper/a.key"                          # not a certificate
echo "server { }" > "$T/etc/ssl/nginx.conf"
openssl pkcs12 -export -in "$P/b.pem" -inkey "$P/b.key" -passout pass: -out "$T/etc/p12/b-empty.p12" 2>/dev/null
openssl pkcs12 -export -in "$P/c.pem" -inkey "$P/c.key" -certfile "$P/other.pem" -passout pass:s3cret -out "$T/etc/p12/c.p12" 2>/dev/null
ln -s /etc/passwd "$T/etc/ssl/link.pem"                               # links are not followed

expect_exit 0 import-dir H inventory import "$T/etc/ssl" --owner web-team --json
jq_eq import-dir-files "$T/last.out" .files 2
jq_eq import-dir-added "$T/last.out" .added 3
expect_exit 0 import-again H inventory import "$T/etc/ssl" --json
jq_eq import-again-known "$T/last.out" .known 3
jq_eq import-again-added "$T/last.out" .added 0
expect_exit 0 import-p12-empty H inventory import "$T/etc/p12/b-empty.p12" --json
jq_eq import-p12-empty-known "$T/last.out" .known 1
expect_exit 2 import-p12-wrong-pw H inventory import "$T/etc/p12/c.p12"
grep -q "give --password" "$T/last.err" && pass import-p12-wrong-pw-msg || fail import-p12-wrong-pw-msg "$(cat "$T/last.err")"
expect_exit 0 import-p12-pw H inventory import "$T/etc/p12/c.p12" --password s3cret --json
jq_eq import-p12-pw-certs "$T/last.out" .certificates 2   # the leaf and the CA in it
jq_eq import-p12-pw-added "$T/last.out" .added 1
expect_exit 2 import-not-a-cert H inventory import "$T/etc/ssl/nginx.conf"
grep -q "holds no certificate" "$T/last.err" && pass import-not-a-cert-msg || fail import-not-a-cert-msg "$(cat "$T/last.err")"
expect_exit 2 import-missing H inventory import "$T/nope.pem"
expect_exit 2 import-no-args H inventory import
a_sha=$(openssl x509 -in "$P/a.pem" -outform DER | sha256sum | cut -d' ' -f1)
H inventory show "$a_sha" --json > "$T/a.json"
jq_eq imported-source "$T/a.json" .source imported
jq_eq imported-owner "$T/a.json" .owner web-team
jq_eq imported-issuer "$T/a.json" '.issuer | test("CN=other")' true
jq_eq imported-location "$T/a.json" '.locations[0].location' "$T/etc/ssl/bundle.pem"
jq_eq imported-history "$T/a.json" '.history[0].event' imported
jq_eq imported-has-pem "$T/a.json" '.pem | startswith("-----BEGIN CERTIFICATE")' true
# listings are written directly, `show` builds its object: the same fields, the same values
# (a subject with UTF-8, quotes and a backslash exercises the escaping)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/u.key" -utf8 \
  -subj $'/CN=caf\xc3\xa9 "quoted" back\\slash' -days 3 -out "$T/u.pem" 2>/dev/null
H inventory import "$T/u.pem" >/dev/null
for f in "$P/a.pem" "$T/u.pem"; do
  s=$(openssl x509 -in "$f" -outform DER | sha256sum | cut -d' ' -f1)
  l=$(H inventory list --json | jq -S --arg s "$s" '.[] | select(.sha256 == $s)')
  w=$(H inventory show "$s" --json | jq -S 'del(.certificate, .pem, .locations, .history, .renewal)')
  [[ -n "$l" && "$l" == "$w" ]] && pass "list-json-equals-show-$(basename "$f")" || fail "list-json-equals-show-$(basename "$f")" "$l vs $w"
done

# the DER fast path of import records what OpenSSL's parser sees: the same certificates
# imported from PEM (fast path) and from PKCS#12 (X509 objects) agree field for field
mkdir -p "$T/fp"
printf 'subjectAltName=DNS:fp.test,IP:10.1.2.3,IP:2001:db8::7\n' > "$T/fp/san.ext"
: > "$T/fp/noext.ext"
i=0
for kt in "ec -pkeyopt ec_paramgen_curve:P-256" "ec -pkeyopt ec_paramgen_curve:P-384" "ec -pkeyopt ec_paramgen_curve:P-521" \
          "rsa -pkeyopt rsa_keygen_bits:2048" "rsa -pkeyopt rsa_keygen_bits:3072" "ed25519"; do
  for ser in 1 0x0abc 0xff00112233 0x7fffffffffffffffffffffffffffffff; do
    i=$((i + 1))
    [[ $ser == 1 ]] && ser=$i || ser="$ser$(printf '%02x' $i)" # one issuer: distinct serials
    openssl genpkey -algorithm $kt -out "$T/fp/$i.key" 2>/dev/null
    openssl req -new -key "$T/fp/$i.key" -subj "/O=fast path/CN=fp$i.test" -out "$T/fp/$i.csr" 2>/dev/null
    ext="$T/fp/san.ext"; (( i % 3 == 0 )) && ext="$T/fp/noext.ext"
    openssl x509 -req -in "$T/fp/$i.csr" -CA "$P/other.pem" -CAkey "$P/other.key" -set_serial "$ser" -days $((i + 1)) \
      -extfile "$ext" -out "$T/fp/$i.pem" 2>/dev/null
    cat "$T/fp/$i.pem" >> "$T/fp/all.pem"
    openssl pkcs12 -export -nokeys -in "$T/fp/$i.pem" -passout pass: -out "$T/fp/p12/$i.p12" 2>/dev/null ||
      { mkdir -p "$T/fp/p12"; openssl pkcs12 -export -nokeys -in "$T/fp/$i.pem" -passout pass: -out "$T/fp/p12/$i.p12" 2>/dev/null; }
  done
done
HILT_HOME="$T/fpa" "$HILT" inventory import "$T/fp/all.pem" >/dev/null
HILT_HOME="$T/fpb" "$HILT" inventory import "$T/fp/p12" >/dev/null
fields='map({sha256, serial, subject, issuer, names, not_before, not_after, key}) | sort_by(.sha256)'
fa=$(HILT_HOME="$T/fpa" "$HILT" inventory list --json | jq -c "$fields")
fb=$(HILT_HOME="$T/fpb" "$HILT" inventory list --json | jq -c "$fields")
[[ $(jq length <<<"$fa") == "$i" && "$fa" == "$fb" ]] && pass "import-fast-path-agrees ($i certificates)" ||
  fail import-fast-path-agrees "$(jq length <<<"$fa") and $(jq length <<<"$fb") of $i: $(diff <(jq . <<<"$fa") <(jq . <<<"$fb") | head -20)"

# a CA that reused a serial: the second certificate is noted and skipped, the import goes on
openssl x509 -req -in "$T/fp/1.csr" -CA "$P/other.pem" -CAkey "$P/other.key" -set_serial 1 -days 30 \
  -extfile "$T/fp/noext.ext" -out "$T/fp/clash.pem" 2>/dev/null
cat "$T/fp/clash.pem" "$P/c.pem" > "$T/fp/clash-bundle.pem"
expect_exit 0 import-serial-clash env HILT_HOME="$T/fpa" "$HILT" inventory import "$T/fp/clash-bundle.pem" --json
jq_eq import-serial-clash-noted "$T/last.out" '.errors[0] | contains("already in the inventory as another certificate")' true
jq_eq import-serial-clash-goes-on "$T/last.out" .added 1

# the same serial from another issuer is another certificate
pki_ca other2
printf 'basicConstraints=critical,CA:FALSE\nsubjectAltName=DNS:dup.test\n' > "$T/dup.ext"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/d1.key" -subj /CN=d1 -out "$T/d1.csr" 2>/dev/null
openssl x509 -req -in "$T/d1.csr" -CA "$P/other.pem" -CAkey "$P/other.key" -set_serial 1 -days 9 -extfile "$T/dup.ext" -out "$T/d1.pem" 2>/dev/null
openssl x509 -req -in "$T/d1.csr" -CA "$P/other2.pem" -CAkey "$P/other2.key" -set_serial 1 -days 9 -extfile "$T/dup.ext" -out "$T/d2.pem" 2>/dev/null
expect_exit 0 import-same-serial-two-issuers H inventory import "$T/d1.pem" "$T/d2.pem" --json
jq_eq same-serial-both-added "$T/last.out" .added 2

# ---- scan results and coverage -------------------------------------------------------------
summary() { # PEM-FILE [with-pem]
  local f=$1
  jq -n --arg sha "$(openssl x509 -in "$f" -outform DER | sha256sum | cut -d' ' -f1)" \
    --arg subj "$(openssl x509 -in "$f" -noout -subject -nameopt RFC2253 | sed 's/^subject=//')" \
    --arg iss "$(openssl x509 -in "$f" -noout -issuer -nameopt RFC2253 | sed 's/^issuer=//')" \
    --arg ser "$(openssl x509 -in "$f" -noout -serial | cut -d= -f2)" \
    --arg na "$(date -u -d "$(openssl x509 -in "$f" -noout -enddate | cut -d= -f2)" +%Y-%m-%dT%H:%M:%SZ)" \
    --arg nb "$(date -u -d "$(openssl x509 -in "$f" -noout -startdate | cut -d= -f2)" +%Y-%m-%dT%H:%M:%SZ)" \
    --arg pem "${2:+$(cat "$f")}" \
    '{subject: $subj, issuer: $iss, serial: $ser, not_before: $nb, not_after: $na, sans: ["DNS:x"], key: "ec-p256", sha256: $sha, is_ca: false} + (if $pem != "" then {pem: $pem} else {} end)'
}
pki_leaf shadow other "DNS:shadow.other.test" 30
{
  jq -nc --argjson c "$(summary "$T/own.crt")" '{target: "127.0.0.1:8443", chain: [$c]}'
  jq -nc --argjson c "$(summary "$P/a.pem")" '{target: "10.0.0.1:443", certificates: {leaf: $c}}'
  jq -nc --argjson c "$(summary "$P/shadow.pem")" '{target: "10.0.0.2:443", chain: [$c]}'
  jq -nc --argjson c "$(summary "$P/shadow.pem" pem)" '{target: "10.0.0.3:443", chain: [$c]}'
  echo '{"summary": {"targets": 4}}'
} > "$T/scan.jsonl"
expect_exit 0 import-scan H inventory import --scan-results "$T/scan.jsonl" --json
jq_eq import-scan-endpoints "$T/last.out" .endpoints 4
expect_exit 0 coverage H inventory coverage --json
jq_eq coverage-seen "$T/last.out" .seen 3
jq_eq coverage-known "$T/last.out" .known 2
jq_eq coverage-uncovered "$T/last.out" '.uncovered | map(.endpoint) | sort | join(",")' "10.0.0.2:443,10.0.0.3:443"
shadow_sha=$(openssl x509 -in "$P/shadow.pem" -outform DER | sha256sum | cut -d' ' -f1)
H inventory show "$shadow_sha" --json > "$T/shadow.json"
jq_eq scan-shadow-source "$T/shadow.json" .source scan
jq_eq scan-shadow-locations "$T/shadow.json" '.locations | length' 2
expect_exit 0 inventory-set-owner H inventory set "$shadow_sha" --owner found-it
expect_exit 0 coverage-after-claim H inventory coverage --json
jq_eq coverage-after-claim-known "$T/last.out" .known 3
jq_eq coverage-after-claim-ratio "$T/last.out" .coverage 1
# a rescan of an endpoint replaces what was seen there
jq -nc --argjson c "$(summary "$P/b.pem")" '{target: "10.0.0.1:443", chain: [$c]}' > "$T/scan2.json"
expect_exit 0 rescan H inventory import --scan-results "$T/scan2.json"
expect_exit 0 coverage-rescan H inventory coverage --json
jq_eq coverage-rescan-seen "$T/last.out" .seen 3
printf '{"no": "endpoints"}\n' > "$T/empty.json"
expect_exit 2 scan-no-endpoints H inventory import --scan-results "$T/empty.json"
printf '{"target": "x", "chain": [}\n' > "$T/broken.json"
expect_exit 2 scan-not-json H inventory import --scan-results "$T/broken.json"
grep -q "broken.json:1:" "$T/last.err" && pass scan-not-json-line || fail scan-not-json-line "$(cat "$T/last.err")"
expect_exit 2 scan-with-path H inventory import --scan-results "$T/scan2.json" "$T/etc"

# the real thing: `hilt scan --json` of an openssl s_server serving hilt's own certificate
SP=$(free_port)
bg openssl s_server -accept "127.0.0.1:$SP" -cert "$T/own.crt" -key "$T/own.key" -cert_chain "$T/own.chain.pem" -quiet -naccept 100000 2>/dev/null
wait_port "$SP" || fail real-scan-server "no s_server"
"$HILT" scan --json "127.0.0.1:$SP" > "$T/real-scan.json" 2>"$T/real-scan.err"
if jq -e '.certificates[0].chain[0].sha256' "$T/real-scan.json" >/dev/null 2>&1; then
  expect_exit 0 import-real-scan H inventory import --scan-results "$T/real-scan.json" --json
  jq_eq import-real-scan-endpoints "$T/last.out" .endpoints 1
  H inventory show "$own_sha" --json > "$T/own-show.json"
  jq_eq real-scan-location "$T/own-show.json" '[.locations[] | select(.kind == "endpoint" and .location == "127.0.0.1:'"$SP"'")] | length' 1
  expect_exit 0 coverage-real-scan H inventory coverage --json
  jq_eq coverage-real-scan-known "$T/last.out" '[.uncovered[] | select(.endpoint == "127.0.0.1:'"$SP"'")] | length' 0
else
  skip import-real-scan "hilt scan gave no certificates: $(head -c 200 "$T/real-scan.err")"
fi

# ---- expiring notifications: a command ---------------------------------------------------------
# inside 7 days: a (5d); inside 30d: own (20d), shadow (30d?), d1/d2 (9d); b is 40d
cat > "$T/notify.sh" <<EOF
#!/bin/sh
cat >> "$T/notes.jsonl"; echo >> "$T/notes.jsonl"
echo "\$HILT_SERIAL \$HILT_THRESHOLD" >> "$T/notes.env"
EOF
chmod +x "$T/notify.sh"
expect_exit 1 notify-cmd H inventory expiring --within 31d --notify-command "$T/notify.sh" --thresholds 30d,7d
n1=$(grep -c . "$T/notes.env")
grep -q "notifications: $n1 sent" "$T/last.out" && pass notify-cmd-sent || fail notify-cmd-sent "$(tail -2 "$T/last.out")"
a_serial=$(openssl x509 -in "$P/a.pem" -noout -serial | cut -d= -f2 | tr A-F a-f | sed 's/^0*//')
grep -q "7d" <(grep -i "$a_serial" "$T/notes.env") && pass notify-smallest-threshold || fail notify-smallest-threshold "$(cat "$T/notes.env")"
jq -se 'map(select(.event == "certificate.expiring" and .certificate.sha256 and .seconds_left > 0)) | length > 0' "$T/notes.jsonl" >/dev/null &&
  pass notify-payload || fail notify-payload "$(head -c 300 "$T/notes.jsonl")"
expect_exit 1 notify-cmd-again H inventory expiring --within 31d --notify-command "$T/notify.sh" --thresholds 30d,7d
[[ $(grep -c . "$T/notes.env") == "$n1" ]] && pass notify-once || fail notify-once "$(grep -c . "$T/notes.env") vs $n1"
grep -q "0 sent, $n1 sent before" "$T/last.out" && pass notify-remembered || fail notify-remembered "$(tail -1 "$T/last.out")"
# a failing command: exit 3, not remembered, tried again
pki_leaf late other "DNS:late.other.test" 3
H inventory import "$P/late.pem" >/dev/null
expect_exit 3 notify-cmd-fails H inventory expiring --within 31d --notify-command "exit 4" --thresholds 30d,7d
grep -q "exited 4" "$T/last.err" && pass notify-fail-msg || fail notify-fail-msg "$(cat "$T/last.err")"
expect_exit 1 notify-retried H inventory expiring --within 31d --notify-command "$T/notify.sh" --thresholds 30d,7d
grep -q "notifications: 1 sent" "$T/last.out" && pass notify-retried-sent || fail notify-retried-sent "$(tail -1 "$T/last.out")"

# ---- expiring notifications: a webhook on loopback ------------------------------------------------
PORT=$(free_port)
cat > "$T/hook.py" <<'EOF'
import http.server, sys
out = open(sys.argv[2], "ab")
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length", 0)); body = self.rfile.read(n)
        out.write(self.headers.get("Content-Type", "").encode() + b" " + body + b"\n"); out.flush()
        self.send_response(204); self.end_headers()
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
EOF
bg python3 "$T/hook.py" "$PORT" "$T/hook.log"
wait_port "$PORT" || fail webhook-start "no webhook server"
expect_exit 1 notify-webhook H inventory expiring --within 31d --notify-url "http://127.0.0.1:$PORT/hooks/certs" --thresholds 29d
nw=$(grep -c . "$T/hook.log")
(( nw >= 1 )) && pass notify-webhook-posted || fail notify-webhook-posted "nothing posted"
grep -q '^application/json {"event":"certificate.expiring"' "$T/hook.log" && pass notify-webhook-json || fail notify-webhook-json "$(head -c 200 "$T/hook.log")"
expect_exit 1 notify-webhook-again H inventory expiring --within 31d --notify-url "http://127.0.0.1:$PORT/hooks/certs" --thresholds 29d
[[ $(grep -c . "$T/hook.log") == "$nw" ]] && pass notify-webhook-once || fail notify-webhook-once ""
expect_exit 3 notify-webhook-down H inventory expiring --within 31d --notify-url "http://127.0.0.1:1/" --thresholds 4d
expect_exit 2 notify-https H inventory expiring --within 31d --notify-url "https://example.test/"
expect_exit 2 notify-both H inventory expiring --within 31d --notify-url "http://127.0.0.1:1/" --notify-command true
expect_exit 2 notify-threshold-too-long H inventory expiring --within 7d --notify-command true --thresholds 30d
expect_exit 2 notify-bad-threshold H inventory expiring --within 7d --notify-command true --thresholds soon
expect_exit 2 notify-needs-expiring H inventory list --notify-command true
expect_exit 0 inventory-audit H audit verify
H audit log --json | jq -e '[.[] | select(.action == "cert.notify")] | length > 3' >/dev/null && pass notify-audited || fail notify-audited ""
exit 0
