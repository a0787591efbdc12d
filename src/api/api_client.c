/* api_client.c - one HTTPS exchange with `hilt serve` (api/api_client.h):
 * blocking OpenSSL over a connected socket with send/receive timeouts, the
 * server's certificate verified (chain and name) before anything is sent,
 * the response bounded and parsed by core/http.h. */
#include "api/api_client.h"

#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/http.h"
#include "core/json.h"
#include "core/net.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define CLIENT_BODY_MAX (16u << 20)

static SSL_CTX *client_ctx(const struct hilt_client_opts *o, struct hilt_err *e)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        hilt_err_ossl(e, HILT_E_RUNTIME, "cannot create a TLS context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (o->ca_file) {
        if (SSL_CTX_load_verify_locations(ctx, o->ca_file, NULL) != 1) {
            hilt_err_ossl(e, HILT_E_INPUT, "--ca-file %s: no certificates could be read",
                          o->ca_file);
            goto fail;
        }
    } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
        hilt_err_ossl(e, HILT_E_RUNTIME, "cannot load the system's trust store");
        goto fail;
    }
    if (o->cert || o->key) {
        if (!o->cert || !o->key) {
            hilt_err_set(e, HILT_E_USAGE, 0, "--client-cert and --client-key go together");
            goto fail;
        }
        if (SSL_CTX_use_certificate_chain_file(ctx, o->cert) != 1) {
            hilt_err_ossl(e, HILT_E_INPUT, "--client-cert %s", o->cert);
            goto fail;
        }
        if (SSL_CTX_use_PrivateKey_file(ctx, o->key, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(ctx) != 1) {
            hilt_err_ossl(e, HILT_E_INPUT, "--client-key %s (does it match --client-cert?)",
                          o->key);
            goto fail;
        }
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

static int write_all(SSL *ssl, const void *p, size_t n)
{
    const unsigned char *q = p;
    while (n) {
        int w = SSL_write(ssl, q, n > 1 << 30 ? 1 << 30 : (int)n);
        if (w <= 0) return -1;
        q += w;
        n -= (size_t)w;
    }
    return 0;
}

int hilt_client_call(const struct hilt_client_opts *o, const char *method, const char *path,
                     const json_t *body, int *status, json_t **out, struct hilt_err *e)
{
    struct hilt_url u;
    SSL_CTX *ctx = NULL;
    SSL *ssl = NULL;
    int fd = -1, rc = -1;
    char *bs = NULL;
    struct hilt_buf req, in;
    struct hilt_http_resp resp;
    hilt_buf_init(&req, CLIENT_BODY_MAX);
    hilt_buf_init(&in, CLIENT_BODY_MAX + HILT_HTTP_HEAD_MAX);
    hilt_http_resp_init(&resp, CLIENT_BODY_MAX);
    *out = NULL;
    *status = 0;
    int tmo = o->timeout_ms > 0 ? o->timeout_ms : 30000;
    if (!o->server) {
        hilt_err_set(e, HILT_E_USAGE, 0, "give --server https://HOST:PORT (or HILT_SERVER)");
        goto out;
    }
    if (hilt_url_parse(o->server, &u, e) < 0) goto out;
    if (strcmp(u.scheme, "https")) {
        hilt_err_set(e, HILT_E_USAGE, 0, "--server %s: the REST API is served over https only",
                     o->server);
        goto out;
    }
    if (!(ctx = client_ctx(o, e))) goto out;
    char peer[128];
    if (hilt_tcp_connect(u.host, u.port, tmo, &fd, peer, sizeof(peer), e) < 0) goto out;
    hilt_set_nonblock(fd, 0);
    struct timeval tv = {tmo / 1000, (tmo % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (!(ssl = SSL_new(ctx)) || SSL_set_fd(ssl, fd) != 1) {
        hilt_err_ossl(e, HILT_E_RUNTIME, "cannot set up TLS");
        goto out;
    }
    if (hilt_is_ip_literal(u.host)) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), u.host);
    } else {
        SSL_set_tlsext_host_name(ssl, u.host);
        SSL_set1_host(ssl, u.host);
    }
    if (SSL_connect(ssl) != 1) {
        long vr = SSL_get_verify_result(ssl);
        if (vr != X509_V_OK)
            hilt_err_set(e, HILT_E_NET, 0,
                         "%s: the server's certificate is not trusted: %s (give --ca-file with "
                         "`hilt ca roots`)",
                         o->server, X509_verify_cert_error_string(vr));
        else
            hilt_err_ossl(e, HILT_E_NET, "%s: TLS handshake failed", o->server);
        goto out;
    }
    if (body && !(bs = json_dumps(body, JSON_COMPACT))) {
        hilt_err_set(e, HILT_E_RUNTIME, 0, "cannot encode the request");
        goto out;
    }
    char hostport[300];
    struct hilt_hostport hp = {.port = u.port};
    snprintf(hp.host, sizeof(hp.host), "%s", u.host);
    hilt_hostport_fmt(&hp, hostport, sizeof(hostport));
    hilt_buf_addf(&req,
                  "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: hilt\r\nAccept: application/json\r\n"
                  "Connection: close\r\n",
                  method, path, hostport);
    if (o->token) {
        if (strpbrk(o->token, "\r\n")) {
            hilt_err_set(e, HILT_E_USAGE, 0, "the token has a line break");
            goto out;
        }
        hilt_buf_addf(&req, "Authorization: Bearer %s\r\n", o->token);
    }
    if (bs)
        hilt_buf_addf(&req, "Content-Type: application/json\r\nContent-Length: %zu\r\n",
                      strlen(bs));
    else if (!strcmp(method, "POST"))
        hilt_buf_addf(&req, "Content-Length: 0\r\n");
    if (hilt_buf_add_str(&req, "\r\n") < 0 || (bs && hilt_buf_add_str(&req, bs) < 0)) {
        hilt_err_set(e, HILT_E_INPUT, 0, "request too large");
        goto out;
    }
    if (write_all(ssl, req.data, req.len) < 0) {
        hilt_err_ossl(e, HILT_E_NET, "%s: sending the request failed", o->server);
        goto out;
    }
    uint64_t deadline = hilt_mono_us() + (uint64_t)tmo * 1000;
    for (;;) {
        uint8_t *p = hilt_buf_reserve(&in, 16384);
        if (!p) {
            hilt_err_set(e, HILT_E_INPUT, 0, "%s: response too large", o->server);
            goto out;
        }
        int n = SSL_read(ssl, p, 16384);
        int eof = n <= 0;
        if (n > 0) hilt_buf_commit(&in, (size_t)n);
        int pr = hilt_http_parse(in.data ? in.data : (const uint8_t *)"", in.len, eof,
                                 !strcmp(method, "HEAD"), &resp, e);
        if (pr < 0) {
            hilt_err_prefix(e, "%s", o->server);
            goto out;
        }
        if (pr == 1) break;
        if (hilt_mono_us() > deadline) {
            hilt_err_set(e, HILT_E_NET, 0, "%s: no complete answer within %d ms", o->server, tmo);
            goto out;
        }
    }
    *status = resp.status;
    char ct[128] = "";
    hilt_http_header(&resp, "Content-Type", ct, sizeof(ct));
    if (resp.body.len && strstr(ct, "json"))
        *out = hilt_json_parse(resp.body.data, resp.body.len, "response", NULL);
    rc = 0;
out:
    free(bs);
    if (ssl) {
        SSL_shutdown(ssl);
        SSL_free(ssl);
    }
    if (fd >= 0) close(fd);
    SSL_CTX_free(ctx);
    hilt_buf_free(&req);
    hilt_buf_free(&in);
    hilt_http_resp_free(&resp);
    ERR_clear_error();
    return rc;
}
