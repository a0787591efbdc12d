/* manifest.c - loading certificate manifests (YAML, through the bounded
 * policy/yamltree) and their canonical JSON (docs/clm.md). */
#include "clm/manifest.h"

#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/fileio.h"
#include "policy/yamltree.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_DURATION (90 * 86400LL)
#define DEFAULT_HISTORY 10

void hilt_manifest_free(struct hilt_manifest *m)
{
    if (!m) return;
    char **f[] = {&m->name,    &m->source, &m->common_name, &m->issuer, &m->owner,
                  &m->service, &m->env,    &m->policy,      &m->reload};
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
        free(*f[i]);
        *f[i] = NULL;
    }
    for (size_t i = 0; i < m->nnames; i++) {
        free(m->names[i]);
        m->names[i] = NULL;
    }
    m->nnames = 0;
    for (size_t i = 0; i < m->ntargets; i++) {
        free(m->targets[i].cert);
        free(m->targets[i].key);
        free(m->targets[i].chain);
        memset(&m->targets[i], 0, sizeof(m->targets[i]));
    }
    m->ntargets = 0;
}

/* ---- YAML ----------------------------------------------------------------------- */

struct ctx {
    const char *src;
    const char *basedir;
    struct hilt_err *e;
};

static int perr(struct ctx *c, const struct yt_node *n, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int perr(struct ctx *c, const struct yt_node *n, const char *path, const char *fmt, ...)
{
    char msg[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return hilt_err_set(c->e, HILT_E_INPUT, 0, "%s:%d:%d: %s%s%s", c->src, n ? n->line : 1,
                        n ? n->col : 1, path ? path : "", path ? ": " : "", msg);
}

static int scalar(struct ctx *c, const struct yt_node *n, const char *path, const char **out)
{
    if (!n || n->type != YT_SCALAR || yt_is_null(n))
        return perr(c, n, path, "expected a value, got %s", yt_type_name(n));
    *out = n->str;
    return 0;
}

static int dup_str(struct ctx *c, const struct yt_node *n, const char *path, char **out)
{
    const char *s;
    if (scalar(c, n, path, &s) < 0) return -1;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20 && *p != '\t')
            return perr(c, n, path, "control characters are not allowed");
    free(*out);
    if (!(*out = strdup(s))) return hilt_err_set(c->e, HILT_E_RUNTIME, 0, "out of memory");
    return 0;
}

/* Keys of a mapping: each known once, nothing unknown. */
static int check_map(struct ctx *c, const struct yt_node *n, const char *path,
                     const char *const *known)
{
    const struct yt_node *bad;
    char msg[512];
    if (yt_check_keys(n, known, &bad, msg, sizeof(msg)) < 0) return perr(c, bad, path, "%s", msg);
    return 0;
}

static int duration(struct ctx *c, const struct yt_node *n, const char *path, int64_t *out)
{
    const char *s;
    if (scalar(c, n, path, &s) < 0) return -1;
    if (hilt_duration_parse(s, out) < 0 || *out <= 0)
        return perr(c, n, path, "'%s' is not a duration (like 90d, 12h, 30m)", s);
    return 0;
}

static int mode(struct ctx *c, const struct yt_node *n, const char *path, unsigned *out)
{
    const char *s;
    if (scalar(c, n, path, &s) < 0) return -1;
    size_t l = strlen(s);
    unsigned v = 0;
    if (l < 3 || l > 4) goto bad;
    for (size_t i = 0; i < l; i++) {
        if (s[i] < '0' || s[i] > '7') goto bad;
        v = v * 8 + (unsigned)(s[i] - '0');
    }
    if (v > 0777) goto bad;
    *out = v;
    return 0;
bad:
    return perr(c, n, path, "'%s' is not a file mode (like \"0644\")", s);
}

/* An absolute, normalised-enough path (no NUL, no trailing slash). */
static int path_val(struct ctx *c, const struct yt_node *n, const char *p, char **out)
{
    const char *s;
    if (scalar(c, n, p, &s) < 0) return -1;
    size_t l = strlen(s);
    if (l == 0 || l > 1000 || s[l - 1] == '/') return perr(c, n, p, "'%s' is not a file path", s);
    char buf[PATH_MAX];
    int w = s[0] == '/' ? snprintf(buf, sizeof(buf), "%s", s)
                        : snprintf(buf, sizeof(buf), "%s/%s", c->basedir, s);
    if (w < 0 || (size_t)w >= sizeof(buf)) return perr(c, n, p, "path too long");
    /* lexically normal: no "", "." or ".." components (so two spellings of
     * one file are caught as the same target) */
    char norm[PATH_MAX];
    size_t o = 0;
    const char *q = buf;
    while (*q) {
        while (*q == '/')
            q++;
        const char *end = strchr(q, '/');
        size_t cl = end ? (size_t)(end - q) : strlen(q);
        if (cl == 0) break;
        if (cl == 1 && q[0] == '.') {
            /* skip */
        } else if (cl == 2 && q[0] == '.' && q[1] == '.') {
            while (o > 0 && norm[o - 1] != '/')
                o--;
            if (o > 0) o--;
        } else {
            if (cl == 5 && !memcmp(q, ".hilt", 5))
                return perr(c, n, p, "'%s': .hilt directories belong to hilt", s);
            norm[o++] = '/';
            memcpy(norm + o, q, cl);
            o += cl;
        }
        q += cl;
    }
    norm[o] = '\0';
    if (o == 0) return perr(c, n, p, "'%s' is not a file path", s);
    free(*out);
    if (!(*out = strdup(norm))) return hilt_err_set(c->e, HILT_E_RUNTIME, 0, "out of memory");
    return 0;
}

static int name_ok(const char *s)
{
    size_t l = strlen(s);
    if (l == 0 || l > 63) return 0;
    if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9'))) return 0;
    for (size_t i = 0; i < l; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
              s[i] == '_' || s[i] == '.'))
            return 0;
    return 1;
}

static int add_name(struct ctx *c, const struct yt_node *n, const char *path,
                    struct hilt_manifest *m, const char *v, int front)
{
    for (size_t i = 0; i < m->nnames; i++)
        if (!strcasecmp(m->names[i], v)) {
            if (front) return 0; /* commonName also listed: fine */
            return perr(c, n, path, "'%s' is listed twice", v);
        }
    if (m->nnames == HILT_MANIFEST_NAMES_MAX)
        return perr(c, n, path, "more than %d names", HILT_MANIFEST_NAMES_MAX);
    size_t l = strlen(v);
    if (l == 0 || l > 253) return perr(c, n, path, "'%s' is not a host name", v);
    char *d = strdup(v);
    if (!d) return hilt_err_set(c->e, HILT_E_RUNTIME, 0, "out of memory");
    if (front) {
        memmove(m->names + 1, m->names, m->nnames * sizeof(m->names[0]));
        m->names[0] = d;
    } else {
        m->names[m->nnames] = d;
    }
    m->nnames++;
    return 0;
}

static int names_list(struct ctx *c, const struct yt_node *n, const char *path,
                      struct hilt_manifest *m, int ip)
{
    if (yt_is_null(n)) return 0;
    if (n->type != YT_SEQ) return perr(c, n, path, "expected a list, got %s", yt_type_name(n));
    for (size_t i = 0; i < n->n; i++) {
        char p[64];
        snprintf(p, sizeof(p), "%s[%zu]", path, i);
        const char *v;
        if (scalar(c, n->kids[i], p, &v) < 0) return -1;
        unsigned char b[16];
        int is_ip = inet_pton(AF_INET, v, b) == 1 || inet_pton(AF_INET6, v, b) == 1;
        if (ip && !is_ip) return perr(c, n->kids[i], p, "'%s' is not an IP address", v);
        if (!ip && is_ip)
            return perr(c, n->kids[i], p, "'%s' is an IP address: list it in ipAddresses", v);
        if (add_name(c, n->kids[i], p, m, v, 0) < 0) return -1;
    }
    return 0;
}

static int private_key(struct ctx *c, const struct yt_node *n, struct hilt_manifest *m)
{
    static const char *const keys[] = {"algorithm", "size", "rotationPolicy", NULL};
    if (check_map(c, n, "spec.privateKey", keys) < 0) return -1;
    const char *alg = "ECDSA", *s;
    const struct yt_node *a = yt_get(n, "algorithm"), *z = yt_get(n, "size"),
                         *r = yt_get(n, "rotationPolicy");
    if (a && scalar(c, a, "spec.privateKey.algorithm", &alg) < 0) return -1;
    long size = 0;
    if (z) {
        if (scalar(c, z, "spec.privateKey.size", &s) < 0) return -1;
        char *end;
        size = strtol(s, &end, 10);
        if (*end || size <= 0) return perr(c, z, "spec.privateKey.size", "'%s' is not a size", s);
    }
    if (!strcasecmp(alg, "ECDSA")) {
        if (!size) size = 256;
        if (size != 256 && size != 384)
            return perr(c, z, "spec.privateKey.size", "ECDSA keys are 256 or 384 bits");
        snprintf(m->key_type, sizeof(m->key_type), "ec-p%ld", size);
    } else if (!strcasecmp(alg, "RSA")) {
        if (!size) size = 2048;
        if (size != 2048 && size != 3072 && size != 4096)
            return perr(c, z, "spec.privateKey.size", "RSA keys are 2048, 3072 or 4096 bits");
        snprintf(m->key_type, sizeof(m->key_type), "rsa-%ld", size);
    } else if (!strcasecmp(alg, "Ed25519")) {
        if (z) return perr(c, z, "spec.privateKey.size", "Ed25519 keys have no size");
        snprintf(m->key_type, sizeof(m->key_type), "ed25519");
    } else {
        return perr(c, a, "spec.privateKey.algorithm", "'%s' is not ECDSA, RSA or Ed25519", alg);
    }
    if (r) {
        if (scalar(c, r, "spec.privateKey.rotationPolicy", &s) < 0) return -1;
        if (!strcmp(s, "Never"))
            m->rotate_never = 1;
        else if (strcmp(s, "Always"))
            return perr(c, r, "spec.privateKey.rotationPolicy", "'%s' is not Always or Never", s);
    }
    return 0;
}

static int targets(struct ctx *c, const struct yt_node *n, struct hilt_manifest *m)
{
    static const char *const keys[] = {"cert", "key", "chain", "certMode", "keyMode", NULL};
    if (!n || n->type != YT_SEQ || n->n == 0)
        return perr(c, n, "spec.targets", "expected a list of targets (cert/key/chain paths)");
    if (n->n > HILT_MANIFEST_TARGETS_MAX)
        return perr(c, n, "spec.targets", "more than %d targets", HILT_MANIFEST_TARGETS_MAX);
    for (size_t i = 0; i < n->n; i++) {
        const struct yt_node *t = n->kids[i];
        char p[64], q[80];
        snprintf(p, sizeof(p), "spec.targets[%zu]", i);
        if (check_map(c, t, p, keys) < 0) return -1;
        struct hilt_target *tg = &m->targets[m->ntargets++];
        tg->cert_mode = 0644;
        tg->key_mode = 0600;
        const struct yt_node *v;
        if ((v = yt_get(t, "cert")) &&
            (snprintf(q, sizeof(q), "%s.cert", p), path_val(c, v, q, &tg->cert) < 0))
            return -1;
        if ((v = yt_get(t, "key")) &&
            (snprintf(q, sizeof(q), "%s.key", p), path_val(c, v, q, &tg->key) < 0))
            return -1;
        if ((v = yt_get(t, "chain")) &&
            (snprintf(q, sizeof(q), "%s.chain", p), path_val(c, v, q, &tg->chain) < 0))
            return -1;
        if ((v = yt_get(t, "certMode")) &&
            (snprintf(q, sizeof(q), "%s.certMode", p), mode(c, v, q, &tg->cert_mode) < 0))
            return -1;
        if ((v = yt_get(t, "keyMode")) &&
            (snprintf(q, sizeof(q), "%s.keyMode", p), mode(c, v, q, &tg->key_mode) < 0))
            return -1;
        if (!tg->cert && !tg->key && !tg->chain)
            return perr(c, t, p, "a target needs at least one of cert, key, chain");
        if (tg->key_mode & 0007)
            return perr(c, yt_get(t, "keyMode") ? yt_get(t, "keyMode") : t, p,
                        "keyMode %04o would let every user read the private key", tg->key_mode);
        /* no path twice, within the manifest */
        const char *mine[3] = {tg->cert, tg->key, tg->chain};
        for (size_t a = 0; a < 3; a++)
            for (size_t j = 0; mine[a] && j <= i; j++) {
                const struct hilt_target *o = &m->targets[j];
                const char *theirs[3] = {o->cert, o->key, o->chain};
                for (size_t b = 0; b < 3; b++)
                    if (theirs[b] && (j < i || b < a) && !strcmp(theirs[b], mine[a]))
                        return perr(c, t, p, "%s is written twice", mine[a]);
            }
    }
    return 0;
}

static int parse_tree(struct ctx *c, const struct yt_node *root, struct hilt_manifest *m)
{
    static const char *const top[] = {"apiVersion", "kind", "metadata", "spec", NULL};
    static const char *const meta[] = {"name", NULL};
    static const char *const spec_keys[] = {"commonName",  "dnsNames",
                                            "ipAddresses", "duration",
                                            "renewBefore", "privateKey",
                                            "issuerRef",   "owner",
                                            "service",     "environment",
                                            "policy",      "targets",
                                            "reload",      "revisionHistoryLimit",
                                            NULL};
    if (!root) return perr(c, NULL, NULL, "empty manifest");
    if (check_map(c, root, NULL, top) < 0) return -1;
    const struct yt_node *n;
    const char *s;
    if ((n = yt_get(root, "apiVersion"))) {
        if (scalar(c, n, "apiVersion", &s) < 0) return -1;
        if (strcmp(s, "hilt.dev/v1")) return perr(c, n, "apiVersion", "'%s' is not hilt.dev/v1", s);
    }
    if (!(n = yt_get(root, "kind"))) return perr(c, root, NULL, "missing 'kind: Certificate'");
    if (scalar(c, n, "kind", &s) < 0) return -1;
    if (strcmp(s, "Certificate")) return perr(c, n, "kind", "'%s' is not Certificate", s);
    const struct yt_node *md = yt_get(root, "metadata");
    if (!md) return perr(c, root, NULL, "missing metadata.name");
    if (check_map(c, md, "metadata", meta) < 0) return -1;
    if (!(n = yt_get(md, "name"))) return perr(c, md, "metadata", "missing name");
    if (dup_str(c, n, "metadata.name", &m->name) < 0) return -1;
    if (!name_ok(m->name))
        return perr(c, n, "metadata.name",
                    "'%s': use 1-63 of a-z, 0-9, '.', '_', '-', starting with a letter or digit",
                    m->name);
    m->line = n->line;
    const struct yt_node *sp = yt_get(root, "spec");
    if (!sp) return perr(c, root, NULL, "missing spec");
    if (check_map(c, sp, "spec", spec_keys) < 0) return -1;
    if ((n = yt_get(sp, "dnsNames")) && names_list(c, n, "spec.dnsNames", m, 0) < 0) return -1;
    if ((n = yt_get(sp, "ipAddresses")) && names_list(c, n, "spec.ipAddresses", m, 1) < 0)
        return -1;
    if ((n = yt_get(sp, "commonName"))) {
        if (dup_str(c, n, "spec.commonName", &m->common_name) < 0) return -1;
        if (strlen(m->common_name) > 64)
            return perr(c, n, "spec.commonName", "longer than the 64 characters a CN holds");
        int listed = 0;
        for (size_t i = 0; i < m->nnames; i++)
            listed |= !strcasecmp(m->names[i], m->common_name);
        if (!listed)
            return perr(c, n, "spec.commonName",
                        "'%s' must also be one of dnsNames or ipAddresses (RFC 6125 clients use "
                        "only the SANs)",
                        m->common_name);
        /* the CN is the first name: move it to the front */
        for (size_t i = 0; i < m->nnames; i++)
            if (!strcasecmp(m->names[i], m->common_name)) {
                char *t = m->names[i];
                memmove(m->names + 1, m->names, i * sizeof(m->names[0]));
                m->names[0] = t;
                break;
            }
    }
    if (m->nnames == 0) return perr(c, sp, "spec", "no names: give dnsNames or ipAddresses");
    m->duration = DEFAULT_DURATION;
    if ((n = yt_get(sp, "duration")) && duration(c, n, "spec.duration", &m->duration) < 0)
        return -1;
    if ((n = yt_get(sp, "renewBefore"))) {
        if (duration(c, n, "spec.renewBefore", &m->renew_before) < 0) return -1;
        if (m->renew_before >= m->duration)
            return perr(c, n, "spec.renewBefore",
                        "must be shorter than the duration (the certificate would always be due)");
    }
    snprintf(m->key_type, sizeof(m->key_type), "ec-p256");
    if ((n = yt_get(sp, "privateKey")) && private_key(c, n, m) < 0) return -1;
    if ((n = yt_get(sp, "issuerRef"))) {
        static const char *const ik[] = {"name", NULL};
        if (check_map(c, n, "spec.issuerRef", ik) < 0) return -1;
        const struct yt_node *in = yt_get(n, "name");
        if (!in) return perr(c, n, "spec.issuerRef", "missing name");
        if (dup_str(c, in, "spec.issuerRef.name", &m->issuer) < 0) return -1;
    } else if (!(m->issuer = strdup("hilt"))) {
        return hilt_err_set(c->e, HILT_E_RUNTIME, 0, "out of memory");
    }
    struct {
        const char *key;
        char **dst;
    } strs[] = {{"owner", &m->owner},
                {"service", &m->service},
                {"environment", &m->env},
                {"policy", &m->policy},
                {"reload", &m->reload}};
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        char p[40];
        snprintf(p, sizeof(p), "spec.%s", strs[i].key);
        if ((n = yt_get(sp, strs[i].key)) && dup_str(c, n, p, strs[i].dst) < 0) return -1;
    }
    m->history_limit = DEFAULT_HISTORY;
    if ((n = yt_get(sp, "revisionHistoryLimit"))) {
        if (scalar(c, n, "spec.revisionHistoryLimit", &s) < 0) return -1;
        char *end;
        long v = strtol(s, &end, 10);
        if (*end || v < 1 || v > 1000)
            return perr(c, n, "spec.revisionHistoryLimit", "'%s' is not a number from 1 to 1000",
                        s);
        m->history_limit = (int)v;
    }
    const struct yt_node *tn = yt_get(sp, "targets");
    if (!tn)
        return perr(c, sp, "spec.targets", "expected a list of targets (cert/key/chain paths)");
    if (targets(c, tn, m) < 0) return -1;
    return 0;
}

/* ---- canonical JSON and hashes ------------------------------------------------- */

static json_t *jstr(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *names_json(const struct hilt_manifest *m)
{
    json_t *a = json_array();
    for (size_t i = 0; i < m->nnames; i++)
        json_array_append_new(a, json_string(m->names[i]));
    return a;
}

static json_t *targets_json(const struct hilt_manifest *m)
{
    json_t *a = json_array();
    for (size_t i = 0; i < m->ntargets; i++) {
        const struct hilt_target *t = &m->targets[i];
        json_t *o = json_object();
        json_object_set_new(o, "cert", jstr(t->cert));
        json_object_set_new(o, "key", jstr(t->key));
        json_object_set_new(o, "chain", jstr(t->chain));
        json_object_set_new(o, "certMode", json_integer(t->cert_mode));
        json_object_set_new(o, "keyMode", json_integer(t->key_mode));
        json_array_append_new(a, o);
    }
    return a;
}

static void hash_json(json_t *j, char out[65])
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    unsigned char h[32];
    unsigned hl = 0;
    out[0] = '\0';
    if (s && EVP_Digest(s, strlen(s), h, &hl, EVP_sha256(), NULL))
        for (unsigned i = 0; i < hl; i++)
            snprintf(out + 2 * i, 3, "%02x", h[i]);
    free(s);
    json_decref(j);
}

static json_t *to_json(const struct hilt_manifest *m)
{
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(m->name));
    json_object_set_new(o, "commonName", jstr(m->common_name));
    json_object_set_new(o, "names", names_json(m));
    json_object_set_new(o, "duration", json_integer(m->duration));
    json_object_set_new(o, "renewBefore", json_integer(m->renew_before));
    json_object_set_new(o, "keyType", json_string(m->key_type));
    json_object_set_new(o, "rotateNever", json_boolean(m->rotate_never));
    json_object_set_new(o, "issuer", json_string(m->issuer));
    json_object_set_new(o, "owner", jstr(m->owner));
    json_object_set_new(o, "service", jstr(m->service));
    json_object_set_new(o, "environment", jstr(m->env));
    json_object_set_new(o, "policy", jstr(m->policy));
    json_object_set_new(o, "targets", targets_json(m));
    json_object_set_new(o, "reload", jstr(m->reload));
    json_object_set_new(o, "revisionHistoryLimit", json_integer(m->history_limit));
    return o;
}

static void compute_hashes(struct hilt_manifest *m)
{
    json_t *c = json_object();
    json_object_set_new(c, "names", names_json(m));
    json_object_set_new(c, "duration", json_integer(m->duration));
    json_object_set_new(c, "keyType", json_string(m->key_type));
    json_object_set_new(c, "issuer", json_string(m->issuer));
    hash_json(c, m->cert_hash);
    hash_json(targets_json(m), m->deploy_hash);
    hash_json(to_json(m), m->spec_hash);
}

char *hilt_manifest_to_json(const struct hilt_manifest *m)
{
    json_t *o = to_json(m);
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return s;
}

static char *jdup(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? strdup(s) : NULL;
}

int hilt_manifest_from_json(const char *js, struct hilt_manifest *m, struct hilt_err *e)
{
    memset(m, 0, sizeof(*m));
    json_error_t je;
    json_t *o = json_loads(js, 0, &je);
    if (!o || !json_is_object(o)) {
        json_decref(o);
        return hilt_err_set(e, HILT_E_INPUT, 0, "stored manifest is not JSON: %s", je.text);
    }
    m->name = jdup(o, "name");
    m->source = strdup("store");
    m->common_name = jdup(o, "commonName");
    json_t *a = json_object_get(o, "names");
    for (size_t i = 0; i < json_array_size(a) && m->nnames < HILT_MANIFEST_NAMES_MAX; i++) {
        const char *s = json_string_value(json_array_get(a, i));
        if (s) m->names[m->nnames++] = strdup(s);
    }
    m->duration = json_integer_value(json_object_get(o, "duration"));
    m->renew_before = json_integer_value(json_object_get(o, "renewBefore"));
    const char *kt = json_string_value(json_object_get(o, "keyType"));
    snprintf(m->key_type, sizeof(m->key_type), "%s", kt ? kt : "ec-p256");
    m->rotate_never = json_is_true(json_object_get(o, "rotateNever"));
    m->issuer = jdup(o, "issuer");
    m->owner = jdup(o, "owner");
    m->service = jdup(o, "service");
    m->env = jdup(o, "environment");
    m->policy = jdup(o, "policy");
    m->reload = jdup(o, "reload");
    m->history_limit = (int)json_integer_value(json_object_get(o, "revisionHistoryLimit"));
    a = json_object_get(o, "targets");
    for (size_t i = 0; i < json_array_size(a) && m->ntargets < HILT_MANIFEST_TARGETS_MAX; i++) {
        json_t *t = json_array_get(a, i);
        struct hilt_target *tg = &m->targets[m->ntargets++];
        tg->cert = jdup(t, "cert");
        tg->key = jdup(t, "key");
        tg->chain = jdup(t, "chain");
        tg->cert_mode = (unsigned)json_integer_value(json_object_get(t, "certMode"));
        tg->key_mode = (unsigned)json_integer_value(json_object_get(t, "keyMode"));
    }
    json_decref(o);
    if (!m->name || !m->issuer || !m->nnames || !m->ntargets || m->duration <= 0) {
        hilt_manifest_free(m);
        return hilt_err_set(e, HILT_E_INPUT, 0, "stored manifest is incomplete");
    }
    if (m->history_limit <= 0) m->history_limit = DEFAULT_HISTORY;
    compute_hashes(m);
    return 0;
}

/* ---- loading ---------------------------------------------------------------------------- */

int hilt_manifest_parse(const void *data, size_t len, const char *source, const char *basedir,
                        struct hilt_manifest *m, struct hilt_err *e)
{
    memset(m, 0, sizeof(*m));
    static const struct yt_limits lim = {HILT_MANIFEST_MAX_BYTES, HILT_MANIFEST_MAX_DEPTH,
                                         HILT_MANIFEST_MAX_NODES, HILT_MANIFEST_MAX_SCALAR};
    struct yt_node *root = NULL;
    if (yt_parse(data, len, source, &lim, &root, e) < 0) return -1;
    struct ctx c = {source, basedir && *basedir ? basedir : ".", e};
    int rc = parse_tree(&c, root, m);
    yt_free(&root);
    if (rc == 0 && !(m->source = strdup(source)))
        rc = hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
    if (rc < 0) {
        hilt_manifest_free(m);
        return -1;
    }
    compute_hashes(m);
    return 0;
}

int hilt_manifest_load_file(const char *path, struct hilt_manifest *m, struct hilt_err *e)
{
    memset(m, 0, sizeof(*m));
    struct hilt_buf b;
    hilt_buf_init(&b, HILT_MANIFEST_MAX_BYTES);
    if (hilt_file_read(path, &b, e) < 0) {
        hilt_buf_free(&b);
        return -1;
    }
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (!slash) {
        if (!getcwd(dir, sizeof(dir))) snprintf(dir, sizeof(dir), ".");
    } else if (path[0] == '/') {
        snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
    } else {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof(cwd))) snprintf(cwd, sizeof(cwd), ".");
        snprintf(dir, sizeof(dir), "%s/%.*s", cwd, (int)(slash - path), path);
    }
    if (!dir[0]) snprintf(dir, sizeof(dir), "/");
    int rc = hilt_manifest_parse(b.data, b.len, path, dir, m, e);
    hilt_buf_free(&b);
    return rc;
}

void hilt_manifest_set_free(struct hilt_manifest_set *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->n; i++)
        hilt_manifest_free(&s->v[i]);
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_manifest_file(const char *n)
{
    size_t l = strlen(n);
    return n[0] != '.' &&
           ((l > 5 && !strcmp(n + l - 5, ".yaml")) || (l > 4 && !strcmp(n + l - 4, ".yml")));
}

int hilt_manifest_load_path(const char *path, struct hilt_manifest_set *out, struct hilt_err *e)
{
    memset(out, 0, sizeof(*out));
    struct stat st;
    if (stat(path, &st) < 0)
        return hilt_err_set(e, HILT_E_INPUT, errno, "cannot read %s: %s", path, strerror(errno));
    char **files = NULL;
    size_t nf = 0;
    int rc = -1;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (!d)
            return hilt_err_set(e, HILT_E_INPUT, errno, "cannot read %s: %s", path,
                                strerror(errno));
        struct dirent *de;
        while ((de = readdir(d))) {
            if (!is_manifest_file(de->d_name)) continue;
            if (nf == HILT_MANIFESTS_MAX) {
                closedir(d);
                hilt_err_set(e, HILT_E_INPUT, 0, "%s holds more than %d manifests", path,
                             HILT_MANIFESTS_MAX);
                goto out;
            }
            char **nfiles = realloc(files, (nf + 1) * sizeof(*files));
            size_t need = strlen(path) + strlen(de->d_name) + 2;
            char *p = nfiles ? malloc(need) : NULL;
            if (!p) {
                free(nfiles ? nfiles : files);
                closedir(d);
                return hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
            }
            snprintf(p, need, "%s/%s", path, de->d_name);
            files = nfiles;
            files[nf++] = p;
        }
        closedir(d);
        if (nf == 0) {
            hilt_err_set(e, HILT_E_INPUT, 0, "%s holds no manifests (*.yaml, *.yml)", path);
            goto out;
        }
        qsort(files, nf, sizeof(*files), cmp_str);
    } else {
        if (!(files = malloc(sizeof(*files))) || !(files[0] = strdup(path))) {
            free(files);
            return hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
        }
        nf = 1;
    }
    if (!(out->v = calloc(nf, sizeof(*out->v)))) {
        hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < nf; i++) {
        if (hilt_manifest_load_file(files[i], &out->v[out->n], e) < 0) goto out;
        struct hilt_manifest *m = &out->v[out->n++];
        for (size_t j = 0; j + 1 < out->n; j++) {
            struct hilt_manifest *o = &out->v[j];
            if (!strcmp(o->name, m->name)) {
                hilt_err_set(e, HILT_E_INPUT, 0, "%s:%d: manifest '%s' is also defined in %s:%d",
                             m->source, m->line, m->name, o->source, o->line);
                goto out;
            }
            for (size_t a = 0; a < m->ntargets; a++)
                for (size_t b = 0; b < o->ntargets; b++) {
                    const char *x[3] = {m->targets[a].cert, m->targets[a].key, m->targets[a].chain};
                    const char *y[3] = {o->targets[b].cert, o->targets[b].key, o->targets[b].chain};
                    for (int p = 0; p < 3; p++)
                        for (int q = 0; q < 3; q++)
                            if (x[p] && y[q] && !strcmp(x[p], y[q])) {
                                hilt_err_set(e, HILT_E_INPUT, 0,
                                             "%s:%d: %s is a target of manifest '%s' (%s) too",
                                             m->source, m->line, x[p], o->name, o->source);
                                goto out;
                            }
                }
        }
    }
    rc = 0;
out:
    for (size_t i = 0; i < nf; i++)
        free(files[i]);
    free(files);
    if (rc < 0) hilt_manifest_set_free(out);
    return rc;
}
