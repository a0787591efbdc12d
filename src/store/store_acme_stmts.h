/* store_acme_stmts.h - the SQL of schema 4 (the ACME server: accounts,
 * orders, authorizations, challenges, the nonce replay set, the nonce MAC
 * key, ARI overrides), as HILT_STMT(ID, sql, pg-override) lines.
 * store_int.h expands it into statement ids, store.c into the statement
 * table; store_acme.c runs them. No include guard: it is expanded twice.
 * Values are always bound ($N); see docs/acme.md for the tables. */

#define ACME_ACCT_COLS "id, thumbprint, jwk, status, contact, tos_agreed, created, updated"
#define ACME_ORDER_COLS                                                                            \
    "id, account, status, identifiers, expires, not_before, not_after, lifetime, error, "          \
    "request_id, serial, replaces, replaces_serial, created, updated"
#define ACME_AUTHZ_COLS "id, order_id, pos, account, id_type, id_value, status, expires"
#define ACME_ARI_COLS                                                                              \
    "id, kind, match, shift, until, reason, explanation_url, actor, created, cancelled, "           \
    "cert_id_max"

/* accounts: one per key (thumbprint UNIQUE) */
HILT_STMT(ST_ACME_ACCT_INSERT,
          "INSERT INTO acme_accounts(" ACME_ACCT_COLS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
          "ON CONFLICT (thumbprint) DO NOTHING",
          NULL)
HILT_STMT(ST_ACME_ACCT_GET, "SELECT " ACME_ACCT_COLS " FROM acme_accounts WHERE id = $1", NULL)
HILT_STMT(ST_ACME_ACCT_BY_TP, "SELECT " ACME_ACCT_COLS " FROM acme_accounts WHERE thumbprint = $1",
          NULL)
HILT_STMT(ST_ACME_ACCT_UPDATE,
          "UPDATE acme_accounts SET contact = COALESCE($2, contact), status = COALESCE($3, "
          "status), updated = $4 WHERE id = $1 AND status = 'valid'",
          NULL)
/* key rollover: only from the key the account has now */
HILT_STMT(ST_ACME_ACCT_REKEY,
          "UPDATE acme_accounts SET thumbprint = $3, jwk = $4, updated = $5 WHERE id = $1 AND "
          "thumbprint = $2 AND status = 'valid'",
          NULL)
HILT_STMT(ST_ACME_ACCT_LIST, "SELECT " ACME_ACCT_COLS " FROM acme_accounts ORDER BY created, id",
          NULL)

/* orders */
HILT_STMT(ST_ACME_ORDER_INSERT,
          "INSERT INTO acme_orders(" ACME_ORDER_COLS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, "
          "$9, $10, $11, $12, $13, $14, $15)",
          NULL)
HILT_STMT(ST_ACME_ORDER_GET, "SELECT " ACME_ORDER_COLS " FROM acme_orders WHERE id = $1", NULL)
HILT_STMT(ST_ACME_ORDER_BY_SERIAL,
          "SELECT " ACME_ORDER_COLS " FROM acme_orders WHERE serial = $1 ORDER BY created DESC "
          "LIMIT 1",
          NULL)
HILT_STMT(ST_ACME_ORDER_LIST_ACCT,
          "SELECT " ACME_ORDER_COLS " FROM acme_orders WHERE account = $1 ORDER BY created DESC, "
          "id LIMIT $2",
          NULL)
HILT_STMT(ST_ACME_ORDER_LIST,
          "SELECT " ACME_ORDER_COLS " FROM acme_orders ORDER BY created DESC, id LIMIT $1", NULL)
/* every status change is conditional on the status it leaves (§7.1.6) */
HILT_STMT(ST_ACME_ORDER_SET_STATUS,
          "UPDATE acme_orders SET status = $3, updated = $4 WHERE id = $1 AND status = $2", NULL)
HILT_STMT(ST_ACME_ORDER_FINISH,
          "UPDATE acme_orders SET status = $3, serial = $4, request_id = $5, error = $6, "
          "updated = $7 WHERE id = $1 AND status = $2",
          NULL)
/* ready once no authorization of the order is other than valid */
HILT_STMT(ST_ACME_ORDER_READY_IF_ALL,
          "UPDATE acme_orders SET status = 'ready', updated = $2 WHERE id = $1 AND status = "
          "'pending' AND NOT EXISTS (SELECT 1 FROM acme_authzs WHERE order_id = $1 AND status <> "
          "'valid')",
          NULL)
HILT_STMT(ST_ACME_ORDER_INVALIDATE,
          "UPDATE acme_orders SET status = 'invalid', error = $2, updated = $3 WHERE id = $1 AND "
          "status IN ('pending', 'ready')",
          NULL)
/* RFC 9773 §5: a certificate is replaced once, by an order that is not invalid */
HILT_STMT(ST_ACME_ORDER_REPLACED,
          "SELECT id FROM acme_orders WHERE replaces_serial = $1 AND status <> 'invalid' LIMIT 1",
          NULL)

/* authorizations and challenges */
HILT_STMT(ST_ACME_AUTHZ_INSERT,
          "INSERT INTO acme_authzs(" ACME_AUTHZ_COLS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
          NULL)
HILT_STMT(ST_ACME_AUTHZ_GET, "SELECT " ACME_AUTHZ_COLS " FROM acme_authzs WHERE id = $1", NULL)
HILT_STMT(ST_ACME_AUTHZ_LIST,
          "SELECT " ACME_AUTHZ_COLS " FROM acme_authzs WHERE order_id = $1 ORDER BY pos", NULL)
HILT_STMT(ST_ACME_AUTHZ_SET_STATUS,
          "UPDATE acme_authzs SET status = $3 WHERE id = $1 AND status = $2", NULL)
HILT_STMT(ST_ACME_CHALL_INSERT,
          "INSERT INTO acme_challenges(authz_id, type, token, status, started, validated, error) "
          "VALUES ($1, $2, $3, $4, $5, $6, $7)",
          NULL)
HILT_STMT(ST_ACME_CHALL_LIST,
          "SELECT authz_id, type, token, status, started, validated, error FROM acme_challenges "
          "WHERE authz_id = $1 ORDER BY type",
          NULL)
HILT_STMT(ST_ACME_CHALL_START,
          "UPDATE acme_challenges SET status = 'processing', started = $3 WHERE authz_id = $1 "
          "AND type = $2 AND status = 'pending'",
          NULL)
/* a validation whose node died: taken over by whoever sees it stale */
HILT_STMT(ST_ACME_CHALL_RESTART,
          "UPDATE acme_challenges SET started = $4 WHERE authz_id = $1 AND type = $2 AND status "
          "= 'processing' AND started = $3",
          NULL)
HILT_STMT(ST_ACME_CHALL_FINISH,
          "UPDATE acme_challenges SET status = $3, validated = $4, error = $5 WHERE authz_id = $1 "
          "AND type = $2 AND status IN ('pending', 'processing')",
          NULL)

/* nonces: the replay set, and the key that makes nonces verifiable on every node */
HILT_STMT(ST_ACME_NONCE_USE,
          "INSERT INTO acme_nonces(nonce, expires) VALUES ($1, $2) ON CONFLICT (nonce) DO NOTHING",
          NULL)
HILT_STMT(ST_ACME_NONCE_PURGE, "DELETE FROM acme_nonces WHERE expires < $1", NULL)
HILT_STMT(ST_ACME_SECRET_INSERT,
          "INSERT INTO acme_secrets(name, value, created) VALUES ($1, $2, $3) ON CONFLICT (name) "
          "DO NOTHING",
          NULL)
HILT_STMT(ST_ACME_SECRET_GET, "SELECT value FROM acme_secrets WHERE name = $1", NULL)

/* ARI: the operator's pulled-forward windows */
/* an override covers the certificates recorded before it: up to the last id */
HILT_STMT(ST_ACME_ARI_INSERT,
          "INSERT INTO acme_ari_overrides(kind, match, shift, until, reason, explanation_url, "
          "actor, created, cancelled, cert_id_max) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, "
          "(SELECT COALESCE(MAX(id), 0) FROM certs)) RETURNING id",
          NULL)
HILT_STMT(ST_ACME_CERT_ID, "SELECT id FROM certs WHERE serial = $1 AND source = 'issued'", NULL)
HILT_STMT(ST_ACME_ARI_ACTIVE,
          "SELECT " ACME_ARI_COLS " FROM acme_ari_overrides WHERE cancelled = 0 ORDER BY id", NULL)
HILT_STMT(ST_ACME_ARI_ALL, "SELECT " ACME_ARI_COLS " FROM acme_ari_overrides ORDER BY id", NULL)
HILT_STMT(ST_ACME_ARI_CANCEL,
          "UPDATE acme_ari_overrides SET cancelled = $2 WHERE id = $1 AND cancelled = 0", NULL)
