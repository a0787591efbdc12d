#!/usr/bin/env bash
# gateway_tp.sh - hilt gateway and the trust plane, on the default SQLite store (one node).
#   certificates issued by hilt's own CA (through the signer process), recorded in the
#   inventory, renewed at their renewal point and swapped in under load with zero failed
#   handshakes; a cached certificate reused after a restart; a CA failure (its key gone)
#   retried with backoff while the old certificate keeps serving, then recovered;
#   refusals at start (unknown CA, names the CA does not allow, a wrapping key others can
#   read) with exit 2 and the config position;
#   a manifest deployed by `hilt apply` / `hilt renew` reaching the gateway - through its
#   reload command (POST /reload) and through the file watcher - under load, zero failures;
#   session tickets from the store on one node: resumption, rotation, a ticket still good
#   within the window and across a restart, refused after the window;
#   reloads: a new issue: entry taken hot, a change of the ticket store refused.
source "$(dirname "$0")/../lib.sh"

for tool in curl jq cc faketime openssl; do
  command -v "$tool" >/dev/null || { skip "gateway_tp_$tool" "$tool not installed (scripts/install-deps.sh)"; exit 0; }
done

export HILT_HOME=$T/home TZ=UTC
H() { "$HILT" "$@"; }
expect_exit 0 gateway_tp_ca_init H ca init --json
H ca roots --out "$T/roots.pem" || { fail gateway_tp_roots "hilt ca roots failed"; exit 0; }
expect_exit 0 gateway_tp_ca_strict H ca init --name strict --allow-domain example.test

cc -O2 -o "$T/gl" "$ROOT/tests/integration/gateway_load.c" -lssl -lcrypto 2>"$T/cc.err" || { fail gateway_tp_load_cc "$(cat "$T/cc.err")"; exit 0; }
P_ECHO=$(free_port)
bg "$T/gl" -m echod -p "$P_ECHO"
wait_port "$P_ECHO" || { fail gateway_tp_echod "echo backend did not start"; exit 0; }

# ---- manifests: two certificates deployed by hilt apply (the "push" side) -------------------
M=$T/manifests; mkdir -p "$M" "$T/deploy"
manifest() { # NAME RELOAD-LINE
  cat > "$M/$1.yaml" <<EOF
apiVersion: hilt.dev/v1
kind: Certificate
metadata:
  name: $1
spec:
  dnsNames: [localhost]
  ipAddresses: [127.0.0.1]
  duration: 1h
  owner: edge-team
  service: $1
  targets:
    - {cert: $T/deploy/$1.crt, key: $T/deploy/$1.key, chain: $T/deploy/$1.chain.pem}
$2
EOF
}
manifest push ""
manifest watch ""
expect_exit 0 gateway_tp_apply_initial H apply "$M"

# ---- the gateway ---------------------------------------------------------------------------
GW=$T/gw; mkdir -p "$GW"
openssl rand -hex 32 > "$GW/wrap.key"; chmod 600 "$GW/wrap.key"
L_ISS=$(free_port); L_PUSH=$(free_port); L_WATCH=$(free_port); L_ADD=$(free_port); ADMIN=$(free_port)
write_config() { # [EXTRA LISTENER YAML] [TICKETS KEY FILE] [CA of the issued listener]
  cat > "$GW/gw.yaml" <<EOF
workers: 2
listeners:
  - name: issued
    listen: 127.0.0.1:$L_ISS
    profile: modern
    certificates:
      - issue: {names: [localhost, 127.0.0.1], lifetime: 5m, renew_before: 290s, owner: edge-team, env: test, ca: ${3:-hilt}}
    routes: [{sni: "*", backend: echo}]
  - name: pushed
    listen: 127.0.0.1:$L_PUSH
    profile: modern
    certificates: [{cert: $T/deploy/push.chain.pem, key: $T/deploy/push.key}]
    routes: [{sni: "*", backend: echo}]
  - name: watched
    listen: 127.0.0.1:$L_WATCH
    profile: modern
    certificates: [{cert: $T/deploy/watch.chain.pem, key: $T/deploy/watch.key}]
    routes: [{sni: "*", backend: echo}]
${1:-}
backends:
  - name: echo
    servers: ["127.0.0.1:$P_ECHO"]
admin:
  listen: 127.0.0.1:$ADMIN
events: {file: events.jsonl}
tickets: {rotate: 3s, keep: 2, store: $HILT_HOME/hilt.db, store_key: ${2:-wrap.key}}
watch: 200ms
EOF
}

# refusals at start: exit 2 and where
write_config "" "" nope
expect_exit 2 gateway_tp_unknown_ca "$HILT" gateway -c "$GW/gw.yaml"
grep -q "gw.yaml:7:[0-9]*: listeners.issued.certificates\[0\].issue: no CA named 'nope'" "$T/last.err" \
  && pass gateway_tp_unknown_ca_message || fail gateway_tp_unknown_ca_message "$(cat "$T/last.err")"
write_config "" "" strict
expect_exit 2 gateway_tp_names_refused "$HILT" gateway -c "$GW/gw.yaml"
grep -q "gw.yaml:7:[0-9]*: listeners.issued.certificates\[0\].issue: CA 'strict'.*'localhost' is not allowed" "$T/last.err" \
  && pass gateway_tp_names_refused_message || fail gateway_tp_names_refused_message "$(cat "$T/last.err")"
cp "$GW/wrap.key" "$GW/open.key"; chmod 644 "$GW/open.key"
write_config "" open.key
expect_exit 2 gateway_tp_open_wrap_key "$HILT" gateway -c "$GW/gw.yaml"
grep -q "tickets.store_key: .*open.key: the ticket wrapping key is readable by group or others (mode 0644); chmod 600 it" "$T/last.err" \
  && pass gateway_tp_open_wrap_key_message || fail gateway_tp_open_wrap_key_message "$(cat "$T/last.err")"
[[ $(H inventory list --json | jq 'map(select(.pipeline == "gateway:issued")) | length') == 0 ]] \
  && pass gateway_tp_refusals_issue_nothing || fail gateway_tp_refusals_issue_nothing "a refused start issued a certificate"

write_config
expect_exit 0 gateway_tp_check "$HILT" gateway -c "$GW/gw.yaml" --check
grep -q "from CA 'hilt' (ec-p256, 5m.*issued at start" "$T/last.out" && pass gateway_tp_check_says_issue || fail gateway_tp_check_says_issue "$(cat "$T/last.out")"
grep -q "tickets: shared through the store, ring 'default', rotate 3s, keep 2" "$T/last.out" && pass gateway_tp_check_says_tickets || fail gateway_tp_check_says_tickets "$(cat "$T/last.out")"

start_gw() {
  "$HILT" gateway -c "$GW/gw.yaml" >> "$T/gw.log" 2>&1 &
  GWPID=$!; _bg_pids+=($GWPID)
  # (the admin listener opens after every listener is bound; a bare TCP probe of a TLS
  # listener would be recorded as a failed handshake)
  wait_port "$ADMIN" 30
}
start_gw || { fail gateway_tp_start "$(tail -5 "$T/gw.log")"; exit 0; }
pass gateway_tp_start
status() { curl -s "http://127.0.0.1:$ADMIN/status"; }
EV=$GW/events.jsonl
served_serial() { timeout 5 openssl s_client -connect "127.0.0.1:$1" -servername localhost </dev/null 2>/dev/null | openssl x509 -noout -serial | cut -d= -f2 | tr A-F a-f; }

# the issued certificate chains to hilt's CA and is in the inventory with the config's metadata
out=$(timeout 10 openssl s_client -connect "127.0.0.1:$L_ISS" -servername localhost -CAfile "$T/roots.pem" -verify_return_error -verify_hostname localhost </dev/null 2>&1)
grep -q "Verify return code: 0 (ok)" <<<"$out" && pass gateway_tp_issued_chains_to_ca || fail gateway_tp_issued_chains_to_ca "$(grep -i verify <<<"$out" | head -3)"
grep -q "signs through signer process [0-9]*" "$T/gw.log" && pass gateway_tp_signer_process || fail gateway_tp_signer_process "no signer process in the log"
signer=$(sed -n "s/.*CA 'hilt' signs through signer process \([0-9]*\).*/\1/p" "$T/gw.log" | tail -1)
[[ -n "$signer" && "$(cat /proc/$signer/status 2>/dev/null | awk '/^PPid/ {print $2}')" == "$GWPID" ]] \
  && pass gateway_tp_signer_is_child || fail gateway_tp_signer_is_child "signer $signer, gateway $GWPID"
# the CA key is in the signer, not in the gateway's memory maps or open files
ls -l /proc/$GWPID/fd 2>/dev/null | grep -q "intermediate.key" && fail gateway_tp_no_key_in_gateway "the gateway holds the CA key file open" || pass gateway_tp_no_key_in_gateway
serial0=$(served_serial "$L_ISS")
H inventory list --json > "$T/inv.json"
jq_eq gateway_tp_inventory "$T/inv.json" "map(select(.serial == \"$serial0\")) | .[0] | [.owner, .service, .env, .pipeline, .status] | join(\" \")" \
  "edge-team issued test gateway:issued active"
H inventory show "$serial0" --json > "$T/show.json"
jq_eq gateway_tp_inventory_location "$T/show.json" '[.locations[] | select(.kind == "gateway") | .location | endswith("/issued")] | any' true

# ---- renewal under load: zero failed handshakes ------------------------------------------
load_loop() { # PORT OUT SECONDS: rounds of 200 handshakes with an echo each
  local end=$((SECONDS + $3))
  while ((SECONDS < end)); do "$T/gl" -p "$1" -n 200 -c 8 -x >> "$2" 2>&1 || echo "round failed" >> "$2"; done
}
issued0=$(status | jq '.trust_plane.certificates[0].issued')
gen0=$(status | jq .generation)
load_loop "$L_ISS" "$T/load-iss.out" 25 &
LP=$!
wait $LP
st=$(status)
issued1=$(jq '.trust_plane.certificates[0].issued' <<<"$st")
(( issued1 - issued0 >= 2 )) && pass gateway_tp_renewed "$((issued1 - issued0)) renewals" || fail gateway_tp_renewed "issued $issued0 -> $issued1 ($(jq -c .trust_plane.certificates <<<"$st"))"
(( $(jq .generation <<<"$st") > gen0 )) && pass gateway_tp_swapped_generation || fail gateway_tp_swapped_generation "generation did not move"
rounds=$(grep -c "^mode=hs" "$T/load-iss.out")
if ! grep -v "failed=0" "$T/load-iss.out" | grep -q . && (( rounds > 3 )); then pass gateway_tp_renewal_zero_failures "$rounds rounds"; else fail gateway_tp_renewal_zero_failures "$(grep -v 'failed=0' "$T/load-iss.out" | head -3)"; fi
nf=$(jq -r 'select(.listener == "issued" and .result == "failed") | .code' "$EV" | wc -l)
[[ $nf == 0 ]] && pass gateway_tp_renewal_no_failed_events || fail gateway_tp_renewal_no_failed_events "$nf failed handshakes: $(jq -c 'select(.listener == "issued" and .result == "failed")' "$EV" | head -3)"
serial1=$(served_serial "$L_ISS")
[[ "$serial1" != "$serial0" && "$serial1" == "$(jq -r '.trust_plane.certificates[0].serial' <<<"$(status)")" ]] \
  && pass gateway_tp_serves_newest || fail gateway_tp_serves_newest "$serial0 -> $serial1, status $(status | jq -r '.trust_plane.certificates[0].serial')"
H inventory list --json > "$T/inv.json"
jq_eq gateway_tp_previous_superseded "$T/inv.json" "map(select(.serial == \"$serial0\")) | .[0].status" superseded
jq_eq gateway_tp_one_active "$T/inv.json" 'map(select(.pipeline == "gateway:issued" and .status == "active")) | length' 1
curl -s "http://127.0.0.1:$ADMIN/metrics" > "$T/metrics"
for m in 'hilt_gateway_certificate_issued_total{listener="issued"' 'hilt_gateway_certificate_swaps_total{result="ok"}' \
         'hilt_gateway_certificate_renew_timestamp_seconds{listener="issued"' 'hilt_ticket_keys{source="store"}' \
         'hilt_ticket_key_syncs_total{result="ok"}'; do
  grep -qF "$m" "$T/metrics" && pass "gateway_tp_metric ${m%%\{*}" || fail "gateway_tp_metric ${m%%\{*}" "missing $m"
done
expiry=$(grep -F 'hilt_certificate_expiry_timestamp_seconds{listener="issued"' "$T/metrics" | awk '{print $2}')
[[ "$expiry" == "$(date -d "$(status | jq -r '.trust_plane.certificates[0].not_after')" +%s)" ]] \
  && pass gateway_tp_expiry_metric_follows || fail gateway_tp_expiry_metric_follows "$expiry"

# ---- tickets from the store, one node -------------------------------------------------------
ticket() { # PORT SESS_OUT
  # (stdin held open a moment: the TLS 1.3 ticket arrives after the handshake)
  (echo ping; sleep 0.5) | timeout 10 openssl s_client -connect "127.0.0.1:$1" -servername localhost -CAfile "$T/roots.pem" -sess_out "$2" > "$2.log" 2>&1; }
resume() { # PORT FAKE-EPOCH|"" SESS_IN: prints Reused or New
  local pre=()
  [[ -n "$2" ]] && pre=(faketime "$(date -u -d @"$2" '+%Y-%m-%d %H:%M:%S')")
  echo ping | timeout 10 "${pre[@]}" openssl s_client -connect "127.0.0.1:$1" -servername localhost -CAfile "$T/roots.pem" -sess_in "$3" 2>/dev/null | grep -o "^\(Reused\|New\)" | head -1; }
jq_eq gateway_tp_tickets_source "$(status > "$T/s.json"; echo "$T/s.json")" '[.trust_plane.tickets.source, .trust_plane.tickets.ring, (.trust_plane.tickets.keys >= 2)] | map(tostring) | join(" ")' "store default true"
t1=$(date +%s); cur1=$(status | jq -r .trust_plane.tickets.current)
ticket "$L_ISS" "$T/s1.pem"
[[ $(resume "$L_ISS" "" "$T/s1.pem") == Reused ]] && pass gateway_tp_ticket_resumes || fail gateway_tp_ticket_resumes "not resumed: $(grep -E 'New|Reused|rror|Verify' "$T/s1.pem.log" | head -5); $(tail -n 2 "$EV")"
sleep 0.5
jq -s -e '[.[] | select(.listener == "issued" and .resumed == true)] | length >= 1' "$EV" >/dev/null && pass gateway_tp_event_resumed || fail gateway_tp_event_resumed "no resumed event"
cur2=$cur1
for _ in $(seq 1 40); do cur2=$(status | jq -r .trust_plane.tickets.current); [[ "$cur2" != "$cur1" ]] && break; sleep 0.25; done
[[ "$cur2" != "$cur1" ]] && pass gateway_tp_ticket_key_rotated "$cur1 -> $cur2" || fail gateway_tp_ticket_key_rotated "still $cur1"

# a restart: the cached certificate is served again, nothing issued; the ticket still resumes
serial_before=$(served_serial "$L_ISS")
kill -TERM $GWPID; wait $GWPID
start_gw || { fail gateway_tp_restart "$(tail -5 "$T/gw.log")"; exit 0; }
# (it may be due for renewal by now, and then is renewed at once: the log says what started)
tail -n 20 "$T/gw.log" | grep -qi "issued: serving cached certificate $serial_before" \
  && pass gateway_tp_restart_reuses_cached || fail gateway_tp_restart_reuses_cached "$(grep -i cached "$T/gw.log" | tail -2) vs $serial_before"
r=$(resume "$L_ISS" "" "$T/s1.pem")
(( $(date +%s) - t1 <= 6 )) && { [[ $r == Reused ]] && pass gateway_tp_ticket_survives_restart || fail gateway_tp_ticket_survives_restart "$r"; } \
  || skip gateway_tp_ticket_survives_restart "the restart took $(( $(date +%s) - t1 ))s, past the window of 6s the test can rely on"
# past the window (rotate 3s x (1 + keep 2) from its period's start, at most 9s after issue):
# the key is gone. The client's clock is held 1 s after the ticket so it still offers it.
while (( $(date +%s) < t1 + 11 )); do sleep 0.5; done
[[ $(resume "$L_ISS" "$((t1 + 1))" "$T/s1.pem") == New ]] && pass gateway_tp_ticket_refused_after_window || fail gateway_tp_ticket_refused_after_window "still resumed"
sleep 0.4
jq_eq gateway_tp_event_not_resumed "$(jq -c -s 'sort_by(.time) | last' "$EV" > "$T/e.json"; echo "$T/e.json")" '[.listener, .result, .resumed] | map(tostring) | join(" ")' "issued ok false" || cat "$T/e.json"

# ---- the CA fails (its key is gone, the signer dies): backoff, old certificate keeps serving
signer=$(sed -n "s/.*CA 'hilt' signs through signer process \([0-9]*\).*/\1/p" "$T/gw.log" | tail -1)
mv "$HILT_HOME/ca/hilt/intermediate.key" "$T/intermediate.key.away"
kill -KILL "$signer"
att=0
for _ in $(seq 1 60); do att=$(status | jq '.trust_plane.certificates[0].attempts'); (( att >= 1 )) && break; sleep 0.5; done
st=$(status)
(( att >= 1 )) && pass gateway_tp_ca_failure_recorded || fail gateway_tp_ca_failure_recorded "$(jq -c '.trust_plane.certificates[0]' <<<"$st")"
jq -e '.trust_plane.certificates[0].last_error | test("intermediate.key|key")' <<<"$st" >/dev/null && pass gateway_tp_ca_failure_error || fail gateway_tp_ca_failure_error "$(jq -r '.trust_plane.certificates[0].last_error' <<<"$st")"
na=$(jq -r '.trust_plane.certificates[0].next_attempt_at' <<<"$st")
wait_s=$(( $(date -d "$na" +%s) - $(date +%s) ))
(( wait_s >= 5 && wait_s <= 20 )) && pass gateway_tp_backoff "next attempt in ${wait_s}s" || fail gateway_tp_backoff "next attempt $na (${wait_s}s)"
"$T/gl" -p "$L_ISS" -n 100 -c 4 -x > "$T/during-failure.out" 2>&1 && grep -q failed=0 "$T/during-failure.out" \
  && pass gateway_tp_serves_during_ca_failure || fail gateway_tp_serves_during_ca_failure "$(cat "$T/during-failure.out")"
grep -q "renewing the certificate failed (attempt 1" "$T/gw.log" && pass gateway_tp_failure_logged || fail gateway_tp_failure_logged "$(grep -i renew "$T/gw.log" | tail -2)"
issued_before=$(jq '.trust_plane.certificates[0].issued' <<<"$st")
mv "$T/intermediate.key.away" "$HILT_HOME/ca/hilt/intermediate.key"
ok=0
for _ in $(seq 1 80); do
  st=$(status)
  if (( $(jq '.trust_plane.certificates[0].issued' <<<"$st") > issued_before )) && [[ $(jq '.trust_plane.certificates[0].attempts' <<<"$st") == 0 ]]; then ok=1; break; fi
  sleep 0.5
done
(( ok )) && pass gateway_tp_ca_recovered || fail gateway_tp_ca_recovered "$(jq -c '.trust_plane.certificates[0]' <<<"$st")"
grep -q "signer process $signer is gone; starting another" "$T/gw.log" && pass gateway_tp_signer_restarted || fail gateway_tp_signer_restarted "$(grep -i signer "$T/gw.log" | tail -3)"

# ---- the push from the trust plane: hilt renew deploys, the gateway serves it -----------------
manifest push "  reload: curl -sf -o /dev/null -X POST http://127.0.0.1:$ADMIN/reload"
expect_exit 0 gateway_tp_apply_reload_hook H apply "$M"
gen0=$(status | jq .generation)
load_loop "$L_PUSH" "$T/load-push.out" 16 &
LP1=$!
load_loop "$L_WATCH" "$T/load-watch.out" 16 &
LP2=$!
sleep 1
pushed_ok=1 last_push="" last_watch=""
for i in 1 2 3; do
  H renew push --json > "$T/renew-push.json" 2>"$T/renew-push.err" || pushed_ok=0
  [[ $(jq -r '.[0].ok' "$T/renew-push.json") == true ]] || pushed_ok=0
  last_push=$(jq -r '.[0].serial' "$T/renew-push.json")
  H renew watch --json > "$T/renew-watch.json" 2>>"$T/renew-watch.err" || pushed_ok=0
  last_watch=$(jq -r '.[0].serial' "$T/renew-watch.json")
  sleep 3
done
wait $LP1 $LP2
(( pushed_ok )) && pass gateway_tp_renew_runs_reload || fail gateway_tp_renew_runs_reload "$(cat "$T/renew-push.json" "$T/renew-push.err")"
[[ "$(served_serial "$L_PUSH")" == "$(tr A-F a-f <<<"$last_push")" ]] && pass gateway_tp_push_reload_serves_new || fail gateway_tp_push_reload_serves_new "served $(served_serial "$L_PUSH"), deployed $last_push"
[[ "$(served_serial "$L_WATCH")" == "$(tr A-F a-f <<<"$last_watch")" ]] && pass gateway_tp_push_watcher_serves_new || fail gateway_tp_push_watcher_serves_new "served $(served_serial "$L_WATCH"), deployed $last_watch"
for l in push watch; do
  r=$(grep -c "^mode=hs" "$T/load-$l.out")
  if ! grep -v "failed=0" "$T/load-$l.out" | grep -q . && (( r > 2 )); then pass "gateway_tp_push_zero_failures_$l" "$r rounds"; else fail "gateway_tp_push_zero_failures_$l" "$(grep -v 'failed=0' "$T/load-$l.out" | head -3)"; fi
done
nf=$(jq -r 'select((.listener == "pushed" or .listener == "watched") and .result == "failed") | .code' "$EV" | wc -l)
[[ $nf == 0 ]] && pass gateway_tp_push_no_failed_events || fail gateway_tp_push_no_failed_events "$nf failed"
(( $(status | jq .generation) >= gen0 + 6 )) && pass gateway_tp_push_generations || fail gateway_tp_push_generations "generation $gen0 -> $(status | jq .generation)"

# ---- reloads: a new issue: entry is taken hot; a new ticket store needs a restart -------------
write_config "  - name: added
    listen: 127.0.0.1:$L_ADD
    profile: modern
    certificates: [{issue: {names: [added.localhost], lifetime: 1h}}]
    routes: [{sni: \"*\", backend: echo}]"
r=$(curl -s -X POST "http://127.0.0.1:$ADMIN/reload")
[[ $(jq .ok <<<"$r") == true ]] && pass gateway_tp_reload_adds_issue || fail gateway_tp_reload_adds_issue "$r"
wait_port "$L_ADD" 5
subj=$(timeout 5 openssl s_client -connect "127.0.0.1:$L_ADD" -servername added.localhost -CAfile "$T/roots.pem" -verify_return_error </dev/null 2>/dev/null | openssl x509 -noout -ext subjectAltName 2>/dev/null | grep -o "DNS:added.localhost")
[[ "$subj" == "DNS:added.localhost" ]] && pass gateway_tp_added_serves || fail gateway_tp_added_serves "'$subj'"
openssl rand -hex 32 > "$GW/other.key"; chmod 600 "$GW/other.key"
write_config "" other.key
r=$(curl -s -X POST "http://127.0.0.1:$ADMIN/reload")
[[ $(jq .ok <<<"$r") == false ]] && jq -e '.error | test("tickets: changing store, store_key or ring needs a restart")' <<<"$r" >/dev/null \
  && pass gateway_tp_reload_ticket_store_refused || fail gateway_tp_reload_ticket_store_refused "$r"
[[ $(status | jq '.trust_plane.certificates | length') == 2 ]] && pass gateway_tp_failed_reload_keeps_entries || fail gateway_tp_failed_reload_keeps_entries "$(status | jq -c '[.trust_plane.certificates[].listener]')"
"$T/gl" -p "$L_ISS" -n 20 -c 2 -x 2>&1 | grep -q failed=0 && pass gateway_tp_serves_after_refused_reload || fail gateway_tp_serves_after_refused_reload "handshakes failed"

# ---- the audit chain holds; orderly stop; no sanitizer report; no signer left behind ----------
expect_exit 0 gateway_tp_audit_verify H audit verify
signers=$(pgrep -P "$GWPID")
kill -TERM $GWPID; wait $GWPID; rc=$?
[[ $rc == 0 ]] && pass gateway_tp_sigterm_exit0 || fail gateway_tp_sigterm_exit0 "exit $rc"
left=""; for p in $signers; do kill -0 "$p" 2>/dev/null && left+=" $p"; done
[[ -n "$signers" && -z "$left" ]] && pass gateway_tp_signers_stopped || fail gateway_tp_signers_stopped "signer children '$signers', still running:$left"
grep -q "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error" "$T/gw.log" && fail gateway_tp_sanitizers "$(grep -A5 'ERROR' "$T/gw.log" | head -20)" || pass gateway_tp_sanitizers
grep -qiE "[0-9a-f]{64}" <(grep -v "sha256\|serial" "$T/gw.log") && fail gateway_tp_no_key_material_logged "a 64-hex string in the log" || pass gateway_tp_no_key_material_logged
