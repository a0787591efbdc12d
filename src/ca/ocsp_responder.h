/* ocsp_responder.h - the CA's OCSP responder (RFC 6960, the RFC 5019 profile):
 * `hilt ocsp serve`. Answering costs no signature: a response for every
 * certificate of the CA is signed in advance (SHA-1 CertIDs, as RFC 5019
 * clients send), kept in a table by serial, and signed again before half
 * of its validity has passed; the store is polled for new certificates and
 * revocations, whose responses are signed at once. Requests the table
 * cannot answer as they are (SHA-256 CertIDs, several CertIDs, serials the
 * store does not know) are signed on demand, at a bounded rate.
 *
 * Responses are built directly in DER (like the minting fast path) and
 * signed in batches through the CA's signer - in `hilt ocsp serve` a signer
 * process, so the network-facing process never holds the CA key.
 *
 * Ownership: the responder borrows the CA (and its store), which must
 * outlive it; hilt_ocsp_responder_free() releases everything else.
 */
#ifndef HILT_CA_OCSP_RESPONDER_H
#define HILT_CA_OCSP_RESPONDER_H

#include "core/buf.h"

#include <stddef.h>
#include <stdint.h>

struct hilt_err;
struct hilt_ca;
struct hilt_ocsp_responder;

struct hilt_ocsp_responder_opts {
    int64_t validity;      /* nextUpdate - thisUpdate; 0 = 1 day */
    int64_t poll_interval; /* store polling; 0 = 5 s */
    size_t max_certs;      /* pre-signed responses kept; 0 = 1,000,000 */
    int on_demand_rate;    /* signatures per second for requests off the table; 0 = 500 */
};

struct hilt_ocsp_responder *hilt_ocsp_responder_new(struct hilt_ca *ca,
                                                    const struct hilt_ocsp_responder_opts *o,
                                                    struct hilt_err *e);
void hilt_ocsp_responder_free(struct hilt_ocsp_responder *r);

/* Load every unexpired certificate of the CA and sign its response
 * (startup). */
int hilt_ocsp_responder_load(struct hilt_ocsp_responder *r, int64_t now, struct hilt_err *e);
/* Pick up new certificates and revocations from the store. */
int hilt_ocsp_responder_poll(struct hilt_ocsp_responder *r, int64_t now, struct hilt_err *e);
/* Sign again up to `max` responses past half their validity (or never
 * signed). Returns how many were signed, -1 on error. */
int64_t hilt_ocsp_responder_refresh(struct hilt_ocsp_responder *r, int64_t now, size_t max,
                                    struct hilt_err *e);

struct hilt_ocsp_answer {
    int presigned;   /* answered from the table, no signature */
    int ocsp_status; /* OCSPResponseStatus: 0 successful, 1 malformed, 6 unauthorized, … */
    int cert_status; /* V_OCSP_CERTSTATUS_* of the first CertID, -1 when none */
    int64_t this_update, next_update; /* for HTTP caching headers (RFC 5019 §6) */
    char serial[64];
};
/* Answer one request: `get` = the last path segment of a GET (percent-
 * encoded base64, RFC 6960 A.1), else `der` is a POST body. The DER
 * OCSPResponse goes to out (reset first). Always returns 0 with something
 * to send (error responses included) unless out of memory. */
int hilt_ocsp_responder_answer(struct hilt_ocsp_responder *r, const uint8_t *der, size_t len,
                               const char *get, size_t get_len, int64_t now, struct hilt_buf *out,
                               struct hilt_ocsp_answer *info);

struct hilt_ocsp_stats {
    int64_t certs, presigned_answers, signed_answers, errors, signatures, refreshed;
    int64_t sign_failures, signer_restarts;
};
void hilt_ocsp_responder_stats(const struct hilt_ocsp_responder *r, struct hilt_ocsp_stats *s);

/* ---- serving over HTTP ------------------------------------------------------------ */
struct hilt_signer_proc_opts;
struct hilt_ocsp_serve_opts {
    const char *listen;                 /* ADDR:PORT ([v6]:port) */
    void (*ready)(int port, void *arg); /* called once listening (port 0 picks one) */
    void *ready_arg;
    /* When signing fails (the signer process died), start a new one with
     * these options, at most every 10 s; NULL: do not. Pre-signed answers
     * keep flowing meanwhile. */
    const struct hilt_signer_proc_opts *restart_signer;
};
/* Listen and answer until SIGINT/SIGTERM (returns 0) or a fault. */
int hilt_ocsp_serve(struct hilt_ocsp_responder *r, const struct hilt_ocsp_serve_opts *o,
                    struct hilt_err *e);

#endif
