/* acme_defer.c - group commit of the ACME server's small writes on a store
 * that only this node uses (SQLite).
 *
 * Every commit of a SQLite store is an fsync (synchronous=FULL, docs/store.md)
 * and the event loop waits for it. Two writes of an order need not have
 * their own: a validation's result (challenge, authorization, order ready or
 * invalid) and a finalized order's new status. They are queued here and
 * committed together: inside the next ACME transaction that happens anyway
 * (a newOrder), or by a timer ACME_DEFER_MS after the first one queued.
 * Before a request reads an order or an authorization with a queued change,
 * the queue is committed, so this node never answers from a stale row.
 *
 * What a crash can lose: the changes of the last few milliseconds. A lost
 * validation result leaves the challenge pending (the client asks again); a
 * lost order status leaves a finalized order "ready" although its
 * certificate was issued and recorded (the client that finalizes again gets
 * a second certificate). Issuance itself is never deferred.
 *
 * A store shared by nodes (PostgreSQL) writes at once: another node must see
 * every change as soon as the client is told about it. */
#include "api/acme_int.h"

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "store/store.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ACME_DEFER_MS 2
#define ACME_DEFER_MAX 256

enum defer_kind { D_RESULT, D_FINISH };

struct acme_deferred {
    enum defer_kind kind;
    struct hilt_acme_authz authz; /* D_RESULT */
    char type[16];
    int valid;
    char *error;
    int64_t when;
    char order_id[HILT_ACME_ID_MAX]; /* D_FINISH (and D_RESULT: authz.order_id) */
    char from[16], to[16], serial[64], request_id[64];
    struct hilt_acme_order *replacing; /* D_FINISH: an order with "replaces" */
};

struct acme_defer {
    struct acme_deferred q[ACME_DEFER_MAX];
    size_t n;
    struct event *timer;
};

static void entry_free(struct acme_deferred *d)
{
    free(d->error);
    d->error = NULL;
    if (d->replacing) {
        hilt_acme_order_free(d->replacing);
        free(d->replacing);
        d->replacing = NULL;
    }
}

static int apply(struct acme *a, struct acme_deferred *d, struct hilt_err *e)
{
    struct hilt_store *st = a->api->st;
    if (d->kind == D_RESULT)
        return hilt_store_acme_chall_finish(st, &d->authz, d->type, d->valid, d->error, d->when,
                                            e) < 0
                   ? -1
                   : 0;
    if (hilt_store_acme_order_finish(st, d->order_id, d->from, d->to, d->serial, d->request_id,
                                     NULL, e) < 0)
        return -1;
    if (d->replacing) acme_ari_mark_replaced(a, d->replacing, d->serial);
    return 0;
}

int acme_defer_flush(struct acme *a, struct hilt_err *e)
{
    struct acme_defer *q = a->defer;
    if (!q || !q->n) return 0;
    struct hilt_store *st = a->api->st;
    int own = !hilt_store_in_tx(st);
    if (own && hilt_store_begin(st, e) < 0) return -1;
    int rc = 0;
    for (size_t i = 0; i < q->n && rc == 0; i++)
        rc = apply(a, &q->q[i], e);
    if (own) {
        if (rc == 0)
            rc = hilt_store_commit(st, e);
        else
            hilt_store_rollback(st);
    }
    if (rc < 0) return -1; /* kept: the next flush retries them */
    for (size_t i = 0; i < q->n; i++)
        entry_free(&q->q[i]);
    q->n = 0;
    if (q->timer) event_del(q->timer);
    return 0;
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct acme *a = arg;
    struct hilt_err e = {0};
    if (acme_defer_flush(a, &e) < 0) {
        hilt_warn("acme: deferred writes not committed (retrying): %s", e.msg);
        struct timeval tv = {0, 100 * 1000};
        event_add(a->defer->timer, &tv);
    }
}

/* A slot, or -1 when the changes must be written now (no queue, or full and
 * the flush failed). */
static struct acme_deferred *slot(struct acme *a)
{
    struct acme_defer *q = a->defer;
    if (!q) return NULL;
    if (q->n == ACME_DEFER_MAX && acme_defer_flush(a, NULL) < 0) return NULL;
    struct acme_deferred *d = &q->q[q->n++];
    memset(d, 0, sizeof(*d));
    if (q->n == 1) {
        struct timeval tv = {0, ACME_DEFER_MS * 1000};
        if (!q->timer || event_add(q->timer, &tv) < 0) {
            q->n--;
            return NULL;
        }
    }
    return d;
}

int acme_defer_result(struct acme *a, const struct hilt_acme_authz *authz, const char *type,
                      int valid, const char *error, int64_t when, struct hilt_err *e)
{
    struct acme_deferred *d = slot(a);
    if (!d)
        return hilt_store_acme_chall_finish(a->api->st, authz, type, valid, error, when, e) < 0 ? -1
                                                                                                : 0;
    d->kind = D_RESULT;
    d->authz = *authz;
    snprintf(d->type, sizeof(d->type), "%s", type);
    d->valid = valid;
    d->error = error ? strdup(error) : NULL;
    d->when = when;
    snprintf(d->order_id, sizeof(d->order_id), "%s", authz->order_id);
    return 0;
}

int acme_defer_finish(struct acme *a, const struct hilt_acme_order *o, const char *from,
                      const char *to, const char *serial, const char *request_id,
                      struct hilt_err *e)
{
    struct acme_deferred *d = slot(a);
    if (!d) {
        int rc =
            hilt_store_acme_order_finish(a->api->st, o->id, from, to, serial, request_id, NULL, e);
        if (rc == 1 && serial && !strcmp(to, "valid")) acme_ari_mark_replaced(a, o, serial);
        return rc;
    }
    d->kind = D_FINISH;
    snprintf(d->order_id, sizeof(d->order_id), "%s", o->id);
    snprintf(d->from, sizeof(d->from), "%s", from);
    snprintf(d->to, sizeof(d->to), "%s", to);
    snprintf(d->serial, sizeof(d->serial), "%s", serial ? serial : "");
    snprintf(d->request_id, sizeof(d->request_id), "%s", request_id ? request_id : "");
    if (o->replaces_serial[0] && !strcmp(to, "valid")) {
        d->replacing = calloc(1, sizeof(*d->replacing));
        if (d->replacing) {
            *d->replacing = *o;
            d->replacing->identifiers = d->replacing->error = d->replacing->replaces = NULL;
        }
    }
    return 1; /* as a conditional update that changed the row: this node alone writes it */
}

int acme_defer_sync(struct acme *a, const char *order_id, const char *authz_id, struct hilt_err *e)
{
    struct acme_defer *q = a->defer;
    if (!q || !q->n) return 0;
    for (size_t i = 0; i < q->n; i++) {
        const struct acme_deferred *d = &q->q[i];
        if ((!order_id && !authz_id) || (order_id && !strcmp(d->order_id, order_id)) ||
            (authz_id && d->kind == D_RESULT && !strcmp(d->authz.id, authz_id)))
            return acme_defer_flush(a, e);
    }
    return 0;
}

int acme_defer_init(struct acme *a, struct hilt_err *e)
{
    if (a->shared) return 0;
    a->defer = calloc(1, sizeof(*a->defer));
    if (!a->defer) return hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
    /* without an event base (tests, fuzzing) every change is written at once */
    if (a->api->base) a->defer->timer = evtimer_new(a->api->base, timer_cb, a);
    if (!a->api->base || !a->defer->timer) {
        free(a->defer);
        a->defer = NULL;
    }
    return 0;
}

void acme_defer_free(struct acme *a)
{
    if (!a->defer) return;
    struct hilt_err e = {0};
    if (acme_defer_flush(a, &e) < 0) hilt_warn("acme: deferred writes lost at exit: %s", e.msg);
    for (size_t i = 0; i < a->defer->n; i++)
        entry_free(&a->defer->q[i]);
    if (a->defer->timer) event_free(a->defer->timer);
    free(a->defer);
    a->defer = NULL;
}
