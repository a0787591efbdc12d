/* postgres.c - the PostgreSQL backend of the store (libpq): one connection,
 * statements prepared once per connection (PQprepare), values always sent
 * as parameters (bytes in binary format), rows read in single-row mode so a
 * 1,000,000-row listing never sits in memory at once. Concurrency rests on
 * row locks taken by single statements (see docs/store.md).
 *
 * libpq is loaded with dlopen() the first time a postgres:// store is
 * opened, not linked: its dependency chain (Kerberos, LDAP, GnuTLS, whose
 * constructors initialise p11-kit) costs every hilt command ~3 ms at start,
 * more than a whole `hilt probe` handshake. Only the functions in PQ_FUNCS
 * are used; libpq-fe.h still gives their exact types. */
#include "core/err.h"
#include "store/store_int.h"

#include <dlfcn.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PQ_LIB "libpq.so.5"

#define PQ_FUNCS(X)                                                                                \
    X(PQclear)                                                                                     \
    X(PQcmdTuples)                                                                                 \
    X(PQconnectdbParams)                                                                           \
    X(PQerrorMessage) X(PQexec) X(PQfinish) X(PQfreemem) X(PQftype) X(PQgetResult) X(PQgetisnull)  \
        X(PQgetvalue) X(PQnfields) X(PQntuples) X(PQprepare) X(PQresultErrorField)                 \
            X(PQresultErrorMessage) X(PQresultStatus) X(PQsendQueryPrepared)                       \
                X(PQsetNoticeProcessor) X(PQsetSingleRowMode) X(PQstatus) X(PQtransactionStatus)   \
                    X(PQunescapeBytea)

static struct {
#define PQ_MEMBER(f) __typeof__(f) *f;
    PQ_FUNCS(PQ_MEMBER)
#undef PQ_MEMBER
} pq;

static pthread_once_t pq_once = PTHREAD_ONCE_INIT;
static char pq_load_err[512];

static void pq_load(void)
{
    /* Never dlclose()d: libpq's dependencies register atexit handlers. */
    const char *lib = getenv("HILT_LIBPQ"); /* another libpq, or a test of this error */
    if (!lib || !*lib) lib = PQ_LIB;
    void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *why = dlerror();
        snprintf(pq_load_err, sizeof(pq_load_err), "%s", why ? why : "not found");
        return;
    }
#define PQ_SYM(f)                                                                                  \
    if (!(*(void **)&pq.f = dlsym(h, #f))) {                                                       \
        snprintf(pq_load_err, sizeof(pq_load_err), "%s has no %s", lib, #f);                       \
        return;                                                                                    \
    }
    PQ_FUNCS(PQ_SYM)
#undef PQ_SYM
}

/* Load libpq once per process. An input-independent fault: exit 3. */
static int pq_ready(struct hilt_err *e)
{
    pthread_once(&pq_once, pq_load);
    if (pq_load_err[0] || !pq.PQunescapeBytea)
        return hilt_err_set(e, HILT_E_RUNTIME, 0,
                            "a postgres:// store needs libpq (%s), which cannot be loaded: %s; "
                            "install it (Debian: apt-get install libpq5)",
                            PQ_LIB, pq_load_err[0] ? pq_load_err : "incomplete");
    return 0;
}

#define OID_BYTEA 17
#define OID_INT8 20
#define OID_INT2 21
#define OID_INT4 23

struct pg {
    PGconn *c;
    unsigned char prepared[ST_COUNT];
};

static void quiet(void *arg, const char *msg)
{
    (void)arg;
    (void)msg; /* NOTICEs (e.g. "relation exists") are not for the user */
}

static int pg_res_err(struct hilt_store *s, PGresult *r, const char *what, struct hilt_err *e)
{
    struct pg *p = s->impl;
    const char *state = r ? pq.PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = r ? pq.PQresultErrorMessage(r) : pq.PQerrorMessage(p->c);
    char m[600];
    snprintf(m, sizeof(m), "%s", msg && *msg ? msg : pq.PQerrorMessage(p->c));
    size_t l = strlen(m);
    while (l && (m[l - 1] == '\n' || m[l - 1] == ' '))
        m[--l] = '\0';
    if (state && !strcmp(state, "23505"))
        return hilt_err_set(e, HILT_E_INPUT, HILT_STORE_CONFLICT, "%s: %s: %s", s->desc, what, m);
    return hilt_err_set(e, HILT_E_RUNTIME, 0, "%s: %s: %s", s->desc, what, m);
}

static int deliver(PGresult *r, hilt_row_cb cb, void *arg, int *stop)
{
    int nf = pq.PQnfields(r);
    if (nf > 32) nf = 32;
    struct hilt_val cols[32];
    for (int row = 0; row < pq.PQntuples(r) && !*stop; row++) {
        unsigned char *bufs[32] = {0};
        for (int i = 0; i < nf; i++) {
            struct hilt_val *v = &cols[i];
            memset(v, 0, sizeof(*v));
            if (pq.PQgetisnull(r, row, i)) {
                v->t = HV_NULL;
                continue;
            }
            const char *txt = pq.PQgetvalue(r, row, i);
            switch (pq.PQftype(r, i)) {
            case OID_INT8:
            case OID_INT4:
            case OID_INT2:
                v->t = HV_INT;
                v->i = strtoll(txt, NULL, 10);
                break;
            case OID_BYTEA: {
                size_t n = 0;
                bufs[i] = pq.PQunescapeBytea((const unsigned char *)txt, &n);
                v->t = HV_BLOB;
                v->b = bufs[i];
                v->n = bufs[i] ? n : 0;
                break;
            }
            default:
                v->t = HV_TEXT;
                v->s = txt;
            }
        }
        *stop = cb(cols, nf, arg);
        for (int i = 0; i < nf; i++)
            if (bufs[i]) pq.PQfreemem(bufs[i]);
    }
    return 0;
}

static int pg_exec(struct hilt_store *s, enum hilt_stmt id, const struct hilt_val *pv, int np,
                   hilt_row_cb cb, void *arg, int64_t *changes, struct hilt_err *e)
{
    struct pg *p = s->impl;
    char name[16];
    snprintf(name, sizeof(name), "h%d", (int)id);
    if (!p->prepared[id]) {
        const char *sql = hilt_stmts[id].pg ? hilt_stmts[id].pg : hilt_stmts[id].sql;
        PGresult *r = pq.PQprepare(p->c, name, sql, 0, NULL);
        if (pq.PQresultStatus(r) != PGRES_COMMAND_OK) {
            int rc = pg_res_err(s, r, "prepare", e);
            pq.PQclear(r);
            return rc;
        }
        pq.PQclear(r);
        p->prepared[id] = 1;
    }
    const char *vals[32];
    int lens[32], fmts[32];
    char nums[32][24];
    if (np > 32) return hilt_err_set(e, HILT_E_RUNTIME, 0, "store: too many parameters");
    for (int i = 0; i < np; i++) {
        lens[i] = 0;
        fmts[i] = 0;
        switch (pv[i].t) {
        case HV_NULL:
            vals[i] = NULL;
            break;
        case HV_INT:
            snprintf(nums[i], sizeof(nums[i]), "%lld", (long long)pv[i].i);
            vals[i] = nums[i];
            break;
        case HV_TEXT:
            vals[i] = pv[i].s;
            break;
        case HV_BLOB:
            vals[i] = (const char *)pv[i].b;
            lens[i] = (int)pv[i].n;
            fmts[i] = 1;
            break;
        }
    }
    if (!pq.PQsendQueryPrepared(p->c, name, np, vals, lens, fmts, 0))
        return pg_res_err(s, NULL, "query", e);
    pq.PQsetSingleRowMode(p->c);
    int rc = 0, stop = 0;
    PGresult *r;
    while ((r = pq.PQgetResult(p->c))) {
        ExecStatusType st = pq.PQresultStatus(r);
        if (st == PGRES_SINGLE_TUPLE || st == PGRES_TUPLES_OK) {
            if (cb && !stop) deliver(r, cb, arg, &stop);
            if (st == PGRES_TUPLES_OK && changes) *changes = strtoll(pq.PQcmdTuples(r), NULL, 10);
        } else if (st == PGRES_COMMAND_OK) {
            if (changes) *changes = strtoll(pq.PQcmdTuples(r), NULL, 10);
        } else if (rc == 0) {
            rc = pg_res_err(s, r, "query", e);
        }
        pq.PQclear(r);
    }
    return rc;
}

static int pg_exec_sql(struct hilt_store *s, const char *sql, struct hilt_err *e)
{
    struct pg *p = s->impl;
    PGresult *r = pq.PQexec(p->c, sql);
    ExecStatusType st = pq.PQresultStatus(r);
    int rc = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? 0 : pg_res_err(s, r, "exec", e);
    pq.PQclear(r);
    return rc;
}

static int pg_begin(struct hilt_store *s, struct hilt_err *e)
{
    return pg_exec_sql(s, "BEGIN", e);
}

static int pg_commit(struct hilt_store *s, struct hilt_err *e)
{
    return pg_exec_sql(s, "COMMIT", e);
}

static void pg_rollback(struct hilt_store *s)
{
    struct pg *p = s->impl;
    if (pq.PQtransactionStatus(p->c) != PQTRANS_IDLE) pq.PQclear(pq.PQexec(p->c, "ROLLBACK"));
}

static int pg_probe(struct hilt_store *s, struct hilt_err *e)
{
    struct pg *p = s->impl;
    PGresult *r = pq.PQexec(p->c, "SELECT to_regclass('schema_version') IS NOT NULL");
    int rc;
    if (pq.PQresultStatus(r) != PGRES_TUPLES_OK)
        rc = pg_res_err(s, r, "open", e);
    else
        rc = pq.PQntuples(r) == 1 && !strcmp(pq.PQgetvalue(r, 0, 0), "t");
    pq.PQclear(r);
    return rc;
}

static void pg_close(struct hilt_store *s)
{
    struct pg *p = s->impl;
    if (!p) return;
    pq.PQfinish(p->c);
    free(p);
    s->impl = NULL;
}

static const struct hilt_store_ops pg_ops = {
    .kind = "postgres",
    .exec = pg_exec,
    .exec_sql = pg_exec_sql,
    .begin_write = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .probe = pg_probe,
    .close = pg_close,
};

/* The URL for messages, with any password replaced. */
static void redact(const char *url, char *out, size_t cap)
{
    const char *scheme = strstr(url, "://");
    const char *at = scheme ? strchr(scheme + 3, '@') : NULL;
    const char *colon = scheme ? strchr(scheme + 3, ':') : NULL;
    if (at && colon && colon < at)
        snprintf(out, cap, "%.*s:***%s", (int)(colon - url), url, at);
    else
        snprintf(out, cap, "%s", url);
    char *pw = strstr(out, "password=");
    if (pw)
        for (pw += 9; *pw && *pw != '&'; pw++)
            *pw = '*';
}

int hilt_store_pg_open(struct hilt_store *s, const char *url, struct hilt_err *e)
{
    redact(url, s->desc, sizeof(s->desc));
    if (pq_ready(e) < 0) return -1;
    struct pg *p = calloc(1, sizeof(*p));
    if (!p) return hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
    /* Defaults a URL may override (later keywords win; the URL comes last):
     * libpq waits forever for a server that accepts TCP and never answers,
     * and for a peer that vanished from the network. connect_timeout bounds
     * the startup, keepalives find a dead idle connection within ~60 s, and
     * tcp_user_timeout fails a request whose bytes go unacknowledged for 60 s. */
    static const char *const keys[] = {
        "connect_timeout",  "keepalives",       "keepalives_idle", "keepalives_interval",
        "keepalives_count", "tcp_user_timeout", "dbname",          NULL};
    const char *vals[] = {"10", "1", "30", "10", "3", "60000", url, NULL};
    p->c = pq.PQconnectdbParams(keys, vals, 1);
    if (!p->c || pq.PQstatus(p->c) != CONNECTION_OK) {
        char m[600];
        snprintf(m, sizeof(m), "%s", p->c ? pq.PQerrorMessage(p->c) : "out of memory");
        size_t l = strlen(m);
        while (l && (m[l - 1] == '\n' || m[l - 1] == ' '))
            m[--l] = '\0';
        hilt_err_set(e, HILT_E_RUNTIME, 0, "cannot connect to store %s: %s", s->desc, m);
        pq.PQfinish(p->c);
        free(p);
        return -1;
    }
    pq.PQsetNoticeProcessor(p->c, quiet, NULL);
    s->ops = &pg_ops;
    s->impl = p;
    return 0;
}
