#!/usr/bin/env bash
# clm_nginx.sh - certificates as code end to end with a real nginx: `hilt
# apply` deploys a certificate nginx serves and `hilt probe` finds healthy;
# a reissue is served after the manifest's reload command; `hilt rollback`
# makes nginx serve the earlier certificate again (and the probe is still
# healthy). nginx runs with a master process so `nginx -s reload` works.
source "$(dirname "$0")/../lib.sh"
if ! command -v nginx >/dev/null; then
  skip clm-nginx "nginx is not installed (scripts/install-deps.sh)"
  exit 0
fi
export HILT_HOME="$T/home"
H() { "$HILT" "$@"; }
NG="$T/ng"; TLS="$T/tls"; M="$T/m"
mkdir -p "$NG" "$TLS" "$M"
PORT=$(free_port)
cat > "$NG/nginx.conf" <<EOF
worker_processes 1;
daemon off;
error_log $NG/error.log warn;
pid $NG/nginx.pid;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $NG/body;
    proxy_temp_path $NG/proxy;
    fastcgi_temp_path $NG/fastcgi;
    uwsgi_temp_path $NG/uwsgi;
    scgi_temp_path $NG/scgi;
    server {
        listen 127.0.0.1:$PORT ssl;
        server_name localhost;
        ssl_certificate $TLS/web.chain.pem;
        ssl_certificate_key $TLS/web.key;
        location / { return 200 "ok\n"; }
    }
}
EOF
manifest() { # DURATION
  cat > "$M/web.yaml" <<EOF
kind: Certificate
metadata: {name: web}
spec:
  dnsNames: [localhost]
  ipAddresses: [127.0.0.1]
  duration: $1
  owner: web-team
  targets:
    - {cert: $TLS/web.crt, key: $TLS/web.key, chain: $TLS/web.chain.pem}
  reload: "[ ! -s $NG/nginx.pid ] || nginx -p $NG -c $NG/nginx.conf -s reload"
EOF
}
served() { # the serial nginx presents
  echo | timeout 5 openssl s_client -connect "127.0.0.1:$PORT" -servername localhost 2>/dev/null |
    openssl x509 -noout -serial 2>/dev/null | cut -d= -f2
}
wait_served() { # SERIAL: nginx reloads asynchronously
  local i
  for i in $(seq 1 50); do [[ "$(served)" == "$1" ]] && return 0; sleep 0.1; done
  return 1
}
file_serial() { openssl x509 -in "$TLS/web.crt" -noout -serial | cut -d= -f2; }

H ca init --allow-domain localhost --allow-domain 127.0.0.1 >/dev/null
H ca roots --out "$T/root.pem"
manifest 30d
expect_exit 0 nginx-apply-1 H apply "$M"
s1=$(file_serial)
nginx -t -q -p "$NG" -c "$NG/nginx.conf" 2>"$T/t.err" || { fail nginx-config "$(cat "$T/t.err")"; exit 0; }
bg nginx -p "$NG" -c "$NG/nginx.conf"
wait_port "$PORT" 10 || { fail nginx-start "$(cat "$NG/error.log")"; exit 0; }
[[ "$(served)" == "$s1" ]] && pass nginx-serves-applied || fail nginx-serves-applied "served $(served), applied $s1"
expect_exit 0 nginx-probe-healthy-1 "$HILT" probe --json --ca-file "$T/root.pem" --sni localhost --no-http --no-revocation "127.0.0.1:$PORT"
jq_eq nginx-probe-ok-1 "$T/last.out" .ok true

manifest 31d
expect_exit 0 nginx-apply-2 H apply "$M" --json
jq_eq nginx-apply-2-reloaded "$T/last.out" '.[0].reloaded' true
s2=$(file_serial)
[[ "$s2" != "$s1" ]] && pass nginx-reissued || fail nginx-reissued ""
wait_served "$s2" && pass nginx-serves-reissued || fail nginx-serves-reissued "served $(served), applied $s2"

expect_exit 0 nginx-rollback H rollback web --to 1 --json
jq_eq nginx-rollback-reloaded "$T/last.out" .reloaded true
wait_served "$s1" && pass nginx-serves-rolled-back || fail nginx-serves-rolled-back "served $(served), rev 1 is $s1"
expect_exit 0 nginx-probe-healthy-2 "$HILT" probe --json --ca-file "$T/root.pem" --sni localhost --no-http --no-revocation "127.0.0.1:$PORT"
jq_eq nginx-probe-ok-2 "$T/last.out" .ok true
grep -q "emerg\|crit" "$NG/error.log" && fail nginx-no-errors "$(grep -E 'emerg|crit' "$NG/error.log" | head -3)" || pass nginx-no-errors
exit 0
