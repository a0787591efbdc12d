/* tlsctx.c - policy profiles onto OpenSSL contexts, and session-ticket keys.
 *
 * A profile is applied explicitly, every knob set, so that the machine's
 * openssl.cnf (Debian sets MinProtocol and CipherString there) never changes
 * what a profile means. TLS 1.0/1.1 need security level 0 under OpenSSL 3.
 *
 * Ticket keys (RFC 5077 format as OpenSSL uses it: name 16, HMAC-SHA256 key,
 * AES-256-CBC key) live in one process-wide ring so that every context, and
 * every generation after a reload, encrypts with the same current key and
 * decrypts with the recent ones.
 */
#include "gateway/gen.h"

#include "core/buf.h"
#include "core/err.h"
#include "core/fileio.h"
#include "core/log.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TICKET_KEYS 3

struct tkey {
    unsigned char name[16], hmac[32], aes[32];
};

struct gw_tickets {
    pthread_rwlock_t lk;
    struct tkey k[TICKET_KEYS];
    int n;
    time_t rotated;
    EVP_CIPHER *cipher;
};

static struct gw_tickets *g_tickets; /* the process's ring, set by gw_tickets_new */

struct gw_tickets *gw_tickets_new(struct hilt_err *e)
{
    struct gw_tickets *t = calloc(1, sizeof(*t));
    if (!t) {
        hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
        return NULL;
    }
    pthread_rwlock_init(&t->lk, NULL);
    t->cipher = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL);
    if (!t->cipher || gw_tickets_rotate(t) < 0) {
        hilt_err_ossl(e, HILT_E_RUNTIME, "cannot set up session-ticket keys");
        gw_tickets_free(&t);
        return NULL;
    }
    g_tickets = t;
    return t;
}

void gw_tickets_free(struct gw_tickets **tp)
{
    if (!tp || !*tp) return;
    struct gw_tickets *t = *tp;
    if (g_tickets == t) g_tickets = NULL;
    OPENSSL_cleanse(t->k, sizeof(t->k));
    EVP_CIPHER_free(t->cipher);
    pthread_rwlock_destroy(&t->lk);
    free(t);
    *tp = NULL;
}

int gw_tickets_rotate(struct gw_tickets *t)
{
    struct tkey k;
    if (RAND_bytes((unsigned char *)&k, sizeof(k)) != 1) return -1;
    pthread_rwlock_wrlock(&t->lk);
    memmove(&t->k[1], &t->k[0], sizeof(t->k[0]) * (TICKET_KEYS - 1));
    t->k[0] = k;
    if (t->n < TICKET_KEYS) t->n++;
    t->rotated = time(NULL);
    pthread_rwlock_unlock(&t->lk);
    OPENSSL_cleanse(&k, sizeof(k));
    return 0;
}

time_t gw_tickets_rotated(struct gw_tickets *t)
{
    pthread_rwlock_rdlock(&t->lk);
    time_t r = t->rotated;
    pthread_rwlock_unlock(&t->lk);
    return r;
}

int gw_tickets_load(struct gw_tickets *t, const char *path, struct hilt_err *e)
{
    struct hilt_buf b;
    hilt_buf_init(&b, 80 * 16);
    if (hilt_file_read(path, &b, e) < 0) {
        hilt_buf_free(&b);
        return -1;
    }
    if (b.len == 0 || b.len % 80) {
        OPENSSL_cleanse(b.data, b.len);
        hilt_buf_free(&b);
        return hilt_err_set(e, HILT_E_INPUT, 0,
                            "%s: expected one or more 80-byte ticket keys, got %zu bytes", path,
                            b.len);
    }
    pthread_rwlock_wrlock(&t->lk);
    t->n = 0;
    for (size_t i = 0; i < b.len / 80 && t->n < TICKET_KEYS; i++) {
        memcpy(t->k[t->n].name, b.data + i * 80, 16);
        memcpy(t->k[t->n].hmac, b.data + i * 80 + 16, 32);
        memcpy(t->k[t->n].aes, b.data + i * 80 + 48, 32);
        t->n++;
    }
    t->rotated = time(NULL);
    pthread_rwlock_unlock(&t->lk);
    OPENSSL_cleanse(b.data, b.len);
    hilt_buf_free(&b);
    return 0;
}

/* RFC 5077 §4 ticket protection; returns 1 (use), 2 (use, renew), 0 (unknown key), -1. */
static int ticket_cb(SSL *s, unsigned char name[16], unsigned char *iv, EVP_CIPHER_CTX *cctx,
                     EVP_MAC_CTX *hctx, int enc)
{
    (void)s;
    struct gw_tickets *t = g_tickets;
    if (!t) return -1;
    OSSL_PARAM params[2] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end()};
    int rc = -1;
    pthread_rwlock_rdlock(&t->lk);
    if (enc) {
        if (RAND_bytes(iv, 16) != 1) goto out;
        memcpy(name, t->k[0].name, 16);
        if (EVP_EncryptInit_ex(cctx, t->cipher, NULL, t->k[0].aes, iv) != 1 ||
            EVP_MAC_init(hctx, t->k[0].hmac, 32, params) != 1)
            goto out;
        rc = 1;
        goto out;
    }
    rc = 0;
    for (int i = 0; i < t->n; i++) {
        if (memcmp(name, t->k[i].name, 16)) continue;
        if (EVP_MAC_init(hctx, t->k[i].hmac, 32, params) != 1 ||
            EVP_DecryptInit_ex(cctx, t->cipher, NULL, t->k[i].aes, iv) != 1) {
            rc = -1;
            goto out;
        }
        rc = i == 0 ? 1 : 2;
        break;
    }
out:
    pthread_rwlock_unlock(&t->lk);
    return rc;
}

void gw_ctx_install_tickets(SSL_CTX *ctx)
{
    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb);
}

static int join_ciphers(struct hilt_buf *b, const struct hilt_u16list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        const struct hilt_cipher *c = hilt_cipher_by_code(l->v[i]);
        if (!c || !c->openssl || !(c->flags & HILT_CF_OSSL3)) continue;
        if (b->len && hilt_buf_add(b, ":", 1)) return -1;
        if (hilt_buf_add_str(b, c->openssl)) return -1;
    }
    return 0;
}

int gw_ctx_apply_profile(SSL_CTX *ctx, const struct hilt_profile *p, struct hilt_err *e)
{
    struct hilt_buf b;
    hilt_buf_init(&b, 64 * 1024);
    int rc = -1;
    if (!p) {
        SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
        SSL_CTX_set_max_proto_version(ctx, 0);
        SSL_CTX_set_security_level(ctx, 2);
        if (SSL_CTX_set_cipher_list(ctx, "DEFAULT") != 1) goto ossl;
        rc = 0;
        goto out;
    }
    int minv = hilt_profile_min_version(p), maxv = hilt_profile_max_version(p);
    if (minv < 0) {
        hilt_err_set(e, HILT_E_INPUT, 0, "profile %s enables no version", p->name);
        goto out;
    }
    int legacy = minv < HILT_TLS12;
    if (minv == HILT_SSL3) minv = HILT_TLS10; /* OpenSSL 3 is built without SSLv3 */
    SSL_CTX_set_security_level(ctx, legacy ? 0 : 2);
    if (SSL_CTX_set_min_proto_version(ctx, hilt_tls_version_wire((enum hilt_tls_version)minv)) !=
            1 ||
        SSL_CTX_set_max_proto_version(ctx, hilt_tls_version_wire((enum hilt_tls_version)maxv)) != 1)
        goto ossl;
    /* gaps inside the range */
    static const struct {
        enum hilt_tls_version v;
        uint64_t op;
    } gaps[] = {{HILT_TLS10, SSL_OP_NO_TLSv1},
                {HILT_TLS11, SSL_OP_NO_TLSv1_1},
                {HILT_TLS12, SSL_OP_NO_TLSv1_2},
                {HILT_TLS13, SSL_OP_NO_TLSv1_3}};
    for (size_t i = 0; i < sizeof(gaps) / sizeof(gaps[0]); i++)
        if (!hilt_profile_allows_version(p, gaps[i].v)) SSL_CTX_set_options(ctx, gaps[i].op);
    if (minv <= HILT_TLS12) {
        if (join_ciphers(&b, &p->ciphers)) goto oom;
        if (!b.len) {
            hilt_err_set(e, HILT_E_INPUT, 0,
                         "profile %s: none of its TLS 1.0-1.2 suites is implemented by OpenSSL 3",
                         p->name);
            goto out;
        }
        if (legacy && hilt_buf_add_str(&b, ":@SECLEVEL=0")) goto oom;
        if (SSL_CTX_set_cipher_list(ctx, hilt_buf_cstr(&b)) != 1) goto ossl;
    }
    hilt_buf_reset(&b);
    if (hilt_profile_allows_version(p, HILT_TLS13)) {
        if (join_ciphers(&b, &p->tls13_ciphersuites)) goto oom;
        if (SSL_CTX_set_ciphersuites(ctx, hilt_buf_cstr(&b)) != 1) goto ossl;
    }
    hilt_buf_reset(&b);
    if (p->groups.n) {
        for (size_t i = 0; i < p->groups.n; i++) {
            const struct hilt_group *g = hilt_group_by_code(p->groups.v[i]);
            if (!g || !(g->flags & HILT_GF_OSSL3) || !g->openssl) continue;
            if ((b.len && hilt_buf_add(&b, ":", 1)) || hilt_buf_add_str(&b, g->openssl)) goto oom;
        }
        if (b.len && SSL_CTX_set1_groups_list(ctx, hilt_buf_cstr(&b)) != 1) goto ossl;
    }
    hilt_buf_reset(&b);
    if (p->signature_algorithms.n) {
        for (size_t i = 0; i < p->signature_algorithms.n; i++) {
            const struct hilt_sigalg *s = hilt_sigalg_by_code(p->signature_algorithms.v[i]);
            if (!s) continue;
            if ((b.len && hilt_buf_add(&b, ":", 1)) || hilt_buf_add_str(&b, s->iana)) goto oom;
        }
        if (b.len && SSL_CTX_set1_sigalgs_list(ctx, hilt_buf_cstr(&b)) != 1) goto ossl;
    }
    if (p->server_preference)
        SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
    else
        SSL_CTX_clear_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
    rc = 0;
    goto out;
oom:
    hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
    goto out;
ossl:
    hilt_err_ossl(e, HILT_E_INPUT, "profile %s: OpenSSL refused a setting",
                  p ? p->name : "(default)");
out:
    hilt_buf_free(&b);
    return rc;
}
