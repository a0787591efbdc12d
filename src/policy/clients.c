/* clients.c - the client-profile loader (data/clients.json), lookups, and the
 * ClientHello spec each profile implies. */
#include "policy/clients.h"

#include "core/buf.h"
#include "core/embed.h"
#include "core/err.h"
#include "core/fileio.h"
#include "core/json.h"
#include "core/net.h"
#include "tls/hello.h"

#include <ctype.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Extension names the file may use; the ones that change the hello map to a builder flag. */
static const struct {
    const char *name;
    unsigned flag;
} ext_names[] = {
    {"server_name", 0},
    {"status_request", HILT_CH_STATUS_REQUEST},
    {"supported_groups", 0},
    {"ec_point_formats", HILT_CH_EC_POINT_FORMATS},
    {"signature_algorithms", 0},
    {"heartbeat", 0},
    {"alpn", 0},
    {"status_request_v2", 0},
    {"signed_certificate_timestamp", HILT_CH_SCT},
    {"padding", 0},
    {"encrypt_then_mac", HILT_CH_ETM},
    {"extended_master_secret", HILT_CH_EMS},
    {"compress_certificate", 0},
    {"record_size_limit", 0},
    {"delegated_credentials", 0},
    {"session_ticket", HILT_CH_SESSION_TICKET},
    {"pre_shared_key", 0},
    {"early_data", 0},
    {"supported_versions", 0},
    {"cookie", 0},
    {"psk_key_exchange_modes", HILT_CH_PSK_MODES},
    {"post_handshake_auth", 0},
    {"signature_algorithms_cert", 0},
    {"key_share", 0},
    {"next_protocol_negotiation", 0},
    {"application_settings_old", 0},
    {"application_settings", 0},
    {"channel_id_old", 0},
    {"channel_id", 0},
    {"encrypted_client_hello", 0},
    {"renegotiation_info", HILT_CH_RENEG_INFO},
};

static const char *const sha1_names[] = {"accept", "reject", "reject_public"};

const char *hilt_sha1_rule_name(enum hilt_sha1_rule r)
{
    return (unsigned)r < 3 ? sha1_names[r] : "accept";
}

/* ---- loading --------------------------------------------------------------- */

struct ld {
    const char *source;
    char where[200]; /* "clients[3] (android-4.4)" */
    struct hilt_err *e;
};

static int fail(struct ld *l, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct ld *l, const char *field, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return hilt_err_set(l->e, HILT_E_INPUT, 0, "%s: %s%s%s: %s", l->source, l->where,
                        field ? "." : "", field ? field : "", msg);
}

static char *dupstr(const char *s)
{
    char *d = strdup(s ? s : "");
    return d;
}

static int get_str(struct ld *l, json_t *o, const char *key, int required, char **out)
{
    json_t *v = json_object_get(o, key);
    if (!v) {
        if (required) return fail(l, key, "missing (a string is required)");
        return 0;
    }
    if (!json_is_string(v)) return fail(l, key, "expected a string");
    size_t n = json_string_length(v);
    if (n == 0 || n > 4096) return fail(l, key, "expected 1 to 4096 characters");
    if (memchr(json_string_value(v), '\0', n)) return fail(l, key, "contains a NUL byte");
    *out = dupstr(json_string_value(v));
    return *out ? 0 : hilt_err_set(l->e, HILT_E_RUNTIME, 0, "out of memory");
}

static int get_bool(struct ld *l, json_t *o, const char *key, int required, int *out)
{
    json_t *v = json_object_get(o, key);
    if (!v) return required ? fail(l, key, "missing (true or false is required)") : 0;
    if (!json_is_boolean(v)) return fail(l, key, "expected true or false");
    *out = json_is_true(v);
    return 0;
}

/* A whole number in [lo, hi], or null (stays 0). */
static int get_bits(struct ld *l, json_t *o, const char *key, int lo, int hi, int *out)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_integer(v)) return fail(l, key, "expected a whole number of bits or null");
    json_int_t n = json_integer_value(v);
    if (n < lo || n > hi) return fail(l, key, "%lld is outside %d..%d", (long long)n, lo, hi);
    *out = (int)n;
    return 0;
}

static json_t *get_array(struct ld *l, json_t *o, const char *key, int required, int *err)
{
    *err = 0;
    json_t *v = json_object_get(o, key);
    if (!v) {
        if (required) *err = fail(l, key, "missing (a list is required)");
        return NULL;
    }
    if (!json_is_array(v)) {
        *err = fail(l, key, "expected a list");
        return NULL;
    }
    if (json_array_size(v) > HILT_CLIENTS_MAX_LIST) {
        *err = fail(l, key, "more than %d entries", HILT_CLIENTS_MAX_LIST);
        return NULL;
    }
    return v;
}

enum kind { K_CIPHER, K_GROUP, K_SIGALG };

/* Entries are names (IANA or OpenSSL) or "0xNNNN" code points. */
static int resolve(enum kind k, const char *s, uint16_t *code)
{
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && strlen(s) == 6) {
        char *end;
        unsigned long v = strtoul(s + 2, &end, 16);
        if (*end) return -1;
        *code = (uint16_t)v;
        switch (k) {
        case K_CIPHER:
            return hilt_cipher_by_code(*code) ? 0 : -1;
        case K_GROUP:
            return hilt_group_by_code(*code) ? 0 : -1;
        case K_SIGALG:
            return hilt_sigalg_by_code(*code) ? 0 : -1;
        }
    }
    switch (k) {
    case K_CIPHER: {
        const struct hilt_cipher *c = hilt_cipher_by_name(s);
        if (!c) return -1;
        *code = c->code;
        return 0;
    }
    case K_GROUP: {
        const struct hilt_group *g = hilt_group_by_name(s);
        if (!g) return -1;
        *code = g->code;
        return 0;
    }
    case K_SIGALG: {
        const struct hilt_sigalg *g = hilt_sigalg_by_name(s);
        if (!g) return -1;
        *code = g->code;
        return 0;
    }
    }
    return -1;
}

static int get_codes(struct ld *l, json_t *o, const char *key, enum kind k, int required,
                     struct hilt_u16list *out)
{
    static const char *const what[] = {"cipher suite", "group", "signature scheme"};
    int err;
    json_t *a = get_array(l, o, key, required, &err);
    if (err) return -1;
    if (!a) return 0;
    size_t n = json_array_size(a);
    if (required && n == 0) return fail(l, key, "the list is empty");
    out->v = calloc(n ? n : 1, sizeof(uint16_t));
    if (!out->v) return hilt_err_set(l->e, HILT_E_RUNTIME, 0, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(a, i);
        char f[64];
        snprintf(f, sizeof(f), "%s[%zu]", key, i);
        if (!json_is_string(v)) return fail(l, f, "expected a %s name", what[k]);
        const char *s = json_string_value(v);
        uint16_t code;
        if (strlen(s) > 128 || resolve(k, s, &code) < 0) {
            const char *hint = k == K_CIPHER ? hilt_cipher_suggest(s, 0) : NULL;
            if (k == K_CIPHER && !hint) hint = hilt_cipher_suggest(s, 1);
            if (hint)
                return fail(l, f, "unknown %s '%.128s' (did you mean '%s'?)", what[k], s, hint);
            return fail(l, f, "unknown %s '%.128s'", what[k], s);
        }
        for (size_t j = 0; j < out->n; j++)
            if (out->v[j] == code) return fail(l, f, "'%.128s' is listed twice", s);
        out->v[out->n++] = code;
    }
    return 0;
}

static int get_strs(struct ld *l, json_t *o, const char *key, int required, size_t maxlen,
                    struct hilt_strlist *out)
{
    int err;
    json_t *a = get_array(l, o, key, required, &err);
    if (err) return -1;
    if (!a) return 0;
    size_t n = json_array_size(a);
    if (required && n == 0) return fail(l, key, "the list is empty");
    out->v = calloc(n ? n : 1, sizeof(char *));
    if (!out->v) return hilt_err_set(l->e, HILT_E_RUNTIME, 0, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(a, i);
        char f[64];
        snprintf(f, sizeof(f), "%s[%zu]", key, i);
        if (!json_is_string(v)) return fail(l, f, "expected a string");
        size_t sl = json_string_length(v);
        if (sl == 0 || sl > maxlen) return fail(l, f, "expected 1 to %zu characters", maxlen);
        if (memchr(json_string_value(v), '\0', sl)) return fail(l, f, "contains a NUL byte");
        out->v[out->n] = dupstr(json_string_value(v));
        if (!out->v[out->n]) return hilt_err_set(l->e, HILT_E_RUNTIME, 0, "out of memory");
        out->n++;
    }
    return 0;
}

static int get_version(struct ld *l, json_t *o, const char *key, uint16_t *out)
{
    json_t *v = json_object_get(o, key);
    if (!v) return 0;
    if (!json_is_string(v)) return fail(l, key, "expected a version name");
    const char *s = json_string_value(v);
    if (!strcmp(s, "SSLv2")) {
        *out = 0x0002;
        return 0;
    }
    enum hilt_tls_version tv;
    if (hilt_tls_version_parse(s, &tv) < 0)
        return fail(l, key, "unknown version '%.64s' (SSLv2, SSLv3, TLSv1.0 ... TLSv1.3)", s);
    *out = hilt_tls_version_wire(tv);
    return 0;
}

static const char *const known_keys[] = {
    "id",
    "name",
    "version",
    "platform",
    "category",
    "current",
    "versions",
    "ciphers",
    "grease",
    "groups",
    "key_shares",
    "sigalgs",
    "alpn",
    "sni",
    "session_id",
    "compression",
    "scsv_renegotiation",
    "scsv_fallback",
    "record_version",
    "client_version",
    "extensions",
    "unresolved",
    "rsa_min_bits",
    "dh_min_bits",
    "dh_max_bits",
    "ec_min_bits",
    "sha1_certificates",
    "aia_fetch",
    "intermediate_preload",
    "legacy_kx_signatures",
    "trust_store",
    "sources",
    "hello",
};

static int valid_id(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63) return 0;
    for (size_t i = 0; i < n; i++)
        if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-' ||
              s[i] == '.' || s[i] == '_'))
            return 0;
    return 1;
}

static int load_one(struct ld *l, json_t *o, struct hilt_client *c)
{
    const char *key;
    json_t *val;
    json_object_foreach(o, key, val)
    {
        int known = 0;
        for (size_t i = 0; i < sizeof(known_keys) / sizeof(known_keys[0]); i++)
            if (!strcmp(key, known_keys[i])) known = 1;
        if (!known) return fail(l, NULL, "unknown key '%.64s'", key);
    }
    if (get_str(l, o, "id", 1, &c->id) < 0) return -1;
    if (!valid_id(c->id))
        return fail(l, "id", "'%.64s' is not lowercase letters, digits, '-', '.', '_'", c->id);
    snprintf(l->where + strlen(l->where), sizeof(l->where) - strlen(l->where), " (%s)", c->id);
    if (get_str(l, o, "name", 1, &c->name) < 0 || get_str(l, o, "version", 1, &c->version) < 0 ||
        get_str(l, o, "platform", 0, &c->platform) < 0 ||
        get_str(l, o, "category", 0, &c->category) < 0 ||
        get_bool(l, o, "current", 0, &c->current) < 0)
        return -1;
    if (!c->platform) c->platform = dupstr("any");
    if (!c->category) c->category = dupstr("library");
    if (!c->platform || !c->category) return hilt_err_set(l->e, HILT_E_RUNTIME, 0, "out of memory");

    struct hilt_strlist vs = {0};
    int rc = get_strs(l, o, "versions", 1, 16, &vs);
    for (size_t i = 0; rc == 0 && i < vs.n; i++) {
        enum hilt_tls_version v;
        char f[32];
        snprintf(f, sizeof(f), "versions[%zu]", i);
        if (hilt_tls_version_parse(vs.v[i], &v) < 0)
            rc = fail(l, f, "unknown version '%s' (SSLv3, TLSv1.0, TLSv1.1, TLSv1.2, TLSv1.3)",
                      vs.v[i]);
        else
            c->versions |= HILT_VERSION_BIT(v);
    }
    for (size_t i = 0; i < vs.n; i++)
        free(vs.v[i]);
    free(vs.v);
    if (rc < 0) return -1;

    if (get_codes(l, o, "ciphers", K_CIPHER, 1, &c->ciphers) < 0 ||
        get_codes(l, o, "groups", K_GROUP, 0, &c->groups) < 0 ||
        get_codes(l, o, "key_shares", K_GROUP, 0, &c->key_shares) < 0 ||
        get_codes(l, o, "sigalgs", K_SIGALG, 0, &c->sigalgs) < 0 ||
        get_strs(l, o, "alpn", 0, 255, &c->alpn) < 0 ||
        get_strs(l, o, "extensions", 0, 64, &c->extensions) < 0 ||
        get_strs(l, o, "unresolved", 0, 256, &c->unresolved) < 0 ||
        get_strs(l, o, "sources", 1, 4096, &c->sources) < 0)
        return -1;
    /* A cipher that no offered version can use means the data is wrong. */
    for (size_t i = 0; i < c->ciphers.n; i++) {
        const struct hilt_cipher *ci = hilt_cipher_by_code(c->ciphers.v[i]);
        int tls13 = (ci->flags & HILT_CF_TLS13) != 0;
        int usable = tls13 ? (c->versions & HILT_VERSION_BIT(HILT_TLS13)) != 0
                           : (c->versions & ~HILT_VERSION_BIT(HILT_TLS13)) != 0;
        if (!usable) {
            char f[32];
            snprintf(f, sizeof(f), "ciphers[%zu]", i);
            return fail(l, f, "%s cannot be used with any version the client offers",
                        hilt_cipher_name(ci));
        }
    }
    for (size_t i = 0; i < c->key_shares.n; i++) {
        int found = 0;
        for (size_t j = 0; j < c->groups.n; j++)
            if (c->groups.v[j] == c->key_shares.v[i]) found = 1;
        if (!found) {
            char f[32];
            snprintf(f, sizeof(f), "key_shares[%zu]", i);
            return fail(l, f, "the group is not in the client's groups");
        }
    }
    for (size_t i = 0; i < c->alpn.n; i++)
        for (const char *p = c->alpn.v[i]; *p; p++)
            if (*p == ',' || (unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e) {
                char f[32];
                snprintf(f, sizeof(f), "alpn[%zu]", i);
                return fail(l, f, "protocol names are printable ASCII without ','");
            }
    for (size_t i = 0; i < c->extensions.n; i++) {
        const char *x = c->extensions.v[i];
        int ok = 0;
        for (size_t k = 0; k < sizeof(ext_names) / sizeof(ext_names[0]); k++)
            if (!strcmp(x, ext_names[k].name)) {
                ok = 1;
                c->ch_flags |= ext_names[k].flag;
            }
        if (!ok && x[0] == '0' && x[1] == 'x' && strlen(x) == 6 &&
            strspn(x + 2, "0123456789abcdefABCDEF") == 4)
            ok = 1;
        if (!ok) {
            char f[32];
            snprintf(f, sizeof(f), "extensions[%zu]", i);
            return fail(l, f, "unknown extension '%s' (a name from docs/clients.md or 0xNNNN)", x);
        }
    }
    if (get_bool(l, o, "grease", 0, &c->grease) < 0 || get_bool(l, o, "sni", 1, &c->sni) < 0 ||
        get_bool(l, o, "session_id", 0, &c->session_id) < 0 ||
        get_bool(l, o, "compression", 0, &c->compression) < 0 ||
        get_bool(l, o, "scsv_renegotiation", 0, &c->scsv_renegotiation) < 0 ||
        get_bool(l, o, "scsv_fallback", 0, &c->scsv_fallback) < 0)
        return -1;
    c->record_version = 0x0301;
    c->client_version = 0;
    if (get_version(l, o, "record_version", &c->record_version) < 0 ||
        get_version(l, o, "client_version", &c->client_version) < 0)
        return -1;
    if (!c->client_version) {
        int mx = hilt_client_max_version(c);
        c->client_version =
            mx >= HILT_TLS13 ? 0x0303 : hilt_tls_version_wire((enum hilt_tls_version)mx);
    }
    if (c->client_version == 0x0002)
        return fail(l, "client_version", "SSLv2 is not a ClientHello version");
    if (c->grease) c->ch_flags |= HILT_CH_GREASE;
    if (c->session_id) c->ch_flags |= HILT_CH_SESSION_ID;
    if (c->compression) c->ch_flags |= HILT_CH_COMPRESSION;
    if (c->scsv_renegotiation) c->ch_flags |= HILT_CH_SCSV_RENEG;
    if (c->scsv_fallback) c->ch_flags |= HILT_CH_FALLBACK_SCSV;

    if (get_bits(l, o, "rsa_min_bits", 256, 16384, &c->rsa_min_bits) < 0 ||
        get_bits(l, o, "dh_min_bits", 256, 16384, &c->dh_min_bits) < 0 ||
        get_bits(l, o, "dh_max_bits", 256, 16384, &c->dh_max_bits) < 0 ||
        get_bits(l, o, "ec_min_bits", 128, 1024, &c->ec_min_bits) < 0)
        return -1;
    if (c->dh_max_bits && c->dh_min_bits > c->dh_max_bits)
        return fail(l, "dh_max_bits", "smaller than dh_min_bits");
    char *sha1 = NULL;
    if (get_str(l, o, "sha1_certificates", 1, &sha1) < 0) return -1;
    int found = -1;
    for (int i = 0; i < 3; i++)
        if (!strcmp(sha1, sha1_names[i])) found = i;
    if (found < 0) {
        fail(l, "sha1_certificates", "unknown rule '%.64s' (accept, reject, reject_public)", sha1);
        free(sha1);
        return -1;
    }
    free(sha1);
    c->sha1 = (enum hilt_sha1_rule)found;
    c->legacy_kx_signatures = 1;
    if (get_bool(l, o, "aia_fetch", 1, &c->aia_fetch) < 0 ||
        get_bool(l, o, "intermediate_preload", 0, &c->intermediate_preload) < 0 ||
        get_bool(l, o, "legacy_kx_signatures", 0, &c->legacy_kx_signatures) < 0 ||
        get_str(l, o, "trust_store", 0, &c->trust_store) < 0)
        return -1;
    if (!c->trust_store && !(c->trust_store = dupstr("system")))
        return hilt_err_set(l->e, HILT_E_RUNTIME, 0, "out of memory");
    if (get_str(l, o, "hello", 0, &c->hello_hex) < 0) return -1;
    if (c->hello_hex) {
        size_t n = strlen(c->hello_hex);
        if (n % 2 || strspn(c->hello_hex, "0123456789abcdefABCDEF") != n)
            return fail(l, "hello", "expected an even number of hex digits");
    }
    return 0;
}

static void client_free(struct hilt_client *c)
{
    free(c->id);
    free(c->name);
    free(c->version);
    free(c->platform);
    free(c->category);
    free(c->ciphers.v);
    free(c->groups.v);
    free(c->key_shares.v);
    free(c->sigalgs.v);
    struct hilt_strlist *ls[] = {&c->alpn, &c->extensions, &c->unresolved, &c->sources};
    for (size_t k = 0; k < 4; k++) {
        for (size_t i = 0; i < ls[k]->n; i++)
            free(ls[k]->v[i]);
        free(ls[k]->v);
    }
    free(c->trust_store);
    free(c->hello_hex);
    memset(c, 0, sizeof(*c));
}

void hilt_clients_free(struct hilt_clients **cp)
{
    if (!cp || !*cp) return;
    struct hilt_clients *c = *cp;
    for (size_t i = 0; i < c->n; i++)
        client_free(&c->v[i]);
    free(c->v);
    free(c->source);
    free(c);
    *cp = NULL;
}

int hilt_clients_load_mem(const void *data, size_t len, const char *source,
                          struct hilt_clients **out, struct hilt_err *e)
{
    *out = NULL;
    if (!source) source = "clients";
    if (len > HILT_CLIENTS_MAX_BYTES)
        return hilt_err_set(e, HILT_E_INPUT, 0, "%s: larger than %d bytes", source,
                            HILT_CLIENTS_MAX_BYTES);
    json_t *root = hilt_json_parse(data, len, source, e);
    if (!root) return -1;
    struct ld l = {.source = source, .e = e};
    struct hilt_clients *cs = calloc(1, sizeof(*cs));
    int rc = -1;
    if (!cs || !(cs->source = strdup(source))) {
        hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
        goto out;
    }
    if (!json_is_object(root)) {
        fail(&l, NULL, "expected an object with a 'clients' list");
        goto out;
    }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val)
    {
        if (strcmp(key, "clients") && strcmp(key, "version") && strcmp(key, "_comment")) {
            fail(&l, NULL, "unknown key '%.64s' (expected version, clients)", key);
            goto out;
        }
    }
    json_t *ver = json_object_get(root, "version");
    if (ver && (!json_is_integer(ver) || json_integer_value(ver) != 1)) {
        snprintf(l.where, sizeof(l.where), "version");
        fail(&l, NULL, "the only version is 1");
        goto out;
    }
    json_t *list = json_object_get(root, "clients");
    if (!json_is_array(list)) {
        snprintf(l.where, sizeof(l.where), "clients");
        fail(&l, NULL, "missing or not a list");
        goto out;
    }
    size_t n = json_array_size(list);
    if (n > HILT_CLIENTS_MAX) {
        snprintf(l.where, sizeof(l.where), "clients");
        fail(&l, NULL, "more than %d profiles", HILT_CLIENTS_MAX);
        goto out;
    }
    cs->v = calloc(n ? n : 1, sizeof(*cs->v));
    if (!cs->v) {
        hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(list, i);
        snprintf(l.where, sizeof(l.where), "clients[%zu]", i);
        if (!json_is_object(o)) {
            fail(&l, NULL, "expected an object");
            goto out;
        }
        cs->n = i + 1;
        if (load_one(&l, o, &cs->v[i]) < 0) goto out;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(cs->v[j].id, cs->v[i].id)) {
                fail(&l, "id", "'%s' is already used by clients[%zu]", cs->v[i].id, j);
                goto out;
            }
    }
    *out = cs;
    cs = NULL;
    rc = 0;
out:
    hilt_clients_free(&cs);
    json_decref(root);
    return rc;
}

int hilt_clients_load_file(const char *path, struct hilt_clients **out, struct hilt_err *e)
{
    struct hilt_buf b;
    hilt_buf_init(&b, HILT_CLIENTS_MAX_BYTES);
    *out = NULL;
    int rc = hilt_file_read(path, &b, e);
    if (rc == 0) rc = hilt_clients_load_mem(b.data, b.len, path, out, e);
    hilt_buf_free(&b);
    return rc;
}

static pthread_once_t builtin_once = PTHREAD_ONCE_INIT;
static struct hilt_clients *builtin;
static struct hilt_err builtin_err;

static void builtin_free(void)
{
    hilt_clients_free(&builtin);
}

static void builtin_load(void)
{
    const struct hilt_blob *b = hilt_embedded("clients.json");
    if (!b) {
        hilt_err_set(&builtin_err, HILT_E_RUNTIME, 0,
                     "clients.json is not embedded in this binary");
        return;
    }
    if (hilt_clients_load_mem(b->data, b->len, "builtin clients.json", &builtin, &builtin_err) == 0)
        atexit(builtin_free);
}

const struct hilt_clients *hilt_clients_builtin(struct hilt_err *e)
{
    pthread_once(&builtin_once, builtin_load);
    if (!builtin && e) *e = builtin_err;
    return builtin;
}

const struct hilt_client *hilt_clients_find(const struct hilt_clients *c, const char *id)
{
    for (size_t i = 0; c && i < c->n; i++)
        if (!strcmp(c->v[i].id, id)) return &c->v[i];
    return NULL;
}

int hilt_client_max_version(const struct hilt_client *c)
{
    for (int v = HILT_TLS_VERSION_COUNT - 1; v >= 0; v--)
        if (c->versions & HILT_VERSION_BIT(v)) return v;
    return -1;
}

void hilt_client_label(const struct hilt_client *c, char *out, size_t cap)
{
    if (c->platform && strcmp(c->platform, "any"))
        snprintf(out, cap, "%s %s (%s)", c->name, c->version, c->platform);
    else
        snprintf(out, cap, "%s %s", c->name, c->version);
}

void hilt_client_ch_spec(const struct hilt_client *c, const char *sni, struct hilt_ch_spec *s,
                         struct hilt_client_spec_buf *buf)
{
    memset(s, 0, sizeof(*s));
    memset(buf, 0, sizeof(*buf));
    /* An SSLv2-compatible hello is sent as the SSLv3/TLS record it stands for. */
    s->record_version = c->record_version == 0x0002 ? 0x0300 : c->record_version;
    s->client_version = c->client_version;
    s->ciphers = c->ciphers.v;
    s->nciphers = c->ciphers.n;
    if (c->versions & HILT_VERSION_BIT(HILT_TLS13)) {
        size_t n = 0;
        for (int v = HILT_TLS13; v >= HILT_TLS10 && n < 8; v--)
            if (c->versions & HILT_VERSION_BIT(v))
                buf->versions[n++] = hilt_tls_version_wire((enum hilt_tls_version)v);
        s->versions = buf->versions;
        s->nversions = n;
        /* key_share is sent even when empty (RFC 8446 4.2.8: the server then asks in an HRR). */
        s->key_shares = c->key_shares.v ? c->key_shares.v : buf->versions;
        s->nkey_shares = c->key_shares.n;
    }
    if (c->groups.n) {
        s->groups = c->groups.v;
        s->ngroups = c->groups.n;
    }
    if (c->sigalgs.n) {
        s->sigalgs = c->sigalgs.v;
        s->nsigalgs = c->sigalgs.n;
    }
    if (c->sni && sni && *sni && !hilt_is_ip_literal(sni) && strlen(sni) <= 255) s->sni = sni;
    size_t l = 0;
    for (size_t i = 0; i < c->alpn.n; i++) {
        size_t n = strlen(c->alpn.v[i]);
        if (l + n + 2 > sizeof(buf->alpn)) break;
        if (l) buf->alpn[l++] = ',';
        memcpy(buf->alpn + l, c->alpn.v[i], n);
        l += n;
    }
    if (l) s->alpn = buf->alpn;
    s->flags = c->ch_flags;
}

/* ---- JSON ------------------------------------------------------------------ */

static json_t *codes_json(const struct hilt_u16list *l, enum kind k)
{
    json_t *a = json_array();
    for (size_t i = 0; i < l->n; i++) {
        const char *name = NULL;
        if (k == K_CIPHER) {
            const struct hilt_cipher *c = hilt_cipher_by_code(l->v[i]);
            name = c ? hilt_cipher_name(c) : NULL;
        } else if (k == K_GROUP) {
            const struct hilt_group *g = hilt_group_by_code(l->v[i]);
            name = g ? g->iana : NULL;
        } else {
            const struct hilt_sigalg *g = hilt_sigalg_by_code(l->v[i]);
            name = g ? g->iana : NULL;
        }
        char hex[8];
        snprintf(hex, sizeof(hex), "0x%04X", l->v[i]);
        json_array_append_new(a, json_string(name ? name : hex));
    }
    return a;
}

static json_t *strs_json(const struct hilt_strlist *l)
{
    json_t *a = json_array();
    for (size_t i = 0; i < l->n; i++)
        json_array_append_new(a, hilt_json_str(l->v[i]));
    return a;
}

static json_t *bits_json(int v)
{
    return v ? json_integer(v) : json_null();
}

json_t *hilt_client_json(const struct hilt_client *c, int with_hello)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(c->id));
    json_object_set_new(o, "name", hilt_json_str(c->name));
    json_object_set_new(o, "version", hilt_json_str(c->version));
    json_object_set_new(o, "platform", hilt_json_str(c->platform));
    json_object_set_new(o, "category", hilt_json_str(c->category));
    json_object_set_new(o, "current", json_boolean(c->current));
    json_t *vs = json_array();
    for (int v = 0; v < HILT_TLS_VERSION_COUNT; v++)
        if (c->versions & HILT_VERSION_BIT(v))
            json_array_append_new(vs, json_string(hilt_tls_version_name((enum hilt_tls_version)v)));
    json_object_set_new(o, "versions", vs);
    json_object_set_new(o, "ciphers", codes_json(&c->ciphers, K_CIPHER));
    json_object_set_new(o, "grease", json_boolean(c->grease));
    json_object_set_new(o, "groups", codes_json(&c->groups, K_GROUP));
    json_object_set_new(o, "key_shares", codes_json(&c->key_shares, K_GROUP));
    json_object_set_new(o, "sigalgs", codes_json(&c->sigalgs, K_SIGALG));
    json_object_set_new(o, "alpn", strs_json(&c->alpn));
    json_object_set_new(o, "sni", json_boolean(c->sni));
    json_object_set_new(o, "extensions", strs_json(&c->extensions));
    json_object_set_new(o, "rsa_min_bits", bits_json(c->rsa_min_bits));
    json_object_set_new(o, "dh_min_bits", bits_json(c->dh_min_bits));
    json_object_set_new(o, "dh_max_bits", bits_json(c->dh_max_bits));
    json_object_set_new(o, "ec_min_bits", bits_json(c->ec_min_bits));
    json_object_set_new(o, "sha1_certificates", json_string(hilt_sha1_rule_name(c->sha1)));
    json_object_set_new(o, "aia_fetch", json_boolean(c->aia_fetch));
    json_object_set_new(o, "intermediate_preload", json_boolean(c->intermediate_preload));
    json_object_set_new(o, "trust_store", hilt_json_str(c->trust_store));
    json_object_set_new(o, "sources", strs_json(&c->sources));
    if (with_hello && c->hello_hex) json_object_set_new(o, "hello", json_string(c->hello_hex));
    return o;
}
