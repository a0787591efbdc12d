/* signer.c - signer dispatch and the file-key signer. */
#include "ca/signer.h"

#include "core/err.h"
#include "x509/pem.h"

#include <openssl/err.h>
#include <openssl/objects.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static EVP_PKEY *file_key(void *impl)
{
    return impl;
}

static void file_close(void *impl)
{
    EVP_PKEY_free(impl);
}

static const struct hilt_signer_ops file_ops = {"file", file_key, file_close, NULL};

int hilt_signer_open(const char *ref, const char *home, struct hilt_ca_signer **out,
                     struct hilt_err *e)
{
    *out = NULL;
    const struct hilt_signer_ops *ops;
    void *impl = NULL;
    if (!strncmp(ref, "file:", 5)) {
        char path[4096];
        const char *p = ref + 5;
        int n = p[0] == '/' ? snprintf(path, sizeof(path), "%s", p)
                            : snprintf(path, sizeof(path), "%s/%s", home, p);
        if (n < 0 || (size_t)n >= sizeof(path))
            return hilt_err_set(e, HILT_E_INPUT, 0, "key path too long: %s", p);
        impl = hilt_key_load(path, e);
        ops = &file_ops;
    } else if (!strncmp(ref, "pkcs11:", 7)) {
        impl = hilt_signer_pkcs11_open(ref, e);
        ops = &hilt_signer_pkcs11_ops;
    } else {
        return hilt_err_set(e, HILT_E_INPUT, 0,
                            "unknown key reference '%.40s' (expected file:PATH or pkcs11:URI)",
                            ref);
    }
    if (!impl) return -1;
    struct hilt_ca_signer *s = calloc(1, sizeof(*s));
    if (!s) {
        ops->close(impl);
        return hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
    }
    s->ops = ops;
    s->impl = impl;
    *out = s;
    return 0;
}

EVP_PKEY *hilt_signer_key(struct hilt_ca_signer *s)
{
    return s->ops->key(s->impl);
}

const char *hilt_signer_kind(const struct hilt_ca_signer *s)
{
    return s->ops->kind;
}

void hilt_signer_close(struct hilt_ca_signer *s)
{
    if (!s) return;
    EVP_PKEY_CTX_free(s->pctx);
    s->ops->close(s->impl);
    free(s);
}

/* Large batches signed with a file key are split across the cores: each
 * thread has its own EVP_PKEY_CTX over the shared (read-only) key. Tokens
 * (pkcs11) sign on the caller's thread only: engines need not be
 * thread-safe, and a token serialises anyway. */
#define PAR_MIN_PER_THREAD 32
#define PAR_MAX_THREADS 8

struct sign_part {
    EVP_PKEY *key;
    const EVP_MD *md;
    const uint8_t *dgst;
    size_t dlen, n;
    uint8_t *sigs;
    size_t *lens;
    int failed;
};

static int sign_run(EVP_PKEY_CTX *pc, struct sign_part *p)
{
    for (size_t i = 0; i < p->n; i++) {
        size_t sl = HILT_SIG_MAX;
        if (EVP_PKEY_sign(pc, p->sigs + i * HILT_SIG_MAX, &sl, p->dgst + i * p->dlen, p->dlen) <= 0)
            return -1;
        p->lens[i] = sl;
    }
    return 0;
}

static void *sign_thread(void *arg)
{
    struct sign_part *p = arg;
    EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new(p->key, NULL);
    p->failed = !pc || EVP_PKEY_sign_init(pc) <= 0 ||
                EVP_PKEY_CTX_set_signature_md(pc, p->md) <= 0 || sign_run(pc, p) < 0;
    EVP_PKEY_CTX_free(pc);
    ERR_clear_error(); /* this thread's queue; the caller reports the failure */
    return NULL;
}

static int sign_threads(size_t n)
{
    static long ncpu;
    if (!ncpu) ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    long t = ncpu < 1 ? 1 : ncpu > PAR_MAX_THREADS ? PAR_MAX_THREADS : ncpu;
    while (t > 1 && n / (size_t)t < PAR_MIN_PER_THREAD)
        t--;
    return (int)t;
}

int hilt_signer_sign_digests(struct hilt_ca_signer *s, int md_nid, const uint8_t *dgst, size_t dlen,
                             size_t n, uint8_t *sigs, size_t *lens, struct hilt_err *e)
{
    if (s->ops->sign_digests)
        return s->ops->sign_digests(s->impl, md_nid, dgst, dlen, n, sigs, lens, e);
    /* One context per signer, initialised once per digest: the per-call
     * cost is the signature itself, not algorithm look-ups. */
    if (!s->pctx || s->pctx_md != md_nid) {
        EVP_PKEY_CTX_free(s->pctx);
        s->pctx = EVP_PKEY_CTX_new(hilt_signer_key(s), NULL);
        const EVP_MD *md = EVP_get_digestbynid(md_nid);
        if (!s->pctx || !md || EVP_PKEY_sign_init(s->pctx) <= 0 ||
            EVP_PKEY_CTX_set_signature_md(s->pctx, md) <= 0) {
            EVP_PKEY_CTX_free(s->pctx);
            s->pctx = NULL;
            return hilt_err_ossl(e, HILT_E_RUNTIME, "cannot set up signing with %s",
                                 OBJ_nid2sn(md_nid));
        }
        s->pctx_md = md_nid;
    }
    int nt = s->ops == &file_ops ? sign_threads(n) : 1;
    struct sign_part parts[PAR_MAX_THREADS];
    pthread_t tids[PAR_MAX_THREADS];
    int started = 0;
    for (int t = 0; t < nt; t++) {
        size_t lo = n * (size_t)t / (size_t)nt, hi = n * (size_t)(t + 1) / (size_t)nt;
        parts[t] = (struct sign_part){hilt_signer_key(s),
                                      EVP_get_digestbynid(md_nid),
                                      dgst + lo * dlen,
                                      dlen,
                                      hi - lo,
                                      sigs + lo * HILT_SIG_MAX,
                                      lens + lo,
                                      0};
    }
    /* parts 1.. on their own threads (if a thread cannot start, this
     * thread signs that part afterwards); part 0 here */
    for (int t = 1; t < nt; t++) {
        if (pthread_create(&tids[t], NULL, sign_thread, &parts[t]) != 0) break;
        started = t;
    }
    int rc = sign_run(s->pctx, &parts[0]);
    for (int t = 1; t <= started; t++)
        pthread_join(tids[t], NULL);
    for (int t = started + 1; t < nt && rc == 0; t++)
        rc = sign_run(s->pctx, &parts[t]);
    for (int t = 1; t <= started && rc == 0; t++)
        if (parts[t].failed) rc = -1;
    if (rc < 0) return hilt_err_ossl(e, HILT_E_RUNTIME, "signing failed");
    return 0;
}

void hilt_pkcs11_uri_strip_pin(const char *uri, char *out, size_t cap)
{
    /* Attributes are separated by ';' (path) or '&' (query), RFC 7512 §2.3. */
    size_t o = 0;
    const char *p = uri;
    while (*p && o + 1 < cap) {
        if (!strncmp(p, "pin-value=", 10)) {
            while (*p && *p != ';' && *p != '&')
                p++;
            if (*p) p++;
            /* drop a separator left dangling before the removed attribute */
            if (!*p && o && (out[o - 1] == ';' || out[o - 1] == '&' || out[o - 1] == '?')) o--;
            continue;
        }
        out[o++] = *p++;
    }
    out[o] = '\0';
}
