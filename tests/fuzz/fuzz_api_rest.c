/* fuzz_api_rest.c - libFuzzer target: requests through hilt_rest_handle() on a
 * temporary SQLite store with a real CA, as an anonymous client, with a wrong
 * token, and as an admin, a requester and an approver. Input: byte 0 picks the
 * credentials, byte 1 the method and content type, then "PATH[?QUERY]\nBODY".
 * Every answer must carry a status and, for errors, an RFC 7807 body. */
#include "api/api.h"
#include "fuzz_api_setup.h"
#include "api/api_metrics.h"
#include "api/auth.h"
#include "ca/ca.h"
#include "core/err.h"
#include "store/store.h"
#include "store/store_api.h"

#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct hilt_api api;
static struct hilt_scope scope;
static char tokens[4][HILT_TOKEN_LEN + 1];

static void token(struct hilt_store *st, int i, const char *name, const char *role, const char *env)
{
    char id[HILT_TOKEN_ID_HEX + 1], hash[65], principal[64];
    snprintf(principal, sizeof(principal), "token:%s", name);
    if (hilt_token_new(tokens[i], id, hash, NULL) < 0) abort();
    struct hilt_api_token_rec t = {.id = id, .name = name, .principal = principal, .hash = hash};
    if (hilt_store_token_add(st, &t, role, env, "", NULL, NULL) < 0) abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    static char home[64];
    fuzz_api_setup("fuzz-rest", home, sizeof(home), &api, &scope, "*.svc.internal,7d");
    struct hilt_store *st = api.st;
    api.metrics = hilt_metrics_new();
    token(st, 0, "admin", "admin", "");
    token(st, 1, "req", "requester", "prod");
    token(st, 2, "appr", "approver", "");
    snprintf(tokens[3], sizeof(tokens[3]), "hilt_0000000000000000_%064d", 0);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2 || size > 65536) return 0;
    static const char *const methods[] = {"GET", "POST", "HEAD", "PUT", "DELETE", "PATCH"};
    char auth[200] = "";
    int who = data[0] % 6;
    if (who >= 1 && who <= 4)
        snprintf(auth, sizeof(auth), "Bearer %s", tokens[who - 1]);
    else if (who == 5)
        snprintf(auth, sizeof(auth), "Basic YTpi");
    const char *method = methods[(data[1] & 0x0f) % 6];
    const char *ctype = (data[1] & 0x10) ? "text/plain" : "application/json; charset=utf-8";
    /* PATH\nBODY */
    char *in = malloc(size - 1);
    if (!in) return 0;
    memcpy(in, data + 2, size - 2);
    in[size - 2] = '\0';
    char *nl = memchr(in, '\n', size - 2);
    char *body = nl ? nl + 1 : in + (size - 2);
    size_t blen = nl ? (size_t)(in + (size - 2) - body) : 0;
    if (nl) *nl = '\0';
    char path[600];
    snprintf(path, sizeof(path), "/v1/%.500s", in);
    char *q = strchr(path, '?');
    const char *query = "";
    if (q) {
        *q = '\0';
        query = q + 1;
    }
    for (const char *c = path; *c; c++)
        if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f) { /* the HTTP parser refuses */
            free(in);
            return 0;
        }
    struct hilt_header h[2] = {{"Authorization", auth}, {"Content-Type", ctype}};
    struct hilt_req rq = {.method = method,
                          .path = path,
                          .query = query,
                          .headers = auth[0] ? h : h + 1,
                          .nheaders = auth[0] ? 2 : 1,
                          .body = (const unsigned char *)body,
                          .body_len = blen,
                          .remote = "127.0.0.1:1",
                          .base_url = "https://localhost"};
    struct hilt_reply r;
    hilt_reply_init(&r);
    hilt_rest_handle(&api, &rq, &r);
    if (r.status < 200 || r.status > 599) abort();
    if (r.status >= 400 && !strstr(r.content_type, "problem+json")) abort();
    hilt_reply_free(&r);
    free(in);
    ERR_clear_error();
    return 0;
}
