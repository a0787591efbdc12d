/* fuzz_ocsp_request.c - libFuzzer target: the OCSP request parser
 * (x509/ocsp.h), both the DER form a responder gets in a POST body and the
 * percent-encoded base64 GET form, plus the CertID accessors a responder
 * calls on whatever parsed. Seeds in corpus/ocsp_request/ come from
 * `openssl ocsp -reqout` (hashes and serials only, no keys). */
#include "x509/ocsp.h"

#include <openssl/err.h>
#include <stddef.h>
#include <stdint.h>

static void walk(struct hilt_ocsp_req *r)
{
    for (size_t i = 0; i < r->n; i++) {
        char hex[128];
        OCSP_CERTID *id = hilt_ocsp_req_id(r, i);
        hilt_ocsp_id_serial_hex(id, hex, sizeof(hex));
        (void)hilt_ocsp_id_issued_by(id, NULL);
        (void)hilt_ocsp_id_serial_is(id, NULL);
    }
    hilt_ocsp_req_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct hilt_ocsp_req r;
    if (hilt_ocsp_req_parse(data, size, &r, NULL) == 0) walk(&r);
    if (hilt_ocsp_req_parse_get((const char *)data, size, &r, NULL) == 0) walk(&r);
    ERR_clear_error();
    return 0;
}
