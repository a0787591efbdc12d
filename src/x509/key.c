/* key.c - key generation by spec, naming, and 0600 atomic storage. */
#include "x509/key.h"

#include "core/buf.h"
#include "core/err.h"
#include "core/fileio.h"
#include "x509/pem.h"

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <stdio.h>
#include <string.h>

int hilt_keyspec_parse(const char *s, struct hilt_keyspec *ks, struct hilt_err *e)
{
    if (!strcmp(s, "ec-p256") || !strcmp(s, "p256") || !strcmp(s, "ecdsa")) {
        *ks = (struct hilt_keyspec){HILT_KEY_EC, 256};
    } else if (!strcmp(s, "ec-p384") || !strcmp(s, "p384")) {
        *ks = (struct hilt_keyspec){HILT_KEY_EC, 384};
    } else if (!strcmp(s, "ec-p521") || !strcmp(s, "p521")) {
        *ks = (struct hilt_keyspec){HILT_KEY_EC, 521};
    } else if (!strcmp(s, "ed25519")) {
        *ks = (struct hilt_keyspec){HILT_KEY_ED25519, 256};
    } else if (!strncmp(s, "rsa-", 4) || !strcmp(s, "rsa")) {
        int bits = 2048;
        if (s[3] == '-') {
            char *end;
            long v = strtol(s + 4, &end, 10);
            if (*end || v < 512 || v > 16384 || v % 8)
                return hilt_err_set(e, HILT_E_USAGE, 0,
                                    "key type '%s': RSA size must be a multiple of 8 from 512 "
                                    "to 16384",
                                    s);
            bits = (int)v;
        }
        *ks = (struct hilt_keyspec){HILT_KEY_RSA, bits};
    } else {
        return hilt_err_set(e, HILT_E_USAGE, 0,
                            "unknown key type '%s' (use ec-p256, ec-p384, ec-p521, rsa-2048, "
                            "rsa-3072, rsa-4096 or ed25519)",
                            s);
    }
    return 0;
}

void hilt_keyspec_fmt(const struct hilt_keyspec *ks, char *out, size_t cap)
{
    switch (ks->alg) {
    case HILT_KEY_EC: snprintf(out, cap, "ec-p%d", ks->bits); break;
    case HILT_KEY_RSA: snprintf(out, cap, "rsa-%d", ks->bits); break;
    case HILT_KEY_ED25519: snprintf(out, cap, "ed25519"); break;
    }
}

EVP_PKEY *hilt_key_generate(const struct hilt_keyspec *ks, struct hilt_err *e)
{
    EVP_PKEY *k = NULL;
    switch (ks->alg) {
    case HILT_KEY_EC: {
        const char *curve = ks->bits == 384 ? "P-384" : ks->bits == 521 ? "P-521" : "P-256";
        k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);
        break;
    }
    case HILT_KEY_RSA: k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)ks->bits); break;
    case HILT_KEY_ED25519: k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"); break;
    }
    if (!k) {
        char name[32];
        hilt_keyspec_fmt(ks, name, sizeof(name));
        hilt_err_ossl(e, HILT_E_RUNTIME, "cannot generate %s key", name);
    }
    return k;
}

void hilt_key_describe(const EVP_PKEY *k, char *out, size_t cap)
{
    int bits = EVP_PKEY_get_bits(k);
    if (EVP_PKEY_is_a(k, "RSA") || EVP_PKEY_is_a(k, "RSA-PSS")) {
        snprintf(out, cap, "%s-%d", EVP_PKEY_is_a(k, "RSA") ? "rsa" : "rsa-pss", bits);
    } else if (EVP_PKEY_is_a(k, "EC")) {
        char group[64] = "";
        size_t glen = 0;
        EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &glen);
        if (!strcmp(group, "prime256v1") || !strcmp(group, "P-256"))
            snprintf(out, cap, "ec-p256");
        else if (!strcmp(group, "secp384r1") || !strcmp(group, "P-384"))
            snprintf(out, cap, "ec-p384");
        else if (!strcmp(group, "secp521r1") || !strcmp(group, "P-521"))
            snprintf(out, cap, "ec-p521");
        else if (group[0])
            snprintf(out, cap, "ec-%s", group);
        else
            snprintf(out, cap, "ec-%d", bits);
    } else if (EVP_PKEY_is_a(k, "ED25519")) {
        snprintf(out, cap, "ed25519");
    } else if (EVP_PKEY_is_a(k, "ED448")) {
        snprintf(out, cap, "ed448");
    } else if (EVP_PKEY_is_a(k, "DSA")) {
        snprintf(out, cap, "dsa-%d", bits);
    } else {
        const char *n = EVP_PKEY_get0_type_name(k);
        snprintf(out, cap, "%s-%d", n ? n : "unknown", bits);
    }
}

int hilt_key_security_bits(const EVP_PKEY *k)
{
    return EVP_PKEY_get_security_bits(k);
}

int hilt_key_save(const char *path, EVP_PKEY *k, struct hilt_err *e)
{
    struct hilt_buf pem;
    hilt_buf_init(&pem, 1 << 20);
    int rc = hilt_key_to_pem(k, &pem, e);
    if (rc == 0) rc = hilt_file_write_atomic(path, pem.data, pem.len, 0600, e);
    if (pem.data) OPENSSL_cleanse(pem.data, pem.len);
    hilt_buf_free(&pem);
    return rc;
}
