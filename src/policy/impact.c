/* impact.c - client offers evaluated against a policy profile, and the
 * observed-clients document a gateway publishes. */
#include "policy/impact.h"

#include "core/buf.h"
#include "core/err.h"
#include "core/fileio.h"
#include "core/http.h"
#include "core/json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* What an OpenSSL 3.0 server offers when a profile leaves groups unconstrained
 * (SSL_CTX_set1_groups default: X25519, P-256, X448, P-521, P-384, ffdhe*). */
static const uint16_t default_groups[] = {0x001d, 0x0017, 0x001e, 0x0019, 0x0018,
                                          0x0100, 0x0101, 0x0102, 0x0103, 0x0104};
/* Curves an unconstrained ECDSA certificate rule allows (the common CA offerings). */
static const uint16_t default_curves[] = {0x0017, 0x0018};
/* RFC 5246 7.4.1.4.1: a TLS 1.2 client without signature_algorithms means SHA-1. */
static const uint16_t tls12_default_sigalgs[] = {0x0201, 0x0203};
#define DEFAULT_DH_BITS 2048

void hilt_offer_from_client(const struct hilt_client *c, struct hilt_offer *o)
{
    memset(o, 0, sizeof(*o));
    o->label = c->id;
    o->versions = c->versions;
    o->ciphers = c->ciphers.v;
    o->nciphers = c->ciphers.n;
    o->groups = c->groups.v;
    o->ngroups = c->groups.n;
    o->key_shares = c->key_shares.v;
    o->nkey_shares = c->key_shares.n;
    o->sigalgs = c->sigalgs.v;
    o->nsigalgs = c->sigalgs.n;
    o->rsa_min_bits = c->rsa_min_bits;
    o->dh_min_bits = c->dh_min_bits;
    o->dh_max_bits = c->dh_max_bits;
    o->ec_min_bits = c->ec_min_bits;
    o->sha1 = c->sha1;
    o->legacy_kx_signatures = c->legacy_kx_signatures;
}

static int has(const uint16_t *v, size_t n, uint16_t x)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == x) return 1;
    return 0;
}

static void versions_str(unsigned mask, char *out, size_t cap)
{
    size_t l = 0;
    out[0] = '\0';
    for (int v = 0; v < HILT_TLS_VERSION_COUNT; v++)
        if (mask & HILT_VERSION_BIT(v))
            l += (size_t)snprintf(out + l, l < cap ? cap - l : 0, "%s%s", l ? ", " : "",
                                  hilt_tls_version_name((enum hilt_tls_version)v));
    if (!out[0]) snprintf(out, cap, "nothing");
}

static void fail(struct hilt_impact *r, enum hilt_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(struct hilt_impact *r, enum hilt_code code, const char *fmt, ...)
{
    r->connects = 0;
    r->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
    va_end(ap);
}

/* The groups a profile's server offers, and whether it had to assume them. */
static const uint16_t *server_groups(const struct hilt_profile *p, size_t *n)
{
    if (p->groups.n) {
        *n = p->groups.n;
        return p->groups.v;
    }
    *n = sizeof(default_groups) / sizeof(default_groups[0]);
    return default_groups;
}

static int group_is_ec(uint16_t g)
{
    const struct hilt_group *x = hilt_group_by_code(g);
    return x && (x->flags & HILT_GF_EC);
}

/* The group an OpenSSL server picks: its own order under server preference,
 * else the client's (ssl/t1_lib.c tls1_shared_group). ec_only for TLS 1.2 ECDHE. */
static uint16_t pick_group(const struct hilt_offer *o, const struct hilt_profile *p, int ec_only)
{
    size_t ns;
    const uint16_t *sg = server_groups(p, &ns);
    if (!o->ngroups) {
        /* No supported_groups: RFC 8422 5.1 lets the server choose (P-256 is what all speak). */
        for (size_t i = 0; i < ns; i++)
            if (sg[i] == 0x0017) return 0x0017;
        return 0;
    }
    const uint16_t *first = p->server_preference ? sg : o->groups;
    size_t nf = p->server_preference ? ns : o->ngroups;
    const uint16_t *second = p->server_preference ? o->groups : sg;
    size_t n2 = p->server_preference ? o->ngroups : ns;
    for (size_t i = 0; i < nf; i++)
        if (has(second, n2, first[i]) && (!ec_only || group_is_ec(first[i]))) return first[i];
    return 0;
}

enum cert_type { CT_RSA, CT_ECDSA, CT_ED25519, CT_COUNT };
static const char *const cert_names[CT_COUNT] = {"rsa", "ecdsa", "ed25519"};
static const unsigned cert_bits[CT_COUNT] = {HILT_KEYTYPE_RSA, HILT_KEYTYPE_ECDSA,
                                             HILT_KEYTYPE_ED25519};

struct certs {
    int allowed[CT_COUNT];    /* the profile permits this key type */
    int sig_ok[CT_COUNT];     /* a signature scheme both sides accept exists for it */
    char weak[CT_COUNT][200]; /* why the client would refuse such a certificate, or "" */
};

static int sigalg_ok(const struct hilt_offer *o, const struct hilt_profile *p, int v, uint16_t s)
{
    if (!hilt_profile_allows_sigalg(p, s)) return 0;
    if (v < HILT_TLS12) return 1;
    if (!o->nsigalgs) return has(tls12_default_sigalgs, 2, s) && v == HILT_TLS12;
    return has(o->sigalgs, o->nsigalgs, s);
}

static void judge_certs(const struct hilt_offer *o, const struct hilt_profile *p, int v,
                        struct certs *c)
{
    memset(c, 0, sizeof(*c));
    unsigned kt = p->certificate.key_types ? p->certificate.key_types
                                           : (HILT_KEYTYPE_RSA | HILT_KEYTYPE_ECDSA);
    for (int t = 0; t < CT_COUNT; t++)
        c->allowed[t] = (kt & cert_bits[t]) != 0;
    if (v < HILT_TLS12) {
        /* No signature_algorithms before TLS 1.2 (RFC 4346): the certificate's key type decides. */
        c->sig_ok[CT_RSA] = c->sig_ok[CT_ECDSA] = 1;
    } else {
        static const uint16_t rsa12[] = {0x0401, 0x0501, 0x0601, 0x0804,
                                         0x0805, 0x0806, 0x0201, 0x0301};
        static const uint16_t rsa13[] = {0x0804, 0x0805, 0x0806};
        const uint16_t *rs = v == HILT_TLS13 ? rsa13 : rsa12;
        size_t nr = v == HILT_TLS13 ? 3 : 8;
        for (size_t i = 0; i < nr; i++)
            if (sigalg_ok(o, p, v, rs[i])) c->sig_ok[CT_RSA] = 1;
        c->sig_ok[CT_ED25519] = sigalg_ok(o, p, v, 0x0807);
    }
    /* ECDSA: some curve the profile permits must be usable by the client. In TLS
     * 1.2 its curve must be one of the client's groups (RFC 8422 5.1); in TLS 1.3
     * the signature scheme names the curve (RFC 8446 4.2.3). */
    const uint16_t *curves =
        p->certificate.ecdsa_curves.n ? p->certificate.ecdsa_curves.v : default_curves;
    size_t nc = p->certificate.ecdsa_curves.n ? p->certificate.ecdsa_curves.n : 2;
    int small = 0;
    for (size_t i = 0; i < nc; i++) {
        const struct hilt_group *g = hilt_group_by_code(curves[i]);
        if (g && o->ec_min_bits && g->bits < o->ec_min_bits) {
            small = g->bits;
            continue;
        }
        if (v >= HILT_TLS12 && v < HILT_TLS13 && o->ngroups &&
            !has(o->groups, o->ngroups, curves[i]))
            continue;
        if (v < HILT_TLS12) {
            if (o->ngroups && !has(o->groups, o->ngroups, curves[i])) continue;
            c->sig_ok[CT_ECDSA] = 1;
            continue;
        }
        uint16_t s13 = curves[i] == 0x0017   ? 0x0403
                       : curves[i] == 0x0018 ? 0x0503
                       : curves[i] == 0x0019 ? 0x0603
                                             : 0;
        if (v == HILT_TLS13) {
            if (s13 && sigalg_ok(o, p, v, s13)) c->sig_ok[CT_ECDSA] = 1;
        } else {
            static const uint16_t ec12[] = {0x0403, 0x0503, 0x0603, 0x0203, 0x0303};
            for (size_t k = 0; k < 5; k++)
                if (sigalg_ok(o, p, v, ec12[k])) c->sig_ok[CT_ECDSA] = 1;
        }
    }
    if (small)
        snprintf(c->weak[CT_ECDSA], sizeof(c->weak[CT_ECDSA]),
                 "the profile allows %d-bit EC keys; this client requires at least %d bits", small,
                 o->ec_min_bits);
    if (o->rsa_min_bits && p->certificate.rsa_min_bits &&
        p->certificate.rsa_min_bits < o->rsa_min_bits)
        snprintf(c->weak[CT_RSA], sizeof(c->weak[CT_RSA]),
                 "the profile allows RSA keys of %d bits; this client requires at least %d bits",
                 p->certificate.rsa_min_bits, o->rsa_min_bits);
}

/* Can a cipher's authentication be served with a certificate the client takes? */
static int auth_ok(const struct hilt_cipher *c, const struct certs *ce, int tls13, int *weak_only,
                   int *sig_only)
{
    int types[CT_COUNT] = {0};
    if (tls13) {
        types[CT_RSA] = types[CT_ECDSA] = types[CT_ED25519] = 1;
    } else if (!strcmp(c->au, "RSA")) {
        types[CT_RSA] = 1;
    } else if (!strcmp(c->au, "ECDSA")) {
        types[CT_ECDSA] = 1;
    } else if (!strcmp(c->au, "anon")) {
        return 1;
    } else {
        return 0; /* DSS, PSK, SRP, static DH/ECDH, ... need certificates or secrets profiles do not
                     name */
    }
    for (int t = 0; t < CT_COUNT; t++) {
        if (!types[t] || !ce->allowed[t]) continue;
        if (!ce->sig_ok[t]) {
            *sig_only = 1;
            continue;
        }
        if (ce->weak[t][0]) {
            *weak_only = 1;
            continue;
        }
        return 1;
    }
    return 0;
}

static int kx_needs_group(const struct hilt_cipher *c, int tls13)
{
    return tls13 || !strcmp(c->kx, "ECDHE") || !strcmp(c->kx, "ECDHE_PSK");
}

static int kx_is_dhe(const struct hilt_cipher *c)
{
    return !strcmp(c->kx, "DHE") || !strcmp(c->kx, "DHE_PSK");
}

void hilt_impact_eval(const struct hilt_offer *o, const struct hilt_profile *p,
                      struct hilt_impact *r)
{
    memset(r, 0, sizeof(*r));
    r->version = -1;
    char a[128], b[128];
    unsigned common = o->versions & p->versions;
    if (!common) {
        versions_str(o->versions, a, sizeof(a));
        versions_str(p->versions, b, sizeof(b));
        fail(r, HILT_C_PROTOCOL_VERSION_MISMATCH,
             "no common TLS version: the client offers %s; profile %s accepts %s", a, p->name, b);
        return;
    }
    int v = HILT_TLS13;
    while (v > 0 && !(common & HILT_VERSION_BIT(v)))
        v--;
    r->version = v;
    int tls13 = v == HILT_TLS13;

    struct certs ce;
    judge_certs(o, p, v, &ce);
    int ec_group = pick_group(o, p, 1) != 0;
    int any_group = pick_group(o, p, 0) != 0;

    const struct hilt_u16list *pl = tls13 ? &p->tls13_ciphersuites : &p->ciphers;
    const uint16_t *first = p->server_preference ? pl->v : o->ciphers;
    size_t nfirst = p->server_preference ? pl->n : o->nciphers;
    int shared = 0, blocked_group = 0, blocked_weak = 0, blocked_sig = 0;
    const struct hilt_cipher *chosen = NULL;
    for (size_t i = 0; i < nfirst && !chosen; i++) {
        uint16_t code = first[i];
        const struct hilt_cipher *c = hilt_cipher_by_code(code);
        if (!c || !has(o->ciphers, o->nciphers, code) ||
            !hilt_profile_allows_cipher(p, (enum hilt_tls_version)v, code))
            continue;
        if (!!(c->flags & HILT_CF_TLS13) != tls13 || (int)c->min_version > v) continue;
        shared = 1;
        if (kx_needs_group(c, tls13) && !(tls13 ? any_group : ec_group)) {
            blocked_group = 1;
            continue;
        }
        int weak_only = 0, sig_only = 0;
        if (!auth_ok(c, &ce, tls13, &weak_only, &sig_only)) {
            blocked_weak |= weak_only;
            blocked_sig |= sig_only;
            continue;
        }
        chosen = c;
    }
    if (!chosen) {
        const char *vn = hilt_tls_version_name((enum hilt_tls_version)v);
        if (!shared) {
            fail(r, HILT_C_NO_SHARED_CIPHER,
                 "no common cipher suite for %s: profile %s accepts %zu suites, none of them among "
                 "the client's %zu",
                 vn, p->name, pl->n, o->nciphers);
        } else if (blocked_group && !blocked_weak && !blocked_sig) {
            char gl[300] = "";
            size_t ns, l = 0;
            const uint16_t *sg = server_groups(p, &ns);
            for (size_t i = 0; i < ns && l < sizeof(gl); i++) {
                const struct hilt_group *g = hilt_group_by_code(sg[i]);
                l += (size_t)snprintf(gl + l, sizeof(gl) - l, "%s%s", l ? ", " : "",
                                      g ? g->iana : "?");
            }
            fail(r, HILT_C_NO_SHARED_GROUP,
                 "no common key-exchange group for %s: the profile offers %s; the client %s", vn,
                 gl, o->ngroups ? "offers none of them" : "sends no supported_groups");
        } else if (blocked_weak) {
            const char *why = ce.weak[CT_RSA][0] ? ce.weak[CT_RSA] : ce.weak[CT_ECDSA];
            fail(r, HILT_C_WEAK_KEY, "%s", why);
        } else {
            char kt[64] = "";
            size_t l = 0;
            for (int t = 0; t < CT_COUNT; t++)
                if (ce.allowed[t])
                    l += (size_t)snprintf(kt + l, sizeof(kt) - l, "%s%s", l ? "/" : "",
                                          cert_names[t]);
            fail(r, HILT_C_HANDSHAKE_FAILED,
                 "no signature scheme in common for a %s certificate in %s: the client's "
                 "signature_algorithms and "
                 "the profile's do not meet",
                 kt, vn);
        }
        return;
    }
    r->cipher = chosen->code;
    /* The certificate it would be served: the first permitted type the suite and client allow. */
    for (int t = 0; t < CT_COUNT && !r->cert; t++) {
        int fits = tls13 || (t == CT_RSA && !strcmp(chosen->au, "RSA")) ||
                   (t == CT_ECDSA && !strcmp(chosen->au, "ECDSA"));
        if (fits && ce.allowed[t] && ce.sig_ok[t] && !ce.weak[t][0]) r->cert = cert_names[t];
    }
    if (kx_needs_group(chosen, tls13)) {
        if (tls13) {
            /* RFC 8446 4.2.8: a share the server accepts wins; otherwise it asks (HRR). */
            size_t ns;
            const uint16_t *sg = server_groups(p, &ns);
            for (size_t i = 0; i < o->nkey_shares && !r->group; i++)
                if (has(sg, ns, o->key_shares[i])) r->group = o->key_shares[i];
            if (!r->group) {
                r->group = pick_group(o, p, 0);
                r->hrr = 1;
            }
        } else {
            r->group = pick_group(o, p, 1);
        }
    }
    if (kx_is_dhe(chosen)) {
        r->dh_bits = p->dh_min_bits ? p->dh_min_bits : DEFAULT_DH_BITS;
        if (o->dh_min_bits && r->dh_bits < o->dh_min_bits) {
            fail(r, HILT_C_WEAK_DH,
                 "the server would pick %s with a %d-bit DH group; this client requires %d bits",
                 hilt_cipher_name(chosen), r->dh_bits, o->dh_min_bits);
            return;
        }
        if (o->dh_max_bits && r->dh_bits > o->dh_max_bits) {
            fail(r, HILT_C_HANDSHAKE_FAILED,
                 "the server would pick %s with a %d-bit DH group; this client cannot use DH "
                 "groups above %d bits",
                 hilt_cipher_name(chosen), r->dh_bits, o->dh_max_bits);
            return;
        }
    }
    if (v <= HILT_TLS11 && !o->legacy_kx_signatures &&
        (kx_is_dhe(chosen) || !strcmp(chosen->kx, "ECDHE"))) {
        fail(r, HILT_C_HANDSHAKE_FAILED,
             "the server would sign its %s key exchange with MD5+SHA-1, which this client refuses; "
             "enable TLS 1.2 (or an RSA key-exchange suite)",
             hilt_tls_version_name((enum hilt_tls_version)v));
        return;
    }
    /* Certificate signatures: a profile that only permits SHA-1 signatures. */
    const struct hilt_strlist *cs = &p->certificate.signature_algorithms;
    if (cs->n && o->sha1 != HILT_SHA1_ACCEPT) {
        int only_sha1 = 1;
        for (size_t i = 0; i < cs->n; i++)
            if (!strcasestr(cs->v[i], "sha1")) only_sha1 = 0;
        if (only_sha1) {
            fail(r, HILT_C_WEAK_SIGNATURE,
                 "profile %s permits only SHA-1 certificate signatures, which this client refuses",
                 p->name);
            return;
        }
    }
    r->connects = 1;
}

json_t *hilt_impact_json(const struct hilt_impact *r)
{
    json_t *o = json_object();
    json_object_set_new(o, "connects", json_boolean(r->connects));
    json_object_set_new(o, "version",
                        r->version >= 0
                            ? json_string(hilt_tls_version_name((enum hilt_tls_version)r->version))
                            : json_null());
    const struct hilt_cipher *c = r->cipher ? hilt_cipher_by_code(r->cipher) : NULL;
    json_object_set_new(o, "cipher", c ? json_string(hilt_cipher_name(c)) : json_null());
    if (c) {
        char hex[8];
        snprintf(hex, sizeof(hex), "0x%04X", c->code);
        json_object_set_new(o, "cipher_code", json_string(hex));
    } else {
        json_object_set_new(o, "cipher_code", json_null());
    }
    const struct hilt_group *g = r->group ? hilt_group_by_code(r->group) : NULL;
    json_object_set_new(o, "group", g ? json_string(g->iana) : json_null());
    json_object_set_new(o, "certificate",
                        r->connects && r->cert ? json_string(r->cert) : json_null());
    json_object_set_new(o, "code",
                        r->connects ? json_null() : json_string(hilt_code_name(r->code)));
    json_object_set_new(o, "reason", r->connects ? json_null() : hilt_json_str(r->reason));
    return o;
}

/* ---- observed clients ------------------------------------------------------ */

static void obs_client_free(struct hilt_observed_client *c)
{
    free(c->ja4);
    free(c->ciphers.v);
    free(c->groups.v);
    free(c->sigalgs.v);
    for (size_t i = 0; i < c->alpn.n; i++)
        free(c->alpn.v[i]);
    free(c->alpn.v);
    for (size_t i = 0; i < c->unknown.n; i++)
        free(c->unknown.v[i]);
    free(c->unknown.v);
    free(c->sni);
}

void hilt_observed_free(struct hilt_observed **op)
{
    if (!op || !*op) return;
    struct hilt_observed *o = *op;
    for (size_t i = 0; i < o->n; i++)
        obs_client_free(&o->v[i]);
    free(o->v);
    free(o->source);
    free(o);
    *op = NULL;
}

struct ol {
    const char *source;
    size_t idx;
    struct hilt_err *e;
};

static int ofail(struct ol *l, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int ofail(struct ol *l, const char *field, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return hilt_err_set(l->e, HILT_E_INPUT, 0, "%s: clients[%zu].%s: %s", l->source, l->idx, field,
                        msg);
}

static int push_unknown(struct hilt_observed_client *c, const char *what, const char *s)
{
    if (c->unknown.n >= 64) return 0;
    char **nv = realloc(c->unknown.v, (c->unknown.n + 1) * sizeof(char *));
    if (!nv) return -1;
    c->unknown.v = nv;
    size_t n = strlen(what) + strlen(s) + 3;
    if (!(nv[c->unknown.n] = malloc(n))) return -1;
    snprintf(nv[c->unknown.n++], n, "%s %s", what, s);
    return 0;
}

static int obs_codes(struct ol *l, json_t *o, const char *key, int kind, int required,
                     struct hilt_observed_client *c, struct hilt_u16list *out)
{
    static const char *const what[] = {"cipher", "group", "sigalg"};
    static const char *const expect[] = {"a cipher suite name", "a group name",
                                         "a signature scheme name"};
    json_t *a = json_object_get(o, key);
    if (!a || json_is_null(a))
        return required ? ofail(l, key, "missing (a list of names is required)") : 0;
    if (!json_is_array(a)) return ofail(l, key, "expected a list of names");
    size_t n = json_array_size(a);
    if (n > 1024) return ofail(l, key, "more than 1024 entries");
    out->v = calloc(n ? n : 1, sizeof(uint16_t));
    if (!out->v) return hilt_err_set(l->e, HILT_E_RUNTIME, 0, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(a, i);
        char f[48];
        snprintf(f, sizeof(f), "%s[%zu]", key, i);
        if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 128)
            return ofail(l, f, "expected %s", expect[kind]);
        const char *s = json_string_value(v);
        uint16_t code = 0;
        int ok = 0;
        if (kind == 0) {
            const struct hilt_cipher *x = hilt_cipher_by_name(s);
            if (x) ok = 1, code = x->code;
        } else if (kind == 1) {
            const struct hilt_group *x = hilt_group_by_name(s);
            if (x) ok = 1, code = x->code;
        } else {
            const struct hilt_sigalg *x = hilt_sigalg_by_name(s);
            if (x) ok = 1, code = x->code;
        }
        if (!ok) {
            if (push_unknown(c, what[kind], s) < 0)
                return hilt_err_set(l->e, HILT_E_RUNTIME, 0, "out of memory");
            continue;
        }
        if (!has(out->v, out->n, code)) out->v[out->n++] = code;
    }
    return 0;
}

/* RFC 3339 (2026-05-01T12:00:00Z, fractions and offsets allowed). */
static int parse_rfc3339(const char *s, time_t *out)
{
    int Y, M, D, h, m, sec, n = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &Y, &M, &D, &h, &m, &sec, &n) != 6 || n != 19)
        return -1;
    if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60 || Y < 1970) return -1;
    const char *p = s + n;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9') return -1;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    long off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om, k = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &k) != 2 || k != 5 || oh > 23 || om > 59)
            return -1;
        off = (oh * 3600L + om * 60L) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return -1;
    }
    if (*p) return -1;
    struct tm tm = {.tm_year = Y - 1900,
                    .tm_mon = M - 1,
                    .tm_mday = D,
                    .tm_hour = h,
                    .tm_min = m,
                    .tm_sec = sec};
    *out = timegm(&tm) - off;
    return 0;
}

static int obs_time(struct ol *l, json_t *o, const char *key, time_t *out)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_string(v) || parse_rfc3339(json_string_value(v), out) < 0)
        return ofail(l, key, "expected an RFC 3339 time such as 2026-05-01T12:00:00Z");
    return 0;
}

static int obs_one(struct ol *l, json_t *o, struct hilt_observed_client *c)
{
    if (!json_is_object(o))
        return hilt_err_set(l->e, HILT_E_INPUT, 0, "%s: clients[%zu]: expected an object",
                            l->source, l->idx);
    json_t *v = json_object_get(o, "ja4");
    if (!v || !json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 128)
        return ofail(l, "ja4", "expected the client's JA4 fingerprint (a string)");
    if (!(c->ja4 = strdup(json_string_value(v))))
        return hilt_err_set(l->e, HILT_E_RUNTIME, 0, "out of memory");
    json_t *vs = json_object_get(o, "versions");
    if (!vs || !json_is_array(vs) || json_array_size(vs) == 0 || json_array_size(vs) > 16)
        return ofail(l, "versions", "expected a non-empty list such as [\"TLSv1.3\", \"TLSv1.2\"]");
    for (size_t i = 0; i < json_array_size(vs); i++) {
        json_t *x = json_array_get(vs, i);
        enum hilt_tls_version tv;
        char f[32];
        snprintf(f, sizeof(f), "versions[%zu]", i);
        if (!json_is_string(x) || hilt_tls_version_parse(json_string_value(x), &tv) < 0)
            return ofail(l, f, "expected SSLv3, TLSv1.0, TLSv1.1, TLSv1.2 or TLSv1.3");
        c->versions |= HILT_VERSION_BIT(tv);
    }
    if (obs_codes(l, o, "ciphers", 0, 1, c, &c->ciphers) < 0 ||
        obs_codes(l, o, "groups", 1, 0, c, &c->groups) < 0 ||
        obs_codes(l, o, "sigalgs", 2, 0, c, &c->sigalgs) < 0)
        return -1;
    json_t *al = json_object_get(o, "alpn");
    if (al && !json_is_null(al)) {
        if (!json_is_array(al) || json_array_size(al) > 64)
            return ofail(l, "alpn", "expected a list of protocol names");
        c->alpn.v = calloc(json_array_size(al) + 1, sizeof(char *));
        if (!c->alpn.v) return hilt_err_set(l->e, HILT_E_RUNTIME, 0, "out of memory");
        for (size_t i = 0; i < json_array_size(al); i++) {
            json_t *x = json_array_get(al, i);
            char f[32];
            snprintf(f, sizeof(f), "alpn[%zu]", i);
            if (!json_is_string(x) || json_string_length(x) == 0 || json_string_length(x) > 255)
                return ofail(l, f, "expected a protocol name");
            if (!(c->alpn.v[c->alpn.n++] = strdup(json_string_value(x))))
                return hilt_err_set(l->e, HILT_E_RUNTIME, 0, "out of memory");
        }
    }
    json_t *sni = json_object_get(o, "sni");
    if (sni && !json_is_null(sni)) {
        if (!json_is_string(sni) || json_string_length(sni) > 255)
            return ofail(l, "sni", "expected a host name or null");
        if (!(c->sni = strdup(json_string_value(sni))))
            return hilt_err_set(l->e, HILT_E_RUNTIME, 0, "out of memory");
    }
    json_t *cnt = json_object_get(o, "count");
    c->count = 1;
    if (cnt) {
        if (!json_is_integer(cnt) || json_integer_value(cnt) < 0)
            return ofail(l, "count", "expected a whole number of handshakes");
        c->count = (unsigned long long)json_integer_value(cnt);
    }
    if (obs_time(l, o, "first_seen", &c->first_seen) < 0 ||
        obs_time(l, o, "last_seen", &c->last_seen) < 0)
        return -1;
    return 0;
}

int hilt_observed_load_mem(const void *data, size_t len, const char *source,
                           struct hilt_observed **out, struct hilt_err *e)
{
    *out = NULL;
    if (!source) source = "observed";
    if (len > HILT_OBSERVED_MAX_BYTES)
        return hilt_err_set(e, HILT_E_INPUT, 0, "%s: larger than %d bytes", source,
                            HILT_OBSERVED_MAX_BYTES);
    json_t *root = hilt_json_parse(data, len, source, e);
    if (!root) return -1;
    int rc = -1;
    struct hilt_observed *ob = calloc(1, sizeof(*ob));
    if (!ob || !(ob->source = strdup(source))) {
        hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
        goto out;
    }
    json_t *list = json_is_object(root) ? json_object_get(root, "clients") : NULL;
    if (!json_is_array(list)) {
        hilt_err_set(
            e, HILT_E_INPUT, 0,
            "%s: clients: expected {\"clients\": [...]} as served by hilt gateway's GET /observed",
            source);
        goto out;
    }
    size_t n = json_array_size(list);
    if (n > HILT_OBSERVED_MAX) {
        hilt_err_set(e, HILT_E_INPUT, 0, "%s: clients: more than %d entries", source,
                     HILT_OBSERVED_MAX);
        goto out;
    }
    ob->v = calloc(n ? n : 1, sizeof(*ob->v));
    if (!ob->v) {
        hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        struct ol l = {source, i, e};
        ob->n = i + 1;
        if (obs_one(&l, json_array_get(list, i), &ob->v[i]) < 0) goto out;
    }
    *out = ob;
    ob = NULL;
    rc = 0;
out:
    hilt_observed_free(&ob);
    json_decref(root);
    return rc;
}

int hilt_observed_load(const char *src, int timeout_ms, struct hilt_observed **out,
                       struct hilt_err *e)
{
    *out = NULL;
    if (!strncasecmp(src, "https://", 8))
        return hilt_err_set(e, HILT_E_USAGE, 0,
                            "%s: only http:// URLs are fetched (the gateway's admin listener)",
                            src);
    if (strncasecmp(src, "http://", 7)) {
        struct hilt_buf b;
        hilt_buf_init(&b, HILT_OBSERVED_MAX_BYTES);
        int rc = hilt_file_read(src, &b, e);
        if (rc == 0) rc = hilt_observed_load_mem(b.data, b.len, src, out, e);
        hilt_buf_free(&b);
        return rc;
    }
    struct hilt_http_resp resp;
    hilt_http_resp_init(&resp, HILT_OBSERVED_MAX_BYTES);
    int rc = -1;
    if (hilt_http_fetch("GET", src, NULL, NULL, 0, timeout_ms, &resp, e) < 0) {
        /* An unreachable source is bad input to this command, not a finding. */
        char msg[HILT_ERR_MSG_MAX];
        snprintf(msg, sizeof(msg), "%s", e ? e->msg : "fetch failed");
        hilt_err_set(e, HILT_E_INPUT, 0, "%s: cannot fetch: %s", src, msg);
        goto out;
    }
    if (resp.status != 200) {
        hilt_err_set(e, HILT_E_INPUT, 0,
                     "%s: HTTP %d (expected 200 with the observed-clients JSON)", src, resp.status);
        goto out;
    }
    rc = hilt_observed_load_mem(resp.body.data, resp.body.len, src, out, e);
out:
    hilt_http_resp_free(&resp);
    return rc;
}

void hilt_offer_from_observed(const struct hilt_observed_client *c, struct hilt_offer *o)
{
    memset(o, 0, sizeof(*o));
    o->label = c->ja4;
    o->versions = c->versions;
    o->ciphers = c->ciphers.v;
    o->nciphers = c->ciphers.n;
    o->groups = c->groups.v;
    o->ngroups = c->groups.n;
    /* The key shares are not published; clients send them for their first group. */
    o->key_shares = c->groups.v;
    o->nkey_shares = c->groups.n ? 1 : 0;
    o->sigalgs = c->sigalgs.v;
    o->nsigalgs = c->sigalgs.n;
    o->sha1 = HILT_SHA1_ACCEPT;
    o->legacy_kx_signatures = 1;
}
