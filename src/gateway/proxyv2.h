/* proxyv2.h - PROXY protocol version 2 with TLS TLVs (haproxy's proxy-protocol.txt §2.2).
 *
 * The gateway sends this header first on every backend connection of a
 * listener with `proxy_protocol: v2`, so the backend learns the client's
 * address and its TLS identity: PP2_TYPE_ALPN, PP2_TYPE_AUTHORITY (the SNI),
 * PP2_TYPE_SSL with the client flags, the verify result, and the sub-TLVs
 * VERSION, CN, CIPHER, SIG_ALG, KEY_ALG; plus two hilt TLVs in the custom
 * range: 0xE0 the client certificate's full subject DN, 0xE1 the JA4.
 * The parser exists for tests and for backends written against hilt.
 *
 * Ownership: plain memory; the encoder appends to a caller's hilt_buf.
 */
#ifndef HILT_GATEWAY_PROXYV2_H
#define HILT_GATEWAY_PROXYV2_H

#include "core/buf.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

enum {
    PP2_TYPE_ALPN = 0x01,
    PP2_TYPE_AUTHORITY = 0x02,
    PP2_TYPE_SSL = 0x20,
    PP2_SUBTYPE_SSL_VERSION = 0x21,
    PP2_SUBTYPE_SSL_CN = 0x22,
    PP2_SUBTYPE_SSL_CIPHER = 0x23,
    PP2_SUBTYPE_SSL_SIG_ALG = 0x24,
    PP2_SUBTYPE_SSL_KEY_ALG = 0x25,
    PP2_TYPE_HILT_SUBJECT = 0xE0,
    PP2_TYPE_HILT_JA4 = 0xE1,
};

enum { PP2_CLIENT_SSL = 0x01, PP2_CLIENT_CERT_CONN = 0x02, PP2_CLIENT_CERT_SESS = 0x04 };

#define PP2_MAX_HEADER 4096

struct pp2_info {
    struct sockaddr_storage src, dst;
    const char *alpn, *sni; /* NULL: omitted */
    int ssl;                /* the client spoke TLS */
    int client_cert;        /* a client certificate was presented on this connection */
    uint32_t verify;        /* 0 = the certificate verified (X509_V_OK) */
    const char *version, *cn, *cipher, *sig_alg, *key_alg, *subject, *ja4;
};

/* Append a PROXY v2 header for `in` to out. */
int pp2_encode(const struct pp2_info *in, struct hilt_buf *out);

struct pp2_parsed {
    size_t header_len;     /* bytes the header occupies */
    int local;             /* LOCAL command (health checks) */
    int family;            /* AF_INET, AF_INET6, or 0 (UNSPEC) */
    char src[64], dst[64]; /* "addr:port" */
    char alpn[256], sni[256], version[32], cn[256], cipher[128], sig_alg[64], key_alg[64];
    char subject[512], ja4[64];
    int has_ssl;
    uint8_t client;
    uint32_t verify;
};

/* Parse a header from p[0..n). Returns 1 complete, 0 need more bytes, -1 not
 * a valid PROXY v2 header. */
int pp2_parse(const uint8_t *p, size_t n, struct pp2_parsed *out);

#endif
