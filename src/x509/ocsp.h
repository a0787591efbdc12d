/* ocsp.h - the responder side of OCSP (RFC 6960): requests in, signed answers out.
 *
 * Owned here: parsing an OCSPRequest (DER from a POST body, or the base64 /
 * percent-encoded GET form of RFC 6960 Appendix A.1) into its CertIDs, with
 * hard size limits; matching a CertID against an issuing CA; building and
 * signing a BasicOCSPResponse (§4.2.1) with good / revoked / unknown entries,
 * signed by the issuing CA itself or by a delegated responder certificate that
 * the CA issued with id-kp-OCSPSigning (§4.2.2.2); and the unsigned error
 * responses (malformedRequest, unauthorized, …). The lab's responder uses it
 * today; the trust plane's CA builds its OCSP service on it later.
 *
 * Time comes from the caller (normally hilt_now()), so producedAt, thisUpdate
 * and nextUpdate follow the injectable clock.
 *
 * Ownership: struct hilt_ocsp_req owns its OCSP_REQUEST; free it with
 * hilt_ocsp_req_free(). CertIDs returned by hilt_ocsp_req_id() are borrowed
 * from the request. Signer certificates and keys are borrowed for the call.
 * Encoded responses are appended to a caller-owned struct hilt_buf.
 */
#ifndef HILT_X509_OCSP_H
#define HILT_X509_OCSP_H

#include "core/buf.h"

#include <openssl/ocsp.h>
#include <openssl/x509.h>
#include <stddef.h>
#include <time.h>

struct hilt_err;

/* A request is a few hundred bytes; a signed one with certificates a few KiB. */
#define HILT_OCSP_REQ_MAX 16384
/* CertIDs in one request (RFC 6960 allows a list; clients send one). */
#define HILT_OCSP_IDS_MAX 32
/* A response carrying HILT_OCSP_IDS_MAX entries and a certificate fits. */
#define HILT_OCSP_RESP_MAX 65536

struct hilt_ocsp_req {
    OCSP_REQUEST *req; /* owned */
    size_t n;          /* number of CertIDs (1 .. HILT_OCSP_IDS_MAX) */
    int has_nonce;     /* the request carries a nonce extension (echoed back) */
};

/* Parse one DER OCSPRequest. Input errors (empty, over the limit, not DER,
 * trailing bytes, no or too many CertIDs) are HILT_E_INPUT; a responder
 * answers them with malformedRequest. */
int hilt_ocsp_req_parse(const void *der, size_t len, struct hilt_ocsp_req *out, struct hilt_err *e);
/* Parse the GET form: `enc` is the last path segment, percent-encoded base64
 * of the DER (standard or URL-safe alphabet, padding optional). */
int hilt_ocsp_req_parse_get(const char *enc, size_t len, struct hilt_ocsp_req *out,
                            struct hilt_err *e);
OCSP_CERTID *hilt_ocsp_req_id(const struct hilt_ocsp_req *r, size_t i);
void hilt_ocsp_req_free(struct hilt_ocsp_req *r);

/* 1 when `id` names a certificate issued by `issuer` (issuerNameHash and
 * issuerKeyHash recomputed with the id's hash algorithm), else 0. */
int hilt_ocsp_id_issued_by(OCSP_CERTID *id, X509 *issuer);
/* 1 when the id's serial equals the certificate's serial, else 0. */
int hilt_ocsp_id_serial_is(OCSP_CERTID *id, X509 *cert);
/* The id's serial in lowercase hex (no colons), for logs. */
void hilt_ocsp_id_serial_hex(OCSP_CERTID *id, char *out, size_t cap);

enum hilt_ocsp_status {
    HILT_OCSP_GOOD = V_OCSP_CERTSTATUS_GOOD,
    HILT_OCSP_REVOKED = V_OCSP_CERTSTATUS_REVOKED,
    HILT_OCSP_UNKNOWN = V_OCSP_CERTSTATUS_UNKNOWN,
};

/* One SingleResponse (RFC 6960 §4.2.1). */
struct hilt_ocsp_single {
    OCSP_CERTID *id; /* borrowed; copied into the response */
    enum hilt_ocsp_status status;
    time_t revoked_at; /* for HILT_OCSP_REVOKED */
    int reason;        /* CRLReason (OCSP_REVOKED_STATUS_*), or -1 for none */
    time_t this_update;
    time_t next_update; /* 0: omit nextUpdate ("newer information is always available") */
};

struct hilt_ocsp_signer {
    X509 *issuer;       /* the CA whose certificates are answered for (required) */
    X509 *responder;    /* NULL: the CA signs; else a delegated responder cert issued by
                         * `issuer` with id-kp-OCSPSigning */
    EVP_PKEY *key;      /* private key of `responder`, or of `issuer` when responder is NULL */
    const char *digest; /* "sha256" when NULL; Ed25519 ignores it */
};

/* Build, sign and DER-encode a successful OCSPResponse holding one
 * SingleResponse per entry of `s`, appended to `out`. When `req` is given and
 * carries a nonce, the nonce is echoed (RFC 8954). The signing certificate is
 * included in the response's certs so that clients can verify a delegated
 * responder. Every entry must be for `signer->issuer` (HILT_E_USAGE otherwise). */
int hilt_ocsp_resp_build(const struct hilt_ocsp_single *s, size_t n,
                         const struct hilt_ocsp_signer *signer, const struct hilt_ocsp_req *req,
                         time_t produced_at, struct hilt_buf *out, struct hilt_err *e);

/* An unsigned error response (§4.2.1): OCSP_RESPONSE_STATUS_MALFORMEDREQUEST,
 * _INTERNALERROR, _TRYLATER, _SIGREQUIRED or _UNAUTHORIZED, appended to out. */
int hilt_ocsp_resp_error(int status, struct hilt_buf *out, struct hilt_err *e);

/* Name of a response status ("successful", "malformedRequest", …). */
const char *hilt_ocsp_resp_status_name(int status);

#endif
