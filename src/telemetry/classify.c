/* classify.c - the table from a failed handshake's evidence to a catalogue code.
 *
 * Order matters and follows docs/telemetry.md: transport facts first (timeout,
 * bytes that are not TLS), then what we refused on purpose (SNI), then what the
 * client told us in an alert (its view of our certificate), then negotiation
 * (versions, suites, groups, ALPN, client certificates), then a bare reset.
 * The client's parsed offer is checked against the listener's profile where
 * OpenSSL's reason alone is ambiguous (no shared cipher vs no shared group).
 */
#include "telemetry/classify.h"

#include "policy/policy.h"
#include "tls/hello.h"

#include <openssl/ssl.h>
#include <openssl/tls1.h>

int hs_bytes_look_tls(const uint8_t *p, size_t n)
{
    if (n == 0) return 1;
    if (p[0] == SSL3_RT_HANDSHAKE || p[0] == SSL3_RT_ALERT) return n < 2 || p[1] == 3;
    /* SSLv2-format ClientHello: 2-byte header with the top bit set, type 1 */
    return n >= 3 && (p[0] & 0x80) && p[2] == 1;
}

/* Alerts a client sends about our certificate, as its cause. */
static const struct {
    int alert;
    enum hilt_code code;
} client_alerts[] = {
    {SSL_AD_UNKNOWN_CA, HILT_C_UNTRUSTED_ROOT},
    {SSL_AD_CERTIFICATE_EXPIRED, HILT_C_CERT_EXPIRED},
    {SSL_AD_CERTIFICATE_REVOKED, HILT_C_CERT_REVOKED},
    {SSL_AD_UNSUPPORTED_CERTIFICATE, HILT_C_BAD_KEY_USAGE},
    {SSL_AD_PROTOCOL_VERSION, HILT_C_PROTOCOL_VERSION_MISMATCH},
    {SSL_AD_UNRECOGNIZED_NAME, HILT_C_SNI_REQUIRED},
    {SSL_AD_NO_APPLICATION_PROTOCOL, HILT_C_ALPN_MISMATCH},
};

/* OpenSSL reasons of our own refusals. */
static const struct {
    unsigned long reason;
    enum hilt_code code;
} reasons[] = {
    {SSL_R_UNSUPPORTED_PROTOCOL, HILT_C_PROTOCOL_VERSION_MISMATCH},
    {SSL_R_VERSION_TOO_LOW, HILT_C_PROTOCOL_VERSION_MISMATCH},
    {SSL_R_WRONG_SSL_VERSION, HILT_C_PROTOCOL_VERSION_MISMATCH},
    {SSL_R_INAPPROPRIATE_FALLBACK, HILT_C_PROTOCOL_VERSION_MISMATCH},
    {SSL_R_NO_SHARED_CIPHER, HILT_C_NO_SHARED_CIPHER},
    {SSL_R_NO_SUITABLE_KEY_SHARE, HILT_C_NO_SHARED_GROUP},
    {SSL_R_NO_SHARED_GROUPS, HILT_C_NO_SHARED_GROUP},
    {SSL_R_NO_APPLICATION_PROTOCOL, HILT_C_ALPN_MISMATCH},
    {SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE, HILT_C_CLIENT_CERT_REQUIRED},
    {SSL_R_CERTIFICATE_VERIFY_FAILED, HILT_C_CLIENT_CERT_REJECTED},
};

/* Record-layer reasons that mean "these bytes are not a TLS record". */
static const unsigned long not_tls_reasons[] = {
    SSL_R_HTTP_REQUEST,      SSL_R_HTTPS_PROXY_REQUEST,    SSL_R_WRONG_VERSION_NUMBER,
    SSL_R_UNKNOWN_PROTOCOL,  SSL_R_PACKET_LENGTH_TOO_LONG, SSL_R_RECORD_LENGTH_MISMATCH,
    SSL_R_BAD_PACKET_LENGTH,
};

/* Default groups of OpenSSL 3.0 (a profile with no group list gets these). */
static const uint16_t ossl_default_groups[] = {0x001d, 0x0017, 0x001e, 0x0019, 0x0018,
                                               0x0100, 0x0101, 0x0102, 0x0103, 0x0104};

static int group_allowed(const struct hilt_profile *p, uint16_t g)
{
    if (p->groups.n) return hilt_profile_allows_group(p, g);
    for (size_t i = 0; i < sizeof(ossl_default_groups) / sizeof(ossl_default_groups[0]); i++)
        if (ossl_default_groups[i] == g) return 1;
    return 0;
}

static int offer_versions_overlap(const struct hilt_client_hello *h, const struct hilt_profile *p)
{
    enum hilt_tls_version v;
    if (h->nversions) {
        for (size_t i = 0; i < h->nversions; i++)
            if (!hilt_tls_version_from_wire(h->versions[i], &v) &&
                hilt_profile_allows_version(p, v))
                return 1;
        return 0;
    }
    /* No supported_versions: the client speaks legacy_version and everything below. */
    for (int i = HILT_SSL3; i <= HILT_TLS12; i++) {
        if (hilt_tls_version_wire((enum hilt_tls_version)i) > h->legacy_version) break;
        if (hilt_profile_allows_version(p, (enum hilt_tls_version)i)) return 1;
    }
    return 0;
}

static int offer_shares_cipher(const struct hilt_client_hello *h, const struct hilt_profile *p)
{
    for (size_t i = 0; i < h->nciphers; i++)
        for (int v = HILT_TLS10; v <= HILT_TLS13; v++)
            if (hilt_profile_allows_version(p, (enum hilt_tls_version)v) &&
                hilt_profile_allows_cipher(p, (enum hilt_tls_version)v, h->ciphers[i]))
                return 1;
    return 0;
}

static int offer_shares_group(const struct hilt_client_hello *h, const struct hilt_profile *p)
{
    if (!h->ngroups) return 1; /* nothing offered: not the group's fault */
    for (size_t i = 0; i < h->ngroups; i++)
        if (group_allowed(p, h->groups[i])) return 1;
    return 0;
}

enum hilt_code hs_classify(const struct hs_facts *f)
{
    if (f->flags & HS_F_TIMEOUT) return HILT_C_HANDSHAKE_TIMEOUT;
    if (!f->hello) {
        if (f->nfirst && !hs_bytes_look_tls(f->first, f->nfirst)) return HILT_C_NOT_TLS;
        for (size_t i = 0; i < sizeof(not_tls_reasons) / sizeof(not_tls_reasons[0]); i++)
            if (f->reason == not_tls_reasons[i]) return HILT_C_NOT_TLS;
    }
    if (f->flags & HS_F_SNI_REFUSED) return HILT_C_SNI_REQUIRED;
    /* bad_certificate (GnuTLS, OpenSSL for signature problems) and certificate_unknown
     * (Java) do not say why; what we served does: expired, the wrong name, or else a
     * chain this client does not trust. */
    if (f->alert_received == SSL_AD_BAD_CERTIFICATE ||
        f->alert_received == SSL_AD_CERTIFICATE_UNKNOWN) {
        if (f->flags & HS_F_OUR_CERT_EXPIRED) return HILT_C_CERT_EXPIRED;
        if (f->flags & HS_F_SNI_NOT_IN_CERT) return HILT_C_HOSTNAME_MISMATCH;
        return HILT_C_UNTRUSTED_ROOT;
    }
    if (f->alert_received >= 0)
        for (size_t i = 0; i < sizeof(client_alerts) / sizeof(client_alerts[0]); i++)
            if (client_alerts[i].alert == f->alert_received) return client_alerts[i].code;
    if (f->hello && f->profile && !offer_versions_overlap(f->hello, f->profile))
        return HILT_C_PROTOCOL_VERSION_MISMATCH;
    if (f->flags & HS_F_ALPN_REFUSED) return HILT_C_ALPN_MISMATCH;
    if (f->flags & HS_F_CERT_REJECTED) return HILT_C_CLIENT_CERT_REJECTED;
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
        if (f->reason != reasons[i].reason) continue;
        enum hilt_code c = reasons[i].code;
        if (c == HILT_C_NO_SHARED_CIPHER && f->hello && f->profile &&
            offer_shares_cipher(f->hello, f->profile) && !offer_shares_group(f->hello, f->profile))
            c = HILT_C_NO_SHARED_GROUP;
        if (c == HILT_C_CLIENT_CERT_REJECTED && !(f->flags & HS_F_CERT_SENT))
            c = HILT_C_CLIENT_CERT_REQUIRED;
        return c;
    }
    if (f->alert_sent == SSL_AD_CERTIFICATE_REQUIRED) return HILT_C_CLIENT_CERT_REQUIRED;
    if ((f->flags & HS_F_CERT_REQUESTED) && (f->flags & HS_F_CERT_SENT) &&
        (f->alert_sent == SSL_AD_BAD_CERTIFICATE || f->alert_sent == SSL_AD_UNKNOWN_CA ||
         f->alert_sent == SSL_AD_CERTIFICATE_EXPIRED ||
         f->alert_sent == SSL_AD_UNSUPPORTED_CERTIFICATE || f->alert_sent == SSL_AD_ACCESS_DENIED))
        return HILT_C_CLIENT_CERT_REJECTED;
    if (f->hello && f->profile && !offer_shares_cipher(f->hello, f->profile))
        return f->reason ? HILT_C_NO_SHARED_CIPHER : HILT_C_HANDSHAKE_FAILED;
    if (f->alert_received < 0 && f->alert_sent < 0 && (f->flags & (HS_F_RESET | HS_F_EOF)))
        return HILT_C_CONNECTION_RESET;
    if (f->alert_received < 0 && f->alert_sent < 0 &&
        f->reason == SSL_R_UNEXPECTED_EOF_WHILE_READING)
        return HILT_C_CONNECTION_RESET;
    return HILT_C_HANDSHAKE_FAILED;
}
