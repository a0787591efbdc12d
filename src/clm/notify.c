/* notify.c - expiry notifications: which certificates crossed which
 * threshold, delivery by command or webhook, and the store's memory of what
 * was sent (so each certificate and threshold is notified once). */
#include "clm/notify.h"

#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/http.h"
#include "core/json.h"
#include "core/proc.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct cand {
    char sha256[65], serial[80], subject[256], names[512], owner[128], service[128], env[128];
    char ca[128];
    int64_t not_after;
};

struct cands {
    struct cand *v;
    size_t n, cap;
    int oom;
};

static int collect(const struct hilt_cert_rec *r, const uint8_t *der, size_t dl, void *arg)
{
    (void)der;
    (void)dl;
    struct cands *c = arg;
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 64;
        struct cand *nv = realloc(c->v, nc * sizeof(*nv));
        if (!nv) return c->oom = 1;
        c->v = nv;
        c->cap = nc;
    }
    struct cand *x = &c->v[c->n++];
    snprintf(x->sha256, sizeof(x->sha256), "%s", r->sha256);
    snprintf(x->serial, sizeof(x->serial), "%s", r->serial);
    snprintf(x->subject, sizeof(x->subject), "%s", r->subject ? r->subject : "");
    snprintf(x->names, sizeof(x->names), "%s", r->names ? r->names : "");
    snprintf(x->owner, sizeof(x->owner), "%s", r->owner ? r->owner : "");
    snprintf(x->service, sizeof(x->service), "%s", r->service ? r->service : "");
    snprintf(x->env, sizeof(x->env), "%s", r->env ? r->env : "");
    snprintf(x->ca, sizeof(x->ca), "%s", r->ca ? r->ca : "");
    x->not_after = r->not_after;
    return 0;
}

static json_t *opt_str(const char *s)
{
    return s && *s ? json_string(s) : json_null();
}

static char *payload(const struct cand *c, int64_t threshold, int64_t now)
{
    char tfmt[32];
    hilt_duration_fmt(threshold, tfmt);
    json_t *o = json_object(), *cert = json_object(), *names = json_array();
    json_object_set_new(o, "event", json_string("certificate.expiring"));
    json_object_set_new(o, "threshold", json_string(tfmt));
    json_object_set_new(o, "threshold_seconds", json_integer(threshold));
    json_object_set_new(o, "seconds_left", json_integer(c->not_after - now));
    json_object_set_new(cert, "serial", json_string(c->serial));
    json_object_set_new(cert, "sha256", json_string(c->sha256));
    json_object_set_new(cert, "subject", json_string(c->subject));
    const char *p = c->names;
    while (*p) {
        size_t l = strcspn(p, ",");
        json_array_append_new(names, json_stringn(p, l));
        p += l;
        if (*p) p++;
    }
    json_object_set_new(cert, "names", names);
    json_object_set_new(cert, "not_after", hilt_json_time(c->not_after));
    json_object_set_new(cert, "ca", opt_str(c->ca));
    json_object_set_new(cert, "owner", opt_str(c->owner));
    json_object_set_new(cert, "service", opt_str(c->service));
    json_object_set_new(cert, "env", opt_str(c->env));
    json_object_set_new(o, "certificate", cert);
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return s;
}

/* The command gets the JSON on stdin and the essentials in its environment. */
static int run_command(const char *cmd, const char *json, const struct cand *c,
                       const char *threshold, int timeout_ms, char *err, size_t cap)
{
    char serial[200], sha[100], na[64], th[100], subj[1200];
    snprintf(serial, sizeof(serial), "HILT_SERIAL=%s", c->serial);
    snprintf(sha, sizeof(sha), "HILT_SHA256=%s", c->sha256);
    snprintf(na, sizeof(na), "HILT_NOT_AFTER=%lld", (long long)c->not_after);
    snprintf(th, sizeof(th), "HILT_THRESHOLD=%s", threshold);
    snprintf(subj, sizeof(subj), "HILT_SUBJECT=%s", c->subject);
    const char *env[] = {serial, sha, na, th, subj, NULL};
    struct hilt_shell_run r = {
        .what = "notify command", .cmd = cmd, .input = json, .env = env, .timeout_ms = timeout_ms};
    return hilt_shell_run(&r, err, cap);
}

static int post(const char *url, const char *json, int timeout_ms, char *err, size_t cap)
{
    struct hilt_http_resp r;
    struct hilt_err e = {0};
    hilt_http_resp_init(&r, 64 * 1024);
    int rc =
        hilt_http_fetch("POST", url, "application/json", json, strlen(json), timeout_ms, &r, &e);
    if (rc == 0 && (r.status < 200 || r.status > 299)) {
        snprintf(err, cap, "webhook %s answered %d", url, r.status);
        rc = -1;
    } else if (rc < 0) {
        snprintf(err, cap, "webhook %s: %s", url, e.msg);
    }
    hilt_http_resp_free(&r);
    return rc;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int hilt_notify_expiring(struct hilt_store *st, const struct hilt_notify_opts *o, int64_t now,
                         struct hilt_notify_stats *s, struct hilt_err *e)
{
    memset(s, 0, sizeof(*s));
    if (!o->command == !o->url)
        return hilt_err_set(e, HILT_E_USAGE, 0, "give a notify command or a notify URL");
    int64_t th[HILT_NOTIFY_THRESHOLDS_MAX];
    size_t nth = o->nthresholds;
    if (nth == 0) {
        th[0] = o->within;
        nth = 1;
    } else {
        memcpy(th, o->thresholds, nth * sizeof(th[0]));
    }
    qsort(th, nth, sizeof(th[0]), cmp_i64);
    int timeout = o->timeout_ms > 0 ? o->timeout_ms : 10000;
    struct cands c = {0};
    struct hilt_cert_filter f = {.q = HILT_Q_EXPIRING, .from = now, .until = now + o->within};
    if (hilt_store_cert_list(st, &f, collect, &c, e) < 0) {
        free(c.v);
        return -1;
    }
    if (c.oom) {
        free(c.v);
        return hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
    }
    int rc = 0;
    for (size_t i = 0; i < c.n && rc == 0; i++) {
        const struct cand *x = &c.v[i];
        int64_t left = x->not_after - now;
        /* the smallest threshold crossed is the one to notify */
        size_t k = 0;
        while (k < nth && th[k] < left)
            k++;
        if (k == nth) continue;
        s->due++;
        int sent = hilt_store_notify_sent(st, x->sha256, th[k], e);
        if (sent < 0) {
            rc = -1;
            break;
        }
        if (sent) {
            s->already++;
            continue;
        }
        char tfmt[32], err[400] = "";
        hilt_duration_fmt(th[k], tfmt);
        char *js = payload(x, th[k], now);
        int ok = js && (o->command ? run_command(o->command, js, x, tfmt, timeout, err, sizeof(err))
                                   : post(o->url, js, timeout, err, sizeof(err))) == 0;
        free(js);
        if (!ok) {
            s->failed++;
            if (!s->first_error[0])
                snprintf(s->first_error, sizeof(s->first_error), "%s: %s", x->serial,
                         err[0] ? err : "out of memory");
            continue;
        }
        /* this threshold and every larger one: a certificate found at 5 days
         * left must not get a "30 days" notice later */
        for (size_t j = k; j < nth && rc == 0; j++)
            if (hilt_store_notify_mark(st, x->sha256, th[j], o->command ? "command" : "webhook",
                                       now, e) < 0)
                rc = -1;
        char obj[200], res[100];
        snprintf(obj, sizeof(obj), "serial=%s threshold=%s", x->serial, tfmt);
        snprintf(res, sizeof(res), "ok %s", o->command ? "command" : "webhook");
        struct hilt_audit_ev ev = {NULL, "cert.notify", obj, res};
        if (rc == 0) rc = hilt_store_audit_append(st, &ev, e);
        if (rc == 0) s->sent++;
    }
    free(c.v);
    return rc;
}
