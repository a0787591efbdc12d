/* auth.c - bearer tokens, client-certificate principals, grants and the
 * authorization checks of `hilt serve` (api/auth.h, docs/serve.md). */
#include "api/auth.h"

#include "core/err.h"
#include "store/store.h"
#include "store/store_api.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct {
    const char *name;
    unsigned bit;
} roles[] = {
    {"requester", HILT_ROLE_REQUESTER}, {"approver", HILT_ROLE_APPROVER},
    {"issuer", HILT_ROLE_ISSUER},       {"auditor", HILT_ROLE_AUDITOR},
    {"admin", HILT_ROLE_ADMIN},
};
#define NROLES (sizeof(roles) / sizeof(roles[0]))

int hilt_role_parse(const char *s)
{
    for (size_t i = 0; i < NROLES; i++)
        if (!strcmp(s, roles[i].name)) return (int)roles[i].bit;
    return -1;
}

const char *hilt_role_name(unsigned r)
{
    for (size_t i = 0; i < NROLES; i++)
        if (roles[i].bit == r) return roles[i].name;
    return "?";
}

static int valid_env(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63) return 0;
    for (const char *c = s; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '-' || *c == '_' || *c == '.'))
            return 0;
    return 1;
}

static int valid_pattern(const char *p, size_t n)
{
    if (n == 0 || n > 253) return 0;
    if (n == 1 && p[0] == '*') return 1;
    size_t i = 0;
    if (n > 2 && p[0] == '*' && p[1] == '.')
        i = 2;
    else if (n > 1 && p[0] == '.')
        i = 1;
    for (size_t j = i; j < n; j++) {
        char c = p[j];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '.' || c == ':'; /* ':' for IPv6 literals */
        if (!ok) return 0;
        if (c == '.' && (j + 1 == n || p[j + 1] == '.')) return 0;
    }
    return i < n;
}

int hilt_grant_scope_parse(const char *s, char env[64], char names[1024], struct hilt_err *e)
{
    env[0] = names[0] = '\0';
    if (!s) return 0;
    const char *p = s;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > 4 && !strncmp(p, "env=", 4)) {
            size_t vl = len - 4;
            if (vl >= 64) return hilt_err_set(e, HILT_E_USAGE, 0, "scope '%s': env is too long", s);
            memcpy(env, p + 4, vl);
            env[vl] = '\0';
            if (!strcmp(env, "*"))
                env[0] = '\0';
            else if (!valid_env(env))
                return hilt_err_set(e, HILT_E_USAGE, 0,
                                    "scope '%s': env '%s' must be 1-63 of [A-Za-z0-9._-]", s, env);
        } else if (len > 6 && !strncmp(p, "names=", 6)) {
            size_t vl = len - 6;
            if (vl >= 1024)
                return hilt_err_set(e, HILT_E_USAGE, 0, "scope '%s': names are too long", s);
            memcpy(names, p + 6, vl);
            names[vl] = '\0';
            const char *q = names;
            while (1) {
                const char *bar = strchr(q, '|');
                size_t pl = bar ? (size_t)(bar - q) : strlen(q);
                if (!valid_pattern(q, pl))
                    return hilt_err_set(e, HILT_E_USAGE, 0,
                                        "scope '%s': '%.*s' is not a name pattern (NAME, *.DOMAIN, "
                                        ".DOMAIN or *)",
                                        s, (int)pl, q);
                if (!bar) break;
                q = bar + 1;
            }
            if (!strcmp(names, "*")) names[0] = '\0';
        } else {
            return hilt_err_set(e, HILT_E_USAGE, 0,
                                "scope '%s': expected env=ENV and/or names=PATTERN|PATTERN, "
                                "separated by ','",
                                s);
        }
        if (!end) break;
        p = end + 1;
    }
    return 0;
}

int hilt_name_pattern_match(const char *pat, const char *name)
{
    if (!strcmp(pat, "*")) return 1;
    size_t nl = strlen(name);
    if (pat[0] == '*' && pat[1] == '.') {
        const char *dot = strchr(name, '.');
        if (!dot || dot == name) return 0;
        return !strcasecmp(dot, pat + 1);
    }
    if (pat[0] == '.') {
        size_t pl = strlen(pat);
        return nl > pl && !strcasecmp(name + nl - pl, pat);
    }
    return !strcasecmp(pat, name);
}

/* Does one grant's name list cover `name`? */
static int names_cover(const char *list, const char *name)
{
    if (!list[0]) return 1;
    char pat[256];
    const char *q = list;
    while (1) {
        const char *bar = strchr(q, '|');
        size_t pl = bar ? (size_t)(bar - q) : strlen(q);
        if (pl < sizeof(pat)) {
            memcpy(pat, q, pl);
            pat[pl] = '\0';
            if (hilt_name_pattern_match(pat, name)) return 1;
        }
        if (!bar) return 0;
        q = bar + 1;
    }
}

static int grant_allows(const struct hilt_grant *g, unsigned want, const char *env,
                        const char *const *names, size_t n)
{
    if (!(g->role & want) && g->role != HILT_ROLE_ADMIN) return 0;
    if (g->env[0] && (!env || strcmp(g->env, env))) return 0;
    for (size_t i = 0; i < n; i++)
        if (!names_cover(g->names, names[i])) return 0;
    return 1;
}

int hilt_auth_allows(const struct hilt_auth *a, unsigned roles_, const char *env,
                     const char *const *names, size_t n)
{
    /* Every name must be covered by one grant (not a mix of grants): a
     * grant is a unit of delegated authority. */
    for (size_t i = 0; i < a->ng; i++)
        if (grant_allows(&a->g[i], roles_, env, names, n)) return 1;
    return 0;
}

int hilt_auth_has_role(const struct hilt_auth *a, unsigned roles_)
{
    for (size_t i = 0; i < a->ng; i++)
        if ((a->g[i].role & roles_) || a->g[i].role == HILT_ROLE_ADMIN) return 1;
    return 0;
}

int hilt_auth_allows_csv(const struct hilt_auth *a, unsigned roles_, const char *env,
                         const char *csv)
{
    /* every name of the list, however long (a request holds up to 100) */
    char *buf = strdup(csv ? csv : "");
    const char **v = buf ? calloc(strlen(buf) / 2 + 2, sizeof(*v)) : NULL;
    size_t n = 0;
    int ok = 0;
    if (!buf || !v) goto out;
    for (char *tok = buf, *save = NULL; (tok = strtok_r(tok, ",", &save)); tok = NULL)
        v[n++] = tok;
    ok = hilt_auth_allows(a, roles_, env, v, n);
out:
    free(v);
    free(buf);
    return ok;
}

/* ---- loading a principal ---------------------------------------------------------- */

static int grant_load_cb(const struct hilt_api_grant_rec *r, void *arg)
{
    struct hilt_auth *a = arg;
    int bit = hilt_role_parse(r->role);
    if (bit < 0 || a->ng == HILT_AUTH_MAX_GRANTS) return 0;
    struct hilt_grant *g = &a->g[a->ng++];
    g->id = r->id;
    g->role = (unsigned)bit;
    snprintf(g->env, sizeof(g->env), "%s", r->env);
    snprintf(g->names, sizeof(g->names), "%s", r->names);
    a->p.roles |= (unsigned)bit;
    return 0;
}

int hilt_auth_load(struct hilt_store *st, const char *principal, const char *method,
                   struct hilt_auth *out, struct hilt_err *e)
{
    memset(out, 0, sizeof(*out));
    out->method = method;
    if (strlen(principal) >= sizeof(out->p.id))
        return hilt_err_set(e, HILT_E_INPUT, 401, "principal name too long");
    snprintf(out->p.id, sizeof(out->p.id), "%s", principal);
    int64_t disabled = 0;
    int found = hilt_store_principal_get(st, principal, &disabled, e);
    if (found < 0) return -1;
    if (found && disabled)
        return hilt_err_set(e, HILT_E_INPUT, 401, "principal %s is disabled", principal);
    if (hilt_store_grant_list(st, principal, grant_load_cb, out, e) < 0) return -1;
    if (!out->ng)
        return hilt_err_set(e, HILT_E_INPUT, 401, "principal %s holds no grant (hilt grant add)",
                            principal);
    return 0;
}

/* ---- tokens ---------------------------------------------------------------------- */

static void hex(const unsigned char *p, size_t n, char *out)
{
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hx[p[i] >> 4];
        out[2 * i + 1] = hx[p[i] & 15];
    }
    out[2 * n] = '\0';
}

static int sha256_hex(const void *p, size_t n, char out[65])
{
    unsigned char h[32];
    unsigned hl = 0;
    if (!EVP_Digest(p, n, h, &hl, EVP_sha256(), NULL) || hl != 32) return -1;
    hex(h, 32, out);
    return 0;
}

int hilt_token_new(char token[HILT_TOKEN_LEN + 1], char id[HILT_TOKEN_ID_HEX + 1], char hash[65],
                   struct hilt_err *e)
{
    unsigned char rid[HILT_TOKEN_ID_HEX / 2], sec[HILT_TOKEN_SECRET_HEX / 2];
    char shex[HILT_TOKEN_SECRET_HEX + 1];
    if (RAND_bytes(rid, sizeof(rid)) != 1 || RAND_bytes(sec, sizeof(sec)) != 1)
        return hilt_err_ossl(e, HILT_E_RUNTIME, "no random bytes for a token");
    hex(rid, sizeof(rid), id);
    hex(sec, sizeof(sec), shex);
    OPENSSL_cleanse(sec, sizeof(sec));
    snprintf(token, HILT_TOKEN_LEN + 1, "hilt_%s_%s", id, shex);
    int rc = sha256_hex(shex, HILT_TOKEN_SECRET_HEX, hash);
    OPENSSL_cleanse(shex, sizeof(shex));
    return rc < 0 ? hilt_err_ossl(e, HILT_E_RUNTIME, "cannot hash a token") : 0;
}

static int all_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return 1;
}

int hilt_token_parse(const char *t, char id[HILT_TOKEN_ID_HEX + 1], char hash[65])
{
    if (strlen(t) != HILT_TOKEN_LEN || strncmp(t, "hilt_", 5) || t[5 + HILT_TOKEN_ID_HEX] != '_')
        return -1;
    const char *pid = t + 5, *sec = t + 6 + HILT_TOKEN_ID_HEX;
    if (!all_hex(pid, HILT_TOKEN_ID_HEX) || !all_hex(sec, HILT_TOKEN_SECRET_HEX)) return -1;
    memcpy(id, pid, HILT_TOKEN_ID_HEX);
    id[HILT_TOKEN_ID_HEX] = '\0';
    return sha256_hex(sec, HILT_TOKEN_SECRET_HEX, hash);
}

struct tok_found {
    int found;
    char principal[HILT_PRINCIPAL_MAX];
    char hash[65];
    int64_t expires_at, revoked_at, disabled_at;
};

static int tok_cb(const struct hilt_api_token_rec *r, void *arg)
{
    struct tok_found *f = arg;
    f->found = 1;
    snprintf(f->principal, sizeof(f->principal), "%s", r->principal);
    snprintf(f->hash, sizeof(f->hash), "%s", r->hash);
    f->expires_at = r->expires_at;
    f->revoked_at = r->revoked_at;
    f->disabled_at = r->principal_disabled_at;
    return 1;
}

int hilt_auth_bearer(struct hilt_store *st, const char *token, int64_t now, struct hilt_auth *out,
                     struct hilt_err *e)
{
    char id[HILT_TOKEN_ID_HEX + 1], hash[65];
    memset(out, 0, sizeof(*out));
    if (hilt_token_parse(token, id, hash) < 0)
        return hilt_err_set(e, HILT_E_INPUT, 401,
                            "malformed bearer token (expected hilt_ID_SECRET)");
    struct tok_found f = {0};
    if (hilt_store_token_get(st, id, tok_cb, &f, e) < 0) return -1;
    /* Compare the hash even for an unknown id, so timing does not tell
     * known ids from unknown ones. */
    int match = strlen(f.hash) == 64 && CRYPTO_memcmp(f.hash, hash, 64) == 0;
    OPENSSL_cleanse(hash, sizeof(hash));
    if (!f.found || !match) return hilt_err_set(e, HILT_E_INPUT, 401, "unknown bearer token");
    if (f.revoked_at) return hilt_err_set(e, HILT_E_INPUT, 401, "bearer token was revoked");
    if (f.expires_at && now >= f.expires_at)
        return hilt_err_set(e, HILT_E_INPUT, 401, "bearer token expired");
    return hilt_auth_load(st, f.principal, "token", out, e);
}

int hilt_cert_principal(X509 *cert, char *out, size_t cap)
{
    X509_NAME *n = X509_get_subject_name(cert);
    int i = n ? X509_NAME_get_index_by_NID(n, NID_commonName, -1) : -1;
    const unsigned char *v = NULL;
    int vl = 0;
    if (i >= 0) {
        ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, i));
        v = ASN1_STRING_get0_data(s);
        vl = ASN1_STRING_length(s);
    }
    GENERAL_NAMES *gens = NULL;
    if (!v || vl <= 0) {
        gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
        for (int k = 0; gens && k < sk_GENERAL_NAME_num(gens); k++) {
            GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, k);
            if (g->type == GEN_DNS) {
                v = ASN1_STRING_get0_data(g->d.dNSName);
                vl = ASN1_STRING_length(g->d.dNSName);
                break;
            }
        }
    }
    int rc = -1;
    if (v && vl > 0 && (size_t)vl + 6 <= cap) {
        int ok = 1;
        for (int k = 0; k < vl; k++)
            if (v[k] < 0x21 || v[k] > 0x7e) ok = 0; /* printable ASCII only */
        if (ok) {
            snprintf(out, cap, "cert:%.*s", vl, (const char *)v);
            rc = 0;
        }
    }
    GENERAL_NAMES_free(gens);
    return rc;
}

int hilt_auth_cert(struct hilt_store *st, X509 *cert, long verify_result, struct hilt_auth *out,
                   struct hilt_err *e)
{
    memset(out, 0, sizeof(*out));
    if (verify_result != X509_V_OK)
        return hilt_err_set(e, HILT_E_INPUT, 401,
                            "client certificate refused: %s (it must be issued by this hilt CA)",
                            X509_verify_cert_error_string(verify_result));
    char pid[HILT_PRINCIPAL_MAX];
    if (hilt_cert_principal(cert, pid, sizeof(pid)) < 0)
        return hilt_err_set(e, HILT_E_INPUT, 401,
                            "client certificate has no usable subject CN or DNS name");
    /* revoked in the store: refused even though the chain verifies */
    const ASN1_INTEGER *sn = X509_get0_serialNumber(cert);
    BIGNUM *bn = ASN1_INTEGER_to_BN(sn, NULL);
    char *h = bn ? BN_bn2hex(bn) : NULL;
    BN_free(bn);
    if (h) {
        char norm[80];
        struct hilt_cert_rec rec;
        int found = 0;
        if (hilt_hex_normalise(h, norm, sizeof(norm)) == 0)
            found = hilt_store_cert_get(st, norm, &rec, NULL, e);
        OPENSSL_free(h);
        if (found < 0) return -1;
        if (found) {
            int revoked = rec.revoked_at != 0;
            hilt_cert_rec_free(&rec);
            if (revoked)
                return hilt_err_set(e, HILT_E_INPUT, 401, "client certificate %s is revoked",
                                    pid + 5);
        }
    }
    return hilt_auth_load(st, pid, "cert", out, e);
}
