/* impact.h - would this client connect to a server that follows this profile?
 *
 * One mechanism for two questions: "which built-in client profiles does a
 * policy lock out?" (hilt policy impact --profile) and "which of the clients
 * a gateway actually saw would fail?" (--observed). Both reduce to a client
 * offer (versions, ciphers, groups, signature schemes, ALPN, SNI, key-size
 * floors) evaluated against a resolved policy profile the way an OpenSSL-based
 * server configured by that profile would negotiate (RFC 8446 4.1.1, RFC 5246
 * 7.4.1.2-3, RFC 8422 5.1): highest common version; a cipher of that version
 * in server or client order; a common group; a signature scheme for a
 * certificate the profile permits; then the client's own limits on that
 * certificate and on the DH group.
 *
 * The observed-clients document is what `hilt gateway` serves on GET /observed:
 *   {"clients": [{"ja4", "versions", "ciphers", "groups", "sigalgs", "alpn",
 *                 "sni", "count", "first_seen", "last_seen"}]}
 *
 * Ownership: struct hilt_observed owns its entries and their strings; free with
 * hilt_observed_free(&o). A struct hilt_offer only points at memory owned by
 * someone else (a client profile or an observed entry).
 */
#ifndef HILT_POLICY_IMPACT_H
#define HILT_POLICY_IMPACT_H

#include "diag/catalogue.h"
#include "policy/clients.h"
#include "policy/policy.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct hilt_err;

struct hilt_offer {
    const char *label; /* for messages: client id or JA4 */
    unsigned versions; /* HILT_VERSION_BIT set */
    const uint16_t *ciphers;
    size_t nciphers;
    const uint16_t *groups; /* empty: the client sent no supported_groups */
    size_t ngroups;
    const uint16_t *key_shares;
    size_t nkey_shares;
    const uint16_t *sigalgs; /* empty: none sent (TLS <= 1.1 clients) */
    size_t nsigalgs;
    int rsa_min_bits, dh_min_bits, dh_max_bits, ec_min_bits; /* 0 = unknown, not judged */
    enum hilt_sha1_rule sha1;
    int legacy_kx_signatures; /* accepts MD5+SHA-1 key-exchange signatures of TLS <= 1.1 */
};

/* The offer a client profile makes. */
void hilt_offer_from_client(const struct hilt_client *c, struct hilt_offer *o);

struct hilt_impact {
    int connects;
    int version;         /* HILT_TLS*, -1 when no version was agreed */
    uint16_t cipher;     /* 0 when none */
    uint16_t group;      /* 0 when the key exchange uses no group (RSA) */
    int dh_bits;         /* DHE suites: the profile's DH size */
    const char *cert;    /* "rsa", "ecdsa", "ed25519" the client would be served, or NULL */
    int hrr;             /* TLS 1.3: the server must ask for a key share first */
    enum hilt_code code; /* meaningful when !connects */
    char reason[600];
};

/* Evaluate one offer against one profile. Never fails. */
void hilt_impact_eval(const struct hilt_offer *o, const struct hilt_profile *p,
                      struct hilt_impact *r);
/* {connects, version, cipher, cipher_code, group, certificate, code, reason}. */
json_t *hilt_impact_json(const struct hilt_impact *r);

/* ---- observed clients (gateway /observed) ------------------------------- */

#define HILT_OBSERVED_MAX_BYTES (8 * 1024 * 1024)
#define HILT_OBSERVED_MAX 100000

struct hilt_observed_client {
    char *ja4;
    unsigned versions;
    struct hilt_u16list ciphers, groups, sigalgs;
    struct hilt_strlist alpn;
    char *sni; /* NULL when the client sent none */
    unsigned long long count;
    time_t first_seen, last_seen; /* 0 when absent */
    struct hilt_strlist unknown;  /* names hilt's tables do not know (kept out of the offer) */
};

struct hilt_observed {
    char *source;
    struct hilt_observed_client *v;
    size_t n;
};

/* Parse the /observed JSON. Errors name the source and the field:
 * "observed.json: clients[2].ciphers[0]: expected a cipher suite name". An
 * unknown cipher/group/scheme name is not an error (a client may offer what
 * hilt's tables lack): it is recorded in `unknown` and left out of the offer. */
int hilt_observed_load_mem(const void *data, size_t len, const char *source,
                           struct hilt_observed **out, struct hilt_err *e);
/* SRC is a file path, or an http:// URL on loopback fetched with a timeout. */
int hilt_observed_load(const char *src, int timeout_ms, struct hilt_observed **out,
                       struct hilt_err *e);
void hilt_observed_free(struct hilt_observed **o);
void hilt_offer_from_observed(const struct hilt_observed_client *c, struct hilt_offer *o);

#endif
