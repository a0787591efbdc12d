/* ocsp.c - OCSP request parsing and signed responses (RFC 6960), responder side. */
#include "x509/ocsp.h"

#include "core/err.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

void hilt_ocsp_req_free(struct hilt_ocsp_req *r)
{
    if (!r) return;
    OCSP_REQUEST_free(r->req);
    r->req = NULL;
    r->n = 0;
    r->has_nonce = 0;
}

int hilt_ocsp_req_parse(const void *der, size_t len, struct hilt_ocsp_req *out, struct hilt_err *e)
{
    memset(out, 0, sizeof(*out));
    if (len == 0) return hilt_err_set(e, HILT_E_INPUT, 0, "empty OCSP request");
    if (len > HILT_OCSP_REQ_MAX)
        return hilt_err_set(e, HILT_E_INPUT, 0,
                            "OCSP request of %zu bytes is over the %d-byte limit", len,
                            HILT_OCSP_REQ_MAX);
    const unsigned char *p = der;
    OCSP_REQUEST *req = d2i_OCSP_REQUEST(NULL, &p, (long)len);
    if (!req) {
        ERR_clear_error();
        return hilt_err_set(e, HILT_E_INPUT, 0, "OCSP request is not a DER OCSPRequest");
    }
    if ((size_t)(p - (const unsigned char *)der) != len) {
        OCSP_REQUEST_free(req);
        return hilt_err_set(e, HILT_E_INPUT, 0, "OCSP request has %zu trailing bytes",
                            len - (size_t)(p - (const unsigned char *)der));
    }
    int n = OCSP_request_onereq_count(req);
    if (n <= 0 || n > HILT_OCSP_IDS_MAX) {
        OCSP_REQUEST_free(req);
        return hilt_err_set(e, HILT_E_INPUT, 0,
                            "OCSP request lists %d certificates (1 to %d allowed)", n,
                            HILT_OCSP_IDS_MAX);
    }
    out->req = req;
    out->n = (size_t)n;
    out->has_nonce = OCSP_REQUEST_get_ext_by_NID(req, NID_id_pkix_OCSP_Nonce, -1) >= 0;
    return 0;
}

static int hexval(uint8_t c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int b64val(uint8_t c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

/* RFC 6960 Appendix A.1: GET {url}/{url-encoding of base-64 encoding of the
 * DER}. Percent escapes are undone first, then base64 (either alphabet, with
 * or without '=' padding) is decoded; both steps are bounded by the DER limit. */
int hilt_ocsp_req_parse_get(const char *enc, size_t len, struct hilt_ocsp_req *out,
                            struct hilt_err *e)
{
    memset(out, 0, sizeof(*out));
    /* base64 of the largest request, each character possibly percent-encoded. */
    const size_t b64_max = (HILT_OCSP_REQ_MAX + 2) / 3 * 4;
    if (len > b64_max * 3)
        return hilt_err_set(e, HILT_E_INPUT, 0, "OCSP GET request of %zu bytes is too long", len);
    struct hilt_rd rd;
    struct hilt_buf b64, der;
    hilt_buf_init(&b64, b64_max);
    hilt_buf_init(&der, HILT_OCSP_REQ_MAX);
    int rc = -1;
    hilt_rd_init(&rd, enc, len);
    while (hilt_rd_left(&rd)) {
        uint8_t c, h, l;
        if (hilt_rd_u8(&rd, &c) < 0) goto bad;
        if (c == '%') {
            int hv, lv;
            if (hilt_rd_u8(&rd, &h) < 0 || hilt_rd_u8(&rd, &l) < 0 || (hv = hexval(h)) < 0 ||
                (lv = hexval(l)) < 0)
                goto bad;
            c = (uint8_t)(hv << 4 | lv);
        }
        if (c == '\r' || c == '\n') continue; /* line-wrapped base64 from old clients */
        if (hilt_buf_add_u8(&b64, c) < 0) goto too_long;
    }
    size_t n = b64.len;
    while (n && b64.data[n - 1] == '=')
        n--;
    if (b64.len - n > 2 || n % 4 == 1) goto bad;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64val(b64.data[i]);
        if (v < 0) goto bad;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (hilt_buf_add_u8(&der, (uint8_t)(acc >> bits)) < 0) goto too_long;
            acc &= (1u << bits) - 1;
        }
    }
    rc = hilt_ocsp_req_parse(der.data, der.len, out, e);
    goto out;
too_long:
    hilt_err_set(e, HILT_E_INPUT, 0, "OCSP GET request decodes to more than %d bytes",
                 HILT_OCSP_REQ_MAX);
    goto out;
bad:
    hilt_err_set(e, HILT_E_INPUT, 0, "OCSP GET request is not percent-encoded base64");
out:
    hilt_buf_free(&b64);
    hilt_buf_free(&der);
    return rc;
}

OCSP_CERTID *hilt_ocsp_req_id(const struct hilt_ocsp_req *r, size_t i)
{
    if (!r->req || i >= r->n) return NULL;
    OCSP_ONEREQ *one = OCSP_request_onereq_get0(r->req, (int)i);
    return one ? OCSP_onereq_get0_id(one) : NULL;
}

int hilt_ocsp_id_issued_by(OCSP_CERTID *id, X509 *issuer)
{
    ASN1_OBJECT *md_oid = NULL;
    ASN1_INTEGER *serial = NULL;
    if (!id || !issuer || !OCSP_id_get0_info(NULL, &md_oid, NULL, &serial, id)) return 0;
    const EVP_MD *md = EVP_get_digestbyobj(md_oid);
    if (!md) {
        ERR_clear_error();
        return 0;
    }
    OCSP_CERTID *mine = OCSP_cert_id_new(md, X509_get_subject_name(issuer),
                                         X509_get0_pubkey_bitstr(issuer), serial);
    int match = mine && OCSP_id_issuer_cmp(mine, id) == 0;
    OCSP_CERTID_free(mine);
    ERR_clear_error();
    return match;
}

int hilt_ocsp_id_serial_is(OCSP_CERTID *id, X509 *cert)
{
    ASN1_INTEGER *serial = NULL;
    if (!id || !cert || !OCSP_id_get0_info(NULL, NULL, NULL, &serial, id) || !serial) return 0;
    return ASN1_INTEGER_cmp(serial, X509_get0_serialNumber(cert)) == 0;
}

void hilt_ocsp_id_serial_hex(OCSP_CERTID *id, char *out, size_t cap)
{
    if (cap) out[0] = '\0';
    ASN1_INTEGER *serial = NULL;
    if (!id || !OCSP_id_get0_info(NULL, NULL, NULL, &serial, id) || !serial) return;
    BIGNUM *bn = ASN1_INTEGER_to_BN(serial, NULL);
    char *hex = bn ? BN_bn2hex(bn) : NULL;
    if (hex) {
        size_t i = 0;
        for (; hex[i] && i + 1 < cap; i++)
            out[i] = (hex[i] >= 'A' && hex[i] <= 'F') ? (char)(hex[i] - 'A' + 'a') : hex[i];
        if (cap) out[i < cap ? i : cap - 1] = '\0';
    }
    OPENSSL_free(hex);
    BN_free(bn);
    ERR_clear_error();
}

static int encode_resp(OCSP_RESPONSE *resp, struct hilt_buf *out, struct hilt_err *e)
{
    unsigned char *der = NULL;
    int len = i2d_OCSP_RESPONSE(resp, &der);
    if (len <= 0) return hilt_err_ossl(e, HILT_E_RUNTIME, "cannot encode OCSP response");
    int rc = hilt_buf_add(out, der, (size_t)len);
    OPENSSL_free(der);
    if (rc < 0)
        return hilt_err_set(e, HILT_E_RUNTIME, 0, "OCSP response of %d bytes does not fit", len);
    return 0;
}

static int check_signer(const struct hilt_ocsp_signer *sg, X509 **signing_cert, struct hilt_err *e)
{
    if (!sg || !sg->issuer || !sg->key)
        return hilt_err_set(e, HILT_E_USAGE, 0,
                            "OCSP signer needs an issuer certificate and a key");
    *signing_cert = sg->responder ? sg->responder : sg->issuer;
    /* §4.2.2.2: a delegated responder is issued directly by the CA and
     * carries id-kp-OCSPSigning; otherwise clients reject the answer. */
    if (sg->responder) {
        if (X509_check_issued(sg->issuer, sg->responder) != X509_V_OK)
            return hilt_err_set(
                e, HILT_E_USAGE, 0,
                "OCSP responder certificate is not issued by the CA it answers for");
        if (!(X509_get_extension_flags(sg->responder) & EXFLAG_XKUSAGE) ||
            !(X509_get_extended_key_usage(sg->responder) & XKU_OCSP_SIGN))
            return hilt_err_set(e, HILT_E_USAGE, 0,
                                "OCSP responder certificate lacks id-kp-OCSPSigning");
    }
    if (X509_check_private_key(*signing_cert, sg->key) != 1) {
        ERR_clear_error();
        return hilt_err_set(e, HILT_E_USAGE, 0, "OCSP signing key does not match its certificate");
    }
    return 0;
}

int hilt_ocsp_resp_build(const struct hilt_ocsp_single *s, size_t n,
                         const struct hilt_ocsp_signer *signer, const struct hilt_ocsp_req *req,
                         time_t produced_at, struct hilt_buf *out, struct hilt_err *e)
{
    OCSP_BASICRESP *bs = NULL;
    OCSP_RESPONSE *resp = NULL;
    ASN1_TIME *thisupd = NULL, *nextupd = NULL, *revtime = NULL;
    X509 *signing_cert = NULL;
    int rc = -1;

    if (check_signer(signer, &signing_cert, e) < 0) return -1;
    if (n == 0 || n > HILT_OCSP_IDS_MAX)
        return hilt_err_set(e, HILT_E_USAGE, 0, "an OCSP response holds 1 to %d entries",
                            HILT_OCSP_IDS_MAX);
    if (!(bs = OCSP_BASICRESP_new())) goto ossl;
    for (size_t i = 0; i < n; i++) {
        if (!hilt_ocsp_id_issued_by(s[i].id, signer->issuer)) {
            hilt_err_set(e, HILT_E_USAGE, 0, "OCSP entry %zu is not for this CA's certificates", i);
            goto out;
        }
        if (!(thisupd = ASN1_GENERALIZEDTIME_set(NULL, s[i].this_update))) goto ossl;
        if (s[i].next_update && !(nextupd = ASN1_GENERALIZEDTIME_set(NULL, s[i].next_update)))
            goto ossl;
        int reason = OCSP_REVOKED_STATUS_NOSTATUS;
        if (s[i].status == HILT_OCSP_REVOKED) {
            if (!(revtime = ASN1_GENERALIZEDTIME_set(NULL, s[i].revoked_at))) goto ossl;
            if (s[i].reason >= 0) reason = s[i].reason;
        }
        if (!OCSP_basic_add1_status(bs, s[i].id, (int)s[i].status, reason, revtime, thisupd,
                                    nextupd))
            goto ossl;
        ASN1_TIME_free(thisupd);
        ASN1_TIME_free(nextupd);
        ASN1_TIME_free(revtime);
        thisupd = nextupd = revtime = NULL;
    }
    if (req && req->req && req->has_nonce && OCSP_copy_nonce(bs, req->req) <= 0) goto ossl;

    /* producedAt follows the injectable clock: set it here and ask
     * OCSP_basic_sign not to overwrite it with the system time. The field is
     * allocated by OCSP_BASICRESP_new; the getter is merely const-qualified. */
    ASN1_GENERALIZEDTIME *pat = (ASN1_GENERALIZEDTIME *)OCSP_resp_get0_produced_at(bs);
    if (!pat || !ASN1_GENERALIZEDTIME_set(pat, produced_at)) goto ossl;

    const EVP_MD *md = NULL;
    if (!EVP_PKEY_is_a(signer->key, "ED25519") && !EVP_PKEY_is_a(signer->key, "ED448")) {
        md = EVP_get_digestbyname(signer->digest ? signer->digest : "sha256");
        if (!md) {
            hilt_err_set(e, HILT_E_USAGE, 0, "unknown digest '%s'", signer->digest);
            goto out;
        }
    }
    /* Without OCSP_NOCERTS the signing certificate goes into the response's
     * certs, so clients can verify a delegated responder. */
    if (!OCSP_basic_sign(bs, signing_cert, signer->key, md, NULL, OCSP_NOTIME)) goto ossl;
    if (!(resp = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs))) goto ossl;
    rc = encode_resp(resp, out, e);
    goto out;
ossl:
    hilt_err_ossl(e, HILT_E_RUNTIME, "cannot build OCSP response");
out:
    ASN1_TIME_free(thisupd);
    ASN1_TIME_free(nextupd);
    ASN1_TIME_free(revtime);
    OCSP_RESPONSE_free(resp);
    OCSP_BASICRESP_free(bs);
    return rc;
}

int hilt_ocsp_resp_error(int status, struct hilt_buf *out, struct hilt_err *e)
{
    if (status <= OCSP_RESPONSE_STATUS_SUCCESSFUL || status > OCSP_RESPONSE_STATUS_UNAUTHORIZED ||
        status == 4 /* unused in RFC 6960 */)
        return hilt_err_set(e, HILT_E_USAGE, 0, "%d is not an OCSP error status", status);
    OCSP_RESPONSE *resp = OCSP_response_create(status, NULL);
    if (!resp) return hilt_err_ossl(e, HILT_E_RUNTIME, "cannot build OCSP error response");
    int rc = encode_resp(resp, out, e);
    OCSP_RESPONSE_free(resp);
    return rc;
}

const char *hilt_ocsp_resp_status_name(int status)
{
    switch (status) {
    case OCSP_RESPONSE_STATUS_SUCCESSFUL:
        return "successful";
    case OCSP_RESPONSE_STATUS_MALFORMEDREQUEST:
        return "malformedRequest";
    case OCSP_RESPONSE_STATUS_INTERNALERROR:
        return "internalError";
    case OCSP_RESPONSE_STATUS_TRYLATER:
        return "tryLater";
    case OCSP_RESPONSE_STATUS_SIGREQUIRED:
        return "sigRequired";
    case OCSP_RESPONSE_STATUS_UNAUTHORIZED:
        return "unauthorized";
    }
    return "unknown";
}
