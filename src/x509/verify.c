/* verify.c - chain building and verification that records every error (RFC 5280 §6). */
#include "x509/verify.h"

#include "core/err.h"
#include "x509/pem.h"
#include "x509/summary.h"

#include <openssl/err.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <string.h>

X509_STORE *hilt_store_new(const char *ca_file, struct hilt_err *e)
{
    X509_STORE *st = X509_STORE_new();
    if (!st) {
        hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
        return NULL;
    }
    if (!ca_file) {
        if (!X509_STORE_set_default_paths(st)) {
            hilt_err_ossl(e, HILT_E_RUNTIME, "cannot load the system trust store");
            X509_STORE_free(st);
            return NULL;
        }
        return st;
    }
    STACK_OF(X509) *certs = hilt_certs_load(ca_file, e);
    if (!certs || hilt_store_add(st, certs) < 0) {
        if (certs) hilt_err_ossl(e, HILT_E_INPUT, "%s: cannot add to trust store", ca_file);
        sk_X509_pop_free(certs, X509_free);
        X509_STORE_free(st);
        return NULL;
    }
    sk_X509_pop_free(certs, X509_free);
    return st;
}

int hilt_store_add(X509_STORE *st, STACK_OF(X509) *certs)
{
    for (int i = 0; i < sk_X509_num(certs); i++) {
        if (!X509_STORE_add_cert(st, sk_X509_value(certs, i))) {
            /* Duplicates are harmless. */
            unsigned long err = ERR_peek_last_error();
            if (ERR_GET_REASON(err) != X509_R_CERT_ALREADY_IN_HASH_TABLE) return -1;
            ERR_clear_error();
        }
    }
    return 0;
}

static int ex_index = -1;
static pthread_once_t ex_once = PTHREAD_ONCE_INIT;

static void ex_init(void)
{
    ex_index = X509_STORE_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

static int record_cb(int ok, X509_STORE_CTX *ctx)
{
    if (ok) return 1;
    struct hilt_verify *v = X509_STORE_CTX_get_ex_data(ctx, ex_index);
    int err = X509_STORE_CTX_get_error(ctx);
    int depth = X509_STORE_CTX_get_error_depth(ctx);
    int dup = 0;
    for (int i = 0; i < v->n; i++)
        if (v->issues[i].error == err && v->issues[i].depth == depth) dup = 1;
    if (!dup && v->n < HILT_VERIFY_MAX_ISSUES) {
        struct hilt_verify_issue *is = &v->issues[v->n++];
        is->error = err;
        is->depth = depth;
        X509 *cur = X509_STORE_CTX_get_current_cert(ctx);
        is->subject[0] = '\0';
        if (cur) hilt_name_fmt(X509_get_subject_name(cur), is->subject, sizeof(is->subject));
    }
    /* Keep going so later problems are recorded too. Chains that cannot be
     * built at all end verification regardless of this return value. */
    return 1;
}

int hilt_verify_chain(X509_STORE *store, STACK_OF(X509) *peer_chain, STACK_OF(X509) *extra,
                      time_t at, int sec_level, int client, struct hilt_verify *out,
                      struct hilt_err *e)
{
    memset(out, 0, sizeof(*out));
    if (!peer_chain || sk_X509_num(peer_chain) == 0)
        return hilt_err_set(e, HILT_E_INPUT, 0, "no certificate to verify");
    pthread_once(&ex_once, ex_init);
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    int rc = -1;
    if (!untrusted || !ctx) goto oom;
    for (int i = 1; i < sk_X509_num(peer_chain); i++)
        if (!sk_X509_push(untrusted, sk_X509_value(peer_chain, i))) goto oom;
    for (int i = 0; extra && i < sk_X509_num(extra); i++)
        if (!sk_X509_push(untrusted, sk_X509_value(extra, i))) goto oom;
    if (!X509_STORE_CTX_init(ctx, store, sk_X509_value(peer_chain, 0), untrusted)) goto ossl;
    X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(ctx);
    X509_VERIFY_PARAM_set_time(param, at);
    X509_VERIFY_PARAM_set_auth_level(param, sec_level);
    X509_VERIFY_PARAM_set_purpose(param, client ? X509_PURPOSE_SSL_CLIENT : X509_PURPOSE_SSL_SERVER);
    X509_STORE_CTX_set_ex_data(ctx, ex_index, out);
    X509_STORE_CTX_set_verify_cb(ctx, record_cb);
    int r = X509_verify_cert(ctx);
    if (r < 0) goto ossl;
    if (r == 0 && out->n == 0) {
        /* A failure the callback did not see (e.g. no chain could be built). */
        out->issues[0].error = X509_STORE_CTX_get_error(ctx);
        out->issues[0].depth = X509_STORE_CTX_get_error_depth(ctx);
        out->n = 1;
    }
    out->ok = r == 1 && out->n == 0;
    STACK_OF(X509) *built = X509_STORE_CTX_get1_chain(ctx);
    out->chain = built;
    rc = 0;
    goto done;
oom:
    hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
    goto done;
ossl:
    hilt_err_ossl(e, HILT_E_RUNTIME, "certificate verification failed to run");
done:
    ERR_clear_error();
    X509_STORE_CTX_free(ctx);
    sk_X509_free(untrusted);
    return rc;
}

void hilt_verify_free(struct hilt_verify *v)
{
    sk_X509_pop_free(v->chain, X509_free);
    v->chain = NULL;
}

const struct hilt_verify_issue *hilt_verify_has(const struct hilt_verify *v, int error)
{
    for (int i = 0; i < v->n; i++)
        if (v->issues[i].error == error) return &v->issues[i];
    return NULL;
}
