/* policy.c - queries over a resolved policy: lookups, endpoint matching, the
 * allow-checks the scanner uses, and the JSON form of profiles. */
#include "policy/policy.h"

#include "core/err.h"
#include "core/json.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

const struct hilt_profile *hilt_policy_profile(const struct hilt_policy *p, const char *name)
{
    for (size_t i = 0; p && i < p->nprofiles; i++)
        if (!strcmp(p->profiles[i].name, name)) return &p->profiles[i];
    return NULL;
}

const struct hilt_environment *hilt_policy_environment(const struct hilt_policy *p,
                                                       const char *name)
{
    for (size_t i = 0; p && i < p->nenvironments; i++)
        if (!strcmp(p->environments[i].name, name)) return &p->environments[i];
    return NULL;
}

const struct hilt_profile *hilt_profile_find(const struct hilt_policy *p, const char *name,
                                             struct hilt_err *e)
{
    const struct hilt_profile *prof = hilt_policy_profile(p, name);
    if (prof) return prof;
    const struct hilt_policy *b = hilt_policy_builtin(e);
    if (!b) return NULL;
    if ((prof = hilt_policy_profile(b, name))) return prof;
    char known[512] = "";
    size_t kl = 0;
    for (size_t i = 0; p && i < p->nprofiles && kl < sizeof(known) - 70; i++)
        kl += (size_t)snprintf(known + kl, sizeof(known) - kl, "%s%s", kl ? ", " : "",
                               p->profiles[i].name);
    for (size_t i = 0; i < b->nprofiles && kl < sizeof(known) - 70; i++)
        if (!hilt_policy_profile(p, b->profiles[i].name))
            kl += (size_t)snprintf(known + kl, sizeof(known) - kl, "%s%s", kl ? ", " : "",
                                   b->profiles[i].name);
    hilt_err_set(e, HILT_E_USAGE, 0, "unknown profile '%s'%s%s (known: %s)", name, p ? " in " : "",
                 p ? p->source : "", known);
    return NULL;
}

/* Glob match, case-insensitive, '*' = any run (iterative, no recursion). */
static int glob_match(const char *pat, const char *s)
{
    const char *star = NULL, *resume = NULL;
    while (*s) {
        if (*pat == '*') {
            star = pat++;
            resume = s;
        } else if (tolower((unsigned char)*pat) == tolower((unsigned char)*s)) {
            pat++;
            s++;
        } else if (star) {
            pat = star + 1;
            s = ++resume;
        } else {
            return 0;
        }
    }
    while (*pat == '*')
        pat++;
    return !*pat;
}

int hilt_endpoint_match(const char *pattern, const char *host, unsigned port)
{
    char hostpat[300];
    const char *portpat = NULL;
    size_t hl;
    if (pattern[0] == '[') {
        const char *end = strchr(pattern, ']');
        if (!end) return 0;
        hl = (size_t)(end - pattern - 1);
        if (hl >= sizeof(hostpat)) return 0;
        memcpy(hostpat, pattern + 1, hl);
        if (end[1] == ':') portpat = end + 2;
    } else {
        const char *colon = strchr(pattern, ':');
        hl = colon ? (size_t)(colon - pattern) : strlen(pattern);
        if (hl >= sizeof(hostpat)) return 0;
        memcpy(hostpat, pattern, hl);
        if (colon) portpat = colon + 1;
    }
    hostpat[hl] = 0;
    if (!glob_match(hostpat, host)) return 0;
    if (!portpat || !strcmp(portpat, "*")) return 1;
    char ps[8];
    snprintf(ps, sizeof(ps), "%u", port);
    return port && !strcmp(ps, portpat);
}

const struct hilt_environment *hilt_policy_match_endpoint(const struct hilt_policy *p,
                                                          const char *host, unsigned port)
{
    for (size_t i = 0; p && i < p->nenvironments; i++)
        for (size_t j = 0; j < p->environments[i].endpoints.n; j++)
            if (hilt_endpoint_match(p->environments[i].endpoints.v[j], host, port))
                return &p->environments[i];
    return NULL;
}

static int u16_has(const struct hilt_u16list *l, uint16_t v)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i] == v) return 1;
    return 0;
}

int hilt_profile_allows_version(const struct hilt_profile *p, enum hilt_tls_version v)
{
    return (unsigned)v < HILT_TLS_VERSION_COUNT && (p->versions & HILT_VERSION_BIT(v));
}

int hilt_profile_allows_cipher(const struct hilt_profile *p, enum hilt_tls_version v, uint16_t code)
{
    if (!hilt_profile_allows_version(p, v)) return 0;
    return u16_has(v == HILT_TLS13 ? &p->tls13_ciphersuites : &p->ciphers, code);
}

int hilt_profile_allows_group(const struct hilt_profile *p, uint16_t code)
{
    return !p->groups.n || u16_has(&p->groups, code);
}

int hilt_profile_allows_sigalg(const struct hilt_profile *p, uint16_t code)
{
    return !p->signature_algorithms.n || u16_has(&p->signature_algorithms, code);
}

int hilt_profile_min_version(const struct hilt_profile *p)
{
    for (int v = 0; v < HILT_TLS_VERSION_COUNT; v++)
        if (p->versions & HILT_VERSION_BIT(v)) return v;
    return -1;
}

int hilt_profile_max_version(const struct hilt_profile *p)
{
    for (int v = HILT_TLS_VERSION_COUNT - 1; v >= 0; v--)
        if (p->versions & HILT_VERSION_BIT(v)) return v;
    return -1;
}

int hilt_profile_versions_contiguous(const struct hilt_profile *p)
{
    int lo = hilt_profile_min_version(p), hi = hilt_profile_max_version(p);
    if (lo < 0) return 1;
    for (int v = lo; v <= hi; v++)
        if (!(p->versions & HILT_VERSION_BIT(v))) return 0;
    return 1;
}

/* ---- JSON ---------------------------------------------------------------- */

static json_t *code_hex(uint16_t code)
{
    char b[8];
    snprintf(b, sizeof(b), "0x%04X", code);
    return json_string(b);
}

static json_t *cipher_list_json(const struct hilt_u16list *l)
{
    json_t *a = json_array();
    for (size_t i = 0; i < l->n; i++) {
        const struct hilt_cipher *c = hilt_cipher_by_code(l->v[i]);
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(c ? hilt_cipher_name(c) : "unknown"));
        json_object_set_new(o, "openssl", c && c->openssl ? json_string(c->openssl) : json_null());
        json_object_set_new(o, "code", code_hex(l->v[i]));
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *group_list_json(const struct hilt_u16list *l)
{
    json_t *a = json_array();
    for (size_t i = 0; i < l->n; i++) {
        const struct hilt_group *g = hilt_group_by_code(l->v[i]);
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(g ? g->iana : "unknown"));
        json_object_set_new(o, "openssl", json_string(g ? g->openssl : "unknown"));
        json_object_set_new(o, "code", code_hex(l->v[i]));
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *sigalg_list_json(const struct hilt_u16list *l)
{
    json_t *a = json_array();
    for (size_t i = 0; i < l->n; i++) {
        const struct hilt_sigalg *s = hilt_sigalg_by_code(l->v[i]);
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(s ? s->iana : "unknown"));
        json_object_set_new(o, "code", code_hex(l->v[i]));
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *strlist_json(const struct hilt_strlist *l)
{
    json_t *a = json_array();
    for (size_t i = 0; i < l->n; i++)
        json_array_append_new(a, hilt_json_str(l->v[i]));
    return a;
}

static json_t *opt_str(const char *s)
{
    return s ? hilt_json_str(s) : json_null();
}

json_t *hilt_profile_json(const struct hilt_profile *p)
{
    json_t *o = json_object(), *v = json_array();
    json_object_set_new(o, "name", hilt_json_str(p->name));
    json_object_set_new(o, "description", opt_str(p->description));
    json_object_set_new(o, "extends", opt_str(p->extends));
    json_object_set_new(o, "origin", opt_str(p->origin));
    for (int i = 0; i < HILT_TLS_VERSION_COUNT; i++)
        if (p->versions & HILT_VERSION_BIT(i))
            json_array_append_new(v, json_string(hilt_tls_version_name((enum hilt_tls_version)i)));
    json_object_set_new(o, "versions", v);
    json_object_set_new(o, "ciphers", cipher_list_json(&p->ciphers));
    json_object_set_new(o, "tls13_ciphersuites", cipher_list_json(&p->tls13_ciphersuites));
    json_object_set_new(o, "groups", group_list_json(&p->groups));
    json_object_set_new(o, "signature_algorithms", sigalg_list_json(&p->signature_algorithms));
    json_object_set_new(o, "server_preference", json_boolean(p->server_preference));
    json_object_set_new(o, "dh_min_bits", json_integer(p->dh_min_bits));

    const struct hilt_cert_rules *c = &p->certificate;
    json_t *cj = json_object(), *kt = json_array();
    for (unsigned b = 1; b <= HILT_KEYTYPE_DSA; b <<= 1)
        if (c->key_types & b) json_array_append_new(kt, json_string(hilt_key_type_name(b)));
    json_object_set_new(cj, "key_types", kt);
    json_object_set_new(cj, "rsa_min_bits", json_integer(c->rsa_min_bits));
    json_object_set_new(cj, "ecdsa_curves", group_list_json(&c->ecdsa_curves));
    json_object_set_new(cj, "max_lifetime_days", json_integer(c->max_lifetime_days));
    json_object_set_new(cj, "signature_algorithms", strlist_json(&c->signature_algorithms));
    json_object_set_new(cj, "required_eku", strlist_json(&c->required_eku));
    json_object_set_new(cj, "ocsp_stapling", json_boolean(c->ocsp_stapling));
    json_object_set_new(o, "certificate", cj);

    static const char *const modes[] = {"none", "optional", "required"};
    const struct hilt_client_cert_rules *cc = &p->client_certificate;
    json_t *ccj = json_object();
    json_object_set_new(ccj, "mode", json_string(modes[cc->mode]));
    json_object_set_new(ccj, "ca_file", opt_str(cc->ca_file));
    json_object_set_new(ccj, "allowed_issuers", strlist_json(&cc->allowed_issuers));
    json_object_set_new(ccj, "subjects", strlist_json(&cc->subjects));
    json_object_set_new(o, "client_certificate", ccj);
    return o;
}

json_t *hilt_policy_json(const struct hilt_policy *p)
{
    json_t *o = json_object(), *pa = json_array(), *ea = json_array();
    json_object_set_new(o, "source", hilt_json_str(p->source));
    for (size_t i = 0; i < p->nprofiles; i++)
        json_array_append_new(pa, hilt_profile_json(&p->profiles[i]));
    for (size_t i = 0; i < p->nenvironments; i++) {
        const struct hilt_environment *env = &p->environments[i];
        json_t *ej = json_object();
        json_object_set_new(ej, "name", hilt_json_str(env->name));
        json_object_set_new(ej, "profile", hilt_json_str(env->profile));
        json_object_set_new(ej, "description", opt_str(env->description));
        json_object_set_new(ej, "endpoints", strlist_json(&env->endpoints));
        json_object_set_new(ej, "origin", opt_str(env->origin));
        json_array_append_new(ea, ej);
    }
    json_object_set_new(o, "profiles", pa);
    json_object_set_new(o, "environments", ea);
    return o;
}
