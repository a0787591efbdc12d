/* store.c - the store's operations, written once over the backend vtable:
 * the statement table, schema migrations, CAs, serial allocation, the
 * inventory, revocation and the audit chain. Backends (sqlite.c,
 * postgres.c) only run prepared statements. */
#include "store/store.h"

#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "store/store_acme.h"
#include "store/store_api.h"
#include "store/store_gateway.h"
#include "store/store_int.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- SQL ----------------------------------------------------------------- */

#define CERT_COLS                                                                                  \
    "serial, sha256, ca, seq, shard, subject, names, not_before, not_after, key_type, owner, "     \
    "service, env, status, source, revoked_at, revoke_reason, created, issuer, issuer_key, "       \
    "pipeline"
/* The DER column follows the CERT_COLS_N certificate columns. */
#define CERT_COLS_N 21
#define CERT_DER_JOIN " FROM certs LEFT JOIN cert_der ON cert_id = id "
#define CA_COLS                                                                                    \
    "name, key_type, key_ref, root_pem, cert_pem, ocsp_url, crl_url, aia_url, allow_domains, "     \
    "max_lifetime, crl_shard_size, next_seq, crl_number, created"

#define MANIFEST_COLS "name, spec_hash, spec_json, source, data_dir, current_rev, created, updated"
#define REV_COLS                                                                                   \
    "name, rev, state, sha256, serial, spec_hash, dir, not_after, files_json, created, "           \
    "applied_at, note"

const struct hilt_stmt_def hilt_stmts[ST_COUNT] = {
    [ST_SCHEMA_VERSION] = {"SELECT COALESCE(MAX(version), 0) FROM schema_version", NULL},
    [ST_SCHEMA_INSERT] = {"INSERT INTO schema_version(version, applied_at) VALUES ($1, $2)", NULL},
    [ST_CA_INSERT] = {"INSERT INTO ca(" CA_COLS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, "
                      "$10, $11, $12, $13, $14)",
                      NULL},
    [ST_CA_GET] = {"SELECT " CA_COLS " FROM ca WHERE name = $1", NULL},
    /* One statement: the row lock (PostgreSQL) or the write lock (SQLite)
     * makes concurrent allocators get disjoint ranges. */
    [ST_SERIAL_ALLOC] = {"UPDATE ca SET next_seq = next_seq + $2 WHERE name = $1 "
                         "RETURNING next_seq - $2",
                         NULL},
    [ST_CRL_NEXT] = {"UPDATE ca SET crl_number = crl_number + 1 WHERE name = $1 "
                     "RETURNING crl_number",
                     NULL},
    [ST_CERT_INSERT] = {"INSERT INTO certs(" CERT_COLS ") VALUES ($1, $2, $3, $4, $5, $6, $7, "
                        "$8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21) "
                        "RETURNING id",
                        NULL},
    /* Batches are all or nothing: OR ROLLBACK ends the whole transaction on
     * a conflict, so SQLite keeps no statement journal for each row (a
     * third of the cost of a batched insert). PostgreSQL aborts the
     * transaction on any error anyway. */
    /* SQLite: no RETURNING either (it buffers the returned rows in an
     * ephemeral table per statement); the id is sqlite3_last_insert_rowid. */
    [ST_CERT_INSERT_BATCH] = {"INSERT OR ROLLBACK INTO certs(" CERT_COLS ") VALUES ($1, $2, $3, "
                              "$4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, "
                              "$18, $19, $20, $21)",
                              "INSERT INTO certs(" CERT_COLS ") VALUES ($1, $2, $3, $4, $5, $6, "
                              "$7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, "
                              "$21) RETURNING id"},
    [ST_CERT_DER_INSERT] = {"INSERT INTO cert_der(cert_id, der) VALUES ($1, $2)", NULL},
    /* Serials are unique per issuer: hilt's own first, then the newest. */
    [ST_CERT_GET_SERIAL] = {"SELECT " CERT_COLS ", der" CERT_DER_JOIN
                            "WHERE serial = $1 ORDER BY (source = 'issued') DESC, id DESC LIMIT 1",
                            NULL},
    [ST_CERT_GET_SHA] = {"SELECT " CERT_COLS ", der" CERT_DER_JOIN "WHERE sha256 = $1", NULL},
    [ST_CERT_LIST_ALL] = {"SELECT " CERT_COLS ", NULL FROM certs ORDER BY id", NULL},
    [ST_CERT_LIST_ALL_DER] = {"SELECT " CERT_COLS ", der" CERT_DER_JOIN "ORDER BY id", NULL},
    /* status = 'active' literally, so the partial index certs_expiry applies. */
    [ST_CERT_EXPIRING] = {"SELECT " CERT_COLS ", NULL FROM certs WHERE status = 'active' AND "
                          "not_after >= $1 AND not_after < $2 ORDER BY not_after",
                          NULL},
    [ST_CERT_EXPIRING_DER] = {"SELECT " CERT_COLS ", der" CERT_DER_JOIN
                              "WHERE status = 'active' AND not_after >= $1 AND not_after < $2 "
                              "ORDER BY not_after",
                              NULL},
    /* revoked_at IS NOT NULL literally, for the partial index certs_revoked. */
    [ST_CERT_REVOKED] = {"SELECT " CERT_COLS ", NULL FROM certs WHERE ca = $1 AND revoked_at IS "
                         "NOT NULL AND not_after >= $2 ORDER BY shard, seq",
                         NULL},
    [ST_CERT_REVOKED_SHARD] = {"SELECT " CERT_COLS ", NULL FROM certs WHERE ca = $1 AND "
                               "revoked_at IS NOT NULL AND shard = $3 AND not_after >= $2 ORDER "
                               "BY seq",
                               NULL},
    [ST_CERT_COUNT_ALL] = {"SELECT COUNT(*) FROM certs", NULL},
    [ST_CERT_COUNT_EXPIRING] = {"SELECT COUNT(*) FROM certs WHERE status = 'active' AND "
                                "not_after >= $1 AND not_after < $2",
                                NULL},
    [ST_CERT_COUNT_REVOKED] = {"SELECT COUNT(*) FROM certs WHERE ca = $1 AND revoked_at IS NOT "
                               "NULL AND not_after >= $2",
                               NULL},
    /* Monotonic: never clears a revocation, so none can be lost. Only
     * certificates hilt issued: it is not the CA of imported ones. */
    [ST_CERT_REVOKE] = {"UPDATE certs SET status = 'revoked', revoked_at = $2, revoke_reason = "
                        "$3 WHERE serial = $1 AND revoked_at IS NULL AND source = 'issued'",
                        NULL},
    [ST_CERT_REVOKED_AT] = {"SELECT COALESCE(revoked_at, 0) FROM certs WHERE serial = $1 AND "
                            "source = 'issued'",
                            NULL},
    [ST_AUDIT_HEAD_LOCK] = {"SELECT seq, hash FROM audit_head WHERE id = 1",
                            "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE"},
    [ST_AUDIT_HEAD_GET] = {"SELECT seq, hash FROM audit_head WHERE id = 1", NULL},
    [ST_AUDIT_INSERT] = {"INSERT INTO audit(seq, time, actor, action, object, result, prev, "
                         "hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                         NULL},
    [ST_AUDIT_HEAD_SET] = {"UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1", NULL},
    [ST_AUDIT_WALK] = {"SELECT seq, time, actor, action, object, result, prev, hash FROM audit "
                       "ORDER BY seq",
                       NULL},
    /* ---- schema 2: the OCSP responder, inventory details, manifests ---- */
    [ST_CERT_LIST_CA] = {"SELECT " CERT_COLS ", NULL FROM certs WHERE ca = $1 AND not_after >= $2 "
                         "ORDER BY seq",
                         NULL},
    /* New rows by id (the rowid / identity), so no index is kept for it. */
    [ST_CERT_NEW_CA] = {"SELECT " CERT_COLS ", NULL, id FROM certs WHERE id > $2 AND ca = $1 "
                        "ORDER BY id",
                        NULL},
    [ST_CERT_MAX_ID] = {"SELECT COALESCE(MAX(id), 0) FROM certs", NULL},
    [ST_CERT_SERIAL_TAKEN] = {"SELECT sha256 FROM certs WHERE serial = $1 AND issuer_key = $2",
                              NULL},
    [ST_CERT_REVOKED_SINCE] = {"SELECT " CERT_COLS ", NULL FROM certs WHERE ca = $1 AND "
                               "revoked_at IS NOT NULL AND revoked_at >= $2",
                               NULL},
    [ST_CERT_SET_META] = {"UPDATE certs SET owner = COALESCE($2, owner), service = COALESCE($3, "
                          "service), env = COALESCE($4, env), pipeline = COALESCE($5, pipeline) "
                          "WHERE sha256 = $1",
                          NULL},
    /* A revocation is never undone by a status change. */
    [ST_CERT_SET_STATUS] =
        {"UPDATE certs SET status = $2 WHERE sha256 = $1 AND status <> 'revoked'", NULL},
    [ST_EVENT_INSERT] = {"INSERT INTO cert_events(sha256, time, event, detail) VALUES ($1, $2, $3, "
                         "$4)",
                         NULL},
    [ST_EVENT_LIST] = {"SELECT time, event, detail FROM cert_events WHERE sha256 = $1 ORDER BY id",
                       NULL},
    [ST_LOC_UPSERT] = {"INSERT INTO cert_locations(sha256, kind, location, first_seen, last_seen) "
                       "VALUES ($1, $2, $3, $4, $4) ON CONFLICT (sha256, kind, location) DO "
                       "UPDATE SET last_seen = $4",
                       NULL},
    [ST_LOC_LIST] = {"SELECT kind, location, first_seen, last_seen FROM cert_locations WHERE "
                     "sha256 = $1 ORDER BY kind, location",
                     NULL},
    [ST_ENDPOINT_CLEAR] = {"DELETE FROM endpoints WHERE endpoint = $1", NULL},
    [ST_ENDPOINT_INSERT] = {"INSERT INTO endpoints(endpoint, sha256, subject, not_after, seen_at) "
                            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (endpoint, sha256) DO UPDATE "
                            "SET seen_at = $5",
                            NULL},
    /* Known: in the inventory other than by scan discovery alone, or
     * claimed by an owner (docs/clm.md, "Coverage"). */
    [ST_ENDPOINT_LIST] = {"SELECT e.endpoint, e.sha256, e.subject, e.not_after, e.seen_at, "
                          "CASE WHEN c.id IS NOT NULL AND (c.source <> 'scan' OR c.owner IS NOT "
                          "NULL) THEN 1 ELSE 0 END FROM endpoints e LEFT JOIN certs c ON c.sha256 "
                          "= e.sha256 ORDER BY e.endpoint, e.sha256",
                          NULL},
    [ST_COVERAGE] = {"SELECT COUNT(DISTINCT e.sha256), COUNT(DISTINCT CASE WHEN c.id IS NOT NULL "
                     "AND (c.source <> 'scan' OR c.owner IS NOT NULL) THEN e.sha256 END) FROM "
                     "endpoints e LEFT JOIN certs c ON c.sha256 = e.sha256",
                     NULL},
    [ST_MANIFEST_GET] = {"SELECT " MANIFEST_COLS " FROM manifests WHERE name = $1", NULL},
    [ST_MANIFEST_LIST] = {"SELECT " MANIFEST_COLS " FROM manifests ORDER BY name", NULL},
    [ST_MANIFEST_UPSERT] = {"INSERT INTO manifests(" MANIFEST_COLS ") VALUES ($1, $2, $3, $4, $5, "
                            "$6, $7, $8) ON CONFLICT (name) DO UPDATE SET spec_hash = $2, "
                            "spec_json = $3, source = $4, data_dir = $5, updated = $8",
                            NULL},
    [ST_MANIFEST_SET_REV] = {"UPDATE manifests SET current_rev = $2, updated = $3 WHERE name = $1",
                             NULL},
    [ST_REV_INSERT] = {"INSERT INTO revisions(" REV_COLS ") VALUES ($1, $2, $3, $4, $5, $6, $7, "
                       "$8, $9, $10, $11, $12)",
                       NULL},
    [ST_REV_GET] = {"SELECT " REV_COLS " FROM revisions WHERE name = $1 AND rev = $2", NULL},
    [ST_REV_LIST] = {"SELECT " REV_COLS " FROM revisions WHERE name = $1 ORDER BY rev", NULL},
    [ST_REV_STAGED] = {"SELECT " REV_COLS " FROM revisions WHERE state = 'staged' ORDER BY name, "
                       "rev",
                       NULL},
    [ST_REV_MAX] = {"SELECT COALESCE(MAX(rev), 0) FROM revisions WHERE name = $1", NULL},
    [ST_REV_SET_STATE] = {"UPDATE revisions SET state = $3, note = $4, applied_at = COALESCE($5, "
                          "applied_at) WHERE name = $1 AND rev = $2",
                          NULL},
    /* The revision that was current becomes superseded (never an abandoned
     * or a pruned one). */
    [ST_REV_SUPERSEDE] = {"UPDATE revisions SET state = 'superseded' WHERE name = $1 AND state = "
                          "'applied' AND rev <> $2",
                          NULL},
    [ST_RENEWAL_GET] = {"SELECT name, attempts, next_attempt_at, last_attempt_at, last_error FROM "
                        "renewals WHERE name = $1",
                        NULL},
    [ST_RENEWAL_UPSERT] = {"INSERT INTO renewals(name, attempts, next_attempt_at, "
                           "last_attempt_at, last_error) VALUES ($1, $2, $3, $4, $5) ON CONFLICT "
                           "(name) DO UPDATE SET attempts = $2, next_attempt_at = $3, "
                           "last_attempt_at = $4, last_error = $5",
                           NULL},
    [ST_RENEWAL_DELETE] = {"DELETE FROM renewals WHERE name = $1", NULL},
    [ST_NOTIFY_GET] = {"SELECT sent_at FROM notifications WHERE sha256 = $1 AND threshold = $2",
                       NULL},
    [ST_NOTIFY_INSERT] = {"INSERT INTO notifications(sha256, threshold, sent_at, channel) VALUES "
                          "($1, $2, $3, $4) ON CONFLICT (sha256, threshold) DO NOTHING",
                          NULL},
#define HILT_STMT(id, sql, pg) [id] = {sql, pg},
#include "store/store_api_stmts.h"
#include "store/store_acme_stmts.h"
#include "store/store_gateway_stmts.h"
#undef HILT_STMT
};

/* ---- migrations ---------------------------------------------------------- */

static const char *const m1_sqlite[] = {
    "CREATE TABLE ca (name TEXT PRIMARY KEY, key_type TEXT NOT NULL, key_ref TEXT NOT NULL, "
    "root_pem TEXT NOT NULL, cert_pem TEXT NOT NULL, ocsp_url TEXT, crl_url TEXT, aia_url TEXT, "
    "allow_domains TEXT NOT NULL DEFAULT '', max_lifetime INTEGER NOT NULL, "
    "crl_shard_size INTEGER NOT NULL, next_seq INTEGER NOT NULL, crl_number INTEGER NOT NULL, "
    "created INTEGER NOT NULL)",
    "CREATE TABLE certs (id INTEGER PRIMARY KEY, serial TEXT NOT NULL UNIQUE, "
    "sha256 TEXT NOT NULL UNIQUE, ca TEXT, seq INTEGER NOT NULL, shard INTEGER NOT NULL, "
    "subject TEXT NOT NULL, names TEXT NOT NULL, not_before INTEGER NOT NULL, "
    "not_after INTEGER NOT NULL, key_type TEXT NOT NULL, owner TEXT, service TEXT, env TEXT, "
    "status TEXT NOT NULL, source TEXT NOT NULL, revoked_at INTEGER, revoke_reason INTEGER, "
    "created INTEGER NOT NULL)",
    /* DER apart from the metadata: inventory scans read small rows. */
    "CREATE TABLE cert_der (cert_id INTEGER PRIMARY KEY REFERENCES certs(id), der BLOB NOT NULL)",
    "CREATE INDEX certs_expiry ON certs(not_after) WHERE status = 'active'",
    "CREATE INDEX certs_revoked ON certs(ca, shard, revoked_at) WHERE revoked_at IS NOT NULL",
    "CREATE INDEX certs_owner ON certs(owner, service, env)",
    "CREATE TABLE audit (seq INTEGER PRIMARY KEY, time INTEGER NOT NULL, actor TEXT NOT NULL, "
    "action TEXT NOT NULL, object TEXT NOT NULL, result TEXT NOT NULL, prev TEXT NOT NULL, "
    "hash TEXT NOT NULL)",
    "CREATE TABLE audit_head (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, "
    "hash TEXT NOT NULL)",
    "INSERT INTO audit_head(id, seq, hash) VALUES (1, 0, '')", NULL};

static const char *const m1_pg[] = {
    "CREATE TABLE ca (name TEXT PRIMARY KEY, key_type TEXT NOT NULL, key_ref TEXT NOT NULL, "
    "root_pem TEXT NOT NULL, cert_pem TEXT NOT NULL, ocsp_url TEXT, crl_url TEXT, aia_url TEXT, "
    "allow_domains TEXT NOT NULL DEFAULT '', max_lifetime BIGINT NOT NULL, "
    "crl_shard_size BIGINT NOT NULL, next_seq BIGINT NOT NULL, crl_number BIGINT NOT NULL, "
    "created BIGINT NOT NULL)",
    "CREATE TABLE certs (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
    "serial TEXT NOT NULL UNIQUE, sha256 TEXT NOT NULL UNIQUE, ca TEXT, seq BIGINT NOT NULL, "
    "shard BIGINT NOT NULL, subject TEXT NOT NULL, names TEXT NOT NULL, "
    "not_before BIGINT NOT NULL, not_after BIGINT NOT NULL, key_type TEXT NOT NULL, owner TEXT, "
    "service TEXT, env TEXT, status TEXT NOT NULL, source TEXT NOT NULL, revoked_at BIGINT, "
    "revoke_reason INTEGER, created BIGINT NOT NULL)",
    "CREATE TABLE cert_der (cert_id BIGINT PRIMARY KEY REFERENCES certs(id), der BYTEA NOT NULL)",
    "CREATE INDEX certs_expiry ON certs(not_after) WHERE status = 'active'",
    "CREATE INDEX certs_revoked ON certs(ca, shard, revoked_at) WHERE revoked_at IS NOT NULL",
    "CREATE INDEX certs_owner ON certs(owner, service, env)",
    "CREATE TABLE audit (seq BIGINT PRIMARY KEY, time BIGINT NOT NULL, actor TEXT NOT NULL, "
    "action TEXT NOT NULL, object TEXT NOT NULL, result TEXT NOT NULL, prev TEXT NOT NULL, "
    "hash TEXT NOT NULL)",
    "CREATE TABLE audit_head (id INTEGER PRIMARY KEY CHECK (id = 1), seq BIGINT NOT NULL, "
    "hash TEXT NOT NULL)",
    "INSERT INTO audit_head(id, seq, hash) VALUES (1, 0, '')",
    NULL};

/* Schema 2: serials unique per issuer (imported certificates from other
 * CAs may share a serial), certificates found by scans without DER, and
 * the tables of certificate-as-code, renewal, notifications and inventory
 * details. SQLite cannot drop a UNIQUE column constraint, so certs is
 * rebuilt (the documented 12-step way; migrate() turns foreign keys off
 * around it), keeping every id. */
#define M2_CERTS_COLS                                                                              \
    "id, serial, sha256, ca, seq, shard, subject, names, not_before, not_after, key_type, owner, " \
    "service, env, status, source, revoked_at, revoke_reason, created"
static const char *const m2_sqlite[] = {
    "CREATE TABLE certs_v2 (id INTEGER PRIMARY KEY, serial TEXT NOT NULL, "
    "sha256 TEXT NOT NULL UNIQUE, ca TEXT, seq INTEGER NOT NULL, shard INTEGER NOT NULL, "
    "subject TEXT NOT NULL, names TEXT NOT NULL, not_before INTEGER NOT NULL, "
    "not_after INTEGER NOT NULL, key_type TEXT NOT NULL, owner TEXT, service TEXT, env TEXT, "
    "status TEXT NOT NULL, source TEXT NOT NULL, revoked_at INTEGER, revoke_reason INTEGER, "
    "created INTEGER NOT NULL, issuer TEXT NOT NULL DEFAULT '', "
    "issuer_key TEXT NOT NULL DEFAULT '', pipeline TEXT, UNIQUE (serial, issuer_key))",
    "INSERT INTO certs_v2 (" M2_CERTS_COLS ") SELECT " M2_CERTS_COLS " FROM certs",
    "DROP TABLE certs",
    "ALTER TABLE certs_v2 RENAME TO certs",
    "CREATE INDEX certs_expiry ON certs(not_after) WHERE status = 'active'",
    "CREATE INDEX certs_revoked ON certs(ca, shard, revoked_at) WHERE revoked_at IS NOT NULL",
    "CREATE INDEX certs_owner ON certs(owner, service, env)",
    "CREATE INDEX certs_revoked_at ON certs(ca, revoked_at) WHERE revoked_at IS NOT NULL",
    "CREATE TABLE cert_events (id INTEGER PRIMARY KEY, sha256 TEXT NOT NULL, time INTEGER NOT "
    "NULL, event TEXT NOT NULL, detail TEXT NOT NULL)",
    "CREATE INDEX cert_events_sha ON cert_events(sha256, id)",
    "CREATE TABLE cert_locations (sha256 TEXT NOT NULL, kind TEXT NOT NULL, location TEXT NOT "
    "NULL, first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL, PRIMARY KEY (sha256, kind, "
    "location))",
    "CREATE TABLE endpoints (endpoint TEXT NOT NULL, sha256 TEXT NOT NULL, subject TEXT NOT NULL, "
    "not_after INTEGER NOT NULL, seen_at INTEGER NOT NULL, PRIMARY KEY (endpoint, sha256))",
    "CREATE TABLE manifests (name TEXT PRIMARY KEY, spec_hash TEXT NOT NULL, spec_json TEXT NOT "
    "NULL, source TEXT NOT NULL, data_dir TEXT NOT NULL, current_rev INTEGER NOT NULL, created "
    "INTEGER NOT NULL, updated INTEGER NOT NULL)",
    "CREATE TABLE revisions (name TEXT NOT NULL, rev INTEGER NOT NULL, state TEXT NOT NULL, "
    "sha256 TEXT NOT NULL, serial TEXT NOT NULL, spec_hash TEXT NOT NULL, dir TEXT NOT NULL, "
    "not_after INTEGER NOT NULL, files_json TEXT NOT NULL, created INTEGER NOT NULL, applied_at "
    "INTEGER, note TEXT NOT NULL DEFAULT '', PRIMARY KEY (name, rev))",
    "CREATE INDEX revisions_staged ON revisions(state) WHERE state = 'staged'",
    "CREATE TABLE renewals (name TEXT PRIMARY KEY, attempts INTEGER NOT NULL, next_attempt_at "
    "INTEGER NOT NULL, last_attempt_at INTEGER NOT NULL, last_error TEXT NOT NULL)",
    "CREATE TABLE notifications (sha256 TEXT NOT NULL, threshold INTEGER NOT NULL, sent_at "
    "INTEGER NOT NULL, channel TEXT NOT NULL, PRIMARY KEY (sha256, threshold))",
    NULL};

static const char *const m2_pg[] = {
    "ALTER TABLE certs ADD COLUMN issuer TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE certs ADD COLUMN issuer_key TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE certs ADD COLUMN pipeline TEXT",
    "ALTER TABLE certs DROP CONSTRAINT certs_serial_key",
    "ALTER TABLE certs ADD CONSTRAINT certs_serial_issuer UNIQUE (serial, issuer_key)",
    "CREATE INDEX certs_revoked_at ON certs(ca, revoked_at) WHERE revoked_at IS NOT NULL",
    "CREATE TABLE cert_events (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, sha256 TEXT "
    "NOT NULL, time BIGINT NOT NULL, event TEXT NOT NULL, detail TEXT NOT NULL)",
    "CREATE INDEX cert_events_sha ON cert_events(sha256, id)",
    "CREATE TABLE cert_locations (sha256 TEXT NOT NULL, kind TEXT NOT NULL, location TEXT NOT "
    "NULL, first_seen BIGINT NOT NULL, last_seen BIGINT NOT NULL, PRIMARY KEY (sha256, kind, "
    "location))",
    "CREATE TABLE endpoints (endpoint TEXT NOT NULL, sha256 TEXT NOT NULL, subject TEXT NOT NULL, "
    "not_after BIGINT NOT NULL, seen_at BIGINT NOT NULL, PRIMARY KEY (endpoint, sha256))",
    "CREATE TABLE manifests (name TEXT PRIMARY KEY, spec_hash TEXT NOT NULL, spec_json TEXT NOT "
    "NULL, source TEXT NOT NULL, data_dir TEXT NOT NULL, current_rev BIGINT NOT NULL, created "
    "BIGINT NOT NULL, updated BIGINT NOT NULL)",
    "CREATE TABLE revisions (name TEXT NOT NULL, rev BIGINT NOT NULL, state TEXT NOT NULL, "
    "sha256 TEXT NOT NULL, serial TEXT NOT NULL, spec_hash TEXT NOT NULL, dir TEXT NOT NULL, "
    "not_after BIGINT NOT NULL, files_json TEXT NOT NULL, created BIGINT NOT NULL, applied_at "
    "BIGINT, note TEXT NOT NULL DEFAULT '', PRIMARY KEY (name, rev))",
    "CREATE INDEX revisions_staged ON revisions(state) WHERE state = 'staged'",
    "CREATE TABLE renewals (name TEXT PRIMARY KEY, attempts BIGINT NOT NULL, next_attempt_at "
    "BIGINT NOT NULL, last_attempt_at BIGINT NOT NULL, last_error TEXT NOT NULL)",
    "CREATE TABLE notifications (sha256 TEXT NOT NULL, threshold BIGINT NOT NULL, sent_at "
    "BIGINT NOT NULL, channel TEXT NOT NULL, PRIMARY KEY (sha256, threshold))",
    NULL};

static const struct hilt_migration migrations[] = {
    {1, m1_sqlite, m1_pg},
    {2, m2_sqlite, m2_pg},
    {3, hilt_store_m3_sqlite, hilt_store_m3_pg}, /* store_api.c: hilt serve */
    {4, hilt_store_m4_sqlite, hilt_store_m4_pg}, /* store_acme.c: ACME */
    {5, hilt_store_m5_sqlite, hilt_store_m5_pg}, /* store_gateway.c: gateway ticket keys */
};
#define NMIGRATIONS (sizeof(migrations) / sizeof(migrations[0]))

/* ---- small helpers ------------------------------------------------------- */

/* Fetched once: implicit fetches by name cost more than hashing a record. */
static EVP_MD *sha256_fetched;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static void sha256_fetch(void)
{
    sha256_fetched = EVP_MD_fetch(NULL, "SHA256", NULL);
}
static const EVP_MD *sha256_md(void)
{
    pthread_once(&sha256_once, sha256_fetch);
    return sha256_fetched ? sha256_fetched : EVP_sha256();
}

int64_t hilt_val_int(const struct hilt_val *v)
{
    if (v->t == HV_INT) return v->i;
    if (v->t == HV_TEXT && v->s) return strtoll(v->s, NULL, 10);
    return 0;
}

int hilt_home(char *out, size_t cap, struct hilt_err *e)
{
    const char *h = getenv("HILT_HOME");
    int n;
    if (h && *h) {
        n = snprintf(out, cap, "%s", h);
    } else {
        const char *home = getenv("HOME");
        if (!home || !*home) {
            struct passwd *pw = getpwuid(getuid());
            home = pw ? pw->pw_dir : "/";
        }
        n = snprintf(out, cap, "%s/.local/share/hilt", home);
    }
    if (n < 0 || (size_t)n >= cap) return hilt_err_set(e, HILT_E_INPUT, 0, "HILT_HOME is too long");
    return 0;
}

void hilt_issuer_key(const unsigned char *name_der, size_t len, char out[17])
{
    static const char hx[] = "0123456789abcdef";
    unsigned char h[32];
    unsigned hl = 0;
    out[0] = '\0';
    if (!EVP_Digest(name_der, len, h, &hl, sha256_md(), NULL) || hl < 8) return;
    for (int i = 0; i < 8; i++) {
        out[2 * i] = hx[h[i] >> 4];
        out[2 * i + 1] = hx[h[i] & 15];
    }
    out[16] = '\0';
}

int hilt_hex_normalise(const char *in, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = in; *p; p++) {
        if (*p == ':' || *p == ' ') continue;
        if (!isxdigit((unsigned char)*p)) return -1;
        if (n + 2 >= cap) return -1;
        out[n++] = (char)tolower((unsigned char)*p);
    }
    out[n] = '\0';
    if (n == 0) return -1;
    if (n % 2 && n != 64) { /* a serial typed without its leading zero */
        memmove(out + 1, out, n + 1);
        out[0] = '0';
    }
    return 0;
}

/* ---- open / migrate ------------------------------------------------------ */

static int migrate(struct hilt_store *s, int target, struct hilt_err *e)
{
    int is_pg = !strcmp(s->ops->kind, "postgres");
    int have = s->ops->probe(s, e);
    if (have < 0) return -1;
    int64_t cur = 0;
    if (have && exec(s, ST_SCHEMA_VERSION, NULL, 0, one_int_cb, &cur, NULL, e) < 0) return -1;
    if (cur > HILT_STORE_SCHEMA_VERSION)
        return hilt_err_set(e, HILT_E_INPUT, 0,
                            "%s: store schema version %lld is newer than this hilt supports (%d); "
                            "upgrade hilt",
                            s->desc, (long long)cur, HILT_STORE_SCHEMA_VERSION);
    if (cur >= target) return 0;

    /* SQLite rebuilds tables in migration 2, which needs foreign keys off
     * (a PRAGMA that is a no-op inside a transaction). */
    if (!is_pg && s->ops->exec_sql(s, "PRAGMA foreign_keys = OFF", e) < 0) return -1;
    if (s->ops->begin_write(s, e) < 0) return -1;
    int rc = -1;
    if (is_pg && s->ops->exec_sql(s, "SELECT pg_advisory_xact_lock(7206236)", e) < 0) goto out;
    if (s->ops->exec_sql(s,
                         "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, "
                         "applied_at BIGINT NOT NULL)",
                         e) < 0)
        goto out;
    /* Re-read under the lock: another process may have migrated meanwhile. */
    cur = 0;
    if (exec(s, ST_SCHEMA_VERSION, NULL, 0, one_int_cb, &cur, NULL, e) < 0) goto out;
    for (size_t i = 0; i < NMIGRATIONS; i++) {
        const struct hilt_migration *m = &migrations[i];
        if (m->version <= cur || m->version > target) continue;
        for (const char *const *q = is_pg ? m->pg : m->sqlite; *q; q++)
            if (s->ops->exec_sql(s, *q, e) < 0) {
                hilt_err_prefix(e, "%s: migration %d", s->desc, m->version);
                goto out;
            }
        struct hilt_val p[] = {HV_I(m->version), HV_I(hilt_now())};
        if (exec(s, ST_SCHEMA_INSERT, p, 2, NULL, NULL, NULL, e) < 0) goto out;
    }
    rc = 0;
out:
    if (rc < 0) {
        s->ops->rollback(s);
    } else {
        rc = s->ops->commit(s, e);
    }
    if (!is_pg && s->ops->exec_sql(s, "PRAGMA foreign_keys = ON", rc < 0 ? NULL : e) < 0) rc = -1;
    return rc;
}

struct hilt_store *hilt_store_open(const char *url, struct hilt_err *e)
{
    return hilt_store_open_version(url, HILT_STORE_SCHEMA_VERSION, e);
}

struct hilt_store *hilt_store_open_version(const char *url, int version, struct hilt_err *e)
{
    struct hilt_store *s = calloc(1, sizeof(*s));
    if (!s) {
        hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
        return NULL;
    }
    int rc;
    if (url && (!strncmp(url, "postgres://", 11) || !strncmp(url, "postgresql://", 13))) {
        rc = hilt_store_pg_open(s, url, e);
    } else {
        char path[4096];
        if (url && *url) {
            snprintf(path, sizeof(path), "%s", !strncmp(url, "sqlite:", 7) ? url + 7 : url);
        } else {
            char home[4000];
            if (hilt_home(home, sizeof(home), e) < 0) goto fail;
            snprintf(path, sizeof(path), "%s/hilt.db", home);
        }
        rc = hilt_store_sqlite_open(s, path, e);
    }
    if (rc < 0) goto fail;
    if (migrate(s, version, e) < 0) {
        hilt_store_close(s);
        return NULL;
    }
    return s;
fail:
    free(s);
    return NULL;
}

void hilt_store_close(struct hilt_store *s)
{
    if (!s) return;
    if (s->ops) s->ops->close(s);
    free(s);
}

const char *hilt_store_kind(const struct hilt_store *s)
{
    return s->ops->kind;
}

int hilt_store_schema_version(struct hilt_store *s, int *out, struct hilt_err *e)
{
    int64_t v = 0;
    if (exec(s, ST_SCHEMA_VERSION, NULL, 0, one_int_cb, &v, NULL, e) < 0) return -1;
    *out = (int)v;
    return 0;
}

int hilt_store_begin(struct hilt_store *s, struct hilt_err *e)
{
    if (s->tx_user) return hilt_err_set(e, HILT_E_RUNTIME, 0, "store: transaction already open");
    if (s->ops->begin_write(s, e) < 0) return -1;
    s->tx_user = 1;
    return 0;
}

int hilt_store_in_tx(const struct hilt_store *s)
{
    return s->tx_user;
}

int hilt_store_commit(struct hilt_store *s, struct hilt_err *e)
{
    if (!s->tx_user) return 0;
    s->tx_user = 0;
    return s->ops->commit(s, e);
}

void hilt_store_rollback(struct hilt_store *s)
{
    if (!s->tx_user) return;
    s->tx_user = 0;
    s->ops->rollback(s);
}

/* ---- audit --------------------------------------------------------------- */

const char *hilt_audit_actor(void)
{
    static char actor[256];
    const char *a = getenv("HILT_ACTOR");
    if (a && *a) return a;
    if (!actor[0]) {
        struct passwd *pw = getpwuid(geteuid());
        char host[128] = "localhost";
        gethostname(host, sizeof(host) - 1);
        host[sizeof(host) - 1] = '\0';
        snprintf(actor, sizeof(actor), "%s@%s", pw ? pw->pw_name : "uid", host);
    }
    return actor;
}

static void hash_field(EVP_MD_CTX *c, const char *s)
{
    char len[24];
    size_t n = s ? strlen(s) : 0;
    int l = snprintf(len, sizeof(len), "%zu:", n);
    EVP_DigestUpdate(c, len, (size_t)l);
    if (n) EVP_DigestUpdate(c, s, n);
}

void hilt_audit_hash(const struct hilt_audit_rec *r, char out[65])
{
    char num[48];
    unsigned char md[32];
    unsigned int mdl = 0;
    out[0] = '\0';
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (!c || !EVP_DigestInit_ex2(c, sha256_md(), NULL)) goto out;
    hash_field(c, "hilt-audit-v1");
    hash_field(c, r->prev);
    snprintf(num, sizeof(num), "%lld", (long long)r->seq);
    hash_field(c, num);
    snprintf(num, sizeof(num), "%lld", (long long)r->time);
    hash_field(c, num);
    hash_field(c, r->actor);
    hash_field(c, r->action);
    hash_field(c, r->object);
    hash_field(c, r->result);
    if (!EVP_DigestFinal_ex(c, md, &mdl)) goto out;
    static const char hx[] = "0123456789abcdef";
    for (unsigned i = 0; i < 32; i++) {
        out[2 * i] = hx[md[i] >> 4];
        out[2 * i + 1] = hx[md[i] & 15];
    }
    out[64] = '\0';
out:
    EVP_MD_CTX_free(c);
}

struct head {
    int found;
    int64_t seq;
    char hash[65];
};

static int head_cb(const struct hilt_val *c, int n, void *arg)
{
    struct head *h = arg;
    if (n < 2) return 1;
    h->found = 1;
    h->seq = hilt_val_int(&c[0]);
    snprintf(h->hash, sizeof(h->hash), "%s", str_col(&c[1]));
    return 1;
}

/* Lock (PostgreSQL: FOR UPDATE) and read the chain's head. */
static int audit_head_lock(struct hilt_store *s, struct head *h, struct hilt_err *e)
{
    memset(h, 0, sizeof(*h));
    if (exec(s, ST_AUDIT_HEAD_LOCK, NULL, 0, head_cb, h, NULL, e) < 0) return -1;
    if (!h->found)
        return hilt_err_set(e, HILT_E_RUNTIME, 0, "%s: audit_head row is missing", s->desc);
    return 0;
}

/* Insert one record after *h and advance *h (not the stored head). */
static int audit_insert(struct hilt_store *s, struct head *h, const struct hilt_audit_ev *ev,
                        int64_t now, struct hilt_err *e)
{
    struct hilt_audit_rec r = {
        .seq = h->seq + 1,
        .time = now,
        .actor = ev->actor ? ev->actor : hilt_audit_actor(),
        .action = ev->action ? ev->action : "",
        .object = ev->object ? ev->object : "",
        .result = ev->result ? ev->result : "ok",
        .prev = h->hash,
    };
    char hash[65];
    hilt_audit_hash(&r, hash);
    struct hilt_val p[] = {HV_I(r.seq),    HV_I(r.time),   HV_S(r.actor), HV_S(r.action),
                           HV_S(r.object), HV_S(r.result), HV_S(r.prev),  HV_S(hash)};
    if (exec(s, ST_AUDIT_INSERT, p, 8, NULL, NULL, NULL, e) < 0) return -1;
    h->seq = r.seq;
    memcpy(h->hash, hash, sizeof(hash));
    return 0;
}

static int audit_head_store(struct hilt_store *s, const struct head *h, struct hilt_err *e)
{
    struct hilt_val q[] = {HV_I(h->seq), HV_S(h->hash)};
    return exec(s, ST_AUDIT_HEAD_SET, q, 2, NULL, NULL, NULL, e);
}

/* Append inside the caller's write transaction. */
int hilt_store_audit_append_tx(struct hilt_store *s, const struct hilt_audit_ev *ev,
                               struct hilt_err *e)
{
    struct head h;
    if (audit_head_lock(s, &h, e) < 0 || audit_insert(s, &h, ev, hilt_now(), e) < 0) return -1;
    return audit_head_store(s, &h, e);
}
#define audit_append_tx hilt_store_audit_append_tx

int hilt_store_audit_append(struct hilt_store *s, const struct hilt_audit_ev *ev,
                            struct hilt_err *e)
{
    int own;
    if (tx_start(s, &own, e) < 0) return -1;
    int rc = audit_append_tx(s, ev, e);
    return tx_end(s, own, rc, e);
}

struct walk {
    hilt_audit_cb cb;
    void *arg;
    int stopped;
};

static int walk_cb(const struct hilt_val *c, int n, void *arg)
{
    struct walk *w = arg;
    if (n < 8) return 1;
    struct hilt_audit_rec r = {
        .seq = hilt_val_int(&c[0]),
        .time = hilt_val_int(&c[1]),
        .actor = str_col(&c[2]),
        .action = str_col(&c[3]),
        .object = str_col(&c[4]),
        .result = str_col(&c[5]),
        .prev = str_col(&c[6]),
        .hash = str_col(&c[7]),
    };
    w->stopped = w->cb(&r, w->arg);
    return w->stopped;
}

int hilt_store_audit_walk(struct hilt_store *s, hilt_audit_cb cb, void *arg, struct hilt_err *e)
{
    struct walk w = {cb, arg, 0};
    if (exec(s, ST_AUDIT_WALK, NULL, 0, walk_cb, &w, NULL, e) < 0) return -1;
    return w.stopped;
}

int hilt_store_audit_head(struct hilt_store *s, int64_t *seq, char hash[65], struct hilt_err *e)
{
    struct head h = {0};
    if (exec(s, ST_AUDIT_HEAD_GET, NULL, 0, head_cb, &h, NULL, e) < 0) return -1;
    if (!h.found) return hilt_err_set(e, HILT_E_INPUT, 0, "%s: audit_head row is missing", s->desc);
    *seq = h.seq;
    memcpy(hash, h.hash, 65);
    return 0;
}

struct vstate {
    struct hilt_audit_check *out;
    int64_t expect_seq;
    char prev[65];
};

static int verify_cb(const struct hilt_audit_rec *r, void *arg)
{
    struct vstate *v = arg;
    struct hilt_audit_check *o = v->out;
    o->records++;
    char h[65];
    if (r->seq != v->expect_seq) {
        snprintf(o->reason, sizeof(o->reason),
                 r->seq > v->expect_seq ? "record %lld is missing (next is %lld): deleted"
                                        : "record %lld out of order (found %lld)",
                 (long long)v->expect_seq, (long long)r->seq);
        o->first_bad = r->seq > v->expect_seq ? v->expect_seq : r->seq;
        return 1;
    }
    if (strcmp(r->prev, v->prev)) {
        snprintf(o->reason, sizeof(o->reason),
                 "record %lld does not link to record %lld (prev hash differs): deleted, "
                 "inserted or reordered",
                 (long long)r->seq, (long long)r->seq - 1);
        o->first_bad = r->seq;
        return 1;
    }
    hilt_audit_hash(r, h);
    if (strcmp(h, r->hash)) {
        snprintf(o->reason, sizeof(o->reason),
                 "record %lld (%s %s by %s) was edited: its hash does not match its content",
                 (long long)r->seq, r->action, r->object, r->actor);
        o->first_bad = r->seq;
        return 1;
    }
    snprintf(v->prev, sizeof(v->prev), "%s", r->hash);
    v->expect_seq++;
    return 0;
}

int hilt_store_audit_verify(struct hilt_store *s, struct hilt_audit_check *out, struct hilt_err *e)
{
    memset(out, 0, sizeof(*out));
    struct vstate v = {.out = out, .expect_seq = 1};
    int64_t head_seq;
    char head_hash[65];
    if (hilt_store_audit_head(s, &head_seq, head_hash, e) < 0) return -1;
    int rc = hilt_store_audit_walk(s, verify_cb, &v, e);
    if (rc < 0) return -1;
    if (rc == 0) {
        /* The chain is intact; its end must be the recorded head, or the
         * tail was cut off (or the head forged). */
        if (v.expect_seq - 1 != head_seq || strcmp(v.prev, head_hash)) {
            out->first_bad = v.expect_seq - 1 < head_seq ? v.expect_seq : head_seq;
            if (out->first_bad < 1) out->first_bad = 1;
            snprintf(out->reason, sizeof(out->reason),
                     "the chain ends at record %lld but the head says %lld: records were "
                     "deleted from the end, or the head was edited",
                     (long long)(v.expect_seq - 1), (long long)head_seq);
            return 0;
        }
        out->ok = 1;
    }
    return 0;
}

/* ---- CAs ----------------------------------------------------------------- */

void hilt_ca_rec_free(struct hilt_ca_rec *r)
{
    if (!r) return;
    char **f[] = {&r->name,     &r->key_type, &r->key_ref, &r->root_pem,     &r->cert_pem,
                  &r->ocsp_url, &r->crl_url,  &r->aia_url, &r->allow_domains};
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
        free(*f[i]);
        *f[i] = NULL;
    }
}

int hilt_store_ca_add(struct hilt_store *s, const struct hilt_ca_rec *r,
                      const struct hilt_audit_ev *ev, struct hilt_err *e)
{
    int own;
    if (tx_start(s, &own, e) < 0) return -1;
    struct hilt_val p[] = {HV_S(r->name),
                           HV_S(r->key_type),
                           HV_S(r->key_ref),
                           HV_S(r->root_pem),
                           HV_S(r->cert_pem),
                           HV_S(r->ocsp_url),
                           HV_S(r->crl_url),
                           HV_S(r->aia_url),
                           HV_S(r->allow_domains ? r->allow_domains : ""),
                           HV_I(r->max_lifetime),
                           HV_I(r->crl_shard_size),
                           HV_I(r->next_seq),
                           HV_I(r->crl_number),
                           HV_I(r->created)};
    int rc = exec(s, ST_CA_INSERT, p, 14, NULL, NULL, NULL, e);
    if (rc < 0 && e && e->code == HILT_STORE_CONFLICT)
        hilt_err_set(e, HILT_E_INPUT, HILT_STORE_CONFLICT, "a CA named '%s' already exists in %s",
                     r->name, s->desc);
    if (rc == 0 && ev) rc = audit_append_tx(s, ev, e);
    return tx_end(s, own, rc, e);
}

static int ca_cb(const struct hilt_val *c, int n, void *arg)
{
    struct hilt_ca_rec *r = arg;
    if (n < 14) return 1;
    r->name = dup_col(&c[0]);
    r->key_type = dup_col(&c[1]);
    r->key_ref = dup_col(&c[2]);
    r->root_pem = dup_col(&c[3]);
    r->cert_pem = dup_col(&c[4]);
    r->ocsp_url = dup_col(&c[5]);
    r->crl_url = dup_col(&c[6]);
    r->aia_url = dup_col(&c[7]);
    r->allow_domains = dup_col(&c[8]);
    r->max_lifetime = hilt_val_int(&c[9]);
    r->crl_shard_size = hilt_val_int(&c[10]);
    r->next_seq = hilt_val_int(&c[11]);
    r->crl_number = hilt_val_int(&c[12]);
    r->created = hilt_val_int(&c[13]);
    return 1;
}

int hilt_store_ca_get(struct hilt_store *s, const char *name, struct hilt_ca_rec *out,
                      struct hilt_err *e)
{
    memset(out, 0, sizeof(*out));
    struct hilt_val p[] = {HV_S(name)};
    if (exec(s, ST_CA_GET, p, 1, ca_cb, out, NULL, e) < 0) {
        hilt_ca_rec_free(out);
        return -1;
    }
    if (!out->name) return 0;
    if (!out->key_type || !out->key_ref || !out->root_pem || !out->cert_pem || !out->ocsp_url ||
        !out->crl_url || !out->aia_url || !out->allow_domains) {
        hilt_ca_rec_free(out);
        return hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
    }
    return 1;
}

int hilt_store_serial_alloc(struct hilt_store *s, const char *ca, int64_t n, int64_t *first,
                            struct hilt_err *e)
{
    if (n < 1) return hilt_err_set(e, HILT_E_USAGE, 0, "serial allocation of %lld", (long long)n);
    int own;
    if (tx_start(s, &own, e) < 0) return -1;
    int64_t v = -1;
    struct hilt_val p[] = {HV_S(ca), HV_I(n)};
    int rc = exec(s, ST_SERIAL_ALLOC, p, 2, one_int_cb, &v, NULL, e);
    if (rc == 0 && v < 0)
        rc = hilt_err_set(e, HILT_E_INPUT, 0, "no CA named '%s' in %s", ca, s->desc);
    rc = tx_end(s, own, rc, e);
    if (rc == 0) *first = v;
    return rc;
}

int hilt_store_crl_number_next(struct hilt_store *s, const char *ca, int64_t *out,
                               struct hilt_err *e)
{
    int own;
    if (tx_start(s, &own, e) < 0) return -1;
    int64_t v = -1;
    struct hilt_val p[] = {HV_S(ca)};
    int rc = exec(s, ST_CRL_NEXT, p, 1, one_int_cb, &v, NULL, e);
    if (rc == 0 && v < 0)
        rc = hilt_err_set(e, HILT_E_INPUT, 0, "no CA named '%s' in %s", ca, s->desc);
    rc = tx_end(s, own, rc, e);
    if (rc == 0) *out = v;
    return rc;
}

/* ---- certificates -------------------------------------------------------- */

void hilt_cert_rec_free(struct hilt_cert_rec *r)
{
    if (!r) return;
    char **f[] = {&r->serial,   &r->sha256, &r->ca,         &r->subject, &r->names,
                  &r->key_type, &r->owner,  &r->service,    &r->env,     &r->status,
                  &r->source,   &r->issuer, &r->issuer_key, &r->pipeline};
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
        free(*f[i]);
        *f[i] = NULL;
    }
}

/* The bound values of one certs row, in ST_CERT_INSERT's column order. */
static void cert_params(const struct hilt_cert_rec *r, int64_t now, struct hilt_val p[CERT_COLS_N])
{
    const struct hilt_val null = {.t = HV_NULL};
    const struct hilt_val v[CERT_COLS_N] = {HV_S(r->serial),
                                            HV_S(r->sha256),
                                            HV_S(r->ca),
                                            HV_I(r->seq),
                                            HV_I(r->shard),
                                            HV_S(r->subject ? r->subject : ""),
                                            HV_S(r->names ? r->names : ""),
                                            HV_I(r->not_before),
                                            HV_I(r->not_after),
                                            HV_S(r->key_type ? r->key_type : ""),
                                            HV_S(r->owner),
                                            HV_S(r->service),
                                            HV_S(r->env),
                                            HV_S(r->status ? r->status : "active"),
                                            HV_S(r->source ? r->source : "issued"),
                                            r->revoked_at ? HV_I(r->revoked_at) : null,
                                            r->revoked_at ? HV_I(r->revoke_reason) : null,
                                            HV_I(r->created ? r->created : now),
                                            HV_S(r->issuer ? r->issuer : ""),
                                            HV_S(r->issuer_key ? r->issuer_key : ""),
                                            HV_S(r->pipeline)};
    memcpy(p, v, sizeof(v));
}

int hilt_store_cert_add(struct hilt_store *s, const struct hilt_cert_rec *r, const uint8_t *der,
                        size_t der_len, const struct hilt_audit_ev *ev, struct hilt_err *e)
{
    int own;
    if (tx_start(s, &own, e) < 0) return -1;
    struct hilt_val p[CERT_COLS_N];
    cert_params(r, hilt_now(), p);
    int64_t id = -1;
    int rc = exec(s, ST_CERT_INSERT, p, CERT_COLS_N, one_int_cb, &id, NULL, e);
    if (rc == 0 && der) { /* certificates seen by a scan may come without DER */
        struct hilt_val d[] = {HV_I(id), HV_B(der, der_len)};
        rc = exec(s, ST_CERT_DER_INSERT, d, 2, NULL, NULL, NULL, e);
    }
    if (rc < 0 && e && e->code == HILT_STORE_CONFLICT)
        hilt_err_set(e, HILT_E_INPUT, HILT_STORE_CONFLICT,
                     "certificate serial %s / sha256 %s is already in the store", r->serial,
                     r->sha256);
    if (rc == 0 && ev) rc = audit_append_tx(s, ev, e);
    return tx_end(s, own, rc, e);
}

int hilt_store_cert_add_many(struct hilt_store *s, const struct hilt_cert_rec *recs,
                             const uint8_t *const *ders, const size_t *lens,
                             const struct hilt_audit_ev *evs, size_t n, struct hilt_err *e)
{
    int own;
    if (tx_start(s, &own, e) < 0) return -1;
    struct head h;
    int rc = evs ? audit_head_lock(s, &h, e) : 0;
    int64_t now = hilt_now();
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const struct hilt_cert_rec *r = &recs[i];
        struct hilt_val p[CERT_COLS_N];
        cert_params(r, now, p);
        int64_t id = -1;
        if (s->ops->last_insert_id) {
            rc = exec(s, ST_CERT_INSERT_BATCH, p, CERT_COLS_N, NULL, NULL, NULL, e);
            if (rc == 0) id = s->ops->last_insert_id(s);
        } else {
            rc = exec(s, ST_CERT_INSERT_BATCH, p, CERT_COLS_N, one_int_cb, &id, NULL, e);
        }
        if (rc == 0 && ders && ders[i]) {
            struct hilt_val d[] = {HV_I(id), HV_B(ders[i], lens[i])};
            rc = exec(s, ST_CERT_DER_INSERT, d, 2, NULL, NULL, NULL, e);
        }
        if (rc < 0 && e && e->code == HILT_STORE_CONFLICT)
            hilt_err_set(e, HILT_E_INPUT, HILT_STORE_CONFLICT,
                         "certificate serial %s / sha256 %s is already in the store", r->serial,
                         r->sha256);
        if (rc == 0 && evs) rc = audit_insert(s, &h, &evs[i], now, e);
    }
    if (rc == 0 && evs && n) rc = audit_head_store(s, &h, e);
    return tx_end(s, own, rc, e);
}

static void fill_cert(struct hilt_cert_rec *r, const struct hilt_val *c, int dup)
{
    /* dup: copies for the caller; otherwise borrowed (cast away const, the
     * record is handed to a callback as const). */
#define S(i) (dup ? dup_col(&c[i]) : (char *)str_col(&c[i]))
    r->serial = S(0);
    r->sha256 = S(1);
    r->ca = S(2);
    r->seq = c[3].t == HV_NULL ? -1 : hilt_val_int(&c[3]);
    r->shard = c[4].t == HV_NULL ? -1 : hilt_val_int(&c[4]);
    r->subject = S(5);
    r->names = S(6);
    r->not_before = hilt_val_int(&c[7]);
    r->not_after = hilt_val_int(&c[8]);
    r->key_type = S(9);
    r->owner = S(10);
    r->service = S(11);
    r->env = S(12);
    r->status = S(13);
    r->source = S(14);
    r->revoked_at = hilt_val_int(&c[15]);
    r->revoke_reason = (int)hilt_val_int(&c[16]);
    r->created = hilt_val_int(&c[17]);
    r->issuer = S(18);
    r->issuer_key = S(19);
    r->pipeline = S(20);
#undef S
}

struct get_state {
    struct hilt_cert_rec *out;
    struct hilt_buf *der;
    int found;
    int oom;
};

static int get_cb(const struct hilt_val *c, int n, void *arg)
{
    struct get_state *g = arg;
    if (n < CERT_COLS_N + 1) return 1;
    g->found = 1;
    fill_cert(g->out, c, 1);
    if (g->der) hilt_buf_reset(g->der);
    if (g->der && c[CERT_COLS_N].t == HV_BLOB &&
        hilt_buf_add(g->der, c[CERT_COLS_N].b, c[CERT_COLS_N].n) < 0)
        g->oom = 1;
    return 1;
}

int hilt_store_cert_get(struct hilt_store *s, const char *key, struct hilt_cert_rec *out,
                        struct hilt_buf *der, struct hilt_err *e)
{
    memset(out, 0, sizeof(*out));
    char norm[80];
    if (hilt_hex_normalise(key, norm, sizeof(norm)) < 0)
        return hilt_err_set(e, HILT_E_USAGE, 0,
                            "'%s' is neither a serial nor a SHA-256 (hex digits expected)", key);
    struct get_state g = {out, der, 0, 0};
    struct hilt_val p[] = {HV_S(norm)};
    int rc = exec(s, strlen(norm) == 64 ? ST_CERT_GET_SHA : ST_CERT_GET_SERIAL, p, 1, get_cb, &g,
                  NULL, e);
    if (rc == 0 && !g.found && strlen(norm) == 64) /* a 32-byte serial is possible too */
        rc = exec(s, ST_CERT_GET_SERIAL, p, 1, get_cb, &g, NULL, e);
    if (rc < 0 || g.oom) {
        hilt_cert_rec_free(out);
        if (g.oom) return hilt_err_set(e, HILT_E_RUNTIME, 0, "certificate too large for buffer");
        return -1;
    }
    return g.found;
}

struct list_state {
    hilt_cert_cb cb;
    void *arg;
    int stopped;
};

static int list_cb(const struct hilt_val *c, int n, void *arg)
{
    struct list_state *l = arg;
    if (n < CERT_COLS_N + 1) return 1;
    struct hilt_cert_rec r;
    fill_cert(&r, c, 0);
    const uint8_t *der = c[CERT_COLS_N].t == HV_BLOB ? c[CERT_COLS_N].b : NULL;
    size_t dl = c[CERT_COLS_N].t == HV_BLOB ? c[CERT_COLS_N].n : 0;
    l->stopped = l->cb(&r, der, dl, l->arg);
    return l->stopped;
}

static int filter_stmt(const struct hilt_cert_filter *f, struct hilt_val *p, int *np,
                       enum hilt_stmt *st, int count)
{
    *np = 0;
    switch (f->q) {
    case HILT_Q_ALL:
        *st = count ? ST_CERT_COUNT_ALL : f->with_der ? ST_CERT_LIST_ALL_DER : ST_CERT_LIST_ALL;
        return 0;
    case HILT_Q_EXPIRING:
        *st = count         ? ST_CERT_COUNT_EXPIRING
              : f->with_der ? ST_CERT_EXPIRING_DER
                            : ST_CERT_EXPIRING;
        p[0] = HV_I(f->from);
        p[1] = HV_I(f->until);
        *np = 2;
        return 0;
    case HILT_Q_REVOKED:
    case HILT_Q_REVOKED_SHARD:
        if (!f->ca) return -1;
        *st = count                    ? ST_CERT_COUNT_REVOKED
              : f->q == HILT_Q_REVOKED ? ST_CERT_REVOKED
                                       : ST_CERT_REVOKED_SHARD;
        p[0] = HV_S(f->ca);
        p[1] = HV_I(f->from);
        *np = 2;
        if (f->q == HILT_Q_REVOKED_SHARD && !count) {
            p[2] = HV_I(f->shard);
            *np = 3;
        }
        return 0;
    }
    return -1;
}

int hilt_store_cert_list(struct hilt_store *s, const struct hilt_cert_filter *f, hilt_cert_cb cb,
                         void *arg, struct hilt_err *e)
{
    struct hilt_val p[3];
    int np;
    enum hilt_stmt st;
    if (filter_stmt(f, p, &np, &st, 0) < 0)
        return hilt_err_set(e, HILT_E_USAGE, 0, "store: bad certificate query");
    struct list_state l = {cb, arg, 0};
    if (exec(s, st, p, np, list_cb, &l, NULL, e) < 0) return -1;
    return l.stopped;
}

int hilt_store_cert_list_ca(struct hilt_store *s, const char *ca, int64_t from, hilt_cert_cb cb,
                            void *arg, struct hilt_err *e)
{
    struct list_state l = {cb, arg, 0};
    struct hilt_val p[] = {HV_S(ca), HV_I(from)};
    if (exec(s, ST_CERT_LIST_CA, p, 2, list_cb, &l, NULL, e) < 0) return -1;
    return l.stopped;
}

struct new_state {
    struct list_state l;
    int64_t max_id;
};

static int new_cb(const struct hilt_val *c, int n, void *arg)
{
    struct new_state *ns = arg;
    if (n < CERT_COLS_N + 2) return 1;
    int64_t id = hilt_val_int(&c[CERT_COLS_N + 1]);
    if (id > ns->max_id) ns->max_id = id;
    return list_cb(c, n, &ns->l);
}

int hilt_store_cert_changed_ca(struct hilt_store *s, const char *ca, int64_t *after_id,
                               int64_t revoked_since, hilt_cert_cb cb, void *arg,
                               struct hilt_err *e)
{
    struct new_state ns = {{cb, arg, 0}, *after_id};
    if (*after_id < 0) { /* where the table ends now */
        ns.max_id = 0;
        if (exec(s, ST_CERT_MAX_ID, NULL, 0, one_int_cb, &ns.max_id, NULL, e) < 0) return -1;
        *after_id = ns.max_id;
    } else {
        struct hilt_val p[] = {HV_S(ca), HV_I(*after_id)};
        if (exec(s, ST_CERT_NEW_CA, p, 2, new_cb, &ns, NULL, e) < 0) return -1;
        *after_id = ns.max_id;
        if (ns.l.stopped) return ns.l.stopped;
    }
    if (!cb) return 0;
    struct hilt_val q[] = {HV_S(ca), HV_I(revoked_since)};
    if (exec(s, ST_CERT_REVOKED_SINCE, q, 2, list_cb, &ns.l, NULL, e) < 0) return -1;
    return ns.l.stopped;
}

static int sha_cb(const struct hilt_val *c, int n, void *arg)
{
    if (n > 0) snprintf(arg, 65, "%s", str_col(&c[0]));
    return 1;
}

int hilt_store_cert_serial_taken(struct hilt_store *s, const char *serial, const char *issuer_key,
                                 char sha256[65], struct hilt_err *e)
{
    sha256[0] = '\0';
    struct hilt_val p[] = {HV_S(serial), HV_S(issuer_key ? issuer_key : "")};
    if (exec(s, ST_CERT_SERIAL_TAKEN, p, 2, sha_cb, sha256, NULL, e) < 0) return -1;
    return sha256[0] != '\0';
}

int hilt_store_cert_count(struct hilt_store *s, const struct hilt_cert_filter *f, int64_t *out,
                          struct hilt_err *e)
{
    struct hilt_val p[3];
    int np;
    enum hilt_stmt st;
    if (filter_stmt(f, p, &np, &st, 1) < 0)
        return hilt_err_set(e, HILT_E_USAGE, 0, "store: bad certificate query");
    *out = 0;
    return exec(s, st, p, np, one_int_cb, out, NULL, e);
}

int hilt_store_cert_revoke(struct hilt_store *s, const char *serial, int reason, int64_t when,
                           const struct hilt_audit_ev *ev, struct hilt_err *e)
{
    char norm[80];
    if (hilt_hex_normalise(serial, norm, sizeof(norm)) < 0 || strlen(norm) > 2 * 32)
        return hilt_err_set(e, HILT_E_USAGE, 0, "'%s' is not a serial (hex digits expected)",
                            serial);
    int own;
    if (tx_start(s, &own, e) < 0) return -1;
    int64_t changes = 0, at = -1;
    struct hilt_val p[] = {HV_S(norm), HV_I(when), HV_I(reason)};
    int rc = exec(s, ST_CERT_REVOKE, p, 3, NULL, NULL, &changes, e);
    int already = 0;
    if (rc == 0 && changes == 0) {
        struct hilt_val q[] = {HV_S(norm)};
        rc = exec(s, ST_CERT_REVOKED_AT, q, 1, one_int_cb, &at, NULL, e);
        if (rc == 0 && at < 0)
            rc = hilt_err_set(e, HILT_E_INPUT, 0, "no certificate with serial %s in %s", norm,
                              s->desc);
        else if (rc == 0)
            already = 1;
    }
    if (rc == 0 && ev && !already) rc = audit_append_tx(s, ev, e);
    rc = tx_end(s, own, rc, e);
    return rc < 0 ? -1 : already;
}
