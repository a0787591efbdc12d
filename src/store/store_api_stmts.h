/* store_api_stmts.h - the SQL of schema 3 (hilt serve: principals, tokens,
 * grants, requests, leases), as HILT_STMT(ID, sql, pg-override) lines.
 * store_int.h expands it into statement ids, store.c into the statement
 * table; store_api.c runs them. No include guard: it is expanded twice.
 * Values are always bound ($N); see docs/serve.md for the tables. */

#define API_REQ_COLS                                                                               \
    "id, rid, created, updated, requester, via, owner, service, env, names, lifetime, csr, "      \
    "state, approver, decided_at, reason, serial, issuer"
#define API_CERT_COLS                                                                              \
    "id, serial, sha256, ca, subject, names, not_before, not_after, key_type, owner, service, "   \
    "env, status, source, revoked_at, revoke_reason, created, pipeline"

/* principals */
HILT_STMT(ST_API_PRINCIPAL_ADD,
          "INSERT INTO api_principals(id, kind, created) VALUES ($1, $2, $3) "
          "ON CONFLICT (id) DO NOTHING",
          NULL)
HILT_STMT(ST_API_PRINCIPAL_GET,
          "SELECT id, kind, created, disabled_at FROM api_principals WHERE id = $1", NULL)
HILT_STMT(ST_API_PRINCIPAL_LIST,
          "SELECT id, kind, created, disabled_at FROM api_principals ORDER BY id", NULL)
HILT_STMT(ST_API_PRINCIPAL_DISABLE, "UPDATE api_principals SET disabled_at = $2 WHERE id = $1",
          NULL)

/* tokens: the secret is never stored, only its SHA-256 */
HILT_STMT(ST_API_TOKEN_ADD,
          "INSERT INTO api_tokens(id, name, principal, hash, created, expires_at, created_by) "
          "VALUES ($1, $2, $3, $4, $5, $6, $7)",
          NULL)
HILT_STMT(ST_API_TOKEN_GET,
          "SELECT t.id, t.name, t.principal, t.hash, t.created, t.expires_at, t.revoked_at, "
          "t.created_by, COALESCE(p.disabled_at, 0) FROM api_tokens t "
          "LEFT JOIN api_principals p ON p.id = t.principal WHERE t.id = $1",
          NULL)
HILT_STMT(ST_API_TOKEN_LIST,
          "SELECT t.id, t.name, t.principal, '', t.created, t.expires_at, t.revoked_at, "
          "t.created_by, COALESCE(p.disabled_at, 0) FROM api_tokens t "
          "LEFT JOIN api_principals p ON p.id = t.principal ORDER BY t.name",
          NULL)
HILT_STMT(ST_API_TOKEN_REVOKE,
          "UPDATE api_tokens SET revoked_at = $2 WHERE name = $1 AND revoked_at = 0", NULL)
HILT_STMT(ST_API_TOKEN_BY_NAME, "SELECT id FROM api_tokens WHERE name = $1", NULL)

/* role grants */
HILT_STMT(ST_API_GRANT_ADD,
          "INSERT INTO api_grants(principal, role, env, names, created, created_by) "
          "VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
          NULL)
HILT_STMT(ST_API_GRANT_OF,
          "SELECT id, principal, role, env, names, created, created_by FROM api_grants "
          "WHERE principal = $1 ORDER BY id",
          NULL)
HILT_STMT(ST_API_GRANT_LIST,
          "SELECT id, principal, role, env, names, created, created_by FROM api_grants "
          "ORDER BY principal, id",
          NULL)
HILT_STMT(ST_API_GRANT_DELETE, "DELETE FROM api_grants WHERE id = $1", NULL)

/* requests */
HILT_STMT(ST_API_REQ_ADD,
          "INSERT INTO api_requests(rid, created, updated, requester, via, owner, service, env, "
          "names, lifetime, csr, state, approver, decided_at, reason, serial, issuer) VALUES "
          "($1, $2, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
          NULL)
HILT_STMT(ST_API_REQ_GET, "SELECT " API_REQ_COLS " FROM api_requests WHERE rid = $1", NULL)
HILT_STMT(ST_API_REQ_LIST,
          "SELECT " API_REQ_COLS " FROM api_requests WHERE id > $1 AND ($2 = '' OR state = $2) "
          "AND ($3 = '' OR requester = $3) ORDER BY id LIMIT $4",
          NULL)
/* Decisions move a request out of one state only: two approvers (or two
 * nodes) racing on the same request cannot both win. */
HILT_STMT(ST_API_REQ_DECIDE,
          "UPDATE api_requests SET state = $2, approver = $3, decided_at = $4, updated = $4, "
          "reason = $5 WHERE rid = $1 AND state = 'pending'",
          NULL)
HILT_STMT(ST_API_REQ_ISSUED,
          "UPDATE api_requests SET state = 'issued', serial = $2, issuer = $3, updated = $4 "
          "WHERE rid = $1 AND state IN ('pending', 'approved')",
          NULL)
HILT_STMT(ST_API_REQ_BY_SERIAL, "SELECT " API_REQ_COLS " FROM api_requests WHERE serial = $1",
          NULL)
HILT_STMT(ST_API_REQ_COUNT,
          "SELECT state, COUNT(*) FROM api_requests GROUP BY state ORDER BY state", NULL)

/* node leases (expiry + heartbeat; a takeover bumps the epoch) */
HILT_STMT(ST_API_LEASE_ACQUIRE,
          "INSERT INTO api_leases(name, holder, epoch, acquired_at, heartbeat_at, expires_at) "
          "VALUES ($1, $2, 1, $3, $3, $4) ON CONFLICT (name) DO UPDATE SET "
          "epoch = CASE WHEN api_leases.holder = excluded.holder THEN api_leases.epoch "
          "ELSE api_leases.epoch + 1 END, "
          "acquired_at = CASE WHEN api_leases.holder = excluded.holder THEN "
          "api_leases.acquired_at ELSE excluded.acquired_at END, "
          "holder = excluded.holder, heartbeat_at = excluded.heartbeat_at, "
          "expires_at = excluded.expires_at "
          "WHERE api_leases.holder = excluded.holder OR api_leases.expires_at <= "
          "excluded.heartbeat_at "
          "RETURNING holder, epoch",
          NULL)
HILT_STMT(ST_API_LEASE_RELEASE,
          "UPDATE api_leases SET expires_at = 0 WHERE name = $1 AND holder = $2", NULL)
HILT_STMT(ST_API_LEASE_LIST,
          "SELECT name, holder, epoch, acquired_at, heartbeat_at, expires_at FROM api_leases "
          "ORDER BY name",
          NULL)

/* bounded pages of existing tables */
HILT_STMT(ST_API_AUDIT_PAGE,
          "SELECT seq, time, actor, action, object, result, prev, hash FROM audit "
          "WHERE seq > $1 ORDER BY seq LIMIT $2",
          NULL)
HILT_STMT(ST_API_CERT_PAGE,
          "SELECT " API_CERT_COLS " FROM certs WHERE id > $1 AND ($2 = '' OR owner = $2) "
          "AND ($3 = '' OR service = $3) AND ($4 = '' OR env = $4) AND ($5 = '' OR status = $5) "
          "AND ($6 = '' OR (',' || names || ',') LIKE $6 ESCAPE '\\') ORDER BY id LIMIT $7",
          NULL)
HILT_STMT(ST_API_CERT_EXPIRING,
          "SELECT " API_CERT_COLS " FROM certs WHERE status = 'active' AND not_after >= $1 "
          "AND not_after < $2 AND (not_after > $3 OR (not_after = $3 AND id > $4)) "
          "ORDER BY not_after, id LIMIT $5",
          NULL)
HILT_STMT(ST_API_CERT_BY_SERIAL,
          "SELECT " API_CERT_COLS " FROM certs WHERE serial = $1 ORDER BY (source = 'issued') "
          "DESC, id LIMIT 1",
          NULL)
