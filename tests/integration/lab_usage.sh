#!/usr/bin/env bash
# lab_usage.sh - `hilt lab` as a command: --help, --list (text and JSON,
# --only), bad input (exit 2 with a message naming the argument, nothing left
# listening), a port range already in use, the life cycle of a default run
# (fresh DIR removed at the end, open connections at SIGTERM, no leaks), the
# injectable clock, and `--check` against the real probe.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lab_helpers.bash"

expect_exit 0 "lab --help" "$HILT" lab --help
grep -q -- '--base-port' "$T/last.out" || fail "lab --help mentions --base-port" "$(head -3 "$T/last.out")"

# --list starts and creates nothing
expect_exit 0 "lab --list" "$HILT" lab --list --dir "$T/never"
n_all=$("$HILT" lab --list --json | jq length)
missing=""
for s in healthy expired not-yet-valid clock-skew self-signed untrusted-root incomplete-chain \
         wrong-host revoked rsa-1024 sha1-signature tls10-only no-shared-cipher dh-1024 \
         client-cert-required client-cert-rejected sni-required alpn-mismatch no-shared-group \
         must-staple-without-staple bad-key-usage not-tls stall reset-after-hello refused expiring-soon; do
  grep -q "^$s " "$T/last.out" || missing+=" $s"
done
if [[ -z "$missing" && "$n_all" -ge 26 ]]; then pass "lab --list shows every scenario ($n_all)"; else fail "lab --list shows every scenario" "missing:$missing (json: $n_all)"; fi
if [[ ! -e "$T/never" ]]; then pass "lab --list creates no directory"; else fail "lab --list creates no directory" "$T/never exists"; fi
"$HILT" lab --list --json --base-port 20000 --dir rel/dir --only expired,revoked --only stall >"$T/l.json"
jq_eq "lab --list --json --only" "$T/l.json" '[.[].name] | join(",")' "expired,revoked,stall"
jq_eq "lab --list --json ports" "$T/l.json" '[.[].port] | join(",")' "20001,20008,20022"
jq_eq "lab --list --json args" "$T/l.json" '.[0].args | join(" ")' "--ca-file $PWD/rel/dir/expired/ca.pem 127.0.0.1:20001"
jq_eq "lab --list --json expect" "$T/l.json" '.[0].expect | [.ok, .code, .finding] | tostring' '[false,"cert_expired",null]'
"$HILT" lab --list --json expired stall >"$T/l2.json"
jq_eq "lab --list NAME..." "$T/l2.json" '[.[].name] | join(",")' "expired,stall"

# Bad input: exit 2, a message naming what is wrong, nothing listening.
B=$(lab_base)
bad() { # NAME REGEX ARGS...
  local name=$1 re=$2; shift 2
  if expect_exit 2 "lab $name: exit 2" "$HILT" lab "$@"; then
    grep -qE -- "$re" "$T/last.err" || fail "lab $name: message" "stderr '$(head -c 300 "$T/last.err")' lacks /$re/"
  fi
  if grep -qE 'Sanitizer|runtime error' "$T/last.err"; then fail "lab $name: clean" "$(grep -m2 -E 'Sanitizer|runtime error' "$T/last.err")"; fi
}
bad "--base-port 0" '--base-port.*0' --base-port 0
bad "--base-port 70000" '--base-port.*70000' --base-port 70000
bad "--base-port 65500 (range past 65535)" '--base-port' --base-port 65500
bad "--base-port abc" '--base-port' --base-port abc
bad "--base-port without value" '--base-port' --base-port
bad "--only no-such-scenario" "no-such-scenario" --base-port "$B" --only no-such-scenario
bad "--only empty item" "--only" --base-port "$B" --only expired,,stall
bad "unknown flag" "--frobnicate" --frobnicate
bad "--list --check" "--list" --list --check
touch "$T/afile"
bad "unwritable --dir" "--dir" --base-port "$B" --dir "$T/afile/sub"
bad "unwritable --dir under /proc" "--dir" --base-port "$B" --dir /proc/hilt-lab
if ports_closed "$B" 0 63; then pass "lab bad input leaves nothing listening"; else fail "lab bad input leaves nothing listening" "a port in $B.. accepts"; fi

# A range partly taken: the second lab fails at offset 25 (expiring-soon) and
# must close the 25 ports it had already bound.
if lab_start "$T/a" --only expiring-soon --dir "$T/a"; then
  A=$LAB_BASE; APID=$LAB_PID
  bad "port in use" "in use" --base-port "$A" --dir "$T/b"
  if ports_closed "$A" 0 24; then pass "lab port in use: nothing left listening"; else fail "lab port in use: nothing left listening" "a port in $A..$((A + 24)) accepts"; fi
  LAB_PID=$APID; lab_stop
else
  fail "lab --only expiring-soon starts" "$(head -c 300 "$T/a.err")"
fi

# Default run: fresh DIR under $TMPDIR, removed at the end, even with
# connections open at SIGTERM; ready line names the DIR.
export TMPDIR="$T/tmp"; mkdir -p "$TMPDIR"
if lab_start "$T/d" --only healthy,stall,not-tls,reset-after-hello; then
  dir=$(sed -n 's/^hilt lab: CA files under \(.*\) (scenario list.*/\1/p' "$LAB_ERR")
  if [[ -n "$dir" && -f "$dir/healthy/ca.pem" && "$dir" == "$TMPDIR"/hilt-lab-* ]]; then pass "lab default DIR under \$TMPDIR"; else fail "lab default DIR under \$TMPDIR" "'$dir'"; fi
  jq_eq "lab readiness JSON uses the DIR" "$LAB_OUT" '.[0].args[1]' "$dir/healthy/ca.pem"
  # leave connections open in every state, then stop the lab under them
  exec 5<>"/dev/tcp/127.0.0.1/$(lab_port stall)"
  exec 6<>"/dev/tcp/127.0.0.1/$(lab_port not-tls)"
  exec 7<>"/dev/tcp/127.0.0.1/$(lab_port healthy)"; printf '\x16\x03\x01' >&7
  exec 8<>"/dev/tcp/127.0.0.1/$(lab_port reset-after-hello)"
  exec 9<>"/dev/tcp/127.0.0.1/$((LAB_BASE + 63))"; printf 'GET /healthy/iss' >&9
  sleep 0.3
  lab_stop
  exec 5>&- 6>&- 7>&- 8>&- 9>&-
  if [[ "$LAB_RC" == 0 ]] && ! grep -qE 'Sanitizer|runtime error' "$LAB_ERR"; then
    pass "lab stops with open connections (exit 0, no leaks)"
  else
    fail "lab stops with open connections" "exit $LAB_RC: $(grep -m3 -E 'Sanitizer|runtime error|ERROR' "$LAB_ERR")"
  fi
  if [[ -n "$dir" && ! -e "$dir" ]]; then pass "lab removes the DIR it made"; else fail "lab removes the DIR it made" "$dir is still there"; fi
else
  fail "lab default run starts" "$(head -c 300 "$T/d.err")"
fi
unset TMPDIR

# The HTTP side and the TLS servers' HTTP answers, edge cases included.
if lab_start "$T/h" --only healthy,revoked --dir "$T/h"; then
  H="http://127.0.0.1:$((LAB_BASE + 63))"
  code() { curl -s -o "$T/body" -w '%{http_code}' --max-time 5 "$@"; }
  why=""
  [[ $(code "$H/") == 200 ]] && grep -q '^/revoked/ocsp$' "$T/body" || why+="index; "
  [[ $(code "$H/nope/issuer.der") == 404 ]] || why+="unknown scenario; "
  [[ $(code "$H/healthy/ocsp" -X POST --data-binary x) == 404 ]] || why+="OCSP where none is served; "
  [[ $(code "$H/revoked") == 404 ]] || why+="no second segment; "
  [[ $(code "$H/revoked/issuer.der?x=1#f") == 200 ]] || why+="query ignored; "
  [[ $(code "$H/revoked/ocsp" -X POST -H 'Content-Type: application/ocsp-request' --data-binary garbage) == 200 ]] &&
    openssl ocsp -respin "$T/body" -resp_text -noverify 2>&1 | grep -qi 'malformedrequest' || why+="malformedRequest; "
  [[ $(code "$H/revoked/ocsp" -X POST --data-binary @<(head -c 20000 /dev/zero)) == 413 ]] || why+="oversized POST; "
  if [[ -z "$why" ]]; then pass "lab HTTP endpoints (index, 404s, malformedRequest, size limit)"; else fail "lab HTTP endpoints" "$why"; fi
  p=$(lab_port healthy)
  got=$(curl -sS --max-time 5 --cacert "$T/h/healthy/ca.pem" "https://127.0.0.1:$p/")
  if [[ "$got" == "hilt lab: healthy"* ]]; then pass "lab TLS server answers GET with a body"; else fail "lab TLS server answers GET" "'$got'"; fi
  got=$({ printf 'GET / HTTP/1.1\r\nX: '; head -c 9000 /dev/zero | tr '\0' a; printf '\r\n\r\n'; sleep 1; } |
        timeout 5 openssl s_client -quiet -connect "127.0.0.1:$p" -ign_eof 2>/dev/null | head -n 1 | tr -d '\r')
  if [[ "$got" == "HTTP/1.1 431 "* ]]; then pass "lab TLS server bounds the request head (431)"; else fail "lab TLS server bounds the request head" "'$got'"; fi
  lab_stop
  if [[ "$LAB_RC" == 0 ]] && ! grep -qE 'Sanitizer|runtime error' "$LAB_ERR"; then pass "lab HTTP run stops cleanly"; else fail "lab HTTP run stops cleanly" "$(grep -m3 -E 'Sanitizer|runtime error' "$LAB_ERR")"; fi
else
  fail "lab --only healthy,revoked starts" "$(head -c 300 "$T/h.err")"
fi

# The lab runs on hilt's injectable clock: HILT_FAKE_NOW moves certificates and Date.
if HILT_FAKE_NOW=2031-03-04T05:06:07Z lab_start "$T/f" --only healthy --dir "$T/f"; then
  d=$(curl -sS -k -I --max-time 5 "https://127.0.0.1:$(lab_port healthy)/" | tr -d '\r' | sed -n 's/^Date: //p')
  nb=$(openssl x509 -in "$T/f/healthy/ca.pem" -noout -startdate)
  if [[ "$d" == "Tue, 04 Mar 2031 05:06:"* && "$nb" == *"2031"* ]]; then pass "lab follows HILT_FAKE_NOW"; else fail "lab follows HILT_FAKE_NOW" "Date '$d', root $nb"; fi
  lab_stop
else
  fail "lab with HILT_FAKE_NOW starts" "$(head -c 300 "$T/f.err")"
fi

# --check drives the real probe; exit 0 when every diagnosis matches.
# (a port range found free can be taken before the lab binds it: retry then)
check_run() { # OUT ARGS...
  local out=$1; shift
  for _ in 1 2 3; do
    "$HILT" lab --check --base-port "$(lab_base)" "$@" >"$out" 2>"$out.err"; rc=$?
    [[ $rc == 2 ]] && grep -q 'is in use' "$out.err" && continue
    return 0
  done
}
check_run "$T/check.out" --only healthy,expired,stall,expiring-soon
if [[ $rc == 0 ]] && grep -q '4 scenarios: 4 passed, 0 failed' "$T/check.out"; then
  pass "lab --check (subset)"
else
  fail "lab --check (subset)" "exit $rc: $(tail -n 8 "$T/check.out" | tr '\n' '|') $(head -c 300 "$T/check.out.err")"
fi
check_run "$T/check.json" --json --only healthy
jq_eq "lab --check --json" "$T/check.json" '[.passed, .failed, .results[0].name, .results[0].pass] | tostring' '[1,0,"healthy",true]'
