/* simulate.h - client simulation against a live server: would this client
 * connect, with what, or why not - trust included.
 *
 * For each client profile (policy/clients.h) hilt sends that client's own
 * ClientHello (its versions, suites in its order, groups, key shares,
 * signature schemes, ALPN, extensions, SNI when it sends SNI) and judges the
 * server's answer as that client would: the version, cipher and group the
 * server picked, or the alert and the catalogue code it means. Unlike SSL
 * Labs' simulation, the certificate chain is judged too, by the client's own
 * rules: key sizes below its floor (weak_key), SHA-1 where it refuses SHA-1
 * (weak_signature), a missing intermediate for a client that does not fetch
 * AIA (chain_incomplete), expiry, the host name, and trust (untrusted_root,
 * self_signed). In TLS <= 1.2 the chain is read from the server's own flight;
 * TLS 1.3 encrypts it, so the caller passes the chain it fetched once with a
 * full handshake, and the result says which chain was judged.
 *
 * The core has no I/O, so an event-driven scanner can drive many clients over
 * non-blocking sockets:
 *     hilt_sim_hello(client, target, &out)            bytes to send
 *     ... read ...
 *     hilt_sim_judge(client, target, buf, n, eof, &r) 0: read more; 1: r is final
 *     hilt_sim_fail(client, code, reason, &r)         connect error / timeout
 * hilt_sim_run() is the blocking form of the same (one client, one socket), and
 * hilt_sim_fetch_chain() / hilt_sim_fetch_aia() do the two fetches a scanner
 * does once per target.
 *
 * One trust store stands in for every client's own (each result names the
 * client's trust-store family); see docs/clients.md.
 *
 * Ownership: the target's store and stacks are borrowed. Results are plain
 * memory. Stacks returned by the fetch helpers are the caller's
 * (sk_X509_pop_free(s, X509_free)).
 */
#ifndef HILT_SCAN_SIMULATE_H
#define HILT_SCAN_SIMULATE_H

#include "core/buf.h"
#include "diag/catalogue.h"
#include "policy/clients.h"

#include <jansson.h>
#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct hilt_err;

struct hilt_sim_target {
    const char *host; /* the name clients connect to: their SNI (not for IP literals) and the
                         host-name check; NULL skips the check and sends no SNI */
    X509_STORE
        *store; /* trust anchors standing in for every client's store; NULL: no trust check */
    int private_anchors;    /* the store holds private CAs (--ca-file), so rules that refuse SHA-1
                               only under public roots do not apply */
    STACK_OF(X509) * chain; /* chain from the scanner's own handshake, leaf first; judged for
                               TLS 1.3 answers (encrypted certificates). NULL: not judged there */
    STACK_OF(X509) * aia;   /* issuers fetched from caIssuers URLs (hilt_sim_fetch_aia), or NULL */
    int aia_fetched;        /* 1 when the fetch was attempted, even if it found nothing */
    time_t now;             /* 0: hilt_now() */
};

enum hilt_sim_chain {
    HILT_SIM_CHAIN_NONE = 0,  /* no certificate judged */
    HILT_SIM_CHAIN_HANDSHAKE, /* read from this client's own handshake (TLS <= 1.2) */
    HILT_SIM_CHAIN_SCANNER,   /* the chain the caller fetched (TLS 1.3) */
};

struct hilt_sim_result {
    char client[64]; /* profile id */
    char label[160]; /* "Android 4.4.2" */
    int connects;
    uint16_t version;    /* wire value the server chose, 0 when none */
    uint16_t cipher;     /* 0 when none */
    uint16_t group;      /* key-exchange group, 0 when none or unknown */
    int dh_bits;         /* DHE: the server's prime size */
    int hrr;             /* TLS 1.3: the server asked for another key share first */
    enum hilt_code code; /* why not; meaningful when !connects */
    char reason[800];
    enum hilt_sim_chain chain;
};

/* The ClientHello this client sends to t->host, appended to out (one record). */
int hilt_sim_hello(const struct hilt_client *c, const struct hilt_sim_target *t,
                   struct hilt_buf *out, struct hilt_err *e);
/* Judge what the server sent so far (p[0..n) from its first byte; eof when
 * the connection closed). Returns 0 when more bytes are needed (never with
 * eof), 1 when r holds the verdict. No I/O; reparses from the start. */
int hilt_sim_judge(const struct hilt_client *c, const struct hilt_sim_target *t, const uint8_t *p,
                   size_t n, int eof, struct hilt_sim_result *r);
/* A verdict for transport failures the caller saw (connect_refused,
 * connect_timeout, handshake_timeout, connection_reset, dns_failed). */
void hilt_sim_fail(const struct hilt_client *c, enum hilt_code code, const char *reason,
                   struct hilt_sim_result *r);
/* {client, name, connects, version, cipher, cipher_code, group, code, reason, chain}:
 * IANA names; code and reason null when the client connects. */
json_t *hilt_sim_result_json(const struct hilt_sim_result *r);

/* Blocking: connect to host:port, send the hello, read the answer within
 * timeout_ms, judge. Returns 0 with r filled (transport failures included);
 * -1 only for a local fault in e. */
int hilt_sim_run(const struct hilt_client *c, const struct hilt_sim_target *t, const char *host,
                 uint16_t port, int timeout_ms, struct hilt_sim_result *r, struct hilt_err *e);
/* The chain the server sends, from one full OpenSSL handshake (any version,
 * security level 0, no verification), or NULL with e set. */
STACK_OF(X509) * hilt_sim_fetch_chain(const char *host, uint16_t port, const char *sni,
                                      int timeout_ms, struct hilt_err *e);
/* Issuers missing from `chain`, fetched over plain HTTP from the caIssuers
 * URLs of its certificates (what browsers do), until the chain reaches a
 * certificate whose issuer is in `store` or nothing more can be fetched.
 * Returns a (possibly empty) stack; NULL only when out of memory. */
STACK_OF(X509) * hilt_sim_fetch_aia(STACK_OF(X509) * chain, X509_STORE *store, int timeout_ms);

#endif
