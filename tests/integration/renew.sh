#!/usr/bin/env bash
# renew.sh - `hilt renew --due` through the real binary, with the clock moved
# by HILT_FAKE_NOW: nothing is due early; at the renewal point (renewBefore,
# or 2/3 of the lifetime with jitter) the certificate is renewed and deployed
# from the spec kept in the store (no manifest directory needed); when the CA
# is unavailable the failure is recorded (inventory show, plan), the run
# exits 1, runs before the backoff ends wait (exit 1, saying until when), and
# the first run after it resumes by itself; `renew NAME` ignores backoff.
source "$(dirname "$0")/../lib.sh"
export HILT_HOME="$T/home"
H() { "$HILT" "$@"; }
at() { local t=$1; shift; HILT_FAKE_NOW=$t "$HILT" "$@"; }
M="$T/m"; O="$T/out"; mkdir -p "$M" "$O"
base=$(date -u +%s)
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }

H ca init --allow-domain example.test >/dev/null
printf 'kind: Certificate\nmetadata: {name: a}\nspec:\n  dnsNames: [a.example.test]\n  duration: 30d\n  renewBefore: 10d\n  targets: [{cert: %s/a.crt, key: %s/a.key}]\n' "$O" "$O" > "$M/a.yaml"
printf 'kind: Certificate\nmetadata: {name: b}\nspec:\n  dnsNames: [b.example.test]\n  duration: 90d\n  targets: [{cert: %s/b.crt, key: %s/b.key}]\n  reload: echo b >> %s/reloads\n' "$O" "$O" "$T" > "$M/b.yaml"
expect_exit 0 renew-apply H apply "$M"
a1=$(openssl x509 -in "$O/a.crt" -noout -serial); b1=$(openssl x509 -in "$O/b.crt" -noout -serial)
rm -rf "$M" # renewal works from the store alone

expect_exit 0 renew-nothing-due at "$(iso $((base + 15 * 86400)))" renew --due --json
jq_eq renew-nothing-due-count "$T/last.out" length 0
# a: renewBefore 10d (jitter up to 1d): due by day 20; b: 2/3 of 90d = day 60, minus up to 7.5d
expect_exit 0 renew-a-due at "$(iso $((base + 20 * 86400 + 60)))" renew --due --json
jq_eq renew-a-due-which "$T/last.out" 'map(.name) | join(",")' a
jq_eq renew-a-due-ok "$T/last.out" '.[0].ok' true
a2=$(openssl x509 -in "$O/a.crt" -noout -serial)
[[ "$a2" != "$a1" ]] && pass renew-a-deployed || fail renew-a-deployed "$a1"
[[ "$(openssl x509 -in "$O/b.crt" -noout -serial)" == "$b1" ]] && pass renew-b-untouched || fail renew-b-untouched ""
expect_exit 0 renew-b-not-yet at "$(iso $((base + 52 * 86400 - 60)))" renew --due --json
jq_eq renew-b-not-yet-count "$T/last.out" 'map(select(.name == "b")) | length' 0

# the CA becomes unavailable at b's renewal point
mv "$HILT_HOME/ca/hilt/intermediate.key" "$T/key.away"
t1=$((base + 60 * 86400 + 60))
expect_exit 1 renew-ca-down at "$(iso $t1)" renew --due --json
jq_eq renew-ca-down-failed "$T/last.out" '.[0].ok' false
jq_eq renew-ca-down-attempts "$T/last.out" '.[0].attempts' 1
jq_eq renew-ca-down-error "$T/last.out" '.[0].error | contains("intermediate.key")' true
next=$(jq -r '.[0].next_attempt_at' "$T/last.out")
nx=$(date -u -d "$next" +%s)
(( nx - t1 >= 50 && nx - t1 <= 70 )) && pass renew-backoff-1min || fail renew-backoff-1min "$((nx - t1)) s"
b_sha=$(openssl x509 -in "$O/b.crt" -outform DER | sha256sum | cut -d' ' -f1)
at "$(iso $t1)" inventory show "$b_sha" --json > "$T/b.json"
jq_eq renew-state-in-inventory "$T/b.json" .renewal.attempts 1
jq_eq renew-state-error-in-inventory "$T/b.json" '.renewal.last_error | contains("cannot read")' true
expect_exit 1 renew-waiting at "$(iso $((t1 + 20)))" renew --due
grep -q "waiting to retry at $next" "$T/last.out" && pass renew-waiting-msg || fail renew-waiting-msg "$(cat "$T/last.out")"
expect_exit 1 renew-second-failure at "$(iso $((nx + 1)))" renew --due --json
jq_eq renew-second-attempts "$T/last.out" '.[0].attempts' 2
next2=$(date -u -d "$(jq -r '.[0].next_attempt_at' "$T/last.out")" +%s)
(( next2 - nx >= 100 && next2 - nx <= 140 )) && pass renew-backoff-doubles || fail renew-backoff-doubles "$((next2 - nx)) s"
# still failing: never silent, and the deployed certificate is unchanged
[[ "$(openssl x509 -in "$O/b.crt" -noout -serial)" == "$b1" ]] && pass renew-failure-keeps-files || fail renew-failure-keeps-files ""
# the CA is back: the next run after the backoff resumes by itself
mv "$T/key.away" "$HILT_HOME/ca/hilt/intermediate.key"
expect_exit 1 renew-still-waiting at "$(iso $((nx + 30)))" renew --due
expect_exit 0 renew-resumes at "$(iso $((next2 + 1)))" renew --due --json
jq_eq renew-resumes-ok "$T/last.out" '.[0].ok' true
[[ "$(openssl x509 -in "$O/b.crt" -noout -serial)" != "$b1" ]] && pass renew-resumed-deployed || fail renew-resumed-deployed ""
[[ -s "$T/reloads" ]] && pass renew-reloaded || fail renew-reloaded ""
b_sha2=$(openssl x509 -in "$O/b.crt" -outform DER | sha256sum | cut -d' ' -f1)
at "$(iso $((next2 + 1)))" inventory show "$b_sha2" --json > "$T/b2.json"
jq_eq renew-state-cleared "$T/b2.json" .renewal null
expect_exit 0 renew-quiet-after at "$(iso $((next2 + 60)))" renew --due --json
jq_eq renew-quiet-after-count "$T/last.out" length 0

# renew NAME: now, whatever the renewal point
a3=$(openssl x509 -in "$O/a.crt" -noout -serial)
expect_exit 0 renew-by-name H renew a --json
[[ "$(openssl x509 -in "$O/a.crt" -noout -serial)" != "$a3" ]] && pass renew-by-name-deployed || fail renew-by-name-deployed ""
expect_exit 2 renew-unknown-name H renew nosuch
expect_exit 2 renew-no-args H renew
expect_exit 2 renew-both H renew --due a
# jitter: a fleet issued together does not renew at one moment
mkdir -p "$T/fleet"
for i in 1 2 3 4 5 6; do
  printf 'kind: Certificate\nmetadata: {name: f%d}\nspec:\n  dnsNames: [f%d.example.test]\n  duration: 90d\n  targets: [{cert: %s/f%d.crt}]\n' "$i" "$i" "$O" "$i" > "$T/fleet/f$i.yaml"
done
H apply "$T/fleet" >/dev/null
H plan "$T/fleet" --json > "$T/fleet.json"
d=$(jq '[.[] | select(.name | startswith("f")) | .renew_at] | unique | length' "$T/fleet.json")
(( d >= 5 )) && pass renew-jitter-spreads || fail renew-jitter-spreads "$d distinct renewal points of 6"
expect_exit 0 renew-audit-verify H audit verify
H audit log --json | jq -e '[.[] | select(.action == "cert.renew" and (.result | startswith("error")))] | length == 2' >/dev/null &&
  pass renew-failures-audited || fail renew-failures-audited ""
exit 0
