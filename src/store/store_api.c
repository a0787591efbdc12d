/* store_api.c - schema 3 and its operations: what `hilt serve` keeps
 * (principals, hashed bearer tokens, role grants, certificate requests and
 * decisions, node leases) and the bounded pages of the inventory and the
 * audit chain its REST API reads (store_api.h, docs/serve.md). Same rules as
 * store.c: bound parameters only, one transaction per operation unless the
 * caller holds one, records handed to callbacks borrow their strings. */
#include "store/store_api.h"

#include "core/clock.h"
#include "core/err.h"
#include "store/store_int.h"

/* ---- migration 3 ------------------------------------------------------------------ */

#define M3_TABLES(INT, AUTOID)                                                                     \
    "CREATE TABLE api_principals (id TEXT PRIMARY KEY, kind TEXT NOT NULL, created " INT           \
    " NOT NULL, disabled_at " INT " NOT NULL DEFAULT 0)",                                          \
        "CREATE TABLE api_tokens (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, principal "      \
        "TEXT NOT NULL, hash TEXT NOT NULL, created " INT " NOT NULL, expires_at " INT             \
        " NOT NULL DEFAULT 0, revoked_at " INT " NOT NULL DEFAULT 0, created_by TEXT NOT NULL)",   \
        "CREATE TABLE api_grants (id " AUTOID ", principal TEXT NOT NULL, role TEXT NOT NULL, "    \
        "env TEXT NOT NULL, names TEXT NOT NULL, created " INT                                     \
        " NOT NULL, created_by TEXT NOT NULL)",                                                    \
        "CREATE INDEX api_grants_principal ON api_grants(principal)",                              \
        "CREATE TABLE api_requests (id " AUTOID ", rid TEXT NOT NULL UNIQUE, created " INT         \
        " NOT NULL, updated " INT " NOT NULL, requester TEXT NOT NULL, via TEXT NOT NULL, "        \
        "owner TEXT NOT NULL, service TEXT NOT NULL, env TEXT NOT NULL, names TEXT NOT NULL, "     \
        "lifetime " INT " NOT NULL, csr TEXT NOT NULL, state TEXT NOT NULL, approver TEXT NOT "    \
        "NULL, decided_at " INT " NOT NULL, reason TEXT NOT NULL, serial TEXT NOT NULL, "          \
        "issuer TEXT NOT NULL)",                                                                   \
        "CREATE INDEX api_requests_state ON api_requests(state, id)",                              \
        "CREATE INDEX api_requests_serial ON api_requests(serial) WHERE serial <> ''",             \
        "CREATE TABLE api_leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, epoch " INT         \
        " NOT NULL, acquired_at " INT " NOT NULL, heartbeat_at " INT " NOT NULL, expires_at " INT  \
        " NOT NULL)"

const char *const hilt_store_m3_sqlite[] = {M3_TABLES("INTEGER", "INTEGER PRIMARY KEY"), NULL};
const char *const hilt_store_m3_pg[] = {
    M3_TABLES("BIGINT", "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"), NULL};

/* ---- helpers ---------------------------------------------------------------------- */

static void cpy(char *dst, size_t cap, const struct hilt_val *v)
{
    snprintf(dst, cap, "%s", str_col(v));
}

static int write_one(struct hilt_store *s, enum hilt_stmt st, const struct hilt_val *p, int np,
                     const struct hilt_audit_ev *ev, int64_t *changes, struct hilt_err *e)
{
    int own;
    int64_t ch = 0;
    if (tx_start(s, &own, e) < 0) return -1;
    int rc = exec(s, st, p, np, NULL, NULL, &ch, e);
    if (rc == 0 && ch > 0 && ev) rc = hilt_store_audit_append_tx(s, ev, e);
    rc = tx_end(s, own, rc, e);
    if (changes) *changes = ch;
    return rc;
}

/* ---- principals ------------------------------------------------------------------ */

int hilt_store_principal_add(struct hilt_store *s, const char *id, const char *kind,
                             struct hilt_err *e)
{
    struct hilt_val p[] = {HV_S(id), HV_S(kind), HV_I(hilt_now())};
    return exec(s, ST_API_PRINCIPAL_ADD, p, 3, NULL, NULL, NULL, e);
}

struct pget {
    int found;
    int64_t disabled_at;
};
static int pget_cb(const struct hilt_val *c, int n, void *arg)
{
    struct pget *g = arg;
    if (n >= 4) {
        g->found = 1;
        g->disabled_at = hilt_val_int(&c[3]);
    }
    return 1;
}

int hilt_store_principal_get(struct hilt_store *s, const char *id, int64_t *disabled_at,
                             struct hilt_err *e)
{
    struct pget g = {0, 0};
    struct hilt_val p[] = {HV_S(id)};
    if (exec(s, ST_API_PRINCIPAL_GET, p, 1, pget_cb, &g, NULL, e) < 0) return -1;
    if (disabled_at) *disabled_at = g.disabled_at;
    return g.found;
}

struct walk {
    void *cb;
    void *arg;
    int stopped;
    int64_t rows;
};

static int plist_cb(const struct hilt_val *c, int n, void *arg)
{
    struct walk *w = arg;
    if (n < 4) return 1;
    struct hilt_api_principal_rec r = {str_col(&c[0]), str_col(&c[1]), hilt_val_int(&c[2]),
                                       hilt_val_int(&c[3])};
    w->rows++;
    return w->stopped = ((hilt_api_principal_cb)w->cb)(&r, w->arg);
}

int hilt_store_principal_list(struct hilt_store *s, hilt_api_principal_cb cb, void *arg,
                              struct hilt_err *e)
{
    struct walk w = {(void *)cb, arg, 0, 0};
    if (exec(s, ST_API_PRINCIPAL_LIST, NULL, 0, plist_cb, &w, NULL, e) < 0) return -1;
    return w.stopped;
}

int hilt_store_principal_disable(struct hilt_store *s, const char *id, int64_t when,
                                 const struct hilt_audit_ev *ev, struct hilt_err *e)
{
    int64_t ch = 0;
    struct hilt_val p[] = {HV_S(id), HV_I(when)};
    if (write_one(s, ST_API_PRINCIPAL_DISABLE, p, 2, ev, &ch, e) < 0) return -1;
    return ch > 0;
}

/* ---- tokens ---------------------------------------------------------------------- */

int hilt_store_token_add(struct hilt_store *s, const struct hilt_api_token_rec *t, const char *role,
                         const char *env, const char *names, const struct hilt_audit_ev *ev,
                         struct hilt_err *e)
{
    int own;
    if (tx_start(s, &own, e) < 0) return -1;
    int64_t now = t->created ? t->created : hilt_now();
    struct hilt_val pp[] = {HV_S(t->principal), HV_S("token"), HV_I(now)};
    struct hilt_val p[] = {HV_S(t->id),
                           HV_S(t->name),
                           HV_S(t->principal),
                           HV_S(t->hash),
                           HV_I(now),
                           HV_I(t->expires_at),
                           HV_S(t->created_by ? t->created_by : hilt_audit_actor())};
    int rc = exec(s, ST_API_PRINCIPAL_ADD, pp, 3, NULL, NULL, NULL, e);
    if (rc == 0) {
        rc = exec(s, ST_API_TOKEN_ADD, p, 7, NULL, NULL, NULL, e);
        if (rc < 0 && e && e->code == HILT_STORE_CONFLICT)
            hilt_err_set(e, HILT_E_INPUT, HILT_STORE_CONFLICT, "a token named '%s' exists",
                         t->name);
    }
    if (rc == 0 && role) {
        int64_t gid = 0;
        struct hilt_val g[] = {HV_S(t->principal),       HV_S(role), HV_S(env ? env : ""),
                               HV_S(names ? names : ""), HV_I(now),  HV_S(p[6].s)};
        rc = exec(s, ST_API_GRANT_ADD, g, 6, one_int_cb, &gid, NULL, e);
    }
    if (rc == 0 && ev) rc = hilt_store_audit_append_tx(s, ev, e);
    return tx_end(s, own, rc, e);
}

static int token_cb(const struct hilt_val *c, int n, void *arg)
{
    struct walk *w = arg;
    if (n < 9) return 1;
    struct hilt_api_token_rec r = {
        .id = str_col(&c[0]),
        .name = str_col(&c[1]),
        .principal = str_col(&c[2]),
        .hash = str_col(&c[3]),
        .created = hilt_val_int(&c[4]),
        .expires_at = hilt_val_int(&c[5]),
        .revoked_at = hilt_val_int(&c[6]),
        .created_by = str_col(&c[7]),
        .principal_disabled_at = hilt_val_int(&c[8]),
    };
    w->rows++;
    return w->stopped = ((hilt_api_token_cb)w->cb)(&r, w->arg);
}

int hilt_store_token_get(struct hilt_store *s, const char *id, hilt_api_token_cb cb, void *arg,
                         struct hilt_err *e)
{
    struct walk w = {(void *)cb, arg, 0, 0};
    struct hilt_val p[] = {HV_S(id)};
    if (exec(s, ST_API_TOKEN_GET, p, 1, token_cb, &w, NULL, e) < 0) return -1;
    return w.rows > 0;
}

int hilt_store_token_list(struct hilt_store *s, hilt_api_token_cb cb, void *arg, struct hilt_err *e)
{
    struct walk w = {(void *)cb, arg, 0, 0};
    if (exec(s, ST_API_TOKEN_LIST, NULL, 0, token_cb, &w, NULL, e) < 0) return -1;
    return w.stopped;
}

int hilt_store_token_revoke(struct hilt_store *s, const char *name, int64_t when,
                            const struct hilt_audit_ev *ev, struct hilt_err *e)
{
    int64_t ch = 0;
    struct hilt_val p[] = {HV_S(name), HV_I(when)};
    if (write_one(s, ST_API_TOKEN_REVOKE, p, 2, ev, &ch, e) < 0) return -1;
    return ch > 0;
}

/* ---- grants ---------------------------------------------------------------------- */

int hilt_store_grant_add(struct hilt_store *s, const struct hilt_api_grant_rec *g, int64_t *id,
                         const struct hilt_audit_ev *ev, struct hilt_err *e)
{
    int own;
    if (tx_start(s, &own, e) < 0) return -1;
    int64_t now = g->created ? g->created : hilt_now();
    const char *kind = !strncmp(g->principal, "cert:", 5) ? "cert" : "token";
    struct hilt_val pp[] = {HV_S(g->principal), HV_S(kind), HV_I(now)};
    struct hilt_val p[] = {HV_S(g->principal),
                           HV_S(g->role),
                           HV_S(g->env ? g->env : ""),
                           HV_S(g->names ? g->names : ""),
                           HV_I(now),
                           HV_S(g->created_by ? g->created_by : hilt_audit_actor())};
    int64_t gid = 0;
    int rc = exec(s, ST_API_PRINCIPAL_ADD, pp, 3, NULL, NULL, NULL, e);
    if (rc == 0) rc = exec(s, ST_API_GRANT_ADD, p, 6, one_int_cb, &gid, NULL, e);
    if (rc == 0 && ev) rc = hilt_store_audit_append_tx(s, ev, e);
    rc = tx_end(s, own, rc, e);
    if (rc == 0 && id) *id = gid;
    return rc;
}

static int grant_cb(const struct hilt_val *c, int n, void *arg)
{
    struct walk *w = arg;
    if (n < 7) return 1;
    struct hilt_api_grant_rec r = {hilt_val_int(&c[0]), str_col(&c[1]), str_col(&c[2]),
                                   str_col(&c[3]),      str_col(&c[4]), hilt_val_int(&c[5]),
                                   str_col(&c[6])};
    w->rows++;
    return w->stopped = ((hilt_api_grant_cb)w->cb)(&r, w->arg);
}

int hilt_store_grant_list(struct hilt_store *s, const char *principal, hilt_api_grant_cb cb,
                          void *arg, struct hilt_err *e)
{
    struct walk w = {(void *)cb, arg, 0, 0};
    struct hilt_val p[] = {HV_S(principal)};
    int rc = principal ? exec(s, ST_API_GRANT_OF, p, 1, grant_cb, &w, NULL, e)
                       : exec(s, ST_API_GRANT_LIST, NULL, 0, grant_cb, &w, NULL, e);
    return rc < 0 ? -1 : w.stopped;
}

int hilt_store_grant_remove(struct hilt_store *s, int64_t id, const struct hilt_audit_ev *ev,
                            struct hilt_err *e)
{
    int64_t ch = 0;
    struct hilt_val p[] = {HV_I(id)};
    if (write_one(s, ST_API_GRANT_DELETE, p, 1, ev, &ch, e) < 0) return -1;
    return ch > 0;
}

/* ---- requests -------------------------------------------------------------------- */

void hilt_api_request_rec_free(struct hilt_api_request_rec *r)
{
    if (!r) return;
    free(r->names);
    free(r->csr);
    r->names = r->csr = NULL;
}

/* columns of API_REQ_COLS into a record (strings copied) */
static int req_fill(struct hilt_api_request_rec *r, const struct hilt_val *c, int n)
{
    if (n < 18) return -1;
    memset(r, 0, sizeof(*r));
    r->seq = hilt_val_int(&c[0]);
    cpy(r->rid, sizeof(r->rid), &c[1]);
    r->created = hilt_val_int(&c[2]);
    r->updated = hilt_val_int(&c[3]);
    cpy(r->requester, sizeof(r->requester), &c[4]);
    cpy(r->via, sizeof(r->via), &c[5]);
    cpy(r->owner, sizeof(r->owner), &c[6]);
    cpy(r->service, sizeof(r->service), &c[7]);
    cpy(r->env, sizeof(r->env), &c[8]);
    r->names = dup_col(&c[9]);
    r->lifetime = hilt_val_int(&c[10]);
    r->csr = dup_col(&c[11]);
    cpy(r->state, sizeof(r->state), &c[12]);
    cpy(r->approver, sizeof(r->approver), &c[13]);
    r->decided_at = hilt_val_int(&c[14]);
    cpy(r->reason, sizeof(r->reason), &c[15]);
    cpy(r->serial, sizeof(r->serial), &c[16]);
    cpy(r->issuer, sizeof(r->issuer), &c[17]);
    if (!r->names || !r->csr) {
        hilt_api_request_rec_free(r);
        return -1;
    }
    return 0;
}

int hilt_store_request_add(struct hilt_store *s, const struct hilt_api_request_rec *r,
                           const struct hilt_audit_ev *ev, struct hilt_err *e)
{
    int64_t now = r->created ? r->created : hilt_now();
    struct hilt_val p[] = {
        HV_S(r->rid),        HV_I(now),        HV_S(r->requester), HV_S(r->via),
        HV_S(r->owner),      HV_S(r->service), HV_S(r->env),       HV_S(r->names),
        HV_I(r->lifetime),   HV_S(r->csr),     HV_S(r->state),     HV_S(r->approver),
        HV_I(r->decided_at), HV_S(r->reason),  HV_S(r->serial),    HV_S(r->issuer)};
    int own;
    if (tx_start(s, &own, e) < 0) return -1;
    int rc = exec(s, ST_API_REQ_ADD, p, 16, NULL, NULL, NULL, e);
    if (rc == 0 && ev) rc = hilt_store_audit_append_tx(s, ev, e);
    return tx_end(s, own, rc, e);
}

struct rget {
    struct hilt_api_request_rec *out;
    int found, oom;
};
static int rget_cb(const struct hilt_val *c, int n, void *arg)
{
    struct rget *g = arg;
    if (req_fill(g->out, c, n) < 0) {
        g->oom = 1;
        return 1;
    }
    g->found = 1;
    return 1;
}

static int req_get(struct hilt_store *s, enum hilt_stmt st, const char *key,
                   struct hilt_api_request_rec *out, struct hilt_err *e)
{
    memset(out, 0, sizeof(*out));
    struct rget g = {out, 0, 0};
    struct hilt_val p[] = {HV_S(key)};
    if (exec(s, st, p, 1, rget_cb, &g, NULL, e) < 0) return -1;
    if (g.oom) return hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
    return g.found;
}

int hilt_store_request_get(struct hilt_store *s, const char *rid, struct hilt_api_request_rec *out,
                           struct hilt_err *e)
{
    return req_get(s, ST_API_REQ_GET, rid, out, e);
}

int hilt_store_request_by_serial(struct hilt_store *s, const char *serial,
                                 struct hilt_api_request_rec *out, struct hilt_err *e)
{
    return req_get(s, ST_API_REQ_BY_SERIAL, serial, out, e);
}

static int rlist_cb(const struct hilt_val *c, int n, void *arg)
{
    struct walk *w = arg;
    struct hilt_api_request_rec r;
    if (req_fill(&r, c, n) < 0) return w->stopped = -1;
    w->rows++;
    int stop = ((hilt_api_request_cb)w->cb)(&r, w->arg);
    hilt_api_request_rec_free(&r);
    return w->stopped = stop;
}

int hilt_store_request_list(struct hilt_store *s, int64_t after, const char *state,
                            const char *requester, int64_t limit, hilt_api_request_cb cb, void *arg,
                            struct hilt_err *e)
{
    struct walk w = {(void *)cb, arg, 0, 0};
    struct hilt_val p[] = {HV_I(after), HV_S(state ? state : ""), HV_S(requester ? requester : ""),
                           HV_I(limit)};
    if (exec(s, ST_API_REQ_LIST, p, 4, rlist_cb, &w, NULL, e) < 0) return -1;
    if (w.stopped < 0) return hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
    return w.stopped;
}

int hilt_store_request_decide(struct hilt_store *s, const char *rid, const char *state,
                              const char *approver, const char *reason, int64_t when,
                              const struct hilt_audit_ev *ev, struct hilt_err *e)
{
    int64_t ch = 0;
    struct hilt_val p[] = {HV_S(rid), HV_S(state), HV_S(approver), HV_I(when),
                           HV_S(reason ? reason : "")};
    if (write_one(s, ST_API_REQ_DECIDE, p, 5, ev, &ch, e) < 0) return -1;
    return ch > 0;
}

int hilt_store_request_issued(struct hilt_store *s, const char *rid, const char *serial,
                              const char *issuer, int64_t when, const struct hilt_audit_ev *ev,
                              struct hilt_err *e)
{
    int64_t ch = 0;
    struct hilt_val p[] = {HV_S(rid), HV_S(serial), HV_S(issuer), HV_I(when)};
    if (write_one(s, ST_API_REQ_ISSUED, p, 4, ev, &ch, e) < 0) return -1;
    return ch > 0;
}

struct cwalk {
    hilt_api_count_cb cb;
    void *arg;
};
static int count_cb(const struct hilt_val *c, int n, void *arg)
{
    struct cwalk *w = arg;
    if (n < 2) return 1;
    return w->cb(str_col(&c[0]), hilt_val_int(&c[1]), w->arg);
}

int hilt_store_request_counts(struct hilt_store *s, hilt_api_count_cb cb, void *arg,
                              struct hilt_err *e)
{
    struct cwalk w = {cb, arg};
    return exec(s, ST_API_REQ_COUNT, NULL, 0, count_cb, &w, NULL, e);
}

/* ---- leases ---------------------------------------------------------------------- */

struct lacq {
    int got;
    int64_t epoch;
};
static int lacq_cb(const struct hilt_val *c, int n, void *arg)
{
    struct lacq *l = arg;
    if (n >= 2) {
        l->got = 1;
        l->epoch = hilt_val_int(&c[1]);
    }
    return 1;
}

int hilt_store_lease_acquire(struct hilt_store *s, const char *name, const char *holder,
                             int64_t now, int64_t ttl, int64_t *epoch, struct hilt_err *e)
{
    struct lacq l = {0, 0};
    struct hilt_val p[] = {HV_S(name), HV_S(holder), HV_I(now), HV_I(now + ttl)};
    int own;
    if (tx_start(s, &own, e) < 0) return -1;
    int rc = exec(s, ST_API_LEASE_ACQUIRE, p, 4, lacq_cb, &l, NULL, e);
    if (tx_end(s, own, rc, e) < 0) return -1;
    if (l.got && epoch) *epoch = l.epoch;
    return l.got;
}

int hilt_store_lease_release(struct hilt_store *s, const char *name, const char *holder,
                             struct hilt_err *e)
{
    struct hilt_val p[] = {HV_S(name), HV_S(holder)};
    return exec(s, ST_API_LEASE_RELEASE, p, 2, NULL, NULL, NULL, e);
}

static int lease_cb(const struct hilt_val *c, int n, void *arg)
{
    struct walk *w = arg;
    if (n < 6) return 1;
    struct hilt_api_lease_rec r = {str_col(&c[0]),      str_col(&c[1]),      hilt_val_int(&c[2]),
                                   hilt_val_int(&c[3]), hilt_val_int(&c[4]), hilt_val_int(&c[5])};
    w->rows++;
    return w->stopped = ((hilt_api_lease_cb)w->cb)(&r, w->arg);
}

int hilt_store_lease_list(struct hilt_store *s, hilt_api_lease_cb cb, void *arg, struct hilt_err *e)
{
    struct walk w = {(void *)cb, arg, 0, 0};
    if (exec(s, ST_API_LEASE_LIST, NULL, 0, lease_cb, &w, NULL, e) < 0) return -1;
    return w.stopped;
}

/* ---- bounded reads ---------------------------------------------------------------- */

static int cert_cb(const struct hilt_val *c, int n, void *arg)
{
    struct walk *w = arg;
    if (n < 18) return 1;
    struct hilt_api_cert_row r = {
        .id = hilt_val_int(&c[0]),
        .serial = str_col(&c[1]),
        .sha256 = str_col(&c[2]),
        .ca = str_col(&c[3]),
        .subject = str_col(&c[4]),
        .names = str_col(&c[5]),
        .not_before = hilt_val_int(&c[6]),
        .not_after = hilt_val_int(&c[7]),
        .key_type = str_col(&c[8]),
        .owner = str_col(&c[9]),
        .service = str_col(&c[10]),
        .env = str_col(&c[11]),
        .status = str_col(&c[12]),
        .source = str_col(&c[13]),
        .revoked_at = hilt_val_int(&c[14]),
        .revoke_reason = (int)hilt_val_int(&c[15]),
        .created = hilt_val_int(&c[16]),
        .pipeline = str_col(&c[17]),
    };
    w->rows++;
    return w->stopped = ((hilt_api_cert_cb)w->cb)(&r, w->arg);
}

int hilt_store_cert_page(struct hilt_store *s, const struct hilt_api_cert_query *q,
                         hilt_api_cert_cb cb, void *arg, struct hilt_err *e)
{
    /* name: one whole entry of the comma-separated list; LIKE's own
     * wildcards in it are escaped */
    char like[600] = "";
    if (q->name && *q->name) {
        size_t o = 0;
        like[o++] = '%';
        like[o++] = ',';
        for (const char *c = q->name; *c && o + 4 < sizeof(like); c++) {
            if (*c == '%' || *c == '_' || *c == '\\') like[o++] = '\\';
            like[o++] = *c;
        }
        like[o++] = ',';
        like[o++] = '%';
        like[o] = '\0';
    }
    struct walk w = {(void *)cb, arg, 0, 0};
    struct hilt_val p[] = {HV_I(q->after),
                           HV_S(q->owner ? q->owner : ""),
                           HV_S(q->service ? q->service : ""),
                           HV_S(q->env ? q->env : ""),
                           HV_S(q->status ? q->status : ""),
                           HV_S(like),
                           HV_I(q->limit)};
    if (exec(s, ST_API_CERT_PAGE, p, 7, cert_cb, &w, NULL, e) < 0) return -1;
    return w.stopped;
}

int hilt_store_cert_expiring_page(struct hilt_store *s, int64_t from, int64_t until,
                                  int64_t after_not_after, int64_t after_id, int64_t limit,
                                  hilt_api_cert_cb cb, void *arg, struct hilt_err *e)
{
    struct walk w = {(void *)cb, arg, 0, 0};
    struct hilt_val p[] = {HV_I(from), HV_I(until), HV_I(after_not_after), HV_I(after_id),
                           HV_I(limit)};
    if (exec(s, ST_API_CERT_EXPIRING, p, 5, cert_cb, &w, NULL, e) < 0) return -1;
    return w.stopped;
}

int hilt_store_cert_row_by_serial(struct hilt_store *s, const char *serial, hilt_api_cert_cb cb,
                                  void *arg, struct hilt_err *e)
{
    struct walk w = {(void *)cb, arg, 0, 0};
    struct hilt_val p[] = {HV_S(serial)};
    if (exec(s, ST_API_CERT_BY_SERIAL, p, 1, cert_cb, &w, NULL, e) < 0) return -1;
    return w.rows > 0;
}

static int audit_cb(const struct hilt_val *c, int n, void *arg)
{
    struct walk *w = arg;
    if (n < 8) return 1;
    struct hilt_audit_rec r = {hilt_val_int(&c[0]), hilt_val_int(&c[1]), str_col(&c[2]),
                               str_col(&c[3]),      str_col(&c[4]),      str_col(&c[5]),
                               str_col(&c[6]),      str_col(&c[7])};
    w->rows++;
    return w->stopped = ((hilt_audit_cb)w->cb)(&r, w->arg);
}

int hilt_store_audit_page(struct hilt_store *s, int64_t after, int64_t limit, hilt_audit_cb cb,
                          void *arg, struct hilt_err *e)
{
    struct walk w = {(void *)cb, arg, 0, 0};
    struct hilt_val p[] = {HV_I(after), HV_I(limit)};
    if (exec(s, ST_API_AUDIT_PAGE, p, 2, audit_cb, &w, NULL, e) < 0) return -1;
    return w.stopped;
}
