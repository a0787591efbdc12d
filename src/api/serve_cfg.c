/* serve_cfg.c - `hilt serve`'s configuration: defaults, the YAML file (read
 * through the bounded policy/yamltree, every error "file:line:col: path:
 * message", unknown keys with a suggestion), and the final checks
 * (api/serve.h, docs/serve.md "Configuration file"). */
#include "api/serve.h"

#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/fileio.h"
#include "core/net.h"
#include "policy/yamltree.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void hilt_serve_config_defaults(struct hilt_serve_config *c)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->ca, sizeof(c->ca), "hilt");
    c->cert_lifetime = 30 * 86400;
    c->cert_renew_before = 10 * 86400;
    c->issue_on_approve = 1;
    c->limits.max_connections = 1024;
    c->limits.header_timeout = 10;
    c->limits.body_timeout = 30;
    c->limits.idle_timeout = 60;
    c->limits.write_timeout = 30;
    c->limits.max_body = 1u << 20;
    c->limits.max_head = 16384;
    c->limits.max_line = 8192;
    c->limits.max_headers = 64;
    c->limits.requests_per_connection = 10000;
    c->renewal.enabled = 1;
    c->renewal.interval = 60;
    c->renewal.lease_ttl = 30;
    c->renewal.manifests = 1;
    c->crl.interval = 3600;
    c->crl.next_update = 7 * 86400;
    c->ocsp.validity = 86400;
    c->ocsp.poll = 5;
}

struct ctx {
    struct yt_where w; /* file, path, errors */
    struct hilt_serve_config *c;
};

#define perr(x, n, ...) yt_err(&(x)->w, n, __VA_ARGS__)
#define push(x, ...) yt_push(&(x)->w, __VA_ARGS__)
#define pop(x, old) yt_pop(&(x)->w, old)

/* Reject keys not in `known` (NULL-terminated), and duplicates. */
#define check_keys(x, m, known) yt_check_keys_at(&(x)->w, m, known)

/* key's scalar value into out (cap), when present */
static int get_str(struct ctx *x, const struct yt_node *m, const char *key, char *out, size_t cap)
{
    const struct yt_node *v = yt_get(m, key);
    if (!v) return 0;
    size_t old = push(x, ".%s", key);
    if (v->type != YT_SCALAR) return perr(x, v, "expected a string, got %s", yt_type_name(v));
    if (strlen(v->str) >= cap) return perr(x, v, "longer than %zu characters", cap - 1);
    snprintf(out, cap, "%s", v->str);
    pop(x, old);
    return 0;
}

static int get_bool(struct ctx *x, const struct yt_node *m, const char *key, int *out)
{
    const struct yt_node *v = yt_get(m, key);
    if (!v) return 0;
    size_t old = push(x, ".%s", key);
    if (v->type != YT_SCALAR || !v->plain || (strcmp(v->str, "true") && strcmp(v->str, "false")))
        return perr(x, v, "expected true or false");
    *out = !strcmp(v->str, "true");
    pop(x, old);
    return 0;
}

static int get_dur(struct ctx *x, const struct yt_node *m, const char *key, int64_t min,
                   int64_t *out)
{
    const struct yt_node *v = yt_get(m, key);
    if (!v) return 0;
    size_t old = push(x, ".%s", key);
    int64_t s = 0;
    if (v->type != YT_SCALAR || hilt_duration_parse(v->str, &s) < 0)
        return perr(x, v, "expected a duration (30s, 5m, 12h, 7d)");
    if (s < min) return perr(x, v, "must be at least %llds", (long long)min);
    *out = s;
    pop(x, old);
    return 0;
}

static int get_int(struct ctx *x, const struct yt_node *m, const char *key, long min, long max,
                   long *out)
{
    const struct yt_node *v = yt_get(m, key);
    if (!v) return 0;
    size_t old = push(x, ".%s", key);
    char *end = NULL;
    if (v->type != YT_SCALAR || !v->str[0]) return perr(x, v, "expected a number");
    long n = strtol(v->str, &end, 10);
    if (*end) return perr(x, v, "expected a whole number");
    if (n < min || n > max) return perr(x, v, "must be between %ld and %ld", min, max);
    *out = n;
    pop(x, old);
    return 0;
}

/* 4096, 64KiB, 1MiB */
static int get_size(struct ctx *x, const struct yt_node *m, const char *key, size_t min, size_t max,
                    size_t *out)
{
    const struct yt_node *v = yt_get(m, key);
    if (!v) return 0;
    size_t old = push(x, ".%s", key);
    char *end = NULL;
    if (v->type != YT_SCALAR || !isdigit((unsigned char)v->str[0]))
        return perr(x, v, "expected a size (bytes, KiB, MiB)");
    unsigned long long n = strtoull(v->str, &end, 10);
    if (!strcmp(end, "KiB"))
        n <<= 10;
    else if (!strcmp(end, "MiB"))
        n <<= 20;
    else if (*end)
        return perr(x, v, "expected a size (bytes, KiB, MiB)");
    if (n < min || n > max) return perr(x, v, "must be between %zu and %zu bytes", min, max);
    *out = (size_t)n;
    pop(x, old);
    return 0;
}

static int listener(struct ctx *x, const struct yt_node *n, struct hilt_serve_listener *l)
{
    static const char *const keys[] = {"listen", "tls", "profile", "client_certificates", NULL};
    memset(l, 0, sizeof(*l));
    l->tls = 1;
    l->client_certs = 1;
    l->line = n->line;
    l->col = n->col;
    snprintf(l->profile, sizeof(l->profile), "intermediate");
    if (check_keys(x, n, keys) || get_str(x, n, "listen", l->listen, sizeof(l->listen)) ||
        get_bool(x, n, "tls", &l->tls) || get_str(x, n, "profile", l->profile, sizeof(l->profile)))
        return -1;
    if (!l->listen[0]) return perr(x, n, "a listener needs 'listen: ADDR:PORT'");
    struct hilt_hostport hp;
    struct hilt_err tmp = {0};
    if (hilt_hostport_parse(l->listen, 0, &hp, &tmp) < 0 || !hp.is_ip) {
        push(x, ".listen");
        return perr(x, yt_get(n, "listen"), "'%s' is not IP:PORT ([v6]:PORT)", l->listen);
    }
    const struct yt_node *cc = yt_get(n, "client_certificates");
    if (cc) {
        size_t old = push(x, ".client_certificates");
        if (cc->type != YT_SCALAR || (strcmp(cc->str, "optional") && strcmp(cc->str, "none")))
            return perr(x, cc, "expected 'optional' (verified against the hilt CA) or 'none'");
        l->client_certs = !strcmp(cc->str, "optional");
        pop(x, old);
    }
    return 0;
}

static int scope(struct ctx *x, const struct yt_node *n, struct hilt_scope *s)
{
    static const char *const keys[] = {"names", "environment", "max_lifetime", NULL};
    if (check_keys(x, n, keys)) return -1;
    const struct yt_node *nm = yt_get(n, "names");
    if (!nm || nm->type != YT_SCALAR)
        return perr(x, nm ? nm : n, "a scope needs 'names: PATTERN' (a name or *.domain)");
    struct hilt_err tmp = {0};
    if (hilt_scope_parse(nm->str, s, &tmp) < 0) {
        size_t old = push(x, ".names");
        int rc = perr(x, nm, "%s", tmp.msg);
        pop(x, old);
        return rc;
    }
    if (strchr(nm->str, ','))
        return perr(x, nm, "one pattern per scope; the lifetime goes in max_lifetime");
    char envb[64] = "";
    if (get_str(x, n, "environment", envb, sizeof(envb)) ||
        get_dur(x, n, "max_lifetime", 300, &s->max_lifetime))
        return -1;
    snprintf(s->env, sizeof(s->env), "%s", envb);
    return 0;
}

static int load_tree(struct ctx *x, const struct yt_node *root)
{
    struct hilt_serve_config *c = x->c;
    static const char *const top[] = {
        "node",   "store",   "ca",  "policy", "listeners", "certificate", "scopes", "approvals",
        "limits", "renewal", "crl", "ocsp",   "acme",      "access_log",  NULL};
    if (!root) return 0; /* empty file: defaults */
    if (check_keys(x, root, top) || get_str(x, root, "node", c->node, sizeof(c->node)) ||
        get_str(x, root, "store", c->store, sizeof(c->store)) ||
        get_str(x, root, "ca", c->ca, sizeof(c->ca)) ||
        get_str(x, root, "policy", c->policy, sizeof(c->policy)) ||
        get_bool(x, root, "access_log", &c->access_log))
        return -1;
    const struct yt_node *ls = yt_get(root, "listeners");
    if (ls) {
        size_t old = push(x, ".listeners");
        if (ls->type != YT_SEQ) return perr(x, ls, "expected a list of listeners");
        if (ls->n > HILT_SERVE_MAX_LISTENERS)
            return perr(x, ls, "at most %d listeners", HILT_SERVE_MAX_LISTENERS);
        c->nlisteners = 0;
        for (size_t i = 0; i < ls->n; i++) {
            size_t o2 = push(x, "[%zu]", i);
            if (listener(x, ls->kids[i], &c->listeners[c->nlisteners++])) return -1;
            pop(x, o2);
        }
        pop(x, old);
    }
    const struct yt_node *cert = yt_get(root, "certificate");
    if (cert) {
        static const char *const keys[] = {"names", "lifetime", "renew_before", NULL};
        size_t old = push(x, ".certificate");
        if (check_keys(x, cert, keys) || get_dur(x, cert, "lifetime", 600, &c->cert_lifetime) ||
            get_dur(x, cert, "renew_before", 60, &c->cert_renew_before))
            return -1;
        const struct yt_node *nm = yt_get(cert, "names");
        if (nm) {
            size_t o2 = push(x, ".names");
            if (nm->type != YT_SEQ || !nm->n || nm->n > HILT_SERVE_MAX_NAMES)
                return perr(x, nm, "expected a list of 1 to %d names", HILT_SERVE_MAX_NAMES);
            c->ncert_names = 0;
            for (size_t i = 0; i < nm->n; i++) {
                const struct yt_node *v = nm->kids[i];
                if (v->type != YT_SCALAR || !v->str[0] || strlen(v->str) > 253)
                    return perr(x, v, "expected a DNS name or IP address");
                snprintf(c->cert_names[c->ncert_names++], 256, "%s", v->str);
            }
            pop(x, o2);
        }
        if (c->cert_renew_before >= c->cert_lifetime)
            return perr(x, cert, "renew_before must be shorter than lifetime");
        pop(x, old);
    }
    const struct yt_node *sc = yt_get(root, "scopes");
    if (sc) {
        size_t old = push(x, ".scopes");
        if (sc->type != YT_SEQ) return perr(x, sc, "expected a list of scopes");
        for (size_t i = 0; i < sc->n; i++) {
            size_t o2 = push(x, "[%zu]", i);
            if (c->nscopes == HILT_SERVE_MAX_SCOPES)
                return perr(x, sc->kids[i], "at most %d scopes", HILT_SERVE_MAX_SCOPES);
            if (scope(x, sc->kids[i], &c->scopes[c->nscopes++])) return -1;
            pop(x, o2);
        }
        pop(x, old);
    }
    const struct yt_node *ap = yt_get(root, "approvals");
    if (ap) {
        static const char *const keys[] = {"issue_on_approve", NULL};
        size_t old = push(x, ".approvals");
        if (check_keys(x, ap, keys) || get_bool(x, ap, "issue_on_approve", &c->issue_on_approve))
            return -1;
        pop(x, old);
    }
    const struct yt_node *li = yt_get(root, "limits");
    if (li) {
        static const char *const keys[] = {"max_connections",
                                           "header_timeout",
                                           "body_timeout",
                                           "idle_timeout",
                                           "write_timeout",
                                           "max_body",
                                           "max_header_bytes",
                                           "max_request_line",
                                           "max_headers",
                                           "requests_per_connection",
                                           NULL};
        size_t old = push(x, ".limits");
        long v;
        if (check_keys(x, li, keys)) return -1;
        v = c->limits.max_connections;
        if (get_int(x, li, "max_connections", 1, 100000, &v)) return -1;
        c->limits.max_connections = (int)v;
        v = c->limits.max_headers;
        if (get_int(x, li, "max_headers", 8, HILT_REQ_MAX_HEADERS, &v)) return -1;
        c->limits.max_headers = (int)v;
        v = c->limits.requests_per_connection;
        if (get_int(x, li, "requests_per_connection", 1, 10000000, &v)) return -1;
        c->limits.requests_per_connection = (int)v;
        if (get_dur(x, li, "header_timeout", 1, &c->limits.header_timeout) ||
            get_dur(x, li, "body_timeout", 1, &c->limits.body_timeout) ||
            get_dur(x, li, "idle_timeout", 1, &c->limits.idle_timeout) ||
            get_dur(x, li, "write_timeout", 1, &c->limits.write_timeout) ||
            get_size(x, li, "max_body", 1024, 64u << 20, &c->limits.max_body) ||
            get_size(x, li, "max_header_bytes", 1024, 65536, &c->limits.max_head) ||
            get_size(x, li, "max_request_line", 256, 65536, &c->limits.max_line))
            return -1;
        pop(x, old);
    }
    const struct yt_node *rn = yt_get(root, "renewal");
    if (rn) {
        static const char *const keys[] = {"enabled", "interval", "lease_ttl", "manifests", NULL};
        size_t old = push(x, ".renewal");
        if (check_keys(x, rn, keys) || get_bool(x, rn, "enabled", &c->renewal.enabled) ||
            get_dur(x, rn, "interval", 1, &c->renewal.interval) ||
            get_dur(x, rn, "lease_ttl", 3, &c->renewal.lease_ttl) ||
            get_bool(x, rn, "manifests", &c->renewal.manifests))
            return -1;
        pop(x, old);
    }
    const struct yt_node *cr = yt_get(root, "crl");
    if (cr) {
        static const char *const keys[] = {"interval", "next_update", NULL};
        size_t old = push(x, ".crl");
        if (check_keys(x, cr, keys) || get_dur(x, cr, "interval", 10, &c->crl.interval) ||
            get_dur(x, cr, "next_update", 60, &c->crl.next_update))
            return -1;
        pop(x, old);
    }
    const struct yt_node *oc = yt_get(root, "ocsp");
    if (oc) {
        static const char *const keys[] = {"validity", "poll", NULL};
        size_t old = push(x, ".ocsp");
        if (check_keys(x, oc, keys) || get_dur(x, oc, "validity", 60, &c->ocsp.validity) ||
            get_dur(x, oc, "poll", 1, &c->ocsp.poll))
            return -1;
        pop(x, old);
    }
    const struct yt_node *ac = yt_get(root, "acme");
    if (ac) {
        static const char *const keys[] = {"http01_port", "tls_alpn01_port", "resolve", NULL};
        size_t old = push(x, ".acme");
        long v = c->http01_port;
        if (check_keys(x, ac, keys) || get_int(x, ac, "http01_port", 1, 65535, &v)) return -1;
        c->http01_port = (int)v;
        v = c->tlsalpn01_port;
        if (get_int(x, ac, "tls_alpn01_port", 1, 65535, &v)) return -1;
        c->tlsalpn01_port = (int)v;
        const struct yt_node *rs = yt_get(ac, "resolve");
        if (rs) {
            size_t o2 = push(x, ".resolve");
            if (rs->type != YT_SEQ || rs->n > HILT_SERVE_MAX_RESOLVE)
                return perr(x, rs, "expected a list of at most %d NAME=IP", HILT_SERVE_MAX_RESOLVE);
            for (size_t i = 0; i < rs->n; i++) {
                const struct yt_node *v2 = rs->kids[i];
                if (v2->type != YT_SCALAR || !strchr(v2->str, '=') || strlen(v2->str) >= 300)
                    return perr(x, v2, "expected NAME=IP");
                snprintf(c->resolve[c->nresolve++], 300, "%s", v2->str);
            }
            pop(x, o2);
        }
        pop(x, old);
    }
    return 0;
}

int hilt_serve_config_load(const char *path, struct hilt_serve_config *c, struct hilt_err *e)
{
    struct hilt_buf b;
    hilt_buf_init(&b, HILT_SERVE_CONFIG_MAX);
    struct yt_node *root = NULL;
    int rc = -1;
    if (hilt_file_read(path, &b, e) < 0) goto out;
    struct yt_limits lim = {HILT_SERVE_CONFIG_MAX, 8, 5000, 4096};
    if (yt_parse(b.data, b.len, path, &lim, &root, e) < 0) goto out;
    snprintf(c->source, sizeof(c->source), "%s", path);
    struct ctx x = {.w = {.src = path, .e = e}, .c = c};
    rc = load_tree(&x, root);
out:
    yt_free(&root);
    hilt_buf_free(&b);
    return rc;
}

int hilt_serve_config_check(struct hilt_serve_config *c, struct hilt_err *e)
{
    if (!c->nlisteners)
        return hilt_err_set(e, HILT_E_USAGE, 0,
                            "no listener: give --listen ADDR:PORT or 'listeners:' in the config");
    int tls = 0;
    for (size_t i = 0; i < c->nlisteners; i++)
        tls |= c->listeners[i].tls;
    if (!c->ncert_names && tls) {
        /* default names: localhost, and each listener's IP unless a wildcard address */
        snprintf(c->cert_names[c->ncert_names++], 256, "localhost");
        for (size_t i = 0; i < c->nlisteners && c->ncert_names < HILT_SERVE_MAX_NAMES; i++) {
            struct hilt_hostport hp;
            if (hilt_hostport_parse(c->listeners[i].listen, 0, &hp, NULL) < 0) continue;
            if (!strcmp(hp.host, "0.0.0.0") || !strcmp(hp.host, "::")) continue;
            int dup = 0;
            for (size_t j = 0; j < c->ncert_names; j++)
                if (!strcmp(c->cert_names[j], hp.host)) dup = 1;
            if (!dup) snprintf(c->cert_names[c->ncert_names++], 256, "%s", hp.host);
        }
    }
    if (c->cert_renew_before >= c->cert_lifetime)
        return hilt_err_set(e, HILT_E_USAGE, 0,
                            "certificate renew_before (%llds) must be shorter than its lifetime "
                            "(%llds)",
                            (long long)c->cert_renew_before, (long long)c->cert_lifetime);
    if (c->limits.max_line > c->limits.max_head) c->limits.max_line = c->limits.max_head;
    if (!c->node[0]) {
        char host[64] = "node";
        gethostname(host, sizeof(host) - 1);
        host[sizeof(host) - 1] = '\0';
        struct hilt_hostport hp;
        int port = 0;
        if (hilt_hostport_parse(c->listeners[0].listen, 0, &hp, NULL) == 0) port = hp.port;
        snprintf(c->node, sizeof(c->node), "%.50s-%d", host, port);
    }
    for (const char *p = c->node; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("-_.", *p))
            return hilt_err_set(e, HILT_E_USAGE, 0, "node name '%s': use [A-Za-z0-9._-]", c->node);
    for (size_t i = 0; i < c->nresolve; i++) {
        const char *eq = strchr(c->resolve[i], '=');
        if (!eq || eq == c->resolve[i] || !hilt_is_ip_literal(eq + 1))
            return hilt_err_set(e, HILT_E_USAGE, 0, "resolve '%s': expected NAME=IP",
                                c->resolve[i]);
    }
    return 0;
}
