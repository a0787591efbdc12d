/* metrics.c - sharded counters, gauges and histograms; Prometheus text output. */
#include "telemetry/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct family {
    const char *name, *type, *help;
    const char *labels[TM_MAX_LABELS];
};

static const struct family families[TM_FAMILY_COUNT] = {
    [TM_HANDSHAKES] = {"hilt_handshakes_total",
                       "counter",
                       "TLS handshakes by listener, result, catalogue reason and version",
                       {"listener", "result", "reason", "version"}},
    [TM_HS_DURATION] = {"hilt_handshake_duration_seconds",
                        "histogram",
                        "Time from the first byte to the end of the handshake",
                        {"listener", "result", NULL, NULL}},
    [TM_VARIANT_HS] = {"hilt_listener_variant_handshakes_total",
                       "counter",
                       "Handshakes per configuration variant of a listener",
                       {"listener", "variant", "result", NULL}},
    [TM_RESUMED] = {"hilt_resumed_handshakes_total",
                    "counter",
                    "Handshakes that resumed a session",
                    {"listener", NULL, NULL, NULL}},
    [TM_ACTIVE] = {"hilt_active_connections",
                   "gauge",
                   "Client connections open now",
                   {"listener", NULL, NULL, NULL}},
    [TM_CONNECTIONS] = {"hilt_connections_total",
                        "counter",
                        "Client connections accepted",
                        {"listener", NULL, NULL, NULL}},
    [TM_BYTES] = {"hilt_bytes_total",
                  "counter",
                  "Application bytes proxied (in: client to backend, out: backend to client)",
                  {"listener", "direction", NULL, NULL}},
    [TM_BE_CONNECT_FAIL] = {"hilt_backend_connect_failures_total",
                            "counter",
                            "Failed TCP connects to a backend server",
                            {"backend", "server", NULL, NULL}},
    [TM_BE_HS_FAIL] = {"hilt_backend_handshake_failures_total",
                       "counter",
                       "Failed TLS handshakes with a backend server",
                       {"backend", "server", NULL, NULL}},
    [TM_RELOADS] = {"hilt_config_reloads_total",
                    "counter",
                    "Configuration reloads by result",
                    {"result", NULL, NULL, NULL}},
    [TM_PASSTHROUGH] =
        {"hilt_passthrough_connections_total",
         "counter",
         "Connections spliced to a backend without terminating TLS (SNI passthrough)",
         {"listener", "backend", NULL, NULL}},
};

static const double bounds[TM_NBUCKETS] = {0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                           0.1,     0.25,   0.5,   1,      2.5,   5,    10};

struct entry {
    int used;
    enum tm_family f;
    const char *l[TM_MAX_LABELS];
    int64_t v;               /* counter / gauge; histogram count */
    uint64_t b[TM_NBUCKETS]; /* histogram: per-bucket (not cumulative) */
    double sum;
};

struct tm_shard {
    pthread_mutex_t mu;
    struct entry *e;
    size_t cap, n;
};

struct tm_registry {
    struct tm_shard *shards;
    int nshards;
    pthread_mutex_t imu;
    char **interned;
    size_t ninterned, capinterned;
};

struct tm_registry *tm_registry_new(int nshards)
{
    struct tm_registry *r = calloc(1, sizeof(*r));
    if (!r) return NULL;
    r->shards = calloc((size_t)nshards, sizeof(*r->shards));
    if (!r->shards) {
        free(r);
        return NULL;
    }
    r->nshards = nshards;
    for (int i = 0; i < nshards; i++)
        pthread_mutex_init(&r->shards[i].mu, NULL);
    pthread_mutex_init(&r->imu, NULL);
    return r;
}

void tm_registry_free(struct tm_registry **rp)
{
    if (!rp || !*rp) return;
    struct tm_registry *r = *rp;
    for (int i = 0; i < r->nshards; i++) {
        pthread_mutex_destroy(&r->shards[i].mu);
        free(r->shards[i].e);
    }
    free(r->shards);
    for (size_t i = 0; i < r->ninterned; i++)
        free(r->interned[i]);
    free(r->interned);
    pthread_mutex_destroy(&r->imu);
    free(r);
    *rp = NULL;
}

struct tm_shard *tm_shard(struct tm_registry *r, int i)
{
    return (i >= 0 && i < r->nshards) ? &r->shards[i] : NULL;
}

const char *tm_intern(struct tm_registry *r, const char *s)
{
    const char *out = NULL;
    pthread_mutex_lock(&r->imu);
    for (size_t i = 0; i < r->ninterned; i++)
        if (!strcmp(r->interned[i], s)) {
            out = r->interned[i];
            goto done;
        }
    if (r->ninterned == r->capinterned) {
        size_t cap = r->capinterned ? r->capinterned * 2 : 32;
        char **v = realloc(r->interned, cap * sizeof(*v));
        if (!v) goto done;
        r->interned = v;
        r->capinterned = cap;
    }
    char *d = strdup(s);
    if (!d) goto done;
    r->interned[r->ninterned++] = d;
    out = d;
done:
    pthread_mutex_unlock(&r->imu);
    return out;
}

static size_t key_hash(enum tm_family f, const char *const *l)
{
    uintptr_t h = (uintptr_t)f * 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < TM_MAX_LABELS; i++)
        h = (h ^ (uintptr_t)l[i]) * 0x100000001b3ull;
    return (size_t)(h ^ (h >> 29));
}

static int key_eq(const struct entry *e, enum tm_family f, const char *const *l)
{
    return e->f == f && e->l[0] == l[0] && e->l[1] == l[1] && e->l[2] == l[2] && e->l[3] == l[3];
}

/* Find or insert; the shard lock is held. NULL only on OOM. */
static struct entry *lookup(struct tm_shard *s, enum tm_family f, const char *const *l)
{
    if ((s->n + 1) * 2 > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        struct entry *ne = calloc(cap, sizeof(*ne));
        if (!ne) return NULL;
        for (size_t i = 0; i < s->cap; i++) {
            if (!s->e[i].used) continue;
            size_t j = key_hash(s->e[i].f, s->e[i].l) & (cap - 1);
            while (ne[j].used)
                j = (j + 1) & (cap - 1);
            ne[j] = s->e[i];
        }
        free(s->e);
        s->e = ne;
        s->cap = cap;
    }
    size_t j = key_hash(f, l) & (s->cap - 1);
    while (s->e[j].used) {
        if (key_eq(&s->e[j], f, l)) return &s->e[j];
        j = (j + 1) & (s->cap - 1);
    }
    struct entry *e = &s->e[j];
    memset(e, 0, sizeof(*e));
    e->used = 1;
    e->f = f;
    memcpy(e->l, l, sizeof(e->l));
    s->n++;
    return e;
}

void tm_add(struct tm_shard *s, enum tm_family f, const char *l0, const char *l1, const char *l2,
            const char *l3, int64_t delta)
{
    if (!s) return;
    const char *l[TM_MAX_LABELS] = {l0, l1, l2, l3};
    pthread_mutex_lock(&s->mu);
    struct entry *e = lookup(s, f, l);
    if (e) e->v += delta;
    pthread_mutex_unlock(&s->mu);
}

void tm_observe(struct tm_shard *s, enum tm_family f, const char *l0, const char *l1,
                double seconds)
{
    if (!s) return;
    const char *l[TM_MAX_LABELS] = {l0, l1, NULL, NULL};
    pthread_mutex_lock(&s->mu);
    struct entry *e = lookup(s, f, l);
    if (e) {
        e->v++;
        e->sum += seconds;
        for (int i = 0; i < TM_NBUCKETS; i++)
            if (seconds <= bounds[i]) {
                e->b[i]++;
                break;
            }
    }
    pthread_mutex_unlock(&s->mu);
}

/* Label values in the exposition format: backslash, quote and newline escaped. */
static int add_label_value(struct hilt_buf *out, const char *v)
{
    for (const char *p = v ? v : ""; *p; p++) {
        int rc;
        if (*p == '\\')
            rc = hilt_buf_add(out, "\\\\", 2);
        else if (*p == '"')
            rc = hilt_buf_add(out, "\\\"", 2);
        else if (*p == '\n')
            rc = hilt_buf_add(out, "\\n", 2);
        else
            rc = hilt_buf_add_u8(out, (uint8_t)*p);
        if (rc) return -1;
    }
    return 0;
}

static int add_labels(struct hilt_buf *out, const struct family *fam, const struct entry *e,
                      const char *extra_name, const char *extra_val)
{
    int any = 0, rc = 0;
    for (int i = 0; i < TM_MAX_LABELS && fam->labels[i]; i++) {
        rc |= hilt_buf_addf(out, "%s%s=\"", any ? "," : "{", fam->labels[i]);
        rc |= add_label_value(out, e->l[i] ? e->l[i] : "");
        rc |= hilt_buf_add(out, "\"", 1);
        any = 1;
    }
    if (extra_name) {
        rc |= hilt_buf_addf(out, "%s%s=\"%s\"", any ? "," : "{", extra_name, extra_val);
        any = 1;
    }
    if (any) rc |= hilt_buf_add(out, "}", 1);
    return rc;
}

int tm_write_header(struct hilt_buf *out, const char *name, const char *type, const char *help)
{
    return hilt_buf_addf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void fmt_double(double v, char *out, size_t cap)
{
    if (isinf(v))
        snprintf(out, cap, v > 0 ? "+Inf" : "-Inf");
    else if (v == (double)(long long)v && fabs(v) < 1e15)
        snprintf(out, cap, "%lld", (long long)v);
    else
        snprintf(out, cap, "%.9g", v);
}

int tm_write_sample(struct hilt_buf *out, const char *name, double value, ...)
{
    int rc = hilt_buf_add_str(out, name), any = 0;
    va_list ap;
    va_start(ap, value);
    const char *k;
    while ((k = va_arg(ap, const char *))) {
        const char *v = va_arg(ap, const char *);
        rc |= hilt_buf_addf(out, "%s%s=\"", any ? "," : "{", k);
        rc |= add_label_value(out, v);
        rc |= hilt_buf_add(out, "\"", 1);
        any = 1;
    }
    va_end(ap);
    char num[64];
    fmt_double(value, num, sizeof(num));
    rc |= hilt_buf_addf(out, "%s %s\n", any ? "}" : "", num);
    return rc;
}

/* Merge every shard's entries of family f into a flat array. */
static struct entry *collect(struct tm_registry *r, enum tm_family f, size_t *n)
{
    struct tm_shard m = {0};
    for (int i = 0; i < r->nshards; i++) {
        struct tm_shard *s = &r->shards[i];
        pthread_mutex_lock(&s->mu);
        for (size_t j = 0; j < s->cap; j++) {
            const struct entry *e = &s->e[j];
            if (!e->used || e->f != f) continue;
            struct entry *d = lookup(&m, f, e->l);
            if (!d) continue;
            d->v += e->v;
            d->sum += e->sum;
            for (int b = 0; b < TM_NBUCKETS; b++)
                d->b[b] += e->b[b];
        }
        pthread_mutex_unlock(&s->mu);
    }
    size_t k = 0;
    for (size_t j = 0; j < m.cap; j++)
        if (m.e[j].used) m.e[k++] = m.e[j];
    *n = k;
    return m.e;
}

int tm_expose(struct tm_registry *r, struct hilt_buf *out)
{
    int rc = 0;
    for (int f = 0; f < TM_FAMILY_COUNT; f++) {
        const struct family *fam = &families[f];
        size_t n;
        struct entry *es = collect(r, (enum tm_family)f, &n);
        rc |= tm_write_header(out, fam->name, fam->type, fam->help);
        for (size_t i = 0; i < n; i++) {
            const struct entry *e = &es[i];
            if (f != TM_HS_DURATION) {
                rc |= hilt_buf_add_str(out, fam->name);
                rc |= add_labels(out, fam, e, NULL, NULL);
                rc |= hilt_buf_addf(out, " %lld\n", (long long)e->v);
                continue;
            }
            uint64_t cum = 0;
            for (int b = 0; b <= TM_NBUCKETS; b++) {
                char le[32];
                if (b < TM_NBUCKETS) {
                    cum += e->b[b];
                    fmt_double(bounds[b], le, sizeof(le));
                } else {
                    snprintf(le, sizeof(le), "+Inf");
                    cum = (uint64_t)e->v;
                }
                rc |= hilt_buf_addf(out, "%s_bucket", fam->name);
                rc |= add_labels(out, fam, e, "le", le);
                rc |= hilt_buf_addf(out, " %llu\n", (unsigned long long)cum);
            }
            char sum[64];
            fmt_double(e->sum, sum, sizeof(sum));
            rc |= hilt_buf_addf(out, "%s_sum", fam->name);
            rc |= add_labels(out, fam, e, NULL, NULL);
            rc |= hilt_buf_addf(out, " %s\n%s_count", sum, fam->name);
            rc |= add_labels(out, fam, e, NULL, NULL);
            rc |= hilt_buf_addf(out, " %lld\n", (long long)e->v);
        }
        free(es);
    }
    return rc ? -1 : 0;
}

int64_t tm_sum(struct tm_registry *r, enum tm_family f, const char *l0)
{
    int64_t t = 0;
    for (int i = 0; i < r->nshards; i++) {
        struct tm_shard *s = &r->shards[i];
        pthread_mutex_lock(&s->mu);
        for (size_t j = 0; j < s->cap; j++)
            if (s->e[j].used && s->e[j].f == f && (!l0 || s->e[j].l[0] == l0)) t += s->e[j].v;
        pthread_mutex_unlock(&s->mu);
    }
    return t;
}
