/* catalogue.h - the catalogue of handshake-failure causes, and findings.
 *
 * The codes are stable API shared by probe, scan, gateway events and metrics.
 * Their text (severity, rung, summary template, remediation) lives in
 * data/catalogue.json, compiled into a table at build time (tools/gencat.c); the order is the
 * diagnosis priority. This module owns loading that table and the finding
 * list type every diagnosing component fills.
 *
 * Ownership: struct hilt_findings owns its items and their strings; free it
 * with hilt_findings_free(). Catalogue entries are static after load.
 */
#ifndef HILT_DIAG_CATALOGUE_H
#define HILT_DIAG_CATALOGUE_H

#include <jansson.h>
#include <stddef.h>

struct hilt_err;

/* X-macro: enum constant, stable code. Must match data/catalogue.json
 * (tests/unit/test_catalogue.c checks both directions). */
#define HILT_CODES(X)                                                                              \
    X(DNS_FAILED, "dns_failed")                                                                    \
    X(CONNECT_REFUSED, "connect_refused")                                                          \
    X(CONNECT_TIMEOUT, "connect_timeout")                                                          \
    X(NOT_TLS, "not_tls")                                                                          \
    X(HANDSHAKE_TIMEOUT, "handshake_timeout")                                                      \
    X(CONNECTION_RESET, "connection_reset")                                                        \
    X(SNI_REQUIRED, "sni_required")                                                                \
    X(PROTOCOL_VERSION_MISMATCH, "protocol_version_mismatch")                                      \
    X(NO_SHARED_CIPHER, "no_shared_cipher")                                                        \
    X(NO_SHARED_GROUP, "no_shared_group")                                                          \
    X(WEAK_DH, "weak_dh")                                                                          \
    X(ALPN_MISMATCH, "alpn_mismatch")                                                              \
    X(CLIENT_CERT_REQUIRED, "client_cert_required")                                                \
    X(CLIENT_CERT_REJECTED, "client_cert_rejected")                                                \
    X(CLOCK_SKEW, "clock_skew")                                                                    \
    X(SELF_SIGNED, "self_signed")                                                                  \
    X(CHAIN_INCOMPLETE, "chain_incomplete")                                                        \
    X(UNTRUSTED_ROOT, "untrusted_root")                                                            \
    X(CERT_NOT_YET_VALID, "cert_not_yet_valid")                                                    \
    X(CERT_EXPIRED, "cert_expired")                                                                \
    X(CERT_REVOKED, "cert_revoked")                                                                \
    X(HOSTNAME_MISMATCH, "hostname_mismatch")                                                      \
    X(WEAK_KEY, "weak_key")                                                                        \
    X(WEAK_SIGNATURE, "weak_signature")                                                            \
    X(BAD_KEY_USAGE, "bad_key_usage")                                                              \
    X(OCSP_STAPLE_MISSING, "ocsp_staple_missing")                                                  \
    X(HANDSHAKE_FAILED, "handshake_failed")                                                        \
    X(REVOCATION_UNKNOWN, "revocation_unknown")                                                    \
    X(EXPIRING_SOON, "expiring_soon")                                                              \
    X(LIFETIME_TOO_LONG, "lifetime_too_long")                                                      \
    X(DEPRECATED_PROTOCOL, "deprecated_protocol")                                                  \
    X(SSL3_ENABLED, "ssl3_enabled")                                                                \
    X(EXPORT_CIPHER, "export_cipher")                                                              \
    X(NULL_CIPHER, "null_cipher")                                                                  \
    X(ANON_CIPHER, "anon_cipher")                                                                  \
    X(RC4_CIPHER, "rc4_cipher")                                                                    \
    X(DES_CIPHER, "des_cipher")                                                                    \
    X(TLS_COMPRESSION, "tls_compression")                                                          \
    X(INSECURE_RENEGOTIATION, "insecure_renegotiation")                                            \
    X(TRIPLE_DES_CIPHER, "triple_des_cipher")                                                      \
    X(NO_FALLBACK_SCSV, "no_fallback_scsv")

enum hilt_code {
#define HILT_CODE_ENUM(name, str) HILT_C_##name,
    HILT_CODES(HILT_CODE_ENUM)
#undef HILT_CODE_ENUM
        HILT_C_COUNT
};

enum hilt_severity { HILT_SEV_INFO, HILT_SEV_WARNING, HILT_SEV_ERROR };

struct hilt_code_info {
    const char *code;
    enum hilt_severity severity;
    const char *rung;
    const char *summary;     /* template with {name} placeholders */
    const char *remediation; /* template with {name} placeholders */
    int priority;            /* position in the table; lower is more fundamental */
};

/* Nothing to load any more (the table is compiled in); kept for callers. */
int hilt_catalogue_load(struct hilt_err *e);
/* Entry for a code; loads the table on first use (aborts if the embedded
 * table is broken, which the unit tests rule out). */
const struct hilt_code_info *hilt_code_info(enum hilt_code c);
const char *hilt_code_name(enum hilt_code c);
int hilt_code_from_name(const char *name, enum hilt_code *out);
const char *hilt_severity_name(enum hilt_severity s);

#define HILT_FINDING_EVIDENCE_MAX 16

struct hilt_finding {
    enum hilt_code code;
    enum hilt_severity severity;
    char *summary;
    char *remediation;
    char *evidence[HILT_FINDING_EVIDENCE_MAX];
    size_t nevidence;
};

struct hilt_findings {
    struct hilt_finding *items;
    size_t n, cap;
};

void hilt_findings_init(struct hilt_findings *f);
void hilt_findings_free(struct hilt_findings *f);
/* Add a finding; the templates are filled from NULL-terminated key, value
 * string pairs: hilt_findings_add(f, HILT_C_CERT_EXPIRED, "subject", s,
 * "not_after", t, NULL). Returns the finding (owned by f) or NULL. A code
 * already present is not added twice; the existing entry is returned. */
struct hilt_finding *hilt_findings_add(struct hilt_findings *f, enum hilt_code code, ...)
    __attribute__((sentinel));
/* Append one evidence line (printf-style). */
void hilt_finding_evidence(struct hilt_finding *fd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
struct hilt_finding *hilt_findings_get(struct hilt_findings *f, enum hilt_code code);
/* The root cause: the error-severity finding first in catalogue order, or NULL. */
const struct hilt_finding *hilt_findings_root(const struct hilt_findings *f);
int hilt_findings_has_error(const struct hilt_findings *f);
/* Sort by severity (errors first), then catalogue order. */
void hilt_findings_sort(struct hilt_findings *f);
json_t *hilt_finding_json(const struct hilt_finding *fd);
json_t *hilt_findings_json(const struct hilt_findings *f);

/* Fill a template: "{key}" is replaced by the value of key in kv (pairs,
 * NULL-terminated); unknown keys stay as "{key}". Returns malloc'd text. */
char *hilt_template_fill(const char *tmpl, const char *const *kv);

#endif
