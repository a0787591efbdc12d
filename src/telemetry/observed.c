/* observed.c - distinct client offers, bounded, least-recently-seen eviction. */
#include "telemetry/observed.h"

#include "core/json.h"
#include "policy/suites.h"
#include "tls/hello.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct obs_entry {
    uint64_t key;
    struct hilt_client_hello h; /* the offer (sni is the sample) */
    char ja4[40];
    unsigned long long count, failed;
    const char *last_code; /* static catalogue string or NULL */
    time_t first, last;
};

struct obs_table {
    pthread_mutex_t mu;
    struct obs_entry *e;
    size_t n, max;
};

struct obs_table *obs_new(size_t max)
{
    struct obs_table *t = calloc(1, sizeof(*t));
    if (!t) return NULL;
    t->max = max ? max : 1;
    t->e = calloc(t->max, sizeof(*t->e));
    if (!t->e) {
        free(t);
        return NULL;
    }
    pthread_mutex_init(&t->mu, NULL);
    return t;
}

void obs_free(struct obs_table **tp)
{
    if (!tp || !*tp) return;
    pthread_mutex_destroy(&(*tp)->mu);
    free((*tp)->e);
    free(*tp);
    *tp = NULL;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

/* The TLS_EMPTY_RENEGOTIATION_INFO_SCSV and TLS_FALLBACK_SCSV signals are not suites. */
static int is_scsv(uint16_t c)
{
    return c == 0x00ff || c == 0x5600;
}

static uint64_t offer_key(const struct hilt_client_hello *h)
{
    uint64_t k = 0xcbf29ce484222325ull;
    k = fnv(k, &h->legacy_version, sizeof(h->legacy_version));
    k = fnv(k, h->versions, h->nversions * 2);
    k = fnv(k, "|", 1);
    k = fnv(k, h->ciphers, h->nciphers * 2);
    k = fnv(k, "|", 1);
    k = fnv(k, h->groups, h->ngroups * 2);
    k = fnv(k, "|", 1);
    k = fnv(k, h->sigalgs, h->nsigalgs * 2);
    k = fnv(k, "|", 1);
    k = fnv(k, h->alpn, strlen(h->alpn));
    return k;
}

static int same_offer(const struct hilt_client_hello *a, const struct hilt_client_hello *b)
{
    return a->legacy_version == b->legacy_version && a->nversions == b->nversions &&
           !memcmp(a->versions, b->versions, a->nversions * 2) && a->nciphers == b->nciphers &&
           !memcmp(a->ciphers, b->ciphers, a->nciphers * 2) && a->ngroups == b->ngroups &&
           !memcmp(a->groups, b->groups, a->ngroups * 2) && a->nsigalgs == b->nsigalgs &&
           !memcmp(a->sigalgs, b->sigalgs, a->nsigalgs * 2) && !strcmp(a->alpn, b->alpn);
}

void obs_record(struct obs_table *t, const struct hilt_client_hello *h, const char *ja4,
                const char *code, time_t now)
{
    if (!t || !h) return;
    uint64_t k = offer_key(h);
    pthread_mutex_lock(&t->mu);
    struct obs_entry *e = NULL;
    for (size_t i = 0; i < t->n; i++)
        if (t->e[i].key == k && same_offer(&t->e[i].h, h)) {
            e = &t->e[i];
            break;
        }
    if (!e) {
        if (t->n < t->max) {
            e = &t->e[t->n++];
        } else {
            e = &t->e[0];
            for (size_t i = 1; i < t->n; i++)
                if (t->e[i].last < e->last) e = &t->e[i];
        }
        memset(e, 0, sizeof(*e));
        e->key = k;
        e->h = *h;
        snprintf(e->ja4, sizeof(e->ja4), "%s", ja4 ? ja4 : "");
        e->first = now;
    }
    if (!e->h.has_sni && h->has_sni) {
        e->h.has_sni = 1;
        memcpy(e->h.sni, h->sni, sizeof(e->h.sni));
    }
    e->count++;
    if (code) {
        e->failed++;
        e->last_code = code;
    }
    e->last = now;
    pthread_mutex_unlock(&t->mu);
}

size_t obs_count(struct obs_table *t)
{
    pthread_mutex_lock(&t->mu);
    size_t n = t->n;
    pthread_mutex_unlock(&t->mu);
    return n;
}

static json_t *code_name(uint16_t v, const char *name)
{
    if (name) return json_string(name);
    char hex[8];
    snprintf(hex, sizeof(hex), "0x%04x", v);
    return json_string(hex);
}

static json_t *entry_json(const struct obs_entry *e)
{
    const struct hilt_client_hello *h = &e->h;
    json_t *o = json_object(), *vs = json_array(), *cs = json_array(), *gs = json_array(),
           *ss = json_array(), *as = json_array();
    json_object_set_new(o, "ja4", json_string(e->ja4));
    if (h->nversions) {
        for (size_t i = 0; i < h->nversions; i++) {
            enum hilt_tls_version v;
            if (hilt_is_grease(h->versions[i])) continue;
            json_array_append_new(
                vs, code_name(h->versions[i], hilt_tls_version_from_wire(h->versions[i], &v)
                                                  ? NULL
                                                  : hilt_tls_version_name(v)));
        }
    } else {
        enum hilt_tls_version v;
        json_array_append_new(
            vs, code_name(h->legacy_version, hilt_tls_version_from_wire(h->legacy_version, &v)
                                                 ? NULL
                                                 : hilt_tls_version_name(v)));
    }
    for (size_t i = 0; i < h->nciphers; i++) {
        if (is_scsv(h->ciphers[i])) continue;
        const struct hilt_cipher *c = hilt_cipher_by_code(h->ciphers[i]);
        json_array_append_new(cs, code_name(h->ciphers[i], c ? hilt_cipher_name(c) : NULL));
    }
    for (size_t i = 0; i < h->ngroups; i++) {
        const struct hilt_group *g = hilt_group_by_code(h->groups[i]);
        json_array_append_new(gs, code_name(h->groups[i], g ? g->iana : NULL));
    }
    for (size_t i = 0; i < h->nsigalgs; i++) {
        const struct hilt_sigalg *s = hilt_sigalg_by_code(h->sigalgs[i]);
        json_array_append_new(ss, code_name(h->sigalgs[i], s ? s->iana : NULL));
    }
    const char *p = h->alpn;
    while (*p) {
        const char *c = strchr(p, ',');
        size_t l = c ? (size_t)(c - p) : strlen(p);
        char one[256];
        snprintf(one, sizeof(one), "%.*s", (int)l, p);
        json_array_append_new(as, hilt_json_str(one));
        p += l + (c ? 1 : 0);
    }
    json_object_set_new(o, "versions", vs);
    json_object_set_new(o, "ciphers", cs);
    json_object_set_new(o, "groups", gs);
    json_object_set_new(o, "sigalgs", ss);
    json_object_set_new(o, "alpn", as);
    json_object_set_new(o, "sni", h->has_sni ? hilt_json_str(h->sni) : json_null());
    json_object_set_new(o, "count", json_integer((json_int_t)e->count));
    json_object_set_new(o, "first_seen", hilt_json_time(e->first));
    json_object_set_new(o, "last_seen", hilt_json_time(e->last));
    json_object_set_new(o, "failed", json_integer((json_int_t)e->failed));
    json_object_set_new(o, "last_code", e->last_code ? json_string(e->last_code) : json_null());
    return o;
}

static int by_last_desc(const void *a, const void *b)
{
    const struct obs_entry *x = *(const struct obs_entry *const *)a,
                           *y = *(const struct obs_entry *const *)b;
    return (x->last < y->last) - (x->last > y->last);
}

json_t *obs_json(struct obs_table *t)
{
    json_t *arr = json_array();
    pthread_mutex_lock(&t->mu);
    const struct obs_entry **v = calloc(t->n ? t->n : 1, sizeof(*v));
    if (v) {
        for (size_t i = 0; i < t->n; i++)
            v[i] = &t->e[i];
        qsort(v, t->n, sizeof(*v), by_last_desc);
        for (size_t i = 0; i < t->n; i++)
            json_array_append_new(arr, entry_json(v[i]));
        free(v);
    }
    pthread_mutex_unlock(&t->mu);
    json_t *o = json_object();
    json_object_set_new(o, "clients", arr);
    return o;
}
