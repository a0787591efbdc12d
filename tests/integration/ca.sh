#!/usr/bin/env bash
# ca.sh - the CA, inventory and audit through the real binary, judged by real
# peers: `openssl verify` accepts issued chains, `openssl crl` accepts the CRLs
# (full and shards), `openssl req` CSRs are accepted, a SoftHSM2-held key signs.
# Bad input (malformed or forbidden CSRs, lifetimes, a store that is not a
# database, a tampered audit log, unknown flags) gets a clear message, exit 2
# (1 for a failed audit verify), and nothing written. Two processes issuing
# and revoking at once against one SQLite file never duplicate a serial or
# lose a revocation. STORE_URL=postgres://… runs it all against PostgreSQL
# (tests/integration/ca_pg.sh does).
source "$(dirname "$0")/../lib.sh"
if [[ -n "${STORE_URL:-}" ]]; then # results of the PostgreSQL run are named pg/…
  pass() { echo "PASS pg/$1" | tee -a "$RESULTS"; }
  fail() { echo "FAIL pg/$1: ${2:-}" | tee -a "$RESULTS"; }
  skip() { echo "SKIP pg/$1: ${2:?skip needs a reason}" | tee -a "$RESULTS"; }
fi

export HILT_HOME="$T/home"
H() { "$HILT" "$@" ${STORE_URL:+--store "$STORE_URL"}; }
B="http://127.0.0.1:1"

# ---- init and roots ----------------------------------------------------------
expect_exit 0 ca-init H ca init --crl-url "$B/crl" --ocsp-url "$B/ocsp" --aia-url "$B/ca.der" \
  --allow-domain example.test --allow-domain 127.0.0.1 --max-lifetime 398d
for f in root.key intermediate.key; do
  m=$(stat -c %a "$HILT_HOME/ca/hilt/$f" 2>/dev/null)
  [[ "$m" == 600 ]] && pass "key-mode-$f" || fail "key-mode-$f" "mode $m, wanted 600"
done
m=$(stat -c %a "$HILT_HOME/ca/hilt"); [[ $m == 700 ]] && pass ca-dir-mode || fail ca-dir-mode "mode $m"
expect_exit 2 ca-init-again H ca init
grep -q "already exists" "$T/last.err" && pass ca-init-again-msg || fail ca-init-again-msg "$(cat "$T/last.err")"
expect_exit 0 ca-roots H ca roots --out "$T/root.pem"
grep -c "BEGIN CERTIFICATE" "$T/root.pem" | grep -qx 1 && pass roots-one-anchor || fail roots-one-anchor ""

# ---- issuance ------------------------------------------------------------------
if expect_exit 0 issue-ec H ca issue --name www.example.test --name 127.0.0.1 --out "$T/ec" \
     --owner payments --service api --env prod --json; then
  cp "$T/last.out" "$T/ec.json"
  ser=$(openssl x509 -in "$T/ec.crt" -noout -serial | cut -d= -f2 | tr A-F a-f)
  jq_eq issue-json-serial "$T/ec.json" .serial "$ser"
  sha=$(openssl x509 -in "$T/ec.crt" -outform DER | sha256sum | cut -d' ' -f1)
  jq_eq issue-json-sha256 "$T/ec.json" .sha256 "$sha"
  jq_eq issue-json-owner "$T/ec.json" .owner payments
  jq_eq issue-json-crl "$T/ec.json" '.crl_urls[0]' "$B/crl/shard-0.crl"
  jq_eq issue-json-ocsp "$T/ec.json" '.ocsp_urls[0]' "$B/ocsp"
  jq_eq issue-json-files "$T/ec.json" '.files.key' "$T/ec.key"
  jq -e '.not_before and .not_after' "$T/ec.json" >/dev/null && pass issue-json-validity || fail issue-json-validity ""
fi
m=$(stat -c %a "$T/ec.key" 2>/dev/null); [[ $m == 600 ]] && pass leaf-key-mode || fail leaf-key-mode "mode $m"
openssl verify -CAfile "$T/root.pem" -untrusted "$T/ec.chain.pem" "$T/ec.crt" >"$T/v.out" 2>&1 &&
  pass openssl-verify-ec || fail openssl-verify-ec "$(cat "$T/v.out")"
openssl verify -purpose sslserver -CAfile "$T/root.pem" -untrusted "$T/ec.chain.pem" "$T/ec.crt" >/dev/null 2>&1 &&
  pass openssl-verify-sslserver || fail openssl-verify-sslserver ""
openssl x509 -in "$T/ec.crt" -noout -checkhost www.example.test | grep -q "does match" &&
  pass leaf-hostname || fail leaf-hostname ""

expect_exit 0 issue-rsa H ca issue --name rsa.example.test --key-type rsa-2048 --out "$T/rsa"
openssl verify -CAfile "$T/root.pem" -untrusted "$T/rsa.chain.pem" "$T/rsa.crt" >/dev/null 2>&1 &&
  pass openssl-verify-rsa || fail openssl-verify-rsa ""
openssl pkey -in "$T/rsa.key" -noout -text 2>/dev/null | grep -q "2048 bit" && pass rsa-key-size || fail rsa-key-size ""

expect_exit 0 issue-short H ca issue --name short.example.test --lifetime 12h --out "$T/short" --json
nb=$(date -d "$(openssl x509 -in "$T/short.crt" -noout -startdate | cut -d= -f2)" +%s)
na=$(date -d "$(openssl x509 -in "$T/short.crt" -noout -enddate | cut -d= -f2)" +%s)
(( na - nb == 12 * 3600 + 300 )) && pass short-lived-12h || fail short-lived-12h "lifetime $((na - nb))s"

# CSRs from openssl req: EC and RSA, names from the CSR or from --name
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/app.req.key" \
  -subj /CN=app.example.test -addext "subjectAltName=DNS:app.example.test,DNS:api.example.test" \
  -out "$T/app.csr" 2>/dev/null
expect_exit 0 issue-csr-ec H ca issue --csr "$T/app.csr" --out "$T/app" --json
jq_eq csr-names "$T/last.out" '.sans | join(",")' "DNS:app.example.test,DNS:api.example.test"
[[ ! -e "$T/app.key" ]] && pass csr-no-key-written || fail csr-no-key-written "app.key exists"
openssl verify -CAfile "$T/root.pem" -untrusted "$T/app.chain.pem" "$T/app.crt" >/dev/null 2>&1 &&
  pass openssl-verify-csr || fail openssl-verify-csr ""
[[ "$(openssl x509 -in "$T/app.crt" -noout -pubkey)" == "$(openssl pkey -in "$T/app.req.key" -pubout)" ]] &&
  pass csr-key-used || fail csr-key-used ""
openssl req -new -newkey rsa:3072 -nodes -keyout "$T/r3.key" -subj /CN=r3.example.test -out "$T/r3.csr" 2>/dev/null
expect_exit 0 issue-csr-rsa H ca issue --csr "$T/r3.csr" --name r3.example.test --out "$T/r3"
openssl verify -CAfile "$T/root.pem" -untrusted "$T/r3.chain.pem" "$T/r3.crt" >/dev/null 2>&1 &&
  pass openssl-verify-csr-rsa || fail openssl-verify-csr-rsa ""

# ---- refused requests: message, exit 2, nothing written ---------------------------
nothing_written() { # NAME PREFIX
  if compgen -G "$2*" >/dev/null; then fail "$1-nothing-written" "$(ls "$2"*)"; else pass "$1-nothing-written"; fi
}
refused() { # NAME EXPECTED-TEXT PREFIX ARGS...
  local name=$1 want=$2 prefix=$3; shift 3
  expect_exit 2 "$name" H ca issue "$@" --out "$prefix"
  grep -qF -- "$want" "$T/last.err" && pass "$name-msg" || fail "$name-msg" "stderr: $(cat "$T/last.err")"
  nothing_written "$name" "$prefix"
}
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/evil.req.key" \
  -subj /CN=ok.example.test -addext "subjectAltName=DNS:ok.example.test,DNS:evil.com" -out "$T/evil.csr" 2>/dev/null
refused csr-forbidden-name "name 'evil.com' is not allowed" "$T/out-evil" --csr "$T/evil.csr"
refused flag-forbidden-name "name 'evil.org' is not allowed" "$T/out-evil2" --name evil.org
refused lifetime-too-long "longer than the CA allows" "$T/out-long" --name l.example.test --lifetime 500d
refused lifetime-too-short "shorter than the minimum" "$T/out-short" --name l.example.test --lifetime 1m
refused csr-name-not-requested "asks for 'api.example.test', which was not requested" "$T/out-nr" \
  --csr "$T/app.csr" --name app.example.test
openssl req -new -newkey rsa:1024 -nodes -keyout "$T/weak.key" -subj /CN=weak.example.test -out "$T/weak.csr" 2>/dev/null
refused csr-weak-key "key rsa-1024 is not allowed" "$T/out-weak" --csr "$T/weak.csr"
refused bad-name "has an empty label" "$T/out-bn" --name "a..example.test"
printf -- '-----BEGIN CERTIFICATE REQUEST-----\nMIICijCCAXICAQAwRTELMAkGA1UEBhMC\n!!!notbase64!!!\n-----END CERTIFICATE REQUEST-----\n' > "$T/bad.csr"
refused csr-malformed "$T/bad.csr:" "$T/out-bad" --csr "$T/bad.csr"
refused csr-is-a-cert "no CERTIFICATE REQUEST block" "$T/out-cert" --csr "$T/ec.crt"
printf 'garbage' > "$T/junk.der"
refused csr-junk-der "$T/junk.der:1: not a valid PKCS#10" "$T/out-junk" --csr "$T/junk.der"
refused csr-missing-file "cannot read $T/nope.csr" "$T/out-nofile" --csr "$T/nope.csr"
refused unknown-key-type "unknown key type" "$T/out-kt" --name k.example.test --key-type dsa-1024
# a tampered CSR: flip one byte inside the signed part
openssl req -in "$T/app.csr" -outform DER -out "$T/app.der" 2>/dev/null
python3 - "$T/app.der" "$T/tampered.der" <<'EOF'
import sys
d = bytearray(open(sys.argv[1], 'rb').read())
i = d.find(b'app.example.test'); d[i] ^= 0x01  # 'app' -> '`pp' in the subject
open(sys.argv[2], 'wb').write(bytes(d))
EOF
refused csr-bad-signature "signature does not verify" "$T/out-tamper" --csr "$T/tampered.der"

# usage errors
expect_exit 2 unknown-flag-issue H ca issue --name x.example.test --out "$T/uf" --bogus
grep -q "'--bogus'" "$T/last.err" && pass unknown-flag-named || fail unknown-flag-named "$(cat "$T/last.err")"
expect_exit 2 unknown-flag-init H ca init --name other --frobnicate
expect_exit 2 unknown-ca-sub H ca frobnicate
expect_exit 2 issue-no-out H ca issue --name x.example.test
expect_exit 2 issue-bad-lifetime H ca issue --name x.example.test --lifetime forever --out "$T/bl"
expect_exit 2 unknown-flag-inventory H inventory list --bogus
expect_exit 2 unknown-flag-audit H audit verify --bogus
expect_exit 2 issue-out-dir-missing H ca issue --name x.example.test --out "$T/no/such/dir/x"
expect_exit 0 ca-help "$HILT" ca --help
expect_exit 0 inventory-help "$HILT" inventory --help
expect_exit 0 audit-help "$HILT" audit --help

# ---- a store that is not a database ---------------------------------------------
if [[ -z "${STORE_URL:-}" ]]; then
  printf 'this is a text file, not a database\n' > "$T/junk.db"
  before=$(sha256sum < "$T/junk.db")
  expect_exit 2 store-not-db "$HILT" ca issue --store "$T/junk.db" --name x.example.test --out "$T/nd"
  grep -q "is not a hilt store" "$T/last.err" && pass store-not-db-msg || fail store-not-db-msg "$(cat "$T/last.err")"
  expect_exit 2 store-not-db-inventory "$HILT" inventory list --store "$T/junk.db"
  expect_exit 2 store-not-db-audit "$HILT" audit verify --store "$T/junk.db"
  [[ "$(sha256sum < "$T/junk.db")" == "$before" && ! -e "$T/junk.db-wal" && ! -e "$T/junk.db-journal" ]] &&
    pass store-not-db-untouched || fail store-not-db-untouched "$(ls -la "$T"/junk.db*)"
  nothing_written store-not-db "$T/nd"
  mkdir "$T/dirstore"
  expect_exit 2 store-is-dir "$HILT" inventory list --store "$T/dirstore"
fi

# ---- revocation and CRLs -----------------------------------------------------------
ser_ec=$(jq -r .serial "$T/ec.json")
ser_rsa=$(openssl x509 -in "$T/rsa.crt" -noout -serial | cut -d= -f2)
expect_exit 0 revoke H ca revoke "$ser_ec" --reason keyCompromise
expect_exit 0 revoke-again H ca revoke "$ser_ec" --reason superseded
grep -q "already revoked" "$T/last.out" && pass revoke-idempotent || fail revoke-idempotent "$(cat "$T/last.out")"
expect_exit 2 revoke-bad-reason H ca revoke "$ser_rsa" --reason because
expect_exit 2 revoke-unknown H ca revoke 48ffffffff --reason superseded
expect_exit 2 revoke-not-hex H ca revoke xyz
expect_exit 0 crl H ca crl --out "$T/pub/full.crl" --json
jq_eq crl-revoked-count "$T/last.out" .revoked 1
sed -n '/BEGIN/,/END/p' "$T/ec.chain.pem" | awk 'BEGIN{n=0} /BEGIN/{n++} n==2' > "$T/inter.pem"
openssl crl -in "$T/pub/full.crl" -CAfile "$T/inter.pem" -noout 2>&1 | grep -q "verify OK" &&
  pass openssl-crl-verify-full || fail openssl-crl-verify-full "$(openssl crl -in "$T/pub/full.crl" -CAfile "$T/inter.pem" -noout 2>&1)"
openssl crl -inform DER -in "$T/pub/shard-0.crl" -CAfile "$T/inter.pem" -noout 2>&1 | grep -q "verify OK" &&
  pass openssl-crl-verify-shard || fail openssl-crl-verify-shard ""
openssl crl -inform DER -in "$T/pub/shard-0.crl" -noout -text | grep -q "URI:$B/crl/shard-0.crl" &&
  pass crl-shard-idp || fail crl-shard-idp ""
openssl crl -in "$T/pub/full.crl" -noout -text | grep -qi "$ser_ec" && pass crl-lists-serial || fail crl-lists-serial ""
cat "$T/root.pem" "$T/inter.pem" > "$T/anchors.pem"
openssl crl -inform DER -in "$T/pub/shard-0.crl" -out "$T/shard-0.pem"
out=$(openssl verify -crl_check -CRLfile "$T/shard-0.pem" -CAfile "$T/anchors.pem" "$T/ec.crt" 2>&1)
grep -q "certificate revoked" <<<"$out" && pass openssl-sees-revoked || fail openssl-sees-revoked "$out"
out=$(openssl verify -crl_check -CRLfile "$T/pub/full.crl" -CAfile "$T/anchors.pem" "$T/rsa.crt" 2>&1)
grep -q ": OK" <<<"$out" && pass openssl-sees-good || fail openssl-sees-good "$out"

# ---- inventory -----------------------------------------------------------------------
expect_exit 0 inventory-list H inventory list --json
jq_eq inventory-count "$T/last.out" length 5
expect_exit 0 inventory-show H inventory show "$ser_ec" --json
jq_eq inventory-show-status "$T/last.out" .status revoked
jq_eq inventory-show-reason "$T/last.out" .revocation_reason keyCompromise
jq_eq inventory-show-owner "$T/last.out" .owner payments
jq_eq inventory-show-env "$T/last.out" .env prod
expect_exit 0 inventory-show-sha H inventory show "$(jq -r .sha256 "$T/ec.json")"
expect_exit 2 inventory-show-unknown H inventory show 48aaaa
expect_exit 0 expiring-none H inventory expiring --within 1h
expect_exit 1 expiring-30d H inventory expiring --within 30d --json
jq_eq expiring-30d-count "$T/last.out" length 1
expect_exit 1 expiring-short H inventory expiring --within 1d --json
jq_eq expiring-short-which "$T/last.out" '.[0].names[0]' short.example.test
expect_exit 1 expiring-all H inventory expiring --within 100d --json
jq_eq expiring-excludes-revoked "$T/last.out" 'map(select(.status == "revoked")) | length' 0
expect_exit 2 expiring-no-within H inventory expiring

# ---- audit ---------------------------------------------------------------------------
expect_exit 0 audit-verify H audit verify --json
jq_eq audit-ok "$T/last.out" .ok true
expect_exit 0 audit-log H audit log --json
jq_eq audit-has-rejections "$T/last.out" '[.[] | select(.result | startswith("rejected"))] | length > 5' true
jq_eq audit-has-revoke "$T/last.out" '[.[] | select(.action == "cert.revoke" and .result == "ok reason=keyCompromise")] | length' 1
if [[ -z "${STORE_URL:-}" ]] && command -v sqlite3 >/dev/null; then
  # tamper with a copy, so the rest of the test keeps an intact chain
  db="$T/tamper.db"
  cp "$HILT_HOME/hilt.db" "$db"
  sqlite3 "$db" "UPDATE audit SET actor = 'mallory' WHERE seq = 3"
  expect_exit 1 audit-edited "$HILT" audit verify --store "$db"
  grep -q "BROKEN at record 3" "$T/last.out" && pass audit-edited-named || fail audit-edited-named "$(cat "$T/last.out")"
  sqlite3 "$db" "UPDATE audit SET actor = (SELECT actor FROM audit WHERE seq = 2) WHERE seq = 3"
  expect_exit 0 audit-restored "$HILT" audit verify --store "$db"
  sqlite3 "$db" "DELETE FROM audit WHERE seq = 4"
  expect_exit 1 audit-deleted "$HILT" audit verify --json --store "$db"
  jq_eq audit-deleted-first-bad "$T/last.out" .first_bad.seq 4
  cp "$HILT_HOME/hilt.db" "$db"
  sqlite3 "$db" "UPDATE audit SET seq = -5 WHERE seq = 5; UPDATE audit SET seq = 5 WHERE seq = 6; UPDATE audit SET seq = 6 WHERE seq = -5"
  expect_exit 1 audit-reordered "$HILT" audit verify --store "$db"
  grep -q "BROKEN at record 5" "$T/last.out" && pass audit-reordered-named || fail audit-reordered-named "$(cat "$T/last.out")"
elif [[ -z "${STORE_URL:-}" ]]; then
  skip audit-tamper "no sqlite3 CLI to tamper with the store"
fi

# ---- concurrency: two processes at once on one store -----------------------------------
issue_many() { # TAG N
  local i
  for ((i = 0; i < $2; i++)); do
    H ca issue --name "c$1-$i.example.test" --lifetime 1d --out "$T/conc/$1-$i" >/dev/null 2>>"$T/conc/$1.err" || echo "issue $1-$i failed" >>"$T/conc/$1.err"
  done
}
mkdir -p "$T/conc"
issue_many a 20 & pa=$!
issue_many b 20 & pb=$!
wait $pa $pb
if [[ -s "$T/conc/a.err" || -s "$T/conc/b.err" ]]; then
  fail concurrent-issue "$(cat "$T/conc/"*.err | head -5)"
else
  pass concurrent-issue
fi
n=$(for f in "$T"/conc/*.crt; do openssl x509 -in "$f" -noout -serial; done | sort -u | wc -l)
[[ $n == 40 ]] && pass concurrent-unique-serials || fail concurrent-unique-serials "$n distinct serials of 40"
H inventory list --json > "$T/inv.json"
jq_eq concurrent-inventory "$T/inv.json" '[.[] | select(.names[0] | startswith("c"))] | length' 40
# revoke 10 from each process at once: none lost
serials=($(for f in "$T"/conc/*.crt; do openssl x509 -in "$f" -noout -serial | cut -d= -f2; done))
( for s in "${serials[@]:0:10}"; do H ca revoke "$s" --reason superseded >/dev/null || echo "$s" >>"$T/conc/rv.err"; done ) &
( for s in "${serials[@]:10:10}"; do H ca revoke "$s" --reason superseded >/dev/null || echo "$s" >>"$T/conc/rv.err"; done ) &
( H ca crl --out "$T/pub2/full.crl" >/dev/null || echo crl >>"$T/conc/rv.err" ) &
wait
[[ ! -s "$T/conc/rv.err" ]] && pass concurrent-revoke || fail concurrent-revoke "$(cat "$T/conc/rv.err")"
expect_exit 0 crl-after H ca crl --out "$T/pub3/full.crl" --json
jq_eq concurrent-no-lost-revocation "$T/last.out" .revoked 21
expect_exit 0 audit-after-concurrency H audit verify

# ---- PKCS#11: a CA key held in SoftHSM2 ---------------------------------------------------
engine=$(ls /usr/lib/*/engines-3/pkcs11.so 2>/dev/null | head -1)
module=$(ls /usr/lib/softhsm/libsofthsm2.so /usr/lib/*/softhsm/libsofthsm2.so 2>/dev/null | head -1)
if ! command -v softhsm2-util >/dev/null || [[ -z "$module" ]]; then
  skip pkcs11 "softhsm2 is not installed (scripts/install-deps.sh)"
elif [[ -z "$engine" ]]; then
  skip pkcs11 "OpenSSL's pkcs11 engine is not installed (libengine-pkcs11-openssl)"
else
  export SOFTHSM2_CONF="$T/softhsm2.conf"
  mkdir -p "$T/tokens"
  printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$T/tokens" > "$SOFTHSM2_CONF"
  softhsm2-util --init-token --free --label hilt-test --pin 1234 --so-pin 5678 >/dev/null
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/hsm.key" 2>/dev/null
  softhsm2-util --import "$T/hsm.key" --token hilt-test --label ca-key --id 01 --pin 1234 >/dev/null
  rm -f "$T/hsm.key"   # from here on the key exists only in the token
  uri="pkcs11:token=hilt-test;object=ca-key;type=private"
  export HILT_PKCS11_MODULE="$module"
  # libp11's engine leaks its key methods at exit after a failed login; suppress
  # exactly those constructors (hilt itself never calls them) for this one run.
  printf 'leak:EVP_PKEY_meth_new\nleak:EC_KEY_METHOD_new\nleak:RSA_meth_dup\nleak:RSA_meth_new\n' > "$T/p11.supp"
  HILT_PKCS11_PIN=0000 ASAN_OPTIONS="${ASAN_OPTIONS:-}:fast_unwind_on_malloc=0" LSAN_OPTIONS="suppressions=$T/p11.supp" \
    expect_exit 2 pkcs11-wrong-pin H ca init --name hsm --pkcs11 "$uri"
  grep -q "PIN incorrect" "$T/last.err" && pass pkcs11-wrong-pin-msg || fail pkcs11-wrong-pin-msg "$(tail -2 "$T/last.err")"
  export HILT_PKCS11_PIN=1234
  if expect_exit 0 pkcs11-init H ca init --name hsm --pkcs11 "$uri" --crl-url "$B/hsm-crl"; then
    [[ ! -e "$HILT_HOME/ca/hsm/intermediate.key" ]] && pass pkcs11-no-key-file || fail pkcs11-no-key-file "intermediate.key exists"
    expect_exit 0 pkcs11-issue H ca issue --ca hsm --name hsm.example.test --out "$T/hsm-leaf"
    H ca roots --ca hsm --out "$T/hsm-root.pem"
    openssl verify -CAfile "$T/hsm-root.pem" -untrusted "$T/hsm-leaf.chain.pem" "$T/hsm-leaf.crt" >"$T/v.out" 2>&1 &&
      pass pkcs11-openssl-verify || fail pkcs11-openssl-verify "$(cat "$T/v.out")"
    expect_exit 0 pkcs11-revoke H ca revoke "$(openssl x509 -in "$T/hsm-leaf.crt" -noout -serial | cut -d= -f2)"
    expect_exit 0 pkcs11-crl H ca crl --ca hsm --out "$T/hsm-pub/full.crl"
    sed -n '/BEGIN/,/END/p' "$T/hsm-leaf.chain.pem" | awk 'BEGIN{n=0} /BEGIN/{n++} n==2' > "$T/hsm-inter.pem"
    openssl crl -in "$T/hsm-pub/full.crl" -CAfile "$T/hsm-inter.pem" -noout 2>&1 | grep -q "verify OK" &&
      pass pkcs11-crl-verify || fail pkcs11-crl-verify ""
    H audit log --json | jq -e '[.[] | select(.action == "ca.init" and (.object | contains("signer=pkcs11")))] | length == 1' >/dev/null &&
      pass pkcs11-audited || fail pkcs11-audited ""
    # the token's key through the signer process: `ocsp serve` opens the token
    # only in its re-exec'd signer child
    op=$(free_port)
    # started directly, not through H (a function run with & is a subshell: killing
    # it would leave the server running)
    LSAN_OPTIONS="suppressions=$T/p11.supp" "$HILT" ocsp serve --ca hsm --listen "127.0.0.1:$op" \
      ${STORE_URL:+--store "$STORE_URL"} > "$T/hsm-ocsp.log" 2>&1 &
    opid=$!
    _bg_pids+=("$opid")
    if wait_port "$op" 20; then
      out=$(openssl ocsp -issuer "$T/hsm-inter.pem" -cert "$T/hsm-leaf.crt" -url "http://127.0.0.1:$op/" -CAfile "$T/hsm-root.pem" 2>&1)
      grep -q "hsm-leaf.crt: revoked" <<<"$out" && grep -q "Response verify OK" <<<"$out" &&
        pass pkcs11-signer-process-ocsp || fail pkcs11-signer-process-ocsp "$out"
    else
      fail pkcs11-signer-process-ocsp "$(cat "$T/hsm-ocsp.log")"
    fi
    kill "$opid" 2>/dev/null; wait "$opid" 2>/dev/null
    if [[ -z "${STORE_URL:-}" ]] && command -v sqlite3 >/dev/null; then
      ref=$(sqlite3 "$HILT_HOME/hilt.db" "SELECT key_ref FROM ca WHERE name = 'hsm'")
      [[ "$ref" == "$uri" ]] && pass pkcs11-ref-stored || fail pkcs11-ref-stored "$ref"
    fi
  fi
  HILT_PKCS11_PIN=1234 expect_exit 0 pkcs11-pin-in-uri H ca init --name hsm2 --pkcs11 "$uri?pin-value=1234"
  if [[ -z "${STORE_URL:-}" ]] && command -v sqlite3 >/dev/null; then
    ref=$(sqlite3 "$HILT_HOME/hilt.db" "SELECT key_ref FROM ca WHERE name = 'hsm2'")
    [[ "$ref" != *pin-value* ]] && pass pkcs11-pin-not-stored || fail pkcs11-pin-not-stored "$ref"
  fi
fi
exit 0
