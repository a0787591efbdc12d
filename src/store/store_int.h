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

/* Integer from a column (HV_INT, or decimal HV_TEXT); 0 for NULL. */
int64_t hilt_val_int(const struct hilt_val *v);

#endif
