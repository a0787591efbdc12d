/* store_gateway.c - hilt gateway's state (schema 5, store_gateway.h): the
 * shared session-ticket keys. Same rules as store.c: bound parameters only,
 * one transaction per operation unless the caller holds one. */
#include "store/store_gateway.h"

#include "core/err.h"
#include "store/store_int.h"

/* ---- schema 5 ---------------------------------------------------------------------------- */

#define M5_TABLES(INT, BLOB)                                                                       \
    "CREATE TABLE gateway_ticket_keys (ring TEXT NOT NULL, period " INT " NOT NULL, rotate " INT   \
    " NOT NULL, name TEXT NOT NULL, created " INT " NOT NULL, not_after " INT " NOT NULL, "        \
    "wrap_id TEXT NOT NULL, sealed " BLOB " NOT NULL, PRIMARY KEY (ring, period))",                \
        "CREATE INDEX gateway_ticket_keys_expiry ON gateway_ticket_keys(not_after)"

const char *const hilt_store_m5_sqlite[] = {M5_TABLES("INTEGER", "BLOB"), NULL};
const char *const hilt_store_m5_pg[] = {M5_TABLES("BIGINT", "BYTEA"), NULL};

/* ---- ticket keys ---------------------------------------------------------------------------- */

int hilt_store_gw_tkey_add(struct hilt_store *s, const char *ring, const struct hilt_gw_tkey_rec *r,
                           const struct hilt_audit_ev *ev, struct hilt_err *e)
{
    int own;
    if (tx_start(s, &own, e) < 0) return -1;
    struct hilt_val p[] = {
        HV_S(ring),       HV_I(r->period),    HV_I(r->rotate),  HV_S(r->name),
        HV_I(r->created), HV_I(r->not_after), HV_S(r->wrap_id), HV_B(r->sealed, r->sealed_len)};
    int64_t ch = 0;
    int rc = exec(s, ST_GW_TKEY_INSERT, p, 8, NULL, NULL, &ch, e);
    if (rc == 0 && ch > 0 && ev) rc = hilt_store_audit_append_tx(s, ev, e);
    rc = tx_end(s, own, rc, e);
    return rc < 0 ? -1 : ch > 0;
}

struct list_ctx {
    hilt_gw_tkey_cb cb;
    void *arg;
    int stop;
};

static int list_row(const struct hilt_val *c, int n, void *arg)
{
    struct list_ctx *x = arg;
    if (n < 7) return 1;
    struct hilt_gw_tkey_rec r;
    memset(&r, 0, sizeof(r));
    r.period = hilt_val_int(&c[0]);
    r.rotate = hilt_val_int(&c[1]);
    snprintf(r.name, sizeof(r.name), "%s", str_col(&c[2]));
    r.created = hilt_val_int(&c[3]);
    r.not_after = hilt_val_int(&c[4]);
    snprintf(r.wrap_id, sizeof(r.wrap_id), "%s", str_col(&c[5]));
    /* a row too long to be ours is handed on empty: the unsealing refuses it */
    if (c[6].t == HV_BLOB && c[6].n <= sizeof(r.sealed)) {
        memcpy(r.sealed, c[6].b, c[6].n);
        r.sealed_len = c[6].n;
    }
    x->stop = x->cb(&r, x->arg);
    return x->stop;
}

int hilt_store_gw_tkey_list(struct hilt_store *s, const char *ring, int64_t now, int max,
                            hilt_gw_tkey_cb cb, void *arg, struct hilt_err *e)
{
    struct list_ctx x = {cb, arg, 0};
    struct hilt_val p[] = {HV_S(ring), HV_I(now), HV_I(max)};
    return exec(s, ST_GW_TKEY_LIST, p, 3, list_row, &x, NULL, e);
}

int hilt_store_gw_tkey_prune(struct hilt_store *s, int64_t before, int64_t *deleted,
                             struct hilt_err *e)
{
    struct hilt_val p[] = {HV_I(before)};
    int64_t ch = 0;
    int rc = exec(s, ST_GW_TKEY_PRUNE, p, 1, NULL, NULL, &ch, e);
    if (deleted) *deleted = ch;
    return rc;
}
