/* fuzz_acme_handler.c - libFuzzer target: requests through hilt_acme_handle() on a
 * temporary SQLite store (under /dev/shm when there is one) with a real CA and a
 * pre-approved scope.
 *
 * Byte 0 picks the mode:
 *   even: one raw request, "METHOD PATH\nCONTENT-TYPE\nBODY" (everything an
 *         unauthenticated client controls: paths, methods, bodies, JWS syntax);
 *   odd:  a script of signed requests, so that the fuzzer reaches the states
 *         behind the JWS checks without any bypass: each op is one byte (the
 *         resource) and a length-prefixed payload, signed by the harness with a
 *         real account key, the server's last nonce and the right URL (or,
 *         when the op says so, with one byte of the JWS flipped). Ops:
 *         newAccount, newOrder, the last order / authorization / challenge /
 *         finalize (payload as CSR bytes or raw) / certificate, revokeCert,
 *         keyChange, account update, the account's orders, renewalInfo, and
 *         "the harness validates the last authorization" (the store call the
 *         validator makes), so finalize and issuance are reached too.
 * No signature check is bypassed: the fuzz build is the production code.
 * Validation never touches the network (no event base: challenge POSTs are
 * answered rateLimited). Every answer must carry a status, a Replay-Nonce and,
 * for errors, an RFC 7807 document. */
#include "api/api.h"
#include "fuzz_api_setup.h"
#include "api/jws.h"
#include "ca/ca.h"
#include "core/err.h"
#include "store/store.h"
#include "store/store_acme.h"

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#define BASE "https://acme.fuzz:443"

static struct hilt_api api;
static struct hilt_scope scope;
static EVP_PKEY *acct_key, *other_key;
static char nonce[128], kid[512], order_url[512], finalize_url[512], authz_url[512], chall_url[512],
    cert_url[512];

static void check_reply(const struct hilt_reply *r)
{
    if (r->status < 100 || r->status > 599) abort();
    int has_nonce = 0;
    for (int i = 0; i < r->nheaders; i++)
        if (!strcasecmp(r->headers[i].name, "Replay-Nonce")) has_nonce = 1;
    if (!has_nonce) abort();
    if (r->status >= 400 && r->status != 405 && strcmp(r->content_type, "application/problem+json"))
        abort();
}

static const char *hdr(const struct hilt_reply *r, const char *name)
{
    for (int i = 0; i < r->nheaders; i++)
        if (!strcasecmp(r->headers[i].name, name)) return r->headers[i].value;
    return NULL;
}

/* Send; remember the nonce, and URLs worth following. */
static void send_req(const char *method, const char *path, const char *ctype, const void *body,
                     size_t len)
{
    struct hilt_header hs[1] = {{"Content-Type", ctype ? ctype : ""}};
    struct hilt_req rq = {.method = method,
                          .path = path,
                          .query = "",
                          .headers = hs,
                          .nheaders = ctype ? 1 : 0,
                          .body = body,
                          .body_len = len,
                          .remote = "127.0.0.1:1",
                          .base_url = BASE};
    struct hilt_reply r;
    hilt_reply_init(&r);
    hilt_acme_handle(&api, &rq, &r);
    check_reply(&r);
    if (getenv("FUZZ_ACME_DEBUG"))
        fprintf(stderr, "%s %s -> %d %.*s\n", method, path, r.status,
                (int)(r.body.len > 300 ? 300 : r.body.len),
                r.body.data ? (const char *)r.body.data : "");
    const char *v = hdr(&r, "Replay-Nonce");
    snprintf(nonce, sizeof(nonce), "%s", v ? v : "");
    json_t *j = r.body.len && r.body.len < 100000
                    ? json_loadb((const char *)r.body.data, r.body.len, 0, NULL)
                    : NULL;
    const char *loc = hdr(&r, "Location");
    if (j && loc && strstr(loc, "/acme/acct/") && !strcmp(path, "/acme/new-account"))
        snprintf(kid, sizeof(kid), "%s", loc);
    if (j && loc && strstr(loc, "/acme/order/")) snprintf(order_url, sizeof(order_url), "%s", loc);
    const char *s;
    if ((s = json_string_value(json_object_get(j, "finalize"))))
        snprintf(finalize_url, sizeof(finalize_url), "%s", s);
    if ((s = json_string_value(json_array_get(json_object_get(j, "authorizations"), 0))))
        snprintf(authz_url, sizeof(authz_url), "%s", s);
    if ((s = json_string_value(
             json_object_get(json_array_get(json_object_get(j, "challenges"), 0), "url"))))
        snprintf(chall_url, sizeof(chall_url), "%s", s);
    if ((s = json_string_value(json_object_get(j, "certificate"))))
        snprintf(cert_url, sizeof(cert_url), "%s", s);
    json_decref(j);
    hilt_reply_free(&r);
}

static const char *path_of(const char *url)
{
    return !strncmp(url, BASE, strlen(BASE)) ? url + strlen(BASE) : "/acme/none";
}

/* Sign payload for url with the account key (kid) or a jwk; flip one byte of
 * the JWS when flip > 0. */
static void signed_req(const char *url, const char *payload, int use_jwk, EVP_PKEY *k, size_t flip)
{
    if (!nonce[0]) send_req("HEAD", "/acme/new-nonce", NULL, NULL, 0);
    char *jws = hilt_jws_sign(k, use_jwk || !kid[0] ? NULL : kid, nonce, url, payload, NULL);
    if (!jws) return;
    size_t n = strlen(jws);
    if (flip && n) jws[flip % n] ^= 0x01;
    send_req("POST", path_of(url), "application/jose+json", jws, n);
    free(jws);
}

static char home[64];

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static void cleanup(void)
{
    hilt_acme_free(&api);
    hilt_ca_close(api.ca);
    hilt_store_close(api.st);
    EVP_PKEY_free(acct_key);
    EVP_PKEY_free(other_key);
    nftw(home, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_api_setup("fuzz-acme", home, sizeof(home), &api, &scope, "*.fuzz.test,7d");
    struct hilt_err e = {0};
    if (hilt_acme_init(&api, &e) < 0) {
        fprintf(stderr, "fuzz_acme_handler: %s\n", e.msg);
        abort();
    }
    acct_key = EVP_EC_gen("P-256");
    other_key = EVP_EC_gen("P-256");
    if (!acct_key || !other_key) abort();
    atexit(cleanup);
    return 0;
}

static void raw_mode(const uint8_t *data, size_t size)
{
    char *in = malloc(size + 1);
    if (!in) return;
    memcpy(in, data, size);
    in[size] = '\0';
    char *nl = memchr(in, '\n', size);
    char *line2 = nl ? nl + 1 : in + size;
    if (nl) *nl = '\0';
    char *nl2 = strchr(line2, '\n');
    char *body = nl2 ? nl2 + 1 : line2 + strlen(line2);
    if (nl2) *nl2 = '\0';
    char method[16] = "POST", path[1024] = "/acme/new-order";
    char *sp = strchr(in, ' ');
    if (sp && (size_t)(sp - in) < sizeof(method)) {
        memcpy(method, in, (size_t)(sp - in));
        method[sp - in] = '\0';
        snprintf(path, sizeof(path), "%s", sp + 1);
    } else if (in[0] == '/') {
        snprintf(path, sizeof(path), "%s", in);
    }
    size_t blen = size - (size_t)(body - in);
    send_req(method, path, line2[0] ? line2 : NULL, body, blen);
    free(in);
}

static void script_mode(const uint8_t *data, size_t size)
{
    size_t off = 0;
    for (int ops = 0; ops < 24 && off + 3 <= size; ops++) {
        uint8_t op = data[off];
        size_t len = (size_t)data[off + 1] | (size_t)(data[off + 2] & 0x0f) << 8;
        off += 3;
        if (len > size - off) len = size - off;
        char *p = malloc(len + 1);
        if (!p) return;
        memcpy(p, data + off, len);
        p[len] = '\0';
        off += len;
        size_t flip = (op & 0x80) ? (size_t)data[(off + 7) % size] * 7 + 1 : 0;
        char url[600];
        switch (op & 0x0f) {
        case 0:
            signed_req(BASE "/acme/new-account", p, 1, (op & 0x40) ? other_key : acct_key, flip);
            break;
        case 1:
            signed_req(BASE "/acme/new-order", p, 0, acct_key, flip);
            break;
        case 2:
            signed_req(order_url[0] ? order_url : BASE "/acme/order/x", len ? p : NULL, 0, acct_key,
                       flip);
            break;
        case 3:
            signed_req(authz_url[0] ? authz_url : BASE "/acme/authz/x", len ? p : NULL, 0, acct_key,
                       flip);
            break;
        case 4:
            signed_req(chall_url[0] ? chall_url : BASE "/acme/chall/x/http-01", len ? p : NULL, 0,
                       acct_key, flip);
            break;
        case 5: {
            /* the payload as CSR bytes, or as the finalize payload itself */
            char *b = (op & 0x40) ? hilt_b64url_encode((const unsigned char *)p, len) : NULL;
            char *body = NULL;
            if (b && asprintf(&body, "{\"csr\":\"%s\"}", b) < 0) body = NULL;
            signed_req(finalize_url[0] ? finalize_url : BASE "/acme/order/x/finalize",
                       body ? body : p, 0, acct_key, flip);
            free(b);
            free(body);
            break;
        }
        case 6:
            signed_req(cert_url[0] ? cert_url : BASE "/acme/cert/48", NULL, 0, acct_key, flip);
            break;
        case 7:
            signed_req(BASE "/acme/revoke-cert", p, (op & 0x40) != 0, acct_key, flip);
            break;
        case 8: {
            /* keyChange: the payload becomes the inner JWS's payload, signed by the other key */
            char *inner = hilt_jws_sign(other_key, NULL, NULL, BASE "/acme/key-change", p, NULL);
            signed_req(BASE "/acme/key-change", inner ? inner : p, 0, acct_key, flip);
            free(inner);
            break;
        }
        case 9:
            signed_req(kid[0] ? kid : BASE "/acme/acct/x", len ? p : NULL, 0, acct_key, flip);
            break;
        case 10:
            snprintf(url, sizeof(url), "%s/orders", kid[0] ? kid : BASE "/acme/acct/x");
            signed_req(url, NULL, 0, acct_key, flip);
            break;
        case 11:
            snprintf(url, sizeof(url), "/acme/renewal-info/%.500s", p);
            send_req("GET", url, NULL, NULL, 0);
            break;
        case 12: {
            /* what the validator does when a challenge succeeds (or fails) */
            struct hilt_acme_authz az;
            const char *id = strrchr(authz_url, '/');
            if (id && hilt_store_acme_authz_get(api.st, id + 1, &az, NULL) == 1)
                hilt_store_acme_chall_finish(api.st, &az, "http-01", !(op & 0x40),
                                             "{\"type\":\"x\"}", 1, NULL);
            break;
        }
        case 13:
            snprintf(url, sizeof(url), BASE "%.500s", p[0] == '/' ? p : "/acme/x");
            signed_req(url, NULL, 0, acct_key, flip);
            break;
        default:
            send_req("HEAD", "/acme/new-nonce", NULL, NULL, 0);
            break;
        }
        free(p);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536) return 0;
    if (data[0] & 1)
        script_mode(data + 1, size - 1);
    else
        raw_mode(data + 1, size - 1);
    ERR_clear_error();
    return 0;
}
