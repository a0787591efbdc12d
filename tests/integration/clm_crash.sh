#!/usr/bin/env bash
# clm_crash.sh - crash safety of `hilt apply` (docs/clm.md): a loop kills
# apply with SIGKILL at random moments while it reissues a certificate
# deployed to two targets in two directories (cert, key, chain and cert,
# key). After every kill:
#   - every target set is one complete revision: each key matches its
#     certificate, each chain starts with it, and both targets hold the same
#     certificate (never a new certificate with an old key, never half);
#   - the store knows that certificate as a revision of the manifest, even
#     before recovery;
#   - after recovery (any hilt plan/apply runs it) the store's current
#     revision is exactly what the files hold, and nothing needs repair.
# First one kill at each step of an apply (HILT_CLM_CRASH_AT, a fault
# injection hook), then CRASH_ROUNDS (default 30) kills at random moments.
source "$(dirname "$0")/../lib.sh"
export HILT_HOME="$T/home"
H() { "$HILT" "$@"; }
ROUNDS=${CRASH_ROUNDS:-30}
M="$T/m"; A="$T/a"; B="$T/b"
mkdir -p "$M" "$A" "$B"
H ca init --allow-domain example.test >/dev/null || { fail crash-setup "ca init"; exit 0; }

manifest() { # DURATION
  cat > "$M/crash.yaml" <<EOF
kind: Certificate
metadata: {name: crash}
spec:
  dnsNames: [crash.example.test]
  duration: $1
  targets:
    - {cert: $A/tls.crt, key: $A/tls.key, chain: $A/chain.pem}
    - {cert: $B/site.pem, key: $B/site.key}
  revisionHistoryLimit: 3
EOF
}

sha_of() { openssl x509 -in "$1" -outform DER 2>/dev/null | sha256sum | cut -d' ' -f1; }
pub_of_cert() { openssl x509 -in "$1" -noout -pubkey 2>/dev/null; }
pub_of_key() { openssl pkey -in "$1" -pubout 2>/dev/null; }

# Is the disk one complete revision? Prints the certificate's SHA-256.
check_files() {
  local s1 s2
  [[ -e "$A/tls.crt" ]] || { [[ ! -e "$A/tls.key" && ! -e "$B/site.pem" ]] && { echo none; return 0; }; echo "partial: A/tls.crt missing" >&2; return 1; }
  s1=$(sha_of "$A/tls.crt"); s2=$(sha_of "$B/site.pem")
  [[ -n "$s1" && "$s1" == "$s2" ]] || { echo "targets differ: $s1 vs $s2" >&2; return 1; }
  [[ "$(pub_of_cert "$A/tls.crt")" == "$(pub_of_key "$A/tls.key")" ]] || { echo "A: key does not match" >&2; return 1; }
  [[ "$(pub_of_cert "$B/site.pem")" == "$(pub_of_key "$B/site.key")" ]] || { echo "B: key does not match" >&2; return 1; }
  [[ "$(sha_of "$A/chain.pem")" == "$s1" ]] || { echo "A: chain does not start with the certificate" >&2; return 1; }
  echo "$s1"
}

# how long one apply takes here, to spread the kills over it
manifest 20d
t0=$(date +%s%N); H apply "$M" >/dev/null 2>&1; t1=$(date +%s%N)
dur_ms=$(( (t1 - t0) / 1000000 )); (( dur_ms < 20 )) && dur_ms=20
echo "one apply takes ${dur_ms} ms; killing $ROUNDS applies at random points in [0, $((dur_ms * 12 / 10))] ms"

bad=0 changed=0 unchanged=0 agreed=0
# every window between the steps of an apply, deterministically
# (HILT_CLM_CRASH_AT makes apply SIGKILL itself there), then random kills
points=(issued written staged linked switched finalized)
for ((i = 1; i <= ${#points[@]} + ROUNDS; i++)); do
  point=${points[$((i - 1))]:-}
  before=$(check_files 2>/dev/null)
  manifest "$((20 + i))d" # always a change: every apply reissues
  if [[ -n "$point" ]]; then
    delay="at $point"
    HILT_CLM_CRASH_AT=$point "$HILT" apply "$M" >/dev/null 2>&1 &
    wait $! 2>/dev/null
    [[ $? == 137 ]] || { bad=$((bad + 1)); fail "crash-point-$point" "apply was not killed at $point"; }
  else
    "$HILT" apply "$M" >/dev/null 2>&1 & # the binary itself, so the kill reaches it
    pid=$!
    delay=$(( RANDOM % (dur_ms * 12 / 10 + 1) ))
    sleep "$(printf '0.%03d' "$delay")" 2>/dev/null || sleep 0
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    delay="${delay} ms"
  fi
  if ! now=$(check_files 2>"$T/why"); then
    bad=$((bad + 1)); fail "crash-$i-files-complete" "after a kill ${delay}: $(cat "$T/why")"; continue
  fi
  [[ "$now" == "$before" ]] && unchanged=$((unchanged + 1)) || changed=$((changed + 1))
  # the store knows these files' certificate, before any recovery
  if [[ "$now" != none ]]; then
    pipe=$(H inventory show "$now" --json 2>/dev/null | jq -r .pipeline)
    [[ "$pipe" == manifest:crash ]] || { bad=$((bad + 1)); fail "crash-$i-store-knows" "sha $now: pipeline '$pipe'"; continue; }
  fi
  # after recovery, the store's current revision is exactly these files
  H plan "$M" --json > "$T/plan.json" 2>"$T/plan.err" || { bad=$((bad + 1)); fail "crash-$i-plan" "$(cat "$T/plan.err")"; continue; }
  cur=$(jq -r '.[0].sha256' "$T/plan.json"); act=$(jq -r '.[0].action' "$T/plan.json")
  if [[ "$now" == none ]]; then
    [[ "$cur" == null ]] && agreed=$((agreed + 1)) || { bad=$((bad + 1)); fail "crash-$i-store-agrees" "no files but store says $cur"; }
  elif [[ "$cur" == "$now" && "$act" != repair ]]; then
    agreed=$((agreed + 1))
  else
    bad=$((bad + 1)); fail "crash-$i-store-agrees" "files $now, store $cur ($act): $(jq -c '.[0]' "$T/plan.json")"
  fi
done
echo "$(( ${#points[@]} + ROUNDS )) kills: $changed left the new revision, $unchanged the old one; store agreed $agreed times"
(( bad == 0 )) && pass "crash-$(( ${#points[@]} + ROUNDS ))-kills-complete-and-agreed ($changed new, $unchanged old)"
(( changed > 0 && unchanged > 0 )) && pass crash-kills-hit-both-sides ||
  skip crash-kills-hit-both-sides "all $ROUNDS kills landed on one side of the commit point ($changed new, $unchanged old)"

# a final apply completes; the chain is intact; no temporary files are left, also
# none a kill left beside `current` (planted here: the kills above may miss that window)
ln -s rev-1 "$A/.hilt/crash/current.hilt-tmp.999999"
expect_exit 0 crash-final-apply H apply "$M"
expect_exit 0 crash-final-unchanged H apply "$M" --json
jq_eq crash-final-action "$T/last.out" '.[0].action' unchanged
leftover=$(find "$A" "$B" -name '*.tmp.*' -o -name '*.hilt-tmp.*' | head -3)
[[ -z "$leftover" ]] && pass crash-no-temp-files || fail crash-no-temp-files "$leftover"
n=$(ls -d "$A"/.hilt/crash/rev-* | wc -l)
(( n <= 4 )) && pass "crash-history-pruned ($n revision dirs)" || fail crash-history-pruned "$n revision directories kept"
H audit log --json > "$T/audit.json"
fwd=$(jq '[.[] | select(.result | contains("recovered"))] | length' "$T/audit.json")
ab=$(jq '[.[] | select(.result | startswith("abandoned"))] | length' "$T/audit.json")
echo "recovery rolled $fwd interrupted applies forward (killed after the switch) and abandoned $ab (killed before it)"
(( fwd >= 1 && ab >= 2 )) && pass crash-recovery-both-ways || fail crash-recovery-both-ways "forward $fwd, abandoned $ab"
expect_exit 0 crash-audit-verify H audit verify
exit 0
