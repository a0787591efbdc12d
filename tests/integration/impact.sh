#!/usr/bin/env bash
# impact.sh - `hilt policy impact` as a user drives it: every built-in client
# profile against built-in and custom profiles (text and --json, exit 1 when
# somebody is locked out, 0 when nobody is), the clients a gateway observed
# (a file, and the same JSON over HTTP on loopback), and bad input of every
# kind: unknown profile, malformed policy, clients data and observed JSON, an
# unreachable or failing URL - each a clear message and exit 2, never a crash.
source "$(dirname "$0")/../lib.sh"

# has NAME FILE TEXT: FILE contains TEXT.
has() {
  if grep -qF -- "$3" "$2"; then pass "$1"; else fail "$1" "'$(head -c 400 "$2")' lacks '$3'"; fi
}

# ---- built-in clients against built-in profiles ----
expect_exit 1 "modern locks clients out (exit 1)" "$HILT" policy impact --profile modern
has "text names a locked-out client" "$T/last.out" "Android 4.4.2"
has "text gives the code" "$T/last.out" "protocol_version_mismatch: no common TLS version"
has "text summary line" "$T/last.out" "client profiles locked out by profile modern"

expect_exit 1 "modern --json" "$HILT" policy impact --profile modern --json
cp "$T/last.out" "$T/modern.json"
jq_eq "json profile" "$T/modern.json" '.profile' modern
jq_eq "json counts add up" "$T/modern.json" '.connect + .locked_out == .clients and .clients >= 40' true
jq_eq "android 4.4 locked out by version" "$T/modern.json" \
  '.results[] | select(.client=="android-4.4") | [.connects, .code] | join(",")' "false,protocol_version_mismatch"
jq_eq "java 7 and IE 11 locked out" "$T/modern.json" \
  '[.results[] | select(.client=="java-7u25" or .client=="ie-11-win7") | .code] | unique | join(",")' protocol_version_mismatch
jq_eq "chrome 101 connects with TLS 1.3" "$T/modern.json" \
  '.results[] | select(.client=="chrome-101-win10") | [.connects, .version, .cipher, .group, .certificate] | map(tostring) | join(",")' \
  "true,TLSv1.3,TLS_AES_128_GCM_SHA256,x25519,ecdsa"
jq_eq "connected rows have no code" "$T/modern.json" '[.results[] | select(.connects) | .code] | unique | map(tostring) | join(",")' null
jq_eq "every result has the stable fields" "$T/modern.json" \
  '[.results[] | keys | sort | join(",")] | unique | length' 1

expect_exit 1 "intermediate --json" "$HILT" policy impact --profile intermediate --json
jq_eq "intermediate: Safari 6 has no shared cipher" "$T/last.out" \
  '.results[] | select(.client=="safari-6-ios6") | .code' no_shared_cipher
jq_eq "intermediate: Android 4.4 connects over TLS 1.2" "$T/last.out" \
  '.results[] | select(.client=="android-4.4") | .version' TLSv1.2

expect_exit 0 "nobody locked out (exit 0)" "$HILT" policy impact --profile modern \
  --only chrome-101-win10,firefox-100-win10,android-13-14,java-21
has "--only limits the report" "$T/last.out" "0 of 4 client profiles locked out"

# ---- a custom policy: a key floor below what strict clients accept ----
cat > "$T/policy.yaml" <<'EOF'
version: 1
profiles:
  legacy-rsa:
    extends: intermediate
    certificate:
      key_types: [rsa]
      rsa_min_bits: 1024
  p384-only:
    extends: intermediate
    groups: [secp384r1]
    ciphers: [ECDHE-RSA-AES128-GCM-SHA256]
    tls13_ciphersuites: [TLS_AES_128_GCM_SHA256]
EOF
expect_exit 1 "--policy profile" "$HILT" policy impact --policy "$T/policy.yaml" --profile legacy-rsa --json
jq_eq "curl refuses the profile's 1024-bit RSA floor" "$T/last.out" \
  '.results[] | select(.client=="curl-debian12") | .code' weak_key
jq_eq "the reason states both sizes" "$T/last.out" \
  '.results[] | select(.client=="curl-debian12") | .reason' \
  "the profile allows RSA keys of 1024 bits; this client requires at least 2048 bits"
jq_eq "chrome accepts 1024-bit RSA" "$T/last.out" '.results[] | select(.client=="chrome-101-win10") | .connects' true
expect_exit 1 "p384-only profile" "$HILT" policy impact --policy "$T/policy.yaml" --profile p384-only --json
jq_eq "android 7 (P-256 only) has no shared group" "$T/last.out" \
  '.results[] | select(.client=="android-7.0") | .code' no_shared_group

# ---- observed clients (what hilt gateway serves on GET /observed) ----
cat > "$T/observed.json" <<'EOF'
{"clients": [
 {"ja4": "t13d1516h2_8daaf6152771_d8a2da3f94cd", "versions": ["TLSv1.3", "TLSv1.2"],
  "ciphers": ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"],
  "groups": ["x25519", "secp256r1"], "sigalgs": ["ecdsa_secp256r1_sha256", "rsa_pss_rsae_sha256"],
  "alpn": ["h2", "http/1.1"], "sni": "shop.example.com", "count": 9000,
  "first_seen": "2026-05-01T08:00:00Z", "last_seen": "2026-05-03T17:42:10Z"},
 {"ja4": "t12d1209h1_1fb6a52ab2cf_5e5d8e2bf8a1", "versions": ["TLSv1.2", "TLSv1.1", "TLSv1.0"],
  "ciphers": ["TLS_RSA_WITH_AES_128_CBC_SHA", "TLS_RSA_WITH_3DES_EDE_CBC_SHA"],
  "groups": [], "sigalgs": ["rsa_pkcs1_sha256", "rsa_pkcs1_sha1"], "alpn": [], "sni": null, "count": 1000,
  "first_seen": "2026-05-02T10:00:00+02:00", "last_seen": null}
]}
EOF
expect_exit 1 "observed file: somebody fails (exit 1)" "$HILT" policy impact --observed "$T/observed.json" --profile intermediate
has "observed text weights by handshakes" "$T/last.out" "1000 of 10000 handshakes (10.0%) would fail"
expect_exit 1 "observed --json" "$HILT" policy impact --observed "$T/observed.json" --profile intermediate --json
jq_eq "observed totals" "$T/last.out" '[.clients, .locked_out, .handshakes, .failing_handshakes] | map(tostring) | join(",")' "2,1,10000,1000"
jq_eq "observed: the RSA-CBC client has no shared cipher" "$T/last.out" \
  '.results[] | select(.count==1000) | [.ja4, .code] | join(",")' "t12d1209h1_1fb6a52ab2cf_5e5d8e2bf8a1,no_shared_cipher"
jq_eq "observed: times kept" "$T/last.out" '.results[0].first_seen' "2026-05-01T08:00:00Z"
expect_exit 0 "observed against old: nobody fails" "$HILT" policy impact --observed "$T/observed.json" --profile old

# The same document over HTTP on loopback.
mkdir -p "$T/www"
cp "$T/observed.json" "$T/www/observed"
# A port below the ephemeral range, tried again if it was taken in the meantime.
http_up=0
lo=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
for try in 1 2 3 4 5; do
  WPORT=$(( 10000 + RANDOM % (lo > 12000 ? lo - 10000 : 20000) ))
  python3 -m http.server "$WPORT" --bind 127.0.0.1 --directory "$T/www" >"$T/http.log" 2>&1 &
  wpid=$!
  _bg_pids+=("$wpid")
  for _ in $(seq 1 100); do
    kill -0 "$wpid" 2>/dev/null || break
    if (exec 3<>"/dev/tcp/127.0.0.1/$WPORT") 2>/dev/null; then http_up=1; break; fi
    sleep 0.05
  done
  (( http_up )) && break
done
if (( http_up )); then
  expect_exit 1 "observed URL" "$HILT" policy impact --observed "http://127.0.0.1:$WPORT/observed" --profile intermediate --json
  jq_eq "observed URL: same result" "$T/last.out" '.failing_handshakes' 1000
  jq_eq "observed URL: source named" "$T/last.out" '.source' "http://127.0.0.1:$WPORT/observed"
  expect_exit 2 "observed URL: HTTP 404" "$HILT" policy impact --observed "http://127.0.0.1:$WPORT/nothing" --profile intermediate
  has "404 message names the URL and status" "$T/last.err" "http://127.0.0.1:$WPORT/nothing: HTTP 404"
else
  fail "observed URL" "python3 http.server did not start"
fi
DEAD=$(free_port)
expect_exit 2 "unreachable observed URL (exit 2)" "$HILT" policy impact --observed "http://127.0.0.1:$DEAD/observed" --profile modern --timeout 2000
has "unreachable: the URL and the reason" "$T/last.err" "--observed: http://127.0.0.1:$DEAD/observed: cannot fetch"
expect_exit 2 "https observed URL refused" "$HILT" policy impact --observed "https://127.0.0.1:$DEAD/observed" --profile modern
has "https: says why" "$T/last.err" "only http:// URLs"

# ---- bad input: each names what is wrong ----
expect_exit 2 "unknown profile" "$HILT" policy impact --profile moderm
has "unknown profile lists the known ones" "$T/last.err" "modern"
printf 'profiles:\n  x: {versions: [TLSv1.2\n' > "$T/broken.yaml"
expect_exit 2 "malformed policy" "$HILT" policy impact --policy "$T/broken.yaml" --profile x
has "malformed policy names file:line" "$T/last.err" "broken.yaml:3:1"
printf '{"clients": [{"ja4": "x", "versions": ["TLSv1.2"], "ciphers": ["TLS_AES_128_GCM_SHA256", 7]}]}' > "$T/bad-obs.json"
expect_exit 2 "malformed observed field" "$HILT" policy impact --observed "$T/bad-obs.json" --profile modern
has "observed error names the field" "$T/last.err" "bad-obs.json: clients[0].ciphers[1]: expected a cipher suite name"
printf '{"clients": [' > "$T/trunc-obs.json"
expect_exit 2 "truncated observed JSON" "$HILT" policy impact --observed "$T/trunc-obs.json" --profile modern
has "truncated observed names line:column" "$T/last.err" "trunc-obs.json:1:"
expect_exit 2 "missing observed file" "$HILT" policy impact --observed "$T/nope.json" --profile modern
has "missing observed file named" "$T/last.err" "nope.json"
printf '{"clients": [{"id": "x", "name": "X", "version": "1", "versions": ["TLSv1.2"], "ciphers": ["ECDHE-RSA-AES128-GCM-SHA255"], "sni": true, "aia_fetch": false, "sha1_certificates": "accept", "sources": ["a book"]}]}' > "$T/bad-clients.json"
expect_exit 2 "malformed clients data" "$HILT" policy impact --clients "$T/bad-clients.json" --profile modern
has "clients error names the field and suggests" "$T/last.err" "clients[0] (x).ciphers[0]: unknown cipher suite 'ECDHE-RSA-AES128-GCM-SHA255' (did you mean 'ECDHE-RSA-AES128-GCM-SHA256'?)"
printf '{"clients": [{"id": "only", "name": "Only", "version": "1", "versions": ["TLSv1.3"], "ciphers": ["TLS_AES_128_GCM_SHA256"], "groups": ["x25519"], "key_shares": ["x25519"], "sigalgs": ["ecdsa_secp256r1_sha256"], "sni": true, "aia_fetch": false, "sha1_certificates": "reject", "sources": ["written for this test"]}]}' > "$T/one-client.json"
expect_exit 0 "custom clients file" "$HILT" policy impact --clients "$T/one-client.json" --profile modern --json
jq_eq "custom client connects" "$T/last.out" '.results[0].client + "," + .results[0].version' "only,TLSv1.3"
expect_exit 2 "no --profile" "$HILT" policy impact
has "no --profile says so" "$T/last.err" "--profile NAME is required"
expect_exit 2 "--live with --profile" "$HILT" policy impact --live 127.0.0.1:1 --profile modern
expect_exit 2 "unknown flag" "$HILT" policy impact --profile modern --bogus
expect_exit 2 "bad --timeout" "$HILT" policy impact --profile modern --timeout soon
expect_exit 2 "bad --live address" "$HILT" policy impact --live "[::1"
expect_exit 0 "impact --help" "$HILT" policy impact --help
has "help documents --observed" "$T/last.out" "--observed SRC"
expect_exit 0 "policy --help lists impact" "$HILT" policy --help
has "policy usage has impact" "$T/last.out" "impact --profile NAME"
