/* fuzz_x509_summary.c - libFuzzer target: PEM/DER certificate parsing and the
 * summariser (hilt_certs_parse + hilt_cert_summary), the path every peer- or
 * file-supplied certificate takes. */
#include "x509/pem.h"
#include "x509/summary.h"

#include <jansson.h>
#include <openssl/err.h>
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    STACK_OF(X509) *sk = hilt_certs_parse(data, size, "fuzz", NULL);
    for (int i = 0; sk && i < sk_X509_num(sk); i++) {
        json_t *j = hilt_cert_summary(sk_X509_value(sk, i));
        char *s = json_dumps(j, 0);
        free(s);
        json_decref(j);
    }
    sk_X509_pop_free(sk, X509_free);
    ERR_clear_error();
    return 0;
}
