/* pem.c - a line-tracking PEM scanner, certificate and key loaders (RFC 7468). */
#include "x509/pem.h"

#include "core/err.h"
#include "core/fileio.h"

#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <string.h>

void hilt_pem_scan_init(struct hilt_pem_scan *s, const void *data, size_t len, const char *source)
{
    hilt_rd_init(&s->rd, data, len);
    s->line = 1;
    s->source = source;
}

/* Next line without its terminator; advances the cursor and line count. */
static int next_line(struct hilt_pem_scan *s, const char **p, size_t *n)
{
    if (hilt_rd_left(&s->rd) == 0) return 0;
    const uint8_t *start = s->rd.p + s->rd.off;
    size_t left = hilt_rd_left(&s->rd);
    const uint8_t *nl = memchr(start, '\n', left);
    size_t len = nl ? (size_t)(nl - start) : left;
    hilt_rd_skip(&s->rd, nl ? len + 1 : len);
    if (len && start[len - 1] == '\r') len--;
    *p = (const char *)start;
    *n = len;
    s->line++;
    return 1;
}

static int is_boundary(const char *p, size_t n, const char *kind, char *label, size_t cap)
{
    /* "-----BEGIN LABEL-----" */
    size_t kl = strlen(kind);
    if (n < 10 + kl || memcmp(p, "-----", 5) || memcmp(p + 5, kind, kl) || p[5 + kl] != ' ')
        return 0;
    if (memcmp(p + n - 5, "-----", 5)) return 0;
    size_t ll = n - 5 - kl - 1 - 5;
    if (label) {
        if (ll >= cap) return 0;
        memcpy(label, p + 5 + kl + 1, ll);
        label[ll] = '\0';
    }
    return 1;
}

int hilt_pem_looks_like(const void *data, size_t len)
{
    return len >= 11 && memmem(data, len, "-----BEGIN ", 11) != NULL;
}

int hilt_pem_next(struct hilt_pem_scan *s, char *label, size_t label_cap, struct hilt_buf *der,
                  int *line, struct hilt_err *e)
{
    const char *p;
    size_t n;
    for (;;) {
        if (!next_line(s, &p, &n)) return 0;
        if (is_boundary(p, n, "BEGIN", label, label_cap)) break;
    }
    int begin = s->line - 1;
    if (line) *line = begin;
    hilt_buf_reset(der);
    EVP_ENCODE_CTX *ctx = EVP_ENCODE_CTX_new();
    if (!ctx) return hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
    EVP_DecodeInit(ctx);
    int rc = -1;
    char end_label[128];
    for (;;) {
        if (!next_line(s, &p, &n)) {
            hilt_err_set(e, HILT_E_INPUT, 0, "%s:%d: PEM block '%s' has no END line", s->source,
                         begin, label);
            goto out;
        }
        if (is_boundary(p, n, "END", end_label, sizeof(end_label))) {
            if (strcmp(end_label, label) != 0) {
                hilt_err_set(e, HILT_E_INPUT, 0, "%s:%d: END '%s' does not match BEGIN '%s'",
                             s->source, s->line - 1, end_label, label);
                goto out;
            }
            break;
        }
        /* Skip RFC 1421 headers ("Proc-Type: ...") and blank lines. */
        if (n == 0 || memchr(p, ':', n)) continue;
        /* The decoder may also flush up to 64 bytes buffered from earlier lines. */
        uint8_t *o = hilt_buf_reserve(der, n + 96);
        if (!o) {
            hilt_err_set(e, HILT_E_INPUT, 0, "%s:%d: PEM block too large", s->source, s->line - 1);
            goto out;
        }
        int outl = 0;
        if (n > 0x7fffffff || EVP_DecodeUpdate(ctx, o, &outl, (const unsigned char *)p, (int)n) < 0) {
            hilt_err_set(e, HILT_E_INPUT, 0, "%s:%d: bad base64 in PEM block '%s'", s->source,
                         s->line - 1, label);
            goto out;
        }
        hilt_buf_commit(der, (size_t)outl);
    }
    uint8_t *o = hilt_buf_reserve(der, 64);
    int outl = 0;
    if (!o || EVP_DecodeFinal(ctx, o, &outl) < 0) {
        hilt_err_set(e, HILT_E_INPUT, 0, "%s:%d: bad base64 ending in PEM block '%s'", s->source,
                     s->line - 1, label);
        goto out;
    }
    hilt_buf_commit(der, (size_t)outl);
    rc = 1;
out:
    EVP_ENCODE_CTX_free(ctx);
    return rc;
}

static X509 *der_to_x509(const uint8_t *p, size_t n)
{
    const unsigned char *q = p;
    X509 *x = d2i_X509(NULL, &q, (long)n);
    if (x && q != p + n) {
        X509_free(x);
        return NULL; /* trailing garbage */
    }
    return x;
}

STACK_OF(X509) *hilt_certs_parse(const void *data, size_t len, const char *source,
                                 struct hilt_err *e)
{
    STACK_OF(X509) *sk = sk_X509_new_null();
    struct hilt_buf der;
    hilt_buf_init(&der, HILT_PEM_FILE_MAX);
    if (!sk) goto oom;
    if (!hilt_pem_looks_like(data, len)) {
        X509 *x = len ? der_to_x509(data, len) : NULL;
        if (!x) {
            ERR_clear_error();
            hilt_err_set(e, HILT_E_INPUT, 0,
                         len ? "%s: neither PEM (no BEGIN line) nor a DER certificate"
                             : "%s: empty file",
                         source);
            goto fail;
        }
        sk_X509_push(sk, x);
        hilt_buf_free(&der);
        return sk;
    }
    struct hilt_pem_scan s;
    hilt_pem_scan_init(&s, data, len, source);
    char label[128];
    int line, rc;
    while ((rc = hilt_pem_next(&s, label, sizeof(label), &der, &line, e)) == 1) {
        if (strcmp(label, "CERTIFICATE") != 0 && strcmp(label, "X509 CERTIFICATE") != 0 &&
            strcmp(label, "TRUSTED CERTIFICATE") != 0)
            continue;
        if (sk_X509_num(sk) >= HILT_CERTS_MAX) {
            hilt_err_set(e, HILT_E_INPUT, 0, "%s:%d: more than %d certificates", source, line,
                         HILT_CERTS_MAX);
            goto fail;
        }
        X509 *x;
        if (!strcmp(label, "TRUSTED CERTIFICATE")) {
            const unsigned char *q = der.data;
            x = d2i_X509_AUX(NULL, &q, (long)der.len);
        } else {
            x = der_to_x509(der.data, der.len);
        }
        if (!x) {
            ERR_clear_error();
            hilt_err_set(e, HILT_E_INPUT, 0,
                         "%s:%d: PEM block '%s' does not hold a valid X.509 certificate", source,
                         line, label);
            goto fail;
        }
        sk_X509_push(sk, x);
    }
    if (rc < 0) goto fail;
    if (sk_X509_num(sk) == 0) {
        hilt_err_set(e, HILT_E_INPUT, 0, "%s: no CERTIFICATE block found", source);
        goto fail;
    }
    hilt_buf_free(&der);
    return sk;
oom:
    hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
fail:
    hilt_buf_free(&der);
    sk_X509_pop_free(sk, X509_free);
    return NULL;
}

STACK_OF(X509) *hilt_certs_load(const char *path, struct hilt_err *e)
{
    struct hilt_buf b;
    hilt_buf_init(&b, HILT_PEM_FILE_MAX);
    STACK_OF(X509) *sk = NULL;
    if (hilt_file_read(path, &b, e) == 0) sk = hilt_certs_parse(b.data, b.len, path, e);
    hilt_buf_free(&b);
    return sk;
}

static EVP_PKEY *der_to_key(const uint8_t *p, size_t n, const char *structure)
{
    EVP_PKEY *k = NULL;
    OSSL_DECODER_CTX *dctx = OSSL_DECODER_CTX_new_for_pkey(&k, "DER", structure, NULL,
                                                           OSSL_KEYMGMT_SELECT_KEYPAIR, NULL, NULL);
    if (!dctx) return NULL;
    const unsigned char *q = p;
    size_t left = n;
    if (!OSSL_DECODER_from_data(dctx, &q, &left)) k = NULL;
    OSSL_DECODER_CTX_free(dctx);
    return k;
}

EVP_PKEY *hilt_key_parse(const void *data, size_t len, const char *source, struct hilt_err *e)
{
    struct hilt_buf der;
    hilt_buf_init(&der, HILT_PEM_FILE_MAX);
    EVP_PKEY *k = NULL;
    if (!hilt_pem_looks_like(data, len)) {
        k = der_to_key(data, len, NULL);
        if (!k)
            hilt_err_set(e, HILT_E_INPUT, 0, "%s: neither a PEM nor a DER private key", source);
        goto out;
    }
    struct hilt_pem_scan s;
    hilt_pem_scan_init(&s, data, len, source);
    char label[128];
    int line, rc;
    while ((rc = hilt_pem_next(&s, label, sizeof(label), &der, &line, e)) == 1) {
        const char *structure = NULL;
        if (!strcmp(label, "PRIVATE KEY"))
            structure = "PrivateKeyInfo";
        else if (!strcmp(label, "EC PRIVATE KEY"))
            structure = "type-specific";
        else if (!strcmp(label, "RSA PRIVATE KEY"))
            structure = "type-specific";
        else if (!strcmp(label, "ENCRYPTED PRIVATE KEY")) {
            hilt_err_set(e, HILT_E_INPUT, 0,
                         "%s:%d: the key is encrypted; hilt needs an unencrypted key file "
                         "(mode 0600) or a PKCS#11 URI",
                         source, line);
            goto out;
        } else
            continue;
        k = der_to_key(der.data, der.len, structure);
        if (!k)
            hilt_err_set(e, HILT_E_INPUT, 0, "%s:%d: PEM block '%s' is not a valid private key",
                         source, line, label);
        goto out;
    }
    if (rc == 0) hilt_err_set(e, HILT_E_INPUT, 0, "%s: no PRIVATE KEY block found", source);
out:
    ERR_clear_error();
    OPENSSL_cleanse(der.data, der.len);
    hilt_buf_free(&der);
    return k;
}

EVP_PKEY *hilt_key_load(const char *path, struct hilt_err *e)
{
    struct hilt_buf b;
    hilt_buf_init(&b, 1 << 20);
    EVP_PKEY *k = NULL;
    if (hilt_file_read(path, &b, e) == 0) k = hilt_key_parse(b.data, b.len, path, e);
    if (b.data) OPENSSL_cleanse(b.data, b.len);
    hilt_buf_free(&b);
    return k;
}

static int bio_to_buf(BIO *bio, struct hilt_buf *out)
{
    char *p;
    long n = BIO_get_mem_data(bio, &p);
    return n < 0 ? -1 : hilt_buf_add(out, p, (size_t)n);
}

int hilt_certs_to_pem(struct hilt_buf *out, X509 *const *certs, size_t n)
{
    BIO *bio = BIO_new(BIO_s_mem());
    if (!bio) return -1;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        if (!PEM_write_bio_X509(bio, certs[i])) rc = -1;
    if (rc == 0) rc = bio_to_buf(bio, out);
    BIO_free(bio);
    return rc;
}

int hilt_key_to_pem(EVP_PKEY *k, struct hilt_buf *out, struct hilt_err *e)
{
    BIO *bio = BIO_new(BIO_s_secmem());
    if (!bio) return hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
    int rc = 0;
    if (!PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL) || bio_to_buf(bio, out) < 0)
        rc = hilt_err_ossl(e, HILT_E_RUNTIME, "cannot encode private key");
    BIO_free(bio);
    return rc;
}
