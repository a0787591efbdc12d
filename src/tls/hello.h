/* hello.h - TLS hellos on the wire, without OpenSSL's state machine.
 *
 * OpenSSL 3 will not offer SSLv3, RC4, EXPORT or NULL suites, yet servers
 * still accept them and a scanner must see that. This module builds any
 * ClientHello from code points (RFC 8446 §4.1.2, RFC 5246 §7.4.1.2), parses
 * what a server answers up to ServerHelloDone (ServerHello, HelloRetryRequest,
 * alerts, and in TLS <= 1.2 the plaintext Certificate, CertificateStatus and
 * ServerKeyExchange), and parses ClientHellos for JA4 fingerprints (gateway
 * events, observed clients). All parsing goes through bounds-checked cursors;
 * every parser here has a libFuzzer target.
 *
 * Ownership: hilt_server_flight holds pointers into the buffer it parsed
 * (certificate DER), valid while that buffer is; nothing to free.
 */
#ifndef HILT_TLS_HELLO_H
#define HILT_TLS_HELLO_H

#include "core/buf.h"

#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>

struct hilt_err;

/* Extension switches for the builder. */
enum {
    HILT_CH_STATUS_REQUEST = 1 << 0,   /* status_request (OCSP) */
    HILT_CH_RENEG_INFO = 1 << 1,       /* renegotiation_info extension, empty */
    HILT_CH_SCSV_RENEG = 1 << 2,       /* TLS_EMPTY_RENEGOTIATION_INFO_SCSV cipher */
    HILT_CH_FALLBACK_SCSV = 1 << 3,    /* TLS_FALLBACK_SCSV cipher (RFC 7507) */
    HILT_CH_SESSION_TICKET = 1 << 4,   /* session_ticket, empty */
    HILT_CH_EMS = 1 << 5,              /* extended_master_secret */
    HILT_CH_ETM = 1 << 6,              /* encrypt_then_mac */
    HILT_CH_EC_POINT_FORMATS = 1 << 7, /* ec_point_formats: uncompressed */
    HILT_CH_PSK_MODES = 1 << 8,        /* psk_key_exchange_modes: psk_dhe_ke */
    HILT_CH_SCT = 1 << 9,              /* signed_certificate_timestamp */
    HILT_CH_GREASE = 1 << 10,          /* GREASE values (RFC 8701) in ciphers, groups, extensions */
    HILT_CH_COMPRESSION = 1 << 11,     /* offer DEFLATE compression (method 1) too */
    HILT_CH_SESSION_ID = 1 << 12,      /* a random 32-byte legacy_session_id */
};

struct hilt_ch_spec {
    uint16_t record_version; /* 0: 0x0301 (what most clients put in the first record) */
    uint16_t client_version; /* legacy_version: 0x0300 SSLv3 … 0x0303 TLS 1.2 (and for 1.3) */
    const uint16_t *ciphers;
    size_t nciphers;
    const uint16_t *versions; /* supported_versions (TLS 1.3 capable); NULL: omit */
    size_t nversions;
    const uint16_t *groups; /* supported_groups; NULL: omit */
    size_t ngroups;
    const uint16_t *key_shares; /* groups to send key shares for; NULL: omit key_share */
    size_t nkey_shares;
    const uint16_t *sigalgs; /* signature_algorithms; NULL: omit */
    size_t nsigalgs;
    const char *sni;  /* server_name; NULL: omit */
    const char *alpn; /* comma-separated; NULL: omit */
    unsigned flags;   /* HILT_CH_* */
};

/* One TLS record holding the ClientHello, appended to out. */
int hilt_client_hello_build(const struct hilt_ch_spec *s, struct hilt_buf *out, struct hilt_err *e);

enum hilt_flight_kind {
    HILT_FLIGHT_NONE = 0,  /* nothing decisive yet */
    HILT_FLIGHT_HELLO,     /* a ServerHello (or HelloRetryRequest) */
    HILT_FLIGHT_ALERT,     /* an alert before any ServerHello */
    HILT_FLIGHT_SSLV2,     /* an SSLv2 SERVER-HELLO */
    HILT_FLIGHT_NOT_TLS,   /* bytes that are not a TLS record */
    HILT_FLIGHT_MALFORMED, /* TLS records, but broken */
};

#define HILT_FLIGHT_MAX_EXTS 48
#define HILT_FLIGHT_MAX_CERTS 10

struct hilt_server_flight {
    enum hilt_flight_kind kind;
    int alert_level, alert_desc;
    int hrr;                  /* HelloRetryRequest (RFC 8446 §4.1.4) */
    uint16_t legacy_version;  /* ServerHello.legacy_version */
    uint16_t version;         /* negotiated: supported_versions if present */
    uint16_t cipher;
    uint8_t compression;
    size_t session_id_len;
    uint16_t key_share_group; /* TLS 1.3 ServerHello key_share / HRR selected_group */
    char alpn[256];
    uint16_t exts[HILT_FLIGHT_MAX_EXTS]; /* extensions in the ServerHello, in order */
    size_t nexts;
    int reneg_info;   /* renegotiation_info present (secure renegotiation, RFC 5746) */
    int ems, etm, ticket_ext, status_request_ext;
    /* TLS <= 1.2 plaintext messages after the ServerHello */
    /* The certificates as DER slices of the parsed buffer (valid while it is);
     * decode one with hilt_server_flight_cert(). Decoding lazily keeps a scan
     * from paying for certificates it has already seen. */
    const uint8_t *cert_der[HILT_FLIGHT_MAX_CERTS];
    size_t cert_len[HILT_FLIGHT_MAX_CERTS];
    int ncerts;
    int cert_status;     /* CertificateStatus (a stapled OCSP response) */
    int have_ske;
    uint16_t ske_curve;  /* ECDHE named curve */
    int ske_dh_bits;     /* DHE prime size */
    uint16_t ske_sigalg; /* TLS 1.2: the signature scheme of the ServerKeyExchange, or 0 */
    int done;            /* ServerHelloDone seen */
    int ccs_or_encrypted; /* TLS 1.3: the rest is encrypted */
};

/* Parse what the server sent so far (p[0..n), from its first byte).
 * Returns 1 when decisive: a ServerHello (and, with want_rest, everything up
 * to ServerHelloDone or the first encrypted record), an alert, SSLv2, not TLS
 * or malformed; 0 when more bytes are needed. Reparses from the start on each
 * call; input beyond 64 KiB is malformed. */
int hilt_server_flight_parse(const uint8_t *p, size_t n, int want_rest,
                             struct hilt_server_flight *out);
void hilt_server_flight_free(struct hilt_server_flight *f);
/* Certificate i of the flight, decoded (the caller frees it), or NULL. */
X509 *hilt_server_flight_cert(const struct hilt_server_flight *f, int i);

#define HILT_CH_MAX_CIPHERS 256
#define HILT_CH_MAX_EXTS 64
#define HILT_CH_MAX_LIST 64

struct hilt_client_hello {
    uint16_t legacy_version;
    uint16_t max_version; /* highest non-GREASE supported_versions entry, else legacy */
    uint16_t ciphers[HILT_CH_MAX_CIPHERS]; /* wire order, GREASE removed */
    size_t nciphers;
    uint16_t exts[HILT_CH_MAX_EXTS]; /* wire order, GREASE removed */
    size_t nexts;
    uint16_t groups[HILT_CH_MAX_LIST];
    size_t ngroups;
    uint16_t sigalgs[HILT_CH_MAX_LIST];
    size_t nsigalgs;
    uint16_t versions[16];
    size_t nversions;
    char sni[256];
    int has_sni;
    uint8_t alpn_first[256]; /* the first ALPN protocol, raw bytes */
    size_t alpn_first_len;
    char alpn[512]; /* all ALPN protocols, comma-separated (printable only) */
    int grease;     /* the client sent GREASE values */
};

/* Parse a ClientHello from a TLS record stream (p starts at a record header)
 * or, with is_record = 0, from a handshake message (p starts at type 1). */
int hilt_client_hello_parse(const uint8_t *p, size_t n, int is_record, struct hilt_client_hello *out);
/* JA4 (FoxIO): "t13d1516h2_8daaf6152771_d8a2da3f94cd". out needs 40 bytes. */
void hilt_ja4(const struct hilt_client_hello *ch, char out[40]);
/* The unhashed form (JA4_r), for debugging and tests. */
void hilt_ja4_raw(const struct hilt_client_hello *ch, char *out, size_t cap);
int hilt_is_grease(uint16_t v);

#endif
