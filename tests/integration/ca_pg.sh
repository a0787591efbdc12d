#!/usr/bin/env bash
# ca_pg.sh - tests/integration/ca.sh again, with every hilt command pointed at a
# private PostgreSQL (--store postgres://…): issuance, revocation, CRLs,
# inventory, audit, two processes issuing and revoking at once, PKCS#11.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../lib_pg.sh"
if ! pg_start; then
  skip ca_pg "$PG_WHY"
  exit 0
fi
url=$(pg_newdb hilt_ca) || { fail ca_pg-createdb "createdb failed"; exit 0; }
STORE_URL="$url" bash "$(dirname "$0")/ca.sh"
