/* api_metrics.c - the counter registry behind /metrics and hilt_api_count()
 * (api/api_metrics.h). An open-addressing hash of series strings; render
 * sorts a copy by series so each metric name's series come out together. */
#include "api/api_metrics.h"

#include "api/api.h"
#include "core/buf.h"

#include <stdlib.h>
#include <string.h>

struct ent {
    char *series;
    uint64_t v;
};

struct hilt_metrics {
    struct ent *t; /* open addressing, power-of-two size */
    size_t cap, n;
    uint64_t dropped;
};

static uint64_t fnv(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

struct hilt_metrics *hilt_metrics_new(void)
{
    struct hilt_metrics *m = calloc(1, sizeof(*m));
    if (!m) return NULL;
    m->cap = 256;
    if (!(m->t = calloc(m->cap, sizeof(*m->t)))) {
        free(m);
        return NULL;
    }
    return m;
}

void hilt_metrics_free(struct hilt_metrics *m)
{
    if (!m) return;
    for (size_t i = 0; i < m->cap; i++)
        free(m->t[i].series);
    free(m->t);
    free(m);
}

static int name_char(char c, int first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
           (!first && c >= '0' && c <= '9');
}

int hilt_metrics_series_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 512 || !name_char(s[0], 1)) return 0;
    size_t i = 1;
    while (i < n && name_char(s[i], 0))
        i++;
    if (i == n) return 1;
    if (s[i] != '{' || s[n - 1] != '}') return 0;
    i++;
    /* label="value"[,label="value"]… with \" \\ \n escapes in values */
    while (i < n - 1) {
        if (!name_char(s[i], 1)) return 0;
        while (i < n && name_char(s[i], 0) && s[i] != ':')
            i++;
        if (i + 1 >= n || s[i] != '=' || s[i + 1] != '"') return 0;
        i += 2;
        while (i < n && s[i] != '"') {
            if (s[i] == '\\') {
                if (i + 1 >= n || (s[i + 1] != '"' && s[i + 1] != '\\' && s[i + 1] != 'n'))
                    return 0;
                i++;
            } else if ((unsigned char)s[i] < 0x20) {
                return 0;
            }
            i++;
        }
        if (i >= n) return 0;
        i++; /* closing quote */
        if (s[i] == ',')
            i++;
        else if (i != n - 1)
            return 0;
    }
    return 1;
}

static struct ent *slot(const struct hilt_metrics *m, const char *series)
{
    size_t i = fnv(series) & (m->cap - 1);
    while (m->t[i].series && strcmp(m->t[i].series, series))
        i = (i + 1) & (m->cap - 1);
    return &m->t[i];
}

static int grow(struct hilt_metrics *m)
{
    size_t ncap = m->cap * 2;
    struct ent *nt = calloc(ncap, sizeof(*nt));
    if (!nt) return -1;
    struct hilt_metrics tmp = {nt, ncap, 0, 0};
    for (size_t i = 0; i < m->cap; i++)
        if (m->t[i].series) *slot(&tmp, m->t[i].series) = m->t[i];
    free(m->t);
    m->t = nt;
    m->cap = ncap;
    return 0;
}

void hilt_metrics_add(struct hilt_metrics *m, const char *series, uint64_t n)
{
    if (!m || !series) return;
    struct ent *x = slot(m, series);
    if (x->series) {
        x->v += n;
        return;
    }
    if (m->n >= HILT_METRICS_MAX_SERIES || !hilt_metrics_series_ok(series)) {
        m->dropped++;
        return;
    }
    if ((m->n + 1) * 2 > m->cap) {
        if (grow(m) < 0) {
            m->dropped++;
            return;
        }
        x = slot(m, series);
    }
    if (!(x->series = strdup(series))) {
        m->dropped++;
        return;
    }
    x->v = n;
    m->n++;
}

uint64_t hilt_metrics_get(const struct hilt_metrics *m, const char *series)
{
    if (!m) return 0;
    const struct ent *x = slot(m, series);
    return x->series ? x->v : 0;
}

static int cmp(const void *a, const void *b)
{
    return strcmp(((const struct ent *)a)->series, ((const struct ent *)b)->series);
}

static size_t name_len(const char *s)
{
    const char *b = strchr(s, '{');
    return b ? (size_t)(b - s) : strlen(s);
}

int hilt_metrics_render(const struct hilt_metrics *m, struct hilt_buf *out)
{
    if (!m) return 0;
    struct ent *v = malloc((m->n ? m->n : 1) * sizeof(*v));
    if (!v) return -1;
    size_t k = 0;
    for (size_t i = 0; i < m->cap; i++)
        if (m->t[i].series) v[k++] = m->t[i];
    qsort(v, k, sizeof(*v), cmp);
    int rc = 0;
    for (size_t i = 0; i < k && rc == 0; i++) {
        size_t nl = name_len(v[i].series);
        if (i == 0 || nl != name_len(v[i - 1].series) || strncmp(v[i].series, v[i - 1].series, nl))
            rc |= hilt_buf_addf(out, "# TYPE %.*s counter\n", (int)nl, v[i].series);
        rc |= hilt_buf_addf(out, "%s %llu\n", v[i].series, (unsigned long long)v[i].v);
    }
    rc |= hilt_buf_addf(out,
                        "# TYPE hilt_metrics_dropped_series_total counter\n"
                        "hilt_metrics_dropped_series_total %llu\n",
                        (unsigned long long)m->dropped);
    free(v);
    return rc ? -1 : 0;
}

void hilt_api_count(struct hilt_api *api, const char *series, uint64_t n)
{
    if (api) hilt_metrics_add(api->metrics, series, n);
}
