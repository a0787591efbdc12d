/* catalogue.c - the catalogue of causes (compiled from data/catalogue.json) and finding lists. */
#include "diag/catalogue.h"

#include "core/err.h"
#include "core/json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const code_names[HILT_C_COUNT] = {
#define HILT_CODE_STR(name, str) str,
    HILT_CODES(HILT_CODE_STR)
#undef HILT_CODE_STR
};

/* Built from data/catalogue.json by tools/gencat.c, which also checks that the
 * data and HILT_CODES agree: nothing is parsed at run time. */
extern const struct hilt_code_info hilt_catalogue_table[HILT_C_COUNT];

const char *hilt_code_name(enum hilt_code c)
{
    return (unsigned)c < HILT_C_COUNT ? code_names[c] : "unknown";
}

int hilt_code_from_name(const char *name, enum hilt_code *out)
{
    for (int i = 0; i < HILT_C_COUNT; i++)
        if (!strcmp(code_names[i], name)) {
            *out = (enum hilt_code)i;
            return 0;
        }
    return -1;
}

const char *hilt_severity_name(enum hilt_severity s)
{
    return s == HILT_SEV_ERROR ? "error" : s == HILT_SEV_WARNING ? "warning" : "info";
}

int hilt_catalogue_load(struct hilt_err *e)
{
    (void)e; /* kept for callers: the table is compiled in and checked at build time */
    return 0;
}

const struct hilt_code_info *hilt_code_info(enum hilt_code c)
{
    return (unsigned)c < HILT_C_COUNT ? &hilt_catalogue_table[c] : NULL;
}

char *hilt_template_fill(const char *tmpl, const char *const *kv)
{
    size_t cap = strlen(tmpl) + 1, len = 0;
    for (const char *const *p = kv; p && p[0] && p[1]; p += 2) cap += strlen(p[1]) * 2;
    char *out = malloc(cap + 64);
    if (!out) return NULL;
    cap += 64;
    for (const char *t = tmpl; *t;) {
        const char *val = NULL;
        size_t skip = 0;
        if (*t == '{') {
            const char *close = strchr(t, '}');
            if (close) {
                size_t kl = (size_t)(close - t - 1);
                for (const char *const *p = kv; p && p[0] && p[1]; p += 2)
                    if (strlen(p[0]) == kl && !strncmp(p[0], t + 1, kl)) {
                        val = p[1];
                        skip = kl + 2;
                        break;
                    }
            }
        }
        const char *src = val ? val : t;
        size_t n = val ? strlen(val) : 1;
        if (len + n + 1 > cap) {
            cap = (len + n + 1) * 2;
            char *np = realloc(out, cap);
            if (!np) {
                free(out);
                return NULL;
            }
            out = np;
        }
        memcpy(out + len, src, n);
        len += n;
        t += val ? skip : 1;
    }
    out[len] = '\0';
    return out;
}

void hilt_findings_init(struct hilt_findings *f)
{
    f->items = NULL;
    f->n = f->cap = 0;
}

void hilt_findings_free(struct hilt_findings *f)
{
    for (size_t i = 0; i < f->n; i++) {
        struct hilt_finding *fd = &f->items[i];
        free(fd->summary);
        free(fd->remediation);
        for (size_t j = 0; j < fd->nevidence; j++) free(fd->evidence[j]);
    }
    free(f->items);
    f->items = NULL;
    f->n = f->cap = 0;
}

struct hilt_finding *hilt_findings_get(struct hilt_findings *f, enum hilt_code code)
{
    for (size_t i = 0; i < f->n; i++)
        if (f->items[i].code == code) return &f->items[i];
    return NULL;
}

struct hilt_finding *hilt_findings_add(struct hilt_findings *f, enum hilt_code code, ...)
{
    struct hilt_finding *have = hilt_findings_get(f, code);
    if (have) return have;
    const char *kv[41];
    size_t n = 0;
    va_list ap;
    va_start(ap, code);
    const char *s;
    while ((s = va_arg(ap, const char *)) != NULL && n < 40) kv[n++] = s;
    va_end(ap);
    kv[n & ~(size_t)1] = NULL;
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 8;
        struct hilt_finding *p = realloc(f->items, cap * sizeof(*p));
        if (!p) return NULL;
        f->items = p;
        f->cap = cap;
    }
    const struct hilt_code_info *ci = hilt_code_info(code);
    struct hilt_finding *fd = &f->items[f->n++];
    memset(fd, 0, sizeof(*fd));
    fd->code = code;
    fd->severity = ci->severity;
    fd->summary = hilt_template_fill(ci->summary, kv);
    fd->remediation = hilt_template_fill(ci->remediation, kv);
    return fd;
}

void hilt_finding_evidence(struct hilt_finding *fd, const char *fmt, ...)
{
    if (!fd || fd->nevidence >= HILT_FINDING_EVIDENCE_MAX) return;
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) >= 0) fd->evidence[fd->nevidence++] = s;
    va_end(ap);
}

const struct hilt_finding *hilt_findings_root(const struct hilt_findings *f)
{
    const struct hilt_finding *best = NULL;
    for (size_t i = 0; i < f->n; i++) {
        const struct hilt_finding *fd = &f->items[i];
        if (fd->severity != HILT_SEV_ERROR) continue;
        if (!best || hilt_code_info(fd->code)->priority < hilt_code_info(best->code)->priority)
            best = fd;
    }
    return best;
}

int hilt_findings_has_error(const struct hilt_findings *f)
{
    return hilt_findings_root(f) != NULL;
}

static int cmp_finding(const void *a, const void *b)
{
    const struct hilt_finding *x = a, *y = b;
    if (x->severity != y->severity) return x->severity > y->severity ? -1 : 1;
    return hilt_code_info(x->code)->priority - hilt_code_info(y->code)->priority;
}

void hilt_findings_sort(struct hilt_findings *f)
{
    if (f->n > 1) qsort(f->items, f->n, sizeof(f->items[0]), cmp_finding);
}

json_t *hilt_finding_json(const struct hilt_finding *fd)
{
    json_t *o = json_object();
    json_object_set_new(o, "code", json_string(hilt_code_name(fd->code)));
    json_object_set_new(o, "severity", json_string(hilt_severity_name(fd->severity)));
    json_object_set_new(o, "summary", hilt_json_str(fd->summary));
    json_t *ev = json_array();
    for (size_t i = 0; i < fd->nevidence; i++) json_array_append_new(ev, hilt_json_str(fd->evidence[i]));
    json_object_set_new(o, "evidence", ev);
    json_object_set_new(o, "remediation", hilt_json_str(fd->remediation));
    json_object_set_new(o, "rung", json_string(hilt_code_info(fd->code)->rung));
    return o;
}

json_t *hilt_findings_json(const struct hilt_findings *f)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < f->n; i++) json_array_append_new(arr, hilt_finding_json(&f->items[i]));
    return arr;
}
