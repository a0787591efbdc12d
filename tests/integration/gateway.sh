#!/usr/bin/env bash
# gateway.sh - `hilt gateway` against real peers on loopback.
#   clients: curl, openssl s_client, gnutls-cli
#   backends: nginx plain, nginx TLS (verified), a TLS 1.0-only nginx reached through
#   translation (while a TLS 1.0 client is refused at the front), a PROXY v2 backend
#   that reports the identity it was given (mTLS)
#   events for every client-triggerable failure with its catalogue code; /metrics,
#   /status, /observed; Prometheus (Debian's) scraping /metrics; a bad config rejected
#   on reload (SIGHUP and POST /reload) while the old one serves; hot certificate
#   rotation every second under load with zero failed handshakes.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../lib_pki.sh"

for tool in nginx curl gnutls-cli python3 jq cc; do
  command -v "$tool" >/dev/null || { skip "gateway_$tool" "$tool not installed (scripts/install-deps.sh)"; exit 0; }
done

# ---- PKI (minted now, with the openssl CLI) -----------------------------------
pki_ca root
pki_leaf srv root "DNS:localhost,DNS:api.localhost,IP:127.0.0.1"
pki_leaf srvrsa root "DNS:localhost,DNS:api.localhost,IP:127.0.0.1" 60 rsa:2048
pki_leaf other root "DNS:other.test"
pki_ca clientca
pki_leaf alice clientca "DNS:alice" 60 ec sha256 "extendedKeyUsage=clientAuth"
pki_leaf mallory clientca "DNS:mallory" 60 ec sha256 "extendedKeyUsage=clientAuth"
pki_ca rogue
pki_leaf eve rogue "DNS:eve" 60 ec sha256 "extendedKeyUsage=clientAuth"
pki_leaf legacy root "DNS:legacy.internal" 60 rsa:2048
pki_leaf upstream root "DNS:upstream.internal"
cat "$P/srv.pem" "$P/root.pem" > "$P/srv-chain.pem"

# ---- backends -----------------------------------------------------------------
NGX=$T/nginx; mkdir -p "$NGX"
P_PLAIN=$(free_port); P_TLS=$(free_port); P_LEGACY=$(free_port); P_PP2=$(free_port); P_UMTLS=$(free_port)
cat > "$NGX/nginx.conf" <<EOF
worker_processes 1;
daemon off;
master_process off;
error_log $NGX/error.log warn;
pid $NGX/nginx.pid;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $NGX/body; proxy_temp_path $NGX/proxy; fastcgi_temp_path $NGX/fcgi;
    uwsgi_temp_path $NGX/uwsgi; scgi_temp_path $NGX/scgi;
    server { listen 127.0.0.1:$P_PLAIN; location / { return 200 "plain-backend\n"; } }
    server {
        listen 127.0.0.1:$P_TLS ssl;
        ssl_certificate $P/upstream.pem; ssl_certificate_key $P/upstream.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        location / { return 200 "tls-backend \$ssl_protocol\n"; }
    }
    server {
        listen 127.0.0.1:$P_UMTLS ssl;
        ssl_certificate $P/upstream.pem; ssl_certificate_key $P/upstream.key;
        ssl_verify_client on; ssl_client_certificate $P/clientca.pem;
        location / { return 200 "upstream-mtls \$ssl_client_s_dn\n"; }
    }
    server {
        listen 127.0.0.1:$P_LEGACY ssl;
        ssl_certificate $P/legacy.pem; ssl_certificate_key $P/legacy.key;
        ssl_protocols TLSv1;
        ssl_ciphers DEFAULT:@SECLEVEL=0;
        location / { return 200 "legacy-backend \$ssl_protocol \$ssl_cipher\n"; }
    }
}
EOF
nginx -t -q -p "$NGX" -c "$NGX/nginx.conf" 2>"$T/nginx-t.err" || { fail gateway_nginx "$(cat "$T/nginx-t.err")"; exit 0; }
bg nginx -p "$NGX" -c "$NGX/nginx.conf"
wait_port "$P_PLAIN" && wait_port "$P_LEGACY" || { fail gateway_nginx "nginx did not start: $(tail -3 "$NGX/error.log")"; exit 0; }

# PROXY v2 backend: parses the header (haproxy's proxy-protocol.txt §2.2), answers
# an HTTP request with what it learnt, as JSON.
cat > "$T/pp2.py" <<'EOF'
import json, socket, struct, sys, threading
SIG = b"\r\n\r\n\x00\r\nQUIT\n"
def recvn(c, n):
    b = b""
    while len(b) < n:
        x = c.recv(n - len(b))
        if not x: raise EOFError
        b += x
    return b
def tlvs(b, out, names):
    i = 0
    while i + 3 <= len(b):
        t, l = b[i], struct.unpack(">H", b[i+1:i+3])[0]
        v = b[i+3:i+3+l]; i += 3 + l
        if t == 0x20:
            out["ssl_client"] = v[0]; out["ssl_verify"] = struct.unpack(">I", v[1:5])[0]
            tlvs(v[5:], out, names)
        elif t in names: out[names[t]] = v.decode("utf-8", "replace")
def handle(c):
    try:
        h = recvn(c, 16)
        assert h[:12] == SIG and h[12] == 0x21
        body = recvn(c, struct.unpack(">H", h[14:16])[0])
        out = {}
        if h[13] == 0x11:
            out["src"] = socket.inet_ntoa(body[0:4]) + ":" + str(struct.unpack(">H", body[8:10])[0])
            body = body[12:]
        tlvs(body, out, {1: "alpn", 2: "authority", 0x21: "version", 0x22: "cn", 0x23: "cipher",
                         0xE0: "subject", 0xE1: "ja4"})
        req = b""
        while b"\r\n\r\n" not in req:
            x = c.recv(4096)
            if not x: break
            req += x
        data = json.dumps(out).encode()
        c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n" % len(data) + data)
    except Exception as e:
        sys.stderr.write("pp2: %r\n" % e)
    finally:
        c.close()
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(64)
while True:
    c, _ = s.accept(); threading.Thread(target=handle, args=(c,), daemon=True).start()
EOF
bg python3 "$T/pp2.py" "$P_PP2"
wait_port "$P_PP2" || { fail gateway_pp2 "PROXY v2 backend did not start"; exit 0; }

# the load client and echo backend
cc -O2 -o "$T/gl" "$ROOT/tests/integration/gateway_load.c" -lssl -lcrypto 2>"$T/cc.err" || { fail gateway_load_cc "$(cat "$T/cc.err")"; exit 0; }
P_ECHO=$(free_port)
bg "$T/gl" -m echod -p "$P_ECHO"
wait_port "$P_ECHO" || { fail gateway_echod "echo backend did not start"; exit 0; }

# ---- the gateway --------------------------------------------------------------
GW=$T/gw; mkdir -p "$GW"
cp "$P/srv-chain.pem" "$GW/cert.pem"; cp "$P/srv.key" "$GW/key.pem"
L_WEB=$(free_port); L_TLS=$(free_port); L_LEGACY=$(free_port); L_MTLS=$(free_port)
L_STRICT=$(free_port); L_MID=$(free_port); L_ECHO=$(free_port); ADMIN=$(free_port); L_UMTLS=$(free_port)
cat > "$GW/policy.yaml" <<EOF
profiles:
  legacy-tls10:
    description: "the TLS 1.0 appliance"
    versions: [TLSv1.0]
    ciphers: [ECDHE-RSA-AES128-SHA, AES128-SHA]
EOF
write_config() { # $1: profile of the web listener (a bad name makes a bad config)
  cat > "$GW/gw.yaml" <<EOF
policy: policy.yaml
workers: 2
listeners:
  - name: web
    listen: 127.0.0.1:$L_WEB
    profile: $1
    certificates:
      - {cert: cert.pem, key: key.pem}
      - {cert: $P/srvrsa.pem, key: $P/srvrsa.key}
    routes:
      - {sni: "*", backend: plain}
    timeouts: {handshake: 1s}
  - name: tlsback
    listen: 127.0.0.1:$L_TLS
    profile: modern
    certificates: [{cert: cert.pem, key: key.pem}]
    routes: [{sni: "*", backend: tls}]
  - name: legacy
    listen: 127.0.0.1:$L_LEGACY
    profile: modern
    certificates: [{cert: cert.pem, key: key.pem}]
    routes: [{sni: "*", backend: appliance}]
  - name: mtls
    listen: 127.0.0.1:$L_MTLS
    profile: intermediate
    certificates: [{cert: cert.pem, key: key.pem}]
    client_auth: {mode: required, ca: $P/clientca.pem, subjects: ["CN=alice"]}
    proxy_protocol: v2
    alpn: [http/1.1]
    routes: [{sni: "*", backend: pp2}]
  - name: strict
    listen: 127.0.0.1:$L_STRICT
    profile: intermediate
    strict_sni: true
    alpn: [h2, http/1.1]
    certificates: [{cert: cert.pem, key: key.pem}]
    routes: [{sni: localhost, backend: plain}]
  - name: mid
    listen: 127.0.0.1:$L_MID
    profile: intermediate
    certificates: [{cert: cert.pem, key: key.pem}]
    routes: [{sni: "*", backend: plain}]
  - name: umtls
    listen: 127.0.0.1:$L_UMTLS
    profile: modern
    certificates: [{cert: cert.pem, key: key.pem}]
    routes: [{sni: "*", backend: umtls}]
  - name: echo
    listen: 127.0.0.1:$L_ECHO
    profile: modern
    certificates: [{cert: cert.pem, key: key.pem}]
    routes: [{sni: "*", backend: echo}]
backends:
  - name: plain
    servers: ["127.0.0.1:$P_PLAIN"]
    tls: {enabled: false}
  - name: tls
    servers: ["127.0.0.1:$P_TLS"]
    tls: {enabled: true, ca: $P/root.pem, sni: upstream.internal}
  - name: appliance
    servers: ["127.0.0.1:$P_LEGACY"]
    tls: {enabled: true, profile: legacy-tls10, ca: $P/root.pem, sni: legacy.internal}
  - name: pp2
    servers: ["127.0.0.1:$P_PP2"]
  - name: umtls
    servers: ["127.0.0.1:$P_UMTLS"]
    tls: {enabled: true, ca: $P/root.pem, sni: upstream.internal, cert: $P/alice.pem, key: $P/alice.key}
  - name: echo
    servers: ["127.0.0.1:$P_ECHO"]
    health: {interval: 500ms, timeout: 300ms, rise: 1, fall: 1}
admin:
  listen: 127.0.0.1:$ADMIN
events: {file: events.jsonl}
watch: 200ms
EOF
}
write_config modern
expect_exit 0 gateway_check "$HILT" gateway -c "$GW/gw.yaml" --check
"$HILT" gateway -c "$GW/gw.yaml" > "$T/gw.log" 2>&1 &
GWPID=$!; _bg_pids+=($GWPID)
wait_port "$ADMIN" 20 && wait_port "$L_WEB" 5 || { fail gateway_start "$(tail -5 "$T/gw.log")"; exit 0; }

EV=$GW/events.jsonl
# Each worker writes its own events in batches, so the file is in time order per
# worker only: "newest" means the latest time, not the last line.
ev_last() { sleep 0.3; jq -c -s 'sort_by(.time) | last' "$EV"; }
expect_code() { # NAME LISTENER CODE: the newest event of LISTENER carries CODE
  local name=$1 lst=$2 want=$3 got i
  # events are written by the worker shortly after the handshake ends: wait for it
  for i in $(seq 50); do
    sleep 0.1
    got=$(jq -r -s --arg l "$lst" 'map(select(.listener == $l)) | sort_by(.time) | last | .code' "$EV")
    [[ "$got" == "$want" ]] && break
  done
  if [[ "$got" == "$want" ]]; then pass "$name"; else fail "$name" "code '$got', wanted '$want' ($(grep "\"$lst\"" "$EV" | tail -n 3))"; fi
}
curl_gw() { curl -sS --max-time 10 --cacert "$P/root.pem" --resolve "localhost:$1:127.0.0.1" "${@:2}" "https://localhost:$1/"; }

# ---- clients through the gateway ----------------------------------------------
out=$(curl_gw "$L_WEB" 2>&1)
[[ "$out" == "plain-backend" ]] && pass gateway_curl_plain_backend || fail gateway_curl_plain_backend "$out"
jq_eq gateway_event_ok "$(ev_last > "$T/e1"; echo "$T/e1")" '[.result, .listener, .version, .backend, (.ja4 | test("^t13d"))] | join(" ")' "ok web TLSv1.3 plain true"
out=$(printf 'GET / HTTP/1.0\r\nHost: localhost\r\n\r\n' | timeout 10 openssl s_client -quiet -connect "127.0.0.1:$L_WEB" -servername localhost -CAfile "$P/root.pem" -verify_return_error 2>/dev/null | tail -n 1)
[[ "$out" == "plain-backend" ]] && pass gateway_s_client || fail gateway_s_client "$out"
out=$(printf 'GET / HTTP/1.0\r\nHost: localhost\r\n\r\n' | timeout 10 gnutls-cli --x509cafile="$P/root.pem" -p "$L_WEB" 127.0.0.1 --sni-hostname localhost --verify-hostname localhost 2>&1 | grep -a plain-backend)
[[ "$out" == "plain-backend" ]] && pass gateway_gnutls_cli || fail gateway_gnutls_cli "$(printf 'GET / HTTP/1.0\r\n\r\n' | timeout 10 gnutls-cli --x509cafile="$P/root.pem" -p "$L_WEB" 127.0.0.1 2>&1 | tail -5)"
# RSA and ECDSA side by side: an RSA-only client gets the RSA certificate
timeout 10 openssl s_client -connect "127.0.0.1:$L_WEB" -servername localhost -sigalgs rsa_pss_rsae_sha256:rsa_pkcs1_sha256 </dev/null 2>/dev/null | openssl x509 -noout -text 2>/dev/null | grep -q "rsaEncryption" \
  && pass gateway_rsa_and_ecdsa || fail gateway_rsa_and_ecdsa "RSA-only client did not get the RSA certificate"
timeout 10 openssl s_client -connect "127.0.0.1:$L_WEB" -servername localhost </dev/null 2>/dev/null | openssl x509 -noout -text 2>/dev/null | grep -q "id-ecPublicKey" \
  && pass gateway_ecdsa_default || fail gateway_ecdsa_default "default client did not get ECDSA"

# TLS backend, verified against its CA
out=$(curl_gw "$L_TLS" 2>&1)
[[ "$out" == tls-backend\ TLSv1.* ]] && pass gateway_tls_backend || fail gateway_tls_backend "$out"

# upstream mTLS: the gateway presents its client certificate to the backend
out=$(curl_gw "$L_UMTLS" 2>&1)
[[ "$out" == "upstream-mtls CN=alice" ]] && pass gateway_upstream_mtls || fail gateway_upstream_mtls "$out"

# the legacy appliance: only TLS 1.0, reached through translation
timeout 10 openssl s_client -connect "127.0.0.1:$P_LEGACY" -tls1_2 </dev/null >"$T/direct12" 2>&1
grep -q "Cipher is (NONE)\|no protocols available\|alert protocol version\|wrong version" "$T/direct12" && pass gateway_legacy_backend_is_tls10_only || fail gateway_legacy_backend_is_tls10_only "nginx accepted TLS 1.2 directly"
out=$(curl_gw "$L_LEGACY" 2>&1)
[[ "$out" == "legacy-backend TLSv1 "* ]] && pass gateway_legacy_translation || fail gateway_legacy_translation "$out"
out=$(curl -sS --max-time 10 -k --tlsv1.0 --tls-max 1.0 --ciphers 'DEFAULT:@SECLEVEL=0' "https://127.0.0.1:$L_LEGACY/" 2>&1)
[[ "$out" != legacy-backend* ]] && pass gateway_legacy_client_refused || fail gateway_legacy_client_refused "$out"
expect_code gateway_event_tls10_client legacy protocol_version_mismatch

# mTLS with the identity carried to the backend in PROXY v2
out=$(curl_gw "$L_MTLS" --cert "$P/alice.pem" --key "$P/alice.key" 2>&1)
echo "$out" > "$T/pp2.json"
jq_eq gateway_pp2_identity "$T/pp2.json" '[.cn, .subject, .ssl_verify, .ssl_client, .version, .authority, .alpn, (.ja4|test("^t1"))] | map(tostring) | join("|")' "alice|CN=alice|0|3|TLSv1.3|localhost|http/1.1|true"
jq_eq gateway_pp2_source "$T/pp2.json" '.src | startswith("127.0.0.1:")' "true"
jq_eq gateway_event_client_subject "$(ev_last > "$T/e2"; echo "$T/e2")" '.client_subject' "CN=alice"
curl_gw "$L_MTLS" >/dev/null 2>&1
expect_code gateway_event_client_cert_required mtls client_cert_required
curl_gw "$L_MTLS" --cert "$P/eve.pem" --key "$P/eve.key" >/dev/null 2>&1
expect_code gateway_event_client_cert_untrusted mtls client_cert_rejected
curl_gw "$L_MTLS" --cert "$P/mallory.pem" --key "$P/mallory.key" >/dev/null 2>&1
expect_code gateway_event_client_subject_refused mtls client_cert_rejected

# every failure a client can cause, with its code
timeout 10 openssl s_client -connect "127.0.0.1:$L_WEB" -servername localhost -tls1_2 </dev/null >/dev/null 2>&1
expect_code gateway_event_version web protocol_version_mismatch
timeout 10 openssl s_client -connect "127.0.0.1:$L_MID" -servername localhost -tls1_2 -cipher AES128-SHA </dev/null >/dev/null 2>&1
expect_code gateway_event_cipher mid no_shared_cipher
timeout 10 openssl s_client -connect "127.0.0.1:$L_WEB" -servername localhost -groups ffdhe2048 </dev/null >/dev/null 2>&1
expect_code gateway_event_group web no_shared_group
timeout 10 openssl s_client -connect "127.0.0.1:$L_STRICT" -servername nope.test </dev/null >/dev/null 2>&1
expect_code gateway_event_sni_unknown strict sni_required
timeout 10 openssl s_client -connect "127.0.0.1:$L_STRICT" -noservername </dev/null >/dev/null 2>&1
expect_code gateway_event_sni_missing strict sni_required
timeout 10 openssl s_client -connect "127.0.0.1:$L_STRICT" -servername localhost -alpn spdy/1 </dev/null >/dev/null 2>&1
expect_code gateway_event_alpn strict alpn_mismatch
timeout 10 openssl s_client -connect "127.0.0.1:$L_WEB" -servername localhost -verify_return_error -CAfile "$P/rogue.pem" </dev/null >/dev/null 2>&1
expect_code gateway_event_untrusted_root web untrusted_root
curl -sS --max-time 5 "http://127.0.0.1:$L_WEB/" >/dev/null 2>&1
expect_code gateway_event_not_tls web not_tls
timeout 10 gnutls-cli --x509cafile="$P/rogue.pem" -p "$L_WEB" 127.0.0.1 --sni-hostname localhost </dev/null >/dev/null 2>&1
expect_code gateway_event_untrusted_root_gnutls web untrusted_root
timeout 10 gnutls-cli --x509cafile="$P/root.pem" -p "$L_WEB" 127.0.0.1 --sni-hostname wrong.test --verify-hostname wrong.test </dev/null >/dev/null 2>&1
expect_code gateway_event_hostname_gnutls web hostname_mismatch
python3 - "$L_WEB" <<'EOF'
import socket, struct, sys, time
# a silent client (the handshake timeout, 1 s) and a client that resets mid-handshake
a = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
time.sleep(1.6); a.close()
b = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
b.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
time.sleep(0.2)
b.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)); b.close()
EOF
sleep 0.5
n=$(jq -r 'select(.listener=="web") | .code' "$EV" | tail -n 2 | sort | tr '\n' ' ')
[[ "$n" == "connection_reset handshake_timeout " ]] && pass gateway_event_timeout_and_reset || fail gateway_event_timeout_and_reset "last codes: $n"
jq -e 'select(.result=="failed") | select(.code==null)' "$EV" >/dev/null && fail gateway_events_all_coded "a failed event without a code" || pass gateway_events_all_coded
jq -c . "$EV" >/dev/null 2>&1 && pass gateway_events_are_json || fail gateway_events_are_json "bad JSON line"

# ---- admin API --------------------------------------------------------------
curl -sS "http://127.0.0.1:$ADMIN/metrics" > "$T/metrics"
for m in 'hilt_handshakes_total{listener="web",result="ok",reason="none",version="TLSv1.3"}' \
         'hilt_handshakes_total{listener="web",result="failed",reason="protocol_version_mismatch",version="unknown"}' \
         'hilt_handshakes_total{listener="mtls",result="failed",reason="client_cert_rejected"' \
         'hilt_handshake_duration_seconds_bucket{listener="web",result="ok",le="+Inf"}' \
         'hilt_active_connections{listener=' 'hilt_bytes_total{listener="web",direction="out"}' \
         'hilt_certificate_expiry_timestamp_seconds{listener="web",subject="CN=srv"' \
         'hilt_backend_up{backend="echo"' 'hilt_config_generation '; do
  grep -qF "$m" "$T/metrics" && pass "gateway_metric ${m%%\{*}" || fail "gateway_metric ${m%%\{*}" "missing $m"
done
expiry=$(grep -F 'hilt_certificate_expiry_timestamp_seconds{listener="web",subject="CN=srv"' "$T/metrics" | head -1 | awk '{print $2}')
want=$(date -d "$(openssl x509 -in "$P/srv.pem" -noout -enddate | cut -d= -f2)" +%s)
[[ "$expiry" == "$want" ]] && pass gateway_metric_expiry_value || fail gateway_metric_expiry_value "$expiry != $want"
curl -sS "http://127.0.0.1:$ADMIN/status" > "$T/status"
jq_eq gateway_status "$T/status" '[.listeners[0].name, .listeners[0].profile, (.listeners[0].variant|length), .backends[1].tls] | map(tostring) | join(" ")' "web modern 12 true"
curl -sS "http://127.0.0.1:$ADMIN/observed" > "$T/observed"
jq_eq gateway_observed_shape "$T/observed" '.clients | map(has("ja4") and has("versions") and has("ciphers") and has("groups") and has("sigalgs") and has("alpn") and has("sni") and has("count") and has("first_seen") and has("last_seen")) | all' "true"
jq_eq gateway_observed_tls10 "$T/observed" '[.clients[] | select(.versions == ["TLSv1.0"]) | .last_code] | first' "protocol_version_mismatch"
jq_eq gateway_observed_iana "$T/observed" '[.clients[].ciphers[]] | map(test("^(TLS_|0x)")) | all' "true"
jq_eq gateway_observed_no_grease "$T/observed" '[.clients[].ciphers[] | select(test("^0x.a.a$"))] | length' "0"

# ---- Prometheus from Debian scrapes /metrics -----------------------------------
if command -v prometheus >/dev/null; then
  PP=$(free_port)
  cat > "$T/prom.yml" <<EOF
global: {scrape_interval: 1s}
scrape_configs:
  - job_name: hilt
    static_configs: [{targets: ["127.0.0.1:$ADMIN"]}]
EOF
  bg prometheus --config.file="$T/prom.yml" --storage.tsdb.path="$T/promdata" --web.listen-address="127.0.0.1:$PP" --log.level=warn
  got=""
  for _ in $(seq 1 60); do
    got=$(curl -s "http://127.0.0.1:$PP/api/v1/query?query=sum(hilt_handshakes_total)" 2>/dev/null | jq -r '.data.result[0].value[1] // empty' 2>/dev/null)
    [[ -n "$got" ]] && break
    sleep 0.5
  done
  [[ -n "$got" && "$got" -gt 10 ]] && pass gateway_prometheus_scrape || fail gateway_prometheus_scrape "no hilt_handshakes_total in Prometheus (got '$got')"
  up=$(curl -s "http://127.0.0.1:$PP/api/v1/query?query=up" | jq -r '.data.result[0].value[1]')
  [[ "$up" == 1 ]] && pass gateway_prometheus_target_up || fail gateway_prometheus_target_up "up=$up"
else
  skip gateway_prometheus_scrape "prometheus not installed (scripts/install-deps.sh)"
fi

# ---- reloads ------------------------------------------------------------------
gen0=$(curl -s "http://127.0.0.1:$ADMIN/status" | jq .generation)
write_config modrn
kill -HUP $GWPID; sleep 0.6
out=$(curl_gw "$L_WEB" 2>&1)
[[ "$out" == "plain-backend" ]] && pass gateway_bad_reload_keeps_serving || fail gateway_bad_reload_keeps_serving "$out"
grep -q "reload rejected.*gw.yaml:[0-9]*:[0-9]*: listeners\[0\].profile: unknown profile 'modrn'" "$T/gw.log" && pass gateway_bad_reload_logged || fail gateway_bad_reload_logged "$(grep -i reload "$T/gw.log" | tail -2)"
curl -s -X POST "http://127.0.0.1:$ADMIN/reload" > "$T/reload.json"
jq_eq gateway_bad_reload_api "$T/reload.json" '.ok' "false"
jq_eq gateway_bad_reload_status "$T/reload.json" '.error | test("unknown profile .modrn.")' "true"
[[ $(curl -s "http://127.0.0.1:$ADMIN/status" | jq .generation) == "$gen0" ]] && pass gateway_bad_reload_same_generation || fail gateway_bad_reload_same_generation "generation changed"
write_config modern
kill -HUP $GWPID; sleep 0.6
[[ $(curl -s "http://127.0.0.1:$ADMIN/status" | jq .generation) -gt "$gen0" ]] && pass gateway_good_reload || fail gateway_good_reload "generation did not move"
grep -q 'hilt_config_reloads_total{result="failure"} [1-9]' <(curl -s "http://127.0.0.1:$ADMIN/metrics") && pass gateway_metric_reload_failures || fail gateway_metric_reload_failures "not counted"

# ---- hot rotation under load: a new certificate every second, zero failures ----
serial0=$(timeout 5 openssl s_client -connect "127.0.0.1:$L_ECHO" -servername localhost </dev/null 2>/dev/null | openssl x509 -noout -serial)
gen0=$(curl -s "http://127.0.0.1:$ADMIN/status" | jq .generation)
"$T/gl" -p "$L_ECHO" -n 4000 -c 16 -x > "$T/rot-load.out" 2>&1 &
LOADPID=$!
for i in 1 2 3 4 5 6; do
  pki_leaf "rot$i" root "DNS:localhost,IP:127.0.0.1"
  # each file is replaced atomically; the pair may briefly mismatch, which a reload rejects
  cat "$P/rot$i.pem" "$P/root.pem" > "$GW/cert.pem.tmp" && mv "$GW/cert.pem.tmp" "$GW/cert.pem"
  cp "$P/rot$i.key" "$GW/key.pem.tmp" && mv "$GW/key.pem.tmp" "$GW/key.pem"
  sleep 1
  kill -0 $LOADPID 2>/dev/null || break
done
wait $LOADPID; rc=$?
gen1=$(curl -s "http://127.0.0.1:$ADMIN/status" | jq .generation)
serial1=$(timeout 5 openssl s_client -connect "127.0.0.1:$L_ECHO" -servername localhost </dev/null 2>/dev/null | openssl x509 -noout -serial)
if [[ $rc == 0 ]] && grep -q "failed=0" "$T/rot-load.out"; then pass gateway_rotation_zero_failures; else fail gateway_rotation_zero_failures "$(cat "$T/rot-load.out")"; fi
(( gen1 - gen0 >= 3 )) && pass gateway_rotation_reloaded "$((gen1 - gen0)) generations" || fail gateway_rotation_reloaded "generations $gen0 -> $gen1"
[[ "$serial0" != "$serial1" && -n "$serial1" ]] && pass gateway_rotation_new_certificate || fail gateway_rotation_new_certificate "$serial0 / $serial1"
failed_ev=$(jq -r 'select(.listener=="echo" and .result=="failed") | .code' "$EV" | wc -l)
[[ $failed_ev == 0 ]] && pass gateway_rotation_no_failed_events || fail gateway_rotation_no_failed_events "$failed_ev failed handshakes on the echo listener"

# ---- orderly stop, and no sanitizer report --------------------------------------
kill -TERM $GWPID; wait $GWPID; rc=$?
[[ $rc == 0 ]] && pass gateway_sigterm_exit0 || fail gateway_sigterm_exit0 "exit $rc"
grep -q "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error" "$T/gw.log" && fail gateway_sanitizers "$(grep -A5 'ERROR' "$T/gw.log" | head -20)" || pass gateway_sanitizers

# ---- bad input at start: exit 2 with the position -------------------------------
write_config modrn
expect_exit 2 gateway_bad_config_exit2 "$HILT" gateway -c "$GW/gw.yaml"
grep -q "gw.yaml:[0-9]*:[0-9]*: listeners\[0\].profile" "$T/last.err" && pass gateway_bad_config_message || fail gateway_bad_config_message "$(cat "$T/last.err")"
expect_exit 2 gateway_missing_config "$HILT" gateway -c "$T/nope.yaml"
expect_exit 2 gateway_no_args "$HILT" gateway
expect_exit 0 gateway_help "$HILT" gateway --help
