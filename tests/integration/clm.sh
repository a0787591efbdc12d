#!/usr/bin/env bash
# clm.sh - certificates as code through the real binary (docs/clm.md):
# plan/apply/rollback, idempotence, revisions, adoption of existing files,
# repair, policy refusals and malformed manifests (file:line:column, exit 2,
# nothing written), reload failures (exit 1), `openssl verify` on what was
# deployed. STORE_URL=postgres://… runs it against PostgreSQL (clm_pg.sh).
source "$(dirname "$0")/../lib.sh"
if [[ -n "${STORE_URL:-}" ]]; then
  pass() { echo "PASS pg/$1" | tee -a "$RESULTS"; }
  fail() { echo "FAIL pg/$1: ${2:-}" | tee -a "$RESULTS"; }
fi
export HILT_HOME="$T/home"
H() { "$HILT" "$@" ${STORE_URL:+--store "$STORE_URL"}; }
M="$T/m" O="$T/out"
mkdir -p "$M" "$O"

expect_exit 0 clm-ca-init H ca init --allow-domain example.test --allow-domain 127.0.0.1 --max-lifetime 100d
H ca roots --out "$T/root.pem"
audit_n() { H audit log --json | jq length; }
cert_count() { H inventory list --json | jq length; }

manifest() { # NAME DURATION [EXTRA-SPEC-LINES]
  cat > "$M/$1.yaml" <<EOF
kind: Certificate
metadata:
  name: $1
spec:
  dnsNames: [$1.example.test]
  ipAddresses: [127.0.0.1]
  duration: $2
  owner: payments
  service: $1
  environment: test
  targets:
    - cert: ../out/$1.crt
      key: ../out/$1.key
      chain: ../out/$1.chain.pem
  reload: echo "\$(date +%s%N) $1" >> $T/reloads
${3:-}
EOF
}

# ---- create, then nothing ---------------------------------------------------------
manifest web 30d
expect_exit 0 plan-create H plan "$M" --json
jq_eq plan-create-action "$T/last.out" '.[0].action' create
[[ ! -e "$O/web.crt" ]] && pass plan-writes-nothing || fail plan-writes-nothing "$(ls "$O")"
expect_exit 0 apply-create H apply "$M" --json
jq_eq apply-create-rev "$T/last.out" '.[0].rev' 1
jq_eq apply-create-reloaded "$T/last.out" '.[0].reloaded' true
for f in web.crt web.key web.chain.pem; do
  [[ -L "$O/$f" ]] && pass "target-is-link-$f" || fail "target-is-link-$f" "$(ls -la "$O/$f")"
done
m=$(stat -L -c %a "$O/web.key"); [[ $m == 600 ]] && pass key-mode-0600 || fail key-mode-0600 "$m"
openssl verify -CAfile "$T/root.pem" -untrusted "$O/web.chain.pem" "$O/web.crt" >"$T/v" 2>&1 &&
  pass deployed-verifies || fail deployed-verifies "$(cat "$T/v")"
[[ "$(openssl x509 -in "$O/web.crt" -noout -pubkey)" == "$(openssl pkey -in "$O/web.key" -pubout)" ]] &&
  pass deployed-key-matches || fail deployed-key-matches ""
[[ "$(wc -l < "$T/reloads")" == 1 ]] && pass reload-ran-once || fail reload-ran-once "$(cat "$T/reloads")"
before_audit=$(audit_n); before_certs=$(cert_count); before_ino=$(stat -L -c %i "$O/web.crt")
expect_exit 0 apply-again H apply "$M" --json
jq_eq apply-again-unchanged "$T/last.out" '.[0].action' unchanged
[[ $(audit_n) == "$before_audit" && $(cert_count) == "$before_certs" && $(stat -L -c %i "$O/web.crt") == "$before_ino" && "$(wc -l < "$T/reloads")" == 1 ]] &&
  pass apply-idempotent || fail apply-idempotent "audit $before_audit -> $(audit_n), certs $before_certs -> $(cert_count)"
H inventory show "$(jq -r '.[0].sha256' "$T/last.out")" --json > "$T/show.json"
jq_eq inventory-pipeline "$T/show.json" .pipeline manifest:web
jq_eq inventory-location "$T/show.json" '[.locations[] | select(.location == "'"$O"'/web.crt")] | length' 1
rev1_serial=$(openssl x509 -in "$O/web.crt" -noout -serial | cut -d= -f2)

# ---- changes: reissue, update, redeploy --------------------------------------------
manifest web 31d
expect_exit 0 plan-reissue H plan "$M" --json
jq_eq plan-reissue-action "$T/last.out" '.[0].action' reissue
expect_exit 0 apply-reissue H apply "$M" --json
jq_eq apply-reissue-rev "$T/last.out" '.[0].rev' 2
rev2_serial=$(openssl x509 -in "$O/web.crt" -noout -serial | cut -d= -f2)
[[ "$rev1_serial" != "$rev2_serial" ]] && pass reissue-new-cert || fail reissue-new-cert ""
H inventory show "$rev1_serial" --json > "$T/show1.json"
jq_eq old-cert-superseded "$T/show1.json" .status superseded
sed -i 's/owner: payments/owner: platform/' "$M/web.yaml"
expect_exit 0 apply-update H apply "$M" --json
jq_eq apply-update-action "$T/last.out" '.[0].action' update
jq_eq apply-update-no-rev "$T/last.out" '.[0].rev' 2
H inventory show "$rev2_serial" --json > "$T/show2.json"
jq_eq update-owner-recorded "$T/show2.json" .owner platform
sed -i 's|      chain: ../out/web.chain.pem|      chain: ../out/web.chain.pem\n      certMode: "0640"|' "$M/web.yaml"
expect_exit 0 apply-redeploy H apply "$M" --json
jq_eq apply-redeploy-action "$T/last.out" '.[0].action' redeploy
jq_eq apply-redeploy-same-cert "$T/last.out" '.[0].serial | ascii_upcase' "$rev2_serial"
m=$(stat -L -c %a "$O/web.crt"); [[ $m == 640 ]] && pass redeploy-mode || fail redeploy-mode "$m"

# ---- repair: a target removed, a target replaced -------------------------------------
rm "$O/web.key"
expect_exit 0 plan-repair H plan "$M" --json
jq_eq plan-repair-action "$T/last.out" '.[0].action' repair
expect_exit 0 apply-repair H apply "$M" --json
[[ -L "$O/web.key" ]] && pass repair-restored || fail repair-restored ""
rm "$O/web.crt"; echo garbage > "$O/web.crt"
expect_exit 0 apply-repair-replaced H apply "$M" --json
jq_eq repair-replaced-action "$T/last.out" '.[0].action' repair
openssl x509 -in "$O/web.crt" -noout 2>/dev/null && pass repair-replaced-ok || fail repair-replaced-ok ""

# ---- rollback --------------------------------------------------------------------------
expect_exit 0 rollback H rollback web --to 1 --json
jq_eq rollback-rev "$T/last.out" .rev 4
[[ "$(openssl x509 -in "$O/web.crt" -noout -serial | cut -d= -f2)" == "$rev1_serial" ]] &&
  pass rollback-serves-rev1 || fail rollback-serves-rev1 ""
[[ "$(openssl x509 -in "$O/web.crt" -noout -pubkey)" == "$(openssl pkey -in "$O/web.key" -pubout)" ]] &&
  pass rollback-key-matches || fail rollback-key-matches ""
expect_exit 2 rollback-missing H rollback web --to 99
grep -q "has no revision 99" "$T/last.err" && pass rollback-missing-msg || fail rollback-missing-msg "$(cat "$T/last.err")"
expect_exit 2 rollback-current H rollback web --to 4
expect_exit 2 rollback-no-to H rollback web
expect_exit 2 rollback-unknown H rollback nosuch --to 1
H ca revoke "$rev2_serial" --reason keyCompromise >/dev/null
expect_exit 2 rollback-revoked H rollback web --to 2
grep -q "was revoked" "$T/last.err" && pass rollback-revoked-msg || fail rollback-revoked-msg "$(cat "$T/last.err")"
# the manifest is the source of truth: the next apply reissues (31d, not rev 1's 30d)
expect_exit 0 apply-after-rollback H apply "$M" --json
jq_eq apply-after-rollback-action "$T/last.out" '.[0].action' reissue

# ---- adoption of existing files ---------------------------------------------------------
mkdir -p "$O/legacy"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$O/legacy.key" \
  -subj /CN=legacy -days 5 -out "$O/legacy.crt" 2>/dev/null
cat > "$M/legacy.yaml" <<EOF
kind: Certificate
metadata: {name: legacy}
spec:
  dnsNames: [legacy.example.test]
  duration: 10d
  targets: [{cert: $O/legacy.crt, key: $O/legacy.key}]
EOF
expect_exit 0 apply-adopt H apply "$M" --json
[[ -L "$O/legacy.crt" && -L "$O/legacy.key" ]] && pass adopt-links || fail adopt-links ""
openssl x509 -in "$O/legacy.crt" -noout -issuer | grep -q "hilt Intermediate" && pass adopt-replaced || fail adopt-replaced ""
[[ ! -e "$O/.hilt/legacy/rev-0" ]] && pass adopt-rev0-pruned || fail adopt-rev0-pruned "$(ls "$O/.hilt/legacy")"

# ---- reload failure: exit 1, files deployed, recorded -------------------------------------
cat > "$M/zz-bad-reload.yaml" <<EOF
kind: Certificate
metadata: {name: badreload}
spec:
  dnsNames: [br.example.test]
  duration: 10d
  targets: [{cert: $O/br.crt}]
  reload: echo nginx said no >&2; exit 3
EOF
expect_exit 1 apply-reload-fails H apply "$M"
grep -q "reload command exited 3: nginx said no" "$T/last.out" && pass reload-fail-msg || fail reload-fail-msg "$(cat "$T/last.out")"
[[ -L "$O/br.crt" ]] && pass reload-fail-deployed || fail reload-fail-deployed ""
rm "$M/zz-bad-reload.yaml"

# ---- bad input: message with file:line:column, exit 2, nothing written ------------------------
nothing_changed() { # NAME
  [[ $(audit_n) == "$1_audit" ]] 2>/dev/null
}
bad() { # NAME EXPECTED-TEXT YAML
  local name=$1 want=$2 a c
  mkdir -p "$T/bad-$name"; printf '%s\n' "$3" > "$T/bad-$name/x.yaml"
  a=$(audit_n); c=$(cert_count)
  expect_exit 2 "bad-$name" H apply "$T/bad-$name"
  grep -qF -- "$want" "$T/last.err" && pass "bad-$name-msg" || fail "bad-$name-msg" "$(cat "$T/last.err")"
  [[ $(audit_n) == "$a" && $(cert_count) == "$c" && ! -e "$T/bad-$name/.hilt" && ! -e "$T/bad-$name/x.crt" ]] &&
    pass "bad-$name-nothing-written" || fail "bad-$name-nothing-written" "audit $a -> $(audit_n)"
}
bad syntax "x.yaml:3:" $'kind: Certificate\nmetadata: {name: x\nspec: [}'
bad unknown-key "x.yaml:5:3: spec: unknown key 'dnsname'" $'kind: Certificate\nmetadata: {name: x}\nspec:\n  targets: [{cert: x.crt}]\n  dnsname: [a.example.test]'
bad duration "x.yaml:6:13: spec.duration: 'soon' is not a duration" $'kind: Certificate\nmetadata: {name: x}\nspec:\n  dnsNames: [a.example.test]\n  targets: [{cert: x.crt}]\n  duration: soon'
bad kind "x.yaml:1:7: kind: 'Secret' is not Certificate" $'kind: Secret\nmetadata: {name: x}\nspec: {}'
bad key-mode "would let every user read the private key" $'kind: Certificate\nmetadata: {name: x}\nspec:\n  dnsNames: [a.example.test]\n  targets: [{key: x.key, keyMode: "0644"}]'
bad no-targets "x.yaml:3:7: spec.targets: expected a list of targets" $'kind: Certificate\nmetadata: {name: x}\nspec: {dnsNames: [a.example.test]}'
bad ip-in-dns "is an IP address: list it in ipAddresses" $'kind: Certificate\nmetadata: {name: x}\nspec:\n  dnsNames: [10.0.0.1]\n  targets: [{cert: x.crt}]'
bad alias "aliases" $'kind: Certificate\nmetadata: {name: &n x}\nspec: {dnsNames: [*n]}'
bad forbidden-name "name 'evil.com' is not allowed" $'kind: Certificate\nmetadata: {name: x}\nspec:\n  dnsNames: [evil.com]\n  targets: [{cert: x.crt}]'
bad too-long "longer than the CA allows" $'kind: Certificate\nmetadata: {name: x}\nspec:\n  dnsNames: [a.example.test]\n  duration: 200d\n  targets: [{cert: x.crt}]'
bad policy-lifetime "longer than policy profile 'internal-api' allows (30d)" $'kind: Certificate\nmetadata: {name: x}\nspec:\n  dnsNames: [a.example.test]\n  duration: 60d\n  policy: internal-api\n  targets: [{cert: x.crt}]'
bad policy-rsa "needs RSA keys of 3072 bits or more" $'kind: Certificate\nmetadata: {name: x}\nspec:\n  dnsNames: [a.example.test]\n  duration: 20d\n  privateKey: {algorithm: RSA, size: 2048}\n  policy: internal-api\n  targets: [{cert: x.crt}]'
bad unknown-policy "unknown" $'kind: Certificate\nmetadata: {name: x}\nspec:\n  dnsNames: [a.example.test]\n  policy: nosuch\n  targets: [{cert: x.crt}]'
bad unknown-ca "no CA named 'other'" $'kind: Certificate\nmetadata: {name: x}\nspec:\n  dnsNames: [a.example.test]\n  issuerRef: {name: other}\n  targets: [{cert: x.crt}]'
# one bad manifest among good ones: nothing at all is done
mkdir -p "$T/mixed"; cp "$M/web.yaml" "$T/mixed/"; manifest newone 10d; mv "$M/newone.yaml" "$T/mixed/"
printf 'kind: Certificate\nmetadata: {name: zz}\nspec:\n  dnsNames: [evil.org]\n  targets: [{cert: zz.crt}]\n' > "$T/mixed/zz.yaml"
a=$(audit_n)
expect_exit 2 bad-mixed H apply "$T/mixed"
[[ $(audit_n) == "$a" && ! -e "$O/newone.crt" ]] && pass bad-mixed-nothing-written || fail bad-mixed-nothing-written ""
printf 'kind: Certificate\nmetadata: {name: web}\nspec:\n  dnsNames: [w2.example.test]\n  targets: [{cert: /tmp/w2.crt}]\n' > "$T/mixed/dup.yaml"
rm "$T/mixed/zz.yaml"
expect_exit 2 bad-duplicate-name H plan "$T/mixed"
grep -q "is also defined in" "$T/last.err" && pass bad-duplicate-name-msg || fail bad-duplicate-name-msg "$(cat "$T/last.err")"
expect_exit 2 bad-no-dir H plan "$T/nonexistent"
expect_exit 2 bad-flag H apply "$M" --bogus
expect_exit 0 plan-help "$HILT" plan --help
if [[ -z "${STORE_URL:-}" ]]; then
  printf 'not a database\n' > "$T/junk.db"
  expect_exit 2 bad-store-not-db "$HILT" apply "$M" --store "$T/junk.db"
  grep -q "is not a hilt store" "$T/last.err" && pass bad-store-msg || fail bad-store-msg "$(cat "$T/last.err")"
fi

# ---- the audit chain saw it all -----------------------------------------------------------------
expect_exit 0 clm-audit-verify H audit verify
H audit log --json > "$T/audit.json"
for a in manifest.stage manifest.apply manifest.update manifest.repair manifest.rollback manifest.reload; do
  jq -e --arg a "$a" '[.[] | select(.action == $a)] | length > 0' "$T/audit.json" >/dev/null &&
    pass "audited-$a" || fail "audited-$a" "no $a record"
done
exit 0
