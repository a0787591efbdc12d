# tests/lib_pg.sh - a private PostgreSQL server for one test (source after tests/lib.sh).
#   pg_start      initdb + pg_ctl start in a fresh temporary directory, on a free
#                 loopback port (and a unix socket in that directory); exports
#                 HILT_TEST_PG_URL=postgresql://hilt@127.0.0.1:PORT/postgres.
#                 Returns 1 with PG_WHY set when no server can be started.
#   pg_newdb NAME create an empty database; prints its URL
#   PG_EXTRA_OPTS extra postgres options for pg_start (e.g. "-c ssl=on -c ssl_cert_file=...")
#   pg_stop       stop the server and remove its directory (also runs at exit)
# initdb refuses to run as root, so as root the server runs as the unprivileged
# system user hilt-test (created when missing), which owns the directory.
PG_DIR="" PG_PORT="" PG_WHY="" PG_BIN=""
_pg_run=()

pg_stop() {
  [[ -n "$PG_DIR" ]] || return 0
  "${_pg_run[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w stop >/dev/null 2>&1
  rm -rf "$PG_DIR"
  PG_DIR=""
}

pg_start() {
  PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  if [[ -z "$PG_BIN" || ! -x "$PG_BIN/initdb" ]]; then
    PG_WHY="no initdb (install the postgresql package: scripts/install-deps.sh)"; return 1
  fi
  PG_DIR=$(mktemp -d /tmp/hilt-pg.XXXXXX)
  chmod 755 "$PG_DIR"
  _pg_run=()
  if [[ $(id -u) == 0 ]]; then
    if ! id hilt-test >/dev/null 2>&1; then
      useradd --system --no-create-home --shell /usr/sbin/nologin hilt-test 2>/dev/null ||
        { PG_WHY="cannot create the hilt-test user for initdb"; return 1; }
    fi
    chown hilt-test "$PG_DIR"
    _pg_run=(runuser -u hilt-test --)
  fi
  if ! "${_pg_run[@]}" "$PG_BIN/initdb" -D "$PG_DIR/data" -U hilt -A trust -E UTF8 --no-sync \
      >"$PG_DIR/initdb.log" 2>&1; then
    PG_WHY="initdb failed: $(tail -3 "$PG_DIR/initdb.log" | tr '\n' ' ')"; return 1
  fi
  local i
  for i in 1 2 3; do
    PG_PORT=$(free_port)
    if "${_pg_run[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 30 \
        -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=60 ${PG_EXTRA_OPTS:-}" \
        start >/dev/null 2>&1; then
      export HILT_TEST_PG_URL="postgresql://hilt@127.0.0.1:$PG_PORT/postgres"
      return 0
    fi
  done
  PG_WHY="pg_ctl start failed: $(tail -3 "$PG_DIR/server.log" 2>/dev/null | tr '\n' ' ')"
  return 1
}

pg_newdb() {
  "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U hilt "$1" >/dev/null 2>&1 || return 1
  echo "postgresql://hilt@127.0.0.1:$PG_PORT/$1"
}

trap 'pg_stop; _cleanup' EXIT
