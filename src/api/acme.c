/* acme.c - the ACME server of `hilt serve` (RFC 8555), mounted at /acme/:
 * set-up, the route table, the directory, nonces, and every JWS check of
 * §6 before a request reaches its resource (acme_account.c, acme_order.c,
 * ari.c). Validation runs on the server's event base (acme_validate.c).
 * See docs/acme.md.
 *
 * Order of the checks of a POST (§6.2-6.5): Content-Type, size, JWS syntax
 * and algorithm, url = the request URL, the nonce's MAC and age, the key
 * (jwk only where allowed; kid must name a valid account), the signature,
 * then the nonce is spent (replay set). Only then is the payload read. A
 * request refused on the way stores nothing. */
#include "api/acme_int.h"

#include "ca/ca.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/json.h"
#include "core/log.h"
#include "store/store.h"

#include <event2/event.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- small helpers ------------------------------------------------------------------------ */

void acme_count(struct acme *a, const char *fmt, const char *label)
{
    char series[256];
    snprintf(series, sizeof(series), fmt, label);
    hilt_api_count(a->api, series, 1);
}

static json_t *problem_obj(const char *type, int status, const char *detail)
{
    /* detail quotes what the client sent: never invalid UTF-8 in the JSON */
    return json_pack("{s:s, s:o, s:i}", "type", type, "detail", hilt_json_str(detail), "status",
                     status);
}

char *acme_problem_json(const char *type, int status, const char *fmt, ...)
{
    char detail[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    json_t *o = problem_obj(type, status, detail);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

void acme_problem(struct acme_rq *rq, int status, const char *type, json_t *extra, const char *fmt,
                  ...)
{
    char detail[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    json_t *o = problem_obj(type, status, detail);
    if (o && extra) json_object_update(o, extra);
    json_decref(extra);
    hilt_reply_json_type(rq->resp, status, "application/problem+json", o);
    const char *shortname = strrchr(type, ':');
    acme_count(rq->a, "hilt_acme_errors_total{type=\"%s\"}", shortname ? shortname + 1 : type);
}

static const char *const algorithms[] = {"ES256", "ES384", "RS256", "EdDSA"};

void acme_problem_err(struct acme_rq *rq, const struct hilt_err *e)
{
    enum hilt_acme_problem p = (enum hilt_acme_problem)e->code;
    if (p <= HILT_ACME_OK || p > HILT_ACME_SERVER_INTERNAL) p = HILT_ACME_SERVER_INTERNAL;
    json_t *extra = NULL;
    if (p == HILT_ACME_BAD_SIGNATURE_ALGORITHM) {
        /* §6.2: the problem lists the algorithms the server accepts */
        json_t *algs = json_array();
        for (size_t i = 0; i < sizeof(algorithms) / sizeof(algorithms[0]); i++)
            json_array_append_new(algs, json_string(algorithms[i]));
        extra = json_pack("{s:o}", "algorithms", algs);
    }
    acme_problem(rq, hilt_acme_problem_status(p), hilt_acme_problem_type(p), extra, "%s", e->msg);
}

void acme_reply_json(struct acme_rq *rq, int status, json_t *body)
{
    hilt_reply_json(rq->resp, status, body);
}

void acme_url(const struct acme_rq *rq, char *out, size_t cap, const char *fmt, ...)
{
    int n = snprintf(out, cap, "%s/acme/", rq->req->base_url ? rq->req->base_url : "");
    if (n < 0 || (size_t)n >= cap) {
        out[0] = '\0';
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out + n, cap - (size_t)n, fmt, ap);
    va_end(ap);
}

void acme_account_url(const struct acme_rq *rq, const char *id, char *out, size_t cap)
{
    acme_url(rq, out, cap, "acct/%s", id);
}

int acme_random_id(char *out, size_t cap, size_t bytes)
{
    unsigned char r[32];
    if (bytes > sizeof(r) || RAND_bytes(r, (int)bytes) != 1) return -1;
    char *s = hilt_b64url_encode(r, bytes);
    if (!s) return -1;
    int ok = strlen(s) < cap;
    if (ok) strcpy(out, s);
    free(s);
    return ok ? 0 : -1;
}

json_t *acme_time(int64_t t)
{
    char b[32];
    hilt_time_fmt_rfc3339((time_t)t, b);
    return json_string(b);
}

static int b64url_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

const char *acme_path_id(const char *path, const char *prefix, char *out, size_t cap)
{
    size_t pl = strlen(prefix);
    if (strncmp(path, prefix, pl)) return NULL;
    const char *p = path + pl;
    size_t n = 0;
    while (p[n] && p[n] != '/')
        n++;
    if (n == 0 || n >= cap || n >= HILT_ACME_ID_MAX) return NULL;
    for (size_t i = 0; i < n; i++)
        if (!b64url_char(p[i])) return NULL;
    memcpy(out, p, n);
    out[n] = '\0';
    return p + n; /* what follows the id: "" or "/…" */
}

const char *acme_actor(const struct acme_rq *rq, char *buf, size_t cap)
{
    snprintf(buf, cap, "acme:%s", rq->have_acct ? rq->acct.id : "-");
    return buf;
}

/* ---- nonces ---------------------------------------------------------------------------------- */
/* A nonce is base64url(1 | issued (4, big-endian seconds) | random (8) |
 * HMAC-SHA256(key, the 13 bytes before)[0..12)): any node that holds the key
 * can tell one it (or another node) made from a forgery without storing
 * it; only used nonces are remembered (the replay set), until they would
 * have expired anyway. */
#define NONCE_RAW 25
#define NONCE_MAC 12

static void nonce_mac(const struct acme *a, const unsigned char *in, unsigned char out[32])
{
    unsigned int n = 32;
    HMAC(EVP_sha256(), a->nonce_key, sizeof(a->nonce_key), in, 13, out, &n);
}

static int nonce_make(struct acme *a, char out[64])
{
    unsigned char raw[NONCE_RAW], mac[32];
    uint32_t now = (uint32_t)hilt_now();
    raw[0] = 1;
    raw[1] = (unsigned char)(now >> 24);
    raw[2] = (unsigned char)(now >> 16);
    raw[3] = (unsigned char)(now >> 8);
    raw[4] = (unsigned char)now;
    if (RAND_bytes(raw + 5, 8) != 1) return -1;
    nonce_mac(a, raw, mac);
    memcpy(raw + 13, mac, NONCE_MAC);
    char *s = hilt_b64url_encode(raw, sizeof(raw));
    if (!s) return -1;
    snprintf(out, 64, "%s", s);
    free(s);
    return 0;
}

/* 0 when well-formed, made with our key and not expired; *issued and *rnd
 * filled. */
static int nonce_check(const struct acme *a, const char *nonce, uint32_t *issued, uint64_t *rnd)
{
    unsigned char *raw = NULL, mac[32];
    size_t n = 0;
    if (strlen(nonce) != 34 || hilt_b64url_decode(nonce, 34, &raw, &n) < 0) return -1;
    int ok = n == NONCE_RAW && raw[0] == 1;
    if (ok) {
        nonce_mac(a, raw, mac);
        ok = CRYPTO_memcmp(mac, raw + 13, NONCE_MAC) == 0;
    }
    if (ok) {
        *issued = (uint32_t)raw[1] << 24 | (uint32_t)raw[2] << 16 | (uint32_t)raw[3] << 8 | raw[4];
        uint64_t r = 0;
        for (int i = 0; i < 8; i++)
            r = r << 8 | raw[5 + i];
        *rnd = r ? r : 1;
        int64_t now = hilt_now();
        ok = (int64_t)*issued <= now + 60 && (int64_t)*issued + ACME_NONCE_LIFETIME > now &&
             *issued >= a->replay.floor;
    }
    free(raw);
    return ok ? 0 : -1;
}

static size_t slot_of(uint64_t k, size_t cap)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return (size_t)k & (cap - 1);
}

/* Rebuild with room for twice the live entries, dropping expired ones. */
static int replay_rehash(struct acme_replay *r, size_t cap)
{
    uint64_t *keys = calloc(cap, sizeof(*keys));
    uint32_t *issued = calloc(cap, sizeof(*issued));
    if (!keys || !issued) {
        free(keys);
        free(issued);
        return -1;
    }
    int64_t now = hilt_now();
    size_t n = 0;
    for (size_t i = 0; i < r->cap; i++) {
        if (!r->keys[i] || (int64_t)r->issued[i] + ACME_NONCE_LIFETIME <= now) continue;
        size_t j = slot_of(r->keys[i], cap);
        while (keys[j])
            j = (j + 1) & (cap - 1);
        keys[j] = r->keys[i];
        issued[j] = r->issued[i];
        n++;
    }
    free(r->keys);
    free(r->issued);
    r->keys = keys;
    r->issued = issued;
    r->cap = cap;
    r->n = n;
    return 0;
}

#define REPLAY_MIN (1u << 12)
#define REPLAY_MAX (1u << 22) /* 4M slots (48 MiB): 2M nonces in 15 minutes */

/* 0 first use, 1 seen before, -1 no memory. */
static int replay_mem_use(struct acme_replay *r, uint64_t k, uint32_t issued)
{
    if (!r->keys && replay_rehash(r, REPLAY_MIN) < 0) return -1;
    if ((r->n + 1) * 2 > r->cap) {
        size_t cap = r->cap;
        replay_rehash(r, cap); /* expired ones out first */
        while ((r->n + 1) * 2 > cap && cap < REPLAY_MAX)
            cap *= 2;
        if ((r->n + 1) * 2 > cap) {
            /* Full of live nonces: forget them all, and refuse every nonce
             * issued before now (clients retry on badNonce, §6.5). */
            r->floor = (uint32_t)hilt_now() + 1;
            memset(r->keys, 0, r->cap * sizeof(*r->keys));
            r->n = 0;
            return 1;
        }
        if (cap != r->cap && replay_rehash(r, cap) < 0) return -1;
    }
    size_t j = slot_of(k, r->cap);
    while (r->keys[j]) {
        if (r->keys[j] == k) return 1;
        j = (j + 1) & (r->cap - 1);
    }
    r->keys[j] = k;
    r->issued[j] = issued;
    r->n++;
    return 0;
}

/* Spend a nonce: 0 first use, 1 replayed, -1 store fault (e set). */
static int nonce_use(struct acme *a, const char *nonce, uint32_t issued, uint64_t rnd,
                     struct hilt_err *e)
{
    if (!a->shared) {
        int rc = replay_mem_use(&a->replay, rnd, issued);
        if (rc < 0)
            return hilt_err_set(e, HILT_E_RUNTIME, HILT_ACME_SERVER_INTERNAL, "out of memory");
        return rc;
    }
    int rc = hilt_store_acme_nonce_use(a->api->st, nonce, (int64_t)issued + ACME_NONCE_LIFETIME, e);
    if (rc < 0 && e) e->code = HILT_ACME_SERVER_INTERNAL;
    int64_t now = hilt_now();
    if (rc >= 0 && now - a->last_purge > 60) {
        a->last_purge = now;
        hilt_store_acme_nonce_purge(a->api->st, now, NULL);
    }
    return rc;
}

/* ---- authentication (§6.2-6.5)
 * -------------------------------------------------------------------- */

enum { AUTH_JWK = 1, AUTH_KID = 2 };

/* The account id in a kid: the path of the URL must be /acme/acct/ID.
 * Another node of the same store may have made it, so scheme and
 * authority are not compared (the signature decides). */
static int kid_account(const char *kid, char *id, size_t cap)
{
    const char *p = strstr(kid, "://");
    if (!p || (strncmp(kid, "https://", 8) && strncmp(kid, "http://", 7))) return -1;
    const char *path = strchr(p + 3, '/');
    if (!path) return -1;
    const char *rest = acme_path_id(path, "/acme/acct/", id, cap);
    return rest && !*rest ? 0 : -1;
}

static int content_type_ok(const struct hilt_req *req)
{
    const char *ct = hilt_req_header(req, "Content-Type");
    if (!ct) return 0;
    static const char want[] = "application/jose+json";
    if (strncasecmp(ct, want, sizeof(want) - 1)) return 0;
    char c = ct[sizeof(want) - 1];
    return c == '\0' || c == ';' || c == ' ';
}

static unsigned tp_slot(const char *tp)
{
    unsigned h = 2166136261u;
    for (; *tp; tp++)
        h = (h ^ (unsigned char)*tp) * 16777619u;
    return h % ACME_KEY_CACHE;
}

/* The account's key (a new reference), from the cache or its stored JWK. */
static EVP_PKEY *account_key(struct acme *a, const struct hilt_acme_account *acct,
                             struct hilt_err *e)
{
    struct acme_key_slot *s = &a->keys[tp_slot(acct->thumbprint)];
    if (s->key && !strcmp(s->thumbprint, acct->thumbprint)) {
        EVP_PKEY_up_ref(s->key);
        return s->key;
    }
    json_t *jwk = json_loads(acct->jwk, 0, NULL);
    EVP_PKEY *k = jwk ? hilt_jwk_to_pkey(jwk, e) : NULL;
    json_decref(jwk);
    if (!k) return NULL;
    EVP_PKEY_free(s->key);
    EVP_PKEY_up_ref(k);
    s->key = k;
    snprintf(s->thumbprint, sizeof(s->thumbprint), "%s", acct->thumbprint);
    return k;
}

static int authenticate(struct acme_rq *rq, int allow)
{
    struct hilt_err e = {0};
    struct acme *a = rq->a;
    if (!content_type_ok(rq->req)) {
        acme_problem(rq, 415, ACME_ERR("malformed"), NULL,
                     "Content-Type must be application/jose+json (RFC 8555 §6.2)");
        return -1;
    }
    if (rq->req->body_len > HILT_JWS_MAX) {
        acme_problem(rq, 413, ACME_ERR("malformed"), NULL, "request body over %u bytes",
                     HILT_JWS_MAX);
        return -1;
    }
    if (hilt_jws_parse(rq->req->body, rq->req->body_len, &rq->jws, &e) < 0) {
        acme_problem_err(rq, &e);
        return -1;
    }
    if (strcmp(rq->jws.url, rq->url)) {
        acme_problem(rq, 403, ACME_ERR("unauthorized"), NULL,
                     "the JWS url '%.300s' is not the URL this request was sent to (%.300s)",
                     rq->jws.url, rq->url);
        return -1;
    }
    uint32_t issued = 0;
    uint64_t rnd = 0;
    if (nonce_check(a, rq->jws.nonce, &issued, &rnd) < 0) {
        acme_problem(rq, 400, ACME_ERR("badNonce"), NULL,
                     "nonce '%.64s' was not issued by this server or has expired; use the one "
                     "in this response's Replay-Nonce",
                     rq->jws.nonce);
        return -1;
    }
    if (rq->jws.jwk) {
        if (!(allow & AUTH_JWK)) {
            acme_problem(rq, 400, ACME_ERR("malformed"), NULL,
                         "this resource needs a kid (the account URL), not a jwk (RFC 8555 §6.2)");
            return -1;
        }
        if (!(rq->key = hilt_jwk_to_pkey(rq->jws.jwk, &e))) {
            if (!e.code) e.code = HILT_ACME_BAD_PUBLIC_KEY;
            acme_problem_err(rq, &e);
            return -1;
        }
    } else {
        if (!(allow & AUTH_KID)) {
            acme_problem(rq, 400, ACME_ERR("malformed"), NULL,
                         "this resource needs a jwk (the account key), not a kid (RFC 8555 §6.2)");
            return -1;
        }
        char id[HILT_ACME_ID_MAX];
        int found = kid_account(rq->jws.kid, id, sizeof(id)) < 0
                        ? 0
                        : hilt_store_acme_account_get(rq->api->st, id, &rq->acct, &e);
        if (found < 0) {
            acme_problem(rq, 500, ACME_ERR("serverInternal"), NULL, "%s", e.msg);
            return -1;
        }
        if (!found) {
            acme_problem(rq, 400, ACME_ERR("accountDoesNotExist"), NULL,
                         "no account at kid '%.300s'", rq->jws.kid);
            return -1;
        }
        rq->have_acct = 1;
        if (strcmp(rq->acct.status, "valid")) {
            acme_problem(rq, 403, ACME_ERR("unauthorized"), NULL, "account %s is %s", rq->acct.id,
                         rq->acct.status);
            return -1;
        }
        rq->key = account_key(a, &rq->acct, &e);
        if (!rq->key) {
            acme_problem(rq, 500, ACME_ERR("serverInternal"), NULL,
                         "account %s: stored key unreadable", rq->acct.id);
            return -1;
        }
    }
    if (hilt_jws_verify(&rq->jws, rq->key, &e) < 0) {
        acme_problem_err(rq, &e);
        return -1;
    }
    int used = nonce_use(a, rq->jws.nonce, issued, rnd, &e);
    if (used < 0) {
        acme_problem(rq, 500, ACME_ERR("serverInternal"), NULL, "%s", e.msg);
        return -1;
    }
    if (used) {
        acme_problem(rq, 400, ACME_ERR("badNonce"), NULL,
                     "nonce '%.64s' was used before; use the one in this response's Replay-Nonce",
                     rq->jws.nonce);
        return -1;
    }
    if (!rq->jws.post_as_get) {
        json_error_t je;
        rq->payload = json_loadb((const char *)rq->jws.payload, rq->jws.payload_len,
                                 JSON_REJECT_DUPLICATES, &je);
        if (!json_is_object(rq->payload)) {
            acme_problem(rq, 400, ACME_ERR("malformed"), NULL,
                         "the payload is not a JSON object%s%s", rq->payload ? "" : ": ",
                         rq->payload ? "" : je.text);
            return -1;
        }
    }
    return 0;
}

/* ---- resources ----------------------------------------------------------------------------------
 */

static void directory(struct acme_rq *rq)
{
    char u[6][1200];
    acme_url(rq, u[0], sizeof(u[0]), "new-nonce");
    acme_url(rq, u[1], sizeof(u[1]), "new-account");
    acme_url(rq, u[2], sizeof(u[2]), "new-order");
    acme_url(rq, u[3], sizeof(u[3]), "revoke-cert");
    acme_url(rq, u[4], sizeof(u[4]), "key-change");
    acme_url(rq, u[5], sizeof(u[5]), "renewal-info");
    json_t *meta = json_pack("{s:b}", "externalAccountRequired", 0);
    const char *tos = getenv("HILT_ACME_TERMS_URL");
    if (tos && *tos) json_object_set_new(meta, "termsOfService", json_string(tos));
    json_t *d = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o}", "newNonce", u[0], "newAccount",
                          u[1], "newOrder", u[2], "revokeCert", u[3], "keyChange", u[4],
                          "renewalInfo", u[5], "meta", meta);
    acme_reply_json(rq, 200, d);
}

/* POST resources under /acme/: who may sign them and where they go. */
static void r_new_account(struct acme_rq *rq, const char *rest)
{
    (void)rest;
    acme_new_account(rq);
}
static void r_new_order(struct acme_rq *rq, const char *rest)
{
    (void)rest;
    acme_new_order(rq);
}
static void r_revoke(struct acme_rq *rq, const char *rest)
{
    (void)rest;
    acme_revoke(rq);
}
static void r_key_change(struct acme_rq *rq, const char *rest)
{
    (void)rest;
    acme_key_change(rq);
}
/* id-addressed resources: rest is "<id>" or "<id>/<sub>" (checked by parse_id) */
static int split_id(const char *rest, char id[HILT_ACME_ID_MAX], const char **sub)
{
    /* rest is "ID" or "ID/…": the id, and *sub pointing into rest after it */
    size_t n = 0;
    while (rest[n] && rest[n] != '/')
        n++;
    if (n == 0 || n >= HILT_ACME_ID_MAX) return -1;
    for (size_t i = 0; i < n; i++)
        if (!b64url_char(rest[i])) return -1;
    memcpy(id, rest, n);
    id[n] = '\0';
    *sub = rest + n;
    return 0;
}
static void r_account(struct acme_rq *rq, const char *rest)
{
    char id[HILT_ACME_ID_MAX];
    const char *sub;
    split_id(rest, id, &sub);
    if (!*sub)
        acme_account(rq, id);
    else
        acme_account_orders(rq, id);
}
static void r_order(struct acme_rq *rq, const char *rest)
{
    char id[HILT_ACME_ID_MAX];
    const char *sub;
    split_id(rest, id, &sub);
    if (!*sub)
        acme_order(rq, id);
    else
        acme_finalize(rq, id);
}
static void r_authz(struct acme_rq *rq, const char *rest)
{
    acme_authz(rq, rest);
}
static void r_chall(struct acme_rq *rq, const char *rest)
{
    char id[HILT_ACME_ID_MAX];
    const char *sub;
    split_id(rest, id, &sub);
    acme_challenge(rq, id, sub + 1);
}
static void r_cert(struct acme_rq *rq, const char *rest)
{
    acme_certificate(rq, rest);
}

/* Which tails a resource takes after its id (NULL: a fixed URL). */
static int tail_ok(const char *prefix, const char *rest)
{
    char id[HILT_ACME_ID_MAX];
    const char *sub;
    if (!strcmp(prefix, "/acme/cert/")) {
        size_t n = strlen(rest);
        if (!n || n > 64) return 0;
        for (size_t i = 0; i < n; i++)
            if (!strchr("0123456789abcdef", rest[i])) return 0;
        return 1;
    }
    if (split_id(rest, id, &sub) < 0) return 0;
    if (!strcmp(prefix, "/acme/acct/")) return !*sub || !strcmp(sub, "/orders");
    if (!strcmp(prefix, "/acme/order/")) return !*sub || !strcmp(sub, "/finalize");
    if (!strcmp(prefix, "/acme/authz/")) return !*sub;
    if (!strcmp(prefix, "/acme/chall/"))
        return !strcmp(sub, "/http-01") || !strcmp(sub, "/tls-alpn-01");
    return 0;
}

static const struct route {
    const char *path; /* exact, or a prefix when it ends in '/' */
    int auth;
    void (*fn)(struct acme_rq *rq, const char *rest);
} routes[] = {
    {"/acme/new-account", AUTH_JWK, r_new_account},
    {"/acme/new-order", AUTH_KID, r_new_order},
    {"/acme/revoke-cert", AUTH_JWK | AUTH_KID, r_revoke},
    {"/acme/key-change", AUTH_KID, r_key_change},
    {"/acme/acct/", AUTH_KID, r_account},
    {"/acme/order/", AUTH_KID, r_order},
    {"/acme/authz/", AUTH_KID, r_authz},
    {"/acme/chall/", AUTH_KID, r_chall},
    {"/acme/cert/", AUTH_KID, r_cert},
};

static void dispatch(struct acme_rq *rq)
{
    const char *path = rq->req->path, *m = rq->req->method;
    int get = !strcmp(m, "GET"), head = !strcmp(m, "HEAD"), post = !strcmp(m, "POST");
    if (!strcmp(path, "/acme/directory")) {
        if (get || head) return directory(rq);
        hilt_reply_header(rq->resp, "Allow", "GET, HEAD");
        return acme_problem(rq, 405, ACME_ERR("malformed"), NULL, "the directory takes GET");
    }
    if (!strcmp(path, "/acme/new-nonce")) {
        if (!get && !head) {
            hilt_reply_header(rq->resp, "Allow", "GET, HEAD");
            return acme_problem(rq, 405, ACME_ERR("malformed"), NULL, "newNonce takes HEAD or GET");
        }
        /* §7.2: 200 for HEAD, 204 for GET, never cached */
        hilt_reply_header(rq->resp, "Cache-Control", "no-store");
        hilt_reply_bytes(rq->resp, head ? 200 : 204, NULL, NULL, 0);
        return;
    }
    if (!strncmp(path, "/acme/renewal-info/", 19)) {
        if (get || head) return acme_renewal_info(rq, path + 19);
        hilt_reply_header(rq->resp, "Allow", "GET");
        return acme_problem(rq, 405, ACME_ERR("malformed"), NULL, "renewalInfo takes GET");
    }
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        const struct route *r = &routes[i];
        size_t pl = strlen(r->path);
        int prefix = r->path[pl - 1] == '/';
        if (prefix ? strncmp(path, r->path, pl) : strcmp(path, r->path)) continue;
        const char *rest = path + (prefix ? pl : pl);
        if (prefix && !tail_ok(r->path, rest)) break;
        if (!post) {
            hilt_reply_header(rq->resp, "Allow", "POST");
            return acme_problem(rq, 405, ACME_ERR("malformed"), NULL,
                                "%s takes POST (POST-as-GET to read it, RFC 8555 §6.3)", path);
        }
        if (authenticate(rq, r->auth) < 0) return;
        return r->fn(rq, rest);
    }
    acme_problem(rq, 404, ACME_ERR("malformed"), NULL, "no ACME resource at %.300s", path);
}

void acme_common_headers(struct acme *a, const char *base_url, int no_index,
                         struct hilt_reply *resp)
{
    /* §6.5: a fresh nonce on every response, errors included (a client
     * that got badNonce retries with it); §7.1: the directory link. */
    char nonce[64];
    if (nonce_make(a, nonce) == 0) hilt_reply_header(resp, "Replay-Nonce", "%s", nonce);
    if (!no_index)
        hilt_reply_header(resp, "Link", "<%s/acme/directory>;rel=\"index\"",
                          base_url ? base_url : "");
}

void hilt_acme_handle(struct hilt_api *api, const struct hilt_req *req, struct hilt_reply *resp)
{
    struct acme *a = api->acme;
    if (!a) {
        hilt_reply_problem(resp, 503, ACME_ERR("serverInternal"), "ACME is not initialised");
        return;
    }
    struct acme_rq rq;
    memset(&rq, 0, sizeof(rq));
    rq.a = a;
    rq.api = api;
    rq.req = req;
    rq.resp = resp;
    int n = snprintf(rq.url, sizeof(rq.url), "%s%s%s%s", req->base_url ? req->base_url : "",
                     req->path, req->query && *req->query ? "?" : "", req->query ? req->query : "");
    int base_ok = 1; /* every URL we hand out starts with it: printable ASCII only */
    for (const char *c = req->base_url ? req->base_url : ""; *c; c++)
        if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f) base_ok = 0;
    if (n < 0 || (size_t)n >= sizeof(rq.url)) {
        acme_problem(&rq, 414, ACME_ERR("malformed"), NULL, "request URL too long");
    } else if (!base_ok) {
        acme_problem(&rq, 400, ACME_ERR("malformed"), NULL,
                     "the Host of the request is not a host name");
    } else {
        dispatch(&rq);
    }
    if (!resp->deferred)
        acme_common_headers(a, req->base_url, !strcmp(req->path, "/acme/directory") || !base_ok,
                            resp);
    hilt_jws_free(&rq.jws);
    json_decref(rq.payload);
    EVP_PKEY_free(rq.key);
    hilt_acme_account_free(&rq.acct);
}

/* ---- set-up
 * ---------------------------------------------------------------------------------------- */

static void purge_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct acme *a = arg;
    if (a->shared) {
        a->last_purge = hilt_now();
        hilt_store_acme_nonce_purge(a->api->st, a->last_purge, NULL);
    } else if (a->replay.keys) {
        replay_rehash(&a->replay, a->replay.cap);
    }
}

static int issuer_kid(struct acme *a, struct hilt_err *e)
{
    if (!a->api->ca || !a->api->ca->issuer) return 0;
    const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(a->api->ca->issuer);
    if (!ski) return 0;
    char *s = hilt_b64url_encode(ASN1_STRING_get0_data(ski), (size_t)ASN1_STRING_length(ski));
    if (!s) return hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
    snprintf(a->issuer_kid, sizeof(a->issuer_kid), "%s", s);
    free(s);
    return 0;
}

int hilt_acme_init(struct hilt_api *api, struct hilt_err *e)
{
    struct acme *a = calloc(1, sizeof(*a));
    if (!a) return hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
    a->api = api;
    a->validation_ms = ACME_DEFAULT_VALIDATION_MS;
    a->ari_retry_after = 6 * 3600;
    /* Test knobs (docs/acme.md): a short validation timeout, so a test of a
     * challenge server that hangs need not wait 10 s. */
    const char *vt = getenv("HILT_ACME_VALIDATION_TIMEOUT_MS");
    if (vt && *vt) {
        long v = strtol(vt, NULL, 10);
        if (v >= 100 && v <= 120000) a->validation_ms = (int)v;
    }
    const char *ra = getenv("HILT_ACME_ARI_RETRY_AFTER");
    if (ra && *ra) {
        long v = strtol(ra, NULL, 10);
        if (v >= 1 && v <= 7 * 86400) a->ari_retry_after = v;
    }
    /* Nonces: a store several nodes share (PostgreSQL) keeps the MAC key and
     * the replay set, so a nonce from one node is good once on any; a
     * SQLite store is one node's, which keeps both in memory (a fresh key
     * per process: nonces of an earlier run are simply bad). */
    a->shared = api->st && !strcmp(hilt_store_kind(api->st), "postgres");
    if (RAND_bytes(a->nonce_key, sizeof(a->nonce_key)) != 1) {
        free(a);
        return hilt_err_ossl(e, HILT_E_RUNTIME, "no random bytes for the nonce key");
    }
    if (a->shared) {
        char *fresh = hilt_b64url_encode(a->nonce_key, sizeof(a->nonce_key)), got[128];
        unsigned char *raw = NULL;
        size_t n = 0;
        int rc = fresh
                     ? hilt_store_acme_secret(api->st, "acme-nonce-mac", fresh, got, sizeof(got), e)
                     : hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
        free(fresh);
        if (rc == 0 && (hilt_b64url_decode(got, strlen(got), &raw, &n) < 0 || n != 32))
            rc = hilt_err_set(e, HILT_E_RUNTIME, 0, "the stored ACME nonce key is damaged");
        if (rc == 0) memcpy(a->nonce_key, raw, 32);
        free(raw);
        if (rc < 0) {
            free(a);
            return -1;
        }
    }
    hilt_buf_init(&a->chain_pem, 1u << 20);
    if (issuer_kid(a, e) < 0 || acme_validate_init(a, e) < 0 || acme_defer_init(a, e) < 0 ||
        (api->ca && hilt_ca_chain_pem(api->ca, NULL, &a->chain_pem) < 0)) {
        if (!e || !e->msg[0]) hilt_err_set(e, HILT_E_RUNTIME, 0, "acme: cannot set up");
        hilt_buf_free(&a->chain_pem);
        free(a);
        return -1;
    }
    if (api->base) {
        a->purge_ev = event_new(api->base, -1, EV_PERSIST, purge_cb, a);
        struct timeval tv = {60, 0};
        if (a->purge_ev) event_add(a->purge_ev, &tv);
    }
    api->acme = a;
    return 0;
}

void hilt_acme_free(struct hilt_api *api)
{
    struct acme *a = api->acme;
    if (!a) return;
    acme_validate_free(a);
    acme_defer_free(a);
    if (a->purge_ev) event_free(a->purge_ev);
    for (size_t i = 0; i < ACME_KEY_CACHE; i++)
        EVP_PKEY_free(a->keys[i].key);
    hilt_buf_free(&a->chain_pem);
    free(a->replay.keys);
    free(a->replay.issued);
    OPENSSL_cleanse(a->nonce_key, sizeof(a->nonce_key));
    free(a);
    api->acme = NULL;
}
