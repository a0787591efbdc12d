/* fuzz_http_response.c - libFuzzer target: the bounded HTTP/1.x response parser
 * (hilt_http_parse + header lookup, Date parsing), fed peer-controlled bytes by
 * the probe's HEAD /, AIA, OCSP and CRL fetches. The first input byte picks
 * the mode (EOF seen, HEAD reply). */
#include "core/clock.h"
#include "core/http.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    int at_eof = data[0] & 1, no_body = (data[0] >> 1) & 1;
    struct hilt_http_resp r;
    hilt_http_resp_init(&r, 4096);
    if (hilt_http_parse(data + 1, size - 1, at_eof, no_body, &r, NULL) == 1) {
        char v[64];
        time_t t;
        if (hilt_http_header(&r, "Date", v, sizeof(v)) == 0) hilt_time_parse_http(v, &t);
        hilt_http_header(&r, "Content-Type", v, sizeof(v));
    }
    hilt_http_resp_free(&r);
    return 0;
}
