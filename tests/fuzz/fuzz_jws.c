/* fuzz_jws.c - libFuzzer target: ACME request bodies through the JWS parser, the
 * JWK decoder, the thumbprint and signature verification (everything an ACME
 * client controls before any account lookup). */
#include "api/jws.h"

#include <openssl/err.h>
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct hilt_jws j;
    if (hilt_jws_parse(data, size, &j, NULL) == 0) {
        if (j.jwk) {
            char tp[64];
            hilt_jwk_thumbprint(j.jwk, tp, NULL);
            EVP_PKEY *k = hilt_jwk_to_pkey(j.jwk, NULL);
            if (k) hilt_jws_verify(&j, k, NULL);
            EVP_PKEY_free(k);
        }
        hilt_jws_free(&j);
    }
    ERR_clear_error();
    return 0;
}
