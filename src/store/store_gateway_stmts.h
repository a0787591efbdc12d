/* store_gateway_stmts.h - the SQL of schema 5 (hilt gateway: session-ticket
 * keys shared by the gateways of one store), as HILT_STMT(ID, sql, pg) lines.
 * store_int.h expands it into statement ids, store.c into the statement
 * table; store_gateway.c runs them. No include guard: it is expanded twice.
 * Values are always bound ($N); docs/gateway.md describes the table. */

#define GW_TKEY_COLS "period, rotate, name, created, not_after, wrap_id, sealed"

/* insert-if-absent keyed on (ring, period): the first node to get there makes
 * the key of a period, every other node's insert changes nothing */
HILT_STMT(ST_GW_TKEY_INSERT,
          "INSERT INTO gateway_ticket_keys(ring, " GW_TKEY_COLS ") VALUES ($1, $2, $3, $4, $5, $6, "
          "$7, $8) ON CONFLICT (ring, period) DO NOTHING",
          NULL)
HILT_STMT(ST_GW_TKEY_LIST,
          "SELECT " GW_TKEY_COLS " FROM gateway_ticket_keys WHERE ring = $1 AND not_after > $2 "
          "ORDER BY period DESC LIMIT $3",
          NULL)
HILT_STMT(ST_GW_TKEY_PRUNE, "DELETE FROM gateway_ticket_keys WHERE not_after < $1", NULL)
