/* config.c - gateway YAML → struct gw_config, with file:line:col errors.
 *
 * The walk is small functions per section over the bounded yamltree; each
 * mapping is checked against its list of known keys first, so a typo is
 * reported with a suggestion before anything else. References (routes →
 * backends, profile names) are resolved after the whole file is read.
 */
#include "gateway/config.h"

#include "core/buf.h"
#include "core/err.h"
#include "core/clock.h"
#include "core/fileio.h"
#include "ca/csr.h"
#include "gateway/tickets.h"
#include "policy/yamltree.h"
#include "x509/key.h"

#include <ctype.h>
#include <libgen.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct ctx {
    struct yt_where w; /* file, path, errors */
    struct gw_config *c;
};

#define perr(x, n, ...) yt_err(&(x)->w, n, __VA_ARGS__)
#define push(x, ...) yt_push(&(x)->w, __VA_ARGS__)
#define pop(x, old) yt_pop(&(x)->w, old)

static struct gw_pos pos(const struct yt_node *n)
{
    struct gw_pos p = {n ? n->line : 1, n ? n->col : 1};
    return p;
}

/* Reject keys not in `known` (NULL-terminated), and duplicates. */
#define check_keys(x, m, known) yt_check_keys_at(&(x)->w, m, known)

static const struct yt_node *key_node(const struct yt_node *m, const char *key)
{
    for (size_t i = 0; m && i + 1 < m->n; i += 2)
        if (!strcmp(m->kids[i]->str, key)) return m->kids[i];
    return m;
}

static int scalar(struct ctx *x, const struct yt_node *n, const char *key, const char **out)
{
    size_t o = push(x, ".%s", key);
    int rc = 0;
    if (!n || n->type != YT_SCALAR || yt_is_null(n))
        rc = perr(x, n, "expected a string, got %s", yt_type_name(n));
    else
        *out = n->str;
    pop(x, o);
    return rc;
}

static int dupstr(const char *s, char **out)
{
    *out = s ? strdup(s) : NULL;
    return s && !*out ? -1 : 0;
}

/* Resolve a path relative to the config's directory. */
static char *path_join(struct ctx *x, const char *p)
{
    if (!p) return NULL;
    if (p[0] == '/' || !x->c->dir || !x->c->dir[0] || !strcmp(p, "-")) return strdup(p);
    size_t n = strlen(x->c->dir) + strlen(p) + 2;
    char *r = malloc(n);
    if (r) snprintf(r, n, "%s/%s", x->c->dir, p);
    return r;
}

static int add_file(struct gw_config *c, const char *p)
{
    if (!p || !strcmp(p, "-")) return 0;
    for (size_t i = 0; i < c->nfiles; i++)
        if (!strcmp(c->files[i], p)) return 0;
    char **v = realloc(c->files, (c->nfiles + 1) * sizeof(*v));
    if (!v) return -1;
    c->files = v;
    if (!(c->files[c->nfiles] = strdup(p))) return -1;
    c->nfiles++;
    return 0;
}

static int get_path(struct ctx *x, const struct yt_node *m, const char *key, int required,
                    char **out, struct gw_pos *at)
{
    const struct yt_node *n = yt_get(m, key);
    if (!n) {
        if (!required) return 0;
        size_t o = push(x, ".%s", key);
        int rc = perr(x, m, "missing required key '%s'", key);
        pop(x, o);
        return rc;
    }
    const char *s;
    if (scalar(x, n, key, &s)) return -1;
    if (at) *at = pos(n);
    *out = path_join(x, s);
    if (!*out || add_file(x->c, *out))
        return hilt_err_set(x->w.e, HILT_E_RUNTIME, 0, "out of memory");
    return 0;
}

static int get_bool(struct ctx *x, const struct yt_node *m, const char *key, int *out)
{
    const struct yt_node *n = yt_get(m, key);
    if (!n) return 0;
    size_t o = push(x, ".%s", key);
    int rc = 0;
    if (n->type == YT_SCALAR && n->plain && (!strcmp(n->str, "true") || !strcmp(n->str, "yes")))
        *out = 1;
    else if (n->type == YT_SCALAR && n->plain &&
             (!strcmp(n->str, "false") || !strcmp(n->str, "no")))
        *out = 0;
    else
        rc = perr(x, n, "expected true or false, got '%s'", n->type == YT_SCALAR ? n->str : "?");
    pop(x, o);
    return rc;
}

static int get_int(struct ctx *x, const struct yt_node *m, const char *key, long min, long max,
                   int *out)
{
    const struct yt_node *n = yt_get(m, key);
    if (!n) return 0;
    size_t o = push(x, ".%s", key);
    int rc = 0;
    char *end = NULL;
    long v = 0;
    if (n->type == YT_SCALAR && n->str[0]) v = strtol(n->str, &end, 10);
    if (n->type != YT_SCALAR || !end || *end || v < min || v > max)
        rc = perr(x, n, "expected a whole number in %ld..%ld, got '%s'", min, max,
                  n->type == YT_SCALAR ? n->str : yt_type_name(n));
    else
        *out = (int)v;
    pop(x, o);
    return rc;
}

long gw_duration_ms(const char *s)
{
    if (!s || !isdigit((unsigned char)s[0])) return -1;
    char *end;
    double v = strtod(s, &end);
    long mul;
    if (!*end)
        mul = 1000;
    else if (!strcmp(end, "ms"))
        mul = 1;
    else if (!strcmp(end, "s"))
        mul = 1000;
    else if (!strcmp(end, "m"))
        mul = 60000;
    else if (!strcmp(end, "h"))
        mul = 3600000;
    else
        return -1;
    double ms = v * (double)mul;
    if (ms < 0 || ms > 7 * 24 * 3600e3) return -1;
    return (long)ms;
}

static int get_dur(struct ctx *x, const struct yt_node *m, const char *key, long min_ms, int *out)
{
    const struct yt_node *n = yt_get(m, key);
    if (!n) return 0;
    size_t o = push(x, ".%s", key);
    int rc = 0;
    long v = n->type == YT_SCALAR ? gw_duration_ms(n->str) : -1;
    if (v < min_ms)
        rc =
            perr(x, n, "expected a duration of at least %ldms such as 500ms, 10s, 5m, 1h; got '%s'",
                 min_ms, n->type == YT_SCALAR ? n->str : yt_type_name(n));
    else
        *out = (int)v;
    pop(x, o);
    return rc;
}

static int get_strlist(struct ctx *x, const struct yt_node *m, const char *key, char ***out,
                       size_t *n, size_t max)
{
    const struct yt_node *l = yt_get(m, key);
    if (!l) return 0;
    size_t o = push(x, ".%s", key);
    int rc = 0;
    if (l->type == YT_SCALAR && !yt_is_null(l)) {
        /* a single string is a one-element list */
        *out = calloc(1, sizeof(char *));
        if (!*out || !((*out)[0] = strdup(l->str)))
            rc = hilt_err_set(x->w.e, HILT_E_RUNTIME, 0, "out of memory");
        else
            *n = 1;
        goto done;
    }
    if (l->type != YT_SEQ) {
        rc = perr(x, l, "expected a list, got %s", yt_type_name(l));
        goto done;
    }
    if (l->n > max) {
        rc = perr(x, l, "at most %zu entries", max);
        goto done;
    }
    *out = calloc(l->n ? l->n : 1, sizeof(char *));
    if (!*out) {
        rc = hilt_err_set(x->w.e, HILT_E_RUNTIME, 0, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < l->n; i++) {
        const struct yt_node *it = l->kids[i];
        if (it->type != YT_SCALAR || yt_is_null(it)) {
            size_t o2 = push(x, "[%zu]", i);
            rc = perr(x, it, "expected a string, got %s", yt_type_name(it));
            pop(x, o2);
            goto done;
        }
        if (!((*out)[i] = strdup(it->str))) {
            rc = hilt_err_set(x->w.e, HILT_E_RUNTIME, 0, "out of memory");
            goto done;
        }
        (*n)++;
    }
done:
    pop(x, o);
    return rc;
}

static int parse_addr(struct ctx *x, const struct yt_node *n, const char *key, const char *s,
                      struct hilt_hostport *hp)
{
    struct hilt_err e2;
    size_t o = push(x, ".%s", key);
    int rc = 0;
    /* port 0 asks the kernel for a free port (tests): parse as port 1, then zero it */
    char tmp[HILT_HOST_MAX + 16];
    size_t sl = strlen(s);
    int zero = sl > 2 && sl < sizeof(tmp) && !strcmp(s + sl - 2, ":0");
    if (zero) {
        snprintf(tmp, sizeof(tmp), "%.*s:1", (int)(sl - 2), s);
        s = tmp;
    }
    int bad = hilt_hostport_parse(s, 0, hp, &e2) < 0 || !hp->port;
    if (zero) {
        hp->port = 0;
        s = tmp;
        tmp[sl - 1] = '0';
        tmp[sl] = 0;
    }
    if (bad)
        rc = perr(x, n, "expected HOST:PORT (e.g. 127.0.0.1:9447 or [::1]:9447), got '%s'", s);
    else if (!hp->is_ip)
        rc = perr(x, n, "'%s': listen on an IP address, not a name", s);
    pop(x, o);
    return rc;
}

static int resolve_profile(struct ctx *x, const struct yt_node *n, const char *key,
                           const char *name, const struct hilt_profile **out)
{
    struct hilt_err e2;
    hilt_err_clear(&e2);
    *out = hilt_profile_find(x->c->policy, name, &e2);
    if (*out) return 0;
    size_t o = push(x, ".%s", key);
    int rc = perr(x, n, "%s", e2.msg);
    pop(x, o);
    return rc;
}

static const char *const listener_keys[] = {
    "name",       "listen", "profile",        "certificates", "client_auth",     "alpn",
    "strict_sni", "routes", "proxy_protocol", "timeouts",     "backend_connect", NULL};
static const char *const cert_keys[] = {"cert", "key", "issue", "default", NULL};
static const char *const issue_keys[] = {
    "names", "key", "lifetime", "renew_before", "ca", "owner", "service", "env", NULL};
static const char *const route_keys[] = {"sni", "alpn", "backend", "passthrough", NULL};
static const char *const auth_keys[] = {"mode", "ca", "subjects", NULL};
static const char *const timeout_keys[] = {"handshake", "idle", "connect", NULL};
static const char *const backend_keys[] = {"name", "servers", "balance", "tls", "health", NULL};
static const char *const btls_keys[] = {"enabled", "profile", "ca",  "verify",
                                        "sni",     "cert",    "key", NULL};
static const char *const health_keys[] = {"interval", "timeout", "rise", "fall", "enabled", NULL};
static const char *const top_keys[] = {"policy", "workers", "listeners", "backends",
                                       "admin",  "events",  "observed",  "tickets",
                                       "watch",  "loop",    "store",     NULL};
static const char *const ticket_keys[] = {"rotate",    "keep", "keys_file", "store",
                                          "store_key", "ring", "poll",      NULL};

/* A store URL or path: postgres URLs and sqlite:PATH as given, a plain
 * relative path relative to the config's directory. */
static char *store_url(struct ctx *x, const char *s)
{
    if (strstr(s, "://") || !strncmp(s, "sqlite:", 7)) return strdup(s);
    return path_join(x, s);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int parse_issue(struct ctx *x, struct gw_listenercfg *l, struct gw_issuecfg *is,
                       const struct yt_node *m)
{
    size_t o = push(x, ".issue");
    const struct yt_node *n;
    const char *s;
    is->at = pos(m);
    is->lifetime = 86400;
    if (check_keys(x, m, issue_keys)) return -1;
    if (!(n = yt_get(m, "names"))) return perr(x, m, "missing required key 'names'");
    if (get_strlist(x, m, "names", &is->names, &is->nnames, 100)) return -1;
    if (!is->nnames) {
        push(x, ".names");
        return perr(x, n, "at least one name");
    }
    for (size_t i = 0; i < is->nnames; i++)
        if (!is->names[i][0] || strlen(is->names[i]) > 253) {
            push(x, ".names[%zu]", i);
            return perr(x, n, "a name is 1..253 characters");
        }
    if ((n = yt_get(m, "key"))) {
        struct hilt_keyspec ks;
        struct hilt_err e2;
        hilt_err_clear(&e2);
        if (scalar(x, n, "key", &s)) return -1;
        if (hilt_keyspec_parse(s, &ks, &e2) < 0) {
            push(x, ".key");
            return perr(x, n, "%s", e2.msg);
        }
    }
    if (dupstr(n ? n->str : "ec-p256", &is->key)) return -1;
    for (int k = 0; k < 2; k++) {
        const char *key = k ? "renew_before" : "lifetime";
        int64_t *out = k ? &is->renew_before : &is->lifetime;
        if (!(n = yt_get(m, key))) continue;
        int64_t v = -1;
        if (n->type != YT_SCALAR || hilt_duration_parse(n->str, &v) < 0 || v <= 0) {
            push(x, ".%s", key);
            return perr(x, n, "expected a duration such as 30m, 24h, 90d; got '%s'",
                        n->type == YT_SCALAR ? n->str : yt_type_name(n));
        }
        *out = v;
    }
    if (is->lifetime < HILT_MIN_LIFETIME) {
        push(x, ".lifetime");
        return perr(x, yt_get(m, "lifetime"), "at least %ds (the CA's minimum lifetime)",
                    HILT_MIN_LIFETIME);
    }
    if (is->renew_before >= is->lifetime) {
        push(x, ".renew_before");
        return perr(x, yt_get(m, "renew_before"), "must be shorter than the lifetime");
    }
    if ((n = yt_get(m, "ca"))) {
        if (scalar(x, n, "ca", &s) || dupstr(s, &is->ca)) return -1;
    } else if (dupstr("hilt", &is->ca))
        return -1;
    if (((n = yt_get(m, "owner")) && (scalar(x, n, "owner", &s) || dupstr(s, &is->owner))) ||
        ((n = yt_get(m, "service")) && (scalar(x, n, "service", &s) || dupstr(s, &is->service))) ||
        ((n = yt_get(m, "env")) && (scalar(x, n, "env", &s) || dupstr(s, &is->env))))
        return -1;
    if (!is->service && dupstr(l->name, &is->service)) return -1;
    /* the id: what makes it this certificate (listener, names as a set, key, CA) */
    char **sorted = calloc(is->nnames, sizeof(*sorted));
    if (!sorted) return hilt_err_set(x->w.e, HILT_E_RUNTIME, 0, "out of memory");
    memcpy(sorted, is->names, is->nnames * sizeof(*sorted));
    qsort(sorted, is->nnames, sizeof(*sorted), cmp_str);
    unsigned char dg[32];
    unsigned dl = 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1;
    ok = ok && EVP_DigestUpdate(md, l->name, strlen(l->name) + 1) == 1;
    for (size_t i = 0; ok && i < is->nnames; i++)
        ok = EVP_DigestUpdate(md, sorted[i], strlen(sorted[i]) + 1) == 1;
    ok = ok && EVP_DigestUpdate(md, is->key, strlen(is->key) + 1) == 1 &&
         EVP_DigestUpdate(md, is->ca, strlen(is->ca) + 1) == 1 &&
         EVP_DigestFinal_ex(md, dg, &dl) == 1;
    EVP_MD_CTX_free(md);
    free(sorted);
    if (!ok) return hilt_err_set(x->w.e, HILT_E_RUNTIME, 0, "cannot hash the issue spec");
    for (int i = 0; i < 6; i++)
        snprintf(is->id + 2 * i, 3, "%02x", dg[i]);
    x->c->nissue++;
    pop(x, o);
    return 0;
}

static int parse_certs(struct ctx *x, struct gw_listenercfg *l, const struct yt_node *seq)
{
    size_t o = push(x, ".certificates");
    int rc = -1;
    if (!seq || seq->type != YT_SEQ || seq->n == 0) {
        perr(x, seq, "expected a non-empty list of {cert, key} or {issue: {names: [...]}}");
        goto out;
    }
    if (seq->n > GW_MAX_CERTS) {
        perr(x, seq, "at most %d certificates", GW_MAX_CERTS);
        goto out;
    }
    l->certs = calloc(seq->n, sizeof(*l->certs));
    if (!l->certs) goto oom;
    int ndefault = 0;
    for (size_t i = 0; i < seq->n; i++) {
        const struct yt_node *m = seq->kids[i];
        struct gw_certcfg *cc = &l->certs[l->ncerts++];
        size_t o2 = push(x, "[%zu]", i);
        cc->at = pos(m);
        if (check_keys(x, m, cert_keys)) goto out;
        const struct yt_node *isn = yt_get(m, "issue");
        if (isn) {
            if (yt_get(m, "cert") || yt_get(m, "key")) {
                perr(x, key_node(m, yt_get(m, "cert") ? "cert" : "key"),
                     "either cert and key (files) or issue (from the CA), not both");
                goto out;
            }
            if (!(cc->issue = calloc(1, sizeof(*cc->issue)))) goto oom;
            if (parse_issue(x, l, cc->issue, isn)) goto out;
            for (size_t j = 0; j + 1 < l->ncerts; j++)
                if (l->certs[j].issue && !strcmp(l->certs[j].issue->id, cc->issue->id)) {
                    perr(x, isn, "the same certificate (names, key, CA) as certificates[%zu]", j);
                    goto out;
                }
        } else if (get_path(x, m, "cert", 1, &cc->cert, &cc->cert_at) ||
                   get_path(x, m, "key", 1, &cc->key, &cc->key_at))
            goto out;
        if (get_bool(x, m, "default", &cc->is_default)) goto out;
        if (cc->is_default && ndefault++) {
            perr(x, m, "only one certificate may be the default");
            goto out;
        }
        pop(x, o2);
    }
    rc = 0;
    goto out;
oom:
    hilt_err_set(x->w.e, HILT_E_RUNTIME, 0, "out of memory");
out:
    if (!rc) pop(x, o);
    return rc;
}

static int parse_client_auth(struct ctx *x, struct gw_clientauth *a, const struct yt_node *m)
{
    size_t o = push(x, ".client_auth");
    a->at = pos(m);
    if (check_keys(x, m, auth_keys)) return -1;
    const struct yt_node *mode = yt_get(m, "mode");
    if (mode) {
        const char *s;
        if (scalar(x, mode, "mode", &s)) return -1;
        if (!strcmp(s, "none"))
            a->mode = HILT_CLIENT_CERT_NONE;
        else if (!strcmp(s, "optional"))
            a->mode = HILT_CLIENT_CERT_OPTIONAL;
        else if (!strcmp(s, "required"))
            a->mode = HILT_CLIENT_CERT_REQUIRED;
        else {
            push(x, ".mode");
            return perr(x, mode, "expected none, optional or required; got '%s'", s);
        }
    }
    if (get_path(x, m, "ca", 0, &a->ca, &a->ca_at) ||
        get_strlist(x, m, "subjects", &a->subjects, &a->nsubjects, 256))
        return -1;
    if (a->mode != HILT_CLIENT_CERT_NONE && !a->ca)
        return perr(x, m, "mode %s needs 'ca' (the bundle that verifies client certificates)",
                    a->mode == HILT_CLIENT_CERT_REQUIRED ? "required" : "optional");
    pop(x, o);
    return 0;
}

static int parse_listener(struct ctx *x, struct gw_listenercfg *l, const struct yt_node *m)
{
    l->at = pos(m);
    l->hs_timeout_ms = 10000;
    l->idle_timeout_ms = 300000;
    l->connect_timeout_ms = 5000;
    if (check_keys(x, m, listener_keys)) return -1;
    const char *s;
    const struct yt_node *n;
    if (!(n = yt_get(m, "name"))) return perr(x, m, "missing required key 'name'");
    if (scalar(x, n, "name", &s) || dupstr(s, &l->name)) return -1;
    if (!(n = yt_get(m, "listen"))) return perr(x, m, "missing required key 'listen'");
    l->listen_at = pos(n);
    if (scalar(x, n, "listen", &s) || dupstr(s, &l->listen) ||
        parse_addr(x, n, "listen", s, &l->addr))
        return -1;
    if (!(n = yt_get(m, "profile"))) return perr(x, m, "missing required key 'profile'");
    l->profile_at = pos(n);
    if (scalar(x, n, "profile", &s) || dupstr(s, &l->profile_name) ||
        resolve_profile(x, n, "profile", s, &l->profile))
        return -1;
    n = yt_get(m, "certificates");
    l->certs_at = pos(n ? n : m);
    if (n && parse_certs(x, l, n)) return -1;
    /* client authentication: the listener's own block, else the profile's rules */
    const struct hilt_client_cert_rules *pr = &l->profile->client_certificate;
    if ((n = yt_get(m, "client_auth"))) {
        if (parse_client_auth(x, &l->client_auth, n)) return -1;
    } else if (pr->mode != HILT_CLIENT_CERT_NONE) {
        l->client_auth.mode = pr->mode;
        l->client_auth.at = l->profile_at;
        l->client_auth.ca_at = l->profile_at;
        if (!pr->ca_file) {
            size_t o = push(x, ".profile");
            int rc = perr(x, yt_get(m, "profile"),
                          "profile '%s' requires client certificates but names no ca_file; "
                          "add client_auth: {mode: required, ca: FILE}",
                          l->profile_name);
            pop(x, o);
            return rc;
        }
        if (!(l->client_auth.ca = strdup(pr->ca_file)) || add_file(x->c, pr->ca_file)) return -1;
        if (pr->subjects.n) {
            l->client_auth.subjects = calloc(pr->subjects.n, sizeof(char *));
            if (!l->client_auth.subjects) return -1;
            for (size_t i = 0; i < pr->subjects.n; i++)
                if (!(l->client_auth.subjects[l->client_auth.nsubjects++] =
                          strdup(pr->subjects.v[i])))
                    return -1;
        }
    }
    if (get_strlist(x, m, "alpn", &l->alpn, &l->nalpn, 16)) return -1;
    for (size_t i = 0; i < l->nalpn; i++)
        if (!l->alpn[i][0] || strlen(l->alpn[i]) > 255) {
            size_t o = push(x, ".alpn[%zu]", i);
            return perr(x, yt_get(m, "alpn"), "a protocol name is 1..255 bytes");
            pop(x, o);
        }
    if (get_bool(x, m, "strict_sni", &l->strict_sni)) return -1;
    if ((n = yt_get(m, "proxy_protocol"))) {
        if (n->type == YT_SCALAR && (!strcmp(n->str, "v2") || !strcmp(n->str, "2")))
            l->proxy_protocol = 2;
        else if (n->type == YT_SCALAR && n->plain &&
                 (!strcmp(n->str, "false") || !strcmp(n->str, "off") || !strcmp(n->str, "none")))
            l->proxy_protocol = 0;
        else {
            push(x, ".proxy_protocol");
            return perr(x, n, "expected v2 or none, got '%s'",
                        n->type == YT_SCALAR ? n->str : yt_type_name(n));
        }
    }
    if ((n = yt_get(m, "backend_connect"))) {
        if (scalar(x, n, "backend_connect", &s)) return -1;
        if (!strcmp(s, "first_data"))
            l->connect_on_data = 1;
        else if (strcmp(s, "immediate")) {
            push(x, ".backend_connect");
            return perr(x, n, "expected immediate or first_data, got '%s'", s);
        }
    }
    if ((n = yt_get(m, "timeouts"))) {
        size_t o = push(x, ".timeouts");
        if (check_keys(x, n, timeout_keys) || get_dur(x, n, "handshake", 10, &l->hs_timeout_ms) ||
            get_dur(x, n, "idle", 10, &l->idle_timeout_ms) ||
            get_dur(x, n, "connect", 10, &l->connect_timeout_ms))
            return -1;
        pop(x, o);
    }
    n = yt_get(m, "routes");
    if (!n) return perr(x, m, "missing required key 'routes'");
    size_t o = push(x, ".routes");
    if (n->type != YT_SEQ || !n->n)
        return perr(x, n, "expected a non-empty list of {sni, backend}");
    if (n->n > GW_MAX_ROUTES) return perr(x, n, "at most %d routes", GW_MAX_ROUTES);
    l->routes = calloc(n->n, sizeof(*l->routes));
    if (!l->routes) return -1;
    for (size_t i = 0; i < n->n; i++) {
        const struct yt_node *r = n->kids[i];
        struct gw_routecfg *rc = &l->routes[l->nroutes++];
        size_t o2 = push(x, "[%zu]", i);
        rc->at = pos(r);
        rc->backend_idx = -1;
        if (check_keys(x, r, route_keys)) return -1;
        const struct yt_node *v;
        if ((v = yt_get(r, "sni"))) {
            if (scalar(x, v, "sni", &s) || dupstr(s, &rc->sni)) return -1;
        } else if (dupstr("*", &rc->sni))
            return -1;
        if ((v = yt_get(r, "alpn")) && (scalar(x, v, "alpn", &s) || dupstr(s, &rc->alpn)))
            return -1;
        if (!(v = yt_get(r, "backend"))) return perr(x, r, "missing required key 'backend'");
        if (scalar(x, v, "backend", &s) || dupstr(s, &rc->backend)) return -1;
        if (get_bool(x, r, "passthrough", &rc->passthrough)) return -1;
        if (rc->passthrough && rc->alpn) {
            push(x, ".alpn");
            return perr(x, yt_get(r, "alpn"),
                        "a passthrough route matches on the SNI only (the gateway never sees "
                        "the negotiated ALPN)");
        }
        if (rc->passthrough) l->npassthrough++;
        pop(x, o2);
    }
    pop(x, o);
    if (!yt_get(m, "certificates") && (size_t)l->npassthrough < l->nroutes)
        return perr(x, m,
                    "missing required key 'certificates' (only a listener whose every route "
                    "is passthrough needs none)");
    return 0;
}

static int parse_backend(struct ctx *x, struct gw_backendcfg *b, const struct yt_node *m)
{
    b->at = pos(m);
    b->health_interval_ms = 2000;
    b->health_timeout_ms = 1000;
    b->rise = 2;
    b->fall = 2;
    if (check_keys(x, m, backend_keys)) return -1;
    const char *s;
    const struct yt_node *n;
    if (!(n = yt_get(m, "name"))) return perr(x, m, "missing required key 'name'");
    if (scalar(x, n, "name", &s) || dupstr(s, &b->name)) return -1;
    if (!(n = yt_get(m, "servers"))) return perr(x, m, "missing required key 'servers'");
    if (get_strlist(x, m, "servers", &b->servers, &b->nservers, GW_MAX_SERVERS)) return -1;
    if (!b->nservers) {
        push(x, ".servers");
        return perr(x, n, "at least one server");
    }
    b->addrs = calloc(b->nservers, sizeof(*b->addrs));
    if (!b->addrs) return -1;
    for (size_t i = 0; i < b->nservers; i++) {
        char k[32];
        snprintf(k, sizeof(k), "servers[%zu]", i);
        const struct yt_node *it = n->type == YT_SEQ ? n->kids[i] : n;
        if (parse_addr(x, it, k, b->servers[i], &b->addrs[i])) return -1;
    }
    if ((n = yt_get(m, "balance"))) {
        if (scalar(x, n, "balance", &s)) return -1;
        if (!strcmp(s, "round_robin") || !strcmp(s, "roundrobin"))
            b->balance = GW_BALANCE_RR;
        else if (!strcmp(s, "least_conn") || !strcmp(s, "leastconn"))
            b->balance = GW_BALANCE_LEASTCONN;
        else {
            push(x, ".balance");
            return perr(x, n, "expected round_robin or least_conn, got '%s'", s);
        }
    }
    if ((n = yt_get(m, "tls"))) {
        struct gw_backendtls *t = &b->tls;
        size_t o = push(x, ".tls");
        t->at = pos(n);
        if (check_keys(x, n, btls_keys) || get_bool(x, n, "enabled", &t->enabled)) return -1;
        if (!yt_get(n, "enabled") && n->n) t->enabled = 1; /* a tls: block with settings means on */
        const struct yt_node *p = yt_get(n, "profile");
        if (p) {
            t->profile_at = pos(p);
            if (scalar(x, p, "profile", &s) || dupstr(s, &t->profile_name) ||
                resolve_profile(x, p, "profile", s, &t->profile))
                return -1;
        }
        t->verify = -1;
        if (get_path(x, n, "ca", 0, &t->ca, &t->ca_at) || get_bool(x, n, "verify", &t->verify) ||
            get_path(x, n, "cert", 0, &t->cert, &t->cert_at) ||
            get_path(x, n, "key", 0, &t->key, &t->key_at))
            return -1;
        if (t->verify < 0) t->verify = t->ca != NULL;
        if ((p = yt_get(n, "sni")) && (scalar(x, p, "sni", &s) || dupstr(s, &t->sni))) return -1;
        if (!t->cert != !t->key)
            return perr(x, n, "cert and key go together (upstream client certificate)");
        pop(x, o);
    }
    if ((n = yt_get(m, "health"))) {
        size_t o = push(x, ".health");
        b->health = 1;
        if (check_keys(x, n, health_keys) || get_bool(x, n, "enabled", &b->health) ||
            get_dur(x, n, "interval", 50, &b->health_interval_ms) ||
            get_dur(x, n, "timeout", 10, &b->health_timeout_ms) ||
            get_int(x, n, "rise", 1, 100, &b->rise) || get_int(x, n, "fall", 1, 100, &b->fall))
            return -1;
        pop(x, o);
    }
    return 0;
}

static int parse_top(struct ctx *x, const struct yt_node *root)
{
    struct gw_config *c = x->c;
    const struct yt_node *n;
    const char *s;
    if (!root) return perr(x, NULL, "empty configuration: needs listeners and backends");
    if (check_keys(x, root, top_keys)) return -1;
    c->observed_max = 1024;
    c->ticket_rotate_s = 3600;
    c->watch_ms = 1000;
    if ((n = yt_get(root, "policy"))) {
        if (get_path(x, root, "policy", 1, &c->policy_path, NULL)) return -1;
        if (hilt_policy_load_file(c->policy_path, &c->policy, x->w.e) < 0) {
            if (x->w.e && x->w.e->kind == HILT_E_RUNTIME) x->w.e->kind = HILT_E_INPUT;
            hilt_err_prefix(x->w.e, "%s:%d:%d: policy", x->w.src, n->line, n->col);
            return -1;
        }
    }
    if (get_int(x, root, "workers", 0, GW_MAX_WORKERS, &c->workers)) return -1;
    if ((n = yt_get(root, "loop"))) {
        if (scalar(x, n, "loop", &s)) return -1;
        if (!strcmp(s, "epoll"))
            c->loop = GW_LOOP_EPOLL;
        else if (!strcmp(s, "libevent"))
            c->loop = GW_LOOP_LIBEVENT;
        else {
            push(x, ".loop");
            return perr(x, n, "expected epoll or libevent, got '%s'", s);
        }
    }
    if (get_dur(x, root, "watch", 100, &c->watch_ms)) return -1;
    if ((n = yt_get(root, "admin"))) {
        static const char *const k[] = {"listen", NULL};
        size_t o = push(x, ".admin");
        if (check_keys(x, n, k)) return -1;
        const struct yt_node *l = yt_get(n, "listen");
        if (!l) return perr(x, n, "missing required key 'listen'");
        if (scalar(x, l, "listen", &s) || dupstr(s, &c->admin_listen) ||
            parse_addr(x, l, "listen", s, &c->admin))
            return -1;
        c->has_admin = 1;
        pop(x, o);
    }
    if ((n = yt_get(root, "events"))) {
        static const char *const k[] = {"file", NULL};
        size_t o = push(x, ".events");
        if (check_keys(x, n, k)) return -1;
        const struct yt_node *f = yt_get(n, "file");
        if (f) {
            if (scalar(x, f, "file", &s)) return -1;
            if (!(c->events_file = path_join(x, s))) return -1;
        }
        pop(x, o);
    }
    if ((n = yt_get(root, "observed"))) {
        static const char *const k[] = {"max", NULL};
        int max = 1024;
        size_t o = push(x, ".observed");
        if (check_keys(x, n, k) || get_int(x, n, "max", 1, 1000000, &max)) return -1;
        c->observed_max = (size_t)max;
        pop(x, o);
    }
    if ((n = yt_get(root, "store"))) {
        if (scalar(x, n, "store", &s)) return -1;
        c->store_at = pos(n);
        if (!(c->store = store_url(x, s))) return -1;
    }
    c->ticket_keep = 2;
    if ((n = yt_get(root, "tickets"))) {
        int ms = 3600000, poll = -1;
        size_t o = push(x, ".tickets");
        c->tickets_at = pos(n);
        if (check_keys(x, n, ticket_keys) || get_dur(x, n, "rotate", 1000, &ms) ||
            get_int(x, n, "keep", 0, GW_TICKET_KEEP_MAX, &c->ticket_keep) ||
            get_path(x, n, "keys_file", 0, &c->ticket_keys_file, NULL) ||
            get_path(x, n, "store_key", 0, &c->ticket_store_key, NULL) ||
            get_dur(x, n, "poll", 100, &poll))
            return -1;
        c->ticket_rotate_s = ms / 1000;
        const struct yt_node *v;
        if ((v = yt_get(n, "store"))) {
            if (scalar(x, v, "store", &s)) return -1;
            if (!(c->ticket_store = store_url(x, s))) return -1;
            if (c->ticket_keys_file) {
                push(x, ".store");
                return perr(x, v, "keys_file and store are two ways to share keys; pick one");
            }
            if (!c->ticket_store_key) {
                push(x, ".store");
                return perr(x, v,
                            "needs store_key: a 32-byte wrapping key file (0600) that seals the "
                            "ticket keys in the store, e.g. `openssl rand -hex 32`");
            }
        } else if (c->ticket_store_key) {
            push(x, ".store_key");
            return perr(x, yt_get(n, "store_key"), "store_key goes with store");
        }
        if ((v = yt_get(n, "ring"))) {
            if (scalar(x, v, "ring", &s)) return -1;
            size_t rl = strlen(s), bad = rl == 0 || rl > 64;
            for (size_t i = 0; i < rl && !bad; i++)
                bad = !isalnum((unsigned char)s[i]) && !strchr("._-", s[i]);
            if (bad) {
                push(x, ".ring");
                return perr(x, v, "a ring name is 1-64 of [A-Za-z0-9._-], got '%s'", s);
            }
            if (dupstr(s, &c->ticket_ring)) return -1;
        }
        if (poll >= 0 && !c->ticket_store) {
            push(x, ".poll");
            return perr(x, yt_get(n, "poll"), "poll goes with store");
        }
        c->ticket_poll_ms = poll;
        pop(x, o);
    }
    if (!c->ticket_ring && dupstr("default", &c->ticket_ring)) return -1;
    if (c->ticket_poll_ms <= 0) {
        /* a quarter of the rotation, between 500 ms and 10 s */
        long p = (long)c->ticket_rotate_s * 250;
        c->ticket_poll_ms = (int)(p < 500 ? 500 : p > 10000 ? 10000 : p);
    }
    /* backends first, so routes can refer to them */
    n = yt_get(root, "backends");
    if (!n) return perr(x, root, "missing required key 'backends'");
    size_t o = push(x, "backends");
    if (n->type != YT_SEQ || !n->n) return perr(x, n, "expected a non-empty list of backends");
    if (n->n > GW_MAX_BACKENDS) return perr(x, n, "at most %d backends", GW_MAX_BACKENDS);
    if (!(c->backends = calloc(n->n, sizeof(*c->backends)))) return -1;
    for (size_t i = 0; i < n->n; i++) {
        size_t o2 = push(x, "[%zu]", i);
        struct gw_backendcfg *b = &c->backends[c->nbackends++];
        if (parse_backend(x, b, n->kids[i])) return -1;
        for (size_t j = 0; j + 1 < c->nbackends; j++)
            if (!strcmp(c->backends[j].name, b->name)) {
                push(x, ".name");
                return perr(x, yt_get(n->kids[i], "name"), "duplicate backend name '%s'", b->name);
            }
        pop(x, o2);
    }
    pop(x, o);
    n = yt_get(root, "listeners");
    if (!n) return perr(x, root, "missing required key 'listeners'");
    o = push(x, "listeners");
    if (n->type != YT_SEQ || !n->n) return perr(x, n, "expected a non-empty list of listeners");
    if (n->n > GW_MAX_LISTENERS) return perr(x, n, "at most %d listeners", GW_MAX_LISTENERS);
    if (!(c->listeners = calloc(n->n, sizeof(*c->listeners)))) return -1;
    for (size_t i = 0; i < n->n; i++) {
        size_t o2 = push(x, "[%zu]", i);
        struct gw_listenercfg *l = &c->listeners[c->nlisteners++];
        const struct yt_node *lm = n->kids[i];
        if (parse_listener(x, l, lm)) return -1;
        for (size_t j = 0; j + 1 < c->nlisteners; j++) {
            if (!strcmp(c->listeners[j].name, l->name)) {
                push(x, ".name");
                return perr(x, yt_get(lm, "name"), "duplicate listener name '%s'", l->name);
            }
            if (l->addr.port && !strcmp(c->listeners[j].addr.host, l->addr.host) &&
                c->listeners[j].addr.port == l->addr.port) {
                push(x, ".listen");
                return perr(x, yt_get(lm, "listen"), "address %s is already used by listener '%s'",
                            l->listen, c->listeners[j].name);
            }
        }
        if (c->has_admin && l->addr.port && !strcmp(c->admin.host, l->addr.host) &&
            c->admin.port == l->addr.port) {
            push(x, ".listen");
            return perr(x, yt_get(lm, "listen"), "address %s is the admin listener's", l->listen);
        }
        for (size_t r = 0; r < l->nroutes; r++) {
            struct gw_routecfg *rc = &l->routes[r];
            for (size_t b = 0; b < c->nbackends; b++)
                if (!strcmp(c->backends[b].name, rc->backend)) rc->backend_idx = (int)b;
            if (rc->backend_idx < 0) {
                const struct yt_node *rn = yt_get(lm, "routes")->kids[r];
                push(x, ".routes[%zu].backend", r);
                char known[300] = "";
                for (size_t b = 0; b < c->nbackends; b++)
                    snprintf(known + strlen(known), sizeof(known) - strlen(known), "%s%s",
                             b ? ", " : "", c->backends[b].name);
                return perr(x, yt_get(rn, "backend"), "unknown backend '%s' (known: %s)",
                            rc->backend, known);
            }
            if (rc->passthrough && c->backends[rc->backend_idx].tls.enabled) {
                const struct yt_node *rn = yt_get(lm, "routes")->kids[r];
                push(x, ".routes[%zu].backend", r);
                return perr(x, yt_get(rn, "backend"),
                            "backend '%s' speaks TLS; a passthrough route needs a plain TCP "
                            "backend (the client's own TLS goes through to it)",
                            rc->backend);
            }
        }
        pop(x, o2);
    }
    pop(x, o);
    (void)key_node;
    return 0;
}

int gw_config_load_mem(const void *data, size_t len, const char *path, struct gw_config **out,
                       struct hilt_err *e)
{
    static const struct yt_limits lim = {GW_CONFIG_MAX_BYTES, 16, 50000, 4096};
    struct yt_node *root = NULL;
    struct ctx x = {0};
    *out = NULL;
    struct gw_config *c = calloc(1, sizeof(*c));
    if (!c) return hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
    x.c = c;
    x.w.e = e;
    x.w.src = path;
    c->path = strdup(path);
    char *tmp = strdup(path);
    c->dir = tmp ? strdup(dirname(tmp)) : NULL;
    free(tmp);
    if (!c->path || !c->dir) goto oom;
    if (add_file(c, c->path)) goto oom;
    if (!(c->src = malloc(len ? len : 1))) goto oom;
    if (len) memcpy(c->src, data, len);
    c->srclen = len;
    if (yt_parse(data, len, path, &lim, &root, e) < 0) goto fail;
    if (parse_top(&x, root) < 0) {
        if (e && e->kind == HILT_E_NONE) hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
        goto fail;
    }
    yt_free(&root);
    *out = c;
    return 0;
oom:
    hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
fail:
    yt_free(&root);
    gw_config_free(&c);
    return -1;
}

int gw_config_load(const char *path, struct gw_config **out, struct hilt_err *e)
{
    struct hilt_buf b;
    hilt_buf_init(&b, GW_CONFIG_MAX_BYTES);
    *out = NULL;
    if (hilt_file_read(path, &b, e) < 0) {
        hilt_buf_free(&b);
        return -1;
    }
    int rc = gw_config_load_mem(b.data ? b.data : (const uint8_t *)"", b.len, path, out, e);
    hilt_buf_free(&b);
    return rc;
}

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void gw_config_free(struct gw_config **cp)
{
    if (!cp || !*cp) return;
    struct gw_config *c = *cp;
    for (size_t i = 0; i < c->nlisteners; i++) {
        struct gw_listenercfg *l = &c->listeners[i];
        free(l->name);
        free(l->listen);
        free(l->profile_name);
        for (size_t j = 0; j < l->ncerts; j++) {
            free(l->certs[j].cert);
            free(l->certs[j].key);
            struct gw_issuecfg *is = l->certs[j].issue;
            if (!is) continue;
            strv_free(is->names, is->nnames);
            free(is->key);
            free(is->ca);
            free(is->owner);
            free(is->service);
            free(is->env);
            free(is);
        }
        free(l->certs);
        free(l->client_auth.ca);
        strv_free(l->client_auth.subjects, l->client_auth.nsubjects);
        strv_free(l->alpn, l->nalpn);
        for (size_t j = 0; j < l->nroutes; j++) {
            free(l->routes[j].sni);
            free(l->routes[j].alpn);
            free(l->routes[j].backend);
        }
        free(l->routes);
    }
    free(c->listeners);
    for (size_t i = 0; i < c->nbackends; i++) {
        struct gw_backendcfg *b = &c->backends[i];
        free(b->name);
        strv_free(b->servers, b->nservers);
        free(b->addrs);
        free(b->tls.profile_name);
        free(b->tls.ca);
        free(b->tls.sni);
        free(b->tls.cert);
        free(b->tls.key);
    }
    free(c->backends);
    hilt_policy_free(&c->policy);
    free(c->path);
    free(c->dir);
    free(c->policy_path);
    free(c->admin_listen);
    free(c->events_file);
    free(c->ticket_keys_file);
    free(c->ticket_store);
    free(c->ticket_store_key);
    free(c->ticket_ring);
    free(c->store);
    free(c->src);
    strv_free(c->files, c->nfiles);
    free(c);
    *cp = NULL;
}

int gw_name_match(const char *pattern, const char *name)
{
    if (!strcmp(pattern, "*")) return 1;
    if (!name) return 0;
    if (pattern[0] == '*' && pattern[1] == '.') {
        /* one label: "*.example.com" matches "a.example.com", not "a.b.example.com" */
        const char *dot = strchr(name, '.');
        return dot && dot != name && !strcasecmp(dot + 1, pattern + 2);
    }
    return !strcasecmp(pattern, name);
}
