/* jws.h - JSON Web Signatures as ACME uses them (RFC 8555 §6.2, RFC 7515, RFC 7517,
 * RFC 7518, RFC 7638).
 *
 * hilt_jws_parse() reads a flattened JWS JSON body, bounded and defensively:
 * the protected header must be base64url JSON with "alg", "nonce", "url" and
 * exactly one of "jwk" or "kid"; unknown or unsafe algorithms ("none", HMAC)
 * are refused; duplicate members, trailing data and an unprotected "header"
 * are refused. hilt_jws_verify() checks the signature with the given key (the
 * header's jwk for newAccount/revokeCert, the account key found by kid
 * otherwise). Errors carry the ACME problem type in e->code (enum hilt_acme_problem)
 * so the server answers with the right problem document.
 *
 * Ownership: struct hilt_jws owns everything it points to; release it with
 * hilt_jws_free(). Returned strings and keys belong to the caller.
 */
#ifndef HILT_API_JWS_H
#define HILT_API_JWS_H

#include <jansson.h>
#include <openssl/evp.h>
#include <stddef.h>

struct hilt_err;

#define HILT_JWS_MAX (64u << 10) /* the largest request body hilt accepts */

enum hilt_acme_problem {
    HILT_ACME_OK = 0,
    HILT_ACME_MALFORMED,
    HILT_ACME_BAD_NONCE,
    HILT_ACME_BAD_SIGNATURE_ALGORITHM,
    HILT_ACME_BAD_PUBLIC_KEY,
    HILT_ACME_UNAUTHORIZED,
    HILT_ACME_ACCOUNT_DOES_NOT_EXIST,
    HILT_ACME_BAD_CSR,
    HILT_ACME_REJECTED_IDENTIFIER,
    HILT_ACME_ORDER_NOT_READY,
    HILT_ACME_BAD_REVOCATION_REASON,
    HILT_ACME_ALREADY_REVOKED,
    HILT_ACME_INCORRECT_RESPONSE,
    HILT_ACME_CONNECTION,
    HILT_ACME_SERVER_INTERNAL,
};

/* "urn:ietf:params:acme:error:badNonce" and the HTTP status it goes with. */
const char *hilt_acme_problem_type(enum hilt_acme_problem p);
int hilt_acme_problem_status(enum hilt_acme_problem p);

struct hilt_jws {
    char alg[16];
    char nonce[256];
    char url[1024];
    char kid[1024];           /* "" when the header carries a jwk */
    json_t *jwk;              /* the header's jwk, or NULL */
    unsigned char *payload;   /* decoded payload (NUL-terminated), or NULL */
    size_t payload_len;
    int post_as_get;          /* payload is the empty string (RFC 8555 §6.3) */
    char *signing_input;      /* ASCII(protected || '.' || payload) */
    unsigned char *signature; /* decoded */
    size_t signature_len;
};

int hilt_jws_parse(const void *body, size_t len, struct hilt_jws *out, struct hilt_err *e);
/* The inner JWS of a key change (RFC 8555 §7.3.5): the same rules, except
 * that it must carry a jwk (the new key) and no nonce. */
int hilt_jws_parse_inner(const void *body, size_t len, struct hilt_jws *out, struct hilt_err *e);
/* 0 when the signature verifies with `key` under the header's alg (and the key
 * suits the alg: P-256 for ES256, RSA >= 2048 for RS256, …). */
int hilt_jws_verify(const struct hilt_jws *j, EVP_PKEY *key, struct hilt_err *e);
void hilt_jws_free(struct hilt_jws *j);

/* JWK (RFC 7517/7518) to a public key: EC P-256/P-384 ("crv","x","y"), RSA
 * ("n","e", 2048-8192 bits), OKP Ed25519 ("crv","x"). Private members are refused. */
EVP_PKEY *hilt_jwk_to_pkey(const json_t *jwk, struct hilt_err *e);
/* The public JWK of a key (members in lexicographic order). */
json_t *hilt_pkey_to_jwk(EVP_PKEY *k);
/* RFC 7638 thumbprint: base64url(SHA-256(canonical JWK)), 43 characters. */
int hilt_jwk_thumbprint(const json_t *jwk, char out[64], struct hilt_err *e);

/* base64url without padding (RFC 7515 §2). Decoding refuses padding and
 * characters outside the alphabet. The caller frees the results. */
char *hilt_b64url_encode(const unsigned char *in, size_t len);
int hilt_b64url_decode(const char *in, size_t len, unsigned char **out, size_t *outlen);

/* Sign a flattened JWS (for clients, load generators and tests): alg is
 * chosen from the key (ES256/ES384/RS256/EdDSA); the header holds nonce, url
 * and either kid (when not NULL) or the key's jwk. payload NULL means
 * POST-as-GET; nonce NULL leaves the nonce out (a key change's inner JWS).
 * Returns a malloc'd JSON string. */
char *hilt_jws_sign(EVP_PKEY *key, const char *kid, const char *nonce, const char *url,
                    const char *payload, struct hilt_err *e);

#endif
