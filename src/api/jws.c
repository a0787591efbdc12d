/* jws.c - flattened JWS parsing, verification and signing; JWK conversion and thumbprints. */
#include "api/jws.h"

#include "core/err.h"

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    enum hilt_acme_problem p;
    const char *type;
    int status;
} problems[] = {
    {HILT_ACME_OK, "", 200},
    {HILT_ACME_MALFORMED, "urn:ietf:params:acme:error:malformed", 400},
    {HILT_ACME_BAD_NONCE, "urn:ietf:params:acme:error:badNonce", 400},
    {HILT_ACME_BAD_SIGNATURE_ALGORITHM, "urn:ietf:params:acme:error:badSignatureAlgorithm", 400},
    {HILT_ACME_BAD_PUBLIC_KEY, "urn:ietf:params:acme:error:badPublicKey", 400},
    {HILT_ACME_UNAUTHORIZED, "urn:ietf:params:acme:error:unauthorized", 403},
    {HILT_ACME_ACCOUNT_DOES_NOT_EXIST, "urn:ietf:params:acme:error:accountDoesNotExist", 400},
    {HILT_ACME_BAD_CSR, "urn:ietf:params:acme:error:badCSR", 400},
    {HILT_ACME_REJECTED_IDENTIFIER, "urn:ietf:params:acme:error:rejectedIdentifier", 400},
    {HILT_ACME_ORDER_NOT_READY, "urn:ietf:params:acme:error:orderNotReady", 403},
    {HILT_ACME_BAD_REVOCATION_REASON, "urn:ietf:params:acme:error:badRevocationReason", 400},
    {HILT_ACME_ALREADY_REVOKED, "urn:ietf:params:acme:error:alreadyRevoked", 400},
    {HILT_ACME_INCORRECT_RESPONSE, "urn:ietf:params:acme:error:incorrectResponse", 403},
    {HILT_ACME_CONNECTION, "urn:ietf:params:acme:error:connection", 400},
    {HILT_ACME_SERVER_INTERNAL, "urn:ietf:params:acme:error:serverInternal", 500},
};

const char *hilt_acme_problem_type(enum hilt_acme_problem p)
{
    for (size_t i = 0; i < sizeof(problems) / sizeof(problems[0]); i++)
        if (problems[i].p == p) return problems[i].type;
    return "urn:ietf:params:acme:error:serverInternal";
}

int hilt_acme_problem_status(enum hilt_acme_problem p)
{
    for (size_t i = 0; i < sizeof(problems) / sizeof(problems[0]); i++)
        if (problems[i].p == p) return problems[i].status;
    return 500;
}

/* ---------- base64url ---------- */

static const char b64u[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

char *hilt_b64url_encode(const unsigned char *in, size_t len)
{
    char *out = malloc(len / 3 * 4 + 5);
    if (!out) return NULL;
    size_t o = 0, i = 0;
    for (; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64u[v >> 18];
        out[o++] = b64u[(v >> 12) & 63];
        out[o++] = b64u[(v >> 6) & 63];
        out[o++] = b64u[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = b64u[v >> 18];
        out[o++] = b64u[(v >> 12) & 63];
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = b64u[v >> 18];
        out[o++] = b64u[(v >> 12) & 63];
        out[o++] = b64u[(v >> 6) & 63];
    }
    out[o] = '\0';
    return out;
}

static int b64u_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
}

int hilt_b64url_decode(const char *in, size_t len, unsigned char **out, size_t *outlen)
{
    *out = NULL;
    *outlen = 0;
    if (len % 4 == 1) return -1;
    unsigned char *o = malloc(len / 4 * 3 + 3);
    if (!o) return -1;
    size_t n = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64u_val((unsigned char)in[i]);
        if (v < 0) {
            free(o);
            return -1;
        }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            o[n++] = (unsigned char)(acc >> bits);
        }
    }
    /* Leftover bits must be zero (canonical encoding). */
    if (bits && (acc & ((1u << bits) - 1))) {
        free(o);
        return -1;
    }
    o[n] = '\0';
    *out = o;
    *outlen = n;
    return 0;
}

/* ---------- parsing ---------- */

static int problem(struct hilt_err *e, enum hilt_acme_problem p, const char *fmt, const char *arg)
{
    return hilt_err_set(e, HILT_E_INPUT, (int)p, fmt, arg ? arg : "");
}

static const char *str_member(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

void hilt_jws_free(struct hilt_jws *j)
{
    json_decref(j->jwk);
    free(j->payload);
    free(j->signing_input);
    free(j->signature);
    memset(j, 0, sizeof(*j));
}

static int copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap) return -1;
    memcpy(dst, src, n + 1);
    return 0;
}

/* inner: the inner JWS of a key change (RFC 8555 §7.3.5), which carries
 * no nonce and must carry a jwk. */
static int jws_parse(const void *body, size_t len, struct hilt_jws *out, int inner,
                     struct hilt_err *e)
{
    memset(out, 0, sizeof(*out));
    json_t *root = NULL, *hdr = NULL;
    unsigned char *hdr_raw = NULL;
    size_t hdr_len = 0;
    int rc = -1;
    if (len > HILT_JWS_MAX) {
        problem(e, HILT_ACME_MALFORMED, "request body larger than 64 KiB%s", NULL);
        goto out;
    }
    json_error_t je;
    root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(root)) {
        problem(e, HILT_ACME_MALFORMED, "the body is not a JSON object: %s", root ? "" : je.text);
        goto out;
    }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val)
    {
        if (strcmp(key, "protected") && strcmp(key, "payload") && strcmp(key, "signature")) {
            problem(e, HILT_ACME_MALFORMED, "unexpected JWS member '%s' (RFC 8555 §6.2 allows protected, payload, signature)", key);
            goto out;
        }
        if (!json_is_string(val)) {
            problem(e, HILT_ACME_MALFORMED, "JWS member '%s' is not a string", key);
            goto out;
        }
    }
    const char *p64 = str_member(root, "protected"), *pl64 = str_member(root, "payload"), *s64 = str_member(root, "signature");
    if (!p64 || !pl64 || !s64) {
        problem(e, HILT_ACME_MALFORMED, "a flattened JWS needs protected, payload and signature%s", NULL);
        goto out;
    }
    if (hilt_b64url_decode(p64, strlen(p64), &hdr_raw, &hdr_len) < 0) {
        problem(e, HILT_ACME_MALFORMED, "the protected header is not base64url%s", NULL);
        goto out;
    }
    hdr = json_loadb((const char *)hdr_raw, hdr_len, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(hdr)) {
        problem(e, HILT_ACME_MALFORMED, "the protected header is not a JSON object%s", NULL);
        goto out;
    }
    const char *alg = str_member(hdr, "alg");
    if (!alg) {
        problem(e, HILT_ACME_MALFORMED, "the protected header has no alg%s", NULL);
        goto out;
    }
    if (strcmp(alg, "ES256") && strcmp(alg, "ES384") && strcmp(alg, "RS256") && strcmp(alg, "EdDSA")) {
        problem(e, HILT_ACME_BAD_SIGNATURE_ALGORITHM, "signature algorithm '%s' is not accepted (ES256, ES384, RS256, EdDSA)", alg);
        goto out;
    }
    copy_str(out->alg, sizeof(out->alg), alg);
    if (json_object_get(hdr, "crit") || json_object_get(hdr, "b64")) {
        problem(e, HILT_ACME_MALFORMED, "the protected header uses crit or b64, which ACME does not%s", NULL);
        goto out;
    }
    const char *nonce = str_member(hdr, "nonce"), *url = str_member(hdr, "url");
    if (inner) {
        if (json_object_get(hdr, "nonce")) {
            problem(e, HILT_ACME_MALFORMED, "the inner JWS of a key change must not carry a nonce (RFC 8555 §7.3.5)%s", NULL);
            goto out;
        }
        if (!json_object_get(hdr, "jwk")) {
            problem(e, HILT_ACME_MALFORMED, "the inner JWS of a key change must carry the new key as jwk (RFC 8555 §7.3.5)%s", NULL);
            goto out;
        }
    } else if (!nonce || !nonce[0]) {
        problem(e, HILT_ACME_BAD_NONCE, "the protected header has no nonce%s", NULL);
        goto out;
    }
    if (!inner && copy_str(out->nonce, sizeof(out->nonce), nonce) < 0) {
        problem(e, HILT_ACME_BAD_NONCE, "the nonce is too long%s", NULL);
        goto out;
    }
    if (!url || copy_str(out->url, sizeof(out->url), url) < 0) {
        problem(e, HILT_ACME_MALFORMED, "the protected header has no (or an overlong) url%s", NULL);
        goto out;
    }
    json_t *jwk = json_object_get(hdr, "jwk");
    const char *kid = str_member(hdr, "kid");
    if ((jwk != NULL) == (kid != NULL)) {
        problem(e, HILT_ACME_MALFORMED, "the protected header must carry exactly one of jwk and kid%s", NULL);
        goto out;
    }
    if (kid && copy_str(out->kid, sizeof(out->kid), kid) < 0) {
        problem(e, HILT_ACME_MALFORMED, "the kid is too long%s", NULL);
        goto out;
    }
    if (jwk) {
        if (!json_is_object(jwk)) {
            problem(e, HILT_ACME_MALFORMED, "jwk is not an object%s", NULL);
            goto out;
        }
        out->jwk = json_incref(jwk);
    }
    if (hilt_b64url_decode(pl64, strlen(pl64), &out->payload, &out->payload_len) < 0) {
        problem(e, HILT_ACME_MALFORMED, "the payload is not base64url%s", NULL);
        goto out;
    }
    out->post_as_get = pl64[0] == '\0';
    if (hilt_b64url_decode(s64, strlen(s64), &out->signature, &out->signature_len) < 0 || out->signature_len == 0) {
        problem(e, HILT_ACME_MALFORMED, "the signature is not base64url%s", NULL);
        goto out;
    }
    size_t pn = strlen(p64), ln = strlen(pl64);
    out->signing_input = malloc(pn + ln + 2);
    if (!out->signing_input) {
        problem(e, HILT_ACME_SERVER_INTERNAL, "out of memory%s", NULL);
        goto out;
    }
    memcpy(out->signing_input, p64, pn);
    out->signing_input[pn] = '.';
    memcpy(out->signing_input + pn + 1, pl64, ln + 1);
    rc = 0;
out:
    if (rc < 0) hilt_jws_free(out);
    json_decref(root);
    json_decref(hdr);
    free(hdr_raw);
    return rc;
}

int hilt_jws_parse(const void *body, size_t len, struct hilt_jws *out, struct hilt_err *e)
{
    return jws_parse(body, len, out, 0, e);
}

int hilt_jws_parse_inner(const void *body, size_t len, struct hilt_jws *out, struct hilt_err *e)
{
    return jws_parse(body, len, out, 1, e);
}

/* ---------- verification ---------- */

static int key_fits(const char *alg, EVP_PKEY *k)
{
    if (!strcmp(alg, "RS256")) return EVP_PKEY_is_a(k, "RSA") && EVP_PKEY_get_bits(k) >= 2048;
    if (!strcmp(alg, "EdDSA")) return EVP_PKEY_is_a(k, "ED25519");
    if (!EVP_PKEY_is_a(k, "EC")) return 0;
    char group[64] = "";
    size_t gl = 0;
    EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &gl);
    if (!strcmp(alg, "ES256")) return !strcmp(group, "prime256v1") || !strcmp(group, "P-256");
    return !strcmp(group, "secp384r1") || !strcmp(group, "P-384");
}

/* JOSE ECDSA signatures are r || s, fixed width; OpenSSL wants DER. */
static unsigned char *raw_to_der(const unsigned char *sig, size_t len, size_t want, size_t *derlen)
{
    if (len != want) return NULL;
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, (int)(len / 2), NULL), *s = BN_bin2bn(sig + len / 2, (int)(len / 2), NULL);
    unsigned char *der = NULL;
    if (es && r && s && ECDSA_SIG_set0(es, r, s)) {
        r = s = NULL;
        int n = i2d_ECDSA_SIG(es, &der);
        if (n > 0) *derlen = (size_t)n;
        else der = NULL;
    }
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(es);
    return der;
}

int hilt_jws_verify(const struct hilt_jws *j, EVP_PKEY *key, struct hilt_err *e)
{
    if (!key) return problem(e, HILT_ACME_UNAUTHORIZED, "no key to verify the signature with%s", NULL);
    if (!key_fits(j->alg, key))
        return problem(e, HILT_ACME_BAD_SIGNATURE_ALGORITHM, "the key does not fit signature algorithm %s", j->alg);
    const EVP_MD *md = !strcmp(j->alg, "ES384") ? EVP_sha384() : !strcmp(j->alg, "EdDSA") ? NULL : EVP_sha256();
    const unsigned char *sig = j->signature;
    size_t siglen = j->signature_len;
    unsigned char *der = NULL;
    if (j->alg[0] == 'E' && j->alg[1] == 'S') {
        der = raw_to_der(j->signature, j->signature_len, !strcmp(j->alg, "ES256") ? 64 : 96, &siglen);
        if (!der) return problem(e, HILT_ACME_MALFORMED, "the %s signature has the wrong length", j->alg);
        sig = der;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestVerifyInit(ctx, NULL, md, NULL, key) == 1 &&
             EVP_DigestVerify(ctx, sig, siglen, (const unsigned char *)j->signing_input, strlen(j->signing_input)) == 1;
    EVP_MD_CTX_free(ctx);
    OPENSSL_free(der);
    ERR_clear_error();
    if (!ok) return problem(e, HILT_ACME_MALFORMED, "the JWS signature does not verify%s", NULL);
    return 0;
}

/* ---------- JWK ---------- */

static BIGNUM *b64_bn(const json_t *jwk, const char *k, size_t *nbytes)
{
    const char *s = str_member(jwk, k);
    unsigned char *raw;
    size_t n;
    if (!s || hilt_b64url_decode(s, strlen(s), &raw, &n) < 0 || n == 0 || n > 1024) {
        if (s && n) free(raw);
        return NULL;
    }
    BIGNUM *bn = BN_bin2bn(raw, (int)n, NULL);
    if (nbytes) *nbytes = n;
    free(raw);
    return bn;
}

static EVP_PKEY *from_params(const char *type, OSSL_PARAM_BLD *bld)
{
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    EVP_PKEY *k = NULL;
    if (!params || !pc || EVP_PKEY_fromdata_init(pc) != 1 ||
        EVP_PKEY_fromdata(pc, &k, EVP_PKEY_PUBLIC_KEY, params) != 1)
        k = NULL;
    OSSL_PARAM_free(params);
    EVP_PKEY_CTX_free(pc);
    return k;
}

EVP_PKEY *hilt_jwk_to_pkey(const json_t *jwk, struct hilt_err *e)
{
    static const char *const private_members[] = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"};
    for (size_t i = 0; i < sizeof(private_members) / sizeof(private_members[0]); i++)
        if (json_object_get(jwk, private_members[i])) {
            problem(e, HILT_ACME_BAD_PUBLIC_KEY, "the jwk carries private key material ('%s')", private_members[i]);
            return NULL;
        }
    const char *kty = str_member(jwk, "kty");
    EVP_PKEY *k = NULL;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    BIGNUM *n = NULL, *ex = NULL;
    unsigned char *x = NULL, *y = NULL;
    size_t xl = 0, yl = 0;
    if (!bld || !kty) {
        problem(e, HILT_ACME_BAD_PUBLIC_KEY, "the jwk has no kty%s", NULL);
        goto out;
    }
    if (!strcmp(kty, "EC")) {
        const char *crv = str_member(jwk, "crv"), *xs = str_member(jwk, "x"), *ys = str_member(jwk, "y");
        size_t w = crv && !strcmp(crv, "P-256") ? 32 : crv && !strcmp(crv, "P-384") ? 48 : 0;
        if (!w) {
            problem(e, HILT_ACME_BAD_PUBLIC_KEY, "EC curve '%s' is not accepted (P-256, P-384)", crv ? crv : "(none)");
            goto out;
        }
        if (!xs || !ys || hilt_b64url_decode(xs, strlen(xs), &x, &xl) < 0 || hilt_b64url_decode(ys, strlen(ys), &y, &yl) < 0 || xl != w || yl != w) {
            problem(e, HILT_ACME_BAD_PUBLIC_KEY, "the EC jwk's x and y must be %s-byte base64url", w == 32 ? "32" : "48");
            goto out;
        }
        unsigned char pt[97];
        pt[0] = 4;
        memcpy(pt + 1, x, w);
        memcpy(pt + 1 + w, y, w);
        if (!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, w == 32 ? "P-256" : "P-384", 0) ||
            !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt, 1 + 2 * w))
            goto ossl;
        k = from_params("EC", bld);
        if (!k) {
            problem(e, HILT_ACME_BAD_PUBLIC_KEY, "the EC point is not on the curve%s", NULL);
            goto out;
        }
    } else if (!strcmp(kty, "RSA")) {
        size_t nb = 0;
        n = b64_bn(jwk, "n", &nb);
        ex = b64_bn(jwk, "e", NULL);
        if (!n || !ex) {
            problem(e, HILT_ACME_BAD_PUBLIC_KEY, "the RSA jwk needs base64url n and e%s", NULL);
            goto out;
        }
        int bits = BN_num_bits(n);
        if (bits < 2048 || bits > 8192 || !BN_is_odd(ex) || BN_num_bits(ex) < 2 || BN_num_bits(ex) > 32) {
            problem(e, HILT_ACME_BAD_PUBLIC_KEY, "the RSA key must have 2048-8192 bits and a small odd exponent%s", NULL);
            goto out;
        }
        if (!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, ex))
            goto ossl;
        k = from_params("RSA", bld);
        if (!k) goto ossl;
    } else if (!strcmp(kty, "OKP")) {
        const char *crv = str_member(jwk, "crv"), *xs = str_member(jwk, "x");
        if (!crv || strcmp(crv, "Ed25519")) {
            problem(e, HILT_ACME_BAD_PUBLIC_KEY, "OKP curve '%s' is not accepted (Ed25519)", crv ? crv : "(none)");
            goto out;
        }
        if (!xs || hilt_b64url_decode(xs, strlen(xs), &x, &xl) < 0 || xl != 32) {
            problem(e, HILT_ACME_BAD_PUBLIC_KEY, "the Ed25519 jwk's x must be 32-byte base64url%s", NULL);
            goto out;
        }
        k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, xl);
        if (!k) goto ossl;
    } else {
        problem(e, HILT_ACME_BAD_PUBLIC_KEY, "key type '%s' is not accepted (EC, RSA, OKP)", kty);
    }
    goto out;
ossl:
    problem(e, HILT_ACME_BAD_PUBLIC_KEY, "the jwk is not a usable public key%s", NULL);
out:
    ERR_clear_error();
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(ex);
    free(x);
    free(y);
    return k;
}

static json_t *bn_b64(const BIGNUM *bn)
{
    int n = BN_num_bytes(bn);
    unsigned char *raw = malloc((size_t)(n ? n : 1));
    if (!raw) return NULL;
    BN_bn2bin(bn, raw);
    char *s = hilt_b64url_encode(raw, (size_t)n);
    free(raw);
    json_t *j = s ? json_string(s) : NULL;
    free(s);
    return j;
}

json_t *hilt_pkey_to_jwk(EVP_PKEY *k)
{
    json_t *o = json_object();
    if (EVP_PKEY_is_a(k, "EC")) {
        unsigned char *pt = NULL;
        size_t n = EVP_PKEY_get1_encoded_public_key(k, &pt);
        size_t w = (n - 1) / 2;
        char *x = n > 1 ? hilt_b64url_encode(pt + 1, w) : NULL, *y = n > 1 ? hilt_b64url_encode(pt + 1 + w, w) : NULL;
        json_object_set_new(o, "crv", json_string(w == 48 ? "P-384" : "P-256"));
        json_object_set_new(o, "kty", json_string("EC"));
        json_object_set_new(o, "x", json_string(x ? x : ""));
        json_object_set_new(o, "y", json_string(y ? y : ""));
        free(x);
        free(y);
        OPENSSL_free(pt);
    } else if (EVP_PKEY_is_a(k, "RSA")) {
        BIGNUM *n = NULL, *e = NULL;
        EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_N, &n);
        EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_E, &e);
        if (e) json_object_set_new(o, "e", bn_b64(e));
        json_object_set_new(o, "kty", json_string("RSA"));
        if (n) json_object_set_new(o, "n", bn_b64(n));
        BN_free(n);
        BN_free(e);
    } else if (EVP_PKEY_is_a(k, "ED25519")) {
        unsigned char raw[32];
        size_t n = sizeof(raw);
        EVP_PKEY_get_raw_public_key(k, raw, &n);
        char *x = hilt_b64url_encode(raw, n);
        json_object_set_new(o, "crv", json_string("Ed25519"));
        json_object_set_new(o, "kty", json_string("OKP"));
        json_object_set_new(o, "x", json_string(x ? x : ""));
        free(x);
    }
    return o;
}

int hilt_jwk_thumbprint(const json_t *jwk, char out[64], struct hilt_err *e)
{
    /* RFC 7638 §3: the required members only, lexicographic order, no spaces. */
    const char *kty = str_member(jwk, "kty");
    static const char *const ec[] = {"crv", "kty", "x", "y", NULL}, *const rsa[] = {"e", "kty", "n", NULL},
                             *const okp[] = {"crv", "kty", "x", NULL};
    const char *const *members = !kty ? NULL : !strcmp(kty, "EC") ? ec : !strcmp(kty, "RSA") ? rsa : !strcmp(kty, "OKP") ? okp : NULL;
    if (!members) return problem(e, HILT_ACME_BAD_PUBLIC_KEY, "cannot take the thumbprint of key type '%s'", kty ? kty : "(none)");
    char buf[4096];
    size_t o = 0;
    buf[o++] = '{';
    for (size_t i = 0; members[i]; i++) {
        const char *v = str_member(jwk, members[i]);
        if (!v) return problem(e, HILT_ACME_BAD_PUBLIC_KEY, "the jwk lacks '%s'", members[i]);
        for (const char *c = v; *c; c++)
            if (b64u_val((unsigned char)*c) < 0 && strcmp(members[i], "kty") && strcmp(members[i], "crv"))
                return problem(e, HILT_ACME_BAD_PUBLIC_KEY, "jwk member '%s' is not base64url", members[i]);
        int n = snprintf(buf + o, sizeof(buf) - o, "%s\"%s\":\"%s\"", i ? "," : "", members[i], v);
        if (n < 0 || (size_t)n >= sizeof(buf) - o - 1) return problem(e, HILT_ACME_BAD_PUBLIC_KEY, "the jwk is too large%s", NULL);
        o += (size_t)n;
    }
    buf[o++] = '}';
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)buf, o, md);
    char *t = hilt_b64url_encode(md, sizeof(md));
    if (!t) return problem(e, HILT_ACME_SERVER_INTERNAL, "out of memory%s", NULL);
    snprintf(out, 64, "%s", t);
    free(t);
    return 0;
}

/* ---------- signing ---------- */

char *hilt_jws_sign(EVP_PKEY *key, const char *kid, const char *nonce, const char *url, const char *payload,
                    struct hilt_err *e)
{
    const char *alg;
    size_t width = 0;
    const EVP_MD *md = EVP_sha256();
    if (EVP_PKEY_is_a(key, "RSA")) {
        alg = "RS256";
    } else if (EVP_PKEY_is_a(key, "ED25519")) {
        alg = "EdDSA";
        md = NULL;
    } else if (key_fits("ES384", key)) {
        alg = "ES384";
        md = EVP_sha384();
        width = 48;
    } else {
        alg = "ES256";
        width = 32;
    }
    json_t *h = json_object();
    json_object_set_new(h, "alg", json_string(alg));
    if (kid) json_object_set_new(h, "kid", json_string(kid));
    else json_object_set_new(h, "jwk", hilt_pkey_to_jwk(key));
    json_object_set_new(h, "nonce", json_string(nonce));
    json_object_set_new(h, "url", json_string(url));
    char *hs = json_dumps(h, JSON_COMPACT);
    json_decref(h);
    char *p64 = hs ? hilt_b64url_encode((const unsigned char *)hs, strlen(hs)) : NULL;
    char *pl64 = hilt_b64url_encode((const unsigned char *)(payload ? payload : ""), payload ? strlen(payload) : 0);
    free(hs);
    char *input = NULL, *sig64 = NULL, *out = NULL;
    unsigned char *sig = NULL;
    size_t siglen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!p64 || !pl64 || !ctx || asprintf(&input, "%s.%s", p64, pl64) < 0) goto fail;
    if (EVP_DigestSignInit(ctx, NULL, md, NULL, key) != 1 ||
        EVP_DigestSign(ctx, NULL, &siglen, (const unsigned char *)input, strlen(input)) != 1 ||
        !(sig = OPENSSL_malloc(siglen)) ||
        EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)input, strlen(input)) != 1)
        goto fail;
    if (width) { /* DER ECDSA-Sig-Value to JOSE r || s */
        const unsigned char *q = sig;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &q, (long)siglen);
        unsigned char raw[96];
        const BIGNUM *r, *s;
        if (!es) goto fail;
        ECDSA_SIG_get0(es, &r, &s);
        BN_bn2binpad(r, raw, (int)width);
        BN_bn2binpad(s, raw + width, (int)width);
        ECDSA_SIG_free(es);
        sig64 = hilt_b64url_encode(raw, 2 * width);
    } else {
        sig64 = hilt_b64url_encode(sig, siglen);
    }
    if (!sig64 || asprintf(&out, "{\"protected\":\"%s\",\"payload\":\"%s\",\"signature\":\"%s\"}", p64, pl64, sig64) < 0) {
        out = NULL;
        goto fail;
    }
    goto done;
fail:
    hilt_err_ossl(e, HILT_E_RUNTIME, "cannot sign the JWS");
done:
    EVP_MD_CTX_free(ctx);
    OPENSSL_free(sig);
    free(p64);
    free(pl64);
    free(input);
    free(sig64);
    return out;
}
