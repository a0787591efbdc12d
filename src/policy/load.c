/* load.c - policy YAML to a resolved struct hilt_policy.
 *
 * Two passes. Parsing walks the bounded YAML tree (yamltree.c) with a table
 * of profile fields: each field has a key, a kind (how to read and copy it)
 * and its place in struct hilt_profile. Every value is checked against the
 * vocabularies in suites.c, and every error names file:line:column and the
 * field path ("profiles.web.ciphers[3]"). Resolution then applies `extends:`:
 * a profile starts as a deep copy of its resolved parent, and each field the
 * child sets replaces the parent's. Cycles are found with a visiting mark.
 */
#include "policy/policy.h"
#include "policy/yamltree.h"

#include "core/buf.h"
#include "core/embed.h"
#include "core/err.h"
#include "core/fileio.h"

#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- the field table ---------------------------------------------------- */

enum fkind {
    K_STR,        /* char * */
    K_BOOL,       /* int */
    K_INT,        /* int within [min, max] */
    K_VERSIONS,   /* unsigned bit set */
    K_CIPHERS12,  /* u16list of TLS 1.0-1.2 suites */
    K_CIPHERS13,  /* u16list of TLS 1.3 suites */
    K_GROUPS,     /* u16list of named groups */
    K_CURVES,     /* u16list of EC groups (certificate curves) */
    K_SIGALGS,    /* u16list of signature schemes */
    K_KEYTYPES,   /* unsigned HILT_KEYTYPE_* set */
    K_CERTSIG,    /* strlist of X.509 signature algorithm names */
    K_EKU,        /* strlist of EKU names / OIDs */
    K_STRLIST,    /* strlist of free strings */
    K_CLIENTMODE, /* enum hilt_client_cert_mode */
    K_MAP,        /* nested table */
};

struct field {
    const char *key;
    enum fkind kind;
    size_t off;
    int bit; /* position in struct raw_profile.set; -1 for K_MAP */
    int min, max;
    const struct field *sub;
};

#define OFF(m) offsetof(struct hilt_profile, m)

static const struct field cert_fields[] = {
    {"key_types", K_KEYTYPES, OFF(certificate.key_types), 9, 0, 0, NULL},
    {"rsa_min_bits", K_INT, OFF(certificate.rsa_min_bits), 10, 0, 16384, NULL},
    {"ecdsa_curves", K_CURVES, OFF(certificate.ecdsa_curves), 11, 0, 0, NULL},
    {"max_lifetime_days", K_INT, OFF(certificate.max_lifetime_days), 12, 0, 36500, NULL},
    {"signature_algorithms", K_CERTSIG, OFF(certificate.signature_algorithms), 13, 0, 0, NULL},
    {"required_eku", K_EKU, OFF(certificate.required_eku), 14, 0, 0, NULL},
    {"ocsp_stapling", K_BOOL, OFF(certificate.ocsp_stapling), 15, 0, 0, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL},
};

static const struct field client_fields[] = {
    {"mode", K_CLIENTMODE, OFF(client_certificate.mode), 16, 0, 0, NULL},
    {"ca_file", K_STR, OFF(client_certificate.ca_file), 17, 0, 0, NULL},
    {"allowed_issuers", K_STRLIST, OFF(client_certificate.allowed_issuers), 18, 0, 0, NULL},
    {"subjects", K_STRLIST, OFF(client_certificate.subjects), 19, 0, 0, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL},
};

static const struct field profile_fields[] = {
    {"description", K_STR, OFF(description), 0, 0, 0, NULL},
    {"extends", K_STR, OFF(extends), 1, 0, 0, NULL},
    {"versions", K_VERSIONS, OFF(versions), 2, 0, 0, NULL},
    {"ciphers", K_CIPHERS12, OFF(ciphers), 3, 0, 0, NULL},
    {"tls13_ciphersuites", K_CIPHERS13, OFF(tls13_ciphersuites), 4, 0, 0, NULL},
    {"groups", K_GROUPS, OFF(groups), 5, 0, 0, NULL},
    {"signature_algorithms", K_SIGALGS, OFF(signature_algorithms), 6, 0, 0, NULL},
    {"server_preference", K_BOOL, OFF(server_preference), 7, 0, 0, NULL},
    {"dh_min_bits", K_INT, OFF(dh_min_bits), 8, 0, 16384, NULL},
    {"certificate", K_MAP, 0, -1, 0, 0, cert_fields},
    {"client_certificate", K_MAP, 0, -1, 0, 0, client_fields},
    {NULL, 0, 0, 0, 0, 0, NULL},
};

#define BIT_EXTENDS 1
#define BIT_VERSIONS 2
#define BIT_CIPHERS 3
#define BIT_TLS13 4

/* ---- load context ------------------------------------------------------- */

struct pos {
    const char *src; /* owned by the context's source list */
    int line, col;
};

struct raw_profile {
    struct hilt_profile p; /* fields as written */
    unsigned long set;     /* bits of fields written */
    struct pos at, extends_at;
    struct pos field_at[20];
    int state; /* 0 new, 1 resolving, 2 resolved */
    int resolved_idx;
};

struct raw_env {
    struct hilt_environment env;
    struct pos at, profile_at;
};

struct ctx {
    char **sources;
    size_t nsources;
    struct raw_profile *rp;
    size_t nrp, caprp;
    struct raw_env *re;
    size_t nre, capre;
    const struct hilt_policy *base; /* built-ins for extends:, or NULL */
    struct hilt_policy *out;
    struct hilt_err *e;
    const char *src;                                /* current document */
    const char *chain[HILT_POLICY_MAX_EXTENDS + 1]; /* profiles being resolved */
    char path[512];
};

static int perr(struct ctx *c, const struct yt_node *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int perr(struct ctx *c, const struct yt_node *n, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return hilt_err_set(c->e, HILT_E_INPUT, 0, "%s:%d:%d: %s%s%s", c->src, n ? n->line : 1,
                        n ? n->col : 1, c->path, c->path[0] ? ": " : "", msg);
}

static int perr_at(struct ctx *c, const struct pos *p, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int perr_at(struct ctx *c, const struct pos *p, const char *path, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return hilt_err_set(c->e, HILT_E_INPUT, 0, "%s:%d:%d: %s: %s", p->src, p->line, p->col, path,
                        msg);
}

/* Append ".key" or "[i]" to the path; returns the old length to restore. */
static size_t path_push(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static size_t path_push(struct ctx *c, const char *fmt, ...)
{
    size_t old = strlen(c->path);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->path + old, sizeof(c->path) - old, fmt, ap);
    va_end(ap);
    return old;
}

static void path_pop(struct ctx *c, size_t old)
{
    c->path[old] = 0;
}

static char *xstrdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* ---- list helpers -------------------------------------------------------- */

static void u16_free(struct hilt_u16list *l)
{
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static int u16_copy(struct hilt_u16list *dst, const struct hilt_u16list *src)
{
    dst->v = NULL;
    dst->n = 0;
    if (!src->n) return 0;
    dst->v = malloc(src->n * sizeof(uint16_t));
    if (!dst->v) return -1;
    memcpy(dst->v, src->v, src->n * sizeof(uint16_t));
    dst->n = src->n;
    return 0;
}

static void str_free(struct hilt_strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static int str_copy(struct hilt_strlist *dst, const struct hilt_strlist *src)
{
    dst->v = NULL;
    dst->n = 0;
    if (!src->n) return 0;
    dst->v = calloc(src->n, sizeof(char *));
    if (!dst->v) return -1;
    for (size_t i = 0; i < src->n; i++) {
        dst->v[i] = strdup(src->v[i]);
        if (!dst->v[i]) {
            str_free(dst);
            return -1;
        }
        dst->n++;
    }
    return 0;
}

/* Free one field of a profile, by kind. */
static void field_free(struct hilt_profile *p, const struct field *f)
{
    void *at = (char *)p + f->off;
    switch (f->kind) {
    case K_STR: {
        char **s = at;
        free(*s);
        *s = NULL;
        break;
    }
    case K_CIPHERS12:
    case K_CIPHERS13:
    case K_GROUPS:
    case K_CURVES:
    case K_SIGALGS:
        u16_free(at);
        break;
    case K_CERTSIG:
    case K_EKU:
    case K_STRLIST:
        str_free(at);
        break;
    case K_MAP:
        for (const struct field *s = f->sub; s->key; s++)
            field_free(p, s);
        break;
    default:
        break;
    }
}

/* Deep-copy one field from src to dst (dst's field must be empty). */
static int field_copy(struct hilt_profile *dst, const struct hilt_profile *src,
                      const struct field *f)
{
    void *d = (char *)dst + f->off;
    const void *s = (const char *)src + f->off;
    switch (f->kind) {
    case K_STR: {
        const char *const *ss = s;
        char **dd = d;
        *dd = xstrdup(*ss);
        return (*ss && !*dd) ? -1 : 0;
    }
    case K_BOOL:
    case K_INT:
    case K_CLIENTMODE:
        memcpy(d, s, sizeof(int));
        return 0;
    case K_VERSIONS:
    case K_KEYTYPES:
        memcpy(d, s, sizeof(unsigned));
        return 0;
    case K_CIPHERS12:
    case K_CIPHERS13:
    case K_GROUPS:
    case K_CURVES:
    case K_SIGALGS:
        return u16_copy(d, s);
    case K_CERTSIG:
    case K_EKU:
    case K_STRLIST:
        return str_copy(d, s);
    case K_MAP:
        for (const struct field *sf = f->sub; sf->key; sf++)
            if (field_copy(dst, src, sf) < 0) return -1;
        return 0;
    }
    return -1;
}

static void profile_clear(struct hilt_profile *p)
{
    for (const struct field *f = profile_fields; f->key; f++)
        field_free(p, f);
    free(p->name);
    free(p->origin);
    memset(p, 0, sizeof(*p));
}

static void env_clear(struct hilt_environment *env)
{
    free(env->name);
    free(env->profile);
    free(env->description);
    free(env->origin);
    str_free(&env->endpoints);
    memset(env, 0, sizeof(*env));
}

void hilt_policy_free(struct hilt_policy **pp)
{
    if (!pp || !*pp) return;
    struct hilt_policy *p = *pp;
    for (size_t i = 0; i < p->nprofiles; i++)
        profile_clear(&p->profiles[i]);
    for (size_t i = 0; i < p->nenvironments; i++)
        env_clear(&p->environments[i]);
    free(p->profiles);
    free(p->environments);
    free(p->source);
    free(p);
    *pp = NULL;
}

/* ---- scalar readers ----------------------------------------------------- */

static int want_scalar(struct ctx *c, const struct yt_node *n, const char *what)
{
    if (n->type == YT_SCALAR && !yt_is_null(n)) return 0;
    return perr(c, n, "expected %s, got %s", what, yt_type_name(n));
}

static int read_bool(struct ctx *c, const struct yt_node *n, int *out)
{
    static const char *const t[] = {"true", "yes", "on"}, *const f[] = {"false", "no", "off"};
    if (n->type == YT_SCALAR && n->plain)
        for (int i = 0; i < 3; i++) {
            if (!strcasecmp(n->str, t[i])) return *out = 1, 0;
            if (!strcasecmp(n->str, f[i])) return *out = 0, 0;
        }
    if (n->type == YT_SCALAR) return perr(c, n, "expected true or false, got '%s'", n->str);
    return perr(c, n, "expected true or false, got %s", yt_type_name(n));
}

static int read_int(struct ctx *c, const struct yt_node *n, int min, int max, int *out)
{
    if (n->type != YT_SCALAR || yt_is_null(n))
        return perr(c, n, "expected a number, got %s", yt_type_name(n));
    const char *s = n->str;
    long v = 0;
    if (!*s || !n->plain) goto bad;
    for (; *s; s++) {
        if (!isdigit((unsigned char)*s)) goto bad;
        if (v <= 1000000000L) v = v * 10 + (*s - '0');
    }
    if (v < min || v > max) return perr(c, n, "%s is out of range (%d to %d)", n->str, min, max);
    *out = (int)v;
    return 0;
bad:
    return perr(c, n, "expected a whole number, got '%s'", n->str);
}

static int valid_name(const char *s)
{
    size_t n = strlen(s);
    if (!n || n > 64) return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.') return 0;
    return 1;
}

static const char *client_modes[] = {[HILT_CLIENT_CERT_NONE] = "none",
                                     [HILT_CLIENT_CERT_OPTIONAL] = "optional",
                                     [HILT_CLIENT_CERT_REQUIRED] = "required"};

/* ---- list readers ------------------------------------------------------- */

static const char *list_word(enum fkind k)
{
    switch (k) {
    case K_VERSIONS:
        return "protocol version";
    case K_CIPHERS12:
        return "cipher";
    case K_CIPHERS13:
        return "TLS 1.3 cipher suite";
    case K_GROUPS:
        return "group";
    case K_CURVES:
        return "certificate curve";
    case K_SIGALGS:
        return "signature algorithm";
    case K_KEYTYPES:
        return "key type";
    case K_CERTSIG:
        return "certificate signature algorithm";
    case K_EKU:
        return "extended key usage";
    default:
        return "value";
    }
}

/* Resolve one list item to a code point (u16 kinds) or a canonical string. */
static int list_item(struct ctx *c, enum fkind k, const struct yt_node *n, uint16_t *code,
                     const char **canon)
{
    const char *s = n->str;
    switch (k) {
    case K_CIPHERS12:
    case K_CIPHERS13: {
        const struct hilt_cipher *ci = hilt_cipher_by_name(s);
        int want13 = k == K_CIPHERS13;
        if (!ci) {
            const char *sug = hilt_cipher_suggest(s, want13);
            if (sug)
                return perr(c, n, "unknown %s '%s' (did you mean '%s'?)", list_word(k), s, sug);
            return perr(c, n, "unknown %s '%s'", list_word(k), s);
        }
        if (want13 && !(ci->flags & HILT_CF_TLS13))
            return perr(c, n, "'%s' is not a TLS 1.3 suite; list it under ciphers", s);
        if (!want13 && (ci->flags & HILT_CF_TLS13))
            return perr(c, n, "'%s' is a TLS 1.3 suite; list it under tls13_ciphersuites", s);
        *code = ci->code;
        return 0;
    }
    case K_GROUPS:
    case K_CURVES: {
        const struct hilt_group *g = hilt_group_by_name(s);
        if (!g) return perr(c, n, "unknown %s '%s'", list_word(k), s);
        if (k == K_CURVES && !(g->flags & HILT_GF_EC))
            return perr(c, n, "'%s' is not an elliptic curve", s);
        *code = g->code;
        return 0;
    }
    case K_SIGALGS: {
        const struct hilt_sigalg *sa = hilt_sigalg_by_name(s);
        if (!sa)
            return perr(c, n,
                        "unknown %s '%s' (use RFC 8446 names such as "
                        "ecdsa_secp256r1_sha256, rsa_pss_rsae_sha256)",
                        list_word(k), s);
        *code = sa->code;
        return 0;
    }
    case K_VERSIONS: {
        enum hilt_tls_version v;
        if (hilt_tls_version_parse(s, &v) < 0)
            return perr(c, n,
                        "unknown %s '%s' (expected SSLv3, TLSv1.0, TLSv1.1, TLSv1.2 or "
                        "TLSv1.3)",
                        list_word(k), s);
        *code = (uint16_t)v;
        return 0;
    }
    case K_KEYTYPES: {
        unsigned b = hilt_key_type_parse(s);
        if (!b)
            return perr(c, n, "unknown %s '%s' (expected rsa, ecdsa, ed25519, ed448 or dsa)",
                        list_word(k), s);
        *code = (uint16_t)b;
        return 0;
    }
    case K_CERTSIG:
        *canon = hilt_cert_sigalg_canonical(s);
        if (!*canon) return perr(c, n, "unknown %s '%s'", list_word(k), s);
        return 0;
    case K_EKU:
        *canon = hilt_eku_canonical(s);
        if (!*canon)
            return perr(c, n, "unknown %s '%s' (expected serverAuth, clientAuth, ... or an OID)",
                        list_word(k), s);
        return 0;
    default:
        *canon = s;
        return 0;
    }
}

static int read_list(struct ctx *c, const struct field *f, const struct yt_node *n, void *at)
{
    if (yt_is_null(n)) return 0; /* `key:` with no value is the empty list */
    if (n->type != YT_SEQ) {
        if (n->type == YT_SCALAR && strchr(n->str, ':') &&
            (f->kind == K_CIPHERS12 || f->kind == K_CIPHERS13 || f->kind == K_GROUPS))
            return perr(c, n,
                        "expected a list, got the string '%.60s'; write one %s per "
                        "list item",
                        n->str, list_word(f->kind));
        return perr(c, n, "expected a list of %ss, got %s", list_word(f->kind), yt_type_name(n));
    }
    struct hilt_u16list *ul = at;
    struct hilt_strlist *sl = at;
    unsigned *bits = at;
    int is_u16 = f->kind == K_CIPHERS12 || f->kind == K_CIPHERS13 || f->kind == K_GROUPS ||
                 f->kind == K_CURVES || f->kind == K_SIGALGS;
    int is_bits = f->kind == K_VERSIONS || f->kind == K_KEYTYPES;
    if (is_u16 && n->n) {
        ul->v = calloc(n->n, sizeof(uint16_t));
        if (!ul->v) return hilt_err_set(c->e, HILT_E_RUNTIME, 0, "out of memory");
    } else if (!is_u16 && !is_bits && n->n) {
        sl->v = calloc(n->n, sizeof(char *));
        if (!sl->v) return hilt_err_set(c->e, HILT_E_RUNTIME, 0, "out of memory");
    }
    for (size_t i = 0; i < n->n; i++) {
        const struct yt_node *it = n->kids[i];
        size_t old = path_push(c, "[%zu]", i);
        uint16_t code = 0;
        const char *canon = NULL;
        char what[64];
        snprintf(what, sizeof(what), "a %s name", list_word(f->kind));
        if (want_scalar(c, it, what) < 0 || list_item(c, f->kind, it, &code, &canon) < 0) return -1;
        if (is_bits) {
            unsigned b = f->kind == K_VERSIONS ? HILT_VERSION_BIT(code) : code;
            if (*bits & b) return perr(c, it, "'%s' is listed twice", it->str);
            *bits |= b;
        } else if (is_u16) {
            for (size_t j = 0; j < ul->n; j++)
                if (ul->v[j] == code) return perr(c, it, "'%s' is listed twice", it->str);
            ul->v[ul->n++] = code;
        } else {
            for (size_t j = 0; j < sl->n; j++)
                if (!strcmp(sl->v[j], canon)) return perr(c, it, "'%s' is listed twice", it->str);
            sl->v[sl->n] = strdup(canon);
            if (!sl->v[sl->n]) return hilt_err_set(c->e, HILT_E_RUNTIME, 0, "out of memory");
            sl->n++;
        }
        path_pop(c, old);
    }
    return 0;
}

/* ---- mappings ----------------------------------------------------------- */

/* "unknown key 'x' (did you mean 'y'?)" or "unknown key 'x' (known: ...)". */
static int unknown_key(struct ctx *c, const struct yt_node *k, const char *const *keys)
{
    char msg[512];
    yt_unknown_key(k, keys, msg, sizeof(msg));
    return perr(c, k, "%s", msg);
}

/* Check a mapping's keys are scalars and unique (which keys are known is
 * checked where each is read). */
static int check_map(struct ctx *c, const struct yt_node *n, const char *what)
{
    if (n->type != YT_MAP) return perr(c, n, "expected %s, got %s", what, yt_type_name(n));
    const struct yt_node *bad;
    char msg[512];
    if (yt_check_keys(n, NULL, &bad, msg, sizeof(msg)) < 0) return perr(c, bad, "%s", msg);
    return 0;
}

static int read_fields(struct ctx *c, struct raw_profile *rp, const struct field *tbl,
                       const struct yt_node *map)
{
    const char *keys[16];
    size_t nk = 0;
    for (const struct field *f = tbl; f->key && nk < 15; f++)
        keys[nk++] = f->key;
    keys[nk] = NULL;
    for (size_t i = 0; i + 1 < map->n; i += 2) {
        const struct yt_node *k = map->kids[i], *v = map->kids[i + 1];
        const struct field *f = tbl;
        while (f->key && strcmp(f->key, k->str))
            f++;
        if (!f->key) return unknown_key(c, k, keys);
        size_t old = path_push(c, ".%s", f->key);
        void *at = (char *)&rp->p + f->off;
        int rc = 0;
        switch (f->kind) {
        case K_STR:
            rc = want_scalar(c, v, "a string");
            if (!rc && !(*(char **)at = strdup(v->str)))
                rc = hilt_err_set(c->e, HILT_E_RUNTIME, 0, "out of memory");
            if (!rc && f->bit == BIT_EXTENDS) {
                rp->extends_at = (struct pos){c->src, v->line, v->col};
                if (!valid_name(v->str)) rc = perr(c, v, "'%s' is not a profile name", v->str);
            }
            break;
        case K_BOOL:
            rc = read_bool(c, v, at);
            break;
        case K_INT:
            rc = read_int(c, v, f->min, f->max, at);
            break;
        case K_CLIENTMODE: {
            rc = want_scalar(c, v, "none, optional or required");
            if (rc) break;
            int found = -1;
            for (int m = 0; m < 3; m++)
                if (!strcasecmp(v->str, client_modes[m])) found = m;
            if (found < 0)
                rc = perr(c, v, "expected none, optional or required, got '%s'", v->str);
            else
                *(int *)at = found;
            break;
        }
        case K_MAP:
            rc = check_map(c, v, "a mapping");
            if (!rc) rc = read_fields(c, rp, f->sub, v);
            break;
        default:
            rc = read_list(c, f, v, at);
            break;
        }
        if (rc) return -1;
        if (f->bit >= 0) {
            rp->set |= 1ul << f->bit;
            rp->field_at[f->bit] = (struct pos){c->src, k->line, k->col};
        }
        path_pop(c, old);
    }
    return 0;
}

static int parse_profiles(struct ctx *c, const struct yt_node *map)
{
    if (yt_is_null(map)) return 0;
    if (check_map(c, map, "a mapping of profile names to profiles") < 0) return -1;
    for (size_t i = 0; i + 1 < map->n; i += 2) {
        const struct yt_node *k = map->kids[i], *v = map->kids[i + 1];
        size_t old = path_push(c, ".%s", k->str);
        if (!valid_name(k->str))
            return perr(c, k, "'%s' is not a valid profile name (letters, digits, '-', '_', '.')",
                        k->str);
        for (size_t j = 0; j < c->nrp; j++)
            if (!strcmp(c->rp[j].p.name, k->str))
                return perr(c, k, "profile '%s' is defined twice (first at %s:%d)", k->str,
                            c->rp[j].at.src, c->rp[j].at.line);
        if (check_map(c, v, "a mapping of profile fields") < 0) return -1;
        if (c->nrp == c->caprp) {
            size_t cap = c->caprp ? c->caprp * 2 : 8;
            struct raw_profile *r = realloc(c->rp, cap * sizeof(*r));
            if (!r) return hilt_err_set(c->e, HILT_E_RUNTIME, 0, "out of memory");
            c->rp = r;
            c->caprp = cap;
        }
        struct raw_profile *rp = &c->rp[c->nrp++];
        memset(rp, 0, sizeof(*rp));
        rp->at = (struct pos){c->src, k->line, k->col};
        rp->p.name = strdup(k->str);
        if (!rp->p.name) return hilt_err_set(c->e, HILT_E_RUNTIME, 0, "out of memory");
        if (read_fields(c, rp, profile_fields, v) < 0) return -1;
        path_pop(c, old);
    }
    return 0;
}

/* host[:port] with '*' wildcards; IPv6 literals in brackets. */
static int valid_endpoint(const char *s)
{
    const char *host_end = NULL;
    if (*s == '[') {
        host_end = strchr(s, ']');
        if (!host_end || host_end == s + 1) return 0;
        for (const char *p = s + 1; p < host_end; p++)
            if (!isxdigit((unsigned char)*p) && *p != ':' && *p != '.' && *p != '*') return 0;
        host_end++;
        if (*host_end && *host_end != ':') return 0;
    } else {
        host_end = strchr(s, ':');
        if (!host_end) host_end = s + strlen(s);
        if (host_end == s) return 0;
        for (const char *p = s; p < host_end; p++)
            if (!isalnum((unsigned char)*p) && !strchr(".-_*", *p)) return 0;
    }
    if (*host_end == ':') {
        const char *port = host_end + 1;
        if (!strcmp(port, "*")) return 1;
        long v = 0;
        if (!*port) return 0;
        for (const char *p = port; *p; p++) {
            if (!isdigit((unsigned char)*p) || v > 65535) return 0;
            v = v * 10 + (*p - '0');
        }
        return v >= 1 && v <= 65535;
    }
    return 1;
}

static int parse_environments(struct ctx *c, const struct yt_node *map)
{
    static const char *const keys[] = {"profile", "description", "endpoints", NULL};
    if (yt_is_null(map)) return 0;
    if (check_map(c, map, "a mapping of environment names") < 0) return -1;
    for (size_t i = 0; i + 1 < map->n; i += 2) {
        const struct yt_node *k = map->kids[i], *v = map->kids[i + 1];
        size_t old = path_push(c, ".%s", k->str);
        if (!valid_name(k->str)) return perr(c, k, "'%s' is not a valid environment name", k->str);
        for (size_t j = 0; j < c->nre; j++)
            if (!strcmp(c->re[j].env.name, k->str))
                return perr(c, k, "environment '%s' is defined twice", k->str);
        if (c->nre == c->capre) {
            size_t cap = c->capre ? c->capre * 2 : 8;
            struct raw_env *r = realloc(c->re, cap * sizeof(*r));
            if (!r) return hilt_err_set(c->e, HILT_E_RUNTIME, 0, "out of memory");
            c->re = r;
            c->capre = cap;
        }
        struct raw_env *re = &c->re[c->nre++];
        memset(re, 0, sizeof(*re));
        re->at = (struct pos){c->src, k->line, k->col};
        re->env.name = strdup(k->str);
        if (!re->env.name) return hilt_err_set(c->e, HILT_E_RUNTIME, 0, "out of memory");
        const struct yt_node *prof = NULL;
        if (v->type == YT_SCALAR) {
            prof = v; /* shorthand: `name: profile` */
        } else {
            if (check_map(c, v, "a profile name or a mapping") < 0) return -1;
            for (size_t j = 0; j + 1 < v->n; j += 2) {
                const struct yt_node *ek = v->kids[j], *ev = v->kids[j + 1];
                size_t o2 = path_push(c, ".%s", ek->str);
                if (!strcmp(ek->str, "profile")) {
                    prof = ev;
                } else if (!strcmp(ek->str, "description")) {
                    if (want_scalar(c, ev, "a string") < 0) return -1;
                    if (!(re->env.description = strdup(ev->str)))
                        return hilt_err_set(c->e, HILT_E_RUNTIME, 0, "out of memory");
                } else if (!strcmp(ek->str, "endpoints")) {
                    static const struct field ef = {"endpoints", K_STRLIST, 0, -1, 0, 0, NULL};
                    if (read_list(c, &ef, ev, &re->env.endpoints) < 0) return -1;
                    for (size_t x = 0; x < re->env.endpoints.n; x++)
                        if (!valid_endpoint(re->env.endpoints.v[x])) {
                            size_t o3 = path_push(c, "[%zu]", x);
                            perr(c, ev->kids[x],
                                 "'%s' is not an endpoint pattern (host[:port], '*' wildcards)",
                                 re->env.endpoints.v[x]);
                            path_pop(c, o3);
                            return -1;
                        }
                } else {
                    path_pop(c, o2);
                    return unknown_key(c, ek, keys);
                }
                path_pop(c, o2);
            }
            if (!prof) return perr(c, k, "environment '%s' names no profile", k->str);
        }
        size_t o2 = v->type == YT_SCALAR ? path_push(c, "%s", "") : path_push(c, ".profile");
        if (want_scalar(c, prof, "a profile name") < 0) return -1;
        path_pop(c, o2);
        re->env.profile = strdup(prof->str);
        if (!re->env.profile) return hilt_err_set(c->e, HILT_E_RUNTIME, 0, "out of memory");
        re->profile_at = (struct pos){c->src, prof->line, prof->col};
        path_pop(c, old);
    }
    return 0;
}

/* Parse one document into the context's raw lists. */
static int parse_doc(struct ctx *c, const void *data, size_t len, const char *source)
{
    static const struct yt_limits lim = {HILT_POLICY_MAX_BYTES, HILT_POLICY_MAX_DEPTH,
                                         HILT_POLICY_MAX_NODES, HILT_POLICY_MAX_SCALAR};
    static const char *const top[] = {"version", "profiles", "environments", NULL};
    struct yt_node *root = NULL;
    int rc = -1;
    char **s = realloc(c->sources, (c->nsources + 1) * sizeof(char *));
    if (!s) return hilt_err_set(c->e, HILT_E_RUNTIME, 0, "out of memory");
    c->sources = s;
    if (!(c->sources[c->nsources] = strdup(source)))
        return hilt_err_set(c->e, HILT_E_RUNTIME, 0, "out of memory");
    c->src = c->sources[c->nsources++];
    c->path[0] = 0;
    if (yt_parse(data, len, c->src, &lim, &root, c->e) < 0) return -1;
    if (!root || yt_is_null(root)) {
        rc = hilt_err_set(c->e, HILT_E_INPUT, 0,
                          "%s:1:1: empty policy: expected a mapping with profiles: and/or "
                          "environments:",
                          c->src);
        goto out;
    }
    if (check_map(c, root, "a mapping with profiles: and environments:") < 0) goto out;
    const struct yt_node *profiles = NULL, *envs = NULL;
    for (size_t i = 0; i + 1 < root->n; i += 2) {
        const struct yt_node *k = root->kids[i], *v = root->kids[i + 1];
        if (!strcmp(k->str, "version")) {
            int ver = 0;
            strcpy(c->path, "version");
            if (read_int(c, v, 1, 1, &ver) < 0) goto out;
            c->path[0] = 0;
        } else if (!strcmp(k->str, "profiles")) {
            profiles = v;
        } else if (!strcmp(k->str, "environments")) {
            envs = v;
        } else {
            unknown_key(c, k, top);
            goto out;
        }
    }
    if (profiles) {
        strcpy(c->path, "profiles");
        if (parse_profiles(c, profiles) < 0) goto out;
    }
    if (envs) {
        strcpy(c->path, "environments");
        if (parse_environments(c, envs) < 0) goto out;
    }
    c->path[0] = 0;
    rc = 0;
out:
    yt_free(&root);
    return rc;
}

/* ---- resolution --------------------------------------------------------- */

static struct raw_profile *raw_find(struct ctx *c, const char *name)
{
    for (size_t i = 0; i < c->nrp; i++)
        if (!strcmp(c->rp[i].p.name, name)) return &c->rp[i];
    return NULL;
}

static int enabled_pre13(unsigned v)
{
    return (v & (HILT_VERSION_BIT(HILT_TLS13) - 1)) != 0;
}

/* Checks that only make sense on the resolved profile. */
static int validate(struct ctx *c, struct raw_profile *rp, struct hilt_profile *p)
{
    char path[128];
    snprintf(path, sizeof(path), "profiles.%s", p->name);
    if (!p->versions)
        return perr_at(c, (rp->set & (1ul << BIT_VERSIONS)) ? &rp->field_at[BIT_VERSIONS] : &rp->at,
                       path, "no protocol versions (add versions: [TLSv1.2, TLSv1.3])");
    const struct {
        int on, bit;
        struct hilt_u16list *list;
        const char *field, *family;
    } fam[] = {
        {enabled_pre13(p->versions), BIT_CIPHERS, &p->ciphers, "ciphers", "TLSv1.2 or older"},
        {!!(p->versions & HILT_VERSION_BIT(HILT_TLS13)), BIT_TLS13, &p->tls13_ciphersuites,
         "tls13_ciphersuites", "TLSv1.3"},
    };
    for (size_t i = 0; i < 2; i++) {
        if (fam[i].on && !fam[i].list->n)
            return perr_at(c, &rp->at, path, "%s is enabled but %s is empty", fam[i].family,
                           fam[i].field);
        if (!fam[i].on && fam[i].list->n) {
            /* Written here: a contradiction. Inherited: the child turned the
             * family off, so the parent's list simply does not apply. */
            if (rp->set & (1ul << fam[i].bit))
                return perr_at(c, &rp->field_at[fam[i].bit], path,
                               "%s are listed but no %s version is enabled", fam[i].field,
                               fam[i].family);
            u16_free(fam[i].list);
        }
    }
    struct hilt_client_cert_rules *cc = &p->client_certificate;
    if (cc->mode == HILT_CLIENT_CERT_NONE) {
        if (rp->set & (0x7ul << 17))
            return perr_at(c, &rp->at, path,
                           "client_certificate rules are given but mode is none (set mode: "
                           "optional or required)");
        free(cc->ca_file);
        cc->ca_file = NULL;
        str_free(&cc->allowed_issuers);
        str_free(&cc->subjects);
    }
    return 0;
}

/* Length of the extends: chain above rp within this document, capped. */
static int chain_length(struct ctx *c, const struct raw_profile *rp)
{
    const struct raw_profile *seen[HILT_POLICY_MAX_EXTENDS + 2];
    int n = 0;
    while (rp && (rp->set & (1ul << BIT_EXTENDS)) && n <= HILT_POLICY_MAX_EXTENDS) {
        for (int i = 0; i < n; i++)
            if (seen[i] == rp) return 0; /* a cycle: resolve() reports it */
        seen[n++] = rp;
        rp = raw_find(c, rp->p.extends);
    }
    return n;
}

static int resolve(struct ctx *c, struct raw_profile *rp, int depth, struct hilt_profile *out)
{
    char path[128];
    snprintf(path, sizeof(path), "profiles.%s.extends", rp->p.name);
    memset(out, 0, sizeof(*out));
    if (depth > HILT_POLICY_MAX_EXTENDS ||
        (depth == 0 && chain_length(c, rp) > HILT_POLICY_MAX_EXTENDS))
        return perr_at(c, (rp->set & (1ul << BIT_EXTENDS)) ? &rp->extends_at : &rp->at, path,
                       "chain is longer than %d profiles", HILT_POLICY_MAX_EXTENDS);
    c->chain[depth] = rp->p.name;
    struct hilt_profile parent = {0};
    int have_parent = 0, rc = -1;

    if (rp->set & (1ul << BIT_EXTENDS)) {
        const char *pname = rp->p.extends;
        struct raw_profile *prp = raw_find(c, pname);
        if (depth >= HILT_POLICY_MAX_EXTENDS)
            return perr_at(c, &rp->extends_at, path, "chain is longer than %d profiles",
                           HILT_POLICY_MAX_EXTENDS);
        if (prp) {
            if (prp->state == 1) {
                char chain[400] = "";
                size_t cl = 0;
                for (int i = 0; i <= depth && cl < sizeof(chain) - 70; i++)
                    cl += (size_t)snprintf(chain + cl, sizeof(chain) - cl, "%s -> ", c->chain[i]);
                snprintf(chain + cl, sizeof(chain) - cl, "%s", pname);
                return perr_at(c, &rp->extends_at, path, "cycle: %s", chain);
            }
            if (prp->state == 2) {
                const struct hilt_profile *done = &c->out->profiles[prp->resolved_idx];
                for (const struct field *f = profile_fields; f->key; f++)
                    if (field_copy(&parent, done, f) < 0) goto oom;
            } else {
                prp->state = 1;
                int r = resolve(c, prp, depth + 1, &parent);
                prp->state = 0;
                if (r < 0) return -1;
            }
            have_parent = 1;
        } else {
            const struct hilt_profile *bp = c->base ? hilt_policy_profile(c->base, pname) : NULL;
            if (!bp) {
                char known[400] = "";
                size_t kl = 0;
                for (size_t i = 0; i < c->nrp && kl < sizeof(known) - 70; i++)
                    kl += (size_t)snprintf(known + kl, sizeof(known) - kl, "%s%s", kl ? ", " : "",
                                           c->rp[i].p.name);
                for (size_t i = 0; c->base && i < c->base->nprofiles && kl < sizeof(known) - 70;
                     i++)
                    if (!raw_find(c, c->base->profiles[i].name))
                        kl += (size_t)snprintf(known + kl, sizeof(known) - kl, "%s%s",
                                               kl ? ", " : "", c->base->profiles[i].name);
                return perr_at(c, &rp->extends_at, path, "unknown profile '%s' (known: %s)", pname,
                               known);
            }
            for (const struct field *f = profile_fields; f->key; f++)
                if (field_copy(&parent, bp, f) < 0) goto oom;
            have_parent = 1;
        }
    }
    /* Start from the parent, then overlay every field this profile sets. */
    if (have_parent) {
        *out = parent;
        memset(&parent, 0, sizeof(parent));
    }
    static const struct field *const tables[] = {profile_fields, cert_fields, client_fields};
    for (size_t t = 0; t < 3; t++)
        for (const struct field *f = tables[t]; f->key; f++) {
            if (f->bit < 0 || !(rp->set & (1ul << f->bit))) continue;
            field_free(out, f);
            if (field_copy(out, &rp->p, f) < 0) goto oom;
        }
    /* A description belongs to the profile that wrote it, not its children. */
    if (!(rp->set & 1ul)) {
        free(out->description);
        out->description = NULL;
    }
    if (!(rp->set & (1ul << BIT_EXTENDS))) {
        free(out->extends);
        out->extends = NULL;
    }
    out->name = strdup(rp->p.name);
    char origin[300];
    snprintf(origin, sizeof(origin), "%s:%d:%d", rp->at.src, rp->at.line, rp->at.col);
    out->origin = strdup(origin);
    if (!out->name || !out->origin) goto oom;
    rc = validate(c, rp, out);
    if (rc < 0) profile_clear(out);
    return rc;
oom:
    profile_clear(&parent);
    profile_clear(out);
    return hilt_err_set(c->e, HILT_E_RUNTIME, 0, "out of memory");
}

static int resolve_all(struct ctx *c, const char *source)
{
    struct hilt_policy *p = calloc(1, sizeof(*p));
    if (!p) return hilt_err_set(c->e, HILT_E_RUNTIME, 0, "out of memory");
    c->out = p;
    p->source = strdup(source);
    p->profiles = calloc(c->nrp ? c->nrp : 1, sizeof(*p->profiles));
    p->environments = calloc(c->nre ? c->nre : 1, sizeof(*p->environments));
    if (!p->source || !p->profiles || !p->environments)
        return hilt_err_set(c->e, HILT_E_RUNTIME, 0, "out of memory");
    for (size_t i = 0; i < c->nrp; i++) {
        struct raw_profile *rp = &c->rp[i];
        rp->state = 1;
        if (resolve(c, rp, 0, &p->profiles[p->nprofiles]) < 0) return -1;
        rp->state = 2;
        rp->resolved_idx = (int)p->nprofiles++;
    }
    for (size_t i = 0; i < c->nre; i++) {
        struct raw_env *re = &c->re[i];
        char path[128];
        snprintf(path, sizeof(path), "environments.%s.profile", re->env.name);
        if (!raw_find(c, re->env.profile) &&
            !(c->base && hilt_policy_profile(c->base, re->env.profile)))
            return perr_at(c, &re->profile_at, path, "unknown profile '%s'", re->env.profile);
        char origin[300];
        snprintf(origin, sizeof(origin), "%s:%d:%d", re->at.src, re->at.line, re->at.col);
        re->env.origin = strdup(origin);
        if (!re->env.origin) return hilt_err_set(c->e, HILT_E_RUNTIME, 0, "out of memory");
        p->environments[p->nenvironments++] = re->env;
        memset(&re->env, 0, sizeof(re->env));
    }
    return 0;
}

static void ctx_free(struct ctx *c)
{
    for (size_t i = 0; i < c->nrp; i++)
        profile_clear(&c->rp[i].p);
    for (size_t i = 0; i < c->nre; i++)
        env_clear(&c->re[i].env);
    free(c->rp);
    free(c->re);
    for (size_t i = 0; i < c->nsources; i++)
        free(c->sources[i]);
    free(c->sources);
}

/* ---- entry points ------------------------------------------------------- */

static int load_docs(const void *const *data, const size_t *len, const char *const *names,
                     size_t ndocs, const char *source, const struct hilt_policy *base,
                     struct hilt_policy **out, struct hilt_err *e)
{
    struct ctx c = {0};
    c.e = e;
    c.base = base;
    *out = NULL;
    int rc = -1;
    for (size_t i = 0; i < ndocs; i++)
        if (parse_doc(&c, data[i], len[i], names[i]) < 0) goto out;
    if (resolve_all(&c, source) < 0) goto out;
    *out = c.out;
    c.out = NULL;
    rc = 0;
out:
    hilt_policy_free(&c.out);
    ctx_free(&c);
    return rc;
}

int hilt_policy_load_mem(const void *data, size_t len, const char *source, struct hilt_policy **out,
                         struct hilt_err *e)
{
    const struct hilt_policy *base = hilt_policy_builtin(e);
    if (!base) return -1;
    return load_docs(&data, &len, &source, 1, source, base, out, e);
}

int hilt_policy_load_file(const char *path, struct hilt_policy **out, struct hilt_err *e)
{
    struct hilt_buf b;
    *out = NULL;
    hilt_buf_init(&b, HILT_POLICY_MAX_BYTES);
    int rc = hilt_file_read(path, &b, e);
    if (rc == 0) rc = hilt_policy_load_mem(b.data ? (const void *)b.data : "", b.len, path, out, e);
    hilt_buf_free(&b);
    return rc;
}

/* Built-ins: data/policy-mozilla.yaml then data/policy-hilt.yaml, resolved as
 * one set (the hilt profiles extend Mozilla's). Parsed once; kept for the
 * life of the process. */
static const char *const builtin_files[] = {"policy-mozilla.yaml", "policy-hilt.yaml"};
static struct hilt_policy *builtin;
static struct hilt_err builtin_err;
static pthread_once_t builtin_once = PTHREAD_ONCE_INIT;

static void builtin_load(void)
{
    const void *data[2];
    size_t len[2];
    const char *names[2];
    char namebuf[2][64];
    for (size_t i = 0; i < 2; i++) {
        const struct hilt_blob *b = hilt_embedded(builtin_files[i]);
        if (!b) {
            hilt_err_set(&builtin_err, HILT_E_RUNTIME, 0, "built-in policy %s is not embedded",
                         builtin_files[i]);
            return;
        }
        data[i] = b->data;
        len[i] = b->len;
        snprintf(namebuf[i], sizeof(namebuf[i]), "builtin:%s", builtin_files[i]);
        names[i] = namebuf[i];
    }
    if (load_docs(data, len, names, 2, "builtin", NULL, &builtin, &builtin_err) < 0)
        builtin_err.kind = HILT_E_RUNTIME; /* broken embedded data is hilt's fault */
}

const struct hilt_policy *hilt_policy_builtin(struct hilt_err *e)
{
    pthread_once(&builtin_once, builtin_load);
    if (!builtin && e) *e = builtin_err;
    return builtin;
}
