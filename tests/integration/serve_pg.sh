#!/usr/bin/env bash
# serve_pg.sh - two `hilt serve` nodes on one private PostgreSQL: requests and
# approvals made on either node are seen on both; two approvers racing on one
# request on the two nodes: exactly one wins; pre-approved issuance on both
# draws distinct serials; exactly one node holds the renewal lease and only it
# runs `renew --due` (a manifest due every few seconds shows who renewed, in
# the audit chain); SIGKILL the holder and the other takes over within the
# lease TTL (new epoch, audited). Also runs test_api_submit's PostgreSQL half.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../lib_pg.sh"
if ! pg_start; then
  skip serve_pg "$PG_WHY"
  exit 0
fi
URL=$(pg_newdb hilt_serve) || { fail serve_pg_createdb "createdb failed"; exit 0; }
export HILT_HOME="$T/home"
H() { "$HILT" "$@" --store "$URL"; }
psqlq() { "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U hilt -d hilt_serve -At -c "$1"; }

# the PostgreSQL half of the unit tests
if [[ -x "$BUILD/san/tests/test_api_submit" ]]; then
  HILT_TEST_PG_URL=$(pg_newdb hilt_unit) "$BUILD/san/tests/test_api_submit" > "$T/unit.log" 2>&1
  n=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$T/unit.log")
  grep -q "FAILED\|ERROR" "$T/unit.log" && fail serve_pg_unit "$(grep -E 'FAILED|ERROR' "$T/unit.log" | head -5)" ||
    { [[ "${n:-0}" -ge 20 ]] && pass serve_pg_unit || fail serve_pg_unit "only ${n:-0} passed"; }
else
  fail serve_pg_unit "no $BUILD/san/tests/test_api_submit (make san)"
fi

H ca init --allow-domain example.com --allow-domain internal --allow-domain localhost \
  --allow-domain 127.0.0.1 >/dev/null || { fail serve_pg_ca "ca init failed"; exit 0; }
"$HILT" ca roots --store "$URL" --out "$T/roots.pem"
export HILT_CA_FILE="$T/roots.pem"

# a manifest that is due again a few seconds after each issuance
mkdir -p "$T/manifests" "$T/deploy"
cat > "$T/manifests/tick.yaml" <<EOF
kind: Certificate
metadata: {name: tick}
spec:
  dnsNames: [tick.svc.internal]
  duration: 10m
  renewBefore: 9m56s
  targets:
    - cert: $T/deploy/tick.crt
      key: $T/deploy/tick.key
EOF
H apply "$T/manifests" >/dev/null || fail serve_pg_apply "$(H apply "$T/manifests" 2>&1 | tail -2)"

PA=$(free_port)
PB=$(free_port)
conf() { # NODE PORT
  cat <<EOF
node: $1
store: $URL
listeners: [{listen: "127.0.0.1:$2"}]
scopes: [{names: '*.svc.internal', max_lifetime: 7d}]
renewal: {interval: 2s, lease_ttl: 3s}
EOF
}
conf node-a "$PA" > "$T/a.yaml"
conf node-b "$PB" > "$T/b.yaml"
start() { # NODE
  "$HILT" serve -c "$T/$1.yaml" >"$T/$1.out" 2>"$T/$1.err" &
  eval "PID_$1=$!"
  _bg_pids+=("$!")
}
start a
wait_port "$PA" 30 || { fail serve_pg_start_a "$(tail -3 "$T/a.err")"; exit 0; }
start b
wait_port "$PB" 30 && pass serve_pg_two_nodes || { fail serve_pg_two_nodes "$(tail -3 "$T/b.err")"; exit 0; }

A="https://localhost:$PA"
B="https://localhost:$PB"
ALICE=$(H token create --name alice --role requester 2>/dev/null)
BOB=$(H token create --name bob --role approver 2>/dev/null)
CAROL=$(H token create --name carol --role approver 2>/dev/null)
AUD=$(H token create --name aud --role auditor 2>/dev/null)

# requests and approvals across nodes
"$HILT" request --server "$A" --token "$ALICE" --name api.example.com --key-out "$T/api.key" \
  --env prod --json > "$T/req.json"
RID=$(jq -r .request.id "$T/req.json")
[[ $(jq -r .request.state "$T/req.json") == pending ]] && pass serve_pg_request_on_a || fail serve_pg_request_on_a "$(cat "$T/req.json")"
"$HILT" requests --server "$B" --token "$BOB" --state pending --json > "$T/list.json"
jq -e --arg r "$RID" '[.items[].id] | index($r) != null' "$T/list.json" >/dev/null &&
  pass serve_pg_seen_on_b || fail serve_pg_seen_on_b "$(cat "$T/list.json")"
"$HILT" approve "$RID" --server "$B" --token "$BOB" --json > "$T/appr.json"
jq_eq serve_pg_approved_on_b "$T/appr.json" .request.state issued
"$HILT" requests show "$RID" --server "$A" --token "$ALICE" --json > "$T/show.json"
jq_eq serve_pg_issued_seen_on_a "$T/show.json" '.request.state + " " + .request.approver' "issued token:bob"

# two approvers racing on one request, one on each node: exactly one wins
"$HILT" request --server "$A" --token "$ALICE" --name race.example.com --key-out "$T/race.key" --env prod --json > "$T/race.json"
R2=$(jq -r .request.id "$T/race.json")
for i in 1 2 3; do
  "$HILT" request --server "$B" --token "$ALICE" --name "race$i.example.com" --key-out "$T/race$i.key" --env prod --json > "$T/race$i.json"
done
wins=0 conflicts=0
for r in "$R2" $(jq -r .request.id "$T"/race[123].json); do
  "$HILT" approve "$r" --server "$A" --token "$BOB" >/dev/null 2>"$T/ra.err" & p1=$!
  "$HILT" approve "$r" --server "$B" --token "$CAROL" >/dev/null 2>"$T/rb.err" & p2=$!
  wait $p1; a=$?; wait $p2; b=$?
  (( (a == 0) + (b == 0) == 1 )) && wins=$((wins + 1))
  grep -q " 409 " "$T/ra.err" "$T/rb.err" && conflicts=$((conflicts + 1))
done
[[ $wins == 4 && $conflicts == 4 ]] && pass serve_pg_race_one_winner || fail serve_pg_race_one_winner "wins=$wins conflicts=$conflicts"

# pre-approved on both nodes: distinct serials from the shared sequence
for i in 1 2 3; do
  "$HILT" request --server "$A" --token "$ALICE" --name "a$i.svc.internal" --key-out "$T/k" --lifetime 1d --json | jq -r .request.serial
  "$HILT" request --server "$B" --token "$ALICE" --name "b$i.svc.internal" --key-out "$T/k" --lifetime 1d --json | jq -r .request.serial
done > "$T/serials"
[[ $(sort -u "$T/serials" | grep -c '^48') == 6 ]] && pass serve_pg_serials_distinct || fail serve_pg_serials_distinct "$(cat "$T/serials")"

# exactly one renewer
held() { curl -s --cacert "$T/roots.pem" "$1/metrics" | sed -n 's/^hilt_serve_lease_held{[^}]*} //p'; }
runs() { curl -s --cacert "$T/roots.pem" "$1/metrics" | sed -n 's/^hilt_serve_renewal_runs_total{[^}]*} //p'; }
sleep 7
ha=$(held "$A") hb=$(held "$B")
[[ $((ha + hb)) == 1 ]] && pass serve_pg_one_lease_holder || fail serve_pg_one_lease_holder "a=$ha b=$hb"
if [[ $ha == 1 ]]; then HOLD=a OTHER=b; else HOLD=b OTHER=a; fi
eval "HURL=\$$(tr a-z A-Z <<<"$HOLD")"
eval "OURL=\$$(tr a-z A-Z <<<"$OTHER")"
ra=$(runs "$HURL") ro=$(runs "$OURL")
[[ ${ra:-0} -ge 2 && ${ro:-1} == 0 ]] && pass serve_pg_only_holder_runs || fail serve_pg_only_holder_runs "holder runs=$ra other runs=$ro"
curl -s --cacert "$T/roots.pem" -H "Authorization: Bearer $AUD" "$OURL/v1/leases" > "$T/leases.json"
jq_eq serve_pg_lease_visible "$T/leases.json" '.items[0].holder + " " + (.items[0].valid|tostring)' "node-$HOLD true"
by_holder=$(psqlq "SELECT COUNT(*) FROM audit WHERE action='cert.issue' AND actor='serve:node-$HOLD' AND object LIKE '%tick.svc.internal%'")
by_other=$(psqlq "SELECT COUNT(*) FROM audit WHERE action='cert.issue' AND actor='serve:node-$OTHER' AND object LIKE '%tick.svc.internal%'")
[[ ${by_holder:-0} -ge 1 && $by_other == 0 ]] && pass serve_pg_holder_renewed || fail serve_pg_holder_renewed "holder=$by_holder other=$by_other"

# kill the holder: the other takes over after the lease TTL (3s)
eval "kill -KILL \$PID_$HOLD"
t0=$(date +%s)
for _ in $(seq 1 40); do [[ $(held "$OURL") == 1 ]] && break; sleep 0.25; done
took=$(( $(date +%s) - t0 ))
[[ $(held "$OURL") == 1 && $took -le 6 ]] && pass serve_pg_takeover || fail serve_pg_takeover "after ${took}s held=$(held "$OURL")"
ep=$(psqlq "SELECT holder || ' ' || epoch FROM api_leases WHERE name='renewal'")
[[ "$ep" == "node-$OTHER "[2-9]* ]] && pass serve_pg_takeover_epoch || fail serve_pg_takeover_epoch "$ep"
[[ $(psqlq "SELECT COUNT(*) FROM audit WHERE action='lease.acquire' AND actor='serve:node-$OTHER'") -ge 1 ]] &&
  pass serve_pg_takeover_audited || fail serve_pg_takeover_audited "no lease.acquire by node-$OTHER"
sleep 5
[[ $(psqlq "SELECT COUNT(*) FROM audit WHERE action='cert.issue' AND actor='serve:node-$OTHER' AND object LIKE '%tick.svc.internal%'") -ge 1 ]] &&
  pass serve_pg_new_holder_renews || fail serve_pg_new_holder_renews "no renewal by node-$OTHER"
"$HILT" audit verify --store "$URL" >/dev/null && pass serve_pg_audit_chain || fail serve_pg_audit_chain "$("$HILT" audit verify --store "$URL" 2>&1)"
eval "kill -TERM \$PID_$OTHER; wait \$PID_$OTHER"
[[ $? == 0 ]] && pass serve_pg_stop || fail serve_pg_stop "exit status"
grep -q "ERROR: LeakSanitizer\|ERROR: AddressSanitizer" "$T/$OTHER.err" && fail serve_pg_sanitizers "$(grep -A5 ERROR "$T/$OTHER.err" | head)" || pass serve_pg_sanitizers
