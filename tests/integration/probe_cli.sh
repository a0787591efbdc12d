#!/usr/bin/env bash
# hilt probe: bad usage and bad input get a clear message naming what is wrong and exit 2
# (or a dns_failed / connect_refused diagnosis with exit 1), never a crash; --help works.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_pki.sh"

pki_ca root
pki_leaf good root "DNS:localhost,IP:127.0.0.1"
pki_leaf other root "DNS:other"
printf 'not a certificate\n' > "$T/garbage.pem"
printf -- '-----BEGIN CERTIFICATE-----\nMIIB!!!!\n-----END CERTIFICATE-----\n' > "$T/badb64.pem"
: > "$T/empty.pem"

# usage_err NAME PATTERN ARGS...: exit 2 and stderr matches PATTERN
usage_err() {
  local name=$1 pat=$2; shift 2
  "$HILT" probe "$@" >"$T/out" 2>"$T/err"; local rc=$?
  if [[ $rc == 2 ]] && grep -qE -- "$pat" "$T/err"; then pass "$name"
  else fail "$name" "exit $rc, stderr: $(head -c 300 "$T/err")"; fi
}

expect_exit 0 probe-help "$HILT" probe --help
grep -q -- '--ca-file' "$T/last.out" && pass probe-help-lists-flags || fail probe-help-lists-flags "no --ca-file in --help"
usage_err unknown-flag "unknown option '--bogus'" --bogus 127.0.0.1
usage_err missing-target "missing HOST" 
usage_err two-targets "unexpected argument" 127.0.0.1 127.0.0.2
usage_err port-too-big "port '70000' is not a number between 1 and 65535" 127.0.0.1:70000
usage_err port-zero "port '0'" 127.0.0.1:0
usage_err port-text "port 'https'" 127.0.0.1:https
usage_err bad-host "is not a valid host name" 'exa mple.com'
usage_err ca-missing "--ca-file: cannot read /nonexistent/ca.pem" --ca-file /nonexistent/ca.pem 127.0.0.1:1
usage_err ca-garbage "--ca-file: .*garbage.pem: neither PEM" --ca-file "$T/garbage.pem" 127.0.0.1:1
usage_err ca-bad-base64 "badb64.pem:[0-9]+: " --ca-file "$T/badb64.pem" 127.0.0.1:1
usage_err ca-empty "empty file" --ca-file "$T/empty.pem" 127.0.0.1:1
usage_err ca-directory "it is a directory" --ca-file "$T" 127.0.0.1:1
usage_err intermediates-garbage "--intermediates" --intermediates "$T/garbage.pem" 127.0.0.1:1
usage_err client-cert-alone "--client-cert and --client-key go together" --client-cert "$P/good.pem" 127.0.0.1:1
usage_err client-key-mismatch "does not match" --client-cert "$P/good.pem" --client-key "$P/other.key" 127.0.0.1:1
usage_err client-key-garbage "--client-key" --client-cert "$P/good.pem" --client-key "$T/garbage.pem" 127.0.0.1:1
usage_err profile-unknown "unknown profile 'fast'" --profile fast 127.0.0.1:1
usage_err at-malformed "--at 'tomorrow' is not an RFC 3339 time" --at tomorrow 127.0.0.1:1
usage_err timeout-zero "--timeout '0' must be a number" --timeout 0 127.0.0.1:1
usage_err timeout-text "--timeout 'x' must be a number" --timeout x 127.0.0.1:1
usage_err alpn-empty "--alpn ',,'" --alpn ,, 127.0.0.1:1
usage_err sni-ip "SNI cannot carry an IP address" --sni 10.0.0.1 127.0.0.1:1
usage_err sni-and-no-sni "contradict" --sni a.example --no-sni 127.0.0.1:1
usage_err option-needs-value "needs a value" 127.0.0.1 --ca-file

# A name that does not resolve is a finding, not a usage error.
"$HILT" probe --json no-such-host.invalid > "$T/dns.json" 2>"$T/dns.err"; rc=$?
[[ $rc == 1 ]] && pass dns-exit-1 || fail dns-exit-1 "exit $rc"
jq_eq dns-code "$T/dns.json" .diagnosis.code dns_failed
jq_eq dns-ok-false "$T/dns.json" .ok false

# Nothing listening: connect_refused, with the address in the evidence.
port=$(free_port)
"$HILT" probe --json "127.0.0.1:$port" > "$T/ref.json"; rc=$?
[[ $rc == 1 ]] && pass refused-exit-1 || fail refused-exit-1 "exit $rc"
jq_eq refused-code "$T/ref.json" .diagnosis.code connect_refused
jq_eq refused-evidence "$T/ref.json" ".findings[0].evidence[0] | contains(\"127.0.0.1:$port\")" true

# IPv6 literals parse and are reported as such (loopback ::1).
"$HILT" probe --json "[::1]:$port" > "$T/v6.json"; rc=$?
jq_eq ipv6-target "$T/v6.json" .target.host ::1

# JSON output always carries the documented top-level fields.
jq_eq json-shape "$T/ref.json" '[has("target","ok","handshake","chain","diagnosis","findings")] | all' true
