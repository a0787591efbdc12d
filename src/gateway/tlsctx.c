/* tlsctx.c - policy profiles onto OpenSSL contexts.
 *
 * A profile is applied explicitly, every knob set, so that the machine's
 * openssl.cnf (Debian sets MinProtocol and CipherString there) never changes
 * what a profile means. TLS 1.0/1.1 need security level 0 under OpenSSL 3.
 *
 * Session-ticket keys live in tickets.c.
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
