/* revocation.c - OCSP (staple and AIA responder) and CRL checks for one certificate. */
#include "x509/revocation.h"

#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/http.h"
#include "x509/summary.h"

#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

#define OCSP_RESPONSE_MAX (64u << 10)
#define CRL_MAX (32u << 20)

const char *hilt_rev_status_name(enum hilt_rev_status s)
{
    switch (s) {
    case HILT_REV_UNCHECKED: return "unchecked";
    case HILT_REV_GOOD: return "good";
    case HILT_REV_REVOKED: return "revoked";
    case HILT_REV_UNKNOWN: return "unknown";
    case HILT_REV_ERROR: return "error";
    }
    return "error";
}

const char *hilt_crl_reason_name(int reason)
{
    static const char *const names[] = {
        "unspecified",          "keyCompromise", "cACompromise",         "affiliationChanged",
        "superseded",           "cessationOfOperation", "certificateHold", "unused",
        "removeFromCRL",        "privilegeWithdrawn",   "aACompromise"};
    if (reason >= 0 && reason < (int)(sizeof(names) / sizeof(names[0]))) return names[reason];
    return "unspecified";
}

static void set_status(struct hilt_revocation *out, enum hilt_rev_status st, const char *source,
                       const char *url)
{
    out->status = st;
    snprintf(out->source, sizeof(out->source), "%s", source);
    snprintf(out->url, sizeof(out->url), "%s", url ? url : "");
}

/* Evaluate a DER OCSPResponse for `id`. Returns 0 when it gave an answer. */
static int eval_ocsp(const unsigned char *der, size_t len, OCSP_CERTID *id,
                     STACK_OF(X509) *untrusted, X509_STORE *store, struct hilt_revocation *out)
{
    const unsigned char *p = der;
    OCSP_RESPONSE *resp = d2i_OCSP_RESPONSE(NULL, &p, (long)len);
    OCSP_BASICRESP *bs = NULL;
    int rc = -1;
    if (!resp) {
        snprintf(out->detail, sizeof(out->detail), "the OCSP response is not valid DER");
        goto out;
    }
    int rs = OCSP_response_status(resp);
    if (rs != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
        snprintf(out->detail, sizeof(out->detail), "the OCSP responder answered '%s'",
                 OCSP_response_status_str(rs));
        goto out;
    }
    if (!(bs = OCSP_response_get1_basic(resp))) {
        snprintf(out->detail, sizeof(out->detail), "the OCSP response has no basic response");
        goto out;
    }
    if (OCSP_basic_verify(bs, untrusted, store, 0) <= 0) {
        unsigned long e = ERR_peek_last_error();
        snprintf(out->detail, sizeof(out->detail),
                 "the OCSP response signature does not verify: %s",
                 e ? ERR_reason_error_string(e) : "unknown reason");
        goto out;
    }
    int status = -1, reason = -1;
    ASN1_GENERALIZEDTIME *rev = NULL, *thisupd = NULL, *nextupd = NULL;
    if (!OCSP_resp_find_status(bs, id, &status, &reason, &rev, &thisupd, &nextupd)) {
        snprintf(out->detail, sizeof(out->detail), "the OCSP response does not cover this certificate");
        goto out;
    }
    out->this_update = hilt_asn1_time(thisupd);
    out->next_update = nextupd ? hilt_asn1_time(nextupd) : 0;
    /* Five minutes of leeway for clock differences, as OpenSSL's tools use. */
    time_t now = hilt_now();
    if (out->this_update > now + 300 || (out->next_update && out->next_update < now - 300)) {
        snprintf(out->detail, sizeof(out->detail),
                 "the OCSP response is outside its validity window");
        goto out;
    }
    if (status == V_OCSP_CERTSTATUS_REVOKED) {
        out->status = HILT_REV_REVOKED;
        out->reason = reason;
        out->revoked_at = hilt_asn1_time(rev);
    } else if (status == V_OCSP_CERTSTATUS_GOOD) {
        out->status = HILT_REV_GOOD;
    } else {
        out->status = HILT_REV_UNKNOWN;
        snprintf(out->detail, sizeof(out->detail), "the OCSP responder does not know this certificate");
    }
    rc = 0;
out:
    ERR_clear_error();
    OCSP_BASICRESP_free(bs);
    OCSP_RESPONSE_free(resp);
    return rc;
}

static int check_ocsp_url(const char *url, X509 *leaf, X509 *issuer, STACK_OF(X509) *untrusted,
                          X509_STORE *store, int timeout_ms, struct hilt_revocation *out)
{
    OCSP_CERTID *id = OCSP_cert_to_id(NULL, leaf, issuer);
    OCSP_REQUEST *req = OCSP_REQUEST_new();
    unsigned char *der = NULL;
    int rc = -1;
    if (!id || !req || !OCSP_request_add0_id(req, OCSP_CERTID_dup(id))) goto out;
    int len = i2d_OCSP_REQUEST(req, &der);
    if (len <= 0) goto out;
    struct hilt_http_resp resp;
    hilt_http_resp_init(&resp, OCSP_RESPONSE_MAX);
    struct hilt_err e = {0};
    if (hilt_http_fetch("POST", url, "application/ocsp-request", der, (size_t)len, timeout_ms, &resp, &e) < 0) {
        snprintf(out->detail, sizeof(out->detail), "OCSP responder unreachable: %s", e.msg);
    } else if (resp.status != 200) {
        snprintf(out->detail, sizeof(out->detail), "OCSP responder %s answered HTTP %d", url, resp.status);
    } else if (eval_ocsp(resp.body.data, resp.body.len, id, untrusted, store, out) == 0) {
        rc = 0;
    }
    hilt_http_resp_free(&resp);
out:
    ERR_clear_error();
    OPENSSL_free(der);
    OCSP_REQUEST_free(req);
    OCSP_CERTID_free(id);
    return rc;
}

static int check_crl_url(const char *url, X509 *leaf, X509 *issuer, int timeout_ms,
                         struct hilt_revocation *out)
{
    struct hilt_http_resp resp;
    hilt_http_resp_init(&resp, CRL_MAX);
    struct hilt_err e = {0};
    X509_CRL *crl = NULL;
    int rc = -1;
    if (hilt_http_fetch("GET", url, NULL, NULL, 0, timeout_ms, &resp, &e) < 0) {
        snprintf(out->detail, sizeof(out->detail), "CRL unreachable: %s", e.msg);
        goto out;
    }
    if (resp.status != 200) {
        snprintf(out->detail, sizeof(out->detail), "CRL %s answered HTTP %d", url, resp.status);
        goto out;
    }
    const unsigned char *p = resp.body.data;
    crl = d2i_X509_CRL(NULL, &p, (long)resp.body.len);
    if (!crl) {
        BIO *b = BIO_new_mem_buf(resp.body.data, (int)resp.body.len);
        if (b) crl = PEM_read_bio_X509_CRL(b, NULL, NULL, NULL);
        BIO_free(b);
    }
    if (!crl) {
        snprintf(out->detail, sizeof(out->detail), "%s is not a CRL", url);
        goto out;
    }
    if (X509_CRL_verify(crl, X509_get0_pubkey(issuer)) != 1) {
        snprintf(out->detail, sizeof(out->detail), "the CRL at %s is not signed by the issuer", url);
        goto out;
    }
    out->this_update = hilt_asn1_time(X509_CRL_get0_lastUpdate(crl));
    out->next_update = hilt_asn1_time(X509_CRL_get0_nextUpdate(crl));
    X509_REVOKED *rev = NULL;
    if (X509_CRL_get0_by_serial(crl, &rev, X509_get0_serialNumber(leaf)) == 1 && rev) {
        out->status = HILT_REV_REVOKED;
        out->revoked_at = hilt_asn1_time(X509_REVOKED_get0_revocationDate(rev));
        ASN1_ENUMERATED *r = X509_REVOKED_get_ext_d2i(rev, NID_crl_reason, NULL, NULL);
        out->reason = r ? (int)ASN1_ENUMERATED_get(r) : -1;
        ASN1_ENUMERATED_free(r);
    } else {
        out->status = HILT_REV_GOOD;
    }
    rc = 0;
out:
    ERR_clear_error();
    X509_CRL_free(crl);
    hilt_http_resp_free(&resp);
    return rc;
}

int hilt_revocation_check(X509 *leaf, X509 *issuer, STACK_OF(X509) *untrusted, X509_STORE *store,
                          const unsigned char *staple, size_t staple_len, int timeout_ms,
                          struct hilt_revocation *out)
{
    memset(out, 0, sizeof(*out));
    out->reason = -1;
    if (!leaf || !issuer) {
        snprintf(out->detail, sizeof(out->detail), "the issuer is not known");
        out->status = HILT_REV_ERROR;
        return 0;
    }
    if (staple && staple_len) {
        OCSP_CERTID *id = OCSP_cert_to_id(NULL, leaf, issuer);
        int ok = id && eval_ocsp(staple, staple_len, id, untrusted, store, out) == 0;
        OCSP_CERTID_free(id);
        if (ok) {
            set_status(out, out->status, "staple", NULL);
            return 0;
        }
    }
    char ocsp[4][512], crl[4][512];
    int n = hilt_cert_aia_urls(leaf, NID_ad_OCSP, ocsp, 4);
    for (int i = 0; i < n; i++) {
        if (check_ocsp_url(ocsp[i], leaf, issuer, untrusted, store, timeout_ms, out) == 0) {
            set_status(out, out->status, "ocsp", ocsp[i]);
            return 0;
        }
    }
    /* RFC 5280 CRLs are the fallback when OCSP is absent or unusable. */
    int nc = hilt_cert_crl_urls(leaf, crl, 4);
    for (int i = 0; i < nc; i++) {
        if (check_crl_url(crl[i], leaf, issuer, timeout_ms, out) == 0) {
            set_status(out, out->status, "crl", crl[i]);
            return 0;
        }
    }
    if (n == 0 && nc == 0)
        out->status = HILT_REV_UNCHECKED;
    else
        set_status(out, HILT_REV_ERROR, n ? "ocsp" : "crl", n ? ocsp[0] : crl[0]);
    return 0;
}
