/* store_int.h - what store.c shares with its two backends (sqlite.c,
 * postgres.c): the statement table, bound values and the backend vtable.
 * Only src/store/ includes this file.
 *
 * Every statement is a constant SQL text with $1..$N placeholders (SQLite
 * binds them by name, PostgreSQL natively); values are always bound, never
 * formatted into SQL. Rows reach the caller as an array of hilt_val whose
 * pointers are valid only during the row callback.
 */
#ifndef HILT_STORE_INT_H
#define HILT_STORE_INT_H

#include "store/store.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct hilt_err;

enum hilt_vtype { HV_NULL, HV_INT, HV_TEXT, HV_BLOB };

struct hilt_val {
    enum hilt_vtype t;
    int64_t i;
    const char *s;
    const uint8_t *b;
    size_t n;
};

#define HV_I(x) ((struct hilt_val){.t = HV_INT, .i = (int64_t)(x)})
static inline struct hilt_val hv_s(const char *x)
{
    return x ? (struct hilt_val){.t = HV_TEXT, .s = x} : (struct hilt_val){.t = HV_NULL};
}
#define HV_S(x) hv_s(x)
#define HV_B(p, len) ((struct hilt_val){.t = HV_BLOB, .b = (p), .n = (len)})

/* Statement ids; SQL texts live in store.c (one table, with a PostgreSQL
 * override where the dialects differ). */
enum hilt_stmt {
    ST_SCHEMA_VERSION,
    ST_SCHEMA_INSERT,
    ST_CA_INSERT,
    ST_CA_GET,
    ST_SERIAL_ALLOC,
    ST_CRL_NEXT,
    ST_CERT_INSERT,
    ST_CERT_INSERT_BATCH,
    ST_CERT_DER_INSERT,
    ST_CERT_GET_SERIAL,
    ST_CERT_GET_SHA,
    ST_CERT_LIST_ALL,
    ST_CERT_LIST_ALL_DER,
    ST_CERT_EXPIRING,
    ST_CERT_EXPIRING_DER,
    ST_CERT_REVOKED,
    ST_CERT_REVOKED_SHARD,
    ST_CERT_COUNT_ALL,
    ST_CERT_COUNT_EXPIRING,
    ST_CERT_COUNT_REVOKED,
    ST_CERT_REVOKE,
    ST_CERT_REVOKED_AT,
    ST_AUDIT_HEAD_LOCK,
    ST_AUDIT_HEAD_GET,
    ST_AUDIT_INSERT,
    ST_AUDIT_HEAD_SET,
    ST_AUDIT_WALK,
    ST_CERT_LIST_CA,
    ST_CERT_NEW_CA,
    ST_CERT_MAX_ID,
    ST_CERT_SERIAL_TAKEN,
    ST_CERT_REVOKED_SINCE,
    ST_CERT_SET_META,
    ST_CERT_SET_STATUS,
    ST_EVENT_INSERT,
    ST_EVENT_LIST,
    ST_LOC_UPSERT,
    ST_LOC_LIST,
    ST_ENDPOINT_CLEAR,
    ST_ENDPOINT_INSERT,
    ST_ENDPOINT_LIST,
    ST_COVERAGE,
    ST_MANIFEST_GET,
    ST_MANIFEST_LIST,
    ST_MANIFEST_UPSERT,
    ST_MANIFEST_SET_REV,
    ST_REV_INSERT,
    ST_REV_GET,
    ST_REV_LIST,
    ST_REV_STAGED,
    ST_REV_MAX,
    ST_REV_SET_STATE,
    ST_REV_SUPERSEDE,
    ST_RENEWAL_GET,
    ST_RENEWAL_UPSERT,
    ST_RENEWAL_DELETE,
    ST_NOTIFY_GET,
    ST_NOTIFY_INSERT,
/* Statements of modules with a schema of their own, each in its X-macro
 * file of HILT_STMT(ID, sql, pg) lines: store_api_stmts.h (schema 3, hilt
 * serve: principals, tokens, grants, requests, leases). */
#define HILT_STMT(id, sql, pg) id,
#include "store/store_api_stmts.h"
#include "store/store_acme_stmts.h" /* schema 4: ACME (store_acme.c) */
#include "store/store_gateway_stmts.h" /* schema 5: gateway ticket keys (store_gateway.c) */
#undef HILT_STMT
    ST_COUNT
};

struct hilt_stmt_def {
    const char *sql; /* both dialects, $N placeholders */
    const char *pg;  /* PostgreSQL text when it differs, else NULL */
};
extern const struct hilt_stmt_def hilt_stmts[ST_COUNT];

/* e->code for a uniqueness violation (SQLite CONSTRAINT_UNIQUE, SQLSTATE 23505). */
#define HILT_STORE_CONFLICT 23505

typedef int (*hilt_row_cb)(const struct hilt_val *cols, int n, void *arg);

struct hilt_store_ops {
    const char *kind;
    /* Run a prepared statement. Rows go to cb (NULL: ignored); a non-zero
     * return from cb stops delivery (not an error). *changes (may be NULL)
     * gets the rows changed by DML. */
    int (*exec)(struct hilt_store *s, enum hilt_stmt st, const struct hilt_val *params, int np,
                hilt_row_cb cb, void *arg, int64_t *changes, struct hilt_err *e);
    /* Constant DDL/control text (migrations, BEGIN): never values. */
    int (*exec_sql)(struct hilt_store *s, const char *sql, struct hilt_err *e);
    int (*begin_write)(struct hilt_store *s, struct hilt_err *e);
    int (*commit)(struct hilt_store *s, struct hilt_err *e);
    void (*rollback)(struct hilt_store *s);
    /* Has any table of ours (schema_version) been created? 1/0/-1. The
     * first read of a SQLite file: a non-database fails here, before any
     * write. */
    int (*probe)(struct hilt_store *s, struct hilt_err *e);
    void (*close)(struct hilt_store *s);
    /* The id of the row the last INSERT made, where the engine knows it
     * without RETURNING (SQLite); NULL: statements say RETURNING id. */
    int64_t (*last_insert_id)(struct hilt_store *s);
};

struct hilt_store {
    const struct hilt_store_ops *ops;
    void *impl;
    int tx_user;    /* inside hilt_store_begin() */
    char desc[512]; /* path or URL without password, for messages */
};

int hilt_store_sqlite_open(struct hilt_store *s, const char *path, struct hilt_err *e);
int hilt_store_pg_open(struct hilt_store *s, const char *url, struct hilt_err *e);

/* Migrations: version, then the statements per dialect (NULL-terminated). */
struct hilt_migration {
    int version;
    const char *const *sqlite;
    const char *const *pg;
};

/* Open and migrate up to `version` only (tests of the migrations). */
struct hilt_store *hilt_store_open_version(const char *url, int version, struct hilt_err *e);

/* Append an audit record inside the caller's write transaction. */
int hilt_store_audit_append_tx(struct hilt_store *s, const struct hilt_audit_ev *ev,
                               struct hilt_err *e);

/* Integer from a column (HV_INT, or decimal HV_TEXT); 0 for NULL. */
int64_t hilt_val_int(const struct hilt_val *v);

/* ---- helpers shared by store.c and store_clm.c ------------------------ */

/* A column as a new string ("" for NULL); NULL only when out of memory. */
static inline char *dup_col(const struct hilt_val *v)
{
    if (v->t == HV_TEXT && v->s) return strdup(v->s);
    if (v->t == HV_INT) {
        char b[32];
        snprintf(b, sizeof(b), "%lld", (long long)v->i);
        return strdup(b);
    }
    return strdup("");
}

/* A text column, borrowed ("" for NULL). */
static inline const char *str_col(const struct hilt_val *v)
{
    return v->t == HV_TEXT && v->s ? v->s : "";
}

static inline int one_int_cb(const struct hilt_val *c, int n, void *arg)
{
    int64_t *out = arg;
    if (n > 0) *out = hilt_val_int(&c[0]);
    return 1;
}

static inline int exec(struct hilt_store *s, enum hilt_stmt st, const struct hilt_val *p, int np,
                       hilt_row_cb cb, void *arg, int64_t *changes, struct hilt_err *e)
{
    return s->ops->exec(s, st, p, np, cb, arg, changes, e);
}

/* Start a write transaction unless the caller holds one. *own says whether
 * we must end it. */
static inline int tx_start(struct hilt_store *s, int *own, struct hilt_err *e)
{
    *own = 0;
    if (s->tx_user) return 0;
    if (s->ops->begin_write(s, e) < 0) return -1;
    *own = 1;
    return 0;
}

static inline int tx_end(struct hilt_store *s, int own, int rc, struct hilt_err *e)
{
    if (!own) return rc;
    if (rc < 0) {
        s->ops->rollback(s);
        return rc;
    }
    return s->ops->commit(s, e);
}

#endif
