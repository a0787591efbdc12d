#!/usr/bin/env bash
# acme_pg.sh - the ACME server's unit tests (test_acme) against a real
# PostgreSQL: starts a private server (tests/lib_pg.sh) and runs the same test
# bodies that run on SQLite with HILT_TEST_PG_URL set, plus the two-node test
# (two ACME servers on one store: a nonce of node 1 is good once on node 2,
# an order begun on node 1 is finalized on node 2).
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../lib_pg.sh"

bin="$BUILD/san/tests/test_acme"
if [[ ! -x "$bin" ]]; then fail acme_pg "$bin not built (make san)"; exit 0; fi
if ! pg_start; then
  skip acme_pg "$PG_WHY"
  exit 0
fi
HILT_TEST_PG_URL="$HILT_TEST_PG_URL" "$bin" >"$T/test_acme.log" 2>&1; rc=$?
cat "$T/test_acme.log"
passed=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$T/test_acme.log" | tail -1)
skipped=$(grep -c '^\[  SKIPPED \]' "$T/test_acme.log")
if [[ $rc == 0 && $skipped == 0 ]]; then
  pass "pg/test_acme (${passed:-0} tests, SQLite and PostgreSQL, two nodes)"
elif [[ $rc == 0 ]]; then
  fail "pg/test_acme" "$skipped PostgreSQL test(s) skipped although a server was running"
else
  fail "pg/test_acme" "$(grep -E '^\[  (FAILED|ERROR) \]|ERROR: |runtime error' "$T/test_acme.log" | head -5 | tr '\n' ' ')"
fi
