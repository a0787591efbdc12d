/* client.h - one TLS client handshake under a profile, and everything the peer revealed.
 *
 * hilt_tls_handshake() connects to an already-resolved address, runs a
 * non-blocking handshake against a deadline, and records what a diagnosis
 * needs whether or not the handshake completes: alerts in both directions,
 * the handshake messages seen (ServerHello, CertificateRequest), the first
 * raw bytes the peer sent (to recognise non-TLS peers), the OpenSSL reason,
 * the negotiated parameters and the chain exactly as sent. Certificate
 * verification is deliberately off (VERIFY_NONE): hilt verifies the chain
 * itself afterwards, so it can report every problem rather than the first.
 *
 * After a completed handshake the caller's hook may ask for an HTTP request
 * (the probe's HEAD / for the peer's Date header), or for a short wait for a
 * post-handshake alert (TLS 1.3 client-certificate rejection arrives after
 * the client's Finished).
 *
 * Ownership: the result owns `chain`, `ocsp` and `http`; release with
 * hilt_tls_result_free(). Options are borrowed for the call.
 */
#ifndef HILT_TLS_CLIENT_H
#define HILT_TLS_CLIENT_H

#include "core/buf.h"
#include "core/net.h"
#include "tls/profile.h"

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct hilt_err;
struct hilt_tls_result;

enum {
    HILT_TLS_AFTER_NOTHING = 0,
    HILT_TLS_AFTER_HTTP = 1 << 0,  /* send opts->http_request, read the response */
    HILT_TLS_AFTER_ALERT = 1 << 1, /* wait briefly for a post-handshake alert */
};

/* Called once the handshake completed, with the chain and parameters filled
 * in; returns HILT_TLS_AFTER_* flags. */
typedef int (*hilt_tls_after_fn)(void *arg, const struct hilt_tls_result *r);

struct hilt_tls_opts {
    const struct hilt_client_profile *profile;
    int min_version, max_version; /* 0: the profile's */
    const char *cipher_list;      /* NULL: the profile's */
    const char *ciphersuites;     /* NULL: the profile's */
    const char *groups;           /* NULL: the profile's */
    const char *sni;              /* NULL: send no SNI */
    const char *alpn;             /* comma-separated, NULL: none */
    X509 *client_cert;            /* optional client certificate… */
    EVP_PKEY *client_key;         /* …and its key */
    STACK_OF(X509) *client_chain; /* optional intermediates to send */
    int request_ocsp;             /* send status_request */
    int timeout_ms;               /* connect, and separately the handshake */
    const char *http_request;     /* for HILT_TLS_AFTER_HTTP */
    int after_ms;                 /* budget for the after-handshake step */
    hilt_tls_after_fn after;
    void *after_arg;
};

#define HILT_TLS_FIRST_BYTES 64

struct hilt_tls_result {
    /* transport */
    int connected;                /* TCP connection established */
    enum hilt_net_status net;     /* why the transport failed, or HILT_NET_OK */
    char net_msg[1024];
    char peer_addr[64];
    /* handshake */
    int completed;
    int timed_out;                /* the handshake deadline passed */
    int version;                  /* negotiated, or 0 */
    char cipher[64];              /* OpenSSL name */
    char cipher_iana[96];         /* IANA name */
    char group[32];               /* key exchange group, "" if none/unknown */
    char sigalg[48];              /* the peer's handshake signature, TLS 1.3 style name */
    char alpn[64];                /* negotiated protocol, "" if none */
    char tmp_key[32];             /* the server's ephemeral key, e.g. "dh-1024", "x25519" */
    int tmp_key_bits;
    int resumed;
    uint64_t connect_us;          /* TCP connect time */
    uint64_t handshake_us;        /* from ClientHello to Finished */
    /* what each side said */
    int alert_received;           /* description of the first alert from the peer, or -1 */
    int alert_received_level;
    int alert_sent;               /* description of the first alert we sent, or -1 */
    int post_alert;               /* alert from the peer after the handshake, or -1 */
    int post_ticket;              /* a NewSessionTicket arrived after the handshake */
    unsigned long ssl_reason;     /* ERR_GET_REASON of the first SSL-library error, or 0 */
    char ssl_error[256];          /* its text */
    int saw_server_hello;
    int saw_hello_retry;
    int saw_cert_request;
    int sent_client_cert;         /* a non-empty Certificate went out */
    int peer_eof;                 /* the peer closed the connection */
    int peer_reset;               /* the peer reset the connection */
    size_t bytes_received;
    uint8_t first_bytes[HILT_TLS_FIRST_BYTES];
    size_t first_len;
    /* what the peer sent */
    STACK_OF(X509) *chain;        /* as sent, leaf first; NULL before Certificate */
    unsigned char *ocsp;          /* stapled OCSP response (DER), or NULL */
    size_t ocsp_len;
    /* after the handshake */
    int http_status;              /* 0 when no (complete) HTTP response */
    char http_date[64];           /* the Date header, "" if none */
    uint64_t http_sent_us;        /* mono time the request went out (clock offset midpoint) */
    uint64_t http_recv_us;
};

/* Run one handshake. Returns 0 when the attempt ran (success or failure is in
 * r), -1 for a local problem (bad cipher string, out of memory) in e. */
int hilt_tls_handshake(const struct sockaddr *sa, socklen_t salen, const struct hilt_tls_opts *o,
                       struct hilt_tls_result *r, struct hilt_err *e);
void hilt_tls_result_free(struct hilt_tls_result *r);
void hilt_tls_result_init(struct hilt_tls_result *r);

/* The pieces of hilt_tls_handshake(), for callers with their own event loop
 * (the scanner): a context for the offer; binding an SSL to a connected fd
 * with hilt's instrumentation, SNI, ALPN, status_request and client
 * certificate; and recording the outcome once SSL_connect has finished
 * (success) or failed for good (err = SSL_get_error(), errno saved then). */
SSL_CTX *hilt_tls_client_ctx(const struct hilt_tls_opts *o, struct hilt_err *e);
int hilt_tls_client_bind(SSL *ssl, int fd, const struct hilt_tls_opts *o, struct hilt_tls_result *r,
                         struct hilt_err *e);
void hilt_tls_client_record_success(SSL *ssl, struct hilt_tls_result *r);
void hilt_tls_client_record_failure(SSL *ssl, int err, int saved_errno, struct hilt_tls_result *r);

/* Is this a comma-separated list of 1-255 byte protocol names (at most 512 bytes on the wire)? */
int hilt_tls_alpn_valid(const char *list);
/* TLS alert description name (RFC 8446 §6): 40 → "handshake_failure". */
const char *hilt_tls_alert_name(int desc);
/* Do these bytes start like a TLS (or SSLv2) record? */
int hilt_tls_looks_like_tls(const uint8_t *p, size_t n);
/* A printable, escaped excerpt of raw bytes for evidence ("SSH-2.0-Open…"). */
void hilt_bytes_excerpt(const uint8_t *p, size_t n, char *out, size_t cap);

#endif
