#!/usr/bin/env bash
# clm_pg.sh - tests/integration/clm.sh again with every hilt command pointed at
# a private PostgreSQL (--store postgres://…): plan/apply/rollback, revisions,
# repair, policy refusals, the audit chain.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../lib_pg.sh"
if ! pg_start; then
  skip clm_pg "$PG_WHY"
  exit 0
fi
url=$(pg_newdb hilt_clm) || { fail clm_pg-createdb "createdb failed"; exit 0; }
STORE_URL="$url" bash "$(dirname "$0")/clm.sh"
