/* render.c - one resolved profile rendered as configuration for other stacks.
 *
 * A target is a row in `targets`: its comment prefix, its spelling of each
 * protocol version, and one small function that writes its directives over
 * the same model through shared helpers (cipher, group and signature lists in
 * the stack's own names). Whatever a stack cannot express is collected as a
 * note and printed, as comments, above the directives: the output never
 * silently enforces less than the profile says.
 */
#include "policy/policy.h"

#include "core/buf.h"
#include "core/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct rctx;

struct target {
    const char *name;
    const char *summary;
    const char *cmt; /* comment prefix */
    const char *ver[HILT_TLS_VERSION_COUNT];
    void (*render)(struct rctx *r);
};

struct rctx {
    const struct hilt_profile *p;
    const struct target *t;
    struct hilt_buf body, notes, tmp;
    int oom;
};

/* ---- output helpers ----------------------------------------------------- */

static void out(struct rctx *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out(struct rctx *r, const char *fmt, ...)
{
    char line[8192];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(line) || hilt_buf_add_str(&r->body, line) < 0) r->oom = 1;
}

/* A part of the profile this stack cannot enforce; printed as a comment. */
static void note(struct rctx *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct rctx *r, const char *fmt, ...)
{
    char line[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0 || hilt_buf_addf(&r->notes, "%s - %s\n", r->t->cmt, line) < 0) r->oom = 1;
}

enum naming { N_OPENSSL, N_IANA, N_BORING, N_JAVA };

/* Ciphers BoringSSL (Envoy) implements for TLS 1.0-1.2. */
static const uint16_t boring_ciphers[] = {
    0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8, 0xC009, 0xC013, 0xC00A, 0xC014,
    0x009C, 0x009D, 0x002F, 0x0035, 0x000A, 0x008C, 0x008D, 0xC035, 0xC036, 0xCCAC,
};

static int boring_has(uint16_t code)
{
    for (size_t i = 0; i < sizeof(boring_ciphers) / sizeof(boring_ciphers[0]); i++)
        if (boring_ciphers[i] == code) return 1;
    return 0;
}

/* SunJSSE (JDK 11+) implements none of these families. */
#define JAVA_MISSING                                                                               \
    (HILT_CF_CCM | HILT_CF_CCM8 | HILT_CF_ARIA | HILT_CF_CAMELLIA | HILT_CF_SEED | HILT_CF_IDEA |  \
     HILT_CF_GOST | HILT_CF_PSK | HILT_CF_SRP | HILT_CF_KRB5 | HILT_CF_RC2 | HILT_CF_EXPORT |      \
     HILT_CF_NONSTD)

/* The cipher name in the stack's naming, or NULL when it cannot use it. */
static const char *cipher_for(const struct hilt_cipher *c, enum naming nm)
{
    switch (nm) {
    case N_OPENSSL:
        return c->openssl;
    case N_IANA:
        return c->iana;
    case N_BORING:
        return boring_has(c->code) ? c->openssl : NULL;
    case N_JAVA:
        return (c->flags & JAVA_MISSING) ? NULL : c->iana;
    }
    return NULL;
}

static const char *stack_label(enum naming nm)
{
    switch (nm) {
    case N_OPENSSL:
        return "OpenSSL";
    case N_BORING:
        return "BoringSSL (Envoy)";
    case N_JAVA:
        return "Java (SunJSSE)";
    default:
        return "this stack";
    }
}

/* Join a cipher list into r->tmp with `sep`; note the ones left out. */
static const char *ciphers_joined(struct rctx *r, const struct hilt_u16list *l, const char *sep,
                                  enum naming nm)
{
    char missing[2048] = "";
    size_t ml = 0;
    hilt_buf_reset(&r->tmp);
    hilt_buf_add_str(&r->tmp, "");
    for (size_t i = 0; i < l->n; i++) {
        const struct hilt_cipher *c = hilt_cipher_by_code(l->v[i]);
        const char *name = c ? cipher_for(c, nm) : NULL;
        if (!name) {
            if (ml < sizeof(missing) - 80)
                ml += (size_t)snprintf(missing + ml, sizeof(missing) - ml, "%s%s", ml ? ", " : "",
                                       c ? hilt_cipher_name(c) : "?");
            continue;
        }
        if (r->tmp.len && hilt_buf_add_str(&r->tmp, sep) < 0) r->oom = 1;
        if (hilt_buf_add_str(&r->tmp, name) < 0) r->oom = 1;
    }
    if (ml)
        note(r, "%s cannot name these ciphers, so they are left out: %s", stack_label(nm), missing);
    return hilt_buf_cstr(&r->tmp);
}

/* Ciphers OpenSSL 3 names but its default build leaves out (3DES, RC4, ...). */
static void note_ossl3_missing(struct rctx *r, const struct hilt_u16list *l)
{
    char missing[1024] = "";
    size_t ml = 0;
    for (size_t i = 0; i < l->n; i++) {
        const struct hilt_cipher *c = hilt_cipher_by_code(l->v[i]);
        if (c && c->openssl && !(c->flags & HILT_CF_OSSL3) && ml < sizeof(missing) - 80)
            ml += (size_t)snprintf(missing + ml, sizeof(missing) - ml, "%s%s", ml ? ", " : "",
                                   c->openssl);
    }
    if (ml)
        note(r,
             "OpenSSL 3 as shipped (Debian 12, no-weak-ssl-ciphers) does not implement %s; "
             "a server built on it will not offer them",
             missing);
}

enum gnaming { G_OPENSSL, G_NIST, G_JAVA };

static const char *groups_joined(struct rctx *r, const char *sep, enum gnaming gn)
{
    char missing[512] = "";
    size_t ml = 0;
    hilt_buf_reset(&r->tmp);
    hilt_buf_add_str(&r->tmp, "");
    for (size_t i = 0; i < r->p->groups.n; i++) {
        const struct hilt_group *g = hilt_group_by_code(r->p->groups.v[i]);
        const char *name = NULL;
        if (g) switch (gn) {
            case G_OPENSSL:
                name = (g->flags & HILT_GF_OSSL3) ? g->openssl : NULL;
                break;
            case G_NIST:
                name = (g->code == 29 || g->code == 0x11EC) ? g->openssl : g->nist;
                if (g->code > 25 && g->code != 29 && g->code != 0x11EC) name = NULL;
                break;
            case G_JAVA:
                name = (g->code >= 23 && g->code <= 25) || g->code == 29 || g->code == 30 ||
                               (g->flags & HILT_GF_FFDHE)
                           ? g->iana
                           : NULL;
                break;
            }
        if (!name) {
            if (ml < sizeof(missing) - 40)
                ml += (size_t)snprintf(missing + ml, sizeof(missing) - ml, "%s%s", ml ? ", " : "",
                                       g ? g->iana : "?");
            continue;
        }
        if (r->tmp.len) hilt_buf_add_str(&r->tmp, sep);
        hilt_buf_add_str(&r->tmp, name);
    }
    if (ml) note(r, "this stack cannot use these groups, so they are left out: %s", missing);
    return hilt_buf_cstr(&r->tmp);
}

static const char *sigalgs_joined(struct rctx *r, const char *sep)
{
    hilt_buf_reset(&r->tmp);
    hilt_buf_add_str(&r->tmp, "");
    for (size_t i = 0; i < r->p->signature_algorithms.n; i++) {
        const struct hilt_sigalg *s = hilt_sigalg_by_code(r->p->signature_algorithms.v[i]);
        if (!s) continue;
        if (r->tmp.len) hilt_buf_add_str(&r->tmp, sep);
        hilt_buf_add_str(&r->tmp, s->iana);
    }
    return hilt_buf_cstr(&r->tmp);
}

/* Versions as the target spells them, each with `prefix`, joined by sep. */
static const char *versions_joined(struct rctx *r, const char *prefix, const char *sep)
{
    hilt_buf_reset(&r->tmp);
    hilt_buf_add_str(&r->tmp, "");
    for (int v = 0; v < HILT_TLS_VERSION_COUNT; v++)
        if (r->p->versions & HILT_VERSION_BIT(v))
            hilt_buf_addf(&r->tmp, "%s%s%s", r->tmp.len ? sep : "", prefix, r->t->ver[v]);
    return hilt_buf_cstr(&r->tmp);
}

static int has_pre13(const struct hilt_profile *p)
{
    return (p->versions & (HILT_VERSION_BIT(HILT_TLS13) - 1)) != 0;
}

static int has_tls13(const struct hilt_profile *p)
{
    return (p->versions & HILT_VERSION_BIT(HILT_TLS13)) != 0;
}

static int any_cipher_flag(const struct hilt_profile *p, uint32_t flags)
{
    for (size_t i = 0; i < p->ciphers.n; i++) {
        const struct hilt_cipher *c = hilt_cipher_by_code(p->ciphers.v[i]);
        if (c && (c->flags & flags)) return 1;
    }
    return 0;
}

static int any_dhe(const struct hilt_profile *p)
{
    for (size_t i = 0; i < p->ciphers.n; i++) {
        const struct hilt_cipher *c = hilt_cipher_by_code(p->ciphers.v[i]);
        if (c && (!strcmp(c->kx, "DHE") || !strcmp(c->kx, "DHE_PSK"))) return 1;
    }
    return 0;
}

/* OpenSSL 3 allows TLS 1.0/1.1 (SHA-1/MD5 PRF and signatures) only at
 * security level 0, so a profile that enables them needs @SECLEVEL=0. */
static int needs_seclevel0(const struct hilt_profile *p)
{
    return (p->versions & (HILT_VERSION_BIT(HILT_SSL3) | HILT_VERSION_BIT(HILT_TLS10) |
                           HILT_VERSION_BIT(HILT_TLS11))) != 0;
}

static const char *ossl_cipher_string(struct rctx *r)
{
    const char *s = ciphers_joined(r, &r->p->ciphers, ":", N_OPENSSL);
    if (needs_seclevel0(r->p)) {
        hilt_buf_add_str(&r->tmp, ":@SECLEVEL=0");
        note(r, "@SECLEVEL=0 is appended: OpenSSL 3 refuses TLS 1.0/1.1 at security level 1 "
                "and above; it also lowers the key-size floor, so keep certificate sizes per the "
                "profile");
        s = hilt_buf_cstr(&r->tmp);
    }
    return s;
}

/* Notes every OpenSSL-based stack shares. */
static void ossl_common_notes(struct rctx *r)
{
    if (r->p->versions & HILT_VERSION_BIT(HILT_SSL3))
        note(r, "SSLv3 cannot be enabled: OpenSSL 3 as shipped is built without it");
    note_ossl3_missing(r, &r->p->ciphers);
}

static void cert_note(struct rctx *r)
{
    const struct hilt_cert_rules *c = &r->p->certificate;
    char s[600] = "";
    size_t l = 0;
    if (c->key_types) {
        l += (size_t)snprintf(s + l, sizeof(s) - l, "key types");
        for (unsigned b = 1; b <= HILT_KEYTYPE_DSA; b <<= 1)
            if (c->key_types & b)
                l += (size_t)snprintf(s + l, sizeof(s) - l, " %s", hilt_key_type_name(b));
    }
    if (c->rsa_min_bits)
        l += (size_t)snprintf(s + l, sizeof(s) - l, "%sRSA >= %d bits", l ? "; " : "",
                              c->rsa_min_bits);
    if (c->ecdsa_curves.n) {
        l += (size_t)snprintf(s + l, sizeof(s) - l, "%sECDSA curves", l ? "; " : "");
        for (size_t i = 0; i < c->ecdsa_curves.n; i++) {
            const struct hilt_group *g = hilt_group_by_code(c->ecdsa_curves.v[i]);
            l += (size_t)snprintf(s + l, sizeof(s) - l, " %s", g ? g->openssl : "?");
        }
    }
    if (c->max_lifetime_days)
        l += (size_t)snprintf(s + l, sizeof(s) - l, "%slifetime <= %d days", l ? "; " : "",
                              c->max_lifetime_days);
    for (size_t i = 0; i < c->required_eku.n && l < sizeof(s) - 60; i++)
        l +=
            (size_t)snprintf(s + l, sizeof(s) - l, "%sEKU %s", l ? "; " : "", c->required_eku.v[i]);
    if (l)
        note(r,
             "certificate rules (%s) describe the certificate you deploy; %s configuration "
             "cannot enforce them (hilt scan checks them)",
             s, r->t->name);
}

static void client_subject_note(struct rctx *r)
{
    const struct hilt_client_cert_rules *cc = &r->p->client_certificate;
    if (cc->allowed_issuers.n || cc->subjects.n)
        note(r,
             "client certificate issuer/subject rules (%zu issuer, %zu subject patterns) "
             "are not expressible here; enforce them in the application or an ACL",
             cc->allowed_issuers.n, cc->subjects.n);
}

/* The client-certificate mode with no CA file cannot be switched on safely. */
static int client_ca_missing(struct rctx *r)
{
    const struct hilt_client_cert_rules *cc = &r->p->client_certificate;
    if (cc->mode == HILT_CLIENT_CERT_NONE || cc->ca_file) return 0;
    note(r,
         "client certificates are %s but the profile names no client_certificate.ca_file; "
         "the directives below are commented out until you set it",
         cc->mode == HILT_CLIENT_CERT_REQUIRED ? "required" : "optional");
    return 1;
}

/* ---- targets ------------------------------------------------------------ */

static void r_nginx(struct rctx *r)
{
    const struct hilt_profile *p = r->p;
    ossl_common_notes(r);
    out(r, "ssl_protocols %s;\n", versions_joined(r, "", " "));
    if (has_pre13(p)) out(r, "ssl_ciphers %s;\n", ossl_cipher_string(r));
    if (has_tls13(p))
        out(r, "ssl_conf_command Ciphersuites %s;\n",
            ciphers_joined(r, &p->tls13_ciphersuites, ":", N_OPENSSL));
    if (p->groups.n) out(r, "ssl_ecdh_curve %s;\n", groups_joined(r, ":", G_OPENSSL));
    if (p->signature_algorithms.n)
        out(r, "ssl_conf_command SignatureAlgorithms %s;\n", sigalgs_joined(r, ":"));
    out(r, "ssl_prefer_server_ciphers %s;\n", p->server_preference ? "on" : "off");
    if (has_pre13(p) && any_dhe(p))
        note(r,
             "nginx offers the DHE suites only with 'ssl_dhparam FILE;' (>= %d bits, e.g. "
             "RFC 7919 ffdhe2048); the file is site-specific, so it is not rendered",
             p->dh_min_bits > 2048 ? p->dh_min_bits : 2048);
    if (p->certificate.ocsp_stapling) {
        out(r, "ssl_stapling on;\nssl_stapling_verify on;\n");
        out(r, "%s stapling also needs 'resolver ADDR;' and 'ssl_trusted_certificate CHAIN;'\n",
            r->t->cmt);
    }
    const struct hilt_client_cert_rules *cc = &p->client_certificate;
    if (cc->mode != HILT_CLIENT_CERT_NONE) {
        const char *c = client_ca_missing(r) ? "# " : "";
        out(r, "%sssl_verify_client %s;\n", c,
            cc->mode == HILT_CLIENT_CERT_REQUIRED ? "on" : "optional");
        out(r, "%sssl_client_certificate %s;\n", c,
            cc->ca_file ? cc->ca_file : "/path/to/client-ca.pem");
        client_subject_note(r);
    }
}

static void haproxy_bind_opts(struct rctx *r, struct hilt_buf *b)
{
    const struct hilt_profile *p = r->p;
    int lo = hilt_profile_min_version(p), hi = hilt_profile_max_version(p);
    hilt_buf_addf(b, "ssl-min-ver %s ssl-max-ver %s", r->t->ver[lo], r->t->ver[hi]);
    /* A gap inside the range: HAProxy still has the per-version switches. */
    static const char *const no[] = {"no-sslv3", "no-tlsv10", "no-tlsv11", "no-tlsv12",
                                     "no-tlsv13"};
    for (int v = lo; v <= hi; v++)
        if (!(p->versions & HILT_VERSION_BIT(v))) hilt_buf_addf(b, " %s", no[v]);
    if (!p->server_preference) hilt_buf_add_str(b, " prefer-client-ciphers");
}

static void r_haproxy(struct rctx *r)
{
    const struct hilt_profile *p = r->p;
    struct hilt_buf opts, bind;
    hilt_buf_init(&opts, 4096);
    hilt_buf_init(&bind, 16384);
    ossl_common_notes(r);
    haproxy_bind_opts(r, &opts);
    out(r, "global\n");
    hilt_buf_addf(&bind, "bind :443 ssl crt /etc/haproxy/certs/site.pem %s", hilt_buf_cstr(&opts));
    if (has_pre13(p)) {
        const char *c = ossl_cipher_string(r);
        out(r, "    ssl-default-bind-ciphers %s\n", c);
        hilt_buf_addf(&bind, " ciphers %s", c);
    }
    if (has_tls13(p)) {
        const char *c = ciphers_joined(r, &p->tls13_ciphersuites, ":", N_OPENSSL);
        out(r, "    ssl-default-bind-ciphersuites %s\n", c);
        hilt_buf_addf(&bind, " ciphersuites %s", c);
    }
    out(r, "    ssl-default-bind-options %s\n", hilt_buf_cstr(&opts));
    if (p->groups.n) {
        const char *g = groups_joined(r, ":", G_OPENSSL);
        out(r, "    ssl-default-bind-curves %s\n", g);
        hilt_buf_addf(&bind, " curves %s", g);
    }
    if (has_pre13(p) && any_dhe(p))
        out(r, "    tune.ssl.default-dh-param %d\n", p->dh_min_bits > 2048 ? p->dh_min_bits : 2048);
    if (p->signature_algorithms.n)
        note(r,
             "HAProxy 2.6 (Debian 12) has no sigalgs keyword; on HAProxy 2.8 and later add "
             "'ssl-default-bind-sigalgs %s'",
             sigalgs_joined(r, ":"));
    if (p->certificate.ocsp_stapling)
        note(r, "OCSP stapling: HAProxy staples the response it finds in <crt>.ocsp; keep that "
                "file fresh (HAProxy 2.8+: 'ocsp-update on' in a crt-list)");
    const struct hilt_client_cert_rules *cc = &p->client_certificate;
    if (cc->mode != HILT_CLIENT_CERT_NONE) {
        int missing = client_ca_missing(r);
        hilt_buf_addf(&bind, " verify %s ca-file %s",
                      cc->mode == HILT_CLIENT_CERT_REQUIRED ? "required" : "optional",
                      cc->ca_file ? cc->ca_file : "/path/to/client-ca.pem");
        note(r, "client certificates are set per listener only: see the bind line below%s",
             missing ? " (and set ca-file)" : "");
        client_subject_note(r);
    }
    out(r, "\n%s The same policy on one listener (bind options override the defaults above):\n",
        r->t->cmt);
    out(r, "%s   %s\n", r->t->cmt, hilt_buf_cstr(&bind));
    if (bind.len >= bind.max - 1 || opts.len >= opts.max - 1) r->oom = 1;
    hilt_buf_free(&opts);
    hilt_buf_free(&bind);
}

static void r_apache(struct rctx *r)
{
    const struct hilt_profile *p = r->p;
    ossl_common_notes(r);
    out(r, "SSLProtocol -all %s\n", versions_joined(r, "+", " "));
    if (has_pre13(p)) out(r, "SSLCipherSuite %s\n", ossl_cipher_string(r));
    if (has_tls13(p))
        out(r, "SSLCipherSuite TLSv1.3 %s\n",
            ciphers_joined(r, &p->tls13_ciphersuites, ":", N_OPENSSL));
    if (p->groups.n) out(r, "SSLOpenSSLConfCmd Groups %s\n", groups_joined(r, ":", G_OPENSSL));
    if (p->signature_algorithms.n)
        out(r, "SSLOpenSSLConfCmd SignatureAlgorithms %s\n", sigalgs_joined(r, ":"));
    out(r, "SSLHonorCipherOrder %s\n", p->server_preference ? "on" : "off");
    if (has_pre13(p) && any_dhe(p))
        note(r,
             "the DHE suites need 'SSLOpenSSLConfCmd DHParameters FILE' (>= %d bits); the file "
             "is site-specific, so it is not rendered",
             p->dh_min_bits > 2048 ? p->dh_min_bits : 2048);
    if (p->certificate.ocsp_stapling) {
        out(r, "SSLUseStapling On\n");
        out(r,
            "%s SSLStaplingCache \"shmcb:logs/ssl_stapling(32768)\"   (server level, outside "
            "<VirtualHost>)\n",
            r->t->cmt);
    }
    const struct hilt_client_cert_rules *cc = &p->client_certificate;
    if (cc->mode != HILT_CLIENT_CERT_NONE) {
        const char *c = client_ca_missing(r) ? "# " : "";
        out(r, "%sSSLVerifyClient %s\n", c,
            cc->mode == HILT_CLIENT_CERT_REQUIRED ? "require" : "optional");
        out(r, "%sSSLCACertificateFile %s\n", c,
            cc->ca_file ? cc->ca_file : "/path/to/client-ca.pem");
        client_subject_note(r);
    }
}

static void yaml_list(struct rctx *r, const char *indent, const char *key, const char *joined)
{
    out(r, "%s%s:\n", indent, key);
    const char *s = joined;
    while (*s) {
        const char *e = strchr(s, ':');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        out(r, "%s- \"%.*s\"\n", indent, (int)n, s);
        s += n + (e ? 1 : 0);
    }
}

static void r_envoy(struct rctx *r)
{
    const struct hilt_profile *p = r->p;
    int lo = hilt_profile_min_version(p), hi = hilt_profile_max_version(p);
    if (lo == HILT_SSL3) {
        note(r, "Envoy (BoringSSL) has no SSLv3; the minimum is rendered as TLSv1_0");
        lo = HILT_TLS10;
    }
    if (!hilt_profile_versions_contiguous(p))
        note(r,
             "Envoy takes a version range only; the versions missing inside %s..%s stay "
             "enabled",
             r->t->ver[lo], r->t->ver[hi]);
    out(r, "common_tls_context:\n  tls_params:\n");
    out(r, "    tls_minimum_protocol_version: %s\n", r->t->ver[lo]);
    out(r, "    tls_maximum_protocol_version: %s\n", r->t->ver[hi]);
    if (has_pre13(p))
        yaml_list(r, "    ", "cipher_suites", ciphers_joined(r, &p->ciphers, ":", N_BORING));
    if (p->groups.n) yaml_list(r, "    ", "ecdh_curves", groups_joined(r, ":", G_NIST));
    if (p->signature_algorithms.n)
        yaml_list(r, "    ", "signature_algorithms", sigalgs_joined(r, ":"));
    if (has_tls13(p)) {
        static const uint16_t fixed[] = {0x1301, 0x1302, 0x1303};
        int same = p->tls13_ciphersuites.n == 3;
        for (size_t i = 0; same && i < 3; i++) {
            int found = 0;
            for (size_t j = 0; j < 3; j++)
                found |= p->tls13_ciphersuites.v[j] == fixed[i];
            same = found;
        }
        if (!same)
            note(r, "BoringSSL's TLS 1.3 suites are fixed (AES-128-GCM, AES-256-GCM, "
                    "CHACHA20-POLY1305); the profile's TLS 1.3 list cannot be set");
    }
    note(r,
         "cipher order: BoringSSL applies the server's order; the profile's "
         "server_preference=%s is not configurable",
         p->server_preference ? "true" : "false");
    if (has_pre13(p) && any_dhe(p)) note(r, "BoringSSL has no DHE key exchange");
    const struct hilt_client_cert_rules *cc = &p->client_certificate;
    const char *c = "";
    if (cc->mode != HILT_CLIENT_CERT_NONE) {
        c = client_ca_missing(r) ? "# " : "";
        out(r, "%s  validation_context:\n%s    trusted_ca:\n%s      filename: \"%s\"\n", c, c, c,
            cc->ca_file ? cc->ca_file : "/path/to/client-ca.pem");
    }
    if (p->certificate.ocsp_stapling)
        out(r, "ocsp_staple_policy: MUST_STAPLE   %s give each tls_certificates[] an ocsp_staple\n",
            r->t->cmt);
    if (cc->mode != HILT_CLIENT_CERT_NONE) {
        out(r, "%srequire_client_certificate: %s\n", c,
            cc->mode == HILT_CLIENT_CERT_REQUIRED ? "true" : "false");
        client_subject_note(r);
    }
}

static void r_openssl(struct rctx *r)
{
    const struct hilt_profile *p = r->p;
    int lo = hilt_profile_min_version(p), hi = hilt_profile_max_version(p);
    ossl_common_notes(r);
    if (!hilt_profile_versions_contiguous(p))
        note(r,
             "MinProtocol/MaxProtocol take a range; the versions missing inside it stay enabled");
    out(r, "openssl_conf = hilt_openssl_init\n\n[hilt_openssl_init]\nssl_conf = hilt_ssl_sect\n\n"
           "[hilt_ssl_sect]\nsystem_default = system_default_sect\n\n[system_default_sect]\n");
    out(r, "MinProtocol = %s\nMaxProtocol = %s\n", r->t->ver[lo], r->t->ver[hi]);
    if (has_pre13(p)) out(r, "CipherString = %s\n", ossl_cipher_string(r));
    /* Empty when TLS 1.3 is off, so the suite list OpenSSL reports is exact. */
    if (has_tls13(p))
        out(r, "Ciphersuites = %s\n", ciphers_joined(r, &p->tls13_ciphersuites, ":", N_OPENSSL));
    else
        out(r, "Ciphersuites =\n");
    if (p->groups.n) out(r, "Groups = %s\n", groups_joined(r, ":", G_OPENSSL));
    if (p->signature_algorithms.n) out(r, "SignatureAlgorithms = %s\n", sigalgs_joined(r, ":"));
    if (p->server_preference) out(r, "Options = ServerPreference\n");
    if (p->certificate.ocsp_stapling)
        note(r, "OCSP stapling is set by each server program, not in OpenSSL's configuration");
    if (has_pre13(p) && any_dhe(p))
        note(r, "DHE needs each server program to load DH parameters (>= %d bits)",
             p->dh_min_bits > 2048 ? p->dh_min_bits : 2048);
    const struct hilt_client_cert_rules *cc = &p->client_certificate;
    if (cc->mode != HILT_CLIENT_CERT_NONE) {
        const char *c = client_ca_missing(r) ? "# " : "";
        out(r, "%sVerifyMode = %s\n", c,
            cc->mode == HILT_CLIENT_CERT_REQUIRED ? "Request,Require" : "Request");
        out(r, "%sVerifyCAFile = %s\n", c, cc->ca_file ? cc->ca_file : "/path/to/client-ca.pem");
        client_subject_note(r);
    }
}

static void r_java(struct rctx *r)
{
    const struct hilt_profile *p = r->p;
    struct hilt_buf dis;
    hilt_buf_init(&dis, 4096);
    /* jdk.tls.disabledAlgorithms replaces the JDK's list, so it restates the
     * JDK defaults the profile does not need, plus the profile's own floor. */
    for (int v = 0; v < HILT_TLS_VERSION_COUNT; v++)
        if (!(p->versions & HILT_VERSION_BIT(v)))
            hilt_buf_addf(&dis, "%s%s", dis.len ? ", " : "", r->t->ver[v]);
    hilt_buf_addf(&dis, "%sDTLSv1.0", dis.len ? ", " : "");
    static const struct {
        uint32_t flag;
        const char *name;
    } weak[] = {{HILT_CF_RC4, "RC4"},
                {HILT_CF_DES, "DES"},
                {HILT_CF_3DES, "3DES_EDE_CBC"},
                {HILT_CF_NULL, "NULL"},
                {HILT_CF_ANON, "anon"}};
    for (size_t i = 0; i < sizeof(weak) / sizeof(weak[0]); i++)
        if (!any_cipher_flag(p, weak[i].flag)) hilt_buf_addf(&dis, ", %s", weak[i].name);
    int static_ecdh = 0;
    for (size_t i = 0; i < p->ciphers.n; i++) {
        const struct hilt_cipher *c = hilt_cipher_by_code(p->ciphers.v[i]);
        if (c && !strcmp(c->kx, "ECDH")) static_ecdh = 1;
    }
    if (!static_ecdh) hilt_buf_add_str(&dis, ", ECDH");
    hilt_buf_addf(&dis, ", MD5withRSA, DH keySize < %d, EC keySize < 224",
                  p->dh_min_bits > 1024 ? p->dh_min_bits : 1024);
    if (p->certificate.rsa_min_bits)
        hilt_buf_addf(&dis, ", RSA keySize < %d", p->certificate.rsa_min_bits);
    hilt_buf_add_str(&dis, ", include jdk.disabled.namedCurves");
    out(r, "jdk.tls.disabledAlgorithms=%s\n", hilt_buf_cstr(&dis));
    hilt_buf_free(&dis);

    /* System properties: they cannot live in a security properties file. */
    out(r,
        "\n%s JVM system properties (JDK_JAVA_OPTIONS or an @argfile; strip the leading '%s '):\n",
        r->t->cmt, r->t->cmt);
    const char *vers = versions_joined(r, "", ",");
    out(r, "%s -Djdk.tls.server.protocols=%s\n", r->t->cmt, vers);
    out(r, "%s -Djdk.tls.client.protocols=%s\n", r->t->cmt, vers);
    out(r, "%s -Dhttps.protocols=%s\n", r->t->cmt, vers);
    struct hilt_buf cs;
    hilt_buf_init(&cs, 16384);
    if (has_tls13(p)) hilt_buf_add_str(&cs, ciphers_joined(r, &p->tls13_ciphersuites, ",", N_JAVA));
    if (has_pre13(p)) {
        const char *c = ciphers_joined(r, &p->ciphers, ",", N_JAVA);
        if (*c) hilt_buf_addf(&cs, "%s%s", cs.len ? "," : "", c);
    }
    out(r, "%s -Djdk.tls.server.cipherSuites=%s\n", r->t->cmt, hilt_buf_cstr(&cs));
    out(r, "%s -Djdk.tls.client.cipherSuites=%s\n", r->t->cmt, hilt_buf_cstr(&cs));
    hilt_buf_free(&cs);
    if (p->groups.n)
        out(r, "%s -Djdk.tls.namedGroups=%s\n", r->t->cmt, groups_joined(r, ",", G_JAVA));
    if (p->signature_algorithms.n) {
        const char *s = sigalgs_joined(r, ",");
        out(r, "%s -Djdk.tls.server.SignatureSchemes=%s\n", r->t->cmt, s);
        out(r, "%s -Djdk.tls.client.SignatureSchemes=%s\n", r->t->cmt, s);
    }
    if (has_pre13(p) && any_dhe(p))
        out(r, "%s -Djdk.tls.ephemeralDHKeySize=%d\n", r->t->cmt,
            p->dh_min_bits > 2048 ? p->dh_min_bits : 2048);
    if (p->certificate.ocsp_stapling)
        out(r, "%s -Djdk.tls.server.enableStatusRequestExtension=true\n", r->t->cmt);
    note(r,
         "cipher order: SunJSSE follows the server's order only when the application calls "
         "SSLParameters.setUseCipherSuitesOrder(%s)",
         p->server_preference ? "true" : "false");
    if (p->client_certificate.mode != HILT_CLIENT_CERT_NONE)
        note(r,
             "client certificates (%s) are set by the server (setNeedClientAuth / "
             "setWantClientAuth, or e.g. Tomcat certificateVerification) with a trust store "
             "holding %s",
             p->client_certificate.mode == HILT_CLIENT_CERT_REQUIRED ? "required" : "optional",
             p->client_certificate.ca_file ? p->client_certificate.ca_file : "the client CA");
    client_subject_note(r);
}

static void r_stunnel(struct rctx *r)
{
    const struct hilt_profile *p = r->p;
    int lo = hilt_profile_min_version(p), hi = hilt_profile_max_version(p);
    ossl_common_notes(r);
    out(r, "sslVersionMin = %s\nsslVersionMax = %s\n", r->t->ver[lo], r->t->ver[hi]);
    static const char *const no[] = {"NO_SSLv3", "NO_TLSv1", "NO_TLSv1_1", "NO_TLSv1_2",
                                     "NO_TLSv1_3"};
    for (int v = lo; v <= hi; v++)
        if (!(p->versions & HILT_VERSION_BIT(v))) out(r, "options = %s\n", no[v]);
    if (has_pre13(p)) out(r, "ciphers = %s\n", ossl_cipher_string(r));
    if (has_tls13(p))
        out(r, "ciphersuites = %s\n", ciphers_joined(r, &p->tls13_ciphersuites, ":", N_OPENSSL));
    if (p->groups.n) out(r, "curves = %s\n", groups_joined(r, ":", G_OPENSSL));
    if (p->signature_algorithms.n)
        out(r, "config = SignatureAlgorithms:%s\n", sigalgs_joined(r, ":"));
    if (p->server_preference) out(r, "options = CIPHER_SERVER_PREFERENCE\n");
    if (p->certificate.ocsp_stapling)
        note(r, "stunnel has no switch that requires OCSP stapling (hilt scan checks it)");
    if (has_pre13(p) && any_dhe(p))
        note(r, "stunnel generates its own DH parameters; their size is not configurable here");
    const struct hilt_client_cert_rules *cc = &p->client_certificate;
    if (cc->mode != HILT_CLIENT_CERT_NONE) {
        const char *c = client_ca_missing(r) ? "; " : "";
        out(r, "%srequireCert = %s\n", c, cc->mode == HILT_CLIENT_CERT_REQUIRED ? "yes" : "no");
        out(r, "%sverifyChain = yes\n", c);
        out(r, "%sCAfile = %s\n", c, cc->ca_file ? cc->ca_file : "/path/to/client-ca.pem");
        client_subject_note(r);
    }
}

static const struct target targets[] = {
    {"nginx",
     "directives for an nginx server { } block (nginx >= 1.19.4)",
     "#",
     {"SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"},
     r_nginx},
    {"haproxy",
     "a global section of ssl-default-bind-* settings, and the same as bind options",
     "#",
     {"SSLv3", "TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3"},
     r_haproxy},
    {"apache",
     "mod_ssl directives for a <VirtualHost> (Apache httpd >= 2.4.36)",
     "#",
     {"SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"},
     r_apache},
    {"envoy",
     "DownstreamTlsContext fields (YAML) with tls_params",
     "#",
     {"TLSv1_0", "TLSv1_0", "TLSv1_1", "TLSv1_2", "TLSv1_3"},
     r_envoy},
    {"openssl",
     "an OpenSSL 3 config file with [system_default_sect] (use via OPENSSL_CONF)",
     "#",
     {"SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"},
     r_openssl},
    {"java",
     "a java.security override (jdk.tls.disabledAlgorithms) and JVM -D properties",
     "#",
     {"SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"},
     r_java},
    {"stunnel",
     "service options for a stunnel [section] (stunnel >= 5.x)",
     ";",
     {"SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"},
     r_stunnel},
};
#define NTARGETS (sizeof(targets) / sizeof(targets[0]))

const struct hilt_render_target *hilt_render_targets(size_t *n)
{
    static struct hilt_render_target pub[NTARGETS];
    for (size_t i = 0; i < NTARGETS; i++)
        pub[i] = (struct hilt_render_target){targets[i].name, targets[i].summary};
    if (n) *n = NTARGETS;
    return pub;
}

int hilt_policy_render(const struct hilt_profile *p, const char *target, struct hilt_buf *outb,
                       struct hilt_err *e)
{
    const struct target *t = NULL;
    for (size_t i = 0; i < NTARGETS; i++)
        if (!strcmp(targets[i].name, target)) t = &targets[i];
    if (!t) {
        char list[200] = "";
        size_t l = 0;
        for (size_t i = 0; i < NTARGETS; i++)
            l += (size_t)snprintf(list + l, sizeof(list) - l, "%s%s", i ? ", " : "",
                                  targets[i].name);
        return hilt_err_set(e, HILT_E_USAGE, 0, "unknown target '%s' (expected one of: %s)", target,
                            list);
    }
    struct rctx r = {.p = p, .t = t};
    hilt_buf_init(&r.body, 1 << 20);
    hilt_buf_init(&r.notes, 1 << 18);
    hilt_buf_init(&r.tmp, 1 << 18);
    t->render(&r);
    cert_note(&r);
    int rc = 0;
    if (r.oom) {
        rc = hilt_err_set(e, HILT_E_RUNTIME, 0, "rendering '%s' for %s ran out of room", p->name,
                          t->name);
        goto out;
    }
    hilt_buf_addf(outb, "%s Generated by hilt: policy profile '%s' for %s.\n", t->cmt, p->name,
                  t->name);
    hilt_buf_addf(outb, "%s %s. Re-render after changing the policy; do not edit by hand.\n",
                  t->cmt, t->summary);
    if (r.notes.len)
        hilt_buf_addf(outb, "%s LIMITS: what this configuration cannot enforce, and caveats:\n%s",
                      t->cmt, hilt_buf_cstr(&r.notes));
    if (hilt_buf_add_str(outb, hilt_buf_cstr(&r.body)) < 0)
        rc = hilt_err_set(e, HILT_E_RUNTIME, 0, "render output is too large");
out:
    hilt_buf_free(&r.body);
    hilt_buf_free(&r.notes);
    hilt_buf_free(&r.tmp);
    return rc;
}
