/* policy.h - TLS policies as code: the model, the YAML loader, the built-in
 * profiles, and the queries the scanner and renderers make of a profile.
 *
 * A policy file holds `profiles:` (what a TLS endpoint must speak and what
 * certificate it must present) and `environments:` (names and endpoint
 * patterns mapped to a profile). A profile may `extends:` another; the loader
 * resolves every profile completely, so a struct hilt_profile never refers to
 * another one and consumers need no inheritance logic.
 *
 * Semantics of a resolved profile (docs/policy.md has the YAML form):
 *  - versions is a set; ciphers (TLS 1.0-1.2) and tls13_ciphersuites are
 *    ordered lists of code points, in preference order. A list that is empty
 *    while its versions are enabled is rejected at load, so "empty" means
 *    "that protocol family is off".
 *  - groups and signature_algorithms are ordered lists; empty means "not
 *    constrained by the policy" (the stack's defaults apply).
 *  - Certificate and client-certificate rules: 0/empty means "no rule".
 *
 * Ownership: hilt_policy_load_*() allocate a struct hilt_policy that owns
 * every profile, environment, list and string in it; the caller releases it
 * with hilt_policy_free(&p), which frees everything and NULLs p. Pointers
 * into a policy (profiles, names) are valid until then. The built-in policy
 * returned by hilt_policy_builtin() is static for the process: never free it.
 */
#ifndef HILT_POLICY_POLICY_H
#define HILT_POLICY_POLICY_H

#include "policy/suites.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct hilt_err;

/* Input bounds for a policy document (the loader rejects anything larger). */
#define HILT_POLICY_MAX_BYTES (1024 * 1024)
#define HILT_POLICY_MAX_DEPTH 16
#define HILT_POLICY_MAX_NODES 50000
#define HILT_POLICY_MAX_SCALAR 4096
#define HILT_POLICY_MAX_EXTENDS 16 /* longest extends: chain */

struct hilt_u16list {
    uint16_t *v; /* owned */
    size_t n;
};

struct hilt_strlist {
    char **v; /* owned, each string owned */
    size_t n;
};

enum hilt_client_cert_mode {
    HILT_CLIENT_CERT_NONE = 0,
    HILT_CLIENT_CERT_OPTIONAL,
    HILT_CLIENT_CERT_REQUIRED,
};

struct hilt_cert_rules {
    unsigned key_types;                       /* HILT_KEYTYPE_* bits; 0 = any */
    int rsa_min_bits;                         /* 0 = no minimum */
    struct hilt_u16list ecdsa_curves;         /* group code points; empty = any */
    int max_lifetime_days;                    /* 0 = no limit */
    struct hilt_strlist signature_algorithms; /* X.509 names; empty = any */
    struct hilt_strlist required_eku;         /* canonical names or dotted OIDs */
    int ocsp_stapling;                        /* 1 = the server must staple */
};

struct hilt_client_cert_rules {
    enum hilt_client_cert_mode mode;
    char *ca_file;                       /* CA bundle that verifies client certs, or NULL */
    struct hilt_strlist allowed_issuers; /* issuer DNs; empty = any issuer the CA file trusts */
    struct hilt_strlist subjects;        /* subject patterns ('*' wildcard); empty = any */
};

struct hilt_profile {
    char *name;
    char *description;           /* or NULL */
    char *extends;               /* parent as written, or NULL (informational) */
    char *origin;                /* "file:line:col" of its definition */
    unsigned versions;           /* HILT_VERSION_BIT() set */
    struct hilt_u16list ciphers; /* TLS 1.0-1.2 suites, preference order */
    struct hilt_u16list tls13_ciphersuites;
    struct hilt_u16list groups;
    struct hilt_u16list signature_algorithms;
    int server_preference; /* 1 = server enforces its cipher order */
    int dh_min_bits;       /* minimum DHE group size; 0 = no rule */
    struct hilt_cert_rules certificate;
    struct hilt_client_cert_rules client_certificate;
};

struct hilt_environment {
    char *name;
    char *profile;                 /* profile name (exists in the policy or built-ins) */
    char *description;             /* or NULL */
    struct hilt_strlist endpoints; /* "host[:port]" patterns, '*' wildcards */
    char *origin;
};

struct hilt_policy {
    char *source;                  /* file name, or "builtin" */
    struct hilt_profile *profiles; /* in file order */
    size_t nprofiles;
    struct hilt_environment *environments;
    size_t nenvironments;
};

/* ---- loading ------------------------------------------------------------ */

/* Parse a policy held in memory. `source` names it in messages
 * ("policy.yaml:12:7: profiles.web.ciphers[3]: unknown cipher '...'").
 * Profiles may extend the built-in profiles; a profile of the same name as a
 * built-in one shadows it within this policy. Errors are HILT_E_INPUT. */
int hilt_policy_load_mem(const void *data, size_t len, const char *source, struct hilt_policy **out,
                         struct hilt_err *e);
/* Read (bounded by HILT_POLICY_MAX_BYTES) and parse a file. */
int hilt_policy_load_file(const char *path, struct hilt_policy **out, struct hilt_err *e);
void hilt_policy_free(struct hilt_policy **p);

/* The built-in profiles (modern, intermediate, old, public-web, internal-api,
 * partner, iot) and environments, parsed once from the embedded
 * data/policy-*.yaml. Static; NULL only if the embedded data is broken. */
const struct hilt_policy *hilt_policy_builtin(struct hilt_err *e);

/* ---- queries ------------------------------------------------------------ */

const struct hilt_profile *hilt_policy_profile(const struct hilt_policy *p, const char *name);
const struct hilt_environment *hilt_policy_environment(const struct hilt_policy *p,
                                                       const char *name);
/* Profile by name in `p` (may be NULL), then in the built-ins. On failure,
 * an HILT_E_USAGE error lists the names that exist. */
const struct hilt_profile *hilt_profile_find(const struct hilt_policy *p, const char *name,
                                             struct hilt_err *e);
/* The environment whose endpoint patterns match host:port (first in file
 * order), or NULL. port 0 matches only patterns without a port. */
const struct hilt_environment *hilt_policy_match_endpoint(const struct hilt_policy *p,
                                                          const char *host, unsigned port);
/* Does `pattern` ("*.example.com", "api.example.com:8443", "10.1.2.*:*")
 * match host:port? Case-insensitive; '*' matches any run of characters. */
int hilt_endpoint_match(const char *pattern, const char *host, unsigned port);

int hilt_profile_allows_version(const struct hilt_profile *p, enum hilt_tls_version v);
/* A cipher code point allowed for `v` (TLS 1.3 list for TLSv1.3, else the
 * TLS 1.0-1.2 list). */
int hilt_profile_allows_cipher(const struct hilt_profile *p, enum hilt_tls_version v,
                               uint16_t code);
/* Groups and signature schemes: an empty list allows everything. */
int hilt_profile_allows_group(const struct hilt_profile *p, uint16_t code);
int hilt_profile_allows_sigalg(const struct hilt_profile *p, uint16_t code);
/* Lowest and highest enabled version; -1 when none. */
int hilt_profile_min_version(const struct hilt_profile *p);
int hilt_profile_max_version(const struct hilt_profile *p);
/* The enabled versions form one contiguous range (no gap). */
int hilt_profile_versions_contiguous(const struct hilt_profile *p);

/* JSON of a resolved profile / a whole policy (stable field names, see
 * docs/policy.md). The caller owns the returned reference. */
json_t *hilt_profile_json(const struct hilt_profile *p);
json_t *hilt_policy_json(const struct hilt_policy *p);

/* ---- rendering for other stacks (render.c) ------------------------------ */

struct hilt_buf;

struct hilt_render_target {
    const char *name;    /* "nginx", "haproxy", ... */
    const char *summary; /* what the output is and where it goes */
};

/* The targets, NULL-terminated name order. */
const struct hilt_render_target *hilt_render_targets(size_t *n);
/* Append the configuration that enforces `p` on `target` to `out`. Parts the
 * stack cannot express are stated as comments in the output. An unknown
 * target is HILT_E_USAGE. */
int hilt_policy_render(const struct hilt_profile *p, const char *target, struct hilt_buf *out,
                       struct hilt_err *e);

#endif
