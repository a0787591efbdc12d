#!/usr/bin/env bash
# gateway_balance.sh - how hilt gateway spreads connections over a backend's servers.
#   round_robin: sequential connections alternate A, B, A, B… exactly, also while A holds
#   long-lived connections (round robin does not look at load);
#   least_conn: held connections split evenly; with A holding long-lived connections and B
#   none, every new connection goes to B until they are even again; /status reports the
#   active count per server.
# Two real TCP backends (python) answer each connection with their name, then echo.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../lib_pki.sh"

for tool in python3 curl jq; do
  command -v "$tool" >/dev/null || { skip "gateway_balance_$tool" "$tool not installed (scripts/install-deps.sh)"; exit 0; }
done
pki_ca root
pki_leaf srv root "DNS:localhost,IP:127.0.0.1"

cat > "$T/named.py" <<'EOF'
# a backend that says its name once, then echoes until the peer closes
import socket, sys, threading
name, port = sys.argv[1], int(sys.argv[2])
def serve(c):
    try:
        c.recv(64)
        c.sendall(name.encode() + b"\n")
        while True:
            d = c.recv(4096)
            if not d: break
            c.sendall(d)
    except OSError:
        pass
    finally:
        c.close()
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port)); s.listen(128)
while True:
    c, _ = s.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()
EOF
P_A=$(free_port); P_B=$(free_port)
bg python3 "$T/named.py" A "$P_A"
bg python3 "$T/named.py" B "$P_B"
wait_port "$P_A" && wait_port "$P_B" || { fail gateway_balance_backends "backends did not start"; exit 0; }

L_RR=$(free_port); L_LC=$(free_port); ADMIN=$(free_port)
cat > "$T/gw.yaml" <<EOF
workers: 2
listeners:
  - name: rr
    listen: 127.0.0.1:$L_RR
    profile: modern
    certificates: [{cert: $P/srv.pem, key: $P/srv.key}]
    routes: [{sni: "*", backend: pool_rr}]
  - name: lc
    listen: 127.0.0.1:$L_LC
    profile: modern
    certificates: [{cert: $P/srv.pem, key: $P/srv.key}]
    routes: [{sni: "*", backend: pool_lc}]
backends:
  - name: pool_rr
    servers: ["127.0.0.1:$P_A", "127.0.0.1:$P_B"]
    balance: round_robin
  - name: pool_lc
    servers: ["127.0.0.1:$P_A", "127.0.0.1:$P_B"]
    balance: least_conn
admin: {listen: 127.0.0.1:$ADMIN}
EOF
"$HILT" gateway -c "$T/gw.yaml" > "$T/gw.log" 2>&1 &
GWPID=$!; _bg_pids+=($GWPID)
wait_port "$ADMIN" 20 || { fail gateway_balance_start "$(tail -5 "$T/gw.log")"; exit 0; }

# The driver: a TLS client that opens connections, asks who answers, and keeps or closes
# them on command (one line per command on stdin, one JSON answer per line on stdout).
cat > "$T/driver.py" <<'EOF'
import json, socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
held = {}
def conn(port):
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10), server_hostname="localhost")
    s.sendall(b"who\n")
    name = b""
    while not name.endswith(b"\n"):
        d = s.recv(16)
        if not d: raise EOFError("closed before the name")
        name += d
    return s, name.decode().strip()
for line in sys.stdin:
    cmd = line.split()
    out = []
    if cmd[0] == "short":      # short PORT N: N connections one after the other, each closed
        for _ in range(int(cmd[2])):
            s, n = conn(int(cmd[1])); s.close(); out.append(n)
    elif cmd[0] == "hold":     # hold PORT N: N connections kept open
        for _ in range(int(cmd[2])):
            s, n = conn(int(cmd[1])); held.setdefault(n, []).append(s); out.append(n)
    elif cmd[0] == "drop":     # drop NAME: close the held connections that went to NAME
        for s in held.pop(cmd[1], []): s.close()
    print(json.dumps(out), flush=True)
EOF
coproc DRV { python3 "$T/driver.py" "$P/root.pem" 2>"$T/driver.err"; }
ask() { echo "$*" >&"${DRV[1]}"; local l; IFS= read -r -t 30 l <&"${DRV[0]}" || l="driver failed: $(tail -2 "$T/driver.err")"; jq -c . <<<"$l" 2>/dev/null || echo "$l"; }
active() { # BACKEND SERVER-INDEX
  curl -s "http://127.0.0.1:$ADMIN/status" | jq ".backends[] | select(.name == \"$1\") | .servers[$2].active"; }
wait_active() { # BACKEND INDEX WANT
  for _ in $(seq 1 50); do [[ $(active "$1" "$2") == "$3" ]] && return 0; sleep 0.1; done; return 1; }
alternates() { jq -e 'length > 1 and (. as $a | [range(1; length) | $a[.] != $a[. - 1]] | all)' <<<"$1" >/dev/null; }

# ---- round robin -----------------------------------------------------------------------
r=$(ask short "$L_RR" 10)
alternates "$r" && [[ $(jq 'map(select(. == "A")) | length' <<<"$r") == 5 ]] \
  && pass gateway_balance_rr_alternates || fail gateway_balance_rr_alternates "$r"

# ---- least connections ---------------------------------------------------------------------
r=$(ask hold "$L_LC" 6)
[[ $(jq -c 'group_by(.) | map(length)' <<<"$r") == "[3,3]" ]] && pass gateway_balance_lc_even_split || fail gateway_balance_lc_even_split "$r"
wait_active pool_lc 0 3 && wait_active pool_lc 1 3 && pass gateway_balance_status_active || fail gateway_balance_status_active "A $(active pool_lc 0), B $(active pool_lc 1)"
ask drop B >/dev/null
wait_active pool_lc 1 0 || fail gateway_balance_lc_drop "B still has $(active pool_lc 1) active"
# A holds three long-lived connections, B none: every new one goes to B
r=$(ask short "$L_LC" 8)
[[ $(jq -c . <<<"$r") == '["B","B","B","B","B","B","B","B"]' ]] && pass gateway_balance_lc_prefers_idle || fail gateway_balance_lc_prefers_idle "$r"
# round robin ignores that load: it still alternates
r=$(ask short "$L_RR" 6)
alternates "$r" && pass gateway_balance_rr_ignores_load || fail gateway_balance_rr_ignores_load "$r"
# new long-lived connections go to B until both hold three again
r=$(ask hold "$L_LC" 4)
[[ $(jq -c '.[0:3]' <<<"$r") == '["B","B","B"]' ]] && pass gateway_balance_lc_evens_out || fail gateway_balance_lc_evens_out "$r"
wait_active pool_lc 0 4 || wait_active pool_lc 1 4
a=$(active pool_lc 0); b=$(active pool_lc 1)
(( a + b == 7 && (a - b) * (a - b) == 1 )) && pass gateway_balance_lc_final "A $a, B $b" || fail gateway_balance_lc_final "A $a, B $b"

# ---- a server down: least_conn skips it (connect refused, next server), then returns ---------
kill "${_bg_pids[1]}" 2>/dev/null; wait "${_bg_pids[1]}" 2>/dev/null   # B
ask drop A >/dev/null; ask drop B >/dev/null
r=$(ask short "$L_LC" 4)
[[ $(jq -c . <<<"$r") == '["A","A","A","A"]' ]] && pass gateway_balance_lc_skips_down || fail gateway_balance_lc_skips_down "$r"
grep -q 'hilt_backend_connect_failures_total{backend="pool_lc",server="127.0.0.1:'"$P_B"'"}' <(curl -s "http://127.0.0.1:$ADMIN/metrics") \
  && pass gateway_balance_connect_failures_counted || fail gateway_balance_connect_failures_counted "no connect failure counted for B"

exec {DRV[1]}>&-
kill -TERM $GWPID; wait $GWPID; rc=$?
[[ $rc == 0 ]] && pass gateway_balance_sigterm_exit0 || fail gateway_balance_sigterm_exit0 "exit $rc"
grep -q "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error" "$T/gw.log" && fail gateway_balance_sanitizers "$(grep -A5 ERROR "$T/gw.log" | head -20)" || pass gateway_balance_sanitizers
