/* job.h - one non-blocking scan connection on a libevent loop.
 *
 * A job connects to an address, runs the STARTTLS dialogue if one is set,
 * then either sends a raw ClientHello and reads until the server's answer is
 * decisive (hilt_server_flight_parse), or runs an OpenSSL handshake (built
 * with tls/client.c's pieces, so the result is a hilt_tls_result). Each stage
 * has the job's timeout. When it ends, the job's done() runs on the loop.
 *
 * Ownership: the caller owns the struct and its inputs; the job owns its
 * socket and SSL until done() returns. hilt_scan_job_clear() frees results
 * (flight certificates, TLS result, session) and resets it for reuse.
 */
#ifndef HILT_SCAN_JOB_H
#define HILT_SCAN_JOB_H

#include "core/buf.h"
#include "core/net.h"
#include "scan/starttls.h"
#include "tls/client.h"
#include "tls/hello.h"

#include <event2/event.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

enum hilt_job_kind { HILT_JOB_RAW, HILT_JOB_SSL };

enum hilt_job_status {
    HILT_JOB_OK,             /* raw: a decisive flight; ssl: the handshake ran (see tls) */
    HILT_JOB_CONNECT_FAILED, /* see net */
    HILT_JOB_STARTTLS_FAILED,
    HILT_JOB_TIMEOUT, /* no decisive answer in time */
    HILT_JOB_CLOSED,  /* the peer closed or reset before a decisive answer */
    HILT_JOB_LOCAL_ERROR,
};

struct hilt_scan_job;
typedef void (*hilt_job_done_fn)(struct hilt_scan_job *j, void *arg);

struct hilt_scan_env {
    struct event_base *base;
    int timeout_ms;
    const struct hilt_starttls *starttls; /* NULL: TLS from the first byte */
    const char *host;                     /* for STARTTLS texts (xmpp 'to') */
};

struct hilt_scan_job {
    /* inputs */
    enum hilt_job_kind kind;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    struct hilt_buf hello;    /* raw: the ClientHello record(s) to send */
    int want_rest;         /* raw: read up to ServerHelloDone */
    /* raw: decide when the answer is complete instead of the flight parser
     * (1 done, 0 read more); the bytes stay in `in` for done(). */
    int (*judge)(void *ctx, const uint8_t *p, size_t n, int eof);
    void *judge_ctx;
    SSL_CTX *ctx;             /* ssl: the caller's context (shared by jobs) */
    struct hilt_tls_opts tls; /* ssl: SNI, ALPN, status_request, … (profile unused) */
    SSL_SESSION *resume;      /* ssl: offer this session */
    int want_session;         /* ssl: wait briefly for a TLS 1.3 ticket, keep the session */
    hilt_job_done_fn done;
    void *arg;
    int tag;   /* the caller's */
    long tag2; /* the caller's */
    /* results */
    enum hilt_job_status status;
    enum hilt_net_status net;
    char detail[300];
    struct hilt_server_flight flight; /* raw */
    int peer_reset;
    struct hilt_tls_result tlsr; /* ssl */
    SSL_SESSION *session;        /* ssl: the session after success (owned; freed by clear) */
    /* private */
    struct hilt_scan_env *env;
    int fd;
    int state;
    size_t step;
    size_t sent;
    struct hilt_buf in;
    struct hilt_buf out;
    SSL *ssl;
    struct event *ev;
    struct event *tmo;
    uint64_t t0;
};

void hilt_scan_job_init(struct hilt_scan_job *j);
/* Start; done() is called exactly once, later, from the loop. */
void hilt_scan_job_start(struct hilt_scan_env *env, struct hilt_scan_job *j);
void hilt_scan_job_clear(struct hilt_scan_job *j);
const char *hilt_job_status_name(enum hilt_job_status s);

#endif
