#!/usr/bin/env bash
# gateway_pg.sh - two hilt gateway processes ("nodes", each with its own HILT_HOME, as on
# two hosts) on one private PostgreSQL:
#   session-ticket keys shared through the store: a ticket issued by node A resumes on node
#   B and back (openssl s_client -sess_out/-sess_in, and the "resumed" field of B's events);
#   the keys rotate and both nodes agree; a ticket from before the rotation still resumes
#   within its window and stops resuming after it; one key per rotation period whoever
#   races (rows = audited creations); the keys are sealed at rest (no key column, 92-byte
#   sealed values under the nodes' wrapping key) and a node with another wrapping key is
#   refused at start with the reason;
#   each node's certificate issued by the CA in PostgreSQL, recorded in the shared
#   inventory; the audit chain verifies;
#   PostgreSQL stopped for longer than a key's window: both nodes keep serving, fall back
#   to a local key, and share keys again once it is back.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../lib_pg.sh"

for tool in curl jq cc faketime openssl psql; do
  command -v "$tool" >/dev/null || { skip "gateway_pg_$tool" "$tool not installed (scripts/install-deps.sh)"; exit 0; }
done
if ! pg_start; then
  skip gateway_pg "$PG_WHY"
  exit 0
fi
URL=$(pg_newdb hilt_gw) || { fail gateway_pg_createdb "createdb failed"; exit 0; }
PGOPTS="-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=60"
pg_down() { "${_pg_run[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1; }
pg_up() { "${_pg_run[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 30 -o "$PGOPTS" start >/dev/null 2>&1; }
sql() { psql -X -At "$URL" -c "$1"; }
export TZ=UTC

# one CA in PostgreSQL; its key reachable from both nodes' HILT_HOME
HILT_HOME=$T/a "$HILT" ca init --store "$URL" > "$T/ca.out" 2>&1 || { fail gateway_pg_ca_init "$(cat "$T/ca.out")"; exit 0; }
mkdir -p "$T/b" && cp -a "$T/a/ca" "$T/b/ca"
HILT_HOME=$T/a "$HILT" ca roots --store "$URL" --out "$T/roots.pem"
openssl rand -hex 32 > "$T/wrap.key"; chmod 600 "$T/wrap.key"
openssl rand -hex 32 > "$T/other.key"; chmod 600 "$T/other.key"

cc -O2 -o "$T/gl" "$ROOT/tests/integration/gateway_load.c" -lssl -lcrypto 2>"$T/cc.err" || { fail gateway_pg_load_cc "$(cat "$T/cc.err")"; exit 0; }
P_ECHO=$(free_port)
bg "$T/gl" -m echod -p "$P_ECHO"
wait_port "$P_ECHO" || { fail gateway_pg_echod "echo backend did not start"; exit 0; }

node_config() { # NODE PORT ADMIN WRAPKEY
  mkdir -p "$T/$1"
  cat > "$T/$1/gw.yaml" <<EOF
store: $URL
workers: 2
listeners:
  - name: web
    listen: 127.0.0.1:$2
    profile: modern
    certificates:
      - issue: {names: [localhost, 127.0.0.1], lifetime: 1h, owner: edge-team, env: pg}
    routes: [{sni: "*", backend: echo}]
backends:
  - name: echo
    servers: ["127.0.0.1:$P_ECHO"]
admin: {listen: 127.0.0.1:$3}
events: {file: events.jsonl}
tickets: {rotate: 4s, keep: 2, store: $URL, store_key: $4, ring: edge, poll: 500ms}
EOF
}
L_A=$(free_port); L_B=$(free_port); L_C=$(free_port); AD_A=$(free_port); AD_B=$(free_port); AD_C=$(free_port)
node_config a "$L_A" "$AD_A" "$T/wrap.key"
node_config b "$L_B" "$AD_B" "$T/wrap.key"
node_config c "$L_C" "$AD_C" "$T/other.key"
start_node() { # NODE ADMIN -> PID_<NODE>
  HILT_HOME=$T/$1 "$HILT" gateway -c "$T/$1/gw.yaml" >> "$T/$1/gw.log" 2>&1 &
  local p=$!; _bg_pids+=($p); eval "PID_$1=$p"
  wait_port "$2" 40
}
start_node a "$AD_A" || { fail gateway_pg_start_a "$(tail -5 "$T/a/gw.log")"; exit 0; }
start_node b "$AD_B" || { fail gateway_pg_start_b "$(tail -5 "$T/b/gw.log")"; exit 0; }
pass gateway_pg_two_nodes_started
st() { curl -s "http://127.0.0.1:$1/status"; }

# a node holding another wrapping key cannot use the ring, and says why
HILT_HOME=$T/c "$HILT" gateway -c "$T/c/gw.yaml" > "$T/c.out" 2>&1; rc=$?
[[ $rc == 2 ]] && grep -q "tickets.store_key differs between nodes" "$T/c.out" \
  && pass gateway_pg_other_wrap_key_refused || fail gateway_pg_other_wrap_key_refused "exit $rc: $(tail -2 "$T/c.out")"

# ---- the keys: sealed at rest, one per period, the same on both nodes ------------------------
cols=$(sql "SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_name = 'gateway_ticket_keys'")
[[ "$cols" == "ring,period,rotate,name,created,not_after,wrap_id,sealed" ]] && pass gateway_pg_table_columns || fail gateway_pg_table_columns "$cols"
wrap=$(st "$AD_A" | jq -r .trust_plane.tickets.wrap_id)
jq_eq gateway_pg_same_wrap_id "$(st "$AD_B" > "$T/sb.json"; echo "$T/sb.json")" .trust_plane.tickets.wrap_id "$wrap"
bad=$(sql "SELECT count(*) FROM gateway_ticket_keys WHERE length(sealed) <> 92 OR wrap_id <> '$wrap'")
[[ "$bad" == 0 ]] && pass gateway_pg_sealed_at_rest || fail gateway_pg_sealed_at_rest "$bad rows not sealed as expected"
agree() { # both nodes report the same current key
  local a b
  for _ in $(seq 1 30); do
    a=$(st "$AD_A" | jq -r .trust_plane.tickets.current); b=$(st "$AD_B" | jq -r .trust_plane.tickets.current)
    [[ -n "$a" && "$a" != null && "$a" == "$b" ]] && { echo "$a"; return 0; }
    sleep 0.2
  done
  echo "$a/$b"; return 1
}
cur0=$(agree) && pass gateway_pg_nodes_agree || fail gateway_pg_nodes_agree "$cur0"

# ---- a ticket from A resumes on B, and back ----------------------------------------------------
ticket() { (echo ping; sleep 0.5) | timeout 10 openssl s_client -connect "127.0.0.1:$1" -servername localhost -CAfile "$T/roots.pem" -sess_out "$2" > "$2.log" 2>&1; }
resume() { # PORT FAKE-EPOCH|"" SESS_IN: Reused | New
  local pre=()
  [[ -n "$2" ]] && pre=(faketime "$(date -u -d @"$2" '+%Y-%m-%d %H:%M:%S')")
  echo ping | timeout 10 "${pre[@]}" openssl s_client -connect "127.0.0.1:$1" -servername localhost -CAfile "$T/roots.pem" -sess_in "$3" 2>/dev/null | grep -o "^\(Reused\|New\)" | head -1; }
t0=$(date +%s)
ticket "$L_A" "$T/a.sess"
[[ $(resume "$L_B" "" "$T/a.sess") == Reused ]] && pass gateway_pg_a_ticket_resumes_on_b || fail gateway_pg_a_ticket_resumes_on_b "$(grep -E '^(New|Reused)' "$T/a.sess.log")"
sleep 0.4
jq_eq gateway_pg_b_event_resumed "$(tail -n 1 "$T/b/events.jsonl" > "$T/eb.json"; echo "$T/eb.json")" '[.listener, .result, .resumed, (.ja4 | test("^t13"))] | map(tostring) | join(" ")' "web ok true true"
ticket "$L_B" "$T/b.sess"
[[ $(resume "$L_A" "" "$T/b.sess") == Reused ]] && pass gateway_pg_b_ticket_resumes_on_a || fail gateway_pg_b_ticket_resumes_on_a "not resumed"

# ---- rotation: both nodes move to the next key; the old ticket still resumes within its window --
cur1=$cur0
for _ in $(seq 1 40); do cur1=$(agree) && [[ "$cur1" != "$cur0" ]] && break; sleep 0.25; done
[[ "$cur1" != "$cur0" ]] && pass gateway_pg_rotated_on_both "$cur0 -> $cur1" || fail gateway_pg_rotated_on_both "$cur0 -> $cur1"
if (( $(date +%s) - t0 <= 7 )); then
  [[ $(resume "$L_B" "" "$T/a.sess") == Reused ]] && pass gateway_pg_old_ticket_within_window || fail gateway_pg_old_ticket_within_window "refused $(( $(date +%s) - t0 ))s after issue"
else
  skip gateway_pg_old_ticket_within_window "the rotation was seen $(( $(date +%s) - t0 ))s after the ticket, past the 8s the window guarantees"
fi
# past the window (rotate 4 s x (1 + keep 2) from its period's start: at most 12 s after issue);
# the client's clock is held 1 s after the ticket so that it still offers it
while (( $(date +%s) < t0 + 14 )); do sleep 0.5; done
[[ $(resume "$L_B" "$((t0 + 1))" "$T/a.sess") == New ]] && pass gateway_pg_ticket_refused_after_window_b || fail gateway_pg_ticket_refused_after_window_b "still resumed"
[[ $(resume "$L_A" "$((t0 + 1))" "$T/a.sess") == New ]] && pass gateway_pg_ticket_refused_after_window_a || fail gateway_pg_ticket_refused_after_window_a "still resumed"
sleep 0.4
jq_eq gateway_pg_event_not_resumed "$(tail -n 1 "$T/b/events.jsonl" > "$T/eb2.json"; echo "$T/eb2.json")" '[.result, .resumed] | map(tostring) | join(" ")' "ok false"

# one row per (ring, period) whoever raced; every one made by exactly one node, audited once
rows=$(sql "SELECT count(*) FROM gateway_ticket_keys WHERE ring = 'edge'")
made=$(( $(st "$AD_A" | jq .trust_plane.tickets.keys_made) + $(st "$AD_B" | jq .trust_plane.tickets.keys_made) ))
audited=$(sql "SELECT count(*) FROM audit WHERE action = 'gateway.ticket_key.create'")
dups=$(sql "SELECT count(*) FROM (SELECT period FROM gateway_ticket_keys GROUP BY ring, period HAVING count(*) > 1) d")
pruned_ok=1; (( rows <= made )) || pruned_ok=0
[[ "$dups" == 0 && "$made" == "$audited" && $pruned_ok == 1 && $made -ge 5 ]] && pass gateway_pg_one_key_per_period "made $made, audited $audited, rows $rows" \
  || fail gateway_pg_one_key_per_period "made $made, audited $audited, rows $rows, duplicates $dups"

# ---- certificates: each node's own, from the CA in PostgreSQL, in the shared inventory ----------
sa=$(st "$AD_A" | jq -r '.trust_plane.certificates[0].serial'); sb=$(st "$AD_B" | jq -r '.trust_plane.certificates[0].serial')
[[ -n "$sa" && -n "$sb" && "$sa" != null && "$sa" != "$sb" ]] && pass gateway_pg_each_node_issued || fail gateway_pg_each_node_issued "$sa / $sb"
HILT_HOME=$T/a "$HILT" inventory list --json --store "$URL" > "$T/inv.json"
jq_eq gateway_pg_inventory "$T/inv.json" 'map(select(.pipeline == "gateway:web" and .status == "active" and .owner == "edge-team" and .env == "pg")) | length' 2
for n in A B; do
  port=$L_A; [[ $n == B ]] && port=$L_B
  out=$(timeout 10 openssl s_client -connect "127.0.0.1:$port" -servername localhost -CAfile "$T/roots.pem" -verify_return_error </dev/null 2>&1)
  grep -q "Verify return code: 0 (ok)" <<<"$out" && pass "gateway_pg_node_${n}_chains_to_ca" || fail "gateway_pg_node_${n}_chains_to_ca" "$(grep -i verify <<<"$out" | head -2)"
done

# ---- PostgreSQL away for longer than a key's window ------------------------------------------
syncs0=$(st "$AD_B" | jq .trust_plane.tickets.sync_failures)
pg_down
sleep 2
"$T/gl" -p "$L_A" -n 60 -c 4 -x > "$T/down-a.out" 2>&1; "$T/gl" -p "$L_B" -n 60 -c 4 -x > "$T/down-b.out" 2>&1
grep -q failed=0 "$T/down-a.out" && grep -q failed=0 "$T/down-b.out" && pass gateway_pg_serves_without_store || fail gateway_pg_serves_without_store "$(cat "$T/down-a.out" "$T/down-b.out")"
sb=$(st "$AD_B")
(( $(jq .trust_plane.tickets.sync_failures <<<"$sb") > syncs0 )) && [[ $(jq -r .trust_plane.tickets.last_error <<<"$sb") != null ]] \
  && pass gateway_pg_sync_failures_reported || fail gateway_pg_sync_failures_reported "$(jq -c .trust_plane.tickets <<<"$sb")"
fb=false
for _ in $(seq 1 60); do fb=$(st "$AD_B" | jq .trust_plane.tickets.fallback); [[ $fb == true ]] && break; sleep 0.5; done
[[ $fb == true ]] && pass gateway_pg_local_fallback || fail gateway_pg_local_fallback "$(st "$AD_B" | jq -c .trust_plane.tickets)"
ticket "$L_B" "$T/b2.sess"
[[ $(resume "$L_B" "" "$T/b2.sess") == Reused ]] && pass gateway_pg_fallback_resumes_locally || fail gateway_pg_fallback_resumes_locally "not resumed"
pg_up || { fail gateway_pg_restart "pg_ctl start failed: $(tail -3 "$PG_DIR/server.log")"; exit 0; }
ok=0
for _ in $(seq 1 60); do
  a=$(st "$AD_A" | jq -r '[.trust_plane.tickets.fallback, .trust_plane.tickets.last_error] | map(tostring) | join(" ")')
  b=$(st "$AD_B" | jq -r '[.trust_plane.tickets.fallback, .trust_plane.tickets.last_error] | map(tostring) | join(" ")')
  [[ "$a" == "false null" && "$b" == "false null" ]] && { ok=1; break; }
  sleep 0.5
done
(( ok )) && pass gateway_pg_store_back || fail gateway_pg_store_back "A: $a; B: $b"
agree > /dev/null && pass gateway_pg_agree_again || fail gateway_pg_agree_again "$(agree)"
ticket "$L_A" "$T/a3.sess"
[[ $(resume "$L_B" "" "$T/a3.sess") == Reused ]] && pass gateway_pg_shared_again || fail gateway_pg_shared_again "not resumed"

expect_exit 0 gateway_pg_audit_verify env HILT_HOME="$T/a" "$HILT" audit verify --store "$URL"
for n in a b; do
  eval "p=\$PID_$n"
  kill -TERM "$p"; wait "$p"; rc=$?
  [[ $rc == 0 ]] && pass "gateway_pg_stop_$n" || fail "gateway_pg_stop_$n" "exit $rc"
  grep -q "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error" "$T/$n/gw.log" && fail "gateway_pg_sanitizers_$n" "$(grep -A5 ERROR "$T/$n/gw.log" | head -20)" || pass "gateway_pg_sanitizers_$n"
done
