/* classify.h - what a server saw in a failed handshake → one catalogue code.
 *
 * The gateway records facts while a handshake runs (OpenSSL's reason, the
 * alerts each side sent, the first bytes, the client's offer) and asks this
 * module for the cause once it failed. The rules are one table walked in
 * order (docs/telemetry.md prints it); the codes are those of
 * diag/catalogue.h, so the gateway, the probe and the scanner name causes
 * alike. Nothing here allocates; facts and profile are borrowed.
 */
#ifndef HILT_TELEMETRY_CLASSIFY_H
#define HILT_TELEMETRY_CLASSIFY_H

#include "diag/catalogue.h"

#include <stddef.h>
#include <stdint.h>

struct hilt_client_hello;
struct hilt_profile;

enum {
    HS_F_TIMEOUT = 1 << 0,          /* the handshake deadline passed */
    HS_F_RESET = 1 << 1,            /* ECONNRESET/EPIPE from the client */
    HS_F_EOF = 1 << 2,              /* the client closed without an alert */
    HS_F_SNI_REFUSED = 1 << 3,      /* we refused the SNI (no route, strict_sni) */
    HS_F_CERT_REQUESTED = 1 << 4,   /* we asked for a client certificate */
    HS_F_CERT_SENT = 1 << 5,        /* the client sent a non-empty Certificate */
    HS_F_CERT_REJECTED = 1 << 6,    /* verification or the subject rules refused it */
    HS_F_ALPN_REFUSED = 1 << 7,     /* no ALPN overlap */
    HS_F_OUR_CERT_EXPIRED = 1 << 8, /* the certificate we served is outside its validity */
    HS_F_SNI_NOT_IN_CERT = 1 << 9,  /* the SNI is not among our certificate's names */
};

struct hs_facts {
    unsigned flags;       /* HS_F_* */
    unsigned long reason; /* ERR_GET_REASON of the first SSL error, or 0 */
    int lib;              /* ERR_GET_LIB of it */
    int alert_sent;       /* description we sent, or -1 */
    int alert_received;   /* description the client sent, or -1 */
    const uint8_t *first; /* first bytes from the client, or NULL */
    size_t nfirst;
    const struct hilt_client_hello *hello; /* parsed offer, or NULL */
    const struct hilt_profile *profile;    /* the listener's profile, or NULL */
};

/* The cause of a failed handshake. */
enum hilt_code hs_classify(const struct hs_facts *f);

/* Do these first client bytes start a TLS record (or an SSLv2 ClientHello)? */
int hs_bytes_look_tls(const uint8_t *p, size_t n);

#endif
