/* submit.c - TEMPORARY scaffolding so hilt serve's REST and ACME parts link
 * while they are built side by side. The REST/approvals owner replaces this
 * file with the real request/approval workflow (pending requests in the
 * store, approvals, metrics). Until then: pre-approved requests issue, all
 * others are refused, counters are dropped. */
#include "api/api.h"

#include "ca/ca.h"
#include "core/err.h"

#include <openssl/x509v3.h>
#include <string.h>

int hilt_api_submit(struct hilt_api *api, const struct hilt_principal *who, X509_REQ *csr,
                    const struct hilt_cert_meta *meta, enum hilt_submit_state *state,
                    char request_id[64], struct hilt_issued *issued, struct hilt_err *e)
{
    (void)who;
    request_id[0] = 0;
    const char *names[64];
    size_t n = 0;
    STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(csr);
    GENERAL_NAMES *gens = exts ? X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL) : NULL;
    for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens) && n < 64; i++) {
        GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        if (g->type == GEN_DNS) names[n++] = (const char *)ASN1_STRING_get0_data(g->d.dNSName);
    }
    int covered = hilt_scope_covers(api->scopes, api->nscopes, names, n, meta->env, meta->lifetime);
    int rc;
    if (!covered) {
        rc = hilt_err_set(e, HILT_E_INPUT, 0, "no pre-approved scope covers this request");
    } else {
        struct hilt_issue_req r = {.csr = csr, .lifetime = meta->lifetime, .owner = meta->owner,
                                   .service = meta->service, .env = meta->env};
        rc = hilt_ca_issue(api->ca, &r, issued, e);
        if (rc == 0) *state = HILT_SUBMIT_ISSUED;
    }
    GENERAL_NAMES_free(gens);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    return rc;
}

int hilt_api_request_state(struct hilt_api *api, const char *request_id, int *state,
                           char serial[64], struct hilt_err *e)
{
    (void)api, (void)state, (void)serial;
    return hilt_err_set(e, HILT_E_INPUT, 0, "no request %s", request_id);
}

void hilt_api_count(struct hilt_api *api, const char *series, uint64_t n)
{
    (void)api, (void)series, (void)n;
}
