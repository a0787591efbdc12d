#!/usr/bin/env bash
# policy_cli.sh - `hilt policy` as a user drives it: valid files, every kind of
# bad input (each a message naming file:line:column and the field, exit 2,
# never a crash), --help everywhere, JSON output, and rendering every target.
source "$(dirname "$0")/../lib.sh"

# expect_err NAME FILE_CONTENT MESSAGE_FRAGMENT: `policy check` exits 2 and says it.
expect_err() {
  local name=$1 content=$2 frag=$3
  printf '%s' "$content" > "$T/$name.yaml"
  if expect_exit 2 "check rejects $name" "$HILT" policy check "$T/$name.yaml"; then
    if grep -qF -- "$frag" "$T/last.err"; then pass "message for $name"
    else fail "message for $name" "stderr '$(head -c 300 "$T/last.err")' lacks '$frag'"; fi
  fi
}

cat > "$T/good.yaml" <<'EOF'
version: 1
profiles:
  web:
    extends: intermediate
    description: shop front
    certificate:
      max_lifetime_days: 90
  api:
    extends: web
    versions: [TLSv1.3]
environments:
  shop:
    profile: web
    endpoints: ["*.shop.example.com:443"]
  devices: iot
EOF
expect_exit 0 "check valid file" "$HILT" policy check "$T/good.yaml"
grep -q '2 profiles: web, api' "$T/last.out" && pass "check lists profiles" || fail "check lists profiles" "$(cat "$T/last.out")"
grep -q 'shop -> web' "$T/last.out" && pass "check lists environments" || fail "check lists environments" "$(cat "$T/last.out")"

expect_err unknown-cipher $'version: 1\nprofiles:\n  web:\n    extends: intermediate\n    ciphers:\n      - ECDHE-ECDSA-AES128-GCM-SHA256\n      - ECDHE-RSA-AES128-GCM-SHA256\n      - ECDHE-ECDSA-AES256-GCM-SHA384\n      - ECDHE-RSA-AES128-GCM-SHA255\n' \
  "unknown-cipher.yaml:9:9: profiles.web.ciphers[3]: unknown cipher 'ECDHE-RSA-AES128-GCM-SHA255'"
expect_err malformed $'profiles:\n  web: {versions: [TLSv1.2\n' "malformed.yaml:3:1: YAML syntax error"
expect_err tab $'profiles:\n\tweb: {}\n' "tab.yaml:2:1: YAML syntax error"
expect_err unknown-key $'profiles:\n  web:\n    extends: modern\n    ocsp: true\n' "unknown-key.yaml:4:5: profiles.web: unknown key 'ocsp'"
expect_err wrong-type $'profiles:\n  web:\n    extends: modern\n    certificate:\n      max_lifetime_days: ninety\n' \
  "wrong-type.yaml:5:26: profiles.web.certificate.max_lifetime_days: expected a whole number, got 'ninety'"
expect_err list-type $'profiles:\n  web:\n    versions: TLSv1.2\n' "list-type.yaml:3:15: profiles.web.versions: expected a list"
expect_err missing-parent $'profiles:\n  web:\n    extends: intermediat\n' "missing-parent.yaml:3:14: profiles.web.extends: unknown profile 'intermediat'"
expect_err cycle $'profiles:\n  a:\n    extends: b\n  b:\n    extends: a\n' "cycle.yaml:5:14: profiles.b.extends: cycle: a -> b -> a"
expect_err unknown-version $'profiles:\n  web:\n    versions: [TLSv1.2, TLS1.4]\n' "unknown-version.yaml:3:25: profiles.web.versions[1]: unknown protocol version 'TLS1.4'"
expect_err unknown-group $'profiles:\n  web:\n    extends: modern\n    groups: [x25519, secp255r1]\n' "unknown-group.yaml:4:22: profiles.web.groups[1]: unknown group 'secp255r1'"
expect_err empty-ciphers $'profiles:\n  web:\n    versions: [TLSv1.2]\n' "empty-ciphers.yaml:2:3: profiles.web: TLSv1.2 or older is enabled but ciphers is empty"
expect_err env-profile $'environments:\n  prod: nosuch\n' "env-profile.yaml:2:9: environments.prod.profile: unknown profile 'nosuch'"
expect_err alias $'a: &x [1]\nprofiles: *x\n' "alias.yaml:2:11: YAML aliases"
expect_err empty '' "empty.yaml:1:1: empty policy"
expect_err binary $'\x01\x02\x03' "binary.yaml:1:1: YAML syntax error"

# Bounds: a 10 MB file and a deeply nested one are refused before any work.
head -c 10485760 /dev/zero | tr '\0' '#' > "$T/huge.yaml"
expect_exit 2 "check rejects a 10 MB file" "$HILT" policy check "$T/huge.yaml" \
  && { grep -q "huge.yaml" "$T/last.err" && grep -q "limit" "$T/last.err" && pass "message for 10 MB file" \
       || fail "message for 10 MB file" "$(cat "$T/last.err")"; }
printf 'profiles: %s\n' "$(printf '[%.0s' $(seq 1 100))" > "$T/deep.yaml"
expect_exit 2 "check rejects deep nesting" "$HILT" policy check "$T/deep.yaml" \
  && { grep -q "deep.yaml:1:.*nested deeper than 16" "$T/last.err" && pass "message for deep nesting" \
       || fail "message for deep nesting" "$(cat "$T/last.err")"; }

# Unreadable input: missing, a directory (root reads anything with mode 000).
expect_exit 2 "check missing file" "$HILT" policy check "$T/nope.yaml" \
  && { grep -q "nope.yaml" "$T/last.err" && pass "message names the missing file" || fail "message names the missing file" "$(cat "$T/last.err")"; }
mkdir "$T/dir.yaml"
expect_exit 2 "check a directory" "$HILT" policy check "$T/dir.yaml" \
  && { grep -q "dir.yaml" "$T/last.err" && pass "message names the unreadable file" || fail "message names the unreadable file" "$(cat "$T/last.err")"; }
if [[ $(id -u) != 0 ]]; then
  printf 'profiles: {}\n' > "$T/noperm.yaml"; chmod 000 "$T/noperm.yaml"
  expect_exit 2 "check unreadable file" "$HILT" policy check "$T/noperm.yaml"
fi

# Usage errors.
expect_exit 2 "show unknown profile" "$HILT" policy show no-such-profile
grep -q "unknown profile 'no-such-profile'" "$T/last.err" && grep -q intermediate "$T/last.err" \
  && pass "unknown profile message lists known ones" || fail "unknown profile message lists known ones" "$(cat "$T/last.err")"
expect_exit 2 "render unknown profile in file" "$HILT" policy render --policy "$T/good.yaml" --profile nope --target nginx
expect_exit 2 "render unknown target" "$HILT" policy render --profile modern --target iis
grep -q "unknown target 'iis'" "$T/last.err" && pass "unknown target message" || fail "unknown target message" "$(cat "$T/last.err")"
expect_exit 2 "render without --profile" "$HILT" policy render --target nginx
expect_exit 2 "render without --target" "$HILT" policy render --profile modern
expect_exit 2 "unknown subcommand" "$HILT" policy frobnicate
expect_exit 2 "unknown option" "$HILT" policy list --colour
expect_exit 2 "check without FILE" "$HILT" policy check
expect_exit 2 "show with a broken --policy" "$HILT" policy show web --policy "$T/cycle.yaml"
grep -q "cycle.yaml:5:14" "$T/last.err" && pass "broken --policy names file:line" || fail "broken --policy names file:line" "$(cat "$T/last.err")"

# --help everywhere, on stdout, exit 0.
for sub in "" check show list render; do
  expect_exit 0 "policy $sub --help" "$HILT" policy $sub --help
  grep -q '^usage: hilt policy' "$T/last.out" && pass "policy $sub --help prints usage" || fail "policy $sub --help prints usage" "$(head -3 "$T/last.out")"
done
"$HILT" --help | grep -q '^  policy ' && pass "policy listed in hilt --help" || fail "policy listed in hilt --help" ""

# show / list, text and JSON.
expect_exit 0 "show built-in" "$HILT" policy show intermediate
grep -q 'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 (0xCCA8)' "$T/last.out" && pass "show prints IANA names and code points" || fail "show prints IANA names and code points" ""
"$HILT" policy show api --policy "$T/good.yaml" --json > "$T/api.json"
jq_eq "show --json versions" "$T/api.json" '.versions | join(",")' "TLSv1.3"
jq_eq "show --json extends" "$T/api.json" '.extends' "web"
jq_eq "show --json inherited lifetime" "$T/api.json" '.certificate.max_lifetime_days' "90"
jq_eq "show --json no TLS 1.2 ciphers" "$T/api.json" '.ciphers | length' "0"
"$HILT" policy show intermediate --json > "$T/int.json"
jq_eq "intermediate has 6 TLS 1.2 ciphers" "$T/int.json" '.ciphers | length' "6"
jq_eq "intermediate cipher code" "$T/int.json" '.ciphers[0].code' "0xC02B"
jq_eq "intermediate TLS 1.3 suites" "$T/int.json" '[.tls13_ciphersuites[].name] | join(",")' \
  "TLS_AES_128_GCM_SHA256,TLS_AES_256_GCM_SHA384,TLS_CHACHA20_POLY1305_SHA256"
"$HILT" policy list --json > "$T/list.json"
jq_eq "list --json built-ins" "$T/list.json" '[.profiles[].name] | join(",")' \
  "modern,intermediate,old,public-web,internal-api,partner,iot"
"$HILT" policy list --policy "$T/good.yaml" --json > "$T/list2.json"
jq_eq "list --json file environments" "$T/list2.json" '[.environments[] | .name + "=" + .profile] | join(",")' "shop=web,devices=iot"
expect_exit 0 "list text" "$HILT" policy list

# Every target renders every built-in profile, with the hilt header.
for prof in modern intermediate old public-web internal-api partner iot; do
  for t in nginx haproxy apache envoy openssl java stunnel; do
    if "$HILT" policy render --profile "$prof" --target "$t" > "$T/r.out" 2>"$T/r.err" \
       && grep -q "Generated by hilt: policy profile '$prof' for $t" "$T/r.out"; then
      pass "render $prof for $t"
    else
      fail "render $prof for $t" "$(head -c 300 "$T/r.err")"
    fi
  done
done
exit 0
