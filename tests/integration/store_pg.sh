#!/usr/bin/env bash
# store_pg.sh - the store and CA unit tests against a real PostgreSQL: starts a
# private server (tests/lib_pg.sh) and runs test_store and test_ca with
# HILT_TEST_PG_URL, so the same test bodies that run on SQLite run on PostgreSQL.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../lib_pg.sh"

# libpq is loaded only when a postgres:// store is opened: not a dependency of
# the binary (its chain costs every command ~3 ms at start), and a clear error
# when it cannot be loaded.
for b in "$HILT" "${HILT_REL:-}"; do
  [[ -x "$b" ]] || continue
  if readelf -d "$b" | grep -q 'NEEDED.*libpq'; then fail "libpq-not-linked-$(basename "$(dirname "$b")")" "$(readelf -d "$b" | grep libpq)"
  else pass "libpq-not-linked-$(basename "$(dirname "$b")")"; fi
done
HILT_LIBPQ=/nonexistent/libpq.so.5 expect_exit 3 libpq-missing "$HILT" inventory list --store postgresql://hilt@127.0.0.1:1/x
grep -q "needs libpq" "$T/last.err" && pass libpq-missing-msg || fail libpq-missing-msg "$(cat "$T/last.err")"

if ! pg_start; then
  skip store_pg "$PG_WHY"
  exit 0
fi
for t in test_store test_ca; do
  bin="$BUILD/san/tests/$t"
  if [[ ! -x "$bin" ]]; then fail "pg/$t" "$bin not built (make san)"; continue; fi
  HILT_TEST_PG_URL="$HILT_TEST_PG_URL" "$bin" >"$T/$t.log" 2>&1; rc=$?
  cat "$T/$t.log"
  passed=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$T/$t.log" | tail -1)
  skipped=$(grep -c '^\[  SKIPPED \] postgres' "$T/$t.log")
  if [[ $rc == 0 && $skipped == 0 ]]; then
    pass "pg/$t (${passed:-0} tests, SQLite and PostgreSQL)"
  elif [[ $rc == 0 ]]; then
    fail "pg/$t" "$skipped PostgreSQL test(s) skipped although a server was running"
  else
    fail "pg/$t" "$(grep -E '^\[  (FAILED|ERROR) \]|ERROR: |runtime error' "$T/$t.log" | head -5 | tr '\n' ' ')"
  fi
done
