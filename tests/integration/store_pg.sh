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

# a "server" that accepts the connection and never answers (a hung or stopped
# PostgreSQL): the open gives up after the default connect_timeout (10 s), exit 3,
# instead of waiting forever; a connect_timeout in the URL overrides the default
HP=$(free_port)
python3 -c 'import socket,sys,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16); c=[]
while True: c.append(s.accept()[0])' "$HP" &
_bg_pids+=($!)
wait_port "$HP" 5
t0=$(date +%s)
expect_exit 3 pg-hung-server timeout 30 "$HILT" inventory list --store "postgresql://hilt@127.0.0.1:$HP/x"
secs=$(( $(date +%s) - t0 ))
(( secs >= 9 && secs <= 20 )) && grep -q "cannot connect to store" "$T/last.err" &&
  pass "pg-hung-server-bounded (${secs}s)" || fail pg-hung-server-bounded "${secs}s: $(cat "$T/last.err")"
t0=$(date +%s)
expect_exit 3 pg-hung-server-url-timeout timeout 30 "$HILT" inventory list \
  --store "postgresql://hilt@127.0.0.1:$HP/x?connect_timeout=2"
secs=$(( $(date +%s) - t0 ))
(( secs <= 6 )) && pass "pg-url-connect-timeout-wins (${secs}s)" || fail pg-url-connect-timeout-wins "${secs}s"

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
