#!/usr/bin/env bash
# gateway_passthrough.sh - SNI passthrough: the gateway peeks at the ClientHello, routes on
# its SNI and splices the untouched TLS stream to the backend, so the client sees the
# backend's own certificate end to end; other names on the same listener are terminated.
#   real backends: nginx (TLS, and TLS behind PROXY v2) and openssl s_server
#   clients: curl (TLS 1.3 and 1.2), openssl s_client, a relay that delivers the
#   ClientHello in two TCP segments; a 4 MiB download checked byte for byte
#   events: "result":"passthrough" with SNI, JA4 and backend; metrics; observed offers
#   a listener that only passes through (no certificates): an unknown name gets a fatal
#   unrecognized_name alert (sni_required), plain HTTP is not_tls, a half hello times out
#   a passthrough backend that is down: counted, the client's connection closed
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../lib_pki.sh"

for tool in nginx curl jq python3 openssl; do
  command -v "$tool" >/dev/null || { skip "gateway_passthrough_$tool" "$tool not installed (scripts/install-deps.sh)"; exit 0; }
done
pki_ca gwca
pki_leaf gw gwca "DNS:localhost,DNS:term.test,IP:127.0.0.1"
pki_ca beca
pki_leaf be beca "DNS:db.test,DNS:pp.test,DNS:s.test"

# ---- backends ------------------------------------------------------------------------------
NGX=$T/nginx; mkdir -p "$NGX/www"
head -c $((4 * 1024 * 1024)) /dev/urandom > "$NGX/www/big"
P_BE=$(free_port); P_PP=$(free_port); P_PLAIN=$(free_port); P_S=$(free_port); P_DEAD=$(free_port)
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
    server {
        listen 127.0.0.1:$P_BE ssl;
        ssl_certificate $P/be.pem; ssl_certificate_key $P/be.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        location = / { return 200 "backend-direct \$ssl_server_name \$ssl_protocol\n"; }
        location = /big { root $NGX/www; }
    }
    server {
        listen 127.0.0.1:$P_PP ssl proxy_protocol;
        ssl_certificate $P/be.pem; ssl_certificate_key $P/be.key;
        location / { return 200 "backend-pp2 \$proxy_protocol_addr \$ssl_server_name\n"; }
    }
    server { listen 127.0.0.1:$P_PLAIN; location / { return 200 "terminated-by-gateway\n"; } }
}
EOF
bg nginx -p "$NGX" -c "$NGX/nginx.conf"
wait_port "$P_BE" && wait_port "$P_PP" && wait_port "$P_PLAIN" || { fail gateway_passthrough_nginx "nginx did not start: $(tail -3 "$NGX/error.log")"; exit 0; }
bg openssl s_server -accept "$P_S" -cert "$P/be.pem" -key "$P/be.key" -www -quiet
wait_port "$P_S" || { fail gateway_passthrough_s_server "s_server did not start"; exit 0; }

# ---- the gateway -------------------------------------------------------------------------------
L_MIX=$(free_port); L_PASS=$(free_port); ADMIN=$(free_port)
cat > "$T/gw.yaml" <<EOF
workers: 2
listeners:
  - name: mixed
    listen: 127.0.0.1:$L_MIX
    profile: modern
    certificates: [{cert: $P/gw.pem, key: $P/gw.key}]
    routes:
      - {sni: db.test, backend: nginx_tls, passthrough: true}
      - {sni: s.test, backend: s_server, passthrough: true}
      - {sni: dead.test, backend: dead, passthrough: true}
      - {sni: "*", backend: plain}
    timeouts: {handshake: 1s}
  - name: passonly
    listen: 127.0.0.1:$L_PASS
    profile: modern
    proxy_protocol: v2
    routes:
      - {sni: "*.test", backend: nginx_pp2, passthrough: true}
    timeouts: {handshake: 1s}
backends:
  - name: nginx_tls
    servers: ["127.0.0.1:$P_BE"]
  - name: nginx_pp2
    servers: ["127.0.0.1:$P_PP"]
  - name: s_server
    servers: ["127.0.0.1:$P_S"]
  - name: dead
    servers: ["127.0.0.1:$P_DEAD"]
  - name: plain
    servers: ["127.0.0.1:$P_PLAIN"]
admin: {listen: 127.0.0.1:$ADMIN}
events: {file: $T/events.jsonl}
EOF
expect_exit 0 gateway_passthrough_check "$HILT" gateway -c "$T/gw.yaml" --check
grep -q "listener passonly .*0 certificate set(s), passthrough routes" "$T/last.out" && pass gateway_passthrough_check_says || fail gateway_passthrough_check_says "$(cat "$T/last.out")"
"$HILT" gateway -c "$T/gw.yaml" > "$T/gw.log" 2>&1 &
GWPID=$!; _bg_pids+=($GWPID)
wait_port "$ADMIN" 20 || { fail gateway_passthrough_start "$(tail -5 "$T/gw.log")"; exit 0; }
EV=$T/events.jsonl
# the newest event of LISTENER matching a jq condition (workers flush their own buffers every
# 100 ms, so the file's order across workers is not the order of the handshakes)
# workers write their events in batches: the newest is the latest time, not the last line
last_ev() { sleep 0.4; jq -c -s --arg l "$1" "map(select(.listener == \$l and ($2))) | sort_by(.time) | last" "$EV"; }
curl_to() { # PORT NAME CAFILE [curl args]
  curl -sS --max-time 10 --cacert "$3" --resolve "$2:$1:127.0.0.1" "${@:4}" "https://$2:$1/"; }

# ---- passthrough: the backend's certificate end to end ------------------------------------------
out=$(curl_to "$L_MIX" db.test "$P/beca.pem" 2>&1)
[[ "$out" == "backend-direct db.test TLSv1.3" ]] && pass gateway_passthrough_curl || fail gateway_passthrough_curl "$out"
# the gateway's own CA does not verify it: it is not the gateway's certificate
curl_to "$L_MIX" db.test "$P/gwca.pem" >/dev/null 2>&1 && fail gateway_passthrough_not_gateway_cert "verified with the gateway's CA" || pass gateway_passthrough_not_gateway_cert
issuer=$(timeout 10 openssl s_client -connect "127.0.0.1:$L_MIX" -servername db.test -CAfile "$P/beca.pem" -verify_return_error </dev/null 2>/dev/null | openssl x509 -noout -issuer)
[[ "$issuer" == *"CN = beca"* || "$issuer" == *"CN=beca"* ]] && pass gateway_passthrough_s_client_sees_backend_cert || fail gateway_passthrough_s_client_sees_backend_cert "$issuer"
jq_eq gateway_passthrough_event "$(last_ev mixed '.sni == "db.test"' > "$T/e1"; echo "$T/e1")" '[.result, .sni, .backend, (.ja4 | test("^t13")), .version, .code, .resumed] | map(tostring) | join(" ")' "passthrough db.test nginx_tls true null null false"
out=$(curl_to "$L_MIX" db.test "$P/beca.pem" --tlsv1.2 --tls-max 1.2 2>&1)
[[ "$out" == "backend-direct db.test TLSv1.2" ]] && pass gateway_passthrough_tls12 || fail gateway_passthrough_tls12 "$out"
jq_eq gateway_passthrough_event_tls12_ja4 "$(last_ev mixed '.sni == "db.test"' > "$T/e2"; echo "$T/e2")" '.ja4 | test("^t12")' true
# openssl s_server behind it (its -www status page names the cipher it negotiated)
s_get() { printf 'GET / HTTP/1.0\r\n\r\n' | timeout 10 openssl s_client -quiet -connect "127.0.0.1:$L_MIX" -servername s.test -CAfile "$P/beca.pem" -verify_return_error 2>/dev/null; }
out=$(s_get)
# once seen on a heavily loaded machine: only the status line within 10 s; one more try,
# said out loud, so a gateway that loses the rest every time still fails
if ! grep -q "Ciphers supported in s_server binary\|New, TLSv1.3" <<<"$out"; then
  echo "note: s_server page incomplete on the first try ($(head -c 120 <<<"$out" | tr '\r\n' '  ')); trying once more"
  out=$(s_get)
fi
grep -q "Ciphers supported in s_server binary\|New, TLSv1.3" <<<"$out" && pass gateway_passthrough_s_server || fail gateway_passthrough_s_server "$(head -c 300 <<<"$out")"
# a 4 MiB body spliced through, byte for byte
curl_to "$L_MIX" db.test "$P/beca.pem" -o "$T/big.out" --path-as-is >/dev/null 2>&1
curl -sS --max-time 20 --cacert "$P/beca.pem" --resolve "db.test:$L_MIX:127.0.0.1" -o "$T/big.out" "https://db.test:$L_MIX/big"
cmp -s "$T/big.out" "$NGX/www/big" && pass gateway_passthrough_bulk_identical || fail gateway_passthrough_bulk_identical "$(stat -c %s "$T/big.out" 2>/dev/null) bytes"

# ---- other names on the same listener are terminated by the gateway ------------------------------
out=$(curl_to "$L_MIX" term.test "$P/gwca.pem" 2>&1)
[[ "$out" == "terminated-by-gateway" ]] && pass gateway_passthrough_others_terminated || fail gateway_passthrough_others_terminated "$out"
jq_eq gateway_passthrough_terminated_event "$(last_ev mixed '.sni == "term.test"' > "$T/e3"; echo "$T/e3")" '[.result, .sni, .version, .backend] | join(" ")' "ok term.test TLSv1.3 plain"
out=$(curl -sS --max-time 10 --cacert "$P/gwca.pem" "https://127.0.0.1:$L_MIX/" 2>&1)
[[ "$out" == "terminated-by-gateway" ]] && pass gateway_passthrough_no_sni_terminated || fail gateway_passthrough_no_sni_terminated "$out"

# ---- the ClientHello in two TCP segments: the peek waits for the rest ----------------------------
cat > "$T/split.py" <<'EOF'
# a relay: the client's first bytes reach the gateway in two segments 300 ms apart
import socket, sys, threading, time
lport, gport = int(sys.argv[1]), int(sys.argv[2])
def pipe(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d: break
            b.sendall(d)
    except OSError:
        pass
    finally:
        try: b.shutdown(socket.SHUT_WR)
        except OSError: pass
def handle(c):
    g = socket.create_connection(("127.0.0.1", gport))
    g.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    first = c.recv(65536)
    g.sendall(first[:40]); time.sleep(0.3); g.sendall(first[40:])
    threading.Thread(target=pipe, args=(g, c), daemon=True).start()
    pipe(c, g)
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", lport)); s.listen(16)
while True:
    c, _ = s.accept(); threading.Thread(target=handle, args=(c,), daemon=True).start()
EOF
P_SPLIT=$(free_port)
bg python3 "$T/split.py" "$P_SPLIT" "$L_MIX"
wait_port "$P_SPLIT"
out=$(curl_to "$P_SPLIT" db.test "$P/beca.pem" 2>&1)
[[ "$out" == "backend-direct db.test TLSv1.3" ]] && pass gateway_passthrough_split_hello || fail gateway_passthrough_split_hello "$out"

# ---- a listener that only passes through, with PROXY v2 to the backend ---------------------------
out=$(curl_to "$L_PASS" pp.test "$P/beca.pem" 2>&1)
[[ "$out" == "backend-pp2 127.0.0.1 pp.test" ]] && pass gateway_passthrough_proxy_v2 || fail gateway_passthrough_proxy_v2 "$out"
# a name no route takes: a fatal unrecognized_name alert, as a TLS server would send
out=$(timeout 10 openssl s_client -connect "127.0.0.1:$L_PASS" -servername other.example </dev/null 2>&1)
grep -q "unrecognized name\|alert number 112" <<<"$out" && pass gateway_passthrough_unknown_name_alert || fail gateway_passthrough_unknown_name_alert "$(grep -i alert <<<"$out" | head -2)"
jq_eq gateway_passthrough_unknown_name_event "$(last_ev passonly '.sni == "other.example"' > "$T/e4"; echo "$T/e4")" '[.result, .code, .sni, .alert_sent] | join(" ")' "failed sni_required other.example unrecognized_name"
curl -sS --max-time 5 "http://127.0.0.1:$L_PASS/" >/dev/null 2>&1
jq_eq gateway_passthrough_not_tls "$(last_ev passonly '.sni == null and .code != "handshake_timeout"' > "$T/e5"; echo "$T/e5")" '[.result, .code] | join(" ")' "failed not_tls"
python3 - "$L_PASS" <<'EOF'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")   # half a hello, then silence
time.sleep(1.6); s.close()
EOF
jq_eq gateway_passthrough_half_hello_timeout "$(last_ev passonly '.sni == null and .code != "not_tls"' > "$T/e6"; echo "$T/e6")" '[.result, .code] | join(" ")' "failed handshake_timeout"

# ---- the backend is down: counted, the client's connection closed --------------------------------
out=$(curl_to "$L_MIX" dead.test "$P/beca.pem" 2>&1); rc=$?
[[ $rc != 0 ]] && pass gateway_passthrough_dead_backend_closed || fail gateway_passthrough_dead_backend_closed "$out"

# ---- metrics, status, observed ----------------------------------------------------------------------
curl -s "http://127.0.0.1:$ADMIN/metrics" > "$T/metrics"
grep -qE 'hilt_passthrough_connections_total\{listener="mixed",backend="nginx_tls"\} [4-9]' "$T/metrics" && pass gateway_passthrough_metric || fail gateway_passthrough_metric "$(grep passthrough "$T/metrics")"
grep -q 'hilt_passthrough_connections_total{listener="passonly",backend="nginx_pp2"} 1' "$T/metrics" && pass gateway_passthrough_metric_pp2 || fail gateway_passthrough_metric_pp2 "$(grep passthrough "$T/metrics")"
grep -q 'hilt_backend_connect_failures_total{backend="dead"' "$T/metrics" && pass gateway_passthrough_dead_counted || fail gateway_passthrough_dead_counted "no connect failure for dead"
grep -q 'hilt_handshakes_total{listener="mixed",result="ok"' "$T/metrics" && ! grep -q 'result="passthrough"' "$T/metrics" \
  && pass gateway_passthrough_not_counted_as_handshakes || fail gateway_passthrough_not_counted_as_handshakes "$(grep handshakes_total "$T/metrics" | head -3)"
curl -s "http://127.0.0.1:$ADMIN/status" > "$T/status"
jq_eq gateway_passthrough_status_routes "$T/status" '[.listeners[] | select(.name == "mixed") | .routes[] | .passthrough] | map(tostring) | join(" ")' "true true true false"
curl -s "http://127.0.0.1:$ADMIN/observed" > "$T/observed"
jq_eq gateway_passthrough_observed "$T/observed" '[.clients[] | select(.sni == "db.test")] | length >= 1' true

kill -TERM $GWPID; wait $GWPID; rc=$?
[[ $rc == 0 ]] && pass gateway_passthrough_sigterm_exit0 || fail gateway_passthrough_sigterm_exit0 "exit $rc"
grep -q "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error" "$T/gw.log" && fail gateway_passthrough_sanitizers "$(grep -A5 ERROR "$T/gw.log" | head -20)" || pass gateway_passthrough_sanitizers
