/* store_acme.c - the ACME server's state (schema 4, store_acme.h): accounts,
 * orders, authorizations, challenges, the nonce replay set and MAC key, and
 * ARI overrides. Same rules as store.c: bound parameters only, one
 * transaction per operation unless the caller holds one, conditional
 * status changes. */
#include "store/store_acme.h"

#include "core/clock.h"
#include "core/err.h"
#include "store/store_int.h"

/* ---- schema 4 ----------------------------------------------------------------------------- */

/* One text for both engines but the integer type of ids (SQLite's rowid
 * alias vs. an identity column). */
#define M4_TABLES(INT, AUTOID)                                                                     \
    "CREATE TABLE acme_accounts (id TEXT PRIMARY KEY, thumbprint TEXT NOT NULL UNIQUE, jwk TEXT "  \
    "NOT NULL, status TEXT NOT NULL, contact TEXT NOT NULL, tos_agreed " INT " NOT NULL, "         \
    "created " INT " NOT NULL, updated " INT " NOT NULL)",                                         \
        "CREATE TABLE acme_orders (id TEXT PRIMARY KEY, account TEXT NOT NULL REFERENCES "         \
        "acme_accounts(id), status TEXT NOT NULL, identifiers TEXT NOT NULL, expires " INT         \
        " NOT NULL, not_before " INT " NOT NULL, not_after " INT " NOT NULL, lifetime " INT        \
        " NOT NULL, error TEXT, request_id TEXT, serial TEXT, replaces TEXT, replaces_serial "     \
        "TEXT, created " INT " NOT NULL, updated " INT " NOT NULL)",                               \
        "CREATE INDEX acme_orders_account ON acme_orders(account, created)",                       \
        "CREATE INDEX acme_orders_serial ON acme_orders(serial) WHERE serial IS NOT NULL",         \
        "CREATE INDEX acme_orders_replaces ON acme_orders(replaces_serial) WHERE replaces_serial " \
        "IS NOT NULL",                                                                             \
        "CREATE TABLE acme_authzs (id TEXT PRIMARY KEY, order_id TEXT NOT NULL REFERENCES "        \
        "acme_orders(id), pos " INT " NOT NULL, account TEXT NOT NULL, id_type TEXT NOT NULL, "    \
        "id_value TEXT NOT NULL, status TEXT NOT NULL, expires " INT " NOT NULL, UNIQUE "          \
        "(order_id, pos))",                                                                        \
        "CREATE TABLE acme_challenges (authz_id TEXT NOT NULL REFERENCES acme_authzs(id), type "   \
        "TEXT NOT NULL, token TEXT NOT NULL, status TEXT NOT NULL, started " INT " NOT NULL, "     \
        "validated " INT " NOT NULL, error TEXT, PRIMARY KEY (authz_id, type))",                   \
        "CREATE TABLE acme_nonces (nonce TEXT PRIMARY KEY, expires " INT " NOT NULL)",             \
        "CREATE INDEX acme_nonces_expires ON acme_nonces(expires)",                                \
        "CREATE TABLE acme_secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL, created " INT      \
        " NOT NULL)",                                                                              \
        "CREATE TABLE acme_ari_overrides (id " AUTOID ", kind TEXT NOT NULL, match TEXT NOT "      \
        "NULL, shift " INT " NOT NULL, until " INT " NOT NULL, reason TEXT NOT NULL, "             \
        "explanation_url TEXT NOT NULL, actor TEXT NOT NULL, created " INT " NOT NULL, "           \
        "cancelled " INT " NOT NULL, cert_id_max " INT " NOT NULL)"

const char *const hilt_store_m4_sqlite[] = {M4_TABLES("INTEGER", "INTEGER PRIMARY KEY"), NULL};
const char *const hilt_store_m4_pg[] = {
    M4_TABLES("BIGINT", "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"), NULL};

/* ---- helpers -------------------------------------------------------------------------------- */

static void cpy(char *dst, size_t cap, const struct hilt_val *v)
{
    snprintf(dst, cap, "%s", str_col(v));
}

/* NULL for a NULL column, a copy otherwise. */
static char *dup_or_null(const struct hilt_val *v)
{
    return v->t == HV_NULL ? NULL : dup_col(v);
}

static int exec_changes(struct hilt_store *s, enum hilt_stmt st, const struct hilt_val *p, int np,
                        struct hilt_err *e)
{
    int64_t ch = 0;
    if (exec(s, st, p, np, NULL, NULL, &ch, e) < 0) return -1;
    return ch > 0;
}

/* ---- accounts ----------------------------------------------------------------------------------
 */

void hilt_acme_account_free(struct hilt_acme_account *a)
{
    if (!a) return;
    free(a->jwk);
    free(a->contact);
    a->jwk = a->contact = NULL;
}

static void acct_fill(struct hilt_acme_account *a, const struct hilt_val *c)
{
    memset(a, 0, sizeof(*a));
    cpy(a->id, sizeof(a->id), &c[0]);
    cpy(a->thumbprint, sizeof(a->thumbprint), &c[1]);
    a->jwk = dup_col(&c[2]);
    cpy(a->status, sizeof(a->status), &c[3]);
    a->contact = dup_col(&c[4]);
    a->tos_agreed = (int)hilt_val_int(&c[5]);
    a->created = hilt_val_int(&c[6]);
    a->updated = hilt_val_int(&c[7]);
}

struct one {
    void *out;
    int found;
};

static int acct_one_cb(const struct hilt_val *c, int n, void *arg)
{
    struct one *o = arg;
    if (n < 8) return 1;
    acct_fill(o->out, c);
    o->found = 1;
    return 1;
}

int hilt_store_acme_account_add(struct hilt_store *s, const struct hilt_acme_account *a,
                                const struct hilt_audit_ev *ev, struct hilt_err *e)
{
    int own;
    if (tx_start(s, &own, e) < 0) return -1;
    struct hilt_val p[] = {HV_S(a->id),      HV_S(a->thumbprint), HV_S(a->jwk),
                           HV_S(a->status),  HV_S(a->contact),    HV_I(a->tos_agreed),
                           HV_I(a->created), HV_I(a->updated)};
    int rc = exec_changes(s, ST_ACME_ACCT_INSERT, p, 8, e);
    int added = rc == 1;
    if (added && ev) rc = hilt_store_audit_append_tx(s, ev, e) < 0 ? -1 : 1;
    rc = tx_end(s, own, rc < 0 ? -1 : 0, e);
    return rc < 0 ? -1 : added ? 0 : 1;
}

int hilt_store_acme_account_get(struct hilt_store *s, const char *id, struct hilt_acme_account *out,
                                struct hilt_err *e)
{
    struct one o = {out, 0};
    struct hilt_val p[] = {HV_S(id)};
    if (exec(s, ST_ACME_ACCT_GET, p, 1, acct_one_cb, &o, NULL, e) < 0) return -1;
    return o.found;
}

int hilt_store_acme_account_by_key(struct hilt_store *s, const char *thumbprint,
                                   struct hilt_acme_account *out, struct hilt_err *e)
{
    struct one o = {out, 0};
    struct hilt_val p[] = {HV_S(thumbprint)};
    if (exec(s, ST_ACME_ACCT_BY_TP, p, 1, acct_one_cb, &o, NULL, e) < 0) return -1;
    return o.found;
}

int hilt_store_acme_account_update(struct hilt_store *s, const char *id, const char *contact,
                                   const char *status, const struct hilt_audit_ev *ev,
                                   struct hilt_err *e)
{
    int own;
    if (tx_start(s, &own, e) < 0) return -1;
    struct hilt_val p[] = {HV_S(id), HV_S(contact), HV_S(status), HV_I(hilt_now())};
    int rc = exec_changes(s, ST_ACME_ACCT_UPDATE, p, 4, e);
    int changed = rc == 1;
    if (changed && ev && hilt_store_audit_append_tx(s, ev, e) < 0) rc = -1;
    rc = tx_end(s, own, rc < 0 ? -1 : 0, e);
    return rc < 0 ? -1 : changed;
}

int hilt_store_acme_account_rekey(struct hilt_store *s, const char *id, const char *old_tp,
                                  const char *new_tp, const char *new_jwk,
                                  const struct hilt_audit_ev *ev, struct hilt_err *e)
{
    int own;
    if (tx_start(s, &own, e) < 0) return -1;
    struct hilt_val p[] = {HV_S(id), HV_S(old_tp), HV_S(new_tp), HV_S(new_jwk), HV_I(hilt_now())};
    int rc = exec_changes(s, ST_ACME_ACCT_REKEY, p, 5, e);
    int changed = rc == 1, conflict = rc < 0 && e && e->code == HILT_STORE_CONFLICT;
    if (changed && ev && hilt_store_audit_append_tx(s, ev, e) < 0) rc = -1;
    rc = tx_end(s, own, rc < 0 ? -1 : 0, e);
    if (conflict) return 2;
    return rc < 0 ? -1 : changed;
}

struct acct_walk {
    hilt_acme_account_cb cb;
    void *arg;
    int stopped;
};

static int acct_walk_cb(const struct hilt_val *c, int n, void *arg)
{
    struct acct_walk *w = arg;
    if (n < 8) return 1;
    struct hilt_acme_account a;
    acct_fill(&a, c);
    w->stopped = w->cb(&a, w->arg);
    hilt_acme_account_free(&a);
    return w->stopped;
}

int hilt_store_acme_account_list(struct hilt_store *s, hilt_acme_account_cb cb, void *arg,
                                 struct hilt_err *e)
{
    struct acct_walk w = {cb, arg, 0};
    if (exec(s, ST_ACME_ACCT_LIST, NULL, 0, acct_walk_cb, &w, NULL, e) < 0) return -1;
    return w.stopped;
}

/* ---- orders ------------------------------------------------------------------------------------
 */

void hilt_acme_order_free(struct hilt_acme_order *o)
{
    if (!o) return;
    free(o->identifiers);
    free(o->error);
    free(o->replaces);
    o->identifiers = o->error = o->replaces = NULL;
}

static void order_fill(struct hilt_acme_order *o, const struct hilt_val *c)
{
    memset(o, 0, sizeof(*o));
    cpy(o->id, sizeof(o->id), &c[0]);
    cpy(o->account, sizeof(o->account), &c[1]);
    cpy(o->status, sizeof(o->status), &c[2]);
    o->identifiers = dup_col(&c[3]);
    o->expires = hilt_val_int(&c[4]);
    o->not_before = hilt_val_int(&c[5]);
    o->not_after = hilt_val_int(&c[6]);
    o->lifetime = hilt_val_int(&c[7]);
    o->error = dup_or_null(&c[8]);
    cpy(o->request_id, sizeof(o->request_id), &c[9]);
    cpy(o->serial, sizeof(o->serial), &c[10]);
    o->replaces = dup_or_null(&c[11]);
    cpy(o->replaces_serial, sizeof(o->replaces_serial), &c[12]);
    o->created = hilt_val_int(&c[13]);
    o->updated = hilt_val_int(&c[14]);
}

static int order_one_cb(const struct hilt_val *c, int n, void *arg)
{
    struct one *o = arg;
    if (n < 15) return 1;
    order_fill(o->out, c);
    o->found = 1;
    return 1;
}

static const char *nz(const char *s)
{
    return s && *s ? s : NULL;
}

int hilt_store_acme_order_create(struct hilt_store *s, const struct hilt_acme_order *o,
                                 const struct hilt_acme_authz *authzs, size_t nauthz,
                                 const struct hilt_acme_chall *challs, size_t nchall,
                                 struct hilt_err *e)
{
    int own;
    if (tx_start(s, &own, e) < 0) return -1;
    struct hilt_val p[] = {HV_S(o->id),
                           HV_S(o->account),
                           HV_S(o->status),
                           HV_S(o->identifiers),
                           HV_I(o->expires),
                           HV_I(o->not_before),
                           HV_I(o->not_after),
                           HV_I(o->lifetime),
                           HV_S(o->error),
                           HV_S(nz(o->request_id)),
                           HV_S(nz(o->serial)),
                           HV_S(o->replaces),
                           HV_S(nz(o->replaces_serial)),
                           HV_I(o->created),
                           HV_I(o->updated)};
    int rc = exec(s, ST_ACME_ORDER_INSERT, p, 15, NULL, NULL, NULL, e);
    for (size_t i = 0; rc == 0 && i < nauthz; i++) {
        const struct hilt_acme_authz *a = &authzs[i];
        struct hilt_val q[] = {HV_S(a->id),      HV_S(a->order_id), HV_I(a->pos),
                               HV_S(a->account), HV_S(a->id_type),  HV_S(a->id_value),
                               HV_S(a->status),  HV_I(a->expires)};
        rc = exec(s, ST_ACME_AUTHZ_INSERT, q, 8, NULL, NULL, NULL, e);
    }
    for (size_t i = 0; rc == 0 && i < nchall; i++) {
        const struct hilt_acme_chall *c = &challs[i];
        struct hilt_val q[] = {HV_S(c->authz_id), HV_S(c->type),    HV_S(c->token),
                               HV_S(c->status),   HV_I(c->started), HV_I(c->validated),
                               HV_S(c->error)};
        rc = exec(s, ST_ACME_CHALL_INSERT, q, 7, NULL, NULL, NULL, e);
    }
    return tx_end(s, own, rc, e);
}

int hilt_store_acme_order_get(struct hilt_store *s, const char *id, struct hilt_acme_order *out,
                              struct hilt_err *e)
{
    struct one o = {out, 0};
    struct hilt_val p[] = {HV_S(id)};
    if (exec(s, ST_ACME_ORDER_GET, p, 1, order_one_cb, &o, NULL, e) < 0) return -1;
    return o.found;
}

int hilt_store_acme_order_by_serial(struct hilt_store *s, const char *serial,
                                    struct hilt_acme_order *out, struct hilt_err *e)
{
    struct one o = {out, 0};
    struct hilt_val p[] = {HV_S(serial)};
    if (exec(s, ST_ACME_ORDER_BY_SERIAL, p, 1, order_one_cb, &o, NULL, e) < 0) return -1;
    return o.found;
}

struct order_walk {
    hilt_acme_order_cb cb;
    void *arg;
    int stopped;
};

static int order_walk_cb(const struct hilt_val *c, int n, void *arg)
{
    struct order_walk *w = arg;
    if (n < 15) return 1;
    struct hilt_acme_order o;
    order_fill(&o, c);
    w->stopped = w->cb(&o, w->arg);
    hilt_acme_order_free(&o);
    return w->stopped;
}

int hilt_store_acme_order_list(struct hilt_store *s, const char *account, int64_t limit,
                               hilt_acme_order_cb cb, void *arg, struct hilt_err *e)
{
    struct order_walk w = {cb, arg, 0};
    int rc;
    if (account) {
        struct hilt_val p[] = {HV_S(account), HV_I(limit)};
        rc = exec(s, ST_ACME_ORDER_LIST_ACCT, p, 2, order_walk_cb, &w, NULL, e);
    } else {
        struct hilt_val p[] = {HV_I(limit)};
        rc = exec(s, ST_ACME_ORDER_LIST, p, 1, order_walk_cb, &w, NULL, e);
    }
    return rc < 0 ? -1 : w.stopped;
}

int hilt_store_acme_order_set_status(struct hilt_store *s, const char *id, const char *from,
                                     const char *to, struct hilt_err *e)
{
    struct hilt_val p[] = {HV_S(id), HV_S(from), HV_S(to), HV_I(hilt_now())};
    return exec_changes(s, ST_ACME_ORDER_SET_STATUS, p, 4, e);
}

int hilt_store_acme_order_finish(struct hilt_store *s, const char *id, const char *from,
                                 const char *to, const char *serial, const char *request_id,
                                 const char *error, struct hilt_err *e)
{
    struct hilt_val p[] = {HV_S(id),         HV_S(from),           HV_S(to),
                           HV_S(nz(serial)), HV_S(nz(request_id)), HV_S(error),
                           HV_I(hilt_now())};
    return exec_changes(s, ST_ACME_ORDER_FINISH, p, 7, e);
}

int hilt_store_acme_order_invalidate(struct hilt_store *s, const char *id, const char *error,
                                     struct hilt_err *e)
{
    struct hilt_val p[] = {HV_S(id), HV_S(error), HV_I(hilt_now())};
    return exec_changes(s, ST_ACME_ORDER_INVALIDATE, p, 3, e);
}

static int id_cb(const struct hilt_val *c, int n, void *arg)
{
    if (n > 0) snprintf(arg, HILT_ACME_ID_MAX, "%s", str_col(&c[0]));
    return 1;
}

int hilt_store_acme_replaced_by(struct hilt_store *s, const char *serial,
                                char by_order[HILT_ACME_ID_MAX], struct hilt_err *e)
{
    by_order[0] = '\0';
    struct hilt_val p[] = {HV_S(serial)};
    if (exec(s, ST_ACME_ORDER_REPLACED, p, 1, id_cb, by_order, NULL, e) < 0) return -1;
    return by_order[0] != '\0';
}

/* ---- authorizations
 * ------------------------------------------------------------------------------ */

static void authz_fill(struct hilt_acme_authz *a, const struct hilt_val *c)
{
    memset(a, 0, sizeof(*a));
    cpy(a->id, sizeof(a->id), &c[0]);
    cpy(a->order_id, sizeof(a->order_id), &c[1]);
    a->pos = (int)hilt_val_int(&c[2]);
    cpy(a->account, sizeof(a->account), &c[3]);
    cpy(a->id_type, sizeof(a->id_type), &c[4]);
    cpy(a->id_value, sizeof(a->id_value), &c[5]);
    cpy(a->status, sizeof(a->status), &c[6]);
    a->expires = hilt_val_int(&c[7]);
}

static int authz_one_cb(const struct hilt_val *c, int n, void *arg)
{
    struct one *o = arg;
    if (n < 8) return 1;
    authz_fill(o->out, c);
    o->found = 1;
    return 1;
}

int hilt_store_acme_authz_get(struct hilt_store *s, const char *id, struct hilt_acme_authz *out,
                              struct hilt_err *e)
{
    struct one o = {out, 0};
    struct hilt_val p[] = {HV_S(id)};
    if (exec(s, ST_ACME_AUTHZ_GET, p, 1, authz_one_cb, &o, NULL, e) < 0) return -1;
    return o.found;
}

struct authz_walk {
    hilt_acme_authz_cb cb;
    void *arg;
    int stopped;
};

static int authz_walk_cb(const struct hilt_val *c, int n, void *arg)
{
    struct authz_walk *w = arg;
    if (n < 8) return 1;
    struct hilt_acme_authz a;
    authz_fill(&a, c);
    return w->stopped = w->cb(&a, w->arg);
}

int hilt_store_acme_authz_list(struct hilt_store *s, const char *order_id, hilt_acme_authz_cb cb,
                               void *arg, struct hilt_err *e)
{
    struct authz_walk w = {cb, arg, 0};
    struct hilt_val p[] = {HV_S(order_id)};
    if (exec(s, ST_ACME_AUTHZ_LIST, p, 1, authz_walk_cb, &w, NULL, e) < 0) return -1;
    return w.stopped;
}

int hilt_store_acme_authz_deactivate(struct hilt_store *s, const struct hilt_acme_authz *a,
                                     struct hilt_err *e)
{
    int own;
    if (tx_start(s, &own, e) < 0) return -1;
    struct hilt_val p[] = {HV_S(a->id), HV_S(a->status), HV_S("deactivated")};
    int rc = exec_changes(s, ST_ACME_AUTHZ_SET_STATUS, p, 3, e);
    int changed = rc == 1;
    if (changed) {
        static const char err[] = "{\"type\":\"urn:ietf:params:acme:error:unauthorized\","
                                  "\"detail\":\"an authorization of this order was deactivated\","
                                  "\"status\":403}";
        if (hilt_store_acme_order_invalidate(s, a->order_id, err, e) < 0) rc = -1;
    }
    rc = tx_end(s, own, rc < 0 ? -1 : 0, e);
    return rc < 0 ? -1 : changed;
}

/* ---- challenges
 * ------------------------------------------------------------------------------------ */

void hilt_acme_chall_free(struct hilt_acme_chall *c)
{
    if (!c) return;
    free(c->error);
    c->error = NULL;
}

struct chall_walk {
    hilt_acme_chall_cb cb;
    void *arg;
    int stopped;
};

static int chall_walk_cb(const struct hilt_val *c, int n, void *arg)
{
    struct chall_walk *w = arg;
    if (n < 7) return 1;
    struct hilt_acme_chall ch;
    memset(&ch, 0, sizeof(ch));
    cpy(ch.authz_id, sizeof(ch.authz_id), &c[0]);
    cpy(ch.type, sizeof(ch.type), &c[1]);
    cpy(ch.token, sizeof(ch.token), &c[2]);
    cpy(ch.status, sizeof(ch.status), &c[3]);
    ch.started = hilt_val_int(&c[4]);
    ch.validated = hilt_val_int(&c[5]);
    ch.error = dup_or_null(&c[6]);
    w->stopped = w->cb(&ch, w->arg);
    hilt_acme_chall_free(&ch);
    return w->stopped;
}

int hilt_store_acme_chall_list(struct hilt_store *s, const char *authz_id, hilt_acme_chall_cb cb,
                               void *arg, struct hilt_err *e)
{
    struct chall_walk w = {cb, arg, 0};
    struct hilt_val p[] = {HV_S(authz_id)};
    if (exec(s, ST_ACME_CHALL_LIST, p, 1, chall_walk_cb, &w, NULL, e) < 0) return -1;
    return w.stopped;
}

int hilt_store_acme_chall_start(struct hilt_store *s, const char *authz_id, const char *type,
                                int64_t when, struct hilt_err *e)
{
    struct hilt_val p[] = {HV_S(authz_id), HV_S(type), HV_I(when)};
    return exec_changes(s, ST_ACME_CHALL_START, p, 3, e);
}

int hilt_store_acme_chall_restart(struct hilt_store *s, const char *authz_id, const char *type,
                                  int64_t was, int64_t when, struct hilt_err *e)
{
    struct hilt_val p[] = {HV_S(authz_id), HV_S(type), HV_I(was), HV_I(when)};
    return exec_changes(s, ST_ACME_CHALL_RESTART, p, 4, e);
}

int hilt_store_acme_chall_finish(struct hilt_store *s, const struct hilt_acme_authz *a,
                                 const char *type, int valid, const char *error, int64_t when,
                                 struct hilt_err *e)
{
    int own;
    if (tx_start(s, &own, e) < 0) return -1;
    const char *st = valid ? "valid" : "invalid";
    struct hilt_val p[] = {HV_S(a->id), HV_S(type), HV_S(st), HV_I(when),
                           HV_S(valid ? NULL : error)};
    int rc = exec_changes(s, ST_ACME_CHALL_FINISH, p, 5, e);
    int changed = rc == 1;
    if (changed) {
        struct hilt_val q[] = {HV_S(a->id), HV_S("pending"), HV_S(st)};
        rc = exec(s, ST_ACME_AUTHZ_SET_STATUS, q, 3, NULL, NULL, NULL, e);
        if (rc == 0 && valid) {
            struct hilt_val r[] = {HV_S(a->order_id), HV_I(when)};
            rc = exec(s, ST_ACME_ORDER_READY_IF_ALL, r, 2, NULL, NULL, NULL, e);
        } else if (rc == 0) {
            rc = hilt_store_acme_order_invalidate(s, a->order_id, error, e) < 0 ? -1 : 0;
        }
    }
    rc = tx_end(s, own, rc < 0 ? -1 : 0, e);
    return rc < 0 ? -1 : changed;
}

/* ---- nonces and secrets
 * ------------------------------------------------------------------------------ */

int hilt_store_acme_nonce_use(struct hilt_store *s, const char *nonce, int64_t expires,
                              struct hilt_err *e)
{
    struct hilt_val p[] = {HV_S(nonce), HV_I(expires)};
    int rc = exec_changes(s, ST_ACME_NONCE_USE, p, 2, e);
    return rc < 0 ? -1 : rc == 1 ? 0 : 1;
}

int hilt_store_acme_nonce_purge(struct hilt_store *s, int64_t now, struct hilt_err *e)
{
    struct hilt_val p[] = {HV_I(now)};
    return exec(s, ST_ACME_NONCE_PURGE, p, 1, NULL, NULL, NULL, e);
}

struct secret_out {
    char *out;
    size_t cap;
    int found;
};

static int secret_cb(const struct hilt_val *c, int n, void *arg)
{
    struct secret_out *o = arg;
    if (n < 1) return 1;
    snprintf(o->out, o->cap, "%s", str_col(&c[0]));
    o->found = 1;
    return 1;
}

int hilt_store_acme_secret(struct hilt_store *s, const char *name, const char *fresh, char *out,
                           size_t cap, struct hilt_err *e)
{
    /* Insert-if-absent, then read: two nodes starting together agree on
     * whichever value was inserted first. */
    struct hilt_val p[] = {HV_S(name), HV_S(fresh), HV_I(hilt_now())};
    if (exec(s, ST_ACME_SECRET_INSERT, p, 3, NULL, NULL, NULL, e) < 0) return -1;
    struct secret_out o = {out, cap, 0};
    struct hilt_val q[] = {HV_S(name)};
    if (exec(s, ST_ACME_SECRET_GET, q, 1, secret_cb, &o, NULL, e) < 0) return -1;
    if (!o.found)
        return hilt_err_set(e, HILT_E_RUNTIME, 0, "%s: secret %s vanished", s->desc, name);
    return 0;
}

/* ---- ARI overrides
 * --------------------------------------------------------------------------------------- */

void hilt_acme_ari_override_free(struct hilt_acme_ari_override *o)
{
    if (!o) return;
    free(o->match);
    free(o->reason);
    free(o->explanation_url);
    free(o->actor);
    o->match = o->reason = o->explanation_url = o->actor = NULL;
}

int hilt_store_acme_ari_add(struct hilt_store *s, struct hilt_acme_ari_override *o,
                            const struct hilt_audit_ev *ev, struct hilt_err *e)
{
    int own;
    if (tx_start(s, &own, e) < 0) return -1;
    struct hilt_val p[] = {HV_S(o->kind),
                           HV_S(o->match ? o->match : ""),
                           HV_I(o->shift),
                           HV_I(o->until),
                           HV_S(o->reason ? o->reason : ""),
                           HV_S(o->explanation_url ? o->explanation_url : ""),
                           HV_S(o->actor ? o->actor : ""),
                           HV_I(o->created)};
    int64_t id = 0;
    int rc = exec(s, ST_ACME_ARI_INSERT, p, 8, one_int_cb, &id, NULL, e);
    if (rc == 0 && ev) rc = hilt_store_audit_append_tx(s, ev, e);
    rc = tx_end(s, own, rc, e);
    if (rc == 0) o->id = id;
    return rc;
}

struct ari_walk {
    hilt_acme_ari_cb cb;
    void *arg;
    int stopped;
};

static int ari_walk_cb(const struct hilt_val *c, int n, void *arg)
{
    struct ari_walk *w = arg;
    if (n < 11) return 1;
    struct hilt_acme_ari_override o;
    memset(&o, 0, sizeof(o));
    o.id = hilt_val_int(&c[0]);
    cpy(o.kind, sizeof(o.kind), &c[1]);
    o.match = dup_col(&c[2]);
    o.shift = hilt_val_int(&c[3]);
    o.until = hilt_val_int(&c[4]);
    o.reason = dup_col(&c[5]);
    o.explanation_url = dup_col(&c[6]);
    o.actor = dup_col(&c[7]);
    o.created = hilt_val_int(&c[8]);
    o.cancelled = hilt_val_int(&c[9]);
    o.cert_id_max = hilt_val_int(&c[10]);
    w->stopped = w->cb(&o, w->arg);
    hilt_acme_ari_override_free(&o);
    return w->stopped;
}

int hilt_store_acme_ari_list(struct hilt_store *s, int active_only, hilt_acme_ari_cb cb, void *arg,
                             struct hilt_err *e)
{
    struct ari_walk w = {cb, arg, 0};
    if (exec(s, active_only ? ST_ACME_ARI_ACTIVE : ST_ACME_ARI_ALL, NULL, 0, ari_walk_cb, &w, NULL,
             e) < 0)
        return -1;
    return w.stopped;
}

int hilt_store_acme_cert_id(struct hilt_store *s, const char *serial, int64_t *id,
                            struct hilt_err *e)
{
    *id = 0;
    struct hilt_val p[] = {HV_S(serial)};
    if (exec(s, ST_ACME_CERT_ID, p, 1, one_int_cb, id, NULL, e) < 0) return -1;
    return *id > 0;
}

int hilt_store_acme_ari_cancel(struct hilt_store *s, int64_t id, int64_t when,
                               const struct hilt_audit_ev *ev, struct hilt_err *e)
{
    int own;
    if (tx_start(s, &own, e) < 0) return -1;
    struct hilt_val p[] = {HV_I(id), HV_I(when)};
    int rc = exec_changes(s, ST_ACME_ARI_CANCEL, p, 2, e);
    int changed = rc == 1;
    if (changed && ev && hilt_store_audit_append_tx(s, ev, e) < 0) rc = -1;
    rc = tx_end(s, own, rc < 0 ? -1 : 0, e);
    return rc < 0 ? -1 : changed;
}
