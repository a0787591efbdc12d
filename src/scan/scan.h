/* scan.h - `hilt scan`: what TLS endpoints really accept, for one target or a fleet.
 *
 * hilt_scan_run() drives every target on one libevent loop (see docs/scan.md):
 * phases of raw-hello and OpenSSL jobs per target, at most `concurrency`
 * targets at a time, each reported through the callback as soon as it is
 * done. The result carries versions, suites per version in order, groups,
 * signature schemes, certificates, extras, findings and conformance.
 *
 * Ownership: options and target specs are borrowed for the run; a result is
 * valid only during the callback (copy what you keep).
 */
#ifndef HILT_SCAN_SCAN_H
#define HILT_SCAN_SCAN_H

#include "core/net.h"
#include "diag/catalogue.h"
#include "policy/policy.h"

#include <jansson.h>
#include <openssl/x509.h>
#include <stdint.h>

struct hilt_err;

#define HILT_SCAN_MAX_SUITES 400 /* the suite table holds about 360 */
#define HILT_SCAN_MAX_LIST 40
#define HILT_SCAN_MAX_CERTS 6

struct hilt_scan_version {
    int probed;
    int accepted;
    uint16_t suites[HILT_SCAN_MAX_SUITES]; /* in the order the server chose them */
    int nsuites;
    int complete;     /* enumeration ended with a refusal, not a limit or a timeout */
    int server_order; /* -1 unknown (fewer than 2 suites), 0 the client's order, 1 the server's */
};

struct hilt_scan_cert {
    STACK_OF(X509) * chain; /* as sent, leaf first (owned by the result) */
    char via[64]; /* how it was obtained: "TLSv1.2 ECDSA suites", "TLSv1.3 rsa_pss_rsae_sha256" */
};

struct hilt_scan_result {
    char target[300]; /* as given */
    struct hilt_hostport hp;
    char sni[HILT_HOST_MAX];
    char addr[64];
    const struct hilt_profile *profile; /* conformance profile, or NULL */
    int reachable;
    enum hilt_net_status net;
    char error[400];
    struct hilt_scan_version v[HILT_TLS_VERSION_COUNT]; /* indexed by enum hilt_tls_version */
    uint16_t groups13[HILT_SCAN_MAX_LIST]; /* TLS 1.3 key exchange groups, server's order */
    int ngroups13;
    uint16_t groups12[HILT_SCAN_MAX_LIST]; /* TLS 1.2 ECDHE curves */
    int ngroups12;
    int dh_bits; /* smallest DHE group seen, 0 none */
    uint16_t sigalgs12[HILT_SCAN_MAX_LIST];
    int nsigalgs12;
    uint16_t sigalgs13[HILT_SCAN_MAX_LIST];
    int nsigalgs13;
    struct hilt_scan_cert certs[HILT_SCAN_MAX_CERTS];
    int ncerts;
    int ocsp_stapled;   /* -1 unknown */
    int secure_reneg;   /* -1 not applicable (no TLS <= 1.2) */
    int compression;    /* -1 not applicable; 1 DEFLATE accepted */
    int fallback_scsv;  /* -1 not applicable; 1 the server rejects downgrades */
    int resume_ids;     /* -1 not applicable/unknown */
    int resume_tickets; /* -1 unknown */
    char alpn[8][32];   /* protocols the server selects, in its preference */
    int nalpn;
    int alpn_checked;
    struct hilt_findings findings;
    json_t *conformance; /* {profile, pass, violations} or NULL */
    json_t *clients;     /* client simulation results, or NULL */
    int connections;
    uint64_t duration_us;
};

struct hilt_scan_target {
    const char *target;  /* HOST[:PORT] */
    const char *profile; /* conformance profile name, or NULL for the run's */
};

struct hilt_scan_opts {
    int timeout_ms;                   /* per connection stage; 0 = 3000 */
    int concurrency;                  /* targets in flight; 0 = 32 */
    const char *starttls;             /* smtp|imap|pop3|ftp|xmpp|ldap|postgres, or NULL */
    const char *sni;                  /* NULL: the host when it is a name */
    const char *ca_file;              /* trust for certificate findings; NULL = system */
    const struct hilt_policy *policy; /* where profiles are looked up (NULL = built-ins) */
    const char *profile;              /* default conformance profile, or NULL */
    int clients;                      /* --clients: simulate client profiles */
    int no_revocation;
};

typedef void (*hilt_scan_report_fn)(void *arg, const struct hilt_scan_result *r);

/* Returns -1 with e for bad options or targets (exit 2), 0 when every target
 * was scanned (each reported through cb, whether healthy or not). */
int hilt_scan_run(const struct hilt_scan_opts *o, const struct hilt_scan_target *targets, size_t n,
                  hilt_scan_report_fn cb, void *arg, struct hilt_err *e);

/* The result as JSON (docs/scan.md), as text, and whether it fails (exit 1):
 * a conformance violation, an error finding, or an unreachable target. */
json_t *hilt_scan_result_json(const struct hilt_scan_result *r);
void hilt_scan_result_print(FILE *f, const struct hilt_scan_result *r, int color);
int hilt_scan_result_failed(const struct hilt_scan_result *r);

/* HTML report over many results (JSON objects from hilt_scan_result_json). */
int hilt_scan_html(FILE *f, json_t *results, struct hilt_err *e);

#endif
