/* client.c - one instrumented TLS client handshake (RFC 8446, RFC 5246). */
#include "tls/client.h"

#include "core/clock.h"
#include "core/err.h"
#include "core/http.h"
#include "x509/key.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct {
    int desc;
    const char *name;
} alert_names[] = {
    {0, "close_notify"},
    {10, "unexpected_message"},
    {20, "bad_record_mac"},
    {21, "decryption_failed"},
    {22, "record_overflow"},
    {30, "decompression_failure"},
    {40, "handshake_failure"},
    {41, "no_certificate"},
    {42, "bad_certificate"},
    {43, "unsupported_certificate"},
    {44, "certificate_revoked"},
    {45, "certificate_expired"},
    {46, "certificate_unknown"},
    {47, "illegal_parameter"},
    {48, "unknown_ca"},
    {49, "access_denied"},
    {50, "decode_error"},
    {51, "decrypt_error"},
    {60, "export_restriction"},
    {70, "protocol_version"},
    {71, "insufficient_security"},
    {80, "internal_error"},
    {86, "inappropriate_fallback"},
    {90, "user_canceled"},
    {100, "no_renegotiation"},
    {109, "missing_extension"},
    {110, "unsupported_extension"},
    {111, "certificate_unobtainable"},
    {112, "unrecognized_name"},
    {113, "bad_certificate_status_response"},
    {114, "bad_certificate_hash_value"},
    {115, "unknown_psk_identity"},
    {116, "certificate_required"},
    {120, "no_application_protocol"},
};

const char *hilt_tls_alert_name(int desc)
{
    for (size_t i = 0; i < sizeof(alert_names) / sizeof(alert_names[0]); i++)
        if (alert_names[i].desc == desc) return alert_names[i].name;
    return "unknown_alert";
}

int hilt_tls_looks_like_tls(const uint8_t *p, size_t n)
{
    if (n == 0) return 1; /* nothing to judge */
    if (p[0] >= 20 && p[0] <= 24) return n < 2 || p[1] == 3;
    /* SSLv2 record header (2-byte length with the top bit set), SERVER-HELLO = 4 */
    return n >= 3 && (p[0] & 0x80) && p[2] == 4;
}

void hilt_bytes_excerpt(const uint8_t *p, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 5 < cap; i++) {
        uint8_t c = p[i];
        if (c == '\r' || c == '\n') {
            if (i + 1 < n && o + 2 < cap) {
                out[o++] = '\\';
                out[o++] = c == '\r' ? 'r' : 'n';
            }
        } else if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            out[o++] = (char)c;
        } else {
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
        }
    }
    out[o < cap ? o : cap - 1] = '\0';
}

/* ---- instrumentation ---- */

static const uint8_t hrr_random[32] = {0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11,
                                       0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
                                       0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E,
                                       0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C};

static void msg_cb(int write_p, int version, int content_type, const void *buf, size_t len,
                   SSL *ssl, void *arg)
{
    (void)version;
    (void)ssl;
    struct hilt_tls_result *r = arg;
    const uint8_t *p = buf;
    if (content_type == SSL3_RT_ALERT && len >= 2) {
        if (write_p) {
            if (r->alert_sent < 0) r->alert_sent = p[1];
        } else if (!r->completed) {
            if (r->alert_received < 0) {
                r->alert_received = p[1];
                r->alert_received_level = p[0];
            }
        } else if (r->post_alert < 0) {
            r->post_alert = p[1];
        }
        return;
    }
    if (content_type != SSL3_RT_HANDSHAKE || len < 4) return;
    if (!write_p) {
        if (p[0] == SSL3_MT_SERVER_HELLO) {
            /* ServerHello: type(1) len(3) version(2) random(32) */
            if (len >= 38 && memcmp(p + 6, hrr_random, 32) == 0)
                r->saw_hello_retry = 1;
            else
                r->saw_server_hello = 1;
        } else if (p[0] == SSL3_MT_CERTIFICATE_REQUEST) {
            r->saw_cert_request = 1;
        } else if (p[0] == SSL3_MT_NEWSESSION_TICKET && r->completed) {
            /* TLS 1.3 servers send tickets once they accept the client's
             * Finished (and certificate): no rejection is coming. */
            r->post_ticket = 1;
        }
    } else if (p[0] == SSL3_MT_CERTIFICATE) {
        /* TLS 1.3 adds a request context before the certificate list. */
        size_t off = 4;
        if (SSL_version(ssl) == TLS1_3_VERSION) {
            if (len < 5) return;
            off += 1 + p[4];
        }
        if (off + 3 <= len) {
            uint32_t list = (uint32_t)p[off] << 16 | (uint32_t)p[off + 1] << 8 | p[off + 2];
            if (list > 0) r->sent_client_cert = 1;
        }
    }
}

static long bio_cb(BIO *b, int oper, const char *argp, size_t len, int argi, long argl, int ret,
                   size_t *processed)
{
    (void)len;
    (void)argi;
    (void)argl;
    if (oper == (BIO_CB_READ | BIO_CB_RETURN) && ret > 0 && processed) {
        struct hilt_tls_result *r = (struct hilt_tls_result *)BIO_get_callback_arg(b);
        size_t n = *processed;
        if (r->first_len < HILT_TLS_FIRST_BYTES) {
            size_t take = HILT_TLS_FIRST_BYTES - r->first_len;
            if (take > n) take = n;
            memcpy(r->first_bytes + r->first_len, argp, take);
            r->first_len += take;
        }
        r->bytes_received += n;
    }
    return ret;
}

/* ---- helpers ---- */

static int alpn_wire(const char *list, unsigned char *out, size_t cap, size_t *outlen)
{
    size_t o = 0;
    const char *p = list;
    while (*p) {
        const char *c = strchr(p, ',');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        if (n == 0 || n > 255 || o + 1 + n > cap) return -1;
        out[o++] = (unsigned char)n;
        memcpy(out + o, p, n);
        o += n;
        p += n + (c ? 1 : 0);
    }
    *outlen = o;
    return o ? 0 : -1;
}

int hilt_tls_alpn_valid(const char *list)
{
    unsigned char w[512];
    size_t n;
    return alpn_wire(list, w, sizeof(w), &n) == 0;
}

static void md_suffix(int md_nid, char *out, size_t cap)
{
    const char *sn = md_nid != NID_undef ? OBJ_nid2sn(md_nid) : "";
    size_t i = 0;
    for (; sn[i] && i + 1 < cap; i++) out[i] = (char)(sn[i] >= 'A' && sn[i] <= 'Z' ? sn[i] + 32 : sn[i]);
    out[i] = '\0';
    if (!strncmp(out, "sha2-", 5)) memmove(out + 3, out + 5, strlen(out + 5) + 1); /* sha2-256 */
}

/* The peer's handshake signature in RFC 8446 SignatureScheme style. */
static void sigalg_name(SSL *ssl, X509 *leaf, char *out, size_t cap)
{
    int type = NID_undef, md = NID_undef;
    out[0] = '\0';
    if (!SSL_get_peer_signature_type_nid(ssl, &type)) return;
    SSL_get_peer_signature_nid(ssl, &md);
    char mds[16];
    md_suffix(md, mds, sizeof(mds));
    if (type == EVP_PKEY_RSA_PSS)
        snprintf(out, cap, "rsa_pss_rsae_%s", mds);
    else if (type == EVP_PKEY_RSA)
        snprintf(out, cap, "rsa_pkcs1_%s", mds);
    else if (type == EVP_PKEY_ED25519)
        snprintf(out, cap, "ed25519");
    else if (type == EVP_PKEY_ED448)
        snprintf(out, cap, "ed448");
    else if (type == EVP_PKEY_EC) {
        char key[32] = "";
        EVP_PKEY *k = leaf ? X509_get0_pubkey(leaf) : NULL;
        if (k) hilt_key_describe(k, key, sizeof(key));
        const char *curve = !strcmp(key, "ec-p256")   ? "secp256r1_"
                            : !strcmp(key, "ec-p384") ? "secp384r1_"
                            : !strcmp(key, "ec-p521") ? "secp521r1_"
                                                      : "";
        snprintf(out, cap, "ecdsa_%s%s", curve, mds);
    } else {
        snprintf(out, cap, "%s+%s", OBJ_nid2sn(type), mds);
    }
}

static void record_ssl_error(struct hilt_tls_result *r)
{
    unsigned long code;
    const char *data = NULL;
    int flags = 0;
    while ((code = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0) {
        if (r->ssl_reason == 0 && ERR_GET_LIB(code) == ERR_LIB_SSL) {
            r->ssl_reason = (unsigned long)ERR_GET_REASON(code);
            const char *rs = ERR_reason_error_string(code);
            snprintf(r->ssl_error, sizeof(r->ssl_error), "%s", rs ? rs : "ssl error");
        } else if (!r->ssl_error[0]) {
            const char *rs = ERR_reason_error_string(code);
            snprintf(r->ssl_error, sizeof(r->ssl_error), "%s", rs ? rs : "error");
        }
    }
}

SSL_CTX *hilt_tls_client_ctx(const struct hilt_tls_opts *o, struct hilt_err *e)
{
    const struct hilt_client_profile *p = o->profile;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        hilt_err_ossl(e, HILT_E_RUNTIME, "cannot create TLS context");
        return NULL;
    }
    SSL_CTX_set_security_level(ctx, p->sec_level);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    if (p->sec_level == 0) SSL_CTX_set_options(ctx, SSL_OP_LEGACY_SERVER_CONNECT);
    int minv = o->min_version ? o->min_version : p->min_version;
    int maxv = o->max_version ? o->max_version : p->max_version;
    const char *ciphers = o->cipher_list ? o->cipher_list : p->cipher_list;
    const char *suites = o->ciphersuites ? o->ciphersuites : p->ciphersuites;
    const char *groups = o->groups ? o->groups : p->groups;
    if (!SSL_CTX_set_min_proto_version(ctx, minv) || !SSL_CTX_set_max_proto_version(ctx, maxv)) {
        hilt_err_ossl(e, HILT_E_RUNTIME, "cannot set protocol versions");
        goto fail;
    }
    /* A TLS 1.3-only offer needs no TLS 1.2 cipher list, and an empty one is fine. */
    if (maxv >= TLS1_2_VERSION || minv < TLS1_3_VERSION) {
        if (!SSL_CTX_set_cipher_list(ctx, ciphers) && minv < TLS1_3_VERSION) {
            hilt_err_ossl(e, HILT_E_USAGE, "no usable cipher in '%s'", ciphers);
            goto fail;
        }
    }
    ERR_clear_error();
    if (!SSL_CTX_set_ciphersuites(ctx, suites)) {
        hilt_err_ossl(e, HILT_E_USAGE, "bad TLS 1.3 suites '%s'", suites);
        goto fail;
    }
    if (groups && !SSL_CTX_set1_groups_list(ctx, groups)) {
        /* Some groups (brainpool, secp256k1) may be absent from a build: retry
         * with those OpenSSL knows, one by one. */
        ERR_clear_error();
        char ok[512] = "", one[64];
        const char *g = groups;
        while (*g) {
            size_t n = strcspn(g, ":");
            snprintf(one, sizeof(one), "%.*s", (int)n, g);
            SSL_CTX *t = SSL_CTX_new(TLS_client_method());
            if (t && SSL_CTX_set1_groups_list(t, one)) {
                if (ok[0]) strncat(ok, ":", sizeof(ok) - strlen(ok) - 1);
                strncat(ok, one, sizeof(ok) - strlen(ok) - 1);
            }
            SSL_CTX_free(t);
            g += n + (g[n] ? 1 : 0);
        }
        ERR_clear_error();
        if (!ok[0] || !SSL_CTX_set1_groups_list(ctx, ok)) {
            hilt_err_ossl(e, HILT_E_USAGE, "no usable group in '%s'", groups);
            goto fail;
        }
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

/* Read application data (or an alert) until done() says so or the deadline. */
static void read_until(SSL *ssl, int fd, struct hilt_tls_result *r, uint64_t deadline,
                       struct hilt_buf *in)
{
    for (;;) {
        uint8_t tmp[4096];
        ERR_clear_error();
        int n = SSL_read(ssl, tmp, sizeof(tmp));
        if (n > 0) {
            if (in) {
                if (hilt_buf_add(in, tmp, (size_t)n) < 0) return;
                struct hilt_http_resp resp;
                hilt_http_resp_init(&resp, 1 << 16);
                int pr = hilt_http_parse(in->data, in->len, 0, 1, &resp, NULL);
                if (pr == 1) {
                    r->http_status = resp.status;
                    r->http_recv_us = hilt_mono_us();
                    hilt_http_header(&resp, "Date", r->http_date, sizeof(r->http_date));
                }
                hilt_http_resp_free(&resp);
                if (pr != 0) return;
            } else {
                return; /* any data means the server kept the connection */
            }
            continue;
        }
        int err = SSL_get_error(ssl, n);
        if (!in && r->post_ticket) return;
        if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
            if (hilt_fd_wait(fd, err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline) <= 0)
                return;
            continue;
        }
        if (err == SSL_ERROR_ZERO_RETURN)
            r->peer_eof = 1;
        else if (err == SSL_ERROR_SYSCALL && errno == ECONNRESET)
            r->peer_reset = 1;
        ERR_clear_error();
        return;
    }
}

void hilt_tls_client_record_success(SSL *ssl, struct hilt_tls_result *r)
{
    r->version = SSL_version(ssl);
    const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
    if (c) {
        snprintf(r->cipher, sizeof(r->cipher), "%s", SSL_CIPHER_get_name(c));
        const char *std = SSL_CIPHER_standard_name(c);
        snprintf(r->cipher_iana, sizeof(r->cipher_iana), "%s", std ? std : r->cipher);
    }
    int gnid = SSL_get_negotiated_group(ssl);
    if (gnid > 0) {
        const char *gn = SSL_group_to_name(ssl, gnid);
        snprintf(r->group, sizeof(r->group), "%s", gn ? gn : OBJ_nid2sn(gnid));
    }
    EVP_PKEY *tk = NULL;
    if (SSL_get_peer_tmp_key(ssl, &tk) && tk) {
        r->tmp_key_bits = EVP_PKEY_get_bits(tk);
        if (EVP_PKEY_is_a(tk, "DH"))
            snprintf(r->tmp_key, sizeof(r->tmp_key), "dh-%d", r->tmp_key_bits);
        else if (EVP_PKEY_is_a(tk, "X25519"))
            snprintf(r->tmp_key, sizeof(r->tmp_key), "x25519");
        else if (EVP_PKEY_is_a(tk, "X448"))
            snprintf(r->tmp_key, sizeof(r->tmp_key), "x448");
        else
            hilt_key_describe(tk, r->tmp_key, sizeof(r->tmp_key));
        if (!r->group[0] && EVP_PKEY_is_a(tk, "DH"))
            snprintf(r->group, sizeof(r->group), "dh-%d", r->tmp_key_bits);
        EVP_PKEY_free(tk);
    }
    const unsigned char *alpn = NULL;
    unsigned int alen = 0;
    SSL_get0_alpn_selected(ssl, &alpn, &alen);
    if (alpn && alen) snprintf(r->alpn, sizeof(r->alpn), "%.*s", (int)alen, alpn);
    r->resumed = SSL_session_reused(ssl);
    STACK_OF(X509) *pc = SSL_get_peer_cert_chain(ssl);
    if (pc) {
        r->chain = sk_X509_new_null();
        for (int i = 0; r->chain && i < sk_X509_num(pc); i++) {
            X509 *x = sk_X509_value(pc, i);
            if (sk_X509_push(r->chain, x)) X509_up_ref(x);
        }
    }
    sigalg_name(ssl, pc && sk_X509_num(pc) ? sk_X509_value(pc, 0) : NULL, r->sigalg, sizeof(r->sigalg));
    const unsigned char *ocsp = NULL;
    long olen = SSL_get_tlsext_status_ocsp_resp(ssl, &ocsp);
    if (ocsp && olen > 0 && (r->ocsp = malloc((size_t)olen))) {
        memcpy(r->ocsp, ocsp, (size_t)olen);
        r->ocsp_len = (size_t)olen;
    }
}

int hilt_tls_client_bind(SSL *ssl, int fd, const struct hilt_tls_opts *o, struct hilt_tls_result *r,
                         struct hilt_err *e)
{
    unsigned char alpn[512];
    size_t alpn_len = 0;
    if (o->alpn && alpn_wire(o->alpn, alpn, sizeof(alpn), &alpn_len) < 0)
        return hilt_err_set(e, HILT_E_USAGE, 0,
                            "--alpn '%s': give comma-separated protocol names of 1-255 bytes",
                            o->alpn);
    BIO *bio = BIO_new_socket(fd, BIO_NOCLOSE);
    if (!bio) return hilt_err_ossl(e, HILT_E_RUNTIME, "TLS setup failed");
    BIO_set_callback_ex(bio, bio_cb);
    BIO_set_callback_arg(bio, (char *)r);
    SSL_set_bio(ssl, bio, bio);
    SSL_set_msg_callback(ssl, msg_cb);
    SSL_set_msg_callback_arg(ssl, r);
    if (o->sni && !SSL_set_tlsext_host_name(ssl, o->sni))
        return hilt_err_ossl(e, HILT_E_USAGE, "SNI '%s' is not a valid host name", o->sni);
    if (alpn_len && SSL_set_alpn_protos(ssl, alpn, (unsigned)alpn_len) != 0)
        return hilt_err_ossl(e, HILT_E_RUNTIME, "TLS setup failed");
    if (o->request_ocsp) SSL_set_tlsext_status_type(ssl, TLSEXT_STATUSTYPE_ocsp);
    if (o->client_cert && o->client_key) {
        if (!SSL_use_certificate(ssl, o->client_cert) || !SSL_use_PrivateKey(ssl, o->client_key))
            return hilt_err_ossl(e, HILT_E_INPUT, "the client certificate and key cannot be used");
        if (!SSL_check_private_key(ssl))
            return hilt_err_ossl(e, HILT_E_INPUT, "the client key does not match the client certificate");
        for (int i = 0; o->client_chain && i < sk_X509_num(o->client_chain); i++)
            SSL_add1_chain_cert(ssl, sk_X509_value(o->client_chain, i));
    }
    return 0;
}

void hilt_tls_client_record_failure(SSL *ssl, int err, int saved_errno, struct hilt_tls_result *r)
{
    if (err == SSL_ERROR_SYSCALL) {
        if (saved_errno == ECONNRESET || saved_errno == EPIPE)
            r->peer_reset = 1;
        else
            r->peer_eof = 1;
    }
    record_ssl_error(r);
    if (r->ssl_reason == SSL_R_UNEXPECTED_EOF_WHILE_READING) r->peer_eof = 1;
    /* Keep whatever certificate the peer managed to send. */
    STACK_OF(X509) *pc = SSL_get_peer_cert_chain(ssl);
    if (pc && sk_X509_num(pc) && !r->chain) {
        r->chain = sk_X509_new_null();
        for (int i = 0; r->chain && i < sk_X509_num(pc); i++)
            if (sk_X509_push(r->chain, sk_X509_value(pc, i))) X509_up_ref(sk_X509_value(pc, i));
    }
    r->version = SSL_version(ssl);
}

void hilt_tls_result_init(struct hilt_tls_result *r)
{
    memset(r, 0, sizeof(*r));
    r->alert_received = r->alert_sent = r->post_alert = -1;
}

int hilt_tls_handshake(const struct sockaddr *sa, socklen_t salen, const struct hilt_tls_opts *o,
                       struct hilt_tls_result *r, struct hilt_err *e)
{
    hilt_tls_result_init(r);
    hilt_sockaddr_fmt(sa, r->peer_addr, sizeof(r->peer_addr));
    SSL_CTX *ctx = hilt_tls_client_ctx(o, e);
    if (!ctx) return -1;
    SSL *ssl = NULL;
    int fd = -1, rc = -1;
    struct hilt_buf httpin;
    hilt_buf_init(&httpin, 1 << 16);

    uint64_t t0 = hilt_mono_us();
    struct hilt_err ne = {0};
    if (hilt_tcp_connect_addr(sa, salen, o->timeout_ms, &fd, &ne) < 0) {
        r->net = ne.kind == HILT_E_NET ? (enum hilt_net_status)ne.code : HILT_NET_OTHER;
        snprintf(r->net_msg, sizeof(r->net_msg), "%s", ne.msg);
        rc = 0;
        goto out;
    }
    r->connected = 1;
    uint64_t t1 = hilt_mono_us();
    r->connect_us = t1 - t0;

    if (!(ssl = SSL_new(ctx))) goto ossl;
    if (hilt_tls_client_bind(ssl, fd, o, r, e) < 0) goto out;

    uint64_t deadline = t1 + (uint64_t)o->timeout_ms * 1000u;
    for (;;) {
        ERR_clear_error();
        errno = 0;
        int n = SSL_connect(ssl);
        if (n == 1) break;
        int err = SSL_get_error(ssl, n);
        if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
            int w = hilt_fd_wait(fd, err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline);
            if (w == 0) {
                r->timed_out = 1;
                break;
            }
            if (w < 0) {
                r->net = HILT_NET_OTHER;
                break;
            }
            continue;
        }
        hilt_tls_client_record_failure(ssl, err, errno, r);
        break;
    }
    r->handshake_us = hilt_mono_us() - t1;
    if (r->timed_out || r->peer_reset || r->peer_eof || r->ssl_reason || r->ssl_error[0] ||
        !SSL_is_init_finished(ssl)) {
        if (r->timed_out) hilt_tls_client_record_failure(ssl, SSL_ERROR_WANT_READ, 0, r);
        rc = 0;
        goto out;
    }
    r->completed = 1;
    hilt_tls_client_record_success(ssl, r);

    int after = o->after ? o->after(o->after_arg, r) : 0;
    /* A server that asked for a certificate may reject ours (or its absence)
     * only after the handshake; look for that alert too. */
    if (r->saw_cert_request) after |= HILT_TLS_AFTER_ALERT;
    if (after) {
        uint64_t adl = hilt_mono_us() + (uint64_t)(o->after_ms > 0 ? o->after_ms : 1000) * 1000u;
        if ((after & HILT_TLS_AFTER_HTTP) && o->http_request) {
            r->http_sent_us = hilt_mono_us();
            int w = SSL_write(ssl, o->http_request, (int)strlen(o->http_request));
            if (w > 0) read_until(ssl, fd, r, adl, &httpin);
            else record_ssl_error(r);
        } else {
            read_until(ssl, fd, r, adl, NULL);
        }
    }
    SSL_shutdown(ssl);
    rc = 0;
    goto out;
ossl:
    hilt_err_ossl(e, HILT_E_RUNTIME, "TLS setup failed");
out:
    ERR_clear_error();
    SSL_free(ssl);
    if (fd >= 0) close(fd);
    SSL_CTX_free(ctx);
    hilt_buf_free(&httpin);
    return rc;
}

void hilt_tls_result_free(struct hilt_tls_result *r)
{
    sk_X509_pop_free(r->chain, X509_free);
    r->chain = NULL;
    free(r->ocsp);
    r->ocsp = NULL;
    r->ocsp_len = 0;
}
