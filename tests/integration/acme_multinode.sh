#!/usr/bin/env bash
# acme_multinode.sh - two `hilt serve` nodes on one private PostgreSQL, one ACME service:
# a nonce of node 1 is good once on node 2 and then refused on node 1 (badNonce: the
# MAC key and the replay set are in the store); an order created and validated
# through node 1 is finalized and downloaded through node 2 (kid minted by node 1);
# the account, the orders and the audit records are the same seen from either node;
# an ARI pull-forward made with the CLI shows on both nodes' renewalInfo; certbot on
# node 2 with an account made on node 1's store works; nothing is deferred (every
# change is visible to the other node at once).
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../lib_pg.sh"
source "$(dirname "$0")/../lib_acme.sh"
if ! pg_start; then
  skip acme_multinode "$PG_WHY"
  exit 0
fi
URL=$(pg_newdb hilt_acme) || { fail acme_multinode_createdb "createdb failed"; exit 0; }
export HILT_HOME="$T/home"
H() { "$HILT" "$@" --store "$URL"; }
H ca init >/dev/null || { fail acme_multinode_ca "ca init failed"; exit 0; }
"$HILT" ca roots --store "$URL" --out "$T/roots.pem"
acme_client_build || { fail acme_multinode_client "$(cat "$T/acme_load.cc.err")"; exit 0; }
PA=$(free_port); PB=$(free_port); CH=$(free_port)
for n in a b; do
  port=$PA; [[ $n == b ]] && port=$PB
  bg "$HILT" serve --store "$URL" --node "node-$n" --listen "127.0.0.1:$port" \
    --preapprove '*.example.test,30d' --http01-port "$CH" --resolve '*.example.test=127.0.0.1' \
    2>"$T/serve-$n.log"
done
wait_port "$PA" 30 && wait_port "$PB" 30 || { fail acme_multinode_serve "$(tail -3 "$T"/serve-*.log)"; exit 0; }
DA="https://127.0.0.1:$PA/acme/directory"
DB="https://127.0.0.1:$PB/acme/directory"
AC() { "$ACME_CLIENT" --ca "$T/roots.pem" --key "$T/acct.key" "$@"; }

AC --dir "$DA" nonce-cross "$DB" >"$T/nonce.json" 2>"$T/nonce.err" || true
jq_eq acme_multinode_nonce_other_node_once "$T/nonce.json" \
  '[.node2_first_use, .node1_second_use, .second_type] | map(tostring) | join(" ")' \
  "200 400 urn:ietf:params:acme:error:badNonce"
AC --dir "$DA" order --http-port "$CH" --finalize-dir "https://127.0.0.1:$PB" --out "$T/x" \
  split.example.test >"$T/split.out" 2>&1 && pass acme_multinode_order_split ||
  fail acme_multinode_order_split "$(cat "$T/split.out")"
openssl verify -CAfile "$T/roots.pem" -untrusted "$T/x.crt" "$T/x.crt" >/dev/null 2>&1 &&
  pass acme_multinode_split_chains || fail acme_multinode_split_chains "does not verify"
# the same store: one account, one order, valid, seen through the CLI
H acme accounts --json >"$T/accts.json"
jq_eq acme_multinode_one_account "$T/accts.json" 'length' 1
H acme orders --json >"$T/orders.json"
jq_eq acme_multinode_order_valid "$T/orders.json" '[.[] | select(.status == "valid")] | length' 1
S=$(openssl x509 -in "$T/x.crt" -noout -serial | cut -d= -f2 | tr A-F a-f)
# ARI on both nodes, then pulled forward through the store
AC --dir "$DA" ari "$T/x.crt" >"$T/ariA.json"
AC --dir "$DB" ari "$T/x.crt" >"$T/ariB.json"
[[ "$(jq -c '[.start,.end]' "$T/ariA.json")" == "$(jq -c '[.start,.end]' "$T/ariB.json")" && \
   "$(jq -r .status "$T/ariA.json")" == 200 ]] && pass acme_multinode_ari_same ||
  fail acme_multinode_ari_same "$(cat "$T/ariA.json" "$T/ariB.json")"
H acme ari pull-forward --serial "$S" --to now --reason "multi-node drill" >/dev/null
AC --dir "$DB" ari "$T/x.crt" >"$T/ariB2.json"
(( $(date -d "$(jq -r .end "$T/ariB2.json")" +%s) <= $(date +%s) )) && pass acme_multinode_ari_pulled ||
  fail acme_multinode_ari_pulled "$(cat "$T/ariB2.json")"
# certbot through node b, lego through node a
if command -v certbot >/dev/null; then
  REQUESTS_CA_BUNDLE="$T/roots.pem" certbot certonly --non-interactive --standalone --server "$DB" \
    --agree-tos --register-unsafely-without-email --http-01-port "$CH" --http-01-address 127.0.0.1 \
    --config-dir "$T/cb/c" --work-dir "$T/cb/w" --logs-dir "$T/cb/l" -d cb.example.test >"$T/cb.out" 2>&1 &&
    pass acme_multinode_certbot_node_b || fail acme_multinode_certbot_node_b "$(tail -5 "$T/cb.out" | tr '\n' ' ')"
else
  skip acme_multinode_certbot_node_b "certbot is not installed"
fi
if command -v lego >/dev/null; then
  LEGO_CA_CERTIFICATES="$T/roots.pem" lego --accept-tos --email o@example.test --path "$T/lg" --server "$DA" \
    --domains lg.example.test --http --http.port "127.0.0.1:$CH" run >"$T/lg.out" 2>&1 &&
    pass acme_multinode_lego_node_a || fail acme_multinode_lego_node_a "$(tail -5 "$T/lg.out" | tr '\n' ' ')"
else
  skip acme_multinode_lego_node_a "lego is not installed"
fi
H acme orders --json >"$T/orders2.json"
jq_eq acme_multinode_orders_valid "$T/orders2.json" '[.[] | select(.status == "valid")] | length' 3
H audit verify >/dev/null && pass acme_multinode_audit || fail acme_multinode_audit "$(H audit verify 2>&1)"
n=$("$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U hilt -d hilt_acme -At -c "SELECT COUNT(*) FROM acme_nonces")
(( n > 0 )) && pass acme_multinode_replay_set_shared || fail acme_multinode_replay_set_shared "no used nonce in the store"
